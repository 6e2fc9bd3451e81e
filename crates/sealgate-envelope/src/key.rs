//! The private-key step of an open, behind a trait (PROFILE.md rule K1).
//!
//! The long-term private key never leaves its custody: an open only asks
//! for "the ECDH shared secret with this validated `epk`" or "the RSA-OAEP
//! decryption of this wrapped CEK". Everything else (Concat KDF, AES key
//! unwrap, content decryption) runs here, in pure code. An HSM or KMS
//! implements [`DecryptionKey`]; [`crate::LocalKey`] implements it in memory.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use zeroize::Zeroizing;

use crate::alg::Curve;
use crate::error::{EpkError, KeyError};

/// What an async private-key step returns. Boxed so the trait stays
/// dyn-compatible: a signer picks its custody backend at run time.
pub type KeyFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, KeyError>> + Send + 'a>>;

/// OAEP hash (the MGF1 hash is the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OaepHash {
    /// SHA-1 (`RSA-OAEP`, interop only; never sealed by us).
    Sha1,
    /// SHA-256 (`RSA-OAEP-256`).
    Sha256,
}

/// The public shape of a recipient key: enough to match it to a JWE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// An ECDH key on this curve.
    Ecdh(Curve),
    /// An RSA key with this modulus length in bytes.
    Rsa {
        /// Modulus length in bytes (= ciphertext length).
        modulus_len: usize,
    },
}

/// A private key that can perform the private step of a JWE open.
///
/// Implementations must not log or return key material, and should map a
/// cryptographic failure of RSA decryption to [`KeyError::Crypto`] (the
/// caller then substitutes a random CEK, RFC 7516 §11.5).
pub trait DecryptionKey: Send + Sync {
    /// The key's `kid`, used to pick the recipient.
    fn kid(&self) -> Option<&str>;
    /// Its type and size.
    fn kind(&self) -> KeyKind;
    /// If the key is restricted to one `alg` (the JWK `alg` member).
    fn alg(&self) -> Option<crate::KeyAlg> {
        None
    }
    /// The raw ECDH shared secret `Z` with an already validated ephemeral key.
    fn ecdh<'a>(&'a self, epk: &'a EphemeralPublicKey) -> KeyFuture<'a, SharedSecret>;
    /// RSA-OAEP decrypt a wrapped CEK.
    fn rsa_oaep_decrypt<'a>(&'a self, hash: OaepHash, wrapped: &'a [u8]) -> KeyFuture<'a, SecretBytes>;
}

/// Bytes of secret material: zeroized on drop, printed as `[REDACTED]`.
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    /// Wrap owned bytes.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }
    pub(crate) fn from_zeroizing(bytes: Zeroizing<Vec<u8>>) -> Self {
        Self(bytes)
    }
    /// Read the secret. Every use is a place to audit.
    pub fn expose_secret(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// The ECDH shared secret `Z` (input of the Concat KDF).
pub type SharedSecret = SecretBytes;

/// An ephemeral public key (`epk`) that has been validated: right length,
/// not the identity, on its curve (PROFILE.md rule E1).
#[derive(Clone, PartialEq, Eq)]
pub struct EphemeralPublicKey {
    curve: Curve,
    /// SEC1 uncompressed point (`04 || x || y`) for NIST curves; the raw
    /// 32-byte u-coordinate for X25519.
    encoded: Vec<u8>,
}

impl fmt::Debug for EphemeralPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EphemeralPublicKey").field("curve", &self.curve).finish_non_exhaustive()
    }
}

impl EphemeralPublicKey {
    /// Validate coordinates of `curve` (big-endian, fixed length).
    pub fn from_coordinates(curve: Curve, x: &[u8], y: Option<&[u8]>) -> Result<Self, EpkError> {
        let n = curve.coord_len();
        if x.len() != n {
            return Err(EpkError::Malformed);
        }
        let encoded = match (curve, y) {
            (Curve::X25519, None) => x.to_vec(),
            (Curve::X25519, Some(_)) => return Err(EpkError::Malformed),
            (_, Some(y)) if y.len() == n => {
                if x.iter().chain(y).all(|b| *b == 0) {
                    return Err(EpkError::Identity);
                }
                let mut e = Vec::with_capacity(1 + 2 * n);
                e.push(0x04);
                e.extend_from_slice(x);
                e.extend_from_slice(y);
                e
            }
            _ => return Err(EpkError::Malformed),
        };
        // aws-lc checks the curve equation (and coordinates < p) here.
        aws_lc_rs::agreement::ParsedPublicKey::try_from(aws_lc_rs::agreement::UnparsedPublicKey::new(
            curve.agreement(),
            &encoded,
        ))
        .map_err(|_| EpkError::OffCurve)?;
        Ok(Self { curve, encoded })
    }

    /// Its curve.
    pub fn curve(&self) -> Curve {
        self.curve
    }

    /// SEC1 uncompressed point, or the X25519 u-coordinate: what an HSM's
    /// `CKM_ECDH1_DERIVE` or a KMS takes as the peer key.
    pub fn encoded(&self) -> &[u8] {
        &self.encoded
    }

    pub(crate) fn x(&self) -> &[u8] {
        match self.curve {
            Curve::X25519 => &self.encoded,
            c => &self.encoded[1..1 + c.coord_len()],
        }
    }

    pub(crate) fn y(&self) -> Option<&[u8]> {
        match self.curve {
            Curve::X25519 => None,
            c => Some(&self.encoded[1 + c.coord_len()..]),
        }
    }
}

/// Run a key step whose future is already complete (in-memory keys).
/// Returns `None` if the future would have to wait.
pub(crate) fn now_or_never<F: Future>(fut: F) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => Some(v),
        std::task::Poll::Pending => None,
    }
}
