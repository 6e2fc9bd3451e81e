//! What every HTTP route of a `sealgate serve` listener shares about JSON.
//!
//! - [`ErrorBody`]: the one error shape, `{"error": "…"}`, of every refusal on every route —
//!   the api's, the signer's, the health routes', and axum's own (an unknown path, a method
//!   not allowed, a path or body it could not parse), which [`json_errors`] rewrites.
//! - [`limit_body`]: a `Content-Length` over the route's limit is refused with 413 before a
//!   byte of the body is read (axum's `DefaultBodyLimit` only stops reading once the limit is
//!   passed, after waiting for the bytes).
//! - [`JsonObject`] and [`parse_object`]: a request body must be a JSON object (serde would
//!   take an array for a struct, `[]` for `{}`); [`object`], [`opt_object`] and [`objects`]
//!   do the same for nested structs.

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

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

/// At most 300 characters of `s` (error messages that quote input stay short).
pub fn bounded(s: &str) -> String {
    s.chars().take(300).collect()
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

/// Parses `bytes` as a JSON object into `T`: anything but an object is refused, and so are
/// nested arrays where `T` has a struct (see [`object`]) and a key given twice in any object
/// (one request, one meaning). The message is safe to show.
pub fn parse_object<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let map = match strict_value(bytes) {
        Ok(Value::Object(map)) => map,
        Ok(_) => return Err("the request body must be a JSON object".to_owned()),
        Err(e) => return Err(format!("the request body is not JSON: {}", bounded(&e.to_string()))),
    };
    T::deserialize(Value::Object(map)).map_err(|e| bounded(&e.to_string()))
}

/// Parses JSON, refusing an object that names a key twice, at any depth (serde_json keeps
/// the last, and a struct parsed from bytes refuses only its own level's duplicates).
pub fn strict_value(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    serde_json::from_slice::<Strict>(bytes).map(|s| s.0)
}

/// A JSON value without duplicate keys.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some((k, Strict(v))) = map.next_entry::<String, Strict>()? {
            if out.contains_key(&k) {
                let k: String = k.chars().take(64).collect();
                return Err(serde::de::Error::custom(format!("the key {k:?} appears twice")));
            }
            out.insert(k, v);
        }
        Ok(Value::Object(out))
    }
}

fn from_map<T: DeserializeOwned, E: serde::de::Error>(m: Map<String, Value>) -> Result<T, E> {
    T::deserialize(Value::Object(m)).map_err(E::custom)
}

/// `deserialize_with` for a nested struct: only a JSON object is one (not an array).
pub fn object<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<T, D::Error> {
    from_map(Map::deserialize(d)?)
}

/// `deserialize_with` for an optional nested struct: `null` or an object.
pub fn opt_object<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<Option<T>, D::Error> {
    Option::<Map<String, Value>>::deserialize(d)?.map(from_map).transpose()
}

/// `deserialize_with` for a list of structs: an array of objects.
pub fn objects<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<Vec<T>, D::Error> {
    Vec::<Map<String, Value>>::deserialize(d)?.into_iter().map(from_map).collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        a: u32,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Outer {
        #[serde(default, deserialize_with = "opt_object")]
        one: Option<Inner>,
        #[serde(default, deserialize_with = "objects")]
        many: Vec<Inner>,
    }

    #[test]
    fn only_objects_are_structs() {
        assert_eq!(parse_object::<Outer>(b"{}"), Ok(Outer { one: None, many: vec![] }));
        let ok: Outer = parse_object(br#"{"one": {"a": 1}, "many": [{"a": 2}]}"#).expect("ok");
        assert_eq!(ok, Outer { one: Some(Inner { a: 1 }), many: vec![Inner { a: 2 }] });
        assert_eq!(parse_object::<Outer>(br#"{"one": null}"#), Ok(Outer { one: None, many: vec![] }));
        // serde alone takes each of these for a struct.
        for bad in [&b"[]"[..], b"[null, []]", br#"{"one": [1]}"#, br#"{"many": [[2]]}"#, b"null", b"1"] {
            assert!(parse_object::<Outer>(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        assert_eq!(parse_object::<Outer>(b"[]"), Err("the request body must be a JSON object".to_owned()));
        assert!(parse_object::<Outer>(b"{").is_err_and(|e| e.starts_with("the request body is not JSON")));
        assert!(parse_object::<Outer>(br#"{"x": 1}"#).is_err_and(|e| e.contains("unknown field")));
        // A key twice, at any depth: refused, not "the last one wins".
        for dup in [
            &br#"{"one": {"a": 1}, "one": null}"#[..],
            br#"{"one": {"a": 1, "a": 2}}"#,
            br#"{"many": [{"a": 1, "a": 1}]}"#,
        ] {
            assert!(
                parse_object::<Outer>(dup).is_err_and(|e| e.contains("appears twice")),
                "{}",
                String::from_utf8_lossy(dup)
            );
        }
        assert_eq!(
            strict_value(br#"[1, -2, 2.5, "x", true, null, {"a": [{}]}]"#).ok(),
            serde_json::from_str(r#"[1, -2, 2.5, "x", true, null, {"a": [{}]}]"#).ok()
        );
    }
}
