//! The `credentials` table (sealed secrets, never plaintext) and `vault_meta`.

use sqlx::FromRow;

use crate::db::with_pool;
use crate::{Db, StoreError, StoreResult, UtcTime};

macro_rules! credential_columns {
    () => {
        "id, name, description, credential_type, key_id, dek_nonce, dek_wrapped, data_nonce, \
         data_ciphertext, created_by, created_at, updated_at, rotated_at"
    };
}

/// A stored credential: metadata plus the envelope-encrypted secret.
#[derive(Debug, Clone, FromRow)]
pub struct CredentialRecord {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub credential_type: String,
    pub key_id: String,
    pub dek_nonce: Vec<u8>,
    pub dek_wrapped: Vec<u8>,
    pub data_nonce: Vec<u8>,
    pub data_ciphertext: Vec<u8>,
    pub created_by: Option<i64>,
    pub created_at: UtcTime,
    pub updated_at: Option<UtcTime>,
    pub rotated_at: Option<UtcTime>,
}

/// The encrypted parts of a credential, as produced by the vault.
#[derive(Debug, Clone)]
pub struct Sealed {
    pub key_id: String,
    pub dek_nonce: Vec<u8>,
    pub dek_wrapped: Vec<u8>,
    pub data_nonce: Vec<u8>,
    pub data_ciphertext: Vec<u8>,
}

#[derive(Debug)]
pub struct NewCredential<'a> {
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub credential_type: &'a str,
    pub created_by: Option<i64>,
}

/// Metadata changes; `None` keeps the stored value.
#[derive(Debug, Default)]
pub struct CredentialChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub credential_type: Option<String>,
}

/// Inserts a credential. The ciphertext is bound to the row id, so `seal` gets the id the row
/// received and the row is completed in the same transaction: nobody ever sees it half-written.
pub async fn insert<E: From<StoreError>>(
    db: &Db,
    new: &NewCredential<'_>,
    seal: impl FnOnce(i64) -> Result<Sealed, E>,
) -> Result<CredentialRecord, E> {
    let now = UtcTime::now();
    macro_rules! run {
        ($pool:expr) => {{
            let mut tx = $pool.begin().await.map_err(StoreError::from)?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO credentials (name, description, credential_type, key_id, dek_nonce, dek_wrapped, \
                 data_nonce, data_ciphertext, created_by, created_at, updated_at) \
                 VALUES ($1, $2, $3, '', $4, $4, $4, $4, $5, $6, $6) RETURNING id",
            )
            .bind(new.name)
            .bind(new.description)
            .bind(new.credential_type)
            .bind(Vec::<u8>::new())
            .bind(new.created_by)
            .bind(now)
            .fetch_one(&mut *tx)
            .await
            .map_err(StoreError::from)?;
            let sealed = seal(id)?;
            let record = sqlx::query_as::<_, CredentialRecord>(concat!(
                "UPDATE credentials SET key_id = $2, dek_nonce = $3, dek_wrapped = $4, data_nonce = $5, ",
                "data_ciphertext = $6 WHERE id = $1 RETURNING ", credential_columns!()
            ))
            .bind(id)
            .bind(&sealed.key_id)
            .bind(&sealed.dek_nonce)
            .bind(&sealed.dek_wrapped)
            .bind(&sealed.data_nonce)
            .bind(&sealed.data_ciphertext)
            .fetch_one(&mut *tx)
            .await
            .map_err(StoreError::from)?;
            tx.commit().await.map_err(StoreError::from)?;
            Ok(record)
        }};
    }
    match db {
        Db::Sqlite(pool) => run!(pool),
        Db::Postgres(pool) => run!(pool),
    }
}

pub async fn get(db: &Db, id: i64) -> StoreResult<Option<CredentialRecord>> {
    let row = with_pool!(db, pool => {
        sqlx::query_as::<_, CredentialRecord>(concat!("SELECT ", credential_columns!(), " FROM credentials WHERE id = $1"))
            .bind(id)
            .fetch_optional(pool)
            .await?
    });
    Ok(row)
}

pub async fn by_name(db: &Db, name: &str) -> StoreResult<Option<CredentialRecord>> {
    let row = with_pool!(db, pool => {
        sqlx::query_as::<_, CredentialRecord>(concat!("SELECT ", credential_columns!(), " FROM credentials WHERE name = $1"))
            .bind(name)
            .fetch_optional(pool)
            .await?
    });
    Ok(row)
}

#[derive(FromRow)]
struct Counted {
    #[sqlx(flatten)]
    record: CredentialRecord,
    total: i64,
}

/// One page, newest first, and the total.
pub async fn list(db: &Db, skip: i64, limit: i64) -> StoreResult<(Vec<CredentialRecord>, i64)> {
    let rows = with_pool!(db, pool => {
        sqlx::query_as::<_, Counted>(concat!(
            "SELECT ", credential_columns!(), ", COUNT(*) OVER () AS total FROM credentials ORDER BY id DESC LIMIT $1 OFFSET $2"
        ))
        .bind(limit)
        .bind(skip)
        .fetch_all(pool)
        .await?
    });
    let total = match rows.first() {
        Some(r) => r.total,
        None => with_pool!(db, pool => {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM credentials").fetch_one(pool).await?
        }),
    };
    Ok((rows.into_iter().map(|r| r.record).collect(), total))
}

/// Updates metadata and, when given, the sealed secret; `rotated` stamps `rotated_at`.
pub async fn update(
    db: &Db,
    id: i64,
    changes: &CredentialChanges,
    sealed: Option<&Sealed>,
    rotated: bool,
) -> StoreResult<Option<CredentialRecord>> {
    let now = UtcTime::now();
    let rotated_at = rotated.then_some(now);
    let row = with_pool!(db, pool => {
        sqlx::query_as::<_, CredentialRecord>(concat!(
            "UPDATE credentials SET name = COALESCE($2, name), description = COALESCE($3, description), ",
            "credential_type = COALESCE($4, credential_type), key_id = COALESCE($5, key_id), ",
            "dek_nonce = COALESCE($6, dek_nonce), dek_wrapped = COALESCE($7, dek_wrapped), ",
            "data_nonce = COALESCE($8, data_nonce), data_ciphertext = COALESCE($9, data_ciphertext), ",
            "updated_at = $10, rotated_at = COALESCE($11, rotated_at) WHERE id = $1 RETURNING ", credential_columns!()
        ))
        .bind(id)
        .bind(changes.name.as_deref())
        .bind(changes.description.as_deref())
        .bind(changes.credential_type.as_deref())
        .bind(sealed.map(|s| s.key_id.as_str()))
        .bind(sealed.map(|s| s.dek_nonce.as_slice()))
        .bind(sealed.map(|s| s.dek_wrapped.as_slice()))
        .bind(sealed.map(|s| s.data_nonce.as_slice()))
        .bind(sealed.map(|s| s.data_ciphertext.as_slice()))
        .bind(now)
        .bind(rotated_at)
        .fetch_optional(pool)
        .await?
    });
    Ok(row)
}

/// Replaces the wrapped data key of one credential (master key rotation), only if it is
/// still wrapped by `old_key_id`.
pub async fn rewrap(
    db: &Db,
    id: i64,
    old_key_id: &str,
    new_key_id: &str,
    dek_nonce: &[u8],
    dek_wrapped: &[u8],
) -> StoreResult<bool> {
    let affected = with_pool!(db, pool => {
        sqlx::query(
            "UPDATE credentials SET key_id = $3, dek_nonce = $4, dek_wrapped = $5 WHERE id = $1 AND key_id = $2",
        )
        .bind(id)
        .bind(old_key_id)
        .bind(new_key_id)
        .bind(dek_nonce)
        .bind(dek_wrapped)
        .execute(pool)
        .await?
        .rows_affected()
    });
    Ok(affected == 1)
}

/// Every credential (for rotation and start-up checks); sealed columns included.
pub async fn all(db: &Db) -> StoreResult<Vec<CredentialRecord>> {
    let rows = with_pool!(db, pool => {
        sqlx::query_as::<_, CredentialRecord>(concat!("SELECT ", credential_columns!(), " FROM credentials ORDER BY id"))
            .fetch_all(pool)
            .await?
    });
    Ok(rows)
}

/// Deletes a credential; a target still using it surfaces as a foreign key violation.
pub async fn delete(db: &Db, id: i64) -> StoreResult<bool> {
    let affected = with_pool!(db, pool => {
        sqlx::query("DELETE FROM credentials WHERE id = $1").bind(id).execute(pool).await?.rows_affected()
    });
    Ok(affected > 0)
}

/// The vault's key check: which master key sealed the vault, and a sealed known value.
#[derive(Debug, Clone, FromRow)]
pub struct VaultMeta {
    pub key_id: String,
    pub check_nonce: Vec<u8>,
    pub check_ciphertext: Vec<u8>,
}

pub async fn vault_meta(db: &Db) -> StoreResult<Option<VaultMeta>> {
    let row = with_pool!(db, pool => {
        sqlx::query_as::<_, VaultMeta>("SELECT key_id, check_nonce, check_ciphertext FROM vault_meta WHERE id = 1")
            .fetch_optional(pool)
            .await?
    });
    Ok(row)
}

pub async fn put_vault_meta(db: &Db, meta: &VaultMeta) -> StoreResult<()> {
    let now = UtcTime::now();
    with_pool!(db, pool => {
        sqlx::query(
            "INSERT INTO vault_meta (id, key_id, check_nonce, check_ciphertext, updated_at) VALUES (1, $1, $2, $3, $4) \
             ON CONFLICT (id) DO UPDATE SET key_id = $1, check_nonce = $2, check_ciphertext = $3, updated_at = $4",
        )
        .bind(&meta.key_id)
        .bind(&meta.check_nonce)
        .bind(&meta.check_ciphertext)
        .bind(now)
        .execute(pool)
        .await?;
    });
    Ok(())
}
