//! The exchanges' documented request limits, as the sandbox enforces them when asked (a
//! load benchmark): Kraken's API counter per key (history costs 2, refused above 15) and
//! Binance's request weight per address (6,000 a minute; `myTrades` weighs 20), Coinbase
//! Exchange's and Deribit's bursts per key, each refused with the exchange's own answer and
//! counted; off by default.

use crate::common;

use common::{Env, amt, request, sign};
use sealgate_exchanges::{Credential, SystemClock};
use sealgate_sandbox::{KeySpec, Market, Permissions, Venue};

const KRAKEN_SECRET: &str = "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg==";
const READ: Permissions = Permissions { read: true, trade: false, withdraw: false };

fn env() -> Env {
    let key = |venue, api_key: &str, secret: &str| KeySpec {
        venue,
        api_key: api_key.into(),
        secret: secret.into(),
        permissions: READ,
        allowed_ips: vec![],
        passphrase: None,
        balances: vec![("BTC".into(), amt("1"))],
    };
    Env::new(
        vec![
            key(Venue::Kraken, "kr-a", KRAKEN_SECRET),
            key(Venue::Kraken, "kr-b", KRAKEN_SECRET),
            key(Venue::Binance, "bin-a", "bin-secret"),
        ],
        vec![Market { symbol: "BTCUSDT".into(), base: "BTC".into(), quote: "USDT".into(), price: amt("50000") }],
    )
}

fn kraken(env: &Env, key: &str, path: &str, nonce: u64) -> serde_json::Value {
    let cred =
        Credential { api_key: Some(key.into()), api_secret: Some(KRAKEN_SECRET.into()), ..Credential::default() };
    env.send_signed(&sign("kraken", &cred, &request("POST", path, "", "trades=false&ofs=0"), &SystemClock, nonce)).1
}

#[test]
fn kraken_counts_history_double_per_key_and_refuses_above_fifteen() {
    let env = env();
    // Off: as many as asked.
    for n in 1..=10 {
        assert_eq!(kraken(&env, "kr-a", "/0/private/TradesHistory", n)["error"], serde_json::json!([]), "off");
    }
    env.sb().enforce_rate_limits(true);
    // 7 history calls cost 14; an eighth would make 16.
    for n in 11..=17 {
        assert_eq!(kraken(&env, "kr-a", "/0/private/TradesHistory", n)["error"], serde_json::json!([]), "call {n}");
    }
    let refused = kraken(&env, "kr-a", "/0/private/TradesHistory", 18);
    assert_eq!(refused["error"], serde_json::json!(["EAPI:Rate limit exceeded"]));
    assert_eq!(env.sb().rate_limit_refusals(), 1);
    // Another key has its own counter.
    assert_eq!(kraken(&env, "kr-b", "/0/private/TradesHistory", 1)["error"], serde_json::json!([]));
    // A balance call costs 1: it still fits (14 + 1, less what decayed).
    assert_eq!(kraken(&env, "kr-a", "/0/private/BalanceEx", 19)["error"], serde_json::json!([]));
}

#[test]
fn binance_weighs_my_trades_twenty_per_address() {
    let env = env();
    env.sb().enforce_rate_limits(true);
    let cred =
        Credential { api_key: Some("bin-a".into()), api_secret: Some("bin-secret".into()), ..Credential::default() };
    let my_trades = || {
        let req = request("GET", "/api/v3/myTrades", "symbol=BTCUSDT&fromId=0&limit=1000", "");
        env.send_signed(&sign("binance", &cred, &req, &SystemClock, 0))
    };
    // 6,000 weight a minute: 300 calls of 20 (less the little that leaks back meanwhile).
    for n in 0..300 {
        let (status, _) = my_trades();
        assert_eq!(status, 200, "call {n}");
    }
    let mut refused = None;
    for _ in 0..5 {
        let (status, body) = my_trades();
        if status != 200 {
            refused = Some((status, body));
            break;
        }
    }
    let (status, body) = refused.expect("over 6,000 weight is refused");
    assert_eq!((status, body["code"].as_i64()), (429, Some(-1003)));
    assert!(env.sb().rate_limit_refusals() >= 1);
}

#[test]
fn latency_holds_every_answer() {
    let env = env();
    env.sb().set_latency(std::time::Duration::from_millis(30), std::time::Duration::from_millis(40));
    let started = std::time::Instant::now();
    for n in 1..=3 {
        kraken(&env, "kr-a", "/0/private/BalanceEx", n);
    }
    // Three answers, each held at least 30 ms: a floor the latency guarantees, not a speed target.
    assert!(started.elapsed() >= std::time::Duration::from_millis(90));
}

/// Sends signed reads as `venue`'s key until one is refused; how many passed, and the refusal.
fn until_refused(
    env: &Env,
    exchange: &str,
    cred: &Credential,
    path: &str,
    query: &str,
) -> (usize, (u16, serde_json::Value)) {
    for n in 0..1_000 {
        let s = sign(exchange, cred, &request("GET", path, query, ""), &SystemClock, 1_700_000_000_000 + n);
        let (status, v) = env.send_signed(&s);
        if status != 200 {
            return (usize::try_from(n).expect("n"), (status, v));
        }
    }
    panic!("never refused");
}

#[test]
fn coinbase_exchange_and_deribit_refuse_past_their_bursts() {
    let key = |venue, api_key: &str, secret: &str, passphrase: Option<&str>| KeySpec {
        venue,
        api_key: api_key.into(),
        secret: secret.into(),
        permissions: READ,
        allowed_ips: vec![],
        passphrase: passphrase.map(str::to_owned),
        balances: vec![("BTC".into(), amt("1"))],
    };
    let env = Env::new(
        vec![
            key(Venue::CoinbaseExchange, "cbx", "Y2J4LXNlY3JldA==", Some("pass")),
            key(Venue::Deribit, "dr", "dr-secret", None),
        ],
        vec![Market { symbol: "BTC-PERPETUAL".into(), base: "BTC".into(), quote: "USD".into(), price: amt("50000") }],
    );
    env.sb().enforce_rate_limits(true);
    let cbx = Credential {
        api_key: Some("cbx".into()),
        api_secret: Some("Y2J4LXNlY3JldA==".into()),
        passphrase: Some("pass".into()),
        ..Credential::default()
    };
    // A burst of 30, refilled at 15 a second while the calls run.
    let (n, (status, v)) = until_refused(&env, "coinbase-exchange", &cbx, "/accounts", "");
    assert!((30..45).contains(&n), "{n}");
    assert_eq!((status, v["message"].as_str()), (429, Some("Private rate limit exceeded")));
    let dr = Credential { api_key: Some("dr".into()), api_secret: Some("dr-secret".into()), ..Credential::default() };
    // A burst of 100, refilled at 20 a second.
    let (n, (status, v)) = until_refused(&env, "deribit", &dr, "/api/v2/private/get_positions", "currency=BTC");
    assert!((100..130).contains(&n), "{n}");
    assert_eq!((status, v["error"]["code"].as_i64()), (429, Some(10028)));
    assert_eq!(env.sb().rate_limit_refusals(), 2);
}
