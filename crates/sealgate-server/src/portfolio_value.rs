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

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
/// A cost basis is reused this long while the owner's trades are unchanged (it uses today's
/// stablecoin rates, which the price feed refreshes each minute).
const GAINS_FRESH: Duration = Duration::from_secs(60);
/// … and this long whatever changed: an import adds trades every second while the page asks.
const GAINS_MIN: Duration = Duration::from_secs(5);
/// Today's snapshot is written again when its value changed, or after this long.
const SNAPSHOT_EVERY: Duration = Duration::from_secs(60);
/// (owner, currency) pairs remembered before the oldest are dropped.
const MEMO_MAX: usize = 4096;
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
    gains: Arc<Gains>,
}

impl Valued {
    /// The cost basis.
    pub fn gains(&self) -> &CostBasisReport {
        &self.gains.report
    }
}

/// What recent valuations computed, per (owner, currency), so that a page asking every
/// second while an import runs (or a client polling) neither redoes the FIFO over up to
/// [`MAX_TRADES`] trades nor rewrites today's snapshot each time: the cost basis is reused
/// while the owner's trades are unchanged (up to [`GAINS_FRESH`]) and for [`GAINS_MIN`]
/// whatever changed; the snapshot is written when its value changed or [`SNAPSHOT_EVERY`]
/// passed. Balances and prices are read afresh on every valuation. (A trade an import
/// corrects in place changes no count: its gain is seen within [`GAINS_FRESH`].)
#[derive(Default)]
pub struct Valuations {
    gains: Mutex<HashMap<(String, String), GainsMemo>>,
    written: Mutex<HashMap<(String, String), (Instant, PortfolioSnapshot)>>,
}

struct GainsMemo {
    at: Instant,
    trades: (i64, i64),
    gains: Arc<Gains>,
}

/// Drops the oldest half of `map` when it is full.
fn bound<V>(map: &mut HashMap<(String, String), V>, at: impl Fn(&V) -> Instant) {
    if map.len() >= MEMO_MAX {
        let mut ages: Vec<Instant> = map.values().map(&at).collect();
        ages.sort_unstable();
        let cut = ages[ages.len() / 2];
        map.retain(|_, v| at(v) > cut);
    }
}

impl Valuations {
    /// [`value`], remembering what it may reuse.
    pub async fn value(
        &self,
        store: &Store,
        feed: Option<&Arc<PriceFeed>>,
        owner: &str,
        currency: &str,
    ) -> Result<Valued, ValueError> {
        valuation(store, feed, owner, currency, Some(self)).await
    }

    /// The cost basis, remembered or computed.
    async fn gains(
        &self,
        store: &Store,
        owner: &str,
        currency: &str,
        book: &PriceBook,
        pricing: &Pricing,
    ) -> Result<Arc<Gains>, ValueError> {
        let key = (owner.to_owned(), currency.to_owned());
        let trades = store.owner_trades_mark(owner).await?;
        if let Some(m) = self.gains.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            let age = m.at.elapsed();
            if age < GAINS_MIN || (age < GAINS_FRESH && m.trades == trades) {
                return Ok(m.gains.clone());
            }
        }
        let gains = Arc::new(cost_basis(store, owner, currency, book, pricing).await?);
        let mut memo = self.gains.lock().unwrap_or_else(|e| e.into_inner());
        bound(&mut memo, |m| m.at);
        memo.insert(key, GainsMemo { at: Instant::now(), trades, gains: gains.clone() });
        Ok(gains)
    }

    /// Whether `row` differs from what was last written for (owner, currency), or that is old.
    fn must_write(&self, owner: &str, row: &PortfolioSnapshot) -> bool {
        let key = (owner.to_owned(), row.currency.clone());
        let memo = self.written.lock().unwrap_or_else(|e| e.into_inner());
        !memo.get(&key).is_some_and(|(at, last)| {
            at.elapsed() < SNAPSHOT_EVERY
                && (&last.day, &last.total, last.complete, &last.assets)
                    == (&row.day, &row.total, row.complete, &row.assets)
        })
    }

    fn wrote(&self, owner: &str, row: PortfolioSnapshot) {
        let mut memo = self.written.lock().unwrap_or_else(|e| e.into_inner());
        bound(&mut memo, |(at, _)| *at);
        memo.insert((owner.to_owned(), row.currency.clone()), (Instant::now(), row));
    }
}

/// Values `owner`'s portfolio in `currency` now, and keeps it as today's snapshot.
pub async fn value(
    store: &Store,
    feed: Option<&Arc<PriceFeed>>,
    owner: &str,
    currency: &str,
) -> Result<Valued, ValueError> {
    valuation(store, feed, owner, currency, None).await
}

async fn valuation(
    store: &Store,
    feed: Option<&Arc<PriceFeed>>,
    owner: &str,
    currency: &str,
    memo: Option<&Valuations>,
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
        if memo.is_none_or(|m| m.must_write(owner, &row)) {
            store.put_portfolio_snapshot(owner, &row).await?;
            if let Some(m) = memo {
                m.wrote(owner, row);
            }
        }
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

    let gains = match memo {
        Some(m) => m.gains(store, owner, currency, &book, &pricing).await?,
        None => Arc::new(cost_basis(store, owner, currency, &book, &pricing).await?),
    };
    let view = view(&portfolio, &series, &gains, now);
    Ok(Valued { view, portfolio, gains })
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
