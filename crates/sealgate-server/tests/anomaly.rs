//! Anomaly detection in the signer (issue 17 items 4 and 6), against the
//! exchange sandbox, on SQLite and PostgreSQL: the seeds' patterns replayed.
//!
//! - the 3Commas pump (limit buys of an illiquid pair at rising prices, on a
//!   credential whose history is a normal bot's) is frozen within
//!   [`PUMP_BOUND`] orders — by the illiquid rule, and with that rule turned
//!   off by the owner, by the volume-share rule;
//! - the Kronos pattern (withdraw attempts to a new destination on a
//!   credential not sealed with `withdraw`): each denied, frozen at the third;
//! - a normal bot (1,000 orders over its usual pairs and sizes at its usual
//!   pace, time simulated) is never frozen: false positives are printed;
//! - every freeze is one `anomaly_frozen` audit record with the rule, the
//!   measured values and the thresholds, and one `anomaly` notification to
//!   the owner and one to the operators; no secret anywhere.

#[path = "../../sealgate-store/tests/harness/mod.rs"]
mod harness;
mod session;
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use sealgate_anomaly::{Baseline, Order, Side};
use sealgate_policy::Role;
use sealgate_server::anomaly::{AnomalyClock, AnomalyConfig};
use sealgate_server::client::SignerCallError;
use sealgate_server::signer::{Signer, SignerConfig};
use sealgate_store::CredentialStatus;
use support::*;

/// Most orders of the pump that may reach the signer before the credential is frozen.
const PUMP_BOUND: usize = 3;
const MINUTE: u64 = 60_000;
const DAY: u64 = 86_400_000;

/// A small deterministic generator (the bot's jitter).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// The bot's usual order `i`: BTCUSDT and ETHUSDT in turn, a buy then a sell of the same
/// size (0.0014-0.0026 BTC, 0.025-0.045 ETH), a market order but one in ten a passive
/// limit order 0.5 % off the market. `(symbol, side, query, notional as the policy values it)`.
fn bot_order(i: u64, rng: &mut Lcg, size: &mut u64) -> (&'static str, Side, String, f64) {
    if i.is_multiple_of(2) {
        *size = 14 + rng.next(13);
    }
    let (symbol, qty, price): (&str, f64, f64) = if (i / 2).is_multiple_of(2) {
        ("BTCUSDT", *size as f64 / 10_000.0, 50_000.0)
    } else {
        ("ETHUSDT", *size as f64 * 25.0 / 14.0 / 1000.0, 3_000.0)
    };
    let (side, name) = if i.is_multiple_of(2) { (Side::Buy, "BUY") } else { (Side::Sell, "SELL") };
    if rng.next(10) == 0 {
        let limit = if side == Side::Buy { price * 0.995 } else { price * 1.005 };
        let q = format!("symbol={symbol}&side={name}&type=LIMIT&timeInForce=GTC&quantity={qty:.4}&price={limit:.2}");
        (symbol, side, q, qty * limit.max(price * 1.05))
    } else {
        (symbol, side, format!("symbol={symbol}&side={name}&type=MARKET&quantity={qty:.4}"), qty * price * 1.05)
    }
}

/// A week of the bot's history before `until`: an order every 45-75 s.
fn bot_history(until: u64) -> Baseline {
    let (mut rng, mut size, mut b) = (Lcg(7), 0, Baseline::new());
    let mut t = until - 7 * DAY;
    let mut i = 0;
    while t < until {
        let (symbol, side, _, notional) = bot_order(i, &mut rng, &mut size);
        b.record_order(&Order { at_ms: t, symbol, side: Some(side), notional: Some(notional), limit_price: None });
        t += 45_000 + rng.next(30_001);
        i += 1;
    }
    b
}

/// A world with alice's bot credential `cid` (trader: read,trade; no withdraw), its week of
/// history in the store, her e-mail and an operator webhook, and a signer on a simulated clock.
async fn bot_world(url: &str, cid: &str) -> (World, Arc<Signer>, Arc<AtomicU64>) {
    let world = World::new(url).await;
    world.credential("alice", cid, "binance", &binance_json(), &[("trader", "read,trade")]).await;
    let start = sealgate_server::now_ms();
    world.store.put_anomaly_baseline("alice", cid, &bot_history(start).to_json()).await.expect("baseline");
    world.store.set_contact_email("alice", "alice@example.test", "confirmed").await.expect("email");
    world.store.add_webhook_endpoint("ops-1", None, "https://ops.example.test/hook").await.expect("operator hook");
    let clock = Arc::new(AtomicU64::new(start));
    let c = clock.clone();
    let anomaly =
        AnomalyConfig { clock: AnomalyClock::new(move || c.load(Ordering::Relaxed)), ..AnomalyConfig::default() };
    let signer = world.signer(SignerConfig { anomaly, ..world.signer_config() });
    (world, signer, clock)
}

async fn status(world: &World, cid: &str) -> CredentialStatus {
    world.store.get_credential("alice", cid).await.expect("get").expect("credential").status
}

/// The `anomaly_frozen` records of the audit chain, as JSON details; and that no secret is
/// in any record or queued notification.
async fn frozen_records(world: &World) -> Vec<serde_json::Value> {
    let rows = world.store.audit_range(0, 100_000).await.expect("audit");
    for r in &rows {
        assert!(!r.detail.contains(BINANCE_SECRET), "a secret in the audit chain");
    }
    let notes = world.store.pending_notifications(1000).await.expect("outbox");
    assert!(notes.iter().all(|n| !n.body.contains(BINANCE_SECRET)), "a secret in a notification");
    rows.into_iter()
        .filter(|r| r.action == "anomaly_frozen")
        .map(|r| serde_json::from_str(&r.detail).expect("detail"))
        .collect()
}

/// The queued `anomaly` notifications: (user or None for an operator's, channel).
async fn anomaly_notes(world: &World) -> Vec<(Option<String>, String)> {
    let rows = world.store.list_notifications(None, 1000).await.expect("outbox");
    let mut v: Vec<_> = rows.into_iter().filter(|n| n.kind == "anomaly").map(|n| (n.user_id, n.channel)).collect();
    v.sort();
    v
}

/// Limit buys of PUMPUSDT at prices rising 3 % an order, the market following each one:
/// how many orders reached the signer until one was refused as an anomaly, and how long
/// that refusal (the freeze) took.
async fn pump(world: &World, signer: &Signer, clock: &AtomicU64, cid: &str, quantity: &str) -> (usize, f64, String) {
    let mut price = 0.05;
    for n in 1..=50 {
        price *= 1.03;
        clock.fetch_add(20_000, Ordering::Relaxed);
        let q = format!("symbol=PUMPUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity={quantity}&price={price:.6}");
        let t0 = Instant::now();
        let r = signer.forward(Role::Trader, &call(cid, "POST", "/api/v3/order", &q, "")).await;
        let took = t0.elapsed().as_secs_f64() * 1000.0;
        match r {
            Err(SignerCallError::Denied(m)) if m.contains("anomaly") => return (n, took, m),
            Err(e) => panic!("order {n}: {e}"),
            Ok(_) => assert!(world.sandbox.set_price("PUMPUSDT", amt(&format!("{price:.6}")))),
        }
    }
    panic!("the pump was never frozen");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_3commas_pump_is_frozen_within_a_bounded_number_of_orders() {
    harness::on_both("anomaly_pump", |db| async move {
        let (world, signer, clock) = bot_world(&db.url, "cid-victim").await;
        // The bot's usual orders pass first.
        let (mut rng, mut size) = (Lcg(11), 0);
        for i in 0..4 {
            let (_, _, q, _) = bot_order(i, &mut rng, &mut size);
            clock.fetch_add(MINUTE, Ordering::Relaxed);
            signer.forward(Role::Trader, &call("cid-victim", "POST", "/api/v3/order", &q, "")).await.expect("usual");
        }
        // 1000 PUMP (50 USDT) an order: the pair's 12 000 a day is illiquid.
        let (n, ms, why) = pump(&world, &signer, &clock, "cid-victim", "1000").await;
        println!(
            "3Commas pump ({}): frozen at order {n} (bound {PUMP_BOUND}), refusal in {ms:.2} ms: {why}",
            db.backend
        );
        assert!(n <= PUMP_BOUND, "frozen only at order {n}");
        assert!(why.contains("illiquid_pair") && why.contains("frozen"), "{why}");
        assert_eq!(status(&world, "cid-victim").await, CredentialStatus::Frozen);
        // Frozen: the bot's usual order is refused too, and nothing is recorded twice.
        let (_, _, q, _) = bot_order(0, &mut rng, &mut size);
        let e = signer.forward(Role::Trader, &call("cid-victim", "POST", "/api/v3/order", &q, "")).await;
        assert!(matches!(&e, Err(SignerCallError::Denied(m)) if m.contains("frozen")), "{e:?}");
        let records = frozen_records(&world).await;
        assert_eq!(records.len(), 1, "{records:?}");
        let r = &records[0];
        assert_eq!((r["rule"].as_str(), r["symbol"].as_str()), (Some("illiquid_pair"), Some("PUMPUSDT")), "{r}");
        assert_eq!(r["evidence"][0]["measure"], "quote_volume_24h", "{r}");
        assert_eq!(r["evidence"][0]["value"], ILLIQUID_VOLUME, "{r}");
        assert_eq!(r["evidence"][0]["threshold"], "50000", "{r}");
        assert_eq!((r["exchange"].as_str(), r["role"].as_str()), (Some("binance"), Some("trader")), "{r}");
        assert_eq!(
            anomaly_notes(&world).await,
            vec![(None, "webhook".into()), (Some("alice".into()), "email".into())],
            "one to alice, one to the operators"
        );

        // An owner who trades thin markets turned the illiquid floor off: a pump of 200 USDT
        // an order (over 1 % of the pair's day) is frozen by the volume share.
        world.credential("alice", "cid-thin", "binance", &binance_json(), &[("trader", "read,trade")]).await;
        world
            .store
            .set_anomaly_overrides("alice", "cid-thin", Some(r#"{"illiquid_min_volume_24h": 0}"#))
            .await
            .expect("overrides");
        assert!(world.sandbox.set_price("PUMPUSDT", amt("0.05")));
        let (n, _, why) = pump(&world, &signer, &clock, "cid-thin", "4000").await;
        println!("3Commas pump, illiquid floor off ({}): frozen at order {n}: {why}", db.backend);
        assert!(n <= PUMP_BOUND && why.contains("volume_share_pct"), "{n}: {why}");
        assert_eq!(status(&world, "cid-thin").await, CredentialStatus::Frozen);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kronos_withdrawals_are_each_denied_and_the_third_freezes() {
    harness::on_both("anomaly_kronos", |db| async move {
        let (world, signer, clock) = bot_world(&db.url, "cid-kr").await;
        let w = |addr: &str| {
            let q = format!("coin=BTC&address={addr}&amount=1.2");
            call("cid-kr", "POST", "/sapi/v1/capital/withdraw/apply", &q, "")
        };
        for n in 1..=2 {
            clock.fetch_add(MINUTE, Ordering::Relaxed);
            let e = signer.forward(Role::Trader, &w("bc1qnewdestination")).await.expect_err("denied");
            assert_eq!(e, SignerCallError::Denied("the user did not grant withdraw".into()), "attempt {n}");
            assert_eq!(status(&world, "cid-kr").await, CredentialStatus::Active, "attempt {n}");
        }
        clock.fetch_add(MINUTE, Ordering::Relaxed);
        let e = signer.forward(Role::Trader, &w("bc1qnewdestination")).await.expect_err("denied");
        assert!(
            matches!(&e, SignerCallError::Denied(m) if m.contains("withdraw_denials") && m.contains("frozen")),
            "{e}"
        );
        assert_eq!(status(&world, "cid-kr").await, CredentialStatus::Frozen);
        assert!(world.sandbox.withdrawals().is_empty());
        // A fourth attempt is refused as frozen, and is no second freeze.
        let e = signer.forward(Role::Trader, &w("bc1qother")).await.expect_err("frozen");
        assert!(matches!(&e, SignerCallError::Denied(m) if m.contains("frozen")), "{e}");
        let records = frozen_records(&world).await;
        assert_eq!(records.len(), 1, "{records:?}");
        assert_eq!(records[0]["rule"], "withdraw_denials");
        assert_eq!(
            records[0]["evidence"][0],
            serde_json::json!({"measure": "denied_withdraws", "value": "3", "threshold": "3"})
        );
        assert_eq!(anomaly_notes(&world).await.len(), 2);

        // Attempts spread wider than the window (1 h) never add up to a freeze.
        world.credential("alice", "cid-slow", "binance", &binance_json(), &[("trader", "read,trade")]).await;
        for _ in 0..5 {
            clock.fetch_add(31 * MINUTE, Ordering::Relaxed);
            let e = signer
                .forward(
                    Role::Trader,
                    &call("cid-slow", "POST", "/sapi/v1/capital/withdraw/apply", "coin=BTC&address=a&amount=1", ""),
                )
                .await
                .expect_err("denied");
            assert_eq!(e, SignerCallError::Denied("the user did not grant withdraw".into()));
        }
        assert_eq!(status(&world, "cid-slow").await, CredentialStatus::Active);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_normal_bot_is_never_frozen_in_1000_orders() {
    harness::on_both("anomaly_bot", |db| async move {
        let (world, signer, clock) = bot_world(&db.url, "cid-bot").await;
        let (mut rng, mut size) = (Lcg(7), 0);
        let mut false_positives = Vec::new();
        let t0 = Instant::now();
        for i in 0..1000u64 {
            let (_, _, q, _) = bot_order(i, &mut rng, &mut size);
            clock.fetch_add(45_000 + rng.next(30_001), Ordering::Relaxed);
            match signer.forward(Role::Trader, &call("cid-bot", "POST", "/api/v3/order", &q, "")).await {
                Ok(_) => {}
                Err(SignerCallError::Denied(m)) => {
                    false_positives.push((i, m));
                    // Unfrozen by its owner, as a user would, to count every false positive.
                    world
                        .store
                        .set_credential_status("alice", "cid-bot", CredentialStatus::Active)
                        .await
                        .expect("unfreeze");
                    signer.invalidate("alice", "cid-bot");
                }
                Err(e) => panic!("order {i}: {e}"),
            }
        }
        println!(
            "normal bot ({}): 1000 orders in {:.1} s, false positives: {} {:?}",
            db.backend,
            t0.elapsed().as_secs_f64(),
            false_positives.len(),
            false_positives
        );
        assert!(false_positives.is_empty(), "{false_positives:?}");
        assert_eq!(status(&world, "cid-bot").await, CredentialStatus::Active);
        assert!(frozen_records(&world).await.is_empty());
        // It learnt: the stored baseline holds the orders of the week and of the run.
        let stored = world.store.anomaly_baseline("alice", "cid-bot").await.expect("read").expect("baseline");
        let b = Baseline::from_json(&stored).expect("baseline");
        assert!(b.knows("BTCUSDT") && b.knows("ETHUSDT") && !b.knows("PUMPUSDT"));
        assert!(b.orders >= 1000 + 7 * 24 * 60, "{}", b.orders);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_credential_is_not_frozen_for_normal_use_but_a_burst_is() {
    harness::on_both("anomaly_burst", |db| async move {
        let world = World::new(&db.url).await;
        world.credential("alice", "cid-new", "binance", &binance_json(), &[("trader", "read,trade")]).await;
        // At the start of an hour: the run stays in it (the hour under way is never its own yardstick).
        let clock = Arc::new(AtomicU64::new(sealgate_server::now_ms() / 3_600_000 * 3_600_000 + 1_000));
        let c = clock.clone();
        let anomaly =
            AnomalyConfig { clock: AnomalyClock::new(move || c.load(Ordering::Relaxed)), ..AnomalyConfig::default() };
        let signer = world.signer(SignerConfig { anomaly, ..world.signer_config() });
        let order = call("cid-new", "POST", "/api/v3/order", "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.001", "");
        // No history: one order every 5 s for 10 minutes (12 a minute) is normal use.
        for _ in 0..120 {
            clock.fetch_add(5_000, Ordering::Relaxed);
            signer.forward(Role::Trader, &order).await.expect("normal use");
        }
        // 20 a minute is the floor: the 21st within 60 s freezes.
        clock.fetch_add(10 * MINUTE, Ordering::Relaxed);
        let mut n = 0;
        let why = loop {
            n += 1;
            clock.fetch_add(1_000, Ordering::Relaxed);
            match signer.forward(Role::Trader, &order).await {
                Ok(_) => assert!(n < 100, "never frozen"),
                Err(SignerCallError::Denied(m)) => break m,
                Err(e) => panic!("{e}"),
            }
        };
        assert_eq!(n, 21, "{why}");
        assert!(why.contains("burst") && why.contains("orders_last_minute 21 (threshold 20)"), "{why}");
        assert_eq!(status(&world, "cid-new").await, CredentialStatus::Frozen);
        // Overrides that do not read refuse the credential's orders rather than being ignored.
        world.credential("alice", "cid-odd", "binance", &binance_json(), &[("trader", "read,trade")]).await;
        world.store.set_anomaly_overrides("alice", "cid-odd", Some(r#"{"burst_factor": "x"}"#)).await.expect("write");
        let e = signer
            .forward(
                Role::Trader,
                &call("cid-odd", "POST", "/api/v3/order", "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.001", ""),
            )
            .await
            .expect_err("refused");
        assert_eq!(e, SignerCallError::Denied("the credential's stored anomaly rules are unreadable".into()));
    })
    .await;
}

/// Two signers on one database (the scaled deployment) share the credential's baseline: a
/// burst spread over both is one burst. (Each signer used to judge on its own copy and write
/// it back whole, so each counted about half and the last write erased the other's.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_spread_over_two_signers_is_one_burst() {
    harness::on_both("anomaly_two_signers", |db| async move {
        let world = World::new(&db.url).await;
        world.credential("alice", "cid-two", "binance", &binance_json(), &[("trader", "read,trade")]).await;
        let clock = Arc::new(AtomicU64::new(sealgate_server::now_ms() / 3_600_000 * 3_600_000 + 1_000));
        let signers: Vec<Arc<Signer>> = (0..2)
            .map(|_| {
                let c = clock.clone();
                let anomaly = AnomalyConfig {
                    clock: AnomalyClock::new(move || c.load(Ordering::Relaxed)),
                    ..AnomalyConfig::default()
                };
                world.signer(SignerConfig { anomaly, ..world.signer_config() })
            })
            .collect();
        let order = call("cid-two", "POST", "/api/v3/order", "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.001", "");
        let mut n = 0;
        let why = loop {
            n += 1;
            clock.fetch_add(1_000, Ordering::Relaxed);
            match signers[n % 2].forward(Role::Trader, &order).await {
                Ok(_) => assert!(n < 100, "never frozen"),
                Err(SignerCallError::Denied(m)) => break m,
                Err(e) => panic!("{e}"),
            }
        };
        assert_eq!(n, 21, "{why}");
        assert!(why.contains("orders_last_minute 21 (threshold 20)"), "{why}");
        assert_eq!(status(&world, "cid-two").await, CredentialStatus::Frozen);
    })
    .await;
}
