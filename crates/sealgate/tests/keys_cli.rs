//! `sealgate keys …`, `custody selftest` and `seal --recipients --pin` on
//! the local keyring: the whole path from a new custody to an envelope
//! sealed to a signed, pinned recipient set.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Output;

use common::{TempDir, ok, p, run};

fn refused(out: &Output, want: &str) {
    common::refused(out, want, &[]);
}

#[test]
fn local_custody_from_init_to_pinned_seal() {
    let dir = TempDir::new("flow");
    let config = dir.0.join("custody.toml");
    std::fs::write(
        &config,
        format!(
            "backend = \"local\"\n[local]\nkeyring = \"{}\"\nkey_file = \"{}\"\n",
            p(&dir.0.join("keyring")),
            p(&dir.0.join("master.key"))
        ),
    )
    .expect("config");
    let c = p(&config);
    let pin = ok(run(&["keys", "init", "--custody", c], b"")).trim().to_owned();
    assert_eq!(pin.len(), 43, "RFC 7638 SHA-256 thumbprint, base64url: {pin}");
    assert_eq!(std::fs::metadata(dir.0.join("master.key")).expect("key file").permissions().mode() & 0o777, 0o600);
    refused(&run(&["keys", "init", "--custody", c], b""), "");
    assert_eq!(ok(run(&["keys", "pin", "--custody", c], b"")).trim(), pin);

    let kid = ok(run(&["keys", "rotate", "--custody", c, "--role", "trader"], b"")).trim().to_owned();
    let kid_x = ok(run(&["keys", "rotate", "--custody", c, "--role", "importer", "--key-type", "ecdh-x25519"], b""))
        .trim()
        .to_owned();
    let list = ok(run(&["keys", "list", "--custody", c], b""));
    assert!(list.contains(&kid) && list.contains(&kid_x) && list.contains("active"), "{list}");

    let set_path = dir.0.join("recipients.jws");
    std::fs::write(&set_path, ok(run(&["keys", "export-recipients", "--custody", c], b""))).expect("write set");
    let cred = br#"{"api_key":"KEY-0123456789-ABCD","api_secret":"s3cret"}"#;
    let seal = |pin: &str, role: &str| {
        run(
            &[
                "seal",
                "--recipients",
                p(&set_path),
                "--pin",
                pin,
                "--role",
                role,
                "--user",
                "u1",
                "--exchange",
                "binance",
                "--scope",
                "read",
                "--credential-id",
                "c1",
            ],
            cred,
        )
    };
    let envelope = ok(seal(&pin, "trader"));
    assert_eq!(envelope.trim().split('.').count(), 5);
    let header = envelope.split('.').next().expect("header");
    use base64::Engine as _;
    let header: serde_json::Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header).expect("b64"))
            .expect("json");
    assert_eq!(header["kid"], kid.as_str());
    refused(&seal("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "trader"), "pinned root");
    refused(&seal(&pin, "nobody"), "no active key for role");
    // An expired set is refused.
    std::fs::write(&set_path, ok(run(&["keys", "export-recipients", "--custody", c, "--ttl", "0"], b"")))
        .expect("write set");
    refused(&seal(&pin, "trader"), "expired");

    let selftest = ok(run(&["custody", "selftest", "--custody", c], b""));
    assert!(selftest.contains(&kid) && selftest.contains(" ok"), "{selftest}");
    assert!(selftest.contains("software key"), "{selftest}");
    // Exchange keys: the custody makes, uses and destroys one of each type.
    for t in ["ed25519", "rsa-2048"] {
        let row =
            selftest.lines().find(|l| l.starts_with(&format!("probe {t}"))).unwrap_or_else(|| panic!("{selftest}"));
        assert!(row.contains("software key") && row.contains("ok (sign µs p50; destroyed)"), "{row}");
    }

    // Retiring needs the database (to check no envelope is sealed to the version), and is
    // refused for the active version; after a rotation the old one retires.
    refused(
        &run(&["keys", "set-status", "--custody", c, "--kid", &kid, "--status", "retired"], b""),
        "needs --database",
    );
    let db = format!("sqlite://{}?mode=rwc", p(&dir.0.join("sealgate.db")));
    let retire = |kid: &str| {
        run(&["keys", "set-status", "--custody", c, "--database", &db, "--kid", kid, "--status", "retired"], b"")
    };
    refused(&retire(&kid), "is the active version");
    ok(run(&["keys", "rotate", "--custody", c, "--role", "trader"], b""));
    ok(retire(&kid));
    let list = ok(run(&["keys", "list", "--custody", c], b""));
    assert!(list.lines().any(|l| l.starts_with(&kid) && l.contains("retired")), "{list}");
    refused(&run(&["keys", "set-status", "--custody", c, "--kid", &kid, "--status", "gone"], b""), "--status");
    refused(&run(&["keys", "rotate", "--custody", c, "--role", "Bad Role!"], b""), "--role");
}

#[test]
fn bad_custody_configs_are_refused_clearly() {
    let dir = TempDir::new("bad");
    let config = dir.0.join("custody.toml");
    std::fs::write(&config, "backend = \"local\"\n[local]\nkeyring = \"/nonexistent/k\"\n").expect("config");
    refused(&run(&["keys", "list", "--custody", p(&config)], b""), "exactly one of key_file");
    refused(&run(&["keys", "list", "--custody", p(&dir.0.join("missing.toml"))], b""), "cannot read custody config");
    std::fs::write(
        &config,
        "backend = \"local\"\n[local]\nkeyring = \"/nonexistent/k\"\npassphrase_env = \"SEALGATE_TEST_UNSET_VAR\"\n",
    )
    .expect("config");
    refused(&run(&["keys", "list", "--custody", p(&config)], b""), "SEALGATE_TEST_UNSET_VAR");
}
