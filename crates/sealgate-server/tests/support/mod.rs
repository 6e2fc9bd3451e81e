//! A world for signer tests: a store (SQLite or PostgreSQL), a local
//! keyring custody with importer and trader keys, the exchange sandbox, and
//! credentials sealed to the roles exactly as a client seals them.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use sealgate_custody::Custody;
use sealgate_custody::local::{LocalCustody, MasterKey};
use sealgate_envelope::{PublicJwk, Scope, SealRequest, seal_credential};
use sealgate_exchanges::Request;
use sealgate_sandbox::{Amount, KeySpec, Market, Permissions, Sandbox, Venue};
use sealgate_server::api::{self, ApiState, ChangeHook, RecipientSet};
use sealgate_server::audit::{AuditLog, CheckpointPolicy};
use sealgate_server::auth::{Auth, AuthConfig, LocalConfig};
use sealgate_server::client::ForwardCall;
use sealgate_server::metrics::Metrics;
use sealgate_server::signer::{Signer, SignerConfig};
use sealgate_store::{NewCredential, NewEnvelope, Store};
use serde_json::Value;

pub use crate::session::Session;

pub const BINANCE_KEY: &str = "bn-key-0001";
pub const BINANCE_SECRET: &str = "CANARY-binance-secret-5f3c9e1a";
pub const KRAKEN_KEY: &str = "kr-key-0001";
/// base64 of 64 bytes; the text itself is the canary.
pub const KRAKEN_SECRET: &str =
    "Q0FOQVJZLWtyYWtlbi1zZWNyZXQtMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMA==";

pub const OKX_KEY: &str = "okx-key-0001";
pub const OKX_SECRET: &str = "CANARY-okx-secret-7d21a0";
pub const OKX_PASSPHRASE: &str = "CANARY-okx-passphrase";

pub const BITFINEX_KEY: &str = "bfx-key-0001";
pub const BITFINEX_SECRET: &str = "CANARY-bitfinex-secret-3a9e";
pub const GEMINI_KEY: &str = "gem-key-0001";
pub const GEMINI_SECRET: &str = "CANARY-gemini-secret-81c4";

/// A call for alice's credential `cid` (every credential of these tests is alice's unless
/// a test says otherwise: see [`call_as`]).
pub fn call(cid: &str, method: &str, path: &str, query: &str, body: &str) -> ForwardCall {
    call_as("alice", cid, method, path, query, body)
}

/// A call for `owner`'s credential `cid`.
pub fn call_as(owner: &str, cid: &str, method: &str, path: &str, query: &str, body: &str) -> ForwardCall {
    ForwardCall {
        owner: owner.parse().expect("owner id"),
        credential_id: cid.parse().expect("credential id"),
        request: Request::new(method, path, query, body),
    }
}

/// The 24 h quote volume of the sandbox's illiquid PUMPUSDT.
pub const ILLIQUID_VOLUME: &str = "12000";

pub fn amt(s: &str) -> Amount {
    Amount::parse(s).expect("amount")
}

pub struct World {
    pub dir: tempfile::TempDir,
    pub store: Store,
    pub custody: Arc<dyn Custody>,
    pub audit: AuditLog,
    pub sandbox: Sandbox,
    pub keys: HashMap<String, PublicJwk>,
}

const ALL: Permissions = Permissions { read: true, trade: true, withdraw: true };

impl World {
    pub async fn new(url: &str) -> World {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o700)).expect("chmod");
        let master = MasterKey::generate_key_file(&dir.path().join("master.key")).expect("master key");
        let custody: Arc<dyn Custody> =
            Arc::new(LocalCustody::init(&dir.path().join("keyring"), master).expect("keyring"));
        let store = Store::connect(url).await.expect("store");
        sealgate_server::serve::sync_recipient_keys(custody.as_ref(), &store).await.expect("keys");
        let mut keys = HashMap::new();
        for k in custody.keys().await.expect("keys") {
            keys.insert(k.role.clone(), k.public.clone());
        }
        let audit = AuditLog::start(
            store.clone(),
            Some(CheckpointPolicy { custody: custody.clone(), every_records: 4, every: Duration::from_secs(60) }),
        );
        // The exchange keys may do everything, withdrawals included: only the signer stands
        // between a consumer role and a withdrawal.
        let specs = vec![
            KeySpec {
                venue: Venue::Binance,
                api_key: BINANCE_KEY.into(),
                secret: BINANCE_SECRET.into(),
                permissions: ALL,
                allowed_ips: vec![],
                passphrase: None,
                balances: vec![("BTC".into(), amt("1.5")), ("USDT".into(), amt("25000"))],
            },
            KeySpec {
                venue: Venue::Kraken,
                api_key: KRAKEN_KEY.into(),
                secret: KRAKEN_SECRET.into(),
                permissions: ALL,
                allowed_ips: vec![],
                passphrase: None,
                balances: vec![("XXBT".into(), amt("2")), ("ZUSD".into(), amt("100000"))],
            },
            KeySpec {
                venue: Venue::Okx,
                api_key: OKX_KEY.into(),
                secret: OKX_SECRET.into(),
                permissions: ALL,
                allowed_ips: vec![],
                passphrase: Some(OKX_PASSPHRASE.into()),
                balances: vec![("BTC".into(), amt("1")), ("USDT".into(), amt("25000"))],
            },
            KeySpec {
                venue: Venue::Bitfinex,
                api_key: BITFINEX_KEY.into(),
                secret: BITFINEX_SECRET.into(),
                permissions: ALL,
                allowed_ips: vec![],
                passphrase: None,
                balances: vec![("BTC".into(), amt("1")), ("UST".into(), amt("25000"))],
            },
            KeySpec {
                venue: Venue::Gemini,
                api_key: GEMINI_KEY.into(),
                secret: GEMINI_SECRET.into(),
                permissions: ALL,
                allowed_ips: vec![],
                passphrase: None,
                balances: vec![("BTC".into(), amt("1")), ("USD".into(), amt("25000"))],
            },
        ];
        let markets = vec![
            Market { symbol: "BTCUSDT".into(), base: "BTC".into(), quote: "USDT".into(), price: amt("50000") },
            Market { symbol: "XBTUSD".into(), base: "XXBT".into(), quote: "ZUSD".into(), price: amt("40000") },
            Market { symbol: "BTC-USDT".into(), base: "BTC".into(), quote: "USDT".into(), price: amt("50000") },
            // For the anomaly tests: a second liquid pair, and an illiquid one (its 24 h volume set below).
            Market { symbol: "ETHUSDT".into(), base: "ETH".into(), quote: "USDT".into(), price: amt("3000") },
            Market { symbol: "PUMPUSDT".into(), base: "PUMP".into(), quote: "USDT".into(), price: amt("0.05") },
            Market { symbol: "tBTCUST".into(), base: "BTC".into(), quote: "UST".into(), price: amt("50000") },
            Market { symbol: "btcusd".into(), base: "BTC".into(), quote: "USD".into(), price: amt("50000") },
        ];
        let sandbox = Sandbox::start("127.0.0.1:0".parse().expect("addr"), specs, markets).await.expect("sandbox");
        assert!(sandbox.set_quote_volume("PUMPUSDT", amt(ILLIQUID_VOLUME)));
        World { dir, store, custody, audit, sandbox, keys }
    }

    pub fn signer_config(&self) -> SignerConfig {
        let base = format!("http://{}", self.sandbox.addr());
        SignerConfig {
            exchanges: HashMap::from([
                ("binance".into(), base.clone()),
                ("kraken".into(), base.clone()),
                ("bybit".into(), base.clone()),
                ("bitget".into(), base.clone()),
                ("bitfinex".into(), base.clone()),
                ("gemini".into(), base.clone()),
                ("okx".into(), base),
            ]),
            ..SignerConfig::default()
        }
    }

    pub fn signer(&self, cfg: SignerConfig) -> Arc<Signer> {
        Arc::new(
            Signer::new(
                self.store.clone(),
                self.custody.clone(),
                self.audit.clone(),
                Arc::new(Metrics::default()),
                cfg,
            )
            .expect("signer"),
        )
    }

    pub fn seal(&self, owner: &str, cid: &str, exch: &str, role: &str, scope: &str, cred_json: &str) -> String {
        let req = SealRequest {
            sub: owner.into(),
            cid: cid.into(),
            exch: exch.into(),
            aud: role.into(),
            scope: Scope::parse_list(scope).expect("scope"),
            iat: sealgate_server::now_ms() / 1000,
            own: None,
        };
        seal_credential(cred_json.as_bytes(), &self.keys[role], &req).expect("seal").0
    }

    /// Creates `owner` (if new) and a credential with an envelope per (role, scope).
    pub async fn credential(&self, owner: &str, cid: &str, exch: &str, cred_json: &str, roles: &[(&str, &str)]) {
        if self.store.user(owner).await.expect("user").is_none() {
            self.store.create_user(owner, None).await.expect("create user");
        }
        let jwes: Vec<(String, String, String)> = roles
            .iter()
            .map(|(role, scope)| {
                (
                    (*role).to_owned(),
                    self.keys[*role].kid().expect("kid").to_owned(),
                    self.seal(owner, cid, exch, role, scope, cred_json),
                )
            })
            .collect();
        let envs: Vec<NewEnvelope<'_>> = jwes.iter().map(|(role, kid, jwe)| NewEnvelope { role, kid, jwe }).collect();
        let scope = roles.iter().map(|(_, s)| *s).collect::<Vec<_>>().join(",");
        let hint = "0001";
        self.store
            .create_credential(
                &NewCredential { id: cid, owner, exchange: exch, label: "test", hint, scope: &scope },
                &envs,
            )
            .await
            .expect("create credential");
    }
}

pub fn binance_json() -> String {
    serde_json::json!({"api_key": BINANCE_KEY, "api_secret": BINANCE_SECRET}).to_string()
}

pub fn okx_json() -> String {
    serde_json::json!({"api_key": OKX_KEY, "api_secret": OKX_SECRET, "passphrase": OKX_PASSPHRASE}).to_string()
}

pub fn bitfinex_json() -> String {
    serde_json::json!({"api_key": BITFINEX_KEY, "api_secret": BITFINEX_SECRET}).to_string()
}

pub fn gemini_json() -> String {
    serde_json::json!({"api_key": GEMINI_KEY, "api_secret": GEMINI_SECRET}).to_string()
}

pub fn kraken_json() -> String {
    serde_json::json!({"api_key": KRAKEN_KEY, "api_secret": KRAKEN_SECRET}).to_string()
}

// --- the api over HTTP, beside the signer ---------------------------------------------------

pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
    pub auth: Arc<Auth>,
    /// The origin a browser at this api has (`http://localhost:PORT`), for passkeys.
    pub origin: String,
}

/// The api on the world's store and audit writer. With `signer`, it is in the signer's
/// process (a revoke tells it at once); without, it is another process.
pub async fn api(world: &World, signer: Option<Arc<Signer>>) -> Api {
    let held = signer.clone().map(|s| s as Arc<dyn sealgate_server::held_keys::HeldKeys>);
    api_with(world, signer, held).await
}

/// The api in another process than the signer, reaching it for custody keys through `held`.
pub async fn api_reaching(world: &World, held: Arc<dyn sealgate_server::held_keys::HeldKeys>) -> Api {
    api_with(world, None, Some(held)).await
}

async fn api_with(
    world: &World,
    signer: Option<Arc<Signer>>,
    held_keys: Option<Arc<dyn sealgate_server::held_keys::HeldKeys>>,
) -> Api {
    let auth = Arc::new(
        Auth::new(world.store.clone(), AuthConfig { local: Some(LocalConfig::default()), oidc: None }).expect("auth"),
    );
    let on_change: Option<ChangeHook> = signer.map(|s| {
        Arc::new(move |credential: Option<(&str, &str)>| match credential {
            Some((owner, cid)) => s.invalidate(owner, cid),
            None => s.invalidate_all(),
        }) as ChangeHook
    });
    let state = ApiState {
        store: world.store.clone(),
        audit: world.audit.clone(),
        trader: None,
        recipients: Arc::new(tokio::sync::RwLock::new(RecipientSet { jws: "x.y.z".into(), pin: "pin".into() })),
        auth: auth.clone(),
        on_change,
        notify: None,
        passkeys: None,
        held_keys,
        prices: Some(Arc::new(
            sealgate_server::prices::PriceFeed::new(world.signer_config().exchanges).expect("price feed"),
        )),
        valuations: Default::default(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let base = format!("http://{addr}");
    // Passkeys at localhost (any port), as a loopback server without --public-url has them.
    let state =
        ApiState { passkeys: sealgate_server::passkey_api::Passkeys::for_listener(addr, false).map(Arc::new), ..state };
    let origin = format!("http://localhost:{}", addr.port());
    tokio::spawn(async move { axum::serve(listener, api::router(state)).await });
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    Api { base, http, auth, origin }
}

impl Api {
    /// Registers `pk` as one of the session's passkeys (the first needs no step-up).
    pub async fn register_passkey(
        &self,
        who: &Session,
        pk: &sealgate_testkit::webauthn::SoftPasskey,
        name: &str,
    ) -> Value {
        let (status, start) =
            self.call(who, "POST", "/v1/passkeys/register/start", Some(serde_json::json!({"name": name}))).await;
        assert_eq!(status, 200, "{start}");
        let body = serde_json::json!({"ceremony": start["ceremony"], "credential": pk.register(&start["creation"], &self.origin)});
        let (status, r) = self.call(who, "POST", "/v1/passkeys/register/finish", Some(body)).await;
        assert_eq!(status, 201, "{r}");
        r
    }

    pub async fn login(&self, user: &str) -> Session {
        crate::session::login(&self.http, &self.base, &self.auth, user).await
    }

    pub async fn call(&self, who: &Session, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut rb = self
            .http
            .request(reqwest::Method::from_bytes(method.as_bytes()).expect("method"), format!("{}{path}", self.base))
            .header("cookie", who.cookies())
            .header("x-csrf-token", &who.csrf);
        if let Some(b) = body {
            rb = rb.header("content-type", "application/json").body(b.to_string());
        }
        let r = rb.send().await.expect("send");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}
