//! Arbitrary bytes into `open_credential_now` with fixed keys and a fixed
//! binding: must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealgate_envelope::{DecryptionKey, open_credential_now};

#[path = "keys.rs"]
mod keys;

fuzz_target!(|data: &[u8]| {
    let binding = keys::binding();
    let keys: [&dyn DecryptionKey; 3] = [keys::p256(), keys::x25519(), keys::rsa2048()];
    for key in keys {
        if let Ok(opened) = open_credential_now(data, key, &binding) {
            // A success must be consistent with what was asked for.
            assert_eq!(opened.header.sub, binding.sub);
            assert_eq!(opened.header.aud, binding.aud);
            assert!(opened.credential.hint().is_ok());
        }
    }
});
