-- Credential vault (envelope-encrypted) and the target inventory.
CREATE TABLE vault_meta (
    id               BIGINT      PRIMARY KEY CHECK (id = 1),
    key_id           TEXT        NOT NULL,
    check_nonce      BYTEA       NOT NULL,
    check_ciphertext BYTEA       NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL
);

CREATE TABLE credentials (
    id              BIGSERIAL   PRIMARY KEY,
    name            TEXT        NOT NULL UNIQUE,
    description     TEXT,
    credential_type TEXT        NOT NULL CHECK (credential_type IN
                        ('winrm', 'winrm_ntlm', 'winrm_basic', 'winrm_kerberos', 'ssh', 'ssh_key', 'api_key', 'token')),
    key_id          TEXT        NOT NULL,
    dek_nonce       BYTEA       NOT NULL,
    dek_wrapped     BYTEA       NOT NULL,
    data_nonce      BYTEA       NOT NULL,
    data_ciphertext BYTEA       NOT NULL,
    created_by      BIGINT      REFERENCES users (id) ON DELETE SET NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ,
    rotated_at      TIMESTAMPTZ
);
CREATE INDEX credentials_key_id ON credentials (key_id);

CREATE TABLE targets (
    id                   BIGSERIAL   PRIMARY KEY,
    name                 TEXT        NOT NULL UNIQUE,
    hostname             TEXT        NOT NULL,
    protocol             TEXT        NOT NULL CHECK (protocol IN ('winrm', 'ssh', 'http')),
    port                 BIGINT      NOT NULL CHECK (port BETWEEN 1 AND 65535),
    credential_ref       BIGINT      NOT NULL REFERENCES credentials (id) ON DELETE RESTRICT,
    tags                 TEXT        NOT NULL DEFAULT '[]',
    metadata             TEXT        NOT NULL DEFAULT '{}',
    depends_on           TEXT        NOT NULL DEFAULT '[]',
    host_key_fingerprint TEXT,
    host_key_algorithm   TEXT,
    host_key_pinned_at   TIMESTAMPTZ,
    created_at           TIMESTAMPTZ NOT NULL,
    updated_at           TIMESTAMPTZ NOT NULL
);
CREATE INDEX targets_protocol ON targets (protocol, id);
CREATE INDEX targets_credential ON targets (credential_ref);

-- One row per tag, so "every one of these tags" is an indexed lookup.
CREATE TABLE target_tags (
    tag       TEXT   NOT NULL,
    target_id BIGINT NOT NULL REFERENCES targets (id) ON DELETE CASCADE,
    PRIMARY KEY (tag, target_id)
);
CREATE INDEX target_tags_target ON target_tags (target_id);
