//! The audit trail: who did what, from where, with what outcome, hash-chained so that any
//! edit or deletion of a stored entry is detectable.

use opsconductor_store::UtcTime;
use opsconductor_store::audit::{
    self as store, AuditFilter, AuditRecord, GENESIS_HASH, NewAuditEntry,
};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::{Core, Result};

/// What happened, as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    pub ts: UtcTime,
    pub actor_id: Option<i64>,
    pub actor: Option<String>,
    pub action: String,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub outcome: String,
    pub status_code: i64,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    pub prev_hash: String,
    pub record_hash: String,
}

impl From<AuditRecord> for AuditEntry {
    fn from(r: AuditRecord) -> Self {
        AuditEntry {
            id: r.id,
            ts: r.ts,
            actor_id: r.actor_id,
            actor: r.actor_name,
            action: r.action,
            resource_type: r.resource_type,
            resource_id: r.resource_id,
            ip: r.ip,
            user_agent: r.user_agent,
            outcome: r.outcome,
            status_code: r.status_code,
            details: serde_json::from_str(&r.details).unwrap_or(serde_json::Value::Null),
            prev_hash: r.prev_hash,
            record_hash: r.record_hash,
        }
    }
}

/// The result of walking the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum ChainStatus {
    Valid { valid: bool, entries: i64 },
    Broken { valid: bool, first_broken_id: i64 },
}

/// An event to record; `details` must not contain secrets.
#[derive(Debug, Clone, Default)]
pub struct Event {
    pub actor_id: Option<i64>,
    pub actor_name: Option<String>,
    pub action: String,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub outcome: String,
    pub status_code: u16,
    pub details: serde_json::Value,
}

/// SHA-256 over the previous hash and every stored field, as a JSON array (unambiguous:
/// no field can bleed into its neighbour).
fn record_hash(prev: &str, e: &NewAuditEntry) -> String {
    let canonical = serde_json::json!([
        prev,
        e.ts.to_rfc3339(),
        e.actor_id,
        e.actor_name,
        e.action,
        e.resource_type,
        e.resource_id,
        e.ip,
        e.user_agent,
        e.outcome,
        e.status_code,
        e.details,
    ]);
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

/// Appends an event to the chain.
pub async fn record(core: &Core, event: Event) -> Result<i64> {
    let details = if event.details.is_null() {
        "{}".to_string()
    } else {
        event.details.to_string()
    };
    let entry = NewAuditEntry {
        ts: UtcTime::now(),
        actor_id: event.actor_id,
        actor_name: event.actor_name,
        action: event.action,
        resource_type: event.resource_type,
        resource_id: event.resource_id,
        ip: event.ip,
        user_agent: event.user_agent.map(|ua| ua.chars().take(512).collect()),
        outcome: event.outcome,
        status_code: i64::from(event.status_code),
        details,
    };
    Ok(store::append(&core.db, &entry, record_hash).await?)
}

pub async fn list(
    core: &Core,
    filter: &AuditFilter,
    skip: i64,
    limit: i64,
) -> Result<(Vec<AuditEntry>, i64)> {
    let (rows, total) = store::list(&core.db, filter, skip, limit).await?;
    Ok((rows.into_iter().map(AuditEntry::from).collect(), total))
}

/// Walks the whole chain in id order and reports the first entry whose links or contents
/// do not match.
pub async fn verify(core: &Core) -> Result<ChainStatus> {
    const PAGE: i64 = 1000;
    let mut prev = GENESIS_HASH.to_string();
    let mut last_id = 0;
    let mut entries = 0;
    loop {
        let page = store::page_after(&core.db, last_id, PAGE).await?;
        if page.is_empty() {
            break;
        }
        for r in &page {
            let entry = NewAuditEntry {
                ts: r.ts,
                actor_id: r.actor_id,
                actor_name: r.actor_name.clone(),
                action: r.action.clone(),
                resource_type: r.resource_type.clone(),
                resource_id: r.resource_id.clone(),
                ip: r.ip.clone(),
                user_agent: r.user_agent.clone(),
                outcome: r.outcome.clone(),
                status_code: r.status_code,
                details: r.details.clone(),
            };
            if r.prev_hash != prev || record_hash(&prev, &entry) != r.record_hash {
                return Ok(ChainStatus::Broken {
                    valid: false,
                    first_broken_id: r.id,
                });
            }
            prev = r.record_hash.clone();
            last_id = r.id;
            entries += 1;
        }
    }
    Ok(ChainStatus::Valid {
        valid: true,
        entries,
    })
}
