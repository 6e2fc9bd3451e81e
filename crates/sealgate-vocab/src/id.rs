//! Ids: a credential's and its owner's. Each is a `String` that passed its one rule.

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;

use crate::IdError;

/// Longest credential id, in bytes ([`CredentialId`]).
pub const CREDENTIAL_ID_MAX: usize = 64;

/// What [`CredentialId::parse`] refuses, in the words every refusal uses.
pub const CREDENTIAL_ID_RULE: &str = "credential id must be 1 to 64 characters of A-Z a-z 0-9 - _ . :";

/// Longest owner id, in bytes ([`OwnerId`]).
pub const OWNER_ID_MAX: usize = 256;

/// What [`OwnerId::parse`] refuses.
pub const OWNER_ID_RULE: &str = "owner id must be 1 to 256 bytes without control characters";

/// A credential id: the `cid` a client makes and seals into every envelope of the
/// credential. 1 to [`CREDENTIAL_ID_MAX`] bytes of `A-Z a-z 0-9 - _ . :` — nothing that
/// needs escaping in a URL path segment, a log line or a SQL literal.
///
/// Unique per owner only: two users may each have a credential `main`, and nothing one
/// user does with an id (create, probe, squat) touches the other's. Every lookup names the
/// owner too ([`OwnerId`]).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CredentialId(String);

/// The user a credential belongs to: our user id, which is the envelope's `sub`.
/// 1 to [`OWNER_ID_MAX`] bytes, no control characters (the envelope's rule for `sub`;
/// the server makes them: `local`, `u-…` for an OIDC user).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OwnerId(String);

fn credential_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= CREDENTIAL_ID_MAX
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

fn owner_ok(s: &str) -> bool {
    !s.is_empty() && s.len() <= OWNER_ID_MAX && !s.chars().any(char::is_control)
}

/// The methods and traits both ids share: made only by parsing, read as `&str`.
macro_rules! id_type {
    ($ty:ident, $ok:ident, $err:expr, $expecting:literal) => {
        impl $ty {
            /// Parses `s`, or says which rule it breaks.
            pub fn parse(s: &str) -> Result<Self, IdError> {
                if $ok(s) { Ok(Self(s.to_owned())) } else { Err($err) }
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The id as an owned `String`.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl FromStr for $ty {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }

        impl TryFrom<String> for $ty {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                if $ok(&s) { Ok(Self(s)) } else { Err($err) }
            }
        }

        impl TryFrom<&str> for $ty {
            type Error = IdError;
            fn try_from(s: &str) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }

        impl From<$ty> for String {
            fn from(id: $ty) -> String {
                id.0
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        /// Maps and sets keyed by the id can be asked with a `&str`.
        impl Borrow<str> for $ty {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($ty), self.0)
            }
        }

        impl PartialEq<str> for $ty {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $ty {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        /// Through [`Self::parse`]: a document cannot carry an id the rule refuses.
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct Visitor;
                impl serde::de::Visitor<'_> for Visitor {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<$ty, E> {
                        $ty::parse(v).map_err(E::custom)
                    }
                }
                d.deserialize_str(Visitor)
            }
        }
    };
}

id_type!(CredentialId, credential_ok, IdError::Credential, "a credential id (1 to 64 of A-Z a-z 0-9 - _ . :)");
id_type!(OwnerId, owner_ok, IdError::Owner, "an owner id (1 to 256 bytes, no control characters)");
