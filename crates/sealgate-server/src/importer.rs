//! The importer role: a job queue worker that imports balances and trades
//! through the signer, and the normalized portfolio view.
//!
//! The api calls [`portfolio`] and [`enqueue_full_import`]; `serve` runs an
//! [`Importer`].
//!
//! A `full` job: the balances (a fresh snapshot replaces the stored one), on
//! Deribit its open positions (likewise), then the trade history page by page.
//! After each page the trades are
//! upserted (idempotent on the exchange trade id) and the next page's cursor
//! is checkpointed, which also extends the lease: a job re-claimed after a
//! crash resumes at its cursor, and a page done twice changes nothing.
//! Failures the exchange or signer may get over (unreachable, 5xx, 429, rate
//! limits) are retried with exponential backoff; the rest (policy denial,
//! no envelope, unknown exchange, a response we cannot read) end the job.
//! Logs hold ids, counts and statuses only — never a request or a response
//! body.
//!
//! A `refresh` job is a `full` one that asks only for the trades newer than the stored
//! ones (each exchange's own filter, `sealgate_venues::trades_since_request`). The
//! scheduler ([`Importer::run_scheduler`]) queues one per credential per period, each at a
//! stable offset in the period; the trader queues one after each order.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use sealgate_store::{ClaimedJob, CredentialStatus, JobState, NewBalance, NewPosition, Store, StoreError, Trade};

use sealgate_vocab::{CredentialId, OwnerId};

use crate::client::{ExchangeResponse, ForwardCall, SignerCallError, SignerClient};
use crate::venues::{self, Amount, Venue, VenueBalance, VenueError};

/// One asset across all of a user's exchanges.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct AssetHolding {
    /// Normalized asset code (`BTC`, `USDT`, `USD`…).
    pub asset: String,
    /// Sum of free + locked across exchanges, an exact decimal string.
    pub total: String,
    /// Per exchange/credential amounts.
    pub by_exchange: Vec<ExchangeHolding>,
}

/// One asset at one credential.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ExchangeHolding {
    /// Exchange id.
    pub exchange: String,
    /// Credential id.
    pub credential_id: String,
    /// Free amount.
    pub free: String,
    /// Locked amount.
    pub locked: String,
}

/// One open derivatives position (Deribit's), as last imported. Not a holding and not in
/// the portfolio's value: its PnL is already in the currency's equity, which is the holding.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct PositionHolding {
    /// Credential id.
    pub credential_id: String,
    /// Exchange id (`deribit`).
    pub exchange: String,
    /// The instrument (`BTC-PERPETUAL`).
    pub instrument: String,
    /// `future`, `option`, … (the exchange's kind).
    pub kind: String,
    /// The settlement currency: the exchange's currency account the position is in, which
    /// its PnL is in (`BTC` of `BTC-PERPETUAL`, `USDC` of `BTC_USDC-PERPETUAL`).
    pub currency: String,
    /// Signed size in the exchange's unit (negative: short): USD for perpetuals and inverse
    /// futures, the base coin for options and linear instruments. An exact decimal string.
    pub size: String,
    /// Average entry price.
    pub average_price: String,
    /// Mark price.
    pub mark_price: String,
    /// Unrealised PnL, in `currency` (signed).
    pub floating_pnl: String,
    /// Realised PnL, in `currency` (signed).
    pub realized_pnl: String,
    /// When imported, ms since the epoch.
    pub updated_ms: i64,
}

/// Import progress of one credential.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ImportStatus {
    /// Credential id.
    pub credential_id: String,
    /// `queued`, `running`, `done`, `failed`, or `none`.
    pub state: String,
    /// Trades imported so far.
    pub trades: i64,
    /// When the last import finished (ms), if ever.
    pub last_import_ms: Option<i64>,
    /// The latest import job's id (for `POST /v1/imports/{id}/retry`), if there is one.
    pub job_id: Option<i64>,
    /// Why the latest job failed (or its last attempt did, while it waits to try again).
    pub reason: Option<String>,
}

/// A user's portfolio.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Portfolio {
    /// Holdings by asset, sorted by asset.
    pub assets: Vec<AssetHolding>,
    /// Open derivatives positions (Deribit), by exchange, credential and instrument. They are
    /// not added to the holdings or to the value: a Deribit holding is its currency's equity,
    /// which already includes the positions' floating and realised PnL.
    pub positions: Vec<PositionHolding>,
    /// Import progress per credential.
    pub imports: Vec<ImportStatus>,
    /// The value, allocation, value over time and realised gain (the api fills it).
    pub value: Option<crate::portfolio_value::PortfolioValue>,
}

fn stored_amount(s: &str) -> Result<Amount, StoreError> {
    Amount::parse(s).ok_or(StoreError::Internal { op: "portfolio", cause: "stored amount is not a decimal" })
}

/// The normalized portfolio of `owner`: per asset, the exact sum of free +
/// locked over every credential, with the per-credential breakdown; the open
/// positions as imported; and the import progress of each credential.
pub async fn portfolio(store: &Store, owner: &str) -> Result<Portfolio, StoreError> {
    let overflow = || StoreError::Internal { op: "portfolio", cause: "sum out of range" };
    let mut by_asset: BTreeMap<String, (Amount, Vec<ExchangeHolding>)> = BTreeMap::new();
    for b in store.balances(owner).await? {
        let amount = stored_amount(&b.free)?.checked_add(stored_amount(&b.locked)?).ok_or_else(overflow)?;
        let entry = by_asset.entry(b.asset).or_insert((Amount::ZERO, Vec::new()));
        entry.0 = entry.0.checked_add(amount).ok_or_else(overflow)?;
        entry.1.push(ExchangeHolding {
            exchange: b.exchange,
            credential_id: b.credential_id,
            free: b.free,
            locked: b.locked,
        });
    }
    let assets = by_asset
        .into_iter()
        .map(|(asset, (total, by_exchange))| AssetHolding { asset, total: total.normalized().to_string(), by_exchange })
        .collect();
    let imports = store
        .import_summaries(owner)
        .await?
        .into_iter()
        .map(|s| ImportStatus {
            credential_id: s.credential_id,
            state: match s.state {
                None => "none",
                Some(JobState::Queued) => "queued",
                Some(JobState::Running) => "running",
                Some(JobState::Done) => "done",
                Some(JobState::Failed) => "failed",
                Some(_) => "unknown",
            }
            .to_owned(),
            trades: s.trades,
            last_import_ms: s.last_done_ms,
            job_id: s.job_id,
            reason: s.last_error,
        })
        .collect();
    let positions = store
        .positions(owner)
        .await?
        .into_iter()
        .map(|p| PositionHolding {
            credential_id: p.credential_id,
            exchange: p.exchange,
            instrument: p.instrument,
            kind: p.kind,
            currency: p.currency,
            size: p.size,
            average_price: p.average_price,
            mark_price: p.mark_price,
            floating_pnl: p.floating_pnl,
            realized_pnl: p.realized_pnl,
            updated_ms: p.updated_ms,
        })
        .collect();
    Ok(Portfolio { assets, positions, imports, value: None })
}

/// Attempts a queued import gets by default.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 8;

/// The job kind of a full import (balances, then the whole trade history).
pub const FULL: &str = "full";

/// The job kind of an incremental import (balances, then only the trades newer than the
/// stored ones; a credential with no stored trade gets the whole history, as `full`).
pub const REFRESH: &str = "refresh";

/// Default period of the scheduled refresh.
pub const DEFAULT_REFRESH_EVERY: Duration = Duration::from_secs(15 * 60);

/// Queues a refresh of `owner`'s credential to run now, if it is sealed to the importer (a
/// credential the importer cannot open is not its business: nothing is queued). A queued
/// refresh is brought forward instead of doubled. The trader calls this after an order.
pub async fn enqueue_refresh_now(store: &Store, owner: &str, credential_id: &str) -> Result<Option<i64>, StoreError> {
    let roles = store.envelope_roles(owner, credential_id).await?;
    if !roles.iter().any(|r| r.role == "importer") {
        return Ok(None);
    }
    store.enqueue_now(owner, credential_id, REFRESH, DEFAULT_MAX_ATTEMPTS).await
}

/// Where in each period `(owner, credential)`'s refresh runs: a stable offset in
/// `[0, every)`, so thousands of credentials spread over the period instead of all asking
/// their exchanges at once, and every importer process picks the same slot (FNV-1a, not
/// std's randomly seeded hasher).
pub fn refresh_offset(owner: &str, credential_id: &str, every: Duration) -> Duration {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in owner.bytes().chain([0u8]).chain(credential_id.bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let period = u64::try_from(every.as_millis()).unwrap_or(u64::MAX).max(1);
    Duration::from_millis(h % period)
}

/// How long from `now` until the credential's next slot (`offset` past a multiple of `every`).
fn until_next_slot(now: Duration, offset: Duration, every: Duration) -> Duration {
    let (now, offset, period) = (now.as_millis(), offset.as_millis(), every.as_millis().max(1));
    let phase = (now + period - offset % period) % period;
    let wait = if phase == 0 { 0 } else { period - phase };
    Duration::from_millis(u64::try_from(wait).unwrap_or(u64::MAX))
}

/// Queues the next scheduled refresh of every active credential sealed to the importer
/// that has no job queued or running and none in this slot yet, each at its own slot in
/// the coming period. Returns how many were queued. Safe to run in several processes at
/// once: the store queues a slot once.
pub async fn schedule_refreshes(store: &Store, every: Duration, max_attempts: u32) -> Result<usize, StoreError> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    // Half a period: enough to recognise this slot's job whichever process queued it
    // (clocks differ a little), short enough never to mistake the previous slot's.
    let slot = every / 2;
    let mut queued = 0;
    for t in store.refresh_targets().await? {
        let delay = until_next_slot(now, refresh_offset(&t.owner, &t.credential_id, every), every);
        match store.enqueue_unless_pending(&t.owner, &t.credential_id, REFRESH, max_attempts, delay, slot).await {
            Ok(Some(_)) => queued += 1,
            Ok(None) => {}
            // Deleted between the listing and the insert.
            Err(StoreError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(queued)
}

/// Queues a full import of `owner`'s credential `credential_id` (the api calls this when
/// a credential sealed to the importer is created). Returns the job id.
pub async fn enqueue_full_import(store: &Store, owner: &str, credential_id: &str) -> Result<i64, StoreError> {
    store.enqueue(owner, credential_id, FULL, DEFAULT_MAX_ATTEMPTS, Duration::ZERO).await
}

/// Why an import attempt failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The signer refused or could not be reached.
    #[error("signer: {0}")]
    Signer(#[from] SignerCallError),
    /// The exchange refused, or answered something we cannot use.
    #[error("exchange: {0}")]
    Venue(#[from] VenueError),
    /// The job's credential does not exist or is not active.
    #[error("credential {0}")]
    Credential(&'static str),
    /// The job is of a kind this worker does not run.
    #[error("unknown job kind")]
    UnknownKind,
    /// The exchange's pagination did not end or did not advance.
    #[error("trade history pagination {0}")]
    Pagination(&'static str),
    /// The exchange's request budget ([`venues::limits`]) has no room for the next call
    /// within the wait one call may take: the job tries again later, from its checkpoint.
    #[error("the exchange's request budget is spent for now")]
    Budget,
}

impl ImportError {
    /// Why the import failed, as the job's owner sees it (the job's `last_error`, the
    /// portfolio and the web UI) and the operator logs it: short, naming the cause and
    /// who can fix it, bounded, and free of secrets and of database internals.
    pub fn reason(&self) -> String {
        use crate::json::bounded;
        match self {
            Self::Signer(SignerCallError::Unauthorized(m)) if m.contains("signature") || m.contains("unknown role") => {
                "the importer's service key is not trusted by the signer (the operator must install the importer's \
                 public key at the signer, or give the importer its importer.key)"
                    .into()
            }
            Self::Signer(SignerCallError::Unauthorized(m)) if m.contains("expired") => {
                "the signer found the importer's service token expired (the clocks of importer and signer differ)"
                    .into()
            }
            Self::Signer(SignerCallError::Unauthorized(m)) => {
                format!("the importer is not authorized at the signer: {}", bounded(m))
            }
            Self::Signer(SignerCallError::Denied(m)) => format!("the signer refused: {}", bounded(m)),
            Self::Signer(SignerCallError::NotFound) => "this credential is not sealed for the importer".into(),
            Self::Signer(SignerCallError::BadRequest(m)) => format!("the signer refused the request: {}", bounded(m)),
            Self::Signer(SignerCallError::Unavailable(m)) => format!("the signer is unavailable: {}", bounded(m)),
            Self::Signer(SignerCallError::Indeterminate(m)) => format!("no answer: {}", bounded(m)),
            Self::Venue(VenueError::Unsupported(x)) => format!("import is not supported for {}", bounded(x)),
            Self::Venue(VenueError::Exchange { status, message }) => {
                format!("the exchange refused ({status}): {}", bounded(message))
            }
            Self::Venue(e) => format!("the exchange's answer could not be read: {e}"),
            // The store refused what the exchange listed (more positions than it keeps): the
            // store's words are static and hold no value.
            Self::Store(e @ StoreError::Invalid { .. }) => format!("the exchange's answer could not be stored: {e}"),
            Self::Store(_) => "the database is unavailable".into(),
            Self::Credential(what) => format!("the credential {what}"),
            Self::UnknownKind => "this job kind is unknown to the importer".into(),
            Self::Pagination(what) => format!("the exchange's trade history pagination {what}"),
            Self::Budget => "waiting for the exchange's request limit (importers share it); it continues".into(),
        }
    }

    /// Whether a later attempt may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Store(StoreError::LeaseLost | StoreError::Invalid { .. }) => false,
            Self::Store(_) => true,
            Self::Signer(e) => e.is_transient(),
            Self::Venue(e) => e.is_transient(),
            Self::Budget => true,
            Self::Credential(_) | Self::UnknownKind | Self::Pagination(_) => false,
        }
    }
}

/// The credential a job imports: its owner and id, as a signer call names them.
struct Who {
    owner: OwnerId,
    credential_id: CredentialId,
    venue: Venue,
}

/// Most pages of one list followed in one job (a runaway exchange cursor ends here).
const MAX_PAGES: usize = 1_000_000;
/// Most pages of balances (Coinbase pages them; Deribit answers one currency a page).
const MAX_BALANCE_PAGES: usize = 100;

/// The import worker.
pub struct Importer {
    store: Store,
    metrics: Option<Arc<crate::metrics::Metrics>>,
    client: Arc<dyn SignerClient>,
    worker_id: String,
    lease: Duration,
    backoff_base: Duration,
    backoff_max: Duration,
    max_attempts: u32,
    idle_sleep: Duration,
    /// Multiplies every exchange's request budget (burst and refill); 1 = as documented.
    budget_scale: u64,
}

impl Importer {
    /// A worker named `worker_id` that reaches exchanges through `client` (role `importer`).
    /// Defaults: lease 60 s, backoff 5 s doubling to 10 min, 8 attempts, 1 s idle poll.
    pub fn new(store: Store, client: Arc<dyn SignerClient>, worker_id: String) -> Self {
        Self {
            store,
            metrics: None,
            client,
            worker_id,
            lease: Duration::from_secs(60),
            backoff_base: Duration::from_secs(5),
            backoff_max: Duration::from_secs(600),
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            idle_sleep: Duration::from_secs(1),
            budget_scale: 1,
        }
    }

    /// Multiplies every exchange's request budget by `scale` (at least 1): for an account
    /// whose exchange tier allows more (Kraken's Pro tier decays three times faster than the
    /// Starter tier the default assumes), or a test about something else than the budgets.
    pub fn with_budget_scale(mut self, scale: u64) -> Self {
        self.budget_scale = scale.max(1);
        self
    }

    /// Counts done and failed jobs in `metrics` (`sealgate_import_jobs_*_total`).
    pub fn with_metrics(mut self, metrics: Arc<crate::metrics::Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    fn count(&self, which: fn(&crate::metrics::Metrics) -> &std::sync::atomic::AtomicU64) {
        if let Some(m) = &self.metrics {
            crate::metrics::inc(which(m));
        }
    }

    /// How long a claim lasts without a checkpoint (each page extends it).
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// Backoff after a transient failure: `base × 2^(attempt-1)`, at most `max`.
    pub fn with_backoff(mut self, base: Duration, max: Duration) -> Self {
        self.backoff_base = base;
        self.backoff_max = max;
        self
    }

    /// Attempts for jobs queued through [`Importer::enqueue_full`].
    pub fn with_max_attempts(mut self, max_attempts: u32) -> Self {
        self.max_attempts = max_attempts.max(1);
        self
    }

    /// How long [`Importer::run`] sleeps when there is no job.
    pub fn with_idle_sleep(mut self, idle: Duration) -> Self {
        self.idle_sleep = idle;
        self
    }

    /// Queues a full import of `owner`'s credential with this worker's attempt budget.
    pub async fn enqueue_full(&self, owner: &str, credential_id: &str) -> Result<i64, StoreError> {
        self.store.enqueue(owner, credential_id, FULL, self.max_attempts, Duration::ZERO).await
    }

    fn backoff(&self, attempt: i64) -> Duration {
        backoff(self.backoff_base, self.backoff_max, attempt)
    }

    /// Claims one job and runs it to its end (done, retry later, or failed).
    /// `Ok(true)` if there was a job; `Err` only when the store cannot record the outcome.
    pub async fn run_once(&self) -> Result<bool, ImportError> {
        let Some(job) = self.store.claim(&self.worker_id, self.lease).await? else { return Ok(false) };
        tracing::info!(job = job.id, credential = %job.credential_id, attempt = job.attempts, "import claimed");
        let outcome = match job.kind.as_str() {
            FULL => self.import(&job, false).await,
            REFRESH => self.import(&job, true).await,
            _ => Err(ImportError::UnknownKind),
        };
        let recorded = match outcome {
            Ok(trades) => {
                tracing::info!(job = job.id, credential = %job.credential_id, trades, "import done");
                self.store.complete(&job).await.inspect(|()| self.count(|m| &m.import_jobs_done_total))
            }
            Err(ImportError::Store(StoreError::LeaseLost)) => Err(StoreError::LeaseLost),
            // The reason is what the owner sees; the operator's line carries it with the job id.
            Err(e) if e.is_transient() => {
                let backoff = self.backoff(job.attempts);
                let reason = e.reason();
                self.count(|m| &m.import_jobs_failed_total);
                tracing::warn!(job = job.id, credential = %job.credential_id, reason = %reason, ?backoff, "import failed; will retry");
                self.store.fail(&job, &reason, backoff).await.map(|state| {
                    if state == JobState::Failed {
                        tracing::warn!(job = job.id, credential = %job.credential_id, reason = %reason, "import failed on its last attempt; the owner can retry it");
                    }
                })
            }
            Err(e) => {
                let reason = e.reason();
                self.count(|m| &m.import_jobs_failed_total);
                tracing::warn!(job = job.id, credential = %job.credential_id, reason = %reason, "import failed; not retried until the owner retries it");
                self.store.give_up(&job, &reason).await
            }
        };
        match recorded {
            Ok(()) => Ok(true),
            // Another worker holds the job now: our result is dropped, the work was idempotent.
            Err(StoreError::LeaseLost) => {
                tracing::warn!(job = job.id, "lease lost; result dropped");
                Ok(true)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Runs jobs until `shutdown` turns true (or its sender is dropped),
    /// sleeping briefly when the queue is empty or the store is failing.
    pub async fn run(self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        loop {
            if *shutdown.borrow() {
                break;
            }
            let idle = tokio::select! {
                r = self.run_once() => match r {
                    Ok(true) => false,
                    Ok(false) => true,
                    Err(e) => {
                        tracing::error!(error = %e, "importer: store failure");
                        true
                    }
                },
                _ = shutdown.changed() => break,
            };
            if idle {
                tokio::select! {
                    () = tokio::time::sleep(self.idle_sleep) => {}
                    r = shutdown.changed() => if r.is_err() { break },
                }
            }
        }
        tracing::info!(worker = %self.worker_id, "importer stopped");
    }

    /// Forwards `request` for the job's credential: the call names the owner too, so the
    /// signer opens exactly the credential the job was queued for.
    async fn call(&self, who: &Who, request: sealgate_exchanges::Request) -> Result<ExchangeResponse, ImportError> {
        self.spend(who, &request).await?;
        let call = ForwardCall { owner: who.owner.clone(), credential_id: who.credential_id.clone(), request };
        let resp = self.client.forward(&call).await?;
        tracing::debug!(credential = %who.credential_id, path = %call.request.path, status = resp.status, "exchange answered");
        Ok(resp)
    }

    /// Waits until the exchange's request budget ([`venues::limits`]) has room for
    /// `request`, and spends it. The buckets are in the store, so every importer process on
    /// the database spends from the same ones. A wait longer than half the lease ends the
    /// attempt instead ([`ImportError::Budget`]): the job is retried from its checkpoint.
    async fn spend(&self, who: &Who, request: &sealgate_exchanges::Request) -> Result<(), ImportError> {
        use venues::limits::{Scope, budget, cost_milli, refilled, wait_ms};
        let mut b = budget(who.venue);
        b.burst_milli = b.burst_milli.saturating_mul(self.budget_scale);
        b.refill_milli_per_s = b.refill_milli_per_s.saturating_mul(self.budget_scale);
        let need = cost_milli(who.venue, request);
        let bucket = match b.scope {
            Scope::Address => who.venue.id().to_owned(),
            Scope::Key => format!("{}:{}:{}", who.venue.id(), who.owner, who.credential_id),
        };
        let give_up = tokio::time::Instant::now() + self.lease / 2;
        loop {
            let now = i64::try_from(crate::now_ms()).unwrap_or(i64::MAX);
            let taken = self
                .store
                .take_tokens(
                    &bucket,
                    need,
                    b.burst_milli,
                    now,
                    |have, ms| refilled(&b, have, ms),
                    |have| wait_ms(&b, have, need),
                )
                .await?;
            let Some(wait) = taken else { return Ok(()) };
            if tokio::time::Instant::now() + wait > give_up {
                return Err(ImportError::Budget);
            }
            self.count(|m| &m.import_rate_waits_total);
            tokio::time::sleep(wait).await;
        }
    }

    /// Runs the scheduler until `shutdown`: every `every`, queues the refreshes due
    /// ([`schedule_refreshes`]). Each importer process may run one; the store queues a slot once.
    pub async fn run_scheduler(
        store: Store,
        every: Duration,
        max_attempts: u32,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        let every = every.max(Duration::from_secs(1));
        loop {
            if *shutdown.borrow() {
                break;
            }
            match schedule_refreshes(&store, every, max_attempts).await {
                Ok(n) => tracing::info!(queued = n, "refreshes scheduled"),
                Err(e) => tracing::error!(error = %e, "scheduler: store failure"),
            }
            // Ticks twice a period: a slot is never missed by more than half a period.
            tokio::select! {
                () = tokio::time::sleep(every / 2) => {}
                r = shutdown.changed() => if r.is_err() { break },
            }
        }
        tracing::info!("refresh scheduler stopped");
    }

    /// Balances, then every page of trades (`incremental`: only those newer than the
    /// stored ones); returns the trades stored.
    async fn import(&self, job: &ClaimedJob, incremental: bool) -> Result<usize, ImportError> {
        let (owner, cid) = (job.owner.as_str(), job.credential_id.as_str());
        // A row whose ids break the vocabulary's rules (a database writer's) is never sent.
        let owner_id = OwnerId::parse(owner).map_err(|_| ImportError::Credential("has an unreadable owner id"))?;
        let credential_id = CredentialId::parse(cid).map_err(|_| ImportError::Credential("has an unreadable id"))?;
        let cred = self.store.job_credential(owner, cid).await?.ok_or(ImportError::Credential("not found"))?;
        match cred.status {
            CredentialStatus::Active => {}
            CredentialStatus::Frozen => return Err(ImportError::Credential("is frozen")),
            _ => return Err(ImportError::Credential("is deleted")),
        }
        let venue = Venue::from_exchange(&cred.exchange)?;
        let who = Who { owner: owner_id, credential_id, venue };

        // Balances: every page, merged per normalized asset (Kraken may list XBT and XXBT).
        let mut raw: Vec<VenueBalance> = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_BALANCE_PAGES {
            let resp = self.call(&who, venues::balances_request(venue, cursor.as_deref())?).await?;
            let page = venues::parse_balances(venue, resp.view())?;
            raw.extend(page.balances);
            match page.next {
                Some(n) if Some(&n) != cursor.as_ref() => cursor = Some(n),
                Some(_) => return Err(ImportError::Pagination("did not advance")),
                None => break,
            }
        }
        let assets: Vec<String> = raw.iter().map(|b| b.asset.clone()).collect();
        let merged = merge_balances(&raw)?;
        let rows: Vec<NewBalance<'_>> =
            merged.iter().map(|(asset, (free, locked))| NewBalance { asset, free, locked }).collect();
        self.store.replace_balances(owner, cid, &rows).await?;

        // Deribit's open positions, every currency's (not only those with a balance: a
        // cross-collateral account may hold a position in a currency whose equity is 0),
        // replacing the stored ones whole: a closed position disappears.
        if venue == Venue::Deribit {
            self.import_deribit_positions(&who, owner, cid).await?;
        }

        // Trades, from the checkpointed cursor.
        // Binance, MEXC, Gemini and Coinbase Exchange ask for trades one symbol at a time: the
        // pairs of the account's assets. Deribit walks its own currencies (balances and trades
        // alike): no symbols.
        let symbols = match venue {
            Venue::Binance | Venue::Mexc => venues::binance_symbols(&assets),
            Venue::Gemini => venues::gemini_symbols(&assets),
            Venue::CoinbaseExchange => venues::coinbase_exchange_products(&assets),
            _ => Vec::new(),
        };
        // The marks are read once per attempt: trades this job stored move them, but its
        // cursor already pages past them. No stored trade: the whole history.
        let marks = if incremental { since_marks(venue, &self.store.trade_marks(owner, cid).await?)? } else { None };
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let since =
            marks.as_ref().map(|(newest_ms, last_ids)| venues::Since { newest_ms: *newest_ms, last_ids, now_ms });
        let mut cursor = job.cursor.clone();
        let mut stored = 0usize;
        for _ in 0..MAX_PAGES {
            let request = match &since {
                Some(since) => venues::trades_since_request(venue, &symbols, since, cursor.as_deref())?,
                None => venues::trades_request(venue, &symbols, cursor.as_deref())?,
            };
            let Some(request) = request else { break };
            let resp = self.call(&who, request).await?;
            let page = match &since {
                Some(since) => venues::parse_trades_since(venue, &symbols, since, cursor.as_deref(), resp.view())?,
                None => venues::parse_trades(venue, &symbols, cursor.as_deref(), resp.view())?,
            };
            if !page.trades.is_empty() {
                let rows: Vec<Trade> = page.trades.into_iter().map(stored_trade).collect();
                self.store.upsert_trades(owner, cid, &rows).await?;
                stored += rows.len();
            }
            match page.next {
                Some(next) if Some(&next) == cursor.as_ref() => return Err(ImportError::Pagination("did not advance")),
                Some(next) => {
                    self.store.checkpoint(job, Some(&next), self.lease).await?;
                    cursor = Some(next);
                }
                None => return Ok(stored),
            }
        }
        match cursor {
            Some(_) if !matches!(venue, Venue::Binance | Venue::Mexc | Venue::Gemini | Venue::CoinbaseExchange) => {
                Err(ImportError::Pagination("did not end"))
            }
            _ => Ok(stored),
        }
    }

    /// Reads "get_positions" of each of [`venues::DERIBIT_CURRENCIES`] (five calls, within
    /// the budget as every call) and stores what is open in place of the stored snapshot.
    /// One currency unread fails the attempt before anything is replaced.
    async fn import_deribit_positions(&self, who: &Who, owner: &str, cid: &str) -> Result<(), ImportError> {
        let mut read: Vec<(&'static str, venues::DeribitPosition)> = Vec::new();
        for currency in venues::DERIBIT_CURRENCIES {
            let resp = self.call(who, venues::deribit_positions_request(currency)?).await?;
            read.extend(venues::parse_deribit_positions(resp.view())?.into_iter().map(|p| (currency, p)));
        }
        let rows: Vec<NewPosition<'_>> = read
            .iter()
            .map(|(currency, p)| NewPosition {
                instrument: &p.instrument,
                currency,
                kind: &p.kind,
                size: &p.size,
                average_price: &p.average_price,
                mark_price: &p.mark_price,
                floating_pnl: &p.floating_pnl,
                realized_pnl: &p.realized_pnl,
            })
            .collect();
        self.store.replace_positions(owner, cid, &rows).await?;
        Ok(())
    }
}

/// The newest stored trade time, and the largest stored Binance or Bitstamp id per symbol.
type Marks = (i64, BTreeMap<String, u64>);

/// The newest stored trade time and, for Binance and Bitstamp, the largest stored id per
/// symbol (Binance rows are keyed `SYMBOL-id`, Bitstamp's by its exchange-wide transaction
/// id); `None` when nothing is stored yet.
fn since_marks(venue: Venue, marks: &[sealgate_store::TradeMark]) -> Result<Option<Marks>, ImportError> {
    let Some(newest) = marks.iter().map(|m| m.time_ms).max() else { return Ok(None) };
    let mut last_ids: BTreeMap<String, u64> = BTreeMap::new();
    if matches!(venue, Venue::Binance | Venue::Bitstamp) {
        let bad = || {
            ImportError::Store(StoreError::Internal {
                op: "refresh",
                cause: if venue == Venue::Binance {
                    "a stored Binance trade id is not SYMBOL-id"
                } else {
                    "a stored Bitstamp trade id is not a transaction id"
                },
            })
        };
        for m in marks {
            let raw = if venue == Venue::Binance {
                m.exchange_trade_id.strip_prefix(m.symbol.as_str()).and_then(|r| r.strip_prefix('-')).ok_or_else(bad)?
            } else {
                m.exchange_trade_id.as_str()
            };
            let id: u64 = raw.parse().map_err(|_| bad())?;
            let e = last_ids.entry(m.symbol.clone()).or_insert(id);
            *e = (*e).max(id);
        }
    }
    Ok(Some((newest, last_ids)))
}

/// `base × 2^(attempt-1)`, at most `max`.
fn backoff(base: Duration, max: Duration, attempt: i64) -> Duration {
    let exp = u32::try_from(attempt.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
    base.saturating_mul(1u32 << exp).min(max)
}

/// Non-zero balances merged per asset: `(asset → (free, locked))`, exact.
/// A parsed trade as the store keeps it.
fn stored_trade(t: venues::Trade) -> Trade {
    Trade {
        exchange_trade_id: t.exchange_trade_id,
        symbol: t.symbol,
        side: t.side,
        price: t.price,
        qty: t.qty,
        fee: t.fee,
        fee_asset: t.fee_asset,
        time_ms: t.time_ms,
    }
}

fn merge_balances(raw: &[VenueBalance]) -> Result<BTreeMap<String, (String, String)>, ImportError> {
    let bad = |field| ImportError::Venue(VenueError::Malformed { field, reason: "is out of range" });
    let mut sums: BTreeMap<&str, (Amount, Amount)> = BTreeMap::new();
    for b in raw {
        let free = Amount::parse(&b.free).ok_or(bad("free"))?;
        let locked = Amount::parse(&b.locked).ok_or(bad("locked"))?;
        let e = sums.entry(b.asset.as_str()).or_insert((Amount::ZERO, Amount::ZERO));
        e.0 = e.0.checked_add(free).ok_or(bad("free"))?;
        e.1 = e.1.checked_add(locked).ok_or(bad("locked"))?;
    }
    // Exact text when an asset appears once; the exact sum otherwise.
    Ok(sums
        .into_iter()
        .filter(|(_, (f, l))| !(f.is_zero() && l.is_zero()))
        .map(|(asset, (f, l))| {
            let once: Vec<&VenueBalance> = raw.iter().filter(|b| b.asset == asset).collect();
            match once.as_slice() {
                [only] => (asset.to_owned(), (only.free.clone(), only.locked.clone())),
                _ => (asset.to_owned(), (f.to_string(), l.to_string())),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vb(asset: &str, free: &str, locked: &str) -> VenueBalance {
        VenueBalance { asset: asset.into(), free: free.into(), locked: locked.into() }
    }

    #[test]
    fn balances_merge_exactly_and_zeros_drop() {
        let m = merge_balances(&[
            vb("BTC", "0.1", "0"),
            vb("BTC", "0.2", "0.00000001"),
            vb("USD", "10.50", "0.00"),
            vb("ETH", "0.00000000", "0"),
        ])
        .expect("merge");
        assert_eq!(m.get("BTC"), Some(&("0.3".to_owned(), "0.00000001".to_owned())));
        assert_eq!(m.get("USD"), Some(&("10.50".to_owned(), "0.00".to_owned())), "kept as printed");
        assert!(!m.contains_key("ETH"));
    }

    #[test]
    fn refresh_slots_are_stable_spread_and_in_the_period() {
        let every = Duration::from_secs(900);
        let offsets: Vec<Duration> = (0..1000).map(|i| refresh_offset(&format!("user-{i}"), "cid-1", every)).collect();
        assert!(offsets.iter().all(|o| *o < every));
        assert_eq!(refresh_offset("user-1", "cid-1", every), offsets[1], "stable");
        // Spread: every tenth of the period holds some of 1000 credentials, none most of them.
        let mut buckets = [0usize; 10];
        for o in &offsets {
            buckets[usize::try_from(o.as_millis() * 10 / every.as_millis()).expect("bucket")] += 1;
        }
        assert!(buckets.iter().all(|b| (50..=150).contains(b)), "{buckets:?}");
        let ms = Duration::from_millis;
        assert_eq!(until_next_slot(ms(10_000), ms(300), ms(1000)), ms(300));
        assert_eq!(until_next_slot(ms(10_300), ms(300), ms(1000)), ms(0));
        assert_eq!(until_next_slot(ms(10_301), ms(300), ms(1000)), ms(999));
    }

    #[test]
    fn binance_and_bitstamp_marks_give_the_largest_id_per_symbol() {
        let m = |symbol: &str, id: &str, time_ms| sealgate_store::TradeMark {
            symbol: symbol.into(),
            exchange_trade_id: id.into(),
            time_ms,
        };
        let marks = [m("BTCUSDT", "BTCUSDT-9", 5), m("BTCUSDT", "BTCUSDT-10", 5), m("ETHBTC", "ETHBTC-2", 7)];
        let (newest, ids) = since_marks(Venue::Binance, &marks).expect("ok").expect("some");
        assert_eq!(newest, 7);
        assert_eq!(ids.get("BTCUSDT"), Some(&10));
        assert_eq!(ids.get("ETHBTC"), Some(&2));
        assert!(since_marks(Venue::Binance, &[m("BTCUSDT", "ETHBTC-2", 1)]).is_err());
        assert!(since_marks(Venue::Binance, &[m("BTCUSDT", "BTCUSDT-x", 1)]).is_err());
        assert!(since_marks(Venue::Kraken, &[]).expect("ok").is_none());
        // Bitstamp's ids are plain exchange-wide transaction ids; a refresh starts at the largest.
        let marks = [m("btcusd", "209895701", 5), m("btcusd", "99", 9), m("ethusd", "209895703", 7)];
        let (newest, ids) = since_marks(Venue::Bitstamp, &marks).expect("ok").expect("some");
        assert_eq!((newest, ids.get("btcusd"), ids.get("ethusd")), (9, Some(&209_895_701), Some(&209_895_703)));
        assert!(since_marks(Venue::Bitstamp, &[m("btcusd", "btcusd-1", 1)]).is_err());
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let (base, max) = (Duration::from_secs(1), Duration::from_secs(10));
        let got: Vec<u64> = (1..=6).map(|a| backoff(base, max, a).as_secs()).collect();
        assert_eq!(got, [1, 2, 4, 8, 10, 10]);
        assert_eq!(backoff(base, max, i64::MAX), max);
        assert_eq!(backoff(base, max, 0), base);
        assert!(ImportError::Signer(SignerCallError::Unavailable("x".into())).is_transient());
        assert!(!ImportError::Signer(SignerCallError::Denied("x".into())).is_transient());
        assert!(!ImportError::Venue(VenueError::Exchange { status: 401, message: "x".into() }).is_transient());
        assert!(ImportError::Venue(VenueError::Exchange { status: 429, message: "x".into() }).is_transient());
        assert!(!ImportError::Store(StoreError::LeaseLost).is_transient());
    }
}
