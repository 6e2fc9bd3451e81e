//! An owner's authority key: a passkey's credential public key (AUTHORITY.md
//! K1-K3), read from the COSE_Key WebAuthn registration gives or from a JWK,
//! named by its RFC 7638 thumbprint.

use std::fmt;

use aws_lc_rs::digest;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1, ED25519, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents,
};
use serde_json::{Map, Value};

use crate::cbor::{Reader, Value as Cbor};
use crate::{Error, b64};

/// Largest COSE_Key we read (an RSA-8192 key fits).
pub const MAX_COSE_KEY: usize = 2048;
/// Largest JWK we read.
pub const MAX_JWK: usize = 4096;
/// Smallest and largest RSA modulus, in bytes (2048 to 8192 bits).
const RSA_MODULUS: std::ops::RangeInclusive<usize> = 256..=1024;

/// The COSE algorithms we verify (IANA COSE Algorithms registry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CoseAlg {
    /// ECDSA with SHA-256 on P-256 (-7); the signature is DER-encoded (WebAuthn §6.5.6).
    Es256,
    /// EdDSA on Ed25519 (-8).
    EdDsa,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (-257).
    Rs256,
}

impl CoseAlg {
    /// The COSE algorithm number.
    pub const fn number(self) -> i64 {
        match self {
            Self::Es256 => -7,
            Self::EdDsa => -8,
            Self::Rs256 => -257,
        }
    }

    /// The JOSE `alg` name.
    pub const fn jose_name(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
            Self::Rs256 => "RS256",
        }
    }
}

#[derive(Clone, PartialEq, Eq)]
enum Material {
    /// P-256: the coordinates, 32 bytes each.
    P256 { x: [u8; 32], y: [u8; 32] },
    /// Ed25519: the public key.
    Ed25519 { x: [u8; 32] },
    /// RSA: modulus and exponent, big-endian without leading zeros.
    Rsa { n: Vec<u8>, e: Vec<u8> },
}

/// A public key that may approve for its owner. Made only by parsing, so it
/// is always a valid key of a supported algorithm (K1, K2).
#[derive(Clone, PartialEq, Eq)]
pub struct AuthorityKey {
    material: Material,
}

impl fmt::Debug for AuthorityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuthorityKey({} {})", self.alg().jose_name(), self.thumbprint())
    }
}

impl AuthorityKey {
    /// A key from the COSE_Key (RFC 9052 §7) of a WebAuthn credential public key (K1):
    /// EC2 P-256 with `alg` -7, OKP Ed25519 with -8, RSA with -257; `alg` is
    /// required, no other label is allowed, every member has its exact length.
    pub fn from_cose(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.len() > MAX_COSE_KEY {
            return Err(Error::TooLarge("COSE key"));
        }
        let map = Reader::new(bytes).int_map(8)?;
        let get = |label: i128| map.iter().find(|(l, _)| *l == label).map(|(_, v)| v);
        let int = |label: i128, what: &'static str| match get(label) {
            Some(Cbor::Int(i)) => Ok(*i),
            Some(_) => Err(Error::InvalidKey(what)),
            None => Err(Error::InvalidKey(what)),
        };
        let bytes_of = |label: i128, what: &'static str| match get(label) {
            Some(Cbor::Bytes(b)) => Ok(*b),
            _ => Err(Error::InvalidKey(what)),
        };
        let kty = int(1, "COSE key lacks an integer kty (1)")?;
        let alg = int(3, "COSE key lacks an integer alg (3)")?;
        let (labels, key): (&[i128], _) = match (kty, alg) {
            (2, -7) => {
                if int(-1, "EC2 key lacks an integer crv (-1)")? != 1 {
                    return Err(Error::UnsupportedKey("EC2 curve other than P-256 (1)"));
                }
                let x = fixed(bytes_of(-2, "EC2 key lacks x (-2)")?, "EC2 x is not 32 bytes")?;
                let y = fixed(bytes_of(-3, "EC2 key lacks y (-3)")?, "EC2 y is not 32 bytes")?;
                (&[1, 3, -1, -2, -3], Self::p256(x, y)?)
            }
            (1, -8) => {
                if int(-1, "OKP key lacks an integer crv (-1)")? != 6 {
                    return Err(Error::UnsupportedKey("OKP curve other than Ed25519 (6)"));
                }
                let x = fixed(bytes_of(-2, "OKP key lacks x (-2)")?, "Ed25519 x is not 32 bytes")?;
                (&[1, 3, -1, -2], Self::ed25519(x)?)
            }
            (3, -257) => {
                let n = bytes_of(-1, "RSA key lacks n (-1)")?;
                let e = bytes_of(-2, "RSA key lacks e (-2)")?;
                (&[1, 3, -1, -2], Self::rsa(n, e)?)
            }
            (1..=3, _) => {
                return Err(Error::UnsupportedKey("COSE alg does not fit the key type (need -7, -8 or -257)"));
            }
            _ => return Err(Error::UnsupportedKey("COSE kty other than OKP (1), EC2 (2) or RSA (3)")),
        };
        if map.iter().any(|(l, _)| !labels.contains(l)) {
            return Err(Error::InvalidKey("COSE key has a label its type does not define"));
        }
        Ok(key)
    }

    /// A key from a public JWK (RFC 7517) (K2): `EC` P-256, `OKP` Ed25519 or
    /// `RSA`; `alg`, `kid`, `use`, `key_ops`, `ext` may be present (`alg` must
    /// fit), private members are refused, duplicates are refused.
    pub fn from_jwk(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.len() > MAX_JWK {
            return Err(Error::TooLarge("JWK"));
        }
        let map =
            sealgate_envelope::parse_json_object(bytes).map_err(|_| Error::Malformed("JWK is not a JSON object"))?;
        Self::from_jwk_map(&map)
    }

    fn from_jwk_map(map: &Map<String, Value>) -> Result<Self, Error> {
        let s = |k: &str, what: &'static str| map.get(k).and_then(Value::as_str).ok_or(Error::InvalidKey(what));
        for private in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
            if map.contains_key(private) {
                return Err(Error::InvalidKey("JWK holds private key material"));
            }
        }
        let (allowed, key): (&[&str], _) = match s("kty", "JWK lacks kty")? {
            "EC" => {
                if s("crv", "EC JWK lacks crv")? != "P-256" {
                    return Err(Error::UnsupportedKey("EC curve other than P-256"));
                }
                let x = fixed(&b64::decode("JWK x", s("x", "EC JWK lacks x")?)?, "EC x is not 32 bytes")?;
                let y = fixed(&b64::decode("JWK y", s("y", "EC JWK lacks y")?)?, "EC y is not 32 bytes")?;
                (&["kty", "crv", "x", "y"][..], Self::p256(x, y)?)
            }
            "OKP" => {
                if s("crv", "OKP JWK lacks crv")? != "Ed25519" {
                    return Err(Error::UnsupportedKey("OKP curve other than Ed25519"));
                }
                let x = fixed(&b64::decode("JWK x", s("x", "OKP JWK lacks x")?)?, "Ed25519 x is not 32 bytes")?;
                (&["kty", "crv", "x"][..], Self::ed25519(x)?)
            }
            "RSA" => {
                let n = b64::decode("JWK n", s("n", "RSA JWK lacks n")?)?;
                let e = b64::decode("JWK e", s("e", "RSA JWK lacks e")?)?;
                (&["kty", "n", "e"][..], Self::rsa(&n, &e)?)
            }
            _ => return Err(Error::UnsupportedKey("JWK kty other than EC, OKP or RSA")),
        };
        for k in map.keys() {
            if !allowed.contains(&k.as_str()) && !matches!(k.as_str(), "alg" | "kid" | "use" | "key_ops" | "ext") {
                return Err(Error::InvalidKey("JWK has a member its key type does not define"));
            }
        }
        match map.get("alg") {
            None => {}
            Some(Value::String(a)) if a == key.alg().jose_name() => {}
            Some(_) => return Err(Error::InvalidKey("JWK alg does not fit the key")),
        }
        Ok(key)
    }

    fn p256(x: [u8; 32], y: [u8; 32]) -> Result<Self, Error> {
        let mut point = [0u8; 65];
        point[0] = 4;
        point[1..33].copy_from_slice(&x);
        point[33..].copy_from_slice(&y);
        // aws-lc checks the point is on the curve and not the identity.
        ParsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, point)
            .map_err(|_| Error::InvalidKey("P-256 point is not on the curve"))?;
        Ok(Self { material: Material::P256 { x, y } })
    }

    fn ed25519(x: [u8; 32]) -> Result<Self, Error> {
        ParsedPublicKey::new(&ED25519, x).map_err(|_| Error::InvalidKey("Ed25519 key does not decode"))?;
        Ok(Self { material: Material::Ed25519 { x } })
    }

    fn rsa(n: &[u8], e: &[u8]) -> Result<Self, Error> {
        if n.first() == Some(&0) || e.first() == Some(&0) {
            return Err(Error::InvalidKey("RSA n and e must have no leading zero bytes"));
        }
        if !RSA_MODULUS.contains(&n.len()) {
            return Err(Error::InvalidKey("RSA modulus must be 2048 to 8192 bits"));
        }
        // e: odd, at least 3, at most 32 bits (what aws-lc verifies with).
        let odd = e.last().is_some_and(|b| b & 1 == 1);
        if e.is_empty() || e.len() > 4 || !odd || e == [1] {
            return Err(Error::InvalidKey("RSA exponent must be odd, at least 3 and at most 32 bits"));
        }
        Ok(Self { material: Material::Rsa { n: n.to_vec(), e: e.to_vec() } })
    }

    /// The algorithm this key verifies.
    pub fn alg(&self) -> CoseAlg {
        match self.material {
            Material::P256 { .. } => CoseAlg::Es256,
            Material::Ed25519 { .. } => CoseAlg::EdDsa,
            Material::Rsa { .. } => CoseAlg::Rs256,
        }
    }

    /// The RFC 7638 members, in lexicographic order, as (name, value) (K3).
    fn required_members(&self) -> Vec<(&'static str, String)> {
        match &self.material {
            Material::P256 { x, y } => {
                vec![("crv", "P-256".into()), ("kty", "EC".into()), ("x", b64::encode(x)), ("y", b64::encode(y))]
            }
            Material::Ed25519 { x } => vec![("crv", "Ed25519".into()), ("kty", "OKP".into()), ("x", b64::encode(x))],
            Material::Rsa { n, e } => vec![("e", b64::encode(e)), ("kty", "RSA".into()), ("n", b64::encode(n))],
        }
    }

    /// The RFC 7638 JWK thumbprint with SHA-256, unpadded base64url (43
    /// characters): what the envelope's `own` lists (K3, envelope PROFILE C8).
    pub fn thumbprint(&self) -> String {
        // RFC 7638 §3.2: the required members only, sorted, no whitespace. Every value is
        // base64url or a fixed name, so none needs escaping.
        let body: Vec<String> = self.required_members().iter().map(|(k, v)| format!("\"{k}\":\"{v}\"")).collect();
        let json = format!("{{{}}}", body.join(","));
        b64::encode(digest::digest(&digest::SHA256, json.as_bytes()).as_ref())
    }

    /// The public JWK, with `alg`.
    pub fn to_jwk(&self) -> Map<String, Value> {
        let mut m: Map<String, Value> =
            self.required_members().into_iter().map(|(k, v)| (k.to_owned(), Value::from(v))).collect();
        m.insert("alg".into(), self.alg().jose_name().into());
        m
    }

    /// Verify `signature` over `message` (W6): ES256 takes a DER-encoded ECDSA signature.
    pub(crate) fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), Error> {
        let parsed = |alg, bytes: &[u8]| ParsedPublicKey::new(alg, bytes).map_err(|_| Error::BadSignature);
        let ok = match &self.material {
            Material::P256 { x, y } => {
                let mut point = [0u8; 65];
                point[0] = 4;
                point[1..33].copy_from_slice(x);
                point[33..].copy_from_slice(y);
                parsed(&ECDSA_P256_SHA256_ASN1, &point)?.verify_sig(message, signature).is_ok()
            }
            Material::Ed25519 { x } => parsed(&ED25519, x)?.verify_sig(message, signature).is_ok(),
            Material::Rsa { n, e } => {
                RsaPublicKeyComponents { n, e }.verify(&RSA_PKCS1_2048_8192_SHA256, message, signature).is_ok()
            }
        };
        if ok { Ok(()) } else { Err(Error::BadSignature) }
    }
}

fn fixed(b: &[u8], what: &'static str) -> Result<[u8; 32], Error> {
    <[u8; 32]>::try_from(b).map_err(|_| Error::InvalidKey(what))
}
