//! Revocation sticks and every refusal is evidence (issue 14 item 5), against a real store
//! (SQLite and PostgreSQL), the local keyring custody, the exchange sandbox, the api over
//! HTTP and the signer: a database writer who restores a revoked, replaced or deleted
//! envelope row (byte for byte, or respelled) gets nothing opened, and the refusal is on
//! the record; rows swapped between users, credentials, roles and exchanges are refused
//! and recorded; a revocation record deleted or rewritten stops the signer and fails
//! `audit verify`; a database rolled back below what a signer saw is refused by that
//! signer and caught by the checkpoint file it keeps.

#[path = "../../sealgate-store/tests/harness/mod.rs"]
mod harness;
#[path = "support/raw.rs"]
mod raw;
mod session;
mod support;

use std::time::Duration;

use harness::TestDb;
use raw::Raw;
use sealgate_audit::jsonl::{Trust, parse_checkpoints, verify_export_with};
use sealgate_policy::Role;
use sealgate_server::client::{ForwardCall, SignerCallError};
use sealgate_server::revocation::{RESTORED_REASON, REVOKED_MEMBER, RevocationError};
use sealgate_server::signer::{Signer, SignerConfig};
use sealgate_store::{AuditRecord, Envelope};
use serde_json::{Value, json};
use support::*;

/// A read of alice's credential `cid`.
fn read(cid: &str) -> ForwardCall {
    read_as("alice", cid)
}

/// A read of `owner`'s credential `cid`.
fn read_as(owner: &str, cid: &str) -> ForwardCall {
    call_as(owner, cid, "GET", "/api/v3/account", "", "")
}

// --- a database writer -----------------------------------------------------------------------

// --- what the record says --------------------------------------------------------------------

async fn records(world: &World) -> Vec<AuditRecord> {
    world.store.audit_range(0, 100_000).await.expect("audit")
}

fn detail(r: &AuditRecord) -> Value {
    serde_json::from_str(&r.detail).expect("detail")
}

/// The denials whose reason starts with `reason`.
async fn denials(world: &World, reason: &str) -> Vec<Value> {
    records(world)
        .await
        .iter()
        .filter(|r| r.action == "denied")
        .map(detail)
        .filter(|d| d["reason"].as_str().is_some_and(|r| r.starts_with(reason)))
        .collect()
}

/// Nothing secret on the record: no exchange secret, no API key, no ciphertext.
async fn assert_no_secret(world: &World, jwes: &[&str]) {
    for r in records(world).await {
        let line = format!("{} {} {} {}", r.actor, r.action, r.subject, r.detail);
        for bad in [BINANCE_SECRET, BINANCE_KEY, "api_secret"] {
            assert!(!line.contains(bad), "{line}");
        }
        for jwe in jwes {
            // Any 40 characters of an envelope (its protected header or ciphertext).
            for chunk in jwe.as_bytes().chunks(40).filter(|c| c.len() == 40) {
                assert!(!line.contains(std::str::from_utf8(chunk).expect("ascii")), "{line}");
            }
        }
    }
}

async fn envelope(world: &World, owner: &str, cid: &str, role: &str) -> Envelope {
    let all = world.store.owner_envelopes(owner, cid).await.expect("envelopes");
    all.into_iter().find(|e| e.role == role).expect("envelope")
}

fn denied_restored(e: &SignerCallError) -> bool {
    matches!(e, SignerCallError::Denied(m) if m.starts_with(RESTORED_REASON))
}

/// The custody root's pin, for `audit verify`.
async fn pin(world: &World) -> String {
    let root = sealgate_audit::RootKey::from_jwk(&world.custody.root_public().await.expect("root")).expect("root");
    root.thumbprint()
}

/// Adds records until a signed checkpoint covers `seq`.
async fn checkpoint_past(world: &World, signer: &Signer, cid: &str, seq: i64) {
    for _ in 0..200 {
        let cps = world.store.audit_checkpoints().await.expect("checkpoints");
        if cps.iter().any(|c| c.seq >= seq) {
            return;
        }
        signer.forward(Role::Importer, &read(cid)).await.expect("read");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no checkpoint past seq {seq}");
}

// --- the tests -------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_role_restored_by_a_database_writer_never_opens() {
    harness::on_both("revoked_restored", |db| async move {
        let world = World::new(&db.url).await;
        let roles = [("importer", "read"), ("trader", "read,trade")];
        world.credential("alice", "cid-r", "binance", &binance_json(), &roles).await;
        let signer = world.signer(world.signer_config());
        let api = api(&world, Some(signer.clone())).await;
        let alice = api.login("alice").await;
        signer.forward(Role::Trader, &read("cid-r")).await.expect("trader reads");

        let trader = envelope(&world, "alice", "cid-r", "trader").await;
        let (status, body) = api.call(&alice, "DELETE", "/v1/credentials/cid-r/roles/trader", None).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(signer.forward(Role::Trader, &read("cid-r")).await.expect_err("revoked"), SignerCallError::NotFound);
        // The record names the envelope by its content digest, and was written before the row went.
        let digest = sealgate_server::revocation::envelope_digest(&trader.jwe).expect("digest").to_string();
        let revoked = records(&world).await.into_iter().find(|r| r.action == "revoked").expect("revoked record");
        assert_eq!(detail(&revoked)[REVOKED_MEMBER], json!([digest]), "{}", revoked.detail);
        assert_eq!(revoked.owner.as_deref(), Some("alice"));

        // A database writer puts the row back, byte for byte: refused, and on the record.
        let mut raw = Raw::connect(&db).await;
        raw.restore(&trader).await;
        let forwarded = |rs: &[AuditRecord]| rs.iter().filter(|r| r.action == "forwarded").count();
        let before = forwarded(&records(&world).await);
        let e = signer.forward(Role::Trader, &read("cid-r")).await.expect_err("restored");
        assert!(denied_restored(&e), "{e}");
        assert_eq!(forwarded(&records(&world).await), before, "nothing was signed or sent");
        let d = denials(&world, RESTORED_REASON).await;
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!((d[0]["envelope"].as_str(), d[0]["owner"].as_str()), (Some(digest.as_str()), Some("alice")));

        // Respelled: the same envelope with whitespace, or as flattened JSON, is the same envelope.
        let p: Vec<&str> = trader.jwe.split('.').collect();
        let flattened = json!({"protected": p[0], "encrypted_key": p[1], "iv": p[2], "ciphertext": p[3], "tag": p[4],
                               "unprotected": {"note": "restored"}})
        .to_string();
        for text in [format!(" {}\n", trader.jwe), flattened] {
            raw.set_jwe("alice", "cid-r", "trader", &trader.kid, &text).await;
            let e = signer.forward(Role::Trader, &read("cid-r")).await.expect_err("respelled");
            assert!(denied_restored(&e), "{e}");
        }

        // A signer started afterwards learns it from the chain, not from this process.
        let fresh = world.signer(world.signer_config());
        let e = fresh.forward(Role::Trader, &read("cid-r")).await.expect_err("fresh signer");
        assert!(denied_restored(&e), "{e}");
        // The role that was not revoked still works; nothing was ever unsealed for the trader again.
        fresh.forward(Role::Importer, &read("cid-r")).await.expect("importer");
        let unsealed = records(&world).await.iter().filter(|r| r.action == "unsealed").count();
        assert_eq!(unsealed, 2, "one trader unseal before the revoke, one importer unseal by the fresh signer");

        let pin = pin(&world).await;
        sealgate_server::audit::verify_store(&world.store, Trust::Pin(&pin)).await.expect("chain verifies");
        assert_no_secret(&world, &[&trader.jwe]).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_in_another_process_reaches_a_warm_cache_though_the_row_is_back() {
    harness::on_both("revoked_elsewhere", |db| async move {
        let world = World::new(&db.url).await;
        world
            .credential("alice", "cid-w", "binance", &binance_json(), &[("importer", "read"), ("trader", "read,trade")])
            .await;
        world.credential("alice", "cid-x", "binance", &binance_json(), &[("importer", "read")]).await;
        let signer = world.signer(world.signer_config());
        // The api runs in another process: the signer is not told.
        let api = api(&world, None).await;
        let alice = api.login("alice").await;
        signer.forward(Role::Trader, &read("cid-w")).await.expect("warm");
        signer.forward(Role::Importer, &read("cid-x")).await.expect("warm");
        assert_eq!(signer.cached(), 2);

        let trader = envelope(&world, "alice", "cid-w", "trader").await;
        let (status, body) = api.call(&alice, "DELETE", "/v1/credentials/cid-w/roles/trader", None).await;
        assert_eq!(status, 200, "{body}");
        // Put back at once, before the signer re-checks its cache: the row never looks gone.
        Raw::connect(&db).await.restore(&trader).await;
        tokio::time::sleep(Duration::from_millis(600)).await;
        // A request for another credential reads the revocation: the revoked plaintext goes.
        signer.forward(Role::Importer, &read("cid-x")).await.expect("other credential");
        assert_eq!(signer.cached(), 1, "the revoked credential's cached copy is dropped");
        let e = signer.forward(Role::Trader, &read("cid-w")).await.expect_err("revoked elsewhere");
        assert!(denied_restored(&e), "{e}");
        assert_eq!(denials(&world, RESTORED_REASON).await.len(), 1);
    })
    .await;
}

/// `serve` runs the signer's audit follow in the background: a revocation made in another
/// process leaves the signer's memory with no request of the signer's reading it (the
/// request path no longer has to, which in a scaled deployment was its tail latency).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_background_follow_learns_a_revocation_made_elsewhere_without_a_request() {
    harness::on_both("revoked_in_background", |db| async move {
        let world = World::new(&db.url).await;
        world
            .credential("alice", "cid-b", "binance", &binance_json(), &[("importer", "read"), ("trader", "read,trade")])
            .await;
        let cfg = SignerConfig { revalidate: Duration::from_millis(200), ..world.signer_config() };
        let signer = world.signer(cfg);
        let (_stop, stop) = tokio::sync::watch::channel(false);
        tokio::spawn(signer.clone().run_audit_follow(stop));
        let api = api(&world, None).await;
        let alice = api.login("alice").await;
        signer.forward(Role::Trader, &read("cid-b")).await.expect("warm");
        assert_eq!(signer.cached(), 1);
        let (status, body) = api.call(&alice, "DELETE", "/v1/credentials/cid-b/roles/trader", None).await;
        assert_eq!(status, 200, "{body}");
        // No request to the signer: only its background follow can drop the cached copy.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while signer.cached() != 0 {
            assert!(tokio::time::Instant::now() < deadline, "the revoked credential is still cached");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_envelope_restored_never_opens() {
    harness::on_both("replaced_restored", |db| async move {
        let world = World::new(&db.url).await;
        world
            .credential("alice", "cid-p", "binance", &binance_json(), &[("importer", "read"), ("trader", "read,trade")])
            .await;
        let signer = world.signer(world.signer_config());
        let api = api(&world, Some(signer.clone())).await;
        let alice = api.login("alice").await;
        signer.forward(Role::Trader, &read("cid-p")).await.expect("trader");
        let old = envelope(&world, "alice", "cid-p", "trader").await;

        // The owner re-seals the trader role (to read only).
        let new = world.seal("alice", "cid-p", "binance", "trader", "read", &binance_json());
        let (status, body) =
            api.call(&alice, "PUT", "/v1/credentials/cid-p/roles/trader", Some(json!({"jwe": new}))).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(envelope(&world, "alice", "cid-p", "trader").await.jwe, new);
        signer.forward(Role::Trader, &read("cid-p")).await.expect("the new envelope opens");
        let order = call("cid-p", "POST", "/api/v3/order", "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.01", "");
        let e = signer.forward(Role::Trader, &order).await.expect_err("narrowed");
        assert!(matches!(&e, SignerCallError::Denied(m) if m.contains("trade")), "{e}");
        let replaced = records(&world).await.into_iter().find(|r| r.action == "envelope_replaced").expect("record");
        let old_digest = sealgate_server::revocation::envelope_digest(&old.jwe).expect("digest").to_string();
        assert_eq!(detail(&replaced)[REVOKED_MEMBER], json!([old_digest]));

        // A database writer puts the old (wider) envelope back: refused and recorded.
        Raw::connect(&db).await.set_jwe("alice", "cid-p", "trader", &old.kid, &old.jwe).await;
        signer.invalidate_all();
        let e = signer.forward(Role::Trader, &order).await.expect_err("old envelope");
        assert!(denied_restored(&e), "{e}");
        assert_eq!(world.sandbox.free_balance(BINANCE_KEY, "BTC"), Some(amt("1.5")), "no order executed");
        assert_eq!(denials(&world, RESTORED_REASON).await.len(), 1);
        assert_no_secret(&world, &[&old.jwe, &new]).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_credential_restored_never_opens() {
    harness::on_both("deleted_restored", |db| async move {
        let world = World::new(&db.url).await;
        world
            .credential("alice", "cid-d", "binance", &binance_json(), &[("importer", "read"), ("trader", "read,trade")])
            .await;
        let signer = world.signer(world.signer_config());
        let api = api(&world, Some(signer.clone())).await;
        let alice = api.login("alice").await;
        signer.forward(Role::Importer, &read("cid-d")).await.expect("importer");
        let envs = world.store.owner_envelopes("alice", "cid-d").await.expect("envelopes");
        assert_eq!(envs.len(), 2);

        let (status, body) = api.call(&alice, "DELETE", "/v1/credentials/cid-d", None).await;
        assert_eq!(status, 200, "{body}");
        let deleted = records(&world).await.into_iter().find(|r| r.action == "credential_deleted").expect("record");
        assert_eq!(detail(&deleted)[REVOKED_MEMBER].as_array().map(Vec::len), Some(2), "{}", deleted.detail);

        // Row and envelopes put back by a database writer.
        let mut raw = Raw::connect(&db).await;
        assert_eq!(
            raw.exec("UPDATE credentials SET status = 'active' WHERE id = $1 AND owner = $2", &["cid-d", "alice"])
                .await,
            1
        );
        for e in &envs {
            raw.restore(e).await;
        }
        for role in [Role::Importer, Role::Trader] {
            let e = signer.forward(role, &read("cid-d")).await.expect_err("restored");
            assert!(denied_restored(&e), "{}: {e}", role.name());
        }
        assert_eq!(denials(&world, RESTORED_REASON).await.len(), 2);
    })
    .await;
}

/// Ids are unique per owner only: alice's revoke and delete of `cid-s` name, destroy and
/// refuse her envelopes, never bob's under the same id (a store query matching the id
/// alone would record, delete or refuse his too).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_credential_id_another_owner_also_has_touches_only_the_revoking_owners_envelopes() {
    harness::on_both("same_id_two_owners", |db| async move {
        let world = World::new(&db.url).await;
        let roles = [("importer", "read"), ("trader", "read,trade")];
        // Bob's first: a query that ignored the owner would meet his rows before alice's.
        world.credential("bob", "cid-s", "binance", &binance_json(), &roles).await;
        world.credential("alice", "cid-s", "binance", &binance_json(), &roles).await;
        let signer = world.signer(world.signer_config());
        let api = api(&world, Some(signer.clone())).await;
        let alice = api.login("alice").await;
        for owner in ["bob", "alice"] {
            for role in [Role::Importer, Role::Trader] {
                signer.forward(role, &read_as(owner, "cid-s")).await.expect(owner);
            }
        }
        assert_eq!(signer.cached(), 4);
        let a_imp = envelope(&world, "alice", "cid-s", "importer").await;
        let a_trd = envelope(&world, "alice", "cid-s", "trader").await;
        let bobs = world.store.owner_envelopes("bob", "cid-s").await.expect("bob's");
        assert_eq!(bobs.len(), 2);
        let digest = |e: &Envelope| sealgate_server::revocation::envelope_digest(&e.jwe).expect("digest").to_string();

        // Alice revokes her trader role: the record names her envelope only, and only her
        // cached copies go.
        let (status, body) = api.call(&alice, "DELETE", "/v1/credentials/cid-s/roles/trader", None).await;
        assert_eq!(status, 200, "{body}");
        let revoked = records(&world).await.into_iter().find(|r| r.action == "revoked").expect("revoked record");
        assert_eq!(detail(&revoked)[REVOKED_MEMBER], json!([digest(&a_trd)]), "{}", revoked.detail);
        assert_eq!(revoked.owner.as_deref(), Some("alice"));
        assert_eq!(signer.cached(), 2, "bob's cached copies stay");
        // Then deletes the credential: her importer envelope only.
        let (status, body) = api.call(&alice, "DELETE", "/v1/credentials/cid-s", None).await;
        assert_eq!(status, 200, "{body}");
        let deleted = records(&world).await.into_iter().find(|r| r.action == "credential_deleted").expect("record");
        assert_eq!(detail(&deleted)[REVOKED_MEMBER], json!([digest(&a_imp)]), "{}", deleted.detail);
        assert_eq!(world.store.owner_envelopes("bob", "cid-s").await.expect("bob's"), bobs, "bob's rows untouched");
        let bob_cred = world.store.get_credential("bob", "cid-s").await.expect("get").expect("bob's credential");
        assert_eq!(bob_cred.status, sealgate_store::CredentialStatus::Active);

        // Bob's envelopes still open, in the warm signer and in one that learns from the chain.
        let fresh = world.signer(world.signer_config());
        for s in [&signer, &fresh] {
            for role in [Role::Importer, Role::Trader] {
                s.forward(role, &read_as("bob", "cid-s")).await.expect("bob's envelope opens");
            }
        }

        // A database writer puts alice's rows back: refused, on the record as hers.
        let mut raw = Raw::connect(&db).await;
        let revive = "UPDATE credentials SET status = 'active' WHERE id = $1 AND owner = $2";
        assert_eq!(raw.exec(revive, &["cid-s", "alice"]).await, 1);
        raw.restore(&a_imp).await;
        raw.restore(&a_trd).await;
        for s in [&signer, &fresh] {
            for role in [Role::Importer, Role::Trader] {
                let e = s.forward(role, &read_as("alice", "cid-s")).await.expect_err("restored");
                assert!(denied_restored(&e), "{}: {e}", role.name());
                s.forward(role, &read_as("bob", "cid-s")).await.expect("bob's still opens");
            }
        }
        let d = denials(&world, RESTORED_REASON).await;
        assert_eq!(d.len(), 4, "{d:?}");
        assert!(d.iter().all(|d| d["owner"] == json!("alice")), "{d:?}");
        let refused: std::collections::BTreeSet<_> = d.iter().filter_map(|d| d["envelope"].as_str()).collect();
        assert_eq!(refused, [digest(&a_imp), digest(&a_trd)].iter().map(String::as_str).collect());
        let pin = pin(&world).await;
        sealgate_server::audit::verify_store(&world.store, Trust::Pin(&pin)).await.expect("chain verifies");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envelopes_swapped_between_users_credentials_roles_and_exchanges_are_refused_and_recorded() {
    harness::on_both("swapped", |db| async move {
        let world = World::new(&db.url).await;
        let roles = [("importer", "read"), ("trader", "read,trade")];
        world.credential("alice", "cid-a", "binance", &binance_json(), &roles).await;
        world.credential("alice", "cid-a2", "binance", &binance_json(), &roles).await;
        world.credential("bob", "cid-b", "binance", &binance_json(), &roles).await;
        world.credential("bob", "cid-k", "binance", &binance_json(), &roles).await;
        let signer = world.signer(world.signer_config());
        let a_imp = envelope(&world, "alice", "cid-a", "importer").await;
        let a_trd = envelope(&world, "alice", "cid-a", "trader").await;
        let mut raw = Raw::connect(&db).await;

        // Alice's envelope in Bob's row (another user).
        raw.set_jwe("bob", "cid-b", "importer", &a_imp.kid, &a_imp.jwe).await;
        // Alice's envelope in her other credential's row (another credential).
        raw.set_jwe("alice", "cid-a2", "importer", &a_imp.kid, &a_imp.jwe).await;
        // Alice's trader envelope in her importer row (another role).
        raw.set_jwe("alice", "cid-a", "importer", &a_trd.kid, &a_trd.jwe).await;
        // A row whose exchange was changed (another exchange).
        raw.exec("UPDATE credentials SET exchange = 'kraken' WHERE id = $1 AND owner = $2", &["cid-k", "bob"]).await;
        // A row naming another key version than the envelope's (kid).
        let b_trd = envelope(&world, "bob", "cid-b", "trader").await;
        raw.set_jwe("bob", "cid-b", "trader", &a_imp.kid, &b_trd.jwe).await;

        let cases = [
            (Role::Importer, "cid-b", "bob", "sub"),
            (Role::Importer, "cid-a2", "alice", "cid"),
            (Role::Importer, "cid-a", "alice", "aud"),
            (Role::Importer, "cid-k", "bob", "exch"),
            (Role::Trader, "cid-b", "bob", "kid"),
        ];
        for (role, cid, owner, field) in cases {
            let call = if cid == "cid-k" {
                call_as(owner, cid, "POST", "/0/private/Balance", "", "")
            } else {
                read_as(owner, cid)
            };
            let e = signer.forward(role, &call).await.expect_err(cid);
            assert!(
                matches!(&e, SignerCallError::Denied(m) if m.contains("binding") && m.contains(field)),
                "{cid}: {e}"
            );
            let d = denials(&world, "envelope binding").await;
            let mine: Vec<_> = d
                .iter()
                .filter(|d| d["owner"] == json!(owner) && d["reason"].as_str().is_some_and(|r| r.contains(field)))
                .collect();
            assert_eq!(mine.len(), 1, "{cid}: {d:?}");
            assert_eq!(mine[0]["role"], json!(role.name()));
            assert!(mine[0]["envelope"].as_str().is_some_and(|h| h.len() == 64), "{:?}", mine[0]);
        }
        assert_eq!(denials(&world, "envelope binding").await.len(), cases.len());
        assert!(records(&world).await.iter().all(|r| r.action != "unsealed"), "nothing was opened");
        // An unreadable row is refused on the record too.
        raw.set_jwe("alice", "cid-a2", "trader", &a_trd.kid, "not a jwe").await;
        let e = signer.forward(Role::Trader, &read("cid-a2")).await.expect_err("unreadable");
        assert!(matches!(e, SignerCallError::Unavailable(_)), "{e}");
        assert_eq!(denials(&world, "stored envelope is unreadable").await.len(), 1);
        assert_no_secret(&world, &[&a_imp.jwe, &a_trd.jwe]).await;
    })
    .await;
}

/// Revokes alice's trader role of `cid` through the api and returns the record's seq.
async fn revoke(world: &World, api: &Api, who: &Session, cid: &str) -> i64 {
    let (status, body) = api.call(who, "DELETE", &format!("/v1/credentials/{cid}/roles/trader"), None).await;
    assert_eq!(status, 200, "{body}");
    records(world).await.iter().rev().find(|r| r.action == "revoked").expect("record").seq
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_record_removed_stops_the_signer_and_fails_verify() {
    harness::on_both("revocation_record_removed", |db| tampered(db, "delete")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_record_rewritten_and_rehashed_stops_the_signer_and_fails_verify() {
    harness::on_both("revocation_record_rewritten", |db| tampered(db, "rewrite")).await;
}

/// A revocation record deleted, or blanked and the chain rehashed after it, with the
/// revoked row put back.
async fn tampered(db: TestDb, attack: &'static str) {
    let world = World::new(&db.url).await;
    let cid = format!("cid-{attack}");
    world
        .credential("alice", &cid, "binance", &binance_json(), &[("importer", "read"), ("trader", "read,trade")])
        .await;
    let signer = world.signer(world.signer_config());
    let api = api(&world, Some(signer.clone())).await;
    let alice = api.login("alice").await;
    let trader = envelope(&world, "alice", &cid, "trader").await;
    let seq = revoke(&world, &api, &alice, &cid).await;
    checkpoint_past(&world, &signer, &cid, seq + 1).await;
    let pin = pin(&world).await;
    sealgate_server::audit::verify_store(&world.store, Trust::Pin(&pin)).await.expect("verifies before");

    let mut raw = Raw::connect(&db).await;
    match attack {
        // Drop the revocation record.
        "delete" => {
            assert_eq!(raw.exec(&format!("DELETE FROM audit_log WHERE seq = {seq}"), &[]).await, 1);
        }
        // Blank its digest and rehash it and everything after it: the links hold again.
        _ => {
            let rows = world.store.audit_range(seq - 1, 100_000).await.expect("rows");
            let prev = sealgate_audit::Hash::from_hex(&rows[0].prev_hash).expect("hash");
            let mut chain = sealgate_audit::Chain::resume(u64::try_from(seq - 1).expect("seq"), prev);
            for row in &rows {
                let mut d = detail(row);
                if row.seq == seq {
                    d[REVOKED_MEMBER] = json!([]);
                }
                let detail = sealgate_audit::Detail::new(&d).expect("detail");
                let r = chain
                    .append(&row.actor, row.action.parse().expect("action"), &row.subject, detail, row.time_ms as u64)
                    .expect("append");
                let sql =
                    format!("UPDATE audit_log SET detail = $1, prev_hash = $2, hash = $3 WHERE seq = {}", row.seq);
                let (d, p, h) = (r.detail.canonical().to_owned(), r.prev_hash.to_string(), r.hash.to_string());
                assert_eq!(raw.exec(&sql, &[&d, &p, &h]).await, 1);
            }
        }
    }
    raw.restore(&trader).await;

    // `audit verify` names the record.
    let e = sealgate_server::audit::verify_store(&world.store, Trust::Pin(&pin)).await.expect_err(attack);
    let want = if attack == "delete" { "seq gap" } else { "differs from the signed checkpoint" };
    assert!(e.contains(want), "{attack}: {e}");
    // A signer starting on this database refuses, saying why.
    let fresh = world.signer(world.signer_config());
    let e = fresh.follow_audit().await.expect_err(attack);
    assert!(matches!(&e, RevocationError::Broken(m) if m.contains(want)), "{attack}: {e}");
    let e = fresh.forward(Role::Trader, &read(&cid)).await.expect_err("refused");
    assert!(matches!(&e, SignerCallError::Unavailable(m) if m.contains("audit chain does not verify")), "{e}");
    // The running signer, which saw the revocation, still refuses the envelope.
    signer.invalidate_all();
    let e = signer.forward(Role::Trader, &read(&cid)).await.expect_err("running signer");
    assert!(
        denied_restored(&e) || matches!(&e, SignerCallError::Unavailable(m) if m.contains("does not verify")),
        "{attack}: {e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_rolled_back_below_what_a_signer_saw_is_refused_and_caught_by_its_checkpoint_file() {
    harness::on_both("rolled_back", |db| async move {
        let world = World::new(&db.url).await;
        let state = world.dir.path().join("signer-state.json");
        let cfg = || SignerConfig { state_file: Some(state.clone()), ..world.signer_config() };
        world
            .credential("alice", "cid-b", "binance", &binance_json(), &[("importer", "read"), ("trader", "read,trade")])
            .await;
        let signer = world.signer(cfg());
        signer.follow_audit().await.expect("start");
        let api = api(&world, Some(signer.clone())).await;
        let alice = api.login("alice").await;
        signer.forward(Role::Trader, &read("cid-b")).await.expect("trader");
        // The backup a rollback will restore: the chain up to here.
        let before = world.store.audit_tail().await.expect("tail").expect("records").seq;
        let trader = envelope(&world, "alice", "cid-b", "trader").await;
        let seq = revoke(&world, &api, &alice, "cid-b").await;
        assert!(seq > before);
        checkpoint_past(&world, &signer, "cid-b", seq).await;
        // Past the state file's write gap, so it records a checkpoint over the revocation.
        tokio::time::sleep(Duration::from_millis(5_100)).await;
        let seen = signer.follow_audit().await.expect("follow");
        assert!(seen.checkpoint_seq >= u64::try_from(seq).expect("seq") && seen.revoked == 1, "{seen:?}");
        let cp_file = sealgate_server::revocation::checkpoint_file(&state);
        let saved = parse_checkpoints(&std::fs::read(&cp_file).expect("checkpoint file")).expect("checkpoint lines");
        assert!(saved[0].checkpoint.seq >= u64::try_from(seq).expect("seq"));
        let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&state).expect("state").permissions());
        assert_eq!(mode & 0o777, 0o600);

        // The whole database goes back to the backup: audit chain, checkpoints and the envelope row.
        let mut raw = Raw::connect(&db).await;
        raw.exec(&format!("DELETE FROM audit_log WHERE seq > {before}"), &[]).await;
        raw.exec(&format!("DELETE FROM audit_checkpoints WHERE seq > {before}"), &[]).await;
        raw.restore(&trader).await;
        let pin = pin(&world).await;
        sealgate_server::audit::verify_store(&world.store, Trust::Pin(&pin))
            .await
            .expect("a rolled-back chain verifies on its own");

        // The signer's state file remembers more: a signer using it refuses to start.
        let e = world.signer(cfg()).follow_audit().await.expect_err("rolled back");
        assert!(matches!(&e, RevocationError::Broken(m) if m.contains("rolled back")), "{e}");
        // The operator's check: the chain with the signer's checkpoint file is truncated.
        let mut export = Vec::new();
        sealgate_server::audit::export_store(&world.store, &mut export).await.expect("export");
        let e = verify_export_with(&export, saved, Trust::Pin(&pin)).expect_err("caught");
        assert!(matches!(e, sealgate_audit::AuditError::Truncated { .. }), "{e}");
        // What remains (crate::revocation): a signer with no memory of the revocation, on the
        // rolled-back database, cannot tell — it opens the envelope.
        let amnesiac = world.signer(world.signer_config());
        amnesiac.forward(Role::Trader, &read("cid-b")).await.expect("the documented residual");

        // A state file another account may write is refused.
        std::fs::set_permissions(&state, std::os::unix::fs::PermissionsExt::from_mode(0o666)).expect("chmod");
        let e = world.signer(cfg()).follow_audit().await.expect_err("writable state");
        assert!(matches!(&e, RevocationError::State { why, .. } if why.contains("writable")), "{e}");
    })
    .await;
}
