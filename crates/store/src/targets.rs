//! The `targets` table and its `target_tags` index.

use sqlx::FromRow;

use crate::db::with_pool;
use crate::{Db, StoreError, StoreResult, UtcTime};

macro_rules! target_columns {
    () => {
        "id, name, hostname, protocol, port, credential_ref, tags, metadata, depends_on, \
         host_key_fingerprint, host_key_algorithm, host_key_pinned_at, created_at, updated_at"
    };
}

/// A stored target; `tags`, `metadata` and `depends_on` are JSON text.
#[derive(Debug, Clone, FromRow)]
pub struct TargetRecord {
    pub id: i64,
    pub name: String,
    pub hostname: String,
    pub protocol: String,
    pub port: i64,
    pub credential_ref: i64,
    pub tags: String,
    pub metadata: String,
    pub depends_on: String,
    pub host_key_fingerprint: Option<String>,
    pub host_key_algorithm: Option<String>,
    pub host_key_pinned_at: Option<UtcTime>,
    pub created_at: UtcTime,
    pub updated_at: UtcTime,
}

/// Every stored field of a target, already validated.
#[derive(Debug, Clone)]
pub struct TargetFields {
    pub name: String,
    pub hostname: String,
    pub protocol: String,
    pub port: i64,
    pub credential_ref: i64,
    pub tags: Vec<String>,
    /// JSON object text.
    pub metadata: String,
    pub depends_on: Vec<i64>,
}

/// List filters; every given condition must hold.
#[derive(Debug, Default, Clone)]
pub struct TargetFilter {
    /// The target must carry every one of these tags.
    pub tags: Vec<String>,
    pub protocol: Option<String>,
    /// Case-insensitive substring of the name or the hostname.
    pub q: Option<String>,
}

fn json_list<T: serde::Serialize>(values: &[T]) -> String {
    serde_json::to_string(values).unwrap_or_else(|_| "[]".into())
}

macro_rules! insert_one {
    ($tx:expr, $fields:expr, $now:expr) => {{
        let f = $fields;
        let record = sqlx::query_as::<_, TargetRecord>(concat!(
            "INSERT INTO targets (name, hostname, protocol, port, credential_ref, tags, metadata, depends_on, ",
            "created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING ", target_columns!()
        ))
        .bind(&f.name)
        .bind(&f.hostname)
        .bind(&f.protocol)
        .bind(f.port)
        .bind(f.credential_ref)
        .bind(json_list(&f.tags))
        .bind(&f.metadata)
        .bind(json_list(&f.depends_on))
        .bind($now)
        .fetch_one(&mut *$tx)
        .await?;
        for tag in &f.tags {
            sqlx::query("INSERT INTO target_tags (tag, target_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(tag)
                .bind(record.id)
                .execute(&mut *$tx)
                .await?;
        }
        record
    }};
}

/// Inserts all targets in one transaction: all or none.
pub async fn insert_many(db: &Db, targets: &[TargetFields]) -> StoreResult<Vec<TargetRecord>> {
    let now = UtcTime::now();
    let rows = with_pool!(db, pool => {
        let mut tx = pool.begin().await?;
        let mut rows = Vec::with_capacity(targets.len());
        for fields in targets {
            rows.push(insert_one!(tx, fields, now));
        }
        tx.commit().await?;
        rows
    });
    Ok(rows)
}

pub async fn insert(db: &Db, fields: &TargetFields) -> StoreResult<TargetRecord> {
    insert_many(db, std::slice::from_ref(fields))
        .await?
        .pop()
        .ok_or_else(|| StoreError::Config("insert returned no row".into()))
}

/// Replaces every field (and the tag index) of a target; `None` if it does not exist.
pub async fn update(db: &Db, id: i64, fields: &TargetFields) -> StoreResult<Option<TargetRecord>> {
    let now = UtcTime::now();
    let row = with_pool!(db, pool => {
        let mut tx = pool.begin().await?;
        let row = sqlx::query_as::<_, TargetRecord>(concat!(
            "UPDATE targets SET name = $2, hostname = $3, protocol = $4, port = $5, credential_ref = $6, tags = $7, ",
            "metadata = $8, depends_on = $9, updated_at = $10 WHERE id = $1 RETURNING ", target_columns!()
        ))
        .bind(id)
        .bind(&fields.name)
        .bind(&fields.hostname)
        .bind(&fields.protocol)
        .bind(fields.port)
        .bind(fields.credential_ref)
        .bind(json_list(&fields.tags))
        .bind(&fields.metadata)
        .bind(json_list(&fields.depends_on))
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        if row.is_some() {
            sqlx::query("DELETE FROM target_tags WHERE target_id = $1").bind(id).execute(&mut *tx).await?;
            for tag in &fields.tags {
                sqlx::query("INSERT INTO target_tags (tag, target_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                    .bind(tag)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        row
    });
    Ok(row)
}

pub async fn get(db: &Db, id: i64) -> StoreResult<Option<TargetRecord>> {
    let row = with_pool!(db, pool => {
        sqlx::query_as::<_, TargetRecord>(concat!("SELECT ", target_columns!(), " FROM targets WHERE id = $1"))
            .bind(id)
            .fetch_optional(pool)
            .await?
    });
    Ok(row)
}

pub async fn by_name(db: &Db, name: &str) -> StoreResult<Option<TargetRecord>> {
    let row = with_pool!(db, pool => {
        sqlx::query_as::<_, TargetRecord>(concat!("SELECT ", target_columns!(), " FROM targets WHERE name = $1"))
            .bind(name)
            .fetch_optional(pool)
            .await?
    });
    Ok(row)
}

/// Names among `names` that are already taken.
pub async fn existing_names(db: &Db, names: &[String]) -> StoreResult<Vec<String>> {
    let list = json_list(names);
    let rows = match db {
        Db::Sqlite(pool) => {
            sqlx::query_scalar::<_, String>(
                "SELECT name FROM targets WHERE name IN (SELECT value FROM json_each($1))",
            )
            .bind(list)
            .fetch_all(pool)
            .await?
        }
        Db::Postgres(pool) => sqlx::query_scalar::<_, String>(
            "SELECT name FROM targets WHERE name IN (SELECT jsonb_array_elements_text($1::jsonb))",
        )
        .bind(list)
        .fetch_all(pool)
        .await?,
    };
    Ok(rows)
}

/// `(id, depends_on JSON)` of every target: the dependency graph, for cycle checks.
pub async fn dependency_graph(db: &Db) -> StoreResult<Vec<(i64, String)>> {
    let rows = with_pool!(db, pool => {
        sqlx::query_as::<_, (i64, String)>("SELECT id, depends_on FROM targets").fetch_all(pool).await?
    });
    Ok(rows)
}

/// Escapes `%`, `_` and `\` so user text matches literally inside a LIKE pattern.
fn like_pattern(q: &str) -> String {
    let mut out = String::with_capacity(q.len() + 2);
    out.push('%');
    for c in q.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// The list filter, per backend: the tag condition uses the `(tag, target_id)` index through a
/// JSON array on SQLite and a `text[]` on PostgreSQL.
macro_rules! target_filter {
    (sqlite) => {
        target_filter!("tag IN (SELECT value FROM json_each($4))")
    };
    (postgres) => {
        target_filter!("tag = ANY($4::text[])")
    };
    ($tags:literal) => {
        concat!(
            "WHERE ($1 IS NULL OR protocol = $1) ",
            "AND ($2 IS NULL OR LOWER(name) LIKE $2 ESCAPE '\\' OR LOWER(hostname) LIKE $2 ESCAPE '\\') ",
            "AND ($3 = 0 OR id IN (SELECT target_id FROM target_tags WHERE ", $tags, " ",
            "GROUP BY target_id HAVING COUNT(*) = $3))"
        )
    };
}

/// One filtered page, newest first (walking the primary key, so a page never sorts the whole
/// inventory), and the filtered total.
pub async fn list(
    db: &Db,
    filter: &TargetFilter,
    skip: i64,
    limit: i64,
) -> StoreResult<(Vec<TargetRecord>, i64)> {
    let mut tags = filter.tags.clone();
    tags.sort();
    tags.dedup();
    let tag_count = i64::try_from(tags.len()).unwrap_or(i64::MAX);
    let pattern = filter
        .q
        .as_deref()
        .filter(|q| !q.is_empty())
        .map(like_pattern);
    macro_rules! run {
        ($pool:expr, $tags:expr, $backend:tt) => {{
            let rows = sqlx::query_as::<_, TargetRecord>(concat!(
                "SELECT ",
                target_columns!(),
                " FROM targets ",
                target_filter!($backend),
                " ORDER BY id DESC LIMIT $5 OFFSET $6"
            ))
            .bind(filter.protocol.as_deref())
            .bind(pattern.as_deref())
            .bind(tag_count)
            .bind($tags)
            .bind(limit)
            .bind(skip)
            .fetch_all($pool)
            .await?;
            let total: i64 = sqlx::query_scalar(concat!(
                "SELECT COUNT(*) FROM targets ",
                target_filter!($backend)
            ))
            .bind(filter.protocol.as_deref())
            .bind(pattern.as_deref())
            .bind(tag_count)
            .bind($tags)
            .fetch_one($pool)
            .await?;
            (rows, total)
        }};
    }
    let result = match db {
        Db::Sqlite(pool) => run!(pool, json_list(&tags), sqlite),
        Db::Postgres(pool) => run!(pool, &tags, postgres),
    };
    Ok(result)
}

/// Deletes a target; `false` when there was none.
pub async fn delete(db: &Db, id: i64) -> StoreResult<bool> {
    let affected = with_pool!(db, pool => {
        sqlx::query("DELETE FROM targets WHERE id = $1").bind(id).execute(pool).await?.rows_affected()
    });
    Ok(affected > 0)
}

/// Records the host key seen on the first successful connection, unless one is pinned already.
pub async fn pin_host_key(
    db: &Db,
    id: i64,
    fingerprint: &str,
    algorithm: &str,
) -> StoreResult<bool> {
    let now = UtcTime::now();
    let affected = with_pool!(db, pool => {
        sqlx::query(
            "UPDATE targets SET host_key_fingerprint = $2, host_key_algorithm = $3, host_key_pinned_at = $4 \
             WHERE id = $1 AND host_key_fingerprint IS NULL",
        )
        .bind(id)
        .bind(fingerprint)
        .bind(algorithm)
        .bind(now)
        .execute(pool)
        .await?
        .rows_affected()
    });
    Ok(affected == 1)
}

/// Forgets the pinned host key; `None` if there is no such target, else the old fingerprint.
pub async fn reset_host_key(db: &Db, id: i64) -> StoreResult<Option<Option<String>>> {
    let Some(existing) = get(db, id).await? else {
        return Ok(None);
    };
    with_pool!(db, pool => {
        sqlx::query(
            "UPDATE targets SET host_key_fingerprint = NULL, host_key_algorithm = NULL, host_key_pinned_at = NULL \
             WHERE id = $1",
        )
        .bind(id)
        .execute(pool)
        .await?;
    });
    Ok(Some(existing.host_key_fingerprint))
}

/// Whether any target uses the credential.
pub async fn credential_in_use(db: &Db, credential_id: i64) -> StoreResult<bool> {
    let used: bool = with_pool!(db, pool => {
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM targets WHERE credential_ref = $1)")
            .bind(credential_id)
            .fetch_one(pool)
            .await?
    });
    Ok(used)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_match_literally() {
        assert_eq!(like_pattern("Web_01%"), "%web\\_01\\%%");
    }
}
