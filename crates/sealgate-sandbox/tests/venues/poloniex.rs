//! The Poloniex spot sandbox verifies key / signTimestamp / signature as the
//! Poloniex spot docs' "Authentication" documents it, checked with an independent
//! client built here (base64 HMAC-SHA256 of `METHOD\n/path\nparams`, params the
//! sorted query and signTimestamp, or `requestBody=…&signTimestamp=…`): good
//! requests pass, and each way of getting one wrong is refused; orders move
//! balances; withdrawals need the key's withdraw permission and are logged.

use crate::common;

use std::net::IpAddr;

use aws_lc_rs::hmac;
use base64::Engine as _;
use common::{Env, amt};
use sealgate_sandbox::{KeySpec, Market, Permissions, Venue};
use serde_json::Value;

const READ_TRADE: Permissions = Permissions { read: true, trade: true, withdraw: false };
const ALL: Permissions = Permissions { read: true, trade: true, withdraw: true };

fn key(api_key: &str, permissions: Permissions, allowed_ips: Vec<IpAddr>) -> KeySpec {
    KeySpec {
        venue: Venue::Poloniex,
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
        key("polotrader", READ_TRADE, vec![]),
        key("polotreasury", ALL, vec![]),
        key("poloreader", Permissions { read: true, ..Permissions::default() }, vec![]),
        key("poloelsewhere", ALL, vec!["127.0.0.2".parse().expect("ip")]),
        KeySpec { venue: Venue::Binance, ..key("binance-key", ALL, vec![]) },
    ];
    Env::new(keys, markets())
}

fn now_ms() -> u64 {
    u64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis())
        .expect("ms")
}

fn sig(secret: &str, text: &str) -> String {
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes()), text.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(tag.as_ref())
}

/// What this client signs: the query as sent (already sorted, encoded) with signTimestamp
/// put in its sorted place, or the body.
fn prehash(method: &str, path: &str, query: &str, body: &str, ts: u64) -> String {
    let params = if body.is_empty() {
        let mut parts: Vec<String> = query.split('&').filter(|p| !p.is_empty()).map(str::to_owned).collect();
        parts.push(format!("signTimestamp={ts}"));
        parts.sort_by(|a, b| a.split('=').next().cmp(&b.split('=').next()));
        parts.join("&")
    } else {
        format!("requestBody={body}&signTimestamp={ts}")
    };
    format!("{method}\n{path}\n{params}")
}

fn headers(api_key: &str, ts: u64, signature: &str) -> Vec<(String, String)> {
    vec![
        ("Content-Type".into(), "application/json".into()),
        ("key".into(), api_key.into()),
        ("signTimestamp".into(), ts.to_string()),
        ("signature".into(), signature.into()),
    ]
}

#[allow(clippy::too_many_arguments)]
fn call_at(
    env: &Env,
    api_key: &str,
    secret: &str,
    ts: u64,
    method: &str,
    path: &str,
    query: &str,
    body: &str,
) -> (u16, Value) {
    let s = sig(secret, &prehash(method, path, query, body, ts));
    env.send(method, path, query, &headers(api_key, ts, &s), body)
}

fn call(env: &Env, api_key: &str, method: &str, path: &str, query: &str, body: &str) -> (u16, Value) {
    call_at(env, api_key, &format!("{api_key}-secret"), now_ms(), method, path, query, body)
}

fn code(v: &Value) -> i64 {
    v["code"].as_i64().unwrap_or(0)
}

const MARKET_BUY: &str = r#"{"symbol":"BTC_USDT","side":"BUY","type":"MARKET","amount":"500","clientOrderId":"p1"}"#;
const WITHDRAW: &str = r#"{"coin":"BTC","network":"BTC","amount":"0.1","address":"bc1qexample"}"#;
const WITHDRAW_PATH: &str = "/v2/wallets/withdraw";

fn balance(v: &Value, c: &str) -> Value {
    v[0]["balances"].as_array().expect("balances").iter().find(|b| b["currency"] == c).expect("currency").clone()
}

#[test]
fn public_time_and_tickers() {
    let env = env();
    let (status, v) = env.send("GET", "/timestamp", "", &[], "");
    assert_eq!(status, 200, "{v}");
    assert!(v["serverTime"].as_u64().expect("ms").abs_diff(now_ms()) < 5_000);
    let (status, v) = env.send("GET", "/markets/BTC_USDT/ticker24h", "", &[], "");
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (v["close"].as_str(), v["amount"].as_str(), v["quantity"].as_str()),
        (Some("50000.00000000"), Some("1000000000.00000000"), Some("20000.00000000"))
    );
    let (_, v) = env.send("GET", "/markets/BTC_USDT/price", "", &[], "");
    assert_eq!(v["price"], "50000.00000000");
    let (status, v) = env.send("GET", "/markets/NOPE/price", "", &[], "");
    assert_eq!((status, code(&v)), (400, 24101));
}

#[test]
fn balances_orders_trades_and_cancel() {
    let env = env();
    let (status, v) = call(&env, "polotrader", "GET", "/accounts/balances", "", "");
    assert_eq!(status, 200, "{v}");
    assert_eq!(balance(&v, "BTC")["available"], "1.00000000");
    // A market buy by amount (quote): 500 USDT buys 0.01 BTC.
    let (status, v) = call(&env, "polotrader", "POST", "/orders", "", MARKET_BUY);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["clientOrderId"], "p1");
    assert_eq!(env.sb().free_balance("polotrader", "USDT"), Some(amt("9500")));
    assert_eq!(env.sb().free_balance("polotrader", "BTC"), Some(amt("1.01")));
    // A market sell by quantity; `type` defaults to MARKET.
    let (status, v) =
        call(&env, "polotrader", "POST", "/orders", "", r#"{"symbol":"BTC_USDT","side":"SELL","quantity":"0.01"}"#);
    assert_eq!(status, 200, "{v}");
    assert_eq!(env.sb().free_balance("polotrader", "USDT"), Some(amt("10000")));
    // Trades: newest first, `limit`, paged older by `from` (a pageId) with NEXT, newer with PRE.
    env.sb().seed_trades("polotrader", "BTC_USDT", 3);
    let (_, v) = call(&env, "polotrader", "GET", "/trades", "limit=2", "");
    let page = v.as_array().expect("trades").clone();
    assert_eq!(page.len(), 2, "{v}");
    assert_eq!((page[0]["side"].as_str(), page[1]["side"].as_str()), (Some("SELL"), Some("BUY")));
    assert_eq!(page[1]["clientOrderId"], "p1");
    let last = page[1]["pageId"].as_str().expect("pageId").to_owned();
    let (_, v) = call(&env, "polotrader", "GET", "/trades", &format!("direction=NEXT&from={last}&limit=10"), "");
    assert_eq!(v.as_array().map(Vec::len), Some(3), "{v}");
    let (oldest, second) = (v[2]["pageId"].clone(), v[1]["pageId"].clone());
    let oldest = oldest.as_str().expect("pageId");
    let (_, v) = call(&env, "polotrader", "GET", "/trades", &format!("direction=PRE&from={oldest}&limit=2"), "");
    assert_eq!(v.as_array().map(Vec::len), Some(2), "{v}");
    assert_eq!(v[1]["pageId"], second, "the nearest newer trade last: {v}");
    let (_, v) = call(&env, "polotrader", "GET", "/trades", "limit=1001", "");
    assert_eq!(code(&v), 400);
    let (_, v) = call(&env, "polotrader", "GET", "/trades", "symbols=BTC_USDT%2CETH_USDT", "");
    assert_eq!(v.as_array().map(Vec::len), Some(5), "an encoded comma, signed encoded: {v}");
    // A limit sell locks BTC, is listed, and is cancelled by client order id.
    let limit =
        r#"{"symbol":"BTC_USDT","side":"SELL","type":"LIMIT","quantity":"0.5","price":"60000","clientOrderId":"l1"}"#;
    let (status, v) = call(&env, "polotrader", "POST", "/orders", "", limit);
    assert_eq!(status, 200, "{v}");
    let id = v["id"].as_str().expect("id").to_owned();
    let (_, v) = call(&env, "polotrader", "GET", "/accounts/balances", "", "");
    let btc = balance(&v, "BTC");
    assert_eq!((btc["available"].as_str(), btc["hold"].as_str()), (Some("0.50000000"), Some("0.50000000")));
    let (_, v) = call(&env, "polotrader", "GET", "/orders", "symbol=BTC_USDT", "");
    assert_eq!((v[0]["id"].as_str(), v[0]["clientOrderId"].as_str()), (Some(id.as_str()), Some("l1")), "{v}");
    let (status, v) = call(&env, "polotrader", "DELETE", "/orders/cid:l1", "", "");
    assert_eq!((status, v["state"].as_str()), (200, Some("PENDING_CANCEL")), "{v}");
    assert_eq!(env.sb().free_balance("polotrader", "BTC"), Some(amt("1")));
    let (_, v) = call(&env, "polotrader", "DELETE", &format!("/orders/{id}"), "", "");
    assert_eq!(v["message"], "Order not found");
    // Refusals of malformed orders.
    for (bad, want) in [
        (r#"{"symbol":"BTC_USDT","side":"BUY","type":"MARKET","quantity":"1"}"#, 400),
        (r#"{"symbol":"BTC_USDT","side":"SELL","type":"MARKET","amount":"1"}"#, 400),
        (r#"{"symbol":"BTC_USDT","side":"BUY","type":"MARKET","amount":"1","price":"1"}"#, 400),
        (r#"{"symbol":"BTC_USDT","side":"BUY","type":"LIMIT","quantity":"1"}"#, 400),
        (r#"{"symbol":"BTC_USDT","side":"BUY","type":"LIMIT","quantity":1,"price":"1"}"#, 400),
        (r#"{"symbol":"BTC_USDT","side":"BUY","type":"STOP","quantity":"1"}"#, 400),
        (r#"{"symbol":"NOPE","side":"BUY","type":"MARKET","amount":"1"}"#, 24101),
        (r#"{"symbol":"BTC_USDT","side":"BUY","type":"MARKET","amount":"100000"}"#, 400),
        ("[]", 400),
    ] {
        let (_, v) = call(&env, "polotrader", "POST", "/orders", "", bad);
        assert_eq!(code(&v), want, "{bad}: {v}");
    }
    assert_eq!(
        sealgate_sandbox::read_order(Venue::Poloniex, "POST", "/orders", "", None, limit).map(|o| o.side_buy),
        Ok(false)
    );
}

#[test]
fn withdrawals_need_the_permission_and_are_logged() {
    let env = env();
    let (status, v) = call(&env, "polotrader", "POST", WITHDRAW_PATH, "", WITHDRAW);
    assert_eq!((status, code(&v)), (403, 403), "{v}");
    let (_, v) = call(&env, "poloreader", "POST", "/orders", "", MARKET_BUY);
    assert_eq!(code(&v), 403);
    assert!(env.sb().withdrawals().is_empty());
    let (status, v) = call(&env, "polotreasury", "POST", WITHDRAW_PATH, "", WITHDRAW);
    assert_eq!(status, 200, "{v}");
    assert!(v["withdrawalRequestsId"].is_u64());
    let old = r#"{"currency":"BTC","amount":"0.1","address":"bc1qold"}"#;
    let (status, _) = call(&env, "polotreasury", "POST", "/wallets/withdraw", "", old);
    assert_eq!(status, 200);
    let w = env.sb().withdrawals();
    assert_eq!(w.len(), 2);
    assert_eq!((w[0].api_key.as_str(), w[0].asset.as_str(), w[0].amount), ("polotreasury", "BTC", amt("0.1")));
    let (_, v) = call(&env, "polotreasury", "POST", WITHDRAW_PATH, "", &WITHDRAW.replace("0.1", "5"));
    assert_eq!(v["message"], "Insufficient balance");
    let (_, v) = call(&env, "polotreasury", "POST", WITHDRAW_PATH, "", r#"{"coin":"BTC","amount":"0.1"}"#);
    assert_eq!(code(&v), 400);
    assert_eq!(env.sb().withdrawals().len(), 2);
}

#[test]
fn refuses_what_poloniex_refuses() {
    let env = env();
    let now = now_ms();
    let secret = "polotrader-secret";
    let bal = "/accounts/balances";
    // Signed with another key's secret; unknown key; a key of another venue; none.
    let (status, v) = call_at(&env, "polotrader", "polotreasury-secret", now, "GET", bal, "", "");
    assert_eq!((status, code(&v)), (401, 401), "{v}");
    let (_, v) = call(&env, "nobody", "GET", bal, "", "");
    assert_eq!(code(&v), 401);
    let (_, v) = call(&env, "binance-key", "GET", bal, "", "");
    assert_eq!(code(&v), 401);
    let (status, _) = env.send("GET", bal, "", &[], "");
    assert_eq!(status, 401);
    // A hex signature instead of base64.
    let tag =
        hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes()), prehash("GET", bal, "", "", now).as_bytes());
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    let (_, v) = env.send("GET", bal, "", &headers("polotrader", now, &hex), "");
    assert_eq!(code(&v), 401);
    // Replayed on another path, with another body, with another query; a tampered address.
    let body = r#"{"symbol":"BTC_USDT","side":"BUY","type":"MARKET","amount":"500"}"#;
    let s = sig(secret, &prehash("POST", "/orders", "", body, now));
    let (_, v) = env.send("POST", WITHDRAW_PATH, "", &headers("polotrader", now, &s), body);
    assert_eq!(code(&v), 401, "another path: {v}");
    let (_, v) = env.send("POST", "/orders", "", &headers("polotrader", now, &s), &body.replace("500", "900"));
    assert_eq!(code(&v), 401, "another body");
    let (_, v) = env.send("POST", "/orders", "symbol=ETH_USDT", &headers("polotrader", now, &s), body);
    assert_eq!(code(&v), 400, "an unsigned query beside a body");
    let s = sig(secret, &prehash("GET", "/trades", "limit=1", "", now));
    let (_, v) = env.send("GET", "/trades", "limit=2", &headers("polotrader", now, &s), "");
    assert_eq!(code(&v), 401, "another query");
    let s = sig("polotreasury-secret", &prehash("POST", WITHDRAW_PATH, "", WITHDRAW, now));
    let (_, v) = env.send(
        "POST",
        WITHDRAW_PATH,
        "",
        &headers("polotreasury", now, &s),
        &WITHDRAW.replace("bc1qexample", "bc1qattacker"),
    );
    assert_eq!(code(&v), 401, "a tampered address");
    assert!(env.sb().trades("polotrader").is_empty());
    assert!(env.sb().withdrawals().is_empty());
    // Timing: more than 1 s ahead (400); older than recvWindow (408); older than the
    // sandbox's 60 s default.
    let (status, v) = call_at(&env, "polotrader", secret, now_ms() + 3_000, "GET", bal, "", "");
    assert_eq!((status, code(&v)), (400, 400), "{v}");
    let stale = now - 3_000;
    let mut h = headers("polotrader", stale, &sig(secret, &prehash("GET", bal, "", "", stale)));
    h.push(("recvWindow".into(), "1500".into()));
    let (status, v) = env.send("GET", bal, "", &h, "");
    assert_eq!((status, code(&v)), (408, 408), "{v}");
    h.pop();
    h.push(("recvWindow".into(), "5000".into()));
    let (status, _) = env.send("GET", bal, "", &h, "");
    assert_eq!(status, 200, "within a wider recvWindow");
    let (status, _) = call_at(&env, "polotrader", secret, now - 61_000, "GET", bal, "", "");
    assert_eq!(status, 408);
    // An unknown signatureMethod.
    let mut h = headers("polotrader", now, &sig(secret, &prehash("GET", bal, "", "", now)));
    h.push(("signatureMethod".into(), "hmacSHA512".into()));
    let (_, v) = env.send("GET", bal, "", &h, "");
    assert_eq!(code(&v), 401);
    // IP allow-list: the request comes from 127.0.0.1.
    let (status, v) = call(&env, "poloelsewhere", "GET", bal, "", "");
    assert_eq!((status, v["message"].as_str()), (403, Some("IP not in whitelist")));
    // An unknown route.
    let (status, _) = call(&env, "polotrader", "GET", "/orders/1/2", "", "");
    assert_eq!(status, 404);
}

/// Known-answer vectors: the docs' own example strings (`GET\n/orders\nlimit=5&
/// signTimestamp=1659259836247&symbol=ETH_USDT`) and the body form at the same
/// timestamp, with signatures computed outside Rust (Python's `hmac`, SHA-256, base64)
/// for the secret `polo-doc-secret` (ours: the docs give no worked signature).
#[test]
fn documented_layout_known_answers() {
    let mut spec = key("polodoc", ALL, vec![]);
    spec.secret = "polo-doc-secret".into();
    let env = Env::new(vec![spec], markets());
    const TS: u64 = 1_659_259_836_247;
    env.sb().set_clock_offset_ms(i64::try_from(i128::from(TS) - i128::from(now_ms())).expect("offset"));
    let h = |s: &str| headers("polodoc", TS, s);
    let (status, v) =
        env.send("GET", "/orders", "symbol=ETH_USDT&limit=5", &h("Knvi0vJD6NeWoyjS7/qb/1easRWVzpFY64OKqyU4EJA="), "");
    assert_eq!(status, 200, "{v}");
    let (status, v) = env.send("GET", "/accounts/balances", "", &h("46Uxi5lnmmCFXIx6GFi50zNmRu9kdMrVEuFLLnATe8w="), "");
    assert_eq!(status, 200, "{v}");
    let (status, v) = env.send(
        "GET",
        "/trades",
        "symbols=BTC_USDT%2CETH_USDT&limit=5",
        &h("mVvvG3XrFKdNRZYExEARnZ6Ec9JaCLk2dw3wHp3sNEY="),
        "",
    );
    assert_eq!(status, 200, "{v}");
    let body = r#"{"symbol":"BTC_USDT","side":"BUY","type":"LIMIT","quantity":"0.1","price":"40000"}"#;
    let (status, v) = env.send("POST", "/orders", "", &h("pdOGxGbf9RIXP4gUYeovRfTp62YCJ7Aodzhx7e+MW3I="), body);
    assert_eq!(status, 200, "{v}");
}

/// Sealgate's own Poloniex scheme (`sealgate-exchanges`, written separately) passes this
/// independent verifier.
#[test]
fn sealgates_scheme_passes() {
    use sealgate_exchanges::{Credential, SystemClock};
    let env = env();
    let send = |cred: &Credential, method: &str, path: &str, query: &str, body: &str| {
        let s = common::sign("poloniex", cred, &common::request(method, path, query, body), &SystemClock, 1);
        env.send_signed(&s)
    };
    let cred = Credential {
        api_key: Some("polotreasury".into()),
        api_secret: Some("polotreasury-secret".into()),
        ..Credential::default()
    };
    let (status, v) = send(&cred, "GET", "/accounts/balances", "", "");
    assert_eq!(status, 200, "{v}");
    let (status, v) = send(&cred, "POST", "/orders", "", MARKET_BUY);
    assert_eq!(status, 200, "{v}");
    let (_, v) = send(&cred, "GET", "/trades", "limit=10&symbols=BTC_USDT", "");
    assert_eq!(v.as_array().map(Vec::len), Some(1), "{v}");
    let (status, v) = send(&cred, "DELETE", "/orders/cid:none", "", "");
    assert_eq!((status, v["message"].as_str()), (400, Some("Order not found")), "{v}");
    let (status, v) = send(&cred, "POST", WITHDRAW_PATH, "", WITHDRAW);
    assert_eq!(status, 200, "{v}");
    assert_eq!(env.sb().withdrawals().len(), 1);
}
