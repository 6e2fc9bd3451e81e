//! The JSON Lines export (FORMAT.md §4): one object per line, `type`
//! `record`, `checkpoint` or `root`. Parsing is strict: duplicate members
//! are refused at any depth, unknown and missing members are refused, lines
//! are bounded, and a record or checkpoint line must be byte for byte the
//! line this module writes for it — so each record has exactly one
//! spelling, and no byte of a record line can change without the chain
//! noticing.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Map, Value};

use crate::canon::write_str;
use crate::{AuditError, Checkpoint, Detail, Hash, Record, RootKey, SignedCheckpoint, Summary, TreeHead, Verifier};

/// Longest line, in bytes (without its newline). A record is at most about
/// 8 KiB: 4 KiB of detail, two 256-byte strings escaped, fixed members.
pub const MAX_LINE: usize = 16 * 1024;

const RECORD_MEMBERS: [&str; 9] = ["type", "seq", "time", "actor", "action", "subject", "detail", "prev_hash", "hash"];
const CHECKPOINT_MEMBERS: [&str; 5] = ["type", "seq", "hash", "time", "sig"];
const CHECKPOINT_V2_MEMBERS: [&str; 7] = ["type", "seq", "hash", "time", "tree_size", "tree_root", "sig"];
const ROOT_MEMBERS: [&str; 2] = ["type", "jwk"];

/// The export line of a record (no newline).
pub fn record_line(r: &Record) -> String {
    let mut s = String::with_capacity(256 + r.detail.canonical().len());
    s.push_str(r#"{"type":"record","seq":"#);
    s.push_str(&r.seq.to_string());
    s.push_str(r#","time":"#);
    s.push_str(&r.time.to_string());
    s.push_str(r#","actor":"#);
    write_str(&mut s, &r.actor);
    s.push_str(r#","action":"#);
    write_str(&mut s, r.action.as_str());
    s.push_str(r#","subject":"#);
    write_str(&mut s, &r.subject);
    s.push_str(r#","detail":"#);
    s.push_str(r.detail.canonical());
    s.push_str(r#","prev_hash":""#);
    s.push_str(&r.prev_hash.to_string());
    s.push_str(r#"","hash":""#);
    s.push_str(&r.hash.to_string());
    s.push_str(r#""}"#);
    s
}

/// The export line of a signed checkpoint (no newline); a v2 checkpoint
/// carries `tree_size` and `tree_root` before `sig`.
pub fn checkpoint_line(cp: &SignedCheckpoint) -> String {
    let c = &cp.checkpoint;
    match &c.tree {
        None => format!(
            r#"{{"type":"checkpoint","seq":{},"hash":"{}","time":{},"sig":"{}"}}"#,
            c.seq,
            c.hash,
            c.time,
            B64.encode(&cp.sig)
        ),
        Some(t) => format!(
            r#"{{"type":"checkpoint","seq":{},"hash":"{}","time":{},"tree_size":{},"tree_root":"{}","sig":"{}"}}"#,
            c.seq,
            c.hash,
            c.time,
            t.size,
            t.root,
            B64.encode(&cp.sig)
        ),
    }
}

/// The export line naming the root key checkpoints are signed with (no
/// newline). It is a convenience, not a trust anchor: verifiers pin its
/// thumbprint or bring the key themselves.
pub fn root_line(root: &RootKey) -> String {
    let jwk = root.to_jwk();
    let s = |k: &str| jwk.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
    format!(
        r#"{{"type":"root","jwk":{{"kty":"EC","crv":"P-256","x":"{}","y":"{}","use":"sig","alg":"ES256"}}}}"#,
        s("x"),
        s("y")
    )
}

/// One parsed line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// A record (not yet verified).
    Record(Record),
    /// A signed checkpoint (not yet verified).
    Checkpoint(SignedCheckpoint),
    /// The root public key.
    Root(RootKey),
}

/// Why a line did not parse: a line that does not say it is a checkpoint
/// or root line counts as a (malformed) record.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LineError {
    /// A record line.
    Record(&'static str),
    /// A checkpoint line.
    Checkpoint(&'static str),
    /// A root line.
    Root(&'static str),
}

/// Parse one line (without its newline).
pub fn parse_line(line: &[u8]) -> Result<Line, LineError> {
    if line.len() > MAX_LINE {
        return Err(LineError::Record("line longer than 16 KiB"));
    }
    let m = sealgate_envelope::parse_json_object(line)
        .map_err(|_| LineError::Record("not one JSON object without duplicate members"))?;
    match m.get("type").and_then(Value::as_str) {
        Some("checkpoint") => parse_checkpoint(&m, line).map(Line::Checkpoint).map_err(LineError::Checkpoint),
        Some("root") => parse_root(&m).map(Line::Root).map_err(LineError::Root),
        Some("record") => parse_record(&m, line).map(Line::Record).map_err(LineError::Record),
        _ => Err(LineError::Record("type is not record, checkpoint or root")),
    }
}

fn members(m: &Map<String, Value>, want: &[&str]) -> Result<(), &'static str> {
    if m.keys().any(|k| !want.contains(&k.as_str())) {
        return Err("unknown member");
    }
    if m.len() != want.len() {
        return Err("missing member");
    }
    Ok(())
}

fn u64_of(m: &Map<String, Value>, k: &str, what: &'static str) -> Result<u64, &'static str> {
    m.get(k).and_then(Value::as_u64).ok_or(what)
}

fn str_of<'a>(m: &'a Map<String, Value>, k: &str, what: &'static str) -> Result<&'a str, &'static str> {
    m.get(k).and_then(Value::as_str).ok_or(what)
}

fn hash_of(m: &Map<String, Value>, k: &str, what: &'static str) -> Result<Hash, &'static str> {
    str_of(m, k, what).and_then(|s| Hash::from_hex(s).ok_or(what))
}

fn parse_record(m: &Map<String, Value>, line: &[u8]) -> Result<Record, &'static str> {
    members(m, &RECORD_MEMBERS)?;
    let r = Record {
        seq: u64_of(m, "seq", "seq is not an unsigned integer")?,
        time: u64_of(m, "time", "time is not an unsigned integer")?,
        actor: str_of(m, "actor", "actor is not a string")?.to_owned(),
        action: str_of(m, "action", "action is not a string")?.parse().map_err(|_| "action is not a valid name")?,
        subject: str_of(m, "subject", "subject is not a string")?.to_owned(),
        detail: Detail::new(m.get("detail").unwrap_or(&Value::Null)).map_err(|e| match e {
            AuditError::Invalid { why, .. } => why,
            _ => "detail is invalid",
        })?,
        prev_hash: hash_of(m, "prev_hash", "prev_hash is not 64 lowercase hex digits")?,
        hash: hash_of(m, "hash", "hash is not 64 lowercase hex digits")?,
    };
    // J3: one spelling per record.
    if record_line(&r).as_bytes() != line {
        return Err("not in the export's canonical form (member order, spacing or escapes)");
    }
    Ok(r)
}

fn parse_checkpoint(m: &Map<String, Value>, line: &[u8]) -> Result<SignedCheckpoint, &'static str> {
    // v1 or v2 (FORMAT.md §3, §6): the member set says which.
    let v2 = m.contains_key("tree_size") || m.contains_key("tree_root");
    members(m, if v2 { &CHECKPOINT_V2_MEMBERS[..] } else { &CHECKPOINT_MEMBERS[..] })?;
    let seq = u64_of(m, "seq", "seq is not an unsigned integer")?;
    if seq == 0 {
        return Err("seq is 0 (records start at 1)");
    }
    let sig = B64
        .decode(str_of(m, "sig", "sig is not a string")?)
        .ok()
        .filter(|s| s.len() == 64)
        .ok_or("sig is not 64 bytes of base64url (ES256 r || s)")?;
    let cp = SignedCheckpoint {
        checkpoint: Checkpoint {
            seq,
            hash: hash_of(m, "hash", "hash is not 64 lowercase hex digits")?,
            time: u64_of(m, "time", "time is not an unsigned integer")?,
            tree: if v2 {
                Some(TreeHead {
                    size: u64_of(m, "tree_size", "tree_size is not an unsigned integer")?,
                    root: hash_of(m, "tree_root", "tree_root is not 64 lowercase hex digits")?,
                })
            } else {
                None
            },
        },
        sig,
    };
    if checkpoint_line(&cp).as_bytes() != line {
        return Err("not in the export's canonical form (member order, spacing or encoding)");
    }
    Ok(cp)
}

fn parse_root(m: &Map<String, Value>) -> Result<RootKey, &'static str> {
    members(m, &ROOT_MEMBERS)?;
    RootKey::from_jwk(m.get("jwk").unwrap_or(&Value::Null)).map_err(|e| match e {
        AuditError::RootKey(why) => why,
        _ => "jwk is invalid",
    })
}

/// Whom checkpoints must be signed by.
#[derive(Debug, Clone)]
pub enum Trust<'a> {
    /// No root key: checkpoints are counted, not checked.
    None,
    /// This root key (the file's root line, if any, is ignored).
    Root(RootKey),
    /// The file's root line, whose RFC 7638 thumbprint must be this pin.
    Pin(&'a str),
}

/// Parse and verify a whole export. Records are verified in file order;
/// checkpoints and the root line may be anywhere. Errors: the first bad
/// record ([`AuditError::BadRecord`], a record line that does not parse
/// being [`crate::Reason::Malformed`] at its position), a malformed
/// checkpoint or root line ([`AuditError::Format`]), a bad checkpoint, or
/// truncation below the last checkpoint.
pub fn verify_export(text: &[u8], trust: Trust<'_>) -> Result<Summary, AuditError> {
    verify_export_with(text, Vec::new(), trust)
}

/// A file of checkpoint lines only (every non-empty line a checkpoint
/// line), such as the desktop agent's `FILE.checkpoint` beside its chain:
/// kept apart from the chain, it proves the chain reached its seq even when
/// the chain's own tail (records and checkpoint lines) was cut off.
pub fn parse_checkpoints(text: &[u8]) -> Result<Vec<SignedCheckpoint>, AuditError> {
    let mut out = Vec::new();
    for (i, line) in text.split(|b| *b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        match parse_line(line) {
            Ok(Line::Checkpoint(cp)) => out.push(cp),
            Err(LineError::Checkpoint(what)) => return Err(AuditError::Format { line: i as u64 + 1, what }),
            _ => return Err(AuditError::Format { line: i as u64 + 1, what: "not a checkpoint line" }),
        }
    }
    Ok(out)
}

/// [`verify_export`], with `extra` checkpoints (from [`parse_checkpoints`])
/// verified as if they were in the export.
pub fn verify_export_with(text: &[u8], extra: Vec<SignedCheckpoint>, trust: Trust<'_>) -> Result<Summary, AuditError> {
    let text = text.strip_suffix(b"\n").unwrap_or(text);
    let mut records: Vec<Result<Record, &'static str>> = Vec::new();
    let mut checkpoints = extra;
    let mut file_root = None;
    if !text.is_empty() {
        for (i, line) in text.split(|b| *b == b'\n').enumerate() {
            let line_no = i as u64 + 1;
            match parse_line(line) {
                Ok(Line::Record(r)) => records.push(Ok(r)),
                Err(LineError::Record(what)) => records.push(Err(what)),
                Ok(Line::Checkpoint(cp)) => checkpoints.push(cp),
                Ok(Line::Root(k)) if file_root.is_none() => file_root = Some(k),
                Ok(Line::Root(_)) => return Err(AuditError::Format { line: line_no, what: "a second root line" }),
                Err(LineError::Checkpoint(what) | LineError::Root(what)) => {
                    return Err(AuditError::Format { line: line_no, what });
                }
            }
        }
    }
    let root = match trust {
        Trust::None => None,
        Trust::Root(k) => Some(k),
        Trust::Pin(pin) => {
            let k = file_root.ok_or(AuditError::RootKey("the file has no root line to check against the pin"))?;
            if k.thumbprint() != pin {
                return Err(AuditError::RootKey("the file's root key does not match the pin"));
            }
            Some(k)
        }
    };
    let unverified = if root.is_none() { checkpoints.len() as u64 } else { 0 };
    let mut v = match root {
        Some(k) => Verifier::with_checkpoints(k, checkpoints),
        None => Verifier::new(),
    };
    for r in records {
        match r {
            Ok(r) => v.push(&r)?,
            Err(what) => return Err(v.malformed(what)),
        }
    }
    let mut summary = v.finish()?;
    summary.checkpoints_unverified = unverified;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Action, Chain};
    use serde_json::json;

    fn chain(n: u64) -> Vec<Record> {
        let mut c = Chain::new();
        (0..n)
            .map(|i| {
                let d = Detail::new(&json!({"i": i, "s": "q\"\\\u{1}é"})).expect("detail");
                c.append("user:u1", Action::Signed, "cred_1", d, 1_000 + i).expect("append")
            })
            .collect()
    }

    #[test]
    fn round_trip() {
        for r in chain(3) {
            assert_eq!(parse_line(record_line(&r).as_bytes()), Ok(Line::Record(r)));
        }
    }

    #[test]
    fn refuses_non_canonical_duplicate_and_unknown() {
        let line = record_line(&chain(1)[0]);
        let spaced = line.replacen(r#""seq":1"#, r#""seq": 1"#, 1);
        let reordered = line.replacen(r#"{"type":"record","seq":1,"#, r#"{"seq":1,"type":"record","#, 1);
        let dup = line.replacen(r#""seq":1,"#, r#""seq":1,"seq":1,"#, 1);
        let unknown = line.replacen(r#""seq":1,"#, r#""seq":1,"x":1,"#, 1);
        let float = line.replacen(r#""seq":1"#, r#""seq":1.0"#, 1);
        for bad in [spaced, reordered, dup, unknown, float] {
            assert!(matches!(parse_line(bad.as_bytes()), Err(LineError::Record(_))), "{bad}");
        }
        // The same string spelled otherwise ("q" as \u0071) is not canonical.
        let respelled = line.replacen(r#""s":"q"#, r#""s":"\u0071"#, 1);
        assert_ne!(respelled, line);
        assert!(matches!(parse_line(respelled.as_bytes()), Err(LineError::Record(_))), "{respelled}");
        assert!(matches!(parse_line(&vec![b' '; MAX_LINE + 1]), Err(LineError::Record(_))));
    }

    #[test]
    fn malformed_record_is_named_by_position() {
        let recs = chain(3);
        let mut text: Vec<String> = recs.iter().map(record_line).collect();
        text[1] = "{".into();
        let err = verify_export(text.join("\n").as_bytes(), Trust::None).expect_err("malformed");
        assert!(matches!(err, AuditError::BadRecord { seq: 2, reason: crate::Reason::Malformed(_) }), "{err}");
    }
}
