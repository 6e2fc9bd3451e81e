//! Rule D1: an envelope's content digest is its identity. Whatever a
//! database writer does to the stored text, if it still opens, it has the
//! digest the owner revoked: another serialization, whitespace, unprotected
//! headers or a changed byte never give a "new" envelope that opens.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use proptest::prelude::*;
use sealgate_envelope::{AlgPolicy, Curve, Jwe, LocalKey, seal_compact};
use serde_json::{Map, json};
use std::sync::OnceLock;

fn key() -> &'static LocalKey {
    static KEY: OnceLock<LocalKey> = OnceLock::new();
    KEY.get_or_init(|| LocalKey::generate_ec(Curve::P256, "p256").expect("key"))
}

fn digest(text: &[u8]) -> [u8; 32] {
    Jwe::parse(text, &AlgPolicy::INTEROP).expect("parse").content_digest()
}

fn sealed() -> String {
    seal_compact(b"{\"api_key\":\"k-0001\"}", key().public(), &Map::new()).expect("seal")
}

/// The compact JWE in the flattened and general JSON serializations, with an
/// unprotected header added.
fn respelled(compact: &str) -> Vec<String> {
    let p: Vec<&str> = compact.split('.').collect();
    vec![
        format!(" \n{compact}\n\t"),
        json!({"protected": p[0], "encrypted_key": p[1], "iv": p[2], "ciphertext": p[3], "tag": p[4]}).to_string(),
        json!({"protected": p[0], "unprotected": {"x-note": "restored"}, "encrypted_key": p[1], "iv": p[2],
               "ciphertext": p[3], "tag": p[4]})
        .to_string(),
        json!({"protected": p[0], "recipients": [{"encrypted_key": p[1], "header": {"x-r": 1}}], "iv": p[2],
               "ciphertext": p[3], "tag": p[4]})
        .to_string(),
    ]
}

#[test]
fn the_same_envelope_in_any_spelling_has_one_digest() {
    let jwe = sealed();
    let d = digest(jwe.as_bytes());
    for text in respelled(&jwe) {
        let parsed = Jwe::parse(text.as_bytes(), &AlgPolicy::INTEROP).expect("parse");
        parsed.open_now(key()).expect("still opens");
        assert_eq!(parsed.content_digest(), d, "{text}");
    }
    // Two seals of the same plaintext are two envelopes.
    assert_ne!(digest(sealed().as_bytes()), d);
}

#[test]
fn an_aad_member_changes_the_digest_and_does_not_open() {
    let jwe = sealed();
    let p: Vec<&str> = jwe.split('.').collect();
    let text = json!({"protected": p[0], "aad": B64.encode(b"x"), "encrypted_key": p[1], "iv": p[2],
                      "ciphertext": p[3], "tag": p[4]})
    .to_string();
    let parsed = Jwe::parse(text.as_bytes(), &AlgPolicy::INTEROP).expect("parse");
    assert_ne!(parsed.content_digest(), digest(jwe.as_bytes()));
    assert!(parsed.open_now(key()).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A changed byte either stops the envelope opening or leaves its digest.
    #[test]
    fn what_opens_keeps_its_digest(pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let jwe = sealed();
        let d = digest(jwe.as_bytes());
        let mut bytes = jwe.into_bytes();
        let i = pos.index(bytes.len());
        bytes[i] = byte;
        if let Ok(parsed) = Jwe::parse(&bytes, &AlgPolicy::INTEROP)
            && parsed.open_now(key()).is_ok()
        {
            prop_assert_eq!(parsed.content_digest(), d);
        }
    }
}
