//! Non-negative decimal amounts with 18 fractional digits, exact: enough
//! for any exchange's quantities and prices, and no floating point in a
//! limit check.

use std::fmt;

/// A non-negative decimal, in units of 1e-18.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Decimal(u128);

const DIGITS: usize = 18;
const SCALE: u128 = 1_000_000_000_000_000_000;

impl Decimal {
    /// Zero.
    pub const ZERO: Self = Self(0);

    /// Parse `123`, `0.5`, `.25`, `1e3` is refused; at most 18 fraction digits.
    pub fn parse(s: &str) -> Option<Self> {
        let (int, frac) = s.split_once('.').unwrap_or((s, ""));
        if (int.is_empty() && frac.is_empty()) || frac.len() > DIGITS || int.len() > 20 {
            return None;
        }
        if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
            return None;
        }
        let i: u128 = if int.is_empty() { 0 } else { int.parse().ok()? };
        let f: u128 = if frac.is_empty() { 0 } else { format!("{frac:0<18}").parse().ok()? };
        i.checked_mul(SCALE)?.checked_add(f).map(Self)
    }

    /// `n` percent (`105` is 1.05).
    pub const fn from_percent(n: u32) -> Self {
        Self(n as u128 * (SCALE / 100))
    }

    /// `self + other`; `None` on overflow.
    pub fn checked_add(self, other: Self) -> Option<Self> {
        self.0.checked_add(other.0).map(Self)
    }

    /// `self × other`, truncated; `None` on overflow.
    pub fn checked_mul(self, other: Self) -> Option<Self> {
        // (a/S)·(b/S) = a·b/S²; split to avoid overflowing u128.
        let (ai, af) = (self.0 / SCALE, self.0 % SCALE);
        let (bi, bf) = (other.0 / SCALE, other.0 % SCALE);
        let int = ai.checked_mul(bi)?.checked_mul(SCALE)?;
        let cross = ai.checked_mul(bf)?.checked_add(bi.checked_mul(af)?)?;
        let frac = af.checked_mul(bf)? / SCALE;
        int.checked_add(cross)?.checked_add(frac).map(Self)
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let frac = format!("{:018}", self.0 % SCALE);
        let frac = frac.trim_end_matches('0');
        if frac.is_empty() { write!(f, "{}", self.0 / SCALE) } else { write!(f, "{}.{frac}", self.0 / SCALE) }
    }
}

#[cfg(test)]
mod tests {
    use super::Decimal;

    #[test]
    fn parse_print_multiply() {
        let d = |s| Decimal::parse(s).expect(s);
        assert_eq!(d("0.1").to_string(), "0.1");
        assert_eq!(d("25").to_string(), "25");
        assert_eq!(d(".5").to_string(), "0.5");
        assert_eq!(d("1.25").checked_mul(d("37500")), Some(d("46875")));
        assert_eq!(d("0.000000000000000001").checked_mul(d("0.5")), Some(Decimal::ZERO));
        for bad in ["", ".", "-1", "1e3", "1.2.3", "0.0000000000000000001", " 1", "+1"] {
            assert_eq!(Decimal::parse(bad), None, "{bad:?}");
        }
        assert!(d("99999999999999999999").checked_mul(d("99999999999999999999")).is_none());
        assert!(d("0.1") < d("0.11"));
        assert_eq!(Decimal::from_percent(105), d("1.05"));
        assert_eq!(d("1.5").checked_add(d("2.25")), Some(d("3.75")));
        assert_eq!(Decimal(u128::MAX).checked_add(d("1")), None);
    }
}
