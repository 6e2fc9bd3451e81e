//! `sealgate passkeys …`: an operator's view of a user's passkeys, and the recovery when a
//! user lost every passkey (the api never removes a user's last one).

use std::io::Write;

use anyhow::Context as _;
use clap::Subcommand;
use sealgate_server::audit::{AuditEvent, AuditLog};
use sealgate_server::notifier::NotifyEvent;
use sealgate_server::passkey_api::{PASSKEYS_RESET, passkey_action};

#[derive(Subcommand)]
pub enum PasskeysCommand {
    /// A user's passkeys: id, name, created, last used, thumbprint (what `own` names).
    List {
        /// The user id.
        #[arg(long)]
        user: String,
        /// The deployment's database (sqlite://… or postgres://…).
        #[arg(long)]
        database: String,
        /// JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Remove ALL of a user's passkeys (audited `passkeys_reset`, and the user is told): the
    /// recovery when every passkey is lost. The next passkey the user registers is trusted
    /// on their sign-in alone, as the first one was.
    Reset {
        /// The user id.
        #[arg(long)]
        user: String,
        /// The deployment's database.
        #[arg(long)]
        database: String,
        /// Who is acting, for the audit record.
        #[arg(long, default_value = "operator")]
        operator: String,
    },
}

pub fn run(cmd: PasskeysCommand, out: &mut Vec<u8>) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    match cmd {
        PasskeysCommand::List { user, database, json } => rt.block_on(async {
            let store = sealgate_store::Store::connect(&database).await.context("database")?;
            anyhow::ensure!(store.user(&user).await.context("user")?.is_some(), "no user {user:?}");
            let rows = store.passkeys(&user).await.context("passkeys")?;
            store.close().await;
            if json {
                for r in rows {
                    let line = serde_json::json!({"id": r.id, "name": r.name, "created_ms": r.created_ms,
                        "last_used_ms": r.last_used_ms, "thumbprint": r.thumbprint});
                    writeln!(out, "{line}")?;
                }
                return Ok(());
            }
            writeln!(out, "{} passkey(s) of {user}", rows.len())?;
            for r in rows {
                let used = r.last_used_ms.map_or("never used".to_owned(), |t| format!("last used {t}"));
                writeln!(out, "{} {} {:?} created {} {used}", r.id, r.thumbprint, r.name, r.created_ms)?;
            }
            Ok(())
        }),
        PasskeysCommand::Reset { user, database, operator } => rt.block_on(async {
            let store = sealgate_store::Store::connect(&database).await.context("database")?;
            anyhow::ensure!(store.user(&user).await.context("user")?.is_some(), "no user {user:?}");
            let removed = store.reset_passkeys(&user).await.context("reset passkeys")?;
            let thumbprints: Vec<&str> = removed.iter().map(|r| r.thumbprint.as_str()).collect();
            let action = passkey_action(PASSKEYS_RESET).map_err(anyhow::Error::msg)?;
            let audit = AuditLog::start(store.clone(), None);
            audit
                .record(
                    AuditEvent::new(
                        format!("operator:{operator}"),
                        action,
                        &user,
                        serde_json::json!({"removed": removed.len(), "thumbprints": thumbprints}),
                    )
                    .owner(&user),
                )
                .await
                .context("the passkeys were removed, but the audit record could not be written")?;
            let event = NotifyEvent::PasskeysReset { user: user.clone(), removed: removed.len() as u64 };
            sealgate_server::notifier::enqueue(&store, &event).await.context("notification")?;
            store.close().await;
            writeln!(out, "removed {} passkey(s) of {user}; the next one is trusted on sign-in", removed.len())?;
            Ok(())
        }),
    }
}
