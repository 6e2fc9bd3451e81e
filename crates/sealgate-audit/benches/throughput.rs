//! A quick measure, no criterion: appends/s, verifies/s (records in
//! memory), and export + parse + verify/s (JSON Lines), for 100k records.
//! `cargo bench -p sealgate-audit` (or `AUDIT_N=…` for another size).

use std::time::Instant;

use sealgate_audit::jsonl::{Trust, record_line, verify_export};
use sealgate_audit::{Action, Chain, Detail, verify};
use serde_json::json;

fn main() {
    let n: u64 = std::env::var("AUDIT_N").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let detail =
        Detail::new(&json!({"exchange": "binance", "class": "trade", "path": "/api/v3/order"})).expect("detail");
    let mut chain = Chain::new();
    let t = Instant::now();
    let records: Vec<_> = (0..n)
        .map(|i| {
            chain
                .append("service:signer", Action::Forwarded, "cred_0123456789", detail.clone(), 1_767_225_600_000 + i)
                .expect("append")
        })
        .collect();
    let append = t.elapsed();

    let t = Instant::now();
    let summary = verify(records.iter().cloned()).expect("verify");
    let verify_mem = t.elapsed();
    assert_eq!(summary.records, n);

    let mut text = String::new();
    for r in &records {
        text.push_str(&record_line(r));
        text.push('\n');
    }
    let t = Instant::now();
    verify_export(text.as_bytes(), Trust::None).expect("verify export");
    let verify_jsonl = t.elapsed();

    let rate = |d: std::time::Duration| n as f64 / d.as_secs_f64();
    println!("records: {n}, export {:.1} MiB", text.len() as f64 / 1048576.0);
    println!("append:                {:>10.0} records/s ({:?})", rate(append), append);
    println!("verify (in memory):    {:>10.0} records/s ({:?})", rate(verify_mem), verify_mem);
    println!("verify (JSON Lines):   {:>10.0} records/s ({:?})", rate(verify_jsonl), verify_jsonl);
}
