//! In-process signals between the API and the engine of one node: "a run was queued" wakes
//! the worker at once, "a run has new events" wakes live viewers, and a cancel reaches the
//! run's executor without waiting for its next heartbeat. Other nodes learn the same through
//! the database (PostgreSQL NOTIFY, heartbeats, polling), so losing a signal only costs time.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use tokio::sync::{Notify, broadcast};
use tokio_util::sync::CancellationToken;

/// Shared by the API and the engine through [`crate::Core`].
#[derive(Debug)]
pub struct RunSignals {
    queued: Notify,
    progress: broadcast::Sender<i64>,
    executing: Mutex<HashMap<i64, CancellationToken>>,
    worker_running: AtomicBool,
}

impl Default for RunSignals {
    fn default() -> Self {
        Self {
            queued: Notify::new(),
            progress: broadcast::channel(4096).0,
            executing: Mutex::new(HashMap::new()),
            worker_running: AtomicBool::new(false),
        }
    }
}

impl RunSignals {
    /// A run was queued. The permit is kept if the worker is busy, so it cannot be missed.
    pub fn run_queued(&self) {
        self.queued.notify_one();
    }

    /// Resolves when a run was queued since the last wake-up.
    pub async fn wait_queued(&self) {
        self.queued.notified().await;
    }

    /// Run `run_id` has new events in the database.
    pub fn progressed(&self, run_id: i64) {
        // No receivers is fine: nobody is watching.
        let _ = self.progress.send(run_id);
    }

    /// Ids of runs with new events, from now on. A lagging receiver must re-read the database.
    pub fn subscribe(&self) -> broadcast::Receiver<i64> {
        self.progress.subscribe()
    }

    /// Registers the run this node is executing; dropping the guard unregisters it.
    pub fn executing(&self, run_id: i64, token: CancellationToken) -> ExecutingGuard<'_> {
        self.lock().insert(run_id, token);
        ExecutingGuard {
            signals: self,
            run_id,
        }
    }

    /// Cancels the run if this node executes it; false if it does not.
    pub fn cancel_local(&self, run_id: i64) -> bool {
        match self.lock().get(&run_id) {
            Some(token) => {
                token.cancel();
                true
            }
            None => false,
        }
    }

    /// How many runs this node is executing.
    pub fn executing_count(&self) -> usize {
        self.lock().len()
    }

    pub fn set_worker_running(&self, running: bool) {
        self.worker_running.store(running, Ordering::Relaxed);
    }

    /// Whether this node's worker loop is up.
    pub fn worker_running(&self) -> bool {
        self.worker_running.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, CancellationToken>> {
        self.executing
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Keeps a run registered as executing on this node while alive.
#[derive(Debug)]
pub struct ExecutingGuard<'a> {
    signals: &'a RunSignals,
    run_id: i64,
}

impl Drop for ExecutingGuard<'_> {
    fn drop(&mut self) {
        self.signals.lock().remove(&self.run_id);
    }
}
