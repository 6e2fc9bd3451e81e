//! The input of `sealgate exchange sign`: one JSON object naming the
//! exchange, the credential, the request, and optionally a fixed clock and
//! nonce. Parsed here, in the pure crate, so it can be fuzzed
//! (`fuzz/fuzz_targets/exchange_sign_input.rs`); the CLI reads stdin and
//! calls [`SignInput::parse`].

use crate::{Credential, Request};

/// Largest `exchange sign` input, in bytes.
pub const MAX_SIGN_INPUT: usize = 256 * 1024;

/// Longest serde message (which may name a field the input made up) that an
/// error repeats.
const MAX_ECHO: usize = 160;

/// A parsed `exchange sign` input.
#[derive(Debug)]
pub struct SignInput {
    /// Exchange id.
    pub exchange: String,
    /// The credential (secret fields, redacted in `Debug`).
    pub credential: Credential,
    /// The request to sign.
    pub request: Request,
    /// A fixed clock (Unix milliseconds), for reproducible signatures.
    pub clock_ms: Option<u64>,
    /// A fixed nonce (given as a JSON integer or a decimal string).
    pub nonce: Option<u64>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    exchange: String,
    credential: Credential,
    request: Request,
    clock_ms: Option<u64>,
    nonce: Option<NonceValue>,
}

#[derive(serde::Deserialize)]
#[serde(untagged)]
enum NonceValue {
    Number(u64),
    Text(String),
}

/// Why an `exchange sign` input was refused. No variant carries a value of
/// the input: the credential's secrets are in it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignInputError {
    /// Larger than [`MAX_SIGN_INPUT`].
    #[error("input on stdin is larger than {MAX_SIGN_INPUT} bytes")]
    TooLarge,
    /// Not UTF-8.
    #[error("stdin is not UTF-8")]
    NotUtf8,
    /// A member is unknown, missing or repeated (serde's message, which names
    /// the member, bounded).
    #[error("sign input: {0}")]
    Member(String),
    /// Any other JSON fault; only its position is given, as serde's message
    /// could quote a secret value.
    #[error(
        "sign input is not the expected JSON object (line {line}, column {column}); see `sealgate exchange sign --help`"
    )]
    Json {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// The input, its `credential` or its `request` is not a JSON object
    /// (serde would also read a struct from an array of its values in
    /// declaration order: a second spelling, refused).
    #[error("sign input: {0} must be a JSON object")]
    NotObject(&'static str),
    /// `nonce` is a string that is not a u64 in decimal.
    #[error("nonce must be a non-negative integer")]
    Nonce,
}

impl SignInput {
    /// Parse the JSON input of `exchange sign`.
    pub fn parse(input: &[u8]) -> Result<Self, SignInputError> {
        if input.len() > MAX_SIGN_INPUT {
            return Err(SignInputError::TooLarge);
        }
        let text = std::str::from_utf8(input).map_err(|_| SignInputError::NotUtf8)?;
        let raw: Raw = serde_json::from_str(text).map_err(describe_json_error)?;
        // One spelling: objects only, never serde's array form of a struct.
        let shape: serde_json::Value = serde_json::from_str(text).map_err(describe_json_error)?;
        if !shape.is_object() {
            return Err(SignInputError::NotObject("the input"));
        }
        for member in ["credential", "request"] {
            if !shape.get(member).is_some_and(serde_json::Value::is_object) {
                return Err(SignInputError::NotObject(member));
            }
        }
        let nonce = match raw.nonce {
            None => None,
            Some(NonceValue::Number(n)) => Some(n),
            Some(NonceValue::Text(t)) => Some(t.parse::<u64>().map_err(|_| SignInputError::Nonce)?),
        };
        Ok(Self {
            exchange: raw.exchange,
            credential: raw.credential,
            request: raw.request,
            clock_ms: raw.clock_ms,
            nonce,
        })
    }
}

/// serde_json's data errors can quote the offending value (a secret, here):
/// keep only messages that name fields, else give the position.
fn describe_json_error(e: serde_json::Error) -> SignInputError {
    let msg = e.to_string();
    if msg.starts_with("unknown field") || msg.starts_with("missing field") || msg.starts_with("duplicate field") {
        let mut bounded: String = msg.chars().take(MAX_ECHO).collect();
        if bounded.len() < msg.len() {
            bounded.push('…');
        }
        SignInputError::Member(bounded)
    } else {
        SignInputError::Json { line: e.line(), column: e.column() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = r#"{"exchange":"binance","credential":{"api_key":"k","api_secret":"s"},"request":{"method":"GET","path":"/api/v3/account","query":"","body":""},"clock_ms":1700000000000,"nonce":"42"}"#;

    #[test]
    fn parses_every_member() {
        let i = SignInput::parse(OK.as_bytes()).expect("parses");
        assert_eq!((i.exchange.as_str(), i.clock_ms, i.nonce), ("binance", Some(1_700_000_000_000), Some(42)));
        assert_eq!(i.request, Request::new("GET", "/api/v3/account", "", ""));
        assert_eq!(i.credential.api_secret().expect("secret"), "s");
    }

    #[test]
    fn refuses_with_a_precise_error_and_no_secret() {
        let cases = [
            (OK.replace(r#""nonce":"42""#, r#""nonce":"-1""#), SignInputError::Nonce),
            (OK.replace(r#""api_secret":"s""#, r#""api_secret":7"#), SignInputError::Json { line: 1, column: 64 }),
            ("[]".to_owned(), SignInputError::Json { line: 1, column: 2 }),
        ];
        for (input, want) in cases {
            assert_eq!(SignInput::parse(input.as_bytes()).map(|_| ()), Err(want), "{input}");
        }
        // serde's array form of a struct is a second spelling: refused.
        let arrays = [
            (r#"["binance",{"api_key":"k"},{"method":"GET","path":"/x"},null,null]"#, "the input"),
            (
                r#"{"exchange":"binance","credential":["k","s",null,null,null],"request":{"method":"GET","path":"/x","query":"","body":""}}"#,
                "credential",
            ),
            (r#"{"exchange":"binance","credential":{},"request":["GET","/x","",""]}"#, "request"),
        ];
        for (input, what) in arrays {
            assert_eq!(SignInput::parse(input.as_bytes()).map(|_| ()), Err(SignInputError::NotObject(what)), "{input}");
        }
        assert_eq!(SignInput::parse(b"\xff").map(|_| ()), Err(SignInputError::NotUtf8));
        assert_eq!(SignInput::parse(&vec![b' '; MAX_SIGN_INPUT + 1]).map(|_| ()), Err(SignInputError::TooLarge));
        let dup = OK.replacen(r#""exchange":"binance","#, r#""exchange":"binance","exchange":"okx","#, 1);
        let Err(SignInputError::Member(m)) = SignInput::parse(dup.as_bytes()) else { panic!("duplicate refused") };
        assert!(m.starts_with("duplicate field `exchange`"), "{m}");
        // A secret typed as a member name is not echoed beyond the bound.
        let secret = "S".repeat(4096);
        let odd = OK.replacen(r#""api_key":"k""#, &format!(r#""{secret}":"k""#), 1);
        let Err(e @ SignInputError::Member(_)) = SignInput::parse(odd.as_bytes()) else { panic!("unknown refused") };
        assert!(e.to_string().len() < 200, "{e}");
    }
}
