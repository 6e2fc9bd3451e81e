//! The exchanges' request budgets as token buckets (migration 0015), shared by every
//! process on the database. Taking tokens is a compare-and-set on the row, so two importers
//! never both spend the last ones; the arithmetic (refill, cap, wait) is the caller's, passed
//! in as a function, so the rules stay in the pure crate that documents them.

use std::time::Duration;

use crate::error::{Ctx, Result};
use crate::store::{Store, with_pool};

/// Attempts at the compare-and-set before the store says to wait a moment.
const ATTEMPTS: usize = 16;

impl Store {
    /// Takes `need` from `bucket` at `now_ms`, where `refill(have, elapsed_ms)` is what the
    /// bucket holds after that long (capped at its burst) and a new bucket starts at
    /// `full`. Returns `None` when taken, or how long to wait before asking again (`wait(have)`).
    pub async fn take_tokens(
        &self,
        bucket: &str,
        need: u64,
        full: u64,
        now_ms: i64,
        refill: impl Fn(u64, u64) -> u64,
        wait: impl Fn(u64) -> u64,
    ) -> Result<Option<Duration>> {
        const SEED: &str =
            "INSERT INTO rate_buckets (bucket, milli, updated_ms) VALUES ($1, $2, $3) ON CONFLICT (bucket) DO NOTHING";
        const READ: &str = "SELECT milli, updated_ms FROM rate_buckets WHERE bucket = $1";
        const SET: &str = "UPDATE rate_buckets SET milli = $1, updated_ms = $2 \
                           WHERE bucket = $3 AND milli = $4 AND updated_ms = $5";
        let full_i = i64::try_from(full).unwrap_or(i64::MAX);
        for _ in 0..ATTEMPTS {
            let row: Option<(i64, i64)> =
                with_pool!(self, p => sqlx::query_as(READ).bind(bucket).fetch_optional(p).await)
                    .ctx("read rate bucket")?;
            // A new bucket starts full; two processes seeding it at once both read the one row.
            let Some((milli, updated)) = row else {
                with_pool!(self, p => sqlx::query(SEED).bind(bucket).bind(full_i).bind(now_ms).execute(p).await
                    .map(|_| ()))
                .ctx("seed rate bucket")?;
                continue;
            };
            let elapsed = u64::try_from(now_ms.saturating_sub(updated)).unwrap_or(0);
            let have = refill(u64::try_from(milli).unwrap_or(0), elapsed);
            if have < need {
                return Ok(Some(Duration::from_millis(wait(have).max(1))));
            }
            let left = i64::try_from(have - need).unwrap_or(i64::MAX);
            // A clock behind the row's (another process's) never moves the row back.
            let at = now_ms.max(updated);
            let done = with_pool!(self, p => sqlx::query(SET).bind(left).bind(at).bind(bucket).bind(milli)
                .bind(updated).execute(p).await.map(|r| r.rows_affected()))
            .ctx("take rate tokens")?;
            if done == 1 {
                return Ok(None);
            }
        }
        // Contended past the attempts: a short wait, then the caller asks again.
        Ok(Some(Duration::from_millis(10)))
    }
}
