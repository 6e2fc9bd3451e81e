//! Parsing, opening and sealing JWEs (RFC 7516) under PROFILE.md.
//!
//! Parsing does every check that needs no key, so that a hostile input is
//! refused in microseconds: size, structure, base64url, duplicate members,
//! header collisions, `zip`, `crit`, `alg`/`enc` allow-list, `epk`
//! validation, IV/tag/`encrypted_key` lengths. Opening then asks the key
//! for one private operation and finishes in pure code.

use aes_kw::KeyInit as _;
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::alg::{AlgPolicy, ContentAlg, Curve, KeyAlg, echo};
use crate::error::{EpkError, KeyError};
use crate::key::{DecryptionKey, EphemeralPublicKey, KeyKind, OaepHash, SecretBytes, now_or_never};
use crate::{Error, MAX_INPUT, PublicJwk, b64, content, json, kdf};

/// Most recipients a general JSON JWE may list.
pub const MAX_RECIPIENTS: usize = 32;
/// Longest decoded `apu`/`apv`.
const MAX_PARTY_INFO: usize = 1024;
/// Domain-separation tag of [`Jwe::content_digest`].
const CONTENT_DIGEST_TAG: &[u8] = b"sealgate-jwe-content-v1";

/// Which serialization an input used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serialization {
    /// Five base64url parts joined by dots.
    Compact,
    /// JSON with a single recipient inline.
    Flattened,
    /// JSON with a `recipients` array.
    General,
}

/// A recipient as found: its own unprotected header and `encrypted_key`.
type RawRecipient = (Option<Map<String, Value>>, Vec<u8>);

/// One recipient of a parsed JWE, with its effective header resolved.
#[derive(Debug)]
pub struct Recipient {
    alg: KeyAlg,
    kid: Option<String>,
    epk: Option<EphemeralPublicKey>,
    apu: Vec<u8>,
    apv: Vec<u8>,
    encrypted_key: Vec<u8>,
}

impl Recipient {
    /// Its key-management algorithm.
    pub fn alg(&self) -> KeyAlg {
        self.alg
    }
    /// Its `kid`, if any.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }
    /// Its validated ephemeral key (ECDH-ES only).
    pub fn epk(&self) -> Option<&EphemeralPublicKey> {
        self.epk.as_ref()
    }
}

/// A parsed JWE that passed every key-independent check.
#[derive(Debug)]
pub struct Jwe {
    serialization: Serialization,
    /// The protected header exactly as received: it is the AAD.
    protected_b64: String,
    protected: Map<String, Value>,
    aad_b64: Option<String>,
    enc: ContentAlg,
    iv: Vec<u8>,
    ciphertext: Vec<u8>,
    tag: Vec<u8>,
    recipients: Vec<Recipient>,
    /// Recipients in algorithms we refuse, kept only to explain a refusal
    /// to the key they are addressed to (RFC 7516 §5.2 step 6 lets the
    /// other recipients be opened).
    refused: Vec<(Option<String>, Error)>,
}

fn str_member<'a>(m: &'a Map<String, Value>, k: &'static str) -> Result<Option<&'a str>, Error> {
    match m.get(k) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(Error::Malformed(k)),
    }
}

fn obj_member(m: &Map<String, Value>, k: &'static str) -> Result<Option<Map<String, Value>>, Error> {
    match m.get(k) {
        None => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o.clone())),
        Some(_) => Err(Error::Malformed(k)),
    }
}

/// The union of the headers that apply to one recipient (RFC 7516 §7.2.1:
/// member names MUST be disjoint).
struct Headers<'a> {
    parts: [Option<&'a Map<String, Value>>; 3],
}

impl<'a> Headers<'a> {
    fn new(
        protected: &'a Map<String, Value>,
        shared: Option<&'a Map<String, Value>>,
        own: Option<&'a Map<String, Value>>,
    ) -> Result<Self, Error> {
        let parts = [Some(protected), shared, own];
        for (i, a) in parts.iter().enumerate() {
            for b in parts.iter().skip(i + 1) {
                if let (Some(a), Some(b)) = (a, b)
                    && let Some(k) = a.keys().find(|k| b.contains_key(*k))
                {
                    return Err(Error::HeaderCollision(echo(k)));
                }
            }
        }
        Ok(Self { parts })
    }

    fn get(&self, k: &str) -> Option<&'a Value> {
        self.parts.iter().flatten().find_map(|m| m.get(k))
    }

    fn str(&self, k: &'static str) -> Result<Option<&'a str>, Error> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(Error::InvalidHeader(k)),
        }
    }
}

impl Jwe {
    /// Parse any serialization and run every check that needs no key.
    pub fn parse(input: &[u8], policy: &AlgPolicy) -> Result<Self, Error> {
        if input.len() > MAX_INPUT {
            return Err(Error::TooLarge { len: input.len(), limit: MAX_INPUT });
        }
        let input = input.trim_ascii();
        if input.first() == Some(&b'{') { Self::parse_json(input, policy) } else { Self::parse_compact(input, policy) }
    }

    fn parse_compact(input: &[u8], policy: &AlgPolicy) -> Result<Self, Error> {
        let text = std::str::from_utf8(input).map_err(|_| Error::Malformed("compact JWE is not ASCII"))?;
        let parts: Vec<&str> = text.split('.').collect();
        let [protected_b64, ek, iv, ct, tag] = parts[..] else {
            return Err(Error::Malformed("compact JWE must have exactly five parts"));
        };
        let protected = decode_protected(protected_b64)?;
        let enc_key = b64::decode("encrypted_key", ek)?;
        Self::assemble(
            Serialization::Compact,
            protected_b64.to_owned(),
            protected,
            None,
            None,
            vec![(None, enc_key)],
            (iv, ct, tag),
            policy,
        )
    }

    fn parse_json(input: &[u8], policy: &AlgPolicy) -> Result<Self, Error> {
        let top = json::parse_object(input, "JWE JSON")?;
        let protected_b64 = str_member(&top, "protected")?.unwrap_or("").to_owned();
        let protected = if protected_b64.is_empty() { Map::new() } else { decode_protected(&protected_b64)? };
        let shared = obj_member(&top, "unprotected")?;
        let aad_b64 = str_member(&top, "aad")?.map(str::to_owned);
        if let Some(a) = &aad_b64 {
            b64::decode("aad", a)?;
        }
        let need = |k: &'static str| str_member(&top, k)?.ok_or(Error::Malformed(k));
        let (iv, ct, tag) = (need("iv")?, need("ciphertext")?, need("tag")?);
        let (serialization, recipients) = match top.get("recipients") {
            Some(Value::Array(list)) => {
                if top.contains_key("header") || top.contains_key("encrypted_key") {
                    return Err(Error::Malformed("general JSON must not also carry header or encrypted_key"));
                }
                if list.is_empty() || list.len() > MAX_RECIPIENTS {
                    return Err(Error::Malformed("recipients must hold 1 to 32 entries"));
                }
                let mut out = Vec::with_capacity(list.len());
                for r in list {
                    let Value::Object(r) = r else { return Err(Error::Malformed("recipients")) };
                    let ek = str_member(r, "encrypted_key")?.unwrap_or("");
                    out.push((obj_member(r, "header")?, b64::decode("encrypted_key", ek)?));
                }
                (Serialization::General, out)
            }
            Some(_) => return Err(Error::Malformed("recipients")),
            None => {
                let ek = str_member(&top, "encrypted_key")?.unwrap_or("");
                (Serialization::Flattened, vec![(obj_member(&top, "header")?, b64::decode("encrypted_key", ek)?)])
            }
        };
        Self::assemble(serialization, protected_b64, protected, shared, aad_b64, recipients, (iv, ct, tag), policy)
    }

    #[allow(clippy::too_many_arguments)]
    fn assemble(
        serialization: Serialization,
        protected_b64: String,
        protected: Map<String, Value>,
        shared: Option<Map<String, Value>>,
        aad_b64: Option<String>,
        raw_recipients: Vec<RawRecipient>,
        (iv, ct, tag): (&str, &str, &str),
        policy: &AlgPolicy,
    ) -> Result<Self, Error> {
        // Rule H3: `crit` must be protected; we understand no extension.
        if let Some(crit) = protected.get("crit") {
            let Value::Array(names) = crit else { return Err(Error::InvalidHeader("crit")) };
            return Err(match names.first() {
                Some(Value::String(n)) => Error::UnknownCrit(echo(n)),
                _ => Error::InvalidHeader("crit"),
            });
        }
        let mut enc = None;
        let mut recipients = Vec::with_capacity(raw_recipients.len());
        let mut refused = Vec::new();
        for (own, encrypted_key) in raw_recipients {
            let h = Headers::new(&protected, shared.as_ref(), own.as_ref())?;
            if h.get("crit").is_some() {
                return Err(Error::InvalidHeader("crit must be integrity protected"));
            }
            // Rule H2: no compression, whatever the algorithm.
            if h.get("zip").is_some() {
                return Err(Error::Compression);
            }
            let kid = || h.str("kid").ok().flatten().map(str::to_owned);
            // Rule A1: the key-management algorithm is judged first, so a
            // refusal names the most telling reason.
            let alg = match h.str("alg").and_then(|a| policy.key_alg(a.ok_or(Error::InvalidHeader("alg"))?)) {
                Ok(a) => a,
                Err(e) => {
                    refused.push((kid(), e));
                    continue;
                }
            };
            let this_enc = policy.content_alg(h.str("enc")?.ok_or(Error::InvalidHeader("enc"))?)?;
            if enc.is_some_and(|e| e != this_enc) {
                return Err(Error::Malformed("recipients disagree on enc"));
            }
            enc = Some(this_enc);
            match parse_recipient(&h, alg, this_enc, encrypted_key, policy) {
                Ok(r) => recipients.push(r),
                Err(e) => refused.push((kid(), e)),
            }
        }
        // With no usable recipient the whole JWE is refused for the first reason.
        if recipients.is_empty() {
            if let Some((_, e)) = refused.into_iter().next() {
                return Err(e);
            }
            return Err(Error::Malformed("no recipient"));
        }
        let enc = enc.ok_or(Error::Malformed("no recipient"))?;
        let iv = b64::decode("iv", iv)?;
        if iv.len() != enc.iv_len() {
            return Err(Error::IvLength { enc: enc.name(), got: iv.len(), want: enc.iv_len() });
        }
        let tag = b64::decode("tag", tag)?;
        if tag.len() != enc.tag_len() {
            return Err(Error::TagLength { enc: enc.name(), got: tag.len(), want: enc.tag_len() });
        }
        let ciphertext = b64::decode("ciphertext", ct)?;
        Ok(Self { serialization, protected_b64, protected, aad_b64, enc, iv, ciphertext, tag, recipients, refused })
    }

    /// The serialization the input used.
    pub fn serialization(&self) -> Serialization {
        self.serialization
    }

    /// The integrity-protected header.
    pub fn protected_header(&self) -> &Map<String, Value> {
        &self.protected
    }

    /// The content-encryption algorithm.
    pub fn enc(&self) -> ContentAlg {
        self.enc
    }

    /// Rule D1: the identity of the sealed content, whatever the serialization.
    ///
    /// SHA-256 over a domain tag and, length-prefixed, the protected header exactly as
    /// received (it is the AAD), the JWE `aad` member if any, the IV, the ciphertext and
    /// the tag. These are the bytes the tag authenticates under the CEK: without the CEK
    /// no one can change one of them and still have the JWE open, while everything else
    /// (the serialization, surrounding whitespace, unprotected headers) can change freely
    /// — so a digest of the *text* is no identity (the same envelope restored as JSON or
    /// with a trailing newline would be "new"). A revocation names this digest.
    pub fn content_digest(&self) -> [u8; 32] {
        let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        ctx.update(CONTENT_DIGEST_TAG);
        let aad = self.aad_b64.as_deref().map(str::as_bytes);
        for part in [Some(self.protected_b64.as_bytes()), aad, Some(&self.iv), Some(&self.ciphertext), Some(&self.tag)]
        {
            match part {
                // Every part is bounded by the 64 KiB input limit, so the cast is exact.
                Some(p) => {
                    ctx.update(&[1]);
                    ctx.update(&(p.len() as u32).to_be_bytes());
                    ctx.update(p);
                }
                None => ctx.update(&[0]),
            }
        }
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.finish().as_ref());
        out
    }

    /// The recipients we can open, in order.
    pub fn recipients(&self) -> &[Recipient] {
        &self.recipients
    }

    /// How many recipients the JWE lists, including refused ones.
    pub fn recipient_count(&self) -> usize {
        self.recipients.len() + self.refused.len()
    }

    /// Pick the recipient addressed to `key` (rule R1): the one whose `kid`
    /// matches; else the only one, if it carries no other `kid`. Then check
    /// that the key fits its algorithm.
    pub fn recipient_for(&self, key: &dyn DecryptionKey) -> Result<&Recipient, Error> {
        let by_kid = key.kid().and_then(|k| self.recipients.iter().find(|r| r.kid.as_deref() == Some(k)));
        let r = match (by_kid, &self.recipients[..]) {
            (Some(r), _) => r,
            (None, [only]) if self.refused.is_empty() && (only.kid.is_none() || key.kid().is_none()) => only,
            _ => {
                // Addressed to this key but in a refused algorithm: say why.
                let refused = key.kid().and_then(|k| self.refused.iter().find(|(kid, _)| kid.as_deref() == Some(k)));
                return Err(refused.map_or(Error::NoMatchingRecipient, |(_, e)| e.clone()));
            }
        };
        if key.alg().is_some_and(|a| a != r.alg) {
            return Err(Error::KeyMismatch("the key is restricted to another alg"));
        }
        match (r.alg.is_ecdh(), key.kind(), &r.epk) {
            (true, KeyKind::Ecdh(c), Some(epk)) if c == epk.curve() => {}
            (true, KeyKind::Ecdh(_), _) => return Err(Error::InvalidEpk(EpkError::WrongCurve)),
            (false, KeyKind::Rsa { modulus_len }, _) => {
                if r.encrypted_key.len() != modulus_len {
                    return Err(Error::EncryptedKeyLength {
                        alg: r.alg.name(),
                        got: r.encrypted_key.len(),
                        want: modulus_len,
                    });
                }
            }
            (true, _, _) => return Err(Error::KeyMismatch("ECDH-ES needs an EC or OKP key")),
            (false, _, _) => return Err(Error::KeyMismatch("RSA-OAEP needs an RSA key")),
        }
        Ok(r)
    }

    /// Open with a key whose private step may be asynchronous (HSM, KMS).
    pub async fn open(&self, key: &dyn DecryptionKey) -> Result<SecretBytes, Error> {
        let r = self.recipient_for(key)?;
        let cek_len = self.enc.key_len();
        let cek = match (r.alg.kek_len(), &r.epk) {
            (Some(kek_len), Some(epk)) => {
                let z = match key.ecdh(epk).await {
                    Ok(z) => z,
                    // aws-lc refuses an all-zero X25519 output itself.
                    Err(KeyError::Crypto) if epk.curve() == Curve::X25519 => return Err(Error::ZeroSharedSecret),
                    Err(e) => return Err(e.into()),
                };
                if epk.curve() == Curve::X25519 && z.expose_secret().iter().all(|b| *b == 0) {
                    return Err(Error::ZeroSharedSecret);
                }
                let kek = kdf::concat_kdf(z.expose_secret(), r.alg.name(), &r.apu, &r.apv, kek_len);
                aes_unwrap(&kek, &r.encrypted_key, cek_len)?
            }
            (None, _) => {
                // RFC 7516 §11.5: a padding failure and a wrong-length CEK
                // continue with a random CEK, so both end as a tag failure.
                let mut decoy = Zeroizing::new(vec![0u8; cek_len]);
                aws_lc_rs::rand::fill(&mut decoy).map_err(|_| Error::Rng)?;
                let hash = if r.alg == KeyAlg::RsaOaep256 { OaepHash::Sha256 } else { OaepHash::Sha1 };
                match key.rsa_oaep_decrypt(hash, &r.encrypted_key).await {
                    Ok(c) if c.expose_secret().len() == cek_len => Zeroizing::new(c.expose_secret().to_vec()),
                    Ok(_) | Err(KeyError::Crypto) => decoy,
                    Err(e) => return Err(e.into()),
                }
            }
            (Some(_), None) => return Err(Error::Malformed("epk")),
        };
        // AAD = ASCII(protected) [ "." ASCII(aad) ] (RFC 7516 §5.2 step 14).
        let aad = match &self.aad_b64 {
            None => std::borrow::Cow::Borrowed(self.protected_b64.as_bytes()),
            Some(extra) => std::borrow::Cow::Owned([self.protected_b64.as_bytes(), b".", extra.as_bytes()].concat()),
        };
        content::open(self.enc, &cek, &self.iv, &aad, &self.ciphertext, &self.tag).map(SecretBytes::from_zeroizing)
    }

    /// Open with a key whose private step completes at once (a
    /// [`crate::LocalKey`]); an asynchronous key gets [`Error::Usage`].
    pub fn open_now(&self, key: &dyn DecryptionKey) -> Result<SecretBytes, Error> {
        now_or_never(self.open(key)).unwrap_or(Err(Error::Usage("this key is asynchronous: use Jwe::open")))
    }
}

fn decode_protected(b64u: &str) -> Result<Map<String, Value>, Error> {
    let bytes = b64::decode("protected header", b64u)?;
    json::parse_object(&bytes, "protected header")
}

fn parse_recipient(
    h: &Headers<'_>,
    alg: KeyAlg,
    enc: ContentAlg,
    encrypted_key: Vec<u8>,
    policy: &AlgPolicy,
) -> Result<Recipient, Error> {
    let kid = h.str("kid")?.map(str::to_owned);
    if alg.is_ecdh() && encrypted_key.len() != enc.key_len() + 8 {
        let (got, want) = (encrypted_key.len(), enc.key_len() + 8);
        return Err(Error::EncryptedKeyLength { alg: alg.name(), got, want });
    }
    let mut r = Recipient { alg, kid, epk: None, apu: Vec::new(), apv: Vec::new(), encrypted_key };
    if alg.is_ecdh() {
        let Some(Value::Object(epk)) = h.get("epk") else {
            return Err(Error::InvalidEpk(EpkError::Malformed));
        };
        r.epk = Some(parse_epk(epk, policy)?);
        for (name, slot) in [("apu", &mut r.apu), ("apv", &mut r.apv)] {
            if let Some(v) = h.str(name)? {
                *slot = b64::decode(name, v)?;
                if slot.len() > MAX_PARTY_INFO {
                    return Err(Error::InvalidHeader(name));
                }
            }
        }
    } else if r.encrypted_key.is_empty() {
        return Err(Error::Malformed("encrypted_key"));
    }
    Ok(r)
}

fn parse_epk(epk: &Map<String, Value>, policy: &AlgPolicy) -> Result<EphemeralPublicKey, Error> {
    let bad = Error::InvalidEpk(EpkError::Malformed);
    let s = |k: &str| match epk.get(k) {
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        None => Ok(None),
        Some(_) => Err(Error::InvalidEpk(EpkError::Malformed)),
    };
    if epk.contains_key("d") {
        return Err(bad);
    }
    let (Some(kty), Some(crv), Some(x)) = (s("kty")?, s("crv")?, s("x")?) else { return Err(bad) };
    let curve = Curve::parse(crv).ok_or(Error::InvalidEpk(EpkError::UnsupportedCurve))?;
    if curve.kty() != kty {
        return Err(Error::InvalidEpk(EpkError::WrongCurve));
    }
    if !policy.allows_curve(curve) {
        return Err(Error::InvalidEpk(EpkError::UnsupportedCurve));
    }
    let x = b64::decode("epk.x", x)?;
    let y = s("y")?.map(|y| b64::decode("epk.y", y)).transpose()?;
    EphemeralPublicKey::from_coordinates(curve, &x, y.as_deref()).map_err(Error::InvalidEpk)
}

/// RFC 3394 unwrap with the KEK size chosen by the algorithm.
fn aes_unwrap(kek: &[u8], wrapped: &[u8], cek_len: usize) -> Result<Zeroizing<Vec<u8>>, Error> {
    let mut out = Zeroizing::new(vec![0u8; cek_len]);
    let ok = match kek.len() {
        16 => aes_kw::KwAes128::new_from_slice(kek).ok().map(|k| k.unwrap_key(wrapped, &mut out).is_ok()),
        24 => aes_kw::KwAes192::new_from_slice(kek).ok().map(|k| k.unwrap_key(wrapped, &mut out).is_ok()),
        32 => aes_kw::KwAes256::new_from_slice(kek).ok().map(|k| k.unwrap_key(wrapped, &mut out).is_ok()),
        _ => None,
    };
    if ok == Some(true) { Ok(out) } else { Err(Error::Decryption) }
}

fn aes_wrap(kek: &[u8], cek: &[u8]) -> Result<Vec<u8>, Error> {
    let mut out = vec![0u8; cek.len() + 8];
    let k = aes_kw::KwAes256::new_from_slice(kek).map_err(|_| Error::Usage("KEK length"))?;
    k.wrap_key(cek, &mut out).map_err(|_| Error::Usage("CEK length"))?;
    Ok(out)
}

/// Header members that sealing sets itself and callers may not supply.
const RESERVED: [&str; 10] = ["alg", "enc", "epk", "zip", "crit", "apu", "apv", "p2s", "p2c", "jwk"];

/// Seal `plaintext` to `to` as a compact JWE: `ECDH-ES+A256KW` (EC/OKP key)
/// or `RSA-OAEP-256` (RSA key), `enc` `A256GCM` (rule S1). `extra` members
/// join the protected header; `kid` defaults to the key's.
pub fn seal_compact(plaintext: &[u8], to: &PublicJwk, extra: &Map<String, Value>) -> Result<String, Error> {
    if RESERVED.iter().any(|k| extra.contains_key(*k)) {
        return Err(Error::Usage(
            "the protected header may not set alg, enc, epk, zip, crit, apu, apv, p2s, p2c or jwk",
        ));
    }
    let alg = to.seal_alg();
    if !matches!(alg, KeyAlg::EcdhEsA256Kw | KeyAlg::RsaOaep256) {
        return Err(Error::Usage("we seal with ECDH-ES+A256KW or RSA-OAEP-256 only"));
    }
    let enc = ContentAlg::A256Gcm;
    let mut header = extra.clone();
    match (header.get("kid"), to.kid()) {
        (Some(Value::String(a)), Some(b)) if a != b => return Err(Error::Usage("kid differs from the key's kid")),
        (Some(Value::String(_)), _) => {}
        (Some(_), _) => return Err(Error::Usage("kid must be a string")),
        (None, Some(k)) => {
            header.insert("kid".into(), k.into());
        }
        (None, None) => {}
    }
    header.insert("alg".into(), alg.name().into());
    header.insert("enc".into(), enc.name().into());
    let mut cek = Zeroizing::new([0u8; 32]);
    aws_lc_rs::rand::fill(&mut cek[..]).map_err(|_| Error::Rng)?;
    let encrypted_key = if alg.is_ecdh() {
        let (epk, z) = to.ecdh_ephemeral()?;
        let mut e = Map::new();
        e.insert("kty".into(), epk.curve().kty().into());
        e.insert("crv".into(), epk.curve().name().into());
        e.insert("x".into(), b64::encode(epk.x()).into());
        if let Some(y) = epk.y() {
            e.insert("y".into(), b64::encode(y).into());
        }
        header.insert("epk".into(), Value::Object(e));
        let kek = kdf::concat_kdf(z.expose_secret(), alg.name(), b"", b"", 32);
        aes_wrap(&kek, &cek[..])?
    } else {
        to.rsa_oaep_encrypt(OaepHash::Sha256, &cek[..])?
    };
    let header_json = serde_json::to_vec(&header).map_err(|_| Error::Usage("header is not serializable"))?;
    let protected_b64 = b64::encode(&header_json);
    let sealed = content::seal_gcm(enc, &cek[..], protected_b64.as_bytes(), plaintext)?;
    let out = [
        protected_b64,
        b64::encode(&encrypted_key),
        b64::encode(&sealed.iv),
        b64::encode(&sealed.ciphertext),
        b64::encode(&sealed.tag),
    ]
    .join(".");
    if out.len() > MAX_INPUT {
        return Err(Error::TooLarge { len: out.len(), limit: MAX_INPUT });
    }
    Ok(out)
}
