//! Portfolio valuation for Sealgate (placeholder docs; see below).

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
