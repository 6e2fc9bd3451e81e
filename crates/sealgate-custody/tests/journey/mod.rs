//! The journey of an exchange key born in the custody (issue 18), shared by every
//! backend's tests: the custody makes the key, the sandbox's Binance registers its public
//! key and gives an API key id, and orders signed through the custody (never with a private
//! key in this process) are verified by the sandbox as Binance verifies them.

use std::net::SocketAddr;
use std::sync::Arc;

use sealgate_custody::{Custody, ExchangeKeyType};
use sealgate_exchanges::{
    Context, Credential, Error, HeldKey, HeldKeyAlg, MonotonicNonce, Request, SignedRequest, SystemClock,
    sign_with_held_key,
};
use sealgate_sandbox::{Amount, Market, Permissions, Sandbox, Venue};
use serde_json::Value;

fn amount(s: &str) -> Amount {
    Amount::parse(s).expect("amount")
}

/// Sign `req` for Binance with custody key `id` (the custody signs; this process never
/// holds the private key).
async fn signed(
    custody: &dyn Custody,
    id: &str,
    alg: HeldKeyAlg,
    api_key: &str,
    req: &Request,
) -> Result<SignedRequest, Error> {
    let nonce = MonotonicNonce::default();
    let ctx = Context { clock: &SystemClock, nonce: &nonce };
    let credential = |held: Arc<dyn HeldKey>| Credential {
        api_key: Some(api_key.to_owned().into()),
        held_key: Some(held),
        ..Credential::default()
    };
    sign_with_held_key("binance", alg, credential, req, &ctx, |message| async move {
        custody.exchange_sign(id, &message).await.map_err(|_| Error::BadKey("the custody did not sign"))
    })
    .await
}

async fn send(sandbox: SocketAddr, s: &SignedRequest) -> (u16, Value) {
    let mut url = format!("http://{sandbox}{}", s.path);
    if !s.query.is_empty() {
        url = format!("{url}?{}", s.query);
    }
    let method = reqwest::Method::from_bytes(s.method.as_bytes()).expect("method");
    let mut req = reqwest::Client::new().request(method, url).body(s.body.clone());
    for (k, v) in &s.headers {
        req = req.header(k, v);
    }
    if !s.body.is_empty() {
        req = req.header("Content-Type", "application/x-www-form-urlencoded");
    }
    let resp = req.send().await.expect("send to the sandbox");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Create each key type in `custody`, register it at the sandbox, trade, and destroy it.
pub async fn binance_orders_through(custody: &dyn Custody, types: &[ExchangeKeyType]) {
    let markets =
        vec![Market { symbol: "BTCUSDT".into(), base: "BTC".into(), quote: "USDT".into(), price: amount("50000") }];
    let sandbox = Sandbox::start(SocketAddr::from(([127, 0, 0, 1], 0)), Vec::new(), markets).await.expect("sandbox");
    let trade = Permissions { read: true, trade: true, withdraw: false };
    for &key_type in types {
        let key = custody.create_exchange_key(key_type).await.expect("create in the custody");
        let balances = vec![("USDT".to_owned(), amount("10000"))];
        let api_key =
            sandbox.register_public_key(Venue::Binance, &key.public_pem(), trade, vec![], balances).expect("register");
        let alg = match key_type {
            ExchangeKeyType::Ed25519 => HeldKeyAlg::Ed25519,
            ExchangeKeyType::Rsa2048 => HeldKeyAlg::RsaPkcs1Sha256,
        };
        let account = signed(custody, &key.id, alg, &api_key, &Request::new("GET", "/api/v3/account", "", "")).await;
        let (status, body) = send(sandbox.addr(), &account.expect("sign")).await;
        assert_eq!(status, 200, "{key_type}: {body}");
        let order = Request::new("POST", "/api/v3/order", "", "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.01");
        let (status, body) =
            send(sandbox.addr(), &signed(custody, &key.id, alg, &api_key, &order).await.expect("sign")).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("FILLED")), "{key_type}: {body}");
        assert_eq!(sandbox.free_balance(&api_key, "BTC"), Some(amount("0.01")), "{key_type}");
        // The exchange refuses what the key may not do (the signer refuses it first, in
        // its own tests): the key was registered without withdrawals.
        let withdraw = Request::new("POST", "/sapi/v1/capital/withdraw/apply", "", "coin=USDT&address=T9zX&amount=1");
        let (status, body) =
            send(sandbox.addr(), &signed(custody, &key.id, alg, &api_key, &withdraw).await.expect("sign")).await;
        assert_eq!((status, body["code"].as_i64()), (401, Some(-2015)), "{key_type}: {body}");
        // Deleted: the custody signs nothing more with it.
        custody.destroy_exchange_key(&key.id).await.expect("destroy");
        let gone = signed(custody, &key.id, alg, &api_key, &Request::new("GET", "/api/v3/account", "", "")).await;
        assert!(gone.is_err(), "{key_type}: signed after destroy");
    }
}
