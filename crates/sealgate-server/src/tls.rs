//! TLS on the listeners: rustls with the aws-lc-rs provider (the one the workspace
//! already uses), TLS 1.2 and 1.3 with rustls's safe defaults, from a PEM certificate
//! chain and a PEM private key.
//!
//! The pair is re-read without a restart, on SIGHUP and when either file changes
//! (checked every [`POLL`]). A new pair that does not load, or whose key does not
//! match its certificate, is refused with a logged error and the old pair stays. A
//! handshake takes the configuration current at that moment: established connections
//! are untouched, new ones get the new certificate. Each pair has a configuration (and
//! so a session cache) of its own: a session made under a replaced certificate is not
//! resumed, so after a rotation no new connection is vouched for by the old one.
//!
//! Error texts name the file and what is wrong with it, never key material: a
//! malformed key file is described in our words, not by the PEM parser's (which
//! may quote a line).

use std::io::Read as _;
use std::net::SocketAddr;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::pki_types::pem::{self, PemObject as _};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::net::{TcpListener, TcpStream};

/// How often the certificate and key files are checked for a change.
pub const POLL: Duration = Duration::from_secs(5);
/// A client that has not finished its handshake in this long is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in progress at once per listener; more wait for a slot (bounded memory
/// under a flood of slow clients).
const MAX_HANDSHAKES: usize = 512;
/// PEM files larger than this are refused (a chain is a few KiB).
const MAX_PEM: u64 = 1 << 20;

/// A certificate chain and its private key, as PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, leaf first (PEM `CERTIFICATE` blocks).
    pub cert: PathBuf,
    /// The private key (PEM PKCS#8, PKCS#1 RSA or SEC1 EC); a private file (0600).
    pub key: PathBuf,
}

/// Why a certificate/key pair was not loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The key file others can read or write (or its directory is unsafe).
    #[error("{path}: {why}")]
    NotPrivate {
        /// The file.
        path: String,
        /// What is wrong and the fix.
        why: String,
    },
    /// The certificate file is not a PEM certificate chain.
    #[error("{path}: not a PEM certificate chain: {why}")]
    BadCertificate {
        /// The file.
        path: String,
        /// What is wrong.
        why: String,
    },
    /// The key file is not a PEM private key.
    #[error("{path}: not a PEM private key: {why}")]
    BadKey {
        /// The file.
        path: String,
        /// What is wrong (never the key's text).
        why: String,
    },
    /// The key does not belong to the certificate, or is of a kind rustls cannot use.
    #[error("{key}: {why} (certificate {cert})")]
    Mismatch {
        /// The certificate file.
        cert: String,
        /// The key file.
        key: String,
        /// What is wrong.
        why: String,
    },
    /// rustls refused the configuration.
    #[error("tls: {0}")]
    Config(String),
}

fn read_bounded(path: &Path) -> Result<zeroize::Zeroizing<Vec<u8>>, TlsError> {
    let fail = |source| TlsError::Read { path: path.display().to_string(), source };
    let file = std::fs::File::open(path).map_err(fail)?;
    let mut buf = zeroize::Zeroizing::new(Vec::new());
    file.take(MAX_PEM + 1).read_to_end(&mut buf).map_err(fail)?;
    if buf.len() as u64 > MAX_PEM {
        return Err(fail(std::io::Error::other(format!("larger than {MAX_PEM} bytes"))));
    }
    Ok(buf)
}

fn pem_why(e: &pem::Error, what: &str) -> String {
    match e {
        pem::Error::NoItemsFound => format!("no {what} in it"),
        pem::Error::MissingSectionEnd { .. } => "a PEM section has no END line".into(),
        pem::Error::IllegalSectionStart { .. } => "a malformed BEGIN line".into(),
        pem::Error::Base64Decode(_) => "malformed base64 in a PEM section".into(),
        pem::Error::SectionTooLarge => "a PEM section is too large".into(),
        _ => "malformed PEM".into(),
    }
}

/// The aws-lc-rs provider, named explicitly: the process never depends on which
/// provider happens to be the default.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Loads and checks a pair: the key file is private, both parse, the key matches the
/// leaf certificate's public key.
pub fn load(files: &TlsFiles) -> Result<Arc<CertifiedKey>, TlsError> {
    let (cert_name, key_name) = (files.cert.display().to_string(), files.key.display().to_string());
    crate::serve::check_private_file(&files.key).map_err(|why| TlsError::NotPrivate { path: key_name.clone(), why })?;
    let cert_pem = read_bounded(&files.cert)?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::BadCertificate { path: cert_name.clone(), why: pem_why(&e, "certificate") })?;
    if chain.is_empty() {
        return Err(TlsError::BadCertificate {
            path: cert_name,
            why: "no certificate in it (expected -----BEGIN CERTIFICATE-----)".into(),
        });
    }
    let key_pem = read_bounded(&files.key)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| TlsError::BadKey {
        path: key_name.clone(),
        why: pem_why(&e, "private key (PKCS#8, PKCS#1 RSA or SEC1 EC)"),
    })?;
    let mismatch = |why: String| TlsError::Mismatch { cert: cert_name.clone(), key: key_name.clone(), why };
    let certified = CertifiedKey::from_der(chain, key, &provider()).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => mismatch("the private key does not match the certificate".into()),
        rustls::Error::InvalidCertificate(c) => {
            TlsError::BadCertificate { path: cert_name.clone(), why: format!("the first certificate: {c:?}") }
        }
        // rustls's key-loading errors name the kinds it tried, never the key.
        other => mismatch(format!("unusable private key: {other}")),
    })?;
    // `from_der` lets a key whose public half it cannot derive pass; refuse it here.
    certified.keys_match().map_err(|_| mismatch("the private key does not match the certificate".into()))?;
    Ok(Arc::new(certified))
}

/// One loaded pair.
#[derive(Debug)]
struct Fixed(Arc<CertifiedKey>);

impl ResolvesServerCert for Fixed {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

/// The rustls configuration for a pair: TLS 1.2 and 1.3, rustls's safe defaults.
fn server_config(pair: Arc<CertifiedKey>) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(Fixed(pair)));
    // Our listeners speak HTTP/1.1 only.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The configuration a new handshake gets; replaced by the reload task.
type Current = Arc<RwLock<Arc<rustls::ServerConfig>>>;

fn current(c: &Current) -> Arc<rustls::ServerConfig> {
    c.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
}

/// TLS for one listener: its current rustls configuration and the task that re-reads
/// the files.
pub struct ServerTls {
    config: Current,
    watcher: tokio::task::JoinHandle<()>,
}

impl Drop for ServerTls {
    fn drop(&mut self) {
        self.watcher.abort();
    }
}

/// What identifies a file's content without reading it: inode, size and modification time.
type Stamp = Option<(u64, u64, i64, i64)>;

fn stamp(files: &TlsFiles) -> (Stamp, Stamp) {
    let one = |p: &Path| std::fs::metadata(p).ok().map(|m| (m.ino(), m.size(), m.mtime(), m.mtime_nsec()));
    (one(&files.cert), one(&files.key))
}

impl ServerTls {
    /// Loads `files` (an error stops the start) and starts watching them: on SIGHUP and
    /// when a file changes (checked every `poll`), the pair is reloaded. `name` names the
    /// listener in the logs. Needs a tokio runtime.
    pub fn start(name: &'static str, files: TlsFiles, poll: Duration) -> Result<Self, TlsError> {
        let mut seen = stamp(&files);
        let config: Current = Arc::new(RwLock::new(server_config(load(&files)?)?));
        let shared = config.clone();
        // The signal handler is installed now, before the listener announces itself, so a
        // SIGHUP sent after the start line never takes the default action (exit).
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        if hup.is_none() {
            tracing::warn!(listener = name, "cannot install a SIGHUP handler; certificates reload on change only");
        }
        let watcher = tokio::spawn(async move {
            loop {
                let signalled = tokio::select! {
                    _ = async {
                        match hup.as_mut() {
                            Some(s) => { s.recv().await; }
                            None => std::future::pending::<()>().await,
                        }
                    } => true,
                    () = tokio::time::sleep(poll) => false,
                };
                let now = stamp(&files);
                if !signalled && now == seen {
                    continue;
                }
                // A broken pair is not retried until a file changes again (or SIGHUP).
                seen = now;
                let why = if signalled { "SIGHUP" } else { "file changed" };
                match load(&files).and_then(server_config) {
                    Ok(new) => {
                        *shared.write().unwrap_or_else(std::sync::PoisonError::into_inner) = new;
                        tracing::info!(listener = name, cert = %files.cert.display(), why, "tls: certificate reloaded");
                    }
                    Err(e) => tracing::error!(
                        listener = name,
                        error = %e,
                        why,
                        "tls: new certificate/key refused; still serving the previous one"
                    ),
                }
            }
        });
        Ok(Self { config, watcher })
    }

    /// A TLS listener on `tcp` with this configuration.
    pub fn listener(&self, tcp: TcpListener) -> std::io::Result<TlsListener> {
        TlsListener::new(tcp, self.config.clone())
    }
}

/// An [`axum::serve::Listener`] that yields connections after their TLS handshake.
///
/// Handshakes run in tasks of their own (bounded, with a timeout), so a slow or silent
/// client never holds up the accept loop. A client that speaks plain HTTP gets a short
/// `400` saying to use https, instead of a bare reset.
pub struct TlsListener {
    rx: tokio::sync::mpsc::Receiver<(tokio_rustls::server::TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
    acceptor: tokio::task::JoinHandle<()>,
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

impl TlsListener {
    fn new(tcp: TcpListener, config: Current) -> std::io::Result<Self> {
        let local = tcp.local_addr()?;
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        let slots = Arc::new(tokio::sync::Semaphore::new(MAX_HANDSHAKES));
        let acceptor = tokio::spawn(async move {
            loop {
                let (stream, peer) = match tcp.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        // Out of descriptors and the like: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Ok(slot) = slots.clone().acquire_owned().await else { return };
                let (tls, tx) = (tokio_rustls::TlsAcceptor::from(current(&config)), tx.clone());
                tokio::spawn(async move {
                    let _slot = slot;
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(&tls, stream)).await {
                        Ok(Ok(conn)) => {
                            let _ = tx.send((conn, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "tls handshake failed"),
                        Err(_) => tracing::debug!(%peer, "tls handshake timed out"),
                    }
                });
            }
        });
        Ok(Self { rx, local, acceptor })
    }
}

async fn handshake(
    tls: &tokio_rustls::TlsAcceptor,
    mut stream: TcpStream,
) -> std::io::Result<tokio_rustls::server::TlsStream<TcpStream>> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut first = [0u8; 1];
    let n = stream.peek(&mut first).await?;
    // A TLS connection starts with a handshake record (0x16); an HTTP request with a
    // method name. Tell the plain-HTTP client what to do instead of resetting it.
    if n == 1 && first[0].is_ascii_uppercase() {
        // Read (some of) the request first: closing with unread data would reset the
        // connection and lose the answer.
        let mut head = [0u8; 8192];
        let _ = stream.read(&mut head).await?;
        let body = "this listener speaks TLS: use https://\n";
        let answer = format!(
            "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.write_all(answer.as_bytes()).await;
        let _ = stream.shutdown().await;
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "plain HTTP on a TLS listener"));
    }
    tls.accept(stream).await
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(conn) => conn,
            // The accept task ended (it only does when its runtime stops): accept nothing more.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
