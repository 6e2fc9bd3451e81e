//! Issue 20 item 4, "durability kept and shown": a signature is answered only once its audit
//! record is durable, and a signer that cannot write its audit refuses to sign, then recovers.
//! Against the real binary: `sealgate serve` (the embedded default, the signer on SQLite in
//! its data directory, `--allow-sign trader`) holding a Gate credential sealed at the edge to
//! the trader role, driven over HTTP (`POST /v1/sign` with the trader's service token). Each
//! request signs a path of its own (`/api/v4/options/positions/durability-<N>`, a read by
//! path), so the `signed` record of request N names N in its `path`.
//!
//! - `sigkill_under_load_loses_no_answered_signature`: 32 clients sign as fast as serve
//!   answers; serve is SIGKILLed under load (after 1.5 s and more than 200 answers), restarted
//!   on the same data directory, loaded and SIGKILLed again, and restarted once more. After
//!   each restart (which copies into the chain what the signer's audit journal held beyond
//!   it) every N answered 200 with a signature has its `signed` record (answered ⊆
//!   recorded), and the chain, with its signed checkpoints and the signer's checkpoint file,
//!   verifies against the custody root's pin.
//! - `a_full_disk_refuses_to_sign_and_recovers`: the data directory on an 8 MiB tmpfs (as
//!   root, as CI runs), with a 1 MiB audit journal, filled to ENOSPC by a file beside it: the
//!   signer signs while its journal takes the records the database cannot, then refuses (503,
//!   no signature) while the audit cannot be written, and serve keeps running; every signature
//!   answered meanwhile has its record; once the file is deleted the same process signs again
//!   and seals the chain with a signed checkpoint again; the chain verifies, and a restarted
//!   serve accepts it and signs.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::api::{Client, Who, login, seal};
use common::serve::Server;
use sealgate_sandbox::Sandbox;
use sealgate_server::service_auth::ServiceKey;
use sealgate_store::Store;
use serde_json::{Value, json};

/// A Gate read whose last segment carries the request's number: classified `read` by its
/// path, so the trader may have it signed; the audit records the path.
const PATH_PREFIX: &str = "/api/v4/options/positions/durability-";
const API_KEY: &str = "durability-gate-key-0001";
/// Sealed at the edge and opened only inside serve; never printed.
const SECRET: &str = "CANARY-durability-gate-secret-5c1e";
/// Concurrent signing clients under load.
const CLIENTS: usize = 32;
/// How long each load runs before the SIGKILL (longer, up to `LOAD_AT_MOST`, until more than
/// `LEAST_ANSWERED` signatures were answered: a slow machine still kills under load).
const LOAD: Duration = Duration::from_millis(1500);
const LOAD_AT_MOST: Duration = Duration::from_secs(15);
/// Fewer answers than this in a load and the test proves nothing: it fails.
const LEAST_ANSWERED: usize = 200;
/// Bound on the waits for recovery (signing again, a checkpoint signed again).
const RECOVERY: Duration = Duration::from_secs(10);
/// The tmpfs the full-disk test fills.
const TMPFS_SIZE: &str = "8m";
/// Requests sent on the full disk at most: past a 1 MiB journal's uses.
const MOST_ON_A_FULL_DISK: u64 = 20_000;

/// Both tests run serve processes on a 2-core machine: one at a time, so the load is real.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn now_s() -> u64 {
    sealgate_server::now_ms() / 1000
}

fn path_of(n: u64) -> String {
    format!("{PATH_PREFIX}{n}")
}

fn sqlite_url(data: &Path) -> String {
    format!("sqlite://{}?mode=rwc", data.join("sealgate.db").display())
}

/// The last lines of serve's output, for failure messages.
fn tail(logs: &str) -> String {
    let lines: Vec<&str> = logs.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// An exchange sandbox with no accounts: the price sources and the Gate URL point at it, so
/// nothing leaves loopback (a signature is handed back, never sent).
async fn sandbox() -> Sandbox {
    Sandbox::start("127.0.0.1:0".parse().expect("addr"), vec![], vec![]).await.expect("sandbox")
}

async fn start(data: &Path, sandbox: &Sandbox) -> Server {
    start_with(data, sandbox, &[]).await
}

async fn start_with(data: &Path, sandbox: &Sandbox, more: &[&str]) -> Server {
    let url = format!("http://{}", sandbox.addr());
    let args: Vec<&str> = ["--allow-sign", "trader"].iter().chain(more).copied().collect();
    Server::start_with(data, None, &url, &["gate"], &args).await
}

/// Signs in with the printed link, seals a Gate credential (scope `read`) to the trader's key
/// of the key set verified against the printed pin, and stores it: (owner, credential id).
async fn gate_credential(server: &Server) -> (String, String) {
    let client = Client::new();
    let me = login(&client, &server.login).await;
    let (s, who) = client.call(&server.base, &me, "GET", "/v1/me", None).await;
    assert_eq!(s, 200, "GET /v1/me: {who}");
    let user = who["id"].as_str().or(who["user_id"].as_str()).expect("user id").to_owned();
    let (s, set) = client.call(&server.base, &Who::Anonymous, "GET", "/v1/recipients", None).await;
    assert_eq!(s, 200, "GET /v1/recipients");
    let keys = sealgate_custody::keyset::verify(set["keyset"].as_str().expect("keyset"), &server.pin, now_s())
        .expect("the key set verifies against the printed pin");
    let cred = json!({"api_key": API_KEY, "api_secret": SECRET}).to_string();
    let cid = sealgate_envelope::new_credential_id().expect("credential id");
    let body = json!({"id": cid, "exchange": "gate", "label": "durability",
        "envelopes": [seal(&keys, "gate", "trader", &user, &cid, "read", &cred)]});
    let (s, created) = client.call(&server.base, &me, "POST", "/v1/credentials", Some(body)).await;
    assert_eq!(s, 201, "POST /v1/credentials: {created}");
    (user, cid)
}

/// The trader calling serve's `POST /v1/sign` for one credential.
#[derive(Clone)]
struct Signing {
    http: reqwest::Client,
    url: String,
    token: String,
    owner: String,
    cid: String,
}

/// What `POST /v1/sign` answered.
#[derive(Debug)]
struct Answer {
    status: u16,
    body: Value,
}

impl Answer {
    /// The body carries a Gate signature (a non-empty `SIGN` header).
    fn has_signature(&self) -> bool {
        self.body["headers"].as_array().is_some_and(|hs| {
            hs.iter().any(|h| {
                h[0].as_str().is_some_and(|k| k.eq_ignore_ascii_case("SIGN"))
                    && h[1].as_str().is_some_and(|v| !v.is_empty())
            })
        })
    }

    /// Request `n` signed: 200, its own path, a signature.
    fn signed(&self, n: u64) -> bool {
        self.status == 200 && self.body["path"] == path_of(n).as_str() && self.has_signature()
    }

    /// A refusal and nothing else: `{"error": …}` without a signature.
    fn bare_refusal(&self) -> bool {
        self.status != 200
            && !self.has_signature()
            && self.body.as_object().is_some_and(|o| o.len() == 1 && o["error"].is_string())
    }
}

impl Signing {
    fn new(server: &Server, owner: &str, cid: &str) -> Signing {
        let key = ServiceKey::load(&server.data.join("service"), "trader").expect("the trader's key serve made");
        Signing {
            http: reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("http"),
            url: format!("{}/v1/sign", server.service),
            token: key.token(now_s()),
            owner: owner.to_owned(),
            cid: cid.to_owned(),
        }
    }

    /// The same calls to a restarted serve (its service port is new), on fresh connections.
    fn to(&self, server: &Server) -> Signing {
        Signing {
            http: reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("http"),
            url: format!("{}/v1/sign", server.service),
            ..self.clone()
        }
    }

    /// Asks for request `n` to be signed; `Err` when no answer came (serve is gone).
    async fn sign(&self, n: u64) -> Result<Answer, String> {
        let call = json!({"owner": self.owner, "credential_id": self.cid,
            "request": {"method": "GET", "path": path_of(n), "query": "", "body": ""}});
        let resp = self
            .http
            .post(&self.url)
            .bearer_auth(&self.token)
            .header("Content-Type", "application/json")
            .body(call.to_string())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let text = resp.text().await.map_err(|e| e.to_string())?;
        Ok(Answer { status, body: serde_json::from_str(&text).unwrap_or(Value::Null) })
    }
}

/// SIGKILLs serve and checks that it was running until then (it died of the signal).
fn sigkill(server: &mut Server) {
    let child = &mut server.proc.child;
    child.kill().expect("SIGKILL serve");
    let status = child.wait().expect("reap serve");
    assert_eq!(status.signal(), Some(9), "serve ended before the SIGKILL ({status}):\n{}", tail(&server.proc.logs()));
}

/// What one client saw during a load.
#[derive(Default)]
struct Seen {
    answered: Vec<u64>,
    /// Anything but a signature for its own request, while serve was running.
    wrong: Vec<String>,
}

/// `CLIENTS` clients sign requests numbered from `next` for `LOAD`, then serve is SIGKILLed
/// while they still send: the numbers answered 200 with a signature of their own path.
async fn load_then_sigkill(server: &mut Server, signing: &Signing, next: &Arc<AtomicU64>) -> BTreeSet<u64> {
    let killing = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (signing, next, killing, count) = (signing.clone(), next.clone(), killing.clone(), count.clone());
            tokio::spawn(async move {
                let mut seen = Seen::default();
                loop {
                    let n = next.fetch_add(1, Ordering::SeqCst);
                    match signing.sign(n).await {
                        Ok(a) if a.signed(n) => {
                            seen.answered.push(n);
                            count.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok(a) => seen.wrong.push(format!("request {n}: {} {}", a.status, a.body)),
                        // The kill: no answer, and every later request is refused a connection.
                        Err(_) if killing.load(Ordering::SeqCst) => return seen,
                        Err(e) => {
                            seen.wrong.push(format!("request {n}: no answer before the kill: {e}"));
                            return seen;
                        }
                    }
                }
            })
        })
        .collect();
    let began = Instant::now();
    tokio::time::sleep(LOAD).await;
    while count.load(Ordering::SeqCst) <= LEAST_ANSWERED && began.elapsed() < LOAD_AT_MOST {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    killing.store(true, Ordering::SeqCst);
    sigkill(server);
    let mut answered = BTreeSet::new();
    let mut wrong = Vec::new();
    for c in clients {
        let seen = c.await.expect("client task");
        answered.extend(seen.answered);
        wrong.extend(seen.wrong);
    }
    assert!(
        wrong.is_empty(),
        "{} answers under load were not a signature of their own request, e.g.:\n{}\nserve:\n{}",
        wrong.len(),
        wrong.iter().take(5).cloned().collect::<Vec<_>>().join("\n"),
        tail(&server.proc.logs())
    );
    assert!(
        answered.len() > LEAST_ANSWERED,
        "only {} signatures answered under load (want more than {LEAST_ANSWERED}): the kill did not come under load",
        answered.len()
    );
    answered
}

/// The store serve keeps in `data` (as `sealgate audit verify --database` opens it).
async fn open_store(data: &Path) -> Store {
    Store::connect(&sqlite_url(data)).await.expect("open serve's store")
}

/// Every `signed` record of the chain in `store`: request number → seq; and how many records
/// the chain has.
async fn recorded(store: &Store) -> (BTreeMap<u64, i64>, usize) {
    let (mut after, mut signed, mut all) = (0, BTreeMap::new(), 0);
    loop {
        let rows = store.audit_range(after, 10_000).await.expect("read the audit chain");
        let Some(last) = rows.last() else { break };
        after = last.seq;
        all += rows.len();
        for r in rows.iter().filter(|r| r.action == "signed") {
            let detail: Value = serde_json::from_str(&r.detail).expect("a record's detail is JSON");
            let n = detail["path"].as_str().and_then(|p| p.strip_prefix(PATH_PREFIX)).and_then(|n| n.parse().ok());
            if let Some(n) = n {
                assert!(signed.insert(n, r.seq).is_none(), "two `signed` records of request {n}");
            }
        }
    }
    (signed, all)
}

/// Every answered number has its `signed` record in the chain in `data`: the number of
/// records.
async fn answered_are_recorded(data: &Path, answered: &BTreeSet<u64>, when: &str) -> usize {
    let store = open_store(data).await;
    let (signed, records) = recorded(&store).await;
    store.close().await;
    let missing: Vec<u64> = answered.iter().filter(|n| !signed.contains_key(n)).copied().collect();
    assert!(
        missing.is_empty(),
        "{when}: {} of {} signatures answered have no `signed` record (e.g. requests {:?}); the chain has {records} \
         records, {} of them `signed` for these requests",
        missing.len(),
        answered.len(),
        &missing[..missing.len().min(10)],
        signed.len()
    );
    records
}

/// `sealgate audit verify` of the chain in `data` pinned to the custody root, with the
/// signer's own checkpoint file when it wrote one: its one-line summary.
fn verify_chain(data: &Path, pin: &str, when: &str) -> String {
    let mut cmd = Command::new(common::BIN);
    cmd.args(["audit", "verify", "--database", &sqlite_url(data), &format!("--pin={pin}")]);
    let checkpoints = data.join("signer-state.checkpoint");
    if checkpoints.exists() {
        cmd.arg("--checkpoints").arg(&checkpoints);
    }
    let out = cmd.output().expect("run sealgate audit verify");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{when}: the audit chain does not verify: {stderr}{stdout}");
    assert!(stdout.starts_with("ok: "), "{when}: {stdout}");
    stdout.trim_end().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_no_answered_signature() {
    let _one = SERIAL.lock().await;
    let dir = common::TempDir::new("durability-kill");
    let data = dir.path("data");
    let sandbox = sandbox().await;
    let mut server = start(&data, &sandbox).await;
    let pin = server.pin.clone();
    let (owner, cid) = gate_credential(&server).await;
    let signing = Signing::new(&server, &owner, &cid);
    let next = Arc::new(AtomicU64::new(1));
    let mut answered = BTreeSet::new();

    for round in 1..=2 {
        let to_this = signing.to(&server);
        let now = load_then_sigkill(&mut server, &to_this, &next).await;
        let when = format!("after SIGKILL {round}");
        answered.extend(now.iter().copied());
        // Restarted on the same data: serve copies into the chain what its audit journal holds
        // beyond it, then verifies the chain against its state file.
        server = start(&data, &sandbox).await;
        assert_eq!(server.pin, pin, "the restarted serve has another custody root");
        // What the crash left: every answered signature is on the record, the chain holds.
        let records = answered_are_recorded(&data, &answered, &when).await;
        let summary = verify_chain(&data, &pin, &when);
        eprintln!(
            "{when}: {} signatures answered ({} in all), {records} records after the restart; {summary}",
            now.len(),
            answered.len()
        );
    }

    // The twice-restarted serve signs, and its record joins the chain.
    let n = next.fetch_add(1, Ordering::SeqCst);
    let a = signing.to(&server).sign(n).await.expect("an answer");
    assert!(a.signed(n), "the restarted serve did not sign request {n}: {} {}", a.status, a.body);
    answered.insert(n);
    sigkill(&mut server);
    server = start(&data, &sandbox).await;
    answered_are_recorded(&data, &answered, "at the end").await;
    verify_chain(&data, &pin, "at the end");
    sigkill(&mut server);
}

/// A tmpfs mounted on a directory, lazily unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts a tmpfs of `size` on `at`; why not, when it cannot.
    fn mount(at: &Path, size: &str) -> Result<Tmpfs, String> {
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700"), "tmpfs"])
            .arg(at)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!("mount -t tmpfs failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
        }
        Ok(Tmpfs(at.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Writes 64 KiB chunks to `path` until the file system refuses: the error must be ENOSPC.
fn fill(path: &Path) -> u64 {
    use std::io::Write as _;
    let mut f = std::fs::File::create(path).expect("create the filler");
    let chunk = vec![0x5a_u8; 64 * 1024];
    let mut written = 0_u64;
    let err = loop {
        match f.write(&chunk) {
            Ok(0) => panic!("the filler wrote nothing and got no error"),
            Ok(k) => written += k as u64,
            Err(e) => break e,
        }
    };
    assert_eq!(err.raw_os_error(), Some(28), "filling the tmpfs ended with {err}, not ENOSPC");
    written
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_to_sign_and_recovers() {
    let _one = SERIAL.lock().await;
    let dir = common::TempDir::new("durability-full");
    let mount_at = dir.path("fs");
    std::fs::create_dir(&mount_at).expect("mount point");
    let _tmpfs = match Tmpfs::mount(&mount_at, TMPFS_SIZE) {
        Ok(t) => t,
        Err(why) if std::env::var_os("CI").is_some() => {
            panic!("a_full_disk_refuses_to_sign_and_recovers needs a tmpfs (root, as CI runs): {why}")
        }
        Err(why) => {
            sealgate_testkit::notice(&format!(
                "SKIPPED a_full_disk_refuses_to_sign_and_recovers: {why} (run as root to mount a tmpfs; under CI \
                 this fails)"
            ));
            return;
        }
    };
    // Everything serve writes (store, keyring, service keys, signer state) is on the tmpfs.
    let data = mount_at.join("data");
    let sandbox = sandbox().await;
    // The smallest audit journal (about 4,000 uses): with the database unable to take records,
    // the signer signs, each use durable in the journal, until it is full; then it refuses.
    let mut server = start_with(&data, &sandbox, &["--audit-journal-mib", "1"]).await;
    let pin = server.pin.clone();
    let (owner, cid) = gate_credential(&server).await;
    let signing = Signing::new(&server, &owner, &cid);
    let mut answered = BTreeSet::new();
    let a = signing.sign(0).await.expect("an answer");
    assert!(a.signed(0), "the first signature, disk not full: {} {}", a.status, a.body);
    answered.insert(0);

    // The disk fills up.
    let filler = mount_at.join("filler");
    let filled = fill(&filler);

    // Signing goes on until the audit cannot be written: then it is refused, with no signature.
    let next = Arc::new(AtomicU64::new(1));
    let refused = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (signing, next, refused) = (signing.clone(), next.clone(), refused.clone());
            tokio::spawn(async move {
                let mut seen: Vec<(u64, Answer)> = Vec::new();
                while !refused.load(Ordering::SeqCst) {
                    let n = next.fetch_add(1, Ordering::SeqCst);
                    if n > MOST_ON_A_FULL_DISK {
                        break;
                    }
                    let a = signing.sign(n).await.unwrap_or_else(|e| panic!("request {n}: no answer: {e}"));
                    if a.status != 200 {
                        refused.store(true, Ordering::SeqCst);
                    }
                    seen.push((n, a));
                }
                seen
            })
        })
        .collect();
    let mut refusals = Vec::new();
    for w in workers {
        for (n, a) in w.await.expect("signing worker") {
            if a.status == 200 {
                assert!(a.signed(n), "request {n} answered 200 on a full disk but not with its signature: {}", a.body);
                answered.insert(n);
            } else {
                refusals.push((n, a));
            }
        }
    }
    let logs = tail(&server.proc.logs());
    assert!(
        !refusals.is_empty(),
        "{} signatures answered with the disk full ({filled} bytes of filler) and none refused: the audit was not \
         written, or not where serve keeps its data\nserve:\n{logs}",
        answered.len() - 1
    );
    for (n, a) in &refusals {
        assert!(a.bare_refusal(), "refused request {n} carries more than its refusal: {} {}", a.status, a.body);
        assert_eq!(
            (a.status, a.body["error"].as_str()),
            (503, Some("unavailable: audit unavailable")),
            "request {n} on a full disk: refused, but not because its audit could not be written\nserve:\n{logs}"
        );
    }
    assert!(
        server.proc.child.try_wait().expect("serve's state").is_none(),
        "serve exited on the full disk:\n{}",
        tail(&server.proc.logs())
    );

    // Space again: the same process signs again (each attempt a request of its own).
    std::fs::remove_file(&filler).expect("delete the filler");
    let deadline = Instant::now() + RECOVERY;
    let mut n = next.fetch_add(1, Ordering::SeqCst).max(MOST_ON_A_FULL_DISK + 1);
    let mut attempts = 1;
    loop {
        let a = signing.sign(n).await.expect("an answer");
        if a.signed(n) {
            answered.insert(n);
            break;
        }
        assert!(a.bare_refusal(), "request {n} after the disk was freed: {} {}", a.status, a.body);
        assert!(
            Instant::now() < deadline,
            "serve still refuses to sign 10 s after the disk was freed: {} {}\nserve:\n{}",
            a.status,
            a.body,
            tail(&server.proc.logs())
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        n += 1;
        attempts += 1;
    }

    // And the chain is sealed again: the record made after the disk was freed reaches the chain
    // (from the journal, after the records the journal kept while the disk was full), and a
    // checkpoint signed by the custody root (serve signs one after a second of quiet) covers it.
    let store = open_store(&data).await;
    let deadline = Instant::now() + RECOVERY;
    loop {
        let (signed, _) = recorded(&store).await;
        let Some(&seq) = signed.get(&n) else {
            assert!(
                Instant::now() < deadline,
                "request {n} was answered but has no `signed` record 10 s after the disk was freed\nserve:\n{}",
                tail(&server.proc.logs())
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let covered = store.latest_tree_checkpoint().await.expect("checkpoints").map_or(0, |c| c.seq);
        if covered >= seq {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no checkpoint signed over seq {seq} (request {n}) 10 s after the disk was freed; the latest covers seq \
             {covered}\nserve:\n{}",
            tail(&server.proc.logs())
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    store.close().await;
    eprintln!(
        "full disk: {} signed before the first refusal, {} refused (503, audit unavailable); after the filler was \
         deleted signing again at attempt {attempts}, and a checkpoint signed over it",
        answered.len() - 2,
        refusals.len()
    );

    // What the process left has every answered signature (those the journal kept while the
    // database could not take them included), and the chain verifies.
    answered_are_recorded(&data, &answered, "after the full disk").await;
    verify_chain(&data, &pin, "after the full disk");
    sigkill(&mut server);
    // A restarted serve accepts the chain (it verifies it against its state file) and signs.
    server = start_with(&data, &sandbox, &["--audit-journal-mib", "1"]).await;
    let n = n + 1;
    let a = signing.to(&server).sign(n).await.expect("an answer");
    assert!(a.signed(n), "the restarted serve did not sign request {n}: {} {}", a.status, a.body);
    answered.insert(n);
    answered_are_recorded(&data, &answered, "after the restart").await;
    let summary = verify_chain(&data, &pin, "after the restart");
    assert!(!summary.contains(" 0 checkpoints verified"), "after the restart: {summary}");
    eprintln!("full disk, after the restart: {summary}");
    sigkill(&mut server);
}
