//! The web client in real headless Chromium (Debian's `chromium`, driven by npm
//! `playwright-core` at a pinned version: `scripts/setup-browser.sh` installs both).
//!
//! The test starts a Binance sandbox and `sealgate serve` pointed at it, makes an expired
//! key set signed by the server's real root, and runs `web/tests/journey.mjs`: sign in with
//! the printed link, refuse three tampered key sets, onboard the sandbox key through the
//! page (sealed in the browser), see the portfolio equal the sandbox account and its value
//! equal the sandbox's prices (an unpriced asset shown as such, never 0), place and
//! cancel an order, revoke a role, add and delete a second key, lock down, check the CSP
//! and Subresource Integrity, and record every request the page made. Then, in Rust: the
//! canary secret is in no request, no log line and no byte of the database; the envelope
//! the browser made opens with the role key from the custody, and its header binds the
//! signed-in user, the credential id, the exchange and the role.
//!
//! Without Chromium the test fails, unless `SEALGATE_SKIP_BROWSER=1`, when it skips loudly.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use sealgate_envelope::secrecy::ExposeSecret as _;
use sealgate_envelope::{Binding, Curve, LocalKey};
use sealgate_sandbox::{Amount, KeySpec, Market, Permissions, Sandbox, Venue};
use sealgate_testkit::process::{ServeListening, Spawned};
use serde_json::Value;

mod browser_kit;
use browser_kit::{CHROMIUM, browser_ready, repo_root, run_node};

const BIN: &str = env!("CARGO_BIN_EXE_sealgate");
const API_KEY: &str = "browser-api-key-W3b7";
/// The canary: it must appear in no request the page makes, no log line, no database byte.
const SECRET: &str = "CANARY-5c0e7a91-browser-secret-b2f4";

fn amt(s: &str) -> Amount {
    Amount::parse(s).expect("amount")
}

/// `sealgate serve` (killed on drop) and what it printed when it started.
struct Server {
    proc: Spawned,
    base: String,
    service: String,
    login: String,
}

impl Server {
    /// Every exchange the portfolio's prices are asked of (the holding's own, then
    /// Coinbase, Kraken, Binance, OKX) is the sandbox: the test never reaches the internet.
    async fn start(data: &Path, sandbox: &str) -> Server {
        let mut cmd = Command::new(BIN);
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"]).arg(data).env("SEALGATE_LOG", "info");
        for id in ["binance", "coinbase", "kraken", "okx"] {
            cmd.args(["--exchange-url", &format!("{id}={sandbox}")]);
        }
        let mut proc = Spawned::spawn(&mut cmd);
        let up = proc
            .wait_for("serve listening", Duration::from_secs(60), |text| {
                ServeListening::from_logs(text).filter(|u| u.login.is_some())
            })
            .await;
        Server { proc, base: up.base, service: up.service, login: up.login.unwrap_or_default() }
    }

    fn logs(&self) -> String {
        self.proc.logs()
    }
}

/// Chromium is required by minimum version, not pinned (Debian replaces its builds):
/// the build this run used goes to stderr and into the artifacts.
fn record_versions(root: &Path, artifacts: &Path) {
    let chromium = Command::new(CHROMIUM).arg("--version").output().expect("run chromium --version");
    let chromium = String::from_utf8_lossy(&chromium.stdout).trim().to_string();
    let playwright = std::fs::read_to_string(root.join("web/tests/node_modules/playwright-core/package.json"))
        .expect("playwright-core package.json");
    let playwright: serde_json::Value = serde_json::from_str(&playwright).expect("package.json is JSON");
    let versions = format!("{chromium}\nplaywright-core {}\n", playwright["version"].as_str().unwrap_or("?"));
    eprint!("browser test versions:\n{versions}");
    std::fs::write(artifacts.join("versions.txt"), versions).expect("write versions.txt");
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_client_in_headless_chromium() {
    let root = repo_root();
    if !browser_ready(&root, "the web client's browser test") {
        return;
    }
    let artifacts = root.join("target/browser-artifacts");
    let _ = std::fs::remove_dir_all(&artifacts);
    std::fs::create_dir_all(&artifacts).expect("artifacts dir");
    record_versions(&root, &artifacts);

    // The exchange, which the test can inspect.
    let spec = KeySpec {
        venue: Venue::Binance,
        api_key: API_KEY.into(),
        secret: SECRET.into(),
        permissions: Permissions { read: true, trade: true, withdraw: true },
        allowed_ips: vec![],
        passphrase: None,
        // DOGE has no market anywhere: the portfolio must say "no price", never 0.
        balances: vec![("BTC".into(), amt("1.5")), ("USDT".into(), amt("25000")), ("DOGE".into(), amt("1234.5"))],
    };
    // BTC in USD: Binance has no BTCUSD, so BTCUSDT, then USDT in USD from Coinbase's USDT-USD.
    let markets = vec![
        Market { symbol: "BTCUSDT".into(), base: "BTC".into(), quote: "USDT".into(), price: amt("50000") },
        Market { symbol: "USDT-USD".into(), base: "USDT".into(), quote: "USD".into(), price: amt("0.9998") },
    ];
    let sandbox = Sandbox::start("127.0.0.1:0".parse().expect("addr"), vec![spec], markets).await.expect("sandbox");
    assert!(sandbox.seed_trades(API_KEY, "BTCUSDT", 5));

    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let server = Server::start(&data, &format!("http://{}", sandbox.addr())).await;

    // An expired key set signed by the real root (the page must refuse it for its date alone).
    let custody = sealgate_custody::config::CustodyConfig::load(&data.join("custody.toml"))
        .expect("custody config")
        .open()
        .await
        .expect("custody");
    let long_ago = sealgate_server::now_ms() / 1000 - 7200;
    let expired = sealgate_custody::keyset::sign(custody.as_ref(), long_ago, 3600).await.expect("expired set");

    // Keys of every kind the page seals to (RSA-OAEP-256: what an OpenBao custody holds);
    // the script seals to each and we open them.
    let mut extra_keys: Vec<LocalKey> =
        [(Curve::P256, "web-p256"), (Curve::P384, "web-p384"), (Curve::X25519, "web-x25519")]
            .into_iter()
            .map(|(curve, kid)| LocalKey::generate_ec(curve, kid).expect("key"))
            .collect();
    extra_keys.push(LocalKey::generate_rsa(3072, "web-rsa3072").expect("RSA key"));
    let extra_public: Vec<Value> = extra_keys.iter().map(|k| k.public().to_json()).collect();

    let result_path = dir.path().join("result.json");
    let expect = serde_json::json!({"BTC": "1.5", "USDT": "25000", "DOGE": "1234.5"});
    // The value in USD, exactly: 1.5 × 50000 × 0.9998 = 74985 and 25000 × 0.9998 = 24995
    // (DOGE unpriced, left out); in USDT: 75000 + 25000.
    let expect_value = serde_json::json!({
        "USD": {"total": "99980", "assets": {"BTC": "74985", "USDT": "24995", "DOGE": null}},
        "USDT": {"total": "100000", "assets": {"BTC": "75000", "USDT": "25000", "DOGE": null}},
    });
    run_node(
        &root,
        "journey.mjs",
        &[
            ("SEALGATE_BASE", server.base.clone()),
            ("SEALGATE_SERVICE", server.service.clone()),
            ("SEALGATE_LOGIN", server.login.clone()),
            ("SEALGATE_API_KEY", API_KEY.to_owned()),
            ("SEALGATE_SECRET", SECRET.to_owned()),
            ("SEALGATE_EXPIRED_KEYSET", expired),
            ("SEALGATE_EXPECT", expect.to_string()),
            ("SEALGATE_EXPECT_VALUE", expect_value.to_string()),
            ("SEALGATE_ARTIFACTS", artifacts.display().to_string()),
            ("SEALGATE_RESULT", result_path.display().to_string()),
            ("SEALGATE_EXTRA_KEYS", Value::from(extra_public).to_string()),
            ("CHROMIUM", CHROMIUM.to_owned()),
            ("SEALGATE_BIN", BIN.to_owned()),
            ("SEALGATE_DATABASE", format!("sqlite://{}", data.join("sealgate.db").display())),
        ],
        Duration::from_secs(300),
    );
    let result: Value = serde_json::from_slice(&std::fs::read(&result_path).expect("result")).expect("result json");
    let user = result["user"].as_str().expect("user");
    let cid = result["cid"].as_str().expect("cid");
    assert_eq!(user, sealgate_server::serve::LOCAL_USER);

    // The page's envelopes on P-256, P-384, X25519 and RSA-OAEP-256 open with our keys.
    let extra = result["extra"].as_array().expect("extra");
    assert_eq!(extra.len(), extra_keys.len() + 1, "{result}");
    assert_eq!(extra[extra_keys.len()]["ownRefused"], 4, "the page refuses every malformed own: {result}");
    for (i, (key, sealed)) in extra_keys.iter().zip(extra).enumerate() {
        let binding = Binding {
            sub: "web-user".into(),
            cid: "web-cid".into(),
            exch: "kraken".into(),
            aud: "importer".into(),
            now: Some(sealgate_server::now_ms() / 1000),
        };
        let jwe = sealed["jwe"].as_str().expect("jwe");
        let opened = sealgate_envelope::open_credential(jwe.as_bytes(), key, &binding)
            .await
            .unwrap_or_else(|e| panic!("the page's envelope to {:?} does not open: {e}", key.public().kid()));
        assert_eq!(
            opened.credential.get("api_secret").map(|v| v.expose_secret().to_owned()).as_deref(),
            Some("extra-curve-secret")
        );
        assert_eq!(opened.header.hint, &API_KEY[API_KEY.len() - 4..]);
        // The page seals `own` sorted (PROFILE C8), on every other envelope.
        let own = opened.header.own.as_ref().map(|o| o.thumbprints().to_vec());
        let want = (i % 2 == 1).then(|| {
            vec![
                "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs".to_owned(),
                "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k".to_owned(),
            ]
        });
        assert_eq!(own, want, "own of the page's envelope {i}");
    }

    // Every request the page made: no secret, only envelopes (the script checked too).
    let sent = std::fs::read(artifacts.join("requests.json")).expect("requests.json");
    assert!(!contains(&sent, SECRET), "the canary is in a request the page made");
    let requests: Value = serde_json::from_slice(&sent).expect("requests json");
    assert!(requests.as_array().expect("list").len() >= 20, "{requests}");
    for s in ["binance", "okx"] {
        assert!(result["envelopes"].as_array().expect("envelopes").iter().any(|e| e["exchange"] == s), "{result}");
    }
    // Scopes as the user ticked them: importer read; trader read+trade; withdraw only when chosen.
    let scope_of = |cred: &str, role: &str| {
        result["envelopes"]
            .as_array()
            .expect("envelopes")
            .iter()
            .find(|e| e["credential"] == cred && e["role"] == role)
            .map(|e| e["header"]["scope"].clone())
    };
    assert_eq!(scope_of(cid, "importer"), Some(serde_json::json!(["read"])));
    assert_eq!(scope_of(cid, "trader"), Some(serde_json::json!(["read", "trade"])));
    let okx = result["okx_cid"].as_str().expect("okx cid");
    assert_eq!(scope_of(okx, "trader"), Some(serde_json::json!(["read", "trade", "withdraw"])));
    assert_eq!(scope_of(okx, "importer"), None);

    // The envelope the browser made opens in Rust with the role's key from the custody.
    let store = sealgate_store::Store::connect(&format!("sqlite://{}?mode=rw", data.join("sealgate.db").display()))
        .await
        .expect("store");
    let (row, envelope) = store.signer_envelope(user, cid, "trader").await.expect("read").expect("trader envelope");
    assert_eq!((row.owner.as_str(), row.exchange.as_str()), (user, "binance"));
    let key = custody.decryption_key(&envelope.kid).await.expect("role key");
    let binding = Binding {
        sub: user.to_owned(),
        cid: cid.to_owned(),
        exch: "binance".into(),
        aud: "trader".into(),
        now: Some(sealgate_server::now_ms() / 1000),
    };
    let opened = sealgate_envelope::open_credential(envelope.jwe.as_bytes(), key.as_ref(), &binding)
        .await
        .expect("the browser's envelope opens with the trader key");
    let h = &opened.header;
    assert_eq!((h.sub.as_str(), h.cid.as_str(), h.exch.as_str(), h.aud.as_str()), (user, cid, "binance", "trader"));
    assert_eq!(h.kid, envelope.kid);
    assert_eq!(h.hint, &API_KEY[API_KEY.len() - 4..]);
    let scope: Vec<&str> = h.scope.classes().iter().map(|c| c.name()).collect();
    assert_eq!(scope, ["read", "trade"]);
    let field = |name: &str| opened.credential.get(name).map(|v| v.expose_secret().to_owned());
    assert_eq!(field("api_key").as_deref(), Some(API_KEY));
    assert_eq!(field("api_secret").as_deref(), Some(SECRET));
    assert_eq!(opened.credential.field_names().collect::<Vec<_>>(), ["api_key", "api_secret"]);
    // Bound: the same envelope refuses another user, credential, exchange or role.
    for wrong in [
        Binding { sub: "mallory".into(), ..binding.clone() },
        Binding { cid: "other".into(), ..binding.clone() },
        Binding { exch: "kraken".into(), ..binding.clone() },
        Binding { aud: "importer".into(), ..binding.clone() },
    ] {
        assert!(sealgate_envelope::open_credential(envelope.jwe.as_bytes(), key.as_ref(), &wrong).await.is_err());
    }
    // The revoked importer envelope is gone; the deleted OKX key has no envelope left.
    assert!(store.signer_envelope(user, cid, "importer").await.expect("read").is_none());
    assert!(store.signer_envelope(user, okx, "trader").await.expect("read").is_none());
    // The order the page placed reached the exchange and was cancelled there.
    let orders = store.orders(user, 10).await.expect("orders");
    assert!(orders.iter().any(|o| o.credential_id == cid && o.status == "canceled"), "{orders:?}");
    // Two: the one cancelled by hand, and the one the lockdown's "cancel all open orders" took.
    assert_eq!(orders.iter().filter(|o| o.status == "canceled").count(), 2, "{orders:?}");
    store.close().await;

    // The CSP held: the only report is the one the script provoked on purpose.
    let logs = server.logs();
    assert_eq!(logs.matches("csp violation reported").count(), 1, "{logs}");
    // The canary is in no log line and no byte of the database.
    assert!(!logs.contains(SECRET), "the canary is in the server's logs");
    let mut db = Vec::new();
    for entry in std::fs::read_dir(&data).expect("data dir").flatten() {
        if entry.file_name().to_string_lossy().starts_with("sealgate.db") {
            db.extend(std::fs::read(entry.path()).expect("db file"));
        }
    }
    assert!(!db.is_empty() && !contains(&db, SECRET), "the canary is in the database");

    // Screenshots of every screen are artifacts.
    for name in [
        "01-signin",
        "02-add-credential",
        "03-refused-keyset",
        "04-credentials",
        "05-portfolio",
        "05b-portfolio-usdt",
        "06-trade",
        "07-credential-detail",
        "10-lockdown",
        "11-phone-add",
        "12-phone-portfolio",
    ] {
        assert!(artifacts.join(format!("{name}.png")).exists(), "screenshot {name}");
    }
    drop(server);
}
