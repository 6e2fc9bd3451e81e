//! `sealgate serve`: run the roles (all of them by default, on SQLite and the
//! local keyring under `./sealgate-data`).

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use sealgate_server::serve::{ServeOptions, ServeRole};

#[derive(Args)]
pub struct ServeArgs {
    /// Address of the public listener (the api, the web client, /healthz, /readyz).
    #[arg(long, default_value = "127.0.0.1:8787")]
    listen: SocketAddr,
    /// Address of the service listener (the signer's /v1/sign and /v1/forward, /metrics);
    /// never the public one. Default: loopback, the port after --listen's (127.0.0.1:8788).
    /// Importers and traders elsewhere reach the signer here (--signer-url).
    #[arg(long)]
    service_listen: Option<SocketAddr>,
    /// Data directory (created 0700 on first start).
    #[arg(long, default_value = "./sealgate-data")]
    data_dir: PathBuf,
    /// Start the exchange sandbox in-process and point binance, kraken, okx and coinbase at it.
    #[arg(long)]
    sandbox: bool,
    /// The sandbox's API keys (JSON; default <data-dir>/sandbox-keys.json, demo keys made on first start).
    #[arg(long, requires = "sandbox")]
    sandbox_keys: Option<PathBuf>,
    /// A shared sandbox (`sealgate sandbox --listen ADDR`) for a fleet: point binance, kraken,
    /// okx and coinbase at this URL, e.g. http://127.0.0.1:9900.
    #[arg(long, conflicts_with = "sandbox", value_name = "URL")]
    sandbox_url: Option<String>,
    /// Roles to run, comma-separated: api, signer, importer, trader, notifier (default: all).
    #[arg(long, value_delimiter = ',')]
    roles: Vec<String>,
    /// Database URL (default: SQLite in the data directory); e.g. postgres://user@host/db.
    #[arg(long)]
    database: Option<String>,
    /// Custody configuration (TOML; default: the local keyring in the data directory).
    #[arg(long)]
    custody_config: Option<PathBuf>,
    /// The signers' base URLs (their service listeners), for roles that reach a signer in
    /// another process: repeat the flag or separate with commas. Several: each one's
    /// /readyz is checked every 2 s, calls go round robin to the healthy ones and move to
    /// the next only when connecting fails (a call that may have reached a signer is never
    /// sent twice).
    #[arg(long, value_delimiter = ',', value_name = "URL")]
    signer_url: Vec<String>,
    /// CA certificates (PEM bundle) that https:// signer URLs are verified against (only
    /// these). Without it: the system's roots.
    #[arg(long, value_name = "FILE")]
    signer_ca: Option<PathBuf>,
    /// TLS on the public listener: certificate chain (PEM, leaf first). Needs --tls-key.
    /// Re-read on SIGHUP and when the file changes.
    #[arg(long, value_name = "FILE")]
    tls_cert: Option<PathBuf>,
    /// TLS on the public listener: private key (PEM; a 0600 file). Needs --tls-cert.
    #[arg(long, value_name = "FILE")]
    tls_key: Option<PathBuf>,
    /// TLS on the service listener (signer routes, /metrics, health): certificate chain.
    /// Needs --service-tls-key.
    #[arg(long, value_name = "FILE")]
    service_tls_cert: Option<PathBuf>,
    /// TLS on the service listener: private key (PEM; a 0600 file). Needs --service-tls-cert.
    #[arg(long, value_name = "FILE")]
    service_tls_key: Option<PathBuf>,
    /// Directory of service keys (<role>.key, <role>.pub); default <data-dir>/service.
    #[arg(long)]
    service_keys: Option<PathBuf>,
    /// An exchange's base URL, as ID=URL (repeatable), e.g. binance=https://api.binance.com.
    #[arg(long = "exchange-url", value_name = "ID=URL")]
    exchange_urls: Vec<String>,
    /// Roles that may have signatures returned by /v1/sign (default: none; forward only).
    /// Even then, only for exchanges whose signature binds method, path, query and
    /// body and sends no passphrase in clear (Gate, Bitstamp, Deribit); others: forward.
    #[arg(long, value_delimiter = ',')]
    allow_sign: Vec<String>,
    /// Seconds after the owner first approves a withdrawal to a new destination before
    /// funds may go there (0: no wait). Each withdrawal still needs the owner's passkey.
    #[arg(long, default_value_t = 86_400, value_parser = clap::value_parser!(u64).range(0..=2_592_000))]
    new_destination_wait: u64,
    /// The signer's audit journal (`<data>/audit.journal`), in MiB: each use is answered once
    /// its record is durable there, and copied into the database behind; should the
    /// database stop taking records, the signer signs until the journal is full (about 3,000
    /// uses a MiB), then refuses.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=4096))]
    audit_journal_mib: u64,
    /// Import workers in this process.
    #[arg(long, default_value_t = 1)]
    importer_workers: usize,
    /// How long an import job stays claimed without progress (seconds); a job whose
    /// importer died is taken over by another after this. Each page extends it.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    import_lease_secs: u64,
    /// Minutes between scheduled refreshes of each credential sealed to the importer
    /// (balances and new trades; each credential at its own offset in the period).
    /// 0: no scheduled refresh (imports on credential creation and after orders only).
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u64).range(0..=10_080))]
    import_every: u64,
    /// OIDC issuer: users authenticate with bearer JWTs from it (instead of the local login link).
    #[arg(long, requires = "oidc_audience")]
    oidc_issuer: Option<String>,
    /// The audience those JWTs must name.
    #[arg(long, requires = "oidc_issuer")]
    oidc_audience: Option<String>,
    /// The URL users reach the api at (e.g. https://sealgate.example.com behind a TLS proxy):
    /// when it is https, the session and CSRF cookies are Secure; the login link names it.
    #[arg(long)]
    public_url: Option<String>,
    /// For an api without custody access: the signed recipient key set to publish ({"jws", "pin"}).
    #[arg(long)]
    recipients_file: Option<PathBuf>,
    /// The notifier's SMTP server: smtp://HOST:PORT (STARTTLS per --smtp-starttls) or
    /// smtps://HOST:PORT (TLS from the start). Without it, e-mail is off (webhooks still go).
    #[arg(long, value_name = "URL")]
    smtp_url: Option<String>,
    /// STARTTLS on smtp://: required (default), opportunistic, or none (a relay on loopback).
    #[arg(long, default_value = "required")]
    smtp_starttls: String,
    /// The From: address of notification e-mail.
    #[arg(long, default_value = "sealgate@localhost")]
    smtp_from: String,
    /// SMTP user name (line 1) and password (line 2), in a 0600 file (never on the command line).
    #[arg(long, value_name = "FILE")]
    smtp_credentials_file: Option<PathBuf>,
    /// Notification delivery workers in this process (each its own SMTP connection: one
    /// connection delivers ~20 messages/s, see the README's figures).
    #[arg(long, default_value_t = 4)]
    notifier_workers: usize,
    /// First retry delay of a failed delivery, seconds (doubles per attempt, at most 15 minutes; 8 attempts).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=3600))]
    notify_backoff_secs: u64,
    /// The notify key (derives webhook signing secrets; default <data-dir>/notify.key, made by a
    /// process running both the api and the notifier; copy it to the others, 0600).
    #[arg(long, value_name = "FILE")]
    notify_key: Option<PathBuf>,
    /// Deliver users' webhooks to loopback and private addresses too (development only: by
    /// default a user's endpoint that resolves there is refused, so it cannot reach the
    /// deployment's own network).
    #[arg(long)]
    webhook_allow_private: bool,
    /// Log format: text or json.
    #[arg(long, default_value = "text")]
    log_format: String,
}

/// A certificate and key flag pair: both or neither.
fn tls_pair(
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    names: (&str, &str),
) -> anyhow::Result<Option<sealgate_server::tls::TlsFiles>> {
    match (cert, key) {
        (Some(cert), Some(key)) => Ok(Some(sealgate_server::tls::TlsFiles { cert, key })),
        (None, None) => Ok(None),
        (Some(_), None) => anyhow::bail!("{} needs {} (the certificate's private key)", names.0, names.1),
        (None, Some(_)) => anyhow::bail!("{} needs {} (the key's certificate chain)", names.1, names.0),
    }
}

pub fn run(a: ServeArgs) -> anyhow::Result<()> {
    let tls = tls_pair(a.tls_cert, a.tls_key, ("--tls-cert", "--tls-key"))?;
    let service_tls = tls_pair(a.service_tls_cert, a.service_tls_key, ("--service-tls-cert", "--service-tls-key"))?;
    let filter = tracing_subscriber::EnvFilter::try_from_env("SEALGATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match a.log_format.as_str() {
        "json" => builder.json().init(),
        "text" => builder.init(),
        other => anyhow::bail!("--log-format must be text or json, not {other:?}"),
    }
    let mut opts = ServeOptions {
        listen: a.listen,
        service_listen: a.service_listen,
        data_dir: a.data_dir,
        sandbox: a.sandbox,
        sandbox_keys: a.sandbox_keys,
        sandbox_url: a
            .sandbox_url
            .as_deref()
            .map(sealgate_server::serve::exchange_base_url)
            .transpose()
            .context("--sandbox-url")?,
        database: a.database,
        custody_config: a.custody_config,
        signer_urls: a.signer_url.iter().map(|u| u.trim().to_owned()).filter(|u| !u.is_empty()).collect(),
        signer_ca: a.signer_ca,
        tls,
        service_tls,
        service_keys: a.service_keys,
        importer_workers: a.importer_workers,
        import_lease: std::time::Duration::from_secs(a.import_lease_secs),
        import_every: (a.import_every > 0).then(|| std::time::Duration::from_secs(a.import_every * 60)),
        oidc: a.oidc_issuer.zip(a.oidc_audience),
        recipients_file: a.recipients_file,
        public_url: a.public_url,
        notify: sealgate_server::serve::NotifyOptions {
            smtp_url: a.smtp_url,
            smtp_starttls: sealgate_server::notifier::StartTls::parse(&a.smtp_starttls).with_context(|| {
                format!("--smtp-starttls must be required, opportunistic or none, not {:?}", a.smtp_starttls)
            })?,
            smtp_from: a.smtp_from,
            smtp_credentials_file: a.smtp_credentials_file,
            workers: a.notifier_workers,
            backoff_base: std::time::Duration::from_secs(a.notify_backoff_secs),
            key_file: a.notify_key,
            allow_private_webhooks: a.webhook_allow_private,
            ..Default::default()
        },
        ..ServeOptions::default()
    };
    if !a.roles.is_empty() {
        opts.roles = a
            .roles
            .iter()
            .map(|r| {
                ServeRole::parse(r)
                    .with_context(|| format!("--roles: unknown role {r:?} (api, signer, importer, trader, notifier)"))
            })
            .collect::<anyhow::Result<_>>()?;
    }
    for e in &a.exchange_urls {
        let (id, url) = e.split_once('=').with_context(|| format!("--exchange-url {e:?}: expected ID=URL"))?;
        sealgate_exchanges::scheme(id).with_context(|| format!("--exchange-url {e:?}"))?;
        let url = sealgate_server::serve::exchange_base_url(url).with_context(|| format!("--exchange-url {e:?}"))?;
        opts.exchange_urls.push((id.to_owned(), url));
    }
    opts.new_destination_wait = std::time::Duration::from_secs(a.new_destination_wait);
    opts.audit_journal_size = a.audit_journal_mib << 20;
    for r in &a.allow_sign {
        opts.allow_sign
            .push(sealgate_policy::Role::parse(r).with_context(|| format!("--allow-sign: unknown role {r:?}"))?);
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(sealgate_server::serve::run(opts, shutdown_signal()))?;
    Ok(())
}

pub(crate) async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
