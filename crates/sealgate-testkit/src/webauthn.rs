//! A software passkey: what a browser and a platform authenticator give a relying party,
//! as the JSON a web client sends (`PublicKeyCredential` with binary members in base64url).
//!
//! ES256 (P-256) keys by aws-lc-rs; registration with `none` attestation (authenticator
//! data with the attested credential and its COSE key); assertions signed over
//! `authenticatorData || SHA-256(clientDataJSON)` with the counter incremented each time.
//! Every field comes from the options the server sent (challenge, rp id), so a test can
//! also answer one ceremony's options in another's place, or send a credential twice.

use std::sync::atomic::{AtomicU8, AtomicU32, Ordering};

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};

/// Flags: user present.
pub const UP: u8 = 0x01;
/// Flags: user verified.
pub const UV: u8 = 0x04;
/// Flags: attested credential data included.
pub const AT: u8 = 0x40;

/// A software passkey (one credential of one authenticator).
pub struct SoftPasskey {
    key: EcdsaKeyPair,
    /// The credential id.
    pub credential_id: Vec<u8>,
    counter: AtomicU32,
    flags: AtomicU8,
}

impl std::fmt::Debug for SoftPasskey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SoftPasskey({})", B64.encode(&self.credential_id))
    }
}

impl Default for SoftPasskey {
    fn default() -> Self {
        Self::new()
    }
}

fn cbor_head(out: &mut Vec<u8>, major: u8, n: usize) {
    let m = major << 5;
    match n {
        0..=23 => out.push(m | n as u8),
        24..=255 => out.extend([m | 24, n as u8]),
        256..=65535 => out.extend([m | 25, (n >> 8) as u8, n as u8]),
        _ => {
            out.push(m | 26);
            out.extend((n as u32).to_be_bytes());
        }
    }
}

fn cbor_bytes(out: &mut Vec<u8>, b: &[u8]) {
    cbor_head(out, 2, b.len());
    out.extend_from_slice(b);
}

fn cbor_text(out: &mut Vec<u8>, s: &str) {
    cbor_head(out, 3, s.len());
    out.extend_from_slice(s.as_bytes());
}

/// The options object: `publicKey` inside a `{publicKey: …}` wrapper or the object itself.
fn public_key(options: &Value) -> &Value {
    options.get("publicKey").unwrap_or(options)
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    cur.as_str().unwrap_or_else(|| panic!("options without {}", path.join(".")))
}

impl SoftPasskey {
    /// A new key and a random 32-byte credential id.
    pub fn new() -> Self {
        let key = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).expect("P-256 key");
        let mut credential_id = vec![0u8; 32];
        aws_lc_rs::rand::fill(&mut credential_id).expect("random");
        Self { key, credential_id, counter: AtomicU32::new(0), flags: AtomicU8::new(UP | UV) }
    }

    /// Sets the flags of the next assertions (default UP|UV): UP alone is a touch without
    /// user verification.
    pub fn set_assertion_flags(&self, flags: u8) {
        self.flags.store(flags, Ordering::SeqCst);
    }

    /// The credential public key as a COSE_Key (EC2, P-256, ES256).
    pub fn cose_key(&self) -> Vec<u8> {
        let p = self.key.public_key().as_ref();
        let mut c = vec![0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21];
        cbor_bytes(&mut c, &p[1..33]);
        c.push(0x22);
        cbor_bytes(&mut c, &p[33..65]);
        c
    }

    /// The public key as a JWK's `x` and `y` (base64url).
    pub fn jwk_xy(&self) -> (String, String) {
        let p = self.key.public_key().as_ref();
        (B64.encode(&p[1..33]), B64.encode(&p[33..65]))
    }

    fn client_data(typ: &str, challenge: &str, origin: &str) -> Vec<u8> {
        format!(r#"{{"type":"{typ}","challenge":"{challenge}","origin":"{origin}","crossOrigin":false}}"#).into_bytes()
    }

    /// Answers `navigator.credentials.create` options (the server's JSON) from `origin`.
    pub fn register(&self, options: &Value, origin: &str) -> Value {
        let pk = public_key(options);
        let challenge = str_at(pk, &["challenge"]);
        let rp_id = str_at(pk, &["rp", "id"]);
        let cd = Self::client_data("webauthn.create", challenge, origin);
        let mut ad = digest(&SHA256, rp_id.as_bytes()).as_ref().to_vec();
        ad.push(UP | UV | AT);
        ad.extend(0u32.to_be_bytes());
        ad.extend([0u8; 16]);
        ad.extend((self.credential_id.len() as u16).to_be_bytes());
        ad.extend(&self.credential_id);
        ad.extend(self.cose_key());
        let mut att = vec![0xa3];
        cbor_text(&mut att, "fmt");
        cbor_text(&mut att, "none");
        cbor_text(&mut att, "attStmt");
        att.push(0xa0);
        cbor_text(&mut att, "authData");
        cbor_bytes(&mut att, &ad);
        let id = B64.encode(&self.credential_id);
        json!({
            "id": id,
            "rawId": id,
            "type": "public-key",
            "response": {"attestationObject": B64.encode(att), "clientDataJSON": B64.encode(cd)},
            "extensions": {}
        })
    }

    /// Answers `navigator.credentials.get` options from `origin` (whether or not this
    /// credential is among the allowed ones: the server must judge that).
    pub fn assert(&self, options: &Value, origin: &str) -> Value {
        let pk = public_key(options);
        let challenge = str_at(pk, &["challenge"]);
        let rp_id = pk.get("rpId").and_then(Value::as_str).unwrap_or("localhost");
        self.assert_raw(challenge, rp_id, origin, "webauthn.get")
    }

    /// An assertion over exactly these values (for tests that change one).
    pub fn assert_raw(&self, challenge: &str, rp_id: &str, origin: &str, typ: &str) -> Value {
        let cd = Self::client_data(typ, challenge, origin);
        let mut ad = digest(&SHA256, rp_id.as_bytes()).as_ref().to_vec();
        ad.push(self.flags.load(Ordering::SeqCst));
        let n = self.counter.fetch_add(1, Ordering::SeqCst) + 1;
        ad.extend(n.to_be_bytes());
        let mut msg = ad.clone();
        msg.extend(digest(&SHA256, &cd).as_ref());
        let sig = self.key.sign(&SystemRandom::new(), &msg).expect("sign");
        let id = B64.encode(&self.credential_id);
        json!({
            "id": id,
            "rawId": id,
            "type": "public-key",
            "response": {
                "authenticatorData": B64.encode(ad),
                "clientDataJSON": B64.encode(cd),
                "signature": B64.encode(sig.as_ref()),
                "userHandle": null
            },
            "extensions": {}
        })
    }
}
