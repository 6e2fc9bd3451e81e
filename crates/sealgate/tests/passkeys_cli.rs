//! `sealgate passkeys list|reset`: the operator's view and the recovery when a user lost
//! every passkey (the api never removes the last one). The reset is audited (on the chain,
//! for the user's own trail) and the user is told.

mod common;

use common::{TempDir, ok, refused, run};
use sealgate_store::{NewPasskey, PasskeyPrecondition, Store};

async fn seeded(url: &str) -> Store {
    let store = Store::connect(url).await.expect("connect");
    for u in ["ann", "bob"] {
        store.create_user(u, None).await.expect("user");
    }
    store.set_contact_email("ann", "ann@example.com", "confirmed").await.expect("contact");
    let tp = |c: char| c.to_string().repeat(43);
    let rows = [
        ("a".repeat(22), "ann", b"c1".as_slice(), tp('A'), PasskeyPrecondition::First),
        ("b".repeat(22), "ann", b"c2".as_slice(), tp('B'), PasskeyPrecondition::Another),
        ("c".repeat(22), "bob", b"c3".as_slice(), tp('C'), PasskeyPrecondition::First),
    ];
    for (id, user, cred, thumbprint, pre) in &rows {
        let new =
            NewPasskey { id, user_id: user, credential_id: cred, name: "key", thumbprint, jwk: "{}", passkey: "{}" };
        store.add_passkey(&new, *pre).await.expect("passkey");
    }
    store
}

#[tokio::test(flavor = "multi_thread")]
async fn reset_removes_every_passkey_of_one_user_audited_and_told() {
    let dir = TempDir::new("passkeys-cli");
    let url = format!("sqlite://{}?mode=rwc", dir.path("s.db").display());
    let store = seeded(&url).await;

    let list = ok(run(&["passkeys", "list", "--user", "ann", "--database", &url], b""));
    assert!(list.starts_with("2 passkey(s) of ann"), "{list}");
    assert!(
        list.contains(&"A".repeat(43)) && list.contains(&"B".repeat(43)) && !list.contains(&"C".repeat(43)),
        "{list}"
    );
    let json = ok(run(&["passkeys", "list", "--user", "ann", "--database", &url, "--json"], b""));
    assert_eq!(json.lines().count(), 2);
    for line in json.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("json line");
        assert_eq!(v["last_used_ms"], serde_json::Value::Null);
    }
    refused(&run(&["passkeys", "list", "--user", "nobody", "--database", &url], b""), "no user", &[]);
    refused(&run(&["passkeys", "reset", "--user", "nobody", "--database", &url], b""), "no user", &[]);

    let out = ok(run(&["passkeys", "reset", "--user", "ann", "--database", &url, "--operator", "dana"], b""));
    assert!(out.contains("removed 2 passkey(s) of ann"), "{out}");
    assert!(store.passkeys("ann").await.expect("ann").is_empty());
    assert_eq!(store.passkeys("bob").await.expect("bob").len(), 1, "another user's passkeys stay");

    // On the audit chain, in ann's own trail, naming the operator and the removed keys.
    let trail = store.audit_for_owner("ann", 0, 100).await.expect("trail");
    let reset: Vec<_> = trail.iter().filter(|r| r.action == "passkeys_reset").collect();
    assert_eq!(reset.len(), 1, "{trail:?}");
    assert_eq!((reset[0].actor.as_str(), reset[0].subject.as_str()), ("operator:dana", "ann"));
    assert!(
        reset[0].detail.contains(&"A".repeat(43)) && reset[0].detail.contains("\"removed\":2"),
        "{}",
        reset[0].detail
    );
    assert!(store.audit_for_owner("bob", 0, 100).await.expect("trail").iter().all(|r| r.action != "passkeys_reset"));
    // Told to ann (and only ann).
    let told: Vec<_> = store
        .list_notifications(None, 100)
        .await
        .expect("outbox")
        .into_iter()
        .filter(|n| n.kind == "passkeys_reset")
        .collect();
    assert_eq!(told.len(), 1);
    assert_eq!(told[0].user_id.as_deref(), Some("ann"));
    // The chain still verifies.
    let verify = ok(run(&["audit", "verify", "--database", &url], b""));
    assert!(verify.starts_with("ok"), "{verify}");
    store.close().await;
}
