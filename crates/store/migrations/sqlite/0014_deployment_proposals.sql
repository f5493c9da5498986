-- The change a dry run last proposed for a repository's cluster (`slipway
-- apply --dry-run`, say a pull request's): the desired state as it was
-- sent (`desired`, JSON; its secrets file still encrypted to the server,
-- as committed), what it would change (`changes`, JSON; a secret by name
-- only), Terraform's plan of it, and what the cluster was asked to be when
-- it was proposed (`base_spec_digest`). A person may apply it later — from
-- the web UI, which has no repository — through the same checks as an
-- apply; one made against what the cluster no longer is, is stale.
CREATE TABLE deployment_proposals (
    cluster          TEXT PRIMARY KEY REFERENCES clusters (name) ON DELETE CASCADE,
    deployment       TEXT NOT NULL,
    environment      TEXT NOT NULL,
    desired          TEXT NOT NULL,
    changes          TEXT NOT NULL,
    commit_id        TEXT,
    base_spec_digest TEXT NOT NULL,
    plan_operation   TEXT,
    proposed_by      TEXT NOT NULL,
    proposed_at      INTEGER NOT NULL
);
