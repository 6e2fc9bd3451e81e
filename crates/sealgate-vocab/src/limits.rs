//! A credential's limits, set by its owner (the api, the agent's keystore) and
//! applied by the policy: one parser, one set of rules, one printed form, so
//! the api, the signer reading them back from the store and the agent cannot
//! disagree on what a limit means.

use std::fmt;

use crate::Decimal;

/// Most symbols in an allow-list.
pub const SYMBOLS_MAX: usize = 64;
/// Longest symbol, in bytes.
pub const SYMBOL_LEN_MAX: usize = 32;
/// Rate limits: `max` in 1..=100 000 requests per `window_ms` in 1 s..=1 day.
pub const RATE_MAX: std::ops::RangeInclusive<u64> = 1..=100_000;
/// See [`RATE_MAX`].
pub const RATE_WINDOW_MS: std::ops::RangeInclusive<u64> = 1_000..=86_400_000;

/// Which limit broke its rule; the message is the rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LimitsError {
    /// The symbol allow-list.
    #[error("symbols must be 1 to 64 symbols of 1 to 32 letters, digits or - _ / : . (null: any symbol)")]
    Symbols,
    /// The notional cap.
    #[error("max_notional must be a positive decimal string such as \"1000.50\"")]
    MaxNotional,
    /// The rate limit.
    #[error("rate.max must be 1 to 100000 and rate.window_ms 1000 to 86400000")]
    Rate,
}

/// A rate limit: at most `max` approved requests per `window_ms`, as a
/// token bucket refilled continuously.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Burst size and requests per window.
    pub max: u32,
    /// Window length in milliseconds.
    pub window_ms: u64,
}

impl RateLimit {
    /// A rate limit within [`RATE_MAX`] and [`RATE_WINDOW_MS`]; negative
    /// values (a database column) are refused like any other out of range.
    pub fn parse(max: i64, window_ms: i64) -> Result<Self, LimitsError> {
        match (u64::try_from(max), u64::try_from(window_ms)) {
            (Ok(m), Ok(w)) if RATE_MAX.contains(&m) && RATE_WINDOW_MS.contains(&w) => {
                Ok(Self { max: u32::try_from(m).map_err(|_| LimitsError::Rate)?, window_ms: w })
            }
            _ => Err(LimitsError::Rate),
        }
    }
}

/// A credential's limits. `None`: no limit of that kind. Made only by
/// [`Limits::parse`] (or [`Limits::NONE`]), so every value obeys the rules.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Limits {
    symbols: Option<Vec<String>>,
    max_notional: Option<Decimal>,
    rate: Option<RateLimit>,
}

impl Limits {
    /// No limits.
    pub const NONE: Self = Self { symbols: None, max_notional: None, rate: None };

    /// Limits from their parts as the api and the keystore spell them: 1 to
    /// [`SYMBOLS_MAX`] symbols of 1 to [`SYMBOL_LEN_MAX`] letters, digits or
    /// `- _ / : .` (a repeat is dropped, the order kept); a positive decimal
    /// notional; a rate limit in range. The first broken rule is the error.
    pub fn parse<S: AsRef<str>>(
        symbols: Option<&[S]>,
        max_notional: Option<&str>,
        rate: Option<(i64, i64)>,
    ) -> Result<Self, LimitsError> {
        let symbols = match symbols {
            None => None,
            Some(list) => {
                let ok = |x: &str| {
                    (1..=SYMBOL_LEN_MAX).contains(&x.len())
                        && x.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'/' | b':' | b'.'))
                };
                if list.is_empty() || list.len() > SYMBOLS_MAX || !list.iter().all(|s| ok(s.as_ref())) {
                    return Err(LimitsError::Symbols);
                }
                let mut out: Vec<String> = Vec::with_capacity(list.len());
                for s in list {
                    if !out.iter().any(|x| x == s.as_ref()) {
                        out.push(s.as_ref().to_owned());
                    }
                }
                Some(out)
            }
        };
        let max_notional = match max_notional {
            None => None,
            Some(n) => Some(Decimal::parse(n).filter(|d| *d > Decimal::ZERO).ok_or(LimitsError::MaxNotional)?),
        };
        let rate = rate.map(|(m, w)| RateLimit::parse(m, w)).transpose()?;
        Ok(Self { symbols, max_notional, rate })
    }

    /// Limits as a store keeps them: symbols comma-separated, the notional
    /// as a decimal string, the rate as two columns set together.
    pub fn from_stored(
        symbols: Option<&str>,
        max_notional: Option<&str>,
        rate_max: Option<i64>,
        rate_window_ms: Option<i64>,
    ) -> Result<Self, LimitsError> {
        let list: Option<Vec<&str>> = symbols.map(|s| s.split(',').collect());
        let rate = match (rate_max, rate_window_ms) {
            (Some(m), Some(w)) => Some((m, w)),
            (None, None) => None,
            _ => return Err(LimitsError::Rate),
        };
        Self::parse(list.as_deref(), max_notional, rate)
    }

    /// The symbol allow-list, in the order given.
    pub fn symbols(&self) -> Option<&[String]> {
        self.symbols.as_deref()
    }

    /// The allow-list comma-separated (the stored form).
    pub fn symbols_csv(&self) -> Option<String> {
        self.symbols.as_ref().map(|s| s.join(","))
    }

    /// The notional cap.
    pub fn max_notional(&self) -> Option<Decimal> {
        self.max_notional
    }

    /// The rate limit.
    pub fn rate(&self) -> Option<RateLimit> {
        self.rate
    }
}

/// `symbols=BTCUSDT,ETHUSDT max_notional=1000.5 rate=10/60000ms`, or `none`;
/// what is absent is not printed.
impl fmt::Display for Limits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(s) = &self.symbols {
            parts.push(format!("symbols={}", s.join(",")));
        }
        if let Some(n) = self.max_notional {
            parts.push(format!("max_notional={n}"));
        }
        if let Some(r) = self.rate {
            parts.push(format!("rate={}/{}ms", r.max, r.window_ms));
        }
        if parts.is_empty() { f.write_str("none") } else { f.write_str(&parts.join(" ")) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_checks_and_prints() {
        let l =
            Limits::parse(Some(&["BTCUSDT", "ETH-USD", "BTCUSDT"]), Some("1000.50"), Some((10, 60_000))).expect("ok");
        assert_eq!(l.symbols(), Some(&["BTCUSDT".to_owned(), "ETH-USD".to_owned()][..]), "a repeat is dropped");
        assert_eq!(l.to_string(), "symbols=BTCUSDT,ETH-USD max_notional=1000.5 rate=10/60000ms");
        assert_eq!(Limits::NONE.to_string(), "none");
        let back = Limits::from_stored(l.symbols_csv().as_deref(), Some("1000.5"), Some(10), Some(60_000));
        assert_eq!(back, Ok(l));
        let none: Option<&[&str]> = None;
        for (want, got) in [
            (LimitsError::Symbols, Limits::parse(Some(&[] as &[&str]), None, None)),
            (LimitsError::Symbols, Limits::parse(Some(&["BTC USDT"]), None, None)),
            (LimitsError::Symbols, Limits::parse(Some(&["x".repeat(33)]), None, None)),
            (LimitsError::Symbols, Limits::from_stored(Some("A,,B"), None, None, None)),
            (LimitsError::MaxNotional, Limits::parse(none, Some("0"), None)),
            (LimitsError::MaxNotional, Limits::parse(none, Some("-1"), None)),
            (LimitsError::MaxNotional, Limits::parse(none, Some("1e3"), None)),
            (LimitsError::Rate, Limits::parse(none, None, Some((0, 1000)))),
            (LimitsError::Rate, Limits::parse(none, None, Some((1, 999)))),
            (LimitsError::Rate, Limits::parse(none, None, Some((-1, 1000)))),
            (LimitsError::Rate, Limits::parse(none, None, Some((100_001, 1000)))),
            (LimitsError::Rate, Limits::from_stored(None, None, Some(1), None)),
        ] {
            assert_eq!(got, Err(want));
        }
        let many: Vec<String> = (0..65).map(|i| format!("S{i}")).collect();
        assert_eq!(Limits::parse(Some(&many), None, None), Err(LimitsError::Symbols));
    }
}
