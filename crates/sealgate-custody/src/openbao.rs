//! The `openbao` backend: role keys and the root key live in an OpenBao (or
//! HashiCorp Vault) Transit secrets engine; their lifecycle in a KV v2 record.
//!
//! # Where things live
//!
//! - **Role keys**: one Transit key per version, named by its kid
//!   (`{role}-v{N}`), of type `rsa-3072` or `rsa-4096`, created with
//!   `exportable=false` and `allow_plaintext_backup=false`. Only Transit
//!   version 1 of such a key is used (ciphertexts are sent as `vault:v1:…`
//!   and the public JWK is built from `keys["1"].public_key`), so an
//!   accidental Transit-side rotation changes nothing for us. Transit has
//!   no ECDH key type: rotating to an ECDH type is refused as
//!   [`CustodyError::Unsupported`].
//! - **Lifecycle metadata** (version, status, created_at, key type): one KV
//!   v2 record per role at `{kv_mount}/data/{kv_prefix}/{role}`, written with
//!   check-and-set so concurrent rotations of one role cannot both win.
//!   Transit has no per-key metadata; a KV record survives a restart of the
//!   client and is shared by every signer instance. Role and version are
//!   also readable from the Transit key name, created_at from the record.
//! - **Root key**: the Transit key `root_key` (default `sealgate-root`) of
//!   type `ecdsa-p256`, created on first use; signing is
//!   `POST /v1/{mount}/sign/{name}` with `marshaling_algorithm=jws`, which
//!   returns the JWS form `r || s` directly.
//!
//! # The private-key step
//!
//! An open sends only the wrapped CEK: `POST /v1/{mount}/decrypt/{kid}` with
//! `ciphertext = "vault:v1:" + base64(wrapped)`. Transit's RSA decrypt is
//! RSAES-OAEP with SHA-256 and MGF1-SHA-256 (RFC 8017 §7.1; checked by the
//! tests against ciphertexts made by our own `seal_credential`), so only
//! `RSA-OAEP-256` is offered; SHA-1 OAEP is refused as unsupported. A failed
//! decrypt maps to [`KeyError::Crypto`] so the envelope substitutes a random
//! CEK (RFC 7516 §11.5). Every operation of a handle first re-reads the
//! version's status from the KV record.
//!
//! # Secrets
//!
//! The token (or AppRole secret_id) is read from a file or an environment
//! variable ([`SecretSource`]), never from argv, and kept in a
//! [`SecretString`]; request headers carrying it are marked sensitive;
//! redirects are not followed (a redirect would carry `X-Vault-Token` to
//! another host). Response bodies are held in zeroizing buffers.
//!
//! # Policy needed (AppRole or token)
//!
//! `docs/openbao-policy.hcl`, tested as written (`tests/openbao.rs`): create
//! non-exportable keys and read them (`transit/keys/+`, never `…/config`),
//! decrypt, sign with the root key, the KV records; no export, no backup.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use sealgate_envelope::secrecy::{ExposeSecret, SecretString};
use sealgate_envelope::{
    DecryptionKey, EphemeralPublicKey, KeyAlg, KeyError, KeyFuture, KeyKind, OaepHash, PublicJwk, SecretBytes,
    SharedSecret,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::exchange_key::{self, ExchangeKeyInfo, ExchangeKeyType};
use crate::{Custody, CustodyError, CustodyFuture, Exportability, KeyInfo, KeyStatus, RoleKeyType};

pub use reqwest::Url;

const BACKEND: &str = "openbao";
/// Largest response body we read (a key listing with many versions is small).
const MAX_BODY: usize = 1024 * 1024;
/// Longest secret file we read.
const MAX_SECRET_FILE: u64 = 64 * 1024;
/// Check-and-set retries when another client updates the same role record.
const CAS_RETRIES: usize = 8;

/// Where a secret (token, AppRole secret_id) comes from. Never argv.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// A file holding the secret (trailing whitespace trimmed); mode 0600
    /// (any group or other permission is refused).
    File(PathBuf),
    /// An environment variable holding the secret.
    Env(String),
}

impl SecretSource {
    fn read(&self, what: &'static str) -> Result<SecretString, CustodyError> {
        let text = match self {
            Self::File(path) => {
                use std::io::Read as _;
                let file = std::fs::File::open(path).map_err(|e| {
                    CustodyError::Config(format!("cannot open the {what} file {}: {e}", path.display()))
                })?;
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt as _;
                    // 0600 like every other secret file: the group may not read a token either.
                    let mode = file.metadata().map(|m| m.permissions().mode()).unwrap_or(0o777) & 0o777;
                    if mode & 0o077 != 0 {
                        return Err(CustodyError::Config(format!(
                            "the {what} file {}: mode {mode:o} lets others read it; run: chmod 600 {}",
                            path.display(),
                            path.display()
                        )));
                    }
                    sealgate_hardening::check_strict_modes(path, false)
                        .map_err(|e| CustodyError::Config(format!("the {what} file: {e}")))?;
                }
                let mut buf = Zeroizing::new(String::new());
                file.take(MAX_SECRET_FILE).read_to_string(&mut buf).map_err(|e| {
                    CustodyError::Config(format!("cannot read the {what} file {}: {e}", path.display()))
                })?;
                buf
            }
            Self::Env(var) => Zeroizing::new(std::env::var(var).map_err(|_| {
                CustodyError::Config(format!("the environment variable {var} (the {what}) is not set or not UTF-8"))
            })?),
        };
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(CustodyError::Config(format!("the {what} is empty")));
        }
        Ok(SecretString::from(trimmed.to_owned()))
    }
}

/// How the client authenticates to OpenBao.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// A token (e.g. a periodic service token).
    Token(SecretSource),
    /// AppRole login at `/v1/auth/approle/login`; the client logs in again
    /// when its token is refused (expired).
    AppRole {
        /// The role_id (not secret on its own).
        role_id: String,
        /// The secret_id.
        secret_id: SecretSource,
    },
}

/// Configuration of [`OpenBaoCustody`]. [`OpenBaoConfig::new`] fills the
/// defaults.
#[derive(Debug, Clone)]
pub struct OpenBaoConfig {
    /// Server address, e.g. `https://bao.internal:8200`.
    pub address: Url,
    /// Transit mount path (default `transit`).
    pub mount: String,
    /// Authentication.
    pub auth: Auth,
    /// PEM CA certificate(s) to trust in addition to the system roots.
    pub ca_cert: Option<PathBuf>,
    /// KV v2 mount holding the lifecycle records (default `secret`).
    pub kv_mount: String,
    /// Folder of the lifecycle records inside `kv_mount` (default
    /// `sealgate-custody`); one record per role.
    pub kv_prefix: String,
    /// Transit key name of the root ES256 key (default `sealgate-root`).
    pub root_key: String,
}

impl OpenBaoConfig {
    /// A configuration with the default mount (`transit`), KV mount
    /// (`secret`), KV prefix (`sealgate-custody`) and root key name
    /// (`sealgate-root`), and no extra CA.
    pub fn new(address: Url, auth: Auth) -> Self {
        Self {
            address,
            mount: "transit".into(),
            auth,
            ca_cert: None,
            kv_mount: "secret".into(),
            kv_prefix: "sealgate-custody".into(),
            root_key: "sealgate-root".into(),
        }
    }
}

/// An error message from OpenBao (its `errors` list) with the HTTP status.
/// Travels only as the `source` of [`CustodyError::Backend`].
#[derive(Debug)]
struct BaoError {
    status: u16,
    message: String,
}

impl fmt::Display for BaoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OpenBao answered HTTP {}: {}", self.status, self.message)
    }
}

impl std::error::Error for BaoError {}

/// A response: status and body (zeroized on drop: it may carry a token or a CEK).
struct Reply {
    status: StatusCode,
    body: Zeroizing<Vec<u8>>,
}

impl Reply {
    fn error(&self) -> BaoError {
        let message = serde_json::from_slice::<Value>(&self.body)
            .ok()
            .and_then(|v| v.get("errors").and_then(Value::as_array).cloned())
            .map(|errs| errs.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("; "))
            .unwrap_or_default();
        let mut message: String = message.split_whitespace().collect::<Vec<_>>().join(" ");
        if message.len() > 300 {
            let mut cut = 300;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
        }
        BaoError { status: self.status.as_u16(), message }
    }

    fn fail(&self, what: &'static str) -> CustodyError {
        CustodyError::backend(BACKEND, what, self.error())
    }

    fn json<T: serde::de::DeserializeOwned>(&self, what: &'static str) -> Result<T, CustodyError> {
        serde_json::from_slice(&self.body).map_err(|e| CustodyError::backend(BACKEND, what, e))
    }
}

/// One version in a role's lifecycle record.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct VersionRecord {
    kid: String,
    status: KeyStatus,
    created_at: u64,
    key_type: RoleKeyType,
}

/// The lifecycle record of one role (KV v2 data).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct RoleRecord {
    role: String,
    /// Version number → record.
    versions: BTreeMap<u32, VersionRecord>,
}

/// What a Transit key read tells us.
struct TransitKey {
    key_type: String,
    exportable: bool,
    allow_plaintext_backup: bool,
    latest_version: u64,
    /// Version → PEM public key (base64 of the raw key for ed25519).
    public_pems: HashMap<String, String>,
    /// Version 1's `creation_time` (RFC 3339).
    created: Option<String>,
}

struct Inner {
    http: reqwest::Client,
    base: Url,
    mount: String,
    kv_mount: String,
    kv_prefix: String,
    root_key: String,
    auth: Auth,
    token: RwLock<SecretString>,
    /// Public JWKs by kid (immutable once created).
    publics: Mutex<HashMap<String, PublicJwk>>,
    /// The root public JWK once checked.
    root: Mutex<Option<(u64, Value)>>,
    /// Exchange keys by id (immutable once created).
    xkeys: Mutex<HashMap<String, ExchangeKeyInfo>>,
}

/// The OpenBao/Vault Transit custody backend.
pub struct OpenBaoCustody {
    inner: Arc<Inner>,
}

impl fmt::Debug for OpenBaoCustody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenBaoCustody")
            .field("address", &self.inner.base.as_str())
            .field("mount", &self.inner.mount)
            .field("token", &"[REDACTED]")
            .finish_non_exhaustive()
    }
}

/// A path segment (mount, key name, role) we put into a URL: no `.`/`..`,
/// only `[A-Za-z0-9_-]` (and `/` inside mounts and prefixes).
fn check_segment(what: &str, s: &str, slash_ok: bool) -> Result<(), CustodyError> {
    let ok = !s.is_empty()
        && s.len() <= 128
        && !s.starts_with('/')
        && !s.ends_with('/')
        && s.split('/').all(|p| !p.is_empty() && p != "." && p != "..")
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || (slash_ok && b == b'/'));
    if ok {
        Ok(())
    } else {
        Err(CustodyError::Config(format!(
            "{what} {s:?} must be 1-128 characters of A-Z a-z 0-9 _ -{}",
            if slash_ok { " (and / between parts)" } else { "" }
        )))
    }
}

/// `{role}-v{N}` → (role, N).
fn parse_kid(kid: &str) -> Option<(&str, u32)> {
    let (role, n) = kid.rsplit_once("-v")?;
    let n: u32 = n.parse().ok().filter(|n| *n > 0)?;
    (format!("{role}-v{n}") == kid && check_segment("role", role, false).is_ok()).then_some((role, n))
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// The DER inside a single-block PEM.
fn pem_der(pem: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let body = pem.trim().strip_prefix(&begin)?.strip_suffix(&end)?;
    let b64: String = body.split_whitespace().collect();
    STANDARD.decode(b64).ok()
}

/// SubjectPublicKeyInfo prefix of an uncompressed P-256 point (RFC 5480).
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce,
    0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

fn rsa_jwk(pem: &str, kid: &str) -> Result<PublicJwk, CustodyError> {
    let bad = || CustodyError::Config(format!("Transit public key of {kid} is not an RSA PEM public key"));
    let der = pem_der(pem, "PUBLIC KEY").ok_or_else(bad)?;
    let key = aws_lc_rs::rsa::PublicKey::from_der(&der).map_err(|_| bad())?;
    let jwk = json!({
        "kty": "RSA",
        "n": URL_SAFE_NO_PAD.encode(key.modulus().big_endian_without_leading_zero()),
        "e": URL_SAFE_NO_PAD.encode(key.exponent().big_endian_without_leading_zero()),
        "use": "enc",
        "alg": KeyAlg::RsaOaep256.name(),
        "kid": kid,
    });
    PublicJwk::from_json(jwk.to_string().as_bytes()).map_err(|_| bad())
}

fn p256_jwk(pem: &str) -> Result<Value, CustodyError> {
    let bad = || CustodyError::Config("Transit root key's public key is not a P-256 PEM public key".into());
    let der = pem_der(pem, "PUBLIC KEY").ok_or_else(bad)?;
    let point = der.strip_prefix(&P256_SPKI_PREFIX[..]).filter(|p| p.len() == 65 && p[0] == 4).ok_or_else(bad)?;
    EphemeralPublicKey::from_coordinates(sealgate_envelope::Curve::P256, &point[1..33], Some(&point[33..]))
        .map_err(|_| bad())?;
    Ok(json!({
        "kty": "EC",
        "crv": "P-256",
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
        "y": URL_SAFE_NO_PAD.encode(&point[33..]),
        "use": "sig",
        "alg": "ES256",
    }))
}

/// The Transit type of an exchange key.
fn exchange_transit_type(t: ExchangeKeyType) -> &'static str {
    match t {
        ExchangeKeyType::Ed25519 => "ed25519",
        ExchangeKeyType::Rsa2048 => "rsa-2048",
    }
}

fn transit_type(key_type: RoleKeyType) -> Result<&'static str, CustodyError> {
    match key_type {
        RoleKeyType::Rsa3072 => Ok("rsa-3072"),
        RoleKeyType::Rsa4096 => Ok("rsa-4096"),
        RoleKeyType::EcdhP256 | RoleKeyType::EcdhP384 | RoleKeyType::EcdhX25519 => Err(CustodyError::Unsupported {
            backend: BACKEND,
            what: "create ECDH role keys (Transit has no ECDH key type; use rsa-3072 or rsa-4096)",
        }),
    }
}

impl OpenBaoCustody {
    /// Connect: build the HTTPS client, read the token (or log in with
    /// AppRole), and check the token with `auth/token/lookup-self`. A
    /// refused token or AppRole login is [`CustodyError::Unlock`].
    pub async fn connect(config: OpenBaoConfig) -> Result<Self, CustodyError> {
        let OpenBaoConfig { address, mount, auth, ca_cert, kv_mount, kv_prefix, root_key } = config;
        if !matches!(address.scheme(), "http" | "https") || address.cannot_be_a_base() {
            return Err(CustodyError::Config(format!("OpenBao address {address} must be an http(s) URL")));
        }
        check_segment("Transit mount", &mount, true)?;
        check_segment("KV mount", &kv_mount, true)?;
        check_segment("KV prefix", &kv_prefix, true)?;
        check_segment("root key name", &root_key, false)?;
        let mut base = address;
        if !base.path().ends_with('/') {
            let p = format!("{}/", base.path());
            base.set_path(&p);
        }
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .no_proxy();
        if let Some(path) = &ca_cert {
            let pem = std::fs::read(path).map_err(|e| {
                CustodyError::Config(format!("cannot read the OpenBao CA certificate {}: {e}", path.display()))
            })?;
            for cert in reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                CustodyError::Config(format!("OpenBao CA certificate {} is not PEM: {e}", path.display()))
            })? {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder.build().map_err(|e| CustodyError::backend(BACKEND, "build the HTTPS client", e))?;
        let token = match &auth {
            Auth::Token(source) => source.read("OpenBao token")?,
            Auth::AppRole { .. } => SecretString::from(String::new()),
        };
        let inner = Inner {
            http,
            base,
            mount,
            kv_mount,
            kv_prefix,
            root_key,
            auth,
            token: RwLock::new(token),
            publics: Mutex::new(HashMap::new()),
            root: Mutex::new(None),
            xkeys: Mutex::new(HashMap::new()),
        };
        if matches!(inner.auth, Auth::AppRole { .. }) {
            inner.login().await?;
        }
        let reply = inner.send(Method::GET, "v1/auth/token/lookup-self", None).await?;
        match reply.status {
            s if s.is_success() => {}
            StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED => {
                return Err(CustodyError::Unlock("OpenBao refused the token (wrong, expired or revoked)"));
            }
            _ => return Err(reply.fail("check the token (auth/token/lookup-self)")),
        }
        Ok(Self { inner: Arc::new(inner) })
    }
}

impl Inner {
    fn url(&self, path: &str) -> Result<Url, CustodyError> {
        self.base.join(path).map_err(|e| CustodyError::backend(BACKEND, "build a request URL", e))
    }

    fn headers(&self) -> Result<HeaderMap, CustodyError> {
        let mut headers = HeaderMap::new();
        let token = self.token.read().map_err(|_| CustodyError::Config("OpenBao token lock poisoned".into()))?;
        if !token.expose_secret().is_empty() {
            let mut value = HeaderValue::from_str(token.expose_secret())
                .map_err(|_| CustodyError::Config("the OpenBao token has characters not allowed in a header".into()))?;
            value.set_sensitive(true);
            headers.insert("X-Vault-Token", value);
        }
        Ok(headers)
    }

    /// One request, no retry.
    async fn send(&self, method: Method, path: &str, body: Option<Zeroizing<Vec<u8>>>) -> Result<Reply, CustodyError> {
        let mut req = self.http.request(method, self.url(path)?).headers(self.headers()?);
        if let Some(body) = body {
            // The body may hold a secret_id or a CEK-bearing request; hyper
            // takes ownership and does not zeroize it (documented limit).
            req = req.header(reqwest::header::CONTENT_TYPE, "application/json").body(body.to_vec());
        }
        let resp = req.send().await.map_err(|e| CustodyError::backend(BACKEND, "reach the server", e))?;
        let status = resp.status();
        if resp.content_length().is_some_and(|n| n > MAX_BODY as u64) {
            return Err(CustodyError::backend(
                BACKEND,
                "read a reply",
                BaoError { status: status.as_u16(), message: "reply too large".into() },
            ));
        }
        let bytes = resp.bytes().await.map_err(|e| CustodyError::backend(BACKEND, "read a reply", e))?;
        let body = Zeroizing::new(Vec::from(bytes));
        if body.len() > MAX_BODY {
            return Err(CustodyError::backend(
                BACKEND,
                "read a reply",
                BaoError { status: status.as_u16(), message: "reply too large".into() },
            ));
        }
        Ok(Reply { status, body })
    }

    /// A request; with AppRole, a 403 (expired token) triggers one new login
    /// and one retry.
    async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Reply, CustodyError> {
        let encode = |b: &Value| serde_json::to_vec(b).map(Zeroizing::new);
        let first = body.map(encode).transpose().map_err(|e| CustodyError::backend(BACKEND, "encode a request", e))?;
        let reply = self.send(method.clone(), path, first).await?;
        if reply.status == StatusCode::FORBIDDEN && matches!(self.auth, Auth::AppRole { .. }) {
            self.login().await?;
            let again =
                body.map(encode).transpose().map_err(|e| CustodyError::backend(BACKEND, "encode a request", e))?;
            return self.send(method, path, again).await;
        }
        Ok(reply)
    }

    async fn login(&self) -> Result<(), CustodyError> {
        let Auth::AppRole { role_id, secret_id } = &self.auth else { return Ok(()) };
        let secret_id = secret_id.read("OpenBao AppRole secret_id")?;
        #[derive(Serialize)]
        struct Login<'a> {
            role_id: &'a str,
            secret_id: &'a str,
        }
        let body = serde_json::to_vec(&Login { role_id, secret_id: secret_id.expose_secret() })
            .map(Zeroizing::new)
            .map_err(|e| CustodyError::backend(BACKEND, "encode the AppRole login", e))?;
        drop(secret_id);
        // Log in without the old token.
        let req = self
            .http
            .post(self.url("v1/auth/approle/login")?)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_vec());
        let resp = req.send().await.map_err(|e| CustodyError::backend(BACKEND, "reach the server", e))?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| CustodyError::backend(BACKEND, "read a reply", e))?;
        let reply = Reply { status, body: Zeroizing::new(Vec::from(bytes)) };
        match status {
            s if s.is_success() => {}
            StatusCode::BAD_REQUEST | StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED => {
                return Err(CustodyError::Unlock("OpenBao AppRole login refused (wrong role_id or secret_id)"));
            }
            _ => return Err(reply.fail("log in with AppRole")),
        }
        #[derive(Deserialize)]
        struct LoginReply {
            auth: LoginAuth,
        }
        #[derive(Deserialize)]
        struct LoginAuth {
            client_token: SecretString,
        }
        let parsed: LoginReply = reply.json("read the AppRole login reply")?;
        let mut token = self.token.write().map_err(|_| CustodyError::Config("OpenBao token lock poisoned".into()))?;
        *token = parsed.auth.client_token;
        Ok(())
    }

    fn record_path(&self, data: &str, role: &str) -> String {
        format!("v1/{}/{data}/{}/{role}", self.kv_mount, self.kv_prefix)
    }

    /// The role's record and its KV version (0 when absent, for CAS).
    async fn read_role(&self, role: &str) -> Result<(RoleRecord, u64), CustodyError> {
        let reply = self.call(Method::GET, &self.record_path("data", role), None).await?;
        if reply.status == StatusCode::NOT_FOUND {
            return Ok((RoleRecord { role: role.into(), versions: BTreeMap::new() }, 0));
        }
        if !reply.status.is_success() {
            return Err(reply.fail("read a role's lifecycle record (KV v2)"));
        }
        #[derive(Deserialize)]
        struct R {
            data: D,
        }
        #[derive(Deserialize)]
        struct D {
            data: Option<RoleRecord>,
            metadata: M,
        }
        #[derive(Deserialize)]
        struct M {
            version: u64,
        }
        let r: R = reply.json("parse a role's lifecycle record")?;
        let record = r.data.data.ok_or_else(|| {
            CustodyError::Config(format!("the lifecycle record of role {role} was deleted in KV: undelete it"))
        })?;
        if record.role != role {
            return Err(CustodyError::Config(format!("the lifecycle record of role {role} names another role")));
        }
        Ok((record, r.data.metadata.version))
    }

    /// Write with check-and-set; `Ok(false)` when someone else wrote first.
    async fn write_role(&self, record: &RoleRecord, cas: u64) -> Result<bool, CustodyError> {
        let body = json!({ "options": { "cas": cas }, "data": record });
        let reply = self.call(Method::POST, &self.record_path("data", &record.role), Some(&body)).await?;
        if reply.status.is_success() {
            return Ok(true);
        }
        if reply.status == StatusCode::BAD_REQUEST && reply.error().message.contains("check-and-set") {
            return Ok(false);
        }
        Err(reply.fail("write a role's lifecycle record (KV v2)"))
    }

    async fn list_roles(&self) -> Result<Vec<String>, CustodyError> {
        let path = format!("v1/{}/metadata/{}/", self.kv_mount, self.kv_prefix);
        let list = Method::from_bytes(b"LIST").map_err(|e| CustodyError::backend(BACKEND, "list roles", e))?;
        let reply = self.call(list, &path, None).await?;
        if reply.status == StatusCode::NOT_FOUND {
            return Ok(Vec::new());
        }
        if !reply.status.is_success() {
            return Err(reply.fail("list role lifecycle records (KV v2)"));
        }
        let v: Value = reply.json("parse the role list")?;
        Ok(v.pointer("/data/keys")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .filter(|k| check_segment("role", k, false).is_ok())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn transit_key(&self, name: &str) -> Result<Option<TransitKey>, CustodyError> {
        let reply = self.call(Method::GET, &format!("v1/{}/keys/{name}", self.mount), None).await?;
        if reply.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !reply.status.is_success() {
            return Err(reply.fail("read a Transit key"));
        }
        let v: Value = reply.json("parse a Transit key")?;
        let d = v.get("data").ok_or_else(|| CustodyError::Config("Transit key reply has no data".into()))?;
        let public_pems = d
            .get("keys")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter().filter_map(|(ver, k)| Some((ver.clone(), k.get("public_key")?.as_str()?.to_owned()))).collect()
            })
            .unwrap_or_default();
        let created = d.pointer("/keys/1/creation_time").and_then(Value::as_str).map(str::to_owned);
        Ok(Some(TransitKey {
            created,
            key_type: d.get("type").and_then(Value::as_str).unwrap_or_default().to_owned(),
            exportable: d.get("exportable").and_then(Value::as_bool).unwrap_or(true),
            allow_plaintext_backup: d.get("allow_plaintext_backup").and_then(Value::as_bool).unwrap_or(true),
            latest_version: d.get("latest_version").and_then(Value::as_u64).unwrap_or(0),
            public_pems,
        }))
    }

    /// Create a Transit key (a no-op if it exists) and check what we got.
    async fn ensure_transit_key(&self, name: &str, key_type: &str) -> Result<TransitKey, CustodyError> {
        let body = json!({ "type": key_type, "exportable": false, "allow_plaintext_backup": false });
        let reply = self.call(Method::POST, &format!("v1/{}/keys/{name}", self.mount), Some(&body)).await?;
        if !reply.status.is_success() {
            return Err(reply.fail("create a Transit key"));
        }
        let key = self
            .transit_key(name)
            .await?
            .ok_or_else(|| CustodyError::Config(format!("Transit key {name} vanished after creation")))?;
        if key.key_type != key_type {
            return Err(CustodyError::Config(format!(
                "Transit key {name} already exists with type {:?}, not {key_type}: remove it or pick another name",
                key.key_type
            )));
        }
        if key.exportable || key.allow_plaintext_backup {
            return Err(CustodyError::Config(format!(
                "Transit key {name} is exportable or allows plaintext backup: refusing to use it"
            )));
        }
        Ok(key)
    }

    /// The public JWK of a role key version (cached; immutable).
    async fn public_of(&self, kid: &str) -> Result<PublicJwk, CustodyError> {
        if let Some(p) = self.publics.lock().ok().and_then(|m| m.get(kid).cloned()) {
            return Ok(p);
        }
        let key = self.transit_key(kid).await?.ok_or_else(|| {
            CustodyError::Config(format!("role key {kid} is in the lifecycle record but not in Transit"))
        })?;
        self.public_from(kid, &key)
    }

    fn public_from(&self, kid: &str, key: &TransitKey) -> Result<PublicJwk, CustodyError> {
        let pem = key
            .public_pems
            .get("1")
            .ok_or_else(|| CustodyError::Config(format!("Transit key {kid} has no version 1 public key")))?;
        let jwk = rsa_jwk(pem, kid)?;
        if let Ok(mut m) = self.publics.lock() {
            m.insert(kid.to_owned(), jwk.clone());
        }
        Ok(jwk)
    }

    /// The status of `kid` now (re-read on every operation).
    async fn version(&self, kid: &str) -> Result<VersionRecord, CustodyError> {
        let (role, n) = parse_kid(kid).ok_or_else(|| CustodyError::UnknownKid(kid.to_owned()))?;
        let (record, _) = self.read_role(role).await?;
        record.versions.get(&n).filter(|v| v.kid == kid).cloned().ok_or_else(|| CustodyError::UnknownKid(kid.into()))
    }

    /// What an exchange key in Transit is, checked: its type, non-exportable, and its
    /// version-1 public key as SubjectPublicKeyInfo.
    fn exchange_info(&self, id: &str, key: &TransitKey) -> Result<ExchangeKeyInfo, CustodyError> {
        let bad = |why: &str| CustodyError::Config(format!("Transit key {id} is not a usable exchange key: {why}"));
        let key_type = ExchangeKeyType::ALL
            .into_iter()
            .find(|t| exchange_transit_type(*t) == key.key_type)
            .ok_or_else(|| bad("its type is neither ed25519 nor rsa-2048"))?;
        if key.exportable || key.allow_plaintext_backup {
            return Err(bad("it is exportable or allows plaintext backup"));
        }
        if key.latest_version != 1 {
            return Err(bad("it was rotated (the exchange knows version 1 only)"));
        }
        let public = key.public_pems.get("1").ok_or_else(|| bad("no version 1 public key"))?;
        let public_spki = match key_type {
            ExchangeKeyType::Ed25519 => {
                let raw = STANDARD.decode(public.trim()).map_err(|_| bad("its public key is not base64"))?;
                exchange_key::ed25519_spki(&raw).ok_or_else(|| bad("its public key is not 32 bytes"))?
            }
            ExchangeKeyType::Rsa2048 => {
                let der = pem_der(public, "PUBLIC KEY").ok_or_else(|| bad("its public key is not a PEM public key"))?;
                let key = aws_lc_rs::rsa::PublicKey::from_der(&der).map_err(|_| bad("its public key is not RSA"))?;
                if key.modulus_len() != 256 {
                    return Err(bad("its modulus is not 2048 bits"));
                }
                der
            }
        };
        let created_at = key
            .created
            .as_deref()
            .and_then(sealgate_vocab::rfc3339_ms)
            .and_then(|ms| u64::try_from(ms / 1000).ok())
            .ok_or_else(|| bad("no creation time"))?;
        Ok(ExchangeKeyInfo {
            id: id.to_owned(),
            key_type,
            public_spki,
            created_at,
            exportability: Exportability::NonExportable,
        })
    }

    /// An exchange key by id (cached: immutable once created).
    async fn exchange_key(&self, id: &str) -> Result<ExchangeKeyInfo, CustodyError> {
        exchange_key::check_id(id)?;
        if let Some(k) = self.xkeys.lock().ok().and_then(|m| m.get(id).cloned()) {
            return Ok(k);
        }
        let key = self.transit_key(id).await?.ok_or_else(|| CustodyError::UnknownKid(id.to_owned()))?;
        let info = self.exchange_info(id, &key)?;
        if let Ok(mut m) = self.xkeys.lock() {
            m.insert(id.to_owned(), info.clone());
        }
        Ok(info)
    }

    async fn create_exchange_key(&self, key_type: ExchangeKeyType) -> Result<ExchangeKeyInfo, CustodyError> {
        let id = exchange_key::new_id()?;
        let key = self.ensure_transit_key(&id, exchange_transit_type(key_type)).await?;
        let info = self.exchange_info(&id, &key)?;
        if let Ok(mut m) = self.xkeys.lock() {
            m.insert(id, info.clone());
        }
        Ok(info)
    }

    async fn exchange_keys(&self) -> Result<Vec<ExchangeKeyInfo>, CustodyError> {
        let list = Method::from_bytes(b"LIST").map_err(|e| CustodyError::backend(BACKEND, "list Transit keys", e))?;
        let reply = self.call(list, &format!("v1/{}/keys", self.mount), None).await?;
        if reply.status == StatusCode::NOT_FOUND {
            return Ok(Vec::new());
        }
        if !reply.status.is_success() {
            return Err(reply.fail("list Transit keys"));
        }
        let v: Value = reply.json("parse the Transit key list")?;
        let ids: Vec<String> = v
            .pointer("/data/keys")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .filter(|k| exchange_key::check_id(k).is_ok())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(self.exchange_key(&id).await?);
        }
        out.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(out)
    }

    async fn exchange_sign(&self, id: &str, message: &[u8]) -> Result<Vec<u8>, CustodyError> {
        let info = self.exchange_key(id).await?;
        let mut body = json!({ "input": STANDARD.encode(message), "key_version": 1 });
        if info.key_type == ExchangeKeyType::Rsa2048 {
            body["hash_algorithm"] = json!("sha2-256");
            body["signature_algorithm"] = json!("pkcs1v15");
            body["prehashed"] = json!(false);
        }
        let reply = self.call(Method::POST, &format!("v1/{}/sign/{id}", self.mount), Some(&body)).await?;
        if !reply.status.is_success() {
            return Err(reply.fail("sign with a Transit exchange key"));
        }
        let v: Value = reply.json("parse the Transit signature")?;
        let bad = || CustodyError::Config("Transit signature is not vault:v1:<base64>".into());
        let sig = v.pointer("/data/signature").and_then(Value::as_str).ok_or_else(bad)?;
        let raw = STANDARD.decode(sig.strip_prefix("vault:v1:").ok_or_else(bad)?).map_err(|_| bad())?;
        exchange_key::checked(&info, message, raw, BACKEND)
    }

    async fn destroy_exchange_key(&self, id: &str) -> Result<(), CustodyError> {
        exchange_key::check_id(id)?;
        if self.transit_key(id).await?.is_none() {
            return Err(CustodyError::UnknownKid(id.to_owned()));
        }
        if let Ok(mut m) = self.xkeys.lock() {
            m.remove(id);
        }
        // Transit deletes only a key configured as deletable.
        let body = json!({ "deletion_allowed": true });
        let reply = self.call(Method::POST, &format!("v1/{}/keys/{id}/config", self.mount), Some(&body)).await?;
        if !reply.status.is_success() {
            return Err(reply.fail("allow the deletion of a Transit exchange key"));
        }
        let reply = self.call(Method::DELETE, &format!("v1/{}/keys/{id}", self.mount), None).await?;
        if !reply.status.is_success() {
            return Err(reply.fail("delete a Transit exchange key"));
        }
        Ok(())
    }

    async fn root_public(&self) -> Result<(u64, Value), CustodyError> {
        if let Some(r) = self.root.lock().ok().and_then(|r| r.clone()) {
            return Ok(r);
        }
        let key = self.ensure_transit_key(&self.root_key, "ecdsa-p256").await?;
        let latest = key.latest_version;
        let pem = key
            .public_pems
            .get(&latest.to_string())
            .ok_or_else(|| CustodyError::Config("Transit root key has no public key".into()))?;
        let jwk = p256_jwk(pem)?;
        if let Ok(mut r) = self.root.lock() {
            *r = Some((latest, jwk.clone()));
        }
        Ok((latest, jwk))
    }
}

impl Custody for OpenBaoCustody {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn default_role_key_type(&self) -> RoleKeyType {
        RoleKeyType::Rsa3072
    }

    fn keys(&self) -> CustodyFuture<'_, Vec<KeyInfo>> {
        Box::pin(async move {
            let mut out = Vec::new();
            for role in self.inner.list_roles().await? {
                let (record, _) = self.inner.read_role(&role).await?;
                for (n, v) in &record.versions {
                    out.push(KeyInfo {
                        kid: v.kid.clone(),
                        role: role.clone(),
                        version: *n,
                        status: v.status,
                        public: self.inner.public_of(&v.kid).await?,
                        created_at: v.created_at,
                    });
                }
            }
            Ok(out)
        })
    }

    fn decryption_key<'a>(&'a self, kid: &'a str) -> CustodyFuture<'a, Arc<dyn DecryptionKey>> {
        Box::pin(async move {
            let v = self.inner.version(kid).await?;
            if !v.status.can_open() {
                return Err(CustodyError::Status { kid: kid.into(), status: v.status, why: "it opens nothing" });
            }
            let public = self.inner.public_of(kid).await?;
            let KeyKind::Rsa { modulus_len } = public.kind() else {
                return Err(CustodyError::Config(format!("Transit key {kid} is not RSA")));
            };
            Ok(Arc::new(OpenBaoKey { inner: self.inner.clone(), kid: kid.to_owned(), modulus_len })
                as Arc<dyn DecryptionKey>)
        })
    }

    fn rotate<'a>(&'a self, role: &'a str, key_type: RoleKeyType) -> CustodyFuture<'a, KeyInfo> {
        Box::pin(async move {
            let ttype = transit_type(key_type)?;
            check_segment("role", role, false)?;
            for _ in 0..CAS_RETRIES {
                let (mut record, cas) = self.inner.read_role(role).await?;
                let n = record.versions.keys().next_back().map_or(1, |n| n + 1);
                let kid = format!("{role}-v{n}");
                // A key left by an interrupted rotation (or a lost CAS race)
                // is reused: it was never published.
                let key = self.inner.ensure_transit_key(&kid, ttype).await?;
                let public = self.inner.public_from(&kid, &key)?;
                for v in record.versions.values_mut() {
                    if v.status == KeyStatus::Active {
                        v.status = KeyStatus::DecryptOnly;
                    }
                }
                let created_at = now_secs();
                record
                    .versions
                    .insert(n, VersionRecord { kid: kid.clone(), status: KeyStatus::Active, created_at, key_type });
                if self.inner.write_role(&record, cas).await? {
                    return Ok(KeyInfo {
                        kid,
                        role: role.into(),
                        version: n,
                        status: KeyStatus::Active,
                        public,
                        created_at,
                    });
                }
            }
            Err(CustodyError::Config(format!("role {role} is being rotated concurrently: try again")))
        })
    }

    fn set_status<'a>(&'a self, kid: &'a str, status: KeyStatus) -> CustodyFuture<'a, ()> {
        Box::pin(async move {
            let (role, n) = parse_kid(kid).ok_or_else(|| CustodyError::UnknownKid(kid.to_owned()))?;
            for _ in 0..CAS_RETRIES {
                let (mut record, cas) = self.inner.read_role(role).await?;
                if record.versions.get(&n).is_none_or(|v| v.kid != kid) {
                    return Err(CustodyError::UnknownKid(kid.into()));
                }
                // One active version per role: making one active demotes the other.
                if status == KeyStatus::Active {
                    for (m, v) in record.versions.iter_mut() {
                        if *m != n && v.status == KeyStatus::Active {
                            v.status = KeyStatus::DecryptOnly;
                        }
                    }
                }
                if let Some(v) = record.versions.get_mut(&n) {
                    v.status = status;
                }
                if self.inner.write_role(&record, cas).await? {
                    return Ok(());
                }
            }
            Err(CustodyError::Config(format!("role {role} is being changed concurrently: try again")))
        })
    }

    fn exportability<'a>(&'a self, kid: &'a str) -> CustodyFuture<'a, Exportability> {
        Box::pin(async move {
            self.inner.version(kid).await?;
            let key = self.inner.transit_key(kid).await?.ok_or_else(|| CustodyError::UnknownKid(kid.into()))?;
            Ok(if key.exportable || key.allow_plaintext_backup {
                Exportability::SoftwareKey
            } else {
                Exportability::NonExportable
            })
        })
    }

    fn root_public(&self) -> CustodyFuture<'_, Value> {
        Box::pin(async move { Ok(self.inner.root_public().await?.1) })
    }

    fn root_sign<'a>(&'a self, message: &'a [u8]) -> CustodyFuture<'a, Vec<u8>> {
        Box::pin(async move {
            let (version, _) = self.inner.root_public().await?;
            let body = json!({
                "input": STANDARD.encode(message),
                "key_version": version,
                "marshaling_algorithm": "jws",
                "prehashed": false,
                "hash_algorithm": "sha2-256",
            });
            let path = format!("v1/{}/sign/{}", self.inner.mount, self.inner.root_key);
            let reply = self.inner.call(Method::POST, &path, Some(&body)).await?;
            if !reply.status.is_success() {
                return Err(reply.fail("sign with the Transit root key"));
            }
            let v: Value = reply.json("parse the Transit signature")?;
            let bad = || CustodyError::KeySet("Transit signature is not vault:vN:<base64url r||s>");
            let sig = v.pointer("/data/signature").and_then(Value::as_str).ok_or_else(bad)?;
            let b64 = sig.strip_prefix(&format!("vault:v{version}:")).ok_or_else(bad)?;
            let raw = URL_SAFE_NO_PAD.decode(b64.trim_end_matches('=')).map_err(|_| bad())?;
            if raw.len() != 64 {
                return Err(bad());
            }
            Ok(raw)
        })
    }

    fn create_exchange_key(&self, key_type: ExchangeKeyType) -> CustodyFuture<'_, ExchangeKeyInfo> {
        Box::pin(self.inner.create_exchange_key(key_type))
    }

    fn exchange_keys(&self) -> CustodyFuture<'_, Vec<ExchangeKeyInfo>> {
        Box::pin(self.inner.exchange_keys())
    }

    fn exchange_key<'a>(&'a self, id: &'a str) -> CustodyFuture<'a, Option<ExchangeKeyInfo>> {
        // Read from Transit, not the cache: another signer may have destroyed it.
        Box::pin(async move {
            exchange_key::check_id(id)?;
            let Some(key) = self.inner.transit_key(id).await? else {
                if let Ok(mut m) = self.inner.xkeys.lock() {
                    m.remove(id);
                }
                return Ok(None);
            };
            self.inner.exchange_info(id, &key).map(Some)
        })
    }

    fn exchange_sign<'a>(&'a self, id: &'a str, message: &'a [u8]) -> CustodyFuture<'a, Vec<u8>> {
        Box::pin(self.inner.exchange_sign(id, message))
    }

    fn destroy_exchange_key<'a>(&'a self, id: &'a str) -> CustodyFuture<'a, ()> {
        Box::pin(self.inner.destroy_exchange_key(id))
    }
}

/// A handle on one role key version in Transit.
struct OpenBaoKey {
    inner: Arc<Inner>,
    kid: String,
    modulus_len: usize,
}

impl fmt::Debug for OpenBaoKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenBaoKey").field("kid", &self.kid).finish_non_exhaustive()
    }
}

fn key_backend(e: CustodyError) -> KeyError {
    KeyError::Backend(Arc::new(e))
}

impl DecryptionKey for OpenBaoKey {
    fn kid(&self) -> Option<&str> {
        Some(&self.kid)
    }

    fn kind(&self) -> KeyKind {
        KeyKind::Rsa { modulus_len: self.modulus_len }
    }

    fn alg(&self) -> Option<KeyAlg> {
        Some(KeyAlg::RsaOaep256)
    }

    fn ecdh<'a>(&'a self, _epk: &'a EphemeralPublicKey) -> KeyFuture<'a, SharedSecret> {
        Box::pin(async { Err(KeyError::Unsupported("OpenBao Transit role keys are RSA (no ECDH)")) })
    }

    fn rsa_oaep_decrypt<'a>(&'a self, hash: OaepHash, wrapped: &'a [u8]) -> KeyFuture<'a, SecretBytes> {
        Box::pin(async move {
            if hash != OaepHash::Sha256 {
                return Err(KeyError::Unsupported("OpenBao Transit decrypts RSA-OAEP with SHA-256 only"));
            }
            // The status is checked on every operation (a disabled version
            // stops a handle already given out).
            let v = self.inner.version(&self.kid).await.map_err(key_backend)?;
            if !v.status.can_open() {
                return Err(key_backend(CustodyError::Status {
                    kid: self.kid.clone(),
                    status: v.status,
                    why: "it opens nothing",
                }));
            }
            let body = json!({ "ciphertext": format!("vault:v1:{}", STANDARD.encode(wrapped)) });
            let path = format!("v1/{}/decrypt/{}", self.inner.mount, self.kid);
            let reply = self.inner.call(Method::POST, &path, Some(&body)).await.map_err(key_backend)?;
            if !reply.status.is_success() {
                // Transit answers a failed OAEP check with 400/500 "failed to
                // RSA decrypt"; that is a crypto failure (random CEK follows).
                // Permission and availability problems stay backend errors.
                let err = reply.error();
                if matches!(reply.status, StatusCode::BAD_REQUEST | StatusCode::INTERNAL_SERVER_ERROR)
                    && err.message.contains("decrypt")
                {
                    return Err(KeyError::Crypto);
                }
                return Err(key_backend(CustodyError::backend(BACKEND, "decrypt with a Transit key", err)));
            }
            #[derive(Deserialize)]
            struct R {
                data: D,
            }
            #[derive(Deserialize)]
            struct D {
                plaintext: SecretString,
            }
            let r: R = reply.json("parse the Transit decrypt reply").map_err(key_backend)?;
            let mut cek = Zeroizing::new(vec![0u8; r.data.plaintext.expose_secret().len()]);
            let len =
                STANDARD.decode_slice(r.data.plaintext.expose_secret(), &mut cek[..]).map_err(|_| KeyError::Crypto)?;
            cek.truncate(len);
            Ok(SecretBytes::new(std::mem::take(&mut *cek)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kids_parse_back() {
        assert_eq!(parse_kid("trader-v3"), Some(("trader", 3)));
        assert_eq!(parse_kid("a-v2-v10"), Some(("a-v2", 10)));
        assert_eq!(parse_kid("trader-v03"), None);
        assert_eq!(parse_kid("trader-v0"), None);
        assert_eq!(parse_kid("../x-v1"), None);
        assert_eq!(parse_kid("trader"), None);
    }

    #[test]
    fn segments_are_checked() {
        assert!(check_segment("m", "transit", true).is_ok());
        assert!(check_segment("m", "team/transit", true).is_ok());
        assert!(check_segment("m", "team/../x", true).is_err());
        assert!(check_segment("m", "a/b", false).is_err());
        assert!(check_segment("m", "", false).is_err());
        assert!(check_segment("m", "a?b", false).is_err());
    }

    #[test]
    fn secrets_do_not_print() {
        let s = SecretString::from("hvs.very-secret".to_owned());
        assert!(!format!("{s:?}").contains("very-secret"));
    }
}
