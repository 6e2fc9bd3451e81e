//! Gate API v4, spot (`/api/v4/spot/…`).
//!
//! The signer signs the query exactly as written (no key order required).
//!
//! Balances: "List spot accounts" (`GET /api/v4/spot/accounts`): `available` and
//! `locked` per currency.
//!
//! Trade history: "List personal trading history" (`GET /api/v4/spot/my_trades`, every
//! pair), newest first, paged with `page` (from 1) and `limit` (at most 1000): the
//! importer's cursor is the page number to ask next; a short page is the last. A trade
//! arriving while the pages are read pushes rows one place down, so a row may be read
//! twice (rows upsert), never skipped. Gate numbers trades per currency pair (from
//! memory), so rows are keyed `PAIR-id`. Incremental: `from` (Unix seconds, rounded
//! down). Caveat (Gate's docs, not provable in the sandbox): the real endpoint may bound
//! the `from`/`to` span and how far back it reads without them.
//!
//! Orders: "Create an order" (`POST /api/v4/spot/orders`, HTTP 201), `text` our client
//! order id (`t-` and at most 28 more characters, [`crate::client_order_id`]). A limit
//! order is GTC, sized in base units; Gate sizes a *market buy* `amount` in the quote
//! currency, so a market buy is refused here (as for Bitget) rather than sent with a base
//! quantity Gate would read as quote; a market sell is sized in base units (`ioc`).
//! "Cancel a single order" (`DELETE /api/v4/spot/orders/{id}?currency_pair=…`). The
//! sandbox serves no query of one order by `text`, so there is no status query (`None`).
//!
//! Gate answers bare JSON on success and `{"label", "message"}` with an HTTP error
//! status otherwise.

use serde_json::{Map, Value, json};

use crate::read::{arr, body, currency_balances, dec, fee_asset, id, ms, obj, side_of, string, symbol_of};
use crate::{
    BalancePage, Checked, Placed, Request, Response, Result, Trade, TradePage, Venue, VenueError, bad_input, malformed,
};

/// Page size asked for.
const LIMIT: usize = 100;
/// The largest page number we ask for.
const MAX_PAGE: u64 = 1_000_000;

/// Gate errors worth retrying later (labels of "Error codes"): too many requests,
/// server error, too busy.
pub(crate) fn transient(message: &str) -> bool {
    ["TOO_MANY_REQUESTS ", "SERVER_ERROR ", "TOO_BUSY "].iter().any(|p| message.starts_with(p))
}

fn error_text(v: &Value) -> Option<String> {
    Some(format!("{} {}", v.get("label")?.as_str()?, v.get("message").and_then(Value::as_str).unwrap_or("")))
}

fn cursor_page(c: &str) -> Result<u64> {
    let bad = || bad_input("cursor", "is not a Gate page number");
    if c.is_empty() || c.len() > 7 || !c.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n: u64 = c.parse().map_err(|_| bad())?;
    if !(2..=MAX_PAGE).contains(&n) {
        return Err(bad());
    }
    Ok(n)
}

pub(crate) fn balances_request(_cursor: Option<&str>) -> Result<Request> {
    Ok(Request::new("GET", "/api/v4/spot/accounts", "", ""))
}

pub(crate) fn parse_balances(resp: Response<'_>) -> Result<BalancePage> {
    currency_balances(&body(resp, error_text)?, Venue::Gate, ("locked", "[].locked"))
}

pub(crate) fn trades_request(_symbols: &[String], cursor: Option<&str>) -> Result<Option<Request>> {
    let page = cursor.map(cursor_page).transpose()?.unwrap_or(1);
    Ok(Some(Request::new("GET", "/api/v4/spot/my_trades", &format!("limit={LIMIT}&page={page}"), "")))
}

/// `from` (Unix seconds): trades at or after it; `page` pages within them.
pub(crate) fn trades_since_request(from_ms: i64, cursor: Option<&str>) -> Result<Option<Request>> {
    let page = cursor.map(cursor_page).transpose()?.unwrap_or(1);
    let from = from_ms / 1000;
    Ok(Some(Request::new("GET", "/api/v4/spot/my_trades", &format!("from={from}&limit={LIMIT}&page={page}"), "")))
}

pub(crate) fn parse_trades(_symbols: &[String], cursor: Option<&str>, resp: Response<'_>) -> Result<TradePage> {
    let asked = cursor.map(cursor_page).transpose()?.unwrap_or(1);
    let v = body(resp, error_text)?;
    let rows = arr(&v, "$")?;
    if rows.len() > LIMIT {
        return Err(malformed("$", "holds more than the page size"));
    }
    let mut trades = Vec::with_capacity(rows.len());
    for t in rows {
        let t = obj(t, "[]")?;
        let symbol = symbol_of(t, "currency_pair", "[].currency_pair")?;
        let trade_id = id(t, "id", "[].id")?;
        let time_ms = trade_ms(t)?;
        trades.push(Trade {
            exchange_trade_id: format!("{symbol}-{trade_id}"),
            side: side_of(string(t, "side", "[].side")?, "[].side")?,
            price: dec(t, "price", "[].price")?,
            qty: dec(t, "amount", "[].amount")?,
            fee: dec(t, "fee", "[].fee")?,
            fee_asset: fee_asset(t, "fee_currency", "[].fee_currency")?,
            time_ms,
            symbol,
        });
    }
    let next = (rows.len() == LIMIT).then(|| (asked + 1).to_string());
    Ok(TradePage { trades, next })
}

/// A trade's time in ms. Gate's docs print `create_time_ms` as milliseconds with a
/// fraction (`"1548000000123.456"`); it must agree with `create_time` (whole seconds), and
/// anything else is refused (one reading, not a guess between two).
fn trade_ms(t: &Map<String, Value>) -> Result<i64> {
    let field = "[].create_time_ms";
    let secs = ms(t, "create_time", "[].create_time")?;
    let raw = string(t, "create_time_ms", field)?;
    let (int, frac) = raw.split_once('.').unwrap_or((raw, ""));
    if int.is_empty()
        || int.len() > 16
        || frac.len() > 9
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return Err(malformed(field, "is not a decimal time"));
    }
    let whole: i64 = int.parse().map_err(|_| malformed(field, "is not a decimal time"))?;
    if whole / 1000 == secs { Ok(whole) } else { Err(malformed(field, "does not match create_time")) }
}

pub(crate) fn place_request(order: &Checked<'_>) -> Result<Request> {
    let mut b = json!({
        "text": order.client_order_id, "currency_pair": order.symbol, "account": "spot",
        "side": if order.buy { "buy" } else { "sell" }, "amount": order.qty,
    });
    match order.price {
        Some(px) => {
            b["type"] = "limit".into();
            b["price"] = px.into();
            b["time_in_force"] = "gtc".into();
        }
        None if order.buy => {
            return Err(bad_input(
                "kind",
                "Gate sizes a market buy in the quote currency, not in base units: place a limit order",
            ));
        }
        None => {
            b["type"] = "market".into();
            b["time_in_force"] = "ioc".into();
        }
    }
    if !order.client_order_id.starts_with("t-") || order.client_order_id.len() > 30 {
        return Err(bad_input("client_order_id", "Gate's text is `t-` and at most 28 more characters"));
    }
    Ok(Request::new("POST", "/api/v4/spot/orders", "", &b.to_string()))
}

/// Our status of a Gate order `status`.
fn status_of(s: &str) -> Option<&'static str> {
    Some(match s {
        "open" => "open",
        "closed" => "filled",
        "cancelled" => "canceled",
        _ => return None,
    })
}

fn order_of(v: &Value) -> Result<(&Map<String, Value>, &'static str)> {
    let o = obj(v, "$")?;
    let status = status_of(string(o, "status", "status")?).ok_or(malformed("status", "is not an order status"))?;
    Ok((o, status))
}

pub(crate) fn parse_placed(resp: Response<'_>) -> Result<Placed> {
    let v = body(resp, error_text)?;
    let (o, status) = order_of(&v)?;
    Ok(Placed { exchange_order_id: id(o, "id", "id")?, status })
}

pub(crate) fn cancel_request(symbol: &str, exchange_order_id: &str) -> Request {
    Request::new("DELETE", &format!("/api/v4/spot/orders/{exchange_order_id}"), &format!("currency_pair={symbol}"), "")
}

pub(crate) fn parse_cancelled(resp: Response<'_>) -> Result<()> {
    let v = body(resp, error_text)?;
    match order_of(&v)? {
        (_, "canceled") => Ok(()),
        _ => Err(VenueError::Exchange { status: resp.status, message: "the order was not cancelled".into() }),
    }
}

/// None: the sandbox serves no query of one order by `text` (see the module docs).
pub(crate) fn status_request(_symbol: &str, _client_order_id: &str) -> Option<Request> {
    None
}

pub(crate) fn parse_status(_resp: Response<'_>) -> Result<Option<Placed>> {
    Err(VenueError::Unsupported(Venue::Gate.to_string()))
}
