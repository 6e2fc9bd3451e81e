//! Prices for the portfolio's value: each exchange's public ticker, no credential, read
//! through the one send path (`sealgate-send`: no redirects, bounded answers) and cached.
//!
//! For each asset the holding's own exchanges are asked first, then [`SOURCES`], each for
//! the asset in the target currency, then in USDT, USDC and USD; the first answer wins. A
//! quote in another asset than the target needs that asset's own quote in the target
//! (USDT in USD), asked the same way: no stablecoin is taken to equal the dollar. What no
//! exchange prices stays missing, and the portfolio says so.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sealgate_exchanges::SignedRequest;
use sealgate_portfolio::{Quote, parse_amount};

/// Exchanges asked after the holding's own, in this order (deep USD and USDT markets).
pub const SOURCES: [&str; 4] = ["coinbase", "kraken", "binance", "okx"];

/// Quote assets asked for after the target currency.
const BRIDGES: [&str; 3] = ["USDT", "USDC", "USD"];

/// How long a price is reused; a ticker that had no such market is not asked again for
/// [`UNKNOWN_FOR`].
const FRESH_FOR: Duration = Duration::from_secs(60);
const UNKNOWN_FOR: Duration = Duration::from_secs(300);
/// Most cached (exchange, symbol) answers: a portfolio of endless assets cannot grow it.
const MAX_CACHED: usize = 4096;
/// One ticker round trip.
const TIMEOUT: Duration = Duration::from_secs(4);

/// A ticker's answer, cached.
#[derive(Debug, Clone)]
enum Answer {
    /// The price, and when it was read (ms).
    Price(String, i64),
    /// The exchange has no such market (or answered something unreadable).
    NoMarket,
    /// The exchange could not be reached: asked again after [`FRESH_FOR`], so an address
    /// the egress blocks costs one timeout a minute, not one per page view.
    Unreachable,
}

impl Answer {
    fn ttl(&self) -> Duration {
        match self {
            Answer::Price(..) | Answer::Unreachable => FRESH_FOR,
            Answer::NoMarket => UNKNOWN_FOR,
        }
    }

    fn price(self) -> Option<(String, i64)> {
        match self {
            Answer::Price(p, at) => Some((p, at)),
            Answer::NoMarket | Answer::Unreachable => None,
        }
    }
}

type Cached = (Instant, Answer);

/// Reads public tickers for the portfolio (see the module docs).
pub struct PriceFeed {
    sender: sealgate_send::Sender,
    exchanges: HashMap<String, String>,
    cache: Mutex<HashMap<(String, String), Cached>>,
    /// Exchanges that could not be reached, and when: not asked again for [`FRESH_FOR`],
    /// whatever the market, so an address the egress blocks costs one timeout a minute,
    /// not one per market per page view.
    down: Mutex<HashMap<String, Instant>>,
}

impl PriceFeed {
    /// A feed reading the exchanges at `exchanges` (id → base URL).
    pub fn new(exchanges: HashMap<String, String>) -> Result<Self, String> {
        let sender =
            sealgate_send::Sender::new(sealgate_send::SendConfig { timeout: TIMEOUT, max_response: 256 * 1024 })?;
        Ok(Self { sender, exchanges, cache: Mutex::new(HashMap::new()), down: Mutex::new(HashMap::new()) })
    }

    /// Quotes that value every asset of `holdings` (asset, the exchange it is held on) in
    /// `target`, as far as the exchanges price them.
    pub async fn quotes(self: &Arc<Self>, holdings: &[(String, String)], target: &str) -> Vec<Quote> {
        let mut held_on: HashMap<&str, Vec<&str>> = HashMap::new();
        for (asset, exchange) in holdings {
            held_on.entry(asset.as_str()).or_default().push(exchange.as_str());
        }
        let mut tasks = tokio::task::JoinSet::new();
        for (asset, exchanges) in held_on {
            if asset == target {
                continue;
            }
            let (feed, asset, target) = (self.clone(), asset.to_owned(), target.to_owned());
            let exchanges: Vec<String> = exchanges.into_iter().map(str::to_owned).collect();
            tasks.spawn(async move { feed.first_quote(&asset, &exchanges, &target).await });
        }
        let mut quotes: Vec<Quote> = Vec::new();
        while let Some(done) = tasks.join_next().await {
            if let Ok(Some(q)) = done {
                quotes.push(q);
            }
        }
        // The bridges the quotes went through, each priced in the target.
        let bridges: BTreeSet<String> = quotes.iter().filter(|q| q.quote != target).map(|q| q.quote.clone()).collect();
        for bridge in bridges {
            if quotes.iter().any(|q| q.base == bridge && q.quote == target) {
                continue;
            }
            if let Some(q) = self.quote_in(&bridge, &[], &[target]).await {
                quotes.push(q);
            }
        }
        quotes
    }

    /// `asset`'s first quote in `target`, or in a bridge asset.
    async fn first_quote(&self, asset: &str, held_on: &[String], target: &str) -> Option<Quote> {
        let mut quotes: Vec<&str> = vec![target];
        quotes.extend(BRIDGES.iter().copied().filter(|b| *b != target && *b != asset));
        self.quote_in(asset, held_on, &quotes).await
    }

    /// The first of `asset`'s quotes in `quotes` that an exchange (its own first) answers.
    async fn quote_in(&self, asset: &str, held_on: &[String], quotes: &[&str]) -> Option<Quote> {
        let mut order: Vec<&str> = held_on.iter().map(String::as_str).collect();
        order.extend(SOURCES);
        let mut seen = BTreeSet::new();
        for exchange in order.into_iter().filter(|e| seen.insert(*e) && self.exchanges.contains_key(*e)) {
            for quote in quotes {
                if let Some((price, as_of_ms)) = self.ticker(exchange, asset, quote).await
                    && let Ok(price) = parse_amount(&price)
                    && !price.is_zero()
                {
                    return Some(Quote {
                        base: asset.to_owned(),
                        quote: (*quote).to_owned(),
                        price,
                        as_of_ms,
                        source: exchange.to_owned(),
                    });
                }
            }
        }
        None
    }

    /// The last price of `base` in `quote` on `exchange` (cached), or `None`.
    async fn ticker(&self, exchange: &str, base: &str, quote: &str) -> Option<(String, i64)> {
        let symbol = sealgate_venues::ticker_symbol(exchange, base, quote)?;
        let key = (exchange.to_owned(), symbol.clone());
        if let Some((at, answer)) = lock(&self.cache).get(&key)
            && at.elapsed() < answer.ttl()
        {
            return answer.clone().price();
        }
        if lock(&self.down).get(exchange).is_some_and(|at| at.elapsed() < FRESH_FOR) {
            return None;
        }
        let req = sealgate_exchanges::ticker_request(exchange, &symbol)?;
        let base_url = self.exchanges.get(exchange)?;
        let answer = match self.sender.send(exchange, base_url, &SignedRequest::from_request(&req)).await {
            Ok(reply) if reply.status == 200 => {
                match sealgate_exchanges::ticker_price(exchange, &symbol, &reply.body) {
                    Ok(price) => Answer::Price(price, now_ms()),
                    Err(e) => {
                        tracing::debug!(exchange, symbol, error = %e, "portfolio price: no such market");
                        Answer::NoMarket
                    }
                }
            }
            // Busy or limiting us: not "no such market", asked again sooner.
            Ok(reply) if reply.status == 429 || reply.status >= 500 => {
                tracing::warn!(exchange, status = reply.status, "portfolio price: ticker unavailable");
                Answer::Unreachable
            }
            Ok(reply) => {
                tracing::debug!(exchange, symbol, status = reply.status, "portfolio price: ticker refused");
                Answer::NoMarket
            }
            Err(e) => {
                tracing::warn!(exchange, error = %e, "portfolio price: ticker unreachable");
                lock(&self.down).insert(exchange.to_owned(), Instant::now());
                Answer::Unreachable
            }
        };
        let mut cache = lock(&self.cache);
        if cache.len() >= MAX_CACHED {
            cache.retain(|_, (at, a)| at.elapsed() < a.ttl());
            if cache.len() >= MAX_CACHED {
                cache.clear();
            }
        }
        cache.insert(key, (Instant::now(), answer.clone()));
        answer.price()
    }
}

/// Now, ms since the epoch, as the portfolio crate counts it.
pub(crate) fn now_ms() -> i64 {
    i64::try_from(crate::now_ms()).unwrap_or(i64::MAX)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
