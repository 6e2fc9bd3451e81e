//! The owner's authority: what lets a loosening of a credential through.
//!
//! Pure: no I/O, no async, no server types; every input is bounded and parsed
//! into types before use. See `AUTHORITY.md` beside this crate for the
//! numbered rules the code cites.
//!
//! - [`AuthorityKey`]: an owner's public key (a passkey's credential key) from
//!   its COSE_Key or JWK, named by its RFC 7638 [thumbprint](AuthorityKey::thumbprint),
//!   which the envelope's `own` member lists (envelope PROFILE C8).
//! - [`Statement`]: what the owner approves (a new owner state of a credential,
//!   or one withdrawal), with one canonical byte form; its
//!   [challenge](Statement::challenge) is what the passkey signs.
//! - [`verify_assertion`]: a WebAuthn assertion over a statement's challenge.
//! - [`OwnerState`]: the order of strictness; [`OwnerState::is_loosening`]
//!   says which changes need the owner, [`OwnerState::meet`] the strictest of two.
//! - [`Ledger`]: per credential naming an authority, the strictest state its verified
//!   history allows; only a verified approval loosens it.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod assertion;
mod b64;
mod cbor;
mod error;
mod key;
mod ledger;
mod state;
mod statement;

pub use assertion::{
    Assertion, FRESHNESS_SECS, FUTURE_SKEW_SECS, MAX_ASSERTION, MAX_AUTHENTICATOR_DATA, MAX_CLIENT_DATA, Verified,
    verify_assertion,
};
pub use error::Error;
pub use key::{AuthorityKey, CoseAlg, MAX_COSE_KEY, MAX_JWK};
pub use ledger::{ApprovalRefused, Entry, Ledger, LedgerRefusal, MAX_IDS, Scope};
pub use sealgate_vocab::{Decimal, RateLimit};
pub use state::{OwnerState, OwnerStatus};
pub use statement::{GrantTerms, MAX_STATEMENT, STATEMENT_TYP, Statement, StatementKind, Withdrawal};
