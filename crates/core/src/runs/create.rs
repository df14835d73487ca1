//! Queuing runs: `POST /jobs/{id}/run` and `POST /runs/{id}/rerun`. Everything that could make
//! a run fail before it starts is checked here (the plan's checks), so a queued run only fails
//! for reasons found on the targets.

use std::collections::HashSet;

use opsconductor_store::StoreError;
use opsconductor_store::jobs as job_store;
use opsconductor_store::runs::{self as store, NewEvent, NewRun, NewStepRow, RunRecord};
use serde_json::{Map, Value, json};

use super::{Run, not_found};
use crate::auth::Caller;
use crate::jobs::plan::{self, Plan};
use crate::{Core, Error, FieldError, Result};

const MAX_IDEMPOTENCY_KEY_CHARS: usize = 200;

/// A queued run, and whether this request created it (false: an idempotency key matched).
#[derive(Debug)]
pub struct Created {
    pub run: Run,
    pub created: bool,
}

/// Queues a run of job `job_id`. `body` is the request body (contract §6: `{"parameters":
/// {...}}` or the parameters themselves, plus an optional `idempotency_key`); `header_key` is
/// an `Idempotency-Key` header.
pub async fn create(
    core: &Core,
    caller: &Caller,
    job_id: i64,
    body: &Value,
    header_key: Option<&str>,
) -> Result<Created> {
    let mut body = body.clone();
    let body_key = match body
        .as_object_mut()
        .and_then(|m| m.remove("idempotency_key"))
    {
        None | Some(Value::Null) => None,
        Some(Value::String(k)) => Some(k),
        Some(_) => {
            return Err(Error::Validation(vec![FieldError::body(
                "idempotency_key",
                "string_type",
                "idempotency_key must be a string",
            )]));
        }
    };
    let key = match (body_key, header_key) {
        (Some(b), Some(h)) if b != h => {
            return Err(Error::BadRequest(
                "The Idempotency-Key header and the body's idempotency_key differ".into(),
            ));
        }
        (Some(k), _) => Some(k),
        (None, h) => h.map(str::to_string),
    };
    if let Some(k) = &key
        && (k.is_empty() || k.chars().count() > MAX_IDEMPOTENCY_KEY_CHARS)
    {
        return Err(Error::Validation(vec![FieldError::body(
            "idempotency_key",
            "string_length",
            format!("idempotency_key must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} characters"),
        )]));
    }
    let params = plan::run_parameters(&body)?;
    queue(core, caller, job_id, params, key, None).await
}

/// Queues a new run of the same job with the same parameters as run `run_id`; with
/// `only_failed_targets`, only the targets whose rows failed or were aborted run again.
pub async fn rerun(
    core: &Core,
    caller: &Caller,
    run_id: i64,
    only_failed_targets: bool,
) -> Result<Run> {
    let original = store::get(&core.db, run_id).await?.ok_or_else(not_found)?;
    let params: Map<String, Value> = serde_json::from_str(&original.parameters)
        .map_err(|e| anyhow::anyhow!("run {run_id}: stored parameters: {e}"))?;
    let only = if only_failed_targets {
        if !original.is_finished() {
            return Err(Error::Conflict(format!(
                "Job run {run_id} is still {}: wait for it to finish before rerunning its failed targets",
                original.status
            )));
        }
        let failed: HashSet<(i64, Option<i64>)> = store::steps(&core.db, run_id)
            .await?
            .into_iter()
            .filter(|s| s.status == "failed" || s.status == "aborted")
            .map(|s| (s.idx, s.target_id))
            .collect();
        if failed.is_empty() {
            return Err(Error::BadRequest(format!(
                "Nothing to rerun: no step of run {run_id} failed or was aborted"
            )));
        }
        Some(failed)
    } else {
        None
    };
    let created = queue(
        core,
        caller,
        original.job_id,
        params,
        None,
        Some((run_id, only)),
    )
    .await?;
    Ok(created.run)
}

type RerunOf = (i64, Option<HashSet<(i64, Option<i64>)>>);

async fn queue(
    core: &Core,
    caller: &Caller,
    job_id: i64,
    params: Map<String, Value>,
    key: Option<String>,
    rerun_of: Option<RerunOf>,
) -> Result<Created> {
    let job = job_store::get(&core.db, job_id)
        .await?
        .ok_or_else(|| Error::NotFound("Job not found".into()))?;
    if !job.is_active {
        return Err(Error::BadRequest("Job is not active".into()));
    }
    let parameters = Value::Object(params.clone()).to_string();
    if let Some(k) = &key
        && let Some(existing) = store::by_idempotency_key(&core.db, job_id, k).await?
    {
        return replay(existing, &parameters, k);
    }
    let plan = plan::plan(core, job_id, &params).await?;
    let mut rows = step_rows(&plan)?;
    if let Some((_, Some(failed))) = &rerun_of {
        rows.retain(|r| failed.contains(&(r.idx, r.target_id)));
        if rows.is_empty() {
            return Err(Error::BadRequest(
                "Nothing to rerun: the failed targets are no longer part of the job".into(),
            ));
        }
    }
    let variables = Value::Object(plan.parameters.clone()).to_string();
    let correlation_id = uuid::Uuid::new_v4().to_string();
    let new_run = NewRun {
        job_id,
        job_revision: plan.revision,
        requested_by: caller.id,
        parameters: &parameters,
        variables: &variables,
        correlation_id: &correlation_id,
        idempotency_key: key.as_deref(),
        rerun_of: rerun_of.as_ref().map(|(id, _)| *id),
    };
    let event = NewEvent {
        kind: "status",
        step_idx: None,
        target_id: None,
        stream: None,
        body: json!({"status": "queued", "requested_by": caller.username}).to_string(),
    };
    let record = match store::insert(&core.db, &new_run, &rows, &event).await {
        Ok(r) => r,
        // Two requests with one key raced; the other one won.
        Err(StoreError::UniqueViolation) if key.is_some() => {
            let k = key.as_deref().unwrap_or_default();
            let existing = store::by_idempotency_key(&core.db, job_id, k)
                .await?
                .ok_or_else(|| anyhow::anyhow!("idempotency key conflict without a run"))?;
            return replay(existing, &parameters, k);
        }
        Err(e) => return Err(e.into()),
    };
    core.signals.run_queued();
    if let Err(e) = store::announce_queued(&core.db, record.id).await {
        // The run is queued; other nodes' workers still find it on their next poll.
        tracing::warn!(run_id = record.id, error = %e, "cannot announce the queued run");
    }
    Ok(Created {
        run: record.into(),
        created: true,
    })
}

/// The answer to a repeated idempotency key: the same run, if the parameters are the same.
fn replay(existing: RunRecord, parameters: &str, key: &str) -> Result<Created> {
    let same = serde_json::from_str::<Value>(&existing.parameters).ok()
        == serde_json::from_str::<Value>(parameters).ok();
    if !same {
        return Err(Error::Conflict(format!(
            "The idempotency key '{key}' was already used for run {} with different parameters",
            existing.id
        )));
    }
    Ok(Created {
        run: existing.into(),
        created: false,
    })
}

/// One row per step per target; a step without targets (a plain `http.request`) gets one row.
fn step_rows(plan: &Plan) -> Result<Vec<NewStepRow>> {
    let mut rows = Vec::new();
    let mut empty = Vec::new();
    for step in &plan.steps {
        let idx = i64::try_from(step.index).map_err(anyhow::Error::from)?;
        let timeoutsec = i64::try_from(step.timeout_sec).map_err(anyhow::Error::from)?;
        let shell = step
            .rendered
            .get("shell")
            .and_then(Value::as_str)
            .map(str::to_string);
        let row = |target_id: Option<i64>, target_name: Option<String>| NewStepRow {
            idx,
            name: step.name.clone(),
            kind: step.kind.to_string(),
            target_id,
            target_name,
            shell: shell.clone(),
            timeoutsec,
        };
        if step.targets.is_empty() {
            if step.addresses_targets {
                empty.push(format!(
                    "steps[{}]: the target selector matches no target",
                    step.index
                ));
            } else {
                rows.push(row(None, None));
            }
        }
        let mut seen = HashSet::new();
        for t in step.targets.iter().filter(|t| seen.insert(t.id)) {
            rows.push(row(Some(t.id), Some(t.name.clone())));
        }
    }
    if !empty.is_empty() {
        return Err(Error::BadRequest(format!(
            "The job cannot run: {}",
            empty.join("; ")
        )));
    }
    Ok(rows)
}
