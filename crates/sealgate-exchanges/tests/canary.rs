//! For every exchange: a canary secret signs a read and a trade request,
//! and never appears in the signed request (only its HMAC does), in an
//! error, or in a `Debug` print. Every exchange also classifies at least
//! one path of each of read, trade and withdraw, and leaves unlisted paths
//! unknown.

mod common;
use common::credential_with;
use sealgate_exchanges::{ALL, Context, Credential, EndpointClass, FixedClock, MonotonicNonce, Request, classify_path};

/// Valid base64 (Kraken and Coinbase Exchange decode their secret) and
/// recognisable in any output.
const SECRET: &str = "Q0FOQVJZc2VjcmV0Q0FOQVJZc2VjcmV0Q0FOQVJZc2VjcmV0Q0FOQVJZc2VjcmV0";
const PASSPHRASE: &str = "CANARYpassphrase";

/// Schemes whose protocol sends the passphrase itself in a header.
const SENDS_PASSPHRASE: &[&str] = &["okx", "coinbase-exchange", "bitget"];

fn a_path(routes: &[(&'static str, EndpointClass)], class: EndpointClass) -> Option<String> {
    routes.iter().find(|(_, c)| *c == class).map(|(p, _)| p.replace("{}", "42"))
}

#[test]
fn every_exchange_signs_without_leaking_and_classifies() {
    assert_eq!(ALL.len(), 15, "the issue lists 15 exchanges");
    for scheme in ALL {
        let id = scheme.id;
        for class in [EndpointClass::Read, EndpointClass::Trade, EndpointClass::Withdraw] {
            let path = a_path(scheme.routes, class).unwrap_or_else(|| panic!("{id}: no {} route", class.name()));
            assert_eq!(classify_path(scheme.routes, &path), class, "{id} {path}");
        }
        assert_eq!(classify_path(scheme.routes, "/definitely/not/an/endpoint"), EndpointClass::Unknown, "{id}");

        let cred = credential_with(scheme, "canary-api-key", SECRET, PASSPHRASE);
        assert_eq!(format!("{cred:?}"), "Credential([REDACTED])");
        for class in [EndpointClass::Read, EndpointClass::Trade] {
            let path = a_path(scheme.routes, class).expect("route");
            let (method, body) = match (id, class) {
                ("gemini", _) => ("POST", "{}".to_owned()),
                (_, EndpointClass::Read) if ["kraken", "bitfinex", "bitstamp"].contains(&id) => ("POST", String::new()),
                (_, EndpointClass::Read) => ("GET", String::new()),
                ("kraken" | "mexc" | "binance", _) => ("POST", "pair=X&volume=1".to_owned()),
                (_, _) => ("POST", r#"{"x":"1"}"#.to_owned()),
            };
            let req = Request { method: method.into(), path, query: String::new(), body };
            let ctx = Context { clock: &FixedClock(1_700_000_000_000), nonce: &MonotonicNonce::default() };
            match (scheme.sign)(&cred, &req, &ctx) {
                Ok(signed) => {
                    let all = format!("{signed:?}");
                    assert!(!all.contains(SECRET), "{id}: the secret is in the signed request: {all}");
                    assert!(!all.contains("CANARYsecret"), "{id}: the decoded secret is in the signed request: {all}");
                    if !SENDS_PASSPHRASE.contains(&id) {
                        assert!(!all.contains(PASSPHRASE), "{id}: passphrase sent: {all}");
                    }
                }
                Err(e) => panic!("{id} {}: a well-formed request must sign: {e}", class.name()),
            }
        }
        // A credential with nothing in it: a clear error naming a field, no panic.
        let empty = Credential::default();
        let req = Request {
            method: "GET".into(),
            path: a_path(scheme.routes, EndpointClass::Read).expect("route"),
            query: String::new(),
            body: String::new(),
        };
        let ctx = Context { clock: &FixedClock(1), nonce: &MonotonicNonce::default() };
        let e = (scheme.sign)(&empty, &req, &ctx).expect_err("empty credential refused");
        assert!(e.to_string().contains("missing") || e.to_string().contains("credential"), "{id}: {e}");
    }
}
