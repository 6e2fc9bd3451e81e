//! Bitget v2 (spot), verified as Bitget's API documentation describes
//! ("Common → Signature"): headers `ACCESS-KEY`, `ACCESS-SIGN`,
//! `ACCESS-TIMESTAMP` (Unix ms), `ACCESS-PASSPHRASE` (set when the key was
//! created) and `Content-Type: application/json` on a POST. `ACCESS-SIGN` is
//! the base64 signature of `timestamp + METHOD + requestPath + "?" +
//! queryString + body` (no `"?"` without a query string; no body on a GET):
//! HMAC-SHA256 with the secret for a system-generated key, RSASSA-PKCS1-v1_5
//! with SHA-256 for a user-generated RSA key. The query string is checked as
//! sent: one page of the documentation asks callers to sort it, another
//! shows it unsorted, and a server can only check the bytes it received.
//! A request more than 30 s from the server's clock is expired.
//!
//! Every answer is `{"code", "msg", "requestTime", "data"}` with code
//! "00000" for success and the documented codes otherwise, HTTP 400 for
//! refusals: 40006 invalid key, 40008 timestamp expired, 40009 sign error,
//! 40012 passphrase incorrect, 40014 permission, 40018 IP; 43012
//! insufficient balance, 43001 order does not exist.
//!
//! Public: "Get Server Time" (`/api/v2/public/time`) and "Get Ticker
//! Information" (`/api/v2/spot/market/tickers`). Private: "Get Account
//! Assets", "Place Order", "Cancel Order", "Get Current Orders"
//! (`unfilled-orders`), "Get Order Info" (`orderInfo`, by `orderId` or
//! `clientOid`; error 40109 when not found), "Get Fills" (`/api/v2/spot/trade/fills`) and
//! "Withdraw" (`/api/v2/spot/wallet/withdrawal`).

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

const B: StatusCode = StatusCode::BAD_REQUEST;
const NO_KEY: ApiError = ApiError(B, "40001", "ACCESS_KEY cannot be empty");
const NO_SIGN: ApiError = ApiError(B, "40003", "Signature cannot be empty");
const BAD_TIMESTAMP: ApiError = ApiError(B, "40005", "Invalid ACCESS_TIMESTAMP");
const BAD_KEY: ApiError = ApiError(B, "40006", "Invalid ACCESS_KEY");
const CONTENT_TYPE: ApiError = ApiError(B, "40007", "Invalid Content_Type, please use \"application/json\" format");
const EXPIRED: ApiError = ApiError(B, "40008", "Request timestamp expired");
const BAD_SIGN: ApiError = ApiError(B, "40009", "sign signature error");
const NO_PASSPHRASE: ApiError = ApiError(B, "40011", "ACCESS_PASSPHRASE cannot be empty");
const BAD_PASSPHRASE: ApiError = ApiError(B, "40012", "apikey/password is incorrect");
const NO_PERMISSION: ApiError = ApiError(B, "40014", "Incorrect permissions");
const PARAMS: ApiError = ApiError(B, "40017", "Parameter verification failed");
const IP: ApiError = ApiError(B, "40018", "Invalid IP");
const BAD_SYMBOL: ApiError = ApiError(B, "40034", "Parameter symbol does not exist");
const NO_ORDER: ApiError = ApiError(B, "43001", "The order does not exist");
const NO_ORDER_INFO: ApiError =
    ApiError(B, "40109", "The data of the order cannot be found, please confirm the order number");
const INSUFFICIENT: ApiError = ApiError(B, "43012", "Insufficient balance");
const NOT_FOUND: ApiError = ApiError(StatusCode::NOT_FOUND, "40404", "Request URL NOT FOUND");

/// How long a request stays valid after (and before) its `ACCESS-TIMESTAMP`.
const WINDOW_MS: u64 = 30_000;

fn envelope(code: &str, msg: &str, data: Value, now: u64) -> Value {
    json!({"code": code, "msg": msg, "requestTime": now, "data": data})
}

pub(crate) fn handle(state: &Shared, req: &Incoming) -> Response {
    let result = handle_inner(state, req);
    let now = lock(state).now_ms();
    match result {
        Ok(v) => axum::Json(envelope("00000", "success", v, now)).into_response(),
        Err(ApiError(status, code, msg)) => (status, axum::Json(envelope(code, msg, Value::Null, now))).into_response(),
    }
}

#[derive(Clone, Copy)]
enum Need {
    Read,
    Trade,
    Withdraw,
}

fn handle_inner(state: &Shared, req: &Incoming) -> Result<Value, ApiError> {
    let path = req.uri.path();
    let query = req.uri.query().unwrap_or("");
    let need = match (req.method.as_str(), path) {
        ("GET", "/api/v2/public/time") => {
            let now = lock(state).now_ms();
            return Ok(json!({"serverTime": now.to_string()}));
        }
        ("GET", "/api/v2/spot/market/tickers") => return tickers(state, query),
        (
            "GET",
            "/api/v2/spot/account/assets"
            | "/api/v2/spot/trade/unfilled-orders"
            | "/api/v2/spot/trade/fills"
            | "/api/v2/spot/trade/orderInfo",
        ) => Need::Read,
        ("POST", "/api/v2/spot/trade/place-order" | "/api/v2/spot/trade/cancel-order") => Need::Trade,
        ("POST", "/api/v2/spot/wallet/withdrawal") => Need::Withdraw,
        _ => return Err(NOT_FOUND),
    };
    let key = req.header("ACCESS-KEY").filter(|k| !k.is_empty()).ok_or(NO_KEY)?;
    let sign = req.header("ACCESS-SIGN").filter(|s| !s.is_empty()).ok_or(NO_SIGN)?;
    let ts_raw = req.header("ACCESS-TIMESTAMP").filter(|t| !t.is_empty()).ok_or(BAD_TIMESTAMP)?;
    let ts: u64 = ts_raw.parse().map_err(|_| BAD_TIMESTAMP)?;
    let passphrase = req.header("ACCESS-PASSPHRASE").filter(|p| !p.is_empty()).ok_or(NO_PASSPHRASE)?;
    if req.method == Method::POST
        && !req.header("Content-Type").is_some_and(|c| c.trim().to_ascii_lowercase().starts_with("application/json"))
    {
        return Err(CONTENT_TYPE);
    }
    let mut st = lock(state);
    let now = st.now_ms();
    let account = st.accounts.get(key).filter(|a| a.spec.venue == Venue::Bitget).ok_or(BAD_KEY)?;
    let spec = account.spec.clone();
    if now.abs_diff(ts) > WINDOW_MS {
        return Err(EXPIRED);
    }
    let want = spec.passphrase.as_deref().unwrap_or("");
    if want.is_empty() || !bool::from(want.as_bytes().ct_eq(passphrase.as_bytes())) {
        return Err(BAD_PASSPHRASE);
    }
    let body_signed = if req.method == Method::GET { "" } else { req.body.as_str() };
    let prehash = if query.is_empty() {
        format!("{ts_raw}{}{path}{body_signed}", req.method.as_str())
    } else {
        format!("{ts_raw}{}{path}?{query}{body_signed}", req.method.as_str())
    };
    let given = base64::engine::general_purpose::STANDARD.decode(sign).map_err(|_| BAD_SIGN)?;
    let verified = match &account.public_key {
        Some(public) => public.verifies(prehash.as_bytes(), &given),
        None => {
            let mac = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, spec.secret.as_bytes()), prehash.as_bytes());
            bool::from(mac.as_ref().ct_eq(&given))
        }
    };
    if !verified {
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
    let q = params::parse(query).ok_or(PARAMS)?;
    let body: Map<String, Value> = if req.method == Method::POST && !req.body.trim().is_empty() {
        serde_json::from_str(&req.body).map_err(|_| PARAMS)?
    } else {
        Map::new()
    };
    let field = |k: &str| body.get(k).and_then(Value::as_str);
    match path {
        "/api/v2/spot/account/assets" => {
            // "Get Account Assets": `coin` picks one; otherwise `assetType` "hold_only"
            // (the default: only coins with a balance) or "all".
            let coin = get(&q, "coin");
            let all = match get(&q, "assetType") {
                None | Some("hold_only") => false,
                Some("all") => true,
                Some(_) => return Err(PARAMS),
            };
            let a = &st.accounts[key];
            let list: Vec<Value> = a
                .balances
                .iter()
                .filter(|(c, (free, locked))| match coin {
                    Some(want) => want == c.as_str(),
                    None => all || free.0 != 0 || locked.0 != 0,
                })
                .map(|(c, (free, locked))| {
                    json!({"coin": c, "available": free.to_string(), "frozen": locked.to_string(),
                           "locked": "0", "limitAvailable": "0", "uTime": now.to_string()})
                })
                .collect();
            Ok(Value::Array(list))
        }
        "/api/v2/spot/trade/unfilled-orders" => {
            let symbol = get(&q, "symbol");
            let a = &st.accounts[key];
            Ok(Value::Array(
                a.open_orders
                    .iter()
                    .filter(|o| symbol.is_none_or(|s| s == o.symbol))
                    .map(|o| order_json(o, a.client_id_of(o.id)))
                    .collect(),
            ))
        }
        "/api/v2/spot/trade/orderInfo" => {
            // "Get Order Info": `orderId` or `clientOid` (`orderId` wins). By `clientOid` only
            // an unfilled order is found, as the docs say; by `orderId` a resting order is
            // `live`, one with fills `filled`, any other order the key placed `cancelled`.
            let a = &st.accounts[key];
            let (id, by_client) = match (get(&q, "orderId"), get(&q, "clientOid")) {
                (Some(id), _) => (id.parse::<u64>().map_err(|_| NO_ORDER_INFO)?, false),
                (None, Some(c)) => (a.client_ids.get(c).map(|(_, id)| *id).ok_or(NO_ORDER_INFO)?, true),
                (None, None) => return Err(PARAMS),
            };
            if let Some(o) = a.open_orders.iter().find(|o| o.id == id) {
                let mut v = order_json(o, a.client_id_of(o.id));
                v["status"] = "live".into();
                return Ok(Value::Array(vec![v]));
            }
            if by_client {
                return Err(NO_ORDER_INFO);
            }
            let fills: Vec<&Trade> = a.trades.iter().filter(|t| t.order_id == id).collect();
            let named = a.client_ids.values().find(|(_, i)| *i == id);
            let (symbol, status) = match (fills.first(), named) {
                (Some(t), _) => (t.symbol.clone(), "filled"),
                (None, Some((s, _))) => (s.clone(), "cancelled"),
                (None, None) => return Err(NO_ORDER_INFO),
            };
            Ok(json!([{"symbol": symbol, "orderId": id.to_string(), "clientOid": a.client_id_of(id), "status": status,
                       "enterPointSource": "API", "cTime": now.to_string(), "uTime": now.to_string()}]))
        }
        "/api/v2/spot/trade/fills" => {
            // "Get Fills": newest first; `limit` 1..=100 (default 100); `idLessThan` pages
            // back by `tradeId`; `symbol` and `orderId` filter.
            let symbol = get(&q, "symbol");
            let order = get(&q, "orderId").map(str::parse::<u64>).transpose().map_err(|_| PARAMS)?;
            let limit: usize = get(&q, "limit").map_or(Ok(100), str::parse).map_err(|_| PARAMS)?;
            if limit == 0 || limit > 100 {
                return Err(PARAMS);
            }
            let below: u64 = get(&q, "idLessThan").map_or(Ok(u64::MAX), str::parse).map_err(|_| PARAMS)?;
            // `startTime` (ms): fills at or after it.
            let start: u64 = get(&q, "startTime").map_or(Ok(0), str::parse).map_err(|_| PARAMS)?;
            let a = &st.accounts[key];
            let mut page: Vec<&Trade> = a
                .trades
                .iter()
                .filter(|t| {
                    t.id < below
                        && t.time >= start
                        && symbol.is_none_or(|s| s == t.symbol)
                        && order.is_none_or(|o| o == t.order_id)
                })
                .collect();
            page.sort_by_key(|t| std::cmp::Reverse(t.id));
            Ok(Value::Array(page.into_iter().take(limit).map(fill_json).collect()))
        }
        "/api/v2/spot/trade/place-order" => {
            let o = order_intent(&req.body)?;
            let client = field("clientOid").unwrap_or("").to_owned();
            let id = st.execute(key, o, &client, now).map_err(|e| match e {
                crate::Unexecuted::Symbol => BAD_SYMBOL,
                crate::Unexecuted::Key => BAD_KEY,
                crate::Unexecuted::Funds => INSUFFICIENT,
                crate::Unexecuted::QuoteSizedLimit => PARAMS,
            })?;
            Ok(json!({"orderId": id.to_string(), "clientOid": client}))
        }
        "/api/v2/spot/trade/cancel-order" => {
            // "Cancel Order": `symbol` and `orderId` or `clientOid` (`orderId` wins).
            let symbol = field("symbol").ok_or(PARAMS)?.to_owned();
            let (o, name) =
                st.cancel_named(key, &symbol, field("orderId"), field("clientOid")).map_err(|e| match e {
                    crate::Uncancelled::Symbol => BAD_SYMBOL,
                    crate::Uncancelled::Key => BAD_KEY,
                    crate::Uncancelled::Params => PARAMS,
                    crate::Uncancelled::NoOrder => NO_ORDER,
                })?;
            Ok(json!({"orderId": o.id.to_string(), "clientOid": name}))
        }
        "/api/v2/spot/wallet/withdrawal" => {
            // "Withdraw": `coin`, `transferType` ("on_chain" needs `chain`; or
            // "internal_transfer"), `address`, `size`.
            let coin = field("coin").filter(|c| !c.is_empty()).ok_or(PARAMS)?.to_owned();
            match field("transferType") {
                Some("on_chain") => {
                    field("chain").filter(|c| !c.is_empty()).ok_or(PARAMS)?;
                }
                Some("internal_transfer") => {}
                _ => return Err(PARAMS),
            }
            let address = field("address").filter(|c| !c.is_empty()).ok_or(PARAMS)?.to_owned();
            let amount = field("size").and_then(Amount::parse).filter(|a| a.0 > 0).ok_or(PARAMS)?;
            let client = field("clientOid").unwrap_or("").to_owned();
            let id = st.next_id();
            let a = st.accounts.get_mut(key).ok_or(BAD_KEY)?;
            crate::take(&mut a.balances, &coin, amount).map_err(|()| INSUFFICIENT)?;
            st.withdrawals.push(Withdrawal { api_key: key.to_owned(), asset: coin, address, amount });
            Ok(json!({"orderId": id.to_string(), "clientOid": client}))
        }
        _ => Err(NOT_FOUND),
    }
}

/// "Get Ticker Information": one market (`symbol`) or all, `lastPr` and best bid and
/// ask at the market price, `baseVolume` and `quoteVolume` over 24 h.
fn tickers(state: &Shared, query: &str) -> Result<Value, ApiError> {
    let q = params::parse(query).ok_or(PARAMS)?;
    let symbol = get(&q, "symbol");
    let st = lock(state);
    let now = st.now_ms().to_string();
    let default = Amount::parse(crate::DEFAULT_QUOTE_VOLUME).unwrap_or_default();
    let list: Vec<Value> = st
        .markets
        .iter()
        .filter(|m| symbol.is_none_or(|s| s == m.symbol))
        .map(|m| {
            let quote = st.volumes.get(&m.symbol).copied().unwrap_or(default);
            let p = m.price.to_string();
            json!({"symbol": m.symbol, "high24h": p, "open": p, "lastPr": p, "low24h": p,
                   "quoteVolume": quote.to_string(), "baseVolume": quote.divided_by(m.price).to_string(),
                   "usdtVolume": quote.to_string(), "bidPr": p, "askPr": p, "bidSz": "1", "askSz": "1",
                   "openUtc": p, "ts": now, "changeUtc24h": "0", "change24h": "0"})
        })
        .collect();
    if symbol.is_some() && list.is_empty() {
        return Err(BAD_SYMBOL);
    }
    Ok(Value::Array(list))
}

/// The order of a `POST /api/v2/spot/trade/place-order`, as Bitget documents
/// "Place Order": `symbol`, `side` ("buy" | "sell"), `orderType` ("limit" |
/// "market"), `size` (a string). A market order is sized in the quote coin for a
/// buy and the base coin for a sell, and ignores `price`; a limit order needs
/// `force` (the time in force) and `price`, and is sized in the base coin. A
/// repeated member: the last.
pub(crate) fn order_intent(body: &str) -> Result<OrderIntent, ApiError> {
    let b: Map<String, Value> = serde_json::from_str(body).map_err(|_| PARAMS)?;
    let field = |k: &str| b.get(k).and_then(Value::as_str);
    let symbol = field("symbol").filter(|s| !s.is_empty()).ok_or(PARAMS)?.to_owned();
    let side_buy = match field("side") {
        Some("buy") => true,
        Some("sell") => false,
        _ => return Err(PARAMS),
    };
    let size = field("size").and_then(Amount::parse).filter(|a| a.0 > 0).ok_or(PARAMS)?;
    match field("orderType") {
        Some("market") => {
            let size = if side_buy { IntentSize::Quote(size) } else { IntentSize::Base(size) };
            Ok(OrderIntent { symbol, side_buy, size, limit: None })
        }
        Some("limit") => {
            // The docs spell `force` in lower case; ccxt, which trades on Bitget, sends
            // `GTC`: the exchange takes either case.
            let force = field("force").map(str::to_ascii_lowercase);
            if !matches!(force.as_deref(), Some("gtc" | "post_only" | "fok" | "ioc")) {
                return Err(PARAMS);
            }
            let price = field("price").and_then(Amount::parse).filter(|a| a.0 > 0).ok_or(PARAMS)?;
            Ok(OrderIntent { symbol, side_buy, size: IntentSize::Base(size), limit: Some(price) })
        }
        _ => Err(PARAMS),
    }
}

fn order_json(o: &Order, client: String) -> Value {
    json!({"symbol": o.symbol, "orderId": o.id.to_string(), "clientOid": client, "priceAvg": o.price.to_string(),
           "size": o.qty.to_string(), "orderType": "limit", "side": if o.side_buy { "buy" } else { "sell" },
           "status": "live", "basePrice": "0", "baseVolume": "0", "quoteVolume": "0", "enterPointSource": "API",
           "orderSource": "normal", "cTime": o.time.to_string(), "uTime": o.time.to_string()})
}

fn fill_json(t: &Trade) -> Value {
    json!({"symbol": t.symbol, "orderId": t.order_id.to_string(), "tradeId": t.id.to_string(), "orderType": "market",
           "side": if t.side_buy { "buy" } else { "sell" }, "priceAvg": t.price.to_string(), "size": t.qty.to_string(),
           "amount": t.price.times(t.qty).to_string(), "tradeScope": "taker",
           "feeDetail": {"deduction": "no", "feeCoin": "", "totalDeductionFee": "0", "totalFee": "0"},
           "cTime": t.time.to_string(), "uTime": t.time.to_string()})
}
