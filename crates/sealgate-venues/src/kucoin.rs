//! KuCoin spot (classic REST, `/api/v1/…`).
//!
//! The signer signs `timestamp + METHOD + path?query + body` as written (no key order
//! required) and takes the passphrase from the credential (key version 2).
//!
//! Balances: "Get Account List" (`GET /api/v1/accounts`), one row per account and
//! currency; the `main` (funding) and `trade` accounts (and `trade_hf`) of a currency are
//! summed: free = `available`, locked = `holds`. `margin` and `isolated` accounts are left
//! out (their balances include borrowed funds): Sealgate imports spot holdings.
//!
//! Trade history: "Get Filled List" (`GET /api/v1/fills?tradeType=TRADE`), newest first,
//! paged with `currentPage` (from 1) and `pageSize` (10..=500). A window (`startAt` to
//! `endAt`, ms) is at most 7 days, and without one KuCoin answers the last 7 days only, so
//! a full import first reads KuCoin's clock ("Get Server Time", `/api/v1/timestamp`),
//! then walks back a week at a time for [`HISTORY`] days: cursor `@END@STOP` for the week
//! ending at `END`, `@END@STOP@PAGE` within it. A trade arriving while a window's pages
//! are read pushes older rows one place down, so a row may be read twice (rows upsert by
//! id), never skipped. KuCoin's `tradeId` increases per symbol, so rows are keyed
//! `SYMBOL-tradeId`. A bare page number (a checkpoint of the importer before the walk)
//! goes on through KuCoin's default last 7 days and ends there.
//!
//! Incremental: from the newest stored trade (less [`crate::SINCE_OVERLAP_MS`]) a week at
//! a time up to now (`+START`, `+START+PAGE`), `endAt` never past now.
//!
//! Orders: "Place Order" (`POST /api/v1/orders`); a limit order is GTC with `price` and
//! `size`; a market order is sized with `size`, which KuCoin reads in base units for buys
//! and sells alike (`funds`, the quote-sized alternative, is never sent). "Cancel Order"
//! (`DELETE /api/v1/orders/{orderId}`). The sandbox serves no query of an order by
//! `clientOid` (KuCoin's `GET /api/v1/order/client-order/{clientOid}`), so there is no
//! status query (`None`), as for Kraken.
//!
//! KuCoin answers `{"code": "200000", "data": …}` on success and `{"code", "msg"}`
//! otherwise, business refusals (insufficient balance, 200004) with HTTP 200.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::read::{arr, body, dec, fee_asset, get, id, ms, obj, refused, side_of, string, symbol_of};
use crate::{
    Amount, BalancePage, Checked, Placed, Request, Response, Result, Since, Trade, TradePage, Venue, VenueBalance,
    VenueError, bad_input, malformed, normalize_asset,
};

/// Page size asked for (KuCoin allows 10..=500).
const LIMIT: u64 = 100;
/// The most pages a history may have before we refuse to believe it.
const MAX_PAGES: u64 = 1_000_000;

/// KuCoin errors worth retrying later: 429000 too many requests, 500000 internal error,
/// 503000 service unavailable.
pub(crate) fn transient(message: &str) -> bool {
    ["429000 ", "500000 ", "503000 "].iter().any(|p| message.starts_with(p))
}

fn error_text(v: &Value) -> Option<String> {
    let code = match v.get("code")? {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    Some(format!("{code} {}", v.get("msg").and_then(Value::as_str).unwrap_or("")))
}

/// The `data` of a successful answer; a refusal (`code` ≠ `"200000"`) as the exchange's error.
fn checked(resp: Response<'_>) -> Result<Value> {
    let v = body(resp, error_text)?;
    let top = obj(&v, "$")?;
    match get(top, "code", "code")?.as_str() {
        Some("200000") => {}
        Some(_) => return Err(refused(resp.status, error_text(&v), "unknown error")),
        None => return Err(malformed("code", "is not a string")),
    }
    Ok(get(top, "data", "data")?.clone())
}

fn cursor_page(c: &str) -> Result<u64> {
    let bad = || bad_input("cursor", "is not a KuCoin page number");
    if c.is_empty() || c.len() > 7 || !c.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n: u64 = c.parse().map_err(|_| bad())?;
    if !(2..=MAX_PAGES).contains(&n) {
        return Err(bad());
    }
    Ok(n)
}

pub(crate) fn balances_request(_cursor: Option<&str>) -> Result<Request> {
    Ok(Request::new("GET", "/api/v1/accounts", "", ""))
}

pub(crate) fn parse_balances(resp: Response<'_>) -> Result<BalancePage> {
    let data = checked(resp)?;
    let mut sums: BTreeMap<String, (Amount, Amount)> = BTreeMap::new();
    for a in arr(&data, "data")? {
        let a = obj(a, "data[]")?;
        match string(a, "type", "data[].type")? {
            "main" | "trade" | "trade_hf" => {}
            "margin" | "isolated" | "pool" | "contract" => continue,
            _ => return Err(malformed("data[].type", "is not a KuCoin account type")),
        }
        let asset = normalize_asset(Venue::Kucoin, string(a, "currency", "data[].currency")?)?;
        let free = Amount::parse(&dec(a, "available", "data[].available")?)
            .ok_or(malformed("data[].available", "is not a decimal"))?;
        let held =
            Amount::parse(&dec(a, "holds", "data[].holds")?).ok_or(malformed("data[].holds", "is not a decimal"))?;
        let e = sums.entry(asset).or_insert((Amount::ZERO, Amount::ZERO));
        e.0 = e.0.checked_add(free).ok_or(malformed("data[].available", "is out of range"))?;
        e.1 = e.1.checked_add(held).ok_or(malformed("data[].holds", "is out of range"))?;
    }
    let balances = sums
        .into_iter()
        .map(|(asset, (f, l))| VenueBalance { asset, free: f.to_string(), locked: l.to_string() })
        .collect();
    Ok(BalancePage { balances, next: None })
}

/// Longest window KuCoin answers for (7 days, ms).
const WEEK: i64 = 7 * 86_400_000;
/// How far back a full import walks (365 days: KuCoin keeps a year of fills, from memory).
const HISTORY: i64 = 365 * 86_400_000;

/// Where a full import is (the module docs).
enum Back {
    /// KuCoin's clock, to be read.
    Clock,
    /// A page of KuCoin's default last 7 days (a checkpoint from before the walk).
    Latest(u64),
    /// The week ending at `end`, not before `stop`, at page `page`.
    Week { end: i64, stop: i64, page: u64 },
}

/// A time in a cursor: 1 to 15 digits.
fn cursor_ms(s: &str) -> Option<i64> {
    (!s.is_empty() && s.len() <= 15 && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten()
}

fn back(cursor: Option<&str>) -> Result<Back> {
    let Some(c) = cursor else { return Ok(Back::Clock) };
    let Some(rest) = c.strip_prefix('@') else { return Ok(Back::Latest(cursor_page(c)?)) };
    let bad = || bad_input("cursor", "is not @END@STOP[@PAGE]");
    let mut parts = rest.splitn(3, '@');
    let end = parts.next().and_then(cursor_ms).ok_or_else(bad)?;
    let stop = parts.next().and_then(cursor_ms).ok_or_else(bad)?;
    if stop >= end {
        return Err(bad());
    }
    let page = parts.next().map(cursor_page).transpose()?.unwrap_or(1);
    Ok(Back::Week { end, stop, page })
}

fn fills(window: Option<(i64, i64)>, page: u64) -> Request {
    let mut q = format!("currentPage={page}&pageSize={LIMIT}&tradeType=TRADE");
    if let Some((start, end)) = window {
        q.push_str(&format!("&startAt={start}&endAt={end}"));
    }
    Request::new("GET", "/api/v1/fills", &q, "")
}

pub(crate) fn trades_request(_symbols: &[String], cursor: Option<&str>) -> Result<Option<Request>> {
    Ok(Some(match back(cursor)? {
        Back::Clock => Request::new("GET", "/api/v1/timestamp", "", ""),
        Back::Latest(page) => fills(None, page),
        Back::Week { end, stop, page } => fills(Some(((end - WEEK).max(stop), end)), page),
    }))
}

pub(crate) fn parse_trades(_symbols: &[String], cursor: Option<&str>, resp: Response<'_>) -> Result<TradePage> {
    match back(cursor)? {
        Back::Clock => {
            let now = checked(resp)?
                .as_i64()
                .filter(|t| *t > HISTORY && *t < 1 << 50)
                .ok_or(malformed("data", "is not a time in ms"))?;
            Ok(TradePage { trades: Vec::new(), next: Some(format!("@{now}@{}", now - HISTORY)) })
        }
        Back::Latest(page) => parse_page(page, resp).map(|(p, _)| p),
        Back::Week { end, stop, page } => {
            let (mut p, _) = parse_page(page, resp)?;
            p.next = match p.next {
                Some(n) => Some(format!("@{end}@{stop}@{n}")),
                None => {
                    let start = end - WEEK;
                    (start > stop).then(|| format!("@{}@{stop}", start - 1))
                }
            };
            Ok(p)
        }
    }
}

/// Where an incremental import is: the week from `start`, at page `page`.
fn forward(from_ms: i64, cursor: Option<&str>) -> Result<(i64, u64)> {
    let Some(c) = cursor else { return Ok((from_ms, 1)) };
    let bad = || bad_input("cursor", "is not +START[+PAGE]");
    let mut parts = c.strip_prefix('+').ok_or_else(bad)?.splitn(2, '+');
    let start = parts.next().and_then(cursor_ms).ok_or_else(bad)?;
    Ok((start, parts.next().map(cursor_page).transpose()?.unwrap_or(1)))
}

/// The week from the newest stored trade (less the overlap), then each week after it up
/// to now (the module docs).
pub(crate) fn trades_since_request(since: &Since<'_>, cursor: Option<&str>) -> Result<Option<Request>> {
    let (start, page) = forward(since.ask_from_ms(), cursor)?;
    Ok(Some(fills(Some((start, (start + WEEK).min(since.now_ms.max(start)))), page)))
}

pub(crate) fn parse_trades_since(since: &Since<'_>, cursor: Option<&str>, resp: Response<'_>) -> Result<TradePage> {
    let (start, page) = forward(since.ask_from_ms(), cursor)?;
    let (mut p, _) = parse_page(page, resp)?;
    p.next = match p.next {
        Some(n) => Some(format!("+{start}+{n}")),
        None => {
            let after = start + WEEK + 1;
            (after <= since.now_ms).then(|| format!("+{after}"))
        }
    };
    Ok(p)
}

/// The page, and the time of its oldest trade.
fn parse_page(asked: u64, resp: Response<'_>) -> Result<(TradePage, Option<i64>)> {
    let data = checked(resp)?;
    let d = obj(&data, "data")?;
    let number = |key: &str, field: &'static str| -> Result<u64> {
        get(d, key, field)?.as_u64().ok_or(malformed(field, "is not a non-negative integer"))
    };
    if number("currentPage", "data.currentPage")? != asked {
        return Err(malformed("data.currentPage", "is not the page asked"));
    }
    let total_pages = number("totalPage", "data.totalPage")?;
    if total_pages > MAX_PAGES {
        return Err(malformed("data.totalPage", "is out of range"));
    }
    let items = arr(get(d, "items", "data.items")?, "data.items")?;
    if items.len() as u64 > LIMIT {
        return Err(malformed("data.items", "holds more than the page size"));
    }
    let mut trades = Vec::with_capacity(items.len());
    let mut oldest: Option<i64> = None;
    for f in items {
        let f = obj(f, "data.items[]")?;
        let symbol = symbol_of(f, "symbol", "data.items[].symbol")?;
        let trade_id = id(f, "tradeId", "data.items[].tradeId")?;
        let time_ms = ms(f, "createdAt", "data.items[].createdAt")?;
        oldest = Some(oldest.map_or(time_ms, |o| o.min(time_ms)));
        trades.push(Trade {
            exchange_trade_id: format!("{symbol}-{trade_id}"),
            side: side_of(string(f, "side", "data.items[].side")?, "data.items[].side")?,
            price: dec(f, "price", "data.items[].price")?,
            qty: dec(f, "size", "data.items[].size")?,
            fee: dec(f, "fee", "data.items[].fee")?,
            fee_asset: fee_asset(f, "feeCurrency", "data.items[].feeCurrency")?,
            time_ms,
            symbol,
        });
    }
    let next = (asked < total_pages && !items.is_empty()).then(|| (asked + 1).to_string());
    Ok((TradePage { trades, next }, oldest))
}

pub(crate) fn place_request(order: &Checked<'_>) -> Result<Request> {
    let mut b = json!({
        "clientOid": order.client_order_id, "side": if order.buy { "buy" } else { "sell" },
        "symbol": order.symbol, "size": order.qty,
    });
    match order.price {
        Some(px) => {
            b["type"] = "limit".into();
            b["price"] = px.into();
            b["timeInForce"] = "GTC".into();
        }
        // `size` is in base units for a market buy too (KuCoin's `funds` would be quote).
        None => b["type"] = "market".into(),
    }
    Ok(Request::new("POST", "/api/v1/orders", "", &b.to_string()))
}

pub(crate) fn parse_placed(resp: Response<'_>) -> Result<Placed> {
    let data = checked(resp)?;
    Ok(Placed { exchange_order_id: id(obj(&data, "data")?, "orderId", "data.orderId")?, status: "accepted" })
}

pub(crate) fn cancel_request(_symbol: &str, exchange_order_id: &str) -> Request {
    Request::new("DELETE", &format!("/api/v1/orders/{exchange_order_id}"), "", "")
}

pub(crate) fn parse_cancelled(resp: Response<'_>) -> Result<()> {
    let data = checked(resp)?;
    let ids = arr(get(obj(&data, "data")?, "cancelledOrderIds", "data.cancelledOrderIds")?, "data.cancelledOrderIds")?;
    if ids.len() != 1 {
        return Err(malformed("data.cancelledOrderIds", "does not hold exactly one order"));
    }
    if !ids[0].is_string() {
        return Err(malformed("data.cancelledOrderIds[]", "is not a string"));
    }
    Ok(())
}

/// None: the sandbox serves no query by `clientOid` (see the module docs).
pub(crate) fn status_request(_symbol: &str, _client_order_id: &str) -> Option<Request> {
    None
}

pub(crate) fn parse_status(_resp: Response<'_>) -> Result<Option<Placed>> {
    Err(VenueError::Unsupported(Venue::Kucoin.to_string()))
}
