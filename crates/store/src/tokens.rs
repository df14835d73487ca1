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

pub async fn insert(db: &Db, token: &NewRefreshToken<'_>) -> StoreResult<()> {
    let now = UtcTime::now();
    with_pool!(db, pool => {
        sqlx::query(
            "INSERT INTO refresh_tokens (user_id, family_id, token_hash, token_version, expires_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
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

/// Marks the token used if nobody did so first; `false` means it was already used or revoked,
/// so two concurrent refreshes with one token can never both succeed.
pub async fn mark_used(db: &Db, id: i64) -> StoreResult<bool> {
    let now = UtcTime::now();
    let affected = with_pool!(db, pool => {
        sqlx::query(
            "UPDATE refresh_tokens SET used_at = $2 WHERE id = $1 AND used_at IS NULL AND revoked_at IS NULL",
        )
        .bind(id)
        .bind(now)
        .execute(pool)
        .await?
        .rows_affected()
    });
    Ok(affected == 1)
}

/// Revokes every token of a family (reuse detected).
pub async fn revoke_family(db: &Db, family_id: &str) -> StoreResult<u64> {
    let now = UtcTime::now();
    let affected = with_pool!(db, pool => {
        sqlx::query("UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL")
            .bind(family_id)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected()
    });
    Ok(affected)
}

/// Whether the family was ended (a sign-out or a detected reuse revoked its tokens).
pub async fn family_revoked(db: &Db, family_id: &str) -> StoreResult<bool> {
    let revoked: Option<i64> = with_pool!(db, pool => {
        sqlx::query_scalar(
            "SELECT 1 FROM refresh_tokens WHERE family_id = $1 AND revoked_at IS NOT NULL LIMIT 1",
        )
        .bind(family_id)
        .fetch_optional(pool)
        .await?
    });
    Ok(revoked.is_some())
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
