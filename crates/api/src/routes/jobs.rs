//! `/jobs` (contract §6) and the kept versions of their definitions.

use axum::extract::State;
use axum::http::StatusCode;
use opsconductor_core::jobs::plan::{self, Plan};
use opsconductor_core::jobs::service::{self as jobs, CreateJob, Job, JobVersion, UpdateJob};
use serde::{Deserialize, Serialize};

use crate::audit_layer::AuditSlot;
use crate::authn::{AuthUser, Operator};
use crate::error::ApiResult;
use crate::extract::{Json, Page, Path, Query, RawBody, parse_json_or};
use crate::routes::Message;
use crate::state::AppState;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JobList {
    pub jobs: Vec<Job>,
    pub total: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JobVersionList {
    pub versions: Vec<JobVersion>,
    pub total: usize,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct JobQuery {
    pub skip: Option<i64>,
    pub limit: Option<i64>,
    /// Hide inactive jobs (default true, as in the older product).
    pub active_only: Option<bool>,
}

#[utoipa::path(get, path = "/jobs", tag = "jobs", params(JobQuery), security(("bearer" = [])),
    responses((status = 200, body = JobList)))]
pub async fn list(
    State(state): State<AppState>,
    AuthUser(_caller): AuthUser,
    Query(q): Query<JobQuery>,
) -> ApiResult<Json<JobList>> {
    let (skip, limit) = Page {
        skip: q.skip,
        limit: q.limit,
    }
    .resolve(100)?;
    let (jobs, total) = jobs::list(&state.core, q.active_only.unwrap_or(true), skip, limit).await?;
    Ok(Json(JobList { jobs, total }))
}

#[utoipa::path(post, path = "/jobs", tag = "jobs", request_body = CreateJob, security(("bearer" = [])),
    responses((status = 201, body = Job), (status = 409, description = "Duplicate name"),
              (status = 422, description = "Invalid definition: every error names the step index and field")))]
pub async fn create(
    State(state): State<AppState>,
    Operator(caller): Operator,
    audit: AuditSlot,
    Json(body): Json<CreateJob>,
) -> ApiResult<(StatusCode, Json<Job>)> {
    let job = jobs::create(&state.core, &caller, &body).await?;
    audit.set_resource_id(job.id);
    audit.detail("name", job.name.clone());
    Ok((StatusCode::CREATED, Json(job)))
}

#[utoipa::path(get, path = "/jobs/{id}", tag = "jobs", security(("bearer" = [])),
    responses((status = 200, body = Job), (status = 404)))]
pub async fn get(
    State(state): State<AppState>,
    AuthUser(_caller): AuthUser,
    Path(id): Path<i64>,
) -> ApiResult<Json<Job>> {
    Ok(Json(jobs::get(&state.core, id).await?))
}

#[utoipa::path(put, path = "/jobs/{id}", tag = "jobs", request_body = UpdateJob, security(("bearer" = [])),
    responses((status = 200, body = Job), (status = 404), (status = 409), (status = 422)))]
pub async fn update(
    State(state): State<AppState>,
    Operator(caller): Operator,
    Path(id): Path<i64>,
    audit: AuditSlot,
    Json(body): Json<UpdateJob>,
) -> ApiResult<Json<Job>> {
    let job = jobs::update(&state.core, &caller, id, &body).await?;
    audit.detail("revision", job.revision);
    Ok(Json(job))
}

#[utoipa::path(delete, path = "/jobs/{id}", tag = "jobs", security(("bearer" = [])),
    responses((status = 200, body = Message), (status = 404), (status = 409, description = "Has execution history")))]
pub async fn delete(
    State(state): State<AppState>,
    Operator(_caller): Operator,
    Path(id): Path<i64>,
) -> ApiResult<Json<Message>> {
    jobs::delete(&state.core, id).await?;
    Ok(Json(Message::new("Job deleted successfully")))
}

/// Every kept revision of the definition, newest first.
#[utoipa::path(get, path = "/jobs/{id}/versions", tag = "jobs", security(("bearer" = [])),
    responses((status = 200, body = JobVersionList), (status = 404)))]
pub async fn versions(
    State(state): State<AppState>,
    AuthUser(_caller): AuthUser,
    Path(id): Path<i64>,
) -> ApiResult<Json<JobVersionList>> {
    let versions = jobs::versions(&state.core, id).await?;
    Ok(Json(JobVersionList {
        total: versions.len(),
        versions,
    }))
}

#[utoipa::path(get, path = "/jobs/{id}/versions/{revision}", tag = "jobs", security(("bearer" = [])),
    responses((status = 200, body = JobVersion), (status = 404)))]
pub async fn version(
    State(state): State<AppState>,
    AuthUser(_caller): AuthUser,
    Path((id, revision)): Path<(i64, i64)>,
) -> ApiResult<Json<JobVersion>> {
    Ok(Json(jobs::version(&state.core, id, revision).await?))
}

/// The dry run: parameters and targets resolved, every command rendered, nothing executed.
/// The body is `{"parameters": {...}}` or the parameters object itself (optional).
#[utoipa::path(post, path = "/jobs/{id}/plan", tag = "jobs", security(("bearer" = [])),
    request_body(content = Object),
    responses((status = 200, body = Plan), (status = 400, description = "The job cannot run as asked: every problem listed"),
              (status = 404)))]
pub async fn plan(
    State(state): State<AppState>,
    Operator(_caller): Operator,
    Path(id): Path<i64>,
    RawBody(body): RawBody,
) -> ApiResult<Json<Plan>> {
    let body = parse_json_or(&body, serde_json::Value::Null)?;
    let params = plan::run_parameters(&body)?;
    Ok(Json(plan::plan(&state.core, id, &params).await?))
}
