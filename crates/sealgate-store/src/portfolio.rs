//! The portfolio (balances, open positions and trades per credential) and orders.
//!
//! Amounts are exact decimal strings as the exchange printed them; normalising and summing
//! across exchanges is the importer's job, not the store's.

use crate::error::{Ctx, Result, StoreError};
use crate::store::{BeginWrite, Store, now_ms, with_pool};

/// Side of a trade or order: the vocabulary's, so importer, trader and store share one.
pub use sealgate_vocab::Side;

/// One asset's balance on one credential's account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBalance<'a> {
    /// Asset symbol as normalised by the importer.
    pub asset: &'a str,
    /// Free amount (decimal string).
    pub free: &'a str,
    /// Locked amount (decimal string).
    pub locked: &'a str,
}

/// A stored balance, with the credential's exchange for per-exchange breakdowns.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Balance {
    /// The credential.
    pub credential_id: String,
    /// Its exchange.
    pub exchange: String,
    /// Asset.
    pub asset: String,
    /// Free amount.
    pub free: String,
    /// Locked amount.
    pub locked: String,
    /// When imported, ms since the epoch.
    pub updated_ms: i64,
}

/// Most open positions kept for one credential. A snapshot listing more is refused whole,
/// never cut: a cut list would show part of the book as all of it.
pub const MAX_POSITIONS: usize = 1_000;

/// One open derivatives position on one credential's account (Deribit's "get_positions").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPosition<'a> {
    /// The instrument (`BTC-PERPETUAL`): unique per credential.
    pub instrument: &'a str,
    /// The exchange's currency the position was read in, which its PnL is in (`BTC`).
    pub currency: &'a str,
    /// `future`, `option`, … (the exchange's kind).
    pub kind: &'a str,
    /// Signed size in the exchange's unit (decimal string; negative: short).
    pub size: &'a str,
    /// Average entry price (decimal string).
    pub average_price: &'a str,
    /// Mark price (decimal string).
    pub mark_price: &'a str,
    /// Unrealised PnL in the currency (decimal string, signed).
    pub floating_pnl: &'a str,
    /// Realised PnL in the currency (decimal string, signed).
    pub realized_pnl: &'a str,
}

/// A stored open position, with the credential's exchange.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Position {
    /// The credential.
    pub credential_id: String,
    /// Its exchange.
    pub exchange: String,
    /// The instrument.
    pub instrument: String,
    /// The currency it was read in (its PnL's).
    pub currency: String,
    /// `future`, `option`, ….
    pub kind: String,
    /// Signed size.
    pub size: String,
    /// Average entry price.
    pub average_price: String,
    /// Mark price.
    pub mark_price: String,
    /// Unrealised PnL.
    pub floating_pnl: String,
    /// Realised PnL.
    pub realized_pnl: String,
    /// When imported, ms since the epoch.
    pub updated_ms: i64,
}

/// A trade as the exchange reported it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Trade {
    /// The exchange's trade id (unique per credential: the idempotency key).
    pub exchange_trade_id: String,
    /// Symbol.
    pub symbol: String,
    /// Side.
    #[sqlx(try_from = "String")]
    pub side: Side,
    /// Price (decimal string).
    pub price: String,
    /// Quantity (decimal string).
    pub qty: String,
    /// Fee (decimal string).
    pub fee: String,
    /// Fee asset, if reported.
    pub fee_asset: Option<String>,
    /// Execution time, ms since the epoch.
    pub time_ms: i64,
}

/// Order lifecycle as the trader tracks it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Order {
    /// Our order id.
    pub id: String,
    /// The owner of the credential it was placed with.
    pub owner: String,
    /// The credential it was placed with.
    pub credential_id: String,
    /// The client order id sent to the exchange (unique per credential: idempotency).
    pub client_order_id: String,
    /// The exchange's id, once known.
    pub exchange_order_id: Option<String>,
    /// Symbol.
    pub symbol: String,
    /// Side.
    #[sqlx(try_from = "String")]
    pub side: Side,
    /// `limit`, `market`, …
    pub order_type: String,
    /// Quantity (decimal string).
    pub qty: String,
    /// Limit price (decimal string), if any.
    pub price: Option<String>,
    /// `new`, `open`, `filled`, `canceled`, `rejected`, `unknown`, …
    pub status: String,
    /// Created, ms since the epoch.
    pub created_ms: i64,
    /// Last status change, ms since the epoch.
    pub updated_ms: i64,
    /// Why the order is `rejected` (or `unknown`): short, for the user, never a secret.
    pub reason: Option<String>,
    /// Status queries made to reconcile an `unknown` order.
    pub status_checks: i64,
}

/// Bound on an order's `reason`: it must stay a short sentence.
const MAX_REASON_LEN: usize = 300;

/// `s` cut to at most `max` bytes, on a character boundary.
pub(crate) fn cut(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// An order to record before it is sent.
#[derive(Debug, Clone)]
pub struct NewOrder<'a> {
    /// Our order id.
    pub id: &'a str,
    /// The credential's owner.
    pub owner: &'a str,
    /// The credential.
    pub credential_id: &'a str,
    /// Client order id.
    pub client_order_id: &'a str,
    /// Symbol.
    pub symbol: &'a str,
    /// Side.
    pub side: Side,
    /// Order type.
    pub order_type: &'a str,
    /// Quantity.
    pub qty: &'a str,
    /// Limit price.
    pub price: Option<&'a str>,
}

const ORDER_COLUMNS: &str = "o.id, o.owner, o.credential_id, o.client_order_id, o.exchange_order_id, o.symbol, \
     o.side, o.order_type, o.qty, o.price, o.status, o.created_ms, o.updated_ms, o.reason, o.status_checks";

/// One day's valued portfolio (migration 0014).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PortfolioSnapshot {
    /// The UTC day, `YYYY-MM-DD`.
    pub day: String,
    /// The currency of the values.
    pub currency: String,
    /// The total of the holdings that had a price (exact decimal).
    pub total: String,
    /// No non-zero holding lacked a price or had a stale one.
    pub complete: bool,
    /// JSON array of `[asset, value]` pairs, value `null` where the price was missing.
    pub assets: String,
    /// When valued, ms since the epoch.
    pub taken_ms: i64,
}

/// A trade with the exchange and credential it was made on: the owner's whole history,
/// for the cost basis.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OwnerTrade {
    /// The credential.
    pub credential_id: String,
    /// Its exchange.
    pub exchange: String,
    /// The trade.
    #[sqlx(flatten)]
    pub trade: Trade,
}

impl Store {
    /// Service side (importer): replaces the balances of the owner's credential with a
    /// fresh snapshot, in one transaction (assets no longer held disappear).
    pub async fn replace_balances(&self, owner: &str, credential_id: &str, balances: &[NewBalance<'_>]) -> Result<()> {
        const DELETE: &str = "DELETE FROM balances WHERE owner = $1 AND credential_id = $2";
        const INSERT: &str = "INSERT INTO balances (owner, credential_id, asset, free, locked, updated_ms) \
                              VALUES ($1, $2, $3, $4, $5, $6)";
        let now = now_ms();
        with_pool!(self, p => async {
            let mut tx = p.begin_write().await?;
            sqlx::query(DELETE).bind(owner).bind(credential_id).execute(&mut *tx).await?;
            for b in balances {
                sqlx::query(INSERT).bind(owner).bind(credential_id).bind(b.asset).bind(b.free).bind(b.locked)
                    .bind(now).execute(&mut *tx).await?;
            }
            tx.commit().await
        }.await)
        .ctx("replace balances")
        .map_err(|e| if e.is_foreign_key_violation() { StoreError::NotFound { what: "credential" } } else { e })
    }

    /// The owner's balances across all their credentials that are not deleted.
    pub async fn balances(&self, owner: &str) -> Result<Vec<Balance>> {
        const SQL: &str = "SELECT b.credential_id, c.exchange, b.asset, b.free, b.locked, b.updated_ms \
             FROM balances b JOIN credentials c ON c.owner = b.owner AND c.id = b.credential_id \
             WHERE b.owner = $1 AND c.status <> 'deleted' ORDER BY b.asset, c.exchange, b.credential_id";
        with_pool!(self, p => sqlx::query_as::<_, Balance>(SQL).bind(owner).fetch_all(p).await).ctx("balances")
    }

    /// Service side (importer): replaces the open positions of the owner's credential with a
    /// fresh snapshot, in one transaction, as [`Store::replace_balances`] does (a closed
    /// position disappears). More than [`MAX_POSITIONS`], or an instrument listed twice, is
    /// [`StoreError::Invalid`] and leaves the stored snapshot as it was.
    pub async fn replace_positions(
        &self,
        owner: &str,
        credential_id: &str,
        positions: &[NewPosition<'_>],
    ) -> Result<()> {
        const DELETE: &str = "DELETE FROM positions WHERE owner = $1 AND credential_id = $2";
        const INSERT: &str = "INSERT INTO positions (owner, credential_id, instrument, currency, kind, size, \
               average_price, mark_price, floating_pnl, realized_pnl, updated_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";
        if positions.len() > MAX_POSITIONS {
            return Err(StoreError::Invalid { what: "positions", reason: "more than 1000 for one credential" });
        }
        let now = now_ms();
        with_pool!(self, p => async {
            let mut tx = p.begin_write().await?;
            sqlx::query(DELETE).bind(owner).bind(credential_id).execute(&mut *tx).await?;
            for x in positions {
                sqlx::query(INSERT).bind(owner).bind(credential_id).bind(x.instrument).bind(x.currency)
                    .bind(x.kind).bind(x.size).bind(x.average_price).bind(x.mark_price).bind(x.floating_pnl)
                    .bind(x.realized_pnl).bind(now).execute(&mut *tx).await?;
            }
            tx.commit().await
        }.await)
        .ctx("replace positions")
        .map_err(|e| {
            if e.is_foreign_key_violation() {
                StoreError::NotFound { what: "credential" }
            } else if e.is_unique_violation() {
                StoreError::Invalid { what: "positions", reason: "name an instrument twice" }
            } else {
                e
            }
        })
    }

    /// The owner's open positions across all their credentials that are not deleted, by
    /// exchange, credential and instrument.
    pub async fn positions(&self, owner: &str) -> Result<Vec<Position>> {
        const SQL: &str = "SELECT x.credential_id, c.exchange, x.instrument, x.currency, x.kind, x.size, \
               x.average_price, x.mark_price, x.floating_pnl, x.realized_pnl, x.updated_ms \
             FROM positions x JOIN credentials c ON c.owner = x.owner AND c.id = x.credential_id \
             WHERE x.owner = $1 AND c.status <> 'deleted' ORDER BY c.exchange, x.credential_id, x.instrument";
        with_pool!(self, p => sqlx::query_as::<_, Position>(SQL).bind(owner).fetch_all(p).await).ctx("positions")
    }

    /// Service side (importer): inserts trades of the owner's credential, or updates them in
    /// place if the exchange trade id is already stored for it — re-running an import is a
    /// no-op. One transaction.
    pub async fn upsert_trades(&self, owner: &str, credential_id: &str, trades: &[Trade]) -> Result<()> {
        const SQL: &str = "INSERT INTO trades (owner, credential_id, exchange_trade_id, symbol, side, price, \
               qty, fee, fee_asset, time_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (owner, credential_id, exchange_trade_id) DO UPDATE SET symbol = excluded.symbol, \
               side = excluded.side, price = excluded.price, qty = excluded.qty, fee = excluded.fee, \
               fee_asset = excluded.fee_asset, time_ms = excluded.time_ms";
        with_pool!(self, p => async {
            let mut tx = p.begin_write().await?;
            for t in trades {
                sqlx::query(SQL).bind(owner).bind(credential_id).bind(&t.exchange_trade_id).bind(&t.symbol)
                    .bind(t.side.as_str()).bind(&t.price).bind(&t.qty).bind(&t.fee)
                    .bind(&t.fee_asset).bind(t.time_ms).execute(&mut *tx).await?;
            }
            tx.commit().await
        }.await)
        .ctx("upsert trades")
        .map_err(|e| if e.is_foreign_key_violation() { StoreError::NotFound { what: "credential" } } else { e })
    }

    /// Trades of one of the owner's credentials, oldest first, after `after_time_ms`.
    pub async fn trades(&self, owner: &str, credential_id: &str, after_time_ms: i64, limit: u32) -> Result<Vec<Trade>> {
        const SQL: &str = "SELECT t.exchange_trade_id, t.symbol, t.side, t.price, t.qty, t.fee, \
               t.fee_asset, t.time_ms FROM trades t \
             WHERE t.credential_id = $1 AND t.owner = $2 AND t.time_ms > $3 \
             ORDER BY t.time_ms, t.exchange_trade_id LIMIT $4";
        with_pool!(self, p => sqlx::query_as::<_, Trade>(SQL).bind(credential_id).bind(owner)
            .bind(after_time_ms).bind(i64::from(limit)).fetch_all(p).await)
        .ctx("trades")
    }

    /// How many trades the owner's credential has (service side, for import progress).
    pub async fn trade_count(&self, owner: &str, credential_id: &str) -> Result<i64> {
        const SQL: &str = "SELECT COUNT(*) FROM trades WHERE owner = $1 AND credential_id = $2";
        with_pool!(self, p => sqlx::query_scalar::<_, i64>(SQL).bind(owner).bind(credential_id).fetch_one(p).await)
            .ctx("trade count")
    }

    /// Service side (trader): records an order before it is sent (status `new`).
    /// [`StoreError::AlreadyExists`] if the client order id was used before for this
    /// credential — a retried placement must not become two orders.
    pub async fn create_order(&self, order: &NewOrder<'_>) -> Result<Order> {
        const SQL: &str = "INSERT INTO orders (id, owner, credential_id, client_order_id, exchange_order_id, \
               symbol, side, order_type, qty, price, status, created_ms, updated_ms) \
             VALUES ($1, $10, $2, $3, NULL, $4, $5, $6, $7, $8, 'new', $9, $9) \
             RETURNING id, owner, credential_id, client_order_id, exchange_order_id, symbol, side, \
               order_type, qty, price, status, created_ms, updated_ms, reason, status_checks";
        let now = now_ms();
        with_pool!(self, p => sqlx::query_as::<_, Order>(SQL).bind(order.id).bind(order.credential_id)
            .bind(order.client_order_id).bind(order.symbol).bind(order.side.as_str())
            .bind(order.order_type).bind(order.qty).bind(order.price).bind(now).bind(order.owner)
            .fetch_one(p).await)
        .ctx("create order")
        .map_err(|e| {
            if e.is_unique_violation() {
                StoreError::AlreadyExists { what: "order" }
            } else if e.is_foreign_key_violation() {
                StoreError::NotFound { what: "credential" }
            } else {
                e
            }
        })
    }

    /// Service side (trader): records the exchange's id (if now known) and a new status of
    /// one of the owner's orders.
    pub async fn update_order(
        &self,
        owner: &str,
        id: &str,
        exchange_order_id: Option<&str>,
        status: &str,
    ) -> Result<()> {
        const SQL: &str = "UPDATE orders SET exchange_order_id = COALESCE($2, exchange_order_id), \
             status = $3, updated_ms = $4 WHERE id = $1 AND owner = $5";
        let now = now_ms();
        let n = with_pool!(self, p => sqlx::query(SQL).bind(id).bind(exchange_order_id).bind(status)
            .bind(now).bind(owner).execute(p).await.map(|r| r.rows_affected()))
        .ctx("update order")?;
        if n == 0 { Err(StoreError::NotFound { what: "order" }) } else { Ok(()) }
    }

    /// Service side (trader): like [`Store::update_order`], and sets the order's reason
    /// (`None` clears it; cut to 300 bytes: a short sentence for the user, never an
    /// exchange response or a secret).
    pub async fn set_order_outcome(
        &self,
        owner: &str,
        id: &str,
        exchange_order_id: Option<&str>,
        status: &str,
        reason: Option<&str>,
    ) -> Result<()> {
        const SQL: &str = "UPDATE orders SET exchange_order_id = COALESCE($2, exchange_order_id), \
             status = $3, updated_ms = $4, reason = $6 WHERE id = $1 AND owner = $5";
        let now = now_ms();
        let reason = reason.map(|r| cut(r, MAX_REASON_LEN));
        let n = with_pool!(self, p => sqlx::query(SQL).bind(id).bind(exchange_order_id).bind(status)
            .bind(now).bind(owner).bind(reason).execute(p).await.map(|r| r.rows_affected()))
        .ctx("set order outcome")?;
        if n == 0 { Err(StoreError::NotFound { what: "order" }) } else { Ok(()) }
    }

    /// Service side (trader): counts one status query made to reconcile the owner's order;
    /// returns how many were made in all.
    pub async fn count_status_check(&self, owner: &str, id: &str) -> Result<i64> {
        const SQL: &str =
            "UPDATE orders SET status_checks = status_checks + 1 WHERE id = $1 AND owner = $2 RETURNING status_checks";
        let n: Option<i64> = with_pool!(self, p => sqlx::query_scalar(SQL).bind(id).bind(owner)
            .fetch_optional(p).await)
        .ctx("count status check")?;
        n.ok_or(StoreError::NotFound { what: "order" })
    }

    /// Service side (trader's reconciler): every user's orders in `unknown` with fewer than
    /// `max_checks` status queries, last changed before `before_ms`, oldest first.
    pub async fn unknown_orders(&self, before_ms: i64, max_checks: i64, limit: u32) -> Result<Vec<Order>> {
        let sql = format!(
            "SELECT {ORDER_COLUMNS} FROM orders o WHERE o.status = 'unknown' AND o.updated_ms < $1 \
             AND o.status_checks < $2 ORDER BY o.updated_ms, o.id LIMIT $3"
        );
        with_pool!(self, p => sqlx::query_as::<_, Order>(&sql).bind(before_ms).bind(max_checks)
            .bind(i64::from(limit)).fetch_all(p).await)
        .ctx("unknown orders")
    }

    /// The owner's orders in a state the exchange may still execute (`new`, `accepted`,
    /// `open`, `unknown`) on the owner's credentials of `status` (`frozen` for a lockdown),
    /// oldest first, at most `limit`.
    pub async fn open_orders_on(&self, owner: &str, credential_status: &str, limit: u32) -> Result<Vec<Order>> {
        let sql = format!(
            "SELECT {ORDER_COLUMNS} FROM orders o JOIN credentials c ON c.owner = o.owner AND c.id = o.credential_id \
             WHERE o.owner = $1 AND c.status = $2 AND o.status IN ('new', 'accepted', 'open', 'unknown') \
             ORDER BY o.created_ms, o.id LIMIT $3"
        );
        with_pool!(self, p => sqlx::query_as::<_, Order>(&sql).bind(owner).bind(credential_status)
            .bind(i64::from(limit)).fetch_all(p).await)
        .ctx("open orders")
    }

    /// One of the owner's orders.
    pub async fn order(&self, owner: &str, id: &str) -> Result<Option<Order>> {
        let sql = format!("SELECT {ORDER_COLUMNS} FROM orders o WHERE o.id = $1 AND o.owner = $2");
        with_pool!(self, p => sqlx::query_as::<_, Order>(&sql).bind(id).bind(owner).fetch_optional(p).await)
            .ctx("get order")
    }

    /// The owner's orders, newest first, at most `limit`.
    pub async fn orders(&self, owner: &str, limit: u32) -> Result<Vec<Order>> {
        let sql = format!(
            "SELECT {ORDER_COLUMNS} FROM orders o WHERE o.owner = $1 ORDER BY o.created_ms DESC, o.id DESC LIMIT $2"
        );
        with_pool!(self, p => sqlx::query_as::<_, Order>(&sql).bind(owner).bind(i64::from(limit))
            .fetch_all(p).await)
        .ctx("list orders")
    }

    /// Stores the owner's valuation of `snapshot.day` in `snapshot.currency`, replacing an
    /// earlier one of the same day: the day's last valuation is its close.
    pub async fn put_portfolio_snapshot(&self, owner: &str, snapshot: &PortfolioSnapshot) -> Result<()> {
        const SQL: &str = "INSERT INTO portfolio_snapshots (owner, day, currency, total, complete, assets, taken_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (owner, currency, day) DO UPDATE SET \
               total = excluded.total, complete = excluded.complete, assets = excluded.assets, \
               taken_ms = excluded.taken_ms";
        with_pool!(self, p => sqlx::query(SQL).bind(owner).bind(&snapshot.day).bind(&snapshot.currency)
            .bind(&snapshot.total).bind(snapshot.complete).bind(&snapshot.assets).bind(snapshot.taken_ms)
            .execute(p).await.map(|_| ()))
        .ctx("put portfolio snapshot")?;
        Ok(())
    }

    /// The owner's snapshots in `currency` from `since_day` (`YYYY-MM-DD`, inclusive), oldest
    /// first, at most `limit`.
    pub async fn portfolio_snapshots(
        &self,
        owner: &str,
        currency: &str,
        since_day: &str,
        limit: u32,
    ) -> Result<Vec<PortfolioSnapshot>> {
        const SQL: &str = "SELECT day, currency, total, complete, assets, taken_ms FROM portfolio_snapshots \
             WHERE owner = $1 AND currency = $2 AND day >= $3 ORDER BY day LIMIT $4";
        with_pool!(self, p => sqlx::query_as::<_, PortfolioSnapshot>(SQL).bind(owner).bind(currency)
            .bind(since_day).bind(i64::from(limit)).fetch_all(p).await)
        .ctx("portfolio snapshots")
    }

    /// What changes when the owner's trades on credentials not deleted change (a trade
    /// added, or a credential's trades gone): their count and the largest row id.
    pub async fn owner_trades_mark(&self, owner: &str) -> Result<(i64, i64)> {
        const SQL: &str = "SELECT COUNT(*), COALESCE(MAX(t.id), 0) FROM trades t \
             JOIN credentials c ON c.owner = t.owner AND c.id = t.credential_id \
             WHERE t.owner = $1 AND c.status <> 'deleted'";
        with_pool!(self, p => sqlx::query_as::<_, (i64, i64)>(SQL).bind(owner).fetch_one(p).await)
            .ctx("owner trades mark")
    }

    /// The owner's trades on every credential not deleted, oldest first (ties by credential
    /// and trade id), at most `limit`.
    pub async fn owner_trades(&self, owner: &str, limit: u32) -> Result<Vec<OwnerTrade>> {
        const SQL: &str = "SELECT t.credential_id, c.exchange, t.exchange_trade_id, t.symbol, t.side, t.price, \
               t.qty, t.fee, t.fee_asset, t.time_ms FROM trades t \
             JOIN credentials c ON c.owner = t.owner AND c.id = t.credential_id \
             WHERE t.owner = $1 AND c.status <> 'deleted' \
             ORDER BY t.time_ms, t.credential_id, t.exchange_trade_id LIMIT $2";
        with_pool!(self, p => sqlx::query_as::<_, OwnerTrade>(SQL).bind(owner).bind(i64::from(limit))
            .fetch_all(p).await)
        .ctx("owner trades")
    }
}
