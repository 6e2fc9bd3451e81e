//! Signing primitives the schemes share, on aws-lc-rs. Key material is
//! decoded into zeroizing buffers and never appears in an error.

use aws_lc_rs::{digest, hmac, rand, signature};
use base64::Engine as _;
use zeroize::Zeroizing;

use crate::Error;

/// HMAC over the concatenation of `parts`.
pub(crate) fn hmac(alg: hmac::Algorithm, key: &[u8], parts: &[&[u8]]) -> hmac::Tag {
    let mut ctx = hmac::Context::with_key(&hmac::Key::new(alg, key));
    for p in parts {
        ctx.update(p);
    }
    ctx.sign()
}

/// SHA-256 / SHA-384 / SHA-512 digest.
pub(crate) fn digest(alg: &'static digest::Algorithm, parts: &[&[u8]]) -> digest::Digest {
    let mut ctx = digest::Context::new(alg);
    for p in parts {
        ctx.update(p);
    }
    ctx.finish()
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(H[usize::from(b >> 4)]));
        s.push(char::from(H[usize::from(b & 15)]));
    }
    s
}

/// Standard base64 with padding.
pub(crate) fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Unpadded base64url (JWTs).
pub(crate) fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Decode a standard-base64 secret (Kraken, Coinbase Exchange) into a
/// zeroizing buffer.
pub(crate) fn b64_secret(field: &'static str, s: &str) -> Result<Zeroizing<Vec<u8>>, Error> {
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .map(Zeroizing::new)
        .map_err(|_| Error::MalformedField { field, why: "not standard base64" })
}

/// Percent-encode for a query string or form body (RFC 3986 unreserved kept).
pub(crate) fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Random bytes.
pub(crate) fn random<const N: usize>() -> Result<[u8; N], Error> {
    let mut b = [0u8; N];
    rand::fill(&mut b).map_err(|_| Error::Crypto)?;
    Ok(b)
}

/// A PEM private key, decoded. Pasted keys often carry literal `\n`
/// sequences (JSON-escaped, as Coinbase serves them): those are newlines.
pub(crate) struct PemKey {
    pub label: String,
    pub der: Zeroizing<Vec<u8>>,
}

pub(crate) fn pem(field_value: &str) -> Result<PemKey, Error> {
    let text = Zeroizing::new(field_value.trim().replace("\\n", "\n"));
    let (label, der) = pem_rfc7468::decode_vec(text.as_bytes()).map_err(|_| Error::BadKey("malformed PEM"))?;
    Ok(PemKey { label: label.to_owned(), der: Zeroizing::new(der) })
}

/// Ed25519 signature with a PKCS#8 PEM key.
pub(crate) fn ed25519_sign(pem_text: &str, msg: &[u8]) -> Result<Vec<u8>, Error> {
    let key = pem(pem_text)?;
    if key.label != "PRIVATE KEY" {
        return Err(Error::BadKey("expected a PKCS#8 \"PRIVATE KEY\" PEM for Ed25519"));
    }
    let pair = signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(&key.der)
        .map_err(|_| Error::BadKey("not an Ed25519 PKCS#8 key"))?;
    Ok(pair.sign(msg).as_ref().to_vec())
}

/// RSASSA-PKCS1-v1_5 with SHA-256, PKCS#8 or PKCS#1 PEM key.
pub(crate) fn rsa_pkcs1_sha256_sign(pem_text: &str, msg: &[u8]) -> Result<Vec<u8>, Error> {
    let key = pem(pem_text)?;
    let pair = match key.label.as_str() {
        "PRIVATE KEY" => signature::RsaKeyPair::from_pkcs8(&key.der),
        "RSA PRIVATE KEY" => signature::RsaKeyPair::from_der(&key.der),
        _ => return Err(Error::BadKey("expected a \"PRIVATE KEY\" or \"RSA PRIVATE KEY\" PEM for RSA")),
    }
    .map_err(|_| Error::BadKey("not a usable RSA private key"))?;
    let mut sig = vec![0u8; pair.public_modulus_len()];
    pair.sign(&signature::RSA_PKCS1_SHA256, &rand::SystemRandom::new(), msg, &mut sig).map_err(|_| Error::Crypto)?;
    Ok(sig)
}

/// ECDSA P-256 SHA-256, fixed-width `r || s` (JWS ES256), from a SEC1
/// ("EC PRIVATE KEY") or PKCS#8 PEM key.
pub(crate) fn es256_sign(pem_text: &str, msg: &[u8]) -> Result<Vec<u8>, Error> {
    let key = pem(pem_text)?;
    let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
    let pair = match key.label.as_str() {
        "PRIVATE KEY" => signature::EcdsaKeyPair::from_pkcs8(alg, &key.der),
        "EC PRIVATE KEY" => signature::EcdsaKeyPair::from_private_key_der(alg, &key.der),
        _ => return Err(Error::BadKey("expected an \"EC PRIVATE KEY\" or \"PRIVATE KEY\" PEM for ES256")),
    }
    .map_err(|_| Error::BadKey("not a P-256 private key"))?;
    let sig = pair.sign(&rand::SystemRandom::new(), msg).map_err(|_| Error::Crypto)?;
    Ok(sig.as_ref().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_and_url_encoding() {
        assert_eq!(hex(&[0, 0xab, 0xff]), "00abff");
        assert_eq!(url_encode("a+b/c=d e~"), "a%2Bb%2Fc%3Dd%20e~");
    }

    #[test]
    fn bad_pem_is_refused_without_echo() {
        let e =
            ed25519_sign("-----BEGIN PRIVATE KEY-----\nSECRET!!\n-----END PRIVATE KEY-----", b"m").expect_err("bad");
        assert!(!format!("{e} {e:?}").contains("SECRET"));
    }
}
