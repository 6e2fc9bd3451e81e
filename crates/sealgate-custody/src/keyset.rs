//! The signed recipient key set: a JWS (ES256, compact) over the JWKS of
//! every active role key, signed by the custody's root key, with an expiry.
//! Clients pin the root key's RFC 7638 thumbprint and refuse to seal to a
//! set that is unsigned, expired, or signed by another key.

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use sealgate_envelope::PublicJwk;
use serde_json::{Map, Value, json};

use crate::{Custody, CustodyError, KeyStatus};

/// The JWS `typ` of a recipient key set.
pub const KEYSET_TYP: &str = "sealgate-keyset+jws";
/// Largest key set we parse.
const MAX_KEYSET: usize = 256 * 1024;
/// How far in the future `iat` may lie.
const MAX_SKEW_SECS: u64 = 300;

/// RFC 7638 JWK thumbprint (SHA-256, base64url) of a public JWK: the
/// required members only, in lexicographic order, without whitespace.
pub fn thumbprint(jwk: &Value) -> Result<String, CustodyError> {
    let bad = || CustodyError::KeySet("key has no RFC 7638 thumbprint (unsupported kty or missing members)");
    let m = jwk.as_object().ok_or_else(bad)?;
    let s = |k: &str| m.get(k).and_then(Value::as_str).ok_or_else(bad);
    // serde_json's Map (without preserve_order) is sorted, as RFC 7638 needs.
    let mut canon = Map::new();
    let members: &[&str] = match s("kty")? {
        "EC" => &["crv", "kty", "x", "y"],
        "OKP" => &["crv", "kty", "x"],
        "RSA" => &["e", "kty", "n"],
        _ => return Err(bad()),
    };
    for k in members {
        canon.insert((*k).to_owned(), Value::from(s(k)?));
    }
    let text = serde_json::to_string(&canon).map_err(|_| bad())?;
    Ok(B64.encode(digest::digest(&digest::SHA256, text.as_bytes())))
}

/// Sign the set of active role keys, valid for `ttl_secs` from `now`.
pub async fn sign(custody: &dyn Custody, now: u64, ttl_secs: u64) -> Result<String, CustodyError> {
    let mut keys = Vec::new();
    for k in custody.keys().await? {
        if k.status == KeyStatus::Active {
            let mut jwk = k.public.to_json();
            if let Some(o) = jwk.as_object_mut() {
                o.insert("role".into(), k.role.clone().into());
            }
            keys.push(jwk);
        }
    }
    let payload = json!({"iss": "sealgate", "iat": now, "exp": now.saturating_add(ttl_secs), "keys": keys});
    crate::jws::sign_root(custody, KEYSET_TYP, &payload, CustodyError::KeySet).await
}

/// One recipient of a verified set.
#[derive(Debug, Clone)]
pub struct Recipient {
    /// The role.
    pub role: String,
    /// Its key.
    pub key: PublicJwk,
}

/// Verify a signed set against the pinned root thumbprint at time `now`;
/// return its recipients.
pub fn verify(jws: &str, pin: &str, now: u64) -> Result<Vec<Recipient>, CustodyError> {
    let payload = crate::jws::verify_root(jws, KEYSET_TYP, MAX_KEYSET, pin, CustodyError::KeySet)?;
    let exp = payload.get("exp").and_then(Value::as_u64).ok_or(CustodyError::KeySet("payload has no exp"))?;
    let iat = payload.get("iat").and_then(Value::as_u64).ok_or(CustodyError::KeySet("payload has no iat"))?;
    if now >= exp {
        return Err(CustodyError::KeySet("expired"));
    }
    if iat > now.saturating_add(MAX_SKEW_SECS) {
        return Err(CustodyError::KeySet("issued in the future"));
    }
    let keys = payload.get("keys").and_then(Value::as_array).ok_or(CustodyError::KeySet("payload has no keys"))?;
    keys.iter()
        .map(|k| {
            let mut k = k.as_object().cloned().ok_or(CustodyError::KeySet("a key is not an object"))?;
            let role = match k.remove("role") {
                Some(Value::String(r)) if !r.is_empty() => r,
                _ => return Err(CustodyError::KeySet("a key has no role")),
            };
            let text = serde_json::to_vec(&k).map_err(|_| CustodyError::KeySet("a key is malformed"))?;
            let key = PublicJwk::from_json(&text)
                .map_err(|_| CustodyError::KeySet("a key is not a valid public encryption JWK"))?;
            if key.kid().is_none() {
                return Err(CustodyError::KeySet("a key has no kid"));
            }
            Ok(Recipient { role, key })
        })
        .collect()
}

/// The uncompressed point of an EC P-256 public JWK.
pub(crate) fn root_point(jwk: &Value) -> Result<Vec<u8>, CustodyError> {
    let bad = CustodyError::KeySet("root jwk is not an EC P-256 public key");
    let m = jwk.as_object().ok_or(bad.clone())?;
    if m.get("kty").and_then(Value::as_str) != Some("EC")
        || m.get("crv").and_then(Value::as_str) != Some("P-256")
        || m.contains_key("d")
    {
        return Err(bad);
    }
    let coord = |k: &str| m.get(k).and_then(Value::as_str).and_then(|v| B64.decode(v).ok()).filter(|v| v.len() == 32);
    let (x, y) = (coord("x").ok_or(bad.clone())?, coord("y").ok_or(bad)?);
    Ok([&[4u8][..], &x, &y].concat())
}

/// An EC P-256 public JWK (`use: sig`, `alg: ES256`) from an uncompressed point.
pub fn root_jwk_from_point(point: &[u8]) -> Result<Value, CustodyError> {
    if point.len() != 65 || point[0] != 4 {
        return Err(CustodyError::KeySet("root public key is not an uncompressed P-256 point"));
    }
    Ok(
        json!({"kty": "EC", "crv": "P-256", "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..]), "use": "sig", "alg": "ES256"}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7638 §3.1: the RFC 7517 Appendix A.1 RSA key.
    #[test]
    fn rfc7638_example() {
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        assert_eq!(thumbprint(&jwk).expect("thumbprint"), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }
}
