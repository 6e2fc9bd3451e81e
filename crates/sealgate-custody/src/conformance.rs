//! The suite every custody backend must pass (run it from the backend's
//! tests with its own runtime): rotation and statuses, opening through the
//! custody, refusals, the root signature and the signed key set; and
//! [`exchange_keys`], for exchange keys born in the custody.

use sealgate_envelope::{Binding, Scope, SealRequest, open_credential, seal_credential};

use crate::exchange_key::{self, ExchangeKeyType};
use crate::{Custody, CustodyError, Exportability, KeyStatus, RoleKeyType, keyset};

/// Run the suite with a fresh role name (so reruns on a persistent backend
/// do not collide) and the key type the backend supports.
pub async fn run(custody: &dyn Custody, role: &str, key_type: RoleKeyType) {
    let v1 = custody.rotate(role, key_type).await.expect("rotate creates version 1");
    assert_eq!(v1.status, KeyStatus::Active);
    assert_eq!(v1.role, role);
    let v2 = custody.rotate(role, key_type).await.expect("rotate creates version 2");
    assert_ne!(v1.kid, v2.kid, "each version has its own kid");
    assert!(v2.version > v1.version);
    let listed = custody.keys().await.expect("keys");
    let status = |kid: &str| listed.iter().find(|k| k.kid == kid).map(|k| k.status);
    assert_eq!(status(&v1.kid), Some(KeyStatus::DecryptOnly), "rotation demotes the previous active version");
    assert_eq!(status(&v2.kid), Some(KeyStatus::Active));

    // Seal to each version and open through the custody.
    let credential = br#"{"api_key":"CONFORMANCE-KEY-1234","api_secret":"conformance-secret"}"#;
    for v in [&v1, &v2] {
        let req = SealRequest {
            sub: "u1".into(),
            cid: format!("c-{}", v.kid),
            exch: "binance".into(),
            aud: role.into(),
            scope: Scope::parse_list("read").expect("scope"),
            iat: 1,
            own: None,
        };
        let (env, _) = seal_credential(credential, &v.public, &req).expect("seal");
        let key = custody.decryption_key(&v.kid).await.expect("decryption key");
        let binding =
            Binding { sub: "u1".into(), cid: req.cid.clone(), exch: "binance".into(), aud: role.into(), now: None };
        let opened = open_credential(env.as_bytes(), key.as_ref(), &binding).await.expect("open through custody");
        assert_eq!(opened.header.kid, v.kid);

        // Disabled: no new handle, and the handle already held stops too.
        custody.set_status(&v.kid, KeyStatus::Disabled).await.expect("disable");
        assert!(matches!(custody.decryption_key(&v.kid).await, Err(CustodyError::Status { .. })));
        assert!(open_credential(env.as_bytes(), key.as_ref(), &binding).await.is_err(), "held handle still opens");
        custody.set_status(&v.kid, KeyStatus::DecryptOnly).await.expect("re-enable");
        assert!(open_credential(env.as_bytes(), key.as_ref(), &binding).await.is_ok());
    }
    custody.set_status(&v1.kid, KeyStatus::Retired).await.expect("retire");
    assert!(matches!(custody.decryption_key(&v1.kid).await, Err(CustodyError::Status { .. })));
    assert!(matches!(custody.decryption_key("no-such-kid").await, Err(CustodyError::UnknownKid(_))));
    custody.set_status(&v2.kid, KeyStatus::Active).await.expect("active again");

    // The root key signs; the set verifies against its pin and lists v2.
    let root = custody.root_public().await.expect("root public");
    let pin = keyset::thumbprint(&root).expect("thumbprint");
    let set = keyset::sign(custody, 1_000, 3_600).await.expect("sign set");
    let recipients = keyset::verify(&set, &pin, 1_001).expect("verify set");
    assert!(recipients.iter().any(|r| r.role == role && r.key.kid() == Some(v2.kid.as_str())));
    assert!(!recipients.iter().any(|r| r.key.kid() == Some(v1.kid.as_str())), "retired keys are not offered");
    assert!(keyset::verify(&set, &pin, 4_600).is_err(), "expired set accepted");
    assert!(keyset::verify(&set, "AAAA", 1_001).is_err(), "set accepted under another pin");
}

/// The exchange-key part of the suite (DESIGN §1.1): for each type, a key is made inside
/// the custody with only its public key coming out, listed, signs what an exchange would
/// verify (checked here with aws-lc-rs, apart from the backend), refuses unknown and
/// malformed ids, and is gone for good once destroyed. `exportability` is what the
/// backend must report for its keys.
pub async fn exchange_keys(custody: &dyn Custody, types: &[ExchangeKeyType], exportability: Exportability) {
    for &key_type in types {
        let key = custody.create_exchange_key(key_type).await.expect("create an exchange key");
        let roles = custody.keys().await.expect("keys");
        assert!(!roles.iter().any(|k| k.kid == key.id), "an exchange key is not a role key");
        assert_eq!(key.key_type, key_type);
        assert!(exchange_key::check_id(&key.id).is_ok(), "id {:?}", key.id);
        assert_eq!(key.exportability, exportability, "{key_type}");
        let pem = key.public_pem();
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"), "{pem}");
        let (label, der) = pem_rfc7468::decode_vec(pem.as_bytes()).expect("the PEM parses");
        assert_eq!((label, der.as_slice()), ("PUBLIC KEY", key.public_spki.as_slice()));

        let listed = custody.exchange_keys().await.expect("exchange keys");
        assert_eq!(listed.iter().find(|k| k.id == key.id), Some(&key), "listed as created");

        // What an exchange signs: Binance's totalParams, say.
        let message = b"symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timestamp=1499827319559";
        let sig = custody.exchange_sign(&key.id, message).await.expect("sign");
        assert!(exchange_key::verify(key_type, &key.public_spki, message, &sig), "{key_type}: signature verifies");
        assert!(!exchange_key::verify(key_type, &key.public_spki, b"another message", &sig));
        match key_type {
            ExchangeKeyType::Ed25519 => {
                assert_eq!(sig.len(), 64);
                let again = custody.exchange_sign(&key.id, message).await.expect("sign again");
                assert_eq!(sig, again, "Ed25519 is deterministic");
            }
            ExchangeKeyType::Rsa2048 => assert_eq!(sig.len(), 256),
        }
        assert!(custody.exchange_sign(&key.id, b"").await.is_ok_and(|s| key.verify(b"", &s)), "empty message");

        custody.destroy_exchange_key(&key.id).await.expect("destroy");
        assert!(matches!(custody.exchange_sign(&key.id, message).await, Err(CustodyError::UnknownKid(_))));
        assert!(matches!(custody.destroy_exchange_key(&key.id).await, Err(CustodyError::UnknownKid(_))));
        assert!(!custody.exchange_keys().await.expect("exchange keys").iter().any(|k| k.id == key.id));
    }
    for bad in ["xk-0000000000000000", "trader-v1", "../../sys/seal", "xk-", ""] {
        assert!(custody.exchange_sign(bad, b"m").await.is_err(), "{bad:?}");
        assert!(custody.destroy_exchange_key(bad).await.is_err(), "{bad:?}");
    }
}
