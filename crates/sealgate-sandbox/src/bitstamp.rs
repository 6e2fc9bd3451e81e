//! Bitstamp HTTP API v2, verified as the "Authentication" section of the Bitstamp API
//! reference (bitstamp.net/api → Authentication, with its Python example, stored in the
//! docs corpus through a forum copy of that example) describes it: every private call is
//! a POST carrying
//! - `X-Auth`: `BITSTAMP ` + API key;
//! - `X-Auth-Signature`: hex HMAC-SHA256(API secret, message);
//! - `X-Auth-Nonce`: a lowercase 36-character string, each used once;
//! - `X-Auth-Timestamp`: Unix milliseconds;
//! - `X-Auth-Version`: `v2`;
//! - `Content-Type`: `application/x-www-form-urlencoded` when there is a body, and none
//!   when there is not;
//!
//! and message = `BITSTAMP ` + key + METHOD + `www.bitstamp.net` + path + (`?` + query,
//! when there is one) + content type (empty without a body) + nonce + timestamp + `v2` +
//! body, concatenated. The host is the exchange's own (`www.bitstamp.net`), whatever the
//! request's `Host` says: the sandbox is that exchange. The signature must be lowercase hex
//! (the example's `hexdigest()`; upper case is refused here, a sandbox choice).
//!
//! Windows, from memory of the same section: the timestamp within 150 s of the server, and
//! a nonce refused when the key used it within those 150 s (the sandbox keeps each key's
//! nonces for 150 s and refuses a repeat; a forged request consumes none).
//!
//! Refusals of authentication: HTTP 403 and `{"status": "error", "reason", "code"}`. The
//! shape and `API0005` "Invalid signature" are from a stored report of a real answer; the
//! other codes are from memory of the docs' "Authentication failed" table: `API0001` API
//! key not found, `API0002` IP address not allowed, `API0003` no permission found,
//! `API0004` invalid nonce, `API0010` invalid version, `API0011` wrong API key format,
//! `API0012`–`API0016` a missing `X-Auth`/`-Signature`/`-Nonce`/`-Timestamp`/`-Version`,
//! `API0017` timestamp out of boundaries (and, a sandbox reading, not a number),
//! `API0019` Content-Type not accepted, `API0020` Content-Type should not be present.
//!
//! Other refusals use the "Response codes" table of the reference (stored: bitstamp.net/api
//! and a copy of it): `{"status": "error", "reason", "response_code"}` with HTTP 400 —
//! `400.004` a POST parameter missing, `400.005` amount missing, `400.006` price missing,
//! `400.007` malformed (also a repeated parameter or a body that is not a form: the
//! sandbox's reading), `400.009` insufficient balance, `400.010`–`400.013` malformed
//! `offset`/`limit`/`sort`/`since_timestamp`, `400.014` order id missing, `400.016` order id
//! malformed, `400.018` GET (query) parameters not allowed, `400.019` client_order_id
//! already exists, `400.026` malformed amount. Guessed (not in what was stored): HTTP 404
//! `404.002` "Order not found" and `404.001` for an unknown endpoint or market, and
//! `400.001` for order options the sandbox does not play (`limit_price`, `daily_order`,
//! `ioc_order`, `fok_order`, `moc_order`, `gtd_order`, `expire_time`).
//!
//! Permissions: Bitstamp grants one per API function on its key page ("Account balance",
//! "User transactions", "Open orders", "Buy/Sell limit order", "Cancel order", "Bitcoin
//! withdrawal", …, from memory); the sandbox groups them as read (balances, transactions,
//! open orders, order status), trade (orders, cancel) and withdraw (crypto withdrawals).
//!
//! Routes (memory of the v2 reference; all private ones POST, every path ending in `/`):
//! `account_balances/[{currency}/]`, `balance/[{pair}/]` (the older per-currency
//! `btc_available`… shape), `user_transactions/[{pair}/]` (`offset` ≤ 200000 default 0,
//! `limit` ≤ 1000 default 100, `sort` `asc`|`desc` default `desc`, `since_timestamp` in
//! Unix seconds, `since_id`: transactions from that id on, with `limit` then 1000 — the
//! paging is the sandbox's reading of those words), `open_orders/all/` and
//! `open_orders/{pair}/`, `buy/{pair}/` and `sell/{pair}/` (limit: `amount`, `price`,
//! optional `client_order_id`), `buy/market/{pair}/` and `sell/market/{pair}/` (`amount` in
//! base units), `cancel_order/` (`id`), `order_status/` (`id` or `client_order_id`; `Open`, `Finished`, or `Canceled` for an order
//! closed without a fill),
//! `{currency}_withdrawal/` (`amount`, `address`); public `GET /api/v2/ticker/{pair}/`
//! (`last`, `volume` = 24 h base volume, `vwap`, `bid`, `ask`, `open`, `timestamp`;
//! "Passing any GET parameters will result in your request being rejected", from the
//! stored v1 text). Markets are the sandbox's markets whose symbol is the lowercase pair
//! (`btcusd`).

use aws_lc_rs::hmac;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use subtle::ConstantTimeEq as _;

use crate::{Amount, Incoming, IntentSize, Market, OrderIntent, Shared, Trade, Venue, Withdrawal, lock, params};

/// A refusal: HTTP status, code (`API00xx` for authentication, else a response code) and
/// reason.
pub(crate) struct ApiError(StatusCode, &'static str, pub(crate) &'static str);

const HOST: &str = "www.bitstamp.net";
const FORM: &str = "application/x-www-form-urlencoded";
/// Timestamp window and nonce memory, ms.
const WINDOW_MS: u64 = 150_000;

const F: StatusCode = StatusCode::FORBIDDEN;
const B: StatusCode = StatusCode::BAD_REQUEST;
const NO_X_AUTH: ApiError = ApiError(F, "API0012", "X-Auth header is required");
const NO_SIGNATURE: ApiError = ApiError(F, "API0013", "X-Auth-Signature header is required");
const NO_NONCE: ApiError = ApiError(F, "API0014", "X-Auth-Nonce header is required");
const NO_TIMESTAMP: ApiError = ApiError(F, "API0015", "X-Auth-Timestamp header is required");
const NO_VERSION: ApiError = ApiError(F, "API0016", "X-Auth-Version header is required");
const BAD_KEY_FORMAT: ApiError = ApiError(F, "API0011", "Wrong API key format");
const BAD_KEY: ApiError = ApiError(F, "API0001", "API key not found");
const BAD_VERSION: ApiError = ApiError(F, "API0010", "Invalid version");
const BAD_TIMESTAMP: ApiError = ApiError(F, "API0017", "X-Auth-Timestamp header is out of boundaries");
const BAD_CONTENT_TYPE: ApiError = ApiError(F, "API0019", "Content-type header is not accepted");
const CONTENT_TYPE_PRESENT: ApiError = ApiError(F, "API0020", "Content-Type header should not be present");
const BAD_SIGN: ApiError = ApiError(F, "API0005", "Invalid signature");
const BAD_NONCE: ApiError = ApiError(F, "API0004", "Invalid nonce");
const IP: ApiError = ApiError(F, "API0002", "IP address not allowed");
const PERMISSION: ApiError = ApiError(F, "API0003", "No permission found");
const MISSING: ApiError = ApiError(B, "400.004", "POST parameter(s) is missing from request.");
const NO_AMOUNT: ApiError = ApiError(B, "400.005", "POST parameter(s) is missing from request: amount.");
const NO_PRICE: ApiError = ApiError(B, "400.006", "POST parameter(s) is missing from request: price.");
const MALFORMED: ApiError = ApiError(B, "400.007", "POST parameter(s) is malformed.");
const BAD_CLIENT_ID: ApiError = ApiError(B, "400.008", "POST parameter(s) is malformed: client_order_id.");
const INSUFFICIENT: ApiError = ApiError(B, "400.009", "Insufficient balance for provided user.");
const BAD_OFFSET: ApiError = ApiError(B, "400.010", "POST parameter(s) is malformed: offset.");
const BAD_LIMIT: ApiError = ApiError(B, "400.011", "POST parameter(s) is malformed: limit.");
const BAD_SORT: ApiError = ApiError(B, "400.012", "POST parameter(s) is malformed: sort.");
const BAD_SINCE: ApiError = ApiError(B, "400.013", "POST parameter(s) is malformed: since_timestamp.");
const NO_ORDER_ID: ApiError = ApiError(B, "400.014", "POST parameter(s) is missing from request: order_id.");
const BAD_ORDER_ID: ApiError = ApiError(B, "400.016", "POST parameter(s) is malformed: order_id.");
const QUERY: ApiError = ApiError(B, "400.018", "GET parameters not allowed for this request.");
const CLIENT_ID_TAKEN: ApiError = ApiError(B, "400.019", "Provided client_order_id already exists.");
const BAD_AMOUNT: ApiError = ApiError(B, "400.026", "POST parameter(s) is malformed: amount.");
const OPTION: ApiError =
    ApiError(B, "400.001", "The sandbox plays no order options (limit_price, daily, ioc, fok, moc, gtd).");
const NO_ORDER: ApiError = ApiError(StatusCode::NOT_FOUND, "404.002", "Order not found.");
const NOT_FOUND: ApiError = ApiError(StatusCode::NOT_FOUND, "404.001", "Not found.");

/// Whether `req` is Bitstamp's: it carries `X-Auth`, or its path is under `/api/v2/` and
/// ends with `/` (Bitstamp's all do; Bitget's and Deribit's never).
pub(crate) fn claims(req: &Incoming) -> bool {
    let path = req.uri.path();
    req.headers.contains_key("X-Auth") || (path.starts_with("/api/v2/") && path.ends_with('/'))
}

pub(crate) fn handle(state: &Shared, req: &Incoming) -> Response {
    match handle_inner(state, req) {
        Ok(v) => axum::Json(v).into_response(),
        Err(ApiError(status, code, reason)) => {
            let name = if code.starts_with("API") { "code" } else { "response_code" };
            (status, axum::Json(json!({"status": "error", "reason": reason, name: code}))).into_response()
        }
    }
}

/// A private endpoint, read from the path.
enum Route<'a> {
    Balances(Option<&'a str>),
    OldBalance(Option<&'a str>),
    Transactions(Option<&'a str>),
    OpenOrders(Option<&'a str>),
    Order { buy: bool, market: bool, pair: &'a str },
    Cancel,
    Status,
    Withdraw(&'a str),
}

impl Route<'_> {
    fn need(&self) -> Need {
        match self {
            Route::Balances(_)
            | Route::OldBalance(_)
            | Route::Transactions(_)
            | Route::OpenOrders(_)
            | Route::Status => Need::Read,
            Route::Order { .. } | Route::Cancel => Need::Trade,
            Route::Withdraw(_) => Need::Withdraw,
        }
    }
}

#[derive(Clone, Copy)]
enum Need {
    Read,
    Trade,
    Withdraw,
}

/// A path segment naming a pair or a currency: 2 to 16 lowercase letters and digits.
fn word(s: &str) -> Option<&str> {
    ((2..=16).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())).then_some(s)
}

fn route(path: &str) -> Option<Route<'_>> {
    let inner = path.strip_prefix("/api/v2/")?.strip_suffix('/')?;
    let seg: Vec<&str> = inner.split('/').collect();
    Some(match seg.as_slice() {
        ["account_balances"] => Route::Balances(None),
        ["account_balances", c] => Route::Balances(Some(word(c)?)),
        ["balance"] => Route::OldBalance(None),
        ["balance", p] => Route::OldBalance(Some(word(p)?)),
        ["user_transactions"] => Route::Transactions(None),
        ["user_transactions", p] => Route::Transactions(Some(word(p)?)),
        ["open_orders", "all"] => Route::OpenOrders(None),
        ["open_orders", p] => Route::OpenOrders(Some(word(p)?)),
        ["buy", "market", p] => Route::Order { buy: true, market: true, pair: word(p)? },
        ["sell", "market", p] => Route::Order { buy: false, market: true, pair: word(p)? },
        ["buy", p] => Route::Order { buy: true, market: false, pair: word(p)? },
        ["sell", p] => Route::Order { buy: false, market: false, pair: word(p)? },
        ["cancel_order"] => Route::Cancel,
        ["order_status"] => Route::Status,
        [w] => Route::Withdraw(word(w.strip_suffix("_withdrawal")?)?),
        _ => return None,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `BTC/USD` of a market.
fn market_name(m: &Market) -> String {
    format!("{}/{}", m.base, m.quote)
}

/// `2024-01-31 09:59:59.123000` (UTC) of a Unix ms time, as Bitstamp prints `datetime`.
fn datetime(ms: u64) -> String {
    let iso = crate::coinbase::rfc3339(ms);
    format!("{}000", iso.trim_end_matches('Z').replace('T', " "))
}

/// The public ticker: at the market's price, with its 24 h volume in base units.
fn ticker(state: &Shared, req: &Incoming, pair: &str) -> Result<Value, ApiError> {
    if req.uri.query().is_some() {
        return Err(QUERY);
    }
    let st = lock(state);
    let m = st.markets.iter().find(|m| m.symbol == pair).ok_or(NOT_FOUND)?;
    let default = Amount::parse(crate::DEFAULT_QUOTE_VOLUME).unwrap_or_default();
    let quote = st.volumes.get(pair).copied().unwrap_or(default);
    let p = m.price.to_string();
    Ok(json!({"timestamp": (st.now_ms() / 1000).to_string(), "open": p, "high": p, "low": p, "last": p,
              "volume": quote.divided_by(m.price).to_string(), "vwap": p, "bid": p, "ask": p, "side": "0",
              "open_24": p, "percent_change_24": "0.00", "pair": market_name(m), "market_type": "SPOT"}))
}

fn handle_inner(state: &Shared, req: &Incoming) -> Result<Value, ApiError> {
    let path = req.uri.path();
    if req.method == axum::http::Method::GET {
        let pair = path.strip_prefix("/api/v2/ticker/").and_then(|p| p.strip_suffix('/')).ok_or(NOT_FOUND)?;
        return ticker(state, req, word(pair).ok_or(NOT_FOUND)?);
    }
    if req.method != axum::http::Method::POST {
        return Err(NOT_FOUND);
    }
    let route = route(path).ok_or(NOT_FOUND)?;
    let header = |name: &str| req.header(name).filter(|v| !v.is_empty());
    let x_auth = header("X-Auth").ok_or(NO_X_AUTH)?;
    let sign = header("X-Auth-Signature").ok_or(NO_SIGNATURE)?;
    let nonce = header("X-Auth-Nonce").ok_or(NO_NONCE)?;
    let ts = header("X-Auth-Timestamp").ok_or(NO_TIMESTAMP)?;
    let version = header("X-Auth-Version").ok_or(NO_VERSION)?;
    let key = x_auth.strip_prefix("BITSTAMP ").filter(|k| !k.is_empty()).ok_or(BAD_KEY_FORMAT)?;
    let mut st = lock(state);
    let now = st.now_ms();
    let spec = st.accounts.get(key).filter(|a| a.spec.venue == Venue::Bitstamp).ok_or(BAD_KEY)?.spec.clone();
    if version != "v2" {
        return Err(BAD_VERSION);
    }
    let ts_ms: u64 = (ts.len() <= 16 && ts.bytes().all(|b| b.is_ascii_digit()))
        .then(|| ts.parse().ok())
        .flatten()
        .ok_or(BAD_TIMESTAMP)?;
    if now.abs_diff(ts_ms) > WINDOW_MS {
        return Err(BAD_TIMESTAMP);
    }
    let content_type = match (req.body.is_empty(), req.header("Content-Type")) {
        (true, None) => "",
        (true, Some(_)) => return Err(CONTENT_TYPE_PRESENT),
        (false, Some(FORM)) => FORM,
        (false, _) => return Err(BAD_CONTENT_TYPE),
    };
    let query = req.uri.query().map(|q| format!("?{q}")).unwrap_or_default();
    let message = format!("{x_auth}POST{HOST}{path}{query}{content_type}{nonce}{ts}v2{}", req.body);
    let mac = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, spec.secret.as_bytes()), message.as_bytes());
    if !bool::from(hex(mac.as_ref()).as_bytes().ct_eq(sign.as_bytes())) {
        return Err(BAD_SIGN);
    }
    if nonce.len() != 36 || !nonce.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
        return Err(BAD_NONCE);
    }
    let account = st.accounts.get_mut(key).ok_or(BAD_KEY)?;
    account.recent_nonces.retain(|_, seen| now.saturating_sub(*seen) <= WINDOW_MS);
    if account.recent_nonces.contains_key(nonce) {
        return Err(BAD_NONCE);
    }
    account.recent_nonces.insert(nonce.to_owned(), now);
    if !spec.allowed_ips.is_empty() && !spec.allowed_ips.contains(&req.peer.ip()) {
        return Err(IP);
    }
    let allowed = match route.need() {
        Need::Read => spec.permissions.read,
        Need::Trade => spec.permissions.trade,
        Need::Withdraw => spec.permissions.withdraw,
    };
    if !allowed {
        return Err(PERMISSION);
    }
    if !query.is_empty() {
        return Err(QUERY);
    }
    let form = form(&req.body)?;
    let get = |name: &str| params::get(&form, name);
    match route {
        Route::Balances(currency) => {
            let a = &st.accounts[key];
            let rows: Vec<Value> = a
                .balances
                .iter()
                .filter(|(c, _)| currency.is_none_or(|want| c.to_ascii_lowercase() == want))
                .map(|(c, (free, locked))| {
                    json!({"currency": c.to_ascii_lowercase(), "total": Amount(free.0 + locked.0).to_string(),
                           "available": free.to_string(), "reserved": locked.to_string()})
                })
                .collect();
            match currency {
                None => Ok(Value::Array(rows)),
                Some(_) => rows.into_iter().next().ok_or(NOT_FOUND),
            }
        }
        Route::OldBalance(pair) => {
            let wanted: Option<(String, String)> = match pair {
                None => None,
                Some(p) => {
                    let m = st.markets.iter().find(|m| m.symbol == p).ok_or(NOT_FOUND)?;
                    Some((m.base.clone(), m.quote.clone()))
                }
            };
            let a = &st.accounts[key];
            let mut out = serde_json::Map::new();
            for (c, (free, locked)) in &a.balances {
                if wanted.as_ref().is_some_and(|(b, q)| c != b && c != q) {
                    continue;
                }
                let c = c.to_ascii_lowercase();
                out.insert(format!("{c}_available"), json!(free.to_string()));
                out.insert(format!("{c}_balance"), json!(Amount(free.0 + locked.0).to_string()));
                out.insert(format!("{c}_reserved"), json!(locked.to_string()));
            }
            Ok(Value::Object(out))
        }
        Route::Transactions(pair) => {
            let offset = number(get("offset"), 0, 200_000, BAD_OFFSET)?;
            let mut limit = number(get("limit"), 100, 1000, BAD_LIMIT)?;
            if limit == 0 {
                return Err(BAD_LIMIT);
            }
            let desc = match get("sort") {
                None | Some("desc") => true,
                Some("asc") => false,
                Some(_) => return Err(BAD_SORT),
            };
            let since_ms = match get("since_timestamp") {
                None => 0,
                Some(s) => number(Some(s), 0, u64::MAX / 1000, BAD_SINCE)? * 1000,
            };
            let since_id = match get("since_id") {
                None => 0,
                Some(s) => {
                    limit = 1000;
                    number(Some(s), 0, u64::MAX, MALFORMED)?
                }
            };
            let markets = st.markets.clone();
            if pair.is_some_and(|p| !markets.iter().any(|m| m.symbol == p)) {
                return Err(NOT_FOUND);
            }
            let a = &st.accounts[key];
            let mut rows: Vec<&Trade> = a
                .trades
                .iter()
                .filter(|t| pair.is_none_or(|p| t.symbol == p) && t.time >= since_ms && t.id >= since_id)
                .filter(|t| markets.iter().any(|m| m.symbol == t.symbol))
                .collect();
            rows.sort_by_key(|t| (t.time, t.id));
            if desc {
                rows.reverse();
            }
            let skip = usize::try_from(offset).unwrap_or(usize::MAX);
            let take = usize::try_from(limit).unwrap_or(1000);
            Ok(Value::Array(
                rows.into_iter()
                    .skip(skip)
                    .take(take)
                    .filter_map(|t| markets.iter().find(|m| m.symbol == t.symbol).map(|m| transaction_json(t, m)))
                    .collect(),
            ))
        }
        Route::OpenOrders(pair) => {
            let markets = st.markets.clone();
            let a = &st.accounts[key];
            Ok(Value::Array(
                a.open_orders
                    .iter()
                    .filter(|o| pair.is_none_or(|p| o.symbol == p))
                    .filter_map(|o| {
                        let m = markets.iter().find(|m| m.symbol == o.symbol)?;
                        Some(open_order_json(o, m, &a.client_id_of(o.id)))
                    })
                    .collect(),
            ))
        }
        Route::Order { buy, market, pair } => {
            let o = intent(&form, pair, buy, market)?;
            let m = st.markets.iter().find(|m| m.symbol == pair).cloned().ok_or(NOT_FOUND)?;
            let client = match get("client_order_id") {
                None => String::new(),
                Some(c) if !c.is_empty() && c.len() <= 180 => c.to_owned(),
                Some(_) => return Err(BAD_CLIENT_ID),
            };
            if !client.is_empty() && st.accounts[key].client_ids.contains_key(&client) {
                return Err(CLIENT_ID_TAKEN);
            }
            let (limit, size) = (o.limit, o.size);
            let id = st.execute(key, o, &client, now).map_err(|e| match e {
                crate::Unexecuted::Symbol => NOT_FOUND,
                crate::Unexecuted::Key => BAD_KEY,
                crate::Unexecuted::Funds => INSUFFICIENT,
                crate::Unexecuted::QuoteSizedLimit => BAD_AMOUNT,
            })?;
            let (IntentSize::Base(qty) | IntentSize::Quote(qty)) = size;
            let mut v = json!({"id": id.to_string(), "market": market_name(&m), "datetime": datetime(now),
                               "type": if buy { "0" } else { "1" }, "price": limit.unwrap_or(m.price).to_string(),
                               "amount": qty.to_string()});
            if !client.is_empty() {
                v["client_order_id"] = json!(client);
            }
            Ok(v)
        }
        Route::Cancel => {
            let id = order_id(get("id"))?;
            let markets = st.markets.clone();
            let a = st.accounts.get_mut(key).ok_or(BAD_KEY)?;
            let o = a.cancel(&markets, |o| o.id == id).ok_or(NO_ORDER)?;
            let name = markets.iter().find(|m| m.symbol == o.symbol).map(market_name).unwrap_or_default();
            Ok(json!({"id": o.id, "amount": o.qty.to_string(), "price": o.price.to_string(),
                      "type": if o.side_buy { 0 } else { 1 }, "market": name}))
        }
        Route::Status => {
            let a = &st.accounts[key];
            let id = match (get("id"), get("client_order_id")) {
                (Some(id), _) => order_id(Some(id))?,
                (None, Some(c)) => a.client_ids.get(c).map(|(_, id)| *id).ok_or(NO_ORDER)?,
                (None, None) => return Err(NO_ORDER_ID),
            };
            let client = a.client_id_of(id);
            let (symbol, side_buy, remaining, status) = if let Some(o) = a.open_orders.iter().find(|o| o.id == id) {
                (o.symbol.clone(), o.side_buy, o.qty, "Open")
            } else if let Some(t) = a.trades.iter().find(|t| t.order_id == id) {
                (t.symbol.clone(), t.side_buy, Amount::ZERO, "Finished")
            } else if let Some((symbol, _)) = a.client_ids.values().find(|(_, i)| *i == id) {
                // Closed without a fill: cancelled ("Order status" answers closed orders too,
                // so a reconcile never reads one as never placed). The sandbox keeps no record
                // of its side or size, nor of a cancelled order placed without a client id.
                (symbol.clone(), true, Amount::ZERO, "Canceled")
            } else {
                return Err(NO_ORDER);
            };
            let m = st.markets.iter().find(|m| m.symbol == symbol).ok_or(NO_ORDER)?;
            let fills: Vec<Value> = a
                .trades
                .iter()
                .filter(|t| t.order_id == id)
                .map(|t| {
                    json!({"tid": t.id, "price": t.price.to_string(), m.base.to_ascii_lowercase(): t.qty.to_string(),
                           m.quote.to_ascii_lowercase(): t.price.times(t.qty).to_string(), "fee": "0.00000000",
                           "datetime": datetime(t.time), "type": 2})
                })
                .collect();
            let mut v = json!({"id": id, "datetime": datetime(now), "type": if side_buy { "0" } else { "1" },
                               "status": status, "market": market_name(m), "transactions": fills,
                               "amount_remaining": remaining.to_string()});
            if !client.is_empty() {
                v["client_order_id"] = json!(client);
            }
            Ok(v)
        }
        Route::Withdraw(currency) => {
            let amount = get("amount").ok_or(NO_AMOUNT)?;
            let amount = Amount::parse(amount).filter(|a| a.0 > 0).ok_or(BAD_AMOUNT)?;
            let address = get("address").filter(|a| !a.is_empty() && a.len() <= 256).ok_or(MISSING)?.to_owned();
            let asset = currency.to_ascii_uppercase();
            let id = st.next_id();
            let a = st.accounts.get_mut(key).ok_or(BAD_KEY)?;
            crate::take(&mut a.balances, &asset, amount).map_err(|()| INSUFFICIENT)?;
            st.withdrawals.push(Withdrawal { api_key: key.to_owned(), asset, address, amount });
            Ok(json!({"id": id}))
        }
    }
}

/// The body as a form, each name at most once (a repeated name is refused: the sandbox does
/// not guess which one Bitstamp would take).
fn form(body: &str) -> Result<Vec<(String, String)>, ApiError> {
    let p = params::parse(body).ok_or(MALFORMED)?;
    for (i, (k, _)) in p.iter().enumerate() {
        if k.is_empty() || p[..i].iter().any(|(seen, _)| seen == k) {
            return Err(MALFORMED);
        }
    }
    Ok(p)
}

/// A decimal integer parameter in `0..=max`, `default` when absent.
fn number(v: Option<&str>, default: u64, max: u64, err: ApiError) -> Result<u64, ApiError> {
    match v {
        None => Ok(default),
        Some(s) if !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok().filter(|n| *n <= max).ok_or(err)
        }
        Some(_) => Err(err),
    }
}

fn order_id(v: Option<&str>) -> Result<u64, ApiError> {
    let v = v.ok_or(NO_ORDER_ID)?;
    number(Some(v), 0, u64::MAX, BAD_ORDER_ID)
}

/// The order of a buy or sell request, as the handler executes it: `amount` (base units)
/// and, for a limit order, `price`; the options the sandbox does not play are refused.
fn intent(form: &[(String, String)], pair: &str, buy: bool, market: bool) -> Result<OrderIntent, ApiError> {
    let get = |name: &str| params::get(form, name);
    for option in ["limit_price", "daily_order", "ioc_order", "fok_order", "moc_order", "gtd_order", "expire_time"] {
        if get(option).is_some() {
            return Err(OPTION);
        }
    }
    let qty = Amount::parse(get("amount").ok_or(NO_AMOUNT)?).filter(|a| a.0 > 0).ok_or(BAD_AMOUNT)?;
    let limit = if market {
        if get("price").is_some() {
            return Err(MALFORMED);
        }
        None
    } else {
        Some(Amount::parse(get("price").ok_or(NO_PRICE)?).filter(|a| a.0 > 0).ok_or(MALFORMED)?)
    };
    Ok(OrderIntent { symbol: pair.to_owned(), side_buy: buy, size: IntentSize::Base(qty), limit })
}

/// How Bitstamp reads the order of a `POST` to `path` with form `body`, as its handler does.
pub(crate) fn order_intent(path: &str, body: &str) -> Result<OrderIntent, ApiError> {
    match route(path) {
        Some(Route::Order { buy, market, pair }) => intent(&form(body)?, pair, buy, market),
        _ => Err(NOT_FOUND),
    }
}

fn transaction_json(t: &Trade, m: &Market) -> Value {
    let cost = t.price.times(t.qty);
    let (base, quote) = if t.side_buy { (t.qty, Amount(-cost.0)) } else { (Amount(-t.qty.0), cost) };
    let mut v = json!({"id": t.id, "order_id": t.order_id, "datetime": datetime(t.time), "type": "2",
                       "fee": "0.00000000"});
    v[m.base.to_ascii_lowercase()] = json!(base.to_string());
    v[m.quote.to_ascii_lowercase()] = json!(quote.to_string());
    v[format!("{}_{}", m.base.to_ascii_lowercase(), m.quote.to_ascii_lowercase())] = json!(t.price.to_string());
    v
}

fn open_order_json(o: &crate::Order, m: &Market, client: &str) -> Value {
    let mut v = json!({"id": o.id.to_string(), "datetime": datetime(o.time), "type": if o.side_buy { "0" } else { "1" },
                       "price": o.price.to_string(), "amount": o.qty.to_string(), "amount_at_create": o.qty.to_string(),
                       "currency_pair": market_name(m), "market": market_name(m)});
    if !client.is_empty() {
        v["client_order_id"] = json!(client);
    }
    v
}

#[cfg(test)]
mod tests {
    #[test]
    fn routes_and_datetime() {
        use super::Route;
        assert!(matches!(
            super::route("/api/v2/buy/market/btcusd/"),
            Some(Route::Order { buy: true, market: true, .. })
        ));
        assert!(matches!(super::route("/api/v2/sell/btcusd/"), Some(Route::Order { buy: false, market: false, .. })));
        assert!(matches!(super::route("/api/v2/btc_withdrawal/"), Some(Route::Withdraw("btc"))));
        for bad in ["/api/v2/buy/BTCUSD/", "/api/v2/balance", "/api/v2/_withdrawal/", "/api/v2/buy/x/y/z/", "/api/v2//"]
        {
            assert!(super::route(bad).is_none(), "{bad}");
        }
        assert_eq!(super::datetime(1_700_000_000_123), "2023-11-14 22:13:20.123000");
    }
}
