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

use sealgate_store::{CredentialStatus, NewOrder, Order, Side, Store, StoreError};
use sealgate_vocab::{CredentialId, OwnerId};

use crate::client::{ForwardCall, SignerCallError, SignerClient};
use crate::venues::{self, OrderKind, PlaceOrder, Venue, VenueError};

/// An order as the user asks for it (exchange-neutral).
///
/// Its schema states what [`Trader::place`] checks first (a refusal is a 400 naming the field).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderRequest {
    /// The credential to trade with (one of the caller's): the one credential id rule.
    #[schema(value_type = String, min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9._:-]{1,64}$")]
    pub credential_id: CredentialId,
    /// The exchange's symbol spelling (`BTCUSDT`, `XBTUSD`, `BTC-USDT`, `BTC-USD`).
    #[schema(min_length = 1, max_length = 32, pattern = "^[A-Za-z0-9_/.-]{1,32}$")]
    pub symbol: String,
    /// `buy` or `sell`.
    #[schema(value_type = OrderSide)]
    pub side: String,
    /// `market` or `limit`.
    #[schema(value_type = OrderType)]
    pub order_type: String,
    /// Quantity in base units, a positive decimal string.
    #[schema(max_length = 40, pattern = "^([0-9]*[1-9][0-9]*(\\.[0-9]+)?|[0-9]+\\.[0-9]*[1-9][0-9]*)$")]
    pub qty: String,
    /// Limit price, a positive decimal string (limit orders only; a market order has none).
    #[serde(default)]
    #[schema(max_length = 40, pattern = "^([0-9]*[1-9][0-9]*(\\.[0-9]+)?|[0-9]+\\.[0-9]*[1-9][0-9]*)$")]
    pub price: Option<String>,
}

/// The side of an order (the schema of [`OrderRequest::side`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OrderSide {
    /// Buy the base asset.
    Buy,
    /// Sell the base asset.
    Sell,
}

/// The type of an order (the schema of [`OrderRequest::order_type`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OrderType {
    /// Fill now at the market's price.
    Market,
    /// Rest at a limit price.
    Limit,
}

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

/// The checks [`Trader::place`] makes before anything else (for the `api_bodies` fuzz
/// target, through `api::check_body`).
#[doc(hidden)]
pub fn check_order(order: &OrderRequest) -> Result<(), TradeError> {
    validate(order).map(|_| ())
}

fn validate(order: &OrderRequest) -> Result<Checked<'_>, TradeError> {
    let bad = |m: &str| TradeError::BadRequest(m.to_owned());
    // credential_id is a CredentialId: the one id rule held when the body was parsed.
    venues::check_symbol(&order.symbol).map_err(|e| TradeError::BadRequest(e.to_string()))?;
    let side = match order.side.as_str() {
        "buy" => Side::Buy,
        "sell" => Side::Sell,
        _ => return Err(bad("side must be buy or sell")),
    };
    let kind = match order.order_type.as_str() {
        "market" => OrderKind::Market,
        "limit" => OrderKind::Limit,
        _ => return Err(bad("order_type must be market or limit")),
    };
    venues::check_positive(&order.qty, "qty").map_err(|e| TradeError::BadRequest(e.to_string()))?;
    let price = match (kind, order.price.as_deref()) {
        (OrderKind::Limit, None) => return Err(bad("a limit order needs a price")),
        (OrderKind::Market, Some(_)) => return Err(bad("a market order must not have a price")),
        (OrderKind::Limit, Some(p)) => {
            venues::check_positive(p, "price").map_err(|e| TradeError::BadRequest(e.to_string()))?;
            Some(p)
        }
        (OrderKind::Market, None) => None,
    };
    Ok(Checked { side, kind, price })
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
        SignerCallError::Unavailable(why) => TradeError::Unavailable(why),
    }
}

/// The exchange's refusal or an unreadable answer, bounded.
fn venue_error(e: VenueError, status: u16) -> TradeError {
    match e {
        VenueError::Exchange { status, message } => TradeError::Exchange { status, message },
        other => TradeError::Exchange { status, message: format!("unreadable response: {other}") },
    }
}

/// The trader.
pub struct Trader {
    store: Store,
    client: Arc<dyn SignerClient>,
}

impl Trader {
    /// A trader that reaches exchanges through `client` (role `trader`).
    pub fn new(store: Store, client: Arc<dyn SignerClient>) -> Self {
        Self { store, client }
    }

    /// The owner's active credential and its venue; `NotFound` for anyone else's.
    async fn credential(&self, owner: &str, id: &str) -> Result<Venue, TradeError> {
        let cred = self.store.get_credential(owner, id).await.map_err(store_down)?.ok_or(TradeError::NotFound)?;
        match cred.status {
            CredentialStatus::Active => {}
            CredentialStatus::Frozen => return Err(TradeError::Denied("the credential is frozen".into())),
            _ => return Err(TradeError::NotFound),
        }
        Venue::from_exchange(&cred.exchange)
            .map_err(|_| TradeError::BadRequest(format!("trading is not supported on {}", cred.exchange)))
    }

    async fn set_status(
        &self,
        owner: &str,
        id: &str,
        exchange_order_id: Option<&str>,
        status: &str,
    ) -> Result<(), TradeError> {
        self.store.update_order(owner, id, exchange_order_id, status).await.map_err(store_down)
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

    /// Places an order for `owner`.
    pub async fn place(&self, owner: &str, order: &OrderRequest) -> Result<Order, TradeError> {
        let checked = validate(order)?;
        let venue = self.credential(owner, order.credential_id.as_str()).await?;
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
        tracing::info!(order = %id, credential = %order.credential_id, exchange = %venue, "placing order");

        let call = Self::call(owner, order.credential_id.as_str(), request)?;
        let resp = match self.client.forward(&call).await {
            Ok(r) => r,
            Err(e) => {
                // Unreachable: the exchange may or may not have the order; say so.
                let status = if e.is_transient() { "unknown" } else { "rejected" };
                self.set_status(owner, &id, None, status).await?;
                tracing::warn!(order = %id, error = %e, "order not placed");
                return Err(signer_error(e));
            }
        };
        match venues::parse_placed(venue, &resp) {
            Ok(placed) => {
                self.set_status(owner, &id, Some(&placed.exchange_order_id), placed.status).await?;
                tracing::info!(order = %id, status = placed.status, "order placed");
                self.reload(owner, &id).await
            }
            Err(e) => {
                let status = match e {
                    VenueError::Exchange { .. } if !e.is_transient() => "rejected",
                    _ => "unknown",
                };
                self.set_status(owner, &id, None, status).await?;
                tracing::warn!(order = %id, http = resp.status, status, "order refused or unreadable");
                Err(venue_error(e, resp.status))
            }
        }
    }

    /// Cancels `owner`'s order `order_id`.
    pub async fn cancel(&self, owner: &str, order_id: &str) -> Result<Order, TradeError> {
        if order_id.is_empty() || order_id.len() > 128 {
            return Err(TradeError::NotFound);
        }
        let order = self.reload(owner, order_id).await?;
        let venue = self.credential(owner, &order.credential_id).await?;
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
        venues::parse_cancelled(venue, &resp).map_err(|e| venue_error(e, resp.status))?;
        self.set_status(owner, &order.id, None, "canceled").await?;
        tracing::info!(order = %order.id, "order cancelled");
        self.reload(owner, &order.id).await
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
