//! Exchange keys born in the custody, through the api and the signer (issue 18 items 2, 3
//! and 5), on SQLite and PostgreSQL, the local keyring and the exchange sandbox: the owner
//! asks for a key, registers its public key at the exchange, activates the credential with
//! the API key id; the importer reads and the trader trades with signatures the custody
//! makes; a withdrawal is refused. Then a database writer tries what grants exist to stop:
//! a class or a role added, a grant moved to another credential or owner, a pending grant
//! put in place, a revoked grant restored. Deleting the credential destroys the key.

#[path = "../../sealgate-store/tests/harness/mod.rs"]
mod harness;
#[path = "support/raw.rs"]
mod raw;
mod session;
mod support;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use raw::Raw;
use sealgate_custody::KeyStatus;
use sealgate_policy::Role;
use sealgate_sandbox::{Permissions, Venue};
use sealgate_server::client::SignerCallError;
use sealgate_server::revocation::RESTORED_REASON;
use sealgate_server::rewrap::{RewrapOptions, rewrap, set_key_status};
use sealgate_server::signer::{EXCHANGE_KEY_DESTROYED, PENDING_LIFE_SECS, SWEEP_GRACE_SECS, SignerConfig};
use sealgate_store::NewEnvelope;
use serde_json::{Value, json};
use support::*;

const ALL: Permissions = Permissions { read: true, trade: true, withdraw: true };

fn account(owner: &str, cid: &str) -> sealgate_server::client::ForwardCall {
    call_as(owner, cid, "GET", "/api/v3/account", "", "")
}

fn order(cid: &str) -> sealgate_server::client::ForwardCall {
    call(cid, "POST", "/api/v3/order", "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.1", "")
}

/// A grant's payload with `edit` applied, its header and signature kept.
fn edited(jws: &str, edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> String {
    let parts: Vec<&str> = jws.split('.').collect();
    let mut p: serde_json::Map<String, Value> =
        serde_json::from_slice(&B64.decode(parts[1]).expect("b64")).expect("json");
    edit(&mut p);
    format!("{}.{}.{}", parts[0], B64.encode(serde_json::to_vec(&p).expect("json")), parts[2])
}

fn denied_with(e: &SignerCallError, words: &str) -> bool {
    matches!(e, SignerCallError::Denied(m) if m.contains(words))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_born_in_the_custody_trades_and_a_database_writer_cannot_widen_it() {
    harness::on_both("held_keys", |db| async move {
        let world = World::new(&db.url).await;
        let signer = world.signer(world.signer_config());
        let api = api(&world, Some(signer.clone())).await;
        for user in ["alice", "bob"] {
            world.store.create_user(user, None).await.expect("user");
        }
        let alice = api.login("alice").await;
        let bob = api.login("bob").await;

        // 1. The owner asks for a key: the answer is a public key, pending grants and steps.
        let ask = json!({"id": "held-1", "exchange": "binance", "key_type": "ed25519",
            "roles": ["importer", "trader"], "scope": ["read", "trade"]});
        let (st, made) = api.call(&alice, "POST", "/v1/custody-keys", Some(ask.clone())).await;
        assert_eq!(st, 201, "{made}");
        let pem = made["public_pem"].as_str().expect("pem");
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"), "{pem}");
        assert!(!made.to_string().contains("PRIVATE"), "{made}");
        let pending = made["pending"].clone();
        assert_eq!(pending.as_array().map(Vec::len), Some(2));
        let steps = made["steps"]["steps"].as_array().expect("steps");
        assert!(steps.iter().any(|s| s.as_str().is_some_and(|s| s.contains("Self-generated"))), "{steps:?}");
        assert_eq!(made["steps"]["page"], "https://www.binance.com/en/my/settings/api-management");

        // A key made and abandoned is destroyed on the owner's word alone (not bob's).
        let (st, spare) = api
            .call(
                &alice,
                "POST",
                "/v1/custody-keys",
                Some(json!({"id": "spare", "exchange": "bybit",
                "roles": ["importer"], "scope": ["read"]})),
            )
            .await;
        assert_eq!((st, spare["key_type"].as_str()), (201, Some("rsa-2048")), "{spare}");
        let spare_id = spare["key_id"].as_str().expect("id").to_owned();
        let (st, e) =
            api.call(&bob, "POST", "/v1/custody-keys/discard", Some(json!({"pending": spare["pending"]}))).await;
        assert_eq!(st, 400, "{e}");
        let (st, e) =
            api.call(&alice, "POST", "/v1/custody-keys/discard", Some(json!({"pending": spare["pending"]}))).await;
        assert_eq!(st, 204, "{e}");
        assert_eq!(world.custody.exchange_key(&spare_id).await.expect("read"), None);

        // Not a key for an exchange that makes its own secrets, nor a type it refuses.
        let (st, e) = api
            .call(
                &alice,
                "POST",
                "/v1/custody-keys",
                Some(json!({"id": "k2", "exchange": "kraken",
                "roles": ["trader"], "scope": ["read"]})),
            )
            .await;
        assert_eq!(st, 400, "{e}");
        let (st, e) = api
            .call(
                &alice,
                "POST",
                "/v1/custody-keys",
                Some(json!({"id": "k3", "exchange": "bybit",
                "key_type": "ed25519", "roles": ["trader"], "scope": ["read"]})),
            )
            .await;
        assert_eq!(st, 400, "{e}");

        // 2. The exchange registers the public key (the key may do anything there, even
        // withdraw: only the signer and the grant stand in the way) and names it.
        let balances = vec![("BTC".into(), amt("1.5")), ("USDT".into(), amt("25000"))];
        let api_key = world.sandbox.register_public_key(Venue::Binance, pem, ALL, vec![], balances).expect("register");

        // Someone else cannot bind alice's key.
        let (st, e) = api
            .call(&bob, "POST", "/v1/custody-keys/activate", Some(json!({"pending": pending, "api_key": api_key})))
            .await;
        assert_eq!(st, 400, "{e}");
        assert!(e.to_string().contains("another owner"), "{e}");
        // Nor can an edited pending grant be activated.
        let forged = edited(pending[1].as_str().expect("grant"), |p| {
            drop(p.insert("scope".into(), json!(["read", "trade", "withdraw"])))
        });
        let (st, e) = api
            .call(&alice, "POST", "/v1/custody-keys/activate", Some(json!({"pending": [forged], "api_key": api_key})))
            .await;
        assert_eq!(st, 400, "{e}");

        // 3. Activated with the API key id.
        let (st, cred) = api
            .call(
                &alice,
                "POST",
                "/v1/custody-keys/activate",
                Some(json!({"pending": pending, "api_key": api_key, "label": "born in custody"})),
            )
            .await;
        assert_eq!(st, 201, "{cred}");
        assert_eq!(cred["hint"], api_key[api_key.len() - 4..]);
        assert_eq!(cred["scope"], json!(["read", "trade"]));
        // Once only.
        let (st, _) = api
            .call(&alice, "POST", "/v1/custody-keys/activate", Some(json!({"pending": pending, "api_key": api_key})))
            .await;
        assert_eq!(st, 409);

        // 4. The importer reads and the trader trades, signed by the custody.
        let r = signer.forward(Role::Importer, &account("alice", "held-1")).await.expect("read");
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.body.contains("\"BTC\""), "{}", r.body);
        let e = signer.forward(Role::Importer, &order("held-1")).await.expect_err("importer trade");
        assert!(denied_with(&e, "importer may not use trade"), "{e}");
        let r = signer.forward(Role::Trader, &order("held-1")).await.expect("trade");
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(world.sandbox.free_balance(&api_key, "BTC"), Some(amt("1.6")));
        // A withdrawal: not granted, refused before the exchange (which would allow it).
        let w = call("held-1", "POST", "/sapi/v1/capital/withdraw/apply", "coin=BTC&address=attacker&amount=1", "");
        let e = signer.forward(Role::Trader, &w).await.expect_err("withdraw");
        assert_eq!(e, SignerCallError::Denied("the user did not grant withdraw".into()));
        assert!(world.sandbox.withdrawals().is_empty());

        // 5. A database writer.
        let mut raw = Raw::connect(&db).await;
        let trader = world.store.owner_envelopes("alice", "held-1").await.expect("rows");
        let trader = trader.into_iter().find(|e| e.role == "trader").expect("trader grant");
        let again = |what: &'static str| {
            let signer = signer.clone();
            async move {
                signer.invalidate("alice", "held-1");
                let w =
                    call("held-1", "POST", "/sapi/v1/capital/withdraw/apply", "coin=BTC&address=attacker&amount=1", "");
                let e = signer.forward(Role::Trader, &w).await.expect_err(what);
                assert!(world_free(&e), "{what}: {e}");
                e
            }
        };
        fn world_free(e: &SignerCallError) -> bool {
            matches!(e, SignerCallError::Denied(_))
        }
        // a. The row's scope column says withdraw: the grant's classes rule.
        raw.exec("UPDATE credentials SET scope = 'read,trade,withdraw' WHERE id = $1", &["held-1"]).await;
        let e = again("scope column").await;
        assert_eq!(e, SignerCallError::Denied("the user did not grant withdraw".into()));
        // b. The grant edited to add withdraw: its signature no longer holds.
        let wider = edited(&trader.jwe, |p| drop(p.insert("scope".into(), json!(["read", "trade", "withdraw"]))));
        raw.set_jwe("alice", "held-1", "trader", &trader.kid, &wider).await;
        let e = again("edited grant").await;
        assert!(denied_with(&e, "signature does not verify"), "{e}");
        // c. The importer's grant in the trader's row: another role.
        let importer = world.store.owner_envelopes("alice", "held-1").await.expect("rows");
        let importer = importer.into_iter().find(|e| e.role == "importer").expect("importer grant");
        raw.set_jwe("alice", "held-1", "trader", &importer.kid, &importer.jwe).await;
        let e = signer.forward(Role::Trader, &order("held-1")).await.expect_err("importer grant as trader");
        assert!(denied_with(&e, "aud is another role"), "{e}");
        // d. A pending grant (no API key id) in the row.
        raw.set_jwe("alice", "held-1", "trader", &trader.kid, pending[1].as_str().expect("pending")).await;
        signer.invalidate("alice", "held-1");
        let e = signer.forward(Role::Trader, &order("held-1")).await.expect_err("pending grant");
        assert!(denied_with(&e, "pending"), "{e}");
        // e. The row's key id pointed elsewhere.
        raw.set_jwe("alice", "held-1", "trader", "xk-0000000000000000", &trader.jwe).await;
        signer.invalidate("alice", "held-1");
        let e = signer.forward(Role::Trader, &order("held-1")).await.expect_err("other kid");
        assert!(denied_with(&e, "stored key id"), "{e}");
        // Put back as it was: it works again.
        raw.set_jwe("alice", "held-1", "trader", &trader.kid, &trader.jwe).await;
        signer.invalidate("alice", "held-1");
        signer.forward(Role::Trader, &order("held-1")).await.expect("restored row trades");
        // f. Alice's grant under bob's name (a copied row).
        world.credential("bob", "held-1", "binance", &binance_json(), &[("importer", "read")]).await;
        raw.exec(
            "UPDATE envelopes SET jwe = $1, kid = $2 WHERE owner = 'bob' AND credential_id = 'held-1'",
            &[&importer.jwe, &importer.kid],
        )
        .await;
        let e = signer.forward(Role::Importer, &account("bob", "held-1")).await.expect_err("copied to bob");
        assert!(denied_with(&e, "sub does not match"), "{e}");

        // 6. Revoking the trader role, then restoring its row: never again.
        let (st, body) = api.call(&alice, "DELETE", "/v1/credentials/held-1/roles/trader", None).await;
        assert_eq!(st, 200, "{body}");
        raw.restore(&trader).await;
        signer.invalidate("alice", "held-1");
        let e = signer.forward(Role::Trader, &order("held-1")).await.expect_err("restored revoked grant");
        assert!(denied_with(&e, sealgate_server::revocation::RESTORED_REASON), "{e}");
        raw.exec("DELETE FROM envelopes WHERE owner = 'alice' AND role = 'trader'", &[]).await;

        // 7. Deleting the credential destroys the key; its pending grants bind nothing more.
        let key_id = made["key_id"].as_str().expect("key id").to_owned();
        assert!(world.custody.exchange_keys().await.expect("keys").iter().any(|k| k.id == key_id));
        // An active key is not discarded: its credential is deleted instead.
        let (st, e) = api.call(&alice, "POST", "/v1/custody-keys/discard", Some(json!({"pending": pending}))).await;
        assert_eq!(st, 400, "{e}");
        let (st, body) = api.call(&alice, "DELETE", "/v1/credentials/held-1", None).await;
        assert_eq!(st, 200, "{body}");
        assert!(
            !world.custody.exchange_keys().await.expect("keys").iter().any(|k| k.id == key_id),
            "key not destroyed"
        );
        let (st, e) = api
            .call(&alice, "POST", "/v1/custody-keys/activate", Some(json!({"pending": pending, "api_key": api_key})))
            .await;
        assert_eq!(st, 400, "{e}");
        assert!(e.to_string().contains("no longer in the custody"), "{e}");
        let actions: Vec<String> =
            world.store.audit_range(0, 100_000).await.expect("audit").into_iter().map(|r| r.action).collect();
        for a in
            ["exchange_key_created", "credential_created", "revoked", "credential_deleted", "exchange_key_destroyed"]
        {
            assert!(actions.iter().any(|x| x == a), "{a} not on the record: {actions:?}");
        }
    })
    .await;
}

/// Where the owner has a passkey and names it, the passkey approves the grant's exact terms
/// (AUTHORITY.md S6) before the key activates, and the approval travels in every grant; a
/// grant loosened later (unfrozen) needs the passkey as a sealed credential does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owners_passkey_approves_a_key_born_in_the_custody() {
    harness::on_both("held_keys_passkey", |db| async move {
        let world = World::new(&db.url).await;
        let signer = world.signer(world.signer_config());
        let api = api(&world, Some(signer.clone())).await;
        world.store.create_user("alice", None).await.expect("user");
        let alice = api.login("alice").await;
        let pk = sealgate_testkit::webauthn::SoftPasskey::new();
        let thumb = api.register_passkey(&alice, &pk, "laptop").await["thumbprint"].as_str().expect("thumb").to_owned();

        let ask = json!({"id": "held-pk", "exchange": "binance", "roles": ["trader"], "scope": ["read", "trade"],
            "own": [thumb]});
        let (st, made) = api.call(&alice, "POST", "/v1/custody-keys", Some(ask)).await;
        assert_eq!(st, 201, "{made}");
        assert_eq!(made["key_type"], "ed25519", "Binance's strongest");
        let pem = made["public_pem"].as_str().expect("pem");
        let balances = vec![("BTC".into(), amt("1.5")), ("USDT".into(), amt("25000"))];
        let api_key = world.sandbox.register_public_key(Venue::Binance, pem, ALL, vec![], balances).expect("register");
        let pending = made["pending"].clone();

        // Without the owner's passkey: refused, nothing stored.
        let (st, e) = api
            .call(&alice, "POST", "/v1/custody-keys/activate", Some(json!({"pending": pending, "api_key": api_key})))
            .await;
        assert_eq!(st, 403, "{e}");
        assert!(world.store.get_credential("alice", "held-pk").await.expect("get").is_none());

        // An approval of other terms (another API key id) does not activate this one.
        let start = |key: String| {
            let (api, alice, pending) = (&api, &alice, pending.clone());
            async move {
                let (st, s) = api
                    .call(alice, "POST", "/v1/custody-keys/approval", Some(json!({"pending": pending, "api_key": key})))
                    .await;
                assert_eq!(st, 200, "{s}");
                assert!(s["statement"].as_str().is_some_and(|t| t.contains(r#""kind":"grant""#)), "{s}");
                s
            }
        };
        let other = start("SOMEONE-ELSES-KEY-ID".into()).await;
        let approval =
            json!({"statement": other["statement"], "credential": pk.assert(&other["options"], &api.origin)});
        let (st, e) = api
            .call(
                &alice,
                "POST",
                "/v1/custody-keys/activate",
                Some(json!({"pending": pending, "api_key": api_key, "approval": approval})),
            )
            .await;
        assert_eq!(st, 403, "{e}");

        // The approval of these terms activates it.
        let mine = start(api_key.clone()).await;
        let approval = json!({"statement": mine["statement"], "credential": pk.assert(&mine["options"], &api.origin)});
        let (st, cred) = api
            .call(
                &alice,
                "POST",
                "/v1/custody-keys/activate",
                Some(json!({"pending": pending, "api_key": api_key, "approval": approval})),
            )
            .await;
        assert_eq!(st, 201, "{cred}");
        signer.forward(Role::Trader, &order("held-pk")).await.expect("the approved grant trades");

        // The grant carries the approval, which the signer checks (a stored grant is the root's).
        let row = world.store.owner_envelopes("alice", "held-pk").await.expect("rows").remove(0);
        let payload = B64.decode(row.jwe.split('.').nth(1).expect("payload")).expect("b64");
        let payload: Value = serde_json::from_slice(&payload).expect("json");
        assert!(payload["approval"]["statement"].as_str().is_some_and(|s| s.contains(&api_key)), "{payload}");

        // A root-signed grant naming the passkey but without its approval (what a component
        // that can reach the custody's root, but not the owner, could make) signs nothing.
        let pin = sealgate_custody::keyset::thumbprint(&world.custody.root_public().await.expect("root")).expect("pin");
        let mut g =
            sealgate_custody::grant::Grant::verify(&row.jwe, &pin, sealgate_server::now_ms() / 1000).expect("grant");
        g.approval = None;
        let unapproved = g.sign(world.custody.as_ref()).await.expect("root-signed");
        let mut raw = Raw::connect(&db).await;
        raw.set_jwe("alice", "held-pk", "trader", &row.kid, &unapproved).await;
        signer.invalidate("alice", "held-pk");
        let e = signer.forward(Role::Trader, &order("held-pk")).await.expect_err("unapproved grant");
        assert!(denied_with(&e, "did not approve"), "{e}");
        raw.set_jwe("alice", "held-pk", "trader", &row.kid, &row.jwe).await;
        signer.invalidate("alice", "held-pk");

        // Frozen by the owner (tightening: no passkey), it unfreezes only with the passkey.
        let status = "/v1/credentials/held-pk/status";
        let (st, e) = api.call(&alice, "PUT", status, Some(json!({"status": "frozen"}))).await;
        assert_eq!(st, 200, "{e}");
        let e = signer.forward(Role::Trader, &order("held-pk")).await.expect_err("frozen");
        assert!(matches!(e, SignerCallError::Denied(_)), "{e}");
        let (st, e) = api.call(&alice, "PUT", status, Some(json!({"status": "active"}))).await;
        assert_eq!(st, 403, "unfreezing without the passkey: {e}");
    })
    .await;
}

/// The scaled deployment: the api in another process reaches the signer's service API as
/// the `api` service for every custody-key step; a consumer role's key cannot make, activate
/// or destroy a key, and the api's key cannot sign or forward an exchange request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_in_another_process_reaches_the_signer_for_keys() {
    use sealgate_server::client::SignerClient as _;
    use sealgate_server::held_keys::{CreateCall, HeldKeys as _, PendingCall};
    use sealgate_server::service_auth::{ServiceKey, ServiceVerifier};
    use sealgate_server::signer::HttpSignerClient;
    use std::sync::Arc;

    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("s.db").display());
    let world = World::new(&url).await;
    let signer = world.signer(world.signer_config());
    let (api_key_pair, _) = ServiceKey::generate("api").expect("key");
    let (trader, _) = ServiceKey::generate("trader").expect("key");
    let verifier = Arc::new(ServiceVerifier::new(
        [("api".to_owned(), api_key_pair.public_key()), ("trader".to_owned(), trader.public_key())].into(),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn({
        let signer = signer.clone();
        async move { axum::serve(listener, signer.router(verifier)).await }
    });
    let as_api = Arc::new(HttpSignerClient::new(&base, Arc::new(api_key_pair)).expect("client"));
    let as_trader = Arc::new(HttpSignerClient::new(&base, Arc::new(trader)).expect("client"));
    let api = api_reaching(&world, as_api.clone()).await;
    world.store.create_user("alice", None).await.expect("user");
    let alice = api.login("alice").await;

    // The whole flow, each step at the signer over HTTP.
    let ask = json!({"id": "held-far", "exchange": "binance", "roles": ["trader"], "scope": ["read", "trade"]});
    let (st, made) = api.call(&alice, "POST", "/v1/custody-keys", Some(ask)).await;
    assert_eq!(st, 201, "{made}");
    let balances = vec![("BTC".into(), amt("1.5")), ("USDT".into(), amt("25000"))];
    let pem = made["public_pem"].as_str().expect("pem");
    let api_key = world.sandbox.register_public_key(Venue::Binance, pem, ALL, vec![], balances).expect("register");
    let body = json!({"pending": made["pending"], "api_key": api_key});
    let (st, cred) = api.call(&alice, "POST", "/v1/custody-keys/activate", Some(body)).await;
    assert_eq!(st, 201, "{cred}");
    let r = as_trader.forward(&order("held-far")).await.expect("the trader trades through the signer");
    assert_eq!(r.status, 200, "{}", r.body);

    // A consumer role's key manages no custody key; the api's key signs no exchange request.
    let create = CreateCall {
        owner: "alice".parse().expect("owner"),
        cid: "sneaky".parse().expect("cid"),
        exchange: "binance".into(),
        key_type: "ed25519".into(),
        roles: vec!["trader".into()],
        scope: vec!["read".into(), "trade".into(), "withdraw".into()],
        own: None,
    };
    let e = as_trader.create(&create).await.expect_err("a trader making keys");
    assert!(matches!(&e, SignerCallError::Unauthorized(m) if m.contains("only the api")), "{e}");
    let discard = PendingCall { owner: "alice".into(), pending: vec![], api_key: None, approval: None, sealed: None };
    assert!(matches!(as_trader.discard(&discard).await, Err(SignerCallError::Unauthorized(_))));
    let e = as_api.forward(&order("held-far")).await.expect_err("the api forwarding");
    assert!(matches!(&e, SignerCallError::Unauthorized(m) if m.contains("not a consumer role")), "{e}");

    // Deleting the credential destroys the key, through the signer.
    let key_id = made["key_id"].as_str().expect("key id").to_owned();
    let (st, body) = api.call(&alice, "DELETE", "/v1/credentials/held-far", None).await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(world.custody.exchange_key(&key_id).await.expect("read"), None, "the key is destroyed");
}

/// Alice asks for a Bitget trader key in the custody and registers it at the sandbox with
/// `passphrase`: her session, the api's answer (pending grants), the API key id.
async fn bitget_key(world: &World, api: &Api, passphrase: &str) -> (Session, Value, String) {
    world.store.create_user("alice", None).await.expect("user");
    let alice = api.login("alice").await;
    let ask = json!({"id": "held-bg", "exchange": "bitget", "roles": ["trader"], "scope": ["read", "trade"]});
    let (st, made) = api.call(&alice, "POST", "/v1/custody-keys", Some(ask)).await;
    assert_eq!((st, made["key_type"].as_str()), (201, Some("rsa-2048")), "{made}");
    assert!(made["steps"]["steps"].to_string().contains("passphrase"), "{made}");
    let pem = made["public_pem"].as_str().expect("pem");
    let balances = vec![("BTC".into(), amt("1.5")), ("USDT".into(), amt("25000"))];
    let api_key = world
        .sandbox
        .register_public_key_with_passphrase(Venue::Bitget, pem, Some(passphrase), ALL, vec![], balances)
        .expect("register");
    (alice, made, api_key)
}

/// Bitget needs a passphrase beside the key: the owner seals `{"api_key", "passphrase"}` to
/// each role (as for a sealed credential), it travels inside the root-signed grant, and only
/// the signer opens it, through the custody, to sign.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bitget_takes_its_passphrase_sealed_beside_the_key() {
    const PASSPHRASE: &str = "CANARY-bitget-passphrase-6e1d";
    harness::on_both("held_keys_bitget", |db| async move {
        let world = World::new(&db.url).await;
        let signer = world.signer(world.signer_config());
        let api = api(&world, Some(signer.clone())).await;
        let (alice, made, api_key) = bitget_key(&world, &api, PASSPHRASE).await;
        let pending = made["pending"].clone();
        let activate = |body: Value| {
            let (api, alice) = (&api, &alice);
            async move { api.call(alice, "POST", "/v1/custody-keys/activate", Some(body)).await }
        };

        // Without the passphrase, or sealed to a role the key is not granted to: refused.
        let (st, e) = activate(json!({"pending": pending, "api_key": api_key})).await;
        assert_eq!(st, 400, "{e}");
        assert!(e.to_string().contains("passphrase"), "{e}");
        let secret = json!({"api_key": api_key, "passphrase": PASSPHRASE}).to_string();
        let to_importer = world.seal("alice", "held-bg", "bitget", "importer", "read", &secret);
        let (st, e) = activate(json!({"pending": pending, "api_key": api_key,
            "sealed": [{"role": "importer", "jwe": to_importer}]}))
        .await;
        assert_eq!(st, 400, "{e}");
        // Sealed for another API key id: refused before anything is stored.
        let other = json!({"api_key": "bg_00000000000000000000000000000000", "passphrase": PASSPHRASE}).to_string();
        let wrong = world.seal("alice", "held-bg", "bitget", "trader", "read,trade", &other);
        let (st, e) = activate(json!({"pending": pending, "api_key": api_key,
            "sealed": [{"role": "trader", "jwe": wrong}]}))
        .await;
        assert_eq!(st, 400, "{e}");

        let sealed = world.seal("alice", "held-bg", "bitget", "trader", "read,trade", &secret);
        let (st, cred) = activate(json!({"pending": pending, "api_key": api_key,
            "sealed": [{"role": "trader", "jwe": sealed}]}))
        .await;
        assert_eq!(st, 201, "{cred}");

        // Bitget checks the key's signature and the passphrase: both reach it.
        let assets = call("held-bg", "GET", "/api/v2/spot/account/assets", "", "");
        let r = signer.forward(Role::Trader, &assets).await.expect("read");
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.body.contains("\"00000\""), "{}", r.body);

        // The passphrase is in no row and no record in clear.
        let rows = world.store.owner_envelopes("alice", "held-bg").await.expect("rows");
        assert!(rows.iter().all(|e| !e.jwe.contains(PASSPHRASE)));
        for r in world.store.audit_range(0, 100_000).await.expect("audit") {
            assert!(!r.detail.contains(PASSPHRASE), "{}", r.detail);
        }
    })
    .await;
}

/// A role key rotation moves the passphrase sealed inside a Bitget grant too: the re-wrap
/// re-seals it to the new version and the custody root signs the grant again (only `sealed`
/// changes), the old grant is revoked on the record, the old version can then be retired and
/// the credential still signs. A database writer's edited grant is never laundered into a
/// root-signed one, and the old grant put back is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_rewraps_the_passphrase_inside_a_grant() {
    const PASSPHRASE: &str = "CANARY-bitget-rotated-9c2a";
    harness::on_both("held_keys_rewrap", |db| async move {
        let world = World::new(&db.url).await;
        let cfg = SignerConfig { revalidate: std::time::Duration::from_millis(100), ..world.signer_config() };
        let signer = world.signer(cfg);
        let api = api(&world, Some(signer.clone())).await;
        let (alice, made, api_key) = bitget_key(&world, &api, PASSPHRASE).await;
        let secret = json!({"api_key": api_key, "passphrase": PASSPHRASE}).to_string();
        let sealed = world.seal("alice", "held-bg", "bitget", "trader", "read,trade", &secret);
        let (st, cred) = api
            .call(
                &alice,
                "POST",
                "/v1/custody-keys/activate",
                Some(json!({"pending": made["pending"],
                "api_key": api_key, "sealed": [{"role": "trader", "jwe": sealed}]})),
            )
            .await;
        assert_eq!(st, 201, "{cred}");
        let assets = call("held-bg", "GET", "/api/v2/spot/account/assets", "", "");
        let reads = |why: &'static str| {
            let (signer, assets) = (signer.clone(), assets.clone());
            async move {
                let r = signer.forward(Role::Trader, &assets).await.unwrap_or_else(|e| panic!("{why}: {e}"));
                assert!(r.status == 200 && r.body.contains("\"00000\""), "{why}: {}", r.body);
            }
        };
        reads("before the rotation").await;
        let old = world.store.owner_envelopes("alice", "held-bg").await.expect("rows").remove(0);
        let old_version =
            world.custody.keys().await.expect("keys").into_iter().find(|k| k.role == "trader").expect("v1");

        let new = world.custody.rotate("trader", world.custody.default_role_key_type()).await.expect("rotate");
        // Retiring the old version while the grant's passphrase is sealed to it: refused.
        let retire = || {
            set_key_status(
                &world.store,
                world.custody.as_ref(),
                &world.audit,
                "operator:test",
                &old_version.kid,
                KeyStatus::Retired,
            )
        };
        let e = retire().await.expect_err("still in use");
        assert!(e.to_string().contains("grant passphrase"), "{e}");

        // A database writer widens the stored grant (its signature no longer holds): the
        // re-wrap refuses to re-sign it, and leaves the row as it was.
        let forged = edited(&old.jwe, |p| {
            p.insert("scope".into(), json!(["read", "trade", "withdraw"]));
        });
        world
            .store
            .put_envelope("alice", "held-bg", &NewEnvelope { role: "trader", kid: &old.kid, jwe: &forged })
            .await
            .expect("forge");
        let opts = RewrapOptions {
            role: "trader".into(),
            from: old_version.kid.clone(),
            batch: 48,
            workers: 1,
            actor: "operator:test".into(),
        };
        let s = rewrap(&world.store, world.custody.clone(), &world.audit, &opts, |_| {}).await.expect("rewrap");
        assert_eq!((s.found, s.rewrapped, s.failed, s.left), (1, 0, 1, 1), "{s:?}");
        assert_eq!(s.failures[0].reason, "the stored grant is not the custody root's");
        let row = world.store.owner_envelopes("alice", "held-bg").await.expect("rows").remove(0);
        assert_eq!(row.jwe, forged, "the forged row was not replaced");

        // The row as the owner left it: re-wrapped and re-signed.
        world
            .store
            .put_envelope("alice", "held-bg", &NewEnvelope { role: "trader", kid: &old.kid, jwe: &old.jwe })
            .await
            .expect("put back");
        let s = rewrap(&world.store, world.custody.clone(), &world.audit, &opts, |_| {}).await.expect("rewrap");
        assert_eq!((s.found, s.rewrapped, s.failed, s.left, s.to.as_str()), (1, 1, 0, 0, new.kid.as_str()), "{s:?}");
        let now = world.store.owner_envelopes("alice", "held-bg").await.expect("rows").remove(0);
        assert_eq!(now.kid, old.kid, "the row still names the custody key");
        let (was, is) = (
            edited(&old.jwe, |p| {
                p.remove("sealed");
            }),
            edited(&now.jwe, |p| {
                p.remove("sealed");
            }),
        );
        assert_eq!(was.split('.').nth(1), is.split('.').nth(1), "only the sealed passphrase changed");
        let inner =
            sealgate_custody::grant::claimed(&now.jwe).expect("claims")["sealed"].as_str().expect("sealed").to_owned();
        let header: Value =
            serde_json::from_slice(&B64.decode(inner.split('.').next().expect("h")).expect("b64")).expect("json");
        assert_eq!(header["kid"], json!(new.kid), "sealed to the new version");
        retire().await.expect("nothing is sealed to the old version now");

        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        reads("after the re-wrap, with the old version retired").await;

        // The old grant put back by a database writer: revoked on the record.
        world
            .store
            .put_envelope("alice", "held-bg", &NewEnvelope { role: "trader", kid: &old.kid, jwe: &old.jwe })
            .await
            .expect("restore");
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        let e = signer.forward(Role::Trader, &assets).await.expect_err("the old grant");
        assert!(matches!(&e, SignerCallError::Denied(m) if m.starts_with(RESTORED_REASON)), "{e}");
        for r in world.store.audit_range(0, 100_000).await.expect("audit") {
            assert!(!r.detail.contains(PASSPHRASE), "{}", r.detail);
        }
    })
    .await;
}

/// A key made and never activated is destroyed by the signer's sweep a day (and an hour's
/// grace) after it was made, on the record; an active key, and a key in the custody that
/// this deployment did not make, are left alone. Pending grants older than a day do not
/// activate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_made_and_never_activated_are_swept() {
    harness::on_both("held_keys_sweep", |db| async move {
        let world = World::new(&db.url).await;
        let signer = world.signer(world.signer_config());
        let api = api(&world, Some(signer.clone())).await;
        world.store.create_user("alice", None).await.expect("user");
        let alice = api.login("alice").await;
        let make = |id: &'static str| {
            let (api, alice) = (&api, &alice);
            async move {
                let ask = json!({"id": id, "exchange": "binance", "key_type": "ed25519",
                    "roles": ["trader"], "scope": ["read", "trade"]});
                let (st, made) = api.call(alice, "POST", "/v1/custody-keys", Some(ask)).await;
                assert_eq!(st, 201, "{made}");
                made
            }
        };
        let abandoned = make("walked-away").await;
        let active = make("in-use").await;
        let pem = active["public_pem"].as_str().expect("pem");
        let balances = vec![("BTC".into(), amt("1"))];
        let api_key = world.sandbox.register_public_key(Venue::Binance, pem, ALL, vec![], balances).expect("register");
        let (st, cred) = api
            .call(
                &alice,
                "POST",
                "/v1/custody-keys/activate",
                Some(json!({"pending": active["pending"], "api_key": api_key})),
            )
            .await;
        assert_eq!(st, 201, "{cred}");
        // Another deployment's key in a shared custody: never this sweep's.
        let foreign = world.custody.create_exchange_key(sealgate_custody::ExchangeKeyType::Ed25519).await.expect("key");
        let key_of = |made: &Value| made["key_id"].as_str().expect("id").to_owned();
        let in_custody = |id: String| {
            let custody = world.custody.clone();
            async move { custody.exchange_key(&id).await.expect("read").is_some() }
        };

        let now = sealgate_server::now_ms();
        let s = signer.sweep_held_keys(now).await.expect("sweep");
        assert_eq!((s.destroyed, s.settled), (0, 0), "nothing is a day old");
        let late = now + (PENDING_LIFE_SECS + SWEEP_GRACE_SECS) * 1000 + 1000;
        let s = signer.sweep_held_keys(late).await.expect("sweep");
        assert_eq!((s.destroyed, s.settled), (1, 1), "{s:?}");
        assert!(!in_custody(key_of(&abandoned)).await, "the abandoned key is destroyed");
        assert!(in_custody(key_of(&active)).await && in_custody(foreign.id.clone()).await);
        let s = signer.sweep_held_keys(late).await.expect("again");
        assert_eq!((s.destroyed, s.settled), (0, 0), "each birth is settled once");
        let records = world.store.audit_range(0, 100_000).await.expect("audit");
        let destroyed: Vec<_> = records.iter().filter(|r| r.action == EXCHANGE_KEY_DESTROYED).collect();
        assert_eq!(destroyed.len(), 1);
        assert!(destroyed[0].detail.contains("\"abandoned\":true") && destroyed[0].subject == "walked-away");
        let r = signer.forward(Role::Trader, &call("in-use", "GET", "/api/v3/account", "", "")).await.expect("signs");
        assert_eq!(r.status, 200, "{}", r.body);

        // Its pending grants bind nothing now.
        let (st, e) = api
            .call(
                &alice,
                "POST",
                "/v1/custody-keys/activate",
                Some(json!({"pending": abandoned["pending"], "api_key": "k".repeat(64)})),
            )
            .await;
        assert_eq!(st, 400, "{e}");
        // A pending grant more than a day old does not activate (the root's own signature).
        let fresh = make("late").await;
        let old = edited_and_signed(
            &world,
            fresh["pending"][0].as_str().expect("grant"),
            now / 1000 - PENDING_LIFE_SECS - 60,
        )
        .await;
        let (st, e) = api
            .call(
                &alice,
                "POST",
                "/v1/custody-keys/activate",
                Some(json!({"pending": [old], "api_key": "k".repeat(64)})),
            )
            .await;
        assert_eq!(st, 400, "{e}");
        assert!(e.to_string().contains("more than 24 hours old"), "{e}");
    })
    .await;
}

/// `jws` (a grant) with `iat` set, signed again by the world's custody root.
async fn edited_and_signed(world: &World, jws: &str, iat: u64) -> String {
    let pin = sealgate_custody::keyset::thumbprint(&world.custody.root_public().await.expect("root")).expect("pin");
    let g = sealgate_custody::grant::Grant::verify(jws, &pin, sealgate_server::now_ms() / 1000).expect("grant");
    sealgate_custody::grant::Grant { iat, ..g }.sign(world.custody.as_ref()).await.expect("sign")
}
