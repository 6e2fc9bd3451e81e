//! The suite every custody backend must pass (run it from the backend's
//! tests with its own runtime): rotation and statuses, opening through the
//! custody, refusals, the root signature and the signed key set.

use sealgate_envelope::{Binding, Scope, SealRequest, open_credential, seal_credential};

use crate::{Custody, CustodyError, KeyStatus, RoleKeyType, keyset};

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
