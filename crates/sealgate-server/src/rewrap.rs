//! Re-wrap (`sealgate keys rewrap`) and key status changes that keep envelopes safe
//! (`sealgate keys set-status`).
//!
//! **Re-wrap.** Every envelope sealed to a role's old version is opened through the custody
//! (where it runs: the only place an envelope opens) and sealed again to the role's active
//! version with the same protected binding (`sub`, `cid`, `exch`, `aud`, `scope`, `iat`,
//! `hint`; only `kid` changes). A batch, at most [`MAX_BATCH`] envelopes, goes:
//! 1. claimed ([`Store::claim_rewrap`]: on PostgreSQL its rows are locked and other
//!    re-wrap processes skip them; on SQLite read);
//! 2. each envelope opened and sealed again, in parallel on `workers` tasks (while the
//!    batch before it goes through 3 and 4: crypto and store overlap); the plaintext
//!    lives in a zeroizing buffer (in locked memory when the process is hardened) and is
//!    wiped as soon as the new envelope is made; it is never printed;
//! 3. one audit record `rewrapped` listing the old envelopes' content digests as revoked
//!    (as a re-seal does: a database writer who puts an old row back is refused by every
//!    signer) with a SHA-256 over the batch's old and new digests and the count — written
//!    *before* any row changes, so no envelope is ever replaced without its record;
//! 4. the rows replaced in one transaction, each only if it still holds the JWE read in 1.
//!
//! Killed at any point and started again: a batch whose transaction did not commit is
//! still on the old version and is done again (new ciphertext, a new record); one that
//! committed is not on the old version any more, so it is not read again. Every envelope
//! thus ends with exactly one live version. When the first pass is through, the process
//! starts over, waiting for rows other re-wrap processes hold (or held when they were
//! killed), until only envelopes it could not re-wrap are left. Between 3 and 4 (a few milliseconds, or until
//! the re-wrap is run again when it was killed there) a signer refuses the batch's
//! envelopes as revoked: the safe side.
//!
//! **Grants.** A credential whose exchange key was born in the custody has no envelope but
//! a root-signed grant per role (`sealgate_custody::grant`); where the exchange needs a
//! passphrase beside the key (Bitget), the grant carries it sealed to the role like an
//! envelope. After the envelopes, each such grant whose passphrase is sealed to the old
//! version is checked (the root's signature, and the row's owner, credential, exchange,
//! role and key: a grant the root did not sign is never re-signed), its passphrase
//! re-wrapped as an envelope is, and the grant signed again by the root with only the sealed
//! passphrase changed (same `iat`, same owner approval, which names no passphrase). The old
//! grant's digest is revoked in the batch's record, as an old envelope's is.
//!
//! The record lists each old digest, and a record's detail is at most 4096 bytes
//! ([`sealgate_audit::MAX_DETAIL`]): hence at most [`MAX_BATCH`] envelopes per batch.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lc_rs::digest;
use sealgate_audit::{Action, Hash};
use sealgate_custody::grant::{self, Grant};
use sealgate_custody::{Custody, KeyInfo, KeyStatus};
use sealgate_envelope::{AlgPolicy, Binding, Credential, Jwe, PublicJwk, SealRequest, check_binding, seal_credential};
use sealgate_store::{RewrapRow, Rewrapped, Store};
use serde_json::json;

use crate::audit::{AuditEvent, AuditLog};
use crate::revocation::{REVOKED_MEMBER, revoked_member};

/// The audit action of one re-wrapped batch.
pub const REWRAPPED: &str = "rewrapped";
/// The audit action of a key status change.
pub const KEY_STATUS: &str = "key_status";
/// Most envelopes per batch: the record's detail lists each old digest (67 bytes each)
/// within the chain's 4096-byte detail.
pub const MAX_BATCH: u32 = 48;
/// Passes over the old version before giving up on rows other processes hold.
const MAX_PASSES: u32 = 600;

/// Why a re-wrap or a status change was refused or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RewrapError {
    /// Bad input: an unknown version, another role's, the active one, a retired one…
    #[error("{0}")]
    Refused(String),
    /// The custody failed (detail in the source).
    #[error("custody: {0}")]
    Custody(#[from] sealgate_custody::CustodyError),
    /// The store failed.
    #[error("database: {0}")]
    Store(#[from] sealgate_store::StoreError),
    /// The audit record could not be written: nothing of its batch was replaced.
    #[error("audit: {0}")]
    Audit(#[from] crate::audit::AuditWriteError),
}

/// What to re-wrap.
#[derive(Debug, Clone)]
pub struct RewrapOptions {
    /// The role.
    pub role: String,
    /// The version to move away from.
    pub from: String,
    /// Envelopes per batch (1..=[`MAX_BATCH`]).
    pub batch: u32,
    /// Parallel open/seal tasks.
    pub workers: usize,
    /// Who acts, for the audit records (`operator:…`).
    pub actor: String,
}

/// Progress, after each batch.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Envelopes on the old version when the run began.
    pub total: u64,
    /// Replaced by this process so far.
    pub rewrapped: u64,
    /// Seen but not replaced (another process or a revoke changed it first, or it failed).
    pub skipped: u64,
}

/// One envelope that could not be re-wrapped (no secret in it: ids and a fixed reason).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Failure {
    /// Owner.
    pub owner: String,
    /// Credential.
    pub credential_id: String,
    /// Role.
    pub role: String,
    /// Why.
    pub reason: &'static str,
}

/// The outcome of a run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RewrapSummary {
    /// The role.
    pub role: String,
    /// The old version.
    pub from: String,
    /// The version sealed to.
    pub to: String,
    /// Envelopes on `from` when the run began.
    pub found: u64,
    /// Replaced by this run.
    pub rewrapped: u64,
    /// Replaced by someone else first (compare-and-set lost), so left alone.
    pub lost_race: u64,
    /// Envelopes that did not open or seal (listed, at most 20).
    pub failed: u64,
    /// The first failures.
    pub failures: Vec<Failure>,
    /// Batches (audit records) written.
    pub batches: u64,
    /// Envelopes still sealed to `from` at the end (0 unless failures or new arrivals).
    pub left: u64,
    /// Wall time, ms.
    pub elapsed_ms: u64,
    /// Envelopes per second.
    pub rate_per_sec: f64,
    /// Mean time per envelope opening (custody + content decryption), µs of one task.
    pub open_us: f64,
    /// Mean time per sealing, µs of one task.
    pub seal_us: f64,
    /// Mean store + audit time per envelope (claim, record, replace), µs of wall time.
    pub store_us: f64,
}

fn refused(msg: impl Into<String>) -> RewrapError {
    RewrapError::Refused(msg.into())
}

/// The role's versions, `from` checked against `role`; returns (from, the active target).
async fn plan(custody: &dyn Custody, store: &Store, role: &str, from: &str) -> Result<(KeyInfo, KeyInfo), RewrapError> {
    let keys = custody.keys().await?;
    let Some(old) = keys.iter().find(|k| k.kid == from).cloned() else {
        return Err(refused(format!("no key version {from:?} in this custody (see `sealgate keys list`)")));
    };
    if old.role != role {
        return Err(refused(format!("key version {from:?} belongs to role {:?}, not {role:?}", old.role)));
    }
    let Some(target) = keys.iter().find(|k| k.role == role && k.status == KeyStatus::Active).cloned() else {
        return Err(refused(format!("role {role:?} has no active version: run `sealgate keys rotate --role {role}`")));
    };
    if target.kid == old.kid {
        return Err(refused(format!(
            "{from:?} is the active version of {role:?}: rotate first (`sealgate keys rotate --role {role}`), then re-wrap from it"
        )));
    }
    if !old.status.can_open() {
        return Err(refused(format!(
            "{from:?} is {}: it opens nothing, so its envelopes cannot be re-wrapped (set it decrypt-only first if it may open)",
            old.status
        )));
    }
    if store.disabled_keys().await?.contains(&target.kid) {
        return Err(refused(format!("the active version {:?} is disabled: rotate to a new one first", target.kid)));
    }
    Ok((old, target))
}

struct Done {
    row: RewrapRow,
    new_jwe: String,
    old_digest: Hash,
    new_digest: Hash,
    open_ns: u64,
    seal_ns: u64,
}

/// Opens one envelope and seals it again to `to`, with the same binding. The plaintext is
/// a zeroizing buffer dropped before this returns.
async fn rewrap_one(
    row: RewrapRow,
    key: &dyn sealgate_envelope::DecryptionKey,
    to: &PublicJwk,
) -> Result<Done, (RewrapRow, &'static str)> {
    let started = Instant::now();
    let Ok(jwe) = Jwe::parse(row.jwe.as_bytes(), &AlgPolicy::CREDENTIAL) else {
        return Err((row, "the stored envelope does not parse"));
    };
    // The row says whose it is: the envelope must say the same (rule C3), or it is not re-wrapped.
    let binding = Binding {
        sub: row.owner.clone(),
        cid: row.credential_id.clone(),
        exch: row.exchange.clone(),
        aud: row.role.clone(),
        now: None,
    };
    let Ok(header) = check_binding(&jwe, Some(&row.kid), &binding) else {
        return Err((row, "the envelope's binding differs from its row"));
    };
    let Ok(plain) = jwe.open(key).await else { return Err((row, "the envelope did not open")) };
    match Credential::from_json(plain.expose_secret()).and_then(|c| c.hint()) {
        Ok(hint) if hint == header.hint => {}
        _ => return Err((row, "the opened content is not a valid credential")),
    }
    let opened = Instant::now();
    let req = SealRequest {
        sub: header.sub.clone(),
        cid: header.cid.clone(),
        exch: header.exch.clone(),
        aud: header.aud.clone(),
        scope: header.scope.clone(),
        iat: header.iat,
        own: header.own.clone(),
    };
    let sealed = seal_credential(plain.expose_secret(), to, &req);
    drop(plain);
    let Ok((new_jwe, new_header)) = sealed else { return Err((row, "sealing to the new version failed")) };
    // Only the kid may change.
    let same = new_header.sub == header.sub
        && new_header.cid == header.cid
        && new_header.exch == header.exch
        && new_header.aud == header.aud
        && new_header.scope == header.scope
        && new_header.iat == header.iat
        && new_header.hint == header.hint
        && new_header.own == header.own;
    if !same {
        return Err((row, "the new envelope's binding differs"));
    }
    let Ok(new_parsed) = Jwe::parse(new_jwe.as_bytes(), &AlgPolicy::CREDENTIAL) else {
        return Err((row, "the new envelope does not parse"));
    };
    let done = Instant::now();
    Ok(Done {
        old_digest: Hash(jwe.content_digest()),
        new_digest: Hash(new_parsed.content_digest()),
        new_jwe,
        row,
        open_ns: u64::try_from((opened - started).as_nanos()).unwrap_or(u64::MAX),
        seal_ns: u64::try_from((done - opened).as_nanos()).unwrap_or(u64::MAX),
    })
}

/// SHA-256 over the batch's (old, new) digest pairs, in order, and the count.
pub fn batch_digest(pairs: &[(Hash, Hash)]) -> Hash {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(b"sealgate-rewrap-batch-v1");
    ctx.update(&(pairs.len() as u64).to_be_bytes());
    for (old, new) in pairs {
        ctx.update(&old.0);
        ctx.update(&new.0);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    Hash(out)
}

/// Re-wraps every envelope sealed to `opts.from` (see the module docs). `progress` is called
/// after each batch.
pub async fn rewrap(
    store: &Store,
    custody: Arc<dyn Custody>,
    audit: &AuditLog,
    opts: &RewrapOptions,
    mut progress: impl FnMut(Progress),
) -> Result<RewrapSummary, RewrapError> {
    if opts.batch == 0 || opts.batch > MAX_BATCH {
        return Err(refused(format!("--batch must be 1 to {MAX_BATCH}")));
    }
    let workers = opts.workers.clamp(1, 64);
    let started = Instant::now();
    let (old, target) = plan(custody.as_ref(), store, &opts.role, &opts.from).await?;
    let key = custody.decryption_key(&old.kid).await?;
    let found = sealed_to(store, &old.role, &old.kid).await?;
    let mut s = RewrapSummary {
        role: opts.role.clone(),
        from: old.kid.clone(),
        to: target.kid.clone(),
        found,
        rewrapped: 0,
        lost_race: 0,
        failed: 0,
        failures: Vec::new(),
        batches: 0,
        left: 0,
        elapsed_ms: 0,
        rate_per_sec: 0.0,
        open_us: 0.0,
        seal_us: 0.0,
        store_us: 0.0,
    };
    let mut st = State {
        s: &mut s,
        failed: std::collections::HashSet::new(),
        open_ns: 0,
        seal_ns: 0,
        store: Duration::ZERO,
        done: 0,
        progressed: false,
    };
    let mut cursor: Option<(String, String, String)> = None;
    // Pass 1 skips rows other processes hold; later passes start over and wait for them (a
    // process killed mid-batch releases its rows, which are then done here).
    let mut pass = 1u32;
    // The batch whose open/seal runs on the workers while the one before it is recorded
    // and written: crypto and store overlap.
    let mut pending: Option<Pending> = None;
    let ctx = Ctx { audit, opts, from: &old.kid, to: &target.kid, found };
    loop {
        let after = cursor.as_ref().map(|(o, c, r)| (o.as_str(), c.as_str(), r.as_str()));
        let claimed = Instant::now();
        let claim = store.claim_rewrap(&old.kid, after, opts.batch, pass > 1).await?;
        st.store += claimed.elapsed();
        let Some(last) = claim.rows.last() else {
            drop(claim);
            if let Some(p) = pending.take() {
                st.write(&ctx, p, &mut progress).await?;
            }
            let left = store.envelopes_on_kid(&old.kid).await?;
            if left <= st.failed.len() as u64 || pass >= MAX_PASSES {
                break;
            }
            if !st.progressed {
                // Others still hold rows: give them time rather than spin.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            (pass, st.progressed, cursor) = (pass + 1, false, None);
            continue;
        };
        cursor = Some((last.owner.clone(), last.credential_id.clone(), last.role.clone()));

        // Open and seal on `workers` tasks, each a contiguous share of the batch.
        let rows: Vec<RewrapRow> = claim
            .rows
            .iter()
            .filter(|r| !st.failed.contains(&(r.owner.clone(), r.credential_id.clone(), r.role.clone())))
            .cloned()
            .collect();
        let per = rows.len().div_ceil(workers).max(1);
        let mut tasks = Vec::new();
        let mut rest = rows;
        while !rest.is_empty() {
            let tail = rest.split_off(per.min(rest.len()));
            let share = std::mem::replace(&mut rest, tail);
            let (key, to) = (key.clone(), target.public.clone());
            tasks.push(tokio::spawn(async move {
                let mut out = Vec::with_capacity(share.len());
                for row in share {
                    out.push(rewrap_one(row, key.as_ref(), &to).await);
                }
                out
            }));
        }
        if let Some(p) = pending.replace(Pending { claim, tasks }) {
            st.write(&ctx, p, &mut progress).await?;
        }
    }
    rewrap_grants(store, custody.as_ref(), key.as_ref(), &target.public, &ctx, &mut st, &mut progress).await?;
    let (open_ns, seal_ns, store_wall, done_count) = (st.open_ns, st.seal_ns, st.store, st.done);
    s.left = sealed_to(store, &old.role, &old.kid).await?;
    let elapsed = started.elapsed();
    s.elapsed_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
    s.rate_per_sec = if elapsed.as_secs_f64() > 0.0 { s.rewrapped as f64 / elapsed.as_secs_f64() } else { 0.0 };
    if done_count > 0 {
        let n = done_count as f64;
        s.open_us = open_ns as f64 / n / 1e3;
        s.seal_us = seal_ns as f64 / n / 1e3;
        s.store_us = store_wall.as_secs_f64() * 1e6 / n;
    }
    Ok(s)
}

/// The key version a stored grant's sealed passphrase is sealed to, if it carries one
/// (read without checking the grant: only to find what to re-wrap or count).
fn sealed_kid(grant_text: &str) -> Option<String> {
    let sealed = grant::claimed(grant_text)?.get("sealed")?.as_str()?.to_owned();
    let jwe = Jwe::parse(sealed.as_bytes(), &AlgPolicy::CREDENTIAL).ok()?;
    jwe.protected_header().get("kid")?.as_str().map(str::to_owned)
}

/// How much is still sealed to version `kid` of `role`: its envelopes, and the grants whose
/// passphrase is sealed to it. A version with any is not retired.
pub async fn sealed_to(store: &Store, role: &str, kid: &str) -> Result<u64, RewrapError> {
    let mut n = store.envelopes_on_kid(kid).await?;
    let mut after: Option<(String, String, String)> = None;
    loop {
        let a = after.as_ref().map(|(o, c, r)| (o.as_str(), c.as_str(), r.as_str()));
        let claim = store.claim_held_grants(role, a, 500).await?;
        let Some(last) = claim.rows.last() else { return Ok(n) };
        after = Some((last.owner.clone(), last.credential_id.clone(), last.role.clone()));
        n += claim.rows.iter().filter(|r| sealed_kid(&r.jwe).as_deref() == Some(kid)).count() as u64;
    }
}

/// One grant re-signed: its row, the new grant, and both digests (as a revocation names them).
struct GrantDone {
    row: RewrapRow,
    new_jws: String,
    old_digest: Hash,
    new_digest: Hash,
}

/// Checks a stored grant (the root's, and its row's), re-wraps the passphrase it carries
/// sealed to `from` and has the root sign the grant again with only that changed.
async fn rewrap_grant(
    row: &RewrapRow,
    custody: &dyn Custody,
    pin: &str,
    from: &str,
    key: &dyn sealgate_envelope::DecryptionKey,
    to: &PublicJwk,
) -> Result<GrantDone, &'static str> {
    let now = crate::now_ms() / 1000;
    let g = Grant::verify(&row.jwe, pin, now).map_err(|_| "the stored grant is not the custody root's")?;
    let binding = Binding {
        sub: row.owner.clone(),
        cid: row.credential_id.clone(),
        exch: row.exchange.clone(),
        aud: row.role.clone(),
        now: None,
    };
    if g.check_binding(&binding).is_err() || g.key != row.kid {
        return Err("the grant's binding differs from its row");
    }
    let sealed = g.sealed.clone().ok_or("the grant carries nothing sealed")?;
    let inner = RewrapRow { kid: from.to_owned(), jwe: sealed, ..row.clone() };
    let done = rewrap_one(inner, key, to).await.map_err(|(_, why)| why)?;
    let new_jws = Grant { sealed: Some(done.new_jwe), ..g }
        .sign(custody)
        .await
        .map_err(|_| "the custody root did not sign the new grant")?;
    Ok(GrantDone {
        row: row.clone(),
        old_digest: Hash(grant::digest(&row.jwe)),
        new_digest: Hash(grant::digest(&new_jws)),
        new_jws,
    })
}

/// The grants of `ctx`'s role whose passphrase is sealed to `ctx.from`, re-signed in
/// batches (see the module docs): each batch's record first, then its rows, each only if it
/// still holds the grant read.
async fn rewrap_grants(
    store: &Store,
    custody: &dyn Custody,
    key: &dyn sealgate_envelope::DecryptionKey,
    to: &PublicJwk,
    ctx: &Ctx<'_>,
    st: &mut State<'_>,
    progress: &mut impl FnMut(Progress),
) -> Result<(), RewrapError> {
    let pin = sealgate_custody::keyset::thumbprint(&custody.root_public().await?)?;
    let mut after: Option<(String, String, String)> = None;
    loop {
        let a = after.as_ref().map(|(o, c, r)| (o.as_str(), c.as_str(), r.as_str()));
        let claim = store.claim_held_grants(&ctx.opts.role, a, ctx.opts.batch).await?;
        let Some(last) = claim.rows.last() else { return Ok(()) };
        after = Some((last.owner.clone(), last.credential_id.clone(), last.role.clone()));
        let mut done = Vec::new();
        for row in claim.rows.iter().filter(|r| sealed_kid(&r.jwe).as_deref() == Some(ctx.from)) {
            match rewrap_grant(row, custody, &pin, ctx.from, key, to).await {
                Ok(d) => done.push(d),
                Err(reason) => st.fail(row.clone(), reason),
            }
        }
        if done.is_empty() {
            continue;
        }
        let started = Instant::now();
        let pairs: Vec<(Hash, Hash)> = done.iter().map(|d| (d.old_digest, d.new_digest)).collect();
        let replacements: Vec<Rewrapped<'_>> =
            done.iter().map(|d| Rewrapped { old: &d.row, new_kid: &d.row.kid, new_jwe: &d.new_jws }).collect();
        st.commit(ctx, claim, &pairs, &replacements, started, progress).await?;
    }
}

type Outcome = Result<Done, (RewrapRow, &'static str)>;

/// A claimed batch and its open/seal tasks.
struct Pending {
    claim: sealgate_store::RewrapClaim,
    tasks: Vec<tokio::task::JoinHandle<Vec<Outcome>>>,
}

/// What every batch's write needs.
struct Ctx<'a> {
    audit: &'a AuditLog,
    opts: &'a RewrapOptions,
    from: &'a str,
    to: &'a str,
    found: u64,
}

/// A run's counters.
struct State<'a> {
    s: &'a mut RewrapSummary,
    /// Rows that failed here: not tried again in later passes.
    failed: std::collections::HashSet<(String, String, String)>,
    open_ns: u64,
    seal_ns: u64,
    /// Wall time in the store and the audit (claims, records, replacements).
    store: Duration,
    done: u64,
    progressed: bool,
}

impl State<'_> {
    /// Waits for a batch's open/seal, records it, then replaces its rows.
    async fn write(
        &mut self,
        ctx: &Ctx<'_>,
        p: Pending,
        progress: &mut impl FnMut(Progress),
    ) -> Result<(), RewrapError> {
        let mut done = Vec::new();
        for t in p.tasks {
            let results = t.await.map_err(|_| refused("a re-wrap task panicked"))?;
            for r in results {
                match r {
                    Ok(d) => done.push(d),
                    Err((row, reason)) => self.fail(row, reason),
                }
            }
        }
        if done.is_empty() {
            return Ok(());
        }
        for d in &done {
            self.open_ns = self.open_ns.saturating_add(d.open_ns);
            self.seal_ns = self.seal_ns.saturating_add(d.seal_ns);
        }
        self.done += done.len() as u64;
        let started = Instant::now();
        let pairs: Vec<(Hash, Hash)> = done.iter().map(|d| (d.old_digest, d.new_digest)).collect();
        let replacements: Vec<Rewrapped<'_>> =
            done.iter().map(|d| Rewrapped { old: &d.row, new_kid: ctx.to, new_jwe: &d.new_jwe }).collect();
        self.commit(ctx, p.claim, &pairs, &replacements, started, progress).await
    }

    /// A row not re-wrapped: counted, listed (the first 20) and not tried again.
    fn fail(&mut self, row: RewrapRow, reason: &'static str) {
        self.s.failed += 1;
        self.failed.insert((row.owner.clone(), row.credential_id.clone(), row.role.clone()));
        tracing::warn!(owner = %row.owner, credential = %row.credential_id, role = %row.role, reason, "not re-wrapped");
        if self.s.failures.len() < 20 {
            self.s.failures.push(Failure {
                owner: row.owner,
                credential_id: row.credential_id,
                role: row.role,
                reason,
            });
        }
    }

    /// Records a batch (its old digests revoked), then replaces its rows.
    async fn commit(
        &mut self,
        ctx: &Ctx<'_>,
        claim: sealgate_store::RewrapClaim,
        pairs: &[(Hash, Hash)],
        replacements: &[Rewrapped<'_>],
        started: Instant,
        progress: &mut impl FnMut(Progress),
    ) -> Result<(), RewrapError> {
        // The record first: no envelope or grant is replaced without its old digest revoked.
        let mut detail = json!({
            "role": ctx.opts.role,
            "from": ctx.from,
            "to": ctx.to,
            "count": pairs.len(),
            "batch_digest": batch_digest(pairs).to_string(),
        });
        detail[REVOKED_MEMBER] = revoked_member(pairs.iter().map(|p| p.0));
        ctx.audit
            .record(AuditEvent::new(
                ctx.opts.actor.clone(),
                Action::Other(REWRAPPED.parse_other()?),
                ctx.from.to_owned(),
                detail,
            ))
            .await?;
        self.s.batches += 1;
        let n = claim.finish(replacements).await?;
        self.store += started.elapsed();
        self.progressed |= n > 0;
        self.s.rewrapped += n;
        self.s.lost_race += replacements.len() as u64 - n;
        progress(Progress { total: ctx.found, rewrapped: self.s.rewrapped, skipped: self.s.lost_race + self.s.failed });
        Ok(())
    }
}

trait ParseOther {
    fn parse_other(&self) -> Result<sealgate_audit::OtherAction, RewrapError>;
}

impl ParseOther for str {
    fn parse_other(&self) -> Result<sealgate_audit::OtherAction, RewrapError> {
        match self.parse::<Action>() {
            Ok(Action::Other(o)) => Ok(o),
            _ => Err(refused("internal: not an other action")),
        }
    }
}

/// Changes a version's status, safely (`sealgate keys set-status`):
/// - `retired` is refused while any envelope is sealed to it (the count and the re-wrap
///   command are in the message), and for the role's active version;
/// - `disabled` is written to the store too: every signer reads the list on its
///   revalidation clock and refuses to open through it (an audited denial);
/// - `active` or `decrypt-only` lift a disabled mark.
///
/// Each change is an audit record [`KEY_STATUS`].
pub async fn set_key_status(
    store: &Store,
    custody: &dyn Custody,
    audit: &AuditLog,
    actor: &str,
    kid: &str,
    status: KeyStatus,
) -> Result<(), RewrapError> {
    let keys = custody.keys().await?;
    let Some(k) = keys.iter().find(|k| k.kid == kid) else {
        return Err(refused(format!("no key version {kid:?} in this custody (see `sealgate keys list`)")));
    };
    if status == KeyStatus::Retired {
        if k.status == KeyStatus::Active {
            return Err(refused(format!(
                "{kid:?} is the active version of {:?}: rotate first (`sealgate keys rotate --role {}`)",
                k.role, k.role
            )));
        }
        let n = sealed_to(store, &k.role, kid).await?;
        if n > 0 {
            return Err(refused(format!(
                "{n} envelope(s) or grant passphrase(s) are still sealed to {kid:?}: run `sealgate keys rewrap --role {} --from {kid} --custody FILE --database URL` first",
                k.role
            )));
        }
    }
    if status == KeyStatus::Disabled {
        // The store first: signers stop even if the custody change below fails.
        store.set_key_disabled(kid, true).await?;
    }
    custody.set_status(kid, status).await?;
    if status.can_open() {
        store.set_key_disabled(kid, false).await?;
    }
    if status == KeyStatus::Retired {
        match store.retire_recipient_key(kid).await {
            Ok(()) | Err(sealgate_store::StoreError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    audit
        .record(AuditEvent::new(
            actor.to_owned(),
            Action::Other(KEY_STATUS.parse_other()?),
            kid.to_owned(),
            json!({"role": k.role, "from": k.status.name(), "status": status.name()}),
        ))
        .await?;
    Ok(())
}
