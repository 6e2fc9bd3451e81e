//! Proof that an exchange key born in the custody lives there and nowhere else (issue 18,
//! item 5): a real `sealgate serve` (every role, SQLite) whose custody is OpenBao Transit
//! under the documented policy, and the exchange sandbox. Through the api: a Binance
//! Ed25519 key is made in Transit, registered at the sandbox by its public key, activated;
//! the importer makes the portfolio equal the sandbox account and the trader fills an
//! order, each signature made by Transit.
//!
//! Then the private key is looked for. It is first *found* where it lives, as a positive
//! control of the search: in the OpenBao server's memory, as Go keeps an Ed25519 private
//! key (the 32-byte seed followed by the public key it derives). Knowing it, the test
//! searches, raw and in hex, base64, base64url and as a PKCS#8 PEM body: the memory of the
//! `sealgate serve` process (non-dumpable: needs root with CAP_SYS_PTRACE, as CI runs),
//! every file the test's directory holds (the SQLite database, its WAL, the data
//! directory, the logs), every line `serve` printed, and every HTTP answer the client got.
//! It is in none of them, and neither is any "PRIVATE KEY".
//!
//! Needs `scripts/setup-openbao.sh` (`SEALGATE_SKIP_CUSTODY_SERVICES=1` skips) and root for
//! the memory scan (`SEALGATE_SKIP_ROOT_CHECKS=1` skips that part).

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use base64::Engine as _;
use common::api::{Client, holding, login, wait_for_import};
use common::bao::Bao;
use sealgate_sandbox::{Amount, Market, Permissions, Sandbox, Venue};
use sealgate_testkit::process::{ServeListening, Spawned};
use serde_json::json;

fn amt(s: &str) -> Amount {
    Amount::parse(s).expect("amount")
}

fn private_file(path: &Path, text: &str) {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).expect("create");
    f.write_all(text.as_bytes()).expect("write");
}

/// The seed of the Ed25519 key whose public key is `public`, where a process keeps it as
/// Go (and most libraries) do: the seed right before the public key it derives.
fn seed_before(region: &[u8], public: &[u8; 32]) -> Option<[u8; 32]> {
    let mut from = 0;
    while let Some(i) = region[from..].windows(32).position(|w| w == public) {
        let at = from + i;
        if at >= 32 {
            let seed: [u8; 32] = region[at - 32..at].try_into().ok()?;
            if Ed25519KeyPair::from_seed_unchecked(&seed).is_ok_and(|k| k.public_key().as_ref() == public) {
                return Some(seed);
            }
        }
        from = at + 1;
    }
    None
}

/// Every spelling of the private key a leak could take.
fn spellings(seed: &[u8; 32]) -> Vec<(&'static str, Vec<u8>)> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    // RFC 8410 PKCS#8 of an Ed25519 private key: a fixed header, then the seed.
    let mut pkcs8 =
        vec![0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
    pkcs8.extend_from_slice(seed);
    vec![
        ("raw", seed.to_vec()),
        ("hex", seed.iter().map(|b| format!("{b:02x}")).collect::<String>().into_bytes()),
        ("base64", b64.encode(seed).trim_end_matches('=').as_bytes().to_vec()),
        ("base64url", url.encode(seed).into_bytes()),
        ("PKCS#8 PEM body", b64.encode(&pkcs8).into_bytes()),
    ]
}

fn find(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn files(dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            files(&path, out);
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((path.display().to_string(), bytes));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_private_key_lives_in_the_custody_and_nowhere_else() {
    let dir = common::TempDir::new("held-key-proof");
    let Some(bao) = Bao::start(&dir, "the held-key proof on an OpenBao custody") else { return };
    bao.ready().await;
    let token = bao.policy_token().await;
    let token_file = dir.path("bao.token");
    private_file(&token_file, &token);
    let toml = dir.path("custody.toml");
    private_file(
        &toml,
        &format!(
            "backend = \"openbao\"\n[openbao]\naddress = \"http://{}\"\ntoken_file = {:?}\n",
            bao.addr,
            token_file.display().to_string()
        ),
    );

    let market = Market { symbol: "BTCUSDT".into(), base: "BTC".into(), quote: "USDT".into(), price: amt("50000") };
    let sandbox = Sandbox::start("127.0.0.1:0".parse().expect("addr"), vec![], vec![market]).await.expect("sandbox");
    let data = dir.path("data");
    let mut serve = Spawned::spawn(
        Command::new(common::BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data)
            .arg("--custody-config")
            .arg(&toml)
            .args(["--exchange-url", &format!("binance=http://{}", sandbox.addr())])
            // The portfolio's price sources too: the test never leaves loopback.
            .args(
                sealgate_server::prices::SOURCES
                    .iter()
                    .flat_map(|id| ["--exchange-url".to_owned(), format!("{id}=http://{}", sandbox.addr())]),
            )
            .env("SEALGATE_LOG", "info"),
    );
    let up = serve
        .wait_for("serve listening", Duration::from_secs(90), |text| {
            ServeListening::from_logs(text).filter(|u| u.login.is_some())
        })
        .await;
    let base = up.base.clone();
    let client = Client::new();
    let me = login(&client, up.login.as_deref().expect("login link")).await;

    // The key, made in Transit, registered at the exchange, activated.
    let ask = json!({"id": "proof-1", "exchange": "binance", "key_type": "ed25519",
        "roles": ["importer", "trader"], "scope": ["read", "trade"]});
    let (s, made) = client.call(&base, &me, "POST", "/v1/custody-keys", Some(ask)).await;
    assert_eq!(s, 201, "{made}\n{}", serve.logs());
    let pem = made["public_pem"].as_str().expect("pem").to_owned();
    let balances = vec![("BTC".into(), amt("1.5")), ("USDT".into(), amt("25000"))];
    let everything = Permissions { read: true, trade: true, withdraw: true };
    let api_key = sandbox.register_public_key(Venue::Binance, &pem, everything, vec![], balances).expect("register");
    let (s, cred) = client
        .call(
            &base,
            &me,
            "POST",
            "/v1/custody-keys/activate",
            Some(json!({"pending": made["pending"], "api_key": api_key, "label": "proof"})),
        )
        .await;
    assert_eq!(s, 201, "{cred}");

    // The importer and the trader, signing through Transit.
    let p = wait_for_import(&client, &base, &me, "proof-1").await;
    assert_eq!(holding(&p, "BTC").trim_end_matches('0').trim_end_matches('.'), "1.5", "{p}");
    let order =
        json!({"credential_id": "proof-1", "symbol": "BTCUSDT", "side": "buy", "order_type": "market", "qty": "0.1"});
    let (s, placed) = client.call(&base, &me, "POST", "/v1/orders", Some(order)).await;
    assert!(s == 200 || s == 201, "{s} {placed}\n{}", serve.logs());
    assert_eq!(sandbox.free_balance(&api_key, "BTC"), Some(amt("1.6")), "{placed}");

    // The positive control: the key is where it lives, and the search finds it there.
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD.decode(body).expect("PEM body");
    let public: [u8; 32] = der[der.len() - 32..].try_into().expect("32 bytes");
    let mut seed = None;
    let (found, read) = sealgate_testkit::memory::scan(bao.child.id(), |region| {
        seed = seed_before(region, &public);
        seed.is_some()
    })
    .expect("read the OpenBao server's memory");
    assert!(found, "the Ed25519 key was not found in OpenBao's memory ({read} bytes): the search is blind");
    let seed = seed.expect("seed");

    // Everywhere else: files, logs, HTTP answers.
    let spelled = spellings(&seed);
    let mut all = Vec::new();
    files(&dir.0, &mut all);
    assert!(
        all.iter().any(|(p, _)| p.ends_with("sealgate.db")),
        "no database among {:?}",
        all.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    all.push(("serve's output".into(), serve.logs().into_bytes()));
    all.push(("the HTTP answers".into(), client.transcript().into_bytes()));
    for (what, bytes) in &all {
        for (how, needle) in &spelled {
            assert!(!find(bytes, needle), "the private key ({how}) is in {what}");
        }
        assert!(!find(bytes, b"PRIVATE KEY"), "a PRIVATE KEY is in {what}");
    }

    // The signer's memory: neither the seed nor any spelling of it, nor a key as Go keeps it.
    if sealgate_testkit::privileges::root_checks("the scan of the signer's memory for the held key") {
        let pid = serve.child.id();
        for (how, needle) in &spelled {
            let (found, read) = sealgate_testkit::memory::contains(pid, needle).expect("read the signer's memory");
            assert!(!found, "the private key ({how}) is in the signer's memory ({read} bytes read)");
        }
        let (found, _) = sealgate_testkit::memory::scan(pid, |r| seed_before(r, &public).is_some()).expect("scan");
        assert!(!found, "an Ed25519 private key of this public key is in the signer's memory");
    }
}
