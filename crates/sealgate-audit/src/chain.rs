//! Building a chain, and verifying one.

use std::collections::BTreeMap;
use std::fmt;

use crate::merkle::{Frontier, leaf_hash};
use crate::record::{check_actor, check_subject};
use crate::{Action, AuditError, Checkpoint, Detail, GENESIS, Hash, Reason, Record, RootKey, SignedCheckpoint};

/// The writer's side: the head of a chain, from which the next record is
/// made. The store persists each record (and the head with it) atomically;
/// after a restart, [`Chain::resume`] from the last stored record.
#[derive(Debug, Clone)]
pub struct Chain {
    last_seq: u64,
    last_hash: Hash,
}

impl Default for Chain {
    fn default() -> Self {
        Self::new()
    }
}

impl Chain {
    /// An empty chain: the first record gets seq 1 and prev_hash [`GENESIS`].
    pub fn new() -> Self {
        Self { last_seq: 0, last_hash: GENESIS }
    }

    /// Continue after the record `last_seq` whose hash is `last_hash` (verify
    /// the stored chain first: this trusts its head).
    pub fn resume(last_seq: u64, last_hash: Hash) -> Self {
        Self { last_seq, last_hash }
    }

    /// The seq of the last record (0 when empty).
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// The hash of the last record ([`GENESIS`] when empty).
    pub fn last_hash(&self) -> Hash {
        self.last_hash
    }

    /// Whether `actor` and `subject` would be accepted by [`Chain::append`]
    /// (lets a writer refuse one bad event before it joins a batch).
    pub fn check(actor: &str, subject: &str) -> Result<(), AuditError> {
        check_actor(actor)?;
        check_subject(subject)
    }

    /// Make the next record, at `time` (Unix ms), and advance the head.
    pub fn append(
        &mut self,
        actor: &str,
        action: Action,
        subject: &str,
        detail: Detail,
        time: u64,
    ) -> Result<Record, AuditError> {
        Self::check(actor, subject)?;
        let seq = self.last_seq.checked_add(1).ok_or(AuditError::Exhausted)?;
        let mut r = Record {
            seq,
            time,
            actor: actor.to_owned(),
            action,
            subject: subject.to_owned(),
            detail,
            prev_hash: self.last_hash,
            hash: GENESIS,
        };
        r.hash = r.compute_hash();
        self.last_seq = seq;
        self.last_hash = r.hash;
        Ok(r)
    }

    /// A checkpoint of the head now (on demand), to be signed by the root
    /// key over [`crate::checkpoint_signing_input`]; `None` when empty.
    pub fn checkpoint(&self, time: u64) -> Option<Checkpoint> {
        (self.last_seq > 0).then_some(Checkpoint { seq: self.last_seq, hash: self.last_hash, time, tree: None })
    }

    /// Whether the policy "a checkpoint every `every` records" asks for one
    /// at the head now.
    pub fn checkpoint_due(&self, every: u64) -> bool {
        every > 0 && self.last_seq > 0 && self.last_seq.is_multiple_of(every)
    }
}

/// What a successful verification saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Records verified (for a [`Verifier::resume`]d run, counted from seq 1).
    pub records: u64,
    /// The last seq (0 for an empty chain).
    pub last_seq: u64,
    /// The last record's hash ([`GENESIS`] for an empty chain).
    pub last_hash: Hash,
    /// Checkpoints whose signature verified and whose hash matched.
    pub checkpoints_verified: u64,
    /// Checkpoints present but not checked, for want of a root key.
    pub checkpoints_unverified: u64,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ok: {} records, last seq {}, last hash {}, {} checkpoints verified",
            self.records, self.last_seq, self.last_hash, self.checkpoints_verified
        )?;
        if self.checkpoints_unverified > 0 {
            write!(f, ", {} not verified (no root key given)", self.checkpoints_unverified)?;
        }
        Ok(())
    }
}

/// The reader's side, streaming: push records in order, then
/// [`Verifier::finish`]. Stop at the first error: it names the first bad
/// record, and the verifier's state after it means nothing.
#[derive(Debug)]
pub struct Verifier {
    last_seq: u64,
    last_hash: Hash,
    root: Option<RootKey>,
    pending: BTreeMap<u64, Vec<SignedCheckpoint>>,
    checkpoints_verified: u64,
    /// The Merkle tree over the records so far, to check v2 tree heads
    /// (`None` after [`Verifier::resume`], which does not know the tree).
    tree: Option<Frontier>,
}

impl Default for Verifier {
    fn default() -> Self {
        Self::new()
    }
}

impl Verifier {
    /// Verify the chain alone (no checkpoints).
    pub fn new() -> Self {
        Self {
            last_seq: 0,
            last_hash: GENESIS,
            root: None,
            pending: BTreeMap::new(),
            checkpoints_verified: 0,
            tree: Some(Frontier::new()),
        }
    }

    /// Verify the chain and `checkpoints` against `root`: each checkpoint's
    /// signature is checked when the chain reaches its seq (so errors come
    /// in seq order), its hash must equal the record's, and the chain must
    /// reach the highest one.
    pub fn with_checkpoints(root: RootKey, checkpoints: impl IntoIterator<Item = SignedCheckpoint>) -> Self {
        let mut pending: BTreeMap<u64, Vec<SignedCheckpoint>> = BTreeMap::new();
        for cp in checkpoints {
            pending.entry(cp.checkpoint.seq).or_default().push(cp);
        }
        Self { root: Some(root), pending, ..Self::new() }
    }

    /// Continue a verification that already covered records `1..=last_seq`, the last of
    /// them hashing to `last_hash` (a follower that reads the chain as it grows): the next
    /// record pushed must be `last_seq + 1` and link to `last_hash`. `checkpoints` (under
    /// `root`) must all lie beyond `last_seq`: one at or below it concerns a record this
    /// verifier will not see, so it is refused ([`AuditError::Invalid`]) rather than
    /// reported as truncation or silently skipped — check those against their records.
    /// The Merkle tree over the records before `last_seq` is unknown here, so the tree head
    /// of a v2 checkpoint is not checked by a resumed verifier (its seq, hash and signature
    /// are); a full verification or an inclusion proof checks it.
    pub fn resume(
        last_seq: u64,
        last_hash: Hash,
        root: Option<RootKey>,
        checkpoints: impl IntoIterator<Item = SignedCheckpoint>,
    ) -> Result<Self, AuditError> {
        let mut pending: BTreeMap<u64, Vec<SignedCheckpoint>> = BTreeMap::new();
        for cp in checkpoints {
            if cp.checkpoint.seq <= last_seq {
                return Err(AuditError::Invalid { field: "checkpoints", why: "at or below the resumed seq" });
            }
            pending.entry(cp.checkpoint.seq).or_default().push(cp);
        }
        if root.is_none() && !pending.is_empty() {
            return Err(AuditError::Invalid { field: "checkpoints", why: "given without a root key" });
        }
        Ok(Self { last_seq, last_hash, root, pending, checkpoints_verified: 0, tree: None })
    }

    /// The seq the next record must carry.
    fn expected(&self) -> u64 {
        self.last_seq.saturating_add(1)
    }

    /// The error for a record at the next position that could not even be
    /// parsed.
    pub fn malformed(&self, what: &'static str) -> AuditError {
        AuditError::BadRecord { seq: self.expected(), reason: Reason::Malformed(what) }
    }

    /// Check the next record: seq, then fields, then its own hash, then its
    /// link to the previous record, then any checkpoint at its seq.
    pub fn push(&mut self, r: &Record) -> Result<(), AuditError> {
        let seq = self.expected();
        let bad = |reason| Err(AuditError::BadRecord { seq, reason });
        // FORMAT.md §4, in this order: R1, R2/R4, R7, R6, then C1/C2.
        if self.last_seq == u64::MAX || r.seq < seq {
            return bad(Reason::SeqDuplicate { found: r.seq });
        }
        if r.seq > seq {
            return bad(Reason::SeqGap { found: r.seq });
        }
        if let Err(AuditError::Invalid { why, .. }) = r.check_fields() {
            return bad(Reason::Malformed(why));
        }
        if r.compute_hash() != r.hash {
            return bad(Reason::HashMismatch);
        }
        if r.prev_hash != self.last_hash {
            return bad(Reason::BrokenLink);
        }
        if let Some(t) = &mut self.tree {
            // Leaf seq - 1 is this record's hash (FORMAT.md §6, T1).
            t.push(leaf_hash(&r.hash.0));
        }
        if let Some(cps) = self.pending.remove(&seq) {
            for cp in cps {
                self.check_signature(&cp)?;
                if cp.checkpoint.hash != r.hash {
                    return bad(Reason::CheckpointMismatch);
                }
                if let (Some(head), Some(t)) = (&cp.checkpoint.tree, &self.tree)
                    && head.root != t.root()
                {
                    return bad(Reason::TreeMismatch);
                }
                self.checkpoints_verified += 1;
            }
        }
        self.last_seq = seq;
        self.last_hash = r.hash;
        Ok(())
    }

    fn check_signature(&self, cp: &SignedCheckpoint) -> Result<(), AuditError> {
        match &self.root {
            Some(root) => root.verify(&cp.checkpoint, &cp.sig),
            // Unreachable: checkpoints only come with a root.
            None => Err(AuditError::RootKey("no root key to verify checkpoints")),
        }
    }

    /// The end of the chain: checkpoints beyond it must be forgeries (bad
    /// signature) or prove truncation.
    pub fn finish(self) -> Result<Summary, AuditError> {
        let mut beyond = None;
        for (seq, cps) in &self.pending {
            for cp in cps {
                self.check_signature(cp)?;
            }
            beyond = Some(*seq);
        }
        if let Some(checkpoint_seq) = beyond {
            return Err(AuditError::Truncated { last_seq: self.last_seq, checkpoint_seq });
        }
        Ok(Summary {
            records: self.last_seq,
            last_seq: self.last_seq,
            last_hash: self.last_hash,
            checkpoints_verified: self.checkpoints_verified,
            checkpoints_unverified: 0,
        })
    }
}

/// Verify a whole chain (seq continuity from 1, every hash, every link);
/// the error names the first bad record. Records removed from the end
/// cannot be detected without checkpoints: see [`verify_with_checkpoints`].
pub fn verify(records: impl IntoIterator<Item = Record>) -> Result<Summary, AuditError> {
    let mut v = Verifier::new();
    for r in records {
        v.push(&r)?;
    }
    v.finish()
}

/// [`verify`], plus signed checkpoints under `root` (see
/// [`Verifier::with_checkpoints`]); a chain shorter than its last
/// checkpoint fails with [`AuditError::Truncated`].
pub fn verify_with_checkpoints(
    records: impl IntoIterator<Item = Record>,
    checkpoints: impl IntoIterator<Item = SignedCheckpoint>,
    root: &RootKey,
) -> Result<Summary, AuditError> {
    let mut v = Verifier::with_checkpoints(root.clone(), checkpoints);
    for r in records {
        v.push(&r)?;
    }
    v.finish()
}
