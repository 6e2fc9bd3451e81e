//! Arbitrary bytes into the api's JSON request bodies — `CreateCredential`
//! (POST /v1/credentials), `LimitsIn` (PUT /v1/credentials/{id}/limits) and
//! `OrderRequest` (POST /v1/orders) — parsed as the handlers' extractor parses
//! them and checked as the handlers check them before any store or signer
//! work (`sealgate_api_bodies::check_body`). Any panic is a bug; an accepted body is one
//! JSON object without a repeated member at any depth; a refusal's message
//! is bounded.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealgate_api_bodies::{BodyKind, check_body};

fuzz_target!(|data: &[u8]| {
    for kind in [BodyKind::CreateCredential, BodyKind::Limits, BodyKind::Order] {
        match check_body(kind, data) {
            Ok(()) => assert!(
                sealgate_envelope::parse_json_object(data).is_ok(),
                "{kind:?}: accepted a body that is not one JSON object without repeated members"
            ),
            Err(message) => assert!(message.len() <= 1024, "{kind:?}: an unbounded refusal ({} bytes)", message.len()),
        }
    }
});
