//! Process hardening for any process that may hold an opened credential
//! (the signer in `sealgate serve`, the desktop agent): no core dumps, not
//! ptrace-attachable by other processes of the same user, memory locked so
//! secrets are never swapped out.
//!
//! One implementation for both: the server logs the warnings with
//! `tracing`, the agent prints them, so this crate only returns them.
//!
//! Also the one rule for private files ([`private_file`]: create, replace
//! with backup, private directories, ssh's StrictModes), used by the
//! custody, the agent and the server.

pub mod private_file;

use rustix::mm::{MlockAllFlags, mlockall};
use rustix::process::{DumpableBehavior, Resource, Rlimit, getrlimit, set_dumpable_behavior, setrlimit};

/// What [`harden`] achieved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Hardening {
    /// `PR_SET_DUMPABLE 0`: no core dump, no ptrace attach, /proc/<pid>/mem closed to others.
    pub non_dumpable: bool,
    /// `RLIMIT_CORE` 0.
    pub no_core: bool,
    /// `mlockall(MCL_CURRENT | MCL_FUTURE)`.
    pub memory_locked: bool,
}

impl Hardening {
    /// What was not achieved, each with what to do; empty when all was.
    pub fn warnings(&self) -> Vec<&'static str> {
        let mut w = Vec::new();
        if !self.memory_locked {
            w.push(
                "memory not locked: run with CAP_IPC_LOCK or `ulimit -l unlimited` so opened credentials cannot be swapped",
            );
        }
        if !self.non_dumpable {
            w.push("could not make the process non-dumpable");
        }
        if !self.no_core {
            w.push("could not set the core size limit to 0");
        }
        w
    }
}

/// Harden this process. Locking memory is attempted only when it cannot
/// starve later allocations: with `MCL_FUTURE` under a finite
/// `RLIMIT_MEMLOCK` (and no `CAP_IPC_LOCK`) the process would fail to grow
/// once the limit is reached, so then memory is left unlocked and
/// [`Hardening::warnings`] says how to fix it.
pub fn harden() -> Hardening {
    let non_dumpable = set_dumpable_behavior(DumpableBehavior::NotDumpable).is_ok();
    let no_core = setrlimit(Resource::Core, Rlimit { current: Some(0), maximum: Some(0) }).is_ok();
    // Try to lift the memlock limit (allowed with CAP_SYS_RESOURCE).
    let _ = setrlimit(Resource::Memlock, Rlimit { current: None, maximum: None });
    let unlimited = getrlimit(Resource::Memlock).current.is_none();
    let privileged = rustix::process::geteuid().is_root();
    let memory_locked = (unlimited || privileged) && mlockall(MlockAllFlags::CURRENT | MlockAllFlags::FUTURE).is_ok();
    Hardening { non_dumpable, no_core, memory_locked }
}

/// The effective uid of this process (the user files must belong to).
pub fn effective_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// ssh's `StrictModes` for a file that holds a secret or that the process trusts (a
/// custody key, a passphrase, a keyring, a service key, a data file): the file is a
/// regular file owned by the running (effective) user, with no group or other write
/// (`secret`: no group or other access at all); its directory is owned by the running
/// user or root and has no group or other write — otherwise another account could
/// replace the file, or rename it away and put its own in its place. The error names
/// the path and the fix; it holds no file content.
pub fn check_strict_modes(path: &std::path::Path, secret: bool) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt as _;
    let me = effective_uid();
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {}", path.display(), e.kind()))?;
    if !meta.is_file() {
        return Err(format!("{} is not a regular file", path.display()));
    }
    if meta.uid() != me {
        return Err(format!(
            "{} is owned by uid {}, not by this user (uid {me}); fix: chown {me} {}",
            path.display(),
            meta.uid(),
            path.display()
        ));
    }
    let mode = meta.mode() & 0o7777;
    let forbidden = if secret { 0o077 } else { 0o022 };
    if mode & forbidden != 0 {
        let fix = if secret { "chmod 600" } else { "chmod go-w" };
        return Err(format!(
            "{} is {} by group or others (mode {mode:04o}); fix: {fix} {}",
            path.display(),
            if secret { "accessible" } else { "writable" },
            path.display()
        ));
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let dmeta = std::fs::metadata(&dir).map_err(|e| format!("directory {}: {}", dir.display(), e.kind()))?;
    if dmeta.uid() != me && dmeta.uid() != 0 {
        return Err(format!(
            "directory {} of {} is owned by uid {}, not by this user (uid {me}) or root",
            dir.display(),
            path.display(),
            dmeta.uid()
        ));
    }
    let dmode = dmeta.mode() & 0o7777;
    if dmode & 0o022 != 0 {
        return Err(format!(
            "directory {} of {} is writable by group or others (mode {dmode:04o}); fix: chmod go-w {}",
            dir.display(),
            path.display(),
            dir.display()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod strict_modes_tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::check_strict_modes;

    fn chmod(p: &std::path::Path, mode: u32) {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }

    #[test]
    fn like_ssh_strict_modes() {
        let dir = tempfile::tempdir().expect("dir");
        let d = dir.path().join("d");
        std::fs::create_dir(&d).expect("mkdir");
        chmod(&d, 0o700);
        let f = d.join("key");
        std::fs::write(&f, b"k").expect("write");
        chmod(&f, 0o600);
        assert_eq!(check_strict_modes(&f, true), Ok(()));
        chmod(&f, 0o640);
        assert!(check_strict_modes(&f, true).expect_err("group read").contains("chmod 600"));
        assert_eq!(check_strict_modes(&f, false), Ok(()), "readable is fine for a non-secret file");
        chmod(&f, 0o620);
        assert!(check_strict_modes(&f, false).expect_err("group write").contains("chmod go-w"));
        chmod(&f, 0o600);
        // A group-writable or world-writable directory: another account could swap the file.
        for mode in [0o770, 0o703, 0o1777] {
            chmod(&d, mode);
            let e = check_strict_modes(&f, true).expect_err("directory");
            assert!(e.contains("directory") && e.contains("chmod go-w"), "{mode:o}: {e}");
        }
        chmod(&d, 0o755);
        assert_eq!(check_strict_modes(&f, true), Ok(()));
        // Owned by another user (only root can make one here).
        if rustix::process::geteuid().is_root() {
            std::os::unix::fs::chown(&f, Some(4242), None).expect("chown");
            assert!(check_strict_modes(&f, true).expect_err("owner").contains("owned by uid 4242"));
            std::os::unix::fs::chown(&f, Some(0), None).expect("chown back");
            std::os::unix::fs::chown(&d, Some(4242), None).expect("chown dir");
            assert!(check_strict_modes(&f, true).expect_err("dir owner").contains("owned by uid 4242"));
        }
        assert!(check_strict_modes(&d.join("missing"), true).is_err());
        assert!(check_strict_modes(&d, true).expect_err("a directory").contains("not a regular file"));
    }
}
