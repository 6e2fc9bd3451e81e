//! One module per exchange, each naming the official documentation section
//! its scheme follows. The registry below is the list `sealgate exchange
//! list` prints.

use crate::class::Route;
use crate::{Context, Credential, Error, Request, SignedRequest};

mod binance;
mod bitfinex;
mod bitget;
mod bitstamp;
mod bybit;
mod coinbase;
mod coinbase_exchange;
mod deribit;
mod gate;
mod gemini;
mod kraken;
mod kucoin;
mod mexc;
mod okx;
mod poloniex;

/// An exchange's signing scheme and endpoint table.
pub struct Scheme {
    /// Stable id (`binance`, `kraken`, …).
    pub id: &'static str,
    /// Display name.
    pub name: &'static str,
    /// Key types the scheme signs with (`hmac`, `ed25519`, `rsa`, `es256`, …).
    pub key_types: &'static [&'static str],
    /// Build and sign a request.
    pub sign: fn(&Credential, &Request, &Context<'_>) -> Result<SignedRequest, Error>,
    /// Private endpoints and their classes (path patterns, `{}` = one segment).
    pub routes: &'static [Route],
    /// Which parts of a request the signature binds.
    pub covers: Coverage,
    /// The signed-request header that carries a credential component in
    /// clear (a passphrase), if any.
    pub plaintext_header: Option<&'static str>,
    /// How the exchange answered: a documented clock or nonce rejection,
    /// read from the parsed body (status and body bytes in), see
    /// [`crate::answer`].
    pub answer: fn(u16, &[u8]) -> crate::Answer,
    /// The exchange's public server-time endpoint, for the signer to
    /// measure its clock offset (`None`: not measured, never re-sent for
    /// the clock).
    pub time: Option<crate::TimeEndpoint>,
    /// The `Content-Type` a request (method, body) is sent with, see
    /// [`crate::content_type`].
    pub content_type: fn(&str, &str) -> Option<&'static str>,
    /// The floor [`Scheme::sign`] would ask its nonce source for, signing this request at
    /// this time (Unix ms); `None` when it would draw no nonce. Lets a signer reserve the
    /// nonce first and sign once (see [`crate::nonce_floor`]); `tests/nonce_floor.rs` holds
    /// each one to what its `sign` asks.
    pub nonce_floor: fn(&Request, u64) -> Option<u64>,
}

/// [`Scheme::nonce_floor`] of a scheme that takes no nonce.
pub(crate) fn no_nonce(_: &Request, _: u64) -> Option<u64> {
    None
}

/// Which parts of a request a scheme's signature binds. A part is bound
/// (`true`) when every change to it, in every request the scheme signs,
/// changes the signature: the exchange then refuses the changed request.
/// A part that is left out of the string to sign, signed only for some
/// methods, or signed after a transformation that maps two different
/// values to one (sorting, percent-decoding) is not bound.
/// `tests/coverage.rs` checks each declaration against the real signature,
/// both ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Coverage {
    /// The HTTP method.
    pub method: bool,
    /// The host (only Bitstamp and Coinbase CDP sign it).
    pub host: bool,
    /// The path.
    pub path: bool,
    /// The query string.
    pub query: bool,
    /// The body.
    pub body: bool,
    /// What the signature is computed over, in the exchange's terms.
    pub signs: &'static str,
}

impl Scheme {
    /// The parts of a request (among method, path, query and body) that
    /// the signature leaves unbound. The host is not required: a request
    /// sent to another host reaches another exchange, which does not know
    /// the key.
    pub fn unbound_parts(&self) -> Vec<&'static str> {
        let c = &self.covers;
        [(c.method, "method"), (c.path, "path"), (c.query, "query"), (c.body, "body")]
            .into_iter()
            .filter_map(|(bound, name)| (!bound).then_some(name))
            .collect()
    }

    /// Whether a signed request of this scheme may be handed out (`sign`):
    /// only when its signature binds method, path, query and body, and no
    /// header carries a credential component in clear. Otherwise the
    /// holder of the signature could send another request than the one
    /// the policy judged (or keep the passphrase): the caller must use
    /// `forward` (signer) or `request` (agent), which send exactly the
    /// request that was judged.
    pub fn check_sign(&self) -> Result<(), Error> {
        let unbound = self.unbound_parts();
        let why = match (unbound.is_empty(), self.plaintext_header) {
            (true, None) => return Ok(()),
            (false, None) => format!("its signature does not bind the {}", unbound.join(", ")),
            (true, Some(h)) => format!("it sends the passphrase in clear ({h})"),
            (false, Some(h)) => {
                format!(
                    "its signature does not bind the {} and it sends the passphrase in clear ({h})",
                    unbound.join(", ")
                )
            }
        };
        Err(Error::SignRefused { exchange: self.id, why })
    }
}

impl std::fmt::Debug for Scheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheme").field("id", &self.id).finish_non_exhaustive()
    }
}

/// Every supported exchange.
pub static ALL: &[&Scheme] = &[
    &binance::SCHEME,
    &bitget::SCHEME,
    &gate::SCHEME,
    &kraken::SCHEME,
    &gemini::SCHEME,
    &mexc::SCHEME,
    &okx::SCHEME,
    &poloniex::SCHEME,
    &coinbase_exchange::SCHEME,
    &bybit::SCHEME,
    &kucoin::SCHEME,
    &bitfinex::SCHEME,
    &coinbase::SCHEME,
    &bitstamp::SCHEME,
    &deribit::SCHEME,
];

/// Helpers for `key=value&…` parameter strings (query strings, form bodies).
pub(crate) mod params {
    /// Whether `params` has a parameter `name` (exact name match).
    pub(crate) fn has(params: &str, name: &str) -> bool {
        !params.is_empty() && params.split('&').any(|kv| kv.split('=').next() == Some(name))
    }

    /// Append `name=value` (value already encoded) with `&` if needed.
    pub(crate) fn append(params: &mut String, name: &str, value: &str) {
        if !params.is_empty() {
            params.push('&');
        }
        params.push_str(name);
        params.push('=');
        params.push_str(value);
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn has_is_exact() {
            assert!(super::has("a=1&timestamp=2", "timestamp"));
            assert!(!super::has("a=1&xtimestamp=2", "timestamp"));
            assert!(!super::has("", "timestamp"));
        }
    }
}
