//! A child process a test talks to (a `sealgate serve`), its stdout and stderr collected
//! line by line, killed and reaped on drop.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running child and everything it has printed so far.
#[derive(Debug)]
pub struct Spawned {
    /// The process.
    pub child: Child,
    logs: Arc<Mutex<String>>,
    /// The pipe readers still running (each ends at its pipe's end of file).
    readers: Arc<std::sync::atomic::AtomicUsize>,
}

impl Spawned {
    /// Starts `cmd` with stdin closed and stdout and stderr collected.
    pub fn spawn(cmd: &mut Command) -> Spawned {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        let logs = Arc::new(Mutex::new(String::new()));
        let readers = Arc::new(std::sync::atomic::AtomicUsize::new(2));
        for pipe in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let (logs, readers) = (logs.clone(), readers.clone());
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    let mut l = logs.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    l.push_str(&line);
                    l.push('\n');
                }
                readers.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
            });
        }
        Spawned { child, logs, readers }
    }

    /// Everything printed so far (stdout and stderr, interleaved by line).
    pub fn logs(&self) -> String {
        self.logs.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Polls the logs with `found` until it answers, for at most `timeout`. Fails the test,
    /// with the logs, when the child exits first or the time is up.
    pub async fn wait_for<T>(&mut self, what: &str, timeout: Duration, mut found: impl FnMut(&str) -> Option<T>) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            let text = self.logs();
            if let Some(v) = found(&text) {
                return v;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                // Its last words may still be in the pipes: read them to the end (bounded:
                // a grandchild may hold a pipe open).
                let drained = Instant::now() + Duration::from_secs(2);
                while self.readers.load(std::sync::atomic::Ordering::Acquire) > 0 && Instant::now() < drained {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                panic!("{what}: the process exited {status}:\n{}", self.logs());
            }
            assert!(Instant::now() < deadline, "{what}: not within {timeout:?}:\n{text}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The first word after `prefix` on the first line that starts with it.
pub fn word_after(text: &str, prefix: &str) -> Option<String> {
    text.lines().find_map(|l| l.strip_prefix(prefix)).and_then(|r| r.split_whitespace().next()).map(str::to_owned)
}

/// What `sealgate serve` prints once it listens: the public and the service listener's
/// base URLs, and (when it prints one) the local sign-in link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeListening {
    /// `http://…` (or `https://…`) of the public listener.
    pub base: String,
    /// `http://…` (or `https://…`) of the service listener.
    pub service: String,
    /// The local sign-in link (`…/login?token=…`), if printed.
    pub login: Option<String>,
}

impl ServeListening {
    /// Read from `serve`'s output, once both listeners are up.
    pub fn from_logs(text: &str) -> Option<ServeListening> {
        let base = word_after(text, "sealgate: listening on ")?;
        let service = word_after(text, "sealgate: service listener on ")?;
        let login = text
            .lines()
            .find_map(|l| l.find("http").filter(|_| l.contains("login?token=")).map(|i| l[i..].trim().to_owned()));
        Some(ServeListening { base, service, login })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serve_output_is_read_once_both_listeners_are_up() {
        let first = "sealgate: listening on http://127.0.0.1:4000\n";
        assert_eq!(ServeListening::from_logs(first), None);
        let all = format!(
            "{first}sealgate: service listener on http://127.0.0.1:4001 (signer, /metrics)\n\
             sealgate: root key pin abc\n  sign in: http://127.0.0.1:4000/login?token=T \n"
        );
        let l = ServeListening::from_logs(&all).expect("listening");
        assert_eq!((l.base.as_str(), l.service.as_str()), ("http://127.0.0.1:4000", "http://127.0.0.1:4001"));
        assert_eq!(l.login.as_deref(), Some("http://127.0.0.1:4000/login?token=T"));
        assert_eq!(word_after(&all, "sealgate: root key pin "), Some("abc".into()));
    }

    #[tokio::test]
    async fn a_child_that_exits_early_fails_the_wait_with_its_output() {
        let mut p = Spawned::spawn(Command::new("sh").args(["-c", "echo started; echo oops >&2; exit 3"]));
        let waited = tokio::spawn(async move {
            p.wait_for("never", Duration::from_secs(10), |t| t.contains("ready").then_some(())).await
        });
        let e = waited.await.expect_err("panics");
        let msg = e.into_panic();
        let msg = msg.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(msg.contains("exited") && msg.contains("started") && msg.contains("oops"), "{msg}");
    }
}
