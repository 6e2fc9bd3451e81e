//! A credential whose exchange key is made in the custody, through the web client in real
//! headless Chromium (Debian's `chromium`, driven by npm `playwright-core`:
//! `scripts/setup-browser.sh` installs both).
//!
//! The test starts an empty Binance sandbox and `sealgate serve` pointed at it, and runs
//! `web/tests/custody_key.mjs`: sign in with the printed link, choose "Let Sealgate make the
//! key" (offered for Binance and Bybit only), make a key and discard it (nothing is stored),
//! make a Binance Ed25519 key for the Importer and the Trader, copy the public key
//! the page shows, register it at the sandbox over HTTP (`POST /sandbox/v1/keys`, as the user
//! would on Binance's key page), paste back the API key id (after one refusal the page must
//! show), see the credential in the list, wait for the import to show the sandbox account
//! and rest a limit order. Then, in Rust: the portfolio and the order are the registered
//! account's, the stored grants name the registered API key id and the public key the page
//! showed, and no request or response the page recorded, no log line and no byte of the
//! database contains "PRIVATE KEY".
//!
//! Without Chromium the test fails, unless `SEALGATE_SKIP_BROWSER=1`, when it skips loudly.

use std::process::Command;
use std::time::Duration;

use base64::Engine as _;
use sealgate_sandbox::{Amount, Market, Sandbox};
use sealgate_testkit::process::{ServeListening, Spawned};
use serde_json::{Value, json};

mod browser_kit;
use browser_kit::{CHROMIUM, browser_ready, repo_root, run_node};

const BIN: &str = env!("CARGO_BIN_EXE_sealgate");
/// What must appear nowhere the page or the server reach.
const FORBIDDEN: &str = "PRIVATE KEY";

fn amt(s: &str) -> Amount {
    Amount::parse(s).expect("amount")
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// The DER inside a `PUBLIC KEY` PEM.
fn pem_der(pem: &str) -> Vec<u8> {
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD.decode(b64).expect("PEM base64")
}

/// A grant's payload (a compact JWS; its signature the signer checks, this test reads it).
fn grant_payload(jws: &str) -> Value {
    let part = jws.split('.').nth(1).expect("JWS payload");
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).expect("base64url"))
        .expect("payload JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_made_in_the_custody_through_the_web_client() {
    let root = repo_root();
    if !browser_ready(&root, "the web client's custody-key browser test") {
        return;
    }
    let artifacts = root.join("target/browser-artifacts-custody-key");
    let _ = std::fs::remove_dir_all(&artifacts);
    std::fs::create_dir_all(&artifacts).expect("artifacts dir");

    // An exchange with no key yet: the page's key is registered while the test runs.
    let market = Market { symbol: "BTCUSDT".into(), base: "BTC".into(), quote: "USDT".into(), price: amt("50000") };
    let sandbox = Sandbox::start("127.0.0.1:0".parse().expect("addr"), vec![], vec![market]).await.expect("sandbox");
    let sandbox_url = format!("http://{}", sandbox.addr());

    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let mut proc = Spawned::spawn(
        Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data)
            .args(["--exchange-url", &format!("binance={sandbox_url}")])
            // The portfolio's price sources too: the test never leaves loopback.
            .args(
                sealgate_server::prices::SOURCES
                    .iter()
                    .flat_map(|id| ["--exchange-url".to_owned(), format!("{id}={sandbox_url}")]),
            )
            .env("SEALGATE_LOG", "info"),
    );
    let up = proc
        .wait_for("serve listening", Duration::from_secs(60), |text| {
            ServeListening::from_logs(text).filter(|u| u.login.is_some())
        })
        .await;

    let result_path = dir.path().join("result.json");
    let balances = json!({"BTC": "1.5", "USDT": "25000"});
    run_node(
        &root,
        "custody_key.mjs",
        &[
            ("SEALGATE_BASE", up.base.clone()),
            ("SEALGATE_LOGIN", up.login.clone().unwrap_or_default()),
            ("SEALGATE_SANDBOX", sandbox_url.clone()),
            ("SEALGATE_BALANCES", balances.to_string()),
            ("SEALGATE_ARTIFACTS", artifacts.display().to_string()),
            ("SEALGATE_RESULT", result_path.display().to_string()),
            ("CHROMIUM", CHROMIUM.to_owned()),
        ],
        Duration::from_secs(240),
    );
    let result: Value = serde_json::from_slice(&std::fs::read(&result_path).expect("result")).expect("result json");
    let user = result["user"].as_str().expect("user");
    let cid = result["cid"].as_str().expect("cid");
    let api_key = result["api_key"].as_str().expect("api_key");
    let pem = result["public_pem"].as_str().expect("public_pem");
    assert_eq!(user, sealgate_server::serve::LOCAL_USER);
    assert_eq!(result["key_type"], "ed25519", "{result}");

    // The import read the registered account, through the custody's signature: the
    // portfolio is the sandbox's balances, on this credential.
    let assets = result["portfolio"]["assets"].as_array().expect("portfolio assets");
    for (asset, amount) in balances.as_object().expect("balances") {
        let a = assets.iter().find(|a| a["asset"] == *asset).unwrap_or_else(|| panic!("{asset} in {result}"));
        let total: f64 = a["total"].as_str().expect("total").parse().expect("number");
        assert_eq!(total, amount.as_str().expect("amount").parse::<f64>().expect("number"), "{asset}: {a}");
        assert!(a["by_exchange"].as_array().expect("by exchange").iter().all(|b| b["credential_id"] == cid), "{a}");
    }
    // The order the page placed rests at the sandbox on that account: 400 USDT locked.
    let mut held = sandbox.balances(api_key);
    held.sort();
    assert_eq!(
        held,
        [("BTC".to_owned(), amt("1.5"), amt("0")), ("USDT".to_owned(), amt("24600"), amt("400"))],
        "the registered account after the order: {held:?}"
    );

    // What was stored: grants (no envelope) naming the registered API key id and the very
    // public key the page showed, one per role, for this owner, credential and exchange.
    let store = sealgate_store::Store::connect(&format!("sqlite://{}?mode=rw", data.join("sealgate.db").display()))
        .await
        .expect("store");
    let spk = sealgate_custody::grant::spki_digest(&pem_der(pem));
    for role in ["importer", "trader"] {
        let (row, stored) = store.signer_envelope(user, cid, role).await.expect("read").expect("a grant per role");
        assert_eq!((row.owner.as_str(), row.exchange.as_str()), (user, "binance"));
        assert!(sealgate_custody::grant::is_grant(&stored.jwe), "{role}: a grant, not an envelope");
        let g = grant_payload(&stored.jwe);
        assert_eq!(
            (g["sub"].as_str(), g["cid"].as_str(), g["exch"].as_str()),
            (Some(user), Some(cid), Some("binance"))
        );
        assert_eq!((g["aud"].as_str(), g["api_key"].as_str()), (Some(role), Some(api_key)), "{g}");
        assert_eq!(g["key"], result["key_id"], "{g}");
        assert_eq!(g["spk"].as_str(), Some(spk.as_str()), "the grant names the key the page showed: {g}");
        assert_eq!(g["scope"], json!(["read", "trade"]), "{g}");
    }
    let bg = store.owner_envelopes(user, result["bitget"]["cid"].as_str().expect("cid")).await.expect("rows");
    let [row] = bg.as_slice() else { panic!("one grant (trader): {bg:?}") };
    let g = grant_payload(&row.jwe);
    assert_eq!((g["exch"].as_str(), g["aud"].as_str()), (Some("bitget"), Some("trader")), "{g}");
    assert_eq!(g["api_key"], result["bitget"]["api_key"], "{g}");
    assert_eq!(g["sealed"].as_str().map(|j| j.split('.').count()), Some(5), "the passphrase travels sealed: {g}");
    let orders = store.orders(user, 10).await.expect("orders");
    assert!(orders.iter().any(|o| o.credential_id == cid && o.status == "open"), "{orders:?}");
    store.close().await;

    // No private key anywhere the page or the server reach.
    for name in ["requests.json", "responses.json"] {
        let bytes = std::fs::read(artifacts.join(name)).expect(name);
        assert!(!contains(&bytes, FORBIDDEN), "{FORBIDDEN} in {name}");
        let recorded: Value = serde_json::from_slice(&bytes).expect("recorded json");
        assert!(recorded.as_array().expect("list").len() >= 10, "{name}: {recorded}");
    }
    let responses = std::fs::read_to_string(artifacts.join("responses.json")).expect("responses.json");
    assert!(responses.contains("BEGIN PUBLIC KEY"), "the public key is in what the page got");
    let logs = proc.logs();
    assert!(!logs.contains(FORBIDDEN), "{FORBIDDEN} in the server's logs");
    assert!(!logs.contains(pem.lines().nth(1).unwrap_or("?")), "the public key is not logged either");
    assert_eq!(logs.matches("csp violation reported").count(), 0, "{logs}");
    let mut db = Vec::new();
    for entry in std::fs::read_dir(&data).expect("data dir").flatten() {
        if entry.file_name().to_string_lossy().starts_with("sealgate.db") {
            db.extend(std::fs::read(entry.path()).expect("db file"));
        }
    }
    assert!(!db.is_empty() && !contains(&db, FORBIDDEN), "{FORBIDDEN} in the database");

    // Bitget's passphrase, typed in the page, is sealed there: the logs and the database
    // never hold it in clear, and the stored grant carries it sealed.
    let passphrase = result["bitget"]["passphrase"].as_str().expect("bitget passphrase");
    assert!(!contains(&db, passphrase), "the Bitget passphrase in the database");
    assert!(!logs.contains(passphrase), "the Bitget passphrase in the logs");

    for name in [
        "01-custody-choose",
        "02-custody-steps",
        "03-phone-custody-steps",
        "04-custody-error",
        "05-custody-active",
        "06-credentials",
        "07-portfolio",
    ] {
        assert!(artifacts.join(format!("{name}.png")).exists(), "screenshot {name}");
    }
    drop(proc);
    drop(sandbox);
}
