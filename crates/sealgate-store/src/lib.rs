//! Sealgate's persistence layer: one schema and one behaviour on SQLite (the embedded
//! default, one file) and PostgreSQL (at scale), with embedded append-only migrations.
//!
//! What it holds (see `migrations/`): users; credential metadata (owner, exchange, label,
//! hint, scope, status, created, last used), keyed by (owner, id) — a credential id is
//! unique per owner only, and every table and method that names a credential names its
//! owner too; envelopes — one JWE per (credential, role),
//! ciphertext the store can never open; recipient key versions (public JWKs); nonces;
//! the import job queue; balances, open positions and trades; orders; the audit hash chain; the
//! notification outbox; users' passkeys (public keys only); local sign-in links and sessions (SHA-256 hashes of their tokens
//! only). **No column ever holds a plaintext secret**, and no error carries a SQL parameter
//! or a database message (see [`StoreError`]).
//!
//! Concurrency-critical operations and how they stay correct across processes:
//! - [`Store::next_nonce`]: one `INSERT … ON CONFLICT DO UPDATE … RETURNING` statement.
//! - [`Store::claim`]: `FOR UPDATE SKIP LOCKED` (PostgreSQL) or one `UPDATE … RETURNING` in
//!   a `BEGIN IMMEDIATE` transaction (SQLite); leases on the database clock; claims fenced
//!   by attempt number.
//! - [`Store::append_audit`]: unique `seq` plus a check of the named tail, in one
//!   transaction: two appenders cannot fork the chain.
//!
//! ```no_run
//! # async fn demo() -> Result<(), sealgate_store::StoreError> {
//! let store = sealgate_store::Store::connect("sqlite://sealgate.db?mode=rwc").await?;
//! let nonce = store.next_nonce("user-1", "cid-1", 1_700_000_000_000).await?;
//! # let _ = nonce; Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod anomaly;
mod audit;
mod audit_sqlite;
mod audit_tree;
mod credentials;
mod error;
mod held;
mod incidents;
mod jobs;
mod limits;
mod nonce;
mod outbox;
mod passkeys;
mod portfolio;
mod rate;
mod revocation;
mod rewrap;
mod schedule;
mod sessions;
mod settings;
mod store;
mod withdrawals;

pub use audit::{AuditRecord, AuditTail, NewAuditRecord};
pub use audit_sqlite::{SqliteAuditAppender, WalCheckpoint, WalCheckpointer};
pub use audit_tree::TreeNode;
pub use credentials::{
    Credential, CredentialStatus, Envelope, EnvelopeInfo, KeyStatus, NewCredential, NewEnvelope, RecipientKey, User,
};
pub use error::{ConnectError, DbErrorKind, Result, StoreError, UnknownValue};
pub use held::HeldKeyBirth;
pub use incidents::{
    AffectedCredential, FreezeCounts, INCIDENT_STEPS, Incident, IncidentRotation, IncidentStep, NewIncident,
    QueueCounts,
};
pub use jobs::ImportSummary;
pub use jobs::{ClaimedJob, Job, JobState, RetryOutcome};
pub use limits::CredentialLimits;
pub use nonce::NonceGuard;
pub use outbox::{
    Channel, ClaimedNotification, Contact, LockdownToken, NewEvent, Notification, NotificationState, WebhookEndpoint,
};
pub use passkeys::{NewPasskey, PasskeyPrecondition, StoredPasskey};
pub use portfolio::{
    Balance, MAX_POSITIONS, NewBalance, NewOrder, NewPosition, Order, OwnerTrade, PortfolioSnapshot, Position, Side,
    Trade,
};
pub use rewrap::{RewrapClaim, RewrapRow, Rewrapped};
pub use schedule::{RefreshTarget, TradeMark};
pub use sessions::{NewSession, StoredSession};
pub use settings::{AUDIT_ROOT_JWK, KILL_SWITCH, StoredCheckpoint};
pub use store::{Backend, Store, StoreOptions};
pub use withdrawals::WithdrawalApproval;
