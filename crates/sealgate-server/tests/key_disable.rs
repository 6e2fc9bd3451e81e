//! Key versions and running signers (issue 16 items 1-2), on SQLite and PostgreSQL with
//! the local keyring: a version disabled by an operator (another custody handle, as the
//! `keys set-status` process has) stops two running signers, each with its own custody
//! handle and a cached opened credential, within their revalidation interval, and each
//! refusal is on the record; a re-wrap moves a signer to the new envelope, and the old
//! row put back by a database writer is refused as revoked.

#[path = "../../sealgate-store/tests/harness/mod.rs"]
mod harness;
mod session;
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use sealgate_custody::local::{LocalCustody, MasterKey};
use sealgate_custody::{Custody, KeyStatus};
use sealgate_policy::Role;
use sealgate_server::client::{ForwardCall, SignerCallError};
use sealgate_server::metrics::Metrics;
use sealgate_server::revocation::RESTORED_REASON;
use sealgate_server::rewrap::{RewrapOptions, rewrap, set_key_status};
use sealgate_server::signer::{Signer, SignerConfig};
use sealgate_store::NewEnvelope;
use support::*;

const DISABLED_REASON: &str = "the envelope's recipient key version is disabled";

fn read(cid: &str) -> ForwardCall {
    call("alice", cid, "GET", "/api/v3/account", "", "")
}

fn call(owner: &str, cid: &str, method: &str, path: &str, query: &str, body: &str) -> ForwardCall {
    call_as(owner, cid, method, path, query, body)
}

/// A second handle on the world's keyring: what another process opens.
fn other_custody(world: &World) -> Arc<dyn Custody> {
    let master = MasterKey::from_key_file(&world.dir.path().join("master.key")).expect("master key");
    Arc::new(LocalCustody::open(&world.dir.path().join("keyring"), master).expect("keyring"))
}

fn signer_with(world: &World, custody: Arc<dyn Custody>, cfg: SignerConfig) -> Arc<Signer> {
    Arc::new(
        Signer::new(world.store.clone(), custody, world.audit.clone(), Arc::new(Metrics::default()), cfg)
            .expect("signer"),
    )
}

async fn denials(world: &World, reason: &str) -> usize {
    world
        .store
        .audit_range(0, 100_000)
        .await
        .expect("audit")
        .iter()
        .filter(|r| r.action == "denied" && r.detail.contains(reason))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_version_stops_every_running_signer_within_revalidation() {
    harness::on_both("key_disabled", |db| async move {
        let world = World::new(&db.url).await;
        world.credential("alice", "cid-d", "binance", &binance_json(), &[("trader", "read,trade")]).await;
        let revalidate = Duration::from_millis(500);
        let cfg = SignerConfig { revalidate, ..world.signer_config() };
        let a = signer_with(&world, world.custody.clone(), cfg.clone());
        let b = signer_with(&world, other_custody(&world), cfg);
        a.forward(Role::Trader, &read("cid-d")).await.expect("a reads");
        b.forward(Role::Trader, &read("cid-d")).await.expect("b reads");
        assert_eq!((a.cached(), b.cached()), (1, 1), "both hold the opened credential");

        // The operator's process: its own custody handle, the store, the audit.
        let kid = world.keys["trader"].kid().expect("kid").to_owned();
        let operator = other_custody(&world);
        let changed = Instant::now();
        set_key_status(&world.store, operator.as_ref(), &world.audit, "operator:test", &kid, KeyStatus::Disabled)
            .await
            .expect("disable");
        for (name, s) in [("a", &a), ("b", &b)] {
            let refused_after = loop {
                match s.forward(Role::Trader, &read("cid-d")).await {
                    Err(SignerCallError::Denied(m)) if m == DISABLED_REASON => break changed.elapsed(),
                    Ok(_) => {}
                    Err(e) => panic!("signer {name}: unexpected {e}"),
                }
                assert!(changed.elapsed() < revalidate * 4, "signer {name} still opens through a disabled version");
                tokio::time::sleep(Duration::from_millis(20)).await;
            };
            eprintln!("signer {name} refused {refused_after:?} after the version was disabled");
            assert_eq!(s.cached(), 0, "signer {name} dropped the opened credential");
        }
        assert!(denials(&world, DISABLED_REASON).await >= 2, "each refusal is on the record");
        let records = world.store.audit_range(0, 100_000).await.expect("audit");
        assert!(records.iter().any(|r| r.action == "key_status" && r.subject == kid && r.detail.contains("disabled")));

        // A new signer refuses it too, before any private-key work.
        let c = signer_with(&world, other_custody(&world), SignerConfig { revalidate, ..world.signer_config() });
        let e = c.forward(Role::Trader, &read("cid-d")).await.expect_err("new signer");
        assert!(matches!(&e, SignerCallError::Denied(m) if m == DISABLED_REASON), "{e}");

        // Retiring it is refused while its envelope is there; lifting the mark works.
        let e =
            set_key_status(&world.store, operator.as_ref(), &world.audit, "operator:test", &kid, KeyStatus::Retired)
                .await
                .expect_err("in use");
        assert!(e.to_string().contains("1 envelope(s) or grant passphrase(s) are still sealed to"), "{e}");
        set_key_status(&world.store, operator.as_ref(), &world.audit, "operator:test", &kid, KeyStatus::Active)
            .await
            .expect("enable");
        assert!(world.store.disabled_keys().await.expect("disabled").is_empty());
        assert_no_canary(&world).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rewrapped_envelope_moves_signers_and_the_old_row_is_refused() {
    harness::on_both("rewrap_signer", |db| async move {
        let world = World::new(&db.url).await;
        world.credential("alice", "cid-w", "binance", &binance_json(), &[("trader", "read,trade")]).await;
        let signer = world.signer(SignerConfig { revalidate: Duration::from_millis(100), ..world.signer_config() });
        signer.forward(Role::Trader, &read("cid-w")).await.expect("reads through v1");
        let old = world.store.owner_envelopes("alice", "cid-w").await.expect("env").remove(0);

        let new = world.custody.rotate("trader", world.custody.default_role_key_type()).await.expect("rotate");
        let opts = RewrapOptions {
            role: "trader".into(),
            from: old.kid.clone(),
            batch: 48,
            workers: 2,
            actor: "operator:test".into(),
        };
        let summary = rewrap(&world.store, world.custody.clone(), &world.audit, &opts, |_| {}).await.expect("rewrap");
        assert_eq!((summary.rewrapped, summary.left, summary.to.as_str()), (1, 0, new.kid.as_str()));

        // The signer follows: it opens the new envelope (through the new version).
        tokio::time::sleep(Duration::from_millis(150)).await;
        signer.forward(Role::Trader, &read("cid-w")).await.expect("reads through v2");

        // A database writer puts the old row back: refused as revoked, on the record.
        world
            .store
            .put_envelope("alice", "cid-w", &NewEnvelope { role: "trader", kid: &old.kid, jwe: &old.jwe })
            .await
            .expect("restore");
        tokio::time::sleep(Duration::from_millis(150)).await;
        let e = signer.forward(Role::Trader, &read("cid-w")).await.expect_err("old row");
        assert!(matches!(&e, SignerCallError::Denied(m) if m.starts_with(RESTORED_REASON)), "{e}");
        assert!(denials(&world, RESTORED_REASON).await >= 1);
        assert_no_canary(&world).await;
    })
    .await;
}

/// No exchange secret in any audit record.
async fn assert_no_canary(world: &World) {
    for r in world.store.audit_range(0, 100_000).await.expect("audit") {
        let line = format!("{} {} {} {}", r.actor, r.action, r.subject, r.detail);
        assert!(!line.contains(BINANCE_SECRET) && !line.contains("api_secret"), "{line}");
    }
}

/// A restart after `keys rotate` (the old version decrypt-only, envelopes still on it) keeps
/// the old version open in the store; after the re-wrap and `retired`, the store follows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_after_a_rotation_keeps_the_old_version_until_it_is_retired() {
    harness::on_both("rotate_restart", |db| async move {
        let world = World::new(&db.url).await;
        world.credential("alice", "cid-r", "binance", &binance_json(), &[("trader", "read,trade")]).await;
        let old = world.store.owner_envelopes("alice", "cid-r").await.expect("env").remove(0);
        world.custody.rotate("trader", world.custody.default_role_key_type()).await.expect("rotate");
        let status = |kid: String| {
            let store = world.store.clone();
            async move {
                store.recipient_keys(None).await.expect("keys").into_iter().find(|k| k.kid == kid).map(|k| k.status)
            }
        };
        sealgate_server::serve::sync_recipient_keys(world.custody.as_ref(), &world.store)
            .await
            .expect("a start after a rotation");
        assert_eq!(status(old.kid.clone()).await, Some(sealgate_store::KeyStatus::Active), "still opens its envelopes");

        let opts = RewrapOptions {
            role: "trader".into(),
            from: old.kid.clone(),
            batch: 48,
            workers: 1,
            actor: "operator:test".into(),
        };
        rewrap(&world.store, world.custody.clone(), &world.audit, &opts, |_| {}).await.expect("rewrap");
        set_key_status(
            &world.store,
            world.custody.as_ref(),
            &world.audit,
            "operator:test",
            &old.kid,
            KeyStatus::Retired,
        )
        .await
        .expect("retire");
        sealgate_server::serve::sync_recipient_keys(world.custody.as_ref(), &world.store).await.expect("start");
        assert_eq!(status(old.kid.clone()).await, Some(sealgate_store::KeyStatus::Retired));
    })
    .await;
}
