//! The sandbox's own `POST /sandbox/v1/keys`: a self-generated key registered over HTTP by
//! its public key, as an exchange's key page does, answers with an API key id whose
//! requests, signed with the private key, pass with the permissions, balances and IP
//! allow-list asked for; every bad input is refused with a 400 and a JSON error that names
//! what is wrong.

use crate::common;

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::signature::KeyPair as _;
use common::{Env, amt, request, sign};
use sealgate_exchanges::{Credential, SystemClock};
use sealgate_sandbox::Market;
use serde_json::{Value, json};

const PATH: &str = "/sandbox/v1/keys";

fn env() -> Env {
    let markets =
        vec![Market { symbol: "BTCUSDT".into(), base: "BTC".into(), quote: "USDT".into(), price: amt("50000") }];
    Env::new(vec![], markets)
}

fn post(env: &Env, body: &str) -> (u16, Value) {
    env.send("POST", PATH, "", &[("Content-Type".into(), "application/json".into())], body)
}

fn pem(label: &str, der: &[u8]) -> String {
    pem_rfc7468::encode_string(label, pem_rfc7468::LineEnding::LF, der).expect("pem")
}

/// An Ed25519 key pair as PEMs: (private PKCS#8, public SPKI).
fn ed25519() -> (String, String) {
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 = aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8(&rng).expect("ed25519");
    let pair = aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("ed25519");
    (pem("PRIVATE KEY", pkcs8.as_ref()), pem("PUBLIC KEY", pair.public_key().as_der().expect("spki").as_ref()))
}

fn rsa_public() -> String {
    let rsa = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("rsa");
    pem("PUBLIC KEY", rsa.public_key().as_der().expect("spki").as_ref())
}

/// A signed Binance call with the key's private PEM.
fn binance(env: &Env, api_key: &str, private: &str, method: &str, path: &str, body: &str) -> (u16, Value) {
    let cred = Credential { api_key: Some(api_key.into()), private_key: Some(private.into()), ..Credential::default() };
    env.send_signed(&sign("binance", &cred, &request(method, path, "", body), &SystemClock, 1))
}

#[test]
fn a_binance_key_registered_over_http_signs_with_its_private_key() {
    let env = env();
    let (private, public) = ed25519();
    let body = json!({"exchange": "binance", "public_pem": public, "permissions": ["read", "trade"],
        "balances": {"BTC": "1.5", "USDT": "25000"}});
    let (status, v) = post(&env, &body.to_string());
    assert_eq!(status, 201, "{v}");
    let api_key = v["api_key"].as_str().expect("api_key").to_owned();
    assert_eq!(api_key.len(), 64, "Binance's form: {api_key}");
    assert_eq!((v["exchange"].as_str(), &v["permissions"]), (Some("binance"), &json!(["read", "trade"])));
    // The account is the one asked for, and the private key signs for it.
    let sb = env.sb();
    let mut balances = sb.balances(&api_key);
    balances.sort();
    assert_eq!(
        balances,
        [("BTC".to_owned(), amt("1.5"), amt("0")), ("USDT".to_owned(), amt("25000"), amt("0"))],
        "{balances:?}"
    );
    let (status, acct) = binance(&env, &api_key, &private, "GET", "/api/v3/account", "");
    assert_eq!(status, 200, "{acct}");
    let (status, order) = binance(
        &env,
        &api_key,
        &private,
        "POST",
        "/api/v3/order",
        "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.01&newClientOrderId=route1",
    );
    assert_eq!((status, order["status"].as_str()), (200, Some("FILLED")), "{order}");
    assert_eq!(sb.free_balance(&api_key, "USDT"), Some(amt("24500")));
    // No withdraw permission was asked for: the exchange refuses.
    let (status, e) = binance(
        &env,
        &api_key,
        &private,
        "POST",
        "/sapi/v1/capital/withdraw/apply",
        "coin=BTC&address=bc1qx&amount=0.1",
    );
    assert_eq!((status, e["code"].as_i64()), (401, Some(-2015)), "{e}");
    assert!(sb.withdrawals().is_empty());
    // Another key's private half does not sign for this id.
    let (other, _) = ed25519();
    let (status, e) = binance(&env, &api_key, &other, "GET", "/api/v3/account", "");
    assert_eq!((status, e["code"].as_i64()), (400, Some(-1022)), "{e}");
}

#[test]
fn defaults_allow_list_and_the_other_venues() {
    let env = env();
    // Permissions default to read and trade (never withdraw); no balances.
    let (private, public) = ed25519();
    let (status, v) = post(&env, &json!({"exchange": "binance", "public_pem": public}).to_string());
    assert_eq!((status, &v["permissions"]), (201, &json!(["read", "trade"])), "{v}");
    let id = v["api_key"].as_str().expect("api_key");
    assert!(env.sb().balances(id).is_empty());
    // An allow-list that leaves out this client's address: Binance's own refusal.
    let (status, v) = post(
        &env,
        &json!({"exchange": "binance", "public_pem": public, "allowed_ips": ["127.0.0.2"], "permissions": ["read"]})
            .to_string(),
    );
    assert_eq!(status, 201, "{v}");
    let fenced = v["api_key"].as_str().expect("api_key");
    let (status, e) = binance(&env, fenced, &private, "GET", "/api/v3/account", "");
    assert_eq!((status, e["code"].as_i64()), (401, Some(-2015)), "{e}");
    // Bybit takes RSA (18-character ids), Bitget RSA with its passphrase.
    let (status, v) = post(&env, &json!({"exchange": "bybit", "public_pem": rsa_public()}).to_string());
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["api_key"].as_str().map(str::len), Some(18), "{v}");
    let (status, v) =
        post(&env, &json!({"exchange": "bitget", "public_pem": rsa_public(), "passphrase": "p4ss"}).to_string());
    assert_eq!(status, 201, "{v}");
    assert!(v["api_key"].as_str().is_some_and(|k| k.starts_with("bg_")), "{v}");
}

#[test]
fn bad_input_is_refused_with_a_json_error_naming_it() {
    let env = env();
    let (private, public) = ed25519();
    let rsa = rsa_public();
    let ok = |extra: Value| {
        let mut b = json!({"exchange": "binance", "public_pem": public});
        for (k, v) in extra.as_object().expect("object") {
            b[k] = v.clone();
        }
        b.to_string()
    };
    for (body, status, says) in [
        ("not json".to_owned(), 400, "not the JSON object"),
        ("[]".to_owned(), 400, "not the JSON object"),
        (json!({"public_pem": public}).to_string(), 400, "exchange"),
        (ok(json!({"secret": "x"})), 400, "unknown field"),
        (ok(json!({"exchange": "kraken"})), 400, "binance, bybit or bitget"),
        (ok(json!({"public_pem": "junk"})), 400, "public_pem"),
        (ok(json!({"public_pem": private})), 400, "PUBLIC KEY PEM"),
        (ok(json!({"exchange": "bybit"})), 400, "only RSA"),
        (json!({"exchange": "bitget", "public_pem": rsa}).to_string(), 400, "passphrase"),
        (ok(json!({"passphrase": "p"})), 400, "passphrase"),
        (ok(json!({"permissions": []})), 400, "permissions"),
        (ok(json!({"permissions": ["read", "admin"]})), 400, "\"admin\""),
        (ok(json!({"permissions": ["read", "read"]})), 400, "twice"),
        (ok(json!({"balances": {"BTC": "-1"}})), 400, "balances.BTC"),
        (ok(json!({"balances": {"BTC": "0.123456789"}})), 400, "balances.BTC"),
        (ok(json!({"balances": {"BTC": 1.5}})), 400, "expected a string"),
        (ok(json!({"balances": {"B TC": "1"}})), 400, "asset name"),
        (ok(json!({"allowed_ips": ["localhost"]})), 400, "allowed_ips"),
        ("x".repeat(70_000), 413, "larger than"),
    ] {
        let (got, v) = post(&env, &body);
        let error = v["error"].as_str().unwrap_or_else(|| panic!("no JSON error for {body:.60}: {v}"));
        assert_eq!(got, status, "{body:.60}: {v}");
        assert!(error.contains(says), "{body:.60}: {error}");
    }
    // Only POST; the route is the sandbox's, not Binance's fallback.
    let (status, v) = env.send("GET", PATH, "", &[], "");
    assert_eq!(status, 405, "{v}");
    assert!(v["error"].as_str().is_some_and(|e| e.contains("POST")), "{v}");
    // After every refusal the same body, put right, registers.
    let (status, v) = post(&env, &ok(json!({})));
    assert_eq!(status, 201, "{v}");
}
