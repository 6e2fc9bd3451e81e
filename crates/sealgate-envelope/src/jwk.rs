//! JSON Web Keys (RFC 7517, RFC 7518 §6, RFC 8037) for recipients:
//! EC P-256/P-384/P-521, OKP X25519 and RSA. Public keys seal; private keys
//! ([`LocalKey`]) open in memory.

use std::fmt;

use aws_lc_rs::agreement::{self, PrivateKey, UnparsedPublicKey};
use aws_lc_rs::encoding::{AsBigEndian, AsDer, Curve25519SeedBin, EcPrivateKeyBin};
use aws_lc_rs::rsa::{
    KeyPair, KeyPairComponents, OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OaepPrivateDecryptingKey,
    OaepPublicEncryptingKey, PrivateDecryptingKey, PublicEncryptingKey, PublicKeyComponents,
};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::alg::{Curve, KeyAlg};
use crate::error::KeyError;
use crate::key::{DecryptionKey, EphemeralPublicKey, KeyFuture, KeyKind, OaepHash, SecretBytes, SharedSecret};
use crate::{Error, b64, json};

/// Largest JWK file we parse.
const MAX_JWK: usize = 16 * 1024;
/// RSA modulus bounds: below 2048 is weak, above 8192 is a CPU sink.
const RSA_MIN_BITS: usize = 2048;
const RSA_MAX_BITS: usize = 8192;
/// Private members of every key type (RFC 7518 §6.2.2, §6.3.2; RFC 8037 §2).
const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "oth"];
/// Longest `kid` we accept.
const MAX_KID: usize = 256;

/// The key material of a public JWK.
#[derive(Clone, PartialEq, Eq)]
enum PublicParams {
    Ec { curve: Curve, x: Vec<u8>, y: Option<Vec<u8>> },
    Rsa { n: Vec<u8>, e: Vec<u8> },
}

/// A recipient's public key, from a JWK.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicJwk {
    params: PublicParams,
    kid: Option<String>,
    alg: Option<KeyAlg>,
}

impl fmt::Debug for PublicJwk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicJwk").field("kind", &self.kind()).field("kid", &self.kid).finish()
    }
}

/// Strip leading zero bytes of a big-endian integer (RFC 7518 §6.3.1.1:
/// `n` and `e` have no leading zeros) and require it to be non-zero.
fn minimal(field: &'static str, bytes: Vec<u8>) -> Result<Vec<u8>, Error> {
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    if skip == bytes.len() {
        return Err(Error::InvalidJwk(field));
    }
    Ok(bytes[skip..].to_vec())
}

fn get_str<'m>(m: &'m Map<String, Value>, k: &'static str) -> Result<Option<&'m str>, Error> {
    match m.get(k) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(Error::InvalidJwk(k)),
    }
}

fn need_str<'m>(m: &'m Map<String, Value>, k: &'static str) -> Result<&'m str, Error> {
    get_str(m, k)?.ok_or(Error::InvalidJwk(k))
}

impl PublicJwk {
    /// Parse a public JWK. Private members are refused: a public key file
    /// that carries a private key is a leak waiting to happen.
    pub fn from_json(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.len() > MAX_JWK {
            return Err(Error::TooLarge { len: bytes.len(), limit: MAX_JWK });
        }
        let map = json::parse_object(bytes, "JWK")?;
        if PRIVATE_MEMBERS.iter().any(|m| map.contains_key(*m)) {
            return Err(Error::InvalidJwk("public key file contains private members"));
        }
        Self::from_map(&map)
    }

    fn from_map(map: &Map<String, Value>) -> Result<Self, Error> {
        if get_str(map, "use")?.is_some_and(|u| u != "enc") {
            return Err(Error::InvalidJwk("use is not \"enc\""));
        }
        let kid = get_str(map, "kid")?.map(str::to_owned);
        if kid.as_ref().is_some_and(|k| k.is_empty() || k.len() > MAX_KID) {
            return Err(Error::InvalidJwk("kid"));
        }
        let alg = get_str(map, "alg")?
            .map(|a| KeyAlg::parse(a).map_err(|_| Error::InvalidJwk("alg is not a supported key-management algorithm")))
            .transpose()?;
        let params = match need_str(map, "kty")? {
            "EC" | "OKP" => {
                let kty = need_str(map, "kty")?;
                let curve = Curve::parse(need_str(map, "crv")?).ok_or(Error::InvalidJwk("crv"))?;
                if curve.kty() != kty {
                    return Err(Error::InvalidJwk("crv does not belong to kty"));
                }
                let x = b64::decode("x", need_str(map, "x")?)?;
                let y = match curve {
                    Curve::X25519 => None,
                    _ => Some(b64::decode("y", need_str(map, "y")?)?),
                };
                // Validate the point now, not at first seal.
                EphemeralPublicKey::from_coordinates(curve, &x, y.as_deref())
                    .map_err(|_| Error::InvalidJwk("public point is invalid"))?;
                if alg.is_some_and(|a| !a.is_ecdh()) {
                    return Err(Error::InvalidJwk("alg does not fit an EC key"));
                }
                PublicParams::Ec { curve, x, y }
            }
            "RSA" => {
                let n = minimal("n", b64::decode("n", need_str(map, "n")?)?)?;
                let e = minimal("e", b64::decode("e", need_str(map, "e")?)?)?;
                let bits = n.len() * 8;
                if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&bits) {
                    return Err(Error::InvalidJwk("RSA modulus must be 2048 to 8192 bits"));
                }
                if alg.is_some_and(KeyAlg::is_ecdh) {
                    return Err(Error::InvalidJwk("alg does not fit an RSA key"));
                }
                PublicParams::Rsa { n, e }
            }
            _ => return Err(Error::InvalidJwk("kty must be EC, OKP or RSA")),
        };
        Ok(Self { params, kid, alg })
    }

    /// The JWK as a JSON object (`use: enc`, with `kid` and `alg` if known).
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        match &self.params {
            PublicParams::Ec { curve, x, y } => {
                m.insert("kty".into(), curve.kty().into());
                m.insert("crv".into(), curve.name().into());
                m.insert("x".into(), b64::encode(x).into());
                if let Some(y) = y {
                    m.insert("y".into(), b64::encode(y).into());
                }
            }
            PublicParams::Rsa { n, e } => {
                m.insert("kty".into(), "RSA".into());
                m.insert("n".into(), b64::encode(n).into());
                m.insert("e".into(), b64::encode(e).into());
            }
        }
        m.insert("use".into(), "enc".into());
        if let Some(kid) = &self.kid {
            m.insert("kid".into(), kid.clone().into());
        }
        if let Some(alg) = self.alg {
            m.insert("alg".into(), alg.name().into());
        }
        Value::Object(m)
    }

    /// The key's `kid`.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The key's `alg` restriction, if any.
    pub fn alg(&self) -> Option<KeyAlg> {
        self.alg
    }

    /// Its type and size.
    pub fn kind(&self) -> KeyKind {
        match &self.params {
            PublicParams::Ec { curve, .. } => KeyKind::Ecdh(*curve),
            PublicParams::Rsa { n, .. } => KeyKind::Rsa { modulus_len: n.len() },
        }
    }

    /// The algorithm we seal to this key with: its own `alg` if set,
    /// else `ECDH-ES+A256KW` for EC/OKP and `RSA-OAEP-256` for RSA.
    pub fn seal_alg(&self) -> KeyAlg {
        self.alg.unwrap_or(match self.params {
            PublicParams::Ec { .. } => KeyAlg::EcdhEsA256Kw,
            PublicParams::Rsa { .. } => KeyAlg::RsaOaep256,
        })
    }

    /// ECDH-ES sender side: make an ephemeral key, agree, return (epk, Z).
    pub(crate) fn ecdh_ephemeral(&self) -> Result<(EphemeralPublicKey, SharedSecret), Error> {
        let PublicParams::Ec { curve, x, y } = &self.params else {
            return Err(Error::KeyMismatch("ECDH needs an EC or OKP key"));
        };
        let recipient = EphemeralPublicKey::from_coordinates(*curve, x, y.as_deref())
            .map_err(|_| Error::InvalidJwk("public point is invalid"))?;
        let eph = PrivateKey::generate(curve.agreement()).map_err(|_| Error::Rng)?;
        let eph_pub = eph.compute_public_key().map_err(|_| Error::Rng)?;
        let epk = match curve {
            Curve::X25519 => EphemeralPublicKey::from_coordinates(*curve, eph_pub.as_ref(), None),
            c => {
                let p = eph_pub.as_ref();
                let n = c.coord_len();
                EphemeralPublicKey::from_coordinates(*c, &p[1..1 + n], Some(&p[1 + n..]))
            }
        }
        .map_err(|_| Error::Rng)?;
        let z = agreement::agree(
            &eph,
            UnparsedPublicKey::new(curve.agreement(), recipient.encoded()),
            Error::InvalidJwk("public point is invalid"),
            |z| Ok(SecretBytes::new(z.to_vec())),
        )?;
        Ok((epk, z))
    }

    /// RSA-OAEP encrypt a CEK to this key.
    pub(crate) fn rsa_oaep_encrypt(&self, hash: OaepHash, cek: &[u8]) -> Result<Vec<u8>, Error> {
        let PublicParams::Rsa { n, e } = &self.params else {
            return Err(Error::KeyMismatch("RSA-OAEP needs an RSA key"));
        };
        let public: PublicEncryptingKey = PublicKeyComponents { n: n.as_slice(), e: e.as_slice() }
            .try_into()
            .map_err(|_| Error::InvalidJwk("RSA public key rejected"))?;
        let key = OaepPublicEncryptingKey::new(public).map_err(|_| Error::InvalidJwk("RSA public key rejected"))?;
        let mut out = vec![0u8; key.ciphertext_size()];
        let alg = match hash {
            OaepHash::Sha1 => &OAEP_SHA1_MGF1SHA1,
            OaepHash::Sha256 => &OAEP_SHA256_MGF1SHA256,
        };
        let len = key.encrypt(alg, cek, &mut out, None).map_err(|_| Error::Rng)?.len();
        out.truncate(len);
        Ok(out)
    }
}

enum PrivateParams {
    Ec { curve: Curve, key: PrivateKey },
    // `raw` is kept for export to a key file (PKCS#8 -> JWK members).
    Rsa { key: OaepPrivateDecryptingKey, raw: PrivateDecryptingKey },
}

/// A private recipient key held in memory, from a JWK file.
///
/// The key material lives inside aws-lc, which clears it on free; this type
/// has no `Clone`, and its `Debug` prints no key material.
pub struct LocalKey {
    private: PrivateParams,
    public: PublicJwk,
}

impl fmt::Debug for LocalKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalKey")
            .field("kind", &self.public.kind())
            .field("kid", &self.public.kid)
            .field("private", &"[REDACTED]")
            .finish()
    }
}

impl LocalKey {
    /// Parse a private JWK (EC, OKP X25519 or RSA with CRT members).
    /// The caller should hand in a zeroizing buffer; parsed copies are
    /// scrubbed here.
    pub fn from_json(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.len() > MAX_JWK {
            return Err(Error::TooLarge { len: bytes.len(), limit: MAX_JWK });
        }
        let map = json::Scrubbed(json::parse_object(bytes, "JWK")?);
        let map = &map.0;
        let public = PublicJwk::from_map(map)?;
        let private = match &public.params {
            PublicParams::Ec { curve, x, y } => {
                let d = b64::decode_secret("d", need_str(map, "d")?)?;
                let key = PrivateKey::from_private_key(curve.agreement(), &d)
                    .map_err(|_| Error::InvalidJwk("d is not a valid private key for crv"))?;
                // The private key must belong to the public one in the file.
                let derived = key.compute_public_key().map_err(|_| Error::InvalidJwk("d"))?;
                let expected = EphemeralPublicKey::from_coordinates(*curve, x, y.as_deref())
                    .map_err(|_| Error::InvalidJwk("public point is invalid"))?;
                if derived.as_ref() != expected.encoded() {
                    return Err(Error::InvalidJwk("d does not match x/y"));
                }
                PrivateParams::Ec { curve: *curve, key }
            }
            PublicParams::Rsa { n, e } => {
                if map.contains_key("oth") {
                    return Err(Error::InvalidJwk("multi-prime RSA (oth) is not supported"));
                }
                let part =
                    |k: &'static str| -> Result<Zeroizing<Vec<u8>>, Error> { b64::decode_secret(k, need_str(map, k)?) };
                let (d, p, q, dp, dq, qi) = (part("d")?, part("p")?, part("q")?, part("dp")?, part("dq")?, part("qi")?);
                let pair = KeyPair::from_components(&KeyPairComponents {
                    public_key: PublicKeyComponents { n: n.as_slice(), e: e.as_slice() },
                    d: d.as_slice(),
                    p: p.as_slice(),
                    q: q.as_slice(),
                    dP: dp.as_slice(),
                    dQ: dq.as_slice(),
                    qInv: qi.as_slice(),
                })
                .map_err(|_| Error::InvalidJwk("RSA private key components are inconsistent"))?;
                let der = pair.as_der().map_err(|_| Error::InvalidJwk("RSA private key"))?;
                let raw = PrivateDecryptingKey::from_pkcs8(der.as_ref())
                    .map_err(|_| Error::InvalidJwk("RSA private key rejected"))?;
                let key = OaepPrivateDecryptingKey::new(raw.clone())
                    .map_err(|_| Error::InvalidJwk("RSA private key rejected"))?;
                PrivateParams::Rsa { key, raw }
            }
        };
        Ok(Self { private, public })
    }

    /// Generate a new ECDH key on `curve`, restricted to `ECDH-ES+A256KW`.
    pub fn generate_ec(curve: Curve, kid: &str) -> Result<Self, Error> {
        check_kid(kid)?;
        let key = PrivateKey::generate(curve.agreement()).map_err(|_| Error::Rng)?;
        let p = key.compute_public_key().map_err(|_| Error::Rng)?;
        let p = p.as_ref();
        let (x, y) = match curve {
            Curve::X25519 => (p.to_vec(), None),
            c => (p[1..1 + c.coord_len()].to_vec(), Some(p[1 + c.coord_len()..].to_vec())),
        };
        let public = PublicJwk {
            params: PublicParams::Ec { curve, x, y },
            kid: Some(kid.to_owned()),
            alg: Some(KeyAlg::EcdhEsA256Kw),
        };
        Ok(Self { private: PrivateParams::Ec { curve, key }, public })
    }

    /// Generate a new RSA key of `bits` (2048, 3072 or 4096) for `RSA-OAEP-256`.
    pub fn generate_rsa(bits: usize, kid: &str) -> Result<Self, Error> {
        use aws_lc_rs::rsa::KeySize;
        check_kid(kid)?;
        let size = match bits {
            2048 => KeySize::Rsa2048,
            3072 => KeySize::Rsa3072,
            4096 => KeySize::Rsa4096,
            _ => return Err(Error::Usage("RSA key size must be 2048, 3072 or 4096 bits")),
        };
        let raw = PrivateDecryptingKey::generate(size).map_err(|_| Error::Rng)?;
        let parts = RsaParts::from_key(&raw)?;
        let key = OaepPrivateDecryptingKey::new(raw.clone()).map_err(|_| Error::Rng)?;
        let public = PublicJwk {
            params: PublicParams::Rsa { n: parts.n.to_vec(), e: parts.e.to_vec() },
            kid: Some(kid.to_owned()),
            alg: Some(KeyAlg::RsaOaep256),
        };
        Ok(Self { private: PrivateParams::Rsa { key, raw }, public })
    }

    /// The public half.
    pub fn public(&self) -> &PublicJwk {
        &self.public
    }

    /// The private JWK as JSON text, in a zeroizing string. This is the
    /// only way key material leaves a `LocalKey`: for writing a key file.
    pub fn to_private_json(&self) -> Result<Zeroizing<String>, Error> {
        let Value::Object(mut m) = self.public.to_json() else {
            return Err(Error::Usage("public JWK is not an object"));
        };
        let mut secrets: Vec<(&'static str, Zeroizing<String>)> = Vec::new();
        match &self.private {
            PrivateParams::Ec { curve: Curve::X25519, key } => {
                let seed: Curve25519SeedBin<'_> = key.as_be_bytes().map_err(|_| Error::Usage("key export"))?;
                secrets.push(("d", b64::encode_secret(seed.as_ref())));
            }
            PrivateParams::Ec { key, .. } => {
                let d: EcPrivateKeyBin<'_> = key.as_be_bytes().map_err(|_| Error::Usage("key export"))?;
                secrets.push(("d", b64::encode_secret(d.as_ref())));
            }
            PrivateParams::Rsa { raw, .. } => {
                let parts = RsaParts::from_key(raw)?;
                for (k, v) in [
                    ("d", &parts.d),
                    ("p", &parts.p),
                    ("q", &parts.q),
                    ("dp", &parts.dp),
                    ("dq", &parts.dq),
                    ("qi", &parts.qi),
                ] {
                    secrets.push((k, b64::encode_secret(v)));
                }
            }
        }
        let mut out = json::Scrubbed(std::mem::take(&mut m));
        for (k, v) in secrets {
            out.0.insert(k.into(), Value::String(v.to_string()));
        }
        // Sized up front so the writer never reallocates and leaves an
        // unzeroed copy of the key behind in freed memory.
        let mut buf = Zeroizing::new(Vec::with_capacity(MAX_JWK));
        serde_json::to_writer_pretty(&mut *buf, &out.0).map_err(|_| Error::Usage("JSON"))?;
        let text = std::str::from_utf8(&buf).map_err(|_| Error::Usage("JSON"))?;
        Ok(Zeroizing::new(text.to_owned()))
    }
}

fn check_kid(kid: &str) -> Result<(), Error> {
    if kid.is_empty() || kid.len() > MAX_KID || kid.chars().any(char::is_control) {
        return Err(Error::Usage("kid must be 1-256 printable characters"));
    }
    Ok(())
}

/// The JWK members of an RSA private key, read from its PKCS#8 encoding
/// (aws-lc has no accessor for the private components).
struct RsaParts {
    n: Vec<u8>,
    e: Vec<u8>,
    d: Zeroizing<Vec<u8>>,
    p: Zeroizing<Vec<u8>>,
    q: Zeroizing<Vec<u8>>,
    dp: Zeroizing<Vec<u8>>,
    dq: Zeroizing<Vec<u8>>,
    qi: Zeroizing<Vec<u8>>,
}

impl RsaParts {
    fn from_key(key: &PrivateDecryptingKey) -> Result<Self, Error> {
        use pkcs8::der::Decode as _;
        const BAD: Error = Error::Usage("RSA key export failed");
        let der = key.as_der().map_err(|_| BAD)?;
        let der = Zeroizing::new(der.as_ref().to_vec());
        let info = pkcs8::PrivateKeyInfoRef::from_der(&der).map_err(|_| BAD)?;
        let k = pkcs1::RsaPrivateKeyRef::try_from(info.private_key).map_err(|_| BAD)?;
        let z = |u: pkcs1::UintRef<'_>| Zeroizing::new(u.as_bytes().to_vec());
        Ok(Self {
            n: k.modulus.as_bytes().to_vec(),
            e: k.public_exponent.as_bytes().to_vec(),
            d: z(k.private_exponent),
            p: z(k.prime1),
            q: z(k.prime2),
            dp: z(k.exponent1),
            dq: z(k.exponent2),
            qi: z(k.coefficient),
        })
    }
}

impl DecryptionKey for LocalKey {
    fn kid(&self) -> Option<&str> {
        self.public.kid()
    }

    fn kind(&self) -> KeyKind {
        self.public.kind()
    }

    fn alg(&self) -> Option<KeyAlg> {
        self.public.alg
    }

    fn ecdh<'a>(&'a self, epk: &'a EphemeralPublicKey) -> KeyFuture<'a, SharedSecret> {
        Box::pin(std::future::ready(self.ecdh_now(epk)))
    }

    fn rsa_oaep_decrypt<'a>(&'a self, hash: OaepHash, wrapped: &'a [u8]) -> KeyFuture<'a, SecretBytes> {
        Box::pin(std::future::ready(self.rsa_now(hash, wrapped)))
    }
}

impl LocalKey {
    fn ecdh_now(&self, epk: &EphemeralPublicKey) -> Result<SharedSecret, KeyError> {
        let PrivateParams::Ec { curve, key } = &self.private else {
            return Err(KeyError::Unsupported("not an ECDH key"));
        };
        if *curve != epk.curve() {
            return Err(KeyError::Unsupported("ephemeral key is on another curve"));
        }
        agreement::agree(key, UnparsedPublicKey::new(curve.agreement(), epk.encoded()), KeyError::Crypto, |z| {
            Ok(SecretBytes::new(z.to_vec()))
        })
    }

    fn rsa_now(&self, hash: OaepHash, wrapped: &[u8]) -> Result<SecretBytes, KeyError> {
        let PrivateParams::Rsa { key, .. } = &self.private else {
            return Err(KeyError::Unsupported("not an RSA key"));
        };
        let alg = match hash {
            OaepHash::Sha1 => &OAEP_SHA1_MGF1SHA1,
            OaepHash::Sha256 => &OAEP_SHA256_MGF1SHA256,
        };
        let mut out = Zeroizing::new(vec![0u8; key.min_output_size()]);
        let len = key.decrypt(alg, wrapped, &mut out, None).map_err(|_| KeyError::Crypto)?.len();
        out.truncate(len);
        Ok(SecretBytes::from_zeroizing(out))
    }
}
