//! The owner's authority end to end, with a software authenticator: keys from
//! COSE and JWK (RFC 7638 / RFC 8037 thumbprint vectors), statements in their
//! canonical form, and WebAuthn assertions, every refusal by its kind.

use std::collections::BTreeSet;

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RSA_PKCS1_SHA256, RsaKeyPair,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use sealgate_authority::{
    Assertion, AuthorityKey, CoseAlg, Decimal, Error, FRESHNESS_SECS, FUTURE_SKEW_SECS, GrantTerms, OwnerState,
    OwnerStatus, RateLimit, Statement, StatementKind, Withdrawal, verify_assertion,
};

const ORIGIN: &str = "https://sealgate.example";
const RP_ID: &str = "sealgate.example";
const NOW: u64 = 1_800_000_000;

// ---------------------------------------------------------------- the software authenticator

enum Signer {
    P256(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
    Rsa(RsaKeyPair),
}

struct SoftAuthenticator {
    signer: Signer,
    cose: Vec<u8>,
}

/// What the authenticator and the browser put in an assertion; each test edits one thing.
struct Ceremony {
    typ: &'static str,
    challenge: String,
    origin: String,
    rp_id: String,
    flags: u8,
    cross_origin: Option<bool>,
    extensions: Option<Vec<u8>>,
}

impl Ceremony {
    fn for_statement(s: &Statement) -> Self {
        Self {
            typ: "webauthn.get",
            challenge: B64.encode(s.challenge()),
            origin: ORIGIN.into(),
            rp_id: RP_ID.into(),
            flags: 0x05,
            cross_origin: Some(false),
            extensions: None,
        }
    }
}

fn cbor_bstr(out: &mut Vec<u8>, b: &[u8]) {
    match b.len() {
        n @ 0..=23 => out.push(0x40 | n as u8),
        n @ 24..=255 => out.extend([0x58, n as u8]),
        n => out.extend([0x59, (n >> 8) as u8, n as u8]),
    }
    out.extend_from_slice(b);
}

impl SoftAuthenticator {
    fn new(alg: CoseAlg) -> Self {
        match alg {
            CoseAlg::Es256 => {
                let k = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).expect("p256");
                let p = k.public_key().as_ref().to_vec();
                let mut cose = vec![0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21];
                cbor_bstr(&mut cose, &p[1..33]);
                cose.push(0x22);
                cbor_bstr(&mut cose, &p[33..]);
                Self { signer: Signer::P256(k), cose }
            }
            CoseAlg::EdDsa => {
                let k = Ed25519KeyPair::generate().expect("ed25519");
                let mut cose = vec![0xa4, 0x01, 0x01, 0x03, 0x27, 0x20, 0x06, 0x21];
                cbor_bstr(&mut cose, k.public_key().as_ref());
                Self { signer: Signer::Ed25519(k), cose }
            }
            _ => {
                let k = RsaKeyPair::generate(KeySize::Rsa2048).expect("rsa");
                let n = k.public_key().modulus().big_endian_without_leading_zero().to_vec();
                let e = k.public_key().exponent().big_endian_without_leading_zero().to_vec();
                let mut cose = vec![0xa4, 0x01, 0x03, 0x03, 0x39, 0x01, 0x00, 0x20];
                cbor_bstr(&mut cose, &n);
                cose.push(0x21);
                cbor_bstr(&mut cose, &e);
                Self { signer: Signer::Rsa(k), cose }
            }
        }
    }

    fn key(&self) -> AuthorityKey {
        AuthorityKey::from_cose(&self.cose).expect("our own COSE key")
    }

    fn sign(&self, msg: &[u8]) -> Vec<u8> {
        match &self.signer {
            Signer::P256(k) => k.sign(&SystemRandom::new(), msg).expect("sign").as_ref().to_vec(),
            Signer::Ed25519(k) => k.sign(msg).as_ref().to_vec(),
            Signer::Rsa(k) => {
                let mut sig = vec![0; k.public_modulus_len()];
                k.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), msg, &mut sig).expect("sign");
                sig
            }
        }
    }

    /// (authenticatorData, clientDataJSON, signature), raw.
    fn raw(&self, c: &Ceremony) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let mut cd = format!(r#"{{"type":"{}","challenge":"{}","origin":"{}""#, c.typ, c.challenge, c.origin);
        if let Some(x) = c.cross_origin {
            cd.push_str(&format!(r#","crossOrigin":{x}"#));
        }
        cd.push('}');
        let mut ad = digest(&SHA256, c.rp_id.as_bytes()).as_ref().to_vec();
        ad.push(c.flags | if c.extensions.is_some() { 0x80 } else { 0 });
        ad.extend(7u32.to_be_bytes());
        if let Some(e) = &c.extensions {
            ad.extend(e);
        }
        let mut msg = ad.clone();
        msg.extend(digest(&SHA256, cd.as_bytes()).as_ref());
        let sig = self.sign(&msg);
        (ad, cd.into_bytes(), sig)
    }

    fn assert(&self, c: &Ceremony) -> Assertion {
        let (ad, cd, sig) = self.raw(c);
        Assertion::from_parts(&B64.encode(ad), &B64.encode(cd), &B64.encode(sig)).expect("well-formed")
    }
}

fn policy_statement(iat: u64) -> Statement {
    let state = OwnerState::new(
        OwnerStatus::Active,
        false,
        Some(["ETHUSDT".to_owned(), "BTCUSDT".to_owned()].into()),
        Decimal::parse("2500.5"),
        Some(RateLimit { max: 10, window_ms: 60_000 }),
    )
    .expect("state");
    Statement::new("user-1", "cred-1", StatementKind::Policy(state), iat).expect("statement")
}

fn withdrawal_statement(iat: u64) -> Statement {
    let w = Withdrawal::new(
        "binance",
        "USDT",
        Decimal::parse("1250.75").expect("amount"),
        "TXyz\"quoted\\dest?memo=42",
        Some("TRC20"),
        [7u8; 32],
    )
    .expect("withdrawal");
    Statement::new("user-1", "cred-1", StatementKind::Withdrawal(w), iat).expect("statement")
}

fn grant_statement(iat: u64) -> Statement {
    let g = GrantTerms::new(
        "binance",
        &["importer", "trader"],
        &["read", "trade"],
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs",
        "bn-\"key\"-1234",
    )
    .expect("grant");
    Statement::new("user-1", "cred-1", StatementKind::Grant(g), iat).expect("statement")
}

fn verify(key: &AuthorityKey, s: &Statement, a: &Assertion) -> Result<sealgate_authority::Verified, Error> {
    verify_assertion(key, s, a, &[ORIGIN, "https://other.allowed.example"], RP_ID, NOW)
}

// ---------------------------------------------------------------- keys

#[test]
fn rfc_thumbprint_vectors() {
    // RFC 8037 Appendix A.2/A.3: the Ed25519 public key and its SHA-256 thumbprint.
    let ed =
        AuthorityKey::from_jwk(br#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#)
            .expect("RFC 8037 key");
    assert_eq!(ed.thumbprint(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    assert_eq!(ed.alg(), CoseAlg::EdDsa);
    // RFC 7638 §3.1: the RSA key (with its alg and kid, which the thumbprint ignores).
    let rsa = AuthorityKey::from_jwk(
        br#"{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}"#,
    )
    .expect("RFC 7638 key");
    assert_eq!(rsa.thumbprint(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    // The thumbprint is an envelope `own` entry as it is.
    sealgate_envelope::OwnerKeys::new([ed.thumbprint(), rsa.thumbprint()]).expect("valid own");
}

#[test]
fn cose_and_jwk_name_the_same_key() {
    for alg in [CoseAlg::Es256, CoseAlg::EdDsa, CoseAlg::Rs256] {
        let a = SoftAuthenticator::new(alg);
        let k = a.key();
        assert_eq!(k.alg(), alg);
        let jwk = serde_json::to_vec(&k.to_jwk()).expect("jwk");
        let back = AuthorityKey::from_jwk(&jwk).expect("our own JWK");
        assert_eq!(back, k);
        assert_eq!(back.thumbprint(), k.thumbprint());
        assert_eq!(k.thumbprint().len(), 43);
        assert!(format!("{k:?}").contains(&k.thumbprint()));
    }
    let (a, b) = (SoftAuthenticator::new(CoseAlg::Es256), SoftAuthenticator::new(CoseAlg::Es256));
    assert_ne!(a.key().thumbprint(), b.key().thumbprint());
}

#[test]
fn hostile_keys_are_refused_by_kind() {
    let good = SoftAuthenticator::new(CoseAlg::Es256).cose;
    let ed = SoftAuthenticator::new(CoseAlg::EdDsa).cose;
    let edit = |from: &[u8], at: usize, b: u8| {
        let mut c = from.to_vec();
        c[at] = b;
        c
    };
    let mut off_curve = good.clone();
    let last = off_curve.len() - 1;
    off_curve[last] ^= 1;
    let mut extra = good.clone();
    extra[0] = 0xa6;
    extra.extend([0x02, 0x41, 0x00]); // kid
    type Kind = fn(&Error) -> bool;
    let mut cbor_cases: Vec<(Vec<u8>, Kind)> = vec![
        (off_curve, |e| matches!(e, Error::InvalidKey(_))),
        (edit(&good, 6, 0x02), |e| matches!(e, Error::UnsupportedKey(_))), // crv P-384
        (edit(&good, 4, 0x27), |e| matches!(e, Error::UnsupportedKey(_))), // EC2 with EdDSA
        (edit(&good, 2, 0x04), |e| matches!(e, Error::UnsupportedKey(_))), // kty Symmetric
        (edit(&ed, 6, 0x04), |e| matches!(e, Error::UnsupportedKey(_))),   // X25519
        (extra, |e| matches!(e, Error::InvalidKey(_))),
        (good[..good.len() - 1].to_vec(), |e| matches!(e, Error::Cbor(_))),
        ([&good[..], &[0x00]].concat(), |e| matches!(e, Error::Cbor(_))),
        (vec![0xa0], |e| matches!(e, Error::InvalidKey(_))),
        (vec![0xff; 4096], |e| matches!(e, Error::TooLarge(_))),
    ];
    // alg missing: a map of four without label 3.
    let mut no_alg = vec![0xa4, 0x01, 0x02, 0x20, 0x01];
    no_alg.extend_from_slice(&good[7..]);
    cbor_cases.push((no_alg, |e| matches!(e, Error::InvalidKey(_))));
    for (i, (cose, want)) in cbor_cases.into_iter().enumerate() {
        let e = AuthorityKey::from_cose(&cose).expect_err("refused");
        assert!(want(&e), "COSE case {i}: {e:?}");
    }
    let x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
    for (jwk, want) in [
        (format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}","d":"{x}"}}"#), "JWK holds private key material"),
        (format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}","alg":"ES256"}}"#), "JWK alg does not fit the key"),
        (
            format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}","y":"{x}"}}"#),
            "JWK has a member its key type does not define",
        ),
        (r#"{"kty":"OKP","crv":"Ed25519","x":"AAAA"}"#.to_owned(), "Ed25519 x is not 32 bytes"),
        (r#"{"kty":"RSA","n":"AQAB","e":"AQAB"}"#.to_owned(), "RSA modulus must be 2048 to 8192 bits"),
    ] {
        assert_eq!(AuthorityKey::from_jwk(jwk.as_bytes()), Err(Error::InvalidKey(want)), "{jwk}");
    }
    for (jwk, want) in [
        (format!(r#"{{"kty":"OKP","crv":"X25519","x":"{x}"}}"#), Error::UnsupportedKey("OKP curve other than Ed25519")),
        (r#"{"kty":"oct","k":"AAAA"}"#.to_owned(), Error::InvalidKey("JWK holds private key material")),
        (format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}="}}"#), Error::Base64("JWK x")),
        (
            format!(r#"{{"kty":"OKP","kty":"OKP","crv":"Ed25519","x":"{x}"}}"#),
            Error::Malformed("JWK is not a JSON object"),
        ),
        ("[]".to_owned(), Error::Malformed("JWK is not a JSON object")),
        (" ".repeat(5000), Error::TooLarge("JWK")),
    ] {
        assert_eq!(AuthorityKey::from_jwk(jwk.as_bytes()), Err(want), "{jwk:.80}");
    }
}

// ---------------------------------------------------------------- statements

#[test]
fn statements_have_one_canonical_form() {
    let p = policy_statement(NOW);
    let text = String::from_utf8(p.canonical()).expect("utf-8");
    let id = p.id();
    assert_eq!(
        text,
        format!(
            r#"{{"typ":"sealgate-approval+v1","id":"{id}","iat":{NOW},"owner":"user-1","cid":"cred-1","kind":"policy","state":{{"status":"active","kill_switch":false,"symbols":["BTCUSDT","ETHUSDT"],"max_notional":"2500.5","rate":{{"max":10,"window_ms":60000}}}}}}"#
        )
    );
    assert_eq!(Statement::parse(text.as_bytes()), Ok(p.clone()));
    assert_eq!(p.challenge().as_ref(), digest(&SHA256, text.as_bytes()).as_ref());
    let w = withdrawal_statement(NOW);
    let wt = String::from_utf8(w.canonical()).expect("utf-8");
    assert!(wt.contains(r#""destination":"TXyz\"quoted\\dest?memo=42","network":"TRC20","request":"BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc"}}"#), "{wt}");
    assert_eq!(Statement::parse(wt.as_bytes()), Ok(w.clone()));
    assert_ne!(policy_statement(NOW).id(), p.id(), "ids are random");
    assert_ne!(policy_statement(NOW).challenge(), p.challenge());

    // Any other spelling of the same meaning is refused: the owner signs one byte string.
    for other in [
        text.replace(r#""iat":"#, r#" "iat":"#),
        text.replace(r#""2500.5""#, r#""2500.50""#),
        text.replace(r#"["BTCUSDT","ETHUSDT"]"#, r#"["ETHUSDT","BTCUSDT"]"#),
        text.replace(r#""owner":"user-1","cid":"cred-1""#, r#""cid":"cred-1","owner":"user-1""#),
        text.replace("user-1", r"user\u002d1"),
    ] {
        assert_eq!(Statement::parse(other.as_bytes()), Err(Error::NotCanonical), "{other}");
    }
    let st = |why| Err(Error::Statement(why));
    for (bad, want) in [
        (text.replace("sealgate-approval+v1", "sealgate-approval+v2"), st("typ must be \"sealgate-approval+v1\"")),
        (
            text.replace(r#""kind":"policy""#, r#""kind":"admin""#),
            st("kind must be \"policy\", \"withdrawal\" or \"grant\""),
        ),
        (
            text.replace(r#""cid":"cred-1","#, r#""cid":"cred-1","extra":1,"#),
            st("statement has a member v1 does not define"),
        ),
        (text.replace(r#""cid":"cred-1","#, ""), st("statement lacks a member its kind requires")),
        (text.replace(r#""active""#, r#""deleted""#), st("status must be \"active\" or \"frozen\"")),
        (text.replace(r#""kill_switch":false"#, r#""kill_switch":0"#), st("kill_switch must be a boolean")),
        (text.replace(r#"["BTCUSDT","ETHUSDT"]"#, r#"["BTCUSDT","BTCUSDT"]"#), st("symbols lists a symbol twice")),
        (text.replace(r#""2500.5""#, "2500.5"), st("max_notional must be null or a decimal string")),
        (text.replace(r#""2500.5""#, r#""0""#), st("max_notional must be positive")),
        (
            text.replace(r#""max":10"#, r#""max":0"#),
            st("rate.max must be 1 to 100000 and rate.window_ms 1000 to 86400000"),
        ),
        (text.replace("cred-1", "cred/1"), st(sealgate_vocab::CREDENTIAL_ID_RULE)),
        (text.replace(id, "short"), st("id must be 16 random bytes in base64url (22 characters)")),
        (text.replace(&format!("{NOW}"), "-1"), st("iat must be a non-negative integer below 2^53")),
        (text.replace(&format!("{NOW}"), "9007199254740992"), st("iat must be a non-negative integer below 2^53")),
        (wt.replace("1250.75", "-1"), st("amount must be a decimal string")),
        (wt.replace("TRC20", "TRC 20"), st("network must be 1 to 32 of A-Z a-z 0-9 . _ -")),
        (wt.replace("binance", "Binance"), st("exch must be 1 to 32 of a-z 0-9 _ -")),
        (
            wt.replace("BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc", "BwcH"),
            st("request must be a SHA-256 digest in base64url (43 characters)"),
        ),
        (wt.replace("TXyz", "T\\u0001"), st("destination must be 1 to 256 printable ASCII characters")),
    ] {
        assert_eq!(Statement::parse(bad.as_bytes()), want, "{bad}");
    }
    // S6: a grant of an exchange key born in the custody.
    let g = grant_statement(NOW);
    let gt = String::from_utf8(g.canonical()).expect("utf-8");
    assert!(
        gt.ends_with(r#""kind":"grant","grant":{"exch":"binance","roles":["importer","trader"],"scope":["read","trade"],"key":"NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs","api_key":"bn-\"key\"-1234"}}"#),
        "{gt}"
    );
    assert_eq!(Statement::parse(gt.as_bytes()), Ok(g.clone()));
    for (bad, want) in [
        (
            gt.replace(r#"["importer","trader"]"#, r#"["trader","importer"]"#),
            st("roles must list importer and/or trader, in that order, each once"),
        ),
        (
            gt.replace(r#"["importer","trader"]"#, r#"["agent"]"#),
            st("roles must list importer and/or trader, in that order, each once"),
        ),
        (
            gt.replace(r#"["importer","trader"]"#, "[]"),
            st("roles must list importer and/or trader, in that order, each once"),
        ),
        (
            gt.replace(r#"["read","trade"]"#, r#"["read","read"]"#),
            st("scope must list read, trade, withdraw (a subset, in that order)"),
        ),
        (
            gt.replace(r#"["read","trade"]"#, r#"["admin"]"#),
            st("scope must list read, trade, withdraw (a subset, in that order)"),
        ),
        (
            gt.replace("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs", "short"),
            st("key must be a SHA-256 digest in base64url (43 characters)"),
        ),
        (gt.replace(r#"bn-\"key\"-1234"#, "a b"), st("api_key must be 1 to 256 printable ASCII characters")),
        (gt.replace(r#","api_key""#, r#","extra":1,"api_key""#), st("grant has a member v1 does not define")),
    ] {
        assert_eq!(Statement::parse(bad.as_bytes()), want, "{bad}");
    }
    assert_eq!(
        Statement::parse(b"[]"),
        Err(Error::Malformed("statement is not a JSON object (without repeated members)"))
    );
    assert_eq!(
        Statement::parse(text.replace(r#""iat""#, r#""iat":1,"iat""#).as_bytes()),
        Err(Error::Malformed("statement is not a JSON object (without repeated members)"))
    );
    assert_eq!(Statement::parse(&vec![b' '; 9000]), Err(Error::TooLarge("statement")));
}

// ---------------------------------------------------------------- assertions

#[test]
fn a_valid_assertion_verifies_for_every_algorithm() {
    for alg in [CoseAlg::Es256, CoseAlg::EdDsa, CoseAlg::Rs256] {
        let auth = SoftAuthenticator::new(alg);
        for s in [policy_statement(NOW - 10), withdrawal_statement(NOW), grant_statement(NOW)] {
            let a = auth.assert(&Ceremony::for_statement(&s));
            let v = verify(&auth.key(), &s, &a).expect("valid");
            assert_eq!(v.sign_count, 7);
            // The browser's JSON shape parses to the same assertion.
            let json = serde_json::json!({
                "authenticatorData": B64.encode(a.authenticator_data()),
                "clientDataJSON": B64.encode(a.client_data_json()),
                "signature": B64.encode(a.signature()),
                "userHandle": null,
            });
            assert_eq!(Assertion::from_json(json.to_string().as_bytes()), Ok(a));
        }
        // Extensions (a CBOR map after signCount) are signed data too, and allowed.
        let s = policy_statement(NOW);
        let c = Ceremony { extensions: Some(vec![0xa1, 0x63, b'c', b'r', b'e', 0xf5]), ..Ceremony::for_statement(&s) };
        verify(&auth.key(), &s, &auth.assert(&c)).expect("with extensions");
    }
}

/// The peer: py_webauthn (`interop/webauthn_peer.py`, pinned in interop/requirements.txt)
/// verifies what our software authenticator signs over a statement's challenge, as a
/// relying party would; it refuses the same tampering ours refuses.
#[test]
fn py_webauthn_agrees_with_our_verifier() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = root.join(".venv-interop/bin/python");
    if !python.exists() {
        sealgate_testkit::skip_or_fail(
            "SEALGATE_SKIP_INTEROP",
            "the WebAuthn interop test with py_webauthn",
            &format!("{} is missing", python.display()),
            "run `bash scripts/setup-interop.sh`",
        );
        return;
    }
    let peer = |auth: &SoftAuthenticator, s: &Statement, (ad, cd, sig): &(Vec<u8>, Vec<u8>, Vec<u8>)| {
        let req = serde_json::json!({
            "credential_id": B64.encode(b"sealgate-test-credential"),
            "authenticator_data": B64.encode(ad),
            "client_data_json": B64.encode(cd),
            "signature": B64.encode(sig),
            "challenge": B64.encode(s.challenge()),
            "cose_public_key": B64.encode(&auth.cose),
            "rp_id": RP_ID,
            "origin": ORIGIN,
        });
        let mut child = std::process::Command::new(&python)
            .arg(root.join("interop/webauthn_peer.py"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start the py_webauthn peer");
        use std::io::Write as _;
        child.stdin.take().expect("stdin").write_all(req.to_string().as_bytes()).expect("write");
        let out = child.wait_with_output().expect("peer");
        let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        assert!(
            text.starts_with("ok ") || text.starts_with("refused: "),
            "the peer failed: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    };
    for alg in [CoseAlg::Es256, CoseAlg::EdDsa, CoseAlg::Rs256] {
        let auth = SoftAuthenticator::new(alg);
        for s in [policy_statement(NOW), withdrawal_statement(NOW)] {
            let c = Ceremony::for_statement(&s);
            let raw = auth.raw(&c);
            assert_eq!(peer(&auth, &s, &raw), "ok 7", "{alg:?}: the peer refused what we accept");
            verify(&auth.key(), &s, &auth.assert(&c)).expect("ours accepts it too");
            // Bound to another statement: both refuse.
            let other = policy_statement(NOW - 1);
            assert!(peer(&auth, &other, &raw).starts_with("refused: "), "{alg:?}: peer took another statement");
            assert!(verify(&auth.key(), &other, &auth.assert(&c)).is_err());
            // A flipped signature bit: both refuse.
            let mut bad = raw.clone();
            let last = bad.2.len() - 1;
            bad.2[last] ^= 1;
            assert!(peer(&auth, &s, &bad).starts_with("refused: "), "{alg:?}: peer took a bad signature");
            // No user verification: both refuse (UV is required).
            let no_uv = Ceremony { flags: 0x01, ..Ceremony::for_statement(&s) };
            assert!(peer(&auth, &s, &auth.raw(&no_uv)).starts_with("refused: "), "{alg:?}: peer took no UV");
            assert!(verify(&auth.key(), &s, &auth.assert(&no_uv)).is_err());
        }
    }
}

#[test]
fn every_failure_is_refused_by_kind() {
    let auth = SoftAuthenticator::new(CoseAlg::Es256);
    let key = auth.key();
    let s = policy_statement(NOW);
    let base = || Ceremony::for_statement(&s);
    let cases: Vec<(&str, Ceremony, Error)> = vec![
        ("registration ceremony", Ceremony { typ: "webauthn.create", ..base() }, Error::WrongCeremony),
        (
            "another statement",
            Ceremony { challenge: B64.encode(policy_statement(NOW).challenge()), ..base() },
            Error::ChallengeMismatch,
        ),
        (
            "raw canonical, not its hash",
            Ceremony { challenge: B64.encode(s.canonical()), ..base() },
            Error::ChallengeMismatch,
        ),
        (
            "padded challenge",
            Ceremony { challenge: format!("{}=", B64.encode(s.challenge())), ..base() },
            Error::ChallengeMismatch,
        ),
        ("other origin", Ceremony { origin: "https://evil.example".into(), ..base() }, Error::OriginNotAllowed),
        ("origin with a path", Ceremony { origin: format!("{ORIGIN}/"), ..base() }, Error::OriginNotAllowed),
        ("cross-origin frame", Ceremony { cross_origin: Some(true), ..base() }, Error::CrossOrigin),
        ("other relying party", Ceremony { rp_id: "evil.example".into(), ..base() }, Error::RpIdMismatch),
        ("user not present", Ceremony { flags: 0x04, ..base() }, Error::UserNotPresent),
        ("user not verified", Ceremony { flags: 0x01, ..base() }, Error::UserNotVerified),
        (
            "attested data in an assertion",
            Ceremony { flags: 0x45, ..base() },
            Error::Malformed("authenticatorData of an assertion holds attested credential data"),
        ),
        (
            "backed up, not eligible",
            Ceremony { flags: 0x15, ..base() },
            Error::Malformed("authenticatorData says backed up but not backup eligible"),
        ),
        (
            "bad extensions",
            Ceremony { extensions: Some(vec![0x80]), ..base() },
            Error::Cbor("extensions must be a map"),
        ),
        (
            "trailing after extensions",
            Ceremony { extensions: Some(vec![0xa0, 0x00]), ..base() },
            Error::Cbor("trailing bytes after the extensions"),
        ),
    ];
    for (what, c, want) in cases {
        assert_eq!(verify(&key, &s, &auth.assert(&c)), Err(want), "{what}");
    }
    // crossOrigin absent is fine.
    verify(&key, &s, &auth.assert(&Ceremony { cross_origin: None, ..base() })).expect("no crossOrigin");

    let good = auth.assert(&base());
    // Replayed to another statement (same owner, credential and state, another id).
    assert_eq!(verify(&key, &policy_statement(NOW), &good), Err(Error::ChallengeMismatch));
    // Wrong key: another passkey of the same type, and one of another type.
    for other in [SoftAuthenticator::new(CoseAlg::Es256), SoftAuthenticator::new(CoseAlg::EdDsa)] {
        assert_eq!(verify(&other.key(), &s, &good), Err(Error::BadSignature));
    }
    // Stale and future statements, at the edges of the window.
    assert!(verify_assertion(&key, &s, &good, &[ORIGIN], RP_ID, NOW + FRESHNESS_SECS).is_ok());
    assert_eq!(verify_assertion(&key, &s, &good, &[ORIGIN], RP_ID, NOW + FRESHNESS_SECS + 1), Err(Error::Stale));
    assert!(verify_assertion(&key, &s, &good, &[ORIGIN], RP_ID, NOW - FUTURE_SKEW_SECS).is_ok());
    assert_eq!(
        verify_assertion(&key, &s, &good, &[ORIGIN], RP_ID, NOW - FUTURE_SKEW_SECS - 1),
        Err(Error::IssuedInFuture)
    );
    assert_eq!(verify_assertion(&key, &s, &good, &[], RP_ID, NOW), Err(Error::OriginNotAllowed));

    // Signature and signed bytes tampered with.
    let (ad, cd, sig) = auth.raw(&base());
    let enc = |ad: &[u8], cd: &[u8], sig: &[u8]| {
        Assertion::from_parts(&B64.encode(ad), &B64.encode(cd), &B64.encode(sig)).expect("parts")
    };
    let mut bad_sig = sig.clone();
    let mid = bad_sig.len() / 2;
    bad_sig[mid] ^= 1;
    assert_eq!(verify(&key, &s, &enc(&ad, &cd, &bad_sig)), Err(Error::BadSignature));
    assert_eq!(verify(&key, &s, &enc(&ad, &cd, &[])), Err(Error::BadSignature));
    let mut count = ad.clone();
    count[36] ^= 1;
    assert_eq!(verify(&key, &s, &enc(&count, &cd, &sig)), Err(Error::BadSignature), "signCount is signed");
    let cd_spaced = String::from_utf8(cd.clone()).expect("utf-8").replacen(',', ", ", 1);
    assert_eq!(
        verify(&key, &s, &enc(&ad, cd_spaced.as_bytes(), &sig)),
        Err(Error::BadSignature),
        "the exact clientDataJSON is signed"
    );

    // Malformed inputs.
    let m = |e: &'static str| Err(Error::Malformed(e));
    assert_eq!(verify(&key, &s, &enc(&ad[..36], &cd, &sig)), m("authenticatorData is shorter than 37 bytes"));
    assert_eq!(
        verify(&key, &s, &enc(&[&ad[..], &[0]].concat(), &cd, &sig)),
        m("authenticatorData has bytes after signCount but no extensions flag")
    );
    assert_eq!(
        verify(&key, &s, &enc(&ad, b"not json", &sig)),
        m("clientDataJSON is not a JSON object (without repeated members)")
    );
    let dup = String::from_utf8(cd.clone()).expect("utf-8").replacen('{', r#"{"type":"webauthn.get","#, 1);
    assert_eq!(
        verify(&key, &s, &enc(&ad, dup.as_bytes(), &sig)),
        m("clientDataJSON is not a JSON object (without repeated members)")
    );
    let num = String::from_utf8(cd.clone()).expect("utf-8").replace(r#""webauthn.get""#, "1");
    assert_eq!(
        verify(&key, &s, &enc(&ad, num.as_bytes(), &sig)),
        m("clientDataJSON type, challenge and origin must be strings")
    );
    let co =
        String::from_utf8(cd.clone()).expect("utf-8").replace(r#""crossOrigin":false"#, r#""crossOrigin":"false""#);
    assert_eq!(verify(&key, &s, &enc(&ad, co.as_bytes(), &sig)), m("clientDataJSON crossOrigin must be a boolean"));
    let top = String::from_utf8(cd.clone()).expect("utf-8").replace('}', r#","topOrigin":"https://evil.example"}"#);
    assert_eq!(verify(&key, &s, &enc(&ad, top.as_bytes(), &sig)), Err(Error::CrossOrigin));

    let (a64, c64, s64) = (B64.encode(&ad), B64.encode(&cd), B64.encode(&sig));
    assert_eq!(Assertion::from_parts(&format!("{a64}="), &c64, &s64), Err(Error::Base64("authenticatorData")));
    assert_eq!(Assertion::from_parts(&a64, &format!("{c64}+"), &s64), Err(Error::Base64("clientDataJSON")));
    assert_eq!(Assertion::from_parts(&a64, &c64, &format!(" {s64}")), Err(Error::Base64("signature")));
    assert_eq!(Assertion::from_parts(&"A".repeat(2000), &c64, &s64), Err(Error::TooLarge("authenticatorData")));
    assert_eq!(Assertion::from_parts(&a64, &"A".repeat(4000), &s64), Err(Error::TooLarge("clientDataJSON")));
    assert_eq!(Assertion::from_parts(&a64, &c64, &"A".repeat(2000)), Err(Error::TooLarge("signature")));
    let j = |v: serde_json::Value| Assertion::from_json(v.to_string().as_bytes());
    assert!(matches!(
        j(serde_json::json!({"authenticatorData": a64, "clientDataJSON": c64})),
        Err(Error::Malformed(_))
    ));
    assert!(matches!(
        j(serde_json::json!({"authenticatorData": a64, "clientDataJSON": c64, "signature": s64, "x": 1})),
        Err(Error::Malformed(_))
    ));
    assert!(matches!(
        j(serde_json::json!({"authenticatorData": a64, "clientDataJSON": c64, "signature": 5})),
        Err(Error::Malformed(_))
    ));
    assert!(matches!(
        j(serde_json::json!({"authenticatorData": a64, "clientDataJSON": c64, "signature": s64, "userHandle": 1})),
        Err(Error::Malformed(_))
    ));
    assert_eq!(Assertion::from_json(&vec![b' '; 9000]), Err(Error::TooLarge("assertion")));
}

// ---------------------------------------------------------------- owner state order

mod order {
    use super::*;
    use proptest::prelude::*;

    fn state() -> impl Strategy<Value = OwnerState> {
        let symbols = proptest::option::of(proptest::collection::btree_set("[A-C]{1,2}", 0..6));
        let notional = proptest::option::of(1u64..10_000);
        let rate = proptest::option::of((1u32..=100_000, 1_000u64..=86_400_000));
        (any::<bool>(), any::<bool>(), symbols, notional, rate).prop_map(|(frozen, kill, symbols, n, rate)| {
            OwnerState::new(
                if frozen { OwnerStatus::Frozen } else { OwnerStatus::Active },
                kill,
                symbols.map(|s: BTreeSet<String>| s),
                n.and_then(|n| Decimal::parse(&n.to_string())),
                rate.map(|(max, window_ms)| RateLimit { max, window_ms }),
            )
            .expect("valid state")
        })
    }

    proptest! {
        #[test]
        fn meet_is_a_lower_bound(a in state(), b in state(), c in state()) {
            let m = a.meet(&b);
            prop_assert_eq!(&m, &b.meet(&a), "commutative");
            prop_assert_eq!(&a.meet(&a), &a, "idempotent");
            prop_assert!(m.at_least_as_strict_as(&a) && m.at_least_as_strict_as(&b), "never looser than either");
            prop_assert!(!OwnerState::is_loosening(&a, &m) && !OwnerState::is_loosening(&b, &m));
            // The result obeys the rules a state is made by.
            prop_assert!(OwnerState::new(m.status(), m.kill_switch(), m.symbols().cloned(), m.max_notional(), m.rate()).is_ok());
            // Absorption: a stricter state is its own meet with a looser one.
            if a.at_least_as_strict_as(&b) {
                prop_assert_eq!(&m, &a);
            }
            // The order is reflexive and transitive; loosening is its complement.
            prop_assert!(!OwnerState::is_loosening(&a, &a));
            if a.at_least_as_strict_as(&b) && b.at_least_as_strict_as(&c) {
                prop_assert!(a.at_least_as_strict_as(&c));
            }
            prop_assert_eq!(OwnerState::is_loosening(&a, &b), !b.at_least_as_strict_as(&a));
            // Any common lower bound of the components is refused nothing the meet allows (on
            // every component but the rate, where the meet rounds to a stricter bucket).
            if c.at_least_as_strict_as(&a) && c.at_least_as_strict_as(&b) && c.rate().is_none() && m.rate().is_none() {
                prop_assert!(c.at_least_as_strict_as(&m));
            }
        }
    }
}
