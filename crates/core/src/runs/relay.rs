//! Live viewers on every node: on PostgreSQL, whichever node writes a run's events also
//! NOTIFYs (in the same transaction), and this relay turns each notification into the
//! in-process "run has new events" signal, so an SSE viewer on another node than the executing
//! one wakes at once instead of at its next poll. SQLite has one node: nothing to relay.

use std::time::Duration;

use opsconductor_store::runs as store;

use crate::Core;

/// How long to wait before listening again after the listener failed.
const RETRY: Duration = Duration::from_secs(2);

/// Relays notifications until the task is aborted; returns at once on SQLite.
pub async fn relay_events(core: Core) {
    loop {
        let mut listener = match store::events_listener(&core.db).await {
            Ok(Some(listener)) => listener,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for run events; viewers poll meanwhile");
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        loop {
            match listener.recv().await {
                Ok(note) => match note.payload().parse::<i64>() {
                    Ok(run_id) => core.signals.progressed(run_id),
                    Err(_) => {
                        tracing::debug!(payload = note.payload(), "odd run event notification")
                    }
                },
                Err(e) => {
                    tracing::warn!(error = %e, "run event listener failed; reconnecting");
                    break;
                }
            }
        }
    }
}
