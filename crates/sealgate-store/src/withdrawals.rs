//! Withdrawals waiting for the owner's approval (migration 0013). The rows say what to show
//! and where a request stands; the approval they hold is verified again by the signer, so a
//! row proves nothing by itself.

use crate::error::{Ctx, Result, StoreError};
use crate::store::{BeginWrite, Store, now_ms, with_pool};

const COLUMNS: &str = "id, owner, credential_id, exchange, role, asset, amount, destination, network, \
                       request_digest, state, approval, created_ms, expires_ms, decided_ms";

/// Largest approval text kept (the api's bound is lower).
const MAX_APPROVAL: usize = 16 * 1024;

/// One withdrawal request and where it stands.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct WithdrawalApproval {
    /// Id (random, base64url).
    pub id: String,
    /// The credential's owner.
    pub owner: String,
    /// The credential.
    pub credential_id: String,
    /// Its exchange.
    pub exchange: String,
    /// The role that asked.
    pub role: String,
    /// Asset, as the exchange spells it.
    pub asset: String,
    /// Amount (decimal text).
    pub amount: String,
    /// Address, with its tag or memo after a space.
    pub destination: String,
    /// Network, if named.
    pub network: Option<String>,
    /// SHA-256 of the canonical request, base64url.
    pub request_digest: String,
    /// `pending`, `approved`, `used` or `expired`.
    pub state: String,
    /// The owner's approval (JSON), once approved.
    pub approval: Option<String>,
    /// When it was asked for (Unix ms).
    pub created_ms: i64,
    /// When the request expires unless approved, and the approval unless used (Unix ms).
    pub expires_ms: i64,
    /// When it was approved or used (Unix ms).
    pub decided_ms: Option<i64>,
}

impl Store {
    /// The live request for `digest` of the owner's credential (pending or approved, not
    /// expired at `now_ms`), or a new pending one made from `new` (its id, expiry and facts).
    /// Returns the row and whether it is new.
    pub async fn withdrawal_request(
        &self,
        new: &WithdrawalApproval,
        now_ms: i64,
    ) -> Result<(WithdrawalApproval, bool)> {
        let find = format!(
            "SELECT {COLUMNS} FROM withdrawal_approvals WHERE owner = $1 AND credential_id = $2 \
             AND request_digest = $3 AND state IN ('pending', 'approved') AND expires_ms > $4 \
             ORDER BY created_ms DESC LIMIT 1"
        );
        let insert = format!(
            "INSERT INTO withdrawal_approvals ({COLUMNS}) \
             SELECT $1, owner, id, $3, $4, $5, $6, $7, $8, $9, 'pending', NULL, $10, $11, NULL \
             FROM credentials WHERE owner = $2 AND id = $12 AND status <> 'deleted'"
        );
        with_pool!(self, p => async {
            let mut tx = p.begin_write().await?;
            let found = sqlx::query_as::<_, WithdrawalApproval>(&find)
                .bind(&new.owner).bind(&new.credential_id).bind(&new.request_digest).bind(now_ms)
                .fetch_optional(&mut *tx).await?;
            if let Some(row) = found {
                tx.commit().await?;
                return Ok((Some(row), false));
            }
            let n = sqlx::query(&insert)
                .bind(&new.id).bind(&new.owner).bind(&new.exchange).bind(&new.role).bind(&new.asset)
                .bind(&new.amount).bind(&new.destination).bind(&new.network).bind(&new.request_digest)
                .bind(new.created_ms).bind(new.expires_ms).bind(&new.credential_id)
                .execute(&mut *tx).await?.rows_affected();
            tx.commit().await?;
            Ok((if n == 1 { Some(new.clone()) } else { None }, true))
        }.await)
        .ctx("withdrawal request")
        .and_then(|(row, created)| row.map(|r| (r, created)).ok_or(StoreError::NotFound { what: "credential" }))
    }

    /// One request of the owner's.
    pub async fn withdrawal(&self, owner: &str, id: &str) -> Result<Option<WithdrawalApproval>> {
        let sql = format!("SELECT {COLUMNS} FROM withdrawal_approvals WHERE owner = $1 AND id = $2");
        with_pool!(self, p => sqlx::query_as::<_, WithdrawalApproval>(&sql).bind(owner).bind(id).fetch_optional(p).await)
            .ctx("withdrawal")
    }

    /// The owner's requests still pending at `now_ms`, oldest first.
    pub async fn pending_withdrawals(&self, owner: &str, now_ms: i64) -> Result<Vec<WithdrawalApproval>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM withdrawal_approvals WHERE owner = $1 AND state = 'pending' AND expires_ms > $2 \
             ORDER BY created_ms, id LIMIT 100"
        );
        with_pool!(self, p => sqlx::query_as::<_, WithdrawalApproval>(&sql).bind(owner).bind(now_ms).fetch_all(p).await)
            .ctx("pending withdrawals")
    }

    /// Marks a pending, unexpired request approved with `approval`, until `expires_ms`.
    /// [`StoreError::Conflict`] when it is no longer pending (approved, used or expired).
    pub async fn approve_withdrawal(&self, owner: &str, id: &str, approval: &str, expires_ms: i64) -> Result<()> {
        if approval.len() > MAX_APPROVAL {
            return Err(StoreError::Invalid { what: "withdrawal approval", reason: "larger than 16 KiB" });
        }
        const SQL: &str = "UPDATE withdrawal_approvals SET state = 'approved', approval = $3, decided_ms = $4, \
             expires_ms = $5 WHERE owner = $1 AND id = $2 AND state = 'pending' AND expires_ms > $4";
        let n = with_pool!(self, p => sqlx::query(SQL).bind(owner).bind(id).bind(approval).bind(now_ms())
            .bind(expires_ms).execute(p).await.map(|r| r.rows_affected()))
        .ctx("approve withdrawal")?;
        if n == 0 {
            return Err(StoreError::Conflict {
                what: "withdrawal",
                reason: "it is no longer pending (expired or decided)",
            });
        }
        Ok(())
    }

    /// Spends an approved request (once): false when it was not approved any more.
    pub async fn use_withdrawal(&self, owner: &str, id: &str) -> Result<bool> {
        const SQL: &str = "UPDATE withdrawal_approvals SET state = 'used', decided_ms = $3 \
             WHERE owner = $1 AND id = $2 AND state = 'approved'";
        let n = with_pool!(self, p => sqlx::query(SQL).bind(owner).bind(id).bind(now_ms()).execute(p).await
            .map(|r| r.rows_affected()))
        .ctx("use withdrawal")?;
        Ok(n == 1)
    }
}
