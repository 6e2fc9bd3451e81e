//! A credential's lifecycle.

use std::str::FromStr;

use crate::UnknownName;

/// Where a credential stands. Deliberately exhaustive: a new state must be judged by every
/// match on it (the policy, the signer, the workers) before it compiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CredentialStatus {
    /// Usable by the roles it was sealed to.
    Active,
    /// Refused by the signer (lockdown, anomaly, the user's choice); reversible.
    Frozen,
    /// Envelopes destroyed; the metadata row stays for the audit trail.
    Deleted,
}

const STATUS_NAMES: &str = "active, frozen, deleted";

impl CredentialStatus {
    /// The stored and printed spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Frozen => "frozen",
            Self::Deleted => "deleted",
        }
    }
}

impl FromStr for CredentialStatus {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        match s {
            "active" => Ok(Self::Active),
            "frozen" => Ok(Self::Frozen),
            "deleted" => Ok(Self::Deleted),
            _ => Err(UnknownName { what: "credential status", expected: STATUS_NAMES }),
        }
    }
}

/// For a database column read as text.
impl TryFrom<String> for CredentialStatus {
    type Error = UnknownName;
    fn try_from(s: String) -> Result<Self, UnknownName> {
        s.parse()
    }
}

crate::names::spelled_by!(CredentialStatus, as_str);
