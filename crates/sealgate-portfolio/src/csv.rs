//! CSV export (RFC 4180) of holdings and realised-gain rows, safe to open in a spreadsheet.

use std::borrow::Cow;

use rust_decimal::Decimal;

use crate::cost::{CostBasisReport, Unknown};
use crate::portfolio::Portfolio;
use crate::price::Valuation;

/// One cell, ready for a CSV row.
///
/// Formula injection: a cell that starts with `=`, `+`, `-`, `@`, a tab or a CR could be
/// run as a formula by a spreadsheet, so it gets a leading `'` — except a plain number
/// (`-12.5`: an optional `-`, digits, at most one point with digits on both sides), which
/// stays a number. Then RFC 4180 §2: a cell containing `,`, `"`, CR or LF is quoted, and
/// each `"` inside is doubled.
pub fn escape_cell(cell: &str) -> Cow<'_, str> {
    let risky = cell.starts_with(['=', '+', '-', '@', '\t', '\r']) && !is_plain_number(cell);
    let cell: Cow<'_, str> = if risky { Cow::Owned(format!("'{cell}")) } else { Cow::Borrowed(cell) };
    if cell.contains([',', '"', '\r', '\n']) { Cow::Owned(format!("\"{}\"", cell.replace('"', "\"\""))) } else { cell }
}

fn is_plain_number(s: &str) -> bool {
    let body = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = body.split_once('.').unwrap_or((body, "0"));
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    digits(int) && digits(frac)
}

fn row(out: &mut String, cells: &[&str]) {
    for (i, c) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&escape_cell(c));
    }
    // RFC 4180 §2: records end with CRLF.
    out.push_str("\r\n");
}

fn num(d: Decimal) -> String {
    d.normalize().to_string()
}

fn opt(d: Option<Decimal>) -> String {
    d.map(num).unwrap_or_default()
}

/// The holdings of `p`, one row per (exchange, asset), largest value first. A missing
/// price leaves `value` empty with status `missing` (never `0`); a stale one keeps its
/// value with status `stale` and its age.
pub fn holdings_csv(p: &Portfolio) -> String {
    let mut out = String::new();
    row(
        &mut out,
        &["exchange", "asset", "amount", "value", "currency", "status", "as_of_ms", "age_ms", "route", "dust"],
    );
    for h in &p.holdings {
        let (as_of, age, route) = match &h.valuation {
            Valuation::Valued(v) => {
                (v.as_of_ms.map(|t| t.to_string()).unwrap_or_default(), v.age_ms.to_string(), v.route.describe())
            }
            Valuation::Missing => (String::new(), String::new(), String::new()),
        };
        let (amount, value) = (num(h.amount), opt(h.valuation.value()));
        let dust = if h.dust { "yes" } else { "no" };
        let status = h.valuation.status().as_str();
        row(&mut out, &[&h.exchange, &h.asset, &amount, &value, &p.target, status, &as_of, &age, &route, dust]);
    }
    out
}

/// One row per sale, in execution order. Unknown figures are empty cells, and `unknown`
/// says why (`rate:USDT`, `fee_asset`, `lot_cost`, `unmatched`, separated by `;`).
pub fn sales_csv(r: &CostBasisReport) -> String {
    let mut out = String::new();
    row(
        &mut out,
        &[
            "time_ms",
            "trade_id",
            "exchange",
            "asset",
            "qty",
            "proceeds",
            "cost_basis",
            "gain",
            "unmatched_qty",
            "currency",
            "unknown",
        ],
    );
    for s in &r.sales {
        let unknown: Vec<String> = s
            .unknown
            .iter()
            .map(|u| match u {
                Unknown::Rate { asset } => format!("rate:{asset}"),
                Unknown::FeeAsset => "fee_asset".to_owned(),
                Unknown::LotCost => "lot_cost".to_owned(),
                Unknown::Unmatched => "unmatched".to_owned(),
            })
            .collect();
        let cells = [
            s.time_ms.to_string(),
            s.trade_id.clone(),
            s.exchange.clone(),
            s.asset.clone(),
            num(s.qty),
            opt(s.proceeds),
            opt(s.cost_basis),
            opt(s.matched_cost),
            opt(s.gain),
            num(s.unmatched_qty),
            r.target.clone(),
            unknown.join(";"),
        ];
        row(&mut out, &cells.iter().map(String::as_str).collect::<Vec<_>>());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::{Side, Trade, fifo_cost_basis};
    use crate::parse_amount;
    use crate::portfolio::{Balance, value_portfolio};
    use crate::price::{PriceBook, Pricing, Quote};
    use proptest::prelude::*;

    /// A small RFC 4180 reader, independent of the writer: quoted fields with doubled
    /// quotes, records ending in CRLF.
    fn parse(text: &str) -> Vec<Vec<String>> {
        let mut rows = Vec::new();
        let (mut row, mut field) = (Vec::new(), String::new());
        let mut chars = text.chars().peekable();
        let mut quoted = false;
        while let Some(c) = chars.next() {
            match (quoted, c) {
                (true, '"') if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                (true, '"') => quoted = false,
                (true, c) => field.push(c),
                (false, '"') => quoted = true,
                (false, ',') => row.push(std::mem::take(&mut field)),
                (false, '\r') if chars.peek() == Some(&'\n') => {
                    chars.next();
                    row.push(std::mem::take(&mut field));
                    rows.push(std::mem::take(&mut row));
                }
                (false, c) => field.push(c),
            }
        }
        assert!(field.is_empty() && row.is_empty() && !quoted, "unterminated record");
        rows
    }

    fn d(s: &str) -> Decimal {
        parse_amount(s).expect(s)
    }

    #[test]
    fn cells_are_neutralised_and_quoted() {
        assert_eq!(escape_cell("BTC"), "BTC");
        assert_eq!(escape_cell("-12.5"), "-12.5");
        assert_eq!(escape_cell("12"), "12");
        assert_eq!(escape_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(escape_cell("+1"), "'+1");
        assert_eq!(escape_cell("-1e5"), "'-1e5");
        assert_eq!(escape_cell("-"), "'-");
        assert_eq!(escape_cell("-1."), "'-1.");
        assert_eq!(escape_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(escape_cell("\tx"), "'\tx");
        assert_eq!(escape_cell("\rx"), "\"'\rx\"");
        assert_eq!(escape_cell("a,b"), "\"a,b\"");
        assert_eq!(escape_cell("line\nbreak"), "\"line\nbreak\"");
        assert_eq!(escape_cell(""), "");
    }

    #[test]
    fn holdings_and_sales_exports() {
        let book = PriceBook::new([Quote {
            base: "BTC".into(),
            quote: "USD".into(),
            price: d("60000"),
            as_of_ms: 900,
            source: "kraken".into(),
        }])
        .expect("book");
        let balances = [
            Balance { exchange: "=evil".into(), asset: "BTC".into(), amount: d("0.50") },
            Balance { exchange: "kraken".into(), asset: "PEPE".into(), amount: d("7") },
        ];
        let p = value_portfolio(&balances, &book, &Pricing::usd(1000, 60_000), Decimal::ZERO).expect("p");
        let rows = parse(&holdings_csv(&p));
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[1], ["'=evil", "BTC", "0.5", "30000", "USD", "fresh", "900", "100", "BTC/USD@kraken", "no"]);
        // Missing is an empty value and a status, not 0.
        assert_eq!(rows[2], ["kraken", "PEPE", "7", "", "USD", "missing", "", "", "", "no"]);

        let t = |id: &str, side, qty: &str, price: &str| Trade {
            id: id.into(),
            exchange: "ex".into(),
            base: "BTC".into(),
            quote: "USD".into(),
            side,
            qty: d(qty),
            price: d(price),
            fee: Decimal::ZERO,
            fee_asset: None,
            time_ms: 1,
        };
        let trades = [t("a", Side::Buy, "1", "100"), t("b", Side::Sell, "1", "40"), t("c", Side::Sell, "1", "40")];
        let r = fifo_cost_basis(&trades, "USD", |_, _| None).expect("fifo");
        let rows = parse(&sales_csv(&r));
        // A loss is a plain negative number: 40 - 100 = -60.
        assert_eq!(rows[1], ["1", "b", "ex", "BTC", "1", "40", "100", "100", "-60", "0", "USD", ""]);
        assert_eq!(rows[2], ["1", "c", "ex", "BTC", "1", "40", "", "0", "", "1", "USD", "unmatched"]);
    }

    proptest! {
        #[test]
        fn rows_round_trip(cells in proptest::collection::vec("[a-z0-9=+@,\"\\r\\n\\t -]{0,8}|\\PC{0,8}", 1..8)) {
            let mut out = String::new();
            let refs: Vec<&str> = cells.iter().map(String::as_str).collect();
            row(&mut out, &refs);
            let parsed = parse(&out);
            let expected: Vec<String> = cells
                .iter()
                .map(|c| if c.starts_with(['=', '+', '-', '@', '\t', '\r']) && !is_plain_number(c) { format!("'{c}") } else { c.clone() })
                .collect();
            prop_assert_eq!(parsed, vec![expected]);
        }
    }
}
