//! Local sign-in: one-time login links and browser sessions (migration 0005).
//!
//! Every key here is the SHA-256 of a random token the caller made; the raw token never
//! reaches the store, so a copy of the database cannot sign anyone in. Times are wall-clock
//! milliseconds from the caller (one machine: `serve` and `sealgate login-link`).

use crate::error::{Ctx, Result};
use crate::store::{Store, with_pool};

/// A stored session (the key, the SHA-256 of the session id, is the caller's).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
#[non_exhaustive]
pub struct StoredSession {
    /// The signed-in user.
    pub user_id: String,
    /// SHA-256 of the session's CSRF token.
    pub csrf_hash: Vec<u8>,
    /// When the session began, ms since the epoch.
    pub created_ms: i64,
    /// Last request seen (updated at most about once a minute), ms since the epoch.
    pub last_seen_ms: i64,
    /// The absolute end, ms since the epoch.
    pub expires_ms: i64,
}

/// A session to store at login.
#[derive(Debug, Clone, Copy)]
pub struct NewSession<'a> {
    /// SHA-256 of the session id (the cookie value).
    pub id_hash: &'a [u8; 32],
    /// The signed-in user (must exist).
    pub user_id: &'a str,
    /// SHA-256 of the session's CSRF token.
    pub csrf_hash: &'a [u8; 32],
    /// Now, ms since the epoch.
    pub now_ms: i64,
    /// The absolute end, ms since the epoch.
    pub expires_ms: i64,
}

impl Store {
    /// Stores a one-time login token for `user_id` (who must exist), valid until
    /// `expires_ms`; expired tokens are deleted on the way.
    pub async fn add_login_token(
        &self,
        token_hash: &[u8; 32],
        user_id: &str,
        now_ms: i64,
        expires_ms: i64,
    ) -> Result<()> {
        const PURGE: &str = "DELETE FROM login_tokens WHERE expires_ms <= $1";
        const SQL: &str = "INSERT INTO login_tokens (token_hash, user_id, expires_ms) VALUES ($1, $2, $3)";
        with_pool!(self, p => sqlx::query(PURGE).bind(now_ms).execute(p).await.map(|_| ()))
            .ctx("purge login tokens")?;
        with_pool!(self, p => sqlx::query(SQL).bind(&token_hash[..]).bind(user_id).bind(expires_ms)
            .execute(p).await.map(|_| ()))
        .ctx("add login token")
    }

    /// Takes (deletes) a login token in one statement, so it is used at most once even by
    /// two servers at once: its user and expiry, or `None` if unknown or already taken.
    /// The caller checks the expiry.
    pub async fn take_login_token(&self, token_hash: &[u8; 32]) -> Result<Option<(String, i64)>> {
        const SQL: &str = "DELETE FROM login_tokens WHERE token_hash = $1 RETURNING user_id, expires_ms";
        with_pool!(self, p => sqlx::query_as::<_, (String, i64)>(SQL).bind(&token_hash[..]).fetch_optional(p).await)
            .ctx("take login token")
    }

    /// Stores a new session; sessions past their absolute end are deleted on the way.
    pub async fn add_session(&self, s: &NewSession<'_>) -> Result<()> {
        const PURGE: &str = "DELETE FROM sessions WHERE expires_ms <= $1";
        const SQL: &str = "INSERT INTO sessions (id_hash, user_id, csrf_hash, created_ms, last_seen_ms, expires_ms) \
                           VALUES ($1, $2, $3, $4, $4, $5)";
        with_pool!(self, p => sqlx::query(PURGE).bind(s.now_ms).execute(p).await.map(|_| ())).ctx("purge sessions")?;
        with_pool!(self, p => sqlx::query(SQL).bind(&s.id_hash[..]).bind(s.user_id).bind(&s.csrf_hash[..])
            .bind(s.now_ms).bind(s.expires_ms).execute(p).await.map(|_| ()))
        .ctx("add session")
    }

    /// The session with this id hash, if stored.
    pub async fn session(&self, id_hash: &[u8; 32]) -> Result<Option<StoredSession>> {
        const SQL: &str =
            "SELECT user_id, csrf_hash, created_ms, last_seen_ms, expires_ms FROM sessions WHERE id_hash = $1";
        with_pool!(self, p => sqlx::query_as::<_, StoredSession>(SQL).bind(&id_hash[..]).fetch_optional(p).await)
            .ctx("session")
    }

    /// Records a request on the session (never moves `last_seen_ms` back).
    pub async fn touch_session(&self, id_hash: &[u8; 32], now_ms: i64) -> Result<()> {
        const SQL: &str = "UPDATE sessions SET last_seen_ms = $2 WHERE id_hash = $1 AND last_seen_ms < $2";
        with_pool!(self, p => sqlx::query(SQL).bind(&id_hash[..]).bind(now_ms).execute(p).await.map(|_| ()))
            .ctx("touch session")
    }

    /// Ends a session (logout, or found expired). Ending an unknown session is not an error.
    pub async fn delete_session(&self, id_hash: &[u8; 32]) -> Result<()> {
        const SQL: &str = "DELETE FROM sessions WHERE id_hash = $1";
        with_pool!(self, p => sqlx::query(SQL).bind(&id_hash[..]).execute(p).await.map(|_| ())).ctx("delete session")
    }
}
