//! Re-wrap benchmark (issue 16 item 8): N envelopes sealed to trader v1, rotate, re-wrap
//! them all to v2 through [`sealgate_server::rewrap::rewrap`] — the code `sealgate keys
//! rewrap` runs — with the local keyring custody, on SQLite (a temp file) and PostgreSQL
//! (a fresh database), side by side. Prints envelopes per second and the per-envelope split:
//! open (custody + content decryption) and seal, µs of one worker, and store (claim, audit
//! record, replace), µs of wall time; then checks nothing is left on v1.
//!
//! `cargo bench -p sealgate-server --bench rewrap` measures; under `cargo test
//! --all-targets` (no `--bench` argument) it runs a 200-envelope smoke pass.
//!
//! Environment: `SEALGATE_BENCH_REWRAP_N` (default 100000), `SEALGATE_BENCH_WORKERS`
//! (default 2), `SEALGATE_BENCH_ONLY` (comma list of `sqlite`, `postgres`; default both),
//! `SEALGATE_TEST_POSTGRES_ADMIN` (default `postgres://postgres@127.0.0.1:5432/postgres`);
//! `SEALGATE_BENCH_CUSTODY` (comma list of `name=custody.toml`, e.g. a fresh SoftHSM2
//! token's `pkcs11=…`: re-wrapped on SQLite beside the local rows, with
//! `SEALGATE_BENCH_REWRAP_N_CUSTODY` envelopes, default 5000; its `trader` role is rotated).

use std::sync::Arc;
use std::time::{Duration, Instant};

use sealgate_custody::Custody;
use sealgate_custody::local::{LocalCustody, MasterKey};
use sealgate_envelope::{Scope, SealRequest, seal_credential};
use sealgate_server::audit::{AuditLog, CheckpointPolicy};
use sealgate_server::rewrap::{RewrapOptions, RewrapSummary, rewrap};
use sealgate_store::{NewCredential, NewEnvelope, Store};
use sqlx::Connection as _;

fn admin_url() -> String {
    std::env::var("SEALGATE_TEST_POSTGRES_ADMIN")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// N credentials of 500 users, each with a trader envelope sealed to v1.
async fn populate(store: &Store, custody: &dyn Custody, n: usize) -> String {
    let k = custody.rotate("trader", custody.default_role_key_type()).await.expect("rotate");
    for u in 0..n.min(500) {
        store.create_user(&format!("u{u:04}"), None).await.expect("user");
    }
    let started = Instant::now();
    let chunks = 8;
    let mut tasks = Vec::new();
    for t in 0..chunks {
        let (store, key, kid) = (store.clone(), k.public.clone(), k.kid.clone());
        tasks.push(tokio::spawn(async move {
            for i in (t..n).step_by(chunks) {
                let (owner, cid) = (format!("u{:04}", i % 500), format!("c{i:07}"));
                let cred = format!(r#"{{"api_key":"KEY-{i:08}","api_secret":"bench-secret-{i}"}}"#);
                let req = SealRequest {
                    sub: owner.clone(),
                    cid: cid.clone(),
                    exch: "binance".into(),
                    aud: "trader".into(),
                    scope: Scope::parse_list("read,trade").expect("scope"),
                    iat: 1_700_000_000,
                    own: None,
                };
                let (jwe, _) = seal_credential(cred.as_bytes(), &key, &req).expect("seal");
                let new = NewCredential {
                    id: &cid,
                    owner: &owner,
                    exchange: "binance",
                    label: "b",
                    hint: "0000",
                    scope: "read",
                };
                store
                    .create_credential(&new, &[NewEnvelope { role: "trader", kid: &kid, jwe: &jwe }])
                    .await
                    .expect("credential");
            }
        }));
    }
    for t in tasks {
        t.await.expect("populate task");
    }
    eprintln!("  populated {n} envelopes in {:.1} s", started.elapsed().as_secs_f64());
    k.kid
}

async fn run_one(name: &str, url: &str, n: usize, workers: usize, config: Option<&str>) -> RewrapSummary {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o700)).expect("chmod");
    let custody: Arc<dyn Custody> = match config {
        Some(path) => {
            let config = sealgate_custody::config::CustodyConfig::load(std::path::Path::new(path)).expect("config");
            Arc::from(config.init().await.expect("custody"))
        }
        None => {
            let master = MasterKey::generate_key_file(&dir.path().join("master.key")).expect("master key");
            Arc::new(LocalCustody::init(&dir.path().join("keyring"), master).expect("keyring"))
        }
    };
    let url = url.replace("{dir}", dir.path().to_str().expect("utf8"));
    let store = Store::connect(&url).await.expect("store");
    eprintln!("{name}:");
    let old = populate(&store, custody.as_ref(), n).await;
    custody.rotate("trader", custody.default_role_key_type()).await.expect("rotate");
    let audit = AuditLog::start(
        store.clone(),
        Some(CheckpointPolicy { custody: custody.clone(), every_records: 1000, every: Duration::from_secs(1) }),
    );
    let opts = RewrapOptions { role: "trader".into(), from: old, batch: 48, workers, actor: "operator:bench".into() };
    let s = rewrap(&store, custody, &audit, &opts, |_| {}).await.expect("rewrap");
    assert_eq!((s.rewrapped, s.left), (n as u64, 0), "{s:?}");
    drop(audit);
    store.close().await;
    s
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let n: usize = if bench {
        std::env::var("SEALGATE_BENCH_REWRAP_N").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000)
    } else {
        200
    };
    let workers: usize = std::env::var("SEALGATE_BENCH_WORKERS").ok().and_then(|v| v.parse().ok()).unwrap_or(2);
    let only = std::env::var("SEALGATE_BENCH_ONLY").unwrap_or_else(|_| "sqlite,postgres".into());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build().expect("rt");
    let mut rows = Vec::new();
    rt.block_on(async {
        if only.contains("sqlite") {
            let s = run_one("local, SQLite", "sqlite://{dir}/bench.db?mode=rwc", n, workers, None).await;
            rows.push(("local, SQLite".to_owned(), n, s));
        }
        if only.contains("postgres") {
            match sqlx::PgConnection::connect(&admin_url()).await {
                Ok(mut c) => {
                    let name = format!("sealgate_bench_rewrap_{}", std::process::id());
                    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut c).await.expect("create db");
                    let admin = admin_url();
                    let cut = admin.rfind('/').expect("admin URL ends in /DB");
                    let url = format!("{}/{name}", &admin[..cut]);
                    let s = run_one("local, PostgreSQL", &url, n, workers, None).await;
                    rows.push(("local, PostgreSQL".to_owned(), n, s));
                    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut c)
                        .await
                        .expect("drop db");
                }
                Err(e) => eprintln!("PostgreSQL unreachable ({e}): its row is left out"),
            }
        }
        // Other custody backends (a fresh SoftHSM2 token, an OpenBao dev server), on SQLite.
        let remote_n = if bench {
            std::env::var("SEALGATE_BENCH_REWRAP_N_CUSTODY").ok().and_then(|v| v.parse().ok()).unwrap_or(5_000)
        } else {
            50
        };
        for spec in std::env::var("SEALGATE_BENCH_CUSTODY").unwrap_or_default().split(',').filter(|s| !s.is_empty()) {
            let (backend, path) = spec.split_once('=').expect("SEALGATE_BENCH_CUSTODY: name=custody.toml,…");
            let name = format!("{backend}, SQLite");
            let s = run_one(&name, "sqlite://{dir}/bench.db?mode=rwc", remote_n, workers, Some(path)).await;
            rows.push((name, remote_n, s));
        }
    });
    println!("re-wrap, {workers} workers, batches of 48 (one audit record each)");
    println!(
        "{:<20} {:>9} {:>10} {:>10} {:>12} {:>12} {:>12} {:>16}",
        "custody, store", "envelopes", "seconds", "env/s", "open µs", "seal µs", "store µs", "1M extrapolated"
    );
    for (name, n, s) in rows {
        let secs = s.elapsed_ms as f64 / 1000.0;
        println!(
            "{name:<20} {n:>9} {secs:>10.2} {:>10.0} {:>12.1} {:>12.1} {:>12.1} {:>14.0} s",
            s.rate_per_sec,
            s.open_us,
            s.seal_us,
            s.store_us,
            1_000_000.0 / s.rate_per_sec.max(1e-9)
        );
    }
}
