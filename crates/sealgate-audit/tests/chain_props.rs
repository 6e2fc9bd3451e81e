//! Properties: any chain built by `Chain` verifies (as records and as its
//! JSON Lines export); any single-byte change of a record line, and any
//! deletion, reordering or duplication of records, is detected, and the
//! error names the first affected position.

use proptest::prelude::*;
use sealgate_audit::jsonl::{Trust, record_line, verify_export};
use sealgate_audit::{Action, AuditError, Chain, Detail, Reason, Record, verify};
use serde_json::{Map, Value};

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        Just(Action::CredentialCreated),
        Just(Action::Unsealed),
        Just(Action::Signed),
        Just(Action::Forwarded),
        Just(Action::Denied),
        Just(Action::Revoked),
        Just(Action::Lockdown),
        Just(Action::KeyRotated),
        "[a-z][a-z0-9_]{0,12}".prop_map(|s| s.parse().expect("well-formed name")),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
        Just(Value::Null),
        "[a-z\"\\\\\u{1}\u{7f}\n\té€😀/]{0,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map("[a-z\"é]{0,3}", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn detail() -> impl Strategy<Value = Detail> {
    prop::collection::btree_map("[a-z_\"\\\\é]{0,6}", json_value(), 0..4)
        .prop_map(|m| Detail::new(&Value::Object(m.into_iter().collect())).expect("detail in bounds"))
}

fn spec() -> impl Strategy<Value = (String, Action, String, Detail, u64)> {
    (
        prop_oneof![Just("user:u1".to_owned()), Just("service:signer".to_owned()), "user:[a-z0-9@. é]{1,12}"],
        action(),
        "[ -~é]{0,16}",
        detail(),
        any::<u64>(),
    )
}

fn chain() -> impl Strategy<Value = Vec<Record>> {
    prop::collection::vec(spec(), 1..10).prop_map(|specs| {
        let mut c = Chain::new();
        specs.into_iter().map(|(a, act, s, d, t)| c.append(&a, act, &s, d, t).expect("append")).collect()
    })
}

/// The first position (as a seq) where `mutated` differs from `original`.
fn first_affected(original: &[Record], mutated: &[Record]) -> Option<u64> {
    (0..mutated.len()).find(|&i| original.get(i) != Some(&mutated[i])).map(|i| i as u64 + 1)
}

fn export(records: &[Record]) -> Vec<String> {
    records.iter().map(record_line).collect()
}

fn assert_names(result: Result<sealgate_audit::Summary, AuditError>, seq: u64) -> Result<(), TestCaseError> {
    match result {
        Err(AuditError::BadRecord { seq: got, reason }) => {
            prop_assert_eq!(got, seq, "reason: {}", reason);
            Ok(())
        }
        other => Err(TestCaseError::fail(format!("expected record {seq} refused, got {other:?}"))),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_chain_verifies(records in chain()) {
        let n = records.len() as u64;
        let s = verify(records.clone()).expect("verifies");
        prop_assert_eq!((s.records, s.last_seq, s.last_hash), (n, n, records[records.len() - 1].hash));
        let text = export(&records).join("\n") + "\n";
        prop_assert_eq!(verify_export(text.as_bytes(), Trust::None).expect("export verifies"), s);
    }

    #[test]
    fn any_byte_change_in_a_record_line_is_named(
        records in chain(), line in any::<prop::sample::Index>(), at in any::<prop::sample::Index>(), byte in any::<u8>()
    ) {
        let mut lines: Vec<Vec<u8>> = export(&records).into_iter().map(String::into_bytes).collect();
        let k = line.index(lines.len());
        let i = at.index(lines[k].len());
        prop_assume!(lines[k][i] != byte);
        lines[k][i] = byte;
        let text = lines.join(&b'\n');
        assert_names(verify_export(&text, Trust::None), k as u64 + 1)?;
    }

    #[test]
    fn any_field_change_is_named(records in chain(), at in any::<prop::sample::Index>(), field in 0..8u8, x in any::<u64>()) {
        let mut m = records.clone();
        let k = at.index(m.len());
        let r = &mut m[k];
        match field {
            0 => r.seq ^= x | 1,
            1 => r.time ^= x | 1,
            2 => r.actor.push('x'),
            3 => r.action = if r.action == Action::Signed { Action::Denied } else { Action::Signed },
            4 => r.subject.push('x'),
            5 => r.detail = Detail::new(&serde_json::json!({"changed": x})).expect("detail"),
            6 => r.prev_hash.0[(x % 32) as usize] ^= 1,
            _ => r.hash.0[(x % 32) as usize] ^= 1,
        }
        prop_assume!(m[k] != records[k]);
        assert_names(verify(m), k as u64 + 1)?;
    }

    #[test]
    fn deletion_is_named_unless_at_the_end(records in chain(), at in any::<prop::sample::Index>()) {
        let mut m = records.clone();
        let k = at.index(m.len());
        m.remove(k);
        if k == records.len() - 1 {
            // Undetectable without a checkpoint (see tests/checkpoints.rs).
            prop_assert_eq!(verify(m).expect("a shorter prefix verifies").records, k as u64);
        } else {
            assert_names(verify(m), k as u64 + 1)?;
        }
    }

    #[test]
    fn reordering_is_named(records in chain(), a in any::<prop::sample::Index>(), b in any::<prop::sample::Index>()) {
        prop_assume!(records.len() > 1);
        let (i, j) = (a.index(records.len()), b.index(records.len()));
        prop_assume!(i != j);
        let mut m = records.clone();
        m.swap(i, j);
        assert_names(verify(m), i.min(j) as u64 + 1)?;
    }

    #[test]
    fn duplication_is_named(records in chain(), from in any::<prop::sample::Index>(), to in any::<prop::sample::Index>()) {
        let k = from.index(records.len());
        let p = to.index(records.len() + 1);
        let mut m = records.clone();
        m.insert(p, records[k].clone());
        let first = first_affected(&records, &m).expect("a duplicate changes some position");
        let err = verify(m.clone());
        assert_names(err.clone(), first)?;
        if let Err(AuditError::BadRecord { reason, .. }) = err {
            prop_assert!(matches!(reason, Reason::SeqDuplicate { .. } | Reason::SeqGap { .. }), "{}", reason);
        }
    }
}

#[test]
fn reasons_are_the_documented_ones() {
    let mut c = Chain::new();
    let recs: Vec<Record> =
        (0..4).map(|i| c.append("user:u1", Action::Signed, "cred_1", Detail::empty(), i).expect("append")).collect();
    let reason = |m: Vec<Record>| match verify(m) {
        Err(AuditError::BadRecord { seq, reason }) => (seq, reason),
        other => panic!("{other:?}"),
    };
    let mut m = recs.clone();
    m[1].time += 1;
    assert_eq!(reason(m), (2, Reason::HashMismatch));
    let mut m = recs.clone();
    m[1].prev_hash.0[0] ^= 1;
    m[1].hash = m[1].compute_hash();
    assert_eq!(reason(m), (2, Reason::BrokenLink));
    let mut m = recs.clone();
    m.remove(1);
    assert_eq!(reason(m), (2, Reason::SeqGap { found: 3 }));
    let mut m = recs.clone();
    m.insert(2, recs[1].clone());
    assert_eq!(reason(m), (3, Reason::SeqDuplicate { found: 2 }));
    let mut m = recs.clone();
    m[2].actor = "user:\u{1b}[2J".into();
    assert!(matches!(reason(m), (3, Reason::Malformed(_))));
    // A record rewritten and rehashed breaks the next link.
    let mut m = recs;
    m[1].subject = "cred_2".into();
    m[1].hash = m[1].compute_hash();
    assert_eq!(reason(m), (3, Reason::BrokenLink));
}
