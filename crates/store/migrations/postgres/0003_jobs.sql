-- Jobs and every revision of their definitions.
CREATE TABLE jobs (
    id           BIGSERIAL   PRIMARY KEY,
    name         TEXT        NOT NULL UNIQUE,
    version      BIGINT      NOT NULL DEFAULT 1,
    definition   TEXT        NOT NULL,
    revision     BIGINT      NOT NULL DEFAULT 1,
    created_by   BIGINT      NOT NULL REFERENCES users (id),
    is_active    BOOLEAN     NOT NULL DEFAULT TRUE,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX jobs_active ON jobs (is_active, id);

CREATE TABLE job_versions (
    job_id     BIGINT      NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    revision   BIGINT      NOT NULL,
    version    BIGINT      NOT NULL,
    definition TEXT        NOT NULL,
    created_by BIGINT      REFERENCES users (id) ON DELETE SET NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (job_id, revision)
);
