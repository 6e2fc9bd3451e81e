//! `sealgate keys rewrap` and safe retirement, through the real binary, a real local
//! keyring and a real store (SQLite file and PostgreSQL): rotate, re-wrap 10,000 envelopes
//! with the process SIGKILLed at random points and resumed, then every envelope opens
//! through the new version only, none is lost, none was re-wrapped twice, the old version
//! retires, the audit chain verifies, and no canary secret is anywhere it should not be.

mod common;
mod seeded;

use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use common::{TempDir, ok, p, run};
use sealgate_custody::config::CustodyConfig;
use sealgate_envelope::secrecy::ExposeSecret as _;
use sealgate_envelope::{AlgPolicy, Binding, Jwe, Scope, SealRequest, open_credential, seal_credential};
use sealgate_store::{NewCredential, NewEnvelope, Store};
use seeded::{Deployment, PgDb, cid, deploy, own, owner, xorshift};
use sqlx::Connection as _;

const BIN: &str = env!("CARGO_BIN_EXE_sealgate");
/// Every credential's secret starts with this: it must appear in no output, log or column.
const CANARY: &str = "CANARY-rewrap-9c1e";

fn rewrap_args<'a>(d: &'a Deployment, from: &'a str, role: &'a str) -> Vec<&'a str> {
    vec![
        "keys",
        "rewrap",
        "--custody",
        &d.config,
        "--database",
        &d.url,
        "--role",
        role,
        "--from",
        from,
        "--workers",
        "2",
    ]
}

fn refused(out: &std::process::Output, want: &str) {
    common::refused(out, want, &[CANARY]);
}

/// Starts re-wraps and SIGKILLs them at random points, `kills` times; then runs one to the end.
fn kill_and_resume(d: &Deployment, kills: usize) -> serde_json::Value {
    let mut seed =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_nanos() as u64 | 1;
    eprintln!("rewrap kill test seed {seed}");
    let log = d.dir.0.join("killed-runs.log");
    for _ in 0..kills {
        let err = std::fs::OpenOptions::new().create(true).append(true).open(&log).expect("log");
        let out = err.try_clone().expect("log");
        let mut child = Command::new(BIN)
            .args(rewrap_args(d, &d.old, "trader"))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("start rewrap");
        let wait = Duration::from_millis(150 + xorshift(&mut seed) % 1200);
        std::thread::sleep(wait);
        // SIGKILL: no chance to clean up.
        let _ = child.kill();
        let _ = child.wait();
        eprintln!("killed after {wait:?}: {} left on {}", left_on(&d.url, &d.old), d.old);
    }
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!text.contains(CANARY), "a canary in a killed run's output: {text}");
    let out = run(&rewrap_args(d, &d.old, "trader"), b"");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let stdout = ok(out);
    assert!(!stdout.contains(CANARY) && !stderr.contains(CANARY), "{stdout} {stderr}");
    serde_json::from_str(&stdout).expect("a JSON summary when stdout is not a terminal")
}

/// Every envelope opens through `new` only, with its own secret; none lost; the audit's
/// `rewrapped` records revoke exactly the original digests (a re-wrapped envelope is never
/// re-wrapped again, so no new digest is ever revoked).
async fn check_all(d: &Deployment, n: usize, original: &HashSet<String>) -> String {
    let custody = CustodyConfig::load(std::path::Path::new(&d.config)).expect("load").open().await.expect("open");
    let new = custody
        .keys()
        .await
        .expect("keys")
        .into_iter()
        .find(|k| k.role == "trader" && k.status == sealgate_custody::KeyStatus::Active)
        .expect("active")
        .kid;
    assert_ne!(new, d.old);
    let store = Store::connect(&d.url).await.expect("store");
    assert_eq!(store.envelopes_on_kid(&d.old).await.expect("count"), 0);
    assert_eq!(store.envelopes_on_kid(&new).await.expect("count"), n as u64, "an envelope was lost");
    let key = custody.decryption_key(&new).await.expect("new key");
    let mut seen = 0;
    let mut after: Option<(String, String, String)> = None;
    loop {
        let page = store
            .envelopes_for_kid(&new, after.as_ref().map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str())), 1000)
            .await
            .expect("page");
        let Some(last) = page.last() else { break };
        after = Some((last.owner.clone(), last.credential_id.clone(), last.role.clone()));
        for env in &page {
            let i: usize = env.credential_id[1..].parse().expect("index");
            let binding =
                Binding { sub: owner(i), cid: cid(i), exch: "binance".into(), aud: "trader".into(), now: None };
            let opened = open_credential(env.jwe.as_bytes(), key.as_ref(), &binding).await.expect("opens through new");
            assert_eq!(opened.credential.get("api_secret").expect("secret").expose_secret(), d.secret(i));
            assert_eq!(opened.header.iat, 1_700_000_000 + i as u64, "the binding is kept, iat included");
            assert_eq!(opened.header.scope, Scope::parse_list("read,trade").expect("scope"));
            // `own` survives byte for byte: the new protected header spells it as sealed.
            assert_eq!(opened.header.own, own(i), "the owner authority is kept");
            let protected = B64.decode(env.jwe.split('.').next().expect("compact")).expect("b64");
            let protected = String::from_utf8(protected).expect("utf-8");
            match own(i) {
                Some(o) => {
                    let spelled = format!(r#""own":["{}"]"#, o.thumbprints().join(r#"",""#));
                    assert!(protected.contains(&spelled), "{protected} lacks {spelled}");
                }
                None => assert!(!protected.contains("\"own\""), "{protected}"),
            }
            let digest = hex(Jwe::parse(env.jwe.as_bytes(), &AlgPolicy::CREDENTIAL).expect("parse").content_digest());
            assert!(!original.contains(&digest), "an envelope was not replaced");
            seen += 1;
        }
    }
    assert_eq!(seen, n);
    // The audit: every original digest revoked, and nothing else.
    let mut revoked = HashSet::new();
    let mut seq = 0;
    loop {
        let recs = store.audit_range(seq, 1000).await.expect("audit");
        let Some(last) = recs.last() else { break };
        seq = last.seq;
        for r in recs.iter().filter(|r| r.action == "rewrapped") {
            assert!(!r.detail.contains(CANARY));
            let detail: serde_json::Value = serde_json::from_str(&r.detail).expect("detail");
            assert_eq!(detail["from"], d.old.as_str());
            let list = detail["revoked_envelopes"].as_array().expect("list");
            assert_eq!(detail["count"].as_u64(), Some(list.len() as u64));
            for v in list {
                revoked.insert(v.as_str().expect("hex").to_owned());
            }
        }
    }
    assert_eq!(&revoked, original, "the re-wrap records revoke exactly the original envelopes");
    store.close().await;
    new
}

/// Envelopes on `kid`, from a thread of its own (callers are inside the test's runtime).
fn left_on(url: &str, kid: &str) -> u64 {
    let (url, kid) = (url.to_owned(), kid.to_owned());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(async {
            let store = Store::connect(&url).await.expect("store");
            let n = store.envelopes_on_kid(&kid).await.expect("count");
            store.close().await;
            n
        })
    })
    .join()
    .expect("count thread")
}

fn hex(b: [u8; 32]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

async fn original_digests(url: &str, kid: &str) -> HashSet<String> {
    let store = Store::connect(url).await.expect("store");
    let mut out = HashSet::new();
    let mut after: Option<(String, String, String)> = None;
    loop {
        let page = store
            .envelopes_for_kid(kid, after.as_ref().map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str())), 1000)
            .await
            .expect("page");
        let Some(last) = page.last() else { break };
        after = Some((last.owner.clone(), last.credential_id.clone(), last.role.clone()));
        for e in &page {
            out.insert(hex(Jwe::parse(e.jwe.as_bytes(), &AlgPolicy::CREDENTIAL).expect("parse").content_digest()));
        }
    }
    store.close().await;
    out
}

/// The whole proof on one database.
async fn proof(d: &Deployment, n: usize) {
    let original = original_digests(&d.url, &d.old).await;
    assert_eq!(original.len(), n);
    let status = |kid: &str, s: &str| {
        run(&["keys", "set-status", "--custody", &d.config, "--database", &d.url, "--kid", kid, "--status", s], b"")
    };
    // Retiring the active version is refused; so is re-wrapping from it.
    refused(&status(&d.old, "retired"), "is the active version");
    refused(&run(&rewrap_args(d, &d.old, "trader"), b""), "rotate first");
    let new = ok(run(&["keys", "rotate", "--custody", &d.config, "--role", "trader"], b"")).trim().to_owned();
    // Retiring a version envelopes still use is refused, naming the count and the command.
    let out = status(&d.old, "retired");
    refused(&out, &format!("{n} envelope(s) or grant passphrase(s) are still sealed to"));
    refused(&out, "sealgate keys rewrap --role trader --from");
    refused(
        &run(&["keys", "set-status", "--custody", &d.config, "--kid", &d.old, "--status", "retired"], b""),
        "needs --database",
    );

    // Hostile inputs.
    refused(&run(&rewrap_args(d, "trader-v99", "trader"), b""), "no key version \"trader-v99\"");
    let importer = run(&["keys", "list", "--custody", &d.config], b"");
    let importer = String::from_utf8_lossy(&importer.stdout)
        .lines()
        .find(|l| l.contains(" importer "))
        .and_then(|l| l.split_whitespace().next())
        .expect("importer kid")
        .to_owned();
    refused(&run(&rewrap_args(d, &importer, "trader"), b""), "belongs to role \"importer\"");
    refused(&run(&rewrap_args(d, &new, "trader"), b""), "is the active version");
    refused(
        &run(&[&rewrap_args(d, &d.old, "trader")[..], &["--batch", "49"]].concat(), b""),
        "--batch must be 1 to 48",
    );
    refused(&run(&rewrap_args(d, &d.old, "Trader!"), b""), "--role must be");

    let summary = kill_and_resume(d, 4);
    assert_eq!(summary["left"], 0, "{summary}");
    assert_eq!(summary["to"], new.as_str());
    assert_eq!(summary["failed"], 0, "{summary}");
    assert_eq!(check_all(d, n, &original).await, new);

    // A second run finds nothing and changes nothing.
    let again: serde_json::Value =
        serde_json::from_str(&ok(run(&rewrap_args(d, &d.old, "trader"), b""))).expect("json");
    assert_eq!(
        (again["found"].as_u64(), again["rewrapped"].as_u64(), again["left"].as_u64()),
        (Some(0), Some(0), Some(0))
    );

    // Now the old version retires, and then opens nothing; re-wrapping from it is refused.
    ok(status(&d.old, "retired"));
    refused(&run(&rewrap_args(d, &d.old, "trader"), b""), "is retired: it opens nothing");
    let custody = CustodyConfig::load(std::path::Path::new(&d.config)).expect("load").open().await.expect("open");
    assert!(custody.decryption_key(&d.old).await.is_err());
    let store = Store::connect(&d.url).await.expect("store");
    let keys = store.recipient_keys(Some("trader")).await.expect("keys");
    assert!(keys.iter().all(|k| k.kid != d.old || k.status == sealgate_store::KeyStatus::Retired));
    store.close().await;

    let verified = ok(run(&["audit", "verify", "--database", &d.url, "--pin", &d.pin], b""));
    assert!(!verified.contains(CANARY), "{verified}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewrap_10000_killed_and_resumed_sqlite() {
    let n = 10_000;
    let dir = TempDir::new("rewrap-db");
    let db = dir.0.join("sealgate.db");
    let url = format!("sqlite://{}?mode=rwc", p(&db));
    let d = deploy("rewrap-sqlite", &url, n, CANARY).await;
    let started = Instant::now();
    proof(&d, n).await;
    eprintln!("sqlite proof: {:.1} s", started.elapsed().as_secs_f64());
    // No column of the database, the WAL included, holds a canary.
    for entry in std::fs::read_dir(&dir.0).expect("dir") {
        let path = entry.expect("entry").path();
        let bytes = std::fs::read(&path).expect("read db file");
        assert!(!bytes.windows(CANARY.len()).any(|w| w == CANARY.as_bytes()), "canary in {}", path.display());
    }
}

// --- PostgreSQL ----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewrap_10000_killed_and_resumed_postgres() {
    let Some(db) = PgDb::create("rewrap_10000_killed_and_resumed_postgres").await else { return };
    let n = 10_000;
    let d = deploy("rewrap-pg", &db.url, n, CANARY).await;
    proof(&d, n).await;
    // No envelope or audit column holds a canary.
    let mut c = sqlx::PgConnection::connect(&db.url).await.expect("connect");
    let hits: i64 = sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM envelopes WHERE jwe LIKE $1) + (SELECT COUNT(*) FROM audit_log WHERE detail LIKE $1) \
         + (SELECT COUNT(*) FROM credentials WHERE label LIKE $1 OR hint LIKE $1)",
    )
    .bind(format!("%{CANARY}%"))
    .fetch_one(&mut c)
    .await
    .expect("scan");
    assert_eq!(hits, 0);
    let _ = c.close().await;
}

/// Two re-wrap processes at once on PostgreSQL: their batches never overlap (`SKIP
/// LOCKED`), so each envelope is opened, recorded and replaced by exactly one of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_rewraps_at_once_postgres_do_each_envelope_once() {
    let Some(db) = PgDb::create("two_rewraps_at_once_postgres_do_each_envelope_once").await else { return };
    let n = 4_000;
    let d = deploy("rewrap-pg2", &db.url, n, CANARY).await;
    let original = original_digests(&d.url, &d.old).await;
    let new = ok(run(&["keys", "rotate", "--custody", &d.config, "--role", "trader"], b"")).trim().to_owned();
    let spawn = || {
        Command::new(BIN)
            .args(rewrap_args(&d, &d.old, "trader"))
            .args(["--batch", "16"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start")
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().expect("a"), b.wait_with_output().expect("b"));
    let (a, b) = (ok(a), ok(b));
    let a: serde_json::Value = serde_json::from_str(&a).expect("json a");
    let b: serde_json::Value = serde_json::from_str(&b).expect("json b");
    eprintln!("two processes: {a}\n{b}");
    let done = |v: &serde_json::Value| v["rewrapped"].as_u64().expect("count");
    assert_eq!(done(&a) + done(&b), n as u64, "{a} {b}");
    assert_eq!(a["lost_race"], 0, "row locks keep the processes apart: {a}");
    assert_eq!(b["lost_race"], 0, "row locks keep the processes apart: {b}");
    assert!(done(&a) > 0 && done(&b) > 0, "both processes worked: {a} {b}");
    // Each envelope is in exactly one record (check_all also checks the union).
    let store = Store::connect(&d.url).await.expect("store");
    let mut listed = 0usize;
    let mut seq = 0;
    loop {
        let recs = store.audit_range(seq, 1000).await.expect("audit");
        let Some(last) = recs.last() else { break };
        seq = last.seq;
        for r in recs.iter().filter(|r| r.action == "rewrapped") {
            let detail: serde_json::Value = serde_json::from_str(&r.detail).expect("detail");
            listed += detail["revoked_envelopes"].as_array().expect("list").len();
        }
    }
    store.close().await;
    assert_eq!(listed, n, "an envelope was re-wrapped by both processes");
    assert_eq!(check_all(&d, n, &original).await, new);
}

// --- PKCS#11 (SoftHSM2) ----------------------------------------------------------------------

/// The same re-wrap through an HSM: a fresh SoftHSM2 token (its configuration handed to the
/// `sealgate` processes only), 1,500 envelopes sealed to the token's trader key, one SIGKILL,
/// resumed; every envelope moves to the new version, the old one retires, the chain verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewrap_through_softhsm2_killed_and_resumed() {
    let module = "/usr/lib/softhsm/libsofthsm2.so";
    let have_util = Command::new("softhsm2-util").arg("--version").output().is_ok_and(|o| o.status.success());
    if !have_util || !std::path::Path::new(module).exists() {
        sealgate_testkit::skip_or_fail(
            "SEALGATE_SKIP_CUSTODY_SERVICES",
            "the re-wrap through SoftHSM2",
            "SoftHSM2 is not installed",
            "run `bash scripts/setup-softhsm.sh`",
        );
        return;
    }
    let dir = TempDir::new("rewrap-hsm");
    std::fs::create_dir_all(dir.0.join("tokens")).expect("tokens dir");
    let conf = dir.0.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!("directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n", p(&dir.0.join("tokens"))),
    )
    .expect("conf");
    let init = Command::new("softhsm2-util")
        .args([
            "--init-token",
            "--free",
            "--label",
            "rewrap",
            "--so-pin",
            "so-pin-87654321",
            "--pin",
            "user-pin-123456",
        ])
        .env("SOFTHSM2_CONF", &conf)
        .output()
        .expect("softhsm2-util");
    assert!(init.status.success(), "{}", String::from_utf8_lossy(&init.stderr));
    let pin_file = dir.0.join("hsm.pin");
    std::fs::write(&pin_file, "user-pin-123456").expect("pin");
    std::fs::set_permissions(&pin_file, std::os::unix::fs::PermissionsExt::from_mode(0o600)).expect("chmod");
    let config = dir.0.join("custody.toml");
    std::fs::write(
        &config,
        format!(
            "backend = \"pkcs11\"\n[pkcs11]\nmodule = \"{module}\"\ntoken_label = \"rewrap\"\npin_file = \"{}\"\n",
            p(&pin_file)
        ),
    )
    .expect("config");
    let config = p(&config).to_owned();
    let hsm = |args: &[&str]| {
        let mut cmd = Command::new(BIN);
        cmd.args(args).env("SOFTHSM2_CONF", &conf);
        common::run_command(cmd, b"")
    };
    let pin = ok(hsm(&["keys", "init", "--custody", &config])).trim().to_owned();
    let old = ok(hsm(&["keys", "rotate", "--custody", &config, "--role", "trader"])).trim().to_owned();
    // The public key, as a client gets it: from the signed recipient set, checked against the pin.
    let set = ok(hsm(&["keys", "export-recipients", "--custody", &config]));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
    let key = sealgate_custody::keyset::verify(&set, &pin, now)
        .expect("set")
        .into_iter()
        .find(|r| r.role == "trader")
        .expect("trader key")
        .key;
    let db = dir.0.join("sealgate.db");
    let url = format!("sqlite://{}?mode=rwc", p(&db));
    let store = Store::connect(&url).await.expect("store");
    let n = 1500;
    store.create_user("u0000", None).await.expect("user");
    for i in 0..n {
        let cred = format!(r#"{{"api_key":"KEY-{i:08}","api_secret":"{CANARY}-{i:06}"}}"#);
        let req = SealRequest {
            sub: "u0000".into(),
            cid: cid(i),
            exch: "binance".into(),
            aud: "trader".into(),
            scope: Scope::parse_list("read").expect("scope"),
            iat: 1_700_000_000,
            own: None,
        };
        let (jwe, _) = seal_credential(cred.as_bytes(), &key, &req).expect("seal");
        let c = cid(i);
        let new =
            NewCredential { id: &c, owner: "u0000", exchange: "binance", label: "t", hint: "0000", scope: "read" };
        store.create_credential(&new, &[NewEnvelope { role: "trader", kid: &old, jwe: &jwe }]).await.expect("cred");
    }
    store.close().await;
    let original = original_digests(&url, &old).await;
    let new = ok(hsm(&["keys", "rotate", "--custody", &config, "--role", "trader"])).trim().to_owned();
    let args = [
        "keys",
        "rewrap",
        "--custody",
        &config,
        "--database",
        &url,
        "--role",
        "trader",
        "--from",
        &old,
        "--batch",
        "8",
    ];
    let mut child = Command::new(BIN)
        .args(args)
        .env("SOFTHSM2_CONF", &conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start");
    std::thread::sleep(Duration::from_millis(400));
    let _ = child.kill();
    let _ = child.wait();
    eprintln!("softhsm2: killed with {} left", left_on(&url, &old));
    let summary: serde_json::Value = serde_json::from_str(&ok(hsm(&args))).expect("json");
    assert_eq!((summary["left"].as_u64(), summary["to"].as_str()), (Some(0), Some(new.as_str())), "{summary}");
    let store = Store::connect(&url).await.expect("store");
    assert_eq!(store.envelopes_on_kid(&new).await.expect("count"), n as u64, "an envelope was lost");
    let now_digests: HashSet<String> = original_digests(&url, &new).await;
    assert!(now_digests.is_disjoint(&original), "every envelope is new");
    store.close().await;
    ok(hsm(&["keys", "set-status", "--custody", &config, "--database", &url, "--kid", &old, "--status", "retired"]));
    ok(run(&["audit", "verify", "--database", &url, "--pin", &pin], b""));
}
