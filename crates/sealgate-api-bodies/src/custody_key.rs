//! The bodies of a credential whose exchange key is made in the custody (issue 18):
//! `POST /v1/custody-keys` ([`CreateCustodyKey`]) and `POST /v1/custody-keys/activate`
//! ([`ActivateCustodyKey`]).

use std::collections::HashSet;

use serde::Deserialize;
use utoipa::ToSchema;

use crate::credential::{MAX_LABEL, RoleName};

/// Most pending grants (one per role).
const MAX_PENDING: usize = 2;
/// Longest grant text (`sealgate_custody::grant::MAX_GRANT`).
const MAX_GRANT: usize = 16 * 1024;
/// Longest exchange API key id.
const MAX_API_KEY: usize = 256;

/// Body of `POST /v1/custody-keys`: make a key in the custody for a new credential.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCustodyKey {
    /// The credential id the client made (unique among the caller's credentials).
    #[schema(value_type = String, min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9._:-]{1,64}$")]
    pub id: sealgate_vocab::CredentialId,
    /// Exchange id: one that takes keys its users generate (`binance`, `bybit`).
    pub exchange: String,
    /// `ed25519` or `rsa-2048`; the exchange's strongest when absent.
    #[serde(default)]
    pub key_type: Option<String>,
    /// The roles that may use it, each once.
    #[schema(min_items = 1, max_items = 2)]
    pub roles: Vec<RoleName>,
    /// The classes granted: `read`, `trade` (and `withdraw` only if the owner wants it).
    #[schema(min_items = 1, max_items = 3)]
    pub scope: Vec<String>,
    /// The owner's passkey thumbprints to name (RFC 7638), as in an envelope's `own`.
    #[serde(default)]
    pub own: Option<Vec<String>>,
}

/// Body of `POST /v1/custody-keys/activate`: the exchange has named the key.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivateCustodyKey {
    /// The pending grants `POST /v1/custody-keys` answered with.
    #[schema(min_items = 1, max_items = 2)]
    pub pending: Vec<String>,
    /// The API key id the exchange showed for the public key.
    #[schema(min_length = 1, max_length = 256)]
    pub api_key: String,
    /// A label for display.
    #[serde(default)]
    #[schema(max_length = 100)]
    pub label: String,
    /// The owner's approval of the terms (`POST /v1/custody-keys/approval`), needed when
    /// the key was made naming the owner's passkeys (`own`).
    #[serde(default)]
    pub approval: Option<crate::ApprovalIn>,
    /// Where the exchange also needs a passphrase (Bitget): `{"api_key", "passphrase"}`
    /// sealed to each role (credential envelope v1, as `POST /v1/credentials` takes them).
    #[serde(default, deserialize_with = "crate::strict::opt_objects")]
    pub sealed: Option<Vec<crate::EnvelopeIn>>,
}

impl std::fmt::Debug for ActivateCustodyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActivateCustodyKey")
            .field("pending", &self.pending.len())
            .field("api_key", &self.api_key)
            .field("approval", &self.approval.is_some())
            .field("sealed", &self.sealed.as_ref().map(Vec::len))
            .finish_non_exhaustive()
    }
}

/// Body of `POST /v1/custody-keys/discard`: a key made and never activated, abandoned.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscardCustodyKey {
    /// The pending grants `POST /v1/custody-keys` answered with.
    #[schema(min_items = 1, max_items = 2)]
    pub pending: Vec<String>,
}

/// Body of `POST /v1/custody-keys/approval`: what the owner's passkey is to approve.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartCustodyKeyApproval {
    /// The pending grants `POST /v1/custody-keys` answered with.
    #[schema(min_items = 1, max_items = 2)]
    pub pending: Vec<String>,
    /// The API key id the exchange showed.
    #[schema(min_length = 1, max_length = 256)]
    pub api_key: String,
}

/// The checks of a [`CreateCustodyKey`] that need no custody; the 400 message.
pub fn check_create_custody_key(req: &CreateCustodyKey) -> Result<sealgate_vocab::Scope, String> {
    if sealgate_exchanges::held_key_algs(&req.exchange).is_empty() {
        return Err("this exchange does not take keys its users generate: seal its key instead".into());
    }
    if req.key_type.as_deref().is_some_and(|t| !["ed25519", "rsa-2048"].contains(&t)) {
        return Err("key_type must be ed25519 or rsa-2048".into());
    }
    let mut seen = HashSet::new();
    if req.roles.is_empty() || !req.roles.iter().all(|r| seen.insert(*r)) {
        return Err("roles: name importer and/or trader, each once".into());
    }
    if req.scope.len() > 3 {
        return Err("scope: at most read, trade and withdraw".into());
    }
    let scope = sealgate_vocab::Scope::from_names(req.scope.iter().map(String::as_str))
        .map_err(|_| "scope: a list of read, trade, withdraw, each once".to_owned())?;
    if let Some(own) = &req.own
        && (own.is_empty() || own.len() > 10)
    {
        return Err("own: 1 to 10 passkey thumbprints".into());
    }
    Ok(scope)
}

/// The checks of an [`ActivateCustodyKey`] that need no custody; the 400 message.
pub fn check_activate(req: &ActivateCustodyKey) -> Result<(), String> {
    if req.pending.is_empty() || req.pending.len() > MAX_PENDING || req.pending.iter().any(|g| g.len() > MAX_GRANT) {
        return Err("pending: the one or two grants the key was made with".into());
    }
    let k = &req.api_key;
    if k.is_empty() || k.len() > MAX_API_KEY || !k.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("api_key: the exchange's API key id, 1 to 256 printable characters without spaces".into());
    }
    if req.label.chars().count() > MAX_LABEL || req.label.chars().any(char::is_control) {
        return Err(format!("label must be at most {MAX_LABEL} characters, without control characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(v: serde_json::Value) -> Result<sealgate_vocab::Scope, String> {
        let req: CreateCustodyKey = serde_json::from_value(v).map_err(|e| e.to_string())?;
        check_create_custody_key(&req)
    }

    #[test]
    fn create_checks() {
        let ok =
            serde_json::json!({"id": "c1", "exchange": "binance", "roles": ["trader"], "scope": ["read", "trade"]});
        assert!(create(ok).is_ok());
        for (bad, why) in [
            (
                serde_json::json!({"id": "c1", "exchange": "kraken", "roles": ["trader"], "scope": ["read"]}),
                "does not take",
            ),
            (serde_json::json!({"id": "c1", "exchange": "binance", "roles": [], "scope": ["read"]}), "roles"),
            (
                serde_json::json!({"id": "c1", "exchange": "binance", "roles": ["trader", "trader"], "scope": ["read"]}),
                "roles",
            ),
            (
                serde_json::json!({"id": "c1", "exchange": "binance", "roles": ["trader"], "scope": ["read", "read"]}),
                "scope",
            ),
            (serde_json::json!({"id": "c1", "exchange": "binance", "roles": ["trader"], "scope": ["admin"]}), "scope"),
            (
                serde_json::json!({"id": "c1", "exchange": "binance", "key_type": "dsa", "roles": ["trader"], "scope": ["read"]}),
                "key_type",
            ),
            (
                serde_json::json!({"id": "c1", "exchange": "binance", "roles": ["agent"], "scope": ["read"]}),
                "unknown variant",
            ),
            (serde_json::json!({"id": "c 1", "exchange": "binance", "roles": ["trader"], "scope": ["read"]}), "id"),
            (
                serde_json::json!({"id": "c1", "exchange": "binance", "roles": ["trader"], "scope": ["read"], "x": 1}),
                "unknown field",
            ),
        ] {
            let e = create(bad.clone()).expect_err(&bad.to_string());
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn activate_checks() {
        let req = |pending: Vec<String>, api_key: &str| ActivateCustodyKey {
            pending,
            api_key: api_key.into(),
            label: String::new(),
            approval: None,
            sealed: None,
        };
        assert!(check_activate(&req(vec!["g".into()], "KEY")).is_ok());
        assert!(check_activate(&req(vec![], "KEY")).is_err());
        assert!(check_activate(&req(vec!["g".into(); 3], "KEY")).is_err());
        assert!(check_activate(&req(vec!["g".repeat(17_000)], "KEY")).is_err());
        assert!(check_activate(&req(vec!["g".into()], "a key")).is_err());
        assert!(check_activate(&req(vec!["g".into()], "")).is_err());
    }
}
