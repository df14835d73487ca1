//! The append-only, hash-chained `audit_log` table.

use sqlx::FromRow;

use crate::{Db, StoreResult, UtcTime};

macro_rules! audit_columns {
    () => {
        "id, ts, actor_id, actor_name, action, resource_type, resource_id, ip, user_agent, \
         outcome, status_code, details, prev_hash, record_hash"
    };
}

/// Arbitrary constant naming the PostgreSQL advisory lock that serialises chain appends.
const AUDIT_CHAIN_LOCK: i64 = 0x0A5D_17C4;

/// The hash the first entry chains to.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A stored audit entry.
#[derive(Debug, Clone, FromRow)]
pub struct AuditRecord {
    pub id: i64,
    pub ts: UtcTime,
    pub actor_id: Option<i64>,
    pub actor_name: Option<String>,
    pub action: String,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub outcome: String,
    pub status_code: i64,
    pub details: String,
    pub prev_hash: String,
    pub record_hash: String,
}

/// An entry to append; the store adds the id and the chain hashes.
#[derive(Debug, Clone)]
pub struct NewAuditEntry {
    pub ts: UtcTime,
    pub actor_id: Option<i64>,
    pub actor_name: Option<String>,
    pub action: String,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub outcome: String,
    pub status_code: i64,
    pub details: String,
}

/// Filters for listing; `None` matches everything.
#[derive(Debug, Default, Clone)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub resource_type: Option<String>,
    pub since: Option<UtcTime>,
    pub until: Option<UtcTime>,
}

/// Appends `entry` under a lock so no two appends chain to the same predecessor.
/// `hash` computes the entry's record hash from the previous record hash.
pub async fn append(
    db: &Db,
    entry: &NewAuditEntry,
    hash: impl Fn(&str, &NewAuditEntry) -> String,
) -> StoreResult<i64> {
    const LAST: &str = "SELECT record_hash FROM audit_log ORDER BY id DESC LIMIT 1";
    const INSERT: &str = concat!(
        "INSERT INTO audit_log (ts, actor_id, actor_name, action, resource_type, resource_id, ip, ",
        "user_agent, outcome, status_code, details, prev_hash, record_hash) ",
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id"
    );
    macro_rules! insert {
        ($tx:expr, $prev:expr) => {{
            let prev = $prev.unwrap_or_else(|| GENESIS_HASH.to_string());
            let record_hash = hash(&prev, entry);
            sqlx::query_scalar::<_, i64>(INSERT)
                .bind(entry.ts)
                .bind(entry.actor_id)
                .bind(entry.actor_name.as_deref())
                .bind(&entry.action)
                .bind(entry.resource_type.as_deref())
                .bind(entry.resource_id.as_deref())
                .bind(entry.ip.as_deref())
                .bind(entry.user_agent.as_deref())
                .bind(&entry.outcome)
                .bind(entry.status_code)
                .bind(&entry.details)
                .bind(&prev)
                .bind(&record_hash)
                .fetch_one(&mut *$tx)
                .await?
        }};
    }
    let id = match db {
        Db::Sqlite(pool) => {
            // IMMEDIATE takes the write lock before the read, so the read-then-insert cannot
            // fail on a stale snapshot under WAL.
            let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
            let prev: Option<String> = sqlx::query_scalar(LAST).fetch_optional(&mut *tx).await?;
            let id = insert!(tx, prev);
            tx.commit().await?;
            id
        }
        Db::Postgres(pool) => {
            let mut tx = pool.begin().await?;
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(AUDIT_CHAIN_LOCK)
                .execute(&mut *tx)
                .await?;
            let prev: Option<String> = sqlx::query_scalar(LAST).fetch_optional(&mut *tx).await?;
            let id = insert!(tx, prev);
            tx.commit().await?;
            id
        }
    };
    Ok(id)
}

/// One page of entries matching `filter`, newest first, and the filtered total.
pub async fn list(
    db: &Db,
    filter: &AuditFilter,
    skip: i64,
    limit: i64,
) -> StoreResult<(Vec<AuditRecord>, i64)> {
    macro_rules! filter_sql {
        () => {
            "WHERE ($1 IS NULL OR actor_name = $1) AND ($2 IS NULL OR action = $2) \
             AND ($3 IS NULL OR resource_type = $3) AND ($4 IS NULL OR ts >= $4) AND ($5 IS NULL OR ts <= $5)"
        };
    }
    macro_rules! run {
        ($pool:expr) => {{
            let rows = sqlx::query_as::<_, AuditRecord>(concat!(
                "SELECT ",
                audit_columns!(),
                " FROM audit_log ",
                filter_sql!(),
                " ORDER BY id DESC LIMIT $6 OFFSET $7"
            ))
            .bind(filter.actor.as_deref())
            .bind(filter.action.as_deref())
            .bind(filter.resource_type.as_deref())
            .bind(filter.since)
            .bind(filter.until)
            .bind(limit)
            .bind(skip)
            .fetch_all($pool)
            .await?;
            let total: i64 =
                sqlx::query_scalar(concat!("SELECT COUNT(*) FROM audit_log ", filter_sql!()))
                    .bind(filter.actor.as_deref())
                    .bind(filter.action.as_deref())
                    .bind(filter.resource_type.as_deref())
                    .bind(filter.since)
                    .bind(filter.until)
                    .fetch_one($pool)
                    .await?;
            (rows, total)
        }};
    }
    let result = match db {
        Db::Sqlite(pool) => run!(pool),
        Db::Postgres(pool) => run!(pool),
    };
    Ok(result)
}

/// Up to `limit` entries with id greater than `after_id`, oldest first: for walking the chain.
pub async fn page_after(db: &Db, after_id: i64, limit: i64) -> StoreResult<Vec<AuditRecord>> {
    let rows = crate::db::with_pool!(db, pool => {
        sqlx::query_as::<_, AuditRecord>(concat!(
            "SELECT ", audit_columns!(), " FROM audit_log WHERE id > $1 ORDER BY id ASC LIMIT $2"
        ))
        .bind(after_id)
        .bind(limit)
        .fetch_all(pool)
        .await?
    });
    Ok(rows)
}
