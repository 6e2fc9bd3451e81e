//! Errors: bad input (stored or given overrides and baselines), never a panic.

/// Why a baseline or a set of overrides is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Larger than the bound.
    #[error("{what} is larger than {max} bytes")]
    TooLarge {
        /// What was read.
        what: &'static str,
        /// The bound.
        max: usize,
    },
    /// Not the JSON expected (the reason names the field, never echoes a value).
    #[error("{what}: {reason}")]
    Malformed {
        /// What was read.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// A rule's value is out of its range.
    #[error("rule {field}: {reason}")]
    OutOfRange {
        /// The field.
        field: &'static str,
        /// The range it must be in.
        reason: &'static str,
    },
}
