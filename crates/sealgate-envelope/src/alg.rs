//! Algorithm identifiers and the allow-lists (PROFILE.md rules A1-A4).

use crate::error::RefusedAlg;
use crate::{Error, MAX_ERROR_ECHO};

/// Key-management algorithms we can open (RFC 7518 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyAlg {
    /// ECDH-ES with Concat KDF, then AES-128 key wrap.
    EcdhEsA128Kw,
    /// ECDH-ES with Concat KDF, then AES-192 key wrap.
    EcdhEsA192Kw,
    /// ECDH-ES with Concat KDF, then AES-256 key wrap.
    EcdhEsA256Kw,
    /// RSAES-OAEP with SHA-1 and MGF1-SHA-1 (interop only).
    RsaOaep,
    /// RSAES-OAEP with SHA-256 and MGF1-SHA-256.
    RsaOaep256,
}

impl KeyAlg {
    /// The registered `alg` name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::EcdhEsA128Kw => "ECDH-ES+A128KW",
            Self::EcdhEsA192Kw => "ECDH-ES+A192KW",
            Self::EcdhEsA256Kw => "ECDH-ES+A256KW",
            Self::RsaOaep => "RSA-OAEP",
            Self::RsaOaep256 => "RSA-OAEP-256",
        }
    }

    /// Parse an `alg` value; refused names say why (rule A1).
    pub fn parse(alg: &str) -> Result<Self, Error> {
        let refused = |reason| Error::RefusedAlg { alg: echo(alg), reason };
        Ok(match alg {
            "ECDH-ES+A128KW" => Self::EcdhEsA128Kw,
            "ECDH-ES+A192KW" => Self::EcdhEsA192Kw,
            "ECDH-ES+A256KW" => Self::EcdhEsA256Kw,
            "RSA-OAEP" => Self::RsaOaep,
            "RSA-OAEP-256" => Self::RsaOaep256,
            "none" => return Err(refused(RefusedAlg::None)),
            "dir" => return Err(refused(RefusedAlg::Dir)),
            "ECDH-ES" => return Err(refused(RefusedAlg::DirectEcdhEs)),
            "RSA1_5" => return Err(refused(RefusedAlg::Rsa1_5)),
            a if a.starts_with("PBES2") => return Err(refused(RefusedAlg::Pbes2)),
            _ => return Err(refused(RefusedAlg::NotAllowed)),
        })
    }

    /// Length of the AES key-wrapping key for the ECDH-ES+AxxxKW family.
    pub(crate) const fn kek_len(self) -> Option<usize> {
        match self {
            Self::EcdhEsA128Kw => Some(16),
            Self::EcdhEsA192Kw => Some(24),
            Self::EcdhEsA256Kw => Some(32),
            Self::RsaOaep | Self::RsaOaep256 => None,
        }
    }

    /// Whether this is an ECDH-ES key agreement.
    pub const fn is_ecdh(self) -> bool {
        self.kek_len().is_some()
    }
}

/// Content-encryption algorithms (RFC 7518 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ContentAlg {
    /// AES-128-GCM.
    A128Gcm,
    /// AES-192-GCM.
    A192Gcm,
    /// AES-256-GCM.
    A256Gcm,
    /// AES-128-CBC with HMAC-SHA-256 (RFC 7518 §5.2.3).
    A128CbcHs256,
    /// AES-192-CBC with HMAC-SHA-384.
    A192CbcHs384,
    /// AES-256-CBC with HMAC-SHA-512.
    A256CbcHs512,
}

impl ContentAlg {
    /// The registered `enc` name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::A128Gcm => "A128GCM",
            Self::A192Gcm => "A192GCM",
            Self::A256Gcm => "A256GCM",
            Self::A128CbcHs256 => "A128CBC-HS256",
            Self::A192CbcHs384 => "A192CBC-HS384",
            Self::A256CbcHs512 => "A256CBC-HS512",
        }
    }

    /// Parse an `enc` value.
    pub fn parse(enc: &str) -> Result<Self, Error> {
        Ok(match enc {
            "A128GCM" => Self::A128Gcm,
            "A192GCM" => Self::A192Gcm,
            "A256GCM" => Self::A256Gcm,
            "A128CBC-HS256" => Self::A128CbcHs256,
            "A192CBC-HS384" => Self::A192CbcHs384,
            "A256CBC-HS512" => Self::A256CbcHs512,
            _ => return Err(Error::RefusedEnc(echo(enc))),
        })
    }

    /// CEK length in bytes.
    pub const fn key_len(self) -> usize {
        match self {
            Self::A128Gcm => 16,
            Self::A192Gcm => 24,
            Self::A256Gcm | Self::A128CbcHs256 => 32,
            Self::A192CbcHs384 => 48,
            Self::A256CbcHs512 => 64,
        }
    }

    /// IV length in bytes (96 bits for GCM, one block for CBC).
    pub const fn iv_len(self) -> usize {
        match self {
            Self::A128Gcm | Self::A192Gcm | Self::A256Gcm => 12,
            _ => 16,
        }
    }

    /// Tag length in bytes.
    pub const fn tag_len(self) -> usize {
        match self {
            Self::A128Gcm | Self::A192Gcm | Self::A256Gcm | Self::A128CbcHs256 => 16,
            Self::A192CbcHs384 => 24,
            Self::A256CbcHs512 => 32,
        }
    }
}

/// Elliptic curves for ECDH-ES.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Curve {
    /// NIST P-256.
    P256,
    /// NIST P-384.
    P384,
    /// NIST P-521.
    P521,
    /// Curve25519 (RFC 8037, `kty: OKP`).
    X25519,
}

impl Curve {
    /// The registered `crv` name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::P256 => "P-256",
            Self::P384 => "P-384",
            Self::P521 => "P-521",
            Self::X25519 => "X25519",
        }
    }

    /// Parse a `crv` value.
    pub fn parse(crv: &str) -> Option<Self> {
        Some(match crv {
            "P-256" => Self::P256,
            "P-384" => Self::P384,
            "P-521" => Self::P521,
            "X25519" => Self::X25519,
            _ => return None,
        })
    }

    /// The JWK `kty` for this curve.
    pub const fn kty(self) -> &'static str {
        match self {
            Self::X25519 => "OKP",
            _ => "EC",
        }
    }

    /// Length of one coordinate (or of the X25519 key) in bytes.
    pub const fn coord_len(self) -> usize {
        match self {
            Self::P256 | Self::X25519 => 32,
            Self::P384 => 48,
            Self::P521 => 66,
        }
    }

    pub(crate) fn agreement(self) -> &'static aws_lc_rs::agreement::Algorithm {
        use aws_lc_rs::agreement;
        match self {
            Self::P256 => &agreement::ECDH_P256,
            Self::P384 => &agreement::ECDH_P384,
            Self::P521 => &agreement::ECDH_P521,
            Self::X25519 => &agreement::X25519,
        }
    }
}

/// Which algorithms an open accepts: an explicit allow-list (rule A2).
#[derive(Debug, Clone, Copy)]
pub struct AlgPolicy {
    key_algs: &'static [KeyAlg],
    content_algs: &'static [ContentAlg],
    curves: &'static [Curve],
}

impl AlgPolicy {
    /// The credential envelope v1: exactly what we seal.
    pub const CREDENTIAL: Self = Self {
        key_algs: &[KeyAlg::EcdhEsA256Kw, KeyAlg::RsaOaep256],
        content_algs: &[ContentAlg::A256Gcm],
        curves: &[Curve::P256, Curve::P384, Curve::X25519],
    };

    /// The general JWE layer: every safe registered choice, for interop.
    pub const INTEROP: Self = Self {
        key_algs: &[
            KeyAlg::EcdhEsA128Kw,
            KeyAlg::EcdhEsA192Kw,
            KeyAlg::EcdhEsA256Kw,
            KeyAlg::RsaOaep,
            KeyAlg::RsaOaep256,
        ],
        content_algs: &[
            ContentAlg::A128Gcm,
            ContentAlg::A192Gcm,
            ContentAlg::A256Gcm,
            ContentAlg::A128CbcHs256,
            ContentAlg::A192CbcHs384,
            ContentAlg::A256CbcHs512,
        ],
        curves: &[Curve::P256, Curve::P384, Curve::P521, Curve::X25519],
    };

    pub(crate) fn key_alg(&self, alg: &str) -> Result<KeyAlg, Error> {
        let parsed = KeyAlg::parse(alg)?;
        if self.key_algs.contains(&parsed) {
            Ok(parsed)
        } else {
            Err(Error::RefusedAlg { alg: echo(alg), reason: RefusedAlg::NotAllowed })
        }
    }

    pub(crate) fn content_alg(&self, enc: &str) -> Result<ContentAlg, Error> {
        let parsed = ContentAlg::parse(enc)?;
        if self.content_algs.contains(&parsed) { Ok(parsed) } else { Err(Error::RefusedEnc(echo(enc))) }
    }

    pub(crate) fn allows_curve(&self, crv: Curve) -> bool {
        self.curves.contains(&crv)
    }
}

/// A bounded copy of an attacker-chosen identifier for an error message.
pub(crate) fn echo(s: &str) -> String {
    s.chars().take(MAX_ERROR_ECHO).map(|c| if c.is_control() { '?' } else { c }).collect()
}
