//! Hostile and malformed inputs: each is refused with the typed reason the
//! profile names, before any key work where the reason needs none.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use sealgate_envelope::{AlgPolicy, Curve, EpkError, Error, Jwe, LocalKey, MAX_INPUT, RefusedAlg, seal_compact};
use serde_json::{Map, Value, json};

fn key(curve: Curve) -> LocalKey {
    LocalKey::generate_ec(curve, "k1").expect("keygen")
}

fn sealed(k: &LocalKey) -> String {
    seal_compact(b"{\"api_key\":\"x\"}", k.public(), &Map::new()).expect("seal")
}

fn header_of(jwe: &str) -> Map<String, Value> {
    let h = jwe.split('.').next().expect("part");
    serde_json::from_slice(&B64.decode(h).expect("b64")).expect("json")
}

/// Replace the protected header (the tag no longer matches: these inputs
/// must be refused before decryption).
fn with_header(jwe: &str, edit: impl FnOnce(&mut Map<String, Value>)) -> String {
    let mut h = header_of(jwe);
    edit(&mut h);
    with_raw_header(jwe, &serde_json::to_vec(&h).expect("json"))
}

fn with_raw_header(jwe: &str, raw: &[u8]) -> String {
    let mut parts: Vec<String> = jwe.split('.').map(str::to_owned).collect();
    parts[0] = B64.encode(raw);
    parts.join(".")
}

fn with_part(jwe: &str, i: usize, value: &str) -> String {
    let mut parts: Vec<String> = jwe.split('.').map(str::to_owned).collect();
    parts[i] = value.to_owned();
    parts.join(".")
}

fn parse(input: &str) -> Result<Jwe, Error> {
    Jwe::parse(input.as_bytes(), &AlgPolicy::INTEROP)
}

fn open(input: &str, k: &LocalKey) -> Result<Vec<u8>, Error> {
    Ok(parse(input)?.open_now(k)?.expose_secret().to_vec())
}

#[test]
fn refused_algorithms_name_their_reason() {
    let k = key(Curve::P256);
    let good = sealed(&k);
    for (alg, reason) in [
        ("none", RefusedAlg::None),
        ("dir", RefusedAlg::Dir),
        ("ECDH-ES", RefusedAlg::DirectEcdhEs),
        ("RSA1_5", RefusedAlg::Rsa1_5),
        ("PBES2-HS256+A128KW", RefusedAlg::Pbes2),
        ("PBES2-HS512+A256KW", RefusedAlg::Pbes2),
        ("A128KW", RefusedAlg::NotAllowed),
        ("A256GCMKW", RefusedAlg::NotAllowed),
        ("HS256", RefusedAlg::NotAllowed),
    ] {
        let bad = with_header(&good, |h| {
            h.insert("alg".into(), alg.into());
            h.insert("p2c".into(), json!(1u64 << 31));
            h.insert("p2s".into(), "AAAAAAAAAAAAAAAAAAAAAA".into());
        });
        match parse(&bad) {
            Err(Error::RefusedAlg { reason: r, alg: a }) => {
                assert_eq!(r, reason, "{alg}");
                assert_eq!(a, alg);
            }
            other => panic!("{alg}: {other:?}"),
        }
    }
    // The credential policy refuses what it does not seal.
    for alg in ["ECDH-ES+A128KW", "ECDH-ES+A192KW", "RSA-OAEP"] {
        let bad = with_header(&good, |h| {
            h.insert("alg".into(), alg.into());
        });
        assert!(
            matches!(
                Jwe::parse(bad.as_bytes(), &AlgPolicy::CREDENTIAL),
                Err(Error::RefusedAlg { reason: RefusedAlg::NotAllowed, .. })
            ),
            "{alg}"
        );
    }
    let bad = with_header(&good, |h| {
        h.insert("enc".into(), "A128CBC-HS256".into());
    });
    assert!(matches!(Jwe::parse(bad.as_bytes(), &AlgPolicy::CREDENTIAL), Err(Error::RefusedEnc(_))));
    let bad = with_header(&good, |h| {
        h.insert("enc".into(), "A256CTR".into());
    });
    assert!(matches!(parse(&bad), Err(Error::RefusedEnc(e)) if e == "A256CTR"));
}

#[test]
fn zip_and_crit_are_refused() {
    let k = key(Curve::P256);
    let good = sealed(&k);
    let bad = with_header(&good, |h| {
        h.insert("zip".into(), "DEF".into());
    });
    assert!(matches!(parse(&bad), Err(Error::Compression)));
    let bad = with_header(&good, |h| {
        h.insert("crit".into(), json!(["exp"]));
        h.insert("exp".into(), json!(1));
    });
    assert!(matches!(parse(&bad), Err(Error::UnknownCrit(n)) if n == "exp"));
    let bad = with_header(&good, |h| {
        h.insert("crit".into(), json!("exp"));
    });
    assert!(matches!(parse(&bad), Err(Error::InvalidHeader("crit"))));
}

#[test]
fn epk_off_curve_wrong_curve_identity() {
    let k = key(Curve::P256);
    let good = sealed(&k);
    // Off the curve: flip one bit of y.
    let bad = with_header(&good, |h| {
        let y = h["epk"]["y"].as_str().expect("y").to_owned();
        let mut yb = B64.decode(y).expect("b64");
        yb[31] ^= 1;
        h["epk"]["y"] = B64.encode(yb).into();
    });
    assert!(matches!(parse(&bad), Err(Error::InvalidEpk(EpkError::OffCurve))));
    // Identity (all-zero coordinates).
    let bad = with_header(&good, |h| {
        h["epk"]["x"] = B64.encode([0u8; 32]).into();
        h["epk"]["y"] = B64.encode([0u8; 32]).into();
    });
    assert!(matches!(parse(&bad), Err(Error::InvalidEpk(EpkError::Identity))));
    // A valid P-384 point against a P-256 key.
    let other = sealed(&key(Curve::P384));
    let bad = with_header(&good, |h| {
        h["epk"] = header_of(&other)["epk"].clone();
    });
    assert!(matches!(open(&bad, &k), Err(Error::InvalidEpk(EpkError::WrongCurve))));
    // crv that does not belong to kty.
    let bad = with_header(&good, |h| {
        h["epk"]["kty"] = "OKP".into();
    });
    assert!(matches!(parse(&bad), Err(Error::InvalidEpk(EpkError::WrongCurve))));
    // Private key material inside the epk.
    let bad = with_header(&good, |h| {
        h["epk"]["d"] = B64.encode([1u8; 32]).into();
    });
    assert!(matches!(parse(&bad), Err(Error::InvalidEpk(EpkError::Malformed))));
    // Coordinates of the wrong length.
    let bad = with_header(&good, |h| {
        h["epk"]["x"] = B64.encode([1u8; 31]).into();
    });
    assert!(matches!(parse(&bad), Err(Error::InvalidEpk(EpkError::Malformed))));
    // Unknown curve.
    let bad = with_header(&good, |h| {
        h["epk"]["crv"] = "secp256k1".into();
    });
    assert!(matches!(parse(&bad), Err(Error::InvalidEpk(EpkError::UnsupportedCurve))));
}

#[test]
fn x25519_small_order_points_give_zero_secret_and_are_refused() {
    let k = key(Curve::X25519);
    let good = sealed(&k);
    let mut one = [0u8; 32];
    one[0] = 1;
    // u = 0 and u = 1 are small-order: Z is all zero for any private key.
    for u in [[0u8; 32], one] {
        let bad = with_header(&good, |h| {
            h["epk"]["x"] = B64.encode(u).into();
        });
        assert!(matches!(open(&bad, &k), Err(Error::ZeroSharedSecret)), "u={u:?}");
    }
}

#[test]
fn iv_tag_and_encrypted_key_lengths() {
    let k = key(Curve::P256);
    let good = sealed(&k);
    let bad = with_part(&good, 2, &B64.encode([0u8; 16]));
    assert!(matches!(parse(&bad), Err(Error::IvLength { got: 16, want: 12, .. })));
    let bad = with_part(&good, 2, "");
    assert!(matches!(parse(&bad), Err(Error::IvLength { got: 0, .. })));
    let tag = B64.decode(good.split('.').nth(4).expect("tag")).expect("b64");
    let bad = with_part(&good, 4, &B64.encode(&tag[..15]));
    assert!(matches!(parse(&bad), Err(Error::TagLength { got: 15, want: 16, .. })));
    let bad = with_part(&good, 4, &B64.encode([&tag[..], &[0]].concat()));
    assert!(matches!(parse(&bad), Err(Error::TagLength { got: 17, .. })));
    let bad = with_part(&good, 1, &B64.encode([0u8; 24]));
    assert!(matches!(parse(&bad), Err(Error::EncryptedKeyLength { got: 24, want: 40, .. })));
}

#[test]
fn bad_base64url() {
    let k = key(Curve::P256);
    let good = sealed(&k);
    let iv = good.split('.').nth(2).expect("iv").to_owned();
    for bad_iv in [format!("{iv}="), format!("{}+", &iv[..iv.len() - 1]), format!("{} ", &iv[..iv.len() - 1])] {
        assert!(matches!(parse(&with_part(&good, 2, &bad_iv)), Err(Error::Base64("iv"))), "{bad_iv}");
    }
    assert!(matches!(parse(&with_part(&good, 0, "e30=")), Err(Error::Base64(_))));
    // Non-canonical trailing bits.
    assert!(matches!(parse(&with_part(&good, 1, "AB")), Err(Error::Base64(_))));
}

#[test]
fn structure_size_and_duplicates() {
    let k = key(Curve::P256);
    let good = sealed(&k);
    assert!(matches!(parse(""), Err(Error::Malformed(_))));
    assert!(matches!(parse("a.b.c.d"), Err(Error::Malformed(_))));
    assert!(matches!(parse(&format!("{good}.x")), Err(Error::Malformed(_))));
    assert!(matches!(Jwe::parse(&[0xff, 0xfe, b'.'], &AlgPolicy::INTEROP), Err(Error::Malformed(_))));
    let big = "a".repeat(MAX_INPUT + 1);
    assert!(matches!(parse(&big), Err(Error::TooLarge { .. })));
    // Duplicate member in the protected header.
    let h = String::from_utf8(B64.decode(good.split('.').next().expect("h")).expect("b64")).expect("utf8");
    let dup = h.replacen('{', "{\"alg\":\"ECDH-ES+A256KW\",", 1);
    assert!(matches!(parse(&with_raw_header(&good, dup.as_bytes())), Err(Error::DuplicateMember(n)) if n == "alg"));
    // Header not JSON.
    assert!(matches!(parse(&with_raw_header(&good, b"not json")), Err(Error::Json(_))));
    // JSON serialization: duplicate member at top level, header collision.
    let p: Vec<&str> = good.split('.').collect();
    let flat = format!(
        r#"{{"protected":"{}","encrypted_key":"{}","iv":"{}","ciphertext":"{}","tag":"{}","tag":"{}"}}"#,
        p[0], p[1], p[2], p[3], p[4], p[4]
    );
    assert!(matches!(parse(&flat), Err(Error::DuplicateMember(n)) if n == "tag"));
    let flat = format!(
        r#"{{"protected":"{}","header":{{"alg":"ECDH-ES+A256KW"}},"encrypted_key":"{}","iv":"{}","ciphertext":"{}","tag":"{}"}}"#,
        p[0], p[1], p[2], p[3], p[4]
    );
    assert!(matches!(parse(&flat), Err(Error::HeaderCollision(n)) if n == "alg"));
    // General JSON that also carries a top-level encrypted_key.
    let general = format!(
        r#"{{"protected":"{}","recipients":[{{"encrypted_key":"{}"}}],"encrypted_key":"{}","iv":"{}","ciphertext":"{}","tag":"{}"}}"#,
        p[0], p[1], p[1], p[2], p[3], p[4]
    );
    assert!(matches!(parse(&general), Err(Error::Malformed(_))));
    // The same envelope in flattened and general form opens.
    let flat = format!(
        r#"{{"protected":"{}","encrypted_key":"{}","iv":"{}","ciphertext":"{}","tag":"{}"}}"#,
        p[0], p[1], p[2], p[3], p[4]
    );
    assert!(open(&flat, &k).is_ok());
    let general = format!(
        r#"{{"protected":"{}","recipients":[{{"header":{{"kid":"other"}},"encrypted_key":"{}"}}],"iv":"{}","ciphertext":"{}","tag":"{}"}}"#,
        p[0], p[1], p[2], p[3], p[4]
    );
    // kid in both protected and per-recipient header: a collision.
    assert!(matches!(parse(&general), Err(Error::HeaderCollision(n)) if n == "kid"));
}

#[test]
fn key_type_must_fit_the_algorithm() {
    let ec = key(Curve::P256);
    let rsa = LocalKey::generate_rsa(2048, "k1").expect("rsa");
    let to_ec = sealed(&ec);
    let to_rsa = sealed(&rsa);
    assert!(matches!(open(&to_ec, &rsa), Err(Error::KeyMismatch(_))));
    assert!(matches!(open(&to_rsa, &ec), Err(Error::KeyMismatch(_))));
    // Same kid, other curve.
    let x = key(Curve::X25519);
    assert!(matches!(open(&to_ec, &x), Err(Error::InvalidEpk(EpkError::WrongCurve))));
    // A kid that matches no recipient.
    let other = LocalKey::generate_ec(Curve::P256, "k2").expect("keygen");
    assert!(matches!(open(&to_ec, &other), Err(Error::NoMatchingRecipient)));
}

/// RFC 7516 §11.5: a bad RSA-OAEP wrapped key and a bad tag give the same
/// error (a random CEK stands in for the undecryptable one).
#[test]
fn rsa_oaep_failure_is_indistinguishable_from_tag_failure() {
    let k = LocalKey::generate_rsa(2048, "k1").expect("rsa");
    let good = sealed(&k);
    assert!(open(&good, &k).is_ok());
    let ek = B64.decode(good.split('.').nth(1).expect("ek")).expect("b64");
    let mut ek_bad = ek.clone();
    ek_bad[10] ^= 0x40;
    let bad_key = open(&with_part(&good, 1, &B64.encode(&ek_bad)), &k).expect_err("refused");
    let tag = B64.decode(good.split('.').nth(4).expect("tag")).expect("b64");
    let mut tag_bad = tag.clone();
    tag_bad[0] ^= 1;
    let bad_tag = open(&with_part(&good, 4, &B64.encode(&tag_bad)), &k).expect_err("refused");
    assert!(matches!(bad_key, Error::Decryption));
    assert!(matches!(bad_tag, Error::Decryption));
    assert_eq!(bad_key.to_string(), bad_tag.to_string());
    // Wrong-length RSA ciphertext is refused by length (public information).
    let short = with_part(&good, 1, &B64.encode(&ek[..255]));
    assert!(matches!(open(&short, &k), Err(Error::EncryptedKeyLength { got: 255, want: 256, .. })));
}

#[test]
fn tampering_anywhere_fails_authentication() {
    for k in [key(Curve::P256), key(Curve::X25519), key(Curve::P384)] {
        let good = sealed(&k);
        for part in [1, 3, 4] {
            let v = B64.decode(good.split('.').nth(part).expect("part")).expect("b64");
            let mut t = v.clone();
            t[0] ^= 0x80;
            let r = open(&with_part(&good, part, &B64.encode(&t)), &k);
            assert!(matches!(r, Err(Error::Decryption)), "part {part}: {r:?}");
        }
        // A header member changed after sealing: the AAD no longer matches.
        let bad = with_header(&good, |h| {
            h.insert("cty".into(), "x".into());
        });
        assert!(matches!(open(&bad, &k), Err(Error::Decryption)));
    }
}

#[test]
fn sealing_refuses_reserved_header_members() {
    let k = key(Curve::P256);
    for m in ["alg", "enc", "epk", "zip", "crit", "p2c"] {
        let mut extra = Map::new();
        extra.insert(m.into(), "x".into());
        assert!(matches!(seal_compact(b"x", k.public(), &extra), Err(Error::Usage(_))), "{m}");
    }
    let mut extra = Map::new();
    extra.insert("kid".into(), "not-k1".into());
    assert!(matches!(seal_compact(b"x", k.public(), &extra), Err(Error::Usage(_))));
    // Too large to open is too large to seal.
    assert!(matches!(seal_compact(&vec![0u8; MAX_INPUT], k.public(), &Map::new()), Err(Error::TooLarge { .. })));
}
