//! Sealgate's anomaly detectors, pure and deterministic: no I/O, no clock
//! (every call carries its time), so the signer, the desktop agent, the
//! tests and the fuzzers judge the same way.
//!
//! A credential's [`Baseline`] is learnt from its own history: the orders it
//! placed (rate per minute and per hour, notional per hour, the symbols it
//! traded before with their usual sizes, a time-of-day histogram) and its
//! denied withdraw attempts. [`MarketFacts`] come from the exchange's public
//! ticker (24 h quote volume, last price). The detectors, each with a
//! documented default in [`Rules`] and per-credential overrides
//! ([`Rules::with_overrides`]):
//!
//! | rule | fires when | default |
//! |---|---|---|
//! | [`Rule::IlliquidPair`] | a symbol the credential never traded has a 24 h quote volume below the floor, or any order's notional is a large share of the 24 h quote volume | 50 000 quote units; 1 % |
//! | [`Rule::NewSymbolSize`] | a credential with history places an order on a symbol it never traded, larger than its usual sizes | 3 × its largest usual size, at least 1 000; after 20 orders |
//! | [`Rule::PriceDeviation`] | a limit price is far from the last trade, on the side that executes (a buy above, a sell below; both when the side is unknown) | 10 % |
//! | [`Rule::Burst`] | orders in the last minute or hour, or notional in the last hour, far above the credential's own peak, and above a floor (so a new credential is not frozen for normal use) | 4 × peak; floors 20/min, 300/h, 250 000/h |
//! | [`Rule::WithdrawDenials`] | denied withdraw attempts in a window | 3 in 1 h |
//!
//! Off the credential's usual hours (a UTC hour of day in which a credential
//! with at least [`Rules::off_hours_min_orders`] orders never traded), the
//! burst thresholds above the floors are multiplied by
//! [`Rules::off_hours_factor`] (default 0.5).
//!
//! Each detector that fires gives a [`Verdict`]: the rule, the measured
//! values and their thresholds (the evidence the signer writes into the
//! audit chain before it freezes the credential).
//!
//! Notionals are in the order's quote units, summed across markets as the
//! policy's notional cap does: a credential trading markets quoted in very
//! different units (USDT and BTC) should set its own thresholds.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod baseline;
mod detect;
mod error;
mod rules;

pub use baseline::{Baseline, HourBucket, MAX_BASELINE_JSON, SymbolStats};
pub use detect::{
    Evidence, MarketFacts, Order, Rule, Side, Verdict, check_order, check_withdraw_denied, format_number,
};
pub use error::Error;
pub use rules::{MAX_OVERRIDES_JSON, Rules};
