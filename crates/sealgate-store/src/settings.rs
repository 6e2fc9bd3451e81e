//! Signed audit checkpoints and small operator settings (kill switch, audit root key).

use crate::error::{Ctx, Result};
use crate::store::{Store, now_ms, with_pool};

/// A stored audit checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredCheckpoint {
    /// The seq it covers.
    pub seq: i64,
    /// The hash of record `seq` (hex).
    pub hash: String,
    /// When it was taken, ms since the epoch.
    pub time_ms: i64,
    /// base64url ES256 signature (r||s).
    pub sig: String,
    /// The Merkle tree size a v2 checkpoint signs (`None`: a v1 checkpoint).
    pub tree_size: Option<i64>,
    /// The Merkle tree root (hex) a v2 checkpoint signs.
    pub tree_root: Option<String>,
}

/// Setting name of the global kill switch (`on` / `off`).
pub const KILL_SWITCH: &str = "kill_switch";
/// Setting name of the audit root public JWK (JSON text).
pub const AUDIT_ROOT_JWK: &str = "audit_root_jwk";

/// Sets a setting (name, value, time).
pub(crate) const UPSERT_SETTING: &str = "INSERT INTO settings (name, value, updated_ms) VALUES ($1, $2, $3) \
                                         ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_ms = excluded.updated_ms";

impl Store {
    /// Records a checkpoint; a second one for the same `seq` is ignored.
    pub async fn add_audit_checkpoint(&self, cp: &StoredCheckpoint) -> Result<()> {
        const SQL: &str = "INSERT INTO audit_checkpoints (seq, hash, time_ms, sig, tree_size, tree_root) \
                           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (seq) DO NOTHING";
        with_pool!(self, p => sqlx::query(SQL).bind(cp.seq).bind(&cp.hash).bind(cp.time_ms).bind(&cp.sig)
            .bind(cp.tree_size).bind(&cp.tree_root).execute(p).await.map(|_| ()))
        .ctx("add audit checkpoint")?;
        Ok(())
    }

    /// All checkpoints, by seq.
    pub async fn audit_checkpoints(&self) -> Result<Vec<StoredCheckpoint>> {
        const SQL: &str = "SELECT seq, hash, time_ms, sig, tree_size, tree_root FROM audit_checkpoints ORDER BY seq";
        with_pool!(self, p => sqlx::query_as::<_, StoredCheckpoint>(SQL).fetch_all(p).await).ctx("audit checkpoints")
    }

    /// The latest checkpoint that signs a tree head (v2), if any.
    pub async fn latest_tree_checkpoint(&self) -> Result<Option<StoredCheckpoint>> {
        const SQL: &str = "SELECT seq, hash, time_ms, sig, tree_size, tree_root FROM audit_checkpoints \
                           WHERE tree_size IS NOT NULL ORDER BY seq DESC LIMIT 1";
        with_pool!(self, p => sqlx::query_as::<_, StoredCheckpoint>(SQL).fetch_optional(p).await)
            .ctx("latest tree checkpoint")
    }

    /// A setting's value.
    pub async fn setting(&self, name: &str) -> Result<Option<String>> {
        const SQL: &str = "SELECT value FROM settings WHERE name = $1";
        with_pool!(self, p => sqlx::query_scalar::<_, String>(SQL).bind(name).fetch_optional(p).await).ctx("setting")
    }

    /// Sets a setting.
    pub async fn set_setting(&self, name: &str, value: &str) -> Result<()> {
        with_pool!(self, p => sqlx::query(UPSERT_SETTING).bind(name).bind(value).bind(now_ms()).execute(p).await.map(|_| ()))
            .ctx("set setting")?;
        Ok(())
    }

    /// Whether the global kill switch is on.
    pub async fn kill_switch(&self) -> Result<bool> {
        Ok(self.setting(KILL_SWITCH).await?.as_deref() == Some("on"))
    }
}
