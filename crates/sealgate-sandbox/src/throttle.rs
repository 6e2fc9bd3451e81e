//! What a real exchange adds to every answer besides its checks: network latency, and its
//! documented request limits, both off until a test (a load benchmark) turns them on.
//!
//! Limits, written from each exchange's documentation apart from the importer's own budgets
//! (`sealgate_venues::limits`), so a budget that is too generous shows up here as a refusal:
//!
//! | exchange | counted per | limit | refusal |
//! |---|---|---|---|
//! | Binance | client address | 6,000 request weight per minute ("General Info → LIMITS"); `account` and `myTrades` weigh 20, `GET order` 4, others 1 | HTTP 429, code -1003 |
//! | Kraken | API key | the Starter API counter: +2 for trade and ledger history, +1 for other private calls (not AddOrder/CancelOrder); refused above 15; decays 0.33/s ("Spot REST Rate Limits") | `EAPI:Rate limit exceeded` |
//! | OKX | API key and endpoint | 10 requests per 2 s (account balance, fills history); 60 per 2 s for placing and cancelling | HTTP 429, code 50011 |
//! | Coinbase | client address | 30 requests per second (private endpoints) | HTTP 429 |
//! | Bybit | API key and endpoint | 20 requests per second (from memory: the lowest of the v5 per-UID table) | retCode 10006 "Too many visits!" |
//! | Bitget | API key and endpoint | 10 requests per second (from memory) | HTTP 429, code 429 |
//! | Bitstamp | client address | 8,000 requests per 10 minutes ("Request limits" of the stored v1 reference) | HTTP 400, response code 400.002 |
//! | Coinbase Exchange | API key (its profile) | 15 requests per second, bursts of 30 (from memory) | HTTP 429, `Private rate limit exceeded` |
//! | Deribit | client id | 20 requests per second, bursts of 100 (from memory of its credits: 500 a request, 10,000 a second, 50,000 at most) | HTTP 429, code 10028 `too_many_requests` |
//!
//! Every refusal is counted ([`crate::Sandbox::rate_limit_refusals`]), so a benchmark can
//! show it never made one. The other venues are not limited here.

use std::collections::HashMap;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::{Incoming, Venue};

/// The limiter's state: one counter per (venue, who, endpoint class), each a leaky bucket
/// in thousandths (level, last update in ms).
#[derive(Debug, Default)]
pub(crate) struct Throttle {
    pub(crate) enabled: bool,
    pub(crate) latency_ms: Option<(u64, u64)>,
    buckets: HashMap<(Venue, String, String), (u64, u64)>,
    pub(crate) refusals: u64,
    /// xorshift state for the latency's spread (no secret: test timing only).
    rng: u64,
}

/// A leaky bucket: `capacity` (thousandths) and how much leaks per second (thousandths).
struct Rule {
    capacity: u64,
    leak_per_s: u64,
}

impl Throttle {
    /// How long to hold the next answer.
    pub(crate) fn delay(&mut self) -> Option<Duration> {
        let (lo, hi) = self.latency_ms?;
        if self.rng == 0 {
            self.rng = 0x9E37_79B9_7F4A_7C15;
        }
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        Some(Duration::from_millis(lo + self.rng % (hi - lo + 1)))
    }

    /// `Some(refusal)` when `req`, on `venue`, is over that exchange's limit at `now_ms`.
    pub(crate) fn check(&mut self, venue: Venue, req: &Incoming, now_ms: u64) -> Option<Response> {
        if !self.enabled {
            return None;
        }
        let path = req.uri.path().to_owned();
        let header = |name: &str| req.header(name).unwrap_or("").to_owned();
        let placing = req.method == Method::POST || req.method == Method::DELETE;
        let (who, class, cost, rule) = match venue {
            Venue::Binance => {
                let weight = match (req.method.as_str(), path.as_str()) {
                    (_, "/api/v3/account" | "/api/v3/myTrades") => 20,
                    ("GET", "/api/v3/order") => 4,
                    _ => 1,
                };
                let rule = Rule { capacity: 6_000_000, leak_per_s: 100_000 };
                (req.peer.ip().to_string(), String::new(), weight * 1000, rule)
            }
            Venue::Kraken => {
                let cost = match path.as_str() {
                    "/0/private/AddOrder" | "/0/private/CancelOrder" => return None,
                    "/0/private/TradesHistory"
                    | "/0/private/Ledgers"
                    | "/0/private/QueryTrades"
                    | "/0/private/QueryLedgers" => 2_000,
                    p if p.starts_with("/0/private/") => 1_000,
                    _ => return None,
                };
                (header("API-Key"), String::new(), cost, Rule { capacity: 15_000, leak_per_s: 330 })
            }
            Venue::Okx => {
                let n = if placing && path.starts_with("/api/v5/trade/") { 60 } else { 10 };
                (header("OK-ACCESS-KEY"), path, 1_000, Rule { capacity: n * 1000, leak_per_s: n * 500 })
            }
            Venue::Coinbase => {
                (req.peer.ip().to_string(), String::new(), 1_000, Rule { capacity: 30_000, leak_per_s: 30_000 })
            }
            Venue::Bybit => (header("X-BAPI-API-KEY"), path, 1_000, Rule { capacity: 20_000, leak_per_s: 20_000 }),
            Venue::Bitget => (header("ACCESS-KEY"), path, 1_000, Rule { capacity: 10_000, leak_per_s: 10_000 }),
            Venue::Bitstamp => {
                (req.peer.ip().to_string(), String::new(), 1_000, Rule { capacity: 8_000_000, leak_per_s: 13_333 })
            }
            Venue::CoinbaseExchange => {
                (header("CB-ACCESS-KEY"), String::new(), 1_000, Rule { capacity: 30_000, leak_per_s: 15_000 })
            }
            Venue::Deribit => {
                // The client id of `deri-hmac-sha256 id=…,ts=…,…` (the rest changes per request).
                let auth = header("Authorization");
                let id = auth.strip_prefix("deri-hmac-sha256 id=").and_then(|r| r.split(',').next()).unwrap_or("");
                (id.to_owned(), String::new(), 1_000, Rule { capacity: 100_000, leak_per_s: 20_000 })
            }
            _ => return None,
        };
        let slot = self.buckets.entry((venue, who, class)).or_insert((0, now_ms));
        let elapsed = now_ms.saturating_sub(slot.1);
        let level = slot.0.saturating_sub(elapsed.saturating_mul(rule.leak_per_s) / 1000);
        slot.1 = now_ms.max(slot.1);
        if level + cost > rule.capacity {
            slot.0 = level;
            self.refusals += 1;
            return Some(refusal(venue));
        }
        slot.0 = level + cost;
        None
    }
}

/// The exchange's own answer to a request over its limit.
fn refusal(venue: Venue) -> Response {
    let (status, body) = match venue {
        Venue::Binance => (
            StatusCode::TOO_MANY_REQUESTS,
            json!({"code": -1003, "msg": "Too much request weight used; please use WebSocket Streams for live updates to avoid polling the API."}),
        ),
        Venue::Kraken => (StatusCode::OK, json!({"error": ["EAPI:Rate limit exceeded"]})),
        Venue::Okx => (
            StatusCode::TOO_MANY_REQUESTS,
            json!({"code": "50011", "msg": "Rate limit reached. Please refer to API documentation and throttle requests accordingly.", "data": []}),
        ),
        Venue::Coinbase => {
            (StatusCode::TOO_MANY_REQUESTS, json!({"error": "rate_limit_exceeded", "message": "Too many requests"}))
        }
        Venue::Bybit => (
            StatusCode::OK,
            json!({"retCode": 10006, "retMsg": "Too many visits!", "result": {}, "retExtInfo": {}, "time": 0}),
        ),
        Venue::Bitstamp => (
            StatusCode::BAD_REQUEST,
            json!({"status": "error", "reason": "Request rejected due to exceeded rate limit.", "response_code": "400.002"}),
        ),
        Venue::CoinbaseExchange => (StatusCode::TOO_MANY_REQUESTS, json!({"message": "Private rate limit exceeded"})),
        Venue::Deribit => (
            StatusCode::TOO_MANY_REQUESTS,
            json!({"jsonrpc": "2.0", "error": {"code": 10028, "message": "too_many_requests"}, "testnet": false}),
        ),
        _ => (StatusCode::TOO_MANY_REQUESTS, json!({"code": "429", "msg": "Too Many Requests", "data": null})),
    };
    (status, axum::Json(body)).into_response()
}
