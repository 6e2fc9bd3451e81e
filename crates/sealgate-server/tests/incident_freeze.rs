//! An incident's freeze reaches running signers (issue 16 item 3), on SQLite and
//! PostgreSQL: two signers, each with its own custody handle and the credential opened and
//! cached, refuse an in-scope credential within their revalidation interval (0.5 s) after
//! the freeze step, while an out-of-scope credential still signs. The signer learns it by
//! re-reading a cached credential's row when its check is older than `revalidate`.

#[path = "../../sealgate-store/tests/harness/mod.rs"]
mod harness;
mod session;
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use sealgate_custody::Custody;
use sealgate_custody::local::{LocalCustody, MasterKey};
use sealgate_policy::Role;
use sealgate_server::client::{ForwardCall, SignerCallError};
use sealgate_server::incident::{OpenRequest, RunOptions};
use sealgate_server::metrics::Metrics;
use sealgate_server::signer::{Signer, SignerConfig};
use support::*;

fn read(owner: &str, cid: &str) -> ForwardCall {
    call_as(owner, cid, "GET", "/api/v3/account", "", "")
}

fn other_custody(world: &World) -> Arc<dyn Custody> {
    let master = MasterKey::from_key_file(&world.dir.path().join("master.key")).expect("master key");
    Arc::new(LocalCustody::open(&world.dir.path().join("keyring"), master).expect("keyring"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_freeze_stops_every_running_signer_within_half_a_second() {
    harness::on_both("incident_freeze", |db| async move {
        let world = World::new(&db.url).await;
        world.credential("alice", "cid-a", "binance", &binance_json(), &[("trader", "read,trade")]).await;
        world.credential("bob", "cid-b", "binance", &binance_json(), &[("trader", "read,trade")]).await;
        let revalidate = Duration::from_millis(500);
        let signers: Vec<Arc<Signer>> = [world.custody.clone(), other_custody(&world)]
            .into_iter()
            .map(|c| {
                let cfg = SignerConfig { revalidate, ..world.signer_config() };
                Arc::new(
                    Signer::new(world.store.clone(), c, world.audit.clone(), Arc::new(Metrics::default()), cfg)
                        .expect("signer"),
                )
            })
            .collect();
        for s in &signers {
            s.forward(Role::Trader, &read("alice", "cid-a")).await.expect("alice signs");
            s.forward(Role::Trader, &read("bob", "cid-b")).await.expect("bob signs");
        }

        let req = OpenRequest {
            reason: "alice's workstation was compromised".into(),
            user: Some("alice".into()),
            rotate: false,
            actor: "operator:test".into(),
            ..Default::default()
        };
        let inc = sealgate_server::incident::open(&world.store, &world.audit, &req).await.expect("open");
        let opts = RunOptions {
            custody: None,
            batch: 48,
            workers: 1,
            actor: "operator:test".into(),
            stop_after: Some("freeze".into()),
        };
        let frozen_at = Instant::now();
        let e = sealgate_server::incident::run(&world.store, &world.audit, &inc.id, &opts, |_| {}).await;
        assert!(e.is_err(), "stopped after the freeze");
        for (n, s) in signers.iter().enumerate() {
            let after = loop {
                match s.forward(Role::Trader, &read("alice", "cid-a")).await {
                    Err(SignerCallError::Denied(m)) => {
                        assert!(m.contains("frozen"), "{m}");
                        break frozen_at.elapsed();
                    }
                    Ok(_) => {}
                    Err(e) => panic!("signer {n}: unexpected {e}"),
                }
                assert!(frozen_at.elapsed() < revalidate * 3, "signer {n} still signs a frozen credential");
                tokio::time::sleep(Duration::from_millis(10)).await;
            };
            eprintln!("signer {n} refused the frozen credential {after:?} after the freeze");
            // The interval, plus one poll and one request of this test.
            assert!(after <= revalidate + Duration::from_millis(100), "signer {n}: {after:?}");
            s.forward(Role::Trader, &read("bob", "cid-b")).await.expect("out of scope: still signs");
        }
    })
    .await;
}
