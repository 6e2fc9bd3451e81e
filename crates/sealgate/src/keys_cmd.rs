//! `sealgate keys …` and `sealgate custody selftest`: role keys in the
//! configured custody (local keyring, PKCS#11 token or OpenBao Transit).

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context as _, bail};
use clap::{Subcommand, ValueEnum};
use sealgate_custody::config::CustodyConfig;
use sealgate_custody::{
    Custody, CustodyError, ExchangeKeyInfo, ExchangeKeyType, Exportability, KeyStatus, RoleKeyType, keyset,
};
use sealgate_envelope::secrecy::ExposeSecret as _;
use sealgate_envelope::{Binding, Scope, SealRequest, open_credential, seal_credential};
use sealgate_server::audit::{AuditLog, CheckpointPolicy};
use sealgate_server::rewrap::RewrapOptions;

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Create the custody's root signing key (and, for `local`, the keyring
    /// and a missing master key file); print the root key's pin.
    Init {
        /// Custody configuration (TOML).
        #[arg(long)]
        custody: PathBuf,
    },
    /// List role key versions.
    List {
        /// Custody configuration (TOML).
        #[arg(long)]
        custody: PathBuf,
    },
    /// Create a new active version for a role (the previous one becomes decrypt-only).
    Rotate {
        /// Custody configuration (TOML).
        #[arg(long)]
        custody: PathBuf,
        /// The role (importer, trader, …).
        #[arg(long)]
        role: String,
        /// Key type (default: the custody's own, rsa-3072 on OpenBao, ecdh-p256 elsewhere).
        #[arg(long, value_enum)]
        key_type: Option<KeyTypeArg>,
    },
    /// Set a version's status. `retired` is refused while any envelope is sealed to it;
    /// `disabled` (a leaked key) stops every signer from opening through it within its
    /// revalidation interval (0.5 s by default). Both need --database.
    SetStatus {
        /// Custody configuration (TOML).
        #[arg(long)]
        custody: PathBuf,
        /// The version.
        #[arg(long)]
        kid: String,
        /// active, decrypt-only, retired or disabled.
        #[arg(long)]
        status: String,
        /// The deployment's database (sqlite://… or postgres://…): checked before retiring,
        /// told of a disabled version (signers read it), and audited.
        #[arg(long)]
        database: Option<String>,
        /// Who is acting, for the audit record.
        #[arg(long, default_value = "operator")]
        operator: String,
    },
    /// Seal every envelope sealed to version FROM again to the role's active version, with
    /// the same binding. Resumable (run it again after a crash), parallel across processes
    /// on PostgreSQL; one audit record per batch. Exits 2 if any envelope is left on FROM.
    Rewrap {
        /// Custody configuration (TOML): run where the signer's custody is.
        #[arg(long)]
        custody: PathBuf,
        /// The deployment's database (sqlite://… or postgres://…).
        #[arg(long)]
        database: String,
        /// The role.
        #[arg(long)]
        role: String,
        /// The version to move away from (decrypt-only).
        #[arg(long)]
        from: String,
        /// Envelopes per batch (and audit record), 1-48.
        #[arg(long, default_value_t = sealgate_server::rewrap::MAX_BATCH)]
        batch: u32,
        /// Parallel open/seal workers (default: the number of CPUs).
        #[arg(long)]
        workers: Option<usize>,
        /// Who is acting, for the audit records.
        #[arg(long, default_value = "operator")]
        operator: String,
    },
    /// Print the signed recipient key set (JWS) of the active role keys.
    ExportRecipients {
        /// Custody configuration (TOML).
        #[arg(long)]
        custody: PathBuf,
        /// Seconds until the set expires.
        #[arg(long, default_value_t = 86_400)]
        ttl: u64,
    },
    /// Print the RFC 7638 thumbprint of the root key: the pin clients carry.
    Pin {
        /// Custody configuration (TOML).
        #[arg(long)]
        custody: PathBuf,
    },
    /// Create the service key pairs of a split deployment in DIR (0700): importer.key,
    /// trader.key and api.key (0600; for the importer hosts, and the api and trader hosts:
    /// api.key only makes and destroys keys born in the custody) and their .pub files (for
    /// the signers). Existing pairs are kept.
    ServiceKeys {
        /// The directory (created 0700).
        #[arg(long)]
        dir: PathBuf,
    },
}

#[derive(Subcommand)]
pub enum CustodyCommand {
    /// For every active key: seal a random canary, open it through the
    /// custody, check the key cannot be exported, print per-key latency.
    /// For every exchange key: sign random messages and verify them; then make,
    /// use and destroy one throwaway exchange key of each type.
    Selftest {
        /// Custody configuration (TOML).
        #[arg(long)]
        custody: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum KeyTypeArg {
    EcdhP256,
    EcdhP384,
    EcdhX25519,
    #[value(name = "rsa-3072")]
    Rsa3072,
    #[value(name = "rsa-4096")]
    Rsa4096,
}

impl From<KeyTypeArg> for RoleKeyType {
    fn from(k: KeyTypeArg) -> Self {
        match k {
            KeyTypeArg::EcdhP256 => Self::EcdhP256,
            KeyTypeArg::EcdhP384 => Self::EcdhP384,
            KeyTypeArg::EcdhX25519 => Self::EcdhX25519,
            KeyTypeArg::Rsa3072 => Self::Rsa3072,
            KeyTypeArg::Rsa4096 => Self::Rsa4096,
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the async runtime")
}

fn now() -> anyhow::Result<u64> {
    Ok(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).context("clock before 1970")?.as_secs())
}

pub fn run_keys(cmd: KeysCommand, out: &mut Vec<u8>) -> anyhow::Result<()> {
    if let KeysCommand::Rewrap { custody, database, role, from, batch, workers, operator } = cmd {
        return run_rewrap(&custody, &database, role, from, batch, workers, operator, out);
    }
    runtime()?.block_on(async {
        match cmd {
            KeysCommand::Init { custody } => {
                let config = CustodyConfig::load(&custody)?;
                let c = config.init().await?;
                writeln!(out, "{}", keyset::thumbprint(&c.root_public().await?)?)?;
            }
            KeysCommand::List { custody } => {
                let c = CustodyConfig::load(&custody)?.open().await?;
                writeln!(out, "{:<24} {:<12} {:>7} {:<13} {:<16} created", "kid", "role", "version", "status", "alg")?;
                for k in c.keys().await? {
                    let alg = k.public.seal_alg().name();
                    writeln!(
                        out,
                        "{:<24} {:<12} {:>7} {:<13} {:<16} {}",
                        k.kid,
                        k.role,
                        k.version,
                        k.status.name(),
                        alg,
                        k.created_at
                    )?;
                }
            }
            KeysCommand::Rotate { custody, role, key_type } => {
                check_role(&role)?;
                let c = CustodyConfig::load(&custody)?.open().await?;
                let key_type = key_type.map_or_else(|| c.default_role_key_type(), RoleKeyType::from);
                let k = c.rotate(&role, key_type).await?;
                writeln!(out, "{}", k.kid)?;
            }
            KeysCommand::SetStatus { custody, kid, status, database, operator } => {
                let status = KeyStatus::parse(&status)
                    .with_context(|| format!("--status {status:?}: use active, decrypt-only, retired or disabled"))?;
                let c = CustodyConfig::load(&custody)?.open().await?;
                let Some(url) = database else {
                    if matches!(status, KeyStatus::Retired | KeyStatus::Disabled) {
                        bail!(
                            "--status {status} needs --database URL (to check no envelope is sealed to {kid}, and to stop every signer)"
                        );
                    }
                    c.set_status(&kid, status).await?;
                    return Ok(());
                };
                let store = sealgate_store::Store::connect(&url).await.context("database")?;
                let audit = AuditLog::start(store.clone(), None);
                let r = sealgate_server::rewrap::set_key_status(
                    &store,
                    c.as_ref(),
                    &audit,
                    &format!("operator:{operator}"),
                    &kid,
                    status,
                )
                .await;
                drop(audit);
                store.close().await;
                r?;
                writeln!(out, "{kid} {status}")?;
            }
            KeysCommand::Rewrap { .. } => bail!("internal: rewrap runs on its own runtime"),
            KeysCommand::ExportRecipients { custody, ttl } => {
                let c = CustodyConfig::load(&custody)?.open().await?;
                writeln!(out, "{}", keyset::sign(c.as_ref(), now()?, ttl).await?)?;
            }
            KeysCommand::ServiceKeys { dir } => {
                for (role, made) in sealgate_server::serve::create_service_keys(&dir)? {
                    let what = if made { "created" } else { "kept" };
                    let key = dir.join(format!("{role}.key"));
                    writeln!(out, "{what} {} and {role}.pub", key.display())?;
                }
            }
            KeysCommand::Pin { custody } => {
                let c = CustodyConfig::load(&custody)?.open().await?;
                writeln!(out, "{}", keyset::thumbprint(&c.root_public().await?)?)?;
            }
        }
        Ok(())
    })
}

fn check_role(role: &str) -> anyhow::Result<()> {
    let ok = !role.is_empty()
        && role.len() <= 32
        && role.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !ok {
        bail!("--role must be 1-32 characters of a-z, 0-9 and -");
    }
    Ok(())
}

/// Opens per key in the latency figure.
const SELFTEST_OPENS: usize = 10;

pub fn run_custody(cmd: CustodyCommand, out: &mut Vec<u8>) -> anyhow::Result<()> {
    let CustodyCommand::Selftest { custody } = cmd;
    runtime()?.block_on(async {
        let c = CustodyConfig::load(&custody)?.open().await?;
        let mut failures = 0;
        writeln!(out, "{:<24} {:<12} {:<16} {:>12} result", "kid", "role", "exportable", "open µs p50")?;
        for k in c.keys().await?.into_iter().filter(|k| k.status == KeyStatus::Active) {
            let result = selftest_one(c.as_ref(), &k).await;
            let export = c.exportability(&k.kid).await.map_or("unknown", export_name);
            match result {
                Ok(us) => row(out, &k.kid, &k.role, export, Some(us), "ok")?,
                Err(e) => {
                    failures += 1;
                    row(out, &k.kid, &k.role, export, None, &format!("FAILED: {e:#}"))?;
                }
            }
        }
        // Exchange keys (born in the custody): each one held signs and verifies; then one
        // throwaway key of each type shows the custody can make them (created, used,
        // destroyed).
        let held = match c.exchange_keys().await {
            Ok(keys) => keys,
            Err(e) => {
                failures += 1;
                row(out, "exchange keys", "-", "-", None, &format!("FAILED: {e:#}"))?;
                Vec::new()
            }
        };
        for k in &held {
            let (kind, export) = (k.key_type.name(), export_name(k.exportability));
            match selftest_exchange_key(c.as_ref(), k).await {
                Ok(us) => row(out, &k.id, kind, export, Some(us), "ok (sign µs p50)")?,
                Err(e) => {
                    failures += 1;
                    row(out, &k.id, kind, export, None, &format!("FAILED: {e:#}"))?;
                }
            }
        }
        for key_type in ExchangeKeyType::ALL {
            let (probe, kind) = (format!("probe {key_type}"), key_type.name());
            let k = match c.create_exchange_key(key_type).await {
                Ok(k) => k,
                Err(CustodyError::Unsupported { what, .. }) => {
                    row(out, &probe, kind, "-", None, &format!("unsupported: cannot {what}"))?;
                    continue;
                }
                Err(e) => {
                    failures += 1;
                    row(out, &probe, kind, "-", None, &format!("FAILED: {e:#}"))?;
                    continue;
                }
            };
            let export = export_name(k.exportability);
            let result = selftest_exchange_key(c.as_ref(), &k).await;
            let destroyed = c.destroy_exchange_key(&k.id).await.map_err(anyhow::Error::from);
            match (result, destroyed) {
                (Ok(us), Ok(())) => row(out, &probe, kind, export, Some(us), "ok (sign µs p50; destroyed)")?,
                (Err(e), _) | (Ok(_), Err(e)) => {
                    failures += 1;
                    row(out, &probe, kind, export, None, &format!("FAILED: {e:#} (key {})", k.id))?;
                }
            }
        }
        if failures > 0 {
            // The table is still wanted: print it on stderr with the error.
            let table = String::from_utf8_lossy(out).into_owned();
            out.clear();
            bail!("{failures} key(s) failed the selftest\n{table}");
        }
        Ok(())
    })
}

/// How the selftest names what the backend says of a key's exportability.
fn export_name(e: Exportability) -> &'static str {
    match e {
        Exportability::NonExportable => "no",
        Exportability::SoftwareKey => "software key",
        Exportability::Unknown => "unknown",
    }
}

/// One row of the selftest table; `us` is the median latency, "-" when there is none.
fn row(out: &mut Vec<u8>, name: &str, kind: &str, export: &str, us: Option<f64>, result: &str) -> std::io::Result<()> {
    let us = us.map_or_else(|| "-".to_owned(), |us| format!("{us:.0}"));
    writeln!(out, "{name:<24} {kind:<12} {export:<16} {us:>12} {result}")
}

/// Seal a random canary to the key and open it through the custody;
/// return the median open time in µs.
async fn selftest_one(c: &dyn Custody, k: &sealgate_custody::KeyInfo) -> anyhow::Result<f64> {
    // Random canaries (UUID v4 text: 122 random bits each).
    let secret = sealgate_envelope::new_credential_id()?;
    let credential = format!(r#"{{"api_key":"SELFTEST-{}","api_secret":"{secret}"}}"#, &secret[..8]);
    let req = SealRequest {
        sub: "selftest".into(),
        cid: sealgate_envelope::new_credential_id()?,
        exch: "selftest".into(),
        aud: k.role.clone(),
        scope: Scope::parse_list("read")?,
        iat: now()?,
        own: None,
    };
    let (envelope, _) = seal_credential(credential.as_bytes(), &k.public, &req)?;
    let binding = Binding {
        sub: req.sub.clone(),
        cid: req.cid.clone(),
        exch: req.exch.clone(),
        aud: req.aud.clone(),
        now: Some(now()?),
    };
    let key = c.decryption_key(&k.kid).await?;
    let mut times = Vec::with_capacity(SELFTEST_OPENS);
    for _ in 0..SELFTEST_OPENS {
        let started = Instant::now();
        let opened = open_credential(envelope.as_bytes(), key.as_ref(), &binding).await?;
        times.push(started.elapsed().as_secs_f64() * 1e6);
        let got = opened.credential.get("api_secret").map(|s| s.expose_secret() == secret);
        if got != Some(true) {
            bail!("the opened canary differs from the sealed one");
        }
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// Sign random canary messages with an exchange key through the custody and verify each
/// against its public key; return the median signing time in µs.
async fn selftest_exchange_key(c: &dyn Custody, k: &ExchangeKeyInfo) -> anyhow::Result<f64> {
    let mut times = Vec::with_capacity(SELFTEST_OPENS);
    for _ in 0..SELFTEST_OPENS {
        let message = format!("selftest={}&timestamp={}", sealgate_envelope::new_credential_id()?, now()?);
        let started = Instant::now();
        let sig = c.exchange_sign(&k.id, message.as_bytes()).await?;
        times.push(started.elapsed().as_secs_f64() * 1e6);
        if !k.verify(message.as_bytes(), &sig) {
            bail!("the signature does not verify against the key's public key");
        }
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// `keys rewrap`: a multi-threaded runtime (opening and sealing use every core), a progress
/// bar on a terminal, a JSON summary otherwise.
#[allow(clippy::too_many_arguments)]
fn run_rewrap(
    custody: &std::path::Path,
    database: &str,
    role: String,
    from: String,
    batch: u32,
    workers: Option<usize>,
    operator: String,
    out: &mut Vec<u8>,
) -> anyhow::Result<()> {
    use std::io::IsTerminal as _;
    check_role(&role)?;
    // This process holds plaintext credentials for a moment each: no core dumps, no ptrace,
    // memory locked where the limits allow it.
    for w in sealgate_hardening::harden().warnings() {
        eprintln!("warning: {w}");
    }
    let workers = workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from)).max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let tty = std::io::stdout().is_terminal();
    let summary = rt.block_on(async {
        let c: std::sync::Arc<dyn Custody> = CustodyConfig::load(custody)?.open().await?.into();
        let store = sealgate_store::Store::connect(database).await.context("database")?;
        let policy =
            CheckpointPolicy { custody: c.clone(), every_records: 1000, every: std::time::Duration::from_secs(1) };
        let audit = AuditLog::start(store.clone(), Some(policy.clone()));
        let opts = RewrapOptions { role, from, batch, workers, actor: format!("operator:{operator}") };
        let bar = tty.then(|| {
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} re-wrap [{bar:40}] {pos}/{len} {per_sec} ETA {eta} {msg}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        });
        let r = sealgate_server::rewrap::rewrap(&store, c, &audit, &opts, |p| {
            if let Some(bar) = &bar {
                bar.set_length(p.total);
                bar.set_position(p.rewrapped + p.skipped);
                if p.skipped > 0 {
                    bar.set_message(format!("({} skipped)", p.skipped));
                }
            }
        })
        .await;
        if let Some(bar) = &bar {
            bar.finish_and_clear();
        }
        drop(audit);
        // The run's records under a signed checkpoint before it exits.
        if r.as_ref().is_ok_and(|s| s.batches > 0) {
            sealgate_server::audit::seal_tail(&store, &policy)
                .await
                .map_err(|e| anyhow::anyhow!("audit checkpoint: {e}"))?;
        }
        store.close().await;
        anyhow::Ok(r?)
    })?;
    if summary.left > 0 {
        let first = summary
            .failures
            .first()
            .map(|f| format!("; first failure: {}/{}/{}: {}", f.owner, f.credential_id, f.role, f.reason))
            .unwrap_or_default();
        bail!(
            "{} envelope(s) or grant passphrase(s) are still sealed to {} ({} could not be re-wrapped{first}; any others arrived during the run: run the re-wrap again)",
            summary.left,
            summary.from,
            summary.failed
        );
    }
    if tty {
        writeln!(
            out,
            "re-wrapped {} envelope(s) from {} to {} in {:.1} s ({:.0}/s; per envelope: open {:.0} µs, seal {:.0} µs, store {:.0} µs); {} left on {}",
            summary.rewrapped,
            summary.from,
            summary.to,
            summary.elapsed_ms as f64 / 1000.0,
            summary.rate_per_sec,
            summary.open_us,
            summary.seal_us,
            summary.store_us,
            summary.left,
            summary.from
        )?;
    } else {
        serde_json::to_writer(&mut *out, &summary)?;
        writeln!(out)?;
    }
    Ok(())
}
