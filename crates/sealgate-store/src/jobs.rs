//! The import job queue: claim with a lease, complete or fail with backoff, resume from a
//! cursor, and re-claim the jobs of a worker that died.
//!
//! Time is the database clock (one clock for all workers). A claim increments `attempts`
//! and that value fences the claim: `complete`, `fail` and `checkpoint` only act while the
//! job is still `running` under the same worker *and* attempt, so a worker whose lease
//! expired and whose job was re-claimed gets [`StoreError::LeaseLost`] and must drop its
//! result. Work must be idempotent (trades upsert by exchange trade id) because a job can
//! run again after a lost lease.

use std::time::Duration;

use crate::error::{Ctx, Result, StoreError, UnknownValue};
use crate::store::{BeginWrite, Db, Store, millis, now_postgres, now_sqlite, with_pool};

/// State of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum JobState {
    /// Waiting for `run_after`.
    Queued,
    /// Claimed by a worker until its lease ends.
    Running,
    /// Finished.
    Done,
    /// Gave up after `max_attempts`.
    Failed,
}

impl TryFrom<String> for JobState {
    type Error = UnknownValue;
    fn try_from(s: String) -> std::result::Result<Self, UnknownValue> {
        match s.as_str() {
            "queued" => Ok(JobState::Queued),
            "running" => Ok(JobState::Running),
            "done" => Ok(JobState::Done),
            "failed" => Ok(JobState::Failed),
            _ => Err(UnknownValue("job state")),
        }
    }
}

/// A job this worker has claimed: the handle to complete, fail or checkpoint it with.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ClaimedJob {
    /// Job id.
    pub id: i64,
    /// The credential's owner.
    pub owner: String,
    /// The credential to import (the owner's).
    pub credential_id: String,
    /// What to import (`full`, `trades`, …).
    pub kind: String,
    /// This attempt's number (1 for the first); fences the claim.
    pub attempts: i64,
    /// Attempts allowed in all.
    pub max_attempts: i64,
    /// Where a previous attempt got to, if it checkpointed.
    pub cursor: Option<String>,
    /// The worker id that holds the lease.
    pub locked_by: String,
    /// When the lease ends (database clock, ms since the epoch).
    pub locked_until_ms: i64,
}

/// A job as stored (for inspection and operators).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Job {
    /// Job id.
    pub id: i64,
    /// The credential's owner.
    pub owner: String,
    /// The credential.
    pub credential_id: String,
    /// What to import.
    pub kind: String,
    /// State.
    #[sqlx(try_from = "String")]
    pub state: JobState,
    /// Attempts so far.
    pub attempts: i64,
    /// Attempts allowed.
    pub max_attempts: i64,
    /// Not claimable before this (database clock, ms).
    pub run_after_ms: i64,
    /// Resume point.
    pub cursor: Option<String>,
    /// Lease holder.
    pub locked_by: Option<String>,
    /// Lease end.
    pub locked_until_ms: Option<i64>,
    /// The last failure's message, as the worker gave it.
    pub last_error: Option<String>,
}

/// Import progress of one credential, for the portfolio view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportSummary {
    /// The credential.
    pub credential_id: String,
    /// Its exchange.
    pub exchange: String,
    /// The state of its most recent job, if it ever had one.
    pub state: Option<JobState>,
    /// Trades stored for it.
    pub trades: i64,
    /// When its last job finished (`done`), database clock ms.
    pub last_done_ms: Option<i64>,
    /// Its most recent job's id.
    pub job_id: Option<i64>,
    /// Its most recent job's last failure, as the worker gave it.
    pub last_error: Option<String>,
}

#[derive(sqlx::FromRow)]
struct SummaryRow {
    credential_id: String,
    exchange: String,
    state: Option<String>,
    trades: i64,
    last_done_ms: Option<i64>,
    job_id: Option<i64>,
    last_error: Option<String>,
}

/// What [`Store::retry_job`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetryOutcome {
    /// The job is queued again, runnable now, with a fresh attempt budget and its cursor kept.
    Queued(Job),
    /// The job is in a state a retry does not apply to (`running`, `done`).
    NotRetryable(JobState),
}

/// Bound on `last_error`, which workers fill: it must stay a short reason.
const MAX_ERROR_LEN: usize = 500;

macro_rules! claim_sql {
    ($now:expr, $skip_locked:expr) => {
        concat!(
            "UPDATE import_jobs SET state = 'running', attempts = attempts + 1, locked_by = $1, \
             locked_until_ms = ",
            $now,
            " + $2, updated_ms = ",
            $now,
            " \
             WHERE id = (SELECT id FROM import_jobs \
               WHERE (state = 'queued' AND run_after_ms <= ",
            $now,
            ") \
                  OR (state = 'running' AND locked_until_ms < ",
            $now,
            " AND attempts < max_attempts) \
               ORDER BY run_after_ms, id LIMIT 1",
            $skip_locked,
            ") \
             RETURNING id, owner, credential_id, kind, attempts, max_attempts, cursor, locked_by, locked_until_ms"
        )
    };
}

macro_rules! sweep_sql {
    ($now:expr, $skip_locked:expr) => {
        concat!(
            "UPDATE import_jobs SET state = 'failed', locked_by = NULL, locked_until_ms = NULL, \
             last_error = 'lease expired on the last attempt', updated_ms = ",
            $now,
            " \
             WHERE id IN (SELECT id FROM import_jobs WHERE state = 'running' \
               AND locked_until_ms < ",
            $now,
            " AND attempts >= max_attempts",
            $skip_locked,
            ")"
        )
    };
}

macro_rules! fail_sql {
    ($now:expr) => {
        concat!(
            "UPDATE import_jobs SET \
               state = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'queued' END, \
               run_after_ms = ",
            $now,
            " + $4, locked_by = NULL, locked_until_ms = NULL, \
               last_error = $5, updated_ms = ",
            $now,
            " \
             WHERE id = $1 AND locked_by = $2 AND attempts = $3 AND state = 'running' \
             RETURNING state"
        )
    };
}

macro_rules! checkpoint_sql {
    ($now:expr) => {
        concat!(
            "UPDATE import_jobs SET cursor = COALESCE($4, cursor), locked_until_ms = ",
            $now,
            " + $5, \
             updated_ms = ",
            $now,
            " \
             WHERE id = $1 AND locked_by = $2 AND attempts = $3 AND state = 'running' \
             RETURNING locked_until_ms"
        )
    };
}

macro_rules! give_up_sql {
    ($now:expr) => {
        concat!(
            "UPDATE import_jobs SET state = 'failed', locked_by = NULL, locked_until_ms = NULL, \
               last_error = $4, updated_ms = ",
            $now,
            " \
             WHERE id = $1 AND locked_by = $2 AND attempts = $3 AND state = 'running'"
        )
    };
}

macro_rules! complete_sql {
    ($now:expr) => {
        concat!(
            "UPDATE import_jobs SET state = 'done', locked_by = NULL, locked_until_ms = NULL, \
             last_error = NULL, updated_ms = ",
            $now,
            " \
             WHERE id = $1 AND locked_by = $2 AND attempts = $3 AND state = 'running'"
        )
    };
}

macro_rules! retry_sql {
    ($now:expr) => {
        concat!(
            "UPDATE import_jobs SET state = 'queued', max_attempts = attempts + $3, run_after_ms = ",
            $now,
            ", \
               locked_by = NULL, locked_until_ms = NULL, last_error = NULL, updated_ms = ",
            $now,
            " \
             WHERE id = $1 AND owner = $2 AND state IN ('failed', 'queued') \
             RETURNING id, owner, credential_id, kind, state, attempts, max_attempts, run_after_ms, \
               cursor, locked_by, locked_until_ms, last_error"
        )
    };
}

macro_rules! enqueue_sql {
    ($now:expr) => {
        concat!(
            "INSERT INTO import_jobs (owner, credential_id, kind, state, attempts, max_attempts, \
               run_after_ms, created_ms, updated_ms) \
             VALUES ($1, $2, $3, 'queued', 0, $4, ",
            $now,
            " + $5, ",
            $now,
            ", ",
            $now,
            ") RETURNING id"
        )
    };
}

impl Store {
    /// Queues a job for the owner's credential, claimable after `delay`; returns its id.
    pub async fn enqueue(
        &self,
        owner: &str,
        credential_id: &str,
        kind: &str,
        max_attempts: u32,
        delay: Duration,
    ) -> Result<i64> {
        if max_attempts == 0 {
            return Err(StoreError::Invalid { what: "max_attempts", reason: "must be at least 1" });
        }
        let delay = millis("delay", delay)?;
        let (sqlite, postgres) = (enqueue_sql!(now_sqlite!()), enqueue_sql!(now_postgres!()));
        match &self.db {
            Db::Sqlite(p) => {
                sqlx::query_scalar(sqlite)
                    .bind(owner)
                    .bind(credential_id)
                    .bind(kind)
                    .bind(i64::from(max_attempts))
                    .bind(delay)
                    .fetch_one(p)
                    .await
            }
            Db::Postgres(p) => {
                sqlx::query_scalar(postgres)
                    .bind(owner)
                    .bind(credential_id)
                    .bind(kind)
                    .bind(i64::from(max_attempts))
                    .bind(delay)
                    .fetch_one(p)
                    .await
            }
        }
        .ctx("enqueue")
        .map_err(|e| if e.is_foreign_key_violation() { StoreError::NotFound { what: "credential" } } else { e })
    }

    /// Claims the oldest runnable job for `worker_id` for `lease`: a queued job whose
    /// `run_after` has passed, or a running job whose lease expired (its worker died).
    /// Jobs whose lease expired on their last attempt are marked failed first.
    ///
    /// PostgreSQL: `SELECT … FOR UPDATE SKIP LOCKED` inside the `UPDATE`, so concurrent
    /// workers never wait on or take the same row. SQLite: the same single
    /// `UPDATE … RETURNING` inside a `BEGIN IMMEDIATE` transaction (one writer at a time).
    pub async fn claim(&self, worker_id: &str, lease: Duration) -> Result<Option<ClaimedJob>> {
        let lease = millis("lease", lease)?;
        match &self.db {
            Db::Sqlite(p) => {
                async {
                    let mut tx = p.begin_write().await?;
                    sqlx::query(sweep_sql!(now_sqlite!(), "")).execute(&mut *tx).await?;
                    let job = sqlx::query_as::<_, ClaimedJob>(claim_sql!(now_sqlite!(), ""))
                        .bind(worker_id)
                        .bind(lease)
                        .fetch_optional(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(job)
                }
                .await
            }
            Db::Postgres(p) => {
                async {
                    // Two autocommit statements: each is atomic on its own, and neither needs
                    // the other's effects to be correct.
                    sqlx::query(sweep_sql!(now_postgres!(), " FOR UPDATE SKIP LOCKED")).execute(p).await?;
                    sqlx::query_as::<_, ClaimedJob>(claim_sql!(now_postgres!(), " FOR UPDATE SKIP LOCKED"))
                        .bind(worker_id)
                        .bind(lease)
                        .fetch_optional(p)
                        .await
                }
                .await
            }
        }
        .ctx("claim")
    }

    /// Saves a resume point (if `cursor` is given) and extends the lease by `lease` from
    /// now. Returns the new lease end; [`StoreError::LeaseLost`] if the job is not ours.
    pub async fn checkpoint(&self, job: &ClaimedJob, cursor: Option<&str>, lease: Duration) -> Result<i64> {
        let lease = millis("lease", lease)?;
        let until: Option<i64> = match &self.db {
            Db::Sqlite(p) => {
                sqlx::query_scalar(checkpoint_sql!(now_sqlite!()))
                    .bind(job.id)
                    .bind(&job.locked_by)
                    .bind(job.attempts)
                    .bind(cursor)
                    .bind(lease)
                    .fetch_optional(p)
                    .await
            }
            Db::Postgres(p) => {
                sqlx::query_scalar(checkpoint_sql!(now_postgres!()))
                    .bind(job.id)
                    .bind(&job.locked_by)
                    .bind(job.attempts)
                    .bind(cursor)
                    .bind(lease)
                    .fetch_optional(p)
                    .await
            }
        }
        .ctx("checkpoint")?;
        until.ok_or(StoreError::LeaseLost)
    }

    /// Marks a claimed job done (an earlier attempt's error is cleared: it no longer
    /// describes the job); [`StoreError::LeaseLost`] if it is no longer ours.
    pub async fn complete(&self, job: &ClaimedJob) -> Result<()> {
        let n = match &self.db {
            Db::Sqlite(p) => sqlx::query(complete_sql!(now_sqlite!()))
                .bind(job.id)
                .bind(&job.locked_by)
                .bind(job.attempts)
                .execute(p)
                .await
                .map(|r| r.rows_affected()),
            Db::Postgres(p) => sqlx::query(complete_sql!(now_postgres!()))
                .bind(job.id)
                .bind(&job.locked_by)
                .bind(job.attempts)
                .execute(p)
                .await
                .map(|r| r.rows_affected()),
        }
        .ctx("complete")?;
        if n == 0 { Err(StoreError::LeaseLost) } else { Ok(()) }
    }

    /// Records a failed attempt: the job is queued again after `backoff`, or marked failed
    /// if it used its last attempt. `error` is a short reason for operators (truncated to
    /// 500 bytes); never put an exchange response or request in it. Returns the new state.
    pub async fn fail(&self, job: &ClaimedJob, error: &str, backoff: Duration) -> Result<JobState> {
        let backoff = millis("backoff", backoff)?;
        let mut end = error.len().min(MAX_ERROR_LEN);
        while !error.is_char_boundary(end) {
            end -= 1;
        }
        let error = &error[..end];
        let state: Option<String> = match &self.db {
            Db::Sqlite(p) => {
                sqlx::query_scalar(fail_sql!(now_sqlite!()))
                    .bind(job.id)
                    .bind(&job.locked_by)
                    .bind(job.attempts)
                    .bind(backoff)
                    .bind(error)
                    .fetch_optional(p)
                    .await
            }
            Db::Postgres(p) => {
                sqlx::query_scalar(fail_sql!(now_postgres!()))
                    .bind(job.id)
                    .bind(&job.locked_by)
                    .bind(job.attempts)
                    .bind(backoff)
                    .bind(error)
                    .fetch_optional(p)
                    .await
            }
        }
        .ctx("fail")?;
        let state = state.ok_or(StoreError::LeaseLost)?;
        JobState::try_from(state).map_err(|_| StoreError::Internal { op: "fail", cause: "job state" })
    }

    /// Records a failure no retry can fix (the credential is gone, the exchange refused
    /// the key): the job is marked failed now, whatever attempts it has left. `error` as
    /// for [`Store::fail`]. [`StoreError::LeaseLost`] if the job is no longer ours.
    pub async fn give_up(&self, job: &ClaimedJob, error: &str) -> Result<()> {
        let mut end = error.len().min(MAX_ERROR_LEN);
        while !error.is_char_boundary(end) {
            end -= 1;
        }
        let error = &error[..end];
        let n = match &self.db {
            Db::Sqlite(p) => sqlx::query(give_up_sql!(now_sqlite!()))
                .bind(job.id)
                .bind(&job.locked_by)
                .bind(job.attempts)
                .bind(error)
                .execute(p)
                .await
                .map(|r| r.rows_affected()),
            Db::Postgres(p) => sqlx::query(give_up_sql!(now_postgres!()))
                .bind(job.id)
                .bind(&job.locked_by)
                .bind(job.attempts)
                .bind(error)
                .execute(p)
                .await
                .map(|r| r.rows_affected()),
        }
        .ctx("give up")?;
        if n == 0 { Err(StoreError::LeaseLost) } else { Ok(()) }
    }

    /// The owner retries one of their jobs: a `failed` one, or a `queued` one waiting out
    /// a backoff. It becomes `queued`, runnable now, with a fresh budget of `attempts`
    /// attempts and its last error cleared; its cursor stays, so the import resumes where
    /// it got to (trades upsert by exchange trade id: nothing is stored twice). The attempt
    /// counter itself keeps counting: it fences claims, and a worker still holding a claim
    /// from before the retry must not match a new one. `None` if the owner has no such
    /// job (another user's job is not theirs).
    pub async fn retry_job(&self, owner: &str, id: i64, attempts: u32) -> Result<Option<RetryOutcome>> {
        if attempts == 0 {
            return Err(StoreError::Invalid { what: "attempts", reason: "must be at least 1" });
        }
        let (sqlite, postgres) = (retry_sql!(now_sqlite!()), retry_sql!(now_postgres!()));
        let budget = i64::from(attempts);
        let retried: Option<Job> = match &self.db {
            Db::Sqlite(p) => sqlx::query_as::<_, Job>(sqlite).bind(id).bind(owner).bind(budget).fetch_optional(p).await,
            Db::Postgres(p) => {
                sqlx::query_as::<_, Job>(postgres).bind(id).bind(owner).bind(budget).fetch_optional(p).await
            }
        }
        .ctx("retry job")?;
        if let Some(job) = retried {
            return Ok(Some(RetryOutcome::Queued(job)));
        }
        Ok(self.owner_job(owner, id).await?.map(|j| RetryOutcome::NotRetryable(j.state)))
    }

    /// One of the owner's jobs (another user's is `None`).
    pub async fn owner_job(&self, owner: &str, id: i64) -> Result<Option<Job>> {
        const SQL: &str = "SELECT id, owner, credential_id, kind, state, attempts, max_attempts, run_after_ms, \
             cursor, locked_by, locked_until_ms, last_error FROM import_jobs WHERE id = $1 AND owner = $2";
        with_pool!(self, p => sqlx::query_as::<_, Job>(SQL).bind(id).bind(owner).fetch_optional(p).await)
            .ctx("get owner job")
    }

    /// The owner's jobs, newest first, at most `limit`.
    pub async fn owner_jobs(&self, owner: &str, limit: u32) -> Result<Vec<Job>> {
        const SQL: &str = "SELECT id, owner, credential_id, kind, state, attempts, max_attempts, run_after_ms, \
             cursor, locked_by, locked_until_ms, last_error FROM import_jobs WHERE owner = $1 \
             ORDER BY id DESC LIMIT $2";
        with_pool!(self, p => sqlx::query_as::<_, Job>(SQL).bind(owner).bind(i64::from(limit)).fetch_all(p).await)
            .ctx("owner jobs")
    }

    /// Service side (importer): the credential a job names (its owner's), whatever its
    /// status (the worker checks it is still active).
    pub async fn job_credential(&self, owner: &str, credential_id: &str) -> Result<Option<crate::Credential>> {
        const SQL: &str = "SELECT id, owner, exchange, label, hint, scope, status, created_ms, last_used_ms \
             FROM credentials WHERE id = $1 AND owner = $2";
        with_pool!(self, p => sqlx::query_as::<_, crate::Credential>(SQL).bind(credential_id).bind(owner)
            .fetch_optional(p).await)
        .ctx("job credential")
    }

    /// Import progress of each of the owner's credentials that are not deleted, by id:
    /// the latest job's state, the trades stored, and when an import last finished.
    pub async fn import_summaries(&self, owner: &str) -> Result<Vec<ImportSummary>> {
        const SQL: &str = "SELECT c.id AS credential_id, c.exchange, \
               (SELECT j.state FROM import_jobs j WHERE j.owner = c.owner AND j.credential_id = c.id \
                 ORDER BY j.id DESC LIMIT 1) AS state, \
               (SELECT COUNT(*) FROM trades t WHERE t.owner = c.owner AND t.credential_id = c.id) AS trades, \
               (SELECT MAX(j.updated_ms) FROM import_jobs j WHERE j.owner = c.owner AND j.credential_id = c.id \
                 AND j.state = 'done') AS last_done_ms, \
               (SELECT j.id FROM import_jobs j WHERE j.owner = c.owner AND j.credential_id = c.id \
                 ORDER BY j.id DESC LIMIT 1) AS job_id, \
               (SELECT j.last_error FROM import_jobs j WHERE j.owner = c.owner AND j.credential_id = c.id \
                 ORDER BY j.id DESC LIMIT 1) AS last_error \
             FROM credentials c WHERE c.owner = $1 AND c.status <> 'deleted' ORDER BY c.id";
        let rows = with_pool!(self, p => sqlx::query_as::<_, SummaryRow>(SQL).bind(owner).fetch_all(p).await)
            .ctx("import summaries")?;
        rows.into_iter()
            .map(|r| {
                let state = r
                    .state
                    .map(JobState::try_from)
                    .transpose()
                    .map_err(|_| StoreError::Internal { op: "import summaries", cause: "job state" })?;
                Ok(ImportSummary {
                    credential_id: r.credential_id,
                    exchange: r.exchange,
                    state,
                    trades: r.trades,
                    last_done_ms: r.last_done_ms,
                    job_id: r.job_id,
                    last_error: r.last_error,
                })
            })
            .collect()
    }

    /// A job as stored.
    pub async fn job(&self, id: i64) -> Result<Option<Job>> {
        const SQL: &str = "SELECT id, owner, credential_id, kind, state, attempts, max_attempts, run_after_ms, \
             cursor, locked_by, locked_until_ms, last_error FROM import_jobs WHERE id = $1";
        with_pool!(self, p => sqlx::query_as::<_, Job>(SQL).bind(id).fetch_optional(p).await).ctx("get job")
    }

    /// How many jobs are in each state: (queued, running, done, failed).
    pub async fn job_counts(&self) -> Result<(i64, i64, i64, i64)> {
        const SQL: &str = "SELECT \
             COALESCE(SUM(CASE WHEN state = 'queued' THEN 1 ELSE 0 END), 0), \
             COALESCE(SUM(CASE WHEN state = 'running' THEN 1 ELSE 0 END), 0), \
             COALESCE(SUM(CASE WHEN state = 'done' THEN 1 ELSE 0 END), 0), \
             COALESCE(SUM(CASE WHEN state = 'failed' THEN 1 ELSE 0 END), 0) FROM import_jobs";
        with_pool!(self, p => sqlx::query_as::<_, (i64, i64, i64, i64)>(SQL).fetch_one(p).await).ctx("job counts")
    }
}
