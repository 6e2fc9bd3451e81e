//! An OpenBao dev server for the tests that run a custody in it (`scripts/setup-openbao.sh`
//! installs the binary into `.venv-openbao`).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// An OpenBao dev server on a free port, killed on drop.
pub struct Bao {
    pub child: std::process::Child,
    pub addr: String,
    pub root: String,
}

impl Drop for Bao {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Bao {
    /// Starts one for `what` (a test's name for the skip notice); `None` when the binary
    /// is missing and skipping was asked for.
    pub fn start(dir: &super::TempDir, what: &str) -> Option<Bao> {
        let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv-openbao/bin/bao");
        if !bin.exists() {
            sealgate_testkit::skip_or_fail(
                "SEALGATE_SKIP_CUSTODY_SERVICES",
                what,
                &format!("the OpenBao server binary {} is missing", bin.display()),
                "run `bash scripts/setup-openbao.sh`",
            );
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
        let addr = format!("127.0.0.1:{port}");
        let root = format!("root-{}", sealgate_envelope::new_credential_id().expect("random"));
        let log = std::fs::File::create(dir.path("bao.log")).expect("log");
        let child = Command::new(bin)
            .args(["server", "-dev", "-dev-no-store-token"])
            .arg(format!("-dev-root-token-id={root}"))
            .arg(format!("-dev-listen-address={addr}"))
            .env("HOME", &dir.0)
            .env_remove("VAULT_TOKEN")
            .env_remove("BAO_TOKEN")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn bao");
        Some(Bao { child, addr, root })
    }

    pub async fn call(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
        let http = reqwest::Client::new();
        let mut req = http
            .request(method.parse().expect("method"), format!("http://{}{path}", self.addr))
            .header("X-Vault-Token", token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.expect("bao request");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while reqwest::get(format!("http://{}/v1/sys/health", self.addr)).await.map(|r| r.status()).ok()
            != Some(reqwest::StatusCode::OK)
        {
            assert!(Instant::now() < deadline, "OpenBao did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Bao {
    /// Mounts Transit, writes the documented policy (`docs/openbao-policy.hcl`), and
    /// returns a token of that policy alone.
    pub async fn policy_token(&self) -> String {
        let (s, _) =
            self.call("POST", "/v1/sys/mounts/transit", &self.root, Some(serde_json::json!({"type": "transit"}))).await;
        assert_eq!(s, 204);
        let policy =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openbao-policy.hcl"))
                .expect("policy file");
        let body = serde_json::json!({"policy": policy});
        let (s, b) = self.call("PUT", "/v1/sys/policies/acl/sealgate-custody", &self.root, Some(body)).await;
        assert_eq!(s, 204, "{b}");
        let body = serde_json::json!({"policies": ["sealgate-custody"], "no_default_policy": true, "ttl": "1h"});
        let (s, b) = self.call("POST", "/v1/auth/token/create", &self.root, Some(body)).await;
        assert_eq!(s, 200, "{b}");
        b["auth"]["client_token"].as_str().expect("token").to_owned()
    }
}
