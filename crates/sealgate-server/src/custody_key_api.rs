//! Credentials whose exchange key is made in the custody (DESIGN §1.1, issue 18): the
//! owner picks the exchange and the roles, the signer makes the key and answers with its
//! public key and pending grants, the owner registers the public key on the exchange's
//! key page and comes back with the API key id the exchange shows; then the credential is
//! stored with the grants the signer signed ([`crate::signer::Signer::activate_held_key`]).
//! No secret passes through the api, the browser or the database at any step.
//!
//! The api reaches the signer in its process (the embedded default), or a signer fleet as
//! the `api` service ([`crate::held_keys`]); without either it answers 503.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use sealgate_api_bodies::{
    ActivateCustodyKey, CreateCustodyKey, DiscardCustodyKey, StartCustodyKeyApproval, check_activate,
    check_create_custody_key,
};
use sealgate_custody::ExchangeKeyType;
use sealgate_store::StoreError;
use serde::Serialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use crate::api::{ApiError, ApiResult, ApiState, CredentialView};
use crate::auth::AuthUser;
use crate::client::SignerCallError;
use crate::held_keys::{CreateCall, DestroyCall, HeldKeys, PendingCall};
use crate::json::{ErrorBody, JsonObject};
use crate::revocation::envelope_digest;
use crate::signer::key_types_for;

/// A key just made in the custody, and what to do with it on the exchange.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustodyKeyView {
    /// The credential id it is for.
    pub id: String,
    /// The exchange.
    pub exchange: String,
    /// The key's id in the custody.
    pub key_id: String,
    /// `ed25519` or `rsa-2048`.
    pub key_type: String,
    /// The public key, as the exchange's key page takes it.
    pub public_pem: String,
    /// The grants to send back with the API key id (`POST /v1/custody-keys/activate`).
    pub pending: Vec<String>,
    /// Where and how to register it.
    pub steps: KeySteps,
}

/// The exchange's page and the steps there.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeySteps {
    /// The exchange's name.
    pub exchange_name: String,
    /// Its API key management page.
    pub page: String,
    /// Where the page is in its menus.
    pub menu: String,
    /// What to do there, in order.
    pub steps: Vec<String>,
}

fn signer(s: &ApiState) -> ApiResult<&Arc<dyn HeldKeys>> {
    s.held_keys.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "keys made in the custody need a signer: in this process, or reached with the api service key",
        )
    })
}

fn signer_error(e: SignerCallError) -> ApiError {
    match e {
        SignerCallError::BadRequest(m) => ApiError::bad(m),
        SignerCallError::Denied(m) => ApiError::new(StatusCode::FORBIDDEN, m),
        SignerCallError::NotFound => ApiError::new(StatusCode::NOT_FOUND, "not found"),
        other => {
            tracing::warn!(error = %other, "custody key");
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the key custody is unavailable; try again shortly")
        }
    }
}

/// The steps on `exchange`'s key page for a key that may `trade` and `withdraw`.
fn steps_for(exchange: &str, trade: bool, withdraw: bool) -> KeySteps {
    let page = sealgate_exchanges::key_page(exchange);
    let (name, url, menu) = page.map_or((exchange, "", ""), |p| (p.name, p.url, p.menu));
    let create = match exchange {
        "binance" => {
            "Create API, choose \"Self-generated\", and paste the public key below (with its BEGIN and END lines)"
        }
        "bybit" => {
            "Create New Key, choose \"Self-generated API Keys\" (System-generated would give you a secret), and paste the public key below"
        }
        "bitget" => {
            "Create API key, choose \"Self-generated\" (RSA), paste the public key below, and set a passphrase: you will type it here too, and it is sealed so only the signer reads it"
        }
        _ => "Create a key of the self-generated (public key) kind and paste the public key below",
    };
    let permission = match (exchange, trade) {
        ("binance", false) => "Tick only \"Enable Reading\"",
        ("binance", true) => "Tick \"Enable Reading\" and \"Enable Spot & Margin Trading\"; nothing else",
        ("bybit", false) => "Choose \"Read-Only\"",
        ("bybit", true) => "Choose \"Read-Write\" and tick only Spot > Trade",
        ("bitget", false) => "Choose \"Read-only\"",
        ("bitget", true) => "Choose \"Read and write\" and tick only Spot trading",
        (_, false) => "Give it read permission only",
        (_, true) => "Give it read and spot trading permissions only",
    };
    let withdrawals = if withdraw {
        "Withdrawals: enable them only if you mean Sealgate to send withdrawals you approve with your passkey"
    } else {
        "Leave withdrawals and transfers off: Sealgate refuses them anyway, and the exchange should too"
    };
    KeySteps {
        exchange_name: name.into(),
        page: url.into(),
        menu: menu.into(),
        steps: vec![
            format!("Sign in to {name} and open {menu}"),
            create.into(),
            permission.into(),
            withdrawals.into(),
            "Restrict access to trusted IPs only: add the address this Sealgate's signer reaches the exchange from (your operator knows it)".into(),
            "Copy the API key id the exchange shows and paste it back here".into(),
        ],
    }
}

/// Make a key in the custody for a new credential.
#[utoipa::path(post, path = "/v1/custody-keys", tag = "api", security(("session" = []), ("bearer" = [])),
    request_body = CreateCustodyKey,
    responses((status = 201, description = "made: register its public key on the exchange", body = CustodyKeyView),
              (status = 400, description = "the exchange takes no such key, or the body is wrong", body = ErrorBody),
              (status = 409, description = "the caller already has a credential with this id", body = ErrorBody),
              (status = 503, description = "the custody or the audit log is unavailable, or no signer runs in this process", body = ErrorBody)))]
pub(crate) async fn create_custody_key(
    State(s): State<ApiState>,
    user: AuthUser,
    JsonObject(req): JsonObject<CreateCustodyKey>,
) -> ApiResult<(StatusCode, Json<CustodyKeyView>)> {
    let scope = check_create_custody_key(&req).map_err(ApiError::bad)?;
    let types = key_types_for(&req.exchange);
    let key_type = match req.key_type.as_deref() {
        Some(t) => ExchangeKeyType::parse(t).ok_or_else(|| ApiError::bad("key_type must be ed25519 or rsa-2048"))?,
        None => {
            *types.first().ok_or_else(|| ApiError::bad("this exchange takes no key it did not make: seal its key"))?
        }
    };
    if let Some(list) = &req.own {
        sealgate_envelope::OwnerKeys::new(list).map_err(|e| ApiError::bad(format!("own: {e}")))?;
    }
    let signer = signer(&s)?;
    if s.store.get_credential(&user.id, req.id.as_str()).await.map_err(|e| ApiError::store("credential", e))?.is_some()
    {
        return Err(ApiError::new(StatusCode::CONFLICT, "you already have a credential with this id; make a new id"));
    }
    let call = CreateCall {
        owner: sealgate_vocab::OwnerId::parse(&user.id).map_err(|_| ApiError::internal())?,
        cid: req.id.clone(),
        exchange: req.exchange.clone(),
        key_type: key_type.name().into(),
        roles: req.roles.iter().map(|r| r.name().to_owned()).collect(),
        scope: scope.classes().iter().map(|c| c.name().to_owned()).collect(),
        own: req.own.clone(),
    };
    let born = signer.create(&call).await.map_err(signer_error)?;
    let trade = scope.contains(sealgate_vocab::Class::Trade);
    let withdraw = scope.contains(sealgate_vocab::Class::Withdraw);
    Ok((
        StatusCode::CREATED,
        Json(CustodyKeyView {
            id: req.id.as_str().to_owned(),
            exchange: req.exchange.clone(),
            key_id: born.key_id,
            key_type: born.key_type,
            public_pem: born.public_pem,
            pending: born.pending,
            steps: steps_for(&req.exchange, trade, withdraw),
        }),
    ))
}

/// Store the credential of a key made in the custody, now that the exchange named it.
#[utoipa::path(post, path = "/v1/custody-keys/activate", tag = "api", security(("session" = []), ("bearer" = [])),
    request_body = ActivateCustodyKey,
    responses((status = 201, description = "stored and active", body = CredentialView),
              (status = 400, description = "the grants are not the caller's, not pending, or their key is gone", body = ErrorBody),
              (status = 409, description = "the caller already has a credential with this id", body = ErrorBody),
              (status = 503, description = "the custody or the audit log is unavailable; nothing was kept", body = ErrorBody)))]
pub(crate) async fn activate_custody_key(
    State(s): State<ApiState>,
    user: AuthUser,
    JsonObject(req): JsonObject<ActivateCustodyKey>,
) -> ApiResult<(StatusCode, Json<CredentialView>)> {
    check_activate(&req).map_err(ApiError::bad)?;
    let signer = signer(&s)?;
    // The owner's approval, checked here for a clear answer (the passkey is theirs and
    // named, the assertion verifies now, the statement is spent); the signer checks it
    // again and keeps it in every grant.
    let mut call = PendingCall {
        owner: user.id.clone(),
        pending: req.pending.clone(),
        api_key: Some(req.api_key.clone()),
        approval: None,
        sealed: None,
    };
    // What the grants say, read once (at the signer) when an approval or a passphrase needs it.
    let terms = match req.approval.is_some() || req.sealed.is_some() {
        true => Some(signer.terms(&call).await.map_err(signer_error)?),
        false => None,
    };
    if let (Some(a), Some(terms)) = (&req.approval, &terms) {
        let kind = terms.statement_kind().map_err(|e| ApiError::bad(e.to_string()))?;
        let member =
            crate::approval_api::verify(&s, &user.id, &terms.cid, std::slice::from_ref(&terms.own), a, |k| match k {
                k if *k == kind => Ok(()),
                _ => Err(ApiError::new(StatusCode::FORBIDDEN, "approval refused: the statement approves other terms")),
            })
            .await?;
        call.approval = Some(member);
    }
    // A passphrase sealed to each role (Bitget): checked as a sealed credential is (the
    // caller's, this credential's and exchange's, to an active key of the role).
    if let (Some(list), Some(terms)) = (&req.sealed, &terms) {
        let now = crate::now_ms() / 1000;
        let mut sealed = Vec::with_capacity(list.len());
        for e in list {
            crate::api::check_sealed(&s, &user, &terms.cid, &terms.exch, e.role.name(), &e.jwe, now).await?;
            sealed.push(crate::held_keys::Sealed { role: e.role.name().into(), jwe: e.jwe.clone() });
        }
        call.sealed = Some(sealed);
    }
    let active = signer.activate(&call).await.map_err(signer_error)?;
    let scope_text = active.scope.join(",");
    let new = sealgate_store::NewCredential {
        id: &active.cid,
        owner: &user.id,
        exchange: &active.exch,
        label: &req.label,
        hint: &active.hint,
        scope: &scope_text,
    };
    let envelopes: Vec<sealgate_store::NewEnvelope<'_>> = active
        .grants
        .iter()
        .map(|g| sealgate_store::NewEnvelope { role: &g.role, kid: &active.key, jwe: &g.grant })
        .collect();
    let cred = s.store.create_credential(&new, &envelopes).await.map_err(|e| match e {
        StoreError::AlreadyExists { .. } => {
            ApiError::new(StatusCode::CONFLICT, "you already have a credential with this id; make a new key and id")
        }
        e => ApiError::store("create credential", e),
    })?;
    let roles: Vec<&str> = active.grants.iter().map(|g| g.role.as_str()).collect();
    // Each grant's identity, as a later revocation will name it.
    let digests: Map<String, Value> = active
        .grants
        .iter()
        .map(|g| (g.role.clone(), json!(envelope_digest(&g.grant).map(|d| d.to_string()))))
        .collect();
    let mut detail = json!({"exchange": cred.exchange, "roles": roles, "scope": active.scope, "kids": [active.key],
        "envelopes": digests, "custody_key": active.key});
    if let Some(own) = &active.own {
        detail[crate::owner_ledger::OWN_MEMBER] = json!(own);
    }
    // Without its record the rows go again; the key and its pending grants stay.
    crate::api::created(&s, &user, &cred, &roles, detail, "try again later").await
}

/// What the owner's passkey signs before a key whose grants name passkeys activates.
#[utoipa::path(post, path = "/v1/custody-keys/approval", tag = "api", security(("session" = []), ("bearer" = [])),
    request_body = StartCustodyKeyApproval,
    responses((status = 200, description = "sign this statement with one of the passkeys listed", body = crate::approval_api::ApprovalStartView),
              (status = 400, description = "the grants are not the caller's or not pending", body = ErrorBody),
              (status = 409, description = "the grants name no passkey of the caller's", body = ErrorBody),
              (status = 503, description = "passkeys or the custody are not available here", body = ErrorBody)))]
pub(crate) async fn start_custody_key_approval(
    State(s): State<ApiState>,
    user: AuthUser,
    JsonObject(req): JsonObject<StartCustodyKeyApproval>,
) -> ApiResult<Json<crate::approval_api::ApprovalStartView>> {
    let signer = signer(&s)?;
    let call = PendingCall {
        owner: user.id.clone(),
        pending: req.pending,
        api_key: Some(req.api_key),
        approval: None,
        sealed: None,
    };
    let terms = signer.terms(&call).await.map_err(signer_error)?;
    if terms.own.is_empty() {
        return Err(ApiError::new(StatusCode::CONFLICT, "these grants name no passkey: activate without an approval"));
    }
    let kind = terms.statement_kind().map_err(|e| ApiError::bad(e.to_string()))?;
    let statement = sealgate_authority::Statement::new(&user.id, &terms.cid, kind, crate::now_ms() / 1000)
        .map_err(|e| ApiError::bad(e.to_string()))?;
    let options = crate::approval_api::request_options(&s, &user.id, &[terms.own], &statement).await?;
    Ok(Json(crate::approval_api::ApprovalStartView {
        statement: String::from_utf8_lossy(&statement.canonical()).into_owned(),
        options,
        loosens: true,
    }))
}

/// Destroy a key made in the custody and never activated (the owner changed their mind).
#[utoipa::path(post, path = "/v1/custody-keys/discard", tag = "api", security(("session" = []), ("bearer" = [])),
    request_body = DiscardCustodyKey,
    responses((status = 204, description = "the key is destroyed"),
              (status = 400, description = "the grants are not the caller's pending ones, or the key is active", body = ErrorBody),
              (status = 503, description = "the custody or the audit log is unavailable", body = ErrorBody)))]
pub(crate) async fn discard_custody_key(
    State(s): State<ApiState>,
    user: AuthUser,
    JsonObject(req): JsonObject<DiscardCustodyKey>,
) -> ApiResult<StatusCode> {
    if req.pending.is_empty() || req.pending.len() > 2 || req.pending.iter().any(|g| g.len() > 8 * 1024) {
        return Err(ApiError::bad("pending: the one or two grants the key was made with"));
    }
    let call =
        PendingCall { owner: user.id.clone(), pending: req.pending, api_key: None, approval: None, sealed: None };
    signer(&s)?.discard(&call).await.map_err(signer_error)?;
    Ok(StatusCode::NO_CONTENT)
}

/// After a credential's deletion: destroys the custody key its grants named (the deletion
/// is on the record first; the signer checks that). A failure is logged, never the
/// caller's: the credential is gone and no grant of the key opens again.
pub(crate) async fn destroy_deleted(s: &ApiState, owner: &str, envs: &[sealgate_store::Envelope]) {
    let grants: Vec<String> =
        envs.iter().filter(|e| sealgate_custody::grant::is_grant(&e.jwe)).map(|e| e.jwe.clone()).collect();
    if grants.is_empty() {
        return;
    }
    let Some(signer) = s.held_keys.as_ref() else {
        tracing::warn!(owner, "a deleted credential's custody key was not destroyed: no signer in this process");
        return;
    };
    match signer.destroy(&DestroyCall { owner: owner.to_owned(), grants }).await {
        Ok(d) => tracing::info!(owner, key = %d.key, "custody key destroyed"),
        Err(e) => tracing::warn!(owner, error = %e, "a deleted credential's custody key was not destroyed"),
    }
}
