-- Runs: the queue (job_runs), per step per target results (job_run_steps), the ordered event
-- stream of each run (run_logs: status changes and output chunks) and the durable
-- "run finished" outbox the notifier consumes (run_completions).
CREATE TABLE job_runs (
    id               BIGSERIAL   PRIMARY KEY,
    job_id           BIGINT      NOT NULL REFERENCES jobs (id),
    job_revision     BIGINT      NOT NULL,
    status           TEXT        NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'canceled')),
    requested_by     BIGINT      NOT NULL REFERENCES users (id),
    parameters       TEXT        NOT NULL,
    variables        TEXT        NOT NULL,
    correlation_id   TEXT        NOT NULL,
    idempotency_key  TEXT,
    rerun_of         BIGINT      REFERENCES job_runs (id) ON DELETE SET NULL,
    worker_id        TEXT,
    heartbeat_at     TIMESTAMPTZ,
    cancel_requested BOOLEAN     NOT NULL DEFAULT FALSE,
    canceled_by      TEXT,
    error            TEXT,
    attempt          BIGINT      NOT NULL DEFAULT 0,
    queued_at        TIMESTAMPTZ NOT NULL,
    started_at       TIMESTAMPTZ,
    finished_at      TIMESTAMPTZ,
    UNIQUE (job_id, idempotency_key)
);
CREATE INDEX job_runs_queue ON job_runs (status, id);
CREATE INDEX job_runs_job ON job_runs (job_id, id);
CREATE INDEX job_runs_queued_at ON job_runs (queued_at);

CREATE TABLE job_run_steps (
    id          BIGSERIAL   PRIMARY KEY,
    job_run_id  BIGINT      NOT NULL REFERENCES job_runs (id) ON DELETE CASCADE,
    idx         BIGINT      NOT NULL,
    name        TEXT,
    type        TEXT        NOT NULL,
    target_id   BIGINT      REFERENCES targets (id) ON DELETE SET NULL,
    target_name TEXT,
    status      TEXT        NOT NULL DEFAULT 'queued'
                CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'aborted')),
    shell       TEXT,
    timeoutsec  BIGINT      NOT NULL,
    exit_code   BIGINT,
    stdout      TEXT,
    stderr      TEXT,
    error       TEXT,
    attempts    BIGINT      NOT NULL DEFAULT 0,
    metrics     TEXT        NOT NULL DEFAULT '{}',
    started_at  TIMESTAMPTZ,
    finished_at TIMESTAMPTZ
);
CREATE INDEX job_run_steps_run ON job_run_steps (job_run_id, idx, id);
CREATE INDEX job_run_steps_status ON job_run_steps (status, finished_at);

CREATE TABLE run_logs (
    run_id    BIGINT      NOT NULL REFERENCES job_runs (id) ON DELETE CASCADE,
    seq       BIGINT      NOT NULL,
    kind      TEXT        NOT NULL CHECK (kind IN ('status', 'step', 'log')),
    step_idx  BIGINT,
    target_id BIGINT,
    stream    TEXT,
    body      TEXT        NOT NULL,
    ts        TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (run_id, seq)
);

CREATE TABLE run_completions (
    run_id       BIGINT      PRIMARY KEY REFERENCES job_runs (id) ON DELETE CASCADE,
    job_id       BIGINT      NOT NULL,
    status       TEXT        NOT NULL,
    finished_at  TIMESTAMPTZ NOT NULL,
    processed_at TIMESTAMPTZ
);
CREATE INDEX run_completions_pending ON run_completions (processed_at, run_id);
