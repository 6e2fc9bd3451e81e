//! The venues' public tickers answer each market's price (what market
//! orders fill at), in the documented shapes that
//! `sealgate_exchanges::ticker_price` reads; tests can move the price.

mod common;

use common::{Env, amt};
use sealgate_sandbox::Market;

#[test]
fn each_venue_answers_its_price_and_follows_a_change() {
    let m = |s: &str| Market { symbol: s.into(), base: "B".into(), quote: "Q".into(), price: amt("50000") };
    let env = Env::new(vec![], vec![m("BTCUSDT"), m("XBTUSD"), m("BTC-USDT"), m("BTC-USD")]);
    let read = |id: &str, symbol: &str| -> Result<String, String> {
        let r = sealgate_exchanges::ticker_request(id, symbol).expect("a ticker");
        let (status, body) = env.send(&r.method, &r.path, &r.query, &[], "");
        sealgate_exchanges::ticker_price(id, symbol, body.to_string().as_bytes()).map_err(|e| format!("{status} {e}"))
    };
    for (id, symbol) in [("binance", "BTCUSDT"), ("kraken", "XBTUSD"), ("okx", "BTC-USDT"), ("coinbase", "BTC-USD")] {
        assert_eq!(read(id, symbol).as_deref(), Ok("50000.00000000"), "{id}");
        assert!(env.sb().set_price(symbol, amt("61234.5")));
        assert_eq!(read(id, symbol).as_deref(), Ok("61234.50000000"), "{id}");
        assert!(read(id, "NOPE").is_err(), "{id}: an unknown market has no price");
    }
    assert!(!env.sb().set_price("NOPE", amt("1")));
}
