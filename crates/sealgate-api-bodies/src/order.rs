//! The order body: `POST /v1/orders` ([`OrderRequest`]).

use sealgate_vocab::{CredentialId, check_order_symbol, check_positive_amount};

/// An order as the user asks for it (exchange-neutral).
///
/// Its schema states what [`check_order`] checks first (a refusal is a 400 naming the field).
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

/// An [`OrderRequest`] that passed [`check_order`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckedOrder<'a> {
    /// Buy or sell.
    pub side: OrderSide,
    /// Market or limit.
    pub order_type: OrderType,
    /// The limit price (a limit order has one, a market order none).
    pub price: Option<&'a str>,
}

/// The checks an order gets before anything else: symbol, side, type, an exact positive
/// quantity, and a price exactly when the order is a limit order. The error is the 400
/// message.
pub fn check_order(order: &OrderRequest) -> Result<CheckedOrder<'_>, String> {
    // credential_id is a CredentialId: the one id rule held when the body was parsed.
    check_order_symbol(&order.symbol).map_err(|e| e.to_string())?;
    let side = match order.side.as_str() {
        "buy" => OrderSide::Buy,
        "sell" => OrderSide::Sell,
        _ => return Err("side must be buy or sell".into()),
    };
    let order_type = match order.order_type.as_str() {
        "market" => OrderType::Market,
        "limit" => OrderType::Limit,
        _ => return Err("order_type must be market or limit".into()),
    };
    check_positive_amount(&order.qty, "qty").map_err(|e| e.to_string())?;
    let price = match (order_type, order.price.as_deref()) {
        (OrderType::Limit, None) => return Err("a limit order needs a price".into()),
        (OrderType::Market, Some(_)) => return Err("a market order must not have a price".into()),
        (OrderType::Limit, Some(p)) => {
            check_positive_amount(p, "price").map_err(|e| e.to_string())?;
            Some(p)
        }
        (OrderType::Market, None) => None,
    };
    Ok(CheckedOrder { side, order_type, price })
}
