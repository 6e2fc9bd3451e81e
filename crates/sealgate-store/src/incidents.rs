//! Incidents (`sealgate incident`, migration 0010): the record of one breach response.
//!
//! An incident's steps are rows of `incident_steps`; a step that ended is never done again,
//! so the command is resumed after a crash by running what is left. The two steps whose
//! work is the store's own are one transaction each, with their end: the freeze (the scope
//! snapshot and the `UPDATE` that freezes it) and the queueing of messages (one per
//! affected user's address or webhook, one per operator endpoint). Both are set-based
//! (`INSERT … SELECT`, `UPDATE … WHERE EXISTS`): one statement for a million credentials.

use crate::error::{Ctx, Result, StoreError};
use crate::store::{BeginWrite, Store, now_ms, with_pool};

/// An incident to open. Its scope is everything (`all`), or the credentials matching every
/// filter given; at least one of the two.
#[derive(Debug, Clone)]
pub struct NewIncident<'a> {
    /// Id (the caller's; `inc_…`).
    pub id: &'a str,
    /// Why, in the operator's words (shown to users).
    pub reason: &'a str,
    /// Every credential.
    pub all: bool,
    /// Credentials sealed to this role.
    pub role: Option<&'a str>,
    /// Credentials of this exchange.
    pub exchange: Option<&'a str>,
    /// Credentials of this user.
    pub user: Option<&'a str>,
    /// This credential id (with `user`: ids are unique per owner only).
    pub credential: Option<&'a str>,
    /// Whether the role keys in scope are rotated and re-wrapped.
    pub rotate: bool,
    /// Who opened it.
    pub actor: &'a str,
}

/// An incident as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Incident {
    /// Id.
    pub id: String,
    /// Why.
    pub reason: String,
    /// Scope: everything.
    pub scope_all: bool,
    /// Scope: a role.
    pub scope_role: Option<String>,
    /// Scope: an exchange.
    pub scope_exchange: Option<String>,
    /// Scope: a user.
    pub scope_user: Option<String>,
    /// Scope: a credential id (of `scope_user`).
    pub scope_credential: Option<String>,
    /// Whether role keys are rotated and re-wrapped.
    pub rotate: bool,
    /// Who opened it.
    pub actor: String,
    /// `open` or `closed`.
    pub state: String,
    /// Opened, ms since the epoch.
    pub opened_ms: i64,
    /// Closed, ms since the epoch.
    pub closed_ms: Option<i64>,
    /// The final report (JSON), once every step ended.
    pub report: Option<String>,
}

/// One step of an incident.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct IncidentStep {
    /// `freeze`, `rotate`, `rewrap`, `notify`, `report`.
    pub step: String,
    /// Started (first attempt), ms.
    pub started_ms: i64,
    /// Ended, ms; `None` while it runs (or after a crash in it).
    pub ended_ms: Option<i64>,
    /// Counts, a JSON object.
    pub counts: String,
}

/// A role rotated by an incident.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct IncidentRotation {
    /// The role.
    pub role: String,
    /// Its active version before.
    pub old_kid: String,
    /// The version the rotation made (`None`: planned, not yet seen done).
    pub new_kid: Option<String>,
}

/// A credential an incident concerns, as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AffectedCredential {
    /// The incident.
    pub incident_id: String,
    /// The credential.
    pub credential_id: String,
    /// Its exchange.
    pub exchange: String,
    /// Its label.
    pub label: String,
    /// The last characters of its API key.
    pub hint: String,
    /// Its status now.
    pub status: String,
}

/// What the freeze step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FreezeCounts {
    /// Credentials in scope (not deleted).
    pub in_scope: u64,
    /// Of those, frozen by this step (the others were frozen already).
    pub frozen: u64,
    /// Their owners.
    pub users: u64,
}

/// What the notify step queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueCounts {
    /// Affected users.
    pub users: u64,
    /// Of those, users with an address or a webhook (the others cannot be told).
    pub reachable_users: u64,
    /// Messages to users (one per address and per webhook endpoint of each).
    pub user_messages: u64,
    /// Messages to operator endpoints (one each).
    pub operator_messages: u64,
}

const INCIDENT_COLUMNS: &str = "id, reason, scope_all, scope_role, scope_exchange, scope_user, scope_credential, \
                                rotate, actor, state, opened_ms, closed_ms, report";

/// The step names, in order.
pub const INCIDENT_STEPS: [&str; 5] = ["freeze", "rotate", "rewrap", "notify", "report"];

fn u(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl Store {
    /// Opens an incident. [`StoreError::Invalid`] if its scope is empty (neither `all` nor a
    /// filter), or `all` comes with a filter, or a credential id without its user.
    pub async fn create_incident(&self, n: &NewIncident<'_>) -> Result<Incident> {
        let filters = [n.role, n.exchange, n.user, n.credential];
        let any = filters.iter().any(Option::is_some);
        if !n.all && !any {
            return Err(StoreError::Invalid { what: "incident scope", reason: "name a scope, or everything" });
        }
        if n.all && any {
            return Err(StoreError::Invalid { what: "incident scope", reason: "everything takes no filter" });
        }
        if n.credential.is_some() && n.user.is_none() {
            return Err(StoreError::Invalid {
                what: "incident scope",
                reason: "a credential id is unique per user only: name its user",
            });
        }
        if filters.iter().flatten().any(|f| f.is_empty()) || n.reason.trim().is_empty() {
            return Err(StoreError::Invalid { what: "incident", reason: "empty reason or filter" });
        }
        let sql = format!(
            "INSERT INTO incidents (id, reason, scope_all, scope_role, scope_exchange, scope_user, scope_credential, \
               rotate, actor, state, opened_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'open', $10) \
             RETURNING {INCIDENT_COLUMNS}"
        );
        let now = now_ms();
        with_pool!(self, p => sqlx::query_as::<_, Incident>(&sql)
            .bind(n.id).bind(n.reason).bind(n.all).bind(n.role).bind(n.exchange).bind(n.user).bind(n.credential)
            .bind(n.rotate).bind(n.actor).bind(now).fetch_one(p).await)
        .ctx("create incident")
        .map_err(|e| if e.is_unique_violation() { StoreError::AlreadyExists { what: "incident" } } else { e })
    }

    /// One incident.
    pub async fn incident(&self, id: &str) -> Result<Option<Incident>> {
        let sql = format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = $1");
        with_pool!(self, p => sqlx::query_as::<_, Incident>(&sql).bind(id).fetch_optional(p).await).ctx("incident")
    }

    /// Incidents, newest first (only the open ones if `open_only`), at most `limit`.
    pub async fn incidents(&self, open_only: bool, limit: u32) -> Result<Vec<Incident>> {
        let sql = format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE (NOT $1 OR state = 'open') \
             ORDER BY opened_ms DESC, id DESC LIMIT $2"
        );
        with_pool!(self, p => sqlx::query_as::<_, Incident>(&sql).bind(open_only).bind(i64::from(limit))
            .fetch_all(p).await)
        .ctx("incidents")
    }

    /// The steps of an incident, in the order they started.
    pub async fn incident_steps(&self, id: &str) -> Result<Vec<IncidentStep>> {
        const SQL: &str = "SELECT step, started_ms, ended_ms, counts FROM incident_steps \
                           WHERE incident_id = $1 ORDER BY started_ms, step";
        with_pool!(self, p => sqlx::query_as::<_, IncidentStep>(SQL).bind(id).fetch_all(p).await).ctx("incident steps")
    }

    /// Records that a step starts (its first start is kept); returns the step if it already
    /// ended (then it is not to be done again).
    pub async fn start_incident_step(&self, id: &str, step: &str) -> Result<Option<IncidentStep>> {
        const INSERT: &str = "INSERT INTO incident_steps (incident_id, step, started_ms) VALUES ($1, $2, $3) \
                              ON CONFLICT (incident_id, step) DO NOTHING";
        const SELECT: &str = "SELECT step, started_ms, ended_ms, counts FROM incident_steps \
                              WHERE incident_id = $1 AND step = $2";
        let now = now_ms();
        with_pool!(self, p => sqlx::query(INSERT).bind(id).bind(step).bind(now).execute(p).await.map(|_| ()))
            .ctx("start incident step")
            .map_err(|e| if e.is_foreign_key_violation() { StoreError::NotFound { what: "incident" } } else { e })?;
        let s = with_pool!(self, p => sqlx::query_as::<_, IncidentStep>(SELECT).bind(id).bind(step)
            .fetch_optional(p).await)
        .ctx("start incident step")?;
        Ok(s.filter(|s| s.ended_ms.is_some()))
    }

    /// Records a step's end and its counts (a JSON object).
    pub async fn end_incident_step(&self, id: &str, step: &str, counts: &str) -> Result<()> {
        const SQL: &str = "UPDATE incident_steps SET ended_ms = $3, counts = $4 \
                           WHERE incident_id = $1 AND step = $2 AND ended_ms IS NULL";
        serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(counts)
            .map_err(|_| StoreError::Invalid { what: "counts", reason: "not a JSON object" })?;
        let now = now_ms();
        with_pool!(self, p => sqlx::query(SQL).bind(id).bind(step).bind(now).bind(counts).execute(p).await.map(|_| ()))
            .ctx("end incident step")
    }

    /// The freeze step, in one transaction with its end: snapshots the credentials in
    /// scope (not deleted) and freezes the active ones among them. Done once: if the step
    /// already ended, its stored counts are not recomputed and nothing changes.
    pub async fn freeze_incident(&self, id: &str) -> Result<FreezeCounts> {
        const SCOPE: &str = "INSERT INTO incident_credentials (incident_id, owner, credential_id) \
             SELECT i.id, c.owner, c.id FROM incidents i, credentials c \
             WHERE i.id = $1 AND i.state = 'open' AND c.status <> 'deleted' \
               AND (i.scope_exchange IS NULL OR c.exchange = i.scope_exchange) \
               AND (i.scope_user IS NULL OR c.owner = i.scope_user) \
               AND (i.scope_credential IS NULL OR c.id = i.scope_credential) \
               AND (i.scope_role IS NULL OR EXISTS (SELECT 1 FROM envelopes e \
                     WHERE e.owner = c.owner AND e.credential_id = c.id AND e.role = i.scope_role)) \
             ON CONFLICT (incident_id, owner, credential_id) DO NOTHING";
        const FREEZE: &str = "UPDATE credentials SET status = 'frozen' WHERE status = 'active' \
             AND EXISTS (SELECT 1 FROM incident_credentials ic WHERE ic.incident_id = $1 \
                 AND ic.owner = credentials.owner AND ic.credential_id = credentials.id)";
        const COUNT: &str = "SELECT COUNT(*), COUNT(DISTINCT owner) FROM incident_credentials WHERE incident_id = $1";
        const END: &str = "UPDATE incident_steps SET ended_ms = $3, counts = $4 \
                           WHERE incident_id = $1 AND step = $2 AND ended_ms IS NULL";
        const START: &str = "INSERT INTO incident_steps (incident_id, step, started_ms) VALUES ($1, 'freeze', $2) \
                             ON CONFLICT (incident_id, step) DO NOTHING";
        const DONE: &str =
            "SELECT COUNT(*) FROM incident_steps WHERE incident_id = $1 AND step = 'freeze' AND ended_ms IS NOT NULL";
        let started = now_ms();
        let r = with_pool!(self, p => async {
            let mut tx = p.begin_write().await?;
            let done: i64 = sqlx::query_scalar(DONE).bind(id).fetch_one(&mut *tx).await?;
            if done > 0 {
                tx.commit().await?;
                return Ok::<_, sqlx::Error>(None);
            }
            sqlx::query(START).bind(id).bind(started).execute(&mut *tx).await?;
            sqlx::query(SCOPE).bind(id).execute(&mut *tx).await?;
            let frozen = sqlx::query(FREEZE).bind(id).execute(&mut *tx).await?.rows_affected();
            let (n, users): (i64, i64) = sqlx::query_as(COUNT).bind(id).fetch_one(&mut *tx).await?;
            let c = FreezeCounts { in_scope: u(n), frozen, users: u(users) };
            let counts = format!(r#"{{"in_scope":{},"frozen":{},"users":{}}}"#, c.in_scope, c.frozen, c.users);
            sqlx::query(END).bind(id).bind("freeze").bind(now_ms()).bind(counts).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(Some(c))
        }.await)
        .ctx("freeze incident")
        .map_err(|e| if e.is_foreign_key_violation() { StoreError::NotFound { what: "incident" } } else { e })?;
        match r {
            Some(c) => Ok(c),
            None => Err(StoreError::InUse { what: "incident step freeze (already ended)" }),
        }
    }

    /// The roles the envelopes of an incident's credentials are sealed to.
    pub async fn incident_roles(&self, id: &str) -> Result<Vec<String>> {
        const SQL: &str = "SELECT DISTINCT e.role FROM incident_credentials ic JOIN envelopes e \
             ON e.owner = ic.owner AND e.credential_id = ic.credential_id WHERE ic.incident_id = $1 ORDER BY e.role";
        with_pool!(self, p => sqlx::query_scalar::<_, String>(SQL).bind(id).fetch_all(p).await).ctx("incident roles")
    }

    /// The rotations of an incident.
    pub async fn incident_rotations(&self, id: &str) -> Result<Vec<IncidentRotation>> {
        const SQL: &str = "SELECT role, old_kid, new_kid FROM incident_rotations WHERE incident_id = $1 ORDER BY role";
        with_pool!(self, p => sqlx::query_as::<_, IncidentRotation>(SQL).bind(id).fetch_all(p).await)
            .ctx("incident rotations")
    }

    /// Plans a rotation of `role` away from `old_kid` (before the custody rotates); a plan
    /// already there is kept. Returns the plan as stored.
    pub async fn plan_incident_rotation(&self, id: &str, role: &str, old_kid: &str) -> Result<IncidentRotation> {
        const INSERT: &str = "INSERT INTO incident_rotations (incident_id, role, old_kid) VALUES ($1, $2, $3) \
                              ON CONFLICT (incident_id, role) DO NOTHING";
        const SELECT: &str =
            "SELECT role, old_kid, new_kid FROM incident_rotations WHERE incident_id = $1 AND role = $2";
        with_pool!(self, p => sqlx::query(INSERT).bind(id).bind(role).bind(old_kid).execute(p).await.map(|_| ()))
            .ctx("plan incident rotation")?;
        with_pool!(self, p => sqlx::query_as::<_, IncidentRotation>(SELECT).bind(id).bind(role).fetch_one(p).await)
            .ctx("plan incident rotation")
    }

    /// Records the version a planned rotation made.
    pub async fn finish_incident_rotation(&self, id: &str, role: &str, new_kid: &str) -> Result<()> {
        const SQL: &str = "UPDATE incident_rotations SET new_kid = $3 WHERE incident_id = $1 AND role = $2";
        with_pool!(self, p => sqlx::query(SQL).bind(id).bind(role).bind(new_kid).execute(p).await.map(|_| ()))
            .ctx("finish incident rotation")
    }

    /// The notify step, in one transaction with its end: one message per affected user's
    /// confirmed address and per webhook endpoint of theirs (`kind` `incident`, body
    /// `user_body`: the notifier renders each user's own credentials when it sends), and
    /// one per operator endpoint (`incident_operator`, `operator_body`). Done once: if the
    /// step already ended, [`StoreError::InUse`] and nothing is queued.
    pub async fn queue_incident_notifications(
        &self,
        id: &str,
        user_body: &str,
        operator_body: &str,
    ) -> Result<QueueCounts> {
        const DONE: &str =
            "SELECT COUNT(*) FROM incident_steps WHERE incident_id = $1 AND step = 'notify' AND ended_ms IS NOT NULL";
        const START: &str = "INSERT INTO incident_steps (incident_id, step, started_ms) VALUES ($1, 'notify', $2) \
                             ON CONFLICT (incident_id, step) DO NOTHING";
        const EMAIL: &str = "INSERT INTO notification_outbox \
               (recipient, kind, body, created_ms, user_id, channel, run_after_ms) \
             SELECT n.email, 'incident', $2, $3, n.user_id, 'email', 0 FROM notify_contacts n \
             WHERE n.email IS NOT NULL AND n.user_id IN \
               (SELECT DISTINCT owner FROM incident_credentials WHERE incident_id = $1)";
        const HOOKS: &str = "INSERT INTO notification_outbox \
               (recipient, kind, body, created_ms, user_id, channel, endpoint_id, run_after_ms) \
             SELECT w.url, 'incident', $2, $3, w.user_id, 'webhook', w.id, 0 FROM webhook_endpoints w \
             WHERE w.user_id IN (SELECT DISTINCT owner FROM incident_credentials WHERE incident_id = $1)";
        const OPS: &str = "INSERT INTO notification_outbox \
               (recipient, kind, body, created_ms, user_id, channel, endpoint_id, run_after_ms) \
             SELECT url, 'incident_operator', $1, $2, NULL, 'webhook', id, 0 FROM webhook_endpoints \
             WHERE user_id IS NULL";
        const USERS: &str = "SELECT COUNT(*) FROM (SELECT DISTINCT owner FROM incident_credentials \
             WHERE incident_id = $1) a";
        const REACHABLE: &str = "SELECT COUNT(*) FROM (SELECT DISTINCT owner FROM incident_credentials ic \
             WHERE incident_id = $1 AND (EXISTS (SELECT 1 FROM notify_contacts n WHERE n.user_id = ic.owner \
               AND n.email IS NOT NULL) OR EXISTS (SELECT 1 FROM webhook_endpoints w WHERE w.user_id = ic.owner))) a";
        const END: &str = "UPDATE incident_steps SET ended_ms = $3, counts = $4 \
                           WHERE incident_id = $1 AND step = $2 AND ended_ms IS NULL";
        let now = now_ms();
        let r = with_pool!(self, p => async {
            let mut tx = p.begin_write().await?;
            let done: i64 = sqlx::query_scalar(DONE).bind(id).fetch_one(&mut *tx).await?;
            if done > 0 {
                tx.commit().await?;
                return Ok::<_, sqlx::Error>(None);
            }
            sqlx::query(START).bind(id).bind(now).execute(&mut *tx).await?;
            let a = sqlx::query(EMAIL).bind(id).bind(user_body).bind(now).execute(&mut *tx).await?.rows_affected();
            let b = sqlx::query(HOOKS).bind(id).bind(user_body).bind(now).execute(&mut *tx).await?.rows_affected();
            let o = sqlx::query(OPS).bind(operator_body).bind(now).execute(&mut *tx).await?.rows_affected();
            let users: i64 = sqlx::query_scalar(USERS).bind(id).fetch_one(&mut *tx).await?;
            let reachable: i64 = sqlx::query_scalar(REACHABLE).bind(id).fetch_one(&mut *tx).await?;
            let c = QueueCounts { users: u(users), reachable_users: u(reachable), user_messages: a + b,
                                  operator_messages: o };
            let counts = format!(
                r#"{{"users":{},"reachable_users":{},"user_messages":{},"operator_messages":{}}}"#,
                c.users, c.reachable_users, c.user_messages, c.operator_messages
            );
            sqlx::query(END).bind(id).bind("notify").bind(now_ms()).bind(counts).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(Some(c))
        }.await)
        .ctx("queue incident notifications")
        .map_err(|e| if e.is_foreign_key_violation() { StoreError::NotFound { what: "incident" } } else { e })?;
        r.ok_or(StoreError::InUse { what: "incident step notify (already ended)" })
    }

    /// Stores an incident's report (JSON).
    pub async fn set_incident_report(&self, id: &str, report: &str) -> Result<()> {
        const SQL: &str = "UPDATE incidents SET report = $2 WHERE id = $1";
        with_pool!(self, p => sqlx::query(SQL).bind(id).bind(report).execute(p).await.map(|_| ()))
            .ctx("set incident report")
    }

    /// Closes an open incident; `false` if it was not open. Unfreezes nothing.
    pub async fn close_incident(&self, id: &str) -> Result<bool> {
        const SQL: &str = "UPDATE incidents SET state = 'closed', closed_ms = $2 WHERE id = $1 AND state = 'open'";
        let now = now_ms();
        let n = with_pool!(self, p => sqlx::query(SQL).bind(id).bind(now).execute(p).await.map(|r| r.rows_affected()))
            .ctx("close incident")?;
        Ok(n > 0)
    }

    /// The owner's credentials (not deleted) that incidents concern, with their incident.
    pub async fn user_incident_credentials(&self, owner: &str) -> Result<Vec<AffectedCredential>> {
        const SQL: &str = "SELECT ic.incident_id, c.id AS credential_id, c.exchange, c.label, c.hint, c.status \
             FROM incident_credentials ic JOIN credentials c ON c.owner = ic.owner AND c.id = ic.credential_id \
             JOIN incidents i ON i.id = ic.incident_id \
             WHERE ic.owner = $1 AND c.status <> 'deleted' ORDER BY i.opened_ms, ic.incident_id, c.id";
        with_pool!(self, p => sqlx::query_as::<_, AffectedCredential>(SQL).bind(owner).fetch_all(p).await)
            .ctx("user incident credentials")
    }

    /// The owner's credentials (not deleted) one incident concerns.
    pub async fn incident_user_credentials(&self, id: &str, owner: &str) -> Result<Vec<AffectedCredential>> {
        const SQL: &str = "SELECT ic.incident_id, c.id AS credential_id, c.exchange, c.label, c.hint, c.status \
             FROM incident_credentials ic JOIN credentials c ON c.owner = ic.owner AND c.id = ic.credential_id \
             WHERE ic.incident_id = $1 AND ic.owner = $2 AND c.status <> 'deleted' ORDER BY c.id";
        with_pool!(self, p => sqlx::query_as::<_, AffectedCredential>(SQL).bind(id).bind(owner).fetch_all(p).await)
            .ctx("incident user credentials")
    }
}
