//! The audit writer every role shares: events in, hash-chained records out,
//! group-committed to the store, with checkpoints signed by the custody root.
//!
//! One background task owns the writing. Callers send an event and wait until
//! the batch holding it is committed (so "audited" means durable), and many
//! callers share one transaction: under load a batch holds hundreds of
//! records, which is what lets a signer audit every signature at request
//! rate. Several processes may write to one store: the store refuses an
//! append that does not extend the current tail, and the writer re-hashes the
//! batch against the new tail and tries again.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use sealgate_audit::merkle::{self, NodeId};
use sealgate_audit::{Action, Chain, Detail, Hash};
use sealgate_custody::Custody;
use sealgate_store::{AuditTail, NewAuditRecord, SqliteAuditAppender, Store, StoredCheckpoint, WalCheckpointer};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

mod journal;
mod journaled;

use journaled::Copy;

/// The audit journal's allocated size by default: 64 MiB, about 200,000 use records (the
/// signer's uses until it refuses, should the store stop taking them); a new epoch starts
/// from its beginning once everything in it is in the store.
pub const JOURNAL_SIZE: u64 = 64 << 20;
/// How long a full journal waits for the store to take its records before events are
/// refused ("no audit, no signature").
const JOURNAL_FULL_WAIT: Duration = Duration::from_secs(5);
/// Most records the copier puts in one transaction.
const COPY_BATCH: usize = 8192;

/// Most records in one transaction.
const MAX_BATCH: usize = 2048;
/// Times the writer lets other tasks run while gathering a batch.
const GATHER_YIELDS: u32 = 3;
/// Events that may wait for the writer before senders are slowed down.
const QUEUE: usize = 65_536;
/// WAL frames (4 KiB pages) past which the checkpointer resets the WAL.
const WAL_RESTART_FRAMES: i64 = 4096;
/// Least time between two WAL checkpoints.
const WAL_CHECKPOINT_GAP: Duration = Duration::from_millis(50);

/// Something to audit.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    /// Who acted: `user:<id>`, `role:importer`, `operator`, …
    pub actor: String,
    /// What happened.
    pub action: Action,
    /// What it concerned (a credential id, …).
    pub subject: String,
    /// The user it concerns, for their own trail (also recorded in the hashed detail).
    pub owner: Option<String>,
    /// Details: a JSON object of non-secret facts.
    pub detail: Value,
}

impl AuditEvent {
    /// An event with details.
    pub fn new(actor: impl Into<String>, action: Action, subject: impl Into<String>, detail: Value) -> Self {
        Self { actor: actor.into(), action, subject: subject.into(), owner: None, detail }
    }

    /// Names the user the event concerns.
    pub fn owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = Some(owner.into());
        self
    }
}

/// Why an event was not recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditWriteError {
    /// The event itself is malformed (too large, bad actor…).
    #[error("audit event refused: {0}")]
    Invalid(String),
    /// The store failed; nothing of the batch was written.
    #[error("audit store failed: {0}")]
    Store(String),
    /// The writer has stopped.
    #[error("the audit writer has stopped")]
    Stopped,
}

/// When checkpoints are signed.
#[derive(Clone)]
pub struct CheckpointPolicy {
    /// The custody whose root key signs.
    pub custody: Arc<dyn Custody>,
    /// Sign when this many records were added since the last checkpoint.
    pub every_records: u64,
    /// And at least this often while records are added.
    pub every: Duration,
}

struct Prepared {
    actor: String,
    action: Action,
    subject: String,
    owner: Option<String>,
    detail: Detail,
}

type Reply = oneshot::Sender<Result<u64, AuditWriteError>>;

enum Msg {
    /// Answered once the record is in the store.
    Event(Prepared, Reply),
    /// A signer's use (signed, forwarded, denied): answered once durable in the journal
    /// where there is one ([`AuditLog::record_use`]), else as `Event`.
    Use(Prepared, Reply),
    /// "Time passed": lets a writer that blocks on the queue sign an idle checkpoint.
    Tick,
    /// A checkpoint the custody root signed for the writer thread (or why not).
    Signed(Result<StoredCheckpoint, String>),
    /// Answered once every event sent before is in the store ([`AuditLog::flush`]).
    Flush(oneshot::Sender<()>),
}

/// Runs of records this process's journal copier appended to the chain that the revocation
/// follower learns nothing from ([`crate::revocation::learns_from`]), from one chain position
/// to another: the follower passes over them without reading back what it wrote itself.
#[derive(Debug, Default)]
pub struct OwnAppends(std::sync::Mutex<std::collections::VecDeque<(ChainAt, ChainAt)>>);

/// A position in the chain: a record's seq and hash (0 and the genesis hash: empty).
type ChainAt = (u64, Hash);

impl OwnAppends {
    /// Runs kept for a follower that is behind (older ones are read back as usual).
    const KEEP: usize = 4096;

    fn push(&self, from: ChainAt, to: ChainAt) {
        let mut runs = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match runs.back_mut() {
            Some(last) if last.1 == from => last.1 = to,
            _ => runs.push_back((from, to)),
        }
        while runs.len() > Self::KEEP {
            runs.pop_front();
        }
    }

    /// Where a follower at (`seq`, `hash`) may pass over to, when a run starts there.
    pub(crate) fn skip(&self, seq: u64, hash: Hash) -> Option<ChainAt> {
        let mut runs = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        while runs.front().is_some_and(|(from, _)| from.0 < seq) {
            runs.pop_front();
        }
        match runs.front() {
            Some(&(from, to)) if from == (seq, hash) => {
                runs.pop_front();
                Some(to)
            }
            _ => None,
        }
    }
}

/// A handle on the audit writer (cheap to clone).
#[derive(Clone)]
pub struct AuditLog {
    tx: mpsc::Sender<Msg>,
    /// The journal copier's runs the revocation follower may pass over.
    own: Option<Arc<OwnAppends>>,
    /// Records nothing: the signer_load bench's baseline only (feature `bench-unaudited`,
    /// which no build of the server enables).
    #[cfg(feature = "bench-unaudited")]
    off: bool,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditLog")
    }
}

impl AuditLog {
    /// Starts the writer on `store`. Checkpoints are signed when `checkpoints`
    /// is given (roles without custody access pass `None`; the signer signs).
    ///
    /// On a SQLite file the writer is a thread of its own with its own blocking
    /// connection (`SqliteAuditAppender`): a group commit is then one pass of
    /// work instead of a wake-up per statement, and the next batch gathers in the
    /// queue while the current one is fsynced. Elsewhere it is a task on the pool.
    pub fn start(store: Store, checkpoints: Option<CheckpointPolicy>) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        let appender = match store.sqlite_audit_appender() {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "audit: no dedicated SQLite connection; writing through the pool");
                None
            }
        };
        // Handed to the thread through a slot, so a failed spawn gives it back.
        let slot = Arc::new(std::sync::Mutex::new(Some(rx)));
        if let Some(appender) = appender {
            let (st, cps, rt, sl, weak) =
                (store.clone(), checkpoints.clone(), tokio::runtime::Handle::current(), slot.clone(), tx.downgrade());
            let spawned = std::thread::Builder::new().name("audit-writer".into()).spawn(move || {
                let rx = sl.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
                if let Some(rx) = rx {
                    blocking_writer(appender, st, rx, weak, cps, rt);
                }
            });
            match spawned {
                Ok(_) => {
                    if let Some(every) = checkpoints.as_ref().map(|p| p.every) {
                        tokio::spawn(ticker(tx.downgrade(), every));
                    }
                    return Self::writing(tx);
                }
                Err(e) => tracing::error!(error = %e, "audit: no writer thread; writing through the pool"),
            }
        }
        let rx = slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        if let Some(rx) = rx {
            tokio::spawn(writer(store, rx, checkpoints));
        }
        Self::writing(tx)
    }

    fn writing(tx: mpsc::Sender<Msg>) -> Self {
        Self {
            tx,
            own: None,
            #[cfg(feature = "bench-unaudited")]
            off: false,
        }
    }

    /// "The same signer with its audit switched off" (issue 20), the baseline the signer_load
    /// bench measures the durable audit against: `record` answers at once and records
    /// nothing, not even the event's preparation. Only in a build with the
    /// `bench-unaudited` feature, which `serve` and the CLI never have.
    #[cfg(feature = "bench-unaudited")]
    #[doc(hidden)]
    pub fn off_for_bench() -> Self {
        let (tx, _) = mpsc::channel(1);
        Self { tx, own: None, off: true }
    }

    /// Records `event` and returns its sequence number once it is committed to the store.
    pub async fn record(&self, event: AuditEvent) -> Result<u64, AuditWriteError> {
        if self.switched_off() {
            return Ok(0);
        }
        let prepared = prepare(event)?;
        self.send(|reply| Msg::Event(prepared, reply)).await
    }

    /// Records a signer's use of a credential (signed, forwarded, denied): returns once the
    /// record is durable, in the audit journal where this log has one
    /// ([`AuditLog::start_journaled`]); the store's chain has it a moment later, and after a
    /// crash once the journal is replayed on start. Elsewhere as [`AuditLog::record`].
    pub async fn record_use(&self, event: AuditEvent) -> Result<(), AuditWriteError> {
        if self.switched_off() {
            return Ok(());
        }
        let prepared = prepare(event)?;
        self.send(|reply| Msg::Use(prepared, reply)).await.map(|_| ())
    }

    /// Returns once every event recorded before the call is in the store's chain (a use
    /// answered from the journal included): for a reader of the chain in this process.
    pub async fn flush(&self) -> Result<(), AuditWriteError> {
        if self.switched_off() {
            return Ok(());
        }
        let (reply, wait) = oneshot::channel();
        self.tx.send(Msg::Flush(reply)).await.map_err(|_| AuditWriteError::Stopped)?;
        wait.await.map_err(|_| AuditWriteError::Stopped)
    }

    /// What this log's journal copier appended that the revocation follower may pass over.
    pub(crate) fn own_appends(&self) -> Option<Arc<OwnAppends>> {
        self.own.clone()
    }

    /// Only the bench's baseline is ([`AuditLog::off_for_bench`]).
    fn switched_off(&self) -> bool {
        #[cfg(feature = "bench-unaudited")]
        return self.off;
        #[cfg(not(feature = "bench-unaudited"))]
        false
    }

    async fn send(&self, msg: impl FnOnce(Reply) -> Msg) -> Result<u64, AuditWriteError> {
        let (reply, wait) = oneshot::channel();
        self.tx.send(msg(reply)).await.map_err(|_| AuditWriteError::Stopped)?;
        wait.await.map_err(|_| AuditWriteError::Stopped)?
    }
}

/// Sends a tick every `every` while any [`AuditLog`] handle is alive (a weak sender does not
/// keep the queue open, so the writer still stops when the last handle is dropped).
async fn ticker(tx: mpsc::WeakSender<Msg>, every: Duration) {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let Some(tx) = tx.upgrade() else { return };
        if tx.try_send(Msg::Tick).is_err() && tx.is_closed() {
            return;
        }
    }
}

fn prepare(event: AuditEvent) -> Result<Prepared, AuditWriteError> {
    let mut detail = match event.detail {
        Value::Object(m) => m,
        Value::Null => serde_json::Map::new(),
        _ => return Err(AuditWriteError::Invalid("detail must be a JSON object".into())),
    };
    if let Some(owner) = &event.owner {
        // The owner column is an index; the hashed detail is the evidence.
        detail.insert("owner".into(), Value::String(owner.clone()));
    }
    let detail = Detail::new(&Value::Object(detail)).map_err(|e| AuditWriteError::Invalid(e.to_string()))?;
    // Check actor and subject the way the chain will, so one bad event cannot sink a batch.
    Chain::check(&event.actor, &event.subject).map_err(|e| AuditWriteError::Invalid(e.to_string()))?;
    Ok(Prepared { actor: event.actor, action: event.action, subject: event.subject, owner: event.owner, detail })
}

/// What both writers keep between batches.
struct Batches {
    batch: Vec<(Prepared, Reply)>,
    since_checkpoint: u64,
    last_checkpoint: tokio::time::Instant,
    /// The tail this writer last committed: the next batch is hashed against it without
    /// reading it back; when another writer moved the tail, the store refuses and the
    /// batch is re-hashed against the tail read from the store.
    known_tail: Option<AuditTail>,
}

impl Batches {
    fn new() -> Self {
        Self { batch: Vec::new(), since_checkpoint: 0, last_checkpoint: tokio::time::Instant::now(), known_tail: None }
    }

    /// Answers the batch's callers; returns the tail to checkpoint when one is due.
    fn finish(&mut self, result: Result<AuditTail, String>, policy: Option<&CheckpointPolicy>) -> Option<AuditTail> {
        match result {
            Ok(tail) => {
                self.known_tail = Some(tail.clone());
                let last = u64::try_from(tail.seq).unwrap_or(0);
                let n = self.batch.len() as u64;
                for (i, (_, reply)) in self.batch.drain(..).enumerate() {
                    let _ = reply.send(Ok(last - n + 1 + i as u64));
                }
                self.since_checkpoint += n;
                policy
                    .filter(|p| self.since_checkpoint >= p.every_records || self.last_checkpoint.elapsed() >= p.every)
                    .map(|_| tail)
            }
            Err(e) => {
                tracing::error!(error = %e, records = self.batch.len(), "audit append failed");
                for (_, reply) in self.batch.drain(..) {
                    let _ = reply.send(Err(AuditWriteError::Store(e.clone())));
                }
                None
            }
        }
    }

    /// Whether a quiet spell calls for a checkpoint: records were added since the last one
    /// and it is older than the policy's interval.
    fn idle_due(&self, policy: Option<&CheckpointPolicy>) -> bool {
        policy.is_some_and(|p| self.since_checkpoint > 0 && self.last_checkpoint.elapsed() >= p.every)
    }

    /// A checkpoint of the chain as it was `covered` records ago (in `since_checkpoint`) was
    /// stored, or not.
    fn checkpointed(&mut self, result: Result<(), String>, covered: u64) {
        match result {
            Ok(()) => {
                self.since_checkpoint = self.since_checkpoint.saturating_sub(covered);
                self.last_checkpoint = tokio::time::Instant::now();
            }
            Err(e) => tracing::warn!(error = %e, "audit checkpoint not signed; will retry"),
        }
    }
}

async fn writer(store: Store, mut rx: mpsc::Receiver<Msg>, checkpoints: Option<CheckpointPolicy>) {
    let mut b = Batches::new();
    let idle = checkpoints.as_ref().map_or(Duration::from_secs(3600), |p| p.every);
    let root_named = AtomicBool::new(false);
    loop {
        let first = match tokio::time::timeout(idle, rx.recv()).await {
            Ok(Some(Msg::Event(p, r) | Msg::Use(p, r))) => (p, r),
            // (Only the writer thread signs in the background and is sent `Signed`.)
            Ok(Some(Msg::Tick | Msg::Signed(_))) => continue,
            // Every event before it was answered after its commit.
            Ok(Some(Msg::Flush(r))) => {
                let _ = r.send(());
                continue;
            }
            Ok(None) => break,
            Err(_) => {
                // Quiet for a while: seal what was written since the last checkpoint.
                if let Some(policy) = &checkpoints
                    && b.since_checkpoint > 0
                    && let Ok(Some(tail)) = store.audit_tail().await
                {
                    let r = sign_checkpoint(&store, policy, &tail, &root_named).await;
                    b.checkpointed(r, b.since_checkpoint);
                }
                continue;
            }
        };
        b.batch.push(first);
        // Gather: take what is queued, and let the runtime's other ready tasks (requests
        // about to be audited) run a few times before committing. Idle, a yield returns at
        // once; under load it fills the batch, and one commit answers more callers.
        let mut yields = 0;
        while b.batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(Msg::Event(p, r) | Msg::Use(p, r)) => b.batch.push((p, r)),
                Ok(Msg::Tick | Msg::Signed(_)) => {}
                Ok(Msg::Flush(r)) => {
                    let _ = r.send(());
                }
                Err(_) if yields < GATHER_YIELDS => {
                    yields += 1;
                    tokio::task::yield_now().await;
                }
                Err(_) => break,
            }
        }
        let result = commit(&store, &b.batch, b.known_tail.take()).await;
        if let Some(tail) = b.finish(result, checkpoints.as_ref())
            && let Some(policy) = &checkpoints
        {
            let r = sign_checkpoint(&store, policy, &tail, &root_named).await;
            b.checkpointed(r, b.since_checkpoint);
        }
    }
}

/// The writer thread's checkpoints: signed on the runtime while commits go on, since a
/// custody root may take milliseconds (PKCS#11) or an HTTP round trip (OpenBao), and every
/// signer request waits on the writer.
struct Checkpoints {
    policy: Option<CheckpointPolicy>,
    rt: tokio::runtime::Handle,
    store: Store,
    /// Where a signed checkpoint goes back to.
    back: Back,
    root_named: Arc<AtomicBool>,
    /// `since_checkpoint` when the signature in flight was asked for.
    in_flight: Option<u64>,
}

impl Checkpoints {
    /// Asks the custody root to sign a checkpoint of `tail`, unless one is being signed.
    fn launch(&mut self, b: &Batches, tail: AuditTail) {
        let Some(policy) = self.policy.clone() else { return };
        if self.in_flight.is_some() {
            return;
        }
        self.in_flight = Some(b.since_checkpoint);
        let (store, back, named) = (self.store.clone(), self.back.clone(), self.root_named.clone());
        self.rt.spawn(async move {
            let r = signed_checkpoint(&store, &policy, &tail, &named).await;
            match back {
                Back::Writer(weak) => {
                    if let Some(tx) = weak.upgrade() {
                        let _ = tx.send(Msg::Signed(r)).await;
                    }
                }
                Back::Copier(tx) => {
                    let _ = tx.send(Copy::Signed(r));
                }
            }
        });
    }

    /// Stores a signed checkpoint with `add`.
    fn landed(
        &mut self,
        b: &mut Batches,
        r: Result<StoredCheckpoint, String>,
        add: impl FnOnce(&StoredCheckpoint) -> Result<(), sealgate_store::StoreError>,
    ) {
        let covered = self.in_flight.take().unwrap_or(0);
        let r = r.and_then(|cp| add(&cp).map_err(|e| e.to_string()));
        b.checkpointed(r, covered);
    }
}

/// Where the task that signs a checkpoint sends it.
#[derive(Clone)]
enum Back {
    /// The writer thread's queue (weak, so it still closes when the last [`AuditLog`]
    /// handle is dropped).
    Writer(mpsc::WeakSender<Msg>),
    /// The journal's copier.
    Copier(std::sync::mpsc::Sender<Copy>),
}

/// The writer thread of a SQLite file (see [`AuditLog::start`]): blocks on the queue, takes
/// everything queued as one batch, commits it on its own connection, answers, repeats.
fn blocking_writer(
    mut app: SqliteAuditAppender,
    store: Store,
    mut rx: mpsc::Receiver<Msg>,
    weak: mpsc::WeakSender<Msg>,
    checkpoints: Option<CheckpointPolicy>,
    rt: tokio::runtime::Handle,
) {
    let mut b = Batches::new();
    let mut cps = Checkpoints {
        policy: checkpoints,
        rt,
        store: store.clone(),
        back: Back::Writer(weak),
        root_named: Arc::new(AtomicBool::new(false)),
        in_flight: None,
    };
    let wal = WalCopy::start(&store, &mut app);
    while let Some(msg) = rx.blocking_recv() {
        let first = match msg {
            Msg::Event(p, r) | Msg::Use(p, r) => (p, r),
            Msg::Tick => {
                if b.idle_due(cps.policy.as_ref())
                    && let Ok(Some(tail)) = app.tail()
                {
                    cps.launch(&b, tail);
                }
                continue;
            }
            Msg::Signed(r) => {
                cps.landed(&mut b, r, |cp| app.add_checkpoint(cp));
                continue;
            }
            Msg::Flush(r) => {
                let _ = r.send(());
                continue;
            }
        };
        b.batch.push(first);
        // Everything queued joins: while one batch is fsynced the next gathers here, so
        // under load a commit answers every caller that arrived during the previous one.
        // (Waiting for more was measured: it lengthens the cycle more than it fills it.)
        while b.batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(Msg::Event(p, r) | Msg::Use(p, r)) => b.batch.push((p, r)),
                Ok(Msg::Tick) => {}
                Ok(Msg::Signed(r)) => cps.landed(&mut b, r, |cp| app.add_checkpoint(cp)),
                Ok(Msg::Flush(r)) => {
                    let _ = r.send(());
                }
                Err(_) => break,
            }
        }
        let result = commit_blocking(&mut app, &b.batch, b.known_tail.take());
        wal.kick();
        if let Some(tail) = b.finish(result, cps.policy.as_ref()) {
            cps.launch(&b, tail);
        }
        wal.between_commits(&mut app);
    }
}

/// The WAL of an appender's database, copied into the database on a thread of its own,
/// woken after commits; it says when the WAL is long and mostly copied, and the appender's
/// thread then resets it between two commits. Stops (and is joined) on drop.
struct WalCopy {
    kick: Option<std::sync::mpsc::SyncSender<()>>,
    restart_due: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl WalCopy {
    fn start(store: &Store, app: &mut SqliteAuditAppender) -> Self {
        let (kick, kicked) = std::sync::mpsc::sync_channel::<()>(1);
        let restart_due = Arc::new(AtomicBool::new(false));
        let due = restart_due.clone();
        let thread = match store.sqlite_wal_checkpointer() {
            Ok(Some(c)) => std::thread::Builder::new()
                .name("audit-wal".into())
                .spawn(move || wal_checkpointer(c, kicked, &due))
                .map_err(|e| tracing::error!(error = %e, "audit: no WAL checkpoint thread; checkpointing in commits"))
                .ok(),
            Ok(None) => None,
            Err(e) => {
                tracing::error!(error = %e, "audit: no WAL checkpoint connection; checkpointing in commits");
                None
            }
        };
        if thread.is_none()
            && let Err(e) = app.checkpoint_in_commits()
        {
            tracing::error!(error = %e, "audit: cannot checkpoint in commits either; the WAL grows until restart");
        }
        Self { kick: Some(kick), restart_due, thread }
    }

    /// A commit was made.
    fn kick(&self) {
        if let Some(k) = &self.kick {
            let _ = k.try_send(());
        }
    }

    /// Resets the WAL when the checkpoint thread says it is due.
    fn between_commits(&self, app: &mut SqliteAuditAppender) {
        if self.restart_due.swap(false, Ordering::Relaxed)
            && let Err(e) = app.restart_wal()
        {
            tracing::warn!(error = %e, "audit WAL reset failed; will retry");
        }
    }
}

impl Drop for WalCopy {
    fn drop(&mut self) {
        drop(self.kick.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The WAL checkpoint thread of [`blocking_writer`]: after commits (at most every
/// [`WAL_CHECKPOINT_GAP`]) copies the WAL into the database, and raises `restart_due` when
/// the WAL is past [`WAL_RESTART_FRAMES`] and copied; stops with the writer.
fn wal_checkpointer(mut c: WalCheckpointer, kicked: std::sync::mpsc::Receiver<()>, restart_due: &AtomicBool) {
    while kicked.recv().is_ok() {
        match c.run() {
            Ok(w) if w.frames > WAL_RESTART_FRAMES && w.copied == w.frames => {
                restart_due.store(true, Ordering::Relaxed);
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "audit WAL checkpoint failed; will retry"),
        }
        std::thread::sleep(WAL_CHECKPOINT_GAP);
    }
}

async fn commit(store: &Store, batch: &[(Prepared, Reply)], known: Option<AuditTail>) -> Result<AuditTail, String> {
    let time = crate::now_ms();
    if let Some(tail) = known {
        match store.append_audit(Some(&tail), &records(timed(batch, time), Some(&tail))).await {
            Err(sealgate_store::StoreError::AuditConflict) => {} // another writer: read the tail
            other => return other.map_err(|e| e.to_string()),
        }
    }
    store.append_audit_with(|tail| records(timed(batch, time), tail)).await.map_err(|e| e.to_string())
}

/// [`commit`] on the writer thread's own connection.
fn commit_blocking(
    app: &mut SqliteAuditAppender,
    batch: &[(Prepared, Reply)],
    mut tail: Option<AuditTail>,
) -> Result<AuditTail, String> {
    let time = crate::now_ms();
    let mut read = tail.is_none();
    for _ in 0..1000 {
        if read {
            tail = app.tail().map_err(|e| e.to_string())?;
        }
        match app.append(tail.as_ref(), &records(timed(batch, time), tail.as_ref())) {
            // Another writer (another process) moved the tail: re-read, re-hash, retry.
            Err(sealgate_store::StoreError::AuditConflict) => read = true,
            other => return other.map_err(|e| e.to_string()),
        }
    }
    Err(sealgate_store::StoreError::AuditConflict.to_string())
}

/// A writer's batch as events with their time.
fn timed(batch: &[(Prepared, Reply)], time: u64) -> impl Iterator<Item = (&Prepared, u64)> {
    batch.iter().map(move |(p, _)| (p, time))
}

/// Events (with their times) as records hashed against `tail`: all of them, or none when one
/// cannot be chained (the store refuses an empty append, so the whole batch fails and no
/// caller is answered with another record's seq).
fn records<'a>(events: impl Iterator<Item = (&'a Prepared, u64)>, tail: Option<&AuditTail>) -> Vec<NewAuditRecord> {
    let mut chain = match tail {
        Some(t) => match (u64::try_from(t.seq), Hash::from_hex(&t.hash)) {
            (Ok(seq), Some(h)) => Chain::resume(seq, h),
            // A tail we cannot read: hash against nothing; the store refuses the link.
            _ => Chain::new(),
        },
        None => Chain::new(),
    };
    let built = events
        .map(|(p, time)| {
            let r = chain.append(&p.actor, p.action.clone(), &p.subject, p.detail.clone(), time)?;
            Ok(NewAuditRecord {
                prev_hash: r.prev_hash.to_string(),
                hash: r.hash.to_string(),
                time_ms: i64::try_from(time).unwrap_or(i64::MAX),
                actor: r.actor,
                action: r.action.as_str().to_owned(),
                subject: r.subject,
                owner: p.owner.clone(),
                detail: r.detail.canonical().to_owned(),
            })
        })
        .collect::<Result<Vec<_>, sealgate_audit::AuditError>>();
    built.unwrap_or_else(|e| {
        tracing::error!(error = %e, "audit: a record cannot be chained; the batch is refused");
        Vec::new()
    })
}

/// Signs a checkpoint of `tail` with the custody root (naming the root key in the store
/// the first time).
async fn signed_checkpoint(
    store: &Store,
    policy: &CheckpointPolicy,
    tail: &AuditTail,
    root_named: &AtomicBool,
) -> Result<StoredCheckpoint, String> {
    let seq = u64::try_from(tail.seq).map_err(|_| "negative seq".to_owned())?;
    let hash = Hash::from_hex(&tail.hash).ok_or("bad tail hash")?;
    // v2 (FORMAT.md §6): the checkpoint also signs the Merkle tree over records 1..=seq.
    let root = tree_root(store, seq).await?;
    let tree = sealgate_audit::TreeHead { size: seq, root };
    let cp = sealgate_audit::Checkpoint { seq, hash, time: crate::now_ms(), tree: Some(tree) };
    let sig =
        policy.custody.root_sign(&sealgate_audit::checkpoint_signing_input(&cp)).await.map_err(|e| e.to_string())?;
    // Name the root key beside the checkpoints it signs (verifiers still pin its thumbprint).
    if !root_named.load(Ordering::Relaxed) {
        if store.setting(sealgate_store::AUDIT_ROOT_JWK).await.map_err(|e| e.to_string())?.is_none() {
            let root = policy.custody.root_public().await.map_err(|e| e.to_string())?;
            store.set_setting(sealgate_store::AUDIT_ROOT_JWK, &root.to_string()).await.map_err(|e| e.to_string())?;
        }
        root_named.store(true, Ordering::Relaxed);
    }
    Ok(StoredCheckpoint {
        seq: tail.seq,
        hash: tail.hash.clone(),
        time_ms: i64::try_from(cp.time).unwrap_or(i64::MAX),
        sig: B64.encode(sig),
        tree_size: Some(tail.seq),
        tree_root: Some(root.to_string()),
    })
}

/// Leaves read from the chain per step while the stored tree is extended.
const TREE_PAGE: u32 = 10_000;

/// The perfect nodes `ids` from the store.
async fn tree_nodes(store: &Store, ids: &[NodeId]) -> Result<HashMap<NodeId, Hash>, String> {
    let keys: Vec<(i32, i64)> =
        ids.iter().filter_map(|id| Some((i32::try_from(id.level).ok()?, i64::try_from(id.idx).ok()?))).collect();
    let rows = store.audit_tree_nodes(&keys).await.map_err(|e| e.to_string())?;
    Ok(rows
        .into_iter()
        .filter_map(|(level, idx, h)| {
            let id = NodeId { level: u32::try_from(level).ok()?, idx: u64::try_from(idx).ok()? };
            Some((id, Hash(h.try_into().ok()?)))
        })
        .collect())
}

/// Extends the stored Merkle tree (`audit_tree`) to at least `size` leaves from the
/// chain's record hashes, and returns the root of the tree of `size` leaves. Only leaves
/// not yet stored are read, so a checkpoint costs O(records since the last one); the
/// first one after an upgrade reads the whole chain once.
pub async fn tree_root(store: &Store, size: u64) -> Result<Hash, String> {
    let have = u64::try_from(store.audit_tree_leaves().await.map_err(|e| e.to_string())?).unwrap_or(0);
    if have >= size {
        let nodes = tree_nodes(store, &merkle::root_nodes(size)).await?;
        return merkle::root_from(size, |id| nodes.get(&id).copied())
            .ok_or_else(|| format!("the stored audit tree lacks nodes of its first {size} leaves"));
    }
    let nodes = tree_nodes(store, &merkle::root_nodes(have)).await?;
    let mut tree = merkle::Frontier::resume(have, |id| nodes.get(&id).copied())
        .ok_or_else(|| format!("the stored audit tree lacks nodes of its first {have} leaves"))?;
    while tree.size() < size {
        let want = u32::try_from(size - tree.size()).unwrap_or(TREE_PAGE).min(TREE_PAGE);
        let after = i64::try_from(tree.size()).map_err(|_| "tree too large".to_owned())?;
        let rows = store.audit_hashes(after, want).await.map_err(|e| e.to_string())?;
        if rows.is_empty() {
            return Err(format!("the chain ends at seq {} below the tree size {size}", tree.size()));
        }
        let mut batch = Vec::with_capacity(rows.len() * 2);
        for row in rows {
            if u64::try_from(row.seq).ok() != Some(tree.size() + 1) {
                return Err(format!("the chain has a gap before seq {}", row.seq));
            }
            let h = Hash::from_hex(&row.hash).ok_or_else(|| format!("record {}: unreadable hash", row.seq))?;
            // T1: leaf i is the hash of record i + 1.
            let done = tree.push(merkle::leaf_hash(&h.0)).ok_or("tree full")?;
            batch.extend(done.into_iter().filter_map(|(id, h)| {
                Some((i32::try_from(id.level).ok()?, i64::try_from(id.idx).ok()?, h.0.to_vec()))
            }));
        }
        store.add_audit_tree_nodes(&batch).await.map_err(|e| e.to_string())?;
    }
    Ok(tree.root())
}

/// Inclusion proofs of leaves `indices` in the tree of `size` leaves, from the stored
/// perfect nodes (one query per level for the whole batch; shared nodes fetched once).
pub async fn inclusion_proofs(store: &Store, size: u64, indices: &[u64]) -> Result<Vec<Vec<Hash>>, String> {
    let mut ids: Vec<NodeId> =
        indices.iter().filter_map(|i| merkle::proof_nodes(*i, size)).flatten().flatten().collect();
    ids.sort_unstable();
    ids.dedup();
    let mut nodes = tree_nodes(store, &ids).await?;
    if nodes.len() < ids.len() {
        // A tree not (yet) stored this far, e.g. a node table restored from an older
        // backup: extend it from the chain once and look again.
        tree_root(store, size).await?;
        nodes = tree_nodes(store, &ids).await?;
    }
    indices
        .iter()
        .map(|i| {
            merkle::inclusion_proof_from(*i, size, |id| nodes.get(&id).copied())
                .ok_or_else(|| format!("no inclusion proof of leaf {i} in a tree of {size}"))
        })
        .collect()
}

async fn sign_checkpoint(
    store: &Store,
    policy: &CheckpointPolicy,
    tail: &AuditTail,
    root_named: &AtomicBool,
) -> Result<(), String> {
    let cp = signed_checkpoint(store, policy, tail, root_named).await?;
    store.add_audit_checkpoint(&cp).await.map_err(|e| e.to_string())
}

/// Signs a checkpoint over the chain's tail now, unless one already covers it: a
/// short-lived command (`keys rewrap`, `incident`) calls this after its last record, so its
/// records are under a signed checkpoint (and the store names the root key) when it exits,
/// however long the writer's own signature would take under load. A checkpoint the writer
/// signs at the same moment is the same row (`ON CONFLICT (seq) DO NOTHING`).
pub async fn seal_tail(store: &Store, policy: &CheckpointPolicy) -> Result<(), String> {
    let Some(tail) = store.audit_tail().await.map_err(|e| e.to_string())? else { return Ok(()) };
    let covered = store.latest_tree_checkpoint().await.map_err(|e| e.to_string())?.is_some_and(|cp| cp.seq >= tail.seq);
    let named = store.setting(sealgate_store::AUDIT_ROOT_JWK).await.map_err(|e| e.to_string())?.is_some();
    if covered && named {
        return Ok(());
    }
    sign_checkpoint(store, policy, &tail, &AtomicBool::new(false)).await
}

/// Writes the store's chain as the JSON Lines export (`sealgate-audit`
/// FORMAT.md §4): the root line (when the store names the root key), every
/// record in order, then every checkpoint. A row that cannot even be read
/// as a record is written as a line the verifier reports as malformed at
/// its position, so a damaged database is named, not skipped.
pub async fn export_store(store: &Store, out: &mut Vec<u8>) -> Result<(), String> {
    use sealgate_audit::jsonl;
    if let Some(text) = store.setting(sealgate_store::AUDIT_ROOT_JWK).await.map_err(|e| e.to_string())?
        && let Ok(jwk) = serde_json::from_str::<Value>(&text)
        && let Ok(root) = sealgate_audit::RootKey::from_jwk(&jwk)
    {
        out.extend_from_slice(jsonl::root_line(&root).as_bytes());
        out.push(b'\n');
    }
    let mut after = 0;
    loop {
        let rows = store.audit_range(after, 1000).await.map_err(|e| e.to_string())?;
        let Some(last) = rows.last() else { break };
        after = last.seq;
        for row in &rows {
            let line = match record_of(row) {
                Some(r) => jsonl::record_line(&r),
                None => format!("{{\"type\":\"record\",\"unreadable_seq\":{}}}", row.seq),
            };
            out.extend_from_slice(line.as_bytes());
            out.push(b'\n');
        }
    }
    for cp in store.audit_checkpoints().await.map_err(|e| e.to_string())? {
        let line = match checkpoint_of(&cp) {
            Some(s) => jsonl::checkpoint_line(&s),
            None => format!("{{\"type\":\"checkpoint\",\"unreadable_seq\":{}}}", cp.seq),
        };
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    Ok(())
}

/// A stored checkpoint as the chain crate reads it, or `None` when a field is unreadable.
pub(crate) fn checkpoint_of(cp: &StoredCheckpoint) -> Option<sealgate_audit::SignedCheckpoint> {
    Some(sealgate_audit::SignedCheckpoint {
        checkpoint: sealgate_audit::Checkpoint {
            seq: u64::try_from(cp.seq).ok()?,
            hash: Hash::from_hex(&cp.hash)?,
            time: u64::try_from(cp.time_ms).ok()?,
            tree: match (cp.tree_size, &cp.tree_root) {
                (None, None) => None,
                (Some(size), Some(root)) => {
                    Some(sealgate_audit::TreeHead { size: u64::try_from(size).ok()?, root: Hash::from_hex(root)? })
                }
                _ => return None,
            },
        },
        sig: B64.decode(&cp.sig).ok()?,
    })
}

/// A stored row as the chain crate reads it, or `None` when it is not a well-formed record
/// (it then fails verification as malformed at its position).
pub(crate) fn record_of(row: &sealgate_store::AuditRecord) -> Option<sealgate_audit::Record> {
    let detail: Value = serde_json::from_str(&row.detail).ok()?;
    let r = sealgate_audit::Record {
        seq: u64::try_from(row.seq).ok()?,
        time: u64::try_from(row.time_ms).ok()?,
        actor: row.actor.clone(),
        action: row.action.parse().ok()?,
        subject: row.subject.clone(),
        detail: Detail::new(&detail).ok()?,
        prev_hash: Hash::from_hex(&row.prev_hash)?,
        hash: Hash::from_hex(&row.hash)?,
    };
    // The stored detail must be the canonical bytes the hash covered.
    (r.detail.canonical() == row.detail).then_some(r)
}

/// Verifies the store's whole chain and its checkpoints under `trust`;
/// the error names the first bad record.
pub async fn verify_store(
    store: &Store,
    trust: sealgate_audit::jsonl::Trust<'_>,
) -> Result<sealgate_audit::Summary, String> {
    let mut text = Vec::new();
    export_store(store, &mut text).await?;
    sealgate_audit::jsonl::verify_export(&text, trust).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(actor: &str, n: u64) -> Prepared {
        let detail = Detail::new(&serde_json::json!({ "n": n })).expect("detail");
        Prepared { actor: actor.into(), action: Action::Signed, subject: format!("cred-{n}"), owner: None, detail }
    }

    #[test]
    fn a_batch_with_a_record_that_cannot_be_chained_is_built_as_nothing() {
        let good = [event("role:trader", 1), event("role:trader", 2)];
        let built = records(good.iter().map(|p| (p, 7)), None);
        assert_eq!(built.len(), 2);
        assert_eq!(built[1].prev_hash, built[0].hash);
        // One bad actor among good ones: were it left out, the callers after it would be
        // answered with the seqs of the records before them.
        let mixed = [event("role:trader", 1), event("", 2), event("role:trader", 3)];
        assert!(records(mixed.iter().map(|p| (p, 7)), None).is_empty());
        let tail = AuditTail { seq: 5, hash: built[1].hash.clone() };
        assert!(records(mixed.iter().map(|p| (p, 7)), Some(&tail)).is_empty());
    }
}
