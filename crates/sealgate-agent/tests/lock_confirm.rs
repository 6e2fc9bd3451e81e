//! Lock/unlock (like `ssh-add -x/-X`) and confirm-on-use (like `ssh-add -c`)
//! on a real agent in-process, with a real confirm program (a shell script).

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sealgate_agent::{
    Agent, Config, Entry, KdfParams, Keystore, KeystoreError, Secret, Secrets, read_frame, write_frame,
};
use serde_json::{Value, json};
use tokio::net::UnixStream;

type R<T> = Result<T, Box<dyn std::error::Error>>;

const SECRET: &str = "lock-test-secret-9f8e7d";
const PASS: &[u8] = b"correct horse";

async fn call(s: &mut UnixStream, v: Value) -> R<Value> {
    write_frame(s, &v).await?;
    let b = read_frame(s).await?.ok_or("agent closed")?;
    Ok(serde_json::from_slice(&b)?)
}

fn entry(confirm: &[&str]) -> Entry {
    let secrets = Secrets {
        api_key: Some(Secret::new("agentkey".into())),
        api_secret: Some(Secret::new(SECRET.into())),
        ..Secrets::default()
    };
    Entry { confirm: confirm.iter().map(|c| (*c).to_owned()).collect(), ..Entry::new("bin", "binance", secrets, 0) }
}

/// A saved keystore and an agent on it, serving.
async fn agent(dir: &Path, name: &str, confirm: &[&str], cfg: Config) -> R<(Arc<Agent>, std::path::PathBuf)> {
    let ks_path = dir.join(format!("{name}.ks"));
    let mut ks = Keystore::create(&ks_path, PASS, KdfParams::TEST)?;
    ks.add(entry(confirm))?;
    ks.save()?;
    let sock = dir.join(name).join("agent.sock");
    let exchange_urls = std::collections::HashMap::from([("binance".to_owned(), answering_server().await?)]);
    let cfg = Config { socket: sock.clone(), audit: dir.join(format!("{name}.audit.jsonl")), exchange_urls, ..cfg };
    let a = Agent::new(cfg, ks)?;
    let l = a.bind()?;
    tokio::spawn(a.clone().serve(l));
    Ok((a, sock))
}

/// An exchange stand-in for `request`: answers every request 200 `{}`.
async fn answering_server() -> R<String> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", l.local_addr()?);
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}").await;
            });
        }
    });
    Ok(url)
}

// Bots use `request` (the agent signs and sends); `sign` is refused for Binance.
fn read_req() -> Value {
    json!({"v":1,"op":"request","credential":"bin","request":{"method":"GET","path":"/api/v3/account","query":"","body":""}})
}

fn order_req() -> Value {
    json!({"v":1,"op":"request","credential":"bin","request":{"method":"POST","path":"/api/v3/order",
        "query":"symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.01&price=40000","body":""}})
}

fn audit_text(dir: &Path, name: &str) -> R<String> {
    let text = std::fs::read(dir.join(format!("{name}.audit.jsonl")))?;
    sealgate_audit::jsonl::verify_export(&text, sealgate_audit::jsonl::Trust::None)?;
    Ok(String::from_utf8(text)?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_drops_credentials_and_unlock_needs_the_passphrase() -> R<()> {
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let (_agent, sock) = agent(d, "l", &[], Config::default()).await?;
    let mut c = UnixStream::connect(&sock).await?;
    assert_eq!(call(&mut c, read_req()).await?["ok"], true);

    // Unlock when not locked: refused, nothing changes.
    let r = call(&mut c, json!({"v":1,"op":"unlock","passphrase":"correct horse"})).await?;
    assert_eq!(r["error"], "bad_request", "{r}");

    let r = call(&mut c, json!({"v":1,"op":"lock"})).await?;
    assert_eq!((r["ok"].clone(), r["locked"].clone()), (json!(true), json!(true)), "{r}");
    let list = call(&mut c, json!({"v":1,"op":"list"})).await?;
    assert_eq!(list["locked"], true, "{list}");
    assert_eq!(list["credentials"], json!([]), "{list}");
    for req in [read_req(), order_req()] {
        let r = call(&mut c, req).await?;
        assert_eq!(r["error"], "locked", "{r}");
        assert!(r["message"].as_str().unwrap_or("").contains("sealgate agent unlock"), "{r}");
    }
    let mut req = read_req();
    req["op"] = json!("request");
    assert_eq!(call(&mut c, req).await?["error"], "locked");
    // Locking twice is fine.
    assert_eq!(call(&mut c, json!({"v":1,"op":"lock"})).await?["locked"], true);

    // Bad unlock messages.
    let r = call(&mut c, json!({"v":1,"op":"unlock"})).await?;
    assert_eq!(r["error"], "bad_request", "{r}");
    let r = call(&mut c, json!({"v":1,"op":"unlock","passphrase":42})).await?;
    assert_eq!(r["error"], "bad_request", "{r}");

    // A wrong passphrase: stays locked; the next try waits 1 s.
    let r = call(&mut c, json!({"v":1,"op":"unlock","passphrase":"wrong horse"})).await?;
    assert_eq!(r["error"], "wrong_passphrase", "{r}");
    assert!(r["message"].as_str().unwrap_or("").contains("1000 ms"), "{r}");
    let t0 = Instant::now();
    let r = call(&mut c, json!({"v":1,"op":"unlock","passphrase":"correct horse"})).await?;
    assert_eq!(r["error"], "rate_limited", "even the right passphrase waits: {r}");
    assert_eq!(call(&mut c, read_req()).await?["error"], "locked");
    tokio::time::sleep(Duration::from_millis(1050).saturating_sub(t0.elapsed())).await;
    // A second wrong one doubles the delay.
    let r = call(&mut c, json!({"v":1,"op":"unlock","passphrase":"wrong again"})).await?;
    assert_eq!(r["error"], "wrong_passphrase", "{r}");
    assert!(r["message"].as_str().unwrap_or("").contains("2000 ms"), "{r}");
    tokio::time::sleep(Duration::from_millis(2050)).await;

    // A corrupted keystore: a clear error, still locked; restored, it unlocks.
    let ks = d.join("l.ks");
    let good = std::fs::read(&ks)?;
    let mut bad = good.clone();
    let last = bad.len() - 3;
    bad[last] ^= 1;
    std::fs::write(&ks, &bad)?;
    let r = call(&mut c, json!({"v":1,"op":"unlock","passphrase":"correct horse"})).await?;
    assert_eq!(r["error"], "keystore", "{r}");
    assert!(r["message"].as_str().unwrap_or("").contains("corrupted"), "{r}");
    assert_eq!(call(&mut c, read_req()).await?["error"], "locked");
    std::fs::write(&ks, &good)?;

    let r = call(&mut c, json!({"v":1,"op":"unlock","passphrase":"correct horse"})).await?;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["credentials"], 1, "{r}");
    assert_eq!(call(&mut c, read_req()).await?["ok"], true);
    assert_eq!(call(&mut c, json!({"v":1,"op":"list"})).await?["credentials"][0]["label"], "bin");

    let audit = audit_text(d, "l")?;
    for needle in ["agent_locked", "agent_unlocked", "unlock_failed", "unlock_refused", "\"reason\":\"locked\""] {
        assert!(audit.contains(needle), "audit lacks {needle}: {audit}");
    }
    assert!(!audit.contains("correct horse") && !audit.contains("wrong horse") && !audit.contains(SECRET));
    Ok(())
}

/// A confirm program: records its argument, answers what `answer` says.
fn askpass(dir: &Path) -> R<std::path::PathBuf> {
    let p = dir.join("askpass.sh");
    let d = dir.display();
    std::fs::write(
        &p,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$1\" >> {d}/asked\nread a < {d}/answer\n\
             case \"$a\" in yes) exit 0;; slow) sleep 30; exit 0;; *) exit 1;; esac\n"
        ),
    )?;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755))?;
    Ok(p)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirm_on_use_asks_the_program_and_denies_by_default() -> R<()> {
    let dir = tempfile::tempdir()?;
    let d = dir.path();

    // No confirm program: trade needs confirmation → denied; read is not asked.
    let (_a0, sock0) = agent(d, "none", &["trade"], Config::default()).await?;
    let mut c = UnixStream::connect(&sock0).await?;
    let list = call(&mut c, json!({"v":1,"op":"list"})).await?;
    assert_eq!(list["credentials"][0]["confirm"], json!(["trade"]), "{list}");
    assert_eq!(call(&mut c, read_req()).await?["ok"], true);
    let r = call(&mut c, order_req()).await?;
    assert_eq!(r["error"], "denied", "{r}");
    assert!(r["message"].as_str().unwrap_or("").contains("no confirm program"), "{r}");

    let prog = askpass(d)?;
    let cfg = Config { confirm_program: Some(prog), confirm_timeout: Duration::from_secs(2), ..Config::default() };
    let (_a, sock) = agent(d, "ask", &["trade"], cfg).await?;
    let mut c = UnixStream::connect(&sock).await?;

    std::fs::write(d.join("answer"), "yes\n")?;
    let r = call(&mut c, order_req()).await?;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["status"], 200, "{r}");
    let asked = std::fs::read_to_string(d.join("asked"))?;
    assert_eq!(
        asked.trim(),
        "sealgate agent: allow binance \"bin\" trade POST /api/v3/order symbol=BTCUSDT side=buy quantity=0.01 \
         price=40000?"
    );
    // A read of the same credential is not asked about.
    assert_eq!(call(&mut c, read_req()).await?["ok"], true);
    assert_eq!(std::fs::read_to_string(d.join("asked"))?.lines().count(), 1);

    std::fs::write(d.join("answer"), "no\n")?;
    let r = call(&mut c, order_req()).await?;
    assert_eq!(r["error"], "denied", "{r}");
    assert!(r["message"].as_str().unwrap_or("").contains("refused"), "{r}");

    // No answer in time: denied after the timeout, and meanwhile the agent
    // serves its other clients.
    std::fs::write(d.join("answer"), "slow\n")?;
    let sock2 = sock.clone();
    let slow = tokio::spawn(async move {
        let mut c = UnixStream::connect(&sock2).await.map_err(|e| e.to_string())?;
        let t = Instant::now();
        let r = call(&mut c, order_req()).await.map_err(|e| e.to_string())?;
        Ok::<_, String>((r, t.elapsed()))
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t = Instant::now();
    let mut other = UnixStream::connect(&sock).await?;
    assert_eq!(call(&mut other, read_req()).await?["ok"], true);
    assert_eq!(call(&mut other, json!({"v":1,"op":"list"})).await?["ok"], true);
    let quick = t.elapsed();
    assert!(quick < Duration::from_millis(500), "other clients waited {quick:?} for the confirmation");
    let (r, took) = slow.await??;
    assert_eq!(r["error"], "denied", "{r}");
    assert!(r["message"].as_str().unwrap_or("").contains("no answer within 2 s"), "{r}");
    assert!(took >= Duration::from_secs(2) && took < Duration::from_secs(10), "{took:?}");

    let audit = audit_text(d, "ask")?;
    assert!(audit.contains("\"confirm\":\"allowed\""), "{audit}");
    assert_eq!(audit.matches("\"confirm\":\"denied\"").count(), 2, "{audit}");
    assert!(audit_text(d, "none")?.contains("no confirm program"));
    Ok(())
}

#[test]
fn confirm_classes_are_checked_when_added() -> R<()> {
    let dir = tempfile::tempdir()?;
    let mut ks = Keystore::create(&dir.path().join("ks"), PASS, KdfParams::TEST)?;
    for (bad, why) in [(&["withdraw"][..], "not among"), (&["bogus"], "unknown class"), (&["trade", "trade"], "twice")]
    {
        let e = ks.add(entry(bad)).err().ok_or("bad confirm list accepted")?;
        assert!(matches!(e, KeystoreError::Invalid(_)) && e.to_string().contains(why), "{e}");
    }
    ks.add(entry(&["read", "trade"]))?;
    ks.save()?;
    let again = Keystore::open(&dir.path().join("ks"), PASS)?;
    assert_eq!(again.entries[0].confirm, ["read", "trade"]);
    Ok(())
}
