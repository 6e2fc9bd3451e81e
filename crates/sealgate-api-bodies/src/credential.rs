//! The credential bodies: `POST /v1/credentials` ([`CreateCredential`]), the owner's limits
//! ([`LimitsIn`]) and an owner's approval ([`ApprovalIn`]).

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// Longest label, in characters.
pub const MAX_LABEL: usize = 100;

/// A consumer role a credential can be sealed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RoleName {
    /// Reads balances and history.
    Importer,
    /// Places and cancels orders.
    Trader,
}

impl RoleName {
    /// `importer` or `trader`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Importer => "importer",
            Self::Trader => "trader",
        }
    }
}

/// Body of `POST /v1/credentials`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCredential {
    /// The credential id, made by the client and sealed in every envelope (`cid`). Unique
    /// among the caller's own credentials only: another user's ids neither block it nor
    /// show through.
    #[schema(value_type = String, min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9._:-]{1,64}$")]
    pub id: sealgate_vocab::CredentialId,
    /// Exchange id.
    #[schema(schema_with = exchange_schema)]
    pub exchange: String,
    /// A label for display: at most 100 characters, no control characters.
    #[serde(default)]
    #[schema(max_length = 100, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    pub label: String,
    /// The envelopes: one per role, at most one of each.
    #[serde(deserialize_with = "crate::strict::objects")]
    #[schema(min_items = 1, max_items = 2)]
    pub envelopes: Vec<EnvelopeIn>,
}

/// The exchange ids the api accepts: every exchange the signer can sign for.
fn exchange_schema() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(sealgate_exchanges::ALL.iter().map(|s| s.id)))
        .build()
}

/// One sealed envelope.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvelopeIn {
    /// The role it is sealed to (its `aud`).
    pub role: RoleName,
    /// Compact JWE, credential envelope v1 (at most 64 KiB).
    #[schema(min_length = 1, max_length = 65536)]
    pub jwe: String,
}

impl std::fmt::Debug for EnvelopeIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnvelopeIn").field("role", &self.role).field("jwe_len", &self.jwe.len()).finish()
    }
}

/// The checks of a [`CreateCredential`] that need no store (the envelopes' come after); the
/// error is the 400 message.
pub fn check_create(req: &CreateCredential) -> Result<(), String> {
    // `req.id` is a CredentialId: the one id rule held when the body was parsed.
    if sealgate_exchanges::scheme(&req.exchange).is_err() {
        return Err("unknown exchange id (see the exchange list in the documentation)".into());
    }
    if req.label.chars().count() > MAX_LABEL || req.label.chars().any(char::is_control) {
        return Err(format!("label must be at most {MAX_LABEL} characters, without control characters"));
    }
    if req.envelopes.is_empty() {
        return Err("envelopes: seal the credential to at least one role (importer, trader)".into());
    }
    let mut seen = HashSet::new();
    for env in &req.envelopes {
        if !seen.insert(env.role) {
            return Err(format!("envelopes: role {} appears more than once", env.role.name()));
        }
    }
    Ok(())
}

/// The owner's limits on a credential: they only narrow what the envelopes allow, so the
/// server may set them (adding a class would need the user to seal again). An absent or
/// `null` field removes that limit.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitsIn {
    /// Symbols the roles may trade (`null`: any symbol).
    #[serde(default)]
    #[schema(schema_with = symbols_schema)]
    pub symbols: Option<Vec<String>>,
    /// Largest order value in the quote currency: a positive decimal string.
    #[serde(default)]
    #[schema(max_length = 39, pattern = "^([0-9]*[1-9][0-9]*(\\.[0-9]*)?|[0-9]*\\.[0-9]*[1-9][0-9]*)$")]
    pub max_notional: Option<String>,
    /// Most signer requests per window (`null`: no rate limit).
    #[serde(default, deserialize_with = "crate::strict::opt_object")]
    pub rate: Option<RateIn>,
    /// The owner's approval (`POST /v1/credentials/{id}/approval`), needed to loosen the
    /// limits of a credential that names an authority.
    #[serde(default)]
    pub approval: Option<ApprovalIn>,
}

/// Symbols of a limit: 1 to 64 names of 1 to 32 letters, digits or `- _ / : .`, or `null`.
fn symbols_schema() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, SchemaType, Type};
    ArrayBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(32))
                .pattern(Some("^[A-Za-z0-9_/:.-]{1,32}$")),
        )
        .min_items(Some(1))
        .max_items(Some(64))
        .build()
}

/// A rate limit.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateIn {
    /// Most requests per window.
    #[schema(minimum = 1, maximum = 100_000)]
    pub max: u32,
    /// The window (ms): one second to one day.
    #[schema(minimum = 1_000, maximum = 86_400_000)]
    pub window_ms: u64,
}

/// The checks of a [`LimitsIn`] (the one limits parser, `sealgate_policy::Limits`), and the
/// limits it sets; the error is the 400 message.
pub fn check_limits(req: &LimitsIn) -> Result<sealgate_policy::Limits, String> {
    let rate = req.rate.as_ref().map(|r| (i64::from(r.max), i64::try_from(r.window_ms).unwrap_or(i64::MAX)));
    sealgate_policy::Limits::parse(req.symbols.as_deref(), req.max_notional.as_deref(), rate).map_err(|e| e.to_string())
}

/// An owner's approval: the statement the server wrote, and the passkey's answer.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalIn {
    /// The statement as `POST /v1/credentials/{id}/approval` gave it (canonical JSON text).
    #[schema(max_length = 8192)]
    pub statement: String,
    /// The `PublicKeyCredential` `navigator.credentials.get` returned, as JSON
    /// (`rawId` and `response.authenticatorData`, `clientDataJSON`, `signature` in base64url).
    #[schema(value_type = Object)]
    pub credential: Value,
}
