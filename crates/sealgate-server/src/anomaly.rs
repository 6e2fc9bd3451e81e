//! Anomaly detection in the signer (issue 17 item 4): before an order is
//! signed, and after a withdraw attempt is denied, the `sealgate-anomaly`
//! detectors judge it against the credential's baseline and the market.
//!
//! - The baseline and the owner's overrides of the thresholds are rows of
//!   the store (migration 0012). The overrides are read again every
//!   `revalidate` interval; the baseline is read, judged and written back in
//!   one transaction per judgement, which no other signer's judgement of the
//!   same credential interleaves with, so signers on one database learn from
//!   each other's orders (a burst spread over them is one burst). A baseline
//!   row that does not read is a fresh baseline (logged); overrides that do
//!   not read refuse the credential's orders, as unreadable limits do.
//! - Market facts (last trade, 24 h quote volume) come from the exchange's
//!   public ticker ([`sealgate_exchanges::market_stats_request`]) through the
//!   signer's own exchange addresses and send path, cached for
//!   [`AnomalyConfig::market_ttl`] (an unreadable ticker is cached as unknown
//!   for as long: the detectors that need it do not judge, the others do).
//! - On a verdict the signer refuses the request, freezes the credential
//!   (the lockdown's `frozen` status), writes an `anomaly_frozen` audit record
//!   with the rule, the measured values and the thresholds, and queues an
//!   `anomaly` notification to the owner and the operators. Unfreezing is the
//!   owner's action, as after a lockdown.
//!
//! The detectors read the policy's view of the order (the canonical request's
//! [`sealgate_exchanges::OrderFacts`]): a batch across several markets names
//! no one symbol and is judged by the burst detector only.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sealgate_anomaly::{Baseline, MarketFacts, Order, Rules, Side, Verdict};
use sealgate_exchanges::{OrderFacts, SignedRequest};
use sealgate_store::Store;

use crate::client::SignerCallError;

/// Where the detectors read the time (Unix ms): the system clock, or a test's.
#[derive(Clone)]
pub struct AnomalyClock(Arc<dyn Fn() -> u64 + Send + Sync>);

impl AnomalyClock {
    /// The system clock.
    pub fn system() -> Self {
        Self(Arc::new(crate::now_ms))
    }

    /// Another clock (a test simulating hours of trading without sleeping).
    pub fn new(f: impl Fn() -> u64 + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }

    fn now(&self) -> u64 {
        (self.0)()
    }
}

impl std::fmt::Debug for AnomalyClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AnomalyClock")
    }
}

/// How the signer runs the detectors.
#[derive(Debug, Clone)]
pub struct AnomalyConfig {
    /// Whether they run at all (default true; a credential's own overrides can turn
    /// them off for it: `{"enabled": false}`).
    pub enabled: bool,
    /// How long a market's ticker facts are used before they are read again (default 10 s).
    pub market_ttl: Duration,
    /// The detectors' clock.
    pub clock: AnomalyClock,
}

impl Default for AnomalyConfig {
    fn default() -> Self {
        Self { enabled: true, market_ttl: Duration::from_secs(10), clock: AnomalyClock::system() }
    }
}

/// One credential's rules, as last read (its baseline is read and written in the store, in
/// one transaction per judgement: [`Detectors::judged`]).
/// The rules applied: for a credential that names its owner's authority (`owner_bound`), the
/// stored overrides only tighten the defaults (a row is not the owner's word).
fn effective(stored: &Rules, owner_bound: bool) -> Rules {
    if owner_bound { Rules::default().strictest(stored) } else { stored.clone() }
}

struct Slot {
    rules: Rules,
    read_ms: u64,
}

type Key = (String, String);

/// The detectors' state in one signer.
pub(crate) struct Detectors {
    cfg: AnomalyConfig,
    revalidate_ms: u64,
    slots: Mutex<HashMap<Key, Slot>>,
    markets: Mutex<HashMap<Key, (Instant, Option<sealgate_exchanges::MarketStats>)>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn store_err(e: sealgate_store::StoreError) -> SignerCallError {
    tracing::error!(error = %e, "anomaly: store error");
    SignerCallError::Unavailable("store unavailable".into())
}

/// Most credentials (and markets) whose state one signer keeps.
const MAX_SLOTS: usize = 100_000;
const MAX_MARKETS: usize = 4096;

/// A plain decimal as a float (the detectors' heuristics, not amounts).
fn float(s: &str) -> Option<f64> {
    s.parse::<f64>().ok().filter(|x| x.is_finite() && *x >= 0.0)
}

impl Detectors {
    pub(crate) fn new(cfg: AnomalyConfig, revalidate: Duration) -> Self {
        Self {
            cfg,
            revalidate_ms: revalidate.as_millis() as u64,
            slots: Mutex::new(HashMap::new()),
            markets: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn now(&self) -> u64 {
        self.cfg.clock.now()
    }

    /// Reads the credential's overrides when this signer's copy is older than `revalidate`
    /// (or absent).
    async fn refresh(&self, store: &Store, owner: &str, cid: &str) -> Result<(), SignerCallError> {
        let now = crate::now_ms();
        let key = (owner.to_owned(), cid.to_owned());
        if lock(&self.slots).get(&key).is_some_and(|s| now.saturating_sub(s.read_ms) < self.revalidate_ms) {
            return Ok(());
        }
        let overrides = store.anomaly_overrides(owner, cid).await.map_err(store_err)?;
        let rules = match overrides {
            None => Rules::default(),
            Some(text) => Rules::default().with_overrides(&text).map_err(|e| {
                tracing::warn!(owner, credential = cid, error = %e, "stored anomaly rules unreadable");
                SignerCallError::Denied("the credential's stored anomaly rules are unreadable".into())
            })?,
        };
        let mut slots = lock(&self.slots);
        if slots.len() >= MAX_SLOTS && !slots.contains_key(&key) {
            slots.clear();
        }
        slots.insert(key, Slot { rules, read_ms: now });
        Ok(())
    }

    /// The market's last trade and 24 h volume, from the exchange's public ticker.
    async fn market(
        &self,
        sender: &sealgate_send::Sender,
        base: Option<&str>,
        exchange: &str,
        symbol: &str,
    ) -> MarketFacts {
        let key = (exchange.to_owned(), symbol.to_owned());
        if let Some((at, stats)) = lock(&self.markets).get(&key)
            && at.elapsed() < self.cfg.market_ttl
        {
            return facts(*stats);
        }
        let read = async {
            let req = sealgate_exchanges::market_stats_request(exchange, symbol)?;
            let reply = sender
                .send(exchange, base?, &SignedRequest::from_request(&req))
                .await
                .map_err(|e| tracing::warn!(exchange, error = %e, "anomaly: ticker unreachable"))
                .ok()?;
            if reply.status != 200 {
                tracing::warn!(exchange, status = reply.status, "anomaly: ticker refused");
                return None;
            }
            sealgate_exchanges::market_stats(exchange, symbol, &reply.body)
                .map_err(|e| tracing::warn!(exchange, error = %e, "anomaly: ticker unreadable"))
                .ok()
        };
        let stats = read.await;
        let mut markets = lock(&self.markets);
        if markets.len() >= MAX_MARKETS {
            let ttl = self.cfg.market_ttl;
            markets.retain(|_, (at, _)| at.elapsed() < ttl);
            if markets.len() >= MAX_MARKETS {
                markets.clear();
            }
        }
        markets.insert(key, (Instant::now(), stats));
        facts(stats)
    }

    /// Judges an order placement before it is signed; one let through is learnt and the
    /// baseline written back. `Ok(Some(verdict))`: freeze.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn order(
        &self,
        store: &Store,
        sender: &sealgate_send::Sender,
        base: Option<&str>,
        owner: &str,
        cid: &str,
        exchange: &str,
        facts: &OrderFacts,
        owner_bound: bool,
    ) -> Result<Option<Verdict>, SignerCallError> {
        if !self.cfg.enabled || !facts.places_order {
            return Ok(None);
        }
        self.refresh(store, owner, cid).await?;
        let symbol = facts.symbol.clone().unwrap_or_default();
        let market = match symbol.is_empty() {
            true => MarketFacts::default(),
            false => self.market(sender, base, exchange, &symbol).await,
        };
        let reference = market.last_price.and_then(|p| sealgate_policy::Decimal::parse(&format!("{p:.12}")));
        let notional =
            sealgate_policy::RequestFacts::from_order(sealgate_exchanges::EndpointClass::Trade, facts, reference)
                .notional
                .and_then(|n| float(&n.to_string()));
        let leg = facts.leg();
        let side = leg.and_then(|l| l.side).map(|s| match s {
            sealgate_exchanges::Side::Buy => Side::Buy,
            sealgate_exchanges::Side::Sell => Side::Sell,
        });
        let limit_price = leg.and_then(|l| match &l.price {
            sealgate_exchanges::Price::Limit(p) => float(p),
            sealgate_exchanges::Price::Market => None,
        });
        let order = Order { at_ms: self.now(), symbol: &symbol, side, notional, limit_price };
        let Some(rules) = self.rules(owner, cid, owner_bound) else { return Ok(None) };
        self.judged(store, owner, cid, |baseline| {
            sealgate_anomaly::check_order(&rules, baseline, &order, &market)?;
            baseline.record_order(&order);
            Ok(())
        })
        .await
    }

    /// This signer's copy of the credential's rules, as applied (see [`effective`]).
    fn rules(&self, owner: &str, cid: &str, owner_bound: bool) -> Option<Rules> {
        lock(&self.slots).get(&(owner.to_owned(), cid.to_owned())).map(|s| effective(&s.rules, owner_bound))
    }

    /// Runs `judge` on the credential's stored baseline and stores what it made of it, in one
    /// transaction that no other signer's judgement of the credential interleaves with: with
    /// several signers on one database each order is learnt (a burst spread over signers is
    /// still one burst). An `Err` verdict stores nothing; a baseline that does not read is a
    /// fresh one (logged).
    async fn judged(
        &self,
        store: &Store,
        owner: &str,
        cid: &str,
        judge: impl FnOnce(&mut Baseline) -> Result<(), Verdict>,
    ) -> Result<Option<Verdict>, SignerCallError> {
        store
            .update_anomaly_baseline(owner, cid, |stored| {
                let mut baseline = match stored.as_deref().map(Baseline::from_json) {
                    None => Baseline::new(),
                    Some(Ok(b)) => b,
                    Some(Err(e)) => {
                        tracing::warn!(owner, credential = cid, error = %e, "stored anomaly baseline unreadable: starting afresh");
                        Baseline::new()
                    }
                };
                match judge(&mut baseline) {
                    Ok(()) => (Some(baseline.to_json()), None),
                    Err(v) => (None, Some(v)),
                }
            })
            .await
            .map_err(store_err)
    }

    /// Learns of a denied withdraw attempt and judges the credential. `Ok(Some(verdict))`: freeze.
    pub(crate) async fn withdraw_denied(
        &self,
        store: &Store,
        owner: &str,
        cid: &str,
        owner_bound: bool,
    ) -> Result<Option<Verdict>, SignerCallError> {
        if !self.cfg.enabled {
            return Ok(None);
        }
        self.refresh(store, owner, cid).await?;
        let now = self.now();
        let Some(rules) = self.rules(owner, cid, owner_bound) else { return Ok(None) };
        // The attempt is learnt whatever the verdict: the baseline is stored either way.
        let mut verdict = None;
        self.judged(store, owner, cid, |baseline| {
            baseline.record_withdraw_denied(now, &rules);
            verdict = sealgate_anomaly::check_withdraw_denied(&rules, baseline, now).err();
            Ok(())
        })
        .await?;
        Ok(verdict)
    }

    /// Forgets this signer's copy of a credential's state (read again on its next use).
    pub(crate) fn forget(&self, owner: &str, cid: &str) {
        lock(&self.slots).remove(&(owner.to_owned(), cid.to_owned()));
    }
}

fn facts(stats: Option<sealgate_exchanges::MarketStats>) -> MarketFacts {
    stats.map_or_else(MarketFacts::default, |s| MarketFacts {
        last_price: Some(s.last_price),
        quote_volume_24h: Some(s.quote_volume_24h),
    })
}

/// The `anomaly_frozen` audit record's detail: the rule, the symbol, and each measured
/// value with its threshold, as text (audit records hold no floating-point numbers).
pub(crate) fn evidence_detail(v: &Verdict) -> serde_json::Value {
    let evidence: Vec<serde_json::Value> = v
        .evidence
        .iter()
        .map(|e| {
            serde_json::json!({
                "measure": e.measure,
                "value": sealgate_anomaly::format_number(e.value),
                "threshold": sealgate_anomaly::format_number(e.threshold),
            })
        })
        .collect();
    serde_json::json!({"rule": v.rule.name(), "symbol": v.symbol, "evidence": evidence})
}
