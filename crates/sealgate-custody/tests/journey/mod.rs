//! The journey of an exchange key born in the custody (issue 18), shared by every
//! backend's tests: the custody makes the key, the sandbox registers its public key as the
//! exchange's key page does and gives an API key id, and requests signed through the custody
//! (never with a private key in this process) are verified by the sandbox as the exchange
//! verifies them. It runs on Binance (Ed25519 and RSA keys), Bybit v5 and Bitget v2 (RSA
//! keys, the only kind their key pages take), each with its own endpoints: read the
//! account, fill a market buy, see a withdrawal refused, destroy the key.

use std::net::SocketAddr;
use std::sync::Arc;

use sealgate_custody::{Custody, ExchangeKeyInfo, ExchangeKeyType};
use sealgate_exchanges::{
    Context, Credential, Error, HeldKey, HeldKeyAlg, MonotonicNonce, Request, SignedRequest, SystemClock,
    sign_with_held_key,
};
use sealgate_sandbox::{Amount, Market, Permissions, Sandbox, Venue};
use serde_json::Value;

fn amount(s: &str) -> Amount {
    Amount::parse(s).expect("amount")
}

/// One exchange's part of the journey: where the key is registered, how Sealgate signs for
/// it, and the exchange's own requests and answers. Every order buys 0.01 BTC with USDT,
/// every withdrawal asks for 1 USDT.
struct Exchange {
    venue: Venue,
    /// Sealgate's scheme id (`sealgate_exchanges::sign`).
    id: &'static str,
    /// The key types its key page takes.
    key_types: &'static [ExchangeKeyType],
    /// The key's passphrase, for the exchanges whose keys have one: chosen when the key is
    /// registered, sent with every request, not a secret of the key.
    passphrase: Option<&'static str>,
    /// Reads the account's USDT balance ...
    account: Request,
    /// ... found at this JSON pointer of the answer.
    usdt_at: &'static str,
    /// A market buy of 0.01 BTC.
    order: Request,
    /// A withdrawal of 1 USDT (the key may not withdraw).
    withdraw: Request,
    /// The member of an answer holding the exchange's result code.
    code_field: &'static str,
    /// HTTP status and result code of a success ...
    ok: (u16, &'static str),
    /// ... and of a refusal for the key's permissions.
    no_permission: (u16, &'static str),
}

/// Binance spot: "Account information", "New order" (quantity in BTC), "Withdraw"; -2015
/// "Invalid API-key, IP, or permissions for action".
fn binance() -> Exchange {
    Exchange {
        venue: Venue::Binance,
        id: "binance",
        key_types: &ExchangeKeyType::ALL,
        passphrase: None,
        account: Request::new("GET", "/api/v3/account", "", ""),
        // The account holds USDT only, listed first.
        usdt_at: "/balances/0/free",
        order: Request::new("POST", "/api/v3/order", "", "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.01"),
        withdraw: Request::new("POST", "/sapi/v1/capital/withdraw/apply", "", "coin=USDT&address=T9zX&amount=1"),
        code_field: "code",
        ok: (200, ""),
        no_permission: (401, "-2015"),
    }
}

/// Bybit v5: "Get Wallet Balance" (unified account), "Place Order" (a spot market buy sized
/// in the base coin with `marketUnit`), "Withdraw" (its `timestamp` is required); retCode
/// 10005 "Permission denied".
fn bybit() -> Exchange {
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis();
    Exchange {
        venue: Venue::Bybit,
        id: "bybit",
        key_types: &[ExchangeKeyType::Rsa2048],
        passphrase: None,
        account: Request::new("GET", "/v5/account/wallet-balance", "accountType=UNIFIED&coin=USDT", ""),
        usdt_at: "/result/list/0/coin/0/walletBalance",
        order: Request::new(
            "POST",
            "/v5/order/create",
            "",
            r#"{"category":"spot","symbol":"BTCUSDT","side":"Buy","orderType":"Market","qty":"0.01","marketUnit":"baseCoin"}"#,
        ),
        withdraw: Request::new(
            "POST",
            "/v5/asset/withdraw/create",
            "",
            &format!(r#"{{"coin":"USDT","chain":"TRX","address":"T9zX","amount":"1","timestamp":{now_ms}}}"#),
        ),
        code_field: "retCode",
        ok: (200, "0"),
        no_permission: (200, "10005"),
    }
}

/// Bitget v2: "Get Account Assets", "Place Order" (a market buy is sized in the quote coin:
/// 500 USDT at 50000), "Withdraw"; 40014 "Incorrect permissions".
fn bitget() -> Exchange {
    Exchange {
        venue: Venue::Bitget,
        id: "bitget",
        key_types: &[ExchangeKeyType::Rsa2048],
        passphrase: Some("journey-passphrase"),
        account: Request::new("GET", "/api/v2/spot/account/assets", "coin=USDT", ""),
        usdt_at: "/data/0/available",
        order: Request::new(
            "POST",
            "/api/v2/spot/trade/place-order",
            "",
            r#"{"symbol":"BTCUSDT","side":"buy","orderType":"market","size":"500"}"#,
        ),
        withdraw: Request::new(
            "POST",
            "/api/v2/spot/wallet/withdrawal",
            "",
            r#"{"coin":"USDT","transferType":"on_chain","chain":"TRC20","address":"T9zX","size":"1"}"#,
        ),
        code_field: "code",
        ok: (200, "00000"),
        no_permission: (400, "40014"),
    }
}

/// A custody key registered at one exchange of the sandbox.
struct Registered<'a> {
    custody: &'a dyn Custody,
    exchange: &'a Exchange,
    key: ExchangeKeyInfo,
    alg: HeldKeyAlg,
    api_key: String,
}

impl Registered<'_> {
    /// Sign `req` for the exchange with the custody key (the custody signs; this process
    /// never holds the private key).
    async fn sign(&self, req: &Request) -> Result<SignedRequest, Error> {
        let nonce = MonotonicNonce::default();
        let ctx = Context { clock: &SystemClock, nonce: &nonce };
        let credential = |held: Arc<dyn HeldKey>| Credential {
            api_key: Some(self.api_key.clone().into()),
            passphrase: self.exchange.passphrase.map(Into::into),
            held_key: Some(held),
            ..Credential::default()
        };
        let (custody, id) = (self.custody, self.key.id.as_str());
        sign_with_held_key(self.exchange.id, self.alg, credential, req, &ctx, |message| async move {
            custody.exchange_sign(id, &message).await.map_err(|_| Error::BadKey("the custody did not sign"))
        })
        .await
    }

    /// Sign `req`, send it to the sandbox, and answer the HTTP status, the exchange's result
    /// code, and the body.
    async fn call(&self, sandbox: SocketAddr, req: &Request) -> (u16, String, Value) {
        let signed = self.sign(req).await.unwrap_or_else(|e| panic!("{}: sign {}: {e}", self.name(), req.path));
        let (status, body) = send(sandbox, self.exchange.id, &signed).await;
        let code = match &body[self.exchange.code_field] {
            Value::Null => String::new(),
            Value::String(s) => s.clone(),
            v => v.to_string(),
        };
        (status, code, body)
    }

    fn name(&self) -> String {
        format!("{} {}", self.exchange.id, self.key.key_type)
    }
}

/// Send `s` to the sandbox with the `Content-Type` Sealgate's sender gives exchange `id`
/// (the one the signer set is replaced, as `sealgate-send` does).
async fn send(sandbox: SocketAddr, id: &str, s: &SignedRequest) -> (u16, Value) {
    let mut url = format!("http://{sandbox}{}", s.path);
    if !s.query.is_empty() {
        url = format!("{url}?{}", s.query);
    }
    let method = reqwest::Method::from_bytes(s.method.as_bytes()).expect("method");
    let mut req = reqwest::Client::new().request(method, url).body(s.body.clone());
    for (k, v) in s.headers.iter().filter(|(k, _)| !k.eq_ignore_ascii_case("content-type")) {
        req = req.header(k, v);
    }
    if let Some(ct) = sealgate_exchanges::content_type(id, &s.method, &s.body).expect("a known exchange") {
        req = req.header("Content-Type", ct);
    }
    let resp = req.send().await.expect("send to the sandbox");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Create each key type each exchange takes in `custody`, register it at the sandbox, trade,
/// and destroy it: Binance with every type in `types`, Bybit and Bitget with those of `types`
/// they take (RSA).
pub async fn exchange_keys_trade_through(custody: &dyn Custody, types: &[ExchangeKeyType]) {
    let markets =
        vec![Market { symbol: "BTCUSDT".into(), base: "BTC".into(), quote: "USDT".into(), price: amount("50000") }];
    let sandbox = Sandbox::start(SocketAddr::from(([127, 0, 0, 1], 0)), Vec::new(), markets).await.expect("sandbox");
    for make in [binance, bybit, bitget] {
        for &key_type in types {
            // Made for each key: Bybit's withdrawal carries the time it is asked at.
            let exchange = make();
            if exchange.key_types.contains(&key_type) {
                journey(custody, &sandbox, &exchange, key_type).await;
            }
        }
    }
    assert!(sandbox.withdrawals().is_empty(), "a withdrawal was accepted: {:?}", sandbox.withdrawals());
}

/// The journey of one key at one exchange.
async fn journey(custody: &dyn Custody, sandbox: &Sandbox, exchange: &Exchange, key_type: ExchangeKeyType) {
    let key = custody.create_exchange_key(key_type).await.expect("create in the custody");
    let trade = Permissions { read: true, trade: true, withdraw: false };
    let balances = vec![("USDT".to_owned(), amount("10000"))];
    let api_key = sandbox
        .register_public_key_with_passphrase(
            exchange.venue,
            &key.public_pem(),
            exchange.passphrase,
            trade,
            vec![],
            balances,
        )
        .unwrap_or_else(|e| panic!("{} {key_type}: register: {e}", exchange.id));
    let alg = match key_type {
        ExchangeKeyType::Ed25519 => HeldKeyAlg::Ed25519,
        ExchangeKeyType::Rsa2048 => HeldKeyAlg::RsaPkcs1Sha256,
    };
    let k = Registered { custody, exchange, key, alg, api_key };
    let name = k.name();

    // The account, read with the key.
    let (status, code, body) = k.call(sandbox.addr(), &exchange.account).await;
    assert_eq!((status, code.as_str()), exchange.ok, "{name}: account: {body}");
    let usdt = body.pointer(exchange.usdt_at).and_then(Value::as_str).and_then(Amount::parse);
    assert_eq!(usdt, Some(amount("10000")), "{name}: USDT at {}: {body}", exchange.usdt_at);

    // A market buy, filled at the market price.
    let (status, code, body) = k.call(sandbox.addr(), &exchange.order).await;
    assert_eq!((status, code.as_str()), exchange.ok, "{name}: order: {body}");
    assert_eq!(sandbox.free_balance(&k.api_key, "BTC"), Some(amount("0.01")), "{name}");
    assert_eq!(sandbox.free_balance(&k.api_key, "USDT"), Some(amount("9500")), "{name}");
    let trades = sandbox.trades(&k.api_key);
    assert!(
        matches!(&trades[..], [t] if t.symbol == "BTCUSDT" && t.side_buy && t.qty == amount("0.01")),
        "{name}: {trades:?}"
    );

    // The exchange refuses what the key may not do (the signer refuses it first, in its own
    // tests): the key was registered without withdrawals.
    let (status, code, body) = k.call(sandbox.addr(), &exchange.withdraw).await;
    assert_eq!((status, code.as_str()), exchange.no_permission, "{name}: withdraw: {body}");
    assert_eq!(sandbox.free_balance(&k.api_key, "USDT"), Some(amount("9500")), "{name}");

    // Deleted: the custody signs nothing more with it.
    custody.destroy_exchange_key(&k.key.id).await.expect("destroy");
    assert!(k.sign(&exchange.account).await.is_err(), "{name}: signed after destroy");
}
