//! Signing in to an api under test: a one-time login token redeemed at `/login`, as the
//! emailed link does. Shared by the tests that drive the api over HTTP.

#![allow(dead_code)]

use sealgate_envelope::secrecy::ExposeSecret as _;
use sealgate_server::auth::Auth;
use serde_json::Value;

/// A signed-in session: its cookie value and its CSRF token.
#[derive(Clone)]
pub struct Session {
    pub cookie: String,
    pub csrf: String,
}

impl Session {
    /// The `cookie` header value of this session (with its CSRF cookie).
    pub fn cookies(&self) -> String {
        format!("sealgate_session={}; sealgate_csrf={}", self.cookie, self.csrf)
    }
}

/// Signs `user` in at the api at `base` (redirects off: the login answers 303).
pub async fn login(http: &reqwest::Client, base: &str, auth: &Auth, user: &str) -> Session {
    let token = auth.issue_login_token(user).await.expect("token");
    let r = http.get(format!("{base}/login?token={}", token.expose_secret())).send().await.expect("login");
    assert_eq!(r.status().as_u16(), 303);
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix("sealgate_session="))
        .and_then(|c| c.split(';').next())
        .expect("session cookie")
        .to_owned();
    let body: Value = r.json().await.expect("json");
    Session { cookie, csrf: body["csrf_token"].as_str().expect("csrf").to_owned() }
}
