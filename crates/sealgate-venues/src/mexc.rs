//! MEXC spot v3 (`/api/v3/…`): Binance's paths and shapes, with its own paging and codes.
//!
//! The signer appends `timestamp` and `signature` to the query (or to a form body); MEXC
//! signs form parameters only, so every request here carries its parameters in the query
//! and no body (a JSON body is refused by the signer and by the sandbox).
//!
//! Balances: "Account Information" (`GET /api/v3/account`): `balances[]` of `asset`,
//! `free`, `locked`.
//!
//! Trade history: "Account Trade List" (`GET /api/v3/myTrades`) needs a symbol (the
//! importer passes the candidate symbols, [`crate::binance_symbols`], as for Binance) and
//! takes no `fromId`: it pages by time. From `startTime` it answers the oldest trades first,
//! at most `limit` (100); the cursor is `SYMBOL:startTime`, and the next page starts at the
//! newest time of a full page (that millisecond is read again: rows upsert by id, and a
//! trade of the same millisecond beyond the page is not skipped). A full page within one
//! millisecond could not advance, and is refused rather than asked again forever. MEXC's
//! trade `id` is unique per symbol at least: rows are keyed `SYMBOL-id`.
//! Caveat (MEXC's docs, not provable in the sandbox): the real endpoint may read only the
//! last month, however early `startTime` is.
//!
//! Incremental: each symbol starts at the newest stored trade less the overlap.
//!
//! Orders: "New Order" (`POST /api/v3/order`): a LIMIT order with `quantity` and `price`
//! (MEXC takes no `timeInForce`: a LIMIT rests until cancelled), a MARKET order with
//! `quantity` in base units, which MEXC reads for buys and sells alike (`quoteOrderQty`,
//! the quote-sized alternative, is never sent). "Cancel Order" (`DELETE /api/v3/order` with
//! `symbol` and `orderId`). "Query Order" (`GET /api/v3/order` with `origClientOrderId`)
//! reconciles a placement that got no answer: -2011 "Unknown order sent" means it never
//! arrived.
//!
//! Refusals are `{"code", "msg"}` with an HTTP error status (401 for authentication and
//! permissions, 400 otherwise).

use serde_json::{Value, json};

use crate::binance::{self, checked};
use crate::read::{arr, dec, fee_asset, get, id, ms, obj, parse_json, string, symbol_cursor, symbol_of};
use crate::{
    BalancePage, Checked, Placed, Request, Response, Result, Side, Trade, TradePage, Venue, VenueError, check_symbol,
    form, malformed,
};

/// Page size asked for (MEXC's maximum).
const LIMIT: usize = 100;

/// MEXC errors worth retrying later ("Error Code"): 429 too many requests, 500 internal
/// error (also sent with HTTP 429 and 5xx, which are transient whatever the body).
pub(crate) fn transient(message: &str) -> bool {
    ["429 ", "500 "].iter().any(|p| message.starts_with(p))
}

pub(crate) fn balances_request(_cursor: Option<&str>) -> Result<Request> {
    Ok(Request::new("GET", "/api/v3/account", "", ""))
}

pub(crate) fn parse_balances(resp: Response<'_>) -> Result<BalancePage> {
    binance::account_balances(Venue::Mexc, resp)
}

/// Where the next page starts (cursor `SYMBOL:startTime`).
fn position<'a>(symbols: &'a [String], cursor: Option<&str>) -> Result<Option<(&'a str, i64)>> {
    symbol_cursor(symbols, cursor, 15, "is not SYMBOL:startTime")
}

/// As [`position`], never earlier than `from_ms` (the newest stored trade less the overlap).
fn position_since<'a>(symbols: &'a [String], from_ms: i64, cursor: Option<&str>) -> Result<Option<(&'a str, i64)>> {
    Ok(position(symbols, cursor)?.map(|(s, t)| (s, t.max(from_ms))))
}

pub(crate) fn trades_request(symbols: &[String], cursor: Option<&str>) -> Result<Option<Request>> {
    request_at(position(symbols, cursor)?)
}

pub(crate) fn trades_since_request(symbols: &[String], from_ms: i64, cursor: Option<&str>) -> Result<Option<Request>> {
    request_at(position_since(symbols, from_ms, cursor)?)
}

fn request_at(at: Option<(&str, i64)>) -> Result<Option<Request>> {
    let Some((symbol, start)) = at else { return Ok(None) };
    check_symbol(symbol)?;
    let q = format!("symbol={symbol}&startTime={start}&limit={LIMIT}");
    Ok(Some(Request::new("GET", "/api/v3/myTrades", &q, "")))
}

pub(crate) fn parse_trades(symbols: &[String], cursor: Option<&str>, resp: Response<'_>) -> Result<TradePage> {
    parse_at(symbols, position(symbols, cursor)?, resp)
}

pub(crate) fn parse_trades_since(
    symbols: &[String],
    from_ms: i64,
    cursor: Option<&str>,
    resp: Response<'_>,
) -> Result<TradePage> {
    parse_at(symbols, position_since(symbols, from_ms, cursor)?, resp)
}

/// The page asked at `at` (symbol, startTime).
fn parse_at(symbols: &[String], at: Option<(&str, i64)>, resp: Response<'_>) -> Result<TradePage> {
    // A pair that does not exist is -1121 "Invalid symbol.": no trades there.
    let invalid_symbol = resp.status == 400
        && parse_json(resp.body).ok().and_then(|v| v.get("code").and_then(Value::as_i64)) == Some(-1121);
    let v = if invalid_symbol { json!([]) } else { checked(resp)? };
    let Some((symbol, start)) = at else {
        return Ok(TradePage { trades: Vec::new(), next: None });
    };
    let page = arr(&v, "$")?;
    if page.len() > LIMIT {
        return Err(malformed("$", "holds more than the limit asked for"));
    }
    let mut trades = Vec::with_capacity(page.len());
    let mut newest = start;
    for t in page {
        let t = obj(t, "[]")?;
        let sym = symbol_of(t, "symbol", "[].symbol")?;
        if sym != symbol {
            return Err(malformed("[].symbol", "is not the symbol asked for"));
        }
        let time_ms = ms(t, "time", "[].time")?;
        // `startTime` asks for trades from there on: an older one would make the next
        // cursor go back, and the import could ask the same pages forever.
        if time_ms < start {
            return Err(malformed("[].time", "is before the startTime asked for"));
        }
        newest = newest.max(time_ms);
        let buyer = get(t, "isBuyer", "[].isBuyer")?.as_bool().ok_or(malformed("[].isBuyer", "is not a bool"))?;
        trades.push(Trade {
            exchange_trade_id: format!("{sym}-{}", id(t, "id", "[].id")?),
            symbol: sym,
            side: if buyer { Side::Buy } else { Side::Sell },
            price: dec(t, "price", "[].price")?,
            qty: dec(t, "qty", "[].qty")?,
            fee: dec(t, "commission", "[].commission")?,
            fee_asset: fee_asset(t, "commissionAsset", "[].commissionAsset")?,
            time_ms,
        });
    }
    let next = if page.len() >= LIMIT {
        if newest <= start {
            return Err(malformed("[].time", "fills a whole page in one millisecond: paging by time cannot advance"));
        }
        Some(format!("{symbol}:{newest}"))
    } else {
        symbols.iter().find(|s| s.as_str() > symbol).map(|s| format!("{s}:0"))
    };
    Ok(TradePage { trades, next })
}

pub(crate) fn place_request(order: &Checked<'_>) -> Result<Request> {
    let side = if order.buy { "BUY" } else { "SELL" };
    let mut p = vec![("symbol", order.symbol), ("side", side)];
    match order.price {
        Some(px) => p.extend([("type", "LIMIT"), ("quantity", order.qty), ("price", px)]),
        // `quantity` is in base units for a market buy too (`quoteOrderQty` would be quote).
        None => p.extend([("type", "MARKET"), ("quantity", order.qty)]),
    }
    p.push(("newClientOrderId", order.client_order_id));
    Ok(Request::new("POST", "/api/v3/order", &form(&p), ""))
}

/// Our status of a MEXC order status (`None`: not one MEXC documents).
fn status_of(s: &str) -> Option<&'static str> {
    Some(match s {
        "NEW" | "PARTIALLY_FILLED" => "open",
        "FILLED" => "filled",
        "CANCELED" | "PARTIALLY_CANCELED" => "canceled",
        _ => return None,
    })
}

/// "New Order" answers no status: `accepted` unless it says one.
pub(crate) fn parse_placed(resp: Response<'_>) -> Result<Placed> {
    let v = checked(resp)?;
    let o = obj(&v, "$")?;
    let status = match o.get("status") {
        None | Some(Value::Null) => "accepted",
        Some(_) => status_of(string(o, "status", "status")?).ok_or(malformed("status", "is not an order status"))?,
    };
    Ok(Placed { exchange_order_id: id(o, "orderId", "orderId")?, status })
}

// "Cancel Order" by `orderId` and "Query Order" by `origClientOrderId`: Binance's
// requests, byte for byte.
pub(crate) use crate::binance::{cancel_request, status_request};

pub(crate) fn parse_cancelled(resp: Response<'_>) -> Result<()> {
    let v = checked(resp)?;
    match string(obj(&v, "$")?, "status", "status")? {
        "CANCELED" => Ok(()),
        _ => Err(malformed("status", "is not CANCELED")),
    }
}

/// -2011 "Unknown order sent": the placement never reached MEXC.
pub(crate) fn parse_status(resp: Response<'_>) -> Result<Option<Placed>> {
    let v = match checked(resp) {
        Ok(v) => v,
        Err(VenueError::Exchange { message, .. }) if message.starts_with("-2011 ") => return Ok(None),
        Err(e) => return Err(e),
    };
    let o = obj(&v, "$")?;
    let status = status_of(string(o, "status", "status")?).ok_or(malformed("status", "is not an order status"))?;
    Ok(Some(Placed { exchange_order_id: id(o, "orderId", "orderId")?, status }))
}
