//! The `openbao` backend against a real OpenBao dev server on loopback
//! (`.venv-openbao/bin/bao`, installed by `scripts/setup-openbao.sh`).
//! Each test starts its own server on a free port with a random root token
//! and kills it on drop. The token reaches the client through a 0600 temp
//! file or an environment variable, never through our argv.

mod journey;

use std::io::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use sealgate_custody::openbao::{Auth, OpenBaoConfig, OpenBaoCustody, SecretSource, Url};
use sealgate_custody::{Custody, CustodyError, ExchangeKeyType, Exportability, KeyStatus, RoleKeyType, conformance};
use sealgate_envelope::secrecy::ExposeSecret as _;
use sealgate_envelope::{AlgPolicy, Binding, Jwe, Scope, SealRequest, open_credential, seal_compact, seal_credential};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    SystemRandom::new().fill(&mut b).expect("rng");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A private temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let p = std::env::temp_dir().join(format!("sealgate-openbao-{}", random_hex(8)));
        std::fs::create_dir(&p).expect("temp dir");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        }
        Self(p)
    }

    /// Write a 0600 file.
    fn secret_file(&self, name: &str, content: &str) -> PathBuf {
        let path = self.0.join(name);
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            opts.mode(0o600);
        }
        opts.open(&path).expect("secret file").write_all(content.as_bytes()).expect("write");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A dev server; killed on drop.
struct Bao {
    child: Child,
    addr: String,
    root_token: String,
    dir: TempDir,
}

impl Drop for Bao {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

impl Bao {
    /// Start a dev server, or `None` (with a loud notice) when it is missing
    /// and SEALGATE_SKIP_CUSTODY_SERVICES=1.
    fn start() -> Option<Self> {
        let bin = workspace_root().join(".venv-openbao/bin/bao");
        if !bin.exists() {
            sealgate_testkit::skip_or_fail(
                "SEALGATE_SKIP_CUSTODY_SERVICES",
                "the OpenBao custody tests",
                &format!("the OpenBao server binary {} is missing", bin.display()),
                "run `bash scripts/setup-openbao.sh`",
            );
            return None;
        }
        let mut dir = TempDir::new();
        let root_token = format!("root-{}", random_hex(16));
        // Retry on a port race with another test.
        for _ in 0..5 {
            let addr = format!("127.0.0.1:{}", free_port());
            let log = std::fs::File::create(dir.0.join("bao.log")).expect("log file");
            let child = Command::new(&bin)
                .args(["server", "-dev", "-dev-no-store-token"])
                .arg(format!("-dev-root-token-id={root_token}"))
                .arg(format!("-dev-listen-address={addr}"))
                .env("HOME", &dir.0)
                .env_remove("VAULT_TOKEN")
                .env_remove("BAO_TOKEN")
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log"))
                .stderr(log)
                .spawn()
                .expect("spawn bao");
            let mut bao = Bao { child, addr, root_token: root_token.clone(), dir };
            if bao.wait_healthy() {
                return Some(bao);
            }
            let _ = bao.child.kill();
            let _ = bao.child.wait();
            let log = std::fs::read_to_string(bao.dir.0.join("bao.log")).unwrap_or_default();
            eprintln!("bao did not come up on {}, retrying; log tail:\n{}", bao.addr, tail(&log));
            dir = std::mem::replace(&mut bao.dir, TempDir::new());
        }
        panic!("OpenBao dev server did not start");
    }

    fn wait_healthy(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if let Ok((200, _)) = http(&self.addr, "GET", "/v1/sys/health", None, None) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    fn url(&self) -> Url {
        Url::parse(&format!("http://{}", self.addr)).expect("url")
    }

    /// An admin call with the root token (setup only).
    fn admin(&self, method: &str, path: &str, body: Option<&str>) -> String {
        let (status, body) = http(&self.addr, method, path, Some(&self.root_token), body).expect("admin request");
        assert!((200..300).contains(&status), "{method} {path}: HTTP {status}: {body}");
        body
    }

    fn enable_transit(&self) {
        self.admin("POST", "/v1/sys/mounts/transit", Some(r#"{"type":"transit"}"#));
    }

    fn token_config(&self) -> OpenBaoConfig {
        let file = self.dir.secret_file(&format!("token-{}", random_hex(4)), &format!("{}\n", self.root_token));
        OpenBaoConfig::new(self.url(), Auth::Token(SecretSource::File(file)))
    }
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// Minimal HTTP/1.1 client for the test's own admin calls (no client deps).
fn http(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> std::io::Result<(u16, String)> {
    use std::io::Read as _;
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let body = body.unwrap_or("");
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    if let Some(t) = token {
        req.push_str(&format!("X-Vault-Token: {t}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes())?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let body =
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(rest) } else { rest.to_owned() };
    Ok((status, body))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((len, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(len.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// Exchange keys born in Transit (issue 18): `ed25519` and `rsa-2048` keys created
/// non-exportable, signed with `transit/sign` (Go's crypto) and verified with aws-lc-rs; what
/// Transit itself reports about each key is checked with the admin token, and a key made
/// exportable behind the custody's back is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchange_keys_are_born_in_transit() {
    use sealgate_custody::{ExchangeKeyType, Exportability};
    let Some(bao) = Bao::start() else { return };
    bao.enable_transit();
    let custody = OpenBaoCustody::connect(bao.token_config()).await.expect("connect");
    conformance::exchange_keys(&custody, &ExchangeKeyType::ALL, Exportability::NonExportable).await;
    for (t, name) in [(ExchangeKeyType::Ed25519, "ed25519"), (ExchangeKeyType::Rsa2048, "rsa-2048")] {
        let k = custody.create_exchange_key(t).await.expect("create");
        let body = bao.admin("GET", &format!("/v1/transit/keys/{}", k.id), None);
        let v: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert_eq!(v["data"]["type"], name, "{body}");
        assert_eq!(v["data"]["exportable"], false, "{body}");
        assert_eq!(v["data"]["allow_plaintext_backup"], false, "{body}");
        // The export endpoint refuses it.
        let path = format!("/v1/transit/export/signing-key/{}", k.id);
        let (status, export) = http(&bao.addr, "GET", &path, Some(&bao.root_token), None).expect("export");
        assert!(status >= 400 && !export.contains("\"keys\""), "HTTP {status}: {export}");
        // A fresh connection (a restarted signer) finds and uses it.
        let other = OpenBaoCustody::connect(bao.token_config()).await.expect("connect again");
        let sig = other.exchange_sign(&k.id, b"m").await.expect("sign");
        assert!(k.verify(b"m", &sig));
        other.destroy_exchange_key(&k.id).await.expect("destroy");
        let path = format!("/v1/transit/keys/{}", k.id);
        let (status, _) = http(&bao.addr, "GET", &path, Some(&bao.root_token), None).expect("read");
        assert_eq!(status, 404, "still in Transit after destroy");
    }
}

/// The journey on Transit: keys made in it, registered at the sandbox by public key,
/// orders signed by `transit/sign` and verified by the sandbox.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchange_keys_trade_at_the_sandbox() {
    let Some(bao) = Bao::start() else { return };
    bao.enable_transit();
    let custody = OpenBaoCustody::connect(bao.token_config()).await.expect("connect");
    journey::exchange_keys_trade_through(&custody, &sealgate_custody::ExchangeKeyType::ALL).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_rsa3072_and_a_credential_opens() {
    let Some(bao) = Bao::start() else { return };
    bao.enable_transit();
    let custody = OpenBaoCustody::connect(bao.token_config()).await.expect("connect");
    assert_eq!(custody.backend(), "openbao");
    conformance::run(&custody, "trader", RoleKeyType::Rsa3072).await;

    // Keys are held non-exportable, and Transit says so.
    let keys = custody.keys().await.expect("keys");
    assert!(!keys.is_empty());
    for k in &keys {
        assert_eq!(custody.exportability(&k.kid).await.expect("exportability"), Exportability::NonExportable);
        let body = bao.admin("GET", &format!("/v1/transit/keys/{}", k.kid), None);
        assert!(body.contains(r#""exportable":false"#) && body.contains(r#""allow_plaintext_backup":false"#), "{body}");
        let (status, _) = http(
            &bao.addr,
            "GET",
            &format!("/v1/transit/export/encryption-key/{}", k.kid),
            Some(&bao.root_token),
            None,
        )
        .expect("export attempt");
        assert!(!(200..300).contains(&status), "Transit exported a role key");
    }

    // A client made anew (as after a restart) sees the same versions and statuses.
    let again = OpenBaoCustody::connect(bao.token_config()).await.expect("reconnect");
    let relisted = again.keys().await.expect("keys");
    for k in &keys {
        let r = relisted.iter().find(|r| r.kid == k.kid).expect("version survives a restart");
        assert_eq!((r.status, r.version, r.created_at, &r.role), (k.status, k.version, k.created_at, &k.role));
        assert_eq!(r.public, k.public);
    }
    assert_eq!(again.root_public().await.expect("root"), custody.root_public().await.expect("root"));

    // RSA-OAEP-256 ciphertexts made elsewhere (our seal_compact to the JWK
    // built from Transit's PEM) open through Transit; a garbled one fails
    // like a tag failure; SHA-1 OAEP is refused as unsupported.
    let active = keys.iter().find(|k| k.status == KeyStatus::Active && k.role == "trader").expect("active");
    let key = custody.decryption_key(&active.kid).await.expect("handle");
    let jwe = seal_compact(b"hello transit", &active.public, &serde_json::Map::new()).expect("seal");
    let plain =
        Jwe::parse(jwe.as_bytes(), &AlgPolicy::CREDENTIAL).expect("parse").open(key.as_ref()).await.expect("open");
    assert_eq!(plain.expose_secret(), b"hello transit");
    let req = SealRequest {
        sub: "u9".into(),
        cid: "c-latency".into(),
        exch: "kraken".into(),
        aud: "trader".into(),
        scope: Scope::parse_list("read,trade").expect("scope"),
        iat: 1,
        own: None,
    };
    let credential = br#"{"api_key":"LATENCY-KEY-9876","api_secret":"latency-secret"}"#;
    let (env, _) = seal_credential(credential, &active.public, &req).expect("seal credential");
    let binding =
        Binding { sub: "u9".into(), cid: "c-latency".into(), exch: "kraken".into(), aud: "trader".into(), now: None };
    let mut garbled = env.clone().into_bytes();
    let parts: Vec<usize> = garbled.iter().enumerate().filter(|(_, b)| **b == b'.').map(|(i, _)| i).collect();
    garbled[parts[0] + 5] = if garbled[parts[0] + 5] == b'A' { b'B' } else { b'A' };
    assert!(open_credential(&garbled, key.as_ref(), &binding).await.is_err(), "garbled wrapped key opened");
    let wrapped = vec![7u8; 384];
    assert!(matches!(
        key.rsa_oaep_decrypt(sealgate_envelope::OaepHash::Sha256, &wrapped).await,
        Err(sealgate_envelope::KeyError::Crypto)
    ));
    assert!(matches!(
        key.rsa_oaep_decrypt(sealgate_envelope::OaepHash::Sha1, &wrapped).await,
        Err(sealgate_envelope::KeyError::Unsupported(_))
    ));

    // The credential opens through Transit, every field intact. (Its latency is
    // measured by `cargo bench -p sealgate-custody --bench custody_load` with
    // SEALGATE_BENCH_OPENBAO, not here.)
    let opened = open_credential(env.as_bytes(), key.as_ref(), &binding).await.expect("open");
    let field = |n: &str| opened.credential.get(n).map(|v| v.expose_secret().to_owned());
    assert_eq!(field("api_key").as_deref(), Some("LATENCY-KEY-9876"));
    assert_eq!(field("api_secret").as_deref(), Some("latency-secret"));
    assert_eq!(opened.credential.field_names().collect::<Vec<_>>(), ["api_key", "api_secret"]);
    assert_eq!((opened.header.cid.as_str(), opened.header.aud.as_str()), ("c-latency", "trader"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compact_jwe_opens_through_transit() {
    let Some(bao) = Bao::start() else { return };
    bao.enable_transit();
    let custody = OpenBaoCustody::connect(bao.token_config()).await.expect("connect");
    let v = custody.rotate("importer", RoleKeyType::Rsa4096).await.expect("rsa-4096");
    assert!(matches!(v.public.kind(), sealgate_envelope::KeyKind::Rsa { modulus_len: 512 }));
    let key = custody.decryption_key(&v.kid).await.expect("handle");
    let jwe = seal_compact(b"payload made elsewhere", &v.public, &serde_json::Map::new()).expect("seal");
    let parsed = Jwe::parse(jwe.as_bytes(), &AlgPolicy::CREDENTIAL).expect("parse");
    let plain = parsed.open(key.as_ref()).await.expect("open via Transit");
    assert_eq!(plain.expose_secret(), b"payload made elsewhere");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approle_login_and_bad_secret_id() {
    let Some(bao) = Bao::start() else { return };
    bao.enable_transit();
    bao.admin("POST", "/v1/sys/auth/approle", Some(r#"{"type":"approle"}"#));
    let policy = r#"path "transit/keys/*" { capabilities = ["create", "read", "update"] }
path "transit/decrypt/*" { capabilities = ["update"] }
path "transit/sign/sealgate-root" { capabilities = ["update"] }
path "secret/data/sealgate-custody/*" { capabilities = ["create", "read", "update"] }
path "secret/metadata/sealgate-custody/*" { capabilities = ["list"] }
path "secret/metadata/sealgate-custody/" { capabilities = ["list"] }"#;
    let body = serde_json::json!({ "policy": policy }).to_string();
    bao.admin("PUT", "/v1/sys/policies/acl/sealgate-signer", Some(&body));
    bao.admin(
        "POST",
        "/v1/auth/approle/role/signer",
        Some(r#"{"token_policies":["sealgate-signer"],"token_ttl":"10m"}"#),
    );
    let role_id: serde_json::Value =
        serde_json::from_str(&bao.admin("GET", "/v1/auth/approle/role/signer/role-id", None)).expect("json");
    let role_id = role_id["data"]["role_id"].as_str().expect("role_id").to_owned();
    let secret: serde_json::Value =
        serde_json::from_str(&bao.admin("POST", "/v1/auth/approle/role/signer/secret-id", None)).expect("json");
    let secret_id = secret["data"]["secret_id"].as_str().expect("secret_id").to_owned();

    // The secret_id from a 0600 file (setting an environment variable needs
    // `unsafe` in edition 2024, which the workspace forbids).
    let file = bao.dir.secret_file("secret-id", &secret_id);
    let config =
        OpenBaoConfig::new(bao.url(), Auth::AppRole { role_id: role_id.clone(), secret_id: SecretSource::File(file) });
    let custody = OpenBaoCustody::connect(config).await.expect("AppRole login");
    let v = custody.rotate("signer-role", RoleKeyType::Rsa3072).await.expect("rotate under AppRole policy");
    let key = custody.decryption_key(&v.kid).await.expect("handle");
    let jwe = seal_compact(b"approle", &v.public, &serde_json::Map::new()).expect("seal");
    let plain =
        Jwe::parse(jwe.as_bytes(), &AlgPolicy::CREDENTIAL).expect("parse").open(key.as_ref()).await.expect("open");
    assert_eq!(plain.expose_secret(), b"approle");
    let sig = custody.root_sign(b"x").await.expect("root sign under AppRole policy");
    assert_eq!(sig.len(), 64);

    // A wrong secret_id fails clearly, without echoing it.
    let last = if secret_id.ends_with('0') { '1' } else { '0' };
    let wrong = format!("{}{last}", &secret_id[..secret_id.len() - 1]);
    let bad_file = bao.dir.secret_file("bad-secret-id", &wrong);
    let err = OpenBaoCustody::connect(OpenBaoConfig::new(
        bao.url(),
        Auth::AppRole { role_id, secret_id: SecretSource::File(bad_file) },
    ))
    .await
    .expect_err("wrong secret_id logged in");
    assert!(matches!(err, CustodyError::Unlock(_)), "{err:?}");
    let text = format!("{err} {err:?}");
    assert!(text.contains("AppRole") && !text.contains(&wrong) && !text.contains(&secret_id), "{text}");

    // A missing environment variable is a clear config error naming it.
    let var = format!("SEALGATE_TEST_UNSET_{}", random_hex(4));
    let err = OpenBaoCustody::connect(OpenBaoConfig::new(bao.url(), Auth::Token(SecretSource::Env(var.clone()))))
        .await
        .expect_err("unset env var");
    assert!(matches!(&err, CustodyError::Config(m) if m.contains(&var)), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_bad_token_open_file_ecdh_exportable() {
    let Some(bao) = Bao::start() else { return };
    bao.enable_transit();
    // A wrong token, from a 0600 file, is refused as Unlock without echoing it.
    let bad = bao.dir.secret_file("bad-token", "not-the-token");
    let err = OpenBaoCustody::connect(OpenBaoConfig::new(bao.url(), Auth::Token(SecretSource::File(bad))))
        .await
        .expect_err("bad token accepted");
    assert!(matches!(err, CustodyError::Unlock(_)), "{err:?}");
    assert!(!format!("{err} {err:?}").contains("not-the-token"));

    // A world-readable token file is refused.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let open = bao.dir.secret_file("open-token", &bao.root_token);
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let err = OpenBaoCustody::connect(OpenBaoConfig::new(bao.url(), Auth::Token(SecretSource::File(open))))
            .await
            .expect_err("world-readable token file accepted");
        assert!(matches!(&err, CustodyError::Config(m) if m.contains("chmod 600")), "{err:?}");
    }

    let custody = OpenBaoCustody::connect(bao.token_config()).await.expect("connect");
    assert!(!format!("{custody:?}").contains(&bao.root_token));
    for t in [RoleKeyType::EcdhP256, RoleKeyType::EcdhP384, RoleKeyType::EcdhX25519] {
        let err = custody.rotate("ecdh-role", t).await.expect_err("ECDH rotate accepted");
        assert!(matches!(err, CustodyError::Unsupported { backend: "openbao", .. }), "{err:?}");
    }
    assert!(custody.keys().await.expect("keys").is_empty(), "a refused rotate left a version");

    // A Transit key of the same name made exportable by someone else is not adopted.
    bao.admin("POST", "/v1/transit/keys/evil-v1", Some(r#"{"type":"rsa-3072","exportable":true}"#));
    let err = custody.rotate("evil", RoleKeyType::Rsa3072).await.expect_err("adopted an exportable key");
    assert!(matches!(&err, CustodyError::Config(m) if m.contains("exportable")), "{err:?}");
}

/// `docs/openbao-policy.hcl`, loaded as written into a real OpenBao: a token with only that
/// policy runs the custody (init, rotate, open, status, sign), and cannot make a key
/// exportable, export or back one up, delete or rotate it in Transit, or create an
/// exportable key of its own: 403 each time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_file_grants_the_least() {
    let Some(bao) = Bao::start() else { return };
    bao.enable_transit();
    let policy = std::fs::read_to_string(workspace_root().join("docs/openbao-policy.hcl")).expect("policy file");
    let body = serde_json::json!({ "policy": policy }).to_string();
    bao.admin("PUT", "/v1/sys/policies/acl/sealgate-custody", Some(&body));
    let created: serde_json::Value = serde_json::from_str(&bao.admin(
        "POST",
        "/v1/auth/token/create",
        Some(r#"{"policies":["sealgate-custody"],"no_default_policy":true,"ttl":"1h"}"#),
    ))
    .expect("json");
    let token = created["auth"]["client_token"].as_str().expect("token").to_owned();
    let file = bao.dir.secret_file("policy-token", &token);
    let config = || OpenBaoConfig::new(bao.url(), Auth::Token(SecretSource::File(file.clone())));

    // Everything the custody does, under the policy.
    let custody = OpenBaoCustody::connect(config()).await.expect("connect under the policy");
    let root = custody.root_public().await.expect("init: the root key");
    assert_eq!(custody.default_role_key_type(), RoleKeyType::Rsa3072);
    let v1 = custody.rotate("importer", RoleKeyType::Rsa3072).await.expect("create a role key");
    let v2 = custody.rotate("importer", RoleKeyType::Rsa3072).await.expect("rotate");
    custody.set_status(&v1.kid, KeyStatus::Retired).await.expect("set status");
    let keys = custody.keys().await.expect("list");
    assert_eq!(
        keys.iter().map(|k| (k.kid.as_str(), k.status)).collect::<Vec<_>>(),
        [(v1.kid.as_str(), KeyStatus::Retired), (v2.kid.as_str(), KeyStatus::Active)]
    );
    assert_eq!(custody.exportability(&v2.kid).await.expect("exportability"), Exportability::NonExportable);
    let jwe = seal_compact(b"under the policy", &v2.public, &serde_json::Map::new()).expect("seal");
    let key = custody.decryption_key(&v2.kid).await.expect("handle");
    let plain =
        Jwe::parse(jwe.as_bytes(), &AlgPolicy::CREDENTIAL).expect("parse").open(key.as_ref()).await.expect("open");
    assert_eq!(plain.expose_secret(), b"under the policy");
    assert_eq!(custody.root_sign(b"checkpoint").await.expect("sign").len(), 64);
    let again = OpenBaoCustody::connect(config()).await.expect("reconnect");
    assert_eq!(again.root_public().await.expect("root again"), root);
    // Exchange keys: made, read one by one (the policy lists nothing), signed with, destroyed.
    for t in ExchangeKeyType::ALL {
        let k = custody.create_exchange_key(t).await.expect("create an exchange key under the policy");
        let read = again.exchange_key(&k.id).await.expect("read").expect("held");
        assert_eq!(read, k);
        let sig = again.exchange_sign(&k.id, b"under the policy").await.expect("sign");
        assert!(k.verify(b"under the policy", &sig));
        again.destroy_exchange_key(&k.id).await.expect("destroy under the policy");
        assert_eq!(custody.exchange_key(&k.id).await.expect("read again"), None);
    }
    let xk = custody.create_exchange_key(ExchangeKeyType::Ed25519).await.expect("one to attack").id;

    // What the token must not do: each is refused by the policy (403), not by Transit.
    for (method, path, body) in [
        ("POST", "/v1/transit/keys/sealgate-root/config", Some(r#"{"exportable":true}"#)),
        ("POST", "/v1/transit/keys/sealgate-root/config", Some(r#"{"deletion_allowed":true}"#)),
        ("POST", "/v1/transit/keys/sealgate-root", Some(r#"{"type":"ecdsa-p256","exportable":true}"#)),
        ("GET", "/v1/transit/export/signing-key/sealgate-root", None),
        ("GET", "/v1/transit/export/encryption-key/importer-v2", None),
        ("GET", "/v1/transit/backup/sealgate-root", None),
        ("POST", "/v1/transit/keys/importer-v2/config", Some(r#"{"exportable":true}"#)),
        ("POST", "/v1/transit/keys/importer-v2/rotate", None),
        ("DELETE", "/v1/transit/keys/importer-v2", None),
        ("POST", "/v1/transit/keys/mine", Some(r#"{"type":"rsa-3072","exportable":true}"#)),
        ("POST", "/v1/transit/keys/mine", Some(r#"{"type":"aes256-gcm96"}"#)),
        ("POST", "/v1/transit/keys/mine", Some(r#"{"type":"rsa-3072","allow_plaintext_backup":true}"#)),
        ("LIST", "/v1/transit/keys", None),
        ("POST", "/v1/transit/keys/xk-00000000000000aa", Some(r#"{"type":"ed25519","exportable":true}"#)),
        ("POST", "/v1/transit/keys/xk-00000000000000aa", Some(r#"{"type":"rsa-4096"}"#)),
        ("POST", "/v1/transit/keys/xk-00000000000000aa", Some(r#"{"type":"ed25519","allow_plaintext_backup":true}"#)),
        ("POST", "/v1/sys/mounts/transit2", Some(r#"{"type":"transit"}"#)),
    ] {
        let (status, answer) = http(&bao.addr, method, path, Some(&token), body).expect("request");
        assert_eq!(status, 403, "{method} {path} {body:?} was not refused by the policy: {answer}");
    }
    // An exchange key the custody made: never exported, backed up or made exportable.
    for (method, path, body) in [
        ("GET", format!("/v1/transit/export/signing-key/{xk}"), None),
        ("GET", format!("/v1/transit/backup/{xk}"), None),
        ("POST", format!("/v1/transit/keys/{xk}/config"), Some(r#"{"exportable":true}"#)),
        ("POST", format!("/v1/transit/keys/{xk}/config"), Some(r#"{"allow_plaintext_backup":true}"#)),
    ] {
        let (status, answer) = http(&bao.addr, method, &path, Some(&token), body).expect("request");
        assert_eq!(status, 403, "{method} {path} {body:?} was not refused by the policy: {answer}");
    }
    // Nothing changed: the root key and the exchange key are still not exportable.
    let read = bao.admin("GET", "/v1/transit/keys/sealgate-root", None);
    assert!(read.contains(r#""exportable":false"#) && read.contains(r#""deletion_allowed":false"#), "{read}");
    let read = bao.admin("GET", &format!("/v1/transit/keys/{xk}"), None);
    assert!(read.contains(r#""exportable":false"#), "{read}");
}

/// The token file is a secret file like any other: 0640 is refused with the fix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_readable_token_file_is_refused() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = TempDir::new();
    let path = dir.secret_file("token", "some-token");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    // No server needed: the file is judged before any connection.
    let url = Url::parse("http://127.0.0.1:9").expect("url");
    let err = OpenBaoCustody::connect(OpenBaoConfig::new(url, Auth::Token(SecretSource::File(path.clone()))))
        .await
        .expect_err("a 0640 token file was accepted");
    let want = format!(
        "the OpenBao token file {}: mode 640 lets others read it; run: chmod 600 {}",
        path.display(),
        path.display()
    );
    assert!(matches!(&err, CustodyError::Config(m) if *m == want), "{err:?}");
    assert!(!format!("{err} {err:?}").contains("some-token"));
}
