//! A client checks who listens on the socket (SO_PEERCRED) before it sends
//! anything: a fake "agent" run by another user never gets the passphrase,
//! from `sealgate agent unlock` (the Rust client) or from the Python client.

use std::io::{BufRead as _, BufReader, Read as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use secrecy::SecretString;

type R<T> = Result<T, Box<dyn std::error::Error>>;

const PASSPHRASE: &str = "hunter2-correct-horse";

/// A listener that records, in hex, what each of `n` connections sent.
const FAKE: &str = r#"
import socket, sys
l = socket.socket(socket.AF_UNIX)
l.bind(sys.argv[1])
l.listen(4)
l.settimeout(20)
print('ready', flush=True)
for _ in range(int(sys.argv[2])):
    c, _ = l.accept()
    c.settimeout(1)
    d = b''
    try:
        while True:
            x = c.recv(65536)
            if not x:
                break
            d += x
    except socket.timeout:
        pass
    print('got', d.hex(), flush=True)
    c.close()
"#;

fn fake(prefix: &[&str], sock: &Path, n: u32) -> R<Child> {
    let argv: Vec<&str> = prefix.iter().copied().chain(["/usr/bin/python3", "-c", FAKE]).collect();
    let mut cmd = Command::new(argv[0]);
    cmd.args(&argv[1..]).arg(sock).arg(n.to_string());
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn()?;
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().ok_or("stdout")?).read_line(&mut line)?;
    assert_eq!(line.trim(), "ready", "the fake agent did not start");
    Ok(child)
}

fn received(mut child: Child) -> R<String> {
    let mut out = String::new();
    child.stdout.take().ok_or("stdout")?.read_to_string(&mut out)?;
    child.wait()?;
    Ok(out)
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn rust_unlock(sock: &Path) -> R<Result<serde_json::Value, String>> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    Ok(rt.block_on(sealgate_agent::client::unlock(sock, &SecretString::from(PASSPHRASE.to_owned()))))
}

fn python_unlock(sock: &Path) -> R<String> {
    let client = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../clients/python");
    let script = "import sys\nsys.path.insert(0, sys.argv[1])\n\
        from sealgate_agent import AgentClient, AgentError\n\
        try:\n    AgentClient(sys.argv[2]).unlock(sys.argv[3]); print('sent')\n\
        except AgentError as e:\n    print('refused', e.kind, e.message)\n\
        except Exception as e:\n    print('error', type(e).__name__, e)\n";
    let out = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(script)
        .arg(&client)
        .arg(sock)
        .arg(PASSPHRASE)
        .stderr(Stdio::inherit())
        .output()?;
    Ok(String::from_utf8(out.stdout)?)
}

fn prerequisites() -> bool {
    let missing = if !sealgate_testkit::privileges::is_root() {
        Some("running a fake agent as another uid needs root")
    } else if !Path::new("/usr/bin/setpriv").exists() {
        Some("setpriv (util-linux) is missing")
    } else if !Path::new("/usr/bin/python3").exists() {
        Some("/usr/bin/python3 is missing")
    } else {
        None
    };
    if let Some(why) = missing {
        sealgate_testkit::skip_or_fail(
            "SEALGATE_SKIP_ROOT_CHECKS",
            "peer_uid: a fake agent of another uid gets no passphrase",
            why,
            "run the tests as root with util-linux and python3 (as CI does)",
        );
        return false;
    }
    true
}

#[test]
fn a_fake_agent_of_another_uid_gets_no_passphrase() -> R<()> {
    if !prerequisites() {
        return Ok(());
    }
    let t = tempfile::Builder::new().prefix("sealgate-peer").tempdir()?;
    std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o755))?;
    let dir = t.path().join("nobody");
    std::fs::create_dir(&dir)?;
    assert!(Command::new("chown").arg("65534:65534").arg(&dir).status()?.success());
    let sock = dir.join("agent.sock");
    let nobody = ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];
    let child = fake(&nobody, &sock, 2)?;

    let err = rust_unlock(&sock)?.expect_err("a listener of uid 65534 is not the agent");
    assert!(err.contains("uid 65534") && err.contains("nothing was sent") && !err.contains(PASSPHRASE), "{err}");
    let py = python_unlock(&sock)?;
    assert!(py.starts_with("refused refused") && py.contains("uid 65534") && !py.contains(PASSPHRASE), "{py}");

    let got = received(child)?;
    assert_eq!(got.lines().count(), 2, "both clients connected: {got}");
    assert!(got.lines().all(|l| l.trim() == "got"), "the fake agent received bytes: {got}");
    assert!(!got.contains(&hex(PASSPHRASE)));

    // Control: the same fake as this user (root) does get the passphrase, so
    // the check above is what kept it.
    let own = t.path().join("own.sock");
    let child = fake(&[], &own, 2)?;
    let _ = rust_unlock(&own)?.expect_err("the fake never answers");
    let _ = python_unlock(&own)?;
    let got = received(child)?;
    assert_eq!(got.matches(&hex(PASSPHRASE)).count(), 2, "{got}");
    Ok(())
}
