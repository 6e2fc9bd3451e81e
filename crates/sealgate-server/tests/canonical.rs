//! The signer reads each request as its exchange reads it (issue 14, "one
//! request, one meaning"): the Kraken JSON body whose first member's name
//! spells a small form order, which the old reader judged as that form
//! order and the sandbox executed as a 0.5 BTC buy, is refused before any
//! envelope is opened, and the refusal is audited; what is forwarded is the
//! canonical request, which the sandbox executes exactly as judged.

mod session;
mod support;

use sealgate_policy::Role;
use sealgate_server::client::{ForwardCall, SignerCallError};
use support::*;

fn order(cid: &str, body: &str) -> ForwardCall {
    call(cid, "POST", "/0/private/AddOrder", "", body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_signer_judges_and_sends_one_reading() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("s.db").display());
    let world = World::new(&url).await;
    world.credential("alice", "cid-kr", "kraken", &kraken_json(), &[("trader", "read,trade")]).await;
    let limits = sealgate_store::CredentialLimits {
        symbols: Some("XBTUSD".into()),
        max_notional: Some("100".into()),
        ..Default::default()
    };
    world.store.set_credential_limits("alice", "cid-kr", &limits).await.expect("limits");
    let signer = world.signer(world.signer_config());

    let hidden = r#"{"x&pair=XBTUSD&volume=0.0001&price=40000&y":"1","ordertype":"market","pair":"XBTUSD","type":"buy","volume":"0.5"}"#;
    let e = signer.forward(Role::Trader, &order("cid-kr", hidden)).await.expect_err("ambiguous");
    assert!(matches!(&e, SignerCallError::Denied(m) if m.starts_with("ambiguous request")), "{e:?}");
    // Without the decoy it is a 0.5 BTC market order, valued at Kraken's own ticker
    // (40000 + 5 %): 21000, far above the cap.
    let plain = r#"{"ordertype":"market","pair":"XBTUSD","type":"buy","volume":"0.5"}"#;
    let e = signer.forward(Role::Trader, &order("cid-kr", plain)).await.expect_err("market");
    assert_eq!(e, SignerCallError::Denied("order notional above the limit".into()));
    assert!(world.sandbox.trades(KRAKEN_KEY).is_empty());
    assert_eq!(world.sandbox.free_balance(KRAKEN_KEY, "XXBT"), Some(amt("2")));
    // A price written on a market order is refused, never used to value it.
    let priced = r#"{"ordertype":"market","pair":"XBTUSD","price":"1","type":"buy","volume":"0.5"}"#;
    let e = signer.forward(Role::Trader, &order("cid-kr", priced)).await.expect_err("priced market");
    assert!(matches!(&e, SignerCallError::Denied(m) if m.starts_with("ambiguous request")), "{e:?}");
    // A small market buy: 0.002 × 40000 × 1.05 = 84, under the cap of 100; it fills.
    let small = r#"{"ordertype":"market","pair":"XBTUSD","type":"buy","volume":"0.002"}"#;
    let r = signer.forward(Role::Trader, &order("cid-kr", small)).await.expect("valued at the ticker");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(world.sandbox.trades(KRAKEN_KEY).len(), 1);
    // The market moves: the same order is now worth 0.002 × 60000 × 1.05 = 126, above the
    // cap, once the signer's reference (kept 2 s) is read again.
    assert!(world.sandbox.set_price("XBTUSD", amt("60000")));
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    let e = signer.forward(Role::Trader, &order("cid-kr", small)).await.expect_err("the market moved");
    assert_eq!(e, SignerCallError::Denied("order notional above the limit".into()));
    assert_eq!(world.sandbox.trades(KRAKEN_KEY).len(), 1, "nothing more executed");
    assert!(world.sandbox.set_price("XBTUSD", amt("40000")));
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;

    // A small limit order, spaced and escaped: judged on its reading, sent in canonical form,
    // and rested by the sandbox at exactly the size and price judged (0.002 × 40000 = 80).
    let spaced = "{ \"ordertype\" : \"limit\", \"pair\": \"XBTUSD\", \"type\": \"b\\u0075y\", \"volume\": \"0.002\", \"price\": \"40000\" }";
    let r = signer.forward(Role::Trader, &order("cid-kr", spaced)).await.expect("under the cap");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("buy 0.00200000 XBTUSD @ limit 40000.00000000"), "{}", r.body);
    assert_eq!(world.sandbox.balances(KRAKEN_KEY).iter().find(|b| b.0 == "ZUSD").map(|b| b.2), Some(amt("80")));

    let rows = world.store.audit_range(0, 10_000).await.expect("audit");
    let denied: Vec<&str> = rows.iter().filter(|r| r.action == "denied").map(|r| r.detail.as_str()).collect();
    assert_eq!(denied.len(), 4, "{denied:?}");
    assert!(denied[0].contains("ambiguous request") && denied[0].contains("/0/private/AddOrder"), "{denied:?}");
}
