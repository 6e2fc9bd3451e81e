//! What the venue modules' tests share: answers as the signer hands them on, an order to
//! place, the refusal of a malformed answer.

use crate::{OrderKind, PlaceOrder, Response, Result, Side, VenueError};

/// A 200 answer with `body`.
pub(crate) fn ok(body: &str) -> Response<'_> {
    Response { status: 200, body }
}

/// An answer with `status` and `body`.
pub(crate) fn resp(status: u16, body: &str) -> Response<'_> {
    Response { status, body }
}

/// An order with the tests' client order id.
pub(crate) fn order<'a>(
    symbol: &'a str,
    side: Side,
    kind: OrderKind,
    qty: &'a str,
    price: Option<&'a str>,
) -> PlaceOrder<'a> {
    PlaceOrder { symbol, side, kind, qty, price, client_order_id: "0123abcd-0123-4567-89ab-0123456789ab" }
}

/// The refusal of a malformed answer.
pub(crate) fn mal<T>(field: &'static str, reason: &'static str) -> Result<T> {
    Err(VenueError::Malformed { field, reason })
}

/// A request's JSON body, parsed.
pub(crate) fn json_of(body: &str) -> serde_json::Value {
    serde_json::from_str(body).expect("json body")
}
