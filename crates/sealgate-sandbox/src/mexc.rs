//! MEXC spot v3, verified as MEXC's "Spot V3 → General Info" describes:
//! the access key in the `X-MEXC-APIKEY` header; SIGNED endpoints carry
//! `timestamp` (Unix ms), optional `recvWindow` (default 5000, at most
//! 60000) and `signature`, the lowercase hex HMAC-SHA256 with the secret of
//! `totalParams`, "the query string concatenated with the request body"
//! (the `signature` pair left out, nothing else changed). "Timing
//! security": accepted when `timestamp < serverTime + 1000` and
//! `serverTime - timestamp <= recvWindow`.
//!
//! Parameters may be sent in the query string or in an
//! `application/x-www-form-urlencoded` body, mixed; a name in both is read
//! from the query string ("General Info"). The sandbox reads form bodies
//! only (the docs also allow a JSON body; what is then signed is not
//! spelled out, so a JSON body is refused with 33333), and refuses a name
//! repeated within one part (the docs say nothing; refusing is the safe
//! reading).
//!
//! Refusals are `{"code", "msg"}` with the codes of "Error Code": 400 "api
//! key required", 10072 "Api key info invalid", 700002 "Signature for this
//! request is not valid.", 700003 "Timestamp for this request is outside of
//! the recvWindow.", 700004 neither `orderId` nor `origClientOrderId`,
//! 700005 "recvWindow must less than 60000", 700006 IP not in the white
//! list, 700007 "No permission to access the endpoint.", 33333 parameter
//! error, -1121 invalid symbol, -2011 unknown order, 30004 insufficient
//! position (an order) and 10101 insufficient balance (a withdrawal). HTTP
//! status: 401 for authentication and permission refusals (the Chinese
//! "General Info": "HTTP 401 表示身份认证、权限错误"), 400 otherwise, 404 for an
//! unknown route.
//!
//! The public "Check Server Time" (`/api/v3/time`), "Symbol Price Ticker"
//! (`/api/v3/ticker/price`) and "24hr Ticker Price Change Statistics"
//! (`/api/v3/ticker/24hr`, `quoteVolume`) have the same paths and shapes as
//! Binance's, and are answered by the sandbox's shared public handlers.
//! Private: "Account Information" (`GET /api/v3/account`), "Account Trade
//! List" (`GET /api/v3/myTrades`, `symbol` required, `limit` 1..=100
//! default 100, `startTime`/`endTime` to page: from `startTime` the oldest
//! trades first, otherwise the most recent `limit`, oldest first), "Current
//! Open Orders" (`GET /api/v3/openOrders`), "New Order" (`POST
//! /api/v3/order`), "Query Order" (`GET /api/v3/order`, `symbol` and `orderId`
//! or `origClientOrderId`; an order the account never placed is -2011, which
//! "Error Code" says of a query or a cancel that finds no order), "Cancel
//! Order" (`DELETE /api/v3/order`) and "Withdraw"
//! (`POST /api/v3/capital/withdraw`, and the older
//! `/api/v3/capital/withdraw/apply`). A request carrying `X-MEXC-APIKEY`
//! is MEXC's; the withdraw paths are MEXC's whatever it carries.

use aws_lc_rs::hmac;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use subtle::ConstantTimeEq as _;

use crate::params::{self, get};
use crate::{Amount, Incoming, IntentSize, Order, OrderIntent, Shared, Trade, Venue, Withdrawal, lock};

/// A refusal: HTTP status, `code`, `msg`.
pub(crate) struct ApiError(StatusCode, i64, pub(crate) &'static str);

const UNAUTHORIZED: StatusCode = StatusCode::UNAUTHORIZED;
const B: StatusCode = StatusCode::BAD_REQUEST;
const KEY_REQUIRED: ApiError = ApiError(UNAUTHORIZED, 400, "api key required");
const BAD_KEY: ApiError = ApiError(UNAUTHORIZED, 10072, "Api key info invalid");
const BAD_SIGN: ApiError = ApiError(UNAUTHORIZED, 700002, "Signature for this request is not valid.");
const OUTSIDE_WINDOW: ApiError =
    ApiError(UNAUTHORIZED, 700003, "Timestamp for this request is outside of the recvWindow.");
const NO_ORDER_ID: ApiError =
    ApiError(B, 700004, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!");
const BAD_WINDOW: ApiError = ApiError(B, 700005, "recvWindow must less than 60000");
const IP: ApiError = ApiError(UNAUTHORIZED, 700006, "IP not in the ip white list");
const NO_PERMISSION: ApiError = ApiError(UNAUTHORIZED, 700007, "No permission to access the endpoint.");
const PARAMS: ApiError = ApiError(B, 33333, "Parameter error");
const JSON_BODY: ApiError = ApiError(B, 33333, "Parameter error: the sandbox reads form bodies only");
const BAD_SYMBOL: ApiError = ApiError(B, -1121, "Invalid symbol.");
const UNKNOWN_ORDER: ApiError = ApiError(B, -2011, "Unknown order sent.");
const INSUFFICIENT: ApiError = ApiError(B, 30004, "Insufficient position");
const WITHDRAW_INSUFFICIENT: ApiError = ApiError(B, 10101, "Insufficient balance");
const NOT_FOUND: ApiError = ApiError(StatusCode::NOT_FOUND, 404, "Not Found");

/// Whether `req` is MEXC's (checked before Binance's, whose paths it shares).
pub(crate) fn claims(req: &Incoming) -> bool {
    req.headers.contains_key("X-MEXC-APIKEY")
        || matches!(req.uri.path(), "/api/v3/capital/withdraw" | "/api/v3/capital/withdraw/apply")
}

pub(crate) fn handle(state: &Shared, req: &Incoming) -> Response {
    match handle_inner(state, req) {
        Ok(v) => axum::Json(v).into_response(),
        Err(ApiError(status, code, msg)) => (status, axum::Json(json!({"code": code, "msg": msg}))).into_response(),
    }
}

#[derive(Clone, Copy)]
enum Need {
    Read,
    Trade,
    Withdraw,
}

/// `raw` without its `signature=` pair (every other byte kept), and the signature.
/// More than one signature is refused.
fn without_signature(raw: &str) -> Result<(String, Option<&str>), ApiError> {
    if raw.is_empty() {
        return Ok((String::new(), None));
    }
    let mut sig = None;
    let mut rest = Vec::new();
    for part in raw.split('&') {
        match part.strip_prefix("signature=") {
            Some(s) if sig.is_none() => sig = Some(s),
            Some(_) => return Err(PARAMS),
            None => rest.push(part),
        }
    }
    Ok((rest.join("&"), sig))
}

/// The parameters as MEXC reads them: query first, then the form body; a name
/// repeated within one part is refused.
fn read_params(query: &str, body: &str) -> Result<Vec<(String, String)>, ApiError> {
    let q = params::parse(query).ok_or(PARAMS)?;
    let b = params::parse(body).ok_or(PARAMS)?;
    for part in [&q, &b] {
        for (i, (k, _)) in part.iter().enumerate() {
            if part[..i].iter().any(|(n, _)| n == k) {
                return Err(PARAMS);
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

/// Lowercase hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn handle_inner(state: &Shared, req: &Incoming) -> Result<Value, ApiError> {
    let path = req.uri.path();
    let query = req.uri.query().unwrap_or("");
    let need = match (req.method.as_str(), path) {
        ("GET", "/api/v3/account" | "/api/v3/myTrades" | "/api/v3/openOrders" | "/api/v3/order") => Need::Read,
        ("POST" | "DELETE", "/api/v3/order") => Need::Trade,
        ("POST", "/api/v3/capital/withdraw" | "/api/v3/capital/withdraw/apply") => Need::Withdraw,
        _ => return Err(NOT_FOUND),
    };
    let key = req.header("X-MEXC-APIKEY").filter(|k| !k.is_empty()).ok_or(KEY_REQUIRED)?;
    if req.body.trim_start().starts_with('{') {
        return Err(JSON_BODY);
    }
    let (signed_query, sig_q) = without_signature(query)?;
    let (signed_body, sig_b) = without_signature(&req.body)?;
    let sign = match (sig_q, sig_b) {
        (Some(s), None) | (None, Some(s)) => s,
        (None, None) => return Err(BAD_SIGN),
        (Some(_), Some(_)) => return Err(PARAMS),
    };
    let p = read_params(query, &req.body)?;
    let mut st = lock(state);
    let now = st.now_ms();
    let spec = st.accounts.get(key).filter(|a| a.spec.venue == Venue::Mexc).ok_or(BAD_KEY)?.spec.clone();
    let ts: u64 = get(&p, "timestamp").ok_or(PARAMS)?.parse().map_err(|_| PARAMS)?;
    let recv_window: u64 = get(&p, "recvWindow").map_or(Ok(5000), str::parse).map_err(|_| PARAMS)?;
    if recv_window > 60_000 {
        return Err(BAD_WINDOW);
    }
    if !(ts < now.saturating_add(1000) && now.saturating_sub(ts) <= recv_window) {
        return Err(OUTSIDE_WINDOW);
    }
    let total = format!("{signed_query}{signed_body}");
    let mac = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, spec.secret.as_bytes()), total.as_bytes());
    // "The signature is support lowercase only."
    if !bool::from(hex(mac.as_ref()).as_bytes().ct_eq(sign.as_bytes())) {
        return Err(BAD_SIGN);
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
    match (req.method.as_str(), path) {
        ("GET", "/api/v3/account") => {
            let a = &st.accounts[key];
            let balances: Vec<Value> = a
                .balances
                .iter()
                .map(|(c, (free, locked))| json!({"asset": c, "free": free.to_string(), "locked": locked.to_string()}))
                .collect();
            Ok(json!({"makerCommission": null, "takerCommission": null, "buyerCommission": null,
                      "sellerCommission": null, "canTrade": spec.permissions.trade,
                      "canWithdraw": spec.permissions.withdraw, "canDeposit": true, "updateTime": null,
                      "accountType": "SPOT", "balances": balances, "permissions": ["SPOT"]}))
        }
        ("GET", "/api/v3/myTrades") => {
            let symbol = get(&p, "symbol").ok_or(PARAMS)?;
            let order = get(&p, "orderId").map(str::parse::<u64>).transpose().map_err(|_| PARAMS)?;
            let start = get(&p, "startTime").map(str::parse::<u64>).transpose().map_err(|_| PARAMS)?;
            let end = get(&p, "endTime").map(str::parse::<u64>).transpose().map_err(|_| PARAMS)?;
            let limit: usize = get(&p, "limit").map_or(Ok(100), str::parse).map_err(|_| PARAMS)?;
            if limit == 0 || limit > 100 {
                return Err(PARAMS);
            }
            let a = &st.accounts[key];
            let mut all: Vec<&Trade> = a
                .trades
                .iter()
                .filter(|t| {
                    t.symbol == symbol
                        && order.is_none_or(|o| o == t.order_id)
                        && start.is_none_or(|s| t.time >= s)
                        && end.is_none_or(|e| t.time <= e)
                })
                .collect();
            all.sort_by_key(|t| (t.time, t.id));
            let page: Vec<&Trade> = if start.is_some() {
                all.into_iter().take(limit).collect()
            } else {
                let skip = all.len().saturating_sub(limit);
                all.into_iter().skip(skip).collect()
            };
            Ok(Value::Array(page.into_iter().map(|t| trade_json(t, &a.client_id_of(t.order_id))).collect()))
        }
        ("GET", "/api/v3/openOrders") => {
            let symbol = get(&p, "symbol").ok_or(PARAMS)?;
            let a = &st.accounts[key];
            Ok(Value::Array(
                a.open_orders
                    .iter()
                    .filter(|o| o.symbol == symbol)
                    .map(|o| order_json(o, &a.client_id_of(o.id)))
                    .collect(),
            ))
        }
        ("GET", "/api/v3/order") => query_order(&st.accounts[key], &p),
        ("POST", "/api/v3/order") => {
            let o = intent(&p)?;
            let client = get(&p, "newClientOrderId").unwrap_or("").to_owned();
            let (symbol, side_buy, limit) = (o.symbol.clone(), o.side_buy, o.limit);
            let (qty, quote) = match o.size {
                IntentSize::Base(q) => (q.to_string(), String::new()),
                IntentSize::Quote(q) => (String::new(), q.to_string()),
            };
            let id = st.execute(key, o, &client, now).map_err(|e| match e {
                crate::Unexecuted::Symbol => BAD_SYMBOL,
                crate::Unexecuted::Key => BAD_KEY,
                crate::Unexecuted::Funds => INSUFFICIENT,
                crate::Unexecuted::QuoteSizedLimit => PARAMS,
            })?;
            Ok(json!({"symbol": symbol, "orderId": id.to_string(), "orderListId": -1, "clientOrderId": client,
                      "price": limit.map(|p| p.to_string()).unwrap_or_default(), "origQty": qty,
                      "origQuoteOrderQty": quote, "type": if limit.is_some() { "LIMIT" } else { "MARKET" },
                      "side": if side_buy { "BUY" } else { "SELL" }, "transactTime": now}))
        }
        ("DELETE", "/api/v3/order") => {
            let symbol = get(&p, "symbol").ok_or(PARAMS)?.to_owned();
            let markets = st.markets.clone();
            if !markets.iter().any(|m| m.symbol == symbol) {
                return Err(BAD_SYMBOL);
            }
            let a = st.accounts.get_mut(key).ok_or(BAD_KEY)?;
            let id = match (get(&p, "orderId"), get(&p, "origClientOrderId")) {
                (Some(id), _) => id.parse::<u64>().map_err(|_| UNKNOWN_ORDER)?,
                (None, Some(c)) => {
                    a.client_ids.get(c).filter(|(s, _)| *s == symbol).map(|(_, id)| *id).ok_or(UNKNOWN_ORDER)?
                }
                (None, None) => return Err(NO_ORDER_ID),
            };
            let name = a.client_id_of(id);
            let o = a.cancel(&markets, |o| o.id == id && o.symbol == symbol).ok_or(UNKNOWN_ORDER)?;
            let mut v = order_json(&o, &name);
            v["status"] = json!("CANCELED");
            v["origClientOrderId"] = json!(name);
            Ok(v)
        }
        ("POST", _) => {
            // "Withdraw": `coin`, `address`, `amount` required; the network as
            // `netWork` (the current endpoint) or `network` (the older one).
            let coin = get(&p, "coin").filter(|c| !c.is_empty()).ok_or(PARAMS)?.to_owned();
            let address = get(&p, "address").filter(|c| !c.is_empty()).ok_or(PARAMS)?.to_owned();
            let amount = get(&p, "amount").and_then(Amount::parse).filter(|a| a.0 > 0).ok_or(PARAMS)?;
            let id = st.next_id();
            let a = st.accounts.get_mut(key).ok_or(BAD_KEY)?;
            crate::take(&mut a.balances, &coin, amount).map_err(|()| WITHDRAW_INSUFFICIENT)?;
            st.withdrawals.push(Withdrawal { api_key: key.to_owned(), asset: coin, address, amount });
            Ok(json!({"id": format!("mw{id}")}))
        }
        _ => Err(NOT_FOUND),
    }
}

/// "Query Order": the open order, or one the account placed that is no longer open
/// (`FILLED` when it traded, else `CANCELED`), by `orderId` or `origClientOrderId`.
fn query_order(a: &crate::Account, p: &[(String, String)]) -> Result<Value, ApiError> {
    let symbol = get(p, "symbol").ok_or(PARAMS)?;
    let id = match (get(p, "orderId"), get(p, "origClientOrderId")) {
        (Some(id), _) => id.parse::<u64>().map_err(|_| UNKNOWN_ORDER)?,
        (None, Some(c)) => a.client_ids.get(c).filter(|(s, _)| s == symbol).map(|(_, id)| *id).ok_or(UNKNOWN_ORDER)?,
        (None, None) => return Err(NO_ORDER_ID),
    };
    let client = a.client_id_of(id);
    if let Some(o) = a.open_orders.iter().find(|o| o.id == id && o.symbol == symbol) {
        return Ok(order_json(o, &client));
    }
    let status = if a.trades.iter().any(|t| t.order_id == id && t.symbol == symbol) {
        "FILLED"
    } else if !client.is_empty() {
        "CANCELED"
    } else {
        return Err(UNKNOWN_ORDER);
    };
    Ok(json!({"symbol": symbol, "orderId": id.to_string(), "orderListId": -1, "clientOrderId": client,
              "status": status}))
}

/// The order of a `POST /api/v3/order`, as MEXC documents "New Order": `symbol`,
/// `side` (BUY | SELL), `type`. A MARKET order is sized by `quantity` (base) or
/// `quoteOrderQty` (quote), exactly one of them, and takes no `price`; a LIMIT
/// order needs `quantity` and `price`. Other types (LIMIT_MAKER, IMMEDIATE_OR_CANCEL,
/// FILL_OR_KILL) are not played by the sandbox.
fn intent(p: &[(String, String)]) -> Result<OrderIntent, ApiError> {
    let symbol = get(p, "symbol").filter(|s| !s.is_empty()).ok_or(PARAMS)?.to_owned();
    let side_buy = match get(p, "side") {
        Some("BUY") => true,
        Some("SELL") => false,
        _ => return Err(PARAMS),
    };
    let amount = |name: &str| get(p, name).map(|v| Amount::parse(v).filter(|q| q.0 > 0).ok_or(PARAMS)).transpose();
    let (quantity, quote, price) = (amount("quantity")?, amount("quoteOrderQty")?, amount("price")?);
    match get(p, "type") {
        Some("MARKET") => {
            let size = match (quantity, quote, price) {
                (Some(q), None, None) => IntentSize::Base(q),
                (None, Some(q), None) => IntentSize::Quote(q),
                _ => return Err(PARAMS),
            };
            Ok(OrderIntent { symbol, side_buy, size, limit: None })
        }
        Some("LIMIT") => match (quantity, quote, price) {
            (Some(q), None, Some(price)) => {
                Ok(OrderIntent { symbol, side_buy, size: IntentSize::Base(q), limit: Some(price) })
            }
            _ => Err(PARAMS),
        },
        _ => Err(PARAMS),
    }
}

/// How MEXC reads the order of a request (raw query and body), as its handler does.
pub(crate) fn order_intent(query: &str, body: &str) -> Result<OrderIntent, ApiError> {
    if body.trim_start().starts_with('{') {
        return Err(JSON_BODY);
    }
    intent(&read_params(query, body)?)
}

fn order_json(o: &Order, client: &str) -> Value {
    json!({"symbol": o.symbol, "orderId": o.id.to_string(), "orderListId": -1, "clientOrderId": client,
           "price": o.price.to_string(), "origQty": o.qty.to_string(), "executedQty": "0",
           "cummulativeQuoteQty": "0", "status": "NEW", "timeInForce": "", "type": "LIMIT",
           "side": if o.side_buy { "BUY" } else { "SELL" }, "stopPrice": "", "icebergQty": "", "time": o.time,
           "updateTime": o.time, "isWorking": true, "origQuoteOrderQty": ""})
}

fn trade_json(t: &Trade, client: &str) -> Value {
    json!({"symbol": t.symbol, "id": t.id.to_string(), "orderId": t.order_id.to_string(), "orderListId": -1,
           "price": t.price.to_string(), "qty": t.qty.to_string(), "quoteQty": t.price.times(t.qty).to_string(),
           "commission": "0", "commissionAsset": "", "time": t.time, "isBuyer": t.side_buy, "isMaker": false,
           "isBestMatch": true, "isSelfTrade": false, "clientOrderId": client})
}
