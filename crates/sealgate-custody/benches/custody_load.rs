//! Load generator: envelope opens through each custody backend, with 1, 2
//! and 8 concurrent callers; prints per-open latency (p50, p99) and
//! opens/s; and the local keyring's unlock time with the default argon2id. Not a pass/fail test: `cargo bench -p sealgate-custody --bench
//! custody_load` measures; under `cargo test --all-targets` it runs a
//! short smoke pass.
//!
//! Backends: `local` always; `pkcs11` (SoftHSM2) and `openbao` when
//! SEALGATE_BENCH_PKCS11 / SEALGATE_BENCH_OPENBAO point at a custody
//! config (their services must be running; see the README).
//!
//! Exchange keys born in the custody (issue 18): signatures per second and p50/p99
//! through each backend for Ed25519 and RSA-2048 (each signature verified by the custody
//! before it returns), beside the same signature made in memory by aws-lc-rs, and — with
//! SEALGATE_BENCH_OPENBAO_ADDR and SEALGATE_BENCH_OPENBAO_TOKEN — Transit's own `sign`
//! rate (raw HTTP calls, nothing verified) on the same key.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sealgate_custody::local::{KdfParams, LocalCustody, MasterKey};
use sealgate_custody::{Custody, ExchangeKeyType, KeyStatus, RoleKeyType};
use sealgate_envelope::secrecy::SecretString;
use sealgate_envelope::{Binding, Scope, SealRequest, open_credential, seal_credential};

struct Figures {
    p50_us: f64,
    p99_us: f64,
    per_sec: f64,
}

async fn load(custody: Arc<dyn Custody>, kid: String, role: String, callers: usize, duration: Duration) -> Figures {
    let key = custody.keys().await.expect("keys").into_iter().find(|k| k.kid == kid).expect("kid");
    let req = SealRequest {
        sub: "bench".into(),
        cid: "bench-1".into(),
        exch: "binance".into(),
        aud: role.clone(),
        scope: Scope::parse_list("read").expect("scope"),
        iat: 1,
        own: None,
    };
    let (envelope, _) =
        seal_credential(br#"{"api_key":"BENCH-KEY-0001","api_secret":"bench"}"#, &key.public, &req).expect("seal");
    let envelope = Arc::new(envelope);
    let handle = custody.decryption_key(&kid).await.expect("handle");
    let binding =
        Arc::new(Binding { sub: "bench".into(), cid: "bench-1".into(), exch: "binance".into(), aud: role, now: None });
    calls(callers, duration, move || {
        let (handle, binding, envelope) = (handle.clone(), binding.clone(), envelope.clone());
        async move {
            open_credential(envelope.as_bytes(), handle.as_ref(), &binding).await.expect("open");
        }
    })
    .await
}

async fn report(name: &str, custody: Arc<dyn Custody>, duration: Duration) {
    for k in custody.keys().await.expect("keys").into_iter().filter(|k| k.status == KeyStatus::Active) {
        for callers in [1usize, 2, 8] {
            let f = load(custody.clone(), k.kid.clone(), k.role.clone(), callers, duration).await;
            println!(
                "{name:<8} {:<22} {:<15} callers {callers}: p50 {:>8.0} µs  p99 {:>8.0} µs  {:>8.0} opens/s",
                k.kid,
                k.public.seal_alg().name(),
                f.p50_us,
                f.p99_us,
                f.per_sec
            );
        }
    }
}

/// Latency figures from per-call times (µs) over `elapsed` seconds.
fn figures(mut all: Vec<f64>, elapsed: f64) -> Figures {
    all.sort_by(f64::total_cmp);
    let pct = |p: f64| all.get(((all.len() as f64 - 1.0) * p) as usize).copied().unwrap_or(f64::NAN);
    Figures { p50_us: pct(0.5), p99_us: pct(0.99), per_sec: all.len() as f64 / elapsed }
}

/// `callers` tasks each calling `op` until `duration` has passed.
async fn calls<F, Fut>(callers: usize, duration: Duration, op: F) -> Figures
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..callers {
        let op = op.clone();
        tasks.push(tokio::spawn(async move {
            let mut times = Vec::new();
            while started.elapsed() < duration {
                let t = Instant::now();
                op().await;
                times.push(t.elapsed().as_secs_f64() * 1e6);
                tokio::task::yield_now().await;
            }
            times
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("task"));
    }
    figures(all, started.elapsed().as_secs_f64())
}

/// What an exchange signs (Binance's totalParams, about this long).
const MESSAGE: &[u8] = b"symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.01&price=50000&newClientOrderId=sg-0123456789abcdef&recvWindow=5000&timestamp=1765000000000";

fn row(name: &str, what: &str, callers: usize, f: &Figures) {
    println!(
        "{name:<8} {what:<22} {:<15} callers {callers}: p50 {:>8.0} µs  p99 {:>8.0} µs  {:>8.0} signs/s",
        "exchange key", f.p50_us, f.p99_us, f.per_sec
    );
}

/// Exchange keys through `custody`: one key of each type, made, measured, destroyed.
async fn report_exchange(name: &str, custody: Arc<dyn Custody>, duration: Duration, raw: Option<&RawTransit>) {
    for t in ExchangeKeyType::ALL {
        let key = match custody.create_exchange_key(t).await {
            Ok(k) => k,
            Err(e) => {
                println!("{name:<8} {t:<22} skipped: {e}");
                continue;
            }
        };
        for callers in [1usize, 2, 8] {
            let (c, id) = (custody.clone(), key.id.clone());
            let f = calls(callers, duration, move || {
                let (c, id) = (c.clone(), id.clone());
                async move {
                    c.exchange_sign(&id, MESSAGE).await.expect("sign");
                }
            })
            .await;
            row(name, t.name(), callers, &f);
            if let Some(raw) = raw {
                let raw = raw.clone();
                let id = key.id.clone();
                let f = calls(callers, duration, move || {
                    let (raw, id) = (raw.clone(), id.clone());
                    async move { raw.sign(&id, t).await }
                })
                .await;
                row("transit", &format!("{} (raw sign)", t.name()), callers, &f);
            }
        }
        custody.destroy_exchange_key(&key.id).await.expect("destroy");
    }
}

/// Transit's own `sign`, called over HTTP with nothing verified: OpenBao's rate.
#[derive(Clone)]
struct RawTransit {
    http: reqwest::Client,
    addr: String,
    token: String,
}

impl RawTransit {
    async fn sign(&self, id: &str, t: ExchangeKeyType) {
        use base64::Engine as _;
        let mut body = serde_json::json!({ "input": base64::engine::general_purpose::STANDARD.encode(MESSAGE) });
        if t == ExchangeKeyType::Rsa2048 {
            body["hash_algorithm"] = "sha2-256".into();
            body["signature_algorithm"] = "pkcs1v15".into();
        }
        let resp = self
            .http
            .post(format!("{}/v1/transit/sign/{id}", self.addr))
            .header("X-Vault-Token", &self.token)
            .json(&body)
            .send()
            .await
            .expect("transit sign");
        assert!(resp.status().is_success(), "transit sign: {}", resp.status());
        let _ = resp.bytes().await;
    }
}

/// The same signatures in memory with aws-lc-rs, on `threads` threads.
fn report_in_memory(duration: Duration) {
    use aws_lc_rs::signature::{Ed25519KeyPair, RSA_PKCS1_SHA256, RsaKeyPair};
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let ed =
        Arc::new(Ed25519KeyPair::from_pkcs8(Ed25519KeyPair::generate_pkcs8(&rng).expect("ed").as_ref()).expect("ed"));
    let rsa = {
        use aws_lc_rs::encoding::AsDer as _;
        let k = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("rsa");
        Arc::new(RsaKeyPair::from_pkcs8(k.as_der().expect("der").as_ref()).expect("rsa"))
    };
    for threads in [1usize, 2] {
        for t in ExchangeKeyType::ALL {
            let started = Instant::now();
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    let (ed, rsa) = (ed.clone(), rsa.clone());
                    std::thread::spawn(move || {
                        let rng = aws_lc_rs::rand::SystemRandom::new();
                        let mut sig = vec![0u8; 256];
                        let mut times = Vec::new();
                        while started.elapsed() < duration {
                            let s = Instant::now();
                            match t {
                                ExchangeKeyType::Ed25519 => drop(ed.sign(MESSAGE)),
                                ExchangeKeyType::Rsa2048 => {
                                    rsa.sign(&RSA_PKCS1_SHA256, &rng, MESSAGE, &mut sig).expect("sign")
                                }
                            }
                            times.push(s.elapsed().as_secs_f64() * 1e6);
                        }
                        times
                    })
                })
                .collect();
            let all: Vec<f64> = handles.into_iter().flat_map(|h| h.join().expect("thread")).collect();
            row("aws-lc", &format!("{} in memory", t.name()), threads, &figures(all, started.elapsed().as_secs_f64()));
        }
    }
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` does not.
    let measuring = std::env::args().any(|a| a == "--bench");
    let duration = if measuring { Duration::from_secs(3) } else { Duration::from_millis(50) };
    let workers = std::thread::available_parallelism().map_or(2, usize::from);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build().expect("runtime");
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        // The keyring refuses a directory others can read.
        std::fs::set_permissions(
            dir.path(),
            <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o700),
        )
        .expect("chmod 700");
        let master = MasterKey::from_passphrase_with_params(
            SecretString::from("bench"),
            KdfParams::new(8, 1, 1).expect("params"),
        );
        let local = LocalCustody::init(&dir.path().join("keyring"), master).expect("init");
        for (role, t) in
            [("p256", RoleKeyType::EcdhP256), ("x25519", RoleKeyType::EcdhX25519), ("rsa3072", RoleKeyType::Rsa3072)]
        {
            local.rotate(role, t).await.expect("rotate");
        }
        let local: Arc<dyn Custody> = Arc::new(local);
        report("local", local.clone(), duration).await;
        report_in_memory(duration);
        report_exchange("local", local, duration, None).await;
        if measuring {
            // Unlock cost with the default argon2id parameters (m = 64 MiB, t = 3).
            let path = dir.path().join("keyring-default-kdf");
            LocalCustody::init(&path, MasterKey::from_passphrase(SecretString::from("bench"))).expect("init");
            let t = Instant::now();
            LocalCustody::open(&path, MasterKey::from_passphrase(SecretString::from("bench"))).expect("open");
            println!("local    unlock with the default argon2id: {} ms", t.elapsed().as_millis());
        }
        for (name, var) in [("pkcs11", "SEALGATE_BENCH_PKCS11"), ("openbao", "SEALGATE_BENCH_OPENBAO")] {
            if let Ok(path) = std::env::var(var) {
                let config = sealgate_custody::config::CustodyConfig::load(path.as_ref()).expect("config");
                let custody: Arc<dyn Custody> = Arc::from(config.open().await.expect("open"));
                report(name, custody.clone(), duration).await;
                let raw = match (
                    name,
                    std::env::var("SEALGATE_BENCH_OPENBAO_ADDR"),
                    std::env::var("SEALGATE_BENCH_OPENBAO_TOKEN"),
                ) {
                    ("openbao", Ok(addr), Ok(token)) => Some(RawTransit { http: reqwest::Client::new(), addr, token }),
                    _ => None,
                };
                report_exchange(name, custody, duration, raw.as_ref()).await;
            } else if measuring {
                println!("{name:<8} skipped: set {var} to a custody config to measure it");
            }
        }
    });
}
