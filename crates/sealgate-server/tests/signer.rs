//! The signer against a real store (SQLite and PostgreSQL), the local
//! keyring custody and the exchange sandbox: policy before the secret,
//! withdrawals refused and audited, lockdown, revocation and the kill switch
//! reaching a warm cache, one unseal per credential and role, nonces shared
//! by two signers, the exchange clock followed, and service tokens.

#[path = "../../sealgate-store/tests/harness/mod.rs"]
mod harness;
mod session;
mod support;

use std::sync::Arc;
use std::time::Duration;

use sealgate_policy::Role;
use sealgate_server::client::{SignerCallError, SignerClient};
use sealgate_server::service_auth::{ServiceKey, ServiceVerifier};
use sealgate_server::signer::{HttpSignerClient, SignerConfig};
use serde_json::Value;
use support::*;

fn json(body: &str) -> Value {
    serde_json::from_str(body).expect("json")
}

async fn audit_actions(world: &World) -> Vec<(String, String)> {
    let rows = world.store.audit_range(0, 10_000).await.expect("audit");
    rows.into_iter().map(|r| (r.action, r.detail)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_decides_before_the_secret_and_every_use_is_audited() {
    harness::on_both("signer_policy", |db| async move {
        let world = World::new(&db.url).await;
        world
            .credential(
                "alice",
                "cid-bn",
                "binance",
                &binance_json(),
                &[("importer", "read"), ("trader", "read,trade")],
            )
            .await;
        let signer = world.signer(world.signer_config());

        // Importer reads.
        let r = signer.forward(Role::Importer, &call("cid-bn", "GET", "/api/v3/account", "", "")).await.expect("read");
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.body.contains("\"BTC\""), "{}", r.body);
        // Importer may not trade: denied, no order reached the exchange.
        let order = call("cid-bn", "POST", "/api/v3/order", "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.1", "");
        let e = signer.forward(Role::Importer, &order).await.expect_err("importer trade");
        assert!(matches!(&e, SignerCallError::Denied(m) if m.contains("importer may not use trade")), "{e}");
        assert_eq!(world.sandbox.free_balance(BINANCE_KEY, "BTC"), Some(amt("1.5")));
        // Trader trades.
        let r = signer.forward(Role::Trader, &order).await.expect("trade");
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(world.sandbox.free_balance(BINANCE_KEY, "BTC"), Some(amt("1.6")));
        // Withdrawal: the user did not seal `withdraw`, and the exchange key would allow it.
        let w = call("cid-bn", "POST", "/sapi/v1/capital/withdraw/apply", "coin=BTC&address=attacker&amount=1", "");
        let e = signer.forward(Role::Trader, &w).await.expect_err("withdraw");
        assert_eq!(e, SignerCallError::Denied("the user did not grant withdraw".into()));
        assert!(world.sandbox.withdrawals().is_empty());
        // Unknown endpoints are denied.
        let e = signer
            .forward(Role::Trader, &call("cid-bn", "GET", "/sapi/v9/whatever", "", ""))
            .await
            .expect_err("unknown");
        assert!(matches!(e, SignerCallError::Denied(_)), "{e}");
        // The one credential id rule is the call's type: an id over 64 characters cannot be
        // named at all (over HTTP such a body is a 400: services_prove_their_role_over_http).
        assert_eq!(
            "x".repeat(65).parse::<sealgate_vocab::CredentialId>().map_err(|e| e.to_string()),
            Err(sealgate_envelope::CREDENTIAL_ID_RULE.to_owned())
        );
        // An unknown credential, or a role without an envelope, is not found.
        let e =
            signer.forward(Role::Trader, &call("nope", "GET", "/api/v3/account", "", "")).await.expect_err("missing");
        assert_eq!(e, SignerCallError::NotFound);

        // Many requests, one unseal per role.
        for _ in 0..20 {
            signer.forward(Role::Importer, &call("cid-bn", "GET", "/api/v3/account", "", "")).await.expect("read");
        }
        let actions = audit_actions(&world).await;
        let count = |a: &str| actions.iter().filter(|(x, _)| x == a).count();
        assert_eq!(count("unsealed"), 2, "{actions:?}");
        assert_eq!(count("forwarded"), 22);
        assert_eq!(count("denied"), 3);
        let withdraw_denial = actions.iter().find(|(a, d)| a == "denied" && d.contains("withdraw")).expect("audited");
        assert!(withdraw_denial.1.contains("\"owner\":\"alice\""), "{withdraw_denial:?}");
        // The audited history names no secret.
        for (_, d) in &actions {
            assert!(!d.contains(BINANCE_SECRET) && !d.contains("signature="), "{d}");
        }

        // Lockdown reaches the warm cache within the revalidation interval.
        assert_eq!(world.store.lockdown("alice").await.expect("lockdown"), 1);
        tokio::time::sleep(Duration::from_millis(600)).await;
        let e = signer
            .forward(Role::Importer, &call("cid-bn", "GET", "/api/v3/account", "", ""))
            .await
            .expect_err("frozen");
        assert_eq!(e, SignerCallError::Denied("the credential is frozen".into()));
        world
            .store
            .set_credential_status("alice", "cid-bn", sealgate_store::CredentialStatus::Active)
            .await
            .expect("thaw");

        // The kill switch stops everything.
        world.store.set_setting(sealgate_store::KILL_SWITCH, "on").await.expect("kill");
        signer.invalidate_all();
        let e =
            signer.forward(Role::Importer, &call("cid-bn", "GET", "/api/v3/account", "", "")).await.expect_err("kill");
        assert_eq!(e, SignerCallError::Denied("the kill switch is on".into()));
        world.store.set_setting(sealgate_store::KILL_SWITCH, "off").await.expect("unkill");
        signer.invalidate_all();

        // Revoking the trader envelope: the trader is gone at once for this signer.
        assert!(world.store.delete_envelope("alice", "cid-bn", "trader").await.expect("revoke"));
        signer.invalidate("alice", "cid-bn");
        let e =
            signer.forward(Role::Trader, &call("cid-bn", "GET", "/api/v3/account", "", "")).await.expect_err("revoked");
        assert_eq!(e, SignerCallError::NotFound);
        signer
            .forward(Role::Importer, &call("cid-bn", "GET", "/api/v3/account", "", ""))
            .await
            .expect("importer still");

        // The chain verifies end to end, checkpoints signed by the custody root included.
        let root = sealgate_audit::RootKey::from_jwk(&world.custody.root_public().await.expect("root")).expect("root");
        let pin = root.thumbprint();
        let summary = sealgate_server::audit::verify_store(&world.store, sealgate_audit::jsonl::Trust::Pin(&pin))
            .await
            .expect("chain verifies");
        assert!(summary.records >= 27 && summary.checkpoints_verified >= 1, "{summary:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_envelope_bound_elsewhere_is_refused_without_opening() {
    harness::on_both("signer_binding", |db| async move {
        let world = World::new(&db.url).await;
        world.credential("alice", "cid-a", "binance", &binance_json(), &[("importer", "read")]).await;
        world.store.create_user("mallory", None).await.expect("user");
        // Mallory's row, holding an envelope Alice sealed for cid-a: the binding refuses it.
        let jwe = world.seal("alice", "cid-a", "binance", "importer", "read", &binance_json());
        let kid = world.keys["importer"].kid().expect("kid").to_owned();
        // Ids are per owner now, so Mallory can also file it under alice's very id: the
        // envelope's `sub` (alice) is not the row's owner (mallory), and that refuses it too.
        for (id, label) in [("cid-m", "stolen"), ("cid-a", "same id")] {
            let row = sealgate_store::NewCredential {
                id,
                owner: "mallory",
                exchange: "binance",
                label,
                hint: "0001",
                scope: "read",
            };
            let envelope = [sealgate_store::NewEnvelope { role: "importer", kid: &kid, jwe: &jwe }];
            world.store.create_credential(&row, &envelope).await.expect("mallory's row");
        }
        let signer = world.signer(world.signer_config());
        for cid in ["cid-m", "cid-a"] {
            let e = signer
                .forward(Role::Importer, &call_as("mallory", cid, "GET", "/api/v3/account", "", ""))
                .await
                .expect_err("bound");
            assert!(matches!(&e, SignerCallError::Denied(m) if m.contains("binding")), "{cid}: {e}");
        }
        let actions = audit_actions(&world).await;
        assert!(actions.iter().all(|(a, _)| a != "unsealed"), "{actions:?}");
    })
    .await;
}

/// Two users each have a credential `x`: alice's on Kraken, bob's on Binance. Every call names
/// its owner, and nothing of one `x` — the opened secret in the cache, the rate limit, the
/// nonce sequence, a revocation, the audit trail — reaches the other. Fails on a signer that
/// keys any of these by the id alone (and on a store that refuses bob's `x` as taken).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_owners_with_one_credential_id_share_nothing() {
    harness::on_both("signer_owner_scoped", |db| async move {
        let world = World::new(&db.url).await;
        world.credential("alice", "x", "kraken", &kraken_json(), &[("importer", "read")]).await;
        world.credential("bob", "x", "binance", &binance_json(), &[("importer", "read")]).await;
        world.store.create_user("mallory", None).await.expect("user");
        let limit =
            sealgate_store::CredentialLimits { rate_max: Some(2), rate_window_ms: Some(60_000), ..Default::default() };
        world.store.set_credential_limits("alice", "x", &limit).await.expect("alice's limit");
        let signer = world.signer(world.signer_config());
        let alice = call_as("alice", "x", "POST", "/0/private/Balance", "", "");
        let bob = call_as("bob", "x", "GET", "/api/v3/account", "", "");

        // Each owner's x opens with its own key.
        let r = signer.forward(Role::Importer, &alice).await.expect("alice reads kraken");
        assert_eq!(json(&r.body)["error"], serde_json::json!([]), "{}", r.body);
        assert!(r.body.contains("XXBT"), "{}", r.body);
        for _ in 0..4 {
            let r = signer.forward(Role::Importer, &bob).await.expect("bob reads binance; alice's rate is not his");
            assert!(r.body.contains("\"BTC\""), "{}", r.body);
        }
        // Bob's x is a Binance key: a Kraken path on it is refused, never sent with alice's key.
        let e = signer
            .forward(Role::Importer, &call_as("bob", "x", "POST", "/0/private/Balance", "", ""))
            .await
            .expect_err("bob's x is not alice's");
        assert!(matches!(e, SignerCallError::Denied(_) | SignerCallError::BadRequest(_)), "{e}");
        // Someone who has no x gets nothing, whoever else has one.
        let e = signer.forward(Role::Importer, &call_as("mallory", "x", "GET", "/api/v3/account", "", "")).await;
        assert_eq!(e.expect_err("mallory"), SignerCallError::NotFound);

        // Bob's revocation drops bob's cached x only.
        assert!(world.store.delete_envelope("bob", "x", "importer").await.expect("revoke"));
        signer.invalidate("bob", "x");
        assert_eq!(signer.forward(Role::Importer, &bob).await.expect_err("revoked"), SignerCallError::NotFound);
        let r = signer.forward(Role::Importer, &alice).await.expect("alice's x is still cached and allowed");
        assert_eq!(json(&r.body)["error"], serde_json::json!([]), "{}", r.body);
        // Alice's rate limit counted alice's calls only: the third is refused.
        let e = signer.forward(Role::Importer, &alice).await.expect_err("alice's rate");
        assert_eq!(e, SignerCallError::Denied("rate limit reached".into()));

        // Nonces: alice's Kraken calls advanced alice's sequence, not bob's.
        assert!(world.store.next_nonce("alice", "x", 0).await.expect("alice") > 1_600_000_000_000);
        assert_eq!(world.store.next_nonce("bob", "x", 0).await.expect("bob's own, untouched"), 0);

        // One unseal per owner, and every record names the right owner.
        let rows = world.store.audit_range(0, 10_000).await.expect("audit");
        let of = |action: &str, owner: &str| {
            rows.iter().filter(|r| r.action == action && r.subject == "x" && r.owner.as_deref() == Some(owner)).count()
        };
        assert_eq!((of("unsealed", "alice"), of("unsealed", "bob")), (1, 1));
        assert_eq!((of("forwarded", "alice"), of("forwarded", "bob")), (2, 4));
        assert_eq!((of("denied", "alice"), of("denied", "bob")), (1, 1));
        for r in rows.iter().filter(|r| r.subject == "x") {
            let exchange = serde_json::from_str::<Value>(&r.detail).expect("detail")["exchange"].clone();
            let want = if r.owner.as_deref() == Some("alice") { "kraken" } else { "binance" };
            assert_eq!(exchange, serde_json::json!(want), "{r:?}");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_signers_share_one_kraken_nonce_sequence() {
    harness::on_both("signer_nonces", |db| async move {
        let world = World::new(&db.url).await;
        world.credential("alice", "cid-kr", "kraken", &kraken_json(), &[("importer", "read")]).await;
        let a = world.signer(world.signer_config());
        let b = world.signer(world.signer_config());
        let mut tasks = Vec::new();
        for i in 0..40 {
            let s = if i % 2 == 0 { a.clone() } else { b.clone() };
            tasks.push(tokio::spawn(async move {
                s.forward(Role::Importer, &call("cid-kr", "POST", "/0/private/Balance", "", "")).await
            }));
        }
        for t in tasks {
            let r = t.await.expect("join").expect("forward");
            assert_eq!(json(&r.body)["error"], serde_json::json!([]), "nonce rejected: {}", r.body);
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_signer_follows_the_exchange_clock() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("s.db").display());
    let world = World::new(&url).await;
    world.credential("alice", "cid-bn", "binance", &binance_json(), &[("importer", "read")]).await;
    let signer = world.signer(world.signer_config());
    // The exchange runs 30 s ahead: a timestamp from our clock is outside its window.
    world.sandbox.set_clock_offset_ms(30_000);
    let r = signer.forward(Role::Importer, &call("cid-bn", "GET", "/api/v3/account", "", "")).await.expect("read");
    assert_eq!(r.status, 200, "{}", r.body);
    let offset = signer.clock_offset_ms("binance");
    assert!((29_000..=31_000).contains(&offset), "{offset}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_prove_their_role_over_http() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("s.db").display());
    let world = World::new(&url).await;
    world
        .credential("alice", "cid-bn", "binance", &binance_json(), &[("importer", "read"), ("trader", "read,trade")])
        .await;
    // Gate's signature binds method, path, query and body: sign may be allowed for it.
    let gate = serde_json::json!({"api_key": "gate-key", "api_secret": "gate-secret"}).to_string();
    world.credential("alice", "cid-gate", "gate", &gate, &[("importer", "read"), ("trader", "read,trade")]).await;
    let signer = world.signer(SignerConfig { sign_allowed: vec![Role::Trader], ..world.signer_config() });
    let (importer, _) = ServiceKey::generate("importer").expect("key");
    let (trader, _) = ServiceKey::generate("trader").expect("key");
    let (stranger, _) = ServiceKey::generate("trader").expect("key");
    let verifier = Arc::new(ServiceVerifier::new(
        [("importer".to_owned(), importer.public_key()), ("trader".to_owned(), trader.public_key())].into(),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, signer.router(verifier)).await });

    let imp = HttpSignerClient::new(&base, Arc::new(importer)).expect("client");
    let tr_http_key = Arc::new(trader);
    let tr = HttpSignerClient::new(&base, tr_http_key.clone()).expect("client");
    let bad = HttpSignerClient::new(&base, Arc::new(stranger)).expect("client");
    let read = call("cid-bn", "GET", "/api/v3/account", "", "");
    assert_eq!(imp.forward(&read).await.expect("forward").status, 200);
    // The importer's token cannot place an order, nor have a signature returned.
    let order = call("cid-bn", "POST", "/api/v3/order", "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.1", "");
    assert!(matches!(imp.forward(&order).await, Err(SignerCallError::Denied(_))));
    let gate_read = call("cid-gate", "GET", "/api/v4/spot/accounts", "currency=BTC", "");
    assert!(matches!(imp.sign(&gate_read).await, Err(SignerCallError::Unauthorized(_))));
    // The trader may (sign is allowed for it in this configuration), where the
    // signature binds the whole request.
    let signed = tr.sign(&gate_read).await.expect("sign");
    assert!(signed.header_value("SIGN").is_some() && signed.query == "currency=BTC", "{signed:?}");
    // Binance's signature binds neither method nor path: refused, naming forward.
    match tr.sign(&read).await {
        Err(SignerCallError::Denied(m)) => assert!(m.contains("`forward`"), "{m}"),
        other => panic!("binance sign: {other:?}"),
    }
    // A key the signer does not trust.
    assert!(matches!(bad.forward(&read).await, Err(SignerCallError::Unauthorized(_))));
    // No token, garbage bodies.
    let http = reqwest::Client::new();
    let r = http.post(format!("{base}/v1/forward")).body("{}").send().await.expect("send");
    assert_eq!(r.status(), 401);
    let tok = ServiceKey::generate("importer").expect("k").0; // untrusted, but shows 401 before parsing
    let r = http
        .post(format!("{base}/v1/forward"))
        .bearer_auth(tok.token(sealgate_server::now_ms() / 1000))
        .body("x")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 401);
    let r = http.post(format!("{base}/v1/forward")).body(vec![b'a'; 300 * 1024]).send().await.expect("send");
    assert_eq!(r.status(), 413);
    assert_eq!(r.headers()["content-type"], "application/json");

    // Every refusal is {"error": …}: the 413s (declared or streamed), the 401s, axum's own.
    let expect_error = |status: u16, text: &str, want: u16, what: &str| {
        assert_eq!(status, want, "{what}: {text}");
        let v: Value = serde_json::from_str(text).unwrap_or_else(|_| panic!("{what}: not JSON: {text}"));
        let obj = v.as_object().unwrap_or_else(|| panic!("{what}: {text}"));
        assert!(obj.len() == 1 && obj["error"].as_str().is_some_and(|e| !e.is_empty()), "{what}: {text}");
    };
    let untrusted = ServiceKey::generate("trader").expect("k").0;
    let r = http.post(format!("{base}/v1/forward")).body("{}").send().await.expect("send");
    let status = r.status().as_u16();
    expect_error(status, &r.text().await.expect("text"), 401, "no token");
    let r = http.post(format!("{base}/v1/sign")).bearer_auth(token(&untrusted)).body("x").send().await.expect("send");
    let status = r.status().as_u16();
    expect_error(status, &r.text().await.expect("text"), 401, "untrusted token");
    let r = http.get(format!("{base}/v1/forward")).send().await.expect("send");
    let status = r.status().as_u16();
    expect_error(status, &r.text().await.expect("text"), 405, "GET on a POST route");
    let r = http.post(format!("{base}/v1/nope")).body("{}").send().await.expect("send");
    let status = r.status().as_u16();
    expect_error(status, &r.text().await.expect("text"), 404, "unknown path");
    let addr = base.trim_start_matches("http://").to_owned();
    // A streamed body (chunked, no Content-Length) over the limit: 413 once 256 KiB are read.
    let (status, text) = raw(&addr, "/v1/forward", Head::Chunked(300)).await;
    expect_error(status, &text, 413, "streamed");
    // A declared Content-Length over the limit, and no body: 413 at once, the body unread.
    let declared = raw(&addr, "/v1/forward", Head::Declared(10 * 1024 * 1024));
    let (status, text) = tokio::time::timeout(Duration::from_secs(2), declared).await.expect("no 413 within 2 s");
    expect_error(status, &text, 413, "declared Content-Length");
    // Within the limit and no body sent: the server waits for the body (no answer in time).
    let wait = tokio::time::timeout(Duration::from_millis(500), raw(&addr, "/v1/forward", Head::Declared(1024)));
    assert!(wait.await.is_err(), "a request within the limit was answered before its body arrived");
    // A trusted service, bodies that are not a call: arrays are not objects (serde would take them).
    for (body, want) in [
        "[]",
        r#"["cid-bn", {"method": "GET", "path": "/api/v3/account"}]"#,
        r#"{"credential_id": "cid-bn", "request": ["GET", "/api/v3/account", "", ""]}"#,
        // A key twice is ambiguous (serde_json keeps the last): refused.
        r#"{"owner": "alice", "credential_id": "cid-bn", "request": {"method": "GET", "path": "/api/v3/order", "path": "/api/v3/account"}}"#,
        // An id alone names no credential (ids are unique per owner only): the owner is required.
        r#"{"credential_id": "cid-bn", "request": {"method": "GET", "path": "/api/v3/account"}}"#,
        // Ids that break their rules never reach the store.
        r#"{"owner": "alice", "credential_id": "cid bn", "request": {"method": "GET", "path": "/api/v3/account"}}"#,
        r#"{"owner": "", "credential_id": "cid-bn", "request": {"method": "GET", "path": "/api/v3/account"}}"#,
        r#"{"owner": "al\u0000ice", "credential_id": "cid-bn", "request": {"method": "GET", "path": "/api/v3/account"}}"#,
    ]
    .map(|body| (body, 400))
    .into_iter()
    // The owner and the id together: alice's credential is alice's, no one else's.
    .chain([
        (r#"{"owner": "alice", "credential_id": "cid-bn", "request": {"method": "GET", "path": "/api/v3/account"}}"#, 200),
        (r#"{"owner": "mallory", "credential_id": "cid-bn", "request": {"method": "GET", "path": "/api/v3/account"}}"#, 404),
    ]) {
        let r = http
            .post(format!("{base}/v1/forward"))
            .bearer_auth(token(&tr_http_key))
            .body(body)
            .send()
            .await
            .expect("send");
        let status = r.status().as_u16();
        let text = r.text().await.expect("text");
        match want {
            200 => assert_eq!(status, 200, "{body}: {text}"),
            _ => expect_error(status, &text, want, body),
        }
    }
}

fn token(k: &ServiceKey) -> String {
    k.token(sealgate_server::now_ms() / 1000)
}

/// How [`raw`] sends its body.
pub enum Head {
    /// Declares this many bytes and sends none.
    Declared(usize),
    /// Sends this many KiB, chunked.
    Chunked(usize),
}

/// One POST over a raw connection; answers the status and body.
pub async fn raw(addr: &str, path: &str, head: Head) -> (u16, String) {
    let (framing, body) = match head {
        Head::Declared(n) => (format!("Content-Length: {n}\r\n"), Vec::new()),
        Head::Chunked(kib) => {
            let mut parts = vec![format!("400\r\n{}\r\n", "a".repeat(1024)); kib];
            parts.push("0\r\n\r\n".to_owned());
            ("Transfer-Encoding: chunked\r\n".to_owned(), parts)
        }
    };
    let head = sealgate_testkit::raw_http::head("POST", path, addr, &framing);
    let r = sealgate_testkit::raw_http::exchange(addr, &head, body).await;
    (r.status, r.body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_limits_narrow_what_the_sealed_scope_allows() {
    harness::on_both("signer_limits", |db| async move {
        let world = World::new(&db.url).await;
        world.credential("alice", "cid-bn", "binance", &binance_json(), &[("trader", "read,trade")]).await;
        let signer = world.signer(world.signer_config());
        let set = |l: sealgate_store::CredentialLimits| {
            let store = world.store.clone();
            let signer = signer.clone();
            async move {
                store.set_credential_limits("alice", "cid-bn", &l).await.expect("limits");
                signer.invalidate("alice", "cid-bn");
            }
        };
        let buy =
            |q: &str| call("cid-bn", "POST", "/api/v3/order", &format!("symbol=BTCUSDT&side=BUY&type=MARKET&{q}"), "");
        // Another user's credential cannot be limited (nor learned about).
        let other = world.store.set_credential_limits("mallory", "cid-bn", &Default::default()).await;
        assert!(matches!(other, Err(sealgate_store::StoreError::NotFound { .. })), "{other:?}");

        set(sealgate_store::CredentialLimits { symbols: Some("ETHUSDT".into()), ..Default::default() }).await;
        let e = signer.forward(Role::Trader, &buy("quoteOrderQty=100")).await.expect_err("symbol");
        assert_eq!(e, SignerCallError::Denied("symbol not allowed".into()));

        set(sealgate_store::CredentialLimits { max_notional: Some("1000".into()), ..Default::default() }).await;
        let e = signer.forward(Role::Trader, &buy("quoteOrderQty=5000")).await.expect_err("notional");
        assert_eq!(e, SignerCallError::Denied("order notional above the limit".into()));
        // Sized in base units at market: the notional is unknown, so a cap refuses it.
        let e = signer.forward(Role::Trader, &buy("quantity=0.1")).await.expect_err("unknown notional");
        assert_eq!(e, SignerCallError::Denied("order notional above the limit".into()));
        let limit = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.01&price=50000";
        let ok = signer
            .forward(Role::Trader, &call("cid-bn", "POST", "/api/v3/order", limit, ""))
            .await
            .expect("under the cap");
        assert_eq!(ok.status, 200, "{}", ok.body);

        set(sealgate_store::CredentialLimits { rate_max: Some(2), rate_window_ms: Some(60_000), ..Default::default() })
            .await;
        let read = call("cid-bn", "GET", "/api/v3/account", "", "");
        for _ in 0..2 {
            assert_eq!(signer.forward(Role::Trader, &read).await.expect("within the rate").status, 200);
        }
        let e = signer.forward(Role::Trader, &read).await.expect_err("rate");
        assert_eq!(e, SignerCallError::Denied("rate limit reached".into()));
        // Every refusal is in the owner's trail.
        let denied = audit_actions(&world).await.into_iter().filter(|(a, _)| a == "denied").count();
        assert_eq!(denied, 4);
    })
    .await;
}

/// The issue's replay: a read-only `sign` of `GET /api/v3/account` whose query
/// is a withdrawal's parameters. Binance signs only query + body, so the
/// signed query, sent to `POST /sapi/v1/capital/withdraw/apply`, withdraws.
/// `sign` is refused for Binance even for a role in `--allow-sign`, before the
/// policy and before any envelope is opened, and the refusal is audited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_is_refused_where_the_signature_does_not_bind_the_request() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("s.db").display());
    let world = World::new(&url).await;
    world.credential("alice", "cid-bn", "binance", &binance_json(), &[("importer", "read"), ("trader", "read")]).await;
    world.credential("alice", "cid-kr", "kraken", &kraken_json(), &[("trader", "read")]).await;
    let signer =
        world.signer(SignerConfig { sign_allowed: vec![Role::Importer, Role::Trader], ..world.signer_config() });
    let withdraw_query = "coin=BTC&address=bc1qattacker000000000000000000000000000000&amount=0.5";
    let replay = call("cid-bn", "GET", "/api/v3/account", withdraw_query, "");

    // What the signature would have been worth: the same bytes, signed by the
    // primitive and sent to the withdrawal endpoint, are paid by the exchange.
    let cred = sealgate_exchanges::Credential {
        api_key: Some(BINANCE_KEY.into()),
        api_secret: Some(BINANCE_SECRET.into()),
        ..Default::default()
    };
    let ctx = sealgate_exchanges::Context {
        clock: &sealgate_exchanges::SystemClock,
        nonce: &sealgate_exchanges::FixedNonce(1),
    };
    let s = sealgate_exchanges::sign("binance", &cred, &replay.request, &ctx).expect("primitive");
    let http = reqwest::Client::new();
    let mut rb = http.post(format!("http://{}/sapi/v1/capital/withdraw/apply?{}", world.sandbox.addr(), s.query));
    for (k, v) in &s.headers {
        rb = rb.header(k.as_str(), v.as_str());
    }
    assert_eq!(rb.send().await.expect("send").status(), 200, "the replay works against the exchange");
    assert_eq!(world.sandbox.withdrawals().len(), 1);

    for role in [Role::Importer, Role::Trader] {
        match signer.sign(role, &replay).await {
            Err(SignerCallError::Denied(m)) => {
                assert!(m.contains("binance") && m.contains("`forward`") && m.contains("method, path"), "{m}");
            }
            other => panic!("{role:?}: {other:?}"),
        }
    }
    // Kraken's signature binds the path but not the method, nor a query added later.
    match signer.sign(Role::Trader, &call("cid-kr", "POST", "/0/private/Balance", "", "")).await {
        Err(SignerCallError::Denied(m)) => assert!(m.contains("method, query"), "{m}"),
        other => panic!("kraken: {other:?}"),
    }
    // Nothing was opened, the refusals are on the record, and forward still reads.
    let actions = audit_actions(&world).await;
    assert!(!actions.iter().any(|(a, _)| a == "unsealed" || a == "signed"), "{actions:?}");
    let denied: Vec<&String> = actions.iter().filter(|(a, _)| a == "denied").map(|(_, d)| d).collect();
    assert_eq!(denied.len(), 3, "{actions:?}");
    assert!(denied.iter().all(|d| d.contains("\"op\":\"sign\"") && d.contains("`forward`")), "{denied:?}");
    assert_eq!(world.sandbox.withdrawals().len(), 1);
    let r = signer.forward(Role::Importer, &call("cid-bn", "GET", "/api/v3/account", "", "")).await.expect("read");
    assert_eq!(r.status, 200);
}

/// Denials are recorded with bounded caller-chosen text and rate-limited per caller:
/// past the bucket a denial is still refused, but not recorded, and counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denial_records_are_bounded_and_rate_limited_per_caller() {
    let dir = tempfile::tempdir().expect("dir");
    let world = World::new(&format!("sqlite://{}?mode=rwc", dir.path().join("d.db").display())).await;
    world
        .credential("alice", "cid-bn", "binance", &binance_json(), &[("importer", "read"), ("trader", "read,trade")])
        .await;
    let metrics = Arc::new(sealgate_server::metrics::Metrics::default());
    let cfg = SignerConfig { denial_audit_burst: 5, denial_audit_per_sec: 1, ..world.signer_config() };
    let signer = Arc::new(
        sealgate_server::signer::Signer::new(
            world.store.clone(),
            world.custody.clone(),
            world.audit.clone(),
            metrics.clone(),
            cfg,
        )
        .expect("signer"),
    );
    // 500 bytes of caller-chosen path (the longest a request may carry is 512), on an
    // endpoint that does not exist: denied, and the record keeps at most 256 bytes of it.
    let long = format!("/sapi/v9/{}", "x".repeat(490));
    let e = signer.forward(Role::Importer, &call("cid-bn", "GET", &long, "", "")).await.expect_err("unknown");
    assert!(matches!(e, SignerCallError::Denied(_)), "{e}");
    // The importer floods refusals: every one is refused, only the bucket's are recorded.
    let order = call("cid-bn", "POST", "/api/v3/order", "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.1", "");
    for _ in 0..30 {
        let e = signer.forward(Role::Importer, &order).await.expect_err("importer trade");
        assert!(matches!(e, SignerCallError::Denied(_)), "{e}");
    }
    // Another caller has a bucket of its own.
    let w = call("cid-bn", "POST", "/sapi/v1/capital/withdraw/apply", "coin=BTC&address=a&amount=1", "");
    assert!(matches!(signer.forward(Role::Trader, &w).await, Err(SignerCallError::Denied(_))));
    let actions = audit_actions(&world).await;
    let denied: Vec<&String> = actions.iter().filter(|(a, _)| a == "denied").map(|(_, d)| d).collect();
    let by = |who: &str| denied.iter().filter(|d| d.contains(&format!("\"role\":\"{who}\""))).count();
    assert!((5..=6).contains(&by("importer")), "{denied:?}");
    assert_eq!(by("trader"), 1, "{denied:?}");
    assert!(denied.iter().any(|d| d.contains("/sapi/v9/xxx")), "{denied:?}");
    assert!(denied.iter().all(|d| d.len() < 600 && !d.contains(&"x".repeat(250))), "{denied:?}");
    let dropped = metrics.audit_denials_dropped_total.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(dropped as usize, 31 - by("importer"));
    assert!(metrics.render().contains(&format!("sealgate_audit_denials_dropped_total {dropped}")));
}

/// A custody whose backend fails when asked for a key, with words that must stay in the log.
struct FailingCustody(Arc<dyn sealgate_custody::Custody>);

const BACKEND_WORDS: &str = "CKR_DEVICE_ERROR on slot 7 at /secret/hsm/path";

impl sealgate_custody::Custody for FailingCustody {
    fn backend(&self) -> &'static str {
        self.0.backend()
    }
    fn keys(&self) -> sealgate_custody::CustodyFuture<'_, Vec<sealgate_custody::KeyInfo>> {
        self.0.keys()
    }
    fn decryption_key<'a>(
        &'a self,
        _kid: &'a str,
    ) -> sealgate_custody::CustodyFuture<'a, Arc<dyn sealgate_envelope::DecryptionKey>> {
        Box::pin(async {
            Err(sealgate_custody::CustodyError::Backend { backend: "pkcs11", what: BACKEND_WORDS, source: None })
        })
    }
    fn rotate<'a>(
        &'a self,
        role: &'a str,
        key_type: sealgate_custody::RoleKeyType,
    ) -> sealgate_custody::CustodyFuture<'a, sealgate_custody::KeyInfo> {
        self.0.rotate(role, key_type)
    }
    fn set_status<'a>(
        &'a self,
        kid: &'a str,
        status: sealgate_custody::KeyStatus,
    ) -> sealgate_custody::CustodyFuture<'a, ()> {
        self.0.set_status(kid, status)
    }
    fn exportability<'a>(
        &'a self,
        kid: &'a str,
    ) -> sealgate_custody::CustodyFuture<'a, sealgate_custody::Exportability> {
        self.0.exportability(kid)
    }
    fn root_public(&self) -> sealgate_custody::CustodyFuture<'_, Value> {
        self.0.root_public()
    }
    fn root_sign<'a>(&'a self, message: &'a [u8]) -> sealgate_custody::CustodyFuture<'a, Vec<u8>> {
        self.0.root_sign(message)
    }
    fn create_exchange_key(
        &self,
        key_type: sealgate_custody::ExchangeKeyType,
    ) -> sealgate_custody::CustodyFuture<'_, sealgate_custody::ExchangeKeyInfo> {
        self.0.create_exchange_key(key_type)
    }
    fn exchange_keys(&self) -> sealgate_custody::CustodyFuture<'_, Vec<sealgate_custody::ExchangeKeyInfo>> {
        self.0.exchange_keys()
    }
    fn exchange_sign<'a>(&'a self, id: &'a str, message: &'a [u8]) -> sealgate_custody::CustodyFuture<'a, Vec<u8>> {
        self.0.exchange_sign(id, message)
    }
    fn destroy_exchange_key<'a>(&'a self, id: &'a str) -> sealgate_custody::CustodyFuture<'a, ()> {
        self.0.destroy_exchange_key(id)
    }
}

/// The custody's and the backend's error text stays in the log: the caller gets a
/// generic answer that says only whether to retry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custody_error_text_never_reaches_the_caller() {
    let dir = tempfile::tempdir().expect("dir");
    let world = World::new(&format!("sqlite://{}?mode=rwc", dir.path().join("c.db").display())).await;
    world.credential("alice", "cid-bn", "binance", &binance_json(), &[("importer", "read")]).await;
    let signer = Arc::new(
        sealgate_server::signer::Signer::new(
            world.store.clone(),
            Arc::new(FailingCustody(world.custody.clone())),
            world.audit.clone(),
            Arc::new(sealgate_server::metrics::Metrics::default()),
            world.signer_config(),
        )
        .expect("signer"),
    );
    let e =
        signer.forward(Role::Importer, &call("cid-bn", "GET", "/api/v3/account", "", "")).await.expect_err("custody");
    assert_eq!(e, SignerCallError::Unavailable("the key custody is unavailable".into()));
    assert!(!e.to_string().contains("CKR") && !e.to_string().contains("pkcs11"), "{e}");
}
