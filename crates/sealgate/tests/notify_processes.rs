//! Two `sealgate serve --roles notifier` processes (the built binary) on one PostgreSQL
//! database deliver one outbox to a real SMTP server on loopback (aiosmtpd,
//! interop/notify/sink.py; `bash scripts/setup-notify.sh`): every message is sent exactly
//! once, both processes take a share, and no log line carries a link token or a body.
//! PostgreSQL as for the other platform tests (`SEALGATE_TEST_POSTGRES_ADMIN`,
//! `SEALGATE_SKIP_POSTGRES=1` skips when unreachable); the peers missing FAIL unless
//! `SEALGATE_SKIP_NOTIFY=1`.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sealgate_server::notifier::{NotifyEvent, NotifyKey};
use sealgate_store::Store;
use serde_json::Value;
use sqlx::Connection as _;

const BIN: &str = env!("CARGO_BIN_EXE_sealgate");
const USERS: usize = 30;
const EVENTS: usize = 5;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn wait_for_text(path: &Path, text: &str, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        if std::fs::read_to_string(path).unwrap_or_default().contains(text) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} never said {text:?}: {}",
            path.display(),
            std::fs::read_to_string(path).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_notifier_processes_send_each_message_once() {
    let python = root().join(".venv-notify/bin/python");
    if !python.exists() {
        sealgate_testkit::skip_or_fail(
            "SEALGATE_SKIP_NOTIFY",
            "two_notifier_processes_send_each_message_once",
            "the loopback SMTP server is not installed",
            "run: bash scripts/setup-notify.sh",
        );
        return;
    }
    let admin_url = std::env::var("SEALGATE_TEST_POSTGRES_ADMIN")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let mut admin = match sqlx::PgConnection::connect(&admin_url).await {
        Ok(c) => c,
        Err(e) => {
            sealgate_testkit::skip_or_fail(
                "SEALGATE_SKIP_POSTGRES",
                "two_notifier_processes_send_each_message_once",
                &format!("PostgreSQL is unreachable: {e}"),
                "start PostgreSQL, or point SEALGATE_TEST_POSTGRES_ADMIN at one",
            );
            return;
        }
    };
    let name = format!("sealgate_notify_proc_{}", std::process::id());
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.expect("create database");
    let url = format!("{}/{name}", admin_url.rsplit_once('/').expect("url").0);

    let dir = tempfile::tempdir().expect("dir");
    let out = dir.path().join("sink");
    std::fs::create_dir(&out).expect("sink dir");
    let secrets = dir.path().join("secrets.json");
    std::fs::write(&secrets, "{}").expect("secrets");
    let mut sink = Command::new(&python)
        .arg(root().join("interop/notify/sink.py"))
        .arg(&out)
        .arg(&secrets)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sink");
    let mut line = String::new();
    BufReader::new(sink.stdout.take().expect("stdout")).read_line(&mut line).expect("ready");
    let _sink = Killed(sink);
    let smtp: u16 =
        line.split_whitespace().find_map(|w| w.strip_prefix("smtp=")).and_then(|p| p.parse().ok()).expect(&line);

    let store = Store::connect(&url).await.expect("connect");
    let key_file = dir.path().join("notify.key");
    NotifyKey::load_or_create(&key_file, true).expect("notify key");
    let mut procs = Vec::new();
    let mut logs = Vec::new();
    for i in 0..2 {
        let log = dir.path().join(format!("notifier-{i}.log"));
        let f = std::fs::File::create(&log).expect("log");
        let child = Command::new(BIN)
            .args(["serve", "--roles", "notifier", "--listen", "127.0.0.1:0", "--service-listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(dir.path().join(format!("data-{i}")))
            .args(["--database", &url, "--public-url", "https://sealgate.example"])
            .args(["--smtp-url", &format!("smtp://127.0.0.1:{smtp}"), "--smtp-starttls", "none"])
            .arg("--notify-key")
            .arg(&key_file)
            .args(["--notifier-workers", "2"])
            .stdout(f.try_clone().expect("log"))
            .stderr(f)
            .spawn()
            .expect("serve");
        procs.push(Killed(child));
        logs.push(log);
    }
    for log in &logs {
        wait_for_text(log, "sealgate: notifier running", Duration::from_secs(60));
    }
    // Queued once both poll.
    for u in 0..USERS {
        let id = format!("u{u}");
        store.create_user(&id, None).await.expect("user");
        store.set_contact_email(&id, &format!("{id}@example.test"), "confirmed").await.expect("contact");
        for e in 0..EVENTS {
            let ev =
                NotifyEvent::RoleRevoked { user: id.clone(), credential_id: format!("c{e}"), role: "trader".into() };
            sealgate_server::notifier::enqueue(&store, &ev).await.expect("enqueue");
        }
    }
    let total = USERS * EVENTS;
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let counts = store.notification_counts().await.expect("counts");
        if counts.iter().any(|(s, n)| s == "sent" && *n as usize == total) {
            break;
        }
        assert!(Instant::now() < deadline, "not all sent: {counts:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mails: Vec<Value> = std::fs::read_to_string(out.join("mail.jsonl"))
        .expect("mails")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(mails.len(), total, "each message exactly once");
    let distinct: BTreeSet<(String, String)> = mails
        .iter()
        .map(|m| {
            let body = m["body"].as_str().expect("body");
            (m["to"][0].as_str().expect("to").to_owned(), body.lines().next().unwrap_or("").to_owned())
        })
        .collect();
    assert_eq!(distinct.len(), total, "none twice, none missing");
    drop(procs);
    let shares: Vec<usize> =
        logs.iter().map(|l| std::fs::read_to_string(l).expect("log").matches("notification sent").count()).collect();
    assert_eq!(shares.iter().sum::<usize>(), total, "{shares:?}");
    assert!(shares.iter().all(|n| *n > 0), "both processes took a share: {shares:?}");
    for l in &logs {
        let text = std::fs::read_to_string(l).expect("log");
        assert!(!text.contains("/lockdown/") && !text.contains("was revoked"), "a link or a body in a log: {text}");
    }
    store.close().await;
    let _ = sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)")).execute(&mut admin).await;
}
