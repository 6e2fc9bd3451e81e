//! Importers and traders reach signers over real TLS (a CA made in the test, rustls on
//! both ends, the real signer and exchange sandbox behind it):
//!
//! - https verified against `--signer-ca` works; a wrong CA or the system roots refuse
//!   the signer's certificate, with an error that says so and names the URL;
//! - several signers: one down from the start, one stopped mid-run: calls still succeed;
//!   all down: one error naming every URL tried;
//! - the no-resend rule: a signer that takes the connection, reads the order and drops
//!   it gets no second copy elsewhere: the order reached the exchange at most once;
//! - configuration mistakes are refused in words.

mod session;
mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::serve::{Listener as _, ListenerExt as _};
use sealgate_server::client::{SignerCallError, SignerClient};
use sealgate_server::service_auth::{ServiceKey, ServiceVerifier};
use sealgate_server::signer::HttpSignerClient;
use sealgate_server::signer_pool::SignerPool;
use sealgate_server::tls::{ServerTls, TlsFiles};
use sealgate_testkit::pki::{Issued, Pki};
use support::*;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

fn files(i: &Issued) -> TlsFiles {
    TlsFiles { cert: i.cert.clone(), key: i.key.clone() }
}

fn pki(dir: &std::path::Path, name: &str) -> Pki {
    Pki::new(dir, name).unwrap_or_else(|e| panic!("test CA: {e}"))
}

/// A running HTTPS server; `stop` shuts it down gracefully (its port then refuses).
struct Served {
    url: String,
    forwards: Arc<AtomicUsize>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    _tls: ServerTls,
}

impl Served {
    async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), &mut self.task).await.expect("stopped in time");
    }
}

/// Serves `app` (plus `/readyz`) over TLS with `files`, counting `/v1/forward` calls.
async fn serve_tls(app: Router, files: TlsFiles) -> Served {
    use std::future::IntoFuture as _;
    let tls = ServerTls::start("test", files, Duration::from_secs(3600)).expect("tls");
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("https://{}", tcp.local_addr().expect("addr"));
    let forwards = Arc::new(AtomicUsize::new(0));
    let counted = forwards.clone();
    let app = Router::new().route("/readyz", axum::routing::get(|| async { "ready\n" })).merge(app).layer(
        axum::middleware::from_fn(move |req: axum::extract::Request, next: axum::middleware::Next| {
            if req.uri().path() == "/v1/forward" {
                counted.fetch_add(1, Ordering::SeqCst);
            }
            next.run(req)
        }),
    );
    let listener = tls.listener(tcp).expect("tls listener").tap_io(|_| {});
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(
        axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .into_future(),
    );
    Served { url, forwards, stop: Some(tx), task, _tls: tls }
}

struct Setup {
    world: World,
    trader: Arc<ServiceKey>,
    router: Router,
    dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("s.db").display());
    let world = World::new(&url).await;
    world.credential("alice", "cid-bn", "binance", &binance_json(), &[("trader", "read,trade")]).await;
    let signer = world.signer(world.signer_config());
    let (trader, _) = ServiceKey::generate("trader").expect("key");
    let verifier = Arc::new(ServiceVerifier::new([("trader".to_owned(), trader.public_key())].into()));
    Setup { router: signer.router(verifier), world, trader: Arc::new(trader), dir }
}

fn order() -> sealgate_server::client::ForwardCall {
    call("cid-bn", "POST", "/api/v3/order", "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.01", "")
}

fn client(pool: SignerPool, key: &Arc<ServiceKey>) -> (Arc<SignerPool>, HttpSignerClient) {
    let pool = Arc::new(pool);
    (pool.clone(), HttpSignerClient::with_pool(pool, key.clone()))
}

/// A port nothing listens on (bound, then released).
async fn closed_port() -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    drop(l);
    format!("https://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_to_the_signer_is_verified_against_the_configured_ca() {
    let s = setup().await;
    let ca = pki(s.dir.path(), "right");
    let other = pki(s.dir.path(), "wrong");
    let cert = ca.issue("signer", "signer-1", 1).expect("cert");
    let served = serve_tls(s.router.clone(), files(&cert)).await;
    let read = call("cid-bn", "GET", "/api/v3/account", "", "");

    // The right CA, by IP and by name (both in the certificate).
    for url in [served.url.clone(), served.url.replace("127.0.0.1", "localhost")] {
        let (pool, c) = client(SignerPool::new(std::slice::from_ref(&url), Some(&ca.ca)).expect("pool"), &s.trader);
        let r = c.forward(&read).await.unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(r.status, 200, "{}", r.body);
        pool.check_once().await;
        assert_eq!(pool.is_healthy(&url), Some(true));
        assert!(pool.roots().contains("right-ca.pem"), "{}", pool.roots());
    }
    assert_eq!(served.forwards.load(Ordering::SeqCst), 2);

    // Another CA, or the system's roots: the certificate is refused before any request.
    for (ca_file, what) in [(Some(other.ca.as_path()), "wrong CA"), (None, "system roots")] {
        let (pool, c) = client(SignerPool::new(std::slice::from_ref(&served.url), ca_file).expect("pool"), &s.trader);
        match c.forward(&read).await {
            Err(SignerCallError::Unavailable(m)) => {
                assert!(m.contains("no signer reachable") && m.contains(&served.url), "{what}: {m}");
                assert!(m.to_lowercase().contains("certificate"), "{what}: the cause is named: {m}");
            }
            other => panic!("{what}: {other:?}"),
        }
        pool.check_once().await;
        assert_eq!(pool.is_healthy(&served.url), Some(false), "{what}");
    }
    assert_eq!(served.forwards.load(Ordering::SeqCst), 2, "nothing reached the signer without trust");
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signer_down_or_stopped_mid_run_is_skipped_and_all_down_names_every_url() {
    let s = setup().await;
    let ca = pki(s.dir.path(), "fleet");
    let cert = ca.issue("signer", "signer", 7).expect("cert");
    let a = serve_tls(s.router.clone(), files(&cert)).await;
    let b = serve_tls(s.router.clone(), files(&cert)).await;
    let down = closed_port().await;
    let urls = vec![down.clone(), a.url.clone(), b.url.clone()];
    let (pool, c) = client(SignerPool::new(&urls, Some(&ca.ca)).expect("pool"), &s.trader);
    assert_eq!(pool.urls(), urls.iter().map(String::as_str).collect::<Vec<_>>());
    let read = call("cid-bn", "GET", "/api/v3/account", "", "");
    for i in 0..12 {
        let r = c.forward(&read).await.unwrap_or_else(|e| panic!("call {i} with one signer down: {e}"));
        assert_eq!(r.status, 200);
    }
    assert_eq!(pool.is_healthy(&down), Some(false), "a refused connection takes it out of the healthy set");
    let (na, nb) = (a.forwards.load(Ordering::SeqCst), b.forwards.load(Ordering::SeqCst));
    assert_eq!(na + nb, 12, "each call reached exactly one signer");
    assert!(na >= 4 && nb >= 4, "round robin over the healthy ones: {na} / {nb}");

    // One of the two healthy signers stops mid-run: once the health check has seen it, every
    // later call succeeds. (A call racing the stop on a kept-alive connection to it is, rightly,
    // "may have been sent": nothing tells a closed idle connection from a signer that died
    // mid-call, so it is never resent; `a_call_that_may_have_reached…` tests that.)
    let stopped = a.url.clone();
    a.stop().await;
    settle_down(&pool, &stopped).await;
    for i in 0..8 {
        let r = c.forward(&read).await.unwrap_or_else(|e| panic!("call {i} after a signer stopped: {e}"));
        assert_eq!(r.status, 200);
    }
    assert_eq!(b.forwards.load(Ordering::SeqCst), nb + 8);
    pool.check_once().await;
    assert_eq!(
        (pool.is_healthy(&down), pool.is_healthy(&a_url(&urls)), pool.is_healthy(&b.url)),
        (Some(false), Some(false), Some(true))
    );

    // All down (and seen so by the health check, as above): one clear error naming each URL.
    let last = b.url.clone();
    b.stop().await;
    settle_down(&pool, &stopped).await;
    settle_down(&pool, &last).await;
    match c.forward(&read).await {
        Err(SignerCallError::Unavailable(m)) => {
            assert!(m.starts_with("no signer reachable; tried "), "{m}");
            for u in &urls {
                assert!(m.contains(u.as_str()), "{u} not named in {m}");
            }
        }
        other => panic!("all down: {other:?}"),
    }
}

fn a_url(urls: &[String]) -> String {
    urls[1].clone()
}

/// A signer that takes the TLS connection and reads the whole call, then drops it
/// without an answer (a crash after the request arrived); `/readyz` it answers, so it
/// stays in the healthy set. Counts the calls it swallowed.
async fn swallowing_signer(files: TlsFiles) -> (String, Arc<AtomicUsize>, ServerTls) {
    let tls = ServerTls::start("swallow", files, Duration::from_secs(3600)).expect("tls");
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("https://{}", tcp.local_addr().expect("addr"));
    let mut listener = tls.listener(tcp).expect("listener");
    let swallowed = Arc::new(AtomicUsize::new(0));
    let count = swallowed.clone();
    tokio::spawn(async move {
        loop {
            let (mut conn, _) = listener.accept().await;
            let count = count.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let Ok(n) = conn.read(&mut chunk).await else { return };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    let Some(end) = text.find("\r\n\r\n") else { continue };
                    if text.starts_with("GET /readyz") {
                        let _ = conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nready\n").await;
                        buf.clear();
                        continue;
                    }
                    let len = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned())
                        })
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + len {
                        count.fetch_add(1, Ordering::SeqCst);
                        return; // dropped: the caller cannot know whether it was acted on
                    }
                }
            });
        }
    });
    (url, swallowed, tls)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_that_may_have_reached_a_signer_is_never_sent_to_another() {
    let s = setup().await;
    let ca = pki(s.dir.path(), "noresend");
    let cert = ca.issue("signer", "signer", 9).expect("cert");
    let (swallow_url, swallowed, _tls) = swallowing_signer(files(&cert)).await;
    let real = serve_tls(s.router.clone(), files(&cert)).await;
    let (pool, c) =
        client(SignerPool::new(&[swallow_url.clone(), real.url.clone()], Some(&ca.ca)).expect("pool"), &s.trader);
    pool.check_once().await;
    assert_eq!((pool.is_healthy(&swallow_url), pool.is_healthy(&real.url)), (Some(true), Some(true)));

    let btc_before = s.world.sandbox.free_balance(BINANCE_KEY, "BTC").expect("balance");
    let (mut placed, mut maybe) = (0usize, 0usize);
    for i in 0..6 {
        match c.forward(&order()).await {
            Ok(r) => {
                assert_eq!(r.status, 200, "{}", r.body);
                placed += 1;
            }
            Err(SignerCallError::Indeterminate(m)) => {
                assert!(m.contains("may have been sent") && m.contains(&swallow_url), "call {i}: {m}");
                maybe += 1;
            }
            Err(e) => panic!("call {i}: {e}"),
        }
    }
    let (gone, reached) = (swallowed.load(Ordering::SeqCst), real.forwards.load(Ordering::SeqCst));
    assert_eq!(gone, maybe, "each swallowed call is reported as 'may have been sent', not resent");
    assert!(maybe >= 1, "round robin sent some orders to the swallowing signer");
    assert_eq!(reached, placed, "no swallowed order was sent again to the other signer");
    assert_eq!(gone + reached, 6, "every order went to exactly one signer");
    // The exchange saw exactly the orders the real signer placed (0.01 BTC each).
    let btc_after = s.world.sandbox.free_balance(BINANCE_KEY, "BTC").expect("balance");
    let expected = format!("{:.2}", 1.5 + 0.01 * placed as f64);
    assert_eq!(btc_before, amt("1.5"));
    assert_eq!(btc_after, amt(&expected), "placed {placed}");
    real.stop().await;
}

#[test]
fn signer_pool_configuration_mistakes_are_refused_in_words() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = pki(dir.path(), "cfg");
    let refuse = |urls: &[&str], ca: Option<&std::path::Path>| {
        let urls: Vec<String> = urls.iter().map(|u| (*u).to_owned()).collect();
        match SignerPool::new(&urls, ca) {
            Ok(_) => panic!("{urls:?} accepted"),
            Err(e) => e.to_string(),
        }
    };
    let e = refuse(&["http://127.0.0.1:8788"], Some(&ca.ca));
    assert!(e.contains("--signer-ca is given, so every signer URL must be https://"), "{e}");
    let e = refuse(&["ftp://s1:8788"], None);
    assert!(e.contains("--signer-url \"ftp://s1:8788\": must be an http:// or https:// URL"), "{e}");
    let e = refuse(&["https://u:p@s1:8788"], None);
    assert!(e.contains("must not carry credentials") && !e.contains("u:p"), "the password is not echoed: {e}");
    let e = refuse(&["https://s1:8788", "https://s1:8788/"], None);
    assert!(e.contains("given twice"), "{e}");
    let e = refuse(&[], None);
    assert!(e.contains("no signer URL given"), "{e}");
    let missing = dir.path().join("missing.pem");
    let e = refuse(&["https://s1:8788"], Some(&missing));
    assert!(e.contains("--signer-ca") && e.contains("missing.pem: cannot read"), "{e}");
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate\n").expect("write");
    let e = refuse(&["https://s1:8788"], Some(&junk));
    assert!(e.contains("junk.pem: no certificate in it") || e.contains("not a PEM certificate bundle"), "{e}");

    // Plain http leaving the machine is warned about; loopback is not.
    let pool = SignerPool::new(
        &[
            "http://10.0.0.5:8788".into(),
            "http://127.0.0.1:8788".into(),
            "http://localhost:1".into(),
            "http://[::1]:2".into(),
        ],
        None,
    )
    .expect("pool");
    let w = pool.warnings();
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("http://10.0.0.5:8788 is plain http to another host"), "{w:?}");
    assert_eq!(pool.roots(), "the system's roots");
}

/// Health checks until `url` is out of the healthy set, then one more: the client has then
/// also dropped its kept-alive connections to it (a call on one of those, racing the stop,
/// would rightly be "may have been sent").
async fn settle_down(pool: &SignerPool, url: &str) {
    for _ in 0..50 {
        pool.check_once().await;
        if pool.is_healthy(url) == Some(false) {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            pool.check_once().await;
            return;
        }
    }
    panic!("{url} still healthy after it stopped");
}
