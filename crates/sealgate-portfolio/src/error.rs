//! The crate's errors: each says which rule was broken, never echoes the input (amounts
//! and names come from exchanges and users).

/// A decimal string that breaks the amount rule (see [`crate::parse_amount`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AmountError {
    /// The string is empty.
    #[error("amount is empty")]
    Empty,
    /// More than [`crate::AMOUNT_MAX_CHARS`] characters.
    #[error("amount is longer than {} characters", crate::AMOUNT_MAX_CHARS)]
    TooLong,
    /// A sign where none is allowed (`+` never is; `-` only for signed amounts).
    #[error("amount has a sign where none is allowed")]
    Sign,
    /// Exponent notation (`1e5`).
    #[error("amount uses an exponent; write the digits")]
    Exponent,
    /// Something other than ASCII digits and one `.` (covers `NaN`, `inf`, `_`, spaces).
    #[error("amount has a character other than digits and one point")]
    Character,
    /// A point without digits on both sides (`.5`, `5.`, `.`).
    #[error("amount needs digits on both sides of the point")]
    Format,
    /// Too large, or more fractional digits than 28 (not exactly representable).
    #[error("amount is out of the exact range (28 significant digits)")]
    Range,
}

/// Why a valuation, cost basis or export could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A decimal string was refused.
    #[error(transparent)]
    Amount(#[from] AmountError),
    /// A sum, product or quotient left the exact range (never wraps, never panics).
    #[error("arithmetic out of range")]
    Arithmetic,
    /// A quote the price book refuses; `index` is its position in the input.
    #[error("quote {index}: {reason}")]
    Quote {
        /// Position in the input.
        index: usize,
        /// The rule broken.
        reason: &'static str,
    },
    /// A trade the cost-basis computation refuses; `index` is its position in the input.
    #[error("trade {index}: {reason}")]
    Trade {
        /// Position in the input.
        index: usize,
        /// The rule broken.
        reason: &'static str,
    },
    /// A time outside years 1970 to 9999.
    #[error("time is outside 1970-01-01 to 9999-12-31")]
    TimeRange,
    /// Two figures in different target currencies were combined.
    #[error("the price book's target currency differs from the report's")]
    TargetMismatch,
}
