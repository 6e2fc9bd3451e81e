//! The OKX sandbox verifies OK-ACCESS-* as OKX documents; Sealgate's OKX
//! scheme passes it; timestamps, passphrases and permissions are enforced.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use sealgate_exchanges::{Context, Credential, FixedClock, FixedNonce, Request, SystemClock};
use sealgate_sandbox::{Amount, KeySpec, Market, Permissions, Sandbox, Venue};
use serde_json::Value;

fn amt(s: &str) -> Amount {
    Amount::parse(s).expect("amount")
}

struct Env {
    rt: tokio::runtime::Runtime,
    sandbox: Option<Sandbox>,
}

impl Env {
    fn new() -> Self {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        let key = |k: &str, withdraw: bool| KeySpec {
            venue: Venue::Okx,
            api_key: k.into(),
            secret: format!("{k}-secret"),
            permissions: Permissions { read: true, trade: true, withdraw },
            allowed_ips: vec![],
            passphrase: Some("correct horse".into()),
            balances: vec![("USDT".into(), amt("1000")), ("BTC".into(), amt("0.5"))],
        };
        let keys = vec![key("bot", false), key("treasury", true)];
        let markets =
            vec![Market { symbol: "BTC-USDT".into(), base: "BTC".into(), quote: "USDT".into(), price: amt("50000") }];
        let sandbox = rt.block_on(Sandbox::start(SocketAddr::from(([127, 0, 0, 1], 0)), keys, markets)).expect("start");
        Self { rt, sandbox: Some(sandbox) }
    }

    fn sb(&self) -> &Sandbox {
        self.sandbox.as_ref().expect("running")
    }

    #[allow(clippy::too_many_arguments)] // a test helper mirroring one request
    fn call_with(
        &self,
        key: &str,
        passphrase: &str,
        clock_ms: Option<u64>,
        method: &str,
        path: &str,
        query: &str,
        body: &str,
    ) -> (u16, Value) {
        let cred = Credential {
            api_key: Some(key.into()),
            api_secret: Some(format!("{key}-secret").into()),
            passphrase: Some(passphrase.into()),
            ..Credential::default()
        };
        let req = Request { method: method.into(), path: path.into(), query: query.into(), body: body.into() };
        let fixed;
        let clock: &dyn sealgate_exchanges::Clock = match clock_ms {
            Some(ms) => {
                fixed = FixedClock(ms);
                &fixed
            }
            None => &SystemClock,
        };
        let mut s =
            sealgate_exchanges::sign("okx", &cred, &req, &Context { clock, nonce: &FixedNonce(1) }).expect("sign");
        // A query changed after signing (`ccy=BTC!` marks the test that wants it).
        if s.query == "ccy=BTC!" {
            s.query = "ccy=USDT".into();
        }
        let mut stream = TcpStream::connect(self.sb().addr()).expect("connect");
        let target = if s.query.is_empty() { s.path.clone() } else { format!("{}?{}", s.path, s.query) };
        let mut raw = format!("{} {target} HTTP/1.1\r\nHost: sandbox\r\nConnection: close\r\n", s.method);
        for (k, v) in &s.headers {
            raw.push_str(&format!("{k}: {v}\r\n"));
        }
        raw.push_str(&format!("Content-Length: {}\r\n\r\n{}", s.body.len(), s.body));
        stream.write_all(raw.as_bytes()).expect("write");
        let mut resp = String::new();
        stream.read_to_string(&mut resp).expect("read");
        let status = resp.split(' ').nth(1).and_then(|c| c.parse().ok()).expect("status");
        (status, serde_json::from_str(resp.split_once("\r\n\r\n").map_or("", |(_, b)| b)).unwrap_or(Value::Null))
    }

    fn call(&self, key: &str, method: &str, path: &str, query: &str, body: &str) -> (u16, Value) {
        self.call_with(key, "correct horse", None, method, path, query, body)
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let sb = self.sandbox.take();
        self.rt.block_on(async move { drop(sb) });
    }
}

fn code(v: &Value) -> &str {
    v["code"].as_str().unwrap_or("")
}

#[test]
fn balances_orders_and_cancel() {
    let env = Env::new();
    let (status, v) = env.call("bot", "GET", "/api/v5/account/balance", "ccy=BTC", "");
    assert_eq!((status, code(&v)), (200, "0"), "{v}");
    assert_eq!(v["data"][0]["details"].as_array().map(Vec::len), Some(1));
    assert_eq!(v["data"][0]["details"][0]["availBal"], "0.50000000");
    // Market buy of 100 USDT worth.
    let (status, v) = env.call(
        "bot",
        "POST",
        "/api/v5/trade/order",
        "",
        r#"{"instId":"BTC-USDT","tdMode":"cash","side":"buy","ordType":"market","sz":"100"}"#,
    );
    assert_eq!((status, code(&v)), (200, "0"), "{v}");
    assert_eq!(env.sb().free_balance("bot", "USDT"), Some(amt("900")));
    assert_eq!(env.sb().free_balance("bot", "BTC"), Some(amt("0.502")));
    // Limit sell, listed, cancelled.
    let (_, v) = env.call(
        "bot",
        "POST",
        "/api/v5/trade/order",
        "",
        r#"{"instId":"BTC-USDT","tdMode":"cash","side":"sell","ordType":"limit","px":"60000","sz":"0.1"}"#,
    );
    let ord = v["data"][0]["ordId"].as_str().expect("ordId").to_owned();
    let (_, v) = env.call("bot", "GET", "/api/v5/trade/orders-pending", "", "");
    assert_eq!(v["data"].as_array().map(Vec::len), Some(1));
    let (status, v) = env.call(
        "bot",
        "POST",
        "/api/v5/trade/cancel-order",
        "",
        &format!(r#"{{"instId":"BTC-USDT","ordId":"{ord}"}}"#),
    );
    assert_eq!((status, code(&v)), (200, "0"), "{v}");
    assert_eq!(env.sb().free_balance("bot", "BTC"), Some(amt("0.502")));
    let (status, v) = env.call(
        "bot",
        "POST",
        "/api/v5/trade/cancel-order",
        "",
        &format!(r#"{{"instId":"BTC-USDT","ordId":"{ord}"}}"#),
    );
    assert_eq!((status, code(&v)), (400, "51400"));
    let (_, v) = env.call("bot", "GET", "/api/v5/trade/fills", "", "");
    assert_eq!(v["data"].as_array().map(Vec::len), Some(1));
}

#[test]
fn authentication_failures_and_withdraw_permission() {
    let env = Env::new();
    let wd = r#"{"ccy":"BTC","amt":"0.1","dest":"4","toAddr":"bc1qexample","chain":"BTC-Bitcoin"}"#;
    let (status, v) = env.call("bot", "POST", "/api/v5/asset/withdrawal", "", wd);
    assert_eq!((status, code(&v)), (401, "50120"));
    assert!(env.sb().withdrawals().is_empty());
    let (status, v) = env.call("treasury", "POST", "/api/v5/asset/withdrawal", "", wd);
    assert_eq!((status, code(&v)), (200, "0"), "{v}");
    assert_eq!(env.sb().withdrawals().len(), 1);
    // Wrong passphrase; unknown key; stale timestamp (31 s old).
    let (status, v) = env.call_with("bot", "wrong", None, "GET", "/api/v5/account/balance", "", "");
    assert_eq!((status, code(&v)), (401, "50105"));
    let (status, v) = env.call("nobody", "GET", "/api/v5/account/balance", "", "");
    assert_eq!((status, code(&v)), (401, "50111"));
    let now =
        u64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis())
            .expect("ms");
    let (status, v) =
        env.call_with("bot", "correct horse", Some(now - 31_000), "GET", "/api/v5/account/balance", "", "");
    assert_eq!((status, code(&v)), (401, "50102"));
    // A request changed after signing.
    let (status, v) =
        env.call_with("bot", "correct horse", Some(now), "GET", "/api/v5/account/balance", "ccy=BTC!", "");
    assert_eq!((status, code(&v)), (401, "50113"));
}
