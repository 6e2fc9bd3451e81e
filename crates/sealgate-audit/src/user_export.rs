//! A user's own export (FORMAT.md §7): their records, each with an RFC 9162
//! inclusion proof into the Merkle tree a signed (v2) checkpoint commits to,
//! so a user checks their trail against the custody root's signature
//! without seeing anyone else's records — only the hashes in the proofs.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Map, Value};

use crate::merkle::{self, ProofError};
use crate::{Checkpoint, Hash, Record, RootKey, SignedCheckpoint, TreeHead};

/// The `format` member of a user export.
pub const USER_EXPORT_FORMAT: &str = "sealgate-audit-user-export-v1";
/// Most proof elements: a tree of at most 2^64 leaves has at most 64 levels.
const MAX_PATH: usize = 64;

/// Why a user export as a whole was refused (a record's own faults are
/// listed per record: [`UserExportError::Records`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UserExportError {
    /// The document is not a user export (or breaks its structure).
    #[error("not a user export: {0}")]
    Format(String),
    /// The root key is unusable or is not the pinned one.
    #[error("root key: {0}")]
    RootKey(&'static str),
    /// A checkpoint does not verify under the pinned root.
    #[error("checkpoint {position} (seq {seq}): {why}")]
    Checkpoint {
        /// 1-based position in `checkpoints`.
        position: usize,
        /// The seq it claims.
        seq: u64,
        /// What is wrong.
        why: &'static str,
    },
    /// These records failed (every failing record, in export order).
    #[error("{}", list(.0))]
    Records(Vec<RecordFault>),
}

fn list(faults: &[RecordFault]) -> String {
    faults.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
}

/// One record of a user export that does not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordFault {
    /// 1-based position in `records`.
    pub position: usize,
    /// The seq the record carries, when it could be read.
    pub seq: Option<u64>,
    /// What is wrong.
    pub why: String,
}

impl fmt::Display for RecordFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.seq {
            Some(seq) => write!(f, "record {} (seq {seq}): {}", self.position, self.why),
            None => write!(f, "record {}: {}", self.position, self.why),
        }
    }
}

/// What a verified user export holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSummary {
    /// The user every record names.
    pub user: String,
    /// Records proven.
    pub records: u64,
    /// Seq of the first and last record (`None` for an export without records).
    pub seqs: Option<(u64, u64)>,
    /// Checkpoints verified.
    pub checkpoints: u64,
    /// The largest signed tree size.
    pub tree_size: u64,
}

impl fmt::Display for UserSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ok: user {}: {} records", self.user, self.records)?;
        if let Some((a, b)) = self.seqs {
            write!(f, " (seq {a} to {b})")?;
        }
        write!(
            f,
            ", each proven in a signed tree of {} records; {} checkpoints verified",
            self.tree_size, self.checkpoints
        )
    }
}

/// A v2 checkpoint as a user export's `checkpoints` member holds it.
pub fn checkpoint_json(cp: &SignedCheckpoint) -> Option<Value> {
    let c = &cp.checkpoint;
    let t = c.tree?;
    Some(serde_json::json!({
        "seq": c.seq, "hash": c.hash.to_string(), "time": c.time,
        "tree_size": t.size, "tree_root": t.root.to_string(), "sig": B64.encode(&cp.sig),
    }))
}

fn bad(why: impl Into<String>) -> UserExportError {
    UserExportError::Format(why.into())
}

fn exact_members(m: &Map<String, Value>, want: &[&str], what: &str) -> Result<(), UserExportError> {
    if let Some(k) = m.keys().find(|k| !want.contains(&k.as_str())) {
        return Err(bad(format!("{what} has an unknown member {k:?}")));
    }
    if let Some(k) = want.iter().find(|k| !m.contains_key(**k)) {
        return Err(bad(format!("{what} lacks the member {k:?}")));
    }
    Ok(())
}

fn u64_at(m: &Map<String, Value>, k: &str, what: &str) -> Result<u64, String> {
    m.get(k).and_then(Value::as_u64).ok_or_else(|| format!("{what}: {k} is not an unsigned integer"))
}

fn hash_at(m: &Map<String, Value>, k: &str, what: &str) -> Result<Hash, String> {
    m.get(k)
        .and_then(Value::as_str)
        .and_then(Hash::from_hex)
        .ok_or_else(|| format!("{what}: {k} is not 64 lowercase hex digits"))
}

fn parse_checkpoint(v: &Value, position: usize) -> Result<SignedCheckpoint, UserExportError> {
    let what = format!("checkpoint {position}");
    let m = v.as_object().ok_or_else(|| bad(format!("{what} is not an object")))?;
    exact_members(m, &["seq", "hash", "time", "tree_size", "tree_root", "sig"], &what)?;
    let sig = m
        .get("sig")
        .and_then(Value::as_str)
        .and_then(|s| B64.decode(s).ok())
        .filter(|s| s.len() == 64)
        .ok_or_else(|| bad(format!("{what}: sig is not 64 bytes of base64url")))?;
    let checkpoint = Checkpoint {
        seq: u64_at(m, "seq", &what).map_err(bad)?,
        hash: hash_at(m, "hash", &what).map_err(bad)?,
        time: u64_at(m, "time", &what).map_err(bad)?,
        tree: Some(TreeHead {
            size: u64_at(m, "tree_size", &what).map_err(bad)?,
            root: hash_at(m, "tree_root", &what).map_err(bad)?,
        }),
    };
    Ok(SignedCheckpoint { checkpoint, sig })
}

/// One record entry, checked against the verified tree heads (by size).
fn check_entry(v: &Value, user: &str, heads: &BTreeMap<u64, Hash>) -> Result<Record, (Option<u64>, String)> {
    let m = v.as_object().ok_or((None, "is not an object".to_owned()))?;
    if let Some(k) = m.keys().find(|k| !matches!(k.as_str(), "index" | "tree_size" | "record" | "proof")) {
        return Err((None, format!("has an unknown member {k:?}")));
    }
    let index = u64_at(m, "index", "entry").map_err(|e| (None, e))?;
    let size = u64_at(m, "tree_size", "entry").map_err(|e| (None, e))?;
    let bytes = m
        .get("record")
        .and_then(Value::as_str)
        .and_then(|s| B64.decode(s).ok())
        .ok_or((None, "record is not base64url".to_owned()))?;
    let r = Record::from_canonical_bytes(&bytes).map_err(|why| (None, format!("record bytes: {why}")))?;
    let seq = Some(r.seq);
    let path: Vec<Hash> = match m.get("proof").and_then(Value::as_array) {
        Some(a) if a.len() <= MAX_PATH => a
            .iter()
            .map(|h| h.as_str().and_then(Hash::from_hex))
            .collect::<Option<_>>()
            .ok_or((seq, "proof holds something other than 64-hex-digit hashes".to_owned()))?,
        _ => return Err((seq, "proof is not an array of at most 64 hashes".to_owned())),
    };
    if r.seq.checked_sub(1) != Some(index) {
        return Err((seq, format!("index {index} is not the leaf of seq {} (seq - 1)", r.seq)));
    }
    match r.detail.to_value().get("owner").and_then(Value::as_str) {
        Some(o) if o == user => {}
        Some(_) => return Err((seq, format!("names another user, not {user}"))),
        None => return Err((seq, format!("names no user (no owner in its detail), not {user}"))),
    }
    let root = heads.get(&size).ok_or((seq, format!("no verified checkpoint signs a tree of size {size}")))?;
    merkle::verify_inclusion(index, size, &merkle::leaf_hash(&r.hash.0), &path, root).map_err(|e| {
        let why = match e {
            ProofError::RootMismatch => {
                "the inclusion proof does not lead to the signed tree root (record, index or proof changed)".to_owned()
            }
            other => format!("inclusion proof: {other}"),
        };
        (seq, why)
    })?;
    Ok(r)
}

/// Verify a user export: the root key's RFC 7638 thumbprint is `pin`, every
/// checkpoint is a v2 checkpoint signed by it, and every record decodes,
/// sits at `index = seq - 1`, names `user` (its detail's `owner`), appears
/// once in seq order, and is proven by its inclusion proof under the tree
/// head of a checkpoint in the export. All failing records are reported.
pub fn verify_user_export(text: &[u8], pin: &str) -> Result<UserSummary, UserExportError> {
    let doc = sealgate_envelope::parse_json_object(text)
        .map_err(|_| bad("the file is not one JSON object without duplicate members"))?;
    if doc.get("format").and_then(Value::as_str) != Some(USER_EXPORT_FORMAT) {
        return Err(bad(format!("format is not {USER_EXPORT_FORMAT}")));
    }
    exact_members(&doc, &["format", "user", "root", "checkpoints", "records", "next_after", "more"], "the export")?;
    let user = doc.get("user").and_then(Value::as_str).ok_or_else(|| bad("user is not a string"))?.to_owned();
    let root = RootKey::from_jwk(doc.get("root").unwrap_or(&Value::Null)).map_err(|e| match e {
        crate::AuditError::RootKey(why) => UserExportError::RootKey(why),
        _ => UserExportError::RootKey("unusable"),
    })?;
    if root.thumbprint() != pin {
        return Err(UserExportError::RootKey("the export's root key does not match the pin"));
    }
    let cps = doc.get("checkpoints").and_then(Value::as_array).ok_or_else(|| bad("checkpoints is not an array"))?;
    if cps.is_empty() {
        return Err(bad("no checkpoint: nothing signs the records"));
    }
    let mut heads = BTreeMap::new();
    for (i, v) in cps.iter().enumerate() {
        let cp = parse_checkpoint(v, i + 1)?;
        let seq = cp.checkpoint.seq;
        root.verify(&cp.checkpoint, &cp.sig).map_err(|_| UserExportError::Checkpoint {
            position: i + 1,
            seq,
            why: "signature does not verify under the pinned root key (forged or changed)",
        })?;
        if let Some(t) = cp.checkpoint.tree {
            heads.insert(t.size, t.root);
        }
    }
    let entries = doc.get("records").and_then(Value::as_array).ok_or_else(|| bad("records is not an array"))?;
    let mut faults = Vec::new();
    let (mut first, mut last) = (None, 0u64);
    for (i, v) in entries.iter().enumerate() {
        match check_entry(v, &user, &heads) {
            Ok(r) if first.is_some() && r.seq <= last => faults.push(RecordFault {
                position: i + 1,
                seq: Some(r.seq),
                why: "out of seq order or repeated".into(),
            }),
            Ok(r) => {
                first.get_or_insert(r.seq);
                last = r.seq;
            }
            Err((seq, why)) => faults.push(RecordFault { position: i + 1, seq, why }),
        }
    }
    if !faults.is_empty() {
        return Err(UserExportError::Records(faults));
    }
    Ok(UserSummary {
        user,
        records: entries.len() as u64,
        seqs: first.map(|f| (f, last)),
        checkpoints: cps.len() as u64,
        tree_size: heads.keys().next_back().copied().unwrap_or(0),
    })
}

/// Whether `text` looks like a saved `GET /v1/audit` page (`records` and
/// `next_after`, records as objects), so a verifier can say what it is.
pub fn is_audit_page(text: &[u8]) -> bool {
    let Ok(m) = serde_json::from_slice::<Map<String, Value>>(text) else { return false };
    m.contains_key("next_after")
        && !m.contains_key("format")
        && m.get("records").and_then(Value::as_array).is_some_and(|a| a.iter().all(Value::is_object))
}

/// Whether `text` is a user export (its `format` member), for the same purpose.
pub fn is_user_export(text: &[u8]) -> bool {
    serde_json::from_slice::<Map<String, Value>>(text)
        .is_ok_and(|m| m.get("format").and_then(Value::as_str) == Some(USER_EXPORT_FORMAT))
}
