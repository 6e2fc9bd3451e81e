//! `sealgate serve`: the roles wired together.
//!
//! With no options it is the embedded default — every role in one process,
//! SQLite and the local keyring under `./sealgate-data`, created on first
//! start. `--roles` runs a subset for a scaled deployment (PostgreSQL, one
//! signer fleet holding custody access, importer and trader fleets reaching
//! it over HTTP with their service keys).

use std::collections::HashMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use sealgate_custody::{Custody, KeyStatus};
use sealgate_policy::Role;
use sealgate_store::Store;

use crate::audit::{AuditLog, CheckpointPolicy};
use crate::client::SignerClient;
use crate::metrics::Metrics;
use crate::service_auth::{ServiceKey, ServiceVerifier};
use crate::signer::{HttpSignerClient, LocalSignerClient, Signer, SignerConfig};

/// Which roles a process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServeRole {
    /// User-facing API.
    Api,
    /// The signer.
    Signer,
    /// Import workers.
    Importer,
    /// The trader (serves the api's order endpoints; runs inside the api process).
    Trader,
    /// The notifier: delivers the notification outbox (e-mail, webhooks).
    Notifier,
}

impl ServeRole {
    /// Its name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Signer => "signer",
            Self::Importer => "importer",
            Self::Trader => "trader",
            Self::Notifier => "notifier",
        }
    }

    /// Parse a role name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "api" => Self::Api,
            "signer" => Self::Signer,
            "importer" => Self::Importer,
            "trader" => Self::Trader,
            "notifier" => Self::Notifier,
            _ => return None,
        })
    }
}

/// Options of `sealgate serve`.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Where to listen: the public listener (the api, the browser client, `/healthz`,
    /// `/readyz`).
    pub listen: SocketAddr,
    /// The service listener (the signer's `/v1/sign` and `/v1/forward`, `/metrics`,
    /// `/healthz`, `/readyz` and its own `/openapi.json`); never the public one.
    /// `None`: [`default_service_listen`] of `listen`.
    pub service_listen: Option<SocketAddr>,
    /// Data directory (created 0700).
    pub data_dir: PathBuf,
    /// Start the exchange sandbox in-process and point the exchanges at it.
    pub sandbox: bool,
    /// Sandbox keys file (default `<data>/sandbox-keys.json`, created with demo keys).
    pub sandbox_keys: Option<PathBuf>,
    /// A sandbox running elsewhere (`sealgate sandbox`): the sandbox's exchanges are pointed at it.
    pub sandbox_url: Option<String>,
    /// Roles to run (all by default).
    pub roles: Vec<ServeRole>,
    /// Database URL (default SQLite in the data directory).
    pub database: Option<String>,
    /// Custody configuration (default: the local keyring in the data directory).
    pub custody_config: Option<PathBuf>,
    /// Where the signers are (base URLs of their service listeners), when this process
    /// does not run one: several give health-checked failover ([`crate::signer_pool`]).
    pub signer_urls: Vec<String>,
    /// The CA bundle (PEM) `https` signer URLs are verified against; `None`: the system's roots.
    pub signer_ca: Option<PathBuf>,
    /// TLS on the public listener (`None`: plain HTTP).
    pub tls: Option<crate::tls::TlsFiles>,
    /// TLS on the service listener (the signer's routes, `/metrics`, health).
    pub service_tls: Option<crate::tls::TlsFiles>,
    /// How often the TLS files are checked for a change ([`crate::tls::POLL`]).
    pub tls_poll: Duration,
    /// Directory of service keys (`<role>.key` / `<role>.pub`); default `<data>/service`.
    pub service_keys: Option<PathBuf>,
    /// Exchange base URLs (`binance=https://api.binance.com`).
    pub exchange_urls: Vec<(String, String)>,
    /// Roles that may have signatures returned by `/v1/sign`.
    pub allow_sign: Vec<Role>,
    /// How long after its first approval a new withdrawal destination may receive funds
    /// (the signer's `new_destination_wait`).
    pub new_destination_wait: std::time::Duration,
    /// The signer's audit journal size in bytes (`<data>/audit.journal`): the uses it may
    /// sign while the store does not take their records, before it refuses.
    pub audit_journal_size: u64,
    /// Import workers in this process.
    pub importer_workers: usize,
    /// How long an import job stays claimed without a checkpoint (each page
    /// extends it): a job whose worker died is taken over after this.
    pub import_lease: Duration,
    /// How often each credential sealed to the importer is refreshed (balances and the
    /// trades newer than the stored ones), spread over the period; `None`: never on a schedule.
    pub import_every: Option<Duration>,
    /// OIDC bearer authentication (issuer, audience); `None`: the local login.
    pub oidc: Option<(String, String)>,
    /// The URL users reach the api at (behind a TLS-terminating proxy, say). When it is
    /// `https`, the session and CSRF cookies are `Secure`; the login link names it.
    pub public_url: Option<String>,
    /// A signed recipient key set to publish, for an api without custody access
    /// (`sealgate keys export-recipients`), with its root pin.
    pub recipients_file: Option<PathBuf>,
    /// The notifier's settings (role `notifier`).
    pub notify: NotifyOptions,
}

/// Options of the notifier role (and the api's webhook endpoints).
#[derive(Debug, Clone)]
pub struct NotifyOptions {
    /// `smtp://HOST:PORT` or `smtps://HOST:PORT`; `None`: no e-mail (webhooks only).
    pub smtp_url: Option<String>,
    /// STARTTLS on `smtp://`.
    pub smtp_starttls: crate::notifier::StartTls,
    /// The `From:` address.
    pub smtp_from: String,
    /// SMTP user (line 1) and password (line 2), a 0600 file.
    pub smtp_credentials_file: Option<PathBuf>,
    /// Delivery workers in this process.
    pub workers: usize,
    /// First retry delay (doubles per attempt, capped at `backoff_cap`).
    pub backoff_base: Duration,
    /// Largest retry delay.
    pub backoff_cap: Duration,
    /// The notify key file (default `<data>/notify.key`; made by a process running both the
    /// api and the notifier, copied to the others).
    pub key_file: Option<PathBuf>,
    /// Let users' webhooks reach loopback and private addresses (development only).
    pub allow_private_webhooks: bool,
}

impl Default for NotifyOptions {
    fn default() -> Self {
        Self {
            smtp_url: None,
            smtp_starttls: crate::notifier::StartTls::Required,
            smtp_from: "sealgate@localhost".into(),
            smtp_credentials_file: None,
            workers: 4,
            backoff_base: Duration::from_secs(5),
            backoff_cap: Duration::from_secs(15 * 60),
            key_file: None,
            allow_private_webhooks: false,
        }
    }
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8787)),
            service_listen: None,
            data_dir: PathBuf::from("sealgate-data"),
            sandbox: false,
            sandbox_keys: None,
            sandbox_url: None,
            roles: vec![ServeRole::Api, ServeRole::Signer, ServeRole::Importer, ServeRole::Trader, ServeRole::Notifier],
            database: None,
            custody_config: None,
            signer_urls: Vec::new(),
            signer_ca: None,
            tls: None,
            service_tls: None,
            tls_poll: crate::tls::POLL,
            service_keys: None,
            exchange_urls: Vec::new(),
            allow_sign: Vec::new(),
            new_destination_wait: SignerConfig::default().new_destination_wait,
            audit_journal_size: crate::audit::JOURNAL_SIZE,
            importer_workers: 1,
            import_lease: Duration::from_secs(60),
            import_every: Some(crate::importer::DEFAULT_REFRESH_EVERY),
            oidc: None,
            public_url: None,
            recipients_file: None,
            notify: NotifyOptions::default(),
        }
    }
}

/// Why serving failed to start.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ServeError(pub String);

fn err(what: &str) -> impl Fn(&dyn std::fmt::Display) -> ServeError + '_ {
    move |e| ServeError(format!("{what}: {e}"))
}

/// The exchanges' production addresses.
pub fn default_exchange_urls() -> HashMap<String, String> {
    [
        ("binance", "https://api.binance.com"),
        ("coinbase", "https://api.coinbase.com"),
        ("coinbase-exchange", "https://api.exchange.coinbase.com"),
        ("kraken", "https://api.kraken.com"),
        ("bitfinex", "https://api.bitfinex.com"),
        ("okx", "https://www.okx.com"),
        ("bybit", "https://api.bybit.com"),
        ("kucoin", "https://api.kucoin.com"),
        ("gemini", "https://api.gemini.com"),
        ("bitstamp", "https://www.bitstamp.net"),
        ("gate", "https://api.gateio.ws"),
        ("mexc", "https://api.mexc.com"),
        ("bitget", "https://api.bitget.com"),
        ("poloniex", "https://api.poloniex.com"),
        ("deribit", "https://www.deribit.com"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// The service listener when none is given: loopback, on the port after the public
/// listener's (`127.0.0.1:8788` beside the default `127.0.0.1:8787`), or an ephemeral
/// port when the public one is ephemeral. Never a non-loopback address: services that
/// reach the signer from other hosts need an explicit `--service-listen`.
pub fn default_service_listen(listen: SocketAddr) -> SocketAddr {
    let port = match listen.port() {
        0 | u16::MAX => 0,
        p => p + 1,
    };
    let ip: std::net::IpAddr = if listen.is_ipv6() && listen.ip().is_loopback() {
        std::net::Ipv6Addr::LOCALHOST.into()
    } else {
        std::net::Ipv4Addr::LOCALHOST.into()
    };
    SocketAddr::new(ip, port)
}

/// Checks a `--public-url`: an absolute `http` or `https` URL with a host and nothing
/// after the path; returns it without a trailing `/`, and whether it is `https`.
pub fn parse_public_url(text: &str) -> Result<(String, bool), ServeError> {
    let bad = |why: &str| ServeError(format!("--public-url {text:?}: {why}"));
    let url = reqwest::Url::parse(text).map_err(|e| bad(&e.to_string()))?;
    let https = match url.scheme() {
        "https" => true,
        "http" => false,
        _ => return Err(bad("must be an http:// or https:// URL")),
    };
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() || url.query().is_some() || url.fragment().is_some() {
        return Err(bad("must not carry credentials, a query or a fragment"));
    }
    Ok((url.as_str().trim_end_matches('/').to_owned(), https))
}

/// An exchange's base URL: absolute http(s) with a host, no credentials, query or fragment;
/// returned without a trailing `/` (request paths are appended to it).
pub fn exchange_base_url(text: &str) -> Result<String, ServeError> {
    let url = reqwest::Url::parse(text).map_err(|e| ServeError(format!("{text:?} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(ServeError(format!("{text:?} must be an http:// or https:// URL with a host")));
    }
    if !url.username().is_empty() || url.password().is_some() || url.query().is_some() || url.fragment().is_some() {
        return Err(ServeError(format!("{text:?} must not carry credentials, a query or a fragment")));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// Refuses a private file others can read or write, naming the fix; and, like ssh's
/// StrictModes, one owned by another user or in a directory another user owns or the
/// group or others can write ([`sealgate_hardening::check_strict_modes`]).
pub fn check_private_file(path: &Path) -> Result<(), String> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!("mode {mode:o} lets others read it; run: chmod 600 {}", path.display()));
    }
    sealgate_hardening::check_strict_modes(path, true)
}

/// Writes a new private file (0600; never overwrites), durably.
pub fn write_private_file(path: &Path, bytes: &[u8]) -> Result<(), String> {
    sealgate_hardening::private_file::write_new(path, bytes).map_err(|e| e.to_string())
}

/// The data directory (keyring, database, service keys) is this user's, 0700.
fn private_dir(dir: &Path) -> Result<(), ServeError> {
    sealgate_hardening::private_file::private_dir(dir).map_err(ServeError)
}

/// The consumer roles that reach a signer with a service key.
const SERVICE_ROLES: [&str; 2] = ["importer", "trader"];

/// How an operator re-exports a recipient key set.
const REEXPORT: &str = "sealgate keys export-recipients --custody CUSTODY_TOML --ttl SECONDS \
                        (and write {\"jws\", \"pin\"} as docs/scaled-deployment.md shows)";

/// Whether these are every role, as the embedded default runs them: the one setting in
/// which a start creates keys (custody, service keys) on its own.
fn embedded_default(roles: &[ServeRole]) -> bool {
    [ServeRole::Api, ServeRole::Signer, ServeRole::Importer, ServeRole::Trader].iter().all(|r| roles.contains(r))
}

/// The service-keys directory of the options.
fn service_dir_of(opts: &ServeOptions) -> PathBuf {
    opts.service_keys.clone().unwrap_or_else(|| opts.data_dir.join("service"))
}

/// Creates the service key pairs of the consumer roles in `dir` (0700): `<role>.key`
/// (PKCS#8, 0600) and `<role>.pub` (base64url of the raw Ed25519 key) for importer and
/// trader, and the api's (custody keys only, [`crate::held_keys`]). Existing pairs are kept (a missing `.pub` is derived from its `.key`).
/// Returns, per role, whether its pair was created.
pub fn create_service_keys(dir: &Path) -> Result<Vec<(&'static str, bool)>, ServeError> {
    private_dir(dir)?;
    let mut made = Vec::new();
    for role in SERVICE_ROLES.into_iter().chain([crate::held_keys::API_SERVICE]) {
        let existed = dir.join(format!("{role}.key")).exists();
        let key = ServiceKey::load_or_create(dir, role).map_err(|e| err("service key")(&e))?;
        let pub_path = dir.join(format!("{role}.pub"));
        if !pub_path.exists() {
            std::fs::write(&pub_path, format!("{}\n", B64.encode(key.public_key())))
                .map_err(|e| ServeError(format!("service key {}: {e}", pub_path.display())))?;
        }
        made.push((role, !existed));
    }
    Ok(made)
}

/// Checks the options before anything is created: no data directory, database, key or
/// custody exists because of a start that then fails on its options. Returns the
/// `--recipients-file`'s set, verified under its own pin and not expired.
pub fn check_options(opts: &ServeOptions) -> Result<Option<crate::api::RecipientSet>, ServeError> {
    if let Some(u) = &opts.public_url {
        parse_public_url(u)?;
    }
    let has = |r: ServeRole| opts.roles.contains(&r);
    let names = || opts.roles.iter().map(|r| r.name()).collect::<Vec<_>>().join(",");
    if opts.roles.is_empty() {
        return Err(ServeError("--roles: name at least one of api, signer, importer, trader, notifier".into()));
    }
    let embedded = embedded_default(&opts.roles);
    if !embedded && opts.database.is_none() {
        return Err(ServeError(format!(
            "--roles {} needs --database: the processes of a split deployment share one database \
             (e.g. --database postgres://sealgate@127.0.0.1/sealgate)",
            names()
        )));
    }
    if has(ServeRole::Signer) && opts.database.is_some() && opts.custody_config.is_none() {
        return Err(ServeError(format!(
            "a signer with --database needs --custody-config: every signer on a database shares one custody, \
             and without it this process would create its own local keyring in {}; write the custody TOML \
             (see README, Usage) and run: sealgate keys init --custody FILE",
            opts.data_dir.display()
        )));
    }
    let service_dir = service_dir_of(opts);
    if !has(ServeRole::Signer) {
        for role in [ServeRole::Importer, ServeRole::Trader].into_iter().filter(|r| has(*r)) {
            if opts.signer_urls.is_empty() {
                return Err(ServeError(format!(
                    "role {} needs --signer-url (this process runs no signer)",
                    role.name()
                )));
            }
            let key = service_dir.join(format!("{}.key", role.name()));
            if !key.exists() {
                return Err(ServeError(format!(
                    "role {} needs its service key {}, which does not exist: create the pairs once with \
                     `sealgate keys service-keys --dir DIR` and copy {}.key (mode 0600) here \
                     (the signers trust DIR's .pub files)",
                    role.name(),
                    key.display(),
                    role.name()
                )));
            }
        }
        if has(ServeRole::Api) && opts.custody_config.is_none() && opts.recipients_file.is_none() {
            return Err(ServeError(
                "the api needs custody access (--custody-config) or --recipients-file to publish the key set".into(),
            ));
        }
    } else if !embedded {
        for role in SERVICE_ROLES {
            let public = service_dir.join(format!("{role}.pub"));
            if !public.exists() {
                return Err(ServeError(format!(
                    "the signer trusts the {role} service key {}, which does not exist: create the service \
                     key pairs with `sealgate keys service-keys --dir {}`",
                    public.display(),
                    service_dir.display()
                )));
            }
        }
    }
    opts.recipients_file.as_deref().map(load_recipients_file).transpose()
}

/// Reads a `--recipients-file` (`{"jws", "pin"}`) and checks it: its JWS verifies under
/// its pin and has not expired.
fn load_recipients_file(path: &Path) -> Result<crate::api::RecipientSet, ServeError> {
    let bad = |why: String| ServeError(format!("{}: {why}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(format!("not JSON: {e}")))?;
    let (Some(jws), Some(pin)) = (v.get("jws").and_then(|x| x.as_str()), v.get("pin").and_then(|x| x.as_str())) else {
        return Err(bad("needs \"jws\" and \"pin\"".into()));
    };
    sealgate_custody::keyset::verify(jws, pin, crate::now_ms() / 1000)
        .map_err(|e| bad(format!("{e}; re-export it: {REEXPORT}")))?;
    Ok(crate::api::RecipientSet { jws: jws.to_owned(), pin: pin.to_owned() })
}

/// The pin of the custody root the database trusts (set by the first signer), if any.
async fn database_root_pin(store: &Store) -> Result<Option<String>, ServeError> {
    let Some(text) = store.setting(sealgate_store::AUDIT_ROOT_JWK).await.map_err(|e| err("store")(&e))? else {
        return Ok(None);
    };
    let jwk: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| ServeError(format!("store: the trusted root key is not JSON: {e}")))?;
    sealgate_custody::keyset::thumbprint(&jwk).map(Some).map_err(|e| err("store: the trusted root key")(&e))
}

/// Opens (creating on first start) the custody named by the options.
async fn open_custody(opts: &ServeOptions) -> Result<Arc<dyn Custody>, ServeError> {
    let (config, first) = match &opts.custody_config {
        Some(path) => (sealgate_custody::config::CustodyConfig::load(path).map_err(|e| err("custody")(&e))?, false),
        None => {
            let path = opts.data_dir.join("custody.toml");
            let first = !path.exists();
            if first {
                let text = format!(
                    "# Written by `sealgate serve` on first start: the local keyring, its master key beside it.\n\
                     backend = \"local\"\n\n[local]\nkeyring = {:?}\nkey_file = {:?}\n",
                    opts.data_dir.join("keyring").display().to_string(),
                    opts.data_dir.join("master.key").display().to_string(),
                );
                write_private_file(&path, text.as_bytes()).map_err(|e| err("custody.toml")(&e))?;
                println!("sealgate: created {}", path.display());
            }
            (sealgate_custody::config::CustodyConfig::load(&path).map_err(|e| err("custody")(&e))?, first)
        }
    };
    let custody = if first || !opts.data_dir.join("keyring").exists() && opts.custody_config.is_none() {
        config.init().await
    } else {
        config.open().await
    }
    .map_err(|e| err("custody")(&e))?;
    Ok(Arc::from(custody))
}

/// Every consumer role has an active key; the store lists the same versions.
pub async fn sync_recipient_keys(custody: &dyn Custody, store: &Store) -> Result<(), ServeError> {
    let mut keys = custody.keys().await.map_err(|e| err("custody keys")(&e))?;
    for role in ["importer", "trader"] {
        if !keys.iter().any(|k| k.role == role && k.status == KeyStatus::Active) {
            // A kind this custody can hold (RSA-OAEP-256 on Transit, P-256 elsewhere).
            let k =
                custody.rotate(role, custody.default_role_key_type()).await.map_err(|e| err("custody rotate")(&e))?;
            println!("sealgate: created recipient key {} for role {role}", k.kid);
            keys = custody.keys().await.map_err(|e| err("custody keys")(&e))?;
        }
    }
    let stored = store.recipient_keys(None).await.map_err(|e| err("store")(&e))?;
    for k in &keys {
        let known = stored.iter().find(|s| s.kid == k.kid);
        if known.is_none() && k.status == KeyStatus::Active {
            store
                .add_recipient_key(&k.kid, &k.role, &k.public.to_json().to_string())
                .await
                .map_err(|e| err("store")(&e))?;
        }
        // Only a retired version is retired in the store: a decrypt-only one (after `keys
        // rotate`) still opens the envelopes sealed to it until `keys rewrap` moves them, and
        // a disabled one is refused through `disabled_keys`.
        if known.is_some_and(|s| s.status == sealgate_store::KeyStatus::Active) && k.status == KeyStatus::Retired {
            match store.retire_recipient_key(&k.kid).await {
                Ok(()) => {}
                Err(sealgate_store::StoreError::InUse { .. }) => println!(
                    "sealgate: warning: key {} is retired in the custody but envelopes are still sealed to it; \
                     they cannot open until it is set back (keys set-status {} decrypt-only) and re-wrapped (keys rewrap)",
                    k.kid, k.kid
                ),
                Err(e) => return Err(err("store")(&e)),
            }
        }
    }
    Ok(())
}

/// A key of the sandbox, as the keys file holds it (and as a user pastes it).
#[derive(Debug, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxKey {
    /// `binance`, `kraken`, `okx` or `coinbase`.
    pub exchange: String,
    /// The API key.
    pub api_key: String,
    /// HMAC secret (Binance text, Kraken base64, OKX text); for Coinbase the
    /// base64 SEC1 public key the sandbox verifies with.
    pub secret: String,
    /// OKX passphrase.
    #[serde(default)]
    pub passphrase: Option<String>,
    /// `read`, `trade`, `withdraw`.
    pub permissions: Vec<String>,
    /// Starting balances: asset → amount.
    pub balances: std::collections::BTreeMap<String, String>,
}

fn random_text(n: usize) -> Result<String, ServeError> {
    let mut b = vec![0u8; n];
    aws_lc_rs::rand::fill(&mut b).map_err(|_| ServeError("random".into()))?;
    Ok(B64.encode(b))
}

fn demo_sandbox_keys() -> Result<Vec<SandboxKey>, ServeError> {
    let perms = vec!["read".to_owned(), "trade".to_owned(), "withdraw".to_owned()];
    let bal = |v: &[(&str, &str)]| v.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect();
    let kraken_secret = {
        let mut b = vec![0u8; 64];
        aws_lc_rs::rand::fill(&mut b).map_err(|_| ServeError("random".into()))?;
        base64::engine::general_purpose::STANDARD.encode(b)
    };
    Ok(vec![
        SandboxKey {
            exchange: "binance".into(),
            api_key: random_text(24)?,
            secret: random_text(32)?,
            passphrase: None,
            permissions: perms.clone(),
            balances: bal(&[("BTC", "1.5"), ("USDT", "25000")]),
        },
        SandboxKey {
            exchange: "kraken".into(),
            api_key: random_text(24)?,
            secret: kraken_secret,
            passphrase: None,
            permissions: perms.clone(),
            balances: bal(&[("XXBT", "0.75"), ("ZUSD", "10000")]),
        },
        SandboxKey {
            exchange: "okx".into(),
            api_key: random_text(24)?,
            secret: random_text(32)?,
            passphrase: Some(random_text(12)?),
            permissions: perms,
            balances: bal(&[("BTC", "2"), ("USDT", "5000")]),
        },
    ])
}

/// The markets every sandbox venue trades.
pub fn sandbox_markets() -> Vec<sealgate_sandbox::Market> {
    let m = |symbol: &str, base: &str, quote: &str, price: &str| sealgate_sandbox::Market {
        symbol: symbol.into(),
        base: base.into(),
        quote: quote.into(),
        price: sealgate_sandbox::Amount::parse(price).unwrap_or_else(unreachable_amount),
    };
    vec![
        m("BTCUSDT", "BTC", "USDT", "50000"),
        m("XBTUSD", "XXBT", "ZUSD", "40000"),
        m("BTC-USDT", "BTC", "USDT", "50000"),
        m("BTC-USD", "BTC", "USD", "50000"),
        // Tether in dollars (Coinbase's spelling), a little under par: what the portfolio
        // values USDT and the USDT-quoted prices with.
        m("USDT-USD", "USDT", "USD", "0.9998"),
        // Gemini's and Bitstamp's spelling of BTC/USD, and Deribit's inverse perpetual.
        m("btcusd", "BTC", "USD", "50000"),
        m("BTC-PERPETUAL", "BTC", "USD", "50000"),
        m(ILLIQUID_SANDBOX_MARKET.0, "PUMP", "USDT", "0.05"),
    ]
}

/// The sandbox's illiquid pair (Binance spelling) and its 24 h quote volume: what an
/// anomaly rehearsal (the 3Commas pump) trades. Every other market answers a liquid volume.
pub const ILLIQUID_SANDBOX_MARKET: (&str, &str) = ("PUMPUSDT", "12000");

fn unreachable_amount() -> sealgate_sandbox::Amount {
    // The literals above all parse; this keeps the code free of unwrap.
    sealgate_sandbox::Amount::parse("0").unwrap_or_default()
}

/// The exchanges the sandbox speaks: every exchange Sealgate signs for.
pub const SANDBOX_VENUES: [&str; 15] = [
    "binance",
    "kraken",
    "okx",
    "coinbase",
    "bybit",
    "bitget",
    "kucoin",
    "gate",
    "mexc",
    "bitfinex",
    "poloniex",
    "gemini",
    "bitstamp",
    "coinbase-exchange",
    "deribit",
];

/// Starts the exchange sandbox on `listen` with the keys of `keys_path`, writing demo keys
/// there (0600) first when the file does not exist: what `serve --sandbox` runs in-process
/// and `sealgate sandbox` runs alone for a whole fleet.
pub async fn start_sandbox(listen: SocketAddr, keys_path: &Path) -> Result<sealgate_sandbox::Sandbox, ServeError> {
    if !keys_path.exists() {
        let demo = demo_sandbox_keys()?;
        let text = serde_json::to_vec_pretty(&demo).map_err(|e| err("sandbox keys")(&e))?;
        write_private_file(keys_path, &text).map_err(|e| ServeError(format!("{}: {e}", keys_path.display())))?;
    }
    check_private_file(keys_path).map_err(|e| ServeError(format!("{}: {e}", keys_path.display())))?;
    let specs = load_sandbox_keys(keys_path)?;
    let sandbox = sealgate_sandbox::Sandbox::start(listen, specs, sandbox_markets())
        .await
        .map_err(|e| err(&format!("sandbox on {listen}"))(&e))?;
    let (illiquid, volume) = ILLIQUID_SANDBOX_MARKET;
    sandbox.set_quote_volume(illiquid, sealgate_sandbox::Amount::parse(volume).unwrap_or_else(unreachable_amount));
    Ok(sandbox)
}

/// `id=url` for every exchange not at its production address, then how many are.
fn exchange_url_summary(exchanges: &HashMap<String, String>) -> String {
    let production = default_exchange_urls();
    let mut changed: Vec<String> = exchanges
        .iter()
        .filter(|(id, url)| production.get(*id) != Some(*url))
        .map(|(id, url)| format!("{id}={url}"))
        .collect();
    changed.sort();
    let rest = exchanges.len() - changed.len();
    match (changed.is_empty(), rest) {
        (true, _) => "every exchange at its production address".to_owned(),
        (false, 0) => changed.join(", "),
        (false, n) => format!("{}; {n} other(s) at their production addresses", changed.join(", ")),
    }
}

/// Reads a sandbox keys file into the sandbox's key specs.
pub fn load_sandbox_keys(path: &Path) -> Result<Vec<sealgate_sandbox::KeySpec>, ServeError> {
    let text = std::fs::read(path).map_err(|e| ServeError(format!("{}: {e}", path.display())))?;
    let keys: Vec<SandboxKey> =
        serde_json::from_slice(&text).map_err(|e| ServeError(format!("{}: not a keys file: {e}", path.display())))?;
    keys.into_iter()
        .map(|k| {
            let venue = match k.exchange.as_str() {
                "binance" => sealgate_sandbox::Venue::Binance,
                "kraken" => sealgate_sandbox::Venue::Kraken,
                "okx" => sealgate_sandbox::Venue::Okx,
                "coinbase" => sealgate_sandbox::Venue::Coinbase,
                "bybit" => sealgate_sandbox::Venue::Bybit,
                "bitget" => sealgate_sandbox::Venue::Bitget,
                "kucoin" => sealgate_sandbox::Venue::Kucoin,
                "gate" => sealgate_sandbox::Venue::Gate,
                "mexc" => sealgate_sandbox::Venue::Mexc,
                "bitfinex" => sealgate_sandbox::Venue::Bitfinex,
                "poloniex" => sealgate_sandbox::Venue::Poloniex,
                "gemini" => sealgate_sandbox::Venue::Gemini,
                "bitstamp" => sealgate_sandbox::Venue::Bitstamp,
                "coinbase-exchange" => sealgate_sandbox::Venue::CoinbaseExchange,
                "deribit" => sealgate_sandbox::Venue::Deribit,
                other => return Err(ServeError(format!("sandbox keys: exchange {other:?} is not in the sandbox"))),
            };
            let has = |p: &str| k.permissions.iter().any(|x| x == p);
            let balances = k
                .balances
                .iter()
                .map(|(a, v)| {
                    sealgate_sandbox::Amount::parse(v)
                        .map(|amt| (a.clone(), amt))
                        .ok_or_else(|| ServeError(format!("sandbox keys: balance {a} {v:?} is not an amount")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(sealgate_sandbox::KeySpec {
                venue,
                api_key: k.api_key,
                secret: k.secret,
                permissions: sealgate_sandbox::Permissions {
                    read: has("read"),
                    trade: has("trade"),
                    withdraw: has("withdraw"),
                },
                allowed_ips: Vec::new(),
                passphrase: k.passphrase,
                balances,
            })
        })
        .collect()
}

/// What the health endpoints look at.
#[derive(Clone)]
struct Health {
    store: Store,
    metrics: Arc<Metrics>,
    hardening: crate::hardening::Hardening,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "ops", security(),
    responses((status = 200, description = "alive", content_type = "text/plain", body = String)))]
async fn healthz() -> impl IntoResponse {
    (StatusCode::OK, "ok\n")
}

/// Readiness: the store answers.
#[utoipa::path(get, path = "/readyz", tag = "ops", security(),
    responses((status = 200, description = "ready", content_type = "text/plain", body = String),
              (status = 503, description = "the store is unavailable", body = crate::json::ErrorBody)))]
async fn readyz(State(h): State<Health>) -> Response {
    match h.store.audit_tail().await {
        Ok(_) => (StatusCode::OK, "ready\n").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            crate::json::error_response(StatusCode::SERVICE_UNAVAILABLE, "store unavailable")
        }
    }
}

/// Prometheus metrics (text exposition format 0.0.4).
#[utoipa::path(get, path = "/metrics", tag = "ops", security(),
    responses((status = 200, description = "the metrics", content_type = "text/plain", body = String)))]
async fn metrics_text(State(h): State<Health>) -> impl IntoResponse {
    let mut text = h.metrics.render();
    let b = |v: bool| u8::from(v);
    text.push_str(&format!(
        "# HELP sealgate_memory_locked Whether the process memory is locked.\n# TYPE sealgate_memory_locked gauge\nsealgate_memory_locked {}\n\
         # HELP sealgate_non_dumpable Whether the process is non-dumpable.\n# TYPE sealgate_non_dumpable gauge\nsealgate_non_dumpable {}\n\
         # HELP sealgate_csp_reports_total Content-Security-Policy violations the web client reported.\n# TYPE sealgate_csp_reports_total counter\nsealgate_csp_reports_total {}\n",
        b(h.hardening.memory_locked),
        b(h.hardening.non_dumpable),
        crate::web::csp_reports()
    ));
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}

/// The service listener's own document (the signer's routes, metrics, health).
#[utoipa::path(get, path = "/openapi.json", tag = "ops", security(),
    responses((status = 200, description = "OpenAPI 3.1: the service listener's routes", body = Object)))]
async fn service_openapi() -> Response {
    match crate::openapi::service_document().to_json() {
        Ok(text) => ([(axum::http::header::CONTENT_TYPE, "application/json")], text).into_response(),
        Err(_) => crate::json::error_response(StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
    }
}

/// The public listener's health routes.
fn ops_table() -> crate::api::Table<Health> {
    crate::api::Table::new().add::<__path_healthz, _, _>(healthz).add::<__path_readyz, _, _>(readyz)
}

/// The service listener's own routes: health, metrics and its document.
fn service_ops_table() -> crate::api::Table<Health> {
    ops_table().add::<__path_metrics_text, _, _>(metrics_text).add::<__path_service_openapi, _, _>(service_openapi)
}

/// The operations of the public listener's health routes, for [`crate::openapi`].
#[derive(utoipa::OpenApi)]
#[openapi(paths(healthz, readyz))]
pub(crate) struct OpsDoc;

/// The operations of the service listener's own routes, for [`crate::openapi`].
#[derive(utoipa::OpenApi)]
#[openapi(paths(healthz, readyz, metrics_text, service_openapi))]
pub(crate) struct ServiceOpsDoc;

/// Every `(method, path)` the public listener of a `sealgate serve` running every role
/// serves: the api's, the browser client's and the health routes.
pub fn routes() -> Vec<(&'static str, String)> {
    let mut all = crate::api::routes();
    all.extend(crate::web::route_list());
    all.extend(ops_table().routes);
    all
}

/// Every `(method, path)` the service listener of a process running the signer serves:
/// the signer's, the health and metrics routes and its `/openapi.json`.
pub fn service_routes() -> Vec<(&'static str, String)> {
    let mut all = crate::signer::routes();
    all.extend(service_ops_table().routes);
    all
}

/// Runs until `shutdown` resolves.
pub async fn run(
    mut opts: ServeOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    // The TLS pairs and the signer URLs are checked before anything is created.
    let public_tls = match &opts.tls {
        Some(f) => Some(
            crate::tls::ServerTls::start("public", f.clone(), opts.tls_poll)
                .map_err(|e| err("--tls-cert/--tls-key")(&e))?,
        ),
        None => None,
    };
    let service_tls = match &opts.service_tls {
        Some(f) => Some(
            crate::tls::ServerTls::start("service", f.clone(), opts.tls_poll)
                .map_err(|e| err("--service-tls-cert/--service-tls-key")(&e))?,
        ),
        None => None,
    };
    if public_tls.is_none() && service_tls.is_none() {
        // `systemctl reload` (SIGHUP) must never stop a process that has nothing to reload:
        // the default action of SIGHUP is to exit.
        if let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            tokio::spawn(async move {
                while hup.recv().await.is_some() {
                    tracing::info!("SIGHUP: no TLS files to reload");
                }
            });
        }
    }
    let signer_pool = if opts.signer_urls.is_empty() {
        if opts.signer_ca.is_some() {
            return Err(ServeError("--signer-ca needs --signer-url".into()));
        }
        None
    } else {
        let pool = crate::signer_pool::SignerPool::new(&opts.signer_urls, opts.signer_ca.as_deref())
            .map_err(|e| ServeError(e.to_string()))?;
        Some(Arc::new(pool))
    };
    // Every mistake in the options is reported before anything is created.
    let recipients_file = check_options(&opts)?;
    let has = |r: ServeRole| opts.roles.contains(&r);
    let hardening = if has(ServeRole::Signer) { crate::hardening::harden() } else { Default::default() };
    private_dir(&opts.data_dir)?;
    let data = std::fs::canonicalize(&opts.data_dir).map_err(|e| err("data directory")(&e))?;
    opts.data_dir = data.clone();
    let has = |r: ServeRole| opts.roles.contains(&r);
    println!("sealgate: data directory {}", data.display());

    let url = match &opts.database {
        Some(u) => u.clone(),
        None => format!("sqlite://{}?mode=rwc", default_database_file(&data).display()),
    };
    let store = Store::connect(&url).await.map_err(|e| err("database")(&e))?;
    println!("sealgate: database {}", redact_url(&url));
    let metrics = Arc::new(Metrics::default());

    let custody = if has(ServeRole::Signer) || opts.custody_config.is_some() || opts.database.is_none() {
        Some(open_custody(&opts).await?)
    } else {
        None
    };
    let trusted_pin = database_root_pin(&store).await?;
    if let (Some(set), Some(path)) = (&recipients_file, &opts.recipients_file) {
        // The set clients get must be signed by the root the signers' chain is checked under.
        match &trusted_pin {
            Some(db) if *db == set.pin => {}
            Some(db) => {
                return Err(ServeError(format!(
                    "{}: the recipient key set is pinned to root {}, but the database trusts root {db}; \
                     re-export it from the deployment's custody: {REEXPORT}",
                    path.display(),
                    set.pin
                )));
            }
            None => {
                return Err(ServeError(format!(
                    "{}: the database trusts no custody root yet, so the recipient key set (root {}) cannot be \
                     checked: start a signer on this database first",
                    path.display(),
                    set.pin
                )));
            }
        }
    }
    if let Some(c) = &custody {
        let root = c.root_public().await.map_err(|e| err("custody root")(&e))?;
        let pin = sealgate_custody::keyset::thumbprint(&root).map_err(|e| err("custody root")(&e))?;
        // Checked before any role key is made or published: a custody that is not the
        // deployment's (another keyring, another Transit) must not join its database.
        match &trusted_pin {
            Some(db) if *db == pin => {}
            Some(db) => {
                return Err(ServeError(format!(
                    "custody: its root key {pin} differs from the root the database already trusts ({db}): \
                     this is not the custody of the deployment on this database; start with the \
                     deployment's --custody-config"
                )));
            }
            None => store
                .set_setting(sealgate_store::AUDIT_ROOT_JWK, &root.to_string())
                .await
                .map_err(|e| err("store")(&e))?,
        }
        sync_recipient_keys(c.as_ref(), &store).await?;
        println!("sealgate: root key pin {pin}");
    }
    let checkpoints = custody.as_ref().map(|c| CheckpointPolicy {
        custody: c.clone(),
        every_records: 1000,
        every: Duration::from_secs(1),
    });
    // A signer answers each use once its record is durable in its own journal, and copies it
    // into the shared chain behind (issue 20); frames a crash left are copied first.
    let audit = match has(ServeRole::Signer) {
        true => {
            AuditLog::start_journaled(store.clone(), checkpoints, &data.join("audit.journal"), opts.audit_journal_size)
                .await
                .map_err(ServeError)?
        }
        false => AuditLog::start(store.clone(), checkpoints),
    };

    // Exchanges: production addresses, the sandbox, or what was given.
    let mut exchanges = default_exchange_urls();
    let mut _sandbox = None;
    if opts.sandbox {
        let keys_path = opts.sandbox_keys.clone().unwrap_or_else(|| data.join("sandbox-keys.json"));
        let sb = start_sandbox(SocketAddr::from(([127, 0, 0, 1], 0)), &keys_path).await?;
        let base = format!("http://{}", sb.addr());
        for id in SANDBOX_VENUES {
            exchanges.insert(id.to_owned(), base.clone());
        }
        println!(
            "sealgate: exchange sandbox on {base} ({}); its API keys: {}",
            SANDBOX_VENUES.join(", "),
            keys_path.display()
        );
        _sandbox = Some(sb);
    }
    if let Some(base) = &opts.sandbox_url {
        for id in SANDBOX_VENUES {
            exchanges.insert(id.to_owned(), base.clone());
        }
    }
    for (id, u) in &opts.exchange_urls {
        exchanges.insert(id.clone(), u.clone());
    }
    if has(ServeRole::Signer) {
        println!("sealgate: exchange URLs: {}", exchange_url_summary(&exchanges));
    }
    // The portfolio's prices: the same exchanges' public tickers.
    let prices = match has(ServeRole::Api) {
        true => Some(Arc::new(crate::prices::PriceFeed::new(exchanges.clone()).map_err(|e| err("price feed")(&e))?)),
        false => None,
    };

    let service_dir = opts.service_keys.clone().unwrap_or_else(|| data.join("service"));
    let mut app = Router::new();
    let mut service_app = Router::new();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);

    // The signer, and how the other roles reach it.
    let signer = match (&custody, has(ServeRole::Signer)) {
        (Some(c), true) => {
            let cfg = SignerConfig {
                exchanges,
                sign_allowed: opts.allow_sign.clone(),
                state_file: Some(data.join(SIGNER_STATE)),
                new_destination_wait: opts.new_destination_wait,
                ..SignerConfig::default()
            };
            let signer = Arc::new(
                Signer::new(store.clone(), c.clone(), audit.clone(), metrics.clone(), cfg)
                    .map_err(|e| err("signer")(&e))?,
            );
            // The revoked envelopes, from the audit chain verified under the custody root: a
            // chain that does not verify, or a database rolled back below what this signer
            // saw, stops the start (crate::revocation).
            let followed = signer.follow_audit().await.map_err(|e| err("signer")(&e))?;
            println!(
                "sealgate: signer: audit chain verified to seq {} (checkpoint {}), {} revoked envelope(s)",
                followed.seq, followed.checkpoint_seq, followed.revoked
            );
            // The signer trusts the public halves of the consumer roles' service keys. Only
            // the embedded default makes them (its roles all run here); a split signer was
            // given them (`sealgate keys service-keys`, checked in `check_options`).
            if embedded_default(&opts.roles) {
                create_service_keys(&service_dir)?;
            }
            // The api's key, where this deployment has one, may manage custody keys (only).
            let api_pub = service_dir.join(format!("{}.pub", crate::held_keys::API_SERVICE));
            let trusted: Vec<&str> = match api_pub.exists() {
                true => SERVICE_ROLES.into_iter().chain([crate::held_keys::API_SERVICE]).collect(),
                false => SERVICE_ROLES.to_vec(),
            };
            let verifier = Arc::new(ServiceVerifier::load(&service_dir, &trusted).map_err(|e| err("service key")(&e))?);
            service_app = service_app.merge(signer.clone().router(verifier));
            // Exchange keys made in the custody and never activated are destroyed (hourly).
            tokio::spawn(signer.clone().run_held_key_sweep(std::time::Duration::from_secs(3600), stop_rx.clone()));
            // The audit chain read behind the requests, not inside one.
            tokio::spawn(signer.clone().run_audit_follow(stop_rx.clone()));
            Some(signer)
        }
        _ => None,
    };
    if let (Some(pool), None) = (&signer_pool, &signer)
        && (has(ServeRole::Importer) || has(ServeRole::Trader))
    {
        println!("sealgate: signers: {} (https verified against {})", pool.urls().join(", "), pool.roots());
        for w in pool.warnings() {
            println!("sealgate: warning: {w}");
            tracing::warn!("{w}");
        }
        pool.spawn_health_checks(crate::signer_pool::HEALTH_EVERY);
    }
    let client_for = |role: Role| -> Result<Arc<dyn SignerClient>, ServeError> {
        if let Some(s) = &signer {
            return Ok(Arc::new(LocalSignerClient::new(s.clone(), role)));
        }
        let pool = signer_pool.clone().ok_or_else(|| {
            ServeError(format!("role {} needs --signer-url (this process runs no signer)", role.name()))
        })?;
        // Never made here: a new key would be one the signers do not trust.
        let key = ServiceKey::load(&service_dir, role.name()).map_err(|e| err("service key")(&e))?;
        Ok(Arc::new(HttpSignerClient::with_pool(pool, Arc::new(key))))
    };

    if has(ServeRole::Importer) {
        let client = client_for(Role::Importer)?;
        for i in 0..opts.importer_workers.max(1) {
            let worker =
                crate::importer::Importer::new(store.clone(), client.clone(), format!("{}-{i}", worker_name()))
                    .with_lease(opts.import_lease)
                    .with_metrics(metrics.clone());
            tokio::spawn(worker.run(stop_rx.clone()));
        }
        if let Some(every) = opts.import_every {
            let (store, stop) = (store.clone(), stop_rx.clone());
            tokio::spawn(crate::importer::Importer::run_scheduler(
                store,
                every,
                crate::importer::DEFAULT_MAX_ATTEMPTS,
                stop,
            ));
        }
        println!("sealgate: importer running ({} worker(s))", opts.importer_workers.max(1));
    }

    let mut api_auth = None;
    let trader = if has(ServeRole::Trader) {
        let trader =
            Arc::new(crate::trader::Trader::new(store.clone(), client_for(Role::Trader)?).with_audit(audit.clone()));
        // Orders whose placement got no answer are asked about until they settle.
        tokio::spawn(trader.clone().run_reconciler(std::time::Duration::from_secs(2), stop_rx.clone()));
        Some(trader)
    } else {
        None
    };
    // The notify key: made here only by a process that runs both the api (which shows
    // webhook secrets) and the notifier (which signs with them); others load the copy.
    let key_file = opts.notify.key_file.clone().unwrap_or_else(|| data.join(crate::notifier::NOTIFY_KEY_FILE));
    let notify_key = if has(ServeRole::Notifier) || key_file.exists() {
        let create = has(ServeRole::Notifier) && has(ServeRole::Api);
        Some(Arc::new(
            crate::notifier::NotifyKey::load_or_create(&key_file, create).map_err(|e| ServeError(e.to_string()))?,
        ))
    } else {
        None
    };
    // Where the api reaches a signer for keys born in the custody: in this process, or a
    // fleet as the `api` service (its key, if this deployment gave it one).
    let reach = match (&signer, &signer_pool) {
        (Some(s), _) => SignerReach::Local(s.clone()),
        (None, Some(pool)) if service_dir.join(format!("{}.key", crate::held_keys::API_SERVICE)).exists() => {
            let key =
                ServiceKey::load(&service_dir, crate::held_keys::API_SERVICE).map_err(|e| err("service key")(&e))?;
            SignerReach::Fleet(Arc::new(HttpSignerClient::with_pool(pool.clone(), Arc::new(key))))
        }
        _ => SignerReach::Absent,
    };
    if has(ServeRole::Api) {
        let (router, auth) = api_router(
            &store,
            &audit,
            custody.as_ref(),
            reach,
            ApiPeers { trader: trader.clone(), notify: notify_key.clone(), prices },
            &opts,
        )
        .await?;
        let counted = metrics.clone();
        app = app.merge(router.layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                crate::metrics::inc(&counted.api_requests_total);
                next.run(req)
            },
        )));
        api_auth = Some(auth);
    }

    let health = Health { store: store.clone(), metrics: metrics.clone(), hardening };
    if api_auth.is_none() {
        // The api router answers unknown paths itself; without it, this does (as JSON).
        app = app.fallback(|| async {
            crate::json::error_response(
                StatusCode::NOT_FOUND,
                "no such endpoint on this process (roles without the api)",
            )
        });
    }
    app = app
        .merge(ops_table().router.with_state(health.clone()))
        .layer(axum::middleware::from_fn(crate::json::json_errors));
    service_app = service_app
        .merge(service_ops_table().router.with_state(health))
        .fallback(|| async {
            crate::json::error_response(
                StatusCode::NOT_FOUND,
                "no such endpoint on the service listener; see /openapi.json",
            )
        })
        .method_not_allowed_fallback(|| async {
            crate::json::error_response(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed on this endpoint; see /openapi.json",
            )
        })
        .layer(axum::middleware::from_fn(crate::json::json_errors));

    let listener = tokio::net::TcpListener::bind(opts.listen).await.map_err(|e| err("listen")(&e))?;
    let addr = listener.local_addr().map_err(|e| err("listen")(&e))?;
    let service_at = opts.service_listen.unwrap_or_else(|| default_service_listen(opts.listen));
    let service_listener = tokio::net::TcpListener::bind(service_at)
        .await
        .map_err(|e| err(&format!("service listen {service_at}"))(&e))?;
    let service_addr = service_listener.local_addr().map_err(|e| err("service listen")(&e))?;
    if service_addr == addr {
        return Err(ServeError("--service-listen must differ from --listen".into()));
    }
    let scheme = |tls: &Option<crate::tls::ServerTls>| if tls.is_some() { "https" } else { "http" };
    println!("sealgate: listening on {}://{addr}", scheme(&public_tls));
    let serves = if signer.is_some() { "the signer, /metrics" } else { "/metrics, health" };
    println!("sealgate: service listener on {}://{service_addr} ({serves})", scheme(&service_tls));
    if api_auth.is_some() && opts.oidc.is_none() {
        let base = match &opts.public_url {
            Some(_) => login_base(opts.public_url.as_deref(), addr)?,
            None => format!("{}://{addr}", scheme(&public_tls)),
        };
        print_login_link(&store, &base).await?;
    }
    if let (true, Some(key)) = (has(ServeRole::Notifier), &notify_key) {
        let public_url = match &opts.public_url {
            Some(u) => parse_public_url(u)?.0,
            None if has(ServeRole::Api) => format!("{}://{addr}", scheme(&public_tls)),
            None => return Err(ServeError("role notifier needs --public-url (the links it sends point there)".into())),
        };
        let n = &opts.notify;
        let config = Arc::new(crate::notifier::NotifierConfig {
            smtp: n.smtp_url.clone().map(|url| crate::notifier::SmtpConfig {
                url,
                starttls: n.smtp_starttls,
                from: n.smtp_from.clone(),
                credentials_file: n.smtp_credentials_file.clone(),
            }),
            public_url,
            backoff_base: n.backoff_base,
            backoff_cap: n.backoff_cap,
            allow_private_webhooks: n.allow_private_webhooks,
            ..crate::notifier::NotifierConfig::default()
        });
        for i in 0..n.workers.max(1) {
            let worker = crate::notifier::Notifier::new(
                store.clone(),
                key.clone(),
                config.clone(),
                format!("notify-{}-{i}", worker_name()),
                metrics.clone(),
            )
            .map_err(|e| ServeError(e.to_string()))?;
            tokio::spawn(worker.run(stop_rx.clone()));
        }
        println!(
            "sealgate: notifier running ({} worker(s); e-mail {}; links to {})",
            n.workers.max(1),
            n.smtp_url.as_deref().unwrap_or("off (no --smtp-url)"),
            config.public_url
        );
    }
    let _ = std::io::stdout().flush();
    tracing::info!(%addr, %service_addr, roles = ?opts.roles, "serving");
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let until = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let public = serve_on(listener, public_tls.as_ref(), app, until(shutdown_rx.clone()))?;
    let service = serve_on(service_listener, service_tls.as_ref(), service_app, until(shutdown_rx))?;
    tokio::spawn(async move {
        shutdown.await;
        let _ = shutdown_tx.send(true);
    });
    // Either listener failing stops both.
    tokio::try_join!(async { public.await.map_err(|e| err("server")(&e)) }, async {
        service.await.map_err(|e| err("service listener")(&e))
    })?;
    let _ = stop_tx.send(true);
    store.close().await;
    Ok(())
}

/// Serves `app` on `tcp`, over TLS when `tls` is given, until `stop` resolves; the
/// handlers see the peer's address (`ConnectInfo<SocketAddr>`) either way.
fn serve_on(
    tcp: tokio::net::TcpListener,
    tls: Option<&crate::tls::ServerTls>,
    app: Router,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<()>> + Send>>, ServeError> {
    use axum::serve::ListenerExt as _;
    use std::future::IntoFuture as _;
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    Ok(match tls {
        None => Box::pin(axum::serve(tcp, service).with_graceful_shutdown(stop).into_future()),
        Some(tls) => {
            // `tap_io` (a no-op here) is what gives a custom listener axum's
            // `ConnectInfo<SocketAddr>` (its address type).
            let listener = tls.listener(tcp).map_err(|e| err("tls listener")(&e))?.tap_io(|_| {});
            Box::pin(axum::serve(listener, service).with_graceful_shutdown(stop).into_future())
        }
    })
}

/// How the api reaches a signer (for keys born in the custody).
enum SignerReach {
    /// The signer runs in this process.
    Local(Arc<Signer>),
    /// A signer fleet, as the `api` service.
    Fleet(Arc<HttpSignerClient>),
    /// None: those endpoints answer 503.
    Absent,
}

/// The signer's state file in the data directory ([`crate::revocation`]).
pub const SIGNER_STATE: &str = "signer-state.json";

/// Lifetime of the recipient key set the api publishes (re-signed at each start).
const KEYSET_TTL_SECS: u64 = 30 * 24 * 3600;

/// What the api role uses of the other roles in this process.
struct ApiPeers {
    trader: Option<Arc<crate::trader::Trader>>,
    notify: Option<Arc<crate::notifier::NotifyKey>>,
    prices: Option<Arc<crate::prices::PriceFeed>>,
}

async fn api_router(
    store: &Store,
    audit: &AuditLog,
    custody: Option<&Arc<dyn Custody>>,
    reach: SignerReach,
    peers: ApiPeers,
    opts: &ServeOptions,
) -> Result<(Router, Arc<crate::auth::Auth>), ServeError> {
    let ApiPeers { trader, notify, prices } = peers;
    // A signer in this process drops a changed credential at once.
    let (on_change, held_keys): (Option<crate::api::ChangeHook>, Option<Arc<dyn crate::held_keys::HeldKeys>>) =
        match reach {
            SignerReach::Local(s) => {
                let hook = s.clone();
                let hook = Arc::new(move |changed: Option<(&str, &str)>| match changed {
                    Some((owner, cid)) => hook.invalidate(owner, cid),
                    None => hook.invalidate_all(),
                }) as crate::api::ChangeHook;
                (Some(hook), Some(s))
            }
            SignerReach::Fleet(client) => (None, Some(client)),
            SignerReach::Absent => (None, None),
        };
    use crate::auth::{Auth, AuthConfig, LocalConfig, OidcConfig};
    let config = match &opts.oidc {
        Some((issuer, audience)) => AuthConfig { local: None, oidc: Some(OidcConfig::new(issuer, audience)) },
        None => {
            // Secure cookies when users reach us over https: our own TLS, or a proxy's.
            let secure_cookies = match &opts.public_url {
                Some(u) => parse_public_url(u)?.1,
                None => opts.tls.is_some(),
            };
            AuthConfig { local: Some(LocalConfig { secure_cookies, ..LocalConfig::default() }), oidc: None }
        }
    };
    let auth = Arc::new(Auth::new(store.clone(), config).map_err(|e| err("auth")(&e))?);
    let recipients = match (custody, &opts.recipients_file) {
        (_, Some(path)) => load_recipients_file(path)?,
        (Some(c), None) => {
            let jws = sealgate_custody::keyset::sign(c.as_ref(), crate::now_ms() / 1000, KEYSET_TTL_SECS)
                .await
                .map_err(|e| err("recipient key set")(&e))?;
            let root = c.root_public().await.map_err(|e| err("custody root")(&e))?;
            let pin = sealgate_custody::keyset::thumbprint(&root).map_err(|e| err("custody root")(&e))?;
            crate::api::RecipientSet { jws, pin }
        }
        (None, None) => {
            return Err(ServeError("the api needs custody access or --recipients-file to publish the key set".into()));
        }
    };
    let state = crate::api::ApiState {
        store: store.clone(),
        audit: audit.clone(),
        trader,
        recipients: Arc::new(tokio::sync::RwLock::new(recipients)),
        auth: auth.clone(),
        on_change,
        notify,
        passkeys: passkeys_service(opts)?,
        held_keys,
        prices,
        valuations: Default::default(),
    };
    Ok((crate::api::router(state), auth))
}

/// The WebAuthn relying party: `--public-url`'s host (a domain name; an IP address offers
/// no passkeys, said once at start), else `localhost` for a loopback listener.
fn passkeys_service(opts: &ServeOptions) -> Result<Option<Arc<crate::passkey_api::Passkeys>>, ServeError> {
    let service = match &opts.public_url {
        Some(u) => {
            let base = parse_public_url(u)?.0;
            match crate::passkey_api::Passkeys::new(&base) {
                Ok(p) => Some(p),
                Err(e) => {
                    tracing::warn!(error = %e, "passkeys are off");
                    None
                }
            }
        }
        None => crate::passkey_api::Passkeys::for_listener(opts.listen, opts.tls.is_some()),
    };
    Ok(service.map(Arc::new))
}

/// The local user of the embedded default.
pub const LOCAL_USER: &str = "local";

async fn print_login_link(store: &Store, base: &str) -> Result<(), ServeError> {
    use sealgate_envelope::secrecy::ExposeSecret as _;
    let link = login_link(store, base).await?;
    println!("sealgate: sign in (one-time link, 15 minutes): {}", link.expose_secret());
    Ok(())
}

/// A fresh one-time sign-in link (15 minutes) for the local user, creating the user on
/// first use: what `serve` prints at start and `sealgate login-link` prints any time. The
/// token is stored hashed ([`crate::auth::mint_login_token`]), so any server on `store`'s
/// database accepts it, once. `base` is the server's public URL without a trailing slash.
pub async fn login_link(store: &Store, base: &str) -> Result<secrecy::SecretString, ServeError> {
    use sealgate_envelope::secrecy::ExposeSecret as _;
    if store.user(LOCAL_USER).await.map_err(|e| err("store")(&e))?.is_none() {
        store.create_user(LOCAL_USER, None).await.map_err(|e| err("store")(&e))?;
    }
    let token = crate::auth::mint_login_token(store, LOCAL_USER).await.map_err(|e| err("login")(&e))?;
    Ok(format!("{base}/login?token={}", token.expose_secret()).into())
}

/// The base of the sign-in link: `--public-url`, else `http://` and the listen address.
pub fn login_base(public_url: Option<&str>, listen: SocketAddr) -> Result<String, ServeError> {
    match public_url {
        Some(u) => Ok(parse_public_url(u)?.0),
        None => Ok(format!("http://{listen}")),
    }
}

/// The database of a data directory when `--database` is not given: `sealgate.db` in it.
pub fn default_database_file(data_dir: &Path) -> PathBuf {
    data_dir.join("sealgate.db")
}

fn worker_name() -> String {
    format!("{}-{}", std::process::id(), crate::now_ms() % 100_000)
}

/// The URL without a password.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:[REDACTED]{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_service_listener_defaults_to_loopback_on_the_next_port() {
        let at = |s: &str| default_service_listen(s.parse().expect("addr")).to_string();
        assert_eq!(at("127.0.0.1:8787"), "127.0.0.1:8788");
        assert_eq!(at("0.0.0.0:8080"), "127.0.0.1:8081", "never a public address by default");
        assert_eq!(at("10.0.0.5:9000"), "127.0.0.1:9001");
        assert_eq!(at("[::1]:8787"), "[::1]:8788");
        assert_eq!(at("127.0.0.1:0"), "127.0.0.1:0", "ephemeral stays ephemeral");
        assert_eq!(at("127.0.0.1:65535"), "127.0.0.1:0");
    }

    #[test]
    fn public_url_must_be_http_or_https_with_a_host() {
        assert_eq!(parse_public_url("https://s.example/").expect("ok"), ("https://s.example".into(), true));
        assert_eq!(parse_public_url("http://127.0.0.1:8787").expect("ok"), ("http://127.0.0.1:8787".into(), false));
        for bad in [
            "ftp://s.example",
            "s.example",
            "https://u:p@s.example",
            "https://s.example/?q",
            "https://s.example/#f",
            "",
        ] {
            assert!(parse_public_url(bad).expect_err(bad).0.contains("--public-url"), "{bad}");
        }
    }
}
