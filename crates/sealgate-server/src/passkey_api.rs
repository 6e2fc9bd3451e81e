//! Users' passkeys (WebAuthn, through `webauthn-rs`): what a sealed envelope's `own` names
//! (by the RFC 7638 thumbprint of the passkey's public key, computed by
//! `sealgate-authority` from the key as a JWK, so it is exactly the thumbprint `own` carries)
//! and what approves the changes only the owner may make.
//!
//! - `GET /v1/passkeys`: the caller's passkeys with their thumbprints and public JWKs.
//! - `POST /v1/passkeys/register/start` then `…/register/finish`: registration. The first
//!   passkey needs only the session (trust on first use of the session). Every later one also
//!   needs a *step-up*: an assertion, in the same ceremony, by one of the user's registered
//!   passkeys (user verification required), so a stolen session cannot add a passkey of its
//!   own.
//! - `POST /v1/passkeys/{id}/remove/start` then `POST /v1/passkeys/{id}/remove`: removal,
//!   approved by an assertion of *another* of the user's passkeys. The last one cannot be
//!   removed here: only the operator's `sealgate passkeys reset --user U` (audited) does
//!   that, the recovery when every passkey is lost.
//!
//! A ceremony's challenge state stays on the server (never in the client's hands): it is
//! single use (taken out of the table when finished, success or not), lives
//! [`CEREMONY_TTL`], and is bound to the user and the session that started it. The table is
//! bounded ([`MAX_PENDING`], [`MAX_PENDING_PER_USER`]). Every change is audited
//! (`passkey_added`, `passkey_removed`, `passkeys_reset`) and told to the user through the
//! outbox.
//!
//! Relying party: the rp id is the host of `--public-url` and the origin exactly its origin;
//! a loopback listener without one (127.0.0.1, ::1) is `localhost` with the origin
//! `http://localhost:PORT`, any port (browsers treat localhost as a secure context;
//! WebAuthn refuses IP addresses as rp ids; open the client at `http://localhost:PORT`). A server reached
//! at another IP address without `--public-url` offers no passkeys (503).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use sealgate_audit::Action;
use sealgate_authority::AuthorityKey;
use sealgate_store::{NewPasskey, PasskeyPrecondition, StoredPasskey};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::ToSchema;
use webauthn_rs::prelude::{
    COSEKeyType, ECDSACurve, EDDSACurve, Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, Url, Uuid, Webauthn, WebauthnBuilder,
};

use crate::api::{ApiError, ApiResult, ApiState};
use crate::audit::AuditEvent;
use crate::auth::AuthUser;
use crate::json::{JsonObject, bounded};
use crate::notifier::NotifyEvent;

/// How long a started ceremony can be finished.
pub const CEREMONY_TTL: Duration = Duration::from_secs(120);
/// Ceremonies in progress, all users together.
pub const MAX_PENDING: usize = 10_000;
/// Ceremonies in progress per user (a newer one drops the oldest).
pub const MAX_PENDING_PER_USER: usize = 4;
/// Passkeys per user: as many as an envelope's `own` can name (envelope PROFILE C8).
pub const MAX_PASSKEYS: usize = 10;
/// Longest passkey name, in characters.
pub const MAX_NAME: usize = 64;
/// Largest credential or assertion (as JSON) we read.
pub const MAX_CREDENTIAL: usize = 16 * 1024;

/// What a ceremony will do when it is finished.
enum Purpose {
    Register { name: String, reg: PasskeyRegistration, step_up: Option<PasskeyAuthentication> },
    Remove { id: String, step_up: PasskeyAuthentication },
}

struct Pending {
    user: String,
    session: Option<[u8; 32]>,
    expires: Instant,
    purpose: Purpose,
}

/// The relying party and the ceremonies in progress.
pub struct Passkeys {
    webauthn: Webauthn,
    rp_id: String,
    origin: String,
    pending: Mutex<HashMap<String, Pending>>,
    /// Owner approvals spent in this process ([`crate::approval_api`]).
    pub(crate) spent: crate::approval_api::Spent,
    /// Any port of the origin's host is accepted (a loopback listener without --public-url).
    any_port: bool,
}

impl std::fmt::Debug for Passkeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passkeys").field("rp_id", &self.rp_id).field("origin", &self.origin).finish()
    }
}

impl Passkeys {
    /// The relying party of a server reached at `public_url` (`https://host[:port]`, or
    /// `http://localhost[:port]`).
    pub fn new(public_url: &str) -> Result<Self, String> {
        Self::build(public_url, false)
    }

    fn build(public_url: &str, any_port: bool) -> Result<Self, String> {
        let url = Url::parse(public_url).map_err(|e| format!("public URL {public_url:?}: {e}"))?;
        let Some(host) = url.domain() else {
            return Err(format!(
                "public URL {public_url:?}: WebAuthn needs a domain name as relying party, not an IP address"
            ));
        };
        let rp_id = host.to_owned();
        let origin = url.origin().ascii_serialization();
        let origin_url = Url::parse(&origin).map_err(|e| format!("origin {origin:?}: {e}"))?;
        let webauthn = WebauthnBuilder::new(&rp_id, &origin_url)
            .and_then(|b| b.rp_name("Sealgate").timeout(CEREMONY_TTL).allow_any_port(any_port).build())
            .map_err(|e| format!("WebAuthn relying party {rp_id:?} at {origin}: {e}"))?;
        Ok(Self { webauthn, rp_id, origin, pending: Mutex::new(HashMap::new()), spent: Default::default(), any_port })
    }

    /// The relying party of a server without `--public-url`: `localhost` for a loopback
    /// listener, any port of `localhost` accepted as the origin (the listener may be on port 0,
    /// chosen at bind; every port of localhost is this machine); `None` for any other
    /// address (passkeys need a domain).
    pub fn for_listener(addr: SocketAddr, tls: bool) -> Option<Self> {
        if !addr.ip().is_loopback() {
            return None;
        }
        let scheme = if tls { "https" } else { "http" };
        Self::build(&format!("{scheme}://localhost:{}", addr.port()), true).ok()
    }

    /// The rp id.
    pub fn rp_id(&self) -> &str {
        &self.rp_id
    }

    /// The one origin accepted (with any port, see [`Passkeys::for_listener`]).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Whether a ceremony made at `origin` is one of ours: exactly [`Passkeys::origin`], or,
    /// on a loopback listener, its scheme and host with any port.
    pub fn accepts_origin(&self, origin: &str) -> bool {
        if origin == self.origin {
            return true;
        }
        self.any_port
            && Url::parse(origin).is_ok_and(|u| {
                Url::parse(&self.origin).is_ok_and(|ours| {
                    u.scheme() == ours.scheme()
                        && u.host_str() == ours.host_str()
                        && u.path() == "/"
                        && u.origin().ascii_serialization() == origin
                })
            })
    }

    fn put(&self, user: &AuthUser, purpose: Purpose) -> ApiResult<String> {
        self.put_for(&user.id, user.session_hash(), purpose, Instant::now() + CEREMONY_TTL)
    }

    fn put_for(&self, user: &str, session: Option<[u8; 32]>, purpose: Purpose, expires: Instant) -> ApiResult<String> {
        let id = random_b64(16)?;
        let now = Instant::now();
        let mut table = self.pending.lock().map_err(|_| ApiError::internal())?;
        table.retain(|_, p| p.expires > now);
        let mut mine: Vec<(Instant, String)> =
            table.iter().filter(|(_, p)| p.user == user).map(|(k, p)| (p.expires, k.clone())).collect();
        mine.sort();
        while mine.len() >= MAX_PENDING_PER_USER {
            let (_, oldest) = mine.remove(0);
            table.remove(&oldest);
        }
        if table.len() >= MAX_PENDING {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too many passkey ceremonies in progress; try again shortly",
            ));
        }
        table.insert(id.clone(), Pending { user: user.to_owned(), session, expires, purpose });
        Ok(id)
    }

    /// Takes the ceremony out of the table (single use, whatever happens next) if it is the
    /// caller's, from the same session, and not expired.
    fn take(&self, user: &AuthUser, ceremony: &str) -> ApiResult<Purpose> {
        self.take_for(&user.id, user.session_hash(), ceremony)
    }

    fn take_for(&self, user: &str, session: Option<[u8; 32]>, ceremony: &str) -> ApiResult<Purpose> {
        let gone = || ApiError::bad("unknown, used or expired ceremony; start again");
        let mut table = self.pending.lock().map_err(|_| ApiError::internal())?;
        let Some(p) = table.get(ceremony) else { return Err(gone()) };
        // Another user's or another session's ceremony is not the caller's: it stays
        // (its owner may still finish it) and the caller learns nothing about it.
        if p.user != user || p.session != session {
            return Err(gone());
        }
        let p = table.remove(ceremony).ok_or_else(gone)?;
        if p.expires <= Instant::now() {
            return Err(gone());
        }
        Ok(p.purpose)
    }
}

fn random_b64(n: usize) -> ApiResult<String> {
    let mut b = vec![0u8; n];
    aws_lc_rs::rand::fill(&mut b).map_err(|_| ApiError::internal())?;
    Ok(B64.encode(b))
}

fn unavailable() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "passkeys are not available on this server (it needs --public-url with a domain name, or a loopback listener)",
    )
}

/// The relying party, or 503 when this server offers no passkeys.
pub(crate) fn service(s: &ApiState) -> ApiResult<Arc<Passkeys>> {
    s.passkeys.clone().ok_or_else(unavailable)
}

/// A passkey's public key as `sealgate-authority` reads it (AUTHORITY.md K2), from the
/// COSE key the WebAuthn library verified at registration.
pub fn authority_key(pk: &Passkey) -> Result<AuthorityKey, String> {
    let cose = pk.get_public_key();
    let mut jwk = Map::new();
    match &cose.key {
        COSEKeyType::EC_EC2(k) if k.curve == ECDSACurve::SECP256R1 => {
            jwk.insert("kty".into(), "EC".into());
            jwk.insert("crv".into(), "P-256".into());
            jwk.insert("x".into(), B64.encode(&k.x).into());
            jwk.insert("y".into(), B64.encode(&k.y).into());
        }
        COSEKeyType::EC_OKP(k) if k.curve == EDDSACurve::ED25519 => {
            jwk.insert("kty".into(), "OKP".into());
            jwk.insert("crv".into(), "Ed25519".into());
            jwk.insert("x".into(), B64.encode(&k.x).into());
        }
        COSEKeyType::RSA(k) => {
            let e: Vec<u8> = k.e.iter().copied().skip_while(|b| *b == 0).collect();
            jwk.insert("kty".into(), "RSA".into());
            jwk.insert("n".into(), B64.encode(&k.n).into());
            jwk.insert("e".into(), B64.encode(e).into());
        }
        _ => return Err("the passkey's key type is not one an owner's authority may have (ES256, EdDSA, RS256)".into()),
    }
    let bytes = serde_json::to_vec(&Value::Object(jwk)).map_err(|_| "key".to_owned())?;
    AuthorityKey::from_jwk(&bytes).map_err(|e| format!("the passkey's public key is refused: {e}"))
}

/// The WebAuthn user handle of a user: the first 16 bytes of SHA-256 of our user id
/// (stable, and no user id in the authenticator).
fn user_handle(user: &str) -> Uuid {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, user.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&d.as_ref()[..16]);
    Uuid::from_bytes(b)
}

fn stored_passkey(row: &StoredPasskey) -> ApiResult<Passkey> {
    serde_json::from_str(&row.passkey).map_err(|e| {
        tracing::error!(error = %e, passkey = %row.id, "stored passkey does not parse");
        ApiError::internal()
    })
}

// --- views -------------------------------------------------------------------------------------

/// One of the caller's passkeys.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasskeyView {
    /// Id (ours).
    pub id: String,
    /// The user's name for it.
    pub name: String,
    /// Registered (Unix ms).
    pub created_ms: i64,
    /// Last verified use (Unix ms), if any.
    pub last_used_ms: Option<i64>,
    /// RFC 7638 thumbprint of its public key: what an envelope's `own` lists.
    pub thumbprint: String,
    /// Its public key as a JWK.
    #[schema(value_type = Object)]
    pub jwk: Value,
}

impl PasskeyView {
    fn of(row: StoredPasskey) -> Self {
        let jwk = serde_json::from_str(&row.jwk).unwrap_or(Value::Null);
        Self {
            id: row.id,
            name: row.name,
            created_ms: row.created_ms,
            last_used_ms: row.last_used_ms,
            thumbprint: row.thumbprint,
            jwk,
        }
    }
}

/// `GET /v1/passkeys`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasskeyList {
    /// Oldest first.
    pub passkeys: Vec<PasskeyView>,
    /// The WebAuthn relying party id (`null` when this server offers no passkeys).
    pub rp_id: Option<String>,
}

/// `POST /v1/passkeys/register/start`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterStartIn {
    /// A name for the passkey (1-64 characters, no control characters).
    pub name: String,
}

/// A started registration.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegisterStartView {
    /// The ceremony to finish (within 120 s, from this session, once).
    pub ceremony: String,
    /// `navigator.credentials.create` options (binary members in base64url).
    #[schema(value_type = Object)]
    pub creation: Value,
    /// When the user has passkeys: `navigator.credentials.get` options an existing passkey
    /// must answer (the step-up); `null` for the first passkey.
    #[schema(value_type = Option<Object>)]
    pub step_up: Option<Value>,
}

/// `POST /v1/passkeys/register/finish`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterFinishIn {
    /// The ceremony from the start.
    pub ceremony: String,
    /// The new credential (`PublicKeyCredential` as JSON, binary members in base64url).
    #[schema(value_type = Object)]
    pub credential: Value,
    /// The step-up assertion by an existing passkey (required unless this is the first).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub step_up: Option<Value>,
}

/// A started removal.
#[derive(Debug, Serialize, ToSchema)]
pub struct RemoveStartView {
    /// The ceremony to finish (within 120 s, from this session, once).
    pub ceremony: String,
    /// `navigator.credentials.get` options: another of the user's passkeys must answer.
    #[schema(value_type = Object)]
    pub step_up: Value,
}

/// `POST /v1/passkeys/{id}/remove`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoveIn {
    /// The ceremony from the start.
    pub ceremony: String,
    /// The assertion by another of the user's passkeys.
    #[schema(value_type = Object)]
    pub step_up: Value,
}

fn check_name(name: &str) -> ApiResult<()> {
    let n = name.chars().count();
    if n == 0 || n > MAX_NAME || name.trim() != name {
        return Err(ApiError::bad("name: 1 to 64 characters, without leading or trailing spaces"));
    }
    if name.chars().any(char::is_control) {
        return Err(ApiError::bad("name: no control characters"));
    }
    Ok(())
}

fn check_id(id: &str) -> ApiResult<()> {
    let ok = id.len() == 22 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok { Ok(()) } else { Err(ApiError::new(StatusCode::NOT_FOUND, "passkey not found")) }
}

/// Parses a browser's credential JSON, bounded.
fn parse<T: serde::de::DeserializeOwned>(what: &'static str, v: Value) -> ApiResult<T> {
    let size = serde_json::to_vec(&v).map(|b| b.len()).unwrap_or(usize::MAX);
    if size > MAX_CREDENTIAL {
        return Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, format!("{what}: over 16 KiB")));
    }
    if !v.is_object() {
        return Err(ApiError::bad(format!("{what}: must be a JSON object")));
    }
    serde_json::from_value(v).map_err(|e| ApiError::bad(bounded(&format!("{what}: {e}"))))
}

/// Verifies a step-up assertion against `state` (whose allowed credentials are the ones
/// that may answer) and records the use; returns the passkey that answered.
async fn step_up(
    s: &ApiState,
    pk: &Passkeys,
    user: &str,
    state: &PasskeyAuthentication,
    assertion: Value,
) -> ApiResult<StoredPasskey> {
    let assertion: PublicKeyCredential = parse("step_up", assertion)?;
    let refused = |why: String| ApiError::new(StatusCode::FORBIDDEN, bounded(&format!("step-up refused: {why}")));
    let result = pk.webauthn.finish_passkey_authentication(&assertion, state).map_err(|e| refused(e.to_string()))?;
    let rows = s.store.passkeys(user).await.map_err(|e| ApiError::store("passkeys", e))?;
    for row in rows {
        if row.credential_id.as_slice() != AsRef::<[u8]>::as_ref(result.cred_id()) {
            continue;
        }
        let mut passkey = stored_passkey(&row)?;
        passkey.update_credential(&result);
        let json = serde_json::to_string(&passkey).map_err(|_| ApiError::internal())?;
        let now = i64::try_from(crate::now_ms()).unwrap_or(i64::MAX);
        s.store.passkey_used(user, &row.id, &json, now).await.map_err(|e| match e {
            sealgate_store::StoreError::NotFound { .. } => refused("that passkey was removed meanwhile".into()),
            e => ApiError::store("passkey used", e),
        })?;
        return Ok(row);
    }
    Err(refused("that passkey was removed meanwhile".into()))
}

fn to_json<T: Serialize>(v: &T) -> ApiResult<Value> {
    serde_json::to_value(v).map_err(|_| ApiError::internal())
}

// --- handlers ----------------------------------------------------------------------------------

/// The caller's passkeys, with the thumbprints sealed credentials name in `own`.
#[utoipa::path(get, path = "/v1/passkeys", tag = "api", security(("session" = []), ("bearer" = [])),
    responses((status = 200, description = "the passkeys (oldest first)", body = PasskeyList)))]
pub(crate) async fn list_passkeys(State(s): State<ApiState>, user: AuthUser) -> ApiResult<Json<PasskeyList>> {
    let rows = s.store.passkeys(&user.id).await.map_err(|e| ApiError::store("passkeys", e))?;
    Ok(Json(PasskeyList {
        passkeys: rows.into_iter().map(PasskeyView::of).collect(),
        rp_id: s.passkeys.as_ref().map(|p| p.rp_id.clone()),
    }))
}

/// Starts registering a passkey. With passkeys already registered the answer also carries
/// the step-up an existing passkey must answer.
#[utoipa::path(post, path = "/v1/passkeys/register/start", tag = "api", security(("session" = []), ("bearer" = [])),
    request_body = RegisterStartIn,
    responses((status = 200, description = "the ceremony and its options", body = RegisterStartView),
              (status = 409, description = "the user has the most passkeys allowed (10)", body = crate::json::ErrorBody),
              (status = 429, description = "too many ceremonies in progress", body = crate::json::ErrorBody),
              (status = 503, description = "passkeys are not available on this server, or the store is unavailable", body = crate::json::ErrorBody)))]
pub(crate) async fn register_start(
    State(s): State<ApiState>,
    user: AuthUser,
    JsonObject(req): JsonObject<RegisterStartIn>,
) -> ApiResult<Json<RegisterStartView>> {
    check_name(&req.name)?;
    let pk = service(&s)?;
    let rows = s.store.passkeys(&user.id).await.map_err(|e| ApiError::store("passkeys", e))?;
    if rows.len() >= MAX_PASSKEYS {
        return Err(ApiError::new(StatusCode::CONFLICT, "at most 10 passkeys; remove one first"));
    }
    let existing = rows.iter().map(stored_passkey).collect::<ApiResult<Vec<_>>>()?;
    let exclude = existing.iter().map(|p| p.cred_id().clone()).collect::<Vec<_>>();
    let (creation, reg) = pk
        .webauthn
        .start_passkey_registration(user_handle(&user.id), &user.id, &user.id, Some(exclude))
        .map_err(|e| {
            tracing::error!(error = %e, "passkey registration did not start");
            ApiError::internal()
        })?;
    let (step_up, auth) = if existing.is_empty() {
        (None, None)
    } else {
        let (rcr, auth) = pk.webauthn.start_passkey_authentication(&existing).map_err(|e| {
            tracing::error!(error = %e, "passkey step-up did not start");
            ApiError::internal()
        })?;
        (Some(to_json(&rcr)?), Some(auth))
    };
    let creation = to_json(&creation)?;
    let ceremony = pk.put(&user, Purpose::Register { name: req.name, reg, step_up: auth })?;
    Ok(Json(RegisterStartView { ceremony, creation, step_up }))
}

/// Finishes a registration: the new credential (and, unless it is the first passkey, the
/// step-up by an existing one) verified, the passkey is stored, audited and told.
#[utoipa::path(post, path = "/v1/passkeys/register/finish", tag = "api", security(("session" = []), ("bearer" = [])),
    request_body = RegisterFinishIn,
    responses((status = 201, description = "registered", body = PasskeyView),
              (status = 403, description = "the step-up is missing or refused (a later passkey needs an existing one's assertion)", body = crate::json::ErrorBody),
              (status = 409, description = "this credential is already registered, or the user's passkeys changed meanwhile", body = crate::json::ErrorBody),
              (status = 503, description = "passkeys are not available on this server, or the store or audit log is unavailable", body = crate::json::ErrorBody)))]
pub(crate) async fn register_finish(
    State(s): State<ApiState>,
    user: AuthUser,
    JsonObject(req): JsonObject<RegisterFinishIn>,
) -> ApiResult<(StatusCode, Json<PasskeyView>)> {
    let pk = service(&s)?;
    let Purpose::Register { name, reg, step_up: auth } = pk.take(&user, &req.ceremony)? else {
        return Err(ApiError::bad("unknown, used or expired ceremony; start again"));
    };
    let credential: RegisterPublicKeyCredential = parse("credential", req.credential)?;
    let pre = match (auth, req.step_up) {
        (None, _) => PasskeyPrecondition::First,
        (Some(_), None) => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "a further passkey needs a step-up: an assertion by one of your passkeys",
            ));
        }
        (Some(state), Some(assertion)) => {
            step_up(&s, &pk, &user.id, &state, assertion).await?;
            PasskeyPrecondition::Another
        }
    };
    let passkey = pk
        .webauthn
        .finish_passkey_registration(&credential, &reg)
        .map_err(|e| ApiError::bad(bounded(&format!("credential refused: {e}"))))?;
    let key = authority_key(&passkey).map_err(|e| ApiError::bad(bounded(&e)))?;
    let thumbprint = key.thumbprint();
    let jwk = serde_json::to_string(&key.to_jwk()).map_err(|_| ApiError::internal())?;
    let json = serde_json::to_string(&passkey).map_err(|_| ApiError::internal())?;
    let id = random_b64(16)?;
    let new = NewPasskey {
        id: &id,
        user_id: &user.id,
        credential_id: AsRef::<[u8]>::as_ref(passkey.cred_id()),
        name: &name,
        thumbprint: &thumbprint,
        jwk: &jwk,
        passkey: &json,
    };
    let row = s.store.add_passkey(&new, pre).await.map_err(|e| ApiError::store("add passkey", e))?;
    let first = pre == PasskeyPrecondition::First;
    let event = AuditEvent::new(
        format!("user:{}", user.id),
        action(PASSKEY_ADDED)?,
        &row.id,
        json!({"name": row.name, "thumbprint": row.thumbprint, "first": first}),
    )
    .owner(&user.id);
    s.audit.record(event).await.map_err(|e| ApiError::audit_failed("the passkey was added", e))?;
    s.notify(NotifyEvent::PasskeyAdded {
        user: user.id.clone(),
        name: row.name.clone(),
        thumbprint: row.thumbprint.clone(),
    })
    .await;
    Ok((StatusCode::CREATED, Json(PasskeyView::of(row))))
}

/// The audit actions of passkeys.
pub const PASSKEY_ADDED: &str = "passkey_added";
/// See [`PASSKEY_ADDED`].
pub const PASSKEY_REMOVED: &str = "passkey_removed";
/// See [`PASSKEY_ADDED`].
pub const PASSKEYS_RESET: &str = "passkeys_reset";

/// An audit action of ours (a well-formed name that is none of the built-in ones).
pub fn passkey_action(name: &'static str) -> Result<Action, String> {
    match name.parse::<Action>() {
        Ok(a @ Action::Other(_)) => Ok(a),
        _ => Err(format!("internal: {name} is not an audit action name of ours")),
    }
}

fn action(name: &'static str) -> ApiResult<Action> {
    passkey_action(name).map_err(|e| {
        tracing::error!(error = %e, "audit action");
        ApiError::internal()
    })
}

/// Starts removing one of the caller's passkeys: another passkey must approve.
#[utoipa::path(post, path = "/v1/passkeys/{id}/remove/start", tag = "api", security(("session" = []), ("bearer" = [])),
    params(("id" = String, Path, description = "passkey id")),
    responses((status = 200, description = "the ceremony and the step-up another passkey must answer", body = RemoveStartView),
              (status = 404, description = "not one of your passkeys", body = crate::json::ErrorBody),
              (status = 409, description = "it is your last passkey (only the operator can reset passkeys)", body = crate::json::ErrorBody),
              (status = 429, description = "too many ceremonies in progress", body = crate::json::ErrorBody),
              (status = 503, description = "passkeys are not available on this server, or the store is unavailable", body = crate::json::ErrorBody)))]
pub(crate) async fn remove_start(
    State(s): State<ApiState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<RemoveStartView>> {
    check_id(&id)?;
    let pk = service(&s)?;
    let rows = s.store.passkeys(&user.id).await.map_err(|e| ApiError::store("passkeys", e))?;
    if !rows.iter().any(|r| r.id == id) {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "passkey not found"));
    }
    let others = rows.iter().filter(|r| r.id != id).map(stored_passkey).collect::<ApiResult<Vec<_>>>()?;
    if others.is_empty() {
        return Err(last_passkey());
    }
    let (rcr, auth) = pk.webauthn.start_passkey_authentication(&others).map_err(|e| {
        tracing::error!(error = %e, "passkey step-up did not start");
        ApiError::internal()
    })?;
    let step_up = to_json(&rcr)?;
    let ceremony = pk.put(&user, Purpose::Remove { id, step_up: auth })?;
    Ok(Json(RemoveStartView { ceremony, step_up }))
}

fn last_passkey() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "this is your last passkey: it cannot be removed here (the operator can reset passkeys when all are lost)",
    )
}

/// Removes one of the caller's passkeys, approved by another of them.
#[utoipa::path(post, path = "/v1/passkeys/{id}/remove", tag = "api", security(("session" = []), ("bearer" = [])),
    params(("id" = String, Path, description = "passkey id")),
    request_body = RemoveIn,
    responses((status = 200, description = "removed", body = PasskeyView),
              (status = 403, description = "the approval by another passkey is refused", body = crate::json::ErrorBody),
              (status = 404, description = "not one of your passkeys", body = crate::json::ErrorBody),
              (status = 409, description = "it is your last passkey", body = crate::json::ErrorBody),
              (status = 503, description = "passkeys are not available on this server, or the store or audit log is unavailable", body = crate::json::ErrorBody)))]
pub(crate) async fn remove_finish(
    State(s): State<ApiState>,
    user: AuthUser,
    Path(id): Path<String>,
    JsonObject(req): JsonObject<RemoveIn>,
) -> ApiResult<Json<PasskeyView>> {
    check_id(&id)?;
    let pk = service(&s)?;
    let Purpose::Remove { id: target, step_up: auth } = pk.take(&user, &req.ceremony)? else {
        return Err(ApiError::bad("unknown, used or expired ceremony; start again"));
    };
    if target != id {
        return Err(ApiError::bad("this ceremony was started for another passkey"));
    }
    let approver = step_up(&s, &pk, &user.id, &auth, req.step_up).await?;
    if approver.id == id {
        // Not reachable through the options we issued (the target is not allowed), kept as
        // the rule itself: a passkey never approves its own removal.
        return Err(ApiError::new(StatusCode::FORBIDDEN, "step-up refused: a passkey cannot approve its own removal"));
    }
    let row = s.store.remove_passkey(&user.id, &id).await.map_err(|e| match e {
        sealgate_store::StoreError::Conflict { .. } => last_passkey(),
        e => ApiError::store("remove passkey", e),
    })?;
    let event = AuditEvent::new(
        format!("user:{}", user.id),
        action(PASSKEY_REMOVED)?,
        &row.id,
        json!({"name": row.name, "thumbprint": row.thumbprint, "approved_by": approver.id}),
    )
    .owner(&user.id);
    s.audit.record(event).await.map_err(|e| ApiError::audit_failed("the passkey was removed", e))?;
    s.notify(NotifyEvent::PasskeyRemoved {
        user: user.id.clone(),
        name: row.name.clone(),
        thumbprint: row.thumbprint.clone(),
    })
    .await;
    Ok(Json(PasskeyView::of(row)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registration(pk: &Passkeys) -> Purpose {
        let (_, reg) =
            pk.webauthn.start_passkey_registration(user_handle("ann"), "ann", "ann", None).expect("registration");
        Purpose::Register { name: "n".into(), reg, step_up: None }
    }

    #[test]
    fn ceremonies_are_single_use_bound_expiring_and_bounded() {
        let pk = Passkeys::for_listener(([127, 0, 0, 1], 8787).into(), false).expect("localhost");
        assert_eq!((pk.rp_id(), pk.origin()), ("localhost", "http://localhost:8787"));
        let (s1, s2) = (Some([1u8; 32]), Some([2u8; 32]));
        let later = Instant::now() + CEREMONY_TTL;
        let id = pk.put_for("ann", s1, registration(&pk), later).expect("put");
        // Another user, another session of the same user: refused, and the ceremony stays.
        assert!(pk.take_for("bob", s1, &id).is_err());
        assert!(pk.take_for("ann", s2, &id).is_err());
        assert!(pk.take_for("ann", None, &id).is_err());
        assert!(pk.take_for("ann", s1, &id).is_ok());
        // Single use.
        assert!(pk.take_for("ann", s1, &id).is_err());
        // Expired: refused (and gone).
        let past = Instant::now().checked_sub(Duration::from_secs(1)).expect("a second ago");
        let old = pk.put_for("ann", s1, registration(&pk), past).expect("put");
        assert!(pk.take_for("ann", s1, &old).is_err());
        // At most MAX_PENDING_PER_USER in progress: a newer one drops the oldest.
        let ids: Vec<String> = (0..=MAX_PENDING_PER_USER)
            .map(|i| {
                let at = later + Duration::from_millis(i as u64);
                pk.put_for("ann", s1, registration(&pk), at).expect("put")
            })
            .collect();
        assert!(pk.take_for("ann", s1, &ids[0]).is_err(), "the oldest was dropped");
        for id in &ids[1..] {
            assert!(pk.take_for("ann", s1, id).is_ok());
        }
        // Not offered on an address that is no domain.
        assert!(Passkeys::for_listener(([10, 0, 0, 1], 8787).into(), false).is_none());
        assert!(Passkeys::new("http://192.0.2.1:8787").is_err());
        let public = Passkeys::new("https://sealgate.example").expect("domain");
        assert_eq!((public.rp_id(), public.origin()), ("sealgate.example", "https://sealgate.example"));
    }
}
