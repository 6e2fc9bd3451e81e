//! Bybit v5, spot, on a unified trading account (`/v5/…`).
//!
//! Balances: "Get Wallet Balance" (`accountType=UNIFIED`); `walletBalance` includes what
//! spot orders hold (`locked`), so free = `walletBalance − locked`.
//!
//! Trade history: "Get Trade History" (`GET /v5/execution/list?category=spot`), newest
//! first, `limit` at most 100, paged by Bybit's opaque `cursor` / `nextPageCursor`, which
//! is the importer's cursor as Bybit printed it (already percent-encoded, sent back as is).
//! `execId` is unique per account: rows are keyed by it alone. Without `startTime` /
//! `endTime` Bybit answers the last 7 days only (its documented default; a window is at
//! most 7 days, history goes back 730 days): an import sees the last week. Incremental:
//! `startTime` (the 7 days after it), while that window reaches now.
//!
//! Orders: "Place Order" sizes a spot market buy in the quote coin unless `marketUnit`
//! says `baseCoin`, which we always send, so `qty` is in base units for every order.
//! "Get Open & Closed Orders" (`/v5/order/realtime`) by `orderLinkId` lists the order only
//! while it is open (`openOnly=0`, the default; closed ones are in a separate, bounded
//! list that a Bybit restart clears), so an empty answer does not prove the placement
//! never arrived: [`parse_status`] refuses to conclude rather than answer `None`.
//!
//! Bybit answers `{"retCode", "retMsg", "result", …}`, failures usually with HTTP 200 and
//! `retCode` ≠ 0.

use serde_json::{Map, Value, json};

use crate::read::{arr, body, dec, decimal_text, fee_asset, get, id, ms, obj, refused, string, symbol_of};
use crate::{
    Amount, BalancePage, Checked, Placed, Request, Response, Result, Side, Trade, TradePage, Venue, VenueBalance,
    VenueError, bad_input, form, malformed, normalize_asset,
};

/// Page size asked for (the documented maximum).
const LIMIT: usize = 100;

/// Longest cursor accepted (Bybit's are a few dozen characters).
const MAX_CURSOR: usize = 128;

/// Bybit errors worth retrying later: 10000 server timeout, 10006 too many visits,
/// 10016 server error, 10018 IP rate limit, 170007 backend timeout.
pub(crate) fn transient(message: &str) -> bool {
    ["10000 ", "10006 ", "10016 ", "10018 ", "170007 "].iter().any(|p| message.starts_with(p))
}

fn error_text(v: &Value) -> Option<String> {
    Some(format!("{} {}", v.get("retCode")?.as_i64()?, v.get("retMsg").and_then(Value::as_str).unwrap_or("")))
}

/// The `result` object of a successful answer; a refusal (`retCode` ≠ 0) as the exchange's error.
fn checked(resp: Response<'_>) -> Result<Map<String, Value>> {
    let v = body(resp, error_text)?;
    let top = obj(&v, "$")?;
    match get(top, "retCode", "retCode")?.as_i64() {
        Some(0) => {}
        Some(_) => return Err(refused(resp.status, error_text(&v), "unknown error")),
        None => return Err(malformed("retCode", "is not an integer")),
    }
    Ok(obj(get(top, "result", "result")?, "result")?.clone())
}

/// A cursor as Bybit prints it: 1 to 128 of `A–Z a–z 0–9 - _ .` and `%XX` escapes, so
/// it can travel in a query string as is and can carry no other parameter.
fn check_cursor(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || b.len() > MAX_CURSOR {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                if !b.get(i + 1..i + 3).is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                    return false;
                }
                i += 3;
            }
            c if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.') => i += 1,
            _ => return false,
        }
    }
    true
}

/// A decimal field, non-negative; `""` (Bybit's "not applicable") is zero.
fn dec_or_zero(o: &Map<String, Value>, key: &str, field: &'static str) -> Result<Amount> {
    let s = string(o, key, field)?;
    if s.is_empty() {
        return Ok(Amount::ZERO);
    }
    Amount::parse(&decimal_text(s, field, false)?).ok_or(malformed(field, "is not a decimal"))
}

pub(crate) fn balances_request(_cursor: Option<&str>) -> Result<Request> {
    Ok(Request::new("GET", "/v5/account/wallet-balance", "accountType=UNIFIED", ""))
}

pub(crate) fn parse_balances(resp: Response<'_>) -> Result<BalancePage> {
    let result = checked(resp)?;
    let mut balances = Vec::new();
    for acct in arr(get(&result, "list", "result.list")?, "result.list")? {
        let acct = obj(acct, "result.list[]")?;
        for c in arr(get(acct, "coin", "result.list[].coin")?, "result.list[].coin")? {
            let c = obj(c, "result.list[].coin[]")?;
            let wallet = dec_or_zero(c, "walletBalance", "result.list[].coin[].walletBalance")?;
            let locked = match c.get("locked") {
                None => Amount::ZERO,
                Some(_) => dec_or_zero(c, "locked", "result.list[].coin[].locked")?,
            };
            let free = wallet
                .checked_sub(locked)
                .filter(|f| !f.is_negative())
                .ok_or(malformed("result.list[].coin[].locked", "is larger than the wallet balance"))?;
            balances.push(VenueBalance {
                asset: normalize_asset(Venue::Bybit, string(c, "coin", "result.list[].coin[].coin")?)?,
                free: free.to_string(),
                locked: locked.to_string(),
            });
        }
    }
    Ok(BalancePage { balances, next: None })
}

pub(crate) fn trades_request(_symbols: &[String], cursor: Option<&str>) -> Result<Option<Request>> {
    let mut q = format!("category=spot&limit={LIMIT}");
    if let Some(c) = cursor {
        if !check_cursor(c) {
            return Err(bad_input("cursor", "is not a Bybit cursor"));
        }
        q.push_str(&format!("&cursor={c}"));
    }
    Ok(Some(Request::new("GET", "/v5/execution/list", &q, "")))
}

/// Bybit's `startTime` alone opens the 7 days after it, so it is sent only while those
/// 7 days (less an hour of margin) reach now; an older start asks without it, for the
/// last 7 days — all a full import sees too (the module docs).
pub(crate) fn trades_since_request(from_ms: i64, now_ms: i64, cursor: Option<&str>) -> Result<Option<Request>> {
    const WINDOW: i64 = 7 * 86_400_000 - 3_600_000;
    let mut q = format!("category=spot&limit={LIMIT}");
    if from_ms >= now_ms.saturating_sub(WINDOW) {
        q.push_str(&format!("&startTime={from_ms}"));
    }
    if let Some(c) = cursor {
        if !check_cursor(c) {
            return Err(bad_input("cursor", "is not a Bybit cursor"));
        }
        q.push_str(&format!("&cursor={c}"));
    }
    Ok(Some(Request::new("GET", "/v5/execution/list", &q, "")))
}

pub(crate) fn parse_trades(_symbols: &[String], _cursor: Option<&str>, resp: Response<'_>) -> Result<TradePage> {
    let result = checked(resp)?;
    let list = arr(get(&result, "list", "result.list")?, "result.list")?;
    let mut trades = Vec::new();
    for e in list {
        let e = obj(e, "result.list[]")?;
        // Funding, settlement and the like are no trades (spot has none, but say so).
        if e.get("execType").and_then(Value::as_str).is_some_and(|t| t != "Trade") {
            continue;
        }
        // Bybit prints the fee paid as a positive number; a maker rebate is negative.
        let fee = match e.get("execFee") {
            None => "0".to_owned(),
            Some(_) => {
                let raw = string(e, "execFee", "result.list[].execFee")?;
                if raw.is_empty() { "0".to_owned() } else { decimal_text(raw, "result.list[].execFee", true)? }
            }
        };
        trades.push(Trade {
            exchange_trade_id: id(e, "execId", "result.list[].execId")?,
            symbol: symbol_of(e, "symbol", "result.list[].symbol")?,
            side: side(string(e, "side", "result.list[].side")?)?,
            price: dec(e, "execPrice", "result.list[].execPrice")?,
            qty: dec(e, "execQty", "result.list[].execQty")?,
            fee,
            fee_asset: fee_asset(e, "feeCurrency", "result.list[].feeCurrency")?,
            time_ms: ms(e, "execTime", "result.list[].execTime")?,
        });
    }
    let next = match result.get("nextPageCursor") {
        None | Some(Value::Null) => None,
        Some(Value::String(c)) if c.is_empty() || list.is_empty() => None,
        Some(Value::String(c)) if check_cursor(c) => Some(c.clone()),
        Some(Value::String(_)) => return Err(malformed("result.nextPageCursor", "is not a cursor")),
        Some(_) => return Err(malformed("result.nextPageCursor", "is not a string")),
    };
    Ok(TradePage { trades, next })
}

/// Bybit spells sides `Buy` and `Sell`.
fn side(s: &str) -> Result<Side> {
    match s {
        "Buy" => Ok(Side::Buy),
        "Sell" => Ok(Side::Sell),
        _ => Err(malformed("result.list[].side", "is not Buy or Sell")),
    }
}

pub(crate) fn place_request(order: &Checked<'_>) -> Result<Request> {
    let mut b = json!({
        "category": "spot", "symbol": order.symbol, "side": if order.buy { "Buy" } else { "Sell" },
        "qty": order.qty, "orderLinkId": order.client_order_id,
    });
    match order.price {
        Some(px) => {
            b["orderType"] = "Limit".into();
            b["price"] = px.into();
            b["timeInForce"] = "GTC".into();
        }
        None => {
            b["orderType"] = "Market".into();
            // A spot market buy is sized in the quote coin unless told otherwise.
            b["marketUnit"] = "baseCoin".into();
        }
    }
    Ok(Request::new("POST", "/v5/order/create", "", &b.to_string()))
}

pub(crate) fn parse_placed(resp: Response<'_>) -> Result<Placed> {
    let result = checked(resp)?;
    Ok(Placed { exchange_order_id: id(&result, "orderId", "result.orderId")?, status: "accepted" })
}

pub(crate) fn cancel_request(symbol: &str, exchange_order_id: &str) -> Request {
    let b = json!({"category": "spot", "symbol": symbol, "orderId": exchange_order_id});
    Request::new("POST", "/v5/order/cancel", "", &b.to_string())
}

pub(crate) fn parse_cancelled(resp: Response<'_>) -> Result<()> {
    let result = checked(resp)?;
    id(&result, "orderId", "result.orderId").map(|_| ())
}

/// "Get Open & Closed Orders" by `orderLinkId` (which Bybit ranks above `symbol`).
pub(crate) fn status_request(symbol: &str, client_order_id: &str) -> Option<Request> {
    let q = form(&[("category", "spot"), ("symbol", symbol), ("orderLinkId", client_order_id)]);
    Some(Request::new("GET", "/v5/order/realtime", &q, ""))
}

/// Our status of a Bybit `orderStatus` (`None`: not one Bybit documents).
fn status_of(s: &str) -> Option<&'static str> {
    Some(match s {
        "New" | "PartiallyFilled" | "Untriggered" | "Created" | "Triggered" => "open",
        "Filled" => "filled",
        "Cancelled" | "PartiallyFilledCanceled" | "Deactivated" => "canceled",
        "Rejected" => "rejected",
        _ => return None,
    })
}

/// The order found. An empty list is refused, not read as "never arrived": the query
/// lists open orders only, so a filled or cancelled order is absent from it too.
pub(crate) fn parse_status(resp: Response<'_>) -> Result<Option<Placed>> {
    let result = checked(resp)?;
    let list = arr(get(&result, "list", "result.list")?, "result.list")?;
    let Some(o) = list.first() else {
        return Err(VenueError::Exchange {
            status: resp.status,
            message: "no open order has this orderLinkId; Bybit's answer cannot tell a filled or cancelled \
                      order from one that never arrived"
                .into(),
        });
    };
    let o = obj(o, "result.list[0]")?;
    let status = status_of(string(o, "orderStatus", "result.list[0].orderStatus")?)
        .ok_or(malformed("result.list[0].orderStatus", "is not an order status"))?;
    Ok(Some(Placed { exchange_order_id: id(o, "orderId", "result.list[0].orderId")?, status }))
}
