-- Runs: the queue (job_runs), per step per target results (job_run_steps), the ordered event
-- stream of each run (run_logs: status changes and output chunks) and the durable
-- "run finished" outbox the notifier consumes (run_completions).
CREATE TABLE job_runs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id           INTEGER NOT NULL REFERENCES jobs (id),
    job_revision     INTEGER NOT NULL,
    status           TEXT    NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'canceled')),
    requested_by     INTEGER NOT NULL REFERENCES users (id),
    parameters       TEXT    NOT NULL,
    variables        TEXT    NOT NULL,
    correlation_id   TEXT    NOT NULL,
    idempotency_key  TEXT,
    rerun_of         INTEGER REFERENCES job_runs (id) ON DELETE SET NULL,
    worker_id        TEXT,
    heartbeat_at     TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    canceled_by      TEXT,
    error            TEXT,
    attempt          INTEGER NOT NULL DEFAULT 0,
    queued_at        TEXT    NOT NULL,
    started_at       TEXT,
    finished_at      TEXT,
    UNIQUE (job_id, idempotency_key)
);
CREATE INDEX job_runs_queue ON job_runs (status, id);
CREATE INDEX job_runs_job ON job_runs (job_id, id);
CREATE INDEX job_runs_queued_at ON job_runs (queued_at);

CREATE TABLE job_run_steps (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    job_run_id  INTEGER NOT NULL REFERENCES job_runs (id) ON DELETE CASCADE,
    idx         INTEGER NOT NULL,
    name        TEXT,
    type        TEXT    NOT NULL,
    target_id   INTEGER REFERENCES targets (id) ON DELETE SET NULL,
    target_name TEXT,
    status      TEXT    NOT NULL DEFAULT 'queued'
                CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'aborted')),
    shell       TEXT,
    timeoutsec  INTEGER NOT NULL,
    exit_code   INTEGER,
    stdout      TEXT,
    stderr      TEXT,
    error       TEXT,
    attempts    INTEGER NOT NULL DEFAULT 0,
    metrics     TEXT    NOT NULL DEFAULT '{}',
    started_at  TEXT,
    finished_at TEXT
);
CREATE INDEX job_run_steps_run ON job_run_steps (job_run_id, idx, id);
CREATE INDEX job_run_steps_status ON job_run_steps (status, finished_at);

CREATE TABLE run_logs (
    run_id    INTEGER NOT NULL REFERENCES job_runs (id) ON DELETE CASCADE,
    seq       INTEGER NOT NULL,
    kind      TEXT    NOT NULL CHECK (kind IN ('status', 'step', 'log')),
    step_idx  INTEGER,
    target_id INTEGER,
    stream    TEXT,
    body      TEXT    NOT NULL,
    ts        TEXT    NOT NULL,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;

CREATE TABLE run_completions (
    run_id       INTEGER PRIMARY KEY REFERENCES job_runs (id) ON DELETE CASCADE,
    job_id       INTEGER NOT NULL,
    status       TEXT    NOT NULL,
    finished_at  TEXT    NOT NULL,
    processed_at TEXT
);
CREATE INDEX run_completions_pending ON run_completions (processed_at, run_id);
