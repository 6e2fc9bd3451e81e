//! A blocking SQLite connection of its own for the audit writer's group commits.
//!
//! Why not the pool: through sqlx every statement of a commit is a message to sqlx's SQLite
//! worker thread and a wake-up of the awaiting task. With the runtime busy answering
//! requests each hop waits its turn, so a commit of five statements took ~0.8 ms of which
//! the WAL fsync is ~0.1 ms — and a signer that audits every signature durably answers at
//! the rate of those commits. A writer thread that owns a connection does the whole
//! transaction in one go. Same checks and semantics as [`Store::append_audit`]: the named
//! tail must still be the tail, `seq` is unique, and the same `synchronous=FULL`.
//!
//! Checkpoints (copying the WAL into the database file) are not this connection's job: one
//! ran inside every ~100th commit, and under load it held that commit, and every signer
//! request waiting on it, for 12 to 200 ms. A [`WalCheckpointer`] on its own thread copies
//! the WAL while appends go on (PASSIVE), and once most of a long WAL is copied the appender
//! resets it between two commits ([`SqliteAuditAppender::restart_wal`]): a passive copy alone
//! never catches up while appends go on, so the WAL would grow without end.

use rusqlite::{Connection, OpenFlags, TransactionBehavior, params};

use crate::audit::{AuditTail, CHECK_TAIL, NewAuditRecord, RECORD_COLUMNS, check_append};
use crate::error::{DbErrorKind, Result, StoreError};
use crate::settings::StoredCheckpoint;
use crate::store::Store;

/// A dedicated, blocking connection that appends audit records (see the module docs).
/// Use it from one thread that may block (not from an async task).
pub struct SqliteAuditAppender {
    conn: Connection,
}

impl std::fmt::Debug for SqliteAuditAppender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteAuditAppender")
    }
}

fn db_err(op: &'static str, e: rusqlite::Error) -> StoreError {
    match e {
        rusqlite::Error::SqliteFailure(f, _) => {
            let kind = match f.extended_code {
                // SQLITE_CONSTRAINT_PRIMARYKEY, SQLITE_CONSTRAINT_UNIQUE
                1555 | 2067 => DbErrorKind::UniqueViolation,
                787 => DbErrorKind::ForeignKeyViolation,
                1299 => DbErrorKind::NotNullViolation,
                275 => DbErrorKind::CheckViolation,
                _ => DbErrorKind::Other,
            };
            match f.code {
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked => {
                    StoreError::Unavailable { op, cause: "database busy" }
                }
                rusqlite::ErrorCode::CannotOpen => StoreError::Unavailable { op, cause: "cannot open" },
                rusqlite::ErrorCode::SystemIoFailure | rusqlite::ErrorCode::DiskFull => {
                    StoreError::Unavailable { op, cause: "i/o" }
                }
                _ => StoreError::Database { op, kind, code: f.extended_code.to_string(), constraint: None },
            }
        }
        _ => StoreError::Internal { op, cause: "driver" },
    }
}

impl Store {
    /// A blocking connection of its own to this store's SQLite file (`None` on PostgreSQL
    /// and in-memory databases), with the pool's busy timeout and `synchronous=FULL`.
    fn own_sqlite_connection(&self, op: &'static str) -> Result<Option<Connection>> {
        let Some((path, busy)) = self.sqlite_file.as_deref() else { return Ok(None) };
        // The pool has created the file and migrated it.
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
        )
        .map_err(|e| db_err(op, e))?;
        conn.busy_timeout(*busy).map_err(|e| db_err(op, e))?;
        // Per connection: the same durability as the pool's (a committed record survives power
        // loss; a checkpoint syncs the WAL before copying it and the database before reusing it).
        conn.pragma_update(None, "synchronous", "FULL").map_err(|e| db_err(op, e))?;
        Ok(Some(conn))
    }

    /// On a SQLite file, opens a dedicated blocking connection for the audit writer;
    /// `None` on PostgreSQL (whose pool is used as is) and on in-memory databases.
    pub fn sqlite_audit_appender(&self) -> Result<Option<SqliteAuditAppender>> {
        let op = "open audit appender";
        let Some(conn) = self.own_sqlite_connection(op)? else { return Ok(None) };
        conn.pragma_update(None, "foreign_keys", "ON").map_err(|e| db_err(op, e))?;
        // A WalCheckpointer does it (see the module docs).
        conn.pragma_update(None, "wal_autocheckpoint", 0).map_err(|e| db_err(op, e))?;
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).map_err(|e| db_err(op, e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Internal { op, cause: "database is not in WAL mode" });
        }
        Ok(Some(SqliteAuditAppender { conn }))
    }

    /// On a SQLite file, a connection that checkpoints the WAL for a [`SqliteAuditAppender`]
    /// (which does not); `None` where there is no appender.
    pub fn sqlite_wal_checkpointer(&self) -> Result<Option<WalCheckpointer>> {
        Ok(self.own_sqlite_connection("open WAL checkpointer")?.map(|conn| WalCheckpointer { conn }))
    }
}

/// What one [`WalCheckpointer::run`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalCheckpoint {
    /// Frames in the WAL.
    pub frames: i64,
    /// Frames copied into the database.
    pub copied: i64,
}

/// Checkpoints the WAL of a database an appender writes to (see the module docs).
pub struct WalCheckpointer {
    conn: Connection,
}

impl std::fmt::Debug for WalCheckpointer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WalCheckpointer")
    }
}

impl WalCheckpointer {
    /// Copies what it can of the WAL into the database without blocking writers (PASSIVE).
    pub fn run(&mut self) -> Result<WalCheckpoint> {
        let (frames, copied) = checkpoint(&self.conn, "PASSIVE")?;
        Ok(WalCheckpoint { frames, copied })
    }
}

/// `PRAGMA wal_checkpoint(<mode>)`: (frames in the WAL, frames copied).
fn checkpoint(conn: &Connection, mode: &str) -> Result<(i64, i64)> {
    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| Ok((r.get(1)?, r.get(2)?)))
        .map_err(|e| db_err("WAL checkpoint", e))
}

impl SqliteAuditAppender {
    /// The chain's last record, or `None` while it is empty.
    pub fn tail(&mut self) -> Result<Option<AuditTail>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
            .map_err(|e| db_err("audit tail", e))?;
        let mut rows = st.query([]).map_err(|e| db_err("audit tail", e))?;
        match rows.next().map_err(|e| db_err("audit tail", e))? {
            Some(r) => Ok(Some(AuditTail {
                seq: r.get(0).map_err(|e| db_err("audit tail", e))?,
                hash: r.get(1).map_err(|e| db_err("audit tail", e))?,
            })),
            None => Ok(None),
        }
    }

    /// [`Store::append_audit`] on this connection: appends `records` after `tail` in one
    /// transaction and returns the new tail. [`StoreError::AuditConflict`] if `tail` is no
    /// longer the chain's tail.
    pub fn append(&mut self, tail: Option<&AuditTail>, records: &[NewAuditRecord]) -> Result<AuditTail> {
        self.append_marked(tail, records, None)
    }

    /// [`Self::append`], also setting `mark` (a setting's name and value) in the same
    /// transaction: the audit journal's copied position, which must move with the records.
    pub fn append_marked(
        &mut self,
        tail: Option<&AuditTail>,
        records: &[NewAuditRecord],
        mark: Option<(&str, &str)>,
    ) -> Result<AuditTail> {
        let new_tail = check_append(tail, records)?;
        let op = "append audit";
        let base = tail.map_or(0, |t| t.seq);
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(|e| db_err(op, e))?;
        {
            let (matching, after): (i64, i64) = tx
                .prepare_cached(CHECK_TAIL)
                .and_then(|mut st| {
                    st.query_row(params![base, tail.map_or("", |t| t.hash.as_str())], |r| Ok((r.get(0)?, r.get(1)?)))
                })
                .map_err(|e| db_err(op, e))?;
            if after > 0 || (tail.is_some() && matching == 0) {
                return Err(StoreError::AuditConflict);
            }
            let mut insert = tx
                .prepare_cached(&format!("INSERT INTO audit_log ({RECORD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"))
                .map_err(|e| db_err(op, e))?;
            for (seq, r) in (base + 1..).zip(records) {
                insert
                    .execute(params![
                        seq,
                        r.prev_hash,
                        r.hash,
                        r.time_ms,
                        r.actor,
                        r.action,
                        r.subject,
                        r.owner,
                        r.detail
                    ])
                    .map_err(|e| match db_err(op, e) {
                        e if e.is_unique_violation() => StoreError::AuditConflict,
                        e => e,
                    })?;
            }
            if let Some((name, value)) = mark {
                tx.prepare_cached(crate::settings::UPSERT_SETTING)
                    .and_then(|mut st| st.execute(params![name, value, crate::store::now_ms()]))
                    .map_err(|e| db_err(op, e))?;
            }
        }
        tx.commit().map_err(|e| db_err(op, e))?;
        Ok(new_tail)
    }

    /// Copies the rest of the WAL into the database and has the next commit write the WAL
    /// from its start again (RESTART): called between commits once a [`WalCheckpointer`] has
    /// copied most of it, so it holds the appender only for the remainder and one sync.
    pub fn restart_wal(&mut self) -> Result<WalCheckpoint> {
        let (frames, copied) = checkpoint(&self.conn, "RESTART")?;
        Ok(WalCheckpoint { frames, copied })
    }

    /// Checkpoints inside commits again, as SQLite does by default (every 1000 WAL frames):
    /// for a writer that could not get a [`WalCheckpointer`] thread, so its WAL stays bounded.
    pub fn checkpoint_in_commits(&mut self) -> Result<()> {
        self.conn.pragma_update(None, "wal_autocheckpoint", 1000).map_err(|e| db_err("WAL autocheckpoint", e))
    }

    /// Records a checkpoint on its own; a second one for the same `seq` is ignored.
    pub fn add_checkpoint(&mut self, cp: &StoredCheckpoint) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO audit_checkpoints (seq, hash, time_ms, sig, tree_size, tree_root) \
                 VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (seq) DO NOTHING",
            )
            .and_then(|mut st| st.execute(params![cp.seq, cp.hash, cp.time_ms, cp.sig, cp.tree_size, cp.tree_root]))
            .map(|_| ())
            .map_err(|e| db_err("add audit checkpoint", e))
    }
}
