//! Incident freeze plus notifications queued, for N credentials (`SEALGATE_BENCH_N`,
//! default 1,000,000 with `--bench`, 2,000 otherwise), on SQLite and on PostgreSQL (when
//! reachable). Worst case for the queue: every credential has its own user, each with a
//! confirmed address. Seeding is set-based SQL and not timed; timed is `sealgate incident`'s
//! run (`--no-rotate`): freeze, notify and report, as each step's start and end record them.
//! A plain main: `SEALGATE_BENCH_N=1000000 cargo bench -p sealgate-server --bench incident`.

use std::time::Instant;

use sealgate_server::audit::AuditLog;
use sealgate_server::incident::{OpenRequest, RunOptions};
use sealgate_store::Store;
use sqlx::Connection as _;

async fn seed(url: &str, n: u64) {
    let now = 1_700_000_000_000i64;
    let series = |sqlite: bool, select: &str| {
        if sqlite {
            format!(
                "WITH RECURSIVE seq(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM seq WHERE x < {}) {select} FROM seq",
                n - 1
            )
        } else {
            format!("{select} FROM generate_series(0, {}) AS seq(x)", n - 1)
        }
    };
    let statements = |sqlite: bool| {
        let cat = |a: &str| if sqlite { format!("'{a}' || x") } else { format!("'{a}' || x::text") };
        vec![
            format!("INSERT INTO users (id, created_ms) {}", series(sqlite, &format!("SELECT {}, {now}", cat("u")))),
            format!(
                "INSERT INTO credentials (id, owner, exchange, label, hint, scope, status, created_ms) {}",
                series(
                    sqlite,
                    &format!("SELECT 'c1', {}, 'binance', 'main', 'WXYZ', 'read,trade', 'active', {now}", cat("u"))
                )
            ),
            format!(
                "INSERT INTO notify_contacts (user_id, email, email_source, updated_ms) {}",
                series(sqlite, &format!("SELECT {}, {} || '@example.test', 'confirmed', {now}", cat("u"), cat("u")))
            ),
        ]
    };
    if url.starts_with("sqlite") {
        let mut c = sqlx::SqliteConnection::connect(url).await.expect("connect");
        for s in statements(true) {
            sqlx::query(&s).execute(&mut c).await.expect("seed");
        }
    } else {
        let mut c = sqlx::PgConnection::connect(url).await.expect("connect");
        for s in statements(false) {
            sqlx::query(&s).execute(&mut c).await.expect("seed");
        }
        sqlx::query("ANALYZE").execute(&mut c).await.expect("analyze");
    }
}

fn main() {
    let default = if std::env::args().any(|a| a == "--bench") { 1_000_000 } else { 2_000 };
    let n: u64 = std::env::var("SEALGATE_BENCH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(default).max(1);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    println!("incident benchmark: freeze + notifications queued for {n} credential(s) of {n} user(s)");
    rt.block_on(async {
        let pg_admin = std::env::var("SEALGATE_TEST_POSTGRES_ADMIN")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        for backend in ["sqlite", "postgres"] {
            let dir = tempfile::tempdir().expect("dir");
            let (url, drop_db) = match backend {
                "sqlite" => (format!("sqlite://{}?mode=rwc", dir.path().join("b.db").display()), None),
                _ => {
                    let Ok(mut conn) = sqlx::PgConnection::connect(&pg_admin).await else {
                        println!("  postgres: unreachable, skipped");
                        continue;
                    };
                    let name = format!("sealgate_incident_bench_{}", std::process::id());
                    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.expect("create");
                    let base = pg_admin.rsplit_once('/').map(|(b, _)| b.to_owned()).expect("url");
                    (format!("{base}/{name}"), Some((conn, name)))
                }
            };
            let store = Store::connect(&url).await.expect("connect");
            let seeded = Instant::now();
            seed(&url, n).await;
            let seed_s = seeded.elapsed().as_secs_f64();
            let audit = AuditLog::start(store.clone(), None);
            let req = OpenRequest {
                reason: "benchmark".into(),
                exchange: Some("binance".into()),
                rotate: false,
                actor: "operator:bench".into(),
                ..Default::default()
            };
            let started = Instant::now();
            let inc = sealgate_server::incident::open(&store, &audit, &req).await.expect("open");
            let opts = RunOptions { custody: None, batch: 48, workers: 1, actor: "operator:bench".into(), stop_after: None };
            let r = sealgate_server::incident::run(&store, &audit, &inc.id, &opts, |_| {}).await.expect("run");
            let total = started.elapsed().as_secs_f64();
            let took = |s: &str| {
                r.steps.iter().find(|x| x.step == s).and_then(|x| x.ended_ms.map(|e| (e - x.started_ms) as f64 / 1000.0))
            };
            let freeze = r.steps.iter().find(|x| x.step == "freeze").map(|x| x.counts.clone());
            let notify = r.steps.iter().find(|x| x.step == "notify").map(|x| x.counts.clone());
            println!(
                "  {backend:<8} seed {seed_s:.1} s (untimed); freeze {:.2} s {}; queue {:.2} s {}; total {total:.2} s ({:.0} credentials/s)",
                took("freeze").unwrap_or(f64::NAN),
                freeze.unwrap_or_default(),
                took("notify").unwrap_or(f64::NAN),
                notify.unwrap_or_default(),
                n as f64 / total
            );
            assert_eq!(r.steps.iter().find(|x| x.step == "notify").map(|x| x.counts["user_messages"].as_u64()), Some(Some(n)));
            drop(audit);
            store.close().await;
            if let Some((mut conn, name)) = drop_db {
                sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)")).execute(&mut conn).await.expect("drop");
            }
        }
    });
}
