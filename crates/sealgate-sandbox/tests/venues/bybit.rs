//! The Bybit v5 sandbox verifies X-BAPI-* as Bybit documents it, checked
//! with an independent client built here (HMAC-SHA256 hex, or RSA
//! PKCS#1 v1.5 SHA-256 base64, over timestamp + key + recv_window + query
//! or body): good requests pass, and each way of getting one wrong is
//! refused with Bybit's own retCode; orders move balances; withdrawals need
//! the key's withdraw permission and are logged.

use crate::common;

use std::net::IpAddr;

use aws_lc_rs::hmac;
use base64::Engine as _;
use common::{Env, amt};
use sealgate_sandbox::{KeySpec, Market, Permissions, RegisterError, Venue};
use serde_json::Value;

const READ_TRADE: Permissions = Permissions { read: true, trade: true, withdraw: false };
const ALL: Permissions = Permissions { read: true, trade: true, withdraw: true };

fn key(api_key: &str, permissions: Permissions, allowed_ips: Vec<IpAddr>) -> KeySpec {
    KeySpec {
        venue: Venue::Bybit,
        api_key: api_key.into(),
        secret: format!("{api_key}-secret"),
        permissions,
        allowed_ips,
        passphrase: None,
        balances: vec![("USDT".into(), amt("10000")), ("BTC".into(), amt("1"))],
    }
}

fn env() -> Env {
    let keys = vec![
        key("trader", READ_TRADE, vec![]),
        key("treasury", ALL, vec![]),
        key("reader", Permissions { read: true, ..Permissions::default() }, vec![]),
        key("elsewhere", ALL, vec!["127.0.0.2".parse().expect("ip")]),
        // An OKX key of the same name space: not a Bybit key.
        KeySpec { venue: Venue::Okx, passphrase: Some("p".into()), ..key("okx-key", ALL, vec![]) },
    ];
    let markets =
        vec![Market { symbol: "BTCUSDT".into(), base: "BTC".into(), quote: "USDT".into(), price: amt("50000") }];
    Env::new(keys, markets)
}

fn now_ms() -> u64 {
    u64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis())
        .expect("ms")
}

/// How a test request is signed.
enum Signer<'a> {
    /// HMAC-SHA256 with this secret, hex.
    Hmac(&'a str),
    /// RSASSA-PKCS1-v1_5 SHA-256 with this key, base64.
    Rsa(&'a aws_lc_rs::rsa::KeyPair),
}

/// Bybit's string to sign: timestamp + api key + recv_window + (query | body).
fn plain(ts: u64, api_key: &str, recv_window: &str, payload: &str) -> String {
    format!("{ts}{api_key}{recv_window}{payload}")
}

fn signature(signer: &Signer<'_>, text: &str) -> String {
    match signer {
        Signer::Hmac(secret) => {
            let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes()), text.as_bytes());
            tag.as_ref().iter().map(|b| format!("{b:02x}")).collect()
        }
        Signer::Rsa(pair) => {
            let rng = aws_lc_rs::rand::SystemRandom::new();
            let mut sig = vec![0u8; pair.public_modulus_len()];
            pair.sign(&aws_lc_rs::signature::RSA_PKCS1_SHA256, &rng, text.as_bytes(), &mut sig).expect("sign");
            base64::engine::general_purpose::STANDARD.encode(sig)
        }
    }
}

fn headers(api_key: &str, ts: u64, sign: &str) -> Vec<(String, String)> {
    vec![
        ("X-BAPI-API-KEY".into(), api_key.into()),
        ("X-BAPI-TIMESTAMP".into(), ts.to_string()),
        ("X-BAPI-RECV-WINDOW".into(), "5000".into()),
        ("X-BAPI-SIGN".into(), sign.into()),
        ("Content-Type".into(), "application/json".into()),
    ]
}

/// Sign (at `ts`) and send: GET signs the query, POST the body.
fn call_at(
    env: &Env,
    api_key: &str,
    signer: &Signer<'_>,
    ts: u64,
    (method, path, query, body): (&str, &str, &str, &str),
) -> (u16, Value) {
    let payload = if method == "GET" { query } else { body };
    let sign = signature(signer, &plain(ts, api_key, "5000", payload));
    env.send(method, path, query, &headers(api_key, ts, &sign), body)
}

fn call(env: &Env, api_key: &str, method: &str, path: &str, query: &str, body: &str) -> (u16, Value) {
    let secret = format!("{api_key}-secret");
    call_at(env, api_key, &Signer::Hmac(&secret), now_ms(), (method, path, query, body))
}

fn code(v: &Value) -> i64 {
    v["retCode"].as_i64().unwrap_or(-1)
}

const MARKET_BUY: &str =
    r#"{"category":"spot","symbol":"BTCUSDT","side":"Buy","orderType":"Market","qty":"500","orderLinkId":"m1"}"#;
const WITHDRAW: &str = r#"{"coin":"BTC","chain":"BTC","address":"bc1qexample","amount":"0.1","timestamp":1}"#;

#[test]
fn public_time_and_ticker() {
    let env = env();
    let (status, v) = env.send("GET", "/v5/market/time", "", &[], "");
    assert_eq!((status, code(&v)), (200, 0), "{v}");
    let secs: u64 = v["result"]["timeSecond"].as_str().and_then(|s| s.parse().ok()).expect("timeSecond");
    assert!(secs.abs_diff(now_ms() / 1000) < 5);
    let (status, v) = env.send("GET", "/v5/market/tickers", "category=spot&symbol=BTCUSDT", &[], "");
    assert_eq!((status, code(&v)), (200, 0), "{v}");
    assert_eq!(v["result"]["list"][0]["lastPrice"], "50000.00000000");
    env.sb().set_price("BTCUSDT", amt("51000"));
    let (_, v) = env.send("GET", "/v5/market/tickers", "category=spot&symbol=BTCUSDT", &[], "");
    assert_eq!(v["result"]["list"][0]["lastPrice"], "51000.00000000");
    let (_, v) = env.send("GET", "/v5/market/tickers", "category=spot&symbol=NOPE", &[], "");
    assert_eq!(code(&v), 10001);
}

#[test]
fn balances_orders_trades_and_cancel() {
    let env = env();
    let (status, v) = call(&env, "trader", "GET", "/v5/account/wallet-balance", "accountType=UNIFIED&coin=BTC", "");
    assert_eq!((status, code(&v)), (200, 0), "{v}");
    let coins = &v["result"]["list"][0]["coin"];
    assert_eq!(coins.as_array().map(Vec::len), Some(1));
    assert_eq!(coins[0]["walletBalance"], "1.00000000");
    // A spot market buy is sized in the quote coin by default: 500 USDT buys 0.01 BTC.
    let (status, v) = call(&env, "trader", "POST", "/v5/order/create", "", MARKET_BUY);
    assert_eq!((status, code(&v)), (200, 0), "{v}");
    assert_eq!(v["result"]["orderLinkId"], "m1");
    assert_eq!(env.sb().free_balance("trader", "USDT"), Some(amt("9500")));
    assert_eq!(env.sb().free_balance("trader", "BTC"), Some(amt("1.01")));
    // `marketUnit` baseCoin sizes it in BTC.
    let sell = r#"{"category":"spot","symbol":"BTCUSDT","side":"Sell","orderType":"Market","qty":"0.01","marketUnit":"baseCoin"}"#;
    let (_, v) = call(&env, "trader", "POST", "/v5/order/create", "", sell);
    assert_eq!(code(&v), 0, "{v}");
    assert_eq!(env.sb().free_balance("trader", "USDT"), Some(amt("10000")));
    // Trade history, newest first, paged by cursor.
    let (_, v) = call(&env, "trader", "GET", "/v5/execution/list", "category=spot&limit=1", "");
    assert_eq!(code(&v), 0, "{v}");
    assert_eq!(v["result"]["list"][0]["side"], "Sell");
    let cursor = v["result"]["nextPageCursor"].as_str().expect("cursor").to_owned();
    assert!(!cursor.is_empty());
    let (_, v) =
        call(&env, "trader", "GET", "/v5/execution/list", &format!("category=spot&limit=1&cursor={cursor}"), "");
    assert_eq!(v["result"]["list"][0]["side"], "Buy");
    assert_eq!(v["result"]["list"][0]["orderLinkId"], "m1");
    assert_eq!(v["result"]["nextPageCursor"], "");
    // A limit sell locks BTC, is listed, and is cancelled by its orderLinkId.
    let limit = r#"{"category":"spot","symbol":"BTCUSDT","side":"Sell","orderType":"Limit","qty":"0.5","price":"60000","orderLinkId":"l1"}"#;
    let (_, v) = call(&env, "trader", "POST", "/v5/order/create", "", limit);
    assert_eq!(code(&v), 0, "{v}");
    assert_eq!(env.sb().free_balance("trader", "BTC"), Some(amt("0.5")));
    let (_, v) = call(&env, "trader", "GET", "/v5/order/realtime", "category=spot&symbol=BTCUSDT", "");
    assert_eq!(v["result"]["list"].as_array().map(Vec::len), Some(1));
    assert_eq!(v["result"]["list"][0]["orderLinkId"], "l1");
    let cancel = r#"{"category":"spot","symbol":"BTCUSDT","orderLinkId":"l1"}"#;
    let (_, v) = call(&env, "trader", "POST", "/v5/order/cancel", "", cancel);
    assert_eq!(code(&v), 0, "{v}");
    assert_eq!(env.sb().free_balance("trader", "BTC"), Some(amt("1")));
    let (_, v) = call(&env, "trader", "POST", "/v5/order/cancel", "", cancel);
    assert_eq!(code(&v), 170213);
    // Not enough USDT; a non-spot category; malformed JSON.
    let big = r#"{"category":"spot","symbol":"BTCUSDT","side":"Buy","orderType":"Market","qty":"100000"}"#;
    let (_, v) = call(&env, "trader", "POST", "/v5/order/create", "", big);
    assert_eq!(code(&v), 170131);
    let linear = r#"{"category":"linear","symbol":"BTCUSDT","side":"Buy","orderType":"Market","qty":"1"}"#;
    let (_, v) = call(&env, "trader", "POST", "/v5/order/create", "", linear);
    assert_eq!(code(&v), 10001);
    let (status, v) = call(&env, "trader", "POST", "/v5/order/create", "", "{not json");
    assert_eq!((status, code(&v)), (200, 10001));
    // A hostile amount is refused, not a panic.
    let huge = r#"{"category":"spot","symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":"99999999999999999999","price":"99999999999999999999"}"#;
    let (_, v) = call(&env, "trader", "POST", "/v5/order/create", "", huge);
    assert_eq!(code(&v), 170131);
}

#[test]
fn withdrawals_need_the_permission_and_are_logged() {
    let env = env();
    let (status, v) = call(&env, "trader", "POST", "/v5/asset/withdraw/create", "", WITHDRAW);
    assert_eq!((status, code(&v)), (200, 10005));
    let (_, v) = call(&env, "reader", "POST", "/v5/order/create", "", MARKET_BUY);
    assert_eq!(code(&v), 10005);
    assert!(env.sb().withdrawals().is_empty());
    let (_, v) = call(&env, "treasury", "POST", "/v5/asset/withdraw/create", "", WITHDRAW);
    assert_eq!(code(&v), 0, "{v}");
    let w = env.sb().withdrawals();
    assert_eq!(w.len(), 1);
    assert_eq!((w[0].api_key.as_str(), w[0].asset.as_str(), w[0].amount), ("treasury", "BTC", amt("0.1")));
    assert_eq!(env.sb().free_balance("treasury", "BTC"), Some(amt("0.9")));
    let (_, v) = call(&env, "treasury", "POST", "/v5/asset/withdraw/create", "", WITHDRAW.replace("0.1", "5").as_str());
    assert_eq!(code(&v), 131212);
    assert_eq!(env.sb().withdrawals().len(), 1);
}

#[test]
fn refuses_what_bybit_refuses() {
    let env = env();
    let path = "/v5/account/wallet-balance";
    let query = "accountType=UNIFIED";
    let now = now_ms();
    // Signed with another key's secret; an unknown key; a key of another venue.
    let (_, v) = call_at(&env, "trader", &Signer::Hmac("treasury-secret"), now, ("GET", path, query, ""));
    assert_eq!(code(&v), 10004, "{v}");
    let (_, v) = call(&env, "nobody", "GET", path, query, "");
    assert_eq!(code(&v), 10003);
    let (_, v) = call(&env, "okx-key", "GET", path, query, "");
    assert_eq!(code(&v), 10003);
    // The query or the body changed after signing.
    let sign = signature(&Signer::Hmac("trader-secret"), &plain(now, "trader", "5000", query));
    let (_, v) = env.send("GET", path, "accountType=UNIFIED&coin=BTC", &headers("trader", now, &sign), "");
    assert_eq!(code(&v), 10004);
    let sign = signature(&Signer::Hmac("trader-secret"), &plain(now, "trader", "5000", MARKET_BUY));
    let (_, v) =
        env.send("POST", "/v5/order/create", "", &headers("trader", now, &sign), &MARKET_BUY.replace("500", "900"));
    assert_eq!(code(&v), 10004);
    assert!(env.sb().trades("trader").is_empty());
    // The recv_window changed after signing (it is part of the signed text).
    let mut h =
        headers("trader", now, &signature(&Signer::Hmac("trader-secret"), &plain(now, "trader", "5000", query)));
    h[2].1 = "6000".into();
    let (_, v) = env.send("GET", path, query, &h, "");
    assert_eq!(code(&v), 10004);
    // Stale (beyond recv_window) and too far ahead (1 s or more).
    let (_, v) = call_at(&env, "trader", &Signer::Hmac("trader-secret"), now - 6_000, ("GET", path, query, ""));
    assert_eq!(code(&v), 10002);
    let (_, v) = call_at(&env, "trader", &Signer::Hmac("trader-secret"), now_ms() + 5_000, ("GET", path, query, ""));
    assert_eq!(code(&v), 10002);
    // IP allow-list: the request comes from 127.0.0.1.
    let (_, v) = call(&env, "elsewhere", "GET", path, query, "");
    assert_eq!(code(&v), 10010);
    // Missing headers; garbage in them.
    let (_, v) = env.send("GET", path, query, &[], "");
    assert_eq!(code(&v), 10003);
    let mut h = headers("trader", now, "zz");
    h[1].1 = "soon".into();
    let (_, v) = env.send("GET", path, query, &h, "");
    assert_eq!(code(&v), 10002);
    let (_, v) = env.send("GET", path, query, &headers("trader", now, "not hex \u{e9}"), "");
    assert_eq!(code(&v), 10004);
    // An unknown route.
    let (status, v) = call(&env, "trader", "GET", "/v5/nothing/here", "", "");
    assert_eq!((status, code(&v)), (404, 10017));
}

/// Known-answer vectors: the documented string-to-sign layout ("Create A Request":
/// timestamp + key + recv_window + query, or + raw body) at the documentation's own
/// timestamps, with signatures computed outside Rust (Python's `hmac`, SHA-256, hex) for
/// the key `XXXXXXXXXX` and the secret `YYYYYYYYYY`. The docs print no real key, so the
/// secret is ours; the layout and timestamps are theirs.
#[test]
fn documented_layout_known_answers() {
    let mut spec = key("XXXXXXXXXX", ALL, vec![]);
    spec.secret = "YYYYYYYYYY".into();
    let markets =
        vec![Market { symbol: "BTCUSDT".into(), base: "BTC".into(), quote: "USDT".into(), price: amt("50000") }];
    let env = Env::new(vec![spec], markets);
    let at = |ts: i128| {
        let offset = ts + 100 - i128::from(now_ms());
        env.sb().set_clock_offset_ms(i64::try_from(offset).expect("offset"));
    };
    // GET: "1658384314791XXXXXXXXXX5000category=spot&symbol=BTCUSDT"
    at(1_658_384_314_791);
    let h = headers("XXXXXXXXXX", 1_658_384_314_791, GET_VECTOR);
    let (_, v) = env.send("GET", "/v5/order/realtime", "category=spot&symbol=BTCUSDT", &h, "");
    assert_eq!(code(&v), 0, "{v}");
    // POST: "1658385579423XXXXXXXXXX5000" + the body, byte for byte.
    at(1_658_385_579_423);
    let h = headers("XXXXXXXXXX", 1_658_385_579_423, POST_VECTOR);
    let (_, v) = env.send("POST", "/v5/order/create", "", &h, POST_BODY);
    assert_eq!(code(&v), 0, "{v}");
    // The same body with other whitespace is other bytes.
    let (_, v) = env.send("POST", "/v5/order/create", "", &h, &POST_BODY.replace(", ", ","));
    assert_eq!(code(&v), 10004);
}

const GET_VECTOR: &str = "9a9472e23096d34a736cb2b06a4e37d460894078adb7c09692c25006b08832f7";
const POST_VECTOR: &str = "ad40c00b0ae2144b16c1640f49d5b1087ae53ae2643e1125c2a16ee87ea677d7";
const POST_BODY: &str = r#"{"category": "spot", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.01", "price": "40000"}"#;

/// Keys registered by RSA public key: the sandbox keeps the public key and answers
/// with an 18-character key id; requests signed with the private key (base64) pass,
/// anything else is refused as Bybit refuses it; Ed25519 keys are not taken.
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
    let id = sb.register_public_key(Venue::Bybit, &public, READ_TRADE, vec![], balances.clone()).expect("register");
    assert_eq!(id.len(), 18, "{id}");
    assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()), "{id}");
    let now = now_ms();
    let path = "/v5/account/wallet-balance";
    let (_, v) = call_at(&env, &id, &Signer::Rsa(&rsa), now, ("GET", path, "accountType=UNIFIED", ""));
    assert_eq!(code(&v), 0, "{v}");
    let (_, v) = call_at(&env, &id, &Signer::Rsa(&rsa), now, ("POST", "/v5/order/create", "", MARKET_BUY));
    assert_eq!(code(&v), 0, "{v}");
    assert_eq!(sb.free_balance(&id, "USDT"), Some(amt("500")));
    // Another RSA key's signature; an HMAC (of any secret, the empty one included); a
    // tampered body; no withdraw permission.
    let (_, v) = call_at(&env, &id, &Signer::Rsa(&other), now, ("GET", path, "accountType=UNIFIED", ""));
    assert_eq!(code(&v), 10004);
    let (_, v) = call_at(&env, &id, &Signer::Hmac(""), now, ("GET", path, "accountType=UNIFIED", ""));
    assert_eq!(code(&v), 10004);
    let sign = signature(&Signer::Rsa(&rsa), &plain(now, &id, "5000", MARKET_BUY));
    let (_, v) =
        env.send("POST", "/v5/order/create", "", &headers(&id, now, &sign), &MARKET_BUY.replace("Buy", "Sell"));
    assert_eq!(code(&v), 10004);
    let (_, v) = call_at(&env, &id, &Signer::Rsa(&rsa), now, ("POST", "/v5/asset/withdraw/create", "", WITHDRAW));
    assert_eq!(code(&v), 10005);
    assert!(sb.withdrawals().is_empty());
    // What Bybit's key page would refuse.
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let ed = aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8(&rng).expect("ed25519");
    let ed = aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8(ed.as_ref()).expect("ed25519");
    let ed_pem = pem(ed.public_key().as_der().expect("spki").as_ref());
    assert_eq!(
        sb.register_public_key(Venue::Bybit, &ed_pem, READ_TRADE, vec![], vec![]),
        Err(RegisterError::RsaOnly(Venue::Bybit))
    );
    assert_eq!(sb.register_public_key(Venue::Bybit, "junk", READ_TRADE, vec![], vec![]), Err(RegisterError::BadKey));
    assert_eq!(
        sb.register_public_key_with_passphrase(Venue::Bybit, &public, Some("p"), READ_TRADE, vec![], vec![]),
        Err(RegisterError::NoPassphrase(Venue::Bybit))
    );
}

/// Sealgate's own Bybit scheme (`sealgate-exchanges`, written separately) passes this
/// independent verifier, with a secret and with a registered RSA key.
#[test]
fn sealgates_scheme_passes() {
    use aws_lc_rs::encoding::AsDer as _;
    use aws_lc_rs::signature::KeyPair as _;
    use sealgate_exchanges::{Credential, SystemClock};
    let env = env();
    let send = |cred: &Credential, method: &str, path: &str, query: &str, body: &str| {
        env.send_signed(&common::sign("bybit", cred, &common::request(method, path, query, body), &SystemClock, 1))
    };
    let hmac = Credential {
        api_key: Some("trader".into()),
        api_secret: Some("trader-secret".into()),
        ..Credential::default()
    };
    let (_, v) = send(&hmac, "GET", "/v5/account/wallet-balance", "accountType=UNIFIED", "");
    assert_eq!(code(&v), 0, "{v}");
    let (_, v) = send(&hmac, "POST", "/v5/order/create", "", MARKET_BUY);
    assert_eq!(code(&v), 0, "{v}");
    let pem = |label, der: &[u8]| pem_rfc7468::encode_string(label, pem_rfc7468::LineEnding::LF, der).expect("pem");
    let rsa = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("rsa");
    let public = pem("PUBLIC KEY", rsa.public_key().as_der().expect("spki").as_ref());
    let id = env.sb().register_public_key(Venue::Bybit, &public, READ_TRADE, vec![], vec![]).expect("register");
    let cred = Credential {
        api_key: Some(id.into()),
        private_key: Some(pem("PRIVATE KEY", rsa.as_der().expect("pkcs8").as_ref()).into()),
        ..Credential::default()
    };
    let (_, v) = send(&cred, "GET", "/v5/order/realtime", "category=spot", "");
    assert_eq!(code(&v), 0, "{v}");
}

/// "Get Open & Closed Orders" by `orderLinkId` or `orderId` (which outrank `symbol`), as
/// the trader reconciles an order whose placement got no answer: a resting order is found,
/// a filled or cancelled one is not (`openOnly=0` lists open orders only).
#[test]
fn open_orders_by_order_link_id_or_order_id() {
    let env = env();
    let limit = r#"{"category":"spot","symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":"0.1","price":"20000","orderLinkId":"rest-1"}"#;
    let (_, v) = call(&env, "trader", "POST", "/v5/order/create", "", limit);
    assert_eq!(code(&v), 0, "{v}");
    let id = v["result"]["orderId"].as_str().expect("orderId").to_owned();
    let market = r#"{"category":"spot","symbol":"BTCUSDT","side":"Sell","orderType":"Market","qty":"0.01","marketUnit":"baseCoin","orderLinkId":"gone-1"}"#;
    let (_, v) = call(&env, "trader", "POST", "/v5/order/create", "", market);
    assert_eq!(code(&v), 0, "{v}");
    let list = |query: &str| {
        let (_, v) = call(&env, "trader", "GET", "/v5/order/realtime", query, "");
        assert_eq!(code(&v), 0, "{v}");
        v["result"]["list"].as_array().cloned().expect("list")
    };
    let found = list("category=spot&symbol=BTCUSDT&orderLinkId=rest-1");
    assert_eq!(found.len(), 1);
    assert_eq!((found[0]["orderId"].as_str(), found[0]["orderStatus"].as_str()), (Some(id.as_str()), Some("New")));
    assert_eq!(list(&format!("category=spot&orderId={id}&orderLinkId=nope")).len(), 1, "orderId wins");
    assert!(list("category=spot&symbol=BTCUSDT&orderLinkId=gone-1").is_empty(), "filled: not open");
    assert!(list("category=spot&orderLinkId=never-sent").is_empty());
    let (_, v) = call(&env, "trader", "GET", "/v5/order/realtime", "category=spot&openOnly=1", "");
    assert_eq!(code(&v), 10001);
}
