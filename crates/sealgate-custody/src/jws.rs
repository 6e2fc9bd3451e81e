//! The compact JWS (RFC 7515, ES256) the custody's root key signs: the recipient key set
//! ([`crate::keyset`]) and the grants of exchange keys ([`crate::grant`]). The header
//! names the root key (`jwk`); a verifier pins that key's RFC 7638 thumbprint, so a set or
//! a grant signed by any other key is refused whatever the database or the network says.

use aws_lc_rs::signature;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use sealgate_envelope::parse_json_object;
use serde_json::{Map, Value, json};

use crate::keyset::{root_point, thumbprint};
use crate::{Custody, CustodyError};

/// Sign `payload` with the custody's root key under `typ`; `err` names the refusal.
pub(crate) async fn sign_root(
    custody: &dyn Custody,
    typ: &str,
    payload: &Value,
    err: fn(&'static str) -> CustodyError,
) -> Result<String, CustodyError> {
    let root = custody.root_public().await?;
    let header = json!({"alg": "ES256", "typ": typ, "jwk": root});
    let encode = |v: &Value| serde_json::to_vec(v).map(|b| B64.encode(b));
    let h = encode(&header).map_err(|_| err("header"))?;
    let p = encode(payload).map_err(|_| err("payload"))?;
    let signing_input = format!("{h}.{p}");
    let sig = custody.root_sign(signing_input.as_bytes()).await?;
    if sig.len() != 64 {
        return Err(err("root signature is not 64 bytes (ES256 r || s)"));
    }
    Ok(format!("{signing_input}.{}", B64.encode(sig)))
}

/// Verify a compact JWS of `typ` at most `max` bytes long, signed by the root key whose
/// thumbprint is `pin`; its payload. Every refusal is one of `err`'s fixed reasons.
pub(crate) fn verify_root(
    jws: &str,
    typ: &'static str,
    max: usize,
    pin: &str,
    err: fn(&'static str) -> CustodyError,
) -> Result<Map<String, Value>, CustodyError> {
    if jws.len() > max {
        return Err(err("too large"));
    }
    let parts: Vec<&str> = jws.trim().split('.').collect();
    let [h, p, s] = parts[..] else { return Err(err("not a compact JWS (three parts)")) };
    let object = |part: &str, what: &'static str| -> Result<Map<String, Value>, CustodyError> {
        let bytes = B64.decode(part).map_err(|_| err(what))?;
        parse_json_object(&bytes).map_err(|_| err(what))
    };
    let header = object(h, "header is not base64url JSON")?;
    if header.get("alg").and_then(Value::as_str) != Some("ES256") {
        return Err(err("alg is not ES256"));
    }
    if header.get("typ").and_then(Value::as_str) != Some(typ) {
        return Err(err("wrong typ"));
    }
    if header.contains_key("crit") {
        return Err(err("crit is not understood"));
    }
    let root = header.get("jwk").ok_or(err("header has no jwk"))?;
    if thumbprint(root).map_err(|_| err("header jwk has no thumbprint"))? != pin {
        return Err(err("signed by a key other than the pinned root"));
    }
    let point = root_point(root).map_err(|_| err("root jwk is not an EC P-256 public key"))?;
    let sig = B64.decode(s).map_err(|_| err("signature is not base64url"))?;
    signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, &point)
        .verify(format!("{h}.{p}").as_bytes(), &sig)
        .map_err(|_| err("signature does not verify"))?;
    object(p, "payload is not base64url JSON")
}
