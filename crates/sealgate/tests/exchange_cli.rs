//! `sealgate exchange sign|classify|list`: the contract other tools rely
//! on, bad input refused with exit 2, and no secret in any output but the
//! signed request itself.

mod common;

use std::process::Output;

use common::run;
const CANARY: &str = "CANARYsecret0123456789abcdefCANARY";

fn refused(out: &Output, want: &str) {
    common::refused(out, want, &[CANARY]);
}

#[test]
fn sign_reproduces_the_binance_documented_example() {
    let input = r#"{"exchange":"binance",
        "credential":{"api_key":"vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A",
                      "api_secret":"NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"},
        "request":{"method":"POST","path":"/api/v3/order",
                   "query":"symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"},
        "clock_ms":1499827319559,"nonce":"1616492376594"}"#;
    let out = run(&["exchange", "sign"], input.as_bytes());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["method"], "POST");
    assert_eq!(v["path"], "/api/v3/order");
    assert_eq!(v["body"], "");
    assert!(
        v["query"]
            .as_str()
            .expect("query")
            .ends_with("&signature=c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71")
    );
    assert_eq!(v["headers"]["X-MBX-APIKEY"], "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A");
    // The raw primitive signs, and says on stderr what the signature leaves open.
    let warning = String::from_utf8_lossy(&out.stderr);
    assert!(
        warning.contains("warning") && warning.contains("method, path") && warning.contains("`forward`"),
        "{warning}"
    );
}

/// Where the signature binds the whole request, no warning.
#[test]
fn sign_warns_only_where_the_signature_leaves_parts_open() {
    let input = |exchange: &str| {
        format!(
            r#"{{"exchange":"{exchange}","credential":{{"api_key":"k","api_secret":"{CANARY}","passphrase":"{CANARY}"}},
            "request":{{"method":"GET","path":"/api/v4/spot/accounts"}},"clock_ms":1700000000000}}"#
        )
    };
    let out = run(&["exchange", "sign"], input("gate").as_bytes());
    assert!(out.status.success() && out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(&["exchange", "sign"], input("okx").as_bytes());
    let warning = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && warning.contains("OK-ACCESS-PASSPHRASE"), "{warning}");
    assert!(!warning.contains(CANARY), "{warning}");
}

#[test]
fn bad_input_exits_2_without_echoing_secrets() {
    let sign = |s: &str| run(&["exchange", "sign"], s.as_bytes());
    let req = r#""request":{"method":"GET","path":"/api/v3/account"}"#;
    refused(
        &sign(&format!(r#"{{"exchange":"nope","credential":{{"api_key":"k","api_secret":"{CANARY}"}},{req}}}"#)),
        "unknown exchange",
    );
    refused(&sign(&format!(r#"{{"exchange":"binance","credential":{{"api_secret":"{CANARY}"}},{req}}}"#)), "api_key");
    refused(&sign(&format!(r#"{{"exchange":"binance","credential":{{"api_key":"k"}},{req}}}"#)), "api_secret");
    refused(
        &sign(&format!(
            r#"{{"exchange":"binance","credential":{{"api_key":"k","private_key":"-----BEGIN PRIVATE KEY-----\n{CANARY}\n-----END PRIVATE KEY-----"}},{req}}}"#
        )),
        "PEM",
    );
    refused(
        &sign(&format!(r#"{{"exchange":"binance","credential":{{"api_key":"k","api_secret":{CANARY}}},{req}}}"#)),
        "line 1",
    );
    refused(
        &sign(&format!(
            r#"{{"exchange":"binance","credential":{{"api_key":"k","api_secret":"{CANARY}","extra":"x"}},{req}}}"#
        )),
        "unknown field",
    );
    refused(&run(&["exchange", "sign"], &[b'{', 0xff, 0xfe, b'}']), "UTF-8");
    refused(
        &sign(&format!(
            r#"{{"exchange":"binance","credential":{{"api_key":"k","api_secret":"{CANARY}"}},"request":{{"method":"GET","path":"api/v3/account"}}}}"#
        )),
        "path",
    );
}

#[test]
fn classify_and_list() {
    let classify = |path: &str| {
        let out = run(&["exchange", "classify", "--exchange", "binance", "--method", "GET", "--path", path], b"");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("utf8").trim().to_owned()
    };
    assert_eq!(classify("/api/v3/account"), "read");
    assert_eq!(classify("/api/v3/order"), "trade");
    assert_eq!(classify("/sapi/v1/capital/withdraw/apply"), "withdraw");
    assert_eq!(classify("/sapi/v1/sub-account/virtualSubAccount"), "account");
    assert_eq!(classify("/api/v3/somethingNew"), "unknown");
    refused(
        &run(&["exchange", "classify", "--exchange", "nope", "--method", "GET", "--path", "/x"], b""),
        "unknown exchange",
    );
    let out = run(&["exchange", "list"], b"");
    assert!(out.status.success());
    let list = String::from_utf8(out.stdout).expect("utf8");
    assert!(list.lines().any(|l| l.starts_with("binance") && l.contains("hmac,ed25519,rsa")), "{list}");
}
