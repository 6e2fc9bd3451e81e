//! Credentials whose exchange key was born in the custody (DESIGN §1.1): no private key
//! is ever in this process's memory. (Only what an exchange needs beside the key, Bitget's
//! passphrase, is sealed by the owner and opened here, as a sealed credential is.)
//!
//! In place of an envelope each role has a *grant* ([`sealgate_custody::grant`]) signed by
//! the custody's root key, stored where the envelope would be (its `kid` column holds the
//! custody key id). The signer checks it on every open exactly as it checks an envelope's
//! binding: root signature, owner, credential, exchange, role, a key that is still in the
//! custody with the public key the grant names, and a digest the audit chain has not
//! revoked. The classes come from the grant, never from the row, so a database writer
//! cannot add a role or a class, point a credential at another key, or bring back a
//! revoked grant. The signature itself is asked of the custody
//! (`sealgate_exchanges::sign_with_held_key`).
//!
//! Creation is two steps, because the exchange names the key only after it has seen the
//! public key: [`Signer::create_held_key`] makes the key and returns *pending* grants (no
//! API key id: they sign nothing), which the api hands back to the owner;
//! [`Signer::activate_held_key`] takes them back with the API key id the exchange showed,
//! checks them, and signs the grants the credential is stored with. The pending grants are
//! the proof that the key was made for this owner, credential and roles, so the api keeps
//! no state between the steps and a key cannot be bound by anyone else.

use sealgate_authority::StatementKind;
use sealgate_custody::grant::{self, Grant};
use sealgate_custody::{CustodyError, ExchangeKeyInfo, ExchangeKeyType};
use sealgate_envelope::OwnerKeys;
use sealgate_exchanges::{HeldKey, HeldKeyAlg};

use super::*;

/// The action recorded when the custody makes an exchange key.
pub const EXCHANGE_KEY_CREATED: &str = "exchange_key_created";
/// The action recorded when the custody destroys an exchange key.
pub const EXCHANGE_KEY_DESTROYED: &str = "exchange_key_destroyed";

/// How long pending grants activate: a key made and not activated within this is abandoned.
pub const PENDING_LIFE_SECS: u64 = 24 * 3600;
/// How long after that the sweep destroys it (an activation that began in time has ended).
pub const SWEEP_GRACE_SECS: u64 = 3600;
/// Births the sweep looks at per pass.
const SWEEP_BATCH: u32 = 200;

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Abandoned keys destroyed.
    pub destroyed: u64,
    /// Keys found active (their grants stored) or already gone: no longer watched.
    pub settled: u64,
}

/// The held key of an opened entry. It signs only through the custody
/// ([`Signer::sign_ready`] asks it with [`sealgate_exchanges::sign_with_held_key`]); asked
/// directly (a probe), it refuses.
struct CustodyKey(HeldKeyAlg);

impl HeldKey for CustodyKey {
    fn alg(&self) -> HeldKeyAlg {
        self.0
    }
    fn sign(&self, _message: &[u8]) -> Result<Vec<u8>, sealgate_exchanges::Error> {
        Err(sealgate_exchanges::Error::BadRequest("a custody key signs only through the custody"))
    }
}

/// The exchanges' name of a custody key type's signature.
pub fn alg_of(t: ExchangeKeyType) -> HeldKeyAlg {
    match t {
        ExchangeKeyType::Ed25519 => HeldKeyAlg::Ed25519,
        ExchangeKeyType::Rsa2048 => HeldKeyAlg::RsaPkcs1Sha256,
    }
}

/// The key types exchange `id` takes as a self-generated key, strongest first; empty when
/// it takes none.
pub fn key_types_for(id: &str) -> Vec<ExchangeKeyType> {
    sealgate_exchanges::held_key_algs(id)
        .iter()
        .filter_map(|a| ExchangeKeyType::ALL.into_iter().find(|t| alg_of(*t) == *a))
        .collect()
}

/// Whether exchange `id` also needs a passphrase beside the key (Bitget): the owner seals
/// it to each role, and it travels inside the grant ([`Grant::sealed`]).
pub fn needs_passphrase(id: &str) -> bool {
    sealgate_exchanges::scheme(id).is_ok_and(|s| s.plaintext_header.is_some())
}

/// What the owner asks for: a key made in the custody for one credential.
#[derive(Debug, Clone)]
pub struct NewHeldKey {
    /// The owner.
    pub owner: OwnerId,
    /// The credential id the owner's client made.
    pub cid: CredentialId,
    /// The exchange.
    pub exchange: String,
    /// The key type (one the exchange takes: [`key_types_for`]).
    pub key_type: ExchangeKeyType,
    /// The roles that may use it, each at most once.
    pub roles: Vec<Role>,
    /// The classes granted.
    pub scope: Scope,
    /// The owner's authority keys, when the owner has any.
    pub own: Option<OwnerKeys>,
}

/// A key just made: its public half and the pending grants (one per role).
#[derive(Debug, Clone)]
pub struct BornKey {
    /// The key.
    pub key: ExchangeKeyInfo,
    /// Pending grants, in the order of the roles asked.
    pub pending: Vec<String>,
}

/// A credential's grants, ready to store: what they say (the first one's words; they
/// differ only in `aud`) and each role's grant.
#[derive(Debug, Clone)]
pub struct ActiveGrants {
    /// What the grants say.
    pub grant: Grant,
    /// (role, compact grant), one per role.
    pub grants: Vec<(Role, String)>,
}

fn custody_refused(what: &str, e: &CustodyError) -> SignerCallError {
    tracing::warn!(error = %e, "custody: {what}");
    match e {
        CustodyError::Backend { .. } => SignerCallError::Unavailable("the key custody is unavailable".into()),
        _ => SignerCallError::Denied(format!("the key custody refused to {what}")),
    }
}

/// Whether the owner approved `g`'s terms with one of the keys its `own` names, as of
/// `at` (Unix seconds): an assertion over a `grant` statement (AUTHORITY.md S6) naming this
/// owner, credential, exchange, classes, key and API key id, and `g`'s role among its roles;
/// the roles it names, or why not.
fn owner_approved(g: &Grant, at: u64) -> Result<Vec<String>, String> {
    let Some(own) = &g.own else { return Ok(Vec::new()) };
    let approval = g.approval.as_ref().ok_or("the owner's passkey did not approve this grant")?;
    let a = crate::owner_ledger::check_approval(approval, &g.sub, &g.cid, at).map_err(|e| e.to_string())?;
    if !own.thumbprints().contains(&a.thumbprint) {
        return Err("the approving passkey is not one the grant names".into());
    }
    let StatementKind::Grant(t) = a.statement.kind() else {
        return Err("the owner's statement is not a grant".into());
    };
    let scope: Vec<&str> = g.scope.classes().iter().map(|c| c.name()).collect();
    let same = t.exch() == g.exch
        && t.scope().iter().map(String::as_str).eq(scope.iter().copied())
        && t.key() == g.spk
        && Some(t.api_key()) == g.api_key.as_deref()
        && t.roles().iter().any(|r| r == g.aud.name());
    if !same {
        return Err("the owner approved other terms than this grant's".into());
    }
    Ok(t.roles().to_vec())
}

/// One of this module's action names as an [`Action`].
fn other_action(name: &str) -> Result<Action, SignerCallError> {
    name.parse().map_err(|_| SignerCallError::Unavailable(format!("internal: {name} is not an action name")))
}

impl Signer {
    /// The RFC 7638 thumbprint of the custody's root key, which every grant must be signed by.
    async fn root_pin(&self) -> Result<String, SignerCallError> {
        self.root_pin
            .get_or_try_init(|| async {
                let jwk = self.custody.root_public().await.map_err(|e| custody_refused("name its root key", &e))?;
                sealgate_custody::keyset::thumbprint(&jwk).map_err(|e| custody_refused("name its root key", &e))
            })
            .await
            .cloned()
    }

    /// The custody's key `id`, if it holds one.
    async fn held_key_info(&self, id: &str) -> Result<Option<ExchangeKeyInfo>, SignerCallError> {
        self.custody.exchange_key(id).await.map_err(|e| custody_refused("read an exchange key", &e))
    }

    /// Step 1: make the key in the custody and sign one pending grant per role. The key's
    /// birth is on the record (as the owner's act: the api asks on the owner's behalf)
    /// before the public key leaves.
    pub async fn create_held_key(&self, req: &NewHeldKey) -> Result<BornKey, SignerCallError> {
        if !key_types_for(&req.exchange).contains(&req.key_type) {
            return Err(SignerCallError::BadRequest(format!(
                "{} does not take {} keys it did not make (it takes: {})",
                req.exchange,
                req.key_type,
                key_types_for(&req.exchange).iter().map(|t| t.name()).collect::<Vec<_>>().join(", ")
            )));
        }
        let mut roles = req.roles.clone();
        roles.sort();
        roles.dedup();
        if roles.is_empty() || roles.len() != req.roles.len() || roles.contains(&Role::Agent) {
            return Err(SignerCallError::BadRequest("name the importer and/or trader role, each once".into()));
        }
        let key =
            self.custody.create_exchange_key(req.key_type).await.map_err(|e| custody_refused("make a key", &e))?;
        let now = crate::now_ms() / 1000;
        let mut pending = Vec::with_capacity(req.roles.len());
        for role in &req.roles {
            let g = Grant {
                sub: req.owner.as_str().to_owned(),
                cid: req.cid.as_str().to_owned(),
                exch: req.exchange.clone(),
                aud: *role,
                scope: req.scope.clone(),
                key: key.id.clone(),
                key_type: key.key_type,
                spk: grant::spki_digest(&key.public_spki),
                api_key: None,
                own: req.own.clone(),
                sealed: None,
                approval: None,
                iat: now,
            };
            match g.sign(self.custody.as_ref()).await {
                Ok(jws) => pending.push(jws),
                Err(e) => {
                    let _ = self.custody.destroy_exchange_key(&key.id).await;
                    return Err(custody_refused("sign a grant", &e));
                }
            }
        }
        let detail = json!({
            "exchange": req.exchange,
            "key": key.id,
            "key_type": key.key_type.name(),
            "spk": grant::spki_digest(&key.public_spki),
            "roles": req.roles.iter().map(|r| r.name()).collect::<Vec<_>>(),
            "scope": req.scope.classes().iter().map(|c| c.name()).collect::<Vec<_>>(),
        });
        let action = other_action(EXCHANGE_KEY_CREATED)?;
        let event = AuditEvent::new(format!("user:{}", req.owner.as_str()), action, req.cid.as_str(), detail)
            .owner(req.owner.as_str());
        // Noted as born here (what the sweep walks), then on the record: no key without both.
        let born_ms = i64::try_from(crate::now_ms()).unwrap_or(i64::MAX);
        let noted = self.store.record_held_key_birth(&key.id, req.owner.as_str(), req.cid.as_str(), born_ms).await;
        if let Err(e) = noted {
            let _ = self.custody.destroy_exchange_key(&key.id).await;
            return Err(store_err(e));
        }
        if let Err(e) = self.record(event).await {
            let _ = self.custody.destroy_exchange_key(&key.id).await;
            let _ = self.store.forget_held_key_birth(&key.id).await;
            return Err(e);
        }
        Ok(BornKey { key, pending })
    }

    /// The pending grants `owner` was given, checked: root-signed, `owner`'s, pending, of
    /// one key that is still in the custody, each role once; what they say (with `api_key`
    /// in place) and their roles, in the order given.
    async fn check_pending(
        &self,
        owner: &str,
        pending: &[String],
        api_key: Option<&str>,
    ) -> Result<(Grant, Vec<Role>), SignerCallError> {
        if let Some(k) = api_key {
            grant::check_api_key(k).map_err(|e| SignerCallError::BadRequest(e.to_string()))?;
        }
        let pin = self.root_pin().await?;
        let now = crate::now_ms() / 1000;
        let mut first: Option<Grant> = None;
        let mut roles = Vec::new();
        for text in pending {
            let g = Grant::verify(text, &pin, now).map_err(|e| SignerCallError::BadRequest(e.to_string()))?;
            if g.sub != owner {
                return Err(SignerCallError::BadRequest("these grants were made for another owner".into()));
            }
            if g.api_key.is_some() {
                return Err(SignerCallError::BadRequest(
                    "a grant is already active; only pending grants activate".into(),
                ));
            }
            if let Some(f) = &first {
                let same = Grant { aud: f.aud, ..g.clone() } == *f;
                if !same {
                    return Err(SignerCallError::BadRequest("the pending grants are not of one key".into()));
                }
            }
            if roles.contains(&g.aud) {
                return Err(SignerCallError::BadRequest("a role is named twice".into()));
            }
            roles.push(g.aud);
            first.get_or_insert(g);
        }
        let Some(mut g) = first else {
            return Err(SignerCallError::BadRequest("no pending grant".into()));
        };
        // A key not activated within its day is the sweep's ([`Signer::sweep_held_keys`]):
        // never activated after it (discarding stays possible).
        if api_key.is_some() && now > g.iat.saturating_add(PENDING_LIFE_SECS) {
            return Err(SignerCallError::BadRequest(
                "these pending grants are more than 24 hours old: discard the key and make a new one".into(),
            ));
        }
        // The key must still be the one the grants were made for: a destroyed key (its
        // credential deleted) never comes back under old grants.
        match self.held_key_info(&g.key).await? {
            Some(info) if g.names_key(&info) => {}
            _ => {
                return Err(SignerCallError::BadRequest(
                    "the key these grants name is no longer in the custody".into(),
                ));
            }
        }
        g.api_key = api_key.map(str::to_owned);
        Ok((g, roles))
    }

    /// What the owner's passkey is asked to approve before `pending` activates with
    /// `api_key` (AUTHORITY.md S6): the credential id, the terms, and the passkeys the
    /// grants name (empty: no approval is needed).
    pub async fn pending_terms(
        &self,
        owner: &str,
        pending: &[String],
        api_key: &str,
    ) -> Result<(String, sealgate_authority::GrantTerms, Vec<String>), SignerCallError> {
        let (g, mut roles) = self.check_pending(owner, pending, Some(api_key)).await?;
        roles.sort();
        let roles: Vec<&str> = roles.iter().map(|r| r.name()).collect();
        let scope: Vec<&str> = g.scope.classes().iter().map(|c| c.name()).collect();
        let terms = sealgate_authority::GrantTerms::new(&g.exch, &roles, &scope, &g.spk, api_key)
            .map_err(|e| SignerCallError::BadRequest(e.to_string()))?;
        let own = g.own.as_ref().map(|o| o.thumbprints().to_vec()).unwrap_or_default();
        Ok((g.cid, terms, own))
    }

    /// Step 2: check `pending` (the grants [`Self::create_held_key`] gave `owner`) and sign
    /// the grants the credential is stored with, naming the exchange's `api_key`.
    pub async fn activate_held_key(
        &self,
        owner: &str,
        pending: &[String],
        api_key: &str,
        approval: Option<Value>,
        sealed: Option<Vec<(Role, String)>>,
    ) -> Result<ActiveGrants, SignerCallError> {
        let (mut g, roles) = self.check_pending(owner, pending, Some(api_key)).await?;
        let now = crate::now_ms() / 1000;
        // What the exchange needs beside the key, sealed by the owner to each role.
        let sealed = match (needs_passphrase(&g.exch), sealed) {
            (false, None) => Vec::new(),
            (false, Some(_)) => {
                return Err(SignerCallError::BadRequest("this exchange needs nothing sealed beside the key".into()));
            }
            (true, None) => {
                return Err(SignerCallError::BadRequest(
                    "this exchange also needs the key's passphrase: seal {\"api_key\", \"passphrase\"} to each role"
                        .into(),
                ));
            }
            (true, Some(list)) => {
                let mut out = Vec::with_capacity(roles.len());
                for role in &roles {
                    let mut mine = list.iter().filter(|(r, _)| r == role);
                    let (Some((_, jwe)), None) = (mine.next(), mine.next()) else {
                        return Err(SignerCallError::BadRequest(format!(
                            "seal the passphrase once to each role, {} included",
                            role.name()
                        )));
                    };
                    let probe =
                        Grant { aud: *role, sealed: Some(jwe.clone()), api_key: Some(api_key.to_owned()), ..g.clone() };
                    self.open_sealed(&probe, now).await.map_err(|e| SignerCallError::BadRequest(bounded(&e)))?;
                    out.push((*role, jwe.clone()));
                }
                if list.len() != roles.len() {
                    return Err(SignerCallError::BadRequest(
                        "a passphrase is sealed to a role these grants do not name".into(),
                    ));
                }
                out
            }
        };
        g.iat = now;
        // Where the owner named passkeys, one of them approves exactly these terms.
        match (&g.own, approval) {
            (None, None) => {}
            (None, Some(_)) => {
                return Err(SignerCallError::BadRequest("these grants name no passkey: no approval is needed".into()));
            }
            (Some(_), None) => {
                return Err(SignerCallError::Denied(
                    "the owner's passkey must approve this key's grant (POST /v1/custody-keys/approval)".into(),
                ));
            }
            (Some(_), Some(a)) => {
                g.approval = Some(a);
                let approved = owner_approved(&g, now).map_err(|e| SignerCallError::Denied(bounded(&e)))?;
                let asked: Vec<&str> = roles.iter().map(|r| r.name()).collect();
                let mut approved: Vec<&str> = approved.iter().map(String::as_str).collect();
                approved.sort_unstable();
                let mut asked_sorted = asked.clone();
                asked_sorted.sort_unstable();
                if approved != asked_sorted {
                    return Err(SignerCallError::Denied("the owner approved other roles than these grants'".into()));
                }
            }
        }
        let mut grants = Vec::with_capacity(roles.len());
        for role in roles {
            let sealed = sealed.iter().find(|(r, _)| *r == role).map(|(_, j)| j.clone());
            let jws = Grant { aud: role, sealed, ..g.clone() }
                .sign(self.custody.as_ref())
                .await
                .map_err(|e| custody_refused("sign a grant", &e))?;
            grants.push((role, jws));
        }
        Ok(ActiveGrants { grant: g, grants })
    }

    /// Destroys the key `pending` (grants `owner` was given and never activated) name: the
    /// owner abandoned it. A key whose credential is stored is refused (delete that).
    pub async fn discard_held_key(&self, owner: &str, pending: &[String]) -> Result<String, SignerCallError> {
        let (g, _) = self.check_pending(owner, pending, None).await?;
        let stored = self.store.owner_envelopes(owner, &g.cid).await.map_err(store_err)?;
        if stored.iter().any(|e| e.kid == g.key) {
            return Err(SignerCallError::BadRequest("this key is active: delete its credential instead".into()));
        }
        self.custody.destroy_exchange_key(&g.key).await.map_err(|e| custody_refused("destroy the key", &e))?;
        let detail = json!({"exchange": g.exch, "key": g.key, "discarded": true});
        let event =
            AuditEvent::new(format!("user:{owner}"), other_action(EXCHANGE_KEY_DESTROYED)?, g.cid.as_str(), detail);
        self.record(event.owner(owner)).await?;
        Ok(g.key)
    }

    /// Destroys the custody key `grants` name, once its credential is gone: each grant must
    /// be the root's, `owner`'s, and revoked in the audit chain (its deletion on the
    /// record), and the credential must have no row left.
    pub async fn destroy_held_key(&self, owner: &str, grants: &[String]) -> Result<String, SignerCallError> {
        let pin = self.root_pin().await?;
        let now = crate::now_ms() / 1000;
        let mut key: Option<Grant> = None;
        self.revocations.kick();
        self.follow_revocations().await?;
        for text in grants {
            let g = Grant::verify(text, &pin, now).map_err(|e| SignerCallError::BadRequest(e.to_string()))?;
            if g.sub != owner || key.as_ref().is_some_and(|k| k.key != g.key) {
                return Err(SignerCallError::BadRequest("the grants are not of one key of this owner".into()));
            }
            if !self.revocations.is_revoked(&Hash(grant::digest(text))) {
                return Err(SignerCallError::Denied("a grant of this key is not revoked on the record".into()));
            }
            key.get_or_insert(g);
        }
        let Some(g) = key else { return Err(SignerCallError::BadRequest("no grant".into())) };
        // The credential's own rows must be gone (a row elsewhere naming the key is a
        // copy, refused at every use: it does not keep the key alive).
        if !self.store.owner_envelopes(owner, &g.cid).await.map_err(store_err)?.is_empty() {
            return Err(SignerCallError::Denied("the credential still has grants stored".into()));
        }
        self.custody.destroy_exchange_key(&g.key).await.map_err(|e| custody_refused("destroy the key", &e))?;
        let action = other_action(EXCHANGE_KEY_DESTROYED)?;
        let detail = json!({"exchange": g.exch, "key": g.key});
        self.record(AuditEvent::new(format!("user:{owner}"), action, g.cid.as_str(), detail).owner(owner)).await?;
        Ok(g.key)
    }

    /// Destroys the keys this deployment made that were never activated: made more than
    /// [`PENDING_LIFE_SECS`] + [`SWEEP_GRACE_SECS`] before `now_ms`, and with no grant
    /// stored. Each destruction is on the record, as the owner's discard would be. A key
    /// with grants stored is active (its credential's deletion destroys it); one no longer
    /// in the custody is gone: both are forgotten. Several signers may sweep at once: a key
    /// another has destroyed is gone.
    pub async fn sweep_held_keys(&self, now_ms: u64) -> Result<Swept, SignerCallError> {
        let cutoff = now_ms.saturating_sub((PENDING_LIFE_SECS + SWEEP_GRACE_SECS) * 1000);
        let cutoff = i64::try_from(cutoff).unwrap_or(i64::MAX);
        let mut swept = Swept::default();
        loop {
            let births = self.store.held_key_births_before(cutoff, SWEEP_BATCH).await.map_err(store_err)?;
            let last = births.len() < SWEEP_BATCH as usize;
            for b in births {
                let active = self.store.envelopes_on_kid(&b.key_id).await.map_err(store_err)? > 0;
                if !active && self.held_key_info(&b.key_id).await?.is_some() {
                    self.custody
                        .destroy_exchange_key(&b.key_id)
                        .await
                        .map_err(|e| custody_refused("destroy an abandoned key", &e))?;
                    let detail = json!({"key": b.key_id, "abandoned": true, "made_ms": b.created_ms});
                    let action = other_action(EXCHANGE_KEY_DESTROYED)?;
                    let event = AuditEvent::new("service:signer", action, b.credential_id.as_str(), detail);
                    self.record(event.owner(&b.owner)).await?;
                    tracing::info!(key = %b.key_id, owner = %b.owner, credential = %b.credential_id, "abandoned exchange key destroyed");
                    swept.destroyed += 1;
                } else {
                    swept.settled += 1;
                }
                self.store.forget_held_key_birth(&b.key_id).await.map_err(store_err)?;
            }
            if last {
                return Ok(swept);
            }
        }
    }

    /// Runs [`Self::sweep_held_keys`] every `every` until `shutdown`.
    pub async fn run_held_key_sweep(
        self: Arc<Self>,
        every: std::time::Duration,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        loop {
            match self.sweep_held_keys(crate::now_ms()).await {
                Ok(s) if s.destroyed > 0 => tracing::info!(destroyed = s.destroyed, "held key sweep"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "held key sweep failed; tried again later"),
            }
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                r = shutdown.changed() => if r.is_err() || *shutdown.borrow() { break },
            }
        }
    }

    /// The passphrase `g` carries sealed to its role, opened through the custody (its
    /// binding checked first: this owner, credential, exchange and role; the API key id
    /// sealed with it is the grant's); `None` where it carries none; why not.
    async fn open_sealed(&self, g: &Grant, now: u64) -> Result<Option<SecretString>, String> {
        let Some(text) = &g.sealed else { return Ok(None) };
        let jwe = Jwe::parse(text.as_bytes(), &AlgPolicy::CREDENTIAL).map_err(|e| format!("sealed passphrase: {e}"))?;
        let binding = Binding {
            sub: g.sub.clone(),
            cid: g.cid.clone(),
            exch: g.exch.clone(),
            aud: g.aud.name().into(),
            now: Some(now),
        };
        let header = check_binding(&jwe, None, &binding).map_err(|e| format!("sealed passphrase: {e}"))?;
        if self.is_disabled(&header.kid) {
            return Err("the sealed passphrase's recipient key version is disabled".into());
        }
        let dk = self.custody.decryption_key(&header.kid).await.map_err(|e| {
            tracing::warn!(kid = %header.kid, error = %e, "custody refused the key");
            "the sealed passphrase's recipient key is not usable".to_owned()
        })?;
        let opened = open_credential(text.as_bytes(), dk.as_ref(), &binding)
            .await
            .map_err(|e| format!("the sealed passphrase did not open: {e}"))?;
        if opened.credential.get("api_key").map(|k| k.expose_secret()) != g.api_key.as_deref() {
            return Err("the sealed passphrase is for another API key id".into());
        }
        let passphrase = opened.credential.get("passphrase").ok_or("nothing named passphrase is sealed")?;
        Ok(Some(SecretString::from(passphrase.expose_secret().to_owned())))
    }

    /// [`Signer::prepare`]'s open for a stored grant (`env.jwe`): checked as an envelope is,
    /// then cached with a held key in place of a secret.
    pub(super) async fn prepare_held(
        &self,
        role: Role,
        call: &ForwardCall,
        op: Op,
        kill: bool,
        row: sealgate_store::Credential,
        env: sealgate_store::Envelope,
    ) -> Result<Ready, SignerCallError> {
        let key = (call.owner.clone(), call.credential_id.clone(), role);
        let cid = call.credential_id.as_str();
        let now = crate::now_ms();
        let digest = Hash(grant::digest(&env.jwe));
        if self.revocations.is_revoked(&digest) {
            lock(&self.cache).remove(&key);
            tracing::error!(owner = %row.owner, credential = cid, role = role.name(), grant = %digest, "{RESTORED_REASON}: refused");
            let e = SignerCallError::Denied(format!("{RESTORED_REASON}: the owner revoked this grant"));
            return Err(self.refuse_envelope(role, call, &row, RESTORED_REASON, Some(&digest), e).await);
        }
        let pin = self.root_pin().await?;
        let binding = Binding {
            sub: row.owner.clone(),
            cid: row.id.clone(),
            exch: row.exchange.clone(),
            aud: role.name().into(),
            now: None,
        };
        let checked = Grant::verify(&env.jwe, &pin, now / 1000)
            .and_then(|g| g.check_binding(&binding).map(|()| g))
            .and_then(|g| match g.key == env.kid {
                true => Ok(g),
                false => Err(CustodyError::Grant("the stored key id is not the grant's")),
            })
            .and_then(|g| match g.api_key.is_some() {
                true => Ok(g),
                false => Err(CustodyError::Grant("it is pending (no API key id): it signs nothing")),
            })
            .map_err(|e| e.to_string())
            .and_then(|g| owner_approved(&g, g.iat).map(|_| g).map_err(|e| format!("exchange key grant refused: {e}")));
        let g = match checked {
            Ok(g) => g,
            Err(e) => {
                tracing::warn!(credential = cid, error = %e, "grant refused");
                let reason = bounded(&e);
                let err = SignerCallError::Denied(reason.clone());
                return Err(self.refuse_envelope(role, call, &row, &reason, Some(&digest), err).await);
            }
        };
        self.check_sign(op, role, &row.exchange, &row.owner, call).await?;
        let limits = self.store.credential_limits(&row.owner, cid).await.map_err(store_err)?;
        let mut policy = policy_of(g.scope.clone(), row.status, limits.as_ref())?;
        if let Some(own) = &g.own {
            policy = match self.owner_policy(policy, &row.owner, cid, own.thumbprints()).await {
                Ok(p) => p,
                Err(reason) => {
                    lock(&self.cache).remove(&key);
                    let err = SignerCallError::Denied(reason.clone());
                    return Err(self.refuse_envelope(role, call, &row, &reason, Some(&digest), err).await);
                }
            };
        }
        let own = g.own.as_ref().map(|o| o.thumbprints());
        let whose = Whose { exchange: &row.exchange, owner: &row.owner, own };
        let (class, request) = self.decide(role, kill, &policy, whose, call).await?;
        if let Some(entry) = self.reconfirm(&key, &digest, now, &policy) {
            return Ok(Ready { entry, class, request });
        }
        // The key must be in the custody with the public key the grant names.
        match self.held_key_info(&g.key).await? {
            Some(info) if g.names_key(&info) => {}
            _ => {
                let reason = "the grant's key is not in the custody";
                let err = SignerCallError::Denied(reason.into());
                return Err(self.refuse_envelope(role, call, &row, reason, Some(&digest), err).await);
            }
        }
        let passphrase = match self.open_sealed(&g, now / 1000).await {
            Ok(p) => p,
            Err(reason) => {
                let reason = bounded(&reason);
                let err = SignerCallError::Denied(reason.clone());
                return Err(self.refuse_envelope(role, call, &row, &reason, Some(&digest), err).await);
            }
        };
        let credential = sealgate_exchanges::Credential {
            api_key: g.api_key.clone().map(SecretString::from),
            passphrase,
            held_key: Some(Arc::new(CustodyKey(alg_of(g.key_type)))),
            ..Default::default()
        };
        // Nothing is unsealed, but the first use of the grant is on the record like an open.
        self.record(
            AuditEvent::new(
                format!("role:{}", role.name()),
                Action::Unsealed,
                cid,
                json!({"exchange": row.exchange, "role": role.name(), "kid": g.key, "held_key": true}),
            )
            .owner(&row.owner),
        )
        .await?;
        let entry = Arc::new(Entry {
            credential,
            exchange: row.exchange,
            owner: row.owner,
            envelope_digest: digest,
            kid: g.key.clone(),
            opened: Instant::now(),
            checked_ms: AtomicU64::new(now),
            policy: Mutex::new(policy),
            own: g.own.as_ref().map(|o| o.thumbprints().to_vec()),
            held: Some(g.key),
        });
        self.cache_insert(key, entry.clone());
        Ok(Ready { entry, class, request })
    }

    /// [`Signer::sign_ready`] for a held key: the exchange's scheme says what to sign, the
    /// custody signs it, and the signature is placed only on the bytes it signed.
    pub(super) async fn sign_held(
        &self,
        ready: &Ready,
        key_id: &str,
        req: &Request,
        clock: &FixedClock,
    ) -> Result<SignedRequest, SignerCallError> {
        let entry = &ready.entry;
        let alg = entry.credential.held_key.as_ref().map_or(HeldKeyAlg::Ed25519, |k| k.alg());
        let api_key = entry.credential.api_key.as_ref().map(|k| k.expose_secret().to_owned());
        let passphrase =
            entry.credential.passphrase.as_ref().map(|p| zeroize::Zeroizing::new(p.expose_secret().to_owned()));
        let probe = NonceProbe::default();
        let ctx = sealgate_exchanges::Context { clock, nonce: &probe };
        let failed: Mutex<Option<CustodyError>> = Mutex::new(None);
        let signed = sealgate_exchanges::sign_with_held_key(
            &entry.exchange,
            alg,
            |k| sealgate_exchanges::Credential {
                api_key: api_key.clone().map(SecretString::from),
                passphrase: passphrase.as_ref().map(|p| SecretString::from(p.as_str().to_owned())),
                held_key: Some(k),
                ..Default::default()
            },
            req,
            &ctx,
            |message| async {
                let m = message;
                self.custody.exchange_sign(key_id, &m).await.map_err(|e| {
                    *lock(&failed) = Some(e);
                    sealgate_exchanges::Error::Crypto
                })
            },
        )
        .await;
        if let Some(e) = lock(&failed).take() {
            return Err(custody_refused("sign", &e));
        }
        // The exchanges that take held keys use no nonce; one that did would need the
        // store's, which this path does not draw.
        if probe.floor().is_some() {
            return Err(SignerCallError::BadRequest(
                "this exchange's scheme needs a nonce: not with a held key".into(),
            ));
        }
        signed.map_err(|e| SignerCallError::BadRequest(e.to_string()))
    }
}
