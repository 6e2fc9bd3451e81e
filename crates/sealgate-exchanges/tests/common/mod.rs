//! What more than one test file signs with.

use sealgate_exchanges::{Credential, Scheme};

pub const SECRET: &str = "c2VhbGdhdGUtdGVzdC1zZWNyZXQtMTIzNDU2Nzg5MA=="; // base64: Kraken, Coinbase Exchange
pub const PASSPHRASE: &str = "pass-phrase-in-clear";

/// A credential every scheme signs with (an EC key for Coinbase's JWT).
pub fn credential(s: &Scheme) -> Credential {
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
        api_key: Some("test-key".into()),
        api_secret: Some(SECRET.into()),
        passphrase: Some(PASSPHRASE.into()),
        ..Credential::default()
    }
}
