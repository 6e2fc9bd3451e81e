//! Poloniex spot (API "v3", `https://api.poloniex.com`, spot paths
//! unversioned), verified as the Poloniex spot API docs' "Authentication"
//! (api-docs.poloniex.com/spot/api → Authentication, API Signature
//! Generation) describes: headers `key` (the API key), `signTimestamp` (Unix
//! ms), `signature`, and the optional `signatureMethod` (`hmacSHA256`),
//! `signatureVersion` (`1`) and `recvWindow` (ms). The signature is the
//! base64 HMAC-SHA256 with the secret of
//!
//! ```text
//! METHOD\n
//! /path\n
//! params
//! ```
//!
//! where params is, for a request without a body, the query parameters and
//! `signTimestamp` sorted by name in ASCII order, `&`-joined, each value
//! URL/UTF-8 encoded (space as `%20`); for a POST or DELETE with a body,
//! `requestBody=<the body>&signTimestamp=<ts>` (the docs' example:
//! `DELETE\n/orders/cancelByIds\nrequestBody={…}&signTimestamp=1631018760000`).
//! POST and DELETE bodies are JSON ("POST\DELETE requests should contain
//! application/json type content").
//!
//! Timing ("Authentication"): a `signTimestamp` more than 1 s ahead of
//! Poloniex's clock is refused with 400; with `recvWindow`, a request older
//! than it is refused with 408. Without `recvWindow` the sandbox allows
//! 60 s: the futures v3 docs (same scheme) say a timestamp is valid for one
//! minute; the spot page states no default (so this is a reading).
//!
//! Refusals are `{"code", "message"}`. Documented: HTTP/code 400 (timestamp
//! ahead) and 408 (recvWindow). From memory: 401 "Invalid Apikey or
//! Signature" for an unknown key or a bad signature, 24101 "Invalid symbol".
//! Guessed (no stored doc page lists them): 403 for a key lacking the
//! permission ("Permission denied") or outside its IP allow-list ("IP not
//! in whitelist"), 400 for malformed parameters, unknown orders and
//! insufficient balance (with a message naming it), 404 for an unknown
//! route.
//!
//! Routes (from memory of the spot reference: "Reference Data", "Market
//! Data", "Accounts", "Orders", "Trades", "Wallets"): public `GET
//! /timestamp` (`{"serverTime"}`), `GET /markets/{symbol}/price` and `GET
//! /markets/{symbol}/ticker24h` (`close`, `quantity` base and `amount`
//! quote volume over 24 h). Signed: `GET /accounts/balances`, `GET /trades`
//! (`limit` 1..=1000 default 100, `startTime`/`endTime`, and `from` a
//! `pageId` with `direction` `NEXT` (older, the default) or `PRE` (newer);
//! newest first), `GET /orders` (open orders, optional `symbol`), `POST
//! /orders` (`symbol`, `side` BUY | SELL, `type` MARKET (the default) |
//! LIMIT, `quantity` base / `amount` quote / `price`, `clientOrderId`),
//! `DELETE /orders/{id}` and `DELETE /orders/cid:{clientOrderId}`, and
//! withdraw: `POST /v2/wallets/withdraw` (`coin`, `network`, `amount`,
//! `address`) and the older `POST /wallets/withdraw` (`currency`).
//! The direction names of `/trades` paging are a reading (guessed).

use aws_lc_rs::hmac;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Map, Value, json};
use subtle::ConstantTimeEq as _;

use crate::params;
use crate::{Amount, Incoming, IntentSize, Order, OrderIntent, Shared, Trade, Venue, Withdrawal, lock};

/// A refusal: HTTP status, `code`, `message`.
pub(crate) struct ApiError(StatusCode, i64, pub(crate) &'static str);

const B: StatusCode = StatusCode::BAD_REQUEST;
const AUTH: ApiError = ApiError(StatusCode::UNAUTHORIZED, 401, "Invalid Apikey or Signature");
const AHEAD: ApiError = ApiError(B, 400, "signTimestamp is more than 1 second ahead of the system time");
const EXPIRED: ApiError = ApiError(StatusCode::REQUEST_TIMEOUT, 408, "Request timeout: recvWindow exceeded");
const NO_PERMISSION: ApiError = ApiError(StatusCode::FORBIDDEN, 403, "Permission denied");
const IP: ApiError = ApiError(StatusCode::FORBIDDEN, 403, "IP not in whitelist");
const PARAMS: ApiError = ApiError(B, 400, "Param error");
const BAD_SYMBOL: ApiError = ApiError(B, 24101, "Invalid symbol");
const INSUFFICIENT: ApiError = ApiError(B, 400, "Insufficient balance");
const NO_ORDER: ApiError = ApiError(B, 400, "Order not found");
const NOT_FOUND: ApiError = ApiError(StatusCode::NOT_FOUND, 404, "Not Found");

/// Whether `req` is Poloniex's: it carries `signTimestamp`, or is on a Poloniex path.
pub(crate) fn claims(req: &Incoming) -> bool {
    let path = req.uri.path();
    req.headers.contains_key("signTimestamp")
        || path == "/timestamp"
        || path.starts_with("/markets/")
        || path == "/accounts/balances"
        || path == "/trades"
        || path == "/orders"
        || path.starts_with("/orders/")
        || path == "/wallets/withdraw"
        || path == "/v2/wallets/withdraw"
}

pub(crate) fn handle(state: &Shared, req: &Incoming) -> Response {
    match handle_inner(state, req) {
        Ok(v) => axum::Json(v).into_response(),
        Err(ApiError(status, code, msg)) => (status, axum::Json(json!({"code": code, "message": msg}))).into_response(),
    }
}

#[derive(Clone, Copy)]
enum Need {
    Read,
    Trade,
    Withdraw,
}

/// Percent-encoding of a parameter value, RFC 3986 unreserved kept, space as `%20`.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The string Poloniex signs (see the module docs), from the decoded query parameters.
pub(crate) fn prehash(method: &str, path: &str, query: &[(String, String)], body: &str, ts: &str) -> String {
    let params = if body.is_empty() {
        let mut all: Vec<(&str, String)> = query.iter().map(|(k, v)| (k.as_str(), encode(v))).collect();
        all.push(("signTimestamp", encode(ts)));
        all.sort_by(|a, b| a.0.cmp(b.0));
        all.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
    } else {
        format!("requestBody={body}&signTimestamp={ts}")
    };
    format!("{method}\n{path}\n{params}")
}

fn public(state: &Shared, path: &str) -> Result<Value, ApiError> {
    let st = lock(state);
    if path == "/timestamp" {
        return Ok(json!({"serverTime": st.now_ms()}));
    }
    let rest = path.strip_prefix("/markets/").ok_or(NOT_FOUND)?;
    let (symbol, what) = rest.split_once('/').ok_or(NOT_FOUND)?;
    let m = st.markets.iter().find(|m| m.symbol == symbol).ok_or(BAD_SYMBOL)?;
    let now = st.now_ms();
    let p = m.price.to_string();
    match what {
        "price" => Ok(json!({"symbol": symbol, "price": p, "time": now, "dailyChange": "0.00", "ts": now})),
        "ticker24h" => {
            let default = Amount::parse(crate::DEFAULT_QUOTE_VOLUME).unwrap_or_default();
            let quote = st.volumes.get(symbol).copied().unwrap_or(default);
            Ok(json!({"symbol": symbol, "open": p, "low": p, "high": p, "close": p,
                      "quantity": quote.divided_by(m.price).to_string(), "amount": quote.to_string(),
                      "tradeCount": 1, "startTime": now.saturating_sub(86_400_000), "closeTime": now,
                      "displayName": symbol.replace('_', "/"), "dailyChange": "0.00", "bid": p,
                      "bidQuantity": "1", "ask": p, "askQuantity": "1", "ts": now, "markPrice": p}))
        }
        _ => Err(NOT_FOUND),
    }
}

fn handle_inner(state: &Shared, req: &Incoming) -> Result<Value, ApiError> {
    let path = req.uri.path();
    let method = req.method.as_str();
    if method == "GET" && (path == "/timestamp" || path.starts_with("/markets/")) {
        return public(state, path);
    }
    let need = match (method, path) {
        ("GET", "/accounts/balances" | "/trades" | "/orders") => Need::Read,
        ("POST", "/orders") => Need::Trade,
        ("DELETE", p) if p.strip_prefix("/orders/").is_some_and(|id| !id.is_empty() && !id.contains('/')) => {
            Need::Trade
        }
        ("POST", "/v2/wallets/withdraw" | "/wallets/withdraw") => Need::Withdraw,
        _ => return Err(NOT_FOUND),
    };
    let key = req.header("key").filter(|k| !k.is_empty()).ok_or(AUTH)?;
    let ts_raw = req.header("signTimestamp").ok_or(AUTH)?;
    let sign = req.header("signature").ok_or(AUTH)?;
    if req.header("signatureMethod").is_some_and(|m| m != "hmacSHA256")
        || req.header("signatureVersion").is_some_and(|v| v != "1")
    {
        return Err(AUTH);
    }
    let query = params::parse(req.uri.query().unwrap_or("")).ok_or(PARAMS)?;
    for (i, (k, _)) in query.iter().enumerate() {
        if query[..i].iter().any(|(n, _)| n == k) || k == "signTimestamp" {
            return Err(PARAMS);
        }
    }
    if !req.body.is_empty() && !query.is_empty() {
        // With a body only the body is signed: an unsigned query is refused.
        return Err(PARAMS);
    }
    let mut st = lock(state);
    let now = st.now_ms();
    let spec = st.accounts.get(key).filter(|a| a.spec.venue == Venue::Poloniex).ok_or(AUTH)?.spec.clone();
    let ts: u64 = ts_raw.parse().map_err(|_| PARAMS)?;
    let recv_window: u64 = req.header("recvWindow").map_or(Ok(60_000), str::parse).map_err(|_| PARAMS)?;
    if ts > now.saturating_add(1000) {
        return Err(AHEAD);
    }
    if now.saturating_sub(ts) > recv_window {
        return Err(EXPIRED);
    }
    let text = prehash(method, path, &query, &req.body, ts_raw);
    let mac = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, spec.secret.as_bytes()), text.as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.as_ref());
    if !bool::from(expected.as_bytes().ct_eq(sign.as_bytes())) {
        return Err(AUTH);
    }
    if !spec.allowed_ips.is_empty() && !spec.allowed_ips.contains(&req.peer.ip()) {
        return Err(IP);
    }
    let allowed = match need {
        Need::Read => spec.permissions.read,
        Need::Trade => spec.permissions.trade,
        Need::Withdraw => spec.permissions.withdraw,
    };
    if !allowed {
        return Err(NO_PERMISSION);
    }
    let q = |name: &str| params::get(&query, name);
    match (method, path) {
        ("GET", "/accounts/balances") => {
            let a = &st.accounts[key];
            let balances: Vec<Value> = a
                .balances
                .iter()
                .enumerate()
                .map(|(i, (c, (free, locked)))| {
                    json!({"currencyId": (i + 1).to_string(), "currency": c, "available": free.to_string(),
                           "hold": locked.to_string()})
                })
                .collect();
            Ok(json!([{"accountId": "1", "accountType": "SPOT", "balances": balances}]))
        }
        ("GET", "/trades") => {
            let num = |name: &str| q(name).map(str::parse::<u64>).transpose().map_err(|_| PARAMS);
            let limit = num("limit")?.unwrap_or(100);
            if !(1..=1000).contains(&limit) {
                return Err(PARAMS);
            }
            let (start, end, from) = (num("startTime")?, num("endTime")?, num("from")?);
            let older = match q("direction") {
                None | Some("NEXT") => true,
                Some("PRE") => false,
                Some(_) => return Err(PARAMS),
            };
            let symbols: Option<Vec<&str>> = q("symbols").map(|s| s.split(',').collect());
            let a = &st.accounts[key];
            // `from` is a pageId (the sandbox's trade id); "before" and "after" are in time.
            let pivot = match from {
                Some(f) => Some(a.trades.iter().find(|t| t.id == f).map(|t| (t.time, t.id)).ok_or(PARAMS)?),
                None => None,
            };
            let mut all: Vec<&Trade> = a
                .trades
                .iter()
                .filter(|t| {
                    start.is_none_or(|s| t.time >= s)
                        && end.is_none_or(|e| t.time <= e)
                        && symbols.as_ref().is_none_or(|s| s.contains(&t.symbol.as_str()))
                        && pivot.is_none_or(|p| if older { (t.time, t.id) < p } else { (t.time, t.id) > p })
                })
                .collect();
            // Newest first; PRE answers the `limit` nearest newer than `from`.
            all.sort_by_key(|t| std::cmp::Reverse((t.time, t.id)));
            let n = usize::try_from(limit).unwrap_or(100);
            let page: Vec<&Trade> = if older || from.is_none() {
                all.into_iter().take(n).collect()
            } else {
                let skip = all.len().saturating_sub(n);
                all.into_iter().skip(skip).collect()
            };
            Ok(Value::Array(page.into_iter().map(|t| trade_json(t, &a.client_id_of(t.order_id))).collect()))
        }
        ("GET", "/orders") => {
            let a = &st.accounts[key];
            Ok(Value::Array(
                a.open_orders
                    .iter()
                    .filter(|o| q("symbol").is_none_or(|s| s == o.symbol))
                    .map(|o| order_json(o, &a.client_id_of(o.id)))
                    .collect(),
            ))
        }
        ("POST", "/orders") => {
            let b = body_object(&req.body)?;
            let o = intent(&b)?;
            let client = match b.get("clientOrderId") {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(c)) if c.len() <= 64 && !c.starts_with("cid:") => c.clone(),
                Some(_) => return Err(PARAMS),
            };
            if !client.is_empty() && st.accounts[key].client_ids.contains_key(&client) {
                return Err(PARAMS);
            }
            let id = st.execute(key, o, &client, now).map_err(|e| match e {
                crate::Unexecuted::Symbol => BAD_SYMBOL,
                crate::Unexecuted::Key => AUTH,
                crate::Unexecuted::Funds => INSUFFICIENT,
                crate::Unexecuted::QuoteSizedLimit => PARAMS,
            })?;
            Ok(json!({"id": id.to_string(), "clientOrderId": client}))
        }
        ("DELETE", _) => {
            let which = path.strip_prefix("/orders/").ok_or(NOT_FOUND)?.to_owned();
            let markets = st.markets.clone();
            let a = st.accounts.get_mut(key).ok_or(AUTH)?;
            let id = match which.strip_prefix("cid:") {
                Some(c) => a.client_ids.get(c).map(|(_, id)| *id).ok_or(NO_ORDER)?,
                None => which.parse::<u64>().map_err(|_| NO_ORDER)?,
            };
            let name = a.client_id_of(id);
            a.cancel(&markets, |o| o.id == id).ok_or(NO_ORDER)?;
            Ok(json!({"orderId": id.to_string(), "clientOrderId": name, "state": "PENDING_CANCEL",
                      "code": 200, "message": ""}))
        }
        ("POST", _) => {
            let b = body_object(&req.body)?;
            let coin_field = if path == "/v2/wallets/withdraw" { "coin" } else { "currency" };
            let str_of = |name: &str| b.get(name).and_then(Value::as_str).filter(|s| !s.is_empty());
            let coin = str_of(coin_field).ok_or(PARAMS)?.to_owned();
            let address = str_of("address").ok_or(PARAMS)?.to_owned();
            let amount = str_of("amount").and_then(Amount::parse).filter(|a| a.0 > 0).ok_or(PARAMS)?;
            let id = st.next_id();
            let a = st.accounts.get_mut(key).ok_or(AUTH)?;
            crate::take(&mut a.balances, &coin, amount).map_err(|()| INSUFFICIENT)?;
            st.withdrawals.push(Withdrawal { api_key: key.to_owned(), asset: coin, address, amount });
            Ok(json!({"withdrawalRequestsId": id}))
        }
        _ => Err(NOT_FOUND),
    }
}

fn body_object(body: &str) -> Result<Map<String, Value>, ApiError> {
    serde_json::from_str(body).map_err(|_| PARAMS)
}

/// The order of a `POST /orders`, as "Create Order" documents it: `symbol`; `side` BUY |
/// SELL; `type` MARKET (the default) or LIMIT (LIMIT_MAKER and the others are not played by
/// the sandbox); `quantity` (base) is required for a MARKET SELL and any LIMIT, `amount`
/// (quote) for a MARKET BUY; `price` for a LIMIT. The sandbox takes exactly that: a
/// MARKET BUY by `amount`, a MARKET SELL by `quantity`, a LIMIT by `quantity` and `price`,
/// and refuses any other field among the three (rather than guess which one wins).
/// Numbers are decimal strings (a JSON number is refused, never read through a float).
fn intent(b: &Map<String, Value>) -> Result<OrderIntent, ApiError> {
    let symbol = b.get("symbol").and_then(Value::as_str).filter(|s| !s.is_empty()).ok_or(PARAMS)?.to_owned();
    let side_buy = match b.get("side").and_then(Value::as_str) {
        Some("BUY") => true,
        Some("SELL") => false,
        _ => return Err(PARAMS),
    };
    let amount = |name: &str| match b.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_str().and_then(Amount::parse).filter(|a| a.0 > 0).map(Some).ok_or(PARAMS),
    };
    let (quantity, quote, price) = (amount("quantity")?, amount("amount")?, amount("price")?);
    match b.get("type").map(|t| t.as_str().ok_or(PARAMS)).transpose()?.unwrap_or("MARKET") {
        "MARKET" => {
            let size = match (side_buy, quantity, quote, price) {
                (true, None, Some(q), None) => IntentSize::Quote(q),
                (false, Some(q), None, None) => IntentSize::Base(q),
                _ => return Err(PARAMS),
            };
            Ok(OrderIntent { symbol, side_buy, size, limit: None })
        }
        "LIMIT" => match (quantity, quote, price) {
            (Some(q), None, Some(p)) => Ok(OrderIntent { symbol, side_buy, size: IntentSize::Base(q), limit: Some(p) }),
            _ => Err(PARAMS),
        },
        _ => Err(PARAMS),
    }
}

/// How Poloniex reads the order of a request body, as its handler does.
pub(crate) fn order_intent(body: &str) -> Result<OrderIntent, ApiError> {
    intent(&body_object(body)?)
}

fn order_json(o: &Order, client: &str) -> Value {
    json!({"id": o.id.to_string(), "clientOrderId": client, "symbol": o.symbol, "state": "NEW",
           "accountType": "SPOT", "side": if o.side_buy { "BUY" } else { "SELL" }, "type": "LIMIT",
           "timeInForce": "GTC", "quantity": o.qty.to_string(), "price": o.price.to_string(),
           "avgPrice": "0", "amount": "0", "filledQuantity": "0", "filledAmount": "0",
           "createTime": o.time, "updateTime": o.time})
}

fn trade_json(t: &Trade, client: &str) -> Value {
    json!({"id": t.id.to_string(), "symbol": t.symbol, "accountType": "SPOT", "orderId": t.order_id.to_string(),
           "side": if t.side_buy { "BUY" } else { "SELL" }, "type": "MARKET", "matchRole": "TAKER",
           "createTime": t.time, "price": t.price.to_string(), "quantity": t.qty.to_string(),
           "amount": t.price.times(t.qty).to_string(), "feeCurrency": "", "feeAmount": "0",
           "pageId": t.id.to_string(), "clientOrderId": client})
}
