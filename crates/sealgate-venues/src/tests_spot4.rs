//! MEXC spot v3 and Poloniex spot requests and parsers, against the examples of their docs
//! and against hostile answers.

use std::collections::BTreeMap;

use super::*;
use crate::test_support::{mal, ok, order, resp};

fn triple(r: &Request) -> (&str, &str, &str) {
    (r.method.as_str(), r.path.as_str(), r.query.as_str())
}

// --- MEXC -------------------------------------------------------------------------------

#[test]
fn mexc_ids_and_budget() {
    assert_eq!(Venue::from_exchange("mexc"), Ok(Venue::Mexc));
    assert_eq!(Venue::Mexc.to_string(), "mexc");
    assert!(Venue::ALL.contains(&Venue::Mexc));
    assert_eq!(normalize_asset(Venue::Mexc, "usdt"), Ok("USDT".into()));
    let b = limits::budget(Venue::Mexc);
    assert_eq!(b.scope, limits::Scope::Address);
    let history = Request::new("GET", "/api/v3/myTrades", "symbol=BTCUSDT", "");
    assert_eq!(limits::cost_milli(Venue::Mexc, &history), 10_000);
    assert_eq!(limits::cost_milli(Venue::Mexc, &Request::new("POST", "/api/v3/order", "", "")), 1_000);
    // 500 weight per 10 s per endpoint: the refill stays below 50 a second.
    assert!(b.refill_milli_per_s < 50_000 && b.burst_milli < 500_000);
}

/// "Account Information", the docs' example (trimmed).
const MEXC_ACCOUNT: &str = r#"{"makerCommission":null,"takerCommission":null,"buyerCommission":null,
 "sellerCommission":null,"canTrade":true,"canWithdraw":true,"canDeposit":true,"updateTime":null,
 "accountType":"SPOT","balances":[{"asset":"NBNTEST","free":"1112","locked":"0"},
 {"asset":"MAIN","free":"1022","locked":"0"}],"permissions":["SPOT"]}"#;

/// "Account Trade List", the docs' example, plus a second row of the same symbol.
const MEXC_TRADES: &str = r#"[
 {"symbol":"BNBBTC","id":"fad2af9e942049b6adbda1a271f990c6","orderId":"bb41e5663e124046bd9497a3f5692f39",
  "orderListId":-1,"price":"4.00000100","qty":"12.00000000","quoteQty":"48.000012","commission":"10.10000000",
  "commissionAsset":"BNB","time":1499865549590,"isBuyer":true,"isMaker":false,"isBestMatch":true,
  "isSelfTrade":true,"clientOrderId":null},
 {"symbol":"BNBBTC","id":"7","orderId":"8","price":"4.1","qty":"1","commission":"0","commissionAsset":"",
  "time":1499865549600,"isBuyer":false}]"#;

#[test]
fn mexc_balances_and_trades() {
    let r = balances_request(Venue::Mexc, None).expect("request");
    assert_eq!((triple(&r), r.body.as_str()), (("GET", "/api/v3/account", ""), ""));
    let page = parse_balances(Venue::Mexc, ok(MEXC_ACCOUNT)).expect("balances");
    assert_eq!(
        page.balances,
        vec![
            VenueBalance { asset: "NBNTEST".into(), free: "1112".into(), locked: "0".into() },
            VenueBalance { asset: "MAIN".into(), free: "1022".into(), locked: "0".into() },
        ]
    );

    let symbols = vec!["BNBBTC".to_owned(), "ETHBTC".to_owned()];
    let first = trades_request(Venue::Mexc, &symbols, None).expect("request").expect("some");
    assert_eq!(triple(&first), ("GET", "/api/v3/myTrades", "symbol=BNBBTC&startTime=0&limit=100"));
    assert_eq!(first.body, "", "MEXC signs form parameters: none in a body");
    let page = parse_trades(Venue::Mexc, &symbols, None, ok(MEXC_TRADES)).expect("trades");
    assert_eq!(
        page.trades[0],
        Trade {
            exchange_trade_id: "BNBBTC-fad2af9e942049b6adbda1a271f990c6".into(),
            symbol: "BNBBTC".into(),
            side: Side::Buy,
            price: "4.00000100".into(),
            qty: "12.00000000".into(),
            fee: "10.10000000".into(),
            fee_asset: Some("BNB".into()),
            time_ms: 1_499_865_549_590,
        }
    );
    assert_eq!((page.trades[1].side, &page.trades[1].fee_asset), (Side::Sell, &None));
    assert_eq!(page.next.as_deref(), Some("ETHBTC:0"), "a short page: the next symbol");

    // A full page: the next starts at its newest time (read again, never skipped).
    let row = |i: u64| {
        format!(
            r#"{{"symbol":"BNBBTC","id":"{i}","price":"1","qty":"1","commission":"0","commissionAsset":"",
            "time":{},"isBuyer":true}}"#,
            1_000 + i / 2
        )
    };
    let full = format!("[{}]", (0..100).map(row).collect::<Vec<_>>().join(","));
    let page = parse_trades(Venue::Mexc, &symbols, Some("BNBBTC:1000"), ok(&full)).expect("full");
    assert_eq!((page.trades.len(), page.next.as_deref()), (100, Some("BNBBTC:1049")));
    let r = trades_request(Venue::Mexc, &symbols, Some("BNBBTC:1049")).expect("request").expect("some");
    assert_eq!(r.query, "symbol=BNBBTC&startTime=1049&limit=100");
    // The last symbol's short page ends the history.
    assert_eq!(parse_trades(Venue::Mexc, &symbols, Some("ETHBTC:0"), ok("[]")).expect("last").next, None);
    // A pair MEXC does not list: no trades there.
    let invalid = resp(400, r#"{"code":-1121,"msg":"Invalid symbol."}"#);
    let page = parse_trades(Venue::Mexc, &symbols, Some("ETHBTC:0"), invalid).expect("invalid symbol");
    assert_eq!((page.trades.len(), page.next), (0, None));
    // No symbol: nothing to ask.
    assert_eq!(trades_request(Venue::Mexc, &[], None), Ok(None));
    for bad in ["", "BNBBTC", "BNBBTC:", "BNBBTC:x", "BNBBTC:-1", "BNBBTC:1&limit=5", "BNBBTC:9999999999999999"] {
        assert!(
            matches!(trades_request(Venue::Mexc, &symbols, Some(bad)), Err(VenueError::BadInput { .. })),
            "{bad:?}"
        );
    }

    // A refresh: each symbol from the newest stored trade less the overlap.
    let ids = BTreeMap::new();
    let since = Since { newest_ms: 1_499_865_549_590, last_ids: &ids, now_ms: 1_600_000_000_000 };
    let from = 1_499_865_549_590 - SINCE_OVERLAP_MS;
    let r = trades_since_request(Venue::Mexc, &symbols, &since, None).expect("since").expect("some");
    assert_eq!(r.query, format!("symbol=BNBBTC&startTime={from}&limit=100"));
    let page = parse_trades_since(Venue::Mexc, &symbols, &since, None, ok(MEXC_TRADES)).expect("since page");
    assert_eq!(page.next.as_deref(), Some("ETHBTC:0"));
    let r = trades_since_request(Venue::Mexc, &symbols, &since, Some("ETHBTC:0")).expect("since").expect("some");
    assert_eq!(r.query, format!("symbol=ETHBTC&startTime={from}&limit=100"), "the next symbol from `since` too");
    let later = format!("ETHBTC:{}", from + 5);
    let r = trades_since_request(Venue::Mexc, &symbols, &since, Some(&later)).expect("since").expect("some");
    assert_eq!(r.query, format!("symbol=ETHBTC&startTime={}&limit=100", from + 5));
}

#[test]
fn mexc_orders() {
    let limit = order("BTCUSDT", Side::Buy, OrderKind::Limit, "0.1", Some("20000"));
    let r = place_request(Venue::Mexc, &limit).expect("limit");
    assert_eq!(
        (triple(&r), r.body.as_str()),
        (
            (
                "POST",
                "/api/v3/order",
                "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=0.1&price=20000\
                 &newClientOrderId=0123abcd-0123-4567-89ab-0123456789ab"
            ),
            ""
        )
    );
    // A market buy is sized in base units with `quantity`, never `quoteOrderQty`.
    let buy = order("BTCUSDT", Side::Buy, OrderKind::Market, "0.02", None);
    assert_eq!(
        place_request(Venue::Mexc, &buy).expect("market buy").query,
        "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.02&newClientOrderId=0123abcd-0123-4567-89ab-0123456789ab"
    );
    // "New Order", the docs' answer: no status.
    let placed = ok(r#"{"symbol":"MXUSDT","orderId":"06a480e69e604477bfb48dddd5f0b750","orderListId":-1,
        "price":"0.1","origQty":"50","type":"LIMIT","side":"BUY","transactTime":1666676533741}"#);
    assert_eq!(
        parse_placed(Venue::Mexc, placed),
        Ok(Placed { exchange_order_id: "06a480e69e604477bfb48dddd5f0b750".into(), status: "accepted" })
    );
    let c = cancel_request(Venue::Mexc, "BTCUSDT", "06a480e69e604477bfb48dddd5f0b750").expect("cancel");
    assert_eq!(
        (triple(&c), c.body.as_str()),
        (("DELETE", "/api/v3/order", "symbol=BTCUSDT&orderId=06a480e69e604477bfb48dddd5f0b750"), "")
    );
    let cancelled =
        ok(r#"{"symbol":"LTCBTC","origClientOrderId":"myOrder1","orderId":"4","clientOrderId":"cancelMyOrder1",
        "price":"2.00000000","origQty":"1.00000000","executedQty":"0.00000000","cummulativeQuoteQty":"0.00000000",
        "status":"CANCELED","timeInForce":"GTC","type":"LIMIT","side":"BUY"}"#);
    assert_eq!(parse_cancelled(Venue::Mexc, cancelled), Ok(()));
    assert_eq!(parse_cancelled(Venue::Mexc, ok(r#"{"status":"NEW"}"#)), mal("status", "is not CANCELED"));
    let unknown = resp(400, r#"{"code":-2011,"msg":"Unknown order sent."}"#);
    assert_eq!(
        parse_cancelled(Venue::Mexc, unknown),
        Err(VenueError::Exchange { status: 400, message: "-2011 Unknown order sent.".into() })
    );
    let funds = resp(400, r#"{"code":30004,"msg":"Insufficient position"}"#);
    assert!(parse_placed(Venue::Mexc, funds).is_err_and(|e| !e.is_transient()));
    let busy = resp(429, r#"{"code":429,"msg":"Too Many Requests"}"#);
    assert!(parse_placed(Venue::Mexc, busy).is_err_and(|e| e.is_transient()));
    let auth = resp(401, r#"{"code":700002,"msg":"Signature for this request is not valid."}"#);
    assert!(parse_balances(Venue::Mexc, auth).is_err_and(|e| !e.is_transient()));

    // Reconciling: "Query Order" by origClientOrderId.
    let q = status_request(Venue::Mexc, "BTCUSDT", "0123abcd-0123-4567-89ab-0123456789ab").expect("q").expect("some");
    assert_eq!(
        (triple(&q), q.body.as_str()),
        (("GET", "/api/v3/order", "symbol=BTCUSDT&origClientOrderId=0123abcd-0123-4567-89ab-0123456789ab"), "")
    );
    let found = ok(r#"{"symbol":"LTCBTC","orderId":"9","clientOrderId":"c","status":"PARTIALLY_CANCELED"}"#);
    assert_eq!(
        parse_status(Venue::Mexc, found),
        Ok(Some(Placed { exchange_order_id: "9".into(), status: "canceled" }))
    );
    let filled = ok(r#"{"orderId":"9","status":"FILLED"}"#);
    assert_eq!(parse_status(Venue::Mexc, filled), Ok(Some(Placed { exchange_order_id: "9".into(), status: "filled" })));
    let never = resp(400, r#"{"code":-2011,"msg":"Unknown order sent."}"#);
    assert_eq!(parse_status(Venue::Mexc, never), Ok(None));
    assert_eq!(
        parse_status(Venue::Mexc, ok(r#"{"orderId":"9","status":"LOST"}"#)),
        mal("status", "is not an order status")
    );
    let down = resp(503, "");
    assert!(parse_status(Venue::Mexc, down).is_err_and(|e| e.is_transient()));
}

#[test]
fn mexc_hostile_answers_are_refused_precisely() {
    let symbols = vec!["BTCUSDT".to_owned()];
    let good = r#""symbol":"BTCUSDT","price":"1","qty":"1","commission":"0","commissionAsset":"USDT","isBuyer":true"#;
    let cases = [
        (format!(r#"[{{{good},"time":5}}]"#), mal("[].id", "is missing")),
        (format!(r#"[{{{good},"time":5,"id":"a b"}}]"#), mal("[].id", "is not a printable id")),
        (format!(r#"[{{{good},"time":5,"id":-3}}]"#), mal("[].id", "is not a non-negative integer")),
        (format!(r#"[{{{good},"id":"1"}}]"#), mal("[].time", "is missing")),
        (format!(r#"[{{{good},"id":"1","time":"soon"}}]"#), mal("[].time", "is not a millisecond time")),
        // Back before the startTime asked (the cursor would go back).
        (format!(r#"[{{{good},"id":"1","time":4}}]"#), mal("[].time", "is before the startTime asked for")),
        (
            format!(r#"[{{{},"id":"1","time":5}}]"#, good.replace("BTCUSDT", "ETHUSDT")),
            mal("[].symbol", "is not the symbol asked for"),
        ),
        (
            format!(r#"[{{{},"id":"1","time":5}}]"#, good.replace(r#""qty":"1""#, r#""qty":1"#)),
            mal("[].qty", "is not a string"),
        ),
        (
            format!(r#"[{{{},"id":"1","time":5}}]"#, good.replace(r#""price":"1""#, r#""price":"-1""#)),
            mal("[].price", "is negative"),
        ),
        (format!(r#"[{{{},"id":"1","time":5}}]"#, good.replace("true", "\"yes\"")), mal("[].isBuyer", "is not a bool")),
        (r#"{"code":0}"#.to_owned(), mal("$", "is not an array")),
        (r#"[7]"#.to_owned(), mal("[]", "is not an object")),
    ];
    for (body, want) in cases {
        assert_eq!(parse_trades(Venue::Mexc, &symbols, Some("BTCUSDT:5"), ok(&body)), want, "{body}");
    }
    // More rows than asked for.
    let row = format!(r#"{{{good},"id":"1","time":5}}"#);
    let big = format!("[{}]", vec![row.as_str(); 101].join(","));
    assert_eq!(
        parse_trades(Venue::Mexc, &symbols, Some("BTCUSDT:5"), ok(&big)),
        mal("$", "holds more than the limit asked for")
    );
    // A full page in one millisecond would ask the same page forever.
    let stuck = format!("[{}]", vec![row.as_str(); 100].join(","));
    assert_eq!(
        parse_trades(Venue::Mexc, &symbols, Some("BTCUSDT:5"), ok(&stuck)),
        mal("[].time", "fills a whole page in one millisecond: paging by time cannot advance")
    );
    let huge = format!("[{}]", "1,".repeat(MAX_BODY / 2));
    assert_eq!(parse_trades(Venue::Mexc, &symbols, None, ok(&huge)), Err(VenueError::TooLarge("body")));
    assert!(matches!(parse_balances(Venue::Mexc, ok("{\"balances\":")), Err(VenueError::NotJson { .. })));
    let bal = |row: &str| format!(r#"{{"balances":[{row}]}}"#);
    assert_eq!(
        parse_balances(Venue::Mexc, ok(&bal(r#"{"asset":"BTC","free":"-1","locked":"0"}"#))).map(|p| p.balances),
        mal("balances[].free", "is negative")
    );
    assert_eq!(
        parse_balances(Venue::Mexc, ok(&bal(r#"{"asset":"BT C","free":"1","locked":"0"}"#))).map(|p| p.balances),
        mal("asset", "is not an asset code")
    );
    assert_eq!(
        parse_balances(Venue::Mexc, ok(&bal(r#"{"asset":"BTC","free":"1"}"#))).map(|p| p.balances),
        mal("balances[].locked", "is missing")
    );
    assert_eq!(parse_placed(Venue::Mexc, ok(r#"{"orderId":7.5}"#)), mal("orderId", "is not a non-negative integer"));
    assert_eq!(parse_placed(Venue::Mexc, ok(r#"{"orderId":"1","status":7}"#)), mal("status", "is not a string"));
    let long = format!(r#"{{"code":700002,"msg":"{}"}}"#, "x".repeat(5_000));
    match parse_balances(Venue::Mexc, resp(401, &long)) {
        Err(VenueError::Exchange { status: 401, message }) => assert!(message.len() <= MAX_MESSAGE),
        other => panic!("{other:?}"),
    }
}

// --- Poloniex ---------------------------------------------------------------------------

#[test]
fn poloniex_ids_and_budget() {
    assert_eq!(Venue::from_exchange("poloniex"), Ok(Venue::Poloniex));
    assert_eq!(Venue::Poloniex.to_string(), "poloniex");
    assert!(Venue::ALL.contains(&Venue::Poloniex));
    let id = client_order_id(Venue::Poloniex, &[0x5a; 16]);
    assert!(id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{id}");
    assert_eq!(normalize_asset(Venue::Poloniex, "usdt"), Ok("USDT".into()));
    let b = limits::budget(Venue::Poloniex);
    assert_eq!(b.scope, limits::Scope::Key);
    assert!(b.refill_milli_per_s < 10_000 && b.burst_milli < 10_000);
}

/// "All Account Balances", the docs' example shape (two SPOT currencies), plus a second
/// row of a currency and an account of another type (left out).
const POLONIEX_BALANCES: &str = r#"[{"accountId":"7904940398","accountType":"SPOT","balances":[
  {"currencyId":"214","currency":"BTC","available":"2.00","hold":"0.25"},
  {"currencyId":"1","currency":"USDT","available":"10.5","hold":"0"},
  {"currencyId":"214","currency":"BTC","available":"0.5","hold":"0"}]},
 {"accountId":"1","accountType":"FUTURES","balances":[{"currency":"USDT","available":"99","hold":"0"}]}]"#;

/// "Trade History", the docs' example shape, newest first.
const POLONIEX_TRADES: &str = r#"[
 {"id":"62561238270107648","symbol":"LINK_USDT","accountType":"SPOT","orderId":"62561238256627712",
  "side":"BUY","type":"MARKET","matchRole":"TAKER","createTime":1648635115535,"price":"11",
  "quantity":"0.5","amount":"5.5","feeCurrency":"LINK","feeAmount":"0.0009","pageId":"2537",
  "clientOrderId":""},
 {"id":"62561238270107647","symbol":"BTC_USDT","side":"SELL","createTime":1648635115000,"price":"40000",
  "quantity":"0.01","feeCurrency":"","feeAmount":"0","pageId":"2536"}]"#;

#[test]
fn poloniex_balances_and_trades() {
    let r = balances_request(Venue::Poloniex, None).expect("request");
    assert_eq!((triple(&r), r.body.as_str()), (("GET", "/accounts/balances", ""), ""));
    let page = parse_balances(Venue::Poloniex, ok(POLONIEX_BALANCES)).expect("balances");
    assert_eq!(
        page.balances,
        vec![
            VenueBalance { asset: "BTC".into(), free: "2.50".into(), locked: "0.25".into() },
            VenueBalance { asset: "USDT".into(), free: "10.5".into(), locked: "0".into() },
        ],
        "SPOT rows summed per currency, the FUTURES account left out"
    );

    let first = trades_request(Venue::Poloniex, &[], None).expect("request").expect("some");
    assert_eq!((triple(&first), first.body.as_str()), (("GET", "/trades", "limit=100"), ""));
    let page = parse_trades(Venue::Poloniex, &[], None, ok(POLONIEX_TRADES)).expect("trades");
    assert_eq!(
        page.trades[0],
        Trade {
            exchange_trade_id: "62561238270107648".into(),
            symbol: "LINK_USDT".into(),
            side: Side::Buy,
            price: "11".into(),
            qty: "0.5".into(),
            fee: "0.0009".into(),
            fee_asset: Some("LINK".into()),
            time_ms: 1_648_635_115_535,
        }
    );
    assert_eq!((page.trades[1].side, &page.trades[1].fee_asset), (Side::Sell, &None));
    assert_eq!(page.next, None, "a short page is the last");

    // A full page: the next is older than its oldest row's pageId.
    let row = |i: u64| {
        format!(
            r#"{{"id":"{i}","symbol":"BTC_USDT","side":"BUY","createTime":1,"price":"1","quantity":"1",
            "feeCurrency":"USDT","feeAmount":"0","pageId":"{}"}}"#,
            900 - i
        )
    };
    let full = format!("[{}]", (0..100).map(row).collect::<Vec<_>>().join(","));
    let page = parse_trades(Venue::Poloniex, &[], Some("1000"), ok(&full)).expect("full");
    assert_eq!((page.trades.len(), page.next.as_deref()), (100, Some("801")));
    let next = trades_request(Venue::Poloniex, &[], Some("801")).expect("request").expect("some");
    assert_eq!(next.query, "limit=100&from=801&direction=NEXT");
    for bad in ["", "x", "-1", "1&limit=5", "123456789012345678901"] {
        assert!(matches!(trades_request(Venue::Poloniex, &[], Some(bad)), Err(VenueError::BadInput { .. })), "{bad:?}");
    }

    // A refresh: from the newest stored trade less the overlap, paged the same way.
    let ids = BTreeMap::new();
    let since = Since { newest_ms: 1_648_635_115_535, last_ids: &ids, now_ms: 1_700_000_000_000 };
    let from = 1_648_635_115_535 - SINCE_OVERLAP_MS;
    let r = trades_since_request(Venue::Poloniex, &[], &since, None).expect("since").expect("some");
    assert_eq!(r.query, format!("startTime={from}&limit=100"));
    let r = trades_since_request(Venue::Poloniex, &[], &since, Some("801")).expect("since").expect("some");
    assert_eq!(r.query, format!("startTime={from}&limit=100&from=801&direction=NEXT"));
    let page = parse_trades_since(Venue::Poloniex, &[], &since, Some("801"), ok("[]")).expect("since page");
    assert_eq!((page.trades.len(), page.next), (0, None));
}

#[test]
fn poloniex_orders() {
    let limit = order("BTC_USDT", Side::Buy, OrderKind::Limit, "0.1", Some("20000"));
    let r = place_request(Venue::Poloniex, &limit).expect("limit");
    assert_eq!(triple(&r), ("POST", "/orders", ""));
    // The exact bytes signed and sent (keys in serde_json's sorted order).
    assert_eq!(
        r.body,
        r#"{"clientOrderId":"0123abcd-0123-4567-89ab-0123456789ab","price":"20000","quantity":"0.1","side":"BUY","symbol":"BTC_USDT","timeInForce":"GTC","type":"LIMIT"}"#
    );
    let sell = order("BTC_USDT", Side::Sell, OrderKind::Market, "0.02", None);
    assert_eq!(
        place_request(Venue::Poloniex, &sell).expect("market sell").body,
        r#"{"clientOrderId":"0123abcd-0123-4567-89ab-0123456789ab","quantity":"0.02","side":"SELL","symbol":"BTC_USDT","type":"MARKET"}"#
    );
    // A market buy is sized in the quote currency on Poloniex: refused before it is sent.
    let buy = order("BTC_USDT", Side::Buy, OrderKind::Market, "0.02", None);
    assert!(matches!(place_request(Venue::Poloniex, &buy), Err(VenueError::BadInput { field: "kind", .. })));
    // "Create Order", the docs' answer.
    let placed = ok(r#"{"id":"29772698821328896","clientOrderId":"1234Abc"}"#);
    assert_eq!(
        parse_placed(Venue::Poloniex, placed),
        Ok(Placed { exchange_order_id: "29772698821328896".into(), status: "accepted" })
    );
    let c = cancel_request(Venue::Poloniex, "BTC_USDT", "29772698821328896").expect("cancel");
    assert_eq!((triple(&c), c.body.as_str()), (("DELETE", "/orders/29772698821328896", ""), ""));
    let cancelled = ok(r#"{"orderId":"32487004629499904","clientOrderId":"54321","state":"PENDING_CANCEL",
        "code":200,"message":""}"#);
    assert_eq!(parse_cancelled(Venue::Poloniex, cancelled), Ok(()));
    let refused_in_200 = ok(r#"{"orderId":"1","clientOrderId":"","state":"FAILED","code":21603,
        "message":"Order not found"}"#);
    assert_eq!(
        parse_cancelled(Venue::Poloniex, refused_in_200),
        Err(VenueError::Exchange { status: 200, message: "21603 Order not found".into() })
    );
    let still = ok(r#"{"orderId":"1","state":"NEW","code":200,"message":""}"#);
    assert_eq!(
        parse_cancelled(Venue::Poloniex, still),
        Err(VenueError::Exchange { status: 200, message: "the order was not cancelled".into() })
    );
    let funds = resp(400, r#"{"code":400,"message":"Insufficient balance"}"#);
    assert_eq!(
        parse_placed(Venue::Poloniex, funds),
        Err(VenueError::Exchange { status: 400, message: "400 Insufficient balance".into() })
    );
    let auth = resp(401, r#"{"code":401,"message":"Invalid Apikey or Signature"}"#);
    assert!(parse_balances(Venue::Poloniex, auth).is_err_and(|e| !e.is_transient()));
    let busy = resp(429, r#"{"code":429,"message":"Too many requests"}"#);
    assert!(parse_placed(Venue::Poloniex, busy).is_err_and(|e| e.is_transient()));
    assert_eq!(status_request(Venue::Poloniex, "BTC_USDT", "abc"), Ok(None));
}

#[test]
fn poloniex_hostile_answers_are_refused_precisely() {
    let good = r#""symbol":"BTC_USDT","side":"BUY","createTime":1,"price":"1","feeAmount":"0","feeCurrency":"USDT""#;
    let cases = [
        (format!(r#"[{{{good},"id":"1","quantity":"1"}}]"#), mal("[].pageId", "is missing")),
        (format!(r#"[{{{good},"id":"1","quantity":"1","pageId":"x9"}}]"#), mal("[].pageId", "is not a page id")),
        // Not older than the page asked from: the cursor would not go down.
        (
            format!(r#"[{{{good},"id":"1","quantity":"1","pageId":"500"}}]"#),
            mal("[].pageId", "is not older than the page asked from"),
        ),
        (format!(r#"[{{{good},"quantity":"1","pageId":"5"}}]"#), mal("[].id", "is missing")),
        (format!(r#"[{{{good},"id":"1","quantity":1,"pageId":"5"}}]"#), mal("[].quantity", "is not a string")),
        (
            format!(r#"[{{{good},"id":"1","quantity":"1e3","pageId":"5"}}]"#),
            mal("[].quantity", "is not a plain decimal number"),
        ),
        (
            format!(r#"[{{{},"id":"1","quantity":"1","pageId":"5"}}]"#, good.replace("BUY", "HOLD")),
            mal("[].side", "is not buy or sell"),
        ),
        (
            format!(r#"[{{{},"id":"1","quantity":"1","pageId":"5"}}]"#, good.replace("BTC_USDT", "BTC USDT")),
            mal("[].symbol", "is not a symbol"),
        ),
        (
            format!(
                r#"[{{{},"id":"1","quantity":"1","pageId":"5"}}]"#,
                good.replace("\"createTime\":1", "\"createTime\":-1")
            ),
            mal("[].createTime", "is not a millisecond time"),
        ),
        (r#"{"code":200}"#.to_owned(), mal("$", "is not an array")),
        (r#"["x"]"#.to_owned(), mal("[]", "is not an object")),
    ];
    for (body, want) in cases {
        assert_eq!(parse_trades(Venue::Poloniex, &[], Some("500"), ok(&body)), want, "{body}");
    }
    let row = format!(r#"{{{good},"id":"1","quantity":"1","pageId":"5"}}"#);
    let big = format!("[{}]", vec![row.as_str(); 101].join(","));
    assert_eq!(parse_trades(Venue::Poloniex, &[], None, ok(&big)), mal("$", "holds more than the limit asked for"));
    let huge = format!("[{}]", "1,".repeat(MAX_BODY / 2));
    assert_eq!(parse_trades(Venue::Poloniex, &[], None, ok(&huge)), Err(VenueError::TooLarge("body")));
    assert!(matches!(parse_balances(Venue::Poloniex, ok("[{")), Err(VenueError::NotJson { .. })));
    let acct = |row: &str| format!(r#"[{{"accountType":"SPOT","balances":[{row}]}}]"#);
    assert_eq!(
        parse_balances(Venue::Poloniex, ok(&acct(r#"{"currency":"BTC","available":"-1","hold":"0"}"#)))
            .map(|p| p.balances),
        mal("[].balances[].available", "is negative")
    );
    assert_eq!(
        parse_balances(Venue::Poloniex, ok(&acct(r#"{"currency":"BTC","available":"1"}"#))).map(|p| p.balances),
        mal("[].balances[].hold", "is missing")
    );
    assert_eq!(
        parse_balances(Venue::Poloniex, ok(r#"[{"accountType":7,"balances":[]}]"#)).map(|p| p.balances),
        mal("[].accountType", "is not a string")
    );
    assert_eq!(
        parse_balances(Venue::Poloniex, ok(r#"[{"accountType":"SPOT","balances":{}}]"#)).map(|p| p.balances),
        mal("[].balances", "is not an array")
    );
    let max = format!("1{}", "0".repeat(35));
    let overflow = acct(&vec![format!(r#"{{"currency":"BTC","available":"{max}","hold":"0"}}"#); 2000].join(","));
    assert_eq!(
        parse_balances(Venue::Poloniex, ok(&overflow)).map(|p| p.balances),
        mal("[].balances[].available", "is out of range")
    );
    assert_eq!(parse_placed(Venue::Poloniex, ok(r#"{"id":7.5}"#)), mal("id", "is not a non-negative integer"));
    assert_eq!(parse_placed(Venue::Poloniex, ok(r#"{"id":"1","code":"x"}"#)), mal("code", "is not a number"));
}
