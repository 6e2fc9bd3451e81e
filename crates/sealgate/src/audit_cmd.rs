//! `sealgate audit …`: verify an exported audit chain end to end.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Subcommand;
use sealgate_audit::RootKey;
use sealgate_audit::jsonl::{Trust, parse_checkpoints, verify_export_with};
use sealgate_audit::user_export::{UserExportError, is_audit_page, is_user_export, verify_user_export};

/// Largest export read (about a million records); the whole file is held in
/// memory while it is verified.
const MAX_EXPORT: u64 = 256 * 1024 * 1024;
/// Largest root JWK file read.
const MAX_JWK_FILE: u64 = 16 * 1024;

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Verify a JSON Lines audit export (records, signed checkpoints, an
    /// optional root line; see crates/sealgate-audit/FORMAT.md): every seq,
    /// hash and link, and every checkpoint's signature (and the Merkle tree
    /// head of v2 checkpoints). Or, with --user-export, a user's own export
    /// (`GET /v1/audit/export`). Prints a one-line summary, or exits 2 naming
    /// the first bad record (every bad record, for a user export).
    Verify {
        /// The export to verify (the operator's full chain).
        #[arg(long, required_unless_present_any = ["database", "user_export"], conflicts_with = "database")]
        file: Option<PathBuf>,
        /// A user's export saved from `GET /v1/audit/export`: checks that the root key's
        /// thumbprint is --pin, every checkpoint's signature, every record's inclusion
        /// proof into the signed Merkle tree, and that every record names the user.
        #[arg(long, requires = "pin", conflicts_with_all = ["file", "database", "root_jwk", "checkpoints"])]
        user_export: Option<PathBuf>,
        /// Verify the chain in a Sealgate database instead (sqlite://… or postgres://…),
        /// with its signed checkpoints.
        #[arg(long)]
        database: Option<String>,
        /// Root public JWK file (EC P-256) the checkpoints must be signed with.
        #[arg(long, conflicts_with = "pin")]
        root_jwk: Option<PathBuf>,
        /// RFC 7638 thumbprint (`sealgate keys pin`) the file's root line must
        /// match; its key then verifies the checkpoints.
        #[arg(long, allow_hyphen_values = true)]
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
        AuditCommand::Verify { user_export: Some(path), pin: Some(pin), .. } => {
            let text = read_bounded(&path, MAX_EXPORT)?;
            let summary = verify_user_export(&text, &pin).map_err(|e| match e {
                UserExportError::Records(faults) => anyhow::anyhow!(
                    "{} of the export's records do not verify: {}",
                    faults.len(),
                    faults.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
                ),
                other => anyhow::anyhow!("{}: {other}", path.display()),
            })?;
            writeln!(out, "{summary}")?;
            Ok(())
        }
        AuditCommand::Verify { user_export: Some(_), pin: None, .. } => bail!("--user-export needs --pin"),
        AuditCommand::Verify { file, database, root_jwk, pin, checkpoints, .. } => {
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
                (Some(file), _) => {
                    let text = read_bounded(file, MAX_EXPORT)?;
                    // Say what a JSON document given as a JSON Lines chain is, rather than
                    // "record 1: malformed".
                    if is_audit_page(&text) {
                        bail!(
                            "{} is a saved GET /v1/audit page (a user's records without proofs), not a chain \
                             export: it cannot be checked against the signed checkpoints; save \
                             GET /v1/audit/export instead and run `sealgate audit verify --user-export FILE --pin PIN`",
                            file.display()
                        );
                    }
                    if is_user_export(&text) {
                        bail!(
                            "{} is a user export (GET /v1/audit/export): verify it with \
                             `sealgate audit verify --user-export {} --pin PIN`",
                            file.display(),
                            file.display()
                        );
                    }
                    text
                }
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
