//! Bitstamp API v2 requests and parsers, against the examples of its docs (and of ccxt's
//! comments of real answers) and against hostile answers.

use std::collections::BTreeMap;

use super::*;
use crate::test_support::{mal, ok, order, resp};

fn all(r: &Request) -> (&str, &str, &str, &str) {
    (r.method.as_str(), r.path.as_str(), r.query.as_str(), r.body.as_str())
}

#[test]
fn bitstamp_ids_assets_and_budget() {
    assert_eq!(Venue::from_exchange("bitstamp"), Ok(Venue::Bitstamp));
    assert_eq!(Venue::Bitstamp.to_string(), "bitstamp");
    assert_eq!(Venue::ALL[12], Venue::Bitstamp);
    for (raw, want) in [("btc", "BTC"), ("usd", "USD"), ("usdc", "USDC"), ("eur", "EUR")] {
        assert_eq!(normalize_asset(Venue::Bitstamp, raw), Ok(want.into()), "{raw}");
    }
    let id = client_order_id(Venue::Bitstamp, &[0x5a; 16]);
    assert_eq!(id.len(), 36, "a UUID: any unique string is taken");
    let b = limits::budget(Venue::Bitstamp);
    assert_eq!(b.scope, limits::Scope::Address);
    // 8,000 requests per 10 minutes: the burst and ten minutes of refill stay below.
    assert!(b.burst_milli + b.refill_milli_per_s * 600 < 8_000_000);
    assert_eq!(limits::cost_milli(Venue::Bitstamp, &Request::new("POST", "/api/v2/user_transactions/", "", "")), 1_000);
}

/// "Account balances", the shape ccxt's comment prints, and a zero row.
const BALANCES: &str = r#"[
  {"currency":"usdt","total":"7.00000","available":"7.00000","reserved":"0.00000"},
  {"currency":"btc","total":"1.50000000","available":"1.25000000","reserved":"0.25000000"},
  {"currency":"eur","total":"0.00","available":"0.00","reserved":"0.00"}]"#;

#[test]
fn bitstamp_balances() {
    let r = balances_request(Venue::Bitstamp, None).expect("request");
    assert_eq!(all(&r), ("POST", "/api/v2/account_balances/", "", ""), "no body: no content type is signed");
    let page = parse_balances(Venue::Bitstamp, ok(BALANCES)).expect("balances");
    assert_eq!(
        page.balances,
        vec![
            VenueBalance { asset: "USDT".into(), free: "7.00000".into(), locked: "0.00000".into() },
            VenueBalance { asset: "BTC".into(), free: "1.25000000".into(), locked: "0.25000000".into() },
            VenueBalance { asset: "EUR".into(), free: "0.00".into(), locked: "0.00".into() },
        ]
    );
    assert_eq!(page.next, None);
    let one = |row: &str| format!("[{row}]");
    let cases = [
        (one(r#"{"currency":"btc","available":"-1","reserved":"0"}"#), mal("[].available", "is negative")),
        (
            one(r#"{"currency":"btc","available":"1e3","reserved":"0"}"#),
            mal("[].available", "is not a plain decimal number"),
        ),
        (one(r#"{"currency":"btc","available":true,"reserved":"0"}"#), mal("[].available", "is not a decimal")),
        (one(r#"{"currency":"btc","available":"1"}"#), mal("[].reserved", "is missing")),
        (one(r#"{"currency":"b tc","available":"1","reserved":"0"}"#), mal("asset", "is not an asset code")),
        (one(r#"{"available":"1","reserved":"0"}"#), mal("[].currency", "is missing")),
        (one(r#"["btc","1"]"#), mal("[]", "is not an object")),
        (r#"{"balances":[]}"#.to_owned(), mal("$", "is not an array")),
    ];
    for (body, want) in cases {
        assert_eq!(parse_balances(Venue::Bitstamp, ok(&body)).map(|p| p.balances), want, "{body}");
    }
    // Numbers are read exactly as printed.
    let n = parse_balances(Venue::Bitstamp, ok(r#"[{"currency":"btc","available":0.5,"reserved":2}]"#)).expect("n");
    assert_eq!((n.balances[0].free.as_str(), n.balances[0].locked.as_str()), ("0.5", "2"));
    // Refusals, with an error status or inside a 200.
    let auth = resp(403, r#"{"status":"error","reason":"Invalid signature","code":"API0005"}"#);
    assert_eq!(
        parse_balances(Venue::Bitstamp, auth),
        Err(VenueError::Exchange { status: 403, message: "API0005 Invalid signature".into() })
    );
    let perm = ok(r#"{"error":"No permission found"}"#);
    assert_eq!(
        parse_balances(Venue::Bitstamp, perm),
        Err(VenueError::Exchange { status: 200, message: "No permission found".into() })
    );
    let busy = resp(
        400,
        r#"{"status":"error","reason":"Request rejected due to exceeded rate limit.","response_code":"400.002"}"#,
    );
    assert!(parse_balances(Venue::Bitstamp, busy).is_err_and(|e| e.is_transient()));
    let nonce = resp(403, r#"{"status":"error","reason":"Invalid nonce","code":"API0004"}"#);
    assert!(parse_balances(Venue::Bitstamp, nonce).is_err_and(|e| e.is_transient()));
    let maint = ok(r#"{"error":"Bitstamp.net is under scheduled maintenance. We'll be back soon."}"#);
    assert!(parse_balances(Venue::Bitstamp, maint).is_err_and(|e| e.is_transient()));
    let key = resp(403, r#"{"status":"error","reason":"API key not found","code":"API0001"}"#);
    assert!(parse_balances(Venue::Bitstamp, key).is_err_and(|e| !e.is_transient()));
    assert!(matches!(parse_balances(Venue::Bitstamp, ok("[{")), Err(VenueError::NotJson { .. })));
    let huge = format!("[{}]", vec![r#"{"currency":"btc","available":"1","reserved":"0"}"#; MAX_ITEMS + 1].join(","));
    assert_eq!(parse_balances(Venue::Bitstamp, ok(&huge)), Err(VenueError::TooLarge("$")));
    let long = "x".repeat(MAX_BODY + 1);
    assert_eq!(parse_balances(Venue::Bitstamp, ok(&long)), Err(VenueError::TooLarge("body")));
}

/// A "User transactions" trade row: the shape of ccxt's comment of a real answer (zeros for
/// the account's other currencies, the price as a number).
fn tx(id: u64, eth: &str, usdt: &str) -> String {
    format!(
        r#"{{"fee":"0.11128","eth_usdt":4451.25,"datetime":"2021-11-25 12:59:59.322000","usdt":"{usdt}",
            "order_id":1429545880227846,"usd":0,"btc":0,"eth":"{eth}","type":"2","id":{id},"eur":0}}"#
    )
}

/// A deposit: no market.
fn deposit(id: u64) -> String {
    format!(r#"{{"fee":"0.00","datetime":"2021-11-25 13:00:00","usd":"100.00","btc":0,"type":"0","id":{id}}}"#)
}

fn page(rows: &[String]) -> String {
    format!("[{}]", rows.join(","))
}

#[test]
fn bitstamp_trades_page_forward_by_since_id() {
    let first = trades_request(Venue::Bitstamp, &[], None).expect("request").expect("some");
    assert_eq!(all(&first), ("POST", "/api/v2/user_transactions/", "", "limit=1000&sort=asc"));
    let doc = page(&[tx(209895701, "0.00500000", "-22.26"), deposit(209895702), tx(209895703, "-1.5", "6676.875")]);
    let p = parse_trades(Venue::Bitstamp, &[], None, ok(&doc)).expect("page");
    assert_eq!(
        p.trades[0],
        Trade {
            exchange_trade_id: "209895701".into(),
            symbol: "ethusdt".into(),
            side: Side::Buy,
            price: "4451.25".into(),
            qty: "0.00500000".into(),
            fee: "0.11128".into(),
            fee_asset: Some("USDT".into()),
            time_ms: 1_637_845_199_322,
        }
    );
    assert_eq!(
        (p.trades.len(), p.trades[1].side, p.trades[1].qty.as_str()),
        (2, Side::Sell, "1.5"),
        "deposits skipped"
    );
    assert_eq!(p.next, None, "a short page is the last");

    // A full page: the next asks from its largest id (read again if Bitstamp's since_id is inclusive).
    let rows: Vec<String> = (0..1000).map(|i| tx(5000 + i, "0.01", "-44.5125")).collect();
    let p = parse_trades(Venue::Bitstamp, &[], Some("5000"), ok(&page(&rows))).expect("full");
    assert_eq!((p.trades.len(), p.next.as_deref()), (1000, Some("5999")));
    let next = trades_request(Venue::Bitstamp, &[], p.next.as_deref()).expect("request").expect("some");
    assert_eq!(next.body, "limit=1000&since_id=5999&sort=asc");
    // A page going back, or out of order, would loop or skip: refused.
    assert_eq!(
        parse_trades(Venue::Bitstamp, &[], Some("5001"), ok(&page(&rows))),
        mal("[].id", "is below the since_id asked for")
    );
    let backwards = page(&[tx(7, "1", "-1"), tx(6, "1", "-1")]);
    assert_eq!(parse_trades(Venue::Bitstamp, &[], None, ok(&backwards)), mal("[].id", "is not in ascending order"));
    let twice = page(&[tx(7, "1", "-1"), tx(7, "1", "-1")]);
    assert_eq!(parse_trades(Venue::Bitstamp, &[], None, ok(&twice)), mal("[].id", "is not in ascending order"));
    let over: Vec<String> = (0..1001).map(|i| tx(i + 1, "1", "-1")).collect();
    assert_eq!(parse_trades(Venue::Bitstamp, &[], None, ok(&page(&over))), mal("$", "holds more than the page size"));
    for bad in ["", "-1", "1.5", "12a", "123456789012345678901", "1&limit=5"] {
        assert!(
            matches!(
                trades_request(Venue::Bitstamp, &[], Some(bad)),
                Err(VenueError::BadInput { field: "cursor", .. })
            ),
            "{bad:?}"
        );
    }

    // A refresh starts at the largest stored transaction id.
    let mut ids = BTreeMap::new();
    ids.insert("btcusd".to_owned(), 900);
    ids.insert("ethusdt".to_owned(), 1200);
    let since = Since { newest_ms: 1_637_845_199_322, last_ids: &ids, now_ms: 1_700_000_000_000 };
    let r = trades_since_request(Venue::Bitstamp, &[], &since, None).expect("since").expect("some");
    assert_eq!(r.body, "limit=1000&since_id=1200&sort=asc");
    assert_eq!(
        parse_trades_since(Venue::Bitstamp, &[], &since, None, ok(&page(&[tx(1199, "1", "-1")]))),
        mal("[].id", "is below the since_id asked for")
    );
    let p =
        parse_trades_since(Venue::Bitstamp, &[], &since, None, ok(&page(&[tx(1200, "1", "-1"), tx(1201, "1", "-1")])));
    assert_eq!(p.map(|p| (p.trades.len(), p.next)), Ok((2, None)));
    let r = trades_since_request(Venue::Bitstamp, &[], &since, Some("1300")).expect("since").expect("some");
    assert_eq!(r.body, "limit=1000&since_id=1300&sort=asc", "the cursor pages on from there");
    let none = BTreeMap::new();
    let fresh = Since { last_ids: &none, ..since };
    let r = trades_since_request(Venue::Bitstamp, &[], &fresh, None).expect("since").expect("some");
    assert_eq!(r.body, "limit=1000&sort=asc", "nothing stored: from the start");
}

#[test]
fn bitstamp_hostile_trades_are_refused_precisely() {
    let good = tx(1, "0.5", "-100");
    let cases = [
        (good.replace(r#""id":1"#, r#""id":-1"#), mal("[].id", "is not a non-negative integer")),
        (good.replace(r#""id":1"#, r#""id":"x1""#), mal("[].id", "is not a transaction id")),
        (good.replace(r#""type":"2""#, r#""type":"trade""#), mal("[].type", "is not a transaction type")),
        (good.replace(r#""type":"2""#, r#""type":null"#), mal("[].type", "is not a transaction type")),
        (good.replace(r#""eth_usdt":4451.25"#, r#""eth_usdt":0"#), mal("[]", "names no market ({base}_{quote} price)")),
        (
            good.replace(r#""eth_usdt":4451.25"#, r#""eth_usdt":4451.25,"btc_usd":"30000""#),
            mal("[]", "names more than one market"),
        ),
        (
            good.replace(r#""eth_usdt":4451.25"#, r#""eth_usdt":[1]"#),
            mal("[]", "names no market ({base}_{quote} price)"),
        ),
        (good.replace(r#""eth_usdt":4451.25"#, r#""eth_usdt":-4451.25"#), mal("[].{base}_{quote}", "is negative")),
        (
            good.replace(r#""eth_usdt":4451.25"#, r#""eth_usdt":0.1234567890123456789"#),
            mal("[].{base}_{quote}", "is not a number read exactly (over 15 significant digits)"),
        ),
        (good.replace(r#""eth":"0.5""#, r#""eth":"0""#), mal("[].{base}", "is zero")),
        (good.replace(r#""eth":"0.5","#, ""), mal("[].{base}", "is missing")),
        (
            good.replace(r#""usdt":"-100""#, r#""usdt":"100""#),
            mal("[].{quote}", "moves the same way as the base amount"),
        ),
        (good.replace(r#""fee":"0.11128""#, r#""fee":"-1""#), mal("[].fee", "is negative")),
        (good.replace("2021-11-25 12:59:59.322000", "yesterday"), mal("[].datetime", "is not a UTC date and time")),
        (
            good.replace("2021-11-25 12:59:59.322000", "2021-11-25T12:59:59Z"),
            mal("[].datetime", "is not a UTC date and time"),
        ),
        (
            good.replace(r#""datetime":"2021-11-25 12:59:59.322000""#, r#""datetime":5"#),
            mal("[].datetime", "is not a string"),
        ),
    ];
    for (row, want) in cases {
        assert_eq!(parse_trades(Venue::Bitstamp, &[], None, ok(&format!("[{row}]"))), want, "{row}");
    }
    // Other fields that look like `{a}_{b}` but hold no number are not read as a market.
    let extra = good.replace(r#""fee":"#, r#""self_trade":false,"trade_kind":"limit","fee":"#);
    let p = parse_trades(Venue::Bitstamp, &[], None, ok(&format!("[{extra}]"))).expect("extra fields");
    assert_eq!((p.trades[0].symbol.as_str(), p.trades[0].price.as_str()), ("ethusdt", "4451.25"));
    assert_eq!(parse_trades(Venue::Bitstamp, &[], None, ok(r#"{"transactions":[]}"#)), mal("$", "is not an array"));
    assert_eq!(parse_trades(Venue::Bitstamp, &[], None, ok("[5]")), mal("[]", "is not an object"));
    let busy = resp(
        400,
        r#"{"status":"error","reason":"Request rejected due to exceeded rate limit.","response_code":"400.002"}"#,
    );
    assert!(parse_trades(Venue::Bitstamp, &[], None, busy).is_err_and(|e| e.is_transient()));
    let odd_offset = resp(400, r#"{"status":"error","reason":"Invalid offset.","response_code":"400.010"}"#);
    assert_eq!(
        parse_trades(Venue::Bitstamp, &[], None, odd_offset),
        Err(VenueError::Exchange { status: 400, message: "400.010 Invalid offset.".into() })
    );
    assert!(matches!(
        parse_trades(Venue::Bitstamp, &[], None, resp(502, "<html>")),
        Err(VenueError::Exchange { status: 502, .. })
    ));
}

/// "Buy limit order", the answer's shape (the docs' fields).
const PLACED: &str = r#"{"id":"1234123412341234","market":"BTC/USD","datetime":"2022-01-31 14:43:15.796000",
  "type":"0","price":"20000.00","amount":"0.10000000","client_order_id":"0123abcd-0123-4567-89ab-0123456789ab"}"#;

#[test]
fn bitstamp_orders() {
    let limit = order("btcusd", Side::Buy, OrderKind::Limit, "0.1", Some("20000"));
    let r = place_request(Venue::Bitstamp, &limit).expect("limit");
    assert_eq!(
        all(&r),
        (
            "POST",
            "/api/v2/buy/btcusd/",
            "",
            "amount=0.1&client_order_id=0123abcd-0123-4567-89ab-0123456789ab&price=20000"
        )
    );
    let sell = order("ethbtc", Side::Sell, OrderKind::Limit, "2", Some("0.05"));
    assert_eq!(place_request(Venue::Bitstamp, &sell).expect("sell").path, "/api/v2/sell/ethbtc/");
    // Market orders are sized in base units, buys and sells alike.
    let buy = order("btcusd", Side::Buy, OrderKind::Market, "0.01", None);
    assert_eq!(
        all(&place_request(Venue::Bitstamp, &buy).expect("market buy")),
        ("POST", "/api/v2/buy/market/btcusd/", "", "amount=0.01&client_order_id=0123abcd-0123-4567-89ab-0123456789ab")
    );
    let sell = order("btcusd", Side::Sell, OrderKind::Market, "0.02", None);
    assert_eq!(place_request(Venue::Bitstamp, &sell).expect("market sell").path, "/api/v2/sell/market/btcusd/");
    // Only Bitstamp's own spelling of a market goes in a path.
    for bad in ["BTCUSD", "btc-usd", "btc_usd", "btc/usd", "b"] {
        let o = order(bad, Side::Buy, OrderKind::Limit, "1", Some("1"));
        assert!(
            matches!(place_request(Venue::Bitstamp, &o), Err(VenueError::BadInput { field: "symbol", .. })),
            "{bad}"
        );
    }

    assert_eq!(
        parse_placed(Venue::Bitstamp, ok(PLACED)),
        Ok(Placed { exchange_order_id: "1234123412341234".into(), status: "accepted" })
    );
    let numeric = PLACED.replace(r#""id":"1234123412341234""#, r#""id":1234123412341234"#);
    assert_eq!(parse_placed(Venue::Bitstamp, ok(&numeric)).map(|p| p.exchange_order_id), Ok("1234123412341234".into()));
    let noid = PLACED.replace(r#""id":"1234123412341234","#, "");
    assert_eq!(parse_placed(Venue::Bitstamp, ok(&noid)), mal("id", "is missing"));
    // Refused inside a 200, the reason a map of messages.
    let small = ok(r#"{"status":"error","reason":{"__all__":["Minimum order size is 5.0 EUR."]}}"#);
    assert_eq!(
        parse_placed(Venue::Bitstamp, small),
        Err(VenueError::Exchange { status: 200, message: "Minimum order size is 5.0 EUR.".into() })
    );
    let fields = ok(
        r#"{"status":"error","reason":{"amount":["Ensure that there are no more than 8 decimal places."],"__all__":[""]},"response_code":"400.026"}"#,
    );
    assert_eq!(
        parse_placed(Venue::Bitstamp, fields),
        Err(VenueError::Exchange {
            status: 200,
            message: "400.026 Ensure that there are no more than 8 decimal places.".into()
        })
    );
    let funds =
        resp(400, r#"{"status":"error","reason":"Insufficient balance for provided user.","response_code":"400.009"}"#);
    assert_eq!(
        parse_placed(Venue::Bitstamp, funds),
        Err(VenueError::Exchange { status: 400, message: "400.009 Insufficient balance for provided user.".into() })
    );
    assert!(matches!(parse_placed(Venue::Bitstamp, ok("[]")), Err(VenueError::Malformed { field: "$", .. })));

    let c = cancel_request(Venue::Bitstamp, "btcusd", "1453282316578816").expect("cancel");
    assert_eq!(all(&c), ("POST", "/api/v2/cancel_order/", "", "id=1453282316578816"));
    let cancelled = r#"{"id":1453282316578816,"amount":"0.02035278","price":"2100.45","type":0,"market":"BTC/USD"}"#;
    assert_eq!(parse_cancelled(Venue::Bitstamp, ok(cancelled)), Ok(()));
    let gone = resp(404, r#"{"status":"error","reason":"Order not found.","response_code":"404.002"}"#);
    assert!(matches!(parse_cancelled(Venue::Bitstamp, gone), Err(VenueError::Exchange { status: 404, .. })));
    assert_eq!(parse_cancelled(Venue::Bitstamp, ok(r#"{"amount":"1"}"#)), mal("id", "is missing"));
}

/// "Order status", the docs' fields.
fn status_of(status: &str) -> String {
    format!(
        r#"{{"id":1458532827766784,"datetime":"2022-01-31 14:43:15","type":"0","status":"{status}","market":"BTC/USD",
            "transactions":[],"amount_remaining":"0.10000000","client_order_id":"0123abcd-0123-4567-89ab-0123456789ab"}}"#
    )
}

#[test]
fn bitstamp_order_status_by_client_order_id() {
    let s = status_request(Venue::Bitstamp, "btcusd", "0123abcd-0123-4567-89ab-0123456789ab")
        .expect("valid")
        .expect("a query");
    assert_eq!(all(&s), ("POST", "/api/v2/order_status/", "", "client_order_id=0123abcd-0123-4567-89ab-0123456789ab"));
    for (raw, want) in [
        ("Open", "open"),
        ("In Queue", "accepted"),
        ("Cancel pending", "open"),
        ("Finished", "filled"),
        ("Canceled", "canceled"),
        ("Expired", "expired"),
    ] {
        assert_eq!(
            parse_status(Venue::Bitstamp, ok(&status_of(raw))),
            Ok(Some(Placed { exchange_order_id: "1458532827766784".into(), status: want })),
            "{raw}"
        );
    }
    assert_eq!(parse_status(Venue::Bitstamp, ok(&status_of("Done"))), mal("status", "is not a Bitstamp order status"));
    // Not found: never placed.
    let none = resp(404, r#"{"status":"error","reason":"Order not found.","response_code":"404.002"}"#);
    assert_eq!(parse_status(Venue::Bitstamp, none), Ok(None));
    assert_eq!(parse_status(Venue::Bitstamp, ok(r#"{"error":"Order not found"}"#)), Ok(None));
    // Anything else is no answer: the outcome stays unknown.
    let auth = resp(403, r#"{"status":"error","reason":"Invalid signature","code":"API0005"}"#);
    assert!(matches!(parse_status(Venue::Bitstamp, auth), Err(VenueError::Exchange { status: 403, .. })));
    assert!(matches!(
        parse_status(Venue::Bitstamp, resp(500, "Order not found")),
        Err(VenueError::Exchange { status: 500, .. })
    ));
}
