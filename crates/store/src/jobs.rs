//! The `jobs` table and `job_versions`, which keeps every revision of every definition.

use sqlx::FromRow;

use crate::db::with_pool;
use crate::{Db, StoreResult, UtcTime};

macro_rules! job_columns {
    () => {
        "id, name, version, definition, revision, created_by, is_active, created_at, updated_at"
    };
}

/// A stored job; `definition` is JSON text, `revision` counts definition changes.
#[derive(Debug, Clone, FromRow)]
pub struct JobRecord {
    pub id: i64,
    pub name: String,
    pub version: i64,
    pub definition: String,
    pub revision: i64,
    pub created_by: i64,
    pub is_active: bool,
    pub created_at: UtcTime,
    pub updated_at: UtcTime,
}

/// One kept revision of a definition.
#[derive(Debug, Clone, FromRow)]
pub struct JobVersionRecord {
    pub job_id: i64,
    pub revision: i64,
    pub version: i64,
    pub definition: String,
    pub created_by: Option<i64>,
    pub created_at: UtcTime,
}

#[derive(Debug)]
pub struct NewJob<'a> {
    pub name: &'a str,
    pub version: i64,
    pub definition: &'a str,
    pub created_by: i64,
    pub is_active: bool,
}

/// Changes; `None` keeps the value. A new definition makes a new revision.
#[derive(Debug, Default)]
pub struct JobChanges {
    pub name: Option<String>,
    pub version: Option<i64>,
    pub definition: Option<String>,
    pub is_active: Option<bool>,
    /// Change only if the job is still at this revision (optimistic concurrency).
    pub base_revision: Option<i64>,
}

/// Creates the job and its first revision in one transaction.
pub async fn insert(db: &Db, job: &NewJob<'_>) -> StoreResult<JobRecord> {
    let now = UtcTime::now();
    let record = with_pool!(db, pool => {
        let mut tx = pool.begin().await?;
        let record = sqlx::query_as::<_, JobRecord>(concat!(
            "INSERT INTO jobs (name, version, definition, revision, created_by, is_active, created_at, updated_at) ",
            "VALUES ($1, $2, $3, 1, $4, $5, $6, $6) RETURNING ", job_columns!()
        ))
        .bind(job.name)
        .bind(job.version)
        .bind(job.definition)
        .bind(job.created_by)
        .bind(job.is_active)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO job_versions (job_id, revision, version, definition, created_by, created_at) \
             VALUES ($1, 1, $2, $3, $4, $5)",
        )
        .bind(record.id)
        .bind(job.version)
        .bind(job.definition)
        .bind(job.created_by)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        record
    });
    Ok(record)
}

pub async fn get(db: &Db, id: i64) -> StoreResult<Option<JobRecord>> {
    let row = with_pool!(db, pool => {
        sqlx::query_as::<_, JobRecord>(concat!("SELECT ", job_columns!(), " FROM jobs WHERE id = $1"))
            .bind(id)
            .fetch_optional(pool)
            .await?
    });
    Ok(row)
}

#[derive(FromRow)]
struct Counted {
    #[sqlx(flatten)]
    record: JobRecord,
    total: i64,
}

/// One page, newest first; `active_only` hides inactive jobs (the contract's default).
pub async fn list(
    db: &Db,
    active_only: bool,
    skip: i64,
    limit: i64,
) -> StoreResult<(Vec<JobRecord>, i64)> {
    let rows = with_pool!(db, pool => {
        sqlx::query_as::<_, Counted>(concat!(
            "SELECT ", job_columns!(), ", COUNT(*) OVER () AS total FROM jobs ",
            "WHERE ($1 = FALSE OR is_active = TRUE) ORDER BY id DESC LIMIT $2 OFFSET $3"
        ))
        .bind(active_only)
        .bind(limit)
        .bind(skip)
        .fetch_all(pool)
        .await?
    });
    let total = match rows.first() {
        Some(r) => r.total,
        None => with_pool!(db, pool => {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM jobs WHERE ($1 = FALSE OR is_active = TRUE)")
                .bind(active_only)
                .fetch_one(pool)
                .await?
        }),
    };
    Ok((rows.into_iter().map(|r| r.record).collect(), total))
}

/// Applies `changes`; a new definition bumps the revision and is kept in `job_versions`, in
/// the same transaction. `None` when the job does not exist.
pub async fn update(
    db: &Db,
    id: i64,
    changes: &JobChanges,
    actor: i64,
) -> StoreResult<Option<JobRecord>> {
    let now = UtcTime::now();
    let bump = i64::from(changes.definition.is_some());
    let record = with_pool!(db, pool => {
        let mut tx = pool.begin().await?;
        let record = sqlx::query_as::<_, JobRecord>(concat!(
            "UPDATE jobs SET name = COALESCE($2, name), version = COALESCE($3, version), ",
            "definition = COALESCE($4, definition), is_active = COALESCE($5, is_active), ",
            "revision = revision + $6, updated_at = $7 ",
            "WHERE id = $1 AND (CAST($8 AS BIGINT) IS NULL OR revision = $8) RETURNING ", job_columns!()
        ))
        .bind(id)
        .bind(changes.name.as_deref())
        .bind(changes.version)
        .bind(changes.definition.as_deref())
        .bind(changes.is_active)
        .bind(bump)
        .bind(now)
        .bind(changes.base_revision)
        .fetch_optional(&mut *tx)
        .await?;
        if let (Some(r), true) = (&record, bump == 1) {
            sqlx::query(
                "INSERT INTO job_versions (job_id, revision, version, definition, created_by, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(r.id)
            .bind(r.revision)
            .bind(r.version)
            .bind(&r.definition)
            .bind(actor)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        record
    });
    Ok(record)
}

/// Deletes a job (its revisions go with it); a reference from runs is a foreign key violation.
pub async fn delete(db: &Db, id: i64) -> StoreResult<bool> {
    let affected = with_pool!(db, pool => {
        sqlx::query("DELETE FROM jobs WHERE id = $1").bind(id).execute(pool).await?.rows_affected()
    });
    Ok(affected > 0)
}

/// Every kept revision of a job, newest first.
pub async fn versions(db: &Db, job_id: i64) -> StoreResult<Vec<JobVersionRecord>> {
    let rows = with_pool!(db, pool => {
        sqlx::query_as::<_, JobVersionRecord>(
            "SELECT job_id, revision, version, definition, created_by, created_at FROM job_versions \
             WHERE job_id = $1 ORDER BY revision DESC",
        )
        .bind(job_id)
        .fetch_all(pool)
        .await?
    });
    Ok(rows)
}

pub async fn version(db: &Db, job_id: i64, revision: i64) -> StoreResult<Option<JobVersionRecord>> {
    let row = with_pool!(db, pool => {
        sqlx::query_as::<_, JobVersionRecord>(
            "SELECT job_id, revision, version, definition, created_by, created_at FROM job_versions \
             WHERE job_id = $1 AND revision = $2",
        )
        .bind(job_id)
        .bind(revision)
        .fetch_optional(pool)
        .await?
    });
    Ok(row)
}

/// Names among `names` that belong to no target (for definition checks).
pub async fn missing_target_names(db: &Db, names: &[String]) -> StoreResult<Vec<String>> {
    let existing = crate::targets::existing_names(db, names).await?;
    Ok(names
        .iter()
        .filter(|n| !existing.contains(n))
        .cloned()
        .collect())
}
