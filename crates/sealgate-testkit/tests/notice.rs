//! A notice written with [`sealgate_testkit::notice`] reaches stderr when the
//! test passes, where `eprintln!` output does not: this binary runs its own
//! `child` test as a child process, under libtest's default capture, and
//! reads what the child wrote to stderr.

use std::process::Command;

const MARK: &str = "SEALGATE-TESTKIT-NOTICE-MARK";
const HIDDEN: &str = "SEALGATE-TESTKIT-EPRINTLN-MARK";

/// Run by `a_passing_tests_notice_is_seen` only.
#[test]
#[ignore = "run as a child process by a_passing_tests_notice_is_seen"]
fn child() {
    eprintln!("{HIDDEN}");
    // From a spawned thread too (libtest's capture is inherited by threads).
    std::thread::spawn(|| sealgate_testkit::notice(MARK)).join().expect("thread");
    sealgate_testkit::skip_or_fail("SEALGATE_SKIP_TESTKIT_CHILD", "the child", "it is a test of the notice", "nothing");
}

fn run_child(opt_in: Option<&str>) -> std::process::Output {
    let mut cmd = Command::new(std::env::current_exe().expect("current exe"));
    cmd.args(["--exact", "child", "--ignored", "--test-threads", "1"]).env_remove("SEALGATE_SKIP_TESTKIT_CHILD");
    if let Some(v) = opt_in {
        cmd.env("SEALGATE_SKIP_TESTKIT_CHILD", v);
    }
    cmd.output().expect("run the child test")
}

#[test]
fn a_passing_tests_notice_is_seen() {
    let out = run_child(Some("1"));
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the child failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "the child did not run:\n{stdout}");
    assert_eq!(stderr.matches(MARK).count(), 1, "the notice did not reach stderr:\n{stderr}");
    assert!(stderr.contains("SKIPPED: the child") && stderr.contains("SEALGATE_SKIP_TESTKIT_CHILD=1"), "{stderr}");
    // The control: libtest did capture the eprintln! of the passing test.
    assert!(!stderr.contains(HIDDEN) && !stdout.contains(HIDDEN), "eprintln! was not captured:\n{stdout}\n{stderr}");
}

#[test]
fn without_the_opt_in_the_skip_fails() {
    for opt_in in [None, Some("0"), Some("true")] {
        let out = run_child(opt_in);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(!out.status.success(), "{opt_in:?}: the child passed:\n{stdout}");
        assert!(stdout.contains("the child cannot run: it is a test of the notice"), "{opt_in:?}:\n{stdout}");
        assert!(stdout.contains("or set SEALGATE_SKIP_TESTKIT_CHILD=1"), "{opt_in:?}:\n{stdout}");
    }
}
