//! The trader role: places and cancels a user's orders through the signer.
//!
//! The api calls exactly [`Trader::place`] and [`Trader::cancel`].
//!
//! Placing: the request is validated (side, type, exact decimal quantity and
//! price, symbol charset); the credential is looked up *for this owner*
//! (another user's credential is [`TradeError::NotFound`], exactly like a
//! missing one); the order is recorded (`new`) with a fresh client order id
//! that is also sent to the exchange, so a retried placement cannot become
//! two orders; then the venue request goes through the signer (the call names
//! the owner and the credential id: ids are unique per owner only), and the
//! order row takes the exchange's id and status. Exchange messages are
//! bounded before they reach the user.

use std::sync::Arc;

use sealgate_audit::Action;
use sealgate_store::{CredentialStatus, NewOrder, Order, Side, Store, StoreError};
use sealgate_vocab::{CredentialId, OwnerId};
use serde_json::json;

use crate::audit::{AuditEvent, AuditLog};

use crate::client::{ForwardCall, SignerCallError, SignerClient};
use crate::venues::{self, OrderKind, PlaceOrder, Venue, VenueError};
use sealgate_api_bodies::check_order;
pub use sealgate_api_bodies::{OrderRequest, OrderSide, OrderType};

/// Why an order was not placed or cancelled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TradeError {
    /// No such credential or order for this user.
    #[error("not found")]
    NotFound,
    /// The request is malformed (the message says which field and why).
    #[error("bad order: {0}")]
    BadRequest(String),
    /// The signer's policy refused it.
    #[error("denied: {0}")]
    Denied(String),
    /// The exchange refused it.
    #[error("the exchange refused the order ({status}): {message}")]
    Exchange {
        /// HTTP status from the exchange.
        status: u16,
        /// The exchange's message (bounded, never a secret).
        message: String,
    },
    /// The signer or exchange is unreachable.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

/// The store failed: the user gets a generic message; the detail goes to the log.
fn store_down(e: StoreError) -> TradeError {
    tracing::error!(error = %e, "trader: store failure");
    TradeError::Unavailable("the order store is unavailable".into())
}

/// A validated [`OrderRequest`].
struct Checked<'a> {
    side: Side,
    kind: OrderKind,
    price: Option<&'a str>,
}

/// The body's checks ([`sealgate_api_bodies::check_order`]), in the trader's terms.
fn validate(order: &OrderRequest) -> Result<Checked<'_>, TradeError> {
    let checked = check_order(order).map_err(TradeError::BadRequest)?;
    let side = match checked.side {
        OrderSide::Buy => Side::Buy,
        OrderSide::Sell => Side::Sell,
    };
    let kind = match checked.order_type {
        OrderType::Market => OrderKind::Market,
        OrderType::Limit => OrderKind::Limit,
    };
    Ok(Checked { side, kind, price: checked.price })
}

fn random_16() -> Result<[u8; 16], TradeError> {
    let mut b = [0u8; 16];
    aws_lc_rs::rand::fill(&mut b).map_err(|_| TradeError::Unavailable("no randomness".into()))?;
    Ok(b)
}

/// The signer's refusal, as the trader reports it.
fn signer_error(e: SignerCallError) -> TradeError {
    match e {
        SignerCallError::Denied(why) => TradeError::Denied(why),
        SignerCallError::NotFound => TradeError::Denied("this credential is not sealed for trading".into()),
        SignerCallError::BadRequest(why) => TradeError::BadRequest(why),
        SignerCallError::Unauthorized(_) => {
            TradeError::Unavailable("the trader is not authorized at the signer".into())
        }
        SignerCallError::Unavailable(why) => TradeError::Unavailable(format!("not sent: {why}")),
        SignerCallError::Indeterminate(why) => TradeError::Unavailable(format!(
            "{why}; the order is `unknown` until the exchange's answer to a status query settles it"
        )),
    }
}

/// The exchange's refusal or an unreadable answer, bounded.
fn venue_error(e: VenueError, status: u16) -> TradeError {
    match e {
        VenueError::Exchange { status, message } => TradeError::Exchange { status, message },
        other => TradeError::Exchange { status, message: format!("unreadable response: {other}") },
    }
}

/// The reason a frozen credential's placement is refused: in the order list, the user's
/// audit trail and the API answer.
pub const FROZEN: &str = "the credential is frozen";

/// Status queries made to reconcile one `unknown` order before the trader gives up and
/// asks the user to check the exchange.
pub const MAX_STATUS_CHECKS: i64 = 5;

/// How old an `unknown` order must be before "the exchange has no such order" is final:
/// Binance refuses a request older than its receive window (5 s by default), so a
/// placement still travelling after this cannot be executed any more.
const NEVER_ARRIVED_AFTER_MS: i64 = 10_000;

/// Most orders one lockdown cancels (oldest first): one request's work stays bounded;
/// a second `cancel_orders` lockdown takes the rest.
pub const MAX_LOCKDOWN_CANCELS: u32 = 500;

/// What happened to one order of a lockdown's "cancel all open orders".
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct CancelOutcome {
    /// Our order id.
    pub order_id: String,
    /// The credential it was placed with.
    pub credential_id: String,
    /// `canceled` (the exchange cancelled it), `closed` (it had filled, expired or been
    /// cancelled already) or `failed` (it may still be open: see `reason`).
    pub result: String,
    /// The order's status after the attempt.
    pub status: String,
    /// Why it failed, for `failed`.
    pub reason: Option<String>,
}

/// The trader.
pub struct Trader {
    store: Store,
    client: Arc<dyn SignerClient>,
    audit: Option<AuditLog>,
}

/// The order status and the reason for a placement the signer call did not complete:
/// `rejected` when nothing was sent, `unknown` only when the request may have reached the
/// exchange.
fn unsent(e: &SignerCallError) -> (&'static str, String) {
    let b = |m: &str| crate::json::bounded(m);
    match e {
        SignerCallError::Indeterminate(m) => ("unknown", format!("{}; its status will be queried", b(m))),
        SignerCallError::Denied(m) => ("rejected", format!("denied by policy: {}", b(m))),
        SignerCallError::NotFound => ("rejected", "this credential is not sealed for trading".into()),
        SignerCallError::BadRequest(m) => ("rejected", format!("not sent: {}", b(m))),
        SignerCallError::Unauthorized(_) => ("rejected", "not sent: the trader is not authorized at the signer".into()),
        SignerCallError::Unavailable(m) => ("rejected", format!("not sent: {}", b(m))),
    }
}

/// The order status for an exchange answer that is not a placement: `rejected` when the
/// exchange refused it, `unknown` when it may have executed it (a 5xx "execution status
/// unknown", an answer we cannot read).
fn refused_status(e: &VenueError) -> &'static str {
    match e {
        VenueError::Exchange { status: 429 | 418, .. } => "rejected",
        VenueError::Exchange { .. } if e.is_transient() => "unknown",
        VenueError::Exchange { .. } => "rejected",
        _ => "unknown",
    }
}

impl Trader {
    /// Queues a refresh of the credential's portfolio so the order's trades appear: the
    /// order stands whether or not this works, so a failure is logged, not returned.
    async fn refresh_after_order(&self, owner: &str, credential_id: &str) {
        match crate::importer::enqueue_refresh_now(&self.store, owner, credential_id).await {
            Ok(Some(job)) => tracing::info!(job, credential = %credential_id, "refresh queued after an order"),
            Ok(None) => {}
            Err(e) => tracing::warn!(credential = %credential_id, error = %e, "refresh after an order not queued"),
        }
    }

    /// A trader that reaches exchanges through `client` (role `trader`).
    pub fn new(store: Store, client: Arc<dyn SignerClient>) -> Self {
        Self { store, client, audit: None }
    }

    /// Records the trader's own refusals (a placement on a frozen credential) in `audit`,
    /// as denials in the owner's trail.
    pub fn with_audit(mut self, audit: AuditLog) -> Self {
        self.audit = Some(audit);
        self
    }

    /// The owner's credential, its venue and whether it is frozen; `NotFound` for anyone
    /// else's or a deleted one.
    async fn credential(&self, owner: &str, id: &str) -> Result<(Venue, bool), TradeError> {
        let cred = self.store.get_credential(owner, id).await.map_err(store_down)?.ok_or(TradeError::NotFound)?;
        let frozen = match cred.status {
            CredentialStatus::Active => false,
            CredentialStatus::Frozen => true,
            _ => return Err(TradeError::NotFound),
        };
        let venue = Venue::from_exchange(&cred.exchange)
            .map_err(|_| TradeError::BadRequest(format!("trading is not supported on {}", cred.exchange)))?;
        Ok((venue, frozen))
    }

    async fn set_status(
        &self,
        owner: &str,
        id: &str,
        exchange_order_id: Option<&str>,
        status: &str,
        reason: Option<&str>,
    ) -> Result<(), TradeError> {
        self.store.set_order_outcome(owner, id, exchange_order_id, status, reason).await.map_err(store_down)
    }

    /// Puts the trader's own refusal on the audit record (a denial in the owner's trail).
    async fn audit_refusal(
        &self,
        owner: &str,
        credential_id: &str,
        detail: serde_json::Value,
    ) -> Result<(), TradeError> {
        let Some(audit) = &self.audit else { return Ok(()) };
        let refused = crate::signer::refusal_event(owner, credential_id, &detail);
        let event = AuditEvent::new("role:trader", Action::Denied, credential_id, detail).owner(owner);
        audit.record(event).await.map(|_| ()).map_err(|e| {
            tracing::error!(error = %e, "trader: refusal not audited");
            TradeError::Unavailable("the order was refused, but the audit log is unavailable".into())
        })?;
        if let Some(event) = refused
            && let Err(e) = crate::notifier::enqueue(&self.store, &event).await
        {
            tracing::warn!(error = %e, "refusal notification not queued");
        }
        Ok(())
    }

    /// The signer call for `owner`'s credential: it names both, so the signer can only open
    /// the credential this owner asked for.
    fn call(owner: &str, credential_id: &str, request: sealgate_exchanges::Request) -> Result<ForwardCall, TradeError> {
        Ok(ForwardCall {
            owner: OwnerId::parse(owner).map_err(|_| TradeError::NotFound)?,
            credential_id: CredentialId::parse(credential_id).map_err(|_| TradeError::NotFound)?,
            request,
        })
    }

    async fn reload(&self, owner: &str, id: &str) -> Result<Order, TradeError> {
        self.store.order(owner, id).await.map_err(store_down)?.ok_or(TradeError::NotFound)
    }

    /// Places an order for `owner`. Every order that passes validation is recorded: one
    /// that is never sent ends `rejected` with its reason (a frozen credential, a policy
    /// refusal, an unreachable signer); one whose request may have reached the exchange
    /// without an answer ends `unknown` and is reconciled ([`Trader::reconcile`]).
    pub async fn place(&self, owner: &str, order: &OrderRequest) -> Result<Order, TradeError> {
        let checked = validate(order)?;
        let (venue, frozen) = self.credential(owner, order.credential_id.as_str()).await?;
        let id: String = random_16()?.iter().map(|b| format!("{b:02x}")).collect();
        let client_order_id = venues::client_order_id(venue, &random_16()?);
        let place = PlaceOrder {
            symbol: &order.symbol,
            side: checked.side,
            kind: checked.kind,
            qty: &order.qty,
            price: checked.price,
            client_order_id: &client_order_id,
        };
        let request = venues::place_request(venue, &place).map_err(|e| TradeError::BadRequest(e.to_string()))?;
        let new = NewOrder {
            id: &id,
            owner,
            credential_id: order.credential_id.as_str(),
            client_order_id: &client_order_id,
            symbol: &order.symbol,
            side: checked.side,
            order_type: &order.order_type,
            qty: &order.qty,
            price: checked.price,
        };
        self.store.create_order(&new).await.map_err(store_down)?;
        if frozen {
            // Refused here, before the signer: on the order, and in the owner's trail.
            self.set_status(owner, &id, None, "rejected", Some(FROZEN)).await?;
            tracing::info!(order = %id, credential = %order.credential_id, "order refused: the credential is frozen");
            self.audit_refusal(
                owner,
                order.credential_id.as_str(),
                json!({"op": "place", "order": id, "exchange": venue.to_string(), "symbol": order.symbol,
                       "reason": FROZEN}),
            )
            .await?;
            return Err(TradeError::Denied(FROZEN.into()));
        }
        tracing::info!(order = %id, credential = %order.credential_id, exchange = %venue, "placing order");

        let call = Self::call(owner, order.credential_id.as_str(), request)?;
        let resp = match self.client.forward(&call).await {
            Ok(r) => r,
            Err(e) => {
                let (status, reason) = unsent(&e);
                self.set_status(owner, &id, None, status, Some(&reason)).await?;
                tracing::warn!(order = %id, status, reason = %reason, "order not placed");
                return Err(signer_error(e));
            }
        };
        match venues::parse_placed(venue, resp.view()) {
            Ok(placed) => {
                self.set_status(owner, &id, Some(&placed.exchange_order_id), placed.status, None).await?;
                tracing::info!(order = %id, status = placed.status, "order placed");
                self.refresh_after_order(owner, order.credential_id.as_str()).await;
                self.reload(owner, &id).await
            }
            Err(e) => {
                let status = refused_status(&e);
                let reason = match status {
                    "unknown" => format!("{}; its status will be queried", crate::json::bounded(&e.to_string())),
                    _ => crate::json::bounded(&e.to_string()),
                };
                self.set_status(owner, &id, None, status, Some(&reason)).await?;
                tracing::warn!(order = %id, http = resp.status, status, "order refused or unreadable");
                Err(venue_error(e, resp.status))
            }
        }
    }

    /// Cancels `owner`'s order `order_id`. Allowed on a frozen credential too: cancelling
    /// only tightens (the signer's policy allows cancels, and nothing else, when frozen).
    pub async fn cancel(&self, owner: &str, order_id: &str) -> Result<Order, TradeError> {
        if order_id.is_empty() || order_id.len() > 128 {
            return Err(TradeError::NotFound);
        }
        let order = self.reload(owner, order_id).await?;
        let (venue, _frozen) = self.credential(owner, &order.credential_id).await?;
        if matches!(order.status.as_str(), "canceled" | "filled" | "rejected" | "expired") {
            return Err(TradeError::BadRequest(format!("the order is already {}", order.status)));
        }
        let Some(exchange_order_id) = order.exchange_order_id.as_deref() else {
            return Err(TradeError::BadRequest("the exchange never acknowledged this order".into()));
        };
        let request = venues::cancel_request(venue, &order.symbol, exchange_order_id)
            .map_err(|e| TradeError::BadRequest(e.to_string()))?;
        let call = Self::call(owner, &order.credential_id, request)?;
        let resp = self.client.forward(&call).await.map_err(signer_error)?;
        venues::parse_cancelled(venue, resp.view()).map_err(|e| venue_error(e, resp.status))?;
        self.set_status(owner, &order.id, None, "canceled", None).await?;
        tracing::info!(order = %order.id, "order cancelled");
        self.reload(owner, &order.id).await
    }

    /// Asks the exchange, by our client order id, what became of `owner`'s order if it is
    /// `unknown` (its placement got no answer), and records the answer: its real status, or
    /// `rejected` when the exchange has no such order (and the request is too old to still
    /// arrive). At most [`MAX_STATUS_CHECKS`] queries per order; each goes through the signer
    /// (audited like every use). Any other order is returned as it is.
    pub async fn reconcile(&self, owner: &str, order_id: &str) -> Result<Order, TradeError> {
        let order = self.reload(owner, order_id).await?;
        if order.status != "unknown" || order.status_checks >= MAX_STATUS_CHECKS {
            return Ok(order);
        }
        let (venue, _frozen) = self.credential(owner, &order.credential_id).await?;
        let request = venues::status_request(venue, &order.symbol, &order.client_order_id)
            .map_err(|e| TradeError::BadRequest(e.to_string()))?;
        let Some(request) = request else {
            let why = format!(
                "the placement got no answer and {venue} offers no status query by client order id \
                               here: check the order on the exchange"
            );
            self.store.count_status_check(owner, order_id).await.map_err(store_down)?;
            self.set_status(owner, order_id, None, "unknown", Some(&why)).await?;
            return self.reload(owner, order_id).await;
        };
        let checks = self.store.count_status_check(owner, order_id).await.map_err(store_down)?;
        let call = Self::call(owner, &order.credential_id, request)?;
        let answer = match self.client.forward(&call).await {
            Ok(resp) => venues::parse_status(venue, resp.view()).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match answer {
            Ok(Some(found)) => {
                self.set_status(owner, order_id, Some(&found.exchange_order_id), found.status, None).await?;
                tracing::info!(order = %order_id, status = found.status, "unknown order reconciled");
            }
            Ok(None)
                if crate::now_ms().saturating_sub(u64::try_from(order.created_ms).unwrap_or(0))
                    >= NEVER_ARRIVED_AFTER_MS as u64 =>
            {
                let why = "the exchange has no such order: the placement never reached it";
                self.set_status(owner, order_id, None, "rejected", Some(why)).await?;
                tracing::info!(order = %order_id, "unknown order reconciled: never arrived");
            }
            Ok(None) => tracing::debug!(order = %order_id, "not at the exchange yet; asking again later"),
            Err(e) => {
                tracing::warn!(order = %order_id, checks, error = %crate::json::bounded(&e), "status query failed");
                if checks >= MAX_STATUS_CHECKS {
                    let why = format!(
                        "the placement got no answer and {checks} status queries did not settle it: check the \
                         order on the exchange"
                    );
                    self.set_status(owner, order_id, None, "unknown", Some(&why)).await?;
                }
            }
        }
        self.reload(owner, order_id).await
    }

    /// Reconciles every user's `unknown` orders in the background, every `every`, until
    /// `shutdown` turns true (or its sender is dropped).
    pub async fn run_reconciler(
        self: Arc<Self>,
        every: std::time::Duration,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        let every_ms = i64::try_from(every.as_millis()).unwrap_or(i64::MAX);
        loop {
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                r = shutdown.changed() => if r.is_err() || *shutdown.borrow() { break },
            }
            let before = i64::try_from(crate::now_ms()).unwrap_or(i64::MAX).saturating_sub(every_ms);
            let orders = match self.store.unknown_orders(before, MAX_STATUS_CHECKS, 100).await {
                Ok(o) => o,
                Err(e) => {
                    tracing::warn!(error = %e, "reconciler: store unavailable");
                    continue;
                }
            };
            for o in orders {
                if let Err(e) = self.reconcile(&o.owner, &o.id).await {
                    tracing::warn!(order = %o.id, error = %e, "reconcile failed");
                }
            }
        }
        tracing::info!("order reconciler stopped");
    }

    /// A lockdown's "cancel all open orders": every order of `owner`'s frozen credentials
    /// that the exchange may still execute, cancelled through the signer one by one; what
    /// happened to each is reported. An `unknown` order is reconciled first.
    pub async fn cancel_frozen_orders(&self, owner: &str) -> Result<Vec<CancelOutcome>, TradeError> {
        let orders = self.store.open_orders_on(owner, "frozen", MAX_LOCKDOWN_CANCELS).await.map_err(store_down)?;
        let mut out = Vec::with_capacity(orders.len());
        for o in orders {
            let current = match o.status.as_str() {
                "unknown" => self.reconcile(owner, &o.id).await.unwrap_or(o),
                _ => o,
            };
            let (result, status, reason) = match current.status.as_str() {
                "canceled" | "filled" | "rejected" | "expired" => ("closed", current.status.clone(), None),
                _ => match self.cancel(owner, &current.id).await {
                    Ok(done) => ("canceled", done.status, None),
                    Err(e) => {
                        let now = self.reload(owner, &current.id).await.map_or(current.status.clone(), |x| x.status);
                        ("failed", now, Some(crate::json::bounded(&e.to_string())))
                    }
                },
            };
            tracing::info!(order = %current.id, result, "lockdown: cancel");
            out.push(CancelOutcome {
                order_id: current.id,
                credential_id: current.credential_id,
                result: result.into(),
                status,
                reason,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(side: &str, order_type: &str, qty: &str, price: Option<&str>) -> OrderRequest {
        OrderRequest {
            credential_id: CredentialId::parse("cid").expect("id"),
            symbol: "BTCUSDT".into(),
            side: side.into(),
            order_type: order_type.into(),
            qty: qty.into(),
            price: price.map(str::to_owned),
        }
    }

    #[test]
    fn orders_are_validated_before_anything_else() {
        assert!(validate(&req("buy", "limit", "0.5", Some("30000.1"))).is_ok());
        assert!(validate(&req("sell", "market", "1", None)).is_ok());
        for (r, why) in [
            (req("BUY", "market", "1", None), "side"),
            (req("buy", "stop", "1", None), "order_type"),
            (req("buy", "limit", "1", None), "needs a price"),
            (req("buy", "market", "1", Some("2")), "must not have a price"),
            (req("buy", "market", "0", None), "qty"),
            (req("buy", "market", "-1", None), "qty"),
            (req("buy", "market", "1e3", None), "qty"),
            (req("buy", "market", "0.1.2", None), "qty"),
            (req("buy", "limit", "1", Some("abc")), "price"),
            (req("buy", "limit", "1", Some("0")), "price"),
        ] {
            match validate(&r) {
                Err(TradeError::BadRequest(m)) => assert!(m.contains(why), "{m} should mention {why}"),
                _ => panic!("{r:?} accepted"),
            }
        }
        let mut r = req("buy", "market", "1", None);
        r.symbol = "BTC USDT".into();
        assert!(matches!(validate(&r), Err(TradeError::BadRequest(_))));
        r.symbol = "X".repeat(33);
        assert!(matches!(validate(&r), Err(TradeError::BadRequest(_))));
        // The id rule is the body's type: an order naming a bad id never parses.
        for bad in ["", "a b", &"x".repeat(65)] {
            let body = serde_json::json!({"credential_id": bad, "symbol": "BTCUSDT", "side": "buy",
                "order_type": "market", "qty": "1"});
            assert!(serde_json::from_value::<OrderRequest>(body).is_err(), "{bad:?}");
        }
    }
}
