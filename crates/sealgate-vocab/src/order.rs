//! The rules for what a user's order names: the exchange's symbol spelling and a positive
//! exact decimal (a quantity or a price). The api checks an order body with them before
//! any work, and the venue code checks the same fields again before it builds a request.

/// A field of an order that breaks its rule. Says which field and why; never echoes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field}: {reason}")]
pub struct FieldError {
    /// Which field (`symbol`, `qty`, `price`…).
    pub field: &'static str,
    /// Why it was refused.
    pub reason: &'static str,
}

/// Longest symbol, in bytes.
pub const ORDER_SYMBOL_MAX: usize = 32;
/// Longest quantity or price, in bytes.
const AMOUNT_LEN_MAX: usize = 40;
/// Most significant digits of a quantity or price (what an `i128` mantissa holds with room).
const AMOUNT_DIGITS_MAX: usize = 36;

/// An exchange's symbol spelling (`BTCUSDT`, `XBTUSD`, `BTC-USDT`, `BTC/USD`): 1 to 32
/// letters, digits, `-`, `_`, `/` or `.`.
pub fn check_order_symbol(s: &str) -> Result<(), FieldError> {
    let bad = |reason| Err(FieldError { field: "symbol", reason });
    if s.is_empty() || s.len() > ORDER_SYMBOL_MAX {
        return bad("must be 1 to 32 characters");
    }
    if !s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'/' | b'.')) {
        return bad("may hold only letters, digits, '-', '_', '/' and '.'");
    }
    Ok(())
}

/// A positive plain decimal (`0.25`, `3`, `10.5`): digits with at most one `.` between
/// digits, at most 36 digits, above zero; no sign, exponent, space or bare `.`.
pub fn check_positive_amount(s: &str, field: &'static str) -> Result<(), FieldError> {
    let bad = |reason| Err(FieldError { field, reason });
    if s.len() > AMOUNT_LEN_MAX {
        return bad("is too long");
    }
    let digits = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let plain = !(int.is_empty() && frac.is_empty())
        && int.len() + frac.len() <= AMOUNT_DIGITS_MAX
        && int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit());
    if !plain {
        return bad("must be a plain decimal number such as 0.25");
    }
    let zero = int.bytes().chain(frac.bytes()).all(|b| b == b'0');
    if zero || s.starts_with(['-', '.']) || s.ends_with('.') {
        return bad("must be a positive decimal number such as 0.25");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols() {
        for ok in ["BTCUSDT", "XBTUSD", "BTC-USDT", "BTC/USD", "a.b_c", &"A".repeat(32)] {
            assert_eq!(check_order_symbol(ok), Ok(()), "{ok}");
        }
        for bad in ["", "BTC USDT", "BTC:USD", "BTC%2FUSD", "ß", &"A".repeat(33)] {
            assert!(check_order_symbol(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn positive_amounts() {
        for ok in ["1", "0.25", "10.5", "0001", "00.10", &"9".repeat(36), &format!("0.{}", "1".repeat(35))] {
            assert_eq!(check_positive_amount(ok, "qty"), Ok(()), "{ok}");
        }
        let plain = "must be a plain decimal number such as 0.25";
        let positive = "must be a positive decimal number such as 0.25";
        for (bad, reason) in [
            ("", plain),
            (".", plain),
            ("-", plain),
            ("1e3", plain),
            ("+1", plain),
            (" 1", plain),
            ("1.2.3", plain),
            ("0x10", plain),
            ("١", plain),
            (&"9".repeat(37), plain),
            ("0", positive),
            ("0.000", positive),
            ("-1", positive),
            ("-0.5", positive),
            (".5", positive),
            ("5.", positive),
            (&"1".repeat(41), "is too long"),
        ] {
            assert_eq!(check_positive_amount(bad, "qty"), Err(FieldError { field: "qty", reason }), "{bad:?}");
        }
        assert_eq!(
            check_positive_amount("0", "price").map_err(|e| e.to_string()),
            Err("invalid price: must be a positive decimal number such as 0.25".to_owned())
        );
    }
}

/// Side of a trade or an order: the one spelling the store, the importer and the trader share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// Buy.
    Buy,
    /// Sell.
    Sell,
}

impl Side {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "buy",
            Side::Sell => "sell",
        }
    }
}

impl TryFrom<String> for Side {
    type Error = crate::UnknownName;
    fn try_from(s: String) -> Result<Self, crate::UnknownName> {
        match s.as_str() {
            "buy" => Ok(Side::Buy),
            "sell" => Ok(Side::Sell),
            _ => Err(crate::UnknownName { what: "side", expected: "buy, sell" }),
        }
    }
}
