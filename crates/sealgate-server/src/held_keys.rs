//! The signer's custody-key operations as a service (issue 18): what the api asks of the
//! signer when an owner makes an exchange key in the custody ([`crate::custody_key_api`]).
//!
//! One trait, [`HeldKeys`], two ways to reach it: the signer in the api's process (the
//! embedded default), and a signer fleet over HTTP (`/v1/held-keys/…`, the scaled
//! deployment), where the api proves itself with the `api` service key. That key is not a
//! consumer role: it cannot sign or forward an exchange request, and the consumer roles'
//! keys cannot make, activate or destroy a key. Everything the signer decides (the grants'
//! signatures, the owner's approval, the key still in the custody, a deletion on the
//! record) it decides itself, whoever asks.

use std::sync::Arc;

use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::{Json, extract::State};
use sealgate_custody::ExchangeKeyType;
use sealgate_vocab::{CredentialId, OwnerId, Role, Scope};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::client::{CallFuture, SignerCallError};
use crate::signer::{HttpSignerClient, NewHeldKey, Signer};

/// The service identity of an api that reaches a signer fleet for custody keys.
pub const API_SERVICE: &str = "api";

/// Make a key for a new credential (`/v1/held-keys/create`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCall {
    /// The owner.
    #[schema(value_type = String)]
    pub owner: OwnerId,
    /// The credential id.
    #[schema(value_type = String)]
    pub cid: CredentialId,
    /// The exchange.
    pub exchange: String,
    /// `ed25519` or `rsa-2048`.
    pub key_type: String,
    /// `importer` and/or `trader`.
    pub roles: Vec<String>,
    /// The classes.
    pub scope: Vec<String>,
    /// The owner's passkey thumbprints, if named.
    #[serde(default)]
    pub own: Option<Vec<String>>,
}

/// A key just made.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Born {
    /// Its id in the custody.
    pub key_id: String,
    /// Its type.
    pub key_type: String,
    /// Its public key (`PUBLIC KEY` PEM).
    pub public_pem: String,
    /// The pending grants, one per role.
    pub pending: Vec<String>,
}

/// A call about pending grants (`terms`, `activate`, `discard`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PendingCall {
    /// The owner the grants must name.
    pub owner: String,
    /// The pending grants.
    pub pending: Vec<String>,
    /// The exchange's API key id (not for `discard`).
    #[serde(default)]
    pub api_key: Option<String>,
    /// The owner's approval member, as the api checked it (`activate` only).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub approval: Option<Value>,
    /// The passphrase sealed to each role, where the exchange needs one (`activate` only).
    #[serde(default)]
    pub sealed: Option<Vec<Sealed>>,
}

/// `{"api_key", "passphrase"}` sealed to one role (credential envelope v1).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Sealed {
    /// The role.
    pub role: String,
    /// The compact JWE.
    pub jwe: String,
}

/// What an owner's passkey approves before pending grants activate (AUTHORITY.md S6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Terms {
    /// The credential id.
    pub cid: String,
    /// The exchange.
    pub exch: String,
    /// The roles, importer before trader.
    pub roles: Vec<String>,
    /// The classes, in their order.
    pub scope: Vec<String>,
    /// SHA-256 of the key's public key, base64url.
    pub key: String,
    /// The API key id.
    pub api_key: String,
    /// The passkeys the grants name (empty: no approval is needed).
    pub own: Vec<String>,
}

impl Terms {
    /// As a statement's kind.
    pub fn statement_kind(&self) -> Result<sealgate_authority::StatementKind, sealgate_authority::Error> {
        let roles: Vec<&str> = self.roles.iter().map(String::as_str).collect();
        let scope: Vec<&str> = self.scope.iter().map(String::as_str).collect();
        sealgate_authority::GrantTerms::new(&self.exch, &roles, &scope, &self.key, &self.api_key)
            .map(sealgate_authority::StatementKind::Grant)
    }
}

/// One role's active grant.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RoleGrant {
    /// The role.
    pub role: String,
    /// The grant (compact JWS).
    pub grant: String,
}

/// Grants ready to store.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Active {
    /// The credential id.
    pub cid: String,
    /// The exchange.
    pub exch: String,
    /// The custody key id.
    pub key: String,
    /// The classes.
    pub scope: Vec<String>,
    /// The API key id's last four characters.
    pub hint: String,
    /// The passkeys the grants name.
    pub own: Option<Vec<String>>,
    /// One grant per role.
    pub grants: Vec<RoleGrant>,
}

/// Destroy the key of a deleted credential.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DestroyCall {
    /// The owner.
    pub owner: String,
    /// The deleted credential's grants.
    pub grants: Vec<String>,
}

/// A key destroyed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Destroyed {
    /// Its id.
    pub key: String,
}

/// The signer's custody-key operations, wherever the signer runs.
pub trait HeldKeys: Send + Sync {
    /// Make a key and its pending grants.
    fn create<'a>(&'a self, c: &'a CreateCall) -> CallFuture<'a, Born>;
    /// The terms the owner's passkey approves.
    fn terms<'a>(&'a self, c: &'a PendingCall) -> CallFuture<'a, Terms>;
    /// Sign the grants the credential is stored with.
    fn activate<'a>(&'a self, c: &'a PendingCall) -> CallFuture<'a, Active>;
    /// Destroy a key never activated.
    fn discard<'a>(&'a self, c: &'a PendingCall) -> CallFuture<'a, Destroyed>;
    /// Destroy a deleted credential's key.
    fn destroy<'a>(&'a self, c: &'a DestroyCall) -> CallFuture<'a, Destroyed>;
}

fn bad(m: impl Into<String>) -> SignerCallError {
    SignerCallError::BadRequest(m.into())
}

fn api_key(c: &PendingCall) -> Result<&str, SignerCallError> {
    c.api_key.as_deref().ok_or_else(|| bad("api_key is required"))
}

impl Signer {
    async fn create_call(&self, c: &CreateCall) -> Result<Born, SignerCallError> {
        let key_type =
            ExchangeKeyType::parse(&c.key_type).ok_or_else(|| bad("key_type must be ed25519 or rsa-2048"))?;
        let roles = c
            .roles
            .iter()
            .map(|r| Role::parse(r).ok_or_else(|| bad("roles: importer and/or trader")))
            .collect::<Result<Vec<_>, _>>()?;
        let scope =
            Scope::from_names(c.scope.iter().map(String::as_str)).map_err(|_| bad("scope: read, trade, withdraw"))?;
        let own =
            c.own.as_ref().map(sealgate_envelope::OwnerKeys::new).transpose().map_err(|e| bad(format!("own: {e}")))?;
        let new = NewHeldKey {
            owner: c.owner.clone(),
            cid: c.cid.clone(),
            exchange: c.exchange.clone(),
            key_type,
            roles,
            scope,
            own,
        };
        let born = self.create_held_key(&new).await?;
        Ok(Born {
            key_id: born.key.id.clone(),
            key_type: born.key.key_type.name().into(),
            public_pem: born.key.public_pem(),
            pending: born.pending,
        })
    }

    async fn terms_call(&self, c: &PendingCall) -> Result<Terms, SignerCallError> {
        let (cid, t, own) = self.pending_terms(&c.owner, &c.pending, api_key(c)?).await?;
        Ok(Terms {
            cid,
            exch: t.exch().into(),
            roles: t.roles().to_vec(),
            scope: t.scope().to_vec(),
            key: t.key().into(),
            api_key: t.api_key().into(),
            own,
        })
    }

    async fn activate_call(&self, c: &PendingCall) -> Result<Active, SignerCallError> {
        let sealed = c
            .sealed
            .as_ref()
            .map(|list| {
                list.iter()
                    .map(|x| {
                        Role::parse(&x.role)
                            .map(|r| (r, x.jwe.clone()))
                            .ok_or_else(|| bad("sealed: importer or trader"))
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let a = self.activate_held_key(&c.owner, &c.pending, api_key(c)?, c.approval.clone(), sealed).await?;
        let g = &a.grant;
        Ok(Active {
            cid: g.cid.clone(),
            exch: g.exch.clone(),
            key: g.key.clone(),
            scope: g.scope.classes().iter().map(|c| c.name().to_owned()).collect(),
            hint: g
                .hint()
                .ok_or_else(|| SignerCallError::Unavailable("internal: an active grant has no hint".into()))?,
            own: g.own.as_ref().map(|o| o.thumbprints().to_vec()),
            grants: a.grants.iter().map(|(r, jws)| RoleGrant { role: r.name().into(), grant: jws.clone() }).collect(),
        })
    }
}

impl HeldKeys for Signer {
    fn create<'a>(&'a self, c: &'a CreateCall) -> CallFuture<'a, Born> {
        Box::pin(self.create_call(c))
    }
    fn terms<'a>(&'a self, c: &'a PendingCall) -> CallFuture<'a, Terms> {
        Box::pin(self.terms_call(c))
    }
    fn activate<'a>(&'a self, c: &'a PendingCall) -> CallFuture<'a, Active> {
        Box::pin(self.activate_call(c))
    }
    fn discard<'a>(&'a self, c: &'a PendingCall) -> CallFuture<'a, Destroyed> {
        Box::pin(async move { self.discard_held_key(&c.owner, &c.pending).await.map(|key| Destroyed { key }) })
    }
    fn destroy<'a>(&'a self, c: &'a DestroyCall) -> CallFuture<'a, Destroyed> {
        Box::pin(async move { self.destroy_held_key(&c.owner, &c.grants).await.map(|key| Destroyed { key }) })
    }
}

impl HeldKeys for HttpSignerClient {
    fn create<'a>(&'a self, c: &'a CreateCall) -> CallFuture<'a, Born> {
        Box::pin(self.post("/v1/held-keys/create", c))
    }
    fn terms<'a>(&'a self, c: &'a PendingCall) -> CallFuture<'a, Terms> {
        Box::pin(self.post("/v1/held-keys/terms", c))
    }
    fn activate<'a>(&'a self, c: &'a PendingCall) -> CallFuture<'a, Active> {
        Box::pin(self.post("/v1/held-keys/activate", c))
    }
    fn discard<'a>(&'a self, c: &'a PendingCall) -> CallFuture<'a, Destroyed> {
        Box::pin(self.post("/v1/held-keys/discard", c))
    }
    fn destroy<'a>(&'a self, c: &'a DestroyCall) -> CallFuture<'a, Destroyed> {
        Box::pin(self.post("/v1/held-keys/destroy", c))
    }
}

// --- the signer's side ------------------------------------------------------------------

/// What the signer's held-key routes hold.
#[derive(Clone)]
pub(crate) struct HeldState {
    pub signer: Arc<Signer>,
    pub verifier: Arc<crate::service_auth::ServiceVerifier>,
}

/// The caller must prove the `api` service identity (no consumer role may).
fn api_caller(st: &HeldState, headers: &HeaderMap) -> Result<(), SignerCallError> {
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| SignerCallError::Unauthorized("service token required".into()))?;
    let role =
        st.verifier.verify(token, crate::now_ms() / 1000).map_err(|e| SignerCallError::Unauthorized(e.to_string()))?;
    if role != API_SERVICE {
        return Err(SignerCallError::Unauthorized(format!("only the api may manage custody keys, not {role}")));
    }
    Ok(())
}

async fn serve_held<'a, B, T, F, Fut>(st: &'a HeldState, headers: &HeaderMap, body: &[u8], op: F) -> Response
where
    B: serde::de::DeserializeOwned,
    T: Serialize,
    F: FnOnce(&'a Signer, B) -> Fut,
    Fut: std::future::Future<Output = Result<T, SignerCallError>>,
{
    let call = api_caller(st, headers).and_then(|()| crate::signer::parse_object::<B>(body));
    match call {
        Ok(call) => match op(&st.signer, call).await {
            Ok(v) => Json(v).into_response(),
            Err(e) => crate::signer::call_error(&e),
        },
        Err(e) => crate::signer::call_error(&e),
    }
}

/// Make an exchange key in the custody and its pending grants. The `api` service only.
#[utoipa::path(post, path = "/v1/held-keys/create", tag = "signer", security(("service" = [])),
    request_body = CreateCall,
    responses((status = 200, description = "made", body = Born),
              (status = 400, description = "the call is malformed, or the exchange takes no such key", body = crate::json::ErrorBody),
              (status = 401, description = "no valid `api` service token", body = crate::json::ErrorBody),
              (status = 503, description = "the custody or the audit log is unavailable", body = crate::json::ErrorBody)))]
pub(crate) async fn http_create(State(st): State<HeldState>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    serve_held(&st, &headers, &body, |s, c: CreateCall| async move { s.create_call(&c).await }).await
}

/// The terms an owner's passkey approves before pending grants activate. The `api` service only.
#[utoipa::path(post, path = "/v1/held-keys/terms", tag = "signer", security(("service" = [])),
    request_body = PendingCall,
    responses((status = 200, description = "the terms", body = Terms),
              (status = 400, description = "the grants are not the owner's pending ones", body = crate::json::ErrorBody),
              (status = 401, description = "no valid `api` service token", body = crate::json::ErrorBody)))]
pub(crate) async fn http_terms(State(st): State<HeldState>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    serve_held(&st, &headers, &body, |s, c: PendingCall| async move { s.terms_call(&c).await }).await
}

/// Sign the grants a credential is stored with. The `api` service only.
#[utoipa::path(post, path = "/v1/held-keys/activate", tag = "signer", security(("service" = [])),
    request_body = PendingCall,
    responses((status = 200, description = "the grants", body = Active),
              (status = 400, description = "the grants are not the owner's pending ones, or their key is gone", body = crate::json::ErrorBody),
              (status = 401, description = "no valid `api` service token", body = crate::json::ErrorBody),
              (status = 403, description = "the owner's passkey did not approve these terms", body = crate::json::ErrorBody)))]
pub(crate) async fn http_activate(
    State(st): State<HeldState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    serve_held(&st, &headers, &body, |s, c: PendingCall| async move { s.activate_call(&c).await }).await
}

/// Destroy a key never activated. The `api` service only.
#[utoipa::path(post, path = "/v1/held-keys/discard", tag = "signer", security(("service" = [])),
    request_body = PendingCall,
    responses((status = 200, description = "destroyed", body = Destroyed),
              (status = 400, description = "the grants are not the owner's pending ones, or the key is active", body = crate::json::ErrorBody),
              (status = 401, description = "no valid `api` service token", body = crate::json::ErrorBody)))]
pub(crate) async fn http_discard(State(st): State<HeldState>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    serve_held(&st, &headers, &body, |s, c: PendingCall| async move {
        s.discard_held_key(&c.owner, &c.pending).await.map(|key| Destroyed { key })
    })
    .await
}

/// Destroy a deleted credential's key (its deletion on the record first). The `api` service only.
#[utoipa::path(post, path = "/v1/held-keys/destroy", tag = "signer", security(("service" = [])),
    request_body = DestroyCall,
    responses((status = 200, description = "destroyed", body = Destroyed),
              (status = 401, description = "no valid `api` service token", body = crate::json::ErrorBody),
              (status = 403, description = "a grant is not revoked on the record, or the credential has rows", body = crate::json::ErrorBody)))]
pub(crate) async fn http_destroy(State(st): State<HeldState>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    serve_held(&st, &headers, &body, |s, c: DestroyCall| async move {
        s.destroy_held_key(&c.owner, &c.grants).await.map(|key| Destroyed { key })
    })
    .await
}
