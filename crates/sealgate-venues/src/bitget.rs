//! Bitget v2, spot (`/api/v2/spot/…`).
//!
//! The signer refuses a query whose keys are not in ascending order (Bitget signs the
//! query sorted), so every query here is written sorted.
//!
//! Balances: "Get Account Assets" (`/api/v2/spot/account/assets`, coins with a balance);
//! locked = `frozen` (held by orders) + `locked` (held otherwise).
//!
//! Trade history: "Get Fills" (`GET /api/v2/spot/trade/fills`), newest first, `limit` at
//! most 100, paged back with `idLessThan` = the smallest `tradeId` of the last page: the
//! importer's cursor is that id. Bitget's `tradeId`s are account-wide, so rows are keyed
//! by it alone. Bitget keeps 90 days of fills here; some versions of its docs mark
//! `symbol` required, the sandbox and others optional — we ask for every symbol.
//! Incremental: `startTime` (ms).
//!
//! Orders: Bitget sizes a spot *market buy* in the quote coin (`size` is what to spend)
//! and has no switch to base units, so a market buy is refused here rather than sent
//! with a base quantity Bitget would read as quote; a market sell and limit orders are
//! sized in base units. "Get Order Info" by `clientOid` finds an order only while it is
//! unfilled (as Bitget's docs say), so its "not found" does not prove the placement never
//! arrived: [`parse_status`] refuses to conclude rather than answer `None`.
//!
//! Bitget answers `{"code", "msg", "requestTime", "data"}`, `code` `"00000"` on success;
//! refusals mostly with HTTP 400.

use serde_json::{Map, Value, json};

use crate::read::{arr, body, dec, decimal_text, fee_asset, get, id, ms, obj, refused, side_of, string, symbol_of};
use crate::{
    Amount, BalancePage, Checked, Placed, Request, Response, Result, Trade, TradePage, Venue, VenueBalance, VenueError,
    bad_input, malformed, normalize_asset,
};

/// Page size asked for (the documented maximum).
const LIMIT: usize = 100;

/// Bitget errors worth retrying later: 40010 request timed out, 40015 system error,
/// 40725 service returned an error, 429 too many requests.
pub(crate) fn transient(message: &str) -> bool {
    ["40010 ", "40015 ", "40725 ", "429 "].iter().any(|p| message.starts_with(p))
}

fn error_text(v: &Value) -> Option<String> {
    let code = match v.get("code")? {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    Some(format!("{code} {}", v.get("msg").and_then(Value::as_str).unwrap_or("")))
}

/// The `data` of a successful answer; a refusal (`code` ≠ `"00000"`) as the exchange's error.
fn checked(resp: Response<'_>) -> Result<Value> {
    let v = body(resp, error_text)?;
    let top = obj(&v, "$")?;
    match get(top, "code", "code")?.as_str() {
        Some("00000") => {}
        Some(_) => return Err(refused(resp.status, error_text(&v), "unknown error")),
        None => return Err(malformed("code", "is not a string")),
    }
    Ok(get(top, "data", "data")?.clone())
}

fn cursor_id(c: &str) -> Result<u64> {
    if c.is_empty() || c.len() > 20 || !c.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad_input("cursor", "is not a Bitget trade id"));
    }
    c.parse().map_err(|_| bad_input("cursor", "is not a Bitget trade id"))
}

pub(crate) fn balances_request(_cursor: Option<&str>) -> Result<Request> {
    Ok(Request::new("GET", "/api/v2/spot/account/assets", "", ""))
}

pub(crate) fn parse_balances(resp: Response<'_>) -> Result<BalancePage> {
    let data = checked(resp)?;
    let mut balances = Vec::new();
    for c in arr(&data, "data")? {
        let c = obj(c, "data[]")?;
        let frozen =
            Amount::parse(&dec(c, "frozen", "data[].frozen")?).ok_or(malformed("data[].frozen", "is not a decimal"))?;
        let locked = match c.get("locked") {
            None => Amount::ZERO,
            Some(_) => Amount::parse(&dec(c, "locked", "data[].locked")?)
                .ok_or(malformed("data[].locked", "is not a decimal"))?,
        };
        let held = frozen.checked_add(locked).ok_or(malformed("data[].locked", "is out of range"))?;
        balances.push(VenueBalance {
            asset: normalize_asset(Venue::Bitget, string(c, "coin", "data[].coin")?)?,
            free: dec(c, "available", "data[].available")?,
            locked: held.to_string(),
        });
    }
    Ok(BalancePage { balances, next: None })
}

pub(crate) fn trades_request(_symbols: &[String], cursor: Option<&str>) -> Result<Option<Request>> {
    // Keys in ascending order: the signer signs the query as written.
    let q = match cursor {
        Some(c) => format!("idLessThan={}&limit={LIMIT}", cursor_id(c)?),
        None => format!("limit={LIMIT}"),
    };
    Ok(Some(Request::new("GET", "/api/v2/spot/trade/fills", &q, "")))
}

/// `startTime` (ms): fills at or after it; `idLessThan` pages back within them.
pub(crate) fn trades_since_request(from_ms: i64, cursor: Option<&str>) -> Result<Option<Request>> {
    // Keys in ascending order: the signer signs the query as written.
    let q = match cursor {
        Some(c) => format!("idLessThan={}&limit={LIMIT}&startTime={from_ms}", cursor_id(c)?),
        None => format!("limit={LIMIT}&startTime={from_ms}"),
    };
    Ok(Some(Request::new("GET", "/api/v2/spot/trade/fills", &q, "")))
}

pub(crate) fn parse_trades(_symbols: &[String], cursor: Option<&str>, resp: Response<'_>) -> Result<TradePage> {
    let data = checked(resp)?;
    let fills = arr(&data, "data")?;
    let below = cursor.map(cursor_id).transpose()?;
    let mut trades = Vec::new();
    let mut lowest: Option<u64> = None;
    for f in fills {
        let f = obj(f, "data[]")?;
        let trade_id = id(f, "tradeId", "data[].tradeId")?;
        let n: u64 = trade_id.parse().map_err(|_| malformed("data[].tradeId", "is not a numeric trade id"))?;
        if below.is_some_and(|b| n >= b) {
            return Err(malformed("data[].tradeId", "is not below the cursor"));
        }
        // Bitget prints the fee as a signed change of balance: -0.1 is a fee paid.
        let (fee, fee_asset) = match f.get("feeDetail") {
            None | Some(Value::Null) => ("0".to_owned(), None),
            Some(d) => {
                let d = obj(d, "data[].feeDetail")?;
                let fee = match d.get("totalFee") {
                    None => "0".to_owned(),
                    Some(_) => {
                        let raw = string(d, "totalFee", "data[].feeDetail.totalFee")?;
                        if raw.is_empty() { "0".to_owned() } else { paid(raw)? }
                    }
                };
                (fee, fee_asset(d, "feeCoin", "data[].feeDetail.feeCoin")?)
            }
        };
        trades.push(Trade {
            exchange_trade_id: trade_id,
            symbol: symbol_of(f, "symbol", "data[].symbol")?,
            side: side_of(string(f, "side", "data[].side")?, "data[].side")?,
            price: dec(f, "priceAvg", "data[].priceAvg")?,
            qty: dec(f, "size", "data[].size")?,
            fee,
            fee_asset,
            time_ms: ms(f, "cTime", "data[].cTime")?,
        });
        lowest = Some(lowest.map_or(n, |l| l.min(n)));
    }
    let next = match lowest {
        Some(l) if fills.len() >= LIMIT => Some(l.to_string()),
        _ => None,
    };
    Ok(TradePage { trades, next })
}

/// The fee paid, from Bitget's signed balance change (`-0.1` → `0.1`; a rebate stays negative).
fn paid(raw: &str) -> Result<String> {
    let field = "data[].feeDetail.totalFee";
    let text = decimal_text(raw, field, true)?;
    let a = Amount::parse(&text).and_then(Amount::checked_neg).ok_or(malformed(field, "is out of range"))?;
    Ok(if a.is_zero() { text.trim_start_matches('-').to_owned() } else { a.to_string() })
}

pub(crate) fn place_request(order: &Checked<'_>) -> Result<Request> {
    let mut b = json!({
        "symbol": order.symbol, "side": if order.buy { "buy" } else { "sell" }, "size": order.qty,
        "clientOid": order.client_order_id,
    });
    match order.price {
        Some(px) => {
            b["orderType"] = "limit".into();
            b["force"] = "gtc".into();
            b["price"] = px.into();
        }
        None if order.buy => {
            return Err(bad_input(
                "kind",
                "Bitget sizes a market buy in the quote currency, not in base units: place a limit order",
            ));
        }
        None => b["orderType"] = "market".into(),
    }
    Ok(Request::new("POST", "/api/v2/spot/trade/place-order", "", &b.to_string()))
}

fn data_object(data: &Value) -> Result<&Map<String, Value>> {
    obj(data, "data")
}

pub(crate) fn parse_placed(resp: Response<'_>) -> Result<Placed> {
    let data = checked(resp)?;
    Ok(Placed { exchange_order_id: id(data_object(&data)?, "orderId", "data.orderId")?, status: "accepted" })
}

pub(crate) fn cancel_request(symbol: &str, exchange_order_id: &str) -> Request {
    let b = json!({"symbol": symbol, "orderId": exchange_order_id});
    Request::new("POST", "/api/v2/spot/trade/cancel-order", "", &b.to_string())
}

pub(crate) fn parse_cancelled(resp: Response<'_>) -> Result<()> {
    let data = checked(resp)?;
    id(data_object(&data)?, "orderId", "data.orderId").map(|_| ())
}

/// "Get Order Info" by `clientOid` (the one parameter, so the query is sorted).
pub(crate) fn status_request(_symbol: &str, client_order_id: &str) -> Option<Request> {
    Some(Request::new("GET", "/api/v2/spot/trade/orderInfo", &format!("clientOid={client_order_id}"), ""))
}

/// Our status of a Bitget order `status` (`None`: not one Bitget documents).
fn status_of(s: &str) -> Option<&'static str> {
    Some(match s {
        "init" | "new" | "live" | "partially_filled" => "open",
        "filled" | "full_fill" => "filled",
        "cancelled" => "canceled",
        _ => return None,
    })
}

/// The order found. "Not found" (40109, 43001 or no data) is refused, not read as "never
/// arrived": a query by `clientOid` finds unfilled orders only.
pub(crate) fn parse_status(resp: Response<'_>) -> Result<Option<Placed>> {
    let not_found = || VenueError::Exchange {
        status: resp.status,
        message: "Bitget finds no unfilled order with this clientOid; that cannot tell a filled order from one \
                  that never arrived"
            .into(),
    };
    let data = match checked(resp) {
        Ok(d) => d,
        Err(VenueError::Exchange { message, .. }) if message.starts_with("40109 ") || message.starts_with("43001 ") => {
            return Err(not_found());
        }
        Err(e) => return Err(e),
    };
    let Some(o) = arr(&data, "data")?.first() else { return Err(not_found()) };
    let o = obj(o, "data[0]")?;
    let status = status_of(string(o, "status", "data[0].status")?)
        .ok_or(malformed("data[0].status", "is not an order status"))?;
    Ok(Some(Placed { exchange_order_id: id(o, "orderId", "data[0].orderId")?, status }))
}
