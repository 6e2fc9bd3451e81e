//! `sealgate audit …`: verify an exported audit chain end to end.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Subcommand;
use sealgate_audit::RootKey;
use sealgate_audit::jsonl::{Trust, parse_checkpoints, verify_export_with};

/// Largest export read (about a million records); the whole file is held in
/// memory while it is verified.
const MAX_EXPORT: u64 = 256 * 1024 * 1024;
/// Largest root JWK file read.
const MAX_JWK_FILE: u64 = 16 * 1024;

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Verify a JSON Lines audit export (records, signed checkpoints, an
    /// optional root line; see crates/sealgate-audit/FORMAT.md): every seq,
    /// hash and link, and every checkpoint's signature. Prints a one-line
    /// summary, or exits 2 naming the first bad record.
    Verify {
        /// The export to verify.
        #[arg(long, required_unless_present = "database", conflicts_with = "database")]
        file: Option<PathBuf>,
        /// Verify the chain in a Sealgate database instead (sqlite://… or postgres://…),
        /// with its signed checkpoints.
        #[arg(long)]
        database: Option<String>,
        /// Root public JWK file (EC P-256) the checkpoints must be signed with.
        #[arg(long, conflicts_with = "pin")]
        root_jwk: Option<PathBuf>,
        /// RFC 7638 thumbprint (`sealgate keys pin`) the file's root line must
        /// match; its key then verifies the checkpoints.
        #[arg(long)]
        pin: Option<String>,
        /// A file of further signed checkpoint lines, kept apart from the chain
        /// (the desktop agent's `FILE.checkpoint`, a signer's
        /// `<data>/signer-state.checkpoint`): a chain cut short below one of them
        /// fails as truncated even if its own tail was cut with it — with
        /// `--database`, a database rolled back (checkpoints included) to before
        /// what the signer saw.
        #[arg(long)]
        checkpoints: Option<PathBuf>,
    },
}

pub fn run(cmd: AuditCommand, out: &mut Vec<u8>) -> anyhow::Result<()> {
    match cmd {
        AuditCommand::Verify { file, database, root_jwk, pin, checkpoints } => {
            let root = match &root_jwk {
                Some(path) => Some(read_root(path)?),
                None => None,
            };
            let trust = match (root, pin.as_deref()) {
                (Some(k), _) => Trust::Root(k),
                (None, Some(p)) => Trust::Pin(p),
                (None, None) => Trust::None,
            };
            let text = match (&file, &database) {
                (Some(file), _) => read_bounded(file, MAX_EXPORT)?,
                (None, Some(url)) => export_database(url)?,
                (None, None) => bail!("give --file or --database"),
            };
            // The error is the line: `record N: <reason>` names the first bad record.
            let extra = match &checkpoints {
                Some(path) => parse_checkpoints(&read_bounded(path, MAX_EXPORT)?)
                    .with_context(|| format!("--checkpoints {}", path.display()))?,
                None => Vec::new(),
            };
            let summary = verify_export_with(&text, extra, trust)?;
            writeln!(out, "{summary}")?;
            Ok(())
        }
    }
}

/// The database's chain as the JSON Lines export.
fn export_database(url: &str) -> anyhow::Result<Vec<u8>> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        let store = sealgate_store::Store::connect(url).await.context("database")?;
        let mut text = Vec::new();
        sealgate_server::audit::export_store(&store, &mut text).await.map_err(|e| anyhow::anyhow!("database: {e}"))?;
        store.close().await;
        Ok(text)
    })
}

fn read_bounded(path: &Path, limit: u64) -> anyhow::Result<Vec<u8>> {
    let f = std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut buf = Vec::new();
    f.take(limit + 1).read_to_end(&mut buf).with_context(|| format!("cannot read {}", path.display()))?;
    if buf.len() as u64 > limit {
        bail!("{} is larger than {limit} bytes", path.display());
    }
    Ok(buf)
}

fn read_root(path: &Path) -> anyhow::Result<RootKey> {
    let bytes = read_bounded(path, MAX_JWK_FILE)?;
    let jwk = sealgate_envelope::parse_json_object(&bytes)
        .with_context(|| format!("root key {} is not a JSON object", path.display()))?;
    RootKey::from_jwk(&serde_json::Value::Object(jwk)).with_context(|| format!("{}", path.display()))
}
