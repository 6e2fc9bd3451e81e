//! Byte-exact signing of private REST requests for crypto exchanges, and
//! the class of every private endpoint (`read`, `trade`, `withdraw`,
//! `account`, else `unknown`).
//!
//! Pure: no I/O, no async runtime. The clock and per-credential nonces are
//! injected ([`Clock`], [`NonceSource`]) so signing is deterministic in tests
//! and the signer can own nonces across instances. Query strings and bodies
//! are signed and sent exactly as given to [`sign`]: nothing is
//! re-serialized after signing. What the signer and the agent give to
//! [`sign`] is the canonical request ([`canonicalize`]), produced from what
//! the policy judged.
//!
//! # Canonical requests
//!
//! One request, one meaning: [`canonicalize`] is the only reader of a
//! request's parameters, and the signer and the agent call it (after
//! [`Request::validate`]) before the policy. For each exchange with a
//! reader (Binance, MEXC, Kraken, OKX, Coinbase Advanced, Bybit, Bitget,
//! KuCoin, Gate, Poloniex, Bitfinex, Gemini, Bitstamp, Coinbase Exchange,
//! Deribit: all fifteen) it reads the request as that exchange reads it — where its
//! parameters are for that method and endpoint (query, form body or JSON
//! body, the body in the format [`content_type`] will announce) — and
//! refuses ([`Error::Ambiguous`]):
//! - a parameter or JSON member given twice, at any depth, also when the
//!   two names differ only in ASCII case (Go's JSON reader, behind Coinbase,
//!   matches names case-insensitively), and non-ASCII member names;
//! - a parameter in both query and body where the exchange merges them
//!   (Binance, MEXC), a query where the exchange reads the body (Kraken,
//!   OKX, Coinbase, Poloniex, Coinbase Exchange POSTs; any Bitfinex, Gemini or
//!   Bitstamp call; a Deribit POST), a body where it reads the query (GETs), a body
//!   in a format the exchange would not read there (JSON in a Binance form
//!   body, a form in an OKX JSON body);
//! - a query or form that is not in the one spelling: `+` (space or plus?),
//!   `%41` for a character that needs no encoding, lower-case hex, a bare or
//!   short `%`, `;`, a pair without `=` or with two, an empty pair, a
//!   character outside RFC 3986's unreserved set and `! $ ' ( ) * , : @ / ?`,
//!   decoded text that is not UTF-8 or holds a control character;
//! - JSON numbers with a fraction or an exponent (amounts travel as
//!   strings: a float means what the reader's floating point makes of it);
//! - on a trade or withdraw endpoint, a parameter the exchange's
//!   documentation does not list for that method and path (an allow-list
//!   per endpoint; a call with no list is refused — except on Bybit,
//!   Bitget, KuCoin, Gate, Poloniex, Bitfinex, Gemini, Bitstamp, Coinbase
//!   Exchange and Deribit, whose tables list their order calls:
//!   their other trade calls are placements of unknown size, their other
//!   withdraw calls carry no facts), and the signature parameter the signer
//!   adds;
//! - in an order, a price the exchange ignores for its type (a Binance
//!   `MARKET`/`STOP_LOSS`/`TAKE_PROFIT` or pegged order's `price`, an OKX
//!   market order's `px`, a Coinbase market configuration's `limit_price`,
//!   a Kraken market order's `price`, a Bybit, Bitget, KuCoin, Gate,
//!   Poloniex, Bitfinex, Coinbase Exchange or Deribit market order's `price`), two
//!   competing sizes (Binance `quantity` and `quoteOrderQty`, Coinbase
//!   `base_size` and `quote_size`, KuCoin `size` and `funds`, Poloniex
//!   `quantity` and `amount`, Coinbase Exchange `size` and `funds`), a
//!   Coinbase `order_configuration` with other than exactly one entry;
//! - what the exchange reads from elsewhere than a body member, restated or
//!   contradicted: a Gemini payload's `request` or a Deribit JSON-RPC body's
//!   `method` naming another path (each exchange executes the body's), a
//!   Deribit member outside `params` (Deribit reads only those), a
//!   Bitfinex amount whose sign (the side) has a second spelling, a Bitstamp
//!   path without its pair (the path is the side, kind and market).
//!
//! The bytes to sign and send are then produced from the parsed form:
//! queries and forms with unreserved characters as themselves and every
//! other byte as upper-case `%XX`, JSON compact with members sorted. The
//! order facts ([`OrderFacts`]) come from that same parsed form. Every
//! trade endpoint places orders unless the exchange's table says it only
//! reads, cancels (or reduces) or changes a setting; a placement whose size
//! is not read (algo orders, conversions, derivatives, a
//! Kraken or Deribit edit) is [`Size::Unknown`], and every leg of an OCO, OTO, OTOCO
//! or batch is counted. A market order carries no price ([`Price::Market`]):
//! the policy values it at the exchange's public ticker
//! ([`ticker_request`], [`ticker_price`]).
//!
//! An exchange added without a reader keeps its request as given, with a
//! JSON body checked for duplicate members; its trade requests have unknown
//! facts ([`OrderFacts::unknown`]), refused wherever a symbol allow-list or
//! a notional cap is set.
//!
//! # One path rule
//!
//! [`check_path`] is the only path rule: [`Request::validate`], [`classify`]
//! (and [`classify_path`]) and every scheme's `sign` apply it, and the
//! signer and the agent call `validate` before anything else. A path is
//! `/`-separated segments of `A-Z a-z 0-9 - . _ ~ :` only: no `\`, no `%`
//! (no percent-encoding at all), no `?`/`#`, no `.`/`..` segment, no empty
//! segment except one trailing `/` (Bitstamp's paths end with it), no
//! non-ASCII, at most [`MAX_PATH`] bytes. Nothing normalises a path after it
//! was classified, so a `{}` segment of a read route cannot hide
//! `x\..\..\orders` or `%2e%2e`. The query is never part of the path (a path
//! holding `?` is refused, a query holding `#` too); its canonical form is
//! a separate rule.
//!
//! # What each signature binds, and where `sign` is allowed
//!
//! Each [`Scheme`] declares which parts of a request its signature binds
//! ([`Coverage`]) and which header, if any, carries a credential component
//! in clear; `tests/coverage.rs` checks every declaration against the real
//! signature by changing each part. A signed request may be handed out
//! (`sign` in the signer and the agent) only where method, path, query and
//! body are all bound and nothing travels in clear
//! ([`Scheme::check_sign`]); elsewhere the holder of the signature could
//! send another request than the one the policy judged (a Binance read's
//! query, signed, withdraws when sent to `/sapi/v1/capital/withdraw/apply`),
//! so the signer offers `forward` and the agent `request`, which send the
//! request exactly as judged. The host is not required: another host is
//! another exchange, which does not know the key.
//!
//! | exchange | method | host | path | query | body | in clear | `sign` |
//! |---|:-:|:-:|:-:|:-:|:-:|---|:-:|
//! | binance | – | – | – | ✓ | ✓ | | refused |
//! | mexc | – | – | – | ✓ | ✓ | | refused |
//! | bybit | – | – | – | GET only | non-GET only | | refused |
//! | coinbase (CDP JWT `uri`) | ✓ | ✓ | ✓ | – | – | | refused |
//! | kraken | – | – | ✓ | – (refused, travels unsigned if added) | ✓ | | refused |
//! | bitfinex | – | – | ✓ | – (idem) | ✓ | | refused |
//! | gemini (payload) | – | – | ✓ | – (idem) | ✓ | | refused |
//! | okx | ✓ | – | ✓ | ✓ | ✓ | `OK-ACCESS-PASSPHRASE` | refused |
//! | coinbase-exchange | ✓ | – | ✓ | ✓ | ✓ | `CB-ACCESS-PASSPHRASE` | refused |
//! | bitget | ✓ | – | ✓ | ✓ | ✓ | `ACCESS-PASSPHRASE` | refused |
//! | kucoin (key v2) | ✓ | – | ✓ | – (percent-decoded: `%26` = `&`) | ✓ | (key v1 would) | refused |
//! | poloniex | ✓ | – | ✓ | – (sorted; unsigned with a body) | ✓ | | refused |
//! | gate | ✓ | – | ✓ | ✓ | ✓ (SHA-512) | | allowed |
//! | bitstamp | ✓ | ✓ | ✓ | ✓ | ✓ | | allowed |
//! | deribit | ✓ | – | ✓ | ✓ | ✓ | | allowed |
//!
//! Binance and MEXC also concatenate query and body without a separator, so
//! bytes moved from one to the other keep the signature. Headers other than
//! the signature's own (notably `Content-Type`, which only Bitstamp signs)
//! are not bound by any scheme but Bitstamp.
//!
//! A signature that binds the whole request still binds it for as long as
//! the exchange accepts it: Bitstamp refuses a nonce it saw within 150 s,
//! but Gate has no nonce (an exact copy executes again within its 60 s
//! timestamp window) and Deribit does not document its nonce as single-use.
//! A `sign`ed request counts once against the rate limit and notional cap,
//! however often its holder sends it; that is what `--allow-sign` (signer)
//! and `agent add --allow-sign` opt into.

//!
//! # Send rules
//!
//! How a signed request is sent and its answer read is decided here too,
//! purely, and applied by the one sender of the signer and the agent
//! (`sealgate-send`): the `Content-Type` of a body per exchange
//! ([`content_type`]); clock and nonce rejections recognised by the
//! documented code field of the parsed answer, never by searching the body
//! ([`answer`], one function per exchange module); a request re-sent at most
//! once, and only after such a rejection, which proves nothing was executed
//! ([`Answer::resend`]); redirects never followed; answers bounded. See
//! [`send`] for the full list.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod canonical;
mod class;
mod error;
mod exchanges;
mod facts;
mod held;
mod key_pages;
mod request;
pub mod send;
mod sig;
mod sign_input;
mod ticker;

pub use canonical::{Canonical, WithdrawalFacts, canonicalize, classify_and_canonicalize};
pub use class::{EndpointClass, Route, classify_path};
pub use error::Error;
pub use exchanges::{ALL, Coverage, Scheme};
pub use facts::{Amount, Leg, OrderFacts, Price, Side, Size};
pub use held::{HeldKey, HeldKeyAlg, held_key_algs, sign_with_held_key};
pub use key_pages::{KEY_PAGES, KeyPage, key_page, replace_steps};
pub use request::{
    Clock, Context, Credential, FixedClock, FixedNonce, MAX_PATH, MonotonicNonce, NonceSource, Request, SignedRequest,
    SystemClock, check_path,
};
pub use send::{Answer, FORM, JSON, TimeEndpoint, answer, content_type, time_endpoint};
pub use sign_input::{MAX_SIGN_INPUT, SignInput, SignInputError};
pub use ticker::{MarketStats, market_stats, market_stats_request, ticker_price, ticker_request};

/// The scheme of exchange `id`.
pub fn scheme(id: &str) -> Result<&'static Scheme, Error> {
    ALL.iter().copied().find(|s| s.id == id).ok_or_else(|| Error::UnknownExchange(id.chars().take(64).collect()))
}

/// Sign `req` for exchange `id`. This is the signing primitive: it applies
/// no policy (classes, symbols, limits belong to the signer and the agent).
pub fn sign(id: &str, cred: &Credential, req: &Request, ctx: &Context<'_>) -> Result<SignedRequest, Error> {
    (scheme(id)?.sign)(cred, req, ctx)
}

/// The floor exchange `id`'s scheme would ask its [`NonceSource`] for, signing `req` at
/// `now_ms` (the [`Clock`]'s reading), or `None` when it would draw no nonce. A signer that
/// keeps nonces in a store reserves one at this floor, then signs once. It is the scheme's
/// own prediction, held to `sign` by test; a signer still checks what `sign` asked (a
/// request `sign` refuses may be predicted either way).
pub fn nonce_floor(id: &str, req: &Request, now_ms: u64) -> Result<Option<u64>, Error> {
    Ok((scheme(id)?.nonce_floor)(req, now_ms))
}

/// Whether a signed request of exchange `id` may be handed out (`sign`),
/// see [`Scheme::check_sign`]. The signer and the agent refuse `sign`
/// otherwise; [`sign`] itself (the primitive, also behind `forward`) does
/// not ask.
pub fn check_sign(id: &str) -> Result<(), Error> {
    scheme(id)?.check_sign()
}

/// The class of a private endpoint of exchange `id`, by path alone. A path
/// the one path rule refuses ([`check_path`]) is an error, never a class.
pub fn classify(id: &str, path: &str) -> Result<EndpointClass, Error> {
    let scheme = scheme(id)?;
    check_path(path)?;
    Ok(class::compiled(scheme).classify(path))
}
