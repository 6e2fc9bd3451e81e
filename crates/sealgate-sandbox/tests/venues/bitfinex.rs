//! The Bitfinex v2 sandbox verifies bfx-apikey / bfx-nonce / bfx-signature as
//! Bitfinex's "Authenticated Endpoints" documents it, checked with an independent
//! client built here (hex HMAC-SHA384 of `/api/` + path + nonce + body): good
//! requests pass, and each way of getting one wrong is refused with Bitfinex's error
//! array; orders move balances; withdrawals need the key's withdraw permission and
//! are logged.

use crate::common;

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_lc_rs::hmac;
use common::{Env, amt};
use sealgate_sandbox::{KeySpec, Market, Permissions, Venue};
use serde_json::Value;

const READ_TRADE: Permissions = Permissions { read: true, trade: true, withdraw: false };
const ALL: Permissions = Permissions { read: true, trade: true, withdraw: true };

fn key(api_key: &str, permissions: Permissions, allowed_ips: Vec<IpAddr>) -> KeySpec {
    KeySpec {
        venue: Venue::Bitfinex,
        api_key: api_key.into(),
        secret: format!("{api_key}-secret"),
        permissions,
        allowed_ips,
        passphrase: None,
        balances: vec![("USD".into(), amt("10000")), ("BTC".into(), amt("1"))],
    }
}

fn markets() -> Vec<Market> {
    vec![Market { symbol: "tBTCUSD".into(), base: "BTC".into(), quote: "USD".into(), price: amt("50000") }]
}

fn env() -> Env {
    let keys = vec![
        key("bfxtrader", READ_TRADE, vec![]),
        key("bfxtreasury", ALL, vec![]),
        key("bfxreader", Permissions { read: true, ..Permissions::default() }, vec![]),
        key("bfxelsewhere", ALL, vec!["127.0.0.2".parse().expect("ip")]),
        KeySpec { venue: Venue::Binance, ..key("binance-key", ALL, vec![]) },
    ];
    Env::new(keys, markets())
}

/// Strictly increasing nonces, microseconds as the docs' example (`Date.now() * 1000`).
fn nonce() -> u64 {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now =
        u64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_micros())
            .expect("us");
    let prev = LAST.fetch_max(now, Ordering::SeqCst);
    if prev >= now { LAST.fetch_add(1, Ordering::SeqCst) + 1 } else { now }
}

fn sig(secret: &str, path: &str, nonce: &str, body: &str) -> String {
    let msg = format!("/api{path}{nonce}{body}");
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA384, secret.as_bytes()), msg.as_bytes());
    tag.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

fn headers(api_key: &str, nonce: &str, signature: &str) -> Vec<(String, String)> {
    vec![
        ("Content-Type".into(), "application/json".into()),
        ("bfx-apikey".into(), api_key.into()),
        ("bfx-nonce".into(), nonce.into()),
        ("bfx-signature".into(), signature.into()),
    ]
}

fn call_with(env: &Env, api_key: &str, secret: &str, n: u64, path: &str, body: &str) -> (u16, Value) {
    let n = n.to_string();
    env.send("POST", path, "", &headers(api_key, &n, &sig(secret, path, &n, body)), body)
}

fn call(env: &Env, api_key: &str, path: &str, body: &str) -> (u16, Value) {
    call_with(env, api_key, &format!("{api_key}-secret"), nonce(), path, body)
}

/// The error code of `["error", CODE, "message"]`.
fn code(v: &Value) -> i64 {
    if v[0] == "error" { v[1].as_i64().unwrap_or(0) } else { 0 }
}

const WALLETS: &str = "/v2/auth/r/wallets";
const SUBMIT: &str = "/v2/auth/w/order/submit";
const CANCEL: &str = "/v2/auth/w/order/cancel";
const WITHDRAW_PATH: &str = "/v2/auth/w/withdraw";
const MARKET_BUY: &str = r#"{"type":"EXCHANGE MARKET","symbol":"tBTCUSD","amount":"0.01","cid":7}"#;
const WITHDRAW: &str = r#"{"wallet":"exchange","method":"bitcoin","amount":"0.1","address":"bc1qexample"}"#;

fn wallet(v: &Value, currency: &str) -> Value {
    v.as_array().expect("wallets").iter().find(|w| w[1] == currency).expect("currency").clone()
}

#[test]
fn public_ticker_and_status() {
    let env = env();
    let (status, v) = env.send("GET", "/v2/ticker/tBTCUSD", "", &[], "");
    assert_eq!(status, 200, "{v}");
    // LAST_PRICE at 6, VOLUME (base) at 7: 1e9 USD / 50000 = 20000 BTC.
    assert_eq!((v[6].as_f64(), v[7].as_f64()), (Some(50_000.0), Some(20_000.0)), "{v}");
    let (status, v) = env.send("GET", "/v2/ticker/tNOPE", "", &[], "");
    assert_eq!((status, code(&v)), (500, 10020), "{v}");
    let (status, v) = env.send("GET", "/v2/platform/status", "", &[], "");
    assert_eq!((status, v[0].as_i64()), (200, Some(1)));
    // The sandbox prints amounts as exact decimal literals.
    let raw = std::io::Read::bytes(
        std::net::TcpStream::connect(env.sb().addr())
            .map(|mut s| {
                std::io::Write::write_all(
                    &mut s,
                    b"GET /v2/ticker/tBTCUSD HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                )
                .expect("write");
                s
            })
            .expect("connect"),
    )
    .map(|b| char::from(b.expect("byte")))
    .collect::<String>();
    assert!(raw.ends_with("[50000.00000000,1.00000000,50000.00000000,1.00000000,0,0,50000.00000000,20000.00000000,50000.00000000,50000.00000000]"), "{raw}");
}

#[test]
fn balances_orders_trades_and_cancel() {
    let env = env();
    let (status, v) = call(&env, "bfxtrader", WALLETS, "{}");
    assert_eq!(status, 200, "{v}");
    let btc = wallet(&v, "BTC");
    assert_eq!((btc[0].as_str(), btc[2].as_f64(), btc[4].as_f64()), (Some("exchange"), Some(1.0), Some(1.0)));
    // A market buy of 0.01 BTC at 50000.
    let (status, v) = call(&env, "bfxtrader", SUBMIT, MARKET_BUY);
    assert_eq!(status, 200, "{v}");
    assert_eq!((v[1].as_str(), v[6].as_str()), (Some("on-req"), Some("SUCCESS")), "{v}");
    assert_eq!(v[4][0][2].as_u64(), Some(7), "cid");
    assert_eq!(env.sb().free_balance("bfxtrader", "USD"), Some(amt("9500")));
    assert_eq!(env.sb().free_balance("bfxtrader", "BTC"), Some(amt("1.01")));
    // A market sell: a negative amount.
    let (status, v) =
        call(&env, "bfxtrader", SUBMIT, r#"{"type":"EXCHANGE MARKET","symbol":"tBTCUSD","amount":"-0.01"}"#);
    assert_eq!(status, 200, "{v}");
    assert_eq!(env.sb().free_balance("bfxtrader", "USD"), Some(amt("10000")));
    // Trades: newest first by default, `limit`, paged back by `end`; `sort: 1` oldest first.
    env.sb().seed_trades("bfxtrader", "tBTCUSD", 3);
    let (_, v) = call(&env, "bfxtrader", "/v2/auth/r/trades/tBTCUSD/hist", r#"{"limit":2}"#);
    let page = v.as_array().expect("trades").clone();
    assert_eq!(page.len(), 2, "{v}");
    assert!(page[0][4].as_f64().expect("amount") < 0.0, "the newest is the sell: {v}");
    assert_eq!(page[1][11].as_u64(), Some(7), "the buy's cid");
    let oldest = page[1][2].as_u64().expect("mts");
    let (_, v) = call(&env, "bfxtrader", "/v2/auth/r/trades/hist", &format!(r#"{{"end":{}}}"#, oldest - 1));
    assert_eq!(v.as_array().map(Vec::len), Some(3), "{v}");
    let (_, v) = call(&env, "bfxtrader", "/v2/auth/r/trades/hist", r#"{"sort":1,"limit":1}"#);
    assert_eq!(v.as_array().map(Vec::len), Some(1), "{v}");
    assert!(v[0][2].as_u64().expect("mts") < oldest);
    let (_, v) = call(&env, "bfxtrader", "/v2/auth/r/trades/hist", r#"{"limit":2501}"#);
    assert_eq!(code(&v), 10020);
    // A limit sell locks BTC, is listed, and is cancelled by id.
    let limit = r#"{"type":"EXCHANGE LIMIT","symbol":"tBTCUSD","amount":"-0.5","price":"60000","cid":42}"#;
    let (_, v) = call(&env, "bfxtrader", SUBMIT, limit);
    let id = v[4][0][0].as_u64().expect("id");
    assert_eq!(v[4][0][8], "EXCHANGE LIMIT", "{v}");
    let (_, v) = call(&env, "bfxtrader", WALLETS, "");
    let btc = wallet(&v, "BTC");
    assert_eq!((btc[2].as_f64(), btc[4].as_f64()), (Some(1.0), Some(0.5)), "{v}");
    let (_, v) = call(&env, "bfxtrader", "/v2/auth/r/orders", "{}");
    assert_eq!((v[0][0].as_u64(), v[0][2].as_u64()), (Some(id), Some(42)), "{v}");
    let (_, v) = call(&env, "bfxtrader", "/v2/auth/r/orders/tETHUSD", "{}");
    assert_eq!(v.as_array().map(Vec::len), Some(0));
    let (status, v) = call(&env, "bfxtrader", CANCEL, &format!(r#"{{"id":{id}}}"#));
    assert_eq!((status, v[1].as_str()), (200, Some("oc-req")), "{v}");
    assert_eq!(env.sb().free_balance("bfxtrader", "BTC"), Some(amt("1")));
    let (_, v) = call(&env, "bfxtrader", CANCEL, &format!(r#"{{"id":{id}}}"#));
    assert_eq!(code(&v), 10001);
    // By cid and cid_date.
    let (_, v) = call(&env, "bfxtrader", SUBMIT, &limit.replace("42", "43"));
    assert_eq!(v[6], "SUCCESS", "{v}");
    let (_, v) = call(&env, "bfxtrader", CANCEL, r#"{"cid":43}"#);
    assert_eq!(code(&v), 10020, "cid needs cid_date");
    let (status, _) = call(&env, "bfxtrader", CANCEL, r#"{"cid":43,"cid_date":"2024-01-01"}"#);
    assert_eq!(status, 200);
    // Refusals of malformed orders.
    for (bad, want) in [
        (r#"{"type":"EXCHANGE MARKET","symbol":"tBTCUSD","amount":0.01}"#, 10020),
        (r#"{"type":"EXCHANGE MARKET","symbol":"tBTCUSD","amount":"0"}"#, 10020),
        (r#"{"type":"EXCHANGE MARKET","symbol":"tBTCUSD","amount":"1e3"}"#, 10020),
        (r#"{"type":"EXCHANGE MARKET","symbol":"tBTCUSD","amount":"0.1","price":"1"}"#, 10020),
        (r#"{"type":"EXCHANGE LIMIT","symbol":"tBTCUSD","amount":"0.1"}"#, 10020),
        (r#"{"type":"LIMIT","symbol":"tBTCUSD","amount":"0.1","price":"1"}"#, 10020),
        (r#"{"type":"EXCHANGE MARKET","symbol":"tNOPE","amount":"0.1"}"#, 10020),
        (r#"{"type":"EXCHANGE MARKET","symbol":"tBTCUSD","amount":"100"}"#, 10001),
        (
            r#"{"type":"EXCHANGE LIMIT","symbol":"tBTCUSD","amount":"99999999999999999999","price":"99999999999999999999"}"#,
            10001,
        ),
        ("not json", 10020),
    ] {
        let (_, v) = call(&env, "bfxtrader", SUBMIT, bad);
        assert_eq!(code(&v), want, "{bad}: {v}");
    }
    assert_eq!(
        sealgate_sandbox::read_order(Venue::Bitfinex, "POST", SUBMIT, "", None, limit).map(|o| o.side_buy),
        Ok(false)
    );
}

#[test]
fn withdrawals_need_the_permission_and_are_logged() {
    let env = env();
    let (status, v) = call(&env, "bfxtrader", WITHDRAW_PATH, WITHDRAW);
    assert_eq!((status, code(&v)), (500, 10100), "{v}");
    let (_, v) = call(&env, "bfxreader", SUBMIT, MARKET_BUY);
    assert_eq!(code(&v), 10100);
    assert!(env.sb().withdrawals().is_empty());
    let (status, v) = call(&env, "bfxtreasury", WITHDRAW_PATH, WITHDRAW);
    assert_eq!((status, v[1].as_str(), v[6].as_str()), (200, Some("acc_wd-req"), Some("SUCCESS")), "{v}");
    let w = env.sb().withdrawals();
    assert_eq!(w.len(), 1);
    assert_eq!(
        (w[0].api_key.as_str(), w[0].asset.as_str(), w[0].address.as_str(), w[0].amount),
        ("bfxtreasury", "BTC", "bc1qexample", amt("0.1"))
    );
    let (_, v) = call(&env, "bfxtreasury", WITHDRAW_PATH, &WITHDRAW.replace("0.1", "5"));
    assert_eq!(code(&v), 10001);
    let (_, v) = call(&env, "bfxtreasury", WITHDRAW_PATH, &WITHDRAW.replace("bitcoin", "dogecoin"));
    assert_eq!(code(&v), 10001);
    let (_, v) = call(&env, "bfxtreasury", WITHDRAW_PATH, r#"{"wallet":"exchange","method":"bitcoin","amount":"0.1"}"#);
    assert_eq!(code(&v), 10020);
    assert_eq!(env.sb().withdrawals().len(), 1);
}

#[test]
fn refuses_what_bitfinex_refuses() {
    let env = env();
    let secret = "bfxtrader-secret";
    // Signed with another key's secret; unknown key; a key of another venue; none.
    let (status, v) = call_with(&env, "bfxtrader", "bfxtreasury-secret", nonce(), WALLETS, "{}");
    assert_eq!((status, code(&v), v[2].as_str()), (500, 10100, Some("apikey: digest invalid")), "{v}");
    let (_, v) = call(&env, "nobody", WALLETS, "{}");
    assert_eq!(v[2], "apikey: invalid");
    let (_, v) = call(&env, "binance-key", WALLETS, "{}");
    assert_eq!(v[2], "apikey: invalid");
    let (_, v) = env.send("POST", WALLETS, "", &[], "{}");
    assert_eq!(code(&v), 10100);
    // An uppercase signature (the docs' `toString()` and `digest('hex')` are lowercase).
    let n = nonce().to_string();
    let upper = sig(secret, WALLETS, &n, "{}").to_uppercase();
    let (_, v) = env.send("POST", WALLETS, "", &headers("bfxtrader", &n, &upper), "{}");
    assert_eq!(v[2], "apikey: digest invalid");
    // Nonces: reused, smaller, not a number — refused, and a forged request does not
    // consume one.
    let n = nonce();
    let (status, _) = call_with(&env, "bfxtrader", secret, n, WALLETS, "{}");
    assert_eq!(status, 200);
    let (_, v) = call_with(&env, "bfxtrader", secret, n, WALLETS, "{}");
    assert_eq!((code(&v), v[2].as_str()), (10114, Some("nonce: small")), "reused");
    let (_, v) = call_with(&env, "bfxtrader", secret, n - 1, WALLETS, "{}");
    assert_eq!(code(&v), 10114, "smaller");
    let next = nonce().to_string();
    let (_, v) = env.send("POST", WALLETS, "", &headers("bfxtrader", &next, "00"), "{}");
    assert_eq!(code(&v), 10100);
    let (status, _) =
        env.send("POST", WALLETS, "", &headers("bfxtrader", &next, &sig(secret, WALLETS, &next, "{}")), "{}");
    assert_eq!(status, 200, "the forged request consumed no nonce");
    let bad = "12a";
    let (_, v) = env.send("POST", WALLETS, "", &headers("bfxtrader", bad, &sig(secret, WALLETS, bad, "{}")), "{}");
    assert_eq!(code(&v), 10114);
    // The same signature replayed: on another path, with another body.
    let n = nonce().to_string();
    let body = r#"{"type":"EXCHANGE MARKET","symbol":"tBTCUSD","amount":"0.01"}"#;
    let s = sig(secret, SUBMIT, &n, body);
    let (_, v) = env.send("POST", "/v2/auth/r/orders", "", &headers("bfxtrader", &n, &s), body);
    assert_eq!(v[2], "apikey: digest invalid", "another path");
    let (_, v) = env.send("POST", SUBMIT, "", &headers("bfxtrader", &n, &s), &body.replace("0.01", "0.09"));
    assert_eq!(v[2], "apikey: digest invalid", "another body");
    let tsecret = "bfxtreasury-secret";
    let wb = WITHDRAW;
    let s = sig(tsecret, WITHDRAW_PATH, &n, wb);
    let (_, v) = env.send(
        "POST",
        WITHDRAW_PATH,
        "",
        &headers("bfxtreasury", &n, &s),
        &wb.replace("bc1qexample", "bc1qattacker"),
    );
    assert_eq!(v[2], "apikey: digest invalid", "a tampered address");
    assert!(env.sb().trades("bfxtrader").is_empty());
    assert!(env.sb().withdrawals().is_empty());
    // Parameters in the query string are refused.
    let n = nonce().to_string();
    let (_, v) = env.send("POST", WALLETS, "limit=1", &headers("bfxtrader", &n, &sig(secret, WALLETS, &n, "")), "");
    assert_eq!(code(&v), 10020);
    // IP allow-list: the request comes from 127.0.0.1.
    let (_, v) = call(&env, "bfxelsewhere", WALLETS, "{}");
    assert_eq!((code(&v), v[2].as_str()), (10100, Some("apikey: ip invalid")));
    // An unknown route; a GET on an authenticated path.
    let (status, _) = call(&env, "bfxtrader", "/v2/auth/r/nothing", "{}");
    assert_eq!(status, 404);
    let (status, _) = env.send("GET", WALLETS, "", &[], "");
    assert_eq!(status, 404);
}

/// Known-answer vectors: the documented prehash (`/api/` + path + nonce + body) at fixed
/// nonces, with signatures computed outside Rust (Python's `hmac`, SHA-384, hex) for
/// the secret `bfx-doc-secret` (ours: the docs give no worked signature).
#[test]
fn documented_layout_known_answers() {
    let mut spec = key("bfxdoc", ALL, vec![]);
    spec.secret = "bfx-doc-secret".into();
    let env = Env::new(vec![spec], markets());
    let h = |n: &str, s: &str| headers("bfxdoc", n, s);
    let (status, v) = env.send(
        "POST",
        WALLETS,
        "",
        &h(
            "1700000000000000",
            "673a8a7fd388eeee726fbde89e80b5e0daa45c917f25a73da3cdd0e3322dc064fb3ab82b6bb59b130def39c301c94d66",
        ),
        "{}",
    );
    assert_eq!(status, 200, "{v}");
    let (status, v) = env.send(
        "POST",
        SUBMIT,
        "",
        &h(
            "1700000000000001",
            "cdc08f390bbbe0236a1f50e4b88018f8df91d9aa93c3b665294ec7b2ea03ba17f33c4c7e80e130f684fd245edc2d45d6",
        ),
        r#"{"type":"EXCHANGE LIMIT","symbol":"tBTCUSD","amount":"0.1","price":"40000"}"#,
    );
    assert_eq!((status, v[6].as_str()), (200, Some("SUCCESS")), "{v}");
}

/// Sealgate's own Bitfinex scheme (`sealgate-exchanges`, written separately) passes this
/// independent verifier.
#[test]
fn sealgates_scheme_passes() {
    use sealgate_exchanges::{Credential, SystemClock};
    let env = env();
    let send = |cred: &Credential, path: &str, body: &str| {
        let s = common::sign("bitfinex", cred, &common::request("POST", path, "", body), &SystemClock, nonce());
        env.send_signed(&s)
    };
    let cred = Credential {
        api_key: Some("bfxtreasury".into()),
        api_secret: Some("bfxtreasury-secret".into()),
        ..Credential::default()
    };
    let (status, v) = send(&cred, WALLETS, "{}");
    assert_eq!(status, 200, "{v}");
    let (status, v) = send(&cred, SUBMIT, MARKET_BUY);
    assert_eq!(status, 200, "{v}");
    let (_, v) = send(&cred, "/v2/auth/r/trades/tBTCUSD/hist", r#"{"limit":10}"#);
    assert_eq!(v.as_array().map(Vec::len), Some(1), "{v}");
    let (status, v) = send(&cred, WITHDRAW_PATH, WITHDRAW);
    assert_eq!(status, 200, "{v}");
    assert_eq!(env.sb().withdrawals().len(), 1);
}
