//! Markets by their assets: the symbol an exchange spells a pair with (for its public
//! ticker) and the assets a traded symbol names (for the cost basis).
//!
//! | exchange | spelling of BTC in USDT |
//! |---|---|
//! | binance, mexc, bybit, bitget | `BTCUSDT` |
//! | kraken | `XBTUSDT` (Kraken's `XBT`, `XDG`; its altnames, which its Ticker accepts) |
//! | okx, kucoin | `BTC-USDT` |
//! | coinbase | `BTC-USD` style, `BTC-USDT` |
//! | gate | `BTC_USDT` |
//! | bitfinex | `tBTCUST` (its `UST`; a `:` between longer codes, stored as `/`: `tDOGE/USD`); traded symbols only |

use crate::{Venue, normalize_asset};

/// Quote assets a symbol without a separator may end with, longest first so `USDT` is
/// tried before `USD`.
const QUOTES: &[&str] =
    &["FDUSD", "USDT", "USDC", "BUSD", "TUSD", "USD", "EUR", "GBP", "JPY", "TRY", "BRL", "DAI", "BTC", "ETH", "BNB"];

/// Gemini's (`btcgusd` is BTC in GUSD, not BTCG in USD).
const GEMINI_QUOTES: &[&str] = &["GUSD", "USDT", "USDC", "USD", "DAI", "EUR", "GBP", "SGD", "BTC", "ETH"];

/// Kraken's: its legacy `Z`/`X` codes first, and no `TUSD` (`XBTUSD` is BTC in USD).
const KRAKEN_QUOTES: &[&str] = &[
    "ZUSD", "ZEUR", "ZGBP", "ZJPY", "ZCAD", "ZCHF", "ZAUD", "XXBT", "XETH", "USDT", "USDC", "USD", "EUR", "GBP", "JPY",
    "CAD", "CHF", "AUD", "DAI", "XBT", "ETH",
];

/// The symbol exchange `exchange` gives the market of `base` in `quote` (both in the
/// common naming: `BTC`, `USDT`), or `None` for an exchange whose spelling is not known
/// here or assets that cannot be spelled in a symbol.
pub fn ticker_symbol(exchange: &str, base: &str, quote: &str) -> Option<String> {
    let ok =
        |a: &str| !a.is_empty() && a.len() <= 16 && a.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if !ok(base) || !ok(quote) || base == quote {
        return None;
    }
    let kraken = |a: &str| match a {
        "BTC" => "XBT".to_owned(),
        "DOGE" => "XDG".to_owned(),
        a => a.to_owned(),
    };
    Some(match exchange {
        "binance" | "mexc" | "bybit" | "bitget" => format!("{base}{quote}"),
        "kraken" => format!("{}{}", kraken(base), kraken(quote)),
        "okx" | "kucoin" | "coinbase" => format!("{base}-{quote}"),
        "gate" | "poloniex" => format!("{base}_{quote}"),
        "coinbase-exchange" => format!("{base}-{quote}"),
        "gemini" | "bitstamp" => format!("{base}{quote}").to_ascii_lowercase(),
        // `tBTCUSD`; a pair with a longer code is spelled `tBASE:QUOTE`, which no ticker
        // request carries (the portfolio asks another exchange).
        "bitfinex" => {
            let (b, q) = (crate::bitfinex::spelled(base), crate::bitfinex::spelled(quote));
            if b.len() != 3 || q.len() != 3 {
                return None;
            }
            format!("t{b}{q}")
        }
        _ => return None,
    })
}

/// The (base, quote) assets, in the common naming, of a symbol `exchange` reported a trade
/// in: split at `-`, `_` or `/`, or else at the longest known quote asset it ends with.
/// `None` when it cannot be told (the cost basis then leaves the trade out, and says so).
pub fn split_symbol(exchange: &str, symbol: &str) -> Option<(String, String)> {
    let venue = Venue::from_exchange(exchange).ok();
    let norm = |a: &str| match venue {
        Some(v) => normalize_asset(v, a).ok(),
        None => (!a.is_empty() && a.bytes().all(|b| b.is_ascii_alphanumeric())).then(|| a.to_ascii_uppercase()),
    };
    // A Deribit trade is a derivative's (an inverse perpetual's amount is USD notional):
    // no asset changes hands at its price, so it has no place in a spot cost basis.
    if exchange == "deribit" {
        return None;
    }
    if exchange == "bitfinex" {
        return bitfinex_pair(symbol).and_then(|(b, q)| Some((norm(b)?, norm(q)?))).filter(|(b, q)| b != q);
    }
    let up = symbol.to_ascii_uppercase();
    let (base, quote) = match up.split_once(['-', '_', '/']) {
        Some(parts) => parts,
        None => {
            let quotes = match exchange {
                "kraken" => KRAKEN_QUOTES,
                "gemini" => GEMINI_QUOTES,
                _ => QUOTES,
            };
            let quote = quotes.iter().find(|q| up.len() > q.len() && up.ends_with(*q))?;
            up.split_at(up.len() - quote.len())
        }
    };
    let (base, quote) = (norm(base)?, norm(quote)?);
    (base != quote).then_some((base, quote))
}

/// Bitfinex's `t` + base + quote: three letters each, or split at `/` (our spelling of
/// its `:`, `tDOGE:USD`).
fn bitfinex_pair(symbol: &str) -> Option<(&str, &str)> {
    let rest = symbol.strip_prefix('t')?;
    match rest.split_once('/') {
        Some((b, q)) if !b.is_empty() && !q.is_empty() => Some((b, q)),
        Some(_) => None,
        None if rest.len() == 6 && rest.is_ascii() => Some(rest.split_at(3)),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings() {
        assert_eq!(ticker_symbol("binance", "BTC", "USDT").as_deref(), Some("BTCUSDT"));
        assert_eq!(ticker_symbol("kraken", "BTC", "USD").as_deref(), Some("XBTUSD"));
        assert_eq!(ticker_symbol("kraken", "USDT", "USD").as_deref(), Some("USDTUSD"));
        assert_eq!(ticker_symbol("okx", "BTC", "USDT").as_deref(), Some("BTC-USDT"));
        assert_eq!(ticker_symbol("coinbase", "ETH", "USD").as_deref(), Some("ETH-USD"));
        assert_eq!(ticker_symbol("gate", "ETH", "USDT").as_deref(), Some("ETH_USDT"));
        assert_eq!(ticker_symbol("poloniex", "BTC", "USDT").as_deref(), Some("BTC_USDT"));
        assert_eq!(ticker_symbol("coinbase-exchange", "BTC", "USD").as_deref(), Some("BTC-USD"));
        assert_eq!(ticker_symbol("gemini", "BTC", "USD").as_deref(), Some("btcusd"));
        assert_eq!(ticker_symbol("bitstamp", "ETH", "EUR").as_deref(), Some("etheur"));
        // Bitfinex spells USDT `UST`; a longer code has no `tXXXYYY` ticker.
        assert_eq!(ticker_symbol("bitfinex", "BTC", "USDT").as_deref(), Some("tBTCUST"));
        assert_eq!(ticker_symbol("bitfinex", "ETH", "USD").as_deref(), Some("tETHUSD"));
        assert_eq!(ticker_symbol("bitfinex", "DOGE", "USD"), None);
        assert_eq!(ticker_symbol("deribit", "BTC", "USD"), None);
        assert_eq!(ticker_symbol("binance", "BTC", "BTC"), None);
        assert_eq!(ticker_symbol("binance", "BT C", "USD"), None);
        assert_eq!(ticker_symbol("binance", "btc", "USD"), None);
    }

    #[test]
    fn splits() {
        let s = |e, sym| split_symbol(e, sym).map(|(b, q)| format!("{b}/{q}"));
        assert_eq!(s("binance", "BTCUSDT").as_deref(), Some("BTC/USDT"));
        assert_eq!(s("binance", "ETHBTC").as_deref(), Some("ETH/BTC"));
        assert_eq!(s("binance", "BTCFDUSD").as_deref(), Some("BTC/FDUSD"));
        assert_eq!(s("kraken", "XBTUSD").as_deref(), Some("BTC/USD"));
        assert_eq!(s("kraken", "XXBTZUSD").as_deref(), Some("BTC/USD"));
        assert_eq!(s("kraken", "XETHXXBT").as_deref(), Some("ETH/BTC"));
        assert_eq!(s("okx", "BTC-USDT").as_deref(), Some("BTC/USDT"));
        assert_eq!(s("coinbase", "BTC-USD").as_deref(), Some("BTC/USD"));
        assert_eq!(s("gate", "BTC_USDT").as_deref(), Some("BTC/USDT"));
        assert_eq!(s("gemini", "btcgusd").as_deref(), Some("BTC/GUSD"));
        assert_eq!(s("gemini", "ethbtc").as_deref(), Some("ETH/BTC"));
        // Bitstamp's markets as its trades are stored (`{base}{quote}`, lower case).
        assert_eq!(s("bitstamp", "btcusd").as_deref(), Some("BTC/USD"));
        assert_eq!(s("bitstamp", "ethusdt").as_deref(), Some("ETH/USDT"));
        assert_eq!(s("bitstamp", "usdcusd").as_deref(), Some("USDC/USD"));
        assert_eq!(s("bitfinex", "tBTCUST").as_deref(), Some("BTC/USDT"));
        assert_eq!(s("bitfinex", "tDOGE/USD").as_deref(), Some("DOGE/USD"));
        assert_eq!(s("bitfinex", "BTCUSD"), None);
        assert_eq!(s("deribit", "BTC-PERPETUAL"), None);
        assert_eq!(s("deribit", "BTC_USDC"), None);
        assert_eq!(s("bitfinex", "tBTCUSDT"), None);
        assert_eq!(s("binance", "USDT"), None);
        assert_eq!(s("binance", "FOOBAR"), None);
        assert_eq!(s("binance", "-USD"), None);
        assert_eq!(s("binance", "BTC-"), None);
    }
}
