//! Load generator: envelope opens through each custody backend, with 1, 2
//! and 8 concurrent callers; prints per-open latency (p50, p99) and
//! opens/s; and the local keyring's unlock time with the default argon2id. Not a pass/fail test: `cargo bench -p sealgate-custody --bench
//! custody_load` measures; under `cargo test --all-targets` it runs a
//! short smoke pass.
//!
//! Backends: `local` always; `pkcs11` (SoftHSM2) and `openbao` when
//! SEALGATE_BENCH_PKCS11 / SEALGATE_BENCH_OPENBAO point at a custody
//! config (their services must be running; see the README).

use std::sync::Arc;
use std::time::{Duration, Instant};

use sealgate_custody::local::{KdfParams, LocalCustody, MasterKey};
use sealgate_custody::{Custody, KeyStatus, RoleKeyType};
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
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..callers {
        let (custody, kid, role, envelope) = (custody.clone(), kid.clone(), role.clone(), envelope.clone());
        tasks.push(tokio::spawn(async move {
            let handle = custody.decryption_key(&kid).await.expect("handle");
            let binding =
                Binding { sub: "bench".into(), cid: "bench-1".into(), exch: "binance".into(), aud: role, now: None };
            let mut times = Vec::new();
            while started.elapsed() < duration {
                let t = Instant::now();
                open_credential(envelope.as_bytes(), handle.as_ref(), &binding).await.expect("open");
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
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_by(f64::total_cmp);
    let pct = |p: f64| all.get(((all.len() as f64 - 1.0) * p) as usize).copied().unwrap_or(f64::NAN);
    Figures { p50_us: pct(0.5), p99_us: pct(0.99), per_sec: all.len() as f64 / elapsed }
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
        report("local", Arc::new(local), duration).await;
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
                report(name, custody, duration).await;
            } else if measuring {
                println!("{name:<8} skipped: set {var} to a custody config to measure it");
            }
        }
    });
}
