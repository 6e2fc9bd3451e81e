//! KuCoin, Gate v4 and MEXC v3 requests and parsers, against the examples of their docs
//! and against hostile answers.

use std::collections::BTreeMap;

use super::*;
use crate::test_support::{json_of, mal, ok, order, resp};

#[test]
fn kucoin_ids() {
    assert_eq!(Venue::from_exchange("kucoin"), Ok(Venue::Kucoin));
    assert_eq!(Venue::Kucoin.to_string(), "kucoin");
    let id = client_order_id(Venue::Kucoin, &[0x5a; 16]);
    assert!(id.len() <= 40, "KuCoin clientOid: at most 40");
    assert_eq!(normalize_asset(Venue::Kucoin, "usdt"), Ok("USDT".into()));
    let b = limits::budget(Venue::Kucoin);
    assert_eq!(b.scope, limits::Scope::Key);
}

// --- KuCoin -----------------------------------------------------------------------------

/// "Get Account List", the docs' example, plus a trade account of the same currency and a
/// margin account (left out).
const KUCOIN_ACCOUNTS: &str = r#"{"code":"200000","data":[
  {"id":"5bd6e9286d99522a52e458de","currency":"BTC","type":"main","balance":"237582.04299","available":"237582.032",
   "holds":"0.01099"},
  {"id":"5bd6e9216d99522a52e458d6","currency":"BTC","type":"trade","balance":"1234356","available":"1234356",
   "holds":"0"},
  {"id":"x","currency":"USDT","type":"margin","balance":"5","available":"5","holds":"0"}]}"#;

/// "Get Filled List", the docs' example (trimmed to the fields read), two rows.
const KUCOIN_FILLS: &str = r#"{"code":"200000","data":{"currentPage":1,"pageSize":100,"totalNum":251,
 "totalPage":3,"items":[
  {"symbol":"BTC-USDT","tradeId":"5c35c02709e4f67d5266954e","orderId":"5c35c02703aa673ceec2a168",
   "counterOrderId":"5c1ab46003aa676e487fa8e3","side":"buy","liquidity":"taker","forceTaker":true,
   "price":"0.083","size":"0.8424304","funds":"0.0699217232","fee":"0","feeRate":"0","feeCurrency":"USDT",
   "stop":"","type":"limit","createdAt":1547026472000,"tradeType":"TRADE"},
  {"symbol":"ETH-BTC","tradeId":"11","orderId":"1","side":"sell","price":"0.05","size":"2","fee":"0.0001",
   "feeCurrency":"","createdAt":1547026471000}]}}"#;

#[test]
fn kucoin_balances_and_trades() {
    let r = balances_request(Venue::Kucoin, None).expect("request");
    assert_eq!((r.method.as_str(), r.path.as_str(), r.query.as_str()), ("GET", "/api/v1/accounts", ""));
    let page = parse_balances(Venue::Kucoin, ok(KUCOIN_ACCOUNTS)).expect("balances");
    assert_eq!(
        page.balances,
        vec![VenueBalance { asset: "BTC".into(), free: "1471938.032".into(), locked: "0.01099".into() }],
        "main and trade summed, margin left out"
    );

    // A full import reads KuCoin's clock, then walks back a week at a time.
    let clock = trades_request(Venue::Kucoin, &[], None).expect("request").expect("some");
    assert_eq!((clock.method.as_str(), clock.path.as_str(), clock.query.as_str()), ("GET", "/api/v1/timestamp", ""));
    let now = 1_547_100_000_000_i64;
    let (week, history) = (7 * 86_400_000_i64, 365 * 86_400_000_i64);
    let time =
        parse_trades(Venue::Kucoin, &[], None, ok(&format!(r#"{{"code":"200000","data":{now}}}"#))).expect("clock");
    let first_week = format!("@{now}@{}", now - history);
    assert_eq!((time.trades.len(), time.next.as_deref()), (0, Some(first_week.as_str())));
    for bad in [r#"{"code":"200000","data":"1547100000000"}"#, r#"{"code":"200000","data":-1}"#, r#"{"code":"200000"}"#]
    {
        assert!(parse_trades(Venue::Kucoin, &[], None, ok(bad)).is_err(), "{bad}");
    }
    let first = trades_request(Venue::Kucoin, &[], Some(&first_week)).expect("request").expect("some");
    assert_eq!(
        (first.method.as_str(), first.path.as_str(), first.query.as_str()),
        (
            "GET",
            "/api/v1/fills",
            format!("currentPage=1&pageSize=100&tradeType=TRADE&startAt={}&endAt={now}", now - week).as_str()
        )
    );
    let page = parse_trades(Venue::Kucoin, &[], Some(&first_week), ok(KUCOIN_FILLS)).expect("fills");
    assert_eq!(
        page.trades[0],
        Trade {
            exchange_trade_id: "BTC-USDT-5c35c02709e4f67d5266954e".into(),
            symbol: "BTC-USDT".into(),
            side: Side::Buy,
            price: "0.083".into(),
            qty: "0.8424304".into(),
            fee: "0".into(),
            fee_asset: Some("USDT".into()),
            time_ms: 1_547_026_472_000,
        }
    );
    assert_eq!((page.trades[1].fee.as_str(), &page.trades[1].fee_asset), ("0.0001", &None));
    let second = format!("{first_week}@2");
    assert_eq!(page.next.as_deref(), Some(second.as_str()));
    let next = trades_request(Venue::Kucoin, &[], Some(&second)).expect("request").expect("some");
    assert!(next.query.starts_with("currentPage=2&pageSize=100&tradeType=TRADE&startAt="), "{}", next.query);
    // The answer must be the page asked.
    assert_eq!(
        parse_trades(Venue::Kucoin, &[], Some(&second), ok(KUCOIN_FILLS)),
        mal("data.currentPage", "is not the page asked")
    );
    // A week's last page: the week before it.
    let last = KUCOIN_FILLS.replace(r#""currentPage":1"#, r#""currentPage":3"#);
    let third = format!("{first_week}@3");
    let before = format!("@{}@{}", now - week - 1, now - history);
    assert_eq!(parse_trades(Venue::Kucoin, &[], Some(&third), ok(&last)).expect("last").next, Some(before));
    // The walk ends after 365 days: 53 weeks (and the clock) for an account without fills.
    let (mut cursor, mut asked) = (Some(first_week.clone()), 1);
    let empty = r#"{"code":"200000","data":{"currentPage":1,"pageSize":100,"totalNum":0,"totalPage":0,"items":[]}}"#;
    while let Some(c) = cursor {
        trades_request(Venue::Kucoin, &[], Some(&c)).expect("request");
        asked += 1;
        cursor = parse_trades(Venue::Kucoin, &[], Some(&c), ok(empty)).expect("page").next;
    }
    assert_eq!(asked, 54);
    // A page number checkpointed before the walk: KuCoin's default window, then the end.
    assert_eq!(
        trades_request(Venue::Kucoin, &[], Some("3")).expect("r").expect("s").query,
        "currentPage=3&pageSize=100&tradeType=TRADE"
    );
    assert_eq!(parse_trades(Venue::Kucoin, &[], Some("3"), ok(&last)).expect("last").next, None);
    for bad in ["", "0", "1", "2a", "-2", "2&pageSize=5", "99999999", "@1", "@1@2", "@2@1@1", "@2@1@x", "@x@1"] {
        assert!(matches!(trades_request(Venue::Kucoin, &[], Some(bad)), Err(VenueError::BadInput { .. })), "{bad:?}");
    }

    // A refresh: a week at a time from the newest stored trade, never past now.
    let ids = BTreeMap::new();
    let newest = 1_547_026_471_500;
    let recent = Since { newest_ms: newest + SINCE_OVERLAP_MS, last_ids: &ids, now_ms: newest + 86_400_000 };
    let r = trades_since_request(Venue::Kucoin, &[], &recent, None).expect("since").expect("some");
    assert_eq!(
        r.query,
        format!("currentPage=1&pageSize=100&tradeType=TRADE&startAt={newest}&endAt={}", newest + 86_400_000)
    );
    let one = KUCOIN_FILLS.replace(r#""totalPage":3"#, r#""totalPage":1"#);
    let page = parse_trades_since(Venue::Kucoin, &[], &recent, None, ok(&one)).expect("since page");
    assert_eq!((page.trades.len(), page.next), (2, None), "one week reaches now");
    let away = Since { now_ms: newest + 10 * 86_400_000, ..recent };
    let page = parse_trades_since(Venue::Kucoin, &[], &away, None, ok(KUCOIN_FILLS)).expect("since page");
    assert_eq!(page.next, Some(format!("+{newest}+2")), "the week's next page");
    let page = parse_trades_since(Venue::Kucoin, &[], &away, None, ok(&one)).expect("since page");
    let next_week = format!("+{}", newest + week + 1);
    assert_eq!(page.next.as_deref(), Some(next_week.as_str()), "then the next week");
    let r = trades_since_request(Venue::Kucoin, &[], &away, Some(&next_week)).expect("since").expect("some");
    assert!(
        r.query.ends_with(&format!("&startAt={}&endAt={}", newest + week + 1, newest + 10 * 86_400_000)),
        "{}",
        r.query
    );
}

#[test]
fn kucoin_orders() {
    let limit = order("BTC-USDT", Side::Buy, OrderKind::Limit, "0.1", Some("20000"));
    let r = place_request(Venue::Kucoin, &limit).expect("limit");
    assert_eq!((r.method.as_str(), r.path.as_str(), r.query.as_str()), ("POST", "/api/v1/orders", ""));
    assert_eq!(
        json_of(&r.body),
        serde_json::json!({"clientOid": "0123abcd-0123-4567-89ab-0123456789ab", "side": "buy", "symbol": "BTC-USDT",
            "type": "limit", "price": "20000", "size": "0.1", "timeInForce": "GTC"})
    );
    // A market buy is sized in base units with `size`, never `funds`.
    let buy = order("BTC-USDT", Side::Buy, OrderKind::Market, "0.02", None);
    assert_eq!(
        json_of(&place_request(Venue::Kucoin, &buy).expect("market buy").body),
        serde_json::json!({"clientOid": "0123abcd-0123-4567-89ab-0123456789ab", "side": "buy", "symbol": "BTC-USDT",
            "type": "market", "size": "0.02"})
    );
    let placed = ok(r#"{"code":"200000","data":{"orderId":"5bd6e9286d99522a52e458de"}}"#);
    assert_eq!(
        parse_placed(Venue::Kucoin, placed),
        Ok(Placed { exchange_order_id: "5bd6e9286d99522a52e458de".into(), status: "accepted" })
    );
    let c = cancel_request(Venue::Kucoin, "BTC-USDT", "5bd6e9286d99522a52e458de").expect("cancel");
    assert_eq!(
        (c.method.as_str(), c.path.as_str(), c.query.as_str(), c.body.as_str()),
        ("DELETE", "/api/v1/orders/5bd6e9286d99522a52e458de", "", "")
    );
    let cancelled = ok(r#"{"code":"200000","data":{"cancelledOrderIds":["5bd6e9286d99522a52e458de"]}}"#);
    assert_eq!(parse_cancelled(Venue::Kucoin, cancelled), Ok(()));
    let none = ok(r#"{"code":"200000","data":{"cancelledOrderIds":[]}}"#);
    assert_eq!(parse_cancelled(Venue::Kucoin, none), mal("data.cancelledOrderIds", "does not hold exactly one order"));
    // Business refusals come with HTTP 200.
    let funds = ok(r#"{"code":"200004","msg":"Balance insufficient!"}"#);
    assert_eq!(
        parse_placed(Venue::Kucoin, funds),
        Err(VenueError::Exchange { status: 200, message: "200004 Balance insufficient!".into() })
    );
    let gone = resp(400, r#"{"code":"400100","msg":"order_not_exist_or_not_allow_to_cancel"}"#);
    assert_eq!(
        parse_cancelled(Venue::Kucoin, gone),
        Err(VenueError::Exchange { status: 400, message: "400100 order_not_exist_or_not_allow_to_cancel".into() })
    );
    let busy = ok(r#"{"code":"429000","msg":"Too Many Requests"}"#);
    assert!(parse_placed(Venue::Kucoin, busy).is_err_and(|e| e.is_transient()));
    let auth = resp(401, r#"{"code":"400005","msg":"Invalid KC-API-SIGN."}"#);
    assert!(parse_placed(Venue::Kucoin, auth).is_err_and(|e| !e.is_transient()));
    // No status query by clientOid in what the sandbox serves.
    assert_eq!(status_request(Venue::Kucoin, "BTC-USDT", "abc"), Ok(None));
}

#[test]
fn kucoin_hostile_answers_are_refused_precisely() {
    let page = |row: &str| {
        format!(
            r#"{{"code":"200000","data":{{"currentPage":1,"pageSize":100,"totalNum":1,"totalPage":1,"items":[{row}]}}}}"#
        )
    };
    let good = r#""symbol":"BTC-USDT","side":"buy","price":"1","fee":"0","createdAt":1"#;
    let cases = [
        (page(&format!(r#"{{{good},"size":"1"}}"#)), mal("data.items[].tradeId", "is missing")),
        (
            page(&format!(r#"{{{good},"size":"1","tradeId":"a b"}}"#)),
            mal("data.items[].tradeId", "is not a printable id"),
        ),
        (page(&format!(r#"{{{good},"tradeId":"1","size":"-2"}}"#)), mal("data.items[].size", "is negative")),
        (page(&format!(r#"{{{good},"tradeId":"1","size":1}}"#)), mal("data.items[].size", "is not a string")),
        (
            page(&format!(r#"{{{},"tradeId":"1","size":"1"}}"#, good.replace("\"buy\"", "\"long\""))),
            mal("data.items[].side", "is not buy or sell"),
        ),
        (
            page(&format!(r#"{{{},"tradeId":"1","size":"1"}}"#, good.replace("\"createdAt\":1", "\"createdAt\":-1"))),
            mal("data.items[].createdAt", "is not a millisecond time"),
        ),
        (
            page(&format!(r#"{{{},"tradeId":"1","size":"1"}}"#, good.replace("BTC-USDT", "BTC USDT"))),
            mal("data.items[].symbol", "is not a symbol"),
        ),
        (r#"{"code":200000,"data":{}}"#.to_owned(), mal("code", "is not a string")),
        (r#"{"code":"200000"}"#.to_owned(), mal("data", "is missing")),
        (r#"{"code":"200000","data":[]}"#.to_owned(), mal("data", "is not an object")),
        (
            r#"{"code":"200000","data":{"currentPage":1,"totalPage":-1,"items":[]}}"#.to_owned(),
            mal("data.totalPage", "is not a non-negative integer"),
        ),
        (
            r#"{"code":"200000","data":{"currentPage":1,"totalPage":1,"items":{}}}"#.to_owned(),
            mal("data.items", "is not an array"),
        ),
    ];
    let week = Some("@1547100000000@1515564000000");
    for (body, want) in cases {
        assert_eq!(parse_trades(Venue::Kucoin, &[], week, ok(&body)), want, "{body}");
    }
    let rows = vec![r#"{"symbol":"BTC-USDT"}"#; 101].join(",");
    let big = format!(r#"{{"code":"200000","data":{{"currentPage":1,"totalPage":2,"items":[{rows}]}}}}"#);
    assert_eq!(parse_trades(Venue::Kucoin, &[], week, ok(&big)), mal("data.items", "holds more than the page size"));
    assert!(matches!(parse_balances(Venue::Kucoin, ok("{\"code\":")), Err(VenueError::NotJson { .. })));
    let acct = |row: &str| format!(r#"{{"code":"200000","data":[{row}]}}"#);
    let neg = acct(r#"{"currency":"BTC","type":"trade","available":"-1","holds":"0"}"#);
    assert_eq!(parse_balances(Venue::Kucoin, ok(&neg)).map(|p| p.balances), mal("data[].available", "is negative"));
    let odd = acct(r#"{"currency":"BTC","type":"savings","available":"1","holds":"0"}"#);
    assert_eq!(
        parse_balances(Venue::Kucoin, ok(&odd)).map(|p| p.balances),
        mal("data[].type", "is not a KuCoin account type")
    );
    let nohold = acct(r#"{"currency":"BTC","type":"main","available":"1"}"#);
    assert_eq!(parse_balances(Venue::Kucoin, ok(&nohold)).map(|p| p.balances), mal("data[].holds", "is missing"));
    let placed = ok(r#"{"code":"200000","data":{"orderId":7.5}}"#);
    assert_eq!(parse_placed(Venue::Kucoin, placed), mal("data.orderId", "is not a non-negative integer"));
    assert_eq!(
        parse_balances(Venue::Kucoin, resp(401, r#"{"code":"400003","msg":"KC-API-KEY does not exist."}"#)),
        Err(VenueError::Exchange { status: 401, message: "400003 KC-API-KEY does not exist.".into() })
    );
}

// --- Gate -------------------------------------------------------------------------------

#[test]
fn gate_ids() {
    assert_eq!(Venue::from_exchange("gate"), Ok(Venue::Gate));
    let id = client_order_id(Venue::Gate, &[0xab; 16]);
    assert_eq!(id, format!("t-{}", "ab".repeat(14)));
    assert!(id.len() <= 30, "Gate text: t- and at most 28 more");
    // An id that is not Gate's text is refused before it is sent.
    let mut o = order("BTC_USDT", Side::Buy, OrderKind::Limit, "1", Some("1"));
    o.client_order_id = "0123abcd";
    assert!(matches!(place_request(Venue::Gate, &o), Err(VenueError::BadInput { field: "client_order_id", .. })));
}

fn gate_order<'a>(side: Side, kind: OrderKind, qty: &'a str, price: Option<&'a str>) -> PlaceOrder<'a> {
    PlaceOrder { client_order_id: "t-abc123", ..order("BTC_USDT", side, kind, qty, price) }
}

/// "List personal trading history", the docs' example (trimmed).
const GATE_TRADES: &str = r#"[{"id":"1232893232","create_time":"1548000000","create_time_ms":"1548000000123.456",
 "order_id":"4128442423","side":"buy","role":"maker","amount":"0.15","price":"0.03","fee":"0.0005",
 "fee_currency":"ETH","point_fee":"0","gt_fee":"0","text":"t-abc","currency_pair":"ETH_BTC"},
 {"id":"7","create_time":"1548000001","create_time_ms":"1548000001250","order_id":"1","side":"sell",
 "amount":"2","price":"1","fee":"0","fee_currency":"","currency_pair":"BTC_USDT"}]"#;

#[test]
fn gate_balances_and_trades() {
    let r = balances_request(Venue::Gate, None).expect("request");
    assert_eq!((r.method.as_str(), r.path.as_str()), ("GET", "/api/v4/spot/accounts"));
    let body = r#"[{"currency":"ETH","available":"968.8","locked":"0","update_id":98}]"#;
    assert_eq!(
        parse_balances(Venue::Gate, ok(body)).expect("balances").balances,
        vec![VenueBalance { asset: "ETH".into(), free: "968.8".into(), locked: "0".into() }]
    );
    let first = trades_request(Venue::Gate, &[], None).expect("request").expect("some");
    assert_eq!((first.path.as_str(), first.query.as_str()), ("/api/v4/spot/my_trades", "limit=100&page=1"));
    let page = parse_trades(Venue::Gate, &[], None, ok(GATE_TRADES)).expect("trades");
    assert_eq!(
        page.trades[0],
        Trade {
            exchange_trade_id: "ETH_BTC-1232893232".into(),
            symbol: "ETH_BTC".into(),
            side: Side::Buy,
            price: "0.03".into(),
            qty: "0.15".into(),
            fee: "0.0005".into(),
            fee_asset: Some("ETH".into()),
            time_ms: 1_548_000_000_123,
        }
    );
    // The sandbox's spelling: seconds with a fraction.
    assert_eq!((page.trades[1].time_ms, &page.trades[1].fee_asset), (1_548_000_001_250, &None));
    assert_eq!(page.next, None, "a short page is the last");
    let row = r#"{"id":"1","create_time":"1","create_time_ms":"1500","side":"buy","amount":"1","price":"1","fee":"0","currency_pair":"A_B"}"#;
    let full = format!("[{}]", vec![row; 100].join(","));
    assert_eq!(parse_trades(Venue::Gate, &[], Some("2"), ok(&full)).expect("full").next.as_deref(), Some("3"));
    let over = format!("[{}]", vec![row; 101].join(","));
    assert_eq!(parse_trades(Venue::Gate, &[], None, ok(&over)), mal("$", "holds more than the page size"));
    for bad in ["", "1", "x", "2&limit=1"] {
        assert!(matches!(trades_request(Venue::Gate, &[], Some(bad)), Err(VenueError::BadInput { .. })), "{bad:?}");
    }
    let ids = BTreeMap::new();
    let since = Since { newest_ms: 1_700_000_000_999 + SINCE_OVERLAP_MS, last_ids: &ids, now_ms: 1_800_000_000_000 };
    let r = trades_since_request(Venue::Gate, &[], &since, Some("2")).expect("since").expect("some");
    assert_eq!(r.query, "from=1700000000&limit=100&page=2");
}

#[test]
fn gate_orders() {
    let r = place_request(Venue::Gate, &gate_order(Side::Buy, OrderKind::Limit, "0.1", Some("20000"))).expect("limit");
    assert_eq!((r.method.as_str(), r.path.as_str(), r.query.as_str()), ("POST", "/api/v4/spot/orders", ""));
    assert_eq!(
        json_of(&r.body),
        serde_json::json!({"text": "t-abc123", "currency_pair": "BTC_USDT", "account": "spot", "side": "buy",
            "amount": "0.1", "type": "limit", "price": "20000", "time_in_force": "gtc"})
    );
    let sell = place_request(Venue::Gate, &gate_order(Side::Sell, OrderKind::Market, "0.02", None)).expect("sell");
    assert_eq!(
        json_of(&sell.body),
        serde_json::json!({"text": "t-abc123", "currency_pair": "BTC_USDT", "account": "spot", "side": "sell",
            "amount": "0.02", "type": "market", "time_in_force": "ioc"})
    );
    // A market buy's amount is quote currency on Gate: refused, never sent as base units.
    assert!(matches!(
        place_request(Venue::Gate, &gate_order(Side::Buy, OrderKind::Market, "0.02", None)),
        Err(VenueError::BadInput { field: "kind", .. })
    ));
    let created = resp(201, r#"{"id":"12332324","text":"t-abc123","status":"open","currency_pair":"BTC_USDT"}"#);
    assert_eq!(parse_placed(Venue::Gate, created), Ok(Placed { exchange_order_id: "12332324".into(), status: "open" }));
    let filled = resp(201, r#"{"id":"9","status":"closed"}"#);
    assert_eq!(parse_placed(Venue::Gate, filled).map(|p| p.status), Ok("filled"));
    let c = cancel_request(Venue::Gate, "BTC_USDT", "12332324").expect("cancel");
    assert_eq!(
        (c.method.as_str(), c.path.as_str(), c.query.as_str(), c.body.as_str()),
        ("DELETE", "/api/v4/spot/orders/12332324", "currency_pair=BTC_USDT", "")
    );
    assert_eq!(parse_cancelled(Venue::Gate, ok(r#"{"id":"12332324","status":"cancelled"}"#)), Ok(()));
    assert!(matches!(
        parse_cancelled(Venue::Gate, ok(r#"{"id":"1","status":"closed"}"#)),
        Err(VenueError::Exchange { .. })
    ));
    assert_eq!(
        parse_placed(Venue::Gate, resp(400, r#"{"label":"BALANCE_NOT_ENOUGH","message":"Not enough balance"}"#)),
        Err(VenueError::Exchange { status: 400, message: "BALANCE_NOT_ENOUGH Not enough balance".into() })
    );
    assert!(
        parse_placed(Venue::Gate, resp(400, r#"{"label":"TOO_BUSY","message":"busy"}"#))
            .is_err_and(|e| e.is_transient())
    );
    assert_eq!(status_request(Venue::Gate, "BTC_USDT", "t-abc"), Ok(None));
}

#[test]
fn gate_hostile_answers_are_refused_precisely() {
    let good = r#""id":"1","create_time":"1","side":"buy","price":"1","fee":"0","currency_pair":"A_B""#;
    let cases = [
        (format!(r#"[{{{good},"amount":"1"}}]"#), mal("[].create_time_ms", "is missing")),
        (
            format!(r#"[{{{good},"amount":"1","create_time_ms":"x"}}]"#),
            mal("[].create_time_ms", "is not a decimal time"),
        ),
        (
            format!(r#"[{{{good},"amount":"1","create_time_ms":"2000.5"}}]"#),
            mal("[].create_time_ms", "does not match create_time"),
        ),
        (format!(r#"[{{{good},"amount":"1","create_time_ms":1500}}]"#), mal("[].create_time_ms", "is not a string")),
        (format!(r#"[{{{good},"amount":"-1","create_time_ms":"1000"}}]"#), mal("[].amount", "is negative")),
        (format!(r#"[{{{good},"amount":1,"create_time_ms":"1000"}}]"#), mal("[].amount", "is not a string")),
        (
            format!(r#"[{{{},"amount":"1","create_time_ms":"1000"}}]"#, good.replace("\"buy\"", "\"bid\"")),
            mal("[].side", "is not buy or sell"),
        ),
        (r#"{"id":"1"}"#.to_owned(), mal("$", "is not an array")),
        ("[7]".to_owned(), mal("[]", "is not an object")),
    ];
    for (body, want) in cases {
        assert_eq!(parse_trades(Venue::Gate, &[], None, ok(&body)), want, "{body}");
    }
    let no_locked = r#"[{"currency":"BTC","available":"1"}]"#;
    assert_eq!(parse_balances(Venue::Gate, ok(no_locked)).map(|p| p.balances), mal("[].locked", "is missing"));
    assert_eq!(
        parse_placed(Venue::Gate, resp(201, r#"{"id":"1","status":"weird"}"#)),
        mal("status", "is not an order status")
    );
    assert_eq!(
        parse_balances(Venue::Gate, resp(401, r#"{"label":"INVALID_KEY","message":"Invalid key provided"}"#)),
        Err(VenueError::Exchange { status: 401, message: "INVALID_KEY Invalid key provided".into() })
    );
}
