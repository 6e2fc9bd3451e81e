//! What every HTTP route of a `sealgate serve` listener shares about JSON.
//!
//! - [`ErrorBody`]: the one error shape, `{"error": "…"}`, of every refusal on every route —
//!   the api's, the signer's, the health routes', and axum's own (an unknown path, a method
//!   not allowed, a path or body it could not parse), which [`json_errors`] rewrites.
//! - [`limit_body`]: a `Content-Length` over the route's limit is refused with 413 before a
//!   byte of the body is read (axum's `DefaultBodyLimit` only stops reading once the limit is
//!   passed, after waiting for the bytes).
//! - [`JsonObject`]: a request body must be a JSON object, parsed with [`parse_object`]
//!   (`sealgate_api_bodies::strict`: serde would take an array for a struct, `[]` for `{}`,
//!   and the last of a repeated key).

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

// The strict parse lives with the bodies it parses (pure, fuzzed without the server).
pub use sealgate_api_bodies::strict::{bounded, object, objects, opt_object, parse_object, strict_value};

/// Every error answer: a message safe to show, never a secret or an internal detail.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[schema(as = Error)]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    /// What was refused and why.
    pub error: String,
}

/// `status` with `{"error": message}`.
pub fn error_response(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(ErrorBody { error: message.into() })).into_response()
}

fn is_json(response: &Response) -> bool {
    response.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/json"))
}

/// Middleware: an error answer that is not JSON (a refusal by axum itself, an empty 404 or
/// 405) becomes `{"error": …}` with the same status and the same headers otherwise.
pub async fn json_errors(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    // Our own HTML pages (the link pages) say what went wrong themselves.
    let html = response.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    if response.status().as_u16() < 400 || is_json(&response) || html {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let status = parts.status;
    let text = match axum::body::to_bytes(body, 4096).await {
        Ok(b) if !b.iter().all(u8::is_ascii_whitespace) => bounded(String::from_utf8_lossy(&b).trim()),
        _ => status.canonical_reason().unwrap_or("refused").to_lowercase(),
    };
    let json = error_response(status, text);
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Response::from_parts(parts, json.into_body())
}

/// Bytes of a refused body read and dropped after the 413 is sent, so that a client still
/// sending it reads the answer instead of a reset connection (a "lingering close").
const DISCARD_MAX: usize = 1024 * 1024;
/// How long that may take.
const DISCARD_TIME: std::time::Duration = std::time::Duration::from_secs(5);

/// Middleware (with `max` as its state): 413 at once for a declared `Content-Length` over
/// `max`, before the body is read (nothing of it reaches a handler; what the client goes on
/// sending is dropped, up to 1 MiB or 5 seconds, while the answer is
/// on its way); an unreadable `Content-Length` is 400.
pub async fn limit_body(axum::extract::State(max): axum::extract::State<usize>, req: Request, next: Next) -> Response {
    if let Some(v) = req.headers().get(header::CONTENT_LENGTH) {
        match v.to_str().ok().and_then(|s| s.trim().parse::<u64>().ok()) {
            Some(n) if n > max as u64 => {
                let body = req.into_body();
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(DISCARD_TIME, discard(body, DISCARD_MAX)).await;
                });
                return too_large(max);
            }
            Some(_) => {}
            None => return error_response(StatusCode::BAD_REQUEST, "the Content-Length header is not a number"),
        }
    }
    next.run(req).await
}

/// Reads and drops up to about `max` bytes of `body`.
async fn discard(mut body: Body, max: usize) {
    use axum::body::HttpBody as _;
    let mut seen = 0usize;
    while seen <= max {
        match std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await {
            Some(Ok(frame)) => seen += frame.data_ref().map_or(0, |d| d.len()),
            _ => break,
        }
    }
}

/// The 413 answer for a body over `max` bytes.
pub fn too_large(max: usize) -> Response {
    error_response(StatusCode::PAYLOAD_TOO_LARGE, format!("the request body is larger than {max} bytes"))
}

/// A JSON object request body (`Content-Type: application/json`), parsed into `T` with
/// [`parse_object`]. Refusals are [`ErrorBody`] answers: 415, 413, 400.
#[derive(Debug)]
pub struct JsonObject<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonObject<T> {
    type Rejection = Response;

    async fn from_request(req: Request<Body>, state: &S) -> Result<Self, Self::Rejection> {
        let json_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|m| m.trim().to_ascii_lowercase())
            .is_some_and(|m| m == "application/json" || (m.starts_with("application/") && m.ends_with("+json")));
        if !json_type {
            return Err(error_response(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "the request body must be JSON (Content-Type: application/json)",
            ));
        }
        let bytes = axum::body::Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                error_response(StatusCode::PAYLOAD_TOO_LARGE, "the request body is too large")
            } else {
                error_response(StatusCode::BAD_REQUEST, "the request body could not be read")
            }
        })?;
        parse_object(&bytes).map(JsonObject).map_err(|m| error_response(StatusCode::BAD_REQUEST, m))
    }
}
