//! The owner's approval of each withdrawal (issue 17 item 3).
//!
//! The signer refuses a withdrawal until its owner approved it, and writes it down as a
//! pending request ([`crate::signer`]'s withdrawal gate): exchange, asset, amount,
//! destination, network, the role that asked, and the SHA-256 of the exact canonical request.
//! Here the owner sees the pending requests and approves one with a passkey the credential's
//! envelopes name: `POST /v1/withdrawals/{id}/approval` gives the statement (statement S4 of
//! `sealgate-authority`: the facts and the request digest) and the WebAuthn options, and
//! `POST /v1/withdrawals/{id}/approve` takes the passkey's answer. The approval is recorded
//! whole (`withdrawal_approved`) and kept on the row; the caller then sends the same request
//! again, and the signer checks the approval itself before it signs.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use sealgate_authority::{Decimal, Statement, StatementKind, Withdrawal};
use sealgate_store::WithdrawalApproval;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::api::{ApiError, ApiResult, ApiState};
use crate::approval_api::{ApprovalIn, ApprovalStartView};
use crate::auth::AuthUser;
use crate::json::JsonObject;

/// A withdrawal waiting for its owner.
#[derive(Debug, Serialize, ToSchema)]
pub struct WithdrawalView {
    /// Id.
    pub id: String,
    /// The credential.
    pub credential_id: String,
    /// Its exchange.
    pub exchange: String,
    /// The role that asked.
    pub role: String,
    /// Asset.
    pub asset: String,
    /// Amount.
    pub amount: String,
    /// Address (with its tag or memo after a space).
    pub destination: String,
    /// Network, if named.
    pub network: Option<String>,
    /// `pending`, `approved`, `used` or `expired`.
    pub state: String,
    /// Asked at (Unix ms).
    pub created_ms: i64,
    /// Refused unless approved (and, once approved, unless made) before (Unix ms).
    pub expires_ms: i64,
}

impl From<WithdrawalApproval> for WithdrawalView {
    fn from(r: WithdrawalApproval) -> Self {
        Self {
            id: r.id,
            credential_id: r.credential_id,
            exchange: r.exchange,
            role: r.role,
            asset: r.asset,
            amount: r.amount,
            destination: r.destination,
            network: r.network,
            state: r.state,
            created_ms: r.created_ms,
            expires_ms: r.expires_ms,
        }
    }
}

/// `GET /v1/withdrawals`.
#[derive(Debug, Serialize, ToSchema)]
pub struct WithdrawalList {
    /// Pending, oldest first.
    pub withdrawals: Vec<WithdrawalView>,
}

/// Body of `POST /v1/withdrawals/{id}/approve`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveIn {
    /// The passkey's approval of the statement `…/approval` gave.
    approval: ApprovalIn,
}

fn now_ms() -> i64 {
    i64::try_from(crate::now_ms()).unwrap_or(i64::MAX)
}

/// The pending request `id` of the user, and the statement of it.
async fn pending(s: &ApiState, user: &str, id: &str) -> ApiResult<(WithdrawalApproval, Withdrawal)> {
    let row = s.store.withdrawal(user, id).await.map_err(|e| ApiError::store("withdrawal", e))?;
    let row = row.ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "withdrawal not found"))?;
    if row.state != "pending" || row.expires_ms <= now_ms() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "this withdrawal is no longer waiting (approved, made or expired): the service asks again if it still wants it",
        ));
    }
    let bad =
        || ApiError::new(StatusCode::CONFLICT, "this withdrawal cannot be approved (its stored facts are unreadable)");
    let request: [u8; 32] = B64.decode(&row.request_digest).ok().and_then(|d| d.try_into().ok()).ok_or_else(bad)?;
    let amount = Decimal::parse(&row.amount).ok_or_else(bad)?;
    let w = Withdrawal::new(&row.exchange, &row.asset, amount, &row.destination, row.network.as_deref(), request)
        .map_err(|_| bad())?;
    Ok((row, w))
}

/// The caller's withdrawals waiting for approval.
#[utoipa::path(get, path = "/v1/withdrawals", tag = "api", security(("session" = []), ("bearer" = [])),
    responses((status = 200, description = "pending withdrawals", body = WithdrawalList)))]
pub(crate) async fn list_withdrawals(State(s): State<ApiState>, user: AuthUser) -> ApiResult<Json<WithdrawalList>> {
    let rows = s.store.pending_withdrawals(&user.id, now_ms()).await.map_err(|e| ApiError::store("withdrawals", e))?;
    Ok(Json(WithdrawalList { withdrawals: rows.into_iter().map(Into::into).collect() }))
}

/// Start the owner's approval of a pending withdrawal: the statement and the passkey options.
#[utoipa::path(post, path = "/v1/withdrawals/{id}/approval", tag = "api", security(("session" = []), ("bearer" = [])),
    params(("id" = String, Path, description = "withdrawal id")),
    responses((status = 200, description = "sign this statement with one of the passkeys listed", body = ApprovalStartView),
              (status = 404, description = "no such withdrawal", body = crate::json::ErrorBody),
              (status = 409, description = "no longer pending, or none of your passkeys is named", body = crate::json::ErrorBody),
              (status = 503, description = "passkeys are not available on this server", body = crate::json::ErrorBody)))]
pub(crate) async fn start_withdrawal_approval(
    State(s): State<ApiState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<ApprovalStartView>> {
    let (row, w) = pending(&s, &user.id, &id).await?;
    let statement = Statement::new(&user.id, &row.credential_id, StatementKind::Withdrawal(w), crate::now_ms() / 1000)
        .map_err(|e| {
            tracing::error!(error = %e, "statement not made");
            ApiError::internal()
        })?;
    let own = crate::approval_api::owner_keys(&s, &user.id, &row.credential_id).await?;
    let options = crate::approval_api::request_options(&s, &user.id, &own, &statement).await?;
    Ok(Json(ApprovalStartView {
        statement: String::from_utf8_lossy(&statement.canonical()).into_owned(),
        options,
        loosens: true,
    }))
}

/// Approve a pending withdrawal with a passkey the credential names; the service then sends
/// the same request again within the approval's lifetime.
#[utoipa::path(post, path = "/v1/withdrawals/{id}/approve", tag = "api", security(("session" = []), ("bearer" = [])),
    params(("id" = String, Path, description = "withdrawal id")),
    request_body = ApproveIn,
    responses((status = 200, description = "approved", body = WithdrawalView),
              (status = 403, description = "the approval is refused", body = crate::json::ErrorBody),
              (status = 404, description = "no such withdrawal", body = crate::json::ErrorBody),
              (status = 409, description = "no longer pending, or the statement is of another withdrawal", body = crate::json::ErrorBody),
              (status = 503, description = "approved, but not audited", body = crate::json::ErrorBody)))]
pub(crate) async fn approve_withdrawal(
    State(s): State<ApiState>,
    user: AuthUser,
    Path(id): Path<String>,
    JsonObject(req): JsonObject<ApproveIn>,
) -> ApiResult<Json<WithdrawalView>> {
    let (row, w) = pending(&s, &user.id, &id).await?;
    let own = crate::approval_api::owner_keys(&s, &user.id, &row.credential_id).await?;
    if own.is_empty() {
        return Err(ApiError::new(StatusCode::CONFLICT, "this credential names no owner authority"));
    }
    let member =
        crate::approval_api::verify(&s, &user.id, &row.credential_id, &own, &req.approval, |kind| match kind {
            StatementKind::Withdrawal(x) if *x == w => Ok(()),
            _ => Err(ApiError::new(
                StatusCode::CONFLICT,
                "approval refused: the statement is not of this withdrawal: ask for a new approval",
            )),
        })
        .await?;
    let ttl = i64::try_from(sealgate_authority::FRESHNESS_SECS * 1000).unwrap_or(i64::MAX);
    s.store
        .approve_withdrawal(&user.id, &id, &member.to_string(), now_ms().saturating_add(ttl))
        .await
        .map_err(|e| ApiError::store("approve withdrawal", e))?;
    let action = crate::owner_ledger::WITHDRAWAL_APPROVED.parse().map_err(|_| ApiError::internal())?;
    let detail = json!({"withdrawal": id, crate::owner_ledger::APPROVAL_MEMBER: member});
    let event =
        crate::audit::AuditEvent::new(format!("user:{}", user.id), action, &row.credential_id, detail).owner(&user.id);
    s.audit.record(event).await.map_err(|e| ApiError::audit_failed("the withdrawal was approved", e))?;
    let row = s.store.withdrawal(&user.id, &id).await.map_err(|e| ApiError::store("withdrawal", e))?;
    row.map(|r| Json(r.into())).ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "withdrawal not found"))
}
