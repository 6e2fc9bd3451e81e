//! `sealgate incident` through the real binary, a real local keyring and a real store
//! (SQLite file and PostgreSQL): an incident over one exchange's credentials, SIGKILLed at
//! random points and resumed, ends with every in-scope credential frozen and re-wrapped to
//! one new key version (the role rotated exactly once), exactly one message per affected
//! user and none to anyone else, out-of-scope credentials untouched, the audit chain
//! verified, and no canary secret in any output.

mod common;
mod seeded;

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{BIN, TempDir, ok, p, run};
use sealgate_custody::config::CustodyConfig;
use sealgate_envelope::{Scope, SealRequest, seal_credential};
use sealgate_store::{CredentialStatus, NewCredential, NewEnvelope, Store};
use seeded::{Deployment, PgDb, clock_seed, deploy, owner, xorshift};

const CANARY: &str = "CANARY-incident-5d2a";
/// Users with a credential on another exchange only: outside the scope.
const OUTSIDERS: usize = 20;

fn email(user: &str) -> String {
    format!("{user}@example.test")
}

/// Every seeded user gets an address; outsiders get a kraken credential and an address.
async fn add_contacts_and_outsiders(d: &Deployment) {
    let custody = CustodyConfig::load(std::path::Path::new(&d.config)).expect("load").open().await.expect("open");
    let key = custody.keys().await.expect("keys").into_iter().find(|k| k.kid == d.old).expect("old key").public;
    let store = Store::connect(&d.url).await.expect("store");
    for u in 0..500 {
        store.set_contact_email(&owner(u), &email(&owner(u)), "confirmed").await.expect("contact");
    }
    for i in 0..OUTSIDERS {
        let (o, c) = (format!("x{i:03}"), format!("k{i:03}"));
        store.create_user(&o, None).await.expect("user");
        store.set_contact_email(&o, &email(&o), "confirmed").await.expect("contact");
        let cred = format!(r#"{{"api_key":"KRAKEN-{i:08}","api_secret":"{CANARY}-kraken-{i}"}}"#);
        let req = SealRequest {
            sub: o.clone(),
            cid: c.clone(),
            exch: "kraken".into(),
            aud: "trader".into(),
            scope: Scope::parse_list("read,trade").expect("scope"),
            iat: 1_700_000_000,
            own: None,
        };
        let (jwe, _) = seal_credential(cred.as_bytes(), &key, &req).expect("seal");
        let new =
            NewCredential { id: &c, owner: &o, exchange: "kraken", label: "k", hint: "0000", scope: "read,trade" };
        store
            .create_credential(&new, &[NewEnvelope { role: "trader", kid: &d.old, jwe: &jwe }])
            .await
            .expect("credential");
    }
    store.close().await;
}

fn open_args(d: &Deployment) -> Vec<String> {
    [
        "incident",
        "open",
        "--reason",
        "Our trader key may have leaked",
        "--exchange",
        "binance",
        "--custody",
        &d.config,
        "--database",
        &d.url,
        "--workers",
        "2",
        "--batch",
        "16",
    ]
    .map(str::to_owned)
    .to_vec()
}

fn resume_args(d: &Deployment, id: &str) -> Vec<String> {
    ["incident", "resume", id, "--custody", &d.config, "--database", &d.url, "--workers", "2"]
        .map(str::to_owned)
        .to_vec()
}

/// The open incidents, from `incident status` (JSON: stdout is a pipe).
fn open_incidents(d: &Deployment) -> Vec<serde_json::Value> {
    let out = ok(run(&["incident", "status", "--database", &d.url], b""));
    out.lines().map(|l| serde_json::from_str(l).expect("one JSON report a line")).collect()
}

/// Opens the incident, SIGKILLs the command `kills` times at random points (resuming after
/// the first), then resumes it to the end; returns the final report.
fn kill_and_resume(d: &Deployment, kills: usize) -> serde_json::Value {
    let mut seed = clock_seed();
    eprintln!("incident kill test seed {seed}");
    let log = d.dir.0.join("killed-runs.log");
    let mut id: Option<String> = None;
    for _ in 0..kills {
        let args = match &id {
            Some(id) => resume_args(d, id),
            None => open_args(d),
        };
        let err = std::fs::OpenOptions::new().create(true).append(true).open(&log).expect("log");
        let out = err.try_clone().expect("log");
        let mut child =
            Command::new(BIN).args(&args).stdin(Stdio::null()).stdout(out).stderr(err).spawn().expect("start");
        let wait = Duration::from_millis(100 + xorshift(&mut seed) % 900);
        std::thread::sleep(wait);
        let _ = child.kill(); // SIGKILL: no chance to clean up
        let _ = child.wait();
        if id.is_none() {
            // Killed before the incident existed: the next try opens it.
            let open = open_incidents(d);
            assert!(open.len() <= 1, "a killed open made more than one incident: {open:?}");
            id = open.first().map(|r| r["id"].as_str().expect("id").to_owned());
        }
        eprintln!("killed after {wait:?}; incident {id:?}");
    }
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!text.contains(CANARY), "a canary in a killed run's output: {text}");
    let args = match &id {
        Some(id) => resume_args(d, id),
        None => open_args(d),
    };
    let out = run(&args.iter().map(String::as_str).collect::<Vec<_>>(), b"");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let stdout = ok(out);
    assert!(!stdout.contains(CANARY) && !stderr.contains(CANARY), "{stdout} {stderr}");
    // A second resume finds every step ended and changes nothing.
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("a JSON report when stdout is a pipe");
    let again = ok(run(
        &resume_args(d, report["id"].as_str().expect("id")).iter().map(String::as_str).collect::<Vec<_>>(),
        b"",
    ));
    let again: serde_json::Value = serde_json::from_str(&again).expect("json");
    assert_eq!(again["steps"], report["steps"], "a resumed finished incident redid a step");
    report
}

async fn proof(d: &Deployment, n: usize) {
    add_contacts_and_outsiders(d).await;
    // Hostile or empty scopes are refused before anything changes.
    let base = ["incident", "open", "--reason", "r", "--database", &d.url, "--no-rotate"];
    common::refused(&run(&base, b""), "scope", &[CANARY]);
    common::refused(&run(&[&base[..], &["--all", "--exchange", "binance"]].concat(), b""), "--all", &[CANARY]);
    common::refused(&run(&[&base[..], &["--credential", "c000001"]].concat(), b""), "--user", &[CANARY]);
    let long = "x".repeat(501);
    common::refused(
        &run(&["incident", "open", "--reason", &long, "--database", &d.url, "--no-rotate", "--all"], b""),
        "500",
        &[CANARY],
    );
    common::refused(
        &run(&["incident", "open", "--reason", "r", "--database", &d.url, "--all"], b""),
        "--custody",
        &[CANARY],
    );
    assert!(open_incidents(d).is_empty(), "a refused open left an incident behind");

    let report = kill_and_resume(d, 4);
    assert_eq!(report["complete"], true, "{report}");
    let id = report["id"].as_str().expect("id").to_owned();
    assert_eq!(open_incidents(d).len(), 1, "exactly one incident, however often it was killed");

    // The role rotated exactly once: trader v1 (old) and one new active version.
    let custody = CustodyConfig::load(std::path::Path::new(&d.config)).expect("load").open().await.expect("open");
    let traders: Vec<_> = custody.keys().await.expect("keys").into_iter().filter(|k| k.role == "trader").collect();
    assert_eq!(traders.len(), 2, "the trader role was rotated more than once: {traders:?}");
    let new = traders.iter().find(|k| k.status == sealgate_custody::KeyStatus::Active).expect("active").kid.clone();
    assert_ne!(new, d.old);

    let store = Store::connect(&d.url).await.expect("store");
    // Every envelope moved (the outsiders' too: they are sealed to the rotated role).
    assert_eq!(store.envelopes_on_kid(&d.old).await.expect("count"), 0);
    assert_eq!(store.envelopes_on_kid(&new).await.expect("count"), (n + OUTSIDERS) as u64);
    // In scope frozen and marked; outsiders active and unmarked.
    for i in [0, 1, n / 2, n - 1] {
        let c = store.get_credential(&owner(i), &seeded::cid(i)).await.expect("get").expect("exists");
        assert_eq!(c.status, CredentialStatus::Frozen, "credential {i} not frozen");
    }
    for i in 0..OUTSIDERS {
        let c = store.get_credential(&format!("x{i:03}"), &format!("k{i:03}")).await.expect("get").expect("exists");
        assert_eq!(c.status, CredentialStatus::Active, "an out-of-scope credential was frozen");
    }
    // Exactly one e-mail per affected user, none to the outsiders.
    let queued = store.list_notifications(None, 100_000).await.expect("outbox");
    let mut per_user: HashMap<String, usize> = HashMap::new();
    for m in queued.iter().filter(|m| m.kind == "incident") {
        assert_eq!(m.channel, "email");
        *per_user.entry(m.user_id.clone().expect("a user's")).or_default() += 1;
    }
    let affected = n.min(500);
    assert_eq!(per_user.len(), affected, "not every affected user was told once");
    assert!(per_user.values().all(|&k| k == 1), "a user was told twice: {per_user:?}");
    assert!(per_user.keys().all(|u| u.starts_with('u')), "an out-of-scope user was told");
    store.close().await;

    // Closing unfreezes nothing; a second close is refused.
    ok(run(&["incident", "close", &id, "--database", &d.url], b""));
    common::refused(&run(&["incident", "close", &id, "--database", &d.url], b""), "closed", &[CANARY]);
    assert!(open_incidents(d).is_empty());

    let verified = ok(run(&["audit", "verify", "--database", &d.url, "--pin", &d.pin], b""));
    assert!(!verified.contains(CANARY), "{verified}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incident_killed_and_resumed_sqlite() {
    let n = 3_000;
    let dir = TempDir::new("incident-db");
    let url = format!("sqlite://{}?mode=rwc", p(&dir.0.join("sealgate.db")));
    let d = deploy("incident-sqlite", &url, n, CANARY).await;
    proof(&d, n).await;
    for entry in std::fs::read_dir(&dir.0).expect("dir") {
        let path = entry.expect("entry").path();
        let bytes = std::fs::read(&path).expect("read db file");
        assert!(!bytes.windows(CANARY.len()).any(|w| w == CANARY.as_bytes()), "canary in {}", path.display());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incident_killed_and_resumed_postgres() {
    let Some(db) = PgDb::create("incident_killed_and_resumed_postgres").await else { return };
    let n = 2_000;
    let d = deploy("incident-pg", &db.url, n, CANARY).await;
    proof(&d, n).await;
}
