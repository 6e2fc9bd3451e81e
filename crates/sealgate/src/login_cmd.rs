//! `sealgate login-link`: a new one-time sign-in link for the local user, without a restart
//! of `sealgate serve` (links and sessions live in the database, hashed).

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;
use sealgate_envelope::secrecy::{ExposeSecret as _, SecretString};

#[derive(Args)]
pub struct LoginLinkArgs {
    /// The data directory of the `sealgate serve` to sign in to (as given to serve).
    #[arg(long, default_value = "./sealgate-data")]
    data_dir: PathBuf,
    /// Its database URL, when serve runs with --database (default: SQLite in the data directory).
    #[arg(long)]
    database: Option<String>,
    /// The URL users reach the api at, when serve runs with --public-url.
    #[arg(long)]
    public_url: Option<String>,
    /// Serve's --listen, for the link when there is no --public-url.
    #[arg(long, default_value = "127.0.0.1:8787")]
    listen: SocketAddr,
}

pub fn run(a: LoginLinkArgs, out: &mut Vec<u8>) -> anyhow::Result<()> {
    let base = sealgate_server::serve::login_base(a.public_url.as_deref(), a.listen)?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let link = rt.block_on(mint_link(&a.data_dir, a.database.as_deref(), &base))?;
    writeln!(out, "sign in (one-time link, 15 minutes): {}", link.expose_secret())?;
    Ok(())
}

/// A one-time sign-in link `{base}/login?token=…` for the local user, minted in the
/// database of the `sealgate serve` at `data_dir` (or at `database`). Shared by
/// `login-link` and `custody-key`, which follows the link itself.
pub(crate) async fn mint_link(data_dir: &Path, database: Option<&str>, base: &str) -> anyhow::Result<SecretString> {
    let url = match database {
        Some(u) => u.to_owned(),
        None => {
            // Never create a database here: a mistyped --data-dir must not make an empty one.
            let file = sealgate_server::serve::default_database_file(data_dir);
            if !file.is_file() {
                anyhow::bail!(
                    "no database at {}: start `sealgate serve --data-dir {}` once first, or give --database",
                    file.display(),
                    data_dir.display()
                );
            }
            let file = std::fs::canonicalize(&file).with_context(|| file.display().to_string())?;
            format!("sqlite://{}?mode=rw", file.display())
        }
    };
    let store = sealgate_store::Store::connect(&url).await.context("database")?;
    let link = sealgate_server::serve::login_link(&store, base).await;
    store.close().await;
    Ok(link?)
}
