//! The Binance sandbox verifies requests as Binance does: the documented
//! example is accepted, and every way of getting it wrong is refused with
//! Binance's own error; orders move balances; withdrawals need the key's
//! withdraw permission and are logged.

use crate::common;

use std::net::IpAddr;

use common::{Env, amt, request, sign};
use sealgate_exchanges::{Credential, SystemClock};
use sealgate_sandbox::{KeySpec, Market, Permissions, Venue};
use serde_json::Value;

const DOC_KEY: &str = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";
const DOC_SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";

fn key(api_key: &str, secret: &str, permissions: Permissions, allowed_ips: Vec<IpAddr>) -> KeySpec {
    KeySpec {
        venue: Venue::Binance,
        api_key: api_key.into(),
        secret: secret.into(),
        permissions,
        allowed_ips,
        passphrase: None,
        balances: vec![("USDT".into(), amt("10000")), ("BTC".into(), amt("1"))],
    }
}

const READ_TRADE: Permissions = Permissions { read: true, trade: true, withdraw: false };
const ALL: Permissions = Permissions { read: true, trade: true, withdraw: true };

fn env() -> Env {
    let keys = vec![
        key("trader-key", "trader-secret", READ_TRADE, vec![]),
        key("full-key", "full-secret", ALL, vec![]),
        key("readonly-key", "readonly-secret", Permissions { read: true, ..Permissions::default() }, vec![]),
        key("elsewhere-key", "elsewhere-secret", ALL, vec!["127.0.0.2".parse().expect("ip")]),
        key(DOC_KEY, DOC_SECRET, ALL, vec![]),
    ];
    let markets = vec![
        Market { symbol: "BTCUSDT".into(), base: "BTC".into(), quote: "USDT".into(), price: amt("50000") },
        Market { symbol: "LTCBTC".into(), base: "LTC".into(), quote: "BTC".into(), price: amt("0.002") },
    ];
    Env::new(keys, markets)
}

trait Call {
    fn call(&self, api_key: &str, secret: &str, method: &str, path: &str, query: &str, body: &str) -> (u16, Value);
}

impl Call for Env {
    /// Sign with Sealgate's Binance scheme (real clock) and send.
    fn call(&self, api_key: &str, secret: &str, method: &str, path: &str, query: &str, body: &str) -> (u16, Value) {
        let cred =
            Credential { api_key: Some(api_key.into()), api_secret: Some(secret.into()), ..Credential::default() };
        self.send_signed(&sign("binance", &cred, &request(method, path, query, body), &SystemClock, 1))
    }
}

fn code(v: &Value) -> i64 {
    v["code"].as_i64().unwrap_or(0)
}

#[test]
fn reads_orders_and_balances() {
    let env = env();
    let (status, acct) = env.call("trader-key", "trader-secret", "GET", "/api/v3/account", "", "");
    assert_eq!(status, 200, "{acct}");
    assert_eq!(acct["canWithdraw"], false);
    let usdt = acct["balances"].as_array().expect("balances").iter().find(|b| b["asset"] == "USDT").expect("usdt");
    assert_eq!(usdt["free"], "10000.00000000");

    // A market buy moves both balances and shows in the trade history.
    let (status, order) = env.call(
        "trader-key",
        "trader-secret",
        "POST",
        "/api/v3/order",
        "",
        "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.01",
    );
    assert_eq!(status, 200, "{order}");
    assert_eq!(order["status"], "FILLED");
    assert_eq!(env.sb().free_balance("trader-key", "USDT"), Some(amt("9500")));
    assert_eq!(env.sb().free_balance("trader-key", "BTC"), Some(amt("1.01")));
    let (_, trades) = env.call("trader-key", "trader-secret", "GET", "/api/v3/myTrades", "symbol=BTCUSDT", "");
    assert_eq!(trades.as_array().map(Vec::len), Some(1));

    // A limit sell locks BTC until it is cancelled.
    let (status, order) = env.call(
        "trader-key",
        "trader-secret",
        "POST",
        "/api/v3/order",
        "",
        "symbol=BTCUSDT&side=SELL&type=LIMIT&timeInForce=GTC&quantity=0.5&price=60000",
    );
    assert_eq!(status, 200, "{order}");
    assert_eq!(env.sb().free_balance("trader-key", "BTC"), Some(amt("0.51")));
    let (_, open) = env.call("trader-key", "trader-secret", "GET", "/api/v3/openOrders", "", "");
    assert_eq!(open.as_array().map(Vec::len), Some(1));
    let id = order["orderId"].as_u64().expect("id");
    let (status, cancelled) =
        env.call("trader-key", "trader-secret", "DELETE", "/api/v3/order", &format!("symbol=BTCUSDT&orderId={id}"), "");
    assert_eq!((status, cancelled["status"].as_str()), (200, Some("CANCELED")));
    assert_eq!(env.sb().free_balance("trader-key", "BTC"), Some(amt("1.01")));
    let (status, again) =
        env.call("trader-key", "trader-secret", "DELETE", "/api/v3/order", &format!("symbol=BTCUSDT&orderId={id}"), "");
    assert_eq!((status, code(&again)), (400, -2011));
    // Not enough funds.
    let (status, e) = env.call(
        "trader-key",
        "trader-secret",
        "POST",
        "/api/v3/order",
        "",
        "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=1",
    );
    assert_eq!((status, code(&e)), (400, -2010));
}

#[test]
fn withdrawals_need_the_permission_and_are_logged() {
    let env = env();
    let body = "coin=BTC&address=bc1qexample&amount=0.1";
    let (status, e) = env.call("trader-key", "trader-secret", "POST", "/sapi/v1/capital/withdraw/apply", "", body);
    assert_eq!((status, code(&e)), (401, -2015));
    let (status, e) = env.call(
        "readonly-key",
        "readonly-secret",
        "POST",
        "/api/v3/order",
        "",
        "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.01",
    );
    assert_eq!((status, code(&e)), (401, -2015));
    assert!(env.sb().withdrawals().is_empty());
    let (status, ok) = env.call("full-key", "full-secret", "POST", "/sapi/v1/capital/withdraw/apply", "", body);
    assert_eq!(status, 200, "{ok}");
    let w = env.sb().withdrawals();
    assert_eq!(w.len(), 1);
    assert_eq!((w[0].api_key.as_str(), w[0].asset.as_str(), w[0].amount), ("full-key", "BTC", amt("0.1")));
}

#[test]
fn refuses_what_binance_refuses() {
    let env = env();
    // Wrong secret.
    let (status, e) = env.call("trader-key", "not-the-secret", "GET", "/api/v3/account", "", "");
    assert_eq!((status, code(&e)), (400, -1022), "{e}");
    // Unknown key; missing key header.
    let (status, e) = env.call("nobody", "x", "GET", "/api/v3/account", "", "");
    assert_eq!((status, code(&e)), (401, -2015));
    let (status, e) = env.send("GET", "/api/v3/account", "timestamp=1&signature=00", &[], "");
    assert_eq!((status, code(&e)), (401, -2014));
    // IP allow-list: the request comes from 127.0.0.1.
    let (status, e) = env.call("elsewhere-key", "elsewhere-secret", "GET", "/api/v3/account", "", "");
    assert_eq!((status, code(&e)), (401, -2015));
    // recvWindow too large; timestamp outside the window (sandbox clock 10 s ahead, then 2 s behind).
    let (status, e) = env.call("trader-key", "trader-secret", "GET", "/api/v3/account", "recvWindow=70000", "");
    assert_eq!((status, code(&e)), (400, -1131));
    env.sb().set_clock_offset_ms(10_000);
    let (status, e) = env.call("trader-key", "trader-secret", "GET", "/api/v3/account", "", "");
    assert_eq!((status, code(&e)), (400, -1021));
    env.sb().set_clock_offset_ms(-2_000);
    let (status, e) = env.call("trader-key", "trader-secret", "GET", "/api/v3/account", "", "");
    assert_eq!((status, code(&e)), (400, -1021));
    env.sb().set_clock_offset_ms(0);
    // A parameter changed after signing.
    let cred = Credential {
        api_key: Some("trader-key".into()),
        api_secret: Some("trader-secret".into()),
        ..Credential::default()
    };
    let s = sign("binance", &cred, &request("GET", "/api/v3/myTrades", "symbol=BTCUSDT", ""), &SystemClock, 1);
    let (status, e) = env.send("GET", &s.path, &s.query.replace("BTCUSDT", "LTCBTC"), &s.headers, "");
    assert_eq!((status, code(&e)), (400, -1022));
    // No signature.
    let (status, e) =
        env.send("GET", "/api/v3/account", "timestamp=1", &[("X-MBX-APIKEY".into(), "trader-key".into())], "");
    assert_eq!((status, code(&e)), (400, -1102));
}

/// The verifier checked against the documentation's own example request
/// (its timestamp is from 2017, so the sandbox clock is set back to it).
#[test]
fn accepts_the_documented_example() {
    let env = env();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis();
    let offset = 1_499_827_319_559i128 + 100 - i128::try_from(now).expect("ms");
    env.sb().set_clock_offset_ms(i64::try_from(offset).expect("offset"));
    let headers = [("X-MBX-APIKEY".to_owned(), DOC_KEY.to_owned())];
    let (status, v) = env.send(
        "POST",
        "/api/v3/order",
        "",
        &headers,
        "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559&signature=c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71",
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["status"], "NEW");
    let (status, v) = env.send(
        "POST",
        "/api/v3/order",
        "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC",
        &headers,
        "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559&signature=0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77",
    );
    assert_eq!(status, 200, "{v}");
}

/// Keys registered by public key (Binance's self-generated Ed25519 and RSA keys): the
/// sandbox keeps only the public key and answers with an API key id; a request signed by
/// Sealgate's Binance scheme with the matching private key is accepted, and anything else
/// is refused as Binance refuses it.
#[test]
fn keys_registered_by_public_key() {
    use aws_lc_rs::encoding::AsDer as _;
    use aws_lc_rs::signature::KeyPair as _;
    let env = env();
    let pem = |label, der: &[u8]| pem_rfc7468::encode_string(label, pem_rfc7468::LineEnding::LF, der).expect("pem");
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let ed = aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8(&rng).expect("ed25519");
    let ed_pair = aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8(ed.as_ref()).expect("ed25519");
    let rsa = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("rsa");
    let keys = [
        (pem("PRIVATE KEY", ed.as_ref()), pem("PUBLIC KEY", ed_pair.public_key().as_der().expect("spki").as_ref())),
        (
            pem("PRIVATE KEY", rsa.as_der().expect("pkcs8").as_ref()),
            pem("PUBLIC KEY", rsa.public_key().as_der().expect("spki").as_ref()),
        ),
    ];
    let balances = || vec![("USDT".to_owned(), amt("10000")), ("BTC".to_owned(), amt("1"))];
    let mut ids = Vec::new();
    for (private, public) in &keys {
        let api_key =
            env.sb().register_public_key(Venue::Binance, public, READ_TRADE, vec![], balances()).expect("register");
        assert_eq!(api_key.len(), 64, "{api_key}");
        let cred = Credential {
            api_key: Some(api_key.clone().into()),
            private_key: Some(private.clone().into()),
            ..Credential::default()
        };
        let call = |method, path, query, body| {
            env.send_signed(&sign("binance", &cred, &request(method, path, query, body), &SystemClock, 1))
        };
        let (status, acct) = call("GET", "/api/v3/account", "", "");
        assert_eq!(status, 200, "{acct}");
        let (status, order) =
            call("POST", "/api/v3/order", "", "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.01&newClientOrderId=pk1");
        assert_eq!((status, order["status"].as_str()), (200, Some("FILLED")), "{order}");
        // The same signature on changed parameters; no withdraw permission.
        let s = sign("binance", &cred, &request("GET", "/api/v3/myTrades", "symbol=BTCUSDT", ""), &SystemClock, 1);
        let (status, e) = env.send("GET", &s.path, &s.query.replace("BTCUSDT", "LTCBTC"), &s.headers, "");
        assert_eq!((status, code(&e)), (400, -1022));
        let (status, e) = call("POST", "/sapi/v1/capital/withdraw/apply", "", "coin=BTC&address=bc1qx&amount=0.1");
        assert_eq!((status, code(&e)), (401, -2015));
        // An HMAC signature (of any secret, the empty one included) is not this key's.
        let hmac =
            Credential { api_key: Some(api_key.clone().into()), api_secret: Some(" ".into()), ..Credential::default() };
        let (status, e) =
            env.send_signed(&sign("binance", &hmac, &request("GET", "/api/v3/account", "", ""), &SystemClock, 1));
        assert_eq!((status, code(&e)), (400, -1022));
        ids.push((api_key, cred));
    }
    // One key's signature does not pass for the other's id.
    let crossed = Credential {
        api_key: Some(ids[0].0.clone().into()),
        private_key: ids[1].1.private_key.clone(),
        ..Credential::default()
    };
    let (status, e) =
        env.send_signed(&sign("binance", &crossed, &request("GET", "/api/v3/account", "", ""), &SystemClock, 1));
    assert_eq!((status, code(&e)), (400, -1022));
    // What Binance's key page would refuse.
    let sb = env.sb();
    assert!(sb.register_public_key(Venue::Kraken, &keys[0].1, READ_TRADE, vec![], vec![]).is_err());
    for junk in ["", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", keys[0].0.as_str()] {
        assert_eq!(
            sb.register_public_key(Venue::Binance, junk, READ_TRADE, vec![], vec![]),
            Err(sealgate_sandbox::RegisterError::BadKey),
            "{junk:?}"
        );
    }
}
