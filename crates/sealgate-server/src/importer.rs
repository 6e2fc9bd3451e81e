//! The importer role: a job queue worker that imports balances and trades
//! through the signer, and the normalized portfolio view.
//!
//! INTERFACE (fixed; the body is being written): the api calls [`portfolio`].

use sealgate_store::Store;

/// One asset across all of a user's exchanges.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AssetHolding {
    /// Normalized asset code (`BTC`, `USDT`, `USD`…).
    pub asset: String,
    /// Sum of free + locked across exchanges, an exact decimal string.
    pub total: String,
    /// Per exchange/credential amounts.
    pub by_exchange: Vec<ExchangeHolding>,
}

/// One asset at one credential.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ExchangeHolding {
    /// Exchange id.
    pub exchange: String,
    /// Credential id.
    pub credential_id: String,
    /// Free amount.
    pub free: String,
    /// Locked amount.
    pub locked: String,
}

/// Import progress of one credential.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ImportStatus {
    /// Credential id.
    pub credential_id: String,
    /// `queued`, `running`, `done`, `failed`, or `none`.
    pub state: String,
    /// Trades imported so far.
    pub trades: i64,
    /// When the last import finished (ms), if ever.
    pub last_import_ms: Option<i64>,
}

/// A user's portfolio.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Portfolio {
    /// Holdings by asset, sorted by asset.
    pub assets: Vec<AssetHolding>,
    /// Import progress per credential.
    pub imports: Vec<ImportStatus>,
}

/// The normalized portfolio of `owner`.
pub async fn portfolio(_store: &Store, _owner: &str) -> Result<Portfolio, sealgate_store::StoreError> {
    Ok(Portfolio { assets: Vec::new(), imports: Vec::new() })
}
