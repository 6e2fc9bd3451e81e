//! Key custody for the consumer roles (importer, trader, …).
//!
//! One asynchronous trait, [`Custody`], shaped like rustls's crypto
//! provider: the long-term private keys stay in the backend, which only
//! performs the private step of an envelope open (ECDH shared secret,
//! RSA-OAEP-256 decrypt — [`sealgate_envelope::DecryptionKey`]) and the ES256
//! signature of the recipient key set. Keys have versions: rotation adds
//! an active version and demotes the previous one to decrypt-only; a
//! retired or disabled version opens nothing.
//!
//! It also holds exchange API keys born inside it ([`exchange_key`]): where an
//! exchange takes a key the user generates (Ed25519, RSA-2048), the private key
//! is made in the custody, never leaves it, and signs there.
//!
//! Backends live in modules of their own (`local`, `pkcs11`, `openbao`);
//! [`conformance`] is the suite every backend must pass.

#![warn(missing_docs)]

pub mod config;
pub mod conformance;
mod error;
pub mod exchange_key;
pub mod grant;
mod jws;
pub mod keyset;
pub mod local;
pub mod openbao;
pub mod pkcs11;

pub use error::CustodyError;
pub use exchange_key::{ExchangeKeyInfo, ExchangeKeyType};

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use sealgate_envelope::{DecryptionKey, PublicJwk};

/// What a custody operation returns. Boxed so [`Custody`] is dyn-compatible:
/// the backend is chosen by configuration at run time.
pub type CustodyFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, CustodyError>> + Send + 'a>>;

/// Lifecycle of a key version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyStatus {
    /// New envelopes are sealed to it; it opens.
    Active,
    /// It still opens existing envelopes; nothing new is sealed to it.
    DecryptOnly,
    /// Kept for the record; opens nothing.
    Retired,
    /// Frozen (incident); opens nothing until set back.
    Disabled,
}

impl KeyStatus {
    /// Its name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::DecryptOnly => "decrypt-only",
            Self::Retired => "retired",
            Self::Disabled => "disabled",
        }
    }

    /// Parse a name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "active" => Self::Active,
            "decrypt-only" => Self::DecryptOnly,
            "retired" => Self::Retired,
            "disabled" => Self::Disabled,
            _ => return None,
        })
    }

    /// Whether a version with this status may open envelopes.
    pub const fn can_open(self) -> bool {
        matches!(self, Self::Active | Self::DecryptOnly)
    }
}

impl std::fmt::Display for KeyStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The kind of role key to create.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RoleKeyType {
    /// ECDH-ES+A256KW on P-256 (the default of the local keyring and PKCS#11).
    EcdhP256,
    /// ECDH-ES+A256KW on P-384.
    EcdhP384,
    /// ECDH-ES+A256KW on X25519.
    EcdhX25519,
    /// RSA-OAEP-256, 3072 bits (the default of OpenBao Transit, which has no ECDH).
    Rsa3072,
    /// RSA-OAEP-256, 4096 bits.
    Rsa4096,
}

/// One key version, as listed.
#[derive(Debug, Clone)]
pub struct KeyInfo {
    /// Unique key id of this version (e.g. `trader-v3`).
    pub kid: String,
    /// The role it belongs to.
    pub role: String,
    /// Version number within the role, from 1.
    pub version: u32,
    /// Status.
    pub status: KeyStatus,
    /// Its public JWK (with `kid`, `use: enc`, `alg`).
    pub public: PublicJwk,
    /// Unix seconds it was created.
    pub created_at: u64,
}

/// Whether a backend can say a key cannot leave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exportability {
    /// The backend marks it non-extractable (HSM `CKA_EXTRACTABLE=false`, KMS `exportable=false`).
    NonExportable,
    /// The key material exists outside a hardware boundary (e.g. the local keyring).
    SoftwareKey,
    /// The backend cannot tell.
    Unknown,
}

/// A key custody backend.
pub trait Custody: Send + Sync {
    /// Backend name (`local`, `pkcs11`, `openbao`).
    fn backend(&self) -> &'static str;

    /// The kind of role key a start creates when a role has none: one this
    /// backend can hold and the browser client can seal to. P-256 ECDH unless
    /// the backend says otherwise (Transit has no ECDH: RSA-OAEP-256 there;
    /// SoftHSM 2.6 has RSA-OAEP with SHA-1 only: P-256 there).
    fn default_role_key_type(&self) -> RoleKeyType {
        RoleKeyType::EcdhP256
    }

    /// Every role key version.
    fn keys(&self) -> CustodyFuture<'_, Vec<KeyInfo>>;

    /// The private-key step of version `kid`. Refused unless its status can
    /// open ([`KeyStatus::can_open`]); the status is checked again on every
    /// operation, so disabling a version stops a handle already given out.
    fn decryption_key<'a>(&'a self, kid: &'a str) -> CustodyFuture<'a, Arc<dyn DecryptionKey>>;

    /// Create a new version for `role`: it becomes active, and the role's
    /// previous active version becomes decrypt-only.
    fn rotate<'a>(&'a self, role: &'a str, key_type: RoleKeyType) -> CustodyFuture<'a, KeyInfo>;

    /// Change a version's status.
    fn set_status<'a>(&'a self, kid: &'a str, status: KeyStatus) -> CustodyFuture<'a, ()>;

    /// Whether version `kid` is held non-exportable.
    fn exportability<'a>(&'a self, kid: &'a str) -> CustodyFuture<'a, Exportability>;

    /// The root signing key's public JWK (EC P-256, `use: sig`, `alg: ES256`),
    /// created on first use.
    fn root_public(&self) -> CustodyFuture<'_, serde_json::Value>;

    /// ES256 signature (`r || s`, 64 bytes) of `message` with the root key.
    fn root_sign<'a>(&'a self, message: &'a [u8]) -> CustodyFuture<'a, Vec<u8>>;

    /// Create an exchange key inside the custody, non-exportable where the backend can
    /// say so; only its public key comes out.
    fn create_exchange_key(&self, key_type: ExchangeKeyType) -> CustodyFuture<'_, ExchangeKeyInfo>;

    /// Every exchange key the custody holds.
    fn exchange_keys(&self) -> CustodyFuture<'_, Vec<ExchangeKeyInfo>>;

    /// Exchange key `id`, if the custody holds it. A backend that can read one key
    /// without listing them all does (OpenBao's policy lets the signer read a key, not
    /// list the mount).
    fn exchange_key<'a>(&'a self, id: &'a str) -> CustodyFuture<'a, Option<ExchangeKeyInfo>> {
        Box::pin(async move { Ok(self.exchange_keys().await?.into_iter().find(|k| k.id == id)) })
    }

    /// The signature of `message` by exchange key `id`: Ed25519 (64 bytes) or
    /// RSASSA-PKCS1-v1_5 with SHA-256, checked against the public key before it is
    /// returned. The message is what the exchange signs (its string-to-sign), never a
    /// digest.
    fn exchange_sign<'a>(&'a self, id: &'a str, message: &'a [u8]) -> CustodyFuture<'a, Vec<u8>>;

    /// Destroy exchange key `id` for good (a credential deleted).
    fn destroy_exchange_key<'a>(&'a self, id: &'a str) -> CustodyFuture<'a, ()>;
}
