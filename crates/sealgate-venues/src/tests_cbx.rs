//! Coinbase Exchange requests and parsers, against the examples of its docs and against
//! hostile answers.

use std::collections::BTreeMap;

use super::*;
use crate::test_support::{mal, ok, resp};

const CBX: Venue = Venue::CoinbaseExchange;
const CLIENT: &str = "0123abcd-0123-4567-89ab-0123456789ab";

fn triple(r: &Request) -> (&str, &str, &str) {
    (r.method.as_str(), r.path.as_str(), r.query.as_str())
}

fn order<'a>(side: Side, kind: OrderKind, qty: &'a str, price: Option<&'a str>) -> PlaceOrder<'a> {
    PlaceOrder { symbol: "BTC-USD", side, kind, qty, price, client_order_id: CLIENT }
}

fn products() -> Vec<String> {
    vec!["BTC-USD".to_owned(), "ETH-USD".to_owned()]
}

/// A fill of `product` numbered `id`, `ms` after 2019-11-21T01:38:23Z.
fn fill(product: &str, id: u64, ms: u64) -> String {
    format!(
        r#"{{"created_at":"2019-11-21T01:38:{:02}.{:03}Z","trade_id":{id},"product_id":"{product}",
        "order_id":"41473628-db2c-464e-b9f4-82df7e4fb4f4","profile_id":"8058d771-2d88-4f0f-ab6e-299c153d4308",
        "liquidity":"T","price":"8087.38000000","size":"0.00601800","fee":"0.2433492642000000","side":"sell",
        "settled":true,"usd_volume":"48.6698528400000000"}}"#,
        23 + ms / 1000,
        ms % 1000
    )
}

fn page(product: &str, ids: impl DoubleEndedIterator<Item = u64>) -> String {
    format!("[{}]", ids.rev().map(|i| fill(product, i, i % 30_000)).collect::<Vec<_>>().join(","))
}

#[test]
fn ids_assets_and_budget() {
    assert_eq!(Venue::from_exchange("coinbase-exchange"), Ok(CBX));
    assert_eq!(CBX.to_string(), "coinbase-exchange");
    assert_eq!(Venue::ALL.iter().filter(|v| **v == CBX).count(), 1);
    assert_eq!(Venue::from_exchange("coinbase"), Ok(Venue::Coinbase), "Advanced Trade stays its own");
    assert_eq!(normalize_asset(CBX, "usdc"), Ok("USDC".into()));
    // 15 requests per second per profile, bursts of 30: the budget stays below both.
    let b = limits::budget(CBX);
    assert_eq!(b.scope, limits::Scope::Key);
    assert!(b.refill_milli_per_s < 15_000 && b.burst_milli < 30_000, "{b:?}");
    assert_eq!(limits::cost_milli(CBX, &Request::new("GET", "/fills", "product_id=BTC-USD", "")), 1_000);
    let id = client_order_id(CBX, &[0xab; 16]);
    assert_eq!(id, "abababab-abab-abab-abab-abababababab", "client_oid is a UUID");
    assert_eq!(ticker_symbol("coinbase-exchange", "BTC", "USD").as_deref(), Some("BTC-USD"));
    assert_eq!(split_symbol("coinbase-exchange", "ETH-BTC"), Some(("ETH".into(), "BTC".into())));
}

#[test]
fn products_from_balances() {
    let assets: Vec<String> = ["BTC", "USD", "ETH", "USDT", "SOL"].iter().map(|s| (*s).to_owned()).collect();
    assert_eq!(
        coinbase_exchange_products(&assets),
        [
            "BTC-USD", "BTC-USDT", "ETH-BTC", "ETH-USD", "ETH-USDT", "SOL-BTC", "SOL-ETH", "SOL-USD", "SOL-USDT",
            "USDT-USD"
        ]
    );
    assert!(coinbase_exchange_products(&["BTC".to_owned()]).is_empty(), "no quote held: nothing to ask");
}

/// "Get all accounts for a profile", the docs' example.
const ACCOUNTS: &str = r#"[{"id":"7fd0abc0-e5ad-4cbb-8d54-f2b3f43364da","currency":"USD",
 "balance":"2.0000000000000000","hold":"0.5000000000000000","available":"1.5","profile_id":
 "8058d771-2d88-4f0f-ab6e-299c153d4308","trading_enabled":true},
 {"id":"a1b2","currency":"btc","balance":"0","hold":"0","available":"0","profile_id":"p","trading_enabled":true}]"#;

#[test]
fn balances() {
    let r = balances_request(CBX, None).expect("request");
    assert_eq!((triple(&r), r.body.as_str()), (("GET", "/accounts", ""), ""));
    let page = parse_balances(CBX, ok(ACCOUNTS)).expect("balances");
    assert_eq!(
        page,
        BalancePage {
            balances: vec![
                VenueBalance { asset: "USD".into(), free: "1.5".into(), locked: "0.5000000000000000".into() },
                VenueBalance { asset: "BTC".into(), free: "0".into(), locked: "0".into() },
            ],
            next: None,
        }
    );
}

#[test]
fn fills_page_down_each_product_then_move_on() {
    let p = products();
    let r = trades_request(CBX, &p, None).expect("request").expect("some");
    assert_eq!((triple(&r), r.body.as_str()), (("GET", "/fills", "product_id=BTC-USD&limit=100"), ""));

    // The docs' example: one fill, a short page: the next product.
    let one = format!("[{}]", fill("BTC-USD", 78_098_253, 878));
    let got = parse_trades(CBX, &p, None, ok(&one)).expect("page");
    assert_eq!(
        got.trades,
        vec![Trade {
            exchange_trade_id: "BTC-USD-78098253".into(),
            symbol: "BTC-USD".into(),
            side: Side::Sell,
            price: "8087.38000000".into(),
            qty: "0.00601800".into(),
            fee: "0.2433492642000000".into(),
            fee_asset: Some("USD".into()),
            time_ms: 1_574_300_303_878,
        }]
    );
    assert_eq!(got.next.as_deref(), Some("ETH-USD"));
    let r = trades_request(CBX, &p, Some("ETH-USD")).expect("request").expect("some");
    assert_eq!(r.query, "product_id=ETH-USD&limit=100");

    // A full page: older than its smallest trade id next.
    let full = page("BTC-USD", 501..=600);
    let got = parse_trades(CBX, &p, None, ok(&full)).expect("full");
    assert_eq!((got.trades.len(), got.next.as_deref()), (100, Some("BTC-USD:501")));
    let r = trades_request(CBX, &p, Some("BTC-USD:501")).expect("request").expect("some");
    assert_eq!(r.query, "product_id=BTC-USD&limit=100&after=501");
    let older = page("BTC-USD", 401..=500);
    assert_eq!(
        parse_trades(CBX, &p, Some("BTC-USD:501"), ok(&older)).expect("older").next.as_deref(),
        Some("BTC-USD:401")
    );
    // The last product's short page ends the history; an empty one too.
    assert_eq!(parse_trades(CBX, &p, Some("ETH-USD"), ok("[]")).expect("last").next, None);
    // A product that left the list: the next one after it, from its newest page.
    let r = trades_request(CBX, &p, Some("CAT-USD:7")).expect("request").expect("some");
    assert_eq!(r.query, "product_id=ETH-USD&limit=100");
    assert_eq!(trades_request(CBX, &p, Some("ZZZ-USD")), Ok(None));
    assert_eq!(trades_request(CBX, &[], None), Ok(None));
    for bad in ["BTC-USD:", "BTC-USD:x", "BTC-USD:-1", "BTC-USD:1&limit=5", "BTC USD", "BTC-USD:99999999999999999999"] {
        assert!(matches!(trades_request(CBX, &p, Some(bad)), Err(VenueError::BadInput { .. })), "{bad:?}");
    }
    // An unlisted product: no trades there.
    for refusal in [resp(404, r#"{"message":"NotFound"}"#), resp(400, r#"{"message":"Invalid product_id"}"#)] {
        let got = parse_trades(CBX, &p, None, refusal).expect("unlisted");
        assert_eq!((got.trades.len(), got.next.as_deref()), (0, Some("ETH-USD")));
    }
    // Refusals that are not about an unlisted product stay refusals.
    for (status, body) in [(400, r#"{"message":"product_id or order_id is required"}"#), (404, r#"{"message":"Gone"}"#)]
    {
        assert!(matches!(parse_trades(CBX, &p, None, resp(status, body)), Err(VenueError::Exchange { .. })), "{body}");
    }
}

#[test]
fn a_refresh_leaves_each_product_once_it_reaches_the_newest_stored_trade() {
    let p = products();
    let ids = BTreeMap::new();
    // Rows of `page` are 401..=500 ms past :23, newest first.
    let newest_ms = 1_574_300_303_000 + 450 + SINCE_OVERLAP_MS;
    let since = Since { newest_ms, last_ids: &ids, now_ms: newest_ms + 1 };
    let r = trades_since_request(CBX, &p, &since, None).expect("since").expect("some");
    assert_eq!(r.query, "product_id=BTC-USD&limit=100", "no time filter: newest first");
    let reaches = page("BTC-USD", 401..=500);
    let got = parse_trades_since(CBX, &p, &since, None, ok(&reaches)).expect("page");
    assert_eq!((got.trades.len(), got.next.as_deref()), (100, Some("ETH-USD")), "reached since: next product");
    let newer = Since { newest_ms: newest_ms - 100, ..since };
    let got = parse_trades_since(CBX, &p, &newer, None, ok(&reaches)).expect("page");
    assert_eq!(got.next.as_deref(), Some("BTC-USD:401"), "all newer than since: older page next");
}

#[test]
fn orders() {
    let limit = order(Side::Buy, OrderKind::Limit, "0.1", Some("20000"));
    let r = place_request(CBX, &limit).expect("limit");
    assert_eq!(
        (triple(&r), r.body.as_str()),
        (
            ("POST", "/orders", ""),
            r#"{"client_oid":"0123abcd-0123-4567-89ab-0123456789ab","price":"20000","product_id":"BTC-USD","side":"buy","size":"0.1","time_in_force":"GTC","type":"limit"}"#
        )
    );
    // A market buy is sized in base units (`size`), never `funds`.
    let market = order(Side::Buy, OrderKind::Market, "0.02", None);
    assert_eq!(
        place_request(CBX, &market).expect("market").body,
        r#"{"client_oid":"0123abcd-0123-4567-89ab-0123456789ab","product_id":"BTC-USD","side":"buy","size":"0.02","type":"market"}"#
    );
    // "Create a new order", the docs' answer.
    let placed = ok(r#"{"id":"d0c5340b-6d6c-49d9-b567-48c4bfca13d2","price":"0.10000000","size":"0.01000000",
        "product_id":"BTC-USD","side":"buy","stp":"dc","type":"limit","time_in_force":"GTC","post_only":false,
        "created_at":"2016-12-08T20:02:28.53864Z","fill_fees":"0.0000000000000000","filled_size":"0.00000000",
        "executed_value":"0.0000000000000000","status":"pending","settled":false}"#);
    assert_eq!(
        parse_placed(CBX, placed),
        Ok(Placed { exchange_order_id: "d0c5340b-6d6c-49d9-b567-48c4bfca13d2".into(), status: "accepted" })
    );
    let filled = ok(r#"{"id":"a","status":"done","done_reason":"filled"}"#);
    assert_eq!(parse_placed(CBX, filled), Ok(Placed { exchange_order_id: "a".into(), status: "filled" }));
    assert_eq!(parse_placed(CBX, ok(r#"{"id":"a","status":"open"}"#)).map(|p| p.status), Ok("open"));
    assert_eq!(parse_placed(CBX, ok(r#"{"id":"a","status":"rejected"}"#)).map(|p| p.status), Ok("rejected"));
    let funds = resp(400, r#"{"message":"Insufficient funds"}"#);
    assert_eq!(
        parse_placed(CBX, funds),
        Err(VenueError::Exchange { status: 400, message: "Insufficient funds".into() })
    );

    let c = cancel_request(CBX, "BTC-USD", "d0c5340b-6d6c-49d9-b567-48c4bfca13d2").expect("cancel");
    assert_eq!(
        (triple(&c), c.body.as_str()),
        (("DELETE", "/orders/d0c5340b-6d6c-49d9-b567-48c4bfca13d2", "product_id=BTC-USD"), "")
    );
    assert_eq!(parse_cancelled(CBX, ok(r#""d0c5340b-6d6c-49d9-b567-48c4bfca13d2""#)), Ok(()));
    assert_eq!(parse_cancelled(CBX, ok(r#"{"id":"x"}"#)), mal("$", "is not the cancelled order's id"));
    assert_eq!(parse_cancelled(CBX, ok(r#""""#)), mal("$", "is not the cancelled order's id"));
    assert_eq!(
        parse_cancelled(CBX, resp(404, r#"{"message":"NotFound"}"#)),
        Err(VenueError::Exchange { status: 404, message: "NotFound".into() })
    );

    let q = status_request(CBX, "BTC-USD", CLIENT).expect("status").expect("some");
    assert_eq!((triple(&q), q.body.as_str()), (("GET", "/orders/client:0123abcd-0123-4567-89ab-0123456789ab", ""), ""));
    let open = ok(r#"{"id":"a9625b04-fc66-4999-a876-543c3684d702","price":"10.00000000","size":"1.00000000",
        "product_id":"BTC-USD","side":"buy","type":"limit","status":"open","settled":false}"#);
    assert_eq!(
        parse_status(CBX, open),
        Ok(Some(Placed { exchange_order_id: "a9625b04-fc66-4999-a876-543c3684d702".into(), status: "open" }))
    );
    let cancelled = ok(r#"{"id":"b","status":"done","done_reason":"canceled"}"#);
    assert_eq!(parse_status(CBX, cancelled).map(|p| p.map(|p| p.status)), Ok(Some("canceled")));
    // Never received (or cancelled without a match): nothing live, nothing moved.
    assert_eq!(parse_status(CBX, resp(404, r#"{"message":"NotFound"}"#)), Ok(None));
    assert!(parse_status(CBX, resp(401, r#"{"message":"invalid signature"}"#)).is_err());
}

#[test]
fn transient_errors() {
    for (status, body, transient) in [
        (429, r#"{"message":"Private rate limit exceeded"}"#, true),
        (400, r#"{"message":"Rate limit exceeded"}"#, true),
        (503, "<html>busy</html>", true),
        (400, r#"{"message":"Insufficient funds"}"#, false),
        (401, r#"{"message":"Invalid Passphrase"}"#, false),
    ] {
        let e = parse_balances(CBX, resp(status, body)).expect_err("refused");
        assert_eq!(e.is_transient(), transient, "{status} {body}");
    }
}

#[test]
fn hostile_answers_are_refused_precisely() {
    let p = products();
    let cases: Vec<(String, Result<TradePage>)> = vec![
        ("{}".into(), mal("$", "is not an array")),
        ("not json".into(), Err(VenueError::NotJson { line: 1, column: 2 })),
        (page("BTC-USD", 1..=101), mal("$", "holds more than the limit asked for")),
        (
            format!("[{}]", fill("BTC-USD", 1, 0).replace("\"trade_id\":1", "\"trade_id\":-1")),
            mal("[].trade_id", "is not a trade id"),
        ),
        (
            format!("[{}]", fill("BTC-USD", 1, 0).replace("\"trade_id\":1", "\"trade_id\":\"1\"")),
            mal("[].trade_id", "is not a trade id"),
        ),
        (
            format!("[{},{}]", fill("BTC-USD", 1, 0), fill("BTC-USD", 2, 0)),
            mal("[].trade_id", "is not in descending order"),
        ),
        (format!("[{}]", fill("ETH-USD", 1, 0)), mal("[].product_id", "is not the product asked for")),
        (format!("[{}]", fill("BTC-USD", 1, 0).replace("\"sell\"", "\"short\"")), mal("[].side", "is not buy or sell")),
        (
            format!("[{}]", fill("BTC-USD", 1, 0).replace("\"8087.38000000\"", "8087.38")),
            mal("[].price", "is not a string"),
        ),
        (format!("[{}]", fill("BTC-USD", 1, 0).replace("\"0.00601800\"", "\"-1\"")), mal("[].size", "is negative")),
        (
            format!("[{}]", fill("BTC-USD", 1, 0).replace("\"0.2433492642000000\"", "\"1e3\"")),
            mal("[].fee", "is not a plain decimal number"),
        ),
        (
            format!("[{}]", fill("BTC-USD", 1, 0).replace("2019-11-21T", "yesterday ")),
            mal("[].created_at", "is not an RFC 3339 time"),
        ),
        (
            format!("[{}]", fill("BTC-USD", 1, 0).replace("\"price\":\"8087.38000000\",", "")),
            mal("[].price", "is missing"),
        ),
    ];
    for (body, want) in cases {
        assert_eq!(parse_trades(CBX, &p, None, ok(&body)), want, "{body}");
    }
    // Asked after 500: a row at or above it would send the cursor back.
    let back = format!("[{}]", fill("BTC-USD", 500, 0));
    assert_eq!(
        parse_trades(CBX, &p, Some("BTC-USD:500"), ok(&back)),
        mal("[].trade_id", "is not older than the page asked after")
    );
    let huge = format!("[{}]", vec!["{}"; MAX_ITEMS + 1].join(","));
    assert_eq!(parse_balances(CBX, ok(&huge)), Err(VenueError::TooLarge("$")));
    assert_eq!(parse_balances(CBX, ok(&" ".repeat(MAX_BODY + 1))), Err(VenueError::TooLarge("body")));
    assert_eq!(parse_balances(CBX, ok(r#"[{"currency":"BTC","available":"1"}]"#)), mal("[].hold", "is missing"));
    assert_eq!(
        parse_balances(CBX, ok(r#"[{"currency":"B T","available":"1","hold":"0"}]"#)),
        mal("asset", "is not an asset code")
    );
    assert_eq!(parse_placed(CBX, ok(r#"{"id":"a","status":"weird"}"#)), mal("status", "is not an order status"));
    assert_eq!(
        parse_placed(CBX, ok(r#"{"id":"a","status":"done","done_reason":"x"}"#)),
        mal("done_reason", "is not filled or canceled")
    );
    assert_eq!(parse_placed(CBX, ok(r#"{"id":"a b","status":"open"}"#)), mal("id", "is not a printable id"));
    assert_eq!(parse_placed(CBX, ok(r#"["a"]"#)), mal("$", "is not an object"));
    let long = format!(r#"{{"message":"{}"}}"#, "x".repeat(10_000));
    match parse_placed(CBX, resp(400, &long)) {
        Err(VenueError::Exchange { status: 400, message }) => assert_eq!(message.len(), MAX_MESSAGE),
        other => panic!("{other:?}"),
    }
}
