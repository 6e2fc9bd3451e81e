//! Deribit API v2 requests and parsers, against the examples of its docs and against
//! hostile answers.

use std::collections::BTreeMap;

use super::*;
use crate::test_support::{mal, ok, resp};

const D: Venue = Venue::Deribit;

fn triple(r: &Request) -> (&str, &str, &str) {
    (r.method.as_str(), r.path.as_str(), r.query.as_str())
}

fn rpc(result: &str) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":1,"result":{result},"usIn":1,"usOut":2,"usDiff":1,"testnet":false}}"#)
}

const LABEL: &str = "0123abcd-0123-4567-89ab-0123456789ab";

#[test]
fn ids_assets_budget_and_errors() {
    assert_eq!(Venue::from_exchange("deribit"), Ok(D));
    assert_eq!(D.to_string(), "deribit");
    assert_eq!(Venue::ALL.iter().filter(|v| **v == D).count(), 1);
    assert_eq!(normalize_asset(D, "eurr"), Ok("EURR".into()));
    let id = client_order_id(D, &[0xab; 16]);
    assert!(id.len() <= 64 && id.len() == 36, "a label of at most 64 characters: {id}");
    let b = limits::budget(D);
    assert_eq!(b.scope, limits::Scope::Key);
    // 500 credits a request, 50,000 held, 10,000 back a second: 100 at once, 20 a second.
    assert!(b.burst_milli < 100_000 && b.refill_milli_per_s < 20_000);
    assert_eq!(limits::cost_milli(D, &Request::new("GET", "/api/v2/private/get_account_summary", "", "")), 1_000);
    let too_many = r#"{"jsonrpc":"2.0","error":{"code":10028,"message":"too_many_requests"},"testnet":false}"#;
    let e = parse_balances(D, resp(429, too_many)).expect_err("refused");
    assert_eq!(e, VenueError::Exchange { status: 429, message: "10028 too_many_requests".into() });
    assert!(e.is_transient());
    // A refusal carried by a 200 is a refusal too; a 400 of bad params names the param.
    let e = parse_balances(D, ok(r#"{"jsonrpc":"2.0","error":{"code":10040,"message":"retry"}}"#)).expect_err("e");
    assert!(e.is_transient(), "{e}");
    let invalid = r#"{"jsonrpc":"2.0","error":{"message":"Invalid params","data":{"reason":"invalid currency","param":"currency"},"code":-32602}}"#;
    let e = parse_balances(D, resp(400, invalid)).expect_err("refused");
    assert_eq!(
        e,
        VenueError::Exchange { status: 400, message: "-32602 Invalid params: currency invalid currency".into() }
    );
    assert!(!e.is_transient());
    let funds = r#"{"jsonrpc":"2.0","error":{"code":10009,"message":"not_enough_funds"}}"#;
    assert!(!parse_placed(D, resp(400, funds)).expect_err("refused").is_transient());
}

/// "get_account_summary", the docs' example (trimmed), BTC.
const SUMMARY: &str = r#"{"currency":"BTC","balance":302.60065765,"equity":302.61869214,
 "available_funds":301.38059622,"available_withdrawal_funds":301.35396172,"initial_margin":1.24669592,
 "maintenance_margin":0.8857841,"margin_balance":302.62729214,"session_upl":0.05271555,"session_rpl":-0.03371522,
 "total_pl":0.2026893,"futures_pl":-0.03374478,"delta_total":31.602958,"fee_balance":0,"portfolio_margining_enabled":false}"#;

#[test]
fn balances_walk_the_currencies_as_equity_split_free_and_margin() {
    let r = balances_request(D, None).expect("request");
    assert_eq!((triple(&r), r.body.as_str()), (("GET", "/api/v2/private/get_account_summary", "currency=BTC"), ""));
    let page = parse_balances(D, ok(&rpc(SUMMARY))).expect("balances");
    assert_eq!(
        page.balances,
        vec![VenueBalance { asset: "BTC".into(), free: "301.38059622".into(), locked: "1.23809592".into() }]
    );
    assert_eq!(page.next.as_deref(), Some("ETH"));
    let mut cursor = page.next;
    let mut asked = vec!["BTC".to_owned()];
    while let Some(c) = cursor {
        let r = balances_request(D, Some(&c)).expect("request");
        assert_eq!(r.query, format!("currency={c}"));
        let body = rpc(&format!(r#"{{"currency":"{c}","equity":1e-7,"available_funds":0}}"#));
        let page = parse_balances(D, ok(&body)).expect("page");
        assert_eq!(page.balances[0].locked, "0.0000001", "exponent spelled out");
        asked.push(c);
        cursor = page.next;
    }
    assert_eq!(asked, DERIBIT_CURRENCIES);
    assert!(matches!(balances_request(D, Some("DOGE")), Err(VenueError::BadInput { field: "cursor", .. })));
    // Margin above the equity: nothing free; a deficit stays the total.
    let page = parse_balances(D, ok(&rpc(r#"{"currency":"ETH","equity":2,"available_funds":-0.5}"#))).expect("p");
    assert_eq!((page.balances[0].free.as_str(), page.balances[0].locked.as_str()), ("0", "2"));
    let page = parse_balances(D, ok(&rpc(r#"{"currency":"ETH","equity":-0.25,"available_funds":-1}"#))).expect("p");
    assert_eq!((page.balances[0].free.as_str(), page.balances[0].locked.as_str()), ("-0.25", "0"));
}

/// "get_user_trades_by_currency", the docs' example rows (an option and a future), in
/// ascending time as `sorting=asc` answers, and `has_more`.
fn trades_body(has_more: bool) -> String {
    rpc(&format!(
        r#"{{"trades":[
 {{"trade_seq":299513,"trade_id":"47958936","timestamp":1589923311862,"tick_direction":2,"state":"filled",
   "reduce_only":false,"price":9681.5,"post_only":false,"order_type":"limit","order_id":"3993343822",
   "matching_id":null,"mark_price":9684,"liquidity":"M","instrument_name":"BTC-26JUN20","index_price":9679.48,
   "fee_currency":"BTC","fee":-2.1e-7,"direction":"buy","amount":10}},
 {{"underlying_price":8994.95,"trade_seq":1,"trade_id":"48078936","timestamp":1590480620145,"tick_direction":1,
   "state":"filled","reduce_only":false,"price":0.028,"post_only":false,"order_type":"limit","order_id":"4008699030",
   "matching_id":null,"mark_price":0.03135383,"liquidity":"M","iv":38.51,"instrument_name":"BTC-27MAY20-8750-C",
   "index_price":8993.47,"fee_currency":"BTC","fee":0.0004,"direction":"sell","amount":1}}],
 "has_more":{has_more}}}"#
    ))
}

#[test]
fn trades_read_each_currency_historical_then_recent_oldest_first() {
    let first = trades_request(D, &[], None).expect("request").expect("some");
    assert_eq!(
        triple(&first),
        (
            "GET",
            "/api/v2/private/get_user_trades_by_currency",
            "currency=BTC&start_timestamp=0&count=100&sorting=asc&historical=true"
        )
    );
    let page = parse_trades(D, &[], None, ok(&trades_body(true))).expect("trades");
    assert_eq!(
        page.trades[0],
        Trade {
            exchange_trade_id: "47958936".into(),
            symbol: "BTC-26JUN20".into(),
            side: Side::Buy,
            price: "9681.5".into(),
            qty: "10".into(),
            fee: "-0.00000021".into(),
            fee_asset: Some("BTC".into()),
            time_ms: 1_589_923_311_862,
        }
    );
    assert_eq!((page.trades[1].side, page.trades[1].price.as_str()), (Side::Sell, "0.028"));
    // More: from the newest time of the page (re-read), in the same store.
    assert_eq!(page.next.as_deref(), Some("BTC:h:1590480620145"));
    let r = trades_request(D, &[], page.next.as_deref()).expect("r").expect("some");
    assert!(r.query.contains("start_timestamp=1590480620145&") && r.query.ends_with("historical=true"), "{}", r.query);
    // Done: the recent store of BTC from the start, then ETH's historical one… to EURR's recent.
    let page = parse_trades(D, &[], None, ok(&trades_body(false))).expect("last");
    assert_eq!(page.next.as_deref(), Some("BTC:r:0"));
    let empty = rpc(r#"{"trades":[],"has_more":false}"#);
    let mut cursor = page.next;
    let mut seen = Vec::new();
    while let Some(c) = cursor {
        let r = trades_request(D, &[], Some(&c)).expect("r").expect("some");
        seen.push(r.query.clone());
        cursor = parse_trades(D, &[], Some(&c), ok(&empty)).expect("page").next;
    }
    assert_eq!(seen.len(), 2 * DERIBIT_CURRENCIES.len() - 1);
    assert!(seen.last().is_some_and(|q| q.starts_with("currency=EURR&") && q.ends_with("historical=false")));
    for bad in ["BTC", "BTC:x:1", "DOGE:h:1", "BTC:h:-1", "BTC:h:", "BTC:h:1234567890123456"] {
        assert!(
            matches!(trades_request(D, &[], Some(bad)), Err(VenueError::BadInput { field: "cursor", .. })),
            "{bad}"
        );
    }
}

#[test]
fn a_refresh_reads_the_recent_store_alone_when_its_day_covers_the_gap() {
    let ids = BTreeMap::new();
    let now = 1_700_000_000_000;
    let recent = Since { newest_ms: now - 3_600_000, last_ids: &ids, now_ms: now };
    let r = trades_since_request(D, &[], &recent, None).expect("r").expect("some");
    let from = now - 3_600_000 - SINCE_OVERLAP_MS;
    assert_eq!(r.query, format!("currency=BTC&start_timestamp={from}&count=100&sorting=asc&historical=false"));
    let page = parse_trades_since(D, &[], &recent, None, ok(&rpc(r#"{"trades":[],"has_more":false}"#))).expect("p");
    assert_eq!(page.next, Some(format!("ETH:r:{from}")));
    // Older than the recent store keeps: the historical store first.
    let old = Since { newest_ms: now - 2 * 86_400_000, last_ids: &ids, now_ms: now };
    let r = trades_since_request(D, &[], &old, None).expect("r").expect("some");
    assert!(r.query.ends_with("historical=true"), "{}", r.query);
    // A cursor older than the refresh's start is read from the start.
    let r = trades_since_request(D, &[], &recent, Some("ETH:r:5")).expect("r").expect("some");
    assert!(r.query.contains(&format!("start_timestamp={from}&")), "{}", r.query);
}

#[test]
fn orders_labels_and_states() {
    let limit = PlaceOrder {
        symbol: "BTC-PERPETUAL",
        side: Side::Buy,
        kind: OrderKind::Limit,
        qty: "100",
        price: Some("20000"),
        client_order_id: LABEL,
    };
    let r = place_request(D, &limit).expect("limit");
    assert_eq!(
        triple(&r),
        (
            "GET",
            "/api/v2/private/buy",
            "instrument_name=BTC-PERPETUAL&amount=100&type=limit&price=20000&label=0123abcd-0123-4567-89ab-0123456789ab"
        )
    );
    let market = PlaceOrder {
        side: Side::Sell,
        kind: OrderKind::Market,
        price: None,
        symbol: "ETH_USDC-PERPETUAL",
        qty: "0.5",
        ..limit
    };
    let r = place_request(D, &market).expect("market");
    assert_eq!(triple(&r).1, "/api/v2/private/sell");
    assert_eq!(r.query, format!("instrument_name=ETH_USDC-PERPETUAL&amount=0.5&type=market&label={LABEL}"));
    // An instrument of no Deribit currency: refused before it is sent.
    let spot = PlaceOrder { symbol: "BTCUSDT", ..limit };
    assert!(matches!(place_request(D, &spot), Err(VenueError::BadInput { field: "symbol", .. })));

    // "buy" answers the order and its trades (the docs' example, trimmed).
    let placed = rpc(
        r#"{"trades":[],"order":{"web":false,"time_in_force":"good_til_cancelled","replaced":false,"reduce_only":false,
        "price":20000,"post_only":false,"order_type":"limit","order_state":"open","order_id":"ETH-349249",
        "max_show":100,"last_update_timestamp":1550659803407,"label":"market0000234","is_liquidation":false,
        "instrument_name":"BTC-PERPETUAL","filled_amount":0,"direction":"buy","creation_timestamp":1550659803407,
        "average_price":0,"api":true,"amount":100}}"#,
    );
    assert_eq!(parse_placed(D, ok(&placed)), Ok(Placed { exchange_order_id: "ETH-349249".into(), status: "open" }));
    let filled = placed.replace(r#""order_state":"open""#, r#""order_state":"filled""#);
    assert_eq!(parse_placed(D, ok(&filled)).map(|p| p.status), Ok("filled"));

    let c = cancel_request(D, "BTC-PERPETUAL", "ETH-349249").expect("cancel");
    assert_eq!(triple(&c), ("GET", "/api/v2/private/cancel", "order_id=ETH-349249"));
    let cancelled = rpc(r#"{"order_state":"cancelled","order_id":"ETH-349249","instrument_name":"BTC-PERPETUAL"}"#);
    assert_eq!(parse_cancelled(D, ok(&cancelled)), Ok(()));
    let still = rpc(r#"{"order_state":"filled","order_id":"ETH-349249"}"#);
    assert!(matches!(parse_cancelled(D, ok(&still)), Err(VenueError::Exchange { .. })));
    let gone = r#"{"jsonrpc":"2.0","error":{"code":10004,"message":"order_not_found"}}"#;
    assert_eq!(
        parse_cancelled(D, resp(400, gone)),
        Err(VenueError::Exchange { status: 400, message: "10004 order_not_found".into() })
    );

    let s = status_request(D, "BTC_USDC-PERPETUAL", LABEL).expect("ok").expect("some");
    assert_eq!(
        triple(&s),
        ("GET", "/api/v2/private/get_order_state_by_label", &*format!("currency=USDC&label={LABEL}"))
    );
    let s = status_request(D, "ETH-27JUN25-3000-C", LABEL).expect("ok").expect("some");
    assert!(s.query.starts_with("currency=ETH&"));
    assert_eq!(parse_status(D, ok(&rpc("[]"))), Ok(None), "never placed");
    let one = rpc(r#"[{"order_state":"cancelled","order_id":"123"}]"#);
    assert_eq!(parse_status(D, ok(&one)), Ok(Some(Placed { exchange_order_id: "123".into(), status: "canceled" })));
    let two = rpc(r#"[{"order_state":"open","order_id":"1"},{"order_state":"open","order_id":"2"}]"#);
    assert_eq!(parse_status(D, ok(&two)), mal("result", "names more than one order"));
}

#[test]
fn positions_are_read_signed_and_closed_ones_left_out() {
    let r = deribit_positions_request("BTC").expect("request");
    assert_eq!(triple(&r), ("GET", "/api/v2/private/get_positions", "currency=BTC"));
    assert!(deribit_positions_request("btc").is_err());
    let body =
        rpc(r#"[{"average_price":7440.18,"delta":0.006687487,"direction":"buy","estimated_liquidation_price":1.74,
        "floating_profit_loss":0,"index_price":7466.79,"initial_margin":0.000197283,"instrument_name":"BTC-PERPETUAL",
        "interest_value":1.7362511643080387,"kind":"future","leverage":34,"maintenance_margin":0.000143783,
        "mark_price":7476.65,"open_orders_margin":0.000197288,"realized_funding":-1e-8,"realized_profit_loss":-9e-9,
        "settlement_price":7476.65,"size":50,"size_currency":0.006687487,"total_profit_loss":0.000032781},
       {"average_price":0,"direction":"zero","floating_profit_loss":0,"instrument_name":"BTC-26JUN20","kind":"future",
        "mark_price":9684,"realized_profit_loss":0.001,"size":0},
       {"average_price":50000,"direction":"sell","floating_profit_loss":-0.0012,"instrument_name":"BTC-27JUN25",
        "kind":"future","mark_price":51000,"realized_profit_loss":0,"size":-1000}]"#);
    let p = parse_deribit_positions(ok(&body)).expect("positions");
    assert_eq!(
        p,
        vec![
            DeribitPosition {
                instrument: "BTC-PERPETUAL".into(),
                kind: "future".into(),
                size: "50".into(),
                average_price: "7440.18".into(),
                mark_price: "7476.65".into(),
                floating_pnl: "0".into(),
                realized_pnl: "-0.000000009".into(),
            },
            DeribitPosition {
                instrument: "BTC-27JUN25".into(),
                kind: "future".into(),
                size: "-1000".into(),
                average_price: "50000".into(),
                mark_price: "51000".into(),
                floating_pnl: "-0.0012".into(),
                realized_pnl: "0".into(),
            },
        ]
    );
}

#[test]
fn hostile_answers_are_refused_precisely() {
    // Not JSON, too big, not JSON-RPC.
    assert!(matches!(parse_balances(D, ok("<html>")), Err(VenueError::NotJson { .. })));
    assert_eq!(parse_balances(D, ok(&" ".repeat(MAX_BODY + 1))), Err(VenueError::TooLarge("body")));
    assert_eq!(parse_balances(D, ok("[]")), mal("$", "is not an object"));
    assert_eq!(parse_balances(D, ok(r#"{"jsonrpc":"2.0"}"#)), mal("result", "is missing"));
    assert_eq!(parse_balances(D, resp(502, "")), Err(VenueError::Exchange { status: 502, message: "HTTP 502".into() }));
    // Balances: an unknown currency, amounts as strings, an exponent past 36 digits.
    let b = |s: &str| parse_balances(D, ok(&rpc(s)));
    assert_eq!(
        b(r#"{"currency":"DOGE","equity":1,"available_funds":1}"#),
        mal("result.currency", "is not a Deribit currency")
    );
    assert_eq!(b(r#"{"currency":"BTC","equity":"1","available_funds":1}"#), mal("result.equity", "is not a number"));
    assert_eq!(
        b(r#"{"currency":"BTC","equity":1e300,"available_funds":1}"#),
        mal("result.equity", "is not a decimal number")
    );
    assert_eq!(b(r#"{"currency":"BTC","equity":1}"#), mal("result.available_funds", "is missing"));
    // Trades.
    let t = |s: &str| parse_trades(D, &[], None, ok(&rpc(s)));
    assert_eq!(t(r#"{"trades":[]}"#), mal("result.has_more", "is missing"));
    assert_eq!(t(r#"{"trades":{},"has_more":false}"#), mal("result.trades", "is not an array"));
    let row = |fields: &str| {
        format!(
            r#"{{"trades":[{{"trade_id":"1","timestamp":5,"instrument_name":"BTC-PERPETUAL","direction":"buy","price":1,"amount":10,"fee":0,"fee_currency":"BTC"{fields}}}],"has_more":false}}"#
        )
    };
    assert!(t(&row("")).is_ok());
    assert_eq!(t(&row(r#","direction":"long""#)), mal("result.trades[].direction", "is not buy or sell"));
    assert_eq!(t(&row(r#","price":-1"#)), mal("result.trades[].price", "is negative"));
    assert_eq!(t(&row(r#","amount":"10""#)), mal("result.trades[].amount", "is not a number"));
    assert_eq!(t(&row(r#","timestamp":-5"#)), mal("result.trades[].timestamp", "is not a millisecond time"));
    assert_eq!(t(&row(r#","trade_id":"a b""#)), mal("result.trades[].trade_id", "is not a printable id"));
    assert_eq!(t(&row(r#","instrument_name":"BTC PERP""#)), mal("result.trades[].instrument_name", "is not a symbol"));
    assert_eq!(t(&row(r#","fee_currency":"B-C""#)), mal("result.trades[].fee_currency", "is not a currency"));
    // Paging: older than asked, not oldest first, more rows than the count, stuck in one ms.
    let at = |c: &str, s: &str| parse_trades(D, &[], Some(c), ok(&rpc(s)));
    assert_eq!(
        at("BTC:h:6", &row("")),
        mal("result.trades[].timestamp", "is not oldest first from the start_timestamp asked")
    );
    let two = r#"{"trades":[{"trade_id":"1","timestamp":9,"instrument_name":"X-PERPETUAL","direction":"buy","price":1,"amount":1,"fee":0},
                 {"trade_id":"2","timestamp":8,"instrument_name":"X-PERPETUAL","direction":"buy","price":1,"amount":1,"fee":0}],"has_more":false}"#;
    assert_eq!(t(two), mal("result.trades[].timestamp", "is not oldest first from the start_timestamp asked"));
    let one = r#"{"trade_id":"1","timestamp":7,"instrument_name":"X-PERPETUAL","direction":"buy","price":1,"amount":1,"fee":0}"#;
    let many = format!(r#"{{"trades":[{}],"has_more":true}}"#, vec![one; 101].join(","));
    assert_eq!(t(&many), mal("result.trades", "holds more than the count asked for"));
    let stuck = format!(r#"{{"trades":[{}],"has_more":true}}"#, vec![one; 100].join(","));
    assert_eq!(
        at("BTC:h:7", &stuck),
        mal("result.trades", "fills a page within one millisecond: paging by time cannot pass it")
    );
    assert_eq!(at("BTC:h:6", &stuck).expect("advances").next.as_deref(), Some("BTC:h:7"));
    // Orders.
    assert_eq!(
        parse_placed(D, ok(&rpc(r#"{"order":{"order_state":"weird","order_id":"1"}}"#))),
        mal("result.order.order_state", "is not a Deribit order state")
    );
    assert_eq!(parse_placed(D, ok(&rpc(r#"{"trades":[]}"#))), mal("result.order", "is missing"));
    let long = format!(r#"{{"order":{{"order_state":"open","order_id":"{}"}}}}"#, "9".repeat(65));
    assert_eq!(parse_placed(D, ok(&rpc(&long))), mal("order_id", "is too long"));
    assert_eq!(parse_status(D, ok(&rpc("{}"))), mal("result", "is not an array"));
    let p = |s: &str| parse_deribit_positions(ok(&rpc(s)));
    assert_eq!(p(r#"[{"size":"5"}]"#), mal("result[].size", "is not a number"));
    assert_eq!(p(r#"[{"size":5,"kind":"Future!"}]"#), mal("result[].kind", "is not an instrument kind"));
}

/// Any number text reads back as a plain decimal of the same value, or is refused.
#[test]
fn exponents_spell_out_exactly() {
    for (json, want) in [
        ("-2.1e-7", Some("-0.00000021")),
        ("1e25", Some("10000000000000000000000000")),
        ("1.5E+3", Some("1500")),
        ("123.456", Some("123.456")),
        ("5e-5", Some("0.00005")),
    ] {
        let body = rpc(&format!(r#"{{"currency":"BTC","equity":{json},"available_funds":0}}"#));
        let got = parse_balances(D, ok(&body)).ok().map(|p| {
            let b = &p.balances[0];
            if b.locked == "0" { b.free.clone() } else { b.locked.clone() }
        });
        assert_eq!(got.as_deref(), want, "{json}");
    }
}
