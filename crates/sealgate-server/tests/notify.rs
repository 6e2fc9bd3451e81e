//! The notifier end to end, on SQLite and PostgreSQL: the api router on 127.0.0.1:0, real
//! notifier workers, a real SMTP server (aiosmtpd) and a webhook receiver that verifies every
//! signature with the Standard Webhooks library (interop/notify/sink.py; installed by
//! scripts/setup-notify.sh — missing peers FAIL the test unless SEALGATE_SKIP_NOTIFY=1).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sealgate_envelope::secrecy::ExposeSecret as _;
use sealgate_envelope::{Curve, LocalKey, Scope, SealRequest, seal_credential};
use sealgate_server::api::{self, ApiState, RecipientSet};
use sealgate_server::audit::AuditLog;
use sealgate_server::auth::{Auth, AuthConfig, LocalConfig};
use sealgate_server::metrics::Metrics;
use sealgate_server::notifier::{Notifier, NotifierConfig, NotifyEvent, NotifyKey, SmtpConfig, StartTls};
use sealgate_store::{CredentialStatus, Store};
use serde_json::{Value, json};

#[path = "../../sealgate-store/tests/harness/mod.rs"]
mod harness;
mod notify_sink;
mod session;

use notify_sink::{Sink, start_sink};

const CANARY: &str = "CANARY-notify-s3cr3t-19ab";
/// How every envelope begins: base64url of `{"alg":"ECDH`.
const JWE_PREFIX: &str = "eyJhbGciOiJFQ0RI";

// --- the api ---------------------------------------------------------------------------------

struct Env {
    base: String,
    http: reqwest::Client,
    store: Store,
    auth: Arc<Auth>,
    key: Arc<NotifyKey>,
    keys: HashMap<&'static str, LocalKey>,
    _dir: tempfile::TempDir,
    /// Every response text, for the canary check.
    seen: std::sync::Mutex<Vec<String>>,
}

use session::Session as Who;

async fn start(url: &str) -> Env {
    let store = Store::connect(url).await.expect("connect");
    let mut keys = HashMap::new();
    for (role, kid) in [("importer", "importer-v1"), ("trader", "trader-v1")] {
        let k = LocalKey::generate_ec(Curve::P256, kid).expect("key");
        store.add_recipient_key(kid, role, &k.public().to_json().to_string()).await.expect("add key");
        keys.insert(role, k);
    }
    for u in ["alice", "bob", "carol"] {
        store.create_user(u, None).await.expect("user");
    }
    let dir = tempfile::tempdir().expect("dir");
    let key = Arc::new(NotifyKey::load_or_create(&dir.path().join("notify.key"), true).expect("notify key"));
    let auth = Arc::new(
        Auth::new(store.clone(), AuthConfig { local: Some(LocalConfig::default()), oidc: None }).expect("auth"),
    );
    let state = ApiState {
        store: store.clone(),
        audit: AuditLog::start(store.clone(), None),
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
    Env { base, http, store, auth, key, keys, _dir: dir, seen: Default::default() }
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

    fn seal(&self, role: &str, sub: &str, cid: &str, scope: &str) -> String {
        let req = SealRequest {
            sub: sub.into(),
            cid: cid.into(),
            exch: "binance".into(),
            aud: role.into(),
            scope: Scope::parse_list(scope).expect("scope"),
            iat: SystemTime::now().duration_since(UNIX_EPOCH).expect("time").as_secs(),
            own: None,
        };
        let plaintext = json!({"api_key": "AKIAEXAMPLEKEY0000WXYZ", "api_secret": CANARY}).to_string();
        seal_credential(plaintext.as_bytes(), self.keys[role].public(), &req).expect("seal").0
    }

    async fn create(&self, who: &Who, user: &str, cid: &str) {
        let body = json!({"id": cid, "exchange": "binance", "label": "main", "envelopes": [
            {"role": "importer", "jwe": self.seal("importer", user, cid, "read")},
            {"role": "trader", "jwe": self.seal("trader", user, cid, "read,trade")},
        ]});
        let (status, text) = self.call("POST", "/v1/credentials", Some(who), Some(body)).await;
        assert_eq!(status, 201, "{text}");
    }

    fn notifier(&self, store: Store, sink: &Sink, name: &str, backoff: Duration) -> Notifier {
        let config = NotifierConfig {
            smtp: Some(SmtpConfig {
                url: format!("smtp://127.0.0.1:{}", sink.smtp),
                starttls: StartTls::None,
                from: "sealgate@example.test".into(),
                credentials_file: None,
            }),
            public_url: self.base.clone(),
            backoff_base: backoff,
            backoff_cap: backoff * 4,
            // The receiver is on loopback (the refusal without this is tested below).
            allow_private_webhooks: true,
            ..NotifierConfig::default()
        };
        Notifier::new(store, self.key.clone(), Arc::new(config), name.into(), Arc::new(Metrics::default()))
            .expect("notifier")
    }
}

/// The URL after `prefix` in `text` (up to whitespace).
fn link(text: &str, path: &str) -> String {
    let at = text.find(path).unwrap_or_else(|| panic!("no {path} link in: {text}"));
    let start = text[..at].rfind("http").expect("scheme");
    text[start..].split_whitespace().next().expect("url").to_owned()
}

// --- tests -----------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn notifications_end_to_end() {
    harness::on_both("notifications_end_to_end", |db| async move {
        let Some(sink) = start_sink(0) else { return };
        let env = start(&db.url).await;
        let notifier = env.notifier(env.store.clone(), &sink, "n1", Duration::from_millis(10));
        let (alice, bob, carol) = (env.login("alice").await, env.login("bob").await, env.login("carol").await);

        // Alice sets her address: the confirmation goes to it, and only to it.
        let (s, t) = env.call("POST", "/v1/notifications/email", Some(&alice), Some(json!({"email": "bad"}))).await;
        assert_eq!(s, 400, "{t}");
        let (s, t) = env
            .call("POST", "/v1/notifications/email", Some(&alice), Some(json!({"email": "alice@example.test"})))
            .await;
        assert_eq!(s, 202, "{t}");
        assert_eq!(notifier.drain().await.expect("drain"), 1);
        let mails = sink.mails();
        assert_eq!(mails.len(), 1);
        assert_eq!(mails[0]["to"], json!(["alice@example.test"]));
        let confirm = link(mails[0]["body"].as_str().expect("body"), "/notify/confirm/");
        // Nothing is set until the link is opened and its button pressed (GET changes nothing).
        let (s, page) = env.call("GET", &confirm, None, None).await;
        assert_eq!(s, 200);
        assert!(page.contains("<form method=\"post\">"), "{page}");
        assert_eq!(env.store.contact("alice").await.expect("contact").email, None);
        let (s, page) = env.call("POST", &confirm, None, None).await;
        assert_eq!(s, 200, "{page}");
        assert!(page.contains("Address confirmed"));
        let (s, _) = env.call("POST", &confirm, None, None).await;
        assert_eq!(s, 410, "a confirmation link works once");
        let (_, t) = env.call("GET", "/v1/notifications/settings", Some(&alice), None).await;
        let settings: Value = serde_json::from_str(&t).expect("json");
        assert_eq!(settings["email"], "alice@example.test");
        assert_eq!(settings["email_source"], "confirmed");

        // Bob has a webhook; the operator has one; carol has nothing.
        let (s, t) = env
            .call("POST", "/v1/notifications/webhooks", Some(&bob), Some(json!({"url": "http://hooks.example/x"})))
            .await;
        assert_eq!(s, 400, "plain http only to loopback: {t}");
        let url = format!("http://127.0.0.1:{}/bob", sink.http);
        let (s, t) = env.call("POST", "/v1/notifications/webhooks", Some(&bob), Some(json!({"url": url}))).await;
        assert_eq!(s, 201, "{t}");
        let created: Value = serde_json::from_str(&t).expect("json");
        let secret = created["secret"].as_str().expect("secret");
        assert!(secret.starts_with("whsec_"));
        sink.add_secret("/bob", secret);
        let (_, t) = env.call("GET", "/v1/notifications/webhooks", Some(&bob), None).await;
        assert!(!t.contains("whsec_"), "the secret is shown once: {t}");
        let (_, t) = env.call("GET", "/v1/notifications/webhooks", Some(&alice), None).await;
        assert_eq!(serde_json::from_str::<Value>(&t).expect("json")["webhooks"], json!([]), "bob's are bob's");
        let (s, _) = env
            .call(
                "DELETE",
                &format!("/v1/notifications/webhooks/{}", created["id"].as_str().expect("id")),
                Some(&alice),
                None,
            )
            .await;
        assert_eq!(s, 404, "alice cannot remove bob's endpoint");
        env.store
            .add_webhook_endpoint("wh_operator", None, &format!("http://127.0.0.1:{}/op", sink.http))
            .await
            .expect("operator hook");
        sink.add_secret("/op", env.key.webhook_secret("wh_operator").expose_secret());

        // The events.
        env.create(&alice, "alice", "a1").await;
        env.create(&bob, "bob", "b1").await;
        env.create(&carol, "carol", "c1").await;
        let (s, t) = env.call("DELETE", "/v1/credentials/a1/roles/trader", Some(&alice), None).await;
        assert_eq!(s, 200, "{t}");
        assert_eq!(notifier.drain().await.expect("drain"), 2 + 2 + 1 + 2);

        let mails = sink.mails();
        let to: BTreeSet<String> = mails.iter().map(|m| m["to"][0].as_str().expect("to").to_owned()).collect();
        assert_eq!(to, BTreeSet::from(["alice@example.test".to_owned()]), "mail reaches alice only");
        let kinds: Vec<&str> = mails[1..].iter().map(|m| m["subject"].as_str().expect("subject")).collect();
        assert_eq!(kinds.len(), 2, "{kinds:?}");
        assert!(kinds[0].contains("credential was added") && kinds[1].contains("revoked"), "{kinds:?}");
        let hooks = sink.hooks();
        assert!(hooks.iter().all(|h| h["verified"] == json!(true)), "every signature verifies: {hooks:?}");
        let by = |p: &str| hooks.iter().filter(|h| h["path"] == p).collect::<Vec<_>>();
        let (bob_hooks, op_hooks) = (by("/bob"), by("/op"));
        assert_eq!(bob_hooks.len(), 1, "bob: his own credential only");
        assert_eq!(bob_hooks[0]["payload"]["data"]["credential_id"], "b1");
        assert!(bob_hooks[0]["payload"]["data"]["lockdown_url"].as_str().is_some_and(|u| u.contains("/lockdown/")));
        let op_events: BTreeSet<(String, String)> = op_hooks
            .iter()
            .map(|h| {
                let d = &h["payload"]["data"];
                (d["user"].as_str().expect("user").to_owned(), h["payload"]["type"].as_str().expect("type").to_owned())
            })
            .collect();
        assert_eq!(op_hooks.len(), 4);
        assert_eq!(op_events.len(), 4, "one per event: {op_events:?}");
        assert!(
            op_hooks.iter().all(|h| h["payload"]["data"].get("lockdown_url").is_none()),
            "no user link to operators"
        );
        let ids: BTreeSet<&str> = hooks.iter().map(|h| h["id"].as_str().expect("id")).collect();
        assert_eq!(ids.len(), hooks.len(), "one webhook-id per message");

        // The lockdown link in alice's message: GET asks, POST freezes, once.
        let lockdown = link(mails[1]["body"].as_str().expect("body"), "/lockdown/");
        let (s, page) = env.call("GET", &lockdown, None, None).await;
        assert_eq!(s, 200);
        assert!(page.contains("Freeze all my credentials"), "{page}");
        let a1 = env.store.get_credential("alice", "a1").await.expect("get").expect("a1");
        assert_eq!(a1.status, CredentialStatus::Active, "GET (a link prefetcher) changes nothing");
        let (s, page) = env.call("POST", &lockdown, None, None).await;
        assert_eq!(s, 200, "{page}");
        assert!(page.contains("1 credential(s) were frozen"), "{page}");
        let a1 = env.store.get_credential("alice", "a1").await.expect("get").expect("a1");
        assert_eq!(a1.status, CredentialStatus::Frozen);
        let b1 = env.store.get_credential("bob", "b1").await.expect("get").expect("b1");
        assert_eq!(b1.status, CredentialStatus::Active, "only that user's credentials");
        let (s, page) = env.call("POST", &lockdown, None, None).await;
        assert_eq!(s, 410);
        assert!(page.contains("already used"), "{page}");
        let trail = env.store.audit_for_owner("alice", 0, 1000).await.expect("audit");
        assert!(
            trail.iter().any(|r| r.action == "lockdown" && r.actor == "lockdown-link:alice"),
            "the lockdown by link is on alice's record"
        );
        // Another of alice's links (the revocation message's) still works: each is single-use.
        let other = link(mails[2]["body"].as_str().expect("body"), "/lockdown/");
        assert_ne!(other, lockdown);
        let (s, _) = env.call("GET", &other, None, None).await;
        assert_eq!(s, 200);
        // Expired, and unknown.
        let (token, hash) = sealgate_server::notifier::new_link_token().expect("token");
        let past = i64::try_from(sealgate_server::now_ms()).expect("now") - 1;
        env.store.add_lockdown_token(&hash, "alice", None, past).await.expect("token");
        let (s, page) = env.call("POST", &format!("/lockdown/{}", token.as_str()), None, None).await;
        assert_eq!(s, 410);
        assert!(page.contains("expired"), "{page}");
        let (s, _) = env.call("POST", &format!("/lockdown/{}", "A".repeat(43)), None, None).await;
        assert_eq!(s, 404);
        let (s, _) = env.call("POST", "/lockdown/short", None, None).await;
        assert_eq!(s, 404);
        // The lockdown by link is itself notified (alice and the operator).
        assert_eq!(notifier.drain().await.expect("drain"), 2);
        let last = sink.mails().pop().expect("mail");
        assert!(last["body"].as_str().expect("body").contains("with a lockdown link"), "{last}");

        // No secret anywhere: not in a message, not in the outbox, not in a response; and no
        // raw link token in the database.
        let mut texts: Vec<String> = sink.mails().iter().map(|m| m["raw"].as_str().expect("raw").to_owned()).collect();
        texts.extend(sink.hooks().iter().map(|h| h["raw"].as_str().expect("raw").to_owned()));
        texts.extend(env.seen.lock().expect("lock").iter().cloned());
        let bodies = env.store.list_notifications(None, 1000).await.expect("list");
        for t in &texts {
            assert!(!t.contains(CANARY) && !t.contains(JWE_PREFIX), "a secret or envelope leaked: {t}");
        }
        let outbox = env.store.pending_notifications(1000).await.expect("pending");
        assert!(outbox.is_empty(), "everything was sent: {outbox:?}");
        assert!(bodies.iter().all(|n| n.state == "sent"));
        let tok = lockdown.rsplit('/').next().expect("token").to_owned();
        if let Some(path) = &db.sqlite_path {
            env.store.close().await;
            for suffix in ["", "-wal"] {
                let bytes = std::fs::read(format!("{}{suffix}", path.display())).unwrap_or_default();
                for needle in [tok.as_bytes(), CANARY.as_bytes()] {
                    assert!(
                        !bytes.windows(needle.len()).any(|w| w == needle),
                        "raw token or canary in the database file"
                    );
                }
            }
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_webhooks_are_retried_with_the_same_id() {
    harness::on_both("failed_webhooks_are_retried_with_the_same_id", |db| async move {
        let Some(sink) = start_sink(1) else { return };
        let env = start(&db.url).await;
        let notifier = env.notifier(env.store.clone(), &sink, "n1", Duration::from_millis(200));
        env.store
            .add_webhook_endpoint("wh_b", Some("bob"), &format!("http://127.0.0.1:{}/b", sink.http))
            .await
            .expect("hook");
        sink.add_secret("/b", env.key.webhook_secret("wh_b").expose_secret());
        let event = NotifyEvent::RoleRevoked { user: "bob".into(), credential_id: "b1".into(), role: "trader".into() };
        assert_eq!(sealgate_server::notifier::enqueue(&env.store, &event).await.expect("enqueue"), 1);
        assert_eq!(notifier.drain().await.expect("drain"), 0, "the receiver refused the first attempt");
        let rows = env.store.list_notifications(None, 10).await.expect("list");
        assert_eq!((rows[0].state.as_str(), rows[0].attempts), ("queued", 1));
        assert_eq!(rows[0].last_error.as_deref(), Some("webhook: HTTP 503"));
        assert_eq!(notifier.drain().await.expect("drain"), 0, "not before its backoff");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(notifier.drain().await.expect("drain"), 1);
        let hooks = sink.hooks();
        assert_eq!(hooks.len(), 2);
        assert_eq!(hooks[0]["id"], hooks[1]["id"], "a retry keeps its webhook-id");
        assert_eq!(hooks[1]["verified"], json!(true));
        // A message whose attempts run out is failed, for the operator to see.
        env.store.add_webhook_endpoint("wh_dead", Some("carol"), "http://127.0.0.1:9/dead").await.expect("hook");
        let event =
            NotifyEvent::RoleRevoked { user: "carol".into(), credential_id: "c1".into(), role: "trader".into() };
        sealgate_server::notifier::enqueue(&env.store, &event).await.expect("enqueue");
        let short = Notifier::new(
            env.store.clone(),
            env.key.clone(),
            Arc::new(NotifierConfig {
                public_url: env.base.clone(),
                backoff_base: Duration::from_millis(1),
                backoff_cap: Duration::from_millis(2),
                ..NotifierConfig::default()
            }),
            "n2".into(),
            Arc::new(Metrics::default()),
        )
        .expect("notifier");
        for _ in 0..8 {
            let _ = short.drain().await.expect("drain");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let failed = env.store.list_notifications(Some("failed"), 10).await.expect("list");
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].attempts, 8);
        assert!(failed[0].last_error.as_deref().is_some_and(|e| e.starts_with("webhook:")), "{:?}", failed[0]);
    })
    .await;
}

/// Two notifiers, each with its own connection pool (on PostgreSQL: `FOR UPDATE SKIP
/// LOCKED` between their sessions), drain one outbox at once: every message is sent once.
#[tokio::test(flavor = "multi_thread")]
async fn two_senders_send_each_message_once() {
    harness::on_both("two_senders_send_each_message_once", |db| async move {
        let Some(sink) = start_sink(0) else { return };
        let env = start(&db.url).await;
        const USERS: usize = 40;
        const EVENTS: usize = 5;
        for u in 0..USERS {
            let id = format!("u{u}");
            env.store.create_user(&id, None).await.expect("user");
            env.store.set_contact_email(&id, &format!("{id}@example.test"), "confirmed").await.expect("contact");
            for e in 0..EVENTS {
                let ev = NotifyEvent::RoleRevoked {
                    user: id.clone(),
                    credential_id: format!("c{e}"),
                    role: "trader".into(),
                };
                sealgate_server::notifier::enqueue(&env.store, &ev).await.expect("enqueue");
            }
        }
        let (s1, s2) = (Store::connect(&db.url).await.expect("s1"), Store::connect(&db.url).await.expect("s2"));
        let (n1, n2) = (
            env.notifier(s1, &sink, "sender-1", Duration::from_secs(1)),
            env.notifier(s2, &sink, "sender-2", Duration::from_secs(1)),
        );
        let (a, b) = tokio::join!(n1.drain(), n2.drain());
        let (a, b) = (a.expect("drain 1"), b.expect("drain 2"));
        assert_eq!(a + b, (USERS * EVENTS) as u64);
        let mails = sink.mails();
        assert_eq!(mails.len(), USERS * EVENTS, "each message once");
        let distinct: BTreeSet<(String, String)> = mails
            .iter()
            .map(|m| {
                (
                    m["to"][0].as_str().expect("to").to_owned(),
                    m["body"].as_str().expect("body").lines().next().unwrap_or("").to_owned(),
                )
            })
            .collect();
        assert_eq!(distinct.len(), USERS * EVENTS, "no message twice, none missing");
        if db.backend == "postgres" {
            assert!(a > 0 && b > 0, "both senders took a share ({a}, {b})");
        }
    })
    .await;
}

/// Refused withdraws and trades reach a user only if they asked, and never operators; the
/// other events reach the user's address, their endpoints and the operators'.
#[tokio::test(flavor = "multi_thread")]
async fn refusals_go_only_to_users_who_asked() {
    harness::on_both("refusals_go_only_to_users_who_asked", |db| async move {
        let env = start(&db.url).await;
        let alice = env.login("alice").await;
        env.store.set_contact_email("alice", "alice@example.test", "confirmed").await.expect("contact");
        env.store.add_webhook_endpoint("wh_a", Some("alice"), "https://hooks.example/a").await.expect("hook");
        env.store.add_webhook_endpoint("wh_op", None, "https://ops.example/h").await.expect("hook");
        let refused = NotifyEvent::Refused {
            user: "alice".into(),
            credential_id: "a1".into(),
            what: "withdraw".into(),
            reason: "withdraw is not in the credential's scope".into(),
        };
        let enqueue = |e: NotifyEvent| {
            let store = env.store.clone();
            async move { sealgate_server::notifier::enqueue(&store, &e).await.expect("enqueue") }
        };
        assert_eq!(enqueue(refused.clone()).await, 0, "not asked for");
        let (s, t) =
            env.call("PUT", "/v1/notifications/settings", Some(&alice), Some(json!({"notify_refusals": true}))).await;
        assert_eq!(s, 200, "{t}");
        assert_eq!(enqueue(refused).await, 2, "her address and her endpoint; not the operator's");
        let revoked =
            NotifyEvent::RoleRevoked { user: "alice".into(), credential_id: "a1".into(), role: "trader".into() };
        assert_eq!(enqueue(revoked).await, 3);
        let other = NotifyEvent::RoleRevoked { user: "bob".into(), credential_id: "b1".into(), role: "trader".into() };
        assert_eq!(enqueue(other).await, 1, "bob has nowhere but the operator");
        let rows = env.store.list_notifications(None, 100).await.expect("list");
        assert!(
            rows.iter().filter(|r| r.user_id.as_deref() == Some("bob")).count() == 0,
            "nothing addressed to bob's name"
        );
    })
    .await;
}

/// Two clicks on one lockdown link at once (two servers, a double submit): one freezes, the
/// other is told the link was used. Confirmation links are rate limited per user.
#[tokio::test(flavor = "multi_thread")]
async fn links_are_used_once_under_races_and_confirmations_are_bounded() {
    harness::on_both("links_are_used_once_under_races_and_confirmations_are_bounded", |db| async move {
        let env = Arc::new(start(&db.url).await);
        let alice = env.login("alice").await;
        env.create(&alice, "alice", "a1").await;
        for _ in 0..5 {
            let (token, hash) = sealgate_server::notifier::new_link_token().expect("token");
            env.store.add_lockdown_token(&hash, "alice", None, i64::MAX).await.expect("token");
            let url = format!("/lockdown/{}", token.as_str());
            let (a, b) = tokio::join!(env.call("POST", &url, None, None), env.call("POST", &url, None, None));
            let mut statuses = [a.0, b.0];
            statuses.sort_unstable();
            assert_eq!(statuses, [200, 410], "{} / {}", a.1, b.1);
        }
        let body = json!({"email": "someone@example.test"});
        for _ in 0..5 {
            let (s, t) = env.call("POST", "/v1/notifications/email", Some(&alice), Some(body.clone())).await;
            assert_eq!(s, 202, "{t}");
        }
        let (s, t) = env.call("POST", "/v1/notifications/email", Some(&alice), Some(body)).await;
        assert_eq!(s, 429, "{t}");
    })
    .await;
}

/// A user's webhook endpoint may not reach the deployment's own network (SSRF): an address
/// on loopback is refused at delivery by default; an operator's endpoint is trusted.
#[tokio::test(flavor = "multi_thread")]
async fn users_webhooks_to_private_addresses_are_refused() {
    harness::on_both("users_webhooks_to_private_addresses_are_refused", |db| async move {
        let Some(sink) = start_sink(0) else { return };
        let env = start(&db.url).await;
        let strict = Notifier::new(
            env.store.clone(),
            env.key.clone(),
            Arc::new(NotifierConfig { public_url: env.base.clone(), ..NotifierConfig::default() }),
            "strict".into(),
            Arc::new(Metrics::default()),
        )
        .expect("notifier");
        for (id, user, path) in [("wh_u", Some("bob"), "/u"), ("wh_o", None, "/o")] {
            let url = format!("http://localhost:{}{path}", sink.http);
            env.store.add_webhook_endpoint(id, user, &url).await.expect("hook");
            sink.add_secret(path, env.key.webhook_secret(id).expose_secret());
        }
        let event = NotifyEvent::RoleRevoked { user: "bob".into(), credential_id: "b1".into(), role: "trader".into() };
        assert_eq!(sealgate_server::notifier::enqueue(&env.store, &event).await.expect("enqueue"), 2);
        assert_eq!(strict.drain().await.expect("drain"), 1, "the operator's only");
        let hooks = sink.hooks();
        assert_eq!(hooks.len(), 1);
        assert_eq!(hooks[0]["path"], "/o");
        let queued = env.store.list_notifications(Some("queued"), 10).await.expect("list");
        assert_eq!(queued.len(), 1);
        assert!(queued[0].last_error.as_deref().is_some_and(|e| e.contains("loopback, private")), "{:?}", queued[0]);
    })
    .await;
}
