//! RFC 7520 §5 (JWE cookbook) and RFC 8037 Appendix A.6, read from the
//! shared vector set (`../shared/vectors/rfc7520-cookbook`, see its LICENSE).
//! Every example in an allowed algorithm must open to its plaintext, in
//! every serialization it comes in; every other one must be refused for
//! the right reason.

use std::path::PathBuf;

use sealgate_envelope::{AlgPolicy, DecryptionKey, EphemeralPublicKey, Error, Jwe, LocalKey, RefusedAlg};
use serde_json::Value;

fn vectors() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors/rfc7520-cookbook")
}

fn load(name: &str) -> Value {
    let path = vectors().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("vector is JSON")
}

/// All serializations of an example, as input bytes.
fn serializations(v: &Value) -> Vec<(String, Vec<u8>)> {
    let out = &v["output"];
    let mut all = Vec::new();
    if let Some(c) = out["compact"].as_str() {
        all.push(("compact".to_owned(), c.as_bytes().to_vec()));
    }
    for k in ["json", "json_flat"] {
        if out[k].is_object() {
            all.push((k.to_owned(), serde_json::to_vec(&out[k]).expect("json")));
        }
    }
    assert!(!all.is_empty());
    all
}

fn key_of(v: &Value) -> LocalKey {
    LocalKey::from_json(&serde_json::to_vec(&v).expect("json")).expect("vector key loads")
}

fn plaintext(v: &Value) -> &[u8] {
    v["input"]["plaintext"].as_str().expect("plaintext").as_bytes()
}

fn opens(file: &str) {
    let v = load(file);
    let key = key_of(&v["input"]["key"]);
    for (form, input) in serializations(&v) {
        let jwe = Jwe::parse(&input, &AlgPolicy::INTEROP).unwrap_or_else(|e| panic!("{file} {form}: {e}"));
        let pt = jwe.open_now(&key).unwrap_or_else(|e| panic!("{file} {form}: {e}"));
        assert_eq!(pt.expose_secret(), plaintext(&v), "{file} {form}");
        // The credential profile allows none of the cookbook's choices.
        assert!(Jwe::parse(&input, &AlgPolicy::CREDENTIAL).is_err(), "{file} {form} under CREDENTIAL");
    }
}

#[test]
fn rfc7520_5_2_rsa_oaep_a256gcm() {
    opens("jwe/5_2.key_encryption_using_rsa-oaep_with_aes-gcm.json");
}

#[test]
fn rfc7520_5_4_ecdh_es_a128kw_p384_a128gcm() {
    opens("jwe/5_4.key_agreement_with_key_wrapping_using_ecdh-es_and_aes-keywrap_with_aes-gcm.json");
}

#[test]
fn rfc7520_5_13_ecdh_es_a256kw_recipient_of_three() {
    let v = load("jwe/5_13.encrypting_to_multiple_recipients.json");
    let keys = v["input"]["key"].as_array().expect("keys");
    let input = serde_json::to_vec(&v["output"]["json"]).expect("json");
    let jwe = Jwe::parse(&input, &AlgPolicy::INTEROP).expect("parses: one recipient is usable");
    assert_eq!(jwe.recipient_count(), 3);
    assert_eq!(jwe.recipients().len(), 1);
    // The ECDH-ES+A256KW recipient (P-384, A128CBC-HS256 content).
    let ec = key_of(&keys[1]);
    assert_eq!(ec.kid(), Some("peregrin.took@tuckborough.example"));
    assert_eq!(jwe.open_now(&ec).expect("opens").expose_secret(), plaintext(&v));
    // The RSA1_5 recipient is refused for its algorithm, not silently skipped.
    let rsa = key_of(&keys[0]);
    match jwe.open_now(&rsa) {
        Err(Error::RefusedAlg { reason: RefusedAlg::Rsa1_5, .. }) => {}
        other => panic!("RSA1_5 recipient: {other:?}"),
    }
}

fn refused(file: &str, check: impl Fn(&Error) -> bool) {
    let v = load(file);
    for (form, input) in serializations(&v) {
        for policy in [AlgPolicy::INTEROP, AlgPolicy::CREDENTIAL] {
            match Jwe::parse(&input, &policy) {
                Err(e) if check(&e) => {}
                Err(e) => panic!("{file} {form}: wrong reason: {e:?}"),
                Ok(_) => panic!("{file} {form}: accepted"),
            }
        }
    }
}

fn alg_reason(want: RefusedAlg) -> impl Fn(&Error) -> bool {
    move |e| matches!(e, Error::RefusedAlg { reason, .. } if *reason == want)
}

#[test]
fn rfc7520_refused_examples_name_their_reason() {
    refused("jwe/5_1.key_encryption_using_rsa_v15_and_aes-hmac-sha2.json", alg_reason(RefusedAlg::Rsa1_5));
    refused("jwe/5_3.key_wrap_using_pbes2-aes-keywrap_with-aes-cbc-hmac-sha2.json", alg_reason(RefusedAlg::Pbes2));
    refused("jwe/5_5.key_agreement_using_ecdh-es_with_aes-cbc-hmac-sha2.json", |e| {
        // Under CREDENTIAL the enc (A128CBC-HS256) is refused first; both are right.
        matches!(e, Error::RefusedAlg { reason: RefusedAlg::DirectEcdhEs, .. } | Error::RefusedEnc(_))
    });
    refused("jwe/5_6.direct_encryption_using_aes-gcm.json", |e| {
        matches!(e, Error::RefusedAlg { reason: RefusedAlg::Dir, .. } | Error::RefusedEnc(_))
    });
    refused("jwe/5_9.compressed_content.json", |e| matches!(e, Error::Compression));
    refused("curve25519/ecdh-es.json", |e| {
        matches!(e, Error::RefusedAlg { reason: RefusedAlg::DirectEcdhEs, .. } | Error::RefusedEnc(_))
    });
    // Symmetric key wrapping is no recipient key: outside the allow-list.
    for f in [
        "jwe/5_7.key_wrap_using_aes-gcm_keywrap_with_aes-cbc-hmac-sha2.json",
        "jwe/5_8.key_wrap_using_aes-keywrap_with_aes-gcm.json",
        "jwe/5_10.including_additional_authentication_data.json",
        "jwe/5_11.protecting_specific_header_fields.json",
        "jwe/5_12.protecting_content_only.json",
    ] {
        refused(f, |e| matches!(e, Error::RefusedAlg { reason: RefusedAlg::NotAllowed, .. } | Error::RefusedEnc(_)));
    }
}

#[test]
fn pbes2_is_refused_under_the_interop_policy_even_with_huge_p2c() {
    // The PBES2 header is refused by name; p2c is never read.
    let v = load("jwe/5_3.key_wrap_using_pbes2-aes-keywrap_with-aes-cbc-hmac-sha2.json");
    let compact = v["output"]["compact"].as_str().expect("compact");
    let mut parts: Vec<String> = compact.split('.').map(str::to_owned).collect();
    // A p2c of 2^31 (minutes of PBKDF2 if it were run), and p2c values no
    // parser could use: each is refused for the algorithm alone, so p2c was
    // never read, let alone iterated. (No timing here: speed is benchmarked.)
    for p2c in [serde_json::json!(2147483648u64), serde_json::json!("not a count"), serde_json::json!(-1)] {
        let header = serde_json::json!({"alg":"PBES2-HS512+A256KW","p2s":"8Q1SzinasR3xchYz6ZZcHA","p2c":p2c,"enc":"A128CBC-HS256"});
        parts[0] = b64(&serde_json::to_vec(&header).expect("json"));
        let e = Jwe::parse(parts.join(".").as_bytes(), &AlgPolicy::INTEROP).expect_err("refused");
        assert!(matches!(e, Error::RefusedAlg { reason: RefusedAlg::Pbes2, .. }), "p2c {p2c}: {e:?}");
    }
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).expect("b64")
}

fn now<T>(f: sealgate_envelope::KeyFuture<'_, T>) -> T {
    let mut f = f;
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(r) => r.expect("key step"),
        std::task::Poll::Pending => panic!("LocalKey futures are ready at once"),
    }
}

/// RFC 8037 Appendix A.6 (the RFC 7748 §6.1 keys): ECDH-ES with X25519
/// gives Z = 4a5d9d5b…161742, computed from either side.
#[test]
fn rfc8037_a6_x25519_shared_secret() {
    let z = hex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
    let bob = LocalKey::from_json(
        br#"{"kty":"OKP","crv":"X25519","kid":"Bob","x":"3p7bfXt9wbTTW2HC7OQ1Nz-DQ8hbeGdNrfx-FG-IK08","d":"XasIfmJKikt54X-Lg4AO5m87sSkmGLb9HC-LJ_-I4Os"}"#,
    )
    .expect("Bob's key");
    let eph_pub = unb64("hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo");
    let epk = EphemeralPublicKey::from_coordinates(sealgate_envelope::Curve::X25519, &eph_pub, None).expect("epk");
    assert_eq!(now(bob.ecdh(&epk)).expose_secret(), &z[..]);

    // The ephemeral side: secret 77076d0a…2c2a, public hSDw….
    let eph_d = hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
    let eph = LocalKey::from_json(
        format!(r#"{{"kty":"OKP","crv":"X25519","x":"{}","d":"{}"}}"#, b64(&eph_pub), b64(&eph_d)).as_bytes(),
    )
    .expect("ephemeral key");
    let bob_pub = unb64("3p7bfXt9wbTTW2HC7OQ1Nz-DQ8hbeGdNrfx-FG-IK08");
    let bob_epk = EphemeralPublicKey::from_coordinates(sealgate_envelope::Curve::X25519, &bob_pub, None).expect("epk");
    assert_eq!(now(eph.ecdh(&bob_epk)).expose_secret(), &z[..]);
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
}
