//! The worker loop of a node: claim queued runs the moment they are queued (in-process wake-up,
//! PostgreSQL NOTIFY from other nodes, and a slow poll as the safety net), run each in its own
//! task, sweep runs whose worker died, and on shutdown finish or hand back what is in flight.

use std::sync::Arc;
use std::time::Duration;

use opsconductor_core::Core;
use opsconductor_core::store::UtcTime;
use opsconductor_core::store::runs as store;
use serde_json::json;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::run::{self, Worker};

/// The safety-net poll: only matters if a wake-up was lost (e.g. a PostgreSQL listener
/// reconnecting); queued runs normally start within milliseconds.
const POLL_FALLBACK: Duration = Duration::from_secs(5);

/// A running engine; [`EngineHandle::shutdown`] stops it gracefully.
#[derive(Debug)]
pub struct EngineHandle {
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    worker_id: Arc<str>,
}

impl EngineHandle {
    /// This worker's id, as recorded on the runs it claims.
    pub fn worker_id(&self) -> &str {
        &self.worker_id
    }

    /// Stops claiming, lets in-flight runs finish within `engine.shutdown_grace_secs`, then
    /// hands the rest back to the queue.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "the engine task ended abnormally");
        }
    }
}

/// Starts the worker loop and the sweeper of this node. Wake-ups for runs queued on other
/// PostgreSQL nodes arrive through `core.signals` from the node's one listener
/// (`opsconductor_core::runs::relay_run_notifications`, started by the server).
pub fn start(core: Core) -> EngineHandle {
    let worker_id: Arc<str> = Arc::from(worker_id().as_str());
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(dispatch(core, worker_id.clone(), shutdown.clone()));
    EngineHandle {
        shutdown,
        task,
        worker_id,
    }
}

fn worker_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}:{}:{}", std::process::id(), &suffix[..8])
}

async fn dispatch(core: Core, worker_id: Arc<str>, shutdown: CancellationToken) {
    let engine = &core.config.engine;
    let run_slots = Arc::new(Semaphore::new(engine.max_concurrent_runs as usize));
    let worker = Arc::new(Worker {
        core: core.clone(),
        worker_id: worker_id.clone(),
        slots: Arc::new(Semaphore::new(engine.max_parallel_targets as usize)),
        hand_back: CancellationToken::new(),
    });
    let background = shutdown.child_token();
    tokio::spawn(sweep(core.clone(), worker_id.clone(), background.clone()));
    core.signals.set_worker_running(true);
    tracing::info!(worker = %worker_id, "engine started");
    let mut tasks = JoinSet::new();
    loop {
        while let Ok(permit) = run_slots.clone().try_acquire_owned() {
            match store::claim(&core.db, &worker_id).await {
                Ok(Some(run)) => {
                    tracing::info!(run_id = run.id, job_id = run.job_id, "claimed run");
                    let worker = worker.clone();
                    tasks.spawn(async move {
                        run::execute(worker, run).await;
                        drop(permit);
                    });
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot claim runs");
                    break;
                }
            }
        }
        tokio::select! {
            () = core.signals.wait_queued() => {}
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            () = tokio::time::sleep(POLL_FALLBACK) => {}
            () = shutdown.cancelled() => break,
        }
    }
    background.cancel();
    if !tasks.is_empty() {
        let grace = Duration::from_secs(engine.shutdown_grace_secs);
        tracing::info!(
            runs = tasks.len(),
            grace_secs = grace.as_secs(),
            "waiting for in-flight runs"
        );
        let drained =
            tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            tracing::warn!(
                runs = tasks.len(),
                "handing in-flight runs back to the queue"
            );
            worker.hand_back.cancel();
            while tasks.join_next().await.is_some() {}
        }
    }
    core.signals.set_worker_running(false);
    tracing::info!(worker = %worker_id, "engine stopped");
}

/// Fails runs whose worker stopped renewing its lease, saying which worker and since when.
async fn sweep(core: Core, worker_id: Arc<str>, stop: CancellationToken) {
    let lease = core.config.engine.lease_timeout_secs;
    let every = Duration::from_millis(core.config.engine.heartbeat_interval_ms.max(1000));
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = stop.cancelled() => return,
        }
        let before = UtcTime::now().plus_secs(-i64::try_from(lease).unwrap_or(i64::MAX));
        let stale = match store::stale(&core.db, before).await {
            Ok(runs) => runs,
            Err(e) => {
                tracing::warn!(error = %e, "sweeper cannot read runs");
                continue;
            }
        };
        for run in stale {
            let dead = run.worker_id.clone().unwrap_or_else(|| "unknown".into());
            let last = run
                .heartbeat_at
                .map(|t| t.to_rfc3339())
                .unwrap_or_else(|| "never".into());
            let message = format!(
                "Worker {dead} stopped renewing its lease (last heartbeat {last}, lease {lease} s); \
                 the run was failed by the sweeper on {worker_id}. Steps that were running may have \
                 completed on their targets."
            );
            let event = store::NewEvent {
                kind: "status",
                step_idx: None,
                target_id: None,
                stream: None,
                body: json!({"status": "failed", "error": message}).to_string(),
            };
            match store::fail_stale(&core.db, run.id, &dead, before, &message, &event).await {
                Ok(true) => {
                    tracing::warn!(run_id = run.id, worker = %dead, "failed a run whose worker died");
                    core.signals.progressed(run.id);
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(run_id = run.id, error = %e, "sweeper cannot fail the run")
                }
            }
        }
    }
}
