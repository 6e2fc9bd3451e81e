//! Issue 19 item 8: many users, three credentials each, imported against the sandbox with
//! each call delayed 50–150 ms and the exchanges' documented limits enforced by the sandbox
//! (a request over a limit is refused as the exchange refuses it, and counted). On SQLite
//! with one importer process, then on PostgreSQL with two, each a separate OS process (this
//! binary, re-run with `--importer`) sharing the store's request budgets. Printed: the total
//! time, jobs per second, calls and calls per second per exchange, the budget waits, and the
//! sandbox's refusals (which must be 0).
//!
//! The exchanges whose limits are per API key (Kraken, OKX, Bybit, Bitget, KuCoin, Gate,
//! Poloniex, Gemini, Coinbase Exchange, Deribit — whose credits are per sub-account, one
//! per key here) carry the users; Binance's limit is per *address* (every key behind the
//! signer's egress address shares 6,000 weight a minute; MEXC's, Bitfinex's and Bitstamp's
//! are per address too, Bitstamp's 8,000 requests per 10 minutes), so its rate is a ceiling
//! of the deployment, not of Sealgate: a second run imports `SEALGATE_BENCH_BINANCE` Binance
//! credentials alone and prints their rate.
//!
//! `cargo bench -p sealgate-server --bench import_scale` (10,000 users; `SEALGATE_BENCH_USERS`
//! and `SEALGATE_BENCH_WORKERS` change the count and the workers per process). Under `cargo
//! test` it imports a few users with 1–3 ms of latency, as a smoke test.
//!
//! The signer is the tests' stand-in client (it signs with `sealgate_exchanges::sign`): this
//! measures the importer, the store and the budgets; `benches/signer_load.rs` measures the
//! signer.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::{KeyMaterial, TestClient, amt, market_of};
use sealgate_sandbox::{KeySpec, Market, Permissions, Sandbox, Venue};
use sealgate_server::importer::{Importer, enqueue_full_import};
use sealgate_server::metrics::Metrics;
use sealgate_store::{NewCredential, NewEnvelope, Store, StoreOptions};

/// The exchanges that carry the users: their limits are per key.
const PER_KEY: [(&str, Venue); 10] = [
    ("kraken", Venue::Kraken),
    ("okx", Venue::Okx),
    ("bybit", Venue::Bybit),
    ("bitget", Venue::Bitget),
    ("kucoin", Venue::Kucoin),
    ("gate", Venue::Gate),
    ("poloniex", Venue::Poloniex),
    ("gemini", Venue::Gemini),
    ("coinbase-exchange", Venue::CoinbaseExchange),
    ("deribit", Venue::Deribit),
];
/// Trades each account holds.
const TRADES: usize = 3;

/// One run's shape, shared by the parent and its importer processes (which rebuild the
/// same keys from it).
#[derive(Clone, Copy)]
struct Shape {
    users: usize,
    /// `None`: three per-key exchanges per user; `Some(n)`: `n` Binance credentials alone.
    binance: Option<usize>,
}

impl Shape {
    /// Every credential: (owner, credential id, exchange, its key material, its sandbox key).
    fn credentials(self) -> Vec<(String, String, &'static str, KeyMaterial, KeySpec)> {
        let mut out = Vec::new();
        let mut add = |i: usize, exchange: &'static str, venue: Venue| {
            let owner = format!("user-{i:05}");
            let api_key = match venue {
                Venue::Bitget => format!("bg_{i:032x}"),
                _ => format!("{exchange}-key-{i:05}"),
            };
            let secret = match venue {
                // Kraken's and Coinbase Exchange's secrets are base64.
                Venue::Kraken | Venue::CoinbaseExchange => {
                    base64::engine::general_purpose::STANDARD.encode(format!("{exchange}-secret-{i:05}"))
                }
                _ => format!("{exchange}-secret-{i:05}"),
            };
            let passphrase = matches!(venue, Venue::Okx | Venue::Bitget | Venue::Kucoin | Venue::CoinbaseExchange)
                .then(|| format!("pass-{i}"));
            let (_, base, quote) = market_of(exchange);
            let material = KeyMaterial {
                exchange,
                api_key: Some(api_key.clone()),
                api_secret: Some(secret.clone()),
                passphrase: passphrase.clone(),
                private_key: None,
                key_name: None,
            };
            let spec = KeySpec {
                venue,
                api_key,
                secret,
                permissions: Permissions { read: true, trade: true, withdraw: false },
                allowed_ips: vec![],
                passphrase,
                // Deribit's inverse perpetual is margined in its base: no quote account.
                balances: match venue {
                    Venue::Deribit => vec![(base.to_owned(), amt("0.5"))],
                    _ => vec![(base.to_owned(), amt("0.5")), (quote.to_owned(), amt("1000"))],
                },
            };
            out.push((owner, format!("cid-{exchange}"), exchange, material, spec));
        };
        match self.binance {
            Some(n) => (0..n).for_each(|i| add(i, "binance", Venue::Binance)),
            None => {
                for i in 0..self.users {
                    for k in 0..3 {
                        let (exchange, venue) = PER_KEY[(i + 2 * k) % PER_KEY.len()];
                        add(i, exchange, venue);
                    }
                }
            }
        }
        out
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--importer") {
        return importer_process(&args[at + 1..]);
    }
    let full = args.iter().any(|a| a == "--bench");
    let env = |k: &str, d: usize| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d);
    let users = if full { env("SEALGATE_BENCH_USERS", 10_000) } else { 12 };
    let workers = if full { env("SEALGATE_BENCH_WORKERS", 256) } else { 8 };
    let binance = if full { env("SEALGATE_BENCH_BINANCE", 300) } else { 3 };
    let latency = if full { (50, 150) } else { (1, 3) };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(async {
        println!(
            "import at scale: {users} users x 3 credentials ({} per-key exchanges), {workers} workers per importer \
             process, {}-{} ms per call, the sandbox enforcing each exchange's limits",
            PER_KEY.len(),
            latency.0,
            latency.1
        );
        for shape in [Shape { users, binance: None }, Shape { users, binance: Some(binance) }] {
            common::on_both("import_scale", move |url| async move { run(&url, shape, workers, latency).await }).await;
        }
    });
}

async fn run(url: &str, shape: Shape, workers: usize, latency: (u64, u64)) {
    let creds = shape.credentials();
    let mut markets: Vec<Market> = Vec::new();
    for (_, _, exchange, _, _) in &creds {
        let (symbol, base, quote) = market_of(exchange);
        if !markets.iter().any(|m| m.symbol == symbol) {
            markets.push(Market { symbol: symbol.into(), base: base.into(), quote: quote.into(), price: amt("25000") });
        }
    }
    let specs: Vec<KeySpec> = creds.iter().map(|c| c.4.clone()).collect();
    let sandbox = Sandbox::start(SocketAddr::from(([127, 0, 0, 1], 0)), specs, markets).await.expect("sandbox");
    for (_, _, exchange, m, _) in &creds {
        let key = m.api_key.as_deref().expect("key");
        assert!(sandbox.seed_trades(key, market_of(exchange).0, TRADES), "seed {exchange}");
    }

    // The store: users, credentials (their envelopes stand in: the client signs itself), and
    // one full import queued per credential.
    let setup = Instant::now();
    let store = Store::connect(url).await.expect("store");
    let mut owners: Vec<&str> = creds.iter().map(|c| c.0.as_str()).collect();
    owners.dedup();
    for o in &owners {
        store.create_user(o, None).await.expect("user");
    }
    for (owner, cid, exchange, _, _) in &creds {
        let new = NewCredential { id: cid, owner, exchange, label: "", hint: "abcd", scope: "read" };
        store
            .create_credential(&new, &[NewEnvelope { role: "importer", kid: "imp-1", jwe: "sealed" }])
            .await
            .expect("credential");
        enqueue_full_import(&store, owner, cid).await.expect("enqueue");
    }
    let setup = setup.elapsed();

    sandbox.set_latency(Duration::from_millis(latency.0), Duration::from_millis(latency.1));
    sandbox.enforce_rate_limits(true);
    let processes = if url.starts_with("postgres") { 2 } else { 1 };
    let backend = if processes == 2 { "PostgreSQL" } else { "SQLite" };
    let what = match shape.binance {
        None => format!("{} users, {} credentials", owners.len(), creds.len()),
        Some(n) => format!("{n} Binance credentials (one address budget)"),
    };
    let started = Instant::now();
    let exe = std::env::current_exe().expect("exe");
    let children: Vec<_> = (0..processes)
        .map(|p| {
            let binance = shape.binance.map_or("-".to_owned(), |n| n.to_string());
            std::process::Command::new(&exe)
                .args(["--importer", url, &sandbox.addr().to_string(), &shape.users.to_string(), &binance])
                .args([&workers.to_string(), &format!("p{p}")])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("importer process")
        })
        .collect();
    let mut calls: BTreeMap<String, u64> = BTreeMap::new();
    let mut waits = 0u64;
    for child in children {
        let out = tokio::task::spawn_blocking(move || child.wait_with_output()).await.expect("join").expect("wait");
        assert!(out.status.success(), "an importer process failed");
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let mut w = line.split_whitespace();
            match (w.next(), w.next(), w.next().and_then(|n| n.parse::<u64>().ok())) {
                (Some("calls"), Some(exchange), Some(n)) => *calls.entry(exchange.to_owned()).or_default() += n,
                (Some("waits"), Some(_), Some(n)) => waits += n,
                _ => {}
            }
        }
    }
    let elapsed = started.elapsed();

    // Every job done, every account's balances stored, nothing refused by the exchanges.
    let (queued, running, done, failed) = store.job_counts().await.expect("counts");
    assert_eq!((queued, running, failed), (0, 0, 0), "every import finished");
    assert_eq!(done as usize, creds.len());
    let mut balances = 0;
    for o in &owners {
        balances += store.balances(o).await.expect("balances").len();
    }
    let accounts: usize = creds.iter().map(|c| c.4.balances.len()).sum();
    assert_eq!(balances, accounts, "every account's balances");
    let refused = sandbox.rate_limit_refusals();
    let secs = elapsed.as_secs_f64();
    println!(
        "{backend:>10}, {processes} importer process(es): {what} in {secs:.1} s ({:.1} jobs/s; set-up {:.1} s), \
         {refused} rate-limit refusals, {waits} budget waits",
        creds.len() as f64 / secs,
        setup.as_secs_f64()
    );
    for (exchange, n) in &calls {
        println!("{:>14} {exchange:>17}: {n} calls, {:.1} calls/s", "", *n as f64 / secs);
    }
    assert_eq!(refused, 0, "no request over an exchange's limit");
    store.close().await;
}

/// An importer process: `--importer URL SANDBOX USERS BINANCE WORKERS TAG`. Runs `WORKERS`
/// importers on one store until no job is queued or running, then prints its calls per
/// exchange and its budget waits.
fn importer_process(args: &[String]) {
    let [url, addr, users, binance, workers, tag] = args else {
        panic!("--importer URL SANDBOX USERS BINANCE WORKERS TAG")
    };
    let shape = Shape { users: users.parse().expect("users"), binance: binance.parse().ok() };
    let workers: usize = workers.parse().expect("workers");
    let keys: HashMap<(String, String), KeyMaterial> =
        shape.credentials().into_iter().map(|(o, c, _, m, _)| ((o, c), m)).collect();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(async {
        let mut options = StoreOptions::default();
        options.max_connections = 16;
        options.acquire_timeout = Duration::from_secs(60);
        let store = Store::connect_with(url, options).await.expect("store");
        let client = TestClient::at(format!("http://{addr}"), keys, Default::default(), "importer");
        let metrics = Arc::new(Metrics::default());
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let tasks: Vec<_> = (0..workers)
            .map(|w| {
                let importer = Importer::new(store.clone(), client.clone(), format!("{tag}-{w}"))
                    .with_idle_sleep(Duration::from_millis(50))
                    .with_metrics(metrics.clone());
                tokio::spawn(importer.run(stopped.clone()))
            })
            .collect();
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let (queued, running, _, _) = store.job_counts().await.expect("counts");
            if queued == 0 && running == 0 {
                break;
            }
        }
        stop.send(true).expect("stop");
        for t in tasks {
            t.await.expect("worker");
        }
        // Credential ids are `cid-EXCHANGE`.
        let mut calls: BTreeMap<String, u64> = BTreeMap::new();
        for ((_, cid), _) in client.requests() {
            *calls.entry(cid.trim_start_matches("cid-").to_owned()).or_default() += 1;
        }
        for (exchange, n) in calls {
            println!("calls {exchange} {n}");
        }
        println!("waits all {}", metrics.import_rate_waits_total.load(std::sync::atomic::Ordering::Relaxed));
    });
}
