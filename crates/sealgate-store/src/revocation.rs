//! What revocation needs from the store: the envelopes it is about to destroy (so their
//! digests go on the audit record *before* the rows go), destruction and replacement that
//! only touch the envelope that was recorded (compare-and-set on the ciphertext), and the
//! audit chain read from a point on, for a signer that follows it.
//!
//! The store cannot make a revocation stick: whoever can write to the database can put a
//! deleted row back. The signer refuses a restored envelope by its digest, learnt from the
//! audit chain it verifies under the custody root (see `sealgate-server`'s `revocation`).

use crate::audit::{AuditRecord, RECORD_COLUMNS};
use crate::credentials::{Envelope, NewEnvelope};
use crate::error::{Ctx, Result, StoreError};
use crate::settings::StoredCheckpoint;
use crate::store::{BeginWrite, Store, now_ms, with_pool};

impl Store {
    /// Every envelope (ciphertext) of one of the owner's credentials, by role. A credential
    /// is keyed by (owner, id): another owner's credential with the same id is not read.
    pub async fn owner_envelopes(&self, owner: &str, credential_id: &str) -> Result<Vec<Envelope>> {
        const SQL: &str = "SELECT owner, credential_id, role, kid, jwe, created_ms FROM envelopes \
             WHERE credential_id = $1 AND owner = $2 ORDER BY role";
        with_pool!(self, p => sqlx::query_as::<_, Envelope>(SQL).bind(credential_id).bind(owner).fetch_all(p).await)
            .ctx("owner envelopes")
    }

    /// Revokes one role of one of the owner's credentials, only if its envelope is still
    /// `jwe` (the one whose digest was recorded). Returns whether it was deleted.
    pub async fn delete_envelope_if(&self, owner: &str, credential_id: &str, role: &str, jwe: &str) -> Result<bool> {
        const SQL: &str = "DELETE FROM envelopes WHERE credential_id = $1 AND role = $2 AND owner = $3 AND jwe = $4";
        let n = with_pool!(self, p => sqlx::query(SQL).bind(credential_id).bind(role).bind(owner).bind(jwe)
            .execute(p).await.map(|r| r.rows_affected()))
        .ctx("delete envelope")?;
        Ok(n > 0)
    }

    /// Re-seal: replaces one role's envelope of one of the owner's credentials (not a
    /// deleted one) with `new`, only if it is still `old_jwe`, and sets the credential's
    /// scope text to `scope`, in one transaction. Returns whether it was replaced.
    pub async fn replace_envelope(
        &self,
        owner: &str,
        credential_id: &str,
        old_jwe: &str,
        new: &NewEnvelope<'_>,
        scope: &str,
    ) -> Result<bool> {
        const ENV: &str = "UPDATE envelopes SET kid = $5, jwe = $6, created_ms = $7 \
             WHERE credential_id = $1 AND role = $2 AND owner = $3 AND jwe = $4 AND EXISTS \
             (SELECT 1 FROM credentials c WHERE c.id = $1 AND c.owner = $3 AND c.status <> 'deleted')";
        const SCOPE: &str = "UPDATE credentials SET scope = $3 WHERE id = $1 AND owner = $2";
        let now = now_ms();
        let n = with_pool!(self, p => async {
            let mut tx = p.begin_write().await?;
            let n = sqlx::query(ENV).bind(credential_id).bind(new.role).bind(owner).bind(old_jwe)
                .bind(new.kid).bind(new.jwe).bind(now).execute(&mut *tx).await?.rows_affected();
            if n > 0 {
                sqlx::query(SCOPE).bind(credential_id).bind(owner).bind(scope).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(n)
        }.await)
        .ctx("replace envelope")?;
        Ok(n > 0)
    }

    /// [`Store::delete_credential`], returning the envelopes it destroyed (so any the
    /// caller did not record beforehand can be recorded now).
    pub async fn delete_credential_envelopes(&self, owner: &str, id: &str) -> Result<Vec<Envelope>> {
        const MARK: &str = "UPDATE credentials SET status = 'deleted' \
                            WHERE id = $1 AND owner = $2 AND status <> 'deleted'";
        const DROP_ENV: &str = "DELETE FROM envelopes WHERE credential_id = $1 AND owner = $2 \
                                RETURNING owner, credential_id, role, kid, jwe, created_ms";
        let out = with_pool!(self, p => async {
            let mut tx = p.begin_write().await?;
            let n = sqlx::query(MARK).bind(id).bind(owner).execute(&mut *tx).await?.rows_affected();
            let gone = if n > 0 {
                Some(sqlx::query_as::<_, Envelope>(DROP_ENV).bind(id).bind(owner).fetch_all(&mut *tx).await?)
            } else {
                None
            };
            tx.commit().await?;
            Ok::<_, sqlx::Error>(gone)
        }.await)
        .ctx("delete credential")?;
        out.ok_or(StoreError::NotFound { what: "credential" })
    }

    /// Checkpoints covering a seq in `after < seq <= upto`, by seq, at most `limit`.
    pub async fn audit_checkpoints_in(&self, after: i64, upto: i64, limit: u32) -> Result<Vec<StoredCheckpoint>> {
        const SQL: &str = "SELECT seq, hash, time_ms, sig, tree_size, tree_root FROM audit_checkpoints \
                           WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3";
        with_pool!(self, p => sqlx::query_as::<_, StoredCheckpoint>(SQL).bind(after).bind(upto)
            .bind(i64::from(limit)).fetch_all(p).await)
        .ctx("audit checkpoints")
    }

    /// The record at `seq`, if there is one.
    pub async fn audit_record(&self, seq: i64) -> Result<Option<AuditRecord>> {
        let sql = format!("SELECT {RECORD_COLUMNS} FROM audit_log WHERE seq = $1");
        with_pool!(self, p => sqlx::query_as::<_, AuditRecord>(&sql).bind(seq).fetch_optional(p).await)
            .ctx("audit record")
    }
}
