//! Bybit v5, spot, on a unified trading account (`/v5/…`).
//!
//! Balances: "Get Wallet Balance" (`accountType=UNIFIED`); `walletBalance` includes what
//! spot orders hold (`locked`), so free = `walletBalance − locked`.
//!
//! Trade history: "Get Trade History" (`GET /v5/execution/list?category=spot`), newest
//! first, `limit` at most 100, paged by Bybit's opaque `cursor` / `nextPageCursor`, which
//! is the importer's cursor as Bybit printed it (already percent-encoded, sent back as is).
//! `execId` is unique per account: rows are keyed by it alone. A window (`startTime` to
//! `endTime`) is at most 7 days and history goes back 730 days (Bybit's documented rules),
//! so a full import walks backwards a week at a time: first the last 7 days (no window:
//! Bybit's default), then, from the answer's `time` (Bybit's clock, so no gap opens
//! between its "last 7 days" and ours), the week before each, until 730 days before
//! that first answer — 105 requests for an account with no trade. Its cursor is Bybit's
//! own within the first week, `@END@STOP` for the week ending at `END`, and
//! `@END@STOP@CURSOR` within it. An incremental import walks forwards from the newest
//! stored trade a week at a time until now (`+START`, `+START+CURSOR`; `endTime` never
//! past now). Adjacent windows
//! meet without a gap (both bounds are inclusive); rows upsert by `execId`, so an
//! overlap is harmless.
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
    Ok(checked_top(resp)?.1)
}

/// The answer's `time` (Bybit's clock, ms), if present, and its `result`.
fn checked_top(resp: Response<'_>) -> Result<(Option<i64>, Map<String, Value>)> {
    let v = body(resp, error_text)?;
    let top = obj(&v, "$")?;
    match get(top, "retCode", "retCode")?.as_i64() {
        Some(0) => {}
        Some(_) => return Err(refused(resp.status, error_text(&v), "unknown error")),
        None => return Err(malformed("retCode", "is not an integer")),
    }
    let time = match top.get("time") {
        None => None,
        Some(t) => Some(t.as_i64().filter(|t| *t > HISTORY).ok_or(malformed("time", "is not a time in ms"))?),
    };
    Ok((time, obj(get(top, "result", "result")?, "result")?.clone()))
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

/// Longest window Bybit answers for (7 days, ms).
const WEEK: i64 = 7 * 86_400_000;
/// How far back Bybit keeps trade history (730 days, ms).
const HISTORY: i64 = 730 * 86_400_000;

/// Where a full import is (see the module docs).
#[derive(Debug, PartialEq, Eq)]
enum Back<'a> {
    /// The last 7 days (Bybit's default window), at Bybit's page cursor.
    Latest(Option<&'a str>),
    /// The week ending at `end` (inclusive), not before `stop`, at Bybit's page cursor.
    Week { end: i64, stop: i64, page: Option<&'a str> },
}

/// A time in a cursor: 1 to 15 digits.
fn cursor_ms(s: &str) -> Option<i64> {
    (!s.is_empty() && s.len() <= 15 && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten()
}

fn page_of(c: &str) -> Result<&str> {
    if check_cursor(c) { Ok(c) } else { Err(bad_input("cursor", "is not a Bybit cursor")) }
}

fn back(cursor: Option<&str>) -> Result<Back<'_>> {
    let Some(c) = cursor else { return Ok(Back::Latest(None)) };
    let Some(rest) = c.strip_prefix('@') else { return Ok(Back::Latest(Some(page_of(c)?))) };
    let bad = || bad_input("cursor", "is not @END@STOP[@CURSOR]");
    let mut parts = rest.splitn(3, '@');
    let end = parts.next().and_then(cursor_ms).ok_or_else(bad)?;
    let stop = parts.next().and_then(cursor_ms).ok_or_else(bad)?;
    if stop >= end {
        return Err(bad());
    }
    let page = parts.next().map(page_of).transpose()?;
    Ok(Back::Week { end, stop, page })
}

/// The execution list's query: a window (when given) and Bybit's page cursor.
fn executions(window: Option<(i64, i64)>, page: Option<&str>) -> Request {
    let mut q = format!("category=spot&limit={LIMIT}");
    if let Some((start, end)) = window {
        q.push_str(&format!("&startTime={start}&endTime={end}"));
    }
    if let Some(c) = page {
        q.push_str(&format!("&cursor={c}"));
    }
    Request::new("GET", "/v5/execution/list", &q, "")
}

pub(crate) fn trades_request(_symbols: &[String], cursor: Option<&str>) -> Result<Option<Request>> {
    Ok(Some(match back(cursor)? {
        Back::Latest(page) => executions(None, page),
        Back::Week { end, stop, page } => executions(Some(((end - WEEK).max(stop), end)), page),
    }))
}

pub(crate) fn parse_trades(_symbols: &[String], cursor: Option<&str>, resp: Response<'_>) -> Result<TradePage> {
    let at = back(cursor)?;
    let (trades, page, time) = executions_page(resp)?;
    let next = match (at, page) {
        (Back::Latest(_), Some(p)) => Some(p),
        (Back::Week { end, stop, .. }, Some(p)) => Some(format!("@{end}@{stop}@{p}")),
        // Bybit's "last 7 days" ended at its clock; the week before it, back to 730 days.
        (Back::Latest(_), None) => {
            let time = time.ok_or(malformed("time", "is missing: the week before it is not known"))?;
            Some(format!("@{}@{}", time - WEEK - 1, time - HISTORY))
        }
        (Back::Week { end, stop, .. }, None) => {
            let start = end - WEEK;
            (start > stop).then(|| format!("@{}@{stop}", start - 1))
        }
    };
    Ok(TradePage { trades, next })
}

/// Where an incremental import is: the week from `start`, at Bybit's page cursor.
fn forward(from_ms: i64, cursor: Option<&str>) -> Result<(i64, Option<&str>)> {
    let Some(c) = cursor else { return Ok((from_ms, None)) };
    let bad = || bad_input("cursor", "is not +START[+CURSOR]");
    let mut parts = c.strip_prefix('+').ok_or_else(bad)?.splitn(2, '+');
    let start = parts.next().and_then(cursor_ms).ok_or_else(bad)?;
    Ok((start, parts.next().map(page_of).transpose()?))
}

/// The week from the newest stored trade (less the overlap), then each week after it
/// until now (the module docs).
pub(crate) fn trades_since_request(from_ms: i64, now_ms: i64, cursor: Option<&str>) -> Result<Option<Request>> {
    let (start, page) = forward(from_ms, cursor)?;
    // `endTime` never past now (a window into the future is not one Bybit documents).
    Ok(Some(executions(Some((start, (start + WEEK).min(now_ms.max(start)))), page)))
}

pub(crate) fn parse_trades_since(
    from_ms: i64,
    now_ms: i64,
    cursor: Option<&str>,
    resp: Response<'_>,
) -> Result<TradePage> {
    let (start, _) = forward(from_ms, cursor)?;
    let (trades, page, _) = executions_page(resp)?;
    let next = match page {
        Some(p) => Some(format!("+{start}+{p}")),
        None => {
            let after = start + WEEK + 1;
            (after <= now_ms).then(|| format!("+{after}"))
        }
    };
    Ok(TradePage { trades, next })
}

/// One page of the execution list: its trades, Bybit's cursor of the next page in the
/// same window, and the answer's `time` (Bybit's clock, ms).
fn executions_page(resp: Response<'_>) -> Result<(Vec<Trade>, Option<String>, Option<i64>)> {
    let (time, result) = checked_top(resp)?;
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
    Ok((trades, next, time))
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
