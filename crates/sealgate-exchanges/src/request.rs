//! Requests in and out, the credential, and the injected clock and nonces.

use std::fmt;

use secrecy::{ExposeSecret as _, SecretString};

use crate::Error;

/// A private REST request as the caller wants it sent, before signing.
///
/// `query` is the raw query string without `?`, and `body` the raw body:
/// both are signed and sent byte for byte as given (no re-serialization).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// HTTP method, upper case (`GET`, `POST`, `DELETE`, `PUT`).
    #[cfg_attr(feature = "openapi", schema(pattern = "^(GET|POST|PUT|DELETE|PATCH)$"))]
    pub method: String,
    /// Path, starting with `/`, without query.
    #[cfg_attr(feature = "openapi", schema(pattern = "^/[^?# \\u0000-\\u001f\\u007f-\\u009f]*$"))]
    pub path: String,
    /// Raw query string without the leading `?` (may be empty).
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = "^([^?# \\u0000-\\u001f\\u007f-\\u009f][^# \\u0000-\\u001f\\u007f-\\u009f]*)?$")
    )]
    pub query: String,
    /// Raw body (may be empty).
    #[serde(default)]
    pub body: String,
}

impl Request {
    /// A request from its four parts.
    pub fn new(method: &str, path: &str, query: &str, body: &str) -> Self {
        Self { method: method.into(), path: path.into(), query: query.into(), body: body.into() }
    }

    /// Check the shape every scheme relies on, the path by [`check_path`]
    /// (the one path rule). The signer and the agent call it before
    /// anything else, and every scheme's `sign` calls it again.
    pub fn validate(&self) -> Result<(), Error> {
        if !matches!(self.method.as_str(), "GET" | "POST" | "PUT" | "DELETE" | "PATCH") {
            return Err(Error::BadRequest("method must be GET, POST, PUT, DELETE or PATCH"));
        }
        check_path(&self.path)?;
        if self.query.starts_with('?') || self.query.contains(['#', ' ']) || self.query.chars().any(char::is_control) {
            return Err(Error::BadRequest("query must be raw, without ?, # or spaces"));
        }
        Ok(())
    }

    /// The path with `?query` when there is one.
    pub fn path_and_query(&self) -> String {
        if self.query.is_empty() { self.path.clone() } else { format!("{}?{}", self.path, self.query) }
    }
}

/// Longest path accepted (no documented private endpoint comes close).
pub const MAX_PATH: usize = 512;

/// The one path rule: the path that is classified, signed and sent is one
/// literal sequence of segments that every HTTP stack and URL library reads
/// the same way, so no normalisation can happen after the policy judged it.
///
/// A path is accepted only when
/// - it starts with `/` and is at most [`MAX_PATH`] bytes;
/// - every byte is ASCII `A-Z a-z 0-9 - . _ ~ :` or the `/` separator: no
///   `\` (URL libraries turn it into `/`), no `%` (no percent-encoding at
///   all: `%2e%2e` becomes `..`, `%2f` a separator, on some servers), no
///   `?`/`#` (the query travels on its own), no `;` (matrix parameters that
///   some servers strip), no space, control or non-ASCII character;
/// - no segment is `.` or `..` (resolved away by URL libraries and servers);
/// - no segment is empty (`//`), except one trailing `/`, which Bitstamp's
///   documented paths all end with (`/api/v2/balance/`); elsewhere a
///   trailing `/` is kept as is and matches no endpoint (`unknown`). `/`
///   alone names no private endpoint and is refused.
///
/// The characters are those of the exchanges' documented private paths:
/// unreserved characters of RFC 3986 and `:` (Bitfinex's `perf:1D`).
/// Path parameters (`{}` segments of the endpoint tables: ids, symbols,
/// currencies) obey the same rule.
pub fn check_path(path: &str) -> Result<(), Error> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err(Error::BadRequest("path must start with /"));
    };
    if path.len() > MAX_PATH {
        return Err(Error::BadRequest("path is longer than 512 bytes"));
    }
    for c in path.chars() {
        match c {
            'A'..='Z' | 'a'..='z' | '0'..='9' | '-' | '.' | '_' | '~' | ':' | '/' => {}
            '\\' => return Err(Error::BadRequest("path holds a backslash (\\), which URL libraries read as /")),
            '%' => return Err(Error::BadRequest("path holds a percent-encoding (%): send the path literally")),
            '?' | '#' => return Err(Error::BadRequest("path holds ? or #: give the query in its own field")),
            c if !c.is_ascii() => return Err(Error::BadRequest("path holds a non-ASCII character")),
            c if c.is_ascii_control() || c == ' ' => {
                return Err(Error::BadRequest("path holds a space or control character"));
            }
            _ => return Err(Error::BadRequest("path holds a character outside A-Z a-z 0-9 - . _ ~ : /")),
        }
    }
    if rest.is_empty() {
        return Err(Error::BadRequest("path / names no endpoint"));
    }
    let segs: Vec<&str> = rest.split('/').collect();
    let inner = match segs.split_last() {
        Some((&"", init)) => init, // one trailing `/`
        _ => &segs[..],
    };
    for s in inner {
        match *s {
            "" => return Err(Error::BadRequest("path holds an empty segment (//)")),
            "." | ".." => return Err(Error::BadRequest("path holds a . or .. segment")),
            _ => {}
        }
    }
    Ok(())
}

/// The request exactly as it goes on the wire.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignedRequest {
    /// HTTP method.
    pub method: String,
    /// Path.
    pub path: String,
    /// Raw query string without `?`.
    pub query: String,
    /// Headers to add, in order: `[name, value]` pairs.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Vec<String>>))]
    pub headers: Vec<(String, String)>,
    /// Raw body.
    pub body: String,
}

impl SignedRequest {
    /// Start from the unsigned request, with no headers.
    pub fn from_request(r: &Request) -> Self {
        Self {
            method: r.method.clone(),
            path: r.path.clone(),
            query: r.query.clone(),
            headers: Vec::new(),
            body: r.body.clone(),
        }
    }

    /// The value of header `name` (names compare case-insensitively, as in HTTP).
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Add a header.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }
}

/// An exchange API credential: every field secret, zeroized on drop,
/// printed as `[REDACTED]`.
#[derive(Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credential {
    /// API key (identifier).
    pub api_key: Option<SecretString>,
    /// API secret (HMAC key).
    pub api_secret: Option<SecretString>,
    /// Passphrase (Coinbase Exchange, OKX, KuCoin, Bitget).
    pub passphrase: Option<SecretString>,
    /// PEM private key (Binance Ed25519/RSA, Coinbase CDP).
    pub private_key: Option<SecretString>,
    /// Key name (Coinbase CDP: `organizations/…/apiKeys/…`).
    pub key_name: Option<SecretString>,
    /// A private key held elsewhere (the custody) in place of `private_key`: never read
    /// from input, set by the signer ([`crate::sign_with_held_key`]).
    #[serde(skip)]
    pub held_key: Option<std::sync::Arc<dyn crate::HeldKey>>,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Credential([REDACTED])")
    }
}

impl Credential {
    fn field<'a>(v: &'a Option<SecretString>, name: &'static str) -> Result<&'a str, Error> {
        match v.as_ref().map(|s| s.expose_secret()) {
            Some(s) if !s.is_empty() => Ok(s),
            _ => Err(Error::MissingField(name)),
        }
    }
    /// `api_key`, required.
    pub fn api_key(&self) -> Result<&str, Error> {
        Self::field(&self.api_key, "api_key")
    }
    /// `api_secret`, required.
    pub fn api_secret(&self) -> Result<&str, Error> {
        Self::field(&self.api_secret, "api_secret")
    }
    /// `passphrase`, required.
    pub fn passphrase(&self) -> Result<&str, Error> {
        Self::field(&self.passphrase, "passphrase")
    }
    /// `private_key`, required.
    pub fn private_key(&self) -> Result<&str, Error> {
        Self::field(&self.private_key, "private_key")
    }
    /// `key_name`, required.
    pub fn key_name(&self) -> Result<&str, Error> {
        Self::field(&self.key_name, "key_name")
    }

    /// The key that signs for an exchange that takes an HMAC secret or a private key
    /// (`keys` names the private keys it takes, for the refusal of both at once).
    pub(crate) fn signing_key(&self, keys: &'static str) -> Result<SigningKey<'_>, Error> {
        match (&self.api_secret, &self.private_key, &self.held_key) {
            (Some(_), None, None) => Ok(SigningKey::Hmac(self.api_secret()?)),
            (None, Some(_), None) => Ok(SigningKey::Pem(self.private_key()?)),
            (None, None, Some(k)) => Ok(SigningKey::Held(k.as_ref())),
            (None, None, None) => Err(Error::MissingField("api_secret")),
            _ => Err(Error::BadRequest(keys)),
        }
    }
}

/// Which key signs a request ([`Credential::signing_key`]).
pub(crate) enum SigningKey<'a> {
    /// The HMAC secret.
    Hmac(&'a str),
    /// A PEM private key in the credential.
    Pem(&'a str),
    /// A key held elsewhere.
    Held(&'a dyn crate::HeldKey),
}

/// Wall clock in milliseconds since the Unix epoch, injected so signing
/// is deterministic in tests and the signer can correct for each
/// exchange's clock offset.
pub trait Clock: Send + Sync {
    /// Now, in Unix milliseconds.
    fn now_ms(&self) -> u64;
}

/// A fixed clock.
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub u64);

impl Clock for FixedClock {
    fn now_ms(&self) -> u64 {
        self.0
    }
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}

/// Per-credential strictly increasing nonces (Kraken, Bitfinex, Gemini,
/// Bitstamp…). The signer implements it over its store so nonces increase
/// across every instance.
pub trait NonceSource: Send + Sync {
    /// The next nonce for this credential: greater than every one before,
    /// and at least `floor` (exchanges often expect a time-based nonce).
    fn next_nonce(&self, floor: u64) -> u64;
}

/// A nonce source that returns one fixed value (for reproducing documented
/// examples; the CLI's `nonce` field).
#[derive(Debug, Clone, Copy)]
pub struct FixedNonce(pub u64);

impl NonceSource for FixedNonce {
    fn next_nonce(&self, _floor: u64) -> u64 {
        self.0
    }
}

/// An in-memory monotonic nonce source for one credential in one process.
#[derive(Debug, Default)]
pub struct MonotonicNonce(std::sync::atomic::AtomicU64);

impl NonceSource for MonotonicNonce {
    fn next_nonce(&self, floor: u64) -> u64 {
        use std::sync::atomic::Ordering;
        let mut cur = self.0.load(Ordering::Relaxed);
        loop {
            let next = cur.saturating_add(1).max(floor);
            match self.0.compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => return next,
                Err(seen) => cur = seen,
            }
        }
    }
}

/// What a signing scheme may consult besides the credential and request.
pub struct Context<'a> {
    /// The clock.
    pub clock: &'a dyn Clock,
    /// This credential's nonce source.
    pub nonce: &'a dyn NonceSource,
}
