//! Executing one claimed run: load the definition revision it was queued with, resolve its
//! secrets and targets, run the steps in order (each on all its targets, at most
//! `maxParallel` at once), keep the lease alive, and write the outcome.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use opsconductor_core::Core;
use opsconductor_core::credentials::{self, Resolved, SECRET_FIELDS};
use opsconductor_core::jobs::definition::{JobDefinition, ParamType, Step};
use opsconductor_core::store::jobs as job_store;
use opsconductor_core::store::runs::{self as store, RunRecord, StepRecord, StepUpdate};
use opsconductor_core::targets::{self, Target};
use serde_json::{Map, Value, json};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::actions::{self, Outcome, SessionCache};
use crate::output::Writer;
use crate::redact::Redactor;

/// Why a run stopped before its steps were done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopReason {
    /// A user canceled it.
    Canceled,
    /// The sweeper decided this worker was dead and failed the run: write nothing more.
    LeaseLost,
    /// This worker is shutting down and hands the run back to the queue.
    ShutDown,
}

/// One token that stops a run's work, and the first reason it was stopped for.
#[derive(Debug, Default, Clone)]
pub(crate) struct Stopper {
    pub token: CancellationToken,
    reason: Arc<OnceLock<StopReason>>,
}

impl Stopper {
    pub fn stop(&self, reason: StopReason) {
        let _ = self.reason.set(reason);
        self.token.cancel();
    }

    /// The reason, once stopped. A token canceled from outside (the API's local cancel) means
    /// the user canceled.
    pub fn reason(&self) -> Option<StopReason> {
        if !self.token.is_cancelled() {
            return None;
        }
        Some(*self.reason.get_or_init(|| StopReason::Canceled))
    }
}

/// What every step of the run shares.
pub(crate) struct RunCx {
    pub core: Core,
    /// Parameters with secrets injected: for rendering only, never stored.
    pub vars: Map<String, Value>,
    pub targets: HashMap<i64, Target>,
    pub credentials: HashMap<i64, Resolved>,
    pub sessions: SessionCache,
    pub writer: Writer,
    pub stopper: Stopper,
    /// This worker's limit on target executions across all runs.
    pub worker_slots: Arc<Semaphore>,
}

/// What the worker hands a run task.
pub(crate) struct Worker {
    pub core: Core,
    pub worker_id: Arc<str>,
    pub slots: Arc<Semaphore>,
    /// Canceled when the worker's shutdown grace is over.
    pub hand_back: CancellationToken,
}

/// Executes a claimed run to its end (or until stopped), never leaving it `running` unless the
/// lease was lost to the sweeper.
pub(crate) async fn execute(worker: Arc<Worker>, run: RunRecord) {
    let run_id = run.id;
    let stopper = Stopper::default();
    let _registered = worker.core.signals.executing(run_id, stopper.token.clone());
    let heartbeat = tokio::spawn(keep_lease(worker.clone(), run_id, stopper.clone()));
    let hand_back = {
        let (token, stopper) = (worker.hand_back.clone(), stopper.clone());
        tokio::spawn(async move {
            token.cancelled().await;
            stopper.stop(StopReason::ShutDown);
        })
    };
    let result = run_steps(&worker, &run, &stopper).await;
    heartbeat.abort();
    hand_back.abort();
    if let Err(e) = result {
        tracing::error!(run_id, error = %e, "run failed inside the engine");
        let message = format!("The engine could not execute the run: {e:#}");
        let event = store::NewEvent {
            kind: "status",
            step_idx: None,
            target_id: None,
            stream: None,
            body: json!({"status": "failed", "error": message}).to_string(),
        };
        let _ = store::abort_queued_steps(&worker.core.db, run_id, &message).await;
        if let Err(e) = store::finish(
            &worker.core.db,
            run_id,
            &worker.worker_id,
            "failed",
            Some(&message),
            &event,
        )
        .await
        {
            tracing::error!(run_id, error = %e, "cannot record the run's failure; the sweeper will");
        }
        worker.core.signals.progressed(run_id);
    }
}

/// Renews the lease every heartbeat interval and turns the answer into stop signals.
async fn keep_lease(worker: Arc<Worker>, run_id: i64, stopper: Stopper) {
    let interval = Duration::from_millis(worker.core.config.engine.heartbeat_interval_ms);
    let lease = Duration::from_secs(worker.core.config.engine.lease_timeout_secs);
    let mut last_ok = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(interval).await;
        match store::heartbeat(&worker.core.db, run_id, &worker.worker_id).await {
            Ok(Some(true)) => {
                last_ok = tokio::time::Instant::now();
                stopper.stop(StopReason::Canceled);
            }
            Ok(Some(false)) => last_ok = tokio::time::Instant::now(),
            Ok(None) => {
                tracing::warn!(run_id, "lost the lease on the run; stopping its work");
                stopper.stop(StopReason::LeaseLost);
                return;
            }
            Err(e) => {
                tracing::warn!(run_id, error = %e, "cannot renew the run's lease");
                if last_ok.elapsed() >= lease {
                    stopper.stop(StopReason::LeaseLost);
                    return;
                }
            }
        }
    }
}

async fn run_steps(worker: &Arc<Worker>, run: &RunRecord, stopper: &Stopper) -> anyhow::Result<()> {
    let core = &worker.core;
    let version = job_store::version(&core.db, run.job_id, run.job_revision)
        .await?
        .ok_or_else(|| {
            anyhow::anyhow!("job {} has no revision {}", run.job_id, run.job_revision)
        })?;
    let raw: Value = serde_json::from_str(&version.definition)?;
    let definition = JobDefinition::parse(&raw, &["definition"]).map_err(|e| {
        anyhow::anyhow!("the job definition no longer parses ({} problems)", e.len())
    })?;
    let rows = store::steps(&core.db, run.id).await?;
    let purpose = format!("run {} of job {}", run.id, run.job_id);

    // Resolve every secret before anything is written, so the redactor knows them all.
    let mut vars: Map<String, Value> = serde_json::from_str(&run.variables)?;
    let mut secrets: Vec<String> = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    for decl in definition
        .parameters
        .iter()
        .filter(|d| d.kind == ParamType::Secret)
    {
        let cred_name = decl.credential.clone().unwrap_or_default();
        match secret_value(core, &cred_name, decl.field.as_deref(), &purpose).await {
            Ok(value) => {
                secrets.push(value.clone());
                vars.insert(decl.name.clone(), Value::String(value));
            }
            Err(why) => problems.push(format!("parameter '{}': {why}", decl.name)),
        }
    }
    let mut target_map = HashMap::new();
    let mut credential_map: HashMap<i64, Resolved> = HashMap::new();
    for id in rows.iter().filter_map(|r| r.target_id) {
        if target_map.contains_key(&id) {
            continue;
        }
        let Ok(target) = targets::get(core, id).await else {
            continue; // reported per row: the target was deleted after the run was queued
        };
        if let std::collections::hash_map::Entry::Vacant(slot) =
            credential_map.entry(target.credential_ref)
        {
            match credentials::resolve_for_use(core, target.credential_ref, &purpose, None).await {
                Ok(cred) => {
                    secrets.extend(
                        cred.data
                            .iter()
                            .filter(|(k, _)| SECRET_FIELDS.contains(&k.as_str()))
                            .filter_map(|(_, v)| v.as_str().map(str::to_string)),
                    );
                    slot.insert(cred);
                }
                Err(e) => problems.push(format!("target '{}': credential: {e}", target.name)),
            }
        }
        target_map.insert(id, target);
    }
    let redactor = Arc::new(Redactor::new(secrets));
    let writer = Writer::start(core, run.id, redactor);
    writer
        .status(json!({"status": "running", "worker": &*worker.worker_id, "attempt": run.attempt}))
        .await?;
    if !problems.is_empty() {
        let message = format!("The run cannot start: {}", problems.join("; "));
        writer.system(None, None, &message).await?;
        return conclude(worker, run, &writer, Conclusion::Failed(message)).await;
    }
    let cx = Arc::new(RunCx {
        core: core.clone(),
        vars,
        targets: target_map,
        credentials: credential_map,
        sessions: SessionCache::default(),
        writer: writer.clone(),
        stopper: stopper.clone(),
        worker_slots: worker.slots.clone(),
    });
    let mut by_step: BTreeMap<i64, Vec<StepRecord>> = BTreeMap::new();
    for row in rows {
        by_step.entry(row.idx).or_default().push(row);
    }
    let stepped = run_steps_in_order(&cx, &definition, by_step, stopper).await;
    // Also after an engine error: no session (nor its remote shell) outlives the run.
    cx.sessions.close_all().await;
    let conclusion = stepped?;
    let conclusion = match stopper.reason() {
        Some(StopReason::Canceled) => Conclusion::Canceled,
        Some(StopReason::LeaseLost) => return Ok(()),
        Some(StopReason::ShutDown) => Conclusion::HandBack,
        None => conclusion,
    };
    conclude(worker, run, &writer, conclusion).await
}

/// Runs the steps one after another until one fails (unless it may) or the run is stopped.
async fn run_steps_in_order(
    cx: &Arc<RunCx>,
    definition: &JobDefinition,
    by_step: BTreeMap<i64, Vec<StepRecord>>,
    stopper: &Stopper,
) -> anyhow::Result<Conclusion> {
    for (idx, rows) in by_step {
        if stopper.reason().is_some() {
            break;
        }
        let step = usize::try_from(idx)
            .ok()
            .and_then(|i| definition.steps.get(i))
            .ok_or_else(|| anyhow::anyhow!("step {idx} is not in the definition"))?;
        let failed = run_step(cx, step, idx, rows, definition.max_parallel).await?;
        if !failed.is_empty() && !step.continue_on_error {
            return Ok(Conclusion::Failed(format!(
                "Step {} failed on {}",
                step_label(step),
                failed.join(", ")
            )));
        }
    }
    Ok(Conclusion::Succeeded)
}

fn step_label(step: &Step) -> String {
    match &step.name {
        Some(name) => format!("{} ({name})", step.index),
        None => step.index.to_string(),
    }
}

/// Runs one step on all its pending rows; returns the targets it failed on.
async fn run_step(
    cx: &Arc<RunCx>,
    step: &Step,
    idx: i64,
    rows: Vec<StepRecord>,
    max_parallel: u32,
) -> anyhow::Result<Vec<String>> {
    let mut failed: Vec<String> = rows
        .iter()
        .filter(|r| r.status == "failed")
        .map(row_label)
        .collect();
    let limit = Arc::new(Semaphore::new(
        usize::try_from(max_parallel).unwrap_or(1).max(1),
    ));
    let mut tasks = JoinSet::new();
    for row in rows.into_iter().filter(|r| r.status == "queued") {
        let (cx, step, limit) = (cx.clone(), step.clone(), limit.clone());
        tasks.spawn(async move {
            let _mine = limit.acquire_owned().await;
            let _worker = cx.worker_slots.clone().acquire_owned().await;
            let label = row_label(&row);
            let status = run_row(&cx, &step, idx, row).await;
            (label, status)
        });
    }
    while let Some(joined) = tasks.join_next().await {
        let (label, status) = joined?;
        if status? == "failed" {
            failed.push(label);
        }
    }
    Ok(failed)
}

fn row_label(row: &StepRecord) -> String {
    row.target_name.clone().unwrap_or_else(|| "its URL".into())
}

/// Runs one step on one target with its retries; returns the row's final status.
async fn run_row(
    cx: &Arc<RunCx>,
    step: &Step,
    idx: i64,
    row: StepRecord,
) -> anyhow::Result<&'static str> {
    let target_id = row.target_id;
    let token = cx.stopper.token.clone();
    if token.is_cancelled() {
        return Ok("queued");
    }
    cx.writer
        .step(
            row.id,
            StepUpdate {
                status: Some("running"),
                started: true,
                ..Default::default()
            },
            json!({"status": "running", "target": row.target_name}),
            idx,
            target_id,
        )
        .await?;
    let mut out = cx.writer.output(idx, target_id);
    let attempts_allowed = step.retries + 1;
    let mut outcome = Outcome::failed("not run");
    let mut attempts = 0;
    for attempt in 1..=attempts_allowed {
        if attempt > 1 {
            let backoff = backoff(step.retry_backoff_sec, attempt);
            out.system(&format!(
                "attempt {attempt} of {attempts_allowed} in {} s",
                backoff.as_secs()
            ))
            .await?;
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = token.cancelled() => break,
            }
        }
        attempts = attempt;
        outcome = actions::perform(cx, step, &row, &mut out).await;
        out.finish().await?;
        if outcome.ok || token.is_cancelled() {
            break;
        }
        if let Some(error) = &outcome.error {
            out.system(error).await?;
        }
    }
    let status = if outcome.ok {
        "succeeded"
    } else if token.is_cancelled() && cx.stopper.reason() == Some(StopReason::ShutDown) {
        "queued"
    } else if token.is_cancelled() {
        "aborted"
    } else {
        "failed"
    };
    if status == "queued" {
        // Handed back: the next worker runs this row again from the start.
        return Ok(status);
    }
    let error = match status {
        "aborted" => Some("canceled while running".to_string()),
        _ => outcome.error.clone(),
    };
    let (stdout, stderr) = out.tails();
    cx.writer
        .step(
            row.id,
            StepUpdate {
                status: Some(status),
                exit_code: outcome.exit_code,
                stdout: Some(stdout),
                stderr: Some(stderr),
                error: error.clone(),
                attempts: Some(i64::from(attempts)),
                metrics: Some(outcome.metrics.to_string()),
                finished: true,
                ..Default::default()
            },
            json!({
                "status": status,
                "target": row.target_name,
                "exit_code": outcome.exit_code,
                "error": error,
                "attempts": attempts,
            }),
            idx,
            target_id,
        )
        .await?;
    Ok(status)
}

/// Exponential: base, 2×base, 4×base ... capped at ten minutes.
fn backoff(base_secs: u64, attempt: u32) -> Duration {
    let factor = 1u64 << attempt.saturating_sub(2).min(10);
    Duration::from_secs(base_secs.saturating_mul(factor).min(600))
}

enum Conclusion {
    Succeeded,
    Failed(String),
    Canceled,
    HandBack,
}

async fn conclude(
    worker: &Arc<Worker>,
    run: &RunRecord,
    writer: &Writer,
    conclusion: Conclusion,
) -> anyhow::Result<()> {
    let core = &worker.core;
    writer.flush().await?;
    let (status, error) = match conclusion {
        Conclusion::HandBack => {
            let event = store::NewEvent {
                kind: "status",
                step_idx: None,
                target_id: None,
                stream: None,
                body: json!({"status": "queued", "handed_back_by": &*worker.worker_id}).to_string(),
            };
            store::hand_back(&core.db, run.id, &worker.worker_id, &event).await?;
            core.signals.progressed(run.id);
            core.signals.run_queued();
            return Ok(());
        }
        Conclusion::Succeeded => ("succeeded", None),
        Conclusion::Failed(message) => ("failed", Some(message)),
        Conclusion::Canceled => {
            let by = store::get(&core.db, run.id)
                .await?
                .and_then(|r| r.canceled_by)
                .unwrap_or_else(|| "a user".into());
            ("canceled", Some(format!("Canceled by {by}")))
        }
    };
    let reason = error.clone().unwrap_or_default();
    let aborted =
        store::abort_queued_steps(&core.db, run.id, &format!("aborted: {reason}")).await?;
    for row in &aborted {
        writer
            .step(
                row.id,
                StepUpdate::default(),
                json!({"status": "aborted", "target": row.target_name}),
                row.idx,
                row.target_id,
            )
            .await?;
    }
    let event = store::NewEvent {
        kind: "status",
        step_idx: None,
        target_id: None,
        stream: None,
        body: writer.mask(&json!({"status": status, "error": error}).to_string()),
    };
    let masked_error = error.map(|e| writer.mask(&e));
    store::finish(
        &core.db,
        run.id,
        &worker.worker_id,
        status,
        masked_error.as_deref(),
        &event,
    )
    .await?;
    core.signals.progressed(run.id);
    Ok(())
}

/// The value of a secret parameter: the named field of the credential, or its usual one.
async fn secret_value(
    core: &Core,
    credential: &str,
    field: Option<&str>,
    purpose: &str,
) -> Result<String, String> {
    let record = opsconductor_core::store::credentials::by_name(&core.db, credential)
        .await
        .map_err(|e| format!("cannot read credential '{credential}': {e}"))?
        .ok_or_else(|| format!("no credential named '{credential}'"))?;
    let cred = credentials::resolve_for_use(core, record.id, purpose, None)
        .await
        .map_err(|e| format!("credential '{credential}': {e}"))?;
    let candidates: Vec<&str> = match field {
        Some(f) => vec![f],
        None => vec!["password", "api_key", "token", "secret"],
    };
    candidates
        .iter()
        .find_map(|f| cred.get(f))
        .map(str::to_string)
        .ok_or_else(|| {
            format!(
                "credential '{credential}' has no field {}",
                candidates.join(" or ")
            )
        })
}
