//! Bybit v5 (spot), verified as Bybit's "Integration Guidance →
//! Authentication" describes: headers `X-BAPI-API-KEY`, `X-BAPI-TIMESTAMP`
//! (Unix ms), `X-BAPI-RECV-WINDOW` (ms, optional, default 5000) and
//! `X-BAPI-SIGN`, the signature of `timestamp + api_key + recv_window +
//! payload`, where the payload is the query string as sent (not sorted) for
//! a GET and the raw JSON body for a POST. A system-generated key signs with
//! HMAC-SHA256 of its secret, in hex; a self-generated (RSA) key with
//! RSASSA-PKCS1-v1_5/SHA-256, in base64. The timestamp must satisfy
//! `server_time - recv_window <= timestamp < server_time + 1000`.
//!
//! Every answer is `{"retCode", "retMsg", "result", "retExtInfo", "time"}`,
//! HTTP 200 also for refusals, with the documented codes: 10001 parameter
//! error, 10002 timestamp outside the window, 10003 invalid key, 10004 sign
//! error, 10005 permission denied, 10010 unmatched IP; spot trading's
//! 170131 (insufficient balance) and 170213 (order does not exist); the
//! asset API's 131212 (insufficient balance for a withdrawal).
//!
//! Public: "Get Bybit Server Time" (`/v5/market/time`) and "Get Tickers"
//! (`/v5/market/tickers?category=spot`). Private: "Get Wallet Balance",
//! "Place Order", "Cancel Order", "Get Open & Closed Orders"
//! (`/v5/order/realtime`: open orders, by `orderId`, `orderLinkId` or
//! `symbol`), "Get Trade History" (`/v5/execution/list`, paged by `cursor` /
//! `nextPageCursor`) and "Withdraw" (`/v5/asset/withdraw/create`).

use aws_lc_rs::hmac;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Map, Value, json};
use subtle::ConstantTimeEq as _;

use crate::params::{self, get};
use crate::{Amount, Incoming, IntentSize, Order, OrderIntent, Shared, Trade, Venue, Withdrawal, lock};

/// A refusal: HTTP status, `retCode`, `retMsg`.
pub(crate) struct ApiError(StatusCode, i64, pub(crate) &'static str);

const OK: StatusCode = StatusCode::OK;
const PARAMS: ApiError = ApiError(OK, 10001, "params error");
const BAD_TIME: ApiError =
    ApiError(OK, 10002, "invalid request, please check your server timestamp or recv_window param");
const BAD_KEY: ApiError = ApiError(OK, 10003, "API key is invalid.");
const BAD_SIGN: ApiError = ApiError(OK, 10004, "error sign!");
const NO_PERMISSION: ApiError = ApiError(OK, 10005, "Permission denied, please check your API key permissions.");
const IP: ApiError = ApiError(OK, 10010, "Unmatched IP, please check your API key's bound IP addresses.");
const BAD_CATEGORY: ApiError = ApiError(OK, 10001, "params error: category only support spot in the sandbox");
const BAD_SYMBOL: ApiError = ApiError(OK, 10001, "params error: symbol invalid");
const INSUFFICIENT: ApiError = ApiError(OK, 170131, "Insufficient balance.");
const NO_ORDER: ApiError = ApiError(OK, 170213, "Order does not exist.");
const WITHDRAW_INSUFFICIENT: ApiError = ApiError(OK, 131212, "Insufficient balance");
const NOT_FOUND: ApiError = ApiError(StatusCode::NOT_FOUND, 10017, "route not found");

/// The envelope every Bybit answer has.
fn envelope(code: i64, msg: &str, result: Value, now: u64) -> Value {
    json!({"retCode": code, "retMsg": msg, "result": result, "retExtInfo": {}, "time": now})
}

pub(crate) fn handle(state: &Shared, req: &Incoming) -> Response {
    let result = handle_inner(state, req);
    let now = lock(state).now_ms();
    match result {
        Ok(v) => axum::Json(envelope(0, "OK", v, now)).into_response(),
        Err(ApiError(status, code, msg)) => (status, axum::Json(envelope(code, msg, json!({}), now))).into_response(),
    }
}

#[derive(Clone, Copy)]
enum Need {
    Read,
    Trade,
    Withdraw,
}

/// The raw JSON body of a POST as an object (Bybit's bodies are objects); `{}` if empty.
fn body_object(body: &str) -> Result<Map<String, Value>, ApiError> {
    if body.trim().is_empty() {
        return Ok(Map::new());
    }
    serde_json::from_str(body).map_err(|_| PARAMS)
}

/// Lowercase hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn handle_inner(state: &Shared, req: &Incoming) -> Result<Value, ApiError> {
    let path = req.uri.path();
    let query = req.uri.query().unwrap_or("");
    let need = match (req.method.as_str(), path) {
        ("GET", "/v5/market/time") => {
            let now = lock(state).now_ms();
            return Ok(json!({"timeSecond": (now / 1000).to_string(), "timeNano": format!("{now}000000")}));
        }
        ("GET", "/v5/market/tickers") => return tickers(state, query),
        ("GET", "/v5/account/wallet-balance" | "/v5/order/realtime" | "/v5/execution/list") => Need::Read,
        ("POST", "/v5/order/create" | "/v5/order/cancel") => Need::Trade,
        ("POST", "/v5/asset/withdraw/create") => Need::Withdraw,
        _ => return Err(NOT_FOUND),
    };
    // Authentication ("Parameters for Authenticated Endpoints").
    let key = req.header("X-BAPI-API-KEY").filter(|k| !k.is_empty()).ok_or(BAD_KEY)?;
    let ts_raw = req.header("X-BAPI-TIMESTAMP").filter(|t| !t.is_empty()).ok_or(BAD_TIME)?;
    let ts: u64 = ts_raw.parse().map_err(|_| BAD_TIME)?;
    let sign = req.header("X-BAPI-SIGN").filter(|s| !s.is_empty()).ok_or(BAD_SIGN)?;
    let recv_raw = req.header("X-BAPI-RECV-WINDOW");
    let recv_window: u64 = match recv_raw {
        None => 5000,
        Some(w) => w.parse().map_err(|_| PARAMS)?,
    };
    let mut st = lock(state);
    let now = st.now_ms();
    let account = st.accounts.get(key).filter(|a| a.spec.venue == Venue::Bybit).ok_or(BAD_KEY)?;
    let spec = account.spec.clone();
    if !spec.allowed_ips.is_empty() && !spec.allowed_ips.contains(&req.peer.ip()) {
        return Err(IP);
    }
    if !(now.saturating_sub(recv_window) <= ts && ts < now.saturating_add(1000)) {
        return Err(BAD_TIME);
    }
    let payload = if req.method == Method::GET { query } else { req.body.as_str() };
    let plain = format!("{ts_raw}{key}{}{payload}", recv_raw.unwrap_or(""));
    match &account.public_key {
        Some(public) => {
            let sig = base64::engine::general_purpose::STANDARD.decode(sign).map_err(|_| BAD_SIGN)?;
            if !public.verifies(plain.as_bytes(), &sig) {
                return Err(BAD_SIGN);
            }
        }
        None => {
            let mac = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, spec.secret.as_bytes()), plain.as_bytes());
            if !bool::from(hex(mac.as_ref()).as_bytes().ct_eq(sign.to_ascii_lowercase().as_bytes())) {
                return Err(BAD_SIGN);
            }
        }
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
    let body = if req.method == Method::POST { body_object(&req.body)? } else { Map::new() };
    let field = |k: &str| body.get(k).and_then(Value::as_str);
    match path {
        "/v5/account/wallet-balance" => {
            // "Get Wallet Balance": `accountType` is required; the sandbox account is a
            // unified one.
            if get(&q, "accountType") != Some("UNIFIED") {
                return Err(ApiError(OK, 10001, "accountType only support UNIFIED"));
            }
            let coins = get(&q, "coin");
            let a = &st.accounts[key];
            let list: Vec<Value> = a
                .balances
                .iter()
                .filter(|(c, _)| coins.is_none_or(|want| want.split(',').any(|w| w == c.as_str())))
                .map(|(c, (free, locked))| {
                    let total = Amount(free.0 + locked.0).to_string();
                    json!({"coin": c, "equity": total, "walletBalance": total, "locked": locked.to_string(),
                           "usdValue": "", "borrowAmount": "0", "spotBorrow": "0", "bonus": "0"})
                })
                .collect();
            Ok(json!({"list": [{"accountType": "UNIFIED", "totalEquity": "", "totalWalletBalance": "",
                                "totalAvailableBalance": "", "coin": list}]}))
        }
        "/v5/order/realtime" => {
            // "Get Open & Closed Orders" with `openOnly=0` (the default, the only one the
            // sandbox plays): open orders only, picked by `orderId` > `orderLinkId` >
            // `symbol` (the documented priority: a higher one makes the others ignored).
            spot_category(get(&q, "category"))?;
            if get(&q, "openOnly").is_some_and(|o| o != "0") {
                return Err(ApiError(OK, 10001, "params error: the sandbox lists open orders only (openOnly=0)"));
            }
            let a = &st.accounts[key];
            let pick: Box<dyn Fn(&Order) -> bool> =
                match (get(&q, "orderId"), get(&q, "orderLinkId"), get(&q, "symbol")) {
                    (Some(id), _, _) => {
                        let id = id.to_owned();
                        Box::new(move |o: &Order| o.id.to_string() == id)
                    }
                    (None, Some(link), _) => {
                        let id = a.client_ids.get(link).map(|(_, id)| *id);
                        Box::new(move |o: &Order| Some(o.id) == id)
                    }
                    (None, None, symbol) => {
                        let symbol = symbol.map(str::to_owned);
                        Box::new(move |o: &Order| symbol.as_deref().is_none_or(|s| s == o.symbol))
                    }
                };
            let list: Vec<Value> =
                a.open_orders.iter().filter(|o| pick(o)).map(|o| order_json(o, a.client_id_of(o.id))).collect();
            Ok(json!({"category": "spot", "list": list, "nextPageCursor": ""}))
        }
        "/v5/execution/list" => {
            // "Get Trade History": newest first; `limit` 1..=100 (default 50); the cursor is
            // the sandbox's `execId` to continue below.
            spot_category(get(&q, "category"))?;
            let symbol = get(&q, "symbol");
            let limit: usize = get(&q, "limit").map_or(Ok(50), str::parse).map_err(|_| PARAMS)?;
            if limit == 0 || limit > 100 {
                return Err(PARAMS);
            }
            let below: u64 = match get(&q, "cursor").filter(|c| !c.is_empty()) {
                Some(c) => c.parse().map_err(|_| PARAMS)?,
                None => u64::MAX,
            };
            // `startTime`/`endTime` (ms): a window of at most 7 days; with only one of them
            // it is the 7 days after `startTime` or before `endTime`; with neither, the last
            // 7 days (Bybit's documented rules).
            const WEEK: u64 = 7 * 86_400_000;
            let ms = |k| get(&q, k).map(str::parse::<u64>).transpose().map_err(|_| PARAMS);
            let (start, end) = match (ms("startTime")?, ms("endTime")?) {
                (Some(s), Some(e)) if e >= s && e - s <= WEEK => (s, e),
                (Some(_), Some(_)) => return Err(PARAMS),
                (Some(s), None) => (s, s.saturating_add(WEEK)),
                (None, Some(e)) => (e.saturating_sub(WEEK), e),
                (None, None) => (now.saturating_sub(WEEK), now),
            };
            let a = &st.accounts[key];
            let mut page: Vec<&Trade> = a
                .trades
                .iter()
                .filter(|t| t.id < below && symbol.is_none_or(|s| s == t.symbol) && (start..=end).contains(&t.time))
                .collect();
            page.sort_by_key(|t| std::cmp::Reverse(t.id));
            let more = page.len() > limit;
            page.truncate(limit);
            let next = match page.last() {
                Some(t) if more => t.id.to_string(),
                _ => String::new(),
            };
            let list: Vec<Value> = page.into_iter().map(|t| execution_json(t, a.client_id_of(t.order_id))).collect();
            Ok(json!({"category": "spot", "list": list, "nextPageCursor": next}))
        }
        "/v5/order/create" => {
            let o = order_intent(&req.body)?;
            let link = field("orderLinkId").unwrap_or("").to_owned();
            let id = st.execute(key, o, &link, now).map_err(|e| match e {
                crate::Unexecuted::Symbol => BAD_SYMBOL,
                crate::Unexecuted::Key => BAD_KEY,
                crate::Unexecuted::Funds => INSUFFICIENT,
                crate::Unexecuted::QuoteSizedLimit => PARAMS,
            })?;
            Ok(json!({"orderId": id.to_string(), "orderLinkId": link}))
        }
        "/v5/order/cancel" => {
            // "Cancel Order": `orderId` or `orderLinkId`; `orderId` wins if both are sent.
            spot_category(field("category"))?;
            let symbol = field("symbol").ok_or(PARAMS)?.to_owned();
            let (o, name) =
                st.cancel_named(key, &symbol, field("orderId"), field("orderLinkId")).map_err(|e| match e {
                    crate::Uncancelled::Symbol => BAD_SYMBOL,
                    crate::Uncancelled::Key => BAD_KEY,
                    crate::Uncancelled::Params => PARAMS,
                    crate::Uncancelled::NoOrder => NO_ORDER,
                })?;
            Ok(json!({"orderId": o.id.to_string(), "orderLinkId": name}))
        }
        "/v5/asset/withdraw/create" => {
            // "Withdraw": `coin`, `chain`, `address`, `amount` and `timestamp` (ms, against
            // replays) are required; the sandbox draws on the one spot balance.
            let coin = field("coin").filter(|c| !c.is_empty()).ok_or(PARAMS)?.to_owned();
            let address = field("address").filter(|c| !c.is_empty()).ok_or(PARAMS)?.to_owned();
            field("chain").filter(|c| !c.is_empty()).ok_or(PARAMS)?;
            let amount = field("amount").and_then(Amount::parse).filter(|a| a.0 > 0).ok_or(PARAMS)?;
            body.get("timestamp").and_then(Value::as_u64).ok_or(PARAMS)?;
            let id = st.next_id();
            let a = st.accounts.get_mut(key).ok_or(BAD_KEY)?;
            crate::take(&mut a.balances, &coin, amount).map_err(|()| WITHDRAW_INSUFFICIENT)?;
            st.withdrawals.push(Withdrawal { api_key: key.to_owned(), asset: coin, address, amount });
            Ok(json!({"id": id.to_string()}))
        }
        _ => Err(NOT_FOUND),
    }
}

/// The sandbox plays Bybit's spot category only.
fn spot_category(category: Option<&str>) -> Result<(), ApiError> {
    match category {
        Some("spot") => Ok(()),
        Some(_) => Err(BAD_CATEGORY),
        None => Err(PARAMS),
    }
}

/// "Get Tickers" for `category=spot`: `lastPrice`, best bid and ask at the market
/// price, `volume24h` in base and `turnover24h` in quote units.
fn tickers(state: &Shared, query: &str) -> Result<Value, ApiError> {
    let q = params::parse(query).ok_or(PARAMS)?;
    spot_category(get(&q, "category"))?;
    let symbol = get(&q, "symbol");
    let st = lock(state);
    let default = Amount::parse(crate::DEFAULT_QUOTE_VOLUME).unwrap_or_default();
    let list: Vec<Value> = st
        .markets
        .iter()
        .filter(|m| symbol.is_none_or(|s| s == m.symbol))
        .map(|m| {
            let quote = st.volumes.get(&m.symbol).copied().unwrap_or(default);
            let p = m.price.to_string();
            json!({"symbol": m.symbol, "bid1Price": p, "bid1Size": "1", "ask1Price": p, "ask1Size": "1",
                   "lastPrice": p, "prevPrice24h": p, "price24hPcnt": "0", "highPrice24h": p, "lowPrice24h": p,
                   "turnover24h": quote.to_string(), "volume24h": quote.divided_by(m.price).to_string()})
        })
        .collect();
    if symbol.is_some() && list.is_empty() {
        return Err(BAD_SYMBOL);
    }
    Ok(json!({"category": "spot", "list": list}))
}

/// The order of a `POST /v5/order/create`, as Bybit documents "Place Order" for
/// spot: `category` "spot", `symbol`, `side` ("Buy" | "Sell"), `orderType`
/// ("Market" | "Limit"), `qty` (a string). A Market order ignores `price` and is
/// sized by `marketUnit` ("baseCoin" | "quoteCoin"), by default in the quote coin
/// for a buy and the base coin for a sell; a Limit order needs `price` and is sized
/// in the base coin. A repeated member: the last.
pub(crate) fn order_intent(body: &str) -> Result<OrderIntent, ApiError> {
    let b: Map<String, Value> = serde_json::from_str(body).map_err(|_| PARAMS)?;
    let field = |k: &str| b.get(k).and_then(Value::as_str);
    spot_category(field("category"))?;
    let symbol = field("symbol").filter(|s| !s.is_empty()).ok_or(PARAMS)?.to_owned();
    let side_buy = match field("side") {
        Some("Buy") => true,
        Some("Sell") => false,
        _ => return Err(PARAMS),
    };
    let qty = field("qty").and_then(Amount::parse).filter(|a| a.0 > 0).ok_or(PARAMS)?;
    match field("orderType") {
        Some("Market") => {
            let quote = match field("marketUnit") {
                Some("baseCoin") => false,
                Some("quoteCoin") => true,
                None => side_buy,
                Some(_) => return Err(PARAMS),
            };
            let size = if quote { IntentSize::Quote(qty) } else { IntentSize::Base(qty) };
            Ok(OrderIntent { symbol, side_buy, size, limit: None })
        }
        Some("Limit") => {
            let price = field("price").and_then(Amount::parse).filter(|a| a.0 > 0).ok_or(PARAMS)?;
            Ok(OrderIntent { symbol, side_buy, size: IntentSize::Base(qty), limit: Some(price) })
        }
        _ => Err(PARAMS),
    }
}

fn order_json(o: &Order, link: String) -> Value {
    json!({"orderId": o.id.to_string(), "orderLinkId": link, "symbol": o.symbol, "price": o.price.to_string(),
           "qty": o.qty.to_string(), "side": if o.side_buy { "Buy" } else { "Sell" }, "orderStatus": "New",
           "orderType": "Limit", "timeInForce": "GTC", "cumExecQty": "0", "cumExecValue": "0", "avgPrice": "",
           "leavesQty": o.qty.to_string(), "createdTime": o.time.to_string(), "updatedTime": o.time.to_string()})
}

fn execution_json(t: &Trade, link: String) -> Value {
    json!({"symbol": t.symbol, "orderId": t.order_id.to_string(), "orderLinkId": link,
           "side": if t.side_buy { "Buy" } else { "Sell" }, "orderType": "Market", "execId": t.id.to_string(),
           "execPrice": t.price.to_string(), "execQty": t.qty.to_string(),
           "execValue": t.price.times(t.qty).to_string(), "execFee": "0", "feeCurrency": "", "execType": "Trade",
           "isMaker": false, "execTime": t.time.to_string()})
}
