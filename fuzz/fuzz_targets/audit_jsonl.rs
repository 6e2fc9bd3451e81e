//! Arbitrary bytes into the audit JSON Lines import (FORMAT.md §4): each
//! line through `parse_line`, the whole text through `verify_export` under
//! every kind of trust. Any panic is a bug; and what parses must be the one
//! spelling the exporter writes for it (J3), and what verifies must agree
//! with the streaming verifier over the same records.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealgate_audit::jsonl::{Line, Trust, checkpoint_line, parse_line, record_line, root_line, verify_export};
use sealgate_audit::{Record, verify};

/// The root key of FORMAT.md §5 (the seeds' checkpoints are signed by it).
const PIN: &str = "lGUNNAAek85nl_YnNDzG4HVzI2_4RzboFqaz3wAVR6I";

fuzz_target!(|data: &[u8]| {
    let mut records: Vec<Record> = Vec::new();
    let mut all_records_parse = true;
    let body = data.strip_suffix(b"\n").unwrap_or(data);
    // An empty export has no lines (not one empty line).
    let lines = if body.is_empty() { None } else { Some(body.split(|b| *b == b'\n')) };
    for line in lines.into_iter().flatten() {
        match parse_line(line) {
            Ok(Line::Record(r)) => {
                assert_eq!(record_line(&r).as_bytes(), line, "a record has one spelling");
                let _ = (r.canonical_bytes(), r.compute_hash());
                records.push(r);
            }
            Ok(Line::Checkpoint(cp)) => {
                assert_eq!(checkpoint_line(&cp).as_bytes(), line, "a checkpoint has one spelling")
            }
            Ok(Line::Root(k)) => {
                let _ = (k.thumbprint(), k.to_jwk());
                assert_eq!(parse_line(root_line(&k).as_bytes()), Ok(Line::Root(k)), "a root line round-trips");
            }
            Err(sealgate_audit::jsonl::LineError::Record(_)) => all_records_parse = false,
            Err(_) => {}
        }
    }
    let unchecked = verify_export(data, Trust::None);
    if let Ok(summary) = &unchecked {
        // The export verifier and the record verifier agree.
        assert!(all_records_parse);
        let direct = verify(records.clone()).expect("records that verified in the export verify alone");
        assert_eq!((direct.records, direct.last_hash), (summary.records, summary.last_hash));
    }
    if let Ok(pinned) = verify_export(data, Trust::Pin(PIN)) {
        // Checkpoints only add checks.
        let unchecked = unchecked.expect("a chain that verifies under the pin verifies without it");
        assert_eq!((pinned.records, pinned.last_hash), (unchecked.records, unchecked.last_hash));
    }
});
