//! Bitfinex v2 and Gemini v1 (the nonce exchanges) requests and parsers, against the
//! examples of their docs and against hostile answers.

use std::collections::BTreeMap;

use super::*;
use crate::test_support::{json_of, mal, ok, resp};

fn order<'a>(symbol: &'a str, side: Side, kind: OrderKind, qty: &'a str, price: Option<&'a str>) -> PlaceOrder<'a> {
    PlaceOrder { symbol, side, kind, qty, price, client_order_id: "1234567890123" }
}

fn since(newest_ms: i64, ids: &BTreeMap<String, u64>) -> Since<'_> {
    Since { newest_ms, last_ids: ids, now_ms: 1_700_000_000_000 }
}

// --- Bitfinex ---------------------------------------------------------------------------

#[test]
fn bitfinex_ids_assets_and_budget() {
    assert_eq!(Venue::from_exchange("bitfinex"), Ok(Venue::Bitfinex));
    assert_eq!(Venue::Bitfinex.to_string(), "bitfinex");
    for r in [[0u8; 16], [0xff; 16], [0x5a; 16]] {
        let id = client_order_id(Venue::Bitfinex, &r);
        let n: u64 = id.parse().expect("an integer cid");
        assert!(n > 0 && n < 1 << 45, "int45: {id}");
    }
    assert_ne!(client_order_id(Venue::Bitfinex, &[1; 16]), client_order_id(Venue::Bitfinex, &[2; 16]));
    for (raw, want) in [("UST", "USDT"), ("ust", "USDT"), ("UDC", "USDC"), ("BTC", "BTC"), ("USD", "USD")] {
        assert_eq!(normalize_asset(Venue::Bitfinex, raw), Ok(want.into()), "{raw}");
    }
    let b = limits::budget(Venue::Bitfinex);
    assert_eq!(b.scope, limits::Scope::Address);
    assert!(b.refill_milli_per_s * 60 < 90_000, "below Bitfinex's 90 a minute");
}

/// "Wallets", the docs' row shape: exchange, margin and funding wallets; an available
/// balance not yet computed (null).
const BFX_WALLETS: &str = r#"[
  ["exchange","UST",19788.6529257,0,15788.6529257,null,null],
  ["exchange","BTC",0.5,0,0.5,"Exchange 0.5 BTC for USD @ 9000",{"reason":"TRADE"}],
  ["margin","USD",100,0,100,null,null],
  ["funding","BTC",1,0,1,null,null],
  ["exchange","ETH",1.25,0,null,null,null]]"#;

#[test]
fn bitfinex_balances() {
    let r = balances_request(Venue::Bitfinex, None).expect("request");
    assert_eq!(
        (r.method.as_str(), r.path.as_str(), r.query.as_str(), r.body.as_str()),
        ("POST", "/v2/auth/r/wallets", "", "{}")
    );
    let page = parse_balances(Venue::Bitfinex, ok(BFX_WALLETS)).expect("wallets");
    assert_eq!(
        page.balances,
        vec![
            VenueBalance { asset: "USDT".into(), free: "15788.6529257".into(), locked: "4000".into() },
            VenueBalance { asset: "BTC".into(), free: "0.5".into(), locked: "0".into() },
            VenueBalance { asset: "ETH".into(), free: "1.25".into(), locked: "0".into() },
        ],
        "exchange wallets only, UST is USDT, a null available counted free"
    );
    let w = |row: &str| format!("[{row}]");
    let cases = [
        (w(r#"["exchange","BTC",1,0]"#), mal("[]", "has too few fields")),
        (w(r#"["exchange","BTC","1",0,1]"#), mal("[][2]", "is not a number")),
        (w(r#"["exchange","BTC",-1,0,0]"#), mal("[][2]", "is negative")),
        (w(r#"["exchange","BTC",1,0,2]"#), mal("[][4]", "is above the balance")),
        (
            w(r#"["exchange","BTC",1e300,0,1]"#),
            mal("[][2]", "is not a number read exactly (over 15 significant digits)"),
        ),
        (
            w(r#"["exchange","BTC",0.12345678901234567,0,0]"#),
            mal("[][2]", "is not a number read exactly (over 15 significant digits)"),
        ),
        (w(r#"["savings","BTC",1,0,1]"#), mal("[][0]", "is not a Bitfinex wallet type")),
        (w(r#"["exchange","B TC",1,0,1]"#), mal("[][1]", "is not a currency")),
        (w(r#"["exchange",7,1,0,1]"#), mal("[][1]", "is not a string")),
        (w(r#"{"exchange":1}"#), mal("[]", "is not an array")),
        (r#"{"wallets":[]}"#.to_owned(), mal("$", "is not an array")),
    ];
    for (body, want) in cases {
        assert_eq!(parse_balances(Venue::Bitfinex, ok(&body)).map(|p| p.balances), want, "{body}");
    }
    // Small amounts print in exponent form: read exactly.
    let tiny = parse_balances(Venue::Bitfinex, ok(r#"[["exchange","BTC",1e-8,0,1.5e-8]]"#));
    assert_eq!(
        tiny.map(|p| p.balances).err(),
        Some(VenueError::Malformed { field: "[][4]", reason: "is above the balance" })
    );
    let tiny = parse_balances(Venue::Bitfinex, ok(r#"[["exchange","BTC",2.5e-7,0,1e-8]]"#)).expect("tiny");
    assert_eq!((tiny.balances[0].free.as_str(), tiny.balances[0].locked.as_str()), ("0.00000001", "0.00000024"));
    assert_eq!(
        parse_balances(Venue::Bitfinex, resp(500, r#"["error",10100,"apikey: invalid"]"#)),
        Err(VenueError::Exchange { status: 400, message: "10100 apikey: invalid".into() }),
        "Bitfinex's 500 with its error array is a definite refusal"
    );
    // A 500 that is not Bitfinex's answer keeps its status: the outcome is unknown.
    assert_eq!(
        parse_balances(Venue::Bitfinex, resp(502, "<html>Bad Gateway</html>")),
        Err(VenueError::Exchange { status: 502, message: "HTTP 502".into() })
    );
    // An error array with HTTP 200 is still a refusal.
    assert_eq!(
        parse_balances(Venue::Bitfinex, ok(r#"["error",10020,"params: invalid"]"#)),
        Err(VenueError::Exchange { status: 200, message: "10020 params: invalid".into() })
    );
    // A nonce refused (after the signer's one re-signed copy) is worth trying again later.
    let nonce = resp(500, r#"["error",10114,"nonce: small"]"#);
    assert!(parse_balances(Venue::Bitfinex, nonce).is_err_and(|e| e.is_transient()));
    assert!(matches!(parse_balances(Venue::Bitfinex, ok("[[")), Err(VenueError::NotJson { .. })));
    let huge = format!("[{}]", vec![r#"["exchange","BTC",1,0,1]"#; MAX_ITEMS + 1].join(","));
    assert_eq!(parse_balances(Venue::Bitfinex, ok(&huge)), Err(VenueError::TooLarge("$")));
}

/// A trade row `[ID, SYMBOL, MTS, ORDER_ID, EXEC_AMOUNT, EXEC_PRICE, ORDER_TYPE,
/// ORDER_PRICE, MAKER, FEE, FEE_CURRENCY, CID]`.
fn bfx_trade(id: u64, mts: i64, amount: &str) -> String {
    format!(r#"[{id},"tBTCUST",{mts},1189740779,{amount},25000,"EXCHANGE LIMIT",25000,-1,-0.0002,"UST",1611213452]"#)
}

fn bfx_page(rows: &[String]) -> String {
    format!("[{}]", rows.join(","))
}

#[test]
fn bitfinex_trades_pages_back_by_end() {
    let first = trades_request(Venue::Bitfinex, &[], None).expect("request").expect("some");
    assert_eq!(
        (first.method.as_str(), first.path.as_str(), first.query.as_str(), first.body.as_str()),
        ("POST", "/v2/auth/r/trades/hist", "", r#"{"limit":100,"sort":-1}"#)
    );
    // The docs' example row (a sell, fee paid in USD), then a buy in a `:` pair.
    let doc = r#"[[402088407,"tETHUST",1574963975602,34938060782,-0.2,153.57,"MARKET",0,-1,-0.061668,"USD",null],
                  [402088406,"tDOGE:USD",1574963975601,34938060781,100.5,0.0712,"EXCHANGE LIMIT",0.0712,1,0.0201,"DOGE"]]"#;
    let page = parse_trades(Venue::Bitfinex, &[], None, ok(doc)).expect("page");
    assert_eq!(
        page.trades[0],
        Trade {
            exchange_trade_id: "402088407".into(),
            symbol: "tETHUST".into(),
            side: Side::Sell,
            price: "153.57".into(),
            qty: "0.2".into(),
            fee: "0.061668".into(),
            fee_asset: Some("USD".into()),
            time_ms: 1_574_963_975_602,
        }
    );
    let t = &page.trades[1];
    assert_eq!(
        (t.symbol.as_str(), t.side, t.qty.as_str(), t.fee.as_str(), t.fee_asset.as_deref()),
        ("tDOGE/USD", Side::Buy, "100.5", "-0.0201", Some("DOGE")),
        "`:` stored as `/`; a rebate is a negative fee"
    );
    assert_eq!(page.next, None, "a short page is the last");

    // A full page: the next asks up to (and including) its oldest time.
    let rows: Vec<String> = (0..100).map(|i| bfx_trade(1000 - i, 1_700_000_100_000 - i as i64 * 10, "0.01")).collect();
    let page = parse_trades(Venue::Bitfinex, &[], None, ok(&bfx_page(&rows))).expect("full");
    assert_eq!(page.next.as_deref(), Some("1700000099010"));
    let next = trades_request(Venue::Bitfinex, &[], page.next.as_deref()).expect("request").expect("some");
    assert_eq!(next.body, r#"{"end":1700000099010,"limit":100,"sort":-1}"#);
    // The boundary millisecond is read again; nothing after the end is accepted.
    let again = parse_trades(Venue::Bitfinex, &[], Some("1700000099010"), ok(&bfx_page(&rows[99..])));
    assert_eq!(again.map(|p| (p.trades.len(), p.next)), Ok((1, None)));
    assert_eq!(
        parse_trades(Venue::Bitfinex, &[], Some("1700000099010"), ok(&bfx_page(&rows))),
        mal("[][2]", "is after the end asked for")
    );
    // A full page of one millisecond at the end asked would be asked forever: refused.
    let same: Vec<String> = (0..100).map(|i| bfx_trade(1000 - i, 1_700_000_000_000, "0.01")).collect();
    assert_eq!(
        parse_trades(Venue::Bitfinex, &[], Some("1700000000000"), ok(&bfx_page(&same))),
        mal("$", "is a full page of one millisecond: paging by time cannot pass it")
    );
    // The first such page is fine (its next asks that millisecond; the page after is refused).
    assert_eq!(
        parse_trades(Venue::Bitfinex, &[], None, ok(&bfx_page(&same))).map(|p| p.next),
        Ok(Some("1700000000000".into()))
    );
    for bad in ["", "-1", "1.5", "12a", "9999999999999999", "1&x=2"] {
        assert!(matches!(trades_request(Venue::Bitfinex, &[], Some(bad)), Err(VenueError::BadInput { .. })), "{bad:?}");
    }

    // A refresh asks from `start` (less the overlap) and refuses anything older.
    let ids = BTreeMap::new();
    let s = since(1_700_000_000_000 + SINCE_OVERLAP_MS, &ids);
    let r = trades_since_request(Venue::Bitfinex, &[], &s, None).expect("since").expect("some");
    assert_eq!(r.body, r#"{"limit":100,"sort":-1,"start":1700000000000}"#);
    let r = trades_since_request(Venue::Bitfinex, &[], &s, Some("1700000050000")).expect("since").expect("some");
    assert_eq!(r.body, r#"{"end":1700000050000,"limit":100,"sort":-1,"start":1700000000000}"#);
    let old = bfx_page(&[bfx_trade(5, 1_699_999_999_999, "1")]);
    assert_eq!(
        parse_trades_since(Venue::Bitfinex, &[], &s, None, ok(&old)),
        mal("[][2]", "is before the start asked for")
    );
    let new = bfx_page(&[bfx_trade(5, 1_700_000_000_001, "1")]);
    assert_eq!(parse_trades_since(Venue::Bitfinex, &[], &s, None, ok(&new)).map(|p| p.trades.len()), Ok(1));
}

#[test]
fn bitfinex_hostile_trades_are_refused_precisely() {
    let one = |row: &str| format!("[{row}]");
    let cases = [
        (one(r#"[1,"tBTCUSD",1,2,0.1,100,null,null,-1,0]"#), mal("[]", "has too few fields")),
        (one(r#"["1","tBTCUSD",1,2,0.1,100,null,null,-1,0,"USD"]"#), mal("[][0]", "is not a non-negative integer")),
        (one(r#"[-1,"tBTCUSD",1,2,0.1,100,null,null,-1,0,"USD"]"#), mal("[][0]", "is not a non-negative integer")),
        (one(r#"[1,"BTCUSD",1,2,0.1,100,null,null,-1,0,"USD"]"#), mal("[][1]", "is not a Bitfinex trading pair")),
        (one(r#"[1,"tBTC USD",1,2,0.1,100,null,null,-1,0,"USD"]"#), mal("[][1]", "is not a Bitfinex trading pair")),
        (one(r#"[1,"tBTCUSD",-5,2,0.1,100,null,null,-1,0,"USD"]"#), mal("[][2]", "is not a millisecond time")),
        (one(r#"[1,"tBTCUSD",1.5,2,0.1,100,null,null,-1,0,"USD"]"#), mal("[][2]", "is not a millisecond time")),
        (one(r#"[1,"tBTCUSD",1,2,"0.1",100,null,null,-1,0,"USD"]"#), mal("[][4]", "is not a number")),
        (one(r#"[1,"tBTCUSD",1,2,0,100,null,null,-1,0,"USD"]"#), mal("[][4]", "is zero")),
        (one(r#"[1,"tBTCUSD",1,2,0.1,-100,null,null,-1,0,"USD"]"#), mal("[][5]", "is negative")),
        (one(r#"[1,"tBTCUSD",1,2,0.1,100,null,null,-1,null,"USD"]"#), mal("[][9]", "is not a number")),
        (one(r#"[1,"tBTCUSD",1,2,0.1,100,null,null,-1,0,5]"#), mal("[][10]", "is not a string")),
        (one(r#"[1,"tBTCUSD",1,2,0.1,100,null,null,-1,0,"U$D"]"#), mal("[][10]", "is not a currency")),
        (one(r#"{"id":1}"#), mal("[]", "is not an array")),
        // Times going backwards in a newest-first answer: the paging would skip or loop.
        (format!("[{},{}]", bfx_trade(1, 1_000, "1"), bfx_trade(2, 2_000, "1")), mal("[][2]", "is not newest first")),
    ];
    for (body, want) in cases {
        assert_eq!(parse_trades(Venue::Bitfinex, &[], None, ok(&body)), want, "{body}");
    }
    let rows: Vec<String> = (0..101).map(|i| bfx_trade(i, 1_000, "1")).collect();
    assert_eq!(
        parse_trades(Venue::Bitfinex, &[], None, ok(&bfx_page(&rows))),
        mal("$", "holds more than the page size")
    );
    let long = format!("[[1,\"tBTCUSD\",1,2,0.1,100{}]]", ",null".repeat(70));
    assert_eq!(parse_trades(Venue::Bitfinex, &[], None, ok(&long)), mal("[]", "has too many fields"));
    // Extra trailing fields (Bitfinex appends without a new version) are accepted.
    let extra = r#"[[1,"tBTCUSD",1,2,0.1,100,null,null,-1,0,"USD",null,"new",{"x":1}]]"#;
    assert_eq!(parse_trades(Venue::Bitfinex, &[], None, ok(extra)).map(|p| p.trades.len()), Ok(1));
    let busy = resp(429, r#"{"error":"ERR_RATE_LIMIT"}"#);
    assert!(parse_trades(Venue::Bitfinex, &[], None, busy).is_err_and(|e| e.is_transient()));
    let limited = resp(500, r#"["error",11010,"ratelimit: error"]"#);
    assert!(parse_trades(Venue::Bitfinex, &[], None, limited).is_err_and(|e| e.is_transient()));
}

/// "Submit Order": the notification, with one order `[ID, GID, CID, SYMBOL, MTS_CREATE,
/// MTS_UPDATE, AMOUNT, AMOUNT_ORIG, TYPE, TYPE_PREV, MTS_TIF, _, FLAGS, STATUS, …]`.
fn bfx_order(id: u64, status: &str) -> String {
    format!(
        r#"[{id},null,1234567890123,"tBTCUST",1573029876000,1573029876000,0.1,0.1,"EXCHANGE LIMIT",null,null,null,0,"{status}",null,null,20000,0,0,0,null,null,null,0,0,null,null,null,"API>BFX",null,null,null]"#
    )
}

#[test]
fn bitfinex_orders() {
    let limit = order("tBTCUST", Side::Buy, OrderKind::Limit, "0.1", Some("20000"));
    let r = place_request(Venue::Bitfinex, &limit).expect("limit");
    assert_eq!((r.method.as_str(), r.path.as_str(), r.query.as_str()), ("POST", "/v2/auth/w/order/submit", ""));
    assert_eq!(
        r.body,
        r#"{"amount":"0.1","cid":1234567890123,"price":"20000","symbol":"tBTCUST","type":"EXCHANGE LIMIT"}"#
    );
    // A sell is a negative amount; a market order is sized in base units either way.
    let sell = order("tDOGE/USD", Side::Sell, OrderKind::Market, "250", None);
    assert_eq!(
        json_of(&place_request(Venue::Bitfinex, &sell).expect("market sell").body),
        serde_json::json!({"amount": "-250", "cid": 1234567890123u64, "symbol": "tDOGE:USD", "type": "EXCHANGE MARKET"})
    );
    let buy = order("tBTCUST", Side::Buy, OrderKind::Market, "0.01", None);
    assert_eq!(json_of(&place_request(Venue::Bitfinex, &buy).expect("market buy").body)["amount"], "0.01");
    // The cid must be Bitfinex's integer; the symbol a trading pair.
    let uuid = PlaceOrder { client_order_id: "0123abcd-0123-4567-89ab-0123456789ab", ..limit };
    assert!(matches!(
        place_request(Venue::Bitfinex, &uuid),
        Err(VenueError::BadInput { field: "client_order_id", .. })
    ));
    let big = PlaceOrder { client_order_id: "35184372088832", ..limit };
    assert!(matches!(place_request(Venue::Bitfinex, &big), Err(VenueError::BadInput { field: "client_order_id", .. })));
    let fund = PlaceOrder { symbol: "fUSD", ..limit };
    assert!(matches!(place_request(Venue::Bitfinex, &fund), Err(VenueError::BadInput { field: "symbol", .. })));

    let placed = format!(
        r#"[1573029876,"on-req",null,null,[{}],null,"SUCCESS","Submitting 1 orders."]"#,
        bfx_order(30630788061, "ACTIVE")
    );
    assert_eq!(
        parse_placed(Venue::Bitfinex, ok(&placed)),
        Ok(Placed { exchange_order_id: "30630788061".into(), status: "open" })
    );
    let filled = placed.replace("\"ACTIVE\"", "\"EXECUTED @ 25000.0(0.1)\"");
    assert_eq!(parse_placed(Venue::Bitfinex, ok(&filled)).map(|p| p.status), Ok("filled"));
    let failed = r#"[1573029876,"on-req",null,null,[],null,"ERROR","Invalid order: not enough exchange balance"]"#;
    assert_eq!(
        parse_placed(Venue::Bitfinex, ok(failed)),
        Err(VenueError::Exchange { status: 200, message: "Invalid order: not enough exchange balance".into() })
    );
    let refused = resp(500, r#"["error",10001,"Invalid order: not enough exchange balance"]"#);
    assert_eq!(
        parse_placed(Venue::Bitfinex, refused),
        Err(VenueError::Exchange { status: 400, message: "10001 Invalid order: not enough exchange balance".into() })
    );
    let two =
        format!(r#"[1,"on-req",null,null,[{},{}],null,"SUCCESS",""]"#, bfx_order(1, "ACTIVE"), bfx_order(2, "ACTIVE"));
    assert_eq!(parse_placed(Venue::Bitfinex, ok(&two)), mal("[4]", "does not hold exactly one order"));
    let other = placed.replace("on-req", "oc-req");
    assert_eq!(parse_placed(Venue::Bitfinex, ok(&other)), mal("[1]", "is not the notification asked for"));
    let short = r#"[1,"on-req",null,null,[[5,null,1,"tBTCUSD"]],null,"SUCCESS",""]"#;
    assert_eq!(parse_placed(Venue::Bitfinex, ok(short)), mal("[4][]", "has too few fields"));
    assert_eq!(parse_placed(Venue::Bitfinex, ok(r#"[1,"on-req"]"#)), mal("$", "has too few fields"));

    let c = cancel_request(Venue::Bitfinex, "tBTCUST", "30630788061").expect("cancel");
    assert_eq!(
        (c.method.as_str(), c.path.as_str(), c.query.as_str(), c.body.as_str()),
        ("POST", "/v2/auth/w/order/cancel", "", r#"{"id":30630788061}"#)
    );
    let cancelled = format!(
        r#"[1573029877,"oc-req",null,null,{},null,"SUCCESS","Submitted for cancellation; waiting for confirmation (ID: 30630788061)."]"#,
        bfx_order(30630788061, "ACTIVE")
    );
    assert_eq!(parse_cancelled(Venue::Bitfinex, ok(&cancelled)), Ok(()));
    let gone = resp(500, r#"["error",10001,"Order not found."]"#);
    assert_eq!(
        parse_cancelled(Venue::Bitfinex, gone),
        Err(VenueError::Exchange { status: 400, message: "10001 Order not found.".into() })
    );
    // No status query: "Retrieve Orders" lists active orders only.
    assert_eq!(status_request(Venue::Bitfinex, "tBTCUST", "1234567890123"), Ok(None));
}

// --- Gemini -----------------------------------------------------------------------------

#[test]
fn gemini_ids_symbols_and_budget() {
    assert_eq!(Venue::from_exchange("gemini"), Ok(Venue::Gemini));
    assert_eq!(Venue::Gemini.to_string(), "gemini");
    let id = client_order_id(Venue::Gemini, &[0x5a; 16]);
    assert!(id.len() <= 100 && check_id(&id, "id").is_ok());
    assert_eq!(normalize_asset(Venue::Gemini, "gusd"), Ok("GUSD".into()));
    let assets = ["BTC", "USD", "ETH", "GUSD"].map(String::from);
    assert_eq!(gemini_symbols(&assets), ["btcgusd", "btcusd", "ethbtc", "ethgusd", "ethusd", "gusdusd"]);
    assert_eq!(limits::budget(Venue::Gemini).scope, limits::Scope::Key);
    assert!(limits::budget(Venue::Gemini).refill_milli_per_s < 5_000, "below Gemini's 5 a second");
}

/// "Get Available Balances", the docs' example shape.
const GEMINI_BALANCES: &str = r#"[
  {"type":"exchange","currency":"BTC","amount":"1154.62034001","available":"1129.10517279",
   "availableForWithdrawal":"1129.10517279"},
  {"type":"exchange","currency":"USD","amount":"18722.79","available":"14481.62","availableForWithdrawal":"14481.62"},
  {"type":"exchange","currency":"ETH","amount":"20124.50369697","available":"20124.50369697",
   "availableForWithdrawal":"20124.50369697"}]"#;

#[test]
fn gemini_balances() {
    let r = balances_request(Venue::Gemini, None).expect("request");
    assert_eq!(
        (r.method.as_str(), r.path.as_str(), r.query.as_str(), r.body.as_str()),
        ("POST", "/v1/balances", "", "{}")
    );
    let page = parse_balances(Venue::Gemini, ok(GEMINI_BALANCES)).expect("balances");
    assert_eq!(
        page.balances[..2],
        [
            VenueBalance { asset: "BTC".into(), free: "1129.10517279".into(), locked: "25.51516722".into() },
            VenueBalance { asset: "USD".into(), free: "14481.62".into(), locked: "4241.17".into() },
        ]
    );
    assert_eq!(page.balances[2].locked, "0");
    let one = |row: &str| format!("[{row}]");
    let cases = [
        (
            one(r#"{"type":"exchange","currency":"BTC","amount":"1","available":"2"}"#),
            mal("[].available", "is above the amount"),
        ),
        (
            one(r#"{"type":"exchange","currency":"BTC","amount":1,"available":"1"}"#),
            mal("[].amount", "is not a string"),
        ),
        (
            one(r#"{"type":"exchange","currency":"BTC","amount":"1e3","available":"1"}"#),
            mal("[].amount", "is not a plain decimal number"),
        ),
        (one(r#"{"type":"exchange","currency":"BTC","available":"1"}"#), mal("[].amount", "is missing")),
        (
            one(r#"{"type":"custody","currency":"BTC","amount":"1","available":"1"}"#),
            mal("[].type", "is not a Gemini exchange account"),
        ),
        (one(r#"["exchange","BTC"]"#), mal("[]", "is not an object")),
        (r#"{"balances":[]}"#.to_owned(), mal("$", "is not an array")),
    ];
    for (body, want) in cases {
        assert_eq!(parse_balances(Venue::Gemini, ok(&body)).map(|p| p.balances), want, "{body}");
    }
    assert_eq!(
        parse_balances(
            Venue::Gemini,
            resp(400, r#"{"result":"error","reason":"InvalidSignature","message":"InvalidSignature"}"#)
        ),
        Err(VenueError::Exchange { status: 400, message: "InvalidSignature InvalidSignature".into() })
    );
    let role = resp(403, r#"{"result":"error","reason":"MissingRole","message":"The API key is missing the role"}"#);
    assert!(parse_balances(Venue::Gemini, role).is_err_and(|e| !e.is_transient()));
    let busy = resp(429, r#"{"result":"error","reason":"RateLimited","message":"Requests were made too frequently"}"#);
    assert!(parse_balances(Venue::Gemini, busy).is_err_and(|e| e.is_transient()));
    let nonce = resp(400, r#"{"result":"error","reason":"InvalidNonce","message":"Nonce must be increasing"}"#);
    assert!(parse_balances(Venue::Gemini, nonce).is_err_and(|e| e.is_transient()));
}

/// A "Get Past Trades" row, as the docs print one.
fn gemini_trade(tid: u64, ms: i64, kind: &str) -> String {
    format!(
        r#"{{"price":"3648.09","amount":"0.0027343246","timestamp":{},"timestampms":{ms},"type":"{kind}","aggressor":true,
            "fee_currency":"USD","fee_amount":"0.024937955062","tid":{tid},"order_id":"107317526","exchange":"gemini",
            "is_auction_fill":false,"is_clearing_fill":false,"symbol":"BTCUSD"}}"#,
        ms / 1000
    )
}

fn gemini_page(rows: &[String]) -> String {
    format!("[{}]", rows.join(","))
}

#[test]
fn gemini_trades_page_forward_per_symbol() {
    let symbols = ["btcusd", "ethusd"].map(String::from);
    let first = trades_request(Venue::Gemini, &symbols, None).expect("request").expect("some");
    assert_eq!(
        (first.method.as_str(), first.path.as_str(), first.query.as_str(), first.body.as_str()),
        ("POST", "/v1/mytrades", "", r#"{"limit_trades":100,"symbol":"btcusd","timestamp":0}"#)
    );
    assert_eq!(trades_request(Venue::Gemini, &[], None), Ok(None), "no symbol: nothing to ask");
    let doc = gemini_page(&[
        gemini_trade(107317526, 1_484_253_302_600, "Buy"),
        gemini_trade(107317525, 1_484_253_302_500, "Sell"),
    ]);
    let page = parse_trades(Venue::Gemini, &symbols, None, ok(&doc)).expect("page");
    assert_eq!(
        page.trades[0],
        Trade {
            exchange_trade_id: "107317526".into(),
            symbol: "btcusd".into(),
            side: Side::Buy,
            price: "3648.09".into(),
            qty: "0.0027343246".into(),
            fee: "0.024937955062".into(),
            fee_asset: Some("USD".into()),
            time_ms: 1_484_253_302_600,
        }
    );
    assert_eq!(page.trades[1].side, Side::Sell);
    assert_eq!(page.next.as_deref(), Some("ethusd:0"), "a short page: the next symbol");
    let last = parse_trades(Venue::Gemini, &symbols, Some("ethusd:0"), ok("[]")).expect("last");
    assert_eq!(last.next, None);

    // A full page: the next asks from its newest time (that millisecond again).
    let rows: Vec<String> =
        (0..100).map(|i| gemini_trade(5000 - i, 1_700_000_100_000 - i as i64 * 10, "Buy")).collect();
    let page =
        parse_trades(Venue::Gemini, &symbols, Some("btcusd:1700000099010"), ok(&gemini_page(&rows))).expect("full");
    assert_eq!(page.next.as_deref(), Some("btcusd:1700000100000"));
    let next = trades_request(Venue::Gemini, &symbols, page.next.as_deref()).expect("request").expect("some");
    assert_eq!(next.body, r#"{"limit_trades":100,"symbol":"btcusd","timestamp":1700000100000}"#);
    // A trade before the timestamp asked, or a full page of one millisecond, is refused.
    assert_eq!(
        parse_trades(Venue::Gemini, &symbols, Some("btcusd:1700000099011"), ok(&gemini_page(&rows))),
        mal("[].timestampms", "is before the timestamp asked for")
    );
    let same: Vec<String> = (0..100).map(|i| gemini_trade(5000 - i, 1_700_000_000_000, "Buy")).collect();
    assert_eq!(
        parse_trades(Venue::Gemini, &symbols, Some("btcusd:1700000000000"), ok(&gemini_page(&same))),
        mal("$", "is a full page of one millisecond: paging by time cannot pass it")
    );
    // A pair Gemini does not list: no trades, on to the next.
    let invalid = resp(400, r#"{"result":"error","reason":"InvalidSymbol","message":"Invalid symbol"}"#);
    assert_eq!(parse_trades(Venue::Gemini, &symbols, None, invalid).map(|p| p.next), Ok(Some("ethusd:0".into())));
    for bad in ["btcusd", "btcusd:", "btcusd:-1", "btcusd:1.5", "btcusd:9999999999999999"] {
        let r = trades_request(Venue::Gemini, &symbols, Some(bad));
        assert!(matches!(r, Err(VenueError::BadInput { .. })), "{bad:?}: {r:?}");
    }

    // A refresh asks every symbol from the newest stored trade less the overlap.
    let ids = BTreeMap::new();
    let s = since(1_700_000_000_000 + SINCE_OVERLAP_MS, &ids);
    let r = trades_since_request(Venue::Gemini, &symbols, &s, None).expect("since").expect("some");
    assert_eq!(r.body, r#"{"limit_trades":100,"symbol":"btcusd","timestamp":1700000000000}"#);
    let p = parse_trades_since(Venue::Gemini, &symbols, &s, None, ok("[]")).expect("since page");
    assert_eq!(p.next.as_deref(), Some("ethusd:1700000000000"));
    // A cursor older than `since` is brought forward to it.
    let r = trades_since_request(Venue::Gemini, &symbols, &s, Some("ethusd:5")).expect("since").expect("some");
    assert_eq!(r.body, r#"{"limit_trades":100,"symbol":"ethusd","timestamp":1700000000000}"#);
}

#[test]
fn gemini_hostile_trades_are_refused_precisely() {
    let symbols = ["btcusd".to_owned()];
    let good = gemini_trade(1, 1_000_000_000_000, "Buy");
    let cases = [
        (good.replace(r#""tid":1"#, r#""tid":"1""#), mal("[].tid", "is not a trade id")),
        (good.replace(r#""tid":1"#, r#""tid":-1"#), mal("[].tid", "is not a trade id")),
        (good.replace(r#""type":"Buy""#, r#""type":"Long""#), mal("[].type", "is not Buy or Sell")),
        (good.replace(r#""price":"3648.09""#, r#""price":3648.09"#), mal("[].price", "is not a string")),
        (good.replace(r#""amount":"0.0027343246""#, r#""amount":"-1""#), mal("[].amount", "is negative")),
        (good.replace("1000000000000", "-1"), mal("[].timestampms", "is not a millisecond time")),
        (good.replace(r#""symbol":"BTCUSD""#, r#""symbol":"ETHUSD""#), mal("[].symbol", "is not the symbol asked for")),
        (
            good.replace(r#""fee_currency":"USD""#, r#""fee_currency":"U$D""#),
            mal("[].fee_currency", "is not a currency"),
        ),
        (
            good.replace(r#""fee_amount":"0.024937955062""#, r#""fee_amount":null"#),
            mal("[].fee_amount", "is not a string"),
        ),
    ];
    for (row, want) in cases {
        assert_eq!(parse_trades(Venue::Gemini, &symbols, None, ok(&format!("[{row}]"))), want, "{row}");
    }
    // Times going backwards in a newest-first answer.
    let backwards = gemini_page(&[gemini_trade(1, 1_000, "Buy"), gemini_trade(2, 2_000, "Buy")]);
    assert_eq!(
        parse_trades(Venue::Gemini, &symbols, None, ok(&backwards)),
        mal("[].timestampms", "is not newest first")
    );
    let rows: Vec<String> = (0..101).map(|i| gemini_trade(i, 1_000, "Buy")).collect();
    assert_eq!(
        parse_trades(Venue::Gemini, &symbols, None, ok(&gemini_page(&rows))),
        mal("$", "holds more than the page size")
    );
    assert_eq!(parse_trades(Venue::Gemini, &symbols, None, ok(r#"{"trades":[]}"#)), mal("$", "is not an array"));
    assert!(matches!(parse_trades(Venue::Gemini, &symbols, None, ok("[{")), Err(VenueError::NotJson { .. })));
    let huge = "x".repeat(MAX_BODY + 1);
    assert_eq!(parse_trades(Venue::Gemini, &symbols, None, ok(&huge)), Err(VenueError::TooLarge("body")));
}

/// "New Order" / "Order Status": the order, as the docs print one.
const GEMINI_ORDER: &str = r#"{"order_id":"106817811","id":"106817811","client_order_id":"20190110-4738721",
  "symbol":"btcusd","exchange":"gemini","avg_execution_price":"0.00","side":"buy","type":"exchange limit",
  "timestamp":"1547220404","timestampms":1547220404836,"is_live":true,"is_cancelled":false,"is_hidden":false,
  "was_forced":false,"executed_amount":"0","remaining_amount":"1","original_amount":"1","price":"3633.00",
  "options":[]}"#;

#[test]
fn gemini_orders() {
    let mut limit = order("btcusd", Side::Buy, OrderKind::Limit, "0.1", Some("20000"));
    limit.client_order_id = "0123abcd-0123-4567-89ab-0123456789ab";
    let r = place_request(Venue::Gemini, &limit).expect("limit");
    assert_eq!((r.method.as_str(), r.path.as_str(), r.query.as_str()), ("POST", "/v1/order/new", ""));
    assert_eq!(
        r.body,
        r#"{"amount":"0.1","client_order_id":"0123abcd-0123-4567-89ab-0123456789ab","price":"20000","side":"buy","symbol":"btcusd","type":"exchange limit"}"#
    );
    // No market order on Gemini's API: refused before anything is sent.
    for side in [Side::Buy, Side::Sell] {
        let market = order("btcusd", side, OrderKind::Market, "0.1", None);
        assert!(matches!(place_request(Venue::Gemini, &market), Err(VenueError::BadInput { field: "kind", .. })));
    }
    assert_eq!(
        parse_placed(Venue::Gemini, ok(GEMINI_ORDER)),
        Ok(Placed { exchange_order_id: "106817811".into(), status: "open" })
    );
    let done = GEMINI_ORDER.replace(r#""is_live":true"#, r#""is_live":false"#);
    assert_eq!(parse_placed(Venue::Gemini, ok(&done)).map(|p| p.status), Ok("filled"));
    let odd = GEMINI_ORDER.replace(r#""is_live":true"#, r#""is_live":"yes""#);
    assert_eq!(parse_placed(Venue::Gemini, ok(&odd)), mal("is_live", "is not a boolean"));
    let noid = GEMINI_ORDER.replace(r#""order_id":"106817811","#, "");
    assert_eq!(parse_placed(Venue::Gemini, ok(&noid)), mal("order_id", "is missing"));
    let funds = resp(406, r#"{"result":"error","reason":"InsufficientFunds","message":"Insufficient funds"}"#);
    assert_eq!(
        parse_placed(Venue::Gemini, funds),
        Err(VenueError::Exchange { status: 406, message: "InsufficientFunds Insufficient funds".into() })
    );

    let c = cancel_request(Venue::Gemini, "btcusd", "106817811").expect("cancel");
    assert_eq!(
        (c.method.as_str(), c.path.as_str(), c.query.as_str(), c.body.as_str()),
        ("POST", "/v1/order/cancel", "", r#"{"order_id":106817811}"#)
    );
    let cancelled = done.replace(r#""is_cancelled":false"#, r#""is_cancelled":true"#);
    assert_eq!(parse_cancelled(Venue::Gemini, ok(&cancelled)), Ok(()));
    assert_eq!(
        parse_cancelled(Venue::Gemini, ok(GEMINI_ORDER)),
        Err(VenueError::Exchange { status: 200, message: "the order was not cancelled".into() })
    );

    // Reconcile by client order id.
    let s = status_request(Venue::Gemini, "btcusd", "20190110-4738721").expect("valid").expect("a query");
    assert_eq!(
        (s.method.as_str(), s.path.as_str(), s.query.as_str(), s.body.as_str()),
        ("POST", "/v1/order/status", "", r#"{"client_order_id":"20190110-4738721"}"#)
    );
    assert_eq!(
        parse_status(Venue::Gemini, ok(GEMINI_ORDER)),
        Ok(Some(Placed { exchange_order_id: "106817811".into(), status: "open" }))
    );
    assert_eq!(
        parse_status(Venue::Gemini, ok(&format!("[{cancelled}]"))).map(|p| p.map(|p| p.status)),
        Ok(Some("canceled"))
    );
    let two = format!("[{GEMINI_ORDER},{GEMINI_ORDER}]");
    assert_eq!(parse_status(Venue::Gemini, ok(&two)), mal("$", "names more than one order"));
    let none = resp(404, r#"{"result":"error","reason":"OrderNotFound","message":"Order not found"}"#);
    assert_eq!(parse_status(Venue::Gemini, none), Ok(None));
    let other = resp(400, r#"{"result":"error","reason":"InvalidSignature","message":"InvalidSignature"}"#);
    assert!(parse_status(Venue::Gemini, other).is_err());
}
