//! How services prove their role to the signer: short-lived signed service
//! tokens (a compact JWS, EdDSA/Ed25519), one key pair per role.
//!
//! Why tokens and not mTLS: a token works unchanged over loopback HTTP in the
//! embedded default, through the L7 proxies and service meshes platforms put
//! between services, and needs no CA to run or certificate revocation; the
//! key of a role is one 0600 file, rotated by replacing it and the signer's
//! copy of its public key. A token lives 5 minutes, so one leaked from a log
//! is soon useless, and it names its audience (`sealgate-signer`) so it is
//! good for nothing else. The signer caches verified tokens, so the Ed25519
//! check is paid once per token, not per request.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use aws_lc_rs::signature::{self, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};

/// The audience every service token names.
pub const AUDIENCE: &str = "sealgate-signer";
/// Lifetime of a token.
pub const TOKEN_LIFETIME_SECS: u64 = 300;
/// Clock skew tolerated on `iat`.
const SKEW_SECS: u64 = 60;
/// Longest token accepted.
const MAX_TOKEN: usize = 1024;
/// Verified tokens remembered.
const CACHE_MAX: usize = 4096;

/// Why a token was refused. Deliberately coarse towards the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceAuthError {
    /// No `Authorization: Bearer` header.
    #[error("service token required")]
    Missing,
    /// Malformed, wrong algorithm, unknown role, bad signature, expired…
    #[error("invalid service token: {0}")]
    Invalid(&'static str),
    /// A key file problem.
    #[error("service key {path}: {reason}")]
    KeyFile {
        /// Which file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

/// A role's private service key (held by importer, trader, api processes).
pub struct ServiceKey {
    role: String,
    pair: Ed25519KeyPair,
    cached: Mutex<Option<(String, u64)>>,
}

impl std::fmt::Debug for ServiceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ServiceKey({}, [REDACTED])", self.role)
    }
}

fn check_role(role: &str) -> Result<(), ServiceAuthError> {
    if role.is_empty() || role.len() > 32 || !role.bytes().all(|b| b.is_ascii_lowercase()) {
        return Err(ServiceAuthError::Invalid("role"));
    }
    Ok(())
}

impl ServiceKey {
    /// A fresh key for `role`, with its PKCS#8 document (to store 0600).
    pub fn generate(role: &str) -> Result<(Self, zeroize::Zeroizing<Vec<u8>>), ServiceAuthError> {
        check_role(role)?;
        let doc = Ed25519KeyPair::generate_pkcs8(&aws_lc_rs::rand::SystemRandom::new())
            .map_err(|_| ServiceAuthError::Invalid("key generation failed"))?;
        let der = zeroize::Zeroizing::new(doc.as_ref().to_vec());
        Ok((Self::from_pkcs8(role, &der)?, der))
    }

    /// A key from its PKCS#8 document.
    pub fn from_pkcs8(role: &str, der: &[u8]) -> Result<Self, ServiceAuthError> {
        check_role(role)?;
        let pair = Ed25519KeyPair::from_pkcs8(der).map_err(|_| ServiceAuthError::Invalid("not an Ed25519 key"))?;
        Ok(Self { role: role.to_owned(), pair, cached: Mutex::new(None) })
    }

    /// Loads `<dir>/<role>.key` (it must exist, mode 0600). A process that reaches a
    /// signer uses this: a key made on the spot would be one no signer trusts.
    pub fn load(dir: &Path, role: &str) -> Result<Self, ServiceAuthError> {
        let path = dir.join(format!("{role}.key"));
        let err = |reason: String| ServiceAuthError::KeyFile { path: path.display().to_string(), reason };
        let der = std::fs::read(&path).map_err(|e| err(e.to_string()))?;
        crate::serve::check_private_file(&path).map_err(err)?;
        Self::from_pkcs8(role, &zeroize::Zeroizing::new(der))
    }

    /// Loads `<dir>/<role>.key`, creating it (0600, in a 0700 directory) when absent.
    pub fn load_or_create(dir: &Path, role: &str) -> Result<Self, ServiceAuthError> {
        let path = dir.join(format!("{role}.key"));
        let err = |reason: String| ServiceAuthError::KeyFile { path: path.display().to_string(), reason };
        match std::fs::read(&path) {
            Ok(der) => {
                crate::serve::check_private_file(&path).map_err(err)?;
                Self::from_pkcs8(role, &zeroize::Zeroizing::new(der))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let (key, der) = Self::generate(role)?;
                crate::serve::write_private_file(&path, &der).map_err(err)?;
                Ok(key)
            }
            Err(e) => Err(err(e.to_string())),
        }
    }

    /// The role.
    pub fn role(&self) -> &str {
        &self.role
    }

    /// The raw 32-byte public key.
    pub fn public_key(&self) -> Vec<u8> {
        self.pair.public_key().as_ref().to_vec()
    }

    /// A token valid now, reused until a minute before it expires.
    pub fn token(&self, now_secs: u64) -> String {
        let mut cached = self.cached.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((t, exp)) = cached.as_ref()
            && now_secs + 60 < *exp
        {
            return t.clone();
        }
        let exp = now_secs + TOKEN_LIFETIME_SECS;
        let t = self.mint(now_secs, exp);
        *cached = Some((t.clone(), exp));
        t
    }

    fn mint(&self, iat: u64, exp: u64) -> String {
        let mut jti = [0u8; 12];
        let _ = aws_lc_rs::rand::fill(&mut jti);
        let header = json!({"alg": "EdDSA", "typ": "JWT"});
        let claims = json!({"iss": self.role, "aud": AUDIENCE, "iat": iat, "exp": exp, "jti": B64.encode(jti)});
        let input = format!("{}.{}", B64.encode(header.to_string()), B64.encode(claims.to_string()));
        let sig = self.pair.sign(input.as_bytes());
        format!("{input}.{}", B64.encode(sig.as_ref()))
    }
}

/// The signer's side: the public key of each role, and a cache of tokens
/// already verified.
pub struct ServiceVerifier {
    keys: HashMap<String, Vec<u8>>,
    verified: Mutex<HashMap<String, (String, u64)>>,
}

impl std::fmt::Debug for ServiceVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceVerifier").field("roles", &self.keys.keys().collect::<Vec<_>>()).finish()
    }
}

impl ServiceVerifier {
    /// A verifier trusting `keys` (role → raw Ed25519 public key).
    pub fn new(keys: HashMap<String, Vec<u8>>) -> Self {
        Self { keys, verified: Mutex::new(HashMap::new()) }
    }

    /// Loads `<dir>/<role>.pub` (base64url of the raw key) for each role.
    pub fn load(dir: &Path, roles: &[&str]) -> Result<Self, ServiceAuthError> {
        let mut keys = HashMap::new();
        for role in roles {
            let path = dir.join(format!("{role}.pub"));
            let text = std::fs::read_to_string(&path)
                .map_err(|e| ServiceAuthError::KeyFile { path: path.display().to_string(), reason: e.to_string() })?;
            let raw =
                B64.decode(text.trim()).ok().filter(|k| k.len() == 32).ok_or_else(|| ServiceAuthError::KeyFile {
                    path: path.display().to_string(),
                    reason: "not a base64url Ed25519 key".into(),
                })?;
            keys.insert((*role).to_owned(), raw);
        }
        Ok(Self::new(keys))
    }

    /// The role a token proves, or why not.
    pub fn verify(&self, token: &str, now_secs: u64) -> Result<String, ServiceAuthError> {
        if token.len() > MAX_TOKEN {
            return Err(ServiceAuthError::Invalid("too long"));
        }
        {
            let cache = self.verified.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some((role, exp)) = cache.get(token) {
                return if now_secs < *exp { Ok(role.clone()) } else { Err(ServiceAuthError::Invalid("expired")) };
            }
        }
        let (role, exp) = self.verify_uncached(token, now_secs)?;
        let mut cache = self.verified.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.len() >= CACHE_MAX {
            cache.retain(|_, (_, e)| now_secs < *e);
            if cache.len() >= CACHE_MAX {
                cache.clear();
            }
        }
        cache.insert(token.to_owned(), (role.clone(), exp));
        Ok(role)
    }

    fn verify_uncached(&self, token: &str, now: u64) -> Result<(String, u64), ServiceAuthError> {
        let bad = ServiceAuthError::Invalid;
        let mut parts = token.split('.');
        let (Some(h), Some(c), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(bad("not a compact JWS"));
        };
        let header: Value = decode_json(h).ok_or(bad("header"))?;
        if header.get("alg").and_then(Value::as_str) != Some("EdDSA") || header.get("crit").is_some() {
            return Err(bad("algorithm must be EdDSA"));
        }
        let claims: Value = decode_json(c).ok_or(bad("claims"))?;
        let role = claims.get("iss").and_then(Value::as_str).ok_or(bad("iss"))?;
        let key = self.keys.get(role).ok_or(bad("unknown role"))?;
        let sig = B64.decode(s).map_err(|_| bad("signature encoding"))?;
        let input_len = h.len() + 1 + c.len();
        UnparsedPublicKey::new(&signature::ED25519, key)
            .verify(&token.as_bytes()[..input_len], &sig)
            .map_err(|_| bad("signature"))?;
        if claims.get("aud").and_then(Value::as_str) != Some(AUDIENCE) {
            return Err(bad("audience"));
        }
        let exp = claims.get("exp").and_then(Value::as_u64).ok_or(bad("exp"))?;
        let iat = claims.get("iat").and_then(Value::as_u64).ok_or(bad("iat"))?;
        if now >= exp {
            return Err(bad("expired"));
        }
        if iat > now + SKEW_SECS || exp.saturating_sub(iat) > TOKEN_LIFETIME_SECS {
            return Err(bad("issued in the future or lives too long"));
        }
        Ok((role.to_owned(), exp))
    }
}

fn decode_json(part: &str) -> Option<Value> {
    let bytes = B64.decode(part).ok()?;
    sealgate_envelope::parse_json_object(&bytes).ok().map(Value::Object)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verifier(k: &ServiceKey) -> ServiceVerifier {
        ServiceVerifier::new(HashMap::from([(k.role().to_owned(), k.public_key())]))
    }

    #[test]
    fn a_token_proves_its_role_until_it_expires() -> Result<(), ServiceAuthError> {
        let (k, _) = ServiceKey::generate("importer")?;
        let v = verifier(&k);
        let t = k.token(1_000_000);
        assert_eq!(v.verify(&t, 1_000_010)?, "importer");
        assert_eq!(v.verify(&t, 1_000_010)?, "importer"); // cached
        assert_eq!(v.verify(&t, 1_000_000 + TOKEN_LIFETIME_SECS), Err(ServiceAuthError::Invalid("expired")));
        Ok(())
    }

    #[test]
    fn forged_tampered_and_foreign_tokens_are_refused() -> Result<(), ServiceAuthError> {
        let (k, _) = ServiceKey::generate("importer")?;
        let (other, _) = ServiceKey::generate("importer")?;
        let v = verifier(&k);
        let now = 1_000_000;
        assert_eq!(v.verify(&other.token(now), now), Err(ServiceAuthError::Invalid("signature")));
        // Claim another role by editing the claims: the signature no longer holds.
        let t = k.token(now);
        let parts: Vec<&str> = t.split('.').collect();
        let claims = json!({"iss": "trader", "aud": AUDIENCE, "iat": now, "exp": now + 60});
        let forged = format!("{}.{}.{}", parts[0], B64.encode(claims.to_string()), parts[2]);
        assert!(v.verify(&forged, now).is_err());
        let none = format!("{}.{}.", B64.encode(r#"{"alg":"none"}"#), parts[1]);
        assert_eq!(v.verify(&none, now), Err(ServiceAuthError::Invalid("algorithm must be EdDSA")));
        assert!(v.verify("a.b", now).is_err());
        assert!(v.verify(&"x".repeat(5000), now).is_err());
        // A trader key is not trusted as importer.
        let (trader, _) = ServiceKey::generate("trader")?;
        assert_eq!(v.verify(&trader.token(now), now), Err(ServiceAuthError::Invalid("unknown role")));
        Ok(())
    }

    #[test]
    fn debug_never_shows_the_key() -> Result<(), ServiceAuthError> {
        let (k, _) = ServiceKey::generate("trader")?;
        assert_eq!(format!("{k:?}"), "ServiceKey(trader, [REDACTED])");
        Ok(())
    }
}
