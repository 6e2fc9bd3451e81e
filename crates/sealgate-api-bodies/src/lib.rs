//! The api's JSON request bodies, as `sealgate serve` reads them, and the checks each gets
//! before any store, custody or signer work. Pure (no I/O), so the `api_bodies` fuzz target
//! builds without the server's tree.
//!
//! - [`strict`]: the one way a body is read — a JSON object, no key twice at any depth.
//! - [`CreateCredential`] with [`check_create`], [`LimitsIn`] with [`check_limits`],
//!   [`ApprovalIn`], and [`OrderRequest`] with [`check_order`].
//! - [`check_body`]: a body read and checked as its handler does, for the fuzz target.
//!
//! The types' OpenAPI schemas (utoipa) state what the checks refuse, so a client and the
//! API fuzz test read the same rules from `/openapi.json`.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod credential;
mod custody_key;
mod order;
pub mod strict;

pub use credential::{
    ApprovalIn, CreateCredential, EnvelopeIn, LimitsIn, MAX_LABEL, RateIn, RoleName, check_create, check_limits,
};
pub use custody_key::{
    ActivateCustodyKey, CreateCustodyKey, DiscardCustodyKey, StartCustodyKeyApproval, check_activate,
    check_create_custody_key,
};
pub use order::{CheckedOrder, OrderRequest, OrderSide, OrderType, check_order};

/// The api's JSON request bodies, for [`check_body`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// `POST /v1/credentials`: [`CreateCredential`].
    CreateCredential,
    /// `PUT /v1/credentials/{id}/limits`: [`LimitsIn`].
    Limits,
    /// `POST /v1/orders`: [`OrderRequest`].
    Order,
}

/// A request body parsed as its handler's extractor parses it ([`strict::parse_object`])
/// and checked as the handler checks it before any store, custody or signer work; the
/// error is the 400 message. For the `api_bodies` fuzz target.
pub fn check_body(kind: BodyKind, bytes: &[u8]) -> Result<(), String> {
    use strict::parse_object;
    match kind {
        BodyKind::CreateCredential => check_create(&parse_object(bytes)?),
        BodyKind::Limits => check_limits(&parse_object(bytes)?).map(|_| ()),
        BodyKind::Order => check_order(&parse_object(bytes)?).map(|_| ()),
    }
}
