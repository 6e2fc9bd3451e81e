//! Issue 19 item 7: for every exchange the importer and trader speak, the journey through a
//! real `sealgate serve` against the sandbox: a credential sealed at the edge to the importer
//! and the trader → the import makes its holdings equal the sandbox account → an order is
//! placed (its funds held at the exchange) and cancelled (released) → a withdrawal, tried by
//! each service role, is refused by the signer and the exchange logs none. Deribit, a
//! derivatives venue, holds its BTC account's equity: its journey opens a position on the
//! inverse perpetual, moves the price, and the holdings follow the equity (balance and the
//! position's PnL); the position is imported and listed in the portfolio beside the
//! holdings (not as one), and reads through the signer. Then every
//! exchange secret is searched for in every log line and every byte of the data directory:
//! it is nowhere. (The portfolio's value against the sandbox's prices is the browser test's;
//! PostgreSQL is `sealgate-server`'s importer/trader tests', for every exchange too.)

mod common;

use std::time::Duration;

use common::api::{Client, Who, login, seal, wait_for_import};
use common::serve::Server;
use sealgate_sandbox::{Amount, KeySpec, Market, Permissions, Sandbox, Venue};
use sealgate_server::service_auth::ServiceKey;
use serde_json::{Value, json};

fn amt(s: &str) -> Amount {
    Amount::parse(s).expect("amount")
}

/// One exchange's journey: its credential, its market as the sandbox and the trader spell
/// it, the assets as the portfolio names them, and a withdrawal as the exchange takes one.
struct Journey {
    exchange: &'static str,
    venue: Venue,
    /// The credential the owner seals (`api_key` first; its secret is a canary).
    fields: Vec<(&'static str, String)>,
    /// The sandbox key: its id, its secret as the sandbox checks it, its passphrase.
    key: (String, String, Option<String>),
    /// (symbol, base, quote) as the sandbox and the exchange spell them.
    market: (&'static str, &'static str, &'static str),
    /// The base and quote as the portfolio names them.
    named: (&'static str, &'static str),
    /// (method, path, query, body) of a withdrawal.
    withdraw: (&'static str, String, &'static str, &'static str),
}

fn canary(exchange: &str) -> String {
    format!("CANARY-{exchange}-journey-secret-5e0c")
}

fn journeys() -> Vec<Journey> {
    let hmac = |exchange: &'static str, venue, key: &str, passphrase: Option<&str>, market, named, withdraw| {
        let secret = match venue {
            // Kraken's and Coinbase Exchange's secrets are base64 (of the canary's bytes).
            Venue::Kraken | Venue::CoinbaseExchange => {
                base64::Engine::encode(&base64::engine::general_purpose::STANDARD, canary(exchange))
            }
            _ => canary(exchange),
        };
        let mut fields = vec![("api_key", key.to_owned()), ("api_secret", secret.clone())];
        if let Some(p) = passphrase {
            fields.push(("passphrase", p.to_owned()));
        }
        Journey {
            exchange,
            venue,
            fields,
            key: (key.to_owned(), secret, passphrase.map(str::to_owned)),
            market,
            named,
            withdraw,
        }
    };
    let post = |path: &str, query: &'static str, body: &'static str| ("POST", path.to_owned(), query, body);
    let mut all = vec![
        hmac(
            "binance",
            Venue::Binance,
            "journey-binance-key",
            None,
            ("BTCUSDT", "BTC", "USDT"),
            ("BTC", "USDT"),
            post("/sapi/v1/capital/withdraw/apply", "coin=BTC&address=attacker&amount=0.1", ""),
        ),
        hmac(
            "kraken",
            Venue::Kraken,
            "journey-kraken-key",
            None,
            ("XBTUSD", "XXBT", "ZUSD"),
            ("BTC", "USD"),
            post("/0/private/Withdraw", "", "asset=XBT&key=attacker&amount=0.1"),
        ),
        hmac(
            "okx",
            Venue::Okx,
            "journey-okx-key",
            Some("journey-okx-pass"),
            ("BTC-USDT", "BTC", "USDT"),
            ("BTC", "USDT"),
            post("/api/v5/asset/withdrawal", "", r#"{"ccy":"BTC","amt":"0.1","dest":"4","toAddr":"attacker"}"#),
        ),
        hmac(
            "bybit",
            Venue::Bybit,
            "journeybybitkey01",
            None,
            ("BTCUSDT", "BTC", "USDT"),
            ("BTC", "USDT"),
            post(
                "/v5/asset/withdraw/create",
                "",
                r#"{"coin":"BTC","chain":"BTC","address":"attacker","amount":"0.1"}"#,
            ),
        ),
        hmac(
            "bitget",
            Venue::Bitget,
            "bg_0a1b2c3d4e5f60718293a4b5c6d7e8f9",
            Some("journey-bitget-pass"),
            ("BTCUSDT", "BTC", "USDT"),
            ("BTC", "USDT"),
            post(
                "/api/v2/spot/wallet/withdrawal",
                "",
                r#"{"coin":"BTC","transferType":"on_chain","chain":"BTC","address":"attacker","size":"0.1"}"#,
            ),
        ),
        hmac(
            "kucoin",
            Venue::Kucoin,
            "journey-kucoin-key",
            Some("journey-kucoin-pass"),
            ("BTC-USDT", "BTC", "USDT"),
            ("BTC", "USDT"),
            post(
                "/api/v3/withdrawals",
                "",
                r#"{"currency":"BTC","toAddress":"attacker","amount":"0.1","withdrawType":"ADDRESS"}"#,
            ),
        ),
        hmac(
            "gate",
            Venue::Gate,
            "journey-gate-key",
            None,
            ("BTC_USDT", "BTC", "USDT"),
            ("BTC", "USDT"),
            post("/api/v4/withdrawals", "", r#"{"currency":"BTC","address":"attacker","amount":"0.1","chain":"BTC"}"#),
        ),
        hmac(
            "mexc",
            Venue::Mexc,
            "journey-mexc-key",
            None,
            ("BTCUSDT", "BTC", "USDT"),
            ("BTC", "USDT"),
            post("/api/v3/capital/withdraw", "coin=BTC&address=attacker&amount=0.1", ""),
        ),
        hmac(
            "poloniex",
            Venue::Poloniex,
            "JOURNEY-POLONIEX-KEY",
            None,
            ("BTC_USDT", "BTC", "USDT"),
            ("BTC", "USDT"),
            post("/wallets/withdraw", "", r#"{"currency":"BTC","amount":"0.1","address":"attacker"}"#),
        ),
        hmac(
            "bitfinex",
            Venue::Bitfinex,
            "journey-bitfinex-key",
            None,
            ("tBTCUST", "BTC", "UST"),
            ("BTC", "USDT"),
            post(
                "/v2/auth/w/withdraw",
                "",
                r#"{"wallet":"exchange","method":"bitcoin","amount":"0.1","address":"attacker"}"#,
            ),
        ),
        hmac(
            "gemini",
            Venue::Gemini,
            "account-journey-gemini-key",
            None,
            ("btcusd", "BTC", "USD"),
            ("BTC", "USD"),
            post("/v1/withdraw/btc", "", r#"{"address":"attacker","amount":"0.1"}"#),
        ),
        hmac(
            "bitstamp",
            Venue::Bitstamp,
            "journey-bitstamp-key",
            None,
            ("btcusd", "BTC", "USD"),
            ("BTC", "USD"),
            post("/api/v2/btc_withdrawal/", "", "amount=0.1&address=attacker"),
        ),
        hmac(
            "coinbase-exchange",
            Venue::CoinbaseExchange,
            "journey-coinbase-exchange-key",
            Some("journey-cbx-pass"),
            ("BTC-USD", "BTC", "USD"),
            ("BTC", "USD"),
            post("/withdrawals/crypto", "", r#"{"amount":"0.1","currency":"BTC","crypto_address":"attacker"}"#),
        ),
        hmac(
            "deribit",
            Venue::Deribit,
            "journey-deribit-key",
            None,
            ("BTC-PERPETUAL", "BTC", "USD"),
            ("BTC", "USD"),
            ("GET", "/api/v2/private/withdraw".into(), "currency=BTC&address=attacker&amount=0.1", ""),
        ),
    ];
    // Coinbase Advanced: a CDP key (its private key is the canary's place).
    let (name, pem, public) = common::api::coinbase_key("organizations/journey/apiKeys/cb");
    all.push(Journey {
        exchange: "coinbase",
        venue: Venue::Coinbase,
        fields: vec![("key_name", name.clone()), ("private_key", pem.clone())],
        key: (name, public, None),
        market: ("BTC-USD", "BTC", "USD"),
        named: ("BTC", "USD"),
        withdraw: (
            "POST",
            "/v2/accounts/BTC/transactions".into(),
            "",
            r#"{"type":"send","to":"attacker","amount":"0.1","currency":"BTC"}"#,
        ),
    });
    all
}

/// What the portfolio says `cid` holds of `asset`: (free, locked), or `None`.
fn held(p: &Value, cid: &str, asset: &str) -> Option<(String, String)> {
    let a = p["assets"].as_array()?.iter().find(|a| a["asset"] == asset)?;
    let b = a["by_exchange"].as_array()?.iter().find(|b| b["credential_id"] == cid)?;
    Some((b["free"].as_str()?.to_owned(), b["locked"].as_str()?.to_owned()))
}

fn norm(s: &str) -> String {
    let s = if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.') } else { s };
    if s.is_empty() { "0".into() } else { s.to_owned() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_exchange_imports_trades_and_refuses_a_withdrawal() {
    let journeys = journeys();
    let all = Permissions { read: true, trade: true, withdraw: true };
    let keys: Vec<KeySpec> = journeys
        .iter()
        .map(|j| KeySpec {
            venue: j.venue,
            api_key: j.key.0.clone(),
            secret: j.key.1.clone(),
            permissions: all,
            allowed_ips: vec![],
            passphrase: j.key.2.clone(),
            // Deribit margins its inverse perpetual in BTC: no USD account.
            balances: match j.venue {
                Venue::Deribit => vec![(j.market.1.into(), amt("1.25"))],
                _ => vec![(j.market.1.into(), amt("1.25")), (j.market.2.into(), amt("30000"))],
            },
        })
        .collect();
    let mut markets: Vec<Market> = Vec::new();
    for j in &journeys {
        let (symbol, base, quote) = j.market;
        if !markets.iter().any(|m| m.symbol == symbol) {
            markets.push(Market { symbol: symbol.into(), base: base.into(), quote: quote.into(), price: amt("25000") });
        }
    }
    let sandbox = Sandbox::start("127.0.0.1:0".parse().expect("addr"), keys, markets).await.expect("sandbox");
    for j in &journeys {
        assert!(sandbox.seed_trades(&j.key.0, j.market.0, 7), "{}: seed", j.exchange);
    }

    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let exchanges: Vec<&str> = journeys.iter().map(|j| j.exchange).collect();
    let server = Server::start(&data, None, &format!("http://{}", sandbox.addr()), &exchanges).await;
    let (base, service) = (server.base.clone(), server.service.clone());
    let client = Client::new();
    let me = login(&client, &server.login).await;
    let (_, who) = client.call(&base, &me, "GET", "/v1/me", None).await;
    let user = who["id"].as_str().or(who["user_id"].as_str()).expect("user id").to_owned();
    let (_, set) = client.call(&base, &Who::Anonymous, "GET", "/v1/recipients", None).await;
    let keyset = sealgate_custody::keyset::verify(
        set["keyset"].as_str().expect("jws"),
        &server.pin,
        sealgate_server::now_ms() / 1000,
    )
    .expect("key set verifies against the pin");
    let service_dir = server.data.join("service");
    let token = |role: &str| {
        ServiceKey::load_or_create(&service_dir, role).expect("service key").token(sealgate_server::now_ms() / 1000)
    };

    for j in &journeys {
        let ex = j.exchange;
        // Seal at the edge, store.
        let secret: serde_json::Map<String, Value> =
            j.fields.iter().map(|(k, v)| ((*k).to_owned(), Value::from(v.as_str()))).collect();
        let secret = Value::Object(secret).to_string();
        let cid = sealgate_envelope::new_credential_id().expect("cid");
        let body = json!({"id": cid, "exchange": ex, "label": ex, "envelopes": [
            seal(&keyset, ex, "importer", &user, &cid, "read", &secret),
            seal(&keyset, ex, "trader", &user, &cid, "read,trade", &secret)]});
        let (s, created) = client.call(&base, &me, "POST", "/v1/credentials", Some(body)).await;
        assert_eq!(s, 201, "{ex}: {created}");

        // Import: the holdings equal the exchange account.
        let p = wait_for_import(&client, &base, &me, &cid).await;
        // (Deribit's holdings: in its own journey.)
        let spot: &[(&str, &str)] =
            if j.venue == Venue::Deribit { &[] } else { &[(j.market.1, j.named.0), (j.market.2, j.named.1)] };
        for &(sandbox_asset, named) in spot {
            let want = sandbox.free_balance(&j.key.0, sandbox_asset).expect("balance").to_string();
            let (free, locked) = held(&p, &cid, named).unwrap_or_else(|| panic!("{ex}: no {named} in {p}"));
            assert_eq!((norm(&free), norm(&locked)), (norm(&want), "0".into()), "{ex} {named}: {p}");
        }
        let imported = p["imports"].as_array().expect("imports").iter().find(|i| i["credential_id"] == cid.as_str());
        assert_eq!(imported.expect("import")["trades"], json!(sandbox.trades(&j.key.0).len()), "{ex}: {p}");
        if j.venue == Venue::Deribit {
            deribit_journey(&client, &base, &me, &service, &token("importer"), &sandbox, j, &cid, &user, &p).await;
        }

        // An order far below the market rests, its funds held at the exchange; cancelled, released.
        // (Deribit's: in its own journey, margin rather than funds held.)
        if j.venue != Venue::Deribit {
            let quote_free = sandbox.free_balance(&j.key.0, j.market.2).expect("quote");
            let order = json!({"credential_id": cid, "symbol": j.market.0, "side": "buy", "order_type": "limit",
            "qty": "0.01", "price": "20000"});
            let (s, placed) = client.call(&base, &me, "POST", "/v1/orders", Some(order)).await;
            assert!(s == 200 || s == 201, "{ex}: {s} {placed}");
            let held_quote = sandbox.balances(&j.key.0).into_iter().find(|(a, _, _)| a == j.market.2).expect("quote").2;
            assert_eq!(held_quote, amt("200"), "{ex}: the order holds its cost: {placed}");
            let id = placed["id"].as_str().expect("order id");
            let (s, cancelled) = client.call(&base, &me, "DELETE", &format!("/v1/orders/{id}"), None).await;
            assert!(s == 200 || s == 204, "{ex}: {s} {cancelled}");
            assert_eq!(sandbox.free_balance(&j.key.0, j.market.2), Some(quote_free), "{ex}: released");
        }

        // A withdrawal, tried by each service role: refused by the signer, never sent.
        let (method, path, query, body) = &j.withdraw;
        let withdraw = json!({"owner": user, "credential_id": cid,
            "request": {"method": method, "path": path, "query": query, "body": body}});
        for role in ["trader", "importer"] {
            let (s, v) =
                client.call(&service, &Who::Service(token(role)), "POST", "/v1/forward", Some(withdraw.clone())).await;
            assert_eq!(s, 403, "{ex} {role}: {v}");
        }
        assert!(sandbox.withdrawals().is_empty(), "{ex}: the exchange logged a withdrawal");
    }

    // No exchange secret in any log line or any byte of the data directory.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let logs = server.logs();
    let mut files = Vec::new();
    let mut stack = vec![data.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read dir").flatten() {
            let path = e.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                files.push((path, bytes));
            }
        }
    }
    for j in &journeys {
        let secret = match j.exchange {
            "coinbase" => j.fields[1].1.lines().nth(1).expect("pem line").to_owned(),
            _ => j.key.1.clone(),
        };
        assert!(!logs.contains(&secret), "{}: the secret in the logs", j.exchange);
        assert!(!client.transcript().contains(&secret), "{}: the secret in an HTTP exchange", j.exchange);
        for (path, bytes) in &files {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{}: in {}",
                j.exchange,
                path.display()
            );
        }
    }
}

/// Deribit's holdings are the BTC account's equity. The first import shows it (the seeded
/// history's position included); a market buy of 1000 USD opens a long, the price rises,
/// and a limit order placed (holding margin, not funds) and cancelled queues a refresh
/// after the move: the holdings become the new equity, balance plus the position's PnL,
/// split as available funds and margin. The position reads through the signer with the
/// importer's credential.
#[allow(clippy::too_many_arguments)]
async fn deribit_journey(
    client: &Client,
    base: &str,
    me: &Who,
    service: &str,
    importer: &str,
    sandbox: &Sandbox,
    j: &Journey,
    cid: &str,
    user: &str,
    first: &Value,
) {
    let key = &j.key.0;
    let as_held = |sandbox: &Sandbox| {
        let (equity, available) = sandbox.deribit_summary(key, "BTC");
        (norm(&available.to_string()), norm(&Amount(equity.0 - available.0).to_string()))
    };
    let total =
        |p: &Value| held(p, cid, "BTC").map(|(f, l)| Amount::parse(&f).expect("f").0 + Amount::parse(&l).expect("l").0);
    assert_eq!(held(first, cid, "BTC").map(|(f, l)| (norm(&f), norm(&l))), Some(as_held(sandbox)), "deribit: {first}");
    assert_eq!(held(first, cid, "USD"), None, "no USD account on Deribit: {first}");

    let order = |kind: &str, qty: &str, price: Option<&str>| json!({"credential_id": cid, "symbol": j.market.0, "side": "buy", "order_type": kind, "qty": qty, "price": price});
    let (s, placed) = client.call(base, me, "POST", "/v1/orders", Some(order("market", "1000", None))).await;
    assert!((s == 200 || s == 201) && placed["status"] == "filled", "deribit market: {s} {placed}");
    assert!(sandbox.set_price(j.market.0, amt("27500")));
    let (equity, available) = sandbox.deribit_summary(key, "BTC");
    assert!(equity.0 > amt("1.25").0 + amt("0.0036").0, "the position's profit is in the equity: {equity}");

    let (s, placed) = client.call(base, me, "POST", "/v1/orders", Some(order("limit", "100", Some("20000")))).await;
    assert!((s == 200 || s == 201) && placed["status"] == "open", "deribit limit: {s} {placed}");
    assert!(sandbox.deribit_summary(key, "BTC").1.0 < available.0, "the resting order holds margin");
    let id = placed["id"].as_str().expect("order id");
    let (s, cancelled) = client.call(base, me, "DELETE", &format!("/v1/orders/{id}"), None).await;
    assert!(s == 200 || s == 204, "deribit: {s} {cancelled}");
    assert_eq!(sandbox.deribit_summary(key, "BTC"), (equity, available), "released");

    // The refresh the orders queued brings the holdings to the equity after the move, and
    // stores the open position (replaced just after the balances: both are waited for).
    let position = |p: &Value| {
        p["positions"].as_array()?.iter().find(|x| x["credential_id"] == cid && x["instrument"] == j.market.0).cloned()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let p = loop {
        let (s, p) = client.call(base, me, "GET", "/v1/portfolio", None).await;
        assert_eq!(s, 200, "{p}");
        // The position as the market order left it: an import that started before the order
        // may still be replacing the balances and the position it read (seen once: the
        // equity's balances with the earlier, smaller position).
        let long = |x: Value| x["size"].as_str().and_then(Amount::parse).is_some_and(|s| s.0 >= amt("1000").0);
        if total(&p) == Some(equity.0) && position(&p).is_some_and(long) {
            break p;
        }
        assert!(std::time::Instant::now() < deadline, "deribit: the holdings never became the equity {equity}: {p}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let shown = position(&p).expect("the position");
    assert_eq!((shown["exchange"].as_str(), shown["currency"].as_str()), (Some("deribit"), Some("BTC")), "{p}");
    let size = shown["size"].as_str().and_then(Amount::parse);
    assert!(size.is_some_and(|s| s.0 >= amt("1000").0), "the long of at least 1000 USD: {p}");
    assert!(held(&p, cid, j.market.0).is_none(), "a position is not a holding: {p}");
    let (free, locked) = held(&p, cid, "BTC").expect("BTC");
    assert!(Amount::parse(&locked).is_some_and(|l| l.0 > 0), "the position's margin is locked: {p}");
    assert_eq!(Amount::parse(&free).map(|f| f.0), Some(available.0), "{p}");

    // The position, through the signer, with the importer's (read-only) credential.
    let read = json!({"owner": user, "credential_id": cid,
        "request": {"method": "GET", "path": "/api/v2/private/get_positions", "query": "currency=BTC", "body": ""}});
    let (s, v) = client.call(service, &Who::Service(importer.to_owned()), "POST", "/v1/forward", Some(read)).await;
    assert_eq!((s, v["status"].as_u64()), (200, Some(200)), "{v}");
    let answer: Value = serde_json::from_str(v["body"].as_str().expect("body")).expect("json");
    let pos = &answer["result"][0];
    assert_eq!(
        (pos["instrument_name"].as_str(), pos["direction"].as_str()),
        (Some(j.market.0), Some("buy")),
        "{answer}"
    );
    assert!(pos["size"].as_f64().is_some_and(|s| s >= 1000.0), "{answer}");
    assert!(pos["floating_profit_loss"].as_f64().is_some_and(|f| f > 0.0036), "{answer}");
}
