//! A `sealgate serve` child for the end-to-end tests: the embedded default (SQLite), or a
//! PostgreSQL store with a local keyring beside the data directory.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use sealgate_testkit::process::{ServeListening, Spawned, word_after};

/// A `sealgate serve` child (killed on drop) and what it printed when it started.
pub struct Server {
    pub proc: Spawned,
    pub base: String,
    pub service: String,
    pub pin: String,
    pub login: String,
    pub data: PathBuf,
}

impl Server {
    /// Starts `serve` on `data` (and `database`), with each of `exchanges` and the
    /// portfolio's price sources at `sandbox`: the test never leaves loopback.
    pub async fn start(data: &Path, database: Option<&str>, sandbox: &str, exchanges: &[&str]) -> Server {
        Server::start_with(data, database, sandbox, exchanges, &[]).await
    }

    /// [`Server::start`] with further `serve` options (e.g. `--allow-sign trader`).
    pub async fn start_with(
        data: &Path,
        database: Option<&str>,
        sandbox: &str,
        exchanges: &[&str],
        extra: &[&str],
    ) -> Server {
        let mut cmd = Command::new(super::BIN);
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data)
            .args(extra)
            .args(
                exchanges
                    .iter()
                    .chain(sealgate_server::prices::SOURCES.iter().filter(|id| !exchanges.contains(id)))
                    .flat_map(|id| ["--exchange-url".to_owned(), format!("{id}={sandbox}")]),
            )
            .env("SEALGATE_LOG", "debug");
        if let Some(db) = database {
            // A signer on a --database names its custody: here a local keyring beside the data.
            let beside = data.parent().expect("the data directory has a parent").join("custody");
            std::fs::create_dir(&beside).expect("custody dir");
            std::fs::set_permissions(&beside, std::os::unix::fs::PermissionsExt::from_mode(0o700)).expect("chmod");
            let custody = beside.join("custody.toml");
            std::fs::write(
                &custody,
                format!(
                    "backend = \"local\"\n[local]\nkeyring = {:?}\nkey_file = {:?}\n",
                    beside.join("keyring").display().to_string(),
                    beside.join("master.key").display().to_string()
                ),
            )
            .expect("custody.toml");
            let init =
                Command::new(super::BIN).args(["keys", "init", "--custody"]).arg(&custody).output().expect("keys init");
            assert!(init.status.success(), "keys init: {}", String::from_utf8_lossy(&init.stderr));
            cmd.args(["--database", db]).arg("--custody-config").arg(&custody);
        }
        let mut proc = Spawned::spawn(&mut cmd);
        let (up, pin) = proc
            .wait_for("serve listening", Duration::from_secs(60), |text| {
                let up = ServeListening::from_logs(text).filter(|u| u.login.is_some())?;
                Some((up, word_after(text, "sealgate: root key pin ")?))
            })
            .await;
        let login = up.login.unwrap_or_default();
        Server { proc, base: up.base, service: up.service, pin, login, data: data.to_path_buf() }
    }

    /// Everything it printed so far.
    pub fn logs(&self) -> String {
        self.proc.logs()
    }
}
