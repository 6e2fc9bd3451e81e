//! The credential envelope v1 (PROFILE.md rules C1-C7): one compact JWE per
//! (credential, role), whose protected header binds it to a user, a
//! credential id, an exchange, one role and the classes the user granted.

use std::collections::BTreeMap;
use std::fmt;

use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Map, Value};

use crate::alg::AlgPolicy;
use crate::error::CredentialError as E;
use crate::key::{DecryptionKey, now_or_never};
use crate::{Error, Jwe, OwnerKeys, PublicJwk, json, seal_compact};

/// The `typ` of a credential envelope.
pub const CREDENTIAL_TYP: &str = "sealgate-credential+jwe";
/// How far in the future `iat` may lie (clock skew between browser and signer).
pub const MAX_IAT_SKEW_SECS: u64 = 300;
/// Most fields a credential may hold.
const MAX_FIELDS: usize = 16;
/// Longest field value (an RSA private key in PEM fits).
const MAX_FIELD_LEN: usize = 8 * 1024;
/// Longest bound identifier (`sub`, `cid`, `aud`, `kid`).
const MAX_ID_LEN: usize = 256;
/// Shortest API key we show a 4-character hint of.
const MIN_KEY_LEN_FOR_HINT: usize = 8;
/// Characters in a hint.
const HINT_LEN: usize = 4;

pub use sealgate_vocab::{Class, Scope};

/// The envelope's `scope`: a non-empty JSON array of distinct class names (PROFILE C4).
fn scope_from_json(v: &Value) -> Result<Scope, Error> {
    let Value::Array(a) = v else { return Err(E::Malformed("scope").into()) };
    let names: Option<Vec<&str>> = a.iter().map(Value::as_str).collect();
    Ok(Scope::from_names(names.ok_or(E::Malformed("scope"))?).map_err(|_| E::Malformed("scope"))?)
}

fn scope_to_json(s: &Scope) -> Value {
    Value::Array(s.classes().iter().map(|c| Value::from(c.name())).collect())
}

/// The public facts of an envelope: its protected header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialHeader {
    /// Recipient key version.
    pub kid: String,
    /// User id.
    pub sub: String,
    /// Credential id (made by the client).
    pub cid: String,
    /// Exchange id.
    pub exch: String,
    /// The one role that may open it.
    pub aud: String,
    /// Classes the user granted.
    pub scope: Scope,
    /// When it was sealed (Unix seconds).
    pub iat: u64,
    /// Last characters of the API key, for display.
    pub hint: String,
    /// The owner's authority keys (rule C8), when the owner named any.
    pub own: Option<OwnerKeys>,
}

impl CredentialHeader {
    fn from_protected(h: &Map<String, Value>) -> Result<Self, Error> {
        let s = |k: &'static str| -> Result<String, Error> {
            match h.get(k) {
                Some(Value::String(s)) => Ok(s.clone()),
                Some(_) => Err(E::Malformed(k).into()),
                None => Err(E::Missing(k).into()),
            }
        };
        match h.get("typ") {
            Some(Value::String(t)) if t == CREDENTIAL_TYP => {}
            Some(_) => return Err(E::WrongType.into()),
            None => return Err(E::Missing("typ").into()),
        }
        for k in ["alg", "enc"] {
            if !h.contains_key(k) {
                return Err(E::Missing(if k == "alg" { "alg" } else { "enc" }).into());
            }
        }
        let header = Self {
            kid: s("kid")?,
            sub: s("sub")?,
            cid: s("cid")?,
            exch: s("exch")?,
            aud: s("aud")?,
            scope: scope_from_json(h.get("scope").ok_or(E::Missing("scope"))?)?,
            iat: h.get("iat").ok_or(E::Missing("iat"))?.as_u64().ok_or(E::Malformed("iat"))?,
            hint: s("hint")?,
            own: h.get("own").map(OwnerKeys::from_json).transpose()?,
        };
        header.validate()?;
        Ok(header)
    }

    fn validate(&self) -> Result<(), Error> {
        for (name, v) in [("kid", &self.kid), ("aud", &self.aud)] {
            check_id(name, v)?;
        }
        // The ids a stored row is keyed by follow the vocabulary's rules (C4), so an envelope
        // can only ever bind to an id the api and the store could hold.
        sealgate_vocab::OwnerId::parse(&self.sub).map_err(|_| E::Malformed("sub"))?;
        sealgate_vocab::CredentialId::parse(&self.cid).map_err(|_| E::Malformed("cid"))?;
        check_exchange(&self.exch)?;
        if self.hint.chars().count() != HINT_LEN || self.hint.chars().any(char::is_control) {
            return Err(E::Malformed("hint").into());
        }
        Ok(())
    }

    fn to_protected(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("typ".into(), CREDENTIAL_TYP.into());
        m.insert("kid".into(), self.kid.clone().into());
        m.insert("sub".into(), self.sub.clone().into());
        m.insert("cid".into(), self.cid.clone().into());
        m.insert("exch".into(), self.exch.clone().into());
        m.insert("aud".into(), self.aud.clone().into());
        m.insert("scope".into(), scope_to_json(&self.scope));
        m.insert("iat".into(), self.iat.into());
        m.insert("hint".into(), self.hint.clone().into());
        if let Some(own) = &self.own {
            m.insert("own".into(), own.to_json());
        }
        m
    }
}

/// The one rule for a credential id (the `cid` a client makes), applied wherever an id
/// enters: the api, the signer, the store, `sealgate seal` and the envelope header (C4).
/// It is [`sealgate_vocab::CredentialId`]'s rule; this is the same check for callers that
/// hold a `&str`. The error is [`crate::CREDENTIAL_ID_RULE`].
pub fn check_credential_id(id: &str) -> Result<(), &'static str> {
    sealgate_vocab::CredentialId::parse(id).map(drop).map_err(sealgate_vocab::IdError::rule)
}

fn check_id(name: &'static str, v: &str) -> Result<(), Error> {
    if v.is_empty() || v.len() > MAX_ID_LEN || v.chars().any(char::is_control) {
        return Err(E::Malformed(name).into());
    }
    Ok(())
}

fn check_exchange(v: &str) -> Result<(), Error> {
    let ok = !v.is_empty()
        && v.len() <= 32
        && v.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok { Ok(()) } else { Err(E::Malformed("exch").into()) }
}

/// What the opener expects the envelope to be bound to (rule C3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The user the stored credential row belongs to.
    pub sub: String,
    /// The stored credential id.
    pub cid: String,
    /// The stored exchange.
    pub exch: String,
    /// The opener's own role.
    pub aud: String,
    /// Current Unix time, to refuse an `iat` from the future; `None` skips it.
    pub now: Option<u64>,
}

/// A credential's fields: zeroized on drop, printed as `[REDACTED]`.
pub struct Credential {
    fields: BTreeMap<String, SecretString>,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl fmt::Display for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl Credential {
    /// Parse the plaintext JSON object (rule C5): 1-16 string fields with
    /// lower-case names, holding `api_key` or `key_name`. Errors never
    /// quote the input.
    pub fn from_json(bytes: &[u8]) -> Result<Self, Error> {
        let bad = |why| Error::Credential(E::BadPlaintext(why));
        let mut map = json::Scrubbed(match json::parse_object(bytes, "credential") {
            Ok(m) => m,
            Err(Error::DuplicateMember(_)) => return Err(bad("duplicate field")),
            Err(_) => return Err(bad("not a JSON object")),
        });
        if map.0.is_empty() || map.0.len() > MAX_FIELDS {
            return Err(bad("must hold 1 to 16 fields"));
        }
        let mut fields = BTreeMap::new();
        for (name, value) in std::mem::take(&mut map.0) {
            let ok_name = name.len() <= 32
                && name.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
                && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            // Move the string in: no copy of the secret is left behind.
            let mut value = json::Scrubbed(Map::from_iter([(String::new(), value)]));
            let Some(Value::String(s)) = value.0.get_mut("") else { return Err(bad("field values must be strings")) };
            if !ok_name {
                return Err(bad("field names must be lower-case identifiers"));
            }
            if s.is_empty() || s.len() > MAX_FIELD_LEN {
                return Err(bad("field values must be 1 to 8192 bytes"));
            }
            fields.insert(name, SecretString::from(std::mem::take(s)));
        }
        let c = Self { fields };
        c.id_field().ok_or(bad("needs api_key or key_name"))?;
        Ok(c)
    }

    /// A field's secret value.
    pub fn get(&self, name: &str) -> Option<&SecretString> {
        self.fields.get(name)
    }

    /// Names of the fields present (not secret).
    pub fn field_names(&self) -> impl Iterator<Item = &str> {
        self.fields.keys().map(String::as_str)
    }

    fn id_field(&self) -> Option<&SecretString> {
        self.fields.get("api_key").or_else(|| self.fields.get("key_name"))
    }

    /// The display hint: the last four characters of `api_key` (or `key_name`).
    pub fn hint(&self) -> Result<String, Error> {
        let id = self.id_field().ok_or(E::BadPlaintext("needs api_key or key_name"))?.expose_secret();
        let n = id.chars().count();
        if n < MIN_KEY_LEN_FOR_HINT {
            return Err(E::BadPlaintext("api_key is too short to show a hint of").into());
        }
        Ok(id.chars().skip(n - HINT_LEN).collect())
    }
}

/// An opened envelope: the public header and the secret credential.
#[derive(Debug)]
pub struct OpenedCredential {
    /// The protected header, checked against the binding.
    pub header: CredentialHeader,
    /// The secret fields.
    pub credential: Credential,
}

/// What to bind a new envelope to.
#[derive(Debug, Clone)]
pub struct SealRequest {
    /// User id.
    pub sub: String,
    /// Credential id.
    pub cid: String,
    /// Exchange id.
    pub exch: String,
    /// The role that will open it.
    pub aud: String,
    /// Classes granted.
    pub scope: Scope,
    /// Unix seconds now.
    pub iat: u64,
    /// The owner's authority keys to name in the envelope (rule C8); `None` names none.
    pub own: Option<OwnerKeys>,
}

/// Seal a credential (its plaintext JSON) to one role's key.
pub fn seal_credential(
    credential_json: &[u8],
    to: &PublicJwk,
    req: &SealRequest,
) -> Result<(String, CredentialHeader), Error> {
    let credential = Credential::from_json(credential_json)?;
    let header = CredentialHeader {
        kid: to.kid().ok_or(Error::Usage("the recipient key needs a kid"))?.to_owned(),
        sub: req.sub.clone(),
        cid: req.cid.clone(),
        exch: req.exch.clone(),
        aud: req.aud.clone(),
        scope: req.scope.clone(),
        iat: req.iat,
        hint: credential.hint()?,
        own: req.own.clone(),
    };
    header.validate()?;
    let jwe = seal_compact(credential_json, to, &header.to_protected())?;
    Ok((jwe, header))
}

/// Check an envelope's header against `expected` and the key, without
/// opening it (rules C2-C4). The api role uses this on upload.
pub fn check_binding(jwe: &Jwe, key_kid: Option<&str>, expected: &Binding) -> Result<CredentialHeader, Error> {
    if jwe.recipient_count() != 1 {
        return Err(E::Malformed("a credential envelope has exactly one recipient").into());
    }
    let header = CredentialHeader::from_protected(jwe.protected_header())?;
    if key_kid.is_some_and(|k| header.kid != k) {
        return Err(E::Mismatch("kid").into());
    }
    for (name, got, want) in [
        ("sub", &header.sub, &expected.sub),
        ("cid", &header.cid, &expected.cid),
        ("exch", &header.exch, &expected.exch),
        ("aud", &header.aud, &expected.aud),
    ] {
        if got != want {
            return Err(E::Mismatch(name).into());
        }
    }
    if expected.now.is_some_and(|now| header.iat > now.saturating_add(MAX_IAT_SKEW_SECS)) {
        return Err(E::IssuedInFuture.into());
    }
    Ok(header)
}

/// Open a credential envelope: parse under [`AlgPolicy::CREDENTIAL`], check
/// the binding before any private-key work, decrypt, check the content.
pub async fn open_credential(
    envelope: &[u8],
    key: &dyn DecryptionKey,
    expected: &Binding,
) -> Result<OpenedCredential, Error> {
    let jwe = Jwe::parse(envelope, &AlgPolicy::CREDENTIAL)?;
    let kid = key.kid().ok_or(Error::Usage("a credential key needs a kid"))?;
    let header = check_binding(&jwe, Some(kid), expected)?;
    let plaintext = jwe.open(key).await?;
    let credential = Credential::from_json(plaintext.expose_secret())?;
    if credential.hint()? != header.hint {
        return Err(E::HintMismatch.into());
    }
    Ok(OpenedCredential { header, credential })
}

/// [`open_credential`] for a key whose private step completes at once.
pub fn open_credential_now(
    envelope: &[u8],
    key: &dyn DecryptionKey,
    expected: &Binding,
) -> Result<OpenedCredential, Error> {
    now_or_never(open_credential(envelope, key, expected))
        .unwrap_or(Err(Error::Usage("this key is asynchronous: use open_credential")))
}

/// A fresh random credential id (a UUID v4 in text form).
pub fn new_credential_id() -> Result<String, Error> {
    let mut b = [0u8; 16];
    aws_lc_rs::rand::fill(&mut b).map_err(|_| Error::Rng)?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32]))
}

#[cfg(test)]
mod id_rule_tests {
    use super::*;

    #[test]
    fn the_one_credential_id_rule() {
        let fresh = new_credential_id().expect("id");
        for ok in ["a", "cid-bn", "A.b_c:d-9", &"x".repeat(64), &fresh] {
            assert_eq!(check_credential_id(ok), Ok(()), "{ok}");
        }
        for bad in ["", &"x".repeat(65), "a b", "a/b", "a%2f", "é", "a\n", "a?b", "a#b"] {
            assert_eq!(check_credential_id(bad), Err(crate::CREDENTIAL_ID_RULE), "{bad:?}");
        }
    }
}
