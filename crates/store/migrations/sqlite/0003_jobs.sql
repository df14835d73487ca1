-- Jobs and every revision of their definitions.
CREATE TABLE jobs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT    NOT NULL UNIQUE,
    version      INTEGER NOT NULL DEFAULT 1,
    definition   TEXT    NOT NULL,
    revision     INTEGER NOT NULL DEFAULT 1,
    created_by   INTEGER NOT NULL REFERENCES users (id),
    is_active    INTEGER NOT NULL DEFAULT 1,
    created_at   TEXT    NOT NULL,
    updated_at   TEXT    NOT NULL
);
CREATE INDEX jobs_active ON jobs (is_active, id);

CREATE TABLE job_versions (
    job_id     INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    revision   INTEGER NOT NULL,
    version    INTEGER NOT NULL,
    definition TEXT    NOT NULL,
    created_by INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at TEXT    NOT NULL,
    PRIMARY KEY (job_id, revision)
);
