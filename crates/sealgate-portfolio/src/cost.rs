//! FIFO cost basis and realised gain from imported trades (the method is in the crate docs).

use std::collections::{BTreeMap, VecDeque};

use rust_decimal::Decimal;

use crate::amount::{add, div, mul, sub};
use crate::error::Error;
use crate::price::{PriceBook, Pricing, Valuation};

/// Side of a trade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// Bought `base` with `quote`.
    Buy,
    /// Sold `base` for `quote`.
    Sell,
}

/// One trade, with the symbol already split into base and quote by the caller (symbols
/// differ per exchange).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trade {
    /// The exchange's trade id (with `time_ms`, the sort key).
    pub id: String,
    /// The exchange or credential label (reported on sale rows).
    pub exchange: String,
    /// The asset bought or sold.
    pub base: String,
    /// The asset paid or received; tracked like `base` unless it is the target currency.
    pub quote: String,
    /// Buy or sell.
    pub side: Side,
    /// Quantity of `base`; must be positive.
    pub qty: Decimal,
    /// `quote` per `base`.
    pub price: Decimal,
    /// The fee, in `fee_asset`.
    pub fee: Decimal,
    /// The fee's asset; `None` with a non-zero fee makes the figures it touches unknown.
    pub fee_asset: Option<String>,
    /// Execution time, ms since the epoch.
    pub time_ms: i64,
}

/// Why a figure is unknown (never zero).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Unknown {
    /// No rate for this asset to the target at the trade's time.
    Rate {
        /// The asset without a rate.
        asset: String,
    },
    /// A non-zero fee without an asset.
    FeeAsset,
    /// A consumed lot's cost is unknown (its buy lacked a rate or a fee asset).
    LotCost,
    /// More was sold than the lots held (history starts after a deposit): the excess has
    /// no known cost basis.
    Unmatched,
}

/// One disposal (a sale of the base, or the quote spent by a buy) and its realised gain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sale {
    /// The trade's id.
    pub trade_id: String,
    /// The trade's exchange.
    pub exchange: String,
    /// The asset disposed of: a sale's base, or a buy's quote (when not the target).
    pub asset: String,
    /// Execution time.
    pub time_ms: i64,
    /// Quantity disposed of: for the base of a sale, the trade's quantity plus a fee paid
    /// in the base; for the quote of a buy, `qty × price` plus a fee paid in the quote.
    pub qty: Decimal,
    /// Proceeds in the target currency, net of fees.
    pub proceeds: Option<Decimal>,
    /// Cost of the whole quantity disposed of; `None` when part is unmatched or a lot's
    /// cost is unknown (never a zero cost for what no lot covered).
    pub cost_basis: Option<Decimal>,
    /// Cost of the lots consumed (the matched quantity only; `None` if one is unknown).
    pub matched_cost: Option<Decimal>,
    /// The part of `qty` no lot covered.
    pub unmatched_qty: Decimal,
    /// `proceeds - cost_basis`, when nothing is unknown.
    pub gain: Option<Decimal>,
    /// Why `gain` is unknown, if it is (sorted, no repeats).
    pub unknown: Vec<Unknown>,
}

/// One asset's position after every trade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetCostBasis {
    /// The asset.
    pub asset: String,
    /// Quantity left in lots: acquired (bought, or received as a sale's quote) minus
    /// disposed of (sold, or spent as a buy's quote) minus fees paid in it.
    pub quantity: Decimal,
    /// Cost of the lots left; `None` if any of them has an unknown cost.
    pub cost_basis: Option<Decimal>,
    /// Lots left whose cost is unknown.
    pub unknown_cost_lots: usize,
    /// Sum of the known realised gains.
    pub realised_gain: Decimal,
    /// Sales whose gain is unknown (left out of `realised_gain`).
    pub unknown_gain_sales: usize,
    /// Quantity sold beyond the lots, over all sales.
    pub unmatched_qty: Decimal,
}

/// FIFO results: per asset, then per sale in execution order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CostBasisReport {
    /// The currency of every cost and gain.
    pub target: String,
    /// Per asset, by name.
    pub assets: Vec<AssetCostBasis>,
    /// Per sale, in execution order.
    pub sales: Vec<Sale>,
}

/// An asset's unrealised gain at current prices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unrealised {
    /// The asset.
    pub asset: String,
    /// The value of the quantity left (may be stale or missing).
    pub value: Valuation,
    /// `value - cost_basis`, when both are known.
    pub gain: Option<Decimal>,
}

#[derive(Debug)]
struct Lot {
    qty: Decimal,
    cost: Option<Decimal>,
}

#[derive(Debug, Default)]
struct Position {
    lots: VecDeque<Lot>,
    realised_gain: Decimal,
    unknown_gain_sales: usize,
    unmatched_qty: Decimal,
}

/// FIFO cost basis over `trades`, pooled per asset across all the user's exchanges.
///
/// `rate(asset, time_ms)` is the price of one `asset` in `target` at that time; it is not
/// asked for `target` itself. Trades are sorted stably by time, then id. Refused
/// ([`Error::Trade`], with the input position): a quantity that is not positive, an empty
/// or equal base and quote, an empty fee asset, a base-asset fee larger than a buy, a
/// quote-asset fee larger than a sale's `qty × price` when the quote is held (not the target).
pub fn fifo_cost_basis<R>(trades: &[Trade], target: &str, rate: R) -> Result<CostBasisReport, Error>
where
    R: Fn(&str, i64) -> Option<Decimal>,
{
    let mut order: Vec<usize> = (0..trades.len()).collect();
    order.sort_by(|&a, &b| (trades[a].time_ms, &trades[a].id).cmp(&(trades[b].time_ms, &trades[b].id)));
    // The value of `amount` of `asset` in the target at `t`, or the reason it is unknown.
    let to_target = |asset: &str, amount: Decimal, t: i64| -> Result<Result<Decimal, Unknown>, Error> {
        if asset == target {
            return Ok(Ok(amount));
        }
        match rate(asset, t).filter(|r| *r > Decimal::ZERO) {
            Some(r) => Ok(Ok(mul(amount, r)?)),
            None => Ok(Err(Unknown::Rate { asset: asset.to_owned() })),
        }
    };

    let mut positions: BTreeMap<String, Position> = BTreeMap::new();
    let mut sales = Vec::new();
    for index in order {
        let t = &trades[index];
        check(t).map_err(|reason| Error::Trade { index, reason })?;
        let fee_in = |asset: &str| if t.fee_asset.as_deref() == Some(asset) { t.fee } else { Decimal::ZERO };
        let gross = mul(t.qty, t.price)?;
        // The fee when it is neither base nor quote: valued in the target at the trade's time.
        let other_fee = match t.fee_asset.as_deref() {
            _ if t.fee.is_zero() => Ok(Decimal::ZERO),
            None => Err(Unknown::FeeAsset),
            Some(a) if a == t.base || a == t.quote => Ok(Decimal::ZERO),
            Some(a) => to_target(a, t.fee, t.time_ms)?,
        };
        // The quote is an asset held like any other (stablecoins included), unless it is the
        // target itself. A fee of unknown asset may have been paid in it, so the quote-side
        // figures are unknown too.
        let quote_held = t.quote != target;
        let quote_fee_unknown = other_fee == Err(Unknown::FeeAsset);
        match t.side {
            Side::Buy => {
                let received = sub(t.qty, fee_in(&t.base))?;
                if received < Decimal::ZERO {
                    return Err(Error::Trade { index, reason: "the fee in the base asset exceeds the quantity" });
                }
                let spent = add(gross, fee_in(&t.quote))?;
                let paid = to_target(&t.quote, spent, t.time_ms)?;
                let cost = match (&paid, &other_fee) {
                    (Ok(p), Ok(f)) => Some(add(*p, *f)?),
                    _ => None,
                };
                let pos = positions.entry(t.base.clone()).or_default();
                if !received.is_zero() {
                    pos.lots.push_back(Lot { qty: received, cost });
                }
                if quote_held && !spent.is_zero() {
                    // Paying with the quote disposes of it for its value then: the base lot's
                    // cost, less a third-asset fee (a cost of the buy, not a proceed).
                    let mut unknown: Vec<Unknown> = paid.clone().err().into_iter().collect();
                    if quote_fee_unknown {
                        unknown.push(Unknown::FeeAsset);
                    }
                    let pos = positions.entry(t.quote.clone()).or_default();
                    sales.push(dispose(pos, t, &t.quote, spent, paid.ok(), unknown)?);
                }
            }
            Side::Sell => {
                let disposed = add(t.qty, fee_in(&t.base))?;
                let net = sub(gross, fee_in(&t.quote))?;
                if quote_held && net < Decimal::ZERO {
                    return Err(Error::Trade { index, reason: "the fee in the quote asset exceeds what was received" });
                }
                let got = to_target(&t.quote, net, t.time_ms)?;
                let (proceeds, unknown) = match (&got, &other_fee) {
                    (Ok(g), Ok(f)) => (Some(sub(*g, *f)?), Vec::new()),
                    (g, f) => (None, g.clone().err().into_iter().chain(f.clone().err()).collect()),
                };
                let pos = positions.entry(t.base.clone()).or_default();
                sales.push(dispose(pos, t, &t.base, disposed, proceeds, unknown)?);
                if quote_held && !net.is_zero() {
                    // What the sale brought in is a new lot, costing its value then.
                    let cost = got.ok().filter(|_| !quote_fee_unknown);
                    positions.entry(t.quote.clone()).or_default().lots.push_back(Lot { qty: net, cost });
                }
            }
        }
    }

    let mut assets = Vec::with_capacity(positions.len());
    for (asset, p) in positions {
        let quantity = p.lots.iter().try_fold(Decimal::ZERO, |s, l| add(s, l.qty))?;
        let cost_basis = p.lots.iter().try_fold(Some(Decimal::ZERO), |s, l| match (s, l.cost) {
            (Some(s), Some(c)) => add(s, c).map(Some),
            _ => Ok(None),
        })?;
        let unknown_cost_lots = p.lots.iter().filter(|l| l.cost.is_none()).count();
        let (realised_gain, unknown_gain_sales, unmatched_qty) =
            (p.realised_gain, p.unknown_gain_sales, p.unmatched_qty);
        assets.push(AssetCostBasis {
            asset,
            quantity,
            cost_basis,
            unknown_cost_lots,
            realised_gain,
            unknown_gain_sales,
            unmatched_qty,
        });
    }
    Ok(CostBasisReport { target: target.to_owned(), assets, sales })
}

/// Dispose of `qty` of `asset` from `pos` (oldest lots first) for `proceeds`, recording the
/// sale. `unknown` holds the reasons `proceeds` is unknown; the lots add theirs.
fn dispose(
    pos: &mut Position,
    t: &Trade,
    asset: &str,
    qty: Decimal,
    proceeds: Option<Decimal>,
    mut unknown: Vec<Unknown>,
) -> Result<Sale, Error> {
    let (matched_cost, unmatched_qty) = consume(&mut pos.lots, qty)?;
    let cost_basis = matched_cost.filter(|_| unmatched_qty.is_zero());
    if matched_cost.is_none() {
        unknown.push(Unknown::LotCost);
    }
    if !unmatched_qty.is_zero() {
        unknown.push(Unknown::Unmatched);
        pos.unmatched_qty = add(pos.unmatched_qty, unmatched_qty)?;
    }
    unknown.sort();
    unknown.dedup();
    let gain = match (proceeds, cost_basis) {
        (Some(p), Some(c)) if unknown.is_empty() => Some(sub(p, c)?),
        _ => None,
    };
    match gain {
        Some(g) => pos.realised_gain = add(pos.realised_gain, g)?,
        None => pos.unknown_gain_sales += 1,
    }
    Ok(Sale {
        trade_id: t.id.clone(),
        exchange: t.exchange.clone(),
        asset: asset.to_owned(),
        time_ms: t.time_ms,
        qty,
        proceeds,
        cost_basis,
        matched_cost,
        unmatched_qty,
        gain,
        unknown,
    })
}

/// Take `qty` from the oldest lots: the cost of what was taken (`None` if any lot taken
/// from has an unknown cost) and the quantity no lot covered.
fn consume(lots: &mut VecDeque<Lot>, qty: Decimal) -> Result<(Option<Decimal>, Decimal), Error> {
    let mut left = qty;
    let mut cost = Some(Decimal::ZERO);
    while left > Decimal::ZERO {
        let Some(lot) = lots.front_mut() else { break };
        let (take, part) = if lot.qty <= left {
            let whole = (lot.qty, lot.cost);
            lots.pop_front();
            whole
        } else {
            // A partial lot keeps `cost - part`, so the lot's costs still add up exactly.
            let part = match lot.cost {
                Some(c) => Some(div(mul(c, left)?, lot.qty)?),
                None => None,
            };
            lot.qty = sub(lot.qty, left)?;
            lot.cost = match (lot.cost, part) {
                (Some(c), Some(p)) => Some(sub(c, p)?),
                _ => None,
            };
            (left, part)
        };
        left = sub(left, take)?;
        cost = match (cost, part) {
            (Some(c), Some(p)) => Some(add(c, p)?),
            _ => None,
        };
    }
    Ok((cost, left))
}

fn check(t: &Trade) -> Result<(), &'static str> {
    if t.qty <= Decimal::ZERO {
        Err("quantity is not positive")
    } else if t.price < Decimal::ZERO || t.fee < Decimal::ZERO {
        Err("negative price or fee")
    } else if t.base.is_empty() || t.quote.is_empty() || t.base == t.quote {
        Err("base and quote must be two named assets")
    } else if t.fee_asset.as_deref() == Some("") {
        Err("empty fee asset")
    } else {
        Ok(())
    }
}

impl CostBasisReport {
    /// Unrealised gain per asset still held: the value of the quantity left at `book`'s
    /// prices minus its cost basis. `pricing.target` must be the report's target.
    pub fn unrealised(&self, book: &PriceBook, pricing: &Pricing) -> Result<Vec<Unrealised>, Error> {
        if pricing.target != self.target {
            return Err(Error::TargetMismatch);
        }
        let mut out = Vec::new();
        for a in self.assets.iter().filter(|a| !a.quantity.is_zero()) {
            let value = book.value(&a.asset, a.quantity, pricing)?;
            let gain = match (value.value(), a.cost_basis) {
                (Some(v), Some(c)) => Some(sub(v, c)?),
                _ => None,
            };
            out.push(Unrealised { asset: a.asset.clone(), value, gain });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_amount;
    use crate::price::Quote;
    use proptest::prelude::*;

    fn d(s: &str) -> Decimal {
        parse_amount(s).expect(s)
    }

    #[allow(clippy::too_many_arguments)]
    fn tr(
        id: &str,
        t: i64,
        base: &str,
        quote: &str,
        side: Side,
        qty: &str,
        price: &str,
        fee: &str,
        fee_asset: Option<&str>,
    ) -> Trade {
        Trade {
            id: id.into(),
            exchange: "ex".into(),
            base: base.into(),
            quote: quote.into(),
            side,
            qty: d(qty),
            price: d(price),
            fee: d(fee),
            fee_asset: fee_asset.map(Into::into),
            time_ms: t,
        }
    }

    /// USDT is 1 USD before t = 1000 and has no rate after; BNB is always 300; nothing else.
    fn rate(asset: &str, t: i64) -> Option<Decimal> {
        match asset {
            "USDT" if t < 1000 => Some(Decimal::ONE),
            "BNB" => Some(Decimal::from(300)),
            _ => None,
        }
    }

    #[test]
    fn hand_worked_fifo() {
        use Side::*;
        let trades = [
            // Given out of order: sorted by time, then id.
            tr("4", 4, "BTC", "USD", Sell, "1.5", "50000", "75", Some("USD")),
            // Lot A: 1 - 0.001 fee = 0.999 BTC for 20000.
            tr("1", 1, "BTC", "USD", Buy, "1", "20000", "0.001", Some("BTC")),
            // Lot B: 1 BTC for 30000 + 30 fee = 30030 USDT × 1 = 30030 USD. USDT is an asset
            // like any other: those 30030 USDT are disposed of for 30030 USD, but no USDT
            // lot covers them (deposited, not bought here): that gain is unknown.
            tr("2", 2, "BTC", "USDT", Buy, "1", "30000", "30", Some("USDT")),
            // Lot C: 0.5 BTC for 20000 + 0.01 BNB × 300 = 20003.
            tr("3", 3, "BTC", "USD", Buy, "0.5", "40000", "0.01", Some("BNB")),
            // Sale 4: proceeds 75000 - 75 = 74925; takes all of A (20000) and 0.501 of B
            // (30030 × 0.501 = 15045.03): gain 74925 - 35045.03 = 39879.97. B keeps 0.499
            // for 30030 - 15045.03 = 14984.97.
            // Sale 5: takes the rest of B (14984.97); no USDT rate at t = 2000: gain unknown.
            // Its 0.499 × 50000 = 24950 USDT are a USDT lot of unknown cost.
            tr("5", 2000, "BTC", "USDT", Sell, "0.499", "50000", "0", None),
            // Sale 6: 1 + 0.001 fee = 1.001 disposed; C covers 0.5 (20003), 0.501 unmatched.
            tr("6", 2001, "BTC", "USD", Sell, "1", "60000", "0.001", Some("BTC")),
            // A fee without an asset: the lot's cost is unknown, and so is the sale's gain.
            tr("e1", 5, "ETH", "USD", Buy, "2", "1000", "1", None),
            tr("e2", 6, "ETH", "USD", Sell, "1", "2000", "0", None),
            // SOL: 10 for 200, held.
            tr("s1", 7, "SOL", "USD", Buy, "10", "20", "0", Some("USD")),
        ];
        let r = fifo_cost_basis(&trades, "USD", rate).expect("fifo");
        let sales: Vec<_> = r
            .sales
            .iter()
            .map(|s| (s.trade_id.as_str(), s.qty, s.proceeds, s.matched_cost, s.unmatched_qty, s.gain))
            .collect();
        assert_eq!(
            sales,
            vec![
                ("2", d("30030"), Some(d("30030")), Some(d("0")), d("30030"), None),
                ("4", d("1.5"), Some(d("74925")), Some(d("35045.03")), d("0"), Some(d("39879.97"))),
                ("e2", d("1"), Some(d("2000")), None, d("0"), None),
                ("5", d("0.499"), None, Some(d("14984.97")), d("0"), None),
                ("6", d("1.001"), Some(d("60000")), Some(d("20003")), d("0.501"), None),
            ]
        );
        assert_eq!(r.sales[0].asset, "USDT");
        assert_eq!(r.sales[0].unknown, vec![Unknown::Unmatched]);
        assert_eq!(r.sales[2].unknown, vec![Unknown::LotCost]);
        assert_eq!(r.sales[3].unknown, vec![Unknown::Rate { asset: "USDT".into() }]);
        assert_eq!(r.sales[4].unknown, vec![Unknown::Unmatched]);
        // The whole cost of sale 6 is unknown: 0.501 BTC had no lot.
        assert_eq!((r.sales[1].cost_basis, r.sales[4].cost_basis), (Some(d("35045.03")), None));

        let btc = &r.assets[0];
        assert_eq!(btc.asset, "BTC");
        assert_eq!((btc.quantity, btc.cost_basis, btc.realised_gain), (d("0"), Some(d("0")), d("39879.97")));
        assert_eq!((btc.unknown_gain_sales, btc.unmatched_qty), (2, d("0.501")));
        let eth = &r.assets[1];
        assert_eq!((eth.quantity, eth.cost_basis, eth.unknown_cost_lots, eth.unknown_gain_sales), (d("1"), None, 1, 1));
        let usdt = &r.assets[3];
        assert_eq!(usdt.asset, "USDT");
        assert_eq!((usdt.quantity, usdt.cost_basis, usdt.unknown_cost_lots), (d("24950"), None, 1));
        assert_eq!((usdt.unknown_gain_sales, usdt.unmatched_qty, usdt.realised_gain), (1, d("30030"), d("0")));

        // Unrealised: SOL 10 × 25 = 250 - 200 = 50; ETH is valued but its cost is unknown;
        // USDT has no price in this book (and no known cost).
        let book = PriceBook::new([
            Quote { base: "SOL".into(), quote: "USD".into(), price: d("25"), as_of_ms: 0, source: "x".into() },
            Quote { base: "ETH".into(), quote: "USD".into(), price: d("2500"), as_of_ms: 0, source: "x".into() },
        ])
        .expect("book");
        let u = r.unrealised(&book, &Pricing::usd(0, 1)).expect("unrealised");
        let u: Vec<_> = u.iter().map(|u| (u.asset.as_str(), u.value.value(), u.gain)).collect();
        assert_eq!(
            u,
            vec![("ETH", Some(d("2500")), None), ("SOL", Some(d("250")), Some(d("50"))), ("USDT", None, None)]
        );
        let eur = Pricing { target: "EUR".into(), now_ms: 0, stale_after_ms: 1 };
        assert_eq!(r.unrealised(&book, &eur), Err(Error::TargetMismatch));
    }

    /// Crypto-to-crypto trades track the quote side: paying with BTC disposes of BTC,
    /// selling for BTC (or USDT) acquires it.
    #[test]
    fn hand_worked_quote_side() {
        use Side::*;
        // BTC is 40000 USD at t = 2 and 50000 at t = 3; USDT is 0.998 USD at t = 4 only.
        let rate = |asset: &str, t: i64| match (asset, t) {
            ("BTC", 2) => Some(d("40000")),
            ("BTC", 3) => Some(d("50000")),
            ("USDT", 4) => Some(d("0.998")),
            _ => None,
        };
        let trades = [
            // BTC lot A: 1 BTC for 20000 USD.
            tr("b1", 1, "BTC", "USD", Buy, "1", "20000", "0", None),
            // 10 ETH for 10 × 0.05 = 0.5 BTC + 0.001 BTC fee = 0.501 BTC × 40000 = 20040 USD:
            // ETH lot 10 for 20040 (the quote fee is a cost of the buy). The 0.501 BTC are
            // disposed of for 20040 against 0.501 of A (20000 × 0.501 = 10020): gain 10020.
            // A keeps 0.499 for 9980.
            tr("x1", 2, "ETH", "BTC", Buy, "10", "0.05", "0.001", Some("BTC")),
            // 4 ETH for 4 × 0.06 = 0.24 BTC - 0.0001 BTC fee = 0.2399 BTC × 50000 = 11995 USD
            // (the quote fee reduces the proceeds), against 20040 × 4 / 10 = 8016: gain 3979.
            // ETH keeps 6 for 12024; BTC lot B: 0.2399 for 11995.
            tr("x2", 3, "ETH", "BTC", Sell, "4", "0.06", "0.0001", Some("BTC")),
            // 1 ETH for 3000 - 3 = 2997 USDT × 0.998 = 2991.006 USD (USDT is not USD) against
            // 12024 / 6 = 2004: gain 987.006. ETH keeps 5 for 10020; USDT lot: 2997 for 2991.006.
            tr("u1", 4, "ETH", "USDT", Sell, "1", "3000", "3", Some("USDT")),
            // 0.11988 BTC for 0.11988 × 25000 = 2997 USDT, with no USDT rate at t = 5: the USDT
            // disposal (cost 2991.006, the whole lot) has unknown proceeds and gain, and BTC
            // lot C (0.11988) has an unknown cost. Unknown, never zero.
            tr("y1", 5, "BTC", "USDT", Buy, "0.11988", "25000", "0", None),
            // 0.6 BTC for 36000 USD: all of A (9980) and 0.101 of B (11995 × 0.101 / 0.2399 =
            // 5050): gain 36000 - 15030 = 20970. B keeps 0.1389 for 6945.
            tr("z1", 6, "BTC", "USD", Sell, "0.6", "60000", "0", None),
        ];
        let r = fifo_cost_basis(&trades, "USD", rate).expect("fifo");
        let sales: Vec<_> = r
            .sales
            .iter()
            .map(|s| (s.trade_id.as_str(), s.asset.as_str(), s.qty, s.proceeds, s.matched_cost, s.gain))
            .collect();
        assert_eq!(
            sales,
            vec![
                ("x1", "BTC", d("0.501"), Some(d("20040")), Some(d("10020")), Some(d("10020"))),
                ("x2", "ETH", d("4"), Some(d("11995")), Some(d("8016")), Some(d("3979"))),
                ("u1", "ETH", d("1"), Some(d("2991.006")), Some(d("2004")), Some(d("987.006"))),
                ("y1", "USDT", d("2997"), None, Some(d("2991.006")), None),
                ("z1", "BTC", d("0.6"), Some(d("36000")), Some(d("15030")), Some(d("20970"))),
            ]
        );
        assert_eq!(r.sales[3].unknown, vec![Unknown::Rate { asset: "USDT".into() }]);
        let assets: Vec<_> = r
            .assets
            .iter()
            .map(|a| {
                (a.asset.as_str(), a.quantity, a.cost_basis, a.unknown_cost_lots, a.realised_gain, a.unknown_gain_sales)
            })
            .collect();
        assert_eq!(
            assets,
            vec![
                // 1 - 0.501 + 0.2399 + 0.11988 - 0.6 = 0.25878: B (6945) and C (unknown).
                ("BTC", d("0.25878"), None, 1, d("30990"), 0),
                ("ETH", d("5"), Some(d("10020")), 0, d("4966.006"), 0),
                ("USDT", d("0"), Some(d("0")), 0, d("0"), 1),
            ]
        );

        // A fee of unknown asset may have been paid in the quote: both sides are unknown.
        let trades = [
            tr("b1", 1, "BTC", "USD", Buy, "1", "20000", "0", None),
            tr("x1", 2, "ETH", "BTC", Buy, "10", "0.05", "0.001", None),
            tr("x2", 3, "ETH", "BTC", Sell, "10", "0.05", "0.001", None),
        ];
        let r = fifo_cost_basis(&trades, "USD", rate).expect("fifo");
        assert_eq!(r.sales[0].unknown, vec![Unknown::FeeAsset]);
        assert_eq!(r.sales[1].unknown, vec![Unknown::FeeAsset, Unknown::LotCost]);
        assert_eq!((r.assets[0].quantity, r.assets[0].cost_basis), (d("1"), None));
    }

    #[test]
    fn refuses_bad_trades() {
        let bad = |t: Trade| fifo_cost_basis(&[t], "USD", |_, _| None).err();
        let ok = tr("1", 1, "BTC", "USD", Side::Buy, "1", "1", "0", None);
        assert!(matches!(bad(Trade { qty: Decimal::ZERO, ..ok.clone() }), Some(Error::Trade { index: 0, .. })));
        assert!(matches!(bad(Trade { quote: "BTC".into(), ..ok.clone() }), Some(Error::Trade { .. })));
        assert!(matches!(bad(Trade { fee_asset: Some(String::new()), ..ok.clone() }), Some(Error::Trade { .. })));
        assert!(matches!(
            bad(Trade { fee: d("2"), fee_asset: Some("BTC".into()), ..ok.clone() }),
            Some(Error::Trade { .. })
        ));
        assert_eq!(bad(Trade { price: Decimal::MAX, qty: d("2"), ..ok.clone() }), Some(Error::Arithmetic));
        // A sale for a held quote cannot bring in less than nothing (1 × 1 - 2 USDT).
        let sell = Trade { quote: "USDT".into(), side: Side::Sell, fee: d("2"), fee_asset: Some("USDT".into()), ..ok };
        assert!(matches!(bad(sell.clone()), Some(Error::Trade { .. })));
        // When the quote is the target, the fee just makes the proceeds negative, as before.
        let r =
            fifo_cost_basis(&[Trade { quote: "USD".into(), fee_asset: Some("USD".into()), ..sell }], "USD", |_, _| {
                None
            });
        assert_eq!(r.map(|r| r.sales[0].proceeds), Ok(Some(-d("1"))));
    }

    /// The pairs generated: BTC/USD, ETH/USD, and BTC/ETH, whose quote is held like any asset.
    const PAIRS: [(&str, &str); 3] = [("BTC", "USD"), ("ETH", "USD"), ("BTC", "ETH")];

    /// ETH in USD, moving with time; BTC is never a quote or a fee asset here.
    fn eth_rate(asset: &str, t: i64) -> Option<Decimal> {
        (asset == "ETH").then(|| Decimal::from(1000 + 7 * t))
    }

    /// (buy?, pair, quantity in hundredths, integer price, fee kind: 0 none, 1 base 1%,
    /// 2 quote: 0.5 USD, or 0.5% of the amount in ETH)
    fn ops() -> impl Strategy<Value = Vec<(bool, usize, i64, i64, u8)>> {
        proptest::collection::vec((any::<bool>(), 0..PAIRS.len(), 1i64..1000, 1i64..1000, 0u8..3), 1..40)
    }

    /// Trades from `ops`, turning any trade the holdings cannot pay for (a sale beyond the
    /// base held, a buy beyond the ETH held) into a buy of the base for USD.
    fn trades(ops: &[(bool, usize, i64, i64, u8)]) -> Vec<Trade> {
        let mut held: BTreeMap<&str, Decimal> = BTreeMap::new();
        let mut out = Vec::new();
        for (i, &(buy, pair, units, price, fee_kind)) in ops.iter().enumerate() {
            let (qty, price) = (Decimal::new(units, 2), Decimal::from(price));
            let base = PAIRS[pair].0;
            // (quote, side, fee, fee asset, change of base held, change of quote held)
            let plan = |quote: &'static str, side: Side| {
                let gross = qty * price;
                let (fee, fee_asset) = match fee_kind {
                    1 => (Decimal::new(units, 4), Some(base)),
                    2 if quote == "USD" => (Decimal::new(5, 1), Some(quote)),
                    2 => (gross * Decimal::new(5, 3), Some(quote)),
                    _ => (Decimal::ZERO, None),
                };
                let fee_in = |a: &str| if fee_asset == Some(a) { fee } else { Decimal::ZERO };
                let (db, dq) = match side {
                    Side::Buy => (qty - fee_in(base), -(gross + fee_in(quote))),
                    Side::Sell => (-(qty + fee_in(base)), gross - fee_in(quote)),
                };
                (quote, side, fee, fee_asset, db, dq)
            };
            let has = |held: &BTreeMap<&str, Decimal>, a: &str, d: Decimal| {
                a == "USD" || held.get(a).copied().unwrap_or_default() + d >= Decimal::ZERO
            };
            let wanted = plan(PAIRS[pair].1, if buy { Side::Buy } else { Side::Sell });
            let (quote, side, fee, fee_asset, db, dq) = if has(&held, base, wanted.4) && has(&held, wanted.0, wanted.5)
            {
                wanted
            } else {
                plan("USD", Side::Buy)
            };
            *held.entry(base).or_default() += db;
            *held.entry(quote).or_default() += dq;
            out.push(Trade {
                id: format!("{i:03}"),
                exchange: "ex".into(),
                base: base.into(),
                quote: quote.into(),
                side,
                qty,
                price,
                fee,
                fee_asset: fee_asset.map(Into::into),
                time_ms: i as i64,
            });
        }
        out
    }

    /// Every trade's flows per asset, in trade order, as the crate docs state them:
    /// (acquired?, quantity, USD value: the cost of an acquisition, the proceeds of a disposal).
    fn flows(trades: &[Trade]) -> BTreeMap<String, Vec<(bool, Decimal, Decimal)>> {
        let mut out: BTreeMap<String, Vec<(bool, Decimal, Decimal)>> = BTreeMap::new();
        for t in trades {
            let fee = |a: &str| if t.fee_asset.as_deref() == Some(a) { t.fee } else { Decimal::ZERO };
            let usd = |amount: Decimal| amount * eth_rate(&t.quote, t.time_ms).unwrap_or(Decimal::ONE);
            let gross = t.qty * t.price;
            let (base, quote) = match t.side {
                Side::Buy => {
                    let spent = gross + fee(&t.quote);
                    ((true, t.qty - fee(&t.base), usd(spent)), (false, spent, usd(spent)))
                }
                Side::Sell => {
                    let got = gross - fee(&t.quote);
                    ((false, t.qty + fee(&t.base), usd(got)), (true, got, usd(got)))
                }
            };
            out.entry(t.base.clone()).or_default().push(base);
            if t.quote != "USD" {
                out.entry(t.quote.clone()).or_default().push(quote);
            }
        }
        out
    }

    /// An independent O(n²) FIFO over one asset's flows: the units acquired form one line;
    /// disposal k owns the segment [disposed before k, disposed through k) of it, and pays
    /// each acquisition's unit cost for its overlap.
    fn naive_gains(flows: &[(bool, Decimal, Decimal)]) -> Vec<Decimal> {
        let lots: Vec<(Decimal, Decimal)> = flows.iter().filter(|f| f.0).map(|f| (f.1, f.2)).collect();
        let mut sold = Decimal::ZERO;
        let mut gains = Vec::new();
        for &(_, qty, proceeds) in flows.iter().filter(|f| !f.0) {
            let (lo, hi) = (sold, sold + qty);
            let mut start = Decimal::ZERO;
            let mut cost = Decimal::ZERO;
            for &(q, c) in &lots {
                let overlap = (hi.min(start + q) - lo.max(start)).max(Decimal::ZERO);
                cost += overlap * c / q;
                start += q;
            }
            gains.push(proceeds - cost);
            sold = hi;
        }
        gains
    }

    proptest! {
        #[test]
        fn fifo_conserves_quantity_and_matches_the_naive_fifo(ops in ops()) {
            let trades = trades(&ops);
            let r = fifo_cost_basis(&trades, "USD", eth_rate).expect("fifo");
            let flows = flows(&trades);
            let names: Vec<&str> = r.assets.iter().map(|a| a.asset.as_str()).collect();
            prop_assert_eq!(names, flows.keys().map(String::as_str).collect::<Vec<_>>());
            let tolerance = Decimal::new(1, 12);
            for (a, flows) in r.assets.iter().zip(flows.values()) {
                let total = |acquired: bool, i: usize| -> Decimal {
                    flows.iter().filter(|f| f.0 == acquired).map(|f| if i == 1 { f.1 } else { f.2 }).sum()
                };
                // Lots left = acquired - disposed, the quote side included (exact: no division).
                prop_assert_eq!(a.quantity, total(true, 1) - total(false, 1), "{}", &a.asset);
                prop_assert_eq!(a.unmatched_qty, Decimal::ZERO);
                prop_assert_eq!(a.unknown_gain_sales, 0);
                let sales: Vec<&Sale> = r.sales.iter().filter(|s| s.asset == a.asset).collect();
                let naive = naive_gains(flows);
                prop_assert_eq!(naive.len(), sales.len());
                for (s, n) in sales.iter().zip(&naive) {
                    let g = s.gain.expect("known gain");
                    prop_assert!((g - n).abs() < tolerance, "{} {} vs {}", &a.asset, g, n);
                }
                // Realised + remaining cost = everything paid - everything received, so nothing
                // is lost or double-counted when lots are split.
                let proceeds: Decimal = sales.iter().filter_map(|s| s.proceeds).sum();
                prop_assert_eq!(proceeds, total(false, 2));
                let cost_left = a.cost_basis.expect("known cost");
                prop_assert!((proceeds - a.realised_gain + cost_left - total(true, 2)).abs() < tolerance);
            }
        }

        #[test]
        fn fifo_never_panics(ops in ops(), price in "[0-9]{1,29}(\\.[0-9]{1,5})?") {
            let mut trades = trades(&ops);
            if let (Some(t), Ok(p)) = (trades.first_mut(), parse_amount(&price)) {
                t.price = p;
            }
            // Any outcome but a panic; an oversell is allowed here.
            let _ = fifo_cost_basis(&trades, "USD", |_, _| Some(Decimal::MAX));
            let mut trades = self::trades(&ops);
            trades.iter_mut().for_each(|t| t.side = Side::Sell);
            let r = fifo_cost_basis(&trades, "USD", |_, _| None).expect("oversell is not an error");
            // No rate: BTC is never bought, and ETH lots (from sales for ETH) have no cost.
            prop_assert!(r.sales.iter().all(|s| s.gain.is_none() && !s.unknown.is_empty()));
        }
    }
}
