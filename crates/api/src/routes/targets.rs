//! `/targets` (contract §5): inventory CRUD, filters, bulk import, connection tests, host keys.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use opsconductor_core::targets::{self, Target, TargetInput, TargetQuery};
use serde::Serialize;
use serde_json::json;

use crate::audit_layer::AuditSlot;
use crate::authn::{AuthUser, Operator};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Page, Path, Query, RawBody, parse_json};
use crate::probe::{self, TestOutcome};
use crate::routes::Message;
use crate::state::AppState;

/// Room for a 10,000-target import (about 1.5 MB of compact JSON with a few tags each).
pub const IMPORT_BODY_LIMIT: usize = 16 * 1024 * 1024;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TargetList {
    pub targets: Vec<Target>,
    pub total: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Imported {
    pub created: usize,
    pub targets: Vec<Target>,
}

/// Filtered, paged inventory: `tag` (repeatable, all must match), `protocol`, `q`.
#[utoipa::path(get, path = "/targets", tag = "targets", params(TargetQuery), security(("bearer" = [])),
    responses((status = 200, body = TargetList), (status = 422, description = "Bad filter")))]
pub async fn list(
    State(state): State<AppState>,
    AuthUser(_caller): AuthUser,
    Query(query): Query<TargetQuery>,
) -> ApiResult<Json<TargetList>> {
    let (skip, limit) = Page {
        skip: query.skip,
        limit: query.limit,
    }
    .resolve(100)?;
    let (targets, total) = targets::list(&state.core, &query, skip, limit).await?;
    Ok(Json(TargetList { targets, total }))
}

#[utoipa::path(post, path = "/targets", tag = "targets", request_body = TargetInput, security(("bearer" = [])),
    responses((status = 201, body = Target), (status = 400, description = "Invalid credential reference"),
              (status = 409, description = "Duplicate name"), (status = 422)))]
pub async fn create(
    State(state): State<AppState>,
    Operator(_caller): Operator,
    audit: AuditSlot,
    Json(body): Json<TargetInput>,
) -> ApiResult<(StatusCode, Json<Target>)> {
    let target = targets::create(&state.core, &body).await?;
    audit.set_resource_id(target.id);
    audit.detail("name", target.name.clone());
    Ok((StatusCode::CREATED, Json(target)))
}

#[utoipa::path(get, path = "/targets/{id}", tag = "targets", security(("bearer" = [])),
    responses((status = 200, body = Target), (status = 404)))]
pub async fn get(
    State(state): State<AppState>,
    AuthUser(_caller): AuthUser,
    Path(id): Path<i64>,
) -> ApiResult<Json<Target>> {
    Ok(Json(targets::get(&state.core, id).await?))
}

#[utoipa::path(put, path = "/targets/{id}", tag = "targets", request_body = TargetInput, security(("bearer" = [])),
    responses((status = 200, body = Target), (status = 400), (status = 404), (status = 409), (status = 422)))]
pub async fn update(
    State(state): State<AppState>,
    Operator(_caller): Operator,
    Path(id): Path<i64>,
    Json(body): Json<TargetInput>,
) -> ApiResult<Json<Target>> {
    Ok(Json(targets::update(&state.core, id, &body).await?))
}

#[utoipa::path(delete, path = "/targets/{id}", tag = "targets", security(("bearer" = [])),
    responses((status = 200, body = Message), (status = 404), (status = 409)))]
pub async fn delete(
    State(state): State<AppState>,
    Operator(_caller): Operator,
    Path(id): Path<i64>,
) -> ApiResult<Json<Message>> {
    targets::delete(&state.core, id).await?;
    Ok(Json(Message::new("Target deleted successfully")))
}

#[utoipa::path(delete, path = "/targets/by-name/{name}", tag = "targets", security(("bearer" = [])),
    responses((status = 200, body = Message), (status = 404), (status = 409)))]
pub async fn delete_by_name(
    State(state): State<AppState>,
    Operator(_caller): Operator,
    Path(name): Path<String>,
    audit: AuditSlot,
) -> ApiResult<Json<Message>> {
    let id = targets::delete_by_name(&state.core, &name).await?;
    audit.set_resource_id(id);
    audit.detail("name", name);
    Ok(Json(Message::new("Target deleted successfully")))
}

/// Creates every target or none. JSON: an array of targets (or `{"targets": [...]}`);
/// CSV (`Content-Type: text/csv`): a header row naming the columns. Up to 10,000 rows; the
/// body may be up to [`IMPORT_BODY_LIMIT`] bytes.
#[utoipa::path(post, path = "/targets/import", tag = "targets", security(("bearer" = [])),
    request_body(content = Vec<TargetInput>),
    responses((status = 201, body = Imported), (status = 422, description = "Every bad row, by index and field")))]
pub async fn import(
    State(state): State<AppState>,
    Operator(_caller): Operator,
    audit: AuditSlot,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<(StatusCode, Json<Imported>)> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let inputs: Vec<TargetInput> = if content_type.starts_with("text/csv") {
        let text = std::str::from_utf8(&body).map_err(|_| {
            ApiError::invalid(vec!["body".into()], "utf8", "The CSV is not UTF-8 text")
        })?;
        targets::parse_csv(&state.core, text).await?
    } else {
        match parse_json::<serde_json::Value>(&body)? {
            serde_json::Value::Object(mut wrapper) if wrapper.contains_key("targets") => {
                let list = wrapper.remove("targets").unwrap_or_default();
                parse_json(list.to_string().as_bytes())?
            }
            other => parse_json(other.to_string().as_bytes())?,
        }
    };
    let created = targets::import(&state.core, &inputs).await?;
    audit.detail("created", created.len());
    Ok((
        StatusCode::CREATED,
        Json(Imported {
            created: created.len(),
            targets: created,
        }),
    ))
}

/// Really connects with the target's credential and reports what happened.
#[utoipa::path(post, path = "/targets/{id}/test", tag = "targets", security(("bearer" = [])),
    responses((status = 200, body = TestOutcome), (status = 404), (status = 501, description = "WinRM not built yet")))]
pub async fn test(
    State(state): State<AppState>,
    Operator(caller): Operator,
    Path(id): Path<i64>,
    audit: AuditSlot,
) -> ApiResult<Json<TestOutcome>> {
    let target = targets::get(&state.core, id).await?;
    let outcome = probe::test_target(&state.core, &caller, &target).await?;
    audit.detail("success", outcome.success);
    audit.detail("message", outcome.message.clone());
    Ok(Json(outcome))
}

/// The older product's WinRM test path: really connects, answering in the contract's shape
/// (`success`, `message`, `test.{status, details}`) plus a `note` on what was tested.
pub async fn test_winrm(
    State(state): State<AppState>,
    Operator(caller): Operator,
    Path(id): Path<i64>,
) -> ApiResult<Json<serde_json::Value>> {
    let target = targets::get(&state.core, id).await?;
    if target.protocol != "winrm" {
        return Ok(Json(json!({
            "success": false,
            "message": "Target is not configured for WinRM protocol",
            "test": {"status": "error", "details": {"message": "Target is not configured for WinRM protocol"}},
        })));
    }
    let outcome = probe::test_winrm(&state.core, &caller, &target).await?;
    let note = if outcome.success {
        "Connected and authenticated over WinRM, then ran whoami, hostname and $PSVersionTable in PowerShell"
    } else {
        "The WinRM connection test failed before or while running its commands; see message"
    };
    Ok(Json(json!({
        "success": outcome.success,
        "message": outcome.message,
        "test": {"status": if outcome.success { "success" } else { "error" }, "details": outcome.details},
        "note": note,
    })))
}

/// Forgets the pinned SSH host key, so the next connection pins the key it sees.
#[utoipa::path(post, path = "/targets/{id}/host-key/reset", tag = "targets", security(("bearer" = [])),
    responses((status = 200, body = Message), (status = 404)))]
pub async fn reset_host_key(
    State(state): State<AppState>,
    Operator(_caller): Operator,
    Path(id): Path<i64>,
    audit: AuditSlot,
) -> ApiResult<Json<Message>> {
    let previous = targets::reset_host_key(&state.core, id).await?;
    audit.detail("previous_fingerprint", previous.clone());
    Ok(Json(Message::new(match previous {
        Some(fp) => format!("Host key {fp} forgotten; the next connection pins the key it sees"),
        None => "No host key was pinned".to_string(),
    })))
}
