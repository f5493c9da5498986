-- Terraform state kept by Slipway (the HTTP backend), every version, sealed;
-- state locks; and the credentials a running operation's Terraform uses.

CREATE TABLE state_versions (
    state_key     TEXT NOT NULL,
    serial        INTEGER NOT NULL,
    operation_id  TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    data          TEXT NOT NULL,
    PRIMARY KEY (state_key, serial)
);

CREATE TABLE state_locks (
    state_key     TEXT PRIMARY KEY,
    lock_id       TEXT NOT NULL,
    operation_id  TEXT NOT NULL,
    info          TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);

CREATE TABLE run_credentials (
    operation_id  TEXT PRIMARY KEY,
    state_key     TEXT NOT NULL,
    secret_hash   TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);
