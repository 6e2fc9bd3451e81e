//! `GET /v1/incidents`: the security incidents that concern the caller's credentials, each
//! with its credentials (not deleted) and, per credential, the exchange's API-key page and
//! the steps to replace the key there. The web client shows them as a banner; a credential
//! listed here carries `replace_key` in every credential view.
//!
//! Only the caller's own credentials are listed (the store matches the owner in the same
//! statement); an incident that concerns none of them is not shown at all.

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::{ApiError, ApiResult, ApiState};
use crate::auth::AuthUser;

/// One of the caller's credentials an incident concerns.
#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentCredentialView {
    /// The credential id.
    pub id: String,
    /// Its exchange.
    pub exchange: String,
    /// Its label.
    pub label: String,
    /// The last characters of its API key.
    pub hint: String,
    /// `active` or `frozen` (the incident froze it; unfreezing is the user's).
    pub status: String,
    /// The exchange's API-key management page.
    pub key_page: Option<String>,
    /// The steps to replace the key, in words.
    pub steps: Vec<String>,
}

/// An incident, as an affected user sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserIncidentView {
    /// Id.
    pub id: String,
    /// What happened, in the operator's words.
    pub reason: String,
    /// `open` or `closed`.
    pub state: String,
    /// Opened (Unix ms).
    pub opened_ms: i64,
    /// The caller's credentials it concerns that are not deleted yet.
    pub credentials: Vec<IncidentCredentialView>,
}

/// `GET /v1/incidents`.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserIncidentList {
    /// Oldest first.
    pub incidents: Vec<UserIncidentView>,
}

/// The ids of the user's credentials (not deleted) whose API key must be replaced.
pub(crate) async fn to_replace(s: &ApiState, user: &str) -> ApiResult<BTreeSet<String>> {
    let rows = s.store.user_incident_credentials(user).await.map_err(|e| ApiError::store("incidents", e))?;
    Ok(rows.into_iter().map(|r| r.credential_id).collect())
}

/// The security incidents that concern the caller's credentials, with the steps per
/// credential.
#[utoipa::path(get, path = "/v1/incidents", tag = "api", security(("session" = []), ("bearer" = [])),
    responses((status = 200, description = "the incidents (empty when none concerns the caller)", body = UserIncidentList)))]
pub(crate) async fn my_incidents(State(s): State<ApiState>, user: AuthUser) -> ApiResult<Json<UserIncidentList>> {
    let rows = s.store.user_incident_credentials(&user.id).await.map_err(|e| ApiError::store("incidents", e))?;
    let mut out: Vec<UserIncidentView> = Vec::new();
    for r in rows {
        if out.last().is_none_or(|i| i.id != r.incident_id) {
            let inc = s.store.incident(&r.incident_id).await.map_err(|e| ApiError::store("incident", e))?;
            let Some(inc) = inc else { continue };
            out.push(UserIncidentView {
                id: inc.id,
                reason: inc.reason,
                state: inc.state,
                opened_ms: inc.opened_ms,
                credentials: Vec::new(),
            });
        }
        let page = sealgate_exchanges::key_page(&r.exchange);
        let steps = page.map(|p| sealgate_exchanges::replace_steps(p, &r.hint).to_vec()).unwrap_or_default();
        if let Some(last) = out.last_mut() {
            last.credentials.push(IncidentCredentialView {
                key_page: page.map(|p| p.url.to_owned()),
                steps,
                id: r.credential_id,
                exchange: r.exchange,
                label: r.label,
                hint: r.hint,
                status: r.status,
            });
        }
    }
    Ok(Json(UserIncidentList { incidents: out }))
}
