//! The Gemini REST v1 sandbox verifies X-GEMINI-APIKEY / X-GEMINI-PAYLOAD /
//! X-GEMINI-SIGNATURE as Gemini's "Private API invocation" documents it, checked with
//! an independent client built here (hex HMAC-SHA384 of the base64 payload; the
//! payload's `request` is the path, its `nonce` increasing): good requests pass, and
//! each way of getting one wrong is refused with Gemini's reason; orders move
//! balances; withdrawals need the Fund Manager role and are logged.

use crate::common;

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_lc_rs::hmac;
use base64::Engine as _;
use common::{Env, amt};
use sealgate_sandbox::{KeySpec, Market, Permissions, Venue};
use serde_json::{Value, json};

const READ_TRADE: Permissions = Permissions { read: true, trade: true, withdraw: false };
const ALL: Permissions = Permissions { read: true, trade: true, withdraw: true };

fn key(api_key: &str, permissions: Permissions, allowed_ips: Vec<IpAddr>) -> KeySpec {
    KeySpec {
        venue: Venue::Gemini,
        api_key: api_key.into(),
        secret: format!("{api_key}-secret"),
        permissions,
        allowed_ips,
        passphrase: None,
        balances: vec![("USD".into(), amt("10000")), ("BTC".into(), amt("1"))],
    }
}

fn markets() -> Vec<Market> {
    vec![Market { symbol: "btcusd".into(), base: "BTC".into(), quote: "USD".into(), price: amt("50000") }]
}

fn env() -> Env {
    let keys = vec![
        key("gemtrader", READ_TRADE, vec![]),
        key("gemtreasury", ALL, vec![]),
        key("gemauditor", Permissions { read: true, ..Permissions::default() }, vec![]),
        key("gemelsewhere", ALL, vec!["127.0.0.2".parse().expect("ip")]),
        KeySpec { venue: Venue::Binance, ..key("binance-key", ALL, vec![]) },
    ];
    Env::new(keys, markets())
}

/// Strictly increasing nonces (milliseconds, as the docs recommend, and more).
fn nonce() -> u64 {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now =
        u64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_micros())
            .expect("us");
    let prev = LAST.fetch_max(now, Ordering::SeqCst);
    if prev >= now { LAST.fetch_add(1, Ordering::SeqCst) + 1 } else { now }
}

fn b64(payload: &Value) -> String {
    base64::engine::general_purpose::STANDARD.encode(payload.to_string())
}

fn sig(secret: &str, b64: &str) -> String {
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA384, secret.as_bytes()), b64.as_bytes());
    tag.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

fn headers(api_key: &str, b64: &str, signature: &str) -> Vec<(String, String)> {
    vec![
        ("Content-Type".into(), "text/plain".into()),
        ("X-GEMINI-APIKEY".into(), api_key.into()),
        ("X-GEMINI-PAYLOAD".into(), b64.into()),
        ("X-GEMINI-SIGNATURE".into(), signature.into()),
        ("Cache-Control".into(), "no-cache".into()),
    ]
}

/// POST `path` with `fields` plus `request` = `request` and a fresh nonce, signed with `secret`.
fn call_as(env: &Env, api_key: &str, secret: &str, path: &str, request: &str, fields: Value) -> (u16, Value) {
    let mut p = json!({"request": request, "nonce": nonce()});
    if let (Some(p), Some(f)) = (p.as_object_mut(), fields.as_object()) {
        p.extend(f.clone());
    }
    let b = b64(&p);
    env.send("POST", path, "", &headers(api_key, &b, &sig(secret, &b)), "")
}

fn call(env: &Env, api_key: &str, path: &str, fields: Value) -> (u16, Value) {
    call_as(env, api_key, &format!("{api_key}-secret"), path, path, fields)
}

fn reason(v: &Value) -> &str {
    v["reason"].as_str().unwrap_or("")
}

const NEW: &str = "/v1/order/new";
const WITHDRAW_PATH: &str = "/v1/withdraw/btc";

fn limit_buy() -> Value {
    json!({"symbol": "btcusd", "amount": "0.1", "price": "40000", "side": "buy", "type": "exchange limit",
           "client_order_id": "g1"})
}

#[test]
fn public_ticker() {
    let env = env();
    let (status, v) = env.send("GET", "/v1/pubticker/btcusd", "", &[], "");
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (v["last"].as_str(), v["volume"]["USD"].as_str(), v["volume"]["BTC"].as_str()),
        (Some("50000.00000000"), Some("1000000000.00000000"), Some("20000.00000000"))
    );
    let (status, v) = env.send("GET", "/v1/pubticker/nope", "", &[], "");
    assert_eq!((status, reason(&v)), (400, "InvalidSymbol"));
}

#[test]
fn balances_orders_trades_and_cancel() {
    let env = env();
    let (status, v) = call(&env, "gemtrader", "/v1/balances", json!({}));
    assert_eq!(status, 200, "{v}");
    let btc = v.as_array().expect("balances").iter().find(|b| b["currency"] == "BTC").expect("BTC").clone();
    assert_eq!((btc["amount"].as_str(), btc["available"].as_str()), (Some("1.00000000"), Some("1.00000000")));
    // A limit buy locks USD, is listed, answered by status, and cancelled.
    let (status, v) = call(&env, "gemtrader", NEW, limit_buy());
    assert_eq!(status, 200, "{v}");
    assert_eq!((v["client_order_id"].as_str(), v["is_live"].as_bool()), (Some("g1"), Some(true)), "{v}");
    let id: u64 = v["order_id"].as_str().expect("id").parse().expect("number");
    assert_eq!(env.sb().free_balance("gemtrader", "USD"), Some(amt("6000")));
    let (_, v) = call(&env, "gemtrader", "/v1/orders", json!({}));
    assert_eq!(v[0]["order_id"].as_str(), Some(id.to_string().as_str()), "{v}");
    let (_, v) = call(&env, "gemtrader", "/v1/order/status", json!({"client_order_id": "g1"}));
    assert_eq!(v["price"], "40000.00000000", "{v}");
    let (status, v) = call(&env, "gemtrader", "/v1/order/cancel", json!({"order_id": id}));
    assert_eq!((status, v["is_cancelled"].as_bool()), (200, Some(true)), "{v}");
    assert_eq!(env.sb().free_balance("gemtrader", "USD"), Some(amt("10000")));
    let (status, v) = call(&env, "gemtrader", "/v1/order/cancel", json!({"order_id": id}));
    assert_eq!((status, reason(&v)), (404, "OrderNotFound"));
    // Trades: the most recent `limit_trades`, newest first; from `timestamp` on, the oldest.
    env.sb().seed_trades("gemtrader", "btcusd", 3);
    let (_, v) = call(&env, "gemtrader", "/v1/mytrades", json!({"symbol": "btcusd", "limit_trades": 2}));
    let page = v.as_array().expect("trades").clone();
    assert_eq!(page.len(), 2, "{v}");
    let (t0, t1) = (page[0]["timestampms"].as_u64().expect("ms"), page[1]["timestampms"].as_u64().expect("ms"));
    assert!(t0 > t1, "newest first: {v}");
    let all = env.sb().trades("gemtrader");
    let first = all[0].time_ms;
    let (_, v) =
        call(&env, "gemtrader", "/v1/mytrades", json!({"symbol": "btcusd", "timestamp": first, "limit_trades": 2}));
    assert_eq!(v.as_array().map(Vec::len), Some(2), "{v}");
    assert_eq!(v[1]["timestampms"].as_u64(), Some(first), "{v}");
    let (_, v) = call(&env, "gemtrader", "/v1/mytrades", json!({"symbol": "btcusd", "limit_trades": 501}));
    assert_eq!(reason(&v), "InvalidRequest");
    // Refusals of malformed orders.
    let mut cases = Vec::new();
    for (field, value, want) in [
        ("amount", json!(0.1), "InvalidQuantity"),
        ("amount", json!("0"), "InvalidQuantity"),
        ("price", json!("x"), "InvalidPrice"),
        ("side", json!("BUY"), "InvalidSide"),
        ("type", json!("market"), "InvalidOrderType"),
        ("options", json!(["immediate-or-cancel"]), "UnsupportedOption"),
        ("symbol", json!("nope"), "InvalidSymbol"),
        ("amount", json!("1"), "InsufficientFunds"),
        ("amount", json!("99999999999999999999"), "InsufficientFunds"),
    ] {
        let mut o = limit_buy();
        o[field] = value;
        cases.push((o, want));
    }
    for (o, want) in cases {
        let (_, v) = call(&env, "gemtrader", NEW, o.clone());
        assert_eq!(reason(&v), want, "{o}: {v}");
    }
    let p = b64(&json!({"request": NEW, "nonce": 1, "symbol": "btcusd", "amount": "0.1", "price": "1",
                        "side": "sell", "type": "exchange limit"}));
    assert_eq!(sealgate_sandbox::read_order(Venue::Gemini, "POST", NEW, "", None, &p).map(|o| o.side_buy), Ok(false));
}

#[test]
fn withdrawals_need_the_role_and_are_logged() {
    let env = env();
    let w = json!({"address": "bc1qexample", "amount": "0.1"});
    let (status, v) = call(&env, "gemtrader", WITHDRAW_PATH, w.clone());
    assert_eq!((status, reason(&v)), (403, "MissingRole"), "{v}");
    let (status, v) = call(&env, "gemauditor", NEW, limit_buy());
    assert_eq!((status, reason(&v)), (403, "MissingRole"));
    assert!(env.sb().withdrawals().is_empty());
    let (status, v) = call(&env, "gemtreasury", WITHDRAW_PATH, w.clone());
    assert_eq!(status, 200, "{v}");
    assert_eq!((v["address"].as_str(), v["amount"].as_str()), (Some("bc1qexample"), Some("0.10000000")));
    let log = env.sb().withdrawals();
    assert_eq!(log.len(), 1);
    assert_eq!((log[0].api_key.as_str(), log[0].asset.as_str(), log[0].amount), ("gemtreasury", "BTC", amt("0.1")));
    let (status, v) = call(&env, "gemtreasury", WITHDRAW_PATH, json!({"address": "bc1qexample", "amount": "5"}));
    assert_eq!((status, reason(&v)), (406, "InsufficientFunds"));
    let (_, v) = call(&env, "gemtreasury", WITHDRAW_PATH, json!({"amount": "0.1"}));
    assert_eq!(reason(&v), "InvalidRequest");
    assert_eq!(env.sb().withdrawals().len(), 1);
}

#[test]
fn refuses_what_gemini_refuses() {
    let env = env();
    let secret = "gemtrader-secret";
    let bal = "/v1/balances";
    // Signed with another key's secret; unknown key; a key of another venue.
    let (status, v) = call_as(&env, "gemtrader", "gemtreasury-secret", bal, bal, json!({}));
    assert_eq!((status, reason(&v)), (400, "InvalidSignature"), "{v}");
    let (_, v) = call(&env, "nobody", bal, json!({}));
    assert_eq!(reason(&v), "InvalidApiKey");
    let (_, v) = call(&env, "binance-key", bal, json!({}));
    assert_eq!(reason(&v), "InvalidApiKey");
    // Missing headers.
    let p = b64(&json!({"request": bal, "nonce": nonce()}));
    let s = sig(secret, &p);
    let full = headers("gemtrader", &p, &s);
    for (drop, want) in [
        ("X-GEMINI-APIKEY", "MissingApikeyHeader"),
        ("X-GEMINI-PAYLOAD", "MissingPayloadHeader"),
        ("X-GEMINI-SIGNATURE", "MissingSignatureHeader"),
    ] {
        let h: Vec<_> = full.iter().filter(|(k, _)| k != drop).cloned().collect();
        let (status, v) = env.send("POST", bal, "", &h, "");
        assert_eq!((status, reason(&v)), (400, want));
    }
    // An uppercase signature.
    let (_, v) = env.send("POST", bal, "", &headers("gemtrader", &p, &s.to_uppercase()), "");
    assert_eq!(reason(&v), "InvalidSignature");
    // The payload's request is not the path (signed, so only a mismatch): refused, and
    // replayed on another path too.
    let (status, v) = call_as(
        &env,
        "gemtreasury",
        "gemtreasury-secret",
        WITHDRAW_PATH,
        "/v1/balances",
        json!({
        "address": "bc1qattacker", "amount": "0.1"}),
    );
    assert_eq!((status, reason(&v)), (400, "EndpointMismatch"), "{v}");
    let (_, v) = env.send("POST", "/v1/orders", "", &full, "");
    assert_eq!(reason(&v), "EndpointMismatch");
    // A tampered payload (another body under the same signature).
    let order = json!({"request": NEW, "nonce": nonce(), "symbol": "btcusd", "amount": "0.1", "price": "40000",
                       "side": "buy", "type": "exchange limit"});
    let good = b64(&order);
    let s_order = sig(secret, &good);
    let mut tampered = order.clone();
    tampered["amount"] = json!("0.2");
    let (_, v) = env.send("POST", NEW, "", &headers("gemtrader", &b64(&tampered), &s_order), "");
    assert_eq!(reason(&v), "InvalidSignature");
    // Parameters in the body or the query, beside a good payload.
    let (_, v) = env.send("POST", NEW, "", &headers("gemtrader", &good, &s_order), r#"{"amount":"9"}"#);
    assert_eq!(reason(&v), "InvalidRequest");
    let (_, v) = env.send("POST", NEW, "amount=9", &headers("gemtrader", &good, &s_order), "");
    assert_eq!(reason(&v), "InvalidRequest");
    assert!(env.sb().withdrawals().is_empty());
    assert!(env.sb().balances("gemtrader").iter().all(|(_, _, locked)| *locked == amt("0")));
    // Nonces: a request accepted once is refused when replayed, as is a smaller nonce; a
    // missing or non-numeric nonce is refused; a forged request consumes none.
    let (status, _) = env.send("POST", bal, "", &full, "");
    assert_eq!(status, 200);
    let (status, v) = env.send("POST", bal, "", &full, "");
    assert_eq!((status, reason(&v)), (400, "InvalidNonce"), "replayed");
    for n in [json!(1), json!("12a"), json!(-5), Value::Null] {
        let p = b64(&json!({"request": bal, "nonce": n}));
        let (_, v) = env.send("POST", bal, "", &headers("gemtrader", &p, &sig(secret, &p)), "");
        assert_eq!(reason(&v), "InvalidNonce", "{n}");
    }
    let next = b64(&json!({"request": bal, "nonce": nonce().to_string()}));
    let (_, v) = env.send("POST", bal, "", &headers("gemtrader", &next, "00"), "");
    assert_eq!(reason(&v), "InvalidSignature");
    let (status, _) = env.send("POST", bal, "", &headers("gemtrader", &next, &sig(secret, &next)), "");
    assert_eq!(status, 200, "the nonce as a digit string, not consumed by the forged request");
    // A payload that is not base64 JSON.
    let junk = "bm90IGpzb24=";
    let (_, v) = env.send("POST", bal, "", &headers("gemtrader", junk, &sig(secret, junk)), "");
    assert_eq!(reason(&v), "InvalidJson");
    // IP allow-list: the request comes from 127.0.0.1.
    let (status, v) = call(&env, "gemelsewhere", bal, json!({}));
    assert_eq!((status, reason(&v)), (403, "InvalidIpAddress"));
    // An unknown entry point.
    let (status, _) = call(&env, "gemtrader", "/v1/nothing", json!({}));
    assert_eq!(status, 404);
}

/// The worked example of "Private API invocation": key `mykey`, secret `1234abcd`, the
/// payload `{"request": "/v1/order/status", "nonce": 123456, "order_id": 18834}` as the
/// docs lay it out (whitespace and all), its base64 and signature as printed there.
/// The sandbox accepts the authentication (the order does not exist: 404 OrderNotFound,
/// not 400), and refuses it replayed (the nonce).
#[test]
fn documented_worked_example() {
    const DOC_B64: &str = "ewogICAgInJlcXVlc3QiOiAiL3YxL29yZGVyL3N0YXR1cyIsCiAgICAibm9uY2UiOiAxMjM0NTYsCgogICAgIm9yZGVyX2lkIjogMTg4MzQKfQo=";
    const DOC_SIG: &str =
        "337cc8b4ea692cfe65b4a85fcc9f042b2e3f702ac956fd098d600ab15705775017beae402be773ceee10719ff70d710f";
    let mut spec = key("mykey", ALL, vec![]);
    spec.secret = "1234abcd".into();
    let env = Env::new(vec![spec], markets());
    let (status, v) = env.send("POST", "/v1/order/status", "", &headers("mykey", DOC_B64, DOC_SIG), "");
    assert_eq!((status, reason(&v)), (404, "OrderNotFound"), "{v}");
    let (status, v) = env.send("POST", "/v1/order/status", "", &headers("mykey", DOC_B64, DOC_SIG), "");
    assert_eq!((status, reason(&v)), (400, "InvalidNonce"), "{v}");
    // Our own vector: compact payload, signature from Python's `hmac` (SHA-384, hex).
    let mut spec = key("gemdoc", ALL, vec![]);
    spec.secret = "gem-doc-secret".into();
    let env = Env::new(vec![spec], markets());
    let (status, v) = env.send(
        "POST",
        "/v1/balances",
        "",
        &headers(
            "gemdoc",
            "eyJyZXF1ZXN0IjoiL3YxL2JhbGFuY2VzIiwibm9uY2UiOjE3MDAwMDAwMDAwMDB9",
            "006ad5f47f633993eb3892019531abe2b46730a827d691bac09edcf2e622e4189caad315c53ee4dad8c274f356cd94a2",
        ),
        "",
    );
    assert_eq!(status, 200, "{v}");
}

/// Sealgate's own Gemini scheme (`sealgate-exchanges`, written separately) passes this
/// independent verifier.
#[test]
fn sealgates_scheme_passes() {
    use sealgate_exchanges::{Credential, SystemClock};
    let env = env();
    let send = |cred: &Credential, path: &str, body: &str| {
        let s = common::sign("gemini", cred, &common::request("POST", path, "", body), &SystemClock, nonce());
        env.send_signed(&s)
    };
    let cred = Credential {
        api_key: Some("gemtreasury".into()),
        api_secret: Some("gemtreasury-secret".into()),
        ..Credential::default()
    };
    let (status, v) = send(&cred, "/v1/balances", "");
    assert_eq!(status, 200, "{v}");
    let (status, v) = send(&cred, NEW, &limit_buy().to_string());
    assert_eq!(status, 200, "{v}");
    let (_, v) = send(&cred, "/v1/orders", "{}");
    assert_eq!(v.as_array().map(Vec::len), Some(1), "{v}");
    let (status, v) = send(&cred, WITHDRAW_PATH, r#"{"address":"bc1qexample","amount":"0.1"}"#);
    assert_eq!(status, 200, "{v}");
    assert_eq!(env.sb().withdrawals().len(), 1);
}

/// An `exchange limit` order that crosses the market fills at once at the market's price;
/// "Order Status" answers it (and a cancelled one) after it has left the open orders.
#[test]
fn a_crossing_limit_order_fills_and_its_status_stays_readable() {
    let env = env();
    let sell = json!({"symbol": "btcusd", "amount": "0.1", "price": "45000", "side": "sell", "type": "exchange limit",
                      "client_order_id": "g-cross"});
    let (status, v) = call(&env, "gemtrader", NEW, sell);
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (v["is_live"].as_bool(), v["executed_amount"].as_str(), v["avg_execution_price"].as_str()),
        (Some(false), Some("0.10000000"), Some("50000.00000000")),
        "{v}"
    );
    assert_eq!(env.sb().free_balance("gemtrader", "BTC"), Some(amt("0.9")));
    assert_eq!(env.sb().free_balance("gemtrader", "USD"), Some(amt("15000")), "filled at the market's 50000");
    let trades = env.sb().trades("gemtrader");
    assert_eq!(trades.len(), 1);
    let (_, v) = call(&env, "gemtrader", "/v1/order/status", json!({"client_order_id": "g-cross"}));
    assert_eq!((v["is_live"].as_bool(), v["is_cancelled"].as_bool()), (Some(false), Some(false)), "{v}");
    // A resting order, cancelled, is still answered (cancelled); an unknown name is not found.
    let (_, v) = call(&env, "gemtrader", NEW, limit_buy());
    let id: u64 = v["order_id"].as_str().expect("id").parse().expect("number");
    call(&env, "gemtrader", "/v1/order/cancel", json!({"order_id": id}));
    let (_, v) = call(&env, "gemtrader", "/v1/order/status", json!({"client_order_id": "g1"}));
    assert_eq!((v["is_live"].as_bool(), v["is_cancelled"].as_bool()), (Some(false), Some(true)), "{v}");
    let (status, v) = call(&env, "gemtrader", "/v1/order/status", json!({"client_order_id": "nope"}));
    assert_eq!((status, reason(&v)), (404, "OrderNotFound"));
}
