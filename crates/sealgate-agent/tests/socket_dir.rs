//! The socket's directory chain is checked like ssh-agent's: a directory
//! another user owns, or one group or others may write (a parent without the
//! sticky bit), is refused with an error naming it and the fix.

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use sealgate_agent::{Agent, Config, KdfParams, Keystore};

type R<T> = Result<T, Box<dyn std::error::Error>>;

/// The error `Agent::bind` gives for a socket at `sock`.
/// (Each call has a keystore, and so an audit key and chain, of its own.)
fn bind(_dir: &Path, sock: PathBuf) -> R<Result<(), String>> {
    let own = tempfile::tempdir()?;
    let ks = Keystore::create(&own.path().join("ks"), b"pw", KdfParams::TEST)?;
    let cfg = Config { socket: sock, audit: own.path().join("audit.jsonl"), ..Config::default() };
    let agent = Agent::new(cfg, ks)?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    Ok(rt.block_on(async { agent.bind().map(drop) }))
}

fn chmod(p: &Path, mode: u32) -> R<()> {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))?;
    Ok(())
}

/// Change the owner to `nobody` (65534): root only, else a notice and `false`.
fn give_away(p: &Path) -> bool {
    if !sealgate_testkit::privileges::is_root() {
        sealgate_testkit::skip_or_fail(
            "SEALGATE_SKIP_ROOT_CHECKS",
            "socket_dir: a directory owned by another uid",
            "chown to uid 65534 needs root",
            "run the tests as root (as CI does)",
        );
        return false;
    }
    let st = std::process::Command::new("chown").arg("65534:65534").arg(p).status();
    assert!(st.is_ok_and(|s| s.success()), "chown 65534 {}", p.display());
    true
}

#[test]
fn a_fresh_chain_is_created_0700() -> R<()> {
    let t = tempfile::tempdir()?;
    let sock = t.path().join("a/b/agent.sock");
    bind(t.path(), sock.clone())??;
    for d in [t.path().join("a"), t.path().join("a/b")] {
        assert_eq!(std::fs::metadata(&d)?.mode() & 0o7777, 0o700, "{}", d.display());
    }
    // A reused directory of the user's own, 0755, is tightened to 0700.
    let t2 = tempfile::tempdir()?;
    std::fs::create_dir(t2.path().join("run"))?;
    chmod(&t2.path().join("run"), 0o755)?;
    bind(t2.path(), t2.path().join("run/agent.sock"))??;
    assert_eq!(std::fs::metadata(t2.path().join("run"))?.mode() & 0o7777, 0o700);
    Ok(())
}

#[test]
fn a_socket_directory_open_to_all_is_refused() -> R<()> {
    let t = tempfile::tempdir()?;
    let run = t.path().join("run");
    std::fs::create_dir(&run)?;
    chmod(&run, 0o777)?;
    let err = bind(t.path(), run.join("agent.sock"))?.expect_err("0777 socket directory");
    assert!(err.contains(&run.display().to_string()) && err.contains("0777") && err.contains("chmod go-w"), "{err}");
    // Left as it was: the agent never loosens or silently repairs it.
    assert_eq!(std::fs::metadata(&run)?.mode() & 0o7777, 0o777);
    assert!(!run.join("agent.sock").exists());
    Ok(())
}

#[test]
fn a_writable_parent_needs_the_sticky_bit() -> R<()> {
    let t = tempfile::tempdir()?;
    let base = t.path().join("base");
    std::fs::create_dir(&base)?;
    chmod(&base, 0o777)?;
    let err = bind(t.path(), base.join("sealgate/agent.sock"))?.expect_err("0777 parent");
    assert!(err.contains(&base.display().to_string()) && err.contains("without the sticky bit"), "{err}");
    assert!(!base.join("sealgate").exists(), "nothing is created under a refused parent");
    // Like /tmp: 1777 is fine, and what the agent creates there is 0700.
    chmod(&base, 0o1777)?;
    bind(t.path(), base.join("sealgate/agent.sock"))??;
    assert_eq!(std::fs::metadata(base.join("sealgate"))?.mode() & 0o7777, 0o700);
    Ok(())
}

#[test]
fn directories_of_another_user_are_refused() -> R<()> {
    // The socket's own directory, pre-created by another user (as under /tmp).
    let t = tempfile::tempdir()?;
    let run = t.path().join("sealgate-0");
    std::fs::create_dir(&run)?;
    chmod(&run, 0o700)?;
    if !give_away(&run) {
        return Ok(());
    }
    let err = bind(t.path(), run.join("agent.sock"))?.expect_err("directory of uid 65534");
    assert!(err.contains(&run.display().to_string()) && err.contains("uid 65534") && err.contains("rm -r"), "{err}");
    // A parent of it (e.g. /tmp/sealgate-<uid> above `sealgate/`), owned by another user.
    let err = bind(t.path(), run.join("sealgate/agent.sock"))?.expect_err("parent of uid 65534");
    assert!(err.contains(&run.display().to_string()) && err.contains("uid 65534"), "{err}");
    // A symlink on the way owned by another user.
    let link = t.path().join("link");
    std::os::unix::fs::symlink(t.path(), &link)?;
    std::process::Command::new("chown").args(["-h", "65534:65534"]).arg(&link).status()?;
    let err = bind(t.path(), link.join("x/agent.sock"))?.expect_err("symlink of uid 65534");
    assert!(err.contains(&link.display().to_string()), "{err}");
    Ok(())
}
