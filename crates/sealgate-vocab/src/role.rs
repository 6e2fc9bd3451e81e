//! The consumer roles. What each may do lives in `sealgate-policy`; this is only the name.

use std::str::FromStr;

use crate::UnknownName;

/// A consumer role: the audience an envelope is sealed to, the role a service proves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Imports balances and history: reads only.
    Importer,
    /// Places and cancels orders: reads and trades; withdraws only where the user sealed
    /// `withdraw`.
    Trader,
    /// The desktop agent: whatever the user's local policy allows.
    Agent,
}

const ROLE_NAMES: &str = "importer, trader, agent";

impl Role {
    /// Every role, in a fixed order.
    pub const ALL: [Role; 3] = [Role::Importer, Role::Trader, Role::Agent];

    /// Parse a role name (`importer`, `trader`, `agent`); exact spelling only.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "importer" => Self::Importer,
            "trader" => Self::Trader,
            "agent" => Self::Agent,
            _ => return None,
        })
    }

    /// Its name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Importer => "importer",
            Self::Trader => "trader",
            Self::Agent => "agent",
        }
    }
}

impl FromStr for Role {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        Self::parse(s).ok_or(UnknownName { what: "role", expected: ROLE_NAMES })
    }
}

crate::names::spelled_by!(Role, name);
