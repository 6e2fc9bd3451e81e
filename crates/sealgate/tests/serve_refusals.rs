//! `sealgate serve` refuses to start on the operator's mistakes of issue 15 (item 4), with
//! the cause and the fix in one `error:` line, exit code 2:
//!
//! - options checked before anything is created: a split role without `--database`, an
//!   importer without `--signer-url`, an importer or trader without its service key, a
//!   signer on a database without `--custody-config`, a split signer without the service
//!   keys' `.pub` files, an api without a key set to publish — the data directory does not
//!   exist afterwards;
//! - a signer whose custody root differs from the one the database trusts, naming both
//!   pins, before it makes or publishes a role key;
//! - a `--recipients-file` that expired, that does not verify under its pin, or whose pin
//!   is not the database's root.
//!
//! (The database's own mistakes are in `serve_database.rs`.)

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use sealgate_custody::config::CustodyConfig;
use sealgate_store::Store;
use serde_json::json;

/// Exit 2 and exactly `line` among the lines of stderr.
fn refused_with(out: &Output, line: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(stderr.lines().any(|l| l == line), "want the line\n{line}\nin:\n{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("listening on"), "{stdout}");
}

fn serve(args: &[&str]) -> Output {
    let mut all = vec!["serve", "--listen", "127.0.0.1:0"];
    all.extend_from_slice(args);
    common::run(&all, b"")
}

fn sqlite(dir: &common::TempDir) -> String {
    format!("sqlite://{}?mode=rwc", dir.path("sealgate.db").display())
}

/// A local custody TOML in `dir` (keyring and master key beside it), initialised.
fn local_custody(dir: &common::TempDir, name: &str) -> PathBuf {
    let toml = dir.path(&format!("{name}.toml"));
    std::fs::write(
        &toml,
        format!(
            "backend = \"local\"\n[local]\nkeyring = {:?}\nkey_file = {:?}\n",
            common::p(&dir.path(&format!("{name}.keyring"))),
            common::p(&dir.path(&format!("{name}.master.key")))
        ),
    )
    .expect("custody toml");
    common::ok(common::run(&["keys", "init", "--custody", common::p(&toml)], b""));
    toml
}

fn pin_of(toml: &Path) -> String {
    common::ok(common::run(&["keys", "pin", "--custody", common::p(toml)], b"")).trim().to_owned()
}

/// Makes the database trust `toml`'s custody root, as a first signer on it would.
async fn trust_root(db: &str, toml: &Path) {
    let custody = CustodyConfig::load(toml).expect("config").open().await.expect("custody");
    let root = custody.root_public().await.expect("root");
    let store = Store::connect(db).await.expect("store");
    store.set_setting(sealgate_store::AUDIT_ROOT_JWK, &root.to_string()).await.expect("setting");
    store.close().await;
}

#[test]
fn split_roles_are_checked_before_anything_is_created() {
    let dir = common::TempDir::new("refusals-args");
    let data = dir.path("data");
    let db = sqlite(&dir);
    let keys = dir.path("keys");
    let custody = dir.path("custody.toml"); // never read: the options are refused first
    let d = common::p(&data);
    let cases: Vec<(Vec<&str>, String)> = vec![
        (
            vec!["--roles", "importer", "--data-dir", d],
            "error: --roles importer needs --database: the processes of a split deployment share one database \
             (e.g. --database postgres://sealgate@127.0.0.1/sealgate)"
                .into(),
        ),
        (
            vec!["--roles", "api,trader", "--data-dir", d],
            "error: --roles api,trader needs --database: the processes of a split deployment share one database \
             (e.g. --database postgres://sealgate@127.0.0.1/sealgate)"
                .into(),
        ),
        (
            vec!["--roles", "importer", "--database", &db, "--data-dir", d],
            "error: role importer needs --signer-url (this process runs no signer)".into(),
        ),
        (
            vec!["--roles", "importer", "--database", &db, "--signer-url", "http://127.0.0.1:9", "--data-dir", d],
            format!(
                "error: role importer needs its service key {d}/service/importer.key, which does not exist: \
                 create the pairs once with `sealgate keys service-keys --dir DIR` and copy importer.key (mode 0600) \
                 here (the signers trust DIR's .pub files)"
            ),
        ),
        (
            vec![
                "--roles",
                "api,trader",
                "--database",
                &db,
                "--signer-url",
                "http://127.0.0.1:9",
                "--service-keys",
                common::p(&keys),
                "--data-dir",
                d,
            ],
            format!(
                "error: role trader needs its service key {}/trader.key, which does not exist: \
                 create the pairs once with `sealgate keys service-keys --dir DIR` and copy trader.key (mode 0600) \
                 here (the signers trust DIR's .pub files)",
                common::p(&keys)
            ),
        ),
        (
            vec!["--roles", "signer", "--database", &db, "--data-dir", d],
            format!(
                "error: a signer with --database needs --custody-config: every signer on a database shares one \
                 custody, and without it this process would create its own local keyring in {d}; write the \
                 custody TOML (see README, Usage) and run: sealgate keys init --custody FILE"
            ),
        ),
        (
            // The embedded default too, once it is given a (shared) database.
            vec!["--database", &db, "--data-dir", d],
            format!(
                "error: a signer with --database needs --custody-config: every signer on a database shares one \
                 custody, and without it this process would create its own local keyring in {d}; write the \
                 custody TOML (see README, Usage) and run: sealgate keys init --custody FILE"
            ),
        ),
        (
            vec![
                "--roles",
                "signer",
                "--database",
                &db,
                "--custody-config",
                common::p(&custody),
                "--service-keys",
                common::p(&keys),
                "--data-dir",
                d,
            ],
            format!(
                "error: the signer trusts the importer service key {k}/importer.pub, which does not exist: create \
                 the service key pairs with `sealgate keys service-keys --dir {k}`",
                k = common::p(&keys)
            ),
        ),
    ];
    for (args, want) in &cases {
        let out = serve(args);
        refused_with(&out, want);
        assert!(out.stdout.is_empty(), "{args:?}: {}", String::from_utf8_lossy(&out.stdout));
        assert!(!data.exists(), "{args:?} created the data directory");
        assert!(!dir.path("sealgate.db").exists(), "{args:?} created the database");
        assert!(!keys.exists(), "{args:?} created service keys");
    }

    // Once the service keys exist, an api with the trader still needs a key set to publish.
    common::ok(common::run(&["keys", "service-keys", "--dir", common::p(&keys)], b""));
    let out = serve(&[
        "--roles",
        "api,trader",
        "--database",
        &db,
        "--signer-url",
        "http://127.0.0.1:9",
        "--service-keys",
        common::p(&keys),
        "--data-dir",
        d,
    ]);
    refused_with(
        &out,
        "error: the api needs custody access (--custody-config) or --recipients-file to publish the key set",
    );
    assert!(!data.exists());
}

#[test]
fn service_keys_are_made_by_an_explicit_command() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = common::TempDir::new("refusals-service-keys");
    let keys = dir.path("service");
    let out = common::ok(common::run(&["keys", "service-keys", "--dir", common::p(&keys)], b""));
    let k = common::p(&keys);
    assert_eq!(
        out,
        format!(
            "created {k}/importer.key and importer.pub\ncreated {k}/trader.key and trader.pub\ncreated {k}/api.key and api.pub\n"
        )
    );
    let mode = |p: PathBuf| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode(keys.clone()), 0o700);
    for role in ["importer", "trader", "api"] {
        assert_eq!(mode(keys.join(format!("{role}.key"))), 0o600, "{role}.key");
        let public = std::fs::read_to_string(keys.join(format!("{role}.pub"))).expect("pub");
        let key = sealgate_server::service_auth::ServiceKey::load(&keys, role).expect("key");
        use base64::Engine as _;
        assert_eq!(public.trim(), base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.public_key()));
    }
    // Again: the pairs are kept, not replaced (the signers trust them).
    let before = std::fs::read(keys.join("importer.key")).expect("key");
    let again = common::ok(common::run(&["keys", "service-keys", "--dir", k], b""));
    assert_eq!(
        again,
        format!(
            "kept {k}/importer.key and importer.pub\nkept {k}/trader.key and trader.pub\nkept {k}/api.key and api.pub\n"
        )
    );
    assert_eq!(std::fs::read(keys.join("importer.key")).expect("key"), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signer_with_another_custody_root_does_not_join() {
    let dir = common::TempDir::new("refusals-root");
    let db = sqlite(&dir);
    let (deployment, other) = (local_custody(&dir, "deployment"), local_custody(&dir, "other"));
    trust_root(&db, &deployment).await;
    let keys = dir.path("keys");
    common::ok(common::run(&["keys", "service-keys", "--dir", common::p(&keys)], b""));
    let out = serve(&[
        "--roles",
        "signer",
        "--database",
        &db,
        "--custody-config",
        common::p(&other),
        "--service-keys",
        common::p(&keys),
        "--data-dir",
        common::p(&dir.path("data")),
    ]);
    refused_with(
        &out,
        &format!(
            "error: custody: its root key {} differs from the root the database already trusts ({}): this is not \
             the custody of the deployment on this database; start with the deployment's --custody-config",
            pin_of(&other),
            pin_of(&deployment)
        ),
    );
    // It made no role key in its custody and published none.
    let listed = common::ok(common::run(&["keys", "list", "--custody", common::p(&other)], b""));
    assert_eq!(listed.lines().count(), 1, "only the header: {listed}");
    let store = Store::connect(&db).await.expect("store");
    assert!(store.recipient_keys(None).await.expect("keys").is_empty());
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_foreign_or_unverifiable_recipients_file_refuses_to_start() {
    let dir = common::TempDir::new("refusals-recipients");
    let db = sqlite(&dir);
    let (deployment, other) = (local_custody(&dir, "deployment"), local_custody(&dir, "other"));
    let (pin, other_pin) = (pin_of(&deployment), pin_of(&other));
    let custody = CustodyConfig::load(&deployment).expect("config").open().await.expect("custody");
    custody.rotate("importer", custody.default_role_key_type()).await.expect("role key");
    let now = sealgate_server::now_ms() / 1000;
    let fresh = sealgate_custody::keyset::sign(custody.as_ref(), now, 3600).await.expect("set");
    let expired = sealgate_custody::keyset::sign(custody.as_ref(), now - 7200, 3600).await.expect("expired set");
    let tampered = {
        // Flip one character of the signature.
        let mut s = fresh.clone().into_bytes();
        let i = s.len() - 5;
        s[i] = if s[i] == b'A' { b'B' } else { b'A' };
        String::from_utf8(s).expect("utf8")
    };
    let file = |name: &str, jws: &str, pin: &str| {
        let path = dir.path(name);
        std::fs::write(&path, json!({"jws": jws, "pin": pin}).to_string()).expect("write");
        path
    };
    let data = dir.path("data");
    let start = |recipients: &Path| {
        serve(&[
            "--roles",
            "api",
            "--database",
            &db,
            "--recipients-file",
            common::p(recipients),
            "--data-dir",
            common::p(&data),
        ])
    };
    let reexport = "re-export it: sealgate keys export-recipients --custody CUSTODY_TOML --ttl SECONDS \
                    (and write {\"jws\", \"pin\"} as docs/scaled-deployment.md shows)";

    // Checked before anything is created.
    for (name, jws, pin, why) in [
        ("expired.json", expired.as_str(), pin.as_str(), "expired"),
        ("foreign-pin.json", fresh.as_str(), other_pin.as_str(), "signed by a key other than the pinned root"),
        ("tampered.json", tampered.as_str(), pin.as_str(), "signature does not verify"),
    ] {
        let path = file(name, jws, pin);
        refused_with(
            &start(&path),
            &format!("error: {}: recipient key set refused: {why}; {reexport}", path.display()),
        );
        assert!(!data.exists(), "{name}: the data directory was created");
    }

    // A valid set, but the database has no root yet, then trusts another root.
    let good = file("good.json", &fresh, &pin);
    refused_with(
        &start(&good),
        &format!(
            "error: {}: the database trusts no custody root yet, so the recipient key set (root {pin}) cannot be \
             checked: start a signer on this database first",
            good.display()
        ),
    );
    trust_root(&db, &other).await;
    refused_with(
        &start(&good),
        &format!(
            "error: {}: the recipient key set is pinned to root {pin}, but the database trusts root {other_pin}; \
             {reexport}",
            good.display()
        )
        .replace("; re-export it:", "; re-export it from the deployment's custody:"),
    );
}
