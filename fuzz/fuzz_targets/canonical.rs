//! Arbitrary requests into `sealgate_exchanges::canonicalize`, the one
//! reader of a request's parameters (issue 14, "one request, one meaning").
//! Byte 0 picks the exchange, byte 1 the method; the rest is the path, the
//! query and the body, separated by NUL bytes. Any panic is a bug; an
//! accepted request's canonical form is a fixed point (read again, it is the
//! same request with the same facts: what was judged is what is sent), and
//! a refusal's message is bounded.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealgate_exchanges::{Request, canonicalize};

const EXCHANGES: &[&str] = &[
    "binance",
    "mexc",
    "kraken",
    "okx",
    "coinbase",
    "bybit",
    "bitget",
    "kucoin",
    "gate",
    "poloniex",
    "bitfinex",
    "gemini",
    "bitstamp",
    "coinbase-exchange",
    "deribit",
];
const METHODS: &[&str] = &["GET", "POST", "PUT", "DELETE", "PATCH"];

fuzz_target!(|data: &[u8]| {
    let [e, m, rest @ ..] = data else { return };
    let id = EXCHANGES[usize::from(*e) % EXCHANGES.len()];
    let method = METHODS[usize::from(*m) % METHODS.len()];
    let text = String::from_utf8_lossy(rest);
    let mut parts = text.splitn(3, '\0');
    let (path, query, body) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    match canonicalize(id, &Request::new(method, path, query, body)) {
        Ok(c) => {
            let again = canonicalize(id, &c.request).expect("a canonical request is canonical");
            assert_eq!(again, c, "the canonical form is a fixed point");
        }
        Err(e) => assert!(e.to_string().len() <= 512, "an unbounded refusal: {} bytes", e.to_string().len()),
    }
});
