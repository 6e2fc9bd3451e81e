//! Per-credential nonces, strictly increasing across every process and connection. A
//! credential is (owner, id): two users' credentials with the same id never share a nonce
//! or a lock.

use crate::error::{Ctx, Result, StoreError};
use crate::store::{Db, Store};

impl Store {
    /// The next nonce for a credential: `max(last + 1, floor)`, recorded as the new last.
    ///
    /// One atomic statement (`INSERT … ON CONFLICT DO UPDATE … RETURNING`): the row lock
    /// (PostgreSQL) or the write lock (SQLite) orders concurrent callers, so across every
    /// signer instance each call gets a value strictly greater than every value returned
    /// before it for that credential. `floor` lets a caller keep nonces near a clock
    /// (Kraken-style `ms` or `µs` timestamps) without ever going backwards. Values are
    /// bounded by `i64::MAX` (the column type on both databases).
    pub async fn next_nonce(&self, owner: &str, credential_id: &str, floor: u64) -> Result<u64> {
        const SQLITE: &str = "INSERT INTO nonces (owner, credential_id, last) VALUES ($1, $2, $3) \
             ON CONFLICT (owner, credential_id) DO UPDATE SET last = MAX(nonces.last + 1, excluded.last) \
             RETURNING last";
        const POSTGRES: &str = "INSERT INTO nonces (owner, credential_id, last) VALUES ($1, $2, $3) \
             ON CONFLICT (owner, credential_id) DO UPDATE SET last = GREATEST(nonces.last + 1, excluded.last) \
             RETURNING last";
        let floor =
            i64::try_from(floor).map_err(|_| StoreError::Invalid { what: "floor", reason: "above i64::MAX" })?;
        let last: i64 = match &self.db {
            Db::Sqlite(p) => sqlx::query_scalar(SQLITE).bind(owner).bind(credential_id).bind(floor).fetch_one(p).await,
            Db::Postgres(p) => {
                sqlx::query_scalar(POSTGRES).bind(owner).bind(credential_id).bind(floor).fetch_one(p).await
            }
        }
        .ctx("next nonce")
        .map_err(|e| match e {
            StoreError::Database { kind: crate::DbErrorKind::ForeignKeyViolation, .. } => {
                StoreError::NotFound { what: "credential" }
            }
            // last + 1 overflowed the column.
            StoreError::Database { .. } if floor == i64::MAX => {
                StoreError::Invalid { what: "nonce", reason: "exhausted" }
            }
            e => e,
        })?;
        u64::try_from(last).map_err(|_| StoreError::Internal { op: "next nonce", cause: "negative nonce" })
    }
}

/// Holds the per-credential nonce lock across signer processes while a
/// request signed with a nonce travels to the exchange: exchanges such as
/// Kraken refuse a nonce lower than one they have already seen, so the
/// reservation and the send must not interleave with another signer's.
///
/// PostgreSQL: a transaction-scoped advisory lock on the credential, held by
/// one pooled connection until the guard is dropped (the transaction rolls
/// back, which releases it; it wrote nothing). SQLite is one host and, for
/// this guarantee, one process: a process-wide lock per credential.
pub struct NonceGuard {
    _tx: Option<sqlx::Transaction<'static, sqlx::Postgres>>,
    _local: Option<tokio::sync::OwnedMutexGuard<()>>,
}

type LocalLocks = std::sync::Mutex<std::collections::HashMap<(String, String), std::sync::Arc<tokio::sync::Mutex<()>>>>;
static LOCAL_LOCKS: std::sync::LazyLock<LocalLocks> = std::sync::LazyLock::new(Default::default);

fn local_lock(owner: &str, credential_id: &str) -> std::sync::Arc<tokio::sync::Mutex<()>> {
    let mut locks = LOCAL_LOCKS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    // Forget locks nobody holds, so the map stays as small as the set of busy credentials.
    if locks.len() > 1024 {
        locks.retain(|_, l| std::sync::Arc::strong_count(l) > 1);
    }
    locks.entry((owner.to_owned(), credential_id.to_owned())).or_default().clone()
}

impl std::fmt::Debug for NonceGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NonceGuard")
    }
}

impl Store {
    /// Takes the cross-process nonce lock of the owner's credential (see [`NonceGuard`]).
    pub async fn nonce_guard(&self, owner: &str, credential_id: &str) -> Result<NonceGuard> {
        // In-process first: then at most one connection per credential and process waits on
        // the advisory lock, and the pool cannot be drained by waiters.
        let local = local_lock(owner, credential_id).lock_owned().await;
        match &self.db {
            Db::Sqlite(_) => Ok(NonceGuard { _tx: None, _local: Some(local) }),
            Db::Postgres(p) => {
                let mut tx = p.begin().await.ctx("nonce guard")?;
                // A holder that vanishes (host down, network split) must not block the fleet
                // for TCP keepalive's two hours: the server ends an idle transaction after
                // 30 s, and a waiter gives up after 20 s (the request fails, transiently).
                sqlx::query("SET LOCAL idle_in_transaction_session_timeout = '30s'")
                    .execute(&mut *tx)
                    .await
                    .ctx("nonce guard")?;
                sqlx::query("SET LOCAL lock_timeout = '20s'").execute(&mut *tx).await.ctx("nonce guard")?;
                // One key per (owner, id): the id has no `/` (the one id rule), so
                // "id/owner" names exactly one pair. A hash collision only serialises two
                // credentials' sends; it never shares a nonce.
                sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 7))")
                    .bind(format!("{credential_id}/{owner}"))
                    .execute(&mut *tx)
                    .await
                    .ctx("nonce guard")?;
                Ok(NonceGuard { _tx: Some(tx), _local: Some(local) })
            }
        }
    }
}
