//! Exchange API keys born in the custody (DESIGN §1.1): where an exchange accepts a key
//! the user generates (Binance Ed25519 and RSA, Bybit and Bitget RSA), the private key is
//! made inside the custody and never leaves it; the exchange is given the public key and
//! answers with an API key id. The custody signs the exchange's string-to-sign on request.
//!
//! What is shared by the backends lives here: the key types, the ids, the public key's
//! SubjectPublicKeyInfo (what the exchanges' key pages take, as PEM) and a verifier that
//! checks a backend's signature before it is used.

use aws_lc_rs::signature::{self, UnparsedPublicKey};

use crate::{CustodyError, Exportability};

/// The kind of an exchange key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExchangeKeyType {
    /// Ed25519 (pure EdDSA over the message): Binance.
    Ed25519,
    /// RSA 2048 with RSASSA-PKCS1-v1_5 over SHA-256: Binance, Bybit, Bitget.
    Rsa2048,
}

impl ExchangeKeyType {
    /// Every type.
    pub const ALL: [Self; 2] = [Self::Ed25519, Self::Rsa2048];

    /// Its name (`ed25519`, `rsa-2048`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Ed25519 => "ed25519",
            Self::Rsa2048 => "rsa-2048",
        }
    }

    /// Parse a name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == s)
    }
}

impl std::fmt::Display for ExchangeKeyType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One exchange key held by a custody.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExchangeKeyInfo {
    /// Its id in the custody (`xk-` and 16 lower-case hex digits).
    pub id: String,
    /// Its type.
    pub key_type: ExchangeKeyType,
    /// The public key as DER SubjectPublicKeyInfo.
    pub public_spki: Vec<u8>,
    /// Unix seconds it was created.
    pub created_at: u64,
    /// Whether the backend holds it non-exportable.
    pub exportability: Exportability,
}

impl ExchangeKeyInfo {
    /// The public key as the exchanges' key pages take it: a `PUBLIC KEY` PEM.
    pub fn public_pem(&self) -> String {
        pem_rfc7468::encode_string("PUBLIC KEY", pem_rfc7468::LineEnding::LF, &self.public_spki).unwrap_or_default()
    }

    /// Whether `sig` is this key's signature of `message` (checked with aws-lc-rs, apart
    /// from the backend that made it).
    pub fn verify(&self, message: &[u8], sig: &[u8]) -> bool {
        verify(self.key_type, &self.public_spki, message, sig)
    }
}

/// Length of the random part of an id, in hex digits.
const ID_HEX: usize = 16;
/// The prefix of every exchange key id.
pub const ID_PREFIX: &str = "xk-";

/// A new random id.
pub(crate) fn new_id() -> Result<String, CustodyError> {
    let mut b = [0u8; ID_HEX / 2];
    aws_lc_rs::rand::fill(&mut b).map_err(|_| CustodyError::Config("random number generator failed".into()))?;
    Ok(format!("{ID_PREFIX}{}", b.iter().map(|x| format!("{x:02x}")).collect::<String>()))
}

/// Refuses anything but an id [`new_id`] makes (ids reach file names, token labels and URLs).
pub fn check_id(id: &str) -> Result<(), CustodyError> {
    let ok = id
        .strip_prefix(ID_PREFIX)
        .is_some_and(|h| h.len() == ID_HEX && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
    if ok { Ok(()) } else { Err(CustodyError::UnknownKid(id.chars().take(64).collect())) }
}

/// DER SubjectPublicKeyInfo prefix of an Ed25519 key (RFC 8410): the 32 key bytes follow.
const ED25519_SPKI_PREFIX: [u8; 12] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

/// The SubjectPublicKeyInfo of a raw Ed25519 public key.
pub(crate) fn ed25519_spki(raw: &[u8]) -> Option<Vec<u8>> {
    (raw.len() == 32).then(|| [&ED25519_SPKI_PREFIX[..], raw].concat())
}

/// DER length octets.
fn der_len(n: usize, out: &mut Vec<u8>) {
    match n {
        0..=0x7f => out.push(n as u8),
        0x80..=0xff => out.extend([0x81, n as u8]),
        _ => out.extend([0x82, (n >> 8) as u8, n as u8]),
    }
}

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    der_len(content.len(), &mut out);
    out.extend_from_slice(content);
    out
}

/// A positive DER INTEGER from big-endian magnitude bytes.
fn der_uint(bytes: &[u8]) -> Vec<u8> {
    let trimmed = match bytes.iter().position(|&b| b != 0) {
        Some(i) => &bytes[i..],
        None => &[0u8][..],
    };
    if trimmed[0] & 0x80 != 0 { der(0x02, &[&[0u8][..], trimmed].concat()) } else { der(0x02, trimmed) }
}

/// The SubjectPublicKeyInfo of an RSA public key from its modulus and exponent
/// (big-endian), as a PKCS#11 token reports them. At most 8192 bits.
pub(crate) fn rsa_spki(n: &[u8], e: &[u8]) -> Option<Vec<u8>> {
    if n.is_empty() || n.len() > 1024 || e.is_empty() || e.len() > 16 {
        return None;
    }
    let rsa_public_key = der(0x30, &[der_uint(n), der_uint(e)].concat());
    // AlgorithmIdentifier: rsaEncryption (1.2.840.113549.1.1.1), NULL parameters.
    let alg = [0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00];
    let bits = der(0x03, &[&[0u8][..], &rsa_public_key].concat());
    Some(der(0x30, &[&alg[..], &bits].concat()))
}

/// Whether `sig` is a signature of `message` by the key `spki` of type `key_type`.
pub fn verify(key_type: ExchangeKeyType, spki: &[u8], message: &[u8], sig: &[u8]) -> bool {
    match key_type {
        ExchangeKeyType::Ed25519 => spki.strip_prefix(&ED25519_SPKI_PREFIX[..]).is_some_and(|raw| {
            raw.len() == 32 && UnparsedPublicKey::new(&signature::ED25519, raw).verify(message, sig).is_ok()
        }),
        ExchangeKeyType::Rsa2048 => {
            UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, spki).verify(message, sig).is_ok()
        }
    }
}

/// A signature a backend returned, checked before anyone uses it: a token or server that
/// signs with another key, or returns junk, is caught here, not at the exchange.
pub(crate) fn checked(
    info: &ExchangeKeyInfo,
    message: &[u8],
    sig: Vec<u8>,
    backend: &'static str,
) -> Result<Vec<u8>, CustodyError> {
    if info.verify(message, &sig) {
        Ok(sig)
    } else {
        Err(CustodyError::Backend {
            backend,
            what: "sign with an exchange key: the signature does not verify",
            source: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::encoding::AsDer as _;
    use aws_lc_rs::signature::KeyPair as _;

    #[test]
    fn ids() {
        let id = new_id().expect("id");
        assert!(check_id(&id).is_ok(), "{id}");
        assert_ne!(id, new_id().expect("id"));
        for bad in [
            "",
            "xk-",
            "xk-0123456789abcdeF",
            "xk-0123456789abcde",
            "xk-0123456789abcdef0",
            "../xk-0123456789abcdef",
            "k-0123456789abcdef0",
        ] {
            assert!(check_id(bad).is_err(), "{bad}");
        }
        assert_eq!(ExchangeKeyType::parse("rsa-2048"), Some(ExchangeKeyType::Rsa2048));
        assert_eq!(ExchangeKeyType::parse("rsa"), None);
    }

    /// Our SubjectPublicKeyInfo of an RSA key is byte for byte aws-lc's, and verifies.
    #[test]
    fn rsa_spki_matches_aws_lc() {
        let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("rsa");
        let components: aws_lc_rs::rsa::PublicKeyComponents<Vec<u8>> = pair.public_key().into();
        let ours = rsa_spki(&components.n, &components.e).expect("spki");
        let theirs = pair.public_key().as_der().expect("der");
        assert_eq!(ours, theirs.as_ref());
        let mut sig = vec![0u8; pair.public_modulus_len()];
        pair.sign(&signature::RSA_PKCS1_SHA256, &aws_lc_rs::rand::SystemRandom::new(), b"m", &mut sig).expect("sign");
        assert!(verify(ExchangeKeyType::Rsa2048, &ours, b"m", &sig));
        assert!(!verify(ExchangeKeyType::Rsa2048, &ours, b"n", &sig));
        assert!(!verify(ExchangeKeyType::Ed25519, &ours, b"m", &sig));
    }

    #[test]
    fn ed25519_spki_matches_aws_lc() {
        let doc = signature::Ed25519KeyPair::generate_pkcs8(&aws_lc_rs::rand::SystemRandom::new()).expect("ed");
        let pair = signature::Ed25519KeyPair::from_pkcs8(doc.as_ref()).expect("pair");
        let ours = ed25519_spki(pair.public_key().as_ref()).expect("spki");
        assert_eq!(ours, pair.public_key().as_der().expect("der").as_ref());
        let sig = pair.sign(b"m");
        assert!(verify(ExchangeKeyType::Ed25519, &ours, b"m", sig.as_ref()));
        assert!(!verify(ExchangeKeyType::Ed25519, &ours[1..], b"m", sig.as_ref()));
        assert!(ed25519_spki(&[0u8; 31]).is_none());
    }
}
