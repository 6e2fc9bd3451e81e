//! Subcommands. Every flag is documented here, in one place.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use sealgate_envelope::{
    AlgPolicy, Binding, Curve, Jwe, LocalKey, MAX_INPUT, OwnerKeys, PublicJwk, Scope, SealRequest, new_credential_id,
    open_credential_now, parse_json_object, seal_compact, seal_credential,
};
use serde_json::json;
use zeroize::Zeroizing;

use crate::read_stdin;

/// Largest plaintext `jwe encrypt` and `seal` take (the JWE must stay under 64 KiB).
const MAX_PLAINTEXT: usize = 48 * 1024;

#[derive(Parser)]
#[command(
    name = "sealgate",
    version,
    about = "Exchange API keys sealed at the edge, opened only by a policy-enforcing signer"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate a recipient key pair as JWK files.
    Keygen(KeygenArgs),
    /// General JWE encryption and decryption.
    #[command(subcommand)]
    Jwe(JweCommand),
    /// Seal a credential (JSON on stdin) to one role's public key.
    Seal(SealArgs),
    /// Open a credential envelope (stdin), check its binding, print its non-secret facts.
    Open(OpenArgs),
    /// Exchange request signing and endpoint classes.
    #[command(subcommand)]
    Exchange(crate::exchange_cmd::ExchangeCommand),
    /// Role keys in the custody (local keyring, PKCS#11 token, OpenBao).
    #[command(subcommand)]
    Keys(crate::keys_cmd::KeysCommand),
    /// Custody checks.
    #[command(subcommand)]
    Custody(crate::keys_cmd::CustodyCommand),
    /// The tamper-evident audit chain.
    #[command(subcommand)]
    Audit(crate::audit_cmd::AuditCommand),
    /// Run Sealgate's roles: api, signer, importer, trader (all by default).
    Serve(Box<crate::serve_cmd::ServeArgs>),
    /// Run the exchange sandbox alone, for a fleet of signers (`serve --sandbox-url`).
    Sandbox(crate::sandbox_cmd::SandboxArgs),
    /// Print a new one-time sign-in link for the local user (no restart of serve needed).
    LoginLink(crate::login_cmd::LoginLinkArgs),
    /// Operator actions (the global kill switch, service tokens).
    #[command(subcommand)]
    Admin(crate::admin_cmd::AdminCommand),
    /// Breach response: freeze, rotate, re-wrap, tell every affected user, report.
    #[command(subcommand)]
    Incident(crate::incident_cmd::IncidentCommand),
    /// A credential whose exchange key is made in the key custody and never leaves it
    /// (Binance, Bybit): make the key, register its public key, activate.
    #[command(subcommand)]
    CustodyKey(crate::custody_key_cmd::CustodyKeyCommand),
    /// Users' passkeys: list them; reset them all (the recovery when every one is lost).
    #[command(subcommand)]
    Passkeys(crate::passkeys_cmd::PasskeysCommand),
    /// The desktop agent: a local signer on a Unix socket, so a bot never holds its secret.
    #[command(subcommand)]
    Agent(crate::agent_cmd::AgentCommand),
}

#[derive(Clone, Copy, ValueEnum)]
enum GenAlg {
    #[value(name = "ECDH-ES+A256KW")]
    EcdhEsA256Kw,
    #[value(name = "RSA-OAEP-256")]
    RsaOaep256,
}

#[derive(Clone, Copy, ValueEnum)]
enum GenCurve {
    #[value(name = "P-256")]
    P256,
    #[value(name = "P-384")]
    P384,
    #[value(name = "X25519")]
    X25519,
}

#[derive(clap::Args)]
struct KeygenArgs {
    /// Key-management algorithm the key is for.
    #[arg(long)]
    alg: GenAlg,
    /// Curve, for ECDH-ES+A256KW.
    #[arg(long)]
    crv: Option<GenCurve>,
    /// Modulus size, for RSA-OAEP-256: 2048, 3072 or 4096.
    #[arg(long)]
    bits: Option<usize>,
    /// Key id written into both JWKs.
    #[arg(long)]
    kid: String,
    /// Private JWK file to create (mode 0600; never overwritten).
    #[arg(long)]
    out_private: PathBuf,
    /// Public JWK file to create (never overwritten).
    #[arg(long)]
    out_public: PathBuf,
}

#[derive(Subcommand)]
enum JweCommand {
    /// Encrypt stdin to a public JWK; print a compact JWE.
    Encrypt {
        /// Recipient public JWK file.
        #[arg(long)]
        to: PathBuf,
        /// Extra protected-header members, as a JSON object.
        #[arg(long)]
        protected_header: Option<String>,
    },
    /// Decrypt a JWE (compact, flattened or general JSON) on stdin; print the plaintext.
    Decrypt {
        /// Private JWK file.
        #[arg(long)]
        key: PathBuf,
    },
}

#[derive(clap::Args)]
struct SealArgs {
    /// The role's public JWK file (or use --recipients with --pin).
    #[arg(long, required_unless_present = "recipients", conflicts_with = "recipients")]
    to: Option<PathBuf>,
    /// A signed recipient key set (JWS, from `sealgate keys export-recipients`):
    /// the role's active key is taken from it after the signature is checked.
    #[arg(long, requires = "pin")]
    recipients: Option<PathBuf>,
    /// RFC 7638 thumbprint of the root key that must have signed --recipients.
    #[arg(long, requires = "recipients", allow_hyphen_values = true)]
    pin: Option<String>,
    /// The role that will open the envelope (e.g. importer, trader).
    #[arg(long)]
    role: String,
    /// The user id the credential belongs to.
    #[arg(long)]
    user: String,
    /// Exchange id (e.g. binance).
    #[arg(long)]
    exchange: String,
    /// Classes granted: read[,trade[,withdraw]].
    #[arg(long)]
    scope: String,
    /// Credential id; a random UUID when absent.
    #[arg(long)]
    credential_id: Option<String>,
    /// A public JWK of the owner's authority (a passkey's public key: EC P-256,
    /// OKP Ed25519 or RSA); repeat for up to 10. Its RFC 7638 thumbprint goes
    /// into the envelope's `own` (PROFILE C8): only these keys may approve a
    /// loosening of the credential.
    #[arg(long = "owner-key", value_name = "JWKFILE")]
    owner_keys: Vec<PathBuf>,
}

#[derive(clap::Args)]
struct OpenArgs {
    /// The role's private JWK file.
    #[arg(long)]
    key: PathBuf,
    /// The role opening it.
    #[arg(long)]
    role: String,
    /// The user id it must be bound to.
    #[arg(long)]
    user: String,
    /// The exchange it must be bound to.
    #[arg(long)]
    exchange: String,
    /// The credential id it must be bound to.
    #[arg(long)]
    credential_id: String,
}

pub fn run(cli: Cli, out: &mut Vec<u8>) -> anyhow::Result<()> {
    match cli.command {
        Command::Exchange(c) => crate::exchange_cmd::run(c, out),
        Command::Keys(c) => crate::keys_cmd::run_keys(c, out),
        Command::Custody(c) => crate::keys_cmd::run_custody(c, out),
        Command::Audit(c) => crate::audit_cmd::run(c, out),
        Command::Serve(a) => crate::serve_cmd::run(*a),
        Command::Admin(c) => crate::admin_cmd::run(c, out),
        Command::Incident(c) => crate::incident_cmd::run(c, out),
        Command::Sandbox(a) => crate::sandbox_cmd::run(a),
        Command::LoginLink(a) => crate::login_cmd::run(a, out),
        Command::CustodyKey(c) => crate::custody_key_cmd::run(c, out),
        Command::Agent(c) => crate::agent_cmd::run(c, out),
        Command::Passkeys(c) => crate::passkeys_cmd::run(c, out),
        Command::Keygen(a) => keygen(&a, out),
        Command::Jwe(JweCommand::Encrypt { to, protected_header }) => {
            let key = read_public(&to)?;
            let extra = match protected_header {
                Some(h) => parse_json_object(h.as_bytes()).context("--protected-header")?,
                None => serde_json::Map::new(),
            };
            let plaintext = read_stdin(MAX_PLAINTEXT)?;
            let jwe = seal_compact(&plaintext, &key, &extra)?;
            writeln!(out, "{jwe}")?;
            Ok(())
        }
        Command::Jwe(JweCommand::Decrypt { key }) => {
            // The JWE is judged before the key is read: a refused algorithm
            // is reported as such whatever key file was given.
            let input = read_stdin(MAX_INPUT)?;
            let jwe = Jwe::parse(&input, &AlgPolicy::INTEROP)?;
            let key = read_private(&key)?;
            let plaintext = jwe.open_now(&key)?;
            out.extend_from_slice(plaintext.expose_secret());
            Ok(())
        }
        Command::Seal(a) => {
            let key = match (&a.to, &a.recipients, &a.pin) {
                (Some(to), None, None) => read_public(to)?,
                (None, Some(set), Some(pin)) => recipient_from_set(set, pin, &a.role)?,
                _ => bail!("give --to PUBLIC_JWK_FILE, or --recipients SIGNED_SET with --pin THUMBPRINT"),
            };
            let req = SealRequest {
                sub: a.user,
                cid: match a.credential_id {
                    Some(c) => {
                        // The one id rule, the api's and the signer's: refused here, before sealing.
                        sealgate_envelope::check_credential_id(&c)
                            .map_err(|e| anyhow::anyhow!("--credential-id: {e}"))?;
                        c
                    }
                    None => new_credential_id()?,
                },
                exch: a.exchange,
                aud: a.role,
                scope: Scope::parse_list(&a.scope).context("--scope")?,
                iat: now()?,
                own: owner_keys(&a.owner_keys)?,
            };
            let credential = read_stdin(MAX_PLAINTEXT)?;
            let (jwe, _) = seal_credential(&credential, &key, &req)?;
            writeln!(out, "{jwe}")?;
            Ok(())
        }
        Command::Open(a) => {
            let key = read_private(&a.key)?;
            let input = read_stdin(MAX_INPUT)?;
            let expected =
                Binding { sub: a.user, cid: a.credential_id, exch: a.exchange, aud: a.role, now: Some(now()?) };
            let opened = open_credential_now(&input, &key, &expected)?;
            let h = &opened.header;
            let facts = json!({
                "exchange": h.exch,
                "hint": h.hint,
                "scope": h.scope.classes().iter().map(|c| c.name()).collect::<Vec<_>>(),
                "fields": opened.credential.field_names().collect::<Vec<_>>(),
                "kid": h.kid,
                "user": h.sub,
                "credential_id": h.cid,
                "role": h.aud,
                "iat": h.iat,
                "own": h.own.as_ref().map(OwnerKeys::thumbprints),
            });
            writeln!(out, "{}", serde_json::to_string_pretty(&facts)?)?;
            Ok(())
        }
    }
}

/// The active key of `role` in a signed recipient key set, after checking
/// its signature against the pinned root, and its expiry.
fn recipient_from_set(path: &Path, pin: &str, role: &str) -> anyhow::Result<PublicJwk> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let recipients = sealgate_custody::keyset::verify(&text, pin, now()?)?;
    let mut for_role = recipients.into_iter().filter(|r| r.role == role);
    match (for_role.next(), for_role.next()) {
        (Some(r), None) => Ok(r.key),
        (None, _) => bail!("the recipient key set has no active key for role {role:?}"),
        (Some(_), Some(_)) => bail!("the recipient key set has several active keys for role {role:?}"),
    }
}

fn now() -> anyhow::Result<u64> {
    Ok(std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("system clock is before 1970")?
        .as_secs())
}

/// Largest key file read.
const MAX_KEY_FILE: u64 = 16 * 1024;

fn read_file(path: &Path) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    use std::io::Read;
    let f = std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut buf = Zeroizing::new(Vec::new());
    f.take(MAX_KEY_FILE + 1).read_to_end(&mut buf).with_context(|| format!("cannot read {}", path.display()))?;
    if buf.len() as u64 > MAX_KEY_FILE {
        bail!("{} is larger than {MAX_KEY_FILE} bytes", path.display());
    }
    Ok(buf)
}

fn read_public(path: &Path) -> anyhow::Result<PublicJwk> {
    PublicJwk::from_json(&read_file(path)?).with_context(|| format!("public key {}", path.display()))
}

/// The envelope's `own` from `--owner-key` files: each a public authority key, named by its
/// RFC 7638 thumbprint (PROFILE C8); none given, none named.
fn owner_keys(files: &[PathBuf]) -> anyhow::Result<Option<OwnerKeys>> {
    if files.is_empty() {
        return Ok(None);
    }
    let mut thumbprints = Vec::with_capacity(files.len());
    for f in files {
        let key = sealgate_authority::AuthorityKey::from_jwk(&read_file(f)?)
            .with_context(|| format!("--owner-key {}", f.display()))?;
        thumbprints.push(key.thumbprint());
    }
    Ok(Some(OwnerKeys::new(thumbprints).context("--owner-key")?))
}

fn read_private(path: &Path) -> anyhow::Result<LocalKey> {
    LocalKey::from_json(&read_file(path)?).with_context(|| format!("private key {}", path.display()))
}

fn keygen(a: &KeygenArgs, out: &mut Vec<u8>) -> anyhow::Result<()> {
    let key = match (a.alg, a.crv, a.bits) {
        (GenAlg::EcdhEsA256Kw, Some(crv), None) => LocalKey::generate_ec(
            match crv {
                GenCurve::P256 => Curve::P256,
                GenCurve::P384 => Curve::P384,
                GenCurve::X25519 => Curve::X25519,
            },
            &a.kid,
        )?,
        (GenAlg::EcdhEsA256Kw, None, _) => bail!("--alg ECDH-ES+A256KW needs --crv P-256, P-384 or X25519"),
        (GenAlg::EcdhEsA256Kw, Some(_), Some(_)) => bail!("--bits applies to RSA-OAEP-256 only"),
        (GenAlg::RsaOaep256, None, bits) => LocalKey::generate_rsa(bits.unwrap_or(3072), &a.kid)?,
        (GenAlg::RsaOaep256, Some(_), _) => bail!("--crv applies to ECDH-ES+A256KW only"),
    };
    if a.out_private == a.out_public {
        bail!("--out-private and --out-public must differ");
    }
    let private = key.to_private_json()?;
    let public = serde_json::to_string_pretty(&key.public().to_json())?;
    write_new(&a.out_private, private.as_bytes(), 0o600)?;
    if let Err(e) = write_new(&a.out_public, public.as_bytes(), 0o644) {
        // Leave no half-made pair behind.
        let _ = std::fs::remove_file(&a.out_private);
        return Err(e);
    }
    writeln!(out, "{}", public)?;
    Ok(())
}

/// Create `path` (never overwrite), write, fsync.
pub(crate) fn write_new(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("cannot create {} (it must not exist yet)", path.display()))?;
    let res = f.write_all(bytes).and_then(|()| f.write_all(b"\n")).and_then(|()| f.sync_all());
    if let Err(e) = res {
        let _ = std::fs::remove_file(path);
        return Err(e).with_context(|| format!("cannot write {}", path.display()));
    }
    Ok(())
}
