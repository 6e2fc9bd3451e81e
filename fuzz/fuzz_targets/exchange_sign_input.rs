//! Arbitrary bytes into the input of `sealgate exchange sign`
//! (`SignInput::parse`); whatever parses is signed with a fixed clock and
//! nonce, classified, and canonicalized (read for its order facts). Any panic is a bug; an
//! accepted input is one JSON object (serde's array form of a struct is a
//! second spelling), and a refusal's message is bounded.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealgate_exchanges::{Context, FixedClock, FixedNonce, SignInput, canonicalize, classify, sign};

fuzz_target!(|data: &[u8]| {
    match SignInput::parse(data) {
        Ok(input) => {
            let v: serde_json::Value = serde_json::from_slice(data).expect("an accepted input is JSON");
            assert!(v.is_object() && v["credential"].is_object() && v["request"].is_object());
            let clock = FixedClock(input.clock_ms.unwrap_or(1_700_000_000_000));
            let nonce = FixedNonce(input.nonce.unwrap_or(1));
            let ctx = Context { clock: &clock, nonce: &nonce };
            if let Ok(signed) = sign(&input.exchange, &input.credential, &input.request, &ctx) {
                assert!(!signed.method.is_empty());
            }
            let _ = classify(&input.exchange, &input.request.path);
            let _ = canonicalize(&input.exchange, &input.request);
        }
        Err(e) => assert!(e.to_string().len() <= 256, "an unbounded refusal: {} bytes", e.to_string().len()),
    }
});
