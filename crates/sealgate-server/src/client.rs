//! How importer and trader reach an exchange: through the signer, never
//! with a secret of their own. One client is one service role.

use std::future::Future;
use std::pin::Pin;

use sealgate_exchanges::Request;

/// A boxed future, so [`SignerClient`] stays dyn-compatible.
pub type CallFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, SignerCallError>> + Send + 'a>>;

/// "Sign this request for credential `credential_id` and send it."
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForwardCall {
    /// The credential (its `cid`).
    #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9._:-]{1,64}$")]
    pub credential_id: String,
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
    /// The signer or the exchange could not be reached, or failed; worth a retry.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

impl SignerCallError {
    /// Whether retrying later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// A connection to the signer as one service role.
pub trait SignerClient: Send + Sync {
    /// The role this client acts as (`importer`, `trader`).
    fn role(&self) -> &str;
    /// Have the signer sign `call.request` and send it to the exchange.
    fn forward<'a>(&'a self, call: &'a ForwardCall) -> CallFuture<'a, ExchangeResponse>;
}
