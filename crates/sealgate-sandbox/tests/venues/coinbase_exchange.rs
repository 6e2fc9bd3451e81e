//! The Coinbase Exchange sandbox verifies CB-ACCESS-KEY / -SIGN / -TIMESTAMP /
//! -PASSPHRASE as "Exchange REST API Authentication" documents them, checked with an
//! independent client built here (base64 HMAC-SHA256 with the base64-decoded secret over
//! timestamp + METHOD + path?query + body; 30 s window): good requests pass, and each way
//! of getting one wrong is refused with the Exchange's message; orders move balances;
//! fills page with their cursors; withdrawals need the Transfer permission and are logged.

use crate::common;

use std::net::IpAddr;

use aws_lc_rs::hmac;
use base64::Engine as _;
use common::{Env, amt};
use sealgate_sandbox::{KeySpec, Market, Permissions, Venue};
use serde_json::{Value, json};

const VIEW: Permissions = Permissions { read: true, trade: false, withdraw: false };
const TRADE: Permissions = Permissions { read: false, trade: true, withdraw: false };
const ALL: Permissions = Permissions { read: true, trade: true, withdraw: true };

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn key(api_key: &str, permissions: Permissions, allowed_ips: Vec<IpAddr>) -> KeySpec {
    KeySpec {
        venue: Venue::CoinbaseExchange,
        api_key: api_key.into(),
        secret: b64(&format!("{api_key}-secret")),
        permissions,
        allowed_ips,
        passphrase: Some(format!("{api_key}-pass")),
        balances: vec![("USD".into(), amt("10000")), ("BTC".into(), amt("1"))],
    }
}

fn markets() -> Vec<Market> {
    vec![Market { symbol: "BTC-USD".into(), base: "BTC".into(), quote: "USD".into(), price: amt("50000") }]
}

fn env() -> Env {
    let keys = vec![
        key("cbtrader", TRADE, vec![]),
        key("cbviewer", VIEW, vec![]),
        key("cbtreasury", ALL, vec![]),
        key("cbelsewhere", ALL, vec!["127.0.0.2".parse().expect("ip")]),
        KeySpec { venue: Venue::Okx, ..key("okx-key", ALL, vec![]) },
    ];
    Env::new(keys, markets())
}

fn now_s() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs()
}

fn sign(secret_b64: &str, prehash: &str) -> String {
    let secret = base64::engine::general_purpose::STANDARD.decode(secret_b64).expect("secret");
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &secret), prehash.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(tag.as_ref())
}

fn headers(key: &str, sig: &str, ts: &str, passphrase: &str) -> Vec<(String, String)> {
    vec![
        ("CB-ACCESS-KEY".into(), key.into()),
        ("CB-ACCESS-SIGN".into(), sig.into()),
        ("CB-ACCESS-TIMESTAMP".into(), ts.into()),
        ("CB-ACCESS-PASSPHRASE".into(), passphrase.into()),
        ("Content-Type".into(), "application/json".into()),
    ]
}

/// The headers of `method path?query body` signed now by `key` (its own secret and passphrase).
fn signed(key: &str, method: &str, path: &str, query: &str, body: &str) -> Vec<(String, String)> {
    let ts = now_s().to_string();
    let rp = if query.is_empty() { path.to_owned() } else { format!("{path}?{query}") };
    let sig = sign(&b64(&format!("{key}-secret")), &format!("{ts}{method}{rp}{body}"));
    headers(key, &sig, &ts, &format!("{key}-pass"))
}

fn call(env: &Env, key: &str, method: &str, path: &str, query: &str, body: &str) -> (u16, Value) {
    env.send(method, path, query, &signed(key, method, path, query, body), body)
}

fn msg(v: &Value) -> &str {
    v["message"].as_str().unwrap_or("")
}

const CLIENT_OID: &str = "6f1c2a3b-0d4e-4f5a-9b8c-7d6e5f4a3b2c";

fn limit_buy() -> Value {
    json!({"product_id": "BTC-USD", "side": "buy", "type": "limit", "price": "40000", "size": "0.1",
           "client_oid": CLIENT_OID})
}

#[test]
fn public_ticker_and_stats() {
    let env = env();
    let (status, v) = env.send("GET", "/products/BTC-USD/ticker", "", &[], "");
    assert_eq!(status, 200, "{v}");
    assert_eq!((v["price"].as_str(), v["volume"].as_str()), (Some("50000.00000000"), Some("20000.00000000")));
    let (status, v) = env.send("GET", "/products/BTC-USD/stats", "", &[], "");
    assert_eq!((status, v["last"].as_str()), (200, Some("50000.00000000")), "{v}");
    let (status, v) = env.send("GET", "/products/NOPE-USD/ticker", "", &[], "");
    assert_eq!((status, msg(&v)), (404, "NotFound"));
}

#[test]
fn accounts_orders_fills_and_cancel() {
    let env = env();
    env.sb().seed_trades("cbtrader", "BTC-USD", 5);
    let (status, v) = call(&env, "cbtrader", "GET", "/accounts", "", "");
    assert_eq!(status, 200, "{v}");
    let usd = v.as_array().expect("accounts").iter().find(|a| a["currency"] == "USD").expect("USD").clone();
    assert_eq!(usd["available"], "10000.00000000");
    let id = usd["id"].as_str().expect("id").to_owned();
    let (_, v) = call(&env, "cbtrader", "GET", &format!("/accounts/{id}"), "", "");
    assert_eq!(v["currency"], "USD", "{v}");
    // A limit buy holds USD, is listed and read by id and by client_oid, then cancelled by
    // client_oid; a second one by id.
    let (status, v) = call(&env, "cbtrader", "POST", "/orders", "", &limit_buy().to_string());
    assert_eq!((status, v["status"].as_str()), (200, Some("open")), "{v}");
    let order = v["id"].as_str().expect("id").to_owned();
    assert_eq!(env.sb().free_balance("cbtrader", "USD"), Some(amt("6000")));
    let (_, v) = call(&env, "cbtrader", "GET", "/orders", "status=open", "");
    assert_eq!(v[0]["id"].as_str(), Some(order.as_str()), "{v}");
    let (_, v) = call(&env, "cbtrader", "GET", &format!("/orders/client:{CLIENT_OID}"), "", "");
    assert_eq!((v["id"].as_str(), v["price"].as_str()), (Some(order.as_str()), Some("40000.00000000")), "{v}");
    let (status, v) = call(&env, "cbtrader", "DELETE", &format!("/orders/client:{CLIENT_OID}"), "", "");
    assert_eq!((status, v.as_str()), (200, Some(order.as_str())), "{v}");
    assert_eq!(env.sb().free_balance("cbtrader", "USD"), Some(amt("10000")));
    let (status, v) = call(&env, "cbtrader", "DELETE", &format!("/orders/{order}"), "", "");
    assert_eq!((status, msg(&v)), (404, "NotFound"));
    let mut second = limit_buy();
    second.as_object_mut().expect("object").remove("client_oid");
    let (_, v) = call(&env, "cbtrader", "POST", "/orders", "", &second.to_string());
    let order = v["id"].as_str().expect("id").to_owned();
    let (status, _) = call(&env, "cbtrader", "DELETE", &format!("/orders/{order}"), "product_id=BTC-USD", "");
    assert_eq!(status, 200);
    // A market buy by funds fills at once (100 USD at 50000 = 0.002 BTC); a market sell by size.
    let buy = json!({"product_id": "BTC-USD", "side": "buy", "type": "market", "funds": "100"});
    let (status, v) = call(&env, "cbtrader", "POST", "/orders", "", &buy.to_string());
    assert_eq!((status, v["status"].as_str(), v["filled_size"].as_str()), (200, Some("done"), Some("0.00200000")));
    assert_eq!(env.sb().free_balance("cbtrader", "BTC"), Some(amt("1.002")));
    let sell = json!({"product_id": "BTC-USD", "side": "sell", "type": "market", "size": "0.002"});
    let (status, v) = call(&env, "cbtrader", "POST", "/orders", "", &sell.to_string());
    assert_eq!(status, 200, "{v}");
    let sold = v["id"].as_str().expect("id").to_owned();
    let (_, v) = call(&env, "cbtrader", "GET", &format!("/orders/{sold}"), "", "");
    assert_eq!(v["status"], "done", "{v}");
    // Fills: newest first, 3 a page; `after` the page's CB-AFTER gives the older ones, and
    // `before` a trade gives the newer page nearest it.
    let all: Vec<u64> = env.sb().trades("cbtrader").iter().map(|t| t.id).collect();
    assert_eq!(all.len(), 7);
    let (status, v) = call(&env, "cbtrader", "GET", "/fills", "product_id=BTC-USD&limit=3", "");
    assert_eq!(status, 200, "{v}");
    let ids =
        |v: &Value| v.as_array().expect("fills").iter().filter_map(|f| f["trade_id"].as_u64()).collect::<Vec<_>>();
    assert_eq!(ids(&v), vec![all[6], all[5], all[4]]);
    let (_, v) = call(&env, "cbtrader", "GET", "/fills", &format!("product_id=BTC-USD&limit=3&after={}", all[4]), "");
    assert_eq!(ids(&v), vec![all[3], all[2], all[1]]);
    let (_, v) = call(&env, "cbtrader", "GET", "/fills", &format!("product_id=BTC-USD&limit=2&before={}", all[1]), "");
    assert_eq!(ids(&v), vec![all[3], all[2]], "the newer page nearest the cursor");
    let (_, v) = call(&env, "cbtrader", "GET", "/fills", &format!("order_id={sold}"), "");
    assert_eq!(ids(&v), vec![all[6]]);
    for (query, want) in [
        ("", "product_id or order_id is required"),
        ("product_id=BTC-USD&limit=101", "Invalid limit: 1 to 100"),
        ("product_id=BTC-USD&after=x", "Invalid before or after cursor"),
        ("product_id=BTC-USD&after=1&before=2", "Only one of before and after may be given"),
        ("product_id=BTC-USD&a=%zz", "Invalid query string"),
    ] {
        let (status, v) = call(&env, "cbtrader", "GET", "/fills", query, "");
        assert_eq!((status, msg(&v)), (400, want), "{query}");
    }
    // Malformed orders.
    let mut cases = Vec::new();
    for (field, value, want) in [
        ("size", json!(0.1), "Invalid size"),
        ("size", json!("0"), "Invalid size"),
        ("price", json!("x"), "Invalid price"),
        ("side", json!("BUY"), "Invalid side"),
        ("type", json!("stop"), "Invalid order type"),
        ("funds", json!("10"), "A limit order takes price and size, not funds"),
        ("time_in_force", json!("IOC"), "The sandbox plays time_in_force GTC only"),
        ("post_only", json!(true), "The sandbox plays no post_only, cancel_after or stop orders"),
        ("client_oid", json!("g1"), "Invalid client_oid: a UUID"),
        ("product_id", json!("NOPE-USD"), "product_id is not a valid product"),
        ("size", json!("1"), "Insufficient funds"),
        ("size", json!("99999999999999999999"), "Insufficient funds"),
    ] {
        let mut o = limit_buy();
        o[field] = value;
        cases.push((o, want));
    }
    cases.push((
        json!({"product_id": "BTC-USD", "side": "buy", "type": "market"}),
        "A market order takes one of size and funds",
    ));
    cases.push((
        json!({"product_id": "BTC-USD", "side": "buy", "type": "market", "size": "1", "funds": "1"}),
        "A market order takes one of size and funds",
    ));
    for (o, want) in cases {
        let (status, v) = call(&env, "cbtrader", "POST", "/orders", "", &o.to_string());
        assert_eq!((status, msg(&v)), (400, want), "{o}");
    }
    let (_, v) = call(&env, "cbtrader", "POST", "/orders", "", "[1]");
    assert_eq!(msg(&v), "Invalid request body: not a JSON object");
    assert_eq!(
        sealgate_sandbox::read_order(Venue::CoinbaseExchange, "POST", "/orders", "", None, &buy.to_string())
            .map(|o| o.size),
        Ok(sealgate_sandbox::IntentSize::Quote(amt("100")))
    );
}

#[test]
fn permissions_and_withdrawals() {
    let env = env();
    let w = json!({"amount": "0.1", "currency": "BTC", "crypto_address": "bc1qexample"}).to_string();
    // View reads but neither trades nor withdraws; Trade reads and trades; Transfer withdraws.
    assert_eq!(call(&env, "cbviewer", "GET", "/accounts", "", "").0, 200);
    let (status, v) = call(&env, "cbviewer", "POST", "/orders", "", &limit_buy().to_string());
    assert_eq!((status, msg(&v)), (403, "Forbidden"));
    assert_eq!(call(&env, "cbtrader", "GET", "/orders", "", "").0, 200);
    let (status, _) = call(&env, "cbtrader", "POST", "/withdrawals/crypto", "", &w);
    assert_eq!(status, 403);
    assert!(env.sb().withdrawals().is_empty());
    let (status, v) = call(&env, "cbtreasury", "POST", "/withdrawals/crypto", "", &w);
    assert_eq!(status, 200, "{v}");
    assert_eq!((v["amount"].as_str(), v["currency"].as_str()), (Some("0.10000000"), Some("BTC")));
    let log = env.sb().withdrawals();
    assert_eq!(log.len(), 1);
    assert_eq!(
        (log[0].api_key.as_str(), log[0].address.as_str(), log[0].amount),
        ("cbtreasury", "bc1qexample", amt("0.1"))
    );
    for (body, want) in [
        (json!({"amount": "5", "currency": "BTC", "crypto_address": "a"}), "Insufficient funds"),
        (json!({"amount": 0.1, "currency": "BTC", "crypto_address": "a"}), "Invalid amount"),
        (json!({"amount": "0.1", "currency": "B/C", "crypto_address": "a"}), "Invalid currency"),
        (json!({"amount": "0.1", "currency": "BTC"}), "crypto_address is required"),
    ] {
        let (status, v) = call(&env, "cbtreasury", "POST", "/withdrawals/crypto", "", &body.to_string());
        assert_eq!((status, msg(&v)), (400, want), "{body}");
    }
    assert_eq!(env.sb().withdrawals().len(), 1);
}

#[test]
fn refuses_what_coinbase_exchange_refuses() {
    let env = env();
    let ts = now_s().to_string();
    let good = sign(&b64("cbtrader-secret"), &format!("{ts}GET/accounts"));
    let send = |h: &[(String, String)]| env.send("GET", "/accounts", "", h, "");
    assert_eq!(send(&headers("cbtrader", &good, &ts, "cbtrader-pass")).0, 200);
    // Another key's secret; unknown key; another venue's key; a wrong passphrase.
    let other = sign(&b64("cbviewer-secret"), &format!("{ts}GET/accounts"));
    let (status, v) = send(&headers("cbtrader", &other, &ts, "cbtrader-pass"));
    assert_eq!((status, msg(&v)), (401, "invalid signature"));
    assert_eq!(msg(&send(&headers("nobody", &good, &ts, "x")).1), "Invalid API Key");
    assert_eq!(msg(&send(&headers("okx-key", &good, &ts, "okx-key-pass")).1), "Invalid API Key");
    let (status, v) = send(&headers("cbtrader", &good, &ts, "cbtrader-PASS"));
    assert_eq!((status, msg(&v)), (401, "Invalid Passphrase"));
    // Each missing header.
    for (i, want) in [
        (0, "CB-ACCESS-KEY header is required"),
        (1, "CB-ACCESS-SIGN header is required"),
        (2, "CB-ACCESS-TIMESTAMP header is required"),
        (3, "CB-ACCESS-PASSPHRASE header is required"),
    ] {
        let mut h = headers("cbtrader", &good, &ts, "cbtrader-pass");
        h.remove(i);
        assert_eq!(send(&h), (400, json!({"message": want})));
    }
    // The timestamp: 31 s off either way is expired; a malformed one is invalid.
    for off in [-31_i64, 31] {
        let t = (i64::try_from(now_s()).expect("s") + off).to_string();
        let s = sign(&b64("cbtrader-secret"), &format!("{t}GET/accounts"));
        assert_eq!(msg(&send(&headers("cbtrader", &s, &t, "cbtrader-pass")).1), "request timestamp expired", "{off}");
    }
    for t in ["1e9", "", "17000000000000000", "1.2.3"] {
        let s = sign(&b64("cbtrader-secret"), &format!("{t}GET/accounts"));
        let (_, v) = send(&headers("cbtrader", &s, t, "cbtrader-pass"));
        assert!(msg(&v) == "invalid timestamp" || msg(&v) == "CB-ACCESS-TIMESTAMP header is required", "{t}: {v}");
    }
    // What the signature binds: method, path, query, body.
    let order = limit_buy().to_string();
    let h = signed("cbtrader", "POST", "/orders", "", &order);
    let (_, v) = env.send("POST", "/orders", "", &h, &order.replace("0.1", "0.2"));
    assert_eq!(msg(&v), "invalid signature", "another body");
    let h = signed("cbtrader", "GET", "/fills", "product_id=BTC-USD", "");
    let (_, v) = env.send("GET", "/fills", "product_id=BTC-USD&limit=1", &h, "");
    assert_eq!(msg(&v), "invalid signature", "another query");
    let (_, v) = env.send("GET", "/orders", "product_id=BTC-USD", &h, "");
    assert_eq!(msg(&v), "invalid signature", "another path");
    let h = signed("cbtrader", "GET", "/orders/client:x", "", "");
    let (_, v) = env.send("DELETE", "/orders/client:x", "", &h, "");
    assert_eq!(msg(&v), "invalid signature", "another method");
    let (_, v) = send(&headers("cbtrader", "not base64!", &ts, "cbtrader-pass"));
    assert_eq!(msg(&v), "invalid signature");
    assert!(env.sb().balances("cbtrader").iter().all(|(_, _, locked)| *locked == amt("0")));
    // IP allow-list: the request comes from 127.0.0.1.
    let (status, v) = call(&env, "cbelsewhere", "GET", "/accounts", "", "");
    assert_eq!((status, msg(&v)), (403, "Forbidden"));
    // Unknown entry points.
    assert_eq!(call(&env, "cbtrader", "GET", "/accounts/not-an-account", "", "").0, 404);
    assert_eq!(call(&env, "cbtrader", "PUT", "/orders", "", "").0, 404);
}

/// Vectors computed apart from both codes: `openssl dgst -sha256 -hmac
/// sealgate-cbex-doc-secret -binary | base64` of the prehash (the secret is the base64
/// `c2VhbGdhdGUtY2JleC1kb2Mtc2VjcmV0`); one with a decimal timestamp (1700000000.5, as the
/// docs allow) over a query, one over a JSON body. The docs print no signature. The
/// sandbox's clock is set to that time.
#[test]
fn worked_example_vectors() {
    let mut spec = key("cbdoc", ALL, vec![]);
    spec.secret = "c2VhbGdhdGUtY2JleC1kb2Mtc2VjcmV0".into();
    spec.passphrase = Some("doc-passphrase".into());
    let env = Env::new(vec![spec], markets());
    let now_ms = i64::try_from(now_s() * 1000).expect("ms");
    env.sb().set_clock_offset_ms(1_700_000_000_000 - now_ms);
    let h = headers("cbdoc", "upvkyvtaZGy3ocUmfp3BftzVd7MnTSXjW3JdEP5getE=", "1700000000.5", "doc-passphrase");
    let (status, v) = env.send("GET", "/fills", "product_id=BTC-USD&limit=2", &h, "");
    assert_eq!(status, 200, "{v}");
    let body = r#"{"product_id":"BTC-USD","side":"buy","type":"market","funds":"100"}"#;
    let h = headers("cbdoc", "iuiflaxYY3mwY+O8UFBf8ykNdifE/Pkh1YxGjrXm9jY=", "1700000000", "doc-passphrase");
    let (status, v) = env.send("POST", "/orders", "", &h, body);
    assert_eq!((status, v["status"].as_str()), (200, Some("done")), "{v}");
}

/// Sealgate's own Coinbase Exchange scheme (`sealgate-exchanges`, written separately)
/// passes this independent verifier.
#[test]
fn sealgates_scheme_passes() {
    use sealgate_exchanges::{Credential, SystemClock};
    let env = env();
    let cred = Credential {
        api_key: Some("cbtreasury".into()),
        api_secret: Some(b64("cbtreasury-secret").into()),
        passphrase: Some("cbtreasury-pass".into()),
        ..Credential::default()
    };
    let send = |method: &str, path: &str, query: &str, body: &str| {
        let s = common::sign("coinbase-exchange", &cred, &common::request(method, path, query, body), &SystemClock, 1);
        env.send_signed(&s)
    };
    let (status, v) = send("GET", "/accounts", "", "");
    assert_eq!(status, 200, "{v}");
    let (status, v) = send("POST", "/orders", "", &limit_buy().to_string());
    assert_eq!(status, 200, "{v}");
    let (_, v) = send("GET", "/orders", "status=open", "");
    assert_eq!(v.as_array().map(Vec::len), Some(1), "{v}");
    let (status, _) = send("DELETE", &format!("/orders/client:{CLIENT_OID}"), "", "");
    assert_eq!(status, 200);
    let (status, v) = send("GET", "/fills", "product_id=BTC-USD", "");
    assert_eq!(status, 200, "{v}");
    let w = json!({"amount": "0.1", "currency": "BTC", "crypto_address": "bc1qexample"}).to_string();
    let (status, v) = send("POST", "/withdrawals/crypto", "", &w);
    assert_eq!(status, 200, "{v}");
    assert_eq!(env.sb().withdrawals().len(), 1);
}
