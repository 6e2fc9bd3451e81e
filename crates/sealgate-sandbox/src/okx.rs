//! OKX API v5, verified as the OKX documentation describes ("REST API →
//! Authentication → Making Requests / Signature"): headers OK-ACCESS-KEY,
//! OK-ACCESS-SIGN = base64(HMAC-SHA256(secret, timestamp + METHOD +
//! requestPath [+ "?" + query] + body)), OK-ACCESS-TIMESTAMP (ISO 8601 UTC
//! with milliseconds; a request expires 30 s after it) and
//! OK-ACCESS-PASSPHRASE. Errors are `{"code": "501xx", "msg": …, "data": []}`
//! with HTTP 401 for authentication, as in the documented error-code table.

use aws_lc_rs::hmac;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Value, json};
use subtle::ConstantTimeEq as _;

use crate::params::{self, get};
use crate::{Amount, Incoming, Order, Shared, Trade, Venue, Withdrawal, lock};

pub(crate) struct ApiError(StatusCode, &'static str, pub(crate) &'static str);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, axum::Json(json!({"code": self.1, "msg": self.2, "data": []}))).into_response()
    }
}

const U: StatusCode = StatusCode::UNAUTHORIZED;
const B: StatusCode = StatusCode::BAD_REQUEST;
const EXPIRED: ApiError = ApiError(U, "50102", "Timestamp request expired");
const NO_KEY: ApiError = ApiError(U, "50103", "Request header \"OK-ACCESS-KEY\" cannot be empty");
const NO_PASSPHRASE: ApiError = ApiError(U, "50104", "Request header \"OK-ACCESS-PASSPHRASE\" cannot be empty");
const BAD_PASSPHRASE: ApiError = ApiError(U, "50105", "Request header \"OK-ACCESS-PASSPHRASE\" incorrect");
const NO_SIGN: ApiError = ApiError(U, "50106", "Request header \"OK-ACCESS-SIGN\" cannot be empty");
const NO_TIMESTAMP: ApiError = ApiError(U, "50107", "Request header \"OK-ACCESS-TIMESTAMP\" cannot be empty");
const IP: ApiError = ApiError(U, "50110", "Your IP is not included in your API key's IP whitelist");
const BAD_KEY: ApiError = ApiError(U, "50111", "Invalid OK-ACCESS-KEY");
const BAD_TIMESTAMP: ApiError = ApiError(U, "50112", "Invalid OK-ACCESS-TIMESTAMP");
const BAD_SIGN: ApiError = ApiError(U, "50113", "Invalid Sign");
// Permission refusal: code as commonly returned for a key without the
// needed permission (the stored docs do not list its text).
const NO_PERMISSION: ApiError = ApiError(U, "50120", "API key doesn't have permission to use this endpoint");
const PARAM: ApiError = ApiError(B, "51000", "Parameter error");
const BAD_INST: ApiError = ApiError(B, "51001", "Instrument ID does not exist");
const INSUFFICIENT: ApiError = ApiError(B, "51008", "Order failed. Insufficient balance");
const NO_ORDER: ApiError =
    ApiError(B, "51400", "Order cancellation failed as the order has been filled, canceled or does not exist");
const NOT_FOUND: ApiError = ApiError(StatusCode::NOT_FOUND, "404", "Not Found");

/// Unix ms of `YYYY-MM-DDTHH:MM:SS.mmmZ` (the only form OKX accepts).
pub(crate) fn parse_iso_ms(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() != 24
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'.'
        || b[23] != b'Z'
    {
        return None;
    }
    let n = |r: std::ops::Range<usize>| -> Option<i64> { s.get(r)?.parse().ok() };
    let (y, mo, d, h, mi, sec, ms) = (n(0..4)?, n(5..7)?, n(8..10)?, n(11..13)?, n(14..16)?, n(17..19)?, n(20..23)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    // Days from civil (H. Hinnant).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(((days * 24 + h) * 60 + mi) * 60_000 + sec * 1000 + ms).ok()
}

pub(crate) fn handle(state: &Shared, req: &Incoming) -> Response {
    match handle_inner(state, req) {
        Ok(data) => axum::Json(json!({"code": "0", "msg": "", "data": data})).into_response(),
        Err(e) => e.into_response(),
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
    let need = match (req.method.as_str(), path) {
        (
            "GET",
            "/api/v5/account/balance"
            | "/api/v5/trade/fills"
            | "/api/v5/trade/fills-history"
            | "/api/v5/trade/orders-pending",
        ) => Need::Read,
        ("POST", "/api/v5/trade/order" | "/api/v5/trade/cancel-order") => Need::Trade,
        ("POST", "/api/v5/asset/withdrawal") => Need::Withdraw,
        _ => return Err(NOT_FOUND),
    };
    let key = req.header("OK-ACCESS-KEY").filter(|k| !k.is_empty()).ok_or(NO_KEY)?;
    let sign = req.header("OK-ACCESS-SIGN").filter(|k| !k.is_empty()).ok_or(NO_SIGN)?;
    let ts = req.header("OK-ACCESS-TIMESTAMP").filter(|k| !k.is_empty()).ok_or(NO_TIMESTAMP)?;
    let passphrase = req.header("OK-ACCESS-PASSPHRASE").filter(|k| !k.is_empty()).ok_or(NO_PASSPHRASE)?;
    let ts_ms = parse_iso_ms(ts).ok_or(BAD_TIMESTAMP)?;
    let mut st = lock(state);
    let now = st.now_ms();
    let account = st.accounts.get(key).filter(|a| a.spec.venue == Venue::Okx).ok_or(BAD_KEY)?;
    let spec = account.spec.clone();
    if now.abs_diff(ts_ms) > 30_000 {
        return Err(EXPIRED);
    }
    if !spec.allowed_ips.is_empty() && !spec.allowed_ips.contains(&req.peer.ip()) {
        return Err(IP);
    }
    let want_pass = spec.passphrase.as_deref().unwrap_or("");
    if !bool::from(want_pass.as_bytes().ct_eq(passphrase.as_bytes())) {
        return Err(BAD_PASSPHRASE);
    }
    let request_path = req.uri.path_and_query().map_or(path, |pq| pq.as_str());
    let prehash = format!("{ts}{}{request_path}{}", req.method.as_str(), req.body);
    let mac = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, spec.secret.as_bytes()), prehash.as_bytes());
    let given = base64::engine::general_purpose::STANDARD.decode(sign).map_err(|_| BAD_SIGN)?;
    if !bool::from(mac.as_ref().ct_eq(&given)) {
        return Err(BAD_SIGN);
    }
    let allowed = match need {
        Need::Read => spec.permissions.read,
        Need::Trade => spec.permissions.trade,
        Need::Withdraw => spec.permissions.withdraw,
    };
    if !allowed {
        return Err(NO_PERMISSION);
    }
    let body: serde_json::Map<String, Value> = if req.body.is_empty() {
        serde_json::Map::new()
    } else {
        serde_json::from_str(&req.body).map_err(|_| PARAM)?
    };
    let field = |k: &str| body.get(k).and_then(Value::as_str);
    let query = params::parse(req.uri.query().unwrap_or("")).ok_or(PARAM)?;
    match path {
        "/api/v5/account/balance" => {
            let a = &st.accounts[key];
            let ccy = get(&query, "ccy");
            let details: Vec<Value> = a
                .balances
                .iter()
                .filter(|(c, _)| ccy.is_none_or(|want| want.split(',').any(|w| w == c.as_str())))
                .map(|(c, (free, locked))| {
                    json!({"ccy": c, "availBal": free.to_string(), "frozenBal": locked.to_string(),
                           "cashBal": Amount(free.0 + locked.0).to_string(), "eq": Amount(free.0 + locked.0).to_string()})
                })
                .collect();
            Ok(json!([{"uTime": now.to_string(), "details": details}]))
        }
        "/api/v5/trade/orders-pending" => {
            let a = &st.accounts[key];
            Ok(Value::Array(a.open_orders.iter().map(order_json).collect()))
        }
        "/api/v5/trade/fills" | "/api/v5/trade/fills-history" => {
            // Newest first; `after`: records with a billId below it; `begin`: records whose
            // `ts` is at or after it (ms); `limit` at most 100.
            let after: u64 = get(&query, "after").map_or(Ok(u64::MAX), str::parse).map_err(|_| PARAM)?;
            let begin: u64 = get(&query, "begin").map_or(Ok(0), str::parse).map_err(|_| PARAM)?;
            let limit: usize = get(&query, "limit").map_or(Ok(100), str::parse).map_err(|_| PARAM)?;
            if limit == 0 || limit > 100 {
                return Err(PARAM);
            }
            let a = &st.accounts[key];
            let mut page: Vec<&Trade> = a.trades.iter().filter(|t| t.id < after && t.time >= begin).collect();
            page.sort_by_key(|t| std::cmp::Reverse(t.id));
            Ok(Value::Array(page.into_iter().take(limit).map(fill_json).collect()))
        }
        "/api/v5/trade/order" => {
            let o = order_intent(&req.body)?;
            let market = st.markets.iter().find(|m| m.symbol == o.symbol).cloned().ok_or(BAD_INST)?;
            let cl_ord_id = field("clOrdId").unwrap_or("").to_owned();
            let id = st.next_id();
            let a = st.accounts.get_mut(key).ok_or(BAD_KEY)?;
            match (o.limit, o.size) {
                (None, size) => {
                    let qty = match size {
                        crate::IntentSize::Base(q) => q,
                        crate::IntentSize::Quote(q) => q.divided_by(market.price),
                    };
                    a.fill_market(&market, o.side_buy, qty, id, now).map_err(|()| INSUFFICIENT)?;
                }
                (Some(px), crate::IntentSize::Base(qty)) => {
                    let order = Order { id, symbol: o.symbol, side_buy: o.side_buy, price: px, qty, time: now };
                    a.place_limit(&market, order).map_err(|()| INSUFFICIENT)?;
                }
                (Some(_), crate::IntentSize::Quote(_)) => return Err(PARAM),
            }
            // As OKX does, the answer echoes the caller's clOrdId.
            Ok(
                json!([{"ordId": id.to_string(), "clOrdId": cl_ord_id, "tag": "", "sCode": "0", "sMsg": "Order placed"}]),
            )
        }
        "/api/v5/trade/cancel-order" => {
            let inst = field("instId").ok_or(PARAM)?.to_owned();
            let ord: u64 = field("ordId").and_then(|o| o.parse().ok()).ok_or(PARAM)?;
            if !st.markets.iter().any(|m| m.symbol == inst) {
                return Err(BAD_INST);
            }
            let markets = st.markets.clone();
            let a = st.accounts.get_mut(key).ok_or(BAD_KEY)?;
            a.cancel(&markets, |o| o.id == ord && o.symbol == inst).ok_or(NO_ORDER)?;
            Ok(json!([{"ordId": ord.to_string(), "clOrdId": "", "sCode": "0", "sMsg": ""}]))
        }
        "/api/v5/asset/withdrawal" => {
            let ccy = field("ccy").ok_or(PARAM)?.to_owned();
            let amt = field("amt").and_then(Amount::parse).filter(|a| a.0 > 0).ok_or(PARAM)?;
            let to = field("toAddr").ok_or(PARAM)?.to_owned();
            let id = st.next_id();
            let a = st.accounts.get_mut(key).ok_or(BAD_KEY)?;
            crate::take(&mut a.balances, &ccy, amt).map_err(|()| INSUFFICIENT)?;
            st.withdrawals.push(Withdrawal { api_key: key.to_owned(), asset: ccy.clone(), address: to, amount: amt });
            Ok(
                json!([{"ccy": ccy, "chain": field("chain").unwrap_or(""), "amt": amt.to_string(), "wdId": id.to_string()}]),
            )
        }
        _ => Err(NOT_FOUND),
    }
}

/// The order of a `POST /api/v5/trade/order`, as OKX documents it ("Place
/// order"): `instId`, `side`, `ordType` (`market`, whose `px` OKX does not
/// use, or `limit` at `px`), `sz` — for a spot market order in the quote
/// currency on a buy and the base on a sell, unless `tgtCcy` says
/// `base_ccy` or `quote_ccy`. A repeated member: the last (Jackson's
/// default).
pub(crate) fn order_intent(body: &str) -> Result<crate::OrderIntent, ApiError> {
    let b: serde_json::Map<String, Value> = serde_json::from_str(body).map_err(|_| PARAM)?;
    let field = |k: &str| b.get(k).and_then(Value::as_str);
    let symbol = field("instId").ok_or(PARAM)?.to_owned();
    let side_buy = match field("side") {
        Some("buy") => true,
        Some("sell") => false,
        _ => return Err(PARAM),
    };
    let sz = field("sz").and_then(Amount::parse).filter(|a| a.0 > 0).ok_or(PARAM)?;
    match field("ordType") {
        Some("market") => {
            let quote = match field("tgtCcy") {
                Some("base_ccy") => false,
                Some("quote_ccy") => true,
                _ => side_buy,
            };
            let size = if quote { crate::IntentSize::Quote(sz) } else { crate::IntentSize::Base(sz) };
            Ok(crate::OrderIntent { symbol, side_buy, size, limit: None })
        }
        Some("limit") => {
            let px = field("px").and_then(Amount::parse).filter(|a| a.0 > 0).ok_or(PARAM)?;
            Ok(crate::OrderIntent { symbol, side_buy, size: crate::IntentSize::Base(sz), limit: Some(px) })
        }
        _ => Err(PARAM),
    }
}

fn order_json(o: &Order) -> Value {
    json!({"instId": o.symbol, "ordId": o.id.to_string(), "px": o.price.to_string(), "sz": o.qty.to_string(),
           "side": if o.side_buy { "buy" } else { "sell" }, "ordType": "limit", "state": "live", "cTime": o.time.to_string()})
}

fn fill_json(t: &Trade) -> Value {
    json!({"instId": t.symbol, "tradeId": t.id.to_string(), "ordId": t.order_id.to_string(), "fillPx": t.price.to_string(),
           "fillSz": t.qty.to_string(), "side": if t.side_buy { "buy" } else { "sell" }, "ts": t.time.to_string(),
           "billId": t.id.to_string(), "instType": "SPOT", "fee": "-0.00000000", "execType": "T"})
}

#[cfg(test)]
mod tests {
    #[test]
    fn iso_timestamps() {
        assert_eq!(super::parse_iso_ms("2020-12-08T09:08:57.715Z"), Some(1_607_418_537_715));
        assert_eq!(super::parse_iso_ms("1970-01-01T00:00:00.000Z"), Some(0));
        assert_eq!(super::parse_iso_ms("2020-12-08T09:08:57Z"), None);
        assert_eq!(super::parse_iso_ms("2020-13-08T09:08:57.715Z"), None);
    }
}
