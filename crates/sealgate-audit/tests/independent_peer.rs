//! A second implementation, written from FORMAT.md alone: `interop/audit_chain.py`
//! (Python standard library only, its own canonical JSON, SHA-256 encoding and
//! ES256 verification). Both directions are checked:
//!
//! - it re-derives FORMAT.md §5 (canonical bytes, hashes, checkpoint input,
//!   export lines) from the values stated in the prose, and verifies the
//!   documented export under the documented pin;
//! - it verifies exports this crate writes (awkward details: every escape,
//!   non-ASCII member names whose UTF-8 and UTF-16 orders differ, integer
//!   extremes, the deepest nesting allowed), and refuses tampered exports at
//!   the same record, for the same reason, as [`verify_export`].
//!
//! python3 must be on PATH: this test fails, never skips, without it.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use sealgate_audit::jsonl::{Trust, checkpoint_line, record_line, root_line, verify_export};
use sealgate_audit::{
    Action, AuditError, Chain, Detail, Reason, Record, RootKey, SignedCheckpoint, checkpoint_signing_input,
};
use serde_json::{Value, json};

fn root_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs the peer; returns (exit code, stdout).
fn peer(args: &[&str], stdin: &[u8]) -> (i32, String) {
    let script = root_dir().join("interop/audit_chain.py");
    let mut child = Command::new("python3")
        .arg(&script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 must be on PATH to run the independent audit-chain peer (interop/audit_chain.py)");
    child.stdin.take().expect("stdin").write_all(stdin).expect("write to the peer");
    let out = child.wait_with_output().expect("peer ran");
    (out.status.code().expect("peer exited"), String::from_utf8(out.stdout).expect("utf-8").trim().to_owned())
}

#[test]
fn peer_reproduces_the_worked_example_from_the_text() {
    let format = root_dir().join("crates/sealgate-audit/FORMAT.md");
    let (code, out) = peer(&["example", format.to_str().expect("path")], b"");
    assert_eq!((code, out.as_str()), (0, "ok: FORMAT.md sections 5 and 6 reproduced (19 checks)"));
}

struct Signer(EcdsaKeyPair);

impl Signer {
    fn new() -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("keygen");
        Self(EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).expect("key"))
    }
    fn root(&self) -> RootKey {
        RootKey::from_point(self.0.public_key().as_ref()).expect("point")
    }
    fn sign(&self, chain: &Chain, time: u64) -> SignedCheckpoint {
        let cp = chain.checkpoint(time).expect("non-empty chain");
        let sig = self.0.sign(&SystemRandom::new(), &checkpoint_signing_input(&cp)).expect("sign");
        SignedCheckpoint { checkpoint: cp, sig: sig.as_ref().to_vec() }
    }
}

/// Details that exercise every rule of FORMAT.md §2 and R5.
fn details() -> Vec<Value> {
    let controls: String = (0u32..0x20).chain([0x7f, 0x80, 0x9f]).filter_map(char::from_u32).collect();
    vec![
        json!({"exchange": "binance", "scope": ["read", "trade"]}),
        json!({"s": controls, "q": "\"\\/", "u": "é ∑ \u{2028} \u{fffd} 😀"}),
        // UTF-8 order puts U+E000 before U+10000; UTF-16 order the other way round.
        json!({"\u{10000}": 1, "\u{e000}": 2, "Z": 3, "a": 4, "": 5, "é": 6}),
        json!({"max": u64::MAX, "min": i64::MIN, "zero": 0, "neg": -1}),
        json!({"a": {"b": {"c": [true, false, null]}}}),
        json!({}),
        json!({"list": [[], {}, [1, [2]], "x"]}),
        json!({"long": "x".repeat(4000)}),
    ]
}

/// A chain written by this crate, with a checkpoint every 3 records and one at the end.
fn chain(signer: &Signer, subject_of_4: &str) -> (Vec<Record>, Vec<SignedCheckpoint>) {
    let actors = ["user:u1", "service:signer", "user:ü:with:colons", "svc-2_x:\u{a0}id"];
    let actions = [Action::CredentialCreated, Action::Denied, Action::Signed, "limits_changed".parse().expect("name")];
    let mut c = Chain::new();
    let (mut records, mut cps) = (Vec::new(), Vec::new());
    for (i, d) in details().into_iter().enumerate() {
        let subject = if i == 3 { subject_of_4 } else { "cred_1" };
        let detail = Detail::new(&d).expect("detail");
        let r = c.append(actors[i % 4], actions[i % 4].clone(), subject, detail, 1_767_225_600_000 + i as u64);
        records.push(r.expect("append"));
        if c.checkpoint_due(3) {
            cps.push(signer.sign(&c, 1_767_225_700_000 + i as u64));
        }
    }
    cps.push(signer.sign(&c, 1_767_225_800_000));
    (records, cps)
}

fn export(root: &RootKey, records: &[Record], cps: &[SignedCheckpoint]) -> String {
    let mut lines = vec![root_line(root)];
    for r in records {
        lines.push(record_line(r));
        for cp in cps.iter().filter(|cp| cp.checkpoint.seq == r.seq) {
            lines.push(checkpoint_line(cp));
        }
    }
    lines.join("\n") + "\n"
}

/// The Rust verdict in the peer's vocabulary.
fn rust_verdict(text: &str, pin: &str) -> String {
    match verify_export(text.as_bytes(), Trust::Pin(pin)) {
        Ok(s) => s.to_string(),
        Err(AuditError::BadRecord { seq, reason }) => {
            let why = match reason {
                Reason::SeqGap { .. } => "seq-gap",
                Reason::SeqDuplicate { .. } => "seq-duplicate",
                Reason::Malformed(_) => "malformed",
                Reason::HashMismatch => "hash-mismatch",
                Reason::BrokenLink => "broken-link",
                Reason::CheckpointMismatch => "checkpoint-mismatch",
                Reason::TreeMismatch => "tree-mismatch",
                other => panic!("a reason the peer does not know: {other:?}"),
            };
            format!("refused: record {seq}: {why}")
        }
        Err(AuditError::BadCheckpoint { seq, .. }) => format!("refused: checkpoint at seq {seq}: bad-signature"),
        Err(AuditError::Truncated { last_seq, checkpoint_seq }) => {
            format!("refused: truncated at seq {last_seq}, checkpoint at seq {checkpoint_seq}")
        }
        Err(AuditError::Format { line, .. }) => format!("refused: line {line}"),
        Err(e) => panic!("unexpected error: {e}"),
    }
}

/// The peer's verdict, cut to what both sides name the same way.
fn peer_verdict(text: &str, pin: &str) -> String {
    let (code, out) = peer(&["verify", "-", "--pin", pin], text.as_bytes());
    assert_eq!(code, i32::from(!out.starts_with("ok: ")), "exit code and verdict disagree: {out}");
    let out =
        if out.starts_with("refused: line ") { out.split(':').take(2).collect::<Vec<_>>().join(":") } else { out };
    // "malformed (why)": the reasons' wording differs between the two.
    out.split(" (").next().unwrap_or_default().to_owned()
}

#[test]
fn peer_verifies_what_this_crate_writes_and_refuses_the_same_tampering() {
    let signer = Signer::new();
    let root = signer.root();
    let pin = root.thumbprint();
    let (records, cps) = chain(&signer, "cred_4");
    assert_eq!(cps.iter().map(|c| c.checkpoint.seq).collect::<Vec<_>>(), [3, 6, 8]);
    let good = export(&root, &records, &cps);
    let summary = rust_verdict(&good, &pin);
    assert_eq!(summary, format!("ok: 8 records, last seq 8, last hash {}, 3 checkpoints verified", records[7].hash));
    assert_eq!(peer_verdict(&good, &pin), summary);

    // The same chain rewritten from record 4 on, every hash recomputed.
    let (rewritten, _) = chain(&signer, "cred_X");
    let lines: Vec<&str> = good.lines().collect();
    let line_of = |seq: u64| lines.iter().position(|l| *l == record_line(&records[seq as usize - 1])).expect("line");
    let edit = |f: &dyn Fn(&mut Vec<String>)| {
        let mut l: Vec<String> = lines.iter().map(|s| (*s).to_owned()).collect();
        f(&mut l);
        l.join("\n")
    };
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "a detail value changed",
            edit(&|l| l[line_of(4)] = l[line_of(4)].replacen("\"zero\":0", "\"zero\":1", 1)),
            "refused: record 4: hash-mismatch",
        ),
        ("record 2 removed", edit(&|l| drop(l.remove(line_of(2)))), "refused: record 2: seq-gap"),
        ("records 4 and 5 swapped", edit(&|l| l.swap(line_of(4), line_of(5))), "refused: record 4: seq-gap"),
        (
            "record 4 repeated",
            edit(&|l| {
                let r = l[line_of(4)].clone();
                l.insert(line_of(4) + 1, r);
            }),
            "refused: record 5: seq-duplicate",
        ),
        (
            "record 4 rewritten and rehashed, later links kept",
            edit(&|l| l[line_of(4)] = record_line(&rewritten[3])),
            "refused: record 5: broken-link",
        ),
        (
            "records 4.. rewritten and rehashed",
            edit(&|l| {
                for seq in 4..=8 {
                    l[line_of(seq)] = record_line(&rewritten[seq as usize - 1]);
                }
            }),
            "refused: record 6: checkpoint-mismatch",
        ),
        (
            "record 8 cut off, its checkpoint kept",
            edit(&|l| drop(l.remove(line_of(8)))),
            "refused: truncated at seq 7, checkpoint at seq 8",
        ),
        (
            "a checkpoint's time changed",
            edit(&|l| {
                let i = l.iter().position(|x| x.starts_with(r#"{"type":"checkpoint","seq":6,"#)).expect("cp 6");
                l[i] = l[i].replacen(r#","time":1767225700005,"#, r#","time":1767225700006,"#, 1);
            }),
            "refused: checkpoint at seq 6: bad-signature",
        ),
        (
            "a space in a record line",
            edit(&|l| l[line_of(6)] = l[line_of(6)].replacen(':', ": ", 1)),
            "refused: record 6: malformed",
        ),
        (
            "detail nested 5 deep",
            edit(&|l| l[line_of(5)] = l[line_of(5)].replacen(r#"[true,false,null]"#, r#"[[true],false,null]"#, 1)),
            "refused: record 5: malformed",
        ),
        ("a second root line", edit(&|l| l.push(l[0].clone())), "refused: line 13"),
    ];
    for (what, text, want) in cases {
        assert!(text.trim_end() != good.trim_end(), "{what}: the edit changed nothing");
        assert_eq!(rust_verdict(&text, &pin), want, "{what}: the Rust verifier");
        assert_eq!(peer_verdict(&text, &pin), want, "{what}: the independent peer");
    }
}

/// J5: a checkpoint file kept beside the chain (the agent's `FILE.checkpoint`)
/// counts as if its lines were in the export, so a chain cut together with
/// its own checkpoint lines is still caught, by both implementations.
#[test]
fn peer_reads_a_checkpoint_file_like_this_crate() {
    use sealgate_audit::jsonl::{parse_checkpoints, verify_export_with};
    let signer = Signer::new();
    let root = signer.root();
    let pin = root.thumbprint();
    let (records, cps) = chain(&signer, "cred_4");
    // The chain cut after record 6, its checkpoint lines with it; the side file holds checkpoint 8.
    let cut = export(&root, &records[..6], &cps[..2]);
    let side = checkpoint_line(&cps[2]) + "\n";
    let dir = tempfile::tempdir().expect("dir");
    let cp_file = dir.path().join("audit.jsonl.checkpoint");
    let verdicts = |text: &str, side: &str| {
        std::fs::write(&cp_file, side).expect("write the checkpoint file");
        let rust = parse_checkpoints(side.as_bytes())
            .and_then(|extra| verify_export_with(text.as_bytes(), extra, Trust::Pin(&pin)))
            .map_or_else(
                |e| match e {
                    AuditError::Truncated { last_seq, checkpoint_seq } => {
                        format!("refused: truncated at seq {last_seq}, checkpoint at seq {checkpoint_seq}")
                    }
                    AuditError::Format { line, .. } => format!("refused: checkpoints line {line}"),
                    other => panic!("unexpected: {other}"),
                },
                |s| s.to_string(),
            );
        let (code, out) =
            peer(&["verify", "-", "--pin", &pin, "--checkpoints", cp_file.to_str().expect("path")], text.as_bytes());
        assert_eq!(code, i32::from(!out.starts_with("ok: ")), "exit code and verdict disagree: {out}");
        let peer = if out.starts_with("refused: checkpoints line ") {
            out.split(':').take(2).collect::<Vec<_>>().join(":")
        } else {
            out
        };
        (rust, peer)
    };
    let (rust, peer) = verdicts(&cut, "");
    assert!(rust.starts_with("ok: 6 records"), "without the side file the cut chain verifies: {rust}");
    assert_eq!(peer, rust);
    let (rust, peer) = verdicts(&cut, &side);
    assert_eq!(rust, "refused: truncated at seq 6, checkpoint at seq 8");
    assert_eq!(peer, rust);
    // The whole chain with its side file verifies, the side file's checkpoint counted too.
    let whole = export(&root, &records, &cps);
    let (rust, peer) = verdicts(&whole, &side);
    assert_eq!(rust, format!("ok: 8 records, last seq 8, last hash {}, 4 checkpoints verified", records[7].hash));
    assert_eq!(peer, rust);
    // Anything but checkpoint lines in the side file is refused by line number.
    let (rust, peer) = verdicts(&whole, &format!("{side}{}\n", record_line(&records[0])));
    assert_eq!(rust, "refused: checkpoints line 2");
    assert_eq!(peer, rust);
}

/// v2 checkpoints (FORMAT.md §6) sign the Merkle tree head too: the peer computes the
/// tree from the RFC's definitions and agrees, on a good chain and on a validly signed
/// head whose root is not the chain's tree.
#[test]
fn peer_checks_the_tree_heads_of_v2_checkpoints() {
    use sealgate_audit::merkle::{leaf_hash, root};
    use sealgate_audit::{Checkpoint, TreeHead};
    let signer = Signer::new();
    let key = signer.root();
    let pin = key.thumbprint();
    let (records, v1) = chain(&signer, "cred_4");
    let leaves: Vec<_> = records.iter().map(|r| leaf_hash(&r.hash.0)).collect();
    let v2 = |seq: u64, tree_root| {
        let cp = Checkpoint {
            seq,
            hash: records[seq as usize - 1].hash,
            time: 1_767_225_900_000,
            tree: Some(TreeHead { size: seq, root: tree_root }),
        };
        let sig = signer.0.sign(&SystemRandom::new(), &checkpoint_signing_input(&cp)).expect("sign");
        SignedCheckpoint { checkpoint: cp, sig: sig.as_ref().to_vec() }
    };
    let mut cps = v1.clone();
    cps.push(v2(5, root(&leaves[..5])));
    cps.push(v2(8, root(&leaves)));
    let good = export(&key, &records, &cps);
    let summary = rust_verdict(&good, &pin);
    assert!(summary.ends_with(", 5 checkpoints verified"), "{summary}");
    assert_eq!(peer_verdict(&good, &pin), summary);

    let mut wrong = v1;
    wrong.push(v2(5, root(&leaves[..4])));
    let bad = export(&key, &records, &wrong);
    assert_eq!(rust_verdict(&bad, &pin), "refused: record 5: tree-mismatch");
    assert_eq!(peer_verdict(&bad, &pin), "refused: record 5: tree-mismatch");
}
