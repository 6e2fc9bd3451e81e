//! Why an authority key, a statement or an assertion is refused. Each
//! variant is one rule of AUTHORITY.md; none quotes attacker input beyond a
//! member name we chose.

/// A refusal. Grouped by kind: malformed input first, then a well-formed
/// assertion that does not prove the owner approved this statement here, now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ---- malformed input ----
    /// An input is larger than its bound (K1, S1, W1).
    #[error("{0} is too large")]
    TooLarge(&'static str),
    /// A base64url member is not strict unpadded base64url (W1).
    #[error("{0} is not unpadded base64url")]
    Base64(&'static str),
    /// JSON that is not an object of the expected members and types (K2, S2, W1, W3).
    #[error("{0}")]
    Malformed(&'static str),
    /// CBOR that is not well-formed or not of the shape expected (K1, W5).
    #[error("CBOR: {0}")]
    Cbor(&'static str),
    /// A key of a type, curve or algorithm we do not accept (K1, K2).
    #[error("unsupported key: {0}")]
    UnsupportedKey(&'static str),
    /// A key whose members are of the right kind but wrong (off-curve point, short modulus…) (K1, K2).
    #[error("invalid key: {0}")]
    InvalidKey(&'static str),
    /// A statement that breaks one of its rules; the message is the rule (S2-S5).
    #[error("statement: {0}")]
    Statement(&'static str),
    /// A statement in a spelling other than its canonical one (S1).
    #[error("statement: not in its canonical form")]
    NotCanonical,
    /// The random source failed.
    #[error("random number generator failure")]
    Rng,

    // ---- the assertion does not prove approval ----
    /// `clientDataJSON.type` is not `webauthn.get` (W3).
    #[error("assertion: client data type is not webauthn.get")]
    WrongCeremony,
    /// The signed challenge is not this statement's (W3).
    #[error("assertion: the challenge is not this statement's")]
    ChallengeMismatch,
    /// The origin is not one we expect (W3).
    #[error("assertion: origin not allowed")]
    OriginNotAllowed,
    /// The ceremony ran in a cross-origin frame (W3).
    #[error("assertion: made in a cross-origin frame")]
    CrossOrigin,
    /// `rpIdHash` is not SHA-256 of our RP id (W4).
    #[error("assertion: made for another relying party")]
    RpIdMismatch,
    /// The user-present flag is not set (W4).
    #[error("assertion: user not present")]
    UserNotPresent,
    /// The user-verified flag is not set (W4).
    #[error("assertion: user not verified")]
    UserNotVerified,
    /// The signature does not verify under this key (W6).
    #[error("assertion: signature does not verify")]
    BadSignature,
    /// The statement was issued too long ago (W2).
    #[error("assertion: statement is stale")]
    Stale,
    /// The statement was issued in the future beyond the allowed skew (W2).
    #[error("assertion: statement issued in the future")]
    IssuedInFuture,
}
