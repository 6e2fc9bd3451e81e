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
//! | bybit | `GET /v5/market/tickers?category=spot&symbol=S` ("Get Tickers") | `result.list[0].lastPrice` |
//! | bitget | `GET /api/v2/spot/market/tickers?symbol=S` ("Get Ticker Information") | `data[0].lastPr` |
//! | kucoin | `GET /api/v1/market/stats?symbol=S` ("Get 24hr Stats") | `data.last` |
//! | gate | `GET /api/v4/spot/tickers?currency_pair=S` ("Retrieve ticker information") | `[0].last` |
//! | poloniex | `GET /markets/S/ticker24h` ("Ticker") | `close` where `symbol` is S |
//! | bitfinex | `GET /v2/ticker/tS` ("Ticker") | `LAST_PRICE`, the array's 7th entry |
//! | gemini | `GET /v1/pubticker/s` ("Ticker") | `last` |
//! | bitstamp | `GET /api/v2/ticker/s/` ("Ticker") | `last` |
//! | coinbase-exchange | `GET /products/P/ticker` ("Get product ticker") | `price` |
//!
//! Each answer must name the symbol asked for, once, where the exchange names it
//! (Bitfinex, Gemini, Bitstamp and Coinbase Exchange answer for the market in the path
//! without naming it; Gemini's volume names the two currencies, which must be the pair's,
//! and Bitstamp's `pair`, when present, must be it).
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
//! | bybit, bitget, kucoin, gate | as for the price | `turnover24h`, `quoteVolume`, `volValue`, `quote_volume` |
//! | poloniex | as for the price | `close`, `amount` |
//! | bitfinex | as for the price | `LAST_PRICE`, `VOLUME` (base) × `LAST_PRICE` |
//! | gemini | as for the price | `last`, `volume.<QUOTE>` |
//! | bitstamp | as for the price | `last`, `volume` (base) × `vwap` |
//! | coinbase-exchange | as for the price | `price`, `volume` (base) × `price` |

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
        "bybit" => Request::new("GET", "/v5/market/tickers", &format!("category=spot&symbol={symbol}"), ""),
        "bitget" => Request::new("GET", "/api/v2/spot/market/tickers", &format!("symbol={symbol}"), ""),
        "kucoin" => Request::new("GET", "/api/v1/market/stats", &format!("symbol={symbol}"), ""),
        "gate" => Request::new("GET", "/api/v4/spot/tickers", &format!("currency_pair={symbol}"), ""),
        "poloniex" => Request::new("GET", &format!("/markets/{symbol}/ticker24h"), "", ""),
        "bitfinex" if symbol.starts_with('t') => Request::new("GET", &format!("/v2/ticker/{symbol}"), "", ""),
        "gemini" => Request::new("GET", &format!("/v1/pubticker/{symbol}"), "", ""),
        "bitstamp" => Request::new("GET", &format!("/api/v2/ticker/{symbol}/"), "", ""),
        "coinbase-exchange" => Request::new("GET", &format!("/products/{symbol}/ticker"), "", ""),
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
        "bybit" | "bitget" | "kucoin" | "gate" => s(listed(id, symbol, &v)?, members(id).0),
        "poloniex" | "bitfinex" | "gemini" | "bitstamp" | "coinbase-exchange" => unnamed(id, symbol, &v)?.0,
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
        "bybit" | "bitget" | "kucoin" | "gate" => {
            let t = listed(id, symbol, &v)?;
            let (last, volume) = members(id);
            (plain(t.get(last)), plain(t.get(volume)))
        }
        "poloniex" | "bitfinex" | "gemini" | "bitstamp" | "coinbase-exchange" => {
            let (last, volume) = unnamed(id, symbol, &v)?;
            let text = |t: Option<String>| t.as_deref().map(Value::from);
            (plain(text(last).as_ref()), plain(text(volume).as_ref()))
        }
        _ => return Err(Error::Unsupported { exchange: "this exchange", what: "market statistics" }),
    };
    match (last.filter(|p| *p > 0.0), volume.filter(|v| v.is_finite())) {
        (Some(last_price), Some(quote_volume_24h)) => Ok(MarketStats { last_price, quote_volume_24h }),
        _ => Err(Error::BadAnswer("the ticker has no positive last price or no 24 h volume")),
    }
}

/// A JSON number as a plain decimal (`63250.5`), as Bitfinex prints its prices; an
/// exponent form is not one (the caller refuses it).
fn number_text(v: Option<&Value>) -> Option<String> {
    v.filter(|n| n.is_number()).map(ToString::to_string)
}

/// The product of two plain decimals, as a plain decimal (a 24 h volume in quote units
/// from one in base units and a price: a heuristic's input, not an amount).
fn times(a: Option<String>, b: Option<String>) -> Option<String> {
    let (a, b) = (plain(a.as_deref().map(Value::from).as_ref())?, plain(b.as_deref().map(Value::from).as_ref())?);
    let x = a * b;
    x.is_finite().then(|| format!("{x:.8}"))
}

/// The last price and the 24 h quote volume (as text) of the Poloniex, Bitfinex, Gemini,
/// Bitstamp or Coinbase Exchange ticker answer `v` for `symbol`.
fn unnamed(id: &str, symbol: &str, v: &Value) -> Result<(Option<String>, Option<String>), Error> {
    let s = |v: &Value, name: &str| v.get(name).and_then(Value::as_str).map(str::to_owned);
    Ok(match id {
        "poloniex" => {
            if s(v, "symbol").as_deref() != Some(symbol) {
                return Err(Error::BadAnswer("the ticker answers for another symbol"));
            }
            (s(v, "close"), s(v, "amount"))
        }
        "bitfinex" => {
            // [BID, BID_SIZE, ASK, ASK_SIZE, DAILY_CHANGE, DAILY_CHANGE_RELATIVE, LAST_PRICE,
            // VOLUME, HIGH, LOW]; an error is ["error", CODE, MESSAGE].
            let a =
                v.as_array().filter(|a| a.len() == 10).ok_or(Error::BadAnswer("the ticker is not Bitfinex's array"))?;
            let last = number_text(a.get(6));
            (last.clone(), times(number_text(a.get(7)), last))
        }
        "gemini" => {
            // The volume names the pair's two currencies (`BTC`, `USD`), one of which is
            // the quote the symbol ends with.
            let volume = v.get("volume").and_then(Value::as_object).ok_or(Error::BadAnswer("no volume"))?;
            let names: Vec<String> =
                volume.keys().filter(|k| *k != "timestamp").map(|k| k.to_ascii_lowercase()).collect();
            let quote = names
                .iter()
                .find(|q| symbol.ends_with(q.as_str()) && names.iter().any(|b| format!("{b}{q}") == symbol));
            let Some(quote) = quote else { return Err(Error::BadAnswer("the ticker answers for another pair")) };
            (s(v, "last"), s(&Value::Object(volume.clone()), &quote.to_ascii_uppercase()))
        }
        "bitstamp" => {
            if let Some(pair) = s(v, "pair")
                && pair.replace('/', "").to_ascii_lowercase() != symbol
            {
                return Err(Error::BadAnswer("the ticker answers for another pair"));
            }
            (s(v, "last"), times(s(v, "volume"), s(v, "vwap")))
        }
        _ => (s(v, "price"), times(s(v, "volume"), s(v, "price"))),
    })
}

/// The last price's and the 24 h quote volume's member names in a Bybit, Bitget, KuCoin
/// or Gate ticker object.
fn members(id: &str) -> (&'static str, &'static str) {
    match id {
        "bybit" => ("lastPrice", "turnover24h"),
        "bitget" => ("lastPr", "quoteVolume"),
        "kucoin" => ("last", "volValue"),
        _ => ("last", "quote_volume"),
    }
}

/// The one ticker object of `symbol` in a Bybit ("Get Tickers": `retCode` 0,
/// `result.list[]`), Bitget ("Get Ticker Information": `code` "00000", `data[]`), KuCoin
/// ("Get 24hr Stats": `code` "200000", `data`) or Gate ("Retrieve ticker information": a
/// bare array) answer. It must name the symbol asked for, and be the only one.
fn listed<'a>(id: &str, symbol: &str, v: &'a Value) -> Result<&'a Value, Error> {
    let code = |name: &str| {
        v.get(name).map(|c| c.as_i64().map_or_else(|| c.as_str().map(str::to_owned), |n| Some(n.to_string())))
    };
    let (ok, list, name) = match id {
        "bybit" => (code("retCode") == Some(Some("0".into())), v.get("result").and_then(|r| r.get("list")), "symbol"),
        "bitget" => (code("code") == Some(Some("00000".into())), v.get("data"), "symbol"),
        "kucoin" => (code("code") == Some(Some("200000".into())), v.get("data"), "symbol"),
        _ => (true, Some(v), "currency_pair"),
    };
    if !ok {
        return Err(Error::BadAnswer("the ticker answer carries an error code"));
    }
    let t = match list {
        Some(Value::Array(items)) => match items.as_slice() {
            [one] => one,
            _ => return Err(Error::BadAnswer("the ticker answers for other than one market")),
        },
        Some(one @ Value::Object(_)) => one,
        _ => return Err(Error::BadAnswer("no ticker in the answer")),
    };
    if t.get(name).and_then(Value::as_str) != Some(symbol) {
        return Err(Error::BadAnswer("the ticker answers for another symbol"));
    }
    Ok(t)
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
        assert!(ticker_request("deribit", "BTC-PERPETUAL").is_none());
        assert_eq!(
            ticker_request("bybit", "BTCUSDT").map(|r| (r.path, r.query)),
            Some(("/v5/market/tickers".into(), "category=spot&symbol=BTCUSDT".into()))
        );
        assert_eq!(ticker_request("gate", "BTC_USDT").map(|r| r.query), Some("currency_pair=BTC_USDT".into()));
        assert_eq!(ticker_request("kucoin", "BTC-USDT").map(|r| r.path), Some("/api/v1/market/stats".into()));
        assert_eq!(ticker_request("bitget", "BTCUSDT").map(|r| r.query), Some("symbol=BTCUSDT".into()));
    }

    #[test]
    fn documented_answers_of_bybit_bitget_kucoin_and_gate() {
        let p = |id: &str, sym: &str, body: &str| ticker_price(id, sym, body.as_bytes());
        let m = |id: &str, sym: &str, body: &str| market_stats(id, sym, body.as_bytes());
        // Bybit "Get Tickers" (spot, trimmed).
        let by = r#"{"retCode":0,"retMsg":"OK","result":{"category":"spot","list":[{"symbol":"BTCUSDT","bid1Price":"20517.96","lastPrice":"20533.13","turnover24h":"243555373.12"}]},"time":1673859087947}"#;
        assert_eq!(p("bybit", "BTCUSDT", by), Ok("20533.13".into()));
        assert_eq!(m("bybit", "BTCUSDT", by), Ok(MarketStats { last_price: 20533.13, quote_volume_24h: 243555373.12 }));
        assert!(p("bybit", "ETHUSDT", by).is_err(), "another symbol");
        assert!(p("bybit", "BTCUSDT", r#"{"retCode":10001,"retMsg":"params error","result":{}}"#).is_err());
        // Bitget "Get Ticker Information" (trimmed).
        let bg = r#"{"code":"00000","msg":"success","requestTime":1695808949356,"data":[{"symbol":"BTCUSDT","lastPr":"26347.5","quoteVolume":"75713287.21"}]}"#;
        assert_eq!(p("bitget", "BTCUSDT", bg), Ok("26347.5".into()));
        assert!(p("bitget", "BTCUSDT", r#"{"code":"40034","msg":"Parameter does not exist","data":[]}"#).is_err());
        // Two markets for one asked: which one would be a guess.
        let two = r#"{"code":"00000","data":[{"symbol":"BTCUSDT","lastPr":"1"},{"symbol":"BTCUSDT","lastPr":"2"}]}"#;
        assert!(p("bitget", "BTCUSDT", two).is_err());
        // KuCoin "Get 24hr Stats" (trimmed).
        let kc = r#"{"code":"200000","data":{"time":1602832092060,"symbol":"BTC-USDT","last":"11328.9","volValue":"2333.5"}}"#;
        assert_eq!(p("kucoin", "BTC-USDT", kc), Ok("11328.9".into()));
        assert_eq!(m("kucoin", "BTC-USDT", kc), Ok(MarketStats { last_price: 11328.9, quote_volume_24h: 2333.5 }));
        // Gate "Retrieve ticker information" (trimmed).
        let g = r#"[{"currency_pair":"BTC_USDT","last":"0.2663","quote_volume":"15874.09"}]"#;
        assert_eq!(p("gate", "BTC_USDT", g), Ok("0.2663".into()));
        assert!(p("gate", "ETH_USDT", g).is_err());
        assert!(p("gate", "BTC_USDT", "[]").is_err());
    }

    #[test]
    fn answers_of_poloniex_bitfinex_gemini_bitstamp_and_coinbase_exchange() {
        let p = |id: &str, sym: &str, body: &str| ticker_price(id, sym, body.as_bytes());
        let m = |id: &str, sym: &str, body: &str| market_stats(id, sym, body.as_bytes()).map(|s| s.quote_volume_24h);
        assert_eq!(ticker_request("poloniex", "BTC_USDT").map(|r| r.path), Some("/markets/BTC_USDT/ticker24h".into()));
        assert_eq!(ticker_request("bitfinex", "tBTCUSD").map(|r| r.path), Some("/v2/ticker/tBTCUSD".into()));
        assert!(ticker_request("bitfinex", "fUSD").is_none(), "a funding currency is no market");
        assert_eq!(ticker_request("gemini", "btcusd").map(|r| r.path), Some("/v1/pubticker/btcusd".into()));
        assert_eq!(ticker_request("bitstamp", "btcusd").map(|r| r.path), Some("/api/v2/ticker/btcusd/".into()));
        assert_eq!(
            ticker_request("coinbase-exchange", "BTC-USD").map(|r| r.path),
            Some("/products/BTC-USD/ticker".into())
        );
        // Poloniex "Ticker" (trimmed): the symbol must be the one asked.
        let po = r#"{"symbol":"BTC_USDT","open":"60000","close":"61000.5","quantity":"10","amount":"610005","ts":1}"#;
        assert_eq!(p("poloniex", "BTC_USDT", po), Ok("61000.5".into()));
        assert_eq!(m("poloniex", "BTC_USDT", po), Ok(610005.0));
        assert!(p("poloniex", "ETH_USDT", po).is_err());
        // Bitfinex "Ticker": numbers in a 10-entry array, LAST_PRICE the 7th, VOLUME base.
        let bf = "[10645,73.93854271,10647,75.22266119,731.60645389,0.0738,10644.00645389,14480.89849423,10766,9889.1449809]";
        assert_eq!(p("bitfinex", "tBTCUSD", bf), Ok("10644.00645389".into()));
        let v = m("bitfinex", "tBTCUSD", bf).expect("stats");
        assert!((v - 10644.00645389 * 14480.89849423).abs() < 1.0, "{v}");
        for bad in
            [r#"["error",10020,"symbol: invalid"]"#, "[1,2,3]", "[1,1,1,1,1,1,1e-7,1,1,1]", "[1,1,1,1,1,1,-5,1,1,1]"]
        {
            assert!(p("bitfinex", "tBTCUSD", bad).is_err(), "{bad}");
        }
        // Gemini "Ticker": the volume names the pair's currencies.
        let ge = r#"{"ask":"977.59","bid":"977.35","last":"977.65","volume":{"BTC":"2210.505328803","USD":"2135477.463379586263","timestamp":1483018200000}}"#;
        assert_eq!(p("gemini", "btcusd", ge), Ok("977.65".into()));
        assert_eq!(m("gemini", "btcusd", ge), Ok(2_135_477.463_379_586));
        assert!(p("gemini", "ethusd", ge).is_err(), "another pair's volume");
        // Bitstamp "Ticker": `pair`, when given, is the one asked; volume is base.
        let bs = r#"{"timestamp":"1700000000","last":"37000.10","volume":"2.5","vwap":"36000","pair":"BTC/USD"}"#;
        assert_eq!(p("bitstamp", "btcusd", bs), Ok("37000.10".into()));
        assert_eq!(m("bitstamp", "btcusd", bs), Ok(90000.0));
        assert!(p("bitstamp", "etheur", bs).is_err());
        // Coinbase Exchange "Get product ticker": volume is base.
        let cx = r#"{"trade_id":4729088,"price":"333.99","size":"0.193","bid":"333.98","ask":"333.99","volume":"5957.11914015","time":"2015-11-14T20:46:03.511254Z"}"#;
        assert_eq!(p("coinbase-exchange", "BTC-USD", cx), Ok("333.99".into()));
        assert!(m("coinbase-exchange", "BTC-USD", cx).is_ok_and(|v| (v - 333.99 * 5957.11914015).abs() < 0.01));
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
