//! The venues' public tickers answer each market's price (what market
//! orders fill at), in the documented shapes that
//! `sealgate_exchanges::ticker_price` reads; tests can move the price.

mod common;

use common::{Env, amt};
use sealgate_sandbox::Market;

/// Every exchange whose ticker `sealgate_exchanges` reads, with the market it asks.
const VENUES: [(&str, &str); 9] = [
    ("binance", "BTCUSDT"),
    ("kraken", "XBTUSD"),
    ("okx", "BTC-USDT"),
    ("coinbase", "BTC-USD"),
    ("bybit", "BTCUSDT"),
    ("bitget", "BTCUSDT"),
    ("kucoin", "BTC-USDT"),
    ("gate", "BTC_USDT"),
    ("mexc", "BTCUSDT"),
];

#[test]
fn each_venue_answers_its_price_and_follows_a_change() {
    let m = |s: &str| Market { symbol: s.into(), base: "B".into(), quote: "Q".into(), price: amt("50000") };
    let env = Env::new(vec![], vec![m("BTCUSDT"), m("XBTUSD"), m("BTC-USDT"), m("BTC-USD"), m("BTC_USDT")]);
    let read = |id: &str, symbol: &str| -> Result<String, String> {
        let r = sealgate_exchanges::ticker_request(id, symbol).expect("a ticker");
        let (status, body) = env.send(&r.method, &r.path, &r.query, &[], "");
        sealgate_exchanges::ticker_price(id, symbol, body.to_string().as_bytes()).map_err(|e| format!("{status} {e}"))
    };
    for (id, symbol) in VENUES {
        // Venues share a spelling (BTCUSDT): each starts from the same price.
        assert!(env.sb().set_price(symbol, amt("50000")));
        assert_eq!(read(id, symbol).as_deref(), Ok("50000.00000000"), "{id}");
        assert!(env.sb().set_price(symbol, amt("61234.5")));
        assert_eq!(read(id, symbol).as_deref(), Ok("61234.50000000"), "{id}");
        assert!(read(id, "NOPE").is_err(), "{id}: an unknown market has no price");
    }
    assert!(!env.sb().set_price("NOPE", amt("1")));
}

#[test]
fn each_venue_answers_its_24h_volume_and_an_illiquid_pair_has_little() {
    let m = |s: &str| Market { symbol: s.into(), base: "B".into(), quote: "Q".into(), price: amt("2") };
    let env = Env::new(vec![], vec![m("BTCUSDT"), m("XBTUSD"), m("BTC-USDT"), m("BTC-USD"), m("BTC_USDT")]);
    let read = |id: &str, symbol: &str| -> Result<sealgate_exchanges::MarketStats, String> {
        let r = sealgate_exchanges::market_stats_request(id, symbol).expect("a ticker");
        let (status, body) = env.send(&r.method, &r.path, &r.query, &[], "");
        sealgate_exchanges::market_stats(id, symbol, body.to_string().as_bytes()).map_err(|e| format!("{status} {e}"))
    };
    for (id, symbol) in VENUES {
        assert!(env.sb().set_quote_volume(symbol, amt("1000000000")));
        let s = read(id, symbol).expect(id);
        assert_eq!((s.last_price, s.quote_volume_24h), (2.0, 1e9), "{id}: a liquid volume");
        assert!(env.sb().set_quote_volume(symbol, amt("12000")));
        let s = read(id, symbol).expect(id);
        assert_eq!((s.last_price, s.quote_volume_24h), (2.0, 12_000.0), "{id}: illiquid");
        assert!(read(id, "NOPE").is_err(), "{id}");
    }
    assert!(!env.sb().set_quote_volume("NOPE", amt("1")));
}
