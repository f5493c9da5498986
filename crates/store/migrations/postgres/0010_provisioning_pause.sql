-- Provisioning paused site-wide by an administrator: while the row exists
-- no worker leases a queued operation (running ones go on). One row at most.
CREATE TABLE provisioning_pause (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    paused_by TEXT NOT NULL,
    paused_by_name TEXT NOT NULL,
    reason    TEXT NOT NULL,
    since     BIGINT NOT NULL
);
