//! The signer's send path (issue 14, items 4 and 7): an exchange's answer
//! is parsed, never searched; a request is re-sent at most once, and only
//! after a documented clock or nonce rejection; an order whose answer
//! merely contains a rejection code is sent once.

mod session;
mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sealgate_policy::Role;
use sealgate_server::signer::SignerConfig;
use serde_json::Value;
use support::*;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

async fn world() -> (tempfile::TempDir, World) {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("s.db").display());
    (dir, World::new(&url).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_whose_client_id_is_a_clock_code_is_sent_once() {
    let (_dir, world) = world().await;
    world.credential("alice", "cid-okx", "okx", &okx_json(), &[("trader", "read,trade")]).await;
    let signer = world.signer(world.signer_config());
    let order = r#"{"instId":"BTC-USDT","tdMode":"cash","side":"buy","ordType":"limit","px":"40000","sz":"0.01","clOrdId":"50102"}"#;
    let r =
        signer.forward(Role::Trader, &call("cid-okx", "POST", "/api/v5/trade/order", "", order)).await.expect("order");
    assert_eq!(r.status, 200, "{}", r.body);
    let v: Value = serde_json::from_str(&r.body).expect("json");
    assert_eq!((v["code"].as_str(), v["data"][0]["clOrdId"].as_str()), (Some("0"), Some("50102")), "{}", r.body);
    // Exactly one order rests on the book: the answer was not mistaken for a clock rejection.
    let r = signer
        .forward(Role::Trader, &call("cid-okx", "GET", "/api/v5/trade/orders-pending", "", ""))
        .await
        .expect("pending");
    let v: Value = serde_json::from_str(&r.body).expect("json");
    assert_eq!(v["data"].as_array().map(Vec::len), Some(1), "{}", r.body);
    assert_eq!(world.sandbox.free_balance(OKX_KEY, "USDT"), Some(amt("24600")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_genuine_clock_rejection_is_resent_once() {
    let (_dir, world) = world().await;
    world.credential("alice", "cid-okx", "okx", &okx_json(), &[("trader", "read,trade")]).await;
    let signer = world.signer(world.signer_config());
    // The exchange runs 45 s ahead of us: OKX's window is 30 s.
    world.sandbox.set_clock_offset_ms(45_000);
    let order = r#"{"instId":"BTC-USDT","tdMode":"cash","side":"buy","ordType":"limit","px":"40000","sz":"0.01"}"#;
    let r =
        signer.forward(Role::Trader, &call("cid-okx", "POST", "/api/v5/trade/order", "", order)).await.expect("order");
    assert_eq!(r.status, 200, "{}", r.body);
    let offset = signer.clock_offset_ms("okx");
    assert!((44_000..=46_000).contains(&offset), "{offset}");
    assert_eq!(world.sandbox.free_balance(OKX_KEY, "USDT"), Some(amt("24600")));
}

/// A loopback exchange that counts requests per path and answers each path
/// with a fixed status and body (`Connection: close`).
struct Fake {
    base: String,
    hits: Arc<Mutex<HashMap<String, usize>>>,
}

async fn fake(answers: Vec<(&'static str, u16, String)>) -> Fake {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", l.local_addr().expect("addr"));
    let hits = Arc::new(Mutex::new(HashMap::new()));
    let h = hits.clone();
    let answers = Arc::new(answers);
    tokio::spawn(async move {
        loop {
            let Ok((mut c, _)) = l.accept().await else { return };
            let (h, answers) = (h.clone(), answers.clone());
            tokio::spawn(async move {
                let mut got = Vec::new();
                let mut buf = [0u8; 8192];
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match c.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&got).into_owned();
                let path = head.split_whitespace().nth(1).unwrap_or("").split('?').next().unwrap_or("").to_owned();
                *h.lock().expect("lock").entry(path.clone()).or_insert(0) += 1;
                let (status, body) = answers
                    .iter()
                    .find(|(p, _, _)| *p == path)
                    .map_or((404, "{}".to_owned()), |(_, s, b)| (*s, b.clone()));
                let resp = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = c.write_all(resp.as_bytes()).await;
                let _ = c.shutdown().await;
            });
        }
    });
    Fake { base, hits }
}

impl Fake {
    fn hits(&self, path: &str) -> usize {
        self.hits.lock().expect("lock").get(path).copied().unwrap_or(0)
    }
}

fn now_ms() -> u64 {
    sealgate_server::now_ms()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_rejection_is_not_resent_again() {
    let (_dir, world) = world().await;
    world.credential("alice", "cid-okx", "okx", &okx_json(), &[("trader", "read,trade")]).await;
    world.credential("alice", "cid-kr", "kraken", &kraken_json(), &[("trader", "read,trade")]).await;
    let okx = fake(vec![
        ("/api/v5/public/time", 200, format!(r#"{{"code":"0","msg":"","data":[{{"ts":"{}"}}]}}"#, now_ms())),
        ("/api/v5/trade/order", 401, r#"{"code":"50102","msg":"Timestamp request expired","data":[]}"#.into()),
    ])
    .await;
    let kraken = fake(vec![("/0/private/AddOrder", 200, r#"{"error":["EAPI:Invalid nonce"]}"#.into())]).await;
    let cfg = SignerConfig {
        exchanges: HashMap::from([("okx".into(), okx.base.clone()), ("kraken".into(), kraken.base.clone())]),
        forward_timeout: Duration::from_secs(5),
        ..SignerConfig::default()
    };
    let signer = world.signer(cfg);
    let order = r#"{"instId":"BTC-USDT","tdMode":"cash","side":"buy","ordType":"limit","px":"40000","sz":"0.01"}"#;
    let r =
        signer.forward(Role::Trader, &call("cid-okx", "POST", "/api/v5/trade/order", "", order)).await.expect("answer");
    // The rejection comes back as the exchange gave it, after one re-signed copy.
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!((okx.hits("/api/v5/trade/order"), okx.hits("/api/v5/public/time")), (2, 1));
    // Kraken's nonce rejection: one fresh nonce, once.
    let add = "pair=XBTUSD&type=buy&ordertype=limit&price=30000&volume=0.01";
    let r =
        signer.forward(Role::Trader, &call("cid-kr", "POST", "/0/private/AddOrder", "", add)).await.expect("answer");
    assert!(r.body.contains("EAPI:Invalid nonce"), "{}", r.body);
    assert_eq!(kraken.hits("/0/private/AddOrder"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_that_only_mentions_a_code_is_final() {
    let (_dir, world) = world().await;
    world.credential("alice", "cid-okx", "okx", &okx_json(), &[("trader", "read,trade")]).await;
    world.credential("alice", "cid-bn", "binance", &binance_json(), &[("trader", "read,trade")]).await;
    let okx = fake(vec![
        ("/api/v5/public/time", 200, format!(r#"{{"code":"0","msg":"","data":[{{"ts":"{}"}}]}}"#, now_ms())),
        (
            "/api/v5/trade/order",
            200,
            r#"{"code":"1","msg":"","data":[{"clOrdId":"x","sCode":"50102","sMsg":"\"50102\""}]}"#.into(),
        ),
    ])
    .await;
    let binance = fake(vec![
        ("/api/v3/time", 200, format!(r#"{{"serverTime":{}}}"#, now_ms())),
        ("/api/v3/order", 400, r#"{"code":-2010,"msg":"Account has insufficient balance; -1021"}"#.into()),
    ])
    .await;
    let cfg = SignerConfig {
        exchanges: HashMap::from([("okx".into(), okx.base.clone()), ("binance".into(), binance.base.clone())]),
        ..SignerConfig::default()
    };
    let signer = world.signer(cfg);
    let order = r#"{"instId":"BTC-USDT","tdMode":"cash","side":"buy","ordType":"limit","px":"40000","sz":"0.01"}"#;
    signer.forward(Role::Trader, &call("cid-okx", "POST", "/api/v5/trade/order", "", order)).await.expect("answer");
    let q = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.01&price=40000";
    signer.forward(Role::Trader, &call("cid-bn", "POST", "/api/v3/order", q, "")).await.expect("answer");
    assert_eq!((okx.hits("/api/v5/trade/order"), okx.hits("/api/v5/public/time")), (1, 0));
    assert_eq!((binance.hits("/api/v3/order"), binance.hits("/api/v3/time")), (1, 0));
}
