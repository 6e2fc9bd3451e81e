//! The audit writer every role shares: events in, hash-chained records out,
//! group-committed to the store, with checkpoints signed by the custody root.
//!
//! One background task owns the writing. Callers send an event and wait until
//! the batch holding it is committed (so "audited" means durable), and many
//! callers share one transaction: under load a batch holds hundreds of
//! records, which is what lets a signer audit every signature at request
//! rate. Several processes may write to one store: the store refuses an
//! append that does not extend the current tail, and the writer re-hashes the
//! batch against the new tail and tries again.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use sealgate_audit::{Action, Chain, Detail, Hash};
use sealgate_custody::Custody;
use sealgate_store::{AuditTail, NewAuditRecord, Store, StoredCheckpoint};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

/// Most records in one transaction.
const MAX_BATCH: usize = 2048;
/// Times the writer lets other tasks run while gathering a batch.
const GATHER_YIELDS: u32 = 3;
/// Events that may wait for the writer before senders are slowed down.
const QUEUE: usize = 65_536;

/// Something to audit.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    /// Who acted: `user:<id>`, `role:importer`, `operator`, …
    pub actor: String,
    /// What happened.
    pub action: Action,
    /// What it concerned (a credential id, …).
    pub subject: String,
    /// The user it concerns, for their own trail (also recorded in the hashed detail).
    pub owner: Option<String>,
    /// Details: a JSON object of non-secret facts.
    pub detail: Value,
}

impl AuditEvent {
    /// An event with details.
    pub fn new(actor: impl Into<String>, action: Action, subject: impl Into<String>, detail: Value) -> Self {
        Self { actor: actor.into(), action, subject: subject.into(), owner: None, detail }
    }

    /// Names the user the event concerns.
    pub fn owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = Some(owner.into());
        self
    }
}

/// Why an event was not recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditWriteError {
    /// The event itself is malformed (too large, bad actor…).
    #[error("audit event refused: {0}")]
    Invalid(String),
    /// The store failed; nothing of the batch was written.
    #[error("audit store failed: {0}")]
    Store(String),
    /// The writer has stopped.
    #[error("the audit writer has stopped")]
    Stopped,
}

/// When checkpoints are signed.
#[derive(Clone)]
pub struct CheckpointPolicy {
    /// The custody whose root key signs.
    pub custody: Arc<dyn Custody>,
    /// Sign when this many records were added since the last checkpoint.
    pub every_records: u64,
    /// And at least this often while records are added.
    pub every: Duration,
}

struct Prepared {
    actor: String,
    action: Action,
    subject: String,
    owner: Option<String>,
    detail: Detail,
}

type Reply = oneshot::Sender<Result<u64, AuditWriteError>>;

/// A handle on the audit writer (cheap to clone).
#[derive(Clone)]
pub struct AuditLog {
    tx: mpsc::Sender<(Prepared, Reply)>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditLog")
    }
}

impl AuditLog {
    /// Starts the writer on `store`. Checkpoints are signed when `checkpoints`
    /// is given (roles without custody access pass `None`; the signer signs).
    pub fn start(store: Store, checkpoints: Option<CheckpointPolicy>) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(writer(store, rx, checkpoints));
        Self { tx }
    }

    /// Records `event` and returns its sequence number once it is committed.
    pub async fn record(&self, event: AuditEvent) -> Result<u64, AuditWriteError> {
        let prepared = prepare(event)?;
        let (reply, wait) = oneshot::channel();
        self.tx.send((prepared, reply)).await.map_err(|_| AuditWriteError::Stopped)?;
        wait.await.map_err(|_| AuditWriteError::Stopped)?
    }
}

fn prepare(event: AuditEvent) -> Result<Prepared, AuditWriteError> {
    let mut detail = match event.detail {
        Value::Object(m) => m,
        Value::Null => serde_json::Map::new(),
        _ => return Err(AuditWriteError::Invalid("detail must be a JSON object".into())),
    };
    if let Some(owner) = &event.owner {
        // The owner column is an index; the hashed detail is the evidence.
        detail.insert("owner".into(), Value::String(owner.clone()));
    }
    let detail = Detail::new(&Value::Object(detail)).map_err(|e| AuditWriteError::Invalid(e.to_string()))?;
    // Check actor and subject the way the chain will, so one bad event cannot sink a batch.
    Chain::new()
        .append(&event.actor, event.action.clone(), &event.subject, detail.clone(), 0)
        .map_err(|e| AuditWriteError::Invalid(e.to_string()))?;
    Ok(Prepared { actor: event.actor, action: event.action, subject: event.subject, owner: event.owner, detail })
}

async fn writer(store: Store, mut rx: mpsc::Receiver<(Prepared, Reply)>, checkpoints: Option<CheckpointPolicy>) {
    let mut batch: Vec<(Prepared, Reply)> = Vec::new();
    let mut since_checkpoint = 0u64;
    let mut last_checkpoint = tokio::time::Instant::now();
    // The tail this writer last committed: the next batch is hashed against it without
    // reading it back; when another writer moved the tail, the store refuses and the
    // batch is re-hashed against the tail read from the store.
    let mut known_tail: Option<AuditTail> = None;
    let idle = checkpoints.as_ref().map_or(Duration::from_secs(3600), |p| p.every);
    loop {
        let first = match tokio::time::timeout(idle, rx.recv()).await {
            Ok(Some(first)) => first,
            Ok(None) => break,
            Err(_) => {
                // Quiet for a while: seal what was written since the last checkpoint.
                if let Some(policy) = &checkpoints
                    && since_checkpoint > 0
                    && let Ok(Some(tail)) = store.audit_tail().await
                    && sign_checkpoint(&store, policy, &tail).await.is_ok()
                {
                    since_checkpoint = 0;
                    last_checkpoint = tokio::time::Instant::now();
                }
                continue;
            }
        };
        batch.push(first);
        // Gather: take what is queued, and let the runtime's other ready tasks (requests
        // about to be audited) run a few times before committing. Idle, a yield returns at
        // once; under load it fills the batch, and one commit answers more callers.
        let mut yields = 0;
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(item) => batch.push(item),
                Err(_) if yields < GATHER_YIELDS => {
                    yields += 1;
                    tokio::task::yield_now().await;
                }
                Err(_) => break,
            }
        }
        let result = commit(&store, &batch, known_tail.take()).await;
        match result {
            Ok(tail) => {
                known_tail = Some(tail.clone());
                let last = u64::try_from(tail.seq).unwrap_or(0);
                let n = batch.len() as u64;
                for (i, (_, reply)) in batch.drain(..).enumerate() {
                    let _ = reply.send(Ok(last - n + 1 + i as u64));
                }
                since_checkpoint += n;
                if let Some(policy) = &checkpoints
                    && (since_checkpoint >= policy.every_records || last_checkpoint.elapsed() >= policy.every)
                {
                    match sign_checkpoint(&store, policy, &tail).await {
                        Ok(()) => {
                            since_checkpoint = 0;
                            last_checkpoint = tokio::time::Instant::now();
                        }
                        Err(e) => tracing::warn!(error = %e, "audit checkpoint not signed; will retry"),
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %e, records = batch.len(), "audit append failed");
                for (_, reply) in batch.drain(..) {
                    let _ = reply.send(Err(AuditWriteError::Store(e.clone())));
                }
            }
        }
    }
}

async fn commit(store: &Store, batch: &[(Prepared, Reply)], known: Option<AuditTail>) -> Result<AuditTail, String> {
    let time = crate::now_ms();
    if let Some(tail) = known {
        match store.append_audit(Some(&tail), &records(batch, Some(&tail), time)).await {
            Err(sealgate_store::StoreError::AuditConflict) => {} // another writer: read the tail
            other => return other.map_err(|e| e.to_string()),
        }
    }
    store.append_audit_with(|tail| records(batch, tail, time)).await.map_err(|e| e.to_string())
}

/// The batch as records hashed against `tail`.
fn records(batch: &[(Prepared, Reply)], tail: Option<&AuditTail>, time: u64) -> Vec<NewAuditRecord> {
    let mut chain = match tail {
        Some(t) => match (u64::try_from(t.seq), Hash::from_hex(&t.hash)) {
            (Ok(seq), Some(h)) => Chain::resume(seq, h),
            // A tail we cannot read: hash against nothing; the store refuses the link.
            _ => Chain::new(),
        },
        None => Chain::new(),
    };
    batch
        .iter()
        .filter_map(|(p, _)| {
            let r = chain.append(&p.actor, p.action.clone(), &p.subject, p.detail.clone(), time).ok()?;
            Some(NewAuditRecord {
                prev_hash: r.prev_hash.to_string(),
                hash: r.hash.to_string(),
                time_ms: i64::try_from(time).unwrap_or(i64::MAX),
                actor: r.actor,
                action: r.action.as_str().to_owned(),
                subject: r.subject,
                owner: p.owner.clone(),
                detail: r.detail.canonical().to_owned(),
            })
        })
        .collect()
}

async fn sign_checkpoint(store: &Store, policy: &CheckpointPolicy, tail: &AuditTail) -> Result<(), String> {
    let seq = u64::try_from(tail.seq).map_err(|_| "negative seq".to_owned())?;
    let hash = Hash::from_hex(&tail.hash).ok_or("bad tail hash")?;
    let cp = sealgate_audit::Checkpoint { seq, hash, time: crate::now_ms() };
    let sig =
        policy.custody.root_sign(&sealgate_audit::checkpoint_signing_input(&cp)).await.map_err(|e| e.to_string())?;
    // Name the root key beside the checkpoints it signs (verifiers still pin its thumbprint).
    if store.setting(sealgate_store::AUDIT_ROOT_JWK).await.map_err(|e| e.to_string())?.is_none() {
        let root = policy.custody.root_public().await.map_err(|e| e.to_string())?;
        store.set_setting(sealgate_store::AUDIT_ROOT_JWK, &root.to_string()).await.map_err(|e| e.to_string())?;
    }
    store
        .add_audit_checkpoint(&StoredCheckpoint {
            seq: tail.seq,
            hash: tail.hash.clone(),
            time_ms: i64::try_from(cp.time).unwrap_or(i64::MAX),
            sig: B64.encode(sig),
        })
        .await
        .map_err(|e| e.to_string())
}

/// Writes the store's chain as the JSON Lines export (`sealgate-audit`
/// FORMAT.md §4): the root line (when the store names the root key), every
/// record in order, then every checkpoint. A row that cannot even be read
/// as a record is written as a line the verifier reports as malformed at
/// its position, so a damaged database is named, not skipped.
pub async fn export_store(store: &Store, out: &mut Vec<u8>) -> Result<(), String> {
    use sealgate_audit::jsonl;
    if let Some(text) = store.setting(sealgate_store::AUDIT_ROOT_JWK).await.map_err(|e| e.to_string())?
        && let Ok(jwk) = serde_json::from_str::<Value>(&text)
        && let Ok(root) = sealgate_audit::RootKey::from_jwk(&jwk)
    {
        out.extend_from_slice(jsonl::root_line(&root).as_bytes());
        out.push(b'\n');
    }
    let mut after = 0;
    loop {
        let rows = store.audit_range(after, 1000).await.map_err(|e| e.to_string())?;
        let Some(last) = rows.last() else { break };
        after = last.seq;
        for row in &rows {
            let line = match record_of(row) {
                Some(r) => jsonl::record_line(&r),
                None => format!("{{\"type\":\"record\",\"unreadable_seq\":{}}}", row.seq),
            };
            out.extend_from_slice(line.as_bytes());
            out.push(b'\n');
        }
    }
    for cp in store.audit_checkpoints().await.map_err(|e| e.to_string())? {
        let signed = (|| {
            Some(sealgate_audit::SignedCheckpoint {
                checkpoint: sealgate_audit::Checkpoint {
                    seq: u64::try_from(cp.seq).ok()?,
                    hash: Hash::from_hex(&cp.hash)?,
                    time: u64::try_from(cp.time_ms).ok()?,
                },
                sig: B64.decode(&cp.sig).ok()?,
            })
        })();
        let line = match signed {
            Some(s) => jsonl::checkpoint_line(&s),
            None => format!("{{\"type\":\"checkpoint\",\"unreadable_seq\":{}}}", cp.seq),
        };
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    Ok(())
}

fn record_of(row: &sealgate_store::AuditRecord) -> Option<sealgate_audit::Record> {
    let detail: Value = serde_json::from_str(&row.detail).ok()?;
    let r = sealgate_audit::Record {
        seq: u64::try_from(row.seq).ok()?,
        time: u64::try_from(row.time_ms).ok()?,
        actor: row.actor.clone(),
        action: row.action.parse().ok()?,
        subject: row.subject.clone(),
        detail: Detail::new(&detail).ok()?,
        prev_hash: Hash::from_hex(&row.prev_hash)?,
        hash: Hash::from_hex(&row.hash)?,
    };
    // The stored detail must be the canonical bytes the hash covered.
    (r.detail.canonical() == row.detail).then_some(r)
}

/// Verifies the store's whole chain and its checkpoints under `trust`;
/// the error names the first bad record.
pub async fn verify_store(
    store: &Store,
    trust: sealgate_audit::jsonl::Trust<'_>,
) -> Result<sealgate_audit::Summary, String> {
    let mut text = Vec::new();
    export_store(store, &mut text).await?;
    sealgate_audit::jsonl::verify_export(&text, trust).map_err(|e| e.to_string())
}
