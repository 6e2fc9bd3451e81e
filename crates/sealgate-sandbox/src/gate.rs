//! Gate API v4 (spot), verified as Gate's APIv4 documentation describes
//! ("Authentication → API Signature string generation"): headers `KEY`,
//! `Timestamp` (Unix seconds) and `SIGN`, the hex HMAC-SHA512 with the
//! secret of the signature string `METHOD + "\n" + URL path (with /api/v4) +
//! "\n" + query string + "\n" + HexEncode(SHA512(body)) + "\n" + Timestamp`,
//! the body hash being
//! that of the empty string when there is no body. The docs say the query
//! string is signed "without URL encode", in the order it has in the URL: the
//! sandbox checks the query bytes it received, as sent (a client that
//! percent-encodes its query must sign that same text). A `Timestamp` more
//! than 60 s from the server's clock is expired (REQUEST_EXPIRED, "gap
//! between request Timestamp and server time exceeds 60"); an older page of
//! the same docs (futures v1.2.0) said 15 minutes.
//!
//! Every refusal is `{"label", "message"}` with the documented labels
//! ("Error codes"): MISSING_REQUIRED_HEADER, INVALID_KEY, INVALID_SIGNATURE and
//! REQUEST_EXPIRED (HTTP 401), IP_FORBIDDEN, READ_ONLY (a write on a key
//! without trading permission) and FORBIDDEN (no permission for the
//! operation, e.g. a withdrawal) (HTTP 403), INVALID_PARAM_VALUE,
//! MISSING_REQUIRED_PARAM, INVALID_REQUEST_BODY, INVALID_CONTENT_TYPE,
//! INVALID_CURRENCY_PAIR, BALANCE_NOT_ENOUGH (HTTP 400), ORDER_NOT_FOUND and
//! NOT_FOUND (HTTP 404). Successes are the bare JSON the docs show (no
//! envelope); a created order answers HTTP 201.
//!
//! Public: "Get server current time" (`/api/v4/spot/time`) and "Retrieve
//! ticker information" (`/api/v4/spot/tickers`, `quote_volume` = 24 h quote
//! volume). Private: "List spot accounts" (`/api/v4/spot/accounts`), "List
//! personal trading history" (`/api/v4/spot/my_trades`, paginated by `page`
//! from 1 and `limit` 1..=1000, default 100, newest first), "List all open
//! orders" (`/api/v4/spot/open_orders`, `page`, `limit` 1..=100) and "List
//! orders" (`/api/v4/spot/orders?status=open`), "Create an order" (`POST
//! /api/v4/spot/orders`), "Cancel a single order" (`DELETE
//! /api/v4/spot/orders/{order_id}?currency_pair=…`) and "Withdraw" (`POST
//! /api/v4/withdrawals`).

use aws_lc_rs::{digest, hmac};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use subtle::ConstantTimeEq as _;

use crate::params::{self, get};
use crate::{Amount, Incoming, IntentSize, Order, OrderIntent, Shared, Trade, Venue, Withdrawal, lock};

/// A refusal: HTTP status, `label`, `message`.
pub(crate) struct ApiError(StatusCode, &'static str, pub(crate) &'static str);

const UNAUTHORIZED: StatusCode = StatusCode::UNAUTHORIZED;
const FORBIDDEN_STATUS: StatusCode = StatusCode::FORBIDDEN;
const B: StatusCode = StatusCode::BAD_REQUEST;
const MISSING_HEADER: ApiError =
    ApiError(UNAUTHORIZED, "MISSING_REQUIRED_HEADER", "Missing required authentication header");
const BAD_KEY: ApiError = ApiError(UNAUTHORIZED, "INVALID_KEY", "Invalid key provided");
const BAD_SIGN: ApiError = ApiError(UNAUTHORIZED, "INVALID_SIGNATURE", "Signature mismatch");
const EXPIRED: ApiError =
    ApiError(UNAUTHORIZED, "REQUEST_EXPIRED", "gap between request Timestamp and server time exceeds 60");
const IP: ApiError = ApiError(FORBIDDEN_STATUS, "IP_FORBIDDEN", "Request IP not in whitelist");
const READ_ONLY: ApiError = ApiError(FORBIDDEN_STATUS, "READ_ONLY", "API key is read-only");
const FORBIDDEN: ApiError = ApiError(FORBIDDEN_STATUS, "FORBIDDEN", "Account has no permission to request operation");
const PARAMS: ApiError = ApiError(B, "INVALID_PARAM_VALUE", "Invalid parameter value");
const MISSING_PARAM: ApiError = ApiError(B, "MISSING_REQUIRED_PARAM", "Missing required parameter");
const BAD_BODY: ApiError = ApiError(B, "INVALID_REQUEST_BODY", "Invalid request body");
const CONTENT_TYPE: ApiError = ApiError(B, "INVALID_CONTENT_TYPE", "Invalid Content-Type header");
const BAD_PAIR: ApiError = ApiError(B, "INVALID_CURRENCY_PAIR", "Invalid currency pair");
const INSUFFICIENT: ApiError = ApiError(B, "BALANCE_NOT_ENOUGH", "Not enough balance");
const ONLY_OPEN: ApiError = ApiError(B, "INVALID_PARAM_VALUE", "the sandbox lists status=open orders only");
const NO_ORDER: ApiError = ApiError(StatusCode::NOT_FOUND, "ORDER_NOT_FOUND", "Order not found");
const NOT_FOUND: ApiError = ApiError(StatusCode::NOT_FOUND, "NOT_FOUND", "Not found");

/// How far `Timestamp` may be from the server's clock, either way, in seconds.
const WINDOW_S: u64 = 60;

pub(crate) fn handle(state: &Shared, req: &Incoming) -> Response {
    match handle_inner(state, req) {
        Ok((status, v)) => (status, axum::Json(v)).into_response(),
        Err(ApiError(status, label, message)) => {
            (status, axum::Json(json!({"label": label, "message": message}))).into_response()
        }
    }
}

#[derive(Clone, Copy)]
enum Need {
    Read,
    Trade,
    Withdraw,
}

/// Lowercase hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn handle_inner(state: &Shared, req: &Incoming) -> Result<(StatusCode, Value), ApiError> {
    let path = req.uri.path();
    let query = req.uri.query().unwrap_or("");
    let ok = |v: Value| Ok((StatusCode::OK, v));
    let need = match (req.method.as_str(), path) {
        ("GET", "/api/v4/spot/time") => return ok(json!({"server_time": lock(state).now_ms()})),
        ("GET", "/api/v4/spot/tickers") => return tickers(state, query).map(|v| (StatusCode::OK, v)),
        (
            "GET",
            "/api/v4/spot/accounts" | "/api/v4/spot/my_trades" | "/api/v4/spot/open_orders" | "/api/v4/spot/orders",
        ) => Need::Read,
        ("POST", "/api/v4/spot/orders") => Need::Trade,
        ("DELETE", p) if p.strip_prefix("/api/v4/spot/orders/").is_some_and(|id| !id.is_empty()) => Need::Trade,
        ("POST", "/api/v4/withdrawals") => Need::Withdraw,
        _ => return Err(NOT_FOUND),
    };
    let header = |name: &str| req.header(name).filter(|v| !v.is_empty());
    let (Some(key), Some(ts_raw), Some(sign)) = (header("KEY"), header("Timestamp"), header("SIGN")) else {
        return Err(MISSING_HEADER);
    };
    let mut st = lock(state);
    let now_s = st.now_ms() / 1000;
    let spec = st.accounts.get(key).filter(|a| a.spec.venue == Venue::Gate).ok_or(BAD_KEY)?.spec.clone();
    // The docs' example timestamps are whole seconds; a fraction is taken too
    // (Python's `time.time()` in their sample signs one), its whole part checked.
    let whole =
        ts_raw.split_once('.').map_or(ts_raw, |(w, f)| if f.bytes().all(|b| b.is_ascii_digit()) { w } else { "" });
    let ts: u64 = whole.parse().map_err(|_| EXPIRED)?;
    if now_s.abs_diff(ts) > WINDOW_S {
        return Err(EXPIRED);
    }
    let body_hash = hex(digest::digest(&digest::SHA512, req.body.as_bytes()).as_ref());
    let text = format!("{}\n{path}\n{query}\n{body_hash}\n{ts_raw}", req.method.as_str());
    let mac = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA512, spec.secret.as_bytes()), text.as_bytes());
    if !bool::from(hex(mac.as_ref()).as_bytes().ct_eq(sign.to_ascii_lowercase().as_bytes())) {
        return Err(BAD_SIGN);
    }
    if !spec.allowed_ips.is_empty() && !spec.allowed_ips.contains(&req.peer.ip()) {
        return Err(IP);
    }
    match need {
        Need::Read if !spec.permissions.read => return Err(FORBIDDEN),
        Need::Trade if !spec.permissions.trade => return Err(READ_ONLY),
        Need::Withdraw if !spec.permissions.withdraw => return Err(FORBIDDEN),
        _ => {}
    }
    if req.method == Method::POST
        && !req.header("Content-Type").is_some_and(|c| c.trim().to_ascii_lowercase().starts_with("application/json"))
    {
        return Err(CONTENT_TYPE);
    }
    let q = params::parse(query).ok_or(PARAMS)?;
    let body: Map<String, Value> =
        if req.method == Method::POST { serde_json::from_str(&req.body).map_err(|_| BAD_BODY)? } else { Map::new() };
    let field = |k: &str| body.get(k).and_then(Value::as_str);
    let now = st.now_ms();
    match (req.method.as_str(), path) {
        ("GET", "/api/v4/spot/accounts") => {
            let currency = get(&q, "currency");
            let a = &st.accounts[key];
            let list: Vec<Value> = a
                .balances
                .iter()
                .filter(|(c, _)| currency.is_none_or(|want| want == c.as_str()))
                .map(|(c, (free, locked))| {
                    json!({"currency": c, "available": free.to_string(), "locked": locked.to_string(), "update_id": 1})
                })
                .collect();
            ok(Value::Array(list))
        }
        ("GET", "/api/v4/spot/my_trades") => {
            // Newest first; `currency_pair`, `order_id` (which needs the pair), `from` and
            // `to` (Unix seconds) filter; `page` and `limit` page.
            let pair = get(&q, "currency_pair");
            let order = get(&q, "order_id").map(str::parse::<u64>).transpose().map_err(|_| PARAMS)?;
            if order.is_some() && pair.is_none() {
                return Err(MISSING_PARAM);
            }
            let from = get(&q, "from").map(str::parse::<u64>).transpose().map_err(|_| PARAMS)?;
            let to = get(&q, "to").map(str::parse::<u64>).transpose().map_err(|_| PARAMS)?;
            let (skip, limit) = paging(&q, 1000)?;
            let a = &st.accounts[key];
            let mut all: Vec<&Trade> = a
                .trades
                .iter()
                .filter(|t| {
                    pair.is_none_or(|p| p == t.symbol)
                        && order.is_none_or(|o| o == t.order_id)
                        && from.is_none_or(|f| t.time / 1000 >= f)
                        && to.is_none_or(|e| t.time / 1000 <= e)
                })
                .collect();
            all.sort_by_key(|t| std::cmp::Reverse((t.time, t.id)));
            let list = all.into_iter().skip(skip).take(limit).map(|t| trade_json(t, &a.client_id_of(t.order_id)));
            ok(Value::Array(list.collect()))
        }
        ("GET", "/api/v4/spot/open_orders") => {
            // One entry per pair with open orders: `currency_pair`, `total`, `orders`
            // (`limit` applies to the orders of each pair).
            let (skip, limit) = paging(&q, 100)?;
            let a = &st.accounts[key];
            let mut pairs: Vec<&str> = a.open_orders.iter().map(|o| o.symbol.as_str()).collect();
            pairs.sort_unstable();
            pairs.dedup();
            let list: Vec<Value> = pairs
                .into_iter()
                .skip(skip)
                .map(|p| {
                    let orders: Vec<&Order> = a.open_orders.iter().filter(|o| o.symbol == p).collect();
                    let total = orders.len();
                    let orders: Vec<Value> =
                        orders.into_iter().take(limit).map(|o| order_json(o, &a.client_id_of(o.id), "open")).collect();
                    json!({"currency_pair": p, "total": total, "orders": orders})
                })
                .collect();
            ok(Value::Array(list))
        }
        ("GET", "/api/v4/spot/orders") => {
            // "List orders": `currency_pair` and `status` are required; the sandbox keeps
            // no finished orders, so it answers `status=open` only.
            let pair = get(&q, "currency_pair").ok_or(MISSING_PARAM)?;
            match get(&q, "status") {
                Some("open") => {}
                Some(_) => return Err(ONLY_OPEN),
                None => return Err(MISSING_PARAM),
            }
            let (skip, limit) = paging(&q, 100)?;
            let a = &st.accounts[key];
            let list = a
                .open_orders
                .iter()
                .filter(|o| o.symbol == pair)
                .skip(skip)
                .take(limit)
                .map(|o| order_json(o, &a.client_id_of(o.id), "open"));
            ok(Value::Array(list.collect()))
        }
        ("POST", "/api/v4/spot/orders") => {
            let o = order_intent(&req.body)?;
            let text = field("text").unwrap_or("").to_owned();
            let limit = o.limit;
            let (symbol, side_buy) = (o.symbol.clone(), o.side_buy);
            let market = st.markets.iter().find(|m| m.symbol == symbol).cloned();
            let size = o.size;
            let id = st.execute(key, o, &text, now).map_err(|e| match e {
                crate::Unexecuted::Symbol => BAD_PAIR,
                crate::Unexecuted::Key => BAD_KEY,
                crate::Unexecuted::Funds => INSUFFICIENT,
                crate::Unexecuted::QuoteSizedLimit => PARAMS,
            })?;
            let amount = match size {
                IntentSize::Base(a) | IntentSize::Quote(a) => a,
            };
            let (price, status, kind) = match (limit, market) {
                (Some(p), _) => (p, "open", "limit"),
                (None, Some(m)) => (m.price, "closed", "market"),
                (None, None) => (Amount::ZERO, "closed", "market"),
            };
            let order = Order { id, symbol, side_buy, price, qty: amount, time: now };
            let mut v = order_json(&order, &text, status);
            v["type"] = json!(kind);
            if kind == "market" {
                v["left"] = json!("0");
                v["time_in_force"] = json!(field("time_in_force").unwrap_or("ioc"));
            }
            Ok((StatusCode::CREATED, v))
        }
        ("DELETE", p) => {
            // "Cancel a single order": the order id in the path, `currency_pair` in the
            // query.
            let pair = get(&q, "currency_pair").ok_or(MISSING_PARAM)?;
            let id = p.strip_prefix("/api/v4/spot/orders/").unwrap_or("");
            let id: u64 = id.parse().map_err(|_| NO_ORDER)?;
            let markets = st.markets.clone();
            if !markets.iter().any(|m| m.symbol == pair) {
                return Err(BAD_PAIR);
            }
            let a = st.accounts.get_mut(key).ok_or(BAD_KEY)?;
            let name = a.client_id_of(id);
            let o = a.cancel(&markets, |o| o.id == id && o.symbol == pair).ok_or(NO_ORDER)?;
            ok(order_json(&o, &name, "cancelled"))
        }
        ("POST", "/api/v4/withdrawals") => {
            // "Withdraw": `currency`, `address`, `amount` (a string), `chain` required;
            // `withdraw_order_id` and `memo` optional.
            let currency = field("currency").filter(|c| !c.is_empty()).ok_or(MISSING_PARAM)?.to_owned();
            let address = field("address").filter(|c| !c.is_empty()).ok_or(MISSING_PARAM)?.to_owned();
            let chain = field("chain").filter(|c| !c.is_empty()).ok_or(MISSING_PARAM)?.to_owned();
            let amount = field("amount").and_then(Amount::parse).filter(|a| a.0 > 0).ok_or(PARAMS)?;
            let client = field("withdraw_order_id").unwrap_or("").to_owned();
            let id = st.next_id();
            let a = st.accounts.get_mut(key).ok_or(BAD_KEY)?;
            crate::take(&mut a.balances, &currency, amount).map_err(|()| INSUFFICIENT)?;
            st.withdrawals.push(Withdrawal {
                api_key: key.to_owned(),
                asset: currency.clone(),
                address: address.clone(),
                amount,
            });
            ok(
                json!({"id": format!("w{id}"), "txid": "", "withdraw_order_id": client, "timestamp": (now / 1000).to_string(),
                      "amount": amount.to_string(), "currency": currency, "address": address,
                      "memo": field("memo").unwrap_or(""), "status": "REQUEST", "chain": chain}),
            )
        }
        _ => Err(NOT_FOUND),
    }
}

/// `page` (from 1) and `limit` (1..=`max`; default `max` — 100 for the orders, 100 for
/// trades as documented) as (items to skip, items to take).
fn paging(q: &[(String, String)], max: usize) -> Result<(usize, usize), ApiError> {
    let page: usize = get(q, "page").map_or(Ok(1), str::parse).map_err(|_| PARAMS)?;
    let limit: usize = get(q, "limit").map_or(Ok(100), str::parse).map_err(|_| PARAMS)?;
    if page == 0 || limit == 0 || limit > max {
        return Err(PARAMS);
    }
    Ok(((page - 1).saturating_mul(limit), limit))
}

/// "Retrieve ticker information": one pair (`currency_pair`) or all.
fn tickers(state: &Shared, query: &str) -> Result<Value, ApiError> {
    let q = params::parse(query).ok_or(PARAMS)?;
    let pair = get(&q, "currency_pair");
    let st = lock(state);
    let default = Amount::parse(crate::DEFAULT_QUOTE_VOLUME).unwrap_or_default();
    let list: Vec<Value> = st
        .markets
        .iter()
        .filter(|m| pair.is_none_or(|p| p == m.symbol))
        .map(|m| {
            let quote = st.volumes.get(&m.symbol).copied().unwrap_or(default);
            let p = m.price.to_string();
            json!({"currency_pair": m.symbol, "last": p, "lowest_ask": p, "highest_bid": p, "change_percentage": "0",
                   "base_volume": quote.divided_by(m.price).to_string(), "quote_volume": quote.to_string(),
                   "high_24h": p, "low_24h": p})
        })
        .collect();
    if pair.is_some() && list.is_empty() {
        return Err(BAD_PAIR);
    }
    Ok(Value::Array(list))
}

/// Whether `text` is a valid client order id: `t-` and at most 28 bytes of `0-9A-Za-z_-.`.
fn valid_text(text: &str) -> bool {
    text.strip_prefix("t-").is_some_and(|rest| {
        rest.len() <= 28 && rest.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    })
}

/// The order of a `POST /api/v4/spot/orders`, as Gate documents "Create an order":
/// `currency_pair`, `side` ("buy" | "sell"), `type` ("limit", the default, or
/// "market"), `account` ("spot", the default), `amount` (a string), `text` (if sent,
/// `t-` and up to 28 more characters). A limit order needs `price` and is sized in the
/// base currency, `time_in_force` gtc (default), ioc, poc or fok. A market order
/// ignores `price`, takes `time_in_force` ioc (default) or fok only, and its `amount`
/// is in the quote currency for a buy and the base currency for a sell. A repeated
/// member: the last.
pub(crate) fn order_intent(body: &str) -> Result<OrderIntent, ApiError> {
    let b: Map<String, Value> = serde_json::from_str(body).map_err(|_| BAD_BODY)?;
    let field = |k: &str| -> Result<Option<&str>, ApiError> {
        match b.get(k) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(PARAMS),
        }
    };
    let symbol = field("currency_pair")?.filter(|s| !s.is_empty()).ok_or(MISSING_PARAM)?.to_owned();
    let side_buy = match field("side")? {
        Some("buy") => true,
        Some("sell") => false,
        None => return Err(MISSING_PARAM),
        Some(_) => return Err(PARAMS),
    };
    if !matches!(field("account")?, None | Some("spot")) {
        return Err(PARAMS);
    }
    if field("text")?.is_some_and(|t| !valid_text(t)) {
        return Err(PARAMS);
    }
    let amount = field("amount")?.ok_or(MISSING_PARAM)?;
    let amount = Amount::parse(amount).filter(|a| a.0 > 0).ok_or(PARAMS)?;
    let tif = field("time_in_force")?;
    match field("type")?.unwrap_or("limit") {
        "market" => {
            if !matches!(tif, None | Some("ioc" | "fok")) {
                return Err(PARAMS);
            }
            let size = if side_buy { IntentSize::Quote(amount) } else { IntentSize::Base(amount) };
            Ok(OrderIntent { symbol, side_buy, size, limit: None })
        }
        "limit" => {
            if !matches!(tif, None | Some("gtc" | "ioc" | "poc" | "fok")) {
                return Err(PARAMS);
            }
            let price = field("price")?.ok_or(MISSING_PARAM)?;
            let price = Amount::parse(price).filter(|a| a.0 > 0).ok_or(PARAMS)?;
            Ok(OrderIntent { symbol, side_buy, size: IntentSize::Base(amount), limit: Some(price) })
        }
        _ => Err(PARAMS),
    }
}

fn order_json(o: &Order, text: &str, status: &str) -> Value {
    let secs = (o.time / 1000).to_string();
    json!({"id": o.id.to_string(), "text": text, "create_time": secs, "update_time": secs,
           "create_time_ms": o.time, "update_time_ms": o.time, "status": status, "currency_pair": o.symbol,
           "type": "limit", "account": "spot", "side": if o.side_buy { "buy" } else { "sell" },
           "amount": o.qty.to_string(), "price": o.price.to_string(), "time_in_force": "gtc",
           "left": if status == "open" { o.qty.to_string() } else { "0".to_owned() },
           "filled_total": "0", "fee": "0", "fee_currency": "", "point_fee": "0", "gt_fee": "0"})
}

fn trade_json(t: &Trade, text: &str) -> Value {
    json!({"id": t.id.to_string(), "create_time": (t.time / 1000).to_string(),
           "create_time_ms": format!("{}.000", t.time), "currency_pair": t.symbol,
           "side": if t.side_buy { "buy" } else { "sell" }, "role": "taker", "amount": t.qty.to_string(),
           "price": t.price.to_string(), "order_id": t.order_id.to_string(), "fee": "0", "fee_currency": "",
           "point_fee": "0", "gt_fee": "0", "text": text})
}
