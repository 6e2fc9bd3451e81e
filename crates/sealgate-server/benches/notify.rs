//! Notification delivery rate: N queued e-mail notifications (one event each) delivered by
//! the notifier to a real SMTP server on loopback (aiosmtpd, interop/notify/sink.py; run
//! `bash scripts/setup-notify.sh` first), on SQLite and on PostgreSQL (when reachable),
//! with 1 and 4 workers. Each delivery: a leased claim, a lockdown token minted and stored,
//! one SMTP transaction and its completion. A plain main:
//! `cargo bench -p sealgate-server --bench notify`.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use sealgate_server::metrics::Metrics;
use sealgate_server::notifier::{Notifier, NotifierConfig, NotifyEvent, NotifyKey, SmtpConfig, StartTls};
use sealgate_store::Store;
use sqlx::Connection as _;

fn main() {
    let n: usize = if std::env::args().any(|a| a == "--bench") { 2000 } else { 50 };
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = root.join(".venv-notify/bin/python");
    if !python.exists() {
        println!("notify benchmark: skipped: run `bash scripts/setup-notify.sh` first (the loopback SMTP server)");
        return;
    }
    let out = tempfile::tempdir().expect("dir");
    let secrets = out.path().join("secrets.json");
    std::fs::write(&secrets, "{}").expect("secrets");
    let mut sink = Command::new(python)
        .arg(root.join("interop/notify/sink.py"))
        .arg(out.path())
        .arg(&secrets)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sink");
    let mut line = String::new();
    BufReader::new(sink.stdout.take().expect("stdout")).read_line(&mut line).expect("ready");
    let smtp: u16 =
        line.split_whitespace().find_map(|w| w.strip_prefix("smtp=")).and_then(|p| p.parse().ok()).expect(&line);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().expect("runtime");
    println!("notify benchmark: {n} e-mails per run to aiosmtpd on 127.0.0.1:{smtp} (2 shared cores)");
    rt.block_on(async {
        let pg_admin = std::env::var("SEALGATE_TEST_POSTGRES_ADMIN")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        for backend in ["sqlite", "postgres"] {
            for workers in [1usize, 4] {
                let dir = tempfile::tempdir().expect("dir");
                let (url, drop_db) = match backend {
                    "sqlite" => (format!("sqlite://{}?mode=rwc", dir.path().join("b.db").display()), None),
                    _ => {
                        let Ok(mut conn) = sqlx::PgConnection::connect(&pg_admin).await else {
                            println!("  postgres: unreachable, skipped");
                            break;
                        };
                        let name = format!("sealgate_notify_bench_{}_{workers}", std::process::id());
                        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.expect("create");
                        let base = pg_admin.rsplit_once('/').map(|(b, _)| b.to_owned()).expect("url");
                        (format!("{base}/{name}"), Some((conn, name)))
                    }
                };
                let store = Store::connect(&url).await.expect("connect");
                for u in 0..n {
                    let id = format!("u{u}");
                    store.create_user(&id, None).await.expect("user");
                    store.set_contact_email(&id, &format!("{id}@example.test"), "confirmed").await.expect("contact");
                    let e = NotifyEvent::RoleRevoked { user: id, credential_id: "c1".into(), role: "trader".into() };
                    sealgate_server::notifier::enqueue(&store, &e).await.expect("enqueue");
                }
                let key = Arc::new(NotifyKey::load_or_create(&dir.path().join("notify.key"), true).expect("key"));
                let config = Arc::new(NotifierConfig {
                    smtp: Some(SmtpConfig {
                        url: format!("smtp://127.0.0.1:{smtp}"),
                        starttls: StartTls::None,
                        from: "bench@example.test".into(),
                        credentials_file: None,
                    }),
                    public_url: "https://sealgate.example".into(),
                    ..NotifierConfig::default()
                });
                let started = Instant::now();
                let mut tasks = Vec::new();
                for w in 0..workers {
                    let notifier = Notifier::new(
                        store.clone(),
                        key.clone(),
                        config.clone(),
                        format!("bench-{w}"),
                        Arc::new(Metrics::default()),
                    )
                    .expect("notifier");
                    tasks.push(tokio::spawn(async move { notifier.drain().await.expect("drain") }));
                }
                let mut sent = 0;
                for t in tasks {
                    sent += t.await.expect("task");
                }
                let secs = started.elapsed().as_secs_f64();
                assert_eq!(sent as usize, n, "every message sent once");
                println!(
                    "  {backend:>8}, {workers} worker(s): {n} sent in {:>8.1} ms = {:>6.0} messages/s",
                    secs * 1000.0,
                    n as f64 / secs
                );
                store.close().await;
                if let Some((mut conn, name)) = drop_db {
                    let _ = sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)")).execute(&mut conn).await;
                }
            }
        }
    });
    let _ = sink.kill();
    let _ = sink.wait();
}
