//! The OKX sandbox verifies OK-ACCESS-* as OKX documents; Sealgate's OKX
//! scheme passes it; timestamps, passphrases and permissions are enforced.

use crate::common;

use common::{Env, amt, request, sign};
use sealgate_exchanges::{Credential, FixedClock, Request, SignedRequest, SystemClock};
use sealgate_sandbox::{KeySpec, Market, Permissions, Venue};
use serde_json::Value;

fn env() -> Env {
    let key = |k: &str, withdraw: bool| KeySpec {
        venue: Venue::Okx,
        api_key: k.into(),
        secret: format!("{k}-secret"),
        permissions: Permissions { read: true, trade: true, withdraw },
        allowed_ips: vec![],
        passphrase: Some("correct horse".into()),
        balances: vec![("USDT".into(), amt("1000")), ("BTC".into(), amt("0.5"))],
    };
    let markets =
        vec![Market { symbol: "BTC-USDT".into(), base: "BTC".into(), quote: "USDT".into(), price: amt("50000") }];
    Env::new(vec![key("bot", false), key("treasury", true)], markets)
}

/// Sign with Sealgate's OKX scheme (at `clock_ms`, else now) and send;
/// `tamper` may change the request after signing.
fn call_with(
    env: &Env,
    key: &str,
    passphrase: &str,
    clock_ms: Option<u64>,
    req: Request,
    tamper: fn(&mut SignedRequest),
) -> (u16, Value) {
    let cred = Credential {
        api_key: Some(key.into()),
        api_secret: Some(format!("{key}-secret").into()),
        passphrase: Some(passphrase.into()),
        ..Credential::default()
    };
    let mut s = match clock_ms {
        Some(ms) => sign("okx", &cred, &req, &FixedClock(ms), 1),
        None => sign("okx", &cred, &req, &SystemClock, 1),
    };
    tamper(&mut s);
    env.send_signed(&s)
}

fn call(env: &Env, key: &str, method: &str, path: &str, query: &str, body: &str) -> (u16, Value) {
    call_with(env, key, "correct horse", None, request(method, path, query, body), |_| {})
}

fn code(v: &Value) -> &str {
    v["code"].as_str().unwrap_or("")
}

#[test]
fn balances_orders_and_cancel() {
    let env = env();
    let (status, v) = call(&env, "bot", "GET", "/api/v5/account/balance", "ccy=BTC", "");
    assert_eq!((status, code(&v)), (200, "0"), "{v}");
    assert_eq!(v["data"][0]["details"].as_array().map(Vec::len), Some(1));
    assert_eq!(v["data"][0]["details"][0]["availBal"], "0.50000000");
    // Market buy of 100 USDT worth.
    let (status, v) = call(
        &env,
        "bot",
        "POST",
        "/api/v5/trade/order",
        "",
        r#"{"instId":"BTC-USDT","tdMode":"cash","side":"buy","ordType":"market","sz":"100"}"#,
    );
    assert_eq!((status, code(&v)), (200, "0"), "{v}");
    assert_eq!(env.sb().free_balance("bot", "USDT"), Some(amt("900")));
    assert_eq!(env.sb().free_balance("bot", "BTC"), Some(amt("0.502")));
    // Limit sell, listed, cancelled.
    let (_, v) = call(
        &env,
        "bot",
        "POST",
        "/api/v5/trade/order",
        "",
        r#"{"instId":"BTC-USDT","tdMode":"cash","side":"sell","ordType":"limit","px":"60000","sz":"0.1"}"#,
    );
    let ord = v["data"][0]["ordId"].as_str().expect("ordId").to_owned();
    let (_, v) = call(&env, "bot", "GET", "/api/v5/trade/orders-pending", "", "");
    assert_eq!(v["data"].as_array().map(Vec::len), Some(1));
    let (status, v) = call(
        &env,
        "bot",
        "POST",
        "/api/v5/trade/cancel-order",
        "",
        &format!(r#"{{"instId":"BTC-USDT","ordId":"{ord}"}}"#),
    );
    assert_eq!((status, code(&v)), (200, "0"), "{v}");
    assert_eq!(env.sb().free_balance("bot", "BTC"), Some(amt("0.502")));
    let (status, v) = call(
        &env,
        "bot",
        "POST",
        "/api/v5/trade/cancel-order",
        "",
        &format!(r#"{{"instId":"BTC-USDT","ordId":"{ord}"}}"#),
    );
    assert_eq!((status, code(&v)), (400, "51400"));
    let (_, v) = call(&env, "bot", "GET", "/api/v5/trade/fills", "", "");
    assert_eq!(v["data"].as_array().map(Vec::len), Some(1));
}

#[test]
fn authentication_failures_and_withdraw_permission() {
    let env = env();
    let wd = r#"{"ccy":"BTC","amt":"0.1","dest":"4","toAddr":"bc1qexample","chain":"BTC-Bitcoin"}"#;
    let (status, v) = call(&env, "bot", "POST", "/api/v5/asset/withdrawal", "", wd);
    assert_eq!((status, code(&v)), (401, "50120"));
    assert!(env.sb().withdrawals().is_empty());
    let (status, v) = call(&env, "treasury", "POST", "/api/v5/asset/withdrawal", "", wd);
    assert_eq!((status, code(&v)), (200, "0"), "{v}");
    assert_eq!(env.sb().withdrawals().len(), 1);
    // Wrong passphrase; unknown key; stale timestamp (31 s old).
    let (status, v) = call_with(&env, "bot", "wrong", None, request("GET", "/api/v5/account/balance", "", ""), |_| {});
    assert_eq!((status, code(&v)), (401, "50105"));
    let (status, v) = call(&env, "nobody", "GET", "/api/v5/account/balance", "", "");
    assert_eq!((status, code(&v)), (401, "50111"));
    let now =
        u64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis())
            .expect("ms");
    let (status, v) = call_with(
        &env,
        "bot",
        "correct horse",
        Some(now - 31_000),
        request("GET", "/api/v5/account/balance", "", ""),
        |_| {},
    );
    assert_eq!((status, code(&v)), (401, "50102"));
    // A request changed after signing.
    let (status, v) = call_with(
        &env,
        "bot",
        "correct horse",
        Some(now),
        request("GET", "/api/v5/account/balance", "ccy=BTC", ""),
        |s| {
            s.query = "ccy=USDT".into();
        },
    );
    assert_eq!((status, code(&v)), (401, "50113"));
}
