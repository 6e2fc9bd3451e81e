//! Exact amounts: one strict parser and checked arithmetic (overflow is an error value).

use rust_decimal::Decimal;

use crate::error::{AmountError, Error};

/// The longest decimal string accepted, sign and point included.
pub const AMOUNT_MAX_CHARS: usize = 36;

/// Parse a non-negative exact decimal as exchanges print it: ASCII digits with at most one
/// point that has digits on both sides (`0.5`, `12`, `1.250`). Refused: empty, longer than
/// [`AMOUNT_MAX_CHARS`], any sign, exponents, `NaN`/`inf`, `_`, spaces, `.5`, `5.`, and
/// values not exactly representable (more than 28 significant digits). Trailing fractional
/// zeros are dropped first, so `1.000…0` parses whatever its length within the limit.
pub fn parse_amount(s: &str) -> Result<Decimal, AmountError> {
    parse(s, false)
}

/// [`parse_amount`] that also accepts one leading `-` (a balance change, a gain).
pub fn parse_signed(s: &str) -> Result<Decimal, AmountError> {
    parse(s, true)
}

fn parse(s: &str, signed: bool) -> Result<Decimal, AmountError> {
    if s.is_empty() {
        return Err(AmountError::Empty);
    }
    if s.len() > AMOUNT_MAX_CHARS {
        return Err(AmountError::TooLong);
    }
    if s.starts_with('+') {
        return Err(AmountError::Sign);
    }
    let (negative, body) = match s.strip_prefix('-') {
        Some(_) if !signed => return Err(AmountError::Sign),
        Some(rest) => (true, rest),
        None => (false, s),
    };
    if body.bytes().any(|b| b == b'e' || b == b'E') {
        return Err(AmountError::Exponent);
    }
    if !body.bytes().all(|b| b.is_ascii_digit() || b == b'.') || body.bytes().filter(|&b| b == b'.').count() > 1 {
        return Err(AmountError::Character);
    }
    let (int, frac) = match body.split_once('.') {
        Some((int, frac)) if int.is_empty() || frac.is_empty() => return Err(AmountError::Format),
        Some((int, frac)) => (int, frac.trim_end_matches('0')),
        None if body.is_empty() => return Err(AmountError::Format),
        None => (body, ""),
    };
    // Only digits and at most one point reach rust_decimal, so its own leniency (`_`,
    // rounding of long fractions) never applies: `from_str_exact` refuses what it would round.
    let text = if frac.is_empty() { int.to_owned() } else { format!("{int}.{frac}") };
    let d = Decimal::from_str_exact(&text).map_err(|_| AmountError::Range)?;
    // No negative zero: `-0` is zero.
    Ok(if negative && !d.is_zero() { -d } else { d })
}

/// `a + b`, or [`Error::Arithmetic`].
pub(crate) fn add(a: Decimal, b: Decimal) -> Result<Decimal, Error> {
    a.checked_add(b).ok_or(Error::Arithmetic)
}

/// `a - b`, or [`Error::Arithmetic`].
pub(crate) fn sub(a: Decimal, b: Decimal) -> Result<Decimal, Error> {
    a.checked_sub(b).ok_or(Error::Arithmetic)
}

/// `a × b`, or [`Error::Arithmetic`]. Exact while the product fits 28 significant digits;
/// beyond that rust_decimal rounds the last fractional digits (never the integer part).
pub(crate) fn mul(a: Decimal, b: Decimal) -> Result<Decimal, Error> {
    a.checked_mul(b).ok_or(Error::Arithmetic)
}

/// `a ÷ b`, or [`Error::Arithmetic`] (also for `b = 0`); rounded to 28 significant digits.
pub(crate) fn div(a: Decimal, b: Decimal) -> Result<Decimal, Error> {
    a.checked_div(b).ok_or(Error::Arithmetic)
}

/// The sum of `items`, or [`Error::Arithmetic`].
pub(crate) fn sum(items: impl IntoIterator<Item = Decimal>) -> Result<Decimal, Error> {
    items.into_iter().try_fold(Decimal::ZERO, add)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> Decimal {
        parse_signed(s).expect(s)
    }

    #[test]
    fn accepts_exchange_forms() {
        assert_eq!(d("0.5").to_string(), "0.5");
        assert_eq!(d("12").to_string(), "12");
        assert_eq!(d("1.2500").to_string(), "1.25");
        assert_eq!(d("-3.5").to_string(), "-3.5");
        assert_eq!(d("-0").to_string(), "0");
        // 28 fractional digits is the exact limit; trailing zeros past it are fine.
        assert_eq!(d("0.0000000000000000000000000001").to_string(), "0.0000000000000000000000000001");
        assert_eq!(d("0.10000000000000000000000000000000").to_string(), "0.1");
        assert_eq!(
            parse_amount("79228162514264337593543950335").map(|x| x.to_string()).as_deref(),
            Ok("79228162514264337593543950335")
        );
    }

    #[test]
    fn refuses_with_the_kind_of_error() {
        use AmountError::*;
        for (s, e) in [
            ("", Empty),
            ("0000000000000000000000000000000000001", TooLong),
            ("+1", Sign),
            ("-1", Sign),
            ("1e5", Exponent),
            ("1E5", Exponent),
            ("NaN", Character),
            ("inf", Character),
            ("1_000", Character),
            (" 1", Character),
            ("1.2.3", Character),
            ("１", Character),
            (".5", Format),
            ("5.", Format),
            (".", Format),
            ("79228162514264337593543950336", Range),
            ("0.00000000000000000000000000001", Range),
        ] {
            assert_eq!(parse_amount(s), Err(e), "{s:?}");
        }
        assert_eq!(parse_signed("-"), Err(Format));
        assert_eq!(parse_signed("-+1"), Err(Character));
        assert_eq!(parse_signed("--1"), Err(Character));
    }

    #[test]
    fn overflow_is_an_error() {
        let max = Decimal::MAX;
        assert_eq!(add(max, Decimal::ONE), Err(Error::Arithmetic));
        assert_eq!(mul(max, d("2")), Err(Error::Arithmetic));
        assert_eq!(div(Decimal::ONE, Decimal::ZERO), Err(Error::Arithmetic));
        assert_eq!(sub(-max, Decimal::ONE), Err(Error::Arithmetic));
    }

    proptest! {
        #[test]
        fn never_panics_on_any_string(s in "\\PC{0,40}") {
            let _ = parse_amount(&s);
            let _ = parse_signed(&s);
        }

        #[test]
        fn never_panics_on_number_like_strings(s in "[-+]?[0-9]{0,38}(\\.[0-9]{0,38})?([eE][-+]?[0-9]{1,3})?") {
            if let Ok(a) = parse_signed(&s) {
                // Arithmetic on anything parsed is an error value, never a panic.
                for b in [a, Decimal::MAX, Decimal::MIN, Decimal::ZERO, Decimal::new(1, 28)] {
                    let _ = (add(a, b), sub(a, b), mul(a, b), div(a, b));
                }
                // What parses prints back to the same value.
                prop_assert_eq!(parse_signed(&a.to_string()), Ok(a));
            }
        }
    }
}
