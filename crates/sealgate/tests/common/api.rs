//! The api over HTTP as a client sees it: a session from a printed sign-in link, calls
//! recorded whole (for the canary searches), the portfolio waited for.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Who is calling.
#[derive(Clone)]
pub enum Who {
    Anonymous,
    Session { cookie: String, csrf: String },
    Service(String),
}

/// Every response, recorded whole for the canary search.
pub struct Client {
    pub http: reqwest::Client,
    pub transcript: Mutex<String>,
}

impl Client {
    /// A client that follows no redirect and records every answer.
    pub fn new() -> Client {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("http");
        Client { http, transcript: Mutex::new(String::new()) }
    }

    /// Everything answered so far.
    pub fn transcript(&self) -> String {
        self.transcript.lock().expect("transcript").clone()
    }

    pub async fn call(&self, base: &str, who: &Who, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut rb = self.http.request(method.clone(), format!("{base}{path}"));
        match who {
            Who::Anonymous => {}
            Who::Session { cookie, csrf } => {
                rb = rb.header("Cookie", cookie.as_str());
                if method != reqwest::Method::GET {
                    rb = rb.header("X-CSRF-Token", csrf.as_str());
                }
            }
            Who::Service(token) => rb = rb.bearer_auth(token),
        }
        if let Some(b) = body {
            rb = rb.header("Content-Type", "application/json").body(b.to_string());
        }
        let resp = rb.send().await.expect("send");
        let status = resp.status().as_u16();
        let mut record = format!("{method} {path} -> {status}\n");
        for (k, v) in resp.headers() {
            record.push_str(&format!("{k}: {}\n", String::from_utf8_lossy(v.as_bytes())));
        }
        let text = resp.text().await.expect("body");
        record.push_str(&text);
        record.push('\n');
        self.transcript.lock().expect("transcript").push_str(&record);
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

/// Signs in with a printed sign-in link.
pub async fn login(client: &Client, link: &str) -> Who {
    let resp = client.http.get(link).send().await.expect("login");
    assert_eq!(resp.status().as_u16(), 303);
    let mut cookie = Vec::new();
    for v in resp.headers().get_all("set-cookie") {
        let v = v.to_str().expect("cookie");
        let pair = v.split(';').next().expect("pair").to_owned();
        if pair.starts_with("sealgate_session=") {
            assert!(v.contains("HttpOnly") && v.contains("SameSite=Strict"), "{v}");
        }
        cookie.push(pair);
    }
    let body: Value = resp.json().await.expect("login body");
    Who::Session { cookie: cookie.join("; "), csrf: body["csrf_token"].as_str().expect("csrf").to_owned() }
}

pub async fn wait_for_import(client: &Client, base: &str, who: &Who, cid: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (s, p) = client.call(base, who, "GET", "/v1/portfolio", None).await;
        assert_eq!(s, 200, "{p}");
        let done =
            p["imports"].as_array().into_iter().flatten().any(|i| i["credential_id"] == cid && i["state"] == "done");
        if done {
            return p;
        }
        assert!(Instant::now() < deadline, "import did not finish: {p}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub fn holding(portfolio: &Value, asset: &str) -> String {
    portfolio["assets"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["asset"] == asset)
        .and_then(|a| a["total"].as_str())
        .unwrap_or("absent")
        .to_owned()
}

/// An envelope of `cred` sealed at the edge to `role`'s key of the verified key set, bound to
/// owner `sub`, credential `cid` on exchange `exch` with `scope`: the body member a client
/// stores.
pub fn seal(
    keys: &[sealgate_custody::keyset::Recipient],
    exch: &str,
    role: &str,
    sub: &str,
    cid: &str,
    scope: &str,
    cred: &str,
) -> Value {
    let key = &keys.iter().find(|r| r.role == role).expect("role key").key;
    let req = sealgate_envelope::SealRequest {
        sub: sub.into(),
        cid: cid.into(),
        exch: exch.into(),
        aud: role.into(),
        scope: sealgate_envelope::Scope::parse_list(scope).expect("scope"),
        iat: sealgate_server::now_ms() / 1000,
        own: None,
    };
    serde_json::json!({"role": role, "jwe": sealgate_envelope::seal_credential(cred.as_bytes(), key, &req).expect("seal").0})
}

/// A Coinbase CDP key: (key name, PKCS#8 PEM private key, base64 of the public point for the
/// sandbox).
pub fn coinbase_key(name: &str) -> (String, String, String) {
    use aws_lc_rs::signature::{self, KeyPair as _};
    use base64::Engine as _;
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
    let pkcs8 = signature::EcdsaKeyPair::generate_pkcs8(alg, &rng).expect("keygen");
    let pair = signature::EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref()).expect("key");
    let b64 = base64::engine::general_purpose::STANDARD;
    let body = b64.encode(pkcs8.as_ref());
    let lines: Vec<&str> = body.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).expect("ascii")).collect();
    let pem = format!("-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n", lines.join("\n"));
    (name.into(), pem, b64.encode(pair.public_key().as_ref()))
}
