//! The tamper-evident audit chain (DESIGN §5 "Audit").
//!
//! Every security-relevant event (credential created, unsealed, signed,
//! forwarded, denied, revoked, lockdown, …) becomes a [`Record`]. Each record
//! holds the SHA-256 hash of the previous one, so changing, removing,
//! reordering or inserting a record breaks the chain at that record. Every
//! so often the head of the chain is written into a [`Checkpoint`] signed
//! (ES256) by the custody's root key: a chain rewritten from scratch no
//! longer matches its checkpoints, and a chain cut short below its last
//! checkpoint is refused as truncated.
//!
//! The byte formats (the hashed record encoding, the signed checkpoint
//! bytes, the JSON Lines export) are specified in `FORMAT.md` beside this
//! crate, with a worked example that `tests/format_example.rs` reproduces.
//!
//! This crate is pure: no I/O and no async runtime. Signing a checkpoint
//! happens in the custody (`Custody::root_sign`) over
//! [`checkpoint_signing_input`]; this crate only verifies.

#![forbid(unsafe_code)]

mod canon;
mod chain;
mod checkpoint;
mod error;
pub mod jsonl;
pub mod merkle;
mod record;
pub mod user_export;

pub use chain::{Chain, Summary, Verifier, verify, verify_with_checkpoints};
pub use checkpoint::{
    CHECKPOINT_TAG, CHECKPOINT_TAG_V2, Checkpoint, RootKey, SignedCheckpoint, TreeHead, checkpoint_signing_input,
    verify_checkpoint,
};
pub use error::{AuditError, CheckpointFault, Reason};
pub use record::{
    Action, Detail, GENESIS, Hash, MAX_ACTOR, MAX_DETAIL, MAX_DETAIL_DEPTH, MAX_SUBJECT, OtherAction, RECORD_TAG,
    Record,
};
