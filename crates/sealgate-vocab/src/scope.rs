//! Endpoint classes a user can grant, and the scope (the set granted) that
//! the browser seals into each envelope and the policy enforces.

use std::fmt;

/// An endpoint class a user can grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    /// Balances, orders, trades: nothing moves.
    Read,
    /// Placing and cancelling orders.
    Trade,
    /// Withdrawals and transfers: off unless the user sealed it.
    Withdraw,
}

impl Class {
    /// Every class, in canonical order.
    pub const ALL: [Self; 3] = [Self::Read, Self::Trade, Self::Withdraw];

    /// Its name in `scope`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Trade => "trade",
            Self::Withdraw => "withdraw",
        }
    }

    /// The class named `s` (`read`, `trade`, `withdraw`).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == s)
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A scope that breaks the rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a scope is one or more of read, trade, withdraw, each at most once")]
pub struct ScopeError;

/// The classes a user granted: non-empty, no repeats, kept in canonical order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope(Vec<Class>);

impl Scope {
    /// Parse `read,trade,...` (the CLI form; spaces around names are ignored).
    pub fn parse_list(s: &str) -> Result<Self, ScopeError> {
        Self::from_names(s.split(',').map(str::trim))
    }

    /// A scope from class names (the envelope's JSON array).
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, ScopeError> {
        let mut out = Vec::new();
        for n in names {
            let c = Class::parse(n).ok_or(ScopeError)?;
            if out.contains(&c) {
                return Err(ScopeError);
            }
            out.push(c);
        }
        if out.is_empty() {
            return Err(ScopeError);
        }
        out.sort();
        Ok(Self(out))
    }

    /// Whether `c` was granted.
    pub fn contains(&self, c: Class) -> bool {
        self.0.contains(&c)
    }

    /// The classes, in canonical order.
    pub fn classes(&self) -> &[Class] {
        &self.0
    }
}

/// `read,trade` (the form [`Scope::parse_list`] reads).
impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.0.iter().map(|c| c.name()).collect();
        f.write_str(&names.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_what_they_print() {
        let s = Scope::parse_list("withdraw, read").expect("scope");
        assert_eq!(s.classes(), [Class::Read, Class::Withdraw]);
        assert_eq!(s.to_string(), "read,withdraw");
        assert_eq!(Scope::parse_list(&s.to_string()), Ok(s));
        for bad in ["", "read,read", "Read", "read,", "admin"] {
            assert_eq!(Scope::parse_list(bad), Err(ScopeError), "{bad:?}");
        }
    }
}
