//! The browser client, served by the api role: `web/` embedded in the binary.
//!
//! - `GET /` is `web/index.html` with two things filled in: the Subresource Integrity
//!   hash (SHA-384) of every script and style sheet, computed here from the embedded
//!   bytes (so it can never be stale), and the server's own recipient-set root pin in
//!   `<meta name="sealgate-root-pin">`. The page verifies `/v1/recipients` against that
//!   pin and refuses to seal otherwise. Trust model: the pin protects the key set as it
//!   travels on its own (a swapped set, a replayed expired one, a set signed by another
//!   root); it cannot protect against an api that serves both the page and the pin, which
//!   is why the page shows the pin for the user to compare with the operator's.
//! - `GET /app/{file}`: the scripts and the style sheet.
//! - `POST /csp-report`: where the browser reports Content-Security-Policy violations
//!   (`report-uri`). Each is counted ([`csp_reports`], exported as the metric
//!   `sealgate_csp_reports_total`) and the first [`MAX_LOGGED_REPORTS`] are logged.
//!
//! Every page response carries [`PAGE_CSP`]: scripts, styles, fetches and images from
//! this origin only, no inline script or style, no eval, no framing, no `<base>`.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::Value;

use crate::api::{ApiState, Table};

/// The Content-Security-Policy of the page and its files.
pub const PAGE_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; \
     report-uri /csp-report";

/// Violation reports logged (all are counted).
pub const MAX_LOGGED_REPORTS: u64 = 100;
/// Largest violation report read.
const MAX_REPORT: usize = 16 * 1024;

const INDEX: &str = include_str!("../../../web/index.html");

/// The files under `/app/`: name, content type, bytes.
const ASSETS: [(&str, &str, &str); 3] = [
    ("app.js", "text/javascript; charset=utf-8", include_str!("../../../web/app.js")),
    ("seal.js", "text/javascript; charset=utf-8", include_str!("../../../web/seal.js")),
    ("app.css", "text/css; charset=utf-8", include_str!("../../../web/app.css")),
];

static CSP_REPORTS: AtomicU64 = AtomicU64::new(0);

/// Violation reports received since the process started.
pub fn csp_reports() -> u64 {
    CSP_REPORTS.load(Ordering::Relaxed)
}

/// The Subresource Integrity value of `bytes`: `sha384-` and the base64 SHA-384.
pub fn sri(bytes: &[u8]) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA384, bytes);
    format!("sha384-{}", base64::engine::general_purpose::STANDARD.encode(d.as_ref()))
}

/// `index.html` with every `{{sri:NAME}}` replaced by the hash of that file.
static INDEX_WITH_SRI: LazyLock<String> = LazyLock::new(|| {
    let mut html = INDEX.to_owned();
    for (name, _, body) in ASSETS {
        html = html.replace(&format!("{{{{sri:{name}}}}}"), &sri(body.as_bytes()));
    }
    html
});

/// The page for a server whose recipient-set root pin is `pin`.
pub fn index_html(pin: &str) -> String {
    // A pin is base64url; anything else is dropped rather than escaped.
    let pin: String = pin.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_')).collect();
    INDEX_WITH_SRI.replace("{{root_pin}}", &pin)
}

fn tables() -> (Table<ApiState>, Table<ApiState>) {
    let pages = Table::new()
        .add::<__path_index, _, _>(index)
        .add::<__path_asset, _, _>(asset)
        .add::<crate::notify_api::__path_lockdown_page, _, _>(crate::notify_api::lockdown_page)
        .add::<crate::notify_api::__path_lockdown_use, _, _>(crate::notify_api::lockdown_use)
        .add::<crate::notify_api::__path_confirm_page, _, _>(crate::notify_api::confirm_page)
        .add::<crate::notify_api::__path_confirm_use, _, _>(crate::notify_api::confirm_use);
    let reports = Table::new().add::<__path_csp_report, _, _>(csp_report);
    (pages, reports)
}

/// The page's routes (merged into the api router).
pub fn routes() -> Router<ApiState> {
    let (pages, reports) = tables();
    pages.router.merge(
        reports
            .router
            .layer(DefaultBodyLimit::max(MAX_REPORT))
            .layer(middleware::from_fn_with_state(MAX_REPORT, crate::json::limit_body)),
    )
}

/// Every `(method, path)` of [`routes`].
pub fn route_list() -> Vec<(&'static str, String)> {
    let (pages, reports) = tables();
    pages.routes.into_iter().chain(reports.routes).collect()
}

/// The page's operations, for [`crate::openapi`].
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    index,
    asset,
    csp_report,
    crate::notify_api::lockdown_page,
    crate::notify_api::lockdown_use,
    crate::notify_api::confirm_page,
    crate::notify_api::confirm_use
))]
pub(crate) struct WebDoc;

fn page_headers(mut response: Response, content_type: &'static str) -> Response {
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(PAGE_CSP));
    h.insert(HeaderName::from_static("cross-origin-opener-policy"), HeaderValue::from_static("same-origin"));
    h.insert(HeaderName::from_static("cross-origin-resource-policy"), HeaderValue::from_static("same-origin"));
    h.insert(
        HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static("camera=(), microphone=(), geolocation=(), payment=(), usb=()"),
    );
    response
}

/// The browser client: `web/index.html` with its SRI hashes and the root pin filled in.
#[utoipa::path(get, path = "/", tag = "web", security(),
    responses((status = 200, description = "the page", content_type = "text/html", body = String)))]
async fn index(State(s): State<ApiState>) -> Response {
    let pin = s.recipients.read().await.pin.clone();
    page_headers(index_html(&pin).into_response(), "text/html; charset=utf-8")
}

/// The page's scripts and style sheet.
#[utoipa::path(get, path = "/app/{file}", tag = "web", security(),
    params(("file" = String, Path, description = "app.js, seal.js or app.css")),
    responses(
        (status = 200, description = "the file", content(
            (String = "text/javascript"), (String = "text/css"))),
        (status = 404, description = "no such file", body = crate::json::ErrorBody)))]
async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, body)) => page_headers((*body).into_response(), content_type),
        None => crate::json::error_response(StatusCode::NOT_FOUND, "no such file"),
    }
}

/// One field of a report, bounded and without control characters.
fn field(report: &Value, names: &[&str]) -> String {
    names
        .iter()
        .find_map(|n| report.get(*n).and_then(Value::as_str))
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect()
}

/// Where the browser reports Content-Security-Policy violations: `report-uri` sends one
/// report object (`application/csp-report`), the Reporting API a list of them
/// (`application/reports+json`). Up to 16 KiB; each is counted and the first 100 logged.
#[utoipa::path(post, path = "/csp-report", tag = "web", security(),
    request_body(description = "a CSP violation report", content(
        (Object = "application/csp-report"), (Vec<Object> = "application/reports+json"), (Object = "application/json"))),
    responses(
        (status = 204, description = "counted"),
        (status = 400, description = "not a report: JSON of the shape its content type names", body = crate::json::ErrorBody),
        (status = 415, description = "not a report's content type", body = crate::json::ErrorBody)))]
async fn csp_report(headers: HeaderMap, body: Bytes) -> Response {
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let list = match media.as_str() {
        "application/reports+json" => true,
        "application/csp-report" | "application/json" => false,
        _ => {
            return crate::json::error_response(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "a report is application/csp-report or application/reports+json",
            );
        }
    };
    let v: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => return crate::json::error_response(StatusCode::BAD_REQUEST, "a report is JSON"),
    };
    let shaped = if list { v.as_array().is_some_and(|a| a.iter().all(Value::is_object)) } else { v.is_object() };
    if !shaped {
        let want = if list { "a list of report objects" } else { "a report object" };
        return crate::json::error_response(StatusCode::BAD_REQUEST, format!("{media} carries {want}"));
    }
    let n = CSP_REPORTS.fetch_add(1, Ordering::Relaxed) + 1;
    if n <= MAX_LOGGED_REPORTS {
        // `report-uri` sends {"csp-report": {...}}; the Reporting API a list of {"body": {...}}.
        let report = v
            .get("csp-report")
            .or_else(|| v.as_array().and_then(|a| a.first()).and_then(|r| r.get("body")))
            .unwrap_or(&Value::Null);
        tracing::warn!(
            directive = %field(report, &["effective-directive", "violated-directive", "effectiveDirective"]),
            blocked = %field(report, &["blocked-uri", "blockedURL"]),
            document = %field(report, &["document-uri", "documentURL"]),
            "csp violation reported"
        );
    }
    StatusCode::NO_CONTENT.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_script_and_style_carries_its_hash() {
        let html = index_html("pin-abc_123");
        assert!(!html.contains("{{"), "a placeholder is left: {html}");
        assert!(html.contains(r#"<meta name="sealgate-root-pin" content="pin-abc_123">"#));
        for (name, _, body) in ASSETS {
            assert!(html.contains(&format!("integrity=\"{}\"", sri(body.as_bytes()))), "{name}");
        }
        // Every <script> and <link> to a file has an integrity attribute; nothing inline.
        for tag in html.split('<').filter(|t| t.starts_with("script") || t.starts_with("link")) {
            let tag = tag.split('>').next().unwrap_or("");
            if tag.contains("src=") || tag.contains("stylesheet") || tag.contains("modulepreload") {
                assert!(tag.contains("integrity=\"sha384-"), "{tag}");
            }
        }
        for tag in html.split('<').map(|t| t.split('>').next().unwrap_or("")) {
            let inline =
                tag.split_whitespace().any(|a| a.starts_with("style=") || (a.starts_with("on") && a.contains('=')));
            assert!(!inline, "inline style or event handler: <{tag}>");
        }
        assert_eq!(index_html("x\"><script>").matches("<script").count(), html.matches("<script").count());
    }

    #[test]
    fn scripts_import_nothing_and_never_eval() {
        // An imported module is fetched without integrity: every script is a <script> of its own.
        for (name, _, body) in ASSETS.iter().filter(|(n, _, _)| n.ends_with(".js")) {
            for line in body.lines().map(str::trim_start) {
                assert!(!line.starts_with("import ") && !line.contains("import("), "{name}: {line}");
                assert!(!line.contains("eval(") && !line.contains("new Function"), "{name}: {line}");
                assert!(!line.contains("innerHTML") && !line.contains("document.write"), "{name}: {line}");
            }
        }
    }

    #[test]
    fn sri_is_sha384_base64() {
        // `echo -n abc | openssl dgst -sha384 -binary | base64`
        assert_eq!(sri(b"abc"), "sha384-ywB1P0WjXou1oD1pmsZQBycsMqsO3tFjGotgWkP/W+2AhgcroefMI1i67KE0yCWn");
    }
}
