//! The agent's keystore: one file, encrypted at rest under a passphrase.
//!
//! Layout (all integers big-endian):
//!
//! ```text
//!  offset len
//!      0   8  magic "SGAGENT1"
//!      8   4  argon2id m (KiB)
//!     12   4  argon2id t (passes)
//!     16   4  argon2id p (lanes)
//!     20  16  salt
//!     36  32  key check: SHA-256("sealgate-agent check" || key)
//!     68  12  AES-256-GCM nonce (random, new on every write)
//!     80   8  ciphertext length (with the 16-byte tag)
//!     88   …  ciphertext of the JSON body; AAD = bytes 0..88
//! ```
//!
//! The body is `{"entries":[…],"audit_key":S}`: the credentials, and the
//! agent's audit signing key (ES256, PKCS#8, base64url), which signs the
//! checkpoints of the agent's audit chain. A keystore written before the
//! audit key holds the bare entry list; it gets a key on first use
//! ([`Keystore::ensure_audit_key`]).
//!
//! The key check tells a wrong passphrase apart from a corrupted body; the
//! length tells a truncated file apart from both. Every write goes to a
//! temporary file (0600, fsynced) renamed over the keystore, after the
//! previous keystore is kept as `FILE.bak` — the method of the custody
//! crate's local keyring.

use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::digest;
use aws_lc_rs::rand::{SecureRandom as _, SystemRandom};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

const MAGIC: &[u8; 8] = b"SGAGENT1";
const HEADER: usize = 88;

/// Keystore errors, each saying what to do.
#[derive(Debug, thiserror::Error)]
pub enum KeystoreError {
    /// The passphrase does not open this keystore.
    #[error("wrong passphrase for keystore {0}")]
    WrongPassphrase(PathBuf),
    /// The file is damaged.
    #[error("keystore {path} is corrupted ({what}); restore the previous one: cp -p {path}.bak {path}")]
    Corrupted {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: &'static str,
    },
    /// The file is shorter than its header says.
    #[error("keystore {path} is truncated ({have} of {want} bytes); restore the previous one: cp -p {path}.bak {path}")]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Bytes present.
        have: usize,
        /// Bytes expected.
        want: usize,
    },
    /// No keystore yet.
    #[error("no keystore at {0}; add a credential first (`sealgate agent add`)")]
    NotFound(PathBuf),
    /// The keystore is readable by others.
    #[error("keystore {0} is readable by group or others; chmod 600 it")]
    Permissions(PathBuf),
    /// A label is already used.
    #[error("a credential labelled {0:?} already exists")]
    Exists(String),
    /// A label is unknown.
    #[error("no credential labelled {0:?}")]
    Unknown(String),
    /// Bad input.
    #[error("{0}")]
    Invalid(String),
    /// I/O.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The cause.
        source: io::Error,
    },
}

fn io_err(what: &'static str) -> impl FnOnce(io::Error) -> KeystoreError {
    move |source| KeystoreError::Io { what, source }
}

/// Argon2id cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory, KiB.
    pub m_kib: u32,
    /// Passes.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

impl KdfParams {
    /// m = 64 MiB, t = 3, p = 1.
    pub const DEFAULT: Self = Self { m_kib: 64 * 1024, t: 3, p: 1 };
    /// Cheap, for tests only.
    pub const TEST: Self = Self { m_kib: 8, t: 1, p: 1 };

    fn check(self) -> bool {
        (1..=16).contains(&self.p)
            && (1..=64).contains(&self.t)
            && self.m_kib >= 8 * self.p
            && self.m_kib <= 2 * 1024 * 1024
    }

    fn derive(self, passphrase: &[u8], salt: &[u8]) -> Result<Zeroizing<[u8; 32]>, KeystoreError> {
        let params = argon2::Params::new(self.m_kib, self.t, self.p, Some(32))
            .map_err(|_| KeystoreError::Invalid("argon2id parameters rejected".into()))?;
        let blocks = params.block_count();
        let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut memory = Zeroizing::new(vec![argon2::Block::default(); blocks]);
        let mut out = Zeroizing::new([0u8; 32]);
        argon
            .hash_password_into_with_memory(passphrase, salt, out.as_mut_slice(), &mut *memory)
            .map_err(|_| KeystoreError::Invalid("argon2id failed (passphrase too long?)".into()))?;
        Ok(out)
    }
}

/// A secret string: zeroized on drop, printed as `[REDACTED]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self::new)
    }
}

impl Secret {
    /// Wrap.
    pub fn new(s: String) -> Self {
        Self(Zeroizing::new(s))
    }
    /// The value.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// The secret fields of one credential (the exchanges crate's names).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Secrets {
    /// API key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<Secret>,
    /// API secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_secret: Option<Secret>,
    /// Passphrase (OKX, Coinbase Exchange).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passphrase: Option<Secret>,
    /// PEM private key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key: Option<Secret>,
    /// Key name (Coinbase CDP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_name: Option<Secret>,
}

impl Secrets {
    /// A credential for the exchanges crate (copies zeroized on drop).
    pub fn credential(&self) -> sealgate_exchanges::Credential {
        let f = |s: &Option<Secret>| s.as_ref().map(|s| secrecy::SecretString::from(s.expose().to_owned()));
        sealgate_exchanges::Credential {
            api_key: f(&self.api_key),
            api_secret: f(&self.api_secret),
            passphrase: f(&self.passphrase),
            private_key: f(&self.private_key),
            key_name: f(&self.key_name),
            held_key: None,
        }
    }

    /// A non-secret hint: the last 4 characters of the API key (or key name).
    pub fn hint(&self) -> String {
        let k = self.api_key.as_ref().or(self.key_name.as_ref()).map(Secret::expose).unwrap_or("");
        let n = k.chars().count();
        let tail: String = k.chars().skip(n.saturating_sub(4)).collect();
        format!("…{tail}")
    }
}

/// A rate limit.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Rate {
    /// Requests per window.
    pub max: u32,
    /// Window, ms.
    pub window_ms: u64,
}

/// One credential and its policy.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Entry {
    /// Unique label.
    pub label: String,
    /// Exchange id (`binance`, `kraken`, `okx`, `coinbase`, …).
    pub exchange: String,
    /// Non-secret hint.
    pub hint: String,
    /// Allowed classes (`read`, `trade`, `withdraw`).
    pub classes: Vec<String>,
    /// Symbol allow-list (exchange spelling); `None` = any.
    #[serde(default)]
    pub symbols: Option<Vec<String>>,
    /// Largest order notional, decimal string.
    #[serde(default)]
    pub max_notional: Option<String>,
    /// Rate limit.
    #[serde(default)]
    pub rate: Option<Rate>,
    /// When added, Unix ms.
    pub added_ms: u64,
    /// Lifetime in seconds from `added_ms`; `None` = forever.
    #[serde(default)]
    pub lifetime_s: Option<u64>,
    /// Classes whose every use the user confirms (the agent's confirm
    /// program); a subset of `classes`. Absent in keystores written before
    /// confirm-on-use: none.
    #[serde(default)]
    pub confirm: Vec<String>,
    /// Whether the `sign` op (the signed request handed to the client) is
    /// allowed: an explicit opt-in (`agent add --allow-sign`), and only for an
    /// exchange whose signature binds the whole request
    /// ([`sealgate_exchanges::check_sign`]). Absent in keystores written
    /// before: off. Clients use `request` (the agent signs and sends).
    #[serde(default)]
    pub allow_sign: bool,
    /// The secret fields.
    pub secrets: Secrets,
}

impl Entry {
    /// A credential with the default policy: classes read and trade, no
    /// symbol list, cap, rate limit, lifetime or confirmation; the hint is
    /// taken from the secrets.
    pub fn new(label: &str, exchange: &str, secrets: Secrets, added_ms: u64) -> Self {
        Self {
            label: label.to_owned(),
            exchange: exchange.to_owned(),
            hint: secrets.hint(),
            classes: vec!["read".into(), "trade".into()],
            symbols: None,
            max_notional: None,
            rate: None,
            added_ms,
            lifetime_s: None,
            confirm: Vec::new(),
            allow_sign: false,
            secrets,
        }
    }

    /// Whether the lifetime is over at `now_ms`.
    pub fn expired(&self, now_ms: u64) -> bool {
        self.lifetime_s.is_some_and(|s| now_ms >= self.added_ms.saturating_add(s.saturating_mul(1000)))
    }

    /// The policy of this entry.
    pub fn policy(&self, now_ms: u64) -> Result<sealgate_policy::CredentialPolicy, KeystoreError> {
        let scope = sealgate_policy::Scope::parse_list(&self.classes.join(","))
            .map_err(|e| KeystoreError::Invalid(format!("classes: {e}")))?;
        let mut p = sealgate_policy::CredentialPolicy::new(scope);
        if self.expired(now_ms) {
            p.status = sealgate_policy::CredentialStatus::Frozen;
        }
        Ok(p.with_limits(&self.limits()?))
    }

    /// The entry's limits, through the one limits parser (`sealgate_vocab::Limits`).
    pub fn limits(&self) -> Result<sealgate_policy::Limits, KeystoreError> {
        let rate = self.rate.map(|r| (i64::from(r.max), i64::try_from(r.window_ms).unwrap_or(i64::MAX)));
        sealgate_policy::Limits::parse(self.symbols.as_deref(), self.max_notional.as_deref(), rate)
            .map_err(|e| KeystoreError::Invalid(e.to_string()))
    }

    /// Whether a request of `class` (`read`, `trade`, …) needs the user's confirmation.
    pub fn needs_confirm(&self, class: &str) -> bool {
        self.confirm.iter().any(|c| c == class)
    }

    /// The confirm list must name allowed classes, each once.
    fn check_confirm(&self) -> Result<(), KeystoreError> {
        for (i, c) in self.confirm.iter().enumerate() {
            if !["read", "trade", "withdraw"].contains(&c.as_str()) {
                return Err(KeystoreError::Invalid(format!("confirm: unknown class {c:?} (read, trade, withdraw)")));
            }
            if !self.classes.contains(c) {
                return Err(KeystoreError::Invalid(format!(
                    "confirm: class {c:?} is not among the allowed classes {:?}",
                    self.classes
                )));
            }
            if self.confirm[..i].contains(c) {
                return Err(KeystoreError::Invalid(format!("confirm: class {c:?} given twice")));
            }
        }
        Ok(())
    }

    /// What may be shown: everything but the secrets.
    pub fn public(&self) -> serde_json::Value {
        serde_json::json!({
            "label": self.label, "exchange": self.exchange, "hint": self.hint, "classes": self.classes,
            "symbols": self.symbols, "max_notional": self.max_notional, "rate": self.rate,
            "added_ms": self.added_ms, "lifetime_s": self.lifetime_s, "confirm": self.confirm,
            "allow_sign": self.allow_sign,
        })
    }
}

/// An opened keystore.
pub struct Keystore {
    path: PathBuf,
    key: Zeroizing<[u8; 32]>,
    params: KdfParams,
    salt: [u8; 16],
    /// The credentials.
    pub entries: Vec<Entry>,
    /// The audit signing key (PKCS#8, base64url); `None` in a keystore
    /// written before it, until [`Keystore::ensure_audit_key`].
    audit_key: Option<Secret>,
}

/// The encrypted body as written.
#[derive(Serialize)]
struct BodyOut<'a> {
    entries: &'a [Entry],
    #[serde(skip_serializing_if = "Option::is_none")]
    audit_key: Option<&'a Secret>,
}

/// The encrypted body as read: the current object, or the bare entry list
/// of a keystore written before the audit key.
#[derive(Deserialize)]
#[serde(untagged)]
enum BodyIn {
    Current {
        entries: Vec<Entry>,
        #[serde(default)]
        audit_key: Option<Secret>,
    },
    Entries(Vec<Entry>),
}

/// The agent's audit signing key: ES256 (P-256), the algorithm of the
/// platform's checkpoints, so `sealgate audit verify` checks both alike.
pub struct AuditKey {
    pair: EcdsaKeyPair,
    public: sealgate_audit::RootKey,
}

impl fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuditKey({})", self.public().thumbprint())
    }
}

impl AuditKey {
    /// The public key, as the audit crate verifies with it.
    pub fn public(&self) -> &sealgate_audit::RootKey {
        &self.public
    }

    /// Sign a checkpoint (ES256, `r || s`).
    pub fn sign(&self, cp: &sealgate_audit::Checkpoint) -> Result<sealgate_audit::SignedCheckpoint, KeystoreError> {
        let sig = self
            .pair
            .sign(&SystemRandom::new(), &sealgate_audit::checkpoint_signing_input(cp))
            .map_err(|_| KeystoreError::Invalid("signing the audit checkpoint failed".into()))?;
        Ok(sealgate_audit::SignedCheckpoint { checkpoint: *cp, sig: sig.as_ref().to_vec() })
    }
}

fn new_audit_key() -> Result<Secret, KeystoreError> {
    let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
        .map_err(|_| KeystoreError::Invalid("generating the audit key failed".into()))?;
    Ok(Secret::new(B64.encode(doc.as_ref())))
}

impl fmt::Debug for Keystore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keystore").field("path", &self.path).field("entries", &self.entries.len()).finish()
    }
}

fn key_check(key: &[u8; 32]) -> digest::Digest {
    let mut c = digest::Context::new(&digest::SHA256);
    c.update(b"sealgate-agent check");
    c.update(key);
    c.finish()
}

fn random<const N: usize>() -> Result<[u8; N], KeystoreError> {
    let mut b = [0u8; N];
    SystemRandom::new().fill(&mut b).map_err(|_| KeystoreError::Invalid("no randomness".into()))?;
    Ok(b)
}

impl Keystore {
    /// A new, empty keystore (not written until [`Keystore::save`]).
    pub fn create(path: &Path, passphrase: &[u8], params: KdfParams) -> Result<Self, KeystoreError> {
        if path.exists() {
            return Err(KeystoreError::Invalid(format!("keystore {} already exists", path.display())));
        }
        let salt = random::<16>()?;
        let key = params.derive(passphrase, &salt)?;
        let audit_key = Some(new_audit_key()?);
        Ok(Self { path: path.to_owned(), key, params, salt, entries: Vec::new(), audit_key })
    }

    /// Open an existing keystore, or create one when `path` does not exist.
    pub fn open_or_create(path: &Path, passphrase: &[u8], params: KdfParams) -> Result<Self, KeystoreError> {
        match Self::open(path, passphrase) {
            Err(KeystoreError::NotFound(_)) => Self::create(path, passphrase, params),
            r => r,
        }
    }

    /// Open and decrypt.
    pub fn open(path: &Path, passphrase: &[u8]) -> Result<Self, KeystoreError> {
        let corrupted = |what| KeystoreError::Corrupted { path: path.to_owned(), what };
        let meta = match fs::metadata(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(KeystoreError::NotFound(path.to_owned())),
            r => r.map_err(io_err("read the keystore"))?,
        };
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(KeystoreError::Permissions(path.to_owned()));
        }
        let bytes = fs::read(path).map_err(io_err("read the keystore"))?;
        if bytes.len() < HEADER {
            if bytes.len() >= 8 && &bytes[..8] != MAGIC {
                return Err(corrupted("not an agent keystore"));
            }
            return Err(KeystoreError::Truncated { path: path.to_owned(), have: bytes.len(), want: HEADER });
        }
        if &bytes[..8] != MAGIC {
            return Err(corrupted("not an agent keystore"));
        }
        let u32_at = |o: usize| u32::from_be_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]);
        let params = KdfParams { m_kib: u32_at(8), t: u32_at(12), p: u32_at(16) };
        if !params.check() {
            return Err(corrupted("argon2id parameters out of range"));
        }
        let mut salt = [0u8; 16];
        salt.copy_from_slice(&bytes[20..36]);
        let mut len8 = [0u8; 8];
        len8.copy_from_slice(&bytes[80..88]);
        let ct_len = usize::try_from(u64::from_be_bytes(len8)).map_err(|_| corrupted("length"))?;
        let want = HEADER.checked_add(ct_len).ok_or_else(|| corrupted("length"))?;
        if bytes.len() < want {
            return Err(KeystoreError::Truncated { path: path.to_owned(), have: bytes.len(), want });
        }
        if bytes.len() > want || ct_len < 16 {
            return Err(corrupted("length does not match the header"));
        }
        let key = params.derive(passphrase, &salt)?;
        if key_check(&key).as_ref() != &bytes[36..68] {
            return Err(KeystoreError::WrongPassphrase(path.to_owned()));
        }
        let mut nonce = [0u8; 12];
        nonce.copy_from_slice(&bytes[68..80]);
        let aead = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key.as_slice()).map_err(|_| corrupted("key"))?);
        let mut buf = Zeroizing::new(bytes[HEADER..].to_vec());
        let plain = aead
            .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(&bytes[..HEADER]), &mut buf)
            .map_err(|_| corrupted("authentication failed"))?;
        let (entries, audit_key) = match serde_json::from_slice(plain).map_err(|_| corrupted("entries"))? {
            BodyIn::Current { entries, audit_key } => (entries, audit_key),
            BodyIn::Entries(entries) => (entries, None),
        };
        Ok(Self { path: path.to_owned(), key, params, salt, entries, audit_key })
    }

    /// Give the keystore an audit key if it has none (a keystore written
    /// before the audit key); `true` when one was made (then [`Keystore::save`]).
    pub fn ensure_audit_key(&mut self) -> Result<bool, KeystoreError> {
        if self.audit_key.is_some() {
            return Ok(false);
        }
        self.audit_key = Some(new_audit_key()?);
        Ok(true)
    }

    /// The audit signing key; `None` before [`Keystore::ensure_audit_key`]
    /// in a keystore written before it.
    pub fn audit_key(&self) -> Result<Option<AuditKey>, KeystoreError> {
        let corrupted = || KeystoreError::Corrupted { path: self.path.clone(), what: "audit key" };
        let Some(k) = &self.audit_key else { return Ok(None) };
        let der = Zeroizing::new(B64.decode(k.expose()).map_err(|_| corrupted())?);
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der).map_err(|_| corrupted())?;
        let public = sealgate_audit::RootKey::from_point(pair.public_key().as_ref()).map_err(|_| corrupted())?;
        Ok(Some(AuditKey { pair, public }))
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Encrypt and write atomically, keeping the previous file as `.bak`.
    pub fn save(&self) -> Result<(), KeystoreError> {
        let body = BodyOut { entries: &self.entries, audit_key: self.audit_key.as_ref() };
        let plain = Zeroizing::new(serde_json::to_vec(&body).map_err(|e| KeystoreError::Invalid(e.to_string()))?);
        self.save_body(&plain)
    }

    /// Encrypt `plain` as the body and write it (see [`Keystore::save`]).
    fn save_body(&self, plain: &[u8]) -> Result<(), KeystoreError> {
        let nonce = random::<12>()?;
        let mut out = Vec::with_capacity(HEADER + plain.len() + 16);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.params.m_kib.to_be_bytes());
        out.extend_from_slice(&self.params.t.to_be_bytes());
        out.extend_from_slice(&self.params.p.to_be_bytes());
        out.extend_from_slice(&self.salt);
        out.extend_from_slice(key_check(&self.key).as_ref());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&(plain.len() as u64 + 16).to_be_bytes());
        let aead = LessSafeKey::new(
            UnboundKey::new(&AES_256_GCM, self.key.as_slice()).map_err(|_| KeystoreError::Invalid("key".into()))?,
        );
        let mut ct = Zeroizing::new(plain.to_vec());
        aead.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(&out[..HEADER]), &mut *ct)
            .map_err(|_| KeystoreError::Invalid("encryption failed".into()))?;
        out.extend_from_slice(&ct);
        replace_file(&self.path, &out)
    }

    /// Add an entry (labels are unique).
    pub fn add(&mut self, e: Entry) -> Result<(), KeystoreError> {
        if self.entries.iter().any(|x| x.label == e.label) {
            return Err(KeystoreError::Exists(e.label));
        }
        sealgate_exchanges::scheme(&e.exchange).map_err(|x| KeystoreError::Invalid(x.to_string()))?;
        if e.allow_sign {
            // An opt-in that could never take effect is refused, not stored.
            sealgate_exchanges::check_sign(&e.exchange)
                .map_err(|x| KeystoreError::Invalid(format!("--allow-sign: {x}")))?;
        }
        e.policy(e.added_ms)?;
        e.check_confirm()?;
        self.entries.push(e);
        Ok(())
    }

    /// Remove an entry.
    pub fn remove(&mut self, label: &str) -> Result<(), KeystoreError> {
        let n = self.entries.len();
        self.entries.retain(|e| e.label != label);
        if self.entries.len() == n { Err(KeystoreError::Unknown(label.to_owned())) } else { Ok(()) }
    }
}

/// Replace `path` atomically, keeping the previous file as `path.bak` (the
/// shared private-file rule).
fn replace_file(path: &Path, bytes: &[u8]) -> Result<(), KeystoreError> {
    sealgate_hardening::private_file::replace_with_backup(path, bytes)
        .map_err(|source| KeystoreError::Io { what: "write the keystore", source })
}

pub(crate) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_audit_key_is_kept_and_an_old_keystore_gets_one() -> Result<(), Box<dyn std::error::Error>> {
        let dir = std::env::temp_dir().join(format!("sealgate-ks-audit-{}", std::process::id()));
        fs::create_dir_all(&dir)?;
        let path = dir.join("ks");
        let _ = fs::remove_file(&path);
        let ks = Keystore::create(&path, b"pw", KdfParams::TEST)?;
        let pin = ks.audit_key()?.ok_or("a new keystore has an audit key")?.public().thumbprint();
        ks.save()?;
        let mut again = Keystore::open(&path, b"pw")?;
        assert_eq!(again.audit_key()?.map(|k| k.public().thumbprint()), Some(pin.clone()));
        assert!(!again.ensure_audit_key()?, "kept, not replaced");
        assert!(!format!("{again:?}").contains(again.audit_key.as_ref().map_or("-", Secret::expose)));
        // A keystore written before the audit key: the bare entry list.
        again.save_body(&serde_json::to_vec(&again.entries)?)?;
        let mut old = Keystore::open(&path, b"pw")?;
        assert!(old.audit_key()?.is_none());
        assert!(old.ensure_audit_key()?);
        old.save()?;
        let new_pin = Keystore::open(&path, b"pw")?.audit_key()?.ok_or("key")?.public().thumbprint();
        assert_ne!(new_pin, pin);
        fs::remove_dir_all(&dir)?;
        Ok(())
    }
}
