//! The owner's state of a credential and its order of strictness (AUTHORITY.md O1-O3).

use std::cmp::Ordering;
use std::collections::BTreeSet;

use sealgate_vocab::{Decimal, Limits, RateLimit};
use sealgate_vocab::{RATE_MAX, RATE_WINDOW_MS, SYMBOL_LEN_MAX, SYMBOLS_MAX};

use crate::Error;

/// Whether the owner lets the credential be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OwnerStatus {
    /// Usable.
    Active,
    /// Refused by the signer (the owner's choice, or an anomaly).
    Frozen,
}

impl OwnerStatus {
    /// The canonical spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Frozen => "frozen",
        }
    }
}

/// Everything the owner sets on one credential, as the policy applies it:
/// status, the owner's kill switch for it, the symbol allow-list (`None`: any;
/// an empty set: none), the notional cap and the rate limit (`None`: no cap).
/// Made only through [`OwnerState::new`], so every value obeys the vocabulary's rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerState {
    status: OwnerStatus,
    kill_switch: bool,
    symbols: Option<BTreeSet<String>>,
    max_notional: Option<Decimal>,
    rate: Option<RateLimit>,
}

fn symbol_ok(s: &str) -> bool {
    (1..=SYMBOL_LEN_MAX).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'/' | b':' | b'.'))
}

impl OwnerState {
    /// A state; symbols, notional and rate follow the vocabulary's limits rules (O1),
    /// except that an empty allow-list is allowed (no symbol may be traded: what the
    /// meet of two disjoint lists is).
    pub fn new(
        status: OwnerStatus,
        kill_switch: bool,
        symbols: Option<BTreeSet<String>>,
        max_notional: Option<Decimal>,
        rate: Option<RateLimit>,
    ) -> Result<Self, Error> {
        if let Some(s) = &symbols
            && (s.len() > SYMBOLS_MAX || !s.iter().all(|x| symbol_ok(x)))
        {
            return Err(Error::Statement("symbols must be at most 64 symbols of 1 to 32 letters, digits or - _ / : ."));
        }
        if max_notional.is_some_and(|n| n == Decimal::ZERO) {
            return Err(Error::Statement("max_notional must be positive"));
        }
        if let Some(r) = rate
            && (!RATE_MAX.contains(&u64::from(r.max)) || !RATE_WINDOW_MS.contains(&r.window_ms))
        {
            return Err(Error::Statement("rate.max must be 1 to 100000 and rate.window_ms 1000 to 86400000"));
        }
        Ok(Self { status, kill_switch, symbols, max_notional, rate })
    }

    /// The state of an owner's `limits` (as the api and the store hold them).
    pub fn from_limits(status: OwnerStatus, kill_switch: bool, limits: &Limits) -> Self {
        // Limits obey the same rules, by construction.
        Self {
            status,
            kill_switch,
            symbols: limits.symbols().map(|s| s.iter().cloned().collect()),
            max_notional: limits.max_notional(),
            rate: limits.rate(),
        }
    }

    /// Status.
    pub fn status(&self) -> OwnerStatus {
        self.status
    }
    /// The owner's kill switch for this credential.
    pub fn kill_switch(&self) -> bool {
        self.kill_switch
    }
    /// The symbol allow-list, sorted; `None`: any symbol.
    pub fn symbols(&self) -> Option<&BTreeSet<String>> {
        self.symbols.as_ref()
    }
    /// The notional cap.
    pub fn max_notional(&self) -> Option<Decimal> {
        self.max_notional
    }
    /// The rate limit.
    pub fn rate(&self) -> Option<RateLimit> {
        self.rate
    }

    /// The loosest state: active, no kill switch, no limit (what a credential is when
    /// nothing has narrowed it yet).
    pub fn unrestricted() -> Self {
        Self { status: OwnerStatus::Active, kill_switch: false, symbols: None, max_notional: None, rate: None }
    }

    /// This state as the body of a policy statement writes it (S1): compact JSON, members
    /// in the fixed order, symbols sorted, the shortest decimal, `null` for no limit.
    pub fn to_json(&self) -> String {
        let q = |s: &str| serde_json::Value::from(s).to_string();
        let symbols = match &self.symbols {
            None => "null".to_owned(),
            Some(set) => format!("[{}]", set.iter().map(|x| q(x)).collect::<Vec<_>>().join(",")),
        };
        let notional = self.max_notional.map_or("null".to_owned(), |n| q(&n.to_string()));
        let rate =
            self.rate.map_or("null".to_owned(), |r| format!("{{\"max\":{},\"window_ms\":{}}}", r.max, r.window_ms));
        format!(
            "{{\"status\":{},\"kill_switch\":{},\"symbols\":{symbols},\"max_notional\":{notional},\"rate\":{rate}}}",
            q(self.status.as_str()),
            self.kill_switch
        )
    }

    /// Reads what [`OwnerState::to_json`] writes (the same checks as a statement's body;
    /// any other spelling is refused).
    pub fn from_json(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.len() > crate::MAX_STATEMENT {
            return Err(Error::TooLarge("state"));
        }
        let m = sealgate_envelope::parse_json_object(bytes)
            .map_err(|_| Error::Malformed("state is not a JSON object (without repeated members)"))?;
        let s = crate::statement::state_from(&m)?;
        if s.to_json().as_bytes() != bytes {
            return Err(Error::NotCanonical);
        }
        Ok(s)
    }

    /// Whether `self` allows nothing that `other` refuses (O2): frozen or
    /// `other` active; kill switch on or `other`'s off; symbols a subset (any
    /// symbol is the largest set); notional cap at most (no cap is the
    /// largest); a rate limit with no larger burst and no faster refill (no
    /// limit is the largest).
    pub fn at_least_as_strict_as(&self, other: &Self) -> bool {
        let status = self.status == OwnerStatus::Frozen || other.status == OwnerStatus::Active;
        let kill = self.kill_switch || !other.kill_switch;
        let symbols = match (&self.symbols, &other.symbols) {
            (_, None) => true,
            (None, Some(_)) => false,
            (Some(a), Some(b)) => a.is_subset(b),
        };
        let notional = match (self.max_notional, other.max_notional) {
            (_, None) => true,
            (None, Some(_)) => false,
            (Some(a), Some(b)) => a <= b,
        };
        let rate = match (self.rate, other.rate) {
            (_, None) => true,
            (None, Some(_)) => false,
            (Some(a), Some(b)) => a.max <= b.max && refill_cmp(a, b) != Ordering::Greater,
        };
        status && kill && symbols && notional && rate
    }

    /// Whether going from `from` to `to` allows anything `from` refused (O2):
    /// unfreezing, turning the kill switch off, adding a symbol (or lifting the
    /// allow-list), raising or removing the notional cap, a larger burst or a
    /// faster refill (or removing the rate limit). Such a change needs the
    /// owner's authority; every other change tightens or keeps the state.
    pub fn is_loosening(from: &Self, to: &Self) -> bool {
        !to.at_least_as_strict_as(from)
    }

    /// The strictest state both allow (O3): what each component of the two
    /// refuses, the result refuses. Commutative and idempotent, never looser
    /// than either, and `a.meet(b) == a` when `a` is at least as strict as `b`.
    #[must_use]
    pub fn meet(&self, other: &Self) -> Self {
        let status = if self.status == OwnerStatus::Frozen || other.status == OwnerStatus::Frozen {
            OwnerStatus::Frozen
        } else {
            OwnerStatus::Active
        };
        let symbols = match (&self.symbols, &other.symbols) {
            (None, s) | (s, None) => s.clone(),
            (Some(a), Some(b)) => Some(a.intersection(b).cloned().collect()),
        };
        let max_notional = match (self.max_notional, other.max_notional) {
            (None, n) | (n, None) => n,
            (Some(a), Some(b)) => Some(a.min(b)),
        };
        let rate = match (self.rate, other.rate) {
            (None, r) | (r, None) => r,
            (Some(a), Some(b)) => Some(meet_rate(a, b)),
        };
        Self { status, kill_switch: self.kill_switch || other.kill_switch, symbols, max_notional, rate }
    }
}

/// Compare the refill rates `a.max / a.window_ms` and `b.max / b.window_ms` exactly.
fn refill_cmp(a: RateLimit, b: RateLimit) -> Ordering {
    (u128::from(a.max) * u128::from(b.window_ms)).cmp(&(u128::from(b.max) * u128::from(a.window_ms)))
}

/// The bucket with the smaller burst and the slower refill (O3): burst
/// `m = min(a.max, b.max)`, window `m / slower refill` rounded up (a longer
/// window is a slower refill), at least the smallest window the rules allow
/// (which only slows it further). It never exceeds the slower input's window.
fn meet_rate(a: RateLimit, b: RateLimit) -> RateLimit {
    let slow = if refill_cmp(a, b) == Ordering::Greater { b } else { a };
    let max = a.max.min(b.max);
    let num = u128::from(max) * u128::from(slow.window_ms);
    let den = u128::from(slow.max);
    let window = num.div_ceil(den).max(u128::from(*RATE_WINDOW_MS.start()));
    // window <= slow.window_ms (max <= slow.max), which is a u64.
    RateLimit { max, window_ms: u64::try_from(window).unwrap_or(slow.window_ms) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(
        status: OwnerStatus,
        kill: bool,
        symbols: Option<&[&str]>,
        notional: Option<&str>,
        rate: Option<(u32, u64)>,
    ) -> OwnerState {
        OwnerState::new(
            status,
            kill,
            symbols.map(|s| s.iter().map(|x| (*x).to_owned()).collect()),
            notional.map(|n| Decimal::parse(n).expect("decimal")),
            rate.map(|(max, window_ms)| RateLimit { max, window_ms }),
        )
        .expect("state")
    }

    #[test]
    fn each_loosening_is_named() {
        use OwnerStatus::{Active, Frozen};
        let base = st(Active, false, Some(&["BTCUSDT", "ETHUSDT"]), Some("1000"), Some((10, 60_000)));
        let loosen = [
            (
                "unfreeze",
                st(Frozen, false, Some(&["BTCUSDT", "ETHUSDT"]), Some("1000"), Some((10, 60_000))),
                base.clone(),
            ),
            (
                "kill switch off",
                st(Active, true, Some(&["BTCUSDT", "ETHUSDT"]), Some("1000"), Some((10, 60_000))),
                base.clone(),
            ),
            (
                "add a symbol",
                base.clone(),
                st(Active, false, Some(&["BTCUSDT", "ETHUSDT", "XRPUSDT"]), Some("1000"), Some((10, 60_000))),
            ),
            (
                "swap a symbol",
                base.clone(),
                st(Active, false, Some(&["BTCUSDT", "XRPUSDT"]), Some("1000"), Some((10, 60_000))),
            ),
            ("any symbol", base.clone(), st(Active, false, None, Some("1000"), Some((10, 60_000)))),
            (
                "raise notional",
                base.clone(),
                st(Active, false, Some(&["BTCUSDT", "ETHUSDT"]), Some("1000.01"), Some((10, 60_000))),
            ),
            (
                "remove notional",
                base.clone(),
                st(Active, false, Some(&["BTCUSDT", "ETHUSDT"]), None, Some((10, 60_000))),
            ),
            (
                "larger burst",
                base.clone(),
                st(Active, false, Some(&["BTCUSDT", "ETHUSDT"]), Some("1000"), Some((11, 66_000))),
            ),
            (
                "faster refill",
                base.clone(),
                st(Active, false, Some(&["BTCUSDT", "ETHUSDT"]), Some("1000"), Some((10, 59_999))),
            ),
            ("remove rate", base.clone(), st(Active, false, Some(&["BTCUSDT", "ETHUSDT"]), Some("1000"), None)),
        ];
        for (what, from, to) in loosen {
            assert!(OwnerState::is_loosening(&from, &to), "{what}");
            // Swapping a symbol loosens both ways (each direction adds one).
            assert_eq!(OwnerState::is_loosening(&to, &from), what == "swap a symbol", "{what}, reversed");
        }
        assert!(!OwnerState::is_loosening(&base, &base), "no change");
        // Tightening several things at once stays open; one loosening among them does not.
        let tighter = st(Frozen, true, Some(&["BTCUSDT"]), Some("10"), Some((1, 60_000)));
        assert!(!OwnerState::is_loosening(&base, &tighter));
        let mixed = st(Frozen, true, Some(&["BTCUSDT"]), Some("10"), Some((20, 60_000)));
        assert!(OwnerState::is_loosening(&base, &mixed));
        // An empty allow-list allows nothing: tighter than any list.
        let none = st(Active, false, Some(&[]), Some("1000"), Some((10, 60_000)));
        assert!(!OwnerState::is_loosening(&base, &none) && OwnerState::is_loosening(&none, &base));
    }

    #[test]
    fn rate_meet_takes_smaller_burst_and_slower_refill() {
        let r = |max, window_ms| RateLimit { max, window_ms };
        // 100 per second and 10 per minute: burst 10, refill 10/min.
        assert_eq!(meet_rate(r(100, 1_000), r(10, 60_000)), r(10, 60_000));
        // Burst 5 of the first, refill of the second (60/min = 1/s): 5 per 5 s.
        assert_eq!(meet_rate(r(5, 1_000), r(60, 60_000)), r(5, 5_000));
        // Smallest window: clamped up (slower still).
        assert_eq!(meet_rate(r(1, 86_400_000), r(100_000, 1_000)).max, 1);
        assert_eq!(meet_rate(r(1, 1_000), r(100_000, 1_000)), r(1, 1_000));
        assert_eq!(meet_rate(r(7, 3_001), r(7, 3_001)), r(7, 3_001));
    }

    #[test]
    fn new_checks_the_rules() {
        let bad = |r: Result<OwnerState, Error>| assert!(matches!(r, Err(Error::Statement(_))), "{r:?}");
        bad(OwnerState::new(OwnerStatus::Active, false, Some(["a b".to_owned()].into()), None, None));
        bad(OwnerState::new(OwnerStatus::Active, false, Some((0..65).map(|i| format!("S{i}")).collect()), None, None));
        bad(OwnerState::new(OwnerStatus::Active, false, None, Some(Decimal::ZERO), None));
        bad(OwnerState::new(OwnerStatus::Active, false, None, None, Some(RateLimit { max: 0, window_ms: 1_000 })));
        bad(OwnerState::new(OwnerStatus::Active, false, None, None, Some(RateLimit { max: 1, window_ms: 999 })));
        let l = Limits::parse(Some(&["ETHUSDT", "BTCUSDT"]), Some("5"), Some((3, 1_000))).expect("limits");
        let s = OwnerState::from_limits(OwnerStatus::Active, false, &l);
        assert_eq!(
            s.symbols().map(|s| s.iter().cloned().collect::<Vec<_>>()),
            Some(vec!["BTCUSDT".into(), "ETHUSDT".into()])
        );
    }
}
