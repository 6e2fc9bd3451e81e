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
}
