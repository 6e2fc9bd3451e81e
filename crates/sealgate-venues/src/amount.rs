//! Exact signed decimals, parsed from and printed to the exchanges' decimal strings.

use std::fmt;

/// An exact signed decimal: `mantissa × 10^-scale`. Parsed from and printed
/// to the exchange's decimal strings; never a float.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Amount {
    mantissa: i128,
    scale: u32,
}

/// Most significant digits an [`Amount`] holds (i128 holds 38).
const MAX_DIGITS: usize = 36;

impl Amount {
    /// Zero.
    pub const ZERO: Self = Self { mantissa: 0, scale: 0 };

    /// Parse `123`, `-0.5`, `.25`, `1.`; refuses exponents, `+`, spaces,
    /// and more than 36 digits.
    pub fn parse(s: &str) -> Option<Self> {
        if s.is_empty() || s.len() > MAX_DIGITS + 2 {
            return None;
        }
        let (neg, digits) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
        // `.5` prints as `0.5`: the `0` counts, so what parses always prints back in bounds.
        if (int.is_empty() && frac.is_empty()) || int.len().max(1) + frac.len() > MAX_DIGITS {
            return None;
        }
        if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
            return None;
        }
        let mut mantissa: i128 = 0;
        for b in int.bytes().chain(frac.bytes()) {
            mantissa = mantissa.checked_mul(10)?.checked_add(i128::from(b - b'0'))?;
        }
        let scale = u32::try_from(frac.len()).ok()?;
        Some(Self { mantissa: if neg { -mantissa } else { mantissa }, scale })
    }

    fn rescale(self, scale: u32) -> Option<i128> {
        self.mantissa.checked_mul(10i128.checked_pow(scale.checked_sub(self.scale)?)?)
    }

    /// `self + other`, exact; `None` on overflow, including a result longer than
    /// [`Amount::parse`] reads back (36 digits as printed).
    pub fn checked_add(self, other: Self) -> Option<Self> {
        let scale = self.scale.max(other.scale);
        let mantissa = self.rescale(scale)?.checked_add(other.rescale(scale)?)?;
        Some(Self { mantissa, scale }).filter(|a| a.printed_digits() <= MAX_DIGITS)
    }

    /// Digits [`fmt::Display`] prints (a `0` before the point when below 1).
    fn printed_digits(self) -> usize {
        let digits = self.mantissa.unsigned_abs().checked_ilog10().map_or(1, |l| l as usize + 1);
        if self.scale == 0 { digits } else { digits.max(self.scale as usize + 1) }
    }

    /// `self - other`, exact; `None` on overflow.
    pub fn checked_sub(self, other: Self) -> Option<Self> {
        self.checked_add(Self { mantissa: other.mantissa.checked_neg()?, scale: other.scale })
    }

    /// The same amount with `-` flipped.
    pub fn checked_neg(self) -> Option<Self> {
        Some(Self { mantissa: self.mantissa.checked_neg()?, scale: self.scale })
    }

    /// Whether it is zero.
    pub fn is_zero(self) -> bool {
        self.mantissa == 0
    }

    /// Whether it is below zero.
    pub fn is_negative(self) -> bool {
        self.mantissa < 0
    }

    /// The shortest spelling: trailing fractional zeros dropped (`1.50` → `1.5`, `2.0` → `2`).
    pub fn normalized(self) -> Self {
        let mut a = self;
        while a.scale > 0 && a.mantissa % 10 == 0 {
            a.mantissa /= 10;
            a.scale -= 1;
        }
        a
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.mantissa < 0 { "-" } else { "" };
        let digits = self.mantissa.unsigned_abs().to_string();
        let scale = self.scale as usize;
        if scale == 0 {
            return write!(f, "{sign}{digits}");
        }
        let padded = format!("{digits:0>width$}", width = scale + 1);
        let (int, frac) = padded.split_at(padded.len() - scale);
        write!(f, "{sign}{int}.{frac}")
    }
}
