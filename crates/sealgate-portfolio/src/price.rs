//! Quotes, routes and the value of an asset in the target currency.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use crate::amount::{div, mul};
use crate::error::Error;

/// The target currency when the user has not chosen one.
pub const DEFAULT_TARGET: &str = "USD";

/// One price: 1 `base` costs `price` `quote`, as `source` (an exchange) printed it at
/// `as_of_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote {
    /// The asset priced.
    pub base: String,
    /// The asset it is priced in.
    pub quote: String,
    /// Units of `quote` per unit of `base`; must be positive.
    pub price: Decimal,
    /// When, ms since the epoch.
    pub as_of_ms: i64,
    /// Where from (an exchange name).
    pub source: String,
}

/// What a valuation is for: the target currency, the clock and the staleness threshold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pricing {
    /// The currency values are expressed in (default [`DEFAULT_TARGET`]).
    pub target: String,
    /// Now, ms since the epoch.
    pub now_ms: i64,
    /// A route whose oldest quote is older than this is stale.
    pub stale_after_ms: i64,
}

impl Pricing {
    /// Values in [`DEFAULT_TARGET`] (USD).
    pub fn usd(now_ms: i64, stale_after_ms: i64) -> Self {
        Self { target: DEFAULT_TARGET.to_owned(), now_ms, stale_after_ms }
    }
}

/// One step of a route: from one asset to another through one quote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leg {
    /// The asset converted.
    pub from: String,
    /// The asset it becomes.
    pub to: String,
    /// The quote's price as printed (for `from`/`to` when direct, `to`/`from` when inverse).
    pub price: Decimal,
    /// `true` when the quote is `to`/`from`, so the amount is divided by the price.
    pub inverse: bool,
    /// The quote's source.
    pub source: String,
    /// The quote's time.
    pub as_of_ms: i64,
}

/// How an asset reached the target: no leg (it is the target), one (direct or inverse
/// pair) or two (through one bridge asset).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Route {
    /// The legs, in order.
    pub legs: Vec<Leg>,
}

impl Route {
    /// The oldest leg's time (a route is as fresh as its oldest quote); `None` when the
    /// asset is the target itself.
    pub fn as_of_ms(&self) -> Option<i64> {
        self.legs.iter().map(|l| l.as_of_ms).min()
    }

    /// A short description for people and CSV: `identity`, `BTC/USD@binance`,
    /// `1/USD/EUR@kraken`, `ETH/USDT@binance > USDT/USD@kraken`.
    pub fn describe(&self) -> String {
        if self.legs.is_empty() {
            return "identity".to_owned();
        }
        let leg = |l: &Leg| {
            let (b, q) = if l.inverse { (&l.to, &l.from) } else { (&l.from, &l.to) };
            format!("{}{b}/{q}@{}", if l.inverse { "1/" } else { "" }, l.source)
        };
        self.legs.iter().map(leg).collect::<Vec<_>>().join(" > ")
    }
}

/// A value that was found: how much, from when, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Valued {
    /// The value in the target currency.
    pub value: Decimal,
    /// The route's oldest quote time; `None` for the target itself (exact, never stale).
    pub as_of_ms: Option<i64>,
    /// `now_ms - as_of_ms`, 0 for quotes from the future (clock skew) and the target.
    pub age_ms: i64,
    /// The age is above the threshold: the value is shown, with its age, as stale.
    pub stale: bool,
    /// How it was converted.
    pub route: Route,
}

/// The value of an amount, or the fact that no price reaches the target. There is no
/// zero for "unknown": a missing price is [`Valuation::Missing`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Valuation {
    /// A value (fresh or stale).
    Valued(Valued),
    /// No route to the target.
    Missing,
}

/// A valuation's state, for counts and display.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    /// Valued with fresh quotes (or the target itself).
    Fresh,
    /// Valued, but the oldest quote is older than the threshold.
    Stale,
    /// No route.
    Missing,
}

impl Status {
    /// `fresh`, `stale` or `missing`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Fresh => "fresh",
            Status::Stale => "stale",
            Status::Missing => "missing",
        }
    }
}

impl Valuation {
    /// The value, if there is one (stale included).
    pub fn value(&self) -> Option<Decimal> {
        match self {
            Valuation::Valued(v) => Some(v.value),
            Valuation::Missing => None,
        }
    }

    /// Fresh, stale or missing.
    pub fn status(&self) -> Status {
        match self {
            Valuation::Valued(v) if v.stale => Status::Stale,
            Valuation::Valued(_) => Status::Fresh,
            Valuation::Missing => Status::Missing,
        }
    }
}

/// An edge of the quote graph: from an asset through quote `index`.
#[derive(Debug, Clone)]
struct Edge {
    to: String,
    index: usize,
    inverse: bool,
}

/// The quotes known, indexed for routing. Per pair (and direction) only the freshest
/// quote is kept, whichever exchange printed it (ties: the first given).
#[derive(Debug, Clone, Default)]
pub struct PriceBook {
    quotes: Vec<Quote>,
    edges: BTreeMap<String, Vec<Edge>>,
}

impl PriceBook {
    /// Index `quotes`. Refused: an empty asset name, `base == quote`, a price that is not
    /// positive ([`Error::Quote`] with the quote's position).
    pub fn new(quotes: impl IntoIterator<Item = Quote>) -> Result<Self, Error> {
        let mut freshest: BTreeMap<(String, String), Quote> = BTreeMap::new();
        for (index, q) in quotes.into_iter().enumerate() {
            let reason = if q.base.is_empty() || q.quote.is_empty() {
                Some("empty asset name")
            } else if q.base == q.quote {
                Some("base and quote are the same asset")
            } else if q.price <= Decimal::ZERO {
                Some("price is not positive")
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(Error::Quote { index, reason });
            }
            let key = (q.base.clone(), q.quote.clone());
            if freshest.get(&key).is_none_or(|old| q.as_of_ms > old.as_of_ms) {
                freshest.insert(key, q);
            }
        }
        let quotes: Vec<Quote> = freshest.into_values().collect();
        let mut edges: BTreeMap<String, Vec<Edge>> = BTreeMap::new();
        for (index, q) in quotes.iter().enumerate() {
            edges.entry(q.base.clone()).or_default().push(Edge { to: q.quote.clone(), index, inverse: false });
            edges.entry(q.quote.clone()).or_default().push(Edge { to: q.base.clone(), index, inverse: true });
        }
        Ok(Self { quotes, edges })
    }

    /// The value of `amount` of `asset` in `pricing.target`.
    ///
    /// Routes tried: the target itself (value = amount, exact); a direct pair
    /// `asset/target` (× price); the inverse pair `target/asset` (÷ price); through ONE
    /// bridge asset, each leg direct or inverse (`ETH/USDT` then `USDT/USD`). No asset is
    /// assumed equal to another: a stablecoin reaches USD only through a quote for it.
    /// The freshest route wins (a route is as old as its oldest quote); ties go to fewer
    /// legs, then to the first found (a fixed order: by pair name). Only overflow is an error.
    pub fn value(&self, asset: &str, amount: Decimal, pricing: &Pricing) -> Result<Valuation, Error> {
        let target = pricing.target.as_str();
        let route = if asset == target { Some(Route::default()) } else { self.best_route(asset, target) };
        let Some(route) = route else { return Ok(Valuation::Missing) };
        let mut value = amount;
        for leg in &route.legs {
            value = if leg.inverse { div(value, leg.price)? } else { mul(value, leg.price)? };
        }
        let as_of_ms = route.as_of_ms();
        let age_ms = as_of_ms.map_or(0, |t| pricing.now_ms.saturating_sub(t).max(0));
        let stale = as_of_ms.is_some() && age_ms > pricing.stale_after_ms;
        Ok(Valuation::Valued(Valued { value, as_of_ms, age_ms, stale, route }))
    }

    fn best_route(&self, asset: &str, target: &str) -> Option<Route> {
        let from = self.edges.get(asset)?;
        let mut best: Option<Route> = None;
        let mut consider = |route: Route| {
            let better = match &best {
                None => true,
                Some(b) => {
                    (route.as_of_ms(), std::cmp::Reverse(route.legs.len()))
                        > (b.as_of_ms(), std::cmp::Reverse(b.legs.len()))
                }
            };
            if better {
                best = Some(route);
            }
        };
        for first in from {
            if first.to == target {
                consider(Route { legs: vec![self.leg(asset, first)] });
                continue;
            }
            let Some(next) = self.edges.get(&first.to) else { continue };
            for second in next.iter().filter(|e| e.to == target) {
                consider(Route { legs: vec![self.leg(asset, first), self.leg(&first.to, second)] });
            }
        }
        best
    }

    fn leg(&self, from: &str, edge: &Edge) -> Leg {
        // `edge.index` comes from enumerating `self.quotes`, so it is always in range.
        let q = &self.quotes[edge.index];
        Leg {
            from: from.to_owned(),
            to: edge.to.clone(),
            price: q.price,
            inverse: edge.inverse,
            source: q.source.clone(),
            as_of_ms: q.as_of_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_amount;

    fn d(s: &str) -> Decimal {
        parse_amount(s).expect(s)
    }

    pub(crate) fn q(base: &str, quote: &str, price: &str, as_of_ms: i64, source: &str) -> Quote {
        Quote { base: base.into(), quote: quote.into(), price: d(price), as_of_ms, source: source.into() }
    }

    const HOUR: i64 = 3_600_000;

    fn valued(v: Valuation) -> Valued {
        match v {
            Valuation::Valued(v) => v,
            Valuation::Missing => panic!("expected a value"),
        }
    }

    #[test]
    fn target_direct_inverse_bridge_missing() {
        let now = 100 * HOUR;
        let p = Pricing::usd(now, HOUR);
        let book = PriceBook::new([
            q("BTC", "USD", "60000", now - 10, "kraken"),
            q("USD", "JPY", "150", now - 10, "kraken"),
            q("ETH", "USDT", "3000", now - 20, "binance"),
            q("USDT", "USD", "0.9990", now - 30, "kraken"),
        ])
        .expect("book");
        // The target is exact and never stale.
        let v = valued(book.value("USD", d("12.5"), &p).expect("usd"));
        assert_eq!((v.value, v.as_of_ms, v.stale, v.route.describe()), (d("12.5"), None, false, "identity".into()));
        // Direct: 0.5 × 60000 = 30000.
        let v = valued(book.value("BTC", d("0.5"), &p).expect("btc"));
        assert_eq!((v.value, v.age_ms, v.route.describe()), (d("30000"), 10, "BTC/USD@kraken".into()));
        // Inverse: 300 JPY ÷ 150 = 2 USD.
        let v = valued(book.value("JPY", d("300"), &p).expect("jpy"));
        assert_eq!((v.value, v.route.describe()), (d("2"), "1/USD/JPY@kraken".into()));
        // Bridge: 2 ETH × 3000 = 6000 USDT; × 0.999 = 5994 USD; as old as the older leg.
        let v = valued(book.value("ETH", d("2"), &p).expect("eth"));
        assert_eq!(
            (v.value, v.as_of_ms, v.route.describe()),
            (d("5994"), Some(now - 30), "ETH/USDT@binance > USDT/USD@kraken".into())
        );
        // No quote for SOL; and USDT without a USDT/USD quote would be missing, not 1.
        assert_eq!(book.value("SOL", d("1"), &p), Ok(Valuation::Missing));
        let no_usdt = PriceBook::new([q("ETH", "USDT", "3000", now, "binance")]).expect("book");
        assert_eq!(no_usdt.value("USDT", d("1"), &p), Ok(Valuation::Missing));
        assert_eq!(no_usdt.value("ETH", d("1"), &p), Ok(Valuation::Missing));
    }

    #[test]
    fn freshest_route_wins_and_stale_is_flagged() {
        let now = 100 * HOUR;
        let p = Pricing::usd(now, HOUR);
        // A 2-hour-old direct quote against a 1-minute-old bridge: the bridge wins.
        let book = PriceBook::new([
            q("ETH", "USD", "2900", now - 2 * HOUR, "coinbase"),
            q("ETH", "BTC", "0.05", now - 60_000, "binance"),
            q("BTC", "USD", "60000", now - 60_000, "kraken"),
        ])
        .expect("book");
        // 1 ETH × 0.05 × 60000 = 3000.
        let v = valued(book.value("ETH", d("1"), &p).expect("eth"));
        assert_eq!((v.value, v.stale, v.route.legs.len()), (d("3000"), false, 2));
        // With only the old direct quote: valued, stale, and its age says how stale.
        let old = PriceBook::new([q("ETH", "USD", "2900", now - 2 * HOUR, "coinbase")]).expect("book");
        let v = valued(old.value("ETH", d("1"), &p).expect("eth"));
        assert_eq!((v.value, v.stale, v.age_ms), (d("2900"), true, 2 * HOUR));
        assert_eq!(Valuation::Valued(v).status(), Status::Stale);
        // Same pair from two exchanges: the fresher one is kept.
        let two =
            PriceBook::new([q("BTC", "USD", "1", now - 5, "a"), q("BTC", "USD", "2", now - 1, "b")]).expect("book");
        assert_eq!(valued(two.value("BTC", d("1"), &p).expect("btc")).route.describe(), "BTC/USD@b");
        // Equal freshness: the direct pair beats the bridge.
        let tie = PriceBook::new([
            q("ETH", "USD", "1", now, "a"),
            q("ETH", "BTC", "1", now, "b"),
            q("BTC", "USD", "1", now, "c"),
        ])
        .expect("book");
        assert_eq!(valued(tie.value("ETH", d("1"), &p).expect("eth")).route.legs.len(), 1);
    }

    #[test]
    fn refuses_bad_quotes_and_overflow() {
        let bad = |x: Quote| PriceBook::new([q("A", "B", "1", 0, "s"), x]).map(|_| ()).err();
        assert_eq!(bad(q("A", "B", "0", 0, "s")), Some(Error::Quote { index: 1, reason: "price is not positive" }));
        assert!(matches!(bad(q("A", "A", "1", 0, "s")), Some(Error::Quote { index: 1, .. })));
        assert!(matches!(bad(q("", "A", "1", 0, "s")), Some(Error::Quote { index: 1, .. })));
        let p = Pricing::usd(0, 1);
        let book = PriceBook::new([q("X", "USD", "79228162514264337593543950335", 0, "s")]).expect("book");
        assert_eq!(book.value("X", d("2"), &p), Err(Error::Arithmetic));
    }
}
