//! Errors of the envelope crate, grouped by whose fault they are.
//!
//! No variant ever carries secret material: member *names* and algorithm
//! identifiers are public, and every cryptographic failure after the cheap
//! checks collapses into the single opaque [`Error::Decryption`] (RFC 7516
//! §11.4-11.5: no padding or unwrap oracle).

use std::fmt;

/// Why an algorithm identifier is refused outright (before any key work).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RefusedAlg {
    /// `alg: none` — an unencrypted JWE does not exist.
    None,
    /// `alg: dir` — a shared symmetric key is not a recipient key.
    Dir,
    /// Direct key agreement `ECDH-ES` (no key wrap): one CEK per recipient key
    /// pair, and it cannot carry several recipients.
    DirectEcdhEs,
    /// `RSA1_5`: PKCS#1 v1.5 key transport (Bleichenbacher oracles).
    Rsa1_5,
    /// `PBES2-*`: a password is not a key, and `p2c` is an attacker-chosen
    /// work factor (a `p2c` of 2^31 would burn minutes of CPU).
    Pbes2,
    /// A registered or unknown `alg` outside the allow-list in force.
    NotAllowed,
}

impl fmt::Display for RefusedAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::None => "unencrypted (alg \"none\") is refused",
            Self::Dir => "direct symmetric key (alg \"dir\") is refused",
            Self::DirectEcdhEs => "direct key agreement (alg \"ECDH-ES\" without key wrap) is refused",
            Self::Rsa1_5 => "RSA PKCS#1 v1.5 key transport (alg \"RSA1_5\") is refused",
            Self::Pbes2 => "password-based key wrap (alg \"PBES2-*\") is refused",
            Self::NotAllowed => "algorithm is not in the allow-list",
        })
    }
}

/// What is wrong with an ephemeral public key (`epk`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EpkError {
    /// The point does not satisfy the curve equation.
    OffCurve,
    /// `crv`/`kty` differ from the recipient key's curve.
    WrongCurve,
    /// The point at infinity / all-zero coordinates.
    Identity,
    /// Missing or malformed members (`kty`, `crv`, `x`, `y`), wrong lengths,
    /// or private members present.
    Malformed,
    /// A curve we do not implement.
    UnsupportedCurve,
}

impl fmt::Display for EpkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::OffCurve => "point is not on the curve",
            Self::WrongCurve => "curve does not match the recipient key",
            Self::Identity => "point is the identity",
            Self::Malformed => "malformed ephemeral key",
            Self::UnsupportedCurve => "unsupported curve",
        })
    }
}

/// Errors of the private-key step (the custody side of an open).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key cannot do what was asked (wrong type, wrong curve, RSA hash
    /// not offered by the backend).
    #[error("private key cannot perform this operation: {0}")]
    Unsupported(&'static str),
    /// The cryptographic operation failed (e.g. OAEP padding check). The
    /// caller turns this into a random CEK (RFC 7516 §11.5).
    #[error("private-key operation failed")]
    Crypto,
    /// The backend (HSM, KMS, …) failed; the detail stays in `source`.
    #[error("private-key backend failed")]
    Backend(#[source] std::sync::Arc<dyn std::error::Error + Send + Sync>),
}

/// Every way an envelope can be refused.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ---- the input (an untrusted peer's fault) ----
    /// Input larger than [`crate::MAX_INPUT`].
    #[error("input too large: {len} bytes, the limit is {limit}")]
    TooLarge {
        /// Bytes seen.
        len: usize,
        /// Bytes allowed.
        limit: usize,
    },
    /// Structure violates RFC 7516 or our profile.
    #[error("malformed JWE: {0}")]
    Malformed(&'static str),
    /// A member is not valid unpadded base64url.
    #[error("bad base64url in {0}")]
    Base64(&'static str),
    /// Not JSON, or JSON of the wrong shape.
    #[error("invalid JSON in {0}")]
    Json(&'static str),
    /// A JSON object repeats a member name (RFC 7516 §4: MUST reject).
    #[error("duplicate JSON member {0:?}")]
    DuplicateMember(String),
    /// The same header parameter appears in more than one header (RFC 7516 §7.2.1).
    #[error("header parameter {0:?} appears in more than one header")]
    HeaderCollision(String),
    /// A header parameter has the wrong type or value.
    #[error("invalid header parameter {0:?}")]
    InvalidHeader(&'static str),
    /// The key-management algorithm is refused.
    #[error("alg {alg:?} refused: {reason}")]
    RefusedAlg {
        /// The `alg` value as received (truncated to 64 chars).
        alg: String,
        /// Why.
        reason: RefusedAlg,
    },
    /// The content-encryption algorithm is refused.
    #[error("enc {0:?} is not in the allow-list")]
    RefusedEnc(String),
    /// Any `zip` is refused (compression oracles, decompression bombs).
    #[error("compressed content (zip) is refused")]
    Compression,
    /// A `crit` extension we do not understand (RFC 7516 §4.1.13).
    #[error("critical header extension {0:?} is not understood")]
    UnknownCrit(String),
    /// The `epk` is unusable.
    #[error("invalid ephemeral public key: {0}")]
    InvalidEpk(EpkError),
    /// X25519 produced the all-zero shared secret (small-order `epk`).
    #[error("X25519 shared secret is all zero (small-order ephemeral key)")]
    ZeroSharedSecret,
    /// Authentication tag of the wrong length for `enc`.
    #[error("authentication tag has the wrong length: {got} bytes, {enc} needs {want}")]
    TagLength {
        /// Content algorithm.
        enc: &'static str,
        /// Bytes received.
        got: usize,
        /// Bytes required.
        want: usize,
    },
    /// IV of the wrong length for `enc` (96 bits for AES-GCM).
    #[error("IV has the wrong length: {got} bytes, {enc} needs {want}")]
    IvLength {
        /// Content algorithm.
        enc: &'static str,
        /// Bytes received.
        got: usize,
        /// Bytes required.
        want: usize,
    },
    /// `encrypted_key` of a length the algorithm cannot produce.
    #[error("encrypted_key has the wrong length for {alg}: {got} bytes, expected {want}")]
    EncryptedKeyLength {
        /// Key-management algorithm.
        alg: &'static str,
        /// Bytes received.
        got: usize,
        /// Bytes required.
        want: usize,
    },

    // ---- the key given does not fit ----
    /// The key type or curve does not fit the `alg`, or the key's own `alg` differs.
    #[error("key does not fit the JWE: {0}")]
    KeyMismatch(&'static str),
    /// No recipient is addressed to the key (by `kid`).
    #[error("no recipient matches the key")]
    NoMatchingRecipient,
    /// A JWK that is malformed or of an unsupported kind.
    #[error("invalid JWK: {0}")]
    InvalidJwk(&'static str),

    // ---- the cryptography ----
    /// Key unwrap or content authentication failed. Deliberately opaque.
    #[error("decryption failed")]
    Decryption,
    /// The private-key step failed (its backend detail stays in `source`).
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The random number generator failed.
    #[error("random number generator failed")]
    Rng,

    // ---- the credential envelope v1 ----
    /// The credential envelope's binding or content does not match.
    #[error(transparent)]
    Credential(#[from] CredentialError),
    /// Caller misuse (e.g. a header member we set ourselves given twice).
    #[error("invalid use: {0}")]
    Usage(&'static str),
}

/// Why a credential envelope (v1) is refused after or before decryption.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    /// `typ` is not `sealgate-credential+jwe`.
    #[error("credential envelope: typ is not \"sealgate-credential+jwe\"")]
    WrongType,
    /// A required protected-header member is missing or unprotected.
    #[error("credential envelope: protected header lacks {0:?}")]
    Missing(&'static str),
    /// A protected-header member has the wrong type or form.
    #[error("credential envelope: protected header member {0:?} is malformed")]
    Malformed(&'static str),
    /// A bound member differs from what the caller expected.
    #[error("credential envelope: {0} does not match the expected binding")]
    Mismatch(&'static str),
    /// `iat` lies in the future beyond the allowed skew.
    #[error("credential envelope: iat is in the future")]
    IssuedInFuture,
    /// The plaintext is not a JSON object of credential string fields.
    #[error("credential envelope: plaintext is not a JSON object of credential fields ({0})")]
    BadPlaintext(&'static str),
    /// `hint` does not match the last characters of the API key.
    #[error("credential envelope: hint does not match the sealed API key")]
    HintMismatch,
    /// `own` (the owner's authority keys) breaks rule C8; the message is the rule.
    #[error("credential envelope: {0}")]
    BadOwner(&'static str),
}
