//! Binance spot (`/api/v3/…`).
//!
//! Trade history: `GET /api/v3/myTrades` needs a symbol, so the importer passes the
//! candidate symbols (pairs of the account's assets, [`binance_symbols`]); the cursor is
//! `SYMBOL:fromId`. Binance numbers trades per symbol: rows are keyed `SYMBOL-id`.
//!
//! Incremental: each symbol starts at `fromId` = the largest stored id of that symbol + 1
//! (ids only grow; `startTime` would limit every request to a 24-hour window).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::read::{arr, body, dec, fee_asset, get, id, ms, obj, parse_json, string, symbol_cursor, symbol_of};
use crate::{
    BalancePage, Checked, Placed, Request, Response, Result, Side, Trade, TradePage, Venue, VenueBalance, check_symbol,
    form, malformed, normalize_asset,
};

/// Page size asked for (the documented maximum).
const LIMIT: usize = 1000;

/// Quote assets tried when guessing symbols from balances.
const QUOTES: &[&str] =
    &["USDT", "USDC", "FDUSD", "BUSD", "TUSD", "BTC", "ETH", "BNB", "EUR", "TRY", "BRL", "JPY", "GBP", "DAI"];

fn error_text(v: &Value) -> Option<String> {
    Some(format!("{} {}", v.get("code")?.as_i64()?, v.get("msg").and_then(Value::as_str).unwrap_or("")))
}

/// The answer's JSON, or the exchange's `{code, msg}` refusal (MEXC's too).
pub(crate) fn checked(resp: Response<'_>) -> Result<Value> {
    body(resp, error_text)
}

pub(crate) fn balances_request(_cursor: Option<&str>) -> Result<Request> {
    Ok(Request::new("GET", "/api/v3/account", "omitZeroBalances=false", ""))
}

pub(crate) fn parse_balances(resp: Response<'_>) -> Result<BalancePage> {
    account_balances(Venue::Binance, resp)
}

/// The `balances` of an Account Information answer (Binance's, and MEXC's, which copies it).
pub(crate) fn account_balances(venue: Venue, resp: Response<'_>) -> Result<BalancePage> {
    let v = checked(resp)?;
    let mut balances = Vec::new();
    for b in arr(get(obj(&v, "$")?, "balances", "balances")?, "balances")? {
        let b = obj(b, "balances[]")?;
        balances.push(VenueBalance {
            asset: normalize_asset(venue, string(b, "asset", "balances[].asset")?)?,
            free: dec(b, "free", "balances[].free")?,
            locked: dec(b, "locked", "balances[].locked")?,
        });
    }
    Ok(BalancePage { balances, next: None })
}

/// Binance symbols worth asking `myTrades` about: every `BASEQUOTE` where
/// both assets appear in the account (Binance lists zero balances too) and
/// QUOTE is a usual quote asset. Sorted, so a cursor naming a symbol stays
/// meaningful when the balances change between attempts. Real Binance
/// refuses a pair that does not exist with -1121, which
/// [`crate::parse_trades`] reads as an empty page.
pub fn binance_symbols(assets: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for base in assets {
        for quote in QUOTES {
            if base != quote && assets.iter().any(|a| a == quote) {
                out.push(format!("{base}{quote}"));
            }
        }
    }
    out.retain(|s| check_symbol(s).is_ok());
    out.sort();
    out.dedup();
    out
}

/// Where the next page starts (cursor `SYMBOL:fromId`).
fn position<'a>(symbols: &'a [String], cursor: Option<&str>) -> Result<Option<(&'a str, u64)>> {
    symbol_cursor(symbols, cursor, 20, "is not SYMBOL:fromId")
}

/// Where the next page of an incremental import starts: as [`position`], but never below
/// the largest stored id + 1 of that symbol (a later page is already above it).
fn position_since<'a>(
    symbols: &'a [String],
    last_ids: &BTreeMap<String, u64>,
    cursor: Option<&str>,
) -> Result<Option<(&'a str, u64)>> {
    Ok(position(symbols, cursor)?.map(|(s, from)| (s, last_ids.get(s).map_or(from, |l| from.max(l.saturating_add(1))))))
}

pub(crate) fn trades_request(symbols: &[String], cursor: Option<&str>) -> Result<Option<Request>> {
    request_at(position(symbols, cursor)?)
}

pub(crate) fn trades_since_request(
    symbols: &[String],
    last_ids: &BTreeMap<String, u64>,
    cursor: Option<&str>,
) -> Result<Option<Request>> {
    request_at(position_since(symbols, last_ids, cursor)?)
}

fn request_at(at: Option<(&str, u64)>) -> Result<Option<Request>> {
    let Some((symbol, from)) = at else { return Ok(None) };
    check_symbol(symbol)?;
    let q = format!("symbol={symbol}&fromId={from}&limit={LIMIT}");
    Ok(Some(Request::new("GET", "/api/v3/myTrades", &q, "")))
}

pub(crate) fn parse_trades(symbols: &[String], cursor: Option<&str>, resp: Response<'_>) -> Result<TradePage> {
    parse_at(symbols, position(symbols, cursor)?, resp)
}

pub(crate) fn parse_trades_since(
    symbols: &[String],
    last_ids: &BTreeMap<String, u64>,
    cursor: Option<&str>,
    resp: Response<'_>,
) -> Result<TradePage> {
    parse_at(symbols, position_since(symbols, last_ids, cursor)?, resp)
}

/// The page asked at `at` (symbol, fromId).
fn parse_at(symbols: &[String], at: Option<(&str, u64)>, resp: Response<'_>) -> Result<TradePage> {
    // A pair that does not exist is -1121 "Invalid symbol": no trades there.
    let invalid_symbol = resp.status == 400
        && parse_json(resp.body).ok().and_then(|v| v.get("code").and_then(Value::as_i64)) == Some(-1121);
    let v = if invalid_symbol { json!([]) } else { checked(resp)? };
    let mut trades = Vec::new();
    let Some((symbol, from)) = at else {
        return Ok(TradePage { trades, next: None });
    };
    let page = arr(&v, "$")?;
    let mut last_id = None;
    for t in page {
        let t = obj(t, "[]")?;
        let raw_id = get(t, "id", "[].id")?.as_u64().ok_or(malformed("[].id", "is not a trade id"))?;
        // `fromId` asks for ids from there on: an older one would make the next cursor
        // the one asked, and the import would ask the same page forever.
        if raw_id < from {
            return Err(malformed("[].id", "is below the fromId asked for"));
        }
        let sym = symbol_of(t, "symbol", "[].symbol")?;
        if sym != symbol {
            return Err(malformed("[].symbol", "is not the symbol asked for"));
        }
        let buyer = get(t, "isBuyer", "[].isBuyer")?.as_bool().ok_or(malformed("[].isBuyer", "not a bool"))?;
        trades.push(Trade {
            exchange_trade_id: format!("{sym}-{raw_id}"),
            symbol: sym,
            side: if buyer { Side::Buy } else { Side::Sell },
            price: dec(t, "price", "[].price")?,
            qty: dec(t, "qty", "[].qty")?,
            fee: dec(t, "commission", "[].commission")?,
            fee_asset: fee_asset(t, "commissionAsset", "[].commissionAsset")?,
            time_ms: ms(t, "time", "[].time")?,
        });
        last_id = Some(last_id.map_or(raw_id, |l: u64| l.max(raw_id)));
    }
    let next = match last_id {
        Some(last) if page.len() >= LIMIT => Some(format!("{symbol}:{}", last.saturating_add(1))),
        _ => symbols.iter().find(|s| s.as_str() > symbol).map(|s| format!("{s}:0")),
    };
    Ok(TradePage { trades, next })
}

pub(crate) fn place_request(order: &Checked<'_>) -> Result<Request> {
    let side = if order.buy { "BUY" } else { "SELL" };
    let mut p = vec![("symbol", order.symbol), ("side", side)];
    match order.price {
        Some(px) => p.extend([("type", "LIMIT"), ("timeInForce", "GTC"), ("quantity", order.qty), ("price", px)]),
        None => p.extend([("type", "MARKET"), ("quantity", order.qty)]),
    }
    p.extend([("newClientOrderId", order.client_order_id), ("newOrderRespType", "RESULT")]);
    Ok(Request::new("POST", "/api/v3/order", &form(&p), ""))
}

/// Our status of a Binance order status (`None`: not one Binance documents).
fn status_of(s: &str) -> Option<&'static str> {
    Some(match s {
        "NEW" | "PARTIALLY_FILLED" | "PENDING_NEW" => "open",
        "FILLED" => "filled",
        "CANCELED" | "PENDING_CANCEL" => "canceled",
        "EXPIRED" | "EXPIRED_IN_MATCH" => "expired",
        "REJECTED" => "rejected",
        _ => return None,
    })
}

pub(crate) fn parse_placed(resp: Response<'_>) -> Result<Placed> {
    let v = checked(resp)?;
    let o = obj(&v, "$")?;
    let status = status_of(string(o, "status", "status")?).unwrap_or("accepted");
    Ok(Placed { exchange_order_id: id(o, "orderId", "orderId")?, status })
}

pub(crate) fn cancel_request(symbol: &str, exchange_order_id: &str) -> Request {
    Request::new("DELETE", "/api/v3/order", &form(&[("symbol", symbol), ("orderId", exchange_order_id)]), "")
}

pub(crate) fn parse_cancelled(resp: Response<'_>) -> Result<()> {
    let v = checked(resp)?;
    match string(obj(&v, "$")?, "status", "status")? {
        "CANCELED" => Ok(()),
        _ => Err(malformed("status", "is not CANCELED")),
    }
}

/// "Query order" by `origClientOrderId`.
pub(crate) fn status_request(symbol: &str, client_order_id: &str) -> Option<Request> {
    let q = form(&[("symbol", symbol), ("origClientOrderId", client_order_id)]);
    Some(Request::new("GET", "/api/v3/order", &q, ""))
}

/// -2013 "Order does not exist": the placement never reached Binance.
pub(crate) fn parse_status(resp: Response<'_>) -> Result<Option<Placed>> {
    let v = match checked(resp) {
        Ok(v) => v,
        Err(crate::VenueError::Exchange { message, .. }) if message.starts_with("-2013 ") => return Ok(None),
        Err(e) => return Err(e),
    };
    let o = obj(&v, "$")?;
    let status = status_of(string(o, "status", "status")?).ok_or(malformed("status", "is not an order status"))?;
    Ok(Some(Placed { exchange_order_id: id(o, "orderId", "orderId")?, status }))
}
