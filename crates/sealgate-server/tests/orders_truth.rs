//! Orders tell the truth, and a lockdown does what a user in a hurry needs — with the real
//! trader, the real signer (in process and over HTTP), the audit chain and the exchange
//! sandbox, on SQLite and PostgreSQL:
//! - a placement on a frozen credential is `rejected` with "the credential is frozen", in the
//!   order list and as a denial in the owner's audit trail;
//! - a frozen credential still cancels (and the lockdown's "cancel all open orders" does it),
//!   while every "cancel" that can place (cancel-and-replace, an amend) is refused and audited;
//! - an order never sent (the signer unreachable) is `rejected` with the reason; one whose
//!   answer was lost after the exchange took it is `unknown`, then reconciled by a status
//!   query to its real state.

#[path = "../../sealgate-store/tests/harness/mod.rs"]
mod harness;
mod session;
mod support;

use std::sync::Arc;
use std::time::Duration;

use sealgate_policy::Role;
use sealgate_server::client::SignerCallError;
use sealgate_server::service_auth::ServiceKey;
use sealgate_server::signer::{HttpSignerClient, LocalSignerClient};
use sealgate_server::trader::{FROZEN, OrderRequest, TradeError, Trader};
use support::*;

fn limit(cid: &str, qty: &str, price: &str) -> OrderRequest {
    serde_json::from_value(serde_json::json!({
        "credential_id": cid, "symbol": "BTCUSDT", "side": "buy", "order_type": "limit", "qty": qty, "price": price,
    }))
    .expect("order")
}

fn locked_usdt(world: &World) -> sealgate_sandbox::Amount {
    world
        .sandbox
        .balances(BINANCE_KEY)
        .into_iter()
        .find(|(a, _, _)| a == "USDT")
        .map(|(_, _, locked)| locked)
        .expect("USDT")
}

/// Denial records of alice's trail that say the credential is frozen.
async fn frozen_denials(world: &World) -> Vec<String> {
    let rows = world.store.audit_for_owner("alice", 0, 1000).await.expect("trail");
    rows.into_iter().filter(|r| r.action == "denied" && r.detail.contains(FROZEN)).map(|r| r.detail).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_credential_cancels_but_places_nothing_and_every_refusal_is_on_record() {
    harness::on_both("orders_frozen", |db| async move {
        let world = World::new(&db.url).await;
        world.credential("alice", "cid-bn", "binance", &binance_json(), &[("trader", "read,trade")]).await;
        let signer = world.signer(world.signer_config());
        let client = Arc::new(LocalSignerClient::new(signer.clone(), Role::Trader));
        let trader = Trader::new(world.store.clone(), client).with_audit(world.audit.clone());

        let a = trader.place("alice", &limit("cid-bn", "0.01", "40000")).await.expect("place");
        let b = trader.place("alice", &limit("cid-bn", "0.02", "41000")).await.expect("place");
        assert_eq!((a.status.as_str(), b.status.as_str()), ("open", "open"));
        assert_ne!(locked_usdt(&world), amt("0"));

        assert_eq!(world.store.lockdown("alice").await.expect("lockdown"), 1);
        signer.invalidate_all();

        // A placement: refused before the signer, recorded as rejected, in the trail.
        let e = trader.place("alice", &limit("cid-bn", "0.01", "40000")).await.expect_err("frozen");
        assert_eq!(e, TradeError::Denied(FROZEN.into()));
        let orders = world.store.orders("alice", 10).await.expect("orders");
        let refused = orders.iter().find(|o| o.status == "rejected").expect("the refused order is listed");
        assert_eq!(refused.reason.as_deref(), Some(FROZEN));
        assert_eq!(frozen_denials(&world).await.len(), 1);

        // At the signer, as the trader: each "cancel" that can place is refused and audited.
        for (method, path, query) in [
            ("POST", "/api/v3/order", "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.01&price=1"),
            (
                "POST",
                "/api/v3/order/cancelReplace",
                "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.01&price=1\
                 &cancelReplaceMode=STOP_ON_FAILURE&cancelOrderId=1",
            ),
            ("PUT", "/api/v3/order/amend/keepPriority", "symbol=BTCUSDT&orderId=1&newQty=0.001"),
        ] {
            let e = signer.forward(Role::Trader, &call("cid-bn", method, path, query, "")).await.expect_err(path);
            assert_eq!(e, SignerCallError::Denied(FROZEN.into()), "{path}");
        }
        assert_eq!(frozen_denials(&world).await.len(), 4, "each refusal is a denial in the owner's trail");

        // One cancel by hand (DELETE /v1/orders/{id}), then the lockdown's cancel-all.
        let done = trader.cancel("alice", &a.id).await.expect("a frozen credential cancels");
        assert_eq!(done.status, "canceled");
        let outcomes = trader.cancel_frozen_orders("alice").await.expect("cancel all");
        let by_id: Vec<(&str, &str)> = outcomes.iter().map(|o| (o.order_id.as_str(), o.result.as_str())).collect();
        assert_eq!(by_id, [(b.id.as_str(), "canceled")], "{outcomes:?}");
        assert_eq!(locked_usdt(&world), amt("0"), "nothing rests on the exchange");
        // Nothing left to cancel: an empty report, not an error.
        assert!(trader.cancel_frozen_orders("alice").await.expect("again").is_empty());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_sent_is_rejected_and_a_lost_answer_is_unknown_until_a_status_query_settles_it() {
    harness::on_both("orders_unknown", |db| async move {
        let world = World::new(&db.url).await;
        world.credential("alice", "cid-bn", "binance", &binance_json(), &[("trader", "read,trade")]).await;
        let signer = world.signer(world.signer_config());

        // The signer is not listening: nothing was sent, so the order is rejected, with why.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
        let port = closed.local_addr().expect("addr").port();
        drop(closed);
        let (key, _) = ServiceKey::generate("trader").expect("key");
        let http = HttpSignerClient::new(&format!("http://127.0.0.1:{port}"), Arc::new(key)).expect("client");
        let offline = Trader::new(world.store.clone(), Arc::new(http));
        let e = offline.place("alice", &limit("cid-bn", "0.01", "40000")).await.expect_err("unreachable");
        assert!(matches!(&e, TradeError::Unavailable(m) if m.starts_with("not sent")), "{e:?}");
        let o = world.store.orders("alice", 1).await.expect("orders").remove(0);
        assert_eq!(o.status, "rejected");
        assert!(o.reason.as_deref().is_some_and(|r| r.contains("no signer reachable")), "{:?}", o.reason);

        // The exchange takes the order but its answer is lost (a 503 "execution status
        // unknown"): the order is unknown, not rejected, and not placed twice.
        let trader = Trader::new(world.store.clone(), Arc::new(LocalSignerClient::new(signer.clone(), Role::Trader)))
            .with_audit(world.audit.clone());
        world.sandbox.lose_next_order_answers(1);
        let e = trader.place("alice", &limit("cid-bn", "0.01", "40000")).await.expect_err("answer lost");
        assert!(matches!(&e, TradeError::Exchange { status: 503, .. }), "{e:?}");
        assert_eq!(world.sandbox.lost_order_answers_pending(), 0);
        let lost = world.store.orders("alice", 1).await.expect("orders").remove(0);
        assert_eq!((lost.status.as_str(), lost.exchange_order_id.as_deref()), ("unknown", None));
        assert!(lost.reason.as_deref().is_some_and(|r| r.contains("status will be queried")), "{:?}", lost.reason);
        assert_ne!(locked_usdt(&world), amt("0"), "the exchange has it");

        // The status query (by client order id, through the signer, audited) settles it.
        let forwarded = |rows: &[sealgate_store::AuditRecord]| rows.iter().filter(|r| r.action == "forwarded").count();
        let before = forwarded(&world.store.audit_for_owner("alice", 0, 1000).await.expect("trail"));
        let settled = trader.reconcile("alice", &lost.id).await.expect("reconcile");
        assert_eq!(settled.status, "open");
        assert!(settled.exchange_order_id.is_some() && settled.reason.is_none(), "{settled:?}");
        assert_eq!(settled.status_checks, 1);
        let after = forwarded(&world.store.audit_for_owner("alice", 0, 1000).await.expect("trail"));
        assert_eq!(after, before + 1, "the status query is an audited use");
        // Settled orders are left alone; the real one can now be cancelled.
        assert_eq!(trader.reconcile("alice", &lost.id).await.expect("again").status_checks, 1);
        assert_eq!(trader.cancel("alice", &lost.id).await.expect("cancel").status, "canceled");

        // In the background too: a lost answer settles without anyone asking.
        world.sandbox.lose_next_order_answers(1);
        trader.place("alice", &limit("cid-bn", "0.01", "40000")).await.expect_err("answer lost");
        let id = world.store.orders("alice", 1).await.expect("orders").remove(0).id;
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let trader = Arc::new(trader);
        let bg = tokio::spawn(trader.clone().run_reconciler(Duration::from_millis(100), stopped));
        let mut status = String::new();
        for _ in 0..100 {
            status = world.store.order("alice", &id).await.expect("order").expect("exists").status;
            if status != "unknown" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(status, "open");
        stop.send(true).expect("stop");
        bg.await.expect("reconciler stops");
    })
    .await;
}

/// The issue's importer started without its key: it made a new one the signer does not
/// trust. The job fails with a reason the owner can read (and the operator finds in the
/// log with the job id), not "failed" alone; once the key is fixed, the owner's retry
/// imports from where the job stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_importer_key_fails_the_job_with_its_reason_and_a_retry_imports() {
    use sealgate_server::importer::{DEFAULT_MAX_ATTEMPTS, Importer};
    use sealgate_server::service_auth::ServiceVerifier;
    harness::on_both("import_untrusted", |db| async move {
        let world = World::new(&db.url).await;
        world.credential("alice", "cid-bn", "binance", &binance_json(), &[("importer", "read")]).await;
        let signer = world.signer(world.signer_config());
        let (trusted, _) = ServiceKey::generate("importer").expect("key");
        let (stray, _) = ServiceKey::generate("importer").expect("key");
        let verifier = Arc::new(ServiceVerifier::new([("importer".to_owned(), trusted.public_key())].into()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, signer.router(verifier)).await });

        let metrics = Arc::new(sealgate_server::metrics::Metrics::default());
        let id =
            sealgate_server::importer::enqueue_full_import(&world.store, "alice", "cid-bn").await.expect("enqueue");
        let stray_client = Arc::new(HttpSignerClient::new(&base, Arc::new(stray)).expect("client"));
        let bad = Importer::new(world.store.clone(), stray_client, "w-stray".into()).with_metrics(metrics.clone());
        assert!(bad.run_once().await.expect("ran"));
        let job = world.store.job(id).await.expect("job").expect("exists");
        assert_eq!(job.state, sealgate_store::JobState::Failed, "an untrusted key is not retried blindly");
        let reason = job.last_error.expect("a reason");
        assert!(reason.starts_with("the importer's service key is not trusted by the signer"), "{reason}");
        let summary = sealgate_server::importer::portfolio(&world.store, "alice").await.expect("portfolio");
        assert_eq!(summary.imports[0].reason.as_deref(), Some(reason.as_str()));
        assert_eq!(metrics.import_jobs_failed_total.load(std::sync::atomic::Ordering::Relaxed), 1);

        // The operator installs the right key; the owner retries.
        let good_client = Arc::new(HttpSignerClient::new(&base, Arc::new(trusted)).expect("client"));
        let good = Importer::new(world.store.clone(), good_client, "w-good".into()).with_metrics(metrics.clone());
        assert!(!good.run_once().await.expect("nothing queued"), "a failed job waits for its owner");
        assert!(matches!(
            world.store.retry_job("alice", id, DEFAULT_MAX_ATTEMPTS).await.expect("retry"),
            Some(sealgate_store::RetryOutcome::Queued(_))
        ));
        assert!(good.run_once().await.expect("ran"));
        let job = world.store.job(id).await.expect("job").expect("exists");
        assert_eq!((job.state, job.last_error), (sealgate_store::JobState::Done, None));
        assert_eq!(metrics.import_jobs_done_total.load(std::sync::atomic::Ordering::Relaxed), 1);
        assert!(!sealgate_server::importer::portfolio(&world.store, "alice").await.expect("p").assets.is_empty());
    })
    .await;
}

/// The issue's lockdown, over the api as a user in a hurry drives it: open orders are
/// cancelled (`POST /v1/lockdown?cancel_orders=true`, each reported), `DELETE
/// /v1/orders/{id}` works on a frozen credential, and a placement afterwards is refused
/// with the reason in the order list and in `GET /v1/audit`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lockdown_over_the_api_cancels_open_orders_and_shows_every_refusal() {
    use sealgate_envelope::secrecy::ExposeSecret as _;
    use sealgate_server::api::{self, ApiState, RecipientSet};
    use sealgate_server::auth::{Auth, AuthConfig, LocalConfig};
    use serde_json::{Value, json};
    harness::on_both("lockdown_api", |db| async move {
        let world = World::new(&db.url).await;
        world.credential("alice", "cid-bn", "binance", &binance_json(), &[("trader", "read,trade")]).await;
        let signer = world.signer(world.signer_config());
        let trader = Arc::new(
            Trader::new(world.store.clone(), Arc::new(LocalSignerClient::new(signer.clone(), Role::Trader)))
                .with_audit(world.audit.clone()),
        );
        let auth = Arc::new(
            Auth::new(world.store.clone(), AuthConfig { local: Some(LocalConfig::default()), oidc: None })
                .expect("auth"),
        );
        let hook_signer = signer.clone();
        let state = ApiState {
            store: world.store.clone(),
            audit: world.audit.clone(),
            trader: Some(trader),
            recipients: Arc::new(tokio::sync::RwLock::new(RecipientSet::default())),
            auth: auth.clone(),
            on_change: Some(Arc::new(move |_: Option<(&str, &str)>| hook_signer.invalidate_all())),
            notify: None,
            passkeys: None,
            held_keys: None,
            prices: None,
            valuations: Default::default(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, api::router(state)).await });
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("http");
        let token = auth.issue_login_token("alice").await.expect("token");
        let login = http.get(format!("{base}/login?token={}", token.expose_secret())).send().await.expect("login");
        let cookie = login
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|c| c.split(';').next())
            .collect::<Vec<_>>()
            .join("; ");
        let csrf = login.json::<Value>().await.expect("login body")["csrf_token"].as_str().expect("csrf").to_owned();
        let call = |method: &str, path: &str, body: Option<Value>| {
            let mut rb = http
                .request(method.parse().expect("method"), format!("{base}{path}"))
                .header("cookie", &cookie)
                .header("x-csrf-token", &csrf);
            if let Some(b) = body {
                rb = rb.json(&b);
            }
            async move {
                let r = rb.send().await.expect("send");
                let status = r.status().as_u16();
                let text = r.text().await.expect("body");
                // The canary: no answer (reasons and outcomes included) carries the secret.
                assert!(!text.contains(BINANCE_SECRET), "{text}");
                (status, serde_json::from_str::<Value>(&text).unwrap_or(Value::Null))
            }
        };
        let order = json!({"credential_id": "cid-bn", "symbol": "BTCUSDT", "side": "buy", "order_type": "limit",
            "qty": "0.01", "price": "40000"});
        let (s, open) = call("POST", "/v1/orders", Some(order.clone())).await;
        assert_eq!((s, open["status"].as_str()), (201, Some("open")), "{open}");
        let (s, second) = call("POST", "/v1/orders", Some(order.clone())).await;
        assert_eq!(s, 201, "{second}");

        let (s, v) = call("POST", "/v1/lockdown?cancel_orders=true", None).await;
        assert_eq!((s, v["frozen"].as_u64()), (200, Some(1)), "{v}");
        let outcomes = v["orders"].as_array().expect("each order's outcome");
        assert_eq!(outcomes.len(), 2, "{v}");
        assert!(outcomes.iter().all(|o| o["result"] == "canceled" && o["status"] == "canceled"), "{v}");
        assert_eq!(locked_usdt(&world), amt("0"));

        // Nothing open is left; cancelling again says so (not "the credential is frozen").
        let (s, v) = call("DELETE", &format!("/v1/orders/{}", open["id"].as_str().expect("id")), None).await;
        assert_eq!(s, 400, "{v}");
        assert!(v["error"].as_str().is_some_and(|e| e.contains("already canceled")), "{v}");

        let (s, v) = call("POST", "/v1/orders", Some(order)).await;
        assert_eq!((s, v["error"].as_str()), (403, Some("denied by policy: the credential is frozen")), "{v}");
        let (_, list) = call("GET", "/v1/orders", None).await;
        let newest = &list["orders"][0];
        assert_eq!((newest["status"].as_str(), newest["reason"].as_str()), (Some("rejected"), Some(FROZEN)), "{list}");
        let (_, shown) = call("GET", &format!("/v1/orders/{}", newest["id"].as_str().expect("id")), None).await;
        assert_eq!(shown["reason"].as_str(), Some(FROZEN));
        let (_, trail) = call("GET", "/v1/audit?limit=1000", None).await;
        let denied: Vec<&Value> = trail["records"]
            .as_array()
            .expect("records")
            .iter()
            .filter(|r| r["action"] == "denied" && r["detail"]["reason"] == FROZEN)
            .collect();
        assert_eq!(denied.len(), 1, "{trail}");
        assert_eq!(denied[0]["actor"], "role:trader");
        // Nothing in the whole audit chain carries the secret either.
        let chain = world.store.audit_range(0, 10_000).await.expect("chain");
        assert!(chain.iter().all(|r| !r.detail.contains(BINANCE_SECRET)));
        // A query flag that is not a boolean is refused before anything changes.
        let (s, _) = call("POST", "/v1/lockdown?cancel_orders=yes", None).await;
        assert_eq!(s, 400);
    })
    .await;
}

/// Where the line between `rejected` and `unknown` is drawn: an exchange that cannot be
/// connected to got nothing (the order is rejected, "not sent"); one that took the request
/// and never answered may have executed it (504 from the signer, `unknown` at the trader),
/// in process and over HTTP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_left_is_unknown_and_one_that_never_connected_is_rejected() {
    use sealgate_server::service_auth::ServiceVerifier;
    harness::on_both("orders_sent_or_not", |db| async move {
        let world = World::new(&db.url).await;
        world.credential("alice", "cid-bn", "binance", &binance_json(), &[("trader", "read,trade")]).await;
        // An exchange that reads the request and never answers.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let silent_url = format!("http://{}", silent.local_addr().expect("addr"));
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((mut sock, _)) = silent.accept().await {
                let mut buf = vec![0u8; 64 * 1024];
                let _ = tokio::io::AsyncReadExt::read(&mut sock, &mut buf).await;
                held.push(sock);
            }
        });
        // A port bound but never listening: connections are refused, and no other test's
        // server can take it while this one runs (a port merely freed again was, once: this
        // signer's order reached another test's sandbox).
        let closed = tokio::net::TcpSocket::new_v4().expect("socket");
        closed.bind("127.0.0.1:0".parse().expect("addr")).expect("port");
        let closed_url = format!("http://{}", closed.local_addr().expect("addr"));
        let signer_to = |url: &str| {
            let mut cfg = world.signer_config();
            cfg.forward_timeout = Duration::from_millis(500);
            cfg.exchanges.insert("binance".into(), url.to_owned());
            world.signer(cfg)
        };
        let order = call(
            "cid-bn",
            "POST",
            "/api/v3/order",
            "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.01&price=40000",
            "",
        );

        // In process.
        let lost = signer_to(&silent_url);
        let e = lost.forward(Role::Trader, &order).await.expect_err("no answer");
        assert!(matches!(&e, SignerCallError::Indeterminate(m) if m.contains("may have reached")), "{e:?}");
        let refused = signer_to(&closed_url);
        let e = refused.forward(Role::Trader, &order).await.expect_err("no connection");
        assert_eq!(e, SignerCallError::Unavailable("exchange binance unreachable".into()));
        let trader = Trader::new(world.store.clone(), Arc::new(LocalSignerClient::new(refused, Role::Trader)));
        trader.place("alice", &limit("cid-bn", "0.01", "40000")).await.expect_err("not sent");
        let o = world.store.orders("alice", 1).await.expect("orders").remove(0);
        assert_eq!(
            (o.status.as_str(), o.reason.as_deref()),
            ("rejected", Some("not sent: exchange binance unreachable"))
        );

        // Over HTTP: the signer's 504 reaches the trader as "may have left".
        let (key, _) = ServiceKey::generate("trader").expect("key");
        let verifier = Arc::new(ServiceVerifier::new([("trader".to_owned(), key.public_key())].into()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, lost.router(verifier)).await });
        let http = HttpSignerClient::new(&base, Arc::new(key)).expect("client");
        let trader = Trader::new(world.store.clone(), Arc::new(http));
        let e = trader.place("alice", &limit("cid-bn", "0.01", "40000")).await.expect_err("no answer");
        assert!(matches!(&e, TradeError::Unavailable(m) if m.contains("`unknown`")), "{e:?}");
        let o = world.store.orders("alice", 1).await.expect("orders").remove(0);
        assert_eq!(o.status, "unknown");
        assert!(o.reason.as_deref().is_some_and(|r| r.contains("did not answer")), "{:?}", o.reason);
    })
    .await;
}
