//! The agent in-process against the exchange sandbox: list, sign, request,
//! a withdrawal denied and audited, the audit chain verifies.

use std::collections::HashMap;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_request_deny_and_audit() -> R<()> {
    let amt = |s: &str| Amount::parse(s).ok_or("amount");
    let sandbox = Sandbox::start(
        "127.0.0.1:0".parse()?,
        vec![KeySpec {
            venue: Venue::Binance,
            api_key: "agentkey".into(),
            secret: "agent-secret-xyz".into(),
            permissions: Permissions { read: true, trade: true, withdraw: true },
            allowed_ips: vec![],
            passphrase: None,
            balances: vec![("USDT".into(), amt("10000")?), ("BTC".into(), amt("1")?)],
        }],
        vec![Market { symbol: "BTCUSDT".into(), base: "BTC".into(), quote: "USDT".into(), price: amt("50000")? }],
    )
    .await?;
    let dir = tempfile::tempdir()?;
    let mut ks = Keystore::create(&dir.path().join("ks"), b"pw", KdfParams::TEST)?;
    ks.add(Entry {
        label: "bin".into(),
        exchange: "binance".into(),
        hint: "…tkey".into(),
        classes: vec!["read".into(), "trade".into()],
        symbols: Some(vec!["BTCUSDT".into()]),
        max_notional: Some("1000".into()),
        rate: None,
        added_ms: 0,
        lifetime_s: None,
        confirm: vec![],
        allow_sign: false,
        secrets: Secrets {
            api_key: Some(Secret::new("agentkey".into())),
            api_secret: Some(Secret::new("agent-secret-xyz".into())),
            ..Secrets::default()
        },
    })?;
    let audit = dir.path().join("audit.jsonl");
    let cfg = Config {
        socket: dir.path().join("run/agent.sock"),
        audit: audit.clone(),
        exchange_urls: HashMap::from([("binance".into(), format!("http://{}", sandbox.addr()))]),
        ..Config::default()
    };
    let agent = Agent::new(cfg.clone(), ks)?;
    let l = agent.bind()?;
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(std::fs::metadata(&cfg.socket)?.permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::metadata(dir.path().join("run"))?.permissions().mode() & 0o777, 0o700);
    tokio::spawn(agent.serve(l));
    let mut c = UnixStream::connect(&cfg.socket).await?;

    let list = call(&mut c, json!({"v":1,"op":"list"})).await?;
    assert_eq!(list["credentials"][0]["label"], "bin");
    assert!(!list.to_string().contains("agent-secret-xyz"));

    // The replay: a read whose query is a withdrawal's parameters.
    // Binance signs only query + body, so that signed query, sent to
    // POST /sapi/v1/capital/withdraw/apply, would withdraw: `sign` is refused.
    let replay = call(
        &mut c,
        json!({"v":1,"op":"sign","credential":"bin",
        "request":{"method":"GET","path":"/api/v3/account",
        "query":"coin=BTC&address=bc1qattacker&amount=0.5","body":""}}),
    )
    .await?;
    assert_eq!((replay["ok"].clone(), replay["error"].clone()), (json!(false), json!("denied")), "{replay}");
    let m = replay["message"].as_str().unwrap_or("");
    assert!(m.contains("method, path") && m.contains("`request`"), "{replay}");
    assert!(replay.get("signed").is_none(), "{replay}");

    let bal = call(
        &mut c,
        json!({"v":1,"op":"request","credential":"bin",
        "request":{"method":"GET","path":"/api/v3/account","query":"","body":""}}),
    )
    .await?;
    assert_eq!(bal["status"], 200, "{bal}");
    assert!(bal["body"].as_str().unwrap_or("").contains("USDT"), "{bal}");

    let order = call(
        &mut c,
        json!({"v":1,"op":"request","credential":"bin",
        "request":{"method":"POST","path":"/api/v3/order",
        "query":"symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.01&price=40000","body":""}}),
    )
    .await?;
    assert_eq!(order["status"], 200, "{order}");

    let big = call(
        &mut c,
        json!({"v":1,"op":"request","credential":"bin",
        "request":{"method":"POST","path":"/api/v3/order",
        "query":"symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=40000","body":""}}),
    )
    .await?;
    assert_eq!(big["error"], "denied", "{big}");

    let wd = call(
        &mut c,
        json!({"v":1,"op":"request","credential":"bin",
        "request":{"method":"POST","path":"/sapi/v1/capital/withdraw/apply",
        "query":"coin=BTC&address=bc1qattacker&amount=0.5","body":""}}),
    )
    .await?;
    assert_eq!(wd["ok"], false, "{wd}");
    assert_eq!(wd["error"], "denied", "{wd}");
    assert!(sandbox.withdrawals().is_empty(), "a withdrawal reached the exchange");

    let unknown = call(
        &mut c,
        json!({"v":1,"op":"request","credential":"bin",
        "request":{"method":"GET","path":"/api/v3/someNewThing","query":"","body":""}}),
    )
    .await?;
    assert_eq!(unknown["error"], "denied", "{unknown}");
    let badv = call(&mut c, json!({"v":2,"op":"list"})).await?;
    assert_eq!(badv["error"], "bad_request");

    let text = std::fs::read(&audit)?;
    let summary = sealgate_audit::jsonl::verify_export(&text, sealgate_audit::jsonl::Trust::None)?;
    let s = String::from_utf8(text)?;
    assert!(s.contains("withdraw/apply") && s.contains("\"denied\""), "{s}");
    assert!(s.contains("\"op\":\"sign\"") && s.contains("does not bind the method, path"), "{s}");
    assert!(!s.contains("\"signed\""), "no signature was handed out: {s}");
    assert_eq!(sandbox.free_balance("agentkey", "BTC"), Some(amt("1")?));
    assert!(!s.contains("agent-secret-xyz"));
    // One chained record per sign/request above, in order, each with its outcome (list and
    // the bad version are not credential uses), and no checkpoint yet (after the root
    // line naming the audit key that will sign them).
    assert!(s.starts_with("{\"type\":\"root\""), "{s}");
    let got: Vec<(String, String, String)> = s
        .lines()
        .skip(1)
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap_or_default();
            let f = |x: &serde_json::Value| x.as_str().unwrap_or("?").to_owned();
            (f(&v["action"]), f(&v["detail"]["op"]), f(&v["detail"]["path"]))
        })
        .collect();
    let want = [
        ("denied", "sign", "/api/v3/account"),
        ("forwarded", "request", "/api/v3/account"),
        ("forwarded", "request", "/api/v3/order"),
        ("denied", "request", "/api/v3/order"),
        ("denied", "request", "/sapi/v1/capital/withdraw/apply"),
        ("denied", "request", "/api/v3/someNewThing"),
    ];
    let want: Vec<(String, String, String)> =
        want.iter().map(|(a, o, p)| ((*a).to_owned(), (*o).to_owned(), (*p).to_owned())).collect();
    assert_eq!(got, want, "{s}");
    assert_eq!((summary.records, summary.last_seq), (want.len() as u64, want.len() as u64), "{summary:?}");
    assert_eq!((summary.checkpoints_verified, summary.checkpoints_unverified), (0, 0), "{summary:?}");
    Ok(())
}

/// A client outside `allow_exe` (the system python3: the test binary itself
/// is the agent's own executable, which stays allowed) that sends its
/// request before reading gets the refusal, not a reset connection
/// (closing a Unix socket with unread data resets it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_client_reads_the_refusal() -> R<()> {
    if let Err(e) = std::process::Command::new("python3").arg("-V").output() {
        sealgate_testkit::skip_or_fail(
            "SEALGATE_SKIP_INTEROP",
            "agent::a_refused_client_reads_the_refusal (a python3 client outside the allow-list)",
            &format!("python3 cannot be run: {e}"),
            "install python3 (Python >= 3.9), as `bash scripts/setup-interop.sh` requires",
        );
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let ks = Keystore::create(&dir.path().join("ks"), b"pw", KdfParams::TEST)?;
    let cfg = Config {
        socket: dir.path().join("run/agent.sock"),
        audit: dir.path().join("audit.jsonl"),
        allow_exe: vec![sealgate_agent::AllowedExe::pin(std::path::Path::new("/bin/true"))?],
        ..Config::default()
    };
    let agent = Agent::new(cfg.clone(), ks)?;
    let l = agent.bind()?;
    tokio::spawn(agent.serve(l));
    // Send, let the agent refuse and close, then read.
    let script = "import socket,struct,sys,time\n\
        s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])\n\
        b=b'{\"v\":1,\"op\":\"list\"}'; s.sendall(struct.pack('>I',len(b))+b); time.sleep(0.3)\n\
        h=s.recv(4); n=struct.unpack('>I',h)[0]; d=b''\n\
        while len(d)<n: d+=s.recv(n-len(d))\n\
        print(d.decode())";
    let out = tokio::process::Command::new("python3").arg("-c").arg(script).arg(&cfg.socket).output().await?;
    let text = String::from_utf8(out.stdout)?;
    assert!(
        text.contains("\"error\":\"refused\"") && text.contains("is not allowed"),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// What an HTTP server received: the request head, lower-cased. The public ticker GET
/// the anomaly detectors read before an order is answered 404 and not captured.
async fn capture_one(l: tokio::net::TcpListener) -> std::io::Result<String> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    loop {
        let (mut s, _) = l.accept().await?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 65536 {
            let n = s.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let head = String::from_utf8_lossy(&buf).to_lowercase();
        if head.starts_with("get /api/v5/market/ticker") {
            s.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await?;
            continue;
        }
        s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}").await?;
        return Ok(head);
    }
}

/// `request` sends a JSON body with `Content-Type: application/json` (OKX
/// and Coinbase refuse it otherwise), and a form body as a form.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_bodies_carry_their_media_type() -> R<()> {
    let dir = tempfile::tempdir()?;
    let mut ks = Keystore::create(&dir.path().join("ks"), b"pw", KdfParams::TEST)?;
    let secrets = |key: &str, pass: Option<&str>| Secrets {
        api_key: Some(Secret::new(key.into())),
        api_secret: Some(Secret::new("c2VjcmV0LXNlY3JldC1zZWNyZXQ=".into())),
        passphrase: pass.map(|p| Secret::new(p.into())),
        ..Secrets::default()
    };
    for (label, exchange, pass) in [("okx", "okx", Some("p")), ("bitstamp", "bitstamp", None)] {
        ks.add(Entry::new(label, exchange, secrets("k", pass), 0))?;
    }
    let okx = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let form = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let cfg = Config {
        socket: dir.path().join("run/agent.sock"),
        audit: dir.path().join("audit.jsonl"),
        exchange_urls: HashMap::from([
            ("okx".into(), format!("http://{}", okx.local_addr()?)),
            ("bitstamp".into(), format!("http://{}", form.local_addr()?)),
        ]),
        ..Config::default()
    };
    let (okx_head, form_head) = (tokio::spawn(capture_one(okx)), tokio::spawn(capture_one(form)));
    let agent = Agent::new(cfg.clone(), ks)?;
    let l = agent.bind()?;
    tokio::spawn(agent.serve(l));
    let mut c = UnixStream::connect(&cfg.socket).await?;
    let r = call(
        &mut c,
        json!({"v":1,"op":"request","credential":"okx","request":{"method":"POST","path":"/api/v5/trade/order","query":"",
            "body":"{\"instId\":\"BTC-USDT\",\"tdMode\":\"cash\",\"side\":\"buy\",\"ordType\":\"limit\",\"px\":\"1\",\"sz\":\"1\"}"}}),
    )
    .await?;
    assert_eq!(r["status"], 200, "{r}");
    let head = okx_head.await??;
    assert!(head.contains("\r\ncontent-type: application/json\r\n"), "{head}");
    let r = call(
        &mut c,
        json!({"v":1,"op":"request","credential":"bitstamp","request":{"method":"POST","path":"/api/v2/balance/",
            "query":"","body":"a=1"}}),
    )
    .await?;
    assert_eq!(r["status"], 200, "{r}");
    let head = form_head.await??;
    assert_eq!(head.matches("\r\ncontent-type: ").count(), 1, "{head}");
    Ok(())
}

/// `sign` needs both: an exchange whose signature binds the whole request
/// (Gate here), and the credential's explicit opt-in (`agent add
/// --allow-sign`). An opt-in for an exchange where it could never apply is
/// refused when the credential is added.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_needs_a_binding_signature_and_the_opt_in() -> R<()> {
    let dir = tempfile::tempdir()?;
    let secrets = || Secrets {
        api_key: Some(Secret::new("gatekey".into())),
        api_secret: Some(Secret::new("gate-secret-xyz".into())),
        ..Secrets::default()
    };
    let mut ks = Keystore::create(&dir.path().join("ks"), b"pw", KdfParams::TEST)?;
    ks.add(Entry::new("gate-off", "gate", secrets(), 0))?;
    ks.add(Entry { allow_sign: true, ..Entry::new("gate-on", "gate", secrets(), 0) })?;
    for exchange in ["binance", "kraken", "okx", "coinbase", "bybit", "kucoin"] {
        let e = ks.add(Entry { allow_sign: true, ..Entry::new("x", exchange, secrets(), 0) }).expect_err(exchange);
        assert!(e.to_string().contains("--allow-sign") && e.to_string().contains("`request`"), "{e}");
    }
    assert_eq!(ks.entries.iter().map(|e| e.public()["allow_sign"].clone()).collect::<Vec<_>>(), [false, true]);
    let cfg = Config {
        socket: dir.path().join("run/agent.sock"),
        audit: dir.path().join("audit.jsonl"),
        ..Config::default()
    };
    let agent = Agent::new(cfg.clone(), ks)?;
    let l = agent.bind()?;
    tokio::spawn(agent.serve(l));
    let mut c = UnixStream::connect(&cfg.socket).await?;
    let sign = |label: &str, path: &str| {
        json!({"v":1,"op":"sign","credential":label,
            "request":{"method":"GET","path":path,"query":"currency=BTC","body":""}})
    };

    let off = call(&mut c, sign("gate-off", "/api/v4/spot/accounts")).await?;
    assert_eq!(off["error"], "denied", "{off}");
    assert!(off["message"].as_str().unwrap_or("").contains("--allow-sign"), "{off}");
    let on = call(&mut c, sign("gate-on", "/api/v4/spot/accounts")).await?;
    assert_eq!(on["ok"], true, "{on}");
    assert_eq!(on["signed"]["query"], "currency=BTC", "{on}");
    assert!(on["signed"]["headers"].to_string().contains("\"SIGN\""), "{on}");
    assert!(!on.to_string().contains("gate-secret-xyz"), "{on}");
    // The policy still judges what is signed: a withdrawal is denied.
    let wd = call(&mut c, sign("gate-on", "/api/v4/withdrawals")).await?;
    assert_eq!(wd["error"], "denied", "{wd}");
    // The one path rule comes first: a path the URL library would rewrite is refused.
    for bad in ["/api/v4/spot/accounts/..", "/api/v4/spot/%61ccounts", "/api/v4\\spot/accounts"] {
        let r = call(&mut c, sign("gate-on", bad)).await?;
        assert_eq!(r["error"], "bad_request", "{bad}: {r}");
    }
    Ok(())
}

/// The agent checks the path before classifying it: the hidden
/// Coinbase order (`accounts/x\..\..\orders`, a read route's `{}` segment)
/// and hidden send-crypto path are refused, never classified as read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hidden_paths_are_refused_before_classification() -> R<()> {
    let dir = tempfile::tempdir()?;
    let mut ks = Keystore::create(&dir.path().join("ks"), b"pw", KdfParams::TEST)?;
    let secrets = Secrets {
        api_key: Some(Secret::new("bfxkey".into())),
        api_secret: Some(Secret::new("bfx-secret".into())),
        ..Secrets::default()
    };
    ks.add(Entry { classes: vec!["read".into()], ..Entry::new("bfx", "bitfinex", secrets, 0) })?;
    let cfg = Config {
        socket: dir.path().join("run/agent.sock"),
        audit: dir.path().join("audit.jsonl"),
        // Nothing listens there: a request that got through would fail as `upstream`.
        exchange_urls: HashMap::from([("bitfinex".into(), "http://127.0.0.1:9".into())]),
        ..Config::default()
    };
    let agent = Agent::new(cfg.clone(), ks)?;
    let l = agent.bind()?;
    tokio::spawn(agent.serve(l));
    let mut c = UnixStream::connect(&cfg.socket).await?;
    for path in ["/v2/auth/r/orders/..\\..\\w\\withdraw", "/v2/auth/r/orders/%2e%2e%2f%2e%2e%2fw%2fwithdraw"] {
        let r = call(
            &mut c,
            json!({"v":1,"op":"request","credential":"bfx",
                "request":{"method":"POST","path":path,"query":"","body":"{}"}}),
        )
        .await?;
        assert_eq!(r["error"], "bad_request", "{path}: {r}");
        assert!(r["message"].as_str().unwrap_or("").starts_with("invalid request: path holds"), "{r}");
    }
    Ok(())
}

/// A credential whose lifetime is over is frozen: it still cancels its open orders (the
/// policy the signer shares: cancelling only tightens), but a placement, a cancel-and-replace
/// and an amend are refused and audited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_credential_cancels_and_places_nothing() -> R<()> {
    let amt = |s: &str| Amount::parse(s).ok_or("amount");
    let sandbox = Sandbox::start(
        "127.0.0.1:0".parse()?,
        vec![KeySpec {
            venue: Venue::Binance,
            api_key: "agentkey2".into(),
            secret: "agent-secret-2".into(),
            permissions: Permissions { read: true, trade: true, withdraw: false },
            allowed_ips: vec![],
            passphrase: None,
            balances: vec![("USDT".into(), amt("10000")?), ("BTC".into(), amt("1")?)],
        }],
        vec![Market { symbol: "BTCUSDT".into(), base: "BTC".into(), quote: "USDT".into(), price: amt("50000")? }],
    )
    .await?;
    let dir = tempfile::tempdir()?;
    let mut ks = Keystore::create(&dir.path().join("ks"), b"pw", KdfParams::TEST)?;
    let now_ms = u64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis())?;
    ks.add(Entry {
        label: "short".into(),
        exchange: "binance".into(),
        hint: "…key2".into(),
        classes: vec!["read".into(), "trade".into()],
        symbols: None,
        max_notional: None,
        rate: None,
        // Alive for 2 s from now.
        added_ms: now_ms,
        lifetime_s: Some(2),
        confirm: vec![],
        allow_sign: false,
        secrets: Secrets {
            api_key: Some(Secret::new("agentkey2".into())),
            api_secret: Some(Secret::new("agent-secret-2".into())),
            ..Secrets::default()
        },
    })?;
    let audit = dir.path().join("audit.jsonl");
    let cfg = Config {
        socket: dir.path().join("run/agent.sock"),
        audit: audit.clone(),
        exchange_urls: HashMap::from([("binance".into(), format!("http://{}", sandbox.addr()))]),
        ..Config::default()
    };
    let agent = Agent::new(cfg.clone(), ks)?;
    let l = agent.bind()?;
    tokio::spawn(agent.serve(l));
    let mut c = UnixStream::connect(&cfg.socket).await?;
    let req = |method: &str, path: &str, query: &str| json!({"v":1,"op":"request","credential":"short","request":{"method":method,"path":path,"query":query,"body":""}});
    let placed = call(
        &mut c,
        req("POST", "/api/v3/order", "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.01&price=40000"),
    )
    .await?;
    assert_eq!(placed["status"], 200, "{placed}");
    let body: Value = serde_json::from_str(placed["body"].as_str().ok_or("body")?)?;
    let id = body["orderId"].as_u64().ok_or("order id")?;

    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    for (method, path, query) in [
        (
            "POST",
            "/api/v3/order",
            "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.01&price=40000".to_owned(),
        ),
        (
            "POST",
            "/api/v3/order/cancelReplace",
            format!(
                "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.01&price=40000\
                 &cancelReplaceMode=STOP_ON_FAILURE&cancelOrderId={id}"
            ),
        ),
        ("PUT", "/api/v3/order/amend/keepPriority", format!("symbol=BTCUSDT&orderId={id}&newQty=0.001")),
        ("GET", "/api/v3/account", String::new()),
    ] {
        let r = call(&mut c, req(method, path, &query)).await?;
        assert_eq!((r["ok"].clone(), r["error"].clone()), (json!(false), json!("denied")), "{path}: {r}");
    }
    let cancel = call(&mut c, req("DELETE", "/api/v3/order", &format!("symbol=BTCUSDT&orderId={id}"))).await?;
    assert_eq!(cancel["status"], 200, "an expired credential still cancels: {cancel}");
    assert!(cancel["body"].as_str().unwrap_or("").contains("CANCELED"), "{cancel}");
    let zero = amt("0")?;
    let locked: Vec<_> = sandbox.balances("agentkey2").into_iter().filter(|(_, _, l)| *l != zero).collect();
    assert!(locked.is_empty(), "nothing rests: {locked:?}");

    let s = std::fs::read_to_string(&audit)?;
    let actions: Vec<(String, String)> = s
        .lines()
        .skip(1)
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_default();
            (v["action"].as_str().unwrap_or("?").to_owned(), v["detail"]["path"].as_str().unwrap_or("?").to_owned())
        })
        .collect();
    let denied = actions.iter().filter(|(a, _)| a == "denied").count();
    assert_eq!(denied, 4, "each refusal is audited: {actions:?}");
    assert_eq!(actions.last().map(|(a, p)| (a.as_str(), p.as_str())), Some(("forwarded", "/api/v3/order")));
    Ok(())
}
