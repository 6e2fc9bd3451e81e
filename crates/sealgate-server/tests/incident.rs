//! An incident end to end, on SQLite and PostgreSQL: the api router on 127.0.0.1:0, real
//! notifier workers, a real SMTP server (aiosmtpd) and a webhook receiver that verifies every
//! signature with the Standard Webhooks library (interop/notify/sink.py; installed by
//! scripts/setup-notify.sh — missing peers FAIL the test unless SEALGATE_SKIP_NOTIFY=1).
//! Freeze, rotate, re-wrap, notify and report, killed after steps and resumed: nothing
//! twice; exactly one message per affected user, none to anyone else; the lockdown link in
//! the message works once; no secret anywhere.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sealgate_custody::Custody;
use sealgate_custody::local::{LocalCustody, MasterKey};
use sealgate_envelope::secrecy::ExposeSecret as _;
use sealgate_envelope::{Scope, SealRequest, seal_credential};
use sealgate_server::api::{self, ApiState, RecipientSet};
use sealgate_server::audit::{AuditLog, CheckpointPolicy};
use sealgate_server::auth::{Auth, AuthConfig, LocalConfig};
use sealgate_server::incident::{IncidentError, OpenRequest, RunOptions};
use sealgate_server::metrics::Metrics;
use sealgate_server::notifier::{Notifier, NotifierConfig, NotifyKey, SmtpConfig, StartTls};
use sealgate_store::{CredentialStatus, Store};
use serde_json::{Value, json};

#[path = "../../sealgate-store/tests/harness/mod.rs"]
mod harness;
mod notify_sink;
mod session;

use notify_sink::{Sink, start_sink};

const CANARY: &str = "CANARY-incident-s3cr3t-77cd";
/// How every envelope begins: base64url of `{"alg":"ECDH`.
const JWE_PREFIX: &str = "eyJhbGciOiJFQ0RI";
// --- the api and the custody -----------------------------------------------------------------

struct Env {
    base: String,
    http: reqwest::Client,
    store: Store,
    audit: AuditLog,
    auth: Arc<Auth>,
    key: Arc<NotifyKey>,
    custody: Arc<dyn Custody>,
    _dir: tempfile::TempDir,
    seen: std::sync::Mutex<Vec<String>>,
}

use session::Session as Who;

async fn start(url: &str) -> Env {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o700)).expect("chmod");
    let master = MasterKey::generate_key_file(&dir.path().join("master.key")).expect("master key");
    let custody: Arc<dyn Custody> = Arc::new(LocalCustody::init(&dir.path().join("keyring"), master).expect("keyring"));
    let store = Store::connect(url).await.expect("connect");
    // Creates importer-v1 and trader-v1 and publishes them in the store.
    sealgate_server::serve::sync_recipient_keys(custody.as_ref(), &store).await.expect("keys");
    for u in ["alice", "bob", "carol", "dave"] {
        store.create_user(u, None).await.expect("user");
    }
    let key = Arc::new(NotifyKey::load_or_create(&dir.path().join("notify.key"), true).expect("notify key"));
    let auth = Arc::new(
        Auth::new(store.clone(), AuthConfig { local: Some(LocalConfig::default()), oidc: None }).expect("auth"),
    );
    let audit = AuditLog::start(
        store.clone(),
        Some(CheckpointPolicy { custody: custody.clone(), every_records: 1000, every: Duration::from_millis(200) }),
    );
    let state = ApiState {
        store: store.clone(),
        audit: audit.clone(),
        trader: None,
        recipients: Arc::new(tokio::sync::RwLock::new(RecipientSet { jws: "x.e30.x".into(), pin: "pin".into() })),
        auth: auth.clone(),
        on_change: None,
        notify: Some(key.clone()),
        passkeys: None,
        held_keys: None,
        prices: None,
        valuations: Default::default(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, api::router(state)).await });
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    Env { base, http, store, audit, auth, key, custody, _dir: dir, seen: Default::default() }
}

impl Env {
    async fn call(&self, method: &str, path: &str, who: Option<&Who>, body: Option<Value>) -> (u16, String) {
        let url = if path.starts_with("http") { path.to_owned() } else { format!("{}{path}", self.base) };
        let mut rb = self.http.request(reqwest::Method::from_bytes(method.as_bytes()).expect("method"), url);
        if let Some(w) = who {
            rb = rb
                .header("cookie", format!("sealgate_session={}; sealgate_csrf={}", w.cookie, w.csrf))
                .header("x-csrf-token", &w.csrf);
        }
        if let Some(b) = body {
            rb = rb.header("content-type", "application/json").body(b.to_string());
        }
        let r = rb.send().await.expect("send");
        let status = r.status().as_u16();
        let text = r.text().await.expect("text");
        self.seen.lock().expect("lock").push(text.clone());
        (status, text)
    }

    async fn login(&self, user: &str) -> Who {
        session::login(&self.http, &self.base, &self.auth, user).await
    }

    async fn active_key(&self, role: &str) -> sealgate_custody::KeyInfo {
        let keys = self.custody.keys().await.expect("keys");
        keys.into_iter().find(|k| k.role == role && k.status == sealgate_custody::KeyStatus::Active).expect("active")
    }

    async fn create(&self, who: &Who, user: &str, cid: &str, exchange: &str) {
        let mut envelopes = Vec::new();
        for (role, scope) in [("importer", "read"), ("trader", "read,trade")] {
            let req = SealRequest {
                sub: user.into(),
                cid: cid.into(),
                exch: exchange.into(),
                aud: role.into(),
                scope: Scope::parse_list(scope).expect("scope"),
                iat: SystemTime::now().duration_since(UNIX_EPOCH).expect("time").as_secs(),
                own: None,
            };
            let plaintext =
                json!({"api_key": format!("AKIAEXAMPLE{cid}KEYWXYZ"), "api_secret": CANARY, "passphrase": CANARY})
                    .to_string();
            // As a client does: to the newest version the api publishes.
            let published = self.store.recipient_keys(Some(role)).await.expect("keys");
            let k = published.iter().rev().find(|k| k.status == sealgate_store::KeyStatus::Active).expect("key");
            let public = sealgate_envelope::PublicJwk::from_json(k.public_jwk.as_bytes()).expect("jwk");
            envelopes.push(
                json!({"role": role, "jwe": seal_credential(plaintext.as_bytes(), &public, &req).expect("seal").0}),
            );
        }
        let body = json!({"id": cid, "exchange": exchange, "label": format!("{cid} label"), "envelopes": envelopes});
        let (status, text) = self.call("POST", "/v1/credentials", Some(who), Some(body)).await;
        assert_eq!(status, 201, "{text}");
    }

    fn notifier(&self, sink: &Sink) -> Notifier {
        let config = NotifierConfig {
            smtp: Some(SmtpConfig {
                url: format!("smtp://127.0.0.1:{}", sink.smtp),
                starttls: StartTls::None,
                from: "sealgate@example.test".into(),
                credentials_file: None,
            }),
            public_url: self.base.clone(),
            backoff_base: Duration::from_millis(10),
            backoff_cap: Duration::from_millis(40),
            allow_private_webhooks: true,
            ..NotifierConfig::default()
        };
        Notifier::new(self.store.clone(), self.key.clone(), Arc::new(config), "n1".into(), Arc::new(Metrics::default()))
            .expect("notifier")
    }

    fn opts(&self, stop_after: Option<&str>) -> RunOptions {
        RunOptions {
            custody: Some(self.custody.clone()),
            batch: 2,
            workers: 2,
            actor: "operator:test".into(),
            stop_after: stop_after.map(str::to_owned),
        }
    }

    async fn status(&self, owner: &str, cid: &str) -> CredentialStatus {
        self.store.get_credential(owner, cid).await.expect("get").expect("credential").status
    }
}

fn link(text: &str, path: &str) -> String {
    let at = text.find(path).unwrap_or_else(|| panic!("no {path} link in: {text}"));
    let start = text[..at].rfind("http").expect("scheme");
    text[start..].split_whitespace().next().expect("url").to_owned()
}

async fn incident_rows(store: &Store) -> Vec<sealgate_store::NotificationState> {
    let all = store.list_notifications(None, 10_000).await.expect("list");
    all.into_iter().filter(|n| n.kind.starts_with("incident")).collect()
}

// --- tests -----------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn incident_end_to_end_with_crashes() {
    harness::on_both("incident_end_to_end_with_crashes", |db| async move {
        let Some(sink) = start_sink(0) else { return };
        let env = start(&db.url).await;
        let (alice, bob, carol, dave) =
            (env.login("alice").await, env.login("bob").await, env.login("carol").await, env.login("dave").await);
        env.store.set_contact_email("alice", "alice@example.test", "confirmed").await.expect("alice mail");
        env.store.set_contact_email("carol", "carol@example.test", "confirmed").await.expect("carol mail");
        env.store
            .add_webhook_endpoint("wh_bob", Some("bob"), &format!("http://127.0.0.1:{}/bob", sink.http))
            .await
            .expect("bob hook");
        sink.add_secret("/bob", env.key.webhook_secret("wh_bob").expose_secret());
        env.store
            .add_webhook_endpoint("wh_op", None, &format!("http://127.0.0.1:{}/op", sink.http))
            .await
            .expect("op hook");
        sink.add_secret("/op", env.key.webhook_secret("wh_op").expose_secret());
        env.create(&alice, "alice", "a1", "binance").await;
        env.create(&alice, "alice", "a2", "binance").await;
        env.create(&alice, "alice", "ak", "kraken").await;
        env.create(&bob, "bob", "b1", "binance").await;
        env.create(&carol, "carol", "c1", "kraken").await;
        env.create(&dave, "dave", "d1", "binance").await;
        // The credential-added messages are not this test's: send them away.
        let notifier = env.notifier(&sink);
        notifier.drain().await.expect("drain");
        let (mails_before, hooks_before) = (sink.mails().len(), sink.hooks().len());
        let old_importer = env.active_key("importer").await.kid;

        // No scope, or a half scope: refused, nothing opened.
        for bad in [
            OpenRequest { reason: "x".into(), actor: "operator:test".into(), ..Default::default() },
            OpenRequest { reason: "x".into(), credential: Some("a1".into()), actor: "o".into(), ..Default::default() },
            OpenRequest {
                reason: "x".into(),
                all: true,
                role: Some("trader".into()),
                actor: "o".into(),
                ..Default::default()
            },
            OpenRequest { reason: " ".into(), all: true, actor: "o".into(), ..Default::default() },
            OpenRequest {
                reason: "x".into(),
                exchange: Some("bin ance".into()),
                actor: "o".into(),
                ..Default::default()
            },
        ] {
            let e = sealgate_server::incident::open(&env.store, &env.audit, &bad).await.expect_err("refused");
            assert!(matches!(e, IncidentError::Refused(_)), "{e}");
        }
        assert!(env.store.incidents(false, 10).await.expect("list").is_empty());

        let req = OpenRequest {
            reason: "binance keys may have leaked from a backup".into(),
            exchange: Some("binance".into()),
            rotate: true,
            actor: "operator:test".into(),
            ..Default::default()
        };
        let inc = sealgate_server::incident::open(&env.store, &env.audit, &req).await.expect("open");

        // Crash 1: right after the custody rotated, before that was recorded.
        let e =
            sealgate_server::incident::run(&env.store, &env.audit, &inc.id, &env.opts(Some("rotate:custody")), |_| {})
                .await
                .expect_err("stopped");
        assert!(matches!(e, IncidentError::Stopped(_)), "{e}");
        for (o, c) in [("alice", "a1"), ("alice", "a2"), ("bob", "b1"), ("dave", "d1")] {
            assert_eq!(env.status(o, c).await, CredentialStatus::Frozen, "{o}/{c} in scope: frozen");
        }
        for (o, c) in [("alice", "ak"), ("carol", "c1")] {
            assert_eq!(env.status(o, c).await, CredentialStatus::Active, "{o}/{c} out of scope");
        }
        // A credential sealed after the freeze is not in the incident's set (a snapshot).
        env.create(&alice, "alice", "a3", "binance").await;
        notifier.drain().await.expect("drain");
        let (mails_before, hooks_before) = (mails_before + 1, hooks_before + 1);

        // Crash 2: after the notify step. The rotation is found done, not done again.
        let e = sealgate_server::incident::run(&env.store, &env.audit, &inc.id, &env.opts(Some("notify")), |_| {})
            .await
            .expect_err("stopped");
        assert!(matches!(e, IncidentError::Stopped(_)), "{e}");
        let keys = env.custody.keys().await.expect("keys");
        for role in ["importer", "trader"] {
            assert_eq!(keys.iter().filter(|k| k.role == role).count(), 2, "{role}: one rotation, not two: {keys:?}");
        }
        let queued = incident_rows(&env.store).await;
        assert_eq!(queued.len(), 3, "alice's mail, bob's hook, the operator's: {queued:?}");

        // Resumed to the end, then once more: nothing is done twice.
        let mut seen_steps = Vec::new();
        let r = sealgate_server::incident::run(&env.store, &env.audit, &inc.id, &env.opts(None), |s| {
            seen_steps.push(s.to_owned())
        })
        .await
        .expect("resume");
        assert_eq!(seen_steps, vec!["report"], "only the step left");
        assert!(r.complete, "{r:?}");
        let again =
            sealgate_server::incident::run(&env.store, &env.audit, &inc.id, &env.opts(None), |s| panic!("ran {s}"))
                .await
                .expect("again");
        assert!(again.complete);
        assert_eq!(incident_rows(&env.store).await.len(), 3, "no message queued twice");
        let step = |n: &str| r.steps.iter().find(|s| s.step == n).expect(n).counts.clone();
        assert_eq!(step("freeze"), json!({"in_scope": 4, "frozen": 4, "users": 3}));
        assert_eq!(step("notify")["reachable_users"], 2, "dave has no address: {r:?}");
        assert_eq!(step("rewrap")["left"], 0);
        assert!(step("rewrap")["rewrapped"].as_u64().expect("n") >= 12, "{r:?}");
        assert_eq!(env.store.envelopes_on_kid(&old_importer).await.expect("left"), 0, "every envelope moved");
        assert!(r.steps.iter().all(|s| s.ended_ms.is_some_and(|e| e >= s.started_ms)));
        let stored = env.store.incident(&inc.id).await.expect("get").expect("incident");
        assert!(stored.report.as_deref().is_some_and(|t| t.contains("\"complete\":true")), "report stored");

        // Delivery: exactly one message per affected user, none to anyone else.
        assert_eq!(notifier.drain().await.expect("drain"), 3);
        let mails = sink.mails()[mails_before..].to_vec();
        let hooks = sink.hooks()[hooks_before..].to_vec();
        assert_eq!(mails.len(), 1, "{mails:?}");
        assert_eq!(mails[0]["to"], json!(["alice@example.test"]));
        let body = mails[0]["body"].as_str().expect("body");
        for needle in
            [&inc.id, "a1 label", "a2 label", "https://www.binance.com/en/my/settings/api-management", "backup"]
        {
            assert!(body.contains(needle), "{needle} missing: {body}");
        }
        assert!(!body.contains("ak label") && !body.contains("a3 label"), "only the incident's credentials: {body}");
        assert!(hooks.iter().all(|h| h["verified"] == json!(true)), "{hooks:?}");
        let by = |p: &str| hooks.iter().filter(|h| h["path"] == p).collect::<Vec<_>>();
        assert_eq!(by("/bob").len(), 1);
        let bob_creds = &by("/bob")[0]["payload"]["data"]["credentials"];
        assert_eq!(bob_creds.as_array().map(Vec::len), Some(1), "{bob_creds}");
        assert_eq!(bob_creds[0]["credential_id"], "b1");
        assert!(by("/bob")[0]["payload"]["data"]["lockdown_url"].as_str().is_some());
        let op = by("/op");
        assert_eq!(op.len(), 1);
        assert_eq!(op[0]["payload"]["type"], "incident_operator");
        assert_eq!(op[0]["payload"]["data"]["credentials"], 4);
        assert!(op[0]["payload"]["data"].get("lockdown_url").is_none());

        // The web client's view: alice sees her two, marked; carol sees nothing.
        let (s, t) = env.call("GET", "/v1/incidents", Some(&alice), None).await;
        assert_eq!(s, 200, "{t}");
        let v: Value = serde_json::from_str(&t).expect("json");
        let ids: BTreeSet<&str> = v["incidents"][0]["credentials"]
            .as_array()
            .expect("creds")
            .iter()
            .filter_map(|c| c["id"].as_str())
            .collect();
        assert_eq!(ids, BTreeSet::from(["a1", "a2"]));
        assert_eq!(
            v["incidents"][0]["credentials"][0]["key_page"],
            "https://www.binance.com/en/my/settings/api-management"
        );
        let (_, t) = env.call("GET", "/v1/incidents", Some(&carol), None).await;
        assert_eq!(serde_json::from_str::<Value>(&t).expect("json")["incidents"], json!([]));
        let (_, t) = env.call("GET", "/v1/credentials", Some(&alice), None).await;
        let v: Value = serde_json::from_str(&t).expect("json");
        let marks: HashMap<&str, bool> = v["credentials"]
            .as_array()
            .expect("list")
            .iter()
            .map(|c| (c["id"].as_str().expect("id"), c["replace_key"].as_bool().expect("mark")))
            .collect();
        assert_eq!(marks, HashMap::from([("a1", true), ("a2", true), ("ak", false), ("a3", false)]));
        // Deleting the old credential (after adding its replacement) clears the mark.
        let (s, _) = env.call("DELETE", "/v1/credentials/a2", Some(&alice), None).await;
        assert_eq!(s, 200);
        let (_, t) = env.call("GET", "/v1/incidents", Some(&alice), None).await;
        assert!(!t.contains("\"a2\""), "{t}");

        // The lockdown link in the message freezes alice's other credentials, once.
        let lockdown = link(body, "/lockdown/");
        let (s, page) = env.call("POST", &lockdown, None, None).await;
        assert_eq!(s, 200, "{page}");
        assert_eq!(env.status("alice", "ak").await, CredentialStatus::Frozen);
        assert_eq!(env.status("carol", "c1").await, CredentialStatus::Active);
        let (s, _) = env.call("POST", &lockdown, None, None).await;
        assert_eq!(s, 410, "a lockdown link works once");
        let (token, hash) = sealgate_server::notifier::new_link_token().expect("token");
        let past = i64::try_from(sealgate_server::now_ms()).expect("now") - 1;
        env.store.add_lockdown_token(&hash, "carol", None, past).await.expect("token");
        let (s, page) = env.call("POST", &format!("/lockdown/{}", token.as_str()), None, None).await;
        assert_eq!(s, 410, "an expired link: {page}");
        assert_eq!(env.status("carol", "c1").await, CredentialStatus::Active);

        // Close: ends it, unfreezes nothing; a closed incident does not run again.
        sealgate_server::incident::close(&env.store, &env.audit, &inc.id, "operator:test").await.expect("close");
        assert_eq!(env.status("alice", "a1").await, CredentialStatus::Frozen, "closing unfreezes nothing");
        assert!(sealgate_server::incident::close(&env.store, &env.audit, &inc.id, "operator:test").await.is_err());
        assert!(
            sealgate_server::incident::run(&env.store, &env.audit, &inc.id, &env.opts(None), |_| {}).await.is_err()
        );
        let trail = env.store.audit_for_owner("alice", 0, 1000).await.expect("audit");
        drop(trail);

        // No secret anywhere: messages, responses, the outbox.
        let mut texts: Vec<String> = sink.mails().iter().map(|m| m["raw"].as_str().expect("raw").to_owned()).collect();
        texts.extend(sink.hooks().iter().map(|h| h["raw"].as_str().expect("raw").to_owned()));
        texts.extend(env.seen.lock().expect("lock").iter().cloned());
        texts.extend(env.store.pending_notifications(1000).await.expect("pending").into_iter().map(|n| n.body));
        texts.push(serde_json::to_string(&r).expect("report"));
        for t in &texts {
            assert!(!t.contains(CANARY) && !t.contains(JWE_PREFIX), "a secret or envelope leaked: {t}");
        }
    })
    .await;
}
