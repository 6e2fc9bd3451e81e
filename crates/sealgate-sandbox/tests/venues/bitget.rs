//! The Bitget v2 sandbox verifies ACCESS-* as Bitget documents it, checked
//! with an independent client built here (base64 HMAC-SHA256, or RSA
//! PKCS#1 v1.5 SHA-256, over timestamp + METHOD + path [+ "?" + query] +
//! body, with the key's passphrase): good requests pass, and each way of
//! getting one wrong is refused with Bitget's own code; orders move
//! balances; withdrawals need the key's withdraw permission and are logged.

use crate::common;

use std::net::IpAddr;

use aws_lc_rs::hmac;
use base64::Engine as _;
use common::{Env, amt};
use sealgate_sandbox::{KeySpec, Market, Permissions, RegisterError, Venue};
use serde_json::Value;

const READ_TRADE: Permissions = Permissions { read: true, trade: true, withdraw: false };
const ALL: Permissions = Permissions { read: true, trade: true, withdraw: true };
const PASS: &str = "correct horse";

fn key(api_key: &str, permissions: Permissions, allowed_ips: Vec<IpAddr>) -> KeySpec {
    KeySpec {
        venue: Venue::Bitget,
        api_key: api_key.into(),
        secret: format!("{api_key}-secret"),
        permissions,
        allowed_ips,
        passphrase: Some(PASS.into()),
        balances: vec![("USDT".into(), amt("10000")), ("BTC".into(), amt("1"))],
    }
}

fn markets() -> Vec<Market> {
    vec![Market { symbol: "BTCUSDT".into(), base: "BTC".into(), quote: "USDT".into(), price: amt("50000") }]
}

fn env() -> Env {
    let keys = vec![
        key("trader", READ_TRADE, vec![]),
        key("treasury", ALL, vec![]),
        key("reader", Permissions { read: true, ..Permissions::default() }, vec![]),
        key("elsewhere", ALL, vec!["127.0.0.2".parse().expect("ip")]),
        // An OKX key with the same passphrase: not a Bitget key.
        KeySpec { venue: Venue::Okx, ..key("okx-key", ALL, vec![]) },
    ];
    Env::new(keys, markets())
}

fn now_ms() -> u64 {
    u64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis())
        .expect("ms")
}

/// How a test request is signed.
enum Signer<'a> {
    /// HMAC-SHA256 with this secret.
    Hmac(&'a str),
    /// RSASSA-PKCS1-v1_5 SHA-256 with this key.
    Rsa(&'a aws_lc_rs::rsa::KeyPair),
}

/// Bitget's prehash: timestamp + METHOD + requestPath (+ "?" + queryString) + body.
fn prehash(ts: u64, method: &str, path: &str, query: &str, body: &str) -> String {
    if query.is_empty() { format!("{ts}{method}{path}{body}") } else { format!("{ts}{method}{path}?{query}{body}") }
}

/// The base64 signature of `text`.
fn signature(signer: &Signer<'_>, text: &str) -> String {
    let raw = match signer {
        Signer::Hmac(secret) => {
            hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes()), text.as_bytes()).as_ref().to_vec()
        }
        Signer::Rsa(pair) => {
            let rng = aws_lc_rs::rand::SystemRandom::new();
            let mut sig = vec![0u8; pair.public_modulus_len()];
            pair.sign(&aws_lc_rs::signature::RSA_PKCS1_SHA256, &rng, text.as_bytes(), &mut sig).expect("sign");
            sig
        }
    };
    base64::engine::general_purpose::STANDARD.encode(raw)
}

fn headers(api_key: &str, ts: u64, sign: &str, passphrase: &str) -> Vec<(String, String)> {
    vec![
        ("ACCESS-KEY".into(), api_key.into()),
        ("ACCESS-SIGN".into(), sign.into()),
        ("ACCESS-TIMESTAMP".into(), ts.to_string()),
        ("ACCESS-PASSPHRASE".into(), passphrase.into()),
        ("Content-Type".into(), "application/json".into()),
        ("locale".into(), "en-US".into()),
    ]
}

/// A request: method, path, query, body.
type Req<'a> = (&'a str, &'a str, &'a str, &'a str);

/// Sign at `ts` and send with `passphrase`.
fn call_at(env: &Env, api_key: &str, signer: &Signer<'_>, ts: u64, passphrase: &str, req: Req<'_>) -> (u16, Value) {
    let (method, path, query, body) = req;
    let sign = signature(signer, &prehash(ts, method, path, query, body));
    env.send(method, path, query, &headers(api_key, ts, &sign, passphrase), body)
}

fn call(env: &Env, api_key: &str, req: Req<'_>) -> (u16, Value) {
    let secret = format!("{api_key}-secret");
    call_at(env, api_key, &Signer::Hmac(&secret), now_ms(), PASS, req)
}

fn code(v: &Value) -> &str {
    v["code"].as_str().unwrap_or("")
}

const PLACE: &str = "/api/v2/spot/trade/place-order";
const WITHDRAW_PATH: &str = "/api/v2/spot/wallet/withdrawal";
const MARKET_BUY: &str = r#"{"symbol":"BTCUSDT","side":"buy","orderType":"market","size":"500","clientOid":"m1"}"#;
const WITHDRAW: &str = r#"{"coin":"BTC","transferType":"on_chain","chain":"BTC","address":"bc1qexample","size":"0.1"}"#;

#[test]
fn public_time_and_ticker() {
    let env = env();
    let (status, v) = env.send("GET", "/api/v2/public/time", "", &[], "");
    assert_eq!((status, code(&v)), (200, "00000"), "{v}");
    let ms: u64 = v["data"]["serverTime"].as_str().and_then(|s| s.parse().ok()).expect("serverTime");
    assert!(ms.abs_diff(now_ms()) < 5_000);
    let (status, v) = env.send("GET", "/api/v2/spot/market/tickers", "symbol=BTCUSDT", &[], "");
    assert_eq!((status, code(&v)), (200, "00000"), "{v}");
    assert_eq!(v["data"][0]["lastPr"], "50000.00000000");
    assert_eq!(v["data"][0]["quoteVolume"], "1000000000.00000000");
    let (status, v) = env.send("GET", "/api/v2/spot/market/tickers", "symbol=NOPE", &[], "");
    assert_eq!((status, code(&v)), (400, "40034"));
}

#[test]
fn balances_orders_fills_and_cancel() {
    let env = env();
    let (status, v) = call(&env, "trader", ("GET", "/api/v2/spot/account/assets", "coin=BTC", ""));
    assert_eq!((status, code(&v)), (200, "00000"), "{v}");
    assert_eq!(v["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(v["data"][0]["available"], "1.00000000");
    // A market buy is sized in the quote coin: 500 USDT buys 0.01 BTC.
    let (status, v) = call(&env, "trader", ("POST", PLACE, "", MARKET_BUY));
    assert_eq!((status, code(&v)), (200, "00000"), "{v}");
    assert_eq!(v["data"]["clientOid"], "m1");
    assert_eq!(env.sb().free_balance("trader", "USDT"), Some(amt("9500")));
    assert_eq!(env.sb().free_balance("trader", "BTC"), Some(amt("1.01")));
    // A market sell is sized in the base coin.
    let sell = r#"{"symbol":"BTCUSDT","side":"sell","orderType":"market","size":"0.01"}"#;
    let (_, v) = call(&env, "trader", ("POST", PLACE, "", sell));
    assert_eq!(code(&v), "00000", "{v}");
    assert_eq!(env.sb().free_balance("trader", "USDT"), Some(amt("10000")));
    // Fills, newest first, paged back by idLessThan.
    let (_, v) = call(&env, "trader", ("GET", "/api/v2/spot/trade/fills", "symbol=BTCUSDT&limit=1", ""));
    assert_eq!(v["data"][0]["side"], "sell", "{v}");
    let last = v["data"][0]["tradeId"].as_str().expect("tradeId").to_owned();
    let query = format!("symbol=BTCUSDT&idLessThan={last}");
    let (_, v) = call(&env, "trader", ("GET", "/api/v2/spot/trade/fills", &query, ""));
    assert_eq!(v["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(v["data"][0]["side"], "buy");
    // A limit sell locks BTC, is listed, and is cancelled by clientOid.
    let limit = r#"{"symbol":"BTCUSDT","side":"sell","orderType":"limit","force":"gtc","price":"60000","size":"0.5","clientOid":"l1"}"#;
    let (_, v) = call(&env, "trader", ("POST", PLACE, "", limit));
    assert_eq!(code(&v), "00000", "{v}");
    let (_, v) = call(&env, "trader", ("GET", "/api/v2/spot/account/assets", "coin=BTC", ""));
    assert_eq!(
        (v["data"][0]["available"].as_str(), v["data"][0]["frozen"].as_str()),
        (Some("0.50000000"), Some("0.50000000"))
    );
    let (_, v) = call(&env, "trader", ("GET", "/api/v2/spot/trade/unfilled-orders", "symbol=BTCUSDT", ""));
    assert_eq!(v["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(v["data"][0]["clientOid"], "l1");
    let cancel = r#"{"symbol":"BTCUSDT","clientOid":"l1"}"#;
    let (_, v) = call(&env, "trader", ("POST", "/api/v2/spot/trade/cancel-order", "", cancel));
    assert_eq!(code(&v), "00000", "{v}");
    assert_eq!(env.sb().free_balance("trader", "BTC"), Some(amt("1")));
    let (status, v) = call(&env, "trader", ("POST", "/api/v2/spot/trade/cancel-order", "", cancel));
    assert_eq!((status, code(&v)), (400, "43001"));
    // A limit order without `force`; not enough USDT; malformed JSON; a hostile size.
    let no_force = r#"{"symbol":"BTCUSDT","side":"buy","orderType":"limit","price":"1","size":"1"}"#;
    let (_, v) = call(&env, "trader", ("POST", PLACE, "", no_force));
    assert_eq!(code(&v), "40017");
    let big = r#"{"symbol":"BTCUSDT","side":"buy","orderType":"market","size":"100000"}"#;
    let (_, v) = call(&env, "trader", ("POST", PLACE, "", big));
    assert_eq!(code(&v), "43012");
    let (_, v) = call(&env, "trader", ("POST", PLACE, "", "{not json"));
    assert_eq!(code(&v), "40017");
    let huge = r#"{"symbol":"BTCUSDT","side":"buy","orderType":"limit","force":"gtc","price":"99999999999999999999","size":"99999999999999999999"}"#;
    let (_, v) = call(&env, "trader", ("POST", PLACE, "", huge));
    assert_eq!(code(&v), "43012");
}

#[test]
fn withdrawals_need_the_permission_and_are_logged() {
    let env = env();
    let (status, v) = call(&env, "trader", ("POST", WITHDRAW_PATH, "", WITHDRAW));
    assert_eq!((status, code(&v)), (400, "40014"));
    let (_, v) = call(&env, "reader", ("POST", PLACE, "", MARKET_BUY));
    assert_eq!(code(&v), "40014");
    assert!(env.sb().withdrawals().is_empty());
    let (status, v) = call(&env, "treasury", ("POST", WITHDRAW_PATH, "", WITHDRAW));
    assert_eq!((status, code(&v)), (200, "00000"), "{v}");
    let w = env.sb().withdrawals();
    assert_eq!(w.len(), 1);
    assert_eq!((w[0].api_key.as_str(), w[0].asset.as_str(), w[0].amount), ("treasury", "BTC", amt("0.1")));
    let (_, v) = call(&env, "treasury", ("POST", WITHDRAW_PATH, "", &WITHDRAW.replace("0.1", "5")));
    assert_eq!(code(&v), "43012");
    let (_, v) = call(&env, "treasury", ("POST", WITHDRAW_PATH, "", &WITHDRAW.replace("on_chain", "carrier_pigeon")));
    assert_eq!(code(&v), "40017");
    assert_eq!(env.sb().withdrawals().len(), 1);
}

#[test]
fn refuses_what_bitget_refuses() {
    let env = env();
    let assets = ("GET", "/api/v2/spot/account/assets", "coin=BTC", "");
    let now = now_ms();
    let trader = Signer::Hmac("trader-secret");
    // Signed with another key's secret; unknown key; a key of another venue.
    let (status, v) = call_at(&env, "trader", &Signer::Hmac("treasury-secret"), now, PASS, assets);
    assert_eq!((status, code(&v)), (400, "40009"), "{v}");
    let (_, v) = call(&env, "nobody", assets);
    assert_eq!(code(&v), "40006");
    let (_, v) = call(&env, "okx-key", assets);
    assert_eq!(code(&v), "40006");
    // Wrong passphrase; none.
    let (_, v) = call_at(&env, "trader", &trader, now, "wrong", assets);
    assert_eq!(code(&v), "40012");
    let (_, v) = call_at(&env, "trader", &trader, now, "", assets);
    assert_eq!(code(&v), "40011");
    // The query, the body or the method changed after signing.
    let sign = signature(&trader, &prehash(now, "GET", assets.1, "coin=BTC", ""));
    let (_, v) = env.send("GET", assets.1, "coin=USDT", &headers("trader", now, &sign, PASS), "");
    assert_eq!(code(&v), "40009");
    let sign = signature(&trader, &prehash(now, "POST", PLACE, "", MARKET_BUY));
    let h = headers("trader", now, &sign, PASS);
    let (_, v) = env.send("POST", PLACE, "", &h, &MARKET_BUY.replace("500", "900"));
    assert_eq!(code(&v), "40009");
    assert!(env.sb().trades("trader").is_empty());
    let sign = signature(&trader, &prehash(now, "get", assets.1, "coin=BTC", ""));
    let (_, v) = env.send("GET", assets.1, "coin=BTC", &headers("trader", now, &sign, PASS), "");
    assert_eq!(code(&v), "40009");
    // Stale or early by more than 30 s.
    let (_, v) = call_at(&env, "trader", &trader, now - 31_000, PASS, assets);
    assert_eq!(code(&v), "40008");
    let (_, v) = call_at(&env, "trader", &trader, now_ms() + 40_000, PASS, assets);
    assert_eq!(code(&v), "40008");
    // IP allow-list: the request comes from 127.0.0.1.
    let (_, v) = call(&env, "elsewhere", assets);
    assert_eq!(code(&v), "40018");
    // A POST that is not JSON.
    let sign = signature(&trader, &prehash(now, "POST", PLACE, "", MARKET_BUY));
    let mut h = headers("trader", now, &sign, PASS);
    h[4].1 = "text/plain".into();
    let (_, v) = env.send("POST", PLACE, "", &h, MARKET_BUY);
    assert_eq!(code(&v), "40007");
    // Missing or garbage headers; an unknown route.
    let (_, v) = env.send("GET", assets.1, "coin=BTC", &[], "");
    assert_eq!(code(&v), "40001");
    let mut h = headers("trader", now, "!!!", PASS);
    let (_, v) = env.send("GET", assets.1, "coin=BTC", &h, "");
    assert_eq!(code(&v), "40009");
    h[2].1 = "yesterday".into();
    let (_, v) = env.send("GET", assets.1, "coin=BTC", &h, "");
    assert_eq!(code(&v), "40005");
    let (status, v) = call(&env, "trader", ("GET", "/api/v2/nothing/here", "", ""));
    assert_eq!((status, code(&v)), (404, "40404"));
}

/// Known-answer vectors: the documented prehash layout ("Signature": timestamp +
/// METHOD + requestPath + "?" + queryString + body) at the documentation's own
/// example timestamp (16273667805456) and query (`symbol=BTCUSDT&limit=20`), on spot
/// paths, with signatures computed outside Rust (Python's `hmac`, SHA-256, base64) for
/// the secret `YYYYYYYYYY`. The docs print no real key, so the secret is ours; the
/// layout, timestamp and query are theirs.
#[test]
fn documented_layout_known_answers() {
    let mut spec = key("bg_0123456789abcdef0123456789abcdef", ALL, vec![]);
    spec.secret = "YYYYYYYYYY".into();
    let env = Env::new(vec![spec], markets());
    const TS: u64 = 16_273_667_805_456;
    let offset = i128::from(TS) - i128::from(now_ms());
    env.sb().set_clock_offset_ms(i64::try_from(offset).expect("offset"));
    let id = "bg_0123456789abcdef0123456789abcdef";
    let h = headers(id, TS, "PdE7I6+UBwJCgYTI2vgNW5lG5y3Xhj2YnWDBQfC2F0k=", PASS);
    let (_, v) = env.send("GET", "/api/v2/spot/trade/unfilled-orders", "symbol=BTCUSDT&limit=20", &h, "");
    assert_eq!(code(&v), "00000", "{v}");
    // The same parameters in another order are other bytes.
    let (_, v) = env.send("GET", "/api/v2/spot/trade/unfilled-orders", "limit=20&symbol=BTCUSDT", &h, "");
    assert_eq!(code(&v), "40009");
    let body = r#"{"symbol":"BTCUSDT","side":"buy","orderType":"limit","force":"gtc","price":"40000","size":"0.01","clientOid":"bitget#123456"}"#;
    let h = headers(id, TS, "7Ukgt+lI/1EFmt7RCfzSa1Pv4lOB2KIgevu1tBeYZfA=", PASS);
    let (_, v) = env.send("POST", PLACE, "", &h, body);
    assert_eq!(code(&v), "00000", "{v}");
    assert_eq!(v["data"]["clientOid"], "bitget#123456");
}

/// Keys registered by RSA public key with a passphrase: the sandbox keeps the public
/// key and answers with a `bg_` key id; requests signed with the private key and sent
/// with the passphrase pass; anything else is refused as Bitget refuses it.
#[test]
fn keys_registered_by_rsa_public_key() {
    use aws_lc_rs::encoding::AsDer as _;
    use aws_lc_rs::signature::KeyPair as _;
    let env = env();
    let pem = |der: &[u8]| pem_rfc7468::encode_string("PUBLIC KEY", pem_rfc7468::LineEnding::LF, der).expect("pem");
    let rsa = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("rsa");
    let other = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("rsa");
    let public = pem(rsa.public_key().as_der().expect("spki").as_ref());
    let balances = vec![("USDT".to_owned(), amt("1000"))];
    let sb = env.sb();
    let id = sb
        .register_public_key_with_passphrase(Venue::Bitget, &public, Some("rsa pass"), READ_TRADE, vec![], balances)
        .expect("register");
    assert_eq!(id.len(), 35, "{id}");
    assert!(id.starts_with("bg_") && id[3..].bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()), "{id}");
    let now = now_ms();
    let assets = ("GET", "/api/v2/spot/account/assets", "", "");
    let (_, v) = call_at(&env, &id, &Signer::Rsa(&rsa), now, "rsa pass", assets);
    assert_eq!(code(&v), "00000", "{v}");
    let (_, v) = call_at(&env, &id, &Signer::Rsa(&rsa), now, "rsa pass", ("POST", PLACE, "", MARKET_BUY));
    assert_eq!(code(&v), "00000", "{v}");
    assert_eq!(sb.free_balance(&id, "USDT"), Some(amt("500")));
    // Wrong passphrase; another RSA key; an HMAC of the empty secret; tampered body;
    // no withdraw permission.
    let (_, v) = call_at(&env, &id, &Signer::Rsa(&rsa), now, PASS, assets);
    assert_eq!(code(&v), "40012");
    let (_, v) = call_at(&env, &id, &Signer::Rsa(&other), now, "rsa pass", assets);
    assert_eq!(code(&v), "40009");
    let (_, v) = call_at(&env, &id, &Signer::Hmac(""), now, "rsa pass", assets);
    assert_eq!(code(&v), "40009");
    let sign = signature(&Signer::Rsa(&rsa), &prehash(now, "POST", PLACE, "", MARKET_BUY));
    let h = headers(&id, now, &sign, "rsa pass");
    let (_, v) = env.send("POST", PLACE, "", &h, &MARKET_BUY.replace("buy", "sell"));
    assert_eq!(code(&v), "40009");
    let (_, v) = call_at(&env, &id, &Signer::Rsa(&rsa), now, "rsa pass", ("POST", WITHDRAW_PATH, "", WITHDRAW));
    assert_eq!(code(&v), "40014");
    assert!(sb.withdrawals().is_empty());
    // What Bitget's key page would refuse: no passphrase, an Ed25519 key, junk.
    assert_eq!(
        sb.register_public_key(Venue::Bitget, &public, READ_TRADE, vec![], vec![]),
        Err(RegisterError::NeedsPassphrase(Venue::Bitget))
    );
    assert_eq!(
        sb.register_public_key_with_passphrase(Venue::Bitget, &public, Some(""), READ_TRADE, vec![], vec![]),
        Err(RegisterError::NeedsPassphrase(Venue::Bitget))
    );
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let ed = aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8(&rng).expect("ed25519");
    let ed = aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8(ed.as_ref()).expect("ed25519");
    let ed_pem = pem(ed.public_key().as_der().expect("spki").as_ref());
    assert_eq!(
        sb.register_public_key_with_passphrase(Venue::Bitget, &ed_pem, Some("p"), READ_TRADE, vec![], vec![]),
        Err(RegisterError::RsaOnly(Venue::Bitget))
    );
    assert_eq!(
        sb.register_public_key_with_passphrase(Venue::Bitget, "junk", Some("p"), READ_TRADE, vec![], vec![]),
        Err(RegisterError::BadKey)
    );
}

/// Sealgate's own Bitget scheme (`sealgate-exchanges`, written separately) passes this
/// independent verifier, with a secret and with a registered RSA key.
#[test]
fn sealgates_scheme_passes() {
    use aws_lc_rs::encoding::AsDer as _;
    use aws_lc_rs::signature::KeyPair as _;
    use sealgate_exchanges::{Credential, SystemClock};
    let env = env();
    let send = |cred: &Credential, method: &str, path: &str, query: &str, body: &str| {
        env.send_signed(&common::sign("bitget", cred, &common::request(method, path, query, body), &SystemClock, 1))
    };
    let hmac = Credential {
        api_key: Some("trader".into()),
        api_secret: Some("trader-secret".into()),
        passphrase: Some(PASS.into()),
        ..Credential::default()
    };
    let (_, v) = send(&hmac, "GET", "/api/v2/spot/account/assets", "coin=BTC", "");
    assert_eq!(code(&v), "00000", "{v}");
    let (_, v) = send(&hmac, "POST", PLACE, "", MARKET_BUY);
    assert_eq!(code(&v), "00000", "{v}");
    let pem = |label, der: &[u8]| pem_rfc7468::encode_string(label, pem_rfc7468::LineEnding::LF, der).expect("pem");
    let rsa = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("rsa");
    let public = pem("PUBLIC KEY", rsa.public_key().as_der().expect("spki").as_ref());
    let id = env
        .sb()
        .register_public_key_with_passphrase(Venue::Bitget, &public, Some("rsa pass"), READ_TRADE, vec![], vec![])
        .expect("register");
    let cred = Credential {
        api_key: Some(id.into()),
        private_key: Some(pem("PRIVATE KEY", rsa.as_der().expect("pkcs8").as_ref()).into()),
        passphrase: Some("rsa pass".into()),
        ..Credential::default()
    };
    let (_, v) = send(&cred, "GET", "/api/v2/spot/trade/unfilled-orders", "symbol=BTCUSDT", "");
    assert_eq!(code(&v), "00000", "{v}");
}

/// "Get Order Info": by `clientOid` an unfilled order only (as Bitget's docs say), by
/// `orderId` any order the key placed; otherwise 40109.
#[test]
fn order_info_by_client_oid_or_order_id() {
    let env = env();
    let limit = r#"{"symbol":"BTCUSDT","side":"buy","orderType":"limit","force":"gtc","price":"20000","size":"0.1","clientOid":"rest1"}"#;
    let (_, v) = call(&env, "trader", ("POST", PLACE, "", limit));
    assert_eq!(code(&v), "00000", "{v}");
    let resting = v["data"]["orderId"].as_str().expect("orderId").to_owned();
    let sell = r#"{"symbol":"BTCUSDT","side":"sell","orderType":"market","size":"0.01","clientOid":"sold1"}"#;
    let (_, v) = call(&env, "trader", ("POST", PLACE, "", sell));
    let sold = v["data"]["orderId"].as_str().expect("orderId").to_owned();
    let info = |query: &str| call(&env, "trader", ("GET", "/api/v2/spot/trade/orderInfo", query, ""));
    let (status, v) = info("clientOid=rest1");
    assert_eq!((status, code(&v)), (200, "00000"), "{v}");
    assert_eq!(
        (v["data"][0]["orderId"].as_str(), v["data"][0]["status"].as_str()),
        (Some(resting.as_str()), Some("live"))
    );
    let (status, v) = info("clientOid=sold1");
    assert_eq!((status, code(&v)), (400, "40109"), "filled: not found by clientOid");
    let (_, v) = info(&format!("orderId={sold}"));
    assert_eq!((v["data"][0]["status"].as_str(), v["data"][0]["clientOid"].as_str()), (Some("filled"), Some("sold1")));
    let (_, v) = info("clientOid=never");
    assert_eq!(code(&v), "40109");
    let (status, v) = info("");
    assert_eq!((status, code(&v)), (400, "40017"));
}
