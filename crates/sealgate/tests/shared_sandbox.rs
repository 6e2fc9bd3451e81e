//! `sealgate sandbox`: one exchange sandbox for a fleet (issue 15), and `serve --sandbox-url`
//! pointing a signer at it. Each process prints the exchange URLs it uses.

use std::os::unix::fs::PermissionsExt as _;
use std::process::Command;
use std::time::Duration;

use sealgate_testkit::process::{Spawned, word_after};

const BIN: &str = env!("CARGO_BIN_EXE_sealgate");

fn run(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(BIN).args(args).output().expect("run sealgate");
    (out.status.code(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[tokio::test]
async fn one_sandbox_serves_a_signer_started_elsewhere() {
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = dir.path().join("sandbox-keys.json");
    let mut sandbox =
        Spawned::spawn(Command::new(BIN).args(["sandbox", "--listen", "127.0.0.1:0", "--keys"]).arg(&keys));
    let base = sandbox
        .wait_for("sandbox ready", Duration::from_secs(30), |t| word_after(t, "sealgate: exchange sandbox on "))
        .await;
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    assert!(sandbox.logs().contains(&format!("--sandbox-url {base}")), "{}", sandbox.logs());
    let mode = std::fs::metadata(&keys).expect("keys file").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the demo keys are secrets");

    // The sandbox answers as Binance does (a public endpoint: no key needed).
    let ticker: serde_json::Value = reqwest::get(format!("{base}/api/v3/ticker/price?symbol=BTCUSDT"))
        .await
        .expect("ticker")
        .json()
        .await
        .expect("json");
    assert_eq!(ticker["symbol"], "BTCUSDT", "{ticker}");

    let data = dir.path().join("data");
    let mut serve = Spawned::spawn(
        Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--sandbox-url", &format!("{base}/"), "--data-dir"])
            .arg(&data),
    );
    let urls = serve
        .wait_for("serve ready", Duration::from_secs(60), |t| {
            t.lines().find_map(|l| l.strip_prefix("sealgate: exchange URLs: ")).map(str::to_owned)
        })
        .await;
    let venues = sealgate_server::serve::SANDBOX_VENUES.to_vec();
    // Sorted as serve prints them: by `id=url` (`coinbase-exchange=` before `coinbase=`).
    let mut at_sandbox: Vec<String> = venues.iter().map(|v| format!("{v}={base}")).collect();
    at_sandbox.sort_unstable();
    let others = sealgate_server::serve::default_exchange_urls().len() - venues.len();
    let want = match others {
        0 => at_sandbox.join(", "),
        n => format!("{}; {n} other(s) at their production addresses", at_sandbox.join(", ")),
    };
    assert_eq!(urls, want, "every sandbox venue at the shared sandbox, without the trailing slash");
    assert_eq!(others, 0, "the sandbox speaks every exchange Sealgate signs for");
}

#[test]
fn sandbox_and_exchange_urls_are_checked_before_anything_starts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let data_arg = data.to_str().expect("utf-8 path");
    for (url, says) in [
        ("ftp://127.0.0.1:9900", "must be an http:// or https:// URL with a host"),
        ("http://u:p@127.0.0.1:9900", "must not carry credentials, a query or a fragment"),
        ("127.0.0.1:9900", "is not a URL"),
    ] {
        let (code, out) = run(&["serve", "--listen", "127.0.0.1:0", "--sandbox-url", url, "--data-dir", data_arg]);
        assert_eq!(code, Some(2), "{out}");
        assert!(out.contains("--sandbox-url") && out.contains(says), "{url}: {out}");
        assert!(!out.contains("u:p@") || !out.contains("listening"), "{out}");
    }
    let (code, out) = run(&["serve", "--exchange-url", "kraken=http://h/?x=1", "--data-dir", data_arg]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("--exchange-url") && out.contains("must not carry credentials, a query"), "{out}");
    let (code, out) = run(&["serve", "--sandbox", "--sandbox-url", "http://127.0.0.1:9900", "--data-dir", data_arg]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("cannot be used with"), "{out}");
    assert!(!data.exists(), "nothing is created for refused arguments");
}

#[test]
fn a_sandbox_keys_file_others_can_read_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = dir.path().join("keys.json");
    std::fs::write(&keys, "[]").expect("write");
    std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let (code, out) = run(&["sandbox", "--listen", "127.0.0.1:0", "--keys", keys.to_str().expect("utf-8")]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("mode 644 lets others read it; run: chmod 600"), "{out}");
}
