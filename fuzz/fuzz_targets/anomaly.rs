//! Arbitrary bytes into what the anomaly detectors read from the store: a
//! stored baseline (`Baseline::from_json`) and a credential's overrides
//! (`Rules::with_overrides`). Any panic is a bug; what reads must be
//! accepted rules, and a baseline that reads must judge an order and learn it
//! without panicking, and write back what reads again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealgate_anomaly::{Baseline, MarketFacts, Order, Rules, Side, check_order, check_withdraw_denied};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let rules = match Rules::default().with_overrides(text) {
        Ok(r) => {
            assert_eq!(r.validate(), Ok(()), "accepted overrides are in range");
            r
        }
        Err(_) => Rules::default(),
    };
    if let Ok(mut b) = Baseline::from_json(text) {
        let t = b.first_ms.saturating_add(60_000);
        let o = Order { at_ms: t, symbol: "BTCUSDT", side: Some(Side::Buy), notional: Some(100.0), limit_price: Some(1.0) };
        let m = MarketFacts { last_price: Some(1.0), quote_volume_24h: Some(1e6) };
        let _ = check_order(&rules, &b, &o, &m);
        b.record_order(&o);
        b.record_withdraw_denied(t, &rules);
        let _ = check_withdraw_denied(&rules, &b, t);
        assert!(Baseline::from_json(&b.to_json()).is_ok(), "a baseline writes back what reads");
    }
});
