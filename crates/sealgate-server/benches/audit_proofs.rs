//! The cost of a user's export (`GET /v1/audit/export`) on a long chain, SQLite file:
//! building the stored Merkle tree (`audit_tree`) from the chain once, extending it by
//! one checkpoint's worth of records, and the proofs of one page (1000 records of one
//! user spread over the chain), against recomputing the tree from every record hash per
//! request (what an export would cost without the stored nodes).
//! A plain main: `cargo bench -p sealgate-server --bench audit_proofs` (1e5 and 1e6
//! records); `cargo test --all-targets` runs a small smoke size.

use std::time::Instant;

use sealgate_audit::merkle::{self, Frontier, leaf_hash};
use sealgate_audit::{Action, Chain, Detail, Hash};
use sealgate_server::audit::{inclusion_proofs, tree_root};
use sealgate_store::{NewAuditRecord, Store};

/// One record in this many is the bench user's.
const USER_EVERY: u64 = 97;

/// The next record: one in [`USER_EVERY`] is Alice's, the rest Bob's.
fn next(chain: &mut Chain) -> NewAuditRecord {
    let seq = chain.last_seq() + 1;
    let owner = if seq.is_multiple_of(USER_EVERY) { "alice" } else { "bob" };
    let d = Detail::new(&serde_json::json!({"owner": owner, "n": seq})).expect("detail");
    let r =
        chain.append(&format!("user:{owner}"), Action::Signed, "cred-1", d, 1_767_225_600_000 + seq).expect("append");
    NewAuditRecord {
        prev_hash: r.prev_hash.to_string(),
        hash: r.hash.to_string(),
        time_ms: i64::try_from(r.time).expect("time"),
        actor: r.actor,
        action: r.action.as_str().to_owned(),
        subject: r.subject,
        owner: Some(owner.to_owned()),
        detail: r.detail.canonical().to_owned(),
    }
}

async fn fill(store: &Store, n: u64) {
    let mut chain = Chain::new();
    let mut tail = None;
    let mut left = n;
    while left > 0 {
        let batch = left.min(2048);
        left -= batch;
        let records: Vec<NewAuditRecord> = (0..batch).map(|_| next(&mut chain)).collect();
        tail = Some(store.append_audit(tail.as_ref(), &records).await.expect("append"));
    }
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

fn main() {
    let sizes: &[u64] = if std::env::args().any(|a| a == "--bench") { &[100_000, 1_000_000] } else { &[5_000] };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(async {
        for &n in sizes {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}?mode=rwc", dir.path().join("bench.db").display());
            let store = Store::connect(&url).await.expect("store");
            let t = Instant::now();
            fill(&store, n - 1000).await;
            println!("{n} records: chain written in {:.0} ms", ms(t));

            let t = Instant::now();
            let r1 = tree_root(&store, n - 1000).await.expect("tree");
            println!("  tree built from the whole chain once: {:.0} ms", ms(t));
            fill_more(&store, n).await;
            let t = Instant::now();
            let root = tree_root(&store, n).await.expect("tree");
            println!("  tree extended by 1000 records (one checkpoint): {:.1} ms", ms(t));
            assert_ne!(r1, root);

            // One page of the user's export: 1000 of their records.
            let t = Instant::now();
            let rows = store.audit_for_owner("alice", 0, 1000).await.expect("rows");
            let read = ms(t);
            let idx: Vec<u64> = rows.iter().map(|r| u64::try_from(r.seq - 1).expect("seq")).collect();
            let t = Instant::now();
            let proofs = inclusion_proofs(&store, n, &idx).await.expect("proofs");
            let proving = ms(t);
            let hashes: Vec<Hash> = rows.iter().map(|r| Hash::from_hex(&r.hash).expect("hash")).collect();
            for ((i, p), h) in idx.iter().zip(&proofs).zip(&hashes) {
                merkle::verify_inclusion(*i, n, &leaf_hash(&h.0), p, &root).expect("proof verifies");
            }
            println!(
                "  export page of {} records: rows read in {read:.1} ms, proofs from stored nodes in {proving:.1} ms",
                rows.len()
            );

            // Without stored nodes: every request would rebuild the tree from all hashes.
            let t = Instant::now();
            let mut f = Frontier::new();
            let mut after = 0;
            loop {
                let page = store.audit_hashes(after, 10_000).await.expect("hashes");
                let Some(last) = page.last() else { break };
                after = last.seq;
                for row in &page {
                    f.push(leaf_hash(&Hash::from_hex(&row.hash).expect("hash").0)).expect("room");
                }
            }
            assert_eq!(f.root(), root);
            println!("  (for comparison: one pass over all {n} record hashes: {:.0} ms per request)", ms(t));
            store.close().await;
        }
    });
}

async fn fill_more(store: &Store, n: u64) {
    // The last 1000 records, after the tree was built: a checkpoint's worth.
    let tail = store.audit_tail().await.expect("tail").expect("non-empty");
    let mut chain = Chain::resume(u64::try_from(tail.seq).expect("seq"), Hash::from_hex(&tail.hash).expect("hash"));
    let records: Vec<NewAuditRecord> = (chain.last_seq()..n).map(|_| next(&mut chain)).collect();
    store.append_audit(Some(&tail), &records).await.expect("append");
}
