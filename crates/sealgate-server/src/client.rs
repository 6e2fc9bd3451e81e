//! How importer and trader reach an exchange: through the signer, never
//! with a secret of their own. One client is one service role.

use std::future::Future;
use std::pin::Pin;

use sealgate_exchanges::Request;
use sealgate_vocab::{CredentialId, OwnerId};

/// A boxed future, so [`SignerClient`] stays dyn-compatible.
pub type CallFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, SignerCallError>> + Send + 'a>>;

/// "Sign this request for `owner`'s credential `credential_id` and send it."
///
/// A credential id is unique per owner only, so a call names both: the signer loads exactly
/// the row keyed (`owner`, `credential_id`) and never reaches a credential by its id alone.
/// A service token proves a role, not a user (one importer serves every user), so the owner
/// travels in the call; the signer then checks the envelope's `sub` against it as well.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForwardCall {
    /// The user the credential belongs to (our user id, the envelopes' `sub`).
    #[schema(value_type = String, min_length = 1, max_length = 256, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]{1,256}$")]
    pub owner: OwnerId,
    /// The credential (its `cid`), one of `owner`'s.
    #[schema(value_type = String, min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9._:-]{1,64}$")]
    pub credential_id: CredentialId,
    /// The unsigned exchange request.
    #[serde(deserialize_with = "crate::json::object")]
    pub request: Request,
}

/// The exchange's answer, as the signer received it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ExchangeResponse {
    /// HTTP status.
    pub status: u16,
    /// Body (text; bounded by the signer).
    pub body: String,
}

impl ExchangeResponse {
    /// The answer as the venue parsers read it.
    pub fn view(&self) -> crate::venues::Response<'_> {
        crate::venues::Response { status: self.status, body: &self.body }
    }
}

/// Why a call through the signer failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignerCallError {
    /// Policy refused the request (the reason is safe to show the user).
    #[error("denied: {0}")]
    Denied(String),
    /// No such credential, or no envelope for this role.
    #[error("no envelope for this credential and role")]
    NotFound,
    /// The caller is not authenticated or not allowed.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// The request itself is malformed.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The signer or the exchange could not be reached, or failed, before the request
    /// left for the exchange: nothing was sent. Worth a retry.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The request may have reached the exchange, but its answer was lost (a timeout or
    /// a reset after it was sent, to the exchange or to the signer): the exchange may have
    /// executed it. Worth a status query, never a blind resend of a placement.
    #[error("no answer: {0}")]
    Indeterminate(String),
}

impl SignerCallError {
    /// Whether retrying later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::Indeterminate(_))
    }

    /// Whether the request may have reached the exchange ([`Self::Indeterminate`]).
    pub fn may_have_arrived(&self) -> bool {
        matches!(self, Self::Indeterminate(_))
    }
}

/// A connection to the signer as one service role.
pub trait SignerClient: Send + Sync {
    /// The role this client acts as (`importer`, `trader`).
    fn role(&self) -> &str;
    /// Have the signer sign `call.request` and send it to the exchange.
    fn forward<'a>(&'a self, call: &'a ForwardCall) -> CallFuture<'a, ExchangeResponse>;
}
