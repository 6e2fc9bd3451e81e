//! The venues' public tickers answer each market's price (what market
//! orders fill at), in the documented shapes that
//! `sealgate_exchanges::ticker_price` reads; tests can move the price.

use crate::common;

use common::{Env, amt};
use sealgate_sandbox::Market;

/// Every exchange whose ticker `sealgate_exchanges` reads, with the market it asks.
const VENUES: [(&str, &str); 14] = [
    ("binance", "BTCUSDT"),
    ("kraken", "XBTUSD"),
    ("okx", "BTC-USDT"),
    ("coinbase", "BTC-USD"),
    ("bybit", "BTCUSDT"),
    ("bitget", "BTCUSDT"),
    ("kucoin", "BTC-USDT"),
    ("gate", "BTC_USDT"),
    ("mexc", "BTCUSDT"),
    ("poloniex", "BTC_USDT"),
    ("bitfinex", "tBTCUSD"),
    ("gemini", "btcusd"),
    ("bitstamp", "btcusd"),
    ("coinbase-exchange", "BTC-USD"),
];

/// The markets of [`VENUES`] at `price` (Gemini's and Bitstamp's name their currencies).
fn markets(price: &str) -> Vec<Market> {
    let m = |s: &str, base: &str, quote: &str| Market {
        symbol: s.into(),
        base: base.into(),
        quote: quote.into(),
        price: amt(price),
    };
    ["BTCUSDT", "XBTUSD", "BTC-USDT", "BTC-USD", "BTC_USDT", "tBTCUSD"]
        .into_iter()
        .map(|s| m(s, "B", "Q"))
        .chain([m("btcusd", "BTC", "USD")])
        .collect()
}

/// A price or volume as a number (Bitfinex prints JSON numbers, the others decimal text).
fn num(s: &str) -> f64 {
    s.parse().unwrap_or_else(|_| panic!("a decimal: {s}"))
}

#[test]
fn each_venue_answers_its_price_and_follows_a_change() {
    let env = Env::new(vec![], markets("50000"));
    let read = |id: &str, symbol: &str| -> Result<String, String> {
        let r = sealgate_exchanges::ticker_request(id, symbol).ok_or("no ticker request")?;
        let (status, body) = env.send(&r.method, &r.path, &r.query, &[], "");
        sealgate_exchanges::ticker_price(id, symbol, body.to_string().as_bytes()).map_err(|e| format!("{status} {e}"))
    };
    for (id, symbol) in VENUES {
        // Venues share a spelling (BTCUSDT): each starts from the same price.
        assert!(env.sb().set_price(symbol, amt("50000")));
        assert_eq!(read(id, symbol).map(|p| num(&p)), Ok(50000.0), "{id}");
        assert!(env.sb().set_price(symbol, amt("61234.5")));
        assert_eq!(read(id, symbol).map(|p| num(&p)), Ok(61234.5), "{id}");
        assert!(read(id, "NOPE").is_err(), "{id}: an unknown market has no price");
    }
    assert!(!env.sb().set_price("NOPE", amt("1")));
}

#[test]
fn each_venue_answers_its_24h_volume_and_an_illiquid_pair_has_little() {
    let env = Env::new(vec![], markets("2"));
    let read = |id: &str, symbol: &str| -> Result<sealgate_exchanges::MarketStats, String> {
        let r = sealgate_exchanges::market_stats_request(id, symbol).ok_or("no ticker request")?;
        let (status, body) = env.send(&r.method, &r.path, &r.query, &[], "");
        sealgate_exchanges::market_stats(id, symbol, body.to_string().as_bytes()).map_err(|e| format!("{status} {e}"))
    };
    for (id, symbol) in VENUES {
        assert!(env.sb().set_quote_volume(symbol, amt("1000000000")));
        let s = read(id, symbol).expect(id);
        // Bitfinex, Bitstamp and Coinbase Exchange state the volume in base units: × price.
        assert!(s.last_price == 2.0 && (s.quote_volume_24h - 1e9).abs() < 1.0, "{id}: a liquid volume: {s:?}");
        assert!(env.sb().set_quote_volume(symbol, amt("12000")));
        let s = read(id, symbol).expect(id);
        assert!(s.last_price == 2.0 && (s.quote_volume_24h - 12_000.0).abs() < 0.01, "{id}: illiquid: {s:?}");
        assert!(read(id, "NOPE").is_err(), "{id}");
    }
    assert!(!env.sb().set_quote_volume("NOPE", amt("1")));
}
