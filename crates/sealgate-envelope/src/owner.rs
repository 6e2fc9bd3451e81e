//! The envelope's `own` member (PROFILE.md rule C8): the RFC 7638 JWK
//! thumbprints of the owner's authority public keys (passkey credential keys).
//! Sealed in the protected header, so only someone holding the secret can make
//! an envelope that names an authority.

use std::fmt;

use serde_json::Value;

use crate::Error;
use crate::error::CredentialError as E;

/// Most thumbprints an envelope's `own` may list.
pub const OWNER_KEYS_MAX: usize = 10;
/// Length of one thumbprint: SHA-256 in unpadded base64url.
pub const THUMBPRINT_LEN: usize = 43;

/// The `own` member: 1 to [`OWNER_KEYS_MAX`] distinct RFC 7638 SHA-256 JWK
/// thumbprints, kept sorted (byte order), so a header has one spelling and a
/// re-wrap writes exactly the bytes it read (C8).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct OwnerKeys(Vec<String>);

impl OwnerKeys {
    /// Thumbprints in any order: checked one by one, sorted; a repeat, an
    /// empty list or more than [`OWNER_KEYS_MAX`] is refused (C8).
    pub fn new<S: AsRef<str>>(thumbprints: impl IntoIterator<Item = S>) -> Result<Self, Error> {
        let mut list = Vec::new();
        for t in thumbprints {
            if list.len() == OWNER_KEYS_MAX {
                return Err(E::BadOwner("own lists 1 to 10 thumbprints").into());
            }
            let t = t.as_ref();
            check_thumbprint(t)?;
            list.push(t.to_owned());
        }
        list.sort_unstable();
        if list.windows(2).any(|w| w[0] == w[1]) {
            return Err(E::BadOwner("own lists a thumbprint twice").into());
        }
        if list.is_empty() {
            return Err(E::BadOwner("own lists 1 to 10 thumbprints").into());
        }
        Ok(Self(list))
    }

    /// The member as a header holds it: a JSON array of strings, strictly
    /// ascending (its one canonical spelling); anything else is refused (C8).
    pub(crate) fn from_json(v: &Value) -> Result<Self, Error> {
        let Value::Array(a) = v else { return Err(E::BadOwner("own must be an array of strings").into()) };
        if a.is_empty() || a.len() > OWNER_KEYS_MAX {
            return Err(E::BadOwner("own lists 1 to 10 thumbprints").into());
        }
        let mut list = Vec::with_capacity(a.len());
        for t in a {
            let Value::String(t) = t else { return Err(E::BadOwner("own must be an array of strings").into()) };
            check_thumbprint(t)?;
            list.push(t.clone());
        }
        if list.windows(2).any(|w| w[0] == w[1]) {
            return Err(E::BadOwner("own lists a thumbprint twice").into());
        }
        if !list.windows(2).all(|w| w[0] < w[1]) {
            return Err(E::BadOwner("own must be sorted in ascending byte order").into());
        }
        Ok(Self(list))
    }

    pub(crate) fn to_json(&self) -> Value {
        Value::Array(self.0.iter().map(|t| Value::from(t.as_str())).collect())
    }

    /// The thumbprints, in ascending order.
    pub fn thumbprints(&self) -> &[String] {
        &self.0
    }

    /// Whether `thumbprint` is one of the owner's keys.
    pub fn contains(&self, thumbprint: &str) -> bool {
        self.0.binary_search_by(|t| t.as_str().cmp(thumbprint)).is_ok()
    }
}

impl fmt::Debug for OwnerKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("OwnerKeys").field(&self.0).finish()
    }
}

/// One thumbprint: exactly 43 unpadded base64url characters that decode to 32
/// bytes with zero trailing bits (P2, C8).
fn check_thumbprint(t: &str) -> Result<(), Error> {
    if t.len() != THUMBPRINT_LEN {
        return Err(E::BadOwner("a thumbprint is 43 base64url characters (SHA-256)").into());
    }
    match crate::b64::decode("own", t) {
        Ok(b) if b.len() == 32 => Ok(()),
        _ => Err(E::BadOwner("a thumbprint is 43 base64url characters (SHA-256)").into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";
    const B: &str = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";

    #[test]
    fn sorted_distinct_bounded() {
        let k = OwnerKeys::new([A, B]).expect("two");
        assert_eq!(k.thumbprints(), [B, A], "sorted");
        assert!(k.contains(A) && k.contains(B) && !k.contains("x"));
        assert_eq!(OwnerKeys::from_json(&k.to_json()).ok(), Some(k));
        let bad = |r: Result<OwnerKeys, Error>, why: &str| match r {
            Err(Error::Credential(E::BadOwner(w))) => assert_eq!(w, why),
            other => panic!("{why}: {other:?}"),
        };
        bad(OwnerKeys::new([A, A]), "own lists a thumbprint twice");
        bad(OwnerKeys::new(Vec::<&str>::new()), "own lists 1 to 10 thumbprints");
        // Last characters whose two trailing bits are zero (P2).
        let eleven: Vec<String> = "AEIMQUYcgko".chars().map(|c| format!("{}{c}", &A[..42])).collect();
        bad(OwnerKeys::new(&eleven), "own lists 1 to 10 thumbprints");
        assert!(OwnerKeys::new(&eleven[..10]).is_ok(), "ten is the limit");
        let form = "a thumbprint is 43 base64url characters (SHA-256)";
        bad(OwnerKeys::new([&A[..42]]), form);
        bad(OwnerKeys::new([format!("{A}A")]), form);
        bad(OwnerKeys::new([format!("{}=", &A[..42])]), form);
        bad(OwnerKeys::new([format!("{}+", &A[..42])]), form);
        // 43 characters carry 258 bits: the last two must be zero (P2).
        bad(OwnerKeys::new([format!("{}l", &A[..42])]), form);
        bad(OwnerKeys::from_json(&serde_json::json!([A, B])), "own must be sorted in ascending byte order");
        bad(OwnerKeys::from_json(&serde_json::json!([B, B])), "own lists a thumbprint twice");
        bad(OwnerKeys::from_json(&serde_json::json!([])), "own lists 1 to 10 thumbprints");
        bad(OwnerKeys::from_json(&serde_json::json!(A)), "own must be an array of strings");
        bad(OwnerKeys::from_json(&serde_json::json!([7])), "own must be an array of strings");
        bad(OwnerKeys::from_json(&serde_json::json!(eleven)), "own lists 1 to 10 thumbprints");
    }
}
