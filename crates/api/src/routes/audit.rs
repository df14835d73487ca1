//! `/audit` and `/audit/verify` (admin).

use axum::extract::State;
use opsconductor_core::audit::{self, AuditEntry, ChainStatus};
use opsconductor_store::UtcTime;
use opsconductor_store::audit::AuditFilter;
use serde::{Deserialize, Serialize};

use crate::authn::Admin;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Page, Query};
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct AuditQuery {
    /// Username of the actor.
    pub actor: Option<String>,
    /// Exact action, e.g. `user.create` or `auth.login`.
    pub action: Option<String>,
    pub resource_type: Option<String>,
    /// RFC 3339 lower bound (inclusive).
    pub since: Option<String>,
    /// RFC 3339 upper bound (inclusive).
    pub until: Option<String>,
    pub skip: Option<i64>,
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditList {
    pub entries: Vec<AuditEntry>,
    pub total: i64,
}

fn time_param(name: &str, value: Option<String>) -> Result<Option<UtcTime>, ApiError> {
    value
        .map(|v| {
            UtcTime::try_from(v).map_err(|_| {
                ApiError::invalid(
                    vec!["query".into(), name.into()],
                    "datetime_parsing",
                    "Input should be an RFC 3339 date-time such as 2026-01-31T12:00:00Z",
                )
            })
        })
        .transpose()
}

#[utoipa::path(get, path = "/audit", tag = "audit", params(AuditQuery), security(("bearer" = [])),
    responses((status = 200, body = AuditList), (status = 403, description = "Admin role required")))]
pub async fn list(
    State(state): State<AppState>,
    Admin(_admin): Admin,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Json<AuditList>> {
    let (skip, limit) = Page {
        skip: q.skip,
        limit: q.limit,
    }
    .resolve(100)?;
    let filter = AuditFilter {
        actor: q.actor.filter(|v| !v.is_empty()),
        action: q.action.filter(|v| !v.is_empty()),
        resource_type: q.resource_type.filter(|v| !v.is_empty()),
        since: time_param("since", q.since)?,
        until: time_param("until", q.until)?,
    };
    let (entries, total) = audit::list(&state.core, &filter, skip, limit).await?;
    Ok(Json(AuditList { entries, total }))
}

/// Recomputes the hash chain: `{"valid": true, "entries": N}` or the first broken entry.
#[utoipa::path(get, path = "/audit/verify", tag = "audit", security(("bearer" = [])),
    responses((status = 200, body = ChainStatus), (status = 403, description = "Admin role required")))]
pub async fn verify(
    State(state): State<AppState>,
    Admin(_admin): Admin,
) -> ApiResult<Json<ChainStatus>> {
    Ok(Json(audit::verify(&state.core).await?))
}
