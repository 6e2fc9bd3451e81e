//! What importer and trader say to each exchange, and how they read the
//! answers: pure, no I/O. For every supported venue (`binance`, `kraken`,
//! `okx`, `coinbase`) this builds the *unsigned* [`Request`] for balances,
//! one page of trade history, placing and cancelling an order — the signer
//! adds keys, timestamps, nonces and signatures — and parses the responses
//! into normalized balances, [`Trade`] rows and exchange order ids.
//!
//! Rules every parser keeps:
//! - amounts stay exact decimal strings ([`Amount`]); no float ever holds one;
//! - input is bounded ([`MAX_BODY`], [`MAX_ITEMS`], [`MAX_FIELD`]) and
//!   malformed input is a precise [`VenueError`], never a panic;
//! - reads use read-class endpoints only. Binance `/api/v3/openOrders` is
//!   classed `trade` (its `DELETE` cancels every order), so nothing here
//!   reads it.
//!
//! Trade history pagination is the exchange's own, and the cursor is a
//! short string the importer checkpoints after each page:
//! - Binance `GET /api/v3/myTrades` needs a symbol: the importer passes the
//!   candidate symbols (pairs of the account's assets, see
//!   [`binance_symbols`]); the cursor is `SYMBOL:fromId`.
//! - Kraken `POST /0/private/TradesHistory` with `ofs` (newest first, 50 a
//!   page; a trade arriving mid-import shifts older ones to higher offsets,
//!   so it can only repeat a row — harmless, rows upsert — never skip one).
//! - OKX `GET /api/v5/trade/fills-history` with `after` = the last `billId`.
//! - Coinbase `GET /api/v3/brokerage/orders/historical/fills` with `cursor`.
//!
//! Trade ids are stored so they are unique per credential: Binance and OKX
//! number trades per symbol, so their rows are keyed `SYMBOL-id`; Kraken's
//! trade txid and Coinbase's `entry_id` are unique already.

use std::fmt;

use sealgate_exchanges::Request;
use sealgate_store::{Side, Trade};
use serde_json::{Map, Value, json};

use crate::client::ExchangeResponse;

/// Largest response body parsed (bytes).
pub const MAX_BODY: usize = 4 * 1024 * 1024;
/// Most entries (balances or trades) accepted in one response.
pub const MAX_ITEMS: usize = 5_000;
/// Longest string accepted in any one field (ids, amounts, symbols).
pub const MAX_FIELD: usize = 128;
/// Longest exchange error message kept.
pub const MAX_MESSAGE: usize = 200;

/// Page sizes asked for (each the exchange's documented maximum or default).
const BINANCE_LIMIT: usize = 1000;
const OKX_LIMIT: usize = 100;
const COINBASE_LIMIT: usize = 100;
const COINBASE_ACCOUNTS_LIMIT: usize = 250;

/// Quote assets tried when guessing Binance symbols from balances.
const BINANCE_QUOTES: &[&str] =
    &["USDT", "USDC", "FDUSD", "BUSD", "TUSD", "BTC", "ETH", "BNB", "EUR", "TRY", "BRL", "JPY", "GBP", "DAI"];

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
                    || message.starts_with("EService:")
                    || message.starts_with("EAPI:Rate limit")
                    || message.starts_with("EAPI:Invalid nonce")
                    || message.starts_with("EGeneral:Temporary lockout")
                    || message.starts_with("50001")
                    || message.starts_with("50011")
                    || message.starts_with("50013")
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
}

impl Venue {
    /// The venue of exchange id `id`.
    pub fn from_exchange(id: &str) -> Result<Self> {
        match id {
            "binance" => Ok(Self::Binance),
            "kraken" => Ok(Self::Kraken),
            "okx" => Ok(Self::Okx),
            "coinbase" => Ok(Self::Coinbase),
            _ => Err(VenueError::Unsupported(bounded(id, 64))),
        }
    }

    /// The exchange id.
    pub fn id(self) -> &'static str {
        match self {
            Self::Binance => "binance",
            Self::Kraken => "kraken",
            Self::Okx => "okx",
            Self::Coinbase => "coinbase",
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

// ---------------------------------------------------------------------------
// Exact decimals.

/// An exact signed decimal: `mantissa × 10^-scale`. Parsed from and printed
/// to the exchange's decimal strings; never a float.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Amount {
    mantissa: i128,
    scale: u32,
}

/// Most significant digits an [`Amount`] holds (i128 holds 38).
const MAX_DIGITS: usize = 36;

impl Amount {
    /// Zero.
    pub const ZERO: Self = Self { mantissa: 0, scale: 0 };

    /// Parse `123`, `-0.5`, `.25`, `1.`; refuses exponents, `+`, spaces,
    /// and more than 36 digits.
    pub fn parse(s: &str) -> Option<Self> {
        if s.is_empty() || s.len() > MAX_DIGITS + 2 {
            return None;
        }
        let (neg, digits) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
        if (int.is_empty() && frac.is_empty()) || int.len() + frac.len() > MAX_DIGITS {
            return None;
        }
        if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
            return None;
        }
        let mut mantissa: i128 = 0;
        for b in int.bytes().chain(frac.bytes()) {
            mantissa = mantissa.checked_mul(10)?.checked_add(i128::from(b - b'0'))?;
        }
        let scale = u32::try_from(frac.len()).ok()?;
        Some(Self { mantissa: if neg { -mantissa } else { mantissa }, scale })
    }

    fn rescale(self, scale: u32) -> Option<i128> {
        self.mantissa.checked_mul(10i128.checked_pow(scale.checked_sub(self.scale)?)?)
    }

    /// `self + other`, exact; `None` on overflow.
    pub fn checked_add(self, other: Self) -> Option<Self> {
        let scale = self.scale.max(other.scale);
        let mantissa = self.rescale(scale)?.checked_add(other.rescale(scale)?)?;
        Some(Self { mantissa, scale })
    }

    /// `self - other`, exact; `None` on overflow.
    pub fn checked_sub(self, other: Self) -> Option<Self> {
        self.checked_add(Self { mantissa: other.mantissa.checked_neg()?, scale: other.scale })
    }

    /// The same amount with `-` flipped.
    pub fn checked_neg(self) -> Option<Self> {
        Some(Self { mantissa: self.mantissa.checked_neg()?, scale: self.scale })
    }

    /// Whether it is zero.
    pub fn is_zero(self) -> bool {
        self.mantissa == 0
    }

    /// Whether it is below zero.
    pub fn is_negative(self) -> bool {
        self.mantissa < 0
    }

    /// The shortest spelling: trailing fractional zeros dropped (`1.50` → `1.5`, `2.0` → `2`).
    pub fn normalized(self) -> Self {
        let mut a = self;
        while a.scale > 0 && a.mantissa % 10 == 0 {
            a.mantissa /= 10;
            a.scale -= 1;
        }
        a
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.mantissa < 0 { "-" } else { "" };
        let digits = self.mantissa.unsigned_abs().to_string();
        let scale = self.scale as usize;
        if scale == 0 {
            return write!(f, "{sign}{digits}");
        }
        let padded = format!("{digits:0>width$}", width = scale + 1);
        let (int, frac) = padded.split_at(padded.len() - scale);
        write!(f, "{sign}{int}.{frac}")
    }
}

/// A decimal field as the exchange printed it, checked: non-negative unless
/// `signed`. Returns the exact text (canonical: a leading `.` gets a `0`).
fn decimal_text(v: &str, field: &'static str, signed: bool) -> Result<String> {
    if v.len() > MAX_FIELD {
        return Err(malformed(field, "is too long"));
    }
    let a = Amount::parse(v).ok_or(malformed(field, "is not a plain decimal number"))?;
    if a.is_negative() && !signed {
        return Err(malformed(field, "is negative"));
    }
    Ok(if v.starts_with('.') || v.starts_with("-.") { a.to_string() } else { v.to_owned() })
}

// ---------------------------------------------------------------------------
// JSON helpers.

fn parse_json(body: &str) -> Result<Value> {
    if body.len() > MAX_BODY {
        return Err(VenueError::TooLarge("body"));
    }
    serde_json::from_str(body).map_err(|e| VenueError::NotJson { line: e.line(), column: e.column() })
}

fn obj<'a>(v: &'a Value, field: &'static str) -> Result<&'a Map<String, Value>> {
    v.as_object().ok_or(malformed(field, "is not an object"))
}

fn arr<'a>(v: &'a Value, field: &'static str) -> Result<&'a Vec<Value>> {
    let a = v.as_array().ok_or(malformed(field, "is not an array"))?;
    if a.len() > MAX_ITEMS {
        return Err(VenueError::TooLarge(field));
    }
    Ok(a)
}

fn get<'a>(o: &'a Map<String, Value>, key: &str, field: &'static str) -> Result<&'a Value> {
    o.get(key).ok_or(malformed(field, "is missing"))
}

fn string<'a>(o: &'a Map<String, Value>, key: &str, field: &'static str) -> Result<&'a str> {
    let s = get(o, key, field)?.as_str().ok_or(malformed(field, "is not a string"))?;
    if s.len() > MAX_FIELD {
        return Err(malformed(field, "is too long"));
    }
    Ok(s)
}

fn dec(o: &Map<String, Value>, key: &str, field: &'static str) -> Result<String> {
    decimal_text(string(o, key, field)?, field, false)
}

/// An id: a non-empty string of printable ASCII without spaces, or a non-negative integer.
fn id(o: &Map<String, Value>, key: &str, field: &'static str) -> Result<String> {
    let s = match get(o, key, field)? {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.as_u64().ok_or(malformed(field, "is not a non-negative integer"))?.to_string(),
        _ => return Err(malformed(field, "is not a string or integer")),
    };
    if s.is_empty() || s.len() > MAX_FIELD || !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(malformed(field, "is not a printable id"));
    }
    Ok(s)
}

fn symbol_of(o: &Map<String, Value>, key: &str, field: &'static str) -> Result<String> {
    let s = string(o, key, field)?;
    check_symbol(s).map_err(|_| malformed(field, "is not a symbol"))?;
    Ok(s.to_owned())
}

/// Milliseconds from an integer or a decimal-string of milliseconds.
fn ms(o: &Map<String, Value>, key: &str, field: &'static str) -> Result<i64> {
    match get(o, key, field)? {
        Value::Number(n) => n.as_i64().filter(|t| *t >= 0).ok_or(malformed(field, "is not a millisecond time")),
        Value::String(s) if s.len() <= 20 && !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().map_err(|_| malformed(field, "is not a millisecond time"))
        }
        _ => Err(malformed(field, "is not a millisecond time")),
    }
}

/// Milliseconds from seconds with a fraction (Kraken's `1688667796.8802`),
/// read from the number's decimal text so no float rounding creeps in.
fn seconds_to_ms(v: &Value, field: &'static str) -> Result<i64> {
    let text = match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) if s.len() <= 40 => s.clone(),
        _ => return Err(malformed(field, "is not a time in seconds")),
    };
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    if int.is_empty()
        || int.len() > 12
        || frac.len() > 12
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return Err(malformed(field, "is not a time in seconds"));
    }
    let secs: i64 = int.parse().map_err(|_| malformed(field, "is not a time in seconds"))?;
    let millis: i64 = format!("{:0<3}", &frac[..frac.len().min(3)]).parse().unwrap_or(0);
    Ok(secs * 1000 + millis)
}

/// Unix ms of an RFC 3339 time: the one reader, [`sealgate_vocab::rfc3339_ms`].
pub use sealgate_vocab::rfc3339_ms;

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

/// The client order id to send for `venue`, from 16 random bytes: a UUID
/// (Binance ≤ 36 chars, Kraken `cl_ord_id`, Coinbase), or 32 hex digits for
/// OKX (`clOrdId`: alphanumerics, at most 32).
pub fn client_order_id(venue: Venue, random: &[u8; 16]) -> String {
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    match venue {
        Venue::Okx => hex,
        _ => format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32]),
    }
}

/// `application/x-www-form-urlencoded` pairs; every value here is already
/// restricted to unreserved characters, so no escaping is needed.
fn form(pairs: &[(&str, &str)]) -> String {
    pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

// ---------------------------------------------------------------------------
// Balances.

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
    /// The cursor of the next page, if there is one (Coinbase only).
    pub next: Option<String>,
}

/// The asset code normalized across exchanges: upper case, and Kraken's
/// legacy X/Z-prefixed and `XBT`/`XDG` codes mapped (`XXBT`, `XBT` → `BTC`,
/// `ZUSD` → `USD`, `XETH` → `ETH`, `XXDG` → `DOGE`…). A Kraken suffix such
/// as `.S` (staked) or `.F` is kept: those funds are not the spot asset.
pub fn normalize_asset(venue: Venue, raw: &str) -> Result<String> {
    if raw.is_empty() || raw.len() > 24 || !raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.') {
        return Err(malformed("asset", "is not an asset code"));
    }
    let up = raw.to_ascii_uppercase();
    if venue != Venue::Kraken {
        return Ok(up);
    }
    let (base, suffix) = match up.split_once('.') {
        Some((b, s)) => (b, Some(s)),
        None => (up.as_str(), None),
    };
    const LEGACY: &[&str] = &[
        "XXBT", "XETH", "XETC", "XLTC", "XXRP", "XXLM", "XXMR", "XZEC", "XREP", "XMLN", "XXDG", "XNMC", "XXTZ", "ZUSD",
        "ZEUR", "ZGBP", "ZCAD", "ZJPY", "ZCHF", "ZAUD",
    ];
    let base = if LEGACY.contains(&base) { &base[1..] } else { base };
    let base = match base {
        "XBT" => "BTC",
        "XDG" => "DOGE",
        b => b,
    };
    Ok(match suffix {
        Some(s) => format!("{base}.{s}"),
        None => base.to_owned(),
    })
}

/// The request for the account's balances (`cursor`: Coinbase's next page).
pub fn balances_request(venue: Venue, cursor: Option<&str>) -> Result<Request> {
    Ok(match venue {
        Venue::Binance => Request::new("GET", "/api/v3/account", "omitZeroBalances=false", ""),
        // BalanceEx: totals *and* the part held by open orders.
        Venue::Kraken => Request::new("POST", "/0/private/BalanceEx", "", ""),
        Venue::Okx => Request::new("GET", "/api/v5/account/balance", "", ""),
        Venue::Coinbase => {
            let mut q = format!("limit={COINBASE_ACCOUNTS_LIMIT}");
            if let Some(c) = cursor {
                check_id(c, "cursor")?;
                q.push_str(&format!("&cursor={c}"));
            }
            Request::new("GET", "/api/v3/brokerage/accounts", &q, "")
        }
    })
}

/// The balances in a balances response.
pub fn parse_balances(venue: Venue, resp: &ExchangeResponse) -> Result<BalancePage> {
    let v = checked_body(venue, resp)?;
    let mut out = Vec::new();
    let mut next = None;
    match venue {
        Venue::Binance => {
            for b in arr(get(obj(&v, "$")?, "balances", "balances")?, "balances")? {
                let b = obj(b, "balances[]")?;
                out.push(VenueBalance {
                    asset: normalize_asset(venue, string(b, "asset", "balances[].asset")?)?,
                    free: dec(b, "free", "balances[].free")?,
                    locked: dec(b, "locked", "balances[].locked")?,
                });
            }
        }
        Venue::Kraken => {
            let result = obj(get(obj(&v, "$")?, "result", "result")?, "result")?;
            if result.len() > MAX_ITEMS {
                return Err(VenueError::TooLarge("result"));
            }
            for (asset, b) in result {
                let b = obj(b, "result.*")?;
                let total = Amount::parse(&dec(b, "balance", "result.*.balance")?)
                    .ok_or(malformed("result.*.balance", "is not a decimal"))?;
                let hold = match b.get("hold_trade") {
                    Some(_) => Amount::parse(&dec(b, "hold_trade", "result.*.hold_trade")?)
                        .ok_or(malformed("result.*.hold_trade", "is not a decimal"))?,
                    None => Amount::ZERO,
                };
                let free = total
                    .checked_sub(hold)
                    .filter(|f| !f.is_negative())
                    .ok_or(malformed("result.*.hold_trade", "is larger than the balance"))?;
                out.push(VenueBalance {
                    asset: normalize_asset(venue, asset)?,
                    free: free.to_string(),
                    locked: hold.to_string(),
                });
            }
        }
        Venue::Okx => {
            for acct in arr(get(obj(&v, "$")?, "data", "data")?, "data")? {
                for d in arr(get(obj(acct, "data[]")?, "details", "data[].details")?, "data[].details")? {
                    let d = obj(d, "data[].details[]")?;
                    out.push(VenueBalance {
                        asset: normalize_asset(venue, string(d, "ccy", "data[].details[].ccy")?)?,
                        free: dec(d, "availBal", "data[].details[].availBal")?,
                        locked: dec(d, "frozenBal", "data[].details[].frozenBal")?,
                    });
                }
            }
        }
        Venue::Coinbase => {
            let top = obj(&v, "$")?;
            for a in arr(get(top, "accounts", "accounts")?, "accounts")? {
                let a = obj(a, "accounts[]")?;
                let avail = obj(get(a, "available_balance", "accounts[].available_balance")?, "available_balance")?;
                let hold = match a.get("hold") {
                    Some(h) => dec(obj(h, "accounts[].hold")?, "value", "accounts[].hold.value")?,
                    None => "0".to_owned(),
                };
                out.push(VenueBalance {
                    asset: normalize_asset(venue, string(a, "currency", "accounts[].currency")?)?,
                    free: dec(avail, "value", "accounts[].available_balance.value")?,
                    locked: hold,
                });
            }
            if top.get("has_next").and_then(Value::as_bool) == Some(true) {
                let c = string(top, "cursor", "cursor")?;
                check_id(c, "cursor").map_err(|_| malformed("cursor", "is not a cursor"))?;
                next = Some(c.to_owned());
            }
        }
    }
    if out.len() > MAX_ITEMS {
        return Err(VenueError::TooLarge("balances"));
    }
    Ok(BalancePage { balances: out, next })
}

// ---------------------------------------------------------------------------
// Trade history.

/// Binance symbols worth asking `myTrades` about: every `BASEQUOTE` where
/// both assets appear in the account (Binance lists zero balances too) and
/// QUOTE is a usual quote asset. Sorted, so a cursor naming a symbol stays
/// meaningful when the balances change between attempts. Real Binance
/// refuses a pair that does not exist with -1121, which
/// [`parse_trades`] reads as an empty page.
pub fn binance_symbols(assets: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for base in assets {
        for quote in BINANCE_QUOTES {
            if base != quote && assets.iter().any(|a| a == quote) {
                out.push(format!("{base}{quote}"));
            }
        }
    }
    out.retain(|s| check_symbol(s).is_ok());
    out.sort();
    out.dedup();
    out
}

/// Where the next Binance page starts.
fn binance_position<'a>(symbols: &'a [String], cursor: Option<&str>) -> Result<Option<(&'a str, u64)>> {
    let (sym, from) = match cursor {
        None => return Ok(symbols.first().map(|s| (s.as_str(), 0))),
        Some(c) => {
            let (s, f) = c.split_once(':').ok_or(bad_input("cursor", "is not SYMBOL:fromId"))?;
            (s, f.parse::<u64>().map_err(|_| bad_input("cursor", "is not SYMBOL:fromId"))?)
        }
    };
    // The first symbol at or after the cursor's (it may have left the list).
    Ok(symbols.iter().find(|s| s.as_str() >= sym).map(|s| (s.as_str(), if s == sym { from } else { 0 })))
}

/// The request for the page of trades at `cursor` (`None`: the first page),
/// or `None` when there is nothing to ask (Binance with no symbol left).
/// `symbols` is used by Binance only ([`binance_symbols`]).
pub fn trades_request(venue: Venue, symbols: &[String], cursor: Option<&str>) -> Result<Option<Request>> {
    Ok(Some(match venue {
        Venue::Binance => {
            let Some((symbol, from)) = binance_position(symbols, cursor)? else { return Ok(None) };
            check_symbol(symbol)?;
            let q = format!("symbol={symbol}&fromId={from}&limit={BINANCE_LIMIT}");
            Request::new("GET", "/api/v3/myTrades", &q, "")
        }
        Venue::Kraken => {
            let ofs: u64 = match cursor {
                None => 0,
                Some(c) => c.parse().map_err(|_| bad_input("cursor", "is not an offset"))?,
            };
            Request::new("POST", "/0/private/TradesHistory", "", &format!("trades=false&ofs={ofs}"))
        }
        Venue::Okx => {
            let mut q = format!("instType=SPOT&limit={OKX_LIMIT}");
            if let Some(c) = cursor {
                check_id(c, "cursor")?;
                q.push_str(&format!("&after={c}"));
            }
            Request::new("GET", "/api/v5/trade/fills-history", &q, "")
        }
        Venue::Coinbase => {
            let mut q = format!("limit={COINBASE_LIMIT}");
            if let Some(c) = cursor {
                check_id(c, "cursor")?;
                q.push_str(&format!("&cursor={c}"));
            }
            Request::new("GET", "/api/v3/brokerage/orders/historical/fills", &q, "")
        }
    }))
}

/// One page of trades.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradePage {
    /// The trades on this page.
    pub trades: Vec<Trade>,
    /// The cursor of the next page; `None` when this was the last.
    pub next: Option<String>,
}

fn side_of(s: &str, field: &'static str) -> Result<Side> {
    match s {
        "buy" | "BUY" => Ok(Side::Buy),
        "sell" | "SELL" => Ok(Side::Sell),
        _ => Err(malformed(field, "is not buy or sell")),
    }
}

fn fee_asset(o: &Map<String, Value>, key: &str, field: &'static str) -> Result<Option<String>> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => {
            normalize_asset(Venue::Binance, s).map(Some).map_err(|_| malformed(field, "is not an asset code"))
        }
        Some(_) => Err(malformed(field, "is not a string")),
    }
}

/// The trades in the response to the page asked at `cursor`, and the next cursor.
pub fn parse_trades(
    venue: Venue,
    symbols: &[String],
    cursor: Option<&str>,
    resp: &ExchangeResponse,
) -> Result<TradePage> {
    // Binance: a pair that does not exist is -1121 "Invalid symbol": no trades there.
    let binance_invalid_symbol = venue == Venue::Binance
        && resp.status == 400
        && parse_json(&resp.body).ok().and_then(|v| v.get("code").and_then(Value::as_i64)) == Some(-1121);
    let v = if binance_invalid_symbol { json!([]) } else { checked_body(venue, resp)? };
    let mut trades = Vec::new();
    let next = match venue {
        Venue::Binance => {
            let Some((symbol, _)) = binance_position(symbols, cursor)? else {
                return Ok(TradePage { trades, next: None });
            };
            let page = arr(&v, "$")?;
            let mut last_id = None;
            for t in page {
                let t = obj(t, "[]")?;
                let raw_id = get(t, "id", "[].id")?.as_u64().ok_or(malformed("[].id", "is not a trade id"))?;
                let sym = symbol_of(t, "symbol", "[].symbol")?;
                if sym != symbol {
                    return Err(malformed("[].symbol", "is not the symbol asked for"));
                }
                let buyer = get(t, "isBuyer", "[].isBuyer")?.as_bool().ok_or(malformed("[].isBuyer", "not a bool"))?;
                trades.push(Trade {
                    exchange_trade_id: format!("{sym}-{raw_id}"),
                    symbol: sym,
                    side: if buyer { Side::Buy } else { Side::Sell },
                    price: dec(t, "price", "[].price")?,
                    qty: dec(t, "qty", "[].qty")?,
                    fee: dec(t, "commission", "[].commission")?,
                    fee_asset: fee_asset(t, "commissionAsset", "[].commissionAsset")?,
                    time_ms: ms(t, "time", "[].time")?,
                });
                last_id = Some(last_id.map_or(raw_id, |l: u64| l.max(raw_id)));
            }
            match last_id {
                Some(last) if page.len() >= BINANCE_LIMIT => Some(format!("{symbol}:{}", last.saturating_add(1))),
                _ => symbols.iter().find(|s| s.as_str() > symbol).map(|s| format!("{s}:0")),
            }
        }
        Venue::Kraken => {
            let ofs: usize = cursor.map_or(Ok(0), |c| c.parse()).map_err(|_| bad_input("cursor", "not an offset"))?;
            let result = obj(get(obj(&v, "$")?, "result", "result")?, "result")?;
            let count = get(result, "count", "result.count")?
                .as_u64()
                .and_then(|c| usize::try_from(c).ok())
                .ok_or(malformed("result.count", "is not a count"))?;
            let map = obj(get(result, "trades", "result.trades")?, "result.trades")?;
            if map.len() > MAX_ITEMS {
                return Err(VenueError::TooLarge("result.trades"));
            }
            for (txid, t) in map {
                let t = obj(t, "result.trades.*")?;
                if txid.is_empty() || txid.len() > MAX_FIELD || !txid.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err(malformed("result.trades.<txid>", "is not a trade id"));
                }
                trades.push(Trade {
                    exchange_trade_id: txid.clone(),
                    symbol: symbol_of(t, "pair", "result.trades.*.pair")?,
                    side: side_of(string(t, "type", "result.trades.*.type")?, "result.trades.*.type")?,
                    price: dec(t, "price", "result.trades.*.price")?,
                    qty: dec(t, "vol", "result.trades.*.vol")?,
                    fee: dec(t, "fee", "result.trades.*.fee")?,
                    fee_asset: None,
                    time_ms: seconds_to_ms(get(t, "time", "result.trades.*.time")?, "result.trades.*.time")?,
                });
            }
            let seen = ofs.saturating_add(map.len());
            (!map.is_empty() && seen < count).then(|| seen.to_string())
        }
        Venue::Okx => {
            let data = arr(get(obj(&v, "$")?, "data", "data")?, "data")?;
            let mut last_bill = None;
            for f in data {
                let f = obj(f, "data[]")?;
                let inst = symbol_of(f, "instId", "data[].instId")?;
                let trade_id = id(f, "tradeId", "data[].tradeId")?;
                // OKX prints the fee as a signed change of balance: -0.1 is a fee paid.
                let fee = match f.get("fee") {
                    None => "0".to_owned(),
                    Some(_) => {
                        let raw = decimal_text(string(f, "fee", "data[].fee")?, "data[].fee", true)?;
                        let a = Amount::parse(&raw)
                            .and_then(Amount::checked_neg)
                            .ok_or(malformed("data[].fee", "is out of range"))?;
                        if a.is_zero() { raw.trim_start_matches('-').to_owned() } else { a.to_string() }
                    }
                };
                trades.push(Trade {
                    exchange_trade_id: format!("{inst}-{trade_id}"),
                    symbol: inst,
                    side: side_of(string(f, "side", "data[].side")?, "data[].side")?,
                    price: dec(f, "fillPx", "data[].fillPx")?,
                    qty: dec(f, "fillSz", "data[].fillSz")?,
                    fee,
                    fee_asset: fee_asset(f, "feeCcy", "data[].feeCcy")?,
                    time_ms: ms(f, "ts", "data[].ts")?,
                });
                last_bill = Some(id(f, "billId", "data[].billId")?);
            }
            if data.len() >= OKX_LIMIT { last_bill } else { None }
        }
        Venue::Coinbase => {
            let top = obj(&v, "$")?;
            let fills = arr(get(top, "fills", "fills")?, "fills")?;
            for f in fills {
                let f = obj(f, "fills[]")?;
                let time = string(f, "trade_time", "fills[].trade_time")?;
                let fee = match f.get("commission") {
                    None => "0".to_owned(),
                    Some(_) => dec(f, "commission", "fills[].commission")?,
                };
                trades.push(Trade {
                    exchange_trade_id: id(f, "entry_id", "fills[].entry_id")?,
                    symbol: symbol_of(f, "product_id", "fills[].product_id")?,
                    side: side_of(string(f, "side", "fills[].side")?, "fills[].side")?,
                    price: dec(f, "price", "fills[].price")?,
                    qty: dec(f, "size", "fills[].size")?,
                    fee,
                    fee_asset: None,
                    time_ms: rfc3339_ms(time).ok_or(malformed("fills[].trade_time", "is not an RFC 3339 time"))?,
                });
            }
            match top.get("cursor") {
                Some(Value::String(c)) if !c.is_empty() && !fills.is_empty() => {
                    check_id(c, "cursor").map_err(|_| malformed("cursor", "is not a cursor"))?;
                    Some(c.clone())
                }
                Some(Value::String(_) | Value::Null) | None => None,
                Some(_) => return Err(malformed("cursor", "is not a string")),
            }
        }
    };
    Ok(TradePage { trades, next })
}

// ---------------------------------------------------------------------------
// Orders.

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
    let buy = order.side == Side::Buy;
    Ok(match venue {
        Venue::Binance => {
            let side = if buy { "BUY" } else { "SELL" };
            let mut p = vec![("symbol", order.symbol), ("side", side)];
            match price {
                Some(px) => {
                    p.extend([("type", "LIMIT"), ("timeInForce", "GTC"), ("quantity", order.qty), ("price", px)])
                }
                None => p.extend([("type", "MARKET"), ("quantity", order.qty)]),
            }
            p.extend([("newClientOrderId", order.client_order_id), ("newOrderRespType", "RESULT")]);
            Request::new("POST", "/api/v3/order", &form(&p), "")
        }
        Venue::Kraken => {
            let side = if buy { "buy" } else { "sell" };
            let mut p = vec![("ordertype", if price.is_some() { "limit" } else { "market" }), ("type", side)];
            p.extend([("volume", order.qty), ("pair", order.symbol)]);
            if let Some(px) = price {
                p.push(("price", px));
            }
            p.push(("cl_ord_id", order.client_order_id));
            Request::new("POST", "/0/private/AddOrder", "", &form(&p))
        }
        Venue::Okx => {
            let mut b = json!({
                "instId": order.symbol, "tdMode": "cash", "side": if buy { "buy" } else { "sell" },
                "ordType": if price.is_some() { "limit" } else { "market" }, "sz": order.qty,
                "clOrdId": order.client_order_id,
            });
            match price {
                Some(px) => b["px"] = px.into(),
                // Spot market buys are sized in the quote currency unless told otherwise.
                None => b["tgtCcy"] = "base_ccy".into(),
            }
            Request::new("POST", "/api/v5/trade/order", "", &b.to_string())
        }
        Venue::Coinbase => {
            let conf = match price {
                Some(px) => json!({"limit_limit_gtc": {"base_size": order.qty, "limit_price": px, "post_only": false}}),
                None => json!({"market_market_ioc": {"base_size": order.qty}}),
            };
            let b = json!({
                "client_order_id": order.client_order_id, "product_id": order.symbol,
                "side": if buy { "BUY" } else { "SELL" }, "order_configuration": conf,
            });
            Request::new("POST", "/api/v3/brokerage/orders", "", &b.to_string())
        }
    })
}

/// What the exchange said about a placed order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    /// The exchange's order id.
    pub exchange_order_id: String,
    /// Our status: `open`, `filled`, `canceled`, `expired`, or `accepted`
    /// when the exchange does not say.
    pub status: &'static str,
}

/// The exchange order id and status from a place-order response.
pub fn parse_placed(venue: Venue, resp: &ExchangeResponse) -> Result<Placed> {
    let v = checked_body(venue, resp)?;
    match venue {
        Venue::Binance => {
            let o = obj(&v, "$")?;
            let status = match string(o, "status", "status")? {
                "NEW" | "PARTIALLY_FILLED" | "PENDING_NEW" => "open",
                "FILLED" => "filled",
                "CANCELED" | "PENDING_CANCEL" => "canceled",
                "EXPIRED" | "EXPIRED_IN_MATCH" => "expired",
                "REJECTED" => "rejected",
                _ => "accepted",
            };
            Ok(Placed { exchange_order_id: id(o, "orderId", "orderId")?, status })
        }
        Venue::Kraken => {
            let r = obj(get(obj(&v, "$")?, "result", "result")?, "result")?;
            let txids = arr(get(r, "txid", "result.txid")?, "result.txid")?;
            let first = txids.first().and_then(Value::as_str).ok_or(malformed("result.txid", "holds no order id"))?;
            let mut m = Map::new();
            m.insert("txid".into(), first.into());
            Ok(Placed { exchange_order_id: id(&m, "txid", "result.txid[0]")?, status: "accepted" })
        }
        Venue::Okx => {
            let d = okx_first(&v, resp.status)?;
            Ok(Placed { exchange_order_id: id(d, "ordId", "data[0].ordId")?, status: "accepted" })
        }
        Venue::Coinbase => {
            let o = obj(&v, "$")?;
            if o.get("success").and_then(Value::as_bool) != Some(true) {
                return Err(VenueError::Exchange { status: resp.status, message: coinbase_failure(o) });
            }
            let s = obj(get(o, "success_response", "success_response")?, "success_response")?;
            Ok(Placed { exchange_order_id: id(s, "order_id", "success_response.order_id")?, status: "accepted" })
        }
    }
}

/// The request cancelling the order `exchange_order_id` on `symbol`.
pub fn cancel_request(venue: Venue, symbol: &str, exchange_order_id: &str) -> Result<Request> {
    check_symbol(symbol)?;
    check_id(exchange_order_id, "exchange_order_id")?;
    Ok(match venue {
        Venue::Binance => {
            let q = form(&[("symbol", symbol), ("orderId", exchange_order_id)]);
            Request::new("DELETE", "/api/v3/order", &q, "")
        }
        Venue::Kraken => Request::new("POST", "/0/private/CancelOrder", "", &form(&[("txid", exchange_order_id)])),
        Venue::Okx => {
            let b = json!({"instId": symbol, "ordId": exchange_order_id});
            Request::new("POST", "/api/v5/trade/cancel-order", "", &b.to_string())
        }
        Venue::Coinbase => {
            let b = json!({"order_ids": [exchange_order_id]});
            Request::new("POST", "/api/v3/brokerage/orders/batch_cancel", "", &b.to_string())
        }
    })
}

/// Checks a cancel response says the order was cancelled.
pub fn parse_cancelled(venue: Venue, resp: &ExchangeResponse) -> Result<()> {
    let v = checked_body(venue, resp)?;
    match venue {
        Venue::Binance => match string(obj(&v, "$")?, "status", "status")? {
            "CANCELED" => Ok(()),
            _ => Err(malformed("status", "is not CANCELED")),
        },
        Venue::Kraken => {
            let r = obj(get(obj(&v, "$")?, "result", "result")?, "result")?;
            match get(r, "count", "result.count")?.as_u64() {
                Some(n) if n >= 1 => Ok(()),
                _ => Err(VenueError::Exchange { status: resp.status, message: "no order was cancelled".into() }),
            }
        }
        Venue::Okx => okx_first(&v, resp.status).map(|_| ()),
        Venue::Coinbase => {
            let results = arr(get(obj(&v, "$")?, "results", "results")?, "results")?;
            let first = obj(results.first().ok_or(malformed("results", "is empty"))?, "results[0]")?;
            if first.get("success").and_then(Value::as_bool) == Some(true) {
                Ok(())
            } else {
                let reason = first.get("failure_reason").and_then(Value::as_str).unwrap_or("cancel failed");
                Err(VenueError::Exchange { status: resp.status, message: bounded(reason, MAX_MESSAGE) })
            }
        }
    }
}

/// The request asking the exchange for the order our client order id names (Binance
/// "Query order" by `origClientOrderId`, OKX "Get order details" by `clOrdId`): how an
/// order whose placement got no answer is reconciled. `None` where the exchange offers no
/// query by client order id that the trader speaks (Kraken, Coinbase here).
pub fn status_request(venue: Venue, symbol: &str, client_order_id: &str) -> Result<Option<Request>> {
    check_symbol(symbol)?;
    check_id(client_order_id, "client_order_id")?;
    Ok(match venue {
        Venue::Binance => Some(Request::new(
            "GET",
            "/api/v3/order",
            &form(&[("symbol", symbol), ("origClientOrderId", client_order_id)]),
            "",
        )),
        Venue::Okx => Some(Request::new(
            "GET",
            "/api/v5/trade/order",
            &form(&[("instId", symbol), ("clOrdId", client_order_id)]),
            "",
        )),
        Venue::Kraken | Venue::Coinbase => None,
    })
}

/// The order a status query found (`Some`), or `None` when the exchange says it has no
/// such order (Binance -2013, OKX 51603): the placement never reached it.
pub fn parse_status(venue: Venue, resp: &ExchangeResponse) -> Result<Option<Placed>> {
    let v = match checked_body(venue, resp) {
        Ok(v) => v,
        Err(VenueError::Exchange { message, .. })
            if (venue == Venue::Binance && message.starts_with("-2013 "))
                || (venue == Venue::Okx && message.starts_with("51603 ")) =>
        {
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    match venue {
        Venue::Binance => {
            let o = obj(&v, "$")?;
            let status = match string(o, "status", "status")? {
                "NEW" | "PARTIALLY_FILLED" | "PENDING_NEW" => "open",
                "FILLED" => "filled",
                "CANCELED" | "PENDING_CANCEL" => "canceled",
                "EXPIRED" | "EXPIRED_IN_MATCH" => "expired",
                "REJECTED" => "rejected",
                _ => return Err(malformed("status", "is not an order status")),
            };
            Ok(Some(Placed { exchange_order_id: id(o, "orderId", "orderId")?, status }))
        }
        Venue::Okx => {
            let d = okx_first(&v, resp.status)?;
            let status = match string(d, "state", "data[0].state")? {
                "live" | "partially_filled" => "open",
                "filled" => "filled",
                "canceled" | "mmp_canceled" => "canceled",
                _ => return Err(malformed("data[0].state", "is not an order state")),
            };
            Ok(Some(Placed { exchange_order_id: id(d, "ordId", "data[0].ordId")?, status }))
        }
        Venue::Kraken | Venue::Coinbase => Err(VenueError::Unsupported(venue.to_string())),
    }
}

// ---------------------------------------------------------------------------
// Errors in bodies.

fn okx_first(v: &Value, status: u16) -> Result<&Map<String, Value>> {
    let data = arr(get(obj(v, "$")?, "data", "data")?, "data")?;
    let d = obj(data.first().ok_or(malformed("data", "is empty"))?, "data[0]")?;
    match d.get("sCode").and_then(Value::as_str) {
        Some("0") | None => Ok(d),
        Some(code) => {
            let msg = d.get("sMsg").and_then(Value::as_str).unwrap_or("");
            Err(VenueError::Exchange { status, message: bounded(&format!("{code} {msg}"), MAX_MESSAGE) })
        }
    }
}

fn coinbase_failure(o: &Map<String, Value>) -> String {
    let detail = o
        .get("error_response")
        .and_then(|e| e.get("message").or_else(|| e.get("error")))
        .and_then(Value::as_str)
        .or_else(|| o.get("failure_reason").and_then(Value::as_str))
        .unwrap_or("order failed");
    bounded(detail, MAX_MESSAGE)
}

/// The exchange's own error text of an error body, bounded.
fn error_message(venue: Venue, v: &Value) -> Option<String> {
    let text = match venue {
        Venue::Binance => {
            format!("{} {}", v.get("code")?.as_i64()?, v.get("msg").and_then(Value::as_str).unwrap_or(""))
        }
        Venue::Kraken => {
            let errs = v.get("error")?.as_array()?;
            errs.iter().filter_map(Value::as_str).take(4).collect::<Vec<_>>().join(", ")
        }
        Venue::Okx => {
            format!("{} {}", v.get("code")?.as_str()?, v.get("msg").and_then(Value::as_str).unwrap_or(""))
        }
        Venue::Coinbase => {
            let e = v.get("error").and_then(Value::as_str).unwrap_or("");
            let m = v.get("message").and_then(Value::as_str).unwrap_or("");
            format!("{e} {m}")
        }
    };
    let text = bounded(text.trim(), MAX_MESSAGE);
    (!text.is_empty()).then_some(text)
}

/// The body as JSON when the exchange reports success; its error otherwise
/// (HTTP status not 2xx, Kraken's non-empty `error` array, OKX `code` ≠ `"0"`).
fn checked_body(venue: Venue, resp: &ExchangeResponse) -> Result<Value> {
    let parsed = parse_json(&resp.body);
    if !(200..300).contains(&resp.status) {
        let message =
            parsed.ok().and_then(|v| error_message(venue, &v)).unwrap_or_else(|| format!("HTTP {}", resp.status));
        return Err(VenueError::Exchange { status: resp.status, message });
    }
    let v = parsed?;
    match venue {
        Venue::Kraken => {
            let errs = v.get("error").ok_or(malformed("error", "is missing"))?;
            if !errs.as_array().ok_or(malformed("error", "is not an array"))?.is_empty() {
                let message = error_message(venue, &v).unwrap_or_else(|| "unknown error".into());
                return Err(VenueError::Exchange { status: resp.status, message });
            }
        }
        Venue::Okx => match v.get("code").and_then(Value::as_str) {
            Some("0") => {}
            // "1"/"2": the operation failed per item; the item's sCode says why.
            Some("1" | "2") if v.get("data").and_then(Value::as_array).is_some_and(|d| !d.is_empty()) => {
                okx_first(&v, resp.status)?;
            }
            Some(_) => {
                let message = error_message(venue, &v).unwrap_or_else(|| "unknown error".into());
                return Err(VenueError::Exchange { status: resp.status, message });
            }
            None => return Err(malformed("code", "is missing")),
        },
        _ => {}
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(body: &str) -> ExchangeResponse {
        ExchangeResponse { status: 200, body: body.into() }
    }

    #[test]
    fn status_queries_find_the_order_or_say_it_never_arrived() {
        let r = status_request(Venue::Binance, "BTCUSDT", "sg0123abcd").expect("request").expect("binance");
        assert_eq!(
            (r.method.as_str(), r.path.as_str(), r.query.as_str()),
            ("GET", "/api/v3/order", "symbol=BTCUSDT&origClientOrderId=sg0123abcd")
        );
        assert!(status_request(Venue::Kraken, "XBTUSD", "x").expect("request").is_none());
        assert!(status_request(Venue::Binance, "BTC USDT", "x").is_err());
        let found = parse_status(Venue::Binance, &ok(r#"{"symbol":"BTCUSDT","orderId":77,"status":"FILLED"}"#));
        assert_eq!(found, Ok(Some(Placed { exchange_order_id: "77".into(), status: "filled" })));
        let none = resp(400, r#"{"code":-2013,"msg":"Order does not exist."}"#);
        assert_eq!(parse_status(Venue::Binance, &none), Ok(None));
        // A 5xx is no answer: still unknown.
        let busy = resp(503, r#"{"code":-1007,"msg":"Timeout waiting for response from backend server."}"#);
        assert!(parse_status(Venue::Binance, &busy).is_err_and(|e| e.is_transient()));
        let okx = ok(r#"{"code":"0","msg":"","data":[{"ordId":"9","clOrdId":"c","state":"live"}]}"#);
        assert_eq!(parse_status(Venue::Okx, &okx), Ok(Some(Placed { exchange_order_id: "9".into(), status: "open" })));
        let gone = ok(r#"{"code":"51603","msg":"Order does not exist","data":[]}"#);
        assert_eq!(parse_status(Venue::Okx, &gone), Ok(None));
    }

    fn resp(status: u16, body: &str) -> ExchangeResponse {
        ExchangeResponse { status, body: body.into() }
    }

    #[test]
    fn amounts_are_exact() {
        fn a(s: &str) -> Amount {
            Amount::parse(s).expect(s)
        }
        assert_eq!(a("0.1").checked_add(a("0.2")).map(|x| x.to_string()), Some("0.3".into()));
        assert_eq!(a("1.50000000").checked_add(a("2.25")).map(|x| x.to_string()), Some("3.75000000".into()));
        assert_eq!(a("1").checked_sub(a("1.0000000001")).map(|x| x.to_string()), Some("-0.0000000001".into()));
        assert_eq!(a("2.500").normalized().to_string(), "2.5");
        assert_eq!(a("3.000").normalized().to_string(), "3");
        assert_eq!(a(".5").to_string(), "0.5");
        assert_eq!(a("0").normalized().to_string(), "0");
        assert_eq!(
            a("123456789012345678.123456789012345678").checked_add(a("0.000000000000000002")).map(|x| x.to_string()),
            Some("123456789012345678.123456789012345680".into())
        );
        for bad in ["", ".", "-", "+1", "1e5", "1.2.3", " 1", "1 ", "0x10", "1,5", "NaN", "inf", "١"] {
            assert_eq!(Amount::parse(bad), None, "{bad:?}");
        }
        assert_eq!(Amount::parse(&"9".repeat(37)), None);
        assert_eq!(a(&"9".repeat(36)).checked_add(a(".001")), None, "rescale overflow");
        assert_eq!(a("1000").checked_add(a(&format!(".{}1", "0".repeat(35)))), None, "rescale overflow");
        let big = a(&format!("1{}", "0".repeat(35)));
        assert_eq!((0..2000).try_fold(big, |acc, _| acc.checked_add(big)), None, "sum overflow");
    }

    #[test]
    fn unknown_exchange() {
        assert_eq!(Venue::from_exchange("bitmex").expect_err("refused").to_string(), "import not supported for bitmex");
        assert_eq!(Venue::from_exchange("coinbase"), Ok(Venue::Coinbase));
    }

    #[test]
    fn kraken_asset_codes() {
        let n = |s| normalize_asset(Venue::Kraken, s).expect(s);
        assert_eq!(n("XXBT"), "BTC");
        assert_eq!(n("XBT"), "BTC");
        assert_eq!(n("ZUSD"), "USD");
        assert_eq!(n("XETH"), "ETH");
        assert_eq!(n("XXDG"), "DOGE");
        assert_eq!(n("ZEUR"), "EUR");
        assert_eq!(n("USDT"), "USDT");
        assert_eq!(n("DOT"), "DOT");
        assert_eq!(n("XBT.M"), "BTC.M");
        assert_eq!(n("ETH2.S"), "ETH2.S");
        assert_eq!(normalize_asset(Venue::Binance, "XXBT").expect("ok"), "XXBT");
        assert!(normalize_asset(Venue::Kraken, "BTC USD").is_err());
        assert!(normalize_asset(Venue::Kraken, "").is_err());
    }

    #[test]
    fn binance_balances_and_trades() {
        // Shapes from the Binance Spot API docs ("Account information", "Account trade list").
        let body = r#"{"makerCommission":15,"canTrade":true,"updateTime":123456789,"accountType":"SPOT",
            "balances":[{"asset":"BTC","free":"4723846.89208129","locked":"0.00000000"},
                        {"asset":"LTC","free":"4763368.68006011","locked":"0.00000000"}],"permissions":["SPOT"]}"#;
        let p = parse_balances(Venue::Binance, &ok(body)).expect("balances");
        assert_eq!(
            p.balances[0],
            VenueBalance { asset: "BTC".into(), free: "4723846.89208129".into(), locked: "0.00000000".into() }
        );
        assert_eq!(p.next, None);

        let symbols = binance_symbols(&["BNB".into(), "BTC".into(), "USDT".into()]);
        assert_eq!(symbols, ["BNBBTC", "BNBUSDT", "BTCBNB", "BTCUSDT", "USDTBNB", "USDTBTC"].map(String::from));
        let r = trades_request(Venue::Binance, &symbols, None).expect("req").expect("some");
        assert_eq!(r.query, "symbol=BNBBTC&fromId=0&limit=1000");
        assert_eq!(r.path, "/api/v3/myTrades");
        let body = r#"[{"symbol":"BNBBTC","id":28457,"orderId":100234,"orderListId":-1,"price":"4.00000100",
            "qty":"12.00000000","quoteQty":"48.000012","commission":"10.10000000","commissionAsset":"BNB",
            "time":1499865549590,"isBuyer":true,"isMaker":false,"isBestMatch":true}]"#;
        let page = parse_trades(Venue::Binance, &symbols, None, &ok(body)).expect("trades");
        assert_eq!(
            page.trades,
            vec![Trade {
                exchange_trade_id: "BNBBTC-28457".into(),
                symbol: "BNBBTC".into(),
                side: Side::Buy,
                price: "4.00000100".into(),
                qty: "12.00000000".into(),
                fee: "10.10000000".into(),
                fee_asset: Some("BNB".into()),
                time_ms: 1_499_865_549_590,
            }]
        );
        assert_eq!(page.next.as_deref(), Some("BNBUSDT:0"));
        // Resuming from a cursor naming a symbol that left the list: the next one.
        let r = trades_request(Venue::Binance, &symbols, Some("BTCBUSD:7")).expect("req").expect("some");
        assert_eq!(r.query, "symbol=BTCUSDT&fromId=0&limit=1000");
        let r = trades_request(Venue::Binance, &symbols, Some("BTCUSDT:7")).expect("req").expect("some");
        assert_eq!(r.query, "symbol=BTCUSDT&fromId=7&limit=1000");
        assert_eq!(
            trades_request(Venue::Binance, &symbols, Some("USDTBTC:9")).expect("r").map(|r| r.query),
            Some("symbol=USDTBTC&fromId=9&limit=1000".into())
        );
        assert_eq!(trades_request(Venue::Binance, &symbols, Some("ZZZ:0")).expect("req"), None);
        // The last symbol's last page ends the history.
        let last = parse_trades(Venue::Binance, &symbols, Some("USDTBTC:0"), &ok("[]")).expect("last");
        assert_eq!(last.next, None);
        // A pair that does not exist: -1121 is an empty page, not an error.
        let invalid = resp(400, r#"{"code":-1121,"msg":"Invalid symbol."}"#);
        let p = parse_trades(Venue::Binance, &symbols, Some("USDTBNB:0"), &invalid).expect("skip");
        assert_eq!((p.trades.len(), p.next.as_deref()), (0, Some("USDTBTC:0")));
        // A full page continues on the same symbol after the last id.
        let full: Vec<Value> = (0..1000u64)
            .map(|i| json!({"symbol":"BTCUSDT","id":500 + i,"price":"1","qty":"1","commission":"0","commissionAsset":"BNB","time":1,"isBuyer":false}))
            .collect();
        let p = parse_trades(Venue::Binance, &symbols, Some("BTCUSDT:500"), &ok(&Value::Array(full).to_string()))
            .expect("full");
        assert_eq!(p.next.as_deref(), Some("BTCUSDT:1500"));
        assert_eq!(p.trades[0].side, Side::Sell);
        // A trade of another symbol than asked: refused.
        let e = parse_trades(Venue::Binance, &symbols, Some("BTCUSDT:0"), &ok(body)).expect_err("refused");
        assert_eq!(e, malformed("[].symbol", "is not the symbol asked for"));
    }

    #[test]
    fn kraken_balances_and_trades() {
        // "Get Extended Balance" and "Get Trades History" of the Kraken docs.
        let body = r#"{"error":[],"result":{"ZUSD":{"balance":"25435.21","hold_trade":"8249.76"},
            "XXBT":{"balance":"1.2435","hold_trade":"0.8423"},"XETH":{"balance":"0.5","credit":"0","credit_used":"0"}}}"#;
        let p = parse_balances(Venue::Kraken, &ok(body)).expect("balances");
        let get = |a: &str| p.balances.iter().find(|b| b.asset == a).cloned().expect(a);
        assert_eq!(get("USD"), VenueBalance { asset: "USD".into(), free: "17185.45".into(), locked: "8249.76".into() });
        assert_eq!(get("BTC").free, "0.4012");
        assert_eq!(get("ETH").locked, "0");
        let r = trades_request(Venue::Kraken, &[], Some("50")).expect("req").expect("some");
        assert_eq!(
            (r.method.as_str(), r.path.as_str(), r.body.as_str()),
            ("POST", "/0/private/TradesHistory", "trades=false&ofs=50")
        );

        let body = r#"{"error":[],"result":{"trades":{
            "THVRQM-33VKH-UCI7BS":{"ordertxid":"OQCLML-BW3P3-BUCMWZ","postxid":"TKH2SE-M7IF5-CFI7LT","pair":"XXBTZUSD",
              "time":1688667796.8802,"type":"buy","ordertype":"limit","price":"30010.00000","cost":"600.20000",
              "fee":"0.00000","vol":"0.02000000","margin":"0.00000","misc":""},
            "TCWJEG-FL4SZ-3FKGH6":{"ordertxid":"OQCLML-BW3P3-BUCMWZ","pair":"XXBTZUSD","time":1688667769.6396,
              "type":"sell","ordertype":"limit","price":"30010.00000","cost":"300.10000","fee":"0.48016","vol":"0.01000000"}},
            "count":120}}"#;
        let p = parse_trades(Venue::Kraken, &[], Some("50"), &ok(body)).expect("trades");
        assert_eq!(p.trades.len(), 2);
        let t = p.trades.iter().find(|t| t.exchange_trade_id == "THVRQM-33VKH-UCI7BS").expect("trade");
        assert_eq!(
            (t.time_ms, t.side, t.price.as_str(), t.qty.as_str()),
            (1_688_667_796_880, Side::Buy, "30010.00000", "0.02000000")
        );
        assert_eq!(p.next.as_deref(), Some("52"));
        let end = r#"{"error":[],"result":{"trades":{},"count":52}}"#;
        assert_eq!(parse_trades(Venue::Kraken, &[], Some("52"), &ok(end)).expect("end").next, None);
        // Errors are HTTP 200 with an error array.
        let e = parse_balances(Venue::Kraken, &ok(r#"{"error":["EAPI:Invalid key"]}"#)).expect_err("refused");
        assert_eq!(e, VenueError::Exchange { status: 200, message: "EAPI:Invalid key".into() });
        assert!(!e.is_transient());
        let e = parse_balances(Venue::Kraken, &ok(r#"{"error":["EAPI:Rate limit exceeded"]}"#)).expect_err("refused");
        assert!(e.is_transient());
        // Held more than the balance: refused rather than a negative free amount.
        let e =
            parse_balances(Venue::Kraken, &ok(r#"{"error":[],"result":{"XXBT":{"balance":"1","hold_trade":"2"}}}"#));
        assert_eq!(e.expect_err("refused"), malformed("result.*.hold_trade", "is larger than the balance"));
    }

    #[test]
    fn okx_balances_and_fills() {
        // "Get balance" and "Get transaction details (last 3 months)" of the OKX v5 docs.
        let body = r#"{"code":"0","msg":"","data":[{"adjEq":"","totalEq":"41624.32","uTime":"1614846244194",
            "details":[{"availBal":"","availEq":"","cashBal":"1.5","ccy":"USDT","frozenBal":"0","eq":"1.5"}]}]}"#;
        let e = parse_balances(Venue::Okx, &ok(body)).expect_err("refused");
        assert_eq!(e, malformed("data[].details[].availBal", "is not a plain decimal number"));
        let body = body.replace(r#""availBal":"""#, r#""availBal":"1.25""#);
        let p = parse_balances(Venue::Okx, &ok(&body)).expect("balances");
        assert_eq!(p.balances, vec![VenueBalance { asset: "USDT".into(), free: "1.25".into(), locked: "0".into() }]);

        let r = trades_request(Venue::Okx, &[], Some("389")).expect("req").expect("some");
        assert_eq!(
            (r.path.as_str(), r.query.as_str()),
            ("/api/v5/trade/fills-history", "instType=SPOT&limit=100&after=389")
        );
        let body = r#"{"code":"0","msg":"","data":[{"side":"buy","fillSz":"0.00192834","fillPx":"51858","fee":"-0.00000192834",
            "ordId":"680800019749904384","instType":"SPOT","instId":"BTC-USDT","clOrdId":"","posSide":"net","billId":"680800019754098688",
            "tag":"","execType":"T","tradeId":"724072849","feeCcy":"BTC","ts":"1708587373361"}]}"#;
        let p = parse_trades(Venue::Okx, &[], None, &ok(body)).expect("fills");
        assert_eq!(p.trades[0].exchange_trade_id, "BTC-USDT-724072849");
        assert_eq!(p.trades[0].fee, "0.00000192834");
        assert_eq!(p.trades[0].fee_asset.as_deref(), Some("BTC"));
        assert_eq!(p.next, None, "a short page is the last");
        let e = parse_balances(Venue::Okx, &resp(401, r#"{"code":"50113","msg":"Invalid Sign","data":[]}"#))
            .expect_err("refused");
        assert_eq!(e, VenueError::Exchange { status: 401, message: "50113 Invalid Sign".into() });
    }

    #[test]
    fn coinbase_accounts_and_fills() {
        // "List Accounts" and "List Fills" of the Advanced Trade API reference.
        let body = r#"{"accounts":[{"uuid":"8bfc20d7-f7c6-4422-bf07-8243ca4169fe","name":"BTC Wallet","currency":"BTC",
            "available_balance":{"value":"1.23","currency":"BTC"},"default":false,"active":true,"type":"ACCOUNT_TYPE_CRYPTO",
            "ready":true,"hold":{"value":"0.5","currency":"BTC"}}],"has_next":true,"cursor":"789100","size":1}"#;
        let p = parse_balances(Venue::Coinbase, &ok(body)).expect("accounts");
        assert_eq!(p.balances, vec![VenueBalance { asset: "BTC".into(), free: "1.23".into(), locked: "0.5".into() }]);
        assert_eq!(p.next.as_deref(), Some("789100"));
        assert_eq!(balances_request(Venue::Coinbase, Some("789100")).expect("r").query, "limit=250&cursor=789100");

        let body = r#"{"fills":[{"entry_id":"22222-2222222-22222222","trade_id":"1111-11111-111111","order_id":"0000-000000-000000",
            "trade_time":"2021-05-31T09:59:59.123456Z","trade_type":"FILL","price":"10000.00","size":"0.001",
            "commission":"1.25","product_id":"BTC-USD","sequence_timestamp":"2021-05-31T09:58:59Z",
            "liquidity_indicator":"UNKNOWN_LIQUIDITY_INDICATOR","size_in_quote":false,"user_id":"3333-333333-3333333","side":"BUY"}],
            "cursor":"789100"}"#;
        let p = parse_trades(Venue::Coinbase, &[], None, &ok(body)).expect("fills");
        assert_eq!(p.trades[0].time_ms, 1_622_455_199_123);
        assert_eq!(p.trades[0].exchange_trade_id, "22222-2222222-22222222");
        assert_eq!(p.next.as_deref(), Some("789100"));
        assert_eq!(parse_trades(Venue::Coinbase, &[], None, &ok(r#"{"fills":[],"cursor":""}"#)).expect("e").next, None);
    }

    #[test]
    fn orders() {
        let o = PlaceOrder {
            symbol: "BTCUSDT",
            side: Side::Buy,
            kind: OrderKind::Limit,
            qty: "0.01",
            price: Some("30000"),
            client_order_id: "0f8fad5b-d9cb-469f-a165-70867728950e",
        };
        let r = place_request(Venue::Binance, &o).expect("binance");
        assert_eq!(
            r.query,
            "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.01&price=30000\
             &newClientOrderId=0f8fad5b-d9cb-469f-a165-70867728950e&newOrderRespType=RESULT"
        );
        let r =
            place_request(Venue::Kraken, &PlaceOrder { symbol: "XBTUSD", kind: OrderKind::Market, price: None, ..o })
                .expect("k");
        assert_eq!(
            r.body,
            "ordertype=market&type=buy&volume=0.01&pair=XBTUSD&cl_ord_id=0f8fad5b-d9cb-469f-a165-70867728950e"
        );
        let r = place_request(
            Venue::Okx,
            &PlaceOrder { symbol: "BTC-USDT", kind: OrderKind::Market, price: None, client_order_id: "ab12", ..o },
        )
        .expect("okx");
        let b: Value = serde_json::from_str(&r.body).expect("json");
        assert_eq!(
            (b["tgtCcy"].as_str(), b["tdMode"].as_str(), b["clOrdId"].as_str()),
            (Some("base_ccy"), Some("cash"), Some("ab12"))
        );
        let r = place_request(Venue::Coinbase, &PlaceOrder { symbol: "BTC-USD", ..o }).expect("cb");
        let b: Value = serde_json::from_str(&r.body).expect("json");
        assert_eq!(b["order_configuration"]["limit_limit_gtc"]["limit_price"], "30000");
        // Bad input never reaches an exchange.
        assert!(place_request(Venue::Binance, &PlaceOrder { price: None, ..o }).is_err());
        assert!(place_request(Venue::Binance, &PlaceOrder { kind: OrderKind::Market, ..o }).is_err());
        assert!(place_request(Venue::Binance, &PlaceOrder { qty: "0", ..o }).is_err());
        assert!(place_request(Venue::Binance, &PlaceOrder { qty: "1e3", ..o }).is_err());
        assert!(place_request(Venue::Binance, &PlaceOrder { symbol: "BTC&USDT", ..o }).is_err());
        assert!(place_request(Venue::Binance, &PlaceOrder { client_order_id: "a=b", ..o }).is_err());
        assert!(cancel_request(Venue::Binance, "BTCUSDT", "1&x=1").is_err());
        assert_eq!(cancel_request(Venue::Binance, "BTCUSDT", "42").expect("c").query, "symbol=BTCUSDT&orderId=42");

        let placed =
            parse_placed(Venue::Binance, &ok(r#"{"symbol":"BTCUSDT","orderId":28,"status":"NEW"}"#)).expect("p");
        assert_eq!(placed, Placed { exchange_order_id: "28".into(), status: "open" });
        let placed = parse_placed(
            Venue::Kraken,
            &ok(r#"{"error":[],"result":{"descr":{"order":"buy"},"txid":["OUF4EM-FRGI2-MQMWZD"]}}"#),
        )
        .expect("k");
        assert_eq!(placed.exchange_order_id, "OUF4EM-FRGI2-MQMWZD");
        let e = parse_placed(
            Venue::Okx,
            &ok(r#"{"code":"1","msg":"","data":[{"ordId":"","sCode":"51008","sMsg":"Insufficient balance"}]}"#),
        )
        .expect_err("refused");
        assert_eq!(e, VenueError::Exchange { status: 200, message: "51008 Insufficient balance".into() });
        let e = parse_placed(Venue::Coinbase, &ok(r#"{"success":false,"failure_reason":"UNKNOWN_FAILURE_REASON","error_response":{"error":"INSUFFICIENT_FUND"}}"#)).expect_err("refused");
        assert_eq!(e, VenueError::Exchange { status: 200, message: "INSUFFICIENT_FUND".into() });
        let e = parse_placed(
            Venue::Binance,
            &resp(400, r#"{"code":-2010,"msg":"Account has insufficient balance for requested action."}"#),
        )
        .expect_err("refused");
        assert_eq!(
            e,
            VenueError::Exchange {
                status: 400,
                message: "-2010 Account has insufficient balance for requested action.".into()
            }
        );
        assert!(
            parse_cancelled(
                Venue::Coinbase,
                &ok(r#"{"results":[{"success":false,"failure_reason":"UNKNOWN_CANCEL_ORDER","order_id":"1"}]}"#)
            )
            .is_err()
        );
        assert!(parse_cancelled(Venue::Kraken, &ok(r#"{"error":[],"result":{"count":1}}"#)).is_ok());
        assert_eq!(client_order_id(Venue::Okx, &[0xab; 16]).len(), 32);
        assert_eq!(client_order_id(Venue::Binance, &[0; 16]), "00000000-0000-0000-0000-000000000000");
    }

    #[test]
    fn hostile_responses_are_refused_precisely() {
        for v in [Venue::Binance, Venue::Kraken, Venue::Okx, Venue::Coinbase] {
            // Not JSON, truncated, wrong top-level type, deep nesting, huge body: errors, no panic.
            assert!(matches!(parse_balances(v, &ok("<html>")), Err(VenueError::NotJson { .. })));
            assert!(matches!(parse_balances(v, &ok("{\"balances\":[")), Err(VenueError::NotJson { .. })));
            assert!(parse_balances(v, &ok("[]")).is_err());
            assert!(parse_trades(v, &["BTCUSDT".into()], None, &ok("\"x\"")).is_err());
            let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
            assert!(parse_trades(v, &["BTCUSDT".into()], None, &ok(&deep)).is_err());
            let huge = format!("[\"{}\"]", "a".repeat(MAX_BODY));
            assert_eq!(parse_balances(v, &ok(&huge)).expect_err("refused"), VenueError::TooLarge("body"));
            assert!(parse_placed(v, &ok("{}")).is_err());
            assert!(parse_cancelled(v, &ok("null")).is_err());
            // A 5xx with an HTML body: an exchange error, transient.
            let e = parse_balances(v, &resp(503, "<html>down</html>")).expect_err("refused");
            assert_eq!(e, VenueError::Exchange { status: 503, message: "HTTP 503".into() });
            assert!(e.is_transient());
        }
        // Amounts as numbers (floats) are refused: only exact decimal strings.
        let e = parse_balances(Venue::Binance, &ok(r#"{"balances":[{"asset":"BTC","free":0.1,"locked":"0"}]}"#));
        assert_eq!(e.expect_err("refused"), malformed("balances[].free", "is not a string"));
        let e = parse_balances(Venue::Binance, &ok(r#"{"balances":[{"asset":"BTC","free":"1e-8","locked":"0"}]}"#));
        assert_eq!(e.expect_err("refused"), malformed("balances[].free", "is not a plain decimal number"));
        let e = parse_balances(Venue::Binance, &ok(r#"{"balances":[{"asset":"BTC","free":"-1","locked":"0"}]}"#));
        assert_eq!(e.expect_err("refused"), malformed("balances[].free", "is negative"));
        let e = parse_balances(Venue::Binance, &ok(r#"{"balances":[{"asset":"B<script>","free":"1","locked":"0"}]}"#));
        assert_eq!(e.expect_err("refused"), malformed("asset", "is not an asset code"));
        let long = format!(r#"{{"balances":[{{"asset":"BTC","free":"{}","locked":"0"}}]}}"#, "1".repeat(200));
        assert_eq!(
            parse_balances(Venue::Binance, &ok(&long)).expect_err("refused"),
            malformed("balances[].free", "is too long")
        );
        // Too many entries.
        let many = format!("[{}]", vec!["{}"; MAX_ITEMS + 1].join(","));
        assert_eq!(
            parse_trades(Venue::Binance, &["X".into()], None, &ok(&many)).expect_err("refused"),
            VenueError::TooLarge("$")
        );
        // Ids with spaces or controls, negative times, bad sides.
        let t = r#"[{"symbol":"X","id":-1,"price":"1","qty":"1","commission":"0","time":1,"isBuyer":true}]"#;
        assert_eq!(
            parse_trades(Venue::Binance, &["X".into()], None, &ok(t)).expect_err("refused"),
            malformed("[].id", "is not a trade id")
        );
        let f = r#"{"fills":[{"entry_id":"a b","product_id":"BTC-USD","side":"BUY","price":"1","size":"1","trade_time":"2021-05-31T09:59:59Z"}]}"#;
        assert_eq!(
            parse_trades(Venue::Coinbase, &[], None, &ok(f)).expect_err("refused"),
            malformed("fills[].entry_id", "is not a printable id")
        );
        let f = r#"{"code":"0","data":[{"instId":"BTC-USDT","tradeId":"1","billId":"1","side":"hold","fillPx":"1","fillSz":"1","ts":"1"}]}"#;
        assert_eq!(
            parse_trades(Venue::Okx, &[], None, &ok(f)).expect_err("refused"),
            malformed("data[].side", "is not buy or sell")
        );
        let k = r#"{"error":[],"result":{"count":1,"trades":{"T1":{"pair":"XBTUSD","time":-5,"type":"buy","price":"1","fee":"0","vol":"1"}}}}"#;
        assert_eq!(
            parse_trades(Venue::Kraken, &[], None, &ok(k)).expect_err("refused"),
            malformed("result.trades.*.time", "is not a time in seconds")
        );
        // A cursor we did not make.
        assert!(trades_request(Venue::Kraken, &[], Some("-1")).is_err());
        assert!(trades_request(Venue::Okx, &[], Some("1&instType=MARGIN")).is_err());
        assert!(trades_request(Venue::Binance, &["X".into()], Some("nocolon")).is_err());
        // Exchange messages are bounded and stripped of control characters.
        let msg = format!(r#"{{"code":-1,"msg":"{}\n{}"}}"#, "x".repeat(10), "y".repeat(1000));
        let VenueError::Exchange { message, .. } =
            parse_balances(Venue::Binance, &resp(400, &msg)).expect_err("refused")
        else {
            panic!("exchange error")
        };
        assert!(message.len() <= MAX_MESSAGE && !message.contains('\n'));
    }
}
