//! A portfolio's value: per holding, per asset, per exchange, the total and allocation.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use crate::amount::{add, div, mul, parse_amount, sub, sum};
use crate::error::Error;
use crate::price::{PriceBook, Pricing, Status, Valuation, Valued};

/// One asset's balance on one exchange account (a credential's label).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Balance {
    /// The exchange or credential label.
    pub exchange: String,
    /// The asset, as normalised by the importer (`BTC`, `USDT`, `EUR`).
    pub asset: String,
    /// Free plus locked.
    pub amount: Decimal,
}

impl Balance {
    /// A balance from the stored free and locked strings ([`crate::parse_amount`] each).
    pub fn from_free_locked(exchange: &str, asset: &str, free: &str, locked: &str) -> Result<Self, Error> {
        let amount = add(parse_amount(free)?, parse_amount(locked)?)?;
        Ok(Self { exchange: exchange.to_owned(), asset: asset.to_owned(), amount })
    }
}

/// One (exchange, asset) holding, valued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holding {
    /// The exchange or credential label.
    pub exchange: String,
    /// The asset.
    pub asset: String,
    /// The amount held.
    pub amount: Decimal,
    /// Its value, or missing.
    pub valuation: Valuation,
    /// The amount is zero, or its value is below the dust threshold (kept, flagged).
    pub dust: bool,
}

/// One asset summed across exchanges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetTotal {
    /// The asset.
    pub asset: String,
    /// The amount held on all exchanges.
    pub amount: Decimal,
    /// Its value (the sum of the holdings' values; the route is the same for each).
    pub valuation: Valuation,
    /// Share of the total in percent, 2 places; `None` when missing or the total is 0.
    pub allocation_pct: Option<Decimal>,
    /// Zero, or valued below the dust threshold.
    pub dust: bool,
}

/// One exchange's holdings summed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExchangeTotal {
    /// The exchange or credential label.
    pub exchange: String,
    /// The sum of its valued holdings (stale included, missing excluded).
    pub value: Decimal,
    /// Its non-zero holdings without a price.
    pub missing: usize,
    /// Its non-zero holdings valued with a stale price.
    pub stale: usize,
    /// Share of the total in percent, 2 places; `None` when the total is 0.
    pub allocation_pct: Option<Decimal>,
}

/// A valued portfolio. Every list is sorted by value, largest first; missing values last;
/// ties by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Portfolio {
    /// The currency of every value.
    pub target: String,
    /// The sum of every valued holding, stale ones included; missing ones cannot count.
    pub total: Decimal,
    /// Non-zero holdings without a price (the total leaves them out).
    pub missing: usize,
    /// Non-zero holdings valued with a stale price (the total includes them).
    pub stale: usize,
    /// Per (exchange, asset).
    pub holdings: Vec<Holding>,
    /// Per asset, across exchanges.
    pub assets: Vec<AssetTotal>,
    /// Per exchange.
    pub exchanges: Vec<ExchangeTotal>,
}

impl Portfolio {
    /// The total is complete: no non-zero holding is missing a price or priced stale.
    pub fn is_complete(&self) -> bool {
        self.missing == 0 && self.stale == 0
    }
}

/// Value `balances` with `book`. Balances for the same (exchange, asset) are added
/// together. A holding is dust when its amount is zero or its value is below
/// `dust_below` (in the target currency); dust is kept and flagged, never dropped.
///
/// Allocation counts only valued holdings (stale included): each share is
/// `value / total × 100`, rounded to 2 places by the largest-remainder method, so the
/// shares shown add up to exactly 100.00 whenever the total is positive.
pub fn value_portfolio(
    balances: &[Balance],
    book: &PriceBook,
    pricing: &Pricing,
    dust_below: Decimal,
) -> Result<Portfolio, Error> {
    let mut merged: BTreeMap<(&str, &str), Decimal> = BTreeMap::new();
    for b in balances {
        let slot = merged.entry((b.exchange.as_str(), b.asset.as_str())).or_default();
        *slot = add(*slot, b.amount)?;
    }
    let is_dust = |amount: Decimal, v: &Valuation| amount.is_zero() || v.value().is_some_and(|x| x < dust_below);

    let mut holdings = Vec::with_capacity(merged.len());
    for ((exchange, asset), amount) in merged {
        let valuation = book.value(asset, amount, pricing)?;
        let dust = is_dust(amount, &valuation);
        holdings.push(Holding { exchange: exchange.to_owned(), asset: asset.to_owned(), amount, valuation, dust });
    }
    // A zero balance is worth zero whatever its price: it does not make the total incomplete.
    let counts =
        |hs: &[&Holding], s: Status| hs.iter().filter(|h| !h.amount.is_zero() && h.valuation.status() == s).count();
    let all: Vec<&Holding> = holdings.iter().collect();
    let total = sum(holdings.iter().filter_map(|h| h.valuation.value()))?;

    let mut assets = Vec::new();
    let mut by_asset: BTreeMap<&str, Vec<&Holding>> = BTreeMap::new();
    for h in &holdings {
        by_asset.entry(h.asset.as_str()).or_default().push(h);
    }
    for (asset, hs) in &by_asset {
        let amount = sum(hs.iter().map(|h| h.amount))?;
        let valuation = match hs.iter().map(|h| &h.valuation).find_map(|v| match v {
            Valuation::Valued(v) => Some(v),
            Valuation::Missing => None,
        }) {
            // The route depends only on the asset, so the holdings share it.
            Some(first) => Valuation::Valued(Valued {
                value: sum(hs.iter().filter_map(|h| h.valuation.value()))?,
                ..first.clone()
            }),
            None => Valuation::Missing,
        };
        let dust = is_dust(amount, &valuation);
        assets.push(AssetTotal { asset: (*asset).to_owned(), amount, valuation, allocation_pct: None, dust });
    }
    let shares = allocation(&assets.iter().map(|a| a.valuation.value()).collect::<Vec<_>>(), total)?;
    for (a, share) in assets.iter_mut().zip(shares) {
        a.allocation_pct = share;
    }

    let mut by_exchange: BTreeMap<&str, Vec<&Holding>> = BTreeMap::new();
    for h in &holdings {
        by_exchange.entry(h.exchange.as_str()).or_default().push(h);
    }
    let mut exchanges = Vec::new();
    for (exchange, hs) in &by_exchange {
        let value = sum(hs.iter().filter_map(|h| h.valuation.value()))?;
        let (missing, stale) = (counts(hs, Status::Missing), counts(hs, Status::Stale));
        exchanges.push(ExchangeTotal { exchange: (*exchange).to_owned(), value, missing, stale, allocation_pct: None });
    }
    let shares = allocation(&exchanges.iter().map(|e| Some(e.value)).collect::<Vec<_>>(), total)?;
    for (e, share) in exchanges.iter_mut().zip(shares) {
        e.allocation_pct = share;
    }

    let (missing, stale) = (counts(&all, Status::Missing), counts(&all, Status::Stale));
    holdings.sort_by(|a, b| {
        by_value(&a.valuation, &b.valuation).then_with(|| (&a.asset, &a.exchange).cmp(&(&b.asset, &b.exchange)))
    });
    assets.sort_by(|a, b| by_value(&a.valuation, &b.valuation).then_with(|| a.asset.cmp(&b.asset)));
    exchanges.sort_by(|a, b| b.value.cmp(&a.value).then_with(|| a.exchange.cmp(&b.exchange)));
    Ok(Portfolio { target: pricing.target.clone(), total, missing, stale, holdings, assets, exchanges })
}

/// Largest value first, missing last.
fn by_value(a: &Valuation, b: &Valuation) -> std::cmp::Ordering {
    // `Option`'s order puts `None` first, so reversing it puts missing last.
    b.value().cmp(&a.value())
}

/// Shares of `total` in percent, 2 places, by the largest-remainder method: each share is
/// truncated to 0.01, then the hundredths still missing from 100.00 go one each to the
/// largest truncated remainders (ties: the earlier entry). `None` for a missing value or a
/// zero total.
fn allocation(values: &[Option<Decimal>], total: Decimal) -> Result<Vec<Option<Decimal>>, Error> {
    if total <= Decimal::ZERO {
        return Ok(vec![None; values.len()]);
    }
    let hundredth = Decimal::new(1, 2);
    let mut floors = Vec::with_capacity(values.len());
    let mut remainders = Vec::new();
    for (i, v) in values.iter().enumerate() {
        let Some(v) = v else {
            floors.push(None);
            continue;
        };
        let exact = mul(div(*v, total)?, Decimal::ONE_HUNDRED)?;
        let floor = exact.trunc_with_scale(2);
        remainders.push((sub(exact, floor)?, i));
        floors.push(Some(floor));
    }
    let shown = sum(floors.iter().flatten().copied())?;
    // Division rounds at 28 digits, so `shown` is within n hundredths below 100.
    let short = sub(Decimal::ONE_HUNDRED, shown)?;
    let mut units = div(short, hundredth)?.trunc().try_into().unwrap_or(0usize).min(remainders.len());
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for &(_, i) in &remainders {
        if units == 0 {
            break;
        }
        if let Some(Some(f)) = floors.get_mut(i) {
            *f = add(*f, hundredth)?;
            units -= 1;
        }
    }
    Ok(floors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::price::Quote;
    use proptest::prelude::*;

    fn d(s: &str) -> Decimal {
        parse_amount(s).expect(s)
    }

    fn bal(exchange: &str, asset: &str, free: &str, locked: &str) -> Balance {
        Balance::from_free_locked(exchange, asset, free, locked).expect("balance")
    }

    fn q(base: &str, quote: &str, price: &str, as_of_ms: i64) -> Quote {
        Quote { base: base.into(), quote: quote.into(), price: d(price), as_of_ms, source: "x".into() }
    }

    #[test]
    fn hand_worked_portfolio() {
        let now = 1_000_000;
        let pricing = Pricing::usd(now, 60_000);
        let book = PriceBook::new([
            q("BTC", "USD", "60000", now),
            q("ETH", "USD", "3000", now - 120_000), // two minutes old: stale
            q("USDT", "USD", "1.0000", now),
        ])
        .expect("book");
        let balances = [
            bal("binance", "BTC", "0.1", "0.05"),      // 0.15 × 60000 = 9000
            bal("kraken", "BTC", "0.05", "0"),         // 0.05 × 60000 = 3000
            bal("binance", "ETH", "1", "0"),           // 1 × 3000 = 3000, stale
            bal("binance", "USDT", "2999.99", "0.01"), // 3000 × 1 = 3000
            bal("kraken", "USD", "0.5", "0"),          // 0.5, dust below 1
            bal("kraken", "PEPE", "1000", "0"),        // no price: missing, not zero
            bal("kraken", "DOGE", "0", "0"),           // zero: kept, dust, not counted missing
        ];
        let p = value_portfolio(&balances, &book, &pricing, d("1")).expect("portfolio");
        // Total: 9000 + 3000 + 3000 + 3000 + 0.5 = 18000.5; PEPE and DOGE have no value.
        assert_eq!(p.total, d("18000.5"));
        assert_eq!((p.missing, p.stale, p.is_complete()), (1, 1, false));
        let assets: Vec<_> =
            p.assets.iter().map(|a| (a.asset.as_str(), a.valuation.value(), a.allocation_pct)).collect();
        // BTC 12000 / 18000.5 × 100 = 66.6648…, ETH and USDT 3000 / 18000.5 × 100 = 16.6662…
        // each, USD 0.5 / 18000.5 × 100 = 0.0027…; truncated: 66.66 + 16.66 + 16.66 + 0.00
        // = 99.98. The two hundredths left go to the largest remainders (ETH and USDT .62
        // of a hundredth, then BTC .48, USD .28), so the shares shown add to 100.00.
        assert_eq!(
            assets,
            vec![
                ("BTC", Some(d("12000")), Some(d("66.66"))),
                ("ETH", Some(d("3000")), Some(d("16.67"))),
                ("USDT", Some(d("3000")), Some(d("16.67"))),
                ("USD", Some(d("0.5")), Some(d("0.00"))),
                ("DOGE", None, None),
                ("PEPE", None, None),
            ]
        );
        assert_eq!(p.assets.iter().find(|a| a.asset == "ETH").map(|a| a.valuation.status()), Some(Status::Stale));
        assert!(p.assets.iter().filter(|a| a.dust).map(|a| a.asset.as_str()).eq(["USD", "DOGE"]));
        // Per exchange: binance 9000 + 3000 + 3000 = 15000 (83.33%); kraken 3000.5 (16.67%).
        let ex: Vec<_> =
            p.exchanges.iter().map(|e| (e.exchange.as_str(), e.value, e.missing, e.stale, e.allocation_pct)).collect();
        assert_eq!(
            ex,
            vec![("binance", d("15000"), 0, 1, Some(d("83.33"))), ("kraken", d("3000.5"), 1, 0, Some(d("16.67")))]
        );
        // Holdings: largest first, missing last.
        assert_eq!(p.holdings.first().map(|h| (h.exchange.as_str(), h.asset.as_str())), Some(("binance", "BTC")));
        assert_eq!(p.holdings.last().map(|h| h.valuation.status()), Some(Status::Missing));
    }

    #[test]
    fn nothing_valued_means_no_allocation() {
        let book = PriceBook::new([]).expect("book");
        let p = value_portfolio(&[bal("a", "PEPE", "1", "0")], &book, &Pricing::usd(0, 1), Decimal::ZERO).expect("p");
        assert_eq!((p.total, p.missing, p.assets[0].allocation_pct), (Decimal::ZERO, 1, None));
        assert_eq!(p.exchanges[0].allocation_pct, None);
    }

    #[test]
    fn bad_balance_strings_are_refused() {
        assert!(matches!(Balance::from_free_locked("a", "BTC", "1e3", "0"), Err(Error::Amount(_))));
        assert!(matches!(Balance::from_free_locked("a", "BTC", "1", "-1"), Err(Error::Amount(_))));
    }

    proptest! {
        #[test]
        fn allocation_adds_up_to_100(values in proptest::collection::vec(proptest::option::of(0u64..10_000_000_000u64), 1..30), scale in 0u32..12) {
            let values: Vec<Option<Decimal>> = values.into_iter().map(|v| v.map(|v| Decimal::from(v) / Decimal::from(10u64.pow(scale)))).collect();
            let total = sum(values.iter().flatten().copied()).expect("sum");
            let shares = allocation(&values, total).expect("allocation");
            if total.is_zero() {
                prop_assert!(shares.iter().all(Option::is_none));
            } else {
                prop_assert_eq!(sum(shares.iter().flatten().copied()).expect("sum"), Decimal::ONE_HUNDRED);
                for (v, s) in values.iter().zip(&shares) {
                    prop_assert_eq!(v.is_some(), s.is_some());
                    // Each share is within one hundredth of the exact share.
                    if let (Some(v), Some(s)) = (v, s) {
                        let exact = *v / total * Decimal::ONE_HUNDRED;
                        prop_assert!((exact - s).abs() < Decimal::new(1, 2), "{} vs {}", exact, s);
                    }
                }
            }
        }
    }
}
