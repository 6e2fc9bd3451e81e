//! The notification outbox: written in the same store as the event, sent later.

use std::time::Duration;

use crate::error::{Ctx, Result, StoreError, UnknownValue};
use crate::store::{BeginWrite, Db, Store, millis, now_ms, now_postgres, now_sqlite, with_pool};

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
        const SQL: &str = "UPDATE notification_outbox SET sent_at_ms = $2, state = 'sent' \
                           WHERE id = $1 AND sent_at_ms IS NULL";
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

// --- delivery queue (migration 0009) ---------------------------------------------------------

/// How a queued notification is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Channel {
    /// By e-mail to `recipient`.
    Email,
    /// By a signed POST to `recipient` (the endpoint's URL).
    Webhook,
}

impl TryFrom<String> for Channel {
    type Error = UnknownValue;
    fn try_from(s: String) -> std::result::Result<Self, UnknownValue> {
        match s.as_str() {
            "email" => Ok(Channel::Email),
            "webhook" => Ok(Channel::Webhook),
            _ => Err(UnknownValue("notification channel")),
        }
    }
}

/// A notification a sender has claimed (fenced by `attempts`, like [`crate::ClaimedJob`]).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ClaimedNotification {
    /// Id (also the stable `webhook-id`).
    pub id: i64,
    /// E-mail address or webhook URL.
    pub recipient: String,
    /// Kind (`credential_added`, `role_revoked`, `lockdown`, `refused`, `email_confirm`, …).
    pub kind: String,
    /// The typed body as JSON (never a secret).
    pub body: String,
    /// The user it concerns and whose lockdown link it carries; `None`: an operator's.
    pub user_id: Option<String>,
    /// Channel.
    #[sqlx(try_from = "String")]
    pub channel: Channel,
    /// The webhook endpoint, for the webhook channel.
    pub endpoint_id: Option<String>,
    /// This attempt's number (1 for the first); fences the claim.
    pub attempts: i64,
    /// Attempts allowed in all.
    pub max_attempts: i64,
    /// The sender holding the lease.
    pub locked_by: String,
}

/// A notification as the operator sees it (`sealgate admin notifications`).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct NotificationState {
    /// Id.
    pub id: i64,
    /// E-mail address or webhook URL.
    pub recipient: String,
    /// Kind.
    pub kind: String,
    /// The user it concerns (`None`: an operator's).
    pub user_id: Option<String>,
    /// `email` or `webhook`.
    pub channel: String,
    /// `queued`, `sending`, `sent` or `failed`.
    pub state: String,
    /// Attempts so far.
    pub attempts: i64,
    /// Attempts allowed.
    pub max_attempts: i64,
    /// Created, ms since the epoch.
    pub created_ms: i64,
    /// Not tried again before (database clock, ms).
    pub run_after_ms: i64,
    /// Sent, ms since the epoch.
    pub sent_at_ms: Option<i64>,
    /// The last failure, as the sender gave it.
    pub last_error: Option<String>,
}

/// A user's notification settings.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Contact {
    /// The confirmed address, if any.
    pub email: Option<String>,
    /// `oidc` or `confirmed`.
    pub email_source: Option<String>,
    /// Whether every refused withdraw or trade is notified.
    pub notify_refusals: bool,
}

/// A webhook endpoint (its secret is derived, never stored).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct WebhookEndpoint {
    /// Id (the input of the secret's derivation).
    pub id: String,
    /// The user it belongs to; `None`: the operator's (receives every user's events).
    pub user_id: Option<String>,
    /// Where messages are POSTed.
    pub url: String,
    /// Created, ms since the epoch.
    pub created_ms: i64,
}

/// What using a lockdown token found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LockdownToken {
    /// Valid and now used: the user whose credentials to freeze.
    Used(String),
    /// Valid and unused (only from [`Store::peek_lockdown_token`]).
    Valid(String),
    /// Used before, at this time (ms).
    AlreadyUsed(i64),
    /// Expired.
    Expired,
    /// Not a token this store issued (or long expired and purged).
    Unknown,
}

/// Which event a queued notification is for, as [`Store::enqueue_event`] fans it out.
#[derive(Debug, Clone, Copy)]
pub struct NewEvent<'a> {
    /// The user it concerns.
    pub user_id: &'a str,
    /// Kind.
    pub kind: &'a str,
    /// The typed body, as JSON.
    pub body: &'a str,
    /// A refused withdraw or trade: sent only to users who asked, never to operators.
    pub refusal: bool,
}

const MAX_NOTIFY_ERROR: usize = 300;

macro_rules! claim_notification_sql {
    ($now:expr, $skip_locked:expr) => {
        concat!(
            "UPDATE notification_outbox SET state = 'sending', attempts = attempts + 1, locked_by = $1, \
             locked_until_ms = ",
            $now,
            " + $2 \
             WHERE id = (SELECT id FROM notification_outbox \
               WHERE (state = 'queued' AND run_after_ms <= ",
            $now,
            ") \
                  OR (state = 'sending' AND locked_until_ms < ",
            $now,
            " AND attempts < max_attempts) \
               ORDER BY run_after_ms, id LIMIT 1",
            $skip_locked,
            ") \
             RETURNING id, recipient, kind, body, user_id, channel, endpoint_id, attempts, max_attempts, locked_by"
        )
    };
}

macro_rules! sweep_notification_sql {
    ($now:expr, $skip_locked:expr) => {
        concat!(
            "UPDATE notification_outbox SET state = 'failed', locked_by = NULL, locked_until_ms = NULL, \
             last_error = 'lease expired on the last attempt' \
             WHERE id IN (SELECT id FROM notification_outbox WHERE state = 'sending' \
               AND locked_until_ms < ",
            $now,
            " AND attempts >= max_attempts",
            $skip_locked,
            ")"
        )
    };
}

macro_rules! fail_notification_sql {
    ($now:expr) => {
        concat!(
            "UPDATE notification_outbox SET \
               state = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'queued' END, \
               run_after_ms = ",
            $now,
            " + $4, locked_by = NULL, locked_until_ms = NULL, last_error = $5 \
             WHERE id = $1 AND locked_by = $2 AND attempts = $3 AND state = 'sending' RETURNING state"
        )
    };
}

impl Store {
    /// Queues one notification per recipient of an event, in one transaction: the user's
    /// confirmed address, each of the user's webhook endpoints and (except refusals) each
    /// operator endpoint. Refusals reach the user only if they asked for them. Returns how
    /// many were queued (0: the user has nowhere to be told).
    pub async fn enqueue_event(&self, e: &NewEvent<'_>) -> Result<u64> {
        const EMAIL: &str = "INSERT INTO notification_outbox \
               (recipient, kind, body, created_ms, user_id, channel, run_after_ms) \
             SELECT email, $2, $3, $4, user_id, 'email', 0 FROM notify_contacts \
             WHERE user_id = $1 AND email IS NOT NULL AND (NOT $5 OR notify_refusals)";
        const HOOKS: &str = "INSERT INTO notification_outbox \
               (recipient, kind, body, created_ms, user_id, channel, endpoint_id, run_after_ms) \
             SELECT url, $2, $3, $4, user_id, 'webhook', id, 0 FROM webhook_endpoints \
             WHERE (user_id = $1 AND (NOT $5 OR EXISTS (SELECT 1 FROM notify_contacts c \
                     WHERE c.user_id = $1 AND c.notify_refusals))) \
                OR (user_id IS NULL AND NOT $5)";
        let now = now_ms();
        with_pool!(self, p => async {
            let mut tx = p.begin_write().await?;
            let a = sqlx::query(EMAIL).bind(e.user_id).bind(e.kind).bind(e.body).bind(now).bind(e.refusal)
                .execute(&mut *tx).await?.rows_affected();
            let b = sqlx::query(HOOKS).bind(e.user_id).bind(e.kind).bind(e.body).bind(now).bind(e.refusal)
                .execute(&mut *tx).await?.rows_affected();
            tx.commit().await?;
            Ok::<_, sqlx::Error>(a + b)
        }.await)
        .ctx("enqueue event")
    }

    /// Queues one message to exactly this address for the user (an address confirmation).
    pub async fn enqueue_email(&self, user_id: &str, email: &str, kind: &str, body: &str) -> Result<i64> {
        const SQL: &str = "INSERT INTO notification_outbox \
               (recipient, kind, body, created_ms, user_id, channel, run_after_ms) \
             VALUES ($1, $2, $3, $4, $5, 'email', 0) RETURNING id";
        let now = now_ms();
        with_pool!(self, p => sqlx::query_scalar::<_, i64>(SQL).bind(email).bind(kind).bind(body).bind(now)
            .bind(user_id).fetch_one(p).await)
        .ctx("enqueue email")
    }

    /// How many messages of `kind` were queued for `user_id` since `since_ms` (rate limits).
    pub async fn count_user_notifications(&self, user_id: &str, kind: &str, since_ms: i64) -> Result<i64> {
        const SQL: &str =
            "SELECT COUNT(*) FROM notification_outbox WHERE user_id = $1 AND kind = $2 AND created_ms >= $3";
        with_pool!(self, p => sqlx::query_scalar::<_, i64>(SQL).bind(user_id).bind(kind).bind(since_ms).fetch_one(p).await)
            .ctx("count notifications")
    }

    /// Claims the oldest deliverable notification for `sender` for `lease` (a queued one
    /// whose backoff passed, or one whose sender's lease expired). PostgreSQL: `FOR UPDATE
    /// SKIP LOCKED`, so two senders never take one row; SQLite: one writer at a time.
    pub async fn claim_notification(&self, sender: &str, lease: Duration) -> Result<Option<ClaimedNotification>> {
        let lease = millis("lease", lease)?;
        match &self.db {
            Db::Sqlite(p) => {
                async {
                    let mut tx = p.begin_write().await?;
                    sqlx::query(sweep_notification_sql!(now_sqlite!(), "")).execute(&mut *tx).await?;
                    let n = sqlx::query_as::<_, ClaimedNotification>(claim_notification_sql!(now_sqlite!(), ""))
                        .bind(sender)
                        .bind(lease)
                        .fetch_optional(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(n)
                }
                .await
            }
            Db::Postgres(p) => {
                async {
                    sqlx::query(sweep_notification_sql!(now_postgres!(), " FOR UPDATE SKIP LOCKED")).execute(p).await?;
                    sqlx::query_as::<_, ClaimedNotification>(claim_notification_sql!(
                        now_postgres!(),
                        " FOR UPDATE SKIP LOCKED"
                    ))
                    .bind(sender)
                    .bind(lease)
                    .fetch_optional(p)
                    .await
                }
                .await
            }
        }
        .ctx("claim notification")
    }

    /// Marks a claimed notification sent; [`StoreError::LeaseLost`] if it is no longer ours.
    pub async fn complete_notification(&self, n: &ClaimedNotification) -> Result<()> {
        const SQL: &str = "UPDATE notification_outbox SET state = 'sent', sent_at_ms = $4, locked_by = NULL, \
                             locked_until_ms = NULL, last_error = NULL \
                           WHERE id = $1 AND locked_by = $2 AND attempts = $3 AND state = 'sending'";
        let now = now_ms();
        let done = with_pool!(self, p => sqlx::query(SQL).bind(n.id).bind(&n.locked_by).bind(n.attempts).bind(now)
            .execute(p).await.map(|r| r.rows_affected()))
        .ctx("complete notification")?;
        if done == 0 { Err(StoreError::LeaseLost) } else { Ok(()) }
    }

    /// Records a failed attempt: queued again after `backoff`, or `failed` after the last
    /// attempt. `error` is a short reason (truncated); never a message body. Returns whether
    /// it will be tried again.
    pub async fn fail_notification(&self, n: &ClaimedNotification, error: &str, backoff: Duration) -> Result<bool> {
        let backoff = millis("backoff", backoff)?;
        let mut end = error.len().min(MAX_NOTIFY_ERROR);
        while !error.is_char_boundary(end) {
            end -= 1;
        }
        let error = &error[..end];
        let state: Option<String> = match &self.db {
            Db::Sqlite(p) => {
                sqlx::query_scalar(fail_notification_sql!(now_sqlite!()))
                    .bind(n.id)
                    .bind(&n.locked_by)
                    .bind(n.attempts)
                    .bind(backoff)
                    .bind(error)
                    .fetch_optional(p)
                    .await
            }
            Db::Postgres(p) => {
                sqlx::query_scalar(fail_notification_sql!(now_postgres!()))
                    .bind(n.id)
                    .bind(&n.locked_by)
                    .bind(n.attempts)
                    .bind(backoff)
                    .bind(error)
                    .fetch_optional(p)
                    .await
            }
        }
        .ctx("fail notification")?;
        match state.as_deref() {
            None => Err(StoreError::LeaseLost),
            Some(s) => Ok(s == "queued"),
        }
    }

    /// The newest notifications (at most `limit`), optionally only those in `state`.
    pub async fn list_notifications(&self, state: Option<&str>, limit: u32) -> Result<Vec<NotificationState>> {
        const SQL: &str = "SELECT id, recipient, kind, user_id, channel, state, attempts, max_attempts, created_ms, \
                             run_after_ms, sent_at_ms, last_error FROM notification_outbox \
                           WHERE ($1 IS NULL OR state = $1) ORDER BY id DESC LIMIT $2";
        with_pool!(self, p => sqlx::query_as::<_, NotificationState>(SQL).bind(state).bind(i64::from(limit))
            .fetch_all(p).await)
        .ctx("list notifications")
    }

    /// How many notifications are in each state.
    pub async fn notification_counts(&self) -> Result<Vec<(String, i64)>> {
        const SQL: &str = "SELECT state, COUNT(*) FROM notification_outbox GROUP BY state ORDER BY state";
        with_pool!(self, p => sqlx::query_as::<_, (String, i64)>(SQL).fetch_all(p).await).ctx("notification counts")
    }

    // --- contacts -------------------------------------------------------------------------

    /// The user's notification settings (defaults if never set).
    pub async fn contact(&self, user_id: &str) -> Result<Contact> {
        const SQL: &str = "SELECT email, email_source, notify_refusals FROM notify_contacts WHERE user_id = $1";
        let c = with_pool!(self, p => sqlx::query_as::<_, Contact>(SQL).bind(user_id).fetch_optional(p).await)
            .ctx("contact")?;
        Ok(c.unwrap_or(Contact { email: None, email_source: None, notify_refusals: false }))
    }

    /// Sets the user's confirmed address (`source`: `oidc` or `confirmed`). The caller has
    /// checked it: a verified claim, or a confirmation link that reached it.
    pub async fn set_contact_email(&self, user_id: &str, email: &str, source: &str) -> Result<()> {
        const SQL: &str = "INSERT INTO notify_contacts (user_id, email, email_source, updated_ms) \
                           VALUES ($1, $2, $3, $4) ON CONFLICT (user_id) DO UPDATE \
                           SET email = excluded.email, email_source = excluded.email_source, \
                               updated_ms = excluded.updated_ms";
        let now = now_ms();
        with_pool!(self, p => sqlx::query(SQL).bind(user_id).bind(email).bind(source).bind(now)
            .execute(p).await.map(|_| ()))
        .ctx("set contact email")
    }

    /// Sets whether every refused withdraw or trade is notified to the user.
    pub async fn set_notify_refusals(&self, user_id: &str, on: bool) -> Result<()> {
        const SQL: &str = "INSERT INTO notify_contacts (user_id, notify_refusals, updated_ms) VALUES ($1, $2, $3) \
                           ON CONFLICT (user_id) DO UPDATE SET notify_refusals = excluded.notify_refusals, \
                               updated_ms = excluded.updated_ms";
        let now = now_ms();
        with_pool!(self, p => sqlx::query(SQL).bind(user_id).bind(on).bind(now).execute(p).await.map(|_| ()))
            .ctx("set notify refusals")
    }

    /// Stores an address-confirmation token (its SHA-256); expired ones are purged.
    pub async fn add_email_confirm_token(
        &self,
        hash: &[u8; 32],
        user_id: &str,
        email: &str,
        expires_ms: i64,
    ) -> Result<()> {
        const PURGE: &str = "DELETE FROM email_confirm_tokens WHERE expires_ms <= $1";
        const SQL: &str =
            "INSERT INTO email_confirm_tokens (token_hash, user_id, email, expires_ms) VALUES ($1, $2, $3, $4)";
        let now = now_ms();
        with_pool!(self, p => sqlx::query(PURGE).bind(now).execute(p).await.map(|_| ())).ctx("purge confirm tokens")?;
        with_pool!(self, p => sqlx::query(SQL).bind(&hash[..]).bind(user_id).bind(email).bind(expires_ms)
            .execute(p).await.map(|_| ()))
        .ctx("add confirm token")
    }

    /// Takes (deletes) a confirmation token in one statement: (user, address, expiry).
    pub async fn take_email_confirm_token(&self, hash: &[u8; 32]) -> Result<Option<(String, String, i64)>> {
        const SQL: &str = "DELETE FROM email_confirm_tokens WHERE token_hash = $1 RETURNING user_id, email, expires_ms";
        with_pool!(self, p => sqlx::query_as::<_, (String, String, i64)>(SQL).bind(&hash[..]).fetch_optional(p).await)
            .ctx("take confirm token")
    }

    // --- webhook endpoints ----------------------------------------------------------------

    /// Adds a webhook endpoint (`user_id` `None`: the operator's).
    pub async fn add_webhook_endpoint(&self, id: &str, user_id: Option<&str>, url: &str) -> Result<WebhookEndpoint> {
        const SQL: &str = "INSERT INTO webhook_endpoints (id, user_id, url, created_ms) VALUES ($1, $2, $3, $4) \
                           RETURNING id, user_id, url, created_ms";
        let now = now_ms();
        with_pool!(self, p => sqlx::query_as::<_, WebhookEndpoint>(SQL).bind(id).bind(user_id).bind(url).bind(now)
            .fetch_one(p).await)
        .ctx("add webhook endpoint")
    }

    /// The endpoints of `user_id` (`None`: the operator's).
    pub async fn webhook_endpoints(&self, user_id: Option<&str>) -> Result<Vec<WebhookEndpoint>> {
        const SQL: &str = "SELECT id, user_id, url, created_ms FROM webhook_endpoints \
                           WHERE ($1 IS NULL AND user_id IS NULL) OR user_id = $1 ORDER BY created_ms, id";
        with_pool!(self, p => sqlx::query_as::<_, WebhookEndpoint>(SQL).bind(user_id).fetch_all(p).await)
            .ctx("webhook endpoints")
    }

    /// Removes one of `user_id`'s endpoints (`None`: an operator's); `false` if none matched.
    pub async fn delete_webhook_endpoint(&self, user_id: Option<&str>, id: &str) -> Result<bool> {
        const SQL: &str = "DELETE FROM webhook_endpoints WHERE id = $2 \
                           AND (($1 IS NULL AND user_id IS NULL) OR user_id = $1)";
        let n =
            with_pool!(self, p => sqlx::query(SQL).bind(user_id).bind(id).execute(p).await.map(|r| r.rows_affected()))
                .ctx("delete webhook endpoint")?;
        Ok(n > 0)
    }

    // --- lockdown links -------------------------------------------------------------------

    /// Stores a lockdown token (its SHA-256) for the user; tokens expired a day ago are
    /// purged (kept that long so a late click is told "expired", not "unknown").
    pub async fn add_lockdown_token(
        &self,
        hash: &[u8; 32],
        user_id: &str,
        notification_id: Option<i64>,
        expires_ms: i64,
    ) -> Result<()> {
        const PURGE: &str = "DELETE FROM lockdown_tokens WHERE expires_ms <= $1";
        const SQL: &str =
            "INSERT INTO lockdown_tokens (token_hash, user_id, notification_id, expires_ms) VALUES ($1, $2, $3, $4)";
        let now = now_ms();
        with_pool!(self, p => sqlx::query(PURGE).bind(now - 86_400_000).execute(p).await.map(|_| ()))
            .ctx("purge lockdown tokens")?;
        with_pool!(self, p => sqlx::query(SQL).bind(&hash[..]).bind(user_id).bind(notification_id).bind(expires_ms)
            .execute(p).await.map(|_| ()))
        .ctx("add lockdown token")
    }

    /// What a lockdown token is, without using it (the confirm page).
    pub async fn peek_lockdown_token(&self, hash: &[u8; 32], now_ms: i64) -> Result<LockdownToken> {
        const SQL: &str = "SELECT user_id, expires_ms, used_ms FROM lockdown_tokens WHERE token_hash = $1";
        let row = with_pool!(self, p => sqlx::query_as::<_, (String, i64, Option<i64>)>(SQL).bind(&hash[..])
            .fetch_optional(p).await)
        .ctx("peek lockdown token")?;
        Ok(match row {
            None => LockdownToken::Unknown,
            Some((_, _, Some(used))) => LockdownToken::AlreadyUsed(used),
            Some((_, exp, None)) if exp <= now_ms => LockdownToken::Expired,
            Some((user, _, None)) => LockdownToken::Valid(user),
        })
    }

    /// Uses a lockdown token in one statement (so two clicks, even on two servers, use it
    /// once): the user, or why not.
    pub async fn use_lockdown_token(&self, hash: &[u8; 32], now_ms: i64) -> Result<LockdownToken> {
        const SQL: &str = "UPDATE lockdown_tokens SET used_ms = $2 \
                           WHERE token_hash = $1 AND used_ms IS NULL AND expires_ms > $2 RETURNING user_id";
        let user = with_pool!(self, p => sqlx::query_scalar::<_, String>(SQL).bind(&hash[..]).bind(now_ms)
            .fetch_optional(p).await)
        .ctx("use lockdown token")?;
        match user {
            Some(u) => Ok(LockdownToken::Used(u)),
            None => self.peek_lockdown_token(hash, now_ms).await,
        }
    }
}
