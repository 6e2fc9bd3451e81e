//! Kraken spot, verified as the Kraken API documentation describes
//! ("Spot REST API → Authentication"): headers `API-Key` and `API-Sign`,
//! where `API-Sign` = base64(HMAC-SHA512(key = base64-decoded secret,
//! message = URI path + SHA-256(nonce + POST data))); the `nonce` must
//! increase for every request of a key. Errors are HTTP 200 with
//! `{"error": ["EAPI:Invalid signature"], …}` and the documented codes.

use aws_lc_rs::{digest, hmac};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Value, json};
use subtle::ConstantTimeEq as _;

use crate::params;

/// The value of `name`; of a repeated name, the last (as many form and JSON
/// readers do: the sandbox does not assume Kraken refuses repeats).
fn get<'a>(p: &'a [(String, String)], name: &str) -> Option<&'a str> {
    p.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// The parameters of a private call, read by its `Content-Type`: a JSON
/// object (`application/json`) or a form (the documented default).
pub(crate) fn body_params(content_type: Option<&str>, body: &str) -> Result<Vec<(String, String)>, String> {
    if content_type.is_some_and(|c| c.starts_with("application/json")) {
        let v: serde_json::Map<String, Value> =
            serde_json::from_str(body).map_err(|_| "EGeneral:Invalid arguments".to_owned())?;
        Ok(v.into_iter().map(|(k, v)| (k, v.as_str().map_or_else(|| v.to_string(), str::to_owned))).collect())
    } else {
        params::parse(body).ok_or_else(|| "EGeneral:Invalid arguments".to_owned())
    }
}

/// The order of an `AddOrder`, as the sandbox reads it: `pair`, `type`,
/// `ordertype` (`market`, whose `price` is not read, or `limit`), `volume`
/// in the base currency unless `oflags` holds `viqc` (then the quote).
pub(crate) fn order_intent(p: &[(String, String)]) -> Result<crate::OrderIntent, &'static str> {
    const BAD: &str = "EGeneral:Invalid arguments";
    let symbol = get(p, "pair").ok_or(BAD)?.to_owned();
    let side_buy = match get(p, "type") {
        Some("buy") => true,
        Some("sell") => false,
        _ => return Err(BAD),
    };
    let volume = get(p, "volume").and_then(Amount::parse).filter(|q| q.0 > 0).ok_or(BAD)?;
    let in_quote = get(p, "oflags").is_some_and(|f| f.split(',').any(|x| x == "viqc"));
    let size = if in_quote { crate::IntentSize::Quote(volume) } else { crate::IntentSize::Base(volume) };
    let limit = match get(p, "ordertype") {
        Some("market") => None,
        Some("limit") => Some(get(p, "price").and_then(Amount::parse).filter(|q| q.0 > 0).ok_or(BAD)?),
        _ => return Err(BAD),
    };
    Ok(crate::OrderIntent { symbol, side_buy, size, limit })
}
use crate::{Amount, Incoming, Order, Shared, Trade, Venue, Withdrawal, lock};

fn error(code: &'static str) -> Value {
    json!({"error": [code]})
}

fn ok(result: Value) -> Value {
    json!({"error": [], "result": result})
}

pub(crate) fn handle(state: &Shared, req: &Incoming) -> Response {
    let v = match handle_inner(state, req) {
        Ok(v) => ok(v),
        Err(code) => error(code),
    };
    if v["error"] == json!(["EGeneral:Unknown method"]) {
        return (StatusCode::NOT_FOUND, axum::Json(v)).into_response();
    }
    axum::Json(v).into_response()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Need {
    Read,
    Trade,
    Withdraw,
}

fn handle_inner(state: &Shared, req: &Incoming) -> Result<Value, &'static str> {
    let path = req.uri.path();
    let need = match path {
        "/0/private/Balance" | "/0/private/BalanceEx" | "/0/private/OpenOrders" | "/0/private/TradesHistory" => {
            Need::Read
        }
        "/0/private/AddOrder" | "/0/private/CancelOrder" => Need::Trade,
        "/0/private/Withdraw" => Need::Withdraw,
        _ => return Err("EGeneral:Unknown method"),
    };
    if req.method != axum::http::Method::POST {
        return Err("EGeneral:Invalid arguments");
    }
    let api_key = req.header("API-Key").ok_or("EAPI:Invalid key")?;
    let api_sign = req.header("API-Sign").ok_or("EAPI:Invalid signature")?;
    let p = body_params(req.header("Content-Type"), &req.body).map_err(|_| "EGeneral:Invalid arguments")?;
    let nonce_text = get(&p, "nonce").ok_or("EAPI:Invalid nonce")?.to_owned();
    let nonce: u64 = nonce_text.parse().map_err(|_| "EAPI:Invalid nonce")?;

    let mut st = lock(state);
    let now = st.now_ms();
    let account = st.accounts.get(api_key).filter(|a| a.spec.venue == Venue::Kraken).ok_or("EAPI:Invalid key")?;
    let spec = account.spec.clone();
    if !spec.allowed_ips.is_empty() && !spec.allowed_ips.contains(&req.peer.ip()) {
        return Err("EGeneral:Permission denied");
    }
    let secret = base64::engine::general_purpose::STANDARD.decode(&spec.secret).map_err(|_| "EAPI:Invalid key")?;
    let inner = digest::digest(&digest::SHA256, [nonce_text.as_bytes(), req.body.as_bytes()].concat().as_slice());
    let expected = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA512, &secret), &[path.as_bytes(), inner.as_ref()].concat());
    let given = base64::engine::general_purpose::STANDARD.decode(api_sign).map_err(|_| "EAPI:Invalid signature")?;
    if !bool::from(expected.as_ref().ct_eq(&given)) {
        return Err("EAPI:Invalid signature");
    }
    if nonce <= account.last_nonce {
        return Err("EAPI:Invalid nonce");
    }
    let allowed = match need {
        Need::Read => spec.permissions.read,
        Need::Trade => spec.permissions.trade,
        Need::Withdraw => spec.permissions.withdraw,
    };
    if !allowed {
        return Err("EGeneral:Permission denied");
    }
    if let Some(a) = st.accounts.get_mut(api_key) {
        a.last_nonce = nonce;
    }
    let a = &st.accounts[api_key];
    match path {
        "/0/private/Balance" => Ok(Value::Object(
            a.balances
                .iter()
                .map(|(k, (free, locked))| (k.clone(), Amount(free.0 + locked.0).to_string().into()))
                .collect(),
        )),
        "/0/private/BalanceEx" => Ok(Value::Object(
            a.balances
                .iter()
                .map(|(k, (free, locked))| {
                    (
                        k.clone(),
                        json!({"balance": Amount(free.0 + locked.0).to_string(), "hold_trade": locked.to_string()}),
                    )
                })
                .collect(),
        )),
        "/0/private/OpenOrders" => Ok(
            json!({"open": a.open_orders.iter().map(|o| (txid(o.id), order_json(o))).collect::<serde_json::Map<_, _>>()}),
        ),
        "/0/private/TradesHistory" => {
            // Newest first, 50 a page from offset `ofs`; `count` is the total matching.
            // `start`: "starting unix timestamp … of results (exclusive)" (seconds, a
            // fraction allowed; the sandbox does not take the tx-id form).
            let ofs: usize = get(&p, "ofs").map_or(Ok(0), str::parse).map_err(|_| "EGeneral:Invalid arguments")?;
            let after_ms = match get(&p, "start") {
                Some(s) => Some(seconds_ms(s).ok_or("EGeneral:Invalid arguments")?),
                None => None,
            };
            let mut all: Vec<&Trade> = a.trades.iter().filter(|t| after_ms.is_none_or(|s| t.time > s)).collect();
            all.sort_by_key(|t| std::cmp::Reverse((t.time, t.id)));
            Ok(json!({
                "trades": all.iter().skip(ofs).take(50).map(|t| (trade_txid(t.id), trade_json(t))).collect::<serde_json::Map<_, _>>(),
                "count": all.len(),
            }))
        }
        "/0/private/AddOrder" => add_order(&mut st, api_key, &p, now),
        "/0/private/CancelOrder" => cancel_order(&mut st, api_key, &p),
        "/0/private/Withdraw" => withdraw(&mut st, api_key, &p),
        _ => Err("EGeneral:Unknown method"),
    }
}

/// Unix seconds (`1700000000` or `1700000000.5`) as ms, `None` if malformed (at most
/// millisecond precision is kept: the fraction's digits after the third are dropped).
fn seconds_ms(s: &str) -> Option<u64> {
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    let digits = |d: &str| d.len() <= 12 && d.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(frac) {
        return None;
    }
    let ms: String = frac.chars().chain("000".chars()).take(3).collect();
    whole.parse::<u64>().ok()?.checked_mul(1000)?.checked_add(ms.parse().ok()?)
}

/// The txid of trade `id`, as the sandbox prints it.
pub(crate) fn trade_txid(id: u64) -> String {
    format!("T{id:05}-SANDB-X{id:05}")
}

fn txid(id: u64) -> String {
    format!("O{id:05}-SANDB-OX{:04}", id % 10_000)
}

fn order_json(o: &Order) -> Value {
    json!({
        "status": "open", "opentm": o.time as f64 / 1000.0, "vol": o.qty.to_string(), "vol_exec": "0.00000000",
        "descr": {"pair": o.symbol, "type": if o.side_buy { "buy" } else { "sell" }, "ordertype": "limit", "price": o.price.to_string()},
    })
}

fn trade_json(t: &Trade) -> Value {
    json!({
        "ordertxid": txid(t.order_id), "pair": t.symbol, "time": t.time as f64 / 1000.0,
        "type": if t.side_buy { "buy" } else { "sell" }, "ordertype": "market",
        "price": t.price.to_string(), "cost": t.price.times(t.qty).to_string(), "fee": "0.00000000", "vol": t.qty.to_string(),
    })
}

fn add_order(st: &mut crate::State, api_key: &str, p: &[(String, String)], now: u64) -> Result<Value, &'static str> {
    let o = order_intent(p)?;
    let market = st.markets.iter().find(|m| m.symbol == o.symbol).cloned().ok_or("EQuery:Unknown asset pair")?;
    let id = st.next_id();
    let a = st.accounts.get_mut(api_key).ok_or("EAPI:Invalid key")?;
    let side = if o.side_buy { "buy" } else { "sell" };
    let pair = &o.symbol;
    match (o.limit, o.size) {
        (None, size) => {
            let qty = match size {
                crate::IntentSize::Base(q) => q,
                crate::IntentSize::Quote(q) => q.divided_by(market.price),
            };
            a.fill_market(&market, o.side_buy, qty, id, now).map_err(|()| "EOrder:Insufficient funds")?;
            Ok(json!({"descr": {"order": format!("{side} {qty} {pair} @ market")}, "txid": [txid(id)]}))
        }
        (Some(price), crate::IntentSize::Base(qty)) => {
            let order = Order { id, symbol: pair.clone(), side_buy: o.side_buy, price, qty, time: now };
            a.place_limit(&market, order).map_err(|()| "EOrder:Insufficient funds")?;
            Ok(json!({"descr": {"order": format!("{side} {qty} {pair} @ limit {price}")}, "txid": [txid(id)]}))
        }
        (Some(_), crate::IntentSize::Quote(_)) => Err("EGeneral:Invalid arguments"),
    }
}

fn cancel_order(st: &mut crate::State, api_key: &str, p: &[(String, String)]) -> Result<Value, &'static str> {
    let id = get(p, "txid").ok_or("EGeneral:Invalid arguments")?;
    let markets = st.markets.clone();
    let a = st.accounts.get_mut(api_key).ok_or("EAPI:Invalid key")?;
    a.cancel(&markets, |o| txid(o.id) == id).ok_or("EOrder:Unknown order")?;
    Ok(json!({"count": 1}))
}

fn withdraw(st: &mut crate::State, api_key: &str, p: &[(String, String)]) -> Result<Value, &'static str> {
    let asset = get(p, "asset").ok_or("EGeneral:Invalid arguments")?.to_owned();
    let key = get(p, "key").ok_or("EGeneral:Invalid arguments")?.to_owned();
    let amount = get(p, "amount").and_then(Amount::parse).filter(|q| q.0 > 0).ok_or("EGeneral:Invalid arguments")?;
    let id = st.next_id();
    let a = st.accounts.get_mut(api_key).ok_or("EAPI:Invalid key")?;
    crate::take(&mut a.balances, &asset, amount).map_err(|()| "EFunding:Insufficient funds")?;
    st.withdrawals.push(Withdrawal { api_key: api_key.to_owned(), asset, address: key, amount });
    Ok(json!({"refid": format!("SANDBOX-{id}")}))
}
