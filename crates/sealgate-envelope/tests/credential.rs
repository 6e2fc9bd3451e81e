//! The credential envelope v1: binding checks, content checks, and the
//! canary — a known secret never shows in an error, a `Debug` or a `Display`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use sealgate_envelope::secrecy::ExposeSecret as _;
use sealgate_envelope::{
    AlgPolicy, Binding, CREDENTIAL_TYP, Class, CredentialError, Curve, Error, Jwe, LocalKey, OwnerKeys, Scope,
    SealRequest, check_binding, open_credential_now, seal_compact, seal_credential,
};
use serde_json::{Map, Value, json};

const CANARY_SECRET: &str = "CANARY-s3cr3t-9f8e7d6c5b4a";
const CANARY_PASSPHRASE: &str = "CANARY-pass-0a1b2c";
const API_KEY: &str = "AKIAEXAMPLEKEY0000WXYZ";

fn credential_json() -> String {
    json!({"api_key": API_KEY, "api_secret": CANARY_SECRET, "passphrase": CANARY_PASSPHRASE}).to_string()
}

fn request() -> SealRequest {
    SealRequest {
        sub: "user-1".into(),
        cid: "cred-1".into(),
        exch: "okx".into(),
        aud: "trader".into(),
        scope: Scope::parse_list("read,trade").expect("scope"),
        iat: 1_700_000_000,
        own: None,
    }
}

fn binding() -> Binding {
    Binding {
        sub: "user-1".into(),
        cid: "cred-1".into(),
        exch: "okx".into(),
        aud: "trader".into(),
        now: Some(1_700_000_100),
    }
}

fn keys() -> Vec<LocalKey> {
    vec![
        LocalKey::generate_ec(Curve::P256, "trader-v1").expect("p256"),
        LocalKey::generate_ec(Curve::P384, "trader-v1").expect("p384"),
        LocalKey::generate_ec(Curve::X25519, "trader-v1").expect("x25519"),
        LocalKey::generate_rsa(2048, "trader-v1").expect("rsa"),
    ]
}

/// Every string an error, a Debug or a Display could show.
fn assert_no_canary(what: &str, text: &str) {
    for c in [CANARY_SECRET, CANARY_PASSPHRASE, "CANARY"] {
        assert!(!text.contains(c), "{what} leaks the canary: {text}");
    }
}

#[test]
fn round_trip_every_key_type() {
    for k in keys() {
        let (env, header) = seal_credential(credential_json().as_bytes(), k.public(), &request()).expect("seal");
        assert_eq!(header.hint, "WXYZ");
        assert_no_canary("envelope", &env);
        assert_no_canary("header", &format!("{header:?}"));
        let opened = open_credential_now(env.as_bytes(), &k, &binding()).expect("open");
        assert_eq!(opened.header, header);
        assert!(opened.header.scope.contains(Class::Trade));
        assert!(!opened.header.scope.contains(Class::Withdraw));
        assert_eq!(opened.credential.get("api_secret").expect("field").expose_secret(), CANARY_SECRET);
        assert_eq!(opened.credential.field_names().collect::<Vec<_>>(), ["api_key", "api_secret", "passphrase"]);
        // Printing the credential or the whole opened value shows no secret.
        assert_eq!(format!("{:?}", opened.credential), "[REDACTED]");
        assert_eq!(format!("{}", opened.credential), "[REDACTED]");
        assert_no_canary("OpenedCredential Debug", &format!("{opened:?}"));
        assert_no_canary("SecretString Debug", &format!("{:?}", opened.credential.get("api_secret")));
        assert_no_canary("LocalKey Debug", &format!("{k:?}"));
        // The plaintext of a general open is a redacted type too.
        let jwe = Jwe::parse(env.as_bytes(), &AlgPolicy::CREDENTIAL).expect("parse");
        let pt = jwe.open_now(&k).expect("open");
        assert_eq!(format!("{pt:?}"), "[REDACTED]");
    }
}

#[test]
fn every_binding_member_is_checked() {
    let k = LocalKey::generate_ec(Curve::P256, "trader-v1").expect("key");
    let (env, _) = seal_credential(credential_json().as_bytes(), k.public(), &request()).expect("seal");
    type Edit = fn(&mut Binding);
    let cases: [(&str, Edit); 4] = [
        ("sub", |b| b.sub = "user-2".into()),
        ("cid", |b| b.cid = "cred-2".into()),
        ("exch", |b| b.exch = "binance".into()),
        ("aud", |b| b.aud = "importer".into()),
    ];
    for (name, edit) in cases {
        let mut b = binding();
        edit(&mut b);
        match open_credential_now(env.as_bytes(), &k, &b) {
            Err(Error::Credential(CredentialError::Mismatch(n))) => assert_eq!(n, name),
            other => panic!("{name}: {other:?}"),
        }
    }
    // Issued in the future beyond the skew.
    let mut b = binding();
    b.now = Some(1_700_000_000 - 301);
    assert!(matches!(
        open_credential_now(env.as_bytes(), &k, &b),
        Err(Error::Credential(CredentialError::IssuedInFuture))
    ));
    b.now = Some(1_700_000_000 - 299);
    assert!(open_credential_now(env.as_bytes(), &k, &b).is_ok());
    // Another key version (kid) of the same role.
    let k2 = LocalKey::generate_ec(Curve::P256, "trader-v2").expect("key");
    assert!(open_credential_now(env.as_bytes(), &k2, &binding()).is_err());
}

/// Seal with a hand-made protected header, as a hostile or buggy client would.
fn seal_with(k: &LocalKey, plaintext: &str, edit: impl FnOnce(&mut Map<String, Value>)) -> String {
    let mut h = Map::new();
    for (m, v) in [
        ("typ", json!(CREDENTIAL_TYP)),
        ("sub", json!("user-1")),
        ("cid", json!("cred-1")),
        ("exch", json!("okx")),
        ("aud", json!("trader")),
        ("scope", json!(["read", "trade"])),
        ("iat", json!(1_700_000_000u64)),
        ("hint", json!("WXYZ")),
    ] {
        h.insert(m.into(), v);
    }
    edit(&mut h);
    seal_compact(plaintext.as_bytes(), k.public(), &h).expect("seal")
}

#[test]
fn header_and_content_checks() {
    let k = LocalKey::generate_ec(Curve::X25519, "trader-v1").expect("key");
    let ok = seal_with(&k, &credential_json(), |_| {});
    assert!(open_credential_now(ok.as_bytes(), &k, &binding()).is_ok());
    type Edit = fn(&mut Map<String, Value>);
    let cases: Vec<(Edit, CredentialError)> = vec![
        (|h| drop(h.insert("typ".into(), json!("JWT"))), CredentialError::WrongType),
        (|h| drop(h.remove("typ")), CredentialError::Missing("typ")),
        (|h| drop(h.remove("sub")), CredentialError::Missing("sub")),
        (|h| drop(h.remove("hint")), CredentialError::Missing("hint")),
        (|h| drop(h.remove("iat")), CredentialError::Missing("iat")),
        (|h| drop(h.insert("iat".into(), json!("soon"))), CredentialError::Malformed("iat")),
        (|h| drop(h.insert("iat".into(), json!(-5))), CredentialError::Malformed("iat")),
        (|h| drop(h.insert("scope".into(), json!("read"))), CredentialError::Malformed("scope")),
        (|h| drop(h.insert("scope".into(), json!([]))), CredentialError::Malformed("scope")),
        (|h| drop(h.insert("scope".into(), json!(["read", "read"]))), CredentialError::Malformed("scope")),
        (|h| drop(h.insert("scope".into(), json!(["admin"]))), CredentialError::Malformed("scope")),
        (|h| drop(h.insert("exch".into(), json!("OKX!"))), CredentialError::Malformed("exch")),
        (|h| drop(h.insert("sub".into(), json!(7))), CredentialError::Malformed("sub")),
        (|h| drop(h.insert("sub".into(), json!("a\nb"))), CredentialError::Malformed("sub")),
        // The cid follows the one credential id rule (C4), not only "1-256 characters".
        (|h| drop(h.insert("cid".into(), json!("a/b"))), CredentialError::Malformed("cid")),
        (|h| drop(h.insert("cid".into(), json!("x".repeat(65)))), CredentialError::Malformed("cid")),
        (|h| drop(h.insert("hint".into(), json!("ABCD"))), CredentialError::HintMismatch),
    ];
    for (edit, want) in cases {
        let env = seal_with(&k, &credential_json(), edit);
        match open_credential_now(env.as_bytes(), &k, &binding()) {
            Err(Error::Credential(got)) => assert_eq!(got, want),
            other => panic!("{want:?}: {other:?}"),
        }
    }
    // Plaintexts that are not a credential: refused after decryption, and
    // the error quotes none of the content.
    for bad in [
        format!("[\"{CANARY_SECRET}\"]"),
        format!("{{\"api_key\":\"{API_KEY}\",\"api_secret\":7,\"x\":\"{CANARY_SECRET}\"}}"),
        format!("{{\"api_key\":\"{API_KEY}\",\"api_secret\":\"{CANARY_SECRET}\",\"api_secret\":\"x\"}}"),
        format!("{{\"api_secret\":\"{CANARY_SECRET}\"}}"),
        format!("{{\"api_key\":\"{API_KEY}\",\"Bad-Name\":\"{CANARY_SECRET}\"}}"),
        format!("{{\"api_key\":\"{API_KEY}\",\"api_secret\":\"{CANARY_SECRET}\""),
        format!("{{\"api_key\":\"{API_KEY}\",\"api_secret\":\"\"}}"),
    ] {
        let env = seal_with(&k, &bad, |_| {});
        let e = open_credential_now(env.as_bytes(), &k, &binding()).expect_err("refused");
        assert!(matches!(e, Error::Credential(CredentialError::BadPlaintext(_))), "{e:?}");
        assert_no_canary("error Display", &e.to_string());
        assert_no_canary("error Debug", &format!("{e:?}"));
        // Sealing refuses the same plaintexts, also without quoting them.
        let e = seal_credential(bad.as_bytes(), k.public(), &request()).expect_err("refused");
        assert_no_canary("seal error", &format!("{e} {e:?}"));
    }
}

#[test]
fn binding_is_checked_before_any_private_key_work() {
    // check_binding needs no key: the api role validates uploads with it.
    let k = LocalKey::generate_ec(Curve::P256, "trader-v1").expect("key");
    let (env, _) = seal_credential(credential_json().as_bytes(), k.public(), &request()).expect("seal");
    let jwe = Jwe::parse(env.as_bytes(), &AlgPolicy::CREDENTIAL).expect("parse");
    let h = check_binding(&jwe, Some("trader-v1"), &binding()).expect("binding");
    assert_eq!(h.aud, "trader");
    let mut other = binding();
    other.sub = "mallory".into();
    assert!(check_binding(&jwe, Some("trader-v1"), &other).is_err());
}

#[test]
fn canary_never_in_any_error_of_a_damaged_envelope() {
    let k = LocalKey::generate_ec(Curve::P256, "trader-v1").expect("key");
    let (env, _) = seal_credential(credential_json().as_bytes(), k.public(), &request()).expect("seal");
    let bytes = env.as_bytes();
    // Damage each position in turn (every 7th byte keeps the test quick).
    for i in (0..bytes.len()).step_by(7) {
        let mut d = bytes.to_vec();
        d[i] = if d[i] == b'A' { b'B' } else { b'A' };
        if let Err(e) = open_credential_now(&d, &k, &binding()) {
            assert_no_canary("error", &format!("{e} {e:?}"));
        }
    }
    let _ = B64.encode(b"");
}

/// Two RFC 7638 thumbprints (RFC 8037 A.3's Ed25519 key, RFC 7638 §3.1's RSA key).
const OWN_A: &str = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";
const OWN_B: &str = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";

/// Replace the compact JWE's protected header by `edit` of it, keeping everything else.
fn with_protected(env: &str, edit: impl FnOnce(&mut Map<String, Value>)) -> String {
    let parts: Vec<&str> = env.split('.').collect();
    let mut h: Map<String, Value> = serde_json::from_slice(&B64.decode(parts[0]).expect("b64")).expect("json");
    edit(&mut h);
    let p0 = B64.encode(serde_json::to_vec(&h).expect("json"));
    format!("{p0}.{}", parts[1..].join("."))
}

#[test]
fn own_names_the_owner_authority_and_is_sealed() {
    let own = OwnerKeys::new([OWN_A, OWN_B]).expect("own");
    for k in keys() {
        let req = SealRequest { own: Some(own.clone()), ..request() };
        let (env, header) = seal_credential(credential_json().as_bytes(), k.public(), &req).expect("seal");
        assert_eq!(header.own.as_ref(), Some(&own));
        let opened = open_credential_now(env.as_bytes(), &k, &binding()).expect("open");
        assert_eq!(opened.header.own.as_ref().map(OwnerKeys::thumbprints), Some(&[OWN_B.into(), OWN_A.into()][..]));
        let jwe = Jwe::parse(env.as_bytes(), &AlgPolicy::CREDENTIAL).expect("parse");
        assert_eq!(jwe.protected_header().get("own"), Some(&json!([OWN_B, OWN_A])), "sorted, as sealed");
        // The header is the AAD: dropping, swapping, adding or reordering a thumbprint
        // without the CEK breaks the tag.
        type Edit = fn(&mut Map<String, Value>);
        let edits: [Edit; 4] = [
            |h| drop(h.remove("own")),
            |h| drop(h.insert("own".into(), json!([OWN_A]))),
            |h| drop(h.insert("own".into(), json!(["AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", OWN_B]))),
            |h| drop(h.insert("own".into(), json!(["AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", OWN_B, OWN_A]))),
        ];
        for edit in edits {
            let forged = with_protected(&env, edit);
            let r = open_credential_now(forged.as_bytes(), &k, &binding());
            assert!(matches!(r, Err(Error::Decryption)), "{r:?}");
        }
    }
    // Without own, none is added: an envelope made before C8 opens as before.
    let k = LocalKey::generate_ec(Curve::P256, "trader-v1").expect("key");
    let (env, header) = seal_credential(credential_json().as_bytes(), k.public(), &request()).expect("seal");
    assert_eq!(header.own, None);
    let added = with_protected(&env, |h| drop(h.insert("own".into(), json!([OWN_A]))));
    assert!(matches!(open_credential_now(added.as_bytes(), &k, &binding()), Err(Error::Decryption)));
    assert!(open_credential_now(env.as_bytes(), &k, &binding()).expect("open").header.own.is_none());
}

#[test]
fn malformed_own_is_refused_by_name() {
    let k = LocalKey::generate_ec(Curve::X25519, "trader-v1").expect("key");
    let form = "a thumbprint is 43 base64url characters (SHA-256)";
    let cases: Vec<(Value, &str)> = vec![
        (json!(null), "own must be an array of strings"),
        (json!(OWN_A), "own must be an array of strings"),
        (json!([OWN_A, 1]), "own must be an array of strings"),
        (json!([]), "own lists 1 to 10 thumbprints"),
        (json!(vec![OWN_A; 11]), "own lists 1 to 10 thumbprints"),
        (json!([OWN_A, OWN_B]), "own must be sorted in ascending byte order"),
        (json!([OWN_A, OWN_A]), "own lists a thumbprint twice"),
        (json!([&OWN_A[..42]]), form),
        (json!([format!("{OWN_A}=")]), form),
        (json!([format!("{}/", &OWN_A[..42])]), form),
        (json!([format!("{}l", &OWN_A[..42])]), form),
    ];
    for (own, want) in cases {
        let env = seal_with(&k, &credential_json(), |h| drop(h.insert("own".into(), own.clone())));
        match open_credential_now(env.as_bytes(), &k, &binding()) {
            Err(Error::Credential(CredentialError::BadOwner(got))) => assert_eq!(got, want, "{own}"),
            other => panic!("{own}: {other:?}"),
        }
        // The api's upload check refuses it the same way, without a key.
        let jwe = Jwe::parse(env.as_bytes(), &AlgPolicy::CREDENTIAL).expect("parse");
        let r = check_binding(&jwe, Some("trader-v1"), &binding());
        assert!(matches!(r, Err(Error::Credential(CredentialError::BadOwner(_)))), "{r:?}");
    }
    // Sealing refuses what opening would refuse.
    assert!(OwnerKeys::new([OWN_A, OWN_A]).is_err());
    assert!(OwnerKeys::new(["not-a-thumbprint"]).is_err());
}
