//! Sealgate's vocabulary: the types every crate speaks, at the bottom floor (like rustls's
//! pki-types). Pure: no I/O, no async runtime, no database.
//!
//! - [`CredentialId`]: the one rule for a credential id (the `cid` a client makes), applied
//!   wherever an id enters — the api, the signer, the store, the CLI, the envelope header.
//!   A credential id is unique **per owner**, never globally: the store keys credentials by
//!   ([`OwnerId`], [`CredentialId`]), so one user's id says nothing about another's.
//! - [`OwnerId`]: the user a credential belongs to (the envelope's `sub`).
//! - [`Role`]: a consumer role (`importer`, `trader`, `agent`).
//! - [`CredentialStatus`]: a credential's lifecycle (`active`, `frozen`, `deleted`).
//! - [`Class`] and [`Scope`]: the endpoint classes a user grants, sealed into each envelope.
//! - [`check_order_symbol`] and [`check_positive_amount`]: the rules for an order's symbol,
//!   quantity and price, for the api's body check and the venue code alike.
//! - [`Limits`]: the owner's limits on a credential (symbol allow-list, notional cap in
//!   [`Decimal`], [`RateLimit`]), one parser for the api, the store's rows and the agent.
//!
//! Each type can only be made by parsing, prints itself in the form it parses, and
//! deserializes through the same parser (serde never builds one that the rule refuses).
//!
//! ```
//! use sealgate_vocab::{CredentialId, IdError};
//! let id: CredentialId = "binance-main".parse()?;
//! assert_eq!(id.as_str(), "binance-main");
//! assert!(CredentialId::parse("has space").is_err());
//! # Ok::<(), IdError>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod decimal;
mod error;
mod id;
mod limits;
mod names;
mod order;
mod role;
mod scope;
mod status;
mod time;

pub use decimal::Decimal;
pub use error::{IdError, UnknownName};
pub use id::{CREDENTIAL_ID_MAX, CREDENTIAL_ID_RULE, CredentialId, OWNER_ID_MAX, OWNER_ID_RULE, OwnerId};
pub use limits::{Limits, LimitsError, RATE_MAX, RATE_WINDOW_MS, RateLimit, SYMBOL_LEN_MAX, SYMBOLS_MAX};
pub use order::{FieldError, ORDER_SYMBOL_MAX, Side, check_order_symbol, check_positive_amount};
pub use role::Role;
pub use scope::{Class, Scope, ScopeError};
pub use status::CredentialStatus;
pub use time::rfc3339_ms;
