//! The Merkle tree over the audit chain, as perfect subtrees (`audit_tree`, see its
//! migration): derived data that spares an inclusion proof a pass over the chain. The
//! store does not hash; `sealgate-audit`'s `merkle` module computes the nodes. Nodes are a
//! function of the chain, so two processes writing the same node write the same bytes:
//! inserts ignore a node already there.

use crate::audit::AuditTail;
use crate::error::{Ctx, Result, StoreError};
use crate::store::{BeginWrite, Store, with_pool};

/// A perfect subtree: `(level, idx, hash)`.
pub type TreeNode = (i32, i64, Vec<u8>);

/// Nodes per statement (3 parameters each).
const NODE_ROWS: usize = 300;

impl Store {
    /// Leaves the stored tree holds (leaf hashes are written in order, from leaf 0).
    pub async fn audit_tree_leaves(&self) -> Result<i64> {
        const SQL: &str = "SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_tree WHERE level = 0";
        with_pool!(self, p => sqlx::query_scalar::<_, i64>(SQL).fetch_one(p).await).ctx("audit tree leaves")
    }

    /// `(seq, hash)` of the records with `seq > after`, in order, at most `limit`: what the
    /// tree's leaves are made of.
    pub async fn audit_hashes(&self, after: i64, limit: u32) -> Result<Vec<AuditTail>> {
        const SQL: &str = "SELECT seq, hash FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2";
        with_pool!(self, p => sqlx::query_as::<_, AuditTail>(SQL).bind(after).bind(i64::from(limit))
            .fetch_all(p).await)
        .ctx("audit hashes")
    }

    /// The stored nodes among `ids` (`(level, idx)`); missing ones are left out.
    pub async fn audit_tree_nodes(&self, ids: &[(i32, i64)]) -> Result<Vec<TreeNode>> {
        let mut by_level: std::collections::BTreeMap<i32, Vec<i64>> = std::collections::BTreeMap::new();
        for (level, idx) in ids {
            by_level.entry(*level).or_default().push(*idx);
        }
        let mut out = Vec::with_capacity(ids.len());
        for (level, idxs) in by_level {
            for chunk in idxs.chunks(500) {
                let rows: Vec<TreeNode> = with_pool!(self, p => {
                    let mut q = sqlx::QueryBuilder::new("SELECT level, idx, hash FROM audit_tree WHERE level = ");
                    q.push_bind(level).push(" AND idx IN (");
                    let mut sep = q.separated(", ");
                    for idx in chunk {
                        sep.push_bind(*idx);
                    }
                    q.push(")");
                    q.build_query_as().fetch_all(p).await
                })
                .ctx("audit tree nodes")?;
                out.extend(rows);
            }
        }
        Ok(out)
    }

    /// Stores `nodes` in one transaction; a node already stored is left as it is.
    pub async fn add_audit_tree_nodes(&self, nodes: &[TreeNode]) -> Result<()> {
        if nodes.iter().any(|(level, idx, h)| *level < 0 || *idx < 0 || h.len() != 32) {
            return Err(StoreError::Invalid { what: "audit tree node", reason: "negative position or not 32 bytes" });
        }
        with_pool!(self, p => async {
            let mut tx = p.begin_write().await?;
            for chunk in nodes.chunks(NODE_ROWS) {
                let mut q = sqlx::QueryBuilder::new("INSERT INTO audit_tree (level, idx, hash) ");
                q.push_values(chunk, |mut row, (level, idx, hash)| {
                    row.push_bind(*level).push_bind(*idx).push_bind(hash.as_slice());
                });
                q.push(" ON CONFLICT (level, idx) DO NOTHING");
                q.build().execute(&mut *tx).await?;
            }
            tx.commit().await
        }.await)
        .ctx("add audit tree nodes")
    }
}
