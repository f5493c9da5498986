-- Organizations as accounts (DESIGN.md §3.8): an organization's budget
-- account (money as exact decimal text), what each cluster cost per hour
-- (the blueprint's model and, where known, AWS Cost Explorer's figure, and
-- what has been charged), which node count ran from when (the model's
-- input), and capacity requests.

-- An account exists once an administrator opens one; an organization
-- without one is not budgeted (its costs are still recorded).
CREATE TABLE accounts (
    organization        TEXT PRIMARY KEY,
    balance             TEXT NOT NULL,
    monthly_allowance   TEXT NOT NULL,
    max_balance         TEXT NOT NULL,
    fytd_cost           TEXT NOT NULL,
    fiscal_year_start   BIGINT NOT NULL,
    charged_total       TEXT NOT NULL,
    last_charge_at      BIGINT,
    last_credit_at      BIGINT,
    last_reconciled_at  BIGINT,
    -- Warnings sent and not re-armed yet (JSON array of keys).
    warnings            TEXT NOT NULL DEFAULT '[]',
    updated_at          BIGINT NOT NULL
);

-- Organization-wide capacity policy: destroy a cluster when its last
-- capacity request expires (else scale it to its minimum).
ALTER TABLE organizations ADD COLUMN destroy_when_idle BIGINT NOT NULL DEFAULT 0;

-- From `since`, the cluster ran `nodes` nodes (0: not deployed) at these
-- rates; the next row of the cluster ends the span.
CREATE TABLE cluster_sizes (
    cluster        TEXT NOT NULL,
    organization   TEXT NOT NULL,
    since          BIGINT NOT NULL,
    nodes          BIGINT NOT NULL,
    fixed_rate     TEXT NOT NULL,
    per_node_rate  TEXT NOT NULL,
    PRIMARY KEY (cluster, since)
);
CREATE INDEX cluster_sizes_by_organization ON cluster_sizes (organization, since);

-- What each cluster cost per UTC hour: the model's estimate, Cost
-- Explorer's figure (which replaces it), and what has been charged so far.
CREATE TABLE cost_hours (
    cluster        TEXT NOT NULL,
    organization   TEXT NOT NULL,
    hour           BIGINT NOT NULL,
    model          TEXT,
    cost_explorer  TEXT,
    charged        TEXT NOT NULL DEFAULT '0',
    -- 1 while the effective cost differs from what was charged.
    unsettled      BIGINT NOT NULL DEFAULT 1,
    PRIMARY KEY (cluster, hour)
);
CREATE INDEX cost_hours_by_organization ON cost_hours (organization, hour);
CREATE INDEX cost_hours_unsettled ON cost_hours (organization) WHERE unsettled = 1;

CREATE TABLE capacity_requests (
    id            TEXT PRIMARY KEY,
    cluster       TEXT NOT NULL,
    subject       TEXT NOT NULL,
    name          TEXT NOT NULL,
    nodes         BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE INDEX capacity_requests_by_cluster ON capacity_requests (cluster, expires_at);
CREATE INDEX capacity_requests_by_expiry ON capacity_requests (expires_at);

-- When Cost Explorer was last asked (one row), so replicas ask it at most
-- once per interval together.
CREATE TABLE cost_explorer_fetches (
    id          BIGINT PRIMARY KEY CHECK (id = 1),
    fetched_at  BIGINT NOT NULL
);
