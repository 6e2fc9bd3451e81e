//! The Kraken sandbox verifies API-Sign and nonces as Kraken documents,
//! accepts the documentation's own example request, and keeps balances.

use crate::common;

use common::{Env, amt, request, sign};
use sealgate_exchanges::{Credential, FixedClock};
use sealgate_sandbox::{KeySpec, Market, Permissions, Venue};
use serde_json::Value;

/// The example secret of Kraken's "Spot REST API → Authentication" page.
const DOC_SECRET: &str = "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg==";
const DOC_BODY: &str = "nonce=1616492376594&ordertype=limit&pair=XBTUSD&price=37500&type=buy&volume=1.25";
const DOC_SIGN: &str = "4/dpxb3iT4tp/ZCVEwSnEsLxx0bqyhLpdfOpc6fn7OR8+UClSV5n9E6aSS8MPtnRfp32bAb0nmbRn6H8ndwLUQ==";

fn env(permissions: Permissions) -> Env {
    let keys = vec![KeySpec {
        venue: Venue::Kraken,
        api_key: "doc-key".into(),
        secret: DOC_SECRET.into(),
        permissions,
        allowed_ips: vec![],
        passphrase: None,
        balances: vec![("ZUSD".into(), amt("100000")), ("XXBT".into(), amt("2"))],
    }];
    Env::new(
        keys,
        vec![Market { symbol: "XBTUSD".into(), base: "XXBT".into(), quote: "ZUSD".into(), price: amt("40000") }],
    )
}

fn post(env: &Env, path: &str, sign: &str, body: &str) -> Value {
    let headers = [("API-Key".to_owned(), "doc-key".to_owned()), ("API-Sign".to_owned(), sign.to_owned())];
    env.send("POST", path, "", &headers, body).1
}

/// Sign with Sealgate's Kraken scheme and send.
fn signed(env: &Env, path: &str, body: &str, nonce: u64) -> Value {
    let cred =
        Credential { api_key: Some("doc-key".into()), api_secret: Some(DOC_SECRET.into()), ..Credential::default() };
    env.send_signed(&sign("kraken", &cred, &request("POST", path, "", body), &FixedClock(nonce), nonce)).1
}

const ALL: Permissions = Permissions { read: true, trade: true, withdraw: true };

#[test]
fn accepts_the_documented_example_once() {
    let env = env(ALL);
    let v = post(&env, "/0/private/AddOrder", DOC_SIGN, DOC_BODY);
    assert_eq!(v["error"], serde_json::json!([]), "{v}");
    assert_eq!(v["result"]["descr"]["order"], "buy 1.25000000 XBTUSD @ limit 37500.00000000");
    // The same nonce again: refused.
    let v = post(&env, "/0/private/AddOrder", DOC_SIGN, DOC_BODY);
    assert_eq!(v["error"], serde_json::json!(["EAPI:Invalid nonce"]));
    // A changed body under the old signature.
    let v = post(&env, "/0/private/AddOrder", DOC_SIGN, &DOC_BODY.replace("1616492376594", "1616492376595"));
    assert_eq!(v["error"], serde_json::json!(["EAPI:Invalid signature"]));
}

#[test]
fn signed_by_sealgate_orders_and_withdrawals() {
    let env = env(Permissions { read: true, trade: true, withdraw: false });
    let n = 1_700_000_000_000u64;
    let v = signed(&env, "/0/private/Balance", "", n);
    assert_eq!(v["result"]["XXBT"], "2.00000000", "{v}");
    let v = signed(&env, "/0/private/AddOrder", "ordertype=market&pair=XBTUSD&type=buy&volume=0.5", n + 1);
    assert_eq!(v["error"], serde_json::json!([]), "{v}");
    assert_eq!(env.sb().free_balance("doc-key", "ZUSD"), Some(amt("80000")));
    let v = signed(&env, "/0/private/TradesHistory", "", n + 2);
    assert_eq!(v["result"]["count"], 1);
    let v = signed(&env, "/0/private/Withdraw", "asset=XXBT&key=cold-wallet&amount=1", n + 3);
    assert_eq!(v["error"], serde_json::json!(["EGeneral:Permission denied"]));
    assert!(env.sb().withdrawals().is_empty());
    // A stale nonce is refused even with a good signature.
    let v = signed(&env, "/0/private/Balance", "", n);
    assert_eq!(v["error"], serde_json::json!(["EAPI:Invalid nonce"]));
}
