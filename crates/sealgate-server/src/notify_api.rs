//! Notification settings (`/v1/notifications/…`, signed in) and the link pages
//! (`/lockdown/{token}`, `/notify/confirm/{token}`, no session).
//!
//! Link pages: `GET` only shows what the link does and a button; `POST` does it, so a mail
//! scanner or link prefetcher that fetches the URL changes nothing. No session is needed
//! (the token is the authority), so a thief holding the user's session cannot race the
//! owner. A lockdown token is used in one statement: a second use, or one after expiry, is
//! refused and says which.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sealgate_audit::Action;
use sealgate_store::LockdownToken;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::api::{ApiError, ApiResult, ApiState};
use crate::audit::AuditEvent;
use crate::auth::AuthUser;
use crate::json::JsonObject;
use crate::notifier::{NotifyEvent, token_hash};

/// Longest e-mail address or webhook URL accepted.
const MAX_ADDRESS: usize = 320;
/// Confirmation links a user may ask for per hour.
const MAX_CONFIRMATIONS_PER_HOUR: i64 = 5;
/// Most webhook endpoints per user.
const MAX_ENDPOINTS: usize = 10;

/// `GET /v1/notifications/settings`.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotifySettings {
    /// The confirmed address messages go to, if any.
    pub email: Option<String>,
    /// Where it came from: `oidc` (a verified claim) or `confirmed` (a link sent to it).
    pub email_source: Option<String>,
    /// Whether every refused withdraw or trade is notified.
    pub notify_refusals: bool,
}

/// `PUT /v1/notifications/settings`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotifySettingsIn {
    /// Notify every refused withdraw or trade.
    pub notify_refusals: bool,
}

/// `POST /v1/notifications/email`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailIn {
    /// The address to confirm; it becomes the notification address once its link is opened.
    pub email: String,
}

/// `POST /v1/notifications/webhooks`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookIn {
    /// `https://…` (or `http://` on loopback) that receives signed POSTs.
    pub url: String,
}

/// A webhook endpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    /// Id.
    pub id: String,
    /// URL.
    pub url: String,
    /// The Standard Webhooks signing secret (`whsec_…`): only in the answer to its creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// `GET /v1/notifications/webhooks`.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookList {
    /// The caller's endpoints.
    pub webhooks: Vec<WebhookView>,
}

/// Checks an e-mail address enough to send to it (the confirmation link does the rest).
pub fn check_email(e: &str) -> Result<(), &'static str> {
    if e.is_empty() || e.len() > MAX_ADDRESS {
        return Err("the address must be 1 to 320 characters");
    }
    if e.chars().any(|c| c.is_control() || c.is_whitespace() || matches!(c, '<' | '>' | ',' | ';' | '"')) {
        return Err("the address has a character an address cannot have");
    }
    match e.rsplit_once('@') {
        Some((l, d)) if !l.is_empty() && d.contains('.') && !d.starts_with('.') && !d.ends_with('.') => {}
        _ => return Err("not an address (local@domain)"),
    }
    e.parse::<lettre::Address>().map(|_| ()).map_err(|_| "not an address (local@domain)")
}

/// Checks a webhook URL: `https`, or `http` to a loopback host; no credentials in it.
pub fn check_webhook_url(u: &str) -> Result<(), &'static str> {
    if u.len() > MAX_ADDRESS {
        return Err("the URL is longer than 320 characters");
    }
    let url = reqwest::Url::parse(u).map_err(|_| "not a URL")?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the URL may not carry credentials");
    }
    let host = url.host_str().unwrap_or("");
    let loopback = host == "localhost" || host == "127.0.0.1" || host == "[::1]";
    match url.scheme() {
        "https" if !host.is_empty() => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err("the URL must be https (http only to localhost)"),
    }
}

fn random_id() -> ApiResult<String> {
    let (t, _) = crate::notifier::new_link_token().map_err(|_| ApiError::internal())?;
    Ok(format!("wh_{}", &t[..16]))
}

/// The caller's notification settings.
#[utoipa::path(get, path = "/v1/notifications/settings", tag = "api", security(("session" = []), ("bearer" = [])),
    responses((status = 200, description = "the settings", body = NotifySettings)))]
pub(crate) async fn get_settings(State(s): State<ApiState>, user: AuthUser) -> ApiResult<Json<NotifySettings>> {
    let c = s.store.contact(&user.id).await.map_err(|e| ApiError::store("contact", e))?;
    Ok(Json(NotifySettings { email: c.email, email_source: c.email_source, notify_refusals: c.notify_refusals }))
}

/// Choose whether every refused withdraw or trade is notified.
#[utoipa::path(put, path = "/v1/notifications/settings", tag = "api", security(("session" = []), ("bearer" = [])),
    request_body = NotifySettingsIn,
    responses((status = 200, description = "the settings", body = NotifySettings)))]
pub(crate) async fn put_settings(
    State(s): State<ApiState>,
    user: AuthUser,
    JsonObject(req): JsonObject<NotifySettingsIn>,
) -> ApiResult<Json<NotifySettings>> {
    s.store.set_notify_refusals(&user.id, req.notify_refusals).await.map_err(|e| ApiError::store("settings", e))?;
    get_settings(State(s), user).await
}

/// Ask for an address to be the notification address: a confirmation link is sent to it
/// (and only to it); it is used once its link is opened.
#[utoipa::path(post, path = "/v1/notifications/email", tag = "api", security(("session" = []), ("bearer" = [])),
    request_body = EmailIn,
    responses((status = 202, description = "a confirmation link is on its way to the address"),
              (status = 400, description = "not an address", body = crate::json::ErrorBody),
              (status = 429, description = "more than 5 asked for in the last hour", body = crate::json::ErrorBody)))]
pub(crate) async fn request_email(
    State(s): State<ApiState>,
    user: AuthUser,
    JsonObject(req): JsonObject<EmailIn>,
) -> ApiResult<StatusCode> {
    check_email(&req.email).map_err(ApiError::bad)?;
    // Each request mails an address the caller names: bounded, so the server is no spam relay.
    let hour_ago = now().saturating_sub(3_600_000);
    let recent = s
        .store
        .count_user_notifications(&user.id, "email_confirm", hour_ago)
        .await
        .map_err(|e| ApiError::store("count", e))?;
    if recent >= MAX_CONFIRMATIONS_PER_HOUR {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too many confirmation links asked for in the last hour; open one already sent, or try later",
        ));
    }
    let body = serde_json::to_string(&NotifyEvent::EmailConfirm { user: user.id.clone() }).unwrap_or_default();
    s.store
        .enqueue_email(&user.id, &req.email, "email_confirm", &body)
        .await
        .map_err(|e| ApiError::store("enqueue", e))?;
    Ok(StatusCode::ACCEPTED)
}

/// The caller's webhook endpoints (never their secrets).
#[utoipa::path(get, path = "/v1/notifications/webhooks", tag = "api", security(("session" = []), ("bearer" = [])),
    responses((status = 200, description = "the endpoints", body = WebhookList)))]
pub(crate) async fn list_webhooks(State(s): State<ApiState>, user: AuthUser) -> ApiResult<Json<WebhookList>> {
    let eps = s.store.webhook_endpoints(Some(&user.id)).await.map_err(|e| ApiError::store("webhooks", e))?;
    Ok(Json(WebhookList {
        webhooks: eps.into_iter().map(|e| WebhookView { id: e.id, url: e.url, secret: None }).collect(),
    }))
}

/// Add a webhook endpoint; the answer carries its signing secret, once.
#[utoipa::path(post, path = "/v1/notifications/webhooks", tag = "api", security(("session" = []), ("bearer" = [])),
    request_body = WebhookIn,
    responses((status = 201, description = "added; verify messages with the secret (Standard Webhooks)", body = WebhookView),
              (status = 503, description = "this server has no notify key", body = crate::json::ErrorBody)))]
pub(crate) async fn add_webhook(
    State(s): State<ApiState>,
    user: AuthUser,
    JsonObject(req): JsonObject<WebhookIn>,
) -> ApiResult<(StatusCode, Json<WebhookView>)> {
    check_webhook_url(&req.url).map_err(ApiError::bad)?;
    let key = s.notify.clone().ok_or_else(|| {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "webhooks are not set up on this server (no notify key)")
    })?;
    let have = s.store.webhook_endpoints(Some(&user.id)).await.map_err(|e| ApiError::store("webhooks", e))?;
    if have.len() >= MAX_ENDPOINTS {
        return Err(ApiError::bad("at most 10 webhook endpoints; delete one first"));
    }
    let id = random_id()?;
    let ep =
        s.store.add_webhook_endpoint(&id, Some(&user.id), &req.url).await.map_err(|e| ApiError::store("webhook", e))?;
    let secret = secrecy::ExposeSecret::expose_secret(&key.webhook_secret(&ep.id)).to_owned();
    Ok((StatusCode::CREATED, Json(WebhookView { id: ep.id, url: ep.url, secret: Some(secret) })))
}

/// Remove one of the caller's webhook endpoints.
#[utoipa::path(delete, path = "/v1/notifications/webhooks/{id}", tag = "api", security(("session" = []), ("bearer" = [])),
    params(("id" = String, Path, description = "endpoint id")),
    responses((status = 204, description = "removed"),
              (status = 404, description = "not one of your endpoints", body = crate::json::ErrorBody)))]
pub(crate) async fn delete_webhook(
    State(s): State<ApiState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    match s.store.delete_webhook_endpoint(Some(&user.id), &id).await.map_err(|e| ApiError::store("webhook", e))? {
        true => Ok(StatusCode::NO_CONTENT),
        false => Err(ApiError::new(StatusCode::NOT_FOUND, "webhook endpoint not found")),
    }
}

// --- link pages ------------------------------------------------------------------------------

fn html_escape(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '<' => "&lt;".into(),
            '>' => "&gt;".into(),
            '&' => "&amp;".into(),
            '"' => "&quot;".into(),
            '\'' => "&#39;".into(),
            c => c.to_string(),
        })
        .collect()
}

fn page(status: StatusCode, title: &str, text: &str, button: Option<&str>) -> Response {
    let form = match button {
        Some(b) => format!("<form method=\"post\"><button type=\"submit\">{}</button></form>", html_escape(b)),
        None => String::new(),
    };
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\
         <meta name=\"referrer\" content=\"no-referrer\"></head><body><main><h1>{t}</h1><p>{x}</p>{form}</main></body></html>",
        t = html_escape(title),
        x = html_escape(text)
    );
    let mut r = (status, html).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(crate::web::PAGE_CSP));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // The token is in the path: never sent on to another site.
    h.insert(HeaderName::from_static("referrer-policy"), HeaderValue::from_static("no-referrer"));
    r
}

fn token_of(t: &str) -> Option<[u8; 32]> {
    (t.len() == 43 && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')).then(|| token_hash(t))
}

fn refusal(t: &LockdownToken) -> Response {
    match t {
        LockdownToken::AlreadyUsed(_) => page(
            StatusCode::GONE,
            "Link already used",
            "This lockdown link was already used: your credentials were frozen then. Each link works once; \
             sign in to see your credentials, or use the link in a newer message.",
            None,
        ),
        LockdownToken::Expired => page(
            StatusCode::GONE,
            "Link expired",
            "This lockdown link has expired (links work for 7 days). Sign in and use Lock down, or use the link \
             in a newer message.",
            None,
        ),
        _ => page(StatusCode::NOT_FOUND, "Unknown link", "This is not a valid lockdown link.", None),
    }
}

fn now() -> i64 {
    i64::try_from(crate::now_ms()).unwrap_or(i64::MAX)
}

/// A lockdown link: shows what it does and a button (nothing changes on `GET`).
#[utoipa::path(get, path = "/lockdown/{token}", tag = "web", security(),
    params(("token" = String, Path, description = "the link's token")),
    responses((status = 200, description = "the confirm page", content_type = "text/html", body = String),
              (status = 410, description = "used or expired", content_type = "text/html", body = String),
              (status = 404, description = "unknown", content_type = "text/html", body = String),
              (status = 503, description = "the store is unavailable", content_type = "text/html", body = String)))]
pub(crate) async fn lockdown_page(State(s): State<ApiState>, Path(token): Path<String>) -> Response {
    let Some(hash) = token_of(&token) else { return refusal(&LockdownToken::Unknown) };
    match s.store.peek_lockdown_token(&hash, now()).await {
        Ok(LockdownToken::Valid(_)) => page(
            StatusCode::OK,
            "Freeze all your credentials?",
            "This freezes every credential of your Sealgate account at once: nothing is signed with them until \
             you unfreeze each one, signed in. No sign-in is needed here.",
            Some("Freeze all my credentials"),
        ),
        Ok(other) => refusal(&other),
        Err(e) => {
            tracing::error!(error = %e, "lockdown link: store unavailable");
            page(StatusCode::SERVICE_UNAVAILABLE, "Try again", "The service is unavailable; try again shortly.", None)
        }
    }
}

/// A lockdown link, used: freezes all the user's credentials and says so.
#[utoipa::path(post, path = "/lockdown/{token}", tag = "web", security(),
    params(("token" = String, Path, description = "the link's token")),
    responses((status = 200, description = "frozen", content_type = "text/html", body = String),
              (status = 410, description = "used or expired", content_type = "text/html", body = String),
              (status = 404, description = "unknown", content_type = "text/html", body = String),
              (status = 503, description = "the store is unavailable", content_type = "text/html", body = String)))]
pub(crate) async fn lockdown_use(State(s): State<ApiState>, Path(token): Path<String>) -> Response {
    let unavailable =
        || page(StatusCode::SERVICE_UNAVAILABLE, "Try again", "The service is unavailable; try again shortly.", None);
    let Some(hash) = token_of(&token) else { return refusal(&LockdownToken::Unknown) };
    let user = match s.store.use_lockdown_token(&hash, now()).await {
        Ok(LockdownToken::Used(u)) => u,
        Ok(other) => return refusal(&other),
        Err(e) => {
            tracing::error!(error = %e, "lockdown link: store unavailable");
            return unavailable();
        }
    };
    let n = match s.store.lockdown(&user).await {
        Ok(n) => n,
        Err(e) => {
            tracing::error!(error = %e, "lockdown link: freeze failed");
            return unavailable();
        }
    };
    s.changed_all();
    let event =
        AuditEvent::new(format!("lockdown-link:{user}"), Action::Lockdown, &user, json!({"frozen": n, "via": "link"}))
            .owner(&user);
    if let Err(e) = s.audit.record(event).await {
        tracing::error!(error = %e, "lockdown by link not audited");
    }
    if let Err(e) =
        crate::notifier::enqueue(&s.store, &NotifyEvent::Lockdown { user: user.clone(), frozen: n, via: "link".into() })
            .await
    {
        tracing::error!(error = %e, "lockdown by link: notification not queued");
    }
    page(
        StatusCode::OK,
        "Your credentials are frozen",
        &format!(
            "Done: {n} credential(s) were frozen just now (any already frozen stay frozen). Nothing is signed with \
             them until you sign in and unfreeze each one. If your account may be in someone else's hands, also \
             delete the API keys at each exchange and create new ones."
        ),
        None,
    )
}

/// An address-confirmation link: shows what it does and a button.
#[utoipa::path(get, path = "/notify/confirm/{token}", tag = "web", security(),
    params(("token" = String, Path, description = "the link's token")),
    responses((status = 200, description = "the confirm page", content_type = "text/html", body = String),
              (status = 404, description = "not a link token", content_type = "text/html", body = String)))]
pub(crate) async fn confirm_page(Path(token): Path<String>) -> Response {
    if token_of(&token).is_none() {
        return page(StatusCode::NOT_FOUND, "Unknown link", "This is not a valid confirmation link.", None);
    }
    page(
        StatusCode::OK,
        "Confirm your notification address",
        "Sealgate will send notifications about your account (and lockdown links) to this address.",
        Some("Confirm this address"),
    )
}

/// An address-confirmation link, used: the address becomes the user's notification address.
#[utoipa::path(post, path = "/notify/confirm/{token}", tag = "web", security(),
    params(("token" = String, Path, description = "the link's token")),
    responses((status = 200, description = "confirmed", content_type = "text/html", body = String),
              (status = 410, description = "used, expired or unknown", content_type = "text/html", body = String),
              (status = 503, description = "the store is unavailable", content_type = "text/html", body = String)))]
pub(crate) async fn confirm_use(State(s): State<ApiState>, Path(token): Path<String>) -> Response {
    let gone = || {
        page(
            StatusCode::GONE,
            "Link not valid",
            "This confirmation link was already used, has expired (links work for 24 hours) or is unknown. Ask \
             for a new one in Sealgate's settings.",
            None,
        )
    };
    let Some(hash) = token_of(&token) else { return gone() };
    match s.store.take_email_confirm_token(&hash).await {
        Ok(Some((user, email, exp))) if exp > now() => {
            match s.store.set_contact_email(&user, &email, "confirmed").await {
                Ok(()) => page(
                    StatusCode::OK,
                    "Address confirmed",
                    "Notifications about your Sealgate account now go to this address.",
                    None,
                ),
                Err(e) => {
                    tracing::error!(error = %e, "confirm: store unavailable");
                    page(StatusCode::SERVICE_UNAVAILABLE, "Try again", "The service is unavailable; try again.", None)
                }
            }
        }
        Ok(_) => gone(),
        Err(e) => {
            tracing::error!(error = %e, "confirm: store unavailable");
            page(StatusCode::SERVICE_UNAVAILABLE, "Try again", "The service is unavailable; try again.", None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_urls_are_checked() {
        assert!(check_email("jan@example.com").is_ok());
        for bad in ["", "jan", "jan@", "@x.y", "a b@x.y", "a@x", "a@x.y\r\nBcc: z@q.r", "<a@x.y>", "a@x.y,b@x.y"] {
            assert!(check_email(bad).is_err(), "{bad:?}");
        }
        assert!(check_webhook_url("https://hooks.example/x").is_ok());
        assert!(check_webhook_url("http://127.0.0.1:9/x").is_ok());
        for bad in
            ["http://hooks.example/x", "https://u:p@hooks.example/", "ftp://x/", "not a url", "file:///etc/passwd"]
        {
            assert!(check_webhook_url(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn tokens_must_look_like_ours() {
        assert!(token_of(&"A".repeat(43)).is_some());
        assert!(token_of(&"A".repeat(42)).is_none());
        assert!(token_of(&format!("{}/", "A".repeat(42))).is_none());
    }
}
