//! The owner's limits on a credential (symbol allow-list, notional cap, rate).

use crate::error::{Ctx, Result, StoreError};
use crate::store::{Store, now_ms, with_pool};

/// Limits as stored; `None` fields impose nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct CredentialLimits {
    /// Comma-separated symbol allow-list.
    pub symbols: Option<String>,
    /// Largest order notional, an exact decimal string.
    pub max_notional: Option<String>,
    /// Requests per window.
    pub rate_max: Option<i64>,
    /// The window, ms.
    pub rate_window_ms: Option<i64>,
}

impl Store {
    /// Sets the limits of the owner's credential (replacing any). [`StoreError::NotFound`]
    /// when the credential is not the owner's (or is deleted).
    pub async fn set_credential_limits(&self, owner: &str, credential_id: &str, l: &CredentialLimits) -> Result<()> {
        const SQL: &str = "INSERT INTO credential_limits \
             (owner, credential_id, symbols, max_notional, rate_max, rate_window_ms, updated_ms) \
             SELECT owner, id, $3, $4, $5, $6, $7 FROM credentials WHERE id = $1 AND owner = $2 AND status <> 'deleted' \
             ON CONFLICT (owner, credential_id) DO UPDATE SET symbols = excluded.symbols, \
             max_notional = excluded.max_notional, rate_max = excluded.rate_max, \
             rate_window_ms = excluded.rate_window_ms, updated_ms = excluded.updated_ms";
        let n = with_pool!(self, p => sqlx::query(SQL).bind(credential_id).bind(owner).bind(&l.symbols)
            .bind(&l.max_notional).bind(l.rate_max).bind(l.rate_window_ms).bind(now_ms())
            .execute(p).await.map(|r| r.rows_affected()))
        .ctx("set credential limits")?;
        if n == 0 {
            return Err(StoreError::NotFound { what: "credential" });
        }
        Ok(())
    }

    /// The limits of the owner's credential (the api, and the signer), if any were set.
    pub async fn credential_limits(&self, owner: &str, credential_id: &str) -> Result<Option<CredentialLimits>> {
        const SQL: &str = "SELECT symbols, max_notional, rate_max, rate_window_ms FROM credential_limits \
                           WHERE credential_id = $1 AND owner = $2";
        with_pool!(self, p => sqlx::query_as::<_, CredentialLimits>(SQL).bind(credential_id).bind(owner)
            .fetch_optional(p).await)
        .ctx("credential limits")
    }
}
