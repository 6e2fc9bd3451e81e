//! Custody errors, grouped by whose fault. Backend transport errors travel
//! only as `source`; no variant holds key material.

use std::sync::Arc;

/// Why a custody operation failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum CustodyError {
    /// No key version with this kid.
    #[error("no key version {0:?}")]
    UnknownKid(String),
    /// The version exists but its status forbids the operation (retired or
    /// disabled versions open nothing).
    #[error("key version {kid:?} is {status}: {why}")]
    Status {
        /// The version.
        kid: String,
        /// Its status.
        status: crate::KeyStatus,
        /// What was refused.
        why: &'static str,
    },
    /// The backend cannot do this (e.g. RSA-OAEP-256 in a token without SHA-256 OAEP).
    #[error("{backend} cannot {what}")]
    Unsupported {
        /// Backend name.
        backend: &'static str,
        /// What it cannot do.
        what: &'static str,
    },
    /// Configuration or stored state is wrong; the message says how to fix it.
    #[error("{0}")]
    Config(String),
    /// Wrong passphrase, corrupted or tampered keyring, bad PIN.
    #[error("custody refused to unlock: {0}")]
    Unlock(&'static str),
    /// The backend (file system, HSM, KMS) failed; detail in `source`.
    #[error("custody backend {backend} failed: {what}")]
    Backend {
        /// Backend name.
        backend: &'static str,
        /// What was being done.
        what: &'static str,
        /// The underlying error.
        #[source]
        source: Option<Arc<dyn std::error::Error + Send + Sync>>,
    },
    /// A signed recipient key set was refused.
    #[error("recipient key set refused: {0}")]
    KeySet(&'static str),
    /// An exchange key's grant was refused ([`crate::grant`]).
    #[error("exchange key grant refused: {0}")]
    Grant(&'static str),
}

impl CustodyError {
    /// A backend failure with its cause.
    pub fn backend(
        backend: &'static str,
        what: &'static str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Backend { backend, what, source: Some(Arc::new(source)) }
    }
}
