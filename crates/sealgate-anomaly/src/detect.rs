//! The detectors: an order (or a denied withdraw) against the credential's
//! baseline, the market's facts and the rules → pass, or a [`Verdict`].

use serde::Serialize;

use crate::{Baseline, Rules};

const MINUTE_MS: u64 = 60_000;
const HOUR_MS: u64 = 3_600_000;

/// The side of an order, when the request says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Buys the base asset.
    Buy,
    /// Sells it.
    Sell,
}

/// An order about to be signed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Order<'a> {
    /// When, Unix ms.
    pub at_ms: u64,
    /// Its market, in the exchange's spelling.
    pub symbol: &'a str,
    /// Buy or sell, if known.
    pub side: Option<Side>,
    /// Its notional in quote units, if known (the policy's reading).
    pub notional: Option<f64>,
    /// Its limit price, if it has one.
    pub limit_price: Option<f64>,
}

/// What the exchange's public ticker says of the order's market (`None`:
/// not known; a detector that needs it does not judge).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MarketFacts {
    /// The last trade's price.
    pub last_price: Option<f64>,
    /// The 24 h volume in quote units.
    pub quote_volume_24h: Option<f64>,
}

/// Which detector fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Rule {
    /// (a) An order on an illiquid pair, or a large share of a pair's volume.
    IlliquidPair,
    /// (b) A symbol never traded before, at a high size.
    NewSymbolSize,
    /// (c) A limit price far from the last trade.
    PriceDeviation,
    /// (d) A burst far above the credential's usual rate or notional.
    Burst,
    /// (e) Repeated denied withdraw attempts.
    WithdrawDenials,
}

impl Rule {
    /// The snake_case name (as in the audit record).
    pub fn name(self) -> &'static str {
        match self {
            Self::IlliquidPair => "illiquid_pair",
            Self::NewSymbolSize => "new_symbol_size",
            Self::PriceDeviation => "price_deviation",
            Self::Burst => "burst",
            Self::WithdrawDenials => "withdraw_denials",
        }
    }
}

/// One measured value against its threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    /// What was measured (`quote_volume_24h`, `orders_last_minute`, …).
    pub measure: &'static str,
    /// Its value.
    pub value: f64,
    /// The threshold it crossed (or, for a context value, the one it is compared with).
    pub threshold: f64,
}

/// A detector fired: the credential is to be frozen.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// Which.
    pub rule: Rule,
    /// The order's symbol, if an order fired it.
    pub symbol: Option<String>,
    /// The measured values and their thresholds.
    pub evidence: Vec<Evidence>,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "anomaly {}", self.rule.name())?;
        if let Some(s) = &self.symbol {
            write!(f, " on {s}")?;
        }
        for (i, e) in self.evidence.iter().enumerate() {
            let sep = if i == 0 { ":" } else { "," };
            write!(f, "{sep} {} {} (threshold {})", e.measure, format_number(e.value), format_number(e.threshold))?;
        }
        Ok(())
    }
}

/// A measured value as text (audit records hold no floating-point numbers):
/// an integer as such, otherwise at most 6 decimals, trailing zeros trimmed.
pub fn format_number(x: f64) -> String {
    if !x.is_finite() {
        return if x > 0.0 { "inf".into() } else { "nan".into() };
    }
    if x.fract() == 0.0 && x.abs() < 1e18 {
        return format!("{}", x as i64);
    }
    let s = format!("{x:.6}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn finite(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite() && *x >= 0.0)
}

fn ev(measure: &'static str, value: f64, threshold: f64) -> Evidence {
    Evidence { measure, value, threshold }
}

/// Judges `order` before it is signed. Detectors run in the order of
/// [`Rule`]; the first that fires is the verdict. An order that passes is
/// then learnt ([`Baseline::record_order`]) by the caller; one that fires is
/// not (it was never placed).
pub fn check_order(rules: &Rules, baseline: &Baseline, order: &Order<'_>, market: &MarketFacts) -> Result<(), Verdict> {
    if !rules.enabled {
        return Ok(());
    }
    let notional = finite(order.notional);
    let symbol = Some(order.symbol.to_owned());
    let known = baseline.knows(order.symbol);
    let fire = |rule, evidence| Err(Verdict { rule, symbol: symbol.clone(), evidence });

    // (a) Illiquid: a pair the credential never traded below the volume floor; any order
    // that is a large share of the pair's 24 h volume (a volume of 0 is an infinite share).
    if let Some(volume) = finite(market.quote_volume_24h) {
        if !known && volume < rules.illiquid_min_volume_24h {
            return fire(Rule::IlliquidPair, vec![ev("quote_volume_24h", volume, rules.illiquid_min_volume_24h)]);
        }
        if let Some(n) = notional.filter(|n| *n > 0.0) {
            let share = if volume > 0.0 { n / volume * 100.0 } else { f64::INFINITY };
            if share > rules.max_volume_share_pct {
                return fire(
                    Rule::IlliquidPair,
                    vec![
                        ev(
                            "volume_share_pct",
                            if share.is_finite() { share } else { 100.0 },
                            rules.max_volume_share_pct,
                        ),
                        ev("notional", n, volume),
                    ],
                );
            }
        }
    }
    // (b) A symbol never traded before, larger than the credential's usual sizes.
    if !known
        && baseline.orders >= rules.new_symbol_min_history
        && let Some(n) = notional
    {
        let usual = baseline.largest_usual_notional();
        let threshold = (usual * rules.new_symbol_size_factor).max(rules.new_symbol_min_notional);
        if n > threshold {
            return fire(
                Rule::NewSymbolSize,
                vec![ev("notional", n, threshold), ev("largest_usual_notional", usual, usual)],
            );
        }
    }
    // (c) A limit price far from the last trade, on the side that executes.
    if let (Some(limit), Some(last)) = (finite(order.limit_price), finite(market.last_price).filter(|p| *p > 0.0)) {
        let dev = (limit - last) / last * 100.0;
        let aggressive = match order.side {
            Some(Side::Buy) => dev,
            Some(Side::Sell) => -dev,
            None => dev.abs(),
        };
        if aggressive > rules.price_deviation_pct {
            return fire(
                Rule::PriceDeviation,
                vec![ev("deviation_pct", aggressive, rules.price_deviation_pct), ev("limit_price", limit, last)],
            );
        }
    }
    // (d) A burst: this order included, far above the credential's own peak and a floor.
    let (minute, _) = baseline.window(order.at_ms, MINUTE_MS);
    let (hour, hour_notional) = baseline.window(order.at_ms, HOUR_MS);
    let (minute, hour, hour_notional) = (minute + 1, hour + 1, hour_notional + notional.unwrap_or(0.0));
    let (peak_minute, peak_hour, peak_notional) = baseline.peaks(order.at_ms);
    let scale = rules.burst_factor
        * if baseline.off_hours(order.at_ms, rules.off_hours_min_orders) { rules.off_hours_factor } else { 1.0 };
    let thresholds = [
        (
            "orders_last_minute",
            f64::from(minute),
            (f64::from(peak_minute) * scale).max(f64::from(rules.burst_floor_per_minute)),
        ),
        (
            "orders_last_hour",
            f64::from(hour),
            (f64::from(peak_hour) * scale).max(f64::from(rules.burst_floor_per_hour)),
        ),
        ("notional_last_hour", hour_notional, (peak_notional * scale).max(rules.burst_floor_notional_per_hour)),
    ];
    if let Some((measure, value, threshold)) = thresholds.into_iter().find(|(_, v, t)| v > t) {
        return fire(Rule::Burst, vec![ev(measure, value, threshold), ev("burst_factor", scale, rules.burst_factor)]);
    }
    Ok(())
}

/// Judges the credential after a withdraw attempt was denied (and recorded
/// with [`Baseline::record_withdraw_denied`]): the `withdraw_denials_max`-th
/// denial within the window fires.
pub fn check_withdraw_denied(rules: &Rules, baseline: &Baseline, now_ms: u64) -> Result<(), Verdict> {
    if !rules.enabled {
        return Ok(());
    }
    let n = baseline.withdraw_denials(now_ms, rules.withdraw_denials_window_ms);
    if n >= rules.withdraw_denials_max {
        return Err(Verdict {
            rule: Rule::WithdrawDenials,
            symbol: None,
            evidence: vec![
                ev("denied_withdraws", f64::from(n), f64::from(rules.withdraw_denials_max)),
                ev("window_ms", rules.withdraw_denials_window_ms as f64, rules.withdraw_denials_window_ms as f64),
            ],
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const T0: u64 = 1_767_000_000_000;

    fn order(at_ms: u64, symbol: &str, notional: f64, limit: Option<f64>) -> Order<'_> {
        Order { at_ms, symbol, side: Some(Side::Buy), notional: Some(notional), limit_price: limit }
    }

    fn liquid(price: f64) -> MarketFacts {
        MarketFacts { last_price: Some(price), quote_volume_24h: Some(500_000_000.0) }
    }

    /// A bot that traded BTCUSDT and ETHUSDT for a week, one order a minute, about 100 each.
    fn bot() -> Baseline {
        let mut b = Baseline::new();
        for i in 0..(7 * 24 * 60u64) {
            let sym = if i.is_multiple_of(2) { "BTCUSDT" } else { "ETHUSDT" };
            b.record_order(&order(T0 + i * 60_000, sym, 80.0 + (i % 40) as f64, None));
        }
        b
    }

    fn rule(r: Result<(), Verdict>) -> Option<Rule> {
        r.err().map(|v| v.rule)
    }

    #[test]
    fn numbers_as_text() {
        assert_eq!(format_number(12_000.0), "12000");
        assert_eq!(format_number(0.125), "0.125");
        assert_eq!(format_number(1.0 / 3.0), "0.333333");
        assert_eq!(format_number(f64::INFINITY), "inf");
    }

    #[test]
    fn illiquid_pair() {
        let (r, b) = (Rules::default(), bot());
        let now = T0 + 7 * 86_400_000;
        let thin = MarketFacts { last_price: Some(1.0), quote_volume_24h: Some(12_000.0) };
        let v = check_order(&r, &b, &order(now, "PUMPUSDT", 50.0, Some(1.0)), &thin).expect_err("illiquid");
        assert_eq!(v.rule, Rule::IlliquidPair);
        assert_eq!(v.evidence[0], Evidence { measure: "quote_volume_24h", value: 12_000.0, threshold: 50_000.0 });
        assert!(v.to_string().starts_with("anomaly illiquid_pair on PUMPUSDT: quote_volume_24h 12000"), "{v}");
        // A known pair below the floor is the credential's usual: only the share counts.
        assert_eq!(rule(check_order(&r, &b, &order(now, "BTCUSDT", 100.0, None), &thin)), None);
        assert_eq!(rule(check_order(&r, &b, &order(now, "BTCUSDT", 121.0, None), &thin)), Some(Rule::IlliquidPair));
        let dry = MarketFacts { last_price: Some(1.0), quote_volume_24h: Some(0.0) };
        assert_eq!(rule(check_order(&r, &b, &order(now, "BTCUSDT", 1.0, None), &dry)), Some(Rule::IlliquidPair));
        // Without the facts, the rule does not judge.
        assert_eq!(rule(check_order(&r, &b, &order(now, "PUMPUSDT", 50.0, None), &MarketFacts::default())), None);
    }

    #[test]
    fn new_symbol_at_high_size() {
        let (r, b) = (Rules::default(), bot());
        let now = T0 + 7 * 86_400_000;
        let usual = b.largest_usual_notional();
        assert!(usual > 80.0 && usual < 120.0, "{usual}");
        assert_eq!(rule(check_order(&r, &b, &order(now, "SOLUSDT", 900.0, None), &liquid(100.0))), None);
        let v = check_order(&r, &b, &order(now, "SOLUSDT", 1_001.0, None), &liquid(100.0)).expect_err("new symbol");
        assert_eq!((v.rule, v.evidence[0].threshold), (Rule::NewSymbolSize, 1_000.0));
        // A known symbol at that size is not this rule's business.
        assert_eq!(rule(check_order(&r, &b, &order(now, "BTCUSDT", 1_001.0, None), &liquid(100.0))), None);
        // Without history every symbol is new: the rule waits.
        assert_eq!(rule(check_order(&r, &Baseline::new(), &order(now, "SOLUSDT", 5_000.0, None), &liquid(1.0))), None);
    }

    #[test]
    fn price_far_from_the_last_trade() {
        let (r, b) = (Rules::default(), bot());
        let now = T0 + 7 * 86_400_000;
        let o = |limit: f64, side| Order { side, ..order(now, "BTCUSDT", 100.0, Some(limit)) };
        assert_eq!(rule(check_order(&r, &b, &o(109.0, Some(Side::Buy)), &liquid(100.0))), None);
        assert_eq!(rule(check_order(&r, &b, &o(111.0, Some(Side::Buy)), &liquid(100.0))), Some(Rule::PriceDeviation));
        // A passive order far away never executes there: a buy below, a sell above.
        assert_eq!(rule(check_order(&r, &b, &o(50.0, Some(Side::Buy)), &liquid(100.0))), None);
        assert_eq!(rule(check_order(&r, &b, &o(150.0, Some(Side::Sell)), &liquid(100.0))), None);
        assert_eq!(rule(check_order(&r, &b, &o(89.0, Some(Side::Sell)), &liquid(100.0))), Some(Rule::PriceDeviation));
        assert_eq!(rule(check_order(&r, &b, &o(89.0, None), &liquid(100.0))), Some(Rule::PriceDeviation));
    }

    #[test]
    fn burst_above_the_peak_and_the_floor() {
        let r = Rules::default();
        // A new credential: the floor (20 a minute) lets normal use through.
        let mut b = Baseline::new();
        let mut fired = None;
        for i in 0..40u64 {
            let o = order(T0 + i * 1000, "BTCUSDT", 10.0, None);
            if let Err(v) = check_order(&r, &b, &o, &liquid(100.0)) {
                fired = Some((i, v));
                break;
            }
            b.record_order(&o);
        }
        let (i, v) = fired.expect("a burst fires");
        assert_eq!((i, v.rule), (20, Rule::Burst));
        assert_eq!(v.evidence[0], Evidence { measure: "orders_last_minute", value: 21.0, threshold: 20.0 });
        // The week-long bot (peak 1 a minute): 20 a minute is the floor, not 4.
        let b = bot();
        let now = T0 + 7 * 86_400_000;
        assert_eq!(b.peaks(now).0, 1);
        assert_eq!(rule(check_order(&r, &b, &order(now, "BTCUSDT", 100.0, None), &liquid(100.0))), None);
        // A notional burst.
        let big = order(now, "BTCUSDT", 300_000.0, None);
        let r2 = r.with_overrides(r#"{"max_volume_share_pct": 100}"#).expect("rules");
        assert_eq!(rule(check_order(&r2, &b, &big, &liquid(100.0))), Some(Rule::Burst));
    }

    #[test]
    fn repeated_denied_withdraws() {
        let r = Rules::default();
        let mut b = Baseline::new();
        for i in 0..2 {
            b.record_withdraw_denied(T0 + i, &r);
            assert_eq!(check_withdraw_denied(&r, &b, T0 + i), Ok(()));
        }
        b.record_withdraw_denied(T0 + 2, &r);
        assert_eq!(rule(check_withdraw_denied(&r, &b, T0 + 2)), Some(Rule::WithdrawDenials));
        // Outside the window they are forgotten.
        let later = T0 + r.withdraw_denials_window_ms + 10;
        assert_eq!(check_withdraw_denied(&r, &b, later), Ok(()));
        let off = r.with_overrides(r#"{"enabled": false}"#).expect("rules");
        assert_eq!(check_withdraw_denied(&off, &b, T0 + 2), Ok(()));
    }

    #[test]
    fn baseline_json_is_bounded_and_checked() {
        let b = bot();
        let json = b.to_json();
        assert!(json.len() < crate::MAX_BASELINE_JSON, "{}", json.len());
        assert_eq!(Baseline::from_json(&json), Ok(b));
        for bad in ["", "[]", r#"{"orders": -1}"#, r#"{"extra": 1}"#] {
            assert!(matches!(Baseline::from_json(bad), Err(crate::Error::Malformed { .. })), "{bad}");
        }
        let nan = Baseline::new().to_json().replace(r#""recent":[]"#, r#""recent":[[1,1e400]]"#);
        assert!(Baseline::from_json(&nan).is_err());
    }

    proptest! {
        /// Any order sequence: no panic, the baseline stays bounded and round-trips.
        #[test]
        fn never_panics_and_stays_bounded(
            steps in proptest::collection::vec((0u64..120_000, 0usize..300, proptest::option::of(0.0f64..1e12), proptest::option::of(-1.0f64..1e9)), 1..300),
            volume in proptest::option::of(0.0f64..1e12),
            price in proptest::option::of(0.0f64..1e9),
        ) {
            let rules = Rules::default();
            let mut b = Baseline::new();
            let mut t = T0;
            let names: Vec<String> = (0..300).map(|i| format!("S{i}")).collect();
            for (dt, s, notional, limit) in steps {
                t += dt;
                let o = Order { at_ms: t, symbol: &names[s], side: None, notional, limit_price: limit };
                let _ = check_order(&rules, &b, &o, &MarketFacts { last_price: price, quote_volume_24h: volume });
                b.record_order(&o);
            }
            let json = b.to_json();
            prop_assert!(json.len() <= crate::MAX_BASELINE_JSON);
            prop_assert_eq!(Baseline::from_json(&json).expect("round trip"), b);
        }

        /// Loosening a threshold never turns a pass into a freeze.
        #[test]
        fn looser_rules_never_fire_more(
            n in 1u64..60, notional in 1.0f64..1e6, limit in 1.0f64..200.0, volume in 0.0f64..1e9,
            factor in 1.0f64..10.0,
        ) {
            let strict = Rules::default();
            let loose = Rules {
                illiquid_min_volume_24h: strict.illiquid_min_volume_24h / factor,
                max_volume_share_pct: (strict.max_volume_share_pct * factor).min(100.0),
                price_deviation_pct: strict.price_deviation_pct * factor,
                burst_factor: strict.burst_factor * factor,
                burst_floor_per_minute: strict.burst_floor_per_minute * factor as u32,
                ..strict.clone()
            };
            let b = bot();
            let at = T0 + 7 * 86_400_000 + n;
            let o = order(at, "BTCUSDT", notional, Some(limit));
            let m = MarketFacts { last_price: Some(100.0), quote_volume_24h: Some(volume) };
            if check_order(&strict, &b, &o, &m).is_ok() {
                prop_assert!(check_order(&loose, &b, &o, &m).is_ok());
            }
        }
    }
}
