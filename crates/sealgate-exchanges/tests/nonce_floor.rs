//! Each scheme's `nonce_floor` held to what its `sign` asks its nonce source, over a route of
//! every class, bodies with and without a nonce of their own (form and JSON, well formed or
//! not), with and without a query, at several times. The signer reserves the predicted nonce
//! and signs once: a prediction too low or missing costs a second signature, and one made
//! where `sign` draws none wastes a reserved nonce (the signer checks what `sign` asked, so
//! neither sends a wrong nonce; this test keeps them from happening).

use std::collections::BTreeSet;
use std::sync::Mutex;

use sealgate_exchanges::{ALL, Context, FixedClock, NonceSource, Request};

mod common;
use common::credential;

/// Records every floor `sign` asks for.
#[derive(Default)]
struct Asked(Mutex<Vec<u64>>);

impl NonceSource for Asked {
    fn next_nonce(&self, floor: u64) -> u64 {
        self.0.lock().expect("lock").push(floor);
        floor
    }
}

const BODIES: &[&str] = &[
    "",
    "a=1",
    "nonce=5&a=1",
    "a=1&nonce=6",
    "nonce=",
    "nonce=x",
    "{}",
    "{\"a\":1}",
    " {\"nonce\":7}",
    "{\"nonce\":\"9\",\"a\":[1]}",
    "{\"nonce\":-1}",
    "{\"a\":{\"nonce\":1}}",
    "{not json",
    "[1]",
];

#[test]
fn every_scheme_predicts_the_nonce_its_signature_draws() {
    let (mut drew, mut kept_own) = (BTreeSet::new(), BTreeSet::new());
    for s in ALL {
        let cred = credential(s);
        let mut paths: Vec<String> = Vec::new();
        for (pattern, class) in s.routes {
            if !s.routes.iter().take_while(|(p, _)| p != pattern).any(|(_, c)| c == class) {
                paths.push(pattern.replace("{}", "X1"));
            }
        }
        for path in &paths {
            for method in ["GET", "POST"] {
                for body in BODIES {
                    // Gemini's payload names the path; one body that does.
                    let named = format!("{{\"request\":\"{path}\"}}");
                    for body in [*body, named.as_str()] {
                        for query in ["", "a=1"] {
                            for now in [1, 1_700_000_000_123, 4_102_444_800_000] {
                                let req = Request {
                                    method: method.into(),
                                    path: path.clone(),
                                    query: query.into(),
                                    body: body.into(),
                                };
                                let predicted = sealgate_exchanges::nonce_floor(s.id, &req, now).expect("scheme");
                                let asked = Asked::default();
                                let ctx = Context { clock: &FixedClock(now), nonce: &asked };
                                if sealgate_exchanges::sign(s.id, &cred, &req, &ctx).is_err() {
                                    continue; // refused: nothing is sent, whatever was reserved
                                }
                                let asked = asked.0.into_inner().expect("lock");
                                assert!(asked.len() <= 1, "{}: {asked:?} nonces for {req:?}", s.id);
                                assert_eq!(predicted, asked.first().copied(), "{}: {req:?} at {now}", s.id);
                                match predicted {
                                    Some(_) => drew.insert(s.id),
                                    None if body.contains("nonce") => kept_own.insert(s.id),
                                    None => false,
                                };
                            }
                        }
                    }
                }
            }
        }
    }
    // Not vacuous: every nonce scheme drew one, and the two that keep a caller's own did.
    let want: BTreeSet<&str> = ["bitfinex", "bitstamp", "deribit", "gemini", "kraken"].into();
    assert_eq!(drew, want);
    assert!(kept_own.contains("kraken") && kept_own.contains("gemini"), "{kept_own:?}");
}
