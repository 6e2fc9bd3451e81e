//! The notification outbox: written in the same store as the event, sent later.

use crate::error::{Ctx, Result, StoreError};
use crate::store::{Store, now_ms, with_pool};

/// A notification waiting to be (or already) sent.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Notification {
    /// Id.
    pub id: i64,
    /// Recipient (an e-mail address or a user id, as the sender understands it).
    pub recipient: String,
    /// Kind (`lockdown`, `anomaly`, `rotation`, …).
    pub kind: String,
    /// Body text. Never a secret: the store is not the place for one.
    pub body: String,
    /// Created, ms since the epoch.
    pub created_ms: i64,
    /// Sent, ms since the epoch.
    pub sent_at_ms: Option<i64>,
}

impl Store {
    /// Queues a notification; returns its id.
    pub async fn enqueue_notification(&self, recipient: &str, kind: &str, body: &str) -> Result<i64> {
        const SQL: &str = "INSERT INTO notification_outbox (recipient, kind, body, created_ms) \
                           VALUES ($1, $2, $3, $4) RETURNING id";
        let now = now_ms();
        with_pool!(self, p => sqlx::query_scalar::<_, i64>(SQL).bind(recipient).bind(kind).bind(body)
            .bind(now).fetch_one(p).await)
        .ctx("enqueue notification")
    }

    /// Unsent notifications, oldest first, at most `limit`.
    pub async fn pending_notifications(&self, limit: u32) -> Result<Vec<Notification>> {
        const SQL: &str = "SELECT id, recipient, kind, body, created_ms, sent_at_ms FROM notification_outbox \
                           WHERE sent_at_ms IS NULL ORDER BY id LIMIT $1";
        with_pool!(self, p => sqlx::query_as::<_, Notification>(SQL).bind(i64::from(limit)).fetch_all(p).await)
            .ctx("pending notifications")
    }

    /// Marks a notification sent. Returns `false` if it already was (another sender won).
    pub async fn mark_notification_sent(&self, id: i64) -> Result<bool> {
        const SQL: &str = "UPDATE notification_outbox SET sent_at_ms = $2 WHERE id = $1 AND sent_at_ms IS NULL";
        const EXISTS: &str = "SELECT COUNT(*) FROM notification_outbox WHERE id = $1";
        let now = now_ms();
        let n = with_pool!(self, p => sqlx::query(SQL).bind(id).bind(now).execute(p).await.map(|r| r.rows_affected()))
            .ctx("mark notification sent")?;
        if n > 0 {
            return Ok(true);
        }
        let exists = with_pool!(self, p => sqlx::query_scalar::<_, i64>(EXISTS).bind(id).fetch_one(p).await)
            .ctx("mark notification sent")?;
        if exists == 0 { Err(StoreError::NotFound { what: "notification" }) } else { Ok(false) }
    }
}
