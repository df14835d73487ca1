//! The `login_throttle` table: failed-login counters per key (a username or an IP), shared by
//! every API node so a load balancer cannot multiply an attacker's attempts.

use sqlx::FromRow;

use crate::db::with_pool;
use crate::{Db, StoreResult, UtcTime};

/// The failure count of one key inside its current window.
#[derive(Debug, Clone, FromRow)]
pub struct ThrottleRecord {
    pub key: String,
    pub failures: i64,
    pub window_start: UtcTime,
    pub locked_until: Option<UtcTime>,
}

pub async fn get(db: &Db, key: &str) -> StoreResult<Option<ThrottleRecord>> {
    let row = with_pool!(db, pool => {
        sqlx::query_as::<_, ThrottleRecord>(
            "SELECT key, failures, window_start, locked_until FROM login_throttle WHERE key = $1",
        )
        .bind(key)
        .fetch_optional(pool)
        .await?
    });
    Ok(row)
}

/// Counts one failure in one statement (no lost increments under concurrency). A window
/// that started before `window_start_after` is over: the count restarts at 1.
pub async fn record_failure(
    db: &Db,
    key: &str,
    now: UtcTime,
    window_start_after: UtcTime,
) -> StoreResult<ThrottleRecord> {
    let row = with_pool!(db, pool => {
        sqlx::query_as::<_, ThrottleRecord>(
            "INSERT INTO login_throttle (key, failures, window_start, locked_until) VALUES ($1, 1, $2, NULL) \
             ON CONFLICT (key) DO UPDATE SET \
               failures = CASE WHEN login_throttle.window_start <= $3 THEN 1 ELSE login_throttle.failures + 1 END, \
               locked_until = CASE WHEN login_throttle.window_start <= $3 THEN NULL ELSE login_throttle.locked_until END, \
               window_start = CASE WHEN login_throttle.window_start <= $3 THEN $2 ELSE login_throttle.window_start END \
             RETURNING key, failures, window_start, locked_until",
        )
        .bind(key)
        .bind(now)
        .bind(window_start_after)
        .fetch_one(pool)
        .await?
    });
    Ok(row)
}

pub async fn lock_until(db: &Db, key: &str, until: UtcTime) -> StoreResult<()> {
    with_pool!(db, pool => {
        sqlx::query("UPDATE login_throttle SET locked_until = $2 WHERE key = $1")
            .bind(key)
            .bind(until)
            .execute(pool)
            .await?;
    });
    Ok(())
}

pub async fn clear(db: &Db, key: &str) -> StoreResult<()> {
    with_pool!(db, pool => {
        sqlx::query("DELETE FROM login_throttle WHERE key = $1").bind(key).execute(pool).await?;
    });
    Ok(())
}

/// Drops counters whose window and lock are both over.
pub async fn prune(db: &Db, window_start_before: UtcTime, now: UtcTime) -> StoreResult<u64> {
    let affected = with_pool!(db, pool => {
        sqlx::query(
            "DELETE FROM login_throttle WHERE window_start < $1 AND (locked_until IS NULL OR locked_until < $2)",
        )
        .bind(window_start_before)
        .bind(now)
        .execute(pool)
        .await?
        .rows_affected()
    });
    Ok(affected)
}
