//! The detectors' thresholds: documented defaults, per-credential overrides.

use serde::{Deserialize, Serialize};

use crate::Error;

/// Largest overrides document read (JSON).
pub const MAX_OVERRIDES_JSON: usize = 4096;

/// The thresholds of every detector. [`Rules::default`] is what a credential
/// without overrides gets; [`Rules::with_overrides`] changes some fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    /// Whether the detectors run at all for this credential (default true).
    pub enabled: bool,
    /// (a) A symbol the credential never traded with a 24 h quote volume below
    /// this is illiquid (default 50 000 quote units).
    pub illiquid_min_volume_24h: f64,
    /// (a) An order whose notional is more than this share of the 24 h quote
    /// volume, in percent, moves the market (default 1 %), on any symbol.
    pub max_volume_share_pct: f64,
    /// (b) The new-symbol rule applies once the credential has this many
    /// orders in its baseline (default 20): before that, every symbol is new.
    pub new_symbol_min_history: u64,
    /// (b) A new symbol's order is large above this many times the largest
    /// usual size among the symbols traded before (default 3).
    pub new_symbol_size_factor: f64,
    /// (b) … and never below this notional (default 1 000 quote units).
    pub new_symbol_min_notional: f64,
    /// (c) Largest distance of a limit price from the last trade, in percent,
    /// on the side that executes (default 10 %).
    pub price_deviation_pct: f64,
    /// (d) A burst is more than this many times the credential's own peak
    /// (default 4).
    pub burst_factor: f64,
    /// (d) Orders in any 60 s never fire below this (default 20).
    pub burst_floor_per_minute: u32,
    /// (d) Orders in any hour never fire below this (default 300).
    pub burst_floor_per_hour: u32,
    /// (d) Notional in any hour never fires below this (default 250 000 quote units).
    pub burst_floor_notional_per_hour: f64,
    /// (d) Off the usual hours, the factor × peak part is multiplied by this (default 0.5).
    pub off_hours_factor: f64,
    /// (d) The time-of-day histogram counts once the baseline has this many
    /// orders (default 200).
    pub off_hours_min_orders: u64,
    /// (e) Denied withdraw attempts in the window that freeze (default 3).
    pub withdraw_denials_max: u32,
    /// (e) The window, ms (default 1 h).
    pub withdraw_denials_window_ms: u64,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            enabled: true,
            illiquid_min_volume_24h: 50_000.0,
            max_volume_share_pct: 1.0,
            new_symbol_min_history: 20,
            new_symbol_size_factor: 3.0,
            new_symbol_min_notional: 1_000.0,
            price_deviation_pct: 10.0,
            burst_factor: 4.0,
            burst_floor_per_minute: 20,
            burst_floor_per_hour: 300,
            burst_floor_notional_per_hour: 250_000.0,
            off_hours_factor: 0.5,
            off_hours_min_orders: 200,
            withdraw_denials_max: 3,
            withdraw_denials_window_ms: 3_600_000,
        }
    }
}

impl Rules {
    /// These rules with the fields of `json` (a JSON object naming some of
    /// the fields above) replaced, then checked. An unknown field, a value of
    /// the wrong type, a document over [`MAX_OVERRIDES_JSON`] bytes or a value
    /// out of its range is refused with the reason (never a panic).
    pub fn with_overrides(&self, json: &str) -> Result<Self, Error> {
        if json.len() > MAX_OVERRIDES_JSON {
            return Err(Error::TooLarge { what: "rule overrides", max: MAX_OVERRIDES_JSON });
        }
        let bad = |reason: String| Error::Malformed { what: "rule overrides", reason };
        let given: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(json).map_err(|_| bad("not a JSON object".into()))?;
        let serde_json::Value::Object(mut merged) =
            serde_json::to_value(self).map_err(|_| bad("unrepresentable".into()))?
        else {
            return Err(bad("unrepresentable".into()));
        };
        for (k, v) in given {
            if !merged.contains_key(&k) {
                let name = if k.len() <= 64 && k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                    k
                } else {
                    "(not shown)".into()
                };
                return Err(bad(format!("unknown rule {name}")));
            }
            merged.insert(k, v);
        }
        let rules: Self = serde_json::from_value(serde_json::Value::Object(merged))
            .map_err(|_| bad("a rule has a value of the wrong type".into()))?;
        rules.validate()?;
        Ok(rules)
    }

    /// The rules that fire whenever either would: each threshold at its stricter end
    /// (detectors on if either is; the lower factor, floor, share, deviation and history;
    /// the higher illiquidity line and the longer withdraw window). What a credential that
    /// names its owner's authority gets from its stored overrides: a row a database writer
    /// loosened loosens nothing (`Rules::default().strictest(&stored)`).
    #[must_use]
    pub fn strictest(&self, other: &Self) -> Self {
        Self {
            enabled: self.enabled || other.enabled,
            illiquid_min_volume_24h: self.illiquid_min_volume_24h.max(other.illiquid_min_volume_24h),
            max_volume_share_pct: self.max_volume_share_pct.min(other.max_volume_share_pct),
            new_symbol_min_history: self.new_symbol_min_history.min(other.new_symbol_min_history),
            new_symbol_size_factor: self.new_symbol_size_factor.min(other.new_symbol_size_factor),
            new_symbol_min_notional: self.new_symbol_min_notional.min(other.new_symbol_min_notional),
            price_deviation_pct: self.price_deviation_pct.min(other.price_deviation_pct),
            burst_factor: self.burst_factor.min(other.burst_factor),
            burst_floor_per_minute: self.burst_floor_per_minute.min(other.burst_floor_per_minute),
            burst_floor_per_hour: self.burst_floor_per_hour.min(other.burst_floor_per_hour),
            burst_floor_notional_per_hour: self.burst_floor_notional_per_hour.min(other.burst_floor_notional_per_hour),
            off_hours_factor: self.off_hours_factor.min(other.off_hours_factor),
            off_hours_min_orders: self.off_hours_min_orders.min(other.off_hours_min_orders),
            withdraw_denials_max: self.withdraw_denials_max.min(other.withdraw_denials_max),
            withdraw_denials_window_ms: self.withdraw_denials_window_ms.max(other.withdraw_denials_window_ms),
        }
    }

    /// Checks every value is in its range.
    pub fn validate(&self) -> Result<(), Error> {
        let range = |field: &'static str, v: f64, lo: f64, hi: f64, reason: &'static str| {
            if v.is_finite() && v >= lo && v <= hi { Ok(()) } else { Err(Error::OutOfRange { field, reason }) }
        };
        range("illiquid_min_volume_24h", self.illiquid_min_volume_24h, 0.0, 1e18, "0 to 1e18")?;
        range("max_volume_share_pct", self.max_volume_share_pct, 0.0001, 100.0, "0.0001 to 100")?;
        range("new_symbol_size_factor", self.new_symbol_size_factor, 1.0, 1e6, "1 to 1e6")?;
        range("new_symbol_min_notional", self.new_symbol_min_notional, 0.0, 1e18, "0 to 1e18")?;
        range("price_deviation_pct", self.price_deviation_pct, 0.01, 1000.0, "0.01 to 1000")?;
        range("burst_factor", self.burst_factor, 1.0, 1e6, "1 to 1e6")?;
        range("burst_floor_notional_per_hour", self.burst_floor_notional_per_hour, 0.0, 1e18, "0 to 1e18")?;
        range("off_hours_factor", self.off_hours_factor, 0.01, 1.0, "0.01 to 1")?;
        if self.burst_floor_per_minute == 0 {
            return Err(Error::OutOfRange { field: "burst_floor_per_minute", reason: "at least 1" });
        }
        if self.burst_floor_per_hour == 0 {
            return Err(Error::OutOfRange { field: "burst_floor_per_hour", reason: "at least 1" });
        }
        if self.withdraw_denials_max == 0 {
            return Err(Error::OutOfRange { field: "withdraw_denials_max", reason: "at least 1" });
        }
        if !(1_000..=7 * 86_400_000).contains(&self.withdraw_denials_window_ms) {
            return Err(Error::OutOfRange { field: "withdraw_denials_window_ms", reason: "1 s to 7 days" });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn strictest_keeps_tightenings_and_drops_loosenings() {
        let d = Rules::default();
        let loose = d
            .with_overrides(r#"{"enabled":false,"burst_factor":50,"illiquid_min_volume_24h":1,"withdraw_denials_window_ms":1000,"price_deviation_pct":90}"#)
            .expect("loose");
        assert_eq!(d.strictest(&loose), d, "a loosened row loosens nothing");
        let tight = d
            .with_overrides(r#"{"burst_factor":2,"illiquid_min_volume_24h":90000,"withdraw_denials_window_ms":7200000,"off_hours_factor":0.1}"#)
            .expect("tight");
        assert_eq!(d.strictest(&tight), tight, "a tightened row applies");
        assert_eq!(loose.strictest(&tight), tight.strictest(&loose), "commutative");
        assert!(d.strictest(&loose).validate().is_ok());
    }

    use super::*;

    #[test]
    fn defaults_are_valid_and_overrides_apply() {
        let d = Rules::default();
        assert_eq!(d.validate(), Ok(()));
        let r = d.with_overrides(r#"{"price_deviation_pct": 25, "enabled": false}"#).expect("overrides");
        assert!((r.price_deviation_pct - 25.0).abs() < f64::EPSILON && !r.enabled);
        assert_eq!(r.burst_factor, d.burst_factor);
        assert_eq!(d.with_overrides("{}"), Ok(d.clone()));
    }

    #[test]
    fn bad_overrides_are_refused_with_the_reason() {
        let d = Rules::default();
        let kind = |j: &str| d.with_overrides(j).expect_err(j);
        assert!(matches!(kind(r#"{"nope": 1}"#), Error::Malformed { reason, .. } if reason == "unknown rule nope"));
        assert!(matches!(kind(r#"{"price_deviation_pct": "10"}"#), Error::Malformed { .. }));
        assert!(matches!(kind("[1]"), Error::Malformed { .. }));
        assert!(matches!(kind("not json"), Error::Malformed { .. }));
        assert!(matches!(
            kind(r#"{"price_deviation_pct": -1}"#),
            Error::OutOfRange { field: "price_deviation_pct", .. }
        ));
        assert!(matches!(kind(r#"{"burst_factor": 0.5}"#), Error::OutOfRange { field: "burst_factor", .. }));
        assert!(matches!(kind(r#"{"withdraw_denials_max": 0}"#), Error::OutOfRange { .. }));
        assert!(matches!(kind(r#"{"withdraw_denials_max": -3}"#), Error::Malformed { .. }));
        assert!(matches!(kind(r#"{"withdraw_denials_window_ms": 1}"#), Error::OutOfRange { .. }));
        let big = format!(r#"{{"enabled": true{}}}"#, " ".repeat(MAX_OVERRIDES_JSON));
        assert!(matches!(kind(&big), Error::TooLarge { .. }));
        // A key that is not a plain name is not echoed.
        assert!(matches!(kind(r#"{"<script>": 1}"#), Error::Malformed { reason, .. } if !reason.contains("script")));
    }
}
