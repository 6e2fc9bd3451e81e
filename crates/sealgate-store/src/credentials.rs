//! Users, credentials (metadata), envelopes and recipient key versions.
//!
//! Invariant: only `envelopes.jwe` holds credential material, and only as JWE ciphertext
//! sealed by the client; the store never sees plaintext. Every user-facing method matches
//! the owner in the same statement as the row it reads or changes.
//!
//! A credential is keyed by (owner, id): its id is unique per owner only (migration 0004),
//! and every method that names a credential, service side included, names its owner too —
//! an id alone reaches nothing.

use std::fmt;

use crate::error::{Ctx, Result, StoreError, UnknownValue};
use crate::store::{BeginWrite, Store, now_ms, with_pool};

/// A user: local (embedded default) or known by the identity provider's `sub`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct User {
    /// Our user id (the envelope's `sub`).
    pub id: String,
    /// Creation time, ms since the epoch.
    pub created_ms: i64,
    /// The OIDC subject, or `None` for a local user.
    pub oidc_subject: Option<String>,
}

/// Lifecycle of a credential: the vocabulary's ([`sealgate_vocab::CredentialStatus`]),
/// stored by its spelling.
pub use sealgate_vocab::CredentialStatus;

/// Credential metadata (never the secret).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Credential {
    /// The `cid` the client made (unique per owner).
    pub id: String,
    /// The owning user's id (the envelope's `sub`).
    pub owner: String,
    /// Exchange id (the envelope's `exch`).
    pub exchange: String,
    /// The user's label.
    pub label: String,
    /// Last characters of the API key, for display.
    pub hint: String,
    /// Granted classes, comma-separated (`read,trade`).
    pub scope: String,
    /// Lifecycle state.
    #[sqlx(try_from = "String")]
    pub status: CredentialStatus,
    /// Creation time, ms since the epoch.
    pub created_ms: i64,
    /// Last use by the signer, ms since the epoch.
    pub last_used_ms: Option<i64>,
}

/// A credential to create (status starts `active`).
#[derive(Debug, Clone)]
pub struct NewCredential<'a> {
    /// The `cid` the client made: the one id rule ([`sealgate_vocab::CredentialId`]),
    /// unique per owner.
    pub id: &'a str,
    /// The owning user's id.
    pub owner: &'a str,
    /// Exchange id.
    pub exchange: &'a str,
    /// The user's label.
    pub label: &'a str,
    /// Last characters of the API key.
    pub hint: &'a str,
    /// Granted classes, comma-separated.
    pub scope: &'a str,
}

/// One sealed envelope: the JWE for one (credential, role).
#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Envelope {
    /// The credential's owner.
    pub owner: String,
    /// The credential.
    pub credential_id: String,
    /// The consumer role it is sealed to (`importer`, `trader`).
    pub role: String,
    /// The recipient key version it is sealed to.
    pub kid: String,
    /// JWE compact serialization (ciphertext).
    pub jwe: String,
    /// When it was stored, ms since the epoch.
    pub created_ms: i64,
}

impl fmt::Debug for Envelope {
    /// The JWE is ciphertext, but large and of no use in logs: only its length is shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Envelope")
            .field("owner", &self.owner)
            .field("credential_id", &self.credential_id)
            .field("role", &self.role)
            .field("kid", &self.kid)
            .field("jwe_len", &self.jwe.len())
            .field("created_ms", &self.created_ms)
            .finish()
    }
}

/// An envelope to store.
#[derive(Clone)]
pub struct NewEnvelope<'a> {
    /// The consumer role.
    pub role: &'a str,
    /// The recipient key version.
    pub kid: &'a str,
    /// JWE compact serialization.
    pub jwe: &'a str,
}

impl fmt::Debug for NewEnvelope<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewEnvelope")
            .field("role", &self.role)
            .field("kid", &self.kid)
            .field("jwe_len", &self.jwe.len())
            .finish()
    }
}

/// Which roles a credential is sealed to, and to which key versions (no ciphertext).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct EnvelopeInfo {
    /// The consumer role.
    pub role: String,
    /// The recipient key version.
    pub kid: String,
    /// When it was stored.
    pub created_ms: i64,
}

/// Status of a recipient key version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyStatus {
    /// Published; clients seal to it, the signer opens with it.
    Active,
    /// No envelope uses it any more; the signer refuses it.
    Retired,
}

impl KeyStatus {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "active",
            KeyStatus::Retired => "retired",
        }
    }
}

impl TryFrom<String> for KeyStatus {
    type Error = UnknownValue;
    fn try_from(s: String) -> std::result::Result<Self, UnknownValue> {
        match s.as_str() {
            "active" => Ok(KeyStatus::Active),
            "retired" => Ok(KeyStatus::Retired),
            _ => Err(UnknownValue("key status")),
        }
    }
}

/// A recipient key version: the public half only.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RecipientKey {
    /// Key id.
    pub kid: String,
    /// The consumer role it belongs to.
    pub role: String,
    /// Lifecycle state.
    #[sqlx(try_from = "String")]
    pub status: KeyStatus,
    /// The public JWK (JSON text).
    pub public_jwk: String,
    /// Creation time, ms since the epoch.
    pub created_ms: i64,
}

const CREDENTIAL_COLUMNS: &str = "id, owner, exchange, label, hint, scope, status, created_ms, last_used_ms";

impl Store {
    // --- users ----------------------------------------------------------------------------

    /// Creates a user; `oidc_subject` is `None` for a local user.
    pub async fn create_user(&self, id: &str, oidc_subject: Option<&str>) -> Result<User> {
        const SQL: &str = "INSERT INTO users (id, created_ms, oidc_subject) VALUES ($1, $2, $3) \
                           RETURNING id, created_ms, oidc_subject";
        let now = now_ms();
        with_pool!(self, p => sqlx::query_as::<_, User>(SQL)
            .bind(id).bind(now).bind(oidc_subject).fetch_one(p).await)
        .ctx("create user")
        .map_err(|e| if e.is_unique_violation() { StoreError::AlreadyExists { what: "user" } } else { e })
    }

    /// The user with this id.
    pub async fn user(&self, id: &str) -> Result<Option<User>> {
        const SQL: &str = "SELECT id, created_ms, oidc_subject FROM users WHERE id = $1";
        with_pool!(self, p => sqlx::query_as::<_, User>(SQL).bind(id).fetch_optional(p).await).ctx("get user")
    }

    /// The user an OIDC subject maps to, created with `new_id` on first sight (race-free:
    /// two first logins at once yield one user).
    pub async fn user_for_oidc_subject(&self, subject: &str, new_id: &str) -> Result<User> {
        const INSERT: &str = "INSERT INTO users (id, created_ms, oidc_subject) VALUES ($1, $2, $3) \
                              ON CONFLICT (oidc_subject) DO NOTHING";
        const SELECT: &str = "SELECT id, created_ms, oidc_subject FROM users WHERE oidc_subject = $1";
        let now = now_ms();
        with_pool!(self, p => sqlx::query(INSERT).bind(new_id).bind(now).bind(subject).execute(p).await.map(|_| ()))
            .ctx("create oidc user")?;
        with_pool!(self, p => sqlx::query_as::<_, User>(SELECT).bind(subject).fetch_one(p).await).ctx("get oidc user")
    }

    // --- credentials ---------------------------------------------------------------------

    /// Creates a credential and its envelopes in one transaction (status `active`).
    /// Fails with [`StoreError::AlreadyExists`] if the owner already has a credential with
    /// this id (another user's ids are no obstacle and stay invisible),
    /// [`StoreError::Invalid`] if the id breaks the one id rule, and
    /// [`StoreError::NotFound`] if the owner does not exist.
    pub async fn create_credential(
        &self,
        new: &NewCredential<'_>,
        envelopes: &[NewEnvelope<'_>],
    ) -> Result<Credential> {
        let insert_cred = format!(
            "INSERT INTO credentials ({CREDENTIAL_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, 'active', $7, NULL) RETURNING {CREDENTIAL_COLUMNS}"
        );
        const INSERT_ENV: &str = "INSERT INTO envelopes (owner, credential_id, role, kid, jwe, created_ms) \
                                  VALUES ($1, $2, $3, $4, $5, $6)";
        sealgate_vocab::CredentialId::parse(new.id)
            .map_err(|e| StoreError::Invalid { what: "credential id", reason: e.rule() })?;
        let now = now_ms();
        let result = with_pool!(self, p => async {
            let mut tx = p.begin_write().await?;
            let cred = sqlx::query_as::<_, Credential>(&insert_cred)
                .bind(new.id).bind(new.owner).bind(new.exchange).bind(new.label)
                .bind(new.hint).bind(new.scope).bind(now)
                .fetch_one(&mut *tx).await?;
            for env in envelopes {
                sqlx::query(INSERT_ENV)
                    .bind(new.owner).bind(new.id).bind(env.role).bind(env.kid).bind(env.jwe).bind(now)
                    .execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(cred)
        }.await);
        result.ctx("create credential").map_err(|e| {
            if e.is_unique_violation() {
                StoreError::AlreadyExists { what: "credential" }
            } else if e.is_foreign_key_violation() {
                StoreError::NotFound { what: "user" }
            } else {
                e
            }
        })
    }

    /// The owner's credentials that are not deleted, oldest first.
    pub async fn list_credentials(&self, owner: &str) -> Result<Vec<Credential>> {
        let sql = format!(
            "SELECT {CREDENTIAL_COLUMNS} FROM credentials \
             WHERE owner = $1 AND status <> 'deleted' ORDER BY created_ms, id"
        );
        with_pool!(self, p => sqlx::query_as::<_, Credential>(&sql).bind(owner).fetch_all(p).await)
            .ctx("list credentials")
    }

    /// One of the owner's credentials (including a deleted one, whose status says so).
    pub async fn get_credential(&self, owner: &str, id: &str) -> Result<Option<Credential>> {
        let sql = format!("SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE id = $1 AND owner = $2");
        with_pool!(self, p => sqlx::query_as::<_, Credential>(&sql).bind(id).bind(owner).fetch_optional(p).await)
            .ctx("get credential")
    }

    /// Freezes or unfreezes one of the owner's credentials (not a deleted one).
    pub async fn set_credential_status(&self, owner: &str, id: &str, status: CredentialStatus) -> Result<()> {
        if status == CredentialStatus::Deleted {
            return Err(StoreError::Invalid { what: "status", reason: "use delete_credential" });
        }
        const SQL: &str = "UPDATE credentials SET status = $3 \
                           WHERE id = $1 AND owner = $2 AND status <> 'deleted'";
        let n = with_pool!(self, p => sqlx::query(SQL).bind(id).bind(owner).bind(status.as_str())
            .execute(p).await.map(|r| r.rows_affected()))
        .ctx("set credential status")?;
        if n == 0 { Err(StoreError::NotFound { what: "credential" }) } else { Ok(()) }
    }

    /// Freezes every active credential of a user in one statement; returns how many.
    pub async fn lockdown(&self, owner: &str) -> Result<u64> {
        const SQL: &str = "UPDATE credentials SET status = 'frozen' WHERE owner = $1 AND status = 'active'";
        with_pool!(self, p => sqlx::query(SQL).bind(owner).execute(p).await.map(|r| r.rows_affected())).ctx("lockdown")
    }

    /// Deletes one of the owner's credentials: destroys all its envelopes and marks the
    /// row `deleted` (kept for the audit trail), in one transaction.
    pub async fn delete_credential(&self, owner: &str, id: &str) -> Result<()> {
        const MARK: &str = "UPDATE credentials SET status = 'deleted' \
                            WHERE id = $1 AND owner = $2 AND status <> 'deleted'";
        const DROP_ENV: &str = "DELETE FROM envelopes WHERE credential_id = $1 AND owner = $2";
        let n = with_pool!(self, p => async {
            let mut tx = p.begin_write().await?;
            let n = sqlx::query(MARK).bind(id).bind(owner).execute(&mut *tx).await?.rows_affected();
            if n > 0 {
                sqlx::query(DROP_ENV).bind(id).bind(owner).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(n)
        }.await)
        .ctx("delete credential")?;
        if n == 0 { Err(StoreError::NotFound { what: "credential" }) } else { Ok(()) }
    }

    /// Service side (signer): records a use of the owner's credential.
    pub async fn touch_credential(&self, owner: &str, id: &str) -> Result<()> {
        const SQL: &str = "UPDATE credentials SET last_used_ms = $3 WHERE id = $1 AND owner = $2";
        let now = now_ms();
        with_pool!(self, p => sqlx::query(SQL).bind(id).bind(owner).bind(now).execute(p).await.map(|_| ()))
            .ctx("touch credential")?;
        Ok(())
    }

    // --- envelopes -----------------------------------------------------------------------

    /// Stores (or replaces) the envelope of one role of one of the owner's credentials,
    /// in one statement that checks ownership. Deleted credentials take no envelopes.
    pub async fn put_envelope(&self, owner: &str, credential_id: &str, env: &NewEnvelope<'_>) -> Result<()> {
        const SQL: &str = "INSERT INTO envelopes (owner, credential_id, role, kid, jwe, created_ms) \
             SELECT owner, id, $3, $4, $5, $6 FROM credentials \
             WHERE id = $1 AND owner = $2 AND status <> 'deleted' \
             ON CONFLICT (owner, credential_id, role) DO UPDATE \
             SET kid = excluded.kid, jwe = excluded.jwe, created_ms = excluded.created_ms";
        let now = now_ms();
        let n = with_pool!(self, p => sqlx::query(SQL)
            .bind(credential_id).bind(owner).bind(env.role).bind(env.kid).bind(env.jwe).bind(now)
            .execute(p).await.map(|r| r.rows_affected()))
        .ctx("put envelope")?;
        if n == 0 { Err(StoreError::NotFound { what: "credential" }) } else { Ok(()) }
    }

    /// Revokes one role's access: deletes that envelope. Returns whether one existed.
    pub async fn delete_envelope(&self, owner: &str, credential_id: &str, role: &str) -> Result<bool> {
        const SQL: &str = "DELETE FROM envelopes WHERE credential_id = $1 AND role = $2 AND owner = $3";
        let n = with_pool!(self, p => sqlx::query(SQL).bind(credential_id).bind(role).bind(owner)
            .execute(p).await.map(|r| r.rows_affected()))
        .ctx("delete envelope")?;
        Ok(n > 0)
    }

    /// The roles one of the owner's credentials is sealed to (metadata, no ciphertext).
    pub async fn envelope_roles(&self, owner: &str, credential_id: &str) -> Result<Vec<EnvelopeInfo>> {
        const SQL: &str = "SELECT role, kid, created_ms FROM envelopes \
             WHERE credential_id = $1 AND owner = $2 ORDER BY role";
        with_pool!(self, p => sqlx::query_as::<_, EnvelopeInfo>(SQL).bind(credential_id).bind(owner)
            .fetch_all(p).await)
        .ctx("envelope roles")
    }

    /// Service side (signer only): the owner's credential row and the envelope sealed to
    /// `role`. The signer then checks the envelope's `sub`/`cid`/`exch` against this row, its
    /// status, and the `kid` against the recipient keys.
    pub async fn signer_envelope(
        &self,
        owner: &str,
        credential_id: &str,
        role: &str,
    ) -> Result<Option<(Credential, Envelope)>> {
        let cred_sql = format!("SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE id = $1 AND owner = $2");
        const ENV: &str = "SELECT owner, credential_id, role, kid, jwe, created_ms FROM envelopes \
                           WHERE credential_id = $1 AND owner = $2 AND role = $3";
        with_pool!(self, p => async {
            // One read transaction: the row and the envelope are from one snapshot.
            let mut tx = p.begin().await?;
            let cred = sqlx::query_as::<_, Credential>(&cred_sql).bind(credential_id).bind(owner)
                .fetch_optional(&mut *tx).await?;
            let env = sqlx::query_as::<_, Envelope>(ENV).bind(credential_id).bind(owner).bind(role)
                .fetch_optional(&mut *tx).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(cred.zip(env))
        }.await)
        .ctx("signer envelope")
    }

    /// Service side (re-wrap): envelopes sealed to `kid`, in (owner, credential, role)
    /// order after `after` (exclusive), at most `limit`.
    pub async fn envelopes_for_kid(
        &self,
        kid: &str,
        after: Option<(&str, &str, &str)>,
        limit: u32,
    ) -> Result<Vec<Envelope>> {
        const SQL: &str = "SELECT owner, credential_id, role, kid, jwe, created_ms FROM envelopes \
             WHERE kid = $1 AND (owner, credential_id, role) > ($2, $3, $4) \
             ORDER BY owner, credential_id, role LIMIT $5";
        let (o, c, r) = after.unwrap_or(("", "", ""));
        with_pool!(self, p => sqlx::query_as::<_, Envelope>(SQL).bind(kid).bind(o).bind(c).bind(r)
            .bind(i64::from(limit)).fetch_all(p).await)
        .ctx("envelopes for kid")
    }

    /// Service side (re-wrap): replaces an envelope only if it is still sealed to
    /// `old_kid` (compare-and-set, so a concurrent revoke or re-seal wins). Returns whether
    /// it was replaced.
    pub async fn rewrap_envelope(
        &self,
        owner: &str,
        credential_id: &str,
        role: &str,
        old_kid: &str,
        new: &NewEnvelope<'_>,
    ) -> Result<bool> {
        const SQL: &str = "UPDATE envelopes SET kid = $5, jwe = $6 \
             WHERE owner = $1 AND credential_id = $2 AND role = $3 AND kid = $4";
        if new.role != role {
            return Err(StoreError::Invalid { what: "role", reason: "re-wrap cannot change the role" });
        }
        let n = with_pool!(self, p => sqlx::query(SQL).bind(owner).bind(credential_id).bind(role).bind(old_kid)
            .bind(new.kid).bind(new.jwe).execute(p).await.map(|r| r.rows_affected()))
        .ctx("rewrap envelope")?;
        Ok(n > 0)
    }

    // --- recipient key versions ----------------------------------------------------------

    /// Records a new recipient key version (status `active`).
    pub async fn add_recipient_key(&self, kid: &str, role: &str, public_jwk: &str) -> Result<RecipientKey> {
        const SQL: &str = "INSERT INTO recipient_keys (kid, role, status, public_jwk, created_ms) \
             VALUES ($1, $2, 'active', $3, $4) RETURNING kid, role, status, public_jwk, created_ms";
        serde_json::from_str::<serde_json::Value>(public_jwk)
            .map_err(|_| StoreError::Invalid { what: "public_jwk", reason: "not JSON" })?;
        let now = now_ms();
        with_pool!(self, p => sqlx::query_as::<_, RecipientKey>(SQL).bind(kid).bind(role)
            .bind(public_jwk).bind(now).fetch_one(p).await)
        .ctx("add recipient key")
        .map_err(|e| if e.is_unique_violation() { StoreError::AlreadyExists { what: "recipient key" } } else { e })
    }

    /// Recipient key versions, of one role or all, oldest first.
    pub async fn recipient_keys(&self, role: Option<&str>) -> Result<Vec<RecipientKey>> {
        const SQL: &str = "SELECT kid, role, status, public_jwk, created_ms FROM recipient_keys \
             WHERE $1 IS NULL OR role = $1 ORDER BY created_ms, kid";
        with_pool!(self, p => sqlx::query_as::<_, RecipientKey>(SQL).bind(role).fetch_all(p).await)
            .ctx("recipient keys")
    }

    /// Retires a key version, in one statement that refuses while any envelope is sealed
    /// to it ([`StoreError::InUse`]).
    pub async fn retire_recipient_key(&self, kid: &str) -> Result<()> {
        const SQL: &str = "UPDATE recipient_keys SET status = 'retired' WHERE kid = $1 \
             AND NOT EXISTS (SELECT 1 FROM envelopes WHERE kid = $1)";
        const EXISTS: &str = "SELECT COUNT(*) FROM recipient_keys WHERE kid = $1";
        let n = with_pool!(self, p => sqlx::query(SQL).bind(kid).execute(p).await.map(|r| r.rows_affected()))
            .ctx("retire recipient key")?;
        if n > 0 {
            return Ok(());
        }
        let exists = with_pool!(self, p => sqlx::query_scalar::<_, i64>(EXISTS).bind(kid).fetch_one(p).await)
            .ctx("retire recipient key")?;
        if exists == 0 {
            Err(StoreError::NotFound { what: "recipient key" })
        } else {
            Err(StoreError::InUse { what: "recipient key" })
        }
    }
}
