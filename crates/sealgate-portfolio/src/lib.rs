//! Portfolio valuation for Sealgate: what the user's balances are worth, how that changes
//! day by day, and the cost basis and realised gain of the imported trades. Pure: no I/O,
//! no async, no store or server types; the caller brings balances, quotes, trades and the
//! clock.
//!
//! # Numbers
//! Every amount is a [`Decimal`] (rust_decimal: 96-bit mantissa, up to 28 fractional
//! digits), never a float. Strings from exchanges go through [`parse_amount`] (strict: no
//! sign, exponent, `NaN`, `_` or spaces; at most [`AMOUNT_MAX_CHARS`] characters; refused
//! when not exactly representable). Every operation is checked: overflow is
//! [`Error::Arithmetic`], never a panic or a wrap. Sums and products of exchange amounts
//! are exact; a quotient (an inverse pair, a partial lot, a percentage) is rounded at the
//! 28th significant digit.
//!
//! # Prices ([`PriceBook`], [`Valuation`])
//! A quote says 1 `base` costs `price` `quote` at `as_of_ms` on an exchange. An asset
//! reaches the target currency (default [`DEFAULT_TARGET`], USD) by a direct pair, the
//! inverse pair, or through ONE bridge asset (`ETH/USDT` then `USDT/USD`). **No asset is
//! assumed equal to another**: USDT is worth a USD only if a USDT/USD quote says so, and
//! without one every USDT route is missing. The freshest route wins (a route is as old as
//! its oldest quote). A value whose route is older than `stale_after_ms` is still shown,
//! flagged stale with its age; no route is [`Valuation::Missing`], which has no number, so
//! it cannot be mistaken for zero. The target itself is worth 1, exactly and never stale.
//!
//! # Portfolio ([`value_portfolio`])
//! Balances (exchange label, asset, free + locked) are valued per holding, summed per asset
//! and per exchange, and sorted by value (largest first, missing last). The total counts
//! every valued holding, stale ones included; it is *complete* only when no non-zero
//! holding is missing or stale, and the counts say how many are. Allocation counts valued
//! holdings only: shares are rounded to 2 places by the largest-remainder method, so they
//! add up to exactly 100.00. Zero and dust holdings are kept and flagged.
//!
//! # Cost basis ([`fifo_cost_basis`]): FIFO, pooled per user
//! Lots are pooled per asset across **all** the user's exchanges ("universal" FIFO, the
//! Koinly and CoinTracker default): a sale on one exchange consumes the oldest lot of that
//! asset bought anywhere. Trades are ordered by time, then trade id (stable). Both sides
//! of a trade are tracked: the quote is an asset like any other unless it *is* the target
//! currency. Stablecoins are crypto assets here (spending USDT disposes of USDT lots, at
//! USDT's rate, not at 1), as in the price book.
//! - A buy adds a base lot: quantity `qty` (minus a fee paid in the base asset), cost
//!   `qty × price` in the quote asset (plus a fee paid in it), converted to the target by
//!   the caller's `rate(asset, time_ms)` at the trade's time (no conversion when the quote
//!   is the target), plus a fee in a third asset valued the same way.
//! - A sale disposes of `qty` (plus a fee paid in the base asset) for proceeds
//!   `qty × price` (minus a fee paid in the quote asset, minus a third-asset fee), takes the
//!   oldest lots first (a partial lot gives up `cost × taken / qty`) and realises
//!   `proceeds - cost of the lots taken`.
//! - The quote side, when the quote is not the target: a buy also disposes of the quote
//!   spent, `qty × price` plus a fee paid in the quote asset, for proceeds equal to that
//!   amount's value at the trade's time (the value of what was received: the base lot's
//!   cost before a third-asset fee). A sale also adds a quote lot of what it brought in,
//!   `qty × price` minus a fee paid in the quote asset, costing that amount's value at the
//!   trade's time (the sale's proceeds before a third-asset fee). So a quote-asset fee is
//!   carried by the base side's figures (a buy's cost, a sale's proceeds), and only its
//!   quantity by the quote side: it is never deducted twice. A sale whose quote-asset fee
//!   exceeds `qty × price` is refused (it would be a negative lot).
//! - A fee in a third asset (BNB) is valued into the base side's figures only; it is not
//!   disposed of from that asset's lots.
//! - Each disposal, base or quote side, is one [`Sale`] (its `asset` says which); a trade
//!   gives at most one.
//! - Unknown is never zero: a missing rate, a fee without an asset, a lot of unknown cost,
//!   or a quantity no lot covers (history that starts after a deposit) makes that sale's
//!   gain unknown, with the reasons ([`Unknown`]); per asset, [`AssetCostBasis`] sums the
//!   known gains and counts the unknown ones. A fee without an asset may have been paid in
//!   the quote, so it also makes the quote side unknown (a quote disposal's gain, a quote
//!   lot's cost).
//!
//! [`CostBasisReport::unrealised`] values what is left at current prices.
//!
//! # Over time ([`Snapshot`], [`history`])
//! One snapshot per UTC day ([`Day`], [`utc_day`]: `YYYY-MM-DD` from ms, no date crate);
//! the series, and the change against exactly 1, 7 and 30 days before the latest
//! (absolute and percent), [`Change::Missing`] when that older snapshot does not exist.
//!
//! # CSV ([`holdings_csv`], [`sales_csv`])
//! RFC 4180 with CRLF records. Cells starting with `=`, `+`, `-`, `@`, tab or CR get a
//! leading `'` so a spreadsheet does not run them, except plain numbers (a loss stays
//! `-60`); see [`escape_cell`]. Missing and unknown figures are empty cells with a status
//! or reason column.
//!
//! ```
//! use sealgate_portfolio::{Balance, PriceBook, Pricing, Quote, Status, parse_amount, value_portfolio};
//! # fn main() -> Result<(), sealgate_portfolio::Error> {
//! let now = 1_700_000_000_000;
//! let book = PriceBook::new([
//!     Quote { base: "ETH".into(), quote: "USDT".into(), price: parse_amount("3000")?, as_of_ms: now, source: "binance".into() },
//!     Quote { base: "USDT".into(), quote: "USD".into(), price: parse_amount("0.999")?, as_of_ms: now, source: "kraken".into() },
//! ])?;
//! let balances = [
//!     Balance::from_free_locked("binance", "ETH", "1.5", "0.5")?,
//!     Balance::from_free_locked("kraken", "PEPE", "1000", "0")?,
//! ];
//! let p = value_portfolio(&balances, &book, &Pricing::usd(now, 300_000), parse_amount("1")?)?;
//! assert_eq!(p.total, parse_amount("5994")?); // 2 ETH × 3000 USDT × 0.999 USD
//! assert_eq!((p.missing, p.is_complete()), (1, false)); // PEPE: no price, not zero
//! assert_eq!(p.assets[1].valuation.status(), Status::Missing);
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod amount;
mod cost;
mod csv;
mod error;
mod portfolio;
mod price;
mod snapshot;

pub use amount::{AMOUNT_MAX_CHARS, parse_amount, parse_signed};
pub use cost::{AssetCostBasis, CostBasisReport, Sale, Side, Trade, Unknown, Unrealised, fifo_cost_basis};
pub use csv::{escape_cell, holdings_csv, sales_csv};
pub use error::{AmountError, Error};
pub use portfolio::{AssetTotal, Balance, ExchangeTotal, Holding, Portfolio, value_portfolio};
pub use price::{DEFAULT_TARGET, Leg, PriceBook, Pricing, Quote, Route, Status, Valuation, Valued};
pub use rust_decimal::Decimal;
pub use snapshot::{Change, Day, History, Point, Snapshot, history, utc_day};
