//! What keeps a portfolio current: the credentials a scheduler refreshes, jobs queued
//! only when none is pending (safe with several importer processes on one database),
//! and where an incremental import starts (the newest stored trades).

use std::time::Duration;

use crate::error::{Ctx, Result, StoreError};
use crate::store::{BeginWrite, Db, Store, millis, now_postgres, now_sqlite, with_pool};

/// The newest stored trade of one symbol of a credential (ties on time: each of them).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TradeMark {
    /// The exchange's symbol.
    pub symbol: String,
    /// The stored trade id (Binance: `SYMBOL-id`).
    pub exchange_trade_id: String,
    /// Its execution time, ms.
    pub time_ms: i64,
}

/// A credential the scheduler refreshes.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RefreshTarget {
    /// Its owner.
    pub owner: String,
    /// Its id (the owner's).
    pub credential_id: String,
}

/// Inserts the job unless the credential has a queued or running job, or a job of this
/// kind whose run time is within `$6` ms before this one's (the same schedule slot, queued
/// by another process or already run).
macro_rules! enqueue_unless_sql {
    ($now:expr) => {
        concat!(
            "INSERT INTO import_jobs (owner, credential_id, kind, state, attempts, max_attempts, \
               run_after_ms, created_ms, updated_ms) \
             SELECT $1, $2, $3, 'queued', 0, $4, ",
            $now,
            " + $5, ",
            $now,
            ", ",
            $now,
            " WHERE NOT EXISTS (SELECT 1 FROM import_jobs j WHERE j.owner = $1 AND j.credential_id = $2 \
               AND (j.state IN ('queued', 'running') OR (j.kind = $3 AND j.run_after_ms > ",
            $now,
            " + $5 - $6))) \
             RETURNING id"
        )
    };
}

/// Brings a queued job of this kind forward to now; returns its id.
macro_rules! hasten_sql {
    ($now:expr) => {
        concat!(
            "UPDATE import_jobs SET run_after_ms = ",
            $now,
            ", updated_ms = ",
            $now,
            " WHERE id = (SELECT id FROM import_jobs WHERE owner = $1 AND credential_id = $2 AND kind = $3 \
               AND state = 'queued' ORDER BY id LIMIT 1) RETURNING id"
        )
    };
}

/// The key serialising every queue decision about one credential across processes.
const LOCK_SQL: &str = "SELECT pg_advisory_xact_lock(hashtextextended($1 || '/' || $2, 7351))";

impl Store {
    /// Service side (scheduler): the active credentials sealed to the importer, by owner and id.
    pub async fn refresh_targets(&self) -> Result<Vec<RefreshTarget>> {
        const SQL: &str = "SELECT c.owner, c.id AS credential_id FROM credentials c \
             WHERE c.status = 'active' AND EXISTS (SELECT 1 FROM envelopes e \
               WHERE e.owner = c.owner AND e.credential_id = c.id AND e.role = 'importer') \
             ORDER BY c.owner, c.id";
        with_pool!(self, p => sqlx::query_as::<_, RefreshTarget>(SQL).fetch_all(p).await).ctx("refresh targets")
    }

    /// Queues a `kind` job for the credential, claimable after `delay`, unless it has a
    /// queued or running job, or already has a `kind` job due less than `slot` before this
    /// one (a schedule's period: another process queued this slot, or it ran). `Some(id)`
    /// if queued. Atomic across processes: PostgreSQL takes a transaction-scoped advisory
    /// lock on the credential, SQLite a write transaction.
    pub async fn enqueue_unless_pending(
        &self,
        owner: &str,
        credential_id: &str,
        kind: &str,
        max_attempts: u32,
        delay: Duration,
        slot: Duration,
    ) -> Result<Option<i64>> {
        if max_attempts == 0 {
            return Err(StoreError::Invalid { what: "max_attempts", reason: "must be at least 1" });
        }
        let (delay, slot) = (millis("delay", delay)?, millis("slot", slot)?);
        let attempts = i64::from(max_attempts);
        match &self.db {
            Db::Sqlite(p) => {
                async {
                    let mut tx = p.begin_write().await?;
                    let id = sqlx::query_scalar(enqueue_unless_sql!(now_sqlite!()))
                        .bind(owner)
                        .bind(credential_id)
                        .bind(kind)
                        .bind(attempts)
                        .bind(delay)
                        .bind(slot)
                        .fetch_optional(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(id)
                }
                .await
            }
            Db::Postgres(p) => {
                async {
                    let mut tx = p.begin_write().await?;
                    sqlx::query(LOCK_SQL).bind(owner).bind(credential_id).execute(&mut *tx).await?;
                    let id = sqlx::query_scalar(enqueue_unless_sql!(now_postgres!()))
                        .bind(owner)
                        .bind(credential_id)
                        .bind(kind)
                        .bind(attempts)
                        .bind(delay)
                        .bind(slot)
                        .fetch_optional(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(id)
                }
                .await
            }
        }
        .ctx("enqueue unless pending")
        .map_err(|e| if e.is_foreign_key_violation() { StoreError::NotFound { what: "credential" } } else { e })
    }

    /// A `kind` job for the credential, runnable now: a queued one of that kind is brought
    /// forward, otherwise one is queued unless a job is queued or running (a running one
    /// may have read the history before the newest trade: one more is queued after it).
    /// Returns the job's id, or `None` if a job of another kind is queued (it covers this).
    pub async fn enqueue_now(
        &self,
        owner: &str,
        credential_id: &str,
        kind: &str,
        max_attempts: u32,
    ) -> Result<Option<i64>> {
        if max_attempts == 0 {
            return Err(StoreError::Invalid { what: "max_attempts", reason: "must be at least 1" });
        }
        let attempts = i64::from(max_attempts);
        // Only a queued job makes a new one needless: it has not read the history yet.
        const QUEUED_SQL: &str = "SELECT COUNT(*) FROM import_jobs WHERE owner = $1 AND credential_id = $2 \
             AND state = 'queued'";
        macro_rules! insert_sql {
            ($now:expr) => {
                concat!(
                    "INSERT INTO import_jobs (owner, credential_id, kind, state, attempts, max_attempts, \
                       run_after_ms, created_ms, updated_ms) VALUES ($1, $2, $3, 'queued', 0, $4, ",
                    $now,
                    ", ",
                    $now,
                    ", ",
                    $now,
                    ") RETURNING id"
                )
            };
        }
        macro_rules! body {
            ($tx:ident, $now:expr) => {{
                if let Some(id) = sqlx::query_scalar::<_, i64>(hasten_sql!($now))
                    .bind(owner)
                    .bind(credential_id)
                    .bind(kind)
                    .fetch_optional(&mut *$tx)
                    .await?
                {
                    Some(id)
                } else if sqlx::query_scalar::<_, i64>(QUEUED_SQL)
                    .bind(owner)
                    .bind(credential_id)
                    .fetch_one(&mut *$tx)
                    .await?
                    > 0
                {
                    None
                } else {
                    Some(
                        sqlx::query_scalar::<_, i64>(insert_sql!($now))
                            .bind(owner)
                            .bind(credential_id)
                            .bind(kind)
                            .bind(attempts)
                            .fetch_one(&mut *$tx)
                            .await?,
                    )
                }
            }};
        }
        match &self.db {
            Db::Sqlite(p) => {
                async {
                    let mut tx = p.begin_write().await?;
                    let id = body!(tx, now_sqlite!());
                    tx.commit().await?;
                    Ok(id)
                }
                .await
            }
            Db::Postgres(p) => {
                async {
                    let mut tx = p.begin_write().await?;
                    sqlx::query(LOCK_SQL).bind(owner).bind(credential_id).execute(&mut *tx).await?;
                    let id = body!(tx, now_postgres!());
                    tx.commit().await?;
                    Ok(id)
                }
                .await
            }
        }
        .ctx("enqueue now")
        .map_err(|e| if e.is_foreign_key_violation() { StoreError::NotFound { what: "credential" } } else { e })
    }

    /// Where an incremental import of the credential starts: per symbol, its trades at the
    /// newest stored time (several on a tie). Binance numbers trades per symbol in time
    /// order, so its largest stored id per symbol is among them.
    pub async fn trade_marks(&self, owner: &str, credential_id: &str) -> Result<Vec<TradeMark>> {
        const SQL: &str = "SELECT t.symbol, t.exchange_trade_id, t.time_ms FROM trades t \
             WHERE t.owner = $1 AND t.credential_id = $2 AND t.time_ms = (SELECT MAX(u.time_ms) FROM trades u \
               WHERE u.owner = t.owner AND u.credential_id = t.credential_id AND u.symbol = t.symbol) \
             ORDER BY t.symbol, t.exchange_trade_id";
        with_pool!(self, p => sqlx::query_as::<_, TradeMark>(SQL).bind(owner).bind(credential_id).fetch_all(p).await)
            .ctx("trade marks")
    }
}
