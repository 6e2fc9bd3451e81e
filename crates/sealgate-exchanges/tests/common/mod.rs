//! What more than one test file signs with.

// Each test file is its own crate and uses part of this.
#![allow(dead_code)]

use sealgate_exchanges::{Credential, Scheme};

pub const SECRET: &str = "c2VhbGdhdGUtdGVzdC1zZWNyZXQtMTIzNDU2Nzg5MA=="; // base64: Kraken, Coinbase Exchange
pub const PASSPHRASE: &str = "pass-phrase-in-clear";

/// A credential every scheme signs with (an EC key for Coinbase's JWT).
pub fn credential(s: &Scheme) -> Credential {
    credential_with(s, "test-key", SECRET, PASSPHRASE)
}

/// [`credential`] with the given API key, secret and passphrase (Coinbase's EC key is made
/// fresh either way).
pub fn credential_with(s: &Scheme, api_key: &str, secret: &str, passphrase: &str) -> Credential {
    if s.id == "coinbase" {
        use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &aws_lc_rs::rand::SystemRandom::new())
                .expect("p256");
        let pem = pem_rfc7468::encode_string("PRIVATE KEY", pem_rfc7468::LineEnding::LF, pkcs8.as_ref()).expect("pem");
        return Credential {
            key_name: Some("organizations/o/apiKeys/k".into()),
            private_key: Some(pem.into()),
            ..Credential::default()
        };
    }
    Credential {
        api_key: Some(api_key.into()),
        api_secret: Some(secret.into()),
        passphrase: Some(passphrase.into()),
        ..Credential::default()
    }
}
