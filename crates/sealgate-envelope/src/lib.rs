//! Sealgate's envelope: a strict JWE (RFC 7516) profile and the credential
//! envelope v1 built on it. See `PROFILE.md` beside this crate for the
//! numbered rules the code cites.
//!
//! Pure: no I/O, no async runtime. The private-key step goes through
//! [`DecryptionKey`], so an HSM or KMS can hold the key; [`LocalKey`] is the
//! in-memory implementation.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod alg;
mod b64;
mod content;
mod credential;
mod error;
mod json;
mod jwe;
mod jwk;
mod kdf;
mod key;
mod owner;

pub use alg::{AlgPolicy, ContentAlg, Curve, KeyAlg};
pub use credential::{
    Binding, CREDENTIAL_TYP, Class, Credential, CredentialHeader, MAX_IAT_SKEW_SECS, OpenedCredential, Scope,
    SealRequest, check_binding, check_credential_id, new_credential_id, open_credential, open_credential_now,
    seal_credential,
};
pub use error::{CredentialError, EpkError, Error, KeyError, RefusedAlg};
pub use json::parse_json_object;
pub use jwe::{Jwe, MAX_RECIPIENTS, Recipient, Serialization, seal_compact};
pub use jwk::{LocalKey, PublicJwk};
pub use kdf::concat_kdf;
pub use key::{DecryptionKey, EphemeralPublicKey, KeyFuture, KeyKind, OaepHash, SecretBytes, SharedSecret};
pub use owner::{OWNER_KEYS_MAX, OwnerKeys, THUMBPRINT_LEN};
pub use sealgate_vocab::{CREDENTIAL_ID_MAX, CREDENTIAL_ID_RULE};
pub use secrecy;

/// Largest JWE we parse or produce (rule L1).
pub const MAX_INPUT: usize = 64 * 1024;
/// Longest attacker-chosen identifier echoed in an error.
pub(crate) const MAX_ERROR_ECHO: usize = 64;
