//! Where importers and traders find a signer: one or more signer base URLs, checked in
//! the background, with failover that never sends a request twice.
//!
//! - Health: every [`HEALTH_EVERY`] each signer's `/readyz` is asked (timeout
//!   [`HEALTH_TIMEOUT`]); the answer `200` keeps it in the healthy set.
//! - Choice: round robin over the healthy signers (load spreads over the fleet); when
//!   every one of those fails to connect, the others are tried too (the health view may
//!   be up to one period old).
//! - Failover only on a CONNECT failure (TCP or TLS handshake): the request never left
//!   this process. Any failure after the request may have been written (a timeout, a
//!   reset, a half answer) is returned as "may have been sent" and NOT retried on another
//!   signer: a `/v1/forward` may already have reached the exchange, and sending it again
//!   could place an order twice.
//! - TLS: `https://` URLs are verified against `--signer-ca` (a PEM bundle; only those
//!   roots) or, without it, the system's roots (rustls-platform-verifier).

use std::path::Path;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::client::SignerCallError;

/// How often each signer's `/readyz` is checked.
pub const HEALTH_EVERY: Duration = Duration::from_secs(2);
/// How long a health check may take.
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(1);
/// Connecting to one signer may take this long before the next one is tried.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// A whole call (the signer waits on the exchange).
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a signer pool could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PoolError {
    /// A signer URL is not usable.
    #[error("--signer-url {url:?}: {why}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What is wrong.
        why: String,
    },
    /// The CA file could not be read or holds no certificate.
    #[error("--signer-ca {path}: {why}")]
    BadCa {
        /// The file.
        path: String,
        /// What is wrong.
        why: String,
    },
    /// The HTTP client could not be built.
    #[error("signer client: {0}")]
    Client(String),
}

/// Health of a signer: not checked yet (used as healthy), healthy, unhealthy.
const UNKNOWN: u8 = 0;
const HEALTHY: u8 = 1;
const UNHEALTHY: u8 = 2;

struct Endpoint {
    url: String,
    health: AtomicU8,
}

impl Endpoint {
    fn usable(&self) -> bool {
        self.health.load(Ordering::Relaxed) != UNHEALTHY
    }
}

/// A set of signers reached over one HTTP client.
pub struct SignerPool {
    signers: Vec<Endpoint>,
    http: reqwest::Client,
    next: AtomicUsize,
    roots: String,
}

/// Checks one signer base URL: `http` or `https`, a host, no credentials, query or
/// fragment; returned without a trailing `/`.
fn parse_url(text: &str) -> Result<(String, bool), PoolError> {
    let bad = |why: &str| PoolError::BadUrl { url: without_userinfo(text), why: why.to_owned() };
    let url = reqwest::Url::parse(text.trim()).map_err(|e| bad(&e.to_string()))?;
    let https = match url.scheme() {
        "https" => true,
        "http" => false,
        _ => return Err(bad("must be an http:// or https:// URL")),
    };
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() || url.query().is_some() || url.fragment().is_some() {
        return Err(bad("must not carry credentials, a query or a fragment"));
    }
    Ok((url.as_str().trim_end_matches('/').to_owned(), https))
}

/// `text` with anything between `://` and `@` (a user and password) replaced: errors
/// never echo a password.
fn without_userinfo(text: &str) -> String {
    match (text.find("://"), text.find('@')) {
        (Some(s), Some(at)) if at > s => format!("{}[REDACTED]{}", &text[..s + 3], &text[at..]),
        _ => text.to_owned(),
    }
}

/// Whether a URL's host is this machine (plain http stays on it).
fn is_loopback(url: &str) -> bool {
    let Some(host) = reqwest::Url::parse(url).ok().and_then(|u| u.host_str().map(str::to_owned)) else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => bare.eq_ignore_ascii_case("localhost"),
    }
}

/// The innermost cause of a client error, bounded, without the URL (ours to add).
fn cause(e: &reqwest::Error) -> String {
    let mut last = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        last = s.to_string();
        source = s.source();
    }
    let mut text: String = last.chars().filter(|c| !c.is_control()).take(200).collect();
    if e.is_timeout() && !text.contains("timed out") {
        text = format!("timed out ({text})");
    }
    text
}

impl SignerPool {
    /// A pool of the signers at `urls` (each a base URL, e.g. `https://s1:8788`), verifying
    /// `https` ones against the PEM bundle `ca` (only its roots) or the system's roots.
    pub fn new(urls: &[String], ca: Option<&Path>) -> Result<Self, PoolError> {
        if urls.is_empty() {
            return Err(PoolError::BadUrl { url: String::new(), why: "no signer URL given".into() });
        }
        let mut signers: Vec<Endpoint> = Vec::with_capacity(urls.len());
        for text in urls {
            let (url, https) = parse_url(text)?;
            if ca.is_some() && !https {
                return Err(PoolError::BadUrl {
                    url: url.clone(),
                    why: "--signer-ca is given, so every signer URL must be https://".into(),
                });
            }
            if signers.iter().any(|s| s.url == url) {
                return Err(PoolError::BadUrl { url, why: "given twice".into() });
            }
            signers.push(Endpoint { url, health: AtomicU8::new(UNKNOWN) });
        }
        // The service token never follows a redirect elsewhere.
        let mut builder = reqwest::Client::builder()
            .timeout(CALL_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .min_tls_version(reqwest::tls::Version::TLS_1_2);
        let roots = match ca {
            Some(path) => {
                let bad = |why: String| PoolError::BadCa { path: path.display().to_string(), why };
                let pem = std::fs::read(path).map_err(|e| bad(format!("cannot read: {e}")))?;
                let certs = reqwest::Certificate::from_pem_bundle(&pem)
                    .map_err(|_| bad("not a PEM certificate bundle".into()))?;
                if certs.is_empty() {
                    return Err(bad("no certificate in it (expected -----BEGIN CERTIFICATE-----)".into()));
                }
                builder = builder.tls_certs_only(certs);
                format!("CA {}", path.display())
            }
            None => "the system's roots".to_owned(),
        };
        let http = builder.build().map_err(|e| PoolError::Client(e.to_string()))?;
        Ok(Self { signers, http, next: AtomicUsize::new(0), roots })
    }

    /// The signers' base URLs, in the order given.
    pub fn urls(&self) -> Vec<&str> {
        self.signers.iter().map(|s| s.url.as_str()).collect()
    }

    /// What `https` URLs are verified against (for the start-up line).
    pub fn roots(&self) -> &str {
        &self.roots
    }

    /// Warnings to print at start: plain `http` to another host.
    pub fn warnings(&self) -> Vec<String> {
        self.signers
            .iter()
            .filter(|s| s.url.starts_with("http://") && !is_loopback(&s.url))
            .map(|s| {
                format!(
                    "signer URL {} is plain http to another host: service tokens and exchange answers \
                     cross the network in clear; serve the signer's service listener with TLS and use \
                     https:// (with --signer-ca)",
                    s.url
                )
            })
            .collect()
    }

    /// Whether the signer at `url` is in the healthy set (tests, diagnostics).
    /// `None` before the first check.
    pub fn is_healthy(&self, url: &str) -> Option<bool> {
        match self.signers.iter().find(|s| s.url == url)?.health.load(Ordering::Relaxed) {
            HEALTHY => Some(true),
            UNHEALTHY => Some(false),
            _ => None,
        }
    }

    /// Records a signer's health; a change (and the first result) is logged.
    fn mark(&self, i: usize, healthy: bool, why: &str) {
        let Some(s) = self.signers.get(i) else { return };
        let new = if healthy { HEALTHY } else { UNHEALTHY };
        if s.health.swap(new, Ordering::Relaxed) != new {
            if healthy {
                tracing::info!(signer = %s.url, "signer healthy");
            } else {
                tracing::warn!(signer = %s.url, reason = why, "signer unhealthy; calls go to the others");
            }
        }
    }

    /// Asks every signer's `/readyz` once, concurrently, and updates the healthy set.
    pub async fn check_once(&self) {
        let mut checks = tokio::task::JoinSet::new();
        for (i, s) in self.signers.iter().enumerate() {
            let (http, url) = (self.http.clone(), format!("{}/readyz", s.url));
            checks.spawn(async move {
                let outcome = match http.get(url).timeout(HEALTH_TIMEOUT).send().await {
                    Ok(resp) if resp.status() == reqwest::StatusCode::OK => Ok(()),
                    Ok(resp) => Err(format!("/readyz answered {}", resp.status())),
                    Err(e) => Err(cause(&e)),
                };
                (i, outcome)
            });
        }
        while let Some(done) = checks.join_next().await {
            match done {
                Ok((i, Ok(()))) => self.mark(i, true, ""),
                Ok((i, Err(why))) => self.mark(i, false, &why),
                Err(_) => {} // a check task cannot panic; a cancelled one changes nothing
            }
        }
    }

    /// Checks the signers now and then every `every`, until the pool is dropped.
    pub fn spawn_health_checks(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let weak: Weak<Self> = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                match weak.upgrade() {
                    Some(pool) => pool.check_once().await,
                    None => return,
                }
                tokio::time::sleep(every).await;
            }
        })
    }

    /// The order to try signers in: the healthy ones round robin, then the rest.
    fn order(&self) -> Vec<usize> {
        let n = self.signers.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        let rotated = (0..n).map(|k| (start + k) % n);
        let (mut healthy, rest): (Vec<usize>, Vec<usize>) = rotated.partition(|&i| self.signers[i].usable());
        healthy.extend(rest);
        healthy
    }

    /// Sends the request `build` makes for a signer base URL, to one signer: the next
    /// one only when connecting failed. The response, or why there is none.
    pub(crate) async fn send<F>(&self, build: F) -> Result<reqwest::Response, SignerCallError>
    where
        F: Fn(&reqwest::Client, &str) -> reqwest::RequestBuilder,
    {
        let mut tried = Vec::new();
        for i in self.order() {
            let url = &self.signers[i].url;
            match build(&self.http, url).send().await {
                Ok(resp) => return Ok(resp),
                Err(e) if e.is_connect() => {
                    let why = cause(&e);
                    self.mark(i, false, &why);
                    tried.push(format!("{url} ({why})"));
                }
                Err(e) => {
                    let why = cause(&e);
                    tracing::warn!(signer = %url, reason = %why, "signer call failed after the request was sent; not resent");
                    return Err(SignerCallError::Indeterminate(format!(
                        "the signer at {url} failed after the request was sent ({why}); it may have been \
                         sent to the exchange, so it was not sent again"
                    )));
                }
            }
        }
        tracing::warn!(tried = %tried.join(", "), "no signer reachable");
        Err(SignerCallError::Unavailable(format!("no signer reachable; tried {}", tried.join(", "))))
    }
}
