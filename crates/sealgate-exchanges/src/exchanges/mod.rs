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
