//! A scaled deployment, for real: `sealgate serve` processes (the built
//! binary) on one PostgreSQL database, against the exchange sandbox started
//! in this test process. Two signers share one custody (a local keyring made
//! by `keys init`) and one service-keys directory (made by `keys service-keys`);
//! importer processes reach them over HTTP with the importer's service key.
//!
//! 1. Scaled run: one Kraken credential hammered through both signers at
//!    once (no nonce refused); twenty Binance imports shared by two importer
//!    processes: every job done, on its first attempt, by exactly one
//!    importer; the stored trades equal the exchange's exactly; every trade
//!    page fetched exactly once (the signers' `forwarded` audit records).
//! 2. Kill mid-work: an importer SIGKILLed while it imports, then a signer
//!    SIGKILLed while requests are in flight through it (and the importer
//!    using it killed too), then a fresh importer on the surviving signer:
//!    every job ends done, the trades equal the exchange's exactly (nothing
//!    lost, nothing duplicated), no Kraken nonce was refused, and the audit
//!    chain still verifies against the custody root's pin.
//!
//! PostgreSQL as for the store tests: `SEALGATE_TEST_POSTGRES_ADMIN` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`, trust auth); each test makes
//! a database with a random name and drops it at the end, also on failure.
//! `SEALGATE_SKIP_POSTGRES=1` skips these tests when PostgreSQL cannot be
//! reached. Every process is SIGKILLed when its guard drops.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use sealgate_envelope::{PublicJwk, Scope, SealRequest, seal_credential};
use sealgate_exchanges::Request;
use sealgate_sandbox::{Amount, KeySpec, Market, Permissions, Sandbox, Venue};
use sealgate_server::client::{ExchangeResponse, ForwardCall, SignerCallError, SignerClient};
use sealgate_server::service_auth::ServiceKey;
use sealgate_server::signer::HttpSignerClient;
use sealgate_store::{JobState, NewCredential, NewEnvelope, Side, Store};
use serde_json::{Value, json};
use sqlx::Connection as _;

/// Binance credentials, each its own sandbox account with seeded history.
const BINANCE_CREDENTIALS: usize = 20;
/// Users owning them (round robin).
const USERS: usize = 4;
const KRAKEN_CID: &str = "kr-shared";
const KRAKEN_KEY: &str = "kr-scaled-key";
const MARKET: &str = "BTCUSDT";

/// The two tests start many processes on a small machine: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

// --- PostgreSQL --------------------------------------------------------------------------

fn admin_url() -> String {
    std::env::var("SEALGATE_TEST_POSTGRES_ADMIN")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(nanos);
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    format!("{}_{:016x}", std::process::id(), h.finish())
}

/// Connects as admin; starts the local cluster once (as the store harness does) if needed.
async fn admin() -> Result<sqlx::PgConnection, String> {
    let url = admin_url();
    if let Ok(c) = sqlx::PgConnection::connect(&url).await {
        return Ok(c);
    }
    // Once per test binary: a second test finds the cluster started, or gives up at once.
    static TRIED: AtomicBool = AtomicBool::new(false);
    let versions: Vec<String> = match TRIED.swap(true, Ordering::SeqCst) {
        true => Vec::new(),
        false => std::fs::read_dir("/etc/postgresql")
            .map(|d| d.filter_map(Result::ok).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default(),
    };
    for v in &versions {
        eprintln!("scaled tests: PostgreSQL unreachable; starting cluster {v}/main");
        let _ = Command::new("pg_ctlcluster").args(["--skip-systemctl-redirect", v, "main", "start"]).status();
    }
    let deadline = Instant::now() + Duration::from_secs(if versions.is_empty() { 1 } else { 20 });
    loop {
        match sqlx::PgConnection::connect(&url).await {
            Ok(c) => return Ok(c),
            Err(e) if Instant::now() > deadline => return Err(format!("cannot reach PostgreSQL at {url}: {e}")),
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

/// A fresh database, dropped (`WITH (FORCE)`) when this is dropped.
struct PgDb {
    name: String,
    url: String,
}

impl PgDb {
    /// `None`: PostgreSQL is unreachable and `SEALGATE_SKIP_POSTGRES=1`.
    async fn create(test: &str) -> Option<PgDb> {
        let mut conn = match admin().await {
            Ok(c) => c,
            Err(e) => {
                sealgate_testkit::skip_or_fail(
                    "SEALGATE_SKIP_POSTGRES",
                    &format!("the scaled test {test} (two signers and importers on PostgreSQL)"),
                    &format!("PostgreSQL is unreachable: {e}"),
                    "start PostgreSQL, or point SEALGATE_TEST_POSTGRES_ADMIN at one (postgres://USER@HOST:PORT/DB)",
                );
                return None;
            }
        };
        let name = format!("sealgate_scaled_{}", unique_suffix());
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.expect("create test database");
        let _ = conn.close().await;
        let admin = admin_url();
        let cut = admin.rfind('/').expect("the admin URL ends in /DATABASE");
        Some(PgDb { url: format!("{}/{name}", &admin[..cut]), name })
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let (admin, name) = (admin_url(), self.name.clone());
        // Our runtime may be shutting down: drop from a thread with its own.
        let dropped = std::thread::spawn(move || -> Result<(), String> {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
            rt.block_on(async {
                let mut c = sqlx::PgConnection::connect(&admin).await.map_err(|e| e.to_string())?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut c)
                    .await
                    .map_err(|e| e.to_string())?;
                let _ = c.close().await;
                Ok(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("scaled tests: could not drop database {}: {dropped:?}", self.name);
        }
    }
}

// --- processes ---------------------------------------------------------------------------

/// A `sealgate serve` process, SIGKILLed (and reaped) when dropped.
struct Proc {
    name: String,
    child: Child,
    out: PathBuf,
    err: PathBuf,
}

impl Proc {
    fn spawn(name: &str, logs: &Path, args: &[String]) -> Proc {
        let out = logs.join(format!("{name}.out"));
        let err = logs.join(format!("{name}.err"));
        let child = Command::new(common::BIN)
            .arg("serve")
            .args(args)
            .env("SEALGATE_LOG", "info")
            .stdin(Stdio::null())
            .stdout(File::create(&out).expect("stdout log"))
            .stderr(File::create(&err).expect("stderr log"))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Proc { name: name.to_owned(), child, out, err }
    }

    fn stdout(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.err).unwrap_or_default()
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The end of its output, for failure messages.
    fn logs(&self) -> String {
        let tail = |s: String| {
            let start = s.len().saturating_sub(4000);
            let start = (start..s.len()).find(|&i| s.is_char_boundary(i)).unwrap_or(s.len());
            s[start..].to_owned()
        };
        format!(
            "--- {} (pid {}) stdout ---\n{}\n--- {} stderr ---\n{}",
            self.name,
            self.pid(),
            tail(self.stdout()),
            self.name,
            tail(self.stderr())
        )
    }

    /// Waits until it listens and `/readyz` answers 200; returns its base URL.
    async fn ready(&mut self) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        let http = reqwest::Client::new();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                panic!("{} exited ({status}) before it was ready\n{}", self.name, self.logs());
            }
            let base = self.stdout().lines().find_map(|l| l.strip_prefix("sealgate: listening on ").map(str::to_owned));
            if let Some(base) = base
                && let Ok(r) = http.get(format!("{base}/readyz")).send().await
                && r.status() == 200
            {
                return base;
            }
            assert!(Instant::now() < deadline, "{} was not ready in 30 s\n{}", self.name, self.logs());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `kill -9`, then reap.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Job ids this importer logged as done (its logs are JSON lines).
    fn jobs_done(&self) -> Vec<i64> {
        self.stderr()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["fields"]["message"] == "import done")
            .filter_map(|v| v["fields"]["job"].as_i64())
            .collect()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

fn logs_of(procs: &[&Proc]) -> String {
    procs.iter().map(|p| p.logs()).collect::<Vec<_>>().join("\n")
}

// --- the world ---------------------------------------------------------------------------

struct World {
    // Dropped in this order: processes, the store's pool, the database, the sandbox, the files.
    signers: Vec<Proc>,
    store: Store,
    db: PgDb,
    sandbox: Sandbox,
    dir: common::TempDir,
    /// Signer base URLs (A, B).
    urls: Vec<String>,
    /// The custody root's pin, as the signers print it.
    pin: String,
    importer_key: Arc<ServiceKey>,
    /// (credential id, owner, sandbox API key).
    binance: Vec<(String, String, String)>,
    /// Each signer's command line (to restart one on its data directory).
    signer_args: Vec<Vec<String>>,
}

fn amt(s: &str) -> Amount {
    Amount::parse(s).expect("amount")
}

fn binance_key(i: usize) -> String {
    format!("bn-scaled-key-{i:02}")
}

fn norm(s: &str) -> String {
    sealgate_server::venues::Amount::parse(s).unwrap_or_else(|| panic!("decimal {s}")).normalized().to_string()
}

fn kraken_balance() -> ForwardCall {
    ForwardCall {
        owner: "user-0".parse().expect("owner"),
        credential_id: KRAKEN_CID.parse().expect("id"),
        request: Request::new("POST", "/0/private/Balance", "", ""),
    }
}

/// Whether a Kraken answer is a success (`error: []`).
fn kraken_ok(r: &ExchangeResponse) -> bool {
    r.status == 200 && serde_json::from_str::<Value>(&r.body).is_ok_and(|v| v["error"] == json!([]))
}

impl World {
    /// PostgreSQL, the sandbox (a Kraken key; Binance keys with `trades` each), signers A
    /// and B, users and credentials sealed to the importer's key. `None`: skipped.
    async fn start(test: &str, trades: usize) -> Option<World> {
        let db = PgDb::create(test).await?;
        let dir = common::TempDir::new(test);
        let all = Permissions { read: true, trade: true, withdraw: true };
        let mut specs = vec![KeySpec {
            venue: Venue::Kraken,
            api_key: KRAKEN_KEY.into(),
            secret: base64::engine::general_purpose::STANDARD.encode([0x5au8; 64]),
            permissions: all,
            allowed_ips: vec![],
            passphrase: None,
            balances: vec![("XXBT".into(), amt("2")), ("ZUSD".into(), amt("100000"))],
        }];
        for i in 0..BINANCE_CREDENTIALS {
            specs.push(KeySpec {
                venue: Venue::Binance,
                api_key: binance_key(i),
                secret: format!("bn-scaled-secret-{i:02}"),
                permissions: all,
                allowed_ips: vec![],
                passphrase: None,
                balances: vec![("BTC".into(), amt("1.5")), ("USDT".into(), amt("25000"))],
            });
        }
        let markets = vec![
            Market { symbol: MARKET.into(), base: "BTC".into(), quote: "USDT".into(), price: amt("50000") },
            Market { symbol: "XBTUSD".into(), base: "XXBT".into(), quote: "ZUSD".into(), price: amt("40000") },
        ];
        let sandbox = Sandbox::start("127.0.0.1:0".parse().expect("addr"), specs, markets).await.expect("sandbox");
        for i in 0..BINANCE_CREDENTIALS {
            assert!(sandbox.seed_trades(&binance_key(i), MARKET, trades));
        }
        let exchange = format!("http://{}", sandbox.addr());

        // As the scaled doc says: the custody (a local keyring here) and the service key
        // pairs are made once, explicitly; signer A's first start creates the recipient
        // keys; B opens the same custody.
        let (keys, custody) = (dir.path("service-keys"), dir.path("custody.toml"));
        std::fs::write(
            &custody,
            format!(
                "backend = \"local\"\n[local]\nkeyring = {:?}\nkey_file = {:?}\n",
                common::p(&dir.path("keyring")),
                common::p(&dir.path("master.key"))
            ),
        )
        .expect("custody.toml");
        common::ok(common::run(&["keys", "init", "--custody", common::p(&custody)], b""));
        common::ok(common::run(&["keys", "service-keys", "--dir", common::p(&keys)], b""));
        // Each signer has a data directory of its own (its audit journal and state file), as
        // the scaled doc runs them.
        let signer_args = |data: &str| -> Vec<String> {
            [
                "--roles",
                "signer",
                "--database",
                &db.url,
                "--custody-config",
                common::p(&custody),
                "--data-dir",
                data,
                "--service-keys",
                common::p(&keys),
                "--listen",
                "127.0.0.1:0",
                "--exchange-url",
                &format!("kraken={exchange}"),
                "--exchange-url",
                &format!("binance={exchange}"),
            ]
            .iter()
            .map(|s| (*s).to_owned())
            .collect()
        };
        let mut signers = Vec::new();
        let mut urls = Vec::new();
        let mut args_of = Vec::new();
        for name in ["signer-a", "signer-b"] {
            let data = dir.path(&format!("{name}-data"));
            args_of.push(signer_args(common::p(&data)));
            let mut p = Proc::spawn(name, &dir.0, &args_of[args_of.len() - 1]);
            p.ready().await;
            // Importers reach a signer at its service listener, never the public one.
            let service = p
                .stdout()
                .lines()
                .find_map(|l| l.strip_prefix("sealgate: service listener on "))
                .and_then(|l| l.split_whitespace().next())
                .map(str::to_owned)
                .unwrap_or_else(|| panic!("no service listener printed\n{}", p.logs()));
            urls.push(service);
            signers.push(p);
        }
        let pin_of = |p: &Proc| {
            p.stdout()
                .lines()
                .find_map(|l| l.strip_prefix("sealgate: root key pin ").map(str::to_owned))
                .unwrap_or_else(|| panic!("no root pin printed\n{}", p.logs()))
        };
        let pin = pin_of(&signers[0]);
        assert_eq!(pin_of(&signers[1]), pin, "both signers hold the same custody");

        let store = Store::connect(&db.url).await.expect("store");
        let recipients = store.recipient_keys(Some("importer")).await.expect("recipient keys");
        let [importer_jwk] = recipients.as_slice() else { panic!("one importer key: {recipients:?}") };
        let jwk = PublicJwk::from_json(importer_jwk.public_jwk.as_bytes()).expect("importer JWK");
        for u in 0..USERS {
            store.create_user(&format!("user-{u}"), None).await.expect("user");
        }
        let kraken = json!({"api_key": KRAKEN_KEY, "api_secret": base64::engine::general_purpose::STANDARD.encode([0x5au8; 64])});
        credential(&store, &jwk, "user-0", KRAKEN_CID, "kraken", &kraken).await;
        let mut binance = Vec::new();
        for i in 0..BINANCE_CREDENTIALS {
            let (cid, owner) = (format!("bn-{i:02}"), format!("user-{}", i % USERS));
            let secret = json!({"api_key": binance_key(i), "api_secret": format!("bn-scaled-secret-{i:02}")});
            credential(&store, &jwk, &owner, &cid, "binance", &secret).await;
            binance.push((cid, owner, binance_key(i)));
        }
        let importer_key = Arc::new(ServiceKey::load(&keys, "importer").expect("importer service key"));
        Some(World { signers, store, db, sandbox, dir, urls, pin, importer_key, binance, signer_args: args_of })
    }

    /// An importer client of signer `i` (what an importer process holds).
    fn client(&self, i: usize) -> Arc<HttpSignerClient> {
        Arc::new(HttpSignerClient::new(&self.urls[i], self.importer_key.clone()).expect("client"))
    }

    /// Starts an importer process reaching signer `signer` (not yet waited for).
    fn spawn_importer(&self, name: &str, signer: usize, lease_secs: u64) -> Proc {
        let args: Vec<String> = [
            "--roles",
            "importer",
            "--database",
            &self.db.url,
            "--data-dir",
            common::p(&self.dir.path(&format!("{name}-data"))),
            "--service-keys",
            common::p(&self.dir.path("service-keys")),
            "--signer-url",
            &self.urls[signer],
            "--listen",
            "127.0.0.1:0",
            "--importer-workers",
            "2",
            "--import-lease-secs",
            &lease_secs.to_string(),
            "--log-format",
            "json",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        Proc::spawn(name, &self.dir.0, &args)
    }

    /// Queues a full import of every Binance credential: (job id, credential id).
    async fn enqueue_all(&self) -> Vec<(i64, String)> {
        let mut jobs = Vec::new();
        for (cid, owner, _) in &self.binance {
            jobs.push((
                sealgate_server::importer::enqueue_full_import(&self.store, owner, cid).await.expect("enqueue"),
                cid.clone(),
            ));
        }
        jobs
    }

    /// Waits until every job is done; fails at once if one failed.
    async fn wait_done(&self, jobs: &[(i64, String)], procs: &[&Proc], timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let (queued, running, done, failed) = self.store.job_counts().await.expect("counts");
            if done == jobs.len() as i64 {
                return;
            }
            if failed > 0 {
                let mut why = Vec::new();
                for (id, _) in jobs {
                    let j = self.store.job(*id).await.expect("job").expect("job");
                    if j.state == JobState::Failed {
                        why.push(format!("job {id}: {:?}", j.last_error));
                    }
                }
                panic!("jobs failed: {why:?}\n{}", logs_of(procs));
            }
            assert!(
                Instant::now() < deadline,
                "not all jobs done in {timeout:?}: queued {queued}, running {running}, done {done}\n{}",
                logs_of(procs)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until `pid`'s importer holds a running job (with a checkpointed cursor if
    /// `with_cursor`); returns it.
    async fn wait_running(&self, jobs: &[(i64, String)], p: &Proc, with_cursor: bool) -> sealgate_store::Job {
        let prefix = format!("{}-", p.pid());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            for (id, _) in jobs {
                let j = self.store.job(*id).await.expect("job").expect("job");
                if j.state == JobState::Running
                    && j.locked_by.as_deref().is_some_and(|w| w.starts_with(&prefix))
                    && (!with_cursor || j.cursor.is_some())
                {
                    return j;
                }
            }
            assert!(Instant::now() < deadline, "{} never held a running job\n{}", p.name, p.logs());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Every Binance credential's stored trades equal its sandbox history exactly.
    async fn assert_trades_exact(&self) {
        for (cid, owner, key) in &self.binance {
            let want: BTreeMap<String, (String, Side, String, String, i64)> = self
                .sandbox
                .trades(key)
                .into_iter()
                .map(|t| {
                    let side = if t.side_buy { Side::Buy } else { Side::Sell };
                    let row = (
                        t.symbol.clone(),
                        side,
                        norm(&t.price.to_string()),
                        norm(&t.qty.to_string()),
                        t.time_ms as i64,
                    );
                    (format!("{}-{}", t.symbol, t.id), row)
                })
                .collect();
            let rows = self.store.trades(owner, cid, -1, 1_000_000).await.expect("trades");
            let n = rows.len();
            let got: BTreeMap<String, (String, Side, String, String, i64)> = rows
                .into_iter()
                .map(|t| (t.exchange_trade_id, (t.symbol, t.side, norm(&t.price), norm(&t.qty), t.time_ms)))
                .collect();
            assert_eq!(got.len(), n, "{cid}: a trade stored twice");
            assert_eq!(n, want.len(), "{cid}: trade count");
            assert!(got == want, "{cid}: stored trades differ from the exchange's");
            assert_eq!(self.store.trade_count(owner, cid).await.expect("count"), want.len() as i64);
        }
    }

    /// The Binance trade pages one full import of `key` fetches: per symbol the importer
    /// asks (from the account's assets), full pages of 1000 and the short last one.
    fn trade_pages(&self, key: &str) -> usize {
        let assets: Vec<String> = self.sandbox.balances(key).into_iter().map(|(a, _, _)| a).collect();
        let history = self.sandbox.trades(key);
        sealgate_server::venues::binance_symbols(&assets)
            .iter()
            .map(|s| history.iter().filter(|t| &t.symbol == s).count() / 1000 + 1)
            .sum()
    }

    /// `forwarded` audit records: (subject, path) → count.
    /// [`World::forwarded`] once the running signers have copied their audit journals into
    /// the chain (each use is answered once durable in its signer's journal, and reaches
    /// the chain tens of milliseconds later): two reads 300 ms apart agree.
    async fn forwarded_settled(&self) -> BTreeMap<(String, String), usize> {
        let mut last = self.forwarded().await;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let now = self.forwarded().await;
            if now == last || Instant::now() > deadline {
                return now;
            }
            last = now;
        }
    }

    /// Starts signer `i` again on its data directory (it copies what its journal holds into
    /// the chain before it serves).
    async fn restart_signer(&mut self, i: usize) {
        let mut p = Proc::spawn(&format!("signer-{i}-again"), &self.dir.0, &self.signer_args[i]);
        p.ready().await;
        self.signers[i] = p;
    }

    async fn forwarded(&self) -> BTreeMap<(String, String), usize> {
        let mut out = BTreeMap::new();
        let mut after = 0;
        loop {
            let rows = self.store.audit_range(after, 1000).await.expect("audit");
            let Some(last) = rows.last() else { break };
            after = last.seq;
            for r in rows.iter().filter(|r| r.action == "forwarded") {
                let d: Value = serde_json::from_str(&r.detail).expect("detail");
                let path = d["path"].as_str().unwrap_or_default().to_owned();
                *out.entry((r.subject.clone(), path)).or_insert(0) += 1;
            }
        }
        out
    }

    /// The whole chain verifies, checkpoints against the root the signers printed.
    async fn verify_audit(&self) -> sealgate_audit::Summary {
        sealgate_server::audit::verify_store(&self.store, sealgate_audit::jsonl::Trust::Pin(&self.pin))
            .await
            .expect("the audit chain verifies")
    }
}

/// Creates a credential with one envelope, sealed to the importer (scope `read`).
async fn credential(store: &Store, jwk: &PublicJwk, owner: &str, cid: &str, exchange: &str, secret: &Value) {
    let req = SealRequest {
        sub: owner.into(),
        cid: cid.into(),
        exch: exchange.into(),
        aud: "importer".into(),
        scope: Scope::parse_list("read").expect("scope"),
        iat: sealgate_server::now_ms() / 1000,
        own: None,
    };
    let (jwe, _) = seal_credential(secret.to_string().as_bytes(), jwk, &req).expect("seal");
    let kid = jwk.kid().expect("kid");
    store
        .create_credential(
            &NewCredential { id: cid, owner, exchange, label: "scaled", hint: "0000", scope: "read" },
            &[NewEnvelope { role: "importer", kid, jwe: &jwe }],
        )
        .await
        .expect("credential");
}

// --- Kraken traffic ----------------------------------------------------------------------

/// Kraken requests on one credential from several tasks, through both signers, until
/// stopped. Signer A may be declared down: its requests stop, errors after that are expected.
struct Hammer {
    stop: Arc<AtomicBool>,
    a_up: Arc<AtomicBool>,
    /// Requests sent to signer A and not yet answered.
    in_flight_a: Arc<AtomicUsize>,
    report: Arc<Mutex<HammerReport>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

#[derive(Debug, Default)]
struct HammerReport {
    ok: [usize; 2],
    ok_on_b_after_a_down: usize,
    /// Kraken answered with an error (a refused nonce would be here).
    refused: Vec<String>,
    /// The signer failed while it was supposed to be up.
    unexpected: Vec<String>,
    /// Requests lost with signer A.
    lost_with_a: usize,
}

impl Hammer {
    fn start(world: &World, tasks: usize) -> Hammer {
        let stop = Arc::new(AtomicBool::new(false));
        let a_up = Arc::new(AtomicBool::new(true));
        let report = Arc::new(Mutex::new(HammerReport::default()));
        let in_flight_a = Arc::new(AtomicUsize::new(0));
        let clients = [world.client(0), world.client(1)];
        let tasks = (0..tasks)
            .map(|t| {
                let (stop, a_up, report, clients) = (stop.clone(), a_up.clone(), report.clone(), clients.clone());
                let in_flight_a = in_flight_a.clone();
                tokio::spawn(async move {
                    let mut n = t;
                    while !stop.load(Ordering::Relaxed) {
                        n += 1;
                        let a_was_up = a_up.load(Ordering::Relaxed);
                        let i = if a_was_up { n % 2 } else { 1 };
                        if i == 0 {
                            in_flight_a.fetch_add(1, Ordering::SeqCst);
                        }
                        let r: Result<ExchangeResponse, SignerCallError> = clients[i].forward(&kraken_balance()).await;
                        if i == 0 {
                            in_flight_a.fetch_sub(1, Ordering::SeqCst);
                        }
                        {
                            let mut rep = report.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                            match r {
                                Ok(resp) if kraken_ok(&resp) => {
                                    rep.ok[i] += 1;
                                    if !a_was_up {
                                        rep.ok_on_b_after_a_down += 1;
                                    }
                                }
                                Ok(resp) => rep.refused.push(format!("signer {i}: {} {}", resp.status, resp.body)),
                                Err(_) if i == 0 && !a_up.load(Ordering::Relaxed) => rep.lost_with_a += 1,
                                Err(e) => rep.unexpected.push(format!("signer {i}: {e}")),
                            }
                        }
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                })
            })
            .collect();
        Hammer { stop, a_up, in_flight_a, report, tasks }
    }

    /// Waits until requests are in flight through signer A, then declares it down: from
    /// now on its failures are expected (and no new request goes to it).
    async fn a_down_with_requests_in_flight(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.in_flight_a.load(Ordering::SeqCst) == 0 {
            assert!(Instant::now() < deadline, "no request ever in flight through signer A");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        self.a_up.store(false, Ordering::Relaxed);
    }

    async fn finish(self) -> HammerReport {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            t.await.expect("hammer task");
        }
        std::mem::take(&mut *self.report.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}

// --- the tests ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_signers_and_two_importer_processes_share_one_postgresql() {
    let _one_at_a_time = SERIAL.lock().await;
    let started = Instant::now();
    let Some(world) = World::start("scaled-run", 2_500).await else { return };
    eprintln!("{:.1?}: two signers ready, credentials created", started.elapsed());

    // (a) One Kraken credential through both signers, 100 requests in flight together:
    // the nonce sequence in the store keeps Kraken from refusing any.
    let clients = [world.client(0), world.client(1)];
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let c = clients[i % 2].clone();
            tokio::spawn(async move { c.forward(&kraken_balance()).await })
        })
        .collect();
    for (i, t) in tasks.into_iter().enumerate() {
        let r = t.await.expect("join").unwrap_or_else(|e| panic!("request {i} through signer {}: {e}", i % 2));
        assert!(kraken_ok(&r), "Kraken refused request {i}: {} {}", r.status, r.body);
    }
    let forwarded = world.forwarded_settled().await;
    assert_eq!(forwarded.get(&(KRAKEN_CID.into(), "/0/private/Balance".into())), Some(&100));

    eprintln!("{:.1?}: 100 Kraken requests answered", started.elapsed());

    // (b) Twenty imports, two importer processes (two workers each), each through its own signer.
    let jobs = world.enqueue_all().await;
    let mut i1 = world.spawn_importer("importer-1", 0, 60);
    let mut i2 = world.spawn_importer("importer-2", 1, 60);
    i1.ready().await;
    i2.ready().await;
    world.wait_done(&jobs, &[&i1, &i2], Duration::from_secs(45)).await;
    eprintln!("{:.1?}: every job done", started.elapsed());

    // No job lost, none run twice: each done on its first attempt, by exactly one importer.
    for (id, cid) in &jobs {
        let j = world.store.job(*id).await.expect("job").expect("job");
        assert_eq!((j.state, j.attempts), (JobState::Done, 1), "job {id} ({cid}): {:?}", j.last_error);
    }
    let (done1, done2) = (i1.jobs_done(), i2.jobs_done());
    assert!(!done1.is_empty() && !done2.is_empty(), "both importers worked: {done1:?} {done2:?}");
    let mut all: Vec<i64> = done1.iter().chain(&done2).copied().collect();
    all.sort_unstable();
    let want: Vec<i64> = jobs.iter().map(|(id, _)| *id).collect();
    assert_eq!(all, want, "every job done exactly once");
    // The stored trades are the exchange's, exactly.
    world.assert_trades_exact().await;
    // Every trade page was fetched exactly once, and the balances once, per credential.
    let forwarded = world.forwarded_settled().await;
    for (cid, _, key) in &world.binance {
        let pages = forwarded.get(&(cid.clone(), "/api/v3/myTrades".into())).copied().unwrap_or(0);
        assert_eq!(pages, world.trade_pages(key), "{cid}: trade pages forwarded");
        assert_eq!(forwarded.get(&(cid.clone(), "/api/v3/account".into())), Some(&1), "{cid}");
    }
    let summary = world.verify_audit().await;
    eprintln!(
        "scaled run: 100 Kraken requests through 2 signers, {} imports ({} + {} per importer), \
         audit {summary:?}, in {:.1?}",
        jobs.len(),
        done1.len(),
        done2.len(),
        started.elapsed()
    );
}

/// Lease of the importers in the kill test: a killed importer's job is taken over after it.
const KILL_LEASE_SECS: u64 = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_importers_and_a_killed_signer_lose_and_duplicate_nothing() {
    let _one_at_a_time = SERIAL.lock().await;
    let started = Instant::now();
    let Some(mut world) = World::start("kill-mid-work", 2_500).await else { return };
    eprintln!("{:.1?}: two signers ready, credentials created", started.elapsed());
    let jobs = world.enqueue_all().await;
    // Kraken traffic through both signers the whole time.
    let hammer = Hammer::start(&world, 4);

    // 1. An importer SIGKILLed mid-import: one of its jobs is running and has checkpointed.
    let mut i1 = world.spawn_importer("importer-1", 0, KILL_LEASE_SECS);
    i1.ready().await;
    let interrupted = world.wait_running(&jobs, &i1, true).await;
    i1.kill();
    let partial = world.store.trade_count(&interrupted.owner, &interrupted.credential_id).await.expect("count");
    eprintln!(
        "{:.1?}: killed importer-1 during job {} ({}) at cursor {:?}, {partial} trades stored",
        started.elapsed(),
        interrupted.id,
        interrupted.credential_id,
        interrupted.cursor
    );

    // 2. Signer A SIGKILLed while requests are in flight through it (Kraken requests from
    //    the hammer, pages of a second importer); that importer is killed too.
    let mut i2 = world.spawn_importer("importer-2", 0, KILL_LEASE_SECS);
    i2.ready().await;
    world.wait_running(&jobs, &i2, false).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    // The exchange holds its answers 150-250 ms while A dies, so a request seen in flight is
    // still in flight when the kill lands (without it, one answered in the microseconds
    // between the look and the kill left none lost, and the test proved nothing).
    world.sandbox.set_latency(Duration::from_millis(150), Duration::from_millis(250));
    tokio::time::sleep(Duration::from_millis(50)).await; // answers sent before it are out
    hammer.a_down_with_requests_in_flight().await;
    world.signers[0].kill();
    world.sandbox.set_latency(Duration::ZERO, Duration::ZERO);
    eprintln!("{:.1?}: killed signer-a", started.elapsed());
    // importer-2 finds its signer gone mid-job: a transient failure, the job is queued again.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !i2.stderr().contains("import failed; will retry") {
        assert!(Instant::now() < deadline, "importer-2 did not notice\n{}", i2.logs());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    i2.kill();

    // 3. A fresh importer through the surviving signer finishes everything.
    let mut i3 = world.spawn_importer("importer-3", 1, KILL_LEASE_SECS);
    i3.ready().await;
    eprintln!("{:.1?}: importer-3 started", started.elapsed());
    world.wait_done(&jobs, &[&i1, &i2, &i3, &world.signers[1]], Duration::from_secs(60)).await;
    eprintln!("{:.1?}: every job done", started.elapsed());
    let report = hammer.finish().await;

    // Every job done; the interrupted one was taken over (a later attempt).
    let mut attempts = BTreeMap::new();
    for (id, cid) in &jobs {
        let j = world.store.job(*id).await.expect("job").expect("job");
        assert_eq!(j.state, JobState::Done, "job {id} ({cid})");
        attempts.insert(*id, j.attempts);
    }
    assert!(attempts[&interrupted.id] >= 2, "the killed job was re-claimed: {attempts:?}");
    // Nothing lost, nothing duplicated.
    world.assert_trades_exact().await;
    // Every page was fetched (some more than once: a retried page is idempotent). Signer A
    // is started again first: what its journal held when it was killed joins the chain.
    world.restart_signer(0).await;
    let forwarded = world.forwarded_settled().await;
    for (cid, _, key) in &world.binance {
        let pages = forwarded.get(&(cid.clone(), "/api/v3/myTrades".into())).copied().unwrap_or(0);
        assert!(pages >= world.trade_pages(key), "{cid}: {pages} trade pages forwarded");
    }
    // Kraken refused no nonce, before, during or after the signer's death; B never failed.
    assert!(report.refused.is_empty(), "Kraken refused: {:?}", report.refused);
    assert!(report.unexpected.is_empty(), "a live signer failed: {:?}", report.unexpected);
    assert!(report.ok[0] > 0 && report.ok_on_b_after_a_down > 0, "{report:?}");
    assert!(report.lost_with_a > 0, "requests were in flight through signer A when it died: {report:?}");
    // The audit chain, written by two signers one of which died mid-flight, verifies.
    let summary = world.verify_audit().await;
    let retried: BTreeSet<i64> = attempts.iter().filter(|(_, a)| **a > 1).map(|(id, _)| *id).collect();
    eprintln!(
        "kill mid-work: {} jobs done ({} retried), Kraken {report:?}, audit {summary:?}, in {:.1?}",
        jobs.len(),
        retried.len(),
        started.elapsed()
    );
}
