//! Every custody starts the same way (issue 15, item 3): from an EMPTY custody of each
//! backend — the local keyring, a SoftHSM2 token over PKCS#11, OpenBao Transit — a split
//! `sealgate serve --roles signer` (the built binary, on SQLite) starts, creates the
//! importer and trader role keys of a kind that backend holds (P-256 ECDH on local and
//! PKCS#11, RSA-OAEP-256 on Transit), publishes them in the database, and a credential
//! sealed to each opens: an importer and a trader service client make a Kraken call
//! through the signer, which opens the envelope with the custody, against the sandbox.
//! The OpenBao signer runs with a token made from `docs/openbao-policy.hcl` as written.
//!
//! SoftHSM2 (`scripts/setup-softhsm.sh`) and OpenBao (`scripts/setup-openbao.sh`) must be
//! installed; `SEALGATE_SKIP_CUSTODY_SERVICES=1` skips their tests with a notice.

mod common;

use common::bao::Bao;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use sealgate_envelope::{KeyKind, PublicJwk, Scope, SealRequest, seal_credential};
use sealgate_exchanges::Request;
use sealgate_sandbox::{Amount, KeySpec, Market, Permissions, Sandbox, Venue};
use sealgate_server::client::{ForwardCall, SignerClient};
use sealgate_server::service_auth::ServiceKey;
use sealgate_server::signer::HttpSignerClient;
use sealgate_store::{NewCredential, NewEnvelope, Store};
use sealgate_testkit::process::{ServeListening, Spawned, word_after};
use serde_json::{Value, json};

const KRAKEN_KEY: &str = "kr-custody-start";

fn kraken_secret() -> String {
    base64::engine::general_purpose::STANDARD.encode([0x4bu8; 64])
}

/// Writes a 0600 file.
fn private_file(path: &Path, text: &str) {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).expect("create");
    f.write_all(text.as_bytes()).expect("write");
}

/// What each backend must have created on first start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    P256,
    Rsa3072,
}

/// The first start of a split signer on `custody_toml` (an empty custody), and a credential
/// sealed to each role key it made opened through it. `env`: extra environment for serve.
async fn first_start_opens(dir: &common::TempDir, custody_toml: &Path, env: &[(&str, &Path)], expect: Expect) {
    let service = dir.path("service");
    let made = common::ok(common::run(&["keys", "service-keys", "--dir", common::p(&service)], b""));
    assert!(made.contains("created") && made.contains("importer.key"), "{made}");

    let all = Permissions { read: true, trade: true, withdraw: false };
    let spec = KeySpec {
        venue: Venue::Kraken,
        api_key: KRAKEN_KEY.into(),
        secret: kraken_secret(),
        permissions: all,
        allowed_ips: vec![],
        passphrase: None,
        balances: vec![("XXBT".into(), Amount::parse("0.5").expect("amount"))],
    };
    let market = Market {
        symbol: "XBTUSD".into(),
        base: "XXBT".into(),
        quote: "ZUSD".into(),
        price: Amount::parse("40000").expect("amount"),
    };
    let sandbox =
        Sandbox::start("127.0.0.1:0".parse().expect("addr"), vec![spec], vec![market]).await.expect("sandbox");

    let db = format!("sqlite://{}?mode=rwc", dir.path("sealgate.db").display());
    let mut cmd = Command::new(common::BIN);
    cmd.args(["serve", "--roles", "signer", "--listen", "127.0.0.1:0", "--database", &db])
        .arg("--custody-config")
        .arg(custody_toml)
        .arg("--service-keys")
        .arg(&service)
        .arg("--data-dir")
        .arg(dir.path("signer-data"))
        .args(["--exchange-url", &format!("kraken=http://{}", sandbox.addr())]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut signer = Spawned::spawn(&mut cmd);
    let (up, pin) = signer
        .wait_for("signer listening", Duration::from_secs(90), |text| {
            Some((ServeListening::from_logs(text)?, word_after(text, "sealgate: root key pin ")?))
        })
        .await;
    let logs = signer.logs();
    for role in ["importer", "trader"] {
        assert!(logs.contains(&format!("created recipient key {role}-v1 for role {role}")), "{logs}");
    }

    let store = Store::connect(&db).await.expect("store");
    let root: Value = serde_json::from_str(
        &store.setting(sealgate_store::AUDIT_ROOT_JWK).await.expect("setting").expect("the database trusts a root"),
    )
    .expect("root JSON");
    assert_eq!(sealgate_custody::keyset::thumbprint(&root).expect("thumbprint"), pin);
    for role in ["importer", "trader"] {
        let keys = store.recipient_keys(Some(role)).await.expect("recipient keys");
        let [key] = keys.as_slice() else { panic!("one {role} key: {keys:?}\n{logs}") };
        let jwk = PublicJwk::from_json(key.public_jwk.as_bytes()).expect("JWK");
        match (expect, jwk.kind()) {
            (Expect::P256, KeyKind::Ecdh(sealgate_envelope::Curve::P256)) => {}
            (Expect::Rsa3072, KeyKind::Rsa { modulus_len: 384 }) => {
                assert_eq!(jwk.seal_alg().name(), "RSA-OAEP-256");
            }
            (want, got) => panic!("{role}: want a {want:?} key, the custody made {got:?}"),
        }

        // A credential sealed to the key (as a client does), opened by the signer.
        let cid = format!("kr-{role}");
        let req = SealRequest {
            sub: "u1".into(),
            cid: cid.clone(),
            exch: "kraken".into(),
            aud: role.into(),
            scope: Scope::parse_list("read").expect("scope"),
            iat: sealgate_server::now_ms() / 1000,
            own: None,
        };
        let secret = json!({"api_key": KRAKEN_KEY, "api_secret": kraken_secret()});
        let (jwe, _) = seal_credential(secret.to_string().as_bytes(), &jwk, &req).expect("seal");
        if store.user("u1").await.expect("user").is_none() {
            store.create_user("u1", None).await.expect("user");
        }
        store
            .create_credential(
                &NewCredential {
                    id: &cid,
                    owner: "u1",
                    exchange: "kraken",
                    label: "start",
                    hint: "tart",
                    scope: "read",
                },
                &[NewEnvelope { role, kid: &key.kid, jwe: &jwe }],
            )
            .await
            .expect("credential");
        let client = HttpSignerClient::new(
            &up.service,
            Arc::new(ServiceKey::load(&service, role).expect("service key made by keys service-keys")),
        )
        .expect("client");
        let call = ForwardCall {
            owner: "u1".parse().expect("owner"),
            credential_id: cid.parse().expect("cid"),
            request: Request::new("POST", "/0/private/Balance", "", ""),
        };
        let answer = client.forward(&call).await.unwrap_or_else(|e| panic!("{role}: {e}\n{}", signer.logs()));
        let body: Value = serde_json::from_str(&answer.body).expect("kraken JSON");
        assert_eq!((answer.status, &body["error"]), (200, &json!([])), "{role}: {body}");
        assert_eq!(body["result"]["XXBT"], "0.50000000", "{role}: {body}");
    }
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_custody_first_start_makes_p256_role_keys_that_open() {
    let dir = common::TempDir::new("custody-start-local");
    let toml = dir.path("custody.toml");
    std::fs::write(
        &toml,
        format!(
            "backend = \"local\"\n[local]\nkeyring = {:?}\nkey_file = {:?}\n",
            dir.path("keyring").display().to_string(),
            dir.path("master.key").display().to_string()
        ),
    )
    .expect("toml");
    common::ok(common::run(&["keys", "init", "--custody", common::p(&toml)], b""));
    first_start_opens(&dir, &toml, &[], Expect::P256).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pkcs11_custody_first_start_makes_p256_role_keys_that_open() {
    let module = Path::new("/usr/lib/softhsm/libsofthsm2.so");
    let have_util = Command::new("softhsm2-util").arg("--version").output().is_ok_and(|o| o.status.success());
    if !have_util || !module.exists() {
        sealgate_testkit::skip_or_fail(
            "SEALGATE_SKIP_CUSTODY_SERVICES",
            "the first start on a PKCS#11 custody (SoftHSM2)",
            "SoftHSM2 is not installed",
            "run `bash scripts/setup-softhsm.sh`",
        );
        return;
    }
    let dir = common::TempDir::new("custody-start-pkcs11");
    let conf = dir.path("softhsm2.conf");
    std::fs::create_dir(dir.path("tokens")).expect("tokens dir");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            dir.path("tokens").display()
        ),
    )
    .expect("softhsm2.conf");
    let pin = "1234-start";
    let out = Command::new("softhsm2-util")
        .args(["--init-token", "--free", "--label", "sealgate-start", "--so-pin", "5678-so", "--pin", pin])
        .env("SOFTHSM2_CONF", &conf)
        .output()
        .expect("softhsm2-util");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let pin_file = dir.path("hsm.pin");
    private_file(&pin_file, pin);
    let toml = dir.path("custody.toml");
    std::fs::write(
        &toml,
        format!(
            "backend = \"pkcs11\"\n[pkcs11]\nmodule = {:?}\ntoken_label = \"sealgate-start\"\npin_file = {:?}\n",
            module.display().to_string(),
            pin_file.display().to_string()
        ),
    )
    .expect("toml");
    // Not even `keys init`: the signer's first start makes the root key too.
    first_start_opens(&dir, &toml, &[("SOFTHSM2_CONF", &conf)], Expect::P256).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openbao_custody_first_start_makes_rsa_role_keys_that_open_under_the_documented_policy() {
    let dir = common::TempDir::new("custody-start-openbao");
    let Some(bao) = Bao::start(&dir, "the first start on an OpenBao custody") else { return };
    bao.ready().await;
    let token = bao.policy_token().await;
    let token_file = dir.path("bao.token");
    private_file(&token_file, &token);
    let toml = dir.path("custody.toml");
    std::fs::write(
        &toml,
        format!(
            "backend = \"openbao\"\n[openbao]\naddress = \"http://{}\"\ntoken_file = {:?}\n",
            bao.addr,
            token_file.display().to_string()
        ),
    )
    .expect("toml");
    first_start_opens(&dir, &toml, &[], Expect::Rsa3072).await;
}
