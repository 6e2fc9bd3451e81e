//! The notifier role: delivers the notification outbox by e-mail (SMTP, lettre) and by
//! webhooks signed per the Standard Webhooks specification.
//!
//! - Events are queued by the api in the step that makes them (credential added, role
//!   revoked, lockdown, refusals for users who asked), one row per recipient
//!   ([`sealgate_store::Store::enqueue_event`]); this role claims rows with a lease
//!   (`FOR UPDATE SKIP LOCKED` on PostgreSQL), so two notifiers never take one message.
//!   A sender whose process dies between sending and recording it sends that one message
//!   again after the lease: delivery is at least once, and a webhook's `webhook-id`
//!   (`msg_<row id>`) stays the same across attempts so a receiver can drop the copy.
//! - Every message to a user carries a fresh single-use lockdown link. Its token is minted
//!   here, at send time, and only its SHA-256 is stored: the raw token exists only in the
//!   message, never in the outbox or anywhere else in the database. Address-confirmation
//!   links are minted the same way.
//! - A message's body is rendered from a typed [`NotifyEvent`]: ids, names, counts and
//!   reasons; never an envelope, an API key or any other secret (the api never hands one
//!   to the outbox, and the tests look for a canary in every message sent).
//! - Failed attempts are retried with exponential backoff (base × 2^(attempt−1), capped);
//!   after the last one a message is `failed`, with its last error, for the operator
//!   (`sealgate admin notifications`); `sealgate_notifications_{sent,failed}_total` count
//!   outcomes.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::{digest, hmac, rand};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD as B64STD, URL_SAFE_NO_PAD as B64URL};
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sealgate_store::{Channel, ClaimedNotification, NewEvent, Store};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::metrics::{Metrics, inc};

/// How long a lockdown link stays usable.
pub const LOCKDOWN_LINK_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// How long an address-confirmation link stays usable.
pub const CONFIRM_LINK_TTL: Duration = Duration::from_secs(24 * 3600);
/// The notify key file in the data directory (0600).
pub const NOTIFY_KEY_FILE: &str = "notify.key";

/// Why the notifier could not be set up or a message not built or sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotifyError {
    /// A configuration mistake, in words.
    #[error("{0}")]
    Config(String),
    /// The system random generator failed.
    #[error("the random generator failed")]
    Rng,
    /// Delivery failed (the reason is short and carries no message body).
    #[error("{0}")]
    Delivery(String),
}

/// An event to tell a user (and operators) about: the typed body of an outbox row.
/// Never holds a secret: only ids, names, counts and reasons.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum NotifyEvent {
    /// A credential was stored.
    CredentialAdded {
        /// The owner.
        user: String,
        /// Its id.
        credential_id: String,
        /// Its exchange.
        exchange: String,
        /// Its label.
        label: String,
        /// The roles it was sealed to.
        roles: Vec<String>,
    },
    /// A role's envelope was revoked.
    RoleRevoked {
        /// The owner.
        user: String,
        /// The credential.
        credential_id: String,
        /// The role.
        role: String,
    },
    /// All the user's credentials were frozen.
    Lockdown {
        /// The owner.
        user: String,
        /// How many were frozen by it.
        frozen: u64,
        /// `api` (a signed-in request) or `link` (a lockdown link).
        via: String,
    },
    /// A withdraw or trade was refused (sent only to users who asked).
    Refused {
        /// The owner.
        user: String,
        /// The credential.
        credential_id: String,
        /// What was refused (`withdraw`, `trade`).
        what: String,
        /// Why.
        reason: String,
    },
    /// An anomaly detector fired: the credential was frozen (to the owner and the operators).
    Anomaly {
        /// The owner.
        user: String,
        /// The credential.
        credential_id: String,
        /// Its exchange.
        exchange: String,
        /// The rule that fired (`illiquid_pair`, `burst`, …).
        rule: String,
        /// The evidence, one line (measured values and thresholds).
        evidence: String,
    },
    /// A service asked for a withdrawal that waits for the owner's passkey.
    WithdrawalPending {
        /// The owner.
        user: String,
        /// The credential.
        credential_id: String,
        /// Its exchange.
        exchange: String,
        /// The role that asked.
        role: String,
        /// Amount and asset, e.g. `0.1 BTC`.
        what: String,
        /// Where to (address, tag or memo).
        destination: String,
        /// Minutes left to approve it.
        minutes: u64,
    },
    /// Confirm this address (sent to the address being confirmed only).
    EmailConfirm {
        /// The user.
        user: String,
    },
    /// An incident concerns some of the user's credentials. The body names the incident
    /// only: the message is rendered when it is sent, from the user's own affected
    /// credentials (so one queued row per user is one `INSERT … SELECT` for all of them).
    Incident {
        /// The incident.
        incident_id: String,
    },
    /// A passkey was added to the user's account.
    PasskeyAdded {
        /// The user.
        user: String,
        /// The passkey's name.
        name: String,
        /// Its thumbprint (what sealed credentials name in `own`).
        thumbprint: String,
    },
    /// A passkey was removed by the user (approved by another of their passkeys).
    PasskeyRemoved {
        /// The user.
        user: String,
        /// The passkey's name.
        name: String,
        /// Its thumbprint.
        thumbprint: String,
    },
    /// The operator removed all the user's passkeys (`sealgate passkeys reset`).
    PasskeysReset {
        /// The user.
        user: String,
        /// How many were removed.
        removed: u64,
    },
    /// An incident, for the operators' endpoints: counts, no user's details.
    IncidentOperator {
        /// The incident.
        incident_id: String,
        /// Why it was opened.
        reason: String,
        /// Credentials in scope.
        credentials: u64,
        /// Their owners.
        users: u64,
    },
}

impl NotifyEvent {
    /// The outbox `kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::CredentialAdded { .. } => "credential_added",
            Self::RoleRevoked { .. } => "role_revoked",
            Self::Lockdown { .. } => "lockdown",
            Self::Refused { .. } => "refused",
            Self::Anomaly { .. } => "anomaly",
            Self::WithdrawalPending { .. } => "withdrawal_pending",
            Self::EmailConfirm { .. } => "email_confirm",
            Self::Incident { .. } => "incident",
            Self::IncidentOperator { .. } => "incident_operator",
            Self::PasskeyAdded { .. } => "passkey_added",
            Self::PasskeyRemoved { .. } => "passkey_removed",
            Self::PasskeysReset { .. } => "passkeys_reset",
        }
    }

    /// The user an event is queued for by [`enqueue`] (incidents are queued by the
    /// incident's notify step, for every affected user at once).
    fn user(&self) -> Option<&str> {
        match self {
            Self::CredentialAdded { user, .. }
            | Self::RoleRevoked { user, .. }
            | Self::Lockdown { user, .. }
            | Self::Refused { user, .. }
            | Self::EmailConfirm { user }
            | Self::Anomaly { user, .. }
            | Self::WithdrawalPending { user, .. }
            | Self::PasskeyAdded { user, .. }
            | Self::PasskeyRemoved { user, .. }
            | Self::PasskeysReset { user, .. } => Some(user),
            Self::Incident { .. } | Self::IncidentOperator { .. } => None,
        }
    }

    /// Subject line and text, for a person.
    fn text(&self) -> (String, String) {
        match self {
            Self::CredentialAdded { credential_id, exchange, label, roles, .. } => (
                format!("Sealgate: a {exchange} credential was added"),
                format!(
                    "A {exchange} API credential \"{label}\" (id {credential_id}) was added to your account, \
                     sealed for: {}.\nIf this was not you, use the lockdown link below.",
                    roles.join(", ")
                ),
            ),
            Self::RoleRevoked { credential_id, role, .. } => (
                "Sealgate: a credential's access was revoked".into(),
                format!("The {role} role's access to credential {credential_id} was revoked, for good."),
            ),
            Self::Lockdown { frozen, via, .. } => (
                "Sealgate: your credentials were frozen".into(),
                format!(
                    "All your credentials were frozen ({frozen} by this lockdown, requested {}). Nothing is signed \
                     with them until you unfreeze each one.",
                    if via == "link" { "with a lockdown link" } else { "while signed in" }
                ),
            ),
            Self::Refused { credential_id, what, reason, .. } => (
                format!("Sealgate: a {what} was refused"),
                format!("A {what} with credential {credential_id} was refused: {reason}."),
            ),
            Self::Anomaly { credential_id, exchange, rule, evidence, .. } => (
                format!("Sealgate: a {exchange} credential was frozen (anomaly)"),
                format!(
                    "Credential {credential_id} ({exchange}) was frozen because its use looked unlike its own \
                     history ({rule}): {evidence}.\nNothing is signed with it until you unfreeze it. If this \
                     was not you, replace the exchange API key now."
                ),
            ),
            Self::WithdrawalPending { credential_id, exchange, role, what, destination, minutes, .. } => (
                format!("Sealgate: approve or ignore a withdrawal of {what}"),
                format!(
                    "The {role} service asked to withdraw {what} to {destination} with your {exchange} \
                     credential {credential_id}. Nothing leaves until you approve exactly this withdrawal \
                     with your passkey in Sealgate (within {minutes} minutes; after that it is refused).\n\
                     If you did not expect it, do not approve it: use the lockdown link below."
                ),
            ),
            Self::EmailConfirm { .. } => (
                "Sealgate: confirm your notification address".into(),
                "Someone (you, we hope) asked Sealgate to send your notifications to this address. Open the \
                 confirmation link below to agree; if it was not you, ignore this message."
                    .into(),
            ),
            Self::Incident { incident_id } => (
                "Sealgate: security incident: replace your exchange API keys".into(),
                format!("Security incident {incident_id} concerns your credentials."),
            ),
            Self::PasskeyAdded { name, thumbprint, .. } => (
                "Sealgate: a passkey was added to your account".into(),
                format!(
                    "A passkey \"{name}\" (thumbprint {thumbprint}) was added to your account. Credentials you \
                     seal from now on name it as their owner's key.\nIf this was not you, use the lockdown link \
                     below and contact the operator."
                ),
            ),
            Self::PasskeyRemoved { name, thumbprint, .. } => (
                "Sealgate: a passkey was removed from your account".into(),
                format!(
                    "The passkey \"{name}\" (thumbprint {thumbprint}) was removed from your account, approved by \
                     another of your passkeys.\nIf this was not you, use the lockdown link below."
                ),
            ),
            Self::PasskeysReset { removed, .. } => (
                "Sealgate: the operator reset your passkeys".into(),
                format!(
                    "The operator removed all your passkeys ({removed}). The next passkey you register is \
                     trusted on your sign-in alone.\nIf you did not ask for this, use the lockdown link below."
                ),
            ),
            Self::IncidentOperator { incident_id, reason, credentials, users } => (
                format!("Sealgate: incident {incident_id} opened"),
                format!(
                    "Incident {incident_id} ({reason}): {credentials} credential(s) of {users} user(s) frozen; \
                     every affected user is being told."
                ),
            ),
        }
    }
}

/// An incident's message to one user: what happened, each affected credential, and for
/// each the exchange's API-key page and the steps to replace the key there. Names and ids
/// only (the API-key hint is the last characters the user already sees), never a secret.
pub fn incident_text(
    incident: &sealgate_store::Incident,
    creds: &[sealgate_store::AffectedCredential],
) -> (String, String) {
    let mut t = format!(
        "Sealgate opened security incident {}: {}\n\n\
         As a precaution, the credentials below were frozen: nothing is signed with them. Treat \
         their exchange API keys as exposed and replace each one at the exchange, now:\n",
        incident.id,
        incident.reason.trim()
    );
    for c in creds {
        t.push_str(&format!(
            "\n- {} credential \"{}\" (id {}, key ending in {})\n",
            c.exchange, c.label, c.credential_id, c.hint
        ));
        match sealgate_exchanges::key_page(&c.exchange) {
            Some(page) => {
                for (i, step) in sealgate_exchanges::replace_steps(page, &c.hint).iter().enumerate() {
                    t.push_str(&format!("  {}. {step}\n", i + 1));
                }
            }
            None => t.push_str("  Delete this key on the exchange's API-key page, create a new one, add it here.\n"),
        }
    }
    t.push_str(
        "\nA frozen credential stays frozen until you unfreeze it yourself; delete it once its \
         replacement is added.",
    );
    (format!("Sealgate: security incident {}: replace your exchange API keys", incident.id), t)
}

/// An incident and the user's credentials it concerns, as a message shows them.
type IncidentView<'a> = (&'a sealgate_store::Incident, &'a [sealgate_store::AffectedCredential]);

/// Queues `event` for every recipient of its user; returns how many were queued.
pub async fn enqueue(store: &Store, event: &NotifyEvent) -> Result<u64, sealgate_store::StoreError> {
    let Some(user_id) = event.user() else { return Ok(0) };
    let body = serde_json::to_string(event).unwrap_or_default();
    let refusal = matches!(event, NotifyEvent::Refused { .. });
    store.enqueue_event(&NewEvent { user_id, kind: event.kind(), body: &body, refusal }).await
}

// --- keys and links --------------------------------------------------------------------------

/// The notify key: derives webhook signing secrets (so none is stored). 32 random bytes in
/// `<data>/notify.key` (0600); every process that creates endpoints or sends needs the same.
pub struct NotifyKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for NotifyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NotifyKey([REDACTED])")
    }
}

impl NotifyKey {
    /// Loads the key file, creating it (0600) if `create` and it does not exist.
    pub fn load_or_create(path: &Path, create: bool) -> Result<Self, NotifyError> {
        if !path.exists() {
            if !create {
                return Err(NotifyError::Config(format!(
                    "notify key {} does not exist: copy it from the deployment's first api/notifier",
                    path.display()
                )));
            }
            let mut b = Zeroizing::new([0u8; 32]);
            rand::fill(&mut b[..]).map_err(|_| NotifyError::Rng)?;
            let text = Zeroizing::new(B64URL.encode(&b[..]));
            crate::serve::write_private_file(path, text.as_bytes())
                .map_err(|e| NotifyError::Config(format!("notify key {}: {e}", path.display())))?;
        }
        crate::serve::check_private_file(path)
            .map_err(|e| NotifyError::Config(format!("notify key {}: {e}", path.display())))?;
        let text = Zeroizing::new(
            std::fs::read_to_string(path)
                .map_err(|e| NotifyError::Config(format!("notify key {}: {e}", path.display())))?,
        );
        let raw = Zeroizing::new(
            B64URL
                .decode(text.trim())
                .map_err(|_| NotifyError::Config(format!("notify key {}: not base64url", path.display())))?,
        );
        let mut k = Zeroizing::new([0u8; 32]);
        if raw.len() != 32 {
            return Err(NotifyError::Config(format!("notify key {}: not 32 bytes", path.display())));
        }
        k.copy_from_slice(&raw);
        Ok(Self(k))
    }

    /// The Standard Webhooks secret (`whsec_<base64>`) of endpoint `id`: HMAC-SHA256 of the
    /// id under the notify key, so the database never holds one.
    pub fn webhook_secret(&self, endpoint_id: &str) -> SecretString {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &self.0[..]);
        let mut ctx = hmac::Context::with_key(&key);
        ctx.update(b"sealgate webhook secret v1\0");
        ctx.update(endpoint_id.as_bytes());
        let tag = ctx.sign();
        SecretString::from(format!("whsec_{}", B64STD.encode(tag.as_ref())))
    }
}

/// A random URL token and its SHA-256 (what the store keeps).
pub fn new_link_token() -> Result<(Zeroizing<String>, [u8; 32]), NotifyError> {
    let mut b = Zeroizing::new([0u8; 32]);
    rand::fill(&mut b[..]).map_err(|_| NotifyError::Rng)?;
    let token = Zeroizing::new(B64URL.encode(&b[..]));
    Ok((token.clone(), token_hash(&token)))
}

/// The stored form of a link token.
pub fn token_hash(token: &str) -> [u8; 32] {
    let d = digest::digest(&digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Standard Webhooks signature: `v1,` and the base64 HMAC-SHA256 of `id.timestamp.body`
/// under the secret's base64-decoded bytes (the part after `whsec_`).
pub fn sign_webhook(secret: &SecretString, id: &str, timestamp: u64, body: &[u8]) -> Result<String, NotifyError> {
    let s = secret.expose_secret();
    let b64 = s.strip_prefix("whsec_").unwrap_or(s);
    let raw =
        Zeroizing::new(B64STD.decode(b64).map_err(|_| NotifyError::Config("webhook secret is not base64".into()))?);
    let key = hmac::Key::new(hmac::HMAC_SHA256, &raw);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(id.as_bytes());
    ctx.update(b".");
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    Ok(format!("v1,{}", B64STD.encode(ctx.sign().as_ref())))
}

// --- configuration ---------------------------------------------------------------------------

/// STARTTLS on a plain `smtp://` connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StartTls {
    /// Refuse to send without it (the default).
    Required,
    /// Use it when offered.
    Opportunistic,
    /// Never (a relay on loopback).
    None,
}

impl StartTls {
    /// Parses `required`, `opportunistic` or `none`.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "required" => Self::Required,
            "opportunistic" => Self::Opportunistic,
            "none" => Self::None,
            _ => return None,
        })
    }
}

/// SMTP settings.
#[derive(Debug)]
pub struct SmtpConfig {
    /// `smtp://host:port` (STARTTLS per `starttls`) or `smtps://host:port` (TLS from the start).
    pub url: String,
    /// STARTTLS policy for `smtp://`.
    pub starttls: StartTls,
    /// `From:`.
    pub from: String,
    /// A file (0600) holding the user name on its first line and the password on its second.
    pub credentials_file: Option<std::path::PathBuf>,
}

/// The notifier's settings.
#[derive(Debug)]
pub struct NotifierConfig {
    /// SMTP; `None`: e-mail rows fail with a clear reason (webhooks still go).
    pub smtp: Option<SmtpConfig>,
    /// The base URL users open links at (`https://sealgate.example`).
    pub public_url: String,
    /// How long a claim holds (longer than one delivery's timeout).
    pub lease: Duration,
    /// First retry delay; doubles per attempt.
    pub backoff_base: Duration,
    /// Largest retry delay.
    pub backoff_cap: Duration,
    /// Idle poll interval.
    pub poll: Duration,
    /// Timeout of one SMTP or webhook delivery.
    pub timeout: Duration,
    /// Deliver users' webhooks to loopback, private and link-local addresses too. Off by
    /// default: a user's endpoint must not reach the deployment's internal network (SSRF).
    /// Operators' endpoints are trusted either way.
    pub allow_private_webhooks: bool,
}

impl Default for NotifierConfig {
    fn default() -> Self {
        Self {
            smtp: None,
            public_url: "http://127.0.0.1:8787".into(),
            lease: Duration::from_secs(60),
            backoff_base: Duration::from_secs(5),
            backoff_cap: Duration::from_secs(15 * 60),
            poll: Duration::from_millis(500),
            timeout: Duration::from_secs(20),
            allow_private_webhooks: false,
        }
    }
}

/// The delay before attempt `attempts + 1`, after `attempts` failures: base × 2^(n−1), capped.
pub fn backoff(base: Duration, cap: Duration, attempts: i64) -> Duration {
    let exp = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    base.saturating_mul(1u32 << exp).min(cap)
}

fn smtp_transport(c: &SmtpConfig, timeout: Duration) -> Result<AsyncSmtpTransport<Tokio1Executor>, NotifyError> {
    let bad = |why: &str| NotifyError::Config(format!("--smtp-url: {why} (smtp://HOST:PORT or smtps://HOST:PORT)"));
    let (wrapper, rest) = if let Some(r) = c.url.strip_prefix("smtps://") {
        (true, r)
    } else if let Some(r) = c.url.strip_prefix("smtp://") {
        (false, r)
    } else {
        return Err(bad("unknown scheme"));
    };
    let rest = rest.trim_end_matches('/');
    if rest.contains('@') || rest.contains('/') || rest.contains('?') {
        return Err(bad("only HOST:PORT (credentials go in --smtp-credentials-file, never the URL)"));
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().map_err(|_| bad("bad port"))?),
        None => (rest, if wrapper { 465 } else { 587 }),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(bad("no host"));
    }
    let params =
        || TlsParameters::new(host.to_owned()).map_err(|e| NotifyError::Config(format!("--smtp-url: TLS setup: {e}")));
    let tls = match (wrapper, c.starttls) {
        (true, _) => Tls::Wrapper(params()?),
        (false, StartTls::Required) => Tls::Required(params()?),
        (false, StartTls::Opportunistic) => Tls::Opportunistic(params()?),
        (false, StartTls::None) => Tls::None,
    };
    let mut b =
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host).port(port).tls(tls).timeout(Some(timeout));
    if let Some(path) = &c.credentials_file {
        crate::serve::check_private_file(path)
            .map_err(|e| NotifyError::Config(format!("--smtp-credentials-file {}: {e}", path.display())))?;
        let text = Zeroizing::new(
            std::fs::read_to_string(path)
                .map_err(|e| NotifyError::Config(format!("--smtp-credentials-file {}: {e}", path.display())))?,
        );
        let mut lines = text.lines();
        let (Some(user), Some(pass)) = (lines.next(), lines.next()) else {
            return Err(NotifyError::Config(format!(
                "--smtp-credentials-file {}: needs the user name on line 1 and the password on line 2",
                path.display()
            )));
        };
        // lettre keeps its own copy of the password (a plain String) for the connection's life.
        b = b.credentials(Credentials::new(user.trim().to_owned(), pass.to_owned()));
    }
    Ok(b.build())
}

// --- the sender ------------------------------------------------------------------------------

/// One notifier worker.
pub struct Notifier {
    store: Store,
    key: Arc<NotifyKey>,
    config: Arc<NotifierConfig>,
    smtp: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: Option<Mailbox>,
    http: reqwest::Client,
    worker: String,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier").field("worker", &self.worker).finish_non_exhaustive()
    }
}

impl Notifier {
    /// A worker named `worker` (unique per process and worker: it holds leases).
    pub fn new(
        store: Store,
        key: Arc<NotifyKey>,
        config: Arc<NotifierConfig>,
        worker: String,
        metrics: Arc<Metrics>,
    ) -> Result<Self, NotifyError> {
        let (smtp, from) = match &config.smtp {
            Some(c) => {
                let from: Mailbox = c
                    .from
                    .parse()
                    .map_err(|_| NotifyError::Config(format!("--smtp-from {:?}: not an address", c.from)))?;
                (Some(smtp_transport(c, config.timeout)?), Some(from))
            }
            None => (None, None),
        };
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| NotifyError::Config(format!("webhook client: {e}")))?;
        Ok(Self { store, key, config, smtp, from, http, worker, metrics })
    }

    /// Delivers until `stop` turns true.
    pub async fn run(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            if *stop.borrow() {
                return;
            }
            match self.store.claim_notification(&self.worker, self.config.lease).await {
                Ok(Some(n)) => {
                    self.deliver(n).await;
                }
                Ok(None) => {
                    tokio::select! {
                        _ = tokio::time::sleep(self.config.poll) => {}
                        _ = stop.changed() => {}
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "notifier: claim failed");
                    tokio::select! {
                        _ = tokio::time::sleep(self.config.poll * 4) => {}
                        _ = stop.changed() => {}
                    }
                }
            }
        }
    }

    /// Delivers every deliverable message now, then returns how many were sent (tests, bench).
    pub async fn drain(&self) -> Result<u64, sealgate_store::StoreError> {
        let mut sent = 0;
        while let Some(n) = self.store.claim_notification(&self.worker, self.config.lease).await? {
            if self.deliver(n).await {
                sent += 1;
            }
        }
        Ok(sent)
    }

    async fn deliver(&self, n: ClaimedNotification) -> bool {
        let outcome = self.attempt(&n).await;
        match outcome {
            Ok(()) => match self.store.complete_notification(&n).await {
                Ok(()) => {
                    inc(&self.metrics.notifications_sent_total);
                    tracing::info!(id = n.id, kind = %n.kind, channel = ?n.channel, "notification sent");
                    true
                }
                Err(e) => {
                    tracing::warn!(id = n.id, error = %e, "notification sent, but not recorded as sent");
                    false
                }
            },
            Err(e) => {
                inc(&self.metrics.notifications_failed_total);
                let wait = backoff(self.config.backoff_base, self.config.backoff_cap, n.attempts);
                let reason = e.to_string();
                match self.store.fail_notification(&n, &reason, wait).await {
                    Ok(again) => tracing::warn!(id = n.id, kind = %n.kind, attempt = n.attempts, retry = again,
                        error = %reason, "notification not delivered"),
                    Err(se) => tracing::warn!(id = n.id, error = %se, "notification failure not recorded"),
                }
                false
            }
        }
    }

    async fn attempt(&self, n: &ClaimedNotification) -> Result<(), NotifyError> {
        let event: NotifyEvent = serde_json::from_str(&n.body)
            .map_err(|_| NotifyError::Delivery(format!("the stored body of kind {} does not parse", n.kind)))?;
        let base = self.config.public_url.trim_end_matches('/');
        let now = i64::try_from(crate::now_ms()).unwrap_or(i64::MAX);
        let store_err = |e: sealgate_store::StoreError| NotifyError::Delivery(format!("store: {e}"));
        // The user's own message carries a lockdown link; an operator's does not (it would
        // let the operator freeze the user's credentials).
        let lockdown_url = match &n.user_id {
            Some(user) => {
                let (token, hash) = new_link_token()?;
                let ttl = i64::try_from(LOCKDOWN_LINK_TTL.as_millis()).unwrap_or(i64::MAX);
                self.store
                    .add_lockdown_token(&hash, user, Some(n.id), now.saturating_add(ttl))
                    .await
                    .map_err(store_err)?;
                Some(Zeroizing::new(format!("{base}/lockdown/{}", token.as_str())))
            }
            None => None,
        };
        let confirm_url = match (&event, &n.user_id, n.channel) {
            (NotifyEvent::EmailConfirm { .. }, Some(user), Channel::Email) => {
                let (token, hash) = new_link_token()?;
                let ttl = i64::try_from(CONFIRM_LINK_TTL.as_millis()).unwrap_or(i64::MAX);
                self.store
                    .add_email_confirm_token(&hash, user, &n.recipient, now.saturating_add(ttl))
                    .await
                    .map_err(store_err)?;
                Some(Zeroizing::new(format!("{base}/notify/confirm/{}", token.as_str())))
            }
            _ => None,
        };
        let incident = match (&event, &n.user_id) {
            (NotifyEvent::Incident { incident_id }, Some(user)) => {
                let inc = self.store.incident(incident_id).await.map_err(store_err)?;
                let inc = inc.ok_or_else(|| NotifyError::Delivery("the incident is not in the store".into()))?;
                let creds = self.store.incident_user_credentials(incident_id, user).await.map_err(store_err)?;
                Some((inc, creds))
            }
            _ => None,
        };
        let incident = incident.as_ref().map(|(i, c)| (i, c.as_slice()));
        match n.channel {
            Channel::Email => {
                self.send_email(n, &event, incident, confirm_url.as_deref(), lockdown_url.as_deref()).await
            }
            Channel::Webhook => self.send_webhook(n, &event, incident, lockdown_url.as_deref()).await,
            _ => Err(NotifyError::Delivery("unknown channel".into())),
        }
    }

    async fn send_email(
        &self,
        n: &ClaimedNotification,
        event: &NotifyEvent,
        incident: Option<IncidentView<'_>>,
        confirm: Option<&String>,
        lockdown: Option<&String>,
    ) -> Result<(), NotifyError> {
        let (Some(smtp), Some(from)) = (&self.smtp, &self.from) else {
            return Err(NotifyError::Delivery("no SMTP server configured (--smtp-url)".into()));
        };
        let to: Mailbox =
            n.recipient.parse().map_err(|_| NotifyError::Delivery("the recipient is not an e-mail address".into()))?;
        let (subject, mut text) = match incident {
            Some((inc, creds)) => incident_text(inc, creds),
            None => event.text(),
        };
        if let Some(url) = confirm {
            text.push_str(&format!("\n\nConfirm this address: {url}\n(valid for 24 hours, once)"));
        }
        if let Some(url) = lockdown {
            text.push_str(&format!(
                "\n\nIf you did not expect this, freeze all your credentials at once, no sign-in needed:\n{url}\n\
                 (valid for 7 days, once)"
            ));
        }
        let msg = Message::builder()
            .from(from.clone())
            .to(to)
            .subject(subject)
            .header(lettre::message::header::ContentType::TEXT_PLAIN)
            .body(text)
            .map_err(|e| NotifyError::Delivery(format!("message: {e}")))?;
        smtp.send(msg).await.map(|_| ()).map_err(|e| NotifyError::Delivery(format!("smtp: {e}")))
    }

    async fn send_webhook(
        &self,
        n: &ClaimedNotification,
        event: &NotifyEvent,
        incident: Option<IncidentView<'_>>,
        lockdown: Option<&String>,
    ) -> Result<(), NotifyError> {
        let endpoint = n.endpoint_id.as_deref().ok_or_else(|| NotifyError::Delivery("no endpoint id".into()))?;
        let secret = self.key.webhook_secret(endpoint);
        let ts = crate::now_ms() / 1000;
        let id = format!("msg_{}", n.id);
        let mut payload = serde_json::json!({ "type": n.kind, "timestamp": ts, "data": event });
        if let Some((inc, creds)) = incident {
            payload["data"]["reason"] = serde_json::Value::String(inc.reason.clone());
            payload["data"]["opened_ms"] = serde_json::json!(inc.opened_ms);
            payload["data"]["credentials"] = creds
                .iter()
                .map(|c| {
                    let page = sealgate_exchanges::key_page(&c.exchange);
                    serde_json::json!({
                        "credential_id": c.credential_id, "exchange": c.exchange, "label": c.label, "hint": c.hint,
                        "key_page": page.map(|p| p.url),
                        "steps": page.map(|p| sealgate_exchanges::replace_steps(p, &c.hint).to_vec()),
                    })
                })
                .collect();
        }
        if let Some(url) = lockdown {
            payload["data"]["lockdown_url"] = serde_json::Value::String(url.to_string());
        }
        let body = Zeroizing::new(serde_json::to_vec(&payload).unwrap_or_default());
        let sig = sign_webhook(&secret, &id, ts, &body)?;
        // A user's endpoint is resolved here, checked to be public, and connected to at that
        // very address (no second lookup a rebinding DNS server could answer differently).
        let pinned;
        let client = if n.user_id.is_some() && !self.config.allow_private_webhooks {
            pinned = self.pinned_client(&n.recipient).await?;
            &pinned
        } else {
            &self.http
        };
        let resp = client
            .post(&n.recipient)
            .header("content-type", "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", sig)
            .body(body.to_vec())
            .send()
            .await
            .map_err(|e| NotifyError::Delivery(format!("webhook: {}", e.without_url())))?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(NotifyError::Delivery(format!("webhook: HTTP {}", resp.status().as_u16())))
        }
    }
}

impl Notifier {
    async fn pinned_client(&self, url: &str) -> Result<reqwest::Client, NotifyError> {
        let u = reqwest::Url::parse(url).map_err(|_| NotifyError::Delivery("webhook: bad URL".into()))?;
        let host = u.host_str().ok_or_else(|| NotifyError::Delivery("webhook: no host".into()))?.to_owned();
        let port = u.port_or_known_default().unwrap_or(443);
        let bare = host.trim_start_matches('[').trim_end_matches(']').to_owned();
        let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host((bare.as_str(), port))
            .await
            .map_err(|_| NotifyError::Delivery("webhook: the host does not resolve".into()))?
            .collect();
        if addrs.is_empty() || addrs.iter().any(|a| !is_public(a.ip())) {
            return Err(NotifyError::Delivery(
                "webhook: the host resolves to a loopback, private or link-local address (refused for users' \
                 endpoints)"
                    .into(),
            ));
        }
        reqwest::Client::builder()
            .timeout(self.config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .resolve_to_addrs(&bare, &addrs)
            .build()
            .map_err(|e| NotifyError::Delivery(format!("webhook client: {e}")))
    }
}

/// Whether `ip` is a public unicast address (not loopback, private, link-local, CGNAT,
/// unspecified, multicast, documentation or unique-local).
pub fn is_public(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64))
        }
        std::net::IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(std::net::IpAddr::V4(v4));
            }
            let seg = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (seg[0] & 0xfe00) == 0xfc00
                || (seg[0] & 0xffc0) == 0xfe80)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Standard Webhooks specification's published example (and the reference
    /// libraries' test vector).
    #[test]
    fn standard_webhooks_published_example() {
        let secret = SecretString::from("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let sig = sign_webhook(&secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, br#"{"test": 2432232314}"#)
            .expect("sign");
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        // One byte of the body, the id or the time changed: another signature.
        let other = sign_webhook(&secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265331, br#"{"test": 2432232314}"#)
            .expect("sign");
        assert_ne!(sig, other);
    }

    #[test]
    fn only_public_addresses_are_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!is_public(ip.parse().expect("ip")), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:4700::1111", "8.8.8.8"] {
            assert!(is_public(ip.parse().expect("ip")), "{ip}");
        }
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let (b, c) = (Duration::from_secs(5), Duration::from_secs(60));
        assert_eq!(backoff(b, c, 1), Duration::from_secs(5));
        assert_eq!(backoff(b, c, 2), Duration::from_secs(10));
        assert_eq!(backoff(b, c, 4), Duration::from_secs(40));
        assert_eq!(backoff(b, c, 5), Duration::from_secs(60));
        assert_eq!(backoff(b, c, 1000), Duration::from_secs(60));
        assert_eq!(backoff(b, c, -3), Duration::from_secs(5));
    }

    #[tokio::test]
    async fn smtp_urls_are_checked() {
        let cfg = |url: &str| SmtpConfig {
            url: url.into(),
            starttls: StartTls::None,
            from: "a@b.c".into(),
            credentials_file: None,
        };
        assert!(smtp_transport(&cfg("smtp://127.0.0.1:2525"), Duration::from_secs(1)).is_ok());
        assert!(smtp_transport(&cfg("smtps://mail.example:465"), Duration::from_secs(1)).is_ok());
        for bad in ["http://x:25", "smtp://user:pw@x:25", "smtp://x:notaport", "smtp://:25"] {
            let e = smtp_transport(&cfg(bad), Duration::from_secs(1)).expect_err(bad).to_string();
            assert!(!e.contains("pw"), "{e}");
        }
    }

    #[test]
    fn event_bodies_round_trip_and_refuse_unknown_fields() {
        let e = NotifyEvent::RoleRevoked { user: "u".into(), credential_id: "c".into(), role: "trader".into() };
        let s = serde_json::to_string(&e).expect("json");
        assert_eq!(serde_json::from_str::<NotifyEvent>(&s).expect("back"), e);
        assert!(
            serde_json::from_str::<NotifyEvent>(r#"{"type":"lockdown","user":"u","frozen":1,"via":"api","jwe":"x"}"#)
                .is_err()
        );
    }
}
