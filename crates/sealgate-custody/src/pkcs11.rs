//! The `pkcs11` backend: role keys and the root key live in a PKCS#11
//! token (an HSM; SoftHSM2 in tests), generated there and marked
//! non-extractable. Only the private step of an open crosses the module
//! boundary: `CKM_ECDH1_DERIVE` returns the raw shared secret `Z` (the
//! Concat KDF runs in the envelope crate), `CKM_RSA_PKCS_OAEP` unwraps a CEK,
//! `CKM_ECDSA` signs the recipient key set.
//!
//! # What is stored in the token
//!
//! Everything the custody knows is in the token, so a custody reopened on
//! another machine (or after a restart) lists the same keys:
//!
//! | object | class | `CKA_LABEL` | `CKA_ID` | other |
//! |---|---|---|---|---|
//! | role key version | `CKO_PRIVATE_KEY` | kid | kid | `CKA_TOKEN`, `CKA_PRIVATE`, `CKA_SENSITIVE`, `CKA_EXTRACTABLE=false`, `CKA_DERIVE` (EC) or `CKA_DECRYPT` (RSA) |
//! | its public half | `CKO_PUBLIC_KEY` | kid | kid | `CKA_EC_POINT` / `CKA_MODULUS` |
//! | its metadata | `CKO_DATA` | `<kid> <status>` | — | `CKA_APPLICATION` = [`METADATA_APPLICATION`], `CKA_VALUE` = JSON `{role, version, created_at, key_type}`, `CKA_PRIVATE` |
//! | root key | `CKO_PRIVATE_KEY` / `CKO_PUBLIC_KEY` | [`ROOT_LABEL`] | [`ROOT_LABEL`] | P-256, `CKA_SIGN`, non-extractable |
//!
//! The kid of version *n* of role *r* is `r-vn`. The status sits in the
//! metadata object's label because `CKA_LABEL` is modifiable in every token
//! while a data object's `CKA_VALUE` need not be (SoftHSM refuses to change
//! it); a status change is one `C_SetAttributeValue`. The metadata object is the
//! source of truth for the list: key objects without one (left by a crash
//! between key generation and metadata creation) were never published and
//! are ignored, and replaced if their kid is generated again.
//!
//! # Status checks
//!
//! A handle from [`Custody::decryption_key`] reads the version's metadata
//! label from the token before every operation, so a status change made by
//! any process sharing the token (another signer of the fleet, the CLI)
//! stops it at once.
//!
//! # Sessions and blocking
//!
//! The custody opens `sessions` read-write sessions and logs the user in
//! once (PKCS#11 login state is per application and token). Each operation
//! takes a free session (round robin, then waits on one), so concurrent
//! opens do not serialize on one session. The trait's futures make their
//! PKCS#11 calls inline: they block the polling thread for the call's
//! duration (tens to hundreds of µs on SoftHSM, a network round trip on a
//! network HSM) and never return `Pending`. The crate has no runtime; a
//! caller that cannot afford that on its reactor threads wraps the call in
//! its runtime's `spawn_blocking`.
//!
//! One process holds one login per token: opening the same module and token
//! twice shares the sessions of the first open (the PIN is compared with the
//! first one in constant time; a different PIN is refused). If other code in
//! the process already logged in to the token, the PIN cannot be checked and
//! the open is refused.
//!
//! # Algorithms
//!
//! - ECDH P-256 and P-384: `CKM_ECDH1_DERIVE`, KDF `CKD_NULL`, the `epk`'s
//!   uncompressed point as public data; the result is derived as a session
//!   (`CKA_TOKEN=false`), extractable, non-sensitive generic secret whose
//!   `CKA_VALUE` is read and which is destroyed at once.
//! - X25519 is not implemented: it needs `CKM_EC_MONTGOMERY_KEY_PAIR_GEN`
//!   with `CKM_ECDH1_DERIVE` on Curve25519, which SoftHSM 2.6 (our test
//!   token) lacks, so the code could not be tested; rotation to X25519 is
//!   refused as unsupported.
//! - RSA-OAEP-256 (`Rsa3072`, `Rsa4096`): the key is generated in the token
//!   and probed with an OAEP-SHA-256 decryption; a token without SHA-256
//!   OAEP (SoftHSM 2.6 offers SHA-1 only) makes the rotation fail with
//!   [`CustodyError::Unsupported`] ("the token lacks RSA-OAEP with SHA-256")
//!   and the probe key is destroyed.
//! - Root key: ES256 as `CKM_ECDSA` over a SHA-256 digest computed here.
//!
//! SoftHSM is itself software: `CKA_EXTRACTABLE=false` is enforced by its
//! API, but its token files sit on the host (encrypted under the PIN).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, TryLockError, Weak};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as P11Error, RvError};
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::elliptic_curve::{EcKdf, Ecdh1DeriveParams};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use sealgate_envelope::secrecy::ExposeSecret as _;
use sealgate_envelope::{
    Curve, DecryptionKey, EphemeralPublicKey, KeyAlg, KeyError, KeyFuture, KeyKind, OaepHash, PublicJwk, SecretBytes,
    SharedSecret,
};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::exchange_key::{self, ExchangeKeyInfo, ExchangeKeyType};
use crate::{Custody, CustodyError, CustodyFuture, Exportability, KeyInfo, KeyStatus, RoleKeyType};

/// Backend name.
const BACKEND: &str = "pkcs11";
/// Where Debian's `softhsm2` package puts the module.
pub const DEFAULT_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
/// Sessions opened when the configuration does not say.
pub const DEFAULT_SESSIONS: usize = 4;
/// Most sessions one custody opens.
const MAX_SESSIONS: usize = 64;
/// `CKA_APPLICATION` of the metadata objects.
pub const METADATA_APPLICATION: &str = "sealgate-custody/key-version/v1";
/// `CKA_APPLICATION` of the exchange keys' metadata objects (`CKA_LABEL`: the key id).
pub const EXCHANGE_KEY_APPLICATION: &str = "sealgate-custody/exchange-key/v1";
/// DER of the Ed25519 OID, 1.3.101.112 (`CKA_EC_PARAMS` of an Edwards key).
const OID_ED25519: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
/// `CKA_LABEL` and `CKA_ID` of the root ES256 key pair.
pub const ROOT_LABEL: &str = "sealgate-root-es256";
/// Largest PIN file read.
const MAX_PIN_FILE: u64 = 1024;
/// Longest role name (the kid adds `-v` and a number; token labels are free length).
const MAX_ROLE: usize = 64;
/// Largest metadata value parsed.
const MAX_METADATA: usize = 4096;
/// DER of the named-curve OIDs (`CKA_EC_PARAMS`).
const OID_P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
/// What a token without SHA-256 OAEP cannot do (shared by rotation and the key handle).
const NO_OAEP256: &str =
    "use RSA role keys: the token lacks RSA-OAEP with SHA-256 (RSA-OAEP-256); use an EC role key (ecdh-p256)";
const NO_OAEP256_KEY: &str = "the token lacks RSA-OAEP with SHA-256";

/// Where the user PIN comes from. Never the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinSource {
    /// A file holding the PIN (one line; a trailing newline is ignored). It
    /// must not be readable by group or others.
    File(PathBuf),
    /// An environment variable holding the PIN.
    Env(String),
}

/// How to reach the token.
#[derive(Debug, Clone)]
pub struct Pkcs11Config {
    /// The PKCS#11 module (shared library), e.g. [`DEFAULT_MODULE`].
    pub module: PathBuf,
    /// The token's label (`softhsm2-util --init-token --label …`).
    pub token_label: String,
    /// Where the user PIN comes from.
    pub pin: PinSource,
    /// Sessions in the pool (1 to 64; [`DEFAULT_SESSIONS`] is a good start).
    pub sessions: usize,
}

impl Pkcs11Config {
    /// From the `[pkcs11]` section of the custody configuration file.
    pub fn from_section(s: &crate::config::Pkcs11Section) -> Result<Self, CustodyError> {
        let pin = match (&s.pin_file, &s.pin_env) {
            (Some(f), None) => PinSource::File(f.clone()),
            (None, Some(e)) => PinSource::Env(e.clone()),
            _ => return Err(CustodyError::Config("[pkcs11] needs exactly one of pin_file, pin_env".into())),
        };
        Ok(Self {
            module: s.module.clone(),
            token_label: s.token_label.clone(),
            pin,
            sessions: s.sessions.unwrap_or(DEFAULT_SESSIONS),
        })
    }
}

fn p11(what: &'static str) -> impl FnOnce(P11Error) -> CustodyError {
    move |e| CustodyError::backend(BACKEND, what, e)
}

fn rv(e: &P11Error) -> Option<RvError> {
    match e {
        P11Error::Pkcs11(rv, _) => Some(*rv),
        _ => None,
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a session or the write lock leaves nothing
    // half-written in memory (the token is the state): carry on.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

// ---------------------------------------------------------------- PIN

fn read_pin(source: &PinSource) -> Result<AuthPin, CustodyError> {
    let raw: Zeroizing<String> = match source {
        PinSource::Env(var) => Zeroizing::new(std::env::var(var).map_err(|_| {
            CustodyError::Config(format!("the PKCS#11 PIN environment variable {var} is not set (or not UTF-8)"))
        })?),
        PinSource::File(path) => read_pin_file(path)?,
    };
    let pin = raw.strip_suffix('\n').map(|p| p.strip_suffix('\r').unwrap_or(p)).unwrap_or(&raw);
    if pin.is_empty() {
        let from = match source {
            PinSource::Env(var) => format!("environment variable {var}"),
            PinSource::File(path) => format!("file {}", path.display()),
        };
        return Err(CustodyError::Config(format!("the PKCS#11 PIN {from} is empty")));
    }
    Ok(AuthPin::from(pin.to_owned()))
}

fn read_pin_file(path: &Path) -> Result<Zeroizing<String>, CustodyError> {
    use std::io::Read as _;
    let cannot =
        |e: std::io::Error| CustodyError::Config(format!("cannot read the PKCS#11 PIN file {}: {e}", path.display()));
    let file = std::fs::File::open(path).map_err(cannot)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = file.metadata().map_err(cannot)?.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(CustodyError::Config(format!(
                "the PKCS#11 PIN file {} is accessible by group or others (mode {:o}); chmod 600 it",
                path.display(),
                mode & 0o777
            )));
        }
        sealgate_hardening::check_strict_modes(path, true)
            .map_err(|e| CustodyError::Config(format!("the PKCS#11 PIN file: {e}")))?;
    }
    let mut buf = Zeroizing::new(Vec::new());
    file.take(MAX_PIN_FILE + 1).read_to_end(&mut buf).map_err(cannot)?;
    if buf.len() as u64 > MAX_PIN_FILE {
        return Err(CustodyError::Config(format!("the PKCS#11 PIN file {} is larger than 1 KiB", path.display())));
    }
    let text = std::str::from_utf8(&buf)
        .map_err(|_| CustodyError::Config(format!("the PKCS#11 PIN file {} is not UTF-8", path.display())))?;
    Ok(Zeroizing::new(text.to_owned()))
}

// ---------------------------------------------------------------- process-wide state

/// One initialized context per module: `C_Initialize` may run once per
/// process, and a context is never finalized (other opens may share it).
fn context(module: &Path) -> Result<Pkcs11, CustodyError> {
    static CONTEXTS: Mutex<Vec<(PathBuf, Pkcs11)>> = Mutex::new(Vec::new());
    let mut contexts = lock(&CONTEXTS);
    if let Some((_, ctx)) = contexts.iter().find(|(p, _)| p == module) {
        return Ok(ctx.clone());
    }
    let ctx = Pkcs11::new(module).map_err(|e| {
        CustodyError::Config(format!(
            "cannot load the PKCS#11 module {} ({e}); install it (scripts/setup-softhsm.sh for SoftHSM2) or set [pkcs11] module",
            module.display()
        ))
    })?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) => {}
        Err(e) if rv(&e) == Some(RvError::CryptokiAlreadyInitialized) => {}
        Err(e) => return Err(p11("initialize the module")(e)),
    }
    contexts.push((module.to_owned(), ctx.clone()));
    Ok(ctx)
}

type TokenKey = (PathBuf, String);

/// Tokens open in this process, so a second open shares the login. Also
/// held while a token's sessions close, so a reopen never races the logout.
static TOKENS: Mutex<Vec<(TokenKey, Weak<Token>)>> = Mutex::new(Vec::new());

// ---------------------------------------------------------------- the token

/// A logged-in token: its session pool and what the custody caches.
struct Token {
    key: TokenKey,
    pin: AuthPin,
    sessions: Vec<Mutex<Session>>,
    next: AtomicUsize,
    mechanisms: Vec<MechanismType>,
    /// Serializes rotation, status changes and root creation in this process.
    write: Mutex<()>,
    /// Object handles of versions seen (token object handles stay valid for
    /// the whole application).
    versions: RwLock<HashMap<String, Arc<Version>>>,
    root: RwLock<Option<Arc<Root>>>,
    /// Exchange keys seen, by id.
    xkeys: RwLock<HashMap<String, Arc<XVersion>>>,
}

/// What does not change about an exchange key, stored as JSON in the `CKA_VALUE` of its
/// `CKO_DATA` object (application [`EXCHANGE_KEY_APPLICATION`], label the id).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct XMeta {
    key_type: ExchangeKeyType,
    created_at: u64,
}

/// An exchange key's objects, as found in the token.
struct XVersion {
    info: ExchangeKeyInfo,
    private: ObjectHandle,
}

impl Drop for Token {
    fn drop(&mut self) {
        let mut tokens = lock(&TOKENS);
        // Closing the last session logs the user out.
        self.sessions.clear();
        tokens.retain(|(k, w)| !(k == &self.key && w.strong_count() == 0));
    }
}

impl Token {
    /// Run `f` on a free session: round robin from a rotating start, then
    /// wait for the start one.
    fn with_session<T>(&self, f: impl FnOnce(&Session) -> T) -> T {
        let n = self.sessions.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        for i in 0..n {
            match self.sessions[(start + i) % n].try_lock() {
                Ok(s) => return f(&s),
                Err(TryLockError::Poisoned(p)) => return f(&p.into_inner()),
                Err(TryLockError::WouldBlock) => {}
            }
        }
        f(&lock(&self.sessions[start]))
    }

    fn has(&self, m: MechanismType) -> bool {
        self.mechanisms.contains(&m)
    }
}

/// What does not change about a version, stored as JSON in the
/// `CKA_VALUE` of its `CKO_DATA` object (immutable in SoftHSM, as the
/// standard allows). The status lives in the object's `CKA_LABEL`
/// (`"<kid> <status>"`), which PKCS#11 lets us modify in place.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Meta {
    role: String,
    version: u32,
    created_at: u64,
    key_type: RoleKeyType,
}

/// One metadata object as read.
struct Entry {
    kid: String,
    handle: ObjectHandle,
    meta: Meta,
    status: KeyStatus,
}

fn meta_label(kid: &str, status: KeyStatus) -> Vec<u8> {
    format!("{kid} {status}").into_bytes()
}

/// `(kid, status)` from a metadata label.
fn parse_label(label: &[u8]) -> Result<(String, KeyStatus), CustodyError> {
    let bad = || CustodyError::Config("a key metadata object in the token has a malformed label".into());
    let text = std::str::from_utf8(label).map_err(|_| bad())?;
    let (kid, status) = text.rsplit_once(' ').ok_or_else(bad)?;
    Ok((kid.to_owned(), KeyStatus::parse(status).ok_or_else(bad)?))
}

impl Meta {
    fn to_bytes(&self) -> Result<Vec<u8>, CustodyError> {
        serde_json::to_vec(self).map_err(|_| CustodyError::Config("cannot encode key metadata".into()))
    }

    fn parse(kid: &str, bytes: &[u8]) -> Result<Self, CustodyError> {
        if bytes.len() > MAX_METADATA {
            return Err(CustodyError::Config(format!("metadata of key version {kid:?} in the token is too large")));
        }
        serde_json::from_slice(bytes)
            .map_err(|_| CustodyError::Config(format!("metadata of key version {kid:?} in the token is malformed")))
    }
}

/// A version's objects, as found in the token.
struct Version {
    kid: String,
    meta: ObjectHandle,
    private: ObjectHandle,
    public: PublicJwk,
}

/// The root key pair.
struct Root {
    private: ObjectHandle,
    public: Value,
}

fn kid_of(role: &str, version: u32) -> String {
    format!("{role}-v{version}")
}

fn check_role(role: &str) -> Result<(), CustodyError> {
    let ok = !role.is_empty()
        && role.len() <= MAX_ROLE
        && role.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(CustodyError::Config(format!("role name {role:?} must be 1 to {MAX_ROLE} characters of A-Z a-z 0-9 - _ .")))
    }
}

fn curve_of(t: RoleKeyType) -> Option<Curve> {
    match t {
        RoleKeyType::EcdhP256 => Some(Curve::P256),
        RoleKeyType::EcdhP384 => Some(Curve::P384),
        RoleKeyType::EcdhX25519 => Some(Curve::X25519),
        RoleKeyType::Rsa3072 | RoleKeyType::Rsa4096 => None,
    }
}

fn curve_oid(c: Curve) -> Option<&'static [u8]> {
    match c {
        Curve::P256 => Some(OID_P256),
        Curve::P384 => Some(OID_P384),
        _ => None,
    }
}

/// The uncompressed point from `CKA_EC_POINT`: DER `OCTET STRING` (what
/// the standard says) or the raw point (what some tokens return).
fn ec_point(c: Curve, attr: &[u8]) -> Option<(&[u8], &[u8])> {
    let n = c.coord_len();
    let raw = if attr.len() == 1 + 2 * n {
        attr
    } else if attr.len() == 3 + 2 * n && attr[0] == 0x04 && usize::from(attr[1]) == 1 + 2 * n {
        &attr[2..]
    } else {
        return None;
    };
    (raw[0] == 0x04).then(|| (&raw[1..1 + n], &raw[1 + n..]))
}

/// Attempts at one attribute read. Another session (a second signer, `custody rotate`
/// while `serve` runs) may rewrite the object while this one reads it:
/// C_GetAttributeValue is two calls (the length, then the bytes), and a label that grew
/// between them leaves the buffer too small; SoftHSM's file store also reports the handle
/// invalid while it re-reads an object another handle rewrote. Both pass within
/// milliseconds; an object really destroyed stays invalid and the error is returned.
const READ_ATTEMPTS: u32 = 8;

fn get_bytes(s: &Session, obj: ObjectHandle, t: AttributeType) -> Result<Option<Vec<u8>>, P11Error> {
    let mut attempt = 1;
    let attrs = loop {
        match s.get_attributes(obj, &[t]) {
            Err(P11Error::Pkcs11(RvError::BufferTooSmall | RvError::ObjectHandleInvalid, _))
                if attempt < READ_ATTEMPTS =>
            {
                std::thread::sleep(std::time::Duration::from_millis(u64::from(attempt)));
                attempt += 1;
            }
            other => break other?,
        }
    };
    Ok(attrs.into_iter().find_map(|a| match a {
        Attribute::Value(v)
        | Attribute::EcPoint(v)
        | Attribute::EcParams(v)
        | Attribute::Label(v)
        | Attribute::Modulus(v)
        | Attribute::PublicExponent(v) => Some(v),
        _ => None,
    }))
}

fn get_bool(s: &Session, obj: ObjectHandle, t: AttributeType) -> Result<Option<bool>, P11Error> {
    Ok(s.get_attributes(obj, &[t])?.into_iter().find_map(|a| match a {
        Attribute::Extractable(b)
        | Attribute::Sensitive(b)
        | Attribute::NeverExtractable(b)
        | Attribute::AlwaysSensitive(b) => Some(b),
        _ => None,
    }))
}

fn find_one(s: &Session, template: &[Attribute], what: &str) -> Result<Option<ObjectHandle>, CustodyError> {
    let found = s.find_objects(template).map_err(p11("find objects"))?;
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        _ => Err(CustodyError::Config(format!("the token holds more than one {what}; remove the duplicates"))),
    }
}

fn meta_search() -> [Attribute; 2] {
    [Attribute::Class(ObjectClass::DATA), Attribute::Application(METADATA_APPLICATION.as_bytes().to_vec())]
}

fn key_template(class: ObjectClass, id: &str) -> Vec<Attribute> {
    vec![Attribute::Class(class), Attribute::Id(id.as_bytes().to_vec())]
}

/// The public JWK of a version from its public key object.
fn read_public(s: &Session, kid: &str, meta: &Meta) -> Result<(ObjectHandle, PublicJwk), CustodyError> {
    let missing = || CustodyError::Config(format!("the token lacks the key objects of version {kid:?}"));
    let public = find_one(s, &key_template(ObjectClass::PUBLIC_KEY, kid), "public key per kid")?.ok_or_else(missing)?;
    let jwk = match curve_of(meta.key_type) {
        Some(curve) => {
            let point = get_bytes(s, public, AttributeType::EcPoint).map_err(p11("read a public key"))?;
            let (x, y) = point.as_deref().and_then(|p| ec_point(curve, p)).ok_or_else(missing)?;
            json!({"kty": "EC", "crv": curve.name(), "x": B64.encode(x), "y": B64.encode(y)})
        }
        None => {
            let n = get_bytes(s, public, AttributeType::Modulus).map_err(p11("read a public key"))?;
            let e = get_bytes(s, public, AttributeType::PublicExponent).map_err(p11("read a public key"))?;
            let (n, e) = n.zip(e).ok_or_else(missing)?;
            json!({"kty": "RSA", "n": B64.encode(n), "e": B64.encode(e)})
        }
    };
    let mut jwk = jwk;
    let alg = match meta.key_type {
        RoleKeyType::Rsa3072 | RoleKeyType::Rsa4096 => KeyAlg::RsaOaep256,
        _ => KeyAlg::EcdhEsA256Kw,
    };
    if let Some(o) = jwk.as_object_mut() {
        o.insert("kid".into(), kid.into());
        o.insert("use".into(), "enc".into());
        o.insert("alg".into(), alg.name().into());
    }
    let bytes = serde_json::to_vec(&jwk).map_err(|_| missing())?;
    let public_jwk = PublicJwk::from_json(&bytes)
        .map_err(|_| CustodyError::Config(format!("the public key of version {kid:?} in the token is invalid")))?;
    Ok((public, public_jwk))
}

fn read_meta(s: &Session, kid: &str, meta: ObjectHandle) -> Result<Meta, CustodyError> {
    let v = get_bytes(s, meta, AttributeType::Value)
        .map_err(p11("read key metadata"))?
        .ok_or_else(|| CustodyError::Config(format!("metadata of key version {kid:?} has no value")))?;
    let m = Meta::parse(kid, &v)?;
    if kid_of(&m.role, m.version) != kid {
        return Err(CustodyError::Config(format!("metadata of key version {kid:?} names another version")));
    }
    Ok(m)
}

/// The status of version `kid` now, from its metadata label.
fn read_status(s: &Session, kid: &str, meta: ObjectHandle) -> Result<KeyStatus, CustodyError> {
    let label = get_bytes(s, meta, AttributeType::Label).map_err(p11("read key status"))?.unwrap_or_default();
    let (found, status) = parse_label(&label)?;
    if found != kid {
        return Err(CustodyError::Config(format!("the metadata object of {kid:?} now names {found:?}")));
    }
    Ok(status)
}

fn write_status(s: &Session, e: &Entry, status: KeyStatus) -> Result<(), CustodyError> {
    s.update_attributes(e.handle, &[Attribute::Label(meta_label(&e.kid, status))]).map_err(p11("update key status"))
}

impl Token {
    fn cached(&self, kid: &str) -> Option<Arc<Version>> {
        self.versions.read().unwrap_or_else(PoisonError::into_inner).get(kid).cloned()
    }

    /// A version by kid, from the cache or the token (`None`: unknown).
    fn version(&self, s: &Session, kid: &str) -> Result<Option<Arc<Version>>, CustodyError> {
        if let Some(v) = self.cached(kid) {
            return Ok(Some(v));
        }
        match self.all_meta(s)?.into_iter().find(|e| e.kid == kid) {
            Some(e) => self.load_version(s, &e).map(Some),
            None => Ok(None),
        }
    }

    fn load_version(&self, s: &Session, e: &Entry) -> Result<Arc<Version>, CustodyError> {
        let kid = e.kid.as_str();
        let (_, public) = read_public(s, kid, &e.meta)?;
        let private = find_one(s, &key_template(ObjectClass::PRIVATE_KEY, kid), "private key per kid")?
            .ok_or_else(|| CustodyError::Config(format!("the token lacks the private key of version {kid:?}")))?;
        let v = Arc::new(Version { kid: kid.to_owned(), meta: e.handle, private, public });
        self.versions.write().unwrap_or_else(PoisonError::into_inner).insert(kid.to_owned(), v.clone());
        Ok(v)
    }

    /// Every metadata object.
    fn all_meta(&self, s: &Session) -> Result<Vec<Entry>, CustodyError> {
        let mut out: Vec<Entry> = Vec::new();
        for handle in s.find_objects(&meta_search()).map_err(p11("find key metadata"))? {
            let label = get_bytes(s, handle, AttributeType::Label).map_err(p11("read key metadata"))?;
            let (kid, status) = parse_label(&label.unwrap_or_default())?;
            let meta = read_meta(s, &kid, handle)?;
            if out.iter().any(|e| e.kid == kid) {
                return Err(CustodyError::Config(format!(
                    "the token holds two metadata objects for {kid:?}; remove one"
                )));
            }
            out.push(Entry { kid, handle, meta, status });
        }
        Ok(out)
    }

    fn keys(&self) -> Result<Vec<KeyInfo>, CustodyError> {
        self.with_session(|s| {
            let mut out = Vec::new();
            for e in self.all_meta(s)? {
                let v = match self.cached(&e.kid).filter(|v| v.meta == e.handle) {
                    Some(v) => v,
                    None => self.load_version(s, &e)?,
                };
                out.push(info(&v, e.meta, e.status));
            }
            out.sort_by(|a, b| (&a.role, a.version).cmp(&(&b.role, b.version)));
            Ok(out)
        })
    }

    fn decryption_key(self: &Arc<Self>, kid: &str) -> Result<Arc<dyn DecryptionKey>, CustodyError> {
        let v = self.with_session(|s| {
            let v = self.version(s, kid)?.ok_or_else(|| CustodyError::UnknownKid(kid.to_owned()))?;
            let status = read_status(s, kid, v.meta)?;
            if !status.can_open() {
                return Err(CustodyError::Status { kid: kid.to_owned(), status, why: "it opens nothing" });
            }
            Ok(v)
        })?;
        Ok(Arc::new(Pkcs11Key { token: self.clone(), version: v }))
    }

    fn set_status(&self, kid: &str, status: KeyStatus) -> Result<(), CustodyError> {
        let _w = lock(&self.write);
        self.with_session(|s| {
            let all = self.all_meta(s)?;
            let this = all.iter().find(|e| e.kid == kid).ok_or_else(|| CustodyError::UnknownKid(kid.to_owned()))?;
            if status == KeyStatus::Active {
                // One active version per role: the others become decrypt-only.
                for e in &all {
                    if e.kid != kid && e.meta.role == this.meta.role && e.status == KeyStatus::Active {
                        write_status(s, e, KeyStatus::DecryptOnly)?;
                    }
                }
            }
            write_status(s, this, status)
        })
    }

    fn rotate(&self, role: &str, key_type: RoleKeyType) -> Result<KeyInfo, CustodyError> {
        check_role(role)?;
        self.check_key_type(key_type)?;
        let _w = lock(&self.write);
        self.with_session(|s| {
            let all = self.all_meta(s)?;
            let version = all.iter().filter(|e| e.meta.role == role).map(|e| e.meta.version).max().unwrap_or(0) + 1;
            let kid = kid_of(role, version);
            if all.iter().any(|e| e.kid == kid) {
                return Err(CustodyError::Config(format!("the token already holds metadata for {kid:?}")));
            }
            // Key objects without metadata were never published (a crash
            // between generation and metadata): replace them.
            for class in [ObjectClass::PRIVATE_KEY, ObjectClass::PUBLIC_KEY] {
                for h in s.find_objects(&key_template(class, &kid)).map_err(p11("find objects"))? {
                    s.destroy_object(h).map_err(p11("remove an unpublished key"))?;
                }
            }
            let (public_h, private_h) = generate(s, &kid, key_type)?;
            if matches!(key_type, RoleKeyType::Rsa3072 | RoleKeyType::Rsa4096)
                && let Err(e) = probe_oaep256(s, public_h, private_h)
            {
                let _ = s.destroy_object(private_h);
                let _ = s.destroy_object(public_h);
                return Err(e);
            }
            let meta = Meta { role: role.to_owned(), version, created_at: now_secs(), key_type };
            let mut template = meta_search().to_vec();
            template.extend([
                Attribute::Label(meta_label(&kid, KeyStatus::Active)),
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Modifiable(true),
                Attribute::Value(meta.to_bytes()?),
            ]);
            let handle = s.create_object(&template).map_err(p11("store key metadata"))?;
            for e in &all {
                if e.meta.role == role && e.status == KeyStatus::Active {
                    write_status(s, e, KeyStatus::DecryptOnly)?;
                }
            }
            let entry = Entry { kid, handle, meta, status: KeyStatus::Active };
            let v = self.load_version(s, &entry)?;
            Ok(info(&v, entry.meta, entry.status))
        })
    }

    fn check_key_type(&self, t: RoleKeyType) -> Result<(), CustodyError> {
        let unsupported = |what| Err(CustodyError::Unsupported { backend: BACKEND, what });
        match t {
            RoleKeyType::EcdhP256 | RoleKeyType::EcdhP384 => {
                if !self.has(MechanismType::ECC_KEY_PAIR_GEN) || !self.has(MechanismType::ECDH1_DERIVE) {
                    return unsupported("make EC role keys: the token lacks CKM_EC_KEY_PAIR_GEN or CKM_ECDH1_DERIVE");
                }
            }
            RoleKeyType::EcdhX25519 => {
                return unsupported(
                    "make X25519 role keys: not implemented for PKCS#11 (SoftHSM 2.6, the token we test with, lacks CKM_EC_MONTGOMERY_KEY_PAIR_GEN); use ecdh-p256",
                );
            }
            RoleKeyType::Rsa3072 | RoleKeyType::Rsa4096 => {
                if !self.has(MechanismType::RSA_PKCS_KEY_PAIR_GEN) || !self.has(MechanismType::RSA_PKCS_OAEP) {
                    return unsupported(NO_OAEP256);
                }
            }
        }
        Ok(())
    }

    fn exportability(&self, kid: &str) -> Result<Exportability, CustodyError> {
        self.with_session(|s| {
            let v = self.version(s, kid)?.ok_or_else(|| CustodyError::UnknownKid(kid.to_owned()))?;
            exportability_of(s, v.private)
        })
    }

    fn root(&self) -> Result<Arc<Root>, CustodyError> {
        if let Some(r) = self.root.read().unwrap_or_else(PoisonError::into_inner).as_ref() {
            return Ok(r.clone());
        }
        let _w = lock(&self.write);
        let root = self.with_session(|s| {
            let find = |class| find_one(s, &key_template(class, ROOT_LABEL), "root key");
            let (public, private) = match (find(ObjectClass::PUBLIC_KEY)?, find(ObjectClass::PRIVATE_KEY)?) {
                (Some(p), Some(k)) => (p, k),
                (None, None) => {
                    if !self.has(MechanismType::ECC_KEY_PAIR_GEN) || !self.has(MechanismType::ECDSA) {
                        return Err(CustodyError::Unsupported {
                            backend: BACKEND,
                            what: "make the root key: the token lacks CKM_EC_KEY_PAIR_GEN or CKM_ECDSA",
                        });
                    }
                    generate(s, ROOT_LABEL, RootKeyType)?
                }
                _ => {
                    return Err(CustodyError::Config(format!(
                        "the token holds half of the root key pair {ROOT_LABEL:?}; remove it to make a new root"
                    )));
                }
            };
            let params = get_bytes(s, public, AttributeType::EcParams).map_err(p11("read the root key"))?;
            if params.as_deref() != Some(OID_P256) {
                return Err(CustodyError::Config(format!("the root key {ROOT_LABEL:?} in the token is not P-256")));
            }
            let point = get_bytes(s, public, AttributeType::EcPoint).map_err(p11("read the root key"))?;
            let (x, y) = point
                .as_deref()
                .and_then(|p| ec_point(Curve::P256, p))
                .ok_or_else(|| CustodyError::Config("the root key's public point is malformed".into()))?;
            let public = json!({
                "kty": "EC", "crv": "P-256", "x": B64.encode(x), "y": B64.encode(y),
                "use": "sig", "alg": "ES256", "kid": ROOT_LABEL,
            });
            Ok(Arc::new(Root { private, public }))
        })?;
        *self.root.write().unwrap_or_else(PoisonError::into_inner) = Some(root.clone());
        Ok(root)
    }

    fn root_sign(&self, message: &[u8]) -> Result<Vec<u8>, CustodyError> {
        let root = self.root()?;
        let hash = digest::digest(&digest::SHA256, message);
        let sig = self
            .with_session(|s| s.sign(&Mechanism::Ecdsa, root.private, hash.as_ref()))
            .map_err(p11("sign with the root key"))?;
        if sig.len() != 64 {
            return Err(CustodyError::Config(format!(
                "the token returned a {}-byte ECDSA P-256 signature, not 64",
                sig.len()
            )));
        }
        Ok(sig)
    }
}

fn info(v: &Version, meta: Meta, status: KeyStatus) -> KeyInfo {
    KeyInfo {
        kid: v.kid.clone(),
        role: meta.role,
        version: meta.version,
        status,
        public: v.public.clone(),
        created_at: meta.created_at,
    }
}

/// What [`generate`] makes.
trait KeySpec {
    fn spec(&self) -> (Mechanism<'static>, Vec<Attribute>, Vec<Attribute>);
}

/// The root key: P-256, sign only.
struct RootKeyType;

impl KeySpec for RootKeyType {
    fn spec(&self) -> (Mechanism<'static>, Vec<Attribute>, Vec<Attribute>) {
        (
            Mechanism::EccKeyPairGen,
            vec![Attribute::EcParams(OID_P256.to_vec()), Attribute::Verify(true)],
            vec![Attribute::Sign(true), Attribute::Derive(false), Attribute::Decrypt(false)],
        )
    }
}

impl KeySpec for RoleKeyType {
    fn spec(&self) -> (Mechanism<'static>, Vec<Attribute>, Vec<Attribute>) {
        match (curve_of(*self).and_then(curve_oid), self) {
            (Some(oid), _) => (
                Mechanism::EccKeyPairGen,
                vec![Attribute::EcParams(oid.to_vec()), Attribute::Verify(false)],
                vec![Attribute::Derive(true), Attribute::Sign(false), Attribute::Decrypt(false)],
            ),
            (None, t) => {
                let bits = if matches!(t, RoleKeyType::Rsa4096) { 4096 } else { 3072 };
                (
                    Mechanism::RsaPkcsKeyPairGen,
                    vec![
                        Attribute::ModulusBits(bits.into()),
                        Attribute::PublicExponent(vec![0x01, 0x00, 0x01]),
                        Attribute::Encrypt(true),
                        Attribute::Verify(false),
                    ],
                    vec![Attribute::Decrypt(true), Attribute::Sign(false), Attribute::Derive(false)],
                )
            }
        }
    }
}

impl KeySpec for ExchangeKeyType {
    fn spec(&self) -> (Mechanism<'static>, Vec<Attribute>, Vec<Attribute>) {
        let private = vec![Attribute::Sign(true), Attribute::Decrypt(false), Attribute::Derive(false)];
        match self {
            Self::Ed25519 => (
                Mechanism::EccEdwardsKeyPairGen,
                vec![Attribute::EcParams(OID_ED25519.to_vec()), Attribute::Verify(true)],
                private,
            ),
            Self::Rsa2048 => (
                Mechanism::RsaPkcsKeyPairGen,
                vec![
                    Attribute::ModulusBits(2048.into()),
                    Attribute::PublicExponent(vec![0x01, 0x00, 0x01]),
                    Attribute::Verify(true),
                    Attribute::Encrypt(false),
                ],
                private,
            ),
        }
    }
}

/// The public key of an exchange key pair, as SubjectPublicKeyInfo.
fn exchange_public(s: &Session, public: ObjectHandle, key_type: ExchangeKeyType) -> Result<Vec<u8>, CustodyError> {
    let bad = || CustodyError::Config("an exchange key's public key in the token is malformed".into());
    match key_type {
        ExchangeKeyType::Ed25519 => {
            let point =
                get_bytes(s, public, AttributeType::EcPoint).map_err(p11("read a public key"))?.ok_or_else(bad)?;
            // DER OCTET STRING (the standard) or the raw 32 bytes (some tokens).
            let raw = match point.as_slice() {
                [0x04, 32, rest @ ..] if rest.len() == 32 => rest,
                raw if raw.len() == 32 => raw,
                _ => return Err(bad()),
            };
            exchange_key::ed25519_spki(raw).ok_or_else(bad)
        }
        ExchangeKeyType::Rsa2048 => {
            let n = get_bytes(s, public, AttributeType::Modulus).map_err(p11("read a public key"))?.ok_or_else(bad)?;
            let e = get_bytes(s, public, AttributeType::PublicExponent)
                .map_err(p11("read a public key"))?
                .ok_or_else(bad)?;
            if n.iter().skip_while(|&&b| b == 0).count() != 256 {
                return Err(bad());
            }
            exchange_key::rsa_spki(&n, &e).ok_or_else(bad)
        }
    }
}

fn exportability_of(s: &Session, private: ObjectHandle) -> Result<Exportability, CustodyError> {
    let extractable = get_bool(s, private, AttributeType::Extractable).map_err(p11("read key attributes"))?;
    let sensitive = get_bool(s, private, AttributeType::Sensitive).map_err(p11("read key attributes"))?;
    Ok(match (extractable, sensitive) {
        (Some(false), Some(true)) => Exportability::NonExportable,
        _ => Exportability::Unknown,
    })
}

fn xmeta_search(id: Option<&str>) -> Vec<Attribute> {
    let mut t =
        vec![Attribute::Class(ObjectClass::DATA), Attribute::Application(EXCHANGE_KEY_APPLICATION.as_bytes().to_vec())];
    if let Some(id) = id {
        t.push(Attribute::Label(id.as_bytes().to_vec()));
    }
    t
}

impl Token {
    fn check_exchange_key_type(&self, t: ExchangeKeyType) -> Result<(), CustodyError> {
        let (gen_, sign, what) = match t {
            ExchangeKeyType::Ed25519 => (
                MechanismType::ECC_EDWARDS_KEY_PAIR_GEN,
                MechanismType::EDDSA,
                "make Ed25519 exchange keys: the token lacks CKM_EC_EDWARDS_KEY_PAIR_GEN or CKM_EDDSA",
            ),
            ExchangeKeyType::Rsa2048 => (
                MechanismType::RSA_PKCS_KEY_PAIR_GEN,
                MechanismType::SHA256_RSA_PKCS,
                "make RSA exchange keys: the token lacks CKM_RSA_PKCS_KEY_PAIR_GEN or CKM_SHA256_RSA_PKCS",
            ),
        };
        if self.has(gen_) && self.has(sign) {
            Ok(())
        } else {
            Err(CustodyError::Unsupported { backend: BACKEND, what })
        }
    }

    fn create_exchange_key(&self, key_type: ExchangeKeyType) -> Result<ExchangeKeyInfo, CustodyError> {
        self.check_exchange_key_type(key_type)?;
        let id = exchange_key::new_id()?;
        let meta = XMeta { key_type, created_at: now_secs() };
        let value = serde_json::to_vec(&meta).map_err(|_| CustodyError::Config("cannot encode key metadata".into()))?;
        let _w = lock(&self.write);
        self.with_session(|s| {
            let (public, private) = generate(s, &id, key_type)?;
            let made = (|| {
                let public_spki = exchange_public(s, public, key_type)?;
                let exportability = exportability_of(s, private)?;
                let mut data = xmeta_search(Some(&id));
                data.extend([Attribute::Token(true), Attribute::Private(true), Attribute::Value(value)]);
                s.create_object(&data).map_err(p11("store an exchange key's metadata"))?;
                Ok(ExchangeKeyInfo {
                    id: id.clone(),
                    key_type,
                    public_spki,
                    created_at: meta.created_at,
                    exportability,
                })
            })();
            if made.is_err() {
                // No half-made key: a pair without its metadata would be found by nothing.
                let _ = s.destroy_object(private);
                let _ = s.destroy_object(public);
            }
            let info = made?;
            let v = Arc::new(XVersion { info: info.clone(), private });
            self.xkeys.write().unwrap_or_else(PoisonError::into_inner).insert(id.clone(), v);
            Ok(info)
        })
    }

    /// An exchange key by id, from the cache or the token.
    fn exchange_key(&self, s: &Session, id: &str) -> Result<Arc<XVersion>, CustodyError> {
        exchange_key::check_id(id)?;
        if let Some(v) = self.xkeys.read().unwrap_or_else(PoisonError::into_inner).get(id) {
            return Ok(v.clone());
        }
        let unknown = || CustodyError::UnknownKid(id.to_owned());
        let data = find_one(s, &xmeta_search(Some(id)), "exchange key metadata per id")?.ok_or_else(unknown)?;
        let value = get_bytes(s, data, AttributeType::Value).map_err(p11("read an exchange key's metadata"))?;
        let value = value.unwrap_or_default();
        let malformed = || CustodyError::Config(format!("metadata of exchange key {id:?} in the token is malformed"));
        if value.len() > MAX_METADATA {
            return Err(malformed());
        }
        let meta: XMeta = serde_json::from_slice(&value).map_err(|_| malformed())?;
        let missing = || CustodyError::Config(format!("the token lacks the key objects of exchange key {id:?}"));
        let public =
            find_one(s, &key_template(ObjectClass::PUBLIC_KEY, id), "public key per id")?.ok_or_else(missing)?;
        let private =
            find_one(s, &key_template(ObjectClass::PRIVATE_KEY, id), "private key per id")?.ok_or_else(missing)?;
        let info = ExchangeKeyInfo {
            id: id.to_owned(),
            key_type: meta.key_type,
            public_spki: exchange_public(s, public, meta.key_type)?,
            created_at: meta.created_at,
            exportability: exportability_of(s, private)?,
        };
        let v = Arc::new(XVersion { info, private });
        self.xkeys.write().unwrap_or_else(PoisonError::into_inner).insert(id.to_owned(), v.clone());
        Ok(v)
    }

    fn exchange_keys(&self) -> Result<Vec<ExchangeKeyInfo>, CustodyError> {
        self.with_session(|s| {
            let mut out = Vec::new();
            for handle in s.find_objects(&xmeta_search(None)).map_err(p11("find exchange keys"))? {
                let label = get_bytes(s, handle, AttributeType::Label).map_err(p11("read exchange key metadata"))?;
                let id = String::from_utf8(label.unwrap_or_default())
                    .map_err(|_| CustodyError::Config("an exchange key's metadata has a malformed label".into()))?;
                out.push(self.exchange_key(s, &id)?.info.clone());
            }
            out.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
            Ok(out)
        })
    }

    fn exchange_sign(&self, id: &str, message: &[u8]) -> Result<Vec<u8>, CustodyError> {
        self.with_session(|s| {
            let v = self.exchange_key(s, id)?;
            let mechanism = match v.info.key_type {
                ExchangeKeyType::Ed25519 => Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure)),
                ExchangeKeyType::Rsa2048 => Mechanism::Sha256RsaPkcs,
            };
            let sig = s.sign(&mechanism, v.private, message).map_err(p11("sign with an exchange key"))?;
            exchange_key::checked(&v.info, message, sig, BACKEND)
        })
    }

    fn destroy_exchange_key(&self, id: &str) -> Result<(), CustodyError> {
        exchange_key::check_id(id)?;
        let _w = lock(&self.write);
        self.xkeys.write().unwrap_or_else(PoisonError::into_inner).remove(id);
        self.with_session(|s| {
            let data = find_one(s, &xmeta_search(Some(id)), "exchange key metadata per id")?
                .ok_or_else(|| CustodyError::UnknownKid(id.to_owned()))?;
            // The private key first: once it is gone nothing can sign, whatever is left.
            for class in [ObjectClass::PRIVATE_KEY, ObjectClass::PUBLIC_KEY] {
                if let Some(h) = find_one(s, &key_template(class, id), "key per id")? {
                    s.destroy_object(h).map_err(p11("destroy an exchange key"))?;
                }
            }
            s.destroy_object(data).map_err(p11("destroy an exchange key's metadata"))
        })
    }
}

/// Generate a token key pair labelled and identified by `id`; returns
/// (public, private). The private key is sensitive and never extractable.
fn generate(s: &Session, id: &str, spec: impl KeySpec) -> Result<(ObjectHandle, ObjectHandle), CustodyError> {
    let (mechanism, mut public, mut private) = spec.spec();
    let common =
        [Attribute::Token(true), Attribute::Label(id.as_bytes().to_vec()), Attribute::Id(id.as_bytes().to_vec())];
    public.extend(common.iter().cloned());
    public.push(Attribute::Private(false));
    private.extend(common);
    private.extend([
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Modifiable(false),
    ]);
    s.generate_key_pair(&mechanism, &public, &private).map_err(p11("generate a key pair in the token"))
}

/// Whether the token decrypts RSA-OAEP with SHA-256: encrypt a random
/// value to the new public key here, decrypt it in the token.
fn probe_oaep256(s: &Session, public: ObjectHandle, private: ObjectHandle) -> Result<(), CustodyError> {
    use aws_lc_rs::rsa::{OAEP_SHA256_MGF1SHA256, OaepPublicEncryptingKey, PublicEncryptingKey, PublicKeyComponents};
    let n = get_bytes(s, public, AttributeType::Modulus).map_err(p11("read a public key"))?;
    let e = get_bytes(s, public, AttributeType::PublicExponent).map_err(p11("read a public key"))?;
    let bad = || CustodyError::Config("the token generated an unusable RSA public key".into());
    let (n, e) = n.zip(e).ok_or_else(bad)?;
    let key: PublicEncryptingKey =
        PublicKeyComponents { n: n.as_slice(), e: e.as_slice() }.try_into().map_err(|_| bad())?;
    let key = OaepPublicEncryptingKey::new(key).map_err(|_| bad())?;
    let mut probe = Zeroizing::new([0u8; 32]);
    aws_lc_rs::rand::fill(probe.as_mut()).map_err(|_| CustodyError::Config("random number generator failed".into()))?;
    let mut ct = vec![0u8; key.ciphertext_size()];
    let len = key.encrypt(&OAEP_SHA256_MGF1SHA256, probe.as_ref(), &mut ct, None).map_err(|_| bad())?.len();
    ct.truncate(len);
    match s.decrypt(&oaep(OaepHash::Sha256), private, &ct) {
        Ok(pt) if pt.as_slice() == probe.as_ref() => Ok(()),
        Ok(_) => Err(CustodyError::Config("the token's RSA-OAEP-256 decryption returned a wrong value".into())),
        Err(e) if oaep_unsupported(&e) => Err(CustodyError::Unsupported { backend: BACKEND, what: NO_OAEP256 }),
        Err(e) => Err(p11("probe RSA-OAEP-256 decryption")(e)),
    }
}

fn oaep(hash: OaepHash) -> Mechanism<'static> {
    let (h, mgf) = match hash {
        OaepHash::Sha1 => (MechanismType::SHA1, PkcsMgfType::MGF1_SHA1),
        OaepHash::Sha256 => (MechanismType::SHA256, PkcsMgfType::MGF1_SHA256),
    };
    Mechanism::RsaPkcsOaep(PkcsOaepParams::new(h, mgf, PkcsOaepSource::empty()))
}

/// The errors a token gives for OAEP parameters it does not implement
/// (SoftHSM 2.6: `CKR_ARGUMENTS_BAD` for a hash other than SHA-1).
fn oaep_unsupported(e: &P11Error) -> bool {
    matches!(rv(e), Some(RvError::MechanismInvalid | RvError::MechanismParamInvalid | RvError::ArgumentsBad))
}

/// Errors that say the token or session failed, not the ciphertext.
fn operational(e: &P11Error) -> bool {
    !matches!(e, P11Error::Pkcs11(..))
        || matches!(
            rv(e),
            Some(
                RvError::DeviceError
                    | RvError::DeviceMemory
                    | RvError::DeviceRemoved
                    | RvError::HostMemory
                    | RvError::SessionClosed
                    | RvError::SessionHandleInvalid
                    | RvError::TokenNotPresent
                    | RvError::UserNotLoggedIn
                    | RvError::KeyHandleInvalid
                    | RvError::CryptokiNotInitialized
                    | RvError::OperationActive
            )
        )
}

// ---------------------------------------------------------------- the key handle

/// The private step of one version, in the token.
struct Pkcs11Key {
    token: Arc<Token>,
    version: Arc<Version>,
}

fn key_backend(e: impl std::error::Error + Send + Sync + 'static) -> KeyError {
    KeyError::Backend(Arc::new(e))
}

impl Pkcs11Key {
    /// Refuse unless the version's status (read from the token now) opens.
    fn check_status(&self, s: &Session) -> Result<(), KeyError> {
        let status = read_status(s, &self.version.kid, self.version.meta).map_err(key_backend)?;
        if status.can_open() {
            Ok(())
        } else {
            Err(key_backend(CustodyError::Status { kid: self.version.kid.clone(), status, why: "it opens nothing" }))
        }
    }

    fn ecdh_sync(&self, epk: &EphemeralPublicKey) -> Result<SharedSecret, KeyError> {
        let KeyKind::Ecdh(curve) = self.version.public.kind() else {
            return Err(KeyError::Unsupported("ECDH needs an EC key"));
        };
        if epk.curve() != curve {
            return Err(KeyError::Unsupported("the ephemeral key is on another curve"));
        }
        self.token.with_session(|s| {
            self.check_status(s)?;
            let params = Ecdh1DeriveParams::new(EcKdf::null(), epk.encoded());
            let template = [
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::GENERIC_SECRET),
                Attribute::Token(false),
                Attribute::Private(true),
                Attribute::Sensitive(false),
                Attribute::Extractable(true),
                Attribute::ValueLen((curve.coord_len() as u64).into()),
            ];
            let z =
                s.derive_key(&Mechanism::Ecdh1Derive(params), self.version.private, &template).map_err(key_backend)?;
            // Read Z and destroy the session object before anything can fail.
            let value = s.get_attributes(z, &[AttributeType::Value]);
            let destroyed = s.destroy_object(z);
            let value = value.map_err(key_backend)?.into_iter().find_map(|a| match a {
                Attribute::Value(v) => Some(SecretBytes::new(v)),
                _ => None,
            });
            destroyed.map_err(key_backend)?;
            let z = value.ok_or(KeyError::Unsupported("the token did not return the ECDH shared secret"))?;
            if z.expose_secret().len() != curve.coord_len() {
                return Err(KeyError::Unsupported("the token returned an ECDH shared secret of the wrong length"));
            }
            Ok(z)
        })
    }

    fn rsa_sync(&self, hash: OaepHash, wrapped: &[u8]) -> Result<SecretBytes, KeyError> {
        let KeyKind::Rsa { modulus_len } = self.version.public.kind() else {
            return Err(KeyError::Unsupported("RSA-OAEP needs an RSA key"));
        };
        if wrapped.len() != modulus_len {
            return Err(KeyError::Crypto);
        }
        self.token.with_session(|s| {
            self.check_status(s)?;
            match s.decrypt(&oaep(hash), self.version.private, wrapped) {
                Ok(cek) => Ok(SecretBytes::new(cek)),
                Err(e) if oaep_unsupported(&e) => Err(KeyError::Unsupported(NO_OAEP256_KEY)),
                Err(e) if operational(&e) => Err(key_backend(e)),
                // Padding and every other refusal look alike (RFC 7516 §11.5).
                Err(_) => Err(KeyError::Crypto),
            }
        })
    }
}

impl DecryptionKey for Pkcs11Key {
    fn kid(&self) -> Option<&str> {
        Some(&self.version.kid)
    }

    fn kind(&self) -> KeyKind {
        self.version.public.kind()
    }

    fn alg(&self) -> Option<KeyAlg> {
        self.version.public.alg()
    }

    fn ecdh<'a>(&'a self, epk: &'a EphemeralPublicKey) -> KeyFuture<'a, SharedSecret> {
        Box::pin(async move { self.ecdh_sync(epk) })
    }

    fn rsa_oaep_decrypt<'a>(&'a self, hash: OaepHash, wrapped: &'a [u8]) -> KeyFuture<'a, SecretBytes> {
        Box::pin(async move { self.rsa_sync(hash, wrapped) })
    }
}

// ---------------------------------------------------------------- the custody

/// Key custody in a PKCS#11 token.
pub struct Pkcs11Custody {
    token: Arc<Token>,
}

impl std::fmt::Debug for Pkcs11Custody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Custody")
            .field("module", &self.token.key.0)
            .field("token_label", &self.token.key.1)
            .field("sessions", &self.token.sessions.len())
            .finish_non_exhaustive()
    }
}

impl Pkcs11Custody {
    /// Load the module, find the token by label, read the PIN, open the
    /// session pool and log in. Blocking. A wrong PIN is
    /// [`CustodyError::Unlock`]; a missing module or token is
    /// [`CustodyError::Config`] with what to do.
    pub fn open(config: Pkcs11Config) -> Result<Self, CustodyError> {
        if config.sessions == 0 || config.sessions > MAX_SESSIONS {
            return Err(CustodyError::Config(format!("[pkcs11] sessions must be 1 to {MAX_SESSIONS}")));
        }
        let pin = read_pin(&config.pin)?;
        if !config.module.exists() {
            return Err(CustodyError::Config(format!(
                "the PKCS#11 module {} does not exist; install it (scripts/setup-softhsm.sh for SoftHSM2) or set [pkcs11] module",
                config.module.display()
            )));
        }
        let module = std::fs::canonicalize(&config.module).unwrap_or(config.module);
        let key: TokenKey = (module, config.token_label.clone());

        let mut tokens = lock(&TOKENS);
        if let Some(token) = tokens.iter().find(|(k, _)| *k == key).and_then(|(_, w)| w.upgrade()) {
            // Release the registry first: dropping the last handle of a
            // token takes it.
            drop(tokens);
            aws_lc_rs::constant_time::verify_slices_are_equal(
                token.pin.expose_secret().as_bytes(),
                pin.expose_secret().as_bytes(),
            )
            .map_err(|_| CustodyError::Unlock("wrong PIN for the PKCS#11 token"))?;
            return Ok(Self { token });
        }

        let ctx = context(&key.0)?;
        let slot = find_slot(&ctx, &config.token_label, &key.0)?;
        let mut sessions = Vec::with_capacity(config.sessions);
        for _ in 0..config.sessions {
            sessions.push(ctx.open_rw_session(slot).map_err(p11("open a session"))?);
        }
        let first = sessions.first().ok_or_else(|| CustodyError::Config("no session".into()))?;
        match first.login(UserType::User, Some(&pin)) {
            Ok(()) => {}
            Err(e) => {
                drop(sessions);
                return Err(match rv(&e) {
                    Some(RvError::PinIncorrect | RvError::PinInvalid | RvError::PinLenRange) => {
                        CustodyError::Unlock("wrong PIN for the PKCS#11 token")
                    }
                    Some(RvError::PinLocked) => CustodyError::Unlock("the PKCS#11 token's user PIN is locked"),
                    Some(RvError::PinExpired) => CustodyError::Unlock("the PKCS#11 token's user PIN has expired"),
                    Some(RvError::UserPinNotInitialized) => CustodyError::Unlock(
                        "the PKCS#11 token has no user PIN; initialize it (softhsm2-util --init-token)",
                    ),
                    Some(RvError::UserAlreadyLoggedIn) => CustodyError::Unlock(
                        "other code in this process is logged in to the PKCS#11 token, so the PIN cannot be checked",
                    ),
                    _ => p11("log in to the token")(e),
                });
            }
        }
        let mechanisms = ctx.get_mechanism_list(slot).map_err(p11("list the token's mechanisms"))?;
        let token = Arc::new(Token {
            key: key.clone(),
            pin,
            sessions: sessions.into_iter().map(Mutex::new).collect(),
            next: AtomicUsize::new(0),
            mechanisms,
            write: Mutex::new(()),
            versions: RwLock::new(HashMap::new()),
            root: RwLock::new(None),
            xkeys: RwLock::new(HashMap::new()),
        });
        tokens.retain(|(_, w)| w.strong_count() > 0);
        tokens.push((key, Arc::downgrade(&token)));
        Ok(Self { token })
    }

    /// The token's label.
    pub fn token_label(&self) -> &str {
        &self.token.key.1
    }
}

fn find_slot(ctx: &Pkcs11, label: &str, module: &Path) -> Result<Slot, CustodyError> {
    let mut found = Vec::new();
    for slot in ctx.get_slots_with_initialized_token().map_err(p11("list slots"))? {
        let info = ctx.get_token_info(slot).map_err(p11("read token info"))?;
        if info.label().trim_end() == label {
            found.push(slot);
        }
    }
    match found.as_slice() {
        [one] => Ok(*one),
        [] => Err(CustodyError::Config(format!(
            "no initialized token labelled {label:?} in {}; create one (softhsm2-util --init-token --free --label {label} …) or fix [pkcs11] token_label",
            module.display()
        ))),
        _ => Err(CustodyError::Config(format!("more than one token is labelled {label:?}; labels must be unique"))),
    }
}

impl Custody for Pkcs11Custody {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn keys(&self) -> CustodyFuture<'_, Vec<KeyInfo>> {
        Box::pin(async move { self.token.keys() })
    }

    fn decryption_key<'a>(&'a self, kid: &'a str) -> CustodyFuture<'a, Arc<dyn DecryptionKey>> {
        Box::pin(async move { self.token.decryption_key(kid) })
    }

    fn rotate<'a>(&'a self, role: &'a str, key_type: RoleKeyType) -> CustodyFuture<'a, KeyInfo> {
        Box::pin(async move { self.token.rotate(role, key_type) })
    }

    fn set_status<'a>(&'a self, kid: &'a str, status: KeyStatus) -> CustodyFuture<'a, ()> {
        Box::pin(async move { self.token.set_status(kid, status) })
    }

    fn exportability<'a>(&'a self, kid: &'a str) -> CustodyFuture<'a, Exportability> {
        Box::pin(async move { self.token.exportability(kid) })
    }

    fn root_public(&self) -> CustodyFuture<'_, Value> {
        Box::pin(async move { Ok(self.token.root()?.public.clone()) })
    }

    fn root_sign<'a>(&'a self, message: &'a [u8]) -> CustodyFuture<'a, Vec<u8>> {
        Box::pin(async move { self.token.root_sign(message) })
    }

    fn create_exchange_key(&self, key_type: ExchangeKeyType) -> CustodyFuture<'_, ExchangeKeyInfo> {
        Box::pin(async move { self.token.create_exchange_key(key_type) })
    }

    fn exchange_keys(&self) -> CustodyFuture<'_, Vec<ExchangeKeyInfo>> {
        Box::pin(async move { self.token.exchange_keys() })
    }

    fn exchange_sign<'a>(&'a self, id: &'a str, message: &'a [u8]) -> CustodyFuture<'a, Vec<u8>> {
        Box::pin(async move { self.token.exchange_sign(id, message) })
    }

    fn destroy_exchange_key<'a>(&'a self, id: &'a str) -> CustodyFuture<'a, ()> {
        Box::pin(async move { self.token.destroy_exchange_key(id) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ec_point_accepts_der_and_raw() {
        let mut raw = vec![0x04];
        raw.extend([1u8; 32]);
        raw.extend([2u8; 32]);
        let mut der = vec![0x04, 65];
        der.extend(&raw);
        for attr in [&raw, &der] {
            let (x, y) = ec_point(Curve::P256, attr).expect("point");
            assert_eq!((x, y), (&[1u8; 32][..], &[2u8; 32][..]));
        }
        assert!(ec_point(Curve::P256, &raw[1..]).is_none());
        assert!(ec_point(Curve::P384, &raw).is_none());
    }

    #[test]
    fn role_names_and_kids() {
        assert!(check_role("trader").is_ok());
        assert!(check_role("").is_err());
        assert!(check_role("a b").is_err());
        assert!(check_role(&"x".repeat(65)).is_err());
        assert_eq!(kid_of("trader", 3), "trader-v3");
    }

    #[test]
    fn metadata_and_labels_round_trip_and_refuse_junk() {
        let m = Meta { role: "r".into(), version: 2, created_at: 5, key_type: RoleKeyType::EcdhP384 };
        let back = Meta::parse("r-v2", &m.to_bytes().expect("encode")).expect("parse");
        assert_eq!((back.version, back.key_type), (2, RoleKeyType::EcdhP384));
        assert!(Meta::parse("k", b"{}").is_err());
        assert!(Meta::parse("k", &vec![b' '; MAX_METADATA + 1]).is_err());
        let label = meta_label("r-v2", KeyStatus::DecryptOnly);
        assert_eq!(label, b"r-v2 decrypt-only");
        assert_eq!(parse_label(&label).expect("label"), ("r-v2".to_owned(), KeyStatus::DecryptOnly));
        assert!(parse_label(b"r-v2").is_err());
        assert!(parse_label(b"r-v2 frozen").is_err());
    }

    #[test]
    fn pin_sources() {
        assert!(matches!(
            read_pin(&PinSource::Env("SEALGATE_TEST_NO_SUCH_PIN_VAR".into())),
            Err(CustodyError::Config(_))
        ));
        assert!(matches!(
            read_pin(&PinSource::File("/nonexistent/sealgate.pin".into())),
            Err(CustodyError::Config(m)) if m.contains("/nonexistent/sealgate.pin")
        ));
    }
}
