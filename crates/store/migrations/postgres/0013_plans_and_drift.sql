-- A plan (Terraform's plan of a configuration, changing nothing) uses the
-- cluster's Terraform state like the other infrastructure operations, so it
-- too is one at a time per cluster.
DROP INDEX one_active_infrastructure_operation;
CREATE UNIQUE INDEX one_active_infrastructure_operation ON operations (cluster)
    WHERE state IN ('queued', 'running') AND kind IN ('deploy', 'update', 'destroy', 'refresh', 'plan');

-- What the last drift check found differing from the deployed
-- configuration (a JSON array of resource instances, or ["outputs"]; NULL:
-- nothing), and when what exists was last found (docs/domain.md §4).
ALTER TABLE clusters ADD COLUMN drift TEXT;
ALTER TABLE clusters ADD COLUMN drift_checked_at BIGINT;

-- A deployment marked `prune` in the repository: its cluster is destroyed
-- by the apply that no longer finds the deployment there.
ALTER TABLE deployment_applies ADD COLUMN prune BIGINT NOT NULL DEFAULT 0;

-- What the repository gave the cluster (`digest`: its layers and secrets
-- file, hashed by the CLI) and what the apply asked the cluster to be
-- (`spec_digest`): while both still hold, a later apply with the same
-- digest has nothing to send.
ALTER TABLE deployment_applies ADD COLUMN digest TEXT NOT NULL DEFAULT '';
ALTER TABLE deployment_applies ADD COLUMN spec_digest TEXT NOT NULL DEFAULT '';

-- The environment this one comes after (prod after staging), as the apply
-- said: what its promotion is checked against.
ALTER TABLE deployment_applies ADD COLUMN requires TEXT;
