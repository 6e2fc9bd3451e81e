//! `GET /v1/audit/export` over real HTTP, on SQLite and PostgreSQL, with checkpoints
//! signed by a real local custody root: the export verifies (in Rust and in the
//! independent Python peer), holds nothing of other users' records but proof hashes,
//! pages, and every attack on it fails: a record swapped in from another user, a proof for
//! another index, a truncated tree, a forged checkpoint, and a record edited in the
//! database after it was signed.

use std::future::Future;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use sealgate_audit::Action;
use sealgate_audit::user_export::{UserExportError, verify_user_export};
use sealgate_custody::Custody;
use sealgate_custody::local::{LocalCustody, MasterKey};
use sealgate_server::api::{self, ApiState, RecipientSet};
use sealgate_server::audit::{AuditEvent, AuditLog, CheckpointPolicy};
use sealgate_server::auth::{Auth, AuthConfig, LocalConfig};
use sealgate_store::Store;
use serde_json::{Value, json};

#[path = "../../sealgate-store/tests/harness/mod.rs"]
mod harness;
mod session;

/// Never in Alice's export: it is only in Bob's records.
const BOB_CANARY: &str = "bob-only-CANARY-5e1f";

async fn on_both<F, Fut>(test: &str, body: F)
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    harness::on_both(test, |db| body(db.url)).await
}

struct Env {
    base: String,
    http: reqwest::Client,
    store: Store,
    auth: Arc<Auth>,
    audit: AuditLog,
    pin: String,
    _dir: tempfile::TempDir,
}

async fn start(url: &str) -> Env {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o700)).expect("chmod");
    let master = MasterKey::generate_key_file(&dir.path().join("master.key")).expect("master key");
    let custody: Arc<dyn Custody> = Arc::new(LocalCustody::init(&dir.path().join("keyring"), master).expect("keyring"));
    let root = sealgate_audit::RootKey::from_jwk(&custody.root_public().await.expect("root")).expect("root key");
    let store = Store::connect(url).await.expect("connect");
    for u in ["alice", "bob"] {
        store.create_user(u, None).await.expect("user");
    }
    let policy = CheckpointPolicy { custody, every_records: 1000, every: Duration::from_millis(50) };
    let audit = AuditLog::start(store.clone(), Some(policy));
    let auth = Arc::new(
        Auth::new(store.clone(), AuthConfig { local: Some(LocalConfig::default()), oidc: None }).expect("auth"),
    );
    let state = ApiState {
        store: store.clone(),
        audit: audit.clone(),
        trader: None,
        recipients: Arc::new(tokio::sync::RwLock::new(RecipientSet { jws: "x.e30.c2ln".into(), pin: "pin".into() })),
        auth: auth.clone(),
        on_change: None,
        notify: None,
        passkeys: None,
        held_keys: None,
        prices: None,
        valuations: Default::default(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, api::router(state)).await });
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    Env { base, http, store, auth, audit, pin: root.thumbprint(), _dir: dir }
}

impl Env {
    /// A session cookie header for `user`.
    async fn login(&self, user: &str) -> String {
        format!("sealgate_session={}", session::login(&self.http, &self.base, &self.auth, user).await.cookie)
    }

    async fn get(&self, path: &str, cookie: Option<&str>) -> (u16, String) {
        let mut rb = self.http.get(format!("{}{path}", self.base));
        if let Some(c) = cookie {
            rb = rb.header("cookie", c);
        }
        let r = rb.send().await.expect("send");
        (r.status().as_u16(), r.text().await.expect("body"))
    }

    /// Waits until a v2 checkpoint covers the whole chain.
    async fn covered(&self) {
        for _ in 0..1000 {
            let tail = self.store.audit_tail().await.expect("tail").map(|t| t.seq);
            let cp = self.store.latest_tree_checkpoint().await.expect("cp").map(|c| c.seq);
            if tail.is_some() && cp == tail {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("no checkpoint covered the chain");
    }
}

async fn raw_sql(url: &str, sql: &str) {
    use sqlx::Connection as _;
    if url.starts_with("sqlite") {
        let mut c = sqlx::SqliteConnection::connect(url).await.expect("raw sqlite");
        sqlx::query(sql).execute(&mut c).await.expect("raw sql");
    } else {
        let mut c = sqlx::PgConnection::connect(url).await.expect("raw postgres");
        sqlx::query(sql).execute(&mut c).await.expect("raw sql");
    }
}

fn root_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The independent Python verifier on `text`: (exit code, stdout).
fn python_verify(text: &str, pin: &str) -> (i32, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("export.json");
    std::fs::write(&file, text).expect("write export");
    let out = Command::new("python3")
        .arg(root_dir().join("interop/audit_chain.py"))
        .args(["verify-export", file.to_str().expect("path"), "--pin", pin])
        .output()
        .expect("python3 must be on PATH to run the independent audit-chain peer (interop/audit_chain.py)");
    (out.status.code().expect("exit code"), String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn faults(text: &str, pin: &str) -> Vec<String> {
    match verify_user_export(text.as_bytes(), pin) {
        Err(UserExportError::Records(f)) => f.iter().map(ToString::to_string).collect(),
        Err(e) => vec![e.to_string()],
        Ok(s) => panic!("accepted: {s}"),
    }
}

fn event(owner: &str, i: u32) -> AuditEvent {
    let subject = if owner == "bob" { BOB_CANARY.to_owned() } else { format!("cred-{i}") };
    AuditEvent::new(format!("user:{owner}"), Action::Signed, subject, json!({ "n": i })).owner(owner)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_verifies_their_own_trail_alone() {
    on_both("a_user_verifies_their_own_trail_alone", |url| async move {
        let env = start(&url).await;
        let alice = env.login("alice").await;
        let bob = env.login("bob").await;

        // In the OpenAPI document, with its answer's schema.
        let (_, doc) = env.get("/openapi.json", None).await;
        let doc: Value = serde_json::from_str(&doc).expect("openapi");
        let op = &doc["paths"]["/v1/audit/export"]["get"];
        assert!(op["responses"]["200"].is_object() && op["responses"]["503"].is_object(), "{op}");
        assert!(doc["components"]["schemas"]["UserAuditExport"]["properties"]["records"].is_object());

        // Before any checkpoint: a clear 503; unauthenticated: 401; bad paging: 400.
        let (status, body) = env.get("/v1/audit/export", Some(&alice)).await;
        assert_eq!(status, 503, "{body}");
        assert!(body.contains("no signed checkpoint"), "{body}");
        assert_eq!(env.get("/v1/audit/export", None).await.0, 401);
        for q in ["limit=0", "limit=1001", "after=-1", "x=1"] {
            assert_eq!(env.get(&format!("/v1/audit/export?{q}"), Some(&alice)).await.0, 400, "{q}");
        }

        // Interleaved records of both users and of no user.
        for i in 0..40u32 {
            let owner = if i % 3 == 0 { "bob" } else { "alice" };
            env.audit.record(event(owner, i)).await.expect("record");
            if i % 10 == 0 {
                env.audit
                    .record(AuditEvent::new("operator:ops", Action::KillSwitch, "", json!({})))
                    .await
                    .expect("rec");
            }
        }
        env.covered().await;

        let (status, text) = env.get("/v1/audit/export", Some(&alice)).await;
        assert_eq!(status, 200, "{text}");
        let summary = verify_user_export(text.as_bytes(), &env.pin).expect("Alice's export verifies");
        let alices = (0..40).filter(|i| i % 3 != 0).count() as u64;
        assert_eq!((summary.user.as_str(), summary.records), ("alice", alices), "{summary}");
        assert!(!text.contains(BOB_CANARY) && !text.contains("\"bob\""), "nothing of Bob's records");
        let doc: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(doc["more"], false);

        // The independent verifier agrees, word for word.
        assert_eq!(python_verify(&text, &env.pin), (0, summary.to_string()));
        // The whole chain still verifies with the v2 checkpoints (their tree roots included).
        let s = sealgate_server::audit::verify_store(&env.store, sealgate_audit::jsonl::Trust::Pin(&env.pin))
            .await
            .expect("the chain verifies");
        assert!(s.checkpoints_verified >= 1);

        // A wrong pin is refused.
        assert!(matches!(verify_user_export(text.as_bytes(), "wrong-pin"), Err(UserExportError::RootKey(_))));

        // Pages: two records, then the rest from next_after, each verifying on its own.
        let (_, page) = env.get("/v1/audit/export?limit=2", Some(&alice)).await;
        let p: Value = serde_json::from_str(&page).expect("json");
        assert_eq!((p["records"].as_array().map(Vec::len), &p["more"]), (Some(2), &json!(true)));
        verify_user_export(page.as_bytes(), &env.pin).expect("page 1 verifies");
        let (_, rest) = env.get(&format!("/v1/audit/export?after={}", p["next_after"]), Some(&alice)).await;
        let s2 = verify_user_export(rest.as_bytes(), &env.pin).expect("page 2 verifies");
        assert_eq!(s2.records, alices - 2);

        // --- attacks: each must fail, in Rust and in Python ------------------------------------
        let (_, bob_text) = env.get("/v1/audit/export", Some(&bob)).await;
        let bob_doc: Value = serde_json::from_str(&bob_text).expect("json");
        let mut attacks: Vec<(&str, Value, &str)> = Vec::new();

        // A record swapped in from another user (with its own valid proof).
        let mut swapped = doc.clone();
        swapped["records"][1] = bob_doc["records"][0].clone();
        attacks.push(("swapped", swapped, "names another user"));
        // Bob's export relabelled as Alice's.
        let mut relabelled = bob_doc.clone();
        relabelled["user"] = json!("alice");
        attacks.push(("relabelled", relabelled, "names another user"));
        // A proof for another index: two records' proofs exchanged; an index moved.
        let mut crossed = doc.clone();
        let p0 = crossed["records"][0]["proof"].clone();
        crossed["records"][0]["proof"] = crossed["records"][1]["proof"].clone();
        crossed["records"][1]["proof"] = p0;
        attacks.push(("crossed proofs", crossed, "does not lead to the signed tree root"));
        let mut moved = doc.clone();
        moved["records"][0]["index"] = json!(moved["records"][0]["index"].as_u64().expect("index") + 1);
        attacks.push(("moved index", moved, "is not the leaf of seq"));
        // A truncated tree: a smaller size than the one signed; a path cut short.
        let mut smaller = doc.clone();
        smaller["records"][0]["tree_size"] = json!(smaller["records"][0]["tree_size"].as_u64().expect("size") - 1);
        attacks.push(("smaller tree", smaller, "no verified checkpoint signs a tree of size"));
        let mut cut = doc.clone();
        cut["records"][0]["proof"].as_array_mut().expect("proof").pop();
        attacks.push(("cut path", cut, "inclusion proof"));
        // A forged checkpoint: another root hash under the old signature.
        let mut forged = doc.clone();
        forged["checkpoints"][0]["tree_root"] = json!("00".repeat(32));
        attacks.push(("forged checkpoint", forged, "signature does not verify"));
        // A record's bytes changed in the export.
        let mut edited = doc.clone();
        let mut bytes = B64.decode(edited["records"][0]["record"].as_str().expect("record")).expect("b64");
        let at = bytes.windows(5).position(|w| w == b"cred-").expect("subject") + 5;
        bytes[at] = if bytes[at] == b'9' { b'8' } else { bytes[at] + 1 };
        edited["records"][0]["record"] = json!(B64.encode(&bytes));
        attacks.push(("edited bytes", edited, "does not lead to the signed tree root"));

        for (name, attack, want) in attacks {
            let text = attack.to_string();
            let f = faults(&text, &env.pin);
            assert!(f.iter().any(|l| l.contains(want)), "{name}: {f:?}");
            let (code, out) = python_verify(&text, &env.pin);
            assert_eq!(code, 1, "{name}: the Python peer accepted it: {out}");
            assert!(out.starts_with("refused:"), "{name}: {out}");
        }

        // A record edited in the database after it was signed: the export names it.
        let first = doc["records"][0]["index"].as_u64().expect("index") + 1;
        raw_sql(&url, &format!("UPDATE audit_log SET subject = 'rewritten' WHERE seq = {first}")).await;
        let (status, tampered) = env.get("/v1/audit/export", Some(&alice)).await;
        assert_eq!(status, 200);
        let f = faults(&tampered, &env.pin);
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].starts_with(&format!("record 1 (seq {first}): ")) && f[0].contains("signed tree root"), "{f:?}");
        assert_eq!(python_verify(&tampered, &env.pin).0, 1);
        // Neither does the whole chain verify any more.
        assert!(
            sealgate_server::audit::verify_store(&env.store, sealgate_audit::jsonl::Trust::Pin(&env.pin))
                .await
                .is_err()
        );
        env.store.close().await;
    })
    .await;
}
