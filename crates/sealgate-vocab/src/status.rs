//! A credential's lifecycle.

use std::fmt;
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

impl fmt::Display for CredentialStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for CredentialStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for CredentialStatus {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}
