//! `/runs` (contract §7 and its Rebuild extensions), `POST /jobs/{id}/run`, the live event
//! stream and the executor's status (§8).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use opsconductor_core::runs::{self, ListQuery, LogPage, Run, RunEvent, RunStep};
use opsconductor_core::store::UtcTime;
use opsconductor_core::store::runs as run_store;
use opsconductor_core::{Core, Error};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::audit_layer::AuditSlot;
use crate::authn::{AuthUser, Operator};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Page, Path, Query, RawBody, parse_json_or};
use crate::state::AppState;

/// Events read from the database per query while streaming.
const EVENT_BATCH: i64 = 500;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RunList {
    pub runs: Vec<Run>,
    pub total: i64,
}

/// Queues a run (contract §6 Rebuild): operators and admins. The body is `{"parameters":
/// {...}}` or the parameters object itself, plus an optional `idempotency_key` (or an
/// `Idempotency-Key` header): repeating a key returns the first run (200) instead of queuing
/// another.
#[utoipa::path(post, path = "/jobs/{id}/run", tag = "runs", security(("bearer" = [])),
    request_body(content = Object),
    responses((status = 201, body = Run), (status = 200, description = "Idempotency key seen before: the same run", body = Run),
              (status = 400, description = "The job cannot run as asked (inactive, unknown parameter or target): every problem listed"),
              (status = 404), (status = 409, description = "Idempotency key reused with other parameters")))]
pub async fn start(
    State(state): State<AppState>,
    Operator(caller): Operator,
    audit: AuditSlot,
    Path(id): Path<i64>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<Response> {
    let body = parse_json_or(&body, Value::Null)?;
    let header_key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => Some(v.to_str().map_err(|_| {
            ApiError::from(Error::BadRequest(
                "The Idempotency-Key header must be visible ASCII".into(),
            ))
        })?),
    };
    let created = runs::create(&state.core, &caller, id, &body, header_key).await?;
    audit.detail("run_id", created.run.id);
    let status = if created.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(created.run)).into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct RunQuery {
    pub skip: Option<i64>,
    pub limit: Option<i64>,
    pub job_id: Option<i64>,
    /// queued, running, succeeded, failed or canceled.
    pub status: Option<String>,
    /// Runs queued at or after this instant (RFC 3339).
    pub since: Option<String>,
}

#[utoipa::path(get, path = "/runs", tag = "runs", params(RunQuery), security(("bearer" = [])),
    responses((status = 200, body = RunList), (status = 422)))]
pub async fn list(
    State(state): State<AppState>,
    AuthUser(_caller): AuthUser,
    Query(q): Query<RunQuery>,
) -> ApiResult<Json<RunList>> {
    let (skip, limit) = Page {
        skip: q.skip,
        limit: q.limit,
    }
    .resolve(100)?;
    let since = match q.since {
        None => None,
        Some(raw) => Some(UtcTime::try_from(raw).map_err(|_| {
            ApiError::invalid(
                vec!["query".into(), "since".into()],
                "datetime_parsing",
                "since must be an RFC 3339 date-time, e.g. 2025-08-26T17:03:12Z",
            )
        })?),
    };
    let query = ListQuery {
        job_id: q.job_id,
        status: q.status,
        since,
    };
    let (runs, total) = runs::list(&state.core, query, skip, limit).await?;
    Ok(Json(RunList { runs, total }))
}

#[utoipa::path(get, path = "/runs/{id}", tag = "runs", security(("bearer" = [])),
    responses((status = 200, body = Run), (status = 404)))]
pub async fn get(
    State(state): State<AppState>,
    AuthUser(_caller): AuthUser,
    Path(id): Path<i64>,
) -> ApiResult<Json<Run>> {
    Ok(Json(runs::get(&state.core, id).await?))
}

/// Every step on every target, by step index (a bare array, as the contract).
#[utoipa::path(get, path = "/runs/{id}/steps", tag = "runs", security(("bearer" = [])),
    responses((status = 200, body = Vec<RunStep>), (status = 404)))]
pub async fn steps(
    State(state): State<AppState>,
    AuthUser(_caller): AuthUser,
    Path(id): Path<i64>,
) -> ApiResult<Json<Vec<RunStep>>> {
    Ok(Json(runs::steps(&state.core, id).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct LogQuery {
    /// Only this step (0-based index).
    pub step: Option<i64>,
    /// Only this target id.
    pub target: Option<i64>,
    /// The first sequence number to return (the `next_offset` of the previous page).
    pub offset: Option<i64>,
    /// Chunks per page, 1..=5000 (default 1000).
    pub limit: Option<i64>,
}

/// The run's output by range: ordered chunks, never the whole log at once.
#[utoipa::path(get, path = "/runs/{id}/log", tag = "runs", params(LogQuery), security(("bearer" = [])),
    responses((status = 200, body = LogPage), (status = 404)))]
pub async fn log(
    State(state): State<AppState>,
    AuthUser(_caller): AuthUser,
    Path(id): Path<i64>,
    Query(q): Query<LogQuery>,
) -> ApiResult<Json<LogPage>> {
    if let Some(limit) = q.limit
        && !(1..=runs::MAX_LOG_CHUNKS).contains(&limit)
    {
        return Err(ApiError::invalid(
            vec!["query".into(), "limit".into()],
            "less_than_equal",
            format!("limit must be between 1 and {}", runs::MAX_LOG_CHUNKS),
        ));
    }
    if q.offset.is_some_and(|o| o < 0) {
        return Err(ApiError::invalid(
            vec!["query".into(), "offset".into()],
            "greater_than_equal",
            "offset must not be negative",
        ));
    }
    Ok(Json(
        runs::log(
            &state.core,
            id,
            q.step,
            q.target,
            q.offset.unwrap_or(0),
            q.limit.unwrap_or(1000),
        )
        .await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct EventsQuery {
    /// Resume after this sequence number (the `Last-Event-ID` header wins if both are sent).
    pub after: Option<i64>,
}

/// Server-Sent Events: every status change and output chunk of the run in order, each with
/// its sequence number as the event id; reconnecting with `Last-Event-ID` resumes without gaps
/// or duplicates. The stream ends after the run's final status.
#[utoipa::path(get, path = "/runs/{id}/events", tag = "runs", params(EventsQuery), security(("bearer" = [])),
    responses((status = 200, description = "text/event-stream of RunEvent (event name = kind)"), (status = 404)))]
pub async fn events(
    State(state): State<AppState>,
    AuthUser(_caller): AuthUser,
    Path(id): Path<i64>,
    Query(q): Query<EventsQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let after = match headers.get("last-event-id") {
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .filter(|n| *n >= 0)
            .ok_or_else(|| {
                ApiError::from(Error::BadRequest(
                    "Last-Event-ID must be an event id (a non-negative integer)".into(),
                ))
            })?,
        None => q.after.unwrap_or(0).max(0),
    };
    // Subscribe before the first read, so nothing written in between is missed.
    let wake = state.core.signals.subscribe();
    runs::get(&state.core, id).await?;
    let stream = event_stream(state.core.clone(), id, after, wake);
    let sse = Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)));
    // Reverse proxies (nginx) must pass events on as they come, not buffer them.
    Ok(([("x-accel-buffering", "no")], sse).into_response())
}

struct Cursor {
    core: Core,
    run_id: i64,
    after: i64,
    wake: broadcast::Receiver<i64>,
    buffer: VecDeque<RunEvent>,
    done: bool,
}

fn event_stream(
    core: Core,
    run_id: i64,
    after: i64,
    wake: broadcast::Receiver<i64>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let cursor = Cursor {
        core,
        run_id,
        after,
        wake,
        buffer: VecDeque::new(),
        done: false,
    };
    futures_util::stream::unfold(cursor, |mut c| async move {
        loop {
            if let Some(event) = c.buffer.pop_front() {
                c.after = event.seq;
                c.done = event.is_final();
                let sse = Event::default()
                    .id(event.seq.to_string())
                    .event(event.kind.clone())
                    .json_data(&event)
                    .unwrap_or_else(|_| Event::default().comment("unserialisable event"));
                return Some((Ok(sse), c));
            }
            if c.done {
                return None;
            }
            match runs::events_after(&c.core, c.run_id, c.after, EVENT_BATCH).await {
                Ok(events) if !events.is_empty() => {
                    c.buffer.extend(events);
                    continue;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(run_id = c.run_id, error = %e, "event stream cannot read the run");
                    return None;
                }
            }
            let poll = Duration::from_millis(c.core.config.http.live_poll_ms.max(10));
            let _ = tokio::time::timeout(poll, woken(&mut c.wake, c.run_id)).await;
        }
    })
}

/// Resolves when run `run_id` may have new events (or the receiver lagged and must re-read).
async fn woken(wake: &mut broadcast::Receiver<i64>, run_id: i64) {
    loop {
        match wake.recv().await {
            Ok(id) if id == run_id => return,
            Ok(_) => {}
            Err(broadcast::error::RecvError::Lagged(_)) => return,
            Err(broadcast::error::RecvError::Closed) => std::future::pending::<()>().await,
        }
    }
}

/// Cancels a run: queued → `canceled` at once; running → its commands are stopped (remote
/// processes killed), unfinished steps `aborted`, then `canceled`. 409 when already finished.
#[utoipa::path(post, path = "/runs/{id}/cancel", tag = "runs", security(("bearer" = [])),
    responses((status = 200, body = Run), (status = 404), (status = 409)))]
pub async fn cancel(
    State(state): State<AppState>,
    Operator(caller): Operator,
    Path(id): Path<i64>,
) -> ApiResult<Json<Run>> {
    Ok(Json(runs::cancel(&state.core, &caller, id).await?))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RerunBody {
    /// Run again only the targets whose steps failed or were aborted.
    #[serde(default)]
    pub only_failed_targets: bool,
}

/// Queues a new run of the same job with the same parameters.
#[utoipa::path(post, path = "/runs/{id}/rerun", tag = "runs", security(("bearer" = [])),
    request_body(content = RerunBody),
    responses((status = 201, body = Run), (status = 400), (status = 404), (status = 409)))]
pub async fn rerun(
    State(state): State<AppState>,
    Operator(caller): Operator,
    audit: AuditSlot,
    Path(id): Path<i64>,
    RawBody(body): RawBody,
) -> ApiResult<(StatusCode, Json<Run>)> {
    let body = parse_json_or(&body, RerunBody::default())?;
    let run = runs::rerun(&state.core, &caller, id, body.only_failed_targets).await?;
    audit.detail("new_run_id", run.id);
    Ok((StatusCode::CREATED, Json(run)))
}

/// The executor's status (contract §8; authenticated in the rebuild).
#[utoipa::path(get, path = "/executor/status", tag = "runs", security(("bearer" = [])),
    responses((status = 200, body = Object)))]
pub async fn executor_status(
    State(state): State<AppState>,
    AuthUser(_caller): AuthUser,
) -> ApiResult<Json<Value>> {
    let core = &state.core;
    let since = UtcTime::now().plus_secs(-86_400);
    let counts = run_store::step_counts(&core.db, since)
        .await
        .map_err(Error::from)?;
    let (queued, running) = run_store::run_counts(&core.db).await.map_err(Error::from)?;
    Ok(Json(json!({
        "worker_running": core.signals.worker_running(),
        "worker_enabled": worker_enabled(core),
        "poll_interval": 5,
        "dispatch": "notify",
        "active_runs_here": core.signals.executing_count(),
        "runs": {"queued": queued, "running": running},
        "queue_stats": {
            "queued_steps": counts.queued,
            "running_steps": counts.running,
            "succeeded_steps": counts.succeeded,
            "failed_steps": counts.failed,
        },
    })))
}

/// Whether this node runs the worker role.
pub fn worker_enabled(core: &Core) -> bool {
    core.config
        .node_roles()
        .map(|roles| roles.iter().any(|r| r == "worker"))
        .unwrap_or(false)
}
