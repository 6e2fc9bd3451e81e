//! What the browser tests share: the repository root, the check that Debian's Chromium and
//! the pinned playwright-core are installed, and running one `web/tests/*.mjs` script with
//! a deadline (its output goes to the test's output).

#![allow(dead_code)] // each test file uses its own part

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub const CHROMIUM: &str = "/usr/bin/chromium";

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repo root")
}

/// Chromium and the pinned playwright-core are installed, or the test (`what`) says how to
/// get them: it fails, unless `SEALGATE_SKIP_BROWSER=1`, when it skips loudly.
pub fn browser_ready(root: &Path, what: &str) -> bool {
    if !Path::new(CHROMIUM).exists() {
        sealgate_testkit::skip_or_fail(
            "SEALGATE_SKIP_BROWSER",
            what,
            &format!("{CHROMIUM} is missing"),
            "run `bash scripts/setup-browser.sh`",
        );
        return false;
    }
    assert!(
        root.join("web/tests/node_modules/playwright-core/package.json").exists(),
        "playwright-core is not installed: run scripts/setup-browser.sh"
    );
    true
}

/// Runs `node web/tests/SCRIPT` with `envs`, failing the test if it fails or outlives `limit`.
pub fn run_node(root: &Path, script: &str, envs: &[(&str, String)], limit: Duration) {
    let mut cmd = Command::new("node");
    cmd.arg(script).current_dir(root.join("web/tests")).stdin(Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("run node (is Node.js installed?)");
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait node") {
            assert!(status.success(), "web/tests/{script} failed ({status}); see its output above");
            return;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("web/tests/{script} did not finish in {} s", limit.as_secs());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
