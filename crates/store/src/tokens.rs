//! The `refresh_tokens` table: single-use tokens, stored hashed, grouped in families.

use sqlx::FromRow;

use crate::db::with_pool;
use crate::{Db, StoreResult, UtcTime};

/// A stored refresh token (only its SHA-256 hash is kept).
#[derive(Debug, Clone, FromRow)]
pub struct RefreshTokenRecord {
    pub id: i64,
    pub user_id: i64,
    pub family_id: String,
    pub token_version: i64,
    pub expires_at: UtcTime,
    pub used_at: Option<UtcTime>,
    pub revoked_at: Option<UtcTime>,
}

#[derive(Debug)]
pub struct NewRefreshToken<'a> {
    pub user_id: i64,
    pub family_id: &'a str,
    pub token_hash: &'a str,
    pub token_version: i64,
    pub expires_at: UtcTime,
}

const INSERT_SQL: &str = "INSERT INTO refresh_tokens \
    (user_id, family_id, token_hash, token_version, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6)";

pub async fn insert(db: &Db, token: &NewRefreshToken<'_>) -> StoreResult<()> {
    let now = UtcTime::now();
    with_pool!(db, pool => {
        sqlx::query(INSERT_SQL)
        .bind(token.user_id)
        .bind(token.family_id)
        .bind(token.token_hash)
        .bind(token.token_version)
        .bind(token.expires_at)
        .bind(now)
        .execute(pool)
        .await?;
    });
    Ok(())
}

pub async fn find_by_hash(db: &Db, token_hash: &str) -> StoreResult<Option<RefreshTokenRecord>> {
    let row = with_pool!(db, pool => {
        sqlx::query_as::<_, RefreshTokenRecord>(
            "SELECT id, user_id, family_id, token_version, expires_at, used_at, revoked_at \
             FROM refresh_tokens WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(pool)
        .await?
    });
    Ok(row)
}

/// One transaction that holds its token family: SQLite's write lock (`BEGIN IMMEDIATE`), or on
/// PostgreSQL a transaction-scoped advisory lock on the family, so a renewal and a revocation of
/// the same sign-in never interleave (read-committed snapshots would let a revocation miss a
/// token inserted concurrently).
macro_rules! family_tx {
    ($db:expr, $family:expr, $tx:ident => $body:expr) => {
        match $db {
            Db::Sqlite(pool) => {
                let mut $tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                let out = $body;
                $tx.commit().await?;
                out
            }
            Db::Postgres(pool) => {
                let mut $tx = pool.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                    .bind(format!("refresh-family:{}", $family))
                    .execute(&mut *$tx)
                    .await?;
                let out = $body;
                $tx.commit().await?;
                out
            }
        }
    };
}

/// Spends token `used_id` and stores its successor `next` (same family), atomically with
/// respect to [`revoke_family`]. `false` (nothing stored): the token was used or revoked
/// already, so two renewals with one token can never both succeed, and a revoked family never
/// gains a live token.
pub async fn rotate(db: &Db, used_id: i64, next: &NewRefreshToken<'_>) -> StoreResult<bool> {
    let now = UtcTime::now();
    let rotated = family_tx!(db, next.family_id, tx => {
        let spent = sqlx::query(
            "UPDATE refresh_tokens SET used_at = $2 WHERE id = $1 AND used_at IS NULL AND revoked_at IS NULL",
        )
        .bind(used_id)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if spent == 1 {
            sqlx::query(INSERT_SQL)
            .bind(next.user_id)
            .bind(next.family_id)
            .bind(next.token_hash)
            .bind(next.token_version)
            .bind(next.expires_at)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        spent == 1
    });
    Ok(rotated)
}

/// Revokes every token of a family (a sign-out, or a reuse detected).
pub async fn revoke_family(db: &Db, family_id: &str) -> StoreResult<u64> {
    let now = UtcTime::now();
    let affected = family_tx!(db, family_id, tx => {
        sqlx::query("UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL")
            .bind(family_id)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected()
    });
    Ok(affected)
}

/// Removes tokens that expired before `before`; they can no longer be used or replayed.
pub async fn delete_expired(db: &Db, before: UtcTime) -> StoreResult<u64> {
    let affected = with_pool!(db, pool => {
        sqlx::query("DELETE FROM refresh_tokens WHERE expires_at < $1")
            .bind(before)
            .execute(pool)
            .await?
            .rows_affected()
    });
    Ok(affected)
}
