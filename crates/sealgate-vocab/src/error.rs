//! The vocabulary's errors: each says which rule was broken, never echoes the input.

/// An id that breaks its rule. The message is the rule itself, in the words every
/// refusal uses ([`crate::CREDENTIAL_ID_RULE`], [`crate::OWNER_ID_RULE`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// A credential id outside [`crate::CREDENTIAL_ID_RULE`].
    #[error("{}", crate::CREDENTIAL_ID_RULE)]
    Credential,
    /// An owner id outside [`crate::OWNER_ID_RULE`].
    #[error("{}", crate::OWNER_ID_RULE)]
    Owner,
}

impl IdError {
    /// The rule broken, as a static string (for error types that carry `&'static str`).
    pub const fn rule(self) -> &'static str {
        match self {
            Self::Credential => crate::CREDENTIAL_ID_RULE,
            Self::Owner => crate::OWNER_ID_RULE,
        }
    }
}

/// A name that is not one of a closed set (a role, a status).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what}; expected one of: {expected}")]
pub struct UnknownName {
    /// What was being named (`role`, `credential status`).
    pub what: &'static str,
    /// The accepted names.
    pub expected: &'static str,
}
