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
ALTER TABLE clusters ADD COLUMN drift_checked_at INTEGER;

-- A deployment marked `prune` in the repository: its cluster is destroyed
-- by the apply that no longer finds the deployment there.
ALTER TABLE deployment_applies ADD COLUMN prune INTEGER NOT NULL DEFAULT 0;
