//! Signed checkpoints (FORMAT.md §3): the head of the chain at some seq,
//! signed ES256 by the custody's root key.

use aws_lc_rs::{digest, signature};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::Value;

use crate::{AuditError, CheckpointFault, Hash};

/// Domain-separation tag that starts a v1 checkpoint's signing input.
pub const CHECKPOINT_TAG: &[u8] = b"sealgate-audit-checkpoint-v1";
/// Domain-separation tag that starts a v2 checkpoint's signing input (one
/// that also signs a tree head).
pub const CHECKPOINT_TAG_V2: &[u8] = b"sealgate-audit-checkpoint-v2";

/// A signed tree head (FORMAT.md §6): the size and root hash of the Merkle
/// tree over records `1..=size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeHead {
    /// Leaves: records 1 to `size` (C3: equal to the checkpoint's seq).
    pub size: u64,
    /// The RFC 9162 root hash.
    pub root: Hash,
}

/// The chain's head at `seq`: the hash of record `seq`, and when the
/// checkpoint was taken; from format v2 on also the Merkle tree head over
/// records `1..=seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    /// The seq covered (at least 1).
    pub seq: u64,
    /// The hash of record `seq`.
    pub hash: Hash,
    /// When the checkpoint was taken, in Unix milliseconds.
    pub time: u64,
    /// The tree head signed with it (v2); `None` for a v1 checkpoint.
    pub tree: Option<TreeHead>,
}

/// A checkpoint and its ES256 signature (`r || s`, 64 bytes, as
/// `Custody::root_sign` returns it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    /// What was signed.
    pub checkpoint: Checkpoint,
    /// The signature over [`checkpoint_signing_input`].
    pub sig: Vec<u8>,
}

/// C1: the exact bytes the root key signs. v1: the v1 tag, then `seq` (u64
/// big-endian), `hash` (32 bytes), `time` (u64 big-endian) — 76 bytes. v2
/// (C3): the v2 tag, the same three, then the tree size (u64 big-endian) and
/// root (32 bytes) — 116 bytes.
pub fn checkpoint_signing_input(cp: &Checkpoint) -> Vec<u8> {
    let mut b = Vec::with_capacity(CHECKPOINT_TAG_V2.len() + 88);
    b.extend_from_slice(if cp.tree.is_some() { CHECKPOINT_TAG_V2 } else { CHECKPOINT_TAG });
    b.extend_from_slice(&cp.seq.to_be_bytes());
    b.extend_from_slice(&cp.hash.0);
    b.extend_from_slice(&cp.time.to_be_bytes());
    if let Some(t) = &cp.tree {
        b.extend_from_slice(&t.size.to_be_bytes());
        b.extend_from_slice(&t.root.0);
    }
    b
}

/// Verify `sig` over `cp` under the root public JWK (EC P-256, as
/// `sealgate_custody::keyset::root_jwk_from_point` produces it).
pub fn verify_checkpoint(cp: &Checkpoint, sig: &[u8], root_jwk: &Value) -> Result<(), AuditError> {
    RootKey::from_jwk(root_jwk)?.verify(cp, sig)
}

/// The custody's root public key: an uncompressed P-256 point.
#[derive(Clone, PartialEq, Eq)]
pub struct RootKey {
    point: [u8; 65],
}

impl std::fmt::Debug for RootKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RootKey({})", self.thumbprint())
    }
}

impl RootKey {
    /// From a public JWK: `kty` `EC`, `crv` `P-256`, `x` and `y` (32 bytes
    /// each, base64url); `use` `sig`, `alg` `ES256` and `kid` allowed; any
    /// other member (a private `d` above all) refused.
    pub fn from_jwk(jwk: &Value) -> Result<Self, AuditError> {
        let m = jwk.as_object().ok_or(AuditError::RootKey("not a JSON object"))?;
        if m.contains_key("d") {
            return Err(AuditError::RootKey("holds a private key (d): give the public key only"));
        }
        if m.keys().any(|k| !matches!(k.as_str(), "kty" | "crv" | "x" | "y" | "use" | "alg" | "kid")) {
            return Err(AuditError::RootKey("has members other than kty, crv, x, y, use, alg, kid"));
        }
        let s = |k: &str| m.get(k).and_then(Value::as_str);
        if s("kty") != Some("EC") || s("crv") != Some("P-256") {
            return Err(AuditError::RootKey("not an EC P-256 key"));
        }
        if m.get("use").is_some_and(|u| u.as_str() != Some("sig"))
            || m.get("alg").is_some_and(|a| a.as_str() != Some("ES256"))
            || m.get("kid").is_some_and(|k| !k.is_string())
        {
            return Err(AuditError::RootKey("use must be sig, alg ES256, kid a string"));
        }
        let coord = |k: &str| s(k).and_then(|v| B64.decode(v).ok()).filter(|v| v.len() == 32);
        let (Some(x), Some(y)) = (coord("x"), coord("y")) else {
            return Err(AuditError::RootKey("x and y must be 32 bytes, base64url"));
        };
        let mut point = [4u8; 65];
        point[1..33].copy_from_slice(&x);
        point[33..].copy_from_slice(&y);
        Self::from_point(&point)
    }

    /// From an uncompressed SEC1 point (`04 || x || y`), as aws-lc-rs's
    /// `EcdsaKeyPair::public_key` gives it.
    pub fn from_point(point: &[u8]) -> Result<Self, AuditError> {
        let point: [u8; 65] = point.try_into().map_err(|_| AuditError::RootKey("not an uncompressed P-256 point"))?;
        if point[0] != 4 {
            return Err(AuditError::RootKey("not an uncompressed P-256 point"));
        }
        // aws-lc checks the point is on the curve when verifying; a point
        // that is not would make every checkpoint fail as a bad signature.
        Ok(Self { point })
    }

    /// The public JWK (the same members `root_jwk_from_point` writes).
    pub fn to_jwk(&self) -> Value {
        serde_json::json!({
            "kty": "EC", "crv": "P-256",
            "x": B64.encode(&self.point[1..33]), "y": B64.encode(&self.point[33..]),
            "use": "sig", "alg": "ES256",
        })
    }

    /// RFC 7638 thumbprint (SHA-256, base64url): the pin `sealgate keys pin`
    /// prints. The required EC members in lexicographic order, no
    /// whitespace; base64url needs no JSON escaping.
    pub fn thumbprint(&self) -> String {
        let text = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            B64.encode(&self.point[1..33]),
            B64.encode(&self.point[33..])
        );
        B64.encode(digest::digest(&digest::SHA256, text.as_bytes()))
    }

    /// Verify `sig` (64 bytes, `r || s`) over `cp`; a v2 checkpoint whose
    /// tree size is not its seq (C3) is refused like a bad signature.
    pub fn verify(&self, cp: &Checkpoint, sig: &[u8]) -> Result<(), AuditError> {
        if cp.tree.is_some_and(|t| t.size != cp.seq) {
            return Err(AuditError::BadCheckpoint { seq: cp.seq, reason: CheckpointFault::BadSignature });
        }
        signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, &self.point[..])
            .verify(&checkpoint_signing_input(cp), sig)
            .map_err(|_| AuditError::BadCheckpoint { seq: cp.seq, reason: CheckpointFault::BadSignature })
    }
}
