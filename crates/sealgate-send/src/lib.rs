//! The one send path of the signer and the desktop agent: a signed
//! exchange request goes out, a bounded answer comes back.
//!
//! - **Redirects are never followed.** A signed request carries the API key
//!   (and for some exchanges a passphrase) in its headers; following a
//!   `3xx` would hand them to whatever host the answer names. A redirect is
//!   returned as the answer it is.
//! - **The answer is bounded.** The body is read up to
//!   [`SendConfig::max_response`] bytes (a `Content-Length` above it is
//!   refused before reading); a larger or endless body is cut off with
//!   [`SendError::TooLarge`], never buffered without bound. The whole
//!   round trip has a timeout ([`SendConfig::timeout`]).
//! - **The Content-Type comes from one rule**,
//!   [`sealgate_exchanges::content_type`]: a signed request that names
//!   another one is refused ([`SendError::ContentType`]), never sent with
//!   two.
//! - Errors never carry the URL (its query may hold a signature), a header
//!   or the body.
//!
//! What an answer means (a clock or nonce rejection, and whether one
//! re-signed copy may follow) is the exchanges crate's
//! ([`sealgate_exchanges::answer`]); the signer acts on it, the sender
//! sends once per call.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::time::Duration;

use sealgate_exchanges::SignedRequest;

/// How a [`Sender`] behaves.
#[derive(Debug, Clone, Copy)]
pub struct SendConfig {
    /// Timeout of one round trip (connect, send, read the whole answer).
    pub timeout: Duration,
    /// Largest answer body read, in bytes.
    pub max_response: usize,
}

impl Default for SendConfig {
    fn default() -> Self {
        Self { timeout: Duration::from_secs(15), max_response: 4 * 1024 * 1024 }
    }
}

/// An exchange's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Response headers, in order.
    pub headers: Vec<(String, String)>,
    /// The body, at most [`SendConfig::max_response`] bytes.
    pub body: Vec<u8>,
}

/// Why a request could not be sent or its answer not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The method is not one HTTP can carry.
    #[error("method {0:?} cannot be sent")]
    Method(String),
    /// The signed request names a Content-Type the send rule does not.
    #[error("the signed request for {exchange} names Content-Type {signed:?}, the send rule {rule:?}; not sent")]
    ContentType {
        /// Exchange id.
        exchange: String,
        /// What the signed request carries.
        signed: String,
        /// What [`sealgate_exchanges::content_type`] names.
        rule: Option<&'static str>,
    },
    /// The exchange id is unknown.
    #[error("{0}")]
    Exchange(#[from] sealgate_exchanges::Error),
    /// No connection was made (refused, name not resolved, TLS handshake failed): nothing
    /// was sent (without the URL).
    #[error("exchange unreachable: {0}")]
    Connect(String),
    /// No answer after the connection was made (a timeout, a reset): the request may have
    /// reached the exchange (without the URL).
    #[error("exchange unreachable: {0}")]
    Unreachable(String),
    /// The answer body is larger than the bound; it was cut off.
    #[error("exchange response larger than {limit} bytes; cut off")]
    TooLarge {
        /// The bound, in bytes.
        limit: usize,
    },
    /// The answer body broke off or timed out while being read.
    #[error("exchange response unreadable: {0}")]
    Body(String),
}

impl SendError {
    /// Whether the request may have reached the exchange (and been executed): anything
    /// after a connection was made. A caller must not report such a request as refused.
    pub fn may_have_arrived(&self) -> bool {
        matches!(self, Self::Unreachable(_) | Self::TooLarge { .. } | Self::Body(_))
    }
}

/// The HTTP client of the signer and the agent (rustls, no redirects,
/// bounded answers).
#[derive(Debug, Clone)]
pub struct Sender {
    http: reqwest::Client,
    cfg: SendConfig,
}

impl Sender {
    /// A sender with `cfg`.
    pub fn new(cfg: SendConfig) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("http client: {e}"))?;
        Ok(Self { http, cfg })
    }

    /// Its settings.
    pub fn config(&self) -> SendConfig {
        self.cfg
    }

    /// Send `signed` to exchange `exchange` at `base` (`https://api.binance.com`),
    /// once, and read its answer.
    pub async fn send(&self, exchange: &str, base: &str, signed: &SignedRequest) -> Result<Reply, SendError> {
        let rule = sealgate_exchanges::content_type(exchange, &signed.method, &signed.body)?;
        if let Some(ct) = signed.header_value("Content-Type")
            && Some(ct) != rule
        {
            return Err(SendError::ContentType { exchange: exchange.to_owned(), signed: ct.to_owned(), rule });
        }
        let method = reqwest::Method::from_bytes(signed.method.as_bytes())
            .map_err(|_| SendError::Method(signed.method.chars().take(16).collect()))?;
        let url = format!("{}{}", base.trim_end_matches('/'), path_and_query(signed));
        let mut rb = self.http.request(method, url);
        for (n, v) in &signed.headers {
            if !n.eq_ignore_ascii_case("content-type") {
                rb = rb.header(n.as_str(), v.as_str());
            }
        }
        if let Some(ct) = rule {
            rb = rb.header("Content-Type", ct);
        }
        if !signed.body.is_empty() {
            rb = rb.body(signed.body.clone());
        }
        self.read(rb).await
    }

    /// `GET base + path` without credentials (an exchange's public time
    /// endpoint), under the same rules.
    pub async fn get_public(&self, base: &str, path: &str) -> Result<Reply, SendError> {
        self.read(self.http.get(format!("{}{path}", base.trim_end_matches('/')))).await
    }

    async fn read(&self, rb: reqwest::RequestBuilder) -> Result<Reply, SendError> {
        let limit = self.cfg.max_response;
        let mut resp = rb.send().await.map_err(|e| {
            // Only a failure to connect proves nothing left; any later failure may not.
            if e.is_connect() {
                SendError::Connect(e.without_url().to_string())
            } else {
                SendError::Unreachable(e.without_url().to_string())
            }
        })?;
        if resp.content_length().is_some_and(|n| n > limit as u64) {
            return Err(SendError::TooLarge { limit });
        }
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| SendError::Body(e.without_url().to_string()))? {
            if body.len().saturating_add(chunk.len()) > limit {
                return Err(SendError::TooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Reply { status, headers, body })
    }
}

fn path_and_query(s: &SignedRequest) -> String {
    if s.query.is_empty() { s.path.clone() } else { format!("{}?{}", s.path, s.query) }
}
