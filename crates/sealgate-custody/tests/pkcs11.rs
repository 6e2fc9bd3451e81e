//! The `pkcs11` backend against SoftHSM2.
//!
//! SoftHSM reads its configuration (`SOFTHSM2_CONF`) when the module is
//! initialized, once per process, and this crate forbids the `unsafe`
//! `std::env::set_var`. So `softhsm_token_suite` makes a private token
//! directory and configuration in a temp dir, initializes the tokens with
//! `softhsm2-util`, and runs this test binary again with that environment
//! and `--ignored in_token::`: the `in_token` tests (ignored in a plain run)
//! do the work there. The temp dir is removed afterwards.
//!
//! Without SoftHSM2 the suite fails and names `scripts/setup-softhsm.sh`,
//! unless `SEALGATE_SKIP_CUSTODY_SERVICES=1`.

mod journey;

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where Debian puts the module; `SEALGATE_PKCS11_MODULE` overrides it.
fn module() -> PathBuf {
    std::env::var_os("SEALGATE_PKCS11_MODULE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(sealgate_custody::pkcs11::DEFAULT_MODULE))
}

const SO_PIN: &str = "so-pin-87654321";
const PIN: &str = "user-pin-123456";
/// Tokens made for the run: one shared, the others owned by one test each.
const TOKENS: [&str; 3] = ["sealgate-main", "sealgate-reopen", "sealgate-pin"];
/// Environment handed to the re-run.
const DIR_VAR: &str = "SEALGATE_PKCS11_TEST_DIR";
const PIN_VAR: &str = "SEALGATE_PKCS11_TEST_PIN";

/// A temp dir removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!("sealgate-softhsm-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(dir.join("tokens")).expect("make the temp token dir");
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn have(cmd: &str) -> bool {
    Command::new("sh").args(["-c", &format!("command -v {cmd}")]).output().is_ok_and(|o| o.status.success())
}

#[test]
fn softhsm_token_suite() {
    if !have("softhsm2-util") || !module().exists() {
        let why = format!("SoftHSM2 is not installed (softhsm2-util, {})", module().display());
        sealgate_testkit::skip_or_fail(
            "SEALGATE_SKIP_CUSTODY_SERVICES",
            "the pkcs11 custody tests (SoftHSM2)",
            &why,
            "run `bash scripts/setup-softhsm.sh`",
        );
        return;
    }
    let dir = TempDir::new();
    let conf = dir.0.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            dir.0.join("tokens").display()
        ),
    )
    .expect("write softhsm2.conf");
    for label in TOKENS {
        let out = Command::new("softhsm2-util")
            .args(["--init-token", "--free", "--label", label, "--so-pin", SO_PIN, "--pin", PIN])
            .env("SOFTHSM2_CONF", &conf)
            .output()
            .expect("run softhsm2-util");
        assert!(out.status.success(), "softhsm2-util --init-token {label}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let exe = std::env::current_exe().expect("test binary path");
    let out = Command::new(exe)
        // One at a time: SoftHSM's file store is not safe for writers on one token in
        // one process (a key generation beside another handle's writes fails with
        // CKR_GENERAL_ERROR); the retries are tested by one test that races on purpose.
        .args(["--ignored", "--nocapture", "--test-threads=1", "in_token::"])
        .env("SOFTHSM2_CONF", &conf)
        .env(DIR_VAR, &dir.0)
        .env(PIN_VAR, PIN)
        .output()
        .expect("re-run the test binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    print!("{stdout}");
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the in-token tests failed (output above)");
    assert!(stdout.contains("test result: ok. 9 passed"), "not every in-token test ran (output above)");
}

/// The tests that run inside the re-run, with SoftHSM configured.
mod in_token {

    use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
    use cryptoki::error::{Error as P11Error, RvError};
    use cryptoki::object::{Attribute, AttributeType, ObjectClass};
    use cryptoki::session::{Session, UserType};
    use cryptoki::types::AuthPin;
    use sealgate_custody::pkcs11::{PinSource, Pkcs11Config, Pkcs11Custody};
    use sealgate_custody::{Custody, CustodyError, Exportability, KeyStatus, RoleKeyType, conformance};
    use sealgate_envelope::{Binding, Scope, SealRequest, open_credential, seal_credential};

    use super::*;

    /// The run's temp dir. Outside the re-run (e.g. `cargo test -- --ignored`)
    /// SoftHSM is not configured: the test fails rather than pass untested.
    fn dir() -> PathBuf {
        std::env::var_os(DIR_VAR)
            .map(PathBuf::from)
            .unwrap_or_else(|| panic!("not inside softhsm_token_suite ({DIR_VAR} unset): run that test instead"))
    }

    fn pin_file(dir: &Path, name: &str, pin: &str, mode: u32) -> PathBuf {
        use std::os::unix::fs::PermissionsExt as _;
        let p = dir.join(name);
        std::fs::write(&p, format!("{pin}\n")).expect("write the PIN file");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod the PIN file");
        p
    }

    fn config(token: &str, pin: PinSource, sessions: usize) -> Pkcs11Config {
        Pkcs11Config { module: module(), token_label: token.into(), pin, sessions }
    }

    fn open_main(dir: &Path) -> Pkcs11Custody {
        let pin = pin_file(dir, "main.pin", PIN, 0o600);
        Pkcs11Custody::open(config("sealgate-main", PinSource::File(pin), 4)).expect("open the main token")
    }

    /// A raw session on `token`, for looking at objects behind the custody's
    /// back. The custody must be open (the module is initialized, the user
    /// logged in); close the session before dropping the custody.
    fn raw_session(token: &str) -> Session {
        let ctx = Pkcs11::new(module()).expect("load the module");
        match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(()) | Err(P11Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
            Err(e) => panic!("initialize: {e}"),
        }
        let slot = ctx
            .get_slots_with_initialized_token()
            .expect("slots")
            .into_iter()
            .find(|s| ctx.get_token_info(*s).is_ok_and(|i| i.label().trim_end() == token))
            .expect("the token's slot");
        let s = ctx.open_ro_session(slot).expect("open a session");
        match s.login(UserType::User, Some(&AuthPin::from(PIN.to_owned()))) {
            Ok(()) | Err(P11Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
            Err(e) => panic!("login: {e}"),
        }
        s
    }

    fn bool_attr(s: &Session, h: cryptoki::object::ObjectHandle, t: AttributeType) -> Option<bool> {
        s.get_attributes(h, &[t]).expect("attributes").into_iter().find_map(|a| match a {
            Attribute::Extractable(b)
            | Attribute::Sensitive(b)
            | Attribute::NeverExtractable(b)
            | Attribute::AlwaysSensitive(b)
            | Attribute::Token(b)
            | Attribute::Private(b) => Some(b),
            _ => None,
        })
    }

    fn binding(role: &str, cid: &str) -> (SealRequest, Binding) {
        let req = SealRequest {
            sub: "u1".into(),
            cid: cid.into(),
            exch: "binance".into(),
            aud: role.into(),
            scope: Scope::parse_list("read").expect("scope"),
            iat: 1,
            own: None,
        };
        let b = Binding { sub: "u1".into(), cid: cid.into(), exch: "binance".into(), aud: role.into(), now: None };
        (req, b)
    }

    const CREDENTIAL: &[u8] = br#"{"api_key":"PKCS11-TEST-KEY-9876","api_secret":"pkcs11-secret"}"#;

    #[tokio::test]
    #[ignore = "run by softhsm_token_suite, which configures SoftHSM"]
    async fn conformance_p256_and_p384() {
        let dir = dir();
        let custody = open_main(&dir);
        assert_eq!(custody.backend(), "pkcs11");
        conformance::run(&custody, "conf-p256", RoleKeyType::EcdhP256).await;
        conformance::run(&custody, "conf-p384", RoleKeyType::EcdhP384).await;
        for k in custody.keys().await.expect("keys") {
            assert_eq!(custody.exportability(&k.kid).await.expect("exportability"), Exportability::NonExportable);
        }
        assert!(matches!(custody.exportability("nope-v1").await, Err(CustodyError::UnknownKid(_))));
    }

    #[tokio::test]
    #[ignore = "run by softhsm_token_suite, which configures SoftHSM"]
    async fn x25519_is_unsupported_on_softhsm() {
        let dir = dir();
        let custody = open_main(&dir);
        match custody.rotate("x25519", RoleKeyType::EcdhX25519).await {
            Err(e @ CustodyError::Unsupported { .. }) => assert!(e.to_string().contains("X25519"), "{e}"),
            other => panic!("X25519 rotation: {other:?}"),
        }
    }

    #[tokio::test]
    #[ignore = "run by softhsm_token_suite, which configures SoftHSM"]
    async fn rsa_oaep256_is_refused_clearly_and_leaves_nothing() {
        let dir = dir();
        let custody = open_main(&dir);
        let err = custody.rotate("rsa", RoleKeyType::Rsa3072).await.expect_err("SoftHSM 2.6 has no SHA-256 OAEP");
        assert!(matches!(err, CustodyError::Unsupported { backend: "pkcs11", .. }), "{err:?}");
        assert!(err.to_string().contains("the token lacks RSA-OAEP with SHA-256"), "{err}");
        assert!(!custody.keys().await.expect("keys").iter().any(|k| k.role == "rsa"));
        assert!(matches!(custody.decryption_key("rsa-v1").await, Err(CustodyError::UnknownKid(_))));
        let s = raw_session("sealgate-main");
        let left = s.find_objects(&[Attribute::Id(b"rsa-v1".to_vec())]).expect("find");
        assert!(left.is_empty(), "the probe key was left in the token");
        drop(s);
    }

    #[tokio::test]
    #[ignore = "run by softhsm_token_suite, which configures SoftHSM"]
    async fn private_keys_are_not_extractable() {
        let dir = dir();
        let custody = open_main(&dir);
        let v = custody.rotate("extract", RoleKeyType::EcdhP256).await.expect("rotate");
        custody.root_public().await.expect("root key");
        let s = raw_session("sealgate-main");
        for id in [v.kid.as_bytes(), sealgate_custody::pkcs11::ROOT_LABEL.as_bytes()] {
            let found = s
                .find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY), Attribute::Id(id.to_vec())])
                .expect("find");
            assert_eq!(found.len(), 1, "{}", String::from_utf8_lossy(id));
            let h = found[0];
            assert_eq!(bool_attr(&s, h, AttributeType::Extractable), Some(false));
            assert_eq!(bool_attr(&s, h, AttributeType::NeverExtractable), Some(true));
            assert_eq!(bool_attr(&s, h, AttributeType::Sensitive), Some(true));
            assert_eq!(bool_attr(&s, h, AttributeType::AlwaysSensitive), Some(true));
            assert_eq!(bool_attr(&s, h, AttributeType::Token), Some(true));
            assert_eq!(bool_attr(&s, h, AttributeType::Private), Some(true));
            // The private value is not readable.
            let value = s.get_attributes(h, &[AttributeType::Value]).expect("attributes");
            assert!(value.is_empty(), "CKA_VALUE of a private key was readable");
        }
        drop(s);
    }

    /// Exchange keys born in the token (issue 18): Ed25519 (CKM_EC_EDWARDS_KEY_PAIR_GEN,
    /// CKM_EDDSA) and RSA-2048 (CKM_SHA256_RSA_PKCS), sensitive and never extractable, their
    /// signatures made by SoftHSM (OpenSSL) and verified by aws-lc-rs; a second handle on
    /// the token (another process's view) finds and uses them.
    #[tokio::test]
    #[ignore = "run by softhsm_token_suite, which configures SoftHSM"]
    async fn exchange_keys_are_born_in_the_token() {
        use sealgate_custody::ExchangeKeyType;
        let dir = dir();
        let custody = open_main(&dir);
        conformance::exchange_keys(&custody, &ExchangeKeyType::ALL, Exportability::NonExportable).await;

        let ed = custody.create_exchange_key(ExchangeKeyType::Ed25519).await.expect("ed25519");
        let rsa = custody.create_exchange_key(ExchangeKeyType::Rsa2048).await.expect("rsa");
        let s = raw_session("sealgate-main");
        for (id, key_type) in
            [(&ed.id, cryptoki::object::KeyType::EC_EDWARDS), (&rsa.id, cryptoki::object::KeyType::RSA)]
        {
            let found = s
                .find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY), Attribute::Id(id.as_bytes().to_vec())])
                .expect("find");
            assert_eq!(found.len(), 1, "{id}");
            let h = found[0];
            assert_eq!(bool_attr(&s, h, AttributeType::Extractable), Some(false), "{id}");
            assert_eq!(bool_attr(&s, h, AttributeType::NeverExtractable), Some(true), "{id}");
            assert_eq!(bool_attr(&s, h, AttributeType::Sensitive), Some(true), "{id}");
            assert_eq!(bool_attr(&s, h, AttributeType::AlwaysSensitive), Some(true), "{id}");
            assert_eq!(bool_attr(&s, h, AttributeType::Token), Some(true), "{id}");
            let kt = s.get_attributes(h, &[AttributeType::KeyType]).expect("key type");
            assert!(kt.iter().any(|a| matches!(a, Attribute::KeyType(t) if *t == key_type)), "{id}: {kt:?}");
            for secret in [AttributeType::Value, AttributeType::PrivateExponent, AttributeType::Prime1] {
                let v = s.get_attributes(h, &[secret]).expect("attributes");
                assert!(v.is_empty(), "{id}: {secret:?} of a private key was readable");
            }
        }
        drop(s);

        // Another handle (the state a restarted signer meets): listed, and signs.
        drop(custody);
        let again = open_main(&dir);
        let listed = again.exchange_keys().await.expect("list");
        for k in [&ed, &rsa] {
            assert_eq!(listed.iter().find(|l| l.id == k.id), Some(k), "{}", k.id);
            let sig = again.exchange_sign(&k.id, b"timestamp=1&recvWindow=5000").await.expect("sign");
            assert!(k.verify(b"timestamp=1&recvWindow=5000", &sig));
            again.destroy_exchange_key(&k.id).await.expect("destroy");
        }
        let s = raw_session("sealgate-main");
        for k in [&ed, &rsa] {
            let left = s.find_objects(&[Attribute::Id(k.id.as_bytes().to_vec())]).expect("find");
            assert!(left.is_empty(), "{}: objects left after destroy", k.id);
        }
        drop(s);
    }

    /// The journey in the token: keys made in it, registered at the sandbox by public key,
    /// orders signed by SoftHSM and verified by the sandbox.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "run by softhsm_token_suite, which configures SoftHSM"]
    async fn exchange_keys_trade_at_the_sandbox() {
        let dir = dir();
        let custody = open_main(&dir);
        crate::journey::exchange_keys_trade_through(&custody, &sealgate_custody::ExchangeKeyType::ALL).await;
    }

    #[tokio::test]
    #[ignore = "run by softhsm_token_suite, which configures SoftHSM"]
    async fn reopen_lists_the_same_keys() {
        let _dir = dir();
        let open = || {
            Pkcs11Custody::open(config("sealgate-reopen", PinSource::Env(PIN_VAR.into()), 2)).expect("open by env PIN")
        };
        let a = open();
        let v1 = a.rotate("reopen", RoleKeyType::EcdhP256).await.expect("v1");
        let v2 = a.rotate("reopen", RoleKeyType::EcdhP384).await.expect("v2");
        a.set_status(&v1.kid, KeyStatus::Disabled).await.expect("disable v1");
        let before = a.keys().await.expect("keys");
        let root = a.root_public().await.expect("root");
        drop(a);

        let b = open();
        let after = b.keys().await.expect("keys after reopen");
        let view = |ks: &[sealgate_custody::KeyInfo]| {
            ks.iter()
                .map(|k| (k.kid.clone(), k.role.clone(), k.version, k.status, k.created_at, k.public.to_json()))
                .collect::<Vec<_>>()
        };
        assert_eq!(view(&before), view(&after));
        assert_eq!(after.len(), 2);
        assert_eq!(after[0].status, KeyStatus::Disabled);
        assert_eq!(after[1].status, KeyStatus::Active);
        assert_eq!(b.root_public().await.expect("root after reopen"), root, "the root key changed");

        // An envelope sealed to v2 before the reopen opens after it.
        let (req, bind) = binding("reopen", "c-reopen");
        let (env, _) = seal_credential(CREDENTIAL, &v2.public, &req).expect("seal");
        let key = b.decryption_key(&v2.kid).await.expect("key");
        open_credential(env.as_bytes(), key.as_ref(), &bind).await.expect("open after reopen");
        assert!(matches!(b.decryption_key(&v1.kid).await, Err(CustodyError::Status { .. })));

        // No derived secret is left behind in the token.
        let s = raw_session("sealgate-reopen");
        let secrets = s.find_objects(&[Attribute::Class(ObjectClass::SECRET_KEY)]).expect("find");
        assert!(secrets.is_empty(), "{} derived secret(s) left in the token", secrets.len());
        drop(s);
    }

    /// A status written by another handle while this one lists (a second signer, or
    /// `custody rotate` beside `serve`): the label's length changes between the two calls
    /// of C_GetAttributeValue, and SoftHSM reports the handle invalid while it re-reads
    /// the rewritten file. The read retries instead of failing (CI met
    /// CKR_BUFFER_TOO_SMALL between two tests of this suite). SoftHSM's file store may
    /// also leave the object out of one search while it is rewritten; that is the
    /// token's, and not asserted here.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "run by softhsm_token_suite, which configures SoftHSM"]
    async fn reads_survive_status_changes_by_another_handle() {
        let dir = dir();
        let writer = open_main(&dir);
        let reader = open_main(&dir);
        let v = writer.rotate("race", RoleKeyType::EcdhP256).await.expect("rotate");
        let toggles = tokio::spawn(async move {
            for i in 0..400 {
                // "active" and "decrypt-only": labels of different lengths.
                let status = if i % 2 == 0 { KeyStatus::DecryptOnly } else { KeyStatus::Active };
                writer.set_status(&v.kid, status).await.expect("set status");
            }
        });
        let mut reads = 0;
        while !toggles.is_finished() {
            reader.keys().await.expect("keys while another handle writes statuses");
            reads += 1;
        }
        toggles.await.expect("toggler");
        assert!(reads > 10, "only {reads} reads overlapped the writes");
    }

    #[tokio::test]
    #[ignore = "run by softhsm_token_suite, which configures SoftHSM"]
    async fn wrong_pin_is_unlock() {
        let dir = dir();
        let wrong = pin_file(&dir, "wrong.pin", "not-the-pin", 0o600);
        let token = "sealgate-pin";
        // Nobody logged in yet.
        match Pkcs11Custody::open(config(token, PinSource::File(wrong.clone()), 1)) {
            Err(CustodyError::Unlock(m)) => assert!(!m.contains("not-the-pin")),
            other => panic!("wrong PIN: {other:?}"),
        }
        // Logged in by a first open: a second open with another PIN is refused too.
        let right = Pkcs11Custody::open(config(token, PinSource::Env(PIN_VAR.into()), 1)).expect("right PIN");
        assert!(matches!(Pkcs11Custody::open(config(token, PinSource::File(wrong), 1)), Err(CustodyError::Unlock(_))));
        let again = Pkcs11Custody::open(config(token, PinSource::Env(PIN_VAR.into()), 1)).expect("same PIN again");
        drop((right, again));

        // Sources that are wrong before the token is asked.
        let loose = pin_file(&dir, "loose.pin", PIN, 0o644);
        match Pkcs11Custody::open(config(token, PinSource::File(loose), 1)) {
            Err(CustodyError::Config(m)) => assert!(m.contains("chmod 600"), "{m}"),
            other => panic!("group-readable PIN file: {other:?}"),
        }
        assert!(matches!(
            Pkcs11Custody::open(config(token, PinSource::Env("SEALGATE_NO_SUCH_PIN".into()), 1)),
            Err(CustodyError::Config(_))
        ));
        match Pkcs11Custody::open(config("no-such-token", PinSource::Env(PIN_VAR.into()), 1)) {
            Err(CustodyError::Config(m)) => assert!(m.contains("no-such-token"), "{m}"),
            other => panic!("missing token: {other:?}"),
        }
        let mut bad_module = config(token, PinSource::Env(PIN_VAR.into()), 1);
        bad_module.module = PathBuf::from("/nonexistent/libpkcs11.so");
        match Pkcs11Custody::open(bad_module) {
            Err(CustodyError::Config(m)) => assert!(m.contains("setup-softhsm.sh"), "{m}"),
            other => panic!("missing module: {other:?}"),
        }
    }
}
