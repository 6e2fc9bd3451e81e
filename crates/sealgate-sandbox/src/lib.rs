//! The exchange sandbox: one HTTP server on loopback that speaks an
//! exchange's wire format and verifies every request the way the exchange
//! does (signature, timestamp window, the key's permissions and IP
//! allow-list), with per-key accounts whose balances orders change and a
//! log of every accepted withdrawal, so tests can prove none happened.
//!
//! The verification code is written from each exchange's documentation and
//! shares nothing with `sealgate-exchanges`' signing code: a bug in one is
//! not mirrored in the other.
//!
//! Venues: Binance spot, Kraken spot, OKX v5, Coinbase Advanced Trade
//! (CDP keys), Bybit v5 (spot), Bitget v2 (spot), KuCoin spot (key
//! version 2/3), Gate API v4 (spot), MEXC spot v3, Bitfinex API v2
//! (exchange wallet), Poloniex spot (API v3), Gemini REST v1, Bitstamp
//! API v2, Coinbase Exchange and Deribit API v2 (inverse perpetuals:
//! positions and PnL besides balances), each for balances, trade history,
//! open orders, place and cancel order (Gemini's API has limit orders only),
//! and withdraw; and each one's public server time (where the sandbox plays
//! one: Bitfinex v2, Gemini v1, Bitstamp v2 and Coinbase Exchange have none
//! here) and ticker. Each venue's order reader
//! ([`read_order`]) is what its handler executes, so tests can compare it
//! with what a client judged.
//!
//! Binance also answers "Query order" (by `orderId` or `origClientOrderId`),
//! and can lose the answer of an executed placement
//! ([`Sandbox::lose_next_order_answers`]: a 503 "execution status unknown",
//! code -1007), to test that a client reconciles instead of guessing.
//!
//! Besides the venues, the sandbox has one route of its own (no exchange has it):
//! `POST /sandbox/v1/keys` registers a self-generated key by its public key, as an
//! exchange's key page does, and answers with the API key id.

#![forbid(unsafe_code)]

mod admin;
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
mod mexc;
mod okx;
mod orders;
mod params;
mod poloniex;
mod throttle;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};

pub use amount::Amount;
pub use orders::{IntentSize, OrderIntent, read_order};

/// What a key may do (the exchange's own API-key restrictions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Permissions {
    /// Account and order reads.
    pub read: bool,
    /// Placing and cancelling orders.
    pub trade: bool,
    /// Withdrawals.
    pub withdraw: bool,
}

/// Which exchange's wire format a key belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Venue {
    /// Binance spot (`/api/v3/…`, `/sapi/…`).
    Binance,
    /// Kraken spot (`/0/private/…`).
    Kraken,
    /// OKX v5 (`/api/v5/…`).
    Okx,
    /// Coinbase Advanced Trade (`/api/v3/brokerage/…`, sends via `/v2/…`).
    Coinbase,
    /// Bybit v5, spot (`/v5/…`).
    Bybit,
    /// Bitget v2, spot (`/api/v2/…`).
    Bitget,
    /// KuCoin spot, API key version 2/3 (`/api/v1/…`, `/api/v3/withdrawals`).
    Kucoin,
    /// Gate API v4, spot (`/api/v4/…`).
    Gate,
    /// MEXC spot v3 (`/api/v3/…` with `X-MEXC-APIKEY`, `/api/v3/capital/withdraw`).
    Mexc,
    /// Bitfinex API v2 (`/v2/auth/…`, with `bfx-apikey`), exchange wallet.
    Bitfinex,
    /// Poloniex spot, API v3 (`/accounts/balances`, `/orders`, `/trades`, … with
    /// `signTimestamp`; `/v2/wallets/withdraw`).
    Poloniex,
    /// Gemini REST v1 (`/v1/…`, payload in `X-GEMINI-PAYLOAD`).
    Gemini,
    /// Bitstamp HTTP API v2 (`/api/v2/…/` with `X-Auth`).
    Bitstamp,
    /// Coinbase Exchange, the former Coinbase Pro (`/accounts`, `/fills`, `/orders`, … with
    /// `CB-ACCESS-KEY`).
    CoinbaseExchange,
    /// Deribit API v2 over HTTP (`/api/v2/private/…`, `/api/v2/public/…`), JSON-RPC answers.
    Deribit,
}

/// One API key of the sandbox and its account.
#[derive(Debug, Clone)]
pub struct KeySpec {
    /// The exchange it is a key of.
    pub venue: Venue,
    /// API key (identifier).
    pub api_key: String,
    /// The secret, in the exchange's own form (Binance: text; Kraken and Coinbase Exchange:
    /// base64; Deribit: the client secret).
    pub secret: String,
    /// Its permissions.
    pub permissions: Permissions,
    /// Source IPs allowed; empty = any.
    pub allowed_ips: Vec<IpAddr>,
    /// Passphrase, for venues that have one (OKX, Bitget, KuCoin, Coinbase Exchange).
    pub passphrase: Option<String>,
    /// Starting free balances, by asset.
    pub balances: Vec<(String, Amount)>,
}

/// A spot market: symbol, base and quote assets, and the price market
/// orders fill at.
#[derive(Debug, Clone)]
pub struct Market {
    /// e.g. `BTCUSDT`.
    pub symbol: String,
    /// e.g. `BTC`.
    pub base: String,
    /// e.g. `USDT`.
    pub quote: String,
    /// Fill price of market orders.
    pub price: Amount,
}

/// A trade in an account's history, as the sandbox recorded it (for tests
/// to compare with what an import stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradeRecord {
    /// The sandbox's trade id (also the order id for market fills).
    pub id: u64,
    /// Market symbol.
    pub symbol: String,
    /// Whether the key's side was the buyer.
    pub side_buy: bool,
    /// Price.
    pub price: Amount,
    /// Quantity in base units.
    pub qty: Amount,
    /// Execution time, Unix ms.
    pub time_ms: u64,
}

/// A withdrawal the sandbox accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Withdrawal {
    /// Which key asked.
    pub api_key: String,
    /// Asset.
    pub asset: String,
    /// Destination.
    pub address: String,
    /// Amount.
    pub amount: Amount,
}

#[derive(Debug, Clone)]
pub(crate) struct Order {
    pub id: u64,
    pub symbol: String,
    pub side_buy: bool,
    pub price: Amount,
    pub qty: Amount,
    pub time: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct Trade {
    pub id: u64,
    pub order_id: u64,
    pub symbol: String,
    pub side_buy: bool,
    pub price: Amount,
    pub qty: Amount,
    pub time: u64,
}

#[derive(Debug)]
pub(crate) struct Account {
    pub spec: KeySpec,
    /// asset → (free, locked)
    pub balances: BTreeMap<String, (Amount, Amount)>,
    pub open_orders: Vec<Order>,
    pub trades: Vec<Trade>,
    /// Highest nonce accepted (Kraken: nonces must strictly increase per key).
    pub last_nonce: u64,
    /// Nonces seen recently and when (Bitstamp: a nonce is used once within its window).
    pub recent_nonces: BTreeMap<String, u64>,
    /// Binance: each order's client order id (`newClientOrderId`) → (symbol, order id), for
    /// "Query order" by `origClientOrderId`.
    pub client_ids: BTreeMap<String, (String, u64)>,
    /// A key registered by its public key (`Sandbox::register_public_key`): requests are
    /// verified with it, and the account has no secret.
    pub public_key: Option<RegisteredKey>,
}

/// A public key an API key was registered with, as the exchanges' "self-generated key"
/// pages take it (a `PUBLIC KEY` PEM: Ed25519 or RSA on Binance, RSA on Bybit and Bitget).
#[derive(Debug, Clone)]
pub(crate) enum RegisteredKey {
    /// The raw 32-byte Ed25519 public key.
    Ed25519(Vec<u8>),
    /// The RSA key as DER SubjectPublicKeyInfo.
    Rsa(Vec<u8>),
}

/// Why a public key was not registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    /// The exchange does not take self-generated keys here.
    #[error("{0:?} does not take keys registered by public key in the sandbox")]
    Venue(Venue),
    /// Not a `PUBLIC KEY` PEM of an Ed25519 or RSA (2048 to 4096 bits) key.
    #[error("not an Ed25519 or RSA (2048-4096 bits) PUBLIC KEY PEM")]
    BadKey,
    /// A well-formed key of a kind the venue does not take: Bybit and Bitget take
    /// self-generated keys as RSA only (their key pages have no Ed25519).
    #[error("{0:?} takes only RSA (2048-4096 bits) public keys")]
    RsaOnly(Venue),
    /// Bitget keys are created with a passphrase, sent with every request
    /// (`ACCESS-PASSPHRASE`); none was given.
    #[error("{0:?} keys need a passphrase")]
    NeedsPassphrase(Venue),
    /// A passphrase was given for a venue whose keys have none (Binance, Bybit).
    #[error("{0:?} keys have no passphrase")]
    NoPassphrase(Venue),
}

/// The SubjectPublicKeyInfo prefix of an Ed25519 key (RFC 8410 §4).
const ED25519_SPKI: [u8; 12] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

impl RegisteredKey {
    fn from_pem(pem: &str) -> Result<Self, RegisterError> {
        let (label, der) = pem_rfc7468::decode_vec(pem.trim().as_bytes()).map_err(|_| RegisterError::BadKey)?;
        if label != "PUBLIC KEY" {
            return Err(RegisterError::BadKey);
        }
        if let Some(raw) = der.strip_prefix(&ED25519_SPKI[..]) {
            return if raw.len() == 32 { Ok(Self::Ed25519(raw.to_vec())) } else { Err(RegisterError::BadKey) };
        }
        let key = aws_lc_rs::rsa::PublicEncryptingKey::from_der(&der).map_err(|_| RegisterError::BadKey)?;
        if !(256..=512).contains(&key.key_size_bytes()) {
            return Err(RegisterError::BadKey);
        }
        Ok(Self::Rsa(der))
    }

    /// Whether `sig` is this key's signature of `message` (Ed25519, or RSASSA-PKCS1-v1_5
    /// with SHA-256).
    pub(crate) fn verifies(&self, message: &[u8], sig: &[u8]) -> bool {
        use aws_lc_rs::signature::{ED25519, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
        match self {
            Self::Ed25519(raw) => UnparsedPublicKey::new(&ED25519, raw).verify(message, sig).is_ok(),
            Self::Rsa(spki) => UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, spki).verify(message, sig).is_ok(),
        }
    }
}

impl Account {
    /// A new account with the key's starting balances, nothing locked.
    fn new(spec: KeySpec, public_key: Option<RegisteredKey>) -> Self {
        let balances = spec.balances.iter().map(|(a, v)| (a.clone(), (*v, Amount::ZERO))).collect();
        Self {
            spec,
            balances,
            open_orders: Vec::new(),
            trades: Vec::new(),
            last_nonce: 0,
            recent_nonces: BTreeMap::new(),
            client_ids: BTreeMap::new(),
            public_key,
        }
    }

    /// Fill a market order at the market price: pay one asset, receive the
    /// other, record the trade. Returns the quote amount.
    pub(crate) fn fill_market(
        &mut self,
        m: &Market,
        side_buy: bool,
        qty: Amount,
        id: u64,
        now: u64,
    ) -> Result<Amount, ()> {
        let cost = m.price.times(qty);
        let (pay, pay_amount, get, get_amount) =
            if side_buy { (&m.quote, cost, &m.base, qty) } else { (&m.base, qty, &m.quote, cost) };
        take(&mut self.balances, pay, pay_amount)?;
        credit(&mut self.balances, get, get_amount);
        self.trades.push(Trade {
            id,
            order_id: id,
            symbol: m.symbol.clone(),
            side_buy,
            price: m.price,
            qty,
            time: now,
        });
        Ok(cost)
    }

    /// Rest a limit order, locking what it could spend.
    pub(crate) fn place_limit(&mut self, m: &Market, order: Order) -> Result<&Order, ()> {
        let (asset, amount) = reserved(m, &order);
        lock_funds(&mut self.balances, asset, amount)?;
        self.open_orders.push(order);
        self.open_orders.last().ok_or(())
    }

    /// Cancel the first open order `which` picks, unlocking its funds.
    /// The name the client gave order `id` (empty if none).
    pub(crate) fn client_id_of(&self, id: u64) -> String {
        self.client_ids.iter().find(|(_, (_, i))| *i == id).map(|(c, _)| c.clone()).unwrap_or_default()
    }

    pub(crate) fn cancel(&mut self, markets: &[Market], which: impl Fn(&Order) -> bool) -> Option<Order> {
        let pos = self.open_orders.iter().position(which)?;
        let o = self.open_orders.remove(pos);
        if let Some(m) = markets.iter().find(|m| m.symbol == o.symbol) {
            let (asset, amount) = reserved(m, &o);
            unlock(&mut self.balances, asset, amount);
        }
        Some(o)
    }
}

/// What a resting order holds back: quote for a buy, base for a sell.
fn reserved<'m>(m: &'m Market, o: &Order) -> (&'m str, Amount) {
    if o.side_buy { (&m.quote, o.price.times(o.qty)) } else { (&m.base, o.qty) }
}

#[derive(Debug)]
pub(crate) struct State {
    pub accounts: BTreeMap<String, Account>,
    pub markets: Vec<Market>,
    pub withdrawals: Vec<Withdrawal>,
    pub next_id: u64,
    /// Added to the system clock (ms), to test timestamp windows.
    pub clock_offset_ms: i64,
    /// Binance: this many next order placements are executed, but answered with a 503
    /// "execution status unknown" (the answer lost after the order was taken).
    pub lose_order_answers: u32,
    /// Each market's 24 h quote volume, where a test set one ([`Sandbox::set_quote_volume`]);
    /// otherwise [`DEFAULT_QUOTE_VOLUME`].
    pub volumes: BTreeMap<String, Amount>,
    /// Latency and the exchanges' request limits (off unless a test turns them on).
    pub(crate) throttle: throttle::Throttle,
}

/// The 24 h quote volume the tickers answer for a market no test set one for: a liquid market.
pub const DEFAULT_QUOTE_VOLUME: &str = "1000000000";

impl State {
    pub(crate) fn now_ms(&self) -> u64 {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        u64::try_from(now.saturating_add(self.clock_offset_ms)).unwrap_or(0)
    }

    pub(crate) fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Cancels `key`'s resting order on `symbol` as Bybit and Bitget do: by `order_id`
    /// (which wins when both are sent) or by the name the client gave it. The order and
    /// that name.
    pub(crate) fn cancel_named(
        &mut self,
        key: &str,
        symbol: &str,
        order_id: Option<&str>,
        client: Option<&str>,
    ) -> Result<(Order, String), Uncancelled> {
        if !self.markets.iter().any(|m| m.symbol == symbol) {
            return Err(Uncancelled::Symbol);
        }
        let markets = self.markets.clone();
        let a = self.accounts.get_mut(key).ok_or(Uncancelled::Key)?;
        let id = match (order_id, client) {
            (Some(id), _) => id.parse::<u64>().map_err(|_| Uncancelled::NoOrder)?,
            (None, Some(c)) => {
                a.client_ids.get(c).filter(|(s, _)| s == symbol).map(|(_, id)| *id).ok_or(Uncancelled::NoOrder)?
            }
            (None, None) => return Err(Uncancelled::Params),
        };
        let o = a.cancel(&markets, |o| o.id == id && o.symbol == symbol).ok_or(Uncancelled::NoOrder)?;
        let name = a.client_id_of(o.id);
        Ok((o, name))
    }

    /// Executes `o` for `key` as Bybit and Bitget do: a market order fills at once at the
    /// market's price (sized in quote, it is converted at that price), a limit order rests;
    /// `client`, unless empty, names it for later queries. Its id; each venue answers a
    /// refusal with its own code.
    pub(crate) fn execute(&mut self, key: &str, o: OrderIntent, client: &str, now: u64) -> Result<u64, Unexecuted> {
        let market = self.markets.iter().find(|m| m.symbol == o.symbol).cloned().ok_or(Unexecuted::Symbol)?;
        let id = self.next_id();
        let a = self.accounts.get_mut(key).ok_or(Unexecuted::Key)?;
        match (o.limit, o.size) {
            (None, size) => {
                let qty = match size {
                    IntentSize::Base(q) => q,
                    IntentSize::Quote(q) => q.divided_by(market.price),
                };
                a.fill_market(&market, o.side_buy, qty, id, now).map_err(|()| Unexecuted::Funds)?;
            }
            (Some(price), IntentSize::Base(qty)) => {
                let order = Order { id, symbol: o.symbol.clone(), side_buy: o.side_buy, price, qty, time: now };
                a.place_limit(&market, order).map_err(|()| Unexecuted::Funds)?;
            }
            (Some(_), IntentSize::Quote(_)) => return Err(Unexecuted::QuoteSizedLimit),
        }
        if !client.is_empty() {
            a.client_ids.insert(client.to_owned(), (o.symbol, id));
        }
        Ok(id)
    }
}

/// Why [`State::cancel_named`] cancelled nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Uncancelled {
    /// No such market.
    Symbol,
    /// No such key.
    Key,
    /// Neither an order id nor a client's name.
    Params,
    /// No such resting order.
    NoOrder,
}

/// Why [`State::execute`] did not execute an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unexecuted {
    /// No such market.
    Symbol,
    /// No such key.
    Key,
    /// Not enough free balance.
    Funds,
    /// A limit order sized in quote units.
    QuoteSizedLimit,
}

pub(crate) type Shared = Arc<Mutex<State>>;

pub(crate) fn lock(s: &Shared) -> std::sync::MutexGuard<'_, State> {
    // A panic while holding the lock leaves state a test can still read.
    s.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One HTTP request as the venues see it.
pub(crate) struct Incoming {
    pub peer: SocketAddr,
    pub method: axum::http::Method,
    pub uri: axum::http::Uri,
    pub headers: axum::http::HeaderMap,
    pub body: String,
}

impl Incoming {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Route by path prefix to the venue whose wire format it is.
async fn dispatch(
    axum::extract::State(state): axum::extract::State<Shared>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<SocketAddr>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
    body: String,
) -> axum::response::Response {
    let req = Incoming { peer, method, uri, headers, body };
    // Latency first, as a network adds it before the exchange sees the request.
    let delay = lock(&state).throttle.delay();
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    let path = req.uri.path();
    if let Some(venue) = private_venue(&req) {
        let refused = {
            let mut st = lock(&state);
            let now = st.now_ms();
            st.throttle.check(venue, &req, now)
        };
        if let Some(r) = refused {
            return r;
        }
    }
    if path == admin::KEYS_PATH {
        admin::handle(&state, &req)
    } else if let Some(resp) = server_time(&state, &req) {
        resp
    } else if let Some(resp) = ticker(&state, &req) {
        resp
    } else if coinbase_exchange::claims(&req) {
        coinbase_exchange::handle(&state, &req)
    } else if poloniex::claims(&req) {
        poloniex::handle(&state, &req)
    } else if gemini::claims(&req) {
        gemini::handle(&state, &req)
    } else if bitstamp::claims(&req) {
        bitstamp::handle(&state, &req)
    } else if deribit::claims(&req) {
        deribit::handle(&state, &req)
    } else if path.starts_with("/0/") {
        kraken::handle(&state, &req)
    } else if path.starts_with("/api/v5/") {
        okx::handle(&state, &req)
    } else if bitfinex::claims(&req) {
        bitfinex::handle(&state, &req)
    } else if path.starts_with("/api/v3/brokerage/") || path.starts_with("/v2/") {
        coinbase::handle(&state, &req)
    } else if path.starts_with("/v5/") {
        bybit::handle(&state, &req)
    } else if path.starts_with("/api/v2/") {
        bitget::handle(&state, &req)
    } else if path.starts_with("/api/v1/") || path == "/api/v3/withdrawals" {
        kucoin::handle(&state, &req)
    } else if path.starts_with("/api/v4/") {
        gate::handle(&state, &req)
    } else if mexc::claims(&req) {
        mexc::handle(&state, &req)
    } else {
        binance::handle(&state, &req)
    }
}

/// The venue whose documented request limit a private request of `req` counts against
/// ([`throttle`]); `None` for public requests and for the venues not limited here.
fn private_venue(req: &Incoming) -> Option<Venue> {
    let path = req.uri.path();
    let has = |h: &str| req.header(h).is_some();
    if path.starts_with("/0/private/") {
        Some(Venue::Kraken)
    } else if path.starts_with("/api/v2/") && path.ends_with('/') && has("X-Auth") {
        Some(Venue::Bitstamp)
    } else if path.starts_with("/api/v2/private/") && has("Authorization") {
        Some(Venue::Deribit)
    } else if has("CB-ACCESS-KEY") && !path.starts_with("/api/") && !path.starts_with("/v2/") {
        Some(Venue::CoinbaseExchange)
    } else if path.starts_with("/api/v5/") && has("OK-ACCESS-KEY") {
        Some(Venue::Okx)
    } else if (path.starts_with("/api/v3/brokerage/") || path.starts_with("/v2/accounts")) && has("Authorization") {
        Some(Venue::Coinbase)
    } else if path.starts_with("/v5/") && has("X-BAPI-API-KEY") {
        Some(Venue::Bybit)
    } else if path.starts_with("/api/v2/") && has("ACCESS-KEY") {
        Some(Venue::Bitget)
    } else if (path.starts_with("/api/v3/") || path.starts_with("/sapi/")) && has("X-MBX-APIKEY") {
        Some(Venue::Binance)
    } else {
        None
    }
}

/// The venues' public server-time endpoints (no key), on the sandbox's
/// clock, offset included: what a signer measures its clock offset against.
/// (Bybit's, Bitget's, KuCoin's and Gate's, like their tickers, are answered
/// by their own modules, in their response envelopes; MEXC's are Binance's
/// paths and shapes, answered here.)
fn server_time(state: &Shared, req: &Incoming) -> Option<axum::response::Response> {
    use axum::response::IntoResponse as _;
    if req.method != axum::http::Method::GET {
        return None;
    }
    let ms = lock(state).now_ms();
    let body = match req.uri.path() {
        "/api/v3/time" => serde_json::json!({"serverTime": ms}),
        "/0/public/Time" => serde_json::json!({"error": [], "result": {"unixtime": ms / 1000}}),
        "/api/v5/public/time" => serde_json::json!({"code": "0", "msg": "", "data": [{"ts": ms.to_string()}]}),
        "/api/v3/brokerage/time" => serde_json::json!({
            "epochSeconds": (ms / 1000).to_string(), "epochMillis": ms.to_string(),
        }),
        _ => return None,
    };
    Some(axum::Json(body).into_response())
}

/// The venues' public ticker endpoints (no key), at each market's price
/// (the price market orders fill at; tests change it with
/// [`Sandbox::set_price`]): what a signer reads its reference price from.
/// Shapes as documented: Binance "Symbol price ticker", Kraken "Get Ticker
/// Information" (`c` = last trade), OKX "Get ticker", Coinbase "Get Public
/// Product"), each with its 24 h volume ([`Sandbox::set_quote_volume`]) as the
/// venue states it, and Binance's "24hr ticker price change statistics"
/// (`/api/v3/ticker/24hr`).
fn ticker(state: &Shared, req: &Incoming) -> Option<axum::response::Response> {
    use axum::http::StatusCode;
    use axum::response::IntoResponse as _;
    use serde_json::json;
    if req.method != axum::http::Method::GET {
        return None;
    }
    let path = req.uri.path();
    let query = params::parse(req.uri.query().unwrap_or("")).unwrap_or_default();
    let price_of = |symbol: &str| lock(state).markets.iter().find(|m| m.symbol == symbol).map(|m| m.price.to_string());
    // (price, 24 h quote volume, 24 h base volume at that price)
    let stats_of = |symbol: &str| {
        let st = lock(state);
        let m = st.markets.iter().find(|m| m.symbol == symbol)?;
        let default = Amount::parse(DEFAULT_QUOTE_VOLUME).unwrap_or_default();
        let quote = st.volumes.get(symbol).copied().unwrap_or(default);
        Some((m.price.to_string(), quote.to_string(), quote.divided_by(m.price).to_string()))
    };
    let (status, body) = if path == "/api/v3/ticker/24hr" {
        let symbol = params::get(&query, "symbol").unwrap_or("");
        match stats_of(symbol) {
            Some((p, q, b)) => (
                StatusCode::OK,
                json!({"symbol": symbol, "lastPrice": p, "weightedAvgPrice": p, "volume": b, "quoteVolume": q, "count": 1}),
            ),
            None => (StatusCode::BAD_REQUEST, json!({"code": -1121, "msg": "Invalid symbol."})),
        }
    } else if path == "/api/v3/ticker/price" {
        let symbol = params::get(&query, "symbol").unwrap_or("");
        match price_of(symbol) {
            Some(p) => (StatusCode::OK, json!({"symbol": symbol, "price": p})),
            None => (StatusCode::BAD_REQUEST, json!({"code": -1121, "msg": "Invalid symbol."})),
        }
    } else if path == "/0/public/Ticker" {
        let pair = params::get(&query, "pair").unwrap_or("");
        match stats_of(pair) {
            Some((p, _, b)) => (
                StatusCode::OK,
                json!({"error": [], "result": {pair: {"a": [p, "1", "1.000"], "b": [p, "1", "1.000"], "c": [p, "0.00100000"],
                    "v": [b, b], "p": [p, p]}}}),
            ),
            None => (StatusCode::OK, json!({"error": ["EQuery:Unknown asset pair"]})),
        }
    } else if path == "/api/v5/market/ticker" {
        let inst = params::get(&query, "instId").unwrap_or("");
        match stats_of(inst) {
            Some((p, q, b)) => (
                StatusCode::OK,
                json!({"code": "0", "msg": "", "data": [{"instType": "SPOT", "instId": inst, "last": p, "askPx": p, "bidPx": p,
                    "vol24h": b, "volCcy24h": q}]}),
            ),
            None => (StatusCode::OK, json!({"code": "51001", "msg": "Instrument ID does not exist", "data": []})),
        }
    } else if let Some(product) = path.strip_prefix("/api/v3/brokerage/market/products/") {
        match stats_of(product) {
            Some((p, q, b)) => (
                StatusCode::OK,
                json!({"product_id": product, "price": p, "status": "online", "volume_24h": b, "approximate_quote_24h_volume": q}),
            ),
            None => (StatusCode::NOT_FOUND, json!({"error": "NOT_FOUND", "message": "product not found"})),
        }
    } else {
        return None;
    };
    Some((status, axum::Json(body)).into_response())
}

/// Move `amount` of `asset` out of the free balance.
pub(crate) fn take(bal: &mut BTreeMap<String, (Amount, Amount)>, asset: &str, amount: Amount) -> Result<(), ()> {
    let entry = bal.entry(asset.to_owned()).or_default();
    if entry.0 < amount {
        return Err(());
    }
    entry.0 = Amount(entry.0.0 - amount.0);
    Ok(())
}

/// Add `amount` of `asset` to the free balance.
pub(crate) fn credit(bal: &mut BTreeMap<String, (Amount, Amount)>, asset: &str, amount: Amount) {
    let entry = bal.entry(asset.to_owned()).or_default();
    entry.0 = Amount(entry.0.0 + amount.0);
}

/// Move a locked amount back to free.
pub(crate) fn unlock(bal: &mut BTreeMap<String, (Amount, Amount)>, asset: &str, amount: Amount) {
    let entry = bal.entry(asset.to_owned()).or_default();
    entry.1 = Amount(entry.1.0 - amount.0);
    entry.0 = Amount(entry.0.0 + amount.0);
}

/// Move a free amount to locked.
pub(crate) fn lock_funds(bal: &mut BTreeMap<String, (Amount, Amount)>, asset: &str, amount: Amount) -> Result<(), ()> {
    take(bal, asset, amount)?;
    bal.entry(asset.to_owned()).or_default().1.0 += amount.0;
    Ok(())
}

/// What [`Sandbox::register_public_key_with_passphrase`] does, on the shared state (also the
/// sandbox's own `POST /sandbox/v1/keys`).
pub(crate) fn register(
    state: &Shared,
    venue: Venue,
    public_pem: &str,
    passphrase: Option<&str>,
    permissions: Permissions,
    allowed_ips: Vec<IpAddr>,
    balances: Vec<(String, Amount)>,
) -> Result<String, RegisterError> {
    if !matches!(venue, Venue::Binance | Venue::Bybit | Venue::Bitget) {
        return Err(RegisterError::Venue(venue));
    }
    let key = RegisteredKey::from_pem(public_pem)?;
    if venue != Venue::Binance && matches!(key, RegisteredKey::Ed25519(_)) {
        return Err(RegisterError::RsaOnly(venue));
    }
    let passphrase = match (venue, passphrase) {
        (Venue::Bitget, Some(p)) if !p.is_empty() => Some(p.to_owned()),
        (Venue::Bitget, _) => return Err(RegisterError::NeedsPassphrase(venue)),
        (_, Some(_)) => return Err(RegisterError::NoPassphrase(venue)),
        (_, None) => None,
    };
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    const HEX: &[u8] = b"0123456789abcdef";
    let (prefix, len, alphabet) = match venue {
        Venue::Bybit => ("", 18, ALNUM),
        Venue::Bitget => ("bg_", 32, HEX),
        _ => ("", 64, ALNUM),
    };
    let mut random = [0u8; 64];
    aws_lc_rs::rand::fill(&mut random).map_err(|_| RegisterError::BadKey)?;
    // 256 is a multiple of 16, so hex digits are uniform; the letters-and-digits bias
    // (256 mod 62) does not matter for an identifier.
    let api_key: String = std::iter::once(prefix.to_owned())
        .chain(random[..len].iter().map(|b| char::from(alphabet[usize::from(*b) % alphabet.len()]).to_string()))
        .collect();
    let spec = KeySpec {
        venue,
        api_key: api_key.clone(),
        secret: String::new(),
        permissions,
        allowed_ips,
        passphrase,
        balances,
    };
    lock(state).accounts.insert(api_key.clone(), Account::new(spec, Some(key)));
    Ok(api_key)
}

/// A running sandbox. Dropping it stops the server.
pub struct Sandbox {
    addr: SocketAddr,
    state: Shared,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Sandbox {
    /// Start on `127.0.0.1:0` (or the given loopback address) with these keys and markets.
    pub async fn start(addr: SocketAddr, keys: Vec<KeySpec>, markets: Vec<Market>) -> std::io::Result<Self> {
        if !addr.ip().is_loopback() {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "the sandbox listens on loopback only"));
        }
        let accounts = keys.into_iter().map(|spec| (spec.api_key.clone(), Account::new(spec, None))).collect();
        let state: Shared = Arc::new(Mutex::new(State {
            accounts,
            markets,
            withdrawals: Vec::new(),
            next_id: 1000,
            clock_offset_ms: 0,
            lose_order_answers: 0,
            volumes: BTreeMap::new(),
            throttle: throttle::Throttle::default(),
        }));
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let app = axum::Router::new().fallback(dispatch).with_state(state.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(Self { addr, state, stop: Some(stop) })
    }

    /// Register a self-generated key by its public key, as on the exchange's API management
    /// page: the exchange keeps the public key and answers with a new API key id. The
    /// account starts with `balances`; requests must be signed with the matching private
    /// key. Binance takes Ed25519 or RSA keys (signatures in base64, URL-encoded); Bybit
    /// takes RSA keys (`X-BAPI-SIGN` = base64 of the RSASSA-PKCS1-v1_5/SHA-256 signature).
    /// Bitget keys need a passphrase: register them with
    /// [`Sandbox::register_public_key_with_passphrase`].
    pub fn register_public_key(
        &self,
        venue: Venue,
        public_pem: &str,
        permissions: Permissions,
        allowed_ips: Vec<IpAddr>,
        balances: Vec<(String, Amount)>,
    ) -> Result<String, RegisterError> {
        self.register_public_key_with_passphrase(venue, public_pem, None, permissions, allowed_ips, balances)
    }

    /// [`Sandbox::register_public_key`] with the key's passphrase, for the venues whose keys
    /// have one: Bitget asks for an "API Passphrase" with every user-generated RSA key and
    /// checks `ACCESS-PASSPHRASE` against it on every request. Binance and Bybit keys have
    /// none (`passphrase` must be `None`). Bybit and Bitget take only RSA keys (2048 to 4096
    /// bits, as their key tools generate); an Ed25519 key is refused with
    /// [`RegisterError::RsaOnly`].
    ///
    /// The API key id answered has the exchange's own form: Binance 64 letters and digits,
    /// Bybit 18, Bitget `bg_` and 32 lowercase hex digits.
    pub fn register_public_key_with_passphrase(
        &self,
        venue: Venue,
        public_pem: &str,
        passphrase: Option<&str>,
        permissions: Permissions,
        allowed_ips: Vec<IpAddr>,
        balances: Vec<(String, Amount)>,
    ) -> Result<String, RegisterError> {
        register(&self.state, venue, public_pem, passphrase, permissions, allowed_ips, balances)
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every withdrawal accepted so far.
    pub fn withdrawals(&self) -> Vec<Withdrawal> {
        lock(&self.state).withdrawals.clone()
    }

    /// Free balance of `asset` for `api_key`.
    pub fn free_balance(&self, api_key: &str, asset: &str) -> Option<Amount> {
        lock(&self.state).accounts.get(api_key).map(|a| a.balances.get(asset).map_or(Amount::ZERO, |b| b.0))
    }

    /// A Deribit account's standing in `currency`: (equity, available funds), as
    /// `get_account_summary` answers them (equity: the balance and its positions' PnL).
    pub fn deribit_summary(&self, api_key: &str, currency: &str) -> (Amount, Amount) {
        deribit::equity_and_available(&lock(&self.state), api_key, currency)
    }

    /// Every asset of `api_key`'s account: (asset, free, locked), by asset.
    pub fn balances(&self, api_key: &str) -> Vec<(String, Amount, Amount)> {
        lock(&self.state)
            .accounts
            .get(api_key)
            .map(|a| a.balances.iter().map(|(k, (f, l))| (k.clone(), *f, *l)).collect())
            .unwrap_or_default()
    }

    /// `api_key`'s trade history, oldest first.
    pub fn trades(&self, api_key: &str) -> Vec<TradeRecord> {
        lock(&self.state)
            .accounts
            .get(api_key)
            .map(|a| {
                a.trades
                    .iter()
                    .map(|t| TradeRecord {
                        id: t.id,
                        symbol: t.symbol.clone(),
                        side_buy: t.side_buy,
                        price: t.price,
                        qty: t.qty,
                        time_ms: t.time,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Adds one historical buy of 0.001 on `symbol` (a market) to `api_key`'s history,
    /// `age` before now, without touching balances (as [`Sandbox::seed_trades`]): history
    /// that only a walk through time windows finds. Returns false if the key or the market
    /// is unknown.
    pub fn seed_trade_aged(&self, api_key: &str, symbol: &str, age: std::time::Duration) -> bool {
        let mut st = lock(&self.state);
        let Some(price) = st.markets.iter().find(|m| m.symbol == symbol).map(|m| m.price) else { return false };
        if !st.accounts.contains_key(api_key) {
            return false;
        }
        let time = st.now_ms().saturating_sub(u64::try_from(age.as_millis()).unwrap_or(u64::MAX));
        let id = st.next_id();
        let trade =
            Trade { id, order_id: id, symbol: symbol.to_owned(), side_buy: true, price, qty: Amount(100_000), time };
        if let Some(a) = st.accounts.get_mut(api_key) {
            a.trades.push(trade);
            a.trades.sort_by_key(|t| (t.time, t.id));
        }
        true
    }

    /// Adds `n` historical trades on `symbol` (a market) to `api_key`'s
    /// history — alternating buy and sell of 0.001 at the market price, one
    /// second apart and ending a day ago — without touching balances, as if
    /// they happened before the account's current snapshot. Returns false
    /// if the key or the market is unknown.
    pub fn seed_trades(&self, api_key: &str, symbol: &str, n: usize) -> bool {
        let mut st = lock(&self.state);
        let Some(price) = st.markets.iter().find(|m| m.symbol == symbol).map(|m| m.price) else { return false };
        if !st.accounts.contains_key(api_key) {
            return false;
        }
        let end = st.now_ms().saturating_sub(86_400_000);
        let mut seeded = Vec::with_capacity(n);
        for i in 0..n {
            let id = st.next_id();
            let back = u64::try_from(n - i).unwrap_or(u64::MAX).saturating_mul(1000);
            seeded.push(Trade {
                id,
                order_id: id,
                symbol: symbol.to_owned(),
                side_buy: i % 2 == 0,
                price,
                qty: Amount(100_000),
                time: end.saturating_sub(back),
            });
        }
        if let Some(a) = st.accounts.get_mut(api_key) {
            a.trades.extend(seeded);
            a.trades.sort_by_key(|t| (t.time, t.id));
        }
        true
    }

    /// Set `symbol`'s price: what market orders fill at and the public
    /// tickers answer. Returns false if the market is unknown.
    pub fn set_price(&self, symbol: &str, price: Amount) -> bool {
        let mut st = lock(&self.state);
        match st.markets.iter_mut().find(|m| m.symbol == symbol) {
            Some(m) => {
                m.price = price;
                true
            }
            None => false,
        }
    }

    /// Set `symbol`'s 24 h quote volume, as the public tickers answer it (an illiquid
    /// pair has little). Returns false if the market is unknown.
    pub fn set_quote_volume(&self, symbol: &str, volume: Amount) -> bool {
        let mut st = lock(&self.state);
        if !st.markets.iter().any(|m| m.symbol == symbol) {
            return false;
        }
        st.volumes.insert(symbol.to_owned(), volume);
        true
    }

    /// Binance: the next `n` order placements (`POST /api/v3/order`) are executed, but
    /// answered with a 503 "execution status unknown" (code -1007), as Binance answers when
    /// its backend timed out: the order exists although the caller got no answer.
    pub fn lose_next_order_answers(&self, n: u32) {
        lock(&self.state).lose_order_answers = n;
    }

    /// How many of [`Sandbox::lose_next_order_answers`] are still to come.
    pub fn lost_order_answers_pending(&self) -> u32 {
        lock(&self.state).lose_order_answers
    }

    /// Hold every answer between `min` and `max` (uniformly spread), as a network between
    /// a client and an exchange does.
    pub fn set_latency(&self, min: std::time::Duration, max: std::time::Duration) {
        let ms = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let (lo, hi) = (ms(min), ms(max).max(ms(min)));
        lock(&self.state).throttle.latency_ms = (hi > 0).then_some((lo, hi));
    }

    /// Refuse private requests over each exchange's documented limit, as the exchange does
    /// (Binance, Kraken, OKX, Coinbase, Bybit, Bitget, Bitstamp, Coinbase Exchange, Deribit;
    /// see the `throttle` module).
    pub fn enforce_rate_limits(&self, on: bool) {
        lock(&self.state).throttle.enabled = on;
    }

    /// How many requests were refused for going over a limit.
    pub fn rate_limit_refusals(&self) -> u64 {
        lock(&self.state).throttle.refusals
    }

    /// Shift the sandbox clock (to test timestamp windows).
    pub fn set_clock_offset_ms(&self, offset: i64) {
        lock(&self.state).clock_offset_ms = offset;
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
