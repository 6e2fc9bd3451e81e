//! Signer load benchmark, side by side in one session (issue 5 item 9):
//!
//! - the signer's `POST /v1/sign` over loopback (warm cache, a Gate HMAC-SHA512
//!   credential: Binance's `sign` is refused since issue 14; role `trader`, a
//!   real service token), every signature
//!   durably audited (SQLite on a temp dir, group commit, each request
//!   waits for its commit);
//! - a bare echo endpoint merged into the same Router, on the same server,
//!   runtime and process;
//! - the same signer with its audit switched off, on a server of its own (issue 20's
//!   baseline; only with `--features bench-unaudited`, which no server build has);
//! - OpenBao Transit `hmac` (the dev server from `scripts/setup-openbao.sh`),
//!   the closest open-source peer, without and then with a file audit device (the
//!   peer doing the same job: its audit on). Absent, the benchmark fails, unless
//!   `SEALGATE_SKIP_CUSTODY_SERVICES=1` or `SEALGATE_BENCH_ONLY` leaves it out.
//!
//! Issue 20's targets, printed met or MISSED: the audited signer at ≥ 0.8× the unaudited
//! one, ≥ 8× OpenBao with its file audit device, and a p99 under the own client ≤ 2× the
//! echo's (p99.9 reported).
//!
//! Load comes from `wrk` (Debian package; `scripts/setup-wrk.sh`), run as a
//! subprocess with the same threads and connections for all three. After the
//! run the audit chain is verified and holds one `signed` record per signed
//! response. Not a pass/fail test: `cargo bench -p sealgate-server --bench
//! signer_load` measures and prints a table; under `cargo test --all-targets`
//! (no `--bench` argument) it runs a short smoke pass without wrk or OpenBao.
//!
//! Environment: `SEALGATE_BENCH_SECONDS` (default 10), `SEALGATE_BENCH_CONNECTIONS`
//! (default 32), `SEALGATE_BENCH_THREADS` (wrk threads, default 2), `SEALGATE_BENCH_ONLY`
//! (comma list of `inproc`, `echo`, `bao` to run beside the sign run; default all),
//! `SEALGATE_BENCH_BAO` (the `bao` binary; default `.venv-openbao/bin/bao`),
//! `SEALGATE_BENCH_STORE` (`sqlite`, the default, or `postgres`: a fresh database on
//! `SEALGATE_TEST_POSTGRES_ADMIN`, default the local cluster; PostgreSQL also runs two more
//! signer processes on the one database, each with its own audit journal, loaded together:
//! issue 20 item 3).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::routing::post;
use sealgate_custody::Custody;
use sealgate_custody::local::{LocalCustody, MasterKey};
use sealgate_envelope::{Scope, SealRequest, seal_credential};
use sealgate_policy::Role;
use sealgate_server::audit::{AuditLog, CheckpointPolicy};
use sealgate_server::metrics::Metrics;
use sealgate_server::service_auth::{ServiceKey, ServiceVerifier};
use sealgate_server::signer::{Signer, SignerConfig};
use sealgate_store::{NewCredential, NewEnvelope, Store};

/// Gate: an exchange whose signature binds the whole request, so `sign` is
/// allowed for it (Binance's is refused: its signature binds only query and body).
const CID: &str = "bench-gate-1";
const OWNER: &str = "bench-user";
const SIGN_BODY: &str = r#"{"owner":"bench-user","credential_id":"bench-gate-1","request":{"method":"GET","path":"/api/v4/spot/accounts","query":"","body":""}}"#;

/// The bench's own endpoint: returns the body it was given.
async fn echo(body: Bytes) -> Bytes {
    body
}

/// One wrk run, parsed.
#[derive(Debug, Clone, Default)]
struct Run {
    rps: f64,
    p50_us: f64,
    p99_us: f64,
    /// The own client's only (wrk prints no 99.9th percentile).
    p999_us: f64,
    requests: u64,
    non_2xx: u64,
    socket_errors: Option<String>,
    /// CPU spent during the run (wrk's runs only), per response: see [`CpuUse`].
    cpu: Option<CpuUse>,
}

/// Where the CPU went during a run, in µs per response: this process's threads by kind
/// (from each thread's `/proc/self/task/*/schedstat`, ns on a CPU), and the whole machine
/// (`/proc/stat`: the servers, wrk and anything else). On two cores shared with wrk the
/// throughput follows the machine's figure, so the audit's own threads show what a durable
/// record costs beside a request, whatever the request path does.
#[derive(Debug, Clone, Default)]
struct CpuUse {
    /// (thread kind, µs per response), in [`THREAD_KINDS`] order, then "other", then the
    /// PostgreSQL server's processes.
    threads: Vec<(&'static str, f64)>,
    machine: f64,
}

/// Thread kinds by name prefix (a thread's name is cut to 15 bytes in `comm`).
const THREAD_KINDS: [(&str, &str); 6] = [
    ("tokio-rt-worker", "tokio runtime"),
    ("audit-journal", "audit-journal"),
    ("audit-copy", "audit-copy"),
    ("audit-wal", "audit-wal"),
    ("audit-writer", "audit-writer"),
    ("sqlx-sqlite-wor", "sqlx SQLite"),
];

/// CPU ns so far: each thread of this process (by tid, with its kind) and the machine's busy time.
struct CpuSnap {
    threads: HashMap<u32, (&'static str, u64)>,
    /// The local PostgreSQL server's processes (`SEALGATE_BENCH_STORE=postgres`: its share
    /// of the audit is the records' inserts), by pid.
    postgres: HashMap<u32, u64>,
    machine_ns: u64,
}

/// CPU ns of every process named `postgres` (`/proc/*/stat`: utime and stime, in ticks).
fn postgres_ns() -> HashMap<u32, u64> {
    let mut out = HashMap::new();
    for p in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(p.path().join("stat")) else { continue };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else { continue };
        if &stat[open + 1..close] != "postgres" {
            continue;
        }
        // After the name: state is field 3, utime and stime fields 14 and 15.
        let f: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        let ticks = |i: usize| f.get(i - 3).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        out.insert(pid, (ticks(14) + ticks(15)) * 10_000_000);
    }
    out
}

fn cpu_snap() -> CpuSnap {
    let mut threads = HashMap::new();
    for t in std::fs::read_dir("/proc/self/task").into_iter().flatten().flatten() {
        let Some(tid) = t.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let (Ok(name), Ok(stat)) =
            (std::fs::read_to_string(t.path().join("comm")), std::fs::read_to_string(t.path().join("schedstat")))
        else {
            continue;
        };
        let ns = stat.split_whitespace().next().and_then(|v| v.parse().ok()).unwrap_or(0);
        let kind = THREAD_KINDS.iter().find(|(prefix, _)| name.trim().starts_with(prefix)).map_or("other", |k| k.1);
        threads.insert(tid, (kind, ns));
    }
    // user nice system idle iowait irq softirq steal ...: busy is all but idle and iowait, in
    // USER_HZ ticks (100 a second on Linux).
    let machine_ns = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            let ticks: Vec<u64> = s.lines().next()?.split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
            Some(ticks.iter().take(8).enumerate().filter(|(i, _)| *i != 3 && *i != 4).map(|(_, t)| t).sum::<u64>())
        })
        .unwrap_or(0)
        * 10_000_000;
    CpuSnap { threads, postgres: postgres_ns(), machine_ns }
}

impl CpuSnap {
    /// What was spent since `before`, per response (threads that ended in between are lost).
    fn since(&self, before: &CpuSnap, responses: u64) -> CpuUse {
        let per = |ns: u64| ns as f64 / 1e3 / responses.max(1) as f64;
        let mut by_kind: Vec<(&'static str, u64)> =
            THREAD_KINDS.iter().map(|k| (k.1, 0)).chain(std::iter::once(("other", 0))).collect();
        for (tid, (kind, ns)) in &self.threads {
            let was = before.threads.get(tid).map_or(0, |t| t.1);
            if let Some(slot) = by_kind.iter_mut().find(|(k, _)| k == kind) {
                slot.1 += ns.saturating_sub(was);
            }
        }
        let pg: u64 =
            self.postgres.iter().map(|(pid, ns)| ns.saturating_sub(*before.postgres.get(pid).unwrap_or(&0))).sum();
        by_kind.push(("PostgreSQL", pg));
        CpuUse {
            threads: by_kind.into_iter().map(|(k, ns)| (k, per(ns))).collect(),
            machine: per(self.machine_ns.saturating_sub(before.machine_ns)),
        }
    }
}

/// A latency as wrk prints it (`224.00us`, `3.30ms`, `1.02s`, `1.00m`), in µs.
fn wrk_latency_us(s: &str) -> Option<f64> {
    let split = s.find(|c: char| c.is_ascii_alphabetic())?;
    let (num, unit) = s.split_at(split);
    let v: f64 = num.parse().ok()?;
    Some(match unit {
        "us" => v,
        "ms" => v * 1e3,
        "s" => v * 1e6,
        "m" => v * 60e6,
        "h" => v * 3600e6,
        _ => return None,
    })
}

fn parse_wrk(out: &str) -> Result<Run, String> {
    let mut run = Run::default();
    let (mut p50, mut p99, mut rps, mut reqs) = (None, None, None, None);
    for line in out.lines().map(str::trim) {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("50%") => p50 = words.next().and_then(wrk_latency_us),
            Some("99%") => p99 = words.next().and_then(wrk_latency_us),
            Some("Requests/sec:") => rps = words.next().and_then(|w| w.parse::<f64>().ok()),
            Some("Non-2xx") => run.non_2xx = line.rsplit(' ').next().and_then(|w| w.parse().ok()).unwrap_or(0),
            Some("Socket") => run.socket_errors = Some(line.to_owned()),
            Some(first) if line.contains(" requests in ") => reqs = first.parse::<u64>().ok(),
            _ => {}
        }
    }
    match (p50, p99, rps, reqs) {
        (Some(a), Some(b), Some(c), Some(d)) => {
            (run.p50_us, run.p99_us, run.rps, run.requests) = (a, b, c, d);
            Ok(run)
        }
        _ => Err(format!("could not read wrk's output:\n{out}")),
    }
}

fn lua_string(s: &str) -> String {
    // A Lua long string cannot be closed early by our (JSON / token) text.
    assert!(!s.contains("]==]"));
    format!("[==[{s}]==]")
}

/// Writes a wrk script POSTing `body` with `headers`.
fn post_script(dir: &Path, name: &str, body: &str, headers: &[(&str, &str)]) -> PathBuf {
    let mut lua = String::from("wrk.method = \"POST\"\n");
    lua.push_str(&format!("wrk.body = {}\n", lua_string(body)));
    for (k, v) in headers {
        lua.push_str(&format!("wrk.headers[ {} ] = {}\n", lua_string(k), lua_string(v)));
    }
    let path = dir.join(format!("{name}.lua"));
    std::fs::write(&path, lua).expect("write wrk script");
    path
}

struct Load {
    threads: u32,
    connections: u32,
    seconds: u32,
}

impl Load {
    fn wrk(&self, script: &Path, url: &str, seconds: u32) -> Run {
        let before = cpu_snap();
        let out = Command::new("wrk")
            .arg(format!("-t{}", self.threads))
            .arg(format!("-c{}", self.connections))
            .arg(format!("-d{seconds}s"))
            .arg("--latency")
            .arg("-s")
            .arg(script)
            .arg(url)
            .stdin(Stdio::null())
            .output()
            .expect("run wrk");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "wrk failed: {}\n{text}", String::from_utf8_lossy(&out.stderr));
        let mut run = parse_wrk(&text).unwrap_or_else(|e| panic!("{e}"));
        run.cpu = Some(cpu_snap().since(&before, run.requests));
        run
    }
}

fn wrk_present() -> bool {
    Command::new("wrk").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok()
}

/// The signer's world: SQLite on a temp dir, local custody, one Gate credential
/// sealed to `trader`, the audit writer with the `serve` checkpoint policy.
struct World {
    dir: tempfile::TempDir,
    store: Store,
    custody: Arc<dyn Custody>,
    metrics: Arc<Metrics>,
    addr: SocketAddr,
    token: String,
    signer: Arc<Signer>,
    audit: AuditLog,
    /// The store's URL (the two-process run's signers open it too).
    url: String,
    /// Keeps the signer's background audit follow running, as `serve` does.
    _follow: tokio::sync::watch::Sender<bool>,
}

/// `audited: false` is the bench's baseline, the same signer with its audit switched off
/// (feature `bench-unaudited`).
async fn world(audited: bool) -> World {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o700)).expect("chmod");
    let master = MasterKey::generate_key_file(&dir.path().join("master.key")).expect("master key");
    let custody: Arc<dyn Custody> = Arc::new(LocalCustody::init(&dir.path().join("keyring"), master).expect("keyring"));
    let url = match postgres_admin() {
        Some(admin) => fresh_postgres(&admin).await,
        None => format!("sqlite://{}?mode=rwc", dir.path().join("bench.db").display()),
    };
    let store = Store::connect(&url).await.expect("store");
    sealgate_server::serve::sync_recipient_keys(custody.as_ref(), &store).await.expect("recipient keys");
    let key = custody.keys().await.expect("keys").into_iter().find(|k| k.role == "trader").expect("trader key");
    // As `serve` runs a signer: the audit journal in the data directory, a checkpoint signed
    // by the custody root every 1000 records or minute.
    let audit = match audited {
        true => AuditLog::start_journaled(
            store.clone(),
            Some(CheckpointPolicy { custody: custody.clone(), every_records: 1000, every: Duration::from_secs(60) }),
            &dir.path().join("audit.journal"),
            sealgate_server::audit::JOURNAL_SIZE,
        )
        .await
        .expect("audit journal"),
        false => unaudited(),
    };

    store.create_user(OWNER, None).await.expect("user");
    let req = SealRequest {
        sub: OWNER.into(),
        cid: CID.into(),
        exch: "gate".into(),
        aud: "trader".into(),
        scope: Scope::parse_list("read,trade").expect("scope"),
        iat: sealgate_server::now_ms() / 1000,
        own: None,
    };
    let cred = r#"{"api_key":"BENCH-gate-key-0001","api_secret":"BENCH-gate-secret-0001"}"#;
    let (jwe, _) = seal_credential(cred.as_bytes(), &key.public, &req).expect("seal");
    let kid = key.public.kid().expect("kid").to_owned();
    store
        .create_credential(
            &NewCredential {
                id: CID,
                owner: OWNER,
                exchange: "gate",
                label: "bench",
                hint: "0001",
                scope: "read,trade",
            },
            &[NewEnvelope { role: "trader", kid: &kid, jwe: &jwe }],
        )
        .await
        .expect("credential");

    let metrics = Arc::new(Metrics::default());
    let cfg = SignerConfig { sign_allowed: vec![Role::Trader], ..SignerConfig::default() };
    let signer =
        Arc::new(Signer::new(store.clone(), custody.clone(), audit.clone(), metrics.clone(), cfg).expect("signer"));
    let (trader, _) = ServiceKey::generate("trader").expect("service key");
    let verifier = Arc::new(ServiceVerifier::new(HashMap::from([("trader".to_owned(), trader.public_key())])));
    let token = trader.token(sealgate_server::now_ms() / 1000);

    // One Router, one server: the signer's routes and the echo.
    let app = signer.clone().router(verifier).merge(Router::new().route("/echo", post(echo)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await });
    let (_follow, stop) = tokio::sync::watch::channel(false);
    tokio::spawn(signer.clone().run_audit_follow(stop));
    World { dir, store, custody, metrics, addr, token, signer, audit, url, _follow }
}

#[cfg(feature = "bench-unaudited")]
fn unaudited() -> AuditLog {
    AuditLog::off_for_bench()
}

#[cfg(not(feature = "bench-unaudited"))]
fn unaudited() -> AuditLog {
    unreachable!("an unaudited signer needs the bench-unaudited feature")
}

/// `SEALGATE_BENCH_STORE=postgres`: the store on PostgreSQL (admin URL
/// `SEALGATE_TEST_POSTGRES_ADMIN`, default the local cluster), in a fresh database per world,
/// dropped at the end. Otherwise SQLite on a temp dir.
fn postgres_admin() -> Option<String> {
    match std::env::var("SEALGATE_BENCH_STORE").as_deref() {
        Ok("postgres") => Some(
            std::env::var("SEALGATE_TEST_POSTGRES_ADMIN")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned()),
        ),
        Ok("sqlite") | Err(_) => None,
        Ok(other) => panic!("SEALGATE_BENCH_STORE={other}: sqlite or postgres"),
    }
}

/// The databases this run created, dropped by [`drop_postgres`].
static CREATED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

async fn fresh_postgres(admin: &str) -> String {
    use sqlx::Connection as _;
    let mut c = sqlx::PgConnection::connect(admin).await.expect("PostgreSQL admin connection");
    let name = {
        let mut created = CREATED.lock().expect("created");
        let name = format!("sealgate_bench_{}_{}", std::process::id(), created.len());
        created.push(name.clone());
        name
    };
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut c).await.expect("create the bench database");
    let _ = c.close().await;
    let (base, _) = admin.rsplit_once('/').expect("admin URL ends in /DATABASE");
    format!("{base}/{name}")
}

async fn drop_postgres() {
    use sqlx::Connection as _;
    let Some(admin) = postgres_admin() else { return };
    let names = std::mem::take(&mut *CREATED.lock().expect("created"));
    let Ok(mut c) = sqlx::PgConnection::connect(&admin).await else { return };
    for name in names {
        let _ = sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)")).execute(&mut c).await;
    }
    let _ = c.close().await;
}

/// Records in the store's chain: (`signed`, any other action).
async fn count_records(store: &Store) -> (u64, u64) {
    let (mut after, mut signed, mut other) = (0, 0, 0);
    loop {
        let rows = store.audit_range(after, 10_000).await.expect("audit range");
        let Some(last) = rows.last() else { return (signed, other) };
        after = last.seq;
        let s = rows.iter().filter(|r| r.action == "signed").count();
        signed += s as u64;
        other += (rows.len() - s) as u64;
    }
}

/// `signed` records in the store's chain, once the journal's are all copied into it.
async fn signed_records(w: &World) -> u64 {
    w.audit.flush().await.expect("the audit copy");
    count_records(&w.store).await.0
}

/// Waits until the signer has answered everything in flight (wrk drops its last
/// requests unanswered when its time is up; the server still finishes them).
async fn settle(metrics: &Metrics) -> u64 {
    let mut last = metrics.signer_signed_total.load(Ordering::SeqCst);
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = metrics.signer_signed_total.load(Ordering::SeqCst);
        if now == last {
            return now;
        }
        last = now;
    }
}

/// The same signer with its audit switched off, on a server of its own: one wrk run of its
/// `/v1/sign` after a warm-up, then one of the own client (the p99 the audit is held to).
/// `None` without the `bench-unaudited` feature.
async fn unaudited_run(load: &Load, scripts: &Path) -> Option<(Run, Run)> {
    if !cfg!(feature = "bench-unaudited") {
        return None;
    }
    let u = world(false).await;
    let auth = format!("Bearer {}", u.token);
    let json = [("Content-Type", "application/json"), ("Authorization", auth.as_str())];
    let lua = post_script(scripts, "sign-unaudited", SIGN_BODY, &json);
    let url = format!("http://{}/v1/sign", u.addr);
    let warm = load.wrk(&lua, &url, 1);
    assert_eq!(warm.non_2xx, 0, "the unaudited signer answered errors");
    let run = load.wrk(&lua, &url, load.seconds);
    assert_eq!(run.non_2xx, 0, "the unaudited signer answered errors");
    // Switched off means off: not one record.
    assert_eq!(count_records(&u.store).await, (0, 0), "the unaudited signer wrote audit records");
    let own = own_client(u.addr, "/v1/sign", SIGN_BODY, &json, load, scripts);
    assert_eq!(own.non_2xx, 0, "the unaudited signer answered the own client errors");
    u.store.close().await;
    Some((run, own))
}

/// One OpenBao dev server (`audited`: with a file audit device), Transit `hmac` under wrk.
async fn bao_run(bin: &Path, audited: bool, load: &Load, scripts: &Path) -> Run {
    // Installed but not starting: a broken setup, not a skip.
    let bao = start_bao(bin, audited).await.unwrap_or_else(|e| panic!("the OpenBao dev server did not start: {e}"));
    let body = bao_hmac_body();
    let hdrs = [("Content-Type", "application/json"), ("X-Vault-Token", bao.token.as_str())];
    let lua = post_script(scripts, if audited { "bao-audited" } else { "bao" }, &body, &hdrs);
    let url = format!("http://{}/v1/transit/hmac/bench", bao.addr);
    let r = reqwest::Client::new()
        .post(&url)
        .header("X-Vault-Token", &bao.token)
        .body(body.clone())
        .send()
        .await
        .expect("bao hmac");
    let status = r.status();
    let text = r.text().await.unwrap_or_default();
    assert!(status.is_success() && text.contains("vault:v1:"), "{status} {text}");
    let r = load.wrk(&lua, &url, 1);
    assert_eq!(r.non_2xx, 0, "OpenBao answered errors to wrk's requests");
    let run = load.wrk(&lua, &url, load.seconds);
    if let Some(log) = &bao.audit_log {
        // The device was on: every request is a line (request and response entries).
        let lines = std::fs::read(log).map(|b| b.iter().filter(|&&c| c == b'\n').count()).unwrap_or(0);
        assert!(lines as u64 >= run.requests, "OpenBao's audit log has {lines} lines for {} requests", run.requests);
    }
    run
}

/// An OpenBao dev server, killed on drop.
struct Bao {
    child: Child,
    addr: String,
    token: String,
    /// The file audit device's log, when it has one.
    audit_log: Option<PathBuf>,
    _dir: tempfile::TempDir,
}

impl Drop for Bao {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn bao_binary() -> PathBuf {
    std::env::var_os("SEALGATE_BENCH_BAO")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv-openbao/bin/bao"))
}

/// `audited`: with a file audit device, from a configuration file beside `-dev` (OpenBao 2.x
/// enables audit devices only there; `bao audit enable` is refused).
async fn start_bao(bin: &Path, audited: bool) -> Result<Bao, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut config = Vec::new();
    if audited {
        let file = dir.path().join("bao.hcl");
        let log = dir.path().join("audit.log");
        let hcl = format!(
            "audit \"file\" \"bench\" {{\n  options {{\n    file_path = {:?}\n  }}\n}}\n",
            log.display().to_string()
        );
        std::fs::write(&file, hcl).map_err(|e| e.to_string())?;
        config.push(format!("-config={}", file.display()));
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?;
    let addr = format!("127.0.0.1:{}", port.port());
    let token = format!("root-bench-{}", sealgate_server::now_ms());
    let log = std::fs::File::create(dir.path().join("bao.log")).map_err(|e| e.to_string())?;
    let child = Command::new(bin)
        .args(["server", "-dev", "-dev-no-store-token"])
        .arg(format!("-dev-root-token-id={token}"))
        .arg(format!("-dev-listen-address={addr}"))
        .args(&config)
        .env("HOME", dir.path())
        .env_remove("VAULT_TOKEN")
        .env_remove("BAO_TOKEN")
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log)
        .spawn()
        .map_err(|e| format!("spawn {}: {e}", bin.display()))?;
    let audit_log = audited.then(|| dir.path().join("audit.log"));
    let bao = Bao { child, addr, token, audit_log, _dir: dir };
    let http = reqwest::Client::new();
    let base = format!("http://{}", bao.addr);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = http.get(format!("{base}/v1/sys/health")).send().await
            && r.status() == 200
        {
            break;
        }
        if Instant::now() > deadline {
            return Err("OpenBao dev server did not become healthy in 30 s".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let admin = |path: &str, body: &str| {
        http.post(format!("{base}{path}")).header("X-Vault-Token", &bao.token).body(body.to_owned()).send()
    };
    let r = admin("/v1/sys/mounts/transit", r#"{"type":"transit"}"#).await.map_err(|e| e.to_string())?;
    if !r.status().is_success() {
        return Err(format!("enable transit: {}", r.status()));
    }
    let r = admin("/v1/transit/keys/bench", r#"{"type":"aes256-gcm96"}"#).await.map_err(|e| e.to_string())?;
    if !r.status().is_success() {
        return Err(format!("create transit key: {}", r.status()));
    }
    Ok(bao)
}

/// The HMAC input the peer computes: about what the signer signs for `/api/v3/account`.
fn bao_hmac_body() -> String {
    use base64::Engine as _;
    let input = format!("timestamp={}&recvWindow=5000", sealgate_server::now_ms());
    format!(r#"{{"input":"{}"}}"#, base64::engine::general_purpose::STANDARD.encode(input))
}

fn env_u32(name: &str, default: u32) -> u32 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Where each run's CPU went, and the ratio the audit's own threads leave possible: were the
/// audited request path as cheap as the unaudited one, a CPU-bound machine would spend the
/// unaudited run's figure plus theirs on each response.
fn cpu_table(runs: &[(&str, &Run)], unaudited: Option<&Run>, cores: usize) {
    let named: Vec<(&str, &Run)> =
        runs.iter().copied().chain(unaudited.map(|u| ("signer, audit switched off", u))).collect();
    let Some(kinds) = named.iter().find_map(|(_, r)| r.cpu.as_ref()) else { return };
    println!();
    print!("| CPU per response, µs |");
    for (k, _) in &kinds.threads {
        print!(" {k} |");
    }
    println!(" machine (wrk too) | machine busy |");
    println!("|---|{}---:|---:|", "---:|".repeat(kinds.threads.len()));
    for (name, r) in &named {
        let Some(c) = &r.cpu else { continue };
        print!("| {name} |");
        for (_, us) in &c.threads {
            print!(" {us:.1} |");
        }
        println!(" {:.1} | {:.0}% |", c.machine, c.machine * r.rps / 1e4 / cores as f64);
    }
    let (Some(u), Some(a)) = (unaudited.and_then(|u| u.cpu.as_ref()), runs.get(1).and_then(|r| r.1.cpu.as_ref()))
    else {
        return;
    };
    let store_side = |k: &str| k.starts_with("audit-") || k == "sqlx SQLite" || k == "PostgreSQL";
    let own: f64 = a.threads.iter().filter(|(k, _)| store_side(k)).map(|t| t.1).sum();
    let unaudited_own: f64 = u.threads.iter().filter(|(k, _)| store_side(k)).map(|t| t.1).sum();
    let extra = (own - unaudited_own).max(0.0);
    println!(
        "ceiling: the audit's own threads (journal, copy, WAL, SQLite; the PostgreSQL server) spend {extra:.1} µs \
         a response beyond the unaudited run's; with the request path no dearer than unaudited ({:.1} µs of machine CPU a response), \
         a CPU-bound run reaches at most {:.2}x the unaudited throughput",
        u.machine,
        u.machine / (u.machine + extra)
    );
}

fn fmt_us(us: f64) -> String {
    if us >= 1000.0 { format!("{:.2} ms", us / 1000.0) } else { format!("{us:.0} µs") }
}

/// The signer without HTTP: `tasks` callers of [`Signer::sign`] in this runtime for
/// `duration` (what the audited signature path alone sustains on these cores).
async fn in_process(signer: &Arc<Signer>, tasks: u32, duration: Duration) -> Run {
    let call: sealgate_server::client::ForwardCall = serde_json::from_str(SIGN_BODY).expect("call");
    let started = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let (signer, call) = (signer.clone(), call.clone());
        handles.push(tokio::spawn(async move {
            let mut times = Vec::new();
            while started.elapsed() < duration {
                let t = Instant::now();
                signer.sign(Role::Trader, &call).await.expect("sign");
                times.push(t.elapsed().as_secs_f64() * 1e6);
            }
            times
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.expect("task"));
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_by(f64::total_cmp);
    let pct = |p: f64| all.get(((all.len() as f64 - 1.0) * p) as usize).copied().unwrap_or(f64::NAN);
    Run {
        rps: all.len() as f64 / elapsed,
        p50_us: pct(0.5),
        p99_us: pct(0.99),
        requests: all.len() as u64,
        ..Run::default()
    }
}

/// Under `cargo test`: a few requests through the same stack, audit checked; no wrk.
async fn smoke(w: &World) {
    let http = reqwest::Client::new();
    let base = format!("http://{}", w.addr);
    let before = signed_records(w).await;
    for _ in 0..20 {
        let r = http
            .post(format!("{base}/v1/sign"))
            .bearer_auth(&w.token)
            .header("content-type", "application/json")
            .body(SIGN_BODY)
            .send()
            .await
            .expect("sign");
        assert_eq!(r.status(), 200);
        let r = http.post(format!("{base}/echo")).body(SIGN_BODY).send().await.expect("echo");
        assert_eq!(r.bytes().await.expect("echo body").as_ref(), SIGN_BODY.as_bytes());
    }
    assert_eq!(signed_records(w).await - before, 20);
    // The own client, briefly: every answer it counted is a signature on the record.
    let dir = tempfile::tempdir().expect("temp dir");
    let auth = format!("Bearer {}", w.token);
    let headers = [("Content-Type", "application/json"), ("Authorization", auth.as_str())];
    let load = Load { threads: 2, connections: 4, seconds: 1 };
    let before = signed_records(w).await;
    let run = own_client(w.addr, "/v1/sign", SIGN_BODY, &headers, &load, dir.path());
    assert!(run.requests > 0 && run.non_2xx == 0, "{run:?}");
    assert_eq!(signed_records(w).await - before, run.requests, "one record per answer");
    println!(
        "signer_load smoke pass: 20 signatures, 20 echoes, 20 `signed` records; own client {} signatures \
         (run with cargo bench to measure)",
        run.requests
    );
}

/// Whether `target` is to run: `SEALGATE_BENCH_ONLY` (a comma list of inproc, echo, bao;
/// the HTTP sign run always runs) or all of them.
fn only(target: &str) -> bool {
    std::env::var("SEALGATE_BENCH_ONLY").map_or(true, |v| v.split(',').any(|t| t.trim() == target))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--client") {
        return client_main(&args[2..]);
    }
    if args.get(1).map(String::as_str) == Some("--signer") {
        return signer_main(&args[2..]);
    }
    // `cargo bench` passes --bench; `cargo test --all-targets` does not.
    let measuring = args.iter().any(|a| a == "--bench");
    let workers = std::thread::available_parallelism().map_or(2, usize::from);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build().expect("runtime");
    rt.block_on(async {
        let w = world(true).await;
        let base = format!("http://{}", w.addr);

        // Warm the cache (the one unseal) and check the answer is a signature.
        let http = reqwest::Client::new();
        let r = http
            .post(format!("{base}/v1/sign"))
            .bearer_auth(&w.token)
            .header("content-type", "application/json")
            .body(SIGN_BODY)
            .send()
            .await
            .expect("warm-up sign");
        let status = r.status();
        let text = r.text().await.unwrap_or_default();
        assert_eq!(status, 200, "{text}");
        assert!(text.contains("[\"SIGN\","), "not a Gate signature: {text}");

        if !measuring {
            smoke(&w).await;
            w.store.close().await;
            drop_postgres().await;
            return;
        }
        assert!(
            wrk_present(),
            "wrk is not installed: run scripts/setup-wrk.sh (apt-get install -y wrk)"
        );
        let load = Load {
            threads: env_u32("SEALGATE_BENCH_THREADS", 2),
            connections: env_u32("SEALGATE_BENCH_CONNECTIONS", 32),
            seconds: env_u32("SEALGATE_BENCH_SECONDS", 10),
        };
        let scripts = tempfile::tempdir().expect("script dir");
        let auth = format!("Bearer {}", w.token);
        let json = [("Content-Type", "application/json"), ("Authorization", auth.as_str())];
        let sign_lua = post_script(scripts.path(), "sign", SIGN_BODY, &json);
        let echo_lua = post_script(scripts.path(), "echo", SIGN_BODY, &json);
        println!(
            "signer_load: wrk -t{} -c{} -d{}s --latency, {} runtime workers, {} cores shared by wrk and the servers; \
             the store on {}",
            load.threads,
            load.connections,
            load.seconds,
            workers,
            workers,
            if postgres_admin().is_some() { "PostgreSQL" } else { "SQLite (synchronous=FULL)" }
        );

        // Short warm-up of both paths (not measured).
        for (lua, path) in [(&echo_lua, "/echo"), (&sign_lua, "/v1/sign")] {
            let r = load.wrk(lua, &format!("{base}{path}"), 1);
            assert_eq!(r.non_2xx, 0, "{path} answered errors to wrk's requests");
        }

        let inproc_run = match only("inproc") {
            true => in_process(&w.signer, load.connections, Duration::from_secs(u64::from(load.seconds))).await,
            false => Run::default(),
        };
        let echo_run = match only("echo") {
            true => load.wrk(&echo_lua, &format!("{base}/echo"), load.seconds),
            false => Run::default(),
        };
        let signed_before = settle(&w.metrics).await;
        let rows_before = signed_records(&w).await;
        let sign_run = load.wrk(&sign_lua, &format!("{base}/v1/sign"), load.seconds);
        let signed_after = settle(&w.metrics).await;
        let rows_after = signed_records(&w).await;

        // The baseline: the same signer with its audit switched off, on its own server.
        let (unaudited_run, own_unaudited) = unaudited_run(&load, scripts.path()).await.unzip();

        // Issue 20 item 3: two signer processes on the one PostgreSQL database (the scaled
        // deployment), each with its own journal, wrk's connections split between them.
        let two = match postgres_admin() {
            Some(_) => Some(two_signers(&w, &load, scripts.path()).await),
            None => None,
        };

        let bin = bao_binary();
        let (bao_run, bao_audited_run) = if !only("bao") {
            (None, None)
        } else if bin.exists() {
            (Some(bao_run(&bin, false, &load, scripts.path()).await), Some(bao_run(&bin, true, &load, scripts.path()).await))
        } else {
            sealgate_testkit::skip_or_fail(
                "SEALGATE_SKIP_CUSTODY_SERVICES",
                "the OpenBao Transit rows of the signer benchmark",
                &format!("no bao binary at {}", bin.display()),
                "run `bash scripts/setup-openbao.sh` (or set SEALGATE_BENCH_BAO, or leave `bao` out of SEALGATE_BENCH_ONLY)",
            );
            (None, None)
        };

        println!();
        println!("| target | req/s | p50 | p99 | responses | non-2xx |");
        println!("|---|---:|---:|---:|---:|---:|");
        let row = |name: &str, r: &Run| {
            println!(
                "| {name} | {:.0} | {} | {} | {} | {} |",
                r.rps,
                fmt_us(r.p50_us),
                fmt_us(r.p99_us),
                r.requests,
                r.non_2xx
            );
            if let Some(e) = &r.socket_errors {
                println!("|   ({e}) | | | | | |");
            }
        };
        row("echo (same server)", &echo_run);
        row("signer /v1/sign, durably audited", &sign_run);
        if let Some(u) = &unaudited_run {
            row("signer /v1/sign, audit switched off (bench-only)", u);
        }
        if let Some(t) = &two {
            row("two signer processes, durably audited (sum; the slower p50/p99)", t);
        }
        row("signer in-process, no HTTP (callers = connections)", &inproc_run);
        if let Some(b) = &bao_run {
            row("OpenBao transit/hmac, no audit device", b);
        }
        if let Some(b) = &bao_audited_run {
            row("OpenBao transit/hmac, file audit device", b);
        }
        println!();
        let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
        match &unaudited_run {
            Some(u) => {
                let cost = sign_run.rps / u.rps;
                println!("audited/unaudited signer  {cost:>6.2}x  (target >= 0.8x: {})", verdict(cost >= 0.8));
            }
            None => println!("audited/unaudited signer     n/a  (add --features bench-unaudited)"),
        }
        match &bao_audited_run {
            Some(b) => {
                let peer = sign_run.rps / b.rps;
                println!("signer/OpenBao hmac+audit {peer:>6.2}x  (target >= 8x:   {})", verdict(peer >= 8.0));
            }
            None => println!("signer/OpenBao hmac+audit    n/a  (OpenBao not run)"),
        }
        if let Some(b) = &bao_run {
            println!("signer/OpenBao hmac       {:>6.2}x  (no audit device; for comparison)", sign_run.rps / b.rps);
        }
        println!("signer/echo throughput    {:>6.2}x  (for comparison)", sign_run.rps / echo_run.rps);
        cpu_table(&[("echo", &echo_run), ("signer, durably audited", &sign_run)], unaudited_run.as_ref(), workers);

        // "Durably audited" checked, not assumed: each signed response wrk saw has its record,
        // the records match the signer's count exactly, and the whole chain verifies.
        let ok_responses = sign_run.requests - sign_run.non_2xx;
        let records = rows_after - rows_before;
        let answered = signed_after - signed_before;
        println!();
        println!(
            "audit: {records} `signed` records, {answered} signatures answered by the signer, \
             {ok_responses} counted by wrk (up to {} left in flight when wrk stopped)",
            load.connections
        );
        assert_eq!(sign_run.non_2xx, 0, "the signer refused requests under load");
        // Each answer was committed first; a request whose connection wrk closed while it
        // waited for its commit is recorded but never answered (at most one per connection).
        assert!(answered >= ok_responses, "signer answered {answered} < wrk's {ok_responses}");
        assert!(
            records >= answered && records <= answered + u64::from(load.connections),
            "{records} `signed` records for {answered} answers ({ok_responses} counted by wrk)"
        );

        // The same two targets under a client that times every request itself (see
        // `client_main`): a second opinion on the latencies wrk prints.
        let own_echo = own_client(w.addr, "/echo", SIGN_BODY, &json, &load, scripts.path());
        let own_sign = own_client(w.addr, "/v1/sign", SIGN_BODY, &json, &load, scripts.path());
        assert_eq!(own_sign.non_2xx + own_echo.non_2xx, 0, "errors under the own client");
        println!();
        println!("| own client (closed loop, 2 threads, same connections) | req/s | p50 | p99 | p99.9 | responses |");
        println!("|---|---:|---:|---:|---:|---:|");
        let own_rows = [("echo", Some(&own_echo)), ("signer /v1/sign, durably audited", Some(&own_sign))];
        let off = ("signer /v1/sign, audit switched off (bench-only)", own_unaudited.as_ref());
        for (name, r) in own_rows.into_iter().chain(std::iter::once(off)) {
            let Some(r) = r else { continue };
            println!(
                "| {name} | {:.0} | {} | {} | {} | {} |",
                r.rps,
                fmt_us(r.p50_us),
                fmt_us(r.p99_us),
                fmt_us(r.p999_us),
                r.requests
            );
        }
        let (tput, tail) = (own_sign.rps / own_echo.rps, own_sign.p99_us / own_echo.p99_us);
        println!(
            "own client: signer/echo throughput {tput:.2}x, p99 {tail:.2}x (target <= 2x: {}), p99.9 {:.2}x",
            verdict(tail <= 2.0),
            own_sign.p999_us / own_echo.p999_us
        );
        if let Some(u) = &own_unaudited {
            // The floor under the target: the signer with no audit at all, same client.
            println!(
                "own client: unaudited signer/echo p99 {:.2}x, p99.9 {:.2}x (the audit's part: audited/unaudited p99 {:.2}x)",
                u.p99_us / own_echo.p99_us,
                u.p999_us / own_echo.p999_us,
                own_sign.p99_us / u.p99_us
            );
        }

        let root = sealgate_audit::RootKey::from_jwk(&w.custody.root_public().await.expect("root")).expect("root key");
        let pin = root.thumbprint();
        let started = Instant::now();
        let summary = sealgate_server::audit::verify_store(&w.store, sealgate_audit::jsonl::Trust::Pin(&pin))
            .await
            .expect("the audit chain verifies");
        let (signed, other) = count_records(&w.store).await;
        assert_eq!(summary.records, signed + other, "{summary:?}");
        println!(
            "audit chain verified: {} records, {} checkpoints signed by the custody root verified ({:.1} s)",
            summary.records,
            summary.checkpoints_verified,
            started.elapsed().as_secs_f64()
        );
        w.store.close().await;
        drop_postgres().await;
    });
}

/// Two more signer processes (`--signer`) on `w`'s database, custody and credential, loaded
/// at once by two wrk runs of half the connections each; checks that every answer of both has
/// its `signed` record in the one chain, which still verifies.
async fn two_signers(w: &World, load: &Load, scripts: &Path) -> Run {
    use std::io::{BufRead as _, Read as _};
    let before = signed_records(w).await;
    let exe = std::env::current_exe().expect("the bench binary");
    let mut children: Vec<(Child, String, String)> = (0..2)
        .map(|i| {
            let mut child = Command::new(&exe)
                .args(["--signer", &w.url, &w.dir.path().display().to_string(), &i.to_string()])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("a signer process");
            let mut line = String::new();
            std::io::BufReader::new(child.stdout.as_mut().expect("stdout")).read_line(&mut line).expect("its address");
            let (addr, token) = line.trim().split_once(' ').expect("ADDR TOKEN");
            (child, addr.to_owned(), token.to_owned())
        })
        .collect();
    let half = Load { threads: 1, connections: load.connections / 2, seconds: load.seconds };
    let runs: Vec<Run> = std::thread::scope(|scope| {
        let jobs: Vec<_> = children
            .iter()
            .enumerate()
            .map(|(i, (_, addr, token))| {
                let auth = format!("Bearer {token}");
                let json = [("Content-Type", "application/json"), ("Authorization", auth.as_str())];
                let lua = post_script(scripts, &format!("sign-{i}"), SIGN_BODY, &json);
                let url = format!("http://{addr}/v1/sign");
                let warm = half.wrk(&lua, &url, 1);
                assert_eq!(warm.non_2xx, 0, "signer process {i} answered errors");
                let half = &half;
                scope.spawn(move || half.wrk(&lua, &url, half.seconds))
            })
            .collect();
        jobs.into_iter().map(|j| j.join().expect("wrk")).collect()
    });
    // Stop them: each settles, copies its journal into the chain, and says what it answered.
    let mut answered = 0u64;
    for (mut child, _, _) in children.drain(..) {
        drop(child.stdin.take());
        let mut out = String::new();
        child.stdout.take().expect("stdout").read_to_string(&mut out).expect("its count");
        assert!(child.wait().expect("signer process").success(), "a signer process failed");
        answered += out.trim().parse::<u64>().expect("signatures answered");
    }
    let records = signed_records(w).await - before;
    // The warm-ups' answers are in both counts; a request whose connection wrk dropped at the
    // end of a run may be recorded and never answered (one per connection at most, in each of
    // the two runs: the warm-up and the measured one).
    assert!(
        records >= answered && records <= answered + 2 * u64::from(load.connections),
        "two signer processes: {records} `signed` records for {answered} answers"
    );
    println!("two signer processes: {records} `signed` records for {answered} signatures answered");
    let worst = |f: fn(&Run) -> f64| runs.iter().map(f).fold(0.0, f64::max);
    Run {
        rps: runs.iter().map(|r| r.rps).sum(),
        p50_us: worst(|r| r.p50_us),
        p99_us: worst(|r| r.p99_us),
        requests: runs.iter().map(|r| r.requests).sum(),
        non_2xx: runs.iter().map(|r| r.non_2xx).sum(),
        ..Run::default()
    }
}

/// `signer_load --signer DB_URL DIR N`: one more signer on the bench's database and custody
/// (the keyring in DIR), its own audit journal (`DIR/audit-N.journal`) and service key, as
/// `serve --roles signer` runs one: prints `ADDR TOKEN`, serves until its stdin closes, then
/// copies its journal into the chain and prints the signatures it answered.
fn signer_main(args: &[String]) {
    let [url, dir, n] = args else { panic!("usage: --signer DB_URL DIR N") };
    let dir = PathBuf::from(dir);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(async move {
        let master = MasterKey::from_key_file(&dir.join("master.key")).expect("master key");
        let custody: Arc<dyn Custody> = Arc::new(LocalCustody::open(&dir.join("keyring"), master).expect("keyring"));
        let store = Store::connect(url).await.expect("store");
        let policy = CheckpointPolicy { custody: custody.clone(), every_records: 1000, every: Duration::from_secs(60) };
        let journal = dir.join(format!("audit-{n}.journal"));
        let audit =
            AuditLog::start_journaled(store.clone(), Some(policy), &journal, sealgate_server::audit::JOURNAL_SIZE)
                .await
                .expect("audit journal");
        let metrics = Arc::new(Metrics::default());
        let cfg = SignerConfig { sign_allowed: vec![Role::Trader], ..SignerConfig::default() };
        let signer =
            Arc::new(Signer::new(store.clone(), custody, audit.clone(), metrics.clone(), cfg).expect("signer"));
        let (_follow, stop) = tokio::sync::watch::channel(false);
        tokio::spawn(signer.clone().run_audit_follow(stop));
        let (trader, _) = ServiceKey::generate("trader").expect("service key");
        let verifier = Arc::new(ServiceVerifier::new(HashMap::from([("trader".to_owned(), trader.public_key())])));
        let token = trader.token(sealgate_server::now_ms() / 1000);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = signer.router(verifier);
        tokio::spawn(
            async move { axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await },
        );
        println!("{addr} {token}");
        tokio::task::spawn_blocking(|| {
            let mut rest = Vec::new();
            let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut rest);
        })
        .await
        .expect("stdin");
        let answered = settle(&metrics).await;
        audit.flush().await.expect("the audit copy");
        println!("{answered}");
    });
}

/// `signer_load --client ADDR SECONDS CONNECTIONS REQUEST_FILE`: a closed-loop HTTP/1.1
/// keep-alive client in its own process (like wrk), which times every request itself and
/// prints `client: <requests> <non-2xx> <seconds> <p50 µs> <p99 µs> <mean µs> <p99.9 µs>`. It exists
/// because wrk 4.1's latency figures contradicted its own request count in runs with
/// stalls (a mean above what 32 connections allow).
fn client_main(args: &[String]) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let [addr, seconds, connections, request] = args else { panic!("usage: --client ADDR SECONDS CONNECTIONS FILE") };
    let addr: SocketAddr = addr.parse().expect("address");
    let seconds: u64 = seconds.parse().expect("seconds");
    let connections: usize = connections.parse().expect("connections");
    let request = Arc::new(std::fs::read(request).expect("request file"));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(async move {
        let started = Instant::now();
        let deadline = started + Duration::from_secs(seconds);
        let mut tasks = Vec::new();
        for _ in 0..connections {
            let request = request.clone();
            tasks.push(tokio::spawn(async move {
                let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
                s.set_nodelay(true).expect("nodelay");
                let (mut times, mut non_2xx, mut buf) = (Vec::new(), 0u64, Vec::with_capacity(16 * 1024));
                while Instant::now() < deadline {
                    let t = Instant::now();
                    s.write_all(&request).await.expect("write");
                    buf.clear();
                    let total = loop {
                        if let Some(n) = response_length(&buf)
                            && buf.len() >= n
                        {
                            break n;
                        }
                        let mut chunk = [0u8; 8192];
                        let n = s.read(&mut chunk).await.expect("read");
                        assert!(n > 0, "the server closed the connection");
                        buf.extend_from_slice(&chunk[..n]);
                    };
                    assert_eq!(buf.len(), total, "one response per request");
                    if !buf.starts_with(b"HTTP/1.1 2") {
                        non_2xx += 1;
                    }
                    times.push(t.elapsed().as_micros() as u64);
                }
                (times, non_2xx)
            }));
        }
        let (mut all, mut non_2xx) = (Vec::new(), 0);
        for t in tasks {
            let (times, n) = t.await.expect("client task");
            all.extend(times);
            non_2xx += n;
        }
        let elapsed = started.elapsed().as_secs_f64();
        all.sort_unstable();
        let pct = |p: f64| all.get(((all.len() as f64 - 1.0) * p) as usize).copied().unwrap_or(0);
        let mean = all.iter().sum::<u64>() as f64 / all.len().max(1) as f64;
        println!("client: {} {non_2xx} {elapsed:.3} {} {} {mean:.0} {}", all.len(), pct(0.5), pct(0.99), pct(0.999));
    });
}

/// The whole length of the HTTP response at the start of `buf`, once its head is in
/// (`Content-Length` responses only, which is what axum sends here).
fn response_length(buf: &[u8]) -> Option<usize> {
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&buf[..head_end]).ok()?;
    let len = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case("content-length").then(|| v.trim().parse::<usize>().ok()).flatten()
    })?;
    Some(head_end + len)
}

/// Runs [`client_main`] in a child process against `path` and parses its line.
fn own_client(addr: SocketAddr, path: &str, body: &str, headers: &[(&str, &str)], load: &Load, dir: &Path) -> Run {
    let mut req = format!("POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    let file = dir.join(format!("request{}.http", path.replace('/', "_")));
    std::fs::write(&file, req).expect("request file");
    let out = Command::new(std::env::current_exe().expect("own exe"))
        .arg("--client")
        .arg(addr.to_string())
        .arg(load.seconds.to_string())
        .arg(load.connections.to_string())
        .arg(&file)
        .stdin(Stdio::null())
        .output()
        .expect("run the client");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "client failed: {}\n{text}", String::from_utf8_lossy(&out.stderr));
    let line = text.lines().find_map(|l| l.strip_prefix("client: ")).expect("client line");
    let f: Vec<f64> = line.split(' ').map(|w| w.parse().expect("number")).collect();
    let [requests, non_2xx, seconds, p50, p99, _mean, p999] = f[..] else { panic!("client line: {line}") };
    Run {
        rps: requests / seconds,
        p50_us: p50,
        p99_us: p99,
        p999_us: p999,
        requests: requests as u64,
        non_2xx: non_2xx as u64,
        socket_errors: None,
        cpu: None,
    }
}
