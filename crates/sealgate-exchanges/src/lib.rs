//! Byte-exact signing of private REST requests for crypto exchanges, and
//! the class of every private endpoint (`read`, `trade`, `withdraw`,
//! `account`, else `unknown`).
//!
//! Pure: no I/O, no async runtime. The clock and per-credential nonces are
//! injected ([`Clock`], [`NonceSource`]) so signing is deterministic in tests
//! and the signer can own nonces across instances. Query strings and bodies
//! are signed and sent exactly as given: nothing is re-serialized after
//! signing.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod class;
mod error;
mod exchanges;
mod facts;
mod request;
mod sig;
mod sign_input;

pub use class::{EndpointClass, Route, classify_path};
pub use error::Error;
pub use exchanges::{ALL, Scheme};
pub use facts::{OrderFacts, order_facts};
pub use request::{
    Clock, Context, Credential, FixedClock, FixedNonce, MonotonicNonce, NonceSource, Request, SignedRequest,
    SystemClock,
};
pub use sign_input::{MAX_SIGN_INPUT, SignInput, SignInputError};

/// The scheme of exchange `id`.
pub fn scheme(id: &str) -> Result<&'static Scheme, Error> {
    ALL.iter().copied().find(|s| s.id == id).ok_or_else(|| Error::UnknownExchange(id.chars().take(64).collect()))
}

/// Sign `req` for exchange `id`. This is the signing primitive: it applies
/// no policy (classes, symbols, limits belong to the signer and the agent).
pub fn sign(id: &str, cred: &Credential, req: &Request, ctx: &Context<'_>) -> Result<SignedRequest, Error> {
    (scheme(id)?.sign)(cred, req, ctx)
}

/// The class of a private endpoint of exchange `id`, by path alone.
pub fn classify(id: &str, path: &str) -> Result<EndpointClass, Error> {
    Ok(classify_path(scheme(id)?.routes, path))
}
