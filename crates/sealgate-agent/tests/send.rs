//! The agent's `request` goes through the one send path: a redirect from
//! the exchange is not followed (the API-key header never reaches the
//! other port), and an endless answer is cut off with a clear error.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sealgate_agent::{Agent, Config, Entry, KdfParams, Keystore, Secret, Secrets, read_frame, write_frame};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, UnixStream};

type R<T> = Result<T, Box<dyn std::error::Error>>;

async fn call(s: &mut UnixStream, v: Value) -> R<Value> {
    write_frame(s, &v).await?;
    let b = read_frame(s).await?.ok_or("agent closed")?;
    Ok(serde_json::from_slice(&b)?)
}

/// A loopback server: counts connections, records each request head, answers
/// with `head`, then (when `endless`) writes without end.
async fn server(head: String, endless: bool) -> R<(String, Arc<AtomicUsize>, Arc<std::sync::Mutex<Vec<String>>>)> {
    let l = TcpListener::bind("127.0.0.1:0").await?;
    let addr = l.local_addr()?;
    let hits = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (h, s) = (hits.clone(), seen.clone());
    tokio::spawn(async move {
        loop {
            let Ok((mut c, _)) = l.accept().await else { return };
            h.fetch_add(1, Ordering::SeqCst);
            let (s, head) = (s.clone(), head.clone());
            tokio::spawn(async move {
                let mut got = Vec::new();
                let mut buf = [0u8; 8192];
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match c.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                s.lock().map(|mut v| v.push(String::from_utf8_lossy(&got).into_owned())).ok();
                if c.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = vec![b'x'; 64 * 1024];
                while endless && c.write_all(&chunk).await.is_ok() {}
            });
        }
    });
    Ok((format!("http://{addr}"), hits, seen))
}

async fn agent(dir: &std::path::Path, base: &str) -> R<UnixStream> {
    let mut ks = Keystore::create(&dir.join("ks"), b"pw", KdfParams::TEST)?;
    ks.add(Entry {
        label: "bin".into(),
        exchange: "binance".into(),
        hint: "…tkey".into(),
        classes: vec!["read".into()],
        symbols: None,
        max_notional: None,
        rate: None,
        added_ms: 0,
        lifetime_s: None,
        confirm: vec![],
        allow_sign: false,
        secrets: Secrets {
            api_key: Some(Secret::new("KEY-MUST-STAY-HOME".into())),
            api_secret: Some(Secret::new("agent-secret-xyz".into())),
            ..Secrets::default()
        },
    })?;
    let cfg = Config {
        socket: dir.join("run/agent.sock"),
        audit: dir.join("audit.jsonl"),
        exchange_urls: HashMap::from([("binance".into(), base.to_owned())]),
        ..Config::default()
    };
    let agent = Agent::new(cfg.clone(), ks)?;
    let l = agent.bind()?;
    tokio::spawn(agent.serve(l));
    Ok(UnixStream::connect(&cfg.socket).await?)
}

fn account() -> Value {
    json!({"v":1,"op":"request","credential":"bin",
        "request":{"method":"GET","path":"/api/v3/account","query":"","body":""}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_does_not_carry_the_key_elsewhere() -> R<()> {
    let (elsewhere, elsewhere_hits, _) =
        server("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}".into(), false).await?;
    let (exchange, hits, seen) = server(
        format!("HTTP/1.1 302 Found\r\nLocation: {elsewhere}/api/v3/account\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
        false,
    )
    .await?;
    let dir = tempfile::tempdir()?;
    let mut c = agent(dir.path(), &exchange).await?;
    let r = call(&mut c, account()).await?;
    assert_eq!((r["ok"].clone(), r["status"].clone()), (json!(true), json!(302)), "{r}");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    assert!(seen.lock().map_err(|_| "lock")?[0].contains("KEY-MUST-STAY-HOME"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(elsewhere_hits.load(Ordering::SeqCst), 0, "the redirect carried the request to another port");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_answer_is_cut_off() -> R<()> {
    let (exchange, _, _) = server("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".into(), true).await?;
    let dir = tempfile::tempdir()?;
    let mut c = agent(dir.path(), &exchange).await?;
    let r = tokio::time::timeout(Duration::from_secs(20), call(&mut c, account())).await??;
    assert_eq!(
        (r["ok"].clone(), r["error"].clone()),
        (json!(false), json!("upstream")),
        "{}",
        &r.to_string()[..200.min(r.to_string().len())]
    );
    let m = r["message"].as_str().unwrap_or("");
    assert!(m.contains("cut off") && m.contains(&sealgate_agent::MAX_RESPONSE.to_string()), "{m}");
    Ok(())
}
