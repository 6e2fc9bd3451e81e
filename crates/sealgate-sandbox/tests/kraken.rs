//! The Kraken sandbox verifies API-Sign and nonces as Kraken documents,
//! accepts the documentation's own example request, and keeps balances.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use sealgate_sandbox::{Amount, KeySpec, Market, Permissions, Sandbox, Venue};
use serde_json::Value;

/// The example secret of Kraken's "Spot REST API → Authentication" page.
const DOC_SECRET: &str = "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg==";
const DOC_BODY: &str = "nonce=1616492376594&ordertype=limit&pair=XBTUSD&price=37500&type=buy&volume=1.25";
const DOC_SIGN: &str = "4/dpxb3iT4tp/ZCVEwSnEsLxx0bqyhLpdfOpc6fn7OR8+UClSV5n9E6aSS8MPtnRfp32bAb0nmbRn6H8ndwLUQ==";

fn amt(s: &str) -> Amount {
    Amount::parse(s).expect("amount")
}

struct Env {
    rt: tokio::runtime::Runtime,
    sandbox: Option<Sandbox>,
}

impl Env {
    fn new(permissions: Permissions) -> Self {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        let keys = vec![KeySpec {
            venue: Venue::Kraken,
            api_key: "doc-key".into(),
            secret: DOC_SECRET.into(),
            permissions,
            allowed_ips: vec![],
            passphrase: None,
            balances: vec![("ZUSD".into(), amt("100000")), ("XXBT".into(), amt("2"))],
        }];
        let markets =
            vec![Market { symbol: "XBTUSD".into(), base: "XXBT".into(), quote: "ZUSD".into(), price: amt("40000") }];
        let sandbox = rt.block_on(Sandbox::start(SocketAddr::from(([127, 0, 0, 1], 0)), keys, markets)).expect("start");
        Self { rt, sandbox: Some(sandbox) }
    }

    fn sb(&self) -> &Sandbox {
        self.sandbox.as_ref().expect("running")
    }

    fn post(&self, path: &str, sign: &str, body: &str) -> Value {
        let mut s = TcpStream::connect(self.sb().addr()).expect("connect");
        let req = format!(
            "POST {path} HTTP/1.1\r\nHost: sandbox\r\nConnection: close\r\nAPI-Key: doc-key\r\nAPI-Sign: {sign}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).expect("write");
        let mut resp = String::new();
        s.read_to_string(&mut resp).expect("read");
        serde_json::from_str(resp.split_once("\r\n\r\n").map_or("", |(_, b)| b)).unwrap_or(Value::Null)
    }

    /// Sign with Sealgate's Kraken scheme if it is there, else refuse to run.
    fn signed(&self, path: &str, body: &str, nonce: u64) -> Value {
        use sealgate_exchanges::{Context, Credential, FixedClock, FixedNonce, Request};
        let cred = Credential {
            api_key: Some("doc-key".into()),
            api_secret: Some(DOC_SECRET.into()),
            ..Credential::default()
        };
        let req = Request { method: "POST".into(), path: path.into(), query: String::new(), body: body.into() };
        let s = sealgate_exchanges::sign(
            "kraken",
            &cred,
            &req,
            &Context { clock: &FixedClock(nonce), nonce: &FixedNonce(nonce) },
        )
        .expect("sign");
        let sign = s.headers.iter().find(|(k, _)| k == "API-Sign").map(|(_, v)| v.clone()).expect("API-Sign");
        self.post(&s.path, &sign, &s.body)
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let sb = self.sandbox.take();
        self.rt.block_on(async move { drop(sb) });
    }
}

const ALL: Permissions = Permissions { read: true, trade: true, withdraw: true };

#[test]
fn accepts_the_documented_example_once() {
    let env = Env::new(ALL);
    let v = env.post("/0/private/AddOrder", DOC_SIGN, DOC_BODY);
    assert_eq!(v["error"], serde_json::json!([]), "{v}");
    assert_eq!(v["result"]["descr"]["order"], "buy 1.25000000 XBTUSD @ limit 37500.00000000");
    // The same nonce again: refused.
    let v = env.post("/0/private/AddOrder", DOC_SIGN, DOC_BODY);
    assert_eq!(v["error"], serde_json::json!(["EAPI:Invalid nonce"]));
    // A changed body under the old signature.
    let v = env.post("/0/private/AddOrder", DOC_SIGN, &DOC_BODY.replace("1616492376594", "1616492376595"));
    assert_eq!(v["error"], serde_json::json!(["EAPI:Invalid signature"]));
}

#[test]
fn signed_by_sealgate_orders_and_withdrawals() {
    let env = Env::new(Permissions { read: true, trade: true, withdraw: false });
    let n = 1_700_000_000_000u64;
    let v = env.signed("/0/private/Balance", "", n);
    assert_eq!(v["result"]["XXBT"], "2.00000000", "{v}");
    let v = env.signed("/0/private/AddOrder", "ordertype=market&pair=XBTUSD&type=buy&volume=0.5", n + 1);
    assert_eq!(v["error"], serde_json::json!([]), "{v}");
    assert_eq!(env.sb().free_balance("doc-key", "ZUSD"), Some(amt("80000")));
    let v = env.signed("/0/private/TradesHistory", "", n + 2);
    assert_eq!(v["result"]["count"], 1);
    let v = env.signed("/0/private/Withdraw", "asset=XXBT&key=cold-wallet&amount=1", n + 3);
    assert_eq!(v["error"], serde_json::json!(["EGeneral:Permission denied"]));
    assert!(env.sb().withdrawals().is_empty());
    // A stale nonce is refused even with a good signature.
    let v = env.signed("/0/private/Balance", "", n);
    assert_eq!(v["error"], serde_json::json!(["EAPI:Invalid nonce"]));
}
