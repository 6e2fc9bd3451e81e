//! The api role: the user-facing HTTP API.
//!
//! It stores envelopes it can never open: on upload each envelope's protected header is
//! checked against the caller and the request ([`sealgate_envelope::check_binding`]) and
//! its `kid` against the active recipient keys of its role, and nothing is decrypted. No
//! endpoint returns an envelope or a secret: credentials come back as metadata only.
//!
//! Every response is JSON (errors are `{"error": "…"}` with a precise message and never a
//! database or internal detail), carries `X-Content-Type-Options: nosniff`,
//! `Cache-Control: no-store`, `Referrer-Policy: no-referrer` and a CSP with
//! `frame-ancestors 'none'`. Request bodies are limited to [`MAX_BODY`], unknown JSON
//! fields and query parameters are refused. Another user's credential or order answers
//! exactly like a nonexistent one (404).
//!
//! The endpoint list is [`routes`]; `GET /openapi.json` describes each of them. The router
//! also serves the browser client (`/`, `/app/…`, `/csp-report`: see [`crate::web`]),
//! whose pages carry their own, looser CSP.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRef, Path, Query, Request, State};
use axum::handler::Handler;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, on};
use axum::{Json, Router};
use sealgate_audit::Action;
use sealgate_envelope::{AlgPolicy, Binding, Class, Jwe, PublicJwk};
use sealgate_store::{AuditRecord, Credential, EnvelopeInfo, KeyStatus, Order, Store, StoreError};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::RwLock;

use crate::audit::{AuditEvent, AuditLog};
use crate::auth::{self, Auth, AuthUser};
use crate::importer;
use crate::trader::{OrderRequest, TradeError, Trader};

/// Largest request body (two 64 KiB envelopes and their metadata fit).
pub const MAX_BODY: usize = 160 * 1024;
/// Roles a credential may be sealed to.
pub const ROLES: [&str; 2] = ["importer", "trader"];
/// Longest credential id.
const MAX_ID: usize = 128;
/// Longest label, in characters.
const MAX_LABEL: usize = 100;

/// The signed recipient key set as published: set by the server at start (and on rotation).
#[derive(Debug, Clone, Default)]
pub struct RecipientSet {
    /// The JWS (compact) over the JWKS of every active role key, signed by the root key.
    pub jws: String,
    /// RFC 7638 thumbprint of the root key that clients pin.
    pub pin: String,
}

/// What the api's handlers share.
#[derive(Clone)]
pub struct ApiState {
    /// The store.
    pub store: Store,
    /// The audit writer.
    pub audit: AuditLog,
    /// The trader, or `None` when trading is not enabled (order endpoints answer 503).
    pub trader: Option<Arc<Trader>>,
    /// The signed recipient key set.
    pub recipients: Arc<RwLock<RecipientSet>>,
    /// Authentication.
    pub auth: Arc<Auth>,
    /// Told the credential id (or `None`: all of them) after a revoke, delete or
    /// lockdown, so a signer in this process drops its cached copy at once
    /// (signers elsewhere re-check the store within their revalidation interval).
    pub on_change: Option<ChangeHook>,
}

/// See [`ApiState::on_change`].
pub type ChangeHook = Arc<dyn Fn(Option<&str>) + Send + Sync>;

impl ApiState {
    fn changed(&self, credential: Option<&str>) {
        if let Some(hook) = &self.on_change {
            hook(credential);
        }
    }
}

impl FromRef<ApiState> for Arc<Auth> {
    fn from_ref(s: &ApiState) -> Self {
        s.auth.clone()
    }
}

// --- errors ----------------------------------------------------------------------------------

/// An API error: a status and a message safe to show.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: Cow<'static, str>,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<Cow<'static, str>>) -> Self {
        Self { status, message: message.into() }
    }

    fn bad(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    fn not_found(what: &'static str) -> Self {
        Self::new(StatusCode::NOT_FOUND, format!("{what} not found"))
    }

    fn store(op: &'static str, e: StoreError) -> Self {
        match e {
            StoreError::NotFound { what } => Self::new(StatusCode::NOT_FOUND, format!("{what} not found")),
            StoreError::AlreadyExists { what } => Self::new(StatusCode::CONFLICT, format!("{what} already exists")),
            StoreError::Invalid { what, reason } => Self::bad(format!("invalid {what}: {reason}")),
            StoreError::Unavailable { .. } => {
                tracing::error!(op, error = %e, "store unavailable");
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "the database is unavailable; try again shortly")
            }
            e => {
                tracing::error!(op, error = %e, "store error");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
            }
        }
    }

    fn audit_failed(done: &'static str, e: crate::audit::AuditWriteError) -> Self {
        tracing::error!(error = %e, done, "audit record not written");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{done}, but its audit record could not be written; contact the operator"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}

type ApiResult<T> = Result<T, ApiError>;

fn json_body<T>(body: Result<Json<T>, JsonRejection>) -> ApiResult<T> {
    match body {
        Ok(Json(v)) => Ok(v),
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is larger than {MAX_BODY} bytes"),
        )),
        Err(e @ JsonRejection::MissingJsonContentType(_)) => {
            Err(ApiError::new(e.status(), "the request body must be JSON (Content-Type: application/json)"))
        }
        Err(e) => Err(ApiError::bad(bounded(&e.body_text()))),
    }
}

fn query<T>(q: Result<Query<T>, QueryRejection>) -> ApiResult<T> {
    q.map(|Query(v)| v).map_err(|e| ApiError::bad(bounded(&e.body_text())))
}

fn bounded(s: &str) -> String {
    s.chars().take(300).collect()
}

// --- router ----------------------------------------------------------------------------------

struct Table {
    router: Router<ApiState>,
    routes: Vec<(&'static str, &'static str)>,
}

impl Table {
    fn add<H, T>(mut self, method: &'static str, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, ApiState>,
        T: 'static,
    {
        let filter = match method {
            "GET" => MethodFilter::GET,
            "POST" => MethodFilter::POST,
            "PUT" => MethodFilter::PUT,
            "PATCH" => MethodFilter::PATCH,
            _ => MethodFilter::DELETE,
        };
        self.router = self.router.route(path, on(filter, handler));
        self.routes.push((method, path));
        self
    }
}

fn table() -> Table {
    Table { router: Router::new(), routes: Vec::new() }
        .add("GET", "/openapi.json", openapi)
        .add("GET", "/login", auth::login)
        .add("POST", "/v1/logout", auth::logout)
        .add("GET", "/v1/me", me)
        .add("GET", "/v1/recipients", recipients)
        .add("POST", "/v1/credentials", create_credential)
        .add("GET", "/v1/credentials", list_credentials)
        .add("GET", "/v1/credentials/{id}", show_credential)
        .add("DELETE", "/v1/credentials/{id}", delete_credential)
        .add("DELETE", "/v1/credentials/{id}/roles/{role}", revoke_role)
        .add("PUT", "/v1/credentials/{id}/limits", set_limits)
        .add("POST", "/v1/lockdown", lockdown)
        .add("GET", "/v1/portfolio", portfolio)
        .add("POST", "/v1/orders", place_order)
        .add("GET", "/v1/orders", list_orders)
        .add("DELETE", "/v1/orders/{id}", cancel_order)
        .add("GET", "/v1/audit", audit_trail)
}

/// Every `(method, path)` the router serves (paths in axum/OpenAPI `{param}` form).
pub fn routes() -> Vec<(&'static str, &'static str)> {
    table().routes
}

/// The api's router.
pub fn router(state: ApiState) -> Router {
    table()
        .router
        .merge(crate::web::routes())
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such endpoint; see /openapi.json") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed on this endpoint; see /openapi.json")
        })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn(security_headers))
        .with_state(state)
}

async fn security_headers(req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let is_json =
        response.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if response.status().as_u16() >= 400 && !is_json {
        // A refusal from axum itself (a path or header it could not parse): JSON like ours.
        let status = response.status();
        let text = match axum::body::to_bytes(std::mem::take(response.body_mut()), 4096).await {
            Ok(b) if !b.is_empty() => bounded(&String::from_utf8_lossy(&b)),
            _ => status.canonical_reason().unwrap_or("refused").to_owned(),
        };
        response = ApiError::new(status, text).into_response();
    }
    let h = response.headers_mut();
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    h.entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"));
    response
}

// --- views -----------------------------------------------------------------------------------

fn credential_view(c: &Credential, roles: &[EnvelopeInfo]) -> Value {
    json!({
        "id": c.id,
        "exchange": c.exchange,
        "label": c.label,
        "hint": c.hint,
        "scope": c.scope.split(',').filter(|s| !s.is_empty()).collect::<Vec<_>>(),
        "status": c.status.as_str(),
        "created_ms": c.created_ms,
        "last_used_ms": c.last_used_ms,
        "roles": roles.iter().map(|r| json!({"role": r.role, "kid": r.kid, "created_ms": r.created_ms})).collect::<Vec<_>>(),
    })
}

fn order_view(o: &Order) -> Value {
    json!({
        "id": o.id,
        "credential_id": o.credential_id,
        "client_order_id": o.client_order_id,
        "exchange_order_id": o.exchange_order_id,
        "symbol": o.symbol,
        "side": o.side.as_str(),
        "order_type": o.order_type,
        "qty": o.qty,
        "price": o.price,
        "status": o.status,
        "created_ms": o.created_ms,
        "updated_ms": o.updated_ms,
    })
}

fn audit_view(r: &AuditRecord) -> Value {
    json!({
        "seq": r.seq,
        "time_ms": r.time_ms,
        "actor": r.actor,
        "action": r.action,
        "subject": r.subject,
        "detail": serde_json::from_str::<Value>(&r.detail).unwrap_or(Value::Null),
        "prev_hash": r.prev_hash,
        "hash": r.hash,
    })
}

fn actor(user: &AuthUser) -> String {
    format!("user:{}", user.id)
}

// --- handlers --------------------------------------------------------------------------------

async fn me(State(s): State<ApiState>, user: AuthUser) -> ApiResult<Json<Value>> {
    let u = s.store.user(&user.id).await.map_err(|e| ApiError::store("get user", e))?;
    let u = u.ok_or_else(|| ApiError::not_found("user"))?;
    Ok(Json(json!({
        "id": u.id,
        "created_ms": u.created_ms,
        "oidc_subject": u.oidc_subject,
        "auth": user.via.as_str(),
    })))
}

async fn recipients(State(s): State<ApiState>) -> ApiResult<Json<Value>> {
    let set = s.recipients.read().await;
    if set.jws.is_empty() {
        return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the recipient key set is not published yet"));
    }
    Ok(Json(json!({ "keyset": set.jws, "root_pin": set.pin })))
}

/// Body of `POST /v1/credentials`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateCredential {
    id: String,
    exchange: String,
    #[serde(default)]
    label: String,
    envelopes: Vec<EnvelopeIn>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvelopeIn {
    role: String,
    jwe: String,
}

impl std::fmt::Debug for EnvelopeIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnvelopeIn").field("role", &self.role).field("jwe_len", &self.jwe.len()).finish()
    }
}

/// Checks one envelope without opening it; returns its header.
async fn check_envelope(
    s: &ApiState,
    user: &AuthUser,
    req: &CreateCredential,
    env: &EnvelopeIn,
    now: u64,
) -> ApiResult<sealgate_envelope::CredentialHeader> {
    let role = env.role.as_str();
    let err = |m: String| ApiError::bad(format!("envelope for role {role}: {m}"));
    let jwe = Jwe::parse(env.jwe.as_bytes(), &AlgPolicy::CREDENTIAL).map_err(|e| err(e.to_string()))?;
    let binding = Binding {
        sub: user.id.clone(),
        cid: req.id.clone(),
        exch: req.exchange.clone(),
        aud: role.to_owned(),
        now: Some(now),
    };
    let header = sealgate_envelope::check_binding(&jwe, None, &binding).map_err(|e| err(e.to_string()))?;
    let keys = s.store.recipient_keys(Some(role)).await.map_err(|e| ApiError::store("recipient keys", e))?;
    let key = keys.iter().find(|k| k.kid == header.kid).ok_or_else(|| {
        err(format!("kid {:?} is not a recipient key of role {role}", header.kid.chars().take(64).collect::<String>()))
    })?;
    if key.status != KeyStatus::Active {
        return Err(err(format!("kid {:?} is retired; fetch /v1/recipients and seal again", key.kid)));
    }
    // The alg must fit the key, or the signer could never open it.
    if let (Ok(public), Some(recipient)) = (PublicJwk::from_json(key.public_jwk.as_bytes()), jwe.recipients().first()) {
        if recipient.alg() != public.seal_alg() {
            return Err(err(format!(
                "sealed with {} but key {} takes {}",
                recipient.alg().name(),
                key.kid,
                public.seal_alg().name()
            )));
        }
        if let (Some(epk), sealgate_envelope::KeyKind::Ecdh(curve)) = (recipient.epk(), public.kind())
            && epk.curve() != curve
        {
            return Err(err(format!("the ephemeral key is on another curve than key {}", key.kid)));
        }
    }
    Ok(header)
}

fn check_id(what: &str, v: &str) -> ApiResult<()> {
    let ok = !v.is_empty()
        && v.len() <= MAX_ID
        && v.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad(format!("{what} must be 1 to {MAX_ID} characters of A-Z a-z 0-9 - _ . :")))
    }
}

async fn create_credential(
    State(s): State<ApiState>,
    user: AuthUser,
    body: Result<Json<CreateCredential>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let req = json_body(body)?;
    check_id("id", &req.id)?;
    if sealgate_exchanges::scheme(&req.exchange).is_err() {
        return Err(ApiError::bad("unknown exchange id (see the exchange list in the documentation)"));
    }
    if req.label.chars().count() > MAX_LABEL || req.label.chars().any(char::is_control) {
        return Err(ApiError::bad(format!("label must be at most {MAX_LABEL} characters, without control characters")));
    }
    if req.envelopes.is_empty() {
        return Err(ApiError::bad("envelopes: seal the credential to at least one role (importer, trader)"));
    }
    let mut seen = HashSet::new();
    for env in &req.envelopes {
        if !ROLES.contains(&env.role.as_str()) {
            return Err(ApiError::bad("envelopes: role must be importer or trader"));
        }
        if !seen.insert(env.role.as_str()) {
            return Err(ApiError::bad(format!("envelopes: role {} appears more than once", env.role)));
        }
    }
    let now = crate::now_ms() / 1000;
    let mut headers = Vec::new();
    for env in &req.envelopes {
        headers.push(check_envelope(&s, &user, &req, env, now).await?);
    }
    let hint = headers[0].hint.clone();
    if headers.iter().any(|h| h.hint != hint) {
        return Err(ApiError::bad("envelopes disagree on hint: they must seal the same API key"));
    }
    let scope: BTreeSet<Class> = headers.iter().flat_map(|h| h.scope.classes().iter().copied()).collect();
    let scope_names: Vec<&str> = scope.iter().map(|c| c.name()).collect();
    let scope_text = scope_names.join(",");
    let new = sealgate_store::NewCredential {
        id: &req.id,
        owner: &user.id,
        exchange: &req.exchange,
        label: &req.label,
        hint: &hint,
        scope: &scope_text,
    };
    let envelopes: Vec<sealgate_store::NewEnvelope<'_>> = req
        .envelopes
        .iter()
        .zip(&headers)
        .map(|(e, h)| sealgate_store::NewEnvelope { role: &e.role, kid: &h.kid, jwe: &e.jwe })
        .collect();
    let cred = s.store.create_credential(&new, &envelopes).await.map_err(|e| match e {
        StoreError::AlreadyExists { .. } => {
            ApiError::new(StatusCode::CONFLICT, "credential id is taken; make a new id and seal again")
        }
        e => ApiError::store("create credential", e),
    })?;
    let roles: Vec<&str> = req.envelopes.iter().map(|e| e.role.as_str()).collect();
    let kids: Vec<&str> = headers.iter().map(|h| h.kid.as_str()).collect();
    let event = AuditEvent::new(
        actor(&user),
        Action::CredentialCreated,
        &cred.id,
        json!({"exchange": cred.exchange, "roles": roles, "scope": scope_names, "kids": kids}),
    )
    .owner(&user.id);
    if let Err(e) = s.audit.record(event).await {
        // No credential without its audit record: destroy the envelopes again.
        let _ = s.store.delete_credential(&user.id, &cred.id).await;
        tracing::error!(error = %e, "credential_created not audited; credential deleted");
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the audit log is unavailable, so the credential was not kept; try again later with a new id",
        ));
    }
    if roles.contains(&"importer")
        && let Err(e) = crate::importer::enqueue_full_import(&s.store, &cred.id).await
    {
        tracing::error!(error = %e, credential = %cred.id, "full import not queued");
    }
    let info = s.store.envelope_roles(&user.id, &cred.id).await.map_err(|e| ApiError::store("envelope roles", e))?;
    Ok((StatusCode::CREATED, Json(credential_view(&cred, &info))))
}

async fn list_credentials(State(s): State<ApiState>, user: AuthUser) -> ApiResult<Json<Value>> {
    let creds = s.store.list_credentials(&user.id).await.map_err(|e| ApiError::store("list credentials", e))?;
    let mut out = Vec::with_capacity(creds.len());
    for c in &creds {
        let roles = s.store.envelope_roles(&user.id, &c.id).await.map_err(|e| ApiError::store("envelope roles", e))?;
        out.push(credential_view(c, &roles));
    }
    Ok(Json(json!({ "credentials": out })))
}

async fn load_credential(s: &ApiState, user: &AuthUser, id: &str) -> ApiResult<Value> {
    let c = s.store.get_credential(&user.id, id).await.map_err(|e| ApiError::store("get credential", e))?;
    let c = c.ok_or_else(|| ApiError::not_found("credential"))?;
    let roles = s.store.envelope_roles(&user.id, id).await.map_err(|e| ApiError::store("envelope roles", e))?;
    let limits = s.store.credential_limits(id).await.map_err(|e| ApiError::store("credential limits", e))?;
    let mut view = credential_view(&c, &roles);
    view["limits"] = limits_view(limits.as_ref());
    Ok(view)
}

fn limits_view(l: Option<&sealgate_store::CredentialLimits>) -> Value {
    let l = l.cloned().unwrap_or_default();
    json!({
        "symbols": l.symbols.map(|s| s.split(',').map(str::to_owned).collect::<Vec<_>>()),
        "max_notional": l.max_notional,
        "rate": l.rate_max.zip(l.rate_window_ms).map(|(max, window_ms)| json!({"max": max, "window_ms": window_ms})),
    })
}

/// The owner's limits on a credential: they only narrow what the envelopes allow, so the
/// server may set them (adding a class would need the user to seal again).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsIn {
    #[serde(default)]
    symbols: Option<Vec<String>>,
    #[serde(default)]
    max_notional: Option<String>,
    #[serde(default)]
    rate: Option<RateIn>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RateIn {
    max: u32,
    window_ms: u64,
}

async fn set_limits(
    State(s): State<ApiState>,
    user: AuthUser,
    Path(id): Path<String>,
    body: Result<Json<LimitsIn>, JsonRejection>,
) -> ApiResult<Json<Value>> {
    let req = json_body(body)?;
    let symbols = match &req.symbols {
        None => None,
        Some(list) => {
            let ok = |x: &String| {
                (1..=32).contains(&x.len())
                    && x.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'/' | b':' | b'.'))
            };
            if list.is_empty() || list.len() > 64 || !list.iter().all(ok) {
                return Err(ApiError::bad(
                    "symbols must be 1 to 64 symbols of 1 to 32 letters, digits or - _ / : . (null: any symbol)",
                ));
            }
            Some(list.join(","))
        }
    };
    if let Some(n) = &req.max_notional
        && sealgate_policy::Decimal::parse(n).is_none_or(|d| d <= sealgate_policy::Decimal::parse("0").unwrap_or(d))
    {
        return Err(ApiError::bad("max_notional must be a positive decimal string such as \"1000.50\""));
    }
    if let Some(r) = &req.rate
        && (!(1..=100_000).contains(&r.max) || !(1_000..=86_400_000).contains(&r.window_ms))
    {
        return Err(ApiError::bad("rate.max must be 1 to 100000 and rate.window_ms 1000 to 86400000"));
    }
    let limits = sealgate_store::CredentialLimits {
        symbols,
        max_notional: req.max_notional.clone(),
        rate_max: req.rate.as_ref().map(|r| i64::from(r.max)),
        rate_window_ms: req.rate.as_ref().map(|r| i64::try_from(r.window_ms).unwrap_or(i64::MAX)),
    };
    s.store.set_credential_limits(&user.id, &id, &limits).await.map_err(|e| ApiError::store("set limits", e))?;
    s.changed(Some(&id));
    let event = AuditEvent::new(
        actor(&user),
        "limits_changed"
            .parse::<Action>()
            .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error"))?,
        &id,
        json!({"limits": limits_view(Some(&limits))}),
    )
    .owner(&user.id);
    s.audit.record(event).await.map_err(|e| ApiError::audit_failed("the limits were set", e))?;
    load_credential(&s, &user, &id).await.map(Json)
}

async fn show_credential(State(s): State<ApiState>, user: AuthUser, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    load_credential(&s, &user, &id).await.map(Json)
}

async fn revoke_role(
    State(s): State<ApiState>,
    user: AuthUser,
    Path((id, role)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    if !ROLES.contains(&role.as_str()) {
        return Err(ApiError::bad("role must be importer or trader"));
    }
    let roles = s.store.envelope_roles(&user.id, &id).await.map_err(|e| ApiError::store("envelope roles", e))?;
    let kid = roles.iter().find(|r| r.role == role).map(|r| r.kid.clone());
    let deleted = s.store.delete_envelope(&user.id, &id, &role).await.map_err(|e| ApiError::store("revoke", e))?;
    s.changed(Some(&id));
    if !deleted {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "no envelope for this role on this credential"));
    }
    let event = AuditEvent::new(actor(&user), Action::Revoked, &id, json!({"role": role, "kid": kid})).owner(&user.id);
    s.audit.record(event).await.map_err(|e| ApiError::audit_failed("the role was revoked", e))?;
    load_credential(&s, &user, &id).await.map(Json)
}

async fn delete_credential(
    State(s): State<ApiState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let c = s.store.get_credential(&user.id, &id).await.map_err(|e| ApiError::store("get credential", e))?;
    let c = c.ok_or_else(|| ApiError::not_found("credential"))?;
    s.store.delete_credential(&user.id, &id).await.map_err(|e| ApiError::store("delete credential", e))?;
    s.changed(Some(&id));
    let event =
        AuditEvent::new(actor(&user), Action::CredentialDeleted, &id, json!({"exchange": c.exchange})).owner(&user.id);
    s.audit.record(event).await.map_err(|e| ApiError::audit_failed("the credential was deleted", e))?;
    load_credential(&s, &user, &id).await.map(Json)
}

async fn lockdown(State(s): State<ApiState>, user: AuthUser) -> ApiResult<Json<Value>> {
    let n = s.store.lockdown(&user.id).await.map_err(|e| ApiError::store("lockdown", e))?;
    s.changed(None);
    let event = AuditEvent::new(actor(&user), Action::Lockdown, &user.id, json!({"frozen": n})).owner(&user.id);
    s.audit.record(event).await.map_err(|e| ApiError::audit_failed("all credentials were frozen", e))?;
    Ok(Json(json!({ "frozen": n })))
}

async fn portfolio(State(s): State<ApiState>, user: AuthUser) -> ApiResult<Json<importer::Portfolio>> {
    importer::portfolio(&s.store, &user.id).await.map(Json).map_err(|e| ApiError::store("portfolio", e))
}

fn trader(s: &ApiState) -> ApiResult<&Trader> {
    s.trader
        .as_deref()
        .ok_or_else(|| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "trading is not enabled on this server"))
}

fn trade_error(e: TradeError) -> ApiError {
    match e {
        TradeError::NotFound => ApiError::not_found("credential or order"),
        TradeError::BadRequest(m) => ApiError::bad(format!("bad order: {}", bounded(&m))),
        TradeError::Denied(m) => ApiError::new(StatusCode::FORBIDDEN, format!("denied by policy: {}", bounded(&m))),
        TradeError::Exchange { status, message } => ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!("the exchange refused the order ({status}): {}", bounded(&message)),
        ),
        TradeError::Unavailable(m) => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, format!("trading unavailable: {}", bounded(&m)))
        }
    }
}

async fn place_order(
    State(s): State<ApiState>,
    user: AuthUser,
    body: Result<Json<OrderRequest>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let trader = trader(&s)?;
    let req = json_body(body)?;
    let order = trader.place(&user.id, &req).await.map_err(trade_error)?;
    Ok((StatusCode::CREATED, Json(order_view(&order))))
}

async fn cancel_order(State(s): State<ApiState>, user: AuthUser, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let trader = trader(&s)?;
    let order = trader.cancel(&user.id, &id).await.map_err(trade_error)?;
    Ok(Json(order_view(&order)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    limit: Option<u32>,
}

async fn list_orders(
    State(s): State<ApiState>,
    user: AuthUser,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    let q = query(q)?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::bad("limit must be 1 to 500"));
    }
    let orders = s.store.orders(&user.id, limit).await.map_err(|e| ApiError::store("list orders", e))?;
    Ok(Json(json!({ "orders": orders.iter().map(order_view).collect::<Vec<_>>() })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    after: Option<i64>,
    limit: Option<u32>,
}

async fn audit_trail(
    State(s): State<ApiState>,
    user: AuthUser,
    q: Result<Query<AuditQuery>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    let q = query(q)?;
    let after = q.after.unwrap_or(0);
    let limit = q.limit.unwrap_or(100);
    if after < 0 {
        return Err(ApiError::bad("after must be a sequence number (0 or more)"));
    }
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad("limit must be 1 to 1000"));
    }
    let records =
        s.store.audit_for_owner(&user.id, after, limit).await.map_err(|e| ApiError::store("audit trail", e))?;
    let next = records.last().map_or(after, |r| r.seq);
    Ok(Json(json!({ "records": records.iter().map(audit_view).collect::<Vec<_>>(), "next_after": next })))
}

// --- OpenAPI ---------------------------------------------------------------------------------

async fn openapi() -> Json<Value> {
    Json(openapi_document())
}

/// The OpenAPI 3.1 document of the api.
pub fn openapi_document() -> Value {
    let err = |d: &str| json!({"description": d, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    let ok = |d: &str, schema: Value| json!({"description": d, "content": {"application/json": {"schema": schema}}});
    let r = |name: &str| json!({"$ref": format!("#/components/schemas/{name}")});
    let auth_errs = |mut responses: serde_json::Map<String, Value>| {
        responses.insert("401".into(), err("not authenticated (WWW-Authenticate: Bearer)"));
        responses.insert("403".into(), err("session cookie without a matching X-CSRF-Token (unsafe methods)"));
        Value::Object(responses)
    };
    let m = |pairs: Vec<(&str, Value)>| {
        pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect::<serde_json::Map<_, _>>()
    };
    let id_param = |name: &str, d: &str| json!({"name": name, "in": "path", "required": true, "description": d, "schema": {"type": "string"}});
    let limit_param =
        |max: u32| json!({"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": max}});
    let security = json!([{"bearer": []}, {"session": []}]);
    let op = |summary: &str, responses: Value, extra: Value| {
        let mut o = json!({"summary": summary, "responses": responses, "security": security});
        if let (Some(o), Value::Object(e)) = (o.as_object_mut(), extra) {
            o.extend(e);
        }
        o
    };
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Sealgate API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Stores sealed credential envelopes (JWE) it cannot open; never returns an envelope or a secret."
        },
        "paths": {
            "/openapi.json": {"get": {"summary": "This document", "security": [], "responses": {"200": ok("OpenAPI 3.1", json!({"type": "object"}))}}},
            "/login": {"get": {
                "summary": "Consume a one-time local login link and start a session",
                "security": [],
                "parameters": [{"name": "token", "in": "query", "required": true, "schema": {"type": "string"}}],
                "responses": {
                    "303": {"description": "session started; sets sealgate_session (HttpOnly) and sealgate_csrf cookies; Location: /",
                            "content": {"application/json": {"schema": r("LoginResult")}}},
                    "401": err("the link is invalid, expired or already used"),
                    "404": err("local login is not enabled")
                }
            }},
            "/v1/logout": {"post": op("End the session", auth_errs(m(vec![("204", json!({"description": "session ended; cookies cleared"}))])), json!({}))},
            "/v1/me": {"get": op("The caller", auth_errs(m(vec![("200", ok("the user", r("Me")))])), json!({}))},
            "/v1/recipients": {"get": {
                "summary": "The signed recipient key set (JWS) and the root key pin",
                "security": [],
                "responses": {"200": ok("key set", r("Recipients")), "503": err("not published yet")}
            }},
            "/v1/credentials": {
                "post": op("Store a credential sealed to one or both roles", auth_errs(m(vec![
                    ("201", ok("created", r("Credential"))),
                    ("400", err("an envelope or field is refused (the message says which and why)")),
                    ("409", err("credential id is taken")),
                    ("413", err("body too large")),
                ])), json!({"requestBody": {"required": true, "content": {"application/json": {"schema": r("NewCredential")}}}})),
                "get": op("The caller's credentials (metadata only)", auth_errs(m(vec![
                    ("200", ok("credentials", json!({"type": "object", "properties": {"credentials": {"type": "array", "items": r("Credential")}}}))),
                ])), json!({}))
            },
            "/v1/credentials/{id}": {
                "get": op("One credential (metadata only)", auth_errs(m(vec![("200", ok("credential", r("Credential"))), ("404", err("not found"))])),
                          json!({"parameters": [id_param("id", "credential id")]})),
                "delete": op("Delete a credential: destroys every envelope", auth_errs(m(vec![("200", ok("deleted", r("Credential"))), ("404", err("not found"))])),
                             json!({"parameters": [id_param("id", "credential id")]}))
            },
            "/v1/credentials/{id}/limits": {
                "put": op("Set the owner's limits (symbol allow-list, notional cap, rate); they only narrow the sealed scope", auth_errs(m(vec![
                    ("200", ok("limits set", r("Credential"))), ("400", err("invalid limits")), ("404", err("no such credential"))
                ])), json!({"parameters": [id_param("id", "credential id")], "requestBody": {"required": true, "content": {"application/json": {"schema": {
                    "type": "object", "additionalProperties": false, "properties": {
                        "symbols": {"type": ["array", "null"], "items": {"type": "string"}},
                        "max_notional": {"type": ["string", "null"]},
                        "rate": {"type": ["object", "null"], "properties": {"max": {"type": "integer"}, "window_ms": {"type": "integer"}}}
                    }}}}}}))
            },
            "/v1/credentials/{id}/roles/{role}": {
                "delete": op("Revoke one role: destroys that envelope", auth_errs(m(vec![
                    ("200", ok("revoked", r("Credential"))), ("400", err("unknown role")), ("404", err("no such envelope"))
                ])), json!({"parameters": [id_param("id", "credential id"), id_param("role", "importer or trader")]}))
            },
            "/v1/lockdown": {"post": op("Freeze all the caller's credentials", auth_errs(m(vec![
                ("200", ok("frozen", json!({"type": "object", "properties": {"frozen": {"type": "integer"}}})))
            ])), json!({}))},
            "/v1/portfolio": {"get": op("The caller's normalized portfolio", auth_errs(m(vec![("200", ok("portfolio", r("Portfolio")))])), json!({}))},
            "/v1/orders": {
                "post": op("Place an order through the trader", auth_errs(m(vec![
                    ("201", ok("placed", r("Order"))), ("400", err("bad order")), ("404", err("no such credential")),
                    ("502", err("the exchange refused")), ("503", err("trading not enabled or unavailable"))
                ])), json!({"requestBody": {"required": true, "content": {"application/json": {"schema": r("OrderRequest")}}}})),
                "get": op("The caller's orders, newest first", auth_errs(m(vec![
                    ("200", ok("orders", json!({"type": "object", "properties": {"orders": {"type": "array", "items": r("Order")}}})))
                ])), json!({"parameters": [limit_param(500)]}))
            },
            "/v1/orders/{id}": {
                "delete": op("Cancel an order", auth_errs(m(vec![
                    ("200", ok("cancelled", r("Order"))), ("404", err("no such order")),
                    ("502", err("the exchange refused")), ("503", err("trading not enabled or unavailable"))
                ])), json!({"parameters": [id_param("id", "order id")]}))
            },
            "/v1/audit": {"get": op("The caller's own audit records", auth_errs(m(vec![
                ("200", ok("records", json!({"type": "object", "properties": {
                    "records": {"type": "array", "items": r("AuditRecord")}, "next_after": {"type": "integer"}}})))
            ])), json!({"parameters": [
                {"name": "after", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                limit_param(1000)
            ]}))}
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "session": {"type": "apiKey", "in": "cookie", "name": "sealgate_session",
                            "description": "local login; unsafe methods also need X-CSRF-Token = the sealgate_csrf cookie"}
            },
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
                "LoginResult": {"type": "object", "properties": {"user_id": {"type": "string"}, "csrf_token": {"type": "string"}}},
                "Me": {"type": "object", "properties": {"id": {"type": "string"}, "created_ms": {"type": "integer"},
                       "oidc_subject": {"type": ["string", "null"]}, "auth": {"enum": ["session", "bearer"]}}},
                "Recipients": {"type": "object", "properties": {"keyset": {"type": "string", "description": "compact JWS, typ sealgate-keyset+jws"},
                               "root_pin": {"type": "string", "description": "RFC 7638 thumbprint of the root key"}}},
                "NewCredential": {"type": "object", "additionalProperties": false, "required": ["id", "exchange", "envelopes"],
                    "properties": {
                        "id": {"type": "string", "maxLength": MAX_ID, "description": "the cid sealed in every envelope"},
                        "exchange": {"type": "string"},
                        "label": {"type": "string", "maxLength": MAX_LABEL},
                        "envelopes": {"type": "array", "minItems": 1, "maxItems": 2, "items": {"type": "object", "additionalProperties": false,
                            "required": ["role", "jwe"], "properties": {"role": {"enum": ROLES}, "jwe": {"type": "string", "description": "compact JWE, credential envelope v1"}}}}
                    }},
                "Credential": {"type": "object", "properties": {
                    "id": {"type": "string"}, "exchange": {"type": "string"}, "label": {"type": "string"}, "hint": {"type": "string"},
                    "scope": {"type": "array", "items": {"enum": ["read", "trade", "withdraw"]}},
                    "status": {"enum": ["active", "frozen", "deleted"]}, "created_ms": {"type": "integer"},
                    "last_used_ms": {"type": ["integer", "null"]},
                    "roles": {"type": "array", "items": {"type": "object", "properties": {"role": {"type": "string"}, "kid": {"type": "string"}, "created_ms": {"type": "integer"}}}}
                }},
                "Portfolio": {"type": "object", "properties": {"assets": {"type": "array", "items": {"type": "object"}}, "imports": {"type": "array", "items": {"type": "object"}}}},
                "OrderRequest": {"type": "object", "additionalProperties": false, "required": ["credential_id", "symbol", "side", "order_type", "qty"],
                    "properties": {"credential_id": {"type": "string"}, "symbol": {"type": "string"}, "side": {"enum": ["buy", "sell"]},
                                   "order_type": {"enum": ["market", "limit"]}, "qty": {"type": "string"}, "price": {"type": ["string", "null"]}}},
                "Order": {"type": "object", "properties": {"id": {"type": "string"}, "credential_id": {"type": "string"},
                    "client_order_id": {"type": "string"}, "exchange_order_id": {"type": ["string", "null"]}, "symbol": {"type": "string"},
                    "side": {"type": "string"}, "order_type": {"type": "string"}, "qty": {"type": "string"}, "price": {"type": ["string", "null"]},
                    "status": {"type": "string"}, "created_ms": {"type": "integer"}, "updated_ms": {"type": "integer"}}},
                "AuditRecord": {"type": "object", "properties": {"seq": {"type": "integer"}, "time_ms": {"type": "integer"}, "actor": {"type": "string"},
                    "action": {"type": "string"}, "subject": {"type": "string"}, "detail": {"type": "object"},
                    "prev_hash": {"type": "string"}, "hash": {"type": "string"}}}
            }
        }
    })
}
