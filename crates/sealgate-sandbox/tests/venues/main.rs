//! The sandbox's tests, one binary: each exchange's signature, timestamp, nonce, passphrase
//! and permission checks against its documentation, the tickers, the throttle, and the
//! differential reading of orders (what the sandbox executes against what was judged).
//! One binary rather than one per file: each would link the whole sandbox again.

mod common;

mod binance;
mod bitfinex;
mod bitget;
mod bitstamp;
mod bybit;
mod coinbase;
mod coinbase_exchange;
mod deribit;
mod differential;
mod gate;
mod gemini;
mod keys_route;
mod kraken;
mod kucoin;
mod mexc;
mod okx;
mod poloniex;
mod throttle;
mod ticker;
