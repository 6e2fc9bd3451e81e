//! TLS on `sealgate serve`'s listeners, for real: certificates from a CA made in the test
//! (`openssl`), the built binary, clients that check what the server presents.
//!
//! - Both listeners answer https verified against the CA; a plain-HTTP client is told to
//!   use https and gets nothing else; a client without the CA refuses the server.
//! - Replaced certificate files are picked up without a restart (a new connection shows
//!   the new certificate); a broken or mismatched replacement is refused, logged, and the
//!   old certificate stays; SIGHUP reloads.
//! - Mistakes in the flags stop the start with the cause, before anything is created,
//!   and never echo key material.
//! - An importer process given a closed port and the signer's https URL with
//!   `--signer-ca` prints both, finds the signer healthy and the other not, and imports a
//!   user's credential through it; with a wrong CA it names the certificate problem;
//!   plain http to another host is warned about at start.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{BIN, TempDir};
use sealgate_testkit::pki::{Issued, Pki};
use sealgate_testkit::process::{ServeListening, Spawned};

fn p(path: &Path) -> &str {
    path.to_str().expect("utf8 path")
}

fn pki(dir: &Path, name: &str) -> Pki {
    Pki::new(dir, name).unwrap_or_else(|e| panic!("test CA: {e}"))
}

/// An https client trusting only `ca`, reporting the server's certificate, never reusing
/// a connection (each request is a new handshake), not following redirects.
fn https_client(ca: &Path) -> reqwest::Client {
    let pem = std::fs::read(ca).expect("ca");
    let certs = reqwest::Certificate::from_pem_bundle(&pem).expect("ca pem");
    reqwest::Client::builder()
        .tls_certs_only(certs)
        .tls_info(true)
        .pool_max_idle_per_host(0)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

/// GET `url`: status, body and the DER of the certificate the server presented.
async fn get(client: &reqwest::Client, url: &str) -> Result<(u16, String, Vec<u8>), String> {
    let r = client.get(url).send().await.map_err(|e| format!("{e:?}"))?;
    let cert = r
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|t| t.peer_certificate())
        .map(<[u8]>::to_vec)
        .unwrap_or_default();
    let status = r.status().as_u16();
    Ok((status, r.text().await.unwrap_or_default(), cert))
}

/// Replaces a pair the way an operator's tooling would: new files renamed over the old.
fn install(from: &Issued, cert: &Path, key: &Path) {
    let (tc, tk) = (cert.with_extension("new"), key.with_extension("newkey"));
    std::fs::copy(&from.cert, &tc).expect("copy cert");
    std::fs::copy(&from.key, &tk).expect("copy key");
    std::fs::set_permissions(&tk, std::os::unix::fs::PermissionsExt::from_mode(0o600)).expect("chmod");
    std::fs::rename(&tk, key).expect("rename key");
    std::fs::rename(&tc, cert).expect("rename cert");
}

async fn until_cert(client: &reqwest::Client, url: &str, want: &[u8], what: &str, p: &Spawned) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok((200, _, der)) = get(client, url).await
            && der == want
        {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: not served within 20 s:\n{}", p.logs());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn hup(pid: u32) {
    let ok = Command::new("kill").args(["-HUP", &pid.to_string()]).status().expect("kill").success();
    assert!(ok, "kill -HUP {pid}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_speaks_tls_on_both_listeners_and_reloads_certificates_without_a_restart() {
    let tmp = TempDir::new("tls-serve");
    let ca = pki(&tmp.0, "serve");
    let public1 = ca.issue("public1", "public-1", 1).expect("cert");
    let service1 = ca.issue("service1", "service-1", 2).expect("cert");
    // The files the server reads (replaced in place later).
    let (cert, key) = (tmp.path("public.pem"), tmp.path("public.key"));
    let (scert, skey) = (tmp.path("service.pem"), tmp.path("service.key"));
    install(&public1, &cert, &key);
    install(&service1, &scert, &skey);
    let mut proc = Spawned::spawn(Command::new(BIN).args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        p(&tmp.path("data")),
        "--tls-cert",
        p(&cert),
        "--tls-key",
        p(&key),
        "--service-tls-cert",
        p(&scert),
        "--service-tls-key",
        p(&skey),
    ]));
    let at = proc
        .wait_for("serve", Duration::from_secs(60), |t| ServeListening::from_logs(t).filter(|u| u.login.is_some()))
        .await;
    assert!(at.base.starts_with("https://127.0.0.1:"), "{at:?}");
    assert!(at.service.starts_with("https://127.0.0.1:"), "{at:?}");
    let login = at.login.clone().expect("login link");
    assert!(login.starts_with(&format!("{}/login?token=", at.base)), "the sign-in link is https: {login}");

    let https = https_client(&ca.ca);
    let (status, body, der) = get(&https, &format!("{}/healthz", at.base)).await.expect("public https");
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    assert_eq!(der, public1.der, "the public listener presents its certificate");
    let (status, body, der) = get(&https, &format!("{}/metrics", at.service)).await.expect("service https");
    assert_eq!(status, 200);
    assert!(body.contains("sealgate_"), "{body}");
    assert_eq!(der, service1.der, "the service listener presents its own certificate");
    // The api over TLS: the sign-in link gives a session cookie marked Secure, and it works.
    let r = https.get(&login).send().await.expect("sign in");
    assert_eq!(r.status(), 303, "sign in over https");
    let cookies: Vec<String> =
        r.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok().map(str::to_owned)).collect();
    let session = cookies.iter().find(|c| c.starts_with("sealgate_session=")).expect("session cookie");
    assert!(session.contains("; Secure"), "served over TLS, the cookie is Secure: {session}");
    let value = session.split(';').next().expect("cookie").to_owned();
    let r = https.get(format!("{}/v1/me", at.base)).header("cookie", value).send().await.expect("me");
    assert_eq!(r.status(), 200);

    // Plain HTTP on either listener: told to use https, nothing from the application.
    let plain = reqwest::Client::new();
    for base in [&at.base, &at.service] {
        let url = format!("{}/healthz", base.replacen("https://", "http://", 1));
        let r = plain.get(&url).send().await.expect("plain answer");
        assert_eq!(r.status(), 400, "{url}");
        let body = r.text().await.expect("body");
        assert_eq!(body, "this listener speaks TLS: use https://\n", "{url}");
    }
    // A client that does not trust the CA refuses the server.
    let e = get(&reqwest::Client::new(), &format!("{}/healthz", at.base)).await.expect_err("untrusted");
    assert!(e.contains("UnknownIssuer") || e.to_lowercase().contains("certificate"), "{e}");

    // A new pair (new serial and CN) renamed over the old: picked up by the file poll.
    let public2 = ca.issue("public2", "public-2", 11).expect("cert");
    install(&public2, &cert, &key);
    until_cert(&https, &format!("{}/healthz", at.base), &public2.der, "the replaced public certificate", &proc).await;
    let (_, _, der) = get(&https, &format!("{}/metrics", at.service)).await.expect("service");
    assert_eq!(der, service1.der, "the other listener keeps its own");

    // A broken replacement: refused, logged, the previous certificate stays.
    std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n")
        .expect("write");
    proc.wait_for("the refusal of a broken certificate", Duration::from_secs(20), |l| {
        l.contains("new certificate/key refused").then_some(())
    })
    .await;
    let (status, _, der) = get(&https, &format!("{}/healthz", at.base)).await.expect("still serving");
    assert_eq!((status, der), (200, public2.der.clone()), "the old pair stays");

    // A pair whose key is another certificate's: refused, the previous one stays.
    let other = ca.issue("other", "other", 12).expect("cert");
    let before = proc.logs().matches("does not match the certificate").count();
    std::fs::copy(&other.cert, &cert).expect("copy");
    proc.wait_for("the refusal of a mismatched pair", Duration::from_secs(20), |l| {
        (l.matches("does not match the certificate").count() > before).then_some(())
    })
    .await;
    let (_, _, der) = get(&https, &format!("{}/healthz", at.base)).await.expect("still serving");
    assert_eq!(der, public2.der, "a mismatched pair is not used");

    // SIGHUP: both pairs re-read (the public one fixed meanwhile), the process keeps serving.
    let public3 = ca.issue("public3", "public-3", 13).expect("cert");
    install(&public3, &cert, &key);
    let reloads = |l: &str| l.matches("why=\"SIGHUP\"").count() + l.matches("why=SIGHUP").count();
    let before = reloads(&proc.logs());
    hup(proc.child.id());
    proc.wait_for("reloads on SIGHUP", Duration::from_secs(20), |l| (reloads(l) >= before + 2).then_some(())).await;
    until_cert(&https, &format!("{}/healthz", at.base), &public3.der, "the certificate after SIGHUP", &proc).await;
    let (status, _, _) = get(&https, &format!("{}/metrics", at.service)).await.expect("service after SIGHUP");
    assert_eq!(status, 200);
    assert!(proc.child.try_wait().expect("wait").is_none(), "SIGHUP does not stop the process");
    let logs = proc.logs();
    assert!(!logs.contains("PRIVATE KEY"), "no key material in the logs:\n{logs}");
}

/// Runs `serve ARGS` to its end: exit code and output.
fn serve_fails(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(BIN).arg("serve").args(args).output().expect("run");
    (out.status.code(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn tls_flag_mistakes_stop_the_start_with_the_cause() {
    let tmp = TempDir::new("tls-flags");
    let ca = pki(&tmp.0, "flags");
    let good = ca.issue("good", "good", 1).expect("cert");
    let other = ca.issue("other", "other", 2).expect("cert");
    let data = tmp.path("data");
    let d = p(&data).to_owned();
    let base = ["--listen", "127.0.0.1:0", "--data-dir", d.as_str()];
    let refused = |extra: &[&str], want: &str| {
        let mut args: Vec<&str> = base.to_vec();
        args.extend_from_slice(extra);
        let (code, out) = serve_fails(&args);
        assert_eq!(code, Some(2), "{extra:?}: {out}");
        let line = out.lines().find(|l| l.starts_with("error: ")).unwrap_or_else(|| panic!("{extra:?}: {out}"));
        assert!(line.contains(want), "{extra:?}: want {want:?} in {line:?}");
        assert!(!data.exists(), "{extra:?}: nothing is created before the check: {out}");
        assert!(!out.contains("CANARY-KEY-TEXT"), "key text echoed: {out}");
        line.to_owned()
    };
    let (cert, key) = (p(&good.cert), p(&good.key));
    refused(&["--tls-cert", cert], "--tls-cert needs --tls-key");
    refused(&["--tls-key", key], "--tls-key needs --tls-cert");
    refused(&["--service-tls-cert", cert], "--service-tls-cert needs --service-tls-key");
    refused(&["--service-tls-key", key], "--service-tls-key needs --service-tls-cert");

    let missing = tmp.path("missing.pem");
    refused(&["--tls-cert", p(&missing), "--tls-key", key], &format!("{}: cannot read", p(&missing)));
    let junk_cert = tmp.path("junk.pem");
    std::fs::write(&junk_cert, "hello\n").expect("write");
    refused(&["--tls-cert", p(&junk_cert), "--tls-key", key], "junk.pem: not a PEM certificate chain: no certificate");
    let broken_cert = tmp.path("broken.pem");
    std::fs::write(&broken_cert, "-----BEGIN CERTIFICATE-----\nMIIB\n").expect("write");
    refused(
        &["--tls-cert", p(&broken_cert), "--tls-key", key],
        "broken.pem: not a PEM certificate chain: a PEM section has no END line",
    );

    // Key files: private, a key, the certificate's own.
    let open_key = tmp.path("open.key");
    std::fs::copy(&good.key, &open_key).expect("copy");
    std::fs::set_permissions(&open_key, std::os::unix::fs::PermissionsExt::from_mode(0o644)).expect("chmod");
    let line = refused(&["--tls-cert", cert, "--tls-key", p(&open_key)], "lets others read it; run: chmod 600");
    assert!(line.contains("--tls-cert/--tls-key"), "{line}");
    let canary_key =
        private_file(&tmp, "canary.key", "-----BEGIN PRIVATE KEY-----\nCANARY-KEY-TEXT!!\n-----END PRIVATE KEY-----\n");
    refused(&["--tls-cert", cert, "--tls-key", p(&canary_key)], "canary.key: not a PEM private key: malformed base64");
    let cert_as_key = private_file(&tmp, "certaskey.key", &std::fs::read_to_string(&good.cert).expect("read"));
    refused(
        &["--tls-cert", cert, "--tls-key", p(&cert_as_key)],
        "certaskey.key: not a PEM private key: no private key",
    );
    let line = refused(
        &["--service-tls-cert", cert, "--service-tls-key", p(&other.key)],
        "the private key does not match the certificate",
    );
    assert!(line.contains("--service-tls-cert/--service-tls-key") && line.contains("other.key"), "{line}");

    // The signer URL flags.
    refused(
        &["--roles", "importer", "--signer-ca", p(&ca.ca), "--database", "sqlite::memory:"],
        "--signer-ca needs --signer-url",
    );
    refused(
        &["--roles", "importer", "--signer-url", "http://127.0.0.1:8788", "--signer-ca", p(&ca.ca)],
        "every signer URL must be https://",
    );
    refused(
        &["--roles", "importer", "--signer-url", "https://s1:1", "--signer-ca", p(&missing)],
        "missing.pem: cannot read",
    );
}

fn private_file(tmp: &TempDir, name: &str, text: &str) -> PathBuf {
    let path = tmp.path(name);
    std::fs::write(&path, text).expect("write");
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).expect("chmod");
    path
}

/// Follows the sign-in link: the cookie header and the CSRF token.
async fn sign_in(http: &reqwest::Client, link: &str) -> (String, String) {
    let r = http.get(link).send().await.expect("login");
    assert_eq!(r.status(), 303);
    let cookies: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
        .collect();
    let body: serde_json::Value = r.json().await.expect("login body");
    (cookies.join("; "), body["csrf_token"].as_str().expect("csrf").to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_importer_imports_through_the_signer_over_https_with_its_ca() {
    use sealgate_sandbox::{Amount, KeySpec, Market, Permissions, Sandbox, Venue};
    const API_KEY: &str = "tls-importer-key";
    const SECRET: &str = "CANARY-tls-importer-secret-51c2";
    let amt = |v: &str| Amount::parse(v).expect("amount");
    let sandbox = Sandbox::start(
        "127.0.0.1:0".parse().expect("addr"),
        vec![KeySpec {
            venue: Venue::Binance,
            api_key: API_KEY.into(),
            secret: SECRET.into(),
            permissions: Permissions { read: true, trade: true, withdraw: false },
            allowed_ips: vec![],
            passphrase: None,
            balances: vec![("BTC".into(), amt("1.5")), ("USDT".into(), amt("25000"))],
        }],
        vec![Market { symbol: "BTCUSDT".into(), base: "BTC".into(), quote: "USDT".into(), price: amt("50000") }],
    )
    .await
    .expect("sandbox");
    assert!(sandbox.seed_trades(API_KEY, "BTCUSDT", 12));

    let tmp = TempDir::new("tls-importer");
    let ca = pki(&tmp.0, "fleet");
    let wrong = pki(&tmp.0, "elsewhere");
    let svc = ca.issue("service", "signer-1", 5).expect("cert");
    let data = tmp.path("signer");
    // The split deployment's one-time steps: a custody and the service key pairs.
    let (custody, service) = (tmp.path("custody.toml"), tmp.path("service"));
    let toml = format!(
        "backend = \"local\"\n[local]\nkeyring = {:?}\nkey_file = {:?}\n",
        p(&tmp.path("keyring")),
        p(&tmp.path("master.key"))
    );
    std::fs::write(&custody, toml).expect("custody.toml");
    common::ok(common::run(&["keys", "init", "--custody", p(&custody)], b""));
    common::ok(common::run(&["keys", "service-keys", "--dir", p(&service)], b""));
    let db = format!("sqlite://{}?mode=rwc", tmp.path("sealgate.db").display());
    // The signer (with the api, which enqueues imports), its service listener on TLS; no importer.
    let mut signer = Spawned::spawn(
        Command::new(BIN)
            .args([
                "serve",
                "--roles",
                "signer,api",
                "--listen",
                "127.0.0.1:0",
                "--data-dir",
                p(&data),
                "--database",
                &db,
                "--custody-config",
                p(&custody),
                "--service-keys",
                p(&service),
                "--exchange-url",
                &format!("binance=http://{}", sandbox.addr()),
                "--service-tls-cert",
                p(&svc.cert),
                "--service-tls-key",
                p(&svc.key),
            ])
            // The portfolio's price sources too: the test never leaves loopback.
            .args(
                sealgate_server::prices::SOURCES
                    .iter()
                    .flat_map(|id| ["--exchange-url".to_owned(), format!("{id}=http://{}", sandbox.addr())]),
            ),
    );
    let at = signer
        .wait_for("signer", Duration::from_secs(60), |t| ServeListening::from_logs(t).filter(|u| u.login.is_some()))
        .await;
    assert!(at.service.starts_with("https://"), "{at:?}");
    let down = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("https://{}", l.local_addr().expect("addr"))
    };
    let importer = |name: &str, ca_file: &Path, urls: &str| {
        Spawned::spawn(Command::new(BIN).args([
            "serve",
            "--roles",
            "importer",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            p(&tmp.path(name)),
            "--database",
            &db,
            "--service-keys",
            p(&service),
            "--signer-url",
            urls,
            "--signer-ca",
            p(ca_file),
        ]))
    };

    // The right CA, a closed port first: both named at start, the signer healthy over
    // https, the closed one not.
    let mut good = importer("imp-good", &ca.ca, &format!("{down},{}", at.service));
    let want = format!("sealgate: signers: {down}, {} (https verified against CA {})", at.service, p(&ca.ca));
    good.wait_for("signer URLs printed", Duration::from_secs(60), |l| l.contains(&want).then_some(())).await;
    good.wait_for("health of both", Duration::from_secs(30), |l| {
        let ok = l.lines().any(|x| x.contains("signer healthy") && x.contains(&at.service));
        let bad = l.lines().any(|x| x.contains("signer unhealthy") && x.contains(&down));
        (ok && bad).then_some(())
    })
    .await;

    // A user stores a credential; the importer process imports it through the https signer.
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("http");
    let (cookie, csrf) = sign_in(&http, at.login.as_deref().expect("login")).await;
    let me: serde_json::Value = http
        .get(format!("{}/v1/me", at.base))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("me")
        .json()
        .await
        .expect("me");
    let user = me["id"].as_str().or(me["user_id"].as_str()).expect("user id").to_owned();
    let set: serde_json::Value =
        http.get(format!("{}/v1/recipients", at.base)).send().await.expect("set").json().await.expect("set");
    let pin = set["root_pin"].as_str().expect("pin");
    let keys =
        sealgate_custody::keyset::verify(set["keyset"].as_str().expect("jws"), pin, sealgate_server::now_ms() / 1000)
            .expect("key set");
    let key = &keys.iter().find(|r| r.role == "importer").expect("importer key").key;
    let cid = sealgate_envelope::new_credential_id().expect("cid");
    let req = sealgate_envelope::SealRequest {
        sub: user.clone(),
        cid: cid.clone(),
        exch: "binance".into(),
        aud: "importer".into(),
        scope: sealgate_envelope::Scope::parse_list("read").expect("scope"),
        iat: sealgate_server::now_ms() / 1000,
        own: None,
    };
    let cred = serde_json::json!({"api_key": API_KEY, "api_secret": SECRET}).to_string();
    let jwe = sealgate_envelope::seal_credential(cred.as_bytes(), key, &req).expect("seal").0;
    let body = serde_json::json!({"id": cid, "exchange": "binance", "label": "tls",
        "envelopes": [{"role": "importer", "jwe": jwe}]});
    let r = http
        .post(format!("{}/v1/credentials", at.base))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("store");
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let p: serde_json::Value = http
            .get(format!("{}/v1/portfolio", at.base))
            .header("cookie", &cookie)
            .send()
            .await
            .expect("portfolio")
            .json()
            .await
            .expect("portfolio");
        let import =
            p["imports"].as_array().into_iter().flatten().find(|i| i["credential_id"] == cid.as_str()).cloned();
        if let Some(i) = import.filter(|i| i["state"] == "done") {
            assert_eq!(i["trades"], serde_json::json!(12), "{p}");
            break;
        }
        assert!(Instant::now() < deadline, "import not done through the https signer: {p}\n{}", good.logs());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(!good.logs().lines().any(|x| x.contains("signer unhealthy") && x.contains(&at.service)), "{}", good.logs());

    // The wrong CA: the signer's certificate is refused, and the log says why.
    let mut bad = importer("imp-bad", &wrong.ca, &at.service);
    let line = bad
        .wait_for("the certificate refusal", Duration::from_secs(60), |l| {
            l.lines().find(|x| x.contains("signer unhealthy")).map(str::to_owned)
        })
        .await;
    assert!(line.contains(&at.service) && (line.contains("UnknownIssuer") || line.contains("certificate")), "{line}");

    // Plain http to another host is warned about at start.
    let mut plain = Spawned::spawn(Command::new(BIN).args([
        "serve",
        "--roles",
        "importer",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        p(&tmp.path("imp-plain")),
        "--database",
        &db,
        "--service-keys",
        p(&service),
        "--signer-url",
        "http://192.0.2.10:8788",
    ]));
    plain
        .wait_for("the plain-http warning", Duration::from_secs(60), |l| {
            l.contains("sealgate: warning: signer URL http://192.0.2.10:8788 is plain http to another host")
                .then_some(())
        })
        .await;
    for proc in [&signer, &good, &bad, &plain] {
        assert!(!proc.logs().contains(SECRET), "the secret is in no log");
    }
}

/// `systemctl reload` sends SIGHUP to every process: one without TLS has nothing to reload
/// and must keep serving (the signal's default action would stop it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_never_stops_a_process_without_tls() {
    let tmp = TempDir::new("tls-hup");
    let mut proc = Spawned::spawn(
        Command::new(BIN).args(["serve", "--listen", "127.0.0.1:0", "--data-dir"]).arg(tmp.path("data")),
    );
    let at = proc.wait_for("serve listening", Duration::from_secs(60), ServeListening::from_logs).await;
    hup(proc.child.id());
    proc.wait_for("the SIGHUP logged", Duration::from_secs(20), |l| {
        l.contains("SIGHUP: no TLS files to reload").then_some(())
    })
    .await;
    let status = reqwest::get(format!("{}/healthz", at.base)).await.expect("still serving").status();
    assert_eq!(status, 200);
    assert!(proc.child.try_wait().expect("wait").is_none(), "the process is still running");
}
