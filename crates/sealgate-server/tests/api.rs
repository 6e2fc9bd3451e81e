//! The api role over real HTTP: the router served on 127.0.0.1:0, on SQLite (a temp file)
//! and PostgreSQL (a fresh database with a random name; `SEALGATE_SKIP_POSTGRES=1` skips
//! it), with real envelopes sealed to role keys held in the store.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair as _, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use sealgate_envelope::secrecy::ExposeSecret as _;
use sealgate_envelope::{Curve, LocalKey, Scope, SealRequest, seal_credential};
use sealgate_server::api::{self, ApiState, RecipientSet};
use sealgate_server::audit::AuditLog;
use sealgate_server::auth::{Auth, AuthConfig, JwtAlg, LocalConfig, OidcConfig};
use sealgate_store::Store;
use serde_json::{Value, json};

const CANARY: &str = "CANARY-api-s3cr3t-77aa";
const API_KEY: &str = "AKIAEXAMPLEKEY0000WXYZ";
/// How every envelope of these tests begins: base64url of `{"alg":"ECDH`.
const JWE_PREFIX: &str = "eyJhbGciOiJFQ0RI";

// --- databases -------------------------------------------------------------------------------

#[path = "../../sealgate-store/tests/harness/mod.rs"]
mod harness;

/// Runs `body(url)` on SQLite, then on PostgreSQL (the store's harness).
async fn on_both<F, Fut>(test: &str, body: F)
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    harness::on_both(test, |db| body(db.url)).await
}

// --- the server under test -------------------------------------------------------------------

struct Env {
    base: String,
    http: reqwest::Client,
    store: Store,
    auth: Arc<Auth>,
    keys: HashMap<&'static str, LocalKey>,
}

async fn start(url: &str, config: AuthConfig) -> Env {
    let store = Store::connect(url).await.expect("connect");
    let mut keys = HashMap::new();
    for (role, kid) in [("importer", "importer-v1"), ("trader", "trader-v1")] {
        let k = LocalKey::generate_ec(Curve::P256, kid).expect("key");
        store.add_recipient_key(kid, role, &k.public().to_json().to_string()).await.expect("add key");
        keys.insert(role, k);
    }
    // A retired key version and a key the store never heard of.
    let old = LocalKey::generate_ec(Curve::P256, "trader-v0").expect("key");
    store.add_recipient_key("trader-v0", "trader", &old.public().to_json().to_string()).await.expect("add key");
    store.retire_recipient_key("trader-v0").await.expect("retire");
    keys.insert("retired", old);
    keys.insert("unknown", LocalKey::generate_ec(Curve::P256, "trader-v9").expect("key"));
    for u in ["alice", "bob"] {
        store.create_user(u, None).await.expect("user");
    }
    let auth = Arc::new(Auth::new(store.clone(), config).expect("auth"));
    let state = ApiState {
        store: store.clone(),
        audit: AuditLog::start(store.clone(), None),
        trader: None,
        recipients: Arc::new(tokio::sync::RwLock::new(RecipientSet {
            jws: "eyJhbGciOiJFUzI1NiJ9.e30.c2ln".into(),
            pin: "root-pin-thumbprint".into(),
        })),
        auth: auth.clone(),
        on_change: None,
        notify: None,
        passkeys: sealgate_server::passkey_api::Passkeys::for_listener(([127, 0, 0, 1], 0).into(), false).map(Arc::new),
        held_keys: None,
        prices: None,
        valuations: Default::default(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, api::router(state)).await });
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    Env { base, http, store, auth, keys }
}

fn local() -> AuthConfig {
    AuthConfig { local: Some(LocalConfig::default()), oidc: None }
}

#[derive(Clone, Debug)]
enum Who {
    Anon,
    Session { cookie: String, csrf: String },
    Bearer(String),
}

struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
    text: String,
}

impl Env {
    async fn call(&self, method: &str, path: &str, who: &Who, body: Option<Value>) -> Reply {
        self.call_raw(method, path, who, body.map(|b| b.to_string()), true).await
    }

    async fn call_raw(&self, method: &str, path: &str, who: &Who, body: Option<String>, csrf: bool) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut rb = self.http.request(method, format!("{}{path}", self.base));
        match who {
            Who::Anon => {}
            Who::Session { cookie, csrf: token } => {
                rb = rb.header("cookie", format!("sealgate_session={cookie}; sealgate_csrf={token}"));
                if csrf {
                    rb = rb.header("x-csrf-token", token);
                }
            }
            Who::Bearer(t) => rb = rb.header("authorization", format!("Bearer {t}")),
        }
        if let Some(b) = body {
            rb = rb.header("content-type", "application/json").body(b);
        }
        let resp = rb.send().await.expect("send");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        // Every response: JSON (or empty), nosniff, no-store, no framing.
        assert_eq!(headers.get("x-content-type-options").map(|v| v.as_bytes()), Some(&b"nosniff"[..]));
        assert_eq!(headers.get("cache-control").map(|v| v.as_bytes()), Some(&b"no-store"[..]));
        let csp = headers.get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or("");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        // The link pages a user opens from a message answer in HTML, refusals included.
        let link_page = path.starts_with("/lockdown/") || path.starts_with("/notify/confirm/");
        if status >= 400 && !link_page {
            assert!(body.get("error").and_then(Value::as_str).is_some_and(|e| !e.is_empty()), "{status}: {text}");
        }
        Reply { status, headers, body, text }
    }

    async fn login(&self, user: &str) -> Who {
        let token = self.auth.issue_login_token(user).await.expect("token");
        let r = self.call("GET", &format!("/login?token={}", token.expose_secret()), &Who::Anon, None).await;
        assert_eq!(r.status, 303, "{}", r.text);
        let cookies = set_cookies(&r.headers);
        let cookie = cookies["sealgate_session"].0.clone();
        let csrf = r.body["csrf_token"].as_str().expect("csrf").to_owned();
        Who::Session { cookie, csrf }
    }

    fn seal(&self, key: &str, sub: &str, cid: &str, exch: &str, aud: &str, scope: &str) -> String {
        self.seal_key(key, sub, cid, exch, aud, scope, API_KEY)
    }

    #[allow(clippy::too_many_arguments)]
    fn seal_key(&self, key: &str, sub: &str, cid: &str, exch: &str, aud: &str, scope: &str, api_key: &str) -> String {
        let req = SealRequest {
            sub: sub.into(),
            cid: cid.into(),
            exch: exch.into(),
            aud: aud.into(),
            scope: Scope::parse_list(scope).expect("scope"),
            iat: SystemTime::now().duration_since(UNIX_EPOCH).expect("time").as_secs(),
            own: None,
        };
        let plaintext = json!({"api_key": api_key, "api_secret": CANARY}).to_string();
        let jwe = seal_credential(plaintext.as_bytes(), self.keys[key].public(), &req).expect("seal").0;
        assert!(jwe.starts_with(JWE_PREFIX), "the leak check's needle is stale: {}", &jwe[..40]);
        jwe
    }

    /// The actions of the caller's audit trail, oldest first.
    async fn trail_actions(&self, who: &Who) -> Vec<String> {
        let trail = self.call("GET", "/v1/audit", who, None).await;
        let records = trail.body["records"].as_array().cloned().unwrap_or_default();
        records.iter().filter_map(|r| r["action"].as_str().map(str::to_owned)).collect()
    }

    /// A credential of `user` sealed to both roles.
    async fn create(&self, who: &Who, user: &str, cid: &str) -> Reply {
        let body = json!({"id": cid, "exchange": "binance", "label": "main", "envelopes": [
            {"role": "importer", "jwe": self.seal("importer", user, cid, "binance", "importer", "read")},
            {"role": "trader", "jwe": self.seal("trader", user, cid, "binance", "trader", "read,trade")},
        ]});
        self.call("POST", "/v1/credentials", who, Some(body)).await
    }
}

/// `name -> (value, attributes)` of the Set-Cookie headers.
fn set_cookies(h: &reqwest::header::HeaderMap) -> HashMap<String, (String, String)> {
    h.get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|c| {
            let (pair, attrs) = c.split_once(';').unwrap_or((c, ""));
            let (k, v) = pair.split_once('=')?;
            Some((k.to_owned(), (v.to_owned(), attrs.to_owned())))
        })
        .collect()
}

fn assert_no_secret(what: &str, text: &str) {
    for bad in [CANARY, "\"jwe\"", JWE_PREFIX, "api_secret"] {
        assert!(!text.contains(bad), "{what} leaks {bad}: {text}");
    }
}

// --- local login -----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn local_login_sessions_and_csrf() {
    on_both("local_login_sessions_and_csrf", |url| async move {
        let env = start(&url, local()).await;
        let token = env.auth.issue_login_token("alice").await.expect("token");
        let path = format!("/login?token={}", token.expose_secret());
        let r = env.call("GET", &path, &Who::Anon, None).await;
        assert_eq!(r.status, 303);
        assert_eq!(r.headers.get("location").map(|v| v.as_bytes()), Some(&b"/"[..]));
        let cookies = set_cookies(&r.headers);
        let (session, attrs) = &cookies["sealgate_session"];
        for a in ["HttpOnly", "SameSite=Strict", "Path=/"] {
            assert!(attrs.contains(a), "session cookie lacks {a}: {attrs}");
        }
        assert!(!attrs.contains("Secure"), "not configured for https: {attrs}");
        let (csrf, csrf_attrs) = &cookies["sealgate_csrf"];
        assert!(!csrf_attrs.contains("HttpOnly") && csrf_attrs.contains("SameSite=Strict"));
        assert_eq!(r.body["csrf_token"].as_str(), Some(csrf.as_str()));
        assert_eq!(B64.decode(session).expect("b64").len(), 32);

        // Single use; made-up tokens and unknown users fail.
        let again = env.call("GET", &path, &Who::Anon, None).await;
        assert_eq!(again.status, 401, "{}", again.text);
        assert_eq!(env.call("GET", "/login?token=AAAA", &Who::Anon, None).await.status, 401);
        assert_eq!(env.call("GET", "/login", &Who::Anon, None).await.status, 401);
        assert!(env.auth.issue_login_token("nobody").await.is_err());

        let alice = Who::Session { cookie: session.clone(), csrf: csrf.clone() };
        let me = env.call("GET", "/v1/me", &alice, None).await;
        assert_eq!(
            (me.status, me.body["id"].as_str(), me.body["auth"].as_str()),
            (200, Some("alice"), Some("session"))
        );

        // Unsafe methods need the CSRF token: missing, wrong, another session's.
        let r = env.call_raw("POST", "/v1/lockdown", &alice, None, false).await;
        assert_eq!(r.status, 403);
        assert!(r.body["error"].as_str().is_some_and(|e| e.contains("X-CSRF-Token")), "{}", r.text);
        let wrong = Who::Session { cookie: session.clone(), csrf: "A".repeat(43) };
        assert_eq!(env.call("POST", "/v1/lockdown", &wrong, None).await.status, 403);
        let Who::Session { csrf: other_csrf, .. } = env.login("alice").await else { unreachable!() };
        let crossed = Who::Session { cookie: session.clone(), csrf: other_csrf };
        assert_eq!(env.call("POST", "/v1/lockdown", &crossed, None).await.status, 403);
        assert_eq!(env.call("POST", "/v1/lockdown", &alice, None).await.status, 200);
        // A GET needs none.
        assert_eq!(env.call_raw("GET", "/v1/credentials", &alice, None, false).await.status, 200);

        // Logout needs CSRF too, ends the session and clears the cookies.
        assert_eq!(env.call_raw("POST", "/v1/logout", &alice, None, false).await.status, 403);
        let out = env.call("POST", "/v1/logout", &alice, None).await;
        assert_eq!(out.status, 204);
        let cleared = set_cookies(&out.headers);
        assert!(cleared["sealgate_session"].0.is_empty() && cleared["sealgate_session"].1.contains("Max-Age=0"));
        let r = env.call("GET", "/v1/me", &alice, None).await;
        assert_eq!(r.status, 401);
        assert!(r.headers.get("www-authenticate").is_some_and(|v| v.as_bytes().starts_with(b"Bearer")));
        let forged = Who::Session { cookie: B64.encode([7u8; 32]), csrf: csrf.clone() };
        assert_eq!(env.call("GET", "/v1/me", &forged, None).await.status, 401);
    })
    .await;
}

/// Every row of every table as text (SQLite `quote()`, PostgreSQL `row::text`), lowercased:
/// what a copy of the database shows.
async fn all_rows_text(url: &str) -> String {
    use sqlx::Connection as _;
    let mut out = String::new();
    if url.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(url).await.expect("raw sqlite");
        let tables: Vec<String> = sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
            .fetch_all(&mut c)
            .await
            .expect("tables");
        for t in tables {
            let cols: Vec<String> = sqlx::query_scalar(&format!("SELECT name FROM pragma_table_info('{t}')"))
                .fetch_all(&mut c)
                .await
                .expect("columns");
            let expr = cols.iter().map(|c| format!("quote(\"{c}\")")).collect::<Vec<_>>().join(" || '|' || ");
            let rows: Vec<String> =
                sqlx::query_scalar(&format!("SELECT {expr} FROM \"{t}\"")).fetch_all(&mut c).await.expect("rows");
            out.extend(rows.into_iter().map(|r| format!("{t}: {r}\n")));
        }
    } else {
        let mut c = sqlx::PgConnection::connect(url).await.expect("raw postgres");
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
        )
        .fetch_all(&mut c)
        .await
        .expect("tables");
        for t in tables {
            let rows: Vec<String> =
                sqlx::query_scalar(&format!("SELECT r::text FROM \"{t}\" r")).fetch_all(&mut c).await.expect("rows");
            out.extend(rows.into_iter().map(|r| format!("{t}: {r}\n")));
        }
    }
    out.to_lowercase()
}

fn sha256_hex(text: &str) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_and_links_live_in_the_store_hashed() {
    on_both("sessions_and_links_live_in_the_store_hashed", |url| async move {
        let env = start(&url, local()).await;
        let Who::Session { cookie, csrf } = env.login("alice").await else { unreachable!() };

        // Another process (`sealgate login-link`, a restarted server) on the same database:
        // its link works on this server once, and this server's session works there.
        let other = Store::connect(&url).await.expect("second connection");
        let link = sealgate_server::auth::mint_login_token(&other, "alice").await.expect("mint");
        let path = format!("/login?token={}", link.expose_secret());
        assert_eq!(env.call("GET", &path, &Who::Anon, None).await.status, 303);
        assert_eq!(env.call("GET", &path, &Who::Anon, None).await.status, 401, "once");
        let restarted = Auth::new(other.clone(), local()).expect("auth");
        let mut headers = axum::http::HeaderMap::new();
        headers.insert("cookie", format!("sealgate_session={cookie}").parse().expect("header"));
        let user = restarted.authenticate(&axum::http::Method::GET, &headers).await.expect("the session survives");
        assert_eq!(user.id, "alice");
        headers.insert("x-csrf-token", csrf.parse().expect("header"));
        assert!(restarted.authenticate(&axum::http::Method::POST, &headers).await.is_ok(), "its CSRF token too");
        headers.insert("x-csrf-token", "A".repeat(43).parse().expect("header"));
        assert!(restarted.authenticate(&axum::http::Method::POST, &headers).await.is_err());

        // A copy of the database: hashes only (the positive control finds the session's).
        let unused = env.auth.issue_login_token("bob").await.expect("token");
        let rows = all_rows_text(&url).await;
        for (what, raw) in
            [("session id", &cookie), ("csrf", &csrf), ("unused link", &unused.expose_secret().to_owned())]
        {
            assert!(!rows.contains(&raw.to_lowercase()), "the {what} is stored raw");
            let hex: String = B64.decode(raw).expect("b64").iter().map(|b| format!("{b:02x}")).collect();
            assert!(!rows.contains(&hex), "the {what}'s bytes are stored raw");
        }
        assert!(rows.contains(&sha256_hex(&cookie)), "the session's hash is stored: {rows}");
        assert!(rows.contains(&sha256_hex(unused.expose_secret())), "the link's hash is stored");

        // Logout on one server ends the session on the other.
        let alice = Who::Session { cookie: cookie.clone(), csrf: csrf.clone() };
        assert_eq!(env.call("POST", "/v1/logout", &alice, None).await.status, 204);
        headers.remove("x-csrf-token");
        assert!(restarted.authenticate(&axum::http::Method::GET, &headers).await.is_err(), "logout deletes");
        other.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn session_cookie_flags_and_idle_expiry() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("s.db").display());
    let config = LocalConfig {
        secure_cookies: true,
        idle_timeout: Duration::from_millis(400),
        absolute_timeout: Duration::from_secs(3600),
    };
    let env = start(&url, AuthConfig { local: Some(config), oidc: None }).await;
    let token = env.auth.issue_login_token("alice").await.expect("token");
    let r = env.call("GET", &format!("/login?token={}", token.expose_secret()), &Who::Anon, None).await;
    let cookies = set_cookies(&r.headers);
    assert!(cookies["sealgate_session"].1.contains("Secure") && cookies["sealgate_csrf"].1.contains("Secure"));
    let alice =
        Who::Session { cookie: cookies["sealgate_session"].0.clone(), csrf: cookies["sealgate_csrf"].0.clone() };
    assert_eq!(env.call("GET", "/v1/me", &alice, None).await.status, 200);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let r = env.call("GET", "/v1/me", &alice, None).await;
    assert_eq!(r.status, 401);
    assert!(r.text.contains("expired"), "{}", r.text);
}

// --- OIDC ------------------------------------------------------------------------------------

enum SignKey {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
}

struct Idp {
    issuer: String,
    jwks: Arc<std::sync::Mutex<Value>>,
    fetches: Arc<AtomicUsize>,
}

fn jwk_of(kid: &str, key: &SignKey) -> Value {
    match key {
        SignKey::Rsa(kp) => {
            let c = signature::RsaPublicKeyComponents::<Vec<u8>>::from(kp.public_key());
            json!({"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": B64.encode(&c.n), "e": B64.encode(&c.e)})
        }
        SignKey::Ec(kp) => {
            let p = kp.public_key().as_ref();
            json!({"kty": "EC", "kid": kid, "crv": "P-256", "x": B64.encode(&p[1..33]), "y": B64.encode(&p[33..65])})
        }
    }
}

fn jwt(header: &Value, claims: &Value, key: &SignKey) -> String {
    let input = format!("{}.{}", B64.encode(header.to_string()), B64.encode(claims.to_string()));
    let rng = SystemRandom::new();
    let sig = match key {
        SignKey::Rsa(kp) => {
            let mut sig = vec![0u8; kp.public_modulus_len()];
            kp.sign(&signature::RSA_PKCS1_SHA256, &rng, input.as_bytes(), &mut sig).expect("rsa sign");
            sig
        }
        SignKey::Ec(kp) => kp.sign(&rng, input.as_bytes()).expect("ec sign").as_ref().to_vec(),
    };
    format!("{input}.{}", B64.encode(sig))
}

async fn start_idp() -> Idp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let issuer = format!("http://{}", listener.local_addr().expect("addr"));
    let jwks = Arc::new(std::sync::Mutex::new(json!({"keys": []})));
    let fetches = Arc::new(AtomicUsize::new(0));
    let (j, f, iss) = (jwks.clone(), fetches.clone(), issuer.clone());
    let app = axum::Router::new()
        .route(
            "/.well-known/openid-configuration",
            axum::routing::get(move || {
                let iss = iss.clone();
                async move { axum::Json(json!({"issuer": iss, "jwks_uri": format!("{iss}/jwks")})) }
            }),
        )
        .route(
            "/jwks",
            axum::routing::get(move || {
                let (j, f) = (j.clone(), f.clone());
                async move {
                    f.fetch_add(1, Ordering::SeqCst);
                    let doc = j.lock().expect("jwks").clone();
                    axum::Json(doc)
                }
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await });
    Idp { issuer, jwks, fetches }
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("time").as_secs()
}

#[tokio::test(flavor = "multi_thread")]
async fn oidc_bearer_tokens() {
    on_both("oidc_bearer_tokens", |url| async move {
        let idp = start_idp().await;
        let rsa = SignKey::Rsa(RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("rsa"));
        let ec = SignKey::Ec(EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).expect("ec"));
        let ec2 = SignKey::Ec(EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).expect("ec"));
        let stranger = SignKey::Ec(EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).expect("ec"));
        *idp.jwks.lock().expect("jwks") = json!({"keys": [jwk_of("rsa-1", &rsa), jwk_of("ec-1", &ec)]});
        let mut oidc = OidcConfig::new(idp.issuer.clone(), "sealgate-api");
        oidc.algs = vec![JwtAlg::Rs256, JwtAlg::Es256];
        oidc.min_refetch_interval = Duration::from_millis(300);
        let env = start(&url, AuthConfig { local: Some(LocalConfig::default()), oidc: Some(oidc) }).await;

        let claims =
            |sub: &str| json!({"iss": idp.issuer, "aud": "sealgate-api", "sub": sub, "iat": now(), "exp": now() + 300});
        let call = |token: String| {
            let env = &env;
            async move { env.call("GET", "/v1/me", &Who::Bearer(token), None).await }
        };
        // RS256 and ES256; aud as an array; the subject maps to one user.
        let r = call(jwt(&json!({"alg": "RS256", "kid": "rsa-1", "typ": "JWT"}), &claims("idp|carol"), &rsa)).await;
        assert_eq!(
            (r.status, r.body["auth"].as_str(), r.body["oidc_subject"].as_str()),
            (200, Some("bearer"), Some("idp|carol")),
            "{}",
            r.text
        );
        let carol = r.body["id"].as_str().expect("id").to_owned();
        let mut c = claims("idp|carol");
        c["aud"] = json!(["other", "sealgate-api"]);
        let r = call(jwt(&json!({"alg": "ES256", "kid": "ec-1"}), &c, &ec)).await;
        assert_eq!((r.status, r.body["id"].as_str()), (200, Some(carol.as_str())), "{}", r.text);
        assert_eq!(idp.fetches.load(Ordering::SeqCst), 1, "one JWKS fetch, then the cache");

        // A verified email claim becomes the notification address; an unverified one never.
        let mut c = claims("idp|carol");
        c["email"] = json!("carol@mail.example");
        c["email_verified"] = json!(false);
        assert_eq!(call(jwt(&json!({"alg": "ES256", "kid": "ec-1"}), &c, &ec)).await.status, 200);
        assert_eq!(env.store.contact(&carol).await.expect("contact").email, None, "unverified");
        c["email_verified"] = json!("true");
        assert_eq!(call(jwt(&json!({"alg": "ES256", "kid": "ec-1"}), &c, &ec)).await.status, 200);
        assert_eq!(env.store.contact(&carol).await.expect("contact").email, None, "only the boolean true");
        c["email_verified"] = json!(true);
        assert_eq!(call(jwt(&json!({"alg": "ES256", "kid": "ec-1"}), &c, &ec)).await.status, 200);
        let contact = env.store.contact(&carol).await.expect("contact");
        assert_eq!(
            (contact.email.as_deref(), contact.email_source.as_deref()),
            (Some("carol@mail.example"), Some("oidc"))
        );

        // Bearer requests need no CSRF token.
        let t = jwt(&json!({"alg": "ES256", "kid": "ec-1"}), &claims("idp|carol"), &ec);
        assert_eq!(env.call("POST", "/v1/lockdown", &Who::Bearer(t), None).await.status, 200);

        // Refusals, each 401 with WWW-Authenticate.
        let refuse = |token: String, why: &'static str| {
            let env = &env;
            async move {
                let r = env.call("GET", "/v1/me", &Who::Bearer(token), None).await;
                assert_eq!(r.status, 401, "{why}: {}", r.text);
                assert!(
                    r.headers
                        .get("www-authenticate")
                        .is_some_and(|v| v.to_str().is_ok_and(|s| s.starts_with("Bearer")))
                );
                r.body["error"].as_str().unwrap_or("").to_owned()
            }
        };
        let h_ec = json!({"alg": "ES256", "kid": "ec-1"});
        let mut expired = claims("idp|carol");
        expired["exp"] = json!(now() - 3600);
        assert!(refuse(jwt(&h_ec, &expired, &ec), "expired").await.contains("expired"));
        let mut later = claims("idp|carol");
        later["nbf"] = json!(now() + 3600);
        assert!(refuse(jwt(&h_ec, &later, &ec), "nbf").await.contains("nbf"));
        let mut wrong_aud = claims("idp|carol");
        wrong_aud["aud"] = json!("someone-else");
        assert!(refuse(jwt(&h_ec, &wrong_aud, &ec), "aud").await.contains("aud"));
        let mut wrong_iss = claims("idp|carol");
        wrong_iss["iss"] = json!("https://evil.example");
        assert!(refuse(jwt(&h_ec, &wrong_iss, &ec), "iss").await.contains("iss"));
        let mut no_exp = claims("idp|carol");
        no_exp.as_object_mut().expect("obj").remove("exp");
        assert!(refuse(jwt(&h_ec, &no_exp, &ec), "no exp").await.contains("exp"));
        // Bad signature: signed by a key that is not the kid's; and a tampered payload.
        assert!(refuse(jwt(&h_ec, &claims("idp|carol"), &stranger), "bad sig").await.contains("signature"));
        let good = jwt(&h_ec, &claims("idp|carol"), &ec);
        let parts: Vec<&str> = good.split('.').collect();
        let tampered = format!("{}.{}.{}", parts[0], B64.encode(claims("idp|mallory").to_string()), parts[2]);
        assert!(refuse(tampered, "tampered").await.contains("signature"));
        // alg none, HS256 (the RSA modulus as an HMAC key), alg/key-type mismatch.
        let unsigned = format!("{}.{}.", B64.encode(r#"{"alg":"none"}"#), B64.encode(claims("idp|carol").to_string()));
        assert!(refuse(unsigned, "none").await.contains("none"));
        let hs = format!(
            "{}.{}.{}",
            B64.encode(r#"{"alg":"HS256","kid":"rsa-1"}"#),
            B64.encode(claims("x").to_string()),
            B64.encode([0u8; 32])
        );
        assert!(refuse(hs, "HS256").await.contains("HS256"));
        let mismatch = jwt(&json!({"alg": "ES256", "kid": "rsa-1"}), &claims("idp|carol"), &ec);
        assert!(refuse(mismatch, "alg/key mismatch").await.contains("does not fit"));
        let eddsa = format!(
            "{}.{}.{}",
            B64.encode(r#"{"alg":"EdDSA","kid":"ec-1"}"#),
            B64.encode(claims("x").to_string()),
            B64.encode([0u8; 64])
        );
        assert!(refuse(eddsa, "alg not allowed").await.contains("alg"));
        refuse(format!("{}.{}.{}", "a".repeat(9000), "b", "c"), "oversized").await;
        refuse("not-a-jwt".into(), "garbage").await;
        let crit = jwt(&json!({"alg": "ES256", "kid": "ec-1", "crit": ["exp"]}), &claims("idp|carol"), &ec);
        assert!(refuse(crit, "crit").await.contains("crit"));
        assert_eq!(idp.fetches.load(Ordering::SeqCst), 1, "none of these fetched the JWKS again");

        // Unknown kid: refetched (after the rate-limit interval) and then accepted.
        tokio::time::sleep(Duration::from_millis(350)).await;
        idp.jwks.lock().expect("jwks")["keys"].as_array_mut().expect("keys").push(jwk_of("ec-2", &ec2));
        let rotated = jwt(&json!({"alg": "ES256", "kid": "ec-2"}), &claims("idp|dave"), &ec2);
        let r = call(rotated).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(idp.fetches.load(Ordering::SeqCst), 2);
        // A flood of made-up kids cannot make us fetch again within the interval.
        for i in 0..5 {
            let t = jwt(&json!({"alg": "ES256", "kid": format!("made-up-{i}")}), &claims("idp|carol"), &ec);
            assert!(refuse(t, "unknown kid").await.contains("kid"));
        }
        assert_eq!(idp.fetches.load(Ordering::SeqCst), 2, "rate-limited");
        // And still unknown after a refetch: refused.
        tokio::time::sleep(Duration::from_millis(350)).await;
        let t = jwt(&json!({"alg": "ES256", "kid": "made-up-x"}), &claims("idp|carol"), &stranger);
        refuse(t, "unknown kid after refetch").await;
        assert_eq!(idp.fetches.load(Ordering::SeqCst), 3);
        // Bearer users are separate users: carol sees none of alice's credentials.
        let alice = env.login("alice").await;
        assert_eq!(env.create(&alice, "alice", "cred-oidc").await.status, 201);
        let t = jwt(&h_ec, &claims("idp|carol"), &ec);
        let r = env.call("GET", "/v1/credentials/cred-oidc", &Who::Bearer(t), None).await;
        assert_eq!(r.status, 404);
    })
    .await;
}

// --- credentials -----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn credential_create_checks_every_binding() {
    on_both("credential_create_checks_every_binding", |url| async move {
        let env = start(&url, local()).await;
        let alice = env.login("alice").await;
        let post = |body: Value| {
            let (env, alice) = (&env, alice.clone());
            async move { env.call("POST", "/v1/credentials", &alice, Some(body)).await }
        };
        let one = |role: &str, jwe: String, cid: &str| json!({"id": cid, "exchange": "binance", "label": "x", "envelopes": [{"role": role, "jwe": jwe}]});
        let refused = |r: Reply, status: u16, needle: &str| {
            assert_eq!(r.status, status, "{}", r.text);
            let e = r.body["error"].as_str().unwrap_or("");
            assert!(e.contains(needle), "error {e:?} should mention {needle:?}");
            assert_no_secret("error", &r.text);
        };
        // Each binding mismatch.
        refused(post(one("trader", env.seal("trader", "bob", "c1", "binance", "trader", "trade"), "c1")).await, 400, "sub");
        refused(post(one("trader", env.seal("trader", "alice", "c2", "binance", "trader", "trade"), "c1")).await, 400, "cid");
        refused(post(one("trader", env.seal("trader", "alice", "c1", "okx", "trader", "trade"), "c1")).await, 400, "exch");
        refused(post(one("importer", env.seal("trader", "alice", "c1", "binance", "trader", "trade"), "c1")).await, 400, "aud");
        refused(post(one("trader", env.seal("importer", "alice", "c1", "binance", "trader", "trade"), "c1")).await, 400, "not a recipient key of role trader");
        refused(post(one("trader", env.seal("unknown", "alice", "c1", "binance", "trader", "trade"), "c1")).await, 400, "not a recipient key");
        refused(post(one("trader", env.seal("retired", "alice", "c1", "binance", "trader", "trade"), "c1")).await, 400, "retired");
        refused(post(one("trader", "not.a.jwe.at.all".into(), "c1")).await, 400, "envelope for role trader");
        refused(post(one("trader", "x".repeat(70_000), "c1")).await, 400, "too large");
        let jwe = env.seal("trader", "alice", "c1", "binance", "trader", "trade");
        refused(post(json!({"id": "c1", "exchange": "binance", "envelopes": [{"role": "trader", "jwe": jwe}, {"role": "trader", "jwe": jwe}]})).await, 400, "more than once");
        refused(post(one("signer", jwe.clone(), "c1")).await, 400, "expected `importer` or `trader`");
        refused(post(json!({"id": "c1", "exchange": "binance", "envelopes": []})).await, 400, "at least one role");
        refused(post(json!({"id": "c1", "exchange": "nope", "envelopes": [{"role": "trader", "jwe": jwe}]})).await, 400, "unknown exchange");
        refused(post(json!({"id": "c1", "exchange": "binance", "secret": 1, "envelopes": [{"role": "trader", "jwe": jwe}]})).await, 400, "unknown field");
        refused(post(json!({"id": "c1", "exchange": "binance", "envelopes": [{"role": "trader", "jwe": jwe, "kid": "k"}]})).await, 400, "unknown field");
        refused(post(json!({"id": "c 1", "exchange": "binance", "envelopes": []})).await, 400, "id must be");
        // The one id rule (the signer's, the store's and `sealgate seal`'s): 64 is the most.
        // (No envelope can even be sealed to such an id: the envelope's cid follows it too.)
        let id65 = "x".repeat(65);
        let long = one("trader", env.seal("trader", "alice", "c1", "binance", "trader", "trade"), &id65);
        refused(post(long).await, 400, sealgate_envelope::CREDENTIAL_ID_RULE);

        refused(post(json!({"id": "c1", "exchange": "binance", "label": "a\u{7}", "envelopes": [{"role": "trader", "jwe": jwe}]})).await, 400, "label");
        let disagree = json!({"id": "c1", "exchange": "binance", "envelopes": [
            {"role": "trader", "jwe": jwe},
            {"role": "importer", "jwe": env.seal_key("importer", "alice", "c1", "binance", "importer", "read", "OTHERKEY00001234")},
        ]});
        refused(post(disagree).await, 400, "hint");
        let big = json!({"id": "c1", "exchange": "binance", "label": "x".repeat(200 * 1024), "envelopes": []});
        refused(post(big).await, 413, "larger than");
        let r = env.call_raw("POST", "/v1/credentials", &alice, Some("{not json".into()), true).await;
        assert_eq!(r.status, 400, "{}", r.text);
        assert_eq!(env.store.list_credentials("alice").await.expect("list").len(), 0, "nothing stored");
        // 64 is allowed (and stored; deleted again).
        let id64 = "y".repeat(64);
        let r = post(one("trader", env.seal("trader", "alice", &id64, "binance", "trader", "trade"), &id64)).await;
        assert_eq!(r.status, 201, "{}", r.text);
        env.store.delete_credential("alice", &id64).await.expect("delete");

        // The good one: scope is the union, roles and kids recorded, an import queued.
        let r = env.create(&alice, "alice", "c1").await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert_no_secret("create", &r.text);
        assert_eq!(r.body["scope"], json!(["read", "trade"]));
        assert_eq!(r.body["hint"], json!("WXYZ"));
        assert_eq!(r.body["status"], json!("active"));
        assert_eq!(r.body["roles"][0]["role"], json!("importer"));
        assert_eq!(r.body["roles"][1]["kid"], json!("trader-v1"));
        assert_eq!(env.store.job_counts().await.expect("jobs").0, 1);
        // The id is taken among alice's own credentials (bob's ids are his: see
        // credential_ids_are_unique_per_owner_only).
        let again = env.create(&alice, "alice", "c1").await;
        assert_eq!(again.status, 409, "{}", again.text);
        assert!(again.text.contains("you already have a credential with this id"), "{}", again.text);
        // A trader-only credential queues no import.
        let t = json!({"id": "c2", "exchange": "okx", "envelopes": [{"role": "trader", "jwe": env.seal("trader", "alice", "c2", "okx", "trader", "trade")}]});
        assert_eq!(post(t).await.status, 201);
        assert_eq!(env.store.job_counts().await.expect("jobs").0, 1);
    })
    .await;
}

/// A credential id is unique per owner only. Bob may use an id alice holds (201, not the old
/// 409 that told him alice has it and let him squat ids before she used them), and nothing
/// bob does with his `same` — show, revoke, limit, delete — is seen on alice's `same`.
#[tokio::test(flavor = "multi_thread")]
async fn credential_ids_are_unique_per_owner_only() {
    on_both("credential_ids_are_unique_per_owner_only", |url| async move {
        let env = start(&url, local()).await;
        let (alice, bob) = (env.login("alice").await, env.login("bob").await);
        assert_eq!(env.create(&alice, "alice", "same").await.status, 201);
        // Bob's answer for an id alice holds is the answer for a fresh one: no oracle.
        let fresh = env.create(&bob, "bob", "fresh").await;
        let taken = env.create(&bob, "bob", "same").await;
        assert_eq!((fresh.status, taken.status), (201, 201), "{}", taken.text);
        assert_eq!(taken.body["id"], json!("same"));
        assert_eq!(env.create(&alice, "alice", "same").await.status, 409, "alice's own id is taken for alice");
        assert_eq!(env.create(&bob, "bob", "same").await.status, 409, "and bob's for bob");

        // Each sees their own, with their own envelopes.
        let ids = |r: &Reply| -> Vec<String> {
            r.body["credentials"]
                .as_array()
                .expect("list")
                .iter()
                .filter_map(|c| c["id"].as_str().map(str::to_owned))
                .collect()
        };
        assert_eq!(ids(&env.call("GET", "/v1/credentials", &alice, None).await), ["same"]);
        assert_eq!(ids(&env.call("GET", "/v1/credentials", &bob, None).await), ["fresh", "same"]);
        // Bob revokes, limits and deletes his `same`: alice's is as it was.
        let r = env.call("DELETE", "/v1/credentials/same/roles/trader", &bob, None).await;
        assert_eq!((r.status, r.body["roles"].as_array().map(Vec::len)), (200, Some(1)), "{}", r.text);
        let r = env.call("PUT", "/v1/credentials/same/limits", &bob, Some(json!({"max_notional": "5"}))).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let r = env.call("DELETE", "/v1/credentials/same", &bob, None).await;
        assert_eq!(r.body["status"], json!("deleted"), "{}", r.text);
        let a = env.call("GET", "/v1/credentials/same", &alice, None).await;
        assert_eq!((a.status, a.body["status"].as_str()), (200, Some("active")), "{}", a.text);
        assert_eq!(a.body["roles"].as_array().map(Vec::len), Some(2), "alice's trader envelope stays");
        assert_eq!(a.body["limits"]["max_notional"], Value::Null, "bob's limit is not alice's");
        let (_, envelope) = env.store.signer_envelope("alice", "same", "trader").await.expect("read").expect("alice's");
        assert!(env.store.signer_envelope("bob", "same", "trader").await.expect("read").is_none());
        assert!(envelope.jwe.starts_with(JWE_PREFIX));
        // Each import job is queued for its owner's credential.
        let mut jobs = Vec::new();
        for id in 1..=3 {
            let j = env.store.job(id).await.expect("job").expect("queued");
            jobs.push((j.owner, j.credential_id));
        }
        let jobs: BTreeSet<(String, String)> = jobs.into_iter().collect();
        let want = [("alice", "same"), ("bob", "fresh"), ("bob", "same")].map(|(o, c)| (o.to_owned(), c.to_owned()));
        assert_eq!(jobs, BTreeSet::from(want));
        // Alice's trail names alice's `same` only; bob's, bob's.
        assert_eq!(env.trail_actions(&alice).await, ["credential_created"]);
        let bobs = ["credential_created", "credential_created", "revoked", "limits_changed", "credential_deleted"];
        assert_eq!(env.trail_actions(&bob).await, bobs);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn credential_lifecycle_and_own_audit_trail() {
    on_both("credential_lifecycle_and_own_audit_trail", |url| async move {
        let env = start(&url, local()).await;
        let (alice, bob) = (env.login("alice").await, env.login("bob").await);
        assert_eq!(env.create(&alice, "alice", "a1").await.status, 201);
        assert_eq!(env.create(&alice, "alice", "a2").await.status, 201);
        assert_eq!(env.create(&bob, "bob", "b1").await.status, 201);

        let list = env.call("GET", "/v1/credentials", &alice, None).await;
        assert_eq!(list.status, 200);
        assert_no_secret("list", &list.text);
        let ids: Vec<&str> =
            list.body["credentials"].as_array().expect("array").iter().filter_map(|c| c["id"].as_str()).collect();
        assert_eq!(ids, ["a1", "a2"]);
        let show = env.call("GET", "/v1/credentials/a1", &alice, None).await;
        assert_eq!((show.status, show.body["label"].as_str()), (200, Some("main")));
        assert_no_secret("show", &show.text);
        assert_eq!(env.call("GET", "/v1/credentials/b1", &alice, None).await.status, 404);
        assert_eq!(env.call("GET", "/v1/credentials/nope", &alice, None).await.status, 404);

        // Revoke one role.
        let r = env.call("DELETE", "/v1/credentials/a1/roles/trader", &alice, None).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["roles"].as_array().map(Vec::len), Some(1));
        assert_eq!(env.call("DELETE", "/v1/credentials/a1/roles/trader", &alice, None).await.status, 404);
        assert_eq!(env.call("DELETE", "/v1/credentials/a1/roles/signer", &alice, None).await.status, 400);
        assert_eq!(env.call("DELETE", "/v1/credentials/b1/roles/trader", &alice, None).await.status, 404);
        // Delete.
        let r = env.call("DELETE", "/v1/credentials/a2", &alice, None).await;
        assert_eq!((r.status, r.body["status"].as_str()), (200, Some("deleted")), "{}", r.text);
        assert_eq!(r.body["roles"], json!([]));
        assert_eq!(env.call("DELETE", "/v1/credentials/a2", &alice, None).await.status, 404);
        assert_eq!(env.call("DELETE", "/v1/credentials/b1", &alice, None).await.status, 404);
        // Lockdown freezes alice's, not bob's.
        let r = env.call("POST", "/v1/lockdown", &alice, None).await;
        assert_eq!((r.status, r.body["frozen"].as_u64()), (200, Some(1)));
        let a1 = env.call("GET", "/v1/credentials/a1", &alice, None).await;
        assert_eq!(a1.body["status"], json!("frozen"));
        let b1 = env.call("GET", "/v1/credentials/b1", &bob, None).await;
        assert_eq!((b1.body["status"].as_str(), b1.body["roles"].as_array().map(Vec::len)), (Some("active"), Some(2)));

        // Audit: alice sees her records, in order, bob sees only his.
        let trail = env.call("GET", "/v1/audit", &alice, None).await;
        assert_eq!(trail.status, 200);
        assert_no_secret("audit", &trail.text);
        let actions: Vec<&str> =
            trail.body["records"].as_array().expect("records").iter().filter_map(|r| r["action"].as_str()).collect();
        assert_eq!(actions, ["credential_created", "credential_created", "revoked", "credential_deleted", "lockdown"]);
        let created = &trail.body["records"][0];
        assert_eq!(created["actor"], json!("user:alice"));
        assert_eq!(created["detail"]["exchange"], json!("binance"));
        assert_eq!(created["detail"]["roles"], json!(["importer", "trader"]));
        assert_eq!(created["detail"]["scope"], json!(["read", "trade"]));
        assert_eq!(created["detail"]["kids"], json!(["importer-v1", "trader-v1"]));
        assert_eq!(trail.body["records"][2]["detail"]["kid"], json!("trader-v1"));
        let seqs: Vec<i64> =
            trail.body["records"].as_array().expect("r").iter().filter_map(|r| r["seq"].as_i64()).collect();
        let page = env.call("GET", &format!("/v1/audit?after={}&limit=2", seqs[1]), &alice, None).await;
        let page_seqs: Vec<i64> =
            page.body["records"].as_array().expect("r").iter().filter_map(|r| r["seq"].as_i64()).collect();
        assert_eq!(page_seqs, seqs[2..4]);
        assert_eq!(page.body["next_after"].as_i64(), Some(seqs[3]));
        let bobs = env.call("GET", "/v1/audit", &bob, None).await;
        let subjects: BTreeSet<&str> =
            bobs.body["records"].as_array().expect("r").iter().filter_map(|r| r["subject"].as_str()).collect();
        assert_eq!(subjects, BTreeSet::from(["b1"]));
        for q in ["?limit=0", "?limit=5000", "?after=-1", "?owner=alice", "?after=x"] {
            let r = env.call("GET", &format!("/v1/audit{q}"), &bob, None).await;
            assert_eq!(r.status, 400, "{q}: {}", r.text);
        }
        // Portfolio and orders (no trader configured).
        assert_eq!(env.call("GET", "/v1/portfolio", &alice, None).await.status, 200);
        let r = env.call("GET", "/v1/orders", &alice, None).await;
        assert_eq!((r.status, r.body["orders"].clone()), (200, json!([])));
        let order =
            json!({"credential_id": "a1", "symbol": "BTCUSDT", "side": "buy", "order_type": "market", "qty": "0.001"});
        let r = env.call("POST", "/v1/orders", &alice, Some(order)).await;
        assert_eq!(r.status, 503);
        assert!(r.text.contains("trading is not enabled"));
        assert_eq!(env.call("DELETE", "/v1/orders/o1", &alice, None).await.status, 503);
        // Unknown paths and methods, and refusals by axum itself: JSON too.
        let r = env.call("GET", "/v1/credentials/%FF%FE", &alice, None).await;
        assert_eq!(r.status, 400, "{}", r.text);
        assert_eq!(env.call("GET", "/v1/nope", &alice, None).await.status, 404);
        assert_eq!(env.call("PUT", "/v1/credentials", &alice, None).await.status, 405);
    })
    .await;
}

// --- re-seal, and revocation that is on the record first ------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn reseal_replaces_one_role_and_never_widens_it() {
    on_both("reseal", |url| async move {
        let env = start(&url, local()).await;
        let (alice, bob) = (env.login("alice").await, env.login("bob").await);
        // Bob has an `r1` too (ids are unique per owner only), made first: a lookup that
        // ignored the owner would meet his rows before alice's.
        assert_eq!(env.create(&bob, "bob", "r1").await.status, 201);
        assert_eq!(env.create(&alice, "alice", "r1").await.status, 201);
        let old = env.store.owner_envelopes("alice", "r1").await.expect("envelopes");
        let bobs = env.store.owner_envelopes("bob", "r1").await.expect("bob's envelopes");
        let put = |jwe: String| json!({ "jwe": jwe });
        let path = "/v1/credentials/r1/roles/trader";
        let refused = [
            // A class the replaced envelope did not grant.
            (env.seal("trader", "alice", "r1", "binance", "trader", "read,trade,withdraw"), "may not add a class"),
            // Another API key.
            (env.seal_key("trader", "alice", "r1", "binance", "trader", "read", "AKIAOTHERKEY0000ZZZZ"), "hint"),
            // Bound to another credential, user or role.
            (env.seal("trader", "alice", "r2", "binance", "trader", "read"), "cid"),
            (env.seal("trader", "bob", "r1", "binance", "trader", "read"), "sub"),
            (env.seal("importer", "alice", "r1", "binance", "importer", "read"), "aud"),
            // A retired key version.
            (env.seal("retired", "alice", "r1", "binance", "trader", "read"), "retired"),
        ];
        for (jwe, why) in refused {
            let r = env.call("PUT", path, &alice, Some(put(jwe))).await;
            assert_eq!(r.status, 400, "{why}: {}", r.text);
            assert!(r.text.contains(why), "{why}: {}", r.text);
        }
        let stored = |role: &'static str| {
            let store = env.store.clone();
            async move {
                store.owner_envelopes("alice", "r1").await.expect("envelopes").into_iter().find(|e| e.role == role)
            }
        };
        assert_eq!(stored("trader").await.map(|e| e.jwe), Some(old[1].jwe.clone()), "nothing replaced");
        // The same envelope again is no re-seal; another user's session reaches only its own
        // `r1`, which alice's envelope does not bind.
        let r = env.call("PUT", path, &alice, Some(put(old[1].jwe.clone()))).await;
        assert_eq!(r.status, 400, "{}", r.text);
        let narrower = env.seal("trader", "alice", "r1", "binance", "trader", "read");
        let r = env.call("PUT", path, &bob, Some(put(narrower.clone()))).await;
        assert_eq!(r.status, 400, "{}", r.text);
        assert!(r.text.contains("sub"), "{}", r.text);

        // A narrower re-seal replaces it; the credential's scope follows.
        let r = env.call("PUT", path, &alice, Some(put(narrower.clone()))).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["scope"], json!(["read"]));
        assert_no_secret("reseal", &r.text);
        assert_eq!(stored("trader").await.map(|e| e.jwe), Some(narrower));
        // Bob's `r1` is untouched: its envelopes and its scope.
        assert_eq!(env.store.owner_envelopes("bob", "r1").await.expect("bob's"), bobs);
        let b = env.store.get_credential("bob", "r1").await.expect("get").expect("bob's r1");
        assert_eq!(b.scope, "read,trade");
        let trail = env.call("GET", "/v1/audit", &alice, None).await;
        let last = trail.body["records"].as_array().and_then(|r| r.last()).cloned().expect("record");
        assert_eq!(last["action"], json!("envelope_replaced"));
        let digest = sealgate_server::revocation::envelope_digest(&old[1].jwe).expect("digest").to_string();
        assert_eq!(last["detail"]["revoked_envelopes"], json!([digest]));
        // A revoked role does not come back by re-seal.
        assert_eq!(env.call("DELETE", "/v1/credentials/r1/roles/importer", &alice, None).await.status, 200);
        let again = env.seal("importer", "alice", "r1", "binance", "importer", "read");
        let r = env.call("PUT", "/v1/credentials/r1/roles/importer", &alice, Some(put(again))).await;
        assert_eq!(r.status, 404, "{}", r.text);
        assert_eq!(env.call("PUT", "/v1/credentials/r1/roles/signer", &alice, Some(put("x".into()))).await.status, 400);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_is_revoked_replaced_or_deleted_without_its_record() {
    on_both("audit_first", |url| async move {
        let env = start(&url, local()).await;
        let alice = env.login("alice").await;
        assert_eq!(env.create(&alice, "alice", "f1").await.status, 201);
        // The audit log becomes unwritable.
        let sql = "ALTER TABLE audit_log RENAME TO audit_log_gone";
        if url.starts_with("sqlite:") {
            let mut c = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url).await.expect("sqlite");
            sqlx::query(sql).execute(&mut c).await.expect("rename");
        } else {
            let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(&url).await.expect("postgres");
            sqlx::query(sql).execute(&mut c).await.expect("rename");
        }
        let reseal = json!({"jwe": env.seal("trader", "alice", "f1", "binance", "trader", "read")});
        for (method, path, body, undone) in [
            ("DELETE", "/v1/credentials/f1/roles/trader", None, "nothing was revoked"),
            ("PUT", "/v1/credentials/f1/roles/trader", Some(reseal), "nothing was replaced"),
            ("DELETE", "/v1/credentials/f1", None, "nothing was deleted"),
        ] {
            let r = env.call(method, path, &alice, body).await;
            assert_eq!(r.status, 503, "{method} {path}: {}", r.text);
            assert!(r.text.contains(undone), "{}", r.text);
        }
        let c = env.store.get_credential("alice", "f1").await.expect("get").expect("exists");
        assert_eq!((c.status, c.scope.as_str()), (sealgate_store::CredentialStatus::Active, "read,trade"));
        let envs = env.store.owner_envelopes("alice", "f1").await.expect("envelopes");
        assert_eq!(envs.len(), 2, "both envelopes are still there, unchanged");
        assert!(envs.iter().all(|e| e.jwe.starts_with(JWE_PREFIX)));
    })
    .await;
}

// --- bodies: the shape the schema states, refusals before reading ----------------------------

#[tokio::test(flavor = "multi_thread")]
async fn bodies_are_the_objects_the_schema_states() {
    let dir = tempfile::tempdir().expect("dir");
    let env = start(&format!("sqlite://{}?mode=rwc", dir.path().join("b.db").display()), local()).await;
    let alice = env.login("alice").await;
    assert_eq!(env.create(&alice, "alice", "c1").await.status, 201);
    let put =
        |body: &'static str| env.call_raw("PUT", "/v1/credentials/c1/limits", &alice, Some(body.to_owned()), true);
    // serde takes a sequence for a struct: `[]` was `{}` (all limits removed), `[n, ms]` a rate.
    for body in [
        "[]",
        "[null, null, null]",
        r#"{"rate": [5, 1000]}"#,
        r#"{"rate": {"max": 4294967296, "window_ms": 1000}}"#,
        r#"{"rate": {"max": 0, "window_ms": 1000}}"#,
        r#"{"rate": {"max": 5}}"#,
        r#"{"symbols": []}"#,
        r#"{"symbols": "BTCUSDT"}"#,
        r#"{"max_notional": 1000}"#,
        r#"{"max_notional": "0"}"#,
        r#"{"extra": 1}"#,
        "null",
        "\"{}\"",
        // A key twice: serde_json would keep the last (no symbol limit), a struct its first error.
        r#"{"symbols": ["BTCUSDT"], "symbols": null}"#,
        r#"{"rate": {"max": 5, "max": 100000, "window_ms": 1000}}"#,
    ] {
        let r = put(body).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
    }
    let r = put(r#"{"rate": {"max": 5, "window_ms": 1000}, "symbols": ["BTCUSDT"]}"#).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["limits"]["rate"], json!({"max": 5, "window_ms": 1000}));
    let r = put(r#"{"rate": null}"#).await;
    assert_eq!((r.status, &r.body["limits"]["rate"]), (200, &Value::Null), "{}", r.text);
    // Creating: the body, each envelope, the role and the exchange as the schema says.
    let jwe = env.seal("trader", "alice", "c2", "binance", "trader", "trade");
    for body in [
        json!([{"id": "c2"}]),
        json!({"id": "c2", "exchange": "binance", "envelopes": [["trader", jwe]]}),
        json!({"id": "c2", "exchange": "binance", "envelopes": [{"role": "admin", "jwe": jwe}]}),
        json!({"id": "c2", "exchange": "nowhere", "envelopes": [{"role": "trader", "jwe": jwe}]}),
        json!({"id": "c2", "exchange": "binance", "envelopes": []}),
        json!({"id": "c2", "exchange": "binance", "label": "a\u{7}b", "envelopes": [{"role": "trader", "jwe": jwe}]}),
        json!({"id": "c 2", "exchange": "binance", "envelopes": [{"role": "trader", "jwe": jwe}]}),
    ] {
        let r = env.call("POST", "/v1/credentials", &alice, Some(body.clone())).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert_no_secret("refusal", &r.text);
    }
    let ok = json!({"id": "c2", "exchange": "binance", "envelopes": [{"role": "trader", "jwe": jwe}]});
    assert_eq!(env.call("POST", "/v1/credentials", &alice, Some(ok)).await.status, 201);
    // Query parameters out of their range, or not numbers.
    for q in ["limit=0", "limit=501", "limit=-1", "limit=4294967296", "limit=x", "limit=1&limit=2", "other=1"] {
        assert_eq!(env.call("GET", &format!("/v1/orders?{q}"), &alice, None).await.status, 400, "{q}");
    }
    for q in ["after=-1", "limit=1001", "after=9223372036854775808", "after=1.5"] {
        assert_eq!(env.call("GET", &format!("/v1/audit?{q}"), &alice, None).await.status, 400, "{q}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_refusal_is_json_and_sizes_are_refused_before_reading() {
    let dir = tempfile::tempdir().expect("dir");
    let env = start(&format!("sqlite://{}?mode=rwc", dir.path().join("r.db").display()), local()).await;
    let alice = env.login("alice").await;
    // `call_raw` checks every status >= 400 answers {"error": "..."}; these are axum's own.
    let r = env.call_raw("POST", "/v1/credentials", &alice, Some("{".into()), true).await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = env.call_raw("POST", "/v1/orders", &alice, Some("[1,".into()), true).await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = env.call("GET", "/v1/nope", &alice, None).await;
    assert_eq!(r.status, 404);
    let r = env.call("PATCH", "/v1/credentials", &alice, None).await;
    assert_eq!(r.status, 405);
    assert!(r.headers.get("allow").is_some(), "405 without Allow");
    let r = env.call("GET", "/app/nope.js", &Who::Anon, None).await;
    assert_eq!(r.status, 404);
    // Not JSON: 415.
    let r = env
        .http
        .post(format!("{}/v1/credentials", env.base))
        .header("cookie", cookie_of(&alice))
        .header("x-csrf-token", csrf_of(&alice))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 415);
    let v: Value = r.json().await.expect("json");
    assert!(v["error"].as_str().is_some_and(|e| e.contains("application/json")), "{v}");
    // Over the limit by Content-Length, no body sent, signed in: 413 at once, not a wait for
    // the body (axum's DefaultBodyLimit only counts bytes as they arrive).
    let addr = env.base.trim_start_matches("http://").to_owned();
    for (path, length) in
        [("/v1/credentials", api::MAX_BODY + 1), ("/csp-report", 16 * 1024 + 1), ("/v1/orders", 1 << 40)]
    {
        let framing = format!("Content-Length: {length}");
        let answer = tokio::time::timeout(Duration::from_secs(2), raw_post_as(&addr, path, &framing, b"", &alice));
        let (status, text) = answer.await.unwrap_or_else(|_| panic!("{path}: no 413 within 2 s"));
        assert_eq!(status, 413, "{path}: {text}");
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{path}: not JSON: {text}"));
        assert!(v["error"].as_str().is_some_and(|e| e.contains("larger than")), "{path}: {v}");
    }
    // Within the limit, and no body: the server (the caller signed in) waits for it.
    let within = format!("Content-Length: {}", api::MAX_BODY);
    let wait =
        tokio::time::timeout(Duration::from_millis(500), raw_post_as(&addr, "/v1/credentials", &within, b"", &alice));
    assert!(wait.await.is_err(), "answered before the body arrived");
    // A Content-Length that is not a number.
    let (status, text) = raw_post(&addr, "/v1/credentials", "Content-Length: lots", b"").await;
    assert_eq!(status, 400, "{text}");
    // Streamed over the limit (chunked): 413 as JSON once the limit is passed.
    let mut chunked = Vec::new();
    for _ in 0..200 {
        chunked.extend_from_slice(format!("400\r\n{}\r\n", "a".repeat(1024)).as_bytes());
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let (status, text) = raw_post_as(&addr, "/v1/credentials", "Transfer-Encoding: chunked", &chunked, &alice).await;
    assert_eq!(status, 413, "{text}");
    assert!(serde_json::from_str::<Value>(&text).is_ok_and(|v| v["error"].is_string()), "{text}");
}

fn cookie_of(who: &Who) -> String {
    match who {
        Who::Session { cookie, csrf } => format!("sealgate_session={cookie}; sealgate_csrf={csrf}"),
        _ => String::new(),
    }
}

fn csrf_of(who: &Who) -> String {
    match who {
        Who::Session { csrf, .. } => csrf.clone(),
        _ => String::new(),
    }
}

async fn raw_post(addr: &str, path: &str, framing: &str, body: &[u8]) -> (u16, String) {
    raw_post_as(addr, path, framing, body, &Who::Anon).await
}

/// One POST over a raw connection (the head, then `body` in pieces); answers the status and body.
async fn raw_post_as(addr: &str, path: &str, framing: &str, body: &[u8], who: &Who) -> (u16, String) {
    let auth = match who {
        Who::Session { .. } => format!("Cookie: {}\r\nX-CSRF-Token: {}\r\n", cookie_of(who), csrf_of(who)),
        _ => String::new(),
    };
    let head = sealgate_testkit::raw_http::head("POST", path, addr, &format!("{auth}{framing}\r\n"));
    let r = sealgate_testkit::raw_http::exchange(addr, &head, body.chunks(1029)).await;
    (r.status, r.body)
}

// --- the matrix and the document -------------------------------------------------------------

/// Expected status for (owner, other user, anonymous) on each route.
fn expected(method: &str, path: &str) -> (u16, u16, u16) {
    match (method, path) {
        ("GET", "/openapi.json") | ("GET", "/v1/recipients") => (200, 200, 200),
        ("GET", "/login") => (401, 401, 401),
        ("POST", "/v1/logout") => (204, 204, 401),
        ("POST", "/v1/credentials") => (201, 400, 401),
        ("GET", "/v1/credentials/{id}")
        | ("DELETE", "/v1/credentials/{id}")
        | ("DELETE", "/v1/credentials/{id}/roles/{role}")
        | ("PUT", "/v1/credentials/{id}/roles/{role}")
        | ("PUT", "/v1/credentials/{id}/limits")
        | ("PUT", "/v1/credentials/{id}/status")
        | ("PUT", "/v1/credentials/{id}/anomaly-rules") => (200, 404, 401),
        // The matrix names a credential id, which is no withdrawal; approving needs a body.
        ("POST", "/v1/withdrawals/{id}/approval") => (404, 404, 401),
        ("POST", "/v1/withdrawals/{id}/approve") => (415, 415, 401),
        // The matrix's credentials name no owner authority: nothing to approve.
        ("POST", "/v1/credentials/{id}/approval") => (409, 404, 401),
        ("POST", "/v1/orders") | ("DELETE", "/v1/orders/{id}") => (503, 503, 401),
        // No custody signs checkpoints here, so there is nothing to prove against yet
        // (tests/audit_export.rs serves it with a signer's checkpoints).
        ("GET", "/v1/audit/export") => (503, 503, 401),
        // The matrix names a credential id, which is no order.
        ("GET", "/v1/orders/{id}") => (404, 404, 401),
        // Alice's newest import job (queued: retryable), which bob cannot see.
        ("POST", "/v1/imports/{id}/retry") => (200, 404, 401),
        // The matrix sends these no body.
        ("PUT", "/v1/notifications/settings")
        | ("POST", "/v1/custody-keys")
        | ("POST", "/v1/custody-keys/activate")
        | ("POST", "/v1/custody-keys/approval")
        | ("POST", "/v1/custody-keys/discard")
        | ("POST", "/v1/notifications/email")
        | ("POST", "/v1/notifications/webhooks") => (415, 415, 401),
        // The matrix names a credential id, which is no endpoint of anyone's.
        ("DELETE", "/v1/notifications/webhooks/{id}") => (404, 404, 401),
        // The matrix sends these no body (tests/api.rs `passkeys_*` run the ceremonies).
        ("POST", "/v1/passkeys/register/start")
        | ("POST", "/v1/passkeys/register/finish")
        | ("POST", "/v1/passkeys/{id}/remove") => (415, 415, 401),
        // The matrix names a credential id, which is nobody's passkey.
        ("POST", "/v1/passkeys/{id}/remove/start") => (404, 404, 401),
        _ => (200, 200, 401),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn authorization_matrix() {
    on_both("authorization_matrix", |url| async move {
        let env = start(&url, local()).await;
        let (alice, bob) = (env.login("alice").await, env.login("bob").await);
        let mut routes = api::routes();
        // Logout last: it ends the sessions the rest use.
        routes.sort_by_key(|(_, p)| p == "/v1/logout");
        for (n, (method, path)) in routes.into_iter().enumerate() {
            let path = path.as_str();
            let cid = format!("m{n}");
            assert_eq!(env.create(&alice, "alice", &cid).await.status, 201);
            let id = match path {
                "/v1/imports/{id}/retry" => {
                    let jobs = env.store.owner_jobs("alice", 1).await.expect("jobs");
                    jobs.first().expect("an import job was queued for the credential").id.to_string()
                }
                _ => cid.clone(),
            };
            let concrete = path.replace("{id}", &id).replace("{role}", "trader");
            let body = match (method, path) {
                ("POST", "/v1/credentials") => Some(json!({"id": format!("new{n}"), "exchange": "binance", "envelopes": [
                    {"role": "trader", "jwe": env.seal("trader", "alice", &format!("new{n}"), "binance", "trader", "trade")}]})),
                ("POST", "/v1/orders") => Some(json!({"credential_id": cid, "symbol": "BTCUSDT", "side": "buy", "order_type": "market", "qty": "1"})),
                ("PUT", "/v1/credentials/{id}/limits") => Some(json!({"symbols": ["BTCUSDT"], "max_notional": "1000"})),
                ("PUT", "/v1/credentials/{id}/status") => Some(json!({"status": "frozen"})),
                ("PUT", "/v1/credentials/{id}/anomaly-rules") => Some(json!({"overrides": {"burst_factor": 2}})),
                ("POST", "/v1/credentials/{id}/approval") => Some(json!({"status": "active"})),
                // A re-seal of alice's trader role (narrower); bob's session cannot reach it.
                ("PUT", "/v1/credentials/{id}/roles/{role}") => Some(json!({
                    "jwe": env.seal("trader", "alice", &cid, "binance", "trader", "read")})),
                _ => None,
            };
            let (owner, other, anon) = expected(method, path);
            let r = env.call(method, &concrete, &Who::Anon, body.clone()).await;
            assert_eq!(r.status, anon, "anonymous {method} {path}: {}", r.text);
            if anon == 401 {
                assert!(r.headers.get("www-authenticate").is_some(), "{method} {path}");
            }
            let r = env.call(method, &concrete, &bob, body.clone()).await;
            assert_eq!(r.status, other, "other user {method} {path}: {}", r.text);
            assert!(!r.text.contains(&cid) && !r.text.contains("alice"), "bob sees alice's data at {method} {path}: {}", r.text);
            // Nothing of alice's changed.
            let c = env.store.get_credential("alice", &cid).await.expect("get").expect("exists");
            assert_eq!(c.status, sealgate_store::CredentialStatus::Active, "{method} {path}");
            assert_eq!(env.store.envelope_roles("alice", &cid).await.expect("roles").len(), 2, "{method} {path}");
            let r = env.call(method, &concrete, &alice, body).await;
            assert_eq!(r.status, owner, "owner {method} {path}: {}", r.text);
            if path != "/openapi.json" {
                assert_no_secret(path, &r.text);
            }
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn openapi_describes_every_route() {
    let dir = tempfile::tempdir().expect("dir");
    let env = start(&format!("sqlite://{}?mode=rwc", dir.path().join("o.db").display()), local()).await;
    let doc = env.call("GET", "/openapi.json", &Who::Anon, None).await.body;
    assert_eq!(doc["openapi"], json!("3.1.0"));
    assert_eq!(doc, api::openapi_document(), "the document served is the one generated");
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("item").keys() {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    // The document is the public listener's: every route it serves, the health routes
    // included, and nothing else; the service routes are in the service listener's document.
    let served: BTreeSet<(String, String)> =
        sealgate_server::serve::routes().into_iter().map(|(m, p)| (m.to_owned(), p)).collect();
    assert_eq!(documented, served);
    let service_doc = api::service_openapi_document();
    let mut service_documented = BTreeSet::new();
    for (path, item) in service_doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("item").keys() {
            service_documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let service_served: BTreeSet<(String, String)> =
        sealgate_server::serve::service_routes().into_iter().map(|(m, p)| (m.to_owned(), p)).collect();
    assert_eq!(service_documented, service_served);
    for must in [("POST", "/v1/sign"), ("POST", "/v1/forward"), ("GET", "/metrics"), ("GET", "/healthz")] {
        let must = (must.0.to_owned(), must.1.to_owned());
        assert!(service_served.contains(&must) && !served.contains(&must) || must.1 == "/healthz", "{must:?}");
    }
    for must in [
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("POST", "/csp-report"),
        ("GET", "/"),
        ("GET", "/app/{file}"),
        ("PUT", "/v1/credentials/{id}/limits"),
    ] {
        assert!(served.contains(&(must.0.to_owned(), must.1.to_owned())), "{must:?} is not listed");
    }
    // Every route of the api router is really served (not the fallback), and every other
    // method on its path is 405 (JSON): nothing is served that is not documented.
    let api_routes: BTreeSet<(String, String)> =
        api::routes().into_iter().chain(sealgate_server::web::route_list()).map(|(m, p)| (m.to_owned(), p)).collect();
    for (method, path) in &api_routes {
        let concrete = path.replace("{id}", "x").replace("{role}", "trader").replace("{file}", "app.js");
        let r = env.call(method, &concrete, &Who::Anon, None).await;
        assert!(!r.text.contains("no such endpoint") && r.status != 405, "{method} {path}: {}", r.text);
        for other in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            if !api_routes.contains(&(other.to_owned(), path.clone())) {
                let r = env.call(other, &concrete, &Who::Anon, None).await;
                assert_eq!(r.status, 405, "{other} {path} is served but not documented: {}", r.text);
            }
        }
    }
    // Every $ref resolves; every operation says who may call it; every error answer is the
    // one Error shape; every security scheme used is defined.
    assert_eq!(service_doc["components"]["securitySchemes"]["service"]["scheme"], json!("bearer"));
    let public_schemes = doc["components"]["securitySchemes"].as_object().expect("schemes");
    assert_eq!(public_schemes["session"]["in"], json!("cookie"));
    assert_eq!(public_schemes["session"]["name"], json!("sealgate_session"));
    for doc in [&doc, &service_doc] {
        let text = doc.to_string();
        for piece in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = piece.split('"').next().expect("name");
            assert!(doc["components"]["schemas"].get(name).is_some(), "dangling $ref {name}");
        }
        let schemes = doc["components"]["securitySchemes"].as_object().expect("schemes");
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("item") {
                let security = op["security"].as_array().unwrap_or_else(|| panic!("{method} {path}: no security"));
                for req in security {
                    for name in req.as_object().expect("requirement").keys() {
                        assert!(schemes.contains_key(name), "{method} {path}: unknown scheme {name}");
                    }
                }
                let signer = path == "/v1/sign" || path == "/v1/forward" || path.starts_with("/v1/held-keys/");
                let user = security.iter().any(|r| r.get("session").is_some());
                assert_eq!(security.iter().any(|r| r.get("service").is_some()), signer, "{method} {path}");
                for (code, resp) in op["responses"].as_object().expect("responses") {
                    // The link pages a user opens from a message refuse in HTML.
                    let html = resp["content"].get("text/html").is_some()
                        && (path.starts_with("/lockdown/") || path.starts_with("/notify/confirm/"));
                    if (code.starts_with('4') || code.starts_with('5')) && !html {
                        assert_eq!(
                            resp["content"]["application/json"]["schema"]["$ref"],
                            json!("#/components/schemas/Error"),
                            "{method} {path} {code}"
                        );
                    }
                }
                if user || signer {
                    assert!(op["responses"].get("401").is_some(), "{method} {path}: no 401");
                }
            }
        }
    }
    let limits = &doc["components"]["schemas"]["LimitsIn"];
    assert_eq!(limits["type"], json!("object"));
    assert_eq!(limits["additionalProperties"], json!(false));
    let r = env.call("GET", "/v1/recipients", &Who::Anon, None).await;
    assert_eq!((r.body["keyset"].as_str().is_some(), r.body["root_pin"].as_str()), (true, Some("root-pin-thumbprint")));
}

#[tokio::test(flavor = "multi_thread")]
async fn oidc_eddsa_when_enabled_and_config_refusals() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("e.db").display());
    let idp = start_idp().await;
    let ed = signature::Ed25519KeyPair::generate().expect("ed25519");
    let x = B64.encode(ed.public_key().as_ref());
    *idp.jwks.lock().expect("jwks") = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "ed-1", "x": x}]});
    let mut oidc = OidcConfig::new(idp.issuer.clone(), "sealgate-api");
    oidc.jwks_uri = Some(format!("{}/jwks", idp.issuer));
    oidc.algs = vec![JwtAlg::EdDsa];
    let env = start(&url, AuthConfig { local: None, oidc: Some(oidc.clone()) }).await;
    let claims = json!({"iss": idp.issuer, "aud": "sealgate-api", "sub": "ed-user", "exp": now() + 60});
    let input = format!("{}.{}", B64.encode(r#"{"alg":"EdDSA","kid":"ed-1"}"#), B64.encode(claims.to_string()));
    let token = format!("{input}.{}", B64.encode(ed.sign(input.as_bytes()).as_ref()));
    let r = env.call("GET", "/v1/me", &Who::Bearer(token), None).await;
    assert_eq!((r.status, r.body["oidc_subject"].as_str()), (200, Some("ed-user")), "{}", r.text);
    // Without local login: no cookie sessions, no login links.
    assert_eq!(env.call("GET", "/login?token=x", &Who::Anon, None).await.status, 404);
    assert!(env.auth.issue_login_token("alice").await.is_err());
    let r = env.call("GET", "/v1/me", &Who::Session { cookie: "x".into(), csrf: "y".into() }, None).await;
    assert_eq!(r.status, 401);

    // Settings that would fetch keys over plain HTTP from a non-loopback host, or accept nothing.
    let store = Store::connect(&url).await.expect("connect");
    let mut bad = oidc.clone();
    bad.jwks_uri = Some("http://idp.example/jwks".into());
    assert!(Auth::new(store.clone(), AuthConfig { local: None, oidc: Some(bad) }).is_err());
    let mut bad = OidcConfig::new("http://idp.example", "sealgate-api");
    bad.jwks_uri = None;
    assert!(Auth::new(store.clone(), AuthConfig { local: None, oidc: Some(bad) }).is_err());
    let mut bad = oidc;
    bad.algs.clear();
    assert!(Auth::new(store, AuthConfig { local: None, oidc: Some(bad) }).is_err());
}

/// A failed import shows its reason to its owner (the job list and the portfolio) and can
/// be retried by them only: from where it got to, with a fresh attempt budget.
#[tokio::test(flavor = "multi_thread")]
async fn failed_imports_say_why_and_their_owner_retries_them() {
    on_both("import_retry", |url| async move {
        let env = start(&url, local()).await;
        let (alice, bob) = (env.login("alice").await, env.login("bob").await);
        assert_eq!(env.create(&alice, "alice", "imp1").await.status, 201);
        let list = env.call("GET", "/v1/imports", &alice, None).await;
        assert_eq!(list.status, 200, "{}", list.text);
        let job = &list.body["jobs"][0];
        let id = job["id"].as_i64().expect("job id");
        assert_eq!((job["state"].as_str(), job["credential_id"].as_str()), (Some("queued"), Some("imp1")));
        assert_eq!(env.call("GET", "/v1/imports", &bob, None).await.body["jobs"], json!([]));

        // A worker runs it, checkpoints, and gives up with the reason an operator fixes.
        let claimed = env.store.claim("w-test", std::time::Duration::from_secs(60)).await.expect("claim").expect("job");
        env.store.checkpoint(&claimed, Some("page-2"), std::time::Duration::from_secs(60)).await.expect("checkpoint");
        let r = env.call("POST", &format!("/v1/imports/{id}/retry"), &alice, None).await;
        assert_eq!(r.status, 409, "running: {}", r.text);
        let why = "the importer's service key is not trusted by the signer";
        env.store.give_up(&claimed, why).await.expect("give up");
        let list = env.call("GET", "/v1/imports", &alice, None).await;
        assert_eq!(
            (
                list.body["jobs"][0]["state"].as_str(),
                list.body["jobs"][0]["reason"].as_str(),
                list.body["jobs"][0]["retryable"].as_bool()
            ),
            (Some("failed"), Some(why), Some(true))
        );
        let p = env.call("GET", "/v1/portfolio", &alice, None).await;
        assert_eq!(
            (
                p.body["imports"][0]["state"].as_str(),
                p.body["imports"][0]["reason"].as_str(),
                p.body["imports"][0]["job_id"].as_i64()
            ),
            (Some("failed"), Some(why), Some(id))
        );

        // Someone else's job is not found; nonsense is a 400; nothing changed.
        assert_eq!(env.call("POST", &format!("/v1/imports/{id}/retry"), &bob, None).await.status, 404);
        assert_eq!(env.call("POST", "/v1/imports/999999/retry", &alice, None).await.status, 404);
        assert_eq!(env.call("POST", "/v1/imports/x1/retry", &alice, None).await.status, 400);
        assert_eq!(env.store.job(id).await.expect("job").map(|j| j.state), Some(sealgate_store::JobState::Failed));

        let r = env.call("POST", &format!("/v1/imports/{id}/retry"), &alice, None).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!((r.body["state"].as_str(), r.body["reason"].clone()), (Some("queued"), Value::Null));
        assert_eq!(r.body["attempts_left"].as_i64(), Some(i64::from(sealgate_server::importer::DEFAULT_MAX_ATTEMPTS)));
        let again =
            env.store.claim("w-test", std::time::Duration::from_secs(60)).await.expect("claim").expect("runnable now");
        assert_eq!((again.id, again.cursor.as_deref()), (id, Some("page-2")), "resumes at its checkpoint");
    })
    .await;
}

// --- passkeys --------------------------------------------------------------------------------

use sealgate_testkit::webauthn::{SoftPasskey, UP, UV};

/// The RFC 7638 thumbprint of a P-256 key, computed here from its coordinates (not by the
/// server's code path).
fn p256_thumbprint(pk: &SoftPasskey) -> String {
    let (x, y) = pk.jwk_xy();
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    B64.encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes()))
}

impl Env {
    /// The browser's origin for this server (WebAuthn's relying party is `localhost`).
    fn origin(&self) -> String {
        self.base.replace("127.0.0.1", "localhost")
    }

    /// Registers `pk` as `who`'s passkey `name`, with a step-up by `approver` when asked.
    async fn register_passkey(&self, who: &Who, pk: &SoftPasskey, name: &str, approver: Option<&SoftPasskey>) -> Reply {
        let start = self.call("POST", "/v1/passkeys/register/start", who, Some(json!({"name": name}))).await;
        assert_eq!(start.status, 200, "{}", start.text);
        let mut body = json!({"ceremony": start.body["ceremony"], "credential": pk.register(&start.body["creation"], &self.origin())});
        if let Some(a) = approver {
            body["step_up"] = a.assert(&start.body["step_up"], &self.origin());
        }
        self.call("POST", "/v1/passkeys/register/finish", who, Some(body)).await
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn passkeys_first_on_session_later_ones_need_a_step_up() {
    on_both("passkeys_first_on_session_later_ones_need_a_step_up", |url| async move {
        let env = start(&url, local()).await;
        let (alice, bob) = (env.login("alice").await, env.login("bob").await);
        env.store.set_contact_email("alice", "alice@example.com", "confirmed").await.expect("contact");
        let list = env.call("GET", "/v1/passkeys", &alice, None).await;
        assert_eq!((list.status, list.body["passkeys"].clone(), list.body["rp_id"].clone()), (200, json!([]), json!("localhost")));

        // The first passkey: the session alone (trust on first use), and no step-up asked.
        let (pk1, pk2, pk_bob) = (SoftPasskey::new(), SoftPasskey::new(), SoftPasskey::new());
        let start1 = env.call("POST", "/v1/passkeys/register/start", &alice, Some(json!({"name": "laptop"}))).await;
        assert_eq!((start1.status, start1.body["step_up"].clone()), (200, Value::Null), "{}", start1.text);
        assert_eq!(start1.body["creation"]["publicKey"]["rp"]["id"], json!("localhost"));
        let cred1 = pk1.register(&start1.body["creation"], &env.origin());
        let body = json!({"ceremony": start1.body["ceremony"], "credential": cred1});
        let r = env.call("POST", "/v1/passkeys/register/finish", &alice, Some(body.clone())).await;
        assert_eq!(r.status, 201, "{}", r.text);
        // The thumbprint is the key's RFC 7638 one (what `own` carries), with its JWK.
        assert_eq!(r.body["thumbprint"], json!(p256_thumbprint(&pk1)));
        assert_eq!(r.body["jwk"]["x"], json!(pk1.jwk_xy().0));
        assert!(r.body["jwk"].get("d").is_none());
        let id1 = r.body["id"].as_str().expect("id").to_owned();
        // A finished ceremony is gone: the same request again is refused and adds nothing.
        let again = env.call("POST", "/v1/passkeys/register/finish", &alice, Some(body)).await;
        assert_eq!(again.status, 400, "{}", again.text);
        assert!(again.text.contains("ceremony"), "{}", again.text);
        assert_eq!(env.store.passkeys("alice").await.expect("passkeys").len(), 1);
        // Bob's first passkey (his own session is enough for him).
        assert_eq!(env.register_passkey(&bob, &pk_bob, "bob's", None).await.status, 201);

        // A second passkey without a step-up: refused (a stolen session adds none).
        let r = env.register_passkey(&alice, &pk2, "phone", None).await;
        assert_eq!(r.status, 403, "{}", r.text);
        // With a step-up by another user's passkey: refused.
        let r = env.register_passkey(&alice, &pk2, "phone", Some(&pk_bob)).await;
        assert_eq!(r.status, 403, "{}", r.text);
        // A replayed step-up: pk1's assertion for one ceremony, sent in another's place.
        let s_a = env.call("POST", "/v1/passkeys/register/start", &alice, Some(json!({"name": "phone"}))).await;
        let s_b = env.call("POST", "/v1/passkeys/register/start", &alice, Some(json!({"name": "phone"}))).await;
        let for_a = pk1.assert(&s_a.body["step_up"], &env.origin());
        let body_b = json!({"ceremony": s_b.body["ceremony"], "credential": pk2.register(&s_b.body["creation"], &env.origin()), "step_up": for_a});
        let r = env.call("POST", "/v1/passkeys/register/finish", &alice, Some(body_b)).await;
        assert_eq!(r.status, 403, "{}", r.text);
        // The ceremony of another user, or of another session of the same user: unknown to them.
        let s_c = env.call("POST", "/v1/passkeys/register/start", &alice, Some(json!({"name": "phone"}))).await;
        let body_c = json!({"ceremony": s_c.body["ceremony"], "credential": pk2.register(&s_c.body["creation"], &env.origin()),
            "step_up": pk1.assert(&s_c.body["step_up"], &env.origin())});
        let r = env.call("POST", "/v1/passkeys/register/finish", &bob, Some(body_c.clone())).await;
        assert_eq!(r.status, 400, "{}", r.text);
        let alice_elsewhere = env.login("alice").await;
        let r = env.call("POST", "/v1/passkeys/register/finish", &alice_elsewhere, Some(body_c.clone())).await;
        assert_eq!(r.status, 400, "{}", r.text);
        assert_eq!(env.store.passkeys("alice").await.expect("passkeys").len(), 1);
        // A step-up assertion without user verification: refused.
        let s_d = env.call("POST", "/v1/passkeys/register/start", &alice, Some(json!({"name": "phone"}))).await;
        pk1.set_assertion_flags(UP);
        let unverified = pk1.assert(&s_d.body["step_up"], &env.origin());
        let body_d = json!({"ceremony": s_d.body["ceremony"], "credential": pk2.register(&s_d.body["creation"], &env.origin()),
            "step_up": unverified});
        pk1.set_assertion_flags(UP | UV);
        let r = env.call("POST", "/v1/passkeys/register/finish", &alice, Some(body_d)).await;
        assert_eq!(r.status, 403, "{}", r.text);
        // The owner of the session that started it, with pk1's fresh assertion: registered.
        let r = env.call("POST", "/v1/passkeys/register/finish", &alice, Some(body_c)).await;
        assert_eq!(r.status, 201, "{}", r.text);
        let id2 = r.body["id"].as_str().expect("id").to_owned();
        // A credential registered already (to anyone) is refused.
        let r = env.register_passkey(&alice, &pk_bob, "stolen", Some(&pk1)).await;
        assert_eq!(r.status, 409, "{}", r.text);
        let list = env.call("GET", "/v1/passkeys", &alice, None).await;
        let names: Vec<&str> = list.body["passkeys"].as_array().expect("list").iter().filter_map(|p| p["name"].as_str()).collect();
        assert_eq!(names, ["laptop", "phone"]);
        // The step-ups used pk1: its last use and counter are recorded.
        assert!(list.body["passkeys"][0]["last_used_ms"].as_i64().is_some(), "{}", list.text);

        // Removal needs ANOTHER passkey: pk2 cannot approve its own removal.
        let path2 = format!("/v1/passkeys/{id2}/remove");
        let rs = env.call("POST", &format!("{path2}/start"), &alice, None).await;
        assert_eq!(rs.status, 200, "{}", rs.text);
        let allowed = rs.body["step_up"]["publicKey"]["allowCredentials"].as_array().expect("allowed").len();
        assert_eq!(allowed, 1);
        let own = json!({"ceremony": rs.body["ceremony"], "step_up": pk2.assert(&rs.body["step_up"], &env.origin())});
        let r = env.call("POST", &path2, &alice, Some(own)).await;
        assert_eq!(r.status, 403, "{}", r.text);
        // Bob cannot start a removal of alice's passkey.
        assert_eq!(env.call("POST", &format!("{path2}/start"), &bob, None).await.status, 404);
        let rs = env.call("POST", &format!("{path2}/start"), &alice, None).await;
        let ok = json!({"ceremony": rs.body["ceremony"], "step_up": pk1.assert(&rs.body["step_up"], &env.origin())});
        // A ceremony for pk2 does not remove pk1.
        let r = env.call("POST", &format!("/v1/passkeys/{id1}/remove"), &alice, Some(ok.clone())).await;
        assert_eq!(r.status, 400, "{}", r.text);
        let rs = env.call("POST", &format!("{path2}/start"), &alice, None).await;
        let ok = json!({"ceremony": rs.body["ceremony"], "step_up": pk1.assert(&rs.body["step_up"], &env.origin())});
        let r = env.call("POST", &path2, &alice, Some(ok)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        // The last passkey cannot be removed through the api.
        let r = env.call("POST", &format!("/v1/passkeys/{id1}/remove/start"), &alice, None).await;
        assert_eq!(r.status, 409, "{}", r.text);
        assert_eq!(env.store.passkeys("alice").await.expect("passkeys").len(), 1);

        // Audited and told.
        let actions = env.trail_actions(&alice).await;
        let count = |a: &str| actions.iter().filter(|x| *x == a).count();
        assert_eq!((count("passkey_added"), count("passkey_removed")), (2, 1), "{actions:?}");
        let kinds: Vec<String> = env.store.list_notifications(None, 100).await.expect("outbox").into_iter()
            .filter(|n| n.user_id.as_deref() == Some("alice")).map(|n| n.kind).collect();
        assert_eq!(kinds.iter().filter(|k| *k == "passkey_added").count(), 2, "{kinds:?}");
        assert_eq!(kinds.iter().filter(|k| *k == "passkey_removed").count(), 1, "{kinds:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn passkey_requests_are_refused_precisely() {
    let dir = tempfile::tempdir().expect("dir");
    let env = start(&format!("sqlite://{}?mode=rwc", dir.path().join("p.db").display()), local()).await;
    let alice = env.login("alice").await;
    let start_path = "/v1/passkeys/register/start";
    for (body, status) in [
        (json!({"name": ""}), 400),
        (json!({"name": "x".repeat(65)}), 400),
        (json!({"name": "a\nb"}), 400),
        (json!({"name": " padded"}), 400),
        (json!({"name": "ok", "extra": 1}), 400),
        (json!({"name": 5}), 400),
        (json!({}), 400),
    ] {
        let r = env.call("POST", start_path, &alice, Some(body.clone())).await;
        assert_eq!(r.status, status, "{body}: {}", r.text);
    }
    let s = env.call("POST", start_path, &alice, Some(json!({"name": "laptop"}))).await;
    let finish = "/v1/passkeys/register/finish";
    let ceremony = s.body["ceremony"].clone();
    for (credential, status) in [
        (json!("not an object"), 400),
        (json!({"id": "x"}), 400),
        (
            json!({"id": "x", "rawId": "!!", "type": "public-key", "response": {"attestationObject": "AAAA", "clientDataJSON": "AAAA"}}),
            400,
        ),
        (json!({"pad": "A".repeat(20_000)}), 413),
    ] {
        // Each refusal uses up the ceremony: start a new one each time.
        let s = env.call("POST", start_path, &alice, Some(json!({"name": "laptop"}))).await;
        let r = env
            .call("POST", finish, &alice, Some(json!({"ceremony": s.body["ceremony"], "credential": credential})))
            .await;
        assert_eq!(r.status, status, "{}", r.text);
    }
    // The first start's ceremony is dropped once alice has 4 newer ones in progress.
    for _ in 0..sealgate_server::passkey_api::MAX_PENDING_PER_USER {
        assert_eq!(env.call("POST", start_path, &alice, Some(json!({"name": "laptop"}))).await.status, 200);
    }
    let pk = SoftPasskey::new();
    let r = env
        .call(
            "POST",
            finish,
            &alice,
            Some(json!({"ceremony": ceremony, "credential": pk.register(&s.body["creation"], &env.origin())})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    // A credential from another origin, or for another rp id: refused.
    let s = env.call("POST", start_path, &alice, Some(json!({"name": "laptop"}))).await;
    let r = env.call("POST", finish, &alice, Some(json!({"ceremony": s.body["ceremony"], "credential": pk.register(&s.body["creation"], "http://evil.example")}))).await;
    assert_eq!(r.status, 400, "{}", r.text);
    let s = env.call("POST", start_path, &alice, Some(json!({"name": "laptop"}))).await;
    let mut creation = s.body["creation"].clone();
    creation["publicKey"]["rp"]["id"] = json!("evil.example");
    let r = env
        .call(
            "POST",
            finish,
            &alice,
            Some(json!({"ceremony": s.body["ceremony"], "credential": pk.register(&creation, &env.origin())})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    // Unknown ceremony, malformed ids.
    let r = env.call("POST", finish, &alice, Some(json!({"ceremony": "nope", "credential": {}}))).await;
    assert_eq!(r.status, 400, "{}", r.text);
    for id in ["x", "../../etc", &"A".repeat(23)] {
        let r = env.call("POST", &format!("/v1/passkeys/{id}/remove/start"), &alice, None).await;
        assert_eq!(r.status, 404, "{id}: {}", r.text);
    }
    assert!(env.store.passkeys("alice").await.expect("passkeys").is_empty());
}
