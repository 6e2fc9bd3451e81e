//! Test support shared by the workspace's test targets (a dev-dependency
//! only): no test passes silently.
//!
//! - A part a test needs but cannot find (a Python venv, PostgreSQL, SoftHSM2,
//!   Chromium, root) FAILS the test, naming how to get it, unless the user
//!   opted in to skipping it with a `SEALGATE_SKIP_*` variable set to `1`.
//! - The skip notice goes to the process's real stderr. libtest captures the
//!   output of a passing test, but only what the `print!`/`eprint!` macros
//!   write (a per-thread capture, inherited by spawned threads); a write
//!   through the [`std::io::stderr`] handle goes straight to file descriptor
//!   2 and is shown even when the test passes (`tests/notice.rs` proves it).
//! - [`raw_http`]: one HTTP/1.1 exchange over a raw connection (heads and bodies a client
//!   library would not send); [`process`]: a child such as `sealgate serve`, its output
//!   collected, waited on, killed on drop; [`pki`]: a test CA and server certificates
//!   (the `openssl` command); [`webauthn`]: a software passkey (registration with `none`
//!   attestation, assertions) speaking the browser's JSON; [`memory`]: a live process's
//!   memory searched (the proofs that a secret is not in it).

pub mod memory;
pub mod pki;
pub mod process;
pub mod raw_http;
pub mod webauthn;

use std::io::Write as _;

/// Write `text` (and a newline) to the process's stderr, past libtest's
/// output capture, so it is seen even when the test passes.
pub fn notice(text: &str) {
    let mut err = std::io::stderr().lock();
    // Nothing useful can be done if stderr itself is gone.
    let _ = writeln!(err, "{text}");
    let _ = err.flush();
}

/// What a test should do when `what` cannot run because of `why`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The user opted in: skip, after showing this notice.
    Skip(String),
    /// No opt-in: fail with this message.
    Fail(String),
}

/// Decide, from the value of the opt-in variable `var` (`opt_in`, `None`
/// when unset), whether `what` may be skipped because of `why`; `fix` says
/// how to get what is missing (e.g. "run `bash scripts/setup-interop.sh`").
/// Only the exact value `1` opts in.
pub fn decide(var: &str, opt_in: Option<&str>, what: &str, why: &str, fix: &str) -> Decision {
    if opt_in == Some("1") {
        let bar = "!".repeat(78);
        Decision::Skip(format!(
            "\n{bar}\n!!! SKIPPED: {what}\n!!! because: {why}\n!!! ({var}=1). This was NOT verified. To run it: {fix}.\n{bar}"
        ))
    } else {
        Decision::Fail(format!("{what} cannot run: {why}.\nTo run it: {fix} (or set {var}=1 to skip it explicitly)."))
    }
}

/// Called where a test cannot run `what` because of `why`. Returns (the
/// caller then skips) only when the environment variable `var` is `1`, after
/// a loud notice on the real stderr; otherwise panics, naming `why` and
/// `fix`.
#[track_caller]
pub fn skip_or_fail(var: &str, what: &str, why: &str, fix: &str) {
    let opt_in = std::env::var(var).ok();
    match decide(var, opt_in.as_deref(), what, why, fix) {
        Decision::Skip(text) => notice(&text),
        Decision::Fail(text) => panic!("{text}"),
    }
}

/// What this process may do, read from `/proc/self` (Linux).
pub mod privileges {
    /// `CAP_IPC_LOCK`: lock memory beyond `RLIMIT_MEMLOCK`.
    pub const CAP_IPC_LOCK: u32 = 14;
    /// `CAP_SYS_PTRACE`: read the memory of a non-dumpable process.
    pub const CAP_SYS_PTRACE: u32 = 19;

    fn status() -> String {
        std::fs::read_to_string("/proc/self/status").unwrap_or_default()
    }

    /// The effective uid is 0.
    pub fn is_root() -> bool {
        effective_uid(&status()) == Some(0)
    }

    /// Capability number `cap` is in the effective set.
    pub fn has_capability(cap: u32) -> bool {
        effective_caps(&status()).is_some_and(|bits| bits.checked_shr(cap).is_some_and(|b| b & 1 == 1))
    }

    /// Whether the checks that read a non-dumpable process's memory can run: as root
    /// with CAP_SYS_PTRACE (as CI runs) they do; otherwise `what` FAILS, unless
    /// `SEALGATE_SKIP_ROOT_CHECKS=1` (then `false`, after a notice on stderr).
    pub fn root_checks(what: &str) -> bool {
        if is_root() && has_capability(CAP_SYS_PTRACE) {
            return true;
        }
        let why =
            if is_root() { "the test runs as root without CAP_SYS_PTRACE" } else { "the test does not run as root" };
        crate::skip_or_fail(
            "SEALGATE_SKIP_ROOT_CHECKS",
            what,
            why,
            "run the tests as root with CAP_SYS_PTRACE, as CI does",
        );
        false
    }

    /// The soft `RLIMIT_MEMLOCK` is unlimited.
    pub fn memlock_unlimited() -> bool {
        memlock_soft(&std::fs::read_to_string("/proc/self/limits").unwrap_or_default()) == Some("unlimited")
    }

    /// The effective uid of a `/proc/<pid>/status` text.
    pub fn effective_uid(status: &str) -> Option<u32> {
        status.lines().find_map(|l| l.strip_prefix("Uid:"))?.split_whitespace().nth(1)?.parse().ok()
    }

    /// The effective capability set of a `/proc/<pid>/status` text.
    pub fn effective_caps(status: &str) -> Option<u64> {
        u64::from_str_radix(status.lines().find_map(|l| l.strip_prefix("CapEff:"))?.trim(), 16).ok()
    }

    /// The soft "Max locked memory" limit of a `/proc/<pid>/limits` text.
    pub fn memlock_soft(limits: &str) -> Option<&str> {
        limits.lines().find_map(|l| l.strip_prefix("Max locked memory"))?.split_whitespace().next()
    }

    /// A `kB` field (`VmLck:`, `VmRSS:`, …) of `/proc/<pid>/status`.
    pub fn status_kb(pid: u32, field: &str) -> Result<u64, String> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| format!("{pid}: {e}"))?;
        let line = status.lines().find(|l| l.starts_with(field)).ok_or_else(|| format!("no {field} for {pid}"))?;
        line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).ok_or_else(|| format!("bad {line:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_texts_are_read_right() {
        use super::privileges::*;
        let status = "Name:\tx\nUid:\t1000\t0\t0\t0\nGid:\t0\nCapEff:\t0000000000084000\n";
        assert_eq!(effective_uid(status), Some(0));
        assert_eq!(effective_uid("Uid:\t0\t1000\t0\t0\n"), Some(1000));
        assert_eq!(effective_caps(status), Some((1 << CAP_SYS_PTRACE) | (1 << CAP_IPC_LOCK)));
        assert_eq!(effective_caps("Name:\tx\n"), None);
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max locked memory         8388608              8388608              bytes\n";
        assert_eq!(memlock_soft(limits), Some("8388608"));
        assert_eq!(
            memlock_soft("Max locked memory         unlimited            unlimited            bytes\n"),
            Some("unlimited")
        );
        // This process: its own status has a VmRSS, and a uid that matches is_root().
        let own = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        assert_eq!(is_root(), effective_uid(&own) == Some(0));
        assert!(status_kb(std::process::id(), "VmRSS:").is_ok_and(|kb| kb > 0));
    }

    #[test]
    fn only_the_value_1_opts_in() {
        let fix = "run `bash scripts/setup-interop.sh`";
        for unset in [None, Some(""), Some("0"), Some("true"), Some("yes"), Some(" 1")] {
            match decide("SEALGATE_SKIP_INTEROP", unset, "the ccxt bot", "no venv", fix) {
                Decision::Fail(m) => {
                    assert!(m.contains("the ccxt bot cannot run: no venv"), "{m}");
                    assert!(m.contains(fix) && m.contains("SEALGATE_SKIP_INTEROP=1"), "{m}");
                }
                Decision::Skip(m) => panic!("{unset:?} opted in: {m}"),
            }
        }
        match decide("SEALGATE_SKIP_INTEROP", Some("1"), "the ccxt bot", "no venv", fix) {
            Decision::Skip(m) => {
                assert!(m.contains("SKIPPED: the ccxt bot") && m.contains("no venv"), "{m}");
                assert!(m.contains("(SEALGATE_SKIP_INTEROP=1)") && m.contains(fix), "{m}");
            }
            Decision::Fail(m) => panic!("SEALGATE_SKIP_INTEROP=1 did not opt in: {m}"),
        }
    }
}
