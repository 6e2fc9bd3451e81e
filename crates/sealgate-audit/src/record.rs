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

    /// The record whose [`Record::canonical_bytes`] are exactly `b` (the
    /// inverse of R7's encoding), with `hash` computed over them. Refused:
    /// another tag, a length past the end, bytes left over, a field that is
    /// not UTF-8 or breaks R2–R5, a detail that is not canonical (so one
    /// record has one encoding).
    pub fn from_canonical_bytes(b: &[u8]) -> Result<Self, &'static str> {
        let rest = b.strip_prefix(RECORD_TAG).ok_or("does not start with sealgate-audit-record-v1")?;
        let (seq, rest) = take_u64(rest).ok_or("ends inside seq")?;
        let (time, rest) = take_u64(rest).ok_or("ends inside time")?;
        let (actor, rest) = take_field(rest).ok_or("actor runs past the end or is not UTF-8")?;
        let (action, rest) = take_field(rest).ok_or("action runs past the end or is not UTF-8")?;
        let (subject, rest) = take_field(rest).ok_or("subject runs past the end or is not UTF-8")?;
        let (detail, rest) = take_field(rest).ok_or("detail runs past the end or is not UTF-8")?;
        let prev: [u8; 32] = rest.try_into().map_err(|_| "prev_hash is not the last 32 bytes")?;
        let parsed = sealgate_envelope::parse_json_object(detail.as_bytes())
            .map_err(|_| "detail is not one JSON object without duplicate members")?;
        let detail_v = Detail::new(&Value::Object(parsed)).map_err(|e| match e {
            AuditError::Invalid { why, .. } => why,
            _ => "detail is invalid",
        })?;
        if detail_v.canonical() != detail {
            return Err("detail is not in canonical form");
        }
        let mut r = Self {
            seq,
            time,
            actor: actor.to_owned(),
            action: action.parse().map_err(|_| "action is not a valid name")?,
            subject: subject.to_owned(),
            detail: detail_v,
            prev_hash: Hash(prev),
            hash: GENESIS,
        };
        r.check_fields().map_err(|e| match e {
            AuditError::Invalid { why, .. } => why,
            _ => "invalid field",
        })?;
        r.hash = r.compute_hash();
        Ok(r)
    }

    /// Check the fields a caller can set freely (actor and subject).
    pub(crate) fn check_fields(&self) -> Result<(), AuditError> {
        check_actor(&self.actor)?;
        check_subject(&self.subject)
    }
}

fn take_u64(b: &[u8]) -> Option<(u64, &[u8])> {
    let (n, rest) = b.split_first_chunk::<8>()?;
    Some((u64::from_be_bytes(*n), rest))
}

fn take_field(b: &[u8]) -> Option<(&str, &[u8])> {
    let (n, rest) = b.split_first_chunk::<4>()?;
    let n = usize::try_from(u32::from_be_bytes(*n)).ok()?;
    let (field, rest) = (rest.get(..n)?, rest.get(n..)?);
    Some((std::str::from_utf8(field).ok()?, rest))
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
    fn canonical_bytes_round_trip_and_refuse_any_other_encoding() {
        let mut c = crate::Chain::new();
        let d = Detail::new(&json!({"owner": "u1", "n": -3, "s": "é\n"})).expect("detail");
        let r = c.append("user:u1", Action::Signed, "cred_1", d, 7).expect("append");
        let b = r.canonical_bytes();
        assert_eq!(Record::from_canonical_bytes(&b), Ok(r));
        for cut in [0, 20, 30, b.len() - 1] {
            assert!(Record::from_canonical_bytes(&b[..cut]).is_err(), "{cut}");
        }
        let mut longer = b.clone();
        longer.push(0);
        assert!(Record::from_canonical_bytes(&longer).is_err());
        // A non-canonical detail of the same meaning (members swapped, lengths equal).
        let text = String::from_utf8_lossy(&b).into_owned();
        let swapped = text.replacen(r#"{"n":-3,"owner":"u1""#, r#"{"owner":"u1","n":-3"#, 1);
        assert_ne!(swapped, text);
        assert!(Record::from_canonical_bytes(swapped.as_bytes()).is_err());
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
