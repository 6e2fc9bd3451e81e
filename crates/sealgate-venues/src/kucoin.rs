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
//! paged with `currentPage` (from 1) and `pageSize` (10..=500): the importer's cursor is
//! the page number to ask next. A trade arriving while the pages are read pushes older
//! rows one place down, so a row may be read twice (rows upsert by id), never skipped.
//! KuCoin's `tradeId` increases per symbol, so rows are keyed `SYMBOL-tradeId`.
//! Caveat (from KuCoin's docs, not provable in the sandbox): without `startAt`/`endAt`
//! the real endpoint answers the last 7 days only; older fills need windowed queries
//! (or "Get Recent Fills" / the HF endpoints), which the sandbox does not serve.
//!
//! Incremental: the sandbox serves no time filter on fills, so a refresh reads the same
//! newest-first pages and stops at the first page that reaches back past the newest
//! stored trade (less [`crate::SINCE_OVERLAP_MS`]): usually one page.
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

pub(crate) fn trades_request(_symbols: &[String], cursor: Option<&str>) -> Result<Option<Request>> {
    let page = cursor.map(cursor_page).transpose()?.unwrap_or(1);
    let q = format!("currentPage={page}&pageSize={LIMIT}&tradeType=TRADE");
    Ok(Some(Request::new("GET", "/api/v1/fills", &q, "")))
}

/// The same pages as [`trades_request`]: KuCoin's fills take no "newer than" filter the
/// sandbox serves ([`parse_trades_since`] stops early instead).
pub(crate) fn trades_since_request(cursor: Option<&str>) -> Result<Option<Request>> {
    trades_request(&[], cursor)
}

pub(crate) fn parse_trades(_symbols: &[String], cursor: Option<&str>, resp: Response<'_>) -> Result<TradePage> {
    parse_page(cursor, resp).map(|(page, _)| page)
}

/// A page of [`trades_since_request`]: no next page once this one reaches back to
/// `since` (less the overlap), the history being newest first.
pub(crate) fn parse_trades_since(since: &Since<'_>, cursor: Option<&str>, resp: Response<'_>) -> Result<TradePage> {
    let (mut page, oldest) = parse_page(cursor, resp)?;
    if oldest.is_some_and(|t| t < since.ask_from_ms()) {
        page.next = None;
    }
    Ok(page)
}

/// The page, and the time of its oldest trade.
fn parse_page(cursor: Option<&str>, resp: Response<'_>) -> Result<(TradePage, Option<i64>)> {
    let asked = cursor.map(cursor_page).transpose()?.unwrap_or(1);
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
