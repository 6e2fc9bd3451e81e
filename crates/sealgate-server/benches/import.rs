//! Import throughput: 10,000 trades from the sandbox into SQLite through the
//! stand-in signer client (sign + HTTP on loopback + parse + upsert +
//! checkpoint per page). A plain main: `cargo bench -p sealgate-server --bench import`.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/session/mod.rs"]
mod session;
#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use common::{TestClient, VENUES, market_of, start_exchanges, store_with_credentials};
use sealgate_server::importer::{Importer, enqueue_full_import};

const TRADES: usize = 10_000;

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs a small smoke import.
    let trades = if std::env::args().any(|a| a == "--bench") { TRADES } else { 300 };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().expect("runtime");
    rt.block_on(async {
        println!("import benchmark: {trades} trades per venue, sandbox on loopback -> SQLite (one worker)");
        for (cid, key, exchange) in VENUES {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}?mode=rwc", dir.path().join("bench.db").display());
            let ex = start_exchanges().await;
            assert!(ex.sandbox.seed_trades(key, market_of(exchange).0, trades));
            let store = store_with_credentials(&url).await;
            let client = TestClient::new(&ex, "importer");
            let importer =
                Importer::new(store.clone(), client.clone(), "bench".into()).with_idle_sleep(Duration::from_millis(1));
            enqueue_full_import(&store, "alice", cid).await.expect("enqueue");
            let started = Instant::now();
            assert!(importer.run_once().await.expect("import"));
            let elapsed = started.elapsed();
            let stored = store.trade_count("alice", cid).await.expect("count");
            assert_eq!(stored as usize, trades, "{exchange}: every trade stored");
            let calls = client.requests().len();
            println!(
                "{exchange:>9}: {trades} trades in {:>8.1} ms  ({:>8.0} trades/s, {calls} exchange calls)",
                elapsed.as_secs_f64() * 1000.0,
                trades as f64 / elapsed.as_secs_f64()
            );
            store.close().await;
        }

        // The production path: the real signer in-process (policy, one unseal, every forward
        // durably audited) between the importer and the exchange.
        for (exchange, key, symbol, cred) in [
            ("binance", support::BINANCE_KEY, "BTCUSDT", support::binance_json()),
            ("kraken", support::KRAKEN_KEY, "XBTUSD", support::kraken_json()),
        ] {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}?mode=rwc", dir.path().join("bench.db").display());
            let world = support::World::new(&url).await;
            assert!(world.sandbox.seed_trades(key, symbol, trades));
            world.credential("bench-user", "bench-cid", exchange, &cred, &[("importer", "read")]).await;
            let signer = world.signer(world.signer_config());
            let client = std::sync::Arc::new(sealgate_server::signer::LocalSignerClient::new(
                signer,
                sealgate_policy::Role::Importer,
            ));
            let importer = Importer::new(world.store.clone(), client, "bench".into())
                .with_idle_sleep(Duration::from_millis(1));
            enqueue_full_import(&world.store, "bench-user", "bench-cid").await.expect("enqueue");
            let started = Instant::now();
            assert!(importer.run_once().await.expect("import"));
            let elapsed = started.elapsed();
            let stored = world.store.trade_count("bench-user", "bench-cid").await.expect("count");
            assert_eq!(stored as usize, trades, "{exchange}: every trade stored");
            let audited = world.store.audit_range(0, u32::MAX).await.expect("audit").len();
            println!(
                "{exchange:>9}: {trades} trades in {:>8.1} ms  ({:>8.0} trades/s) through the real signer, {audited} audit records",
                elapsed.as_secs_f64() * 1000.0,
                trades as f64 / elapsed.as_secs_f64()
            );
        }
    });
}
