//! Binance spot, verified as the Binance Spot API documentation describes:
//! "Endpoint security type" (X-MBX-APIKEY; -2014/-2015), "SIGNED endpoint
//! security" (HMAC-SHA256 of totalParams = query string concatenated with
//! the body, `signature` removed; -1022) and "Timing security" (accept when
//! `timestamp < serverTime + 1000` and `serverTime - timestamp <= recvWindow`,
//! recvWindow default 5000, at most 60000; -1021). Error bodies are
//! `{"code": …, "msg": …}` with the documented codes and messages.

use std::net::SocketAddr;

use aws_lc_rs::hmac;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Value, json};
use subtle::ConstantTimeEq as _;

use crate::params::{self, get};
use crate::{Amount, Incoming, Order, Shared, Trade, Venue, Withdrawal, lock};

pub(crate) struct ApiError(StatusCode, i64, pub(crate) &'static str);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, axum::Json(json!({"code": self.1, "msg": self.2}))).into_response()
    }
}

const BAD_KEY_FORMAT: ApiError = ApiError(StatusCode::UNAUTHORIZED, -2014, "API-key format invalid.");
const REJECTED: ApiError = ApiError(StatusCode::UNAUTHORIZED, -2015, "Invalid API-key, IP, or permissions for action.");
const NO_TIMESTAMP: ApiError = ApiError(
    StatusCode::BAD_REQUEST,
    -1102,
    "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.",
);
const NO_SIGNATURE: ApiError = ApiError(
    StatusCode::BAD_REQUEST,
    -1102,
    "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.",
);
const BAD_WINDOW: ApiError = ApiError(StatusCode::BAD_REQUEST, -1131, "recvWindow must be less than 60000");
const OUTSIDE_WINDOW: ApiError =
    ApiError(StatusCode::BAD_REQUEST, -1021, "Timestamp for this request is outside of the recvWindow.");
const BAD_SIGNATURE: ApiError = ApiError(StatusCode::BAD_REQUEST, -1022, "Signature for this request is not valid.");
const MALFORMED: ApiError = ApiError(StatusCode::BAD_REQUEST, -1100, "Illegal characters found in a parameter.");
const BAD_SYMBOL: ApiError = ApiError(StatusCode::BAD_REQUEST, -1121, "Invalid symbol.");
const BAD_PARAM: ApiError =
    ApiError(StatusCode::BAD_REQUEST, -1102, "A mandatory parameter was not sent, was empty/null, or malformed.");
const INSUFFICIENT: ApiError =
    ApiError(StatusCode::BAD_REQUEST, -2010, "Account has insufficient balance for requested action.");
const UNKNOWN_ORDER: ApiError = ApiError(StatusCode::BAD_REQUEST, -2011, "Unknown order sent.");
const NO_SUCH_ORDER: ApiError = ApiError(StatusCode::BAD_REQUEST, -2013, "Order does not exist.");
const STATUS_UNKNOWN: ApiError = ApiError(
    StatusCode::SERVICE_UNAVAILABLE,
    -1007,
    "Timeout waiting for response from backend server. Send status unknown; execution status unknown.",
);
const NOT_FOUND: ApiError = ApiError(StatusCode::NOT_FOUND, -1000, "Unknown endpoint.");
const DUPLICATE: ApiError = ApiError(StatusCode::BAD_REQUEST, -1101, "Duplicate values for a parameter detected.");
const NOT_ALL_READ: ApiError = ApiError(StatusCode::BAD_REQUEST, -1104, "Not all sent parameters were read.");
const NOT_REQUIRED: ApiError = ApiError(StatusCode::BAD_REQUEST, -1106, "A parameter was sent when not required.");
const BAD_TYPE: ApiError = ApiError(StatusCode::BAD_REQUEST, -1116, "Invalid orderType.");

/// The parameters as Binance reads them ("General API Information"): the
/// query string and the form body, each refused if it repeats a name
/// (-1101); a name in both is read from the query.
fn read_params(query: &str, body: &str) -> Result<Vec<(String, String)>, ApiError> {
    let q = params::parse(query).ok_or(MALFORMED)?;
    let b = params::parse(body).ok_or(MALFORMED)?;
    for part in [&q, &b] {
        for (i, (k, _)) in part.iter().enumerate() {
            if part[..i].iter().any(|(n, _)| n == k) {
                return Err(DUPLICATE);
            }
        }
    }
    let mut all = q;
    for (k, v) in b {
        if !all.iter().any(|(n, _)| *n == k) {
            all.push((k, v));
        }
    }
    Ok(all)
}

/// The parameters `POST /api/v3/order` reads ("New order (TRADE)"); any
/// other is -1104.
const ORDER_READS: &[&str] = &[
    "symbol",
    "side",
    "type",
    "timeInForce",
    "quantity",
    "quoteOrderQty",
    "price",
    "newClientOrderId",
    "strategyId",
    "strategyType",
    "stopPrice",
    "trailingDelta",
    "icebergQty",
    "newOrderRespType",
    "selfTradePreventionMode",
    "pegPriceType",
    "pegOffsetValue",
    "pegOffsetType",
    "recvWindow",
    "timestamp",
    "signature",
];

/// The order of a `POST /api/v3/order`, as Binance reads it: a MARKET order
/// is sized by `quantity` (base; it wins over `quoteOrderQty`) or
/// `quoteOrderQty` (quote), and refuses a `price` (-1106); a LIMIT order
/// needs `timeInForce`, `quantity` and `price`. Other types are not
/// supported by the sandbox.
pub(crate) fn order_intent(query: &str, body: &str) -> Result<crate::OrderIntent, ApiError> {
    let p = read_params(query, body)?;
    if p.iter().any(|(k, _)| !ORDER_READS.contains(&k.as_str())) {
        return Err(NOT_ALL_READ);
    }
    let symbol = get(&p, "symbol").ok_or(BAD_PARAM)?.to_owned();
    let side_buy = match get(&p, "side") {
        Some("BUY") => true,
        Some("SELL") => false,
        _ => return Err(BAD_PARAM),
    };
    let amount = |name: &str| get(&p, name).map(|v| Amount::parse(v).filter(|q| q.0 > 0).ok_or(BAD_PARAM)).transpose();
    let (quantity, quote) = (amount("quantity")?, amount("quoteOrderQty")?);
    let (size, limit) = match get(&p, "type") {
        Some("MARKET") => {
            if get(&p, "price").is_some() {
                return Err(NOT_REQUIRED);
            }
            let size = match (quantity, quote) {
                (Some(q), _) => crate::IntentSize::Base(q),
                (None, Some(q)) => crate::IntentSize::Quote(q),
                (None, None) => return Err(BAD_PARAM),
            };
            (size, None)
        }
        Some("LIMIT") => {
            if quote.is_some() {
                return Err(NOT_REQUIRED);
            }
            if get(&p, "timeInForce").is_none() {
                return Err(BAD_PARAM);
            }
            let price = amount("price")?.ok_or(BAD_PARAM)?;
            (crate::IntentSize::Base(quantity.ok_or(BAD_PARAM)?), Some(price))
        }
        Some(_) => return Err(BAD_TYPE),
        None => return Err(BAD_PARAM),
    };
    Ok(crate::OrderIntent { symbol, side_buy, size, limit })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Need {
    Read,
    Trade,
    Withdraw,
}

/// Remove the `signature=` pair from a raw parameter string; return the
/// rest (raw, as signed) and the signature value.
fn strip_signature(raw: &str) -> (String, Option<String>) {
    let mut sig = None;
    let rest: Vec<&str> = raw
        .split('&')
        .filter(|kv| {
            if let Some(v) = kv.strip_prefix("signature=") {
                sig = Some(v.to_owned());
                false
            } else {
                !kv.is_empty()
            }
        })
        .collect();
    (rest.join("&"), sig)
}

pub(crate) fn handle(state: &Shared, req: &Incoming) -> Response {
    match handle_inner(state, req.peer, &req.method, &req.uri, &req.headers, &req.body) {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

fn handle_inner(
    state: &Shared,
    peer: SocketAddr,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &str,
) -> Result<Value, ApiError> {
    let need = match (method.as_str(), uri.path()) {
        ("GET", "/api/v3/account" | "/api/v3/openOrders" | "/api/v3/myTrades" | "/api/v3/order") => Need::Read,
        ("POST" | "DELETE", "/api/v3/order") => Need::Trade,
        ("POST", "/sapi/v1/capital/withdraw/apply") => Need::Withdraw,
        _ => return Err(NOT_FOUND),
    };
    let api_key = headers.get("X-MBX-APIKEY").and_then(|v| v.to_str().ok()).ok_or(BAD_KEY_FORMAT)?;
    let mut st = lock(state);
    let now = st.now_ms();
    let account = st.accounts.get(api_key).filter(|a| a.spec.venue == Venue::Binance).ok_or(REJECTED)?;
    let spec = account.spec.clone();
    if !spec.allowed_ips.is_empty() && !spec.allowed_ips.contains(&peer.ip()) {
        return Err(REJECTED);
    }
    // Signature over the raw parameters, as sent, without `signature`.
    let (query_rest, sig_q) = strip_signature(uri.query().unwrap_or(""));
    let (body_rest, sig_b) = strip_signature(body);
    let signature = sig_q.or(sig_b).filter(|s| !s.is_empty()).ok_or(NO_SIGNATURE)?;
    let all = read_params(uri.query().unwrap_or(""), body)?;
    let timestamp: u64 = get(&all, "timestamp").and_then(|t| t.parse().ok()).ok_or(NO_TIMESTAMP)?;
    let recv_window: u64 = match get(&all, "recvWindow") {
        None => 5000,
        Some(w) => w.parse().map_err(|_| BAD_PARAM)?,
    };
    if recv_window > 60_000 {
        return Err(BAD_WINDOW);
    }
    if !(timestamp < now + 1000 && now.saturating_sub(timestamp) <= recv_window) {
        return Err(OUTSIDE_WINDOW);
    }
    let total = [query_rest.as_bytes(), body_rest.as_bytes()].concat();
    match &account.public_key {
        // A self-generated key: the signature is base64, URL-encoded ("Ed25519 keys" and
        // "RSA keys" in the docs' "Signed endpoint security"); the payload is the same.
        Some(key) => {
            let sig = params::decode(&signature)
                .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
                .ok_or(BAD_SIGNATURE)?;
            if !key.verifies(&total, &sig) {
                return Err(BAD_SIGNATURE);
            }
        }
        None => {
            let expected = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, spec.secret.as_bytes()), &total);
            let expected_hex: String = expected.as_ref().iter().map(|b| format!("{b:02x}")).collect();
            if !bool::from(expected_hex.as_bytes().ct_eq(signature.to_ascii_lowercase().as_bytes())) {
                return Err(BAD_SIGNATURE);
            }
        }
    }
    let allowed = match need {
        Need::Read => spec.permissions.read,
        Need::Trade => spec.permissions.trade,
        Need::Withdraw => spec.permissions.withdraw,
    };
    if !allowed {
        return Err(REJECTED);
    }
    match (method.as_str(), uri.path()) {
        ("GET", "/api/v3/account") => Ok(account_info(&st, api_key, now)),
        ("GET", "/api/v3/openOrders") => {
            let symbol = get(&all, "symbol");
            let a = &st.accounts[api_key];
            Ok(Value::Array(
                a.open_orders.iter().filter(|o| symbol.is_none_or(|s| s == o.symbol)).map(order_json).collect(),
            ))
        }
        ("GET", "/api/v3/myTrades") => {
            // "Account trade list": trades with id >= fromId, oldest first, `limit` (default 500, max 1000).
            let symbol = get(&all, "symbol").ok_or(BAD_PARAM)?;
            let from: u64 = get(&all, "fromId").map_or(Ok(0), str::parse).map_err(|_| BAD_PARAM)?;
            let limit: usize = get(&all, "limit").map_or(Ok(500), str::parse).map_err(|_| BAD_PARAM)?;
            if limit == 0 || limit > 1000 {
                return Err(BAD_PARAM);
            }
            let a = &st.accounts[api_key];
            let mut page: Vec<&Trade> = a.trades.iter().filter(|t| t.symbol == symbol && t.id >= from).collect();
            page.sort_by_key(|t| t.id);
            Ok(Value::Array(page.into_iter().take(limit).map(trade_json).collect()))
        }
        ("GET", "/api/v3/order") => query_order(&st, api_key, &all),
        ("POST", "/api/v3/order") => {
            let placed = new_order(&mut st, api_key, &order_intent(uri.query().unwrap_or(""), body)?, now)?;
            if let (Some(client), Some(id)) =
                (get(&all, "newClientOrderId"), placed.get("orderId").and_then(Value::as_u64))
            {
                let symbol = get(&all, "symbol").unwrap_or_default().to_owned();
                if let Some(a) = st.accounts.get_mut(api_key) {
                    a.client_ids.insert(client.to_owned(), (symbol, id));
                }
            }
            if st.lose_order_answers > 0 {
                st.lose_order_answers -= 1;
                return Err(STATUS_UNKNOWN);
            }
            Ok(placed)
        }
        ("DELETE", "/api/v3/order") => cancel_order(&mut st, api_key, &all),
        ("POST", "/sapi/v1/capital/withdraw/apply") => withdraw(&mut st, api_key, &all),
        _ => Err(NOT_FOUND),
    }
}

fn account_info(st: &crate::State, api_key: &str, now: u64) -> Value {
    let a = &st.accounts[api_key];
    let balances: Vec<Value> = a
        .balances
        .iter()
        .map(|(asset, (free, locked))| json!({"asset": asset, "free": free.to_string(), "locked": locked.to_string()}))
        .collect();
    json!({
        "makerCommission": 10, "takerCommission": 10, "buyerCommission": 0, "sellerCommission": 0,
        "canTrade": a.spec.permissions.trade, "canWithdraw": a.spec.permissions.withdraw, "canDeposit": true,
        "brokered": false, "requireSelfTradePrevention": false, "updateTime": now,
        "accountType": "SPOT", "balances": balances, "permissions": ["SPOT"],
    })
}

fn order_json(o: &Order) -> Value {
    json!({
        "symbol": o.symbol, "orderId": o.id, "orderListId": -1, "clientOrderId": format!("sandbox{}", o.id),
        "price": o.price.to_string(), "origQty": o.qty.to_string(), "executedQty": "0.00000000",
        "cummulativeQuoteQty": "0.00000000", "status": "NEW", "timeInForce": "GTC", "type": "LIMIT",
        "side": if o.side_buy { "BUY" } else { "SELL" }, "time": o.time, "updateTime": o.time, "isWorking": true,
    })
}

fn trade_json(t: &Trade) -> Value {
    json!({
        "symbol": t.symbol, "id": t.id, "orderId": t.order_id, "orderListId": -1,
        "price": t.price.to_string(), "qty": t.qty.to_string(), "quoteQty": t.price.times(t.qty).to_string(),
        "commission": "0.00000000", "commissionAsset": "BNB", "time": t.time,
        "isBuyer": t.side_buy, "isMaker": false, "isBestMatch": true,
    })
}

fn new_order(st: &mut crate::State, api_key: &str, o: &crate::OrderIntent, now: u64) -> Result<Value, ApiError> {
    let market = st.markets.iter().find(|m| m.symbol == o.symbol).cloned().ok_or(BAD_SYMBOL)?;
    let id = st.next_id();
    let a = st.accounts.get_mut(api_key).ok_or(REJECTED)?;
    let side = if o.side_buy { "BUY" } else { "SELL" };
    match (o.limit, o.size) {
        (None, size) => {
            let qty = match size {
                crate::IntentSize::Base(q) => q,
                crate::IntentSize::Quote(q) => q.divided_by(market.price),
            };
            let cost = a.fill_market(&market, o.side_buy, qty, id, now).map_err(|()| INSUFFICIENT)?;
            Ok(json!({
                "symbol": o.symbol, "orderId": id, "orderListId": -1, "clientOrderId": format!("sandbox{id}"),
                "transactTime": now, "price": "0.00000000", "origQty": qty.to_string(), "executedQty": qty.to_string(),
                "cummulativeQuoteQty": cost.to_string(), "status": "FILLED", "timeInForce": "GTC", "type": "MARKET",
                "side": side,
                "fills": [{"price": market.price.to_string(), "qty": qty.to_string(), "commission": "0.00000000", "commissionAsset": "BNB", "tradeId": id}],
            }))
        }
        (Some(price), crate::IntentSize::Base(qty)) => {
            let order = Order { id, symbol: o.symbol.clone(), side_buy: o.side_buy, price, qty, time: now };
            let mut v = order_json(a.place_limit(&market, order).map_err(|()| INSUFFICIENT)?);
            v["transactTime"] = now.into();
            Ok(v)
        }
        (Some(_), crate::IntentSize::Quote(_)) => Err(NOT_REQUIRED),
    }
}

/// "Query order (USER_DATA)": by `orderId` or `origClientOrderId`; an order that rests is
/// `NEW`, one with a trade `FILLED`, any other this account placed `CANCELED`.
fn query_order(st: &crate::State, api_key: &str, p: &[(String, String)]) -> Result<Value, ApiError> {
    let symbol = get(p, "symbol").ok_or(BAD_PARAM)?;
    let a = st.accounts.get(api_key).ok_or(REJECTED)?;
    let id = match (get(p, "orderId"), get(p, "origClientOrderId")) {
        (Some(id), _) => id.parse::<u64>().map_err(|_| BAD_PARAM)?,
        (None, Some(client)) => match a.client_ids.get(client) {
            Some((s, id)) if s == symbol => *id,
            _ => return Err(NO_SUCH_ORDER),
        },
        (None, None) => return Err(BAD_PARAM),
    };
    let client = a.client_ids.iter().find(|(_, (_, i))| *i == id).map(|(c, _)| c.clone());
    let mut v = if let Some(o) = a.open_orders.iter().find(|o| o.id == id && o.symbol == symbol) {
        order_json(o)
    } else if let Some(t) = a.trades.iter().find(|t| t.order_id == id && t.symbol == symbol) {
        let mut v = trade_json(t);
        v["status"] = "FILLED".into();
        v
    } else if client.is_some() {
        json!({"symbol": symbol, "orderId": id, "status": "CANCELED"})
    } else {
        return Err(NO_SUCH_ORDER);
    };
    v["orderId"] = id.into();
    if let Some(c) = client {
        v["clientOrderId"] = c.into();
    }
    Ok(v)
}

fn cancel_order(st: &mut crate::State, api_key: &str, p: &[(String, String)]) -> Result<Value, ApiError> {
    let symbol = get(p, "symbol").ok_or(BAD_PARAM)?.to_owned();
    let id: u64 = get(p, "orderId").and_then(|i| i.parse().ok()).ok_or(BAD_PARAM)?;
    if !st.markets.iter().any(|m| m.symbol == symbol) {
        return Err(BAD_SYMBOL);
    }
    let markets = st.markets.clone();
    let a = st.accounts.get_mut(api_key).ok_or(REJECTED)?;
    let o = a.cancel(&markets, |o| o.id == id && o.symbol == symbol).ok_or(UNKNOWN_ORDER)?;
    let mut v = order_json(&o);
    v["status"] = "CANCELED".into();
    Ok(v)
}

fn withdraw(st: &mut crate::State, api_key: &str, p: &[(String, String)]) -> Result<Value, ApiError> {
    let asset = get(p, "coin").ok_or(BAD_PARAM)?.to_owned();
    let address = get(p, "address").ok_or(BAD_PARAM)?.to_owned();
    let amount = get(p, "amount").and_then(Amount::parse).filter(|q| q.0 > 0).ok_or(BAD_PARAM)?;
    let id = st.next_id();
    let a = st.accounts.get_mut(api_key).ok_or(REJECTED)?;
    crate::take(&mut a.balances, &asset, amount).map_err(|()| INSUFFICIENT)?;
    st.withdrawals.push(Withdrawal { api_key: api_key.to_owned(), asset, address, amount });
    Ok(json!({"id": format!("sandbox-withdrawal-{id}")}))
}
