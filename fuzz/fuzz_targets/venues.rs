//! Arbitrary exchange answers into every venue's response readers
//! (sealgate-venues): balances, trade pages (three cursors), placed, cancelled
//! and status, and Deribit's positions. The first byte picks the venue (low four bits,
//! modulo their number) and the HTTP
//! status class (next two bits: 200, 400, 429, 503); the rest is the body, read as
//! lossy UTF-8 as the signer hands it on. Any panic is a bug; what is accepted
//! must keep the crate's promises: every decimal re-parses as an `Amount`,
//! every id is non-empty, exchange messages stay bounded, and where the code
//! guarantees progress (Binance, Kraken, Bitstamp, Coinbase Exchange, Deribit) a next
//! cursor is never the one asked.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealgate_venues::{
    Amount, MAX_MESSAGE, Placed, Response, Venue, VenueError, parse_balances, parse_cancelled, parse_deribit_positions,
    parse_placed, parse_status, parse_trades,
};

const STATUSES: [u16; 4] = [200, 400, 429, 503];
const CURSORS: [Option<&str>; 4] = [None, Some("BTCUSDT:0"), Some("50"), Some("BTC:h:1589923311862")];
/// Coinbase Exchange's: its products' spelling (`BTC-USD`), so a page is read, not refused
/// for naming no product.
const CBX_CURSORS: [Option<&str>; 4] = [None, Some("BTC-USD:50"), Some("ETH-BTC"), Some("ETH-USD:7")];

/// Bybit's and KuCoin's: a week of their walk through time, a page within it, and a bare
/// page (KuCoin's checkpoint from before the walk; a Bybit cursor).
const WEEK_CURSORS: [Option<&str>; 4] =
    [None, Some("@1700000000000@1640000000000"), Some("@1700000000000@1640000000000@2"), Some("7")];

fn decimal(s: &str, what: &str) {
    assert!(Amount::parse(s).is_some(), "{what} {s:?} does not re-parse");
}

/// An error is fine; it must still print and keep an exchange's text bounded.
fn error(e: &VenueError) {
    let _ = (e.to_string(), e.is_transient());
    if let VenueError::Exchange { message, .. } = e {
        assert!(message.len() <= MAX_MESSAGE, "exchange message of {} bytes", message.len());
    }
}

fn placed(p: &Placed) {
    assert!(!p.exchange_order_id.is_empty(), "empty order id");
    assert!(
        ["open", "filled", "canceled", "expired", "rejected", "accepted"].contains(&p.status),
        "status {:?}",
        p.status
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    // The low four bits pick the venue (every one of them), the next two the status.
    let venue = Venue::ALL[usize::from(selector & 0x0f) % Venue::ALL.len()];
    let status = STATUSES[usize::from((selector >> 4) & 3)];
    let text = String::from_utf8_lossy(rest);
    let resp = Response { status, body: &text };

    match parse_balances(venue, resp) {
        Ok(page) => {
            for b in &page.balances {
                assert!(!b.asset.is_empty(), "empty asset");
                decimal(&b.free, "free");
                decimal(&b.locked, "locked");
            }
        }
        Err(e) => error(&e),
    }

    let (symbols, cursors) = match venue {
        Venue::CoinbaseExchange => (["BTC-USD", "ETH-BTC", "ETH-USD"].map(String::from).to_vec(), CBX_CURSORS),
        Venue::Bybit | Venue::Kucoin => (["BTCUSDT", "ETHBTC", "ETHUSDT"].map(String::from).to_vec(), WEEK_CURSORS),
        _ => (["BTCUSDT", "ETHBTC", "ETHUSDT"].map(String::from).to_vec(), CURSORS),
    };
    for cursor in cursors {
        match parse_trades(venue, &symbols, cursor, resp) {
            Ok(page) => {
                for t in &page.trades {
                    assert!(!t.exchange_trade_id.is_empty(), "empty trade id");
                    decimal(&t.price, "price");
                    decimal(&t.qty, "qty");
                    decimal(&t.fee, "fee");
                }
                // Binance moves to a higher trade id or a later symbol, Kraken to a larger
                // offset, Bitstamp to a larger since_id, Coinbase Exchange to a lower trade id
                // or a later product, Deribit to a later time, the recent store or the next
                // currency. OKX and Coinbase hand back the exchange's own cursor, so a repeat
                // there is the exchange's doing and is not asserted.
                if matches!(
                    venue,
                    Venue::Binance | Venue::Kraken | Venue::Bitstamp | Venue::CoinbaseExchange | Venue::Deribit
                ) && page.next.is_some()
                {
                    assert_ne!(page.next.as_deref(), cursor, "{venue}: next cursor is the one asked");
                }
            }
            Err(e) => error(&e),
        }
    }

    match parse_placed(venue, resp) {
        Ok(p) => placed(&p),
        Err(e) => error(&e),
    }
    if let Err(e) = parse_cancelled(venue, resp) {
        error(&e);
    }
    match parse_status(venue, resp) {
        Ok(Some(p)) => placed(&p),
        Ok(None) => {}
        Err(e) => error(&e),
    }
    if venue == Venue::Deribit {
        match parse_deribit_positions(resp) {
            Ok(positions) => {
                for p in &positions {
                    assert!(!p.instrument.is_empty(), "empty instrument");
                    for (d, what) in [(&p.size, "size"), (&p.average_price, "average price"), (&p.floating_pnl, "pnl")]
                    {
                        decimal(d, what);
                    }
                }
            }
            Err(e) => error(&e),
        }
    }
});
