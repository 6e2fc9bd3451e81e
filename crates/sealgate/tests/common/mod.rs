//! What the CLI tests share: running the binary, a private temp directory,
//! and the refusal contract (exit 2, one `error:` line, empty stdout).

#![allow(dead_code)] // each test file uses its own part

pub mod api;
pub mod bao;
pub mod serve;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_sealgate");

/// A directory only we can read (0700), removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!(
            "sealgate-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("mkdir");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        Self(p)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Run `sealgate` with `stdin`.
pub fn run(args: &[&str], stdin: &[u8]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    run_command(cmd, stdin)
}

/// Run any command with `stdin`, collecting its output.
pub fn run_command(mut cmd: Command, stdin: &[u8]) -> Output {
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let mut pipe = child.stdin.take().expect("stdin is piped");
    let input = stdin.to_vec();
    // Write from a thread so a child that writes before reading cannot deadlock us.
    let writer = std::thread::spawn(move || {
        // A child that refuses early may close stdin: that is not our error.
        let _ = pipe.write_all(&input);
    });
    let output = child.wait_with_output().unwrap_or_else(|e| panic!("waiting for {what}: {e}"));
    writer.join().expect("stdin writer thread");
    output
}

/// Success: stdout as text.
pub fn ok(out: Output) -> String {
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf8")
}

/// Exit 2, one `error: …` line containing `want`, nothing on stdout, and
/// none of `secrets` in stderr.
pub fn refused(out: &Output, want: &str, secrets: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(out.stdout.is_empty(), "stdout not empty: {:?}", String::from_utf8_lossy(&out.stdout));
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains(want), "expected {want:?} in {stderr}");
    for s in secrets {
        assert!(!stderr.contains(s), "secret in stderr: {stderr}");
    }
}

pub fn p(path: &Path) -> &str {
    path.to_str().expect("utf8 path")
}
