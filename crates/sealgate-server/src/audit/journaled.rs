//! The journaled audit writer ([`AuditLog::start_journaled`]): two threads.
//!
//! - The **journal writer** takes what is queued, writes the uses' frames to the journal
//!   with one `pwrite` and one `fdatasync`, answers those callers, and hands everything, in
//!   order, to the copier. Other events (revocations, approvals, settings: rare, and their
//!   callers act on the store right after) are not journaled; they ride along and are
//!   answered once the copier has committed them.
//! - The **copier** hashes what it is handed onto the chain and commits it to the store, the
//!   journal position with it, in transactions of up to [`COPY_BATCH`] records; it signs the
//!   checkpoints. A store that fails keeps the journal's records for the next attempt (they
//!   are durable; they will be copied), and fails the other events (nothing of theirs was
//!   written, and their callers have not acted yet).

use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sealgate_store::{AuditTail, SqliteAuditAppender, Store, StoreError, StoredCheckpoint};
use tokio::sync::mpsc;

use super::journal::{self, Journal};
use super::{
    AuditLog, AuditWriteError, Back, Batches, COPY_BATCH, CheckpointPolicy, Checkpoints, JOURNAL_FULL_WAIT, MAX_BATCH,
    Msg, Prepared, QUEUE, Reply, WalCopy, records, ticker,
};

/// What the writer hands the copier.
pub(super) enum Copy {
    /// Events in order: journaled ones with their time and no reply, others with their reply;
    /// `mark` is the journal position just past the journaled ones, when there are any.
    Batch(Vec<Item>, Option<(u64, u64)>),
    /// Time passed (an idle checkpoint may be due).
    Tick,
    /// A checkpoint signed for the copier.
    Signed(Result<StoredCheckpoint, String>),
    /// Answered once every batch handed over before it is in the store.
    Flush(tokio::sync::oneshot::Sender<()>),
    /// The writer has stopped (the last handle is gone): copy what is left, then stop. (The
    /// copier's own checkpoint tasks hold senders too, so the channel alone never closes.)
    Stop,
}

pub(super) struct Item {
    event: Prepared,
    /// The journaled event's time; `None`: not journaled, stamped when copied.
    time: Option<u64>,
    reply: Option<Reply>,
}

/// The journal position the store holds, shared by copier (writes) and writer (waits).
#[derive(Default)]
struct Copied {
    at: Mutex<(u64, u64)>,
    moved: Condvar,
}

impl Copied {
    fn set(&self, mark: (u64, u64)) {
        *self.at.lock().unwrap_or_else(PoisonError::into_inner) = mark;
        self.moved.notify_all();
    }

    /// Waits at most `wait` until the store holds everything up to `mark`.
    fn reached(&self, mark: (u64, u64), wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        let mut at = self.at.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if *at >= mark {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            at = self.moved.wait_timeout(at, left).unwrap_or_else(PoisonError::into_inner).0;
        }
    }
}

impl AuditLog {
    /// [`AuditLog::start`] with an audit journal at `path` (created when absent, `size` bytes
    /// allocated, [`JOURNAL_SIZE`] by default; one process
    /// at a time): the signer's uses ([`AuditLog::record_use`]) are answered once durable in
    /// it, and the store's chain is built behind them. Frames a crash left uncopied are copied
    /// into the store before this returns. Refused: a journal another process holds, one the
    /// store says it copied more of than it holds, an unreadable one, a store that fails.
    pub async fn start_journaled(
        store: Store,
        checkpoints: Option<CheckpointPolicy>,
        path: &std::path::Path,
        size: u64,
    ) -> Result<Self, String> {
        let shown = path.display();
        let (mut j, entries) = Journal::open(path, size).map_err(|e| format!("audit journal {shown}: {e}"))?;
        let name = journal::mark_name(j.id());
        let mark = store.setting(&name).await.map_err(|e| format!("audit journal {shown}: {e}"))?;
        let after = j.pending_after(mark.as_deref()).map_err(|e| format!("audit journal {shown}: {e}"))?;
        let pending: Vec<_> = entries.into_iter().filter(|e| e.end > after).collect();
        for chunk in pending.chunks(COPY_BATCH) {
            let value = journal::mark_value(j.epoch(), chunk.last().map_or(after, |e| e.end));
            store
                .append_audit_with_mark(
                    |tail| records(chunk.iter().map(|e| (&e.event, e.time)), tail),
                    Some((&name, &value)),
                )
                .await
                .map_err(|e| format!("audit journal {shown}: copying its records into the store: {e}"))?;
        }
        if !pending.is_empty() {
            tracing::warn!(records = pending.len(), "audit: copied the journal's records a stop left behind");
        }
        // Always a fresh epoch: past the last valid frame may lie valid-looking frames of this
        // epoch that were written but never synced (so never answered).
        j.next_epoch().map_err(|e| format!("audit journal {shown}: {e}"))?;
        let copied = Arc::new(Copied::default());
        copied.set((j.epoch(), journal::DATA));

        let (tx, rx) = mpsc::channel(QUEUE);
        let (ctx, crx) = std_mpsc::channel();
        let sink = match store.sqlite_audit_appender() {
            Ok(Some(app)) => Sink::Sqlite(app),
            Ok(None) => Sink::Pool(store.clone(), tokio::runtime::Handle::current()),
            Err(e) => return Err(format!("audit: no SQLite connection of its own: {e}")),
        };
        let cps = Checkpoints {
            policy: checkpoints.clone(),
            rt: tokio::runtime::Handle::current(),
            store: store.clone(),
            back: Back::Copier(ctx.clone()),
            root_named: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            in_flight: None,
        };
        let c = copied.clone();
        let own = Arc::new(super::OwnAppends::default());
        let own_c = own.clone();
        let wal = match &sink {
            Sink::Sqlite(_) => Some(store.clone()),
            Sink::Pool(..) => None,
        };
        std::thread::Builder::new()
            .name("audit-copy".into())
            .spawn(move || copier(sink, wal, crx, cps, &c, name, &own_c))
            .map_err(|e| format!("audit: no copier thread: {e}"))?;
        let writer_ctx = ctx.clone();
        std::thread::Builder::new()
            .name("audit-journal".into())
            .spawn(move || journal_writer(j, rx, &writer_ctx, &copied))
            .map_err(|e| format!("audit: no journal writer thread: {e}"))?;
        drop(ctx);
        if let Some(every) = checkpoints.as_ref().map(|p| p.every) {
            tokio::spawn(ticker(tx.downgrade(), every));
        }
        let mut log = Self::writing(tx);
        log.own = Some(own);
        Ok(log)
    }
}

/// The journal writer thread (see the module docs).
fn journal_writer(mut j: Journal, mut rx: mpsc::Receiver<Msg>, copy: &std_mpsc::Sender<Copy>, copied: &Copied) {
    let mut frames = Vec::with_capacity(256 * 1024);
    let mut batch: Vec<(Prepared, Reply, bool)> = Vec::new();
    while let Some(msg) = rx.blocking_recv() {
        // Flushes go after this round's batch, so they wait for it too.
        let mut pending_flush = Vec::new();
        let mut take = |m: Msg, batch: &mut Vec<(Prepared, Reply, bool)>| match m {
            Msg::Use(p, r) => batch.push((p, r, true)),
            Msg::Event(p, r) => batch.push((p, r, false)),
            Msg::Tick => {
                let _ = copy.send(Copy::Tick);
            }
            Msg::Flush(r) => pending_flush.push(r),
            // (Signed checkpoints go to the copier.)
            Msg::Signed(_) => {}
        };
        take(msg, &mut batch);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(m) => take(m, &mut batch),
                Err(_) => break,
            }
        }
        let flushes = |pending: Vec<_>| {
            for r in pending {
                let _ = copy.send(Copy::Flush(r));
            }
        };
        if batch.is_empty() {
            flushes(pending_flush);
            continue;
        }
        let time = crate::now_ms();
        let written = write_frames(&mut j, &mut frames, &batch, time, copied);
        let mut items = Vec::with_capacity(batch.len());
        for (event, reply, used) in batch.drain(..) {
            match (&written, used) {
                (Ok(_), true) => {
                    let _ = reply.send(Ok(0));
                    items.push(Item { event, time: Some(time), reply: None });
                }
                (Err(e), true) => {
                    let _ = reply.send(Err(e.clone()));
                }
                (_, false) => items.push(Item { event, time: None, reply: Some(reply) }),
            }
        }
        let mark = written.ok().flatten();
        if copy.send(Copy::Batch(items, mark)).is_err() {
            tracing::error!("audit: the copier has stopped; the journal keeps the records for the next start");
        }
        flushes(pending_flush);
    }
    let _ = copy.send(Copy::Stop);
}

/// Writes the batch's uses as frames (starting a new epoch when the journal is drained and
/// past half, or full and drained within [`JOURNAL_FULL_WAIT`]); the journal position past
/// them, `None` when the batch has no use.
fn write_frames(
    j: &mut Journal,
    frames: &mut Vec<u8>,
    batch: &[(Prepared, Reply, bool)],
    time: u64,
    copied: &Copied,
) -> Result<Option<(u64, u64)>, AuditWriteError> {
    let encode = |frames: &mut Vec<u8>, epoch| {
        frames.clear();
        for (p, _, _) in batch.iter().filter(|(_, _, used)| *used) {
            journal::encode(frames, epoch, time, p);
        }
    };
    encode(frames, j.epoch());
    if frames.is_empty() {
        return Ok(None);
    }
    let drained = |j: &Journal, wait| copied.reached((j.epoch(), j.offset()), wait);
    let full = !j.fits(frames.len());
    if (full && drained(j, JOURNAL_FULL_WAIT)) || (j.past_half() && drained(j, Duration::ZERO)) {
        j.next_epoch().map_err(|e| journal_error(&e))?;
        encode(frames, j.epoch());
    }
    if !j.fits(frames.len()) {
        tracing::error!("audit: the journal is full and the store has not taken its records; refusing");
        return Err(AuditWriteError::Store("the audit journal is full: its copy into the store is failing".into()));
    }
    let end = j.append(frames).map_err(|e| journal_error(&e))?;
    Ok(Some((j.epoch(), end)))
}

fn journal_error(e: &std::io::Error) -> AuditWriteError {
    tracing::error!(error = %e, "audit journal write failed; refusing");
    AuditWriteError::Store(format!("audit journal: {e}"))
}

/// Where the copier commits.
enum Sink {
    /// A SQLite file: the appender's own blocking connection.
    Sqlite(SqliteAuditAppender),
    /// PostgreSQL (or an in-memory SQLite): the pool, from this thread.
    Pool(Store, tokio::runtime::Handle),
}

impl Sink {
    fn tail(&mut self) -> Result<Option<AuditTail>, StoreError> {
        match self {
            Self::Sqlite(app) => app.tail(),
            Self::Pool(store, rt) => rt.block_on(store.audit_tail()),
        }
    }

    fn append(
        &mut self,
        tail: Option<&AuditTail>,
        records: &[sealgate_store::NewAuditRecord],
        mark: Option<(&str, &str)>,
    ) -> Result<AuditTail, StoreError> {
        match self {
            Self::Sqlite(app) => app.append_marked(tail, records, mark),
            Self::Pool(store, rt) => rt.block_on(store.append_audit_marked(tail, records, mark)),
        }
    }

    fn add_checkpoint(&mut self, cp: &StoredCheckpoint) -> Result<(), StoreError> {
        match self {
            Self::Sqlite(app) => app.add_checkpoint(cp),
            Self::Pool(store, rt) => rt.block_on(store.add_audit_checkpoint(cp)),
        }
    }
}

/// Most time uses wait in the journal for their copy into the store while nobody waits on
/// the store: the copy is then a few large transactions a second, not one per journal write.
const COPY_EVERY: Duration = Duration::from_millis(25);

/// Least and most wait between two attempts of a failing store.
const RETRY_FIRST: Duration = Duration::from_millis(50);
const RETRY_MOST: Duration = Duration::from_secs(2);

/// Writer batches waiting for the copier: their items, and the journal position past their
/// journaled ones. A batch is copied whole, so a position is stored only with every record
/// before it.
type Queued = std::collections::VecDeque<(Vec<Item>, Option<(u64, u64)>)>;

/// The copier thread (see the module docs).
fn copier(
    mut sink: Sink,
    wal_of: Option<Store>,
    rx: std_mpsc::Receiver<Copy>,
    mut cps: Checkpoints,
    copied: &Copied,
    mark_name: String,
    own: &super::OwnAppends,
) {
    let wal = match (&mut sink, &wal_of) {
        (Sink::Sqlite(app), Some(store)) => Some(WalCopy::start(store, app)),
        _ => None,
    };
    let mut b = Batches::new();
    let mut queued = Queued::new();
    // Batches handed over and copied so far, and the flushes waiting for a count.
    let (mut handed, mut done) = (0u64, 0u64);
    let mut flushes: Vec<(u64, tokio::sync::oneshot::Sender<()>)> = Vec::new();
    let mut retry = RETRY_FIRST;
    let mut failing = false;
    let (mut last_copy, mut next_try) = (Instant::now(), Instant::now());
    // Records queued, and those whose callers wait for the store.
    let (mut queued_n, mut waiters) = (0usize, 0usize);
    let mut open = true;
    loop {
        // Block for work when there is none; wait out the retry delay when a copy failed;
        // else gather for up to COPY_EVERY, unless someone waits for the store.
        let waiting = !flushes.is_empty() || waiters > 0;
        let first = if queued.is_empty() {
            rx.recv().map_err(|_| std_mpsc::RecvTimeoutError::Disconnected)
        } else if failing {
            rx.recv_timeout(next_try.saturating_duration_since(Instant::now()))
        } else if waiting || queued_n >= COPY_BATCH {
            rx.try_recv().map_err(|e| match e {
                std_mpsc::TryRecvError::Empty => std_mpsc::RecvTimeoutError::Timeout,
                std_mpsc::TryRecvError::Disconnected => std_mpsc::RecvTimeoutError::Disconnected,
            })
        } else {
            rx.recv_timeout(COPY_EVERY.saturating_sub(last_copy.elapsed()))
        };
        let mut handle = |m: Copy, queued: &mut Queued, b: &mut Batches| match m {
            Copy::Batch(items, mark) => {
                handed += 1;
                queued_n += items.len();
                waiters += items.iter().filter(|i| i.reply.is_some()).count();
                queued.push_back((items, mark));
            }
            Copy::Flush(r) => flushes.push((handed, r)),
            Copy::Stop => {}
            Copy::Tick => {
                if b.idle_due(cps.policy.as_ref())
                    && let Ok(Some(tail)) = sink.tail()
                {
                    cps.launch(b, tail);
                }
            }
            Copy::Signed(r) => cps.landed(b, r, |cp| sink.add_checkpoint(cp)),
        };
        let mut stopping = matches!(first, Err(std_mpsc::RecvTimeoutError::Disconnected));
        let mut handle = |m: Copy, queued: &mut Queued, b: &mut Batches| {
            if matches!(m, Copy::Stop) {
                stopping = true;
            } else {
                handle(m, queued, b);
            }
        };
        if let Ok(m) = first {
            handle(m, &mut queued, &mut b);
        }
        while let Ok(m) = rx.try_recv() {
            handle(m, &mut queued, &mut b);
        }
        if stopping {
            open = false;
        }
        answer(&mut flushes, done);
        if queued.is_empty() {
            if open {
                continue;
            }
            break;
        }
        let waiting = !flushes.is_empty() || waiters > 0;
        let early = match failing {
            true => Instant::now() < next_try,
            false => !waiting && queued_n < COPY_BATCH && last_copy.elapsed() < COPY_EVERY,
        };
        if open && early {
            continue;
        }
        last_copy = Instant::now();
        // Whole batches, at least one, up to COPY_BATCH records.
        let (mut take, mut n, mut mark) = (0, 0, None);
        for (items, m) in &queued {
            if take > 0 && n + items.len() > COPY_BATCH {
                break;
            }
            take += 1;
            n += items.len();
            mark = m.or(mark);
        }
        let batch = || queued.range(..take).flat_map(|(items, _)| items);
        let quiet = batch().all(|i| !crate::revocation::learns_from(i.event.action.as_str()));
        let result = copy(&mut sink, batch(), mark, &mark_name, &mut b);
        match result {
            Ok((base, tail)) => {
                if quiet {
                    let at = |t: Option<&AuditTail>| {
                        t.map_or(Some((0, sealgate_audit::GENESIS)), |t| {
                            Some((u64::try_from(t.seq).ok()?, sealgate_audit::Hash::from_hex(&t.hash)?))
                        })
                    };
                    if let (Some(from), Some(to)) = (at(base.as_ref()), at(Some(&tail))) {
                        own.push(from, to);
                    }
                }
                (retry, failing) = (RETRY_FIRST, false);
                let last = u64::try_from(tail.seq).unwrap_or(0);
                done += take as u64;
                queued_n -= n;
                let replies = queued.drain(..take).flat_map(|(items, _)| items).map(|i| i.reply);
                for (i, reply) in replies.enumerate() {
                    if let Some(r) = reply {
                        waiters -= 1;
                        let _ = r.send(Ok(last - n as u64 + 1 + i as u64));
                    }
                }
                if let Some(m) = mark {
                    copied.set(m);
                }
                answer(&mut flushes, done);
                b.since_checkpoint += n as u64;
                if let Some(p) = cps.policy.as_ref()
                    && (b.since_checkpoint >= p.every_records || b.last_checkpoint.elapsed() >= p.every)
                {
                    cps.launch(&b, tail);
                }
                if let (Some(w), Sink::Sqlite(app)) = (&wal, &mut sink) {
                    w.kick();
                    w.between_commits(app);
                }
            }
            Err(e) => {
                // The journaled records wait for the next attempt; the others are refused
                // (nothing of theirs was written, and their callers have not acted yet).
                tracing::error!(error = %e, records = n, "audit: copying into the store failed; will retry");
                for (items, _) in queued.iter_mut() {
                    items.retain_mut(|item| match item.reply.take() {
                        Some(r) => {
                            (waiters, queued_n) = (waiters - 1, queued_n - 1);
                            let _ = r.send(Err(AuditWriteError::Store(e.to_string())));
                            false
                        }
                        None => true,
                    });
                }
                let before = queued.len();
                queued.retain(|(items, mark)| !items.is_empty() || mark.is_some());
                done += (before - queued.len()) as u64;
                answer(&mut flushes, done);
                next_try = Instant::now() + retry;
                (retry, failing) = ((retry * 2).min(RETRY_MOST), true);
                if !open {
                    // Stopping: the journal keeps what is left for the next start.
                    break;
                }
            }
        }
    }
}

/// Answers the flushes that waited for at most `done` batches.
fn answer(flushes: &mut Vec<(u64, tokio::sync::oneshot::Sender<()>)>, done: u64) {
    for (_, r) in flushes.extract_if(.., |(at, _)| *at <= done) {
        let _ = r.send(());
    }
}

/// Commits `items` after the chain's tail (re-read when another writer moved it), with the
/// journal position `mark`; the tail they were appended to, and the new one.
fn copy<'a>(
    sink: &mut Sink,
    items: impl Iterator<Item = &'a Item> + Clone,
    mark: Option<(u64, u64)>,
    mark_name: &str,
    b: &mut Batches,
) -> Result<(Option<AuditTail>, AuditTail), StoreError> {
    let now = crate::now_ms();
    let value = mark.map(|(e, o)| journal::mark_value(e, o));
    let mark = value.as_deref().map(|v| (mark_name, v));
    let mut tail = match b.known_tail.take() {
        Some(t) => Some(t),
        None => sink.tail()?,
    };
    for _ in 0..1000 {
        let recs = records(items.clone().map(|i| (&i.event, i.time.unwrap_or(now))), tail.as_ref());
        match sink.append(tail.as_ref(), &recs, mark) {
            Err(StoreError::AuditConflict) => tail = sink.tail()?,
            Ok(t) => {
                b.known_tail = Some(t.clone());
                return Ok((tail, t));
            }
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::AuditConflict)
}

#[cfg(test)]
mod tests {
    use super::super::{AuditEvent, prepare};
    use super::*;
    use sealgate_audit::Action;
    use serde_json::json;

    fn event(n: u64) -> Prepared {
        prepare(AuditEvent::new("role:trader", Action::Signed, format!("cred-{n}"), json!({"n": n})).owner("u1"))
            .expect("event")
    }

    /// A journal holding `range`'s frames in epoch `epoch`, as a stop left it; the offset
    /// past each frame.
    fn journal_with(path: &std::path::Path, range: std::ops::Range<u64>, epochs: u64) -> Vec<u64> {
        let (mut j, _) = Journal::open(path, 1 << 20).expect("journal");
        for _ in 1..epochs {
            j.next_epoch().expect("epoch");
        }
        range
            .map(|n| {
                let mut f = Vec::new();
                journal::encode(&mut f, j.epoch(), 1_000 + n, &event(n));
                j.append(&f).expect("append")
            })
            .collect()
    }

    async fn store(dir: &std::path::Path) -> Store {
        Store::connect(&format!("sqlite://{}?mode=rwc", dir.join("s.db").display())).await.expect("store")
    }

    async fn subjects(store: &Store) -> Vec<String> {
        store.audit_range(0, 1000).await.expect("range").into_iter().map(|r| r.subject).collect()
    }

    async fn verified(store: &Store) -> u64 {
        crate::audit::verify_store(store, sealgate_audit::jsonl::Trust::None).await.expect("verifies").records
    }

    #[tokio::test]
    async fn a_stop_before_the_copy_is_copied_on_start_and_only_once() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("audit.journal");
        journal_with(&path, 0..5, 1);
        let store = store(dir.path()).await;
        let log = AuditLog::start_journaled(store.clone(), None, &path, 1 << 20).await.expect("start");
        // Copied before start returned, with the time each was journaled.
        assert_eq!(subjects(&store).await, ["cred-0", "cred-1", "cred-2", "cred-3", "cred-4"]);
        assert_eq!(store.audit_range(0, 1).await.expect("range")[0].time_ms, 1_000);
        log.record_use(AuditEvent::new("role:trader", Action::Signed, "cred-5", json!({})).owner("u1"))
            .await
            .expect("use");
        log.flush().await.expect("flush");
        drop(log);
        // The copier stops with the last handle; a restart copies nothing twice.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let _log = AuditLog::start_journaled(store.clone(), None, &path, 1 << 20).await.expect("restart");
        assert_eq!(subjects(&store).await.len(), 6);
        assert_eq!(verified(&store).await, 6);
    }

    #[tokio::test]
    async fn a_stop_after_the_copy_copies_only_what_follows_the_mark() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("audit.journal");
        let ends = journal_with(&path, 0..4, 1);
        let store = store(dir.path()).await;
        // The store took frames 0 and 1 (and their mark) before the stop.
        let (j, entries) = Journal::open(&path, 1 << 20).expect("read");
        let name = journal::mark_name(j.id());
        let mark = journal::mark_value(j.epoch(), ends[1]);
        drop(j);
        store
            .append_audit_with_mark(
                |tail| records(entries[..2].iter().map(|e| (&e.event, e.time)), tail),
                Some((&name, &mark)),
            )
            .await
            .expect("copied");
        let _log = AuditLog::start_journaled(store.clone(), None, &path, 1 << 20).await.expect("start");
        assert_eq!(subjects(&store).await, ["cred-0", "cred-1", "cred-2", "cred-3"]);
        assert_eq!(verified(&store).await, 4);
    }

    #[tokio::test]
    async fn a_stop_after_a_new_epoch_copies_nothing_old() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("audit.journal");
        let ends = journal_with(&path, 0..3, 1);
        let store = store(dir.path()).await;
        let (mut j, entries) = Journal::open(&path, 1 << 20).expect("read");
        let (name, mark) = (journal::mark_name(j.id()), journal::mark_value(j.epoch(), ends[2]));
        store
            .append_audit_with_mark(
                |tail| records(entries.iter().map(|e| (&e.event, e.time)), tail),
                Some((&name, &mark)),
            )
            .await
            .expect("copied");
        // Everything copied, the epoch advanced, then the stop: nothing is pending.
        j.next_epoch().expect("epoch");
        drop(j);
        let _log = AuditLog::start_journaled(store.clone(), None, &path, 1 << 20).await.expect("start");
        assert_eq!(subjects(&store).await.len(), 3);
    }

    #[tokio::test]
    async fn a_journal_the_store_copied_more_of_is_refused() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("audit.journal");
        journal_with(&path, 0..2, 1);
        let store = store(dir.path()).await;
        let (j, _) = Journal::open(&path, 1 << 20).expect("read");
        store
            .set_setting(&journal::mark_name(j.id()), &journal::mark_value(j.epoch() + 1, journal::DATA))
            .await
            .expect("mark");
        drop(j);
        let e = AuditLog::start_journaled(store.clone(), None, &path, 1 << 20).await.expect_err("refused");
        assert!(e.contains("copied more of this audit journal"), "{e}");
        assert!(subjects(&store).await.is_empty());
    }

    #[tokio::test]
    async fn uses_and_events_keep_their_order_across_epochs() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("audit.journal");
        let store = store(dir.path()).await;
        // A small journal: several epochs go by.
        let log =
            AuditLog::start_journaled(store.clone(), None, &path, journal::DATA + 16 * 1024).await.expect("start");
        let mut want = Vec::new();
        for round in 0..40u64 {
            let uses: Vec<_> = (0..10u64)
                .map(|i| {
                    let log = log.clone();
                    let e = AuditEvent::new("role:trader", Action::Signed, format!("u-{round}-{i}"), json!({"i": i}));
                    tokio::spawn(async move { log.record_use(e.owner("u1")).await })
                })
                .collect();
            for u in uses {
                u.await.expect("task").expect("use");
            }
            let seq = log
                .record(AuditEvent::new("user:op", Action::Denied, format!("e-{round}"), json!({})))
                .await
                .expect("event");
            // An event is answered with its place: after every use answered before it.
            assert_eq!(seq, (round + 1) * 11);
            want.push(format!("e-{round}"));
        }
        log.flush().await.expect("flush");
        let got = subjects(&store).await;
        assert_eq!(got.len(), 440);
        let events: Vec<_> = got.iter().filter(|s| s.starts_with("e-")).cloned().collect();
        assert_eq!(events, want);
        assert_eq!(verified(&store).await, 440);
    }
}
