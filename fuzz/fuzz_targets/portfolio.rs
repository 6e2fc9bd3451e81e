//! Arbitrary text into sealgate-portfolio: the amount parsers, a price book,
//! balances and their valuation, FIFO cost basis, unrealised gains, the daily
//! history and both CSV exports. Any panic is a bug (overflow must be an
//! `Err`), and an unknown gain must say why (never a silent zero).
//!
//! The input is lines of space-separated words (decoded by hand: the fuzz
//! crate has no `arbitrary`); a line that does not read is skipped, and every
//! word also goes through `parse_amount` and `parse_signed`:
//!   q BASE QUOTE PRICE AS_OF_MS            a quote
//!   b EXCHANGE ASSET FREE LOCKED           a balance
//!   t ID EXCHANGE BASE QUOTE buy|sell QTY PRICE FEE [FEE_ASSET] TIME_MS
//!   r ASSET RATE [FROM_MS]                 the cost basis' rate, from that time on
//!   s DAY_MS TOTAL [complete]              a stored snapshot
//!   p NOW_MS STALE_AFTER_MS DUST [TARGET]  the pricing (default: USD, now 0)
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealgate_portfolio::{
    Balance, Day, Decimal, PriceBook, Pricing, Quote, Side, Snapshot, Trade, escape_cell, fifo_cost_basis, history,
    holdings_csv, parse_amount, parse_signed, sales_csv, value_portfolio,
};

/// Bounds the work per input (FIFO is linear, the book's routes quadratic in quotes).
const MAX_ITEMS: usize = 64;

fn num(s: &str) -> Option<Decimal> {
    parse_signed(s).ok()
}

fn ms(s: &str) -> Option<i64> {
    s.parse().ok()
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut quotes = Vec::new();
    let mut balances = Vec::new();
    let mut trades = Vec::new();
    let mut rates: Vec<(String, Decimal, i64)> = Vec::new();
    let mut snapshots = Vec::new();
    let mut pricing = Pricing::usd(0, 60_000);
    let mut dust = Decimal::ZERO;

    for line in text.lines().take(4 * MAX_ITEMS) {
        let w: Vec<&str> = line.split(' ').collect();
        for word in &w {
            let _ = (parse_amount(word), parse_signed(word), escape_cell(word));
        }
        match w.as_slice() {
            ["q", base, quote, price, as_of] if quotes.len() < MAX_ITEMS => {
                if let (Some(price), Some(as_of_ms)) = (num(price), ms(as_of)) {
                    let (base, quote, source) = (base.to_string(), quote.to_string(), "fuzz".to_owned());
                    quotes.push(Quote { base, quote, price, as_of_ms, source });
                }
            }
            ["b", exchange, asset, free, locked] if balances.len() < MAX_ITEMS => {
                if let Ok(b) = Balance::from_free_locked(exchange, asset, free, locked) {
                    balances.push(b);
                }
            }
            ["t", id, exchange, base, quote, side, qty, price, fee, rest @ ..] if trades.len() < MAX_ITEMS => {
                let (fee_asset, time) = match rest {
                    [time] => (None, time),
                    [asset, time] => (Some(asset.to_string()), time),
                    _ => continue,
                };
                let side = match *side {
                    "buy" => Side::Buy,
                    "sell" => Side::Sell,
                    _ => continue,
                };
                if let (Some(qty), Some(price), Some(fee), Some(time_ms)) = (num(qty), num(price), num(fee), ms(time)) {
                    trades.push(Trade {
                        id: id.to_string(),
                        exchange: exchange.to_string(),
                        base: base.to_string(),
                        quote: quote.to_string(),
                        side,
                        qty,
                        price,
                        fee,
                        fee_asset,
                        time_ms,
                    });
                }
            }
            ["r", asset, rate, from @ ..] if rates.len() < MAX_ITEMS => {
                let from = match from {
                    [] => Some(i64::MIN),
                    [t] => ms(t),
                    _ => None,
                };
                if let (Some(rate), Some(from)) = (num(rate), from) {
                    rates.push((asset.to_string(), rate, from));
                }
            }
            ["s", day, total, complete @ ..] if snapshots.len() < MAX_ITEMS => {
                if let (Some(Ok(day)), Some(total)) = (ms(day).map(Day::from_ms), num(total)) {
                    let target = pricing.target.clone();
                    let complete = complete == ["complete"];
                    snapshots.push(Snapshot { day, target, total, assets: Vec::new(), complete });
                }
            }
            ["p", now, stale, d, target @ ..] => {
                if let (Some(now_ms), Some(stale_after_ms), Some(d)) = (ms(now), ms(stale), num(d)) {
                    let target = match target {
                        [t] => t.to_string(),
                        _ => "USD".to_owned(),
                    };
                    pricing = Pricing { target, now_ms, stale_after_ms };
                    dust = d;
                }
            }
            _ => {}
        }
    }

    // A refused book is an error value; the rest still runs on an empty one.
    let book = match PriceBook::new(quotes) {
        Ok(b) => b,
        Err(_) => match PriceBook::new([]) {
            Ok(b) => b,
            Err(e) => panic!("an empty price book is refused: {e}"),
        },
    };
    if let Ok(p) = value_portfolio(&balances, &book, &pricing, dust) {
        let _ = holdings_csv(&p);
        if let Ok(day) = Day::from_ms(pricing.now_ms) {
            snapshots.push(Snapshot::of(day, &p));
        }
    }
    let _ = history(&snapshots);

    // The rate in force at `t`: the latest entry for the asset starting at or before it.
    let rate = |asset: &str, t: i64| {
        rates.iter().filter(|(a, _, from)| a == asset && *from <= t).max_by_key(|(_, _, from)| *from).map(|r| r.1)
    };
    if let Ok(report) = fifo_cost_basis(&trades, &pricing.target, rate) {
        for s in &report.sales {
            assert_eq!(s.gain.is_some(), s.unknown.is_empty(), "a gain is unknown exactly when a reason says why");
            if s.unmatched_qty > Decimal::ZERO {
                assert!(s.cost_basis.is_none(), "an unmatched quantity has no cost basis");
            }
        }
        for a in &report.assets {
            assert!(a.quantity >= Decimal::ZERO, "lots left hold a negative quantity");
            assert_eq!(
                a.cost_basis.is_none(),
                a.unknown_cost_lots > 0,
                "a cost basis is unknown exactly when a lot's is"
            );
        }
        let _ = sales_csv(&report);
        let _ = report.unrealised(&book, &pricing);
    }
});
