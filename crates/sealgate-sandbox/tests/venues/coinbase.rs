//! The Coinbase Advanced Trade sandbox verifies CDP JWTs (ES256 and EdDSA)
//! with the key's public key; Sealgate's Coinbase scheme passes it.

use crate::common;

use aws_lc_rs::signature::{self, KeyPair as _};
use base64::Engine as _;
use common::{Env, amt, request, sign};
use sealgate_exchanges::{Credential, SystemClock};
use sealgate_sandbox::{KeySpec, Market, Permissions, Venue};
use serde_json::Value;

struct Key {
    name: String,
    pem: String,
    public_b64: String,
}

fn es256_key(name: &str) -> Key {
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 =
        signature::EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("gen");
    let pair =
        signature::EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).expect("pair");
    Key {
        name: name.into(),
        pem: pem_rfc7468::encode_string("PRIVATE KEY", pem_rfc7468::LineEnding::LF, pkcs8.as_ref()).expect("pem"),
        public_b64: base64::engine::general_purpose::STANDARD.encode(pair.public_key().as_ref()),
    }
}

fn ed25519_key(name: &str) -> Key {
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 = signature::Ed25519KeyPair::generate_pkcs8(&rng).expect("gen");
    let pair = signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("pair");
    Key {
        name: name.into(),
        pem: pem_rfc7468::encode_string("PRIVATE KEY", pem_rfc7468::LineEnding::LF, pkcs8.as_ref()).expect("pem"),
        public_b64: base64::engine::general_purpose::STANDARD.encode(pair.public_key().as_ref()),
    }
}

fn env(keys: &[(&Key, Permissions)]) -> Env {
    let specs = keys
        .iter()
        .map(|(k, permissions)| KeySpec {
            venue: Venue::Coinbase,
            api_key: k.name.clone(),
            secret: k.public_b64.clone(),
            permissions: *permissions,
            allowed_ips: vec![],
            passphrase: None,
            balances: vec![("USD".into(), amt("1000")), ("BTC".into(), amt("0.5"))],
        })
        .collect();
    Env::new(
        specs,
        vec![Market { symbol: "BTC-USD".into(), base: "BTC".into(), quote: "USD".into(), price: amt("50000") }],
    )
}

/// Sign with Sealgate's Coinbase scheme (real clock) and send.
fn call(env: &Env, key: &Key, method: &str, path: &str, body: &str) -> (u16, Value) {
    let cred = Credential {
        key_name: Some(key.name.clone().into()),
        private_key: Some(key.pem.clone().into()),
        ..Credential::default()
    };
    let mut s = sign("coinbase", &cred, &request(method, path, "", body), &SystemClock, 1);
    s.headers.push(("Content-Type".into(), "application/json".into()));
    env.send_signed(&s)
}

const TRADER: Permissions = Permissions { read: true, trade: true, withdraw: false };

#[test]
fn es256_and_eddsa_keys_trade() {
    let es = es256_key("organizations/org-1/apiKeys/es");
    let ed = ed25519_key("organizations/org-1/apiKeys/ed");
    let env = env(&[(&es, TRADER), (&ed, TRADER)]);
    for k in [&es, &ed] {
        let (status, v) = call(&env, k, "GET", "/api/v3/brokerage/accounts", "");
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["accounts"].as_array().map(Vec::len), Some(2));
    }
    let (status, v) = call(
        &env,
        &es,
        "POST",
        "/api/v3/brokerage/orders",
        r#"{"client_order_id":"c1","product_id":"BTC-USD","side":"BUY","order_configuration":{"market_market_ioc":{"quote_size":"100"}}}"#,
    );
    assert_eq!((status, v["success"].as_bool()), (200, Some(true)), "{v}");
    assert_eq!(env.sb().free_balance(&es.name, "BTC"), Some(amt("0.502")));
    let (_, v) = call(
        &env,
        &es,
        "POST",
        "/api/v3/brokerage/orders",
        r#"{"client_order_id":"c2","product_id":"BTC-USD","side":"SELL","order_configuration":{"limit_limit_gtc":{"base_size":"0.1","limit_price":"70000"}}}"#,
    );
    let id = v["success_response"]["order_id"].as_str().expect("id").to_owned();
    let (_, v) = call(&env, &es, "GET", "/api/v3/brokerage/orders/historical/batch", "");
    assert_eq!(v["orders"].as_array().map(Vec::len), Some(1));
    let (_, v) =
        call(&env, &es, "POST", "/api/v3/brokerage/orders/batch_cancel", &format!(r#"{{"order_ids":["{id}"]}}"#));
    assert_eq!(v["results"][0]["success"], true, "{v}");
    let (_, v) = call(&env, &es, "GET", "/api/v3/brokerage/orders/historical/fills", "");
    assert_eq!(v["fills"].as_array().map(Vec::len), Some(1));
}

#[test]
fn sends_need_the_transfer_permission_and_a_valid_key() {
    let trader = es256_key("organizations/org-1/apiKeys/trader");
    let treasury = ed25519_key("organizations/org-1/apiKeys/treasury");
    let stranger = es256_key("organizations/org-1/apiKeys/trader");
    let env = env(&[(&trader, TRADER), (&treasury, Permissions { read: true, trade: true, withdraw: true })]);
    let send = r#"{"type":"send","to":"bc1qexample","amount":"0.1","currency":"BTC"}"#;
    let (status, v) = call(&env, &trader, "POST", "/v2/accounts/acct-BTC/transactions", send);
    assert_eq!((status, v["error"].as_str()), (403, Some("PERMISSION_DENIED")), "{v}");
    assert!(env.sb().withdrawals().is_empty());
    let (status, v) = call(&env, &treasury, "POST", "/v2/accounts/acct-BTC/transactions", send);
    assert_eq!(status, 200, "{v}");
    assert_eq!(env.sb().withdrawals().len(), 1);
    // Same key name, another private key: the signature does not verify.
    let (status, v) = call(&env, &stranger, "GET", "/api/v3/brokerage/accounts", "");
    assert_eq!((status, v["error"].as_str()), (401, Some("UNAUTHENTICATED")), "{v}");
}
