-- Slipway's foundation schema (SQLite). Times are Unix milliseconds (UTC);
-- structured values are JSON text. The PostgreSQL twin differs only in types.

CREATE TABLE clusters (
    name            TEXT PRIMARY KEY,
    organization    TEXT NOT NULL,
    public          INTEGER NOT NULL,
    spec            TEXT NOT NULL,
    deployed        TEXT,
    state           TEXT NOT NULL,
    outputs         TEXT NOT NULL,
    error           TEXT,
    last_operation  TEXT,
    created_by      TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
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
    created_at        INTEGER NOT NULL,
    started_at        INTEGER,
    finished_at       INTEGER,
    lease_owner       TEXT,
    lease_expires_at  INTEGER
);
CREATE INDEX operations_by_cluster ON operations (cluster, created_at);
CREATE INDEX operations_by_state ON operations (state, created_at);
-- At most one infrastructure operation per cluster is queued or running.
CREATE UNIQUE INDEX one_active_infrastructure_operation ON operations (cluster)
    WHERE state IN ('queued', 'running') AND kind IN ('deploy', 'update', 'destroy', 'refresh');

CREATE TABLE operation_events (
    operation_id  TEXT NOT NULL,
    seq           INTEGER NOT NULL,
    at            INTEGER NOT NULL,
    kind          TEXT NOT NULL,
    level         TEXT NOT NULL,
    message       TEXT NOT NULL,
    data          TEXT NOT NULL,
    PRIMARY KEY (operation_id, seq)
);

CREATE TABLE schedules (
    cluster           TEXT PRIMARY KEY,
    destroy_at        INTEGER NOT NULL,
    requested_by      TEXT NOT NULL,
    created_at        INTEGER NOT NULL,
    fired_operation   TEXT,
    failed_attempts   INTEGER NOT NULL DEFAULT 0,
    retry_at          INTEGER
);

CREATE TABLE blueprint_versions (
    blueprint   TEXT NOT NULL,
    version     TEXT NOT NULL,
    metadata    TEXT NOT NULL,
    files       TEXT NOT NULL,
    digest      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (blueprint, version)
);

CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    owner        TEXT NOT NULL,
    secret_hash  TEXT NOT NULL UNIQUE,
    scopes       TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    revoked_at   INTEGER
);

CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      INTEGER NOT NULL,
    actor   TEXT NOT NULL,
    level   TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT NOT NULL,
    result  TEXT NOT NULL,
    detail  TEXT NOT NULL
);
CREATE INDEX audit_by_target ON audit_log (target, id);
