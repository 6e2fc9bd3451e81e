//! Daily snapshots and the value over time.

use std::fmt;

use rust_decimal::{Decimal, RoundingStrategy};

use crate::amount::{div, mul, sub};
use crate::error::Error;
use crate::portfolio::Portfolio;

/// Milliseconds in a day.
const DAY_MS: i64 = 86_400_000;
/// The last millisecond of 9999-12-31 (UTC).
const MAX_MS: i64 = 253_402_300_799_999;

/// A UTC calendar day, 1970-01-01 to 9999-12-31; prints as `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(i64);

impl Day {
    /// The UTC day containing `ms` (ms since the epoch), or [`Error::TimeRange`].
    pub fn from_ms(ms: i64) -> Result<Self, Error> {
        if !(0..=MAX_MS).contains(&ms) {
            return Err(Error::TimeRange);
        }
        Ok(Self(ms / DAY_MS))
    }

    /// Days since 1970-01-01.
    pub fn days_since_epoch(self) -> i64 {
        self.0
    }

    /// (year, month 1–12, day 1–31), by H. Hinnant's `civil_from_days` (proleptic
    /// Gregorian; no date crate needed for one well-known formula).
    pub fn ymd(self) -> (i64, i64, i64) {
        let z = self.0 + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        (yoe + era * 400 + i64::from(m <= 2), m, d)
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.ymd();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

/// The UTC day of `ms` as `YYYY-MM-DD`.
pub fn utc_day(ms: i64) -> Result<String, Error> {
    Day::from_ms(ms).map(|d| d.to_string())
}

/// One day's value of the portfolio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The UTC day.
    pub day: Day,
    /// The currency of the values.
    pub target: String,
    /// The portfolio's total that day (valued holdings only).
    pub total: Decimal,
    /// Per asset: its value, or `None` when its price was missing.
    pub assets: Vec<(String, Option<Decimal>)>,
    /// No holding was missing a price or priced stale.
    pub complete: bool,
}

impl Snapshot {
    /// Snapshot of a valued portfolio, for `day`.
    pub fn of(day: Day, p: &Portfolio) -> Self {
        let assets = p.assets.iter().map(|a| (a.asset.clone(), a.valuation.value())).collect();
        Self { day, target: p.target.clone(), total: p.total, assets, complete: p.is_complete() }
    }
}

/// One point of the value-over-time series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Point {
    /// The day.
    pub day: Day,
    /// The total that day.
    pub total: Decimal,
    /// Whether that day's total was complete.
    pub complete: bool,
}

/// The change from an older snapshot to the latest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Both snapshots exist.
    Known {
        /// The older snapshot's day.
        since: Day,
        /// Latest total minus the older total.
        absolute: Decimal,
        /// `absolute / older × 100`, 2 places (half away from zero); `None` when the older
        /// total is 0.
        percent: Option<Decimal>,
        /// Both totals were complete.
        complete: bool,
    },
    /// No snapshot exactly that many days before the latest (or no snapshot at all).
    Missing,
}

/// The value over time and its recent changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct History {
    /// One point per day with a snapshot, oldest first (gaps stay gaps).
    pub points: Vec<Point>,
    /// Against the day before the latest.
    pub change_24h: Change,
    /// Against 7 days before.
    pub change_7d: Change,
    /// Against 30 days before.
    pub change_30d: Change,
}

/// The series of `snapshots` (any order; for a day given twice, the last one given
/// counts) and the changes over 1, 7 and 30 days, each against the snapshot of exactly
/// that day; a missing older snapshot is [`Change::Missing`], never a zero change. All
/// snapshots must share one target currency ([`Error::TargetMismatch`]).
pub fn history(snapshots: &[Snapshot]) -> Result<History, Error> {
    if snapshots.windows(2).any(|w| w[0].target != w[1].target) {
        return Err(Error::TargetMismatch);
    }
    let mut points: Vec<Point> = Vec::with_capacity(snapshots.len());
    // Stable sort, then keep the last of each day.
    let mut sorted: Vec<&Snapshot> = snapshots.iter().collect();
    sorted.sort_by_key(|s| s.day);
    for s in sorted {
        let p = Point { day: s.day, total: s.total, complete: s.complete };
        match points.last_mut() {
            Some(last) if last.day == s.day => *last = p,
            _ => points.push(p),
        }
    }
    let change = |days: i64| -> Result<Change, Error> {
        let Some(latest) = points.last() else { return Ok(Change::Missing) };
        let since = Day(latest.day.0 - days);
        let Ok(i) = points.binary_search_by_key(&since, |p| p.day) else { return Ok(Change::Missing) };
        let old = points[i];
        let absolute = sub(latest.total, old.total)?;
        let percent = if old.total.is_zero() {
            None
        } else {
            let p = mul(div(absolute, old.total)?, Decimal::ONE_HUNDRED)?;
            Some(p.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero))
        };
        Ok(Change::Known { since, absolute, percent, complete: old.complete && latest.complete })
    };
    let (change_24h, change_7d, change_30d) = (change(1)?, change(7)?, change(30)?);
    Ok(History { points, change_24h, change_7d, change_30d })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_amount;

    fn d(s: &str) -> Decimal {
        parse_amount(s).expect(s)
    }

    fn snap(day: i64, total: &str, complete: bool) -> Snapshot {
        Snapshot { day: Day(day), target: "USD".into(), total: d(total), assets: vec![], complete }
    }

    #[test]
    fn utc_days() {
        assert_eq!(utc_day(0).as_deref(), Ok("1970-01-01"));
        assert_eq!(utc_day(DAY_MS - 1).as_deref(), Ok("1970-01-01"));
        assert_eq!(utc_day(951_782_400_000).as_deref(), Ok("2000-02-29"));
        // 2024-12-31T23:59:59.999Z and the next millisecond.
        assert_eq!(utc_day(1_735_689_599_999).as_deref(), Ok("2024-12-31"));
        assert_eq!(utc_day(1_735_689_600_000).as_deref(), Ok("2025-01-01"));
        assert_eq!(utc_day(MAX_MS).as_deref(), Ok("9999-12-31"));
        assert_eq!(utc_day(MAX_MS + 1), Err(Error::TimeRange));
        assert_eq!(utc_day(-1), Err(Error::TimeRange));
        assert_eq!(utc_day(i64::MIN), Err(Error::TimeRange));
    }

    #[test]
    fn agrees_with_days_from_civil_every_day() {
        // Walk every day from 1970 to 2100 with an independent calendar.
        let (mut y, mut m, mut dd) = (1970, 1, 1);
        for n in 0..47_482 {
            assert_eq!(Day(n).ymd(), (y, m, dd));
            let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
            let len = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][(m - 1) as usize];
            dd += 1;
            if dd > len {
                (dd, m) = (1, m + 1);
                if m > 12 {
                    (m, y) = (1, y + 1);
                }
            }
        }
    }

    #[test]
    fn series_and_changes() {
        let h = history(&[
            snap(100, "1000", true),
            snap(70, "500", true),
            snap(99, "1200", false),
            snap(100, "1100", true), // the same day again: this one counts
        ])
        .expect("history");
        assert_eq!(h.points.iter().map(|p| p.total).collect::<Vec<_>>(), vec![d("500"), d("1200"), d("1100")]);
        // 24 h: 1100 - 1200 = -100; -100 / 1200 = -8.333…% → -8.33; day 99 was incomplete.
        assert_eq!(
            h.change_24h,
            Change::Known { since: Day(99), absolute: -d("100"), percent: Some(-d("8.33")), complete: false }
        );
        // 7 d: no snapshot on day 93.
        assert_eq!(h.change_7d, Change::Missing);
        // 30 d: 1100 - 500 = 600, +120%.
        assert_eq!(
            h.change_30d,
            Change::Known { since: Day(70), absolute: d("600"), percent: Some(d("120")), complete: true }
        );
        let zero = history(&[snap(1, "0", true), snap(2, "5", true)]).expect("history");
        assert!(matches!(zero.change_24h, Change::Known { percent: None, .. }));
        assert_eq!(history(&[]).map(|h| h.change_24h), Ok(Change::Missing));
        let eur = Snapshot { target: "EUR".into(), ..snap(3, "1", true) };
        assert_eq!(history(&[snap(1, "1", true), eur]), Err(Error::TargetMismatch));
    }
}
