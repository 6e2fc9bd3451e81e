//! Proof of the desktop agent (issue 7): a real `sealgate agent start`
//! child process, the exchange sandbox in-process, and a ccxt bot (the
//! `.venv-interop` python, `pip install ./clients/python` done by the test).
//! Needs `scripts/setup-interop.sh`: without the venv the tests FAIL, unless
//! `SEALGATE_SKIP_INTEROP=1` (then they skip with a notice on stderr).
//!
//! The checks that need privileges run as root (as CI does): the other-uid
//! refusal (a throwaway system user) and the scans of the non-dumpable
//! agent's memory (CAP_SYS_PTRACE). Not root, they FAIL unless
//! `SEALGATE_SKIP_ROOT_CHECKS=1`. The memory lock is checked in every case
//! against what the hardening promises for the test's privileges.

mod common;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sealgate_sandbox::{Amount, KeySpec, Market, Permissions, Sandbox, Venue};
use sealgate_testkit::privileges::{CAP_IPC_LOCK, has_capability, is_root, memlock_unlimited, root_checks, status_kb};

type R<T> = Result<T, Box<dyn std::error::Error>>;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
const SECRET: &str = "Zq7sealgateAgentSecret0xC0FFEE9d1e";
const API_KEY: &str = "agentproofkey";

fn python() -> String {
    format!("{ROOT}/.venv-interop/bin/python")
}

/// The agent's memory lock is what its startup line reports, and what the
/// hardening promises for these privileges: locked as root with
/// CAP_IPC_LOCK or under an unlimited `RLIMIT_MEMLOCK`; otherwise left
/// unlocked (with the warning that says how to fix it), never half-done.
fn check_memory_lock(pid: u32, startup: &str) -> R<()> {
    // The agent inherits this process's RLIMIT_MEMLOCK and privileges.
    let vmlck = status_kb(pid, "VmLck:")?;
    let reported = if startup.contains("memory locked: true") {
        true
    } else if startup.contains("memory locked: false") {
        false
    } else {
        return Err(format!("the agent's startup line does not report the memory lock: {startup}").into());
    };
    assert_eq!(reported, vmlck > 0, "agent reports memory locked: {reported}, kernel VmLck: {vmlck} kB");
    if (is_root() && has_capability(CAP_IPC_LOCK)) || memlock_unlimited() {
        assert!(reported, "memory can be locked here but the agent did not lock it: {startup}");
        // mlockall(MCL_CURRENT): the whole resident set, not a few pages.
        let rss = status_kb(pid, "VmRSS:")?;
        assert!(vmlck >= rss, "agent VmLck {vmlck} kB below its VmRSS {rss} kB: not all memory is locked");
    } else if !is_root() {
        assert!(!reported, "unprivileged, under a finite RLIMIT_MEMLOCK, the agent must not lock: {startup}");
    }
    Ok(())
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_sealgate")
}

/// Every readable mapping of `pid`, searched for `needle`: whether it was
/// found, and how many bytes were read. Fails when the process's memory
/// cannot be read at all, so "not found" always means "searched".
fn memory_contains(pid: u32, needle: &[u8]) -> R<(bool, usize)> {
    Ok(sealgate_testkit::memory::contains(pid, needle)?)
}

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for(p: &Path) -> R<()> {
    let t = Instant::now();
    while !p.exists() {
        if t.elapsed() > Duration::from_secs(20) {
            return Err(format!("{} never appeared", p.display()).into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// A running agent, its socket, and its startup line.
fn start_agent(dir: &Path, name: &str, sandbox: &str, extra: &[&str]) -> R<(Kill, PathBuf, String)> {
    let sock = dir.join(name).join("agent.sock");
    let mut cmd = Command::new(bin());
    cmd.args(["agent", "start", "--keystore"])
        .arg(dir.join("ks"))
        .arg("--socket")
        .arg(&sock)
        .arg("--audit")
        .arg(dir.join("audit.jsonl"))
        .args(
            [
                "binance",
                "kraken",
                "okx",
                "coinbase",
                "bybit",
                "bitget",
                "kucoin",
                "gate",
                "mexc",
                "poloniex",
                "bitfinex",
                "gemini",
                "bitstamp",
                "coinbase-exchange",
                "deribit",
            ]
            .iter()
            .flat_map(|x| ["--exchange-url".to_owned(), format!("{x}={sandbox}")]),
        )
        .args(extra)
        .env("SEALGATE_AGENT_PASSPHRASE_FILE", dir.join("pw"))
        .stderr(Stdio::piped());
    let mut child = cmd.spawn()?;
    let mut err = BufReader::new(child.stderr.take().ok_or("stderr")?);
    let mut line = String::new();
    err.read_line(&mut line)?;
    assert!(line.contains("listening on"), "agent: {line}");
    assert!(line.contains("non-dumpable: true") && line.contains("core 0: true"), "agent: {line}");
    wait_for(&sock)?;
    Ok((Kill(child), sock, line))
}

fn run_py(code: &str, args: &[&str]) -> R<std::process::Output> {
    Ok(Command::new(python()).arg("-c").arg(code).args(args).output()?)
}

/// Whether the pinned venv is there; installs the client into it. Without
/// it the test FAILS, unless `SEALGATE_SKIP_INTEROP=1` (then `false`, after
/// a notice on stderr).
fn python_ready(test: &str) -> R<bool> {
    if !Path::new(&python()).exists() {
        sealgate_testkit::skip_or_fail(
            "SEALGATE_SKIP_INTEROP",
            &format!("agent_proof::{test} (a Python bot through the desktop agent)"),
            &format!("{} does not exist", python()),
            "run `bash scripts/setup-interop.sh`",
        );
        return Ok(false);
    }
    pip_install()?;
    Ok(true)
}

/// A file readable by its owner only (the passphrase files).
fn write_private(path: &Path, text: &str) -> R<()> {
    std::fs::write(path, text)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(())
}

/// A sandbox with one Binance key (`API_KEY`, `secret`): 10000 USDT, 1 BTC; market BTCUSDT at 50000.
async fn binance_sandbox(secret: &str, withdraw: bool) -> R<Sandbox> {
    let amt = |s: &str| Amount::parse(s).ok_or("amount");
    Ok(Sandbox::start(
        "127.0.0.1:0".parse()?,
        vec![KeySpec {
            venue: Venue::Binance,
            api_key: API_KEY.into(),
            secret: secret.into(),
            permissions: Permissions { read: true, trade: true, withdraw },
            allowed_ips: vec![],
            passphrase: None,
            balances: vec![("USDT".into(), amt("10000")?), ("BTC".into(), amt("1")?)],
        }],
        vec![Market { symbol: "BTCUSDT".into(), base: "BTC".into(), quote: "USDT".into(), price: amt("50000")? }],
    )
    .await?)
}

/// `pip install ./clients/python` into the venv, once per test binary (the
/// tests run in parallel and two pips would race).
fn pip_install() -> R<()> {
    static DONE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ok = *DONE.get_or_init(|| {
        Command::new(python())
            .args(["-m", "pip", "install", "-q", &format!("{ROOT}/clients/python")])
            .status()
            .is_ok_and(|s| s.success())
    });
    if ok { Ok(()) } else { Err("pip install ./clients/python failed".into()) }
}

/// `sealgate agent add` with the secret fields as JSON on stdin.
fn add_credential(d: &Path, args: &[&str], secrets: &str) -> R<std::process::Output> {
    let mut add = Command::new(bin())
        .args(["agent", "add"])
        .args(args)
        .arg("--keystore")
        .arg(d.join("ks"))
        .env("SEALGATE_AGENT_PASSPHRASE_FILE", d.join("pw"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    add.stdin.take().ok_or("stdin")?.write_all(secrets.as_bytes())?;
    Ok(add.wait_with_output()?)
}

/// `sealgate agent list` of the keystore in `d`.
fn agent_list(d: &Path) -> R<String> {
    let out = Command::new(bin())
        .args(["agent", "list", "--keystore"])
        .arg(d.join("ks"))
        .env("SEALGATE_AGENT_PASSPHRASE_FILE", d.join("pw"))
        .output()?;
    assert!(out.status.success(), "agent list: {}", String::from_utf8_lossy(&out.stderr));
    Ok(String::from_utf8(out.stdout)?)
}

/// Run the example ccxt bot (`clients/python/examples/bot.py`); returns its
/// RESULT line, after checking that its memory holds none of `secrets`
/// (or, for the control, that it does).
fn run_bot(args: &[&str], secrets: &[&[u8]], expect_found: bool) -> R<String> {
    let bot = format!("{ROOT}/clients/python/examples/bot.py");
    let mut child = Kill(
        Command::new(python())
            .arg(&bot)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?,
    );
    let mut out = BufReader::new(child.0.stdout.take().ok_or("stdout")?);
    let mut result = String::new();
    out.read_line(&mut result)?;
    let mut ready = String::new();
    out.read_line(&mut ready)?;
    if ready.trim() != "READY" {
        let mut err = String::new();
        child.0.stderr.take().ok_or("stderr")?.read_to_string(&mut err)?;
        return Err(format!("bot {args:?}: {result} {ready} {err}").into());
    }
    for secret in secrets {
        let (found, _) = memory_contains(child.0.id(), secret)?;
        assert_eq!(found, expect_found, "bot {args:?}: secret in memory = {found}");
    }
    child.0.stdin.take().ok_or("stdin")?.write_all(b"\n")?;
    Ok(result)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ccxt_bot_trades_through_the_agent_without_the_secret() -> R<()> {
    if !python_ready("a_ccxt_bot_trades_through_the_agent_without_the_secret")? {
        return Ok(());
    }
    let sandbox = binance_sandbox(SECRET, true).await?;
    let base = format!("http://{}", sandbox.addr());
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    write_private(&d.join("pw"), "correct horse battery staple\n")?;

    // Add the credential: secret on stdin, never argv.
    let add = add_credential(
        d,
        &["--exchange", "binance", "--label", "bin", "--symbols", "BTCUSDT", "--max-notional", "1000"],
        &format!(r#"{{"api_key":"{API_KEY}","api_secret":"{SECRET}"}}"#),
    )?;
    assert!(add.status.success(), "{}", String::from_utf8_lossy(&add.stderr));
    let list = agent_list(d)?;
    assert!(list.contains("\"bin\"") && !list.contains(SECRET), "{list}");

    let (agent, sock, startup) = start_agent(d, "run", &base, &[])?;
    assert_eq!(std::fs::metadata(&sock)?.permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::metadata(sock.parent().ok_or("dir")?)?.permissions().mode() & 0o777, 0o700);
    check_memory_lock(agent.0.id(), &startup)?;

    // The bot through the agent, and the control bot holding the secret.
    let sock_s = sock.to_str().ok_or("path")?;
    for (mode, a, b, expect) in [("agent", sock_s, "bin", false), ("direct", API_KEY, SECRET, true)] {
        let result = run_bot(&[mode, a, b, base.as_str()], &[SECRET.as_bytes()], expect)?;
        assert!(result.starts_with("RESULT 10000") && result.contains("canceled"), "{mode} bot: {result:?}");
    }

    // A withdrawal through the agent: denied, audited, never reaches the exchange.
    let wd = run_py(
        "import sys; from sealgate_agent import AgentClient, AgentError\n\
         try:\n  AgentClient(sys.argv[1]).request('bin','POST','/sapi/v1/capital/withdraw/apply','coin=BTC&address=bc1qx&amount=0.5&timestamp=1')\n  print('SENT')\n\
         except AgentError as e: print(e.kind)",
        &[sock_s],
    )?;
    assert_eq!(String::from_utf8(wd.stdout)?.trim(), "denied");
    assert!(sandbox.withdrawals().is_empty());
    let audit = std::fs::read_to_string(d.join("audit.jsonl"))?;
    assert!(audit.contains("withdraw/apply") && audit.contains("\"denied\""), "{audit}");
    assert!(!audit.contains(SECRET));
    let v = Command::new(bin()).args(["audit", "verify", "--file"]).arg(d.join("audit.jsonl")).output()?;
    assert!(v.status.success(), "audit verify: {}", String::from_utf8_lossy(&v.stderr));

    // A client executable outside the allow-list is refused.
    let (_a2, sock2, _) = start_agent(d, "run2", &base, &["--allow-exe", "/bin/true"])?;
    let r = run_py(
        "import sys; from sealgate_agent import AgentClient, AgentError\n\
         try:\n  AgentClient(sys.argv[1]).list(); print('ALLOWED')\n\
         except AgentError as e: print(e.kind)",
        &[sock2.to_str().ok_or("path")?],
    )?;
    assert_eq!(String::from_utf8(r.stdout)?.trim(), "refused", "{}", String::from_utf8_lossy(&r.stderr));
    // The agent's own executable (the CLI's lock/unlock) is always allowed.
    let lock = agent_cli("lock", &sock2, &d.join("pw"))?;
    assert!(lock.status.success(), "lock under --allow-exe: {}", String::from_utf8_lossy(&lock.stderr));

    // Another uid is refused at the socket.
    if root_checks("agent_proof: another uid is refused at the agent's socket") {
        let _ = Command::new("useradd").args(["-M", "-r", "sgagenttest"]).status();
        let r = Command::new("runuser")
            .args(["-u", "sgagenttest", "--", "python3", "-c"])
            .arg("import sys,socket\ns=socket.socket(socket.AF_UNIX)\ntry:\n  s.connect(sys.argv[1]); print('CONNECTED')\nexcept OSError as e: print('REFUSED', e.errno)")
            .arg(sock_s)
            .output()?;
        let o = String::from_utf8(r.stdout)?;
        assert!(o.starts_with("REFUSED"), "{o} {}", String::from_utf8_lossy(&r.stderr));
    }
    drop(agent);
    Ok(())
}

/// One exchange of the adapter test: its id, the agent's label, the sandbox key, the
/// credential fields the agent seals (secret and passphrase), the quote asset ccxt reads the
/// balance of, and the market as the sandbox spells it (symbol, base, quote).
struct Spot {
    exchange: &'static str,
    venue: Venue,
    api_key: String,
    secret: String,
    passphrase: Option<&'static str>,
    /// The quote asset as the sandbox holds it, and as ccxt names it.
    quote: (&'static str, &'static str),
    market: (&'static str, &'static str, &'static str),
    /// The credential JSON the agent seals.
    sealed: String,
}

fn spot(
    exchange: &'static str,
    venue: Venue,
    api_key: &str,
    secret: &str,
    passphrase: Option<&'static str>,
    quote: (&'static str, &'static str),
    market: (&'static str, &'static str, &'static str),
) -> Spot {
    let mut fields = vec![("api_key", api_key), ("api_secret", secret)];
    if let Some(p) = passphrase {
        fields.push(("passphrase", p));
    }
    let sealed = json_str(&fields);
    Spot { exchange, venue, api_key: api_key.into(), secret: secret.into(), passphrase, quote, market, sealed }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ccxt_adapter_trades_on_every_exchange_it_names() -> R<()> {
    if !python_ready("the_ccxt_adapter_trades_on_every_exchange_it_names")? {
        return Ok(());
    }
    let (cb_name, cb_pem, cb_public) = common::api::coinbase_key("organizations/sealgate-proof/apiKeys/agent");
    let amt = |s: &str| Amount::parse(s).ok_or("amount");
    let mut spots = vec![
        spot(
            "kraken",
            Venue::Kraken,
            "krakenproofkey",
            "c2VhbGdhdGUta3Jha2VuLXByb29mLXNlY3JldC0wMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZg==",
            None,
            ("ZUSD", "USD"),
            ("XBTUSD", "XXBT", "ZUSD"),
        ),
        spot(
            "okx",
            Venue::Okx,
            "okxproofkey",
            "sealgate-okx-proof-secret-7c1e",
            Some("okx-proof-passphrase-3f9a"),
            ("USDT", "USDT"),
            ("BTC-USDT", "BTC", "USDT"),
        ),
        spot(
            "bybit",
            Venue::Bybit,
            "bybitproofkey01",
            "sealgate-bybit-proof-secret-51d0",
            None,
            ("USDT", "USDT"),
            ("BTCUSDT", "BTC", "USDT"),
        ),
        spot(
            "bitget",
            Venue::Bitget,
            "bg_5ea16a7e0123456789abcdef01234567",
            "sealgate-bitget-proof-secret-92ab",
            Some("bitget-proof-passphrase-77"),
            ("USDT", "USDT"),
            ("BTCUSDT", "BTC", "USDT"),
        ),
        spot(
            "kucoin",
            Venue::Kucoin,
            "kucoinproofkey",
            "sealgate-kucoin-proof-secret-3c3c",
            Some("kucoin-proof-passphrase-11"),
            ("USDT", "USDT"),
            ("BTC-USDT", "BTC", "USDT"),
        ),
        spot(
            "gate",
            Venue::Gate,
            "gateproofkey",
            "sealgate-gate-proof-secret-6e6e",
            None,
            ("USDT", "USDT"),
            ("BTC_USDT", "BTC", "USDT"),
        ),
        spot(
            "mexc",
            Venue::Mexc,
            "mexcproofkey",
            "sealgate-mexc-proof-secret-0a0a",
            None,
            ("USDT", "USDT"),
            ("BTCUSDT", "BTC", "USDT"),
        ),
        spot(
            "poloniex",
            Venue::Poloniex,
            "POLONIEX-PROOF-KEY",
            "sealgate-poloniex-proof-secret-4d4d",
            None,
            ("USDT", "USDT"),
            ("BTC_USDT", "BTC", "USDT"),
        ),
        spot(
            "bitfinex",
            Venue::Bitfinex,
            "bitfinexproofkey",
            "sealgate-bitfinex-proof-secret-8f8f",
            None,
            ("USD", "USD"),
            ("tBTCUSD", "BTC", "USD"),
        ),
        spot(
            "gemini",
            Venue::Gemini,
            "account-gemini-proof-key",
            "sealgate-gemini-proof-secret-2b2b",
            None,
            ("USD", "USD"),
            ("btcusd", "BTC", "USD"),
        ),
        spot(
            "bitstamp",
            Venue::Bitstamp,
            "bitstampproofkey",
            "sealgate-bitstamp-proof-secret-5c5c",
            None,
            ("USD", "USD"),
            ("btcusd", "BTC", "USD"),
        ),
        // ccxt's coinbaseexchange: a base64 secret (ccxt and the signer decode it) and a passphrase.
        spot(
            "coinbase-exchange",
            Venue::CoinbaseExchange,
            "coinbaseexchangeproofkey",
            "c2VhbGdhdGUtY29pbmJhc2UtZXhjaGFuZ2UtcHJvb2Ytc2VjcmV0LTFhMWE=",
            Some("cbx-proof-passphrase-5e"),
            ("USD", "USD"),
            ("BTC-USD", "BTC", "USD"),
        ),
        // Deribit: the BTC account margins the inverse perpetual (the bot's balance is its BTC).
        spot(
            "deribit",
            Venue::Deribit,
            "deribitproofkey",
            "sealgate-deribit-proof-secret-7c7c",
            None,
            ("BTC", "BTC"),
            ("BTC-PERPETUAL", "BTC", "USD"),
        ),
    ];
    let mut coinbase =
        spot("coinbase", Venue::Coinbase, &cb_name, &cb_public, None, ("USD", "USD"), ("BTC-USD", "BTC", "USD"));
    coinbase.sealed = json_str(&[("key_name", &cb_name), ("private_key", &cb_pem)]);
    // The Coinbase secret's distinctive part: the PEM's second base64 line.
    coinbase.secret = cb_pem.lines().nth(2).ok_or("pem")?.to_owned();
    spots.push(coinbase);
    let mut keys = Vec::new();
    let mut markets: Vec<Market> = Vec::new();
    for s in &spots {
        keys.push(KeySpec {
            venue: s.venue,
            api_key: s.api_key.clone(),
            // Coinbase's sandbox key is its public key, not the secret the agent holds.
            secret: if s.exchange == "coinbase" { cb_public.clone() } else { s.secret.clone() },
            permissions: Permissions { read: true, trade: true, withdraw: true },
            allowed_ips: vec![],
            passphrase: s.passphrase.map(Into::into),
            balances: vec![(s.quote.0.into(), amt("10000")?)],
        });
        let (symbol, base, quote) = s.market;
        if !markets.iter().any(|m| m.symbol == symbol) {
            markets.push(Market {
                symbol: symbol.into(),
                base: base.into(),
                quote: quote.into(),
                price: amt("50000")?,
            });
        }
    }
    let sandbox = Sandbox::start("127.0.0.1:0".parse()?, keys, markets).await?;
    let base = format!("http://{}", sandbox.addr());
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    write_private(&d.join("pw"), "correct horse battery staple\n")?;
    for s in &spots {
        let add = add_credential(d, &["--exchange", s.exchange, "--label", s.exchange], &s.sealed)?;
        assert!(add.status.success(), "add {}: {}", s.exchange, String::from_utf8_lossy(&add.stderr));
    }
    let (_agent, sock, _) = start_agent(d, "run", &base, &[])?;
    let sock_s = sock.to_str().ok_or("path")?;
    // The bots run BOTS at a time: each is a Python process that spends most of its life
    // importing ccxt and waiting on the agent, one after another they took three minutes.
    const BOTS: usize = 3;
    let next = std::sync::atomic::AtomicUsize::new(0);
    let done = std::sync::Mutex::new(vec![None; spots.len()]);
    std::thread::scope(|scope| {
        for _ in 0..BOTS {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(s) = spots.get(i) else { break };
                    let args = ["agent", sock_s, s.exchange, &base, s.exchange];
                    let result = run_bot(&args, &[s.secret.as_bytes()], false).map_err(|e| e.to_string());
                    done.lock().expect("results")[i] = Some(result);
                }
            });
        }
    });
    let results: Vec<Option<Result<String, String>>> = done.into_inner().map_err(|_| "a bot panicked")?;
    for (s, result) in spots.iter().zip(results) {
        let result = result.ok_or("a bot did not run")??;
        let fields: Vec<&str> = result.split_whitespace().collect();
        assert!(fields.len() >= 3 && fields[0] == "RESULT", "{}: {result:?}", s.exchange);
        assert_eq!(fields[1].parse::<f64>()?, 10000.0, "{}: balance {result:?}", s.exchange);
        assert!(!fields[2].is_empty() && fields[2] != "None", "{}: order id {result:?}", s.exchange);
        // The order was placed and cancelled: nothing is held any more.
        let held: Vec<_> = sandbox.balances(&s.api_key).into_iter().filter(|(_, _, locked)| locked.0 != 0).collect();
        assert!(held.is_empty(), "{}: funds still held by an order: {held:?}", s.exchange);
    }
    let audit = std::fs::read_to_string(d.join("audit.jsonl"))?;
    for path in [
        "/0/private/BalanceEx",
        "/0/private/AddOrder",
        "/0/private/CancelOrder",
        "/api/v5/account/balance",
        "/api/v5/trade/order",
        "/api/v5/trade/cancel-order",
        "/api/v3/brokerage/accounts",
        "/api/v3/brokerage/orders",
        "/api/v3/brokerage/orders/batch_cancel",
        "/v5/order/create",
        "/api/v2/spot/trade/place-order",
        "/api/v4/spot/orders",
        "/api/v1/orders",
        "/api/v3/order",
        "/orders",
        "/v2/auth/w/order/submit",
        "/v2/auth/w/order/cancel",
        "/v1/order/new",
        "/v1/order/cancel",
        "/api/v2/account_balances/",
        "/api/v2/buy/btcusd/",
        "/api/v2/cancel_order/",
        "/accounts",
        "/api/v2/private/get_account_summary",
        "/api/v2/private/buy",
        "/api/v2/private/cancel",
    ] {
        assert!(audit.contains(&format!("\"path\":\"{path}\"")), "audit lacks {path}: {audit}");
    }
    // Coinbase Exchange's cancel: DELETE /orders/{id}, the id a UUID (the sandbox's shape).
    assert!(audit.contains("\"path\":\"/orders/00000000-0000-4000-8000-"), "audit lacks a UUID cancel: {audit}");
    for s in &spots {
        let secret = s.secret.as_bytes();
        assert!(
            !audit.as_bytes().windows(secret.len()).any(|w| w == secret),
            "{}: a secret in the audit chain",
            s.exchange
        );
    }
    Ok(())
}

fn json_str(fields: &[(&str, &str)]) -> String {
    let m: serde_json::Map<String, serde_json::Value> =
        fields.iter().map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(*v))).collect();
    serde_json::Value::Object(m).to_string()
}

/// Run `sealgate agent lock|unlock` against `sock` with the passphrase file `pw`.
fn agent_cli(op: &str, sock: &Path, pw: &Path) -> R<std::process::Output> {
    Ok(Command::new(bin())
        .args(["agent", op, "--socket"])
        .arg(sock)
        .env("SEALGATE_AGENT_PASSPHRASE_FILE", pw)
        .stdin(Stdio::null())
        .output()?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_unlock_and_confirm_on_a_running_agent() -> R<()> {
    if !python_ready("lock_unlock_and_confirm_on_a_running_agent")? {
        return Ok(());
    }
    const LOCK_SECRET: &str = "Lk9sealgateLockProofSecret0xBEEF42";
    let sandbox = binance_sandbox(LOCK_SECRET, false).await?;
    let base = format!("http://{}", sandbox.addr());
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    write_private(&d.join("pw"), "correct horse battery staple\n")?;
    write_private(&d.join("wrong-pw"), "incorrect horse\n")?;
    let secrets = format!(r#"{{"api_key":"{API_KEY}","api_secret":"{LOCK_SECRET}"}}"#);
    let bad = add_credential(d, &["--exchange", "binance", "--label", "x", "--confirm", "withdraw"], &secrets)?;
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not among the allowed classes"), "{bad:?}");
    let add = add_credential(d, &["--exchange", "binance", "--label", "bin", "--confirm", "trade"], &secrets)?;
    assert!(add.status.success(), "{}", String::from_utf8_lossy(&add.stderr));
    let list = agent_list(d)?;
    let list: serde_json::Value = serde_json::from_str(&list)?;
    assert_eq!(list[0]["confirm"], serde_json::json!(["trade"]), "{list}");

    // The confirm program: records what it was asked, answers from a file.
    let askpass = d.join("askpass.sh");
    let dd = d.display();
    std::fs::write(&askpass, format!("#!/bin/sh\nprintf '%s\\n' \"$1\" >> {dd}/asked\ngrep -qx yes {dd}/answer\n"))?;
    std::fs::set_permissions(&askpass, std::fs::Permissions::from_mode(0o755))?;
    let askpass_s = askpass.to_str().ok_or("path")?;
    let (agent, sock, _) = start_agent(d, "run", &base, &["--confirm-program", askpass_s, "--confirm-timeout", "10"])?;
    let apid = agent.0.id();
    let sock_s = sock.to_str().ok_or("path")?;

    let order = "import sys; from sealgate_agent import AgentClient, AgentError\n\
        c = AgentClient(sys.argv[1])\n\
        try:\n  r = c.request('bin','POST','/api/v3/order','symbol=BTCUSDT&side=SELL&type=LIMIT&timeInForce=GTC&quantity=0.01&price=90000'); print(r['status'])\n\
        except AgentError as e: print(e.kind, e.message)";
    std::fs::write(d.join("answer"), "no\n")?;
    let r = String::from_utf8(run_py(order, &[sock_s])?.stdout)?;
    assert!(r.starts_with("denied") && r.contains("refused"), "{r}");
    std::fs::write(d.join("answer"), "yes\n")?;
    let r = String::from_utf8(run_py(order, &[sock_s])?.stdout)?;
    assert_eq!(r.trim(), "200", "{r}");
    let asked = std::fs::read_to_string(d.join("asked"))?;
    assert_eq!(asked.lines().count(), 2, "{asked}");
    assert!(
        asked.lines().all(|l| l
            == "sealgate agent: allow binance \"bin\" trade POST /api/v3/order symbol=BTCUSDT \
             side=sell quantity=0.01 price=90000?"),
        "{asked}"
    );

    // Opened, the agent holds the secret (the control for the scan below).
    let read = "import sys; from sealgate_agent import AgentClient, AgentError\n\
        try:\n  print(AgentClient(sys.argv[1]).request('bin','GET','/api/v3/account')['status'])\n\
        except AgentError as e: print(e.kind)";
    assert_eq!(String::from_utf8(run_py(read, &[sock_s])?.stdout)?.trim(), "200");
    // Reading a non-dumpable process's memory needs CAP_SYS_PTRACE.
    let scans = root_checks("agent_proof: the scans of the (non-dumpable) agent's memory, unlocked and locked");
    if scans {
        let (found, _) = memory_contains(apid, LOCK_SECRET.as_bytes())?;
        assert!(found, "the scan does not find the secret in the unlocked agent");
    }

    let lock = agent_cli("lock", &sock, &d.join("pw"))?;
    assert!(lock.status.success(), "{}", String::from_utf8_lossy(&lock.stderr));
    assert!(String::from_utf8(lock.stdout)?.contains("agent locked"));
    if scans {
        let (found, _) = memory_contains(apid, LOCK_SECRET.as_bytes())?;
        assert!(!found, "the locked agent still holds the secret");
    }
    assert_eq!(String::from_utf8(run_py(read, &[sock_s])?.stdout)?.trim(), "locked");

    let wrong = agent_cli("unlock", &sock, &d.join("wrong-pw"))?;
    assert_eq!(wrong.status.code(), Some(2));
    let err = String::from_utf8(wrong.stderr)?;
    assert!(err.starts_with("error: wrong_passphrase") && err.contains("stays locked"), "{err}");
    assert!(!err.contains("incorrect horse"));
    let early = agent_cli("unlock", &sock, &d.join("pw"))?;
    assert!(String::from_utf8(early.stderr)?.contains("rate_limited"));
    std::thread::sleep(Duration::from_millis(1100));
    let ok = agent_cli("unlock", &sock, &d.join("pw"))?;
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(String::from_utf8(ok.stdout)?.contains("1 credential(s)"));
    assert_eq!(String::from_utf8(run_py(read, &[sock_s])?.stdout)?.trim(), "200");

    // The Python client's lock() and unlock().
    let py = run_py(
        "import sys; from sealgate_agent import AgentClient, AgentError\n\
         c = AgentClient(sys.argv[1]); c.lock()\n\
         try:\n  c.request('bin','GET','/api/v3/account')\n\
         except AgentError as e: print(e.kind, c.list())\n\
         print(c.unlock(sys.argv[2]), c.request('bin','GET','/api/v3/account')['status'])",
        &[sock_s, "correct horse battery staple"],
    )?;
    assert_eq!(String::from_utf8(py.stdout)?, "locked []\n1 200\n", "{}", String::from_utf8_lossy(&py.stderr));

    let audit = std::fs::read_to_string(d.join("audit.jsonl"))?;
    for needle in
        ["agent_locked", "agent_unlocked", "unlock_failed", "\"confirm\":\"denied\"", "\"confirm\":\"allowed\""]
    {
        assert!(audit.contains(needle), "audit lacks {needle}");
    }
    assert!(!audit.contains(LOCK_SECRET) && !audit.contains("horse"));
    let v = Command::new(bin()).args(["audit", "verify", "--file"]).arg(d.join("audit.jsonl")).output()?;
    assert!(v.status.success(), "audit verify: {}", String::from_utf8_lossy(&v.stderr));
    drop(agent);
    Ok(())
}
