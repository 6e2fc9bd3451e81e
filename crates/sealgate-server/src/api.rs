//! The api role: the user-facing HTTP API.
//!
//! It stores envelopes it can never open: on upload each envelope's protected header is
//! checked against the caller and the request ([`sealgate_envelope::check_binding`]) and
//! its `kid` against the active recipient keys of its role, and nothing is decrypted. No
//! endpoint returns an envelope or a secret: credentials come back as metadata only.
//! Revoking a role, re-sealing one and deleting a credential first put the content digests
//! of the envelopes they destroy on the audit record, then destroy exactly those; without
//! the record nothing changes (503). That record is what keeps them revoked when a database
//! writer puts their rows back ([`crate::revocation`]).
//!
//! Every response is JSON (errors are `{"error": "…"}` with a precise message and never a
//! database or internal detail), carries `X-Content-Type-Options: nosniff`,
//! `Cache-Control: no-store`, `Referrer-Policy: no-referrer` and a CSP with
//! `frame-ancestors 'none'`. Request bodies are limited to [`MAX_BODY`] (a larger
//! `Content-Length` is 413 before the body is read) and must be the JSON object their schema
//! states ([`crate::json`]); unknown JSON fields and query parameters are refused. Another
//! user's credential or order answers exactly like a nonexistent one (404).
//!
//! Each handler's `#[utoipa::path]` operation is its route: `Table` serves it at the
//! documented method and path, and `GET /openapi.json` ([`crate::openapi`]) is generated from
//! those operations and the request and response types below. The endpoint list is
//! [`routes`]. The router also serves the browser client (`/`, `/app/…`, `/csp-report`: see
//! [`crate::web`]), whose pages carry their own, looser CSP.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, FromRef, Path, Query, Request, State};
use axum::handler::Handler;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, on};
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use sealgate_audit::Action;
use sealgate_envelope::{AlgPolicy, Binding, Class, Jwe, PublicJwk};
use sealgate_store::{AuditRecord, Credential, EnvelopeInfo, KeyStatus, Order, Store, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio::sync::RwLock;
use utoipa::openapi::path::HttpMethod;
use utoipa::{IntoParams, ToSchema};

use crate::audit::{AuditEvent, AuditLog};
use crate::auth::{self, Auth, AuthUser};
use crate::importer;
use crate::json::{ErrorBody, JsonObject, bounded, error_response};
use crate::notify_api;
use crate::revocation::{ENVELOPE_REPLACED, REVOKED_MEMBER, envelope_digest, revoked_member};
use crate::trader::{OrderRequest, TradeError, Trader};
use sealgate_api_bodies::check_create;
pub use sealgate_api_bodies::{CreateCredential, EnvelopeIn, LimitsIn, RateIn, RoleName};

/// Largest request body (two 64 KiB envelopes and their metadata fit).
pub const MAX_BODY: usize = 160 * 1024;
/// Roles a credential may be sealed to.
pub const ROLES: [&str; 2] = ["importer", "trader"];

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
    /// Told the credential, as (owner, id) (or `None`: all of them), after a revoke,
    /// delete, limits change or lockdown, so a signer in this process drops its cached
    /// copy at once (signers elsewhere re-check the store within their revalidation
    /// interval).
    pub on_change: Option<ChangeHook>,
    /// The notify key (derives webhook secrets); `None`: webhook endpoints cannot be added.
    pub notify: Option<Arc<crate::notifier::NotifyKey>>,
    /// The WebAuthn relying party and its ceremonies in progress; `None`: passkeys cannot
    /// be registered or removed here (the list still answers).
    pub passkeys: Option<Arc<crate::passkey_api::Passkeys>>,
    /// The signer that makes exchange keys in the custody ([`crate::custody_key_api`]): in
    /// this process, or a fleet reached as the `api` service; `None`: those endpoints
    /// answer 503.
    pub held_keys: Option<Arc<dyn crate::held_keys::HeldKeys>>,
    /// The exchanges' public tickers, for the portfolio's value; `None`: every holding's
    /// value is missing (and says so).
    pub prices: Option<Arc<crate::prices::PriceFeed>>,
    /// What recent valuations may reuse (a page polls while an import runs).
    pub valuations: Arc<crate::portfolio_value::Valuations>,
}

/// See [`ApiState::on_change`]: `Some((owner, credential_id))` or `None` for all.
pub type ChangeHook = Arc<dyn Fn(Option<(&str, &str)>) + Send + Sync>;

impl ApiState {
    fn changed(&self, credential: Option<(&str, &str)>) {
        if let Some(hook) = &self.on_change {
            hook(credential);
        }
    }

    /// Every credential may have changed (a lockdown by link).
    pub(crate) fn changed_all(&self) {
        self.changed(None);
    }

    /// Queues `event` for its user's recipients; a failure is logged, never the caller's
    /// (the change it reports is done and audited).
    pub(crate) async fn notify(&self, event: crate::notifier::NotifyEvent) {
        if let Err(e) = crate::notifier::enqueue(&self.store, &event).await {
            tracing::error!(error = %e, kind = event.kind(), "notification not queued");
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
    pub(crate) fn new(status: StatusCode, message: impl Into<Cow<'static, str>>) -> Self {
        Self { status, message: message.into() }
    }

    pub(crate) fn bad(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    fn not_found(what: &'static str) -> Self {
        Self::new(StatusCode::NOT_FOUND, format!("{what} not found"))
    }

    pub(crate) fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    }

    pub(crate) fn store(op: &'static str, e: StoreError) -> Self {
        match e {
            StoreError::NotFound { what } => Self::new(StatusCode::NOT_FOUND, format!("{what} not found")),
            StoreError::AlreadyExists { what } => Self::new(StatusCode::CONFLICT, format!("{what} already exists")),
            StoreError::Conflict { what, reason } => Self::new(StatusCode::CONFLICT, format!("{what}: {reason}")),
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

    /// The record that must precede a change could not be written: nothing was changed.
    fn audit_first(undone: &'static str, e: crate::audit::AuditWriteError) -> Self {
        tracing::error!(error = %e, undone, "audit record not written; nothing changed");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the audit log is unavailable, so {undone}; try again later"),
        )
    }

    pub(crate) fn audit_failed(done: &'static str, e: crate::audit::AuditWriteError) -> Self {
        tracing::error!(error = %e, done, "audit record not written");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{done}, but its audit record could not be written; contact the operator"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        error_response(self.status, self.message)
    }
}

pub(crate) type ApiResult<T> = Result<T, ApiError>;

fn query<T>(q: Result<Query<T>, QueryRejection>) -> ApiResult<T> {
    q.map(|Query(v)| v).map_err(|e| ApiError::bad(bounded(&e.body_text())))
}

// --- router ----------------------------------------------------------------------------------

/// The method of a documented operation, as a name and as axum's filter.
fn method_of(m: &HttpMethod) -> (&'static str, MethodFilter) {
    match m {
        HttpMethod::Get => ("GET", MethodFilter::GET),
        HttpMethod::Post => ("POST", MethodFilter::POST),
        HttpMethod::Put => ("PUT", MethodFilter::PUT),
        HttpMethod::Patch => ("PATCH", MethodFilter::PATCH),
        HttpMethod::Delete => ("DELETE", MethodFilter::DELETE),
        HttpMethod::Head => ("HEAD", MethodFilter::HEAD),
        HttpMethod::Options => ("OPTIONS", MethodFilter::OPTIONS),
        HttpMethod::Trace => ("TRACE", MethodFilter::TRACE),
    }
}

/// A router whose routes are taken from their handlers' OpenAPI operations
/// (`#[utoipa::path]`): the method and path served are the ones documented.
pub(crate) struct Table<S> {
    pub(crate) router: Router<S>,
    pub(crate) routes: Vec<(&'static str, String)>,
}

impl<S: Clone + Send + Sync + 'static> Table<S> {
    pub(crate) fn new() -> Self {
        Self { router: Router::new(), routes: Vec::new() }
    }

    /// Serves `handler` at the method and path of its operation `P`.
    pub(crate) fn add<P, H, T>(mut self, handler: H) -> Self
    where
        P: utoipa::Path,
        H: Handler<T, S>,
        T: 'static,
    {
        let path = P::path();
        for m in P::methods() {
            let (name, filter) = method_of(&m);
            self.router = self.router.route(&path, on(filter, handler.clone()));
            self.routes.push((name, path.clone()));
        }
        self
    }
}

fn table() -> Table<ApiState> {
    Table::new()
        .add::<__path_openapi, _, _>(openapi)
        .add::<auth::__path_login, _, _>(auth::login)
        .add::<auth::__path_logout, _, _>(auth::logout)
        .add::<__path_me, _, _>(me)
        .add::<__path_recipients, _, _>(recipients)
        .add::<__path_create_credential, _, _>(create_credential)
        .add::<crate::custody_key_api::__path_create_custody_key, _, _>(crate::custody_key_api::create_custody_key)
        .add::<crate::custody_key_api::__path_activate_custody_key, _, _>(crate::custody_key_api::activate_custody_key)
        .add::<crate::custody_key_api::__path_discard_custody_key, _, _>(crate::custody_key_api::discard_custody_key)
        .add::<crate::custody_key_api::__path_start_custody_key_approval, _, _>(
            crate::custody_key_api::start_custody_key_approval,
        )
        .add::<__path_list_credentials, _, _>(list_credentials)
        .add::<__path_show_credential, _, _>(show_credential)
        .add::<__path_delete_credential, _, _>(delete_credential)
        .add::<__path_revoke_role, _, _>(revoke_role)
        .add::<__path_reseal_role, _, _>(reseal_role)
        .add::<__path_set_limits, _, _>(set_limits)
        .add::<crate::approval_api::__path_set_status, _, _>(crate::approval_api::set_status)
        .add::<crate::anomaly_api::__path_set_anomaly_rules, _, _>(crate::anomaly_api::set_anomaly_rules)
        .add::<crate::approval_api::__path_start_approval, _, _>(crate::approval_api::start_approval)
        .add::<crate::withdrawal_api::__path_list_withdrawals, _, _>(crate::withdrawal_api::list_withdrawals)
        .add::<crate::withdrawal_api::__path_start_withdrawal_approval, _, _>(
            crate::withdrawal_api::start_withdrawal_approval,
        )
        .add::<crate::withdrawal_api::__path_approve_withdrawal, _, _>(crate::withdrawal_api::approve_withdrawal)
        .add::<__path_lockdown, _, _>(lockdown)
        .add::<__path_portfolio, _, _>(portfolio)
        .add::<__path_portfolio_holdings_csv, _, _>(portfolio_holdings_csv)
        .add::<__path_portfolio_gains_csv, _, _>(portfolio_gains_csv)
        .add::<__path_place_order, _, _>(place_order)
        .add::<__path_list_orders, _, _>(list_orders)
        .add::<__path_cancel_order, _, _>(cancel_order)
        .add::<__path_show_order, _, _>(show_order)
        .add::<__path_list_imports, _, _>(list_imports)
        .add::<__path_retry_import, _, _>(retry_import)
        .add::<__path_audit_trail, _, _>(audit_trail)
        .add::<__path_audit_export, _, _>(audit_export)
        .add::<notify_api::__path_get_settings, _, _>(notify_api::get_settings)
        .add::<notify_api::__path_put_settings, _, _>(notify_api::put_settings)
        .add::<notify_api::__path_request_email, _, _>(notify_api::request_email)
        .add::<notify_api::__path_list_webhooks, _, _>(notify_api::list_webhooks)
        .add::<notify_api::__path_add_webhook, _, _>(notify_api::add_webhook)
        .add::<notify_api::__path_delete_webhook, _, _>(notify_api::delete_webhook)
        .add::<crate::incident_api::__path_my_incidents, _, _>(crate::incident_api::my_incidents)
        .add::<crate::passkey_api::__path_list_passkeys, _, _>(crate::passkey_api::list_passkeys)
        .add::<crate::passkey_api::__path_register_start, _, _>(crate::passkey_api::register_start)
        .add::<crate::passkey_api::__path_register_finish, _, _>(crate::passkey_api::register_finish)
        .add::<crate::passkey_api::__path_remove_start, _, _>(crate::passkey_api::remove_start)
        .add::<crate::passkey_api::__path_remove_finish, _, _>(crate::passkey_api::remove_finish)
}

/// Every `(method, path)` the api's own router serves (paths in axum/OpenAPI `{param}`
/// form), without the browser client's routes ([`crate::web::routes`]).
pub fn routes() -> Vec<(&'static str, String)> {
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
        .layer(middleware::from_fn_with_state(MAX_BODY, crate::json::limit_body))
        .layer(middleware::from_fn(crate::json::json_errors))
        .layer(middleware::from_fn(security_headers))
        .with_state(state)
}

async fn security_headers(req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    h.entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"));
    response
}

// --- views: what the handlers answer (each its own schema in /openapi.json) -----------------

/// A credential class a user sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ClassName {
    /// Balances and history.
    Read,
    /// Orders.
    Trade,
    /// Withdrawals and transfers.
    Withdraw,
}

impl ClassName {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "read" => Some(Self::Read),
            "trade" => Some(Self::Trade),
            "withdraw" => Some(Self::Withdraw),
            _ => None,
        }
    }
}

/// Where a credential stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CredentialState {
    /// Usable by the roles it was sealed to.
    Active,
    /// Refused by the signer (lockdown, anomaly); reversible.
    Frozen,
    /// Envelopes destroyed; the metadata stays for the audit trail.
    Deleted,
}

impl From<sealgate_store::CredentialStatus> for CredentialState {
    fn from(s: sealgate_store::CredentialStatus) -> Self {
        match s {
            sealgate_store::CredentialStatus::Active => Self::Active,
            sealgate_store::CredentialStatus::Frozen => Self::Frozen,
            _ => Self::Deleted,
        }
    }
}

/// One envelope of a credential (never the envelope itself).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RoleView {
    /// The role it is sealed to.
    #[schema(value_type = RoleName)]
    pub role: String,
    /// The recipient key version it is sealed to.
    pub kid: String,
    /// When it was stored (Unix ms).
    pub created_ms: i64,
}

/// A credential: metadata only, never an envelope or a secret.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CredentialView {
    /// The credential id (`cid` in every envelope).
    pub id: String,
    /// Exchange id.
    pub exchange: String,
    /// The user's label.
    pub label: String,
    /// The last characters of the API key, for display.
    pub hint: String,
    /// The classes sealed (union over the envelopes).
    pub scope: Vec<ClassName>,
    /// Where it stands.
    pub status: CredentialState,
    /// When it was stored (Unix ms).
    pub created_ms: i64,
    /// When a role last used it (Unix ms), if ever.
    pub last_used_ms: Option<i64>,
    /// Its envelopes, one per role.
    pub roles: Vec<RoleView>,
    /// The owner's limits (in the answers about one credential).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limits: Option<LimitsView>,
    /// A security incident concerns this credential: its API key must be replaced at the
    /// exchange (`GET /v1/incidents` has the steps). The mark stays until the credential
    /// is deleted (the replacement key is a new credential).
    pub replace_key: bool,
}

/// The owner's limits on a credential (`null`: no limit of that kind).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LimitsView {
    /// Symbols the roles may trade (`null`: any).
    #[schema(required)]
    pub symbols: Option<Vec<String>>,
    /// Largest order value in the quote currency, a decimal string.
    #[schema(required)]
    pub max_notional: Option<String>,
    /// Most signer requests per window.
    #[schema(required)]
    pub rate: Option<RateView>,
}

/// A rate limit.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RateView {
    /// Most requests per window.
    pub max: i64,
    /// The window (ms).
    pub window_ms: i64,
}

/// `GET /v1/credentials`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CredentialList {
    /// The caller's credentials.
    pub credentials: Vec<CredentialView>,
}

/// An order (exchange-neutral).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrderView {
    /// Our order id.
    pub id: String,
    /// The credential it trades with.
    pub credential_id: String,
    /// The client order id sent to the exchange.
    pub client_order_id: String,
    /// The exchange's order id, once acknowledged.
    pub exchange_order_id: Option<String>,
    /// The exchange's symbol.
    pub symbol: String,
    /// `buy` or `sell`.
    #[schema(value_type = sealgate_api_bodies::OrderSide)]
    pub side: String,
    /// `market` or `limit`.
    #[schema(value_type = sealgate_api_bodies::OrderType)]
    pub order_type: String,
    /// Quantity, a decimal string.
    pub qty: String,
    /// Limit price, a decimal string.
    pub price: Option<String>,
    /// `new`, `accepted`, `open`, `filled`, `canceled`, `expired`, `rejected` (never
    /// executed: see `reason`), or `unknown` (the placement got no answer and the exchange
    /// may have it; status queries settle it).
    pub status: String,
    /// When it was placed (Unix ms).
    pub created_ms: i64,
    /// When it last changed (Unix ms).
    pub updated_ms: i64,
    /// Why it is `rejected` or `unknown` (e.g. "the credential is frozen").
    pub reason: Option<String>,
}

/// `GET /v1/orders`.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderList {
    /// The caller's orders, newest first.
    pub orders: Vec<OrderView>,
}

/// One record of the caller's audit trail.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditRecordView {
    /// Position in the chain.
    pub seq: i64,
    /// When (Unix ms).
    pub time_ms: i64,
    /// Who acted: `user:<id>`, `role:importer`, …
    pub actor: String,
    /// What happened.
    pub action: String,
    /// What it concerned.
    pub subject: String,
    /// Non-secret facts (`null` if the stored detail is unreadable).
    #[schema(value_type = Option<Object>)]
    pub detail: Option<Map<String, Value>>,
    /// Hash of the previous record.
    pub prev_hash: String,
    /// This record's hash.
    pub hash: String,
}

/// `GET /v1/audit`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    /// Records after `after`, oldest first.
    pub records: Vec<AuditRecordView>,
    /// The `after` of the next page.
    pub next_after: i64,
}

/// A signed checkpoint of a user export (sealgate-audit FORMAT.md §3, §6): v2, signing
/// the Merkle tree head over records `1..=seq`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ExportCheckpoint {
    /// The last record it covers.
    pub seq: u64,
    /// That record's hash (64 lowercase hex digits).
    pub hash: String,
    /// When it was signed (Unix ms).
    pub time: u64,
    /// Leaves of the tree it signs: records 1 to `seq`.
    pub tree_size: u64,
    /// The RFC 9162 root hash of that tree (hex).
    pub tree_root: String,
    /// ES256 signature (r || s, base64url) by the custody root.
    pub sig: String,
}

/// One of the user's records with its inclusion proof.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ExportRecord {
    /// Its leaf in the tree: seq - 1.
    pub index: u64,
    /// The size of the signed tree it is proven in (a checkpoint's `tree_size`).
    pub tree_size: u64,
    /// Exactly the bytes hashed into the chain (FORMAT.md §1), base64url without padding.
    pub record: String,
    /// The RFC 9162 inclusion path, leaf to root (hex hashes).
    pub proof: Vec<String>,
}

/// `GET /v1/audit/export`: the caller's records, each provable against a checkpoint
/// signed by the custody root (sealgate-audit FORMAT.md §7;
/// `sealgate audit verify --user-export FILE --pin PIN` checks it).
#[derive(Debug, Serialize, ToSchema)]
pub struct UserAuditExport {
    /// `sealgate-audit-user-export-v1`.
    pub format: String,
    /// The user every record names (its detail's `owner`).
    pub user: String,
    /// The custody root's public key (EC P-256 JWK); pin its RFC 7638 thumbprint.
    #[schema(value_type = Object)]
    pub root: Value,
    /// The checkpoints the proofs lead to.
    pub checkpoints: Vec<ExportCheckpoint>,
    /// The caller's records after `after` that a checkpoint covers, oldest first.
    pub records: Vec<ExportRecord>,
    /// The `after` of the next page.
    pub next_after: i64,
    /// Whether the caller has records after `next_after` (on a later page, or newer than
    /// the latest checkpoint: ask again in a few seconds).
    pub more: bool,
}

/// How a request was authenticated.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AuthKind {
    /// A local login session cookie.
    Session,
    /// An OIDC bearer JWT.
    Bearer,
}

/// `GET /v1/me`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// Our user id (the envelopes' `sub`).
    pub id: String,
    /// When the user was created (Unix ms).
    pub created_ms: i64,
    /// The identity provider's subject, for OIDC users.
    pub oidc_subject: Option<String>,
    /// How this request was authenticated.
    pub auth: AuthKind,
}

/// `GET /v1/recipients`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Recipients {
    /// Compact JWS (typ `sealgate-keyset+jws`) over the JWKS of every active role key.
    pub keyset: String,
    /// RFC 7638 thumbprint of the root key that clients pin.
    pub root_pin: String,
}

/// `POST /v1/lockdown`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Lockdown {
    /// Credentials frozen by this call.
    pub frozen: u64,
    /// With `cancel_orders=true`: what happened to each open order of the caller's frozen
    /// credentials (absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub orders: Option<Vec<crate::trader::CancelOutcome>>,
}

/// Query of `POST /v1/lockdown`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LockdownQuery {
    /// Also cancel every open order of the caller's frozen credentials, through the
    /// signer (a frozen credential may still cancel); each order's outcome is reported.
    cancel_orders: Option<bool>,
}

/// One import job, as its owner sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportJobView {
    /// Job id.
    pub id: i64,
    /// The credential it imports.
    pub credential_id: String,
    /// What it imports (`full`).
    pub kind: String,
    /// `queued`, `running`, `done` or `failed`.
    pub state: String,
    /// Why it failed (or its last attempt did, while it waits to try again).
    pub reason: Option<String>,
    /// Attempts left before it fails for good.
    pub attempts_left: i64,
    /// When it may run next (Unix ms, database clock), while `queued`.
    pub run_after_ms: i64,
    /// Whether `POST /v1/imports/{id}/retry` applies (`failed`, or `queued` waiting out a
    /// backoff).
    pub retryable: bool,
}

/// `GET /v1/imports`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportJobList {
    /// The caller's import jobs, newest first (at most 100).
    pub jobs: Vec<ImportJobView>,
}

pub(crate) fn credential_view(c: &Credential, roles: &[EnvelopeInfo]) -> CredentialView {
    CredentialView {
        replace_key: false,
        id: c.id.clone(),
        exchange: c.exchange.clone(),
        label: c.label.clone(),
        hint: c.hint.clone(),
        scope: c.scope.split(',').filter_map(ClassName::parse).collect(),
        status: c.status.into(),
        created_ms: c.created_ms,
        last_used_ms: c.last_used_ms,
        roles: roles
            .iter()
            .map(|r| RoleView { role: r.role.clone(), kid: r.kid.clone(), created_ms: r.created_ms })
            .collect(),
        limits: None,
    }
}

fn order_view(o: &Order) -> OrderView {
    OrderView {
        id: o.id.clone(),
        credential_id: o.credential_id.clone(),
        client_order_id: o.client_order_id.clone(),
        exchange_order_id: o.exchange_order_id.clone(),
        symbol: o.symbol.clone(),
        side: o.side.as_str().to_owned(),
        order_type: o.order_type.clone(),
        qty: o.qty.clone(),
        price: o.price.clone(),
        status: o.status.clone(),
        created_ms: o.created_ms,
        updated_ms: o.updated_ms,
        reason: o.reason.clone(),
    }
}

fn job_state(s: sealgate_store::JobState) -> &'static str {
    match s {
        sealgate_store::JobState::Queued => "queued",
        sealgate_store::JobState::Running => "running",
        sealgate_store::JobState::Done => "done",
        sealgate_store::JobState::Failed => "failed",
        _ => "unknown",
    }
}

fn job_view(j: &sealgate_store::Job) -> ImportJobView {
    use sealgate_store::JobState;
    ImportJobView {
        id: j.id,
        credential_id: j.credential_id.clone(),
        kind: j.kind.clone(),
        state: job_state(j.state).to_owned(),
        reason: j.last_error.clone(),
        attempts_left: j.max_attempts.saturating_sub(j.attempts).max(0),
        run_after_ms: j.run_after_ms,
        retryable: matches!(j.state, JobState::Failed | JobState::Queued),
    }
}

fn audit_view(r: &AuditRecord) -> AuditRecordView {
    AuditRecordView {
        seq: r.seq,
        time_ms: r.time_ms,
        actor: r.actor.clone(),
        action: r.action.clone(),
        subject: r.subject.clone(),
        detail: serde_json::from_str(&r.detail).ok(),
        prev_hash: r.prev_hash.clone(),
        hash: r.hash.clone(),
    }
}

fn actor(user: &AuthUser) -> String {
    format!("user:{}", user.id)
}

// --- handlers --------------------------------------------------------------------------------
//
// Each handler's `#[utoipa::path]` is its route: [`Table::add`] serves it at the method and
// path documented. The answers every authenticated route or every body can give (401, 403,
// 400, 413, 415) are added to the document by [`crate::openapi`] from the same rules the
// extractors apply.

/// The caller.
#[utoipa::path(get, path = "/v1/me", tag = "api", security(("session" = []), ("bearer" = [])),
    responses((status = 200, description = "the user", body = Me), (status = 404, description = "the user is gone", body = ErrorBody)))]
async fn me(State(s): State<ApiState>, user: AuthUser) -> ApiResult<Json<Me>> {
    let u = s.store.user(&user.id).await.map_err(|e| ApiError::store("get user", e))?;
    let u = u.ok_or_else(|| ApiError::not_found("user"))?;
    let auth = match user.via {
        auth::AuthVia::Bearer => AuthKind::Bearer,
        _ => AuthKind::Session,
    };
    Ok(Json(Me { id: u.id, created_ms: u.created_ms, oidc_subject: u.oidc_subject, auth }))
}

/// The signed recipient key set (JWS) and the root key pin.
#[utoipa::path(get, path = "/v1/recipients", tag = "api", security(),
    responses((status = 200, description = "the key set", body = Recipients),
              (status = 503, description = "not published yet", body = ErrorBody)))]
async fn recipients(State(s): State<ApiState>) -> ApiResult<Json<Recipients>> {
    let set = s.recipients.read().await;
    if set.jws.is_empty() {
        return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the recipient key set is not published yet"));
    }
    Ok(Json(Recipients { keyset: set.jws.clone(), root_pin: set.pin.clone() }))
}

/// Checks one envelope without opening it; returns its header.
async fn check_envelope(
    s: &ApiState,
    user: &AuthUser,
    req: &CreateCredential,
    env: &EnvelopeIn,
    now: u64,
) -> ApiResult<sealgate_envelope::CredentialHeader> {
    check_sealed(s, user, req.id.as_str(), &req.exchange, env.role.name(), &env.jwe, now).await.map(|(h, _)| h)
}

/// Checks an envelope sealed by `user` for credential `cid` on `exchange` to `role`
/// without opening it; returns its header and content digest.
pub(crate) async fn check_sealed(
    s: &ApiState,
    user: &AuthUser,
    cid: &str,
    exchange: &str,
    role: &str,
    text: &str,
    now: u64,
) -> ApiResult<(sealgate_envelope::CredentialHeader, sealgate_audit::Hash)> {
    let err = |m: String| ApiError::bad(format!("envelope for role {role}: {m}"));
    let jwe = Jwe::parse(text.as_bytes(), &AlgPolicy::CREDENTIAL).map_err(|e| err(e.to_string()))?;
    let binding = Binding {
        sub: user.id.clone(),
        cid: cid.to_owned(),
        exch: exchange.to_owned(),
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
    Ok((header, sealgate_audit::Hash(jwe.content_digest())))
}

/// Store a credential sealed to one or both roles.
#[utoipa::path(post, path = "/v1/credentials", tag = "api", security(("session" = []), ("bearer" = [])),
    request_body = CreateCredential,
    responses((status = 201, description = "stored", body = CredentialView),
              (status = 409, description = "the caller already has a credential with this id (other users' ids are never in the way)", body = ErrorBody),
              (status = 503, description = "the audit log is unavailable; nothing was kept", body = ErrorBody)))]
async fn create_credential(
    State(s): State<ApiState>,
    user: AuthUser,
    JsonObject(req): JsonObject<CreateCredential>,
) -> ApiResult<(StatusCode, Json<CredentialView>)> {
    check_create(&req).map_err(ApiError::bad)?;
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
        id: req.id.as_str(),
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
        .map(|(e, h)| sealgate_store::NewEnvelope { role: e.role.name(), kid: &h.kid, jwe: &e.jwe })
        .collect();
    let cred = s.store.create_credential(&new, &envelopes).await.map_err(|e| match e {
        StoreError::AlreadyExists { .. } => ApiError::new(
            StatusCode::CONFLICT,
            "you already have a credential with this id; make a new id and seal again",
        ),
        e => ApiError::store("create credential", e),
    })?;
    let roles: Vec<&str> = req.envelopes.iter().map(|e| e.role.name()).collect();
    let kids: Vec<&str> = headers.iter().map(|h| h.kid.as_str()).collect();
    // Each envelope's identity, as a later revocation will name it (PROFILE.md D1).
    let digests: Map<String, Value> = req
        .envelopes
        .iter()
        .map(|e| (e.role.name().to_owned(), json!(envelope_digest(&e.jwe).map(|d| d.to_string()))))
        .collect();
    let mut detail =
        json!({"exchange": cred.exchange, "roles": roles, "scope": scope_names, "kids": kids, "envelopes": digests});
    // The owner's authority the envelopes name (AUTHORITY.md L1): the signer's ledger
    // follows this credential from here.
    let own: BTreeSet<&str> =
        headers.iter().filter_map(|h| h.own.as_ref()).flat_map(|o| o.thumbprints()).map(String::as_str).collect();
    if !own.is_empty() {
        detail[crate::owner_ledger::OWN_MEMBER] = json!(own);
    }
    created(&s, &user, &cred, &roles, detail, "try again later with a new id").await
}

/// The end of a credential's creation (sealed, or born in the custody): the record, or the
/// rows destroyed again without it (`retry` says what to do then); the import, the
/// notification, the view.
pub(crate) async fn created(
    s: &ApiState,
    user: &AuthUser,
    cred: &Credential,
    roles: &[&str],
    detail: Value,
    retry: &str,
) -> ApiResult<(StatusCode, Json<CredentialView>)> {
    let event = AuditEvent::new(actor(user), Action::CredentialCreated, &cred.id, detail).owner(&user.id);
    if let Err(e) = s.audit.record(event).await {
        // No credential without its audit record: destroy the rows again.
        let _ = s.store.delete_credential(&user.id, &cred.id).await;
        tracing::error!(error = %e, "credential_created not audited; credential deleted");
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the audit log is unavailable, so the credential was not kept; {retry}"),
        ));
    }
    if roles.contains(&"importer")
        && let Err(e) = crate::importer::enqueue_full_import(&s.store, &user.id, &cred.id).await
    {
        tracing::error!(error = %e, credential = %cred.id, "full import not queued");
    }
    s.notify(crate::notifier::NotifyEvent::CredentialAdded {
        user: user.id.clone(),
        credential_id: cred.id.clone(),
        exchange: cred.exchange.clone(),
        label: cred.label.clone(),
        roles: roles.iter().map(|r| (*r).to_owned()).collect(),
    })
    .await;
    let info = s.store.envelope_roles(&user.id, &cred.id).await.map_err(|e| ApiError::store("envelope roles", e))?;
    Ok((StatusCode::CREATED, Json(credential_view(cred, &info))))
}

/// The caller's credentials (metadata only).
#[utoipa::path(get, path = "/v1/credentials", tag = "api", security(("session" = []), ("bearer" = [])),
    responses((status = 200, description = "the credentials", body = CredentialList)))]
async fn list_credentials(State(s): State<ApiState>, user: AuthUser) -> ApiResult<Json<CredentialList>> {
    let creds = s.store.list_credentials(&user.id).await.map_err(|e| ApiError::store("list credentials", e))?;
    let marked = crate::incident_api::to_replace(&s, &user.id).await?;
    let mut out = Vec::with_capacity(creds.len());
    for c in &creds {
        let roles = s.store.envelope_roles(&user.id, &c.id).await.map_err(|e| ApiError::store("envelope roles", e))?;
        let mut view = credential_view(c, &roles);
        view.replace_key = marked.contains(&c.id);
        out.push(view);
    }
    Ok(Json(CredentialList { credentials: out }))
}

async fn load_credential(s: &ApiState, user: &AuthUser, id: &str) -> ApiResult<CredentialView> {
    let c = s.store.get_credential(&user.id, id).await.map_err(|e| ApiError::store("get credential", e))?;
    let c = c.ok_or_else(|| ApiError::not_found("credential"))?;
    let roles = s.store.envelope_roles(&user.id, id).await.map_err(|e| ApiError::store("envelope roles", e))?;
    let limits = s.store.credential_limits(&user.id, id).await.map_err(|e| ApiError::store("credential limits", e))?;
    let mut view = credential_view(&c, &roles);
    view.limits = Some(limits_view(limits.as_ref()));
    view.replace_key = c.status != sealgate_store::CredentialStatus::Deleted
        && crate::incident_api::to_replace(s, &user.id).await?.contains(id);
    Ok(view)
}

fn limits_view(l: Option<&sealgate_store::CredentialLimits>) -> LimitsView {
    let l = l.cloned().unwrap_or_default();
    LimitsView {
        symbols: l.symbols.map(|s| s.split(',').map(str::to_owned).collect()),
        max_notional: l.max_notional,
        rate: l.rate_max.zip(l.rate_window_ms).map(|(max, window_ms)| RateView { max, window_ms }),
    }
}

/// Set the owner's limits (symbol allow-list, notional cap, rate); they only narrow the sealed scope.
#[utoipa::path(put, path = "/v1/credentials/{id}/limits", tag = "api", security(("session" = []), ("bearer" = [])),
    params(("id" = String, Path, description = "credential id")),
    request_body = LimitsIn,
    responses((status = 200, description = "the limits are set", body = CredentialView),
              (status = 404, description = "no such credential", body = ErrorBody),
              (status = 409, description = "the approval is for another state", body = ErrorBody),
              (status = 503, description = "set, but not audited", body = ErrorBody)))]
async fn set_limits(
    State(s): State<ApiState>,
    user: AuthUser,
    Path(id): Path<String>,
    JsonObject(req): JsonObject<LimitsIn>,
) -> ApiResult<Json<CredentialView>> {
    let limits = check_limits(&req)?;
    let approval =
        crate::approval_api::authorize(&s, &user.id, &id, None, Some(&limits), req.approval.as_ref()).await?;
    s.store.set_credential_limits(&user.id, &id, &limits).await.map_err(|e| ApiError::store("set limits", e))?;
    s.changed(Some((&user.id, &id)));
    let mut detail = json!({"limits": limits_view(Some(&limits))});
    if let Some(a) = approval {
        detail[crate::owner_ledger::APPROVAL_MEMBER] = a;
    }
    let event = AuditEvent::new(
        actor(&user),
        crate::owner_ledger::LIMITS_CHANGED
            .parse::<Action>()
            .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error"))?,
        &id,
        detail,
    )
    .owner(&user.id);
    s.audit.record(event).await.map_err(|e| ApiError::audit_failed("the limits were set", e))?;
    load_credential(&s, &user, &id).await.map(Json)
}

/// Tells this process's signer that `owner`'s credential `id` changed.
pub(crate) fn changed_one(s: &ApiState, owner: &str, id: &str) {
    s.changed(Some((owner, id)));
}

/// The view of one credential, as the credential endpoints answer.
pub(crate) async fn credential_json(s: &ApiState, user: &AuthUser, id: &str) -> ApiResult<Json<CredentialView>> {
    load_credential(s, user, id).await.map(Json)
}

/// The limits a [`LimitsIn`] sets, checked ([`sealgate_api_bodies::check_limits`]), as the
/// store keeps them.
pub(crate) fn check_limits(req: &LimitsIn) -> ApiResult<sealgate_store::CredentialLimits> {
    let limits = sealgate_api_bodies::check_limits(req).map_err(ApiError::bad)?;
    Ok(sealgate_store::CredentialLimits {
        symbols: limits.symbols_csv(),
        max_notional: limits.max_notional().map(|d| d.to_string()),
        rate_max: limits.rate().map(|r| i64::from(r.max)),
        rate_window_ms: limits.rate().map(|r| i64::try_from(r.window_ms).unwrap_or(i64::MAX)),
    })
}

/// One credential (metadata and limits only).
#[utoipa::path(get, path = "/v1/credentials/{id}", tag = "api", security(("session" = []), ("bearer" = [])),
    params(("id" = String, Path, description = "credential id")),
    responses((status = 200, description = "the credential", body = CredentialView),
              (status = 404, description = "no such credential", body = ErrorBody)))]
async fn show_credential(
    State(s): State<ApiState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<CredentialView>> {
    load_credential(&s, &user, &id).await.map(Json)
}

/// Revoke one role: destroys that envelope, for good (a signer refuses it even if its row
/// is restored).
#[utoipa::path(delete, path = "/v1/credentials/{id}/roles/{role}", tag = "api", security(("session" = []), ("bearer" = [])),
    params(("id" = String, Path, description = "credential id"), ("role" = RoleName, Path, description = "the role to revoke")),
    responses((status = 200, description = "revoked", body = CredentialView),
              (status = 404, description = "no envelope for this role on this credential", body = ErrorBody),
              (status = 409, description = "the envelope kept changing while it was revoked; try again", body = ErrorBody),
              (status = 503, description = "the audit log is unavailable; nothing was revoked", body = ErrorBody)))]
async fn revoke_role(
    State(s): State<ApiState>,
    user: AuthUser,
    Path((id, role)): Path<(String, String)>,
) -> ApiResult<Json<CredentialView>> {
    if !ROLES.contains(&role.as_str()) {
        return Err(ApiError::bad("role must be importer or trader"));
    }
    // A concurrent re-seal or re-wrap may replace the envelope between the record and the
    // delete: then the new one is recorded and revoked in turn.
    for _ in 0..3 {
        let envs = s.store.owner_envelopes(&user.id, &id).await.map_err(|e| ApiError::store("envelope roles", e))?;
        let Some(env) = envs.into_iter().find(|e| e.role == role) else {
            return Err(ApiError::new(StatusCode::NOT_FOUND, "no envelope for this role on this credential"));
        };
        // On the record before the row goes (crate::revocation): no envelope is ever gone
        // without the record that keeps it revoked.
        let event = AuditEvent::new(actor(&user), Action::Revoked, &id, revocation_detail(&role, &env, json!({})))
            .owner(&user.id);
        s.audit.record(event).await.map_err(|e| ApiError::audit_first("nothing was revoked", e))?;
        let deleted = s
            .store
            .delete_envelope_if(&user.id, &id, &role, &env.jwe)
            .await
            .map_err(|e| ApiError::store("revoke", e))?;
        s.changed(Some((&user.id, &id)));
        if deleted {
            s.notify(crate::notifier::NotifyEvent::RoleRevoked {
                user: user.id.clone(),
                credential_id: id.clone(),
                role: role.clone(),
            })
            .await;
            return load_credential(&s, &user, &id).await.map(Json);
        }
    }
    Err(ApiError::new(StatusCode::CONFLICT, "the envelope keeps changing; try again"))
}

/// The detail of a record destroying `env`: `extra`, the role, its kid, and its content
/// digest under [`REVOKED_MEMBER`] (or `unreadable` when the stored text does not parse:
/// it cannot be opened either).
fn revocation_detail(role: &str, env: &sealgate_store::Envelope, mut extra: Value) -> Value {
    let digest = envelope_digest(&env.jwe);
    extra["role"] = json!(role);
    extra["kid"] = json!(env.kid);
    extra[REVOKED_MEMBER] = revoked_member(digest);
    if digest.is_none() {
        extra["unreadable"] = json!(true);
    }
    extra
}

/// Body of `PUT /v1/credentials/{id}/roles/{role}`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResealIn {
    /// Compact JWE, credential envelope v1 (at most 64 KiB), sealed to the role's current
    /// key, with the same API key (hint) and at most the classes of the envelope it replaces.
    #[schema(min_length = 1, max_length = 65536)]
    jwe: String,
}

impl std::fmt::Debug for ResealIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResealIn").field("jwe_len", &self.jwe.len()).finish()
    }
}

/// Re-seal one role (to a new key version, or to fewer classes): the new envelope replaces
/// the old, which is revoked for good. It must seal the same API key, and may not add a
/// class (that is a new credential).
#[utoipa::path(put, path = "/v1/credentials/{id}/roles/{role}", tag = "api", security(("session" = []), ("bearer" = [])),
    params(("id" = String, Path, description = "credential id"), ("role" = RoleName, Path, description = "the role to re-seal")),
    request_body = ResealIn,
    responses((status = 200, description = "replaced; the old envelope is revoked", body = CredentialView),
              (status = 400, description = "the envelope is not a valid re-seal of this role", body = ErrorBody),
              (status = 404, description = "no envelope for this role on this credential", body = ErrorBody),
              (status = 409, description = "the envelope changed meanwhile (it is revoked); seal again", body = ErrorBody),
              (status = 503, description = "the audit log is unavailable; nothing was replaced", body = ErrorBody)))]
async fn reseal_role(
    State(s): State<ApiState>,
    user: AuthUser,
    Path((id, role)): Path<(String, String)>,
    JsonObject(req): JsonObject<ResealIn>,
) -> ApiResult<Json<CredentialView>> {
    if !ROLES.contains(&role.as_str()) {
        return Err(ApiError::bad("role must be importer or trader"));
    }
    let c = s.store.get_credential(&user.id, &id).await.map_err(|e| ApiError::store("get credential", e))?;
    let c = c
        .filter(|c| c.status != sealgate_store::CredentialStatus::Deleted)
        .ok_or_else(|| ApiError::not_found("credential"))?;
    let envs = s.store.owner_envelopes(&user.id, &id).await.map_err(|e| ApiError::store("envelope roles", e))?;
    let Some(old) = envs.iter().find(|e| e.role == role) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no envelope for this role on this credential (a revoked role comes back only as a new credential)",
        ));
    };
    let (header, digest) = check_sealed(&s, &user, &id, &c.exchange, &role, &req.jwe, crate::now_ms() / 1000).await?;
    if header.hint != c.hint {
        return Err(ApiError::bad("the envelope seals another API key (hint differs): a new key is a new credential"));
    }
    // The classes each stored envelope grants, as its own protected header says.
    let sealed_scope = |e: &sealgate_store::Envelope| {
        let binding =
            Binding { sub: user.id.clone(), cid: id.clone(), exch: c.exchange.clone(), aud: e.role.clone(), now: None };
        Jwe::parse(e.jwe.as_bytes(), &AlgPolicy::CREDENTIAL)
            .ok()
            .and_then(|j| sealgate_envelope::check_binding(&j, None, &binding).ok())
            .map(|h| h.scope.classes().to_vec())
    };
    let Some(old_scope) = sealed_scope(old) else {
        return Err(ApiError::bad("the stored envelope of this role is unreadable: revoke it instead"));
    };
    if let Some(extra) = header.scope.classes().iter().find(|c| !old_scope.contains(c)) {
        return Err(ApiError::bad(format!(
            "a re-seal may not add a class ({}): seal a new credential for that",
            extra.name()
        )));
    }
    if envelope_digest(&old.jwe) == Some(digest) {
        return Err(ApiError::bad("this is the envelope already stored"));
    }
    let mut scope: BTreeSet<Class> = header.scope.classes().iter().copied().collect();
    for e in envs.iter().filter(|e| e.role != role) {
        scope.extend(sealed_scope(e).unwrap_or_default());
    }
    let scope_text = scope.iter().map(|c| c.name()).collect::<Vec<_>>().join(",");
    let mut detail = json!({"old_kid": old.kid, "new_kid": header.kid, "envelope": digest.to_string(),
                        "scope": header.scope.classes().iter().map(|c| c.name()).collect::<Vec<_>>(),
                        "exchange": c.exchange});
    if let Some(own) = &header.own {
        detail[crate::owner_ledger::OWN_MEMBER] = json!(own.thumbprints());
    }
    let action = ENVELOPE_REPLACED
        .parse::<Action>()
        .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error"))?;
    let event = AuditEvent::new(actor(&user), action, &id, revocation_detail(&role, old, detail)).owner(&user.id);
    s.audit.record(event).await.map_err(|e| ApiError::audit_first("nothing was replaced", e))?;
    let new = sealgate_store::NewEnvelope { role: &role, kid: &header.kid, jwe: &req.jwe };
    let replaced = s
        .store
        .replace_envelope(&user.id, &id, &old.jwe, &new, &scope_text)
        .await
        .map_err(|e| ApiError::store("replace envelope", e))?;
    s.changed(Some((&user.id, &id)));
    if !replaced {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "the envelope changed meanwhile (the one you replaced is revoked); reload and seal again",
        ));
    }
    load_credential(&s, &user, &id).await.map(Json)
}

/// Delete a credential: destroys every envelope, for good (the metadata stays, `deleted`).
#[utoipa::path(delete, path = "/v1/credentials/{id}", tag = "api", security(("session" = []), ("bearer" = [])),
    params(("id" = String, Path, description = "credential id")),
    responses((status = 200, description = "deleted", body = CredentialView),
              (status = 404, description = "no such credential", body = ErrorBody),
              (status = 503, description = "the audit log is unavailable; nothing was deleted", body = ErrorBody)))]
async fn delete_credential(
    State(s): State<ApiState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<CredentialView>> {
    let c = s.store.get_credential(&user.id, &id).await.map_err(|e| ApiError::store("get credential", e))?;
    let c = c.ok_or_else(|| ApiError::not_found("credential"))?;
    if c.status == sealgate_store::CredentialStatus::Deleted {
        return Err(ApiError::not_found("credential"));
    }
    let envs = s.store.owner_envelopes(&user.id, &id).await.map_err(|e| ApiError::store("envelope roles", e))?;
    let event = AuditEvent::new(actor(&user), Action::CredentialDeleted, &id, deletion_detail(&c.exchange, &envs))
        .owner(&user.id);
    s.audit.record(event).await.map_err(|e| ApiError::audit_first("nothing was deleted", e))?;
    let gone = s
        .store
        .delete_credential_envelopes(&user.id, &id)
        .await
        .map_err(|e| ApiError::store("delete credential", e))?;
    s.changed(Some((&user.id, &id)));
    // An envelope re-sealed or re-wrapped between the record and the delete: record it too.
    let late: Vec<_> = gone.into_iter().filter(|g| !envs.iter().any(|e| e.jwe == g.jwe)).collect();
    if !late.is_empty() {
        let event = AuditEvent::new(actor(&user), Action::CredentialDeleted, &id, deletion_detail(&c.exchange, &late))
            .owner(&user.id);
        s.audit.record(event).await.map_err(|e| ApiError::audit_failed("the credential was deleted", e))?;
    }
    // A key born in the custody dies with its credential.
    crate::custody_key_api::destroy_deleted(&s, &user.id, &envs).await;
    load_credential(&s, &user, &id).await.map(Json)
}

/// The detail of a credential's deletion: its exchange and the digests of `envs`.
fn deletion_detail(exchange: &str, envs: &[sealgate_store::Envelope]) -> Value {
    let digests: Vec<_> = envs.iter().filter_map(|e| envelope_digest(&e.jwe)).collect();
    let unreadable: Vec<&str> =
        envs.iter().filter(|e| envelope_digest(&e.jwe).is_none()).map(|e| e.role.as_str()).collect();
    let mut d = json!({"exchange": exchange, REVOKED_MEMBER: revoked_member(digests)});
    if !unreadable.is_empty() {
        d["unreadable"] = json!(unreadable);
    }
    d
}

/// Freeze all the caller's credentials; with `cancel_orders=true`, then cancel every open
/// order of the caller's frozen credentials (a frozen credential may still cancel: it only
/// tightens) and report each order's outcome.
#[utoipa::path(post, path = "/v1/lockdown", tag = "api", security(("session" = []), ("bearer" = [])),
    params(LockdownQuery),
    responses((status = 200, description = "frozen (and, if asked, each open order's cancel outcome)", body = Lockdown),
              (status = 503, description = "frozen, but not audited; or frozen, but trading is not enabled to cancel orders", body = ErrorBody)))]
async fn lockdown(
    State(s): State<ApiState>,
    user: AuthUser,
    q: Result<Query<LockdownQuery>, QueryRejection>,
) -> ApiResult<Json<Lockdown>> {
    let cancel = query(q)?.cancel_orders.unwrap_or(false);
    let n = s.store.lockdown(&user.id).await.map_err(|e| ApiError::store("lockdown", e))?;
    s.changed(None);
    let event =
        AuditEvent::new(actor(&user), Action::Lockdown, &user.id, json!({"frozen": n, "cancel_orders": cancel}))
            .owner(&user.id);
    s.audit.record(event).await.map_err(|e| ApiError::audit_failed("all credentials were frozen", e))?;
    s.notify(crate::notifier::NotifyEvent::Lockdown { user: user.id.clone(), frozen: n, via: "api".into() }).await;
    let orders = match cancel {
        false => None,
        true => {
            let trader = s.trader.as_deref().ok_or_else(|| {
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "all credentials were frozen, but trading is not enabled on this server to cancel open orders",
                )
            })?;
            Some(trader.cancel_frozen_orders(&user.id).await.map_err(trade_error)?)
        }
    };
    Ok(Json(Lockdown { frozen: n, orders }))
}

/// The caller's import jobs, newest first, each with why it failed.
#[utoipa::path(get, path = "/v1/imports", tag = "api", security(("session" = []), ("bearer" = [])),
    responses((status = 200, description = "the jobs", body = ImportJobList)))]
async fn list_imports(State(s): State<ApiState>, user: AuthUser) -> ApiResult<Json<ImportJobList>> {
    let jobs = s.store.owner_jobs(&user.id, 100).await.map_err(|e| ApiError::store("list imports", e))?;
    Ok(Json(ImportJobList { jobs: jobs.iter().map(job_view).collect() }))
}

/// Retry one of the caller's import jobs: a `failed` one, or a `queued` one waiting out a
/// backoff. It runs again now with a fresh budget of attempts, from where it got to (its
/// checkpoint: trades already imported are not imported twice).
#[utoipa::path(post, path = "/v1/imports/{id}/retry", tag = "api", security(("session" = []), ("bearer" = [])),
    params(("id" = i64, Path, description = "import job id")),
    responses((status = 200, description = "queued again", body = ImportJobView),
              (status = 400, description = "the id is not a job id", body = ErrorBody),
              (status = 404, description = "no such import job of the caller", body = ErrorBody),
              (status = 409, description = "the job is running or done", body = ErrorBody)))]
async fn retry_import(
    State(s): State<ApiState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<ImportJobView>> {
    let id: i64 = id.parse().map_err(|_| ApiError::bad("the import job id must be a number"))?;
    match s.store.retry_job(&user.id, id, importer::DEFAULT_MAX_ATTEMPTS).await {
        Ok(Some(sealgate_store::RetryOutcome::Queued(job))) => {
            tracing::info!(job = id, owner = %user.id, "import job retried by its owner");
            Ok(Json(job_view(&job)))
        }
        Ok(Some(sealgate_store::RetryOutcome::NotRetryable(state))) => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("the import job is {}; only a failed or waiting job can be retried", job_state(state)),
        )),
        Ok(Some(_)) => Err(ApiError::new(StatusCode::CONFLICT, "the import job cannot be retried")),
        Ok(None) => Err(ApiError::not_found("import job")),
        Err(e) => Err(ApiError::store("retry import", e)),
    }
}

/// `?currency=` of the portfolio's routes (default USD).
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
struct CurrencyQuery {
    /// The currency values are in: 2 to 8 capital letters or digits (default `USD`).
    currency: Option<String>,
}

/// The portfolio valued in the query's currency (see [`crate::portfolio_value`]).
async fn valued(
    s: &ApiState,
    user: &AuthUser,
    q: Result<Query<CurrencyQuery>, QueryRejection>,
) -> ApiResult<crate::portfolio_value::Valued> {
    let currency = query(q)?.currency.unwrap_or_else(|| sealgate_portfolio::DEFAULT_TARGET.to_owned());
    match s.valuations.value(&s.store, s.prices.as_ref(), &user.id, &currency).await {
        Ok(v) => Ok(v),
        Err(crate::portfolio_value::ValueError::Store(e)) => Err(ApiError::store("portfolio value", e)),
        Err(e @ crate::portfolio_value::ValueError::Currency) => Err(ApiError::bad(e.to_string())),
        Err(e) => {
            tracing::warn!(error = %e, "portfolio value");
            Err(ApiError::internal())
        }
    }
}

/// The caller's normalized portfolio: holdings, open derivatives positions (Deribit),
/// import progress, and its value in the currency asked (default USD) with allocation,
/// value over time and realised gain. Positions are shown, not added to the total: a
/// Deribit holding is its currency's equity, which already includes their floating and
/// realised PnL (and a perpetual's size is USD notional, not an asset).
#[utoipa::path(get, path = "/v1/portfolio", tag = "api", security(("session" = []), ("bearer" = [])),
    params(CurrencyQuery),
    responses((status = 200, description = "the portfolio", body = importer::Portfolio),
              (status = 400, description = "not a currency code", body = crate::json::ErrorBody)))]
async fn portfolio(
    State(s): State<ApiState>,
    user: AuthUser,
    q: Result<Query<CurrencyQuery>, QueryRejection>,
) -> ApiResult<Json<importer::Portfolio>> {
    let value = valued(&s, &user, q).await?.view;
    let mut p = importer::portfolio(&s.store, &user.id).await.map_err(|e| ApiError::store("portfolio", e))?;
    p.value = Some(value);
    Ok(Json(p))
}

/// A CSV download (RFC 4180; cells that a spreadsheet would run are neutralised).
fn csv(name: &str, body: String) -> Response {
    let disposition = format!("attachment; filename=\"{name}\"");
    ([(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()), (header::CONTENT_DISPOSITION, disposition)], body)
        .into_response()
}

/// The holdings and their values, as CSV.
#[utoipa::path(get, path = "/v1/portfolio/holdings.csv", tag = "api", security(("session" = []), ("bearer" = [])),
    params(CurrencyQuery),
    responses((status = 200, description = "holdings per exchange and asset", content_type = "text/csv", body = String),
              (status = 400, description = "not a currency code", body = crate::json::ErrorBody)))]
async fn portfolio_holdings_csv(
    State(s): State<ApiState>,
    user: AuthUser,
    q: Result<Query<CurrencyQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let v = valued(&s, &user, q).await?;
    Ok(csv("sealgate-holdings.csv", sealgate_portfolio::holdings_csv(&v.portfolio)))
}

/// Every sale with its FIFO cost basis and realised gain, as CSV.
#[utoipa::path(get, path = "/v1/portfolio/gains.csv", tag = "api", security(("session" = []), ("bearer" = [])),
    params(CurrencyQuery),
    responses((status = 200, description = "sales and realised gains (FIFO)", content_type = "text/csv", body = String),
              (status = 400, description = "not a currency code", body = crate::json::ErrorBody)))]
async fn portfolio_gains_csv(
    State(s): State<ApiState>,
    user: AuthUser,
    q: Result<Query<CurrencyQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let v = valued(&s, &user, q).await?;
    Ok(csv("sealgate-gains.csv", sealgate_portfolio::sales_csv(v.gains())))
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

/// Place an order through the trader.
#[utoipa::path(post, path = "/v1/orders", tag = "api", security(("session" = []), ("bearer" = [])),
    request_body = OrderRequest,
    responses((status = 201, description = "placed", body = OrderView),
              (status = 404, description = "no such credential", body = ErrorBody),
              (status = 502, description = "the exchange refused the order", body = ErrorBody),
              (status = 503, description = "trading is not enabled or unavailable", body = ErrorBody)))]
async fn place_order(
    State(s): State<ApiState>,
    user: AuthUser,
    JsonObject(req): JsonObject<OrderRequest>,
) -> ApiResult<(StatusCode, Json<OrderView>)> {
    let trader = trader(&s)?;
    let order = trader.place(&user.id, &req).await.map_err(trade_error)?;
    Ok((StatusCode::CREATED, Json(order_view(&order))))
}

/// Cancel an order.
#[utoipa::path(delete, path = "/v1/orders/{id}", tag = "api", security(("session" = []), ("bearer" = [])),
    params(("id" = String, Path, description = "order id")),
    responses((status = 200, description = "cancelled", body = OrderView),
              (status = 404, description = "no such order", body = ErrorBody),
              (status = 502, description = "the exchange refused", body = ErrorBody),
              (status = 503, description = "trading is not enabled or unavailable", body = ErrorBody)))]
async fn cancel_order(State(s): State<ApiState>, user: AuthUser, Path(id): Path<String>) -> ApiResult<Json<OrderView>> {
    let trader = trader(&s)?;
    let order = trader.cancel(&user.id, &id).await.map_err(trade_error)?;
    Ok(Json(order_view(&order)))
}

/// One of the caller's orders. An `unknown` order (its placement got no answer) is
/// reconciled first: the exchange is asked for it by client order id, through the signer.
#[utoipa::path(get, path = "/v1/orders/{id}", tag = "api", security(("session" = []), ("bearer" = [])),
    params(("id" = String, Path, description = "order id")),
    responses((status = 200, description = "the order", body = OrderView),
              (status = 404, description = "no such order", body = ErrorBody)))]
async fn show_order(State(s): State<ApiState>, user: AuthUser, Path(id): Path<String>) -> ApiResult<Json<OrderView>> {
    if id.is_empty() || id.len() > 128 {
        return Err(ApiError::not_found("order"));
    }
    let order = s.store.order(&user.id, &id).await.map_err(|e| ApiError::store("get order", e))?;
    let order = order.ok_or_else(|| ApiError::not_found("order"))?;
    let order = match (&s.trader, order.status.as_str()) {
        // The stored order stands when the query cannot be made now; the reconciler retries.
        (Some(trader), "unknown") => trader.reconcile(&user.id, &id).await.unwrap_or(order),
        _ => order,
    };
    Ok(Json(order_view(&order)))
}

/// Query of `GET /v1/orders`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Most orders answered (default 100).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

/// The caller's orders, newest first.
#[utoipa::path(get, path = "/v1/orders", tag = "api", security(("session" = []), ("bearer" = [])),
    params(ListQuery),
    responses((status = 200, description = "the orders", body = OrderList)))]
async fn list_orders(
    State(s): State<ApiState>,
    user: AuthUser,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult<Json<OrderList>> {
    let q = query(q)?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::bad("limit must be 1 to 500"));
    }
    let orders = s.store.orders(&user.id, limit).await.map_err(|e| ApiError::store("list orders", e))?;
    Ok(Json(OrderList { orders: orders.iter().map(order_view).collect() }))
}

/// Query of `GET /v1/audit`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Records after this sequence number (default 0: from the start).
    #[param(minimum = 0)]
    after: Option<i64>,
    /// Most records answered (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

/// The caller's own audit records.
#[utoipa::path(get, path = "/v1/audit", tag = "api", security(("session" = []), ("bearer" = [])),
    params(AuditQuery),
    responses((status = 200, description = "the records", body = AuditPage)))]
async fn audit_trail(
    State(s): State<ApiState>,
    user: AuthUser,
    q: Result<Query<AuditQuery>, QueryRejection>,
) -> ApiResult<Json<AuditPage>> {
    let q = query(q)?;
    let after = q.after.unwrap_or(0);
    let limit = q.limit.unwrap_or(100);
    if after < 0 {
        return Err(ApiError::bad("after must be a sequence number (0 or more)"));
    }
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad("limit must be 1 to 1000"));
    }
    // A signer in this process answers its uses from its journal: the trail shows them too.
    s.audit.flush().await.map_err(|e| {
        tracing::error!(error = %e, "audit trail: the journal's records not copied");
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the audit trail is unavailable; try again".to_owned())
    })?;
    let records =
        s.store.audit_for_owner(&user.id, after, limit).await.map_err(|e| ApiError::store("audit trail", e))?;
    let next_after = records.last().map_or(after, |r| r.seq);
    Ok(Json(AuditPage { records: records.iter().map(audit_view).collect(), next_after }))
}

/// Query of `GET /v1/audit/export`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditExportQuery {
    /// Records after this sequence number (default 0: from the start).
    #[param(minimum = 0)]
    after: Option<i64>,
    /// Most records answered (default and maximum 1000).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

/// The caller's own audit records with what proves them: for each its leaf index and an
/// RFC 9162 inclusion proof into the Merkle tree that the latest signed checkpoint commits
/// to, that checkpoint, and the custody root's public key. Nothing of other users'
/// records but the hashes in the proofs. Verify with
/// `sealgate audit verify --user-export FILE --pin PIN`.
#[utoipa::path(get, path = "/v1/audit/export", tag = "api", security(("session" = []), ("bearer" = [])),
    params(AuditExportQuery),
    responses((status = 200, description = "the records and their proofs", body = UserAuditExport),
              (status = 400, description = "a bad `after` or `limit`", body = ErrorBody),
              (status = 503, description = "no signed checkpoint yet (one follows new records within seconds)", body = ErrorBody)))]
async fn audit_export(
    State(s): State<ApiState>,
    user: AuthUser,
    q: Result<Query<AuditExportQuery>, QueryRejection>,
) -> ApiResult<Json<UserAuditExport>> {
    let q = query(q)?;
    let after = q.after.unwrap_or(0);
    let limit = q.limit.unwrap_or(1000);
    if after < 0 {
        return Err(ApiError::bad("after must be a sequence number (0 or more)"));
    }
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad("limit must be 1 to 1000"));
    }
    let not_yet = || {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no signed checkpoint covers the audit chain yet (the signer signs one within seconds of new records); try again shortly",
        )
    };
    let internal = |what: &'static str, e: String| {
        tracing::error!(error = %e, what, "audit export failed");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    };
    let stored = s.store.latest_tree_checkpoint().await.map_err(|e| ApiError::store("audit export", e))?;
    let Some(cp) = stored.as_ref().and_then(crate::audit::checkpoint_of) else { return Err(not_yet()) };
    let Some(tree) = cp.checkpoint.tree else { return Err(not_yet()) };
    let root = s
        .store
        .setting(sealgate_store::AUDIT_ROOT_JWK)
        .await
        .map_err(|e| ApiError::store("audit export", e))?
        .and_then(|text| serde_json::from_str::<Value>(&text).ok())
        .and_then(|jwk| sealgate_audit::RootKey::from_jwk(&jwk).ok())
        .ok_or_else(not_yet)?;
    let rows =
        s.store.audit_for_owner(&user.id, after, limit + 1).await.map_err(|e| ApiError::store("audit export", e))?;
    // Leaves are seq - 1 (T1): only seqs 1..=tree size have one in the signed tree.
    let covered: Vec<(&AuditRecord, u64)> = rows
        .iter()
        .filter_map(|r| u64::try_from(r.seq).ok().filter(|seq| (1..=tree.size).contains(seq)).map(|seq| (r, seq - 1)))
        .take(limit as usize)
        .collect();
    let more = rows.len() > covered.len();
    let indices: Vec<u64> = covered.iter().map(|(_, index)| *index).collect();
    let proofs = crate::audit::inclusion_proofs(&s.store, tree.size, &indices)
        .await
        .map_err(|e| internal("inclusion proofs", e))?;
    let records = covered
        .iter()
        .zip(proofs)
        .map(|((row, index), proof)| ExportRecord {
            index: *index,
            tree_size: tree.size,
            // A row that no longer reads as a record is still listed (empty), so the
            // verifier names it instead of it vanishing from the trail.
            record: crate::audit::record_of(row).map(|r| B64.encode(r.canonical_bytes())).unwrap_or_default(),
            proof: proof.iter().map(ToString::to_string).collect(),
        })
        .collect();
    let c = &cp.checkpoint;
    Ok(Json(UserAuditExport {
        format: sealgate_audit::user_export::USER_EXPORT_FORMAT.to_owned(),
        user: user.id.clone(),
        root: root.to_jwk(),
        checkpoints: vec![ExportCheckpoint {
            seq: c.seq,
            hash: c.hash.to_string(),
            time: c.time,
            tree_size: tree.size,
            tree_root: tree.root.to_string(),
            sig: B64.encode(&cp.sig),
        }],
        records,
        next_after: covered.last().map_or(after, |(r, _)| r.seq),
        more,
    }))
}

/// This document: every route of the public listener of `sealgate serve`, generated from
/// the handlers' types (the service listener serves its own).
#[utoipa::path(get, path = "/openapi.json", tag = "api", security(),
    responses((status = 200, description = "OpenAPI 3.1", body = Object)))]
async fn openapi() -> Response {
    match crate::openapi::document().to_json() {
        Ok(text) => ([(header::CONTENT_TYPE, "application/json")], text).into_response(),
        Err(_) => error_response(StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
    }
}

/// The OpenAPI 3.1 document of the public listener (see [`crate::openapi::document`]), as JSON.
pub fn openapi_document() -> Value {
    serde_json::to_value(crate::openapi::document()).unwrap_or(Value::Null)
}

/// The OpenAPI 3.1 document of the service listener (see
/// [`crate::openapi::service_document`]), as JSON.
pub fn service_openapi_document() -> Value {
    serde_json::to_value(crate::openapi::service_document()).unwrap_or(Value::Null)
}

/// The api's operations, for [`crate::openapi`].
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    openapi,
    auth::login,
    auth::logout,
    me,
    recipients,
    create_credential,
    crate::custody_key_api::create_custody_key,
    crate::custody_key_api::activate_custody_key,
    crate::custody_key_api::start_custody_key_approval,
    crate::custody_key_api::discard_custody_key,
    list_credentials,
    show_credential,
    delete_credential,
    revoke_role,
    reseal_role,
    set_limits,
    lockdown,
    portfolio,
    portfolio_holdings_csv,
    portfolio_gains_csv,
    place_order,
    list_orders,
    cancel_order,
    show_order,
    list_imports,
    retry_import,
    audit_trail,
    audit_export,
    notify_api::get_settings,
    notify_api::put_settings,
    notify_api::request_email,
    notify_api::list_webhooks,
    notify_api::add_webhook,
    notify_api::delete_webhook,
    crate::incident_api::my_incidents,
    crate::passkey_api::list_passkeys,
    crate::passkey_api::register_start,
    crate::passkey_api::register_finish,
    crate::passkey_api::remove_start,
    crate::passkey_api::remove_finish,
    crate::approval_api::start_approval,
    crate::approval_api::set_status,
    crate::anomaly_api::set_anomaly_rules,
    crate::withdrawal_api::list_withdrawals,
    crate::withdrawal_api::start_withdrawal_approval,
    crate::withdrawal_api::approve_withdrawal
))]
pub(crate) struct ApiDoc;
