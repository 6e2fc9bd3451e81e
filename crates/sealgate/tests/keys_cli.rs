//! `sealgate keys …`, `custody selftest` and `seal --recipients --pin` on
//! the local keyring: the whole path from a new custody to an envelope
//! sealed to a signed, pinned recipient set.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_sealgate");

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("sealgate-keys-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir(&p).expect("mkdir");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        Self(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let _ = child.stdin.take().expect("stdin").write_all(stdin);
    child.wait_with_output().expect("wait")
}

fn ok(out: Output) -> String {
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf8")
}

fn refused(out: &Output, want: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.starts_with("error: ") && stderr.contains(want), "want {want:?}: {stderr}");
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf8")
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

    ok(run(&["keys", "set-status", "--custody", c, "--kid", &kid, "--status", "retired"], b""));
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
