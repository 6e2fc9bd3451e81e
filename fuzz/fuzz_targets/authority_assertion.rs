//! The owner's authority parsers (`sealgate-authority`, AUTHORITY.md): byte 0
//! picks what the rest is — an assertion JSON verified against a fixed key and
//! statement; `authenticatorData` (length in the next two bytes) and
//! `clientDataJSON` verified the same way; a statement; a COSE_Key; a JWK.
//! Any panic is a bug; a parsed statement's canonical form is a fixed point; a
//! parsed key's JWK names the same key with the same thumbprint; a refusal's
//! message is bounded.
#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use libfuzzer_sys::fuzz_target;
use sealgate_authority::{Assertion, AuthorityKey, Error, Statement, verify_assertion};

/// RFC 8037 A.2's Ed25519 public key.
const KEY: &[u8] = br#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;
/// A policy statement (its challenge is in the seeds).
const STATEMENT: &[u8] = br#"{"typ":"sealgate-approval+v1","id":"AAAAAAAAAAAAAAAAAAAAAA","iat":1800000000,"owner":"user-1","cid":"cred-1","kind":"policy","state":{"status":"active","kill_switch":false,"symbols":["BTCUSDT"],"max_notional":"100","rate":null}}"#;
const ORIGINS: &[&str] = &["https://sealgate.example"];

fn bounded(e: &Error) {
    assert!(e.to_string().len() <= 256, "an unbounded refusal: {e}");
}

fn verify(a: &Assertion) {
    let key = AuthorityKey::from_jwk(KEY).expect("fixed key");
    let statement = Statement::parse(STATEMENT).expect("fixed statement");
    if let Err(e) = verify_assertion(&key, &statement, a, ORIGINS, "sealgate.example", 1_800_000_000) {
        bounded(&e);
    }
}

fuzz_target!(|data: &[u8]| {
    let [mode, rest @ ..] = data else { return };
    match mode % 5 {
        0 => match Assertion::from_json(rest) {
            Ok(a) => verify(&a),
            Err(e) => bounded(&e),
        },
        1 => {
            let [h, l, rest @ ..] = rest else { return };
            let n = usize::from(u16::from_be_bytes([*h, *l])).min(rest.len());
            let (ad, cd) = rest.split_at(n);
            match Assertion::from_parts(&B64.encode(ad), &B64.encode(cd), "") {
                Ok(a) => verify(&a),
                Err(e) => bounded(&e),
            }
        }
        2 => match Statement::parse(rest) {
            Ok(s) => {
                assert_eq!(s.canonical(), rest, "a statement parses only from its canonical form");
                assert_eq!(Statement::parse(&s.canonical()).as_ref(), Ok(&s), "the canonical form is a fixed point");
            }
            Err(e) => bounded(&e),
        },
        3 => match AuthorityKey::from_cose(rest) {
            Ok(k) => {
                let jwk = serde_json::to_vec(&k.to_jwk()).expect("jwk");
                let back = AuthorityKey::from_jwk(&jwk).expect("our JWK parses");
                assert_eq!(back, k);
                assert_eq!(back.thumbprint().len(), 43);
            }
            Err(e) => bounded(&e),
        },
        _ => match AuthorityKey::from_jwk(rest) {
            Ok(k) => assert_eq!(k.thumbprint().len(), 43),
            Err(e) => bounded(&e),
        },
    }
});
