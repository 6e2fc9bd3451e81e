//! `sealgate agent`: the desktop agent and its keystore.

use std::collections::HashMap;
use std::io::{IsTerminal as _, Read as _, Write as _};
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use sealgate_agent::{AllowedExe, Config, Entry, KdfParams, Keystore, Rate, Secret, Secrets};
use secrecy::ExposeSecret as _;

/// `sealgate agent …`
#[derive(Subcommand)]
pub enum AgentCommand {
    /// Run the agent on a Unix socket (passphrase: TTY prompt or SEALGATE_AGENT_PASSPHRASE_FILE).
    Start(StartArgs),
    /// Add a credential; its secret fields come from stdin as JSON
    /// (`{"api_key":…,"api_secret":…,"passphrase":…}`) or, on a terminal, no-echo prompts.
    Add(AddArgs),
    /// List credentials (exchange, label, hint, classes, limits; never secrets).
    List(KeystoreArg),
    /// Remove a credential.
    Remove {
        /// Its label.
        #[arg(long)]
        label: String,
        #[command(flatten)]
        ks: KeystoreArg,
    },
    /// Lock the running agent: it drops every opened credential from memory and
    /// refuses to sign until unlocked (like `ssh-add -x`).
    Lock(SocketArg),
    /// Unlock the running agent with the keystore passphrase (TTY prompt or
    /// SEALGATE_AGENT_PASSPHRASE_FILE); it re-opens the keystore (like `ssh-add -X`).
    Unlock(SocketArg),
    /// Print the pin (RFC 7638 thumbprint) and public JWK of the keystore's audit
    /// key, which signs the agent's audit checkpoints: for `sealgate audit verify --pin`.
    AuditPin(KeystoreArg),
}

/// The agent's socket.
#[derive(Args)]
pub struct SocketArg {
    /// Socket (default `$XDG_RUNTIME_DIR/sealgate/agent.sock`).
    #[arg(long)]
    socket: Option<PathBuf>,
}

impl SocketArg {
    fn path(&self) -> PathBuf {
        self.socket.clone().unwrap_or_else(sealgate_agent::default_socket)
    }
}

/// The keystore file.
#[derive(Args)]
pub struct KeystoreArg {
    /// Keystore file (default `$XDG_CONFIG_HOME/sealgate/agent.keystore`).
    #[arg(long)]
    keystore: Option<PathBuf>,
}

impl KeystoreArg {
    fn path(&self) -> PathBuf {
        self.keystore.clone().unwrap_or_else(sealgate_agent::default_keystore)
    }
}

/// `agent start`.
#[derive(Args)]
pub struct StartArgs {
    #[command(flatten)]
    socket: SocketArg,
    #[command(flatten)]
    ks: KeystoreArg,
    /// Audit chain file (JSONL; default `agent-audit.jsonl` beside the keystore).
    #[arg(long)]
    audit: Option<PathBuf>,
    /// Base URL of an exchange for the `request` op, `ID=URL` (repeatable).
    #[arg(long = "exchange-url")]
    exchange_url: Vec<String>,
    /// Only clients running this executable (pinned by path and SHA-256 at start; repeatable).
    /// The agent's own executable stays allowed, for `agent lock` / `agent unlock`.
    #[arg(long = "allow-exe")]
    allow_exe: Vec<PathBuf>,
    /// Program asked to confirm requests of a credential's `--confirm` classes: it gets a
    /// one-line description as its argument; exit 0 allows (default: $SEALGATE_ASKPASS;
    /// none: such requests are denied).
    #[arg(long = "confirm-program")]
    confirm_program: Option<PathBuf>,
    /// Seconds the confirm program has to answer; no answer denies.
    #[arg(long = "confirm-timeout", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    confirm_timeout: u64,
    /// A signed audit checkpoint every this many records (also at start, lock, exit
    /// and every 30 s while records are added).
    #[arg(long = "checkpoint-every", default_value_t = sealgate_agent::CHECKPOINT_EVERY,
        value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    checkpoint_every: u64,
}

/// `agent add`.
#[derive(Args)]
pub struct AddArgs {
    /// Exchange id (binance, kraken, okx, coinbase, …).
    #[arg(long)]
    exchange: String,
    /// A unique label.
    #[arg(long)]
    label: String,
    /// Allowed classes (read, trade, withdraw).
    #[arg(long, default_value = "read,trade")]
    classes: String,
    /// Symbol allow-list, comma-separated, exchange spelling.
    #[arg(long)]
    symbols: Option<String>,
    /// Largest order notional (quote units).
    #[arg(long = "max-notional")]
    max_notional: Option<String>,
    /// Rate limit: MAX/WINDOW_MS, e.g. 10/1000.
    #[arg(long)]
    rate: Option<String>,
    /// Lifetime in seconds; afterwards nothing is signed with it.
    #[arg(long)]
    lifetime: Option<u64>,
    /// Classes whose every use the user confirms through the agent's confirm
    /// program, comma-separated (e.g. `trade`); must be among --classes.
    #[arg(long)]
    confirm: Option<String>,
    /// Allow the `sign` op (the signed request handed to the client) for this
    /// credential. Off by default: bots use `request`. Refused for an exchange
    /// whose signature does not bind method, path, query and body, or that
    /// sends a passphrase in clear (only Gate, Bitstamp and Deribit qualify).
    #[arg(long = "allow-sign")]
    allow_sign: bool,
    #[command(flatten)]
    ks: KeystoreArg,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn open(path: &std::path::Path) -> anyhow::Result<Keystore> {
    let pass = sealgate_agent::passphrase().map_err(anyhow::Error::msg)?;
    Ok(Keystore::open(path, pass.expose_secret().as_bytes())?)
}

/// Run.
pub fn run(c: AgentCommand, out: &mut Vec<u8>) -> anyhow::Result<()> {
    match c {
        AgentCommand::List(ks) => {
            let ks = open(&ks.path())?;
            let list: Vec<_> = ks.entries.iter().map(Entry::public).collect();
            writeln!(out, "{}", serde_json::to_string_pretty(&list)?)?;
        }
        AgentCommand::Remove { label, ks } => {
            let mut ks = open(&ks.path())?;
            ks.remove(&label)?;
            ks.save()?;
            writeln!(out, "removed {label}")?;
        }
        AgentCommand::Add(a) => add(a, out)?,
        AgentCommand::Start(a) => start(a)?,
        AgentCommand::AuditPin(ks) => {
            let path = ks.path();
            let mut ks = open(&path)?;
            if ks.ensure_audit_key()? {
                ks.save()?;
            }
            let key = ks.audit_key()?.context("the keystore has no audit key")?;
            writeln!(out, "{}", key.public().thumbprint())?;
            writeln!(out, "{}", key.public().to_jwk())?;
        }
        AgentCommand::Lock(s) => {
            block_on(sealgate_agent::client::lock(&s.path()))?;
            writeln!(out, "agent locked: credentials dropped from its memory")?;
        }
        AgentCommand::Unlock(s) => {
            let pass = sealgate_agent::passphrase().map_err(anyhow::Error::msg)?;
            let r = block_on(sealgate_agent::client::unlock(&s.path(), &pass))?;
            drop(pass);
            let n = r.get("credentials").and_then(serde_json::Value::as_u64).unwrap_or(0);
            writeln!(out, "agent unlocked: {n} credential(s) opened")?;
        }
    }
    Ok(())
}

fn block_on<T>(f: impl std::future::Future<Output = Result<T, String>>) -> anyhow::Result<T> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(f).map_err(anyhow::Error::msg)
}

fn list_arg(s: &str) -> Vec<String> {
    s.split(',').map(|x| x.trim().to_owned()).filter(|x| !x.is_empty()).collect()
}

fn add(a: AddArgs, out: &mut Vec<u8>) -> anyhow::Result<()> {
    let secrets: Secrets = if std::io::stdin().is_terminal() {
        let ask = |p: &str| -> anyhow::Result<Option<Secret>> {
            let s = sealgate_agent::prompt_no_echo(p)?;
            Ok((!s.expose_secret().is_empty()).then(|| Secret::new(s.expose_secret().to_owned())))
        };
        Secrets {
            api_key: ask("api_key: ")?,
            api_secret: ask("api_secret: ")?,
            passphrase: ask("passphrase (empty if none): ")?,
            ..Secrets::default()
        }
    } else {
        let mut buf = zeroize::Zeroizing::new(String::new());
        std::io::stdin().read_to_string(&mut buf).context("read the secret fields from stdin")?;
        serde_json::from_str(&buf)
            .context("stdin: a JSON object of api_key, api_secret, passphrase, private_key, key_name")?
    };
    let rate = match &a.rate {
        Some(r) => {
            let (m, w) = r.split_once('/').context("--rate MAX/WINDOW_MS")?;
            Some(Rate { max: m.parse().context("--rate MAX")?, window_ms: w.parse().context("--rate WINDOW_MS")? })
        }
        None => None,
    };
    let path = a.ks.path();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let pass = sealgate_agent::passphrase().map_err(anyhow::Error::msg)?;
    let mut ks = Keystore::open_or_create(&path, pass.expose_secret().as_bytes(), KdfParams::DEFAULT)?;
    ks.add(Entry {
        classes: list_arg(&a.classes),
        symbols: a.symbols.as_deref().map(list_arg),
        max_notional: a.max_notional,
        rate,
        lifetime_s: a.lifetime,
        confirm: a.confirm.as_deref().map(list_arg).unwrap_or_default(),
        allow_sign: a.allow_sign,
        ..Entry::new(&a.label, &a.exchange, secrets, now_ms())
    })?;
    ks.save()?;
    writeln!(out, "added {}", a.label)?;
    Ok(())
}

fn start(a: StartArgs) -> anyhow::Result<()> {
    let h = sealgate_agent::hardening::harden();
    let path = a.ks.path();
    let ks = open(&path)?;
    let audit = a.audit.unwrap_or_else(|| path.with_file_name("agent-audit.jsonl"));
    let mut urls = HashMap::new();
    for u in &a.exchange_url {
        let (id, url) = u.split_once('=').context("--exchange-url ID=URL")?;
        urls.insert(id.to_owned(), url.to_owned());
    }
    let allow_exe = a
        .allow_exe
        .iter()
        .map(|p| AllowedExe::pin(p).with_context(|| format!("--allow-exe {}", p.display())))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let confirm_program = a.confirm_program.or_else(|| std::env::var_os("SEALGATE_ASKPASS").map(PathBuf::from));
    if let Some(p) = &confirm_program {
        let meta = std::fs::metadata(p).with_context(|| format!("confirm program {}", p.display()))?;
        if !meta.is_file() || std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o111 == 0 {
            bail!("confirm program {} is not an executable file", p.display());
        }
    }
    let cfg = Config {
        socket: a.socket.path(),
        audit,
        exchange_urls: urls,
        allow_exe,
        confirm_program,
        confirm_timeout: std::time::Duration::from_secs(a.confirm_timeout),
        checkpoint_every: a.checkpoint_every,
    };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async move {
        let agent = sealgate_agent::Agent::new(cfg.clone(), ks).map_err(anyhow::Error::msg)?;
        let l = agent.bind().map_err(anyhow::Error::msg)?;
        // One line (a supervisor may read only the first and close the pipe;
        // later lines are written without panicking on a closed stderr).
        let audit = cfg.audit.display();
        eprintln!(
            "sealgate agent: listening on {} (non-dumpable: {}, core 0: {}, memory locked: {}, confirm program: {}); \
             audit chain {audit}, checkpoints signed by the keystore's audit key (pin {pin}); verify with: sealgate \
             audit verify --file {audit} --checkpoints {} --pin {pin}",
            cfg.socket.display(),
            h.non_dumpable,
            h.no_core,
            h.memory_locked,
            cfg.confirm_program.as_ref().map_or_else(|| "none".to_owned(), |p| p.display().to_string()),
            sealgate_agent::checkpoint_path(&cfg.audit).display(),
            pin = agent.audit_pin(),
        );
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = agent.clone().serve(l) => {
                r?;
                bail!("agent stopped")
            }
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        // A clean stop: audited, and the chain's head signed.
        agent.shutdown();
        let _ = std::fs::remove_file(&cfg.socket);
        let _ = writeln!(std::io::stderr(), "sealgate agent: stopped");
        Ok(())
    })
}
