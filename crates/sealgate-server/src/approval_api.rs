//! The owner's approvals of loosenings (issue 17 item 2; `sealgate-authority` AUTHORITY.md).
//!
//! A credential whose envelopes name the owner's authority (`own`, envelope PROFILE C8)
//! may be loosened (unfrozen, a limit raised or removed, a symbol added) only with an
//! assertion of one of those passkeys over a statement of the exact new state:
//!
//! 1. `POST /v1/credentials/{id}/approval` with the change (`status` and/or `limits`):
//!    the server writes the statement of the full new state (random id, issued now) and the
//!    WebAuthn request options (its challenge, the passkeys the envelopes name, user
//!    verification required);
//! 2. the browser asks the passkey (`navigator.credentials.get`) and sends the change again
//!    (`PUT …/status` or `PUT …/limits`) with `approval: {statement, credential}`.
//!
//! The api checks the approval (the statement is of this credential and exactly the new
//! state computed now from the stored one, the passkey is the user's and named by every
//! envelope that names any, the assertion verifies here and now, the statement was not used
//! before in this process) and records it whole in the audit chain, where every signer
//! checks it again and keeps it in the owner's ledger ([`crate::owner_ledger`]). The api's
//! check is for a clear answer; the signer's is what counts: a database writer or a stolen
//! session that changes the rows without an approval changes nothing the signer applies.
//!
//! Tightening (freeze, a lower limit) needs no approval, and neither does any change of a
//! credential that names no authority (sealed before the owner had a passkey).

use std::collections::HashMap;
use std::sync::Mutex;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use sealgate_authority::{Assertion, AuthorityKey, OwnerState, OwnerStatus, Statement, StatementKind};
use sealgate_envelope::{AlgPolicy, Jwe};
use sealgate_store::{CredentialLimits, CredentialStatus};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::api::{ApiError, ApiResult, ApiState, LimitsIn};
use crate::auth::AuthUser;
use crate::json::{JsonObject, bounded};
pub use sealgate_api_bodies::ApprovalIn;

/// Statement ids spent in this process, kept while a statement is fresh (the signer's
/// ledger refuses a second use for ever; this gives the caller a clear answer).
#[derive(Default)]
pub struct Spent(Mutex<HashMap<String, u64>>);

/// Most ids remembered.
const MAX_SPENT: usize = 100_000;

impl Spent {
    fn spend(&self, id: &str, now: u64) -> bool {
        let mut m = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let horizon = sealgate_authority::FRESHNESS_SECS + sealgate_authority::FUTURE_SKEW_SECS;
        if m.len() >= MAX_SPENT {
            m.retain(|_, at| now.saturating_sub(*at) <= horizon);
        }
        if m.len() >= MAX_SPENT || m.contains_key(id) {
            return false;
        }
        m.insert(id.to_owned(), now);
        true
    }
}

/// Body of `POST /v1/credentials/{id}/approval`: the change to approve.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalStartIn {
    /// The new status (`active` or `frozen`); absent: unchanged.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    status: Option<String>,
    /// The new limits; absent: unchanged.
    #[serde(default)]
    limits: Option<LimitsIn>,
}

/// What the passkey is asked to sign.
#[derive(Serialize, ToSchema)]
pub struct ApprovalStartView {
    /// The statement (send it back unchanged with the assertion).
    pub statement: String,
    /// Options for `navigator.credentials.get` (`publicKey`: challenge, rpId,
    /// allowCredentials, userVerification `required`).
    #[schema(value_type = Object)]
    pub options: Value,
    /// Whether the change loosens what the owner set (else no approval is needed).
    pub loosens: bool,
}

/// Body of `PUT /v1/credentials/{id}/status`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusIn {
    /// `active` (unfreeze) or `frozen`.
    #[schema(value_type = String)]
    status: String,
    /// The owner's approval, needed to unfreeze a credential that names an authority.
    #[serde(default)]
    approval: Option<ApprovalIn>,
}

fn status_of(s: &str) -> ApiResult<CredentialStatus> {
    match s {
        "active" => Ok(CredentialStatus::Active),
        "frozen" => Ok(CredentialStatus::Frozen),
        _ => Err(ApiError::bad("status must be \"active\" or \"frozen\"")),
    }
}

/// The owner state of a status and stored limits.
pub(crate) fn owner_state(status: CredentialStatus, l: Option<&CredentialLimits>) -> ApiResult<OwnerState> {
    let status = match status {
        CredentialStatus::Active => OwnerStatus::Active,
        _ => OwnerStatus::Frozen,
    };
    let limits = match l {
        None => sealgate_policy::Limits::NONE,
        Some(l) => sealgate_policy::Limits::from_stored(
            l.symbols.as_deref(),
            l.max_notional.as_deref(),
            l.rate_max,
            l.rate_window_ms,
        )
        .map_err(|_| ApiError::new(StatusCode::CONFLICT, "the credential's stored limits are unreadable"))?,
    };
    Ok(OwnerState::from_limits(status, false, &limits))
}

/// The thumbprint lists of the credential's envelopes that name an authority (read from
/// their protected headers; the signer checks the same after opening).
pub(crate) async fn owner_keys(s: &ApiState, user: &str, id: &str) -> ApiResult<Vec<Vec<String>>> {
    let envs = s.store.owner_envelopes(user, id).await.map_err(|e| ApiError::store("envelopes", e))?;
    let sealed = envs
        .iter()
        .filter_map(|e| Jwe::parse(e.jwe.as_bytes(), &AlgPolicy::CREDENTIAL).ok())
        .filter_map(|j| j.protected_header().get("own").cloned())
        .filter_map(|v| serde_json::from_value::<Vec<String>>(v).ok());
    // A key born in the custody names them in its grants (the signer checks those).
    let granted = envs.iter().filter_map(|e| sealgate_custody::grant::claimed_own(&e.jwe));
    Ok(sealed.chain(granted).collect())
}

/// The user's passkeys every envelope that names an authority names.
async fn named_passkeys(
    s: &ApiState,
    user: &str,
    own: &[Vec<String>],
) -> ApiResult<Vec<(sealgate_store::StoredPasskey, AuthorityKey)>> {
    let rows = s.store.passkeys(user).await.map_err(|e| ApiError::store("passkeys", e))?;
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            // The thumbprint of the key itself, not the column beside it.
            let key = AuthorityKey::from_jwk(row.jwk.as_bytes()).ok()?;
            let t = key.thumbprint();
            own.iter().all(|list| list.contains(&t)).then_some((row, key))
        })
        .collect())
}

/// The stored state and the new one a change makes.
async fn change(
    s: &ApiState,
    user: &str,
    id: &str,
    status: Option<CredentialStatus>,
    limits: Option<&CredentialLimits>,
) -> ApiResult<(OwnerState, OwnerState)> {
    let c = s.store.get_credential(user, id).await.map_err(|e| ApiError::store("get credential", e))?;
    let c = c
        .filter(|c| c.status != CredentialStatus::Deleted)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "credential not found"))?;
    let stored = s.store.credential_limits(user, id).await.map_err(|e| ApiError::store("credential limits", e))?;
    let from = owner_state(c.status, stored.as_ref())?;
    let to = owner_state(status.unwrap_or(c.status), limits.or(stored.as_ref()))?;
    Ok((from, to))
}

/// Decides whether a change of `user`'s credential `id` to `status`/`limits` may be made,
/// checking `approval` where it must be; returns the `approval` member to record (if any).
pub(crate) async fn authorize(
    s: &ApiState,
    user: &str,
    id: &str,
    status: Option<CredentialStatus>,
    limits: Option<&CredentialLimits>,
    approval: Option<&ApprovalIn>,
) -> ApiResult<Option<Value>> {
    let (from, to) = change(s, user, id, status, limits).await?;
    let own = owner_keys(s, user, id).await?;
    if own.is_empty() {
        return match approval {
            None => Ok(None),
            Some(_) => Err(ApiError::bad("this credential names no owner authority: no approval is needed")),
        };
    }
    let Some(approval) = approval else {
        if OwnerState::is_loosening(&from, &to) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "this change loosens what the owner set: approve it with a passkey the credential names \
                 (POST /v1/credentials/{id}/approval, then send the change again with the approval)",
            ));
        }
        return Ok(None);
    };
    verify(s, user, id, &own, approval, |kind| match kind {
        StatementKind::Policy(state) if *state == to => Ok(()),
        StatementKind::Policy(_) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "approval refused: the statement approves another state than this change makes \
             (the credential changed meanwhile?): ask for a new approval",
        )),
        _ => Err(refused("the statement does not approve an owner state")),
    })
    .await
    .map(Some)
}

fn refused(why: &str) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, bounded(&format!("approval refused: {why}")))
}

/// Checks an owner's `approval` of `user`'s credential `id` whose envelopes name `own`: the
/// statement is of this credential and of the kind `expect` accepts, the passkey is the
/// user's and named by every envelope that names any, the assertion verifies here and now,
/// and the statement was not used before in this process. Returns the `approval` member to
/// record.
pub(crate) async fn verify(
    s: &ApiState,
    user: &str,
    id: &str,
    own: &[Vec<String>],
    approval: &ApprovalIn,
    expect: impl FnOnce(&StatementKind) -> ApiResult<()>,
) -> ApiResult<Value> {
    let statement = Statement::parse(approval.statement.as_bytes()).map_err(|e| ApiError::bad(e.to_string()))?;
    if statement.owner() != user || statement.cid() != id {
        return Err(refused("the statement is about another credential"));
    }
    expect(statement.kind())?;
    let pk = crate::passkey_api::service(s)?;
    let c = &approval.credential;
    let text = |path: &[&str]| {
        path.iter()
            .try_fold(c, |v, k| v.get(*k))
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::bad(format!("approval.credential.{} must be a base64url string", path.join("."))))
    };
    let raw_id =
        B64.decode(text(&["rawId"])?).map_err(|_| ApiError::bad("approval.credential.rawId is not base64url"))?;
    let assertion = Assertion::from_parts(
        text(&["response", "authenticatorData"])?,
        text(&["response", "clientDataJSON"])?,
        text(&["response", "signature"])?,
    )
    .map_err(|e| ApiError::bad(e.to_string()))?;
    let named = named_passkeys(s, user, own).await?;
    let Some((row, key)) = named.into_iter().find(|(row, _)| row.credential_id == raw_id) else {
        return Err(refused("the passkey is not one of yours that this credential's envelopes name"));
    };
    let now = crate::now_ms() / 1000;
    // The origin the browser reports, if it is ours (any port of localhost on a loopback
    // listener): the record keeps the one used, for the signers' check.
    let origin = serde_json::from_slice::<Value>(assertion.client_data_json())
        .ok()
        .and_then(|cd| cd.get("origin").and_then(Value::as_str).map(str::to_owned))
        .filter(|o| pk.accepts_origin(o))
        .unwrap_or_else(|| pk.origin().to_owned());
    sealgate_authority::verify_assertion(&key, &statement, &assertion, &[&origin], pk.rp_id(), now)
        .map_err(|e| refused(&e.to_string()))?;
    if !pk.spent.spend(statement.id(), now) {
        return Err(refused("this approval was used before"));
    }
    let now_ms = i64::try_from(crate::now_ms()).unwrap_or(i64::MAX);
    if let Err(e) = s.store.passkey_used(user, &row.id, &row.passkey, now_ms).await {
        tracing::warn!(error = %e, "passkey last use not recorded");
    }
    let member = crate::owner_ledger::approval_member(&statement, &assertion, &key, pk.rp_id(), &origin);
    // The record must hold it whole (the audit detail's bound).
    if member.to_string().len() > 3_000 {
        return Err(ApiError::bad("approval: this passkey's key and signature are too large to record"));
    }
    Ok(member)
}

/// The `navigator.credentials.get` options for `statement`: its challenge, and the user's
/// passkeys every envelope naming an authority names (user verification required).
pub(crate) async fn request_options(
    s: &ApiState,
    user: &str,
    own: &[Vec<String>],
    statement: &Statement,
) -> ApiResult<Value> {
    let pk = crate::passkey_api::service(s)?;
    let named = named_passkeys(s, user, own).await?;
    if own.is_empty() || named.is_empty() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "none of your passkeys is named by this credential's envelopes: seal it again with a passkey you have",
        ));
    }
    let allow: Vec<Value> =
        named.iter().map(|(row, _)| json!({"type": "public-key", "id": B64.encode(&row.credential_id)})).collect();
    Ok(json!({"publicKey": {
        "challenge": B64.encode(statement.challenge()),
        "rpId": pk.rp_id(),
        "allowCredentials": allow,
        "userVerification": "required",
        "timeout": sealgate_authority::FRESHNESS_SECS * 1000,
    }}))
}

/// Start an owner's approval of a change to a credential: the statement to sign and the
/// passkey request options.
#[utoipa::path(post, path = "/v1/credentials/{id}/approval", tag = "api", security(("session" = []), ("bearer" = [])),
    params(("id" = String, Path, description = "credential id")),
    request_body = ApprovalStartIn,
    responses((status = 200, description = "sign this statement with one of the passkeys listed", body = ApprovalStartView),
              (status = 404, description = "no such credential", body = crate::json::ErrorBody),
              (status = 409, description = "the credential names no authority, or none of your passkeys", body = crate::json::ErrorBody),
              (status = 503, description = "passkeys are not available on this server", body = crate::json::ErrorBody)))]
pub(crate) async fn start_approval(
    State(s): State<ApiState>,
    user: AuthUser,
    Path(id): Path<String>,
    JsonObject(req): JsonObject<ApprovalStartIn>,
) -> ApiResult<Json<ApprovalStartView>> {
    let status = req.status.as_deref().map(status_of).transpose()?;
    let limits = req.limits.as_ref().map(crate::api::check_limits).transpose()?;
    let (from, to) = change(&s, &user.id, &id, status, limits.as_ref()).await?;
    let own = owner_keys(&s, &user.id, &id).await?;
    if own.is_empty() {
        return Err(ApiError::new(StatusCode::CONFLICT, "this credential names no owner authority"));
    }
    let statement =
        Statement::new(&user.id, &id, StatementKind::Policy(to.clone()), crate::now_ms() / 1000).map_err(|e| {
            tracing::error!(error = %e, "statement not made");
            ApiError::internal()
        })?;
    let options = request_options(&s, &user.id, &own, &statement).await?;
    Ok(Json(ApprovalStartView {
        statement: String::from_utf8_lossy(&statement.canonical()).into_owned(),
        options,
        loosens: OwnerState::is_loosening(&from, &to),
    }))
}

/// Freeze a credential, or unfreeze it (with the owner's approval when it names an authority).
#[utoipa::path(put, path = "/v1/credentials/{id}/status", tag = "api", security(("session" = []), ("bearer" = [])),
    params(("id" = String, Path, description = "credential id")),
    request_body = StatusIn,
    responses((status = 200, description = "the status is set", body = crate::api::CredentialView),
              (status = 403, description = "unfreezing needs the owner's approval, or the approval is refused", body = crate::json::ErrorBody),
              (status = 404, description = "no such credential", body = crate::json::ErrorBody),
              (status = 409, description = "the approval is for another state", body = crate::json::ErrorBody),
              (status = 503, description = "set, but not audited", body = crate::json::ErrorBody)))]
pub(crate) async fn set_status(
    State(s): State<ApiState>,
    user: AuthUser,
    Path(id): Path<String>,
    JsonObject(req): JsonObject<StatusIn>,
) -> ApiResult<Json<crate::api::CredentialView>> {
    let status = status_of(&req.status)?;
    let approval = authorize(&s, &user.id, &id, Some(status), None, req.approval.as_ref()).await?;
    s.store.set_credential_status(&user.id, &id, status).await.map_err(|e| ApiError::store("set status", e))?;
    crate::api::changed_one(&s, &user.id, &id);
    let mut detail = json!({"status": req.status});
    if let Some(a) = approval {
        detail[crate::owner_ledger::APPROVAL_MEMBER] = a;
    }
    let action = crate::owner_ledger::CREDENTIAL_STATUS.parse().map_err(|_| ApiError::internal())?;
    let event = crate::audit::AuditEvent::new(format!("user:{}", user.id), action, &id, detail).owner(&user.id);
    s.audit.record(event).await.map_err(|e| ApiError::audit_failed("the status was set", e))?;
    crate::api::credential_json(&s, &user, &id).await
}
