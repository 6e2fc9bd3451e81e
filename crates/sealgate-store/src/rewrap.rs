//! What a re-wrap needs from the store: batches of envelopes sealed to one key version,
//! claimed so that two processes never work on one envelope (PostgreSQL: row locks taken
//! with `FOR UPDATE SKIP LOCKED` and held until the batch is written), replaced only if the
//! row is still the ciphertext that was read (compare-and-set on the JWE, so a concurrent
//! revoke, re-seal or another re-wrap wins); and the key versions an operator disabled.

use sqlx::Connection as _;

use crate::error::{Ctx, Result};
use crate::store::{BeginWrite, Db, Store, now_ms, with_pool};

/// One envelope of a re-wrap batch, with its credential's exchange (the binding's `exch`).
#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RewrapRow {
    /// The credential's owner (the binding's `sub`).
    pub owner: String,
    /// The credential (`cid`).
    pub credential_id: String,
    /// The role it is sealed to (`aud`).
    pub role: String,
    /// The key version it is sealed to.
    pub kid: String,
    /// The JWE as stored.
    pub jwe: String,
    /// The credential's exchange (`exch`).
    pub exchange: String,
}

impl std::fmt::Debug for RewrapRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RewrapRow")
            .field("owner", &self.owner)
            .field("credential_id", &self.credential_id)
            .field("role", &self.role)
            .field("kid", &self.kid)
            .field("jwe_len", &self.jwe.len())
            .finish()
    }
}

/// A replacement of one claimed envelope.
#[derive(Clone)]
pub struct Rewrapped<'a> {
    /// The row as it was read.
    pub old: &'a RewrapRow,
    /// The version it is now sealed to.
    pub new_kid: &'a str,
    /// The new JWE.
    pub new_jwe: &'a str,
}

/// A claimed batch: on PostgreSQL its rows stay locked (other re-wrap processes skip them)
/// until [`RewrapClaim::finish`] or drop (rollback).
pub struct RewrapClaim {
    /// The envelopes, in (owner, credential, role) order.
    pub rows: Vec<RewrapRow>,
    tx: Option<sqlx::Transaction<'static, sqlx::Postgres>>,
    store: Store,
}

const CLAIM: &str = "SELECT e.owner, e.credential_id, e.role, e.kid, e.jwe, c.exchange \
     FROM envelopes e JOIN credentials c ON c.owner = e.owner AND c.id = e.credential_id \
     WHERE e.kid = $1 AND (e.owner, e.credential_id, e.role) > ($2, $3, $4) \
     ORDER BY e.owner, e.credential_id, e.role LIMIT $5";
/// The grants of keys born in the custody (their `kid` is the custody key id, `xk-…`) of
/// one role, after (owner, credential): what a re-wrap re-signs when a grant carries a
/// passphrase sealed to the version it moves away from.
const HELD: &str = "SELECT e.owner, e.credential_id, e.role, e.kid, e.jwe, c.exchange \
     FROM envelopes e JOIN credentials c ON c.owner = e.owner AND c.id = e.credential_id \
     WHERE e.role = $1 AND e.kid LIKE 'xk-%' AND (e.owner, e.credential_id, e.role) > ($2, $3, $4) \
     ORDER BY e.owner, e.credential_id, e.role LIMIT $5";
/// Created time is kept: it is when the owner sealed the credential, which a re-wrap does not change.
const REPLACE: &str = "UPDATE envelopes SET kid = $5, jwe = $6 \
     WHERE owner = $1 AND credential_id = $2 AND role = $3 AND jwe = $4";

impl Store {
    /// Service side (re-wrap): claims up to `limit` envelopes sealed to `kid` after `after`
    /// (owner, credential, role; exclusive). PostgreSQL locks them: `FOR UPDATE SKIP
    /// LOCKED` (rows another process holds are skipped), or with `wait` `FOR UPDATE` (waits
    /// for them; a row the other process moved off `kid` meanwhile is then not returned).
    /// SQLite reads them (one writer at a time; the compare-and-set of
    /// [`RewrapClaim::finish`] decides).
    pub async fn claim_rewrap(
        &self,
        kid: &str,
        after: Option<(&str, &str, &str)>,
        limit: u32,
        wait: bool,
    ) -> Result<RewrapClaim> {
        let lock = if wait { " FOR UPDATE OF e" } else { " FOR UPDATE OF e SKIP LOCKED" };
        self.claim_rows(CLAIM, kid, after, limit, lock).await.ctx("claim re-wrap batch")
    }

    /// Service side (re-wrap): claims up to `limit` stored grants of `role` (rows whose key
    /// is in the custody) after `after` (owner, credential, role; exclusive), as
    /// [`Store::claim_rewrap`] claims envelopes, waiting for rows another process holds.
    /// They are few (one per custody-born credential and role): a re-wrap reads them all
    /// and re-signs those whose sealed passphrase is on the version it moves away from.
    pub async fn claim_held_grants(
        &self,
        role: &str,
        after: Option<(&str, &str, &str)>,
        limit: u32,
    ) -> Result<RewrapClaim> {
        self.claim_rows(HELD, role, after, limit, " FOR UPDATE OF e").await.ctx("claim held grants")
    }

    /// Rows of `sql` (binds: `first`, the `after` triple, `limit`); on PostgreSQL locked
    /// (`lock`) in a transaction the claim keeps.
    async fn claim_rows(
        &self,
        sql: &str,
        first: &str,
        after: Option<(&str, &str, &str)>,
        limit: u32,
        lock: &str,
    ) -> std::result::Result<RewrapClaim, sqlx::Error> {
        let (o, c, r) = after.unwrap_or(("", "", ""));
        macro_rules! rows {
            ($sql:expr, $exec:expr) => {
                sqlx::query_as::<_, RewrapRow>($sql)
                    .bind(first)
                    .bind(o)
                    .bind(c)
                    .bind(r)
                    .bind(i64::from(limit))
                    .fetch_all($exec)
                    .await?
            };
        }
        match &self.db {
            Db::Sqlite(p) => Ok(RewrapClaim { rows: rows!(sql, p), tx: None, store: self.clone() }),
            Db::Postgres(p) => {
                let mut tx = p.begin().await?;
                let rows = rows!(&format!("{sql}{lock}"), &mut *tx);
                Ok(RewrapClaim { rows, tx: Some(tx), store: self.clone() })
            }
        }
    }

    /// How many envelopes are sealed to `kid`.
    pub async fn envelopes_on_kid(&self, kid: &str) -> Result<u64> {
        const SQL: &str = "SELECT COUNT(*) FROM envelopes WHERE kid = $1";
        let n = with_pool!(self, p => sqlx::query_scalar::<_, i64>(SQL).bind(kid).fetch_one(p).await)
            .ctx("count envelopes on kid")?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Marks a key version disabled (`true`) or lifts it (`false`); signers read the list
    /// ([`Store::disabled_keys`]) on their revalidation clock.
    pub async fn set_key_disabled(&self, kid: &str, disabled: bool) -> Result<()> {
        const ADD: &str = "INSERT INTO disabled_keys (kid, disabled_ms) VALUES ($1, $2) ON CONFLICT (kid) DO NOTHING";
        const DEL: &str = "DELETE FROM disabled_keys WHERE kid = $1";
        let now = now_ms();
        if disabled {
            with_pool!(self, p => sqlx::query(ADD).bind(kid).bind(now).execute(p).await.map(|_| ()))
        } else {
            with_pool!(self, p => sqlx::query(DEL).bind(kid).execute(p).await.map(|_| ()))
        }
        .ctx("set key disabled")
    }

    /// The key versions disabled, sorted.
    pub async fn disabled_keys(&self) -> Result<Vec<String>> {
        const SQL: &str = "SELECT kid FROM disabled_keys ORDER BY kid";
        with_pool!(self, p => sqlx::query_scalar::<_, String>(SQL).fetch_all(p).await).ctx("disabled keys")
    }
}

impl RewrapClaim {
    /// Writes the replacements (each only if its row still holds the JWE that was read) in
    /// one transaction and releases the claim; returns how many rows were replaced.
    pub async fn finish(mut self, done: &[Rewrapped<'_>]) -> Result<u64> {
        macro_rules! replace_all {
            ($tx:expr) => {{
                let mut n = 0u64;
                for w in done {
                    n += sqlx::query(REPLACE)
                        .bind(&w.old.owner)
                        .bind(&w.old.credential_id)
                        .bind(&w.old.role)
                        .bind(&w.old.jwe)
                        .bind(w.new_kid)
                        .bind(w.new_jwe)
                        .execute(&mut *$tx)
                        .await?
                        .rows_affected();
                }
                n
            }};
        }
        match (self.tx.take(), &self.store.db) {
            (Some(mut tx), _) => async {
                let n = replace_all!(tx);
                tx.commit().await?;
                Ok::<_, sqlx::Error>(n)
            }
            .await
            .ctx("re-wrap batch"),
            (None, Db::Sqlite(p)) => async {
                let mut tx = p.begin_write().await?;
                let n = replace_all!(tx);
                tx.commit().await?;
                Ok::<_, sqlx::Error>(n)
            }
            .await
            .ctx("re-wrap batch"),
            (None, Db::Postgres(p)) => async {
                let mut conn = p.acquire().await?;
                let mut tx = conn.begin().await?;
                let n = replace_all!(tx);
                tx.commit().await?;
                Ok::<_, sqlx::Error>(n)
            }
            .await
            .ctx("re-wrap batch"),
        }
    }
}
