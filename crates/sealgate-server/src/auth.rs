//! Who is calling the api: a local login session (the embedded default) or an
//! OIDC bearer JWT from the platform's identity provider.
//!
//! - **Local login** ([`LocalLogin`]): the operator (or `sealgate serve`) issues a
//!   one-time login link for a local user (`sealgate login-link` mints one any time, from
//!   another process); `GET /login?token=…` consumes it and starts a server-side session.
//!   Links and sessions live in the store, so a restart keeps browsers signed in and
//!   logout ends the session for good. Tokens, session ids and their CSRF tokens are 32
//!   random bytes; only their SHA-256 hashes are stored (a copy of the database signs no
//!   one in). Every unsafe method (POST, PUT, PATCH, DELETE) authenticated by the session
//!   cookie must carry `X-CSRF-Token` equal to the session's synchronizer token (compared
//!   in constant time), else 403.
//! - **OIDC** ([`OidcConfig`]): RS256, ES256 and EdDSA (Ed25519) signatures checked with
//!   aws-lc-rs against the issuer's JWKS, fetched over HTTPS (plain HTTP only to a
//!   loopback address), cached for a TTL and refetched on an unknown `kid` at most once per
//!   [`OidcConfig::min_refetch_interval`], so a stream of made-up `kid`s cannot make us
//!   hammer the issuer. `alg: none`, HMAC algorithms, an `alg` outside the configured
//!   list, an `alg` that does not fit the key's type, `crit`, and tokens over 8 KiB are
//!   refused before any signature work. `iss`, `aud` (string or array), `exp`, `nbf` and
//!   `iat` are checked with a small leeway. Bearer requests need no CSRF token: the
//!   browser never attaches them on its own.
//!
//! [`AuthUser`] is the extractor handlers take; it accepts either, and refuses with
//! 401 JSON `{"error": …}` and `WWW-Authenticate: Bearer`.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use aws_lc_rs::{digest, rand, signature};
use axum::Json;
use axum::extract::{FromRef, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use sealgate_store::Store;
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Map, Value};
use subtle::ConstantTimeEq as _;

/// Name of the session cookie (HttpOnly).
pub const SESSION_COOKIE: &str = "sealgate_session";
/// Name of the CSRF cookie (readable by the page's script, which echoes it).
pub const CSRF_COOKIE: &str = "sealgate_csrf";
/// Header that carries the CSRF token on unsafe requests.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// How long a login link is valid.
pub const LOGIN_TOKEN_TTL: Duration = Duration::from_secs(15 * 60);
/// Largest bearer token we look at.
pub const MAX_JWT_LEN: usize = 8 * 1024;
/// Largest JWKS or discovery document we read.
const MAX_JWKS_BYTES: usize = 256 * 1024;
/// Most keys we keep from one JWKS.
const MAX_JWKS_KEYS: usize = 64;
/// Most OIDC subjects whose user id we remember (then the map is cleared).
const MAX_SUBJECT_CACHE: usize = 100_000;

/// Why authentication failed (the message is safe to show the caller).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No credentials at all: 401.
    #[error("{0}")]
    NoCredentials(&'static str),
    /// Credentials that are invalid: 401.
    #[error("{0}")]
    Unauthenticated(String),
    /// Authenticated by cookie, but the CSRF token is missing or wrong: 403.
    #[error("{0}")]
    Csrf(&'static str),
    /// The identity provider or the store could not be reached: 503.
    #[error("{0}")]
    Unavailable(&'static str),
    /// Local login is not enabled on this server.
    #[error("local login is not enabled on this server")]
    LocalDisabled,
    /// The random number generator failed.
    #[error("random number generator failed")]
    Rng,
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        let status = match &self {
            AuthError::NoCredentials(_) | AuthError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            AuthError::Csrf(_) => StatusCode::FORBIDDEN,
            AuthError::LocalDisabled => StatusCode::NOT_FOUND,
            AuthError::Unavailable(_) | AuthError::Rng => StatusCode::SERVICE_UNAVAILABLE,
        };
        let mut response = crate::json::error_response(status, self.to_string());
        if status == StatusCode::UNAUTHORIZED {
            let challenge = if matches!(self, AuthError::NoCredentials(_)) {
                "Bearer realm=\"sealgate\""
            } else {
                "Bearer realm=\"sealgate\", error=\"invalid_token\""
            };
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        response
    }
}

/// The authentication settings are unusable (the message says which and why).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("authentication settings: {0}")]
pub struct AuthConfigError(String);

fn unauthenticated(msg: impl Into<String>) -> AuthError {
    AuthError::Unauthenticated(msg.into())
}

// --- configuration ---------------------------------------------------------------------------

/// How users authenticate. Both may be on at once.
#[derive(Debug, Clone, Default)]
pub struct AuthConfig {
    /// Local login (embedded default), or `None`.
    pub local: Option<LocalConfig>,
    /// OIDC bearer tokens, or `None`.
    pub oidc: Option<OidcConfig>,
}

/// Local login settings.
#[derive(Debug, Clone)]
pub struct LocalConfig {
    /// Add `Secure` to the cookies (set when the api is served over HTTPS).
    pub secure_cookies: bool,
    /// A session ends after this long without a request.
    pub idle_timeout: Duration,
    /// A session ends this long after login, used or not.
    pub absolute_timeout: Duration,
}

impl Default for LocalConfig {
    fn default() -> Self {
        Self {
            secure_cookies: false,
            idle_timeout: Duration::from_secs(30 * 60),
            absolute_timeout: Duration::from_secs(12 * 3600),
        }
    }
}

/// A JWT signature algorithm we accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JwtAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (2048-8192-bit keys).
    Rs256,
    /// ECDSA P-256 with SHA-256.
    Es256,
    /// Ed25519.
    EdDsa,
}

impl JwtAlg {
    /// The JOSE name.
    pub fn name(self) -> &'static str {
        match self {
            JwtAlg::Rs256 => "RS256",
            JwtAlg::Es256 => "ES256",
            JwtAlg::EdDsa => "EdDSA",
        }
    }

    /// Parses a JOSE name (`RS256`, `ES256`, `EdDSA`).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "RS256" => Some(JwtAlg::Rs256),
            "ES256" => Some(JwtAlg::Es256),
            "EdDSA" => Some(JwtAlg::EdDsa),
            _ => None,
        }
    }
}

/// OIDC bearer-token settings.
#[derive(Debug, Clone)]
pub struct OidcConfig {
    /// The issuer, exactly as tokens carry it in `iss`.
    pub issuer: String,
    /// Our client id / audience: tokens must name it in `aud`.
    pub audience: String,
    /// The JWKS URL; `None` discovers it from `{issuer}/.well-known/openid-configuration`.
    pub jwks_uri: Option<String>,
    /// Accepted signature algorithms.
    pub algs: Vec<JwtAlg>,
    /// Clock leeway for `exp`, `nbf` and `iat`.
    pub leeway: Duration,
    /// How long a fetched JWKS is used before it is fetched again.
    pub jwks_ttl: Duration,
    /// At most one fetch per this interval, whatever the tokens say.
    pub min_refetch_interval: Duration,
}

impl OidcConfig {
    /// Settings with the defaults: RS256 and ES256, 60 s leeway, JWKS cached 10 min,
    /// refetched at most every 30 s.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
            jwks_uri: None,
            algs: vec![JwtAlg::Rs256, JwtAlg::Es256],
            leeway: Duration::from_secs(60),
            jwks_ttl: Duration::from_secs(600),
            min_refetch_interval: Duration::from_secs(30),
        }
    }
}

// --- the authenticator -----------------------------------------------------------------------

/// The api's authenticator: local sessions and/or OIDC.
pub struct Auth {
    store: Store,
    local: Option<LocalLogin>,
    oidc: Option<Oidc>,
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth").field("local", &self.local.is_some()).field("oidc", &self.oidc.is_some()).finish()
    }
}

impl Auth {
    /// An authenticator over `store` (OIDC subjects are mapped to users there).
    pub fn new(store: Store, config: AuthConfig) -> Result<Self, AuthConfigError> {
        let oidc = match config.oidc {
            Some(c) => Some(Oidc::new(c).map_err(AuthConfigError)?),
            None => None,
        };
        let local = config.local.map(|c| LocalLogin::new(c, store.clone()));
        Ok(Self { store, local, oidc })
    }

    /// Local login, if enabled.
    pub fn local(&self) -> Option<&LocalLogin> {
        self.local.as_ref()
    }

    /// Issues a one-time login link token for the local user `user_id` (who must exist).
    pub async fn issue_login_token(&self, user_id: &str) -> Result<SecretString, AuthError> {
        let local = self.local.as_ref().ok_or(AuthError::LocalDisabled)?;
        match self.store.user(user_id).await {
            Ok(Some(_)) => local.issue(user_id).await,
            Ok(None) => Err(unauthenticated("no such user")),
            Err(_) => Err(AuthError::Unavailable("the user store is unavailable")),
        }
    }

    /// Authenticates a request from its method and headers.
    pub async fn authenticate(&self, method: &Method, headers: &HeaderMap) -> Result<AuthUser, AuthError> {
        if let Some(value) = headers.get(header::AUTHORIZATION) {
            let oidc = self.oidc.as_ref().ok_or_else(|| unauthenticated("bearer tokens are not accepted here"))?;
            let value = value.to_str().map_err(|_| unauthenticated("the Authorization header is not text"))?;
            let token = value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
                .ok_or_else(|| unauthenticated("the Authorization header must be \"Bearer <token>\""))?
                .trim();
            let (subject, email) = oidc.verify(token).await?;
            let id = oidc.user_for(&self.store, &subject).await?;
            if let Some(email) = email {
                oidc.note_email(&self.store, &id, &email).await;
            }
            return Ok(AuthUser { id, via: AuthVia::Bearer, session: None });
        }
        let Some(local) = &self.local else {
            return Err(AuthError::NoCredentials("no credentials: send \"Authorization: Bearer <token>\""));
        };
        let cookies = cookie_values(headers, SESSION_COOKIE);
        if cookies.is_empty() {
            return Err(AuthError::NoCredentials("no credentials: log in, or send \"Authorization: Bearer <token>\""));
        }
        let unsafe_method = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
        let csrf = headers.get(CSRF_HEADER).map(|v| v.as_bytes());
        local.check_session(&cookies, unsafe_method.then_some(csrf)).await
    }
}

/// How a request was authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthVia {
    /// A local login session cookie.
    Session,
    /// An OIDC bearer JWT.
    Bearer,
}

impl AuthVia {
    /// `session` or `bearer`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthVia::Session => "session",
            AuthVia::Bearer => "bearer",
        }
    }
}

/// The authenticated caller.
#[derive(Clone)]
pub struct AuthUser {
    /// Our user id (the envelopes' `sub`).
    pub id: String,
    /// How the request was authenticated.
    pub via: AuthVia,
    session: Option<[u8; 32]>,
}

impl AuthUser {
    /// The SHA-256 of the session id when the request came with a session cookie (what a
    /// ceremony started in this session is bound to); `None` for a bearer token.
    pub(crate) fn session_hash(&self) -> Option<[u8; 32]> {
        self.session
    }
}

impl fmt::Debug for AuthUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthUser").field("id", &self.id).field("via", &self.via).finish()
    }
}

impl<S> FromRequestParts<S> for AuthUser
where
    S: Send + Sync,
    Arc<Auth>: FromRef<S>,
{
    type Rejection = AuthError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let auth = Arc::<Auth>::from_ref(state);
        auth.authenticate(&parts.method, &parts.headers).await
    }
}

// --- local login -----------------------------------------------------------------------------

/// A session's last-seen time is written at most this often (not on every request); the
/// idle timeout is therefore exact to within this.
const TOUCH_EVERY_MS: i64 = 60_000;

/// Local login: one-time login tokens and sessions, kept in the store as SHA-256 hashes
/// (migration 0005), so `sealgate login-link` can mint a link for a running server and a
/// restart keeps browsers signed in.
pub struct LocalLogin {
    config: LocalConfig,
    store: Store,
}

impl fmt::Debug for LocalLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LocalLogin")
    }
}

/// A session just created by a login.
pub struct NewSession {
    /// The session id (the cookie value).
    pub session_id: SecretString,
    /// The CSRF token bound to the session.
    pub csrf_token: SecretString,
    /// The user.
    pub user_id: String,
}

fn random_token() -> Result<String, AuthError> {
    let mut b = [0u8; 32];
    rand::fill(&mut b).map_err(|_| AuthError::Rng)?;
    Ok(B64.encode(b))
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let d = digest::digest(&digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave this map half-updated.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn now_ms() -> i64 {
    i64::try_from(crate::now_ms()).unwrap_or(i64::MAX)
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4).min(i64::MAX / 4)
}

fn store_down(_: sealgate_store::StoreError) -> AuthError {
    AuthError::Unavailable("the session store is unavailable")
}

/// Mints a one-time login token for `user_id` (who must exist) into `store`, valid
/// [`LOGIN_TOKEN_TTL`]: what `sealgate serve` prints at start and `sealgate login-link`
/// prints any time; any server on the same database accepts it once.
pub async fn mint_login_token(store: &Store, user_id: &str) -> Result<SecretString, AuthError> {
    let token = random_token()?;
    let now = now_ms();
    store
        .add_login_token(&sha256(token.as_bytes()), user_id, now, now + ms(LOGIN_TOKEN_TTL))
        .await
        .map_err(store_down)?;
    Ok(SecretString::from(token))
}

impl LocalLogin {
    fn new(config: LocalConfig, store: Store) -> Self {
        Self { config, store }
    }

    /// Whether cookies are marked `Secure`.
    pub fn secure_cookies(&self) -> bool {
        self.config.secure_cookies
    }

    /// Issues a one-time login token for `user_id` (valid [`LOGIN_TOKEN_TTL`]). The caller
    /// checks the user exists ([`Auth::issue_login_token`] does).
    pub async fn issue(&self, user_id: &str) -> Result<SecretString, AuthError> {
        mint_login_token(&self.store, user_id).await
    }

    /// Consumes a login token (whatever the outcome, it cannot be used again) and starts a
    /// session.
    pub async fn login(&self, token: &str) -> Result<NewSession, AuthError> {
        let invalid = || {
            unauthenticated(
                "this login link is invalid, expired or already used; get a new one with `sealgate login-link` \
                 (no restart needed)",
            )
        };
        if token.len() > 128 {
            return Err(invalid());
        }
        let now = now_ms();
        let (user_id, expires) =
            self.store.take_login_token(&sha256(token.as_bytes())).await.map_err(store_down)?.ok_or_else(invalid)?;
        if expires <= now {
            return Err(invalid());
        }
        let session_id = random_token()?;
        let csrf = random_token()?;
        let session = sealgate_store::NewSession {
            id_hash: &sha256(session_id.as_bytes()),
            user_id: &user_id,
            csrf_hash: &sha256(csrf.as_bytes()),
            now_ms: now,
            expires_ms: now.saturating_add(ms(self.config.absolute_timeout)),
        };
        self.store.add_session(&session).await.map_err(store_down)?;
        Ok(NewSession { session_id: SecretString::from(session_id), csrf_token: SecretString::from(csrf), user_id })
    }

    /// Checks the session cookie(s); for unsafe methods `csrf` is `Some(header)`.
    async fn check_session(&self, cookies: &[&str], csrf: Option<Option<&[u8]>>) -> Result<AuthUser, AuthError> {
        let now = now_ms();
        for cookie in cookies {
            let key = sha256(cookie.as_bytes());
            let Some(session) = self.store.session(&key).await.map_err(store_down)? else { continue };
            // The absolute end is the one stored at login; the idle timeout is this server's.
            if now >= session.expires_ms
                || now.saturating_sub(session.last_seen_ms) >= ms(self.config.idle_timeout)
                || now.saturating_sub(session.created_ms) >= ms(self.config.absolute_timeout)
            {
                self.store.delete_session(&key).await.map_err(store_down)?;
                return Err(unauthenticated("the session has expired; log in again"));
            }
            if let Some(header) = csrf {
                let header = header.ok_or(AuthError::Csrf(
                    "missing X-CSRF-Token header: requests that change state with a session cookie must echo \
                     the sealgate_csrf token",
                ))?;
                if !bool::from(sha256(header).ct_eq(session.csrf_hash.as_slice())) {
                    return Err(AuthError::Csrf("the X-CSRF-Token header does not match this session's CSRF token"));
                }
            }
            if now.saturating_sub(session.last_seen_ms) >= TOUCH_EVERY_MS {
                self.store.touch_session(&key, now).await.map_err(store_down)?;
            }
            return Ok(AuthUser { id: session.user_id, via: AuthVia::Session, session: Some(key) });
        }
        Err(unauthenticated("the session is unknown or has ended; log in again"))
    }

    /// Ends a session.
    async fn end(&self, key: &[u8; 32]) -> Result<(), AuthError> {
        self.store.delete_session(key).await.map_err(store_down)
    }

    fn cookie(&self, name: &str, value: &str, http_only: bool, max_age: Option<u64>) -> String {
        let mut c = format!("{name}={value}; Path=/; SameSite=Strict");
        if http_only {
            c.push_str("; HttpOnly");
        }
        if self.config.secure_cookies {
            c.push_str("; Secure");
        }
        if let Some(age) = max_age {
            c.push_str(&format!("; Max-Age={age}"));
        }
        c
    }
}

/// The values of cookie `name` in the request's `Cookie` header(s) (RFC 6265 §5.4).
fn cookie_values<'a>(headers: &'a HeaderMap, name: &str) -> Vec<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().trim_matches('"'))
        .filter(|v| !v.is_empty())
        .take(8)
        .collect()
}

/// Query of `GET /login`.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LoginQuery {
    /// The one-time token of the printed login link.
    token: String,
}

/// The body of a successful login (the cookies carry the same).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct LoginResult {
    /// The user signed in.
    pub user_id: String,
    /// The CSRF token to send as `X-CSRF-Token` on unsafe methods.
    pub csrf_token: String,
}

/// `GET /login?token=…`: consumes a login link, starts a session, sets the cookies and
/// redirects (303) to `/`. The body (JSON) also carries the CSRF token.
#[utoipa::path(get, path = "/login", tag = "api", security(), params(LoginQuery),
    summary = "Consume a one-time local login link and start a session",
    responses(
        (status = 303, description = "session started; sets the sealgate_session (HttpOnly) and sealgate_csrf cookies",
         body = LoginResult, headers(("location" = String, description = "/"), ("set-cookie" = String))),
        (status = 401, description = "the link is invalid, expired or already used", body = crate::json::ErrorBody),
        (status = 404, description = "local login is not enabled", body = crate::json::ErrorBody),
        (status = 503, description = "the user store is unavailable", body = crate::json::ErrorBody)))]
pub async fn login(
    State(auth): State<Arc<Auth>>,
    query: Result<Query<LoginQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Some(local) = auth.local() else { return AuthError::LocalDisabled.into_response() };
    let Ok(Query(q)) = query else {
        return AuthError::Unauthenticated("the login link needs exactly one parameter, token".into()).into_response();
    };
    let session = match local.login(&q.token).await {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let age = local.config.absolute_timeout.as_secs();
    let session_cookie = local.cookie(SESSION_COOKIE, session.session_id.expose_secret(), true, Some(age));
    let csrf_cookie = local.cookie(CSRF_COOKIE, session.csrf_token.expose_secret(), false, Some(age));
    let body =
        LoginResult { user_id: session.user_id.clone(), csrf_token: session.csrf_token.expose_secret().to_owned() };
    let mut response = (StatusCode::SEE_OTHER, Json(body)).into_response();
    let h = response.headers_mut();
    h.insert(header::LOCATION, HeaderValue::from_static("/"));
    for c in [session_cookie, csrf_cookie] {
        if let Ok(v) = HeaderValue::from_str(&c) {
            h.append(header::SET_COOKIE, v);
        }
    }
    tracing::info!(user = %session.user_id, "local login");
    response
}

/// `POST /v1/logout`: ends the caller's session (a bearer token cannot be ended here; the
/// call succeeds and changes nothing) and clears the cookies.
#[utoipa::path(post, path = "/v1/logout", tag = "api", security(("session" = []), ("bearer" = [])),
    summary = "End the session",
    responses((status = 204, description = "session ended; cookies cleared")))]
pub async fn logout(State(auth): State<Arc<Auth>>, user: AuthUser) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let (Some(local), Some(key)) = (auth.local(), user.session) {
        if let Err(e) = local.end(&key).await {
            // Not ended: say so rather than clear the cookies of a session that still works.
            return e.into_response();
        }
        for name in [SESSION_COOKIE, CSRF_COOKIE] {
            if let Ok(v) = HeaderValue::from_str(&local.cookie(name, "", name == SESSION_COOKIE, Some(0))) {
                response.headers_mut().append(header::SET_COOKIE, v);
            }
        }
    }
    response
}

// --- OIDC ------------------------------------------------------------------------------------

enum VerifyKey {
    Rsa { n: Vec<u8>, e: Vec<u8> },
    P256(Vec<u8>),
    Ed25519(Vec<u8>),
}

struct Jwk {
    kid: Option<String>,
    alg: Option<String>,
    key: VerifyKey,
}

impl Jwk {
    /// A JWK we can verify with, or `None` (other key types and `use: enc` are skipped).
    fn parse(v: &Value) -> Option<Self> {
        let m = v.as_object()?;
        let s = |k: &str| m.get(k).and_then(Value::as_str);
        let b = |k: &str| s(k).and_then(|x| B64.decode(x).ok());
        if s("use").is_some_and(|u| u != "sig") || m.contains_key("d") {
            return None;
        }
        let key = match s("kty")? {
            "RSA" => {
                let n = b("n")?;
                let bits = n.iter().skip_while(|x| **x == 0).count() * 8;
                if !(2048..=8192).contains(&bits) {
                    return None;
                }
                VerifyKey::Rsa { n, e: b("e")? }
            }
            "EC" if s("crv") == Some("P-256") => {
                let (x, y) = (b("x")?, b("y")?);
                if x.len() != 32 || y.len() != 32 {
                    return None;
                }
                VerifyKey::P256([&[4u8][..], &x, &y].concat())
            }
            "OKP" if s("crv") == Some("Ed25519") => {
                let x = b("x")?;
                if x.len() != 32 {
                    return None;
                }
                VerifyKey::Ed25519(x)
            }
            _ => return None,
        };
        Some(Self { kid: s("kid").map(str::to_owned), alg: s("alg").map(str::to_owned), key })
    }

    fn fits(&self, alg: JwtAlg) -> bool {
        let type_ok = matches!(
            (alg, &self.key),
            (JwtAlg::Rs256, VerifyKey::Rsa { .. })
                | (JwtAlg::Es256, VerifyKey::P256(_))
                | (JwtAlg::EdDsa, VerifyKey::Ed25519(_))
        );
        type_ok && self.alg.as_deref().is_none_or(|a| a == alg.name())
    }

    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        match &self.key {
            VerifyKey::Rsa { n, e } => signature::RsaPublicKeyComponents { n, e }
                .verify(&signature::RSA_PKCS1_2048_8192_SHA256, msg, sig)
                .is_ok(),
            VerifyKey::P256(point) => {
                signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point).verify(msg, sig).is_ok()
            }
            VerifyKey::Ed25519(x) => signature::UnparsedPublicKey::new(&signature::ED25519, x).verify(msg, sig).is_ok(),
        }
    }
}

#[derive(Default)]
struct JwksCache {
    keys: Arc<Vec<Jwk>>,
    fetched: Option<Instant>,
}

struct Oidc {
    config: OidcConfig,
    http: reqwest::Client,
    cache: std::sync::RwLock<JwksCache>,
    /// Serializes fetches; holds when the last attempt was and the discovered JWKS URL.
    fetch: tokio::sync::Mutex<(Option<Instant>, Option<String>)>,
    subjects: Mutex<HashMap<String, String>>,
    /// The verified e-mail last recorded per user id, so the store is written only on a change.
    emails: Mutex<HashMap<String, String>>,
}

fn check_url(url: &str) -> Result<reqwest::Url, String> {
    let u = reqwest::Url::parse(url).map_err(|_| format!("{url:?} is not a URL"))?;
    let host = u.host_str().unwrap_or("");
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host == "localhost" || bare.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    match u.scheme() {
        "https" => Ok(u),
        "http" if loopback => Ok(u),
        _ => Err(format!("{url:?} must be https (plain http only to a loopback address)")),
    }
}

impl Oidc {
    fn new(config: OidcConfig) -> Result<Self, String> {
        if config.algs.is_empty() {
            return Err("OIDC needs at least one allowed algorithm".into());
        }
        if config.issuer.is_empty() || config.audience.is_empty() {
            return Err("OIDC needs an issuer and an audience".into());
        }
        match &config.jwks_uri {
            Some(u) => {
                check_url(u)?;
            }
            None => {
                check_url(&config.issuer)?;
            }
        }
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .no_proxy()
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Self {
            config,
            http,
            cache: std::sync::RwLock::new(JwksCache::default()),
            fetch: tokio::sync::Mutex::new((None, None)),
            subjects: Mutex::new(HashMap::new()),
            emails: Mutex::new(HashMap::new()),
        })
    }

    fn cached(&self) -> (Arc<Vec<Jwk>>, bool) {
        let c = self.cache.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        let fresh = c.fetched.is_some_and(|t| t.elapsed() < self.config.jwks_ttl);
        (c.keys.clone(), fresh)
    }

    /// Verifies `token` and returns its `sub`.
    /// The subject, and the `email` claim when `email_verified` is `true` (and it is an address).
    async fn verify(&self, token: &str) -> Result<(String, Option<String>), AuthError> {
        if token.len() > MAX_JWT_LEN {
            return Err(unauthenticated(format!("the bearer token is larger than {MAX_JWT_LEN} bytes")));
        }
        let parts: Vec<&str> = token.split('.').collect();
        let [h, p, s] = parts[..] else {
            return Err(unauthenticated("the bearer token is not a JWS compact JWT (three parts)"));
        };
        let header = decode_object(h).ok_or_else(|| unauthenticated("the JWT header is not base64url JSON"))?;
        let alg_name = header.get("alg").and_then(Value::as_str).unwrap_or("");
        if alg_name.eq_ignore_ascii_case("none") {
            return Err(unauthenticated("unsigned JWTs (alg none) are refused"));
        }
        if alg_name.starts_with("HS") {
            let shown: String = alg_name.chars().take(8).collect();
            return Err(unauthenticated(format!("{shown} (a shared-secret MAC) is refused; use RS256 or ES256")));
        }
        let alg = JwtAlg::parse(alg_name)
            .filter(|a| self.config.algs.contains(a))
            .ok_or_else(|| unauthenticated("the JWT alg is not one this server accepts"))?;
        if header.contains_key("crit") {
            return Err(unauthenticated("the JWT has crit header parameters, which are not understood"));
        }
        let kid = match header.get("kid") {
            None => None,
            Some(Value::String(k)) if k.len() <= 256 => Some(k.as_str()),
            Some(_) => return Err(unauthenticated("the JWT kid is malformed")),
        };
        let sig = B64.decode(s).map_err(|_| unauthenticated("the JWT signature is not base64url"))?;
        let keys = self.keys_for(kid).await?;
        let fitting: Vec<&Jwk> = keys.iter().filter(|k| k.kid.as_deref() == kid && k.fits(alg)).collect();
        if fitting.is_empty() {
            return Err(unauthenticated("the JWT alg does not fit the type of the key its kid names"));
        }
        let signing_input = &token.as_bytes()[..h.len() + 1 + p.len()];
        if !fitting.iter().any(|k| k.verify(signing_input, &sig)) {
            return Err(unauthenticated("the JWT signature does not verify"));
        }
        let claims = decode_object(p).ok_or_else(|| unauthenticated("the JWT payload is not base64url JSON"))?;
        let subject = self.check_claims(&claims)?;
        // Only a verified address is used: an unverified claim may name anyone's mailbox.
        let email = match (claims.get("email"), claims.get("email_verified")) {
            (Some(Value::String(e)), Some(Value::Bool(true))) if crate::notify_api::check_email(e).is_ok() => {
                Some(e.clone())
            }
            _ => None,
        };
        Ok((subject, email))
    }

    /// Records a verified address as the user's notification address, when it changed.
    async fn note_email(&self, store: &Store, user_id: &str, email: &str) {
        if lock(&self.emails).get(user_id).is_some_and(|e| e == email) {
            return;
        }
        match store.set_contact_email(user_id, email, "oidc").await {
            Ok(()) => {
                let mut emails = lock(&self.emails);
                if emails.len() >= MAX_SUBJECT_CACHE {
                    emails.clear();
                }
                emails.insert(user_id.to_owned(), email.to_owned());
            }
            Err(e) => tracing::warn!(error = %e, "verified e-mail not recorded"),
        }
    }

    fn check_claims(&self, c: &Map<String, Value>) -> Result<String, AuthError> {
        if c.get("iss").and_then(Value::as_str) != Some(self.config.issuer.as_str()) {
            return Err(unauthenticated("the JWT issuer (iss) is not the configured identity provider"));
        }
        let aud_ok = match c.get("aud") {
            Some(Value::String(a)) => *a == self.config.audience,
            Some(Value::Array(a)) => a.iter().any(|x| x.as_str() == Some(self.config.audience.as_str())),
            _ => false,
        };
        if !aud_ok {
            return Err(unauthenticated("the JWT audience (aud) does not name this service"));
        }
        let now = crate::now_ms() / 1000;
        let leeway = self.config.leeway.as_secs();
        let num = |k: &str| -> Result<Option<u64>, AuthError> {
            match c.get(k) {
                None => Ok(None),
                Some(v) => v
                    .as_u64()
                    .or_else(|| v.as_f64().filter(|f| *f >= 0.0 && f.is_finite()).map(|f| f as u64))
                    .map(Some)
                    .ok_or_else(|| unauthenticated(format!("the JWT {k} claim is not a number"))),
            }
        };
        let exp = num("exp")?.ok_or_else(|| unauthenticated("the JWT has no exp claim"))?;
        if now >= exp.saturating_add(leeway) {
            return Err(unauthenticated("the JWT has expired"));
        }
        if num("nbf")?.is_some_and(|nbf| now.saturating_add(leeway) < nbf) {
            return Err(unauthenticated("the JWT is not valid yet (nbf)"));
        }
        if num("iat")?.is_some_and(|iat| iat > now.saturating_add(leeway)) {
            return Err(unauthenticated("the JWT was issued in the future (iat)"));
        }
        match c.get("sub") {
            Some(Value::String(s)) if !s.is_empty() && s.len() <= 255 && !s.chars().any(char::is_control) => {
                Ok(s.clone())
            }
            _ => Err(unauthenticated("the JWT has no usable sub claim")),
        }
    }

    /// Keys that may verify a token with `kid`: from the cache, or after a (rate-limited)
    /// fetch when the cache is stale or does not know `kid`.
    async fn keys_for(&self, kid: Option<&str>) -> Result<Arc<Vec<Jwk>>, AuthError> {
        // Only a kid we have never seen is worth a fetch; a known kid of the wrong type is not.
        let known = |keys: &[Jwk]| keys.iter().any(|k| k.kid.as_deref() == kid);
        let (keys, fresh) = self.cached();
        if fresh && known(&keys) {
            return Ok(keys);
        }
        let mut fetch = self.fetch.lock().await;
        // Another request may have fetched while we waited.
        let (keys, fresh) = self.cached();
        if fresh && known(&keys) {
            return Ok(keys);
        }
        let rate_limited = fetch.0.is_some_and(|t| t.elapsed() < self.config.min_refetch_interval);
        if rate_limited {
            // A stale set still verifies the keys it has; an unknown kid waits for the next fetch.
            if known(&keys) {
                return Ok(keys);
            }
            return Err(unauthenticated("the JWT kid is not in the identity provider's key set"));
        }
        fetch.0 = Some(Instant::now());
        match self.fetch_jwks(&mut fetch.1).await {
            Ok(new) => {
                let new = Arc::new(new);
                let mut c = self.cache.write().unwrap_or_else(std::sync::PoisonError::into_inner);
                *c = JwksCache { keys: new.clone(), fetched: Some(Instant::now()) };
                drop(c);
                if known(&new) {
                    Ok(new)
                } else {
                    Err(unauthenticated("the JWT kid is not in the identity provider's key set"))
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "OIDC JWKS fetch failed");
                if known(&keys) {
                    Ok(keys)
                } else {
                    Err(AuthError::Unavailable("the identity provider's key set could not be fetched"))
                }
            }
        }
    }

    async fn fetch_jwks(&self, discovered: &mut Option<String>) -> Result<Vec<Jwk>, String> {
        let uri = match (&self.config.jwks_uri, discovered.as_ref()) {
            (Some(u), _) => u.clone(),
            (None, Some(u)) => u.clone(),
            (None, None) => {
                let url = format!("{}/.well-known/openid-configuration", self.config.issuer.trim_end_matches('/'));
                let doc = self.get_json(&url).await?;
                if doc.get("issuer").and_then(Value::as_str) != Some(self.config.issuer.as_str()) {
                    return Err("the discovery document names another issuer".into());
                }
                let u = doc.get("jwks_uri").and_then(Value::as_str).ok_or("the discovery document has no jwks_uri")?;
                check_url(u)?;
                *discovered = Some(u.to_owned());
                u.to_owned()
            }
        };
        let doc = self.get_json(&uri).await?;
        let keys = doc.get("keys").and_then(Value::as_array).ok_or("the JWKS has no keys array")?;
        Ok(keys.iter().take(MAX_JWKS_KEYS).filter_map(Jwk::parse).collect())
    }

    async fn get_json(&self, url: &str) -> Result<Map<String, Value>, String> {
        let url = check_url(url)?;
        let mut resp = self.http.get(url).send().await.map_err(|e| format!("request failed: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("HTTP {}", resp.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| format!("read failed: {e}"))? {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err("document larger than 256 KiB".into());
            }
            body.extend_from_slice(&chunk);
        }
        match serde_json::from_slice(&body) {
            Ok(Value::Object(m)) => Ok(m),
            _ => Err("not a JSON object".into()),
        }
    }

    async fn user_for(&self, store: &Store, subject: &str) -> Result<String, AuthError> {
        if let Some(id) = lock(&self.subjects).get(subject) {
            return Ok(id.clone());
        }
        let new_id = format!("u-{}", &random_token()?[..22]);
        let user = store
            .user_for_oidc_subject(subject, &new_id)
            .await
            .map_err(|_| AuthError::Unavailable("the user store is unavailable"))?;
        let mut subjects = lock(&self.subjects);
        if subjects.len() >= MAX_SUBJECT_CACHE {
            subjects.clear();
        }
        subjects.insert(subject.to_owned(), user.id.clone());
        Ok(user.id)
    }
}

fn decode_object(part: &str) -> Option<Map<String, Value>> {
    let bytes = B64.decode(part).ok()?;
    sealgate_envelope::parse_json_object(&bytes).ok()
}
