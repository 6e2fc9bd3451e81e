//! Users' passkeys (migration 0011): public material only (credential id, public key as
//! the WebAuthn library keeps it and as a JWK, its RFC 7638 thumbprint, the counter).
//!
//! The rules that must hold across processes are one write transaction each, with the
//! user's row locked first (`UPDATE users SET id = id`: a row lock on PostgreSQL, the write
//! lock `BEGIN IMMEDIATE` already holds on SQLite): "the first passkey" is decided once even
//! for two registrations at once, and two removals at once never leave a user with none.

use crate::error::{Ctx, Result, StoreError};
use crate::store::{BeginWrite as _, Store, now_ms, with_pool};

const COLUMNS: &str = "id, user_id, credential_id, name, thumbprint, jwk, passkey, created_ms, last_used_ms";
const LOCK_USER: &str = "UPDATE users SET id = id WHERE id = $1";
const COUNT: &str = "SELECT COUNT(*) FROM passkeys WHERE user_id = $1";

/// A stored passkey.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
#[non_exhaustive]
pub struct StoredPasskey {
    /// Ours (base64url of 16 random bytes).
    pub id: String,
    /// Its user.
    pub user_id: String,
    /// The authenticator's credential id.
    pub credential_id: Vec<u8>,
    /// The user's name for it.
    pub name: String,
    /// RFC 7638 thumbprint of its public key.
    pub thumbprint: String,
    /// Its public JWK (JSON).
    pub jwk: String,
    /// The WebAuthn library's passkey (JSON): public key, counter.
    pub passkey: String,
    /// Registered (Unix ms).
    pub created_ms: i64,
    /// Last verified assertion (Unix ms), if any.
    pub last_used_ms: Option<i64>,
}

/// A passkey to store.
#[derive(Debug, Clone, Copy)]
pub struct NewPasskey<'a> {
    /// Ours (22 characters).
    pub id: &'a str,
    /// Its user (must exist).
    pub user_id: &'a str,
    /// The authenticator's credential id.
    pub credential_id: &'a [u8],
    /// The user's name for it (1-64 characters).
    pub name: &'a str,
    /// RFC 7638 thumbprint (43 characters).
    pub thumbprint: &'a str,
    /// Public JWK (JSON).
    pub jwk: &'a str,
    /// The WebAuthn library's passkey (JSON).
    pub passkey: &'a str,
}

/// Which passkeys a registration expects the user to have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasskeyPrecondition {
    /// None: the first passkey (trust on the session). Refused if the user has one by now.
    First,
    /// At least one (a step-up by one of them was verified). Refused if they were all
    /// removed meanwhile.
    Another,
}

impl Store {
    /// Stores a passkey if `pre` still holds for its user, in one transaction.
    /// [`StoreError::AlreadyExists`] if its credential id is registered (to anyone),
    /// [`StoreError::Conflict`] if `pre` no longer holds, [`StoreError::NotFound`] if the user
    /// does not exist.
    pub async fn add_passkey(&self, new: &NewPasskey<'_>, pre: PasskeyPrecondition) -> Result<StoredPasskey> {
        let sql = format!(
            "INSERT INTO passkeys ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL) RETURNING {COLUMNS}"
        );
        let now = now_ms();
        let result = with_pool!(self, p => async {
            let mut tx = p.begin_write().await?;
            let users = sqlx::query(LOCK_USER).bind(new.user_id).execute(&mut *tx).await?.rows_affected();
            if users == 0 {
                return Ok(Err(StoreError::NotFound { what: "user" }));
            }
            let n: i64 = sqlx::query_scalar(COUNT).bind(new.user_id).fetch_one(&mut *tx).await?;
            let holds = match pre {
                PasskeyPrecondition::First => n == 0,
                PasskeyPrecondition::Another => n > 0,
            };
            if !holds {
                return Ok(Err(StoreError::Conflict { what: "passkeys", reason: "the user's passkeys changed meanwhile" }));
            }
            let row = sqlx::query_as::<_, StoredPasskey>(&sql)
                .bind(new.id).bind(new.user_id).bind(new.credential_id).bind(new.name)
                .bind(new.thumbprint).bind(new.jwk).bind(new.passkey).bind(now)
                .fetch_one(&mut *tx).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(Ok(row))
        }.await);
        result
            .ctx("add passkey")
            .map_err(|e| if e.is_unique_violation() { StoreError::AlreadyExists { what: "passkey" } } else { e })?
    }

    /// The user's passkeys, oldest first.
    pub async fn passkeys(&self, user_id: &str) -> Result<Vec<StoredPasskey>> {
        let sql = format!("SELECT {COLUMNS} FROM passkeys WHERE user_id = $1 ORDER BY created_ms, id");
        with_pool!(self, p => sqlx::query_as::<_, StoredPasskey>(&sql).bind(user_id).fetch_all(p).await).ctx("passkeys")
    }

    /// Records a verified assertion: the library's updated passkey (counter) and the time.
    /// [`StoreError::NotFound`] if the passkey is gone.
    pub async fn passkey_used(&self, user_id: &str, id: &str, passkey: &str, now_ms: i64) -> Result<()> {
        const SQL: &str = "UPDATE passkeys SET passkey = $3, last_used_ms = $4 WHERE user_id = $1 AND id = $2";
        let n = with_pool!(self, p => sqlx::query(SQL).bind(user_id).bind(id).bind(passkey).bind(now_ms)
            .execute(p).await.map(|r| r.rows_affected()))
        .ctx("passkey used")?;
        if n == 0 { Err(StoreError::NotFound { what: "passkey" }) } else { Ok(()) }
    }

    /// Removes one of the user's passkeys unless it is their last, in one transaction:
    /// [`StoreError::NotFound`] if the user has no such passkey, [`StoreError::Conflict`] if
    /// it is the last one (only [`Store::reset_passkeys`], the operator's, removes that).
    pub async fn remove_passkey(&self, user_id: &str, id: &str) -> Result<StoredPasskey> {
        let select = format!("SELECT {COLUMNS} FROM passkeys WHERE user_id = $1 AND id = $2");
        const DELETE: &str = "DELETE FROM passkeys WHERE user_id = $1 AND id = $2";
        let result = with_pool!(self, p => async {
            let mut tx = p.begin_write().await?;
            sqlx::query(LOCK_USER).bind(user_id).execute(&mut *tx).await?;
            let Some(row) = sqlx::query_as::<_, StoredPasskey>(&select).bind(user_id).bind(id)
                .fetch_optional(&mut *tx).await?
            else {
                return Ok(Err(StoreError::NotFound { what: "passkey" }));
            };
            let n: i64 = sqlx::query_scalar(COUNT).bind(user_id).fetch_one(&mut *tx).await?;
            if n <= 1 {
                return Ok(Err(StoreError::Conflict { what: "passkey", reason: "it is the user's last passkey" }));
            }
            sqlx::query(DELETE).bind(user_id).bind(id).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(Ok(row))
        }.await);
        result.ctx("remove passkey")?
    }

    /// Removes every passkey of the user (the operator's recovery when all are lost);
    /// returns the removed rows.
    pub async fn reset_passkeys(&self, user_id: &str) -> Result<Vec<StoredPasskey>> {
        let sql = format!("DELETE FROM passkeys WHERE user_id = $1 RETURNING {COLUMNS}");
        with_pool!(self, p => sqlx::query_as::<_, StoredPasskey>(&sql).bind(user_id).fetch_all(p).await)
            .ctx("reset passkeys")
    }
}
