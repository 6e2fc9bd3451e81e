//! The MEXC spot v3 sandbox verifies X-MEXC-APIKEY / timestamp / recvWindow /
//! signature as MEXC documents it, checked with an independent client built here
//! (lowercase hex HMAC-SHA256 of totalParams = query string + body, the signature
//! left out): good requests pass, and each way of getting one wrong is refused with
//! MEXC's own code; orders move balances; withdrawals need the key's withdraw
//! permission and are logged.

use crate::common;

use std::net::IpAddr;

use aws_lc_rs::hmac;
use common::{Env, amt};
use sealgate_sandbox::{KeySpec, Market, Permissions, Venue};
use serde_json::Value;

const READ_TRADE: Permissions = Permissions { read: true, trade: true, withdraw: false };
const ALL: Permissions = Permissions { read: true, trade: true, withdraw: true };

fn key(api_key: &str, permissions: Permissions, allowed_ips: Vec<IpAddr>) -> KeySpec {
    KeySpec {
        venue: Venue::Mexc,
        api_key: api_key.into(),
        secret: format!("{api_key}-secret"),
        permissions,
        allowed_ips,
        passphrase: None,
        balances: vec![("USDT".into(), amt("10000")), ("BTC".into(), amt("1"))],
    }
}

fn markets() -> Vec<Market> {
    vec![Market { symbol: "BTCUSDT".into(), base: "BTC".into(), quote: "USDT".into(), price: amt("50000") }]
}

fn env() -> Env {
    let keys = vec![
        key("mx0trader", READ_TRADE, vec![]),
        key("mx0treasury", ALL, vec![]),
        key("mx0reader", Permissions { read: true, ..Permissions::default() }, vec![]),
        key("mx0elsewhere", ALL, vec!["127.0.0.2".parse().expect("ip")]),
        KeySpec { venue: Venue::Binance, ..key("binance-key", ALL, vec![]) },
    ];
    Env::new(keys, markets())
}

fn now_ms() -> u64 {
    u64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis())
        .expect("ms")
}

fn sig(secret: &str, total: &str) -> String {
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes()), total.as_bytes());
    tag.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

fn headers(api_key: &str) -> Vec<(String, String)> {
    vec![("X-MEXC-APIKEY".into(), api_key.into())]
}

/// Send `params` (with `timestamp` added) signed: in the query for GET and DELETE, in
/// a form body for POST.
fn call_at(env: &Env, api_key: &str, secret: &str, ts: u64, method: &str, path: &str, params: &str) -> (u16, Value) {
    let total = if params.is_empty() { format!("timestamp={ts}") } else { format!("{params}&timestamp={ts}") };
    let signed = format!("{total}&signature={}", sig(secret, &total));
    if method == "POST" {
        env.send(method, path, "", &headers(api_key), &signed)
    } else {
        env.send(method, path, &signed, &headers(api_key), "")
    }
}

fn call(env: &Env, api_key: &str, method: &str, path: &str, params: &str) -> (u16, Value) {
    call_at(env, api_key, &format!("{api_key}-secret"), now_ms(), method, path, params)
}

fn code(v: &Value) -> i64 {
    v["code"].as_i64().unwrap_or(0)
}

const ORDER: &str = "/api/v3/order";
const WITHDRAW_PATH: &str = "/api/v3/capital/withdraw";
const MARKET_BUY: &str = "symbol=BTCUSDT&side=BUY&type=MARKET&quoteOrderQty=500&newClientOrderId=m1";
const WITHDRAW: &str = "coin=BTC&netWork=BTC&address=bc1qexample&amount=0.1";

#[test]
fn public_time_and_tickers_are_binances_shapes() {
    let env = env();
    let (status, v) = env.send("GET", "/api/v3/time", "", &[], "");
    assert_eq!(status, 200, "{v}");
    assert!(v["serverTime"].as_u64().expect("ms").abs_diff(now_ms()) < 5_000);
    let (status, v) = env.send("GET", "/api/v3/ticker/24hr", "symbol=BTCUSDT", &[], "");
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (v["lastPrice"].as_str(), v["quoteVolume"].as_str()),
        (Some("50000.00000000"), Some("1000000000.00000000"))
    );
    let (_, v) = env.send("GET", "/api/v3/ticker/price", "symbol=BTCUSDT", &[], "");
    assert_eq!(v["price"], "50000.00000000");
    // What Sealgate reads from them.
    let r = sealgate_exchanges::market_stats_request("mexc", "BTCUSDT").expect("a ticker");
    let (_, body) = env.send(&r.method, &r.path, &r.query, &[], "");
    let s = sealgate_exchanges::market_stats("mexc", "BTCUSDT", body.to_string().as_bytes()).expect("stats");
    assert_eq!((s.last_price, s.quote_volume_24h), (50_000.0, 1e9));
}

#[test]
fn balances_orders_trades_and_cancel() {
    let env = env();
    let (status, v) = call(&env, "mx0trader", "GET", "/api/v3/account", "");
    assert_eq!(status, 200, "{v}");
    let btc = v["balances"].as_array().expect("balances").iter().find(|b| b["asset"] == "BTC").expect("BTC").clone();
    assert_eq!(btc["free"], "1.00000000");
    // A market buy by quoteOrderQty: 500 USDT buys 0.01 BTC.
    let (status, v) = call(&env, "mx0trader", "POST", ORDER, MARKET_BUY);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["clientOrderId"], "m1");
    assert_eq!(env.sb().free_balance("mx0trader", "USDT"), Some(amt("9500")));
    assert_eq!(env.sb().free_balance("mx0trader", "BTC"), Some(amt("1.01")));
    // A market sell by quantity.
    let (status, v) = call(&env, "mx0trader", "POST", ORDER, "symbol=BTCUSDT&side=SELL&type=MARKET&quantity=0.01");
    assert_eq!(status, 200, "{v}");
    assert_eq!(env.sb().free_balance("mx0trader", "USDT"), Some(amt("10000")));
    // Trades: the most recent `limit`, oldest first; paged back by endTime and
    // forward by startTime.
    env.sb().seed_trades("mx0trader", "BTCUSDT", 3);
    let (_, v) = call(&env, "mx0trader", "GET", "/api/v3/myTrades", "symbol=BTCUSDT&limit=2");
    let page = v.as_array().expect("trades").clone();
    assert_eq!(page.len(), 2, "{v}");
    assert_eq!((page[0]["isBuyer"].as_bool(), page[1]["isBuyer"].as_bool()), (Some(true), Some(false)));
    assert_eq!(page[0]["clientOrderId"], "m1");
    let before = page[0]["time"].as_u64().expect("time") - 1;
    let (_, v) = call(&env, "mx0trader", "GET", "/api/v3/myTrades", &format!("symbol=BTCUSDT&endTime={before}"));
    assert_eq!(v.as_array().map(Vec::len), Some(3), "{v}");
    let first = v[0]["time"].as_u64().expect("time");
    let (_, v) =
        call(&env, "mx0trader", "GET", "/api/v3/myTrades", &format!("symbol=BTCUSDT&startTime={first}&limit=4"));
    assert_eq!(v.as_array().map(Vec::len), Some(4), "{v}");
    assert_eq!(v[0]["time"].as_u64(), Some(first));
    let (_, v) = call(&env, "mx0trader", "GET", "/api/v3/myTrades", "symbol=BTCUSDT&limit=101");
    assert_eq!(code(&v), 33333);
    let (_, v) = call(&env, "mx0trader", "GET", "/api/v3/myTrades", "");
    assert_eq!(code(&v), 33333, "symbol is required");
    // A limit sell locks BTC, is listed, and is cancelled by origClientOrderId.
    let limit = "symbol=BTCUSDT&side=SELL&type=LIMIT&quantity=0.5&price=60000&newClientOrderId=l1";
    let (_, v) = call(&env, "mx0trader", "POST", ORDER, limit);
    assert_eq!(v["type"], "LIMIT", "{v}");
    let (_, v) = call(&env, "mx0trader", "GET", "/api/v3/account", "");
    let btc = v["balances"].as_array().expect("balances").iter().find(|b| b["asset"] == "BTC").expect("BTC").clone();
    assert_eq!((btc["free"].as_str(), btc["locked"].as_str()), (Some("0.50000000"), Some("0.50000000")));
    let (_, v) = call(&env, "mx0trader", "GET", "/api/v3/openOrders", "symbol=BTCUSDT");
    assert_eq!(v[0]["clientOrderId"], "l1", "{v}");
    let (_, v) = call(&env, "mx0trader", "DELETE", ORDER, "symbol=BTCUSDT");
    assert_eq!(code(&v), 700_004);
    let (status, v) = call(&env, "mx0trader", "DELETE", ORDER, "symbol=BTCUSDT&origClientOrderId=l1");
    assert_eq!((status, v["status"].as_str()), (200, Some("CANCELED")), "{v}");
    assert_eq!(env.sb().free_balance("mx0trader", "BTC"), Some(amt("1")));
    let (_, v) = call(&env, "mx0trader", "DELETE", ORDER, "symbol=BTCUSDT&origClientOrderId=l1");
    assert_eq!(code(&v), -2011);
    // Refusals of malformed orders.
    for (bad, want) in [
        ("symbol=BTCUSDT&side=BUY&type=MARKET&quantity=1&quoteOrderQty=1", 33333),
        ("symbol=BTCUSDT&side=BUY&type=MARKET&quantity=1&price=1", 33333),
        ("symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1", 33333),
        ("symbol=BTCUSDT&side=BUY&type=STOP&quantity=1", 33333),
        ("symbol=BTCUSDT&symbol=ETHUSDT&side=BUY&type=MARKET&quantity=1", 33333),
        ("symbol=NOPE&side=BUY&type=MARKET&quantity=1", -1121),
        ("symbol=BTCUSDT&side=BUY&type=MARKET&quoteOrderQty=100000", 30004),
        ("symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=99999999999999999999&price=99999999999999999999", 30004),
    ] {
        let (_, v) = call(&env, "mx0trader", "POST", ORDER, bad);
        assert_eq!(code(&v), want, "{bad}: {v}");
    }
}

/// "Query Order" by `origClientOrderId` or `orderId`: open, filled, cancelled, or -2011
/// for an order the account never placed (how a placement without an answer is reconciled).
#[test]
fn query_order_finds_open_filled_and_cancelled_orders() {
    let env = env();
    let limit = "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=0.1&price=40000&newClientOrderId=q1";
    let (_, placed) = call(&env, "mx0trader", "POST", ORDER, limit);
    let id = placed["orderId"].as_str().expect("orderId").to_owned();
    let (status, v) = call(&env, "mx0trader", "GET", ORDER, "symbol=BTCUSDT&origClientOrderId=q1");
    assert_eq!((status, v["status"].as_str(), v["orderId"].as_str()), (200, Some("NEW"), Some(id.as_str())), "{v}");
    let (_, v) = call(&env, "mx0trader", "GET", ORDER, &format!("symbol=BTCUSDT&orderId={id}"));
    assert_eq!(v["clientOrderId"], "q1", "{v}");
    call(&env, "mx0trader", "DELETE", ORDER, "symbol=BTCUSDT&origClientOrderId=q1");
    let (_, v) = call(&env, "mx0trader", "GET", ORDER, "symbol=BTCUSDT&origClientOrderId=q1");
    assert_eq!(v["status"], "CANCELED", "{v}");
    call(&env, "mx0trader", "POST", ORDER, "symbol=BTCUSDT&side=SELL&type=MARKET&quantity=0.01&newClientOrderId=q2");
    let (_, v) = call(&env, "mx0trader", "GET", ORDER, "symbol=BTCUSDT&origClientOrderId=q2");
    assert_eq!(v["status"], "FILLED", "{v}");
    let (status, v) = call(&env, "mx0trader", "GET", ORDER, "symbol=BTCUSDT&origClientOrderId=never");
    assert_eq!((status, code(&v)), (400, -2011), "{v}");
    let (_, v) = call(&env, "mx0trader", "GET", ORDER, "symbol=ETHUSDT&origClientOrderId=q2");
    assert_eq!(code(&v), -2011, "another symbol's order: {v}");
    let (_, v) = call(&env, "mx0trader", "GET", ORDER, "symbol=BTCUSDT");
    assert_eq!(code(&v), 700_004);
    // A read: a key without trade permission may query.
    let (status, v) = call(&env, "mx0reader", "GET", ORDER, "symbol=BTCUSDT&origClientOrderId=q1");
    assert_eq!((status, code(&v)), (400, -2011), "another account's order is unknown: {v}");
}

#[test]
fn withdrawals_need_the_permission_and_are_logged() {
    let env = env();
    let (status, v) = call(&env, "mx0trader", "POST", WITHDRAW_PATH, WITHDRAW);
    assert_eq!((status, code(&v)), (401, 700_007), "{v}");
    let (_, v) = call(&env, "mx0reader", "POST", ORDER, MARKET_BUY);
    assert_eq!(code(&v), 700_007);
    assert!(env.sb().withdrawals().is_empty());
    let (status, v) = call(&env, "mx0treasury", "POST", WITHDRAW_PATH, WITHDRAW);
    assert_eq!(status, 200, "{v}");
    assert!(v["id"].is_string());
    let (status, _) =
        call(&env, "mx0treasury", "POST", "/api/v3/capital/withdraw/apply", &WITHDRAW.replace("netWork", "network"));
    assert_eq!(status, 200);
    let w = env.sb().withdrawals();
    assert_eq!(w.len(), 2);
    assert_eq!((w[0].api_key.as_str(), w[0].asset.as_str(), w[0].amount), ("mx0treasury", "BTC", amt("0.1")));
    let (_, v) = call(&env, "mx0treasury", "POST", WITHDRAW_PATH, &WITHDRAW.replace("0.1", "5"));
    assert_eq!(code(&v), 10101);
    let (_, v) = call(&env, "mx0treasury", "POST", WITHDRAW_PATH, "coin=BTC&amount=0.1");
    assert_eq!(code(&v), 33333);
    assert_eq!(env.sb().withdrawals().len(), 2);
}

#[test]
fn refuses_what_mexc_refuses() {
    let env = env();
    let now = now_ms();
    let secret = "mx0trader-secret";
    let acct = "/api/v3/account";
    // Signed with another key's secret; unknown key; a key of another venue; none.
    let (status, v) = call_at(&env, "mx0trader", "mx0treasury-secret", now, "GET", acct, "");
    assert_eq!((status, code(&v)), (401, 700_002), "{v}");
    let (_, v) = call(&env, "nobody", "GET", acct, "");
    assert_eq!(code(&v), 10072);
    let (_, v) = call(&env, "binance-key", "GET", acct, "");
    assert_eq!(code(&v), 10072);
    let total = format!("timestamp={now}");
    let q = format!("{total}&signature={}", sig(secret, &total));
    let (_, v) = env.send("POST", WITHDRAW_PATH, &q, &[], "");
    assert_eq!(code(&v), 400, "api key required");
    // No signature; an uppercase one ("lowercase only"); two.
    let (_, v) = env.send("GET", acct, &total, &headers("mx0trader"), "");
    assert_eq!(code(&v), 700_002);
    let upper = format!("{total}&signature={}", sig(secret, &total).to_uppercase());
    let (_, v) = env.send("GET", acct, &upper, &headers("mx0trader"), "");
    assert_eq!(code(&v), 700_002);
    let (_, v) = env.send("GET", acct, &format!("{q}&signature=00"), &headers("mx0trader"), "");
    assert_eq!(code(&v), 33333);
    // The parameters changed after signing: a query value, a body value, one moved
    // from the body to the query, a tampered withdrawal address.
    let signed = "symbol=BTCUSDT&side=BUY&type=MARKET&quoteOrderQty=500";
    let total = format!("{signed}&timestamp={now}");
    let body = format!("{total}&signature={}", sig(secret, &total));
    let (_, v) =
        env.send("POST", ORDER, "", &headers("mx0trader"), &body.replace("quoteOrderQty=500", "quoteOrderQty=900"));
    assert_eq!(code(&v), 700_002);
    let (_, v) = env.send("POST", ORDER, "quoteOrderQty=900", &headers("mx0trader"), &body);
    assert_eq!(code(&v), 700_002, "a query parameter wins over the body's, and it is signed");
    assert!(env.sb().trades("mx0trader").is_empty());
    let tsecret = "mx0treasury-secret";
    let total = format!("{WITHDRAW}&timestamp={now}");
    let body = format!("{total}&signature={}", sig(tsecret, &total));
    let (_, v) =
        env.send("POST", WITHDRAW_PATH, "", &headers("mx0treasury"), &body.replace("bc1qexample", "bc1qattacker"));
    assert_eq!(code(&v), 700_002);
    // The same signed parameters replayed on another path: MEXC signs no path, so the
    // signature holds; the order reader refuses what is not an order, and a replay as
    // a withdrawal needs the withdraw permission (the trader key has none).
    let (_, v) = env.send(
        "POST",
        WITHDRAW_PATH,
        "",
        &headers("mx0trader"),
        &format!("{WITHDRAW}&timestamp={now}&signature={}", sig(secret, &format!("{WITHDRAW}&timestamp={now}"))),
    );
    assert_eq!(code(&v), 700_007);
    assert!(env.sb().withdrawals().is_empty());
    // Timing: stale beyond recvWindow (default 5000), early by 1 s, recvWindow above 60000.
    let (_, v) = call_at(&env, "mx0trader", secret, now - 6_000, "GET", acct, "");
    assert_eq!(code(&v), 700_003);
    let (status, _) = call_at(&env, "mx0trader", secret, now_ms() - 6_000, "GET", acct, "recvWindow=10000");
    assert_eq!(status, 200, "within a wider recvWindow");
    let (_, v) = call_at(&env, "mx0trader", secret, now_ms() + 3_000, "GET", acct, "");
    assert_eq!(code(&v), 700_003);
    let (_, v) = call_at(&env, "mx0trader", secret, now, "GET", acct, "recvWindow=60001");
    assert_eq!(code(&v), 700_005);
    let (_, v) = env.send("GET", acct, "signature=00", &headers("mx0trader"), "");
    assert_eq!(code(&v), 33333, "no timestamp");
    // IP allow-list: the request comes from 127.0.0.1.
    let (status, v) = call(&env, "mx0elsewhere", "GET", acct, "");
    assert_eq!((status, code(&v)), (401, 700_006));
    // A JSON body; an unknown route.
    let (_, v) = env.send("POST", ORDER, "", &headers("mx0trader"), r#"{"symbol":"BTCUSDT"}"#);
    assert_eq!(code(&v), 33333);
    let (status, _) = call(&env, "mx0trader", "GET", "/api/v3/nothing", "");
    assert_eq!(status, 404);
}

/// Known-answer vectors: the documented totalParams (query string, then body, no
/// separator) at a fixed timestamp, with signatures computed outside Rust (Python's
/// `hmac`, SHA-256, hex) for the secret `YYYYYYYYYY` (ours).
#[test]
fn documented_layout_known_answers() {
    let mut spec = key("mx0doc", ALL, vec![]);
    spec.secret = "YYYYYYYYYY".into();
    let env = Env::new(vec![spec], markets());
    const TS: u64 = 1_644_489_390_087;
    env.sb().set_clock_offset_ms(i64::try_from(i128::from(TS) - i128::from(now_ms())).expect("offset"));
    let q = "timestamp=1644489390087&recvWindow=5000&signature=72253d198f49bd0d93a98e2b5c775bbb310efda6c2ecd5d878790f3ca30f9bb4";
    let (status, v) = env.send("GET", "/api/v3/account", q, &headers("mx0doc"), "");
    assert_eq!(status, 200, "{v}");
    let query = "symbol=BTCUSDT&side=BUY&type=LIMIT";
    let body = "quantity=0.01&price=40000&recvWindow=5000&timestamp=1644489390087&signature=377056fb66803bfba82593e7d8608632552f1057c65ded32261350476e0e9d7c";
    let (status, v) = env.send("POST", ORDER, query, &headers("mx0doc"), body);
    assert_eq!((status, v["type"].as_str()), (200, Some("LIMIT")), "{v}");
}

/// Sealgate's own MEXC scheme (`sealgate-exchanges`, written separately) passes this
/// independent verifier.
#[test]
fn sealgates_scheme_passes() {
    use sealgate_exchanges::{Credential, SystemClock};
    let env = env();
    let send = |cred: &Credential, method: &str, path: &str, query: &str, body: &str| {
        let mut s = common::sign("mexc", cred, &common::request(method, path, query, body), &SystemClock, 1);
        if let Some(t) = sealgate_exchanges::content_type("mexc", method, body).expect("mexc")
            && !s.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("Content-Type"))
        {
            s.headers.push(("Content-Type".into(), t.into()));
        }
        env.send_signed(&s)
    };
    let cred = Credential {
        api_key: Some("mx0treasury".into()),
        api_secret: Some("mx0treasury-secret".into()),
        ..Credential::default()
    };
    let (status, v) = send(&cred, "GET", "/api/v3/account", "", "");
    assert_eq!(status, 200, "{v}");
    let (status, v) = send(&cred, "POST", ORDER, "", MARKET_BUY);
    assert_eq!(status, 200, "{v}");
    let (_, v) = send(&cred, "GET", "/api/v3/myTrades", "symbol=BTCUSDT&limit=10", "");
    assert_eq!(v.as_array().map(Vec::len), Some(1), "{v}");
    let (status, v) = send(&cred, "POST", WITHDRAW_PATH, "", WITHDRAW);
    assert_eq!(status, 200, "{v}");
    assert_eq!(env.sb().withdrawals().len(), 1);
}
