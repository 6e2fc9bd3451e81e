//! The SQLite audit writer keeps committing while the custody root signs a checkpoint:
//! a root behind PKCS#11 or OpenBao takes milliseconds to an HTTP round trip, and every
//! signer request waits on the writer.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sealgate_audit::Action;
use sealgate_custody::local::{LocalCustody, MasterKey};
use sealgate_custody::{Custody, CustodyFuture, Exportability, KeyInfo, KeyStatus, RoleKeyType};
use sealgate_envelope::DecryptionKey;
use sealgate_server::audit::{AuditEvent, AuditLog, CheckpointPolicy};
use sealgate_store::Store;
use tokio::sync::Semaphore;

/// A local custody whose root signs only once the test opens the gate.
struct GatedRoot {
    inner: LocalCustody,
    gate: Semaphore,
    asked: AtomicUsize,
}

impl Custody for GatedRoot {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
    fn keys(&self) -> CustodyFuture<'_, Vec<KeyInfo>> {
        self.inner.keys()
    }
    fn decryption_key<'a>(&'a self, kid: &'a str) -> CustodyFuture<'a, Arc<dyn DecryptionKey>> {
        self.inner.decryption_key(kid)
    }
    fn rotate<'a>(&'a self, role: &'a str, key_type: RoleKeyType) -> CustodyFuture<'a, KeyInfo> {
        self.inner.rotate(role, key_type)
    }
    fn set_status<'a>(&'a self, kid: &'a str, status: KeyStatus) -> CustodyFuture<'a, ()> {
        self.inner.set_status(kid, status)
    }
    fn exportability<'a>(&'a self, kid: &'a str) -> CustodyFuture<'a, Exportability> {
        self.inner.exportability(kid)
    }
    fn root_public(&self) -> CustodyFuture<'_, serde_json::Value> {
        self.inner.root_public()
    }
    fn create_exchange_key(
        &self,
        key_type: sealgate_custody::ExchangeKeyType,
    ) -> CustodyFuture<'_, sealgate_custody::ExchangeKeyInfo> {
        self.inner.create_exchange_key(key_type)
    }
    fn exchange_keys(&self) -> CustodyFuture<'_, Vec<sealgate_custody::ExchangeKeyInfo>> {
        self.inner.exchange_keys()
    }
    fn exchange_sign<'a>(&'a self, id: &'a str, message: &'a [u8]) -> CustodyFuture<'a, Vec<u8>> {
        self.inner.exchange_sign(id, message)
    }
    fn destroy_exchange_key<'a>(&'a self, id: &'a str) -> CustodyFuture<'a, ()> {
        self.inner.destroy_exchange_key(id)
    }
    fn root_sign<'a>(&'a self, message: &'a [u8]) -> CustodyFuture<'a, Vec<u8>> {
        Box::pin(async move {
            self.asked.fetch_add(1, Ordering::SeqCst);
            let _pass = self.gate.acquire().await.expect("gate open");
            self.inner.root_sign(message).await
        })
    }
}

fn event(i: u32) -> AuditEvent {
    AuditEvent::new("role:trader", Action::Signed, "cred-1", serde_json::json!({ "n": i })).owner("user-1")
}

/// Polls `check` every 20 ms for up to 20 s.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..1000 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_go_on_while_the_root_signs_a_checkpoint() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o700)).expect("chmod");
    let master = MasterKey::generate_key_file(&dir.path().join("master.key")).expect("master key");
    let inner = LocalCustody::init(&dir.path().join("keyring"), master).expect("keyring");
    let custody = Arc::new(GatedRoot { inner, gate: Semaphore::new(0), asked: AtomicUsize::new(0) });
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("audit.db").display());
    let store = Store::connect(&url).await.expect("store");
    assert!(store.sqlite_audit_appender().expect("appender").is_some(), "this is the writer-thread path");
    let policy = CheckpointPolicy { custody: custody.clone(), every_records: 5, every: Duration::from_secs(600) };
    let audit = AuditLog::start(store.clone(), Some(policy));

    // Five records make a checkpoint due; its signature now waits on the gate.
    for i in 0..5 {
        audit.record(event(i)).await.expect("record");
    }
    eventually("the checkpoint to be asked for", || async { custody.asked.load(Ordering::SeqCst) >= 1 }).await;

    // A writer that waited for the root would hang here.
    let more = async {
        for i in 5..105 {
            audit.record(event(i)).await.expect("record");
        }
    };
    tokio::time::timeout(Duration::from_secs(60), more).await.expect("commits went on while the root was signing");
    assert!(store.audit_checkpoints().await.expect("checkpoints").is_empty(), "the signature is still pending");
    assert_eq!(custody.asked.load(Ordering::SeqCst), 1, "one checkpoint signature at a time");

    // Open the gate: the pending checkpoint lands, and the next one follows new records.
    custody.gate.add_permits(1_000);
    eventually("the first checkpoint", || async { !store.audit_checkpoints().await.expect("cps").is_empty() }).await;
    for i in 105..111 {
        audit.record(event(i)).await.expect("record");
    }
    eventually("a second checkpoint", || async { store.audit_checkpoints().await.expect("cps").len() >= 2 }).await;
    let cps = store.audit_checkpoints().await.expect("checkpoints");
    assert!(cps[0].seq >= 5 && cps[1].seq > cps[0].seq, "{cps:?}");

    let root = sealgate_audit::RootKey::from_jwk(&custody.root_public().await.expect("root")).expect("root key");
    let pin = root.thumbprint();
    let summary = sealgate_server::audit::verify_store(&store, sealgate_audit::jsonl::Trust::Pin(&pin))
        .await
        .expect("the chain and its checkpoints verify");
    assert_eq!(summary.records, 111);
    assert!(summary.checkpoints_verified >= 2, "{summary:?}");
    drop(audit);
    store.close().await;
}
