//! The grant of an exchange key born in the custody: what a sealed envelope's protected
//! header says for a sealed credential (DESIGN §1.3), said by the custody's root key.
//!
//! A credential whose private key never leaves the custody has no envelope, so nothing the
//! owner sealed can fix which roles may use it. The grant does: one per (credential, role),
//! a compact JWS (ES256) by the root key naming the owner (`sub`), the credential (`cid`),
//! the exchange (`exch`), the one role (`aud`), the classes (`scope`), the custody key
//! (`key`, with the SHA-256 of its public key, `spk`), the exchange's API key id
//! (`api_key`) and the owner's authority keys (`own`). The signer checks it on every use
//! against the stored row and the role asking, so a database writer can neither add a role
//! or a class nor point a credential at another key; a revoked grant is known by its digest
//! in the audit chain, like a revoked envelope.
//!
//! A grant without `api_key` is *pending*: made with the key, before the exchange has
//! named it. It signs nothing; it is the proof, at activation, that the key was made for
//! this owner, credential and roles.

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use sealgate_envelope::{Binding, OwnerKeys};
use sealgate_vocab::{CredentialId, OwnerId, Role, Scope};
use serde_json::{Map, Value, json};

use crate::exchange_key::{ExchangeKeyInfo, ExchangeKeyType, check_id};
use crate::{Custody, CustodyError};

/// The JWS `typ` of a grant.
pub const GRANT_TYP: &str = "sealgate-grant+jws";
/// Largest grant we parse (an approval and a sealed passphrase included).
pub const MAX_GRANT: usize = 16 * 1024;
/// Largest `sealed` member.
pub const SEALED_MAX: usize = 8 * 1024;
/// How far in the future `iat` may lie.
const MAX_SKEW_SECS: u64 = 300;
/// Longest exchange API key id (Binance's are 64 characters; Coinbase names are longer).
pub const API_KEY_MAX: usize = 256;

fn bad(why: &'static str) -> CustodyError {
    CustodyError::Grant(why)
}

/// What a grant says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The owner.
    pub sub: String,
    /// The credential id.
    pub cid: String,
    /// The exchange id.
    pub exch: String,
    /// The one role that may use it.
    pub aud: Role,
    /// The classes the owner granted.
    pub scope: Scope,
    /// The custody key id.
    pub key: String,
    /// Its type.
    pub key_type: ExchangeKeyType,
    /// SHA-256 of its public key (DER SubjectPublicKeyInfo), base64url.
    pub spk: String,
    /// The exchange's API key id; `None` while pending.
    pub api_key: Option<String>,
    /// The owner's authority keys, when the owner named any.
    pub own: Option<OwnerKeys>,
    /// What the exchange also needs beside the key, sealed by the owner to the grant's role
    /// as a credential envelope (`{"api_key", "passphrase"}`: Bitget's passphrase), which
    /// only the signer opens; `None` where the exchange needs nothing more.
    pub sealed: Option<String>,
    /// The owner's approval of the grant's terms by one of those keys (a WebAuthn
    /// assertion over a `grant` statement, AUTHORITY.md S6), as the signer checks it; set
    /// on an active grant whose `own` names keys.
    pub approval: Option<Value>,
    /// When it was made (Unix seconds).
    pub iat: u64,
}

/// Largest `approval` member, in bytes of JSON.
pub const APPROVAL_MAX: usize = 4096;

/// The [`Grant::spk`] of a public key.
pub fn spki_digest(spki: &[u8]) -> String {
    B64.encode(digest::digest(&digest::SHA256, spki))
}

/// The identity of a stored grant: SHA-256 of its compact text (as a revocation names it).
pub fn digest(jws: &str) -> [u8; 32] {
    let d = digest::digest(&digest::SHA256, jws.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Whether `text` is shaped as a grant (a three-part compact JWS of [`GRANT_TYP`]); says
/// nothing of its signature. A sealed envelope is five parts and never matches.
pub fn is_grant(text: &str) -> bool {
    let mut parts = text.trim().split('.');
    let (Some(h), Some(_), Some(_), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    B64.decode(h)
        .ok()
        .and_then(|b| sealgate_envelope::parse_json_object(&b).ok())
        .is_some_and(|m| m.get("typ").and_then(Value::as_str) == Some(GRANT_TYP))
}

/// The `own` member a stored grant *claims* ([`claimed`]): only for the api's early, clear
/// answer about which passkeys an approval needs. Nothing may be decided on it; the signer
/// decides on [`Grant::verify`].
pub fn claimed_own(text: &str) -> Option<Vec<String>> {
    claimed(text)?.get("own")?.as_array()?.iter().map(|v| v.as_str().map(str::to_owned)).collect()
}

/// Every member a grant *claims*, read without checking its signature: to address what a
/// client sends with it (whose role, which credential). Nothing may be decided on it.
pub fn claimed(text: &str) -> Option<Map<String, Value>> {
    if !is_grant(text) {
        return None;
    }
    let payload = text.split('.').nth(1)?;
    sealgate_envelope::parse_json_object(&B64.decode(payload).ok()?).ok()
}

/// Checks an exchange API key id: 1 to [`API_KEY_MAX`] printable ASCII characters, no
/// spaces (it travels in a header).
pub fn check_api_key(s: &str) -> Result<(), CustodyError> {
    if s.is_empty() || s.len() > API_KEY_MAX || !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad("the API key id must be 1 to 256 printable ASCII characters without spaces"));
    }
    Ok(())
}

impl Grant {
    /// The last four characters of the API key id (the credential's display hint), or
    /// `None` while pending.
    pub fn hint(&self) -> Option<String> {
        let k = self.api_key.as_deref()?;
        Some(k[k.len().saturating_sub(4)..].to_owned())
    }

    /// Whether it names `info`: the same id, type and public key.
    pub fn names_key(&self, info: &ExchangeKeyInfo) -> bool {
        self.key == info.id && self.key_type == info.key_type && self.spk == spki_digest(&info.public_spki)
    }

    fn validate(&self) -> Result<(), CustodyError> {
        OwnerId::parse(&self.sub).map_err(|_| bad("sub is not an owner id"))?;
        CredentialId::parse(&self.cid).map_err(|_| bad("cid is not a credential id"))?;
        let exch_ok = !self.exch.is_empty()
            && self.exch.len() <= 32
            && self.exch.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if !exch_ok {
            return Err(bad("exch is not an exchange id"));
        }
        check_id(&self.key).map_err(|_| bad("key is not an exchange key id"))?;
        if B64.decode(&self.spk).map_or(true, |d| d.len() != 32) {
            return Err(bad("spk is not a base64url SHA-256"));
        }
        if let Some(k) = &self.api_key {
            check_api_key(k)?;
        }
        if self.sealed.as_ref().is_some_and(|j| j.is_empty() || j.len() > SEALED_MAX) {
            return Err(bad("sealed is not a compact JWE of at most 8 KiB"));
        }
        if let Some(a) = &self.approval
            && (!a.is_object() || a.to_string().len() > APPROVAL_MAX)
        {
            return Err(bad("approval is not an object of at most 4 KiB"));
        }
        Ok(())
    }

    fn to_payload(&self) -> Value {
        let mut m = Map::new();
        m.insert("iss".into(), "sealgate".into());
        m.insert("sub".into(), self.sub.clone().into());
        m.insert("cid".into(), self.cid.clone().into());
        m.insert("exch".into(), self.exch.clone().into());
        m.insert("aud".into(), self.aud.name().into());
        m.insert("scope".into(), self.scope.classes().iter().map(|c| Value::from(c.name())).collect());
        m.insert("key".into(), self.key.clone().into());
        m.insert("kty".into(), self.key_type.name().into());
        m.insert("spk".into(), self.spk.clone().into());
        if let Some(k) = &self.api_key {
            m.insert("api_key".into(), k.clone().into());
        }
        if let Some(own) = &self.own {
            m.insert("own".into(), json!(own.thumbprints()));
        }
        if let Some(j) = &self.sealed {
            m.insert("sealed".into(), j.clone().into());
        }
        if let Some(a) = &self.approval {
            m.insert("approval".into(), a.clone());
        }
        m.insert("iat".into(), self.iat.into());
        Value::Object(m)
    }

    /// Sign it with the custody's root key.
    pub async fn sign(&self, custody: &dyn Custody) -> Result<String, CustodyError> {
        self.validate()?;
        crate::jws::sign_root(custody, GRANT_TYP, &self.to_payload(), bad).await
    }

    /// Verify a grant signed by the root key whose thumbprint is `pin`, made no later
    /// than `now` (plus a little skew); what it says.
    pub fn verify(jws: &str, pin: &str, now: u64) -> Result<Self, CustodyError> {
        let p = crate::jws::verify_root(jws, GRANT_TYP, MAX_GRANT, pin, bad)?;
        let known = [
            "iss", "sub", "cid", "exch", "aud", "scope", "key", "kty", "spk", "api_key", "own", "sealed", "approval",
            "iat",
        ];
        // A member we do not read would be a promise nobody checks.
        if p.keys().any(|k| !known.contains(&k.as_str())) {
            return Err(bad("a member is not understood"));
        }
        let s = |k: &'static str| -> Result<String, CustodyError> {
            p.get(k).and_then(Value::as_str).map(str::to_owned).ok_or(bad(k))
        };
        if s("iss")? != "sealgate" {
            return Err(bad("iss is not sealgate"));
        }
        let aud = Role::parse(&s("aud")?).ok_or(bad("aud is not a role"))?;
        let scope = p
            .get("scope")
            .and_then(Value::as_array)
            .and_then(|a| a.iter().map(Value::as_str).collect::<Option<Vec<_>>>())
            .and_then(|names| Scope::from_names(names).ok())
            .ok_or(bad("scope is not a list of classes"))?;
        let key_type = ExchangeKeyType::parse(&s("kty")?).ok_or(bad("kty is not an exchange key type"))?;
        let api_key = match p.get("api_key") {
            None => None,
            Some(Value::String(k)) => Some(k.clone()),
            Some(_) => return Err(bad("api_key")),
        };
        let own = match p.get("own") {
            None => None,
            Some(Value::Array(a)) => {
                let list: Vec<&str> = a.iter().map(Value::as_str).collect::<Option<_>>().ok_or(bad("own"))?;
                let own = OwnerKeys::new(&list).map_err(|_| bad("own is not a list of thumbprints"))?;
                // One spelling (sorted, as OwnerKeys keeps it), as in an envelope's header.
                if own.thumbprints() != list.as_slice() {
                    return Err(bad("own is not in its canonical order"));
                }
                Some(own)
            }
            Some(_) => return Err(bad("own")),
        };
        let iat = p.get("iat").and_then(Value::as_u64).ok_or(bad("iat"))?;
        if iat > now.saturating_add(MAX_SKEW_SECS) {
            return Err(bad("issued in the future"));
        }
        let g = Self {
            sub: s("sub")?,
            cid: s("cid")?,
            exch: s("exch")?,
            aud,
            scope,
            key: s("key")?,
            key_type,
            spk: s("spk")?,
            api_key,
            own,
            sealed: match p.get("sealed") {
                None => None,
                Some(Value::String(j)) => Some(j.clone()),
                Some(_) => return Err(bad("sealed")),
            },
            approval: p.get("approval").cloned(),
            iat,
        };
        g.validate()?;
        Ok(g)
    }

    /// Check it against the stored row and the role asking (as an envelope's binding).
    pub fn check_binding(&self, expected: &Binding) -> Result<(), CustodyError> {
        if self.sub != expected.sub {
            return Err(bad("sub does not match the stored credential"));
        }
        if self.cid != expected.cid {
            return Err(bad("cid does not match the stored credential"));
        }
        if self.exch != expected.exch {
            return Err(bad("exch does not match the stored credential"));
        }
        if self.aud.name() != expected.aud {
            return Err(bad("aud is another role"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape() {
        assert!(!is_grant("a.b.c.d.e"));
        assert!(!is_grant("x"));
        let h = B64.encode(br#"{"alg":"ES256","typ":"sealgate-grant+jws"}"#);
        assert!(is_grant(&format!("{h}.e30.AA")));
        let h = B64.encode(br#"{"alg":"ES256","typ":"sealgate-keyset+jws"}"#);
        assert!(!is_grant(&format!("{h}.e30.AA")));
    }

    #[test]
    fn api_key_ids() {
        for ok in ["k", &"A".repeat(256), "organizations/x/apiKeys/y"] {
            assert!(check_api_key(ok).is_ok(), "{ok}");
        }
        for no in ["", "a b", "a\nb", "é", &"A".repeat(257)] {
            assert!(check_api_key(no).is_err(), "{no:?}");
        }
    }
}
