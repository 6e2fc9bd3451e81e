//! The Passkeys panel in real headless Chromium, with Chromium's virtual authenticator
//! (DevTools protocol `WebAuthn.*`: CTAP2, internal transport, resident keys, verified user),
//! driven by `web/tests/passkeys.mjs` (npm `playwright-core`, pinned; `scripts/setup-browser.sh`
//! installs it and Debian's `chromium`).
//!
//! The page, opened at `http://localhost:PORT` (WebAuthn's relying party is `localhost`),
//! registers a passkey, is refused a second one on the same authenticator (the registered
//! credential is excluded), seals a credential, freezes it, and unfreezes it with the passkey's
//! approval of the exact new state it shows; then a service asks for a withdrawal with it
//! (the pending request the signer writes, made here in the store) and the owner approves it
//! on the credentials screen. Then, in Rust: the approvals as recorded verify and name that
//! passkey; the stored passkey is the
//! one the page listed, the registration is audited, and the envelope the browser sealed
//! carries `own` = exactly that passkey's thumbprint in its protected header. (Second
//! passkeys with a step-up, and removals, run against the api in
//! crates/sealgate-server/tests/api.rs with a software authenticator.)
//!
//! Without Chromium the test fails, unless `SEALGATE_SKIP_BROWSER=1`, when it skips loudly.

use std::process::Command;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use sealgate_testkit::process::{ServeListening, Spawned};
use serde_json::Value;

mod browser_kit;
use browser_kit::{CHROMIUM, browser_ready, repo_root, run_node};

const BIN: &str = env!("CARGO_BIN_EXE_sealgate");
const API_KEY: &str = "passkey-api-key-Q7zz";
const SECRET: &str = "CANARY-passkeys-browser-secret-91d3";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passkey_registered_in_the_browser_is_named_in_what_it_seals() {
    let root = repo_root();
    if !browser_ready(&root, "the passkeys browser test") {
        return;
    }
    let artifacts = root.join("target/browser-artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifacts dir");
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let mut proc = Spawned::spawn(
        Command::new(BIN)
            .args(["serve", "--sandbox", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data)
            .env("SEALGATE_LOG", "info"),
    );
    let up = proc
        .wait_for("serve listening", Duration::from_secs(60), |text| {
            ServeListening::from_logs(text).filter(|u| u.login.is_some())
        })
        .await;
    // WebAuthn refuses IP addresses as relying parties: the page is opened at localhost.
    let base = up.base.replace("127.0.0.1", "localhost");
    let login = up.login.unwrap_or_default().replace("127.0.0.1", "localhost");
    assert!(base.starts_with("http://localhost:") && login.starts_with(&base), "{base} {login}");

    let result_path = dir.path().join("result.json");
    let (node_root, node_result) = (root.clone(), result_path.display().to_string());
    let node = tokio::task::spawn_blocking(move || {
        run_node(
            &node_root,
            "passkeys.mjs",
            &[
                ("SEALGATE_BASE", base),
                ("SEALGATE_LOGIN", login),
                ("SEALGATE_API_KEY", API_KEY.to_owned()),
                ("SEALGATE_SECRET", SECRET.to_owned()),
                ("SEALGATE_ARTIFACTS", artifacts.display().to_string()),
                ("SEALGATE_RESULT", node_result),
                ("CHROMIUM", CHROMIUM.to_owned()),
            ],
            Duration::from_secs(180),
        )
    });
    // The page has sealed, frozen and unfrozen its credential: a service now asks for a
    // withdrawal with it (the pending request the signer writes), and the page approves it.
    let deadline = std::time::Instant::now() + Duration::from_secs(150);
    while !result_path.exists() {
        assert!(!node.is_finished() && std::time::Instant::now() < deadline, "the page did not get to the withdrawal");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let staged: Value = serde_json::from_slice(&std::fs::read(&result_path).expect("result")).expect("result json");
    let cid = staged["cid"].as_str().expect("cid").to_owned();
    let db_url = format!("sqlite://{}?mode=rw", data.join("sealgate.db").display());
    let store = sealgate_store::Store::connect(&db_url).await.expect("store");
    let request = sealgate_exchanges::Request::new(
        "POST",
        "/sapi/v1/capital/withdraw/apply",
        "coin=BTC&network=BTC&address=bc1qbrowser&amount=0.25",
        "",
    );
    let canonical = sealgate_exchanges::canonicalize("binance", &request).expect("canonical").request;
    let now = i64::try_from(sealgate_server::now_ms()).expect("now");
    let asked = sealgate_store::WithdrawalApproval {
        id: "browser-withdrawal-1".into(),
        owner: sealgate_server::serve::LOCAL_USER.into(),
        credential_id: cid.clone(),
        exchange: "binance".into(),
        role: "trader".into(),
        asset: "BTC".into(),
        amount: "0.25".into(),
        destination: "bc1qbrowser".into(),
        network: Some("BTC".into()),
        request_digest: sealgate_server::signer::request_digest(&canonical),
        state: "pending".into(),
        approval: None,
        created_ms: now,
        expires_ms: now + 300_000,
        decided_ms: None,
    };
    store.withdrawal_request(&asked, now).await.expect("pending withdrawal");
    std::fs::write(dir.path().join("result.json.go"), b"go").expect("go");
    node.await.expect("node");
    assert!(dir.path().join("result.json.done").exists());
    // The approval on the row is the passkey's, of exactly that request.
    let row =
        store.withdrawal(sealgate_server::serve::LOCAL_USER, "browser-withdrawal-1").await.expect("row").expect("row");
    assert_eq!(row.state, "approved");
    let approval: Value = serde_json::from_str(row.approval.as_deref().expect("approval")).expect("json");
    let approved = sealgate_server::owner_ledger::check_approval(
        &approval,
        sealgate_server::serve::LOCAL_USER,
        &cid,
        u64::try_from(now).expect("now") / 1000,
    )
    .expect("the approval verifies");
    assert_eq!(approved.statement.canonical(), row_statement(&approval));
    store.close().await;
    let result: Value = serde_json::from_slice(&std::fs::read(&result_path).expect("result")).expect("result json");
    let thumbprint = result["thumbprint"].as_str().expect("thumbprint");
    let cid = result["cid"].as_str().expect("cid");
    let user = sealgate_server::serve::LOCAL_USER;

    let store = sealgate_store::Store::connect(&format!("sqlite://{}?mode=rw", data.join("sealgate.db").display()))
        .await
        .expect("store");
    // The one passkey left is the one the page listed; its thumbprint is its key's (K3).
    let passkeys = store.passkeys(user).await.expect("passkeys");
    assert_eq!(passkeys.len(), 1, "{passkeys:?}");
    assert_eq!(passkeys[0].thumbprint, thumbprint);
    let key = sealgate_authority::AuthorityKey::from_jwk(passkeys[0].jwk.as_bytes()).expect("stored JWK");
    assert_eq!(key.thumbprint(), thumbprint);
    // The registration is audited.
    let trail = store.audit_for_owner(user, 0, 1000).await.expect("trail");
    assert_eq!(trail.iter().filter(|r| r.action == "passkey_added").count(), 1, "{trail:?}");

    // The freeze and the approved unfreeze are on the record; the approval, as recorded,
    // verifies (as every signer checks it) and was made by that passkey.
    let changes: Vec<_> = trail.iter().filter(|r| r.action == "credential_status").collect();
    assert_eq!(changes.len(), 2, "{trail:?}");
    let freeze: Value = serde_json::from_str(&changes[0].detail).expect("detail");
    assert!(freeze.get("approval").is_none() && freeze["status"] == "frozen", "{freeze}");
    let unfreeze: Value = serde_json::from_str(&changes[1].detail).expect("detail");
    let approved = sealgate_server::owner_ledger::check_approval(
        &unfreeze["approval"],
        user,
        cid,
        u64::try_from(changes[1].time_ms).expect("time") / 1000,
    )
    .expect("the recorded approval verifies");
    assert_eq!(approved.thumbprint, thumbprint);

    // The envelope the browser sealed names exactly that passkey in `own`.
    let (_, envelope) = store.signer_envelope(user, cid, "trader").await.expect("read").expect("trader envelope");
    let protected = envelope.jwe.split('.').next().expect("protected header");
    let header: Value = serde_json::from_slice(&B64.decode(protected).expect("base64url")).expect("header json");
    assert_eq!(header["own"], serde_json::json!([thumbprint]), "{header}");
    store.close().await;
    assert!(!proc.logs().contains(SECRET), "the canary is in the server's logs");
}

/// The statement text an approval member carries.
fn row_statement(approval: &Value) -> Vec<u8> {
    approval["statement"].as_str().expect("statement").as_bytes().to_vec()
}
