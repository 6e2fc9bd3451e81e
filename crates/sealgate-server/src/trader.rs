//! The trader role: places and cancels a user's orders through the signer.
//!
//! INTERFACE (fixed; the body is being written): the api calls exactly these.

use std::sync::Arc;

use sealgate_store::{Order, Side, Store};

use crate::client::SignerClient;

/// An order as the user asks for it (exchange-neutral).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct OrderRequest {
    /// The credential to trade with.
    pub credential_id: String,
    /// The exchange's symbol spelling (`BTCUSDT`, `XBTUSD`, `BTC-USDT`, `BTC-USD`).
    pub symbol: String,
    /// `buy` or `sell`.
    pub side: String,
    /// `market` or `limit`.
    pub order_type: String,
    /// Quantity in base units, a decimal string.
    pub qty: String,
    /// Limit price, a decimal string (limit orders only).
    #[serde(default)]
    pub price: Option<String>,
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

/// The trader.
pub struct Trader {
    #[allow(dead_code)]
    store: Store,
    #[allow(dead_code)]
    client: Arc<dyn SignerClient>,
}

impl Trader {
    /// A trader that reaches exchanges through `client` (role `trader`).
    pub fn new(store: Store, client: Arc<dyn SignerClient>) -> Self {
        Self { store, client }
    }

    /// Places an order for `owner`.
    pub async fn place(&self, _owner: &str, _order: &OrderRequest) -> Result<Order, TradeError> {
        let _ = Side::Buy;
        Err(TradeError::Unavailable("trader not built yet".into()))
    }

    /// Cancels `owner`'s order `order_id`.
    pub async fn cancel(&self, _owner: &str, _order_id: &str) -> Result<Order, TradeError> {
        Err(TradeError::Unavailable("trader not built yet".into()))
    }
}
