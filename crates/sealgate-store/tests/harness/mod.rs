//! Runs each test on both databases: SQLite in a temporary file and PostgreSQL in a fresh
//! database with a random name, dropped at the end (also when the test panics).
//!
//! PostgreSQL: `SEALGATE_TEST_POSTGRES_ADMIN` (default `postgres://postgres@127.0.0.1:5432/postgres`,
//! trust auth). If it cannot be reached, the harness tries `pg_ctlcluster … main start` once
//! and waits; if it is still unreachable the test FAILS, unless `SEALGATE_SKIP_POSTGRES=1`,
//! which skips PostgreSQL with a loud notice.

#![allow(dead_code)]

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sqlx::Connection;
use tokio::sync::Mutex;

/// One database a test body runs against.
#[derive(Debug, Clone)]
pub struct TestDb {
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    /// URL for `Store::connect`.
    pub url: String,
    /// For SQLite, the database file (the test may read its bytes).
    pub sqlite_path: Option<std::path::PathBuf>,
}

pub fn admin_url() -> String {
    std::env::var("SEALGATE_TEST_POSTGRES_ADMIN")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

static START_ATTEMPT: Mutex<bool> = Mutex::const_new(false);

/// Connects as admin, starting the local cluster once if needed.
pub async fn admin() -> Result<sqlx::PgConnection, String> {
    let url = admin_url();
    if let Ok(c) = sqlx::PgConnection::connect(&url).await {
        return Ok(c);
    }
    {
        let mut tried = START_ATTEMPT.lock().await;
        if !*tried {
            *tried = true;
            let versions: Vec<String> = std::fs::read_dir("/etc/postgresql")
                .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
                .unwrap_or_default();
            for v in &versions {
                eprintln!("store tests: PostgreSQL unreachable; starting cluster {v}/main");
                let status = std::process::Command::new("pg_ctlcluster")
                    .args(["--skip-systemctl-redirect", v, "main", "start"])
                    .status();
                eprintln!("store tests: pg_ctlcluster {v} main start -> {status:?}");
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match sqlx::PgConnection::connect(&url).await {
            Ok(c) => return Ok(c),
            Err(e) if Instant::now() > deadline => {
                return Err(format!("cannot reach PostgreSQL at {url} even after pg_ctlcluster start: {e}"));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    // RandomState is seeded randomly per process: mixes in entropy without a rand crate.
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(nanos);
    h.write_u64(n);
    format!("{}_{}_{:016x}", std::process::id(), n, h.finish())
}

/// Runs `body` on SQLite, then on PostgreSQL; each in its own fresh database.
pub async fn on_both<F, Fut>(test: &str, body: F)
where
    F: Fn(TestDb) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    // SQLite: a temp dir holding the file (and its -wal/-shm), removed on drop.
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("store.db");
    let db =
        TestDb { backend: "sqlite", url: format!("sqlite://{}?mode=rwc", path.display()), sqlite_path: Some(path) };
    let started = Instant::now();
    let outcome = tokio::spawn(body(db)).await;
    drop(dir);
    finish(test, "sqlite", started, outcome);

    // PostgreSQL: CREATE DATABASE with a random name, DROP … WITH (FORCE) afterwards.
    let mut admin = match admin().await {
        Ok(c) => c,
        Err(e) => {
            sealgate_testkit::skip_or_fail(
                "SEALGATE_SKIP_POSTGRES",
                &format!("{test} on PostgreSQL (it passed on SQLite)"),
                &format!("PostgreSQL is unreachable: {e}"),
                "start PostgreSQL, or point SEALGATE_TEST_POSTGRES_ADMIN at one (postgres://USER@HOST:PORT/DB)",
            );
            return;
        }
    };
    let name = format!("sealgate_store_test_{}", unique_suffix());
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.expect("create test database");
    let base = admin_url();
    let url = match base.rfind('/') {
        Some(i) if base[..i].contains("@") || base[..i].contains("://") => format!("{}/{name}", &base[..i]),
        _ => panic!("admin URL must end in /DATABASE"),
    };
    let db = TestDb { backend: "postgres", url, sqlite_path: None };
    let started = Instant::now();
    let outcome = tokio::spawn(body(db)).await;
    let dropped = sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)")).execute(&mut admin).await;
    let _ = admin.close().await;
    finish(test, "postgres", started, outcome);
    dropped.expect("drop test database");
}

fn finish(test: &str, backend: &str, started: Instant, outcome: Result<(), tokio::task::JoinError>) {
    match outcome {
        Ok(()) => eprintln!("{test} [{backend}]: ok in {:.2?}", started.elapsed()),
        Err(e) if e.is_panic() => {
            eprintln!("{test} [{backend}]: FAILED");
            std::panic::resume_unwind(e.into_panic())
        }
        Err(e) => panic!("{test} [{backend}]: task {e}"),
    }
}
