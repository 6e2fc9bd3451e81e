//! Revocation that sticks (DESIGN principle 3: a revoked envelope never opens again, even
//! if a database writer restores it).
//!
//! **What is recorded.** Every revoke (`revoked`), re-seal (`envelope_replaced`), re-wrap
//! batch (`rewrapped`, [`crate::rewrap`]) and delete (`credential_deleted`) lists, in its hash-chained audit record, the content digest of
//! each envelope it destroys ([`REVOKED_MEMBER`]: hex of
//! [`sealgate_envelope::Jwe::content_digest`], PROFILE.md rule D1 — the identity of the
//! sealed content whatever its serialization, so the same envelope restored as JSON or
//! with a trailing newline is still the revoked one). The record is committed *before* the
//! rows are touched: if it cannot be written, nothing is destroyed, so no envelope is ever
//! gone without its record.
//!
//! **What the signer holds.** The set of those digests, learnt from the audit chain
//! *verified* as it reads it: every record's hash and link, and every checkpoint's ES256
//! signature under the root key of the signer's own custody (never a key the database
//! names). A database writer who deletes or edits a revocation record breaks a link, or,
//! rehashing everything after it, breaks a signed checkpoint: the signer then refuses to
//! open anything ([`RevocationError::Broken`]) and `sealgate audit verify` names the
//! record. The signer follows the chain as it grows (at most `revalidate` old when an
//! envelope is used; at once after a revoke made in its own process), drops a cached
//! credential whose digest appears, and refuses an envelope whose digest is in the set
//! even when its row is back — an audited denial, reason [`RESTORED_REASON`].
//!
//! **What the signer remembers.** With a state file (`sealgate serve` keeps
//! `<data>/signer-state.json`, 0600 beside the keyring; checked like ssh's StrictModes,
//! since another account able to write it could make the signer forget), the last record
//! it verified (seq and hash), the last checkpoint and the revoked set survive a restart:
//! the next start verifies only what follows, and refuses to start when that record is
//! gone or changed — the database, audit chain included, was rolled back or rewritten.
//! Beside it, `<data>/signer-state.checkpoint` holds the last signed checkpoint it
//! verified as a checkpoint file (FORMAT.md J5). Both are rewritten atomically when a
//! revocation is learnt, and otherwise at most every 5 s. Without the file (a new
//! signer) the chain is verified from seq 1: about 140,000 records a second on SQLite.
//!
//! **What remains.** A rollback of the whole database, audit chain and checkpoints
//! included, to before a revocation is caught only by a signer that saw the revocation
//! (its state file or memory); a new signer without a state file, started on the rolled
//! back database, cannot tell. So is a revocation record dropped by a writer who rewrites
//! the chain's unsigned tail before any signer read it (checkpoints are signed every
//! 1,000 records or after 1 s of quiet; a signer in the api's process reads it at once).
//! An operator detects both by keeping signed checkpoints apart from the database and
//! checking that the chain never goes back below them: a signer with its state file
//! refuses to start, and `sealgate audit verify --database URL --pin PIN --checkpoints
//! <data>/signer-state.checkpoint` (or any copy of it kept elsewhere) fails as truncated
//! when the chain is shorter than the saved checkpoint, and names the record when it was
//! rewritten below it. Keep a copy of that file off the database host (a backup restored
//! with the database would take the file back with it).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError, RwLock};

use sealgate_audit::{GENESIS, Hash, RootKey, SignedCheckpoint, Verifier};
use sealgate_custody::Custody;
use sealgate_envelope::{AlgPolicy, Jwe};
use sealgate_store::Store;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::audit::{checkpoint_of, record_of};

/// The detail member of a `revoked`, `envelope_replaced` or `credential_deleted` record
/// that lists the content digests (64 lowercase hex digits) of the envelopes it destroyed.
pub const REVOKED_MEMBER: &str = "revoked_envelopes";
/// The action of a re-seal: one role's envelope replaced by a new one the owner sealed.
pub const ENVELOPE_REPLACED: &str = "envelope_replaced";
/// The reason of the denial recorded when a revoked envelope is found in the store again.
pub const RESTORED_REASON: &str = "revoked envelope restored";

/// Records and checkpoints read per query.
const PAGE: u32 = 1000;
/// Least time between two writes of the state file when only the position moved.
const PERSIST_GAP_MS: u64 = 5_000;

/// The content digest of a stored envelope (its identity, PROFILE.md D1), or of a stored
/// grant (SHA-256 of its text, [`sealgate_custody::grant::digest`]); `None` when the text
/// is neither (it cannot be opened either).
pub fn envelope_digest(jwe: &str) -> Option<Hash> {
    if sealgate_custody::grant::is_grant(jwe) {
        return Some(Hash(sealgate_custody::grant::digest(jwe)));
    }
    Jwe::parse(jwe.as_bytes(), &AlgPolicy::CREDENTIAL).ok().map(|j| Hash(j.content_digest()))
}

/// The [`REVOKED_MEMBER`] value listing `digests`.
pub fn revoked_member(digests: impl IntoIterator<Item = Hash>) -> Value {
    Value::Array(digests.into_iter().map(|d| Value::String(d.to_string())).collect())
}

/// The digests a record revokes: only records of the three destroying actions count.
/// The actions whose records name revoked envelopes.
const REVOKING: [&str; 4] = ["revoked", "credential_deleted", ENVELOPE_REPLACED, crate::rewrap::REWRAPPED];

/// Whether the follower learns anything from a record of `action` (a revocation, or a fact of
/// the owner's ledger); a batch of records it learns nothing from may be skipped on the
/// writer's word ([`crate::audit::OwnAppends`]).
pub(crate) fn learns_from(action: &str) -> bool {
    REVOKING.contains(&action) || crate::owner_ledger::OBSERVED.contains(&action)
}

fn revoked_by(r: &sealgate_audit::Record) -> Vec<Hash> {
    if !REVOKING.contains(&r.action.as_str()) {
        return Vec::new();
    }
    let detail = r.detail.to_value();
    let Some(list) = detail.get(REVOKED_MEMBER).and_then(Value::as_array) else { return Vec::new() };
    list.iter().filter_map(Value::as_str).filter_map(Hash::from_hex).collect()
}

/// Why the signer cannot tell which envelopes are revoked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RevocationError {
    /// The store or the custody did not answer; the next use tries again.
    #[error("{0}")]
    Unavailable(String),
    /// The audit chain does not verify (a record removed, changed or rehashed, a forged
    /// checkpoint, the chain cut or rolled back): nothing is opened until an operator has
    /// looked (`sealgate audit verify`) and restarted the signer.
    #[error("the audit chain does not verify: {0}")]
    Broken(String),
    /// The state file is unusable.
    #[error(
        "signer state {path}: {why} (fix it; or move it aside, and the signer verifies the audit chain from its start, losing what it remembered)"
    )]
    State {
        /// The file.
        path: String,
        /// What is wrong.
        why: String,
    },
}

/// Where a verification stands after a follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Followed {
    /// The last record verified.
    pub seq: u64,
    /// The highest checkpoint verified.
    pub checkpoint_seq: u64,
    /// Digests in the revoked set.
    pub revoked: usize,
}

/// The state file: what a signer verified, and what it learnt.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateFile {
    version: u32,
    seq: u64,
    hash: String,
    checkpoint_seq: u64,
    revoked: Vec<String>,
    /// The owner's ledger ([`crate::owner_ledger`]), from version 2 on.
    #[serde(default)]
    ledger: Option<Value>,
}

/// The state file version written. Version 1 (no ledger) is read: its position is checked,
/// then the chain is read again from seq 1 to learn the ledger.
const STATE_VERSION: u32 = 2;

/// The follower's position in the chain.
struct Position {
    root: Option<RootKey>,
    loaded: bool,
    seq: u64,
    hash: Hash,
    checkpoint_seq: u64,
    /// The highest checkpoint verified in this run, for the operator's checkpoint file.
    checkpoint: Option<SignedCheckpoint>,
    persisted_ms: u64,
    persisted_once: bool,
    dirty: bool,
    /// A version 1 state file was loaded: after its position is checked, read from seq 1.
    replay: bool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn unavailable(what: &'static str) -> impl Fn(sealgate_store::StoreError) -> RevocationError {
    move |e| {
        tracing::warn!(error = %e, what, "audit chain not read");
        RevocationError::Unavailable("audit chain unavailable".into())
    }
}

fn broken(e: impl std::fmt::Display) -> RevocationError {
    RevocationError::Broken(e.to_string())
}

/// The signer's revoked set and its position in the audit chain (see the module docs).
pub(crate) struct Revocations {
    state_file: Option<PathBuf>,
    /// What this process's own audit copier appended that the follower learns nothing from:
    /// passed over without reading it back.
    own: Option<std::sync::Arc<crate::audit::OwnAppends>>,
    revoked: RwLock<HashSet<Hash>>,
    /// The owner's ledger, learnt from the same verified records.
    ledger: RwLock<sealgate_authority::Ledger>,
    /// When the last complete follow began (Unix ms); 0: follow before the next use.
    fresh_ms: AtomicU64,
    /// Bumped by [`Revocations::kick`]: a follow that began before a kick does not count
    /// as fresh (the record the kick announces may have been committed after it began).
    kicks: AtomicU64,
    broken: Mutex<Option<String>>,
    position: tokio::sync::Mutex<Position>,
}

impl Revocations {
    pub(crate) fn new(state_file: Option<PathBuf>, own: Option<std::sync::Arc<crate::audit::OwnAppends>>) -> Self {
        Self {
            state_file,
            own,
            revoked: RwLock::new(HashSet::new()),
            ledger: RwLock::new(sealgate_authority::Ledger::new()),
            fresh_ms: AtomicU64::new(0),
            kicks: AtomicU64::new(0),
            broken: Mutex::new(None),
            position: tokio::sync::Mutex::new(Position {
                root: None,
                loaded: false,
                seq: 0,
                hash: GENESIS,
                checkpoint_seq: 0,
                checkpoint: None,
                persisted_ms: 0,
                persisted_once: false,
                dirty: false,
                replay: false,
            }),
        }
    }

    /// Whether `digest` was revoked.
    pub(crate) fn is_revoked(&self, digest: &Hash) -> bool {
        self.revoked.read().unwrap_or_else(PoisonError::into_inner).contains(digest)
    }

    /// The state the signer applies to `owner`'s credential `cid` whose envelope names
    /// `own` (AUTHORITY.md L5, L6): the meet of the database's state and the ledger's.
    pub(crate) fn owner_state(
        &self,
        owner: &str,
        cid: &str,
        db: &sealgate_authority::OwnerState,
        own: &[String],
    ) -> Result<sealgate_authority::OwnerState, sealgate_authority::LedgerRefusal> {
        self.ledger.read().unwrap_or_else(PoisonError::into_inner).effective(owner, cid, db, own)
    }

    /// Whether the owner's approval `id` of `owner`'s credential `cid` was used (L7).
    pub(crate) fn approval_spent(&self, owner: &str, cid: &str, id: &str) -> bool {
        self.ledger.read().unwrap_or_else(PoisonError::into_inner).is_spent(owner, cid, id)
    }

    /// When a key in `own` first approved a withdrawal to `destination` (L7).
    pub(crate) fn destination_since(&self, owner: &str, cid: &str, destination: &str, own: &[String]) -> Option<u64> {
        self.ledger.read().unwrap_or_else(PoisonError::into_inner).destination_since(owner, cid, destination, own)
    }

    /// A revocation was just recorded (in this process): follow before the next use.
    pub(crate) fn kick(&self) {
        self.kicks.fetch_add(1, Ordering::SeqCst);
        self.fresh_ms.store(0, Ordering::SeqCst);
    }

    /// Follows the chain unless the last follow began less than `max_age_ms` ago; returns
    /// the digests learnt now (their cached credentials must go).
    pub(crate) async fn ensure(
        &self,
        store: &Store,
        custody: &dyn Custody,
        max_age_ms: u64,
    ) -> Result<(Vec<Hash>, Followed), RevocationError> {
        let fresh = |s: &Self| crate::now_ms().saturating_sub(s.fresh_ms.load(Ordering::SeqCst)) < max_age_ms;
        if let Some(why) = lock(&self.broken).clone() {
            return Err(RevocationError::Broken(why));
        }
        if fresh(self) {
            return Ok((Vec::new(), Followed { seq: 0, checkpoint_seq: 0, revoked: 0 }));
        }
        // While another request follows, the rest do not queue behind it as long as the last
        // follow is under twice `max_age` old and no revoke in this process asked for one.
        let last = self.fresh_ms.load(Ordering::SeqCst);
        let mut pos = match self.position.try_lock() {
            Ok(pos) => pos,
            Err(_) if last != 0 && crate::now_ms().saturating_sub(last) < max_age_ms.saturating_mul(2) => {
                return Ok((Vec::new(), Followed { seq: 0, checkpoint_seq: 0, revoked: 0 }));
            }
            Err(_) => self.position.lock().await,
        };
        // Another task may have followed, or found the chain broken, while this one waited.
        if let Some(why) = lock(&self.broken).clone() {
            return Err(RevocationError::Broken(why));
        }
        if fresh(self) {
            return Ok((Vec::new(), self.followed(&pos)));
        }
        let (began, kicks) = (crate::now_ms(), self.kicks.load(Ordering::SeqCst));
        match self.follow(&mut pos, store, custody).await {
            Ok(new) => {
                if self.kicks.load(Ordering::SeqCst) == kicks {
                    self.fresh_ms.store(began, Ordering::SeqCst);
                }
                Ok((new, self.followed(&pos)))
            }
            Err(RevocationError::Broken(why)) => {
                tracing::error!(error = %why, "audit chain does not verify: the signer opens nothing until restarted");
                *lock(&self.broken) = Some(why.clone());
                Err(RevocationError::Broken(why))
            }
            Err(e) => Err(e),
        }
    }

    fn followed(&self, pos: &Position) -> Followed {
        let revoked = self.revoked.read().unwrap_or_else(PoisonError::into_inner).len();
        Followed { seq: pos.seq, checkpoint_seq: pos.checkpoint_seq, revoked }
    }

    async fn follow(
        &self,
        pos: &mut Position,
        store: &Store,
        custody: &dyn Custody,
    ) -> Result<Vec<Hash>, RevocationError> {
        let root = match &pos.root {
            Some(r) => r.clone(),
            None => {
                let jwk = custody.root_public().await.map_err(|e| {
                    tracing::warn!(error = %e, "custody root key unavailable");
                    RevocationError::Unavailable("the key custody is unavailable".into())
                })?;
                let root = RootKey::from_jwk(&jwk).map_err(|e| RevocationError::Unavailable(e.to_string()))?;
                pos.root = Some(root.clone());
                root
            }
        };
        // What is learnt joins the set before the position moves past it: a follow cut short
        // (its request dropped) never skips a revocation.
        let mut learnt = Vec::new();
        if !pos.loaded {
            if let Some(state) = self.load_state()? {
                let hash = Hash::from_hex(&state.hash).ok_or_else(|| self.state_error("hash is not 64 hex digits"))?;
                let mut revoked = Vec::with_capacity(state.revoked.len());
                for d in &state.revoked {
                    revoked.push(Hash::from_hex(d).ok_or_else(|| self.state_error("a revoked digest is not 64 hex"))?);
                }
                learnt.extend(self.learn(revoked));
                (pos.seq, pos.hash, pos.checkpoint_seq) = (state.seq, hash, state.checkpoint_seq);
                match &state.ledger {
                    Some(v) => {
                        let l = crate::owner_ledger::from_json(v).map_err(|why| self.state_error(why))?;
                        *self.ledger.write().unwrap_or_else(PoisonError::into_inner) = l;
                    }
                    None => pos.replay = true,
                }
            }
            pos.loaded = true;
            pos.dirty = true;
        }
        let seq_i64 = |s: u64| i64::try_from(s).unwrap_or(i64::MAX);

        // 1. What this signer verified is still there, unchanged.
        if pos.seq > 0 {
            match store.audit_record(seq_i64(pos.seq)).await.map_err(unavailable("audit record"))? {
                Some(r) if Hash::from_hex(&r.hash) == Some(pos.hash) => {}
                Some(_) => {
                    return Err(broken(format_args!(
                        "record {} is not the record this signer verified (its hash changed): the chain was rewritten",
                        pos.seq
                    )));
                }
                None => {
                    let aside =
                        self.state_file.as_deref().map(Path::display).map(|p| p.to_string()).unwrap_or_default();
                    return Err(broken(format_args!(
                        "record {} that this signer verified is gone: the database was rolled back or the chain cut \
                         (if it was restored from a backup on purpose, envelopes revoked since may be back: revoke \
                         them again, then move {aside} aside)",
                        pos.seq
                    )));
                }
            }
        }

        // A version 1 state file: its position held; learn the ledger from the start.
        if pos.replay {
            (pos.seq, pos.hash, pos.checkpoint_seq, pos.replay) = (0, GENESIS, 0, false);
        }

        // 2. Checkpoints signed since over records already verified: each must hold that record's hash.
        loop {
            let cps = store
                .audit_checkpoints_in(seq_i64(pos.checkpoint_seq), seq_i64(pos.seq), PAGE)
                .await
                .map_err(unavailable("audit checkpoints"))?;
            for cp in &cps {
                let signed = checked(&root, cp)?;
                let seq = signed.checkpoint.seq;
                match store.audit_record(cp.seq).await.map_err(unavailable("audit record"))? {
                    Some(r) if Hash::from_hex(&r.hash) == Some(signed.checkpoint.hash) => {}
                    _ => return Err(broken(format_args!("record {seq}: hash differs from the signed checkpoint"))),
                }
                pos.checkpoint_seq = seq;
                pos.checkpoint = Some(signed);
            }
            if cps.len() < PAGE as usize {
                break;
            }
        }

        // 3. New records, a page at a time, with the checkpoints over them.
        let mut reread = false;
        loop {
            // What this process appended right after the position, and learns nothing from,
            // is passed over: its hashes are the ones the copier computed from this very
            // position, so the next record read must still link to them. (Checkpoints over
            // it are checked against the stored records by step 2 of the next follow.)
            if let Some(own) = &self.own
                && let Some((seq, hash)) = own.skip(pos.seq, pos.hash)
            {
                (pos.seq, pos.hash) = (seq, hash);
                pos.dirty = true;
                continue;
            }
            let rows = store.audit_range(seq_i64(pos.seq), PAGE).await.map_err(unavailable("audit range"))?;
            let Some(last) = rows.last() else {
                // The end of the chain as read. A signed checkpoint beyond it: records were
                // appended since the read (read again, once), or cut off.
                let beyond = store
                    .audit_checkpoints_in(seq_i64(pos.seq), i64::MAX, 1)
                    .await
                    .map_err(unavailable("audit checkpoints"))?;
                let Some(cp) = beyond.first() else { break };
                let signed = checked(&root, cp)?;
                if reread {
                    return Err(broken(sealgate_audit::AuditError::Truncated {
                        last_seq: pos.seq,
                        checkpoint_seq: signed.checkpoint.seq,
                    }));
                }
                reread = true;
                continue;
            };
            reread = false;
            let cps = store
                .audit_checkpoints_in(seq_i64(pos.seq), last.seq, PAGE)
                .await
                .map_err(unavailable("audit checkpoints"))?
                .iter()
                .map(|cp| {
                    checkpoint_of(cp).ok_or_else(|| broken(format_args!("checkpoint at seq {}: unreadable", cp.seq)))
                })
                .collect::<Result<Vec<SignedCheckpoint>, _>>()?;
            let highest = cps.iter().max_by_key(|c| c.checkpoint.seq).cloned();
            let mut v = Verifier::resume(pos.seq, pos.hash, Some(root.clone()), cps).map_err(broken)?;
            let mut page = Vec::new();
            let mut records = Vec::with_capacity(rows.len());
            for row in &rows {
                let Some(r) = record_of(row) else {
                    return Err(broken(v.malformed("the stored row is not a well-formed record")));
                };
                v.push(&r).map_err(broken)?;
                page.extend(revoked_by(&r));
                records.push(r);
            }
            let s = v.finish().map_err(broken)?;
            learnt.extend(self.learn(page));
            {
                let mut ledger = self.ledger.write().unwrap_or_else(PoisonError::into_inner);
                for r in &records {
                    crate::owner_ledger::observe(&mut ledger, r);
                }
            }
            (pos.seq, pos.hash) = (s.last_seq, s.last_hash);
            if let Some(h) = highest
                && h.checkpoint.seq > pos.checkpoint_seq
            {
                pos.checkpoint_seq = h.checkpoint.seq;
                pos.checkpoint = Some(h);
            }
            pos.dirty = true;
        }

        // 4. Remember.
        let now = crate::now_ms();
        if let Some(path) = &self.state_file
            && (!learnt.is_empty() || (pos.dirty && now.saturating_sub(pos.persisted_ms) >= PERSIST_GAP_MS))
        {
            match self.persist(path, pos).await {
                Ok(()) => {
                    pos.persisted_ms = now;
                    pos.persisted_once = true;
                    pos.dirty = false;
                }
                // At start the signer refuses to run without it; later it keeps serving (what it
                // learnt is in memory) and tries again at the next follow.
                Err(e) if !pos.persisted_once => return Err(e),
                Err(e) => tracing::warn!(error = %e, "signer state not written; will retry"),
            }
        }
        Ok(learnt)
    }

    /// Adds `digests` to the set; returns those that were not in it.
    fn learn(&self, mut digests: Vec<Hash>) -> Vec<Hash> {
        if !digests.is_empty() {
            let mut set = self.revoked.write().unwrap_or_else(PoisonError::into_inner);
            digests.retain(|d| set.insert(*d));
        }
        digests
    }

    fn state_error(&self, why: &str) -> RevocationError {
        let path = self.state_file.as_deref().map(Path::display).map(|d| d.to_string()).unwrap_or_default();
        RevocationError::State { path, why: why.to_owned() }
    }

    fn load_state(&self) -> Result<Option<StateFile>, RevocationError> {
        let Some(path) = &self.state_file else { return Ok(None) };
        if !path.exists() {
            return Ok(None);
        }
        // Another account able to write it could make the signer forget revocations.
        sealgate_hardening::check_strict_modes(path, false).map_err(|e| self.state_error(&e))?;
        let text = std::fs::read(path).map_err(|e| self.state_error(&e.kind().to_string()))?;
        let state: StateFile =
            serde_json::from_slice(&text).map_err(|_| self.state_error("not a signer state file"))?;
        if !(1..=STATE_VERSION).contains(&state.version) {
            return Err(self.state_error("unknown version"));
        }
        Ok(Some(state))
    }

    /// Replaces the state file atomically (a temporary file beside it, synced, renamed).
    async fn persist(&self, path: &Path, pos: &Position) -> Result<(), RevocationError> {
        let state = StateFile {
            version: STATE_VERSION,
            seq: pos.seq,
            hash: pos.hash.to_string(),
            checkpoint_seq: pos.checkpoint_seq,
            revoked: {
                let set = self.revoked.read().unwrap_or_else(PoisonError::into_inner);
                let mut v: Vec<String> = set.iter().map(Hash::to_string).collect();
                v.sort_unstable();
                v
            },
            ledger: Some(crate::owner_ledger::to_json(&self.ledger.read().unwrap_or_else(PoisonError::into_inner))),
        };
        let bytes = serde_json::to_vec(&state).map_err(|e| self.state_error(&e.to_string()))?;
        // The last checkpoint verified, as a checkpoint file (FORMAT.md J5) for
        // `sealgate audit verify --checkpoints`: kept apart from the database, it proves the
        // chain reached its seq after a rollback of everything in the database.
        let line = pos.checkpoint.as_ref().map(|cp| format!("{}\n", sealgate_audit::jsonl::checkpoint_line(cp)));
        let (path, cp_path) = (path.to_owned(), checkpoint_file(path));
        let written = tokio::task::spawn_blocking(move || {
            if let Some(line) = line {
                write_atomically(&cp_path, line.as_bytes())?;
            }
            write_atomically(&path, &bytes)
        })
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r);
        written.map_err(|e| self.state_error(&e))
    }
}

/// The checkpoint file beside a state file: `signer-state.json` → `signer-state.checkpoint`.
pub fn checkpoint_file(state_file: &Path) -> PathBuf {
    state_file.with_extension("checkpoint")
}

/// Replaces `path` with `bytes` through the one private-file rule (a 0600 temporary file
/// beside it, fsynced, renamed, the directory fsynced): a crash leaves the old state or the
/// new one, never a torn file. The temporary name is unique per process and call, so
/// signers sharing a data directory may write at once.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), String> {
    sealgate_hardening::private_file::replace(path, bytes).map_err(|e| e.kind().to_string())
}

/// A stored checkpoint read and its signature checked under `root`.
fn checked(root: &RootKey, cp: &sealgate_store::StoredCheckpoint) -> Result<SignedCheckpoint, RevocationError> {
    let signed = checkpoint_of(cp).ok_or_else(|| broken(format_args!("checkpoint at seq {}: unreadable", cp.seq)))?;
    root.verify(&signed.checkpoint, &signed.sig).map_err(broken)?;
    Ok(signed)
}
