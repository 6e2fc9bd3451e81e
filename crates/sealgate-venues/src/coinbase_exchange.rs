//! Coinbase Exchange (the former Coinbase Pro, `https://api.exchange.coinbase.com`), not
//! Coinbase Advanced Trade ([`crate::coinbase`]).
//!
//! The signer adds `CB-ACCESS-KEY`, `-SIGN` (over timestamp + METHOD + path?query +
//! body), `-TIMESTAMP` and `-PASSPHRASE`; bodies are JSON.
//!
//! Assets: Coinbase names currencies as everyone does (`BTC`, `USD`, `USDC`): upper-cased,
//! nothing mapped. Products are `BASE-QUOTE` (`BTC-USD`).
//!
//! Balances: "Get all accounts for a profile" (`GET /accounts`), one account per currency:
//! free = `available`, locked = `hold` (`balance` = both). Not paged.
//!
//! Trade history: "Get all fills" (`GET /fills`) needs a `product_id` (or an `order_id`),
//! so the importer passes the candidate products ([`coinbase_exchange_products`], the pairs
//! of the account's currencies). Fills come "sorted by descending `trade_id`", `limit` ≤ 100
//! (100 asked); `after=<trade_id>` asks for the older ones. Coinbase also puts the page's
//! oldest `trade_id` in the `CB-AFTER` header, but the answer reaches these parsers as
//! status and body only, so the cursor is the smallest `trade_id` of a full page — the same
//! number. The cursor is `PRODUCT` (that product's newest page) or `PRODUCT:trade_id`
//! (older than that id); a short page moves to the next product. Every row of a page asked
//! `after` an id must be below it, so the cursor only goes down. `trade_id`s are per
//! product: rows are keyed `PRODUCT-trade_id`. The fee is charged in the quote currency
//! (the product's second half). Incremental: `/fills` has no time filter we rely on, so a
//! refresh reads each product newest first and leaves it at the first page reaching back
//! past the newest stored trade (less the overlap), as for KuCoin.
//! Caveat: a pair whose currencies the account no longer holds is not asked; an unlisted
//! product's refusal (`NotFound`, or a 400 naming the product: wording not documented, from
//! memory) reads as no trades there.
//!
//! Orders: "Create a new order" (`POST /orders`): `type` `limit` with `price`, `size`
//! (base) and `time_in_force` `GTC`, or `market` with `size` (base units, for a buy too:
//! the docs take `size` or `funds`), and `client_oid` (a UUID: ours). "Cancel an order"
//! (`DELETE /orders/{id}`, with `product_id`, which the docs allow to narrow it) answers
//! the order id as a JSON string. "Get single order" by `client:{client_oid}` reconciles a
//! placement whose answer was lost; its 404 means the order is not there: never received —
//! or, the docs warn, "canceled" with "no matches", which is as final and moved nothing,
//! so reading either as never placed cannot record a live order as gone.
//!
//! Refusals: `{"message": …}` with an HTTP error status (400 bad request or insufficient
//! funds, 401 authentication, 403 permission, 404 not found, 429 rate limit, 5xx).

use serde_json::{Map, Value, json};

use crate::read::{arr, body, currency_balances, dec, get, id, obj, parse_json, rfc3339, side_of, string, symbol_of};
use crate::{
    BalancePage, Checked, Placed, Request, Response, Result, Trade, TradePage, Venue, VenueError, bad_input,
    check_symbol, malformed, normalize_asset,
};

/// Page size asked for (the documented maximum).
const LIMIT: usize = 100;

/// Quote currencies tried when guessing products from balances, the more usual quote first:
/// of two of them, the later is the base (`ETH-BTC`, `USDT-USD`).
const QUOTES: &[&str] = &["USD", "USDC", "USDT", "EUR", "GBP", "DAI", "BTC", "ETH"];

/// Coinbase Exchange errors worth retrying later beyond HTTP 429 and 5xx: its rate-limit
/// message (in case it arrives under another status).
pub(crate) fn transient(message: &str) -> bool {
    message.eq_ignore_ascii_case("Rate limit exceeded") || message.eq_ignore_ascii_case("Private rate limit exceeded")
}

fn error_text(v: &Value) -> Option<String> {
    v.get("message")?.as_str().map(str::to_owned)
}

/// Coinbase Exchange products worth asking `/fills` about: every `BASE-QUOTE` where both
/// currencies are in the account and the quote is one of [`QUOTES`] (a more usual one than
/// the base). Sorted, so a cursor naming a product stays meaningful when the balances
/// change between attempts.
pub fn coinbase_exchange_products(assets: &[String]) -> Vec<String> {
    let rank = |a: &str| QUOTES.iter().position(|q| *q == a);
    let mut out: Vec<String> = Vec::new();
    for base in assets {
        for (i, quote) in QUOTES.iter().enumerate() {
            if rank(base).is_none_or(|b| b > i) && assets.iter().any(|a| a == quote) {
                out.push(format!("{base}-{quote}"));
            }
        }
    }
    out.retain(|s| check_symbol(s).is_ok());
    out.sort();
    out.dedup();
    out
}

pub(crate) fn balances_request(_cursor: Option<&str>) -> Result<Request> {
    Ok(Request::new("GET", "/accounts", "", ""))
}

pub(crate) fn parse_balances(resp: Response<'_>) -> Result<BalancePage> {
    currency_balances(&body(resp, error_text)?, Venue::CoinbaseExchange, ("hold", "[].hold"))
}

/// Where a page starts: (product, `after` trade id; `None`: the newest page).
fn position<'a>(products: &'a [String], cursor: Option<&str>) -> Result<Option<(&'a str, Option<u64>)>> {
    let Some(c) = cursor else { return Ok(products.first().map(|p| (p.as_str(), None))) };
    let (product, after) = match c.split_once(':') {
        None => (c, None),
        Some((p, t)) => {
            if t.is_empty() || t.len() > 19 || !t.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad_input("cursor", "is not PRODUCT or PRODUCT:trade_id"));
            }
            (p, Some(t.parse::<u64>().map_err(|_| bad_input("cursor", "is not PRODUCT or PRODUCT:trade_id"))?))
        }
    };
    check_symbol(product)?;
    // The first product at or after the cursor's (it may have left the list).
    Ok(products.iter().find(|p| p.as_str() >= product).map(|p| (p.as_str(), if p == product { after } else { None })))
}

fn request_at(at: Option<(&str, Option<u64>)>) -> Result<Option<Request>> {
    let Some((product, after)) = at else { return Ok(None) };
    check_symbol(product)?;
    let mut q = format!("product_id={product}&limit={LIMIT}");
    if let Some(a) = after {
        q.push_str(&format!("&after={a}"));
    }
    Ok(Some(Request::new("GET", "/fills", &q, "")))
}

pub(crate) fn trades_request(products: &[String], cursor: Option<&str>) -> Result<Option<Request>> {
    request_at(position(products, cursor)?)
}

/// The same pages as a full import; [`parse_trades_since`] stops each product early.
pub(crate) fn trades_since_request(products: &[String], cursor: Option<&str>) -> Result<Option<Request>> {
    trades_request(products, cursor)
}

pub(crate) fn parse_trades(products: &[String], cursor: Option<&str>, resp: Response<'_>) -> Result<TradePage> {
    parse_at(products, None, position(products, cursor)?, resp)
}

pub(crate) fn parse_trades_since(
    products: &[String],
    from_ms: i64,
    cursor: Option<&str>,
    resp: Response<'_>,
) -> Result<TradePage> {
    parse_at(products, Some(from_ms), position(products, cursor)?, resp)
}

/// Whether a refusal of `/fills` says the product is not listed (no trades there): `NotFound`,
/// or a 400 calling the product invalid or unknown. Not "product_id … is required": we always
/// send one, so that refusal is a bug to see, not an empty page.
fn unlisted_product(resp: Response<'_>) -> bool {
    let Some(msg) = parse_json(resp.body).ok().and_then(|v| error_text(&v)) else { return false };
    let msg = msg.to_ascii_lowercase();
    match resp.status {
        404 => msg == "notfound",
        400 => {
            msg.contains("product")
                && ["invalid", "not found", "not a valid", "unknown"].iter().any(|w| msg.contains(w))
        }
        _ => false,
    }
}

/// The page asked at `at`; `from_ms` (a refresh) ends a product once a page reaches it.
fn parse_at(
    products: &[String],
    from_ms: Option<i64>,
    at: Option<(&str, Option<u64>)>,
    resp: Response<'_>,
) -> Result<TradePage> {
    let Some((product, after)) = at else {
        return Ok(TradePage { trades: Vec::new(), next: None });
    };
    let v = if unlisted_product(resp) { json!([]) } else { body(resp, error_text)? };
    let rows = arr(&v, "$")?;
    if rows.len() > LIMIT {
        return Err(malformed("$", "holds more than the limit asked for"));
    }
    let fee_asset = product
        .split_once('-')
        .and_then(|(_, q)| normalize_asset(Venue::CoinbaseExchange, q).ok())
        .ok_or(bad_input("cursor", "names no BASE-QUOTE product"))?;
    let mut trades = Vec::with_capacity(rows.len());
    let mut oldest: Option<(u64, i64)> = None;
    for f in rows {
        let f = obj(f, "[]")?;
        let trade_id =
            get(f, "trade_id", "[].trade_id")?.as_u64().ok_or(malformed("[].trade_id", "is not a trade id"))?;
        // Asked for fills older than `after`: anything else would send the cursor back.
        if after.is_some_and(|a| trade_id >= a) {
            return Err(malformed("[].trade_id", "is not older than the page asked after"));
        }
        // Descending trade ids: a larger one later would make the paging skip or loop.
        if oldest.is_some_and(|(o, _)| trade_id >= o) {
            return Err(malformed("[].trade_id", "is not in descending order"));
        }
        if symbol_of(f, "product_id", "[].product_id")? != product {
            return Err(malformed("[].product_id", "is not the product asked for"));
        }
        let time_ms = rfc3339(f, "created_at", "[].created_at")?;
        oldest = Some((trade_id, time_ms));
        trades.push(Trade {
            exchange_trade_id: format!("{product}-{trade_id}"),
            symbol: product.to_owned(),
            side: side_of(string(f, "side", "[].side")?, "[].side")?,
            price: dec(f, "price", "[].price")?,
            qty: dec(f, "size", "[].size")?,
            fee: dec(f, "fee", "[].fee")?,
            fee_asset: Some(fee_asset.clone()),
            time_ms,
        });
    }
    let reached_since = |t: i64| from_ms.is_some_and(|f| t < f);
    let next = match oldest {
        Some((id, t)) if rows.len() == LIMIT && !reached_since(t) => Some(format!("{product}:{id}")),
        _ => products.iter().find(|p| p.as_str() > product).cloned(),
    };
    Ok(TradePage { trades, next })
}

pub(crate) fn place_request(order: &Checked<'_>) -> Result<Request> {
    let side = if order.buy { "buy" } else { "sell" };
    let b = match order.price {
        Some(px) => json!({
            "client_oid": order.client_order_id, "product_id": order.symbol, "side": side, "type": "limit",
            "price": px, "size": order.qty, "time_in_force": "GTC",
        }),
        // `size` is in base units for a market buy too (the docs take `size` or `funds`).
        None => json!({
            "client_oid": order.client_order_id, "product_id": order.symbol, "side": side, "type": "market",
            "size": order.qty,
        }),
    };
    Ok(Request::new("POST", "/orders", "", &b.to_string()))
}

/// Our status of a Coinbase Exchange order (`pending` is received, not yet on the book).
fn placed_of(o: &Map<String, Value>) -> Result<Placed> {
    let status = match string(o, "status", "status")? {
        "pending" | "received" => "accepted",
        "open" | "active" => "open",
        "rejected" => "rejected",
        "done" => match o.get("done_reason").and_then(Value::as_str) {
            Some("canceled") => "canceled",
            Some("filled") | None => "filled",
            Some(_) => return Err(malformed("done_reason", "is not filled or canceled")),
        },
        _ => return Err(malformed("status", "is not an order status")),
    };
    Ok(Placed { exchange_order_id: id(o, "id", "id")?, status })
}

pub(crate) fn parse_placed(resp: Response<'_>) -> Result<Placed> {
    let v = body(resp, error_text)?;
    placed_of(obj(&v, "$")?)
}

pub(crate) fn cancel_request(symbol: &str, exchange_order_id: &str) -> Request {
    Request::new("DELETE", &format!("/orders/{exchange_order_id}"), &format!("product_id={symbol}"), "")
}

/// The answer is the cancelled order's id, as a JSON string.
pub(crate) fn parse_cancelled(resp: Response<'_>) -> Result<()> {
    let v = body(resp, error_text)?;
    match v.as_str() {
        Some(s) if !s.is_empty() && s.len() <= crate::MAX_FIELD => Ok(()),
        _ => Err(malformed("$", "is not the cancelled order's id")),
    }
}

/// "Get single order" by `client:{client_oid}`.
pub(crate) fn status_request(_symbol: &str, client_order_id: &str) -> Option<Request> {
    Some(Request::new("GET", &format!("/orders/client:{client_order_id}"), "", ""))
}

/// 404: not on Coinbase, live or filled (see the module docs).
pub(crate) fn parse_status(resp: Response<'_>) -> Result<Option<Placed>> {
    match body(resp, error_text) {
        Ok(v) => placed_of(obj(&v, "$")?).map(Some),
        Err(VenueError::Exchange { status: 404, .. }) => Ok(None),
        Err(e) => Err(e),
    }
}
