//! The signer: the only component that opens an envelope.
//!
//! For each request, in this order, and before any private-key work:
//! 1. the caller's role is proved (a service token, or in-process), and the
//!    request is checked (`Request::validate`: the one path rule of
//!    `sealgate-exchanges`, so the path classified is the path signed and sent);
//! 2. the credential row keyed (owner, id) — a call names both, an id is
//!    unique per owner only — and the envelope sealed to that role are
//!    loaded; an envelope the owner revoked, replaced or deleted — its content
//!    digest is in the revoked set learnt from the verified audit chain
//!    ([`crate::revocation`]) — is refused even though its row is back; the
//!    envelope's protected header must bind the row's owner, id and exchange
//!    and the caller's role (checked without opening); each such refusal (and
//!    an unreadable or non-opening envelope) is an audited denial, bounded and
//!    rate-limited per caller like a policy denial;
//!    For `sign`, the exchange's signature must bind the whole request
//!    (method, path, query, body) and carry no credential in clear
//!    (`sealgate_exchanges::check_sign`: Gate, Bitstamp and Deribit today);
//!    otherwise `sign` is refused (audited) and the caller uses `forward`;
//! 3. the request is read as the exchange reads it
//!    (`sealgate_exchanges::canonicalize`: anything ambiguous is refused and
//!    audited), and `sealgate-policy` decides on that reading: kill switch,
//!    credential status, the endpoint's class (by path) against the role and
//!    the sealed `scope`, symbol and notional limits, rate; what is signed and
//!    sent is the canonical request, produced from what was judged; then
//!    the anomaly detectors ([`crate::anomaly`]) judge an order placement
//!    against the credential's baseline and the market, and count a denied
//!    withdraw: a verdict refuses, freezes the credential, records the
//!    evidence (`anomaly_frozen`) and queues the owner's and the operators'
//!    notification;
//! 4. only then is the envelope opened (through the custody) — once: the
//!    opened credential is cached for a short TTL in a bounded cache (the
//!    process's memory is locked and non-dumpable, see [`crate::hardening`]);
//! 5. nonces come from the store (strictly increasing per (owner, credential)
//!    across every signer instance) and timestamps from the exchange's clock
//!    (the measured offset);
//! 6. the request is signed, and forwarded when asked, through the one send
//!    path of the signer and the agent (`sealgate-send`: no redirects, a
//!    bounded answer, the exchange's Content-Type rule); the answer is parsed,
//!    never searched (`sealgate_exchanges::answer`), and only a documented
//!    clock or nonce rejection — proof that nothing was executed — is
//!    re-signed and sent again, once; every unseal, signature, forward and
//!    denial is in the audit chain before the caller gets an answer.
//!
//! Cached entries are re-checked against the store every `revalidate`
//! interval (default 500 ms): a revocation, re-wrap, freeze, a disabled key version or the kill
//! switch reaches every signer instance within it, and this instance at once
//! through [`Signer::invalidate`]. The cache, the rate limits and the nonce
//! locks are keyed by (owner, credential): two users' credentials that share
//! an id share nothing. The audit chain is followed on the same clock (a
//! request finding it older reads what was appended; others do not wait for
//! that read unless it is twice as old): a revocation recorded anywhere drops
//! the cached credential it names, even if its row was put back. A chain that
//! does not verify stops every open (503) until an operator has looked and
//! restarted the signer.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use sealgate_audit::{Action, Hash};
use sealgate_custody::Custody;
use sealgate_envelope::secrecy::{ExposeSecret as _, SecretString};
use sealgate_envelope::{AlgPolicy, Binding, Jwe, Scope, check_binding, open_credential};
use sealgate_exchanges::{Answer, EndpointClass, FixedClock, FixedNonce, NonceSource, Request, SignedRequest};
use sealgate_policy::{Context, CredentialPolicy, RateState, RequestFacts, Role};
use sealgate_store::Store;
use sealgate_vocab::{CredentialId, OwnerId};
use serde_json::{Value, json};

use crate::audit::{AuditEvent, AuditLog};
use crate::client::{CallFuture, ExchangeResponse, ForwardCall, SignerCallError, SignerClient};
use crate::metrics::{Metrics, inc};
use crate::revocation::{Followed, RESTORED_REASON, RevocationError, Revocations};
use crate::service_auth::{ServiceKey, ServiceVerifier};

mod held;
pub use held::{
    ActiveGrants, BornKey, EXCHANGE_KEY_CREATED, EXCHANGE_KEY_DESTROYED, NewHeldKey, PENDING_LIFE_SECS,
    SWEEP_GRACE_SECS, Swept, alg_of, key_types_for, needs_passphrase,
};

/// Largest request body the signer accepts.
const MAX_CALL: usize = 256 * 1024;

/// How a signer behaves.
#[derive(Debug, Clone)]
pub struct SignerConfig {
    /// Roles whose envelopes this signer opens.
    pub roles: Vec<Role>,
    /// Roles that may have a signature returned (`/v1/sign`). By default none:
    /// importer and trader get `forward` only, so no signature leaves the signer.
    /// Even for these roles, `sign` is refused for an exchange whose signature
    /// does not bind the whole request ([`sealgate_exchanges::check_sign`]).
    pub sign_allowed: Vec<Role>,
    /// Base URL of each exchange (`https://api.binance.com`, or the sandbox).
    pub exchanges: HashMap<String, String>,
    /// How long an opened credential stays cached.
    pub cache_ttl: Duration,
    /// Most cached credentials.
    pub cache_max: usize,
    /// How often a cached entry, and the kill switch, are re-checked in the store.
    pub revalidate: Duration,
    /// Largest exchange response passed back.
    pub max_response: usize,
    /// Timeout of one exchange round trip.
    pub forward_timeout: Duration,
    /// Denial records per caller (service role): a token bucket of this many, refilled
    /// at [`Self::denial_audit_per_sec`]. Past it, a denial is still refused but not
    /// recorded (counted in `sealgate_audit_denials_dropped_total`): a caller cannot
    /// flood the audit chain with refusals.
    pub denial_audit_burst: u32,
    /// Refill of [`Self::denial_audit_burst`], records per second.
    pub denial_audit_per_sec: u32,
    /// Where the signer remembers the audit chain it verified and the envelopes revoked
    /// in it, so a restart resumes there and a database rolled back below it is refused
    /// ([`crate::revocation`]). `None`: memory only (each start verifies from seq 1).
    pub state_file: Option<std::path::PathBuf>,
    /// The anomaly detectors ([`crate::anomaly`]): on by default.
    pub anomaly: crate::anomaly::AnomalyConfig,
    /// How long a withdrawal waits for its owner's approval, and an approval for its
    /// withdrawal (default 5 minutes).
    pub withdrawal_ttl: Duration,
    /// How long after its first approval a new destination may receive a withdrawal
    /// (default 24 h; zero: no wait).
    pub new_destination_wait: Duration,
}

impl Default for SignerConfig {
    fn default() -> Self {
        Self {
            roles: vec![Role::Importer, Role::Trader],
            sign_allowed: Vec::new(),
            exchanges: HashMap::new(),
            cache_ttl: Duration::from_secs(60),
            cache_max: 10_000,
            revalidate: Duration::from_millis(500),
            max_response: 4 * 1024 * 1024,
            forward_timeout: Duration::from_secs(15),
            denial_audit_burst: 60,
            denial_audit_per_sec: 5,
            state_file: None,
            anomaly: crate::anomaly::AnomalyConfig::default(),
            withdrawal_ttl: Duration::from_secs(300),
            new_destination_wait: Duration::from_secs(24 * 3600),
        }
    }
}

/// Most bytes of caller-chosen text (a path, a method, a reason that quotes the
/// request) an audit record's detail keeps.
pub const AUDIT_TEXT_MAX: usize = 256;

/// `text` cut to [`AUDIT_TEXT_MAX`] bytes at a character boundary, marked `…` when cut.
pub fn bounded(text: &str) -> String {
    if text.len() <= AUDIT_TEXT_MAX {
        return text.to_owned();
    }
    let mut end = AUDIT_TEXT_MAX - '…'.len_utf8();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// A token bucket: `tokens` left as of `at_ms`.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at_ms: u64,
}

/// An opened credential and what it was opened under.
struct Entry {
    credential: sealgate_exchanges::Credential,
    exchange: String,
    owner: String,
    /// The envelope's content digest (PROFILE.md D1): a re-wrap or re-seal replaces the
    /// entry, and a revocation naming it drops the entry.
    envelope_digest: Hash,
    /// The key version it was opened through: refused once an operator disables it.
    kid: String,
    opened: Instant,
    /// When the row was last confirmed in the store (Unix ms).
    checked_ms: AtomicU64,
    /// Sealed scope, status and the owner's limits, as last read from the store.
    policy: Mutex<CredentialPolicy>,
    /// The owner's authority keys the envelope names (its `own`), if any.
    own: Option<Vec<String>>,
    /// The custody key id, for a credential whose key was born in the custody
    /// ([`held`]): `credential` then holds no secret, and the custody signs.
    held: Option<String>,
}

/// Whose credential a request uses: its exchange, its owner and the authority its envelope
/// names.
#[derive(Clone, Copy)]
struct Whose<'a> {
    exchange: &'a str,
    owner: &'a str,
    own: Option<&'a [String]>,
}

/// A cache slot: one (owner's) credential opened for one role.
type CacheKey = (OwnerId, CredentialId, Role);

/// One credential: ids are unique per owner only.
type CredentialKey = (OwnerId, CredentialId);

/// What [`Signer::prepare`] hands to signing.
struct Ready {
    entry: Arc<Entry>,
    class: EndpointClass,
    /// The request as the policy judged it (`sealgate_exchanges::canonicalize`):
    /// what is signed and sent, never the caller's bytes.
    request: Request,
}

/// The signer.
pub struct Signer {
    store: Store,
    custody: Arc<dyn Custody>,
    audit: AuditLog,
    metrics: Arc<Metrics>,
    cfg: SignerConfig,
    sender: sealgate_send::Sender,
    cache: Mutex<HashMap<CacheKey, Arc<Entry>>>,
    opening: Mutex<HashMap<CacheKey, Arc<tokio::sync::Mutex<()>>>>,
    rates: Mutex<HashMap<CredentialKey, RateState>>,
    kill: AtomicBool,
    kill_checked_ms: AtomicU64,
    /// Key versions disabled in the store (`keys set-status … disabled`), read on the
    /// revalidation clock: a local keyring's status is per process, the store's is shared.
    disabled: Mutex<std::collections::HashSet<String>>,
    disabled_checked_ms: AtomicU64,
    offsets: Mutex<HashMap<String, i64>>,
    touched: Mutex<HashMap<CredentialKey, u64>>,
    /// Denial-record buckets by caller (`role:importer`, `role:trader`).
    denial_buckets: Mutex<HashMap<String, Bucket>>,
    /// Envelopes revoked in the verified audit chain ([`crate::revocation`]).
    revocations: Revocations,
    /// Reference prices by (exchange, symbol), each with when it was read.
    prices: Mutex<HashMap<(String, String), (Instant, sealgate_policy::Decimal)>>,
    /// The anomaly detectors' baselines, rules and market facts ([`crate::anomaly`]).
    anomaly: crate::anomaly::Detectors,
    /// The custody root key's thumbprint, which signs every grant ([`held`]).
    root_pin: tokio::sync::OnceCell<String>,
}

/// How long a reference price read from an exchange's public ticker is used
/// before it is read again: short against the policy's 5 % margin.
const PRICE_TTL: Duration = Duration::from_secs(2);

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").field("roles", &self.cfg.roles).finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn store_err(e: sealgate_store::StoreError) -> SignerCallError {
    tracing::error!(error = %e, "signer store error");
    SignerCallError::Unavailable("store unavailable".into())
}

impl Signer {
    /// A signer over `store` and `custody`, auditing to `audit`.
    pub fn new(
        store: Store,
        custody: Arc<dyn Custody>,
        audit: AuditLog,
        metrics: Arc<Metrics>,
        cfg: SignerConfig,
    ) -> Result<Self, String> {
        let sender = sealgate_send::Sender::new(sealgate_send::SendConfig {
            timeout: cfg.forward_timeout,
            max_response: cfg.max_response,
        })?;
        let own = audit.own_appends();
        Ok(Self {
            store,
            custody,
            audit,
            metrics,
            sender,
            cache: Mutex::new(HashMap::new()),
            opening: Mutex::new(HashMap::new()),
            rates: Mutex::new(HashMap::new()),
            kill: AtomicBool::new(false),
            kill_checked_ms: AtomicU64::new(0),
            disabled: Mutex::new(std::collections::HashSet::new()),
            disabled_checked_ms: AtomicU64::new(0),
            offsets: Mutex::new(HashMap::new()),
            touched: Mutex::new(HashMap::new()),
            denial_buckets: Mutex::new(HashMap::new()),
            prices: Mutex::new(HashMap::new()),
            revocations: Revocations::new(cfg.state_file.clone(), own),
            anomaly: crate::anomaly::Detectors::new(cfg.anomaly.clone(), cfg.revalidate),
            root_pin: tokio::sync::OnceCell::new(),
            cfg,
        })
    }

    /// Whether `actor` may have one more denial recorded now (its token bucket).
    fn admit_denial(&self, actor: &str) -> bool {
        let now = crate::now_ms();
        let burst = f64::from(self.cfg.denial_audit_burst);
        let mut buckets = lock(&self.denial_buckets);
        let b = buckets.entry(actor.to_owned()).or_insert(Bucket { tokens: burst, at_ms: now });
        let refill = now.saturating_sub(b.at_ms) as f64 / 1000.0 * f64::from(self.cfg.denial_audit_per_sec);
        b.tokens = (b.tokens + refill).min(burst);
        b.at_ms = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Records a denial, unless its caller's bucket is empty (then counts it as dropped).
    /// Caller-chosen text in `detail` is bounded ([`bounded`]).
    async fn record_denial(
        &self,
        role: Role,
        credential_id: &CredentialId,
        owner: &str,
        mut detail: serde_json::Value,
    ) -> Result<(), SignerCallError> {
        if let Some(map) = detail.as_object_mut() {
            for v in map.values_mut() {
                if let Some(text) = v.as_str()
                    && text.len() > AUDIT_TEXT_MAX
                {
                    *v = json!(bounded(text));
                }
            }
        }
        let actor = format!("role:{}", role.name());
        if !self.admit_denial(&actor) {
            inc(&self.metrics.audit_denials_dropped_total);
            tracing::debug!(actor = %actor, "denial record dropped (rate limit)");
            return Ok(());
        }
        let refused = refusal_event(owner, credential_id.as_str(), &detail);
        self.record_use(AuditEvent::new(actor, Action::Denied, credential_id.as_str(), detail).owner(owner)).await?;
        // A refused withdraw or trade is told to users who asked (under the same rate limit
        // as its record, so a flood of refusals is not a flood of messages).
        if let Some(event) = refused
            && let Err(e) = crate::notifier::enqueue(&self.store, &event).await
        {
            tracing::warn!(error = %e, "refusal notification not queued");
        }
        Ok(())
    }

    /// Drops every cached entry of `owner`'s credential `credential_id` (after a
    /// revoke, delete or freeze made by this process), so the next request re-reads
    /// the store. Another owner's credential with the same id stays cached.
    pub fn invalidate(&self, owner: &str, credential_id: &str) {
        lock(&self.cache).retain(|(o, cid, _), _| !(o == owner && cid == credential_id));
        // A revocation is on the audit record before its row goes: read it before the next use.
        self.revocations.kick();
    }

    /// Drops every cached entry and re-reads the kill switch on the next request.
    pub fn invalidate_all(&self) {
        lock(&self.cache).clear();
        self.kill_checked_ms.store(0, Ordering::Relaxed);
        self.revocations.kick();
    }

    /// Reads and verifies the audit chain up to its end now (from the state file's record,
    /// or from seq 1), learning every revoked envelope. `sealgate serve` calls it before it
    /// serves: a chain that does not verify, or a database rolled back below what the state
    /// file remembers, stops the start with the reason ([`crate::revocation`]).
    pub async fn follow_audit(&self) -> Result<Followed, RevocationError> {
        let (learnt, followed) = self.revocations.ensure(&self.store, self.custody.as_ref(), 0).await?;
        self.forget(&learnt);
        Ok(followed)
    }

    /// Follows the audit chain every half `revalidate` in the background, so that a request
    /// rarely finds the last read too old and does the reading itself: where other signers
    /// append to the same chain (the scaled deployment) a follow reads all they wrote since,
    /// and inside a request that was its latency. The request path still refuses to use a
    /// key on a read older than `revalidate` (it follows itself then), so this changes when
    /// the chain is read, not what a request may rely on. Stops with `shutdown`.
    pub async fn run_audit_follow(self: Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let every = self.cfg.revalidate / 2;
        let max_age = every.as_millis() as u64;
        loop {
            match self.revocations.ensure(&self.store, self.custody.as_ref(), max_age).await {
                Ok((learnt, _)) => self.forget(&learnt),
                // The request path reports it (and refuses) on its next use.
                Err(e) => tracing::debug!(error = %e, "background audit follow"),
            }
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                r = shutdown.changed() => if r.is_err() || *shutdown.borrow() { break },
            }
        }
    }

    /// Follows the audit chain when the last read is older than `revalidate` (or a revoke in
    /// this process asked for it), and drops the cached credentials of what it learnt.
    async fn follow_revocations(&self) -> Result<(), SignerCallError> {
        let max_age = self.cfg.revalidate.as_millis() as u64;
        match self.revocations.ensure(&self.store, self.custody.as_ref(), max_age).await {
            Ok((learnt, _)) => {
                self.forget(&learnt);
                Ok(())
            }
            Err(RevocationError::Broken(_)) => Err(SignerCallError::Unavailable(
                "the audit chain does not verify; nothing is opened until an operator restarts the signer (see its log)"
                    .into(),
            )),
            Err(e) => {
                tracing::warn!(error = %e, "revocations not read");
                Err(SignerCallError::Unavailable("audit chain unavailable".into()))
            }
        }
    }

    /// `policy` (from the database) narrowed to the owner's ledger entry; the refusal's
    /// reason when the ledger forbids the credential. An entry not yet known is looked for
    /// once more after reading the chain again (the record that made it may be newer than
    /// the last read).
    async fn owner_policy(
        &self,
        policy: CredentialPolicy,
        owner: &str,
        cid: &str,
        own: &[String],
    ) -> Result<CredentialPolicy, String> {
        let db = owner_state_of(&policy);
        let mut r = self.revocations.owner_state(owner, cid, &db, own);
        if r == Err(sealgate_authority::LedgerRefusal::Unknown) {
            self.revocations.kick();
            if let Err(e) = self.follow_revocations().await {
                return Err(e.to_string());
            }
            r = self.revocations.owner_state(owner, cid, &db, own);
        }
        match r {
            Ok(state) => Ok(with_owner_state(policy, &state)),
            Err(e) => {
                tracing::warn!(owner, credential = cid, error = %e, "the owner's ledger refuses the credential");
                Err(format!("owner authority: {e}"))
            }
        }
    }

    /// Drops at once every cached credential opened from one of `digests`.
    fn forget(&self, digests: &[Hash]) {
        if !digests.is_empty() {
            let gone: std::collections::HashSet<&Hash> = digests.iter().collect();
            lock(&self.cache).retain(|_, e| !gone.contains(&e.envelope_digest));
        }
    }

    /// Refuses the stored envelope for `reason`, on the record like a policy denial
    /// (bounded, rate-limited per caller): a row swapped, restored or corrupted by whoever
    /// writes to the database is evidence.
    async fn refuse_envelope(
        &self,
        role: Role,
        call: &ForwardCall,
        row: &sealgate_store::Credential,
        reason: &str,
        digest: Option<&Hash>,
        err: SignerCallError,
    ) -> SignerCallError {
        inc(&self.metrics.signer_denied_total);
        inc(&self.metrics.signer_envelopes_refused_total);
        let mut detail = json!({"exchange": row.exchange, "role": role.name(), "op": "open", "reason": reason});
        if let Some(d) = digest {
            detail["envelope"] = json!(d.to_string());
        }
        match self.record_denial(role, &call.credential_id, &row.owner, detail).await {
            Ok(()) => err,
            Err(audit) => audit,
        }
    }

    /// Number of cached opened credentials.
    pub fn cached(&self) -> usize {
        lock(&self.cache).len()
    }

    /// The exchange's clock now, as measured (ours plus its offset): what a signature is made at.
    fn exchange_clock(&self, exchange: &str) -> FixedClock {
        FixedClock(crate::now_ms().saturating_add_signed(self.clock_offset_ms(exchange)))
    }

    /// The measured clock offset of `exchange` (exchange − us, ms).
    pub fn clock_offset_ms(&self, exchange: &str) -> i64 {
        lock(&self.offsets).get(exchange).copied().unwrap_or(0)
    }

    /// Signs `call.request` for `role` and returns it (only for roles in `sign_allowed`).
    pub async fn sign(&self, role: Role, call: &ForwardCall) -> Result<SignedRequest, SignerCallError> {
        inc(&self.metrics.signer_requests_total);
        if !self.cfg.sign_allowed.contains(&role) {
            return Err(SignerCallError::Unauthorized(format!(
                "role {} may not have signatures returned; use forward",
                role.name()
            )));
        }
        let ready = self.prepare(role, call, Op::Sign).await?;
        let signed = self.sign_ready(&ready, &call.credential_id, &ready.request).await?;
        self.audit_use(role, call, &ready, Action::Signed, None).await?;
        inc(&self.metrics.signer_signed_total);
        Ok(signed)
    }

    /// Signs `call.request` for `role`, sends it to the exchange, and returns the answer.
    pub async fn forward(&self, role: Role, call: &ForwardCall) -> Result<ExchangeResponse, SignerCallError> {
        inc(&self.metrics.signer_requests_total);
        let ready = self.prepare(role, call, Op::Forward).await?;
        let exchange = ready.entry.exchange.clone();
        // A nonce exchange refuses a nonce lower than one it has seen: reserve and send under
        // the credential's lock (in this process, and across processes through the store).
        // One signature: where the scheme predicts a nonce it is reserved under the lock
        // first; else the first signature is the one sent, unless the scheme drew a nonce
        // after all (then it is signed again, under the lock, with a reserved one).
        let guard = || self.store.nonce_guard(call.owner.as_str(), call.credential_id.as_str());
        let cid = &call.credential_id;
        let (_guard, mut signed) = if self.takes_nonce(&ready, &ready.request) {
            let g = guard().await.map_err(store_err)?;
            (Some(g), self.sign_reserved(&ready, cid, &ready.request).await?)
        } else {
            match self.sign_first(&ready, &ready.request).await? {
                (signed, None) => (None, signed),
                (_, Some(floor)) => {
                    let g = guard().await.map_err(store_err)?;
                    (Some(g), self.sign_nonce(&ready, cid, &ready.request, floor).await?)
                }
            }
        };
        // Each signed request is on the record before it leaves: a signer that dies after
        // sending cannot leave a use of the key unaudited.
        self.audit_use(role, call, &ready, Action::Forwarded, None).await?;
        let mut resp = self.send(&exchange, &signed).await?;
        // The answer is parsed, never searched (`sealgate_exchanges::answer`): only a documented
        // clock or nonce rejection, which proves nothing was executed, earns one re-signed copy
        // (with the exchange's clock measured again, and a new nonce). Never a second one.
        let resend = match sealgate_exchanges::answer(&exchange, resp.status, resp.body.as_bytes()) {
            Ok(Answer::ClockRejected) => self.sync_clock(&exchange).await.is_ok(),
            Ok(Answer::NonceRejected) => true,
            Ok(Answer::Other) | Err(_) => false,
        };
        if resend {
            signed = self.sign_ready(&ready, &call.credential_id, &ready.request).await?;
            self.audit_use(role, call, &ready, Action::Forwarded, None).await?;
            resp = self.send(&exchange, &signed).await?;
        }
        drop(signed);
        tracing::debug!(credential = %call.credential_id, status = resp.status, "forwarded");
        inc(&self.metrics.signer_forwarded_total);
        Ok(resp)
    }

    async fn audit_use(
        &self,
        role: Role,
        call: &ForwardCall,
        ready: &Ready,
        action: Action,
        status: Option<u16>,
    ) -> Result<(), SignerCallError> {
        let mut detail = json!({
            "exchange": ready.entry.exchange, "role": role.name(), "class": ready.class.name(),
            "method": bounded(&call.request.method), "path": bounded(&call.request.path),
        });
        if let Some(s) = status {
            detail["status"] = json!(s);
        }
        self.record_use(
            AuditEvent::new(format!("role:{}", role.name()), action, call.credential_id.as_str(), detail)
                .owner(&ready.entry.owner),
        )
        .await?;
        self.touch(call);
        Ok(())
    }

    /// Records `event` in the store's chain.
    async fn record(&self, event: AuditEvent) -> Result<(), SignerCallError> {
        self.recorded(self.audit.record(event).await.map(|_| ()))
    }

    /// Records a use (signed, forwarded, denied): durable in the audit journal where the log
    /// has one, the store's chain a moment later ([`AuditLog::record_use`]).
    async fn record_use(&self, event: AuditEvent) -> Result<(), SignerCallError> {
        self.recorded(self.audit.record_use(event).await)
    }

    fn recorded(&self, r: Result<(), crate::audit::AuditWriteError>) -> Result<(), SignerCallError> {
        // No audit, no signature: an unrecorded use must not happen.
        r.map_err(|e| {
            tracing::error!(error = %e, "audit write failed; refusing");
            SignerCallError::Unavailable("audit unavailable".into())
        })?;
        inc(&self.metrics.audit_records_total);
        Ok(())
    }

    /// `sign` hands the signature out: only where it binds the whole request
    /// ([`sealgate_exchanges::check_sign`]), else the holder could send
    /// another request than the one judged. Refused before the policy and
    /// before any envelope is opened; the refusal is audited.
    async fn check_sign(
        &self,
        op: Op,
        role: Role,
        exchange: &str,
        owner: &str,
        call: &ForwardCall,
    ) -> Result<(), SignerCallError> {
        let Op::Sign = op else { return Ok(()) };
        let Err(e) = sealgate_exchanges::check_sign(exchange) else { return Ok(()) };
        inc(&self.metrics.signer_denied_total);
        self.record_denial(
            role,
            &call.credential_id,
            owner,
            json!({
                "exchange": exchange, "role": role.name(), "op": "sign",
                "method": call.request.method, "path": call.request.path, "reason": e.to_string(),
            }),
        )
        .await?;
        Err(SignerCallError::Denied(e.to_string()))
    }

    /// Steps 2-4: load, bind, decide, open (or hit the cache).
    async fn prepare(&self, role: Role, call: &ForwardCall, op: Op) -> Result<Ready, SignerCallError> {
        if !self.cfg.roles.contains(&role) {
            return Err(SignerCallError::Unauthorized(format!("this signer does not serve role {}", role.name())));
        }
        call.request.validate().map_err(|e| SignerCallError::BadRequest(e.to_string()))?;
        // The ids are the vocabulary's types: a call cannot carry one that breaks the rule.
        let (owner, cid) = (call.owner.as_str(), call.credential_id.as_str());
        let kill = self.kill_switch().await?;
        self.refresh_disabled().await?;
        self.follow_revocations().await?;
        let key = (call.owner.clone(), call.credential_id.clone(), role);
        let now = crate::now_ms();
        let cached = lock(&self.cache).get(&key).cloned();
        let fresh = cached.filter(|e| {
            e.opened.elapsed() < self.cfg.cache_ttl
                && now.saturating_sub(e.checked_ms.load(Ordering::Relaxed)) < self.cfg.revalidate.as_millis() as u64
        });
        if let Some(entry) = fresh
            && !self.revocations.is_revoked(&entry.envelope_digest)
            && !self.is_disabled(&entry.kid)
        {
            inc(&self.metrics.signer_cache_hits_total);
            self.check_sign(op, role, &entry.exchange, &entry.owner, call).await?;
            let policy = lock(&entry.policy).clone();
            let (class, request) = self
                .decide(
                    role,
                    kill,
                    &policy,
                    Whose { exchange: &entry.exchange, owner: &entry.owner, own: entry.own.as_deref() },
                    call,
                )
                .await?;
            return Ok(Ready { entry, class, request });
        }

        // Miss or stale: read the row and the envelope.
        let (row, env) =
            self.store.signer_envelope(owner, cid, role.name()).await.map_err(store_err)?.ok_or_else(|| {
                // Not `invalidate`: nothing was revoked here, the chain need not be read again.
                lock(&self.cache).retain(|(o, c, _), _| !(o == owner && c == cid));
                SignerCallError::NotFound
            })?;
        // A key born in the custody: a grant in place of the envelope.
        if sealgate_custody::grant::is_grant(&env.jwe) {
            return self.prepare_held(role, call, op, kill, row, env).await;
        }
        let jwe = match Jwe::parse(env.jwe.as_bytes(), &AlgPolicy::CREDENTIAL) {
            Ok(jwe) => jwe,
            Err(_) => {
                let e = SignerCallError::Unavailable("stored envelope is unreadable".into());
                return Err(self.refuse_envelope(role, call, &row, "stored envelope is unreadable", None, e).await);
            }
        };
        // The owner revoked or replaced this envelope: its row was put back by whoever writes
        // to the database (the signer's set comes from the verified audit chain).
        let digest = Hash(jwe.content_digest());
        if self.revocations.is_revoked(&digest) {
            lock(&self.cache).remove(&key);
            tracing::error!(owner, credential = cid, role = role.name(), envelope = %digest, "{RESTORED_REASON}: refused");
            let e = SignerCallError::Denied(format!("{RESTORED_REASON}: the owner revoked this envelope"));
            return Err(self.refuse_envelope(role, call, &row, RESTORED_REASON, Some(&digest), e).await);
        }
        let binding = Binding {
            sub: row.owner.clone(),
            cid: row.id.clone(),
            exch: row.exchange.clone(),
            aud: role.name().to_owned(),
            now: Some(now / 1000),
        };
        let header = match check_binding(&jwe, Some(&env.kid), &binding) {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(credential = cid, error = %e, "envelope binding mismatch");
                let reason = bounded(&format!("envelope binding: {e}"));
                let err = SignerCallError::Denied(reason.clone());
                return Err(self.refuse_envelope(role, call, &row, &reason, Some(&digest), err).await);
            }
        };
        // A disabled (leaked) version opens nothing, and what it opened is dropped.
        if self.is_disabled(&env.kid) {
            lock(&self.cache).remove(&key);
            tracing::warn!(credential = cid, kid = %env.kid, "the envelope's key version is disabled: refused");
            let reason = "the envelope's recipient key version is disabled";
            let err = SignerCallError::Denied(reason.into());
            return Err(self.refuse_envelope(role, call, &row, reason, Some(&digest), err).await);
        }
        self.check_sign(op, role, &row.exchange, &row.owner, call).await?;
        let limits = self.store.credential_limits(owner, cid).await.map_err(store_err)?;
        let mut policy = policy_of(header.scope.clone(), row.status, limits.as_ref())?;
        // The envelope names its owner's authority: what the database says is narrowed to what
        // the owner's verified history allows (AUTHORITY.md L5, L6).
        if let Some(own) = &header.own {
            policy = match self.owner_policy(policy.clone(), owner, cid, own.thumbprints()).await {
                Ok(p) => p,
                Err(reason) => {
                    lock(&self.cache).remove(&key);
                    let err = SignerCallError::Denied(reason.clone());
                    return Err(self.refuse_envelope(role, call, &row, &reason, Some(&digest), err).await);
                }
            };
        }
        // Policy before the secret: a denied request never opens anything.
        let own = header.own.as_ref().map(|o| o.thumbprints());
        let whose = Whose { exchange: &row.exchange, owner: &row.owner, own };
        let (class, request) = self.decide(role, kill, &policy, whose, call).await?;

        if let Some(entry) = self.reconfirm(&key, &digest, now, &policy) {
            return Ok(Ready { entry, class, request });
        }

        // One open per credential and role at a time.
        let gate = lock(&self.opening).entry(key.clone()).or_default().clone();
        let _g = gate.lock().await;
        if let Some(entry) = lock(&self.cache).get(&key).cloned()
            && entry.envelope_digest == digest
            && entry.opened.elapsed() < self.cfg.cache_ttl
        {
            return Ok(Ready { entry, class, request });
        }
        // The custody's and the backend's words stay in the log: a caller learns only
        // whether to retry (503) or not (403).
        let dk = match self.custody.decryption_key(&env.kid).await {
            Ok(dk) => dk,
            Err(e) => {
                tracing::warn!(credential = cid, kid = %env.kid, error = %e, "custody refused the key");
                if let sealgate_custody::CustodyError::Backend { .. } = e {
                    return Err(SignerCallError::Unavailable("the key custody is unavailable".into()));
                }
                let reason = "the envelope's recipient key is not usable";
                let err = SignerCallError::Denied(reason.into());
                return Err(self.refuse_envelope(role, call, &row, reason, Some(&digest), err).await);
            }
        };
        let opened = match open_credential(env.jwe.as_bytes(), dk.as_ref(), &binding).await {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(credential = cid, error = %e, "envelope did not open");
                let reason = "the envelope did not open";
                let err = SignerCallError::Denied(reason.into());
                return Err(self.refuse_envelope(role, call, &row, reason, Some(&digest), err).await);
            }
        };
        inc(&self.metrics.signer_unseals_total);
        let field = |n: &str| opened.credential.get(n).map(|s| SecretString::from(s.expose_secret().to_owned()));
        let credential = sealgate_exchanges::Credential {
            api_key: field("api_key"),
            api_secret: field("api_secret"),
            passphrase: field("passphrase"),
            private_key: field("private_key"),
            key_name: field("key_name"),
            held_key: None,
        };
        drop(opened);
        self.record(
            AuditEvent::new(
                format!("role:{}", role.name()),
                Action::Unsealed,
                cid,
                json!({"exchange": row.exchange, "role": role.name(), "kid": env.kid}),
            )
            .owner(&row.owner),
        )
        .await?;
        let entry = Arc::new(Entry {
            credential,
            exchange: row.exchange,
            owner: row.owner,
            envelope_digest: digest,
            kid: env.kid.clone(),
            opened: Instant::now(),
            checked_ms: AtomicU64::new(now),
            policy: Mutex::new(policy),
            own: header.own.as_ref().map(|o| o.thumbprints().to_vec()),
            held: None,
        });
        self.cache_insert(key.clone(), entry.clone());
        lock(&self.opening).remove(&key);
        Ok(Ready { entry, class, request })
    }

    /// The cached entry of `key` if it was opened from `digest` and has not expired: the
    /// row was re-confirmed (`policy`, read now), so the opened credential is kept.
    fn reconfirm(&self, key: &CacheKey, digest: &Hash, now: u64, policy: &CredentialPolicy) -> Option<Arc<Entry>> {
        let entry = lock(&self.cache).get(key).cloned()?;
        if entry.envelope_digest != *digest || entry.opened.elapsed() >= self.cfg.cache_ttl {
            return None;
        }
        entry.checked_ms.store(now, Ordering::Relaxed);
        *lock(&entry.policy) = policy.clone();
        inc(&self.metrics.signer_cache_hits_total);
        Some(entry)
    }

    /// Caches `entry` under `key`, evicting the expired, then the oldest, when full.
    fn cache_insert(&self, key: CacheKey, entry: Arc<Entry>) {
        let mut cache = lock(&self.cache);
        if cache.len() >= self.cfg.cache_max && !cache.contains_key(&key) {
            let ttl = self.cfg.cache_ttl;
            cache.retain(|_, e| e.opened.elapsed() < ttl);
            if cache.len() >= self.cfg.cache_max {
                // Still full: evict the oldest.
                if let Some(oldest) = cache.iter().min_by_key(|(_, e)| e.opened).map(|(k, _)| k.clone()) {
                    cache.remove(&oldest);
                }
            }
        }
        cache.insert(key, entry);
    }

    async fn decide(
        &self,
        role: Role,
        kill: bool,
        policy: &CredentialPolicy,
        whose: Whose<'_>,
        call: &ForwardCall,
    ) -> Result<(EndpointClass, Request), SignerCallError> {
        let Whose { exchange, owner, own } = whose;
        // One request, one meaning: read as the exchange reads it; what is judged is what is
        // sent. An ambiguous request is refused, and the refusal is evidence.
        let (class, canon) = sealgate_exchanges::classify_and_canonicalize(exchange, &call.request)
            .map_err(|e| SignerCallError::BadRequest(e.to_string()))?;
        let canon = match canon {
            Ok(c) => c,
            Err(e) => {
                inc(&self.metrics.signer_denied_total);
                self.record_denial(
                    role,
                    &call.credential_id,
                    owner,
                    json!({
                        "exchange": exchange, "role": role.name(), "class": class.name(),
                        "method": call.request.method, "path": call.request.path, "reason": e.to_string(),
                    }),
                )
                .await?;
                return Err(SignerCallError::Denied(e.to_string()));
            }
        };
        // A capped placement is valued at the exchange's own reference price (its public
        // ticker, read here), never at a price the caller wrote; without one, a leg no
        // limit price bounds has an unknown notional, which a cap refuses.
        let facts = if class == EndpointClass::Trade {
            let listed = |s: &Option<String>| match (&policy.symbols, s) {
                (None, _) => true,
                (Some(allowed), Some(s)) => allowed.contains(s),
                (Some(_), None) => false,
            };
            let reference = match policy.max_notional {
                Some(_) if canon.order.places_order && listed(&canon.order.symbol) => {
                    self.reference_price(exchange, &canon.order).await
                }
                _ => None,
            };
            RequestFacts::from_order(class, &canon.order, reference)
        } else {
            RequestFacts::of_class(class)
        };
        let ctx = Context { role, kill_switch: kill, now_ms: crate::now_ms() };
        let verdict = {
            let mut rates = lock(&self.rates);
            let rate = rates.entry((call.owner.clone(), call.credential_id.clone())).or_default();
            sealgate_policy::evaluate(&ctx, policy, &facts, rate).map(|_| ())
        };
        if let Err(denial) = verdict {
            inc(&self.metrics.signer_denied_total);
            tracing::info!(credential = %call.credential_id, role = role.name(), class = class.name(), reason = %bounded(&denial.to_string()), "denied");
            self.record_denial(
                role,
                &call.credential_id,
                owner,
                json!({
                    "exchange": exchange, "role": role.name(), "class": class.name(),
                    "method": call.request.method, "path": call.request.path, "reason": denial.to_string(),
                }),
            )
            .await?;
            // Repeated denied withdraws (the Kronos pattern) freeze: not those refused because
            // everything is (the kill switch) or the credential already is frozen.
            let counts =
                !matches!(denial, sealgate_policy::Denial::KillSwitch | sealgate_policy::Denial::CredentialInactive(_));
            if class == EndpointClass::Withdraw
                && counts
                && let Some(v) =
                    self.anomaly.withdraw_denied(&self.store, owner, call.credential_id.as_str(), own.is_some()).await?
            {
                return Err(self.freeze_for_anomaly(role, exchange, owner, call, &v).await);
            }
            return Err(SignerCallError::Denied(denial.to_string()));
        }
        // A withdrawal the policy allows still waits for its owner's passkey.
        if class == EndpointClass::Withdraw {
            self.withdrawal_gate(role, exchange, owner, own, call, &canon).await?;
        }
        // The anomaly detectors, after the policy and before the secret.
        if class == EndpointClass::Trade
            && let Some(v) = self
                .anomaly
                .order(
                    &self.store,
                    &self.sender,
                    self.cfg.exchanges.get(exchange).map(String::as_str),
                    owner,
                    call.credential_id.as_str(),
                    exchange,
                    &canon.order,
                    own.is_some(),
                )
                .await?
        {
            return Err(self.freeze_for_anomaly(role, exchange, owner, call, &v).await);
        }
        Ok((class, canon.request))
    }

    /// Issue 17 item 3: a withdrawal is made only with its owner's approval of exactly this
    /// request (`sealgate-authority` statement S4, whose `request` is [`request_digest`]),
    /// by a passkey the envelope names, fresh, used once; to a destination a named key first
    /// approved at least `new_destination_wait` ago. Otherwise it waits as a pending request
    /// (`withdrawal_approvals`) for `withdrawal_ttl`, and is refused meanwhile. A credential
    /// that names no authority, or a withdraw-class request whose destination Sealgate does
    /// not read, cannot be approved: refused.
    async fn withdrawal_gate(
        &self,
        role: Role,
        exchange: &str,
        owner: &str,
        own: Option<&[String]>,
        call: &ForwardCall,
        canon: &sealgate_exchanges::Canonical,
    ) -> Result<(), SignerCallError> {
        let cid = call.credential_id.as_str();
        let refuse = |reason: String| async move {
            inc(&self.metrics.signer_denied_total);
            let detail = json!({"exchange": exchange, "role": role.name(), "class": "withdraw",
                "method": call.request.method, "path": call.request.path, "reason": reason});
            match self.record_denial(role, &call.credential_id, owner, detail).await {
                Ok(()) => SignerCallError::Denied(reason),
                Err(e) => e,
            }
        };
        let Some(own) = own else {
            return Err(refuse(
                "a withdrawal needs its owner's approval with a passkey, and this credential names none: \
                 seal it again while you have a passkey"
                    .into(),
            )
            .await);
        };
        let Some(w) = &canon.withdrawal else {
            return Err(refuse(format!(
                "Sealgate does not read where this {exchange} request sends funds, so its owner cannot approve it: refused"
            ))
            .await);
        };
        let digest = request_digest(&canon.request);
        // What the owner will sign must be a statement the rules allow (S4).
        if let Err(e) = sealgate_authority::Decimal::parse(&w.amount)
            .ok_or(sealgate_authority::Error::Statement("amount must be a decimal"))
            .and_then(|amount| {
                sealgate_authority::Withdrawal::new(
                    exchange,
                    &w.asset,
                    amount,
                    &w.destination,
                    w.network.as_deref(),
                    [0; 32],
                )
            })
        {
            return Err(refuse(format!("this withdrawal cannot be approved: {e}")).await);
        }
        let now = crate::now_ms();
        let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        let now_i = i64::try_from(now).unwrap_or(i64::MAX);
        let new = sealgate_store::WithdrawalApproval {
            id: random_id(),
            owner: owner.to_owned(),
            credential_id: cid.to_owned(),
            exchange: exchange.to_owned(),
            role: role.name().to_owned(),
            asset: w.asset.clone(),
            amount: w.amount.clone(),
            destination: w.destination.clone(),
            network: w.network.clone(),
            request_digest: digest.clone(),
            state: "pending".into(),
            approval: None,
            created_ms: now_i,
            expires_ms: now_i.saturating_add(ms(self.cfg.withdrawal_ttl)),
            decided_ms: None,
        };
        let (row, created) = self.store.withdrawal_request(&new, now_i).await.map_err(store_err)?;
        if created {
            let note = crate::notifier::NotifyEvent::WithdrawalPending {
                user: owner.to_owned(),
                credential_id: cid.to_owned(),
                exchange: exchange.to_owned(),
                role: role.name().to_owned(),
                what: bounded(&format!("{} {}", w.amount, w.asset)),
                destination: bounded(&w.destination),
                minutes: self.cfg.withdrawal_ttl.as_secs().div_ceil(60),
            };
            if let Err(e) = crate::notifier::enqueue(&self.store, &note).await {
                tracing::warn!(error = %e, "withdrawal notification not queued");
            }
        }
        let pending = || {
            format!(
                "this withdrawal waits for its owner's approval with a passkey (request {}, {} {} to {}); \
                 once approved in Sealgate, send it again",
                row.id,
                bounded(&row.amount),
                bounded(&row.asset),
                bounded(&row.destination)
            )
        };
        let Some(text) = row.approval.as_deref().filter(|_| row.state == "approved") else {
            return Err(refuse(pending()).await);
        };
        // The row says approved: check the approval itself, as if the row were a stranger's.
        let approval: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        let matches = |a: &crate::owner_ledger::Approved| match a.statement.kind() {
            sealgate_authority::StatementKind::Withdrawal(s) => {
                s.exch() == exchange
                    && s.asset() == w.asset
                    && sealgate_authority::Decimal::parse(&w.amount) == Some(s.amount())
                    && s.destination() == w.destination
                    && s.network() == w.network.as_deref()
                    && B64.encode(s.request()) == digest
                    && own.contains(&a.thumbprint)
            }
            _ => false,
        };
        let approved = match crate::owner_ledger::check_approval(&approval, owner, cid, now / 1000) {
            Ok(a) if matches(&a) => a,
            other => {
                let why = other.err().map_or_else(
                    || "it approves another request, or a key the envelope does not name".to_owned(),
                    |e| e.to_string(),
                );
                return Err(refuse(format!("the stored approval of this withdrawal is refused: {why}")).await);
            }
        };
        let id = approved.statement.id().to_owned();
        if self.revocations.approval_spent(owner, cid, &id) {
            return Err(refuse("this withdrawal's approval was used already: approve it again".into()).await);
        }
        // A destination the owner's keys first approved less than the waiting period ago.
        let wait = self.cfg.new_destination_wait.as_secs();
        if wait > 0 {
            let first = self
                .revocations
                .destination_since(owner, cid, &w.destination, own)
                .map_or(approved.statement.iat(), |t| t.min(approved.statement.iat()));
            if now / 1000 < first.saturating_add(wait) {
                let hours = (first + wait - now / 1000).div_ceil(3600);
                return Err(refuse(format!(
                    "a new destination: withdrawals to it are allowed {wait} s after its first approval \
                     (in about {hours} h); approve the withdrawal again then"
                ))
                .await);
            }
        }
        // Spent on the record first, then in the store: a use that is not on the record
        // never happens, and a second signer racing for it loses the row.
        let detail = json!({"approval_id": id, "withdrawal": row.id, "exchange": exchange, "role": role.name(),
            "asset": bounded(&w.asset), "amount": bounded(&w.amount), "destination": bounded(&w.destination)});
        let action = crate::owner_ledger::WITHDRAWAL_USED.parse().unwrap_or(Action::Denied);
        self.record(AuditEvent::new(format!("role:{}", role.name()), action, cid, detail).owner(owner)).await?;
        self.revocations.kick();
        if !self.store.use_withdrawal(owner, &row.id).await.map_err(store_err)? {
            return Err(refuse("this withdrawal's approval was used already: approve it again".into()).await);
        }
        Ok(())
    }

    /// An anomaly detector fired: freeze the credential (the lockdown's status), drop it from
    /// the cache, write the evidence into the audit chain (`anomaly_frozen`) and queue the
    /// owner's and the operators' notification; the caller is refused. Only the call that
    /// froze it records and notifies (a race of two is one record).
    async fn freeze_for_anomaly(
        &self,
        role: Role,
        exchange: &str,
        owner: &str,
        call: &ForwardCall,
        v: &sealgate_anomaly::Verdict,
    ) -> SignerCallError {
        inc(&self.metrics.signer_denied_total);
        let cid = call.credential_id.as_str();
        let froze = match self.store.freeze_if_active(owner, cid).await {
            Ok(froze) => froze,
            Err(e) => return store_err(e),
        };
        lock(&self.cache).retain(|(o, c, _), _| !(o == owner && c == cid));
        self.anomaly.forget(owner, cid);
        let refusal = SignerCallError::Denied(format!("{}; the credential is frozen", bounded(&v.to_string())));
        if !froze {
            return refusal;
        }
        tracing::warn!(owner, credential = cid, rule = v.rule.name(), evidence = %v, "anomaly: credential frozen");
        let mut detail = crate::anomaly::evidence_detail(v);
        detail["exchange"] = json!(exchange);
        detail["role"] = json!(role.name());
        detail["method"] = json!(bounded(&call.request.method));
        detail["path"] = json!(bounded(&call.request.path));
        let action = "anomaly_frozen".parse().unwrap_or(Action::Denied);
        let event = AuditEvent::new(format!("role:{}", role.name()), action, cid, detail).owner(owner);
        if let Err(e) = self.record(event).await {
            return e;
        }
        let note = crate::notifier::NotifyEvent::Anomaly {
            user: owner.to_owned(),
            credential_id: cid.to_owned(),
            exchange: exchange.to_owned(),
            rule: v.rule.name().to_owned(),
            evidence: bounded(&v.to_string()),
        };
        if let Err(e) = crate::notifier::enqueue(&self.store, &note).await {
            tracing::warn!(error = %e, "anomaly notification not queued");
        }
        refusal
    }

    async fn kill_switch(&self) -> Result<bool, SignerCallError> {
        let now = crate::now_ms();
        if now.saturating_sub(self.kill_checked_ms.load(Ordering::Relaxed)) >= self.cfg.revalidate.as_millis() as u64 {
            let on = self.store.kill_switch().await.map_err(store_err)?;
            self.kill.store(on, Ordering::Relaxed);
            self.kill_checked_ms.store(now, Ordering::Relaxed);
        }
        Ok(self.kill.load(Ordering::Relaxed))
    }

    /// Reads the disabled key versions when the last read is older than `revalidate`.
    async fn refresh_disabled(&self) -> Result<(), SignerCallError> {
        let now = crate::now_ms();
        if now.saturating_sub(self.disabled_checked_ms.load(Ordering::Relaxed))
            >= self.cfg.revalidate.as_millis() as u64
        {
            let kids = self.store.disabled_keys().await.map_err(store_err)?;
            *lock(&self.disabled) = kids.into_iter().collect();
            self.disabled_checked_ms.store(now, Ordering::Relaxed);
        }
        Ok(())
    }

    fn is_disabled(&self, kid: &str) -> bool {
        lock(&self.disabled).contains(kid)
    }

    /// Step 5-6: nonce, clock, signature.
    async fn sign_ready(
        &self,
        ready: &Ready,
        cid: &CredentialId,
        req: &Request,
    ) -> Result<SignedRequest, SignerCallError> {
        if self.takes_nonce(ready, req) {
            return self.sign_reserved(ready, cid, req).await;
        }
        let (signed, floor) = self.sign_first(ready, req).await?;
        match floor {
            None => Ok(signed),
            Some(floor) => self.sign_nonce(ready, cid, req, floor).await,
        }
    }

    /// Whether the scheme says it will draw a nonce for `req` (held keys take none).
    fn takes_nonce(&self, ready: &Ready, req: &Request) -> bool {
        ready.entry.held.is_none()
            && sealgate_exchanges::nonce_floor(&ready.entry.exchange, req, crate::now_ms()).is_ok_and(|f| f.is_some())
    }

    /// Signs `req` once with a nonce reserved first, at the floor the scheme predicts at the
    /// exchange's clock. Should `sign` ask more than was reserved (a prediction gone wrong),
    /// a nonce at its floor is reserved and the request signed again.
    async fn sign_reserved(
        &self,
        ready: &Ready,
        cid: &CredentialId,
        req: &Request,
    ) -> Result<SignedRequest, SignerCallError> {
        let exch = &ready.entry.exchange;
        let clock = self.exchange_clock(exch);
        let floor = sealgate_exchanges::nonce_floor(exch, req, clock.0)
            .map_err(|e| SignerCallError::BadRequest(e.to_string()))?
            .unwrap_or(0);
        let nonce = self.store.next_nonce(&ready.entry.owner, cid.as_str(), floor).await.map_err(store_err)?;
        let reserved = ReservedNonce { nonce, asked: Mutex::new(None) };
        let ctx = sealgate_exchanges::Context { clock: &clock, nonce: &reserved };
        let signed = sealgate_exchanges::sign(exch, &ready.entry.credential, req, &ctx)
            .map_err(|e| SignerCallError::BadRequest(e.to_string()))?;
        let asked = *lock(&reserved.asked);
        match asked {
            Some(asked) if asked > nonce => {
                tracing::warn!(exchange = %exch, "nonce floor predicted too low; signing again");
                self.sign_nonce(ready, cid, req, asked).await
            }
            _ => Ok(signed),
        }
    }

    /// Signs `req` at the exchange's clock: the signature, final when the scheme took no
    /// nonce; else the least nonce the scheme takes (the signature is then a probe's).
    async fn sign_first(&self, ready: &Ready, req: &Request) -> Result<(SignedRequest, Option<u64>), SignerCallError> {
        let exch = &ready.entry.exchange;
        let clock = self.exchange_clock(exch);
        if let Some(key_id) = &ready.entry.held {
            // The exchanges that take held keys use no nonce (`sign_held` refuses otherwise).
            return Ok((self.sign_held(ready, key_id, req, &clock).await?, None));
        }
        let probe = NonceProbe::default();
        let ctx = sealgate_exchanges::Context { clock: &clock, nonce: &probe };
        let signed = sealgate_exchanges::sign(exch, &ready.entry.credential, req, &ctx)
            .map_err(|e| SignerCallError::BadRequest(e.to_string()))?;
        Ok((signed, probe.floor()))
    }

    /// Signs `req` with the next nonce at or above `floor`, from the store (shared by every
    /// signer), at the exchange's clock read again (the nonce lock may have taken a while).
    /// The entry's owner is the call's: the entry was loaded, and is cached, by (owner, id).
    async fn sign_nonce(
        &self,
        ready: &Ready,
        cid: &CredentialId,
        req: &Request,
        floor: u64,
    ) -> Result<SignedRequest, SignerCallError> {
        let nonce = self.store.next_nonce(&ready.entry.owner, cid.as_str(), floor).await.map_err(store_err)?;
        let clock = self.exchange_clock(&ready.entry.exchange);
        let ctx = sealgate_exchanges::Context { clock: &clock, nonce: &FixedNonce(nonce) };
        sealgate_exchanges::sign(&ready.entry.exchange, &ready.entry.credential, req, &ctx)
            .map_err(|e| SignerCallError::BadRequest(e.to_string()))
    }

    fn base_url(&self, exchange: &str) -> Result<&str, SignerCallError> {
        self.cfg
            .exchanges
            .get(exchange)
            .map(String::as_str)
            .ok_or_else(|| SignerCallError::Unavailable(format!("no address configured for exchange {exchange}")))
    }

    /// One round trip through the one send path (`sealgate-send`: no redirects, a bounded
    /// answer, the Content-Type rule).
    async fn send(&self, exchange: &str, signed: &SignedRequest) -> Result<ExchangeResponse, SignerCallError> {
        let base = self.base_url(exchange)?;
        let reply = self.sender.send(exchange, base, signed).await.map_err(|e| send_error(exchange, &e))?;
        Ok(ExchangeResponse { status: reply.status, body: String::from_utf8_lossy(&reply.body).into_owned() })
    }

    /// The reference price of the order's symbol: `exchange`'s public ticker, read through
    /// the one send path and kept for [`PRICE_TTL`]. `None` (logged) when the exchange has
    /// no ticker here or it cannot be read: the policy then refuses what it cannot value.
    async fn reference_price(
        &self,
        exchange: &str,
        order: &sealgate_exchanges::OrderFacts,
    ) -> Option<sealgate_policy::Decimal> {
        let symbol = order.symbol.as_deref()?;
        let key = (exchange.to_owned(), symbol.to_owned());
        if let Some((at, price)) = lock(&self.prices).get(&key)
            && at.elapsed() < PRICE_TTL
        {
            return Some(*price);
        }
        let req = sealgate_exchanges::ticker_request(exchange, symbol)?;
        let read = async {
            let reply = self
                .sender
                .send(exchange, self.base_url(exchange).ok()?, &SignedRequest::from_request(&req))
                .await
                .map_err(|e| tracing::warn!(exchange, error = %e, "reference price: ticker unreachable"))
                .ok()?;
            if reply.status != 200 {
                tracing::warn!(exchange, status = reply.status, "reference price: ticker refused");
                return None;
            }
            let text = sealgate_exchanges::ticker_price(exchange, symbol, &reply.body)
                .map_err(|e| tracing::warn!(exchange, error = %e, "reference price: ticker unreadable"))
                .ok()?;
            sealgate_policy::Decimal::parse(&text)
        };
        let price = read.await?;
        let mut prices = lock(&self.prices);
        if prices.len() >= 4096 {
            // Bounded: a caller naming endless symbols cannot grow it.
            prices.retain(|_, (at, _)| at.elapsed() < PRICE_TTL);
            if prices.len() >= 4096 {
                prices.clear();
            }
        }
        prices.insert(key, (Instant::now(), price));
        Some(price)
    }

    /// Measures `exchange`'s clock against ours through its public time endpoint.
    pub async fn sync_clock(&self, exchange: &str) -> Result<i64, SignerCallError> {
        let endpoint = sealgate_exchanges::time_endpoint(exchange)
            .ok()
            .flatten()
            .ok_or_else(|| SignerCallError::Unavailable(format!("no time endpoint known for {exchange}")))?;
        let t0 = crate::now_ms();
        let reply = self
            .sender
            .get_public(self.base_url(exchange)?, endpoint.path)
            .await
            .map_err(|_| SignerCallError::Unavailable("exchange time".into()))?;
        let t1 = crate::now_ms();
        let server = (endpoint.parse)(&reply.body)
            .ok_or_else(|| SignerCallError::Unavailable("exchange time unreadable".into()))?;
        let mid = i64::try_from(t0 / 2 + t1 / 2).unwrap_or(i64::MAX);
        let offset = i64::try_from(server).unwrap_or(i64::MAX).saturating_sub(mid);
        lock(&self.offsets).insert(exchange.to_owned(), offset);
        inc(&self.metrics.signer_clock_syncs_total);
        tracing::info!(exchange, offset_ms = offset, "exchange clock measured");
        Ok(offset)
    }

    fn touch(&self, call: &ForwardCall) {
        // last_used is for display: write it at most every 10 s per credential.
        let now = crate::now_ms();
        let due = {
            let mut t = lock(&self.touched);
            let last = t.entry((call.owner.clone(), call.credential_id.clone())).or_insert(0);
            let due = now.saturating_sub(*last) >= 10_000;
            if due {
                *last = now;
            }
            due
        };
        if due {
            let store = self.store.clone();
            let (owner, cid) = (call.owner.clone(), call.credential_id.clone());
            tokio::spawn(async move {
                if let Err(e) = store.touch_credential(owner.as_str(), cid.as_str()).await {
                    tracing::warn!(error = %e, "last-used update failed");
                }
            });
        }
    }

    /// The signer's HTTP routes (`/v1/sign`, `/v1/forward`), for services. Every refusal is
    /// `{"error": …}`; a `Content-Length` over 256 KiB is 413 before the body is read.
    pub fn router(self: Arc<Self>, verifier: Arc<ServiceVerifier>) -> Router {
        let held = held_table()
            .router
            .with_state(crate::held_keys::HeldState { signer: self.clone(), verifier: verifier.clone() });
        table()
            .router
            .merge(held)
            .layer(DefaultBodyLimit::max(MAX_CALL))
            .layer(axum::middleware::from_fn_with_state(MAX_CALL, crate::json::limit_body))
            .layer(axum::middleware::from_fn(crate::json::json_errors))
            .with_state(HttpState { signer: self, verifier })
    }
}

fn table() -> crate::api::Table<HttpState> {
    crate::api::Table::new().add::<__path_http_sign, _, _>(http_sign).add::<__path_http_forward, _, _>(http_forward)
}

fn held_table() -> crate::api::Table<crate::held_keys::HeldState> {
    use crate::held_keys::*;
    crate::api::Table::new()
        .add::<__path_http_create, _, _>(http_create)
        .add::<__path_http_terms, _, _>(http_terms)
        .add::<__path_http_activate, _, _>(http_activate)
        .add::<__path_http_discard, _, _>(http_discard)
        .add::<__path_http_destroy, _, _>(http_destroy)
}

/// Every `(method, path)` of [`Signer::router`].
pub fn routes() -> Vec<(&'static str, String)> {
    let mut r = table().routes;
    r.extend(held_table().routes);
    r
}

/// The signer's operations, for [`crate::openapi`].
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    http_sign,
    http_forward,
    crate::held_keys::http_create,
    crate::held_keys::http_terms,
    crate::held_keys::http_activate,
    crate::held_keys::http_discard,
    crate::held_keys::http_destroy
))]
pub(crate) struct SignerDoc;

/// The policy of a credential: what was sealed, its status, and the owner's limits.
/// Stored limits that do not parse fail closed.
fn policy_of(
    scope: Scope,
    status: sealgate_policy::CredentialStatus,
    limits: Option<&sealgate_store::CredentialLimits>,
) -> Result<CredentialPolicy, SignerCallError> {
    let mut policy = CredentialPolicy::new(scope);
    policy.status = status;
    let Some(l) = limits else { return Ok(policy) };
    // The one limits parser (`sealgate_vocab::Limits`): a row a writer filled with what the
    // api would refuse is refused here too.
    let limits = sealgate_policy::Limits::from_stored(
        l.symbols.as_deref(),
        l.max_notional.as_deref(),
        l.rate_max,
        l.rate_window_ms,
    )
    .map_err(|e| {
        tracing::warn!(error = %e, "stored limits unreadable");
        SignerCallError::Denied("the credential's stored limits are unreadable".into())
    })?;
    Ok(policy.with_limits(&limits))
}

/// The digest an owner's withdrawal approval signs (statement S4 `request`): SHA-256 over
/// the canonical request's method, path, query and body, each followed by a newline,
/// in unpadded base64url.
pub fn request_digest(r: &Request) -> String {
    let text = format!("{}\n{}\n{}\n{}\n", r.method, r.path, r.query, r.body);
    B64.encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes()))
}

/// 16 random bytes, base64url.
fn random_id() -> String {
    let mut b = [0u8; 16];
    // The system RNG does not fail on the platforms we run on; a zero id would only collide.
    let _ = aws_lc_rs::rand::fill(&mut b);
    B64.encode(b)
}

/// The owner's part of a policy (status and limits) as an owner state.
fn owner_state_of(p: &CredentialPolicy) -> sealgate_authority::OwnerState {
    use sealgate_authority::{OwnerState, OwnerStatus};
    let status = match p.status {
        sealgate_policy::CredentialStatus::Active => OwnerStatus::Active,
        _ => OwnerStatus::Frozen,
    };
    // The policy's parts obey the same rules (they came through `Limits`).
    OwnerState::new(status, false, p.symbols.clone(), p.max_notional, p.rate).unwrap_or_else(|_| {
        OwnerState::new(OwnerStatus::Frozen, true, Some(Default::default()), None, None)
            .unwrap_or_else(|_| OwnerState::unrestricted())
    })
}

/// `p` with the owner's part replaced by `state` (a kill switch on is a freeze).
fn with_owner_state(mut p: CredentialPolicy, state: &sealgate_authority::OwnerState) -> CredentialPolicy {
    let frozen = state.status() == sealgate_authority::OwnerStatus::Frozen || state.kill_switch();
    if frozen && p.status == sealgate_policy::CredentialStatus::Active {
        p.status = sealgate_policy::CredentialStatus::Frozen;
    }
    p.symbols = state.symbols().cloned();
    p.max_notional = state.max_notional();
    p.rate = state.rate();
    p
}

/// What the caller gets: the signed request (`sign`) or the exchange's answer (`forward`).
#[derive(Clone, Copy)]
enum Op {
    Sign,
    Forward,
}

/// A nonce reserved before signing; remembers the floor the scheme asked for.
struct ReservedNonce {
    nonce: u64,
    asked: Mutex<Option<u64>>,
}

impl NonceSource for ReservedNonce {
    fn next_nonce(&self, floor: u64) -> u64 {
        *lock(&self.asked) = Some(floor);
        // (Never an unreserved value: a floor above it discards this signature.)
        self.nonce
    }
}

/// Records the floor a scheme asks a nonce for, and answers with it; the
/// real nonce is then reserved in the store.
#[derive(Default)]
struct NonceProbe {
    floor: Mutex<Option<u64>>,
}

impl NonceProbe {
    fn floor(&self) -> Option<u64> {
        *lock(&self.floor)
    }
}

impl NonceSource for NonceProbe {
    fn next_nonce(&self, floor: u64) -> u64 {
        *lock(&self.floor) = Some(floor);
        floor
    }
}

/// A send failure as the caller sees it: never the URL, a header or the body.
fn send_error(exchange: &str, e: &sealgate_send::SendError) -> SignerCallError {
    match e {
        sealgate_send::SendError::Connect(why) => {
            tracing::warn!(exchange, error = %why, "exchange unreachable");
            SignerCallError::Unavailable(format!("exchange {exchange} unreachable"))
        }
        sealgate_send::SendError::Unreachable(why) => {
            tracing::warn!(exchange, error = %why, "exchange did not answer");
            SignerCallError::Indeterminate(format!(
                "exchange {exchange} did not answer; the request may have reached it"
            ))
        }
        sealgate_send::SendError::Method(_) => SignerCallError::BadRequest("method".into()),
        other if other.may_have_arrived() => SignerCallError::Indeterminate(other.to_string()),
        other => SignerCallError::Unavailable(other.to_string()),
    }
}

#[derive(Clone)]
struct HttpState {
    signer: Arc<Signer>,
    verifier: Arc<ServiceVerifier>,
}

pub(crate) fn call_error(e: &SignerCallError) -> Response {
    let status = match e {
        SignerCallError::Denied(_) => StatusCode::FORBIDDEN,
        SignerCallError::NotFound => StatusCode::NOT_FOUND,
        SignerCallError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
        SignerCallError::BadRequest(_) => StatusCode::BAD_REQUEST,
        SignerCallError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        SignerCallError::Indeterminate(_) => StatusCode::GATEWAY_TIMEOUT,
    };
    crate::json::error_response(status, e.to_string())
}

fn authenticate(st: &HttpState, headers: &HeaderMap) -> Result<Role, SignerCallError> {
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| SignerCallError::Unauthorized("service token required".into()))?;
    let role =
        st.verifier.verify(token, crate::now_ms() / 1000).map_err(|e| SignerCallError::Unauthorized(e.to_string()))?;
    Role::parse(&role).ok_or_else(|| SignerCallError::Unauthorized(format!("{role} is not a consumer role")))
}

fn parse_call(body: &[u8]) -> Result<ForwardCall, SignerCallError> {
    parse_object(body)
}

/// A service call's body: one JSON object, each key once, read into `T`; the refusal never
/// echoes the input.
pub(crate) fn parse_object<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, SignerCallError> {
    let bad = |e: serde_json::Error| SignerCallError::BadRequest(format!("body: {}", e.classify_msg()));
    // An object only (serde would take an array for the struct), each key once.
    match crate::json::strict_value(body).map_err(bad)? {
        v @ serde_json::Value::Object(_) => serde::Deserialize::deserialize(v).map_err(bad),
        _ => Err(SignerCallError::BadRequest("body: not a JSON object".into())),
    }
}

trait ClassifyMsg {
    fn classify_msg(&self) -> String;
}

impl ClassifyMsg for serde_json::Error {
    /// serde's message without echoing input (line/column and the category only).
    fn classify_msg(&self) -> String {
        let what = match self.classify() {
            serde_json::error::Category::Io => "unreadable",
            serde_json::error::Category::Syntax => "not JSON",
            serde_json::error::Category::Data => "wrong fields or types",
            serde_json::error::Category::Eof => "truncated",
        };
        if self.line() == 0 {
            what.to_owned()
        } else {
            format!("{what} at line {} column {}", self.line(), self.column())
        }
    }
}

/// Authenticates the service and parses the call, then runs `op`.
async fn serve_call<'a, T, F, Fut>(st: &'a HttpState, headers: &HeaderMap, body: &[u8], op: F) -> Response
where
    T: serde::Serialize,
    F: FnOnce(&'a Signer, Role, ForwardCall) -> Fut,
    Fut: std::future::Future<Output = Result<T, SignerCallError>>,
{
    let call = authenticate(st, headers).and_then(|role| Ok((role, parse_call(body)?)));
    match call {
        Ok((role, call)) => match op(&st.signer, role, call).await {
            Ok(v) => Json(v).into_response(),
            Err(e) => call_error(&e),
        },
        Err(e) => call_error(&e),
    }
}

/// Sign a request and hand the signature back (only for roles the signer allows it; by
/// default none). Services only: a service token of role `importer` or `trader`.
#[utoipa::path(post, path = "/v1/sign", tag = "signer", security(("service" = [])),
    request_body = ForwardCall,
    responses(
        (status = 200, description = "the request as it goes on the wire, signed", body = sealgate_exchanges::SignedRequest),
        (status = 400, description = "the call or the request is malformed", body = crate::json::ErrorBody),
        (status = 401, description = "no valid service token", body = crate::json::ErrorBody),
        (status = 403, description = "denied by policy", body = crate::json::ErrorBody),
        (status = 404, description = "no envelope for this credential and role", body = crate::json::ErrorBody),
        (status = 413, description = "the body is larger than 256 KiB", body = crate::json::ErrorBody),
        (status = 503, description = "the store, the custody or the exchange is unavailable", body = crate::json::ErrorBody)))]
async fn http_sign(State(st): State<HttpState>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    serve_call(&st, &headers, &body, |s, role, call| async move { s.sign(role, &call).await }).await
}

/// Sign a request and send it to the exchange; the exchange's answer comes back. Services
/// only: a service token of role `importer` or `trader`.
#[utoipa::path(post, path = "/v1/forward", tag = "signer", security(("service" = [])),
    request_body = ForwardCall,
    responses(
        (status = 200, description = "the exchange's answer", body = ExchangeResponse),
        (status = 400, description = "the call or the request is malformed", body = crate::json::ErrorBody),
        (status = 401, description = "no valid service token", body = crate::json::ErrorBody),
        (status = 403, description = "denied by policy", body = crate::json::ErrorBody),
        (status = 404, description = "no envelope for this credential and role", body = crate::json::ErrorBody),
        (status = 413, description = "the body is larger than 256 KiB", body = crate::json::ErrorBody),
        (status = 503, description = "the store, the custody or the exchange is unavailable; nothing was sent", body = crate::json::ErrorBody),
        (status = 504, description = "the exchange did not answer after the request was sent: it may have executed it", body = crate::json::ErrorBody)))]
async fn http_forward(State(st): State<HttpState>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    serve_call(&st, &headers, &body, |s, role, call| async move { s.forward(role, &call).await }).await
}

/// The signer in the same process, as one role.
pub struct LocalSignerClient {
    signer: Arc<Signer>,
    role: Role,
}

impl LocalSignerClient {
    /// A client acting as `role`.
    pub fn new(signer: Arc<Signer>, role: Role) -> Self {
        Self { signer, role }
    }
}

impl SignerClient for LocalSignerClient {
    fn role(&self) -> &str {
        self.role.name()
    }
    fn forward<'a>(&'a self, call: &'a ForwardCall) -> CallFuture<'a, ExchangeResponse> {
        Box::pin(self.signer.forward(self.role, call))
    }
}

/// A signer over HTTP, authenticated by a service key.
pub struct HttpSignerClient {
    pool: Arc<crate::signer_pool::SignerPool>,
    key: Arc<ServiceKey>,
}

impl HttpSignerClient {
    /// A client of the signer at `base` (`http://127.0.0.1:8788`), as the key's role.
    pub fn new(base: &str, key: Arc<ServiceKey>) -> Result<Self, String> {
        let pool = crate::signer_pool::SignerPool::new(&[base.to_owned()], None).map_err(|e| e.to_string())?;
        Ok(Self::with_pool(Arc::new(pool), key))
    }

    /// A client of the signers of `pool` (shared by the roles of one process), as the key's role.
    pub fn with_pool(pool: Arc<crate::signer_pool::SignerPool>, key: Arc<ServiceKey>) -> Self {
        Self { pool, key }
    }

    pub(crate) async fn post<B: serde::Serialize, T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        call: &B,
    ) -> Result<T, SignerCallError> {
        let token = self.key.token(crate::now_ms() / 1000);
        // One token for whichever signer takes the call: each verifies it the same way. Only
        // a failure to connect proves the call never left (the pool then tries the next
        // signer); past that, the signer may have forwarded the request to the exchange.
        let lost = || {
            SignerCallError::Indeterminate(
                "the signer's answer was lost; the request may have reached the exchange".into(),
            )
        };
        let resp =
            self.pool.send(|http, base| http.post(format!("{base}{path}")).bearer_auth(&token).json(call)).await?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|_| lost())?;
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|_| lost());
        }
        let msg = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
            .unwrap_or_else(|| status.to_string());
        let strip = |p: &str| msg.strip_prefix(p).unwrap_or(&msg).to_owned();
        Err(match status {
            StatusCode::FORBIDDEN => SignerCallError::Denied(strip("denied: ")),
            StatusCode::NOT_FOUND => SignerCallError::NotFound,
            StatusCode::UNAUTHORIZED => SignerCallError::Unauthorized(strip("unauthorized: ")),
            StatusCode::BAD_REQUEST | StatusCode::PAYLOAD_TOO_LARGE => {
                SignerCallError::BadRequest(strip("bad request: "))
            }
            StatusCode::GATEWAY_TIMEOUT => SignerCallError::Indeterminate(strip("no answer: ")),
            // The signer's own 503s (store, audit, custody, an unreachable exchange) come
            // before anything was sent; any other answer is not the signer's and proves nothing.
            StatusCode::SERVICE_UNAVAILABLE => SignerCallError::Unavailable(strip("unavailable: ")),
            _ => SignerCallError::Indeterminate(format!(
                "the signer answered {status}; the request may have reached the exchange"
            )),
        })
    }

    /// `/v1/sign`: the signed request (only for roles the signer allows it).
    pub async fn sign(&self, call: &ForwardCall) -> Result<SignedRequest, SignerCallError> {
        self.post("/v1/sign", call).await
    }
}

impl SignerClient for HttpSignerClient {
    fn role(&self) -> &str {
        self.key.role()
    }
    fn forward<'a>(&'a self, call: &'a ForwardCall) -> CallFuture<'a, ExchangeResponse> {
        Box::pin(self.post("/v1/forward", call))
    }
}

/// The notification of a denial, if it refused a withdraw or a trade.
pub(crate) fn refusal_event(
    owner: &str,
    credential_id: &str,
    detail: &serde_json::Value,
) -> Option<crate::notifier::NotifyEvent> {
    let what = match (detail.get("class").and_then(|v| v.as_str()), detail.get("op").and_then(|v| v.as_str())) {
        (Some("withdraw"), _) => "withdraw",
        (Some("trade"), _) | (None, Some("place")) => "trade",
        _ => return None,
    };
    let reason: String = detail.get("reason").and_then(|v| v.as_str()).unwrap_or("refused").chars().take(200).collect();
    Some(crate::notifier::NotifyEvent::Refused {
        user: owner.to_owned(),
        credential_id: credential_id.to_owned(),
        what: what.to_owned(),
        reason,
    })
}
