//! `sealgate incident …`: the breach response (see `sealgate_server::incident`).
//!
//! `open` makes an incident and runs its steps; after a crash (or an error in a step),
//! `resume ID` runs the steps that have not ended — `open` again would make a second,
//! overlapping incident (allowed: each has its own scope, steps and report). The incident's
//! id is printed on stderr as soon as it exists, so an operator can resume it.

use std::io::{IsTerminal as _, Write};
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::Subcommand;
use sealgate_custody::Custody;
use sealgate_custody::config::CustodyConfig;
use sealgate_server::audit::{AuditLog, CheckpointPolicy};
use sealgate_server::incident::{OpenRequest, Report, RunOptions};

/// Test hook: stop (exit 3, as a crash) after the named step (`freeze`, `rotate:custody`,
/// `rotate`, `rewrap`, `notify`).
const STOP_AFTER_ENV: &str = "SEALGATE_TEST_INCIDENT_STOP_AFTER";

#[derive(Subcommand)]
pub enum IncidentCommand {
    /// Open an incident and run it: freeze the credentials in scope, rotate the role keys in
    /// scope and re-wrap (unless --no-rotate), queue one message per affected user and per
    /// operator endpoint, print and store the report. A scope is required: --role,
    /// --exchange, --user (with --credential), or --all for every credential.
    Open {
        /// What happened, in words users will read (1-500 characters).
        #[arg(long)]
        reason: String,
        /// Every credential.
        #[arg(long)]
        all: bool,
        /// Credentials sealed to this role.
        #[arg(long)]
        role: Option<String>,
        /// Credentials of this exchange.
        #[arg(long)]
        exchange: Option<String>,
        /// Credentials of this user.
        #[arg(long)]
        user: Option<String>,
        /// This credential id (needs --user: ids are unique per user).
        #[arg(long)]
        credential: Option<String>,
        /// Do not rotate role keys nor re-wrap (a leak of users' exchange keys, not of ours).
        #[arg(long)]
        no_rotate: bool,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Run the steps of an open incident that have not ended (after a crash or an error).
    Resume {
        /// The incident id.
        id: String,
        #[command(flatten)]
        run: RunArgs,
    },
    /// An incident's progress (or the open ones): JSON when stdout is not a terminal.
    Status {
        /// The incident id (default: every open incident).
        id: Option<String>,
        /// The deployment's database (sqlite://… or postgres://…).
        #[arg(long)]
        database: String,
        /// JSON even on a terminal.
        #[arg(long)]
        json: bool,
    },
    /// Close an incident whose steps all ended. Unfreezes nothing: each user unfreezes their
    /// own credentials.
    Close {
        /// The incident id.
        id: String,
        /// The deployment's database.
        #[arg(long)]
        database: String,
        /// Who is acting, for the audit record.
        #[arg(long, default_value = "operator")]
        operator: String,
    },
}

#[derive(clap::Args)]
pub struct RunArgs {
    /// The deployment's database (sqlite://… or postgres://…).
    #[arg(long)]
    database: String,
    /// Custody configuration (TOML), to rotate and re-wrap: run where the signer's custody is.
    #[arg(long)]
    custody: Option<PathBuf>,
    /// Re-wrap: envelopes per batch (and audit record), 1-48.
    #[arg(long, default_value_t = sealgate_server::rewrap::MAX_BATCH)]
    batch: u32,
    /// Re-wrap: parallel open/seal workers (default: the number of CPUs).
    #[arg(long)]
    workers: Option<usize>,
    /// Who is acting, for the audit records.
    #[arg(long, default_value = "operator")]
    operator: String,
    /// JSON report even on a terminal.
    #[arg(long)]
    json: bool,
}

pub fn run(cmd: IncidentCommand, out: &mut Vec<u8>) -> anyhow::Result<()> {
    match cmd {
        IncidentCommand::Open { reason, all, role, exchange, user, credential, no_rotate, run } => {
            let req = OpenRequest {
                reason,
                all,
                role,
                exchange,
                user,
                credential,
                rotate: !no_rotate,
                actor: format!("operator:{}", run.operator),
            };
            if req.rotate && run.custody.is_none() {
                bail!("rotating role keys needs --custody FILE (or --no-rotate if our keys are not at risk)");
            }
            execute(run, Some(req), None, out)
        }
        IncidentCommand::Resume { id, run } => execute(run, None, Some(id), out),
        IncidentCommand::Status { id, database, json } => {
            let json = json || !std::io::stdout().is_terminal();
            runtime(1)?.block_on(async {
                let store = sealgate_store::Store::connect(&database).await.context("database")?;
                let ids = match id {
                    Some(id) => vec![id],
                    None => store.incidents(true, 1000).await?.into_iter().map(|i| i.id).collect(),
                };
                let mut reports = Vec::new();
                for id in &ids {
                    reports.push(sealgate_server::incident::status(&store, id).await?);
                }
                store.close().await;
                for r in &reports {
                    print_report(r, json, out)?;
                }
                if reports.is_empty() && !json {
                    writeln!(out, "no open incident")?;
                }
                anyhow::Ok(())
            })
        }
        IncidentCommand::Close { id, database, operator } => runtime(1)?.block_on(async {
            let store = sealgate_store::Store::connect(&database).await.context("database")?;
            let audit = AuditLog::start(store.clone(), None);
            let r = sealgate_server::incident::close(&store, &audit, &id, &format!("operator:{operator}")).await;
            drop(audit);
            store.close().await;
            r?;
            writeln!(out, "incident {id} closed (frozen credentials stay frozen until their owners unfreeze them)")?;
            anyhow::Ok(())
        }),
    }
}

fn runtime(workers: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers.max(1))
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn execute(run: RunArgs, open: Option<OpenRequest>, resume: Option<String>, out: &mut Vec<u8>) -> anyhow::Result<()> {
    // The re-wrap holds plaintext credentials for a moment each: no core dumps, no ptrace.
    if run.custody.is_some() {
        for w in sealgate_hardening::harden().warnings() {
            eprintln!("warning: {w}");
        }
    }
    let workers = run.workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from)).max(1);
    let json = run.json || !std::io::stdout().is_terminal();
    let stop_after = std::env::var(STOP_AFTER_ENV).ok();
    let report = runtime(workers)?.block_on(async {
        let custody: Option<std::sync::Arc<dyn Custody>> = match &run.custody {
            Some(path) => Some(CustodyConfig::load(path)?.open().await?.into()),
            None => None,
        };
        let store = sealgate_store::Store::connect(&run.database).await.context("database")?;
        let policy = custody.clone().map(|c| CheckpointPolicy {
            custody: c,
            every_records: 1000,
            every: std::time::Duration::from_secs(1),
        });
        let audit = AuditLog::start(store.clone(), policy.clone());
        let actor = format!("operator:{}", run.operator);
        let id = match (open, resume) {
            (Some(req), _) => {
                let inc = sealgate_server::incident::open(&store, &audit, &req).await?;
                eprintln!("incident {} opened (after a crash: sealgate incident resume {})", inc.id, inc.id);
                inc.id
            }
            (None, Some(id)) => id,
            (None, None) => bail!("internal: nothing to run"),
        };
        let opts = RunOptions { custody, batch: run.batch, workers, actor, stop_after: stop_after.clone() };
        let r = sealgate_server::incident::run(&store, &audit, &id, &opts, |step| eprintln!("incident {id}: {step}…"))
            .await;
        if let Err(sealgate_server::incident::IncidentError::Stopped(at)) = &r {
            eprintln!("incident {id}: stopped after {at} ({STOP_AFTER_ENV})");
            std::process::exit(3);
        }
        drop(audit);
        // The run's records under a signed checkpoint before it exits.
        if let (Ok(_), Some(policy)) = (&r, &policy) {
            sealgate_server::audit::seal_tail(&store, policy)
                .await
                .map_err(|e| anyhow::anyhow!("audit checkpoint: {e}"))?;
        }
        store.close().await;
        anyhow::Ok(r.with_context(|| format!("incident {id} (run `sealgate incident resume {id}` to go on)"))?)
    })?;
    print_report(&report, json, out)
}

fn print_report(r: &Report, json: bool, out: &mut Vec<u8>) -> anyhow::Result<()> {
    if json {
        serde_json::to_writer(&mut *out, r)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(out, "incident {} [{}] scope: {} — {}", r.id, r.state, r.scope, r.reason)?;
    for s in &r.steps {
        let took = s.ended_ms.map_or_else(|| "running".to_owned(), |e| format!("{} ms", e - s.started_ms));
        writeln!(out, "  {:<8} {:>10}  {}", s.step, took, s.counts)?;
    }
    if !r.complete {
        writeln!(out, "  (steps left: sealgate incident resume {})", r.id)?;
    }
    Ok(())
}
