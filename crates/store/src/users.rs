//! The `users` table.

use sqlx::FromRow;

use crate::db::with_pool;
use crate::{Db, StoreResult, UtcTime};

macro_rules! user_columns {
    () => {
        "id, email, username, pwd_hash, role, token_version, created_at, updated_at"
    };
}

/// A stored user, password hash included: never serialize this to a client.
#[derive(Debug, Clone, FromRow)]
pub struct UserRecord {
    pub id: i64,
    pub email: String,
    pub username: String,
    pub pwd_hash: String,
    pub role: String,
    pub token_version: i64,
    pub created_at: UtcTime,
    pub updated_at: UtcTime,
}

/// A user to create; values are already validated by the service layer.
#[derive(Debug)]
pub struct NewUser<'a> {
    pub email: &'a str,
    pub username: &'a str,
    pub pwd_hash: &'a str,
    pub role: &'a str,
}

/// Fields to change; `None` keeps the stored value.
#[derive(Debug, Default)]
pub struct UserChanges {
    pub email: Option<String>,
    pub username: Option<String>,
    pub pwd_hash: Option<String>,
    pub role: Option<String>,
}

pub async fn insert(db: &Db, user: &NewUser<'_>) -> StoreResult<UserRecord> {
    let now = UtcTime::now();
    let row = with_pool!(db, pool => {
        sqlx::query_as::<_, UserRecord>(concat!(
            "INSERT INTO users (email, username, pwd_hash, role, token_version, created_at, updated_at) ",
            "VALUES ($1, $2, $3, $4, 1, $5, $5) RETURNING ", user_columns!()
        ))
        .bind(user.email)
        .bind(user.username)
        .bind(user.pwd_hash)
        .bind(user.role)
        .bind(now)
        .fetch_one(pool)
        .await?
    });
    Ok(row)
}

pub async fn get(db: &Db, id: i64) -> StoreResult<Option<UserRecord>> {
    let row = with_pool!(db, pool => {
        sqlx::query_as::<_, UserRecord>(concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1"))
            .bind(id)
            .fetch_optional(pool)
            .await?
    });
    Ok(row)
}

pub async fn by_username(db: &Db, username: &str) -> StoreResult<Option<UserRecord>> {
    let row = with_pool!(db, pool => {
        sqlx::query_as::<_, UserRecord>(concat!("SELECT ", user_columns!(), " FROM users WHERE username = $1"))
            .bind(username)
            .fetch_optional(pool)
            .await?
    });
    Ok(row)
}

#[derive(FromRow)]
struct CountedUser {
    #[sqlx(flatten)]
    user: UserRecord,
    total: i64,
}

/// One page of users, newest first, and the total count. The total rides along on each row
/// (`COUNT(*) OVER ()`), so a page costs one query; only a page past the end needs a second.
pub async fn list(db: &Db, skip: i64, limit: i64) -> StoreResult<(Vec<UserRecord>, i64)> {
    let rows = with_pool!(db, pool => {
        sqlx::query_as::<_, CountedUser>(concat!(
            "SELECT ", user_columns!(), ", COUNT(*) OVER () AS total FROM users ORDER BY id DESC LIMIT $1 OFFSET $2"
        ))
        .bind(limit)
        .bind(skip)
        .fetch_all(pool)
        .await?
    });
    let total = match rows.first() {
        Some(row) => row.total,
        None => count(db).await?,
    };
    Ok((rows.into_iter().map(|r| r.user).collect(), total))
}

pub async fn count(db: &Db) -> StoreResult<i64> {
    let total: i64 = with_pool!(db, pool => {
        sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(pool).await?
    });
    Ok(total)
}

/// Applies `changes`; `None` when no such user exists.
pub async fn update(db: &Db, id: i64, changes: &UserChanges) -> StoreResult<Option<UserRecord>> {
    let now = UtcTime::now();
    let row = with_pool!(db, pool => {
        sqlx::query_as::<_, UserRecord>(concat!(
            "UPDATE users SET email = COALESCE($2, email), username = COALESCE($3, username), ",
            "pwd_hash = COALESCE($4, pwd_hash), role = COALESCE($5, role), updated_at = $6 ",
            "WHERE id = $1 RETURNING ", user_columns!()
        ))
        .bind(id)
        .bind(changes.email.as_deref())
        .bind(changes.username.as_deref())
        .bind(changes.pwd_hash.as_deref())
        .bind(changes.role.as_deref())
        .bind(now)
        .fetch_optional(pool)
        .await?
    });
    Ok(row)
}

/// Invalidates every token issued so far; returns the new version, `None` if no such user.
pub async fn bump_token_version(db: &Db, id: i64) -> StoreResult<Option<i64>> {
    let version = with_pool!(db, pool => {
        sqlx::query_scalar::<_, i64>(
            "UPDATE users SET token_version = token_version + 1 WHERE id = $1 RETURNING token_version",
        )
        .bind(id)
        .fetch_optional(pool)
        .await?
    });
    Ok(version)
}

/// Deletes the user; `false` when there was none. A reference from other tables surfaces
/// as [`crate::StoreError::ForeignKeyViolation`].
pub async fn delete(db: &Db, id: i64) -> StoreResult<bool> {
    let affected = with_pool!(db, pool => {
        sqlx::query("DELETE FROM users WHERE id = $1").bind(id).execute(pool).await?.rows_affected()
    });
    Ok(affected > 0)
}

pub async fn count_with_role(db: &Db, role: &str) -> StoreResult<i64> {
    let total: i64 = with_pool!(db, pool => {
        sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = $1").bind(role).fetch_one(pool).await?
    });
    Ok(total)
}
