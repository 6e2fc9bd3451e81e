//! The one send path against loopback servers: a redirect is not followed
//! (the API-key headers never reach the other port), an endless or
//! oversized answer is cut off, and the Content-Type comes from the rule.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sealgate_exchanges::SignedRequest;
use sealgate_send::{SendConfig, SendError, Sender};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

/// A loopback server that counts connections, keeps what it read of each,
/// and answers every request with `reply` (a function of what it read).
struct Server {
    addr: std::net::SocketAddr,
    hits: Arc<AtomicUsize>,
    seen: Arc<std::sync::Mutex<Vec<String>>>,
}

async fn server(reply: fn(&str) -> Vec<u8>, endless: bool) -> Server {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    let hits = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (h, s) = (hits.clone(), seen.clone());
    tokio::spawn(async move {
        loop {
            let Ok((mut c, _)) = l.accept().await else { return };
            h.fetch_add(1, Ordering::SeqCst);
            let s = s.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let mut got = Vec::new();
                // Read the head (and a small body).
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match c.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
                if let Ok(n) = tokio::time::timeout(Duration::from_millis(50), c.read(&mut buf)).await.unwrap_or(Ok(0))
                {
                    got.extend_from_slice(&buf[..n]);
                }
                let text = String::from_utf8_lossy(&got).into_owned();
                s.lock().expect("lock").push(text.clone());
                if c.write_all(&reply(&text)).await.is_err() {
                    return;
                }
                if endless {
                    let chunk = vec![b'x'; 64 * 1024];
                    loop {
                        if c.write_all(&chunk).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    Server { addr, hits, seen }
}

fn signed(method: &str, path: &str, body: &str, headers: &[(&str, &str)]) -> SignedRequest {
    SignedRequest {
        method: method.into(),
        path: path.into(),
        query: "timestamp=1&signature=abc".into(),
        headers: headers.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect(),
        body: body.into(),
    }
}

fn sender(max: usize) -> Sender {
    Sender::new(SendConfig { timeout: Duration::from_secs(5), max_response: max }).expect("sender")
}

static TARGET: std::sync::OnceLock<String> = std::sync::OnceLock::new();

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_is_not_followed_and_the_key_goes_nowhere_else() {
    let elsewhere = server(|_| b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}".to_vec(), false).await;
    TARGET.set(format!("http://{}/steal", elsewhere.addr)).expect("once");
    let exchange = server(
        |_| {
            format!("HTTP/1.1 302 Found\r\nLocation: {}\r\nContent-Length: 0\r\n\r\n", TARGET.get().expect("target"))
                .into_bytes()
        },
        false,
    )
    .await;
    let r = sender(1 << 20)
        .send(
            "binance",
            &format!("http://{}", exchange.addr),
            &signed("GET", "/api/v3/account", "", &[("X-MBX-APIKEY", "KEY-MUST-NOT-TRAVEL")]),
        )
        .await
        .expect("the redirect, as the answer");
    assert_eq!(r.status, 302);
    assert_eq!(exchange.hits.load(Ordering::SeqCst), 1);
    assert!(exchange.seen.lock().expect("lock")[0].contains("KEY-MUST-NOT-TRAVEL"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(elsewhere.hits.load(Ordering::SeqCst), 0, "the redirect target was contacted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_answer_is_cut_off() {
    // A body without a length that never ends.
    let close_delimited = server(|_| b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_vec(), true).await;
    let s = sender(256 * 1024);
    let e = s
        .send("binance", &format!("http://{}", close_delimited.addr), &signed("GET", "/api/v3/account", "", &[]))
        .await
        .expect_err("cut off");
    assert_eq!(e, SendError::TooLarge { limit: 256 * 1024 });
    assert_eq!(e.to_string(), "exchange response larger than 262144 bytes; cut off");
    // A declared length over the bound: refused before reading.
    let big = server(|_| b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n".to_vec(), false).await;
    let e = s
        .send("binance", &format!("http://{}", big.addr), &signed("GET", "/api/v3/account", "", &[]))
        .await
        .expect_err("declared too large");
    assert_eq!(e, SendError::TooLarge { limit: 256 * 1024 });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_content_type_is_the_rule() {
    let ok = server(|_| b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}".to_vec(), false).await;
    let base = format!("http://{}", ok.addr);
    let s = sender(1 << 20);
    // OKX: JSON; Binance: a form, though the body looks like JSON; no body, no header.
    s.send("okx", &base, &signed("POST", "/api/v5/trade/order", r#"{"instId":"BTC-USDT"}"#, &[])).await.expect("okx");
    s.send("binance", &base, &signed("POST", "/api/v3/order", "symbol=BTCUSDT", &[])).await.expect("binance");
    s.send("okx", &base, &signed("GET", "/api/v5/account/balance", "", &[])).await.expect("okx get");
    let seen = ok.seen.lock().expect("lock").clone();
    let ct = |t: &str| t.lines().find_map(|l| l.to_ascii_lowercase().strip_prefix("content-type: ").map(str::to_owned));
    assert_eq!(ct(&seen[0]).as_deref(), Some("application/json"), "{}", seen[0]);
    assert_eq!(ct(&seen[1]).as_deref(), Some("application/x-www-form-urlencoded"), "{}", seen[1]);
    assert_eq!(ct(&seen[2]), None, "{}", seen[2]);
    // A signed request naming another Content-Type is not sent.
    let e = s
        .send(
            "okx",
            &base,
            &signed("POST", "/api/v5/trade/order", "instId=BTC-USDT", &[("Content-Type", "text/plain")]),
        )
        .await
        .expect_err("two content types");
    assert!(matches!(e, SendError::ContentType { .. }), "{e}");
    assert_eq!(ok.hits.load(Ordering::SeqCst), 3);
}
