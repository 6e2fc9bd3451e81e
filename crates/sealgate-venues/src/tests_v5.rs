//! Bybit v5 and Bitget v2 requests and parsers, against the examples of their docs and
//! against hostile answers.

use super::*;
use crate::test_support::{json_of, mal, ok, resp};

fn order<'a>(symbol: &'a str, side: Side, kind: OrderKind, qty: &'a str, price: Option<&'a str>) -> PlaceOrder<'a> {
    PlaceOrder { symbol, side, kind, qty, price, client_order_id: "0123456789abcdef0123456789abcdef" }
}

#[test]
fn ids_and_dispatch() {
    assert_eq!(Venue::from_exchange("bybit"), Ok(Venue::Bybit));
    assert_eq!(Venue::from_exchange("bitget"), Ok(Venue::Bitget));
    assert!(Venue::ALL.len() >= 6);
    assert_eq!(Venue::Bybit.to_string(), "bybit");
    let r = [0xabu8; 16];
    let bybit = client_order_id(Venue::Bybit, &r);
    assert_eq!(bybit.len(), 36, "Bybit orderLinkId: at most 36");
    assert!(bybit.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-'));
    let bitget = client_order_id(Venue::Bitget, &r);
    assert_eq!((bitget.len(), bitget.bytes().all(|b| b.is_ascii_hexdigit())), (32, true));
    assert_eq!(normalize_asset(Venue::Bybit, "usdt"), Ok("USDT".into()));
    assert_eq!(normalize_asset(Venue::Bitget, "btc"), Ok("BTC".into()));
}

// --- Bybit ------------------------------------------------------------------------------

/// "Get Wallet Balance", the docs' example (trimmed), plus a coin with an order's hold.
const BYBIT_WALLET: &str = r#"{"retCode":0,"retMsg":"OK","result":{"list":[{"totalEquity":"3.31216591",
 "accountIMRate":"0","totalMarginBalance":"3.00326056","accountType":"UNIFIED","totalAvailableBalance":"3.00326056",
 "totalWalletBalance":"3.00326056","coin":[
  {"availableToBorrow":"3","bonus":"0","accruedInterest":"0","availableToWithdraw":"0","totalOrderIM":"0",
   "equity":"0","usdValue":"0","borrowAmount":"0.0","walletBalance":"0","cumRealisedPnl":"0","locked":"0",
   "marginCollateral":true,"coin":"BTC"},
  {"walletBalance":"1000.5","locked":"200.25","coin":"USDT","availableToWithdraw":""}]}]},
 "retExtInfo":{},"time":1690872862481}"#;

/// "Get Trade History", the docs' example (with a spot symbol and a second row).
const BYBIT_EXECUTIONS: &str = r#"{"retCode":0,"retMsg":"OK","result":{"nextPageCursor":"132766%3A2%2C132766%3A2",
 "category":"spot","list":[
  {"symbol":"ETHUSDT","orderType":"Market","orderLinkId":"","side":"Buy","orderId":"8c065341-7b52-4ca9-ac2c-37e31ac55c94",
   "leavesQty":"0","execTime":"1672221263862","feeCurrency":"ETH","isMaker":false,"execFee":"0.071409","feeRate":"0.0006",
   "execId":"e0cbe81d-0f18-5866-9415-cf319b5dab3b","execPrice":"1190.15","orderQty":"0.1","orderPrice":"1236.9",
   "execValue":"119.015","execType":"Trade","execQty":"0.1","seq":4688002127},
  {"symbol":"BTCUSDT","side":"Sell","execTime":"1672221263000","feeCurrency":"","execFee":"","execId":"2100000000055",
   "execPrice":"16500","execType":"Trade","execQty":".5"}]},"retExtInfo":{},"time":1672283754510}"#;

#[test]
fn bybit_balances_and_trades() {
    let r = balances_request(Venue::Bybit, None).expect("request");
    assert_eq!(
        (r.method.as_str(), r.path.as_str(), r.query.as_str()),
        ("GET", "/v5/account/wallet-balance", "accountType=UNIFIED")
    );
    let page = parse_balances(Venue::Bybit, ok(BYBIT_WALLET)).expect("balances");
    assert_eq!(
        page.balances,
        vec![
            VenueBalance { asset: "BTC".into(), free: "0".into(), locked: "0".into() },
            VenueBalance { asset: "USDT".into(), free: "800.25".into(), locked: "200.25".into() },
        ]
    );
    assert_eq!(page.next, None);

    let first = trades_request(Venue::Bybit, &[], None).expect("request").expect("some");
    assert_eq!((first.path.as_str(), first.query.as_str()), ("/v5/execution/list", "category=spot&limit=100"));
    let page = parse_trades(Venue::Bybit, &[], None, ok(BYBIT_EXECUTIONS)).expect("trades");
    assert_eq!(page.next.as_deref(), Some("132766%3A2%2C132766%3A2"), "Bybit's cursor, as printed");
    assert_eq!(
        page.trades[0],
        Trade {
            exchange_trade_id: "e0cbe81d-0f18-5866-9415-cf319b5dab3b".into(),
            symbol: "ETHUSDT".into(),
            side: Side::Buy,
            price: "1190.15".into(),
            qty: "0.1".into(),
            fee: "0.071409".into(),
            fee_asset: Some("ETH".into()),
            time_ms: 1_672_221_263_862,
        }
    );
    assert_eq!(
        (page.trades[1].side, page.trades[1].qty.as_str(), page.trades[1].fee.as_str(), &page.trades[1].fee_asset),
        (Side::Sell, "0.5", "0", &None)
    );
    // The cursor is sent back as Bybit printed it (already percent-encoded).
    let next = trades_request(Venue::Bybit, &[], page.next.as_deref()).expect("request").expect("some");
    assert_eq!(next.query, "category=spot&limit=100&cursor=132766%3A2%2C132766%3A2");
    // The last page: an empty cursor, or an empty list whatever the cursor says.
    // The last page of a week: an empty cursor, or an empty list whatever the cursor says.
    // The last 7 days done, the import walks the weeks before them, from Bybit's clock
    // (`time`) back 730 days.
    let time = 1_700_000_000_000_i64;
    let (week, history) = (7 * 86_400_000_i64, 730 * 86_400_000_i64);
    let last = ok(format!(
        r#"{{"retCode":0,"retMsg":"OK","result":{{"nextPageCursor":"","category":"spot","list":[]}},"time":{time}}}"#
    )
    .leak());
    let before = format!("@{}@{}", time - week - 1, time - history);
    assert_eq!(parse_trades(Venue::Bybit, &[], None, last).map(|p| p.next), Ok(Some(before.clone())));
    let stale = ok(format!(
        r#"{{"retCode":0,"retMsg":"OK","result":{{"nextPageCursor":"abc","category":"spot","list":[]}},"time":{time}}}"#
    )
    .leak());
    assert_eq!(parse_trades(Venue::Bybit, &[], None, stale).map(|p| p.next), Ok(Some(before.clone())));
    // Without Bybit's clock the week before is not known: refused, not guessed.
    let no_time = ok(r#"{"retCode":0,"retMsg":"OK","result":{"nextPageCursor":"","category":"spot","list":[]}}"#);
    assert!(matches!(parse_trades(Venue::Bybit, &[], None, no_time), Err(VenueError::Malformed { field: "time", .. })));
    // A week: its window, Bybit's cursor inside it, then the week before.
    let r = trades_request(Venue::Bybit, &[], Some(&before)).expect("request").expect("some");
    assert_eq!(
        r.query,
        format!("category=spot&limit=100&startTime={}&endTime={}", time - 2 * week - 1, time - week - 1)
    );
    let more = ok(format!(
        r#"{{"retCode":0,"retMsg":"OK","result":{{"nextPageCursor":"q1","category":"spot","list":[{{"symbol":"BTCUSDT","side":"Buy","execTime":"1","execFee":"0","execId":"9","execPrice":"1","execType":"Trade","execQty":"1"}}]}},"time":{time}}}"#
    ).leak());
    let inside = parse_trades(Venue::Bybit, &[], Some(&before), more).expect("page").next.expect("more");
    assert_eq!(inside, format!("{before}@q1"));
    let r = trades_request(Venue::Bybit, &[], Some(&inside)).expect("request").expect("some");
    assert!(r.query.ends_with("&cursor=q1"), "{}", r.query);
    let empty =
        ok(format!(r#"{{"retCode":0,"retMsg":"OK","result":{{"nextPageCursor":"","list":[]}},"time":{time}}}"#).leak());
    let earlier = parse_trades(Venue::Bybit, &[], Some(&inside), empty).expect("page").next;
    assert_eq!(earlier, Some(format!("@{}@{}", time - 2 * week - 2, time - history)));
    // The walk ends at 730 days: the last window is cut at it, and nothing comes after it.
    let last_week = format!("@{}@{}", time - history + week / 2, time - history);
    let r = trades_request(Venue::Bybit, &[], Some(&last_week)).expect("request").expect("some");
    assert!(r.query.contains(&format!("startTime={}&", time - history)), "{}", r.query);
    assert_eq!(parse_trades(Venue::Bybit, &[], Some(&last_week), empty).map(|p| p.next), Ok(None));
    // A walk takes 105 requests for an account without trades.
    let (mut cursor, mut asked) = (None::<String>, 0);
    loop {
        trades_request(Venue::Bybit, &[], cursor.as_deref()).expect("request");
        asked += 1;
        let e =
            ok(format!(r#"{{"retCode":0,"retMsg":"OK","result":{{"nextPageCursor":"","list":[]}},"time":{time}}}"#)
                .leak());
        match parse_trades(Venue::Bybit, &[], cursor.as_deref(), e).expect("page").next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    assert_eq!(asked, 105);
    for bad in ["@1", "@2@1@a&b", "@1@2", "@x@1", "@@", "@1234567890123456@1"] {
        assert!(matches!(trades_request(Venue::Bybit, &[], Some(bad)), Err(VenueError::BadInput { .. })), "{bad:?}");
    }
    // A cursor that could smuggle a parameter is refused, both ways.
    for bad in ["a&limit=1", "a=b", "%zz", "%2", "", "a b", &"a".repeat(129)] {
        assert!(matches!(trades_request(Venue::Bybit, &[], Some(bad)), Err(VenueError::BadInput { .. })), "{bad:?}");
    }
    let hostile = ok(r#"{"retCode":0,"result":{"nextPageCursor":"x&cursor=1","list":[{"symbol":"BTCUSDT","side":"Buy",
        "execTime":"1","execFee":"0","execId":"1","execPrice":"1","execType":"Trade","execQty":"1"}]}}"#);
    assert_eq!(
        parse_trades(Venue::Bybit, &[], None, hostile),
        Err(VenueError::Malformed { field: "result.nextPageCursor", reason: "is not a cursor" })
    );
}

#[test]
fn bybit_orders() {
    let limit = order("BTCUSDT", Side::Buy, OrderKind::Limit, "0.1", Some("20000"));
    let r = place_request(Venue::Bybit, &limit).expect("limit");
    assert_eq!((r.method.as_str(), r.path.as_str(), r.query.as_str()), ("POST", "/v5/order/create", ""));
    assert_eq!(
        json_of(&r.body),
        serde_json::json!({"category": "spot", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.1",
            "price": "20000", "timeInForce": "GTC", "orderLinkId": "0123456789abcdef0123456789abcdef"})
    );
    let market = order("BTCUSDT", Side::Buy, OrderKind::Market, "0.01", None);
    let body = json_of(&place_request(Venue::Bybit, &market).expect("market").body);
    assert_eq!((body["orderType"].as_str(), body["marketUnit"].as_str()), (Some("Market"), Some("baseCoin")));
    assert!(body.get("price").is_none());

    // "Place Order" and "Cancel Order", the docs' examples.
    let placed = ok(r#"{"retCode":0,"retMsg":"OK","result":{"orderId":"1321003749386327552",
        "orderLinkId":"spot-test-postonly"},"retExtInfo":{},"time":1672211918471}"#);
    assert_eq!(
        parse_placed(Venue::Bybit, placed),
        Ok(Placed { exchange_order_id: "1321003749386327552".into(), status: "accepted" })
    );
    let c = cancel_request(Venue::Bybit, "BTCUSDT", "1321003749386327552").expect("cancel");
    assert_eq!((c.method.as_str(), c.path.as_str()), ("POST", "/v5/order/cancel"));
    assert_eq!(
        json_of(&c.body),
        serde_json::json!({"category": "spot", "symbol": "BTCUSDT", "orderId": "1321003749386327552"})
    );
    let cancelled = ok(r#"{"retCode":0,"retMsg":"OK","result":{"orderId":"c6f055d9-7f21-4079-913d-e6523a9cfffa",
        "orderLinkId":"linear-004"},"retExtInfo":{},"time":1672217377164}"#);
    assert_eq!(parse_cancelled(Venue::Bybit, cancelled), Ok(()));
    // Refusals come with HTTP 200: the retCode and retMsg are the message.
    let gone = ok(r#"{"retCode":170213,"retMsg":"Order does not exist.","result":{},"retExtInfo":{},"time":1}"#);
    assert_eq!(
        parse_cancelled(Venue::Bybit, gone),
        Err(VenueError::Exchange { status: 200, message: "170213 Order does not exist.".into() })
    );
    let busy = ok(r#"{"retCode":10006,"retMsg":"Too many visits!","result":{}}"#);
    assert!(parse_placed(Venue::Bybit, busy).is_err_and(|e| e.is_transient()));
    let funds = ok(r#"{"retCode":170131,"retMsg":"Insufficient balance.","result":{}}"#);
    assert!(parse_placed(Venue::Bybit, funds).is_err_and(|e| !e.is_transient()));
}

#[test]
fn bybit_status_by_order_link_id() {
    let r = status_request(Venue::Bybit, "ETHUSDT", "test-000005").expect("ok").expect("bybit");
    assert_eq!(
        (r.method.as_str(), r.path.as_str(), r.query.as_str()),
        ("GET", "/v5/order/realtime", "category=spot&symbol=ETHUSDT&orderLinkId=test-000005")
    );
    // "Get Open & Closed Orders", the docs' example (trimmed).
    let found = ok(r#"{"retCode":0,"retMsg":"OK","result":{"list":[{"orderId":"fd4300ae-7847-404e-b947-b46980a4d140",
        "orderLinkId":"test-000005","symbol":"ETHUSDT","price":"1600.00","qty":"0.10","side":"Buy","orderStatus":"New",
        "orderType":"Limit","timeInForce":"GTC","cumExecQty":"0.00"}],
        "nextPageCursor":"page_args%3Dfd4300ae-7847-404e-b947-b46980a4d140%26symbol%3D6%26","category":"spot"},
        "retExtInfo":{},"time":1684765770483}"#);
    assert_eq!(
        parse_status(Venue::Bybit, found),
        Ok(Some(Placed { exchange_order_id: "fd4300ae-7847-404e-b947-b46980a4d140".into(), status: "open" }))
    );
    let filled = ok(r#"{"retCode":0,"result":{"list":[{"orderId":"1","orderStatus":"Filled"}]}}"#);
    assert_eq!(parse_status(Venue::Bybit, filled).map(|p| p.map(|p| p.status)), Ok(Some("filled")));
    // No open order of that name proves nothing (a filled one is not listed either).
    let empty = ok(r#"{"retCode":0,"retMsg":"OK","result":{"list":[],"nextPageCursor":"","category":"spot"}}"#);
    assert!(matches!(parse_status(Venue::Bybit, empty), Err(VenueError::Exchange { status: 200, .. })));
    let odd = ok(r#"{"retCode":0,"result":{"list":[{"orderId":"1","orderStatus":"Sideways"}]}}"#);
    assert_eq!(
        parse_status(Venue::Bybit, odd),
        Err(VenueError::Malformed { field: "result.list[0].orderStatus", reason: "is not an order status" })
    );
}

#[test]
fn bybit_hostile_answers_are_refused_precisely() {
    let exec = |row: &str| format!(r#"{{"retCode":0,"result":{{"nextPageCursor":"","list":[{row}]}}}}"#);
    let good = r#""symbol":"BTCUSDT","side":"Buy","execTime":"1","execFee":"0","execId":"7","execPrice":"1","execType":"Trade""#;
    let cases = [
        (exec(&format!("{{{good}}}")), mal("result.list[].execQty", "is missing")),
        (exec(&format!(r#"{{{good},"execQty":"-1"}}"#)), mal("result.list[].execQty", "is negative")),
        (exec(&format!(r#"{{{good},"execQty":1}}"#)), mal("result.list[].execQty", "is not a string")),
        (
            exec(&format!(r#"{{{good},"execQty":"1e3"}}"#)),
            mal("result.list[].execQty", "is not a plain decimal number"),
        ),
        (exec(&format!(r#"{{{good},"execQty":"{}"}}"#, "9".repeat(200))), mal("result.list[].execQty", "is too long")),
        (
            exec(&format!(r#"{{{},"execQty":"1"}}"#, good.replace("\"Buy\"", "\"buy\""))),
            mal("result.list[].side", "is not Buy or Sell"),
        ),
        (r#"{"retCode":"0","result":{}}"#.to_owned(), mal("retCode", "is not an integer")),
        (r#"{"retCode":0}"#.to_owned(), mal("result", "is missing")),
        (r#"{"retCode":0,"result":{"list":{}}}"#.to_owned(), mal("result.list", "is not an array")),
        (r#"[]"#.to_owned(), mal("$", "is not an object")),
    ];
    for (body, want) in cases {
        assert_eq!(parse_trades(Venue::Bybit, &[], None, ok(&body)), want, "{body}");
    }
    assert!(matches!(parse_trades(Venue::Bybit, &[], None, ok("<html>")), Err(VenueError::NotJson { .. })));
    let big = format!(r#"{{"retCode":0,"result":{{"list":[{}]}}}}"#, vec!["{}"; MAX_ITEMS + 1].join(","));
    assert_eq!(parse_trades(Venue::Bybit, &[], None, ok(&big)), Err(VenueError::TooLarge("result.list")));
    let huge = " ".repeat(MAX_BODY + 1);
    assert_eq!(parse_balances(Venue::Bybit, ok(&huge)), Err(VenueError::TooLarge("body")));
    let over = r#"{"retCode":0,"result":{"list":[{"coin":[{"coin":"BTC","walletBalance":"1","locked":"2"}]}]}}"#;
    assert_eq!(
        parse_balances(Venue::Bybit, ok(over)),
        mal("result.list[].coin[].locked", "is larger than the wallet balance")
    );
    let bad_asset = r#"{"retCode":0,"result":{"list":[{"coin":[{"coin":"B/TC","walletBalance":"1"}]}]}}"#;
    assert_eq!(parse_balances(Venue::Bybit, ok(bad_asset)), mal("asset", "is not an asset code"));
    // A non-2xx answer: its retCode and retMsg, or the status alone.
    assert_eq!(
        parse_balances(Venue::Bybit, resp(403, r#"{"retCode":10010,"retMsg":"Unmatched IP"}"#)),
        Err(VenueError::Exchange { status: 403, message: "10010 Unmatched IP".into() })
    );
    assert_eq!(
        parse_balances(Venue::Bybit, resp(502, "Bad Gateway")),
        Err(VenueError::Exchange { status: 502, message: "HTTP 502".into() })
    );
}

// --- Bitget -----------------------------------------------------------------------------

/// "Get Account Assets", the docs' example (lower-case coin), plus a coin with holds.
const BITGET_ASSETS: &str = r#"{"code":"00000","message":"success","requestTime":1695808949356,"data":[
 {"coin":"usdt","available":"0","frozen":"0","locked":"0","limitAvailable":"0","uTime":"1622697148"},
 {"coin":"BTC","available":"1.25","frozen":"0.5","locked":"0.25","limitAvailable":"0","uTime":"1622697148"}]}"#;

/// "Get Fills", the docs' example, plus an older row.
const BITGET_FILLS: &str = r#"{"code":"00000","msg":"success","requestTime":1695865274510,"data":[
 {"userId":"**********","symbol":"BTCUSDT","orderId":"12345678910","tradeId":"12345678910","orderType":"market",
  "side":"buy","priceAvg":"13000","size":"0.0007","amount":"9.1",
  "feeDetail":{"deduction":"no","feeCoin":"BTC","totalDeductionFee":"","totalFee":"-0.0000007"},
  "tradeScope":"taker","cTime":"1695865232579","uTime":"1695865233027"},
 {"symbol":"ETHUSDT","orderId":"1","tradeId":"12345678901","side":"sell","priceAvg":"1600.5","size":"2",
  "feeDetail":{"feeCoin":"","totalFee":""},"cTime":"1695865000000"}]}"#;

#[test]
fn bitget_balances_and_trades() {
    let r = balances_request(Venue::Bitget, None).expect("request");
    assert_eq!((r.method.as_str(), r.path.as_str(), r.query.as_str()), ("GET", "/api/v2/spot/account/assets", ""));
    let page = parse_balances(Venue::Bitget, ok(BITGET_ASSETS)).expect("balances");
    assert_eq!(
        page.balances,
        vec![
            VenueBalance { asset: "USDT".into(), free: "0".into(), locked: "0".into() },
            VenueBalance { asset: "BTC".into(), free: "1.25".into(), locked: "0.75".into() },
        ]
    );

    let first = trades_request(Venue::Bitget, &[], None).expect("request").expect("some");
    assert_eq!((first.path.as_str(), first.query.as_str()), ("/api/v2/spot/trade/fills", "limit=100"));
    let page = parse_trades(Venue::Bitget, &[], None, ok(BITGET_FILLS)).expect("fills");
    assert_eq!(
        page.trades[0],
        Trade {
            exchange_trade_id: "12345678910".into(),
            symbol: "BTCUSDT".into(),
            side: Side::Buy,
            price: "13000".into(),
            qty: "0.0007".into(),
            fee: "0.0000007".into(),
            fee_asset: Some("BTC".into()),
            time_ms: 1_695_865_232_579,
        }
    );
    assert_eq!((page.trades[1].fee.as_str(), &page.trades[1].fee_asset), ("0", &None));
    assert_eq!(page.next, None, "a short page is the last");

    // A full page: the next cursor is its smallest trade id; the query stays sorted by key.
    let rows: Vec<String> = (0..100)
        .map(|i| {
            format!(
                r#"{{"symbol":"BTCUSDT","tradeId":"{}","side":"sell","priceAvg":"1","size":"1","cTime":"1"}}"#,
                5_000 - i
            )
        })
        .collect();
    let full = format!(r#"{{"code":"00000","data":[{}]}}"#, rows.join(","));
    let page = parse_trades(Venue::Bitget, &[], Some("5001"), ok(&full)).expect("full page");
    assert_eq!((page.trades.len(), page.next.as_deref()), (100, Some("4901")));
    let next = trades_request(Venue::Bitget, &[], page.next.as_deref()).expect("request").expect("some");
    assert_eq!(next.query, "idLessThan=4901&limit=100");
    // A page that does not go below the cursor would loop: refused.
    assert_eq!(
        parse_trades(Venue::Bitget, &[], Some("4990"), ok(&full)),
        Err(VenueError::Malformed { field: "data[].tradeId", reason: "is not below the cursor" })
    );
    for bad in ["", "12a", "-1", "1&limit=5", "99999999999999999999"] {
        assert!(matches!(trades_request(Venue::Bitget, &[], Some(bad)), Err(VenueError::BadInput { .. })), "{bad:?}");
    }
}

#[test]
fn bitget_orders() {
    let limit = order("BTCUSDT", Side::Buy, OrderKind::Limit, "0.1", Some("20000"));
    let r = place_request(Venue::Bitget, &limit).expect("limit");
    assert_eq!((r.method.as_str(), r.path.as_str(), r.query.as_str()), ("POST", "/api/v2/spot/trade/place-order", ""));
    assert_eq!(
        json_of(&r.body),
        serde_json::json!({"symbol": "BTCUSDT", "side": "buy", "orderType": "limit", "force": "gtc", "price": "20000",
            "size": "0.1", "clientOid": "0123456789abcdef0123456789abcdef"})
    );
    let sell = order("BTCUSDT", Side::Sell, OrderKind::Market, "0.02", None);
    assert_eq!(
        json_of(&place_request(Venue::Bitget, &sell).expect("market sell").body),
        serde_json::json!({"symbol": "BTCUSDT", "side": "sell", "orderType": "market", "size": "0.02",
            "clientOid": "0123456789abcdef0123456789abcdef"})
    );
    // A market buy's size is quote currency on Bitget: refused, never sent as base units.
    let buy = order("BTCUSDT", Side::Buy, OrderKind::Market, "0.02", None);
    assert!(matches!(place_request(Venue::Bitget, &buy), Err(VenueError::BadInput { field: "kind", .. })));

    let placed = ok(r#"{"code":"00000","msg":"success","requestTime":1695808949356,
        "data":{"orderId":"121211212122","clientOid":"121211212122"}}"#);
    assert_eq!(
        parse_placed(Venue::Bitget, placed),
        Ok(Placed { exchange_order_id: "121211212122".into(), status: "accepted" })
    );
    let c = cancel_request(Venue::Bitget, "BTCUSDT", "121211212122").expect("cancel");
    assert_eq!((c.method.as_str(), c.path.as_str()), ("POST", "/api/v2/spot/trade/cancel-order"));
    assert_eq!(json_of(&c.body), serde_json::json!({"symbol": "BTCUSDT", "orderId": "121211212122"}));
    let cancelled =
        ok(r#"{"code":"00000","msg":"success","requestTime":1,"data":{"orderId":"121211212122","clientOid":"x"}}"#);
    assert_eq!(parse_cancelled(Venue::Bitget, cancelled), Ok(()));
    let funds = resp(400, r#"{"code":"43012","msg":"Insufficient balance","requestTime":1,"data":null}"#);
    assert_eq!(
        parse_placed(Venue::Bitget, funds),
        Err(VenueError::Exchange { status: 400, message: "43012 Insufficient balance".into() })
    );
    let busy = resp(400, r#"{"code":"40010","msg":"Request timed out","data":null}"#);
    assert!(parse_placed(Venue::Bitget, busy).is_err_and(|e| e.is_transient()));
    // A refusal inside a 200 is still a refusal.
    let odd = ok(r#"{"code":"40017","msg":"Parameter verification failed","data":null}"#);
    assert_eq!(
        parse_cancelled(Venue::Bitget, odd),
        Err(VenueError::Exchange { status: 200, message: "40017 Parameter verification failed".into() })
    );
}

#[test]
fn bitget_status_by_client_oid() {
    let r = status_request(Venue::Bitget, "BTCUSDT", "0123abcd").expect("ok").expect("bitget");
    assert_eq!(
        (r.method.as_str(), r.path.as_str(), r.query.as_str()),
        ("GET", "/api/v2/spot/trade/orderInfo", "clientOid=0123abcd")
    );
    // "Get Order Info", the docs' example (trimmed).
    let found = ok(r#"{"code":"00000","msg":"success","requestTime":1695865476577,"data":[{"userId":"**********",
        "symbol":"BTCUSDT","orderId":"121211212122","clientOid":"121211212122","price":"0","size":"10.0000000000000000",
        "orderType":"market","side":"buy","status":"filled","priceAvg":"13000.0000000000000000",
        "baseVolume":"0.0007000000000000","quoteVolume":"9.1000000000000000","enterPointSource":"API",
        "orderSource":"market","cancelReason":"","cTime":"1695865232127","uTime":"1695865233051"}]}"#);
    assert_eq!(
        parse_status(Venue::Bitget, found),
        Ok(Some(Placed { exchange_order_id: "121211212122".into(), status: "filled" }))
    );
    let live = ok(r#"{"code":"00000","data":[{"orderId":"5","status":"live"}]}"#);
    assert_eq!(parse_status(Venue::Bitget, live).map(|p| p.map(|p| p.status)), Ok(Some("open")));
    // "Not found" proves nothing: by clientOid Bitget finds unfilled orders only.
    for gone in [
        resp(400, r#"{"code":"40109","msg":"The data of the order cannot be found","data":null}"#),
        resp(400, r#"{"code":"43001","msg":"The order does not exist","data":null}"#),
        ok(r#"{"code":"00000","msg":"success","data":[]}"#),
    ] {
        assert!(matches!(parse_status(Venue::Bitget, gone), Err(VenueError::Exchange { .. })), "{gone:?}");
    }
}

#[test]
fn bitget_hostile_answers_are_refused_precisely() {
    let fill = |row: &str| format!(r#"{{"code":"00000","data":[{row}]}}"#);
    let good = r#""symbol":"BTCUSDT","side":"buy","priceAvg":"1","cTime":"1""#;
    let cases = [
        (fill(&format!(r#"{{{good},"size":"1"}}"#)), mal("data[].tradeId", "is missing")),
        (fill(&format!(r#"{{{good},"size":"1","tradeId":"x1"}}"#)), mal("data[].tradeId", "is not a numeric trade id")),
        (fill(&format!(r#"{{{good},"tradeId":"1","size":"-2"}}"#)), mal("data[].size", "is negative")),
        (fill(&format!(r#"{{{good},"tradeId":"1","size":null}}"#)), mal("data[].size", "is not a string")),
        (
            fill(&format!(r#"{{{good},"tradeId":"1","size":"1","feeDetail":{{"totalFee":"--1"}}}}"#)),
            mal("data[].feeDetail.totalFee", "is not a plain decimal number"),
        ),
        (
            fill(&format!(r#"{{{good},"tradeId":"1","size":"1","feeDetail":[]}}"#)),
            mal("data[].feeDetail", "is not an object"),
        ),
        (
            fill(&format!(r#"{{{},"tradeId":"1","size":"1"}}"#, good.replace("\"buy\"", "\"long\""))),
            mal("data[].side", "is not buy or sell"),
        ),
        (
            fill(&format!(r#"{{{},"tradeId":"1","size":"1"}}"#, good.replace("\"cTime\":\"1\"", "\"cTime\":\"-5\""))),
            mal("data[].cTime", "is not a millisecond time"),
        ),
        (r#"{"code":0,"data":[]}"#.to_owned(), mal("code", "is not a string")),
        (r#"{"code":"00000"}"#.to_owned(), mal("data", "is missing")),
        (r#"{"code":"00000","data":{}}"#.to_owned(), mal("data", "is not an array")),
    ];
    for (body, want) in cases {
        assert_eq!(parse_trades(Venue::Bitget, &[], None, ok(&body)), want, "{body}");
    }
    assert!(matches!(parse_balances(Venue::Bitget, ok("{\"code\":")), Err(VenueError::NotJson { .. })));
    let neg = r#"{"code":"00000","data":[{"coin":"BTC","available":"-1","frozen":"0"}]}"#;
    assert_eq!(parse_balances(Venue::Bitget, ok(neg)).map(|p| p.balances), mal("data[].available", "is negative"));
    let no_frozen = r#"{"code":"00000","data":[{"coin":"BTC","available":"1"}]}"#;
    assert_eq!(parse_balances(Venue::Bitget, ok(no_frozen)).map(|p| p.balances), mal("data[].frozen", "is missing"));
    let placed = ok(r#"{"code":"00000","data":[{"orderId":"1"}]}"#);
    assert_eq!(parse_placed(Venue::Bitget, placed), mal("data", "is not an object"));
    let spaced = ok(r#"{"code":"00000","data":{"orderId":"1 2"}}"#);
    assert_eq!(parse_placed(Venue::Bitget, spaced), mal("data.orderId", "is not a printable id"));
    assert_eq!(
        parse_balances(Venue::Bitget, resp(401, r#"{"code":"40006","msg":"Invalid ACCESS_KEY"}"#)),
        Err(VenueError::Exchange { status: 401, message: "40006 Invalid ACCESS_KEY".into() })
    );
}
