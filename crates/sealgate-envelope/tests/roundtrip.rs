//! Properties: whatever we seal opens to the same bytes; no input makes
//! the parser panic; a changed byte never opens to other plaintext. Random
//! bytes rarely get past the first checks: `mutated.rs` mutates valid JWEs
//! of every serialization instead.

use proptest::prelude::*;
use sealgate_envelope::{AlgPolicy, Curve, Jwe, LocalKey, seal_compact};
use serde_json::Map;
use std::sync::OnceLock;

fn keys() -> &'static [LocalKey] {
    static KEYS: OnceLock<Vec<LocalKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        vec![
            LocalKey::generate_ec(Curve::P256, "p256").expect("key"),
            LocalKey::generate_ec(Curve::P384, "p384").expect("key"),
            LocalKey::generate_ec(Curve::X25519, "x25519").expect("key"),
            LocalKey::generate_rsa(2048, "rsa").expect("key"),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn seal_then_open_gives_the_plaintext(
        plaintext in proptest::collection::vec(any::<u8>(), 0..4096),
        which in 0usize..4,
        cty in proptest::option::of("[ -~]{0,40}"),
    ) {
        let k = &keys()[which];
        let mut extra = Map::new();
        if let Some(c) = cty {
            extra.insert("cty".into(), c.into());
        }
        let jwe = seal_compact(&plaintext, k.public(), &extra).expect("seal");
        for policy in [AlgPolicy::INTEROP, AlgPolicy::CREDENTIAL] {
            let parsed = Jwe::parse(jwe.as_bytes(), &policy).expect("parse");
            let opened = parsed.open_now(k).expect("open");
            prop_assert_eq!(opened.expose_secret(), &plaintext[..]);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..2048)) {
        if let Ok(jwe) = Jwe::parse(&input, &AlgPolicy::INTEROP) {
            let _ = jwe.open_now(&keys()[0]);
        }
    }

    #[test]
    fn one_changed_byte_never_opens(pos in any::<prop::sample::Index>(), byte in any::<u8>(), which in 0usize..4) {
        let k = &keys()[which];
        let jwe = seal_compact(b"{\"api_key\":\"k\"}", k.public(), &Map::new()).expect("seal");
        let mut bytes = jwe.into_bytes();
        let i = pos.index(bytes.len());
        prop_assume!(bytes[i] != byte);
        bytes[i] = byte;
        if let Ok(parsed) = Jwe::parse(&bytes, &AlgPolicy::INTEROP) {
            // Base64 can have equivalent spellings only via trailing bits,
            // which the strict decoder refuses; so any change must fail.
            prop_assert!(parsed.open_now(k).is_err());
        }
    }
}
