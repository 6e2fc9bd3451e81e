//! Errors of exchange signing. None carries secret material: a missing
//! field is named, a bad key says what kind of key it is not.

/// Why a request could not be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The exchange id is not one we support.
    #[error("unknown exchange {0:?}")]
    UnknownExchange(String),
    /// A credential field the scheme needs is absent or empty.
    #[error("credential field {0:?} is missing")]
    MissingField(&'static str),
    /// A credential field has the wrong form (e.g. secret not base64).
    #[error("credential field {field:?} is malformed: {why}")]
    MalformedField {
        /// The field.
        field: &'static str,
        /// What is wrong, without the value.
        why: &'static str,
    },
    /// A private key that cannot be used (bad PEM, wrong type).
    #[error("private key is unusable: {0}")]
    BadKey(&'static str),
    /// The request itself is malformed for this exchange.
    #[error("invalid request: {0}")]
    BadRequest(&'static str),
    /// The request could be read two ways, or carries what the exchange
    /// would not read there: refused before any policy or signature (see
    /// the crate docs, "Canonical requests"). The text names the parameter
    /// (bounded), never a credential.
    #[error("ambiguous request: {0}")]
    Ambiguous(String),
    /// An exchange's answer (a public ticker) does not say what it should.
    #[error("unreadable exchange answer: {0}")]
    BadAnswer(&'static str),
    /// This exchange does not offer that key type.
    #[error("{exchange} does not support {what}")]
    Unsupported {
        /// Exchange id.
        exchange: &'static str,
        /// What is unsupported.
        what: &'static str,
    },
    /// `sign` (a signature handed out) is refused for this exchange: its
    /// signature does not bind the whole request, or it carries a
    /// credential component in clear.
    #[error(
        "`sign` is refused for {exchange}: {why}; use `forward` (signer) or `request` (agent), which send the request exactly as the policy judged it"
    )]
    SignRefused {
        /// Exchange id.
        exchange: &'static str,
        /// What the signature leaves open.
        why: String,
    },
    /// The signing primitive failed (randomness, internal).
    #[error("signing failed")]
    Crypto,
}
