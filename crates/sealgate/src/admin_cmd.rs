//! `sealgate admin …`: operator actions on a running deployment's store.

use std::io::Write;

use anyhow::Context as _;
use clap::Subcommand;
use sealgate_audit::Action;
use sealgate_server::audit::{AuditEvent, AuditLog};

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Turn the global kill switch on (every signer refuses every request within 0.5 s) or off.
    KillSwitch {
        /// `on` or `off`.
        #[arg(value_parser = ["on", "off"])]
        state: String,
        /// The deployment's database (sqlite://… or postgres://…).
        #[arg(long)]
        database: String,
        /// Who is acting, for the audit record.
        #[arg(long, default_value = "operator")]
        operator: String,
    },
}

pub fn run(cmd: AdminCommand, out: &mut Vec<u8>) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    match cmd {
        AdminCommand::KillSwitch { state, database, operator } => rt.block_on(async {
            let store = sealgate_store::Store::connect(&database).await.context("database")?;
            store.set_setting(sealgate_store::KILL_SWITCH, &state).await.context("kill switch")?;
            let audit = AuditLog::start(store.clone(), None);
            audit
                .record(AuditEvent::new(
                    format!("operator:{operator}"),
                    Action::KillSwitch,
                    "global",
                    serde_json::json!({"state": state}),
                ))
                .await
                .context("audit")?;
            store.close().await;
            writeln!(out, "kill switch {state}")?;
            Ok(())
        }),
    }
}
