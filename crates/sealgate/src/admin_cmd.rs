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
    /// Print a service token (5 minutes) of a role, made with its service key: for calling the
    /// signer's `/v1/sign` and `/v1/forward` by hand or from a test (`Authorization: Bearer`).
    ServiceToken {
        /// `importer` or `trader`.
        #[arg(long, value_parser = ["importer", "trader"])]
        role: String,
        /// The directory of service keys (`<data>/service` of `sealgate serve`); the key
        /// `<role>.key` must exist there, private (0600).
        #[arg(long)]
        service_keys: std::path::PathBuf,
    },
}

pub fn run(cmd: AdminCommand, out: &mut Vec<u8>) -> anyhow::Result<()> {
    if let AdminCommand::ServiceToken { role, service_keys } = &cmd {
        let path = service_keys.join(format!("{role}.key"));
        sealgate_server::serve::check_private_file(&path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let der = zeroize::Zeroizing::new(std::fs::read(&path).with_context(|| path.display().to_string())?);
        let key = sealgate_server::service_auth::ServiceKey::from_pkcs8(role, &der)
            .with_context(|| path.display().to_string())?;
        writeln!(out, "{}", key.token(sealgate_server::now_ms() / 1000))?;
        return Ok(());
    }
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
        AdminCommand::ServiceToken { .. } => Ok(()),
    }
}
