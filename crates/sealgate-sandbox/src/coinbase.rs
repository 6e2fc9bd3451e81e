//! Coinbase Advanced Trade with CDP API keys, verified as the Coinbase
//! Developer Platform documents ("API Key Authentication → JWT"): every
//! request carries `Authorization: Bearer <JWT>`; the JWT header has `alg`
//! (ES256 or EdDSA), `kid` = the key name, `nonce`, `typ` "JWT"; the claims
//! have `sub` = the key name, `iss` "cdp", `nbf`/`exp` (two minutes) and
//! `uri` = "METHOD api.coinbase.com/path". The signature is checked with
//! the key's registered public key.
//!
//! The key's `secret` in the sandbox is the base64 of its public key: a
//! 65-byte uncompressed P-256 point (ES256) or 32 Ed25519 bytes (EdDSA).

use aws_lc_rs::signature;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::{Amount, Incoming, Order, Shared, Trade, Venue, Withdrawal, lock};

/// The host the `uri` claim names.
const HOST: &str = "api.coinbase.com";

pub(crate) struct ApiError(StatusCode, &'static str, pub(crate) &'static str);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, axum::Json(json!({"error": self.1, "error_details": self.2, "message": self.2}))).into_response()
    }
}

const UNAUTH: fn(&'static str) -> ApiError = |why| ApiError(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", why);
const FORBIDDEN: ApiError = ApiError(StatusCode::FORBIDDEN, "PERMISSION_DENIED", "Missing required scopes");
const INVALID: ApiError = ApiError(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", "invalid request");
const NOT_FOUND: ApiError = ApiError(StatusCode::NOT_FOUND, "NOT_FOUND", "Not Found");

fn b64url(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).ok()
}

#[derive(Clone, Copy)]
enum Need {
    Read,
    Trade,
    Withdraw,
}

pub(crate) fn handle(state: &Shared, req: &Incoming) -> Response {
    match handle_inner(state, req) {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

fn handle_inner(state: &Shared, req: &Incoming) -> Result<Value, ApiError> {
    let path = req.uri.path();
    let segs: Vec<&str> = path.split('/').collect();
    let need = match (req.method.as_str(), path) {
        (
            "GET",
            "/api/v3/brokerage/accounts"
            | "/api/v3/brokerage/orders/historical/fills"
            | "/api/v3/brokerage/orders/historical/batch",
        ) => Need::Read,
        ("POST", "/api/v3/brokerage/orders" | "/api/v3/brokerage/orders/batch_cancel") => Need::Trade,
        ("POST", _) if segs.len() == 5 && segs[1] == "v2" && segs[2] == "accounts" && segs[4] == "transactions" => {
            Need::Withdraw
        }
        _ => return Err(NOT_FOUND),
    };
    let token =
        req.header("Authorization").and_then(|a| a.strip_prefix("Bearer ")).ok_or(UNAUTH("missing bearer token"))?;
    let parts: Vec<&str> = token.split('.').collect();
    let [h, p, s] = parts[..] else { return Err(UNAUTH("malformed JWT")) };
    let header: Value =
        b64url(h).and_then(|b| serde_json::from_slice(&b).ok()).ok_or(UNAUTH("malformed JWT header"))?;
    let claims: Value =
        b64url(p).and_then(|b| serde_json::from_slice(&b).ok()).ok_or(UNAUTH("malformed JWT claims"))?;
    let sig = b64url(s).ok_or(UNAUTH("malformed JWT signature"))?;
    let kid = header["kid"].as_str().ok_or(UNAUTH("JWT kid missing"))?;

    let mut st = lock(state);
    let now_s = st.now_ms() / 1000;
    let account = st.accounts.get(kid).filter(|a| a.spec.venue == Venue::Coinbase).ok_or(UNAUTH("unknown key"))?;
    let spec = account.spec.clone();
    let public = base64::engine::general_purpose::STANDARD.decode(&spec.secret).map_err(|_| UNAUTH("key"))?;
    let alg: &dyn signature::VerificationAlgorithm = match (header["alg"].as_str(), public.len()) {
        (Some("ES256"), 65) => &signature::ECDSA_P256_SHA256_FIXED,
        (Some("EdDSA"), 32) => &signature::ED25519,
        _ => return Err(UNAUTH("JWT alg does not fit the key")),
    };
    signature::UnparsedPublicKey::new(alg, &public)
        .verify(format!("{h}.{p}").as_bytes(), &sig)
        .map_err(|_| UNAUTH("invalid signature"))?;
    if header["typ"] != "JWT" || !header["nonce"].is_string() {
        return Err(UNAUTH("JWT header lacks typ or nonce"));
    }
    if claims["sub"] != kid || claims["iss"] != "cdp" {
        return Err(UNAUTH("JWT sub or iss is wrong"));
    }
    let (nbf, exp) = (claims["nbf"].as_u64().unwrap_or(u64::MAX), claims["exp"].as_u64().unwrap_or(0));
    if nbf > now_s + 5 || exp <= now_s || exp.saturating_sub(nbf) > 120 {
        return Err(UNAUTH("JWT expired or not yet valid"));
    }
    if claims["uri"] != format!("{} {HOST}{path}", req.method.as_str()) {
        return Err(UNAUTH("JWT uri does not match the request"));
    }
    if !spec.allowed_ips.is_empty() && !spec.allowed_ips.contains(&req.peer.ip()) {
        return Err(UNAUTH("IP not allowed"));
    }
    let allowed = match need {
        Need::Read => spec.permissions.read,
        Need::Trade => spec.permissions.trade,
        Need::Withdraw => spec.permissions.withdraw,
    };
    if !allowed {
        return Err(FORBIDDEN);
    }
    let now = st.now_ms();
    let body: Value =
        if req.body.is_empty() { json!({}) } else { serde_json::from_str(&req.body).map_err(|_| INVALID)? };
    match path {
        "/api/v3/brokerage/accounts" => {
            let a = &st.accounts[kid];
            let accounts: Vec<Value> = a
                .balances
                .iter()
                .map(|(c, (free, locked))| {
                    json!({"uuid": format!("acct-{c}"), "name": format!("{c} Wallet"), "currency": c,
                           "available_balance": {"value": free.to_string(), "currency": c},
                           "hold": {"value": locked.to_string(), "currency": c}, "active": true, "type": "ACCOUNT_TYPE_CRYPTO"})
                })
                .collect();
            Ok(json!({"accounts": accounts, "has_next": false, "cursor": "", "size": a.balances.len()}))
        }
        "/api/v3/brokerage/orders/historical/fills" => {
            // Newest first; `limit` (default 100, max 1000); the cursor is opaque (an offset here).
            let query = crate::params::parse(req.uri.query().unwrap_or("")).ok_or(INVALID)?;
            let limit: usize = crate::params::get(&query, "limit").map_or(Ok(100), str::parse).map_err(|_| INVALID)?;
            let from: usize = crate::params::get(&query, "cursor")
                .filter(|c| !c.is_empty())
                .map_or(Ok(0), str::parse)
                .map_err(|_| INVALID)?;
            // `start_sequence_timestamp`: only fills with a trade time at or after it (RFC 3339).
            let start = match crate::params::get(&query, "start_sequence_timestamp") {
                Some(s) => rfc3339_ms(s).ok_or(INVALID)?,
                None => 0,
            };
            if limit == 0 || limit > 1000 {
                return Err(INVALID);
            }
            let mut all: Vec<&Trade> = st.accounts[kid].trades.iter().filter(|t| t.time >= start).collect();
            all.sort_by_key(|t| std::cmp::Reverse((t.time, t.id)));
            let fills: Vec<Value> = all.iter().skip(from).take(limit).map(|t| fill_json(t)).collect();
            let cursor = if from + fills.len() < all.len() { (from + fills.len()).to_string() } else { String::new() };
            Ok(json!({"fills": fills, "cursor": cursor}))
        }
        "/api/v3/brokerage/orders/historical/batch" => {
            let orders: Vec<Value> = st.accounts[kid].open_orders.iter().map(order_json).collect();
            Ok(json!({"orders": orders, "sequence": "0", "has_next": false, "cursor": ""}))
        }
        "/api/v3/brokerage/orders" => place(&mut st, kid, &req.body, &body, now),
        "/api/v3/brokerage/orders/batch_cancel" => {
            let ids: Vec<String> = body["order_ids"]
                .as_array()
                .ok_or(INVALID)?
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect();
            let markets = st.markets.clone();
            let a = st.accounts.get_mut(kid).ok_or(UNAUTH("unknown key"))?;
            let results: Vec<Value> = ids
                .iter()
                .map(|id| match a.cancel(&markets, |o| o.id.to_string() == *id) {
                    Some(_) => {
                        json!({"success": true, "failure_reason": "UNKNOWN_CANCEL_FAILURE_REASON", "order_id": id})
                    }
                    None => json!({"success": false, "failure_reason": "UNKNOWN_CANCEL_ORDER", "order_id": id}),
                })
                .collect();
            Ok(json!({"results": results}))
        }
        _ => {
            // POST /v2/accounts/{id}/transactions with type "send".
            if body["type"] != "send" {
                return Err(INVALID);
            }
            let asset = body["currency"].as_str().ok_or(INVALID)?.to_owned();
            let to = body["to"].as_str().ok_or(INVALID)?.to_owned();
            let amount = body["amount"].as_str().and_then(Amount::parse).filter(|a| a.0 > 0).ok_or(INVALID)?;
            let id = st.next_id();
            let a = st.accounts.get_mut(kid).ok_or(UNAUTH("unknown key"))?;
            crate::take(&mut a.balances, &asset, amount).map_err(|()| INVALID)?;
            st.withdrawals.push(Withdrawal { api_key: kid.to_owned(), asset: asset.clone(), address: to, amount });
            Ok(json!({"data": {"id": format!("tx-{id}"), "type": "send", "status": "pending",
                               "amount": {"amount": format!("-{amount}"), "currency": asset}}}))
        }
    }
}

/// A JSON value as Go's `encoding/json` sees it when decoding into a
/// struct: objects keep every member in source order (repeats included).
enum GoJson {
    Object(Vec<(String, GoJson)>),
    Text(String),
    Other,
}

impl<'de> serde::Deserialize<'de> for GoJson {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = GoJson;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("JSON")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<GoJson, A::Error> {
                let mut members = Vec::new();
                while let Some((k, v)) = m.next_entry::<String, GoJson>()? {
                    members.push((k, v));
                }
                Ok(GoJson::Object(members))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut s: A) -> Result<GoJson, A::Error> {
                while s.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(GoJson::Other)
            }
            fn visit_str<E>(self, v: &str) -> Result<GoJson, E> {
                Ok(GoJson::Text(v.to_owned()))
            }
            fn visit_bool<E>(self, _: bool) -> Result<GoJson, E> {
                Ok(GoJson::Other)
            }
            fn visit_i64<E>(self, _: i64) -> Result<GoJson, E> {
                Ok(GoJson::Other)
            }
            fn visit_u64<E>(self, _: u64) -> Result<GoJson, E> {
                Ok(GoJson::Other)
            }
            fn visit_f64<E>(self, _: f64) -> Result<GoJson, E> {
                Ok(GoJson::Other)
            }
            fn visit_unit<E>(self) -> Result<GoJson, E> {
                Ok(GoJson::Other)
            }
        }
        d.deserialize_any(V)
    }
}

/// Go's name folding for struct fields: case-insensitive, with the Kelvin
/// sign and the long s folding to `k` and `s`.
fn fold(s: &str) -> String {
    s.chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            '\u{212a}' => 'k',
            '\u{17f}' => 's',
            c => c,
        })
        .collect()
}

/// The member a Go struct field `name` takes: every member whose name folds
/// to it is decoded in turn, so the last one wins.
fn member<'a>(o: &'a [(String, GoJson)], name: &str) -> Option<&'a GoJson> {
    o.iter().rev().find(|(k, _)| fold(k) == fold(name)).map(|(_, v)| v)
}

fn member_text<'a>(o: &'a [(String, GoJson)], name: &str) -> Result<Option<&'a str>, ApiError> {
    match member(o, name) {
        None => Ok(None),
        Some(GoJson::Text(t)) => Ok(Some(t)),
        Some(_) => Err(INVALID),
    }
}

fn member_object<'a>(o: &'a [(String, GoJson)], name: &str) -> Option<&'a [(String, GoJson)]> {
    match member(o, name) {
        Some(GoJson::Object(m)) => Some(m),
        _ => None,
    }
}

/// The order of a `POST /api/v3/brokerage/orders`, read as Coinbase's Go
/// service decodes it into its request struct: names matched
/// case-insensitively, the last repeat winning; of several
/// `order_configuration` entries the sandbox executes `market_market_ioc`
/// (sized by `quote_size`, else `base_size`; a `limit_price` there is not
/// read) before `limit_limit_gtc` (`base_size` at `limit_price`).
pub(crate) fn order_intent(body: &str) -> Result<crate::OrderIntent, ApiError> {
    let GoJson::Object(top) = serde_json::from_str::<GoJson>(body).map_err(|_| INVALID)? else {
        return Err(INVALID);
    };
    let symbol = member_text(&top, "product_id")?.ok_or(INVALID)?.to_owned();
    let side_buy = match member_text(&top, "side")? {
        Some("BUY") => true,
        Some("SELL") => false,
        _ => return Err(INVALID),
    };
    let conf = member_object(&top, "order_configuration").ok_or(INVALID)?;
    let amount = |o: &[(String, GoJson)], name: &str| -> Result<Option<Amount>, ApiError> {
        member_text(o, name)?.map(|t| Amount::parse(t).filter(|a| a.0 > 0).ok_or(INVALID)).transpose()
    };
    if let Some(m) = member_object(conf, "market_market_ioc") {
        let size = match (amount(m, "quote_size")?, amount(m, "base_size")?) {
            (Some(q), _) => crate::IntentSize::Quote(q),
            (None, Some(b)) => crate::IntentSize::Base(b),
            (None, None) => return Err(INVALID),
        };
        Ok(crate::OrderIntent { symbol, side_buy, size, limit: None })
    } else if let Some(l) = member_object(conf, "limit_limit_gtc") {
        let qty = amount(l, "base_size")?.ok_or(INVALID)?;
        let px = amount(l, "limit_price")?.ok_or(INVALID)?;
        Ok(crate::OrderIntent { symbol, side_buy, size: crate::IntentSize::Base(qty), limit: Some(px) })
    } else {
        Err(INVALID)
    }
}

fn place(st: &mut crate::State, kid: &str, body_text: &str, body: &Value, now: u64) -> Result<Value, ApiError> {
    let o = order_intent(body_text)?;
    let market = st.markets.iter().find(|m| m.symbol == o.symbol).cloned().ok_or(INVALID)?;
    let client_id = body["client_order_id"].as_str().unwrap_or("").to_owned();
    let conf = &body["order_configuration"];
    let id = st.next_id();
    let a = st.accounts.get_mut(kid).ok_or(UNAUTH("unknown key"))?;
    let failure = |reason: &str| json!({"success": false, "failure_reason": "UNKNOWN_FAILURE_REASON", "error_response": {"error": reason}});
    match (o.limit, o.size) {
        (None, size) => {
            let qty = match size {
                crate::IntentSize::Quote(q) => q.divided_by(market.price),
                crate::IntentSize::Base(b) => b,
            };
            if a.fill_market(&market, o.side_buy, qty, id, now).is_err() {
                return Ok(failure("INSUFFICIENT_FUND"));
            }
        }
        (Some(px), crate::IntentSize::Base(qty)) => {
            let order = Order { id, symbol: o.symbol.clone(), side_buy: o.side_buy, price: px, qty, time: now };
            if a.place_limit(&market, order).is_err() {
                return Ok(failure("INSUFFICIENT_FUND"));
            }
        }
        (Some(_), crate::IntentSize::Quote(_)) => return Err(INVALID),
    }
    Ok(json!({"success": true, "success_response": {"order_id": id.to_string(), "product_id": o.symbol,
              "side": if o.side_buy { "BUY" } else { "SELL" }, "client_order_id": client_id},
              "order_configuration": conf}))
}

fn order_json(o: &Order) -> Value {
    json!({"order_id": o.id.to_string(), "product_id": o.symbol, "side": if o.side_buy { "BUY" } else { "SELL" },
           "status": "OPEN", "order_configuration": {"limit_limit_gtc": {"base_size": o.qty.to_string(), "limit_price": o.price.to_string()}},
           "created_time": o.time.to_string()})
}

fn fill_json(t: &Trade) -> Value {
    json!({"entry_id": t.id.to_string(), "trade_id": t.id.to_string(), "order_id": t.order_id.to_string(),
           "product_id": t.symbol, "price": t.price.to_string(), "size": t.qty.to_string(),
           "side": if t.side_buy { "BUY" } else { "SELL" }, "trade_time": rfc3339(t.time), "commission": "0.00",
           "trade_type": "FILL", "size_in_quote": false, "liquidity_indicator": "TAKER"})
}

/// `2021-05-31T09:59:59.123Z` of a Unix ms time.
pub(crate) fn rfc3339(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Civil from days (H. Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z", rem / 3600, rem % 3600 / 60, rem % 60, ms % 1000)
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction]Z` as Unix ms (the fraction cut to ms); `None` if malformed
/// or before 1970. Written here, not shared with the venues' reader.
fn rfc3339_ms(s: &str) -> Option<u64> {
    let s = s.strip_suffix('Z')?;
    let (main, frac) = s.split_once('.').unwrap_or((s, ""));
    let b = main.as_bytes();
    if b.len() != 19 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if frac.len() > 9 || !frac.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let n = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = main.get(r)?;
        if t.bytes().all(|c| c.is_ascii_digit()) { t.parse().ok() } else { None }
    };
    let (y, mo, d, h, mi, sec) = (n(0..4)?, n(5..7)?, n(8..10)?, n(11..13)?, n(14..16)?, n(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let ms: i64 = frac.chars().chain("000".chars()).take(3).collect::<String>().parse().ok()?;
    u64::try_from(((days * 24 + h) * 60 + mi) * 60_000 + sec * 1000 + ms).ok()
}

#[cfg(test)]
mod time_tests {
    #[test]
    fn rfc3339() {
        assert_eq!(super::rfc3339_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(super::rfc3339_ms("2024-02-29T12:34:56.789Z"), Some(1_709_210_096_789));
        assert_eq!(super::rfc3339_ms("2024-02-29T12:34:56.7Z"), Some(1_709_210_096_700));
        assert_eq!(super::rfc3339_ms("2024-02-29 12:34:56Z"), None);
        assert_eq!(super::rfc3339_ms("2024-13-01T00:00:00Z"), None);
        assert_eq!(super::rfc3339_ms("1969-12-31T23:59:59Z"), None);
    }
}
