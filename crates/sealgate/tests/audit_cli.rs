//! `sealgate audit verify`: a good export passes with a one-line summary; a
//! tampered one exits 2 naming the first bad record; checkpoints verify
//! under --root-jwk (the JWK custody publishes) or --pin.

mod common;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use common::{TempDir, ok, p, refused, run};
use sealgate_audit::jsonl::{checkpoint_line, record_line, root_line};
use sealgate_audit::{Action, Chain, Detail, RootKey, SignedCheckpoint, checkpoint_signing_input};
use serde_json::json;

/// An export of `n` records with a checkpoint every 5, signed by `key`,
/// and a root line; one string per line.
fn export(n: u64, key: &EcdsaKeyPair) -> Vec<String> {
    let root = RootKey::from_point(key.public_key().as_ref()).expect("root");
    let mut lines = vec![root_line(&root)];
    let mut chain = Chain::new();
    for i in 0..n {
        let d = Detail::new(&json!({"exchange": "binance", "i": i})).expect("detail");
        let r = chain.append("service:signer", Action::Signed, "cred_1", d, 1_767_225_600_000 + i).expect("append");
        lines.push(record_line(&r));
        if chain.checkpoint_due(5) {
            let cp = chain.checkpoint(1_767_225_700_000 + i).expect("checkpoint");
            let sig = key.sign(&SystemRandom::new(), &checkpoint_signing_input(&cp)).expect("sign");
            lines.push(checkpoint_line(&SignedCheckpoint { checkpoint: cp, sig: sig.as_ref().to_vec() }));
        }
    }
    lines
}

fn key() -> EcdsaKeyPair {
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new()).expect("keygen");
    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).expect("key")
}

#[test]
fn good_and_tampered_chains() {
    let dir = TempDir::new("audit");
    let key = key();
    let lines = export(12, &key);
    let good = dir.path("chain.jsonl");
    std::fs::write(&good, lines.join("\n") + "\n").expect("write");

    // The root JWK as custody publishes it, and the pin as `keys pin` prints it.
    let jwk = sealgate_custody::keyset::root_jwk_from_point(key.public_key().as_ref()).expect("jwk");
    let pin = sealgate_custody::keyset::thumbprint(&jwk).expect("thumbprint");
    assert_eq!(RootKey::from_point(key.public_key().as_ref()).expect("root").thumbprint(), pin);
    let jwk_file = dir.path("root.jwk");
    std::fs::write(&jwk_file, serde_json::to_string_pretty(&jwk).expect("json")).expect("write");

    let out = ok(run(&["audit", "verify", "--file", p(&good)], b""));
    assert!(out.starts_with("ok: 12 records, last seq 12, last hash "), "{out}");
    assert!(out.contains("0 checkpoints verified, 2 not verified"), "{out}");
    assert_eq!(out.lines().count(), 1);
    let out = ok(run(&["audit", "verify", "--file", p(&good), "--root-jwk", p(&jwk_file)], b""));
    assert!(out.trim_end().ends_with(", 2 checkpoints verified"), "{out}");
    let out = ok(run(&["audit", "verify", "--file", p(&good), "--pin", &pin], b""));
    assert!(out.trim_end().ends_with(", 2 checkpoints verified"), "{out}");
    // A pin is base64url, so one in 64 begins with '-': it is still read as the pin (here a
    // wrong one), never as an unknown option. (The key is random: when its own pin begins with
    // '-', the wrong one differs in its second character.)
    let hyphen = match pin.strip_prefix('-') {
        Some(rest) if rest.starts_with('A') => format!("-B{}", &rest[1..]),
        Some(rest) => format!("-A{}", &rest[1..]),
        None => format!("-{}", &pin[1..]),
    };
    assert_ne!(hyphen, pin);
    let out = run(&["audit", "verify", "--file", p(&good), "--pin", &hyphen], b"");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(!stderr.contains("unexpected argument") && stderr.contains("pin"), "{stderr}");

    // One byte of record 7 (line 8: root, records 1-5, checkpoint 5, record 6, record 7).
    let mut t = lines.clone();
    assert!(t[8].contains(r#""seq":7,"#));
    t[8] = t[8].replacen(r#""i":6"#, r#""i":9"#, 1);
    let tampered = dir.path("tampered.jsonl");
    std::fs::write(&tampered, t.join("\n")).expect("write");
    refused(&run(&["audit", "verify", "--file", p(&tampered)], b""), "error: record 7: hash mismatch", &[]);

    // Record 3 deleted.
    let mut t = lines.clone();
    t.remove(3);
    std::fs::write(&tampered, t.join("\n")).expect("write");
    refused(&run(&["audit", "verify", "--file", p(&tampered), "--pin", &pin], b""), "error: record 3: seq gap", &[]);

    // Lines: root, records 1-5, checkpoint 5, records 6-10, checkpoint 10,
    // records 11-12. Keep up to record 7 and both checkpoints: truncated.
    assert!(lines[12].contains(r#""type":"checkpoint","seq":10"#));
    let cut: Vec<&str> = lines[..9].iter().chain([&lines[12]]).map(String::as_str).collect();
    std::fs::write(&tampered, cut.join("\n")).expect("write");
    refused(
        &run(&["audit", "verify", "--file", p(&tampered), "--pin", &pin], b""),
        "error: truncated: the chain ends at seq 7 but a signed checkpoint covers seq 10",
        &[],
    );

    // Another root key: the checkpoints do not verify; a wrong pin is refused.
    let other = dir.path("other.jwk");
    let other_jwk = sealgate_custody::keyset::root_jwk_from_point(self::key().public_key().as_ref()).expect("jwk");
    std::fs::write(&other, other_jwk.to_string()).expect("write");
    refused(
        &run(&["audit", "verify", "--file", p(&good), "--root-jwk", p(&other)], b""),
        "error: checkpoint at seq 5: signature does not verify",
        &[],
    );
    refused(&run(&["audit", "verify", "--file", p(&good), "--pin", "AAAA"], b""), "does not match the pin", &[]);
    refused(&run(&["audit", "verify", "--file", p(&dir.path("missing"))], b""), "cannot read", &[]);
}

/// A user export as `GET /v1/audit/export` writes it (FORMAT.md §7) for `user`, over a
/// chain of 9 records alternating between alice and bob, with one v2 checkpoint.
fn user_export(user: &str, key: &EcdsaKeyPair) -> serde_json::Value {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use sealgate_audit::merkle::{inclusion_proof, leaf_hash, root};
    use sealgate_audit::{Checkpoint, TreeHead};
    let mut chain = Chain::new();
    let records: Vec<_> = (0..9u64)
        .map(|i| {
            let owner = if i % 2 == 0 { "alice" } else { "bob" };
            let d = Detail::new(&json!({"owner": owner, "i": i})).expect("detail");
            chain.append(&format!("user:{owner}"), Action::Signed, "cred_1", d, 1_767_225_600_000 + i).expect("append")
        })
        .collect();
    let leaves: Vec<_> = records.iter().map(|r| leaf_hash(&r.hash.0)).collect();
    let tree = TreeHead { size: 9, root: root(&leaves) };
    let cp = Checkpoint { seq: 9, hash: records[8].hash, time: 1_767_225_700_000, tree: Some(tree) };
    let sig = key.sign(&SystemRandom::new(), &checkpoint_signing_input(&cp)).expect("sign");
    let entries: Vec<_> = records
        .iter()
        .filter(|r| r.actor == format!("user:{user}"))
        .map(|r| {
            let proof = inclusion_proof(&leaves, r.seq - 1).expect("proof");
            json!({"index": r.seq - 1, "tree_size": 9, "record": B64.encode(r.canonical_bytes()),
                   "proof": proof.iter().map(ToString::to_string).collect::<Vec<_>>()})
        })
        .collect();
    json!({
        "format": "sealgate-audit-user-export-v1", "user": user,
        "root": RootKey::from_point(key.public_key().as_ref()).expect("root").to_jwk(),
        "checkpoints": [{"seq": 9, "hash": cp.hash.to_string(), "time": cp.time, "tree_size": 9,
                         "tree_root": tree.root.to_string(), "sig": B64.encode(sig.as_ref())}],
        "records": entries, "next_after": 9, "more": false,
    })
}

#[test]
fn user_export_verifies_alone_and_names_each_bad_record() {
    let dir = TempDir::new("audit-user");
    let key = key();
    let pin = RootKey::from_point(key.public_key().as_ref()).expect("root").thumbprint();
    let good = user_export("alice", &key);
    let file = dir.path("alice.json");
    std::fs::write(&file, good.to_string()).expect("write");
    let out = ok(run(&["audit", "verify", "--user-export", p(&file), "--pin", &pin], b""));
    assert_eq!(
        out.trim_end(),
        "ok: user alice: 5 records (seq 1 to 9), each proven in a signed tree of 9 records; 1 checkpoints verified"
    );

    // Every bad record is named, each with its own reason.
    let bob = user_export("bob", &key);
    let mut bad = good.clone();
    bad["records"][0] = bob["records"][0].clone();
    bad["records"][2]["proof"][0] = json!("00".repeat(32));
    std::fs::write(&file, bad.to_string()).expect("write");
    refused(
        &run(&["audit", "verify", "--user-export", p(&file), "--pin", &pin], b""),
        "2 of the export's records do not verify: record 1 (seq 2): names another user, not alice; \
         record 3 (seq 5): the inclusion proof does not lead to the signed tree root",
        &[],
    );
    // The pin, a forged checkpoint, and the missing --pin.
    std::fs::write(&file, good.to_string()).expect("write");
    refused(&run(&["audit", "verify", "--user-export", p(&file), "--pin", "AAAA"], b""), "does not match the pin", &[]);
    let mut forged = good.clone();
    forged["checkpoints"][0]["time"] = json!(1);
    std::fs::write(&file, forged.to_string()).expect("write");
    refused(
        &run(&["audit", "verify", "--user-export", p(&file), "--pin", &pin], b""),
        "checkpoint 1 (seq 9): signature does not verify",
        &[],
    );
    let out = run(&["audit", "verify", "--user-export", p(&file)], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--pin"));
}

/// A saved `GET /v1/audit` page, or a user export, given to `--file` says what it is and
/// what to run instead (it used to say `record 1: malformed`).
#[test]
fn file_says_what_a_saved_trail_is() {
    let dir = TempDir::new("audit-page");
    let page = dir.path("trail.json");
    let body = json!({"records": [{"seq": 3, "time_ms": 1, "actor": "user:alice", "action": "signed",
        "subject": "c", "detail": {"owner": "alice"}, "prev_hash": "00", "hash": "11"}], "next_after": 3});
    std::fs::write(&page, serde_json::to_string_pretty(&body).expect("json")).expect("write");
    refused(
        &run(&["audit", "verify", "--file", p(&page)], b""),
        "is a saved GET /v1/audit page (a user's records without proofs), not a chain export: it cannot be \
         checked against the signed checkpoints; save GET /v1/audit/export instead and run \
         `sealgate audit verify --user-export FILE --pin PIN`",
        &[],
    );
    let export = dir.path("export.json");
    std::fs::write(&export, user_export("alice", &key()).to_string()).expect("write");
    refused(
        &run(&["audit", "verify", "--file", p(&export)], b""),
        "verify it with `sealgate audit verify --user-export",
        &[],
    );
}
