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
    /// The notification outbox: counts per state and the newest messages with their delivery
    /// state (attempts, next try, last error). Never prints a message body.
    Notifications {
        /// The deployment's database (sqlite://… or postgres://…).
        #[arg(long)]
        database: String,
        /// Only messages in this state.
        #[arg(long, value_parser = ["queued", "sending", "sent", "failed"])]
        state: Option<String>,
        /// How many to list (newest first).
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        limit: u32,
        /// JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Add an operator webhook endpoint: it receives every user's events (not refusals),
    /// signed per Standard Webhooks; its secret is printed once.
    WebhookAdd {
        /// https://… (http only to localhost).
        url: String,
        /// The deployment's database.
        #[arg(long)]
        database: String,
        /// The deployment's notify key file (0600), as the notifier uses it.
        #[arg(long)]
        notify_key: std::path::PathBuf,
    },
    /// Remove an operator webhook endpoint.
    WebhookRemove {
        /// Its id.
        id: String,
        /// The deployment's database.
        #[arg(long)]
        database: String,
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
        AdminCommand::Notifications { database, state, limit, json } => rt.block_on(async {
            let store = sealgate_store::Store::connect(&database).await.context("database")?;
            let counts = store.notification_counts().await.context("notifications")?;
            let rows = store.list_notifications(state.as_deref(), limit).await.context("notifications")?;
            store.close().await;
            if json {
                for r in rows {
                    let line = serde_json::json!({"id": r.id, "kind": r.kind, "channel": r.channel,
                        "recipient": r.recipient, "user": r.user_id, "state": r.state, "attempts": r.attempts,
                        "max_attempts": r.max_attempts, "created_ms": r.created_ms, "run_after_ms": r.run_after_ms,
                        "sent_at_ms": r.sent_at_ms, "last_error": r.last_error});
                    writeln!(out, "{line}")?;
                }
                return Ok(());
            }
            let summary: Vec<String> = counts.iter().map(|(s, n)| format!("{s} {n}")).collect();
            writeln!(out, "outbox: {}", if summary.is_empty() { "empty".into() } else { summary.join(", ") })?;
            for r in rows {
                writeln!(
                    out,
                    "{:>8} {:<8} {:<16} {:<7} {:<5} {}/{} {} {}",
                    r.id,
                    r.state,
                    r.kind,
                    r.channel,
                    r.user_id.as_deref().unwrap_or("(operator)"),
                    r.attempts,
                    r.max_attempts,
                    r.recipient,
                    r.last_error.map(|e| format!("last error: {e}")).unwrap_or_default()
                )?;
            }
            Ok(())
        }),
        AdminCommand::WebhookAdd { url, database, notify_key } => rt.block_on(async {
            sealgate_server::notify_api::check_webhook_url(&url).map_err(|e| anyhow::anyhow!("{url}: {e}"))?;
            let key = sealgate_server::notifier::NotifyKey::load_or_create(&notify_key, false)?;
            let store = sealgate_store::Store::connect(&database).await.context("database")?;
            let (token, _) = sealgate_server::notifier::new_link_token()?;
            let id = format!("wh_{}", &token[..16]);
            store.add_webhook_endpoint(&id, None, &url).await.context("webhook")?;
            store.close().await;
            let secret = key.webhook_secret(&id);
            writeln!(
                out,
                "webhook {id} added; its signing secret (shown once): {}",
                secrecy::ExposeSecret::expose_secret(&secret)
            )?;
            Ok(())
        }),
        AdminCommand::WebhookRemove { id, database } => rt.block_on(async {
            let store = sealgate_store::Store::connect(&database).await.context("database")?;
            let removed = store.delete_webhook_endpoint(None, &id).await.context("webhook")?;
            store.close().await;
            anyhow::ensure!(removed, "no operator webhook {id}");
            writeln!(out, "webhook {id} removed")?;
            Ok(())
        }),
    }
}
