//! Grants of exchange keys: signed by the custody's root, refused when edited, when signed
//! by another root, or when bound to another owner, credential, exchange or role.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use sealgate_custody::grant::{Grant, digest, is_grant, spki_digest};
use sealgate_custody::keyset::thumbprint;
use sealgate_custody::local::{KdfParams, LocalCustody, MasterKey};
use sealgate_custody::{Custody, CustodyError, ExchangeKeyType};
use sealgate_envelope::secrecy::SecretString;
use sealgate_envelope::{Binding, OwnerKeys};
use sealgate_vocab::{Role, Scope};

fn custody() -> (tempfile::TempDir, LocalCustody) {
    let d = tempfile::tempdir().expect("tempdir");
    fs::set_permissions(d.path(), fs::Permissions::from_mode(0o700)).expect("chmod 700");
    let key = MasterKey::from_passphrase_with_params(
        SecretString::from("grant tests"),
        KdfParams::new(8, 1, 1).expect("cheap argon2 params"),
    );
    let c = LocalCustody::init(&d.path().join("keyring"), key).expect("init");
    (d, c)
}

async fn pin(c: &dyn Custody) -> String {
    thumbprint(&c.root_public().await.expect("root")).expect("thumbprint")
}

fn binding(role: &str) -> Binding {
    Binding { sub: "u1".into(), cid: "cid-1".into(), exch: "binance".into(), aud: role.into(), now: None }
}

async fn grant(c: &dyn Custody) -> Grant {
    let info = c.create_exchange_key(ExchangeKeyType::Ed25519).await.expect("key");
    Grant {
        sub: "u1".into(),
        cid: "cid-1".into(),
        exch: "binance".into(),
        aud: Role::Trader,
        scope: Scope::parse_list("read,trade").expect("scope"),
        key: info.id.clone(),
        key_type: info.key_type,
        spk: spki_digest(&info.public_spki),
        api_key: Some("A".repeat(60) + "wxyz"),
        own: Some(OwnerKeys::new(["NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"]).expect("own")),
        sealed: Some("a.b.c.d.e".into()),
        approval: Some(serde_json::json!({"statement": "…", "signature": "…"})),
        iat: 1_000,
    }
}

fn refused(r: Result<Grant, CustodyError>) -> &'static str {
    match r {
        Err(CustodyError::Grant(why)) => why,
        other => panic!("expected a refused grant, got {other:?}"),
    }
}

/// Re-encode the payload with `edit` applied, keeping header and signature.
fn edited(jws: &str, edit: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>)) -> String {
    let parts: Vec<&str> = jws.split('.').collect();
    let mut p: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&B64.decode(parts[1]).expect("b64")).expect("json");
    edit(&mut p);
    format!("{}.{}.{}", parts[0], B64.encode(serde_json::to_vec(&p).expect("json")), parts[2])
}

#[tokio::test]
async fn a_grant_round_trips_and_binds() {
    let (_d, c) = custody();
    let g = grant(&c).await;
    let jws = g.sign(&c).await.expect("sign");
    assert!(is_grant(&jws));
    let pin = pin(&c).await;
    let back = Grant::verify(&jws, &pin, 2_000).expect("verify");
    assert_eq!(back, g);
    assert_eq!(back.hint().as_deref(), Some("wxyz"));
    let info = c.exchange_keys().await.expect("keys").remove(0);
    assert!(back.names_key(&info));
    back.check_binding(&binding("trader")).expect("binding");
    assert_eq!(digest(&jws), digest(&jws.clone()));

    // Bound to exactly one owner, credential, exchange and role.
    let mut other = binding("trader");
    other.sub = "u2".into();
    assert!(back.check_binding(&other).is_err());
    let mut other = binding("trader");
    other.cid = "cid-2".into();
    assert!(back.check_binding(&other).is_err());
    let mut other = binding("trader");
    other.exch = "bybit".into();
    assert!(back.check_binding(&other).is_err());
    assert!(back.check_binding(&binding("importer")).is_err());

    // A pending grant (no API key id yet) still verifies, and has no hint.
    let mut pending = g.clone();
    pending.api_key = None;
    let p = Grant::verify(&pending.sign(&c).await.expect("sign"), &pin, 2_000).expect("pending");
    assert_eq!(p.api_key, None);
    assert_eq!(p.hint(), None);
}

#[tokio::test]
async fn an_edited_or_foreign_grant_is_refused() {
    let (_d, c) = custody();
    let pin = pin(&c).await;
    let jws = grant(&c).await.sign(&c).await.expect("sign");

    // What a database writer would want: another role, another class, another key.
    let attempts: Vec<(&str, String)> = vec![
        ("role", edited(&jws, |p| drop(p.insert("aud".into(), "importer".into())))),
        ("class", edited(&jws, |p| drop(p.insert("scope".into(), serde_json::json!(["read", "trade", "withdraw"]))))),
        ("owner", edited(&jws, |p| drop(p.insert("sub".into(), "u2".into())))),
        ("key", edited(&jws, |p| drop(p.insert("key".into(), "xk-0000000000000000".into())))),
        ("no own", edited(&jws, |p| drop(p.remove("own")))),
        ("no approval", edited(&jws, |p| drop(p.remove("approval")))),
        ("another sealed passphrase", edited(&jws, |p| drop(p.insert("sealed".into(), "f.g.h.i.j".into())))),
    ];
    for (what, forged) in attempts {
        assert_eq!(refused(Grant::verify(&forged, &pin, 2_000)), "signature does not verify", "{what}");
    }

    // Signed by another custody's root, with its own key in the header.
    let (_d2, other) = custody();
    let foreign = grant(&other).await.sign(&other).await.expect("sign");
    assert_eq!(refused(Grant::verify(&foreign, &pin, 2_000)), "signed by a key other than the pinned root");

    // Not a grant: the key set, a truncated grant, a huge one, a future one.
    let keyset = sealgate_custody::keyset::sign(&c, 1_000, 60).await.expect("keyset");
    assert_eq!(refused(Grant::verify(&keyset, &pin, 1_001)), "wrong typ");
    let cut = &jws[..jws.rfind('.').expect("dot")];
    assert_eq!(refused(Grant::verify(cut, &pin, 2_000)), "not a compact JWS (three parts)");
    assert_eq!(refused(Grant::verify(&"a".repeat(17_000), &pin, 2_000)), "too large");
    assert_eq!(refused(Grant::verify(&jws, &pin, 10)), "issued in the future");
}

#[tokio::test]
async fn a_member_the_signer_would_not_read_is_refused() {
    let (_d, c) = custody();
    let pin = pin(&c).await;
    // A root-signed payload with an unknown member (as a later version might add) is not
    // silently ignored: sign it through the custody itself.
    let g = grant(&c).await;
    let jws = g.sign(&c).await.expect("sign");
    let parts: Vec<&str> = jws.split('.').collect();
    let mut p: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&B64.decode(parts[1]).expect("b64")).expect("json");
    p.insert("withdraw_to".into(), "anywhere".into());
    let input = format!("{}.{}", parts[0], B64.encode(serde_json::to_vec(&p).expect("json")));
    let sig = c.root_sign(input.as_bytes()).await.expect("root sign");
    let resigned = format!("{input}.{}", B64.encode(sig));
    assert_eq!(refused(Grant::verify(&resigned, &pin, 2_000)), "a member is not understood");
}
