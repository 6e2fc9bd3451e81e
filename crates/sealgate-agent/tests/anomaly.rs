//! The agent's anomaly detectors (issue 17 item 5) against the exchange
//! sandbox: an order on an illiquid pair freezes the local credential, the
//! user is told through the confirm program, the evidence is in the agent's
//! audit log, and only the user's unlock lifts the freeze.

use std::collections::HashMap;
use std::time::Duration;

use sealgate_agent::{Agent, Config, Entry, KdfParams, Keystore, Secret, Secrets, read_frame, write_frame};
use sealgate_sandbox::{Amount, KeySpec, Market, Permissions, Sandbox, Venue};
use serde_json::{Value, json};
use tokio::net::UnixStream;

type R<T> = Result<T, Box<dyn std::error::Error>>;

async fn call(s: &mut UnixStream, v: Value) -> R<Value> {
    write_frame(s, &v).await?;
    let b = read_frame(s).await?.ok_or("agent closed")?;
    Ok(serde_json::from_slice(&b)?)
}

fn order(query: &str) -> Value {
    json!({"v":1,"op":"request","credential":"bot",
        "request":{"method":"POST","path":"/api/v3/order","query":query,"body":""}})
}

/// The sandbox: one Binance key for the bot (read, trade, withdraw), BTCUSDT and `extra`.
async fn sandbox(extra: Market) -> R<Sandbox> {
    let amt = |s: &str| Amount::parse(s).ok_or("amount");
    Ok(Sandbox::start(
        "127.0.0.1:0".parse()?,
        vec![KeySpec {
            venue: Venue::Binance,
            api_key: "agentkey".into(),
            secret: "CANARY-agent-secret-9b1f".into(),
            permissions: Permissions { read: true, trade: true, withdraw: true },
            allowed_ips: vec![],
            passphrase: None,
            balances: vec![("USDT".into(), amt("100000")?), ("BTC".into(), amt("1")?)],
        }],
        vec![
            Market { symbol: "BTCUSDT".into(), base: "BTC".into(), quote: "USDT".into(), price: amt("50000")? },
            extra,
        ],
    )
    .await?)
}

/// The bot's credential in the keystore: read and trade, no limits.
fn bot_entry() -> Entry {
    Entry {
        label: "bot".into(),
        exchange: "binance".into(),
        hint: "…tkey".into(),
        classes: vec!["read".into(), "trade".into()],
        symbols: None,
        max_notional: None,
        rate: None,
        added_ms: 0,
        lifetime_s: None,
        confirm: vec![],
        allow_sign: false,
        secrets: Secrets {
            api_key: Some(Secret::new("agentkey".into())),
            api_secret: Some(Secret::new("CANARY-agent-secret-9b1f".into())),
            ..Secrets::default()
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_on_an_illiquid_pair_freezes_and_the_user_is_told() -> R<()> {
    let amt = |s: &str| Amount::parse(s).ok_or("amount");
    let sandbox =
        sandbox(Market { symbol: "PUMPUSDT".into(), base: "PUMP".into(), quote: "USDT".into(), price: amt("0.05")? })
            .await?;
    assert!(sandbox.set_quote_volume("PUMPUSDT", amt("12000")?));
    let dir = tempfile::tempdir()?;
    // The confirm program: writes what it is shown, says yes.
    let told = dir.path().join("told.txt");
    let prog = dir.path().join("askpass.sh");
    std::fs::write(&prog, format!("#!/bin/sh\nprintf '%s\\n' \"$1\" >> '{}'\nexit 0\n", told.display()))?;
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o700))?;
    let mut ks = Keystore::create(&dir.path().join("ks"), b"pw", KdfParams::TEST)?;
    ks.add(bot_entry())?;
    ks.save()?;
    let audit = dir.path().join("audit.jsonl");
    let cfg = Config {
        socket: dir.path().join("run/agent.sock"),
        audit: audit.clone(),
        exchange_urls: HashMap::from([("binance".into(), format!("http://{}", sandbox.addr()))]),
        confirm_program: Some(prog),
        ..Config::default()
    };
    let agent = Agent::new(cfg.clone(), ks)?;
    let l = agent.bind()?;
    tokio::spawn(agent.serve(l));
    let mut c = UnixStream::connect(&cfg.socket).await?;

    let usual = "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.001";
    let r = call(&mut c, order(usual)).await?;
    assert_eq!(r["status"], 200, "{r}");
    // The pump: a limit buy of the illiquid pair.
    let pump = "symbol=PUMPUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1000&price=0.0515";
    let r = call(&mut c, order(pump)).await?;
    assert_eq!(r["error"], "denied", "{r}");
    let m = r["message"].as_str().unwrap_or("");
    assert!(m.contains("illiquid_pair") && m.contains("quote_volume_24h 12000") && m.contains("frozen"), "{r}");
    // Frozen: the usual order is refused too; a cancel still goes.
    let r = call(&mut c, order(usual)).await?;
    assert!(r["message"].as_str().unwrap_or("").contains("frozen"), "{r}");
    let cancel = json!({"v":1,"op":"request","credential":"bot",
        "request":{"method":"DELETE","path":"/api/v3/openOrders","query":"symbol=BTCUSDT","body":""}});
    let r = call(&mut c, cancel).await?;
    assert!(r.get("status").is_some(), "a cancel is let through: {r}");
    // The user was told through the confirm program (once), with the evidence.
    let mut notice = String::new();
    for _ in 0..100 {
        notice = std::fs::read_to_string(&told).unwrap_or_default();
        if !notice.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(notice.lines().count(), 1, "{notice}");
    assert!(
        notice.starts_with("sealgate agent: FROZEN binance \"bot\": anomaly illiquid_pair on PUMPUSDT"),
        "{notice}"
    );
    // The evidence is in the audit log; no secret anywhere.
    let log = std::fs::read_to_string(&audit)?;
    let rec = log.lines().find(|l| l.contains("anomaly_frozen")).ok_or("no anomaly_frozen record")?;
    assert!(rec.contains("\"rule\":\"illiquid_pair\"") && rec.contains("\"threshold\":\"50000\""), "{rec}");
    assert!(!log.contains("CANARY") && !notice.contains("CANARY"));
    // Only the user's unlock lifts it.
    let r = call(&mut c, json!({"v":1,"op":"lock"})).await?;
    assert_eq!(r["ok"], true, "{r}");
    let r = call(&mut c, json!({"v":1,"op":"unlock","passphrase":"pw"})).await?;
    assert_eq!(r["ok"], true, "{r}");
    let r = call(&mut c, order(usual)).await?;
    assert_eq!(r["status"], 200, "{r}");
    Ok(())
}

/// The baseline outlives a restart: learnt again from the audit chain the agent verified
/// (records a signed checkpoint covers), so a restart does not reset the detectors to a
/// credential with no history.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_baseline_is_learnt_again_from_the_chain_at_start() -> R<()> {
    let amt = |s: &str| Amount::parse(s).ok_or("amount");
    let sandbox =
        sandbox(Market { symbol: "ETHUSDT".into(), base: "ETH".into(), quote: "USDT".into(), price: amt("3000")? })
            .await?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("ks");
    let mut ks = Keystore::create(&path, b"pw", KdfParams::TEST)?;
    ks.add(bot_entry())?;
    ks.save()?;
    let cfg = |sock: &str| Config {
        socket: dir.path().join(sock),
        audit: dir.path().join("audit.jsonl"),
        exchange_urls: HashMap::from([("binance".into(), format!("http://{}", sandbox.addr()))]),
        ..Config::default()
    };
    let big_new = "symbol=ETHUSDT&side=BUY&type=MARKET&quantity=2";
    // The first run: 20 usual small orders (the history the new-symbol rule needs), then stop.
    {
        let agent = Agent::new(cfg("run1/agent.sock"), Keystore::open(&path, b"pw")?)?;
        let l = agent.bind()?;
        tokio::spawn(agent.clone().serve(l));
        let mut c = UnixStream::connect(dir.path().join("run1/agent.sock")).await?;
        for _ in 0..20 {
            let r = call(&mut c, order("symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.001")).await?;
            assert_eq!(r["status"], 200, "{r}");
        }
        agent.shutdown();
    }
    // A bot appends nothing the agent learns from: a record past the last checkpoint is
    // signed at the next start as a crash tail, but never learnt from (not tested here:
    // the agent appends only its own records). The second run remembers the 20 orders, so
    // a large order on a symbol never traded is judged, and freezes.
    let agent = Agent::new(cfg("run2/agent.sock"), Keystore::open(&path, b"pw")?)?;
    let l = agent.bind()?;
    tokio::spawn(agent.clone().serve(l));
    let mut c = UnixStream::connect(dir.path().join("run2/agent.sock")).await?;
    let r = call(&mut c, order(big_new)).await?;
    assert_eq!(r["error"], "denied", "the restarted agent forgot the history: {r}");
    let m = r["message"].as_str().unwrap_or("");
    assert!(m.contains("frozen") && (m.contains("new_symbol") || m.contains("burst")), "{r}");
    Ok(())
}
