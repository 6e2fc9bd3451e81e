//! The detectors' cost per order: judging one order against a week-long
//! baseline, and learning it (what the signer and the agent add per order).
//! `cargo bench -p sealgate-anomaly --bench detectors`.

#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use sealgate_anomaly::{Baseline, MarketFacts, Order, Rules, Side, check_order};

const T0: u64 = 1_767_000_000_000;

fn week() -> Baseline {
    let mut b = Baseline::new();
    let symbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"];
    for i in 0..(7 * 24 * 60u64) {
        let o = Order {
            at_ms: T0 + i * 60_000,
            symbol: symbols[(i % 4) as usize],
            side: Some(Side::Buy),
            notional: Some(100.0 + (i % 50) as f64),
            limit_price: Some(100.0),
        };
        b.record_order(&o);
    }
    b
}

fn bench(c: &mut Criterion) {
    let (rules, mut b) = (Rules::default(), week());
    let market = MarketFacts { last_price: Some(100.0), quote_volume_24h: Some(5e8) };
    let mut t = T0 + 7 * 86_400_000;
    c.bench_function("anomaly/check_order", |bench| {
        bench.iter(|| {
            let o = Order {
                at_ms: t,
                symbol: "ETHUSDT",
                side: Some(Side::Buy),
                notional: Some(120.0),
                limit_price: Some(101.0),
            };
            std::hint::black_box(check_order(&rules, &b, &o, &market).is_ok())
        })
    });
    c.bench_function("anomaly/check_and_record", |bench| {
        bench.iter(|| {
            t += 3_000;
            let o = Order {
                at_ms: t,
                symbol: "ETHUSDT",
                side: Some(Side::Buy),
                notional: Some(120.0),
                limit_price: Some(101.0),
            };
            if check_order(&rules, &b, &o, &market).is_ok() {
                b.record_order(&o);
            }
        })
    });
    let json = week().to_json();
    c.bench_function("anomaly/baseline_json_roundtrip", |bench| {
        bench.iter(|| std::hint::black_box(Baseline::from_json(&json).map(|b| b.to_json().len())))
    });
}

criterion_group! { name = benches; config = Criterion::default().sample_size(20); targets = bench }
criterion_main!(benches);
