//! Poloniex spot (the "v3" API at `https://api.poloniex.com`, spot paths unversioned).
//!
//! The signer signs `METHOD\npath\n` and the query's parameters sorted by name (or the
//! JSON body), with the `key`, `signTimestamp` and `signature` headers; the query is sent
//! as written here.
//!
//! Balances: "All Account Balances" (`GET /accounts/balances`), one entry per account,
//! each with `balances[]` of `currency`, `available` and `hold` (free and locked). Only
//! `SPOT` accounts are read (the only account type Poloniex's order endpoints take), summed
//! per currency.
//!
//! Trade history: "Trade History" (`GET /trades`, every symbol), newest first, at most
//! `limit` (100 asked) a page; the next page is `from=<pageId>&direction=NEXT` (older than
//! that row), with the `pageId` of the oldest row of a full page: the importer's cursor. A
//! short page is the last. Every row of a page asked from a `pageId` must be older than it
//! (a smaller `pageId`), so the cursor only goes down and cannot repeat. Poloniex trade
//! `id`s are unique across symbols: rows are keyed by `id`. Incremental: `startTime` (ms).
//! Caveat (not provable in the sandbox): the direction names are read from memory of the
//! reference (the sandbox's too), and the real endpoint may bound how far back it reads.
//!
//! Orders: "Create Order" (`POST /orders`, a JSON body): a LIMIT order is GTC with
//! `quantity` (base) and `price`; Poloniex sizes a *market buy* by `amount` in the quote
//! currency ("Amount is required for MARKET BUY order"), so a market buy is refused here
//! (as for Bitget and Gate) rather than sent with a size Poloniex would not read as base;
//! a market sell is sized by `quantity`. `clientOrderId`: at most 64 of `A–Z a–z 0–9 _ -`
//! (our UUID). "Cancel Order by Id" (`DELETE /orders/{id}`) answers `PENDING_CANCEL`.
//! Poloniex has "Order Details" by `cid:<clientOrderId>`, but no stored page of its docs
//! says how it answers an order it never received, and reading a guessed refusal as "never
//! placed" could record a live order as rejected: there is no status query here (`None`),
//! as for Kraken.
//!
//! Refusals are `{"code", "message"}`, with an HTTP error status; rate limits and outages
//! come as HTTP 429 and 5xx (transient whatever the body), so no code is read as transient.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::read::{arr, body, dec, fee_asset, get, id, ms, obj, refused, side_of, string, symbol_of};
use crate::{
    Amount, BalancePage, Checked, Placed, Request, Response, Result, Trade, TradePage, Venue, VenueBalance, VenueError,
    bad_input, malformed, normalize_asset,
};

/// Page size asked for (Poloniex allows up to 1000).
const LIMIT: usize = 100;

fn error_text(v: &Value) -> Option<String> {
    Some(format!("{} {}", v.get("code")?.as_i64()?, v.get("message").and_then(Value::as_str).unwrap_or("")))
}

/// An answer that carries a `code` other than 200 (Poloniex's success) is a refusal,
/// whatever its HTTP status.
fn refusal_in(status: u16, v: &Value) -> Result<()> {
    match v.get("code") {
        None | Some(Value::Null) => Ok(()),
        Some(c) if c.as_i64() == Some(200) => Ok(()),
        Some(Value::Number(_)) => Err(refused(status, error_text(v), "unknown error")),
        Some(_) => Err(malformed("code", "is not a number")),
    }
}

/// A `pageId` (or a cursor holding one): 1 to 20 digits.
fn page_id(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn cursor_page(c: &str) -> Result<u64> {
    page_id(c).ok_or(bad_input("cursor", "is not a Poloniex pageId"))
}

pub(crate) fn balances_request(_cursor: Option<&str>) -> Result<Request> {
    Ok(Request::new("GET", "/accounts/balances", "", ""))
}

pub(crate) fn parse_balances(resp: Response<'_>) -> Result<BalancePage> {
    let v = body(resp, error_text)?;
    let mut sums: BTreeMap<String, (Amount, Amount)> = BTreeMap::new();
    for account in arr(&v, "$")? {
        let account = obj(account, "[]")?;
        if string(account, "accountType", "[].accountType")? != "SPOT" {
            continue;
        }
        for b in arr(get(account, "balances", "[].balances")?, "[].balances")? {
            let b = obj(b, "[].balances[]")?;
            let asset = normalize_asset(Venue::Poloniex, string(b, "currency", "[].balances[].currency")?)?;
            let free = Amount::parse(&dec(b, "available", "[].balances[].available")?)
                .ok_or(malformed("[].balances[].available", "is not a decimal"))?;
            let held = Amount::parse(&dec(b, "hold", "[].balances[].hold")?)
                .ok_or(malformed("[].balances[].hold", "is not a decimal"))?;
            let e = sums.entry(asset).or_insert((Amount::ZERO, Amount::ZERO));
            e.0 = e.0.checked_add(free).ok_or(malformed("[].balances[].available", "is out of range"))?;
            e.1 = e.1.checked_add(held).ok_or(malformed("[].balances[].hold", "is out of range"))?;
        }
    }
    let balances = sums
        .into_iter()
        .map(|(asset, (f, l))| VenueBalance { asset, free: f.to_string(), locked: l.to_string() })
        .collect();
    Ok(BalancePage { balances, next: None })
}

fn page_query(start: Option<i64>, cursor: Option<&str>) -> Result<String> {
    let mut q = match start {
        Some(t) => format!("startTime={t}&limit={LIMIT}"),
        None => format!("limit={LIMIT}"),
    };
    if let Some(c) = cursor {
        q.push_str(&format!("&from={}&direction=NEXT", cursor_page(c)?));
    }
    Ok(q)
}

pub(crate) fn trades_request(_symbols: &[String], cursor: Option<&str>) -> Result<Option<Request>> {
    Ok(Some(Request::new("GET", "/trades", &page_query(None, cursor)?, "")))
}

/// `startTime` (ms): trades at or after it; the cursor pages within them.
pub(crate) fn trades_since_request(from_ms: i64, cursor: Option<&str>) -> Result<Option<Request>> {
    Ok(Some(Request::new("GET", "/trades", &page_query(Some(from_ms), cursor)?, "")))
}

pub(crate) fn parse_trades(_symbols: &[String], cursor: Option<&str>, resp: Response<'_>) -> Result<TradePage> {
    let asked = cursor.map(cursor_page).transpose()?;
    let v = body(resp, error_text)?;
    let rows = arr(&v, "$")?;
    if rows.len() > LIMIT {
        return Err(malformed("$", "holds more than the limit asked for"));
    }
    let mut trades = Vec::with_capacity(rows.len());
    let mut oldest: Option<u64> = None;
    for t in rows {
        let t = obj(t, "[]")?;
        let page = page_id(&id(t, "pageId", "[].pageId")?).ok_or(malformed("[].pageId", "is not a page id"))?;
        // Asked for rows older than `from`: anything else would send the cursor back.
        if asked.is_some_and(|from| page >= from) {
            return Err(malformed("[].pageId", "is not older than the page asked from"));
        }
        oldest = Some(oldest.map_or(page, |o| o.min(page)));
        trades.push(Trade {
            exchange_trade_id: id(t, "id", "[].id")?,
            symbol: symbol_of(t, "symbol", "[].symbol")?,
            side: side_of(string(t, "side", "[].side")?, "[].side")?,
            price: dec(t, "price", "[].price")?,
            qty: dec(t, "quantity", "[].quantity")?,
            fee: dec(t, "feeAmount", "[].feeAmount")?,
            fee_asset: fee_asset(t, "feeCurrency", "[].feeCurrency")?,
            time_ms: ms(t, "createTime", "[].createTime")?,
        });
    }
    let next = match oldest {
        Some(o) if rows.len() == LIMIT => Some(o.to_string()),
        _ => None,
    };
    Ok(TradePage { trades, next })
}

pub(crate) fn place_request(order: &Checked<'_>) -> Result<Request> {
    let mut b: Map<String, Value> = Map::new();
    b.insert("symbol".into(), order.symbol.into());
    b.insert("side".into(), if order.buy { "BUY" } else { "SELL" }.into());
    match order.price {
        Some(px) => {
            b.insert("type".into(), "LIMIT".into());
            b.insert("quantity".into(), order.qty.into());
            b.insert("price".into(), px.into());
            b.insert("timeInForce".into(), "GTC".into());
        }
        None if order.buy => {
            return Err(bad_input(
                "kind",
                "Poloniex sizes a market buy in the quote currency, not in base units: place a limit order",
            ));
        }
        None => {
            b.insert("type".into(), "MARKET".into());
            b.insert("quantity".into(), order.qty.into());
        }
    }
    b.insert("clientOrderId".into(), order.client_order_id.into());
    Ok(Request::new("POST", "/orders", "", &Value::Object(b).to_string()))
}

pub(crate) fn parse_placed(resp: Response<'_>) -> Result<Placed> {
    let v = body(resp, error_text)?;
    refusal_in(resp.status, &v)?;
    Ok(Placed { exchange_order_id: id(obj(&v, "$")?, "id", "id")?, status: "accepted" })
}

pub(crate) fn cancel_request(_symbol: &str, exchange_order_id: &str) -> Request {
    Request::new("DELETE", &format!("/orders/{exchange_order_id}"), "", "")
}

pub(crate) fn parse_cancelled(resp: Response<'_>) -> Result<()> {
    let v = body(resp, error_text)?;
    refusal_in(resp.status, &v)?;
    match string(obj(&v, "$")?, "state", "state")? {
        "PENDING_CANCEL" | "CANCELED" | "PARTIALLY_CANCELED" => Ok(()),
        _ => Err(VenueError::Exchange { status: resp.status, message: "the order was not cancelled".into() }),
    }
}

/// None: no status query (see the module docs).
pub(crate) fn status_request(_symbol: &str, _client_order_id: &str) -> Option<Request> {
    None
}

pub(crate) fn parse_status(_resp: Response<'_>) -> Result<Option<Placed>> {
    Err(VenueError::Unsupported(Venue::Poloniex.to_string()))
}
