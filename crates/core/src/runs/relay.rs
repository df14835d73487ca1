//! What other PostgreSQL nodes say about runs, relayed to this node's in-process signals: "a run
//! was queued" wakes an idle worker, and "run N has new events" (NOTIFYed in the transaction
//! that wrote them) wakes live viewers, so an SSE viewer on another node than the executing one
//! sees each event at once instead of at its next poll. One listener per node serves both.
//! SQLite has one node: nothing to relay.

use std::time::Duration;

use opsconductor_store::runs::{self as store, EVENTS_CHANNEL, QUEUE_CHANNEL};

use crate::Core;

/// How long to wait before listening again after the listener failed.
const RETRY: Duration = Duration::from_secs(2);

/// Relays notifications until the task is aborted; returns at once on SQLite.
pub async fn relay_run_notifications(core: Core) {
    loop {
        let mut listener = match store::runs_listener(&core.db).await {
            Ok(Some(listener)) => listener,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for run notifications; polling meanwhile");
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        loop {
            match listener.recv().await {
                Ok(note) => match note.channel() {
                    QUEUE_CHANNEL => core.signals.run_queued(),
                    EVENTS_CHANNEL => match note.payload().parse::<i64>() {
                        Ok(run_id) => core.signals.progressed(run_id),
                        Err(_) => {
                            tracing::debug!(payload = note.payload(), "odd run event notification")
                        }
                    },
                    _ => {}
                },
                Err(e) => {
                    tracing::warn!(error = %e, "run notification listener failed; reconnecting");
                    break;
                }
            }
        }
    }
}
