//! The Sealgate desktop agent: like ssh-agent, for exchange API keys.
//!
//! A trading bot connects to a Unix socket and asks the agent to `sign` a
//! private REST request, or to sign and send it (`request`); the exchange
//! secret stays in the agent, which applies the same policy as the signer
//! ([`sealgate_policy::evaluate`] with [`Role::Agent`]) and appends every
//! decision to a local audit chain (JSONL, `sealgate audit verify --file`).
//!
//! # Protocol (version 1)
//!
//! Each message is a u32 big-endian length, then that many bytes of JSON
//! (at most 1 MiB). Requests are `{"v":1,"op":…}`; replies carry `"v":1`
//! and `"ok"`:
//!
//! * `{"v":1,"op":"list"}` → `{"ok":true,"credentials":[{label,exchange,hint,classes,…}]}`
//! * `{"v":1,"op":"request","credential":L,"request":{method,path,query,body}}`
//!   → the agent signs and sends it to the exchange's base URL →
//!   `{"ok":true,"status":N,"headers":[[n,v]…],"body":S}`. This is the op for
//!   bots (and the ccxt adapter): what is sent is what the policy judged.
//!   It is sent once, through the one send path of the signer and the agent
//!   (`sealgate-send`): redirects are not followed (a `3xx` comes back as
//!   the answer; the API-key headers go nowhere else), the answer body is
//!   read up to [`MAX_RESPONSE`] bytes (else `upstream`, "cut off"), and
//!   the `Content-Type` is the exchange's rule
//!   (`sealgate_exchanges::content_type`). The agent never re-sends: a
//!   clock or nonce rejection comes back to the bot as the exchange gave it.
//! * `{"v":1,"op":"sign",…same…}` →
//!   `{"ok":true,"signed":{method,path,query,headers:[[n,v]…],body}}`, only
//!   for a credential added with `--allow-sign`, and only for an exchange
//!   whose signature binds method, path, query and body and carries no
//!   credential in clear (Gate, Bitstamp, Deribit; see
//!   `sealgate_exchanges::Scheme::check_sign`); otherwise `denied`, naming
//!   `request`. A signature that binds less could be sent with another
//!   method, path or parameters than the ones judged (a Binance read's
//!   query, signed, withdraws when sent to the withdrawal endpoint).
//! * Every request's path obeys the one path rule of `sealgate-exchanges`
//!   (`check_path`: no `\`, `%`, `.`/`..` or empty segments, ASCII only),
//!   checked before anything else: `bad_request` otherwise.
//! * `{"v":1,"op":"lock"}` → `{"ok":true,"locked":true}`: the agent drops
//!   every opened credential (zeroized) and refuses `sign` and `request`
//!   with `locked` until unlocked; `list` then answers `"locked":true` and
//!   no credentials (like `ssh-add -x`).
//! * `{"v":1,"op":"unlock","passphrase":S}` → `{"ok":true,"locked":false,
//!   "credentials":N}`: the agent re-opens its keystore file with the
//!   passphrase (like `ssh-add -X`). A wrong passphrase leaves it locked
//!   (`wrong_passphrase`), and each consecutive failure doubles the time
//!   before the next attempt is even tried (1 s, 2 s, 4 s, … at most 5 min;
//!   earlier attempts get `rate_limited`); failures are audited.
//! * a `sign` or `request` of a class the credential marks `confirm` waits
//!   for the user's answer through the confirm program (see [`confirm`]);
//!   no program, a refusal or no answer in time → `denied`.
//! * any refusal → `{"ok":false,"error":KIND,"message":S}` with KIND one of
//!   `bad_request`, `unknown_credential`, `denied`, `sign_failed`, `upstream`,
//!   `locked`, `wrong_passphrase`, `rate_limited`, `keystore` (`refused`
//!   when the client itself is not allowed).
//!
//! Version 1 grew `lock` and `unlock` after its first release; an older
//! agent answers them with `bad_request` ("unknown op").
//!
//! # Audit chain and its checkpoints
//!
//! The chain file (JSONL) starts with a `root` line naming the keystore's
//! audit key (ES256, generated with the keystore, stored encrypted in it);
//! every [`CHECKPOINT_EVERY`] records, at start, at `lock`, at
//! [`Agent::shutdown`] and every [`CHECKPOINT_INTERVAL`] while records are
//! added, the head is signed with it (the platform's checkpoint format,
//! `sealgate-audit`'s FORMAT.md §3) and appended to the chain and to
//! [`checkpoint_path`] beside it. `sealgate audit verify --file F
//! --checkpoints F.checkpoint --pin PIN` then catches a chain cut short,
//! its own checkpoint lines with it; the agent itself refuses to start on a
//! chain that does not verify.

pub mod client;
pub mod confirm;
pub mod hardening;
pub mod keystore;
pub mod socket_dir;

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use aws_lc_rs::digest;
use sealgate_audit::{Action, Chain, Detail};
use sealgate_exchanges::{Clock as _, MonotonicNonce, Request, SignedRequest, SystemClock};
use sealgate_policy::{Context, RateState, RequestFacts, Role};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{UnixListener, UnixStream};
use zeroize::Zeroizing;

pub use keystore::{Entry, KdfParams, Keystore, KeystoreError, Rate, Secret, Secrets};

/// Largest message, either way.
pub const MAX_FRAME: usize = 1 << 20;

/// Largest exchange answer body a `request` reads (half a frame, so the
/// reply, JSON-escaped, still fits one); a larger one is cut off with
/// `upstream`.
pub const MAX_RESPONSE: usize = MAX_FRAME / 2;

/// An executable a client may run as.
#[derive(Debug, Clone)]
pub struct AllowedExe {
    /// Its path.
    pub path: PathBuf,
    /// SHA-256 of its contents, hex.
    pub sha256: String,
}

impl AllowedExe {
    /// Pin `path` as it is now.
    pub fn pin(path: &Path) -> std::io::Result<Self> {
        let path = fs::canonicalize(path)?;
        let sha256 = sha256_file(&path)?;
        Ok(Self { path, sha256 })
    }
}

fn sha256_file(p: &Path) -> std::io::Result<String> {
    let bytes = fs::read(p)?;
    Ok(keystore::hex(digest::digest(&digest::SHA256, &bytes).as_ref()))
}

/// How the agent runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Socket path.
    pub socket: PathBuf,
    /// Audit chain file (JSONL).
    pub audit: PathBuf,
    /// Base URL per exchange id, for `request`.
    pub exchange_urls: HashMap<String, String>,
    /// When non-empty, only clients running one of these executables.
    pub allow_exe: Vec<AllowedExe>,
    /// The confirm program (see [`confirm`]); `None`: requests that need a
    /// confirmation are denied.
    pub confirm_program: Option<PathBuf>,
    /// How long the confirm program may take to answer (default 60 s).
    pub confirm_timeout: Duration,
    /// A signed audit checkpoint every this many records (default
    /// [`CHECKPOINT_EVERY`]); also at start, at `lock`, at [`Agent::shutdown`]
    /// and every [`CHECKPOINT_INTERVAL`] when records were added.
    pub checkpoint_every: u64,
}

/// Default records between two signed audit checkpoints.
pub const CHECKPOINT_EVERY: u64 = 64;
/// A checkpoint at least this often while records are being added.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(30);

impl Default for Config {
    fn default() -> Self {
        Self {
            socket: PathBuf::new(),
            audit: PathBuf::new(),
            exchange_urls: HashMap::new(),
            allow_exe: Vec::new(),
            confirm_program: None,
            confirm_timeout: Duration::from_secs(60),
            checkpoint_every: CHECKPOINT_EVERY,
        }
    }
}

/// The first failed unlock delays the next attempt by this much; each
/// further consecutive failure doubles it, up to [`UNLOCK_DELAY_MAX`].
pub const UNLOCK_DELAY_FIRST: Duration = Duration::from_secs(1);
/// The longest delay between failed unlocks.
pub const UNLOCK_DELAY_MAX: Duration = Duration::from_secs(300);

/// The default socket: `$XDG_RUNTIME_DIR/sealgate/agent.sock`.
pub fn default_socket() -> PathBuf {
    let base = std::env::var_os("XDG_RUNTIME_DIR").map_or_else(
        || std::env::temp_dir().join(format!("sealgate-{}", rustix::process::getuid().as_raw())),
        PathBuf::from,
    );
    base.join("sealgate").join("agent.sock")
}

/// The file beside the audit chain `audit` that holds its latest signed
/// checkpoint (`AUDIT.checkpoint`, replaced atomically): a chain whose tail
/// was cut, its own checkpoint lines with it, still fails `audit verify
/// --checkpoints` as truncated.
pub fn checkpoint_path(audit: &Path) -> PathBuf {
    let mut p = audit.as_os_str().to_owned();
    p.push(".checkpoint");
    PathBuf::from(p)
}

/// The agent's audit chain (JSONL): records, the root line naming the
/// keystore's audit key, and checkpoints signed with it.
struct Audit {
    chain: Chain,
    file: fs::File,
    path: PathBuf,
    key: keystore::AuditKey,
    every: u64,
    /// The seq of the last checkpoint written (0: none).
    checkpointed: u64,
}

impl Audit {
    /// Open (or start) the chain at `path`: an existing chain must verify
    /// under `key`, with the checkpoint file beside it, before anything is
    /// appended; a chain of another key, or a truncated or edited one, is
    /// refused (kept as evidence, never extended).
    fn open(
        path: &Path,
        key: keystore::AuditKey,
        every: u64,
    ) -> Result<(Self, HashMap<String, sealgate_anomaly::Baseline>), String> {
        use sealgate_audit::jsonl::{self, Line, Trust};
        let read = |p: &Path| match fs::read(p) {
            Ok(t) => Ok(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(format!("read audit chain {}: {e}", p.display())),
        };
        let side = checkpoint_path(path);
        let text = read(path)?;
        let side_text = read(&side)?;
        let pin = key.public().thumbprint();
        let aside = format!(
            "keep it as evidence and move it aside (mv {p} {p}.bad; mv {s} {s}.bad), or start with another --audit",
            p = path.display(),
            s = side.display()
        );
        let mut has_root = false;
        for line in text.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            if let Ok(Line::Root(k)) = jsonl::parse_line(line) {
                if k != *key.public() {
                    return Err(format!(
                        "audit chain {} is signed by another audit key (pin {}), not this keystore's (pin {pin}); {aside}",
                        path.display(),
                        k.thumbprint()
                    ));
                }
                has_root = true;
            }
        }
        // The highest seq a checkpoint signed before this start covers (verified below).
        let covered = text
            .split(|b| *b == b'\n')
            .filter_map(|l| match jsonl::parse_line(l) {
                Ok(Line::Checkpoint(cp)) => Some(cp.checkpoint.seq),
                _ => None,
            })
            .chain(jsonl::parse_checkpoints(&side_text).unwrap_or_default().iter().map(|cp| cp.checkpoint.seq))
            .max()
            .unwrap_or(0);
        let summary = jsonl::parse_checkpoints(&side_text)
            .and_then(|extra| jsonl::verify_export_with(&text, extra, Trust::Root(key.public().clone())))
            .map_err(|e| {
                format!(
                    "audit chain {} does not verify under this keystore's audit key (pin {pin}): {e}; it was \
                     truncated or edited since the agent last wrote it: {aside}",
                    path.display()
                )
            })?;
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| format!("open audit chain {}: {e}", path.display()))?;
        if !has_root {
            let line = jsonl::root_line(key.public());
            file.write_all(format!("{line}\n").as_bytes())
                .map_err(|e| format!("write audit chain {}: {e}", path.display()))?;
        }
        let mut audit = Self {
            chain: Chain::resume(summary.last_seq, summary.last_hash),
            file,
            path: path.to_owned(),
            key,
            every,
            checkpointed: 0,
        };
        let baselines = replay_baselines(&text, covered.min(summary.last_seq));
        if summary.last_seq > 0 {
            // The head found at start: a tail left unsigned by a crash is
            // signed now, and the checkpoint file is brought up to date.
            audit.checkpoint();
        }
        Ok((audit, baselines))
    }

    fn log(&mut self, action: Action, subject: &str, detail: &Value) {
        let rec = Detail::new(detail)
            .and_then(|d| self.chain.append("service:agent", action, subject, d, SystemClock.now_ms()));
        match rec {
            Ok(r) => {
                let line = sealgate_audit::jsonl::record_line(&r);
                // One write(2) per record, appended; not fsynced per record (an
                // fsync costs ~1.5 ms here, 60× the whole round trip): a crash
                // of the machine may lose the last records, never reorder them.
                // A checkpoint fsyncs the records it covers first.
                let _ = self.file.write_all(format!("{line}\n").as_bytes());
                if self.chain.checkpoint_due(self.every) {
                    self.checkpoint();
                }
            }
            Err(e) => {
                let _ = writeln!(std::io::stderr(), "sealgate agent: audit record refused: {e}");
            }
        }
    }

    /// Sign the head (if it moved since the last checkpoint): the records
    /// are made durable, then the checkpoint line is appended to the chain
    /// and written (atomically) to the checkpoint file beside it.
    fn checkpoint(&mut self) {
        let Some(cp) = self.chain.checkpoint(SystemClock.now_ms()) else { return };
        if cp.seq == self.checkpointed {
            return;
        }
        let res = (|| -> Result<(), String> {
            let signed = self.key.sign(&cp).map_err(|e| e.to_string())?;
            let line = format!("{}\n", sealgate_audit::jsonl::checkpoint_line(&signed));
            self.file.sync_data().map_err(|e| format!("fsync: {e}"))?;
            self.file.write_all(line.as_bytes()).map_err(|e| format!("write: {e}"))?;
            let side = checkpoint_path(&self.path);
            sealgate_hardening::private_file::replace(&side, line.as_bytes())
                .map_err(|e| format!("{}: {e}", side.display()))?;
            Ok(())
        })();
        match res {
            Ok(()) => self.checkpointed = cp.seq,
            Err(e) => {
                let _ =
                    writeln!(std::io::stderr(), "sealgate agent: audit checkpoint at seq {} not written: {e}", cp.seq);
            }
        }
    }
}

/// Failed unlocks, for the exponential delay.
#[derive(Default)]
struct UnlockTries {
    failures: u32,
    not_before: Option<Instant>,
    busy: bool,
}

struct State {
    /// The opened credentials; empty while locked.
    entries: Vec<Entry>,
    locked: bool,
    /// Bumped by every lock, so an unlock that began before a lock does not undo it.
    epoch: u64,
    unlock: UnlockTries,
    rates: HashMap<String, RateState>,
    nonces: HashMap<String, Arc<MonotonicNonce>>,
    audit: Audit,
    /// The anomaly detectors' baseline of each credential (by label), learnt from the
    /// orders this agent let through, and at start again from its verified audit chain
    /// (the records a checkpoint signed: [`replay_baselines`]) ([`sealgate_anomaly`]).
    baselines: HashMap<String, sealgate_anomaly::Baseline>,
    /// Credentials an anomaly froze (by label), with the verdict: they may only cancel
    /// until the user unlocks the agent again (the passphrase is the user's act).
    frozen: HashMap<String, String>,
    /// Freezes the confirm program is to tell the user of (taken by the request that froze).
    notices: Vec<String>,
}

/// The running agent.
pub struct Agent {
    cfg: Config,
    keystore: PathBuf,
    state: Mutex<State>,
    sender: sealgate_send::Sender,
    uid: u32,
    /// The agent's own executable, pinned at start when `allow_exe` is set:
    /// always allowed, so `sealgate agent lock|unlock` reach an agent whose
    /// clients are restricted to a bot's interpreter.
    own_exe: Option<AllowedExe>,
    /// Market facts by (exchange, symbol), each with when it was read ([`MARKET_TTL`]).
    markets: Mutex<HashMap<(String, String), MarketEntry>>,
}

/// A market's ticker facts (`None`: not readable) and when they were read.
type MarketEntry = (Instant, Option<sealgate_exchanges::MarketStats>);

/// How long a market's ticker facts are used before they are read again.
const MARKET_TTL: Duration = Duration::from_secs(10);

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent").field("socket", &self.cfg.socket).finish_non_exhaustive()
    }
}

enum Refusal {
    Bad(String),
    Unknown(String),
    Denied(String),
    Sign(String),
    Upstream(String),
    Locked,
    WrongPassphrase(String),
    RateLimited(String),
    Keystore(String),
}

impl Refusal {
    fn reply(self) -> Value {
        let (k, m) = match self {
            Self::Bad(m) => ("bad_request", m),
            Self::Unknown(m) => ("unknown_credential", m),
            Self::Denied(m) => ("denied", m),
            Self::Sign(m) => ("sign_failed", m),
            Self::Upstream(m) => ("upstream", m),
            Self::Locked => ("locked", "the agent is locked; unlock it with `sealgate agent unlock`".to_owned()),
            Self::WrongPassphrase(m) => ("wrong_passphrase", m),
            Self::RateLimited(m) => ("rate_limited", m),
            Self::Keystore(m) => ("keystore", m),
        };
        json!({"v": 1, "ok": false, "error": k, "message": m})
    }
}

impl Agent {
    /// An agent over the opened keystore's entries.
    ///
    /// A keystore without an audit key (written before it) gets one, and is
    /// saved; the audit chain must verify under it (see [`checkpoint_path`]).
    pub fn new(cfg: Config, mut keystore: Keystore) -> Result<Arc<Self>, String> {
        if keystore.ensure_audit_key().map_err(|e| e.to_string())? {
            keystore.save().map_err(|e| e.to_string())?;
        }
        let key = keystore.audit_key().map_err(|e| e.to_string())?.ok_or("the keystore has no audit key")?;
        let (audit, baselines) = Audit::open(&cfg.audit, key, cfg.checkpoint_every)?;
        let sender = sealgate_send::Sender::new(sealgate_send::SendConfig {
            timeout: Duration::from_secs(30),
            max_response: MAX_RESPONSE,
        })?;
        let cfg_has_allow_list = !cfg.allow_exe.is_empty();
        let entries = std::mem::take(&mut keystore.entries);
        let path = keystore.path().to_owned();
        drop(keystore);
        Ok(Arc::new(Self {
            cfg,
            keystore: path,
            state: Mutex::new(State {
                entries,
                locked: false,
                epoch: 0,
                unlock: UnlockTries::default(),
                rates: HashMap::new(),
                nonces: HashMap::new(),
                audit,
                baselines,
                frozen: HashMap::new(),
                notices: Vec::new(),
            }),
            sender,
            uid: rustix::process::getuid().as_raw(),
            own_exe: if cfg_has_allow_list { AllowedExe::pin(Path::new("/proc/self/exe")).ok() } else { None },
            markets: Mutex::new(HashMap::new()),
        }))
    }

    /// Bind the socket (directory 0700, socket 0600), replacing a stale one.
    /// Every directory on the way is checked like ssh-agent's
    /// ([`socket_dir::prepare`]): one another user owns or may write is refused.
    pub fn bind(&self) -> Result<UnixListener, String> {
        let sock = &self.cfg.socket;
        let dir = match sock.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        socket_dir::prepare(dir, self.uid).map_err(|e| e.to_string())?;
        if sock.exists() {
            if std::os::unix::net::UnixStream::connect(sock).is_ok() {
                return Err(format!("an agent is already listening on {}", sock.display()));
            }
            let _ = fs::remove_file(sock);
        }
        let l = UnixListener::bind(sock).map_err(|e| format!("bind {}: {e}", sock.display()))?;
        fs::set_permissions(sock, fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("chmod 600 {}: {e}", sock.display()))?;
        Ok(l)
    }

    /// The RFC 7638 thumbprint of the audit key that signs this agent's
    /// checkpoints: the pin for `sealgate audit verify --pin`.
    pub fn audit_pin(&self) -> String {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).audit.key.public().thumbprint()
    }

    /// Sign a checkpoint of the audit chain now (if records were added
    /// since the last one).
    pub fn checkpoint(&self) {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).audit.checkpoint();
    }

    /// Before the process exits: audit the stop and sign a final checkpoint.
    pub fn shutdown(&self) {
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        st.audit.log(other("agent_stopped"), "", &json!({}));
        st.audit.checkpoint();
    }

    /// Serve forever (and sign a checkpoint every [`CHECKPOINT_INTERVAL`]
    /// when records were added).
    pub async fn serve(self: Arc<Self>, listener: UnixListener) -> std::io::Result<()> {
        let weak = Arc::downgrade(&self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(CHECKPOINT_INTERVAL);
            tick.tick().await;
            loop {
                tick.tick().await;
                match weak.upgrade() {
                    Some(agent) => agent.checkpoint(),
                    None => return,
                }
            }
        });
        loop {
            let (stream, _) = listener.accept().await?;
            let me = self.clone();
            tokio::spawn(async move { me.client(stream).await });
        }
    }

    fn check_peer(&self, stream: &UnixStream) -> Result<(), String> {
        let cred = stream.peer_cred().map_err(|e| format!("no peer credentials: {e}"))?;
        if cred.uid() != self.uid {
            return Err(format!("uid {} is not the agent's uid {}", cred.uid(), self.uid));
        }
        if self.cfg.allow_exe.is_empty() {
            return Ok(());
        }
        let pid = cred.pid().ok_or("no peer pid")?;
        let exe = PathBuf::from(format!("/proc/{pid}/exe"));
        let path = fs::read_link(&exe).map_err(|e| format!("peer executable unreadable: {e}"))?;
        let sum = sha256_file(&exe).map_err(|e| format!("peer executable unreadable: {e}"))?;
        if self.cfg.allow_exe.iter().chain(&self.own_exe).any(|a| a.path == path && a.sha256 == sum) {
            Ok(())
        } else {
            Err(format!("executable {} (sha256 {sum}) is not allowed", path.display()))
        }
    }

    async fn client(self: Arc<Self>, mut stream: UnixStream) {
        if let Err(why) = self.check_peer(&stream) {
            self.state.lock().unwrap_or_else(PoisonError::into_inner).audit.log(
                other("client_refused"),
                "",
                &json!({"reason": why}),
            );
            let _ = write_frame(&mut stream, &json!({"v":1,"ok":false,"error":"refused","message":why})).await;
            drain_and_close(stream).await;
            return;
        }
        while let Ok(Some(req)) = read_frame(&mut stream).await {
            // An unlock frame carries the passphrase: the bytes are wiped
            // after parsing, and the value is taken out of the JSON tree.
            let req = Zeroizing::new(req);
            let reply = match serde_json::from_slice::<Value>(&req) {
                Ok(v) => self.handle(v).await.unwrap_or_else(Refusal::reply),
                Err(_) => Refusal::Bad("not JSON".into()).reply(),
            };
            if write_frame(&mut stream, &reply).await.is_err() {
                return;
            }
        }
    }

    async fn handle(&self, mut v: Value) -> Result<Value, Refusal> {
        if v.get("v").and_then(Value::as_u64) != Some(1) {
            return Err(Refusal::Bad("unsupported protocol version (want \"v\":1)".into()));
        }
        match v.get("op").and_then(Value::as_str) {
            Some("list") => {
                let st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
                let list: Vec<Value> = st.entries.iter().map(Entry::public).collect();
                Ok(json!({"v":1,"ok":true,"locked":st.locked,"credentials":list}))
            }
            Some(op @ ("sign" | "request")) => {
                let op = if op == "sign" { Op::Sign } else { Op::Request };
                let reference = self.reference_for(&v).await;
                let market = self.market_for(&v).await;
                let plan = self.decide(&v, op, reference, &market);
                self.tell_freezes();
                let plan = plan?;
                if plan.confirm {
                    self.confirm(&plan).await?;
                }
                let signed = self.sign(&plan)?;
                match op {
                    Op::Sign => Ok(json!({"v":1,"ok":true,"signed":signed})),
                    Op::Request => self.forward(&plan.exchange, &signed).await,
                }
            }
            Some("lock") => Ok(self.lock()),
            Some("unlock") => {
                let pass = match v.as_object_mut().and_then(|o| o.remove("passphrase")) {
                    Some(Value::String(p)) => Zeroizing::new(p),
                    _ => return Err(Refusal::Bad("unlock: passphrase (a string) missing".into())),
                };
                self.unlock(pass).await
            }
            _ => Err(Refusal::Bad("unknown op (list, sign, request, lock, unlock)".into())),
        }
    }

    fn lock(&self) -> Value {
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let dropped = st.entries.len();
        // Each entry's secrets are `Zeroizing`: dropping them wipes them.
        st.entries = Vec::new();
        let was = st.locked;
        st.locked = true;
        st.epoch += 1;
        st.audit.log(other("agent_locked"), "", &json!({"dropped": dropped, "was_locked": was}));
        st.audit.checkpoint();
        json!({"v":1,"ok":true,"locked":true})
    }

    async fn unlock(&self, pass: Zeroizing<String>) -> Result<Value, Refusal> {
        let epoch = {
            let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            if !st.locked {
                return Err(Refusal::Bad("the agent is not locked".into()));
            }
            if st.unlock.busy {
                return Err(Refusal::RateLimited("another unlock is in progress; retry after it".into()));
            }
            if let Some(wait) = st.unlock.not_before.and_then(|t| t.checked_duration_since(Instant::now())) {
                let ms = wait.as_millis();
                let tries = st.unlock.failures;
                st.audit.log(
                    other("unlock_refused"),
                    "",
                    &json!({"reason": "rate limited", "failures": tries, "retry_after_ms": ms}),
                );
                return Err(Refusal::RateLimited(format!(
                    "{tries} wrong passphrase(s) in a row; the next attempt is accepted in {ms} ms"
                )));
            }
            st.unlock.busy = true;
            st.epoch
        };
        // argon2id takes ~0.3 s and 64 MiB: off the async workers.
        let path = self.keystore.clone();
        let opened = tokio::task::spawn_blocking(move || {
            Keystore::open(&path, pass.as_bytes()).map(|mut ks| std::mem::take(&mut ks.entries))
        })
        .await;
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        st.unlock.busy = false;
        match opened {
            Ok(Ok(entries)) if st.epoch == epoch => {
                let n = entries.len();
                st.entries = entries;
                st.locked = false;
                // Unlocking is the user's act: it lifts the anomaly freezes.
                st.frozen.clear();
                st.unlock = UnlockTries::default();
                st.audit.log(other("agent_unlocked"), "", &json!({"credentials": n}));
                Ok(json!({"v":1,"ok":true,"locked":false,"credentials":n}))
            }
            Ok(Ok(_)) => Err(Refusal::Locked),
            Ok(Err(KeystoreError::WrongPassphrase(_))) => {
                st.unlock.failures = st.unlock.failures.saturating_add(1);
                let delay = unlock_delay(st.unlock.failures);
                st.unlock.not_before = Some(Instant::now() + delay);
                let tries = st.unlock.failures;
                st.audit.log(
                    other("unlock_failed"),
                    "",
                    &json!({"reason": "wrong passphrase", "failures": tries, "retry_after_ms": delay.as_millis()}),
                );
                Err(Refusal::WrongPassphrase(format!(
                    "wrong passphrase; the agent stays locked (next attempt accepted in {} ms)",
                    delay.as_millis()
                )))
            }
            Ok(Err(e)) => {
                st.audit.log(other("unlock_failed"), "", &json!({"reason": e.to_string()}));
                Err(Refusal::Keystore(format!("{e}; the agent stays locked")))
            }
            Err(e) => {
                st.audit.log(other("unlock_failed"), "", &json!({"reason": e.to_string()}));
                Err(Refusal::Keystore(format!("unlock failed ({e}); the agent stays locked")))
            }
        }
    }

    /// The reference price [`Self::decide`] values a capped placement at: the
    /// exchange's public ticker of the order's symbol, read through the one
    /// send path before the state lock is taken, never a price the caller
    /// wrote. `None` when nothing needs it or the ticker cannot be read: the
    /// policy then refuses what it cannot value.
    async fn reference_for(&self, v: &Value) -> Option<sealgate_policy::Decimal> {
        let label = v.get("credential")?.as_str()?;
        let req: Request = serde_json::from_value(v.get("request")?.clone()).ok()?;
        req.validate().ok()?;
        let (exchange, symbols) = {
            let st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            let entry = st.entries.iter().find(|e| e.label == label).filter(|_| !st.locked)?;
            let policy = entry.policy(SystemClock.now_ms()).ok()?;
            policy.max_notional?;
            (entry.exchange.clone(), policy.symbols)
        };
        if sealgate_exchanges::classify(&exchange, &req.path).ok()? != sealgate_exchanges::EndpointClass::Trade {
            return None;
        }
        let order = sealgate_exchanges::canonicalize(&exchange, &req).ok()?.order;
        let symbol = order.symbol.as_deref().filter(|_| order.places_order)?;
        if symbols.is_some_and(|allowed| !allowed.contains(symbol)) {
            return None;
        }
        let ticker = sealgate_exchanges::ticker_request(&exchange, symbol)?;
        let base = self.cfg.exchange_urls.get(&exchange)?;
        let reply = self.sender.send(&exchange, base, &SignedRequest::from_request(&ticker)).await.ok()?;
        if reply.status != 200 {
            return None;
        }
        sealgate_policy::Decimal::parse(&sealgate_exchanges::ticker_price(&exchange, symbol, &reply.body).ok()?)
    }

    /// The market facts of the order's symbol (last trade, 24 h quote volume) for the
    /// anomaly detectors: the exchange's public ticker through the one send path, before
    /// the state lock is taken. Unknown (the detectors that need them do not judge) when
    /// the request places no order or the ticker cannot be read.
    async fn market_for(&self, v: &Value) -> sealgate_anomaly::MarketFacts {
        let read = async {
            let label = v.get("credential")?.as_str()?;
            let req: Request = serde_json::from_value(v.get("request")?.clone()).ok()?;
            req.validate().ok()?;
            let exchange = {
                let st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
                st.entries.iter().find(|e| e.label == label).filter(|_| !st.locked)?.exchange.clone()
            };
            if sealgate_exchanges::classify(&exchange, &req.path).ok()? != sealgate_exchanges::EndpointClass::Trade {
                return None;
            }
            let order = sealgate_exchanges::canonicalize(&exchange, &req).ok()?.order;
            let symbol = order.symbol.as_deref().filter(|_| order.places_order)?;
            let key = (exchange.clone(), symbol.to_owned());
            if let Some((at, stats)) = self.markets.lock().unwrap_or_else(PoisonError::into_inner).get(&key)
                && at.elapsed() < MARKET_TTL
            {
                return *stats;
            }
            let fetch = async {
                let ticker = sealgate_exchanges::market_stats_request(&exchange, symbol)?;
                let base = self.cfg.exchange_urls.get(&exchange)?;
                let reply = self.sender.send(&exchange, base, &SignedRequest::from_request(&ticker)).await.ok()?;
                if reply.status != 200 {
                    return None;
                }
                sealgate_exchanges::market_stats(&exchange, symbol, &reply.body).ok()
            };
            let stats = fetch.await;
            let mut markets = self.markets.lock().unwrap_or_else(PoisonError::into_inner);
            if markets.len() >= 1024 {
                markets.clear();
            }
            markets.insert(key, (Instant::now(), stats));
            stats
        };
        read.await.map_or_else(sealgate_anomaly::MarketFacts::default, |s| sealgate_anomaly::MarketFacts {
            last_price: Some(s.last_price),
            quote_volume_24h: Some(s.quote_volume_24h),
        })
    }

    /// Tells the user of each freeze through the confirm program (its answer is not
    /// read: the freeze stands), without holding up the client's answer.
    fn tell_freezes(&self) {
        let notices = std::mem::take(&mut self.state.lock().unwrap_or_else(PoisonError::into_inner).notices);
        let Some(prog) = self.cfg.confirm_program.clone() else { return };
        let timeout = self.cfg.confirm_timeout;
        for notice in notices {
            let prog = prog.clone();
            tokio::spawn(async move {
                let _ = confirm::ask(&prog, &notice, timeout).await;
            });
        }
    }

    /// Parse and decide by policy (audited when denied), then by the anomaly
    /// detectors; whether the user must confirm. `reference`: see
    /// [`Self::reference_for`]; `market`: see [`Self::market_for`].
    fn decide(
        &self,
        v: &Value,
        op: Op,
        reference: Option<sealgate_policy::Decimal>,
        market: &sealgate_anomaly::MarketFacts,
    ) -> Result<Plan, Refusal> {
        let label =
            v.get("credential").and_then(Value::as_str).ok_or_else(|| Refusal::Bad("credential missing".into()))?;
        let req: Request = serde_json::from_value(v.get("request").cloned().unwrap_or(Value::Null))
            .map_err(|e| Refusal::Bad(format!("request: {e}")))?;
        req.validate().map_err(|e| Refusal::Bad(e.to_string()))?;
        let now = SystemClock.now_ms();
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let st = &mut *st;
        if st.locked {
            let d = json!({"op": op.name(), "method": req.method, "path": req.path, "reason": "locked"});
            st.audit.log(Action::Denied, label, &d);
            return Err(Refusal::Locked);
        }
        let Some(entry) = st.entries.iter().find(|e| e.label == label) else {
            return Err(Refusal::Unknown(format!("no credential labelled {label:?}")));
        };
        let exchange = entry.exchange.clone();
        if let Op::Sign = op {
            // A signature handed out must bind the whole request, and the user
            // must have opted in for this credential; else the client uses `request`.
            let refused = match sealgate_exchanges::check_sign(&exchange) {
                Err(e) => Some(e.to_string()),
                Ok(()) if !entry.allow_sign => Some(format!(
                    "`sign` is off for credential {label:?}: it was not added with `--allow-sign`; use `request`, \
                     which signs and sends the request exactly as the policy judged it"
                )),
                Ok(()) => None,
            };
            if let Some(why) = refused {
                let d = json!({"op": op.name(), "exchange": exchange, "method": req.method, "path": req.path,
                    "reason": why});
                st.audit.log(Action::Denied, label, &d);
                return Err(Refusal::Denied(why));
            }
        }
        let class = sealgate_exchanges::classify(&exchange, &req.path).map_err(|e| Refusal::Sign(e.to_string()))?;
        // One request, one meaning: read as the exchange reads it (ambiguity refused and
        // audited); the canonical request is what is judged, signed and sent.
        let canon = match sealgate_exchanges::canonicalize(&exchange, &req) {
            Ok(c) => c,
            Err(e) => {
                let d = json!({"op": op.name(), "exchange": exchange, "method": req.method, "path": req.path,
                    "class": class.name(), "reason": e.to_string()});
                st.audit.log(Action::Denied, label, &d);
                return Err(Refusal::Denied(e.to_string()));
            }
        };
        let (req, order) = (canon.request, canon.order);
        let facts = RequestFacts::from_order(class, &order, reference);
        let detail = json!({"op": op.name(), "exchange": exchange, "method": req.method, "path": req.path,
            "class": class.name(), "symbol": facts.symbol});
        let decision = entry.policy(now).map_err(|e| Refusal::Denied(e.to_string())).and_then(|policy| {
            let ctx = Context { role: Role::Agent, kill_switch: false, now_ms: now };
            let rate = st.rates.entry(label.to_owned()).or_default();
            sealgate_policy::evaluate(&ctx, &policy, &facts, rate).map_err(|d| {
                Refusal::Denied(if entry.expired(now) {
                    "the credential's lifetime is over".into()
                } else {
                    d.to_string()
                })
            })
        });
        let confirm = entry.needs_confirm(class.name());
        if let Err(Refusal::Denied(why)) = &decision {
            let mut d = detail.clone();
            d["reason"] = json!(why);
            // Repeated denied withdraws (the Kronos pattern) freeze; the record says it counted,
            // so the baseline is learnt again from the chain at the next start.
            let counts = class == sealgate_exchanges::EndpointClass::Withdraw && !st.frozen.contains_key(label);
            if counts {
                d[LEARN_WITHDRAW_DENIED] = json!(now);
            }
            st.audit.log(Action::Denied, label, &d);
            if counts {
                let rules = sealgate_anomaly::Rules::default();
                let b = st.baselines.entry(label.to_owned()).or_default();
                b.record_withdraw_denied(now, &rules);
                if let Err(verdict) = sealgate_anomaly::check_withdraw_denied(&rules, b, now) {
                    freeze(st, label, &exchange, &detail, &verdict);
                }
            }
        }
        let _approved = decision?;
        // A credential an anomaly froze may only cancel, until the user unlocks again.
        if let Some(why) = st.frozen.get(label).filter(|_| !facts.cancels_only) {
            let why = format!("the credential is frozen ({why}); unlock the agent again to unfreeze it");
            let mut d = detail.clone();
            d["reason"] = json!(why);
            st.audit.log(Action::Denied, label, &d);
            return Err(Refusal::Denied(why));
        }
        // The anomaly detectors, after the policy (the same as the signer's, on this
        // agent's own history of the credential).
        let mut learnt = None;
        if class == sealgate_exchanges::EndpointClass::Trade && order.places_order {
            let leg = order.leg();
            let symbol = order.symbol.clone().unwrap_or_default();
            let o = sealgate_anomaly::Order {
                at_ms: now,
                symbol: &symbol,
                side: leg.and_then(|l| l.side).map(|s| match s {
                    sealgate_exchanges::Side::Buy => sealgate_anomaly::Side::Buy,
                    sealgate_exchanges::Side::Sell => sealgate_anomaly::Side::Sell,
                }),
                notional: RequestFacts::from_order(
                    class,
                    &order,
                    market.last_price.and_then(|p| sealgate_policy::Decimal::parse(&format!("{p:.12}"))),
                )
                .notional
                .and_then(|n| n.to_string().parse::<f64>().ok()),
                limit_price: leg.and_then(|l| match &l.price {
                    sealgate_exchanges::Price::Limit(p) => p.parse::<f64>().ok(),
                    sealgate_exchanges::Price::Market => None,
                }),
            };
            let rules = sealgate_anomaly::Rules::default();
            let b = st.baselines.entry(label.to_owned()).or_default();
            match sealgate_anomaly::check_order(&rules, b, &o, market) {
                Ok(()) => {
                    b.record_order(&o);
                    learnt = Some(learn_json(&o));
                }
                Err(verdict) => {
                    freeze(st, label, &exchange, &detail, &verdict);
                    return Err(Refusal::Denied(format!("{verdict}; the credential is frozen")));
                }
            }
        }
        // What the baseline learnt rides on the request's record (signed or forwarded).
        let mut detail = detail;
        if let Some(l) = learnt {
            detail[LEARN] = l;
        }
        // The order facts are kept only for the confirm program's description.
        let cancels_only = facts.cancels_only;
        let order = if confirm { Some(order) } else { None };
        Ok(Plan {
            op,
            label: label.to_owned(),
            exchange,
            class: class.name(),
            req,
            detail,
            confirm,
            order,
            cancels_only,
        })
    }

    /// Ask the user through the confirm program; a refusal is audited.
    /// The state lock is not held while waiting.
    async fn confirm(&self, plan: &Plan) -> Result<(), Refusal> {
        let answer = match &self.cfg.confirm_program {
            Some(prog) => {
                let order = plan.order.clone().unwrap_or_default();
                let description = confirm::describe(&plan.exchange, &plan.label, plan.class, &plan.req, &order);
                confirm::ask(prog, &description, self.cfg.confirm_timeout).await.map_err(|e| e.to_string())
            }
            None => Err("this credential needs a confirmation for this class, and no confirm program is \
                 configured (agent start --confirm-program PATH, or SEALGATE_ASKPASS)"
                .to_owned()),
        };
        if let Err(why) = answer {
            let mut d = plan.detail.clone();
            d["reason"] = json!(why);
            d["confirm"] = json!("denied");
            self.state.lock().unwrap_or_else(PoisonError::into_inner).audit.log(Action::Denied, &plan.label, &d);
            return Err(Refusal::Denied(why));
        }
        Ok(())
    }

    /// Sign a decided request; audited. The credential is looked up again:
    /// the agent may have been locked, or the lifetime may have ended,
    /// while the user was asked.
    fn sign(&self, plan: &Plan) -> Result<SignedRequest, Refusal> {
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let st = &mut *st;
        if st.locked {
            let mut d = plan.detail.clone();
            d["reason"] = json!("locked");
            st.audit.log(Action::Denied, &plan.label, &d);
            return Err(Refusal::Locked);
        }
        let Some(entry) = st.entries.iter().find(|e| e.label == plan.label) else {
            return Err(Refusal::Unknown(format!("no credential labelled {:?}", plan.label)));
        };
        // An expired credential is frozen: as in the policy, it may still cancel.
        if entry.expired(SystemClock.now_ms()) && !plan.cancels_only {
            let why = "the credential's lifetime is over";
            let mut d = plan.detail.clone();
            d["reason"] = json!(why);
            st.audit.log(Action::Denied, &plan.label, &d);
            return Err(Refusal::Denied(why.into()));
        }
        let nonce = st.nonces.entry(plan.label.clone()).or_default().clone();
        let cred = entry.secrets.credential();
        let ctx = sealgate_exchanges::Context { clock: &SystemClock, nonce: &*nonce };
        let signed = sealgate_exchanges::sign(&plan.exchange, &cred, &plan.req, &ctx)
            .map_err(|e| Refusal::Sign(e.to_string()))?;
        drop(cred);
        let action = match plan.op {
            Op::Request => Action::Forwarded,
            Op::Sign => Action::Signed,
        };
        let mut d = plan.detail.clone();
        if plan.confirm {
            d["confirm"] = json!("allowed");
        }
        st.audit.log(action, &plan.label, &d);
        Ok(signed)
    }

    /// Send once through the one send path (`sealgate-send`: no redirects, a bounded
    /// answer, the Content-Type rule of `sealgate_exchanges::content_type`).
    async fn forward(&self, exchange: &str, s: &SignedRequest) -> Result<Value, Refusal> {
        let base = self.cfg.exchange_urls.get(exchange).ok_or_else(|| {
            Refusal::Bad(format!("no base URL for {exchange} (agent start --exchange-url {exchange}=URL)"))
        })?;
        let reply = self.sender.send(exchange, base, s).await.map_err(|e| match e {
            sealgate_send::SendError::Method(_) => Refusal::Bad(e.to_string()),
            _ => Refusal::Upstream(e.to_string()),
        })?;
        let body = String::from_utf8_lossy(&reply.body);
        Ok(json!({"v":1,"ok":true,"status":reply.status,"headers":reply.headers,"body":body}))
    }
}

/// The delay after `failures` consecutive wrong passphrases: 1 s, 2 s, 4 s, …, at most 5 min.
fn unlock_delay(failures: u32) -> Duration {
    let shift = failures.saturating_sub(1).min(16);
    UNLOCK_DELAY_FIRST.saturating_mul(1 << shift).min(UNLOCK_DELAY_MAX)
}

#[derive(Clone, Copy)]
enum Op {
    Sign,
    Request,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Self::Sign => "sign",
            Self::Request => "request",
        }
    }
}

/// A request the policy allowed, on its way to being signed.
struct Plan {
    op: Op,
    label: String,
    exchange: String,
    class: &'static str,
    req: Request,
    detail: Value,
    confirm: bool,
    /// Set when `confirm`: for the description.
    order: Option<sealgate_exchanges::OrderFacts>,
    /// The request only cancels orders (the policy lets a frozen, i.e. expired,
    /// credential do that).
    cancels_only: bool,
}

/// The detail member of a signed or forwarded record holding the order the detectors
/// learnt (`at_ms`, `symbol`, `side`, `notional`, `limit_price`).
const LEARN: &str = "learn";
/// The detail member of a denied withdraw that counted toward the Kronos rule (its time).
const LEARN_WITHDRAW_DENIED: &str = "learn_withdraw_denied";

fn learn_json(o: &sealgate_anomaly::Order<'_>) -> Value {
    let side = o.side.map(|s| match s {
        sealgate_anomaly::Side::Buy => "buy",
        sealgate_anomaly::Side::Sell => "sell",
    });
    // Numbers as decimal text: a record's detail holds integers only (its canonical form).
    let num = |v: Option<f64>| v.map(sealgate_anomaly::format_number);
    json!({"at_ms": o.at_ms, "symbol": o.symbol, "side": side, "notional": num(o.notional),
           "limit_price": num(o.limit_price)})
}

/// The baselines learnt again from a verified chain's records up to seq `covered` (those a
/// checkpoint signed before this start covers: a tail appended to the file by someone else
/// since is never learnt from, though it is signed at start as the agent's own crash tail).
fn replay_baselines(text: &[u8], covered: u64) -> HashMap<String, sealgate_anomaly::Baseline> {
    use sealgate_audit::jsonl::{self, Line};
    let rules = sealgate_anomaly::Rules::default();
    let mut out: HashMap<String, sealgate_anomaly::Baseline> = HashMap::new();
    for line in text.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let Ok(Line::Record(r)) = jsonl::parse_line(line) else { continue };
        if r.seq > covered {
            break;
        }
        let d = r.detail.to_value();
        match r.action {
            Action::Signed | Action::Forwarded => {
                let Some(l) = d.get(LEARN) else { continue };
                let side = match l.get("side").and_then(Value::as_str) {
                    Some("buy") => Some(sealgate_anomaly::Side::Buy),
                    Some("sell") => Some(sealgate_anomaly::Side::Sell),
                    _ => None,
                };
                let (Some(at_ms), Some(symbol)) =
                    (l.get("at_ms").and_then(Value::as_u64), l.get("symbol").and_then(Value::as_str))
                else {
                    continue;
                };
                let o = sealgate_anomaly::Order {
                    at_ms,
                    symbol,
                    side,
                    notional: l.get("notional").and_then(Value::as_str).and_then(|n| n.parse().ok()),
                    limit_price: l.get("limit_price").and_then(Value::as_str).and_then(|n| n.parse().ok()),
                };
                out.entry(r.subject.clone()).or_default().record_order(&o);
            }
            Action::Denied => {
                if let Some(at) = d.get(LEARN_WITHDRAW_DENIED).and_then(Value::as_u64) {
                    out.entry(r.subject.clone()).or_default().record_withdraw_denied(at, &rules);
                }
            }
            _ => {}
        }
    }
    out
}

/// An anomaly detector fired: the credential is frozen (until the user unlocks the agent
/// again), the evidence audited (`anomaly_frozen`), and the user told through the confirm
/// program.
fn freeze(st: &mut State, label: &str, exchange: &str, detail: &Value, verdict: &sealgate_anomaly::Verdict) {
    let text = verdict.to_string();
    st.frozen.insert(label.to_owned(), text.clone());
    let mut d = detail.clone();
    d["rule"] = json!(verdict.rule.name());
    d["anomaly_symbol"] = json!(verdict.symbol);
    d["evidence"] = json!(
        verdict
            .evidence
            .iter()
            .map(|e| json!({"measure": e.measure, "value": sealgate_anomaly::format_number(e.value),
                "threshold": sealgate_anomaly::format_number(e.threshold)}))
            .collect::<Vec<_>>()
    );
    st.audit.log(other("anomaly_frozen"), label, &d);
    st.notices.push(confirm::describe_freeze(exchange, label, &text));
}

/// An audit action outside the known set (`[a-z][a-z0-9_]*`).
fn other(name: &'static str) -> Action {
    name.parse().unwrap_or(Action::Denied)
}

/// Close a refused client's connection so that it reads the refusal:
/// closing a Unix socket with unread data resets it, and the client would
/// get ECONNRESET instead. So: end our side, then read and discard what it
/// sent (at most one frame, for at most 1 s).
async fn drain_and_close(mut stream: UnixStream) {
    let _ = stream.shutdown().await;
    let mut sink = [0u8; 4096];
    let mut left = MAX_FRAME + 4;
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        while left > 0 {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    })
    .await;
}

/// Read one frame; `None` at a clean end of stream.
pub async fn read_frame(s: &mut UnixStream) -> std::io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    match s.read_exact(&mut len).await {
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        r => r?,
    };
    let n = u32::from_be_bytes(len) as usize;
    if n > MAX_FRAME {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "frame larger than 1 MiB"));
    }
    let mut buf = vec![0u8; n];
    s.read_exact(&mut buf).await?;
    Ok(Some(buf))
}

/// Write one frame.
pub async fn write_frame(s: &mut UnixStream, v: &Value) -> std::io::Result<()> {
    let body = serde_json::to_vec(v).map_err(std::io::Error::other)?;
    let n = u32::try_from(body.len()).map_err(std::io::Error::other)?;
    let mut out = Vec::with_capacity(body.len() + 4);
    out.extend_from_slice(&n.to_be_bytes());
    out.extend_from_slice(&body);
    s.write_all(&out).await
}

/// Read a line from the controlling terminal without echo.
pub fn prompt_no_echo(prompt: &str) -> std::io::Result<secrecy::SecretString> {
    use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
    use std::io::{BufRead as _, Write as _};
    let tty = OpenOptions::new().read(true).write(true).open("/dev/tty")?;
    let old = tcgetattr(&tty)?;
    let mut quiet = old.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    quiet.local_modes.insert(LocalModes::ECHONL);
    (&tty).write_all(prompt.as_bytes())?;
    tcsetattr(&tty, OptionalActions::Flush, &quiet)?;
    let mut line = zeroize::Zeroizing::new(String::new());
    let r = std::io::BufReader::new(&tty).read_line(&mut line);
    tcsetattr(&tty, OptionalActions::Flush, &old)?;
    r?;
    Ok(secrecy::SecretString::from(line.trim_end_matches(['\r', '\n']).to_owned()))
}

/// The keystore passphrase: from `SEALGATE_AGENT_PASSPHRASE_FILE` (a file
/// readable by its owner only; the non-interactive path), else a no-echo
/// prompt on the terminal.
pub fn passphrase() -> Result<secrecy::SecretString, String> {
    if let Some(p) = std::env::var_os("SEALGATE_AGENT_PASSPHRASE_FILE") {
        let p = PathBuf::from(p);
        let meta = fs::metadata(&p).map_err(|e| format!("passphrase file {}: {e}", p.display()))?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(format!("passphrase file {} is readable by group or others; chmod 600 it", p.display()));
        }
        let text = zeroize::Zeroizing::new(
            fs::read_to_string(&p).map_err(|e| format!("passphrase file {}: {e}", p.display()))?,
        );
        return Ok(secrecy::SecretString::from(text.trim_end_matches(['\r', '\n']).to_owned()));
    }
    prompt_no_echo("keystore passphrase: ").map_err(|e| {
        format!("no terminal for the passphrase prompt ({e}); set SEALGATE_AGENT_PASSPHRASE_FILE to a 0600 file")
    })
}

/// The default keystore: `$XDG_CONFIG_HOME/sealgate/agent.keystore`
/// (or `~/.config/…`).
pub fn default_keystore() -> PathBuf {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| ".".into())).join(".config"));
    base.join("sealgate").join("agent.keystore")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlock_delay_doubles_up_to_five_minutes() {
        let secs: Vec<u64> = [1, 2, 3, 4, 9, 10, 40, u32::MAX].iter().map(|n| unlock_delay(*n).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 256, 300, 300, 300]);
    }
}
