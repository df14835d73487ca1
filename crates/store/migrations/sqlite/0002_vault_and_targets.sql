-- Credential vault (envelope-encrypted) and the target inventory.
CREATE TABLE vault_meta (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    key_id           TEXT    NOT NULL,
    check_nonce      BLOB    NOT NULL,
    check_ciphertext BLOB    NOT NULL,
    updated_at       TEXT    NOT NULL
);

CREATE TABLE credentials (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    name            TEXT    NOT NULL UNIQUE,
    description     TEXT,
    credential_type TEXT    NOT NULL CHECK (credential_type IN
                        ('winrm', 'winrm_ntlm', 'winrm_basic', 'winrm_kerberos', 'ssh', 'ssh_key', 'api_key', 'token')),
    key_id          TEXT    NOT NULL,
    dek_nonce       BLOB    NOT NULL,
    dek_wrapped     BLOB    NOT NULL,
    data_nonce      BLOB    NOT NULL,
    data_ciphertext BLOB    NOT NULL,
    created_by      INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at      TEXT    NOT NULL,
    updated_at      TEXT,
    rotated_at      TEXT
);
CREATE INDEX credentials_key_id ON credentials (key_id);

CREATE TABLE targets (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    name                 TEXT    NOT NULL UNIQUE,
    hostname             TEXT    NOT NULL,
    protocol             TEXT    NOT NULL CHECK (protocol IN ('winrm', 'ssh', 'http')),
    port                 INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
    credential_ref       INTEGER NOT NULL REFERENCES credentials (id) ON DELETE RESTRICT,
    tags                 TEXT    NOT NULL DEFAULT '[]',
    metadata             TEXT    NOT NULL DEFAULT '{}',
    depends_on           TEXT    NOT NULL DEFAULT '[]',
    host_key_fingerprint TEXT,
    host_key_algorithm   TEXT,
    host_key_pinned_at   TEXT,
    created_at           TEXT    NOT NULL,
    updated_at           TEXT    NOT NULL
);
CREATE INDEX targets_protocol ON targets (protocol, id);
CREATE INDEX targets_credential ON targets (credential_ref);

-- One row per tag, so "every one of these tags" is an indexed lookup.
CREATE TABLE target_tags (
    tag       TEXT    NOT NULL,
    target_id INTEGER NOT NULL REFERENCES targets (id) ON DELETE CASCADE,
    PRIMARY KEY (tag, target_id)
);
CREATE INDEX target_tags_target ON target_tags (target_id);
