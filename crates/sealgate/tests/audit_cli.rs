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
