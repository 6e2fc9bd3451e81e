//! What Sealgate's importer and trader say to each exchange, and how they read the
//! answers: pure, no I/O. For every venue this builds the *unsigned* [`Request`] for
//! balances, one page of trade history, placing, cancelling and querying an order — the
//! signer adds keys, timestamps, nonces and signatures — and parses the responses into
//! normalized balances, [`Trade`] rows and exchange order ids.
//!
//! One module per exchange (mirroring `sealgate-exchanges`' `exchanges/`), each with the
//! same functions; this file holds the shared types and a small dispatch over [`Venue`].
//!
//! Rules every parser keeps:
//! - amounts stay exact decimal strings ([`Amount`]); no float ever holds one;
//! - input is bounded ([`MAX_BODY`], [`MAX_ITEMS`], [`MAX_FIELD`]) and malformed input is a
//!   precise [`VenueError`], never a panic;
//! - reads use read-class endpoints only. Binance `/api/v3/openOrders` is classed `trade`
//!   (its `DELETE` cancels every order), so nothing here reads it.
//!
//! Trade history pagination is the exchange's own, and the cursor is a short string the
//! importer checkpoints after each page (each module's docs say how). Trade ids are stored
//! so they are unique per credential: where an exchange numbers trades per symbol the row
//! is keyed `SYMBOL-id`.

#![forbid(unsafe_code)]

mod amount;
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
pub mod limits;
mod market;
mod mexc;
mod okx;
mod poloniex;
mod read;

use std::collections::BTreeMap;
use std::fmt;

pub use amount::Amount;
pub use binance::binance_symbols;
pub use coinbase_exchange::coinbase_exchange_products;
pub use deribit::{DERIBIT_CURRENCIES, DeribitPosition, deribit_positions_request, parse_deribit_positions};
pub use gemini::gemini_symbols;
pub use market::{split_symbol, ticker_symbol};
pub use sealgate_exchanges::Request;
pub use sealgate_vocab::{Side, rfc3339_ms};

/// Largest response body parsed (bytes).
pub const MAX_BODY: usize = 4 * 1024 * 1024;
/// Most entries (balances or trades) accepted in one response.
pub const MAX_ITEMS: usize = 5_000;
/// Longest string accepted in any one field (ids, amounts, symbols).
pub const MAX_FIELD: usize = 128;
/// Longest exchange error message kept.
pub const MAX_MESSAGE: usize = 200;

/// Why a request could not be built or a response not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VenueError {
    /// The exchange is not one the importer and trader speak.
    #[error("import not supported for {0}")]
    Unsupported(String),
    /// Bad input from our caller (a symbol, quantity, cursor…).
    #[error("invalid {field}: {reason}")]
    BadInput {
        /// Which input.
        field: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// The response body is larger than [`MAX_BODY`] or holds more than [`MAX_ITEMS`] entries.
    #[error("response too large: {0}")]
    TooLarge(&'static str),
    /// The response is not JSON.
    #[error("response is not valid JSON (line {line}, column {column})")]
    NotJson {
        /// Line of the error.
        line: usize,
        /// Column of the error.
        column: usize,
    },
    /// A field is missing or malformed.
    #[error("malformed response: {field} {reason}")]
    Malformed {
        /// JSON path of the field, e.g. `fills[].price`.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The exchange answered with an error.
    #[error("exchange error ({status}): {message}")]
    Exchange {
        /// HTTP status.
        status: u16,
        /// The exchange's own message, bounded to [`MAX_MESSAGE`] bytes.
        message: String,
    },
}

impl VenueError {
    /// Whether trying again later may succeed (rate limits, exchange outages).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Exchange { status, message } => {
                *status == 429
                    || *status >= 500
                    || kraken::transient(message)
                    || okx::transient(message)
                    || bybit::transient(message)
                    || bitget::transient(message)
                    || kucoin::transient(message)
                    || gate::transient(message)
                    || mexc::transient(message)
                    || bitfinex::transient(message)
                    || gemini::transient(message)
                    || bitstamp::transient(message)
                    || coinbase_exchange::transient(message)
                    || deribit::transient(message)
            }
            _ => false,
        }
    }
}

type Result<T> = std::result::Result<T, VenueError>;

fn malformed(field: &'static str, reason: &'static str) -> VenueError {
    VenueError::Malformed { field, reason }
}

fn bad_input(field: &'static str, reason: &'static str) -> VenueError {
    VenueError::BadInput { field, reason }
}

/// An exchange the importer and trader speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Venue {
    /// Binance spot.
    Binance,
    /// Kraken spot.
    Kraken,
    /// OKX v5 (spot, cash mode).
    Okx,
    /// Coinbase Advanced Trade.
    Coinbase,
    /// Bybit v5 (spot, unified account).
    Bybit,
    /// Bitget v2 (spot).
    Bitget,
    /// KuCoin (spot, classic REST).
    Kucoin,
    /// Gate API v4 (spot).
    Gate,
    /// MEXC spot v3.
    Mexc,
    /// Poloniex spot (API v3).
    Poloniex,
    /// Bitfinex API v2 (exchange wallet).
    Bitfinex,
    /// Gemini REST v1 (exchange account).
    Gemini,
    /// Bitstamp HTTP API v2 (spot).
    Bitstamp,
    /// Coinbase Exchange (the former Coinbase Pro; not Advanced Trade).
    CoinbaseExchange,
    /// Deribit API v2 (JSON-RPC over HTTP; derivatives, one account per currency).
    Deribit,
}

/// Runs the function of that name in `venue`'s module.
macro_rules! on_venue {
    ($venue:expr, $f:ident($($arg:expr),*)) => {
        match $venue {
            Venue::Binance => binance::$f($($arg),*),
            Venue::Kraken => kraken::$f($($arg),*),
            Venue::Okx => okx::$f($($arg),*),
            Venue::Coinbase => coinbase::$f($($arg),*),
            Venue::Bybit => bybit::$f($($arg),*),
            Venue::Bitget => bitget::$f($($arg),*),
            Venue::Kucoin => kucoin::$f($($arg),*),
            Venue::Gate => gate::$f($($arg),*),
            Venue::Mexc => mexc::$f($($arg),*),
            Venue::Poloniex => poloniex::$f($($arg),*),
            Venue::Bitfinex => bitfinex::$f($($arg),*),
            Venue::Gemini => gemini::$f($($arg),*),
            Venue::Bitstamp => bitstamp::$f($($arg),*),
            Venue::CoinbaseExchange => coinbase_exchange::$f($($arg),*),
            Venue::Deribit => deribit::$f($($arg),*),
        }
    };
}

impl Venue {
    /// Every venue.
    pub const ALL: [Venue; 15] = [
        Venue::Binance,
        Venue::Kraken,
        Venue::Okx,
        Venue::Coinbase,
        Venue::Bybit,
        Venue::Bitget,
        Venue::Kucoin,
        Venue::Gate,
        Venue::Mexc,
        Venue::Poloniex,
        Venue::Bitfinex,
        Venue::Gemini,
        Venue::Bitstamp,
        Venue::CoinbaseExchange,
        Venue::Deribit,
    ];

    /// The venue of exchange id `id`.
    pub fn from_exchange(id: &str) -> Result<Self> {
        Self::ALL.into_iter().find(|v| v.id() == id).ok_or_else(|| VenueError::Unsupported(bounded(id, 64)))
    }

    /// The exchange id.
    pub fn id(self) -> &'static str {
        match self {
            Self::Binance => "binance",
            Self::Kraken => "kraken",
            Self::Okx => "okx",
            Self::Coinbase => "coinbase",
            Self::Bybit => "bybit",
            Self::Bitget => "bitget",
            Self::Kucoin => "kucoin",
            Self::Gate => "gate",
            Self::Mexc => "mexc",
            Self::Poloniex => "poloniex",
            Self::Bitfinex => "bitfinex",
            Self::Gemini => "gemini",
            Self::Bitstamp => "bitstamp",
            Self::CoinbaseExchange => "coinbase-exchange",
            Self::Deribit => "deribit",
        }
    }
}

impl fmt::Display for Venue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// `s` cut to at most `max` bytes on a char boundary, control characters dropped.
fn bounded(s: &str, max: usize) -> String {
    let mut out = String::new();
    for c in s.chars().filter(|c| !c.is_control()) {
        if out.len() + c.len_utf8() > max {
            break;
        }
        out.push(c);
    }
    out
}

/// An exchange's answer as the signer received it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Response<'a> {
    /// HTTP status.
    pub status: u16,
    /// Body (text; bounded by the signer, and again by [`MAX_BODY`] here).
    pub body: &'a str,
}

// ---------------------------------------------------------------------------
// Inputs we build requests from.

/// Checks an exchange symbol as the user or the exchange spells it:
/// 1–32 characters of `A–Z a–z 0–9 - _ / .`.
pub fn check_symbol(s: &str) -> Result<()> {
    sealgate_vocab::check_order_symbol(s).map_err(bad_field)
}

fn check_id(s: &str, field: &'static str) -> Result<()> {
    if s.is_empty() || s.len() > 64 || !s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_')) {
        return Err(bad_input(field, "must be 1 to 64 letters, digits, '-' or '_'"));
    }
    Ok(())
}

/// A positive decimal quantity or price for an order, as given (the one rule,
/// [`sealgate_vocab::check_positive_amount`]).
pub fn check_positive(s: &str, field: &'static str) -> Result<()> {
    sealgate_vocab::check_positive_amount(s, field).map_err(bad_field)
}

fn bad_field(e: sealgate_vocab::FieldError) -> VenueError {
    bad_input(e.field, e.reason)
}

/// Order types the trader places.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderKind {
    /// Fill now at the market.
    Market,
    /// Rest at a limit price (good till cancelled).
    Limit,
}

/// An order to place, already validated by the trader.
#[derive(Debug, Clone, Copy)]
pub struct PlaceOrder<'a> {
    /// The exchange's symbol spelling.
    pub symbol: &'a str,
    /// Buy or sell.
    pub side: Side,
    /// Market or limit.
    pub kind: OrderKind,
    /// Quantity in base units.
    pub qty: &'a str,
    /// Limit price (limit orders only).
    pub price: Option<&'a str>,
    /// Our client order id ([`client_order_id`]).
    pub client_order_id: &'a str,
}

/// An order whose every field is checked: what a venue module builds a request from.
#[derive(Debug, Clone, Copy)]
struct Checked<'a> {
    symbol: &'a str,
    buy: bool,
    qty: &'a str,
    /// `Some` for a limit order, `None` for a market order.
    price: Option<&'a str>,
    client_order_id: &'a str,
}

/// The client order id to send for `venue`, from 16 random bytes: a UUID
/// (Binance ≤ 36 chars, Kraken `cl_ord_id`, Coinbase, Bybit `orderLinkId`: at most 36
/// letters, digits, `-` or `_`), or 32 hex digits for OKX (`clOrdId`: alphanumerics, at
/// most 32) and Bitget (`clientOid`: its docs give no alphabet or length, so the plainest
/// spelling); Bitfinex's `cid` is an integer (int45): 45 random bits as decimal digits.
/// Deribit's `label` takes any text up to 64 characters: the UUID.
pub fn client_order_id(venue: Venue, random: &[u8; 16]) -> String {
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    match venue {
        Venue::Okx | Venue::Bitget => hex,
        Venue::Gate => format!("t-{}", &hex[..28]),
        // Bitfinex's `cid` is an integer (int45): 45 random bits, never 0.
        Venue::Bitfinex => {
            (u64::from_be_bytes([0, 0, random[0], random[1], random[2], random[3], random[4], random[5]])
                % ((1 << 45) - 1)
                + 1)
            .to_string()
        }
        _ => format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32]),
    }
}

/// `application/x-www-form-urlencoded` pairs; every value here is already
/// restricted to unreserved characters, so no escaping is needed.
fn form(pairs: &[(&str, &str)]) -> String {
    pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

// ---------------------------------------------------------------------------
// Outputs.

/// One asset's balance on one account, normalized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VenueBalance {
    /// Normalized asset code ([`normalize_asset`]).
    pub asset: String,
    /// Free amount (exact decimal).
    pub free: String,
    /// Locked amount (exact decimal).
    pub locked: String,
}

/// One page of balances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalancePage {
    /// The balances (zero ones included: the importer drops them).
    pub balances: Vec<VenueBalance>,
    /// The cursor of the next page, if there is one.
    pub next: Option<String>,
}

/// One executed trade, as the exchange reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trade {
    /// The exchange's trade id, unique per credential (the idempotency key).
    pub exchange_trade_id: String,
    /// The exchange's symbol.
    pub symbol: String,
    /// Side.
    pub side: Side,
    /// Price (exact decimal).
    pub price: String,
    /// Quantity in base units (exact decimal).
    pub qty: String,
    /// Fee paid (exact decimal).
    pub fee: String,
    /// Fee asset (normalized), if reported.
    pub fee_asset: Option<String>,
    /// Execution time, ms since the epoch.
    pub time_ms: i64,
}

/// One page of trades.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradePage {
    /// The trades on this page.
    pub trades: Vec<Trade>,
    /// The cursor of the next page; `None` when this was the last.
    pub next: Option<String>,
}

/// What the exchange said about a placed order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    /// The exchange's order id.
    pub exchange_order_id: String,
    /// Our status: `open`, `filled`, `canceled`, `expired`, `rejected`, or `accepted`
    /// when the exchange does not say.
    pub status: &'static str,
}

// ---------------------------------------------------------------------------
// The dispatch.

/// The asset code normalized across exchanges: upper case, and each exchange's own
/// spellings mapped (Kraken's `XXBT` → `BTC`…; see the venue modules). Bybit and Bitget
/// name coins as everyone does (`BTC`, `USDT`): upper-cased, nothing mapped; so does
/// Bitstamp, which spells them in lower case (`btc`, `usd`).
pub fn normalize_asset(venue: Venue, raw: &str) -> Result<String> {
    if raw.is_empty() || raw.len() > 24 || !raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.') {
        return Err(malformed("asset", "is not an asset code"));
    }
    let up = raw.to_ascii_uppercase();
    Ok(match venue {
        Venue::Kraken => kraken::asset(&up),
        Venue::Bitfinex => bitfinex::asset(&up),
        _ => up,
    })
}

/// The request for the account's balances (`cursor`: the next page, where there are pages).
pub fn balances_request(venue: Venue, cursor: Option<&str>) -> Result<Request> {
    on_venue!(venue, balances_request(cursor))
}

/// The balances in a balances response.
pub fn parse_balances(venue: Venue, resp: Response<'_>) -> Result<BalancePage> {
    let page = on_venue!(venue, parse_balances(resp))?;
    if page.balances.len() > MAX_ITEMS {
        return Err(VenueError::TooLarge("balances"));
    }
    Ok(page)
}

/// The request for the page of trades at `cursor` (`None`: the first page), or `None`
/// when there is nothing to ask (Binance, Gemini or Coinbase Exchange with no symbol left).
/// `symbols` is used by Binance and MEXC ([`binance_symbols`]), Gemini ([`gemini_symbols`])
/// and Coinbase Exchange ([`coinbase_exchange_products`]) only.
pub fn trades_request(venue: Venue, symbols: &[String], cursor: Option<&str>) -> Result<Option<Request>> {
    on_venue!(venue, trades_request(symbols, cursor))
}

/// The trades in the response to the page asked at `cursor`, and the next cursor.
pub fn parse_trades(venue: Venue, symbols: &[String], cursor: Option<&str>, resp: Response<'_>) -> Result<TradePage> {
    on_venue!(venue, parse_trades(symbols, cursor, resp))
}

/// How far back an incremental import re-reads before the newest stored trade: an
/// exchange may stamp a trade slightly before one it published earlier, and re-reading
/// is harmless (rows upsert by trade id) where skipping one is not.
pub const SINCE_OVERLAP_MS: i64 = 5 * 60_000;

/// What an incremental import already has, so it asks only for newer trades.
#[derive(Debug, Clone, Copy)]
pub struct Since<'a> {
    /// Execution time of the newest stored trade, ms since the epoch.
    pub newest_ms: i64,
    /// Binance: the largest stored trade id per symbol (ids are per symbol and increase);
    /// Bitstamp: the same, of its exchange-wide transaction ids (the largest of all is used).
    pub last_ids: &'a BTreeMap<String, u64>,
    /// Now, ms since the epoch (Bybit walks 7-day windows up to it).
    pub now_ms: i64,
}

impl Since<'_> {
    /// The time to ask from: the newest stored trade less [`SINCE_OVERLAP_MS`], not negative.
    fn ask_from_ms(&self) -> i64 {
        self.newest_ms.saturating_sub(SINCE_OVERLAP_MS).max(0)
    }
}

/// Like [`trades_request`], but asking only for trades newer than `since` (less a small
/// overlap), with each exchange's own filter: Binance `fromId` per symbol, Kraken `start`,
/// OKX `begin`, Coinbase `start_sequence_timestamp`, Bybit `startTime`, Bitget `startTime`;
/// Gate `from`, MEXC `startTime` per symbol, Poloniex `startTime`, Bitfinex `start`, Gemini `timestamp` per symbol,
/// Bitstamp `since_id` (the largest stored transaction id); KuCoin and Bybit walk weeks
/// forward to now; Coinbase Exchange (per product) reads its newest-first pages until one
/// reaches back to `since`; Deribit `start_timestamp` per currency.
/// The cursor and the answer are those of [`trades_request`]; read it with
/// [`parse_trades_since`] and the same `since`.
pub fn trades_since_request(
    venue: Venue,
    symbols: &[String],
    since: &Since<'_>,
    cursor: Option<&str>,
) -> Result<Option<Request>> {
    if since.newest_ms < 0 || since.now_ms < 0 {
        return Err(bad_input("since", "is before 1970"));
    }
    match venue {
        Venue::Binance => binance::trades_since_request(symbols, since.last_ids, cursor),
        Venue::Kraken => kraken::trades_since_request(since.ask_from_ms(), cursor),
        Venue::Okx => okx::trades_since_request(since.ask_from_ms(), cursor),
        Venue::Coinbase => coinbase::trades_since_request(since.ask_from_ms(), cursor),
        Venue::Bybit => bybit::trades_since_request(since.ask_from_ms(), since.now_ms, cursor),
        Venue::Bitget => bitget::trades_since_request(since.ask_from_ms(), cursor),
        Venue::Kucoin => kucoin::trades_since_request(since, cursor),
        Venue::Gate => gate::trades_since_request(since.ask_from_ms(), cursor),
        Venue::Mexc => mexc::trades_since_request(symbols, since.ask_from_ms(), cursor),
        Venue::Poloniex => poloniex::trades_since_request(since.ask_from_ms(), cursor),
        Venue::Bitfinex => bitfinex::trades_since_request(since.ask_from_ms(), cursor),
        Venue::Gemini => gemini::trades_since_request(symbols, since.ask_from_ms(), cursor),
        Venue::Bitstamp => bitstamp::trades_since_request(since.last_ids, cursor),
        Venue::CoinbaseExchange => coinbase_exchange::trades_since_request(symbols, cursor),
        Venue::Deribit => deribit::trades_since_request(since.ask_from_ms(), since.now_ms, cursor),
    }
}

/// The trades in the answer to [`trades_since_request`], and the next cursor.
pub fn parse_trades_since(
    venue: Venue,
    symbols: &[String],
    since: &Since<'_>,
    cursor: Option<&str>,
    resp: Response<'_>,
) -> Result<TradePage> {
    match venue {
        Venue::Binance => binance::parse_trades_since(symbols, since.last_ids, cursor, resp),
        Venue::Bybit => bybit::parse_trades_since(since.ask_from_ms(), since.now_ms, cursor, resp),
        Venue::Kucoin => kucoin::parse_trades_since(since, cursor, resp),
        Venue::Mexc => mexc::parse_trades_since(symbols, since.ask_from_ms(), cursor, resp),
        Venue::Bitfinex => bitfinex::parse_trades_since(since.ask_from_ms(), cursor, resp),
        Venue::Gemini => gemini::parse_trades_since(symbols, since.ask_from_ms(), cursor, resp),
        Venue::Bitstamp => bitstamp::parse_trades_since(since.last_ids, cursor, resp),
        Venue::CoinbaseExchange => coinbase_exchange::parse_trades_since(symbols, since.ask_from_ms(), cursor, resp),
        Venue::Deribit => deribit::parse_trades_since(since.ask_from_ms(), since.now_ms, cursor, resp),
        _ => parse_trades(venue, symbols, cursor, resp),
    }
}

/// The request placing `order`.
pub fn place_request(venue: Venue, order: &PlaceOrder<'_>) -> Result<Request> {
    check_symbol(order.symbol)?;
    check_positive(order.qty, "qty")?;
    check_id(order.client_order_id, "client_order_id")?;
    let price = match (order.kind, order.price) {
        (OrderKind::Limit, Some(p)) => {
            check_positive(p, "price")?;
            Some(p)
        }
        (OrderKind::Limit, None) => return Err(bad_input("price", "a limit order needs a price")),
        (OrderKind::Market, Some(_)) => return Err(bad_input("price", "a market order takes no price")),
        (OrderKind::Market, None) => None,
    };
    let order = Checked {
        symbol: order.symbol,
        buy: order.side == Side::Buy,
        qty: order.qty,
        price,
        client_order_id: order.client_order_id,
    };
    on_venue!(venue, place_request(&order))
}

/// The exchange order id and status from a place-order response.
pub fn parse_placed(venue: Venue, resp: Response<'_>) -> Result<Placed> {
    on_venue!(venue, parse_placed(resp))
}

/// The request cancelling the order `exchange_order_id` on `symbol`.
pub fn cancel_request(venue: Venue, symbol: &str, exchange_order_id: &str) -> Result<Request> {
    check_symbol(symbol)?;
    check_id(exchange_order_id, "exchange_order_id")?;
    Ok(on_venue!(venue, cancel_request(symbol, exchange_order_id)))
}

/// Checks a cancel response says the order was cancelled.
pub fn parse_cancelled(venue: Venue, resp: Response<'_>) -> Result<()> {
    on_venue!(venue, parse_cancelled(resp))
}

/// The request asking the exchange for the order our client order id names: how an order
/// whose placement got no answer is reconciled. `None` where the exchange offers no query
/// by client order id that the trader speaks.
pub fn status_request(venue: Venue, symbol: &str, client_order_id: &str) -> Result<Option<Request>> {
    check_symbol(symbol)?;
    check_id(client_order_id, "client_order_id")?;
    Ok(on_venue!(venue, status_request(symbol, client_order_id)))
}

/// The order a status query found (`Some`), or `None` when the exchange says it has no
/// such order: the placement never reached it.
pub fn parse_status(venue: Venue, resp: Response<'_>) -> Result<Option<Placed>> {
    on_venue!(venue, parse_status(resp))
}

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_bitstamp;
#[cfg(test)]
mod tests_cbx;
#[cfg(test)]
mod tests_deribit;
#[cfg(test)]
mod tests_nonce;
#[cfg(test)]
mod tests_spot3;
#[cfg(test)]
mod tests_spot4;
#[cfg(test)]
mod tests_v5;
