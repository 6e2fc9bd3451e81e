//! The Gate API v4 sandbox verifies KEY / Timestamp / SIGN as Gate documents it,
//! checked with an independent client built here (hex HMAC-SHA512 of METHOD \n path \n
//! query \n hex(SHA512(body)) \n Timestamp): good requests pass, and each way of
//! getting one wrong is refused with Gate's own label; orders move balances;
//! withdrawals need the key's withdraw permission and are logged.

use crate::common;

use std::net::IpAddr;

use aws_lc_rs::{digest, hmac};
use common::{Env, amt};
use sealgate_sandbox::{KeySpec, Market, Permissions, Venue};
use serde_json::Value;

const READ_TRADE: Permissions = Permissions { read: true, trade: true, withdraw: false };
const ALL: Permissions = Permissions { read: true, trade: true, withdraw: true };

fn key(api_key: &str, permissions: Permissions, allowed_ips: Vec<IpAddr>) -> KeySpec {
    KeySpec {
        venue: Venue::Gate,
        api_key: api_key.into(),
        secret: format!("{api_key}-secret"),
        permissions,
        allowed_ips,
        passphrase: None,
        balances: vec![("USDT".into(), amt("10000")), ("BTC".into(), amt("1"))],
    }
}

fn markets() -> Vec<Market> {
    vec![Market { symbol: "BTC_USDT".into(), base: "BTC".into(), quote: "USDT".into(), price: amt("50000") }]
}

fn env() -> Env {
    let keys = vec![
        key("trader", READ_TRADE, vec![]),
        key("treasury", ALL, vec![]),
        key("reader", Permissions { read: true, ..Permissions::default() }, vec![]),
        key("elsewhere", ALL, vec!["127.0.0.2".parse().expect("ip")]),
        KeySpec { venue: Venue::Bybit, ..key("bybit-key", ALL, vec![]) },
    ];
    Env::new(keys, markets())
}

fn now_s() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Gate's signature string and its hex HMAC-SHA512.
fn signature(secret: &str, method: &str, path: &str, query: &str, body: &str, ts: &str) -> String {
    let body_hash = hex(digest::digest(&digest::SHA512, body.as_bytes()).as_ref());
    let text = format!("{method}\n{path}\n{query}\n{body_hash}\n{ts}");
    hex(hmac::sign(&hmac::Key::new(hmac::HMAC_SHA512, secret.as_bytes()), text.as_bytes()).as_ref())
}

fn headers(api_key: &str, ts: &str, sign: &str) -> Vec<(String, String)> {
    vec![
        ("KEY".into(), api_key.into()),
        ("Timestamp".into(), ts.into()),
        ("SIGN".into(), sign.into()),
        ("Content-Type".into(), "application/json".into()),
        ("Accept".into(), "application/json".into()),
    ]
}

/// A request: method, path, query, body.
type Req<'a> = (&'a str, &'a str, &'a str, &'a str);

fn call_at(env: &Env, api_key: &str, secret: &str, ts: u64, req: Req<'_>) -> (u16, Value) {
    let (method, path, query, body) = req;
    let ts = ts.to_string();
    let sign = signature(secret, method, path, query, body, &ts);
    env.send(method, path, query, &headers(api_key, &ts, &sign), body)
}

fn call(env: &Env, api_key: &str, req: Req<'_>) -> (u16, Value) {
    call_at(env, api_key, &format!("{api_key}-secret"), now_s(), req)
}

fn label(v: &Value) -> &str {
    v["label"].as_str().unwrap_or("")
}

const ORDERS: &str = "/api/v4/spot/orders";
const WITHDRAW_PATH: &str = "/api/v4/withdrawals";
const MARKET_BUY: &str =
    r#"{"text":"t-m1","currency_pair":"BTC_USDT","type":"market","side":"buy","amount":"500","time_in_force":"ioc"}"#;
const WITHDRAW: &str = r#"{"currency":"BTC","address":"bc1qexample","amount":"0.1","chain":"BTC"}"#;

#[test]
fn public_time_and_tickers() {
    let env = env();
    let (status, v) = env.send("GET", "/api/v4/spot/time", "", &[], "");
    assert_eq!(status, 200, "{v}");
    assert!(v["server_time"].as_u64().expect("ms").abs_diff(now_s() * 1000) < 5_000);
    let (status, v) = env.send("GET", "/api/v4/spot/tickers", "currency_pair=BTC_USDT", &[], "");
    assert_eq!(status, 200, "{v}");
    assert_eq!(v[0]["last"], "50000.00000000");
    assert_eq!(v[0]["quote_volume"], "1000000000.00000000");
    assert!(env.sb().set_quote_volume("BTC_USDT", amt("12000")));
    let (_, v) = env.send("GET", "/api/v4/spot/tickers", "currency_pair=BTC_USDT", &[], "");
    assert_eq!(
        (v[0]["quote_volume"].as_str(), v[0]["base_volume"].as_str()),
        (Some("12000.00000000"), Some("0.24000000"))
    );
    let (status, v) = env.send("GET", "/api/v4/spot/tickers", "currency_pair=NOPE", &[], "");
    assert_eq!((status, label(&v)), (400, "INVALID_CURRENCY_PAIR"));
}

#[test]
fn balances_orders_trades_and_cancel() {
    let env = env();
    let (status, v) = call(&env, "trader", ("GET", "/api/v4/spot/accounts", "currency=BTC", ""));
    assert_eq!(status, 200, "{v}");
    assert_eq!(v.as_array().map(Vec::len), Some(1));
    assert_eq!(v[0]["available"], "1.00000000");
    // A market buy is sized in the quote currency: 500 USDT buys 0.01 BTC.
    let (status, v) = call(&env, "trader", ("POST", ORDERS, "", MARKET_BUY));
    assert_eq!(status, 201, "{v}");
    assert_eq!((v["text"].as_str(), v["status"].as_str()), (Some("t-m1"), Some("closed")));
    assert_eq!(env.sb().free_balance("trader", "USDT"), Some(amt("9500")));
    assert_eq!(env.sb().free_balance("trader", "BTC"), Some(amt("1.01")));
    // A market sell is sized in the base currency.
    let sell = r#"{"currency_pair":"BTC_USDT","type":"market","side":"sell","amount":"0.01","time_in_force":"fok"}"#;
    let (status, v) = call(&env, "trader", ("POST", ORDERS, "", sell));
    assert_eq!(status, 201, "{v}");
    assert_eq!(env.sb().free_balance("trader", "USDT"), Some(amt("10000")));
    // Trades, newest first, paged by page/limit.
    env.sb().seed_trades("trader", "BTC_USDT", 3);
    let (_, v) = call(&env, "trader", ("GET", "/api/v4/spot/my_trades", "currency_pair=BTC_USDT&limit=2", ""));
    assert_eq!(v.as_array().map(Vec::len), Some(2), "{v}");
    assert_eq!((v[0]["side"].as_str(), v[1]["side"].as_str()), (Some("sell"), Some("buy")));
    assert_eq!(v[1]["text"], "t-m1");
    let (_, v) = call(&env, "trader", ("GET", "/api/v4/spot/my_trades", "currency_pair=BTC_USDT&limit=2&page=3", ""));
    assert_eq!(v.as_array().map(Vec::len), Some(1), "{v}");
    let (_, v) = call(&env, "trader", ("GET", "/api/v4/spot/my_trades", "limit=1001", ""));
    assert_eq!(label(&v), "INVALID_PARAM_VALUE");
    let (_, v) = call(&env, "trader", ("GET", "/api/v4/spot/my_trades", "order_id=1", ""));
    assert_eq!(label(&v), "MISSING_REQUIRED_PARAM", "order_id needs currency_pair");
    // A limit sell locks BTC, is listed, and is cancelled.
    let limit = r#"{"text":"t-l1","currency_pair":"BTC_USDT","side":"sell","amount":"0.5","price":"60000"}"#;
    let (status, v) = call(&env, "trader", ("POST", ORDERS, "", limit));
    assert_eq!((status, v["status"].as_str()), (201, Some("open")), "{v}");
    let id = v["id"].as_str().expect("id").to_owned();
    let (_, v) = call(&env, "trader", ("GET", "/api/v4/spot/accounts", "currency=BTC", ""));
    assert_eq!((v[0]["available"].as_str(), v[0]["locked"].as_str()), (Some("0.50000000"), Some("0.50000000")));
    let (_, v) = call(&env, "trader", ("GET", "/api/v4/spot/open_orders", "", ""));
    assert_eq!((v[0]["currency_pair"].as_str(), v[0]["total"].as_u64()), (Some("BTC_USDT"), Some(1)), "{v}");
    assert_eq!(v[0]["orders"][0]["text"], "t-l1");
    let (_, v) = call(&env, "trader", ("GET", ORDERS, "currency_pair=BTC_USDT&status=open", ""));
    assert_eq!(v[0]["id"].as_str(), Some(id.as_str()), "{v}");
    let path = format!("{ORDERS}/{id}");
    let (_, v) = call(&env, "trader", ("DELETE", &path, "", ""));
    assert_eq!(label(&v), "MISSING_REQUIRED_PARAM", "currency_pair is required");
    let (status, v) = call(&env, "trader", ("DELETE", &path, "currency_pair=BTC_USDT", ""));
    assert_eq!((status, v["status"].as_str()), (200, Some("cancelled")), "{v}");
    assert_eq!(env.sb().free_balance("trader", "BTC"), Some(amt("1")));
    let (status, v) = call(&env, "trader", ("DELETE", &path, "currency_pair=BTC_USDT", ""));
    assert_eq!((status, label(&v)), (404, "ORDER_NOT_FOUND"));
    // Refusals of malformed orders.
    for (bad, want) in [
        (r#"{"currency_pair":"BTC_USDT","side":"buy","amount":"1"}"#, "MISSING_REQUIRED_PARAM"),
        (r#"{"currency_pair":"BTC_USDT","side":"buy","amount":1,"price":"1"}"#, "INVALID_PARAM_VALUE"),
        (
            r#"{"currency_pair":"BTC_USDT","side":"buy","type":"market","amount":"1","time_in_force":"gtc"}"#,
            "INVALID_PARAM_VALUE",
        ),
        (
            r#"{"currency_pair":"BTC_USDT","side":"buy","amount":"1","price":"1","text":"no-prefix"}"#,
            "INVALID_PARAM_VALUE",
        ),
        (
            r#"{"currency_pair":"BTC_USDT","side":"buy","amount":"1","price":"1","account":"margin"}"#,
            "INVALID_PARAM_VALUE",
        ),
        (r#"{"currency_pair":"NOPE","side":"buy","amount":"1","price":"1"}"#, "INVALID_CURRENCY_PAIR"),
        ("{not json", "INVALID_REQUEST_BODY"),
        (r#"{"currency_pair":"BTC_USDT","side":"buy","type":"market","amount":"100000"}"#, "BALANCE_NOT_ENOUGH"),
        (
            r#"{"currency_pair":"BTC_USDT","side":"buy","amount":"99999999999999999999","price":"99999999999999999999"}"#,
            "BALANCE_NOT_ENOUGH",
        ),
    ] {
        let (_, v) = call(&env, "trader", ("POST", ORDERS, "", bad));
        assert_eq!(label(&v), want, "{bad}: {v}");
    }
}

#[test]
fn withdrawals_need_the_permission_and_are_logged() {
    let env = env();
    let (status, v) = call(&env, "trader", ("POST", WITHDRAW_PATH, "", WITHDRAW));
    assert_eq!((status, label(&v)), (403, "FORBIDDEN"), "{v}");
    let (status, v) = call(&env, "reader", ("POST", ORDERS, "", MARKET_BUY));
    assert_eq!((status, label(&v)), (403, "READ_ONLY"));
    assert!(env.sb().withdrawals().is_empty());
    let (status, v) = call(&env, "treasury", ("POST", WITHDRAW_PATH, "", WITHDRAW));
    assert_eq!((status, v["status"].as_str()), (200, Some("REQUEST")), "{v}");
    let w = env.sb().withdrawals();
    assert_eq!(w.len(), 1);
    assert_eq!((w[0].api_key.as_str(), w[0].asset.as_str(), w[0].amount), ("treasury", "BTC", amt("0.1")));
    let (_, v) = call(&env, "treasury", ("POST", WITHDRAW_PATH, "", &WITHDRAW.replace("0.1", "5")));
    assert_eq!(label(&v), "BALANCE_NOT_ENOUGH");
    let (_, v) = call(&env, "treasury", ("POST", WITHDRAW_PATH, "", &WITHDRAW.replace(r#","chain":"BTC""#, "")));
    assert_eq!(label(&v), "MISSING_REQUIRED_PARAM");
    let (_, v) = call(&env, "treasury", ("POST", WITHDRAW_PATH, "", &WITHDRAW.replace("\"0.1\"", "0.1")));
    assert_eq!(label(&v), "INVALID_PARAM_VALUE", "amount is a string");
    assert_eq!(env.sb().withdrawals().len(), 1);
}

#[test]
fn refuses_what_gate_refuses() {
    let env = env();
    let accounts = ("GET", "/api/v4/spot/accounts", "currency=BTC", "");
    let now = now_s();
    let ts = now.to_string();
    let secret = "trader-secret";
    // Signed with another key's secret; unknown key; a key of another venue.
    let (status, v) = call_at(&env, "trader", "treasury-secret", now, accounts);
    assert_eq!((status, label(&v)), (401, "INVALID_SIGNATURE"), "{v}");
    let (status, v) = call(&env, "nobody", accounts);
    assert_eq!((status, label(&v)), (401, "INVALID_KEY"));
    let (_, v) = call(&env, "bybit-key", accounts);
    assert_eq!(label(&v), "INVALID_KEY");
    // The query, the body, the path, the method or the timestamp changed after signing.
    let sign = signature(secret, "GET", accounts.1, "currency=BTC", "", &ts);
    let (_, v) = env.send("GET", accounts.1, "currency=USDT", &headers("trader", &ts, &sign), "");
    assert_eq!(label(&v), "INVALID_SIGNATURE");
    let (_, v) = env.send("GET", "/api/v4/spot/my_trades", "currency=BTC", &headers("trader", &ts, &sign), "");
    assert_eq!(label(&v), "INVALID_SIGNATURE", "replayed on another path");
    let later = (now + 1).to_string();
    let (_, v) = env.send("GET", accounts.1, "currency=BTC", &headers("trader", &later, &sign), "");
    assert_eq!(label(&v), "INVALID_SIGNATURE", "another Timestamp");
    let sign = signature(secret, "get", accounts.1, "currency=BTC", "", &ts);
    let (_, v) = env.send("GET", accounts.1, "currency=BTC", &headers("trader", &ts, &sign), "");
    assert_eq!(label(&v), "INVALID_SIGNATURE");
    let sign = signature(secret, "GET", "/spot/accounts", "currency=BTC", "", &ts);
    let (_, v) = env.send("GET", accounts.1, "currency=BTC", &headers("trader", &ts, &sign), "");
    assert_eq!(label(&v), "INVALID_SIGNATURE", "the path is signed with its /api/v4 prefix");
    let sign = signature(secret, "POST", ORDERS, "", MARKET_BUY, &ts);
    let (_, v) = env.send("POST", ORDERS, "", &headers("trader", &ts, &sign), &MARKET_BUY.replace("500", "900"));
    assert_eq!(label(&v), "INVALID_SIGNATURE");
    assert!(env.sb().trades("trader").is_empty());
    // The raw body, not its hash, in the string; the hash of another body.
    let text = format!("POST\n{ORDERS}\n\n{MARKET_BUY}\n{ts}");
    let raw = hex(hmac::sign(&hmac::Key::new(hmac::HMAC_SHA512, secret.as_bytes()), text.as_bytes()).as_ref());
    let (_, v) = env.send("POST", ORDERS, "", &headers("trader", &ts, &raw), MARKET_BUY);
    assert_eq!(label(&v), "INVALID_SIGNATURE");
    // A withdrawal signed by the treasury key, replayed with another address.
    let tsign = signature("treasury-secret", "POST", WITHDRAW_PATH, "", WITHDRAW, &ts);
    let body = WITHDRAW.replace("bc1qexample", "bc1qattacker");
    let (_, v) = env.send("POST", WITHDRAW_PATH, "", &headers("treasury", &ts, &tsign), &body);
    assert_eq!(label(&v), "INVALID_SIGNATURE");
    assert!(env.sb().withdrawals().is_empty());
    // Stale or early by more than 60 s; within it. Early is asked with the clock read again
    // and a margin: the test's `now` can be seconds old by here, which made +61 s land
    // inside the window on a loaded machine.
    let (status, v) = call_at(&env, "trader", secret, now - 61, accounts);
    assert_eq!((status, label(&v)), (401, "REQUEST_EXPIRED"));
    let (_, v) = call_at(&env, "trader", secret, now_s() + 70, accounts);
    assert_eq!(label(&v), "REQUEST_EXPIRED");
    let (status, _) = call_at(&env, "trader", secret, now - 30, accounts);
    assert_eq!(status, 200);
    // IP allow-list: the request comes from 127.0.0.1.
    let (status, v) = call(&env, "elsewhere", accounts);
    assert_eq!((status, label(&v)), (403, "IP_FORBIDDEN"));
    // A POST that is not JSON.
    let sign = signature(secret, "POST", ORDERS, "", MARKET_BUY, &ts);
    let mut h = headers("trader", &ts, &sign);
    h[3].1 = "text/plain".into();
    let (_, v) = env.send("POST", ORDERS, "", &h, MARKET_BUY);
    assert_eq!(label(&v), "INVALID_CONTENT_TYPE");
    // Missing or garbage headers; an unknown route.
    let (status, v) = env.send("GET", accounts.1, "currency=BTC", &[], "");
    assert_eq!((status, label(&v)), (401, "MISSING_REQUIRED_HEADER"));
    let mut h = headers("trader", &ts, "zz");
    let (_, v) = env.send("GET", accounts.1, "currency=BTC", &h, "");
    assert_eq!(label(&v), "INVALID_SIGNATURE");
    h[1].1 = "yesterday".into();
    let (_, v) = env.send("GET", accounts.1, "currency=BTC", &h, "");
    assert_eq!(label(&v), "REQUEST_EXPIRED");
    let (status, v) = call(&env, "trader", ("GET", "/api/v4/nothing/here", "", ""));
    assert_eq!((status, label(&v)), (404, "NOT_FOUND"));
}

/// Known-answer vectors: the documented layout at the docs' example timestamp
/// (1541993715), with signatures computed outside Rust (Python's `hmac` and `hashlib`,
/// SHA-512, hex) for the secret `YYYYYYYYYY` (ours: the docs print no secret). The
/// empty body's hash is the constant the docs print.
#[test]
fn documented_layout_known_answers() {
    const EMPTY: &str = "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e";
    assert_eq!(hex(digest::digest(&digest::SHA512, b"").as_ref()), EMPTY);
    let mut spec = key("gate-doc-key", ALL, vec![]);
    spec.secret = "YYYYYYYYYY".into();
    let env = Env::new(vec![spec], markets());
    const TS: u64 = 1_541_993_715;
    let offset = i128::from(TS) * 1000 - i128::from(now_s()) * 1000;
    env.sb().set_clock_offset_ms(i64::try_from(offset).expect("offset"));
    let sign = "dd9ac0860b3274e0cb9122a725eb9615e682f946230dbb9c81e7777316a9dfd92cd5d1652dafcc9b2b837478f40f1e000b5b551a0ff39e3ea52766dbc37aab40";
    let (status, v) =
        env.send("GET", "/api/v4/spot/accounts", "currency=BTC", &headers("gate-doc-key", "1541993715", sign), "");
    assert_eq!(status, 200, "{v}");
    let body = r#"{"text":"t-123456","currency_pair":"BTC_USDT","type":"limit","account":"spot","side":"buy","amount":"0.01","price":"40000","time_in_force":"gtc"}"#;
    let sign = "b434cb225454d059e8689655149e2ce96dc381cbe4357853219758e6c245d5bba75317ac1cd095bbb2c38f4e1f1d60e748e2006dd87d8d85bb914cf99df77939";
    let (status, v) = env.send("POST", ORDERS, "", &headers("gate-doc-key", "1541993715", sign), body);
    assert_eq!((status, v["text"].as_str()), (201, Some("t-123456")), "{v}");
}

/// Sealgate's own Gate scheme (`sealgate-exchanges`, written separately) passes this
/// independent verifier.
#[test]
fn sealgates_scheme_passes() {
    use sealgate_exchanges::{Credential, SystemClock};
    let env = env();
    let send = |cred: &Credential, method: &str, path: &str, query: &str, body: &str| {
        let mut s = common::sign("gate", cred, &common::request(method, path, query, body), &SystemClock, 1);
        if let Some(t) = sealgate_exchanges::content_type("gate", method, body).expect("gate")
            && !s.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("Content-Type"))
        {
            s.headers.push(("Content-Type".into(), t.into()));
        }
        env.send_signed(&s)
    };
    let cred = Credential {
        api_key: Some("treasury".into()),
        api_secret: Some("treasury-secret".into()),
        ..Credential::default()
    };
    let (status, v) = send(&cred, "GET", "/api/v4/spot/accounts", "currency=BTC", "");
    assert_eq!(status, 200, "{v}");
    let (status, v) = send(&cred, "POST", ORDERS, "", MARKET_BUY);
    assert_eq!(status, 201, "{v}");
    let (_, v) = send(&cred, "GET", "/api/v4/spot/my_trades", "currency_pair=BTC_USDT&page=1&limit=10", "");
    assert_eq!(v.as_array().map(Vec::len), Some(1), "{v}");
    let (status, v) = send(&cred, "POST", WITHDRAW_PATH, "", WITHDRAW);
    assert_eq!(status, 200, "{v}");
    assert_eq!(env.sb().withdrawals().len(), 1);
}
