//! The `sealgate` CLI contract: flags, exit codes, stdout/stderr discipline,
//! key-file modes, and that no secret reaches any output.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Output;

use common::{TempDir, p, run};
const CANARY: &str = "CANARY-cli-secret-77aa55";

fn keygen(dir: &TempDir, name: &str, extra: &[&str]) -> (PathBuf, PathBuf) {
    let (private, public) = (dir.path(&format!("{name}.priv.jwk")), dir.path(&format!("{name}.pub.jwk")));
    let mut args = vec!["keygen", "--kid", name, "--out-private", p(&private), "--out-public", p(&public)];
    args.extend_from_slice(extra);
    let out = run(&args, b"");
    assert!(out.status.success(), "keygen {extra:?}: {}", String::from_utf8_lossy(&out.stderr));
    (private, public)
}

fn assert_refused(out: &Output, want_in_error: &str) {
    common::refused(out, want_in_error, &[CANARY]);
}

#[test]
fn keygen_writes_jwks_private_0600_and_never_overwrites() {
    let dir = TempDir::new("keygen");
    for (name, extra) in [
        ("p256", &["--alg", "ECDH-ES+A256KW", "--crv", "P-256"][..]),
        ("p384", &["--alg", "ECDH-ES+A256KW", "--crv", "P-384"][..]),
        ("x25519", &["--alg", "ECDH-ES+A256KW", "--crv", "X25519"][..]),
        ("rsa", &["--alg", "RSA-OAEP-256", "--bits", "2048"][..]),
    ] {
        let (private, public) = keygen(&dir, name, extra);
        let mode = std::fs::metadata(&private).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{name}");
        let pubj: serde_json::Value = serde_json::from_slice(&std::fs::read(&public).expect("read")).expect("json");
        let privj: serde_json::Value = serde_json::from_slice(&std::fs::read(&private).expect("read")).expect("json");
        assert_eq!(pubj["kid"], name);
        assert_eq!(pubj["use"], "enc");
        assert!(pubj.get("d").is_none(), "{name}: public JWK has d");
        assert!(privj.get("d").is_some(), "{name}: private JWK lacks d");
        // Running it again must not overwrite either file.
        let before = std::fs::read(&private).expect("read");
        let out =
            run(&["keygen", "--kid", name, "--out-private", p(&private), "--out-public", p(&dir.path("new.jwk"))], b"");
        assert_eq!(out.status.code(), Some(2));
        let out = run(
            &[&["keygen", "--kid", name, "--out-private", p(&private), "--out-public", p(&dir.path("new.jwk"))], extra]
                .concat(),
            b"",
        );
        assert_refused(&out, "must not exist");
        assert_eq!(std::fs::read(&private).expect("read"), before);
        assert!(!dir.path("new.jwk").exists());
    }
    let out = run(&["keygen", "--alg", "ECDH-ES+A256KW", "--kid", "k", "--out-private", "a", "--out-public", "b"], b"");
    assert_refused(&out, "--crv");
    let out = run(
        &[
            "keygen",
            "--alg",
            "RSA-OAEP-256",
            "--bits",
            "1024",
            "--kid",
            "k",
            "--out-private",
            p(&dir.path("a")),
            "--out-public",
            p(&dir.path("b")),
        ],
        b"",
    );
    assert_refused(&out, "2048, 3072 or 4096");
}

#[test]
fn jwe_encrypt_decrypt_every_key_type() {
    let dir = TempDir::new("jwe");
    let plaintext = "grüße — ∑ plaintext\n".as_bytes();
    for (name, extra) in [
        ("p256", &["--alg", "ECDH-ES+A256KW", "--crv", "P-256"][..]),
        ("x25519", &["--alg", "ECDH-ES+A256KW", "--crv", "X25519"][..]),
        ("rsa", &["--alg", "RSA-OAEP-256"][..]),
    ] {
        let (private, public) = keygen(&dir, name, extra);
        let enc =
            run(&["jwe", "encrypt", "--to", p(&public), "--protected-header", r#"{"cty":"text/plain"}"#], plaintext);
        assert!(enc.status.success(), "{}", String::from_utf8_lossy(&enc.stderr));
        let compact = String::from_utf8(enc.stdout).expect("utf8");
        assert_eq!(compact.trim_end().split('.').count(), 5);
        let dec = run(&["jwe", "decrypt", "--key", p(&private)], compact.as_bytes());
        assert!(dec.status.success(), "{}", String::from_utf8_lossy(&dec.stderr));
        assert_eq!(dec.stdout, plaintext);
        // Tampered: exit 2, nothing on stdout.
        let mut bad = compact.clone().into_bytes();
        let i = bad.len() - 10;
        bad[i] = if bad[i] == b'A' { b'B' } else { b'A' };
        assert_refused(&run(&["jwe", "decrypt", "--key", p(&private)], &bad), "decryption failed");
        // A private key file where a public one is expected.
        assert_refused(&run(&["jwe", "encrypt", "--to", p(&private)], b"x"), "private members");
    }
    let (private, public) = keygen(&dir, "p384", &["--alg", "ECDH-ES+A256KW", "--crv", "P-384"]);
    assert_refused(
        &run(&["jwe", "encrypt", "--to", p(&public), "--protected-header", r#"{"alg":"none"}"#], b"x"),
        "alg",
    );
    assert_refused(
        &run(&["jwe", "encrypt", "--to", p(&public), "--protected-header", r#"{"a":1,"a":2}"#], b"x"),
        "duplicate",
    );
    assert_refused(&run(&["jwe", "decrypt", "--key", p(&private)], b"not a jwe"), "five parts");
    assert_refused(&run(&["jwe", "decrypt", "--key", p(&private)], &[0xff, 0xfe]), "malformed");
    assert_refused(&run(&["jwe", "decrypt", "--key", p(&private)], &vec![b'a'; 70_000]), "larger than");
    assert_refused(&run(&["jwe", "decrypt", "--key", p(&dir.path("missing"))], b"a.b.c.d.e"), "");
    // A refused algorithm is named even before the key is read.
    let none = "eyJhbGciOiJub25lIiwiZW5jIjoiQTI1NkdDTSJ9....";
    assert_refused(&run(&["jwe", "decrypt", "--key", p(&dir.path("missing"))], none.as_bytes()), "\"none\"");
}

#[test]
fn seal_and_open_credential_binding_without_printing_secrets() {
    let dir = TempDir::new("seal");
    let (private, public) = keygen(&dir, "trader-v1", &["--alg", "ECDH-ES+A256KW", "--crv", "P-256"]);
    let cred = format!(r#"{{"api_key":"KEY-0123456789-HINT","api_secret":"{CANARY}"}}"#);
    let seal = |extra: &[&str]| {
        let mut args = vec![
            "seal",
            "--to",
            p(&public),
            "--role",
            "trader",
            "--user",
            "u-42",
            "--exchange",
            "binance",
            "--scope",
            "read,trade",
        ];
        args.extend_from_slice(extra);
        run(&args, cred.as_bytes())
    };
    // The one id rule, the api's and the signer's: a 65-character id is refused, in its words.
    let out = seal(&["--credential-id", &"x".repeat(65)]);
    assert!(!out.status.success() && out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(sealgate_envelope::CREDENTIAL_ID_RULE), "{err}");
    assert!(!err.contains(CANARY), "{err}");
    let out = seal(&["--credential-id", "cred-9"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let env = out.stdout;
    assert!(!String::from_utf8_lossy(&env).contains(CANARY));
    let open = |args: &[&str]| {
        let mut all = vec!["open", "--key", p(&private)];
        all.extend_from_slice(args);
        run(&all, &env)
    };
    let ok = open(&["--role", "trader", "--user", "u-42", "--exchange", "binance", "--credential-id", "cred-9"]);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let stdout = String::from_utf8(ok.stdout).expect("utf8");
    assert!(!stdout.contains(CANARY) && !ok.stderr.windows(CANARY.len()).any(|w| w == CANARY.as_bytes()));
    let facts: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(facts["exchange"], "binance");
    assert_eq!(facts["hint"], "HINT");
    assert_eq!(facts["scope"], serde_json::json!(["read", "trade"]));
    assert_eq!(facts["fields"], serde_json::json!(["api_key", "api_secret"]));
    for (args, why) in [
        (["--role", "importer", "--user", "u-42", "--exchange", "binance", "--credential-id", "cred-9"], "aud"),
        (["--role", "trader", "--user", "u-43", "--exchange", "binance", "--credential-id", "cred-9"], "sub"),
        (["--role", "trader", "--user", "u-42", "--exchange", "kraken", "--credential-id", "cred-9"], "exch"),
        (["--role", "trader", "--user", "u-42", "--exchange", "binance", "--credential-id", "cred-8"], "cid"),
    ] {
        assert_refused(&open(&args), why);
    }
    // Without --credential-id a random UUID is bound.
    let out = seal(&[]);
    assert!(out.status.success());
    // Bad scope and bad credential JSON are refused without echoing input.
    let out = run(
        &[
            "seal",
            "--to",
            p(&public),
            "--role",
            "trader",
            "--user",
            "u",
            "--exchange",
            "binance",
            "--scope",
            "read,admin",
        ],
        cred.as_bytes(),
    );
    assert_refused(&out, "scope");
    let bad = format!(r#"{{"api_key":"KEY-0123456789-HINT","api_secret":{CANARY}}}"#);
    let out = run(
        &["seal", "--to", p(&public), "--role", "trader", "--user", "u", "--exchange", "binance", "--scope", "read"],
        bad.as_bytes(),
    );
    assert_refused(&out, "not a JSON object");
}
