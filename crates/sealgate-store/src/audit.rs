//! The audit log: storage of a hash chain computed elsewhere.
//!
//! The store does not hash. It guarantees that the chain cannot fork: `seq` is the primary
//! key and an append names the tail it extends, so of two appenders that read the same tail
//! exactly one succeeds and the other gets [`StoreError::AuditConflict`] (re-read, re-hash,
//! retry — [`Store::append_audit_with`] does that loop). It also checks the links it is
//! given (each record's `prev_hash` is the previous record's `hash`).

use crate::error::{Ctx, Result, StoreError};
use crate::store::{BeginWrite, Store, with_pool};

/// The last record of the chain.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditTail {
    /// Its sequence number (1 for the first record).
    pub seq: i64,
    /// Its hash.
    pub hash: String,
}

/// A record to append, already hashed by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditRecord {
    /// Hash of the previous record (the genesis value of the caller's choosing for the first).
    pub prev_hash: String,
    /// This record's hash.
    pub hash: String,
    /// When it happened, ms since the epoch.
    pub time_ms: i64,
    /// Who acted (`user:…`, `role:signer`, …).
    pub actor: String,
    /// What was done (`credential.create`, `sign`, `deny`, …).
    pub action: String,
    /// What it was done to (a credential id, …).
    pub subject: String,
    /// The user the record concerns, for their own trail.
    pub owner: Option<String>,
    /// Details: JSON text, stored byte for byte (the hash covers these bytes).
    pub detail: String,
}

/// A stored record.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditRecord {
    /// Sequence number.
    pub seq: i64,
    /// Previous record's hash.
    pub prev_hash: String,
    /// This record's hash.
    pub hash: String,
    /// When, ms since the epoch.
    pub time_ms: i64,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// To what.
    pub subject: String,
    /// Concerning which user.
    pub owner: Option<String>,
    /// Details (JSON text).
    pub detail: String,
}

/// How often [`Store::append_audit_with`] re-hashes and retries before giving up.
const MAX_APPEND_RETRIES: usize = 1000;

/// Records per INSERT statement (9 parameters each: well under SQLite's and PostgreSQL's
/// limits, and few distinct statements in the prepared-statement cache).
const INSERT_ROWS: usize = 64;

pub(crate) const RECORD_COLUMNS: &str = "seq, prev_hash, hash, time_ms, actor, action, subject, owner, detail";

/// The tail named must still be the tail: its row holds that hash and no row follows.
pub(crate) const CHECK_TAIL: &str = "SELECT \
     (SELECT COUNT(*) FROM audit_log WHERE seq = $1 AND hash = $2), \
     (SELECT COUNT(*) FROM audit_log WHERE seq > $1)";

/// Checks that `records` link to `tail` and to each other and that every detail is JSON;
/// returns the tail the append would make.
pub(crate) fn check_append(tail: Option<&AuditTail>, records: &[NewAuditRecord]) -> Result<AuditTail> {
    let (first, last) = match (records.first(), records.last()) {
        (Some(f), Some(l)) => (f, l),
        _ => return Err(StoreError::Invalid { what: "audit records", reason: "empty" }),
    };
    if tail.is_some_and(|t| first.prev_hash != t.hash) {
        return Err(StoreError::Invalid { what: "audit records", reason: "first prev_hash is not the tail's hash" });
    }
    if records.windows(2).any(|w| w[1].prev_hash != w[0].hash) {
        return Err(StoreError::Invalid { what: "audit records", reason: "prev_hash does not link" });
    }
    if records.iter().any(|r| serde_json::from_str::<serde::de::IgnoredAny>(&r.detail).is_err()) {
        return Err(StoreError::Invalid { what: "audit detail", reason: "not JSON" });
    }
    let count =
        i64::try_from(records.len()).map_err(|_| StoreError::Invalid { what: "audit records", reason: "too many" })?;
    Ok(AuditTail { seq: tail.map_or(0, |t| t.seq) + count, hash: last.hash.clone() })
}

impl Store {
    /// The chain's last record, or `None` while it is empty.
    pub async fn audit_tail(&self) -> Result<Option<AuditTail>> {
        const SQL: &str = "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1";
        with_pool!(self, p => sqlx::query_as::<_, AuditTail>(SQL).fetch_optional(p).await).ctx("audit tail")
    }

    /// Appends `records` after `tail` (the tail the caller hashed against; `None` for an
    /// empty chain) in one transaction, and returns the new tail.
    ///
    /// [`StoreError::AuditConflict`] if the chain's tail is no longer `tail`;
    /// [`StoreError::Invalid`] if the records do not link to `tail` and to each other, or
    /// a `detail` is not JSON.
    pub async fn append_audit(&self, tail: Option<&AuditTail>, records: &[NewAuditRecord]) -> Result<AuditTail> {
        self.append_audit_marked(tail, records, None).await
    }

    /// [`Self::append_audit`], also setting `mark` (a setting's name and value) in the same
    /// transaction: the audit journal's copied position, which must move with the records.
    pub async fn append_audit_marked(
        &self,
        tail: Option<&AuditTail>,
        records: &[NewAuditRecord],
        mark: Option<(&str, &str)>,
    ) -> Result<AuditTail> {
        let new_tail = check_append(tail, records)?;
        let base = tail.map_or(0, |t| t.seq);
        let insert = format!("INSERT INTO audit_log ({RECORD_COLUMNS}) ");
        let tail_hash = tail.map(|t| t.hash.as_str()).unwrap_or("");
        let outcome = with_pool!(self, p => async {
            let mut tx = p.begin_write().await?;
            let (matching, after): (i64, i64) =
                sqlx::query_as(CHECK_TAIL).bind(base).bind(tail_hash).fetch_one(&mut *tx).await?;
            if after > 0 || (tail.is_some() && matching == 0) {
                return Ok(false);
            }
            // Unique `seq`: a concurrent appender that passed the check with the same
            // tail fails here (PostgreSQL waits for the first to commit, then refuses).
            // Multi-row statements: a group commit costs a few round trips, not one per record.
            let mut seq = base;
            for chunk in records.chunks(INSERT_ROWS) {
                let mut q = sqlx::QueryBuilder::new(&insert);
                q.push_values(chunk, |mut row, r| {
                    seq += 1;
                    row.push_bind(seq).push_bind(&r.prev_hash).push_bind(&r.hash).push_bind(r.time_ms)
                        .push_bind(&r.actor).push_bind(&r.action).push_bind(&r.subject)
                        .push_bind(&r.owner).push_bind(&r.detail);
                });
                q.build().execute(&mut *tx).await?;
            }
            if let Some((name, value)) = mark {
                sqlx::query(crate::settings::UPSERT_SETTING).bind(name).bind(value).bind(crate::store::now_ms())
                    .execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(true)
        }.await)
        .ctx("append audit")
        .map_err(|e| if e.is_unique_violation() { StoreError::AuditConflict } else { e })?;
        if !outcome {
            return Err(StoreError::AuditConflict);
        }
        Ok(new_tail)
    }

    /// Reads the tail, asks `build` for records hashed against it, appends them, and on
    /// [`StoreError::AuditConflict`] does it again with the new tail. Group commit: pass
    /// every record waiting to be written as one batch.
    pub async fn append_audit_with<F>(&self, build: F) -> Result<AuditTail>
    where
        F: FnMut(Option<&AuditTail>) -> Vec<NewAuditRecord>,
    {
        self.append_audit_with_mark(build, None).await
    }

    /// [`Self::append_audit_with`] with [`Self::append_audit_marked`]'s `mark`.
    pub async fn append_audit_with_mark<F>(&self, mut build: F, mark: Option<(&str, &str)>) -> Result<AuditTail>
    where
        F: FnMut(Option<&AuditTail>) -> Vec<NewAuditRecord>,
    {
        for _ in 0..MAX_APPEND_RETRIES {
            let tail = self.audit_tail().await?;
            let records = build(tail.as_ref());
            match self.append_audit_marked(tail.as_ref(), &records, mark).await {
                Err(StoreError::AuditConflict) => continue,
                other => return other,
            }
        }
        Err(StoreError::AuditConflict)
    }

    /// Records with `seq > after`, in order, at most `limit` (for `audit verify`).
    pub async fn audit_range(&self, after: i64, limit: u32) -> Result<Vec<AuditRecord>> {
        let sql = format!("SELECT {RECORD_COLUMNS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2");
        with_pool!(self, p => sqlx::query_as::<_, AuditRecord>(&sql).bind(after).bind(i64::from(limit))
            .fetch_all(p).await)
        .ctx("audit range")
    }

    /// The owner's own trail: records concerning them with `seq > after`, at most `limit`.
    pub async fn audit_for_owner(&self, owner: &str, after: i64, limit: u32) -> Result<Vec<AuditRecord>> {
        let sql = format!("SELECT {RECORD_COLUMNS} FROM audit_log WHERE owner = $1 AND seq > $2 ORDER BY seq LIMIT $3");
        with_pool!(self, p => sqlx::query_as::<_, AuditRecord>(&sql).bind(owner).bind(after)
            .bind(i64::from(limit)).fetch_all(p).await)
        .ctx("audit for owner")
    }
}
