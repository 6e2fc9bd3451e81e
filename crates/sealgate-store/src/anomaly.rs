//! Anomaly detection's rows (migration 0012): each credential's baseline, and the owner's
//! overrides of the detectors' thresholds. Both are JSON the `sealgate-anomaly` crate reads
//! and checks; the store keeps them whole.

use crate::error::{Ctx, Result, StoreError};
use crate::store::{BeginWrite as _, Store, now_ms, with_pool};

/// Largest baseline or overrides text stored (the anomaly crate's own bounds are lower).
const MAX_TEXT: usize = 256 * 1024;

/// Stores a credential's baseline, if the credential is the owner's ($1 owner, $2 id, $3
/// baseline, $4 time).
const UPSERT_BASELINE: &str = "INSERT INTO anomaly_baselines (owner, credential_id, baseline, updated_ms) \
     SELECT owner, id, $3, $4 FROM credentials WHERE owner = $1 AND id = $2 \
     ON CONFLICT (owner, credential_id) DO UPDATE SET baseline = excluded.baseline, \
     updated_ms = excluded.updated_ms";

impl Store {
    /// The stored baseline of the owner's credential, if any.
    pub async fn anomaly_baseline(&self, owner: &str, credential_id: &str) -> Result<Option<String>> {
        const SQL: &str = "SELECT baseline FROM anomaly_baselines WHERE owner = $1 AND credential_id = $2";
        with_pool!(self, p => sqlx::query_scalar::<_, String>(SQL).bind(owner).bind(credential_id)
            .fetch_optional(p).await)
        .ctx("anomaly baseline")
    }

    /// Stores the baseline of the owner's credential (replacing it). [`StoreError::NotFound`]
    /// when the credential is not the owner's.
    pub async fn put_anomaly_baseline(&self, owner: &str, credential_id: &str, baseline: &str) -> Result<()> {
        if baseline.len() > MAX_TEXT {
            return Err(StoreError::Invalid { what: "anomaly baseline", reason: "larger than 256 KiB" });
        }
        let n = with_pool!(self, p => sqlx::query(UPSERT_BASELINE).bind(owner).bind(credential_id).bind(baseline).bind(now_ms())
            .execute(p).await.map(|r| r.rows_affected()))
        .ctx("put anomaly baseline")?;
        if n == 0 { Err(StoreError::NotFound { what: "credential" }) } else { Ok(()) }
    }

    /// Reads the stored baseline of the owner's credential, lets `update` judge it and say
    /// what to store instead (`None`: nothing), and stores that, in one transaction no other
    /// writer of the same credential's baseline runs beside (PostgreSQL: an advisory lock on
    /// the credential; SQLite: a write transaction). Signers on one database then learn from
    /// each other's orders instead of overwriting them with their own copies.
    /// [`StoreError::NotFound`] when the credential is not the owner's.
    pub async fn update_anomaly_baseline<T>(
        &self,
        owner: &str,
        credential_id: &str,
        update: impl FnOnce(Option<String>) -> (Option<String>, T),
    ) -> Result<T> {
        const LOCK: &str = "SELECT pg_advisory_xact_lock(hashtextextended($1 || '/' || $2, 5209))";
        const READ: &str = "SELECT baseline FROM anomaly_baselines WHERE owner = $1 AND credential_id = $2";
        let result = with_pool!(self, p => async {
            let mut tx = p.begin_write().await?;
            if matches!(self.db, crate::store::Db::Postgres(_)) {
                sqlx::query(LOCK).bind(owner).bind(credential_id).execute(&mut *tx).await?;
            }
            let stored: Option<String> =
                sqlx::query_scalar(READ).bind(owner).bind(credential_id).fetch_optional(&mut *tx).await?;
            let (new, out) = update(stored);
            let Some(new) = new else { return Ok(Ok(out)) };
            if new.len() > MAX_TEXT {
                return Ok(Err(StoreError::Invalid { what: "anomaly baseline", reason: "larger than 256 KiB" }));
            }
            let n = sqlx::query(UPSERT_BASELINE).bind(owner).bind(credential_id).bind(&new).bind(now_ms())
                .execute(&mut *tx).await?.rows_affected();
            if n == 0 {
                return Ok(Err(StoreError::NotFound { what: "credential" }));
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(Ok(out))
        }.await);
        result.ctx("update anomaly baseline")?
    }

    /// The owner's overrides of the detectors' thresholds for a credential, if set.
    pub async fn anomaly_overrides(&self, owner: &str, credential_id: &str) -> Result<Option<String>> {
        const SQL: &str = "SELECT overrides FROM anomaly_rules WHERE owner = $1 AND credential_id = $2";
        with_pool!(self, p => sqlx::query_scalar::<_, String>(SQL).bind(owner).bind(credential_id)
            .fetch_optional(p).await)
        .ctx("anomaly overrides")
    }

    /// Sets (`Some`) or clears (`None`) the overrides of the owner's credential (not a
    /// deleted one). The caller checks them first (`sealgate_anomaly::Rules::with_overrides`).
    pub async fn set_anomaly_overrides(&self, owner: &str, credential_id: &str, overrides: Option<&str>) -> Result<()> {
        let Some(text) = overrides else {
            const SQL: &str = "DELETE FROM anomaly_rules WHERE owner = $1 AND credential_id = $2";
            with_pool!(self, p => sqlx::query(SQL).bind(owner).bind(credential_id).execute(p).await.map(|_| ()))
                .ctx("clear anomaly overrides")?;
            return Ok(());
        };
        if text.len() > MAX_TEXT {
            return Err(StoreError::Invalid { what: "anomaly overrides", reason: "larger than 256 KiB" });
        }
        const SQL: &str = "INSERT INTO anomaly_rules (owner, credential_id, overrides, updated_ms) \
             SELECT owner, id, $3, $4 FROM credentials WHERE owner = $1 AND id = $2 AND status <> 'deleted' \
             ON CONFLICT (owner, credential_id) DO UPDATE SET overrides = excluded.overrides, \
             updated_ms = excluded.updated_ms";
        let n = with_pool!(self, p => sqlx::query(SQL).bind(owner).bind(credential_id).bind(text).bind(now_ms())
            .execute(p).await.map(|r| r.rows_affected()))
        .ctx("set anomaly overrides")?;
        if n == 0 { Err(StoreError::NotFound { what: "credential" }) } else { Ok(()) }
    }

    /// Freezes one of the owner's credentials if it is active (an anomaly): true when this
    /// call froze it, false when it was already frozen or deleted (nothing to do, no double
    /// record).
    pub async fn freeze_if_active(&self, owner: &str, credential_id: &str) -> Result<bool> {
        const SQL: &str = "UPDATE credentials SET status = 'frozen' WHERE owner = $1 AND id = $2 AND status = 'active'";
        let n = with_pool!(self, p => sqlx::query(SQL).bind(owner).bind(credential_id).execute(p).await
            .map(|r| r.rows_affected()))
        .ctx("freeze credential")?;
        Ok(n == 1)
    }
}
