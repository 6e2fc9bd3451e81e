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

#[cfg(test)]
mod tests {
    use super::*;

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
