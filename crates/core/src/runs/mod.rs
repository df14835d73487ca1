//! Runs (contract §7 and its Rebuild notes): what the API reads and changes. Creating a run
//! lives in `create`; executing it is the engine's job.

mod create;
mod relay;

use opsconductor_store::UtcTime;
use opsconductor_store::runs::{
    self as store, CancelOutcome, EventRecord, RunFilter, RunRecord, StepRecord,
};
use serde::Serialize;
use serde_json::{Value, json};

pub use create::{Created, create, rerun};
pub use relay::relay_run_notifications;

use crate::auth::Caller;
use crate::{Core, Error, Result};

/// The most output chunks one `GET /runs/{id}/log` returns.
pub const MAX_LOG_CHUNKS: i64 = 5000;
/// The run statuses `GET /runs?status=` accepts.
pub const RUN_STATUSES: [&str; 5] = ["queued", "running", "succeeded", "failed", "canceled"];

/// A run as the API shows it: the contract's JobRun plus what the engine adds.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Run {
    pub id: i64,
    pub job_id: i64,
    /// The job definition revision this run executes.
    pub job_revision: i64,
    pub status: String,
    pub requested_by: i64,
    #[schema(value_type = Object)]
    pub parameters: Value,
    pub queued_at: UtcTime,
    pub started_at: Option<UtcTime>,
    pub finished_at: Option<UtcTime>,
    pub correlation_id: Option<String>,
    pub idempotency_key: Option<String>,
    pub rerun_of: Option<i64>,
    /// Why the run failed or was canceled, when the engine knows.
    pub error: Option<String>,
    pub cancel_requested: bool,
    pub canceled_by: Option<String>,
    /// The worker executing (or that last executed) the run.
    pub worker_id: Option<String>,
    /// How many times a worker claimed the run (more than 1 after a hand-back).
    pub attempt: i64,
}

impl From<RunRecord> for Run {
    fn from(r: RunRecord) -> Self {
        Run {
            id: r.id,
            job_id: r.job_id,
            job_revision: r.job_revision,
            status: r.status,
            requested_by: r.requested_by,
            parameters: serde_json::from_str(&r.parameters).unwrap_or_else(|_| json!({})),
            queued_at: r.queued_at,
            started_at: r.started_at,
            finished_at: r.finished_at,
            correlation_id: Some(r.correlation_id),
            idempotency_key: r.idempotency_key,
            rerun_of: r.rerun_of,
            error: r.error,
            cancel_requested: r.cancel_requested,
            canceled_by: r.canceled_by,
            worker_id: r.worker_id,
            attempt: r.attempt,
        }
    }
}

/// One step on one target: the contract's JobRunStep plus the step's name, the target's name,
/// the attempts made and the engine's error message.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RunStep {
    pub id: i64,
    pub job_run_id: i64,
    pub idx: i64,
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
    pub target_id: Option<i64>,
    pub target_name: Option<String>,
    pub status: String,
    pub shell: Option<String>,
    pub timeoutsec: i64,
    pub exit_code: Option<i64>,
    /// The last 64 KiB of standard output (masked); the whole output is in the run's log.
    pub stdout: Option<String>,
    pub stderr: Option<String>,
    pub error: Option<String>,
    pub attempts: i64,
    #[schema(value_type = Object)]
    pub metrics: Value,
    pub started_at: Option<UtcTime>,
    pub finished_at: Option<UtcTime>,
}

impl From<StepRecord> for RunStep {
    fn from(r: StepRecord) -> Self {
        RunStep {
            id: r.id,
            job_run_id: r.job_run_id,
            idx: r.idx,
            name: r.name,
            kind: r.kind,
            target_id: r.target_id,
            target_name: r.target_name,
            status: r.status,
            shell: r.shell,
            timeoutsec: r.timeoutsec,
            exit_code: r.exit_code,
            stdout: r.stdout,
            stderr: r.stderr,
            error: r.error,
            attempts: r.attempts,
            metrics: serde_json::from_str(&r.metrics).unwrap_or_else(|_| json!({})),
            started_at: r.started_at,
            finished_at: r.finished_at,
        }
    }
}

/// One entry of a run's ordered stream, as `GET /runs/{id}/events` and `/log` send it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RunEvent {
    /// Position in the run's stream; the SSE id, and the `offset` to read on from.
    pub seq: i64,
    /// `status` (the run's), `step` (a step on a target) or `log` (output).
    pub kind: String,
    pub step: Option<i64>,
    pub target_id: Option<i64>,
    /// `stdout`, `stderr` or `system` (the engine's own lines) for `log`.
    pub stream: Option<String>,
    /// Output text for `log`.
    pub text: Option<String>,
    /// The change for `status` and `step` events (`status`, `exit_code`, `error`, ...).
    #[schema(value_type = Object)]
    pub data: Option<Value>,
    pub ts: UtcTime,
}

impl From<EventRecord> for RunEvent {
    fn from(r: EventRecord) -> Self {
        let (text, data) = if r.kind == "log" {
            (Some(r.body), None)
        } else {
            (
                None,
                Some(serde_json::from_str(&r.body).unwrap_or(Value::Null)),
            )
        };
        RunEvent {
            seq: r.seq,
            kind: r.kind,
            step: r.step_idx,
            target_id: r.target_id,
            stream: r.stream,
            text,
            data,
            ts: r.ts,
        }
    }
}

impl RunEvent {
    /// True for the event that ends a run's stream.
    pub fn is_final(&self) -> bool {
        self.kind == "status"
            && self
                .data
                .as_ref()
                .and_then(|d| d.get("status"))
                .and_then(Value::as_str)
                .is_some_and(store::is_terminal)
    }
}

/// A range of a run's output.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LogPage {
    pub run_id: i64,
    pub chunks: Vec<RunEvent>,
    /// The `offset` that reads on after this page; `None` when the run has finished and
    /// nothing more matches.
    pub next_offset: Option<i64>,
}

fn not_found() -> Error {
    Error::NotFound("Job run not found".into())
}

pub async fn get(core: &Core, id: i64) -> Result<Run> {
    Ok(store::get(&core.db, id)
        .await?
        .ok_or_else(not_found)?
        .into())
}

/// `GET /runs` filters, checked.
#[derive(Debug, Default)]
pub struct ListQuery {
    pub job_id: Option<i64>,
    pub status: Option<String>,
    pub since: Option<UtcTime>,
}

pub async fn list(core: &Core, query: ListQuery, skip: i64, limit: i64) -> Result<(Vec<Run>, i64)> {
    if let Some(status) = &query.status
        && !RUN_STATUSES.contains(&status.as_str())
    {
        return Err(Error::Validation(vec![crate::FieldError {
            loc: vec!["query".into(), "status".into()],
            msg: format!("status must be one of {}", RUN_STATUSES.join(", ")),
            kind: "enum".into(),
            input: Some(Value::String(status.clone())),
        }]));
    }
    let filter = RunFilter {
        job_id: query.job_id,
        status: query.status,
        since: query.since,
    };
    let (rows, total) = store::list(&core.db, &filter, skip, limit).await?;
    Ok((rows.into_iter().map(Run::from).collect(), total))
}

pub async fn steps(core: &Core, id: i64) -> Result<Vec<RunStep>> {
    store::get(&core.db, id).await?.ok_or_else(not_found)?;
    Ok(store::steps(&core.db, id)
        .await?
        .into_iter()
        .map(RunStep::from)
        .collect())
}

/// Output chunks from `offset` (a sequence number) on, of one step and/or target if given.
pub async fn log(
    core: &Core,
    id: i64,
    step: Option<i64>,
    target: Option<i64>,
    offset: i64,
    limit: i64,
) -> Result<LogPage> {
    let run = store::get(&core.db, id).await?.ok_or_else(not_found)?;
    let limit = limit.clamp(1, MAX_LOG_CHUNKS);
    let chunks: Vec<RunEvent> = store::logs(&core.db, id, step, target, offset.max(0), limit)
        .await?
        .into_iter()
        .map(RunEvent::from)
        .collect();
    let next_offset = match chunks.last() {
        Some(last) => Some(last.seq + 1),
        None if run.is_finished() => None,
        None => Some(offset.max(0)),
    };
    Ok(LogPage {
        run_id: id,
        chunks,
        next_offset,
    })
}

/// Events after `after`, at most `limit`, for the live stream.
pub async fn events_after(core: &Core, id: i64, after: i64, limit: i64) -> Result<Vec<RunEvent>> {
    Ok(store::events_after(&core.db, id, after, limit)
        .await?
        .into_iter()
        .map(RunEvent::from)
        .collect())
}

/// Cancels a run: a queued run is `canceled` at once; a running one is flagged, and its worker
/// stops its commands (at once on this node, within a heartbeat on another). Canceling a
/// finished run is a 409.
pub async fn cancel(core: &Core, caller: &Caller, id: i64) -> Result<Run> {
    let event = store::NewEvent {
        kind: "status",
        step_idx: None,
        target_id: None,
        stream: None,
        body: json!({"status": "canceled", "canceled_by": caller.username}).to_string(),
    };
    match store::cancel(&core.db, id, &caller.username, &event).await? {
        CancelOutcome::NotFound => return Err(not_found()),
        CancelOutcome::AlreadyFinished => {
            let run = get(core, id).await?;
            return Err(Error::Conflict(format!(
                "Job run {id} has already finished ({})",
                run.status
            )));
        }
        CancelOutcome::Canceled => core.signals.progressed(id),
        CancelOutcome::Requested => {
            core.signals.cancel_local(id);
        }
    }
    get(core, id).await
}
