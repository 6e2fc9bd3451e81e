//! The owner's passkey is the only authority that loosens a credential (issue 17 item 2;
//! AUTHORITY.md L1-L6), against a real store (SQLite and PostgreSQL), the api over HTTP with
//! passkeys (a software authenticator), the local custody, the sandbox and the signer.
//!
//! A database writer who drops the limits, unfreezes, swaps the registered passkey, or
//! appends an approval record (replayed, or signed by a key of their own) gets no loosening
//! past the signer; the api refuses a loosening without an approval, an approval of another
//! state, a stale one, one used before, and one by a passkey the envelope does not name; the
//! owner's approval loosens exactly what it says.

#[path = "../../sealgate-store/tests/harness/mod.rs"]
mod harness;
mod session;
mod support;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use sealgate_authority::{OwnerState, OwnerStatus, Statement, StatementKind};
use sealgate_envelope::{OwnerKeys, Scope, SealRequest, seal_credential};
use sealgate_policy::Role;
use sealgate_server::audit::AuditEvent;
use sealgate_server::client::SignerCallError;
use sealgate_store::{CredentialLimits, CredentialStatus, NewPasskey, PasskeyPrecondition};
use sealgate_testkit::webauthn::SoftPasskey;
use serde_json::{Value, json};
use support::*;

/// A limit buy of `qty` BTC at 50,000 USDT on alice's credential `cid`.
async fn buy(signer: &sealgate_server::signer::Signer, cid: &str, qty: &str) -> Result<(), SignerCallError> {
    let q = format!("symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity={qty}&price=50000");
    signer.forward(Role::Trader, &call(cid, "POST", "/api/v3/order", &q, "")).await.map(|_| ())
}

fn denied(r: Result<(), SignerCallError>, what: &str) -> String {
    match r {
        Err(SignerCallError::Denied(m)) => m,
        other => panic!("{what}: expected a denial, got {other:?}"),
    }
}

/// Seals binance_json to the trader role naming `own`, and stores it through the api.
async fn create(api: &Api, world: &World, who: &Session, cid: &str, own: Option<&str>) {
    create_scoped(api, world, who, cid, own, "read,trade").await;
}

async fn create_scoped(api: &Api, world: &World, who: &Session, cid: &str, own: Option<&str>, scope: &str) {
    let req = SealRequest {
        sub: "alice".into(),
        cid: cid.into(),
        exch: "binance".into(),
        aud: "trader".into(),
        scope: Scope::parse_list(scope).expect("scope"),
        iat: sealgate_server::now_ms() / 1000,
        own: own.map(|t| OwnerKeys::new([t]).expect("own")),
    };
    let jwe = seal_credential(binance_json().as_bytes(), &world.keys["trader"], &req).expect("seal").0;
    let body =
        json!({"id": cid, "exchange": "binance", "label": "main", "envelopes": [{"role": "trader", "jwe": jwe}]});
    let (status, r) = api.call(who, "POST", "/v1/credentials", Some(body)).await;
    assert_eq!(status, 201, "{r}");
}

/// Asks the api for the statement of `change` and has `pk` sign it.
async fn approve(api: &Api, who: &Session, cid: &str, change: Value, pk: &SoftPasskey) -> Value {
    let (status, start) = api.call(who, "POST", &format!("/v1/credentials/{cid}/approval"), Some(change)).await;
    assert_eq!(status, 200, "{start}");
    json!({"statement": start["statement"], "credential": pk.assert(&start["options"], &api.origin)})
}

/// `pk`'s assertion over a statement made here (not by the api): for stale ones and for a
/// database writer's forgeries.
fn sign_statement(api: &Api, pk: &SoftPasskey, s: &Statement) -> Value {
    json!({"statement": String::from_utf8(s.canonical()).expect("utf-8"),
           "credential": pk.assert_raw(&B64.encode(s.challenge()), "localhost", &api.origin, "webauthn.get")})
}

/// The `approval` member a forged record carries: `approval` (as the api takes it) made
/// by `pk`, in the form the api records.
fn member(api: &Api, approval: &Value, pk: &SoftPasskey) -> Value {
    let r = &approval["credential"]["response"];
    let (x, y) = pk.jwk_xy();
    json!({"statement": approval["statement"], "authenticator_data": r["authenticatorData"],
           "client_data_json": r["clientDataJSON"], "signature": r["signature"],
           "key": {"kty": "EC", "crv": "P-256", "x": x, "y": y}, "rp_id": "localhost", "origin": api.origin})
}

/// The world, a signer (configured by `cfg`), the api beside it, and alice signed in with
/// one registered passkey.
struct Owner {
    world: World,
    signer: std::sync::Arc<sealgate_server::signer::Signer>,
    api: Api,
    alice: Session,
    pk: SoftPasskey,
    thumb: String,
}

async fn owner(url: &str, cfg: impl FnOnce(&World) -> sealgate_server::signer::SignerConfig) -> Owner {
    let world = World::new(url).await;
    let signer = world.signer(cfg(&world));
    let api = api(&world, Some(signer.clone())).await;
    world.store.create_user("alice", None).await.expect("user");
    let alice = api.login("alice").await;
    let pk = SoftPasskey::new();
    let thumb =
        api.register_passkey(&alice, &pk, "laptop").await["thumbprint"].as_str().expect("thumbprint").to_owned();
    Owner { world, signer, api, alice, pk, thumb }
}

fn active() -> OwnerState {
    OwnerState::new(OwnerStatus::Active, false, None, None, None).expect("state")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_owners_passkey_loosens_past_the_signer() {
    harness::on_both("owner_authority", |db| async move {
        let Owner { world, signer, api, alice, pk, thumb } = owner(&db.url, World::signer_config).await;
        create(&api, &world, &alice, "cid-own", Some(&thumb)).await;
        create(&api, &world, &alice, "cid-plain", None).await;
        let w = world.store.clone();

        // Tightening needs no approval: a cap of 1,000 USDT.
        let cap = json!({"max_notional": "1000"});
        let (status, r) = api.call(&alice, "PUT", "/v1/credentials/cid-own/limits", Some(cap.clone())).await;
        assert_eq!(status, 200, "{r}");
        buy(&signer, "cid-own", "0.01").await.expect("500 USDT is under the cap");
        denied(buy(&signer, "cid-own", "0.04").await, "2,000 USDT is over the cap");

        // The api refuses to lift it without an approval (a stolen session cannot).
        let (status, r) = api.call(&alice, "PUT", "/v1/credentials/cid-own/limits", Some(json!({}))).await;
        assert_eq!(status, 403, "{r}");
        assert!(r["error"].as_str().unwrap_or_default().contains("approve"), "{r}");

        // A database writer drops the cap: the signer keeps it (the ledger's), the plain
        // credential (no authority named) follows the database as before.
        w.set_credential_limits("alice", "cid-own", &CredentialLimits::default()).await.expect("write");
        signer.invalidate("alice", "cid-own");
        let m = denied(buy(&signer, "cid-own", "0.04").await, "cap dropped in the database");
        assert!(m.contains("notional"), "{m}");
        // (The api judges from the rows, which now say "no cap": the owner sets it again.)
        let (status, _) = api.call(&alice, "PUT", "/v1/credentials/cid-own/limits", Some(cap.clone())).await;
        assert_eq!(status, 200);

        // A lockdown freezes; a database writer unfreezes: still refused.
        let (status, r) = api.call(&alice, "POST", "/v1/lockdown", None).await;
        assert_eq!(status, 200, "{r}");
        w.set_credential_status("alice", "cid-own", CredentialStatus::Active).await.expect("write");
        w.set_credential_status("alice", "cid-plain", CredentialStatus::Active).await.expect("write");
        signer.invalidate_all();
        let m = denied(buy(&signer, "cid-own", "0.01").await, "unfrozen in the database");
        assert!(m.contains("frozen"), "{m}");
        buy(&signer, "cid-plain", "0.01").await.expect("a credential naming no authority follows the database");
        w.set_credential_status("alice", "cid-own", CredentialStatus::Frozen).await.expect("write");

        // Unfreezing through the api needs the owner's passkey.
        let (status, r) =
            api.call(&alice, "PUT", "/v1/credentials/cid-own/status", Some(json!({"status": "active"}))).await;
        assert_eq!(status, 403, "{r}");
        // An approval of another state (unfreeze with no cap) offered for this change: refused.
        let other = approve(&api, &alice, "cid-own", json!({"status": "active", "limits": {}}), &pk).await;
        let (status, r) = api
            .call(&alice, "PUT", "/v1/credentials/cid-own/status", Some(json!({"status": "active", "approval": other})))
            .await;
        assert_eq!(status, 409, "{r}");
        // A stale one (issued 10 minutes ago), signed by the right passkey: refused.
        let mut state = OwnerState::new(
            OwnerStatus::Active,
            false,
            None,
            Some(sealgate_authority::Decimal::parse("1000").expect("d")),
            None,
        )
        .expect("state");
        let iat = sealgate_server::now_ms() / 1000 - 600;
        let stale = Statement::new("alice", "cid-own", StatementKind::Policy(state.clone()), iat).expect("statement");
        let body = json!({"status": "active", "approval": sign_statement(&api, &pk, &stale)});
        let (status, r) = api.call(&alice, "PUT", "/v1/credentials/cid-own/status", Some(body)).await;
        assert_eq!(status, 403, "{r}");
        assert!(r["error"].as_str().unwrap_or_default().contains("stale"), "{r}");
        // A passkey that is not alice's: refused.
        let stranger = SoftPasskey::new();
        let by_stranger = approve(&api, &alice, "cid-own", json!({"status": "active"}), &stranger).await;
        let body = json!({"status": "active", "approval": by_stranger});
        let (status, r) = api.call(&alice, "PUT", "/v1/credentials/cid-own/status", Some(body)).await;
        assert_eq!(status, 403, "{r}");
        // The owner's: unfrozen, with the cap it names.
        let good = approve(&api, &alice, "cid-own", json!({"status": "active"}), &pk).await;
        let body = json!({"status": "active", "approval": good.clone()});
        let (status, r) = api.call(&alice, "PUT", "/v1/credentials/cid-own/status", Some(body.clone())).await;
        assert_eq!(status, 200, "{r}");
        buy(&signer, "cid-own", "0.01").await.expect("unfrozen by the owner");
        denied(buy(&signer, "cid-own", "0.04").await, "the cap the owner approved");
        // The same approval again: refused by the api.
        let (status, r) = api.call(&alice, "PUT", "/v1/credentials/cid-own/status", Some(body)).await;
        assert_eq!(status, 403, "{r}");

        // Freeze again (no approval needed), then a database writer replays the owner's
        // approval as a new record and unfreezes the row: the ledger spent it already.
        let (status, _) =
            api.call(&alice, "PUT", "/v1/credentials/cid-own/status", Some(json!({"status": "frozen"}))).await;
        assert_eq!(status, 200);
        let forge = |approval: Value| {
            AuditEvent::new(
                "user:alice",
                "credential_status".parse().expect("action"),
                "cid-own",
                json!({"status": "active", "approval": approval}),
            )
            .owner("alice")
        };
        world.audit.record(forge(member(&api, &good, &pk))).await.expect("appended");
        w.set_credential_status("alice", "cid-own", CredentialStatus::Active).await.expect("write");
        signer.invalidate_all();
        denied(buy(&signer, "cid-own", "0.01").await, "a replayed approval");

        // The writer swaps alice's registered passkey for one of their own: the api will not
        // take its approval (the envelope does not name it) …
        let attacker = SoftPasskey::new();
        for row in w.passkeys("alice").await.expect("passkeys") {
            w.reset_passkeys("alice").await.expect("remove");
            let (x, y) = attacker.jwk_xy();
            let jwk = json!({"kty": "EC", "crv": "P-256", "x": x, "y": y}).to_string();
            let swapped = NewPasskey {
                id: &row.id,
                user_id: "alice",
                credential_id: &row.credential_id,
                name: &row.name,
                thumbprint: &row.thumbprint,
                jwk: &jwk,
                passkey: &row.passkey,
            };
            w.add_passkey(&swapped, PasskeyPrecondition::First).await.expect("swapped");
        }
        let (status, r) =
            api.call(&alice, "POST", "/v1/credentials/cid-own/approval", Some(json!({"status": "active"}))).await;
        assert_eq!(status, 409, "the swapped passkey is named by no envelope: {r}");
        // … and an approval record it signs, appended to the chain, makes the credential
        // unusable rather than loose.
        state = active();
        let s = Statement::new("alice", "cid-own", StatementKind::Policy(state), sealgate_server::now_ms() / 1000)
            .expect("statement");
        world
            .audit
            .record(forge(member(&api, &sign_statement(&api, &attacker, &s), &attacker)))
            .await
            .expect("appended");
        signer.invalidate_all();
        let m = denied(buy(&signer, "cid-own", "0.01").await, "an approval by a key the envelope does not name");
        assert!(m.contains("owner authority"), "{m}");

        // The refusals are on the record, and nothing secret is.
        let records = world.store.audit_range(0, 100_000).await.expect("audit");
        let approvals = records.iter().filter(|r| r.detail.contains("\"approval\"")).count();
        assert_eq!(approvals, 3, "the owner's approval and the two forgeries");
        for r in &records {
            assert!(!r.detail.contains(BINANCE_SECRET), "{}", r.detail);
        }
    })
    .await;
}

/// Raw SQL on the test database, as whoever can write to it.
async fn raw(db: &harness::TestDb, sql: &str) -> u64 {
    use sqlx::Connection as _;
    match db.backend {
        "sqlite" => {
            let mut c = sqlx::SqliteConnection::connect(&db.url).await.expect("sqlite");
            sqlx::query(sql).execute(&mut c).await.expect(sql).rows_affected()
        }
        _ => {
            let mut c = sqlx::PgConnection::connect(&db.url).await.expect("postgres");
            sqlx::query(sql).execute(&mut c).await.expect(sql).rows_affected()
        }
    }
}

fn withdraw(cid: &str, address: &str, amount: &str) -> sealgate_server::client::ForwardCall {
    let q = format!("coin=BTC&network=BTC&address={address}&amount={amount}");
    call(cid, "POST", "/sapi/v1/capital/withdraw/apply", &q, "")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_withdrawal_waits_for_the_owners_passkey() {
    harness::on_both("withdrawal_approval", |db| async move {
        let Owner { world, signer, api, alice, pk, thumb } =
            owner(&db.url, |w| sealgate_server::signer::SignerConfig {
                new_destination_wait: std::time::Duration::ZERO,
                ..w.signer_config()
            })
            .await;
        // Another signer on the same chain, with the default 24 h wait for a new destination.
        let waiting = world.signer(world.signer_config());
        world.store.set_contact_email("alice", "alice@example.com", "confirmed").await.expect("contact");
        create_scoped(&api, &world, &alice, "cid-w", Some(&thumb), "read,trade,withdraw").await;
        create_scoped(&api, &world, &alice, "cid-plain-w", None, "read,trade,withdraw").await;

        // Sealed with withdraw but naming no authority: nobody can approve, so refused.
        let m = denied(
            signer.forward(Role::Trader, &withdraw("cid-plain-w", "bc1qowner", "0.1")).await.map(|_| ()),
            "no authority",
        );
        assert!(m.contains("names none"), "{m}");

        // The first ask waits as a pending request, with what the owner is shown.
        let w = withdraw("cid-w", "bc1qowner", "0.1");
        let m = denied(signer.forward(Role::Trader, &w).await.map(|_| ()), "pending");
        assert!(m.contains("waits for its owner's approval"), "{m}");
        let (status, list) = api.call(&alice, "GET", "/v1/withdrawals", None).await;
        assert_eq!(status, 200, "{list}");
        let pending = &list["withdrawals"][0];
        assert_eq!(
            (
                pending["asset"].as_str(),
                pending["amount"].as_str(),
                pending["destination"].as_str(),
                pending["role"].as_str()
            ),
            (Some("BTC"), Some("0.1"), Some("bc1qowner"), Some("trader")),
            "{list}"
        );
        let id = pending["id"].as_str().expect("id").to_owned();
        // Asking again joins the same request; the owner was told once.
        denied(signer.forward(Role::Trader, &w).await.map(|_| ()), "still pending");
        let told = world.store.list_notifications(None, 1000).await.expect("outbox");
        let told: Vec<_> = told.iter().filter(|n| n.kind == "withdrawal_pending").collect();
        assert_eq!(told.len(), 1, "{told:?}");
        assert_eq!((told[0].channel.as_str(), told[0].recipient.as_str()), ("email", "alice@example.com"));
        assert_eq!(
            api.call(&alice, "GET", "/v1/withdrawals", None).await.1["withdrawals"].as_array().map(Vec::len),
            Some(1)
        );

        let start = |id: String| {
            let (api, alice) = (&api, &alice);
            async move {
                let (status, start) = api.call(alice, "POST", &format!("/v1/withdrawals/{id}/approval"), None).await;
                assert_eq!(status, 200, "{start}");
                start
            }
        };
        let approve = |id: String, body: Value| {
            let (api, alice) = (&api, &alice);
            async move {
                api.call(alice, "POST", &format!("/v1/withdrawals/{id}/approve"), Some(json!({"approval": body}))).await
            }
        };
        // A passkey that is not alice's: refused.
        let st = start(id.clone()).await;
        let stranger = SoftPasskey::new();
        let (status, r) = approve(
            id.clone(),
            json!({"statement": st["statement"], "credential": stranger.assert(&st["options"], &api.origin)}),
        )
        .await;
        assert_eq!(status, 403, "{r}");
        // The owner's passkey over a statement of another withdrawal (10 BTC elsewhere): refused.
        let other = sealgate_authority::Withdrawal::new(
            "binance",
            "BTC",
            sealgate_authority::Decimal::parse("10").expect("d"),
            "bc1qattacker",
            Some("BTC"),
            [9; 32],
        )
        .expect("w");
        let other =
            Statement::new("alice", "cid-w", StatementKind::Withdrawal(other), sealgate_server::now_ms() / 1000)
                .expect("statement");
        let (status, r) = approve(id.clone(), sign_statement(&api, &pk, &other)).await;
        assert_eq!(status, 409, "{r}");
        // The owner's: approved.
        let st = start(id.clone()).await;
        let statement: Value = serde_json::from_str(st["statement"].as_str().expect("statement")).expect("json");
        assert_eq!(statement["withdrawal"]["destination"], "bc1qowner", "{statement}");
        let good = json!({"statement": st["statement"], "credential": pk.assert(&st["options"], &api.origin)});
        let (status, r) = approve(id.clone(), good.clone()).await;
        assert_eq!(status, 200, "{r}");
        assert_eq!(r["state"], "approved");
        // Approved twice: refused.
        assert_eq!(approve(id.clone(), good).await.0, 409);

        // A signer that makes new destinations wait refuses it (the owner approved it just now).
        let m = denied(waiting.forward(Role::Trader, &w).await.map(|_| ()), "new destination");
        assert!(m.contains("new destination"), "{m}");
        // Another request (more BTC, same address) is not the approved one: it waits.
        let m = denied(
            signer.forward(Role::Trader, &withdraw("cid-w", "bc1qowner", "0.2")).await.map(|_| ()),
            "another request",
        );
        assert!(m.contains("waits"), "{m}");
        // The approved one is made, once.
        signer.forward(Role::Trader, &w).await.expect("the approved withdrawal");
        assert_eq!(world.sandbox.withdrawals().len(), 1);
        let m = denied(signer.forward(Role::Trader, &w).await.map(|_| ()), "made once");
        assert!(m.contains("waits"), "{m}");

        // A database writer puts the used approval back: the ledger spent it.
        let n = raw(&db, &format!("UPDATE withdrawal_approvals SET state = 'approved' WHERE id = '{id}'")).await;
        assert_eq!(n, 1);
        raw(&db, "UPDATE withdrawal_approvals SET state = 'expired' WHERE state = 'pending'").await;
        let m = denied(signer.forward(Role::Trader, &w).await.map(|_| ()), "a used approval put back");
        assert!(m.contains("used already"), "{m}");
        // … or writes an approval of its own making onto a pending row: refused too.
        raw(&db, &format!("UPDATE withdrawal_approvals SET state = 'expired' WHERE id = '{id}'")).await;
        denied(signer.forward(Role::Trader, &w).await.map(|_| ()), "new pending");
        let attacker = SoftPasskey::new();
        let row = world.store.pending_withdrawals("alice", i64::MAX / 2).await.expect("pending");
        assert!(row.is_empty(), "the query bound is the expiry");
        let rows = world.store.pending_withdrawals("alice", 0).await.expect("pending");
        let fresh = rows.iter().find(|r| r.state == "pending").expect("a pending request");
        let digest: [u8; 32] = B64.decode(&fresh.request_digest).expect("b64").try_into().expect("32");
        let mine = sealgate_authority::Withdrawal::new(
            "binance",
            "BTC",
            sealgate_authority::Decimal::parse("0.1").expect("d"),
            "bc1qowner",
            Some("BTC"),
            digest,
        )
        .expect("w");
        let mine = Statement::new("alice", "cid-w", StatementKind::Withdrawal(mine), sealgate_server::now_ms() / 1000)
            .expect("statement");
        let forged = member(&api, &sign_statement(&api, &attacker, &mine), &attacker).to_string().replace('\'', "''");
        let n = raw(
            &db,
            &format!(
                "UPDATE withdrawal_approvals SET state = 'approved', approval = '{forged}' WHERE id = '{}'",
                fresh.id
            ),
        )
        .await;
        assert_eq!(n, 1);
        let m = denied(signer.forward(Role::Trader, &w).await.map(|_| ()), "an approval by the writer's key");
        assert!(m.contains("approval of this withdrawal is refused"), "{m}");
        assert_eq!(world.sandbox.withdrawals().len(), 1, "nothing more was withdrawn");

        // An expired request cannot be approved.
        raw(
            &db,
            &format!(
                "UPDATE withdrawal_approvals SET state = 'pending', approval = NULL, expires_ms = 1 WHERE id = '{}'",
                fresh.id
            ),
        )
        .await;
        let (status, r) = api.call(&alice, "POST", &format!("/v1/withdrawals/{}/approval", fresh.id), None).await;
        assert_eq!(status, 409, "{r}");

        // On the record: the approval and the one use.
        let records = world.store.audit_range(0, 100_000).await.expect("audit");
        assert_eq!(records.iter().filter(|r| r.action == "withdrawal_approved").count(), 1);
        assert_eq!(records.iter().filter(|r| r.action == "withdrawal_used").count(), 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detector_rules_a_database_writer_loosens_stay_strict() {
    harness::on_both("anomaly_rules_owner_bound", |db| async move {
        let Owner { world, signer, api, alice, thumb, .. } = owner(&db.url, World::signer_config).await;
        create(&api, &world, &alice, "cid-own", Some(&thumb)).await;
        create(&api, &world, &alice, "cid-plain", None).await;
        // Through the api: the owner's credential takes only tightenings; the plain one any.
        let rules = |cid: &str, overrides: Value| {
            let (api, alice) = (&api, &alice);
            let path = format!("/v1/credentials/{cid}/anomaly-rules");
            async move { api.call(alice, "PUT", &path, Some(json!({"overrides": overrides}))).await }
        };
        let (status, r) = rules("cid-own", json!({"enabled": false})).await;
        assert_eq!(status, 403, "{r}");
        let (status, r) = rules("cid-own", json!({"burst_factor": 2})).await;
        assert_eq!(
            (status, r["owner_bound"].clone(), r["effective"]["burst_factor"].clone()),
            (200, json!(true), json!(2.0)),
            "{r}"
        );
        let (status, r) = rules("cid-plain", json!({"enabled": false})).await;
        assert_eq!((status, r["owner_bound"].clone()), (200, json!(false)), "{r}");
        // Clearing the overrides of no credential of the caller's: 404, and nothing recorded.
        let (status, r) = rules("cid-none", Value::Null).await;
        assert_eq!(status, 404, "{r}");
        let (status, r) = rules("cid-plain", json!({"burst_factr": 2})).await;
        assert_eq!(status, 400, "{r}");
        assert!(r["error"].as_str().unwrap_or_default().contains("burst_factr"), "{r}");
        // A database writer switches the detectors off for both.
        for cid in ["cid-own", "cid-plain"] {
            world.store.set_anomaly_overrides("alice", cid, Some(r#"{"enabled":false}"#)).await.expect("write");
        }
        let pump = |cid: &str| {
            call(
                cid,
                "POST",
                "/api/v3/order",
                "symbol=PUMPUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=100&price=0.05",
                "",
            )
        };
        // The credential naming no authority follows its row (as before) …
        signer.forward(Role::Trader, &pump("cid-plain")).await.expect("detectors off by its row");
        // … the owner's keeps the default detectors: an illiquid pair it never traded freezes it.
        let m = denied(signer.forward(Role::Trader, &pump("cid-own")).await.map(|_| ()), "illiquid pair");
        assert!(m.contains("frozen"), "{m}");
        let c = world.store.get_credential("alice", "cid-own").await.expect("get").expect("exists");
        assert_eq!(c.status, CredentialStatus::Frozen);
    })
    .await;
}
