//! The loopback notification peers the notifier tests share: a real SMTP server (aiosmtpd)
//! and a webhook receiver that verifies every signature with the Standard Webhooks library
//! (interop/notify/sink.py; installed by scripts/setup-notify.sh — missing peers FAIL the
//! test unless SEALGATE_SKIP_NOTIFY=1).

#![allow(dead_code)] // each test file uses its own part

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write as _};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

pub struct Sink {
    child: Child,
    pub out: tempfile::TempDir,
    pub secrets: PathBuf,
    pub smtp: u16,
    pub http: u16,
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Starts the peers; `None` (with a loud notice) only when they are missing and
/// SEALGATE_SKIP_NOTIFY=1.
pub fn start_sink(fail_first: u32) -> Option<Sink> {
    let python = repo_root().join(".venv-notify/bin/python");
    if !python.exists() {
        sealgate_testkit::skip_or_fail(
            "SEALGATE_SKIP_NOTIFY",
            "the notifier tests",
            "the loopback SMTP server and webhook verifier are not installed",
            "run: bash scripts/setup-notify.sh",
        );
        return None;
    }
    let out = tempfile::tempdir().expect("dir");
    let secrets = out.path().join("secrets.json");
    std::fs::write(&secrets, "{}").expect("secrets");
    let mut child = Command::new(python)
        .arg(repo_root().join("interop/notify/sink.py"))
        .arg(out.path())
        .arg(&secrets)
        .arg(fail_first.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn sink");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("ready line");
    let port = |k: &str| -> u16 {
        line.split_whitespace().find_map(|w| w.strip_prefix(k)).and_then(|p| p.parse().ok()).expect(&line)
    };
    let (smtp, http) = (port("smtp="), port("http="));
    Some(Sink { child, out, secrets, smtp, http })
}

impl Sink {
    pub fn read(&self, name: &str) -> Vec<Value> {
        let text = std::fs::read_to_string(self.out.path().join(name)).unwrap_or_default();
        text.lines().map(|l| serde_json::from_str(l).expect("json line")).collect()
    }
    pub fn mails(&self) -> Vec<Value> {
        self.read("mail.jsonl")
    }
    pub fn hooks(&self) -> Vec<Value> {
        self.read("hooks.jsonl")
    }
    pub fn add_secret(&self, path: &str, secret: &str) {
        let mut m: HashMap<String, String> =
            serde_json::from_str(&std::fs::read_to_string(&self.secrets).expect("read")).expect("json");
        m.insert(path.into(), secret.into());
        let mut f = std::fs::File::create(&self.secrets).expect("write");
        f.write_all(serde_json::to_string(&m).expect("json").as_bytes()).expect("write");
    }
}
