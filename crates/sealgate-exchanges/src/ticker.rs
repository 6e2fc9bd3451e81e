//! Reference prices: each exchange's public ticker, asked for with
//! [`ticker_request`] (an unsigned GET) and read with [`ticker_price`].
//! The signer and the agent value a market order at this price (with the
//! policy's margin), never at a price the caller wrote. Pure: building the
//! request and reading the answer; the fetch is the caller's.
//!
//! | exchange | endpoint | price read |
//! |---|---|---|
//! | binance, mexc | `GET /api/v3/ticker/price?symbol=S` | `price` of the object whose `symbol` is S |
//! | kraken | `GET /0/public/Ticker?pair=P` | `result.<pair>.c[0]` (last trade) of the one pair answered |
//! | okx | `GET /api/v5/market/ticker?instId=I` | `data[0].last` where `data[0].instId` is I |
//! | coinbase | `GET /api/v3/brokerage/market/products/P` | `price` where `product_id` is P |
//!
//! The anomaly detectors also read a market's 24 h quote volume and last
//! trade ([`market_stats_request`], [`market_stats`]):
//!
//! | exchange | endpoint | last, 24 h quote volume |
//! |---|---|---|
//! | binance, mexc | `GET /api/v3/ticker/24hr?symbol=S` ("24hr ticker price change statistics") | `lastPrice`, `quoteVolume` |
//! | kraken | `GET /0/public/Ticker?pair=P` | `c[0]`, `v[1]` × `p[1]` (24 h base volume × its VWAP) |
//! | okx | `GET /api/v5/market/ticker?instId=I` | `last`, `volCcy24h` (quote currency for spot) |
//! | coinbase | `GET /api/v3/brokerage/market/products/P` | `price`, `approximate_quote_24h_volume` |

use serde_json::Value;

use crate::{Error, Request};

/// The public ticker request of `symbol` on exchange `id` (`None`: no
/// ticker known for the exchange, or a symbol that cannot be sent as is).
pub fn ticker_request(id: &str, symbol: &str) -> Option<Request> {
    if symbol.is_empty()
        || symbol.len() > 64
        || !symbol.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return None;
    }
    let r = match id {
        "binance" | "mexc" => Request::new("GET", "/api/v3/ticker/price", &format!("symbol={symbol}"), ""),
        "kraken" => Request::new("GET", "/0/public/Ticker", &format!("pair={symbol}"), ""),
        "okx" => Request::new("GET", "/api/v5/market/ticker", &format!("instId={symbol}"), ""),
        "coinbase" => Request::new("GET", &format!("/api/v3/brokerage/market/products/{symbol}"), "", ""),
        _ => return None,
    };
    r.validate().ok().map(|()| r)
}

/// The reference price of `symbol` in exchange `id`'s ticker answer
/// `body`: a positive plain decimal (`63250.5`), as spelled.
pub fn ticker_price(id: &str, symbol: &str, body: &[u8]) -> Result<String, Error> {
    let v: Value = serde_json::from_slice(body).map_err(|_| Error::BadAnswer("the ticker answer is not JSON"))?;
    let s = |v: &Value, name: &str| v.get(name).and_then(Value::as_str).map(str::to_owned);
    let price = match id {
        "binance" | "mexc" => {
            if s(&v, "symbol").as_deref() != Some(symbol) {
                return Err(Error::BadAnswer("the ticker answers for another symbol"));
            }
            s(&v, "price")
        }
        "kraken" => {
            if v.get("error").and_then(Value::as_array).is_none_or(|e| !e.is_empty()) {
                return Err(Error::BadAnswer("the ticker answer carries an error"));
            }
            // Kraken answers under its own name of the pair (XBTUSD → XXBTZUSD): one pair, asked for one.
            let result = v.get("result").and_then(Value::as_object).ok_or(Error::BadAnswer("no result"))?;
            let mut pairs = result.values();
            match (pairs.next(), pairs.next()) {
                (Some(t), None) => t.get("c").and_then(|c| c.get(0)).and_then(Value::as_str).map(str::to_owned),
                _ => return Err(Error::BadAnswer("the ticker answers for other than one pair")),
            }
        }
        "okx" => {
            if s(&v, "code").as_deref() != Some("0") {
                return Err(Error::BadAnswer("the ticker answer carries an error code"));
            }
            let t = v.get("data").and_then(|d| d.get(0)).ok_or(Error::BadAnswer("no data"))?;
            if s(t, "instId").as_deref() != Some(symbol) {
                return Err(Error::BadAnswer("the ticker answers for another instrument"));
            }
            s(t, "last")
        }
        "coinbase" => {
            if s(&v, "product_id").as_deref() != Some(symbol) {
                return Err(Error::BadAnswer("the ticker answers for another product"));
            }
            s(&v, "price")
        }
        _ => return Err(Error::Unsupported { exchange: "this exchange", what: "a reference price" }),
    };
    let price = price.ok_or(Error::BadAnswer("the ticker answer has no price"))?;
    let plain = {
        let (int, frac) = price.split_once('.').unwrap_or((&price, ""));
        !int.is_empty()
            && int.len() <= 20
            && frac.len() <= 18
            && int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    };
    if !plain || !price.bytes().any(|b| (b'1'..=b'9').contains(&b)) {
        return Err(Error::BadAnswer("the ticker's price is not a positive plain decimal"));
    }
    Ok(price)
}

/// The public request whose answer carries `symbol`'s last trade and 24 h
/// quote volume on exchange `id` (`None` as for [`ticker_request`]).
pub fn market_stats_request(id: &str, symbol: &str) -> Option<Request> {
    match id {
        "binance" | "mexc" => {
            let r = ticker_request(id, symbol)?;
            let r = Request::new("GET", "/api/v3/ticker/24hr", &r.query, "");
            r.validate().ok().map(|()| r)
        }
        _ => ticker_request(id, symbol),
    }
}

/// A market's last trade and 24 h volume, as the exchange states them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MarketStats {
    /// The last trade's price.
    pub last_price: f64,
    /// The volume of the last 24 h, in quote units.
    pub quote_volume_24h: f64,
}

/// A non-negative plain decimal (`1234.5`), as a float: the detectors'
/// thresholds are heuristics, not amounts.
fn plain(v: Option<&Value>) -> Option<f64> {
    let s = v?.as_str()?;
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let ok = !int.is_empty()
        && int.len() <= 24
        && frac.len() <= 18
        && int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit());
    ok.then(|| s.parse::<f64>().ok()).flatten().filter(|x| x.is_finite())
}

/// `symbol`'s last trade and 24 h quote volume in exchange `id`'s answer to
/// [`market_stats_request`]. The answer must name the symbol asked for.
pub fn market_stats(id: &str, symbol: &str, body: &[u8]) -> Result<MarketStats, Error> {
    let v: Value = serde_json::from_slice(body).map_err(|_| Error::BadAnswer("the ticker answer is not JSON"))?;
    let s = |v: &Value, name: &str| v.get(name).and_then(Value::as_str).map(str::to_owned);
    let (last, volume) = match id {
        "binance" | "mexc" => {
            if s(&v, "symbol").as_deref() != Some(symbol) {
                return Err(Error::BadAnswer("the ticker answers for another symbol"));
            }
            (plain(v.get("lastPrice")), plain(v.get("quoteVolume")))
        }
        "kraken" => {
            if v.get("error").and_then(Value::as_array).is_none_or(|e| !e.is_empty()) {
                return Err(Error::BadAnswer("the ticker answer carries an error"));
            }
            let result = v.get("result").and_then(Value::as_object).ok_or(Error::BadAnswer("no result"))?;
            let mut pairs = result.values();
            let t = match (pairs.next(), pairs.next()) {
                (Some(t), None) => t,
                _ => return Err(Error::BadAnswer("the ticker answers for other than one pair")),
            };
            let at = |name: &str, i: usize| plain(t.get(name).and_then(|a| a.get(i)));
            (at("c", 0), at("v", 1).zip(at("p", 1)).map(|(base, vwap)| base * vwap))
        }
        "okx" => {
            if s(&v, "code").as_deref() != Some("0") {
                return Err(Error::BadAnswer("the ticker answer carries an error code"));
            }
            let t = v.get("data").and_then(|d| d.get(0)).ok_or(Error::BadAnswer("no data"))?;
            if s(t, "instId").as_deref() != Some(symbol) {
                return Err(Error::BadAnswer("the ticker answers for another instrument"));
            }
            (plain(t.get("last")), plain(t.get("volCcy24h")))
        }
        "coinbase" => {
            if s(&v, "product_id").as_deref() != Some(symbol) {
                return Err(Error::BadAnswer("the ticker answers for another product"));
            }
            (plain(v.get("price")), plain(v.get("approximate_quote_24h_volume")))
        }
        _ => return Err(Error::Unsupported { exchange: "this exchange", what: "market statistics" }),
    };
    match (last.filter(|p| *p > 0.0), volume.filter(|v| v.is_finite())) {
        (Some(last_price), Some(quote_volume_24h)) => Ok(MarketStats { last_price, quote_volume_24h }),
        _ => Err(Error::BadAnswer("the ticker has no positive last price or no 24 h volume")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests() {
        let r = ticker_request("binance", "BTCUSDT").expect("binance");
        assert_eq!(
            (r.method.as_str(), r.path.as_str(), r.query.as_str()),
            ("GET", "/api/v3/ticker/price", "symbol=BTCUSDT")
        );
        assert_eq!(ticker_request("kraken", "XBTUSD").map(|r| r.query), Some("pair=XBTUSD".into()));
        assert_eq!(ticker_request("okx", "BTC-USDT").map(|r| r.query), Some("instId=BTC-USDT".into()));
        assert_eq!(
            ticker_request("coinbase", "BTC-USD").map(|r| r.path),
            Some("/api/v3/brokerage/market/products/BTC-USD".into())
        );
        for bad in ["", "BTC/USD", "x&symbol=y", "..", "a b"] {
            assert!(ticker_request("coinbase", bad).is_none() && ticker_request("binance", bad).is_none(), "{bad}");
        }
        assert!(ticker_request("gate", "BTC_USDT").is_none());
    }

    #[test]
    fn documented_answers() {
        let p = |id: &str, sym: &str, body: &str| ticker_price(id, sym, body.as_bytes());
        // Binance "Symbol price ticker".
        assert_eq!(p("binance", "LTCBTC", r#"{"symbol":"LTCBTC","price":"4.00000200"}"#), Ok("4.00000200".into()));
        assert!(p("binance", "BTCUSDT", r#"{"symbol":"LTCBTC","price":"4.00000200"}"#).is_err());
        // Kraken "Get Ticker Information": the pair under Kraken's own name.
        let k = r#"{"error":[],"result":{"XXBTZUSD":{"a":["30300.10000","1","1.000"],"b":["30300.00000","1","1.000"],"c":["30303.20000","0.00067643"],"v":["4083.67001100","4412.73601799"]}}}"#;
        assert_eq!(p("kraken", "XBTUSD", k), Ok("30303.20000".into()));
        assert!(p("kraken", "XBTUSD", r#"{"error":["EQuery:Unknown asset pair"]}"#).is_err());
        // OKX "Get ticker".
        let o = r#"{"code":"0","msg":"","data":[{"instType":"SPOT","instId":"BTC-USDT","last":"9999.99","askPx":"9999.99"}]}"#;
        assert_eq!(p("okx", "BTC-USDT", o), Ok("9999.99".into()));
        assert!(p("okx", "ETH-USDT", o).is_err());
        // Coinbase "Get Public Product".
        assert_eq!(p("coinbase", "BTC-USD", r#"{"product_id":"BTC-USD","price":"140.21"}"#), Ok("140.21".into()));
        for bad in [
            r#"{"product_id":"BTC-USD","price":"0"}"#,
            r#"{"product_id":"BTC-USD","price":"1e5"}"#,
            r#"{"product_id":"BTC-USD","price":"-1"}"#,
            "x",
        ] {
            assert!(p("coinbase", "BTC-USD", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn documented_market_stats() {
        let m = |id: &str, sym: &str, body: &str| market_stats(id, sym, body.as_bytes());
        assert_eq!(
            market_stats_request("binance", "BNBBTC").map(|r| (r.path, r.query)),
            Some(("/api/v3/ticker/24hr".into(), "symbol=BNBBTC".into()))
        );
        assert_eq!(market_stats_request("okx", "BTC-USDT").map(|r| r.path), Some("/api/v5/market/ticker".into()));
        assert!(market_stats_request("binance", "x&y=z").is_none());
        // Binance "24hr ticker price change statistics" (documented example, trimmed).
        let b = r#"{"symbol":"BNBBTC","priceChange":"-94.99999800","lastPrice":"4.00000200","volume":"8913.30000000","quoteVolume":"15.30000000"}"#;
        assert_eq!(m("binance", "BNBBTC", b), Ok(MarketStats { last_price: 4.000002, quote_volume_24h: 15.3 }));
        assert!(m("binance", "BTCUSDT", b).is_err());
        // Kraken: 24 h base volume × 24 h VWAP.
        let k = r#"{"error":[],"result":{"XXBTZUSD":{"c":["30303.20000","0.1"],"v":["4083.67","4412.736"],"p":["30706.77771","30689.13205"]}}}"#;
        let ks = m("kraken", "XBTUSD", k).expect("kraken");
        assert!((ks.quote_volume_24h - 4412.736 * 30689.13205).abs() < 1e-3 && ks.last_price == 30303.2);
        assert!(m("kraken", "XBTUSD", r#"{"error":[],"result":{"X":{"c":["1","1"]}}}"#).is_err());
        // OKX "Get ticker": volCcy24h is in the quote currency for spot.
        let o =
            r#"{"code":"0","data":[{"instId":"BTC-USDT","last":"9999.99","vol24h":"2222","volCcy24h":"2222222.5"}]}"#;
        assert_eq!(m("okx", "BTC-USDT", o), Ok(MarketStats { last_price: 9999.99, quote_volume_24h: 2222222.5 }));
        // Coinbase "Get Public Product".
        let c = r#"{"product_id":"BTC-USD","price":"140.21","approximate_quote_24h_volume":"1908432.1"}"#;
        assert_eq!(m("coinbase", "BTC-USD", c), Ok(MarketStats { last_price: 140.21, quote_volume_24h: 1908432.1 }));
        for bad in [
            r#"{"product_id":"BTC-USD","price":"0","approximate_quote_24h_volume":"1"}"#,
            r#"{"product_id":"BTC-USD","price":"1","approximate_quote_24h_volume":"-1"}"#,
            r#"{"product_id":"BTC-USD","price":"1","approximate_quote_24h_volume":"1e400"}"#,
            r#"{"product_id":"BTC-USD","price":"1"}"#,
        ] {
            assert!(m("coinbase", "BTC-USD", bad).is_err(), "{bad}");
        }
        assert!(m("gate", "BTC_USDT", "{}").is_err());
    }
}
