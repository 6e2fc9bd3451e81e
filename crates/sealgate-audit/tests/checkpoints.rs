//! Checkpoints with a real ES256 key (aws-lc-rs): verified under the root,
//! refused under another key or when any field changed; a chain rewritten
//! below a checkpoint, or cut short below the last one, is refused.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use sealgate_audit::jsonl::{Trust, checkpoint_line, record_line, root_line, verify_export};
use sealgate_audit::{
    Action, AuditError, Chain, Checkpoint, CheckpointFault, Detail, Reason, Record, RootKey, SignedCheckpoint,
    checkpoint_signing_input, verify, verify_checkpoint, verify_with_checkpoints,
};
use serde_json::json;

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
    /// What `Custody::root_sign` does: ES256, `r || s`.
    fn sign(&self, cp: Checkpoint) -> SignedCheckpoint {
        let sig = self.0.sign(&SystemRandom::new(), &checkpoint_signing_input(&cp)).expect("sign");
        SignedCheckpoint { checkpoint: cp, sig: sig.as_ref().to_vec() }
    }
}

/// 10 records with a checkpoint every 4: at seq 4 and 8.
fn chain(signer: &Signer) -> (Vec<Record>, Vec<SignedCheckpoint>) {
    let mut c = Chain::new();
    let mut records = Vec::new();
    let mut cps = Vec::new();
    for i in 0..10u64 {
        let d = Detail::new(&json!({"n": i})).expect("detail");
        records.push(c.append("service:signer", Action::Forwarded, "cred_1", d, 1_000 + i).expect("append"));
        if c.checkpoint_due(4) {
            cps.push(signer.sign(c.checkpoint(2_000 + i).expect("checkpoint")));
        }
    }
    (records, cps)
}

#[test]
fn verified_under_the_root_only() {
    let signer = Signer::new();
    let (records, cps) = chain(&signer);
    assert_eq!(cps.iter().map(|c| c.checkpoint.seq).collect::<Vec<_>>(), [4, 8]);
    let s = verify_with_checkpoints(records.clone(), cps.clone(), &signer.root()).expect("verifies");
    assert_eq!((s.records, s.checkpoints_verified), (10, 2));

    // The standalone check, with the JWK custody publishes.
    let jwk = signer.root().to_jwk();
    for cp in &cps {
        verify_checkpoint(&cp.checkpoint, &cp.sig, &jwk).expect("checkpoint verifies");
    }

    let other = Signer::new().root();
    assert_eq!(
        verify_with_checkpoints(records.clone(), cps.clone(), &other),
        Err(AuditError::BadCheckpoint { seq: 4, reason: CheckpointFault::BadSignature })
    );
    assert!(verify_checkpoint(&cps[0].checkpoint, &cps[0].sig, &other.to_jwk()).is_err());
}

#[test]
fn any_changed_checkpoint_is_refused() {
    let signer = Signer::new();
    let (records, cps) = chain(&signer);
    let root = signer.root();
    let jwk = root.to_jwk();
    let base = cps[1].clone();
    let changes: [fn(&mut SignedCheckpoint); 5] = [
        |c| c.checkpoint.seq = 9,
        |c| c.checkpoint.hash.0[31] ^= 1,
        |c| c.checkpoint.time += 1,
        |c| c.sig[10] ^= 1,
        |c| c.sig.truncate(63),
    ];
    for change in changes {
        let mut c = base.clone();
        change(&mut c);
        assert!(verify_checkpoint(&c.checkpoint, &c.sig, &jwk).is_err(), "{c:?}");
        let err = verify_with_checkpoints(records.clone(), [cps[0].clone(), c.clone()], &root).expect_err("refused");
        assert!(matches!(err, AuditError::BadCheckpoint { reason: CheckpointFault::BadSignature, .. }), "{err}");
    }
}

#[test]
fn rewritten_chain_no_longer_matches_its_checkpoint() {
    let signer = Signer::new();
    let (mut records, cps) = chain(&signer);
    // Rewrite record 2 and rehash everything after it: the chain alone
    // verifies, but not against the checkpoint at 4.
    records[1].subject = "cred_2".into();
    let mut prev = records[0].hash;
    for r in &mut records[1..] {
        r.prev_hash = prev;
        r.hash = r.compute_hash();
        prev = r.hash;
    }
    assert!(verify(records.clone()).is_ok());
    assert_eq!(
        verify_with_checkpoints(records, cps, &signer.root()),
        Err(AuditError::BadRecord { seq: 4, reason: Reason::CheckpointMismatch })
    );
}

#[test]
fn truncation_below_the_last_checkpoint_is_detected() {
    let signer = Signer::new();
    let (records, cps) = chain(&signer);
    let root = signer.root();
    for keep in 0..8 {
        assert_eq!(
            verify_with_checkpoints(records[..keep].to_vec(), cps.clone(), &root),
            Err(AuditError::Truncated { last_seq: keep as u64, checkpoint_seq: 8 }),
            "keep {keep}"
        );
    }
    // Records after the last checkpoint can go unnoticed (FORMAT.md §4).
    for keep in 8..=10 {
        assert!(verify_with_checkpoints(records[..keep].to_vec(), cps.clone(), &root).is_ok());
    }
    // A forged checkpoint beyond the end is a bad checkpoint, not truncation.
    let mut forged = cps[1].clone();
    forged.checkpoint.seq = 50;
    assert_eq!(
        verify_with_checkpoints(records, [forged], &root),
        Err(AuditError::BadCheckpoint { seq: 50, reason: CheckpointFault::BadSignature })
    );
}

#[test]
fn export_with_checkpoints_root_and_pin() {
    let signer = Signer::new();
    let (records, cps) = chain(&signer);
    let root = signer.root();
    let mut lines = vec![root_line(&root)];
    for r in &records {
        lines.push(record_line(r));
        if let Some(cp) = cps.iter().find(|c| c.checkpoint.seq == r.seq) {
            lines.push(checkpoint_line(cp));
        }
    }
    let text = lines.join("\n");
    let pin = root.thumbprint();
    let s = verify_export(text.as_bytes(), Trust::Pin(&pin)).expect("pinned");
    assert_eq!((s.records, s.checkpoints_verified, s.checkpoints_unverified), (10, 2, 0));
    assert_eq!(verify_export(text.as_bytes(), Trust::Root(root)).expect("root").checkpoints_verified, 2);
    let s = verify_export(text.as_bytes(), Trust::None).expect("no root");
    assert_eq!((s.checkpoints_verified, s.checkpoints_unverified), (0, 2));
    assert!(matches!(verify_export(text.as_bytes(), Trust::Pin("x")), Err(AuditError::RootKey(_))));
    assert!(matches!(
        verify_export(text.as_bytes(), Trust::Root(Signer::new().root())),
        Err(AuditError::BadCheckpoint { seq: 4, .. })
    ));

    // Lines: root, records 1-4, checkpoint 4, records 5-8, checkpoint 8,
    // records 9-10. Keep records up to 6 and both checkpoints: truncated.
    assert!(lines[10].contains(r#""type":"checkpoint","seq":8"#));
    let cut: Vec<&str> = lines[..8].iter().chain([&lines[10]]).map(String::as_str).collect();
    assert_eq!(
        verify_export(cut.join("\n").as_bytes(), Trust::Pin(&pin)),
        Err(AuditError::Truncated { last_seq: 6, checkpoint_seq: 8 })
    );

    // A malformed checkpoint line is a format error with its line number.
    let mut bad = lines.clone();
    bad[5] = bad[5].replace(r#""type":"checkpoint","seq":4"#, r#""type":"checkpoint","seq":0"#);
    assert_eq!(
        verify_export(bad.join("\n").as_bytes(), Trust::Pin(&pin)),
        Err(AuditError::Format { line: 6, what: "seq is 0 (records start at 1)" })
    );
}

#[test]
fn root_jwk_rules() {
    let signer = Signer::new();
    let jwk = signer.root().to_jwk();
    assert_eq!(RootKey::from_jwk(&jwk).expect("ok"), signer.root());
    let with = |k: &str, v: serde_json::Value| {
        let mut j = jwk.clone();
        j.as_object_mut().expect("object").insert(k.into(), v);
        RootKey::from_jwk(&j)
    };
    assert!(with("kid", json!("root-1")).is_ok());
    assert!(with("d", json!("AAAA")).is_err());
    assert!(with("crv", json!("P-384")).is_err());
    assert!(with("alg", json!("ES384")).is_err());
    assert!(with("x", json!("AAAA")).is_err());
    assert!(with("extra", json!(1)).is_err());
    assert!(RootKey::from_point(&[4; 33]).is_err());
    // Not on the curve: accepted as bytes, but nothing verifies under it.
    let off = RootKey::from_point(&[4; 65]).expect("bytes");
    let (_, cps) = chain(&signer);
    assert!(off.verify(&cps[0].checkpoint, &cps[0].sig).is_err());
}

#[test]
fn a_resumed_verifier_checks_what_follows_as_a_whole_one_would() {
    use sealgate_audit::Verifier;
    let signer = Signer::new();
    let (records, cps) = chain(&signer);
    let later = |after: u64| cps.iter().filter(|c| c.checkpoint.seq > after).cloned().collect::<Vec<_>>();
    // Resumed after record 5: the checkpoint at 8 is checked, the chain ends at 10.
    let mut v = Verifier::resume(5, records[4].hash, Some(signer.root()), later(5)).expect("resume");
    for r in &records[5..] {
        v.push(r).expect("push");
    }
    let s = v.finish().expect("verifies");
    assert_eq!((s.last_seq, s.last_hash, s.checkpoints_verified), (10, records[9].hash, 1));

    // A record that does not link to the resumed hash is a broken link at its position.
    let mut v = Verifier::resume(5, records[3].hash, Some(signer.root()), later(5)).expect("resume");
    assert!(matches!(v.push(&records[5]), Err(AuditError::BadRecord { seq: 6, reason: Reason::BrokenLink })));
    // Cut below the checkpoint at 8: truncated, as for a whole verification.
    let mut v = Verifier::resume(5, records[4].hash, Some(signer.root()), later(5)).expect("resume");
    v.push(&records[5]).expect("push");
    assert!(matches!(v.finish(), Err(AuditError::Truncated { last_seq: 6, checkpoint_seq: 8 })));
    // A checkpoint the resumed verifier cannot see, or one without a root, is misuse.
    assert!(matches!(
        Verifier::resume(5, records[4].hash, Some(signer.root()), cps.clone()),
        Err(AuditError::Invalid { .. })
    ));
    assert!(matches!(Verifier::resume(5, records[4].hash, None, later(5)), Err(AuditError::Invalid { .. })));
}

/// v2 (FORMAT.md §6): the checkpoint also signs the Merkle tree head over records
/// `1..=seq`. It verifies beside v1 checkpoints, through the export too; a tree root
/// that is not the chain's, a tree size that is not the seq, or a v2 signature
/// replayed as v1 (or the reverse) is refused.
#[test]
fn v2_checkpoints_sign_the_tree_head_and_v1_still_verify() {
    use sealgate_audit::TreeHead;
    use sealgate_audit::merkle::{leaf_hash, root};
    let signer = Signer::new();
    let (records, v1) = chain(&signer);
    let leaves: Vec<_> = records.iter().map(|r| leaf_hash(&r.hash.0)).collect();
    let head = |seq: u64| TreeHead { size: seq, root: root(&leaves[..seq as usize]) };
    let at = |seq: u64, tree| Checkpoint { seq, hash: records[seq as usize - 1].hash, time: 9_000 + seq, tree };
    let v2 = signer.sign(at(10, Some(head(10))));
    let mut all = v1.clone();
    all.push(v2.clone());
    let s = verify_with_checkpoints(records.clone(), all.clone(), &signer.root()).expect("v1 and v2 verify");
    assert_eq!(s.checkpoints_verified, 3);

    // The export line carries the head, parses back, and the export verifies.
    let line = checkpoint_line(&v2);
    assert!(line.contains(r#","tree_size":10,"tree_root":""#), "{line}");
    let mut text = vec![root_line(&signer.root())];
    text.extend(records.iter().map(record_line));
    text.extend(all.iter().map(checkpoint_line));
    let s = verify_export(text.join("\n").as_bytes(), Trust::Root(signer.root())).expect("export verifies");
    assert_eq!(s.checkpoints_verified, 3);

    // A validly signed head whose root is not the chain's tree: refused at its seq.
    let wrong = signer.sign(at(6, Some(TreeHead { size: 6, root: root(&leaves[..5]) })));
    let err = verify_with_checkpoints(records.clone(), [wrong], &signer.root()).expect_err("wrong root");
    assert_eq!(err, AuditError::BadRecord { seq: 6, reason: Reason::TreeMismatch });

    // Tree size not the seq (C3): refused even though the signature is good.
    let bad_size = signer.sign(at(6, Some(TreeHead { size: 5, root: root(&leaves[..5]) })));
    let err = verify_with_checkpoints(records.clone(), [bad_size], &signer.root()).expect_err("size");
    assert!(matches!(err, AuditError::BadCheckpoint { seq: 6, .. }), "{err}");

    // The v2 signature does not verify a v1 reading of the same checkpoint, nor v1's a v2.
    let stripped = SignedCheckpoint { checkpoint: at(10, None), sig: v2.sig.clone() };
    assert!(verify_with_checkpoints(records.clone(), [stripped], &signer.root()).is_err());
    let v1_8 = v1[1].clone();
    let dressed = SignedCheckpoint { checkpoint: Checkpoint { tree: Some(head(8)), ..v1_8.checkpoint }, sig: v1_8.sig };
    assert!(verify_with_checkpoints(records, [dressed], &signer.root()).is_err());
}
