//! What the importer/trader tests (and the import benchmark) share: the
//! sandbox with a key on each venue, a stand-in [`SignerClient`] that signs
//! with `sealgate_exchanges::sign` and sends with reqwest (the real signer is
//! built elsewhere), a store with a user per credential, and `on_both` to run
//! a body on SQLite and on PostgreSQL.
//!
//! PostgreSQL: `SEALGATE_TEST_POSTGRES_ADMIN` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`); if unreachable the test
//! FAILS unless `SEALGATE_SKIP_POSTGRES=1`, which skips it with a loud notice.

#![allow(dead_code)]

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aws_lc_rs::signature::{self, KeyPair as _};
use base64::Engine as _;
use sealgate_exchanges::{Context, Credential, MonotonicNonce, Request, SystemClock};
use sealgate_sandbox::{Amount, KeySpec, Market, Permissions, Sandbox, Venue};
use sealgate_server::client::{CallFuture, ExchangeResponse, ForwardCall, SignerCallError, SignerClient};
use sealgate_store::{NewCredential, NewEnvelope, Store};

pub fn amt(s: &str) -> Amount {
    Amount::parse(s).expect("amount")
}

/// The secret material of one sandbox key, as the signer would hold it.
#[derive(Clone)]
pub struct KeyMaterial {
    pub exchange: &'static str,
    pub api_key: Option<String>,
    pub api_secret: Option<String>,
    pub passphrase: Option<String>,
    pub private_key: Option<String>,
    pub key_name: Option<String>,
}

impl KeyMaterial {
    fn credential(&self) -> Credential {
        Credential {
            api_key: self.api_key.clone().map(Into::into),
            api_secret: self.api_secret.clone().map(Into::into),
            passphrase: self.passphrase.clone().map(Into::into),
            private_key: self.private_key.clone().map(Into::into),
            key_name: self.key_name.clone().map(Into::into),
            held_key: None,
        }
    }
}

/// One credential per venue: (credential id, sandbox api key, exchange).
pub const VENUES: [(&str, &str, &str); 15] = [
    ("cid-binance", "bin-key", "binance"),
    ("cid-kraken", "kr-key", "kraken"),
    ("cid-okx", "okx-key", "okx"),
    ("cid-coinbase", "organizations/org-1/apiKeys/cb", "coinbase"),
    ("cid-bybit", "bybit-key", "bybit"),
    ("cid-bitget", "bg_0123456789abcdef0123456789abcdef", "bitget"),
    ("cid-kucoin", "kc-key", "kucoin"),
    ("cid-gate", "gate-key", "gate"),
    ("cid-mexc", "mx-key", "mexc"),
    ("cid-poloniex", "plx-key", "poloniex"),
    ("cid-bitfinex", "bfx-key", "bitfinex"),
    ("cid-gemini", "gem-key", "gemini"),
    ("cid-bitstamp", "bs-key", "bitstamp"),
    ("cid-coinbase-exchange", "cbx-key", "coinbase-exchange"),
    ("cid-deribit", "dr-key", "deribit"),
];

/// The market each venue trades in the tests: (symbol, base as the sandbox names it, quote).
pub fn market_of(exchange: &str) -> (&'static str, &'static str, &'static str) {
    match exchange {
        "binance" => ("BTCUSDT", "BTC", "USDT"),
        "kraken" => ("XBTUSD", "XXBT", "ZUSD"),
        "okx" => ("BTC-USDT", "BTC", "USDT"),
        "bybit" | "bitget" => ("BTCUSDT", "BTC", "USDT"),
        "kucoin" => ("BTC-USDT", "BTC", "USDT"),
        "gate" => ("BTC_USDT", "BTC", "USDT"),
        "mexc" => ("BTCUSDT", "BTC", "USDT"),
        "poloniex" => ("BTC_USDT", "BTC", "USDT"),
        // Bitfinex spells USDT `UST`.
        "bitfinex" => ("tBTCUST", "BTC", "UST"),
        "gemini" | "bitstamp" => ("btcusd", "BTC", "USD"),
        // The same product as Coinbase Advanced's: one sandbox market.
        "coinbase-exchange" => ("BTC-USD", "BTC", "USD"),
        // An inverse perpetual, margined in BTC; orders are sized in USD.
        "deribit" => ("BTC-PERPETUAL", "BTC", "USD"),
        _ => ("BTC-USD", "BTC", "USD"),
    }
}

/// A quantity the venue's market of the tests takes: `spot` in base units, or Deribit's
/// USD amount (a multiple of BTC-PERPETUAL's 10 USD contract).
pub fn qty_of(exchange: &str, spot: &str) -> String {
    if exchange == "deribit" { "100".into() } else { spot.into() }
}

/// Bob's Binance key: bob's credential `cid-binance` has the same id as alice's.
pub const BOB_BINANCE_KEY: &str = "bin-key-bob";

/// The sandbox and the key material of every credential, by (owner, credential id).
pub struct Exchanges {
    pub sandbox: Sandbox,
    pub keys: HashMap<(String, String), KeyMaterial>,
    /// Every client's nonces, shared: see [`Nonces`].
    pub nonces: Arc<Nonces>,
}

/// Each credential's nonce sequence, by (owner, credential id), shared by every
/// [`TestClient`] of one sandbox (the importer's and the trader's) as the signer shares it
/// through the store; its lock is held from taking a nonce to the answer, as the signer
/// holds the store's nonce guard, so a smaller nonce never arrives after a larger one.
#[derive(Default)]
pub struct Nonces(Mutex<HashMap<(String, String), Sequence>>);

/// One credential's nonces, locked from taking one to the answer.
type Sequence = Arc<tokio::sync::Mutex<MonotonicNonce>>;

impl Nonces {
    fn of(&self, who: &(String, String)) -> Sequence {
        self.0.lock().expect("nonces").entry(who.clone()).or_default().clone()
    }
}

const ALL: Permissions = Permissions { read: true, trade: true, withdraw: false };

pub async fn start_exchanges() -> Exchanges {
    let kraken_secret = base64::engine::general_purpose::STANDARD.encode([7u8; 64]);
    let cbx_secret = base64::engine::general_purpose::STANDARD.encode([11u8; 64]);
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 = signature::Ed25519KeyPair::generate_pkcs8(&rng).expect("gen");
    let pair = signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("pair");
    let cb_pem = pem_rfc7468::encode_string("PRIVATE KEY", pem_rfc7468::LineEnding::LF, pkcs8.as_ref()).expect("pem");
    let cb_public = base64::engine::general_purpose::STANDARD.encode(pair.public_key().as_ref());
    let spec = |venue, api_key: &str, secret: String, passphrase: Option<&str>, balances: &[(&str, &str)]| KeySpec {
        venue,
        api_key: api_key.into(),
        secret,
        permissions: ALL,
        allowed_ips: vec![],
        passphrase: passphrase.map(Into::into),
        balances: balances.iter().map(|(a, v)| ((*a).to_owned(), amt(v))).collect(),
    };
    let keys = vec![
        spec(Venue::Binance, "bin-key", "bin-secret".into(), None, &[("BTC", "1.5"), ("USDT", "50000"), ("BNB", "3")]),
        spec(
            Venue::Kraken,
            "kr-key",
            kraken_secret.clone(),
            None,
            &[("XXBT", "2"), ("ZUSD", "100000"), ("XETH", "0.25")],
        ),
        spec(Venue::Okx, "okx-key", "okx-secret".into(), Some("okx-pass"), &[("BTC", "0.75"), ("USDT", "20000")]),
        spec(Venue::Coinbase, VENUES[3].1, cb_public, None, &[("BTC", "0.5"), ("USD", "10000")]),
        spec(Venue::Bybit, VENUES[4].1, "bybit-secret".into(), None, &[("BTC", "0.6"), ("USDT", "30000")]),
        spec(
            Venue::Bitget,
            VENUES[5].1,
            "bitget-secret".into(),
            Some("bitget-pass"),
            &[("BTC", "0.4"), ("USDT", "15000"), ("ETH", "1.5")],
        ),
        spec(
            Venue::Kucoin,
            VENUES[6].1,
            "kc-secret".into(),
            Some("kc-pass"),
            &[("BTC", "0.3"), ("USDT", "12000"), ("ETH", "0.5")],
        ),
        spec(Venue::Gate, VENUES[7].1, "gate-secret".into(), None, &[("BTC", "0.2"), ("USDT", "9000")]),
        spec(Venue::Mexc, VENUES[8].1, "mx-secret".into(), None, &[("BTC", "0.35"), ("USDT", "11000")]),
        spec(Venue::Poloniex, VENUES[9].1, "plx-secret".into(), None, &[("BTC", "0.45"), ("USDT", "13000")]),
        spec(
            Venue::Bitfinex,
            VENUES[10].1,
            "bfx-secret".into(),
            None,
            &[("BTC", "0.5"), ("UST", "8000"), ("USD", "700")],
        ),
        spec(Venue::Gemini, VENUES[11].1, "gem-secret".into(), None, &[("BTC", "0.25"), ("USD", "7000")]),
        spec(Venue::Bitstamp, VENUES[12].1, "bs-secret".into(), None, &[("BTC", "0.15"), ("USD", "6000")]),
        // Coinbase Exchange's secret is base64 (the signer decodes it), with a passphrase.
        spec(
            Venue::CoinbaseExchange,
            VENUES[13].1,
            cbx_secret.clone(),
            Some("cbx-pass"),
            &[("BTC", "0.3"), ("USD", "9000")],
        ),
        spec(Venue::Deribit, VENUES[14].1, "dr-secret".into(), None, &[("BTC", "1.2")]),
        spec(Venue::Binance, BOB_BINANCE_KEY, "bin-secret-bob".into(), None, &[("BTC", "7"), ("USDT", "900")]),
    ];
    // One market per symbol (Binance, Bybit and Bitget all spell it BTCUSDT).
    let mut markets: Vec<Market> = Vec::new();
    for (_, _, e) in VENUES {
        let (symbol, base, quote) = market_of(e);
        if !markets.iter().any(|m| m.symbol == symbol) {
            markets.push(Market { symbol: symbol.into(), base: base.into(), quote: quote.into(), price: amt("25000") });
        }
    }
    let sandbox =
        Sandbox::start(SocketAddr::from(([127, 0, 0, 1], 0)), keys, markets).await.expect("start the sandbox");
    let none = KeyMaterial {
        exchange: "",
        api_key: None,
        api_secret: None,
        passphrase: None,
        private_key: None,
        key_name: None,
    };
    let mut m = HashMap::new();
    let alice = |cid: &str| ("alice".to_owned(), cid.to_owned());
    m.insert(
        ("bob".to_owned(), VENUES[0].0.to_owned()),
        KeyMaterial {
            exchange: "binance",
            api_key: Some(BOB_BINANCE_KEY.into()),
            api_secret: Some("bin-secret-bob".into()),
            ..none.clone()
        },
    );
    m.insert(
        alice(VENUES[0].0),
        KeyMaterial {
            exchange: "binance",
            api_key: Some("bin-key".into()),
            api_secret: Some("bin-secret".into()),
            ..none.clone()
        },
    );
    m.insert(
        alice(VENUES[1].0),
        KeyMaterial {
            exchange: "kraken",
            api_key: Some("kr-key".into()),
            api_secret: Some(kraken_secret),
            ..none.clone()
        },
    );
    m.insert(
        alice(VENUES[2].0),
        KeyMaterial {
            exchange: "okx",
            api_key: Some("okx-key".into()),
            api_secret: Some("okx-secret".into()),
            passphrase: Some("okx-pass".into()),
            ..none.clone()
        },
    );
    m.insert(
        alice(VENUES[4].0),
        KeyMaterial {
            exchange: "bybit",
            api_key: Some(VENUES[4].1.into()),
            api_secret: Some("bybit-secret".into()),
            ..none.clone()
        },
    );
    m.insert(
        alice(VENUES[5].0),
        KeyMaterial {
            exchange: "bitget",
            api_key: Some(VENUES[5].1.into()),
            api_secret: Some("bitget-secret".into()),
            passphrase: Some("bitget-pass".into()),
            ..none.clone()
        },
    );
    m.insert(
        alice(VENUES[6].0),
        KeyMaterial {
            exchange: "kucoin",
            api_key: Some(VENUES[6].1.into()),
            api_secret: Some("kc-secret".into()),
            passphrase: Some("kc-pass".into()),
            ..none.clone()
        },
    );
    m.insert(
        alice(VENUES[7].0),
        KeyMaterial {
            exchange: "gate",
            api_key: Some(VENUES[7].1.into()),
            api_secret: Some("gate-secret".into()),
            ..none.clone()
        },
    );
    m.insert(
        alice(VENUES[8].0),
        KeyMaterial {
            exchange: "mexc",
            api_key: Some(VENUES[8].1.into()),
            api_secret: Some("mx-secret".into()),
            ..none.clone()
        },
    );
    m.insert(
        alice(VENUES[9].0),
        KeyMaterial {
            exchange: "poloniex",
            api_key: Some(VENUES[9].1.into()),
            api_secret: Some("plx-secret".into()),
            ..none.clone()
        },
    );
    m.insert(
        alice(VENUES[10].0),
        KeyMaterial {
            exchange: "bitfinex",
            api_key: Some(VENUES[10].1.into()),
            api_secret: Some("bfx-secret".into()),
            ..none.clone()
        },
    );
    m.insert(
        alice(VENUES[11].0),
        KeyMaterial {
            exchange: "gemini",
            api_key: Some(VENUES[11].1.into()),
            api_secret: Some("gem-secret".into()),
            ..none.clone()
        },
    );
    m.insert(
        alice(VENUES[12].0),
        KeyMaterial {
            exchange: "bitstamp",
            api_key: Some(VENUES[12].1.into()),
            api_secret: Some("bs-secret".into()),
            ..none.clone()
        },
    );
    m.insert(
        alice(VENUES[13].0),
        KeyMaterial {
            exchange: "coinbase-exchange",
            api_key: Some(VENUES[13].1.into()),
            api_secret: Some(cbx_secret),
            passphrase: Some("cbx-pass".into()),
            ..none.clone()
        },
    );
    m.insert(
        alice(VENUES[14].0),
        KeyMaterial {
            exchange: "deribit",
            api_key: Some(VENUES[14].1.into()),
            api_secret: Some("dr-secret".into()),
            ..none.clone()
        },
    );
    m.insert(
        alice(VENUES[3].0),
        KeyMaterial { exchange: "coinbase", key_name: Some(VENUES[3].1.into()), private_key: Some(cb_pem), ..none },
    );
    Exchanges { sandbox, keys: m, nonces: Arc::default() }
}

/// A stand-in for the signer: signs with `sealgate_exchanges::sign` and
/// sends with reqwest. `fail_after` makes every call after the first N fail
/// as the signer would when the exchange is unreachable.
pub struct TestClient {
    base: String,
    http: reqwest::Client,
    keys: HashMap<(String, String), KeyMaterial>,
    nonces: Arc<Nonces>,
    role: &'static str,
    calls: AtomicUsize,
    fail_after: AtomicUsize,
    /// Every request forwarded: ((owner, credential id), request).
    pub log: Mutex<Vec<((String, String), Request)>>,
}

impl TestClient {
    pub fn new(ex: &Exchanges, role: &'static str) -> Arc<Self> {
        Self::at(format!("http://{}", ex.sandbox.addr()), ex.keys.clone(), ex.nonces.clone(), role)
    }

    /// One for a sandbox at `base` (another process's), with these keys and nonces.
    pub fn at(
        base: String,
        keys: HashMap<(String, String), KeyMaterial>,
        nonces: Arc<Nonces>,
        role: &'static str,
    ) -> Arc<Self> {
        Arc::new(Self {
            base,
            http: reqwest::Client::new(),
            keys,
            nonces,
            role,
            calls: AtomicUsize::new(0),
            fail_after: AtomicUsize::new(usize::MAX),
            log: Mutex::new(Vec::new()),
        })
    }

    /// From now on, allow `n` more calls, then fail transiently.
    pub fn fail_after(&self, n: usize) {
        let done = self.calls.load(Ordering::SeqCst);
        self.fail_after.store(done.saturating_add(n), Ordering::SeqCst);
    }

    pub fn heal(&self) {
        self.fail_after.store(usize::MAX, Ordering::SeqCst);
    }

    pub fn requests(&self) -> Vec<((String, String), Request)> {
        self.log.lock().expect("log").clone()
    }

    async fn send(&self, call: &ForwardCall) -> Result<ExchangeResponse, SignerCallError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        if n >= self.fail_after.load(Ordering::SeqCst) {
            return Err(SignerCallError::Unavailable("simulated outage".into()));
        }
        // Keyed like the signer: by (owner, id), never by the id alone.
        let who = (call.owner.to_string(), call.credential_id.to_string());
        self.log.lock().expect("log").push((who.clone(), call.request.clone()));
        let key = self.keys.get(&who).ok_or(SignerCallError::NotFound)?;
        // This credential's nonces, locked until the answer is in.
        let sequence = self.nonces.of(&who);
        let nonce = sequence.lock().await;
        let ctx = Context { clock: &SystemClock, nonce: &*nonce };
        let signed = sealgate_exchanges::sign(key.exchange, &key.credential(), &call.request, &ctx)
            .map_err(|e| SignerCallError::BadRequest(e.to_string()))?;
        let url = if signed.query.is_empty() {
            format!("{}{}", self.base, signed.path)
        } else {
            format!("{}{}?{}", self.base, signed.path, signed.query)
        };
        let method = reqwest::Method::from_bytes(signed.method.as_bytes()).expect("method");
        let mut req = self.http.request(method, url);
        for (k, v) in &signed.headers {
            req = req.header(k, v);
        }
        if signed.header_value("Content-Type").is_none() && !signed.body.is_empty() {
            let ct =
                if signed.body.starts_with('{') { "application/json" } else { "application/x-www-form-urlencoded" };
            req = req.header("Content-Type", ct);
        }
        let resp = req.body(signed.body).send().await.map_err(|e| SignerCallError::Unavailable(e.to_string()))?;
        let status = resp.status().as_u16();
        let body = resp.text().await.map_err(|e| SignerCallError::Unavailable(e.to_string()))?;
        Ok(ExchangeResponse { status, body })
    }
}

impl SignerClient for TestClient {
    fn role(&self) -> &str {
        self.role
    }
    fn forward<'a>(&'a self, call: &'a ForwardCall) -> CallFuture<'a, ExchangeResponse> {
        Box::pin(self.send(call))
    }
}

/// A store at `url` with user `alice` owning one credential per venue,
/// user `bob` owning one Binance credential with the same id as alice's
/// (`cid-binance`, on his own key), and user `mallory` owning none.
pub async fn store_with_credentials(url: &str) -> Store {
    let store = Store::connect(url).await.expect("connect");
    store.create_user("alice", None).await.expect("alice");
    store.create_user("mallory", None).await.expect("mallory");
    store.create_user("bob", None).await.expect("bob");
    let owned = VENUES.iter().map(|(cid, _, exchange)| ("alice", *cid, *exchange));
    for (owner, cid, exchange) in owned.chain([("bob", VENUES[0].0, "binance")]) {
        let new = NewCredential { id: cid, owner, exchange, label: "main", hint: "abcd", scope: "read,trade" };
        let envs = [
            NewEnvelope { role: "importer", kid: "imp-1", jwe: "sealed" },
            NewEnvelope { role: "trader", kid: "trd-1", jwe: "sealed" },
        ];
        store.create_credential(&new, &envs).await.expect("credential");
    }
    store
}

// --- SQLite and PostgreSQL ------------------------------------------------------------

#[path = "../../../sealgate-store/tests/harness/mod.rs"]
mod harness;

/// Runs `body(url)` on a fresh SQLite file, then on a fresh PostgreSQL database (the store's harness).
pub async fn on_both<F, Fut>(test: &str, body: F)
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    harness::on_both(test, |db| body(db.url)).await
}
