//! A WebAuthn assertion (Web Authentication Level 3 §7.2) over a statement's
//! challenge, verified per AUTHORITY.md W1-W6.

use aws_lc_rs::digest;
use serde_json::Value;

use crate::cbor::Reader;
use crate::{AuthorityKey, Error, Statement, b64};

/// Largest assertion JSON we parse (W1).
pub const MAX_ASSERTION: usize = 8 * 1024;
/// Largest decoded `authenticatorData` (W1).
pub const MAX_AUTHENTICATOR_DATA: usize = 1024;
/// Largest decoded `clientDataJSON` (W1).
pub const MAX_CLIENT_DATA: usize = 2048;
/// Largest decoded signature (an RSA-8192 signature) (W1).
const MAX_SIGNATURE: usize = 1024;
/// How old a statement may be when its assertion is checked (W2).
pub const FRESHNESS_SECS: u64 = 300;
/// How far in the future a statement's `iat` may lie (clock skew) (W2).
pub const FUTURE_SKEW_SECS: u64 = 60;

/// `rpIdHash` (32) + flags (1) + signCount (4).
const AUTH_DATA_MIN: usize = 37;
const FLAG_UP: u8 = 0x01;
const FLAG_UV: u8 = 0x04;
const FLAG_BE: u8 = 0x08;
const FLAG_BS: u8 = 0x10;
const FLAG_AT: u8 = 0x40;
const FLAG_ED: u8 = 0x80;

/// The response of `navigator.credentials.get()`, as the browser sends it:
/// its three members in unpadded base64url (W1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assertion {
    authenticator_data: Vec<u8>,
    client_data_json: Vec<u8>,
    signature: Vec<u8>,
}

/// What a valid assertion tells besides "approved".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Verified {
    /// The authenticator's signature counter (0 for most passkeys; not relied on, W6).
    pub sign_count: u32,
    /// Backup eligible (a synced passkey).
    pub backup_eligible: bool,
}

impl Assertion {
    /// From its three members, each unpadded base64url (W1).
    pub fn from_parts(authenticator_data: &str, client_data_json: &str, signature: &str) -> Result<Self, Error> {
        let dec = |field: &'static str, s: &str, max: usize| {
            if s.len() > max.div_ceil(3) * 4 {
                return Err(Error::TooLarge(field));
            }
            b64::decode(field, s)
        };
        let a = Self {
            authenticator_data: dec("authenticatorData", authenticator_data, MAX_AUTHENTICATOR_DATA)?,
            client_data_json: dec("clientDataJSON", client_data_json, MAX_CLIENT_DATA)?,
            signature: dec("signature", signature, MAX_SIGNATURE)?,
        };
        if a.authenticator_data.len() > MAX_AUTHENTICATOR_DATA {
            return Err(Error::TooLarge("authenticatorData"));
        }
        if a.client_data_json.len() > MAX_CLIENT_DATA {
            return Err(Error::TooLarge("clientDataJSON"));
        }
        if a.signature.len() > MAX_SIGNATURE {
            return Err(Error::TooLarge("signature"));
        }
        Ok(a)
    }

    /// From the JSON object `{"authenticatorData", "clientDataJSON", "signature"}`
    /// (the names of `AuthenticatorAssertionResponse`); `userHandle` may be
    /// present (a string or null) and is not used; nothing else may (W1).
    pub fn from_json(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.len() > MAX_ASSERTION {
            return Err(Error::TooLarge("assertion"));
        }
        let m = sealgate_envelope::parse_json_object(bytes)
            .map_err(|_| Error::Malformed("assertion is not a JSON object (without repeated members)"))?;
        let known = ["authenticatorData", "clientDataJSON", "signature", "userHandle"];
        if m.keys().any(|k| !known.contains(&k.as_str())) {
            return Err(Error::Malformed(
                "assertion has a member other than authenticatorData, clientDataJSON, signature, userHandle",
            ));
        }
        if !matches!(m.get("userHandle"), None | Some(Value::Null | Value::String(_))) {
            return Err(Error::Malformed("assertion userHandle must be a string or null"));
        }
        let s = |k: &'static str| match m.get(k) {
            Some(Value::String(s)) => Ok(s.as_str()),
            Some(_) => Err(Error::Malformed("assertion members must be strings")),
            None => Err(Error::Malformed("assertion lacks authenticatorData, clientDataJSON or signature")),
        };
        Self::from_parts(s("authenticatorData")?, s("clientDataJSON")?, s("signature")?)
    }

    /// The decoded `authenticatorData`.
    pub fn authenticator_data(&self) -> &[u8] {
        &self.authenticator_data
    }
    /// The decoded `clientDataJSON`.
    pub fn client_data_json(&self) -> &[u8] {
        &self.client_data_json
    }
    /// The decoded signature.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }
}

/// Whether `assertion` proves that the holder of `key` approved `statement`,
/// on one of `origins`, for `rp_id`, at `now` (Unix seconds). The checks, in
/// order (W2-W6): the statement's freshness; `clientDataJSON` (type
/// `webauthn.get`, challenge = base64url(statement.challenge()), origin in
/// `origins`, `crossOrigin` absent or false, no `topOrigin`); `authenticatorData`
/// (rpIdHash = SHA-256(rp_id), UP and UV set, no attested credential data,
/// extensions a well-formed map, nothing after); the signature over
/// `authenticatorData || SHA-256(clientDataJSON)`.
///
/// Which key may approve is the caller's: one whose thumbprint the envelope's
/// `own` names. Replay of the same statement is the caller's too: it records
/// each statement `id` it accepted and refuses it the second time.
pub fn verify_assertion(
    key: &AuthorityKey,
    statement: &Statement,
    assertion: &Assertion,
    origins: &[&str],
    rp_id: &str,
    now: u64,
) -> Result<Verified, Error> {
    // W2: fresh.
    if statement.iat() > now.saturating_add(FUTURE_SKEW_SECS) {
        return Err(Error::IssuedInFuture);
    }
    if now.saturating_sub(statement.iat()) > FRESHNESS_SECS {
        return Err(Error::Stale);
    }
    // W3: the client data.
    let cd = sealgate_envelope::parse_json_object(&assertion.client_data_json)
        .map_err(|_| Error::Malformed("clientDataJSON is not a JSON object (without repeated members)"))?;
    let text = |k: &str| match cd.get(k) {
        Some(Value::String(s)) => Ok(s.as_str()),
        _ => Err(Error::Malformed("clientDataJSON type, challenge and origin must be strings")),
    };
    if text("type")? != "webauthn.get" {
        return Err(Error::WrongCeremony);
    }
    if text("challenge")? != b64::encode(&statement.challenge()) {
        return Err(Error::ChallengeMismatch);
    }
    let origin = text("origin")?;
    if !origins.contains(&origin) {
        return Err(Error::OriginNotAllowed);
    }
    match cd.get("crossOrigin") {
        None | Some(Value::Bool(false)) => {}
        Some(Value::Bool(true)) => return Err(Error::CrossOrigin),
        Some(_) => return Err(Error::Malformed("clientDataJSON crossOrigin must be a boolean")),
    }
    if cd.contains_key("topOrigin") {
        return Err(Error::CrossOrigin);
    }
    // W4, W5: the authenticator data.
    let ad = &assertion.authenticator_data;
    if ad.len() < AUTH_DATA_MIN {
        return Err(Error::Malformed("authenticatorData is shorter than 37 bytes"));
    }
    let rp_hash = digest::digest(&digest::SHA256, rp_id.as_bytes());
    if ad[..32] != *rp_hash.as_ref() {
        return Err(Error::RpIdMismatch);
    }
    let flags = ad[32];
    if flags & FLAG_UP == 0 {
        return Err(Error::UserNotPresent);
    }
    if flags & FLAG_UV == 0 {
        return Err(Error::UserNotVerified);
    }
    if flags & FLAG_BS != 0 && flags & FLAG_BE == 0 {
        return Err(Error::Malformed("authenticatorData says backed up but not backup eligible"));
    }
    if flags & FLAG_AT != 0 {
        return Err(Error::Malformed("authenticatorData of an assertion holds attested credential data"));
    }
    let rest = &ad[AUTH_DATA_MIN..];
    if flags & FLAG_ED != 0 {
        Reader::new(rest).one_map()?;
    } else if !rest.is_empty() {
        return Err(Error::Malformed("authenticatorData has bytes after signCount but no extensions flag"));
    }
    // W6: the signature.
    let mut signed = Vec::with_capacity(ad.len() + 32);
    signed.extend_from_slice(ad);
    signed.extend_from_slice(digest::digest(&digest::SHA256, &assertion.client_data_json).as_ref());
    key.verify(&signed, &assertion.signature)?;
    let mut count = [0u8; 4];
    count.copy_from_slice(&ad[33..37]);
    Ok(Verified { sign_count: u32::from_be_bytes(count), backup_eligible: flags & FLAG_BE != 0 })
}
