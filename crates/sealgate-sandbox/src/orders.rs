//! What an order request asks for, as each venue's own reader understands
//! it: the handlers execute exactly this, and tests compare it with what a
//! client's policy judged (the differential tests of `sealgate-exchanges`'
//! canonical reader). Written from the exchanges' documentation, sharing no
//! code with `sealgate-exchanges`; where an exchange's reader is lenient
//! (last duplicate wins, case-insensitive JSON names, an ignored price), the
//! sandbox is lenient the same way, so a client that judges a different
//! reading is caught.

use crate::{Amount, Venue};

/// How an order is sized, as the venue read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntentSize {
    /// Base units.
    Base(Amount),
    /// Quote units (spent on a buy, received on a sell).
    Quote(Amount),
}

/// An order as the venue read it: what it executes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderIntent {
    /// Market symbol.
    pub symbol: String,
    /// Buy (else sell).
    pub side_buy: bool,
    /// Its size.
    pub size: IntentSize,
    /// Its limit price; `None` for a market order.
    pub limit: Option<Amount>,
}

/// How `venue` reads the order placed by a request (method, path, raw
/// query, `Content-Type`, raw body), exactly as its handler does before
/// executing it; `Err` is the venue's refusal message. Authentication is
/// not checked here. For Gemini, whose payload travels in a header, `body`
/// is the `X-GEMINI-PAYLOAD` value (base64 of the JSON payload).
pub fn read_order(
    venue: Venue,
    method: &str,
    path: &str,
    query: &str,
    content_type: Option<&str>,
    body: &str,
) -> Result<OrderIntent, String> {
    match venue {
        Venue::Binance => {
            if (method, path) != ("POST", "/api/v3/order") {
                return Err("Unknown endpoint.".into());
            }
            crate::binance::order_intent(query, body).map_err(|e| e.2.to_owned())
        }
        Venue::Kraken => {
            if (method, path) != ("POST", "/0/private/AddOrder") {
                return Err("EGeneral:Unknown method".into());
            }
            let p = crate::kraken::body_params(content_type, body)?;
            crate::kraken::order_intent(&p).map_err(str::to_owned)
        }
        Venue::Okx => {
            if (method, path) != ("POST", "/api/v5/trade/order") {
                return Err("Not Found".into());
            }
            crate::okx::order_intent(body).map_err(|e| e.2.to_owned())
        }
        Venue::Coinbase => {
            if (method, path) != ("POST", "/api/v3/brokerage/orders") {
                return Err("Not Found".into());
            }
            crate::coinbase::order_intent(body).map_err(|e| e.2.to_owned())
        }
        Venue::Bybit => {
            if (method, path) != ("POST", "/v5/order/create") {
                return Err("route not found".into());
            }
            crate::bybit::order_intent(body).map_err(|e| e.2.to_owned())
        }
        Venue::Bitget => {
            if (method, path) != ("POST", "/api/v2/spot/trade/place-order") {
                return Err("Request URL NOT FOUND".into());
            }
            crate::bitget::order_intent(body).map_err(|e| e.2.to_owned())
        }
        Venue::Kucoin => {
            if (method, path) != ("POST", "/api/v1/orders") {
                return Err("Url Not Found".into());
            }
            crate::kucoin::order_intent(body).map_err(|e| e.2.to_owned())
        }
        Venue::Gate => {
            if (method, path) != ("POST", "/api/v4/spot/orders") {
                return Err("Not found".into());
            }
            crate::gate::order_intent(body).map_err(|e| e.2.to_owned())
        }
        Venue::Mexc => {
            if (method, path) != ("POST", "/api/v3/order") {
                return Err("Not Found".into());
            }
            crate::mexc::order_intent(query, body).map_err(|e| e.2.to_owned())
        }
        Venue::Bitfinex => {
            if (method, path) != ("POST", "/v2/auth/w/order/submit") {
                return Err("route: not found".into());
            }
            crate::bitfinex::order_intent(body).map_err(|e| e.2.to_owned())
        }
        Venue::Poloniex => {
            if (method, path) != ("POST", "/orders") {
                return Err("Not Found".into());
            }
            crate::poloniex::order_intent(body).map_err(|e| e.2.to_owned())
        }
        Venue::Gemini => {
            // Gemini's order travels in the `X-GEMINI-PAYLOAD` header, not the body:
            // `body` is that header's value (base64 JSON) here.
            if (method, path) != ("POST", "/v1/order/new") {
                return Err("API entry point not found".into());
            }
            crate::gemini::order_intent(body).map_err(|e| e.2.to_owned())
        }
        Venue::Bitstamp => {
            // The pair and the kind (limit or market) are in the path; the rest in the form.
            if method != "POST" {
                return Err("Not found.".into());
            }
            crate::bitstamp::order_intent(path, body).map_err(|e| e.2.to_owned())
        }
        Venue::CoinbaseExchange => {
            if (method, path) != ("POST", "/orders") {
                return Err("NotFound".into());
            }
            crate::coinbase_exchange::order_intent(body).map_err(|e| e.1.to_owned())
        }
        Venue::Deribit => {
            // Deribit executes a POST body's JSON-RPC `method`, whatever the path says.
            crate::deribit::order_intent(method, path, query, body).map_err(|e| e.1.to_owned())
        }
    }
}
