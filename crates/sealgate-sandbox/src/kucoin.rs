//! KuCoin spot (classic REST), verified as KuCoin's API documentation
//! describes ("Authentication" of the new docs, and "Basic Info →
//! Connection Method → Authentication → Signing a Message"): headers
//! `KC-API-KEY`, `KC-API-SIGN`, `KC-API-TIMESTAMP` (Unix ms),
//! `KC-API-PASSPHRASE` and `KC-API-KEY-VERSION`. `KC-API-SIGN` is the
//! base64 HMAC-SHA256, with the secret, of `timestamp + METHOD + endpoint +
//! body`, where the endpoint carries the query string
//! (`/api/v1/deposit-addresses?currency=XBT`) and the body is the raw JSON
//! body ("" when there is none). The new docs add that the signed URL is the
//! one *not* URL-encoded (`passphrase=abc%21%40%2311` is signed as
//! `passphrase=abc!@#11`): the sandbox percent-decodes the query it received
//! (`%XX` only; a `+` stays a `+`, the docs say nothing of it) before
//! checking the signature. A consequence the docs imply: `a=1%26b=2` and
//! `a=1&b=2` sign alike.
//!
//! Key versions 2 and 3 send `KC-API-PASSPHRASE` as the base64 HMAC-SHA256 of
//! the passphrase with the secret (version 1 sent it in clear; such keys
//! were retired in 2021). The sandbox's KuCoin keys are version 2/3 keys: a
//! `KC-API-KEY-VERSION` other than `2` or `3` (or none) is refused with
//! 400009. The timestamp must be within 5 s of the server's clock ("Spot
//! errors code": 400002, "the request time differs from the server's by
//! more than 5 seconds").
//!
//! Every answer is `{"code", "data"}` with code "200000" on success, and
//! `{"code", "msg"}` otherwise, with the documented codes ("Errors code" /
//! "Gateway error code"): 400001 a KC-API-* header missing, 400002 timestamp
//! invalid, 400003 key does not exist, 400004 passphrase error, 400005
//! signature error, 400006 IP not in the allow-list, 400007 access denied
//! (permission), 400009 invalid key version, 400100 parameter error, 404000
//! URL not found, 415000 a POST that is not `application/json`, 200004
//! balance insufficient. A cancel of an order that is not open answers
//! 400100 `order_not_exist_or_not_allow_to_cancel` (what KuCoin answers in
//! practice; no doc page lists it). HTTP statuses: 401 for authentication
//! failures, 403 for the IP and permission refusals, 404, 415, 400 for
//! parameter errors and 200 for business refusals (insufficient balance):
//! the docs' "HTTP Status Codes" table lists 400/401/403/404/415 but does not
//! map each code to one; that mapping is the sandbox's.
//!
//! Public: "Get Server Time" (`/api/v1/timestamp`), "Get Ticker"
//! (`/api/v1/market/orderbook/level1`) and "Get 24hr Stats"
//! (`/api/v1/market/stats`, `volValue` = 24 h quote volume). Private:
//! "Get Account List" (`/api/v1/accounts`; the sandbox account is one
//! `trade` account), "Get Filled List" (`/api/v1/fills`) and "Get Order
//! List" (`/api/v1/orders?status=active`), both paginated as "Pagination"
//! describes (`currentPage` from 1, `pageSize` 10..=500, default 50; the
//! answer has `currentPage`, `pageSize`, `totalNum`, `totalPage`, `items`,
//! newest first), "Place Order" (`POST /api/v1/orders`), "Cancel Order"
//! (`DELETE /api/v1/orders/{orderId}`), "Cancel Order by clientOid"
//! (`DELETE /api/v1/order/client-order/{clientOid}`), and "Apply Withdraw"
//! (`POST /api/v1/withdrawals`, `address`) and "Apply Withdraw (V3)"
//! (`POST /api/v3/withdrawals`, `toAddress`), which need the key's
//! withdrawal ("Transfer") permission.

use aws_lc_rs::hmac;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Map, Value, json};
use subtle::ConstantTimeEq as _;

use crate::params::{self, get};
use crate::{Amount, Incoming, IntentSize, Order, OrderIntent, Shared, Trade, Venue, Withdrawal, lock};

/// A refusal: HTTP status, `code`, `msg`.
pub(crate) struct ApiError(StatusCode, &'static str, pub(crate) &'static str);

const UNAUTHORIZED: StatusCode = StatusCode::UNAUTHORIZED;
const FORBIDDEN: StatusCode = StatusCode::FORBIDDEN;
const B: StatusCode = StatusCode::BAD_REQUEST;
const MISSING: ApiError = ApiError(
    UNAUTHORIZED,
    "400001",
    "Any of KC-API-KEY, KC-API-SIGN, KC-API-TIMESTAMP, KC-API-PASSPHRASE is missing in your request header.",
);
const BAD_TIMESTAMP: ApiError = ApiError(UNAUTHORIZED, "400002", "Invalid KC-API-TIMESTAMP.");
const BAD_KEY: ApiError = ApiError(UNAUTHORIZED, "400003", "KC-API-KEY does not exist.");
const BAD_PASSPHRASE: ApiError = ApiError(UNAUTHORIZED, "400004", "Invalid KC-API-PASSPHRASE.");
const BAD_SIGN: ApiError = ApiError(UNAUTHORIZED, "400005", "Invalid KC-API-SIGN.");
const IP: ApiError = ApiError(FORBIDDEN, "400006", "Invalid request IP.");
const NO_PERMISSION: ApiError = ApiError(FORBIDDEN, "400007", "Access denied, requires more permission.");
const BAD_VERSION: ApiError = ApiError(UNAUTHORIZED, "400009", "Invalid KC-API-KEY-VERSION.");
const PARAMS: ApiError = ApiError(B, "400100", "Parameter Error");
const BAD_SYMBOL: ApiError = ApiError(B, "400100", "Parameter Error: symbol does not exist");
const ONLY_ACTIVE: ApiError = ApiError(B, "400100", "Parameter Error: the sandbox lists status=active orders only");
const NO_ORDER: ApiError = ApiError(B, "400100", "order_not_exist_or_not_allow_to_cancel");
const CONTENT_TYPE: ApiError = ApiError(StatusCode::UNSUPPORTED_MEDIA_TYPE, "415000", "Unsupported Media Type");
const INSUFFICIENT: ApiError = ApiError(StatusCode::OK, "200004", "Balance insufficient!");
const NOT_FOUND: ApiError = ApiError(StatusCode::NOT_FOUND, "404000", "Url Not Found");

/// How far `KC-API-TIMESTAMP` may be from the server's clock, either way.
const WINDOW_MS: u64 = 5_000;

pub(crate) fn handle(state: &Shared, req: &Incoming) -> Response {
    match handle_inner(state, req) {
        Ok(v) => axum::Json(json!({"code": "200000", "data": v})).into_response(),
        Err(ApiError(status, code, msg)) => (status, axum::Json(json!({"code": code, "msg": msg}))).into_response(),
    }
}

#[derive(Clone, Copy)]
enum Need {
    Read,
    Trade,
    Withdraw,
}

/// Percent-decode `s` (`%XX` only), as the docs have the query signed; `None` if an
/// escape is malformed or the result is not UTF-8.
fn percent_decoded(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A decimal from a JSON string, or from a JSON number (the withdrawal docs type
/// `amount` as a number) when its shortest form has at most 15 significant digits, so
/// that it is exactly the decimal that was sent (an `f64` round-trips those).
fn decimal(v: Option<&Value>) -> Option<Amount> {
    match v? {
        Value::String(s) => Amount::parse(s),
        Value::Number(n) => {
            let text = n.to_string();
            let digits = text.trim_start_matches(['0', '.']).bytes().filter(u8::is_ascii_digit).count();
            if digits > 15 { None } else { Amount::parse(&text) }
        }
        _ => None,
    }
}

fn handle_inner(state: &Shared, req: &Incoming) -> Result<Value, ApiError> {
    let path = req.uri.path();
    let query = req.uri.query().unwrap_or("");
    let need = match (req.method.as_str(), path) {
        ("GET", "/api/v1/timestamp") => return Ok(json!(lock(state).now_ms())),
        ("GET", "/api/v1/market/orderbook/level1" | "/api/v1/market/stats") => return ticker(state, path, query),
        ("GET", "/api/v1/accounts" | "/api/v1/fills" | "/api/v1/orders") => Need::Read,
        ("POST", "/api/v1/orders") => Need::Trade,
        ("DELETE", p) if p.starts_with("/api/v1/orders/") || p.starts_with("/api/v1/order/client-order/") => {
            Need::Trade
        }
        ("POST", "/api/v1/withdrawals" | "/api/v3/withdrawals") => Need::Withdraw,
        _ => return Err(NOT_FOUND),
    };
    let header = |name: &str| req.header(name).filter(|v| !v.is_empty());
    let (Some(key), Some(sign), Some(ts_raw), Some(passphrase)) =
        (header("KC-API-KEY"), header("KC-API-SIGN"), header("KC-API-TIMESTAMP"), header("KC-API-PASSPHRASE"))
    else {
        return Err(MISSING);
    };
    let mut st = lock(state);
    let now = st.now_ms();
    let spec = st.accounts.get(key).filter(|a| a.spec.venue == Venue::Kucoin).ok_or(BAD_KEY)?.spec.clone();
    if !matches!(header("KC-API-KEY-VERSION"), Some("2" | "3")) {
        return Err(BAD_VERSION);
    }
    let ts: u64 = ts_raw.parse().map_err(|_| BAD_TIMESTAMP)?;
    if now.abs_diff(ts) > WINDOW_MS {
        return Err(BAD_TIMESTAMP);
    }
    let hmac_key = hmac::Key::new(hmac::HMAC_SHA256, spec.secret.as_bytes());
    let b64 = |text: &str| base64::engine::general_purpose::STANDARD.encode(hmac::sign(&hmac_key, text.as_bytes()));
    let want = spec.passphrase.as_deref().unwrap_or("");
    if want.is_empty() || !bool::from(b64(want).as_bytes().ct_eq(passphrase.as_bytes())) {
        return Err(BAD_PASSPHRASE);
    }
    let endpoint =
        if query.is_empty() { path.to_owned() } else { format!("{path}?{}", percent_decoded(query).ok_or(BAD_SIGN)?) };
    let prehash = format!("{ts_raw}{}{endpoint}{}", req.method.as_str(), req.body);
    if !bool::from(b64(&prehash).as_bytes().ct_eq(sign.as_bytes())) {
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
    if req.method == Method::POST
        && !req.header("Content-Type").is_some_and(|c| c.trim().to_ascii_lowercase().starts_with("application/json"))
    {
        return Err(CONTENT_TYPE);
    }
    let q = params::parse(query).ok_or(PARAMS)?;
    let body: Map<String, Value> =
        if req.method == Method::POST { serde_json::from_str(&req.body).map_err(|_| PARAMS)? } else { Map::new() };
    let field = |k: &str| body.get(k).and_then(Value::as_str);
    match (req.method.as_str(), path) {
        ("GET", "/api/v1/accounts") => {
            // "Get Account List": `currency` and `type` filter; the sandbox has one
            // `trade` account per currency.
            let currency = get(&q, "currency");
            if get(&q, "type").is_some_and(|t| t != "trade") {
                return Ok(json!([]));
            }
            let a = &st.accounts[key];
            let list: Vec<Value> = a
                .balances
                .iter()
                .filter(|(c, _)| currency.is_none_or(|want| want == c.as_str()))
                .map(|(c, (free, locked))| {
                    json!({"id": format!("{key}-{c}"), "currency": c, "type": "trade",
                           "balance": Amount(free.0 + locked.0).to_string(),
                           "available": free.to_string(), "holds": locked.to_string()})
                })
                .collect();
            Ok(Value::Array(list))
        }
        ("GET", "/api/v1/fills") => {
            // "Get Filled List": newest first; `orderId` (which overrides the other
            // filters), `symbol`, `side`; spot only (`tradeType` TRADE, the default).
            if get(&q, "tradeType").is_some_and(|t| t != "TRADE") {
                return Err(PARAMS);
            }
            let order = get(&q, "orderId").map(str::parse::<u64>).transpose().map_err(|_| PARAMS)?;
            let symbol = get(&q, "symbol");
            let side = match get(&q, "side") {
                None => None,
                Some("buy") => Some(true),
                Some("sell") => Some(false),
                Some(_) => return Err(PARAMS),
            };
            // `startAt`/`endAt` (ms): a window of at most 7 days; with one of them, the 7
            // days after or before it; with neither, the last 7 days (KuCoin's documented
            // rules; `orderId` overrides them as it does the other filters).
            const WEEK: u64 = 7 * 86_400_000;
            let ms = |k| get(&q, k).map(str::parse::<u64>).transpose().map_err(|_| PARAMS);
            let (start, end) = match (ms("startAt")?, ms("endAt")?) {
                (Some(s), Some(e)) if e >= s && e - s <= WEEK => (s, e),
                (Some(_), Some(_)) => return Err(PARAMS),
                (Some(s), None) => (s, s.saturating_add(WEEK)),
                (None, Some(e)) => (e.saturating_sub(WEEK), e),
                (None, None) => (now.saturating_sub(WEEK), now),
            };
            let a = &st.accounts[key];
            let mut all: Vec<&Trade> = a
                .trades
                .iter()
                .filter(|t| match order {
                    Some(o) => t.order_id == o,
                    None => {
                        symbol.is_none_or(|s| s == t.symbol)
                            && side.is_none_or(|b| b == t.side_buy)
                            && (start..=end).contains(&t.time)
                    }
                })
                .collect();
            all.sort_by_key(|t| std::cmp::Reverse((t.time, t.id)));
            page(&q, all, fill_json)
        }
        ("GET", "/api/v1/orders") => {
            // "Get Order List": `status` "active" or "done" ("done" by default); the
            // sandbox keeps no finished orders, so it answers the active ones only.
            if get(&q, "status") != Some("active") {
                return Err(ONLY_ACTIVE);
            }
            let symbol = get(&q, "symbol");
            let a = &st.accounts[key];
            let mut all: Vec<(&Order, String)> = a
                .open_orders
                .iter()
                .filter(|o| symbol.is_none_or(|s| s == o.symbol))
                .map(|o| (o, a.client_id_of(o.id)))
                .collect();
            all.sort_by_key(|(o, _)| std::cmp::Reverse((o.time, o.id)));
            page(&q, all, |(o, c)| order_json(o, c))
        }
        ("POST", "/api/v1/orders") => {
            let o = order_intent(&req.body)?;
            let client = field("clientOid").unwrap_or("").to_owned();
            let id = st.execute(key, o, &client, now).map_err(|e| match e {
                crate::Unexecuted::Symbol => BAD_SYMBOL,
                crate::Unexecuted::Key => BAD_KEY,
                crate::Unexecuted::Funds => INSUFFICIENT,
                crate::Unexecuted::QuoteSizedLimit => PARAMS,
            })?;
            Ok(json!({"orderId": id.to_string()}))
        }
        ("DELETE", p) => {
            let markets = st.markets.clone();
            let a = st.accounts.get_mut(key).ok_or(BAD_KEY)?;
            if let Some(id) = p.strip_prefix("/api/v1/orders/") {
                // "Cancel Order": by the order id in the path.
                let id: u64 = id.parse().map_err(|_| NO_ORDER)?;
                let o = a.cancel(&markets, |o| o.id == id).ok_or(NO_ORDER)?;
                Ok(json!({"cancelledOrderIds": [o.id.to_string()]}))
            } else {
                // "Cancel Order by clientOid".
                let client = p.strip_prefix("/api/v1/order/client-order/").unwrap_or("");
                let client = percent_decoded(client).ok_or(PARAMS)?;
                let id = a.client_ids.get(&client).map(|(_, id)| *id).ok_or(NO_ORDER)?;
                let o = a.cancel(&markets, |o| o.id == id).ok_or(NO_ORDER)?;
                Ok(json!({"cancelledOrderId": o.id.to_string(), "clientOid": client}))
            }
        }
        ("POST", "/api/v1/withdrawals" | "/api/v3/withdrawals") => {
            // "Apply Withdraw": `currency`, `address` (v1) or `toAddress` (v3, with
            // `withdrawType` ADDRESS, UID, MAIL or PHONE), `amount` (a number).
            let currency = field("currency").filter(|c| !c.is_empty()).ok_or(PARAMS)?.to_owned();
            let address = if path == "/api/v1/withdrawals" {
                field("address")
            } else {
                if !matches!(field("withdrawType"), None | Some("ADDRESS" | "UID" | "MAIL" | "PHONE")) {
                    return Err(PARAMS);
                }
                field("toAddress")
            };
            let address = address.filter(|c| !c.is_empty()).ok_or(PARAMS)?.to_owned();
            let amount = decimal(body.get("amount")).filter(|a| a.0 > 0).ok_or(PARAMS)?;
            let id = st.next_id();
            let a = st.accounts.get_mut(key).ok_or(BAD_KEY)?;
            crate::take(&mut a.balances, &currency, amount).map_err(|()| INSUFFICIENT)?;
            st.withdrawals.push(Withdrawal { api_key: key.to_owned(), asset: currency, address, amount });
            Ok(json!({"withdrawalId": id.to_string()}))
        }
        _ => Err(NOT_FOUND),
    }
}

/// One page of `items` (already in order) as "Pagination" describes it.
fn page<T>(q: &[(String, String)], items: Vec<T>, render: impl Fn(T) -> Value) -> Result<Value, ApiError> {
    let current: usize = get(q, "currentPage").map_or(Ok(1), str::parse).map_err(|_| PARAMS)?;
    let size: usize = get(q, "pageSize").map_or(Ok(50), str::parse).map_err(|_| PARAMS)?;
    if current == 0 || !(10..=500).contains(&size) {
        return Err(PARAMS);
    }
    let total = items.len();
    let skip = (current - 1).saturating_mul(size);
    let list: Vec<Value> = items.into_iter().skip(skip).take(size).map(render).collect();
    Ok(json!({"currentPage": current, "pageSize": size, "totalNum": total, "totalPage": total.div_ceil(size),
              "items": list}))
}

/// "Get Ticker" (level 1) and "Get 24hr Stats" of one `symbol`, at the market price.
fn ticker(state: &Shared, path: &str, query: &str) -> Result<Value, ApiError> {
    let q = params::parse(query).ok_or(PARAMS)?;
    let symbol = get(&q, "symbol").ok_or(PARAMS)?;
    let st = lock(state);
    let now = st.now_ms();
    let m = st.markets.iter().find(|m| m.symbol == symbol).ok_or(BAD_SYMBOL)?;
    let p = m.price.to_string();
    if path == "/api/v1/market/orderbook/level1" {
        return Ok(json!({"time": now, "sequence": "1", "price": p, "size": "0.001", "bestBid": p,
                         "bestBidSize": "1", "bestAsk": p, "bestAskSize": "1"}));
    }
    let default = Amount::parse(crate::DEFAULT_QUOTE_VOLUME).unwrap_or_default();
    let quote = st.volumes.get(symbol).copied().unwrap_or(default);
    Ok(json!({"time": now, "symbol": symbol, "buy": p, "sell": p, "changeRate": "0", "changePrice": "0",
              "high": p, "low": p, "vol": quote.divided_by(m.price).to_string(), "volValue": quote.to_string(),
              "last": p, "averagePrice": p, "takerFeeRate": "0.001", "makerFeeRate": "0.001",
              "takerCoefficient": "1", "makerCoefficient": "1"}))
}

/// The order of a `POST /api/v1/orders`, as KuCoin documents "Place Order": `symbol`,
/// `side` ("buy" | "sell"), `type` ("limit", the default, or "market"). A limit order
/// needs `price` and `size` (base units) and takes `timeInForce` GTC (default), GTT,
/// IOC or FOK; a market order takes exactly one of `size` (base units) or `funds`
/// (quote units), and ignores `price`. Amounts are decimal strings. A repeated member:
/// the last.
pub(crate) fn order_intent(body: &str) -> Result<OrderIntent, ApiError> {
    let b: Map<String, Value> = serde_json::from_str(body).map_err(|_| PARAMS)?;
    let field = |k: &str| b.get(k).and_then(Value::as_str);
    let amount = |k: &str| -> Result<Option<Amount>, ApiError> {
        match b.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Amount::parse(s).filter(|a| a.0 > 0).map(Some).ok_or(PARAMS),
            Some(_) => Err(PARAMS),
        }
    };
    let symbol = field("symbol").filter(|s| !s.is_empty()).ok_or(PARAMS)?.to_owned();
    let side_buy = match field("side") {
        Some("buy") => true,
        Some("sell") => false,
        _ => return Err(PARAMS),
    };
    match b.get("type").map(|t| t.as_str().ok_or(PARAMS)).transpose()?.unwrap_or("limit") {
        "market" => {
            let size = match (amount("size")?, amount("funds")?) {
                (Some(s), None) => IntentSize::Base(s),
                (None, Some(f)) => IntentSize::Quote(f),
                _ => return Err(PARAMS),
            };
            Ok(OrderIntent { symbol, side_buy, size, limit: None })
        }
        "limit" => {
            if !matches!(b.get("timeInForce").map(Value::as_str), None | Some(Some("GTC" | "GTT" | "IOC" | "FOK"))) {
                return Err(PARAMS);
            }
            let price = amount("price")?.ok_or(PARAMS)?;
            let size = amount("size")?.ok_or(PARAMS)?;
            Ok(OrderIntent { symbol, side_buy, size: IntentSize::Base(size), limit: Some(price) })
        }
        _ => Err(PARAMS),
    }
}

fn order_json(o: &Order, client: String) -> Value {
    json!({"id": o.id.to_string(), "symbol": o.symbol, "opType": "DEAL", "type": "limit",
           "side": if o.side_buy { "buy" } else { "sell" }, "price": o.price.to_string(), "size": o.qty.to_string(),
           "funds": "0", "dealFunds": "0", "dealSize": "0", "fee": "0", "feeCurrency": "", "stp": "",
           "timeInForce": "GTC", "postOnly": false, "hidden": false, "iceberg": false, "channel": "API",
           "clientOid": client, "isActive": true, "cancelExist": false, "createdAt": o.time, "tradeType": "TRADE"})
}

fn fill_json(t: &Trade) -> Value {
    json!({"symbol": t.symbol, "tradeId": t.id.to_string(), "orderId": t.order_id.to_string(), "counterOrderId": "",
           "side": if t.side_buy { "buy" } else { "sell" }, "liquidity": "taker", "forceTaker": true,
           "price": t.price.to_string(), "size": t.qty.to_string(), "funds": t.price.times(t.qty).to_string(),
           "fee": "0", "feeRate": "0", "feeCurrency": "", "stop": "", "type": "market", "createdAt": t.time,
           "tradeType": "TRADE"})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_query_as_the_docs_sign_it() {
        assert_eq!(
            percent_decoded("apiKey=67b3&passphrase=abc%21%40%2311").as_deref(),
            Some("apiKey=67b3&passphrase=abc!@#11")
        );
        assert_eq!(percent_decoded("a=1+2").as_deref(), Some("a=1+2"));
        assert_eq!(percent_decoded("a=%z1"), None);
        assert_eq!(percent_decoded("a=%"), None);
    }

    #[test]
    fn json_number_amounts_are_taken_only_when_exact() {
        assert_eq!(decimal(Some(&json!(0.1))), Amount::parse("0.1"));
        assert_eq!(decimal(Some(&json!(25))), Amount::parse("25"));
        assert_eq!(decimal(Some(&json!("1.5"))), Amount::parse("1.5"));
        assert_eq!(decimal(Some(&json!(1e-9))), None);
        assert_eq!(decimal(Some(&json!(123_456_789.123_456_78))), None);
        assert_eq!(decimal(Some(&json!(true))), None);
    }
}
