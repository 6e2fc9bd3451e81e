//! Sealgate's roles as services.
//!
//! - [`api`]: the user-facing HTTP API (authentication, credentials as
//!   envelopes and metadata, lockdown, portfolio, orders, the user's audit
//!   trail). It never holds a private key and never opens an envelope.
//! - [`signer`]: the only component that opens envelopes. It authenticates
//!   services ([`service_auth`]), applies `sealgate-policy`, owns nonces,
//!   signs or forwards, and audits every use.
//! - [`importer`] and [`trader`]: workers that reach exchanges only through
//!   a [`client::SignerClient`].
//! - [`audit`]: the group-committing writer of the hash chain all roles share.
//! - [`revocation`]: why a revoked envelope never opens again, even restored by a
//!   database writer, and what remains (a whole-database rollback) and how it is detected.
//! - [`serve`]: wiring for `sealgate serve`; [`tls`]: TLS on its listeners (files
//!   reloaded without a restart); [`signer_pool`]: the signers other processes reach,
//!   with health checks and a failover that never sends a request twice.
//! - [`web`]: the browser client (`web/`, embedded), served by the api role.
//! - [`passkey_api`]: users' passkeys (WebAuthn): register (a second one with a step-up by
//!   one already registered), list with the thumbprints an envelope's `own` names, remove.
//! - [`openapi`]: `GET /openapi.json`, generated from the handlers' types; [`json`]: the
//!   one error shape and the request-body rules every route shares.

#![forbid(unsafe_code)]

pub mod anomaly;
pub mod anomaly_api;
pub mod api;
pub mod approval_api;
pub mod audit;
pub mod auth;
pub mod client;
pub mod custody_key_api;
pub mod hardening;
pub mod held_keys;
pub mod importer;
pub mod incident;
pub mod incident_api;
pub mod json;
pub mod metrics;
pub mod notifier;
pub mod notify_api;
pub mod openapi;
pub mod owner_ledger;
pub mod passkey_api;
pub mod portfolio_value;
pub mod prices;
pub mod revocation;
pub mod rewrap;
pub mod serve;
pub mod service_auth;
pub mod signer;
pub mod signer_pool;
pub mod tls;
pub mod trader;
/// What importer and trader say to each exchange (the pure crate, under its old path).
pub use sealgate_venues as venues;
pub mod web;
pub mod withdrawal_api;

/// Unix milliseconds now.
pub fn now_ms() -> u64 {
    sealgate_exchanges::Clock::now_ms(&sealgate_exchanges::SystemClock)
}
