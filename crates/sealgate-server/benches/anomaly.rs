//! Time from the first anomalous order to the freeze, through the signer against the
//! exchange sandbox on SQLite: for each of N credentials (`SEALGATE_BENCH_N`, default 1,000
//! with `--bench`, 50 otherwise) with a week of a normal bot's history, one usual order
//! (the envelope opened and cached, not timed), then the 3Commas pump's first order: timed
//! from the call to the refusal, the credential frozen, the evidence recorded in the audit
//! chain and the notifications queued. Prints p50, p90 and max; the first order of a market
//! also reads its ticker (cached 10 s), the rest use the cache.
//! A plain main: `cargo bench -p sealgate-server --bench anomaly`.
//! The detectors' own cost per order: `cargo bench -p sealgate-anomaly --bench detectors`.

#[path = "../tests/session/mod.rs"]
mod session;
#[path = "../tests/support/mod.rs"]
#[allow(unused_imports)]
mod support;

use std::time::Instant;

use sealgate_anomaly::{Baseline, Order, Side};
use sealgate_policy::Role;
use sealgate_server::client::SignerCallError;
use support::*;

fn history(until: u64) -> Baseline {
    let mut b = Baseline::new();
    let mut t = until - 7 * 86_400_000;
    let mut i = 0u64;
    while t < until {
        let symbol = if i.is_multiple_of(2) { "BTCUSDT" } else { "ETHUSDT" };
        let o = Order {
            at_ms: t,
            symbol,
            side: Some(Side::Buy),
            notional: Some(90.0 + (i % 40) as f64),
            limit_price: None,
        };
        b.record_order(&o);
        t += 60_000;
        i += 1;
    }
    b
}

fn main() {
    let default = if std::env::args().any(|a| a == "--bench") { 1_000 } else { 50 };
    let n: usize = std::env::var("SEALGATE_BENCH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(default).max(1);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(async move {
        let dir = tempfile::tempdir().expect("dir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("bench.db").display());
        let world = World::new(&url).await;
        let signer = world.signer(world.signer_config());
        world.store.add_webhook_endpoint("ops", None, "https://ops.example.test/hook").await.expect("ops");
        let baseline = history(sealgate_server::now_ms()).to_json();
        let usual = "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.001";
        let pump = "symbol=PUMPUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1000&price=0.0515";
        let mut times = Vec::with_capacity(n);
        for i in 0..n {
            let cid = format!("cid-{i}");
            world.credential("alice", &cid, "binance", &binance_json(), &[("trader", "read,trade")]).await;
            world.store.put_anomaly_baseline("alice", &cid, &baseline).await.expect("baseline");
            signer.forward(Role::Trader, &call(&cid, "POST", "/api/v3/order", usual, "")).await.expect("usual");
            let t0 = Instant::now();
            let r = signer.forward(Role::Trader, &call(&cid, "POST", "/api/v3/order", pump, "")).await;
            times.push(t0.elapsed().as_secs_f64() * 1000.0);
            assert!(matches!(&r, Err(SignerCallError::Denied(m)) if m.contains("frozen")), "{r:?}");
        }
        let first = times[0];
        times.sort_by(f64::total_cmp);
        let q = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
        println!(
            "anomaly: first anomalous order to freeze, sqlite, n={n}: p50 {:.2} ms, p90 {:.2} ms, max {:.2} ms (first, ticker read: {first:.2} ms)",
            q(0.5),
            q(0.9),
            q(1.0)
        );
    });
}
