//! A record, its fields, and the canonical bytes it is hashed over
//! (FORMAT.md §1).

use std::fmt;
use std::str::FromStr;

use aws_lc_rs::digest;
use serde_json::Value;

use crate::AuditError;
use crate::canon;

/// Domain-separation tag that starts a record's canonical bytes.
pub const RECORD_TAG: &[u8] = b"sealgate-audit-record-v1";
/// Longest actor, in bytes.
pub const MAX_ACTOR: usize = 256;
/// Longest subject, in bytes.
pub const MAX_SUBJECT: usize = 256;
/// Longest canonical detail, in bytes.
pub const MAX_DETAIL: usize = 4096;
/// Deepest nesting of containers in a detail (the detail object itself is 1).
pub const MAX_DETAIL_DEPTH: usize = 4;
/// Longest action name.
const MAX_ACTION: usize = 64;

/// A SHA-256 hash; displayed as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hash(pub [u8; 32]);

/// The `prev_hash` of record 1: 32 zero bytes.
pub const GENESIS: Hash = Hash([0; 32]);

impl Hash {
    /// Parse exactly 64 lowercase hex digits.
    pub fn from_hex(s: &str) -> Option<Self> {
        canon::from_hex32(s).map(Self)
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&canon::hex(&self.0))
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({self})")
    }
}

/// What happened. Serialized as its snake_case name; names we do not know
/// yet travel as [`Action::Other`], so an older verifier still checks a
/// newer chain (the hash covers the name, not the variant).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Action {
    /// A credential was created from its envelopes.
    CredentialCreated,
    /// A credential was deleted.
    CredentialDeleted,
    /// A signer opened an envelope.
    Unsealed,
    /// A request was signed (and returned).
    Signed,
    /// A request was signed and forwarded to the exchange by the signer.
    Forwarded,
    /// A request was refused by policy.
    Denied,
    /// A role's access to a credential was revoked.
    Revoked,
    /// All of a user's credentials were frozen.
    Lockdown,
    /// The global kill switch was turned on or off.
    KillSwitch,
    /// A role or root key was rotated.
    KeyRotated,
    /// Any other action, by a name that is none of the above.
    Other(OtherAction),
}

/// The name of an action outside the known set: `[a-z][a-z0-9_]*`, at most
/// 64 bytes, and never a known name (so each name has one representation).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OtherAction(String);

impl OtherAction {
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

const KNOWN: &[(&str, Action)] = &[
    ("credential_created", Action::CredentialCreated),
    ("credential_deleted", Action::CredentialDeleted),
    ("unsealed", Action::Unsealed),
    ("signed", Action::Signed),
    ("forwarded", Action::Forwarded),
    ("denied", Action::Denied),
    ("revoked", Action::Revoked),
    ("lockdown", Action::Lockdown),
    ("kill_switch", Action::KillSwitch),
    ("key_rotated", Action::KeyRotated),
];

impl Action {
    /// The snake_case name.
    pub fn as_str(&self) -> &str {
        match self {
            Self::CredentialCreated => "credential_created",
            Self::CredentialDeleted => "credential_deleted",
            Self::Unsealed => "unsealed",
            Self::Signed => "signed",
            Self::Forwarded => "forwarded",
            Self::Denied => "denied",
            Self::Revoked => "revoked",
            Self::Lockdown => "lockdown",
            Self::KillSwitch => "kill_switch",
            Self::KeyRotated => "key_rotated",
            Self::Other(o) => o.as_str(),
        }
    }
}

impl FromStr for Action {
    type Err = AuditError;
    /// A known name gives its variant; any other well-formed name gives
    /// [`Action::Other`].
    fn from_str(s: &str) -> Result<Self, AuditError> {
        if let Some((_, a)) = KNOWN.iter().find(|(n, _)| *n == s) {
            return Ok(a.clone());
        }
        let bad = |why| AuditError::Invalid { field: "action", why };
        let b = s.as_bytes();
        if b.is_empty() || b.len() > MAX_ACTION {
            return Err(bad("must be 1 to 64 bytes"));
        }
        if !b[0].is_ascii_lowercase() || !b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_') {
            return Err(bad("must match [a-z][a-z0-9_]*"));
        }
        Ok(Self::Other(OtherAction(s.to_owned())))
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A small JSON object of facts about the event (exchange, endpoint class,
/// the policy rule that denied, …), held in its canonical form: members
/// sorted, no whitespace, integers only, at most [`MAX_DETAIL_DEPTH`] deep
/// and [`MAX_DETAIL`] bytes. Never put a secret here.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Detail(String);

impl Detail {
    /// `{}`.
    pub fn empty() -> Self {
        Self("{}".to_owned())
    }

    /// Validate and canonicalize a JSON object.
    pub fn new(v: &Value) -> Result<Self, AuditError> {
        let bad = |why| AuditError::Invalid { field: "detail", why };
        if !v.is_object() {
            return Err(bad("must be a JSON object"));
        }
        let mut s = String::new();
        canon::write_value(&mut s, v, MAX_DETAIL_DEPTH).map_err(bad)?;
        if s.len() > MAX_DETAIL {
            return Err(bad("larger than 4096 bytes in canonical form"));
        }
        Ok(Self(s))
    }

    /// The canonical JSON text.
    pub fn canonical(&self) -> &str {
        &self.0
    }

    /// As a JSON value.
    pub fn to_value(&self) -> Value {
        serde_json::from_str(&self.0).unwrap_or(Value::Null)
    }
}

impl fmt::Debug for Detail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Detail({})", self.0)
    }
}

/// One audit record. Fields are public: a record is data under audit, and
/// [`crate::verify`] is what decides whether a sequence of them holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Position in the chain, from 1.
    pub seq: u64,
    /// When, in Unix milliseconds.
    pub time: u64,
    /// Who: `kind:id`, e.g. `user:u1`, `service:signer`.
    pub actor: String,
    /// What.
    pub action: Action,
    /// On what, e.g. a credential id; may be empty.
    pub subject: String,
    /// Facts about the event.
    pub detail: Detail,
    /// The previous record's hash ([`GENESIS`] for record 1).
    pub prev_hash: Hash,
    /// SHA-256 of [`Record::canonical_bytes`].
    pub hash: Hash,
}

impl Record {
    /// R7: the bytes `hash` is computed over (FORMAT.md §1): every field but
    /// `hash`, length-prefixed, after a domain-separation tag.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let d = self.detail.canonical().as_bytes();
        let mut b =
            Vec::with_capacity(RECORD_TAG.len() + 16 + 16 + self.actor.len() + self.subject.len() + d.len() + 64 + 32);
        b.extend_from_slice(RECORD_TAG);
        b.extend_from_slice(&self.seq.to_be_bytes());
        b.extend_from_slice(&self.time.to_be_bytes());
        for field in [self.actor.as_bytes(), self.action.as_str().as_bytes(), self.subject.as_bytes(), d] {
            // Every field is bounded far below 4 GiB, so the cast is exact.
            b.extend_from_slice(&(field.len() as u32).to_be_bytes());
            b.extend_from_slice(field);
        }
        b.extend_from_slice(&self.prev_hash.0);
        b
    }

    /// SHA-256 of the canonical bytes: what `hash` must hold.
    pub fn compute_hash(&self) -> Hash {
        let d = digest::digest(&digest::SHA256, &self.canonical_bytes());
        let mut h = [0u8; 32];
        h.copy_from_slice(d.as_ref());
        Hash(h)
    }

    /// Check the fields a caller can set freely (actor and subject).
    pub(crate) fn check_fields(&self) -> Result<(), AuditError> {
        check_actor(&self.actor)?;
        check_subject(&self.subject)
    }
}

fn no_controls(s: &str) -> bool {
    !s.chars().any(char::is_control)
}

/// `kind:id`: kind `[a-z][a-z0-9_-]*`, id non-empty; no control characters
/// (they would forge lines in logs and terminals); at most 256 bytes.
pub(crate) fn check_actor(a: &str) -> Result<(), AuditError> {
    let bad = |why| AuditError::Invalid { field: "actor", why };
    if a.len() > MAX_ACTOR {
        return Err(bad("longer than 256 bytes"));
    }
    let Some((kind, id)) = a.split_once(':') else { return Err(bad("must be kind:id, e.g. user:u1")) };
    let k = kind.as_bytes();
    if k.is_empty()
        || !k[0].is_ascii_lowercase()
        || !k.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_' || *c == b'-')
    {
        return Err(bad("kind must match [a-z][a-z0-9_-]*"));
    }
    if id.is_empty() || !no_controls(id) {
        return Err(bad("id must be non-empty, without control characters"));
    }
    Ok(())
}

/// At most 256 bytes, no control characters; may be empty.
pub(crate) fn check_subject(s: &str) -> Result<(), AuditError> {
    let bad = |why| AuditError::Invalid { field: "subject", why };
    if s.len() > MAX_SUBJECT {
        return Err(bad("longer than 256 bytes"));
    }
    if !no_controls(s) {
        return Err(bad("holds control characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn action_names_round_trip_and_other_is_never_known() {
        for (name, a) in KNOWN {
            assert_eq!(a.as_str(), *name);
            assert_eq!(&name.parse::<Action>().expect("known"), a);
        }
        let o: Action = "order_placed".parse().expect("other");
        assert!(matches!(&o, Action::Other(x) if x.as_str() == "order_placed"));
        for bad in ["", "Signed", "9x", "a-b", "a b", &"a".repeat(65)] {
            assert!(bad.parse::<Action>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn actor_and_subject_bounds() {
        for ok in ["user:u1", "service:signer", "user:alice@example.com", "k8s-job:x:y"] {
            check_actor(ok).expect(ok);
        }
        for bad in ["", "user", ":u1", "User:u1", "user:", "user:a\nb", &format!("user:{}", "a".repeat(252))] {
            assert!(check_actor(bad).is_err(), "{bad:?}");
        }
        check_subject("").expect("empty");
        assert!(check_subject("a\u{1b}[2J").is_err());
        assert!(check_subject(&"a".repeat(257)).is_err());
    }

    #[test]
    fn detail_bounds() {
        assert_eq!(Detail::new(&json!({"b": 1, "a": "x"})).expect("ok").canonical(), r#"{"a":"x","b":1}"#);
        assert!(Detail::new(&json!([1])).is_err());
        assert!(Detail::new(&json!({"x": 0.5})).is_err());
        assert!(Detail::new(&json!({"x": "a".repeat(4100)})).is_err());
        assert_eq!(Detail::empty().to_value(), json!({}));
    }
}
