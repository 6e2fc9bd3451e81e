//! Arbitrary bytes into `Jwe::parse` under both policies; whatever parses
//! is opened with fixed P-256, X25519 and RSA-2048 keys. Any panic is a bug:
//! a hostile input must end in an `Err`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealgate_envelope::{AlgPolicy, DecryptionKey, Jwe};

#[path = "keys.rs"]
mod keys;

fuzz_target!(|data: &[u8]| {
    let keys: [&dyn DecryptionKey; 3] = [keys::p256(), keys::x25519(), keys::rsa2048()];
    for policy in [AlgPolicy::INTEROP, AlgPolicy::CREDENTIAL] {
        let Ok(jwe) = Jwe::parse(data, &policy) else { continue };
        // Accessors must hold up on anything that parsed.
        let _ = (jwe.serialization(), jwe.enc(), jwe.protected_header().len());
        for r in jwe.recipients() {
            let _ = (r.alg(), r.kid(), r.epk().map(|e| e.encoded().len()));
        }
        for key in keys {
            let _ = jwe.recipient_for(key);
            let _ = jwe.open_now(key);
        }
    }
});
