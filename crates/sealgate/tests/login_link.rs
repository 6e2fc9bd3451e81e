//! Sign-in without restarts (issue 15 item 7), against real `sealgate serve` processes:
//! `sealgate login-link` mints a link the running server accepts once; a session survives a
//! restart of serve on the same data directory (CSRF token included) and logout ends it for
//! good; the database holds only SHA-256 hashes of link tokens, session ids and CSRF tokens.

use std::process::Command;
use std::time::Duration;

use base64::Engine as _;
use sealgate_testkit::process::{ServeListening, Spawned};

const BIN: &str = env!("CARGO_BIN_EXE_sealgate");

async fn serve(data: &std::path::Path) -> (Spawned, ServeListening) {
    let mut p = Spawned::spawn(
        Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--service-listen", "127.0.0.1:0", "--data-dir"])
            .arg(data),
    );
    let up = p
        .wait_for("serve listening", Duration::from_secs(60), |t| {
            ServeListening::from_logs(t).filter(|u| u.login.is_some())
        })
        .await;
    (p, up)
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

/// Follows a sign-in link: `(status, session cookie value, csrf token)`.
async fn sign_in(link: &str) -> (u16, Option<String>, Option<String>) {
    let r = http().get(link).send().await.expect("login");
    let status = r.status().as_u16();
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next()?.strip_prefix("sealgate_session=").map(str::to_owned))
        .next();
    let body: serde_json::Value = r.json().await.unwrap_or_default();
    (status, cookie, body["csrf_token"].as_str().map(str::to_owned))
}

async fn me(base: &str, cookie: &str) -> u16 {
    let r = http().get(format!("{base}/v1/me")).header("cookie", format!("sealgate_session={cookie}"));
    r.send().await.expect("me").status().as_u16()
}

fn login_link(data: &std::path::Path, base: &str) -> String {
    let out = Command::new(BIN)
        .args(["login-link", "--public-url", base, "--data-dir"])
        .arg(data)
        .output()
        .expect("login-link");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let link = text.trim().strip_prefix("sign in (one-time link, 15 minutes): ").expect("the link line").to_owned();
    assert!(link.starts_with(&format!("{base}/login?token=")), "{link}");
    link
}

/// Every byte of the SQLite database (the file and its write-ahead log).
fn db_bytes(data: &std::path::Path) -> Vec<u8> {
    let mut all = Vec::new();
    for name in ["sealgate.db", "sealgate.db-wal"] {
        if let Ok(b) = std::fs::read(data.join(name)) {
            all.extend(b);
        }
    }
    all
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn sha256(text: &str) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes()).as_ref().to_vec()
}

#[tokio::test]
async fn a_minted_link_works_once_and_a_session_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let (first, up) = serve(&data).await;

    // A link minted by another process while serve runs: works once.
    let link = login_link(&data, &up.base);
    let (status, cookie, csrf) = sign_in(&link).await;
    assert_eq!(status, 303, "the minted link signs in");
    let (cookie, csrf) = (cookie.expect("session cookie"), csrf.expect("csrf token"));
    assert_eq!(me(&up.base, &cookie).await, 200);
    let again = http().get(&link).send().await.expect("login again");
    assert_eq!(again.status().as_u16(), 401, "a used link is refused");
    let why = again.text().await.expect("body");
    assert!(why.contains("already used") && why.contains("sealgate login-link"), "says how to get another: {why}");
    // The link serve printed at start is another, still unused, link.
    let printed = up.login.clone().expect("printed link");
    assert_ne!(printed, link);

    // Only hashes in the database: not the link token, the session id or the CSRF token.
    let token = link.rsplit_once("token=").expect("token").1.to_owned();
    let printed_token = printed.rsplit_once("token=").expect("token").1.to_owned();
    let bytes = db_bytes(&data);
    for (what, raw) in
        [("link token", &token), ("printed token", &printed_token), ("session id", &cookie), ("csrf", &csrf)]
    {
        assert!(!contains(&bytes, raw.as_bytes()), "the {what} is in the database");
        let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(raw).expect("base64url");
        assert!(!contains(&bytes, &decoded), "the {what}'s bytes are in the database");
    }
    // The positive control: the search does see the stored hashes.
    assert!(contains(&bytes, &sha256(&cookie)), "the session id's hash is stored");
    assert!(contains(&bytes, &sha256(&printed_token)), "the unused link's hash is stored");

    // A restart on the same data directory keeps the browser signed in, CSRF token too.
    drop(first);
    let (_second, up2) = serve(&data).await;
    assert_ne!(up2.base, up.base, "a new port: nothing carried over in the old process");
    assert_eq!(me(&up2.base, &cookie).await, 200, "the session survives the restart");
    assert_eq!(me(&up2.base, "forged").await, 401);
    let logout = |csrf: String| {
        http()
            .post(format!("{}/v1/logout", up2.base))
            .header("cookie", format!("sealgate_session={cookie}"))
            .header("x-csrf-token", csrf)
            .send()
    };
    assert_eq!(logout("wrong".into()).await.expect("logout").status().as_u16(), 403, "a wrong CSRF token");
    assert_eq!(logout(csrf.clone()).await.expect("logout").status().as_u16(), 204);
    assert_eq!(me(&up2.base, &cookie).await, 401, "logout ended the session");
    // The link serve printed before the restart still works (it was stored, not held in memory).
    assert_eq!(sign_in(&printed.replace(&up.base, &up2.base)).await.0, 303);
}

#[test]
fn login_link_refuses_a_data_directory_without_a_database_and_creates_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("typo");
    let out = Command::new(BIN).args(["login-link", "--data-dir"]).arg(&data).output().expect("login-link");
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no database at") && err.contains("sealgate serve --data-dir"), "{err}");
    assert!(!data.exists(), "nothing created");
}
