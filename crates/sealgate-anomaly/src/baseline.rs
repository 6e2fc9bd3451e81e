//! A credential's baseline: what it usually does, learnt from its own orders.
//! Bounded in every dimension, so a stored baseline stays small whatever the
//! credential did.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::detect::Order;
use crate::{Error, Rules};

/// Largest baseline document read or written (JSON).
pub const MAX_BASELINE_JSON: usize = 256 * 1024;
/// Orders of the last hour kept one by one (the rate and notional windows).
const MAX_RECENT: usize = 2048;
/// Hours of per-hour history kept (7 days).
const MAX_HOURS: usize = 168;
/// Symbols remembered; past it the least recently traded is forgotten.
const MAX_SYMBOLS: usize = 256;
/// Denied withdraw attempts remembered.
const MAX_DENIALS: usize = 64;
const HOUR_MS: u64 = 3_600_000;
const MINUTE_MS: u64 = 60_000;
/// Weight of a new order in a symbol's usual size (an exponential average).
const SIZE_WEIGHT: f64 = 0.1;

/// One hour of a credential's history.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HourBucket {
    /// Hours since the Unix epoch.
    pub hour: u64,
    /// Orders placed in it.
    pub orders: u32,
    /// Their notional, quote units.
    pub notional: f64,
    /// The most orders in any 60 s that ended in it.
    pub peak_minute: u32,
}

/// What a credential usually does on one symbol.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SymbolStats {
    /// Orders placed on it.
    pub orders: u64,
    /// Its usual notional (an exponential average, weight 0.1 per order).
    pub usual_notional: f64,
    /// The largest notional placed on it.
    pub max_notional: f64,
    /// The last order, Unix ms.
    pub last_ms: u64,
}

/// A credential's history, as the detectors read it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    /// Orders recorded in all.
    pub orders: u64,
    /// The first one, Unix ms (0: none).
    pub first_ms: u64,
    /// The last hour's orders: (Unix ms, notional), oldest first.
    recent: VecDeque<(u64, f64)>,
    /// The last 7 days, hour by hour, oldest first.
    hours: VecDeque<HourBucket>,
    /// Orders by UTC hour of day.
    time_of_day: [u64; 24],
    /// The symbols traded before.
    symbols: BTreeMap<String, SymbolStats>,
    /// Denied withdraw attempts (Unix ms), oldest first.
    withdraw_denials: VecDeque<u64>,
}

/// A number read from outside that cannot poison the sums.
fn finite(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite() && *x >= 0.0)
}

impl Baseline {
    /// An empty baseline: a credential without history.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads a stored baseline (JSON): bounded, and checked as it is read.
    pub fn from_json(json: &str) -> Result<Self, Error> {
        if json.len() > MAX_BASELINE_JSON {
            return Err(Error::TooLarge { what: "baseline", max: MAX_BASELINE_JSON });
        }
        let b: Self = serde_json::from_str(json).map_err(|e| Error::Malformed {
            what: "baseline",
            reason: format!("not a baseline ({:?})", e.classify()),
        })?;
        let sane = b.recent.len() <= MAX_RECENT
            && b.hours.len() <= MAX_HOURS
            && b.symbols.len() <= MAX_SYMBOLS
            && b.withdraw_denials.len() <= MAX_DENIALS
            && b.recent.iter().all(|(_, n)| n.is_finite() && *n >= 0.0)
            && b.hours.iter().all(|h| h.notional.is_finite() && h.notional >= 0.0)
            && b.symbols.iter().all(|(s, st)| {
                !s.is_empty()
                    && s.len() <= 64
                    && st.usual_notional.is_finite()
                    && st.max_notional.is_finite()
                    && st.usual_notional >= 0.0
            });
        if !sane {
            return Err(Error::Malformed { what: "baseline", reason: "out of bounds".into() });
        }
        Ok(b)
    }

    /// The baseline as stored (JSON), at most [`MAX_BASELINE_JSON`] bytes.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }

    /// Whether `symbol` was traded before.
    pub fn knows(&self, symbol: &str) -> bool {
        self.symbols.contains_key(symbol)
    }

    /// What the credential usually does on `symbol`.
    pub fn symbol(&self, symbol: &str) -> Option<&SymbolStats> {
        self.symbols.get(symbol)
    }

    /// The largest usual size among the symbols traded before (0: none).
    pub fn largest_usual_notional(&self) -> f64 {
        self.symbols.values().map(|s| s.usual_notional).fold(0.0, f64::max)
    }

    /// Orders and notional in the window (`now - window`, `now`].
    pub fn window(&self, now_ms: u64, window_ms: u64) -> (u32, f64) {
        let from = now_ms.saturating_sub(window_ms);
        self.recent
            .iter()
            .rev()
            .take_while(|(t, _)| *t > from)
            .filter(|(t, _)| *t <= now_ms)
            .fold((0u32, 0.0), |(n, s), (_, x)| (n.saturating_add(1), s + x))
    }

    /// The credential's own peaks over the last 7 days before the hour of
    /// `now_ms` (the hour under way is what is judged, never its own
    /// yardstick): orders in any 60 s, orders in an hour, notional in an hour.
    pub fn peaks(&self, now_ms: u64) -> (u32, u32, f64) {
        let hour = now_ms / HOUR_MS;
        self.hours
            .iter()
            .filter(|b| b.hour < hour && b.hour.saturating_add(MAX_HOURS as u64) >= hour)
            .fold((0, 0, 0.0), |(m, h, n), b| (m.max(b.peak_minute), h.max(b.orders), n.max(b.notional)))
    }

    /// Whether `now_ms` falls in a UTC hour of day in which the credential,
    /// with at least `min_orders` orders, never traded.
    pub fn off_hours(&self, now_ms: u64, min_orders: u64) -> bool {
        self.orders >= min_orders && self.time_of_day[((now_ms / HOUR_MS) % 24) as usize] == 0
    }

    /// Denied withdraw attempts in the window (`now - window`, `now`].
    pub fn withdraw_denials(&self, now_ms: u64, window_ms: u64) -> u32 {
        let from = now_ms.saturating_sub(window_ms);
        self.withdraw_denials.iter().filter(|t| **t > from && **t <= now_ms).count() as u32
    }

    /// Learns from an order that was let through.
    pub fn record_order(&mut self, order: &Order<'_>) {
        let now = order.at_ms;
        let notional = finite(order.notional).unwrap_or(0.0);
        self.orders = self.orders.saturating_add(1);
        if self.first_ms == 0 {
            self.first_ms = now;
        }
        // The last hour, one by one (a clock that went back is kept in order).
        let from = now.saturating_sub(HOUR_MS);
        while self.recent.front().is_some_and(|(t, _)| *t <= from) || self.recent.len() >= MAX_RECENT {
            self.recent.pop_front();
        }
        let at = self.recent.back().map_or(now, |(t, _)| (*t).max(now));
        self.recent.push_back((at, notional));
        let (minute, _) = self.window(at, MINUTE_MS);
        // Hour by hour.
        let hour = at / HOUR_MS;
        match self.hours.back_mut() {
            Some(b) if b.hour == hour => {
                b.orders = b.orders.saturating_add(1);
                b.notional += notional;
                b.peak_minute = b.peak_minute.max(minute);
            }
            _ => self.hours.push_back(HourBucket { hour, orders: 1, notional, peak_minute: minute }),
        }
        while self.hours.len() > MAX_HOURS
            || self.hours.front().is_some_and(|b| b.hour.saturating_add(MAX_HOURS as u64) <= hour)
        {
            self.hours.pop_front();
        }
        self.time_of_day[(hour % 24) as usize] = self.time_of_day[(hour % 24) as usize].saturating_add(1);
        // The symbol and its usual size.
        if order.symbol.is_empty() || order.symbol.len() > 64 {
            return;
        }
        if !self.symbols.contains_key(order.symbol)
            && self.symbols.len() >= MAX_SYMBOLS
            && let Some(oldest) = self.symbols.iter().min_by_key(|(_, s)| s.last_ms).map(|(k, _)| k.clone())
        {
            self.symbols.remove(&oldest);
        }
        let s = self.symbols.entry(order.symbol.to_owned()).or_insert(SymbolStats {
            orders: 0,
            usual_notional: notional,
            max_notional: 0.0,
            last_ms: at,
        });
        s.orders = s.orders.saturating_add(1);
        s.usual_notional += SIZE_WEIGHT * (notional - s.usual_notional);
        s.max_notional = s.max_notional.max(notional);
        s.last_ms = at;
    }

    /// Learns of a denied withdraw attempt.
    pub fn record_withdraw_denied(&mut self, at_ms: u64, rules: &Rules) {
        let from = at_ms.saturating_sub(rules.withdraw_denials_window_ms);
        while self.withdraw_denials.front().is_some_and(|t| *t <= from) || self.withdraw_denials.len() >= MAX_DENIALS {
            self.withdraw_denials.pop_front();
        }
        self.withdraw_denials.push_back(at_ms);
    }
}
