//! Fixed-point amounts (8 decimals, as Binance prints them): exact
//! arithmetic for balances without a decimal crate.

use std::fmt;

/// An amount in units of 1e-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Amount(pub i128);

const SCALE: i128 = 100_000_000;

impl Amount {
    /// Zero.
    pub const ZERO: Self = Self(0);

    /// Parse a non-negative decimal such as `0.1` or `25`.
    pub fn parse(s: &str) -> Option<Self> {
        let (int, frac) = s.split_once('.').unwrap_or((s, ""));
        if int.is_empty() && frac.is_empty() || frac.len() > 8 {
            return None;
        }
        if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) || int.len() > 20 {
            return None;
        }
        let i: i128 = if int.is_empty() { 0 } else { int.parse().ok()? };
        let f: i128 = if frac.is_empty() { 0 } else { format!("{frac:0<8}").parse().ok()? };
        Some(Self(i * SCALE + f))
    }

    /// `self * other` (both scaled), truncated to 8 decimals. Saturates instead of
    /// overflowing: amounts come from requests (up to 20 integer digits each), and a
    /// hostile product must be refused as too large, not panic the handler.
    pub fn times(self, other: Self) -> Self {
        Self(self.0.saturating_mul(other.0) / SCALE)
    }
}

impl Amount {
    /// `self / other` (both scaled), truncated to 8 decimals; zero for a zero divisor.
    /// Saturates like [`Amount::times`].
    pub fn divided_by(self, other: Self) -> Self {
        if other.0 == 0 { Self::ZERO } else { Self(self.0.saturating_mul(SCALE) / other.0) }
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let a = self.0.abs();
        write!(f, "{sign}{}.{:08}", a / SCALE, a % SCALE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_print() {
        assert_eq!(Amount::parse("0.1").map(|a| a.to_string()), Some("0.10000000".into()));
        assert_eq!(Amount::parse("25").map(|a| a.to_string()), Some("25.00000000".into()));
        assert_eq!(Amount::parse(".5"), Some(Amount(50_000_000)));
        for bad in ["", ".", "-1", "1e5", "0.000000001", "1.2.3", "x"] {
            assert_eq!(Amount::parse(bad), None, "{bad}");
        }
        assert_eq!(Amount::parse("2").map(|a| a.times(Amount::parse("0.5").expect("n"))), Amount::parse("1"));
    }
}
