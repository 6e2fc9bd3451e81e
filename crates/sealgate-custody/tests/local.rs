//! The `local` keyring backend: conformance, persistence, unlock failures,
//! tamper and truncation, permissions, and a canary for key material.

mod journey;

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;

use sealgate_custody::local::{KdfParams, LocalCustody, MasterKey};
use sealgate_custody::{Custody, CustodyError, KeyStatus, RoleKeyType, conformance};
use sealgate_envelope::secrecy::SecretString;
use sealgate_envelope::{Binding, Curve, LocalKey, Scope, SealRequest, open_credential, seal_credential};

const PASSPHRASE: &str = "correct horse battery staple";
const CREDENTIAL: &[u8] = br#"{"api_key":"LOCAL-KEY-1234","api_secret":"local-secret"}"#;

fn cheap(pass: &str) -> MasterKey {
    MasterKey::from_passphrase_with_params(
        SecretString::from(pass),
        KdfParams::new(8, 1, 1).expect("cheap argon2 params"),
    )
}

/// A private directory (0700): the keyring refuses one others can read.
fn dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tempdir");
    fs::set_permissions(d.path(), fs::Permissions::from_mode(0o700)).expect("chmod 700");
    d
}

fn keyring(d: &tempfile::TempDir) -> PathBuf {
    d.path().join("keyring")
}

fn config_msg(r: Result<LocalCustody, CustodyError>) -> String {
    match r {
        Err(CustodyError::Config(m)) => m,
        Err(e) => panic!("expected a Config error, got {e:?}"),
        Ok(_) => panic!("expected a Config error, got a keyring"),
    }
}

fn is_unlock(r: &Result<LocalCustody, CustodyError>) -> bool {
    matches!(r, Err(CustodyError::Unlock(_)))
}

fn request(aud: &str, cid: &str) -> (SealRequest, Binding) {
    let req = SealRequest {
        sub: "u1".into(),
        cid: cid.into(),
        exch: "binance".into(),
        aud: aud.into(),
        scope: Scope::parse_list("read").expect("scope"),
        iat: 1,
        own: None,
    };
    let binding = Binding { sub: "u1".into(), cid: cid.into(), exch: "binance".into(), aud: aud.into(), now: None };
    (req, binding)
}

async fn run_conformance(role: &str, key_type: RoleKeyType) {
    let d = dir();
    let custody = LocalCustody::init(&keyring(&d), cheap(PASSPHRASE)).expect("init");
    conformance::run(&custody, role, key_type).await;
    // Everything the suite did is on disk.
    let reopened = LocalCustody::open(&keyring(&d), cheap(PASSPHRASE)).expect("reopen");
    let a: Vec<_> = custody.keys().await.expect("keys").into_iter().map(|k| (k.kid, k.status)).collect();
    let b: Vec<_> = reopened.keys().await.expect("keys").into_iter().map(|k| (k.kid, k.status)).collect();
    assert_eq!(a, b);
}

/// Exchange keys born in the keyring (issue 18): held like the role keys (encrypted at
/// rest, in locked memory), reported as software keys; they survive a reopen, and a
/// keyring that never held one is written as before.
#[tokio::test]
async fn exchange_keys_in_the_keyring() {
    use sealgate_custody::{ExchangeKeyType, Exportability};
    let d = dir();
    let custody = LocalCustody::init(&keyring(&d), cheap(PASSPHRASE)).expect("init");
    conformance::exchange_keys(&custody, &ExchangeKeyType::ALL, Exportability::SoftwareKey).await;
    custody.rotate("trader", RoleKeyType::EcdhP256).await.expect("a role key beside them");
    let ed = custody.create_exchange_key(ExchangeKeyType::Ed25519).await.expect("ed25519");
    let rsa = custody.create_exchange_key(ExchangeKeyType::Rsa2048).await.expect("rsa");
    drop(custody);

    let reopened = LocalCustody::open(&keyring(&d), cheap(PASSPHRASE)).expect("reopen");
    assert_eq!(reopened.exchange_keys().await.expect("list"), vec![ed.clone(), rsa.clone()]);
    assert_eq!(reopened.keys().await.expect("keys").len(), 1, "the role key is kept");
    for k in [&ed, &rsa] {
        let sig = reopened.exchange_sign(&k.id, b"m").await.expect("sign after reopen");
        assert!(k.verify(b"m", &sig));
    }
    // The file holds no key in the clear (it is one AES-GCM ciphertext).
    let bytes = fs::read(keyring(&d)).expect("read");
    assert!(!bytes.windows(16).any(|w| w == &ed.public_spki[16..32]), "public key bytes in the clear");
    reopened.destroy_exchange_key(&ed.id).await.expect("destroy");
    drop(reopened);
    let again = LocalCustody::open(&keyring(&d), cheap(PASSPHRASE)).expect("reopen");
    assert_eq!(again.exchange_keys().await.expect("list"), vec![rsa]);
}

/// The journey on the keyring: keys made in it, registered at the sandbox by public key,
/// orders signed through it and verified by the sandbox.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchange_keys_trade_at_the_sandbox() {
    let d = dir();
    let custody = LocalCustody::init(&keyring(&d), cheap(PASSPHRASE)).expect("init");
    journey::exchange_keys_trade_through(&custody, &sealgate_custody::ExchangeKeyType::ALL).await;
}

#[tokio::test]
async fn conformance_p256() {
    run_conformance("conf-p256", RoleKeyType::EcdhP256).await;
}

#[tokio::test]
async fn conformance_x25519() {
    run_conformance("conf-x25519", RoleKeyType::EcdhX25519).await;
}

#[tokio::test]
async fn conformance_rsa3072() {
    run_conformance("conf-rsa3072", RoleKeyType::Rsa3072).await;
}

#[tokio::test]
async fn reopen_after_rotate_sees_the_same_keys() {
    let d = dir();
    let path = keyring(&d);
    let custody = LocalCustody::init(&path, cheap(PASSPHRASE)).expect("init");
    let v1 = custody.rotate("trader", RoleKeyType::EcdhP256).await.expect("rotate");
    let v2 = custody.rotate("trader", RoleKeyType::EcdhP256).await.expect("rotate");
    let r1 = custody.rotate("importer", RoleKeyType::EcdhX25519).await.expect("rotate");
    assert_eq!((v1.kid.as_str(), v2.kid.as_str(), r1.kid.as_str()), ("trader-v1", "trader-v2", "importer-v1"));
    custody.set_status(&v1.kid, KeyStatus::Retired).await.expect("retire");
    let root = custody.root_public().await.expect("root");
    let before = custody.keys().await.expect("keys");
    drop(custody);

    let custody = LocalCustody::open(&path, cheap(PASSPHRASE)).expect("open");
    let after = custody.keys().await.expect("keys");
    assert_eq!(before.len(), after.len());
    for (a, b) in before.iter().zip(&after) {
        assert_eq!(
            (&a.kid, &a.role, a.version, a.status, a.created_at),
            (&b.kid, &b.role, b.version, b.status, b.created_at)
        );
        assert_eq!(a.public, b.public);
    }
    assert_eq!(custody.root_public().await.expect("root"), root);
    // A key sealed to before the reopen opens after it.
    for v in [&v2, &r1] {
        let (req, binding) = request(&v.role, "c1");
        let (env, _) = seal_credential(CREDENTIAL, &v.public, &req).expect("seal");
        let key = custody.decryption_key(&v.kid).await.expect("key");
        open_credential(env.as_bytes(), key.as_ref(), &binding).await.expect("open after reopen");
    }
    // Rotation continues the numbering.
    let v3 = custody.rotate("trader", RoleKeyType::EcdhP256).await.expect("rotate");
    assert_eq!(v3.kid, "trader-v3");
    // Mutations leave no temporary files behind.
    let mut names: Vec<_> = fs::read_dir(d.path())
        .expect("ls")
        .map(|e| e.expect("entry").file_name().into_string().expect("utf8"))
        .collect();
    names.sort();
    assert_eq!(names, ["keyring", "keyring.bak"]);
}

#[tokio::test]
async fn key_file_round_trip() {
    let d = dir();
    let kf = d.path().join("master.key");
    let master = MasterKey::generate_key_file(&kf).expect("generate key file");
    assert_eq!(fs::metadata(&kf).expect("stat").permissions().mode() & 0o777, 0o600);
    let text = fs::read_to_string(&kf).expect("read");
    assert_eq!(text.trim_end().len(), 44, "32 bytes in base64");
    assert!(matches!(MasterKey::generate_key_file(&kf), Err(CustodyError::Config(_))), "never overwrites");
    assert_eq!(fs::read_to_string(&kf).expect("read"), text);

    let path = keyring(&d);
    let custody = LocalCustody::init(&path, master).expect("init");
    assert_eq!(fs::metadata(&path).expect("stat").permissions().mode() & 0o777, 0o600);
    let v = custody.rotate("r", RoleKeyType::EcdhP256).await.expect("rotate");
    drop(custody);
    let custody = LocalCustody::open(&path, MasterKey::from_key_file(&kf).expect("key file")).expect("open");
    assert_eq!(custody.keys().await.expect("keys")[0].kid, v.kid);

    // Another key file: wrong key. A passphrase: wrong kind, said clearly.
    let other = d.path().join("other.key");
    MasterKey::generate_key_file(&other).expect("generate");
    assert!(is_unlock(&LocalCustody::open(&path, MasterKey::from_key_file(&other).expect("key file"))));
    let m = config_msg(LocalCustody::open(&path, cheap(PASSPHRASE)));
    assert!(m.contains("key file"), "{m}");

    // A malformed key file says what it must hold.
    let bad = d.path().join("bad.key");
    fs::write(&bad, "not base64\n").expect("write");
    fs::set_permissions(&bad, fs::Permissions::from_mode(0o600)).expect("chmod");
    let m = match MasterKey::from_key_file(&bad) {
        Err(CustodyError::Config(m)) => m,
        other => panic!("expected Config, got {other:?}"),
    };
    assert!(m.contains("32 random bytes in base64"), "{m}");
}

#[tokio::test]
async fn wrong_passphrase_is_unlock() {
    let d = dir();
    LocalCustody::init(&keyring(&d), cheap(PASSPHRASE)).expect("init");
    let r = LocalCustody::open(&keyring(&d), cheap("Correct horse battery staple"));
    assert!(is_unlock(&r), "{r:?}");
    // The recorded parameters are used, not the caller's.
    LocalCustody::open(&keyring(&d), MasterKey::from_passphrase(SecretString::from(PASSPHRASE)))
        .expect("open with default params object");
}

#[tokio::test]
async fn any_flipped_byte_is_refused() {
    let d = dir();
    let path = keyring(&d);
    let custody = LocalCustody::init(&path, cheap(PASSPHRASE)).expect("init");
    custody.rotate("r", RoleKeyType::EcdhP256).await.expect("rotate");
    drop(custody);
    let good = fs::read(&path).expect("read");
    const HEADER_LEN: usize = 78;
    for i in 0..good.len() {
        let mut bad = good.clone();
        bad[i] ^= 0x01;
        fs::write(&path, &bad).expect("write");
        let r = LocalCustody::open(&path, cheap(PASSPHRASE));
        assert!(r.is_err(), "flipped byte {i} accepted");
        // Salt, key check, nonce and ciphertext: an unlock failure. (Magic,
        // version and length may say so more specifically.)
        if (30..74).contains(&i) || i >= HEADER_LEN {
            assert!(is_unlock(&r), "byte {i}: {r:?}");
        }
    }
    fs::write(&path, &good).expect("restore");
    LocalCustody::open(&path, cheap(PASSPHRASE)).expect("the original still opens");
}

#[tokio::test]
async fn truncated_keyring_is_explained_and_bak_opens() {
    let d = dir();
    let path = keyring(&d);
    let custody = LocalCustody::init(&path, cheap(PASSPHRASE)).expect("init");
    let v1 = custody.rotate("r", RoleKeyType::EcdhP256).await.expect("rotate");
    custody.rotate("r", RoleKeyType::EcdhP256).await.expect("rotate");
    drop(custody);
    let full = fs::read(&path).expect("read");
    for len in [0, 10, 77, 78, full.len() / 2, full.len() - 1] {
        fs::write(&path, &full[..len]).expect("truncate");
        let m = config_msg(LocalCustody::open(&path, cheap(PASSPHRASE)));
        assert!(m.contains("truncated") && m.contains(".bak"), "{len}: {m}");
    }
    // The previous keyring (before the last rotation) is intact.
    let bak = d.path().join("keyring.bak");
    let old = LocalCustody::open(&bak, cheap(PASSPHRASE)).expect("open .bak");
    let kids: Vec<_> = old.keys().await.expect("keys").into_iter().map(|k| k.kid).collect();
    assert_eq!(kids, [v1.kid]);
}

#[tokio::test]
async fn loose_permissions_are_refused_with_the_fix() {
    let d = dir();
    let path = keyring(&d);
    LocalCustody::init(&path, cheap(PASSPHRASE)).expect("init");
    for mode in [0o640, 0o604, 0o660, 0o644] {
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("chmod");
        let m = config_msg(LocalCustody::open(&path, cheap(PASSPHRASE)));
        assert!(m.contains(&format!("chmod 600 {}", path.display())), "{m}");
    }
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");
    LocalCustody::open(&path, cheap(PASSPHRASE)).expect("0600 opens");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o400)).expect("chmod");
    LocalCustody::open(&path, cheap(PASSPHRASE)).expect("0400 opens");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");

    // A directory others can write to.
    fs::set_permissions(d.path(), fs::Permissions::from_mode(0o777)).expect("chmod dir");
    let m = config_msg(LocalCustody::open(&path, cheap(PASSPHRASE)));
    assert!(m.contains(&format!("chmod o-rw {}", d.path().display())), "{m}");
    let m = config_msg(LocalCustody::init(&d.path().join("new"), cheap(PASSPHRASE)));
    assert!(m.contains("chmod o-rw"), "{m}");
    // A directory others can list (0755) is refused too.
    fs::set_permissions(d.path(), fs::Permissions::from_mode(0o755)).expect("chmod dir");
    let m = config_msg(LocalCustody::open(&path, cheap(PASSPHRASE)));
    assert!(m.contains("readable or writable by others"), "{m}");
    fs::set_permissions(d.path(), fs::Permissions::from_mode(0o750)).expect("chmod dir");
    LocalCustody::open(&path, cheap(PASSPHRASE)).expect("0750 directory opens");
    fs::set_permissions(d.path(), fs::Permissions::from_mode(0o700)).expect("chmod dir");
    // ssh's StrictModes: a group-writable directory (the group could swap the keyring).
    fs::set_permissions(d.path(), fs::Permissions::from_mode(0o770)).expect("chmod dir");
    let m = config_msg(LocalCustody::open(&path, cheap(PASSPHRASE)));
    assert!(m.contains("writable by group or others") && m.contains("chmod go-w"), "{m}");
    fs::set_permissions(d.path(), fs::Permissions::from_mode(0o700)).expect("chmod dir");
    // A keyring, or a key file, owned by another user (only root can make one here).
    if rustix_is_root() {
        std::os::unix::fs::chown(&path, Some(4242), None).expect("chown");
        let m = config_msg(LocalCustody::open(&path, cheap(PASSPHRASE)));
        assert!(m.contains("owned by uid 4242"), "{m}");
        std::os::unix::fs::chown(&path, Some(0), None).expect("chown back");
        let kf = d.path().join("other.key");
        MasterKey::generate_key_file(&kf).expect("generate");
        std::os::unix::fs::chown(&kf, Some(4242), None).expect("chown");
        match MasterKey::from_key_file(&kf) {
            Err(CustodyError::Config(m)) => assert!(m.contains("owned by uid 4242"), "{m}"),
            other => panic!("expected Config, got {other:?}"),
        }
    } else {
        eprintln!("NOTE: not root: the other-owner checks of StrictModes are covered in sealgate-hardening only");
    }

    // A key file readable by the group.
    let kf = d.path().join("master.key");
    MasterKey::generate_key_file(&kf).expect("generate");
    fs::set_permissions(&kf, fs::Permissions::from_mode(0o640)).expect("chmod");
    let m = match MasterKey::from_key_file(&kf) {
        Err(CustodyError::Config(m)) => m,
        other => panic!("expected Config, got {other:?}"),
    };
    assert!(m.contains(&format!("chmod 600 {}", kf.display())), "{m}");

    // A symlinked keyring (it is replaced by rename).
    let link = d.path().join("link");
    std::os::unix::fs::symlink(&path, &link).expect("symlink");
    let m = config_msg(LocalCustody::open(&link, cheap(PASSPHRASE)));
    assert!(m.contains("symbolic link"), "{m}");
}

#[tokio::test]
async fn init_refuses_to_overwrite() {
    let d = dir();
    let path = keyring(&d);
    let custody = LocalCustody::init(&path, cheap(PASSPHRASE)).expect("init");
    custody.rotate("r", RoleKeyType::EcdhP256).await.expect("rotate");
    let before = fs::read(&path).expect("read");
    let m = config_msg(LocalCustody::init(&path, cheap(PASSPHRASE)));
    assert!(m.contains("already exists"), "{m}");
    assert_eq!(fs::read(&path).expect("read"), before);
    // Nor an empty passphrase.
    let m = config_msg(LocalCustody::init(&d.path().join("k2"), cheap("")));
    assert!(m.contains("empty"), "{m}");
}

#[tokio::test]
async fn another_writer_is_not_overwritten() {
    let d = dir();
    let path = keyring(&d);
    let a = LocalCustody::init(&path, cheap(PASSPHRASE)).expect("init");
    let b = LocalCustody::open(&path, cheap(PASSPHRASE)).expect("open");
    a.rotate("r", RoleKeyType::EcdhP256).await.expect("rotate in a");
    let r = b.rotate("r", RoleKeyType::EcdhP256).await;
    assert!(matches!(&r, Err(CustodyError::Config(m)) if m.contains("changed by another process")), "{r:?}");
    // b's memory is unchanged by the refused write.
    assert!(b.keys().await.expect("keys").is_empty());
}

/// A private key with a known `d`, its base64url text and raw bytes.
fn known_key() -> (Vec<u8>, String, Vec<u8>) {
    use base64::Engine as _;
    let key = LocalKey::generate_ec(Curve::P256, "canary").expect("generate");
    let jwk = key.to_private_json().expect("export");
    let v: serde_json::Value = serde_json::from_str(&jwk).expect("json");
    let d = v["d"].as_str().expect("d").to_owned();
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&d).expect("b64");
    (jwk.as_bytes().to_vec(), d, raw)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn canary_private_key_never_leaks() {
    let d = dir();
    let path = keyring(&d);
    let (jwk, d_b64, d_raw) = known_key();
    let custody = LocalCustody::init(&path, cheap(PASSPHRASE)).expect("init");
    let info = custody.import_jwk("canary", &jwk).expect("import");
    assert_eq!(info.kid, "canary-v1");
    assert_eq!(info.public.kid(), Some("canary-v1"));
    custody.rotate("canary", RoleKeyType::EcdhP256).await.expect("rotate");

    // The imported key opens through the custody under its new kid.
    let (req, binding) = request("canary", "c9");
    let (env, _) = seal_credential(CREDENTIAL, &info.public, &req).expect("seal");
    let handle = custody.decryption_key(&info.kid).await.expect("handle");
    open_credential(env.as_bytes(), handle.as_ref(), &binding).await.expect("open imported");

    let mut seen = String::new();
    seen += &format!("{custody:?} {info:?} {:?}", custody.keys().await);
    seen += &format!("{:?}", cheap(PASSPHRASE));
    seen += &format!("{:?}", LocalCustody::open(&path, cheap("wrong")));
    custody.set_status(&info.kid, KeyStatus::Disabled).await.expect("disable");
    let e = open_credential(env.as_bytes(), handle.as_ref(), &binding).await.expect_err("disabled");
    seen += &format!("{e} {e:?}");
    let e = custody.decryption_key(&info.kid).await.err().expect("disabled");
    seen += &format!("{e} {e:?}");
    seen += &format!("{:?}", custody.import_jwk("canary", b"{\"kty\":\"EC\",\"d\":\"x\"}"));
    drop(custody);
    let reopened = LocalCustody::open(&path, cheap(PASSPHRASE)).expect("reopen");
    seen += &format!("{reopened:?}");
    assert!(!seen.contains(&d_b64), "d in Debug/error output");
    assert!(!seen.contains(PASSPHRASE), "passphrase in Debug/error output");

    for f in ["keyring", "keyring.bak"] {
        let bytes = fs::read(d.path().join(f)).expect("read");
        assert!(!contains(&bytes, d_b64.as_bytes()), "d (base64url) in {f}");
        assert!(!contains(&bytes, &d_raw), "d (raw) in {f}");
        assert!(!contains(&bytes, PASSPHRASE.as_bytes()), "passphrase in {f}");
        assert!(!contains(&bytes, b"\"d\""), "a JWK in {f}");
    }
}

/// The keyring's buffers are locked wherever the kernel lets this process
/// lock them: with CAP_IPC_LOCK (root, as in CI) or an unlimited
/// `RLIMIT_MEMLOCK`. Under a finite limit locking is best effort (other
/// tests of this binary lock pages in parallel), and then a "locked" answer
/// must at least be backed by locked pages.
#[tokio::test]
async fn memory_is_locked_where_it_can_be() {
    use sealgate_testkit::privileges::{CAP_IPC_LOCK, has_capability, memlock_unlimited, status_kb};
    let d = dir();
    let must_lock = has_capability(CAP_IPC_LOCK) || memlock_unlimited();
    let check = |custody: &LocalCustody, when: &str| {
        let locked = custody.memory_locked();
        assert!(locked || !must_lock, "{when}: the keyring's memory could be locked here but is not");
        if locked {
            let vmlck = status_kb(std::process::id(), "VmLck:").expect("VmLck");
            assert!(vmlck > 0, "{when}: memory_locked() is true but the kernel shows VmLck {vmlck} kB");
        }
    };
    let custody = LocalCustody::init(&keyring(&d), cheap(PASSPHRASE)).expect("init");
    check(&custody, "created");
    drop(custody);
    check(&LocalCustody::open(&keyring(&d), cheap(PASSPHRASE)).expect("open"), "reopened");
}

fn rustix_is_root() -> bool {
    std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0).unwrap_or(false)
}
