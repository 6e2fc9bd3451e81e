//! `sealgate custody-key …`: a credential whose exchange key is made in the key custody and
//! never leaves it (Binance Ed25519/RSA, Bybit RSA, Bitget RSA with its passphrase), from the
//! command line, against a running `sealgate serve`.
//!
//! `create` asks the api (`POST /v1/custody-keys`) for the key, prints its public key and the
//! exchange's steps, then reads the API key id the exchange shows and activates the
//! credential (`POST /v1/custody-keys/activate`); with `--pending-out` it keeps the pending
//! grants in a file for a later `activate` instead. No secret passes through this command
//! but Bitget's passphrase (`--passphrase-file`), which it seals to each role, to the role
//! keys of a recipient key set the custody root `--pin` signed, before anything is sent: the
//! api answers with a public key and signed grants only.
//!
//! Signing in: with `--data-dir` (the embedded default) the command mints a one-time sign-in
//! link for the local user in serve's database, as `sealgate login-link` does, follows it,
//! and ends the session when done; with `--bearer-token-file` it sends an OIDC bearer token.

use std::io::{BufRead as _, IsTerminal as _, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use sealgate_envelope::secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Value, json};

/// Largest pending file and bearer token file read.
const MAX_FILE: u64 = 64 * 1024;
/// Longest line read for the API key id.
const MAX_LINE: u64 = 1024;
/// Largest api answer read.
const MAX_ANSWER: usize = 256 * 1024;
/// What a pending file says it is.
const PENDING_KIND: &str = "sealgate-custody-key-pending";

#[derive(Subcommand)]
pub enum CustodyKeyCommand {
    /// Make an exchange key in the custody, print its public key and the exchange's steps,
    /// then read the API key id the exchange shows (stdin) and activate the credential.
    Create(CreateArgs),
    /// Activate a credential from a `create --pending-out` file (deleted on success).
    Activate(ActivateArgs),
}

/// Where the api is and how to sign in to it.
#[derive(Args)]
struct Connection {
    /// The api's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8787")]
    api: String,
    /// The data directory of the `sealgate serve` (as given to serve): sign in as its local
    /// user with a one-time link minted in its database, as `sealgate login-link` does.
    #[arg(long, required_unless_present_any = ["bearer_token_file", "database"])]
    data_dir: Option<PathBuf>,
    /// Serve's database URL, when it runs with --database (default: SQLite in --data-dir).
    #[arg(long)]
    database: Option<String>,
    /// A file holding an OIDC bearer token, for an api that signs users in with OIDC
    /// (instead of --data-dir).
    #[arg(long, conflicts_with_all = ["data_dir", "database"])]
    bearer_token_file: Option<PathBuf>,
}

/// What an exchange that also needs a passphrase (Bitget) takes beside the key.
#[derive(Args)]
struct PassphraseArgs {
    /// A file holding the passphrase you set for the key on the exchange (Bitget); it is
    /// sealed here to each role, as `sealgate seal` does, and only the signer opens it.
    #[arg(long, requires = "pin")]
    passphrase_file: Option<PathBuf>,
    /// The RFC 7638 thumbprint of the custody root the recipient key set must be signed by
    /// (`sealgate keys pin`; serve prints it at start).
    #[arg(long, requires = "passphrase_file", allow_hyphen_values = true)]
    pin: Option<String>,
}

#[derive(Args)]
pub struct CreateArgs {
    #[command(flatten)]
    conn: Connection,
    #[command(flatten)]
    secret: PassphraseArgs,
    /// Exchange id: one that takes keys its users generate (binance, bybit).
    #[arg(long)]
    exchange: String,
    /// The roles that may use the key: trader, importer (comma-separated, each once).
    #[arg(long)]
    roles: String,
    /// The classes granted: read[,trade[,withdraw]].
    #[arg(long)]
    scope: String,
    /// ed25519 or rsa-2048 (the exchange's strongest when absent).
    #[arg(long)]
    key_type: Option<String>,
    /// The credential id; a fresh UUID when absent.
    #[arg(long)]
    id: Option<String>,
    /// A label for display.
    #[arg(long, default_value = "", hide_default_value = true)]
    label: String,
    /// Write the pending grants to this file (mode 0600, never overwritten) and stop;
    /// `sealgate custody-key activate --pending FILE` finishes later.
    #[arg(long)]
    pending_out: Option<PathBuf>,
}

#[derive(Args)]
pub struct ActivateArgs {
    #[command(flatten)]
    conn: Connection,
    #[command(flatten)]
    secret: PassphraseArgs,
    /// The file `create --pending-out` wrote.
    #[arg(long)]
    pending: PathBuf,
    /// The API key id the exchange shows for the registered public key.
    #[arg(long, allow_hyphen_values = true)]
    api_key: String,
    /// A label for display, instead of the one given to create.
    #[arg(long)]
    label: Option<String>,
}

pub fn run(cmd: CustodyKeyCommand, out: &mut Vec<u8>) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    match cmd {
        CustodyKeyCommand::Create(a) => rt.block_on(create(a, out)),
        CustodyKeyCommand::Activate(a) => rt.block_on(activate(a, out)),
    }
}

async fn create(a: CreateArgs, out: &mut Vec<u8>) -> anyhow::Result<()> {
    // Everything that can be judged here is, before any request (and before a sign-in link
    // is minted): the api's own checks of the body, and the pending file's place.
    let id = match a.id {
        Some(id) => {
            sealgate_envelope::check_credential_id(&id).map_err(|e| anyhow::anyhow!("--id: {e}"))?;
            id
        }
        None => sealgate_envelope::new_credential_id()?,
    };
    check_exchange(&a.exchange, a.key_type.as_deref())?;
    check_passphrase_args(&a.exchange, &a.secret, a.pending_out.is_some())?;
    let mut body = json!({"id": id, "exchange": a.exchange, "roles": list(&a.roles), "scope": list(&a.scope)});
    if let Some(t) = &a.key_type {
        body["key_type"] = json!(t);
    }
    let req: sealgate_api_bodies::CreateCustodyKey =
        serde_json::from_value(body.clone()).map_err(|e| anyhow::anyhow!("--roles or --scope: {e}"))?;
    sealgate_api_bodies::check_create_custody_key(&req).map_err(anyhow::Error::msg)?;
    check_label(&a.label)?;
    if let Some(path) = &a.pending_out {
        check_new_file(path)?;
    }

    let api = Api::sign_in(&a.conn).await?;
    let made = api.post("/v1/custody-keys", &body, "making the key").await;
    api.sign_out().await;
    let made = Made::parse(&made?)?;
    let text = made.render();
    let Some(path) = &a.pending_out else {
        // The owner needs the public key before the exchange can name it: printed now.
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()).context("stdout")?;
        drop(stdout);
        let api_key = match prompt_api_key() {
            Ok(k) => k,
            Err(e) => {
                let fate = discard(&a.conn, &made.pending).await;
                return Err(e.context(format!("the key was made but not activated, and {fate}; run create again")));
            }
        };
        // Registering the key at the exchange can outlast a session's idle time (and a
        // bearer token's life): a new sign-in for the activation.
        let body = json!({"pending": made.pending, "api_key": api_key, "label": a.label});
        let api = Api::sign_in(&a.conn).await?;
        let cred = activate_body(&api, body, &a.secret).await;
        api.sign_out().await;
        writeln!(out)?;
        return render_credential(&cred?, out);
    };
    out.extend_from_slice(text.as_bytes());
    let file = json!({
        "kind": PENDING_KIND,
        "api": api.base,
        "id": made.id,
        "exchange": made.exchange,
        "key_id": made.key_id,
        "key_type": made.key_type,
        "label": a.label,
        "pending": made.pending,
    });
    let bytes = serde_json::to_vec_pretty(&file)?;
    if let Err(e) = crate::cmd::write_new(path, &bytes, 0o600) {
        let fate = discard(&a.conn, &made.pending).await;
        return Err(e.context(format!("the key was made but its pending grants were not kept, and {fate}")));
    }
    writeln!(
        out,
        "\nThe pending grants are in {}. Once the exchange shows the API key id, run:\n  \
         sealgate custody-key activate {} --pending {} --api-key <API key id>",
        path.display(),
        a.conn.flags(),
        path.display()
    )?;
    Ok(())
}

/// Destroys a key made and abandoned (by its pending grants, `POST /v1/custody-keys/discard`);
/// what became of it, for the error that follows.
async fn discard(conn: &Connection, pending: &[String]) -> String {
    let api = match Api::sign_in(conn).await {
        Ok(api) => api,
        Err(e) => return format!("could not be discarded ({e:#}): it stays in the custody, unused"),
    };
    let r = api.send("/v1/custody-keys/discard", &json!({"pending": pending}), "discarding the key").await;
    api.sign_out().await;
    match r {
        Ok(_) => "was discarded (destroyed in the custody)".into(),
        Err(e) => format!("could not be discarded ({e:#}): it stays in the custody, unused"),
    }
}

async fn activate(a: ActivateArgs, out: &mut Vec<u8>) -> anyhow::Result<()> {
    let api_key = clean_api_key(&a.api_key)?;
    let file = read_limited(&a.pending).with_context(|| format!("--pending {}", a.pending.display()))?;
    let file: Value = serde_json::from_slice(&file)
        .map_err(|_| anyhow::anyhow!("--pending {}: not a pending file (JSON) of `create`", a.pending.display()))?;
    if file["kind"] != PENDING_KIND || !file["pending"].is_array() {
        bail!("--pending {}: not a pending file of `sealgate custody-key create`", a.pending.display());
    }
    let label = a.label.clone().unwrap_or_else(|| file["label"].as_str().unwrap_or_default().to_owned());
    let body = json!({"pending": file["pending"], "api_key": api_key, "label": label});
    let exchange = file["exchange"].as_str().unwrap_or_default().to_owned();
    check_passphrase_args(&exchange, &a.secret, false)?;
    let api = Api::sign_in(&a.conn).await?;
    let result = activate_body(&api, body, &a.secret).await;
    api.sign_out().await;
    let cred = result?;
    render_credential(&cred, out)?;
    if let Err(e) = std::fs::remove_file(&a.pending) {
        eprintln!("sealgate: warning: the credential is active, but {} was not deleted: {e}", a.pending.display());
    }
    Ok(())
}

/// Checks `body` as the api will, seals the passphrase where `exchange` needs one, then
/// activates.
async fn activate_body(api: &Api, mut body: Value, secret: &PassphraseArgs) -> anyhow::Result<Value> {
    let req: sealgate_api_bodies::ActivateCustodyKey =
        serde_json::from_value(body.clone()).map_err(|e| anyhow::anyhow!("not a pending file of create: {e}"))?;
    sealgate_api_bodies::check_activate(&req).map_err(anyhow::Error::msg)?;
    if let (Some(file), Some(pin)) = (&secret.passphrase_file, &secret.pin) {
        body["sealed"] = seal_passphrase(api, &req, file, pin).await?;
    }
    api.post("/v1/custody-keys/activate", &body, "activating the credential").await
}

/// An exchange that needs a passphrase (Bitget) gets one, and only such an exchange.
fn check_passphrase_args(exchange: &str, secret: &PassphraseArgs, later: bool) -> anyhow::Result<()> {
    match (sealgate_server::signer::needs_passphrase(exchange), secret.passphrase_file.is_some()) {
        (true, false) if !later => {
            bail!("{exchange} also needs the key's passphrase: give --passphrase-file FILE and --pin PIN")
        }
        (false, true) => bail!("--passphrase-file: {exchange} needs no passphrase beside the key"),
        _ => Ok(()),
    }
}

/// `{"api_key", "passphrase"}` sealed to each role the pending grants name, to the role keys
/// of the recipient key set the custody root `pin` signed (as `sealgate seal` does).
async fn seal_passphrase(
    api: &Api,
    req: &sealgate_api_bodies::ActivateCustodyKey,
    file: &Path,
    pin: &str,
) -> anyhow::Result<Value> {
    let bytes = read_limited(file).with_context(|| format!("--passphrase-file {}", file.display()))?;
    let text = std::str::from_utf8(&bytes).map_err(|_| anyhow::anyhow!("--passphrase-file: not UTF-8"))?;
    let passphrase = text.strip_suffix('\n').unwrap_or(text);
    let passphrase = passphrase.strip_suffix('\r').unwrap_or(passphrase);
    if passphrase.is_empty() {
        bail!("--passphrase-file {}: empty", file.display());
    }
    let set = api.get("/v1/recipients", "reading the recipient key set").await?;
    let jws = set["keyset"].as_str().context("the api's recipient key set has no keyset")?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
    let keys = sealgate_custody::keyset::verify(jws, pin, now)
        .map_err(|e| anyhow::anyhow!("refused to seal: {e}; nothing was sent"))?;
    let secret = zeroize::Zeroizing::new(json!({"api_key": req.api_key, "passphrase": passphrase}).to_string());
    let mut sealed = Vec::new();
    for grant in &req.pending {
        // What the grant says, read to address the envelope (the signer checks both).
        let claims = sealgate_custody::grant::claimed(grant).context("a pending grant is not readable")?;
        let s = |k: &str| {
            claims
                .get(k)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .with_context(|| format!("a pending grant has no {k}"))
        };
        let role = s("aud")?;
        let key = keys.iter().find(|r| r.role == role).with_context(|| format!("the key set has no {role} key"))?;
        let scope: Vec<&str> =
            claims.get("scope").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
        let request = sealgate_envelope::SealRequest {
            sub: s("sub")?,
            cid: s("cid")?,
            exch: s("exch")?,
            aud: role.clone(),
            scope: sealgate_envelope::Scope::from_names(scope)
                .map_err(|_| anyhow::anyhow!("a pending grant's scope"))?,
            iat: now,
            own: None,
        };
        let (jwe, _) = sealgate_envelope::seal_credential(secret.as_bytes(), &key.key, &request)?;
        sealed.push(json!({"role": role, "jwe": jwe}));
    }
    Ok(Value::Array(sealed))
}

/// `exchange` takes keys made in the custody (of `key_type`, when given).
fn check_exchange(exchange: &str, key_type: Option<&str>) -> anyhow::Result<()> {
    let types = sealgate_server::signer::key_types_for(exchange);
    if types.is_empty() {
        let able: Vec<&str> = sealgate_exchanges::ALL
            .iter()
            .map(|s| s.id)
            .filter(|id| !sealgate_server::signer::key_types_for(id).is_empty())
            .collect();
        bail!(
            "--exchange {exchange}: this exchange does not take keys made in the custody (those that do: {}); \
             seal its API key instead (`sealgate seal`, or the web client)",
            able.join(", ")
        );
    }
    if let Some(t) = key_type
        && !types.iter().any(|k| k.name() == t)
    {
        let names: Vec<&str> = types.iter().map(|k| k.name()).collect();
        bail!("--key-type {t}: {exchange} takes {} keys", names.join(" or "));
    }
    Ok(())
}

fn check_label(label: &str) -> anyhow::Result<()> {
    // The api's rule, checked on a body with a stand-in grant and key id.
    let probe: sealgate_api_bodies::ActivateCustodyKey =
        serde_json::from_value(json!({"pending": ["g"], "api_key": "k", "label": label}))
            .map_err(|e| anyhow::anyhow!("--label: {e}"))?;
    sealgate_api_bodies::check_activate(&probe).map_err(|e| anyhow::anyhow!("--label: {e}"))
}

fn list(text: &str) -> Vec<&str> {
    text.split(',').map(str::trim).collect()
}

/// The API key id without the spaces a paste brings; refused when nothing is left.
fn clean_api_key(raw: &str) -> anyhow::Result<String> {
    let key = raw.trim();
    if key.is_empty() {
        bail!("the API key id is empty: copy it from the exchange's API management page");
    }
    if !key.bytes().all(|b| b.is_ascii_graphic()) {
        bail!("the API key id has spaces or other characters no exchange puts in one: copy it exactly");
    }
    Ok(key.to_owned())
}

/// Asks for the API key id on stderr and reads one line of stdin (asks again after an
/// empty line when a person types it, up to three times).
fn prompt_api_key() -> anyhow::Result<String> {
    let tries = if std::io::stdin().is_terminal() { 3 } else { 1 };
    let mut stdin = std::io::stdin().lock();
    for attempt in 1..=tries {
        eprint!("API key id: ");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        let n = (&mut stdin).take(MAX_LINE).read_line(&mut line).context("cannot read the API key id")?;
        if tries == 1 {
            // Nothing echoed the line: end the prompt's.
            eprintln!();
        }
        if n == 0 {
            bail!("no API key id on stdin (end of input)");
        }
        if !line.ends_with('\n') && n as u64 == MAX_LINE {
            bail!("the API key id line is longer than {MAX_LINE} bytes");
        }
        match clean_api_key(&line) {
            Ok(key) => return Ok(key),
            Err(e) if attempt == tries => return Err(e),
            Err(e) => eprintln!("{e}"),
        }
    }
    bail!("no API key id")
}

/// Refuses a path that exists (or whose directory does not), before a key is made for it.
fn check_new_file(path: &Path) -> anyhow::Result<()> {
    if path.symlink_metadata().is_ok() {
        bail!("--pending-out {}: the file exists; it is never overwritten", path.display());
    }
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !dir.is_dir() {
        bail!("--pending-out {}: no directory {}", path.display(), dir.display());
    }
    Ok(())
}

fn read_limited(path: &Path) -> anyhow::Result<zeroize::Zeroizing<Vec<u8>>> {
    let f = std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut buf = zeroize::Zeroizing::new(Vec::new());
    f.take(MAX_FILE + 1).read_to_end(&mut buf).with_context(|| format!("cannot read {}", path.display()))?;
    if buf.len() as u64 > MAX_FILE {
        bail!("{} is larger than {MAX_FILE} bytes", path.display());
    }
    Ok(buf)
}

/// The api's answer to `POST /v1/custody-keys`.
struct Made {
    id: String,
    exchange: String,
    key_id: String,
    key_type: String,
    public_pem: String,
    pending: Vec<String>,
    exchange_name: String,
    page: String,
    menu: String,
    steps: Vec<String>,
}

impl Made {
    fn parse(v: &Value) -> anyhow::Result<Made> {
        let s = |x: &Value| x.as_str().map(str::to_owned);
        let strings = |x: &Value| -> Option<Vec<String>> { x.as_array()?.iter().map(s).collect() };
        let made = (|| {
            Some(Made {
                id: s(&v["id"])?,
                exchange: s(&v["exchange"])?,
                key_id: s(&v["key_id"])?,
                key_type: s(&v["key_type"])?,
                public_pem: s(&v["public_pem"])?,
                pending: strings(&v["pending"])?,
                exchange_name: s(&v["steps"]["exchange_name"])?,
                page: s(&v["steps"]["page"])?,
                menu: s(&v["steps"]["menu"])?,
                steps: strings(&v["steps"]["steps"])?,
            })
        })()
        .ok_or_else(|| anyhow::anyhow!("the api's answer to making the key is not what this sealgate expects"))?;
        // Only ever a public key is printed (the custody keeps the private half).
        let pem = made.public_pem.trim();
        if !pem.starts_with("-----BEGIN PUBLIC KEY-----")
            || !pem.ends_with("-----END PUBLIC KEY-----")
            || pem.contains("PRIVATE")
        {
            bail!("the api answered with something other than a public key; nothing printed");
        }
        Ok(made)
    }

    /// The exchange's page and steps, then the public key (the steps say "below").
    fn render(&self) -> String {
        let mut t = format!(
            "A new {} key is in the custody for credential {} on {}; its private half never leaves it.\n\n",
            self.key_type, self.id, self.exchange_name
        );
        t.push_str(&format!("On {}: {}", self.exchange_name, self.page));
        if !self.menu.is_empty() {
            t.push_str(&format!(" ({})", self.menu));
        }
        t.push('\n');
        for (i, step) in self.steps.iter().enumerate() {
            t.push_str(&format!("  {}. {}\n", i + 1, step));
        }
        t.push_str(&format!("\nThe public key:\n\n{}\n\n", self.public_pem.trim()));
        clean(&t)
    }
}

/// The credential view the api answered with.
fn render_credential(c: &Value, out: &mut Vec<u8>) -> anyhow::Result<()> {
    let s = |k: &str| c[k].as_str().unwrap_or("").to_owned();
    let names = |x: &Value| -> String {
        x.as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().or_else(|| v["role"].as_str()))
            .collect::<Vec<_>>()
            .join(",")
    };
    let text = format!(
        "credential stored and active\n  id:       {}\n  exchange: {}\n  label:    {}\n  hint:     {}\n  \
         roles:    {}\n  scope:    {}\n",
        s("id"),
        s("exchange"),
        s("label"),
        s("hint"),
        names(&c["roles"]),
        names(&c["scope"]),
    );
    out.extend_from_slice(clean(&text).as_bytes());
    Ok(())
}

/// Text from the api without control characters other than line ends (it reaches a terminal).
fn clean(text: &str) -> String {
    text.chars().filter(|c| *c == '\n' || !c.is_control()).collect()
}

/// How requests are authenticated.
enum Caller {
    /// A local session: its cookie and CSRF token.
    Session { cookie: SecretString, csrf: SecretString },
    /// An OIDC bearer token.
    Bearer(SecretString),
}

/// A signed-in client of the api.
struct Api {
    http: reqwest::Client,
    base: String,
    caller: Caller,
}

impl Connection {
    /// The flags that name the same api and sign-in, for the next command's hint.
    fn flags(&self) -> String {
        let mut f = Vec::new();
        if let Some(d) = &self.data_dir {
            f.push(format!("--data-dir {}", d.display()));
        }
        if self.database.is_some() {
            f.push("--database <URL>".to_owned());
        }
        if let Some(b) = &self.bearer_token_file {
            f.push(format!("--bearer-token-file {}", b.display()));
        }
        if self.api != "http://127.0.0.1:8787" {
            f.push(format!("--api {}", self.api));
        }
        f.join(" ")
    }
}

impl Api {
    /// Signs in as `conn` says (nothing is sent before the api URL is judged).
    async fn sign_in(conn: &Connection) -> anyhow::Result<Api> {
        let base = api_base(&conn.api)?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .build()
            .context("HTTP client")?;
        let caller = match &conn.bearer_token_file {
            Some(file) => {
                let bytes = read_limited(file).with_context(|| format!("--bearer-token-file {}", file.display()))?;
                let token = std::str::from_utf8(&bytes).ok().map(str::trim).unwrap_or_default();
                if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
                    bail!("--bearer-token-file {}: not a bearer token (one line of printable text)", file.display());
                }
                Caller::Bearer(token.to_owned().into())
            }
            None => {
                let data_dir = conn.data_dir.clone().unwrap_or_else(|| PathBuf::from("./sealgate-data"));
                let link = crate::login_cmd::mint_link(&data_dir, conn.database.as_deref(), &base).await?;
                follow_link(&http, &base, &link).await?
            }
        };
        Ok(Api { http, base, caller })
    }

    fn with_auth(&self, r: reqwest::RequestBuilder) -> anyhow::Result<reqwest::RequestBuilder> {
        let sensitive = |v: String| -> anyhow::Result<reqwest::header::HeaderValue> {
            let mut h = reqwest::header::HeaderValue::from_str(&v).context("credentials are not header text")?;
            h.set_sensitive(true);
            Ok(h)
        };
        Ok(match &self.caller {
            Caller::Session { cookie, csrf } => r
                .header(reqwest::header::COOKIE, sensitive(format!("sealgate_session={}", cookie.expose_secret()))?)
                .header("x-csrf-token", sensitive(csrf.expose_secret().to_owned())?),
            Caller::Bearer(t) => {
                r.header(reqwest::header::AUTHORIZATION, sensitive(format!("Bearer {}", t.expose_secret()))?)
            }
        })
    }

    /// POSTs `body` to `path`; the JSON answer of a success, else the api's `error`.
    async fn get(&self, path: &str, what: &str) -> anyhow::Result<Value> {
        let r = self.with_auth(self.http.get(format!("{}{path}", self.base)))?;
        let r = r.send().await.map_err(|e| unreachable(&self.base, e))?;
        let status = r.status();
        let bytes = read_answer(r).await.map_err(|e| unreachable(&self.base, e))?;
        if !status.is_success() {
            bail!("{what}: {}", refusal(status, &bytes));
        }
        serde_json::from_slice(&bytes).with_context(|| format!("{what}: the api's answer is not JSON"))
    }

    async fn post(&self, path: &str, body: &Value, what: &str) -> anyhow::Result<Value> {
        let bytes = self.send(path, body, what).await?;
        serde_json::from_slice(&bytes).with_context(|| format!("{what}: the api's answer is not JSON"))
    }

    /// POSTs `body`; the answer's bytes, or the api's refusal.
    async fn send(&self, path: &str, body: &Value, what: &str) -> anyhow::Result<Vec<u8>> {
        let r = self.with_auth(self.http.post(format!("{}{path}", self.base)).json(body))?;
        let r = r.send().await.map_err(|e| unreachable(&self.base, e))?;
        let status = r.status();
        let bytes = read_answer(r).await.map_err(|e| unreachable(&self.base, e))?;
        if !status.is_success() {
            bail!("{what}: {}", refusal(status, &bytes));
        }
        Ok(bytes)
    }

    /// Ends the session this command started (a bearer token is left as it is).
    async fn sign_out(&self) {
        if matches!(self.caller, Caller::Session { .. })
            && let Ok(r) = self.with_auth(self.http.post(format!("{}/v1/logout", self.base)))
        {
            let _ = r.send().await;
        }
    }
}

/// `--api` without a trailing slash, refused unless http(s) with a host and no query.
fn api_base(api: &str) -> anyhow::Result<String> {
    let url = reqwest::Url::parse(api).map_err(|e| anyhow::anyhow!("--api {api}: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() || url.query().is_some() {
        bail!("--api {api}: give the api's base URL, e.g. http://127.0.0.1:8787");
    }
    if url.scheme() == "http" && !is_loopback(&url) {
        eprintln!("sealgate: warning: {api} is plain http to another machine: the session travels unencrypted");
    }
    Ok(api.trim_end_matches('/').to_owned())
}

fn is_loopback(url: &reqwest::Url) -> bool {
    let host = url.host_str().unwrap_or_default();
    let ip = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost" || ip.parse::<std::net::IpAddr>().is_ok_and(|a| a.is_loopback())
}

/// Follows a one-time sign-in link: the session cookie and CSRF token of the 303 answer.
async fn follow_link(http: &reqwest::Client, base: &str, link: &SecretString) -> anyhow::Result<Caller> {
    let r = http.get(link.expose_secret()).send().await.map_err(|e| unreachable(base, e))?;
    let status = r.status();
    let cookie = r
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix("sealgate_session="))
        .and_then(|c| c.split(';').next())
        .map(str::to_owned);
    let bytes = read_answer(r).await.map_err(|e| unreachable(base, e))?;
    if status.as_u16() != 303 {
        let hint = if status.as_u16() == 404 {
            " (this api does not take local sign-in links: give --bearer-token-file, or check --api and --data-dir)"
        } else {
            " (is --data-dir the one of the serve at --api?)"
        };
        bail!("signing in: {}{hint}", refusal(status, &bytes));
    }
    let csrf = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|v| v["csrf_token"].as_str().map(str::to_owned))
        .filter(|t| !t.is_empty());
    match (cookie, csrf) {
        (Some(cookie), Some(csrf)) if !cookie.is_empty() => {
            Ok(Caller::Session { cookie: cookie.into(), csrf: csrf.into() })
        }
        _ => bail!("signing in: the api answered without a session; is {base} a Sealgate api?"),
    }
}

/// At most [`MAX_ANSWER`] bytes of the answer's body.
async fn read_answer(mut r: reqwest::Response) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = r.chunk().await? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_ANSWER {
            body.truncate(MAX_ANSWER);
            break;
        }
    }
    Ok(body)
}

/// A transport error, without the URL (a sign-in link's token must not be printed).
fn unreachable(base: &str, e: reqwest::Error) -> anyhow::Error {
    let e = e.without_url();
    let why = if e.is_timeout() { "the api did not answer in time" } else { "cannot reach the api" };
    anyhow::Error::new(e).context(format!("{why} at {base} (is `sealgate serve` running there? see --api)"))
}

/// The api's `{"error": …}` with the status, or the status alone.
fn refusal(status: reqwest::StatusCode, body: &[u8]) -> String {
    let message = serde_json::from_slice::<Value>(body).ok().and_then(|v| v["error"].as_str().map(clean));
    match message {
        Some(m) => format!("the api refused ({}): {}", status.as_u16(), m.chars().take(500).collect::<String>()),
        None => format!("the api answered {status} without an error message"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn made(pem: &str) -> Value {
        json!({"id": "c1", "exchange": "binance", "key_id": "xk-1", "key_type": "ed25519", "public_pem": pem,
            "pending": ["g1"], "steps": {"exchange_name": "Binance", "page": "https://example.test/api",
            "menu": "Account > API", "steps": ["one", "two"]}})
    }

    #[test]
    fn only_a_public_key_is_printed() {
        let public = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n";
        let text = Made::parse(&made(public)).expect("a public key").render();
        assert!(text.contains("  1. one\n  2. two\n"), "{text}");
        assert!(text.find("  2. two").expect("steps") < text.find("BEGIN PUBLIC KEY").expect("pem"), "{text}");
        for bad in [
            "-----BEGIN PRIVATE KEY-----\nMC4CAQAw\n-----END PRIVATE KEY-----",
            "-----BEGIN PUBLIC KEY-----\n-----BEGIN PRIVATE KEY-----\n-----END PUBLIC KEY-----",
            "not a key",
        ] {
            assert!(Made::parse(&made(bad)).is_err(), "{bad}");
        }
        let mut missing = made(public);
        missing["steps"]["steps"] = json!([1]);
        assert!(Made::parse(&missing).is_err());
    }

    #[test]
    fn api_key_ids_and_api_urls() {
        assert_eq!(clean_api_key("  AbC123 \n").expect("key"), "AbC123");
        assert!(clean_api_key("has space").is_err() && clean_api_key("caf\u{e9}").is_err());
        for empty in ["", " ", "\n", " \t \r\n"] {
            assert!(clean_api_key(empty).is_err(), "{empty:?}");
        }
        assert_eq!(api_base("http://127.0.0.1:8787/").expect("url"), "http://127.0.0.1:8787");
        assert_eq!(api_base("https://sealgate.example/base").expect("url"), "https://sealgate.example/base");
        for bad in ["127.0.0.1:8787", "ftp://host", "http://host/?token=x", "not a url"] {
            assert!(api_base(bad).is_err(), "{bad}");
        }
        let loopback = |u: &str| is_loopback(&reqwest::Url::parse(u).expect("url"));
        assert!(loopback("http://127.0.0.1:1") && loopback("http://[::1]:1") && loopback("http://localhost"));
        assert!(!loopback("http://10.0.0.1") && !loopback("http://sealgate.example"));
    }

    #[test]
    fn exchanges_and_key_types() {
        assert!(check_exchange("binance", None).is_ok());
        assert!(check_exchange("binance", Some("ed25519")).is_ok());
        assert!(check_exchange("bybit", Some("rsa-2048")).is_ok());
        let e = check_exchange("bybit", Some("ed25519")).expect_err("bybit takes RSA only").to_string();
        assert!(e.contains("rsa-2048"), "{e}");
        let e = check_exchange("kraken", None).expect_err("kraken").to_string();
        assert!(e.contains("binance, bitget, bybit"), "{e}");
        assert!(check_label("a label").is_ok());
        assert!(check_label("bad\u{7}label").is_err());
        assert!(check_label(&"x".repeat(500)).is_err());
    }
}
