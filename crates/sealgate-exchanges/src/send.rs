//! What the signer and the agent need to send a signed request and read
//! the answer: the `Content-Type` of a body, and whether an answer is a
//! clock or nonce rejection. Pure: bytes in, a decision out; the HTTP
//! client that uses it is `sealgate-send`.
//!
//! # Send rules
//!
//! - **Content-Type in one place.** [`content_type`] names the media type
//!   a body is sent with, per exchange ([`Scheme::content_type`]): JSON
//!   for most, a form for Binance, MEXC and Bitstamp, form or JSON by the
//!   body's first byte for Kraken (as its signer builds it), `text/plain`
//!   always for Gemini (its payload travels in a header), and JSON on every
//!   Bitget `POST`, empty or not. Nothing else
//!   guesses: a scheme that puts a `Content-Type` into the signed request
//!   puts this one (checked by a test), and the sender sets it from here.
//! - **Responses are parsed, never searched.** [`answer`] reads a
//!   response the way the exchange documents its errors: a top-level code
//!   field of the parsed JSON body (Binance `{"code":-1021}`, OKX
//!   `{"code":"50102"}`, Kraken `{"error":["EAPI:Invalid nonce"]}`, …).
//!   A code that appears anywhere else (an order's `clOrdId`, a message, a
//!   nested object) means nothing, and a body that does not parse is
//!   [`Answer::Other`].
//! - **Re-sent at most once, and only when refused.** A clock or nonce
//!   rejection ([`Answer::resend`]) is an authentication refusal: the
//!   exchange refused the request before reading it, so nothing was
//!   executed and one re-signed copy may be sent (the signer re-measures
//!   the exchange's clock first). Any other answer is final: an order is
//!   never sent twice because its answer looked like a rejection. A
//!   second rejection is returned as it is.
//! - Redirects are never followed (a redirect would carry the API-key
//!   headers to another host) and a response body is read up to a bound,
//!   then refused; both are the sender's, in `sealgate-send`.
//!
//! Exchanges whose clock or nonce rejection has no documented code of its
//! own (Coinbase Advanced answers an expired JWT with a plain 401,
//! Bitstamp, Deribit, Poloniex) are never re-sent.
//!
//! [`Scheme::content_type`]: crate::Scheme::content_type

use serde_json::Value;

use crate::{Error, scheme};

/// `application/json`.
pub const JSON: &str = "application/json";
/// `application/x-www-form-urlencoded`.
pub const FORM: &str = "application/x-www-form-urlencoded";

/// What an exchange's response says about the request, as far as sending
/// is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Refused for its timestamp (outside the exchange's window), by the
    /// exchange's documented code: not executed.
    ClockRejected,
    /// Refused for its nonce (not above the last one seen), by the
    /// exchange's documented code: not executed.
    NonceRejected,
    /// Anything else: success, another error, or an unreadable body. Final.
    Other,
}

impl Answer {
    /// Whether one re-signed copy of the request may be sent: only after a
    /// documented clock or nonce rejection, which proves the request was
    /// not executed.
    pub fn resend(self) -> bool {
        matches!(self, Self::ClockRejected | Self::NonceRejected)
    }
}

/// How exchange `id` answered a request with `status` and `body`.
pub fn answer(id: &str, status: u16, body: &[u8]) -> Result<Answer, Error> {
    Ok((scheme(id)?.answer)(status, body))
}

/// The `Content-Type` a request with `method` and `body` is sent with to
/// exchange `id` (`None`: no header, as for an empty body).
pub fn content_type(id: &str, method: &str, body: &str) -> Result<Option<&'static str>, Error> {
    Ok((scheme(id)?.content_type)(method, body))
}

/// An exchange's public server-time endpoint: its path, and how to read
/// the time (Unix ms) from its answer.
#[derive(Debug, Clone, Copy)]
pub struct TimeEndpoint {
    /// Path (`GET`, no credentials).
    pub path: &'static str,
    /// The server time in Unix ms, from the answer body (`None`: unreadable).
    pub parse: fn(&[u8]) -> Option<u64>,
}

/// Exchange `id`'s public server-time endpoint, if the signer measures its
/// clock (Binance, Kraken, OKX, Coinbase Advanced).
pub fn time_endpoint(id: &str) -> Result<Option<TimeEndpoint>, Error> {
    Ok(scheme(id)?.time)
}

/// A number, or a string holding one.
pub(crate) fn num(v: Value) -> Option<u64> {
    v.as_u64().or_else(|| v.as_str()?.parse().ok())
}

/// A JSON body for a non-empty body.
pub(crate) fn json_body(_method: &str, body: &str) -> Option<&'static str> {
    (!body.is_empty()).then_some(JSON)
}

/// A form body for a non-empty body.
pub(crate) fn form_body(_method: &str, body: &str) -> Option<&'static str> {
    (!body.is_empty()).then_some(FORM)
}

/// The body as a JSON value (`None` when it is not JSON).
pub(crate) fn parse(body: &[u8]) -> Option<Value> {
    serde_json::from_slice(body).ok()
}

/// The top-level member `name` of a JSON object body.
pub(crate) fn top(body: &[u8], name: &str) -> Option<Value> {
    match parse(body)? {
        Value::Object(mut o) => o.remove(name),
        _ => None,
    }
}

/// Whether the top-level member `name` is the integer `code` (a number,
/// not a string).
pub(crate) fn top_int(body: &[u8], name: &str, code: i64) -> bool {
    top(body, name).and_then(|v| v.as_i64()) == Some(code)
}

/// Whether the top-level member `name` is the string `code`.
pub(crate) fn top_str(body: &[u8], name: &str, code: &str) -> bool {
    top(body, name).is_some_and(|v| v.as_str() == Some(code))
}

/// For exchanges without a documented clock or nonce code: never re-sent.
pub(crate) fn never(_status: u16, _body: &[u8]) -> Answer {
    Answer::Other
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_documented_codes_in_their_field_count() {
        let a = |id: &str, status: u16, body: &str| answer(id, status, body.as_bytes()).expect("exchange");
        // Binance: -1021 as the top-level code of a 400.
        assert_eq!(
            a("binance", 400, r#"{"code":-1021,"msg":"Timestamp for this request is outside of the recvWindow."}"#),
            Answer::ClockRejected
        );
        assert_eq!(a("binance", 200, r#"{"symbol":"BTCUSDT","clientOrderId":"-1021","orderId":1}"#), Answer::Other);
        assert_eq!(a("binance", 400, r#"{"code":-2010,"msg":"order -1021 rejected"}"#), Answer::Other);
        assert_eq!(a("binance", 400, r#"{"code":"-1021"}"#), Answer::Other);
        // OKX: "50102" as the top-level code, not inside data.
        assert_eq!(
            a("okx", 401, r#"{"code":"50102","msg":"Timestamp request expired","data":[]}"#),
            Answer::ClockRejected
        );
        assert_eq!(
            a(
                "okx",
                200,
                r#"{"code":"0","msg":"","data":[{"clOrdId":"50102","ordId":"7","sCode":"0","sMsg":"Order placed"}]}"#
            ),
            Answer::Other
        );
        assert_eq!(a("okx", 200, r#"{"code":"1","data":[{"sCode":"50102"}]}"#), Answer::Other);
        // Kraken: the error list names the nonce.
        assert_eq!(a("kraken", 200, r#"{"error":["EAPI:Invalid nonce"]}"#), Answer::NonceRejected);
        assert_eq!(a("kraken", 200, r#"{"error":[],"result":{"txid":["EAPI:Invalid nonce"]}}"#), Answer::Other);
        assert_eq!(a("kraken", 200, r#"{"error":["EGeneral:Invalid arguments:EAPI:Invalid nonce"]}"#), Answer::Other);
        // Others.
        assert_eq!(
            a("bybit", 200, r#"{"retCode":10002,"retMsg":"invalid request, please check your server timestamp"}"#),
            Answer::ClockRejected
        );
        assert_eq!(a("kucoin", 400, r#"{"code":"400002","msg":"KC-API-TIMESTAMP Invalid"}"#), Answer::ClockRejected);
        assert_eq!(
            a(
                "gate",
                401,
                r#"{"label":"REQUEST_EXPIRED","message":"gap between request Timestamp and server time exceeds 60"}"#
            ),
            Answer::ClockRejected
        );
        assert_eq!(a("bitfinex", 500, r#"["error",10114,"nonce: small"]"#), Answer::NonceRejected);
        assert_eq!(
            a("gemini", 400, r#"{"result":"error","reason":"InvalidNonce","message":"Nonce is too small"}"#),
            Answer::NonceRejected
        );
        assert_eq!(a("coinbase", 401, "Unauthorized"), Answer::Other);
        // Not JSON, truncated, or a code nested deeper: nothing.
        for id in ["binance", "okx", "kraken", "bybit", "mexc", "kucoin", "bitget", "gate", "gemini", "bitfinex"] {
            assert_eq!(a(id, 400, "-1021 50102 EAPI:Invalid nonce"), Answer::Other, "{id}");
            assert_eq!(a(id, 400, r#"{"code":"50102""#), Answer::Other, "{id}");
            assert_eq!(
                a(id, 400, r#"{"data":{"code":-1021,"retCode":10002,"error":["EAPI:Invalid nonce"]}}"#),
                Answer::Other,
                "{id}"
            );
        }
        assert!(answer("nope", 400, b"").is_err());
    }

    #[test]
    fn server_times_are_read_in_ms() {
        let t = |id: &str, body: &str| (time_endpoint(id).expect("id").expect("endpoint").parse)(body.as_bytes());
        assert_eq!(t("binance", r#"{"serverTime":1499827319559}"#), Some(1_499_827_319_559));
        assert_eq!(
            t("kraken", r#"{"error":[],"result":{"unixtime":1688669448,"rfc1123":"x"}}"#),
            Some(1_688_669_448_000)
        );
        assert_eq!(t("okx", r#"{"code":"0","msg":"","data":[{"ts":"1597026383085"}]}"#), Some(1_597_026_383_085));
        assert_eq!(
            t("coinbase", r#"{"iso":"x","epochSeconds":"1","epochMillis":"1693228800123"}"#),
            Some(1_693_228_800_123)
        );
        assert_eq!(t("okx", "not json"), None);
        assert_eq!(time_endpoint("gate").expect("id").map(|e| e.path), None);
    }

    #[test]
    fn only_rejections_are_resent() {
        assert!(Answer::ClockRejected.resend() && Answer::NonceRejected.resend() && !Answer::Other.resend());
    }
}
