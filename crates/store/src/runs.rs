//! Runs: the queue (`job_runs`), per step per target results (`job_run_steps`), each run's
//! ordered event stream (`run_logs`) and the "run finished" outbox (`run_completions`).
//!
//! Every state change is written together with the event that announces it, in one
//! transaction, so what a live viewer sees is always what the database holds.

use sqlx::FromRow;

use crate::db::with_pool;
use crate::{Db, StoreResult, UtcTime};

/// Namespace of the PostgreSQL advisory locks that serialise writers of one run's events.
const RUN_EVENTS_LOCK: i64 = 0x52_554E_0000_0000;
/// The channel a PostgreSQL node announces new runs on, so idle workers on every node wake.
pub const QUEUE_CHANNEL: &str = "opsconductor_runs";
/// The PostgreSQL NOTIFY channel saying "run N has new events" (payload: the run id), so live
/// viewers on every node wake at once, not at their next poll.
pub const EVENTS_CHANNEL: &str = "opsconductor_run_events";

macro_rules! run_columns {
    () => {
        "id, job_id, job_revision, status, requested_by, parameters, variables, correlation_id, \
         idempotency_key, rerun_of, worker_id, heartbeat_at, cancel_requested, canceled_by, error, \
         attempt, queued_at, started_at, finished_at"
    };
}

macro_rules! step_columns {
    () => {
        "id, job_run_id, idx, name, type, target_id, target_name, status, shell, timeoutsec, \
         exit_code, stdout, stderr, error, attempts, metrics, started_at, finished_at"
    };
}

macro_rules! event_columns {
    () => {
        "run_id, seq, kind, step_idx, target_id, stream, body, ts"
    };
}

/// A run as stored. `parameters` is the JSON the caller sent, `variables` the resolved
/// non-secret values the engine renders with (secrets are resolved at execution only).
#[derive(Debug, Clone, FromRow)]
pub struct RunRecord {
    pub id: i64,
    pub job_id: i64,
    pub job_revision: i64,
    pub status: String,
    pub requested_by: i64,
    pub parameters: String,
    pub variables: String,
    pub correlation_id: String,
    pub idempotency_key: Option<String>,
    pub rerun_of: Option<i64>,
    pub worker_id: Option<String>,
    pub heartbeat_at: Option<UtcTime>,
    pub cancel_requested: bool,
    pub canceled_by: Option<String>,
    pub error: Option<String>,
    pub attempt: i64,
    pub queued_at: UtcTime,
    pub started_at: Option<UtcTime>,
    pub finished_at: Option<UtcTime>,
}

impl RunRecord {
    /// True once the run can change no more.
    pub fn is_finished(&self) -> bool {
        is_terminal(&self.status)
    }
}

/// True for the run statuses nothing leaves.
pub fn is_terminal(status: &str) -> bool {
    matches!(status, "succeeded" | "failed" | "canceled")
}

/// One step on one target (or a target-less step such as a plain `http.request`).
#[derive(Debug, Clone, FromRow)]
pub struct StepRecord {
    pub id: i64,
    pub job_run_id: i64,
    pub idx: i64,
    pub name: Option<String>,
    #[sqlx(rename = "type")]
    pub kind: String,
    pub target_id: Option<i64>,
    pub target_name: Option<String>,
    pub status: String,
    pub shell: Option<String>,
    pub timeoutsec: i64,
    pub exit_code: Option<i64>,
    pub stdout: Option<String>,
    pub stderr: Option<String>,
    pub error: Option<String>,
    pub attempts: i64,
    pub metrics: String,
    pub started_at: Option<UtcTime>,
    pub finished_at: Option<UtcTime>,
}

/// One entry of a run's ordered stream: a status change (`status`, `step`) or output (`log`).
#[derive(Debug, Clone, FromRow)]
pub struct EventRecord {
    pub run_id: i64,
    pub seq: i64,
    pub kind: String,
    pub step_idx: Option<i64>,
    pub target_id: Option<i64>,
    pub stream: Option<String>,
    pub body: String,
    pub ts: UtcTime,
}

/// An event to append; the store numbers it.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// `status`, `step` or `log`.
    pub kind: &'static str,
    pub step_idx: Option<i64>,
    pub target_id: Option<i64>,
    /// `stdout`, `stderr` or `system` for logs.
    pub stream: Option<&'static str>,
    /// JSON for status changes, text for logs.
    pub body: String,
}

#[derive(Debug)]
pub struct NewRun<'a> {
    pub job_id: i64,
    pub job_revision: i64,
    pub requested_by: i64,
    pub parameters: &'a str,
    pub variables: &'a str,
    pub correlation_id: &'a str,
    pub idempotency_key: Option<&'a str>,
    pub rerun_of: Option<i64>,
}

#[derive(Debug)]
pub struct NewStepRow {
    pub idx: i64,
    pub name: Option<String>,
    pub kind: String,
    pub target_id: Option<i64>,
    pub target_name: Option<String>,
    pub shell: Option<String>,
    pub timeoutsec: i64,
}

/// What the engine records about one step row; `None` keeps the stored value.
#[derive(Debug, Default)]
pub struct StepUpdate {
    pub status: Option<&'static str>,
    pub exit_code: Option<i64>,
    pub stdout: Option<String>,
    pub stderr: Option<String>,
    pub error: Option<String>,
    pub attempts: Option<i64>,
    pub metrics: Option<String>,
    pub started: bool,
    pub finished: bool,
}

/// Filters of `GET /runs`.
#[derive(Debug, Default)]
pub struct RunFilter {
    pub job_id: Option<i64>,
    pub status: Option<String>,
    pub since: Option<UtcTime>,
}

/// Step rows by status, for the executor's queue statistics.
#[derive(Debug, Default, Clone, Copy, FromRow)]
pub struct StepCounts {
    pub queued: i64,
    pub running: i64,
    pub succeeded: i64,
    pub failed: i64,
}

/// Appends `$events` to run `$run` inside transaction `$tx`, numbering them after the last
/// stored one; evaluates to the last sequence number written. The caller holds the run's
/// write lock (SQLite: `BEGIN IMMEDIATE`; PostgreSQL: the advisory lock taken by `lock!`).
macro_rules! append_in_tx {
    ($tx:expr, $run:expr, $events:expr) => {{
        let mut seq: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM run_logs WHERE run_id = $1")
                .bind($run)
                .fetch_one(&mut *$tx)
                .await?;
        let now = UtcTime::now();
        for event in $events {
            seq += 1;
            sqlx::query(concat!(
                "INSERT INTO run_logs (",
                event_columns!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
            ))
            .bind($run)
            .bind(seq)
            .bind(event.kind)
            .bind(event.step_idx)
            .bind(event.target_id)
            .bind(event.stream)
            .bind(&event.body)
            .bind(now)
            .execute(&mut *$tx)
            .await?;
        }
        seq
    }};
}

/// Records in transaction `$tx` that run `$run` finished with `$status` at `$now`, for the
/// notifier to pick up.
macro_rules! complete_in_tx {
    ($tx:expr, $run:expr, $status:expr, $now:expr) => {
        sqlx::query(
            "INSERT INTO run_completions (run_id, job_id, status, finished_at) \
             SELECT id, job_id, $2, $3 FROM job_runs WHERE id = $1",
        )
        .bind($run)
        .bind($status)
        .bind($now)
        .execute(&mut *$tx)
        .await?
    };
}

/// Runs `$body` in a transaction that holds run `$run`'s write lock as `$tx`.
macro_rules! locked_tx {
    ($db:expr, $run:expr, $tx:ident => $body:expr) => {
        match $db {
            Db::Sqlite(pool) => {
                let mut $tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                let out = $body;
                $tx.commit().await?;
                out
            }
            Db::Postgres(pool) => {
                let mut $tx = pool.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(RUN_EVENTS_LOCK | $run)
                    .execute(&mut *$tx)
                    .await?;
                let out = $body;
                // Delivered at commit, to every node listening (see `runs_listener`).
                sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(EVENTS_CHANNEL)
                    .bind($run.to_string())
                    .execute(&mut *$tx)
                    .await?;
                $tx.commit().await?;
                out
            }
        }
    };
}

/// Queues a run with its step rows and its first event, in one transaction.
pub async fn insert(
    db: &Db,
    run: &NewRun<'_>,
    steps: &[NewStepRow],
    event: &NewEvent,
) -> StoreResult<RunRecord> {
    let now = UtcTime::now();
    let record = with_pool!(db, pool => {
        let mut tx = pool.begin().await?;
        let record = sqlx::query_as::<_, RunRecord>(concat!(
            "INSERT INTO job_runs (job_id, job_revision, requested_by, parameters, variables, ",
            "correlation_id, idempotency_key, rerun_of, queued_at) ",
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING ", run_columns!()
        ))
        .bind(run.job_id)
        .bind(run.job_revision)
        .bind(run.requested_by)
        .bind(run.parameters)
        .bind(run.variables)
        .bind(run.correlation_id)
        .bind(run.idempotency_key)
        .bind(run.rerun_of)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        for step in steps {
            sqlx::query(
                "INSERT INTO job_run_steps (job_run_id, idx, name, type, target_id, target_name, shell, timeoutsec) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(record.id)
            .bind(step.idx)
            .bind(step.name.as_deref())
            .bind(&step.kind)
            .bind(step.target_id)
            .bind(step.target_name.as_deref())
            .bind(step.shell.as_deref())
            .bind(step.timeoutsec)
            .execute(&mut *tx)
            .await?;
        }
        append_in_tx!(tx, record.id, [event]);
        tx.commit().await?;
        record
    });
    Ok(record)
}

/// Tells idle workers on every PostgreSQL node that a run is queued (no-op on SQLite, where
/// the only node is woken in-process).
pub async fn announce_queued(db: &Db, run_id: i64) -> StoreResult<()> {
    if let Db::Postgres(pool) = db {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(QUEUE_CHANNEL)
            .bind(run_id.to_string())
            .execute(pool)
            .await?;
    }
    Ok(())
}

/// One PostgreSQL listener on both [`QUEUE_CHANNEL`] and [`EVENTS_CHANNEL`] (it holds a pool
/// connection, so a node keeps one); `None` on SQLite (one node, woken in-process).
pub async fn runs_listener(db: &Db) -> StoreResult<Option<sqlx::postgres::PgListener>> {
    match db {
        Db::Sqlite(_) => Ok(None),
        Db::Postgres(pool) => {
            let mut listener = sqlx::postgres::PgListener::connect_with(pool).await?;
            listener.listen_all([QUEUE_CHANNEL, EVENTS_CHANNEL]).await?;
            Ok(Some(listener))
        }
    }
}

pub async fn by_idempotency_key(db: &Db, job_id: i64, key: &str) -> StoreResult<Option<RunRecord>> {
    let row = with_pool!(db, pool => {
        sqlx::query_as::<_, RunRecord>(concat!(
            "SELECT ", run_columns!(), " FROM job_runs WHERE job_id = $1 AND idempotency_key = $2"
        ))
        .bind(job_id)
        .bind(key)
        .fetch_optional(pool)
        .await?
    });
    Ok(row)
}

pub async fn get(db: &Db, id: i64) -> StoreResult<Option<RunRecord>> {
    let row = with_pool!(db, pool => {
        sqlx::query_as::<_, RunRecord>(concat!("SELECT ", run_columns!(), " FROM job_runs WHERE id = $1"))
            .bind(id)
            .fetch_optional(pool)
            .await?
    });
    Ok(row)
}

/// One page, newest first, with the filtered total.
pub async fn list(
    db: &Db,
    filter: &RunFilter,
    skip: i64,
    limit: i64,
) -> StoreResult<(Vec<RunRecord>, i64)> {
    macro_rules! filter_sql {
        () => {
            " FROM job_runs WHERE ($1 IS NULL OR job_id = $1) AND ($2 IS NULL OR status = $2) \
             AND ($3 IS NULL OR queued_at >= $3)"
        };
    }
    let (rows, total) = with_pool!(db, pool => {
        let rows = sqlx::query_as::<_, RunRecord>(concat!(
            "SELECT ", run_columns!(), filter_sql!(), " ORDER BY id DESC LIMIT $4 OFFSET $5"
        ))
        .bind(filter.job_id)
        .bind(filter.status.as_deref())
        .bind(filter.since)
        .bind(limit)
        .bind(skip)
        .fetch_all(pool)
        .await?;
        let total: i64 = sqlx::query_scalar(concat!("SELECT COUNT(*)", filter_sql!()))
            .bind(filter.job_id)
            .bind(filter.status.as_deref())
            .bind(filter.since)
            .fetch_one(pool)
            .await?;
        (rows, total)
    });
    Ok((rows, total))
}

/// A run's step rows by step index, then target order.
pub async fn steps(db: &Db, run_id: i64) -> StoreResult<Vec<StepRecord>> {
    let rows = with_pool!(db, pool => {
        sqlx::query_as::<_, StepRecord>(concat!(
            "SELECT ", step_columns!(), " FROM job_run_steps WHERE job_run_id = $1 ORDER BY idx, id"
        ))
        .bind(run_id)
        .fetch_all(pool)
        .await?
    });
    Ok(rows)
}

/// Claims the oldest queued run for `worker_id` in one statement (ARCHITECTURE §5): on
/// PostgreSQL other workers skip the locked row instead of waiting for it; SQLite has one
/// writer, so the sub-select and the update cannot interleave with another claim.
pub async fn claim(db: &Db, worker_id: &str) -> StoreResult<Option<RunRecord>> {
    let now = UtcTime::now();
    macro_rules! claim_sql {
        ($greatest:literal, $lock:literal) => {
            concat!(
                "UPDATE job_runs SET status = 'running', worker_id = $1, heartbeat_at = $2, ",
                // The clock was read before the statement waited for the database: never
                // record a start before the queue time a concurrent insert wrote meanwhile.
                "started_at = COALESCE(started_at, ",
                $greatest,
                "($2, queued_at)), attempt = attempt + 1 ",
                "WHERE id = (SELECT id FROM job_runs WHERE status = 'queued' ORDER BY id LIMIT 1",
                $lock,
                ") AND status = 'queued' RETURNING ",
                run_columns!()
            )
        };
    }
    let row = match db {
        Db::Sqlite(pool) => {
            sqlx::query_as::<_, RunRecord>(claim_sql!("MAX", ""))
                .bind(worker_id)
                .bind(now)
                .fetch_optional(pool)
                .await?
        }
        Db::Postgres(pool) => {
            sqlx::query_as::<_, RunRecord>(claim_sql!("GREATEST", " FOR UPDATE SKIP LOCKED"))
                .bind(worker_id)
                .bind(now)
                .fetch_optional(pool)
                .await?
        }
    };
    Ok(row)
}

/// Renews `worker_id`'s lease on a running run. `Some(cancel_requested)` while the worker still
/// owns it, `None` when it does not (the sweeper took it, or it finished).
pub async fn heartbeat(db: &Db, run_id: i64, worker_id: &str) -> StoreResult<Option<bool>> {
    let row = with_pool!(db, pool => {
        sqlx::query_scalar::<_, bool>(
            "UPDATE job_runs SET heartbeat_at = $3 WHERE id = $1 AND worker_id = $2 \
             AND status = 'running' RETURNING cancel_requested",
        )
        .bind(run_id)
        .bind(worker_id)
        .bind(UtcTime::now())
        .fetch_optional(pool)
        .await?
    });
    Ok(row)
}

/// What a cancel request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelOutcome {
    /// The run was still queued and is now `canceled`.
    Canceled,
    /// The run is running; its worker was asked to stop.
    Requested,
    /// The run had already finished.
    AlreadyFinished,
    NotFound,
}

/// Cancels a queued run at once (steps `aborted`, the final event and the completion written
/// with it) or flags a running one for its worker.
pub async fn cancel(
    db: &Db,
    run_id: i64,
    by: &str,
    final_event: &NewEvent,
) -> StoreResult<CancelOutcome> {
    let now = UtcTime::now();
    let outcome = locked_tx!(db, run_id, tx => {
        let status: Option<String> = sqlx::query_scalar("SELECT status FROM job_runs WHERE id = $1")
            .bind(run_id)
            .fetch_optional(&mut *tx)
            .await?;
        match status.as_deref() {
            None => CancelOutcome::NotFound,
            Some("queued") => {
                sqlx::query(
                    "UPDATE job_runs SET status = 'canceled', cancel_requested = TRUE, canceled_by = $2, \
                     finished_at = $3 WHERE id = $1",
                )
                .bind(run_id)
                .bind(by)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "UPDATE job_run_steps SET status = 'aborted', finished_at = $2 \
                     WHERE job_run_id = $1 AND status IN ('queued', 'running')",
                )
                .bind(run_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                complete_in_tx!(tx, run_id, "canceled", now);
                append_in_tx!(tx, run_id, [final_event]);
                CancelOutcome::Canceled
            }
            Some("running") => {
                sqlx::query("UPDATE job_runs SET cancel_requested = TRUE, canceled_by = COALESCE(canceled_by, $2) WHERE id = $1")
                    .bind(run_id)
                    .bind(by)
                    .execute(&mut *tx)
                    .await?;
                CancelOutcome::Requested
            }
            Some(_) => CancelOutcome::AlreadyFinished,
        }
    });
    Ok(outcome)
}

/// Records a step row's progress and the events announcing it, in one transaction.
pub async fn update_step(
    db: &Db,
    run_id: i64,
    step_id: i64,
    change: &StepUpdate,
    events: &[NewEvent],
) -> StoreResult<()> {
    let now = UtcTime::now();
    locked_tx!(db, run_id, tx => {
        sqlx::query(
            "UPDATE job_run_steps SET status = COALESCE($3, status), exit_code = COALESCE($4, exit_code), \
             stdout = COALESCE($5, stdout), stderr = COALESCE($6, stderr), error = COALESCE($7, error), \
             attempts = COALESCE($8, attempts), metrics = COALESCE($9, metrics), \
             started_at = CASE WHEN $10 THEN $12 ELSE started_at END, \
             finished_at = CASE WHEN $11 THEN $12 ELSE finished_at END \
             WHERE id = $2 AND job_run_id = $1",
        )
        .bind(run_id)
        .bind(step_id)
        .bind(change.status)
        .bind(change.exit_code)
        .bind(change.stdout.as_deref())
        .bind(change.stderr.as_deref())
        .bind(change.error.as_deref())
        .bind(change.attempts)
        .bind(change.metrics.as_deref())
        .bind(change.started)
        .bind(change.finished)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        append_in_tx!(tx, run_id, events);
    });
    Ok(())
}

/// Marks every still-queued row of the run `aborted` (after a failure or a cancel); returns
/// the rows it changed so their events can be written.
pub async fn abort_queued_steps(
    db: &Db,
    run_id: i64,
    reason: &str,
) -> StoreResult<Vec<StepRecord>> {
    let now = UtcTime::now();
    let rows = with_pool!(db, pool => {
        sqlx::query_as::<_, StepRecord>(concat!(
            "UPDATE job_run_steps SET status = 'aborted', error = $2, finished_at = $3 ",
            "WHERE job_run_id = $1 AND status = 'queued' RETURNING ", step_columns!()
        ))
        .bind(run_id)
        .bind(reason)
        .bind(now)
        .fetch_all(pool)
        .await?
    });
    Ok(rows)
}

/// Writes a run's final status if `worker_id` still owns it, with its final event and the
/// completion record, in one transaction. False when the worker had lost the run.
pub async fn finish(
    db: &Db,
    run_id: i64,
    worker_id: &str,
    status: &str,
    error: Option<&str>,
    final_event: &NewEvent,
) -> StoreResult<bool> {
    let now = UtcTime::now();
    let owned = locked_tx!(db, run_id, tx => {
        let changed = sqlx::query(
            "UPDATE job_runs SET status = $3, error = $4, finished_at = $5 \
             WHERE id = $1 AND worker_id = $2 AND status = 'running'",
        )
        .bind(run_id)
        .bind(worker_id)
        .bind(status)
        .bind(error)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 1 {
            complete_in_tx!(tx, run_id, status, now);
            append_in_tx!(tx, run_id, [final_event]);
        }
        changed == 1
    });
    Ok(owned)
}

/// Gives a running run back to the queue (graceful shutdown): rows that were interrupted go
/// back to `queued`, finished rows keep their results, so the next worker resumes it.
pub async fn hand_back(
    db: &Db,
    run_id: i64,
    worker_id: &str,
    event: &NewEvent,
) -> StoreResult<bool> {
    let owned = locked_tx!(db, run_id, tx => {
        let changed = sqlx::query(
            "UPDATE job_runs SET status = 'queued', worker_id = NULL, heartbeat_at = NULL \
             WHERE id = $1 AND worker_id = $2 AND status = 'running'",
        )
        .bind(run_id)
        .bind(worker_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 1 {
            sqlx::query(
                "UPDATE job_run_steps SET status = 'queued', started_at = NULL \
                 WHERE job_run_id = $1 AND status = 'running'",
            )
            .bind(run_id)
            .execute(&mut *tx)
            .await?;
            append_in_tx!(tx, run_id, [event]);
        }
        changed == 1
    });
    Ok(owned)
}

/// Running runs whose lease was last renewed before `before`.
pub async fn stale(db: &Db, before: UtcTime) -> StoreResult<Vec<RunRecord>> {
    let rows = with_pool!(db, pool => {
        sqlx::query_as::<_, RunRecord>(concat!(
            "SELECT ", run_columns!(), " FROM job_runs WHERE status = 'running' AND heartbeat_at < $1 ORDER BY id"
        ))
        .bind(before)
        .fetch_all(pool)
        .await?
    });
    Ok(rows)
}

/// Fails a run whose worker stopped renewing its lease, if it is still stale: interrupted
/// rows `failed`, queued rows `aborted`, with `message` saying why, the final event and the
/// completion record. False when the worker came back or the run finished meanwhile.
pub async fn fail_stale(
    db: &Db,
    run_id: i64,
    worker_id: &str,
    before: UtcTime,
    message: &str,
    final_event: &NewEvent,
) -> StoreResult<bool> {
    let now = UtcTime::now();
    let failed = locked_tx!(db, run_id, tx => {
        let changed = sqlx::query(
            "UPDATE job_runs SET status = 'failed', error = $3, finished_at = $5 \
             WHERE id = $1 AND worker_id = $2 AND status = 'running' AND heartbeat_at < $4",
        )
        .bind(run_id)
        .bind(worker_id)
        .bind(message)
        .bind(before)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 1 {
            sqlx::query(
                "UPDATE job_run_steps SET status = CASE WHEN status = 'running' THEN 'failed' ELSE 'aborted' END, \
                 error = $2, finished_at = $3 WHERE job_run_id = $1 AND status IN ('queued', 'running')",
            )
            .bind(run_id)
            .bind(message)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            complete_in_tx!(tx, run_id, "failed", now);
            append_in_tx!(tx, run_id, [final_event]);
        }
        changed == 1
    });
    Ok(failed)
}

/// Appends events (output chunks, status changes) to a run; returns the last sequence number.
pub async fn append_events(db: &Db, run_id: i64, events: &[NewEvent]) -> StoreResult<i64> {
    let seq = locked_tx!(db, run_id, tx => { append_in_tx!(tx, run_id, events) });
    Ok(seq)
}

/// Events after `after`, in order, at most `limit`.
pub async fn events_after(
    db: &Db,
    run_id: i64,
    after: i64,
    limit: i64,
) -> StoreResult<Vec<EventRecord>> {
    let rows = with_pool!(db, pool => {
        sqlx::query_as::<_, EventRecord>(concat!(
            "SELECT ", event_columns!(), " FROM run_logs WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
        ))
        .bind(run_id)
        .bind(after)
        .bind(limit)
        .fetch_all(pool)
        .await?
    });
    Ok(rows)
}

/// Output chunks from sequence number `from` on, optionally of one step and/or one target.
pub async fn logs(
    db: &Db,
    run_id: i64,
    step_idx: Option<i64>,
    target_id: Option<i64>,
    from: i64,
    limit: i64,
) -> StoreResult<Vec<EventRecord>> {
    let rows = with_pool!(db, pool => {
        sqlx::query_as::<_, EventRecord>(concat!(
            "SELECT ", event_columns!(), " FROM run_logs WHERE run_id = $1 AND kind = 'log' AND seq >= $2 ",
            "AND ($3 IS NULL OR step_idx = $3) AND ($4 IS NULL OR target_id = $4) ORDER BY seq LIMIT $5"
        ))
        .bind(run_id)
        .bind(from)
        .bind(step_idx)
        .bind(target_id)
        .bind(limit)
        .fetch_all(pool)
        .await?
    });
    Ok(rows)
}

/// Step rows queued or running now, and finished since `since`, by status.
pub async fn step_counts(db: &Db, since: UtcTime) -> StoreResult<StepCounts> {
    let counts = with_pool!(db, pool => {
        sqlx::query_as::<_, StepCounts>(
            "SELECT \
               COALESCE(SUM(CASE WHEN status = 'queued' THEN 1 ELSE 0 END), 0) AS queued, \
               COALESCE(SUM(CASE WHEN status = 'running' THEN 1 ELSE 0 END), 0) AS running, \
               COALESCE(SUM(CASE WHEN status = 'succeeded' AND finished_at >= $1 THEN 1 ELSE 0 END), 0) AS succeeded, \
               COALESCE(SUM(CASE WHEN status = 'failed' AND finished_at >= $1 THEN 1 ELSE 0 END), 0) AS failed \
             FROM job_run_steps WHERE status IN ('queued', 'running') OR finished_at >= $1",
        )
        .bind(since)
        .fetch_one(pool)
        .await?
    });
    Ok(counts)
}

/// How many runs are queued and running right now.
pub async fn run_counts(db: &Db) -> StoreResult<(i64, i64)> {
    let counts = with_pool!(db, pool => {
        sqlx::query_as::<_, (i64, i64)>(
            "SELECT COALESCE(SUM(CASE WHEN status = 'queued' THEN 1 ELSE 0 END), 0), \
                    COALESCE(SUM(CASE WHEN status = 'running' THEN 1 ELSE 0 END), 0) \
             FROM job_runs WHERE status IN ('queued', 'running')",
        )
        .fetch_one(pool)
        .await?
    });
    Ok(counts)
}
