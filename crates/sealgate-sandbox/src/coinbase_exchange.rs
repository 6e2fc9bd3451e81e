//! Coinbase Exchange (the former Coinbase Pro) REST API, verified as "Exchange REST API
//! Authentication" (docs.cdp.coinbase.com/exchange/rest-api/authentication; the same text
//! stored from docs.cloud.coinbase.com and its staging copies) describes it: every private
//! request carries
//! - `CB-ACCESS-KEY`: the API key;
//! - `CB-ACCESS-SIGN`: base64 of HMAC-SHA256 with the base64-decoded secret over
//!   timestamp + METHOD (upper case) + requestPath + body (empty without one);
//! - `CB-ACCESS-TIMESTAMP`: seconds since the Unix epoch, "decimal values are allowed",
//!   within 30 seconds of the service's time;
//! - `CB-ACCESS-PASSPHRASE`: the passphrase chosen with the key.
//!
//! requestPath is the path with its query string as sent (the docs' "path of the API
//! endpoint"; that the query is part of it is from memory of the docs' examples, and is
//! what `sealgate-exchanges` signs). Bodies are JSON ("All request bodies should have
//! content type application/json and be valid JSON", stored).
//!
//! Permissions (stored table): View — read; Trade — place and cancel orders "and get data";
//! Transfer — withdrawals; Manage — settings (not played). From memory of the reference:
//! accounts, fills and order reads need "view" or "trade"; placing and cancelling "trade";
//! crypto withdrawals "transfer".
//!
//! Refusals are `{"message": …}` (from memory; the signer recognises the clock refusal by
//! that one member): 400 `CB-ACCESS-… header is required`, `invalid timestamp`, `request
//! timestamp expired`; 401 `Invalid API Key`, `Invalid Passphrase`, `invalid signature`;
//! 400 `Insufficient funds` and the order's own messages; 404 `NotFound`. Guessed: 403
//! `Forbidden` for a permission the key lacks and for a request outside its IP allow-list.
//!
//! Routes (memory of the reference): `GET /accounts`, `GET /accounts/{id}`, `GET /fills`
//! (`product_id` or `order_id` required, `limit` ≤ 100 default 100, newest first; `after`
//! = older than that `trade_id`, `before` = newer than it, the page nearest the cursor;
//! the page's newest and oldest `trade_id` in the `CB-BEFORE` and `CB-AFTER` headers),
//! `GET /orders` (open orders; `status` `open`|`pending`|`active`|`all`, `product_id`),
//! `POST /orders` (`type` `limit` — `price`, `size`, `time_in_force` GTC only here — or
//! `market` — `size` or `funds`, one of them: a market buy by `funds`; `client_oid` a
//! UUID), `GET`/`DELETE /orders/{id}` and `/orders/client:{client_oid}` (`product_id` may
//! narrow a cancel), `POST /withdrawals/crypto` (`amount`, `currency`, `crypto_address`);
//! public `GET /products/{id}/ticker` (`price`, `volume` = 24 h base volume, `bid`, `ask`)
//! and `GET /products/{id}/stats` (`last`, `volume`, `open`, `high`, `low`). Order ids are
//! UUIDs; the sandbox's are its numeric ids in a UUID's shape. Amounts travel as decimal
//! strings; a JSON number for one is refused (never read through a float), a repeated
//! member's last value is the one read (serde's, and Go's, reading).

use aws_lc_rs::{digest, hmac};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Map, Value, json};
use subtle::ConstantTimeEq as _;

use crate::{Amount, Incoming, IntentSize, Order, OrderIntent, Shared, Trade, Venue, Withdrawal, lock, params};

/// A refusal: HTTP status and `message`.
pub(crate) struct ApiError(StatusCode, pub(crate) &'static str);

const B: StatusCode = StatusCode::BAD_REQUEST;
const U: StatusCode = StatusCode::UNAUTHORIZED;
const NO_KEY: ApiError = ApiError(B, "CB-ACCESS-KEY header is required");
const NO_SIGN: ApiError = ApiError(B, "CB-ACCESS-SIGN header is required");
const NO_TIMESTAMP: ApiError = ApiError(B, "CB-ACCESS-TIMESTAMP header is required");
const NO_PASSPHRASE: ApiError = ApiError(B, "CB-ACCESS-PASSPHRASE header is required");
const BAD_TIMESTAMP: ApiError = ApiError(B, "invalid timestamp");
const EXPIRED: ApiError = ApiError(B, "request timestamp expired");
const BAD_KEY: ApiError = ApiError(U, "Invalid API Key");
const BAD_PASSPHRASE: ApiError = ApiError(U, "Invalid Passphrase");
const BAD_SIGN: ApiError = ApiError(U, "invalid signature");
const FORBIDDEN: ApiError = ApiError(StatusCode::FORBIDDEN, "Forbidden");
const INSUFFICIENT: ApiError = ApiError(B, "Insufficient funds");
const BAD_JSON: ApiError = ApiError(B, "Invalid request body: not a JSON object");
const BAD_QUERY: ApiError = ApiError(B, "Invalid query string");
const FILLS_NEED: ApiError = ApiError(B, "product_id or order_id is required");
const BAD_LIMIT: ApiError = ApiError(B, "Invalid limit: 1 to 100");
const BAD_CURSOR: ApiError = ApiError(B, "Invalid before or after cursor");
const BOTH_CURSORS: ApiError = ApiError(B, "Only one of before and after may be given");
const BAD_STATUS: ApiError = ApiError(B, "Invalid status");
const BAD_PRODUCT: ApiError = ApiError(B, "product_id is not a valid product");
const BAD_SIDE: ApiError = ApiError(B, "Invalid side");
const BAD_TYPE: ApiError = ApiError(B, "Invalid order type");
const BAD_SIZE: ApiError = ApiError(B, "Invalid size");
const BAD_FUNDS: ApiError = ApiError(B, "Invalid funds");
const BAD_PRICE: ApiError = ApiError(B, "Invalid price");
const SIZE_OR_FUNDS: ApiError = ApiError(B, "A market order takes one of size and funds");
const LIMIT_FUNDS: ApiError = ApiError(B, "A limit order takes price and size, not funds");
const BAD_TIF: ApiError = ApiError(B, "The sandbox plays time_in_force GTC only");
const BAD_OPTION: ApiError = ApiError(B, "The sandbox plays no post_only, cancel_after or stop orders");
const BAD_CLIENT_OID: ApiError = ApiError(B, "Invalid client_oid: a UUID");
const BAD_AMOUNT: ApiError = ApiError(B, "Invalid amount");
const BAD_ADDRESS: ApiError = ApiError(B, "crypto_address is required");
const BAD_CURRENCY: ApiError = ApiError(B, "Invalid currency");
const NOT_FOUND: ApiError = ApiError(StatusCode::NOT_FOUND, "NotFound");

/// Whether `req` is Coinbase Exchange's: it carries a `CB-ACCESS-` header outside Coinbase
/// Advanced's paths, or is on one of the Exchange's own paths (`/orders` without such a
/// header is Poloniex's).
pub(crate) fn claims(req: &Incoming) -> bool {
    let path = req.uri.path();
    let has_header = ["CB-ACCESS-KEY", "CB-ACCESS-SIGN", "CB-ACCESS-TIMESTAMP", "CB-ACCESS-PASSPHRASE"]
        .iter()
        .any(|h| req.headers.contains_key(*h));
    (has_header && !path.starts_with("/api/") && !path.starts_with("/v2/"))
        || path == "/accounts"
        || (path.starts_with("/accounts/") && path != "/accounts/balances")
        || path == "/fills"
        || path == "/withdrawals/crypto"
        || path.starts_with("/products/")
}

/// An answer: its body, and the `CB-BEFORE`/`CB-AFTER` cursors of a page.
struct Answer(Value, Option<(u64, u64)>);

pub(crate) fn handle(state: &Shared, req: &Incoming) -> Response {
    match handle_inner(state, req) {
        Ok(Answer(v, None)) => axum::Json(v).into_response(),
        Ok(Answer(v, Some((before, after)))) => {
            ([("CB-BEFORE", before.to_string()), ("CB-AFTER", after.to_string())], axum::Json(v)).into_response()
        }
        Err(ApiError(status, message)) => (status, axum::Json(json!({"message": message}))).into_response(),
    }
}

#[derive(Clone, Copy)]
enum Need {
    /// "view" or "trade".
    Read,
    Trade,
    Transfer,
}

/// `CB-ACCESS-TIMESTAMP` in ms: seconds with an optional decimal fraction.
fn timestamp_ms(ts: &str) -> Option<u64> {
    let (int, frac) = ts.split_once('.').unwrap_or((ts, ""));
    let digits = |s: &str, max: usize| s.len() <= max && s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || !digits(int, 12) || !digits(frac, 9) || (ts.contains('.') && frac.is_empty()) {
        return None;
    }
    let ms: u64 = format!("{:0<3}", frac.get(..3).unwrap_or(frac)).parse().ok()?;
    int.parse::<u64>().ok()?.checked_mul(1000)?.checked_add(ms)
}

/// A UUID-shaped id: `n` in the last group.
pub(crate) fn uuid_of(n: u64) -> String {
    format!("00000000-0000-4000-8000-{n:012x}")
}

/// The number a sandbox UUID carries.
fn id_of_uuid(s: &str) -> Option<u64> {
    let tail = s.strip_prefix("00000000-0000-4000-8000-")?;
    (tail.len() == 12 && tail.bytes().all(|b| b.is_ascii_hexdigit())).then(|| u64::from_str_radix(tail, 16).ok())?
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes()
            .enumerate()
            .all(|(i, b)| if [8, 13, 18, 23].contains(&i) { b == b'-' } else { b.is_ascii_hexdigit() })
}

/// The id of `key`'s account in `currency`: a stable UUID shape from both.
fn account_id(key: &str, currency: &str) -> String {
    let d = digest::digest(&digest::SHA256, format!("{key}/{currency}").as_bytes());
    let h: String = d.as_ref()[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

fn public(state: &Shared, path: &str) -> Result<Answer, ApiError> {
    let rest = path.strip_prefix("/products/").ok_or(NOT_FOUND)?;
    let (product, what) = rest.split_once('/').ok_or(NOT_FOUND)?;
    let st = lock(state);
    let m = st.markets.iter().find(|m| m.symbol == product).ok_or(NOT_FOUND)?;
    let default = Amount::parse(crate::DEFAULT_QUOTE_VOLUME).unwrap_or_default();
    let base_volume = st.volumes.get(product).copied().unwrap_or(default).divided_by(m.price).to_string();
    let p = m.price.to_string();
    match what {
        "ticker" => Ok(Answer(
            json!({"trade_id": st.next_id, "price": p, "size": "0.00100000", "bid": p, "ask": p,
                   "volume": base_volume, "rfq_volume": "0", "time": crate::coinbase::rfc3339(st.now_ms())}),
            None,
        )),
        "stats" => Ok(Answer(
            json!({"open": p, "high": p, "low": p, "last": p, "volume": base_volume, "volume_30day": base_volume}),
            None,
        )),
        _ => Err(NOT_FOUND),
    }
}

fn handle_inner(state: &Shared, req: &Incoming) -> Result<Answer, ApiError> {
    let path = req.uri.path();
    let method = req.method.as_str();
    if method == "GET" && path.starts_with("/products/") {
        return public(state, path);
    }
    let need = match (method, path) {
        ("GET", "/accounts" | "/fills" | "/orders") => Need::Read,
        ("GET", p) if p.starts_with("/accounts/") || p.starts_with("/orders/") => Need::Read,
        ("POST", "/orders") => Need::Trade,
        ("DELETE", p) if p.starts_with("/orders/") => Need::Trade,
        ("POST", "/withdrawals/crypto") => Need::Transfer,
        _ => return Err(NOT_FOUND),
    };
    let header = |name: &str| req.header(name).filter(|v| !v.is_empty());
    let key = header("CB-ACCESS-KEY").ok_or(NO_KEY)?;
    let sign = header("CB-ACCESS-SIGN").ok_or(NO_SIGN)?;
    let ts = header("CB-ACCESS-TIMESTAMP").ok_or(NO_TIMESTAMP)?;
    let passphrase = header("CB-ACCESS-PASSPHRASE").ok_or(NO_PASSPHRASE)?;
    let mut st = lock(state);
    let now = st.now_ms();
    let spec = st.accounts.get(key).filter(|a| a.spec.venue == Venue::CoinbaseExchange).ok_or(BAD_KEY)?.spec.clone();
    let want = spec.passphrase.as_deref().unwrap_or("");
    if want.is_empty() || !bool::from(want.as_bytes().ct_eq(passphrase.as_bytes())) {
        return Err(BAD_PASSPHRASE);
    }
    let ts_ms = timestamp_ms(ts).ok_or(BAD_TIMESTAMP)?;
    if now.abs_diff(ts_ms) > 30_000 {
        return Err(EXPIRED);
    }
    let secret = base64::engine::general_purpose::STANDARD.decode(&spec.secret).map_err(|_| BAD_SIGN)?;
    let request_path = req.uri.path_and_query().map_or(path, |pq| pq.as_str());
    let prehash = format!("{ts}{method}{request_path}{}", req.body);
    let mac = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &secret), prehash.as_bytes());
    let given = base64::engine::general_purpose::STANDARD.decode(sign).map_err(|_| BAD_SIGN)?;
    if !bool::from(mac.as_ref().ct_eq(&given)) {
        return Err(BAD_SIGN);
    }
    if !spec.allowed_ips.is_empty() && !spec.allowed_ips.contains(&req.peer.ip()) {
        return Err(FORBIDDEN);
    }
    let p = spec.permissions;
    let allowed = match need {
        Need::Read => p.read || p.trade,
        Need::Trade => p.trade,
        Need::Transfer => p.withdraw,
    };
    if !allowed {
        return Err(FORBIDDEN);
    }
    let query = params::parse(req.uri.query().unwrap_or("")).ok_or(BAD_QUERY)?;
    let q = |name: &str| params::get(&query, name);
    let body = || -> Result<Map<String, Value>, ApiError> {
        match serde_json::from_str(&req.body) {
            Ok(Value::Object(o)) => Ok(o),
            _ => Err(BAD_JSON),
        }
    };
    match (method, path) {
        ("GET", "/accounts") => {
            let a = &st.accounts[key];
            Ok(Answer(Value::Array(a.balances.iter().map(|(c, b)| account_json(key, c, *b)).collect()), None))
        }
        ("GET", p) if p.starts_with("/accounts/") => {
            let id = &p["/accounts/".len()..];
            let a = &st.accounts[key];
            let (c, b) = a.balances.iter().find(|(c, _)| account_id(key, c) == id).ok_or(NOT_FOUND)?;
            Ok(Answer(account_json(key, c, *b), None))
        }
        ("GET", "/fills") => {
            let order = match q("order_id") {
                None => None,
                Some(o) => Some(id_of_uuid(o).ok_or(NOT_FOUND)?),
            };
            let product = q("product_id");
            if order.is_none() && product.is_none() {
                return Err(FILLS_NEED);
            }
            let limit: usize = match q("limit") {
                None => 100,
                Some(l) => l.parse().ok().filter(|l| (1..=100).contains(l)).ok_or(BAD_LIMIT)?,
            };
            let cursor = |name: &str| -> Result<Option<u64>, ApiError> {
                q(name).map(|c| c.parse::<u64>().map_err(|_| BAD_CURSOR)).transpose()
            };
            let (before, after) = (cursor("before")?, cursor("after")?);
            if before.is_some() && after.is_some() {
                return Err(BOTH_CURSORS);
            }
            let a = &st.accounts[key];
            let mut fills: Vec<&Trade> = a
                .trades
                .iter()
                .filter(|t| product.is_none_or(|p| t.symbol == p) && order.is_none_or(|o| t.order_id == o))
                .filter(|t| before.is_none_or(|b| t.id > b) && after.is_none_or(|x| t.id < x))
                .collect();
            fills.sort_by_key(|t| std::cmp::Reverse(t.id));
            let page: Vec<&Trade> = if before.is_some() {
                // The page nearest the cursor: the oldest `limit` of the newer fills.
                let skip = fills.len().saturating_sub(limit);
                fills.into_iter().skip(skip).collect()
            } else {
                fills.into_iter().take(limit).collect()
            };
            let cursors = page.first().zip(page.last()).map(|(newest, oldest)| (newest.id, oldest.id));
            Ok(Answer(Value::Array(page.into_iter().map(|t| fill_json(key, t)).collect()), cursors))
        }
        ("GET", "/orders") => {
            match q("status") {
                None | Some("open" | "pending" | "active" | "all") => {}
                Some(_) => return Err(BAD_STATUS),
            }
            let product = q("product_id");
            let a = &st.accounts[key];
            Ok(Answer(
                Value::Array(
                    a.open_orders
                        .iter()
                        .filter(|o| product.is_none_or(|p| o.symbol == p))
                        .map(|o| order_json(key, o, &a.client_id_of(o.id), "open", "limit"))
                        .collect(),
                ),
                None,
            ))
        }
        ("GET", p) => {
            let a = &st.accounts[key];
            let id = order_ref(a, &p["/orders/".len()..])?;
            let client = a.client_id_of(id);
            if let Some(o) = a.open_orders.iter().find(|o| o.id == id) {
                return Ok(Answer(order_json(key, o, &client, "open", "limit"), None));
            }
            let t = a.trades.iter().find(|t| t.order_id == id).ok_or(NOT_FOUND)?;
            let o =
                Order { id, symbol: t.symbol.clone(), side_buy: t.side_buy, price: t.price, qty: t.qty, time: t.time };
            Ok(Answer(order_json(key, &o, &client, "done", "market"), None))
        }
        ("POST", "/orders") => {
            let b = body()?;
            let o = intent(&b)?;
            let client = match b.get("client_oid") {
                None => String::new(),
                Some(Value::String(c)) if is_uuid(c) => c.clone(),
                Some(_) => return Err(BAD_CLIENT_OID),
            };
            let (symbol, side_buy, limit, size) = (o.symbol.clone(), o.side_buy, o.limit, o.size);
            let id = st.execute(key, o, &client, now).map_err(|e| match e {
                crate::Unexecuted::Symbol => BAD_PRODUCT,
                crate::Unexecuted::Key => BAD_KEY,
                crate::Unexecuted::Funds => INSUFFICIENT,
                crate::Unexecuted::QuoteSizedLimit => LIMIT_FUNDS,
            })?;
            let a = &st.accounts[key];
            let v = match limit {
                Some(price) => {
                    let (IntentSize::Base(qty) | IntentSize::Quote(qty)) = size;
                    order_json(key, &Order { id, symbol, side_buy, price, qty, time: now }, &client, "open", "limit")
                }
                None => {
                    let t = a.trades.iter().find(|t| t.order_id == id).ok_or(NOT_FOUND)?;
                    let o = Order { id, symbol, side_buy, price: t.price, qty: t.qty, time: now };
                    order_json(key, &o, &client, "done", "market")
                }
            };
            Ok(Answer(v, None))
        }
        ("DELETE", p) => {
            let markets = st.markets.clone();
            let a = st.accounts.get_mut(key).ok_or(BAD_KEY)?;
            let id = order_ref(a, &p["/orders/".len()..])?;
            let product = q("product_id");
            let o = a.cancel(&markets, |o| o.id == id && product.is_none_or(|p| o.symbol == p)).ok_or(NOT_FOUND)?;
            Ok(Answer(json!(uuid_of(o.id)), None))
        }
        _ => {
            let b = body()?;
            let amount = match b.get("amount") {
                Some(Value::String(s)) => Amount::parse(s).filter(|a| a.0 > 0),
                _ => None,
            }
            .ok_or(BAD_AMOUNT)?;
            let currency = b
                .get("currency")
                .and_then(Value::as_str)
                .filter(|c| (2..=16).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_alphanumeric()))
                .ok_or(BAD_CURRENCY)?
                .to_ascii_uppercase();
            let address = b
                .get("crypto_address")
                .and_then(Value::as_str)
                .filter(|a| !a.is_empty() && a.len() <= 256)
                .ok_or(BAD_ADDRESS)?
                .to_owned();
            let id = st.next_id();
            let a = st.accounts.get_mut(key).ok_or(BAD_KEY)?;
            crate::take(&mut a.balances, &currency, amount).map_err(|()| INSUFFICIENT)?;
            st.withdrawals.push(Withdrawal { api_key: key.to_owned(), asset: currency.clone(), address, amount });
            Ok(Answer(
                json!({"id": uuid_of(id), "amount": amount.to_string(), "currency": currency, "fee": "0.00000000",
                       "subtotal": amount.to_string()}),
                None,
            ))
        }
    }
}

/// `{id}` or `client:{client_oid}` of `/orders/…`, as the order's number.
fn order_ref(a: &crate::Account, r: &str) -> Result<u64, ApiError> {
    match r.strip_prefix("client:") {
        Some(c) => a.client_ids.get(c).map(|(_, id)| *id).ok_or(NOT_FOUND),
        None => id_of_uuid(r).ok_or(NOT_FOUND),
    }
}

/// A decimal-string member; `None` when absent; a number or malformed text is `err`.
fn decimal(b: &Map<String, Value>, name: &str, err: ApiError) -> Result<Option<Amount>, ApiError> {
    match b.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Amount::parse(s).filter(|a| a.0 > 0).map(Some).ok_or(err),
        Some(_) => Err(err),
    }
}

/// The order of a `POST /orders` body, as the handler executes it.
fn intent(b: &Map<String, Value>) -> Result<OrderIntent, ApiError> {
    let symbol = b.get("product_id").and_then(Value::as_str).filter(|s| !s.is_empty()).ok_or(BAD_PRODUCT)?;
    let side_buy = match b.get("side").and_then(Value::as_str) {
        Some("buy") => true,
        Some("sell") => false,
        _ => return Err(BAD_SIDE),
    };
    match b.get("time_in_force") {
        None => {}
        Some(Value::String(t)) if t == "GTC" => {}
        Some(_) => return Err(BAD_TIF),
    }
    if b.get("post_only").is_some_and(|v| v != &Value::Bool(false))
        || ["cancel_after", "stop", "stop_price"].iter().any(|k| b.contains_key(*k))
    {
        return Err(BAD_OPTION);
    }
    let size = decimal(b, "size", BAD_SIZE)?;
    let funds = decimal(b, "funds", BAD_FUNDS)?;
    let price = decimal(b, "price", BAD_PRICE)?;
    let (size, limit) = match b.get("type").map(|t| t.as_str()) {
        None | Some(Some("limit")) => match (price, size, funds) {
            (_, _, Some(_)) => return Err(LIMIT_FUNDS),
            (Some(p), Some(s), None) => (IntentSize::Base(s), Some(p)),
            (None, _, None) => return Err(BAD_PRICE),
            (Some(_), None, None) => return Err(BAD_SIZE),
        },
        Some(Some("market")) => {
            if price.is_some() {
                return Err(BAD_PRICE);
            }
            match (size, funds) {
                (Some(s), None) => (IntentSize::Base(s), None),
                (None, Some(f)) => (IntentSize::Quote(f), None),
                _ => return Err(SIZE_OR_FUNDS),
            }
        }
        _ => return Err(BAD_TYPE),
    };
    Ok(OrderIntent { symbol: symbol.to_owned(), side_buy, size, limit })
}

/// How Coinbase Exchange reads the order of a `POST /orders` body, as its handler does.
pub(crate) fn order_intent(body: &str) -> Result<OrderIntent, ApiError> {
    match serde_json::from_str(body) {
        Ok(Value::Object(b)) => intent(&b),
        _ => Err(BAD_JSON),
    }
}

fn account_json(key: &str, currency: &str, (free, locked): (Amount, Amount)) -> Value {
    json!({"id": account_id(key, currency), "currency": currency, "balance": Amount(free.0 + locked.0).to_string(),
           "hold": locked.to_string(), "available": free.to_string(), "profile_id": account_id(key, ""),
           "trading_enabled": true})
}

fn order_json(key: &str, o: &Order, client: &str, status: &str, kind: &str) -> Value {
    let done = status == "done";
    let filled = if done { o.qty } else { Amount::ZERO };
    let mut v = json!({"id": uuid_of(o.id), "price": o.price.to_string(), "size": o.qty.to_string(),
           "product_id": o.symbol, "profile_id": account_id(key, ""), "side": if o.side_buy { "buy" } else { "sell" },
           "type": kind, "time_in_force": "GTC", "post_only": false, "created_at": crate::coinbase::rfc3339(o.time),
           "fill_fees": "0.00000000", "filled_size": filled.to_string(),
           "executed_value": o.price.times(filled).to_string(), "status": status, "settled": done});
    if done {
        v["done_at"] = json!(crate::coinbase::rfc3339(o.time));
        v["done_reason"] = json!("filled");
    }
    if !client.is_empty() {
        v["client_oid"] = json!(client);
    }
    v
}

fn fill_json(key: &str, t: &Trade) -> Value {
    json!({"created_at": crate::coinbase::rfc3339(t.time), "trade_id": t.id, "product_id": t.symbol,
           "order_id": uuid_of(t.order_id), "profile_id": account_id(key, ""), "liquidity": "T",
           "price": t.price.to_string(), "size": t.qty.to_string(), "fee": "0.00000000",
           "side": if t.side_buy { "buy" } else { "sell" }, "settled": true,
           "usd_volume": t.price.times(t.qty).to_string()})
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamps_and_ids() {
        assert_eq!(super::timestamp_ms("1700000000"), Some(1_700_000_000_000));
        assert_eq!(super::timestamp_ms("1700000000.5"), Some(1_700_000_000_500));
        assert_eq!(super::timestamp_ms("1700000000.123456"), Some(1_700_000_000_123));
        for bad in ["", ".5", "1.", "1e9", "-1", "17000000000000", "1.2.3", " 1"] {
            assert_eq!(super::timestamp_ms(bad), None, "{bad}");
        }
        assert_eq!(super::id_of_uuid(&super::uuid_of(1234)), Some(1234));
        assert!(super::is_uuid(&super::uuid_of(1)) && !super::is_uuid("not-a-uuid"));
    }
}
