-- Slipway's foundation schema (PostgreSQL). Times are Unix milliseconds (UTC);
-- structured values are JSON text. The SQLite twin differs only in types.

CREATE TABLE clusters (
    name            TEXT PRIMARY KEY,
    organization    TEXT NOT NULL,
    public          BIGINT NOT NULL,
    spec            TEXT NOT NULL,
    deployed        TEXT,
    state           TEXT NOT NULL,
    outputs         TEXT NOT NULL,
    error           TEXT,
    last_operation  TEXT,
    created_by      TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

CREATE TABLE operations (
    id                TEXT PRIMARY KEY,
    cluster           TEXT NOT NULL,
    kind              TEXT NOT NULL,
    reason            TEXT NOT NULL,
    requested_by      TEXT NOT NULL,
    state             TEXT NOT NULL,
    spec              TEXT NOT NULL,
    error             TEXT,
    result            TEXT,
    created_at        BIGINT NOT NULL,
    started_at        BIGINT,
    finished_at       BIGINT,
    lease_owner       TEXT,
    lease_expires_at  BIGINT
);
CREATE INDEX operations_by_cluster ON operations (cluster, created_at);
CREATE INDEX operations_by_state ON operations (state, created_at);
-- At most one infrastructure operation per cluster is queued or running.
CREATE UNIQUE INDEX one_active_infrastructure_operation ON operations (cluster)
    WHERE state IN ('queued', 'running') AND kind IN ('deploy', 'update', 'destroy', 'refresh');

CREATE TABLE operation_events (
    operation_id  TEXT NOT NULL,
    seq           BIGINT NOT NULL,
    at            BIGINT NOT NULL,
    kind          TEXT NOT NULL,
    level         TEXT NOT NULL,
    message       TEXT NOT NULL,
    data          TEXT NOT NULL,
    PRIMARY KEY (operation_id, seq)
);

CREATE TABLE schedules (
    cluster           TEXT PRIMARY KEY,
    destroy_at        BIGINT NOT NULL,
    requested_by      TEXT NOT NULL,
    created_at        BIGINT NOT NULL,
    fired_operation   TEXT,
    failed_attempts   BIGINT NOT NULL DEFAULT 0,
    retry_at          BIGINT
);

CREATE TABLE blueprint_versions (
    blueprint   TEXT NOT NULL,
    version     TEXT NOT NULL,
    metadata    TEXT NOT NULL,
    files       TEXT NOT NULL,
    digest      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (blueprint, version)
);

CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    owner        TEXT NOT NULL,
    secret_hash  TEXT NOT NULL UNIQUE,
    scopes       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    revoked_at   BIGINT
);

CREATE TABLE audit_log (
    id      BIGSERIAL PRIMARY KEY,
    at      BIGINT NOT NULL,
    actor   TEXT NOT NULL,
    level   TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT NOT NULL,
    result  TEXT NOT NULL,
    detail  TEXT NOT NULL
);
CREATE INDEX audit_by_target ON audit_log (target, id);
