//! The owner's overrides of a credential's anomaly detectors (`PUT
//! /v1/credentials/{id}/anomaly-rules`): some fields of `sealgate_anomaly::Rules`, checked
//! as the signer reads them, stored in `anomaly_rules`, audited (`anomaly_rules_changed`).
//!
//! For a credential whose envelopes name the owner's passkeys, the signer applies stored
//! overrides only where they are stricter than the defaults (a row is not the owner's
//! word: `Rules::default().strictest`), so the api refuses a loosening there outright
//! rather than store what would not apply.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use sealgate_anomaly::Rules;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use crate::api::{ApiError, ApiResult, ApiState};
use crate::auth::AuthUser;
use crate::json::{JsonObject, bounded};

/// Body of `PUT /v1/credentials/{id}/anomaly-rules`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnomalyRulesIn {
    /// Some fields of the detectors' rules (`burst_factor`, `illiquid_min_volume_24h`, …;
    /// see the README), or `null` to go back to the defaults.
    #[schema(value_type = Option<Object>)]
    overrides: Option<Map<String, Value>>,
}

/// The rules the detectors apply to a credential.
#[derive(Serialize, ToSchema)]
pub struct AnomalyRulesView {
    /// The stored overrides (`null`: none).
    #[schema(value_type = Option<Object>)]
    pub overrides: Option<Value>,
    /// Every rule as the signer applies it.
    #[schema(value_type = Object)]
    pub effective: Value,
    /// Whether the credential names its owner's passkeys (overrides then only tighten).
    pub owner_bound: bool,
}

/// Set (or clear) the overrides of a credential's anomaly detectors.
#[utoipa::path(put, path = "/v1/credentials/{id}/anomaly-rules", tag = "api", security(("session" = []), ("bearer" = [])),
    params(("id" = String, Path, description = "credential id")),
    request_body = AnomalyRulesIn,
    responses((status = 200, description = "stored; the rules as applied", body = AnomalyRulesView),
              (status = 400, description = "an unknown rule, a wrong type or a value out of range", body = crate::json::ErrorBody),
              (status = 403, description = "a loosening of a credential that names the owner's passkeys", body = crate::json::ErrorBody),
              (status = 404, description = "no such credential", body = crate::json::ErrorBody),
              (status = 503, description = "stored, but not audited", body = crate::json::ErrorBody)))]
pub(crate) async fn set_anomaly_rules(
    State(s): State<ApiState>,
    user: AuthUser,
    Path(id): Path<String>,
    JsonObject(req): JsonObject<AnomalyRulesIn>,
) -> ApiResult<Json<AnomalyRulesView>> {
    // The credential first: clearing the overrides of a credential that is not the caller's
    // (or no id at all) is a 404, never a record about it.
    let c = s.store.get_credential(&user.id, &id).await.map_err(|e| ApiError::store("get credential", e))?;
    if c.is_none_or(|c| c.status == sealgate_store::CredentialStatus::Deleted) {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "credential not found"));
    }
    let text = req.overrides.as_ref().map(|m| Value::Object(m.clone()).to_string());
    let rules = match &text {
        Some(t) => Rules::default().with_overrides(t).map_err(|e| ApiError::bad(bounded(&e.to_string())))?,
        None => Rules::default(),
    };
    let owner_bound = !crate::approval_api::owner_keys(&s, &user.id, &id).await?.is_empty();
    if owner_bound && Rules::default().strictest(&rules) != rules {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "this credential names your passkeys: its detectors can be made stricter than the defaults, \
             never looser (the signer would not apply it)",
        ));
    }
    s.store
        .set_anomaly_overrides(&user.id, &id, text.as_deref())
        .await
        .map_err(|e| ApiError::store("anomaly rules", e))?;
    let action = "anomaly_rules_changed".parse().map_err(|_| ApiError::internal())?;
    let detail = json!({"overrides": req.overrides});
    let event = crate::audit::AuditEvent::new(format!("user:{}", user.id), action, &id, detail).owner(&user.id);
    s.audit.record(event).await.map_err(|e| ApiError::audit_failed("the anomaly rules were set", e))?;
    let effective = serde_json::to_value(&rules).map_err(|_| ApiError::internal())?;
    Ok(Json(AnomalyRulesView { overrides: req.overrides.map(Value::Object), effective, owner_bound }))
}
