//! Errors, grouped by whose fault they are: a bad chain or file (the input
//! under audit), a bad root key (the verifier's trust anchor), or misuse of
//! the builder (the caller's).

/// Why a chain, a checkpoint or an export was refused, or why an append was
/// refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// The first record that does not verify. `seq` is the position the
    /// record holds in the chain (the seq it must carry), which is the seq
    /// it claims unless the reason is a seq fault.
    #[error("record {seq}: {reason}")]
    BadRecord {
        /// The first affected seq.
        seq: u64,
        /// What is wrong with it.
        reason: Reason,
    },
    /// A checkpoint whose signature does not verify under the root key.
    #[error("checkpoint at seq {seq}: {reason}")]
    BadCheckpoint {
        /// The seq the checkpoint claims to cover.
        seq: u64,
        /// What is wrong with it.
        reason: CheckpointFault,
    },
    /// The chain ends before a validly signed checkpoint: records were cut
    /// off its end.
    #[error(
        "truncated: the chain ends at seq {last_seq} but a signed checkpoint covers seq {checkpoint_seq} (records were removed from its end)"
    )]
    Truncated {
        /// The last seq present (0 for an empty chain).
        last_seq: u64,
        /// The highest seq a verified checkpoint covers.
        checkpoint_seq: u64,
    },
    /// A line of a JSON Lines export that is neither a record nor a
    /// well-formed checkpoint or root line (records that fail to parse are
    /// reported as [`AuditError::BadRecord`] with [`Reason::Malformed`]).
    #[error("line {line}: {what}")]
    Format {
        /// 1-based line number.
        line: u64,
        /// What is wrong.
        what: &'static str,
    },
    /// The root public key given to verify checkpoints is unusable.
    #[error("root key: {0}")]
    RootKey(&'static str),
    /// Builder misuse: a field given to [`crate::Chain::append`] or a
    /// constructor is invalid.
    #[error("invalid {field}: {why}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong.
        why: &'static str,
    },
    /// The chain has reached `u64::MAX` records.
    #[error("the chain is full (seq would overflow)")]
    Exhausted,
}

/// What is wrong with a record.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    /// The stored `hash` is not the hash of the record's contents: the
    /// record was changed after it was hashed.
    HashMismatch,
    /// `prev_hash` is not the previous record's hash: a record before it was
    /// removed, replaced or rehashed.
    BrokenLink,
    /// The record carries a higher seq than its position: records are
    /// missing before it (or it was moved up).
    SeqGap {
        /// The seq the record carries.
        found: u64,
    },
    /// The record carries a seq at or below the previous one: a duplicate,
    /// or records out of order.
    SeqDuplicate {
        /// The seq the record carries.
        found: u64,
    },
    /// The record does not parse or a field is out of bounds.
    Malformed(&'static str),
    /// The record is well linked, but its hash differs from the one a
    /// validly signed checkpoint holds for this seq: the chain up to here
    /// was rewritten and rehashed.
    CheckpointMismatch,
    /// The chain up to this record is well linked and matches a v2
    /// checkpoint's hash, but not the Merkle tree root it signs (the stored
    /// tree was wrong when the checkpoint was signed).
    TreeMismatch,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::HashMismatch => f.write_str("hash mismatch (its contents changed after it was hashed)"),
            Self::BrokenLink => f.write_str("broken link (prev_hash is not the previous record's hash)"),
            Self::SeqGap { found } => write!(f, "seq gap (found seq {found}: records are missing)"),
            Self::SeqDuplicate { found } => {
                write!(f, "duplicate or out-of-order seq (found seq {found})")
            }
            Self::Malformed(what) => write!(f, "malformed ({what})"),
            Self::CheckpointMismatch => {
                f.write_str("hash differs from the signed checkpoint (the chain up to here was rewritten)")
            }
            Self::TreeMismatch => f.write_str("the Merkle tree root differs from the one the checkpoint signs"),
        }
    }
}

/// What is wrong with a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CheckpointFault {
    /// The signature does not verify under the root key (forged, changed,
    /// or signed by another key). Deliberately one opaque case.
    BadSignature,
}

impl std::fmt::Display for CheckpointFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::BadSignature => f.write_str("signature does not verify under the root key"),
        }
    }
}
