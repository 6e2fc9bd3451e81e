//! Breach response (`sealgate incident`): one command that freezes what is in scope,
//! rotates the role keys in scope, re-wraps, tells every affected user and the operators,
//! and keeps a report.
//!
//! Steps, in order, each a row of `incident_steps` with its start, end and counts, each
//! audited (`incident_step`, then the whole report in `incident_report`):
//! 1. **freeze** — the credentials in scope (not deleted) are recorded as the incident's
//!    set and the active ones frozen, in one transaction ([`Store::freeze_incident`]). Every
//!    signer re-reads a cached credential's row each revalidation interval (0.5 s by
//!    default) and refuses a frozen one: no signature after that.
//!    The set is a snapshot: a credential sealed to a role in scope *after* this step is
//!    not frozen nor told (it was sealed to the keys the later steps make; open another
//!    incident for it if it must be).
//! 2. **rotate** — each role in scope (`--role`, or the roles the set's envelopes are
//!    sealed to) gets a new active version in the custody. The old version is written
//!    down before the custody rotates: resumed after a crash, a role whose active version
//!    is no longer the planned old one is not rotated again.
//! 3. **rewrap** — every envelope of each rotated role still on another version that can
//!    open is moved to the new one ([`crate::rewrap`], itself resumable).
//! 4. **notify** — one message per affected user's address and per webhook of theirs, one
//!    per operator endpoint, in one transaction with the step's end: never twice.
//! 5. **report** — the steps' counts, stored with the incident and printed.
//!
//! A step that ended is not done again: `sealgate incident resume ID` runs what is left
//! (also after a crash in the middle of a step: freeze and notify are one transaction;
//! rotate and rewrap are idempotent as above). Incidents may overlap: a second `open`
//! while one is open makes another incident with its own scope, steps and report.
//! Closing ends the incident; it unfreezes nothing (each user unfreezes their own
//! credentials, after replacing their exchange keys).

use std::sync::Arc;

use sealgate_audit::Action;
use sealgate_custody::{Custody, KeyStatus};
use sealgate_store::{Incident, NewIncident, Store, StoreError};
use serde::Serialize;
use serde_json::{Value, json};

use crate::audit::{AuditEvent, AuditLog};
use crate::notifier::NotifyEvent;
use crate::rewrap::{MAX_BATCH, RewrapError, RewrapOptions};

/// Audit action: an incident opened.
pub const INCIDENT_OPENED: &str = "incident_opened";
/// Audit action: one step ended.
pub const INCIDENT_STEP: &str = "incident_step";
/// Audit action: the final report.
pub const INCIDENT_REPORT: &str = "incident_report";
/// Audit action: an incident closed.
pub const INCIDENT_CLOSED: &str = "incident_closed";
/// Longest reason accepted.
pub const MAX_REASON: usize = 500;

/// Why an incident command was refused or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IncidentError {
    /// Bad input or state, in words.
    #[error("{0}")]
    Refused(String),
    /// The store failed.
    #[error("database: {0}")]
    Store(#[from] StoreError),
    /// The custody failed.
    #[error("custody: {0}")]
    Custody(#[from] sealgate_custody::CustodyError),
    /// The audit record could not be written.
    #[error("audit: {0}")]
    Audit(#[from] crate::audit::AuditWriteError),
    /// The re-wrap failed.
    #[error("re-wrap: {0}")]
    Rewrap(#[from] RewrapError),
    /// Stopped on purpose after a step (tests: a crash there).
    #[error("stopped after {0} (test hook)")]
    Stopped(String),
}

fn refused(m: impl Into<String>) -> IncidentError {
    IncidentError::Refused(m.into())
}

/// What to open.
#[derive(Debug, Clone, Default)]
pub struct OpenRequest {
    /// Why (shown to users), 1-500 characters.
    pub reason: String,
    /// Everything.
    pub all: bool,
    /// Credentials sealed to this role.
    pub role: Option<String>,
    /// Credentials of this exchange.
    pub exchange: Option<String>,
    /// Credentials of this user.
    pub user: Option<String>,
    /// This credential (of `user`).
    pub credential: Option<String>,
    /// Rotate and re-wrap the role keys in scope (needs the custody).
    pub rotate: bool,
    /// Who acts (`operator:…`).
    pub actor: String,
}

/// How to run the steps.
#[derive(Clone)]
pub struct RunOptions {
    /// The custody (needed when the incident rotates).
    pub custody: Option<Arc<dyn Custody>>,
    /// Re-wrap batch size.
    pub batch: u32,
    /// Re-wrap workers.
    pub workers: usize,
    /// Who acts.
    pub actor: String,
    /// Test hook: stop (as a crash would) after this step, or at `rotate:custody` (after
    /// the custody rotated, before the rotation is recorded).
    pub stop_after: Option<String>,
}

impl std::fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions").field("actor", &self.actor).field("stop_after", &self.stop_after).finish()
    }
}

/// One step in a report.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    /// The step.
    pub step: String,
    /// Started, ms.
    pub started_ms: i64,
    /// Ended, ms (`null`: running, or stopped in it).
    pub ended_ms: Option<i64>,
    /// Its counts.
    pub counts: Value,
}

/// An incident's progress or report (`incident status`).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Id.
    pub id: String,
    /// Why.
    pub reason: String,
    /// `open` or `closed`.
    pub state: String,
    /// The scope, in words (`all`, or `role=… exchange=…`).
    pub scope: String,
    /// Rotates role keys.
    pub rotate: bool,
    /// Who opened it.
    pub actor: String,
    /// Opened, ms.
    pub opened_ms: i64,
    /// Closed, ms.
    pub closed_ms: Option<i64>,
    /// Steps so far, in order.
    pub steps: Vec<StepReport>,
    /// Rotations: (role, old, new).
    pub rotations: Vec<Value>,
    /// Every step ended.
    pub complete: bool,
}

fn scope_text(i: &Incident) -> String {
    if i.scope_all {
        return "all".into();
    }
    let mut parts = Vec::new();
    for (k, v) in [
        ("role", &i.scope_role),
        ("exchange", &i.scope_exchange),
        ("user", &i.scope_user),
        ("credential", &i.scope_credential),
    ] {
        if let Some(v) = v {
            parts.push(format!("{k}={v}"));
        }
    }
    parts.join(" ")
}

fn other(name: &str) -> Result<Action, IncidentError> {
    match name.parse::<Action>() {
        Ok(a @ Action::Other(_)) => Ok(a),
        _ => Err(refused("internal: not an audit action")),
    }
}

fn check_name(what: &str, v: &Option<String>) -> Result<(), IncidentError> {
    if let Some(v) = v
        && (v.is_empty()
            || v.len() > 128
            || !v.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':')))
    {
        return Err(refused(format!("--{what} must be 1-128 characters of A-Z a-z 0-9 - _ . :")));
    }
    Ok(())
}

/// A new incident id: `inc_` and 16 random base64url characters.
fn new_id() -> Result<String, IncidentError> {
    let (t, _) = crate::notifier::new_link_token().map_err(|_| refused("the random generator failed"))?;
    Ok(format!("inc_{}", &t[..16]))
}

/// Opens an incident (its steps are run by [`run`]); audited.
pub async fn open(store: &Store, audit: &AuditLog, req: &OpenRequest) -> Result<Incident, IncidentError> {
    let reason = req.reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON || reason.chars().any(|c| c.is_control() && c != '\n') {
        return Err(refused(format!("--reason must be 1-{MAX_REASON} characters of text")));
    }
    for (what, v) in
        [("role", &req.role), ("exchange", &req.exchange), ("user", &req.user), ("credential", &req.credential)]
    {
        check_name(what, v)?;
    }
    let any = req.role.is_some() || req.exchange.is_some() || req.user.is_some() || req.credential.is_some();
    if !req.all && !any {
        return Err(refused(
            "name a scope: --role, --exchange, --user (and --credential), or --all for every credential",
        ));
    }
    if req.all && any {
        return Err(refused("--all takes no other scope"));
    }
    if req.credential.is_some() && req.user.is_none() {
        return Err(refused("--credential needs --user (a credential id is unique per user only)"));
    }
    let id = new_id()?;
    let inc = store
        .create_incident(&NewIncident {
            id: &id,
            reason,
            all: req.all,
            role: req.role.as_deref(),
            exchange: req.exchange.as_deref(),
            user: req.user.as_deref(),
            credential: req.credential.as_deref(),
            rotate: req.rotate,
            actor: &req.actor,
        })
        .await?;
    audit
        .record(AuditEvent::new(
            req.actor.clone(),
            other(INCIDENT_OPENED)?,
            id.clone(),
            json!({"reason": reason, "scope": scope_text(&inc), "rotate": req.rotate}),
        ))
        .await?;
    Ok(inc)
}

/// The incident's progress (also its report once complete).
pub async fn status(store: &Store, id: &str) -> Result<Report, IncidentError> {
    let inc = store.incident(id).await?.ok_or_else(|| refused(format!("no incident {id:?}")))?;
    let steps = store.incident_steps(id).await?;
    let rotations = store.incident_rotations(id).await?;
    let complete =
        sealgate_store::INCIDENT_STEPS.iter().all(|s| steps.iter().any(|x| x.step == *s && x.ended_ms.is_some()));
    let mut steps: Vec<StepReport> = steps
        .into_iter()
        .map(|s| StepReport {
            counts: serde_json::from_str(&s.counts).unwrap_or(Value::Null),
            step: s.step,
            started_ms: s.started_ms,
            ended_ms: s.ended_ms,
        })
        .collect();
    let order = |s: &str| sealgate_store::INCIDENT_STEPS.iter().position(|x| *x == s).unwrap_or(usize::MAX);
    steps.sort_by_key(|s| order(&s.step));
    Ok(Report {
        scope: scope_text(&inc),
        id: inc.id,
        reason: inc.reason,
        state: inc.state,
        rotate: inc.rotate,
        actor: inc.actor,
        opened_ms: inc.opened_ms,
        closed_ms: inc.closed_ms,
        steps,
        rotations: rotations
            .into_iter()
            .map(|r| json!({"role": r.role, "old_kid": r.old_kid, "new_kid": r.new_kid}))
            .collect(),
        complete,
    })
}

/// Closes an incident whose steps all ended (resume it first otherwise). Unfreezes nothing.
pub async fn close(store: &Store, audit: &AuditLog, id: &str, actor: &str) -> Result<(), IncidentError> {
    let r = status(store, id).await?;
    if r.state != "open" {
        return Err(refused(format!("incident {id} is already closed")));
    }
    if !r.complete {
        return Err(refused(format!("incident {id} has steps left: run `sealgate incident resume {id}` first")));
    }
    if !store.close_incident(id).await? {
        return Err(refused(format!("incident {id} is already closed")));
    }
    audit
        .record(AuditEvent::new(actor.to_owned(), other(INCIDENT_CLOSED)?, id.to_owned(), json!({"unfrozen": 0})))
        .await?;
    Ok(())
}

fn stop(opts: &RunOptions, at: &str) -> Result<(), IncidentError> {
    if opts.stop_after.as_deref() == Some(at) { Err(IncidentError::Stopped(at.to_owned())) } else { Ok(()) }
}

async fn ended(
    store: &Store,
    audit: &AuditLog,
    opts: &RunOptions,
    id: &str,
    step: &str,
    counts: Value,
) -> Result<(), IncidentError> {
    store.end_incident_step(id, step, &counts.to_string()).await?;
    audit
        .record(AuditEvent::new(
            opts.actor.clone(),
            other(INCIDENT_STEP)?,
            id.to_owned(),
            json!({"step": step, "counts": counts.to_string()}),
        ))
        .await?;
    stop(opts, step)
}

/// Runs every step of an open incident that has not ended (see the module docs); `step`
/// is told each step's name as it starts. Returns the report.
pub async fn run(
    store: &Store,
    audit: &AuditLog,
    id: &str,
    opts: &RunOptions,
    mut step: impl FnMut(&str),
) -> Result<Report, IncidentError> {
    let inc = store.incident(id).await?.ok_or_else(|| refused(format!("no incident {id:?}")))?;
    if inc.state != "open" {
        return Err(refused(format!("incident {id} is closed")));
    }
    if inc.rotate && opts.custody.is_none() {
        return Err(refused(
            "this incident rotates role keys: give --custody FILE (run where the signer's custody is)",
        ));
    }
    if opts.batch == 0 || opts.batch > MAX_BATCH {
        return Err(refused(format!("--batch must be 1 to {MAX_BATCH}")));
    }

    // 1. freeze
    if store.start_incident_step(id, "freeze").await?.is_none() {
        step("freeze");
        match store.freeze_incident(id).await {
            Ok(c) => {
                let counts = json!({"in_scope": c.in_scope, "frozen": c.frozen, "users": c.users});
                audit
                    .record(AuditEvent::new(
                        opts.actor.clone(),
                        other(INCIDENT_STEP)?,
                        id.to_owned(),
                        json!({"step": "freeze", "counts": counts.to_string(),
                        // What the signers' owner ledgers freeze (AUTHORITY.md L3).
                        "scope": crate::owner_ledger::scope_member(
                            inc.scope_role.as_deref(),
                            inc.scope_exchange.as_deref(),
                            inc.scope_user.as_deref(),
                            inc.scope_credential.as_deref(),
                        )}),
                    ))
                    .await?;
                stop(opts, "freeze")?;
            }
            Err(StoreError::InUse { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }

    // 2. rotate
    if store.start_incident_step(id, "rotate").await?.is_none() {
        step("rotate");
        let counts = match (&opts.custody, inc.rotate) {
            (Some(custody), true) => rotate(store, custody.as_ref(), opts, &inc).await?,
            _ => json!({"skipped": "not asked (--no-rotate)"}),
        };
        ended(store, audit, opts, id, "rotate", counts).await?;
    }

    // 3. rewrap
    if store.start_incident_step(id, "rewrap").await?.is_none() {
        step("rewrap");
        let counts = match (&opts.custody, inc.rotate) {
            (Some(custody), true) => rewrap(store, custody.clone(), audit, opts, id).await?,
            _ => json!({"skipped": "not asked (--no-rotate)"}),
        };
        ended(store, audit, opts, id, "rewrap", counts).await?;
    }

    // 4. notify
    if store.start_incident_step(id, "notify").await?.is_none() {
        step("notify");
        let freeze = store.incident_steps(id).await?.into_iter().find(|s| s.step == "freeze");
        let fc: Value = freeze.and_then(|s| serde_json::from_str(&s.counts).ok()).unwrap_or(Value::Null);
        let user_body = serde_json::to_string(&NotifyEvent::Incident { incident_id: id.to_owned() })
            .map_err(|_| refused("internal: event body"))?;
        let op_body = serde_json::to_string(&NotifyEvent::IncidentOperator {
            incident_id: id.to_owned(),
            reason: inc.reason.clone(),
            credentials: fc["in_scope"].as_u64().unwrap_or(0),
            users: fc["users"].as_u64().unwrap_or(0),
        })
        .map_err(|_| refused("internal: event body"))?;
        match store.queue_incident_notifications(id, &user_body, &op_body).await {
            Ok(c) => {
                let counts = json!({"users": c.users, "reachable_users": c.reachable_users,
                    "user_messages": c.user_messages, "operator_messages": c.operator_messages});
                audit
                    .record(AuditEvent::new(
                        opts.actor.clone(),
                        other(INCIDENT_STEP)?,
                        id.to_owned(),
                        json!({"step": "notify", "counts": counts.to_string()}),
                    ))
                    .await?;
                stop(opts, "notify")?;
            }
            Err(StoreError::InUse { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }

    // 5. report
    if store.start_incident_step(id, "report").await?.is_none() {
        step("report");
        let r = status(store, id).await?;
        let summary: Vec<Value> =
            r.steps.iter().map(|s| json!({"step": s.step, "counts": s.counts.to_string()})).collect();
        audit
            .record(AuditEvent::new(
                opts.actor.clone(),
                other(INCIDENT_REPORT)?,
                id.to_owned(),
                json!({"steps": summary}),
            ))
            .await?;
        store.end_incident_step(id, "report", "{}").await?;
        let done = status(store, id).await?;
        store.set_incident_report(id, &serde_json::to_string(&done).unwrap_or_default()).await?;
    }
    status(store, id).await
}

async fn rotate(
    store: &Store,
    custody: &dyn Custody,
    opts: &RunOptions,
    inc: &Incident,
) -> Result<Value, IncidentError> {
    let roles = match &inc.scope_role {
        Some(r) => vec![r.clone()],
        None => store.incident_roles(&inc.id).await?,
    };
    let mut done = Vec::new();
    for role in &roles {
        let keys = custody.keys().await?;
        let Some(active) = keys.iter().find(|k| &k.role == role && k.status == KeyStatus::Active) else {
            return Err(refused(format!("role {role:?} has no active version in this custody")));
        };
        let plan = store.plan_incident_rotation(&inc.id, role, &active.kid).await?;
        let new_kid = match plan.new_kid {
            Some(k) => k,
            None if active.kid == plan.old_kid => {
                let k = custody.rotate(role, custody.default_role_key_type()).await?;
                stop(opts, "rotate:custody")?;
                k.kid
            }
            // Rotated before a crash, not recorded: the active version is that rotation's.
            None => active.kid.clone(),
        };
        store.finish_incident_rotation(&inc.id, role, &new_kid).await?;
        done.push(json!({"role": role, "old_kid": plan.old_kid, "new_kid": new_kid}));
    }
    // The api publishes what the store lists: the new versions, now.
    crate::serve::sync_recipient_keys(custody, store).await.map_err(|e| refused(format!("recipient keys: {e}")))?;
    Ok(json!({"roles": roles.len(), "rotated": done}))
}

async fn rewrap(
    store: &Store,
    custody: Arc<dyn Custody>,
    audit: &AuditLog,
    opts: &RunOptions,
    id: &str,
) -> Result<Value, IncidentError> {
    let (mut rewrapped, mut failed, mut batches, mut left) = (0u64, 0u64, 0u64, 0u64);
    let mut versions = Vec::new();
    for r in store.incident_rotations(id).await? {
        let Some(new_kid) = r.new_kid else { continue };
        let keys = custody.keys().await?;
        for k in keys.iter().filter(|k| k.role == r.role && k.kid != new_kid && k.status.can_open()) {
            if crate::rewrap::sealed_to(store, &r.role, &k.kid).await? == 0 {
                continue;
            }
            let s = crate::rewrap::rewrap(
                store,
                custody.clone(),
                audit,
                &RewrapOptions {
                    role: r.role.clone(),
                    from: k.kid.clone(),
                    batch: opts.batch,
                    workers: opts.workers,
                    actor: opts.actor.clone(),
                },
                |_| {},
            )
            .await?;
            rewrapped += s.rewrapped;
            failed += s.failed;
            batches += s.batches;
            left += s.left;
            versions
                .push(json!({"role": r.role, "from": s.from, "to": s.to, "rewrapped": s.rewrapped, "left": s.left}));
        }
    }
    Ok(json!({"rewrapped": rewrapped, "failed": failed, "batches": batches, "left": left, "versions": versions}))
}
