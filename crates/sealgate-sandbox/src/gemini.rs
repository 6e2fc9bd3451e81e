//! Gemini REST v1, verified as Gemini's "Private API invocation"
//! (developer.gemini.com/authentication/api-key; the same text on
//! docs.gemini.com → Private API Invocation) describes: every private call
//! is a POST whose JSON payload is not the body but travels base64-encoded
//! in `X-GEMINI-PAYLOAD`; `X-GEMINI-SIGNATURE` is
//! `hex(HMAC_SHA384(base64(payload), key=api_secret))`, taken "on the base64
//! string directly, with no normalization"; `X-GEMINI-APIKEY` is the key;
//! the payload includes `request` (the endpoint's path) and `nonce`. "All
//! requests must contain a nonce": without the key's "time based nonce"
//! option (the sandbox plays only that default) "a number that will never be
//! repeated and must increase between requests", per key ("session"). The
//! nonce may be a JSON number or a string of digits (the worked example sends
//! a number).
//!
//! Refusals ("Error Codes", developer.gemini.com/error-codes): HTTP 400 for
//! a malformed request or missing/malformed authentication headers, 403
//! "The API key is missing the role necessary", 404 unknown entry point or
//! order not found, 406 insufficient funds; the body is `{"result":
//! "error", "reason", "message"}`. Reasons used, from memory of that page's
//! table: `MissingApikeyHeader`, `MissingPayloadHeader`,
//! `MissingSignatureHeader`, `InvalidSignature`, `InvalidNonce`,
//! `EndpointMismatch` (the payload's `request` is not the path), `MissingRole`,
//! `InvalidJson`, `InvalidSymbol`, `InvalidQuantity`, `InvalidPrice`,
//! `InvalidSide`, `InvalidOrderType`, `InsufficientFunds`, `OrderNotFound`,
//! `ResourceNotFound`. Guessed (no stored doc): `InvalidApiKey` (400) for an
//! unknown key, `InvalidIpAddress` (403) for a request outside the key's IP
//! allow-list, `UnsupportedOption` (400, a sandbox refusal of order
//! `options` it does not play) and `InvalidRequest` (400) for parameters in
//! the body or the query string (the docs put them in the payload; refusing
//! keeps them from travelling unsigned). Signatures must be lowercase hex.
//!
//! Roles (memory of "Roles"): Trader places/cancels orders and reads,
//! Fund Manager withdraws, Auditor reads; mapped onto trade / withdraw /
//! read.
//!
//! Routes (memory of the v1 reference: "Get Available Balances", "Get Past
//! Trades", "Get Active Orders", "New Order", "Cancel Order", "Order
//! Status", "Withdraw Crypto Funds", and the public "Ticker"): `POST
//! /v1/balances`, `/v1/mytrades` (`symbol`, `limit_trades` default 50 at
//! most 500, `timestamp` in s or ms: trades at or after it, the oldest
//! `limit_trades` of them, else the most recent; always answered newest
//! first — the paging reading is the sandbox's), `/v1/orders`,
//! `/v1/order/new` (`type` `exchange limit` only: Gemini's API has no market
//! order; one that crosses the market fills at once at the market's price, as
//! a limit order meeting the book does, others rest), `/v1/order/cancel`,
//! `/v1/order/status` (open and closed orders) and
//! `/v1/withdraw/{currency}` (`address`, `amount`); public `GET
//! /v1/pubticker/{symbol}` (`bid`, `ask`, `last`, `volume` with the base and
//! quote currencies' 24 h volumes). Gemini v1 has no server-time endpoint.

use aws_lc_rs::hmac;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Map, Value, json};
use subtle::ConstantTimeEq as _;

use crate::{Amount, Incoming, IntentSize, Order, OrderIntent, Shared, Trade, Venue, Withdrawal, lock};

/// A refusal: HTTP status, `reason`, `message`.
pub(crate) struct ApiError(StatusCode, &'static str, pub(crate) &'static str);

const B: StatusCode = StatusCode::BAD_REQUEST;
const NO_KEY: ApiError = ApiError(B, "MissingApikeyHeader", "Missing X-GEMINI-APIKEY header");
const NO_PAYLOAD: ApiError = ApiError(B, "MissingPayloadHeader", "Missing X-GEMINI-PAYLOAD header");
const NO_SIGNATURE: ApiError = ApiError(B, "MissingSignatureHeader", "Missing X-GEMINI-SIGNATURE header");
const BAD_KEY: ApiError = ApiError(B, "InvalidApiKey", "Invalid API key");
const BAD_SIGN: ApiError = ApiError(B, "InvalidSignature", "InvalidSignature");
const BAD_JSON: ApiError = ApiError(B, "InvalidJson", "The payload is not a base64-encoded JSON object");
const MISMATCH: ApiError =
    ApiError(B, "EndpointMismatch", "The payload's request is not the endpoint the request was sent to");
const BAD_NONCE: ApiError = ApiError(B, "InvalidNonce", "Nonce must be increasing");
const IN_BODY: ApiError = ApiError(B, "InvalidRequest", "Parameters go in the X-GEMINI-PAYLOAD header");
const IP: ApiError = ApiError(StatusCode::FORBIDDEN, "InvalidIpAddress", "IP address not allowed for this key");
const ROLE: ApiError = ApiError(
    StatusCode::FORBIDDEN,
    "MissingRole",
    "The API key is missing the role necessary to access this private API endpoint",
);
const BAD_SYMBOL: ApiError = ApiError(B, "InvalidSymbol", "Invalid symbol");
const BAD_QTY: ApiError = ApiError(B, "InvalidQuantity", "Invalid quantity");
const BAD_PRICE: ApiError = ApiError(B, "InvalidPrice", "Invalid price");
const BAD_SIDE: ApiError = ApiError(B, "InvalidSide", "Invalid side");
const BAD_TYPE: ApiError = ApiError(B, "InvalidOrderType", "Invalid order type");
const OPTION: ApiError = ApiError(B, "UnsupportedOption", "The sandbox plays no order options");
const PARAMS: ApiError = ApiError(B, "InvalidRequest", "Invalid parameter");
const INSUFFICIENT: ApiError = ApiError(StatusCode::NOT_ACCEPTABLE, "InsufficientFunds", "Insufficient funds");
const NO_ORDER: ApiError = ApiError(StatusCode::NOT_FOUND, "OrderNotFound", "Order not found");
const NOT_FOUND: ApiError = ApiError(StatusCode::NOT_FOUND, "ResourceNotFound", "API entry point not found");

/// Whether `req` is Gemini's: it carries `X-GEMINI-APIKEY`, or is on `/v1/…`.
pub(crate) fn claims(req: &Incoming) -> bool {
    req.headers.contains_key("X-GEMINI-APIKEY") || req.uri.path().starts_with("/v1/")
}

pub(crate) fn handle(state: &Shared, req: &Incoming) -> Response {
    match handle_inner(state, req) {
        Ok(v) => axum::Json(v).into_response(),
        Err(ApiError(status, reason, message)) => {
            (status, axum::Json(json!({"result": "error", "reason": reason, "message": message}))).into_response()
        }
    }
}

#[derive(Clone, Copy)]
enum Need {
    Read,
    Trade,
    Withdraw,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The public "Ticker".
fn ticker(state: &Shared, symbol: &str) -> Result<Value, ApiError> {
    let st = lock(state);
    let m = st.markets.iter().find(|m| m.symbol == symbol).ok_or(BAD_SYMBOL)?;
    let default = Amount::parse(crate::DEFAULT_QUOTE_VOLUME).unwrap_or_default();
    let quote = st.volumes.get(symbol).copied().unwrap_or(default);
    let p = m.price.to_string();
    let mut volume = Map::new();
    volume.insert(m.base.clone(), json!(quote.divided_by(m.price).to_string()));
    volume.insert(m.quote.clone(), json!(quote.to_string()));
    volume.insert("timestamp".into(), json!(st.now_ms()));
    Ok(json!({"bid": p, "ask": p, "last": p, "volume": volume}))
}

fn handle_inner(state: &Shared, req: &Incoming) -> Result<Value, ApiError> {
    let path = req.uri.path();
    if req.method == axum::http::Method::GET {
        let symbol = path.strip_prefix("/v1/pubticker/").ok_or(NOT_FOUND)?;
        return ticker(state, symbol);
    }
    if req.method != axum::http::Method::POST {
        return Err(NOT_FOUND);
    }
    let need = match path {
        "/v1/balances" | "/v1/mytrades" | "/v1/orders" | "/v1/order/status" => Need::Read,
        "/v1/order/new" | "/v1/order/cancel" => Need::Trade,
        p if p.strip_prefix("/v1/withdraw/").is_some_and(|c| !c.is_empty() && !c.contains('/')) => Need::Withdraw,
        _ => return Err(NOT_FOUND),
    };
    let key = req.header("X-GEMINI-APIKEY").filter(|k| !k.is_empty()).ok_or(NO_KEY)?;
    let b64 = req.header("X-GEMINI-PAYLOAD").filter(|k| !k.is_empty()).ok_or(NO_PAYLOAD)?;
    let sign = req.header("X-GEMINI-SIGNATURE").filter(|k| !k.is_empty()).ok_or(NO_SIGNATURE)?;
    if !req.body.trim().is_empty() || req.uri.query().is_some_and(|q| !q.is_empty()) {
        return Err(IN_BODY);
    }
    let mut st = lock(state);
    let now = st.now_ms();
    let spec = st.accounts.get(key).filter(|a| a.spec.venue == Venue::Gemini).ok_or(BAD_KEY)?.spec.clone();
    let mac = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA384, spec.secret.as_bytes()), b64.as_bytes());
    if !bool::from(hex(mac.as_ref()).as_bytes().ct_eq(sign.as_bytes())) {
        return Err(BAD_SIGN);
    }
    let raw = base64::engine::general_purpose::STANDARD.decode(b64).map_err(|_| BAD_JSON)?;
    let p: Map<String, Value> = serde_json::from_slice(&raw).map_err(|_| BAD_JSON)?;
    if p.get("request").and_then(Value::as_str) != Some(path) {
        return Err(MISMATCH);
    }
    let nonce = match p.get("nonce") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) if !s.is_empty() && s.len() <= 19 && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()
        }
        _ => None,
    }
    .ok_or(BAD_NONCE)?;
    let account = st.accounts.get_mut(key).ok_or(BAD_KEY)?;
    if nonce <= account.last_nonce {
        return Err(BAD_NONCE);
    }
    account.last_nonce = nonce;
    if !spec.allowed_ips.is_empty() && !spec.allowed_ips.contains(&req.peer.ip()) {
        return Err(IP);
    }
    let allowed = match need {
        Need::Read => spec.permissions.read,
        Need::Trade => spec.permissions.trade,
        Need::Withdraw => spec.permissions.withdraw,
    };
    if !allowed {
        return Err(ROLE);
    }
    match path {
        "/v1/balances" => {
            let a = &st.accounts[key];
            Ok(Value::Array(
                a.balances
                    .iter()
                    .map(|(c, (free, locked))| {
                        json!({"type": "exchange", "currency": c, "amount": Amount(free.0 + locked.0).to_string(),
                               "available": free.to_string(), "availableForWithdrawal": free.to_string()})
                    })
                    .collect(),
            ))
        }
        "/v1/mytrades" => {
            let symbol = p.get("symbol").and_then(Value::as_str).ok_or(BAD_SYMBOL)?;
            let limit = match p.get("limit_trades") {
                None => 50,
                Some(v) => v.as_u64().filter(|l| (1..=500).contains(l)).ok_or(PARAMS)?,
            };
            // "timestamp": seconds or milliseconds (a value below 1e11 is read as seconds).
            let since = match p.get("timestamp") {
                None => None,
                Some(v) => {
                    let t = v.as_u64().ok_or(PARAMS)?;
                    Some(if t < 100_000_000_000 { t.saturating_mul(1000) } else { t })
                }
            };
            let a = &st.accounts[key];
            let mut all: Vec<&Trade> =
                a.trades.iter().filter(|t| t.symbol == symbol && since.is_none_or(|s| t.time >= s)).collect();
            all.sort_by_key(|t| (t.time, t.id));
            let n = usize::try_from(limit).unwrap_or(50);
            let mut page: Vec<&Trade> = if since.is_some() {
                all.into_iter().take(n).collect()
            } else {
                let skip = all.len().saturating_sub(n);
                all.into_iter().skip(skip).collect()
            };
            page.reverse();
            Ok(Value::Array(page.into_iter().map(|t| trade_json(t, &a.client_id_of(t.order_id))).collect()))
        }
        "/v1/orders" => {
            let a = &st.accounts[key];
            Ok(Value::Array(a.open_orders.iter().map(|o| order_json(o, &a.client_id_of(o.id), false)).collect()))
        }
        "/v1/order/status" => {
            let a = &st.accounts[key];
            let id = order_id(&p, a)?;
            if let Some(o) = a.open_orders.iter().find(|o| o.id == id) {
                return Ok(order_json(o, &a.client_id_of(o.id), false));
            }
            // "Order Status" answers closed orders too: one with a fill is done, any other
            // this account placed was cancelled (the sandbox keeps no record of its terms).
            let client = a.client_id_of(id);
            match a.trades.iter().find(|t| t.order_id == id) {
                Some(t) => {
                    let o = Order {
                        id,
                        symbol: t.symbol.clone(),
                        side_buy: t.side_buy,
                        price: t.price,
                        qty: t.qty,
                        time: t.time,
                    };
                    Ok(filled(order_json(&o, &client, false), t.price))
                }
                None => {
                    let (symbol, _) = a.client_ids.values().find(|(_, i)| *i == id).ok_or(NO_ORDER)?;
                    let o = Order {
                        id,
                        symbol: symbol.clone(),
                        side_buy: true,
                        price: Amount::ZERO,
                        qty: Amount::ZERO,
                        time: now,
                    };
                    Ok(order_json(&o, &client, true))
                }
            }
        }
        "/v1/order/new" => {
            let mut o = intent(&p)?;
            // An `exchange limit` order that crosses the market fills at once, at the market's
            // price (the sandbox has no book: its price stands for the best opposite order);
            // one that does not rests.
            let market = st.markets.iter().find(|m| m.symbol == o.symbol).map(|m| m.price);
            let crosses = match (o.limit, market) {
                (Some(limit), Some(price)) => {
                    if o.side_buy {
                        limit >= price
                    } else {
                        limit <= price
                    }
                }
                _ => false,
            };
            let limit_price = o.limit;
            if crosses {
                o.limit = None;
            }
            let client = match p.get("client_order_id") {
                None => String::new(),
                Some(Value::String(c)) if c.len() < 100 => c.clone(),
                Some(_) => return Err(PARAMS),
            };
            let (symbol, side_buy, limit, size) = (o.symbol.clone(), o.side_buy, o.limit, o.size);
            let id = st.execute(key, o, &client, now).map_err(|e| match e {
                crate::Unexecuted::Symbol => BAD_SYMBOL,
                crate::Unexecuted::Key => BAD_KEY,
                crate::Unexecuted::Funds => INSUFFICIENT,
                crate::Unexecuted::QuoteSizedLimit => BAD_QTY,
            })?;
            let (IntentSize::Base(qty) | IntentSize::Quote(qty)) = size;
            let price = limit.or(limit_price).unwrap_or_default();
            let order = Order { id, symbol, side_buy, price, qty, time: now };
            match market.filter(|_| crosses) {
                Some(at) => Ok(filled(order_json(&order, &client, false), at)),
                None => Ok(order_json(&order, &client, false)),
            }
        }
        "/v1/order/cancel" => {
            let markets = st.markets.clone();
            let a = st.accounts.get_mut(key).ok_or(BAD_KEY)?;
            let id = p.get("order_id").and_then(id_number).ok_or(PARAMS)?;
            let name = a.client_id_of(id);
            let o = a.cancel(&markets, |o| o.id == id).ok_or(NO_ORDER)?;
            Ok(order_json(&o, &name, true))
        }
        _ => {
            let currency = path.strip_prefix("/v1/withdraw/").ok_or(NOT_FOUND)?.to_ascii_uppercase();
            let address = p.get("address").and_then(Value::as_str).filter(|a| !a.is_empty()).ok_or(PARAMS)?;
            let address = address.to_owned();
            let amount =
                p.get("amount").and_then(Value::as_str).and_then(Amount::parse).filter(|a| a.0 > 0).ok_or(BAD_QTY)?;
            let id = st.next_id();
            let a = st.accounts.get_mut(key).ok_or(BAD_KEY)?;
            crate::take(&mut a.balances, &currency, amount).map_err(|()| INSUFFICIENT)?;
            st.withdrawals.push(Withdrawal {
                api_key: key.to_owned(),
                asset: currency,
                address: address.clone(),
                amount,
            });
            Ok(json!({"address": address, "amount": amount.to_string(), "withdrawalId": id.to_string(),
                      "message": "You have requested a transfer. It will be processed shortly."}))
        }
    }
}

/// An order id: the docs type it an integer; ccxt, which trades on Gemini, sends it as a
/// string of digits, which the exchange takes too (as it takes a nonce either way).
fn id_number(v: &Value) -> Option<u64> {
    match v {
        Value::String(s) if !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()) => s.parse().ok(),
        _ => v.as_u64(),
    }
}

/// `order_id` (an integer) or `client_order_id` ("Order Status").
fn order_id(p: &Map<String, Value>, a: &crate::Account) -> Result<u64, ApiError> {
    match (p.get("order_id"), p.get("client_order_id").and_then(Value::as_str)) {
        (Some(id), _) => id_number(id).ok_or(PARAMS),
        (None, Some(c)) => a.client_ids.get(c).map(|(_, id)| *id).ok_or(NO_ORDER),
        (None, None) => Err(PARAMS),
    }
}

/// The order of a `POST /v1/order/new` payload, as "New Order" documents it: `symbol`,
/// `amount` and `price` decimal strings, `side` `buy` | `sell`, `type` `exchange limit`
/// (stop-limit orders are not played), optional `client_order_id`; `options` (e.g.
/// `immediate-or-cancel`) are refused by the sandbox, which does not play them. A number
/// for `amount` or `price` is refused (never read through a float).
fn intent(p: &Map<String, Value>) -> Result<OrderIntent, ApiError> {
    let symbol = p.get("symbol").and_then(Value::as_str).filter(|s| !s.is_empty()).ok_or(BAD_SYMBOL)?.to_owned();
    let qty = p.get("amount").and_then(Value::as_str).and_then(Amount::parse).filter(|a| a.0 > 0).ok_or(BAD_QTY)?;
    let price = p.get("price").and_then(Value::as_str).and_then(Amount::parse).filter(|a| a.0 > 0).ok_or(BAD_PRICE)?;
    let side_buy = match p.get("side").and_then(Value::as_str) {
        Some("buy") => true,
        Some("sell") => false,
        _ => return Err(BAD_SIDE),
    };
    if p.get("type").and_then(Value::as_str) != Some("exchange limit") {
        return Err(BAD_TYPE);
    }
    match p.get("options") {
        None => {}
        Some(Value::Array(o)) if o.is_empty() => {}
        Some(_) => return Err(OPTION),
    }
    Ok(OrderIntent { symbol, side_buy, size: IntentSize::Base(qty), limit: Some(price) })
}

/// How Gemini reads the order of a request: from the base64 payload header (the body is
/// empty), as its handler does.
pub(crate) fn order_intent(payload_b64: &str) -> Result<OrderIntent, ApiError> {
    let raw = base64::engine::general_purpose::STANDARD.decode(payload_b64).map_err(|_| BAD_JSON)?;
    let p: Map<String, Value> = serde_json::from_slice(&raw).map_err(|_| BAD_JSON)?;
    intent(&p)
}

fn order_json(o: &Order, client: &str, cancelled: bool) -> Value {
    let mut v = json!({"order_id": o.id.to_string(), "id": o.id.to_string(), "symbol": o.symbol,
           "exchange": "gemini", "avg_execution_price": "0.00", "side": if o.side_buy { "buy" } else { "sell" },
           "type": "exchange limit", "timestamp": (o.time / 1000).to_string(), "timestampms": o.time,
           "is_live": !cancelled, "is_cancelled": cancelled, "is_hidden": false, "was_forced": false,
           "executed_amount": "0", "remaining_amount": o.qty.to_string(), "original_amount": o.qty.to_string(),
           "price": o.price.to_string(), "options": []});
    if !client.is_empty() {
        v["client_order_id"] = json!(client);
    }
    v
}

/// An order answer for an order filled in full at `at`.
fn filled(mut v: Value, at: Amount) -> Value {
    v["is_live"] = json!(false);
    v["avg_execution_price"] = json!(at.to_string());
    v["executed_amount"] = v["original_amount"].clone();
    v["remaining_amount"] = json!("0");
    v
}

fn trade_json(t: &Trade, client: &str) -> Value {
    let mut v = json!({"price": t.price.to_string(), "amount": t.qty.to_string(), "timestamp": t.time / 1000,
           "timestampms": t.time, "type": if t.side_buy { "Buy" } else { "Sell" }, "aggressor": true,
           "fee_currency": "", "fee_amount": "0", "tid": t.id, "order_id": t.order_id.to_string(),
           "exchange": "gemini", "is_auction_fill": false, "is_clearing_fill": false, "symbol": t.symbol});
    if !client.is_empty() {
        v["client_order_id"] = json!(client);
    }
    v
}
