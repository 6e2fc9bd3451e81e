//! Issue 14's "the policy parses a different request from the one the
//! exchange executes", end to end: the agent, four capped credentials and
//! the exchange sandbox. Each attack below was approved by the old reader
//! (first value wins, a Kraken JSON body split as a form, a market order
//! valued at the caller's price, placements off a fixed list not counted)
//! and executed by the sandbox or sent to the exchange; each is now denied
//! before anything is signed, and the denial is in the audit trail. A small
//! order per venue still goes through, so the caps are not simply closed.

use std::collections::HashMap;

use base64::Engine as _;
use sealgate_agent::{Agent, Config, Entry, KdfParams, Keystore, Secret, Secrets, read_frame, write_frame};
use sealgate_sandbox::{Amount, KeySpec, Market, Permissions, Sandbox, Venue};
use serde_json::{Value, json};
use tokio::net::UnixStream;

type R<T> = Result<T, Box<dyn std::error::Error>>;

const KRAKEN_SECRET: &str = "c2VhbGdhdGUtdGVzdC1zZWNyZXQtMTIzNDU2Nzg5MA==";

async fn call(s: &mut UnixStream, v: Value) -> R<Value> {
    write_frame(s, &v).await?;
    let b = read_frame(s).await?.ok_or("agent closed")?;
    Ok(serde_json::from_slice(&b)?)
}

fn entry(label: &str, exchange: &str, symbol: &str, cap: &str, secrets: Secrets) -> Entry {
    Entry {
        label: label.into(),
        exchange: exchange.into(),
        hint: "…test".into(),
        classes: vec!["read".into(), "trade".into()],
        symbols: Some(vec![symbol.into()]),
        max_notional: Some(cap.into()),
        rate: None,
        added_ms: 0,
        lifetime_s: None,
        confirm: vec![],
        allow_sign: false,
        secrets,
    }
}

fn key(venue: Venue, api_key: &str, secret: &str, passphrase: Option<&str>) -> R<KeySpec> {
    let amt = |s: &str| Amount::parse(s).ok_or("amount");
    Ok(KeySpec {
        venue,
        api_key: api_key.into(),
        secret: secret.into(),
        permissions: Permissions { read: true, trade: true, withdraw: false },
        allowed_ips: vec![],
        passphrase: passphrase.map(str::to_owned),
        balances: vec![
            ("USDT".into(), amt("100000")?),
            ("USD".into(), amt("100000")?),
            ("BTC".into(), amt("10")?),
            ("XBT".into(), amt("10")?),
            ("ZUSD".into(), amt("100000")?),
        ],
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_policy_judges_is_what_executes() -> R<()> {
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &aws_lc_rs::rand::SystemRandom::new())
        .map_err(|_| "p256")?;
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).map_err(|_| "pair")?;
    let cb_public = base64::engine::general_purpose::STANDARD.encode(pair.public_key().as_ref());
    let cb_pem = pem_rfc7468::encode_string("PRIVATE KEY", pem_rfc7468::LineEnding::LF, pkcs8.as_ref())?;
    let cb_name = "organizations/o/apiKeys/cb";

    let amt = |s: &str| Amount::parse(s).ok_or("amount");
    let market = |symbol: &str, base: &str, quote: &str| -> R<Market> {
        Ok(Market { symbol: symbol.into(), base: base.into(), quote: quote.into(), price: amt("50000")? })
    };
    let sandbox = Sandbox::start(
        "127.0.0.1:0".parse()?,
        vec![
            key(Venue::Binance, "bn-key", "bn-secret", None)?,
            key(Venue::Kraken, "kr-key", KRAKEN_SECRET, None)?,
            key(Venue::Okx, "ok-key", "ok-secret", Some("ok-pass"))?,
            key(Venue::Coinbase, cb_name, &cb_public, None)?,
        ],
        vec![
            market("BTCUSDT", "BTC", "USDT")?,
            market("XBTUSD", "XBT", "ZUSD")?,
            market("BTC-USDT", "BTC", "USDT")?,
            market("BTC-USD", "BTC", "USD")?,
        ],
    )
    .await?;
    let s = |v: &str| Some(Secret::new(v.into()));
    let dir = tempfile::tempdir()?;
    let mut ks = Keystore::create(&dir.path().join("ks"), b"pw", KdfParams::TEST)?;
    ks.add(entry(
        "bn",
        "binance",
        "BTCUSDT",
        "1000",
        Secrets { api_key: s("bn-key"), api_secret: s("bn-secret"), ..Secrets::default() },
    ))?;
    ks.add(entry(
        "kr",
        "kraken",
        "XBTUSD",
        "100",
        Secrets { api_key: s("kr-key"), api_secret: s(KRAKEN_SECRET), ..Secrets::default() },
    ))?;
    ks.add(entry(
        "ok",
        "okx",
        "BTC-USDT",
        "1000",
        Secrets { api_key: s("ok-key"), api_secret: s("ok-secret"), passphrase: s("ok-pass"), ..Secrets::default() },
    ))?;
    ks.add(entry(
        "cb",
        "coinbase",
        "BTC-USD",
        "1000",
        Secrets { key_name: s(cb_name), private_key: s(&cb_pem), ..Secrets::default() },
    ))?;
    let audit = dir.path().join("audit.jsonl");
    let url = format!("http://{}", sandbox.addr());
    let cfg = Config {
        socket: dir.path().join("run/agent.sock"),
        audit: audit.clone(),
        exchange_urls: ["binance", "kraken", "okx", "coinbase"]
            .iter()
            .map(|e| ((*e).to_owned(), url.clone()))
            .collect::<HashMap<_, _>>(),
        ..Config::default()
    };
    let agent = Agent::new(cfg.clone(), ks)?;
    let l = agent.bind()?;
    tokio::spawn(agent.serve(l));
    let mut c = UnixStream::connect(&cfg.socket).await?;
    let mut request = async |label: &str, method: &str, path: &str, query: &str, body: &str| -> R<Value> {
        call(
            &mut c,
            json!({"v":1,"op":"request","credential":label,
            "request":{"method":method,"path":path,"query":query,"body":body}}),
        )
        .await
    };

    let attacks: &[(&str, &str, &str, &str, &str)] = &[
        // Kraken: a JSON body (sent as JSON) whose first member's name spells a small form order.
        (
            "kr",
            "POST",
            "/0/private/AddOrder",
            "",
            r#"{"x&pair=XBTUSD&volume=0.0001&price=50000&y":"1","ordertype":"market","pair":"XBTUSD","type":"buy","volume":"0.5"}"#,
        ),
        // Binance: a MARKET order valued at price=1; two competing sizes; a legacy OCO.
        ("bn", "POST", "/api/v3/order", "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.05&price=1", ""),
        ("bn", "POST", "/api/v3/order", "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.1&quoteOrderQty=10", ""),
        ("bn", "POST", "/api/v3/order/oco", "symbol=BTCUSDT&side=SELL&quantity=1&price=70000&stopPrice=40000", ""),
        // Binance: a parameter in both query and body (Binance takes the query's).
        ("bn", "POST", "/api/v3/order", "symbol=BTCUSDT&side=BUY&type=MARKET&quoteOrderQty=5000", "quoteOrderQty=10"),
        // OKX: a market order with px=1; an algo order.
        (
            "ok",
            "POST",
            "/api/v5/trade/order",
            "",
            r#"{"instId":"BTC-USDT","tdMode":"cash","side":"sell","ordType":"market","sz":"0.05","px":"1"}"#,
        ),
        (
            "ok",
            "POST",
            "/api/v5/trade/order-algo",
            "",
            r#"{"instId":"BTC-USDT","tdMode":"cash","side":"buy","ordType":"trigger","sz":"1","triggerPx":"1","orderPx":"-1"}"#,
        ),
        // Coinbase: two order configurations; a market configuration with a limit_price.
        (
            "cb",
            "POST",
            "/api/v3/brokerage/orders",
            "",
            r#"{"product_id":"BTC-USD","side":"BUY","order_configuration":{"limit_limit_gtc":{"base_size":"0.0001","limit_price":"10"},"market_market_ioc":{"quote_size":"5000"}}}"#,
        ),
        (
            "cb",
            "POST",
            "/api/v3/brokerage/orders",
            "",
            r#"{"product_id":"BTC-USD","side":"BUY","order_configuration":{"market_market_ioc":{"base_size":"0.05","limit_price":"1"}}}"#,
        ),
        // Kraken: an amendment, which the old list did not count.
        ("kr", "POST", "/0/private/AmendOrder", "", "txid=OABC&order_qty=5&limit_price=60000"),
    ];
    for (label, method, path, query, body) in attacks {
        let r = request(label, method, path, query, body).await?;
        assert_eq!(
            (r["ok"].clone(), r["error"].clone()),
            (json!(false), json!("denied")),
            "{label} {path} {query} {body}: {r}"
        );
    }
    for key in ["bn-key", "kr-key", "ok-key", cb_name] {
        assert!(sandbox.trades(key).is_empty(), "{key} traded: {:?}", sandbox.trades(key));
    }

    // Small orders under each cap still execute, as judged.
    let ok: &[(&str, &str, &str, &str, &str)] = &[
        ("bn", "POST", "/api/v3/order", "symbol=BTCUSDT&side=BUY&type=MARKET&quoteOrderQty=500", ""),
        (
            "kr",
            "POST",
            "/0/private/AddOrder",
            "",
            r#"{"ordertype":"limit","pair":"XBTUSD","type":"buy","volume":"0.001","price":"50000"}"#,
        ),
        (
            "ok",
            "POST",
            "/api/v5/trade/order",
            "",
            r#"{"instId":"BTC-USDT","tdMode":"cash","side":"buy","ordType":"market","sz":"500"}"#,
        ),
        (
            "cb",
            "POST",
            "/api/v3/brokerage/orders",
            "",
            r#"{"client_order_id":"c1","product_id":"BTC-USD","side":"BUY","order_configuration":{"market_market_ioc":{"quote_size":"500"}}}"#,
        ),
    ];
    for (label, method, path, query, body) in ok {
        let r = request(label, method, path, query, body).await?;
        assert_eq!((r["ok"].clone(), r["status"].clone()), (json!(true), json!(200)), "{label} {path}: {r}");
        assert!(!r["body"].as_str().unwrap_or("").contains("error\":[\"E"), "{r}");
    }
    for key in ["bn-key", "ok-key", cb_name] {
        let t = sandbox.trades(key);
        assert_eq!(t.len(), 1, "{key}: {t:?}");
        assert_eq!(t[0].price.times(t[0].qty), amt("500")?, "{key} spent what was judged");
    }
    assert_eq!(sandbox.balances("kr-key").iter().find(|(a, _, _)| a == "ZUSD").map(|b| b.2), Some(amt("50")?));

    // A market order sized in base units is valued at the exchange's own ticker (50000 + 5 %),
    // read by the agent: 0.01 BTC is 525, under the cap of 1000, and fills; 0.02 BTC is 1050.
    let market = |qty: &str| format!("symbol=BTCUSDT&side=BUY&type=MARKET&quantity={qty}");
    let r = request("bn", "POST", "/api/v3/order", &market("0.01"), "").await?;
    assert_eq!((r["ok"].clone(), r["status"].clone()), (json!(true), json!(200)), "{r}");
    assert_eq!(sandbox.trades("bn-key").len(), 2);
    let r = request("bn", "POST", "/api/v3/order", &market("0.02"), "").await?;
    assert_eq!((r["ok"].clone(), r["error"].clone()), (json!(false), json!("denied")), "{r}");
    // The market moves: 0.01 BTC at 100000 is 1050, refused.
    assert!(sandbox.set_price("BTCUSDT", amt("100000")?));
    let r = request("bn", "POST", "/api/v3/order", &market("0.01"), "").await?;
    assert_eq!((r["ok"].clone(), r["error"].clone()), (json!(false), json!("denied")), "{r}");
    assert_eq!(sandbox.trades("bn-key").len(), 2, "nothing more executed");

    let log = std::fs::read_to_string(&audit)?;
    let denied = log.lines().filter(|l| l.contains("\"action\":\"denied\"")).count();
    assert_eq!(denied, attacks.len() + 2, "{log}");
    assert!(log.contains("ambiguous request"), "{log}");
    Ok(())
}
