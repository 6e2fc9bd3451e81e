//! `GET /openapi.json`: the OpenAPI 3.1 document of a `sealgate serve` process, generated
//! from the handlers' own `#[utoipa::path]` operations and request and response types, so
//! it cannot drift from what is served: the routers take each route's method and path from
//! the same operation (`api::Table`).
//!
//! There are two documents, one per listener, each served at that listener's
//! `/openapi.json`: [`document`] for the public listener (the api's routes, the browser
//! client's, `/healthz` and `/readyz`) and [`service_document`] for the service listener
//! (the signer's service routes, tag `signer`, served only where the signer role runs;
//! `/metrics`, the health routes). Two documents rather than one with `servers` entries:
//! each listener serves exactly its own document (a client of the public api is not shown
//! routes it cannot reach there, and a conformance check runs the same way on both), and
//! the listeners' addresses are known only at run time. What every route of one kind shares
//! is added here, from the same rules the extractors apply:
//! - an operation with a user security requirement may answer 401 (no or bad credentials,
//!   with `WWW-Authenticate: Bearer`), 403 (a session cookie without the matching
//!   `X-CSRF-Token` on an unsafe method) and 503 (the identity provider or the store is
//!   unreachable);
//! - one with parameters may answer 400 (a path or query that does not parse);
//! - one with a request body may answer 400, 413 (over the route's limit, refused from
//!   `Content-Length` before reading) and 415 (not JSON).
//!
//! Every error answer is [`ErrorBody`](crate::json::ErrorBody), `{"error": "…"}`.

use utoipa::OpenApi as _;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, Response, ResponseBuilder};

/// The session cookie's scheme name in the document.
pub const SESSION: &str = "session";
/// The OIDC bearer scheme's name.
pub const BEARER: &str = "bearer";
/// The service token scheme's name (the signer's routes).
pub const SERVICE: &str = "service";

/// The public listener's document: the api, the browser client and the health routes.
pub fn document() -> OpenApi {
    let mut doc = crate::api::ApiDoc::openapi();
    doc.merge(crate::web::WebDoc::openapi());
    doc.merge(crate::serve::OpsDoc::openapi());
    finish(
        doc,
        "The routes of the public listener of `sealgate serve`: the user-facing api (it stores sealed \
         credential envelopes it cannot open and never returns an envelope or a secret), the browser client \
         and the health routes. The signer's service routes and `/metrics` are on the service listener \
         (`--service-listen`), described by its own `/openapi.json`. Every error answer is \
         `{\"error\": \"…\"}`.",
        &[SESSION, BEARER],
    )
}

/// The service listener's document: the signer's routes (where the signer role runs),
/// `/metrics`, the health routes and this document.
pub fn service_document() -> OpenApi {
    let mut doc = crate::signer::SignerDoc::openapi();
    doc.merge(crate::serve::ServiceOpsDoc::openapi());
    finish(
        doc,
        "The routes of the service listener of `sealgate serve` (`--service-listen`), for services, never \
         on the public listener: the signer's `/v1/sign` and `/v1/forward` (where the signer role runs), \
         `/metrics` and the health routes. Every error answer is `{\"error\": \"…\"}`.",
        &[SERVICE],
    )
}

fn finish(mut doc: OpenApi, description: &str, schemes: &[&str]) -> OpenApi {
    doc.info.title = "Sealgate".into();
    doc.info.version = env!("CARGO_PKG_VERSION").into();
    doc.info.description = Some(description.into());
    doc.info.license = None;
    doc.info.contact = None;
    let components = doc.components.get_or_insert_with(Default::default);
    if schemes.contains(&SESSION) {
        let mut session = ApiKey::Cookie(ApiKeyValue::with_description(
            crate::auth::SESSION_COOKIE,
            "local login (`GET /login`); unsafe methods also need `X-CSRF-Token` equal to the `sealgate_csrf` cookie",
        ));
        if let ApiKey::Cookie(v) = &mut session {
            v.name = crate::auth::SESSION_COOKIE.into();
        }
        components.add_security_scheme(SESSION, SecurityScheme::ApiKey(session));
    }
    if schemes.contains(&BEARER) {
        let mut bearer = Http::new(HttpAuthScheme::Bearer);
        bearer.bearer_format = Some("JWT".into());
        bearer.description =
            Some("an OIDC access token of the platform's identity provider (RS256, ES256, EdDSA)".into());
        components.add_security_scheme(BEARER, SecurityScheme::Http(bearer));
    }
    if schemes.contains(&SERVICE) {
        let mut service = Http::new(HttpAuthScheme::Bearer);
        service.bearer_format = Some("JWS".into());
        service.description = Some(format!(
            "a service token: a compact JWS (EdDSA, Ed25519) by the role's service key, audience `{}`, \
             role `importer` or `trader`, valid {} seconds",
            crate::service_auth::AUDIENCE,
            crate::service_auth::TOKEN_LIFETIME_SECS
        ));
        components.add_security_scheme(SERVICE, SecurityScheme::Http(service));
    }

    for item in doc.paths.paths.values_mut() {
        let unsafe_ops = [&mut item.post, &mut item.put, &mut item.patch, &mut item.delete];
        for op in unsafe_ops.into_iter().flatten() {
            shared_answers(op);
        }
        for op in [&mut item.get].into_iter().flatten() {
            shared_answers(op);
        }
    }
    doc
}

fn error(description: &str) -> RefOr<Response> {
    let content = ContentBuilder::new().schema(Some(Ref::from_schema_name("Error"))).build();
    ResponseBuilder::new().description(description).content("application/json", content).build().into()
}

fn shared_answers(op: &mut Operation) {
    let user_auth = op.security.as_ref().is_some_and(|reqs| {
        let text = serde_json::to_string(reqs).unwrap_or_default();
        text.contains(&format!("\"{SESSION}\"")) || text.contains(&format!("\"{BEARER}\""))
    });
    let has_params = op.parameters.as_ref().is_some_and(|p| !p.is_empty());
    let has_body = op.request_body.is_some();
    let json_body = match &op.request_body {
        Some(RefOr::T(b)) => b.content.contains_key("application/json"),
        _ => false,
    };
    let r = &mut op.responses.responses;
    let mut add = |code: &str, description: &str| {
        r.entry(code.to_owned()).or_insert_with(|| error(description));
    };
    if user_auth {
        add("401", "not authenticated (WWW-Authenticate: Bearer)");
        add("403", "a session cookie without the matching X-CSRF-Token (unsafe methods)");
        add("503", "the identity provider or the store is unavailable");
    }
    if has_params || has_body {
        add("400", "a parameter or the body is refused (the message says which and why)");
    }
    if has_body {
        add("413", "the body is over the route's limit (refused from Content-Length before reading)");
        if json_body && user_auth {
            add("415", "the body is not JSON (Content-Type: application/json)");
        }
    }
}
