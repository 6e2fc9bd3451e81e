//! `sealgate custody-key` against a real `sealgate serve` (the embedded default) and the
//! Binance sandbox: `create --pending-out` prints a public key and the exchange's steps and
//! keeps the pending grants in a 0600 file; the public key is registered at the sandbox;
//! `activate` stores the credential with the API key id the sandbox gave and deletes the
//! file; the importer then brings the sandbox balances into the portfolio, signing through
//! the custody. The interactive form reads the API key id on stdin; a Bybit key (RSA) goes
//! the same way. Refusals: an exchange that takes no such key, an empty API key id, an api
//! that is not there, a bearer token the api does not take, a pending file that exists. No
//! output, log line or file written holds a private key.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use sealgate_sandbox::{Amount, Market, Permissions, Sandbox, Venue};
use sealgate_testkit::process::{ServeListening, Spawned};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _};

const BIN: &str = env!("CARGO_BIN_EXE_sealgate");
const ALL: Permissions = Permissions { read: true, trade: true, withdraw: true };

fn amt(s: &str) -> Amount {
    Amount::parse(s).expect("amount")
}

fn balances() -> Vec<(String, Amount)> {
    vec![("BTC".into(), amt("1.5")), ("USDT".into(), amt("25000"))]
}

/// Everything the test saw the CLI print or write, searched for private keys at the end.
#[derive(Default)]
struct Seen(String);

impl Seen {
    fn add(&mut self, what: &str, text: &str) {
        self.0.push_str(&format!("--- {what}\n{text}\n"));
    }
}

/// Runs the CLI with stdin closed: (success, stdout, stderr).
async fn cli(seen: &mut Seen, args: &[impl AsRef<str>]) -> (bool, String, String) {
    let args: Vec<String> = args.iter().map(|a| a.as_ref().to_owned()).collect();
    let out: Output = tokio::task::spawn_blocking(move || {
        Command::new(BIN).args(&args).stdin(Stdio::null()).output().expect("run sealgate")
    })
    .await
    .expect("join");
    let (stdout, stderr) =
        (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
    seen.add("stdout", &stdout);
    seen.add("stderr", &stderr);
    (out.status.success(), stdout, stderr)
}

/// The one PEM public key block in `text`.
fn pem_in(text: &str) -> String {
    let start = text.find("-----BEGIN PUBLIC KEY-----").expect("a public key is printed");
    let end =
        text[start..].find("-----END PUBLIC KEY-----").expect("its end") + start + "-----END PUBLIC KEY-----".len();
    text[start..end].to_owned()
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

/// A fresh session of the local user, from `sealgate login-link`: its cookie header.
async fn session(seen: &mut Seen, data: &Path, base: &str) -> String {
    let (ok, out, err) =
        cli(seen, &["login-link", "--public-url", base, "--data-dir", data.to_str().expect("utf-8")]).await;
    assert!(ok, "{err}");
    let link = out.trim().rsplit_once(' ').expect("link").1.to_owned();
    let r = http().get(&link).send().await.expect("login");
    assert_eq!(r.status().as_u16(), 303);
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next()?.strip_prefix("sealgate_session=").map(str::to_owned))
        .map(|c| format!("sealgate_session={c}"))
        .next()
        .expect("session cookie")
}

async fn get(base: &str, cookie: &str, path: &str) -> Value {
    let r = http().get(format!("{base}{path}")).header("cookie", cookie).send().await.expect("get");
    assert_eq!(r.status().as_u16(), 200, "{path}");
    r.json().await.expect("json")
}

fn holding(portfolio: &Value, asset: &str) -> String {
    let total = portfolio["assets"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["asset"] == asset)
        .and_then(|a| a["total"].as_str())
        .unwrap_or("absent");
    if total.contains('.') { total.trim_end_matches('0').trim_end_matches('.').to_owned() } else { total.to_owned() }
}

/// The interactive `create`: reads stdout up to the public key, asks `answer` for the line
/// to type, and returns (success, stdout, stderr).
async fn interactive(args: &[&str], answer: impl FnOnce(&str) -> String) -> (bool, String, String) {
    let mut child = tokio::process::Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn create");
    let mut stdout = tokio::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut stderr = child.stderr.take().expect("stderr");
    let mut shown = String::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !shown.contains("-----END PUBLIC KEY-----") {
        let mut line = String::new();
        let n = tokio::time::timeout_at(deadline.into(), stdout.read_line(&mut line))
            .await
            .expect("the public key within a minute")
            .expect("read stdout");
        if n == 0 {
            let mut err = String::new();
            let _ = stderr.read_to_string(&mut err).await;
            panic!("create ended before printing a public key:\n{shown}\n{err}");
        }
        shown.push_str(&line);
    }
    let typed = answer(&shown);
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(typed.as_bytes()).await.expect("type the key id");
    drop(stdin);
    let mut rest = String::new();
    let mut err = String::new();
    let (a, b) = tokio::join!(stdout.read_to_string(&mut rest), stderr.read_to_string(&mut err));
    a.expect("stdout");
    b.expect("stderr");
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait()).await.expect("create ends").expect("wait");
    shown.push_str(&rest);
    (status.success(), shown, err)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custody_key_made_and_activated_from_the_command_line() {
    let market = Market { symbol: "BTCUSDT".into(), base: "BTC".into(), quote: "USDT".into(), price: amt("50000") };
    let sandbox = Sandbox::start("127.0.0.1:0".parse().expect("addr"), vec![], vec![market]).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let mut serve = Spawned::spawn(
        Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--service-listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data)
            .args(["--exchange-url", &format!("binance=http://{}", sandbox.addr())])
            .args(["--exchange-url", &format!("bybit=http://{}", sandbox.addr())])
            .args(["--exchange-url", &format!("bitget=http://{}", sandbox.addr())])
            // The portfolio's price sources too: the test never leaves loopback.
            .args(
                sealgate_server::prices::SOURCES
                    .iter()
                    .flat_map(|id| ["--exchange-url".to_owned(), format!("{id}=http://{}", sandbox.addr())]),
            )
            .env("SEALGATE_LOG", "info"),
    );
    let up = serve.wait_for("serve listening", Duration::from_secs(60), ServeListening::from_logs).await;
    let pin =
        sealgate_testkit::process::word_after(&serve.logs(), "sealgate: root key pin ").expect("serve prints the pin");
    let base = up.base.clone();
    let data_s = data.to_str().expect("utf-8").to_owned();
    let conn = ["--data-dir", data_s.as_str(), "--api", base.as_str()];
    let mut seen = Seen::default();
    let pending = dir.path().join("pending.json");
    let pending_s = pending.to_str().expect("utf-8").to_owned();

    // --- Refusals, each before anything is made.
    let create = |extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = ["custody-key", "create"].iter().map(|s| (*s).to_owned()).collect();
        a.extend(conn.iter().map(|s| (*s).to_owned()));
        a.extend(extra.iter().map(|s| (*s).to_owned()));
        a
    };
    let (ok, out, err) =
        cli(&mut seen, &create(&["--exchange", "kraken", "--roles", "trader", "--scope", "read"])).await;
    assert!(!ok && out.is_empty(), "kraken is refused: {out}");
    assert!(
        err.contains("--exchange kraken") && err.contains("binance, bitget, bybit") && err.contains("seal"),
        "{err}"
    );

    let (ok, _, err) = cli(
        &mut seen,
        &[
            "custody-key",
            "activate",
            "--data-dir",
            &data_s,
            "--api",
            "http://127.0.0.1:1",
            "--pending",
            &pending_s,
            "--api-key",
            "  ",
        ],
    )
    .await;
    assert!(!ok && err.contains("the API key id is empty"), "an empty key id is refused before anything: {err}");

    let (ok, _, err) = cli(
        &mut seen,
        &[
            "custody-key",
            "create",
            "--data-dir",
            &data_s,
            "--api",
            "http://127.0.0.1:1",
            "--exchange",
            "binance",
            "--roles",
            "trader",
            "--scope",
            "read",
        ],
    )
    .await;
    assert!(!ok && err.contains("cannot reach the api at http://127.0.0.1:1"), "{err}");
    assert!(!err.contains("token="), "no sign-in token in an error: {err}");

    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "eyJhbGciOiJFUzI1NiJ9.e30.sig\n").expect("token file");
    let (ok, _, err) = cli(
        &mut seen,
        &[
            "custody-key",
            "create",
            "--bearer-token-file",
            token_file.to_str().expect("utf-8"),
            "--api",
            &base,
            "--exchange",
            "binance",
            "--roles",
            "trader",
            "--scope",
            "read",
        ],
    )
    .await;
    assert!(!ok && err.contains("the api refused (401)") && err.contains("bearer tokens are not accepted"), "{err}");

    let (ok, _, err) =
        cli(&mut seen, &create(&["--exchange", "binance", "--roles", "trader,agent", "--scope", "read"])).await;
    assert!(!ok && err.contains("agent"), "{err}");

    // --- create --pending-out: the public key and the steps; the grants in a 0600 file.
    let (ok, out, err) = cli(
        &mut seen,
        &create(&[
            "--exchange",
            "binance",
            "--roles",
            "trader,importer",
            "--scope",
            "read,trade",
            "--key-type",
            "ed25519",
            "--id",
            "cli-held-1",
            "--label",
            "from the CLI",
            "--pending-out",
            &pending_s,
        ]),
    )
    .await;
    assert!(ok, "create: {err}");
    let pem = pem_in(&out);
    assert!(out.contains("https://www.binance.com/en/my/settings/api-management"), "{out}");
    assert!(out.contains("  1. Sign in to Binance") && out.contains("Self-generated"), "numbered steps: {out}");
    assert!(out.contains(&format!("--pending {pending_s}")), "says how to go on: {out}");
    let meta = std::fs::metadata(&pending).expect("pending file");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let file = std::fs::read_to_string(&pending).expect("read pending");
    seen.add("pending file", &file);
    let parsed: Value = serde_json::from_str(&file).expect("pending JSON");
    assert_eq!((parsed["id"].as_str(), parsed["exchange"].as_str()), (Some("cli-held-1"), Some("binance")));
    assert_eq!(parsed["label"], "from the CLI");
    assert_eq!(parsed["pending"].as_array().map(Vec::len), Some(2), "{parsed}");

    // The file is never overwritten: refused before a key is made.
    let (ok, _, err) = cli(
        &mut seen,
        &create(&["--exchange", "binance", "--roles", "trader", "--scope", "read", "--pending-out", &pending_s]),
    )
    .await;
    assert!(!ok && err.contains("the file exists"), "{err}");
    assert_eq!(std::fs::read_to_string(&pending).expect("still there"), file);

    // --- The owner registers the public key at the exchange, which names it.
    let api_key = sandbox.register_public_key(Venue::Binance, &pem, ALL, vec![], balances()).expect("register");

    // --- activate: the credential, and the file is gone.
    let (ok, out, err) = cli(
        &mut seen,
        &[
            "custody-key",
            "activate",
            "--data-dir",
            &data_s,
            "--api",
            &base,
            "--pending",
            &pending_s,
            "--api-key",
            &api_key,
        ],
    )
    .await;
    assert!(ok, "activate: {err}");
    assert!(out.contains("id:       cli-held-1") && out.contains("exchange: binance"), "{out}");
    assert!(out.contains(&format!("hint:     {}", &api_key[api_key.len() - 4..])), "{out}");
    assert!(out.contains("roles:    ") && out.contains("importer") && out.contains("trader"), "{out}");
    assert!(out.contains("scope:    read,trade") && out.contains("label:    from the CLI"), "{out}");
    assert!(!pending.exists(), "the pending file is deleted on success");

    // The api agrees (a fresh session), and the importer reads the sandbox account.
    let cookie = session(&mut seen, &data, &base).await;
    let list = get(&base, &cookie, "/v1/credentials").await;
    let cred = list["credentials"].as_array().expect("list").iter().find(|c| c["id"] == "cli-held-1").cloned();
    let cred = cred.unwrap_or_else(|| panic!("the credential is listed: {list}"));
    assert_eq!(cred["exchange"], "binance");
    assert_eq!(cred["status"], "active", "{cred}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let p = get(&base, &cookie, "/v1/portfolio").await;
        let done = p["imports"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|i| i["credential_id"] == "cli-held-1" && i["state"] == "done");
        if done && holding(&p, "BTC") == "1.5" && holding(&p, "USDT") == "25000" {
            break;
        }
        assert!(Instant::now() < deadline, "the sandbox balances did not reach the portfolio: {p}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // --- The interactive form: the API key id typed on stdin.
    let args = create(&[
        "--exchange",
        "binance",
        "--roles",
        "trader",
        "--scope",
        "read,trade",
        "--key-type",
        "rsa-2048",
        "--id",
        "cli-held-2",
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut second_key = String::new();
    let (ok, out, err) = interactive(&args, |shown| {
        let key =
            sandbox.register_public_key(Venue::Binance, &pem_in(shown), ALL, vec![], balances()).expect("register");
        second_key = key.clone();
        format!("  {key}  \n")
    })
    .await;
    seen.add("interactive stdout", &out);
    seen.add("interactive stderr", &err);
    assert!(ok, "interactive create: {out}\n{err}");
    assert!(err.contains("API key id: "), "the prompt is on stderr: {err}");
    assert!(out.contains("rsa-2048") && out.contains("  6. "), "{out}");
    assert!(out.contains("credential stored and active") && out.contains("id:       cli-held-2"), "{out}");
    assert!(out.contains(&format!("hint:     {}", &second_key[second_key.len() - 4..])), "{out}");

    // An empty line instead of the key id: refused, nothing stored.
    let args = create(&["--exchange", "binance", "--roles", "trader", "--scope", "read", "--id", "cli-held-3"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, out, err) = interactive(&args, |_| "   \n".to_owned()).await;
    seen.add("empty stdout", &out);
    seen.add("empty stderr", &err);
    assert!(!ok && err.contains("the API key id is empty"), "{err}");
    assert!(err.contains("was discarded (destroyed in the custody)"), "the abandoned key is destroyed: {err}");
    assert!(!out.contains("credential stored"), "{out}");

    // --- Bybit: an RSA key (its only kind) and Bybit's own steps.
    let bybit_pending = dir.path().join("bybit.json");
    let bybit_s = bybit_pending.to_str().expect("utf-8").to_owned();
    let (ok, out, err) = cli(
        &mut seen,
        &create(&[
            "--exchange",
            "bybit",
            "--roles",
            "trader",
            "--scope",
            "read,trade",
            "--id",
            "cli-bybit",
            "--pending-out",
            &bybit_s,
        ]),
    )
    .await;
    assert!(ok, "bybit create: {err}");
    assert!(out.contains("rsa-2048") && out.contains("Self-generated API Keys"), "{out}");
    let bybit_key =
        sandbox.register_public_key(Venue::Bybit, &pem_in(&out), ALL, vec![], balances()).expect("register bybit");
    let (ok, out, err) = cli(
        &mut seen,
        &[
            "custody-key",
            "activate",
            "--data-dir",
            &data_s,
            "--api",
            &base,
            "--pending",
            &bybit_s,
            "--api-key",
            &bybit_key,
            "--label",
            "bybit via CLI",
        ],
    )
    .await;
    assert!(ok, "bybit activate: {err}");
    assert!(out.contains("exchange: bybit") && out.contains("label:    bybit via CLI"), "{out}");
    assert!(!bybit_pending.exists());

    // --- Bitget: its key also needs a passphrase, sealed here to each role.
    const PASSPHRASE: &str = "CANARY-bitget-passphrase-from-a-file";
    let bitget_pending = dir.path().join("bitget.json");
    let bitget_s = bitget_pending.to_str().expect("utf-8").to_owned();
    let bitget = ["--exchange", "bitget", "--roles", "trader", "--scope", "read,trade", "--id", "cli-bitget"];
    let mut args: Vec<&str> = bitget.to_vec();
    args.extend(["--pending-out", bitget_s.as_str()]);
    let (ok, out, err) = cli(&mut seen, &create(&args)).await;
    assert!(ok, "bitget create: {err}");
    assert!(out.contains("passphrase"), "Bitget's steps ask for a passphrase: {out}");
    let bitget_key = sandbox
        .register_public_key_with_passphrase(Venue::Bitget, &pem_in(&out), Some(PASSPHRASE), ALL, vec![], balances())
        .expect("register bitget");
    let activate = |extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = [
            "custody-key",
            "activate",
            "--data-dir",
            &data_s,
            "--api",
            &base,
            "--pending",
            &bitget_s,
            "--api-key",
            &bitget_key,
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        a.extend(extra.iter().map(|s| (*s).to_owned()));
        a
    };
    // Without the passphrase: refused before any request; the pending file stays.
    let (ok, _, err) = cli(&mut seen, &activate(&[])).await;
    assert!(!ok && err.contains("passphrase"), "{err}");
    let pass_file = dir.path().join("bitget.pass");
    std::fs::write(&pass_file, format!("{PASSPHRASE}\n")).expect("passphrase file");
    let pass_s = pass_file.to_str().expect("utf-8").to_owned();
    // A pin of another root: the key set is refused and nothing is sealed or sent.
    let other_pin = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";
    let (ok, _, err) = cli(&mut seen, &activate(&["--passphrase-file", &pass_s, "--pin", other_pin])).await;
    assert!(!ok && err.contains("refused to seal"), "{err}");
    let (ok, out, err) = cli(&mut seen, &activate(&["--passphrase-file", &pass_s, "--pin", &pin])).await;
    assert!(ok, "bitget activate: {err}");
    assert!(out.contains("exchange: bitget"), "{out}");
    assert!(!bitget_pending.exists());
    let db = std::fs::read(data.join("sealgate.db")).expect("db");
    assert!(!db.windows(PASSPHRASE.len()).any(|w| w == PASSPHRASE.as_bytes()), "the passphrase in the database");
    assert!(!serve.logs().contains(PASSPHRASE), "the passphrase in serve's logs");

    let list = get(&base, &cookie, "/v1/credentials").await;
    let ids: Vec<&str> =
        list["credentials"].as_array().expect("list").iter().filter_map(|c| c["id"].as_str()).collect();
    assert_eq!(ids.len(), 4, "{list}");
    for id in ["cli-held-1", "cli-held-2", "cli-bybit", "cli-bitget"] {
        assert!(ids.contains(&id), "{id}: {list}");
    }
    assert!(!ids.contains(&"cli-held-3"), "{list}");

    // --- No private key anywhere the test could see (the public ones, yes).
    seen.add("serve logs", &serve.logs());
    assert!(seen.0.contains("BEGIN PUBLIC KEY"), "the positive control");
    assert!(!seen.0.contains("PRIVATE KEY"), "a private key was printed, logged or written:\n{}", seen.0);
}
