//! The portfolio's value (issue 19 item 4): the owner's imported balances valued at the
//! exchanges' public tickers ([`crate::prices`]) with `sealgate-portfolio`, today's value
//! kept as the day's snapshot, the value over time from those snapshots, and the FIFO
//! cost basis and realised gain of the imported trades.
//!
//! Values are exact decimal strings. A holding without a price is `missing` and left out
//! of the total, which then says it is incomplete; a price older than [`STALE_AFTER`] is
//! `stale`, counted and flagged. Nothing unknown is ever shown as zero.
//!
//! Cost basis: a trade's quote asset is converted to the currency at the trade's time.
//! The only rates known for a past time here are the currency itself (1) and, as an
//! approximation the response names (`approximate_rates`), today's rate of a stablecoin
//! (USDT, USDC, DAI, FDUSD…: a stablecoin's rate moves by fractions of a percent); any
//! other quote asset leaves the sale's gain unknown, and the count of such sales is given.

use std::time::Duration;

use sealgate_portfolio::{
    Balance, Change, CostBasisReport, Day, Decimal, PriceBook, Pricing, Snapshot, Valuation, fifo_cost_basis, history,
    value_portfolio,
};
use sealgate_store::{PortfolioSnapshot, Store, StoreError};

use crate::prices::{PriceFeed, now_ms};

/// A price older than this makes a value stale.
pub const STALE_AFTER: Duration = Duration::from_secs(15 * 60);
/// Days of snapshots read for the value over time.
pub const HISTORY_DAYS: i64 = 365;
/// Most trades read for the cost basis (the newest beyond it are left out, and the
/// response says so).
pub const MAX_TRADES: u32 = 200_000;
/// A holding valued below this (in the currency) is dust: kept and flagged.
const DUST: &str = "0.01";
/// Quote assets whose rate today stands in for the rate at a past trade's time.
const STABLE: &[&str] = &["USDT", "USDC", "DAI", "FDUSD", "BUSD", "TUSD", "USDP", "PYUSD"];

/// Why a valuation failed.
#[derive(Debug, thiserror::Error)]
pub enum ValueError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored amount or a computation was out of range.
    #[error("portfolio value: {0}")]
    Portfolio(#[from] sealgate_portfolio::Error),
    /// The currency is not a currency code.
    #[error("currency must be 2 to 8 capital letters or digits (USD, EUR, USDT)")]
    Currency,
}

/// One asset across exchanges, valued.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct AssetValue {
    /// The asset.
    pub asset: String,
    /// Amount held on every exchange (free + locked).
    pub amount: String,
    /// Its value in the currency; `null` when no price is known.
    pub value: Option<String>,
    /// The price used (value / amount's route), `null` when missing.
    pub price: Option<String>,
    /// `fresh`, `stale` or `missing`.
    pub status: String,
    /// When the oldest quote of its route was read, ms since the epoch.
    pub as_of_ms: Option<i64>,
    /// The route, e.g. `ETH→USDT (binance) → USD (kraken)`.
    pub route: Option<String>,
    /// Share of the total in percent (2 places); `null` when missing.
    pub allocation_pct: Option<String>,
    /// Zero, or worth less than 0.01.
    pub dust: bool,
}

/// One exchange's holdings, valued.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ExchangeValue {
    /// The exchange.
    pub exchange: String,
    /// The sum of its valued holdings.
    pub value: String,
    /// Its non-zero holdings without a price.
    pub missing: usize,
    /// Its holdings valued at a stale price.
    pub stale: usize,
    /// Share of the total in percent (2 places).
    pub allocation_pct: Option<String>,
}

/// The change of the total since an earlier day.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ChangeValue {
    /// `24h`, `7d` or `30d`.
    pub period: String,
    /// The earlier day (`YYYY-MM-DD`); `null` when there is no snapshot that day.
    pub since: Option<String>,
    /// Total now minus total then; `null` when unknown.
    pub absolute: Option<String>,
    /// In percent (2 places); `null` when unknown or the earlier total was 0.
    pub percent: Option<String>,
    /// Both totals were complete.
    pub complete: bool,
}

/// One day of the value over time.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct DayValue {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    /// The day's last total.
    pub total: String,
    /// No holding lacked a price that day.
    pub complete: bool,
}

/// Realised gain of the imported trades (FIFO, every exchange pooled per asset).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct GainsValue {
    /// The sum of the realised gains that are known.
    pub realised: String,
    /// Sales.
    pub sales: usize,
    /// Sales whose gain is unknown (left out of `realised`).
    pub unknown_sales: usize,
    /// Trades whose symbol could not be split into two assets (left out).
    pub unread_trades: usize,
    /// Trades read (at most [`MAX_TRADES`]).
    pub trades: usize,
    /// Stablecoins whose rate today stood in for a past rate.
    pub approximate_rates: Vec<String>,
}

/// The portfolio's value.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct PortfolioValue {
    /// The currency of every value.
    pub currency: String,
    /// When valued, ms since the epoch.
    pub as_of_ms: i64,
    /// The sum of the holdings that have a price (stale ones included).
    pub total: String,
    /// No non-zero holding lacks a price or has a stale one.
    pub complete: bool,
    /// Non-zero holdings without a price.
    pub missing: usize,
    /// Holdings valued at a stale price.
    pub stale: usize,
    /// Per asset, largest value first.
    pub assets: Vec<AssetValue>,
    /// Per exchange, largest value first.
    pub exchanges: Vec<ExchangeValue>,
    /// Changes over 24 h, 7 d and 30 d.
    pub changes: Vec<ChangeValue>,
    /// The value over time, one point per day with a snapshot, oldest first.
    pub history: Vec<DayValue>,
    /// Realised gain.
    pub gains: GainsValue,
}

/// Checks a currency code.
pub fn check_currency(c: &str) -> Result<(), ValueError> {
    let ok = (2..=8).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if ok { Ok(()) } else { Err(ValueError::Currency) }
}

/// What a valuation computed, for the API and the CSV exports.
pub struct Valued {
    /// The answer.
    pub view: PortfolioValue,
    /// The valued portfolio.
    pub portfolio: sealgate_portfolio::Portfolio,
    /// The cost basis.
    pub gains: CostBasisReport,
}

/// Values `owner`'s portfolio in `currency` now, and keeps it as today's snapshot.
pub async fn value(
    store: &Store,
    feed: Option<&std::sync::Arc<PriceFeed>>,
    owner: &str,
    currency: &str,
) -> Result<Valued, ValueError> {
    check_currency(currency)?;
    let now = now_ms();
    let stored = store.balances(owner).await?;
    let balances = stored
        .iter()
        .map(|b| Balance::from_free_locked(&b.exchange, &b.asset, &b.free, &b.locked))
        .collect::<Result<Vec<_>, _>>()?;
    let held: Vec<(String, String)> = balances.iter().map(|b| (b.asset.clone(), b.exchange.clone())).collect();
    let quotes = match feed {
        Some(feed) if !held.is_empty() => feed.quotes(&held, currency).await,
        _ => Vec::new(),
    };
    let book = PriceBook::new(quotes)?;
    let stale_after_ms = i64::try_from(STALE_AFTER.as_millis()).unwrap_or(i64::MAX);
    let pricing = Pricing { target: currency.to_owned(), now_ms: now, stale_after_ms };
    let dust = sealgate_portfolio::parse_amount(DUST).map_err(sealgate_portfolio::Error::from)?;
    let portfolio = value_portfolio(&balances, &book, &pricing, dust)?;

    // Today's close, then the series.
    let today = Day::from_ms(now)?;
    if !portfolio.holdings.is_empty() {
        let snap = Snapshot::of(today, &portfolio);
        let assets: Vec<(String, Option<String>)> =
            snap.assets.iter().map(|(a, v)| (a.clone(), v.map(|v| v.normalize().to_string()))).collect();
        let row = PortfolioSnapshot {
            day: today.to_string(),
            currency: currency.to_owned(),
            total: snap.total.normalize().to_string(),
            complete: snap.complete,
            assets: serde_json::to_string(&assets).unwrap_or_else(|_| "[]".into()),
            taken_ms: now,
        };
        store.put_portfolio_snapshot(owner, &row).await?;
    }
    let since = Day::from_ms(now.saturating_sub(HISTORY_DAYS * 86_400_000))?;
    let rows = store.portfolio_snapshots(owner, currency, &since.to_string(), 400).await?;
    let mut snapshots = Vec::with_capacity(rows.len());
    for r in &rows {
        // A row that does not read (a writer's edit) is left out of the series, not fatal.
        let (Some(day), Ok(total)) = (parse_day(&r.day), sealgate_portfolio::parse_signed(&r.total)) else {
            tracing::warn!(day = %r.day, "portfolio snapshot unreadable; left out");
            continue;
        };
        snapshots.push(Snapshot { day, target: currency.to_owned(), total, assets: Vec::new(), complete: r.complete });
    }
    let series = history(&snapshots)?;

    let gains = cost_basis(store, owner, currency, &book, &pricing).await?;
    let view = view(&portfolio, &series, &gains, now);
    Ok(Valued { view, portfolio, gains: gains.report })
}

/// `YYYY-MM-DD` back to a [`Day`], through the one RFC 3339 reader (checked by printing
/// it again, so `2025-02-29` is refused rather than read as March 1st).
fn parse_day(s: &str) -> Option<Day> {
    if s.len() != 10 {
        return None;
    }
    let day = Day::from_ms(sealgate_vocab::rfc3339_ms(&format!("{s}T00:00:00Z"))?).ok()?;
    (day.to_string() == s).then_some(day)
}

struct Gains {
    report: CostBasisReport,
    unread: usize,
    trades: usize,
    approximate: Vec<String>,
}

async fn cost_basis(
    store: &Store,
    owner: &str,
    currency: &str,
    book: &PriceBook,
    pricing: &Pricing,
) -> Result<Gains, ValueError> {
    let rows = store.owner_trades(owner, MAX_TRADES).await?;
    let mut trades = Vec::with_capacity(rows.len());
    let mut unread = 0;
    for r in &rows {
        let t = &r.trade;
        let Some((base, quote)) = sealgate_venues::split_symbol(&r.exchange, &t.symbol) else {
            unread += 1;
            continue;
        };
        let parsed = (
            sealgate_portfolio::parse_amount(&t.qty),
            sealgate_portfolio::parse_amount(&t.price),
            sealgate_portfolio::parse_amount(&t.fee),
        );
        let (Ok(qty), Ok(price), Ok(fee)) = parsed else {
            unread += 1;
            continue;
        };
        if qty.is_zero() {
            unread += 1;
            continue;
        }
        trades.push(sealgate_portfolio::Trade {
            id: format!("{}:{}", r.credential_id, t.exchange_trade_id),
            exchange: r.exchange.clone(),
            base,
            quote: quote.clone(),
            side: match t.side {
                sealgate_store::Side::Buy => sealgate_portfolio::Side::Buy,
                sealgate_store::Side::Sell => sealgate_portfolio::Side::Sell,
            },
            qty,
            price,
            fee,
            fee_asset: t.fee_asset.clone().or_else(|| quote_fee(&r.exchange).then(|| quote.clone())),
            time_ms: t.time_ms,
        });
    }
    // Today's stablecoin rates, asked once each.
    let mut rates: Vec<(String, Option<Decimal>)> = Vec::new();
    for asset in STABLE {
        if *asset != currency && trades.iter().any(|t| t.quote == *asset || t.fee_asset.as_deref() == Some(asset)) {
            let one = Decimal::ONE;
            let v = book.value(asset, one, pricing)?;
            rates.push(((*asset).to_owned(), v.value()));
        }
    }
    let approximate: Vec<String> = rates.iter().filter(|(_, r)| r.is_some()).map(|(a, _)| a.clone()).collect();
    let report = fifo_cost_basis(&trades, currency, |asset, _time_ms| {
        rates.iter().find(|(a, _)| a == asset).and_then(|(_, r)| *r)
    })?;
    Ok(Gains { report, unread, trades: rows.len(), approximate })
}

/// Exchanges whose fills name no fee asset because the fee is always in the quote asset:
/// Coinbase Advanced's `commission` (in the quote currency) and Kraken's `fee` ("total fee
/// in quote currency", Kraken's TradesHistory).
fn quote_fee(exchange: &str) -> bool {
    matches!(exchange, "coinbase" | "kraken")
}

fn text(d: Decimal) -> String {
    d.normalize().to_string()
}

fn pct(d: Option<Decimal>) -> Option<String> {
    d.map(|d| format!("{d:.2}"))
}

fn view(p: &sealgate_portfolio::Portfolio, h: &sealgate_portfolio::History, g: &Gains, now: i64) -> PortfolioValue {
    let assets = p
        .assets
        .iter()
        .map(|a| {
            let (value, as_of_ms, route) = match &a.valuation {
                Valuation::Valued(v) => (Some(v.value), v.as_of_ms, Some(v.route.describe())),
                Valuation::Missing => (None, None, None),
            };
            let price = value.and_then(|v| if a.amount.is_zero() { None } else { v.checked_div(a.amount) });
            AssetValue {
                asset: a.asset.clone(),
                amount: text(a.amount),
                value: value.map(text),
                price: price.map(|p| text(p.round_dp(8))),
                status: a.valuation.status().as_str().to_owned(),
                as_of_ms,
                route,
                allocation_pct: pct(a.allocation_pct),
                dust: a.dust,
            }
        })
        .collect();
    let exchanges = p
        .exchanges
        .iter()
        .map(|e| ExchangeValue {
            exchange: e.exchange.clone(),
            value: text(e.value),
            missing: e.missing,
            stale: e.stale,
            allocation_pct: pct(e.allocation_pct),
        })
        .collect();
    let change = |period: &str, c: &Change| match c {
        Change::Known { since, absolute, percent, complete } => ChangeValue {
            period: period.to_owned(),
            since: Some(since.to_string()),
            absolute: Some(text(*absolute)),
            percent: pct(*percent),
            complete: *complete,
        },
        Change::Missing => {
            ChangeValue { period: period.to_owned(), since: None, absolute: None, percent: None, complete: false }
        }
    };
    let realised = g.report.assets.iter().map(|a| a.realised_gain).fold(Decimal::ZERO, |s, x| s.saturating_add(x));
    PortfolioValue {
        currency: p.target.clone(),
        as_of_ms: now,
        total: text(p.total),
        complete: p.is_complete(),
        missing: p.missing,
        stale: p.stale,
        assets,
        exchanges,
        changes: vec![change("24h", &h.change_24h), change("7d", &h.change_7d), change("30d", &h.change_30d)],
        history: h
            .points
            .iter()
            .map(|pt| DayValue { day: pt.day.to_string(), total: text(pt.total), complete: pt.complete })
            .collect(),
        gains: GainsValue {
            realised: text(realised),
            sales: g.report.sales.len(),
            unknown_sales: g.report.sales.iter().filter(|s| s.gain.is_none()).count(),
            unread_trades: g.unread,
            trades: g.trades,
            approximate_rates: g.approximate.clone(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_read_back() {
        for (s, ok) in [
            ("2026-12-06", true),
            ("1970-01-01", true),
            ("2024-02-29", true),
            ("2025-02-29", false),
            ("2026-13-01", false),
            ("26-12-06", false),
            ("2026-12-6", false),
            ("x", false),
        ] {
            assert_eq!(parse_day(s).is_some(), ok, "{s}");
        }
    }

    #[test]
    fn currencies() {
        assert!(check_currency("USD").is_ok());
        assert!(check_currency("USDT").is_ok());
        for bad in ["", "U", "usd", "US D", "ABCDEFGHI", "€"] {
            assert!(check_currency(bad).is_err(), "{bad}");
        }
    }
}
