//! The exchange keys this deployment made in the key custody (migration 0016): what the
//! signer's sweep walks to destroy a key made and never activated. Only keys born here are
//! listed, so a custody shared with another deployment loses nothing of the other's.

use crate::error::{Ctx, Result};
use crate::store::{Store, with_pool};

/// A key made in the custody for one owner's credential.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct HeldKeyBirth {
    /// The custody key id (`xk-…`).
    pub key_id: String,
    /// Whose.
    pub owner: String,
    /// The credential it was made for.
    pub credential_id: String,
    /// When (Unix ms).
    pub created_ms: i64,
}

impl Store {
    /// Signer side: notes that key `key_id` was made for `owner`'s credential `cid`.
    pub async fn record_held_key_birth(&self, key_id: &str, owner: &str, cid: &str, created_ms: i64) -> Result<()> {
        const SQL: &str =
            "INSERT INTO held_key_births (key_id, owner, credential_id, created_ms) VALUES ($1, $2, $3, $4)";
        with_pool!(self, p => sqlx::query(SQL).bind(key_id).bind(owner).bind(cid).bind(created_ms).execute(p).await
            .map(|_| ()))
        .ctx("record held key birth")
    }

    /// Keys made before `before_ms`, oldest first, at most `limit`.
    pub async fn held_key_births_before(&self, before_ms: i64, limit: u32) -> Result<Vec<HeldKeyBirth>> {
        const SQL: &str = "SELECT key_id, owner, credential_id, created_ms FROM held_key_births \
                           WHERE created_ms < $1 ORDER BY created_ms, key_id LIMIT $2";
        with_pool!(self, p => sqlx::query_as::<_, HeldKeyBirth>(SQL).bind(before_ms).bind(i64::from(limit))
            .fetch_all(p).await)
        .ctx("held key births")
    }

    /// Forgets key `key_id`'s birth (it is active, or gone).
    pub async fn forget_held_key_birth(&self, key_id: &str) -> Result<()> {
        const SQL: &str = "DELETE FROM held_key_births WHERE key_id = $1";
        with_pool!(self, p => sqlx::query(SQL).bind(key_id).execute(p).await.map(|_| ())).ctx("forget held key birth")
    }
}
