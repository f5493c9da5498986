//! Clusters, the decisions about them, and their scheduled destroys.

use std::sync::LazyLock;

use async_trait::async_trait;
use slipway_core::rules::{ClusterSnapshot, Decision, Outcome};
use slipway_core::{Cluster, ClusterName, Operation, OperationId, Refusal, Schedule, Timestamp};

use super::accounts::{CapacityRow, capacity_columns};
use super::rows::*;
use super::{ACTIVE_STATES, INFRASTRUCTURE, SqlStore, locking};
use crate::{
    AuditIntent, ClusterFilter, ClusterStore, Decide, Decided, DeploymentProposal,
    DeploymentRecord, DriftWatched, Fire, LastOperation, NewCluster, Result, StoreError,
};

/// The columns an [`DeploymentRecordRow`] reads.
macro_rules! deployment_record_columns {
    () => {
        "cluster, deployment, environment, version, common_digest, commit_id, prune, digest, spec_digest, requires, applied_by, applied_at"
    };
}

#[derive(sqlx::FromRow)]
struct DeploymentRecordRow {
    cluster: String,
    deployment: String,
    environment: String,
    version: String,
    common_digest: String,
    commit_id: Option<String>,
    prune: i64,
    digest: String,
    spec_digest: String,
    requires: Option<String>,
    applied_by: String,
    applied_at: i64,
}

impl TryFrom<DeploymentRecordRow> for DeploymentRecord {
    type Error = StoreError;

    fn try_from(r: DeploymentRecordRow) -> Result<Self> {
        Ok(DeploymentRecord {
            cluster: ClusterName::parse(&r.cluster)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            deployment: r.deployment,
            environment: r.environment,
            version: r.version,
            common_digest: r.common_digest,
            commit: r.commit_id,
            prune: r.prune != 0,
            digest: r.digest,
            spec_digest: r.spec_digest,
            requires: r.requires,
            applied_by: r.applied_by,
            applied_at: time(r.applied_at)?,
        })
    }
}

/// The columns a [`DeploymentProposalRow`] reads.
macro_rules! deployment_proposal_columns {
    () => {
        "cluster, deployment, environment, desired, changes, commit_id, base_spec_digest, plan_operation, proposed_by, proposed_at"
    };
}

#[derive(sqlx::FromRow)]
struct DeploymentProposalRow {
    cluster: String,
    deployment: String,
    environment: String,
    desired: String,
    changes: String,
    commit_id: Option<String>,
    base_spec_digest: String,
    plan_operation: Option<String>,
    proposed_by: String,
    proposed_at: i64,
}

impl TryFrom<DeploymentProposalRow> for DeploymentProposal {
    type Error = StoreError;

    fn try_from(r: DeploymentProposalRow) -> Result<Self> {
        Ok(DeploymentProposal {
            cluster: name("cluster", &r.cluster, ClusterName::parse)?,
            deployment: r.deployment,
            environment: r.environment,
            desired: json("proposal", &r.desired)?,
            changes: json("proposal's changes", &r.changes)?,
            commit: r.commit_id,
            base_spec_digest: r.base_spec_digest,
            plan_operation: r
                .plan_operation
                .map(|id| name("operation id", &id, OperationId::parse))
                .transpose()?,
            proposed_by: r.proposed_by,
            proposed_at: time(r.proposed_at)?,
        })
    }
}

/// The infrastructure operations in flight on clusters whose names are in
/// `[$1, $2]`.
static ACTIVE_IN_RANGE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {} FROM operations WHERE cluster >= $1 AND cluster <= $2 AND {} AND {}",
        operation_columns!(),
        *ACTIVE_STATES,
        *INFRASTRUCTURE
    )
});

#[async_trait]
impl ClusterStore for SqlStore {
    async fn create_cluster(&self, new: NewCluster) -> Result<Cluster> {
        let mut tx = self.begin().await?;
        let exists: Option<String> =
            sqlx::query_scalar("SELECT name FROM clusters WHERE name = $1")
                .bind(new.name.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        if exists.is_some() {
            return Err(Refusal::AlreadyExists(new.name.to_string()).into());
        }
        if let Some(limits) = &new.limits {
            // Counted under the organization's lock (its row on
            // PostgreSQL; SQLite's write transaction), so two members
            // cannot both take the last name.
            sqlx::query(locking!(
                self.dialect,
                "SELECT name FROM organizations WHERE name = $1"
            ))
            .bind(new.organization.as_str())
            .fetch_optional(&mut *tx)
            .await?;
            let defined: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM clusters WHERE organization = $1")
                    .bind(new.organization.as_str())
                    .fetch_one(&mut *tx)
                    .await?;
            limits.check_defined(u32::try_from(defined).unwrap_or(u32::MAX))?;
        }
        sqlx::query(
            "INSERT INTO clusters (name, organization, public, spec, deployed, state, outputs, error, last_operation, created_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, NULL, 'absent', '{}', NULL, NULL, $5, $6, $6)",
        )
        .bind(new.name.as_str())
        .bind(new.organization.as_str())
        .bind(i64::from(new.public))
        .bind(to_json(&new.spec))
        .bind(new.created_by.as_str())
        .bind(millis(new.now))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Cluster {
            name: new.name,
            organization: new.organization,
            public: new.public,
            protected: false,
            drift: Vec::new(),
            drift_checked_at: None,
            spec: new.spec,
            deployed: None,
            state: slipway_core::ClusterState::Absent,
            outputs: Default::default(),
            error: None,
            last_operation: None,
            created_by: new.created_by,
            created_at: new.now,
            updated_at: new.now,
        })
    }

    async fn cluster(&self, name: &ClusterName) -> Result<Option<ClusterSnapshot>> {
        let mut reader = self.reader().await?;
        let snapshot = self.load_snapshot(reader.conn(), name, false).await?;
        reader.done();
        Ok(snapshot)
    }

    async fn cluster_with_last_operation(
        &self,
        name: &ClusterName,
    ) -> Result<Option<(ClusterSnapshot, Option<LastOperation>)>> {
        let mut reader = self.reader().await?;
        let read = self.read_snapshot(reader.conn(), name).await?;
        reader.done();
        Ok(read)
    }

    async fn clusters(&self, filter: &ClusterFilter) -> Result<Vec<ClusterSnapshot>> {
        let mut conn = self.pool.acquire().await?;
        // Visibility: every cluster, or the public ones and those of the
        // caller's organizations (their names as a JSON array, so one
        // statement serves any number of them).
        let visible = filter
            .visible_to
            .as_ref()
            .map(|orgs| to_json(&orgs.iter().map(|o| o.as_str()).collect::<Vec<_>>()));
        let ascending = filter.before.is_none();
        let mut clusters: Vec<Cluster> = convert(
            sqlx::query_as::<_, ClusterRow>(filtered(self.dialect, ascending))
                .bind(filter.after.as_ref().map(|n| n.to_string()))
                .bind(visible)
                .bind(filter.organization.as_ref().map(|o| o.to_string()))
                .bind(i64::from(filter.limit.max(1)))
                .bind(filter.before.as_ref().map(|n| n.to_string()))
                .bind(filter.search.as_deref())
                .bind(filter.state.map(|s| s.as_str()))
                .bind(filter.public.map(i64::from))
                .bind(filter.created_by.as_deref())
                .fetch_all(&mut *conn)
                .await?,
        )?;
        if !ascending {
            clusters.reverse();
        }
        let (Some(first), Some(last)) = (clusters.first(), clusters.last()) else {
            return Ok(Vec::new());
        };
        // The page's operations in flight and schedules: two range reads,
        // not one per cluster.
        let mut active: Vec<Operation> = convert(
            sqlx::query_as::<_, OperationRow>(ACTIVE_IN_RANGE.as_str())
                .bind(first.name.as_str())
                .bind(last.name.as_str())
                .fetch_all(&mut *conn)
                .await?,
        )?;
        let mut schedules: Vec<Schedule> = convert(
            sqlx::query_as::<_, ScheduleRow>(concat!(
                "SELECT ",
                schedule_columns!(),
                " FROM schedules WHERE cluster >= $1 AND cluster <= $2"
            ))
            .bind(first.name.as_str())
            .bind(last.name.as_str())
            .fetch_all(&mut *conn)
            .await?,
        )?;
        let mut capacity: Vec<slipway_core::CapacityRequest> = convert(
            sqlx::query_as::<_, CapacityRow>(concat!(
                "SELECT ",
                capacity_columns!(),
                " FROM capacity_requests WHERE cluster >= $1 AND cluster <= $2 ORDER BY expires_at, id"
            ))
            .bind(first.name.as_str())
            .bind(last.name.as_str())
            .fetch_all(&mut *conn)
            .await?,
        )?;
        Ok(clusters
            .into_iter()
            .map(|cluster| {
                let take_active = active.iter().position(|op| op.cluster == cluster.name);
                let take_schedule = schedules.iter().position(|s| s.cluster == cluster.name);
                let (mine, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut capacity)
                    .into_iter()
                    .partition(|r| r.cluster == cluster.name);
                capacity = rest;
                ClusterSnapshot {
                    active: take_active.map(|i| active.swap_remove(i)),
                    schedule: take_schedule.map(|i| schedules.swap_remove(i)),
                    capacity: mine,
                    cluster,
                }
            })
            .collect())
    }

    async fn decide(
        &self,
        cluster: &ClusterName,
        now: Timestamp,
        audit: &AuditIntent,
        decide: &Decide<'_>,
    ) -> Result<Decided> {
        let mut tx = self.begin().await?;
        let snap = self
            .load_snapshot(&mut tx, cluster, true)
            .await?
            .ok_or_else(|| StoreError::ClusterNotFound(cluster.to_string()))?;
        let load = self.organization_load(&mut tx, &snap.cluster).await?;
        let plan = match decide(&snap, &load) {
            Ok(plan) => plan,
            Err(refusal) if audit.quiet => {
                tx.rollback().await?;
                return Err(refusal.into());
            }
            Err(refusal) => {
                tx.rollback().await?;
                crate::AuditStore::append_audit(
                    self,
                    audit.entry(
                        now,
                        cluster.as_str(),
                        format!("refused: {}", refusal.code()),
                        serde_json::json!({"message": refusal.to_string()}),
                    ),
                )
                .await?;
                return Err(refusal.into());
            }
        };
        let notes = self
            .write_decision(&mut tx, cluster, &plan, audit, now)
            .await?;
        self.audit_decision(&mut tx, cluster, &plan, audit, now)
            .await?;
        let snapshot = match plan.outcome {
            Outcome::Removed => snap,
            Outcome::Enqueued(_)
            | Outcome::Joined(_)
            | Outcome::AlreadyRunning
            | Outcome::NothingToDestroy
            | Outcome::Scheduled(_)
            | Outcome::Unscheduled
            | Outcome::Deferred(_)
            | Outcome::NotDue
            | Outcome::Visibility(_)
            | Outcome::Protection(_) => self
                .load_snapshot(&mut tx, cluster, false)
                .await?
                .ok_or_else(|| StoreError::ClusterNotFound(cluster.to_string()))?,
        };
        tx.commit().await?;
        self.notify(notes).await;
        Ok(Decided {
            decision: plan,
            snapshot,
        })
    }

    async fn fire_schedules(
        &self,
        clusters: &[ClusterName],
        now: Timestamp,
        audit: &AuditIntent,
        fire: &Fire<'_>,
    ) -> Result<Vec<(ClusterSnapshot, Decision)>> {
        let mut in_order: Vec<&ClusterName> = clusters.iter().collect();
        in_order.sort();
        in_order.dedup();
        let mut tx = self.begin().await?;
        let (mut fired, mut notes) = (Vec::new(), Vec::new());
        for cluster in in_order {
            let Some(snap) = self.load_snapshot(&mut tx, cluster, true).await? else {
                continue;
            };
            let plan = fire(&snap);
            notes.extend(
                self.write_decision(&mut tx, cluster, &plan, audit, now)
                    .await?,
            );
            self.audit_decision(&mut tx, cluster, &plan, audit, now)
                .await?;
            fired.push((snap, plan));
        }
        tx.commit().await?;
        self.notify(notes).await;
        Ok(fired)
    }

    async fn next_schedule_due(&self) -> Result<Option<Timestamp>> {
        let next: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(COALESCE(retry_at, destroy_at)) FROM schedules WHERE fired_operation IS NULL",
        )
        .fetch_one(&self.pool)
        .await?;
        next.map(time).transpose()
    }

    async fn due_schedules(&self, now: Timestamp) -> Result<Vec<ClusterName>> {
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT cluster FROM schedules WHERE fired_operation IS NULL AND COALESCE(retry_at, destroy_at) <= $1 \
             ORDER BY COALESCE(retry_at, destroy_at), cluster",
        )
        .bind(millis(now))
        .fetch_all(&self.pool)
        .await?;
        names
            .iter()
            .map(|n| ClusterName::parse(n).map_err(|e| StoreError::Corrupt(e.to_string())))
            .collect()
    }

    async fn drift_watched(&self) -> Result<Vec<DriftWatched>> {
        let rows: Vec<(String, Option<i64>, i64)> = sqlx::query_as(
            "SELECT name, drift_checked_at, created_at FROM clusters \
             WHERE protected = 1 AND state = $1 ORDER BY name",
        )
        .bind(slipway_core::ClusterState::Running.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(name, checked_at, created_at)| {
                Ok(DriftWatched {
                    cluster: ClusterName::parse(&name)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    checked_at: checked_at.map(time).transpose()?,
                    created_at: time(created_at)?,
                })
            })
            .collect()
    }

    async fn drifted_clusters(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM clusters WHERE drift IS NOT NULL")
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn runtime_dir(&self, cluster: &ClusterName, proposed: &str) -> Result<String> {
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE clusters SET runtime_dir = $2 WHERE name = $1 AND runtime_dir IS NULL")
            .bind(cluster.as_str())
            .bind(proposed)
            .execute(&mut *tx)
            .await?;
        let dir: Option<Option<String>> =
            sqlx::query_scalar("SELECT runtime_dir FROM clusters WHERE name = $1")
                .bind(cluster.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        tx.commit().await?;
        dir.flatten()
            .ok_or_else(|| StoreError::ClusterNotFound(cluster.to_string()))
    }

    async fn record_deployment(&self, applied: &DeploymentRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO deployment_applies (cluster, deployment, environment, version, common_digest, commit_id, applied_by, applied_at, prune, digest, spec_digest, requires) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (cluster) DO UPDATE SET deployment = excluded.deployment, environment = excluded.environment, \
             version = excluded.version, common_digest = excluded.common_digest, commit_id = excluded.commit_id, \
             applied_by = excluded.applied_by, applied_at = excluded.applied_at, prune = excluded.prune, \
             digest = excluded.digest, spec_digest = excluded.spec_digest, requires = excluded.requires",
        )
        .bind(applied.cluster.as_str())
        .bind(&applied.deployment)
        .bind(&applied.environment)
        .bind(&applied.version)
        .bind(&applied.common_digest)
        .bind(applied.commit.as_deref())
        .bind(&applied.applied_by)
        .bind(millis(applied.applied_at))
        .bind(i64::from(applied.prune))
        .bind(&applied.digest)
        .bind(&applied.spec_digest)
        .bind(applied.requires.as_deref())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn deployment_record(&self, cluster: &ClusterName) -> Result<Option<DeploymentRecord>> {
        let row: Option<DeploymentRecordRow> = sqlx::query_as(concat!(
            "SELECT ",
            deployment_record_columns!(),
            " FROM deployment_applies WHERE cluster = $1"
        ))
        .bind(cluster.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(DeploymentRecord::try_from).transpose()
    }

    async fn deployment_records(&self) -> Result<Vec<DeploymentRecord>> {
        let rows: Vec<DeploymentRecordRow> = sqlx::query_as(concat!(
            "SELECT ",
            deployment_record_columns!(),
            " FROM deployment_applies ORDER BY deployment, applied_at"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(DeploymentRecord::try_from).collect()
    }

    async fn propose_deployment(&self, p: &DeploymentProposal) -> Result<()> {
        sqlx::query(
            "INSERT INTO deployment_proposals (cluster, deployment, environment, desired, changes, commit_id, base_spec_digest, plan_operation, proposed_by, proposed_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (cluster) DO UPDATE SET deployment = excluded.deployment, environment = excluded.environment, \
             desired = excluded.desired, changes = excluded.changes, commit_id = excluded.commit_id, \
             base_spec_digest = excluded.base_spec_digest, plan_operation = excluded.plan_operation, \
             proposed_by = excluded.proposed_by, proposed_at = excluded.proposed_at",
        )
        .bind(p.cluster.as_str())
        .bind(&p.deployment)
        .bind(&p.environment)
        .bind(to_json(&p.desired))
        .bind(to_json(&p.changes))
        .bind(p.commit.as_deref())
        .bind(&p.base_spec_digest)
        .bind(p.plan_operation.as_ref().map(|id| id.to_string()))
        .bind(&p.proposed_by)
        .bind(millis(p.proposed_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn deployment_proposal(
        &self,
        cluster: &ClusterName,
    ) -> Result<Option<DeploymentProposal>> {
        let row: Option<DeploymentProposalRow> = sqlx::query_as(concat!(
            "SELECT ",
            deployment_proposal_columns!(),
            " FROM deployment_proposals WHERE cluster = $1"
        ))
        .bind(cluster.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(DeploymentProposal::try_from).transpose()
    }

    async fn deployment_proposals(&self) -> Result<Vec<DeploymentProposal>> {
        let rows: Vec<DeploymentProposalRow> = sqlx::query_as(concat!(
            "SELECT ",
            deployment_proposal_columns!(),
            " FROM deployment_proposals ORDER BY cluster"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(DeploymentProposal::try_from).collect()
    }

    async fn forget_deployment_proposal(&self, cluster: &ClusterName) -> Result<bool> {
        let done = sqlx::query("DELETE FROM deployment_proposals WHERE cluster = $1")
            .bind(cluster.as_str())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}

/// A page of clusters by name: `$1` the name to start after, `$2` the
/// organizations whose private clusters are visible (a JSON array; NULL:
/// all), `$3` one organization only, `$4` the page size.
/// The clusters a filter lets through, in name order (`ascending`) or from
/// the end (to take the page before a name). Parameters: $1 after, $2 the
/// organizations the caller sees (JSON; NULL: all), $3 organization,
/// $4 limit, $5 before, $6 a part of the name, $7 state, $8 public,
/// $9 created by.
fn filtered(dialect: super::Dialect, ascending: bool) -> &'static str {
    macro_rules! query {
        ($visible:literal, $text:literal, $int:literal, $contains:literal, $order:literal) => {
            concat!(
                "SELECT ",
                cluster_columns!(),
                " FROM clusters \
                 WHERE ($1",
                $text,
                " IS NULL OR name > $1) AND ($5",
                $text,
                " IS NULL OR name < $5) \
                 AND ($2",
                $text,
                " IS NULL OR public = 1 OR organization IN (",
                $visible,
                ")) \
                 AND ($3",
                $text,
                " IS NULL OR organization = $3) \
                 AND ($6",
                $text,
                " IS NULL OR ",
                $contains,
                " > 0) \
                 AND ($7",
                $text,
                " IS NULL OR state = $7) \
                 AND ($8",
                $int,
                " IS NULL OR public = $8) \
                 AND ($9",
                $text,
                " IS NULL OR created_by = $9) \
                 ORDER BY name ",
                $order,
                " LIMIT $4"
            )
        };
    }
    match (dialect, ascending) {
        (super::Dialect::Sqlite, true) => {
            query!(
                "SELECT value FROM json_each($2)",
                "",
                "",
                "instr(name, $6)",
                "ASC"
            )
        }
        (super::Dialect::Sqlite, false) => {
            query!(
                "SELECT value FROM json_each($2)",
                "",
                "",
                "instr(name, $6)",
                "DESC"
            )
        }
        (super::Dialect::Postgres, true) => query!(
            "SELECT jsonb_array_elements_text($2::jsonb)",
            "::text",
            "::bigint",
            "strpos(name, $6::text)",
            "ASC"
        ),
        (super::Dialect::Postgres, false) => query!(
            "SELECT jsonb_array_elements_text($2::jsonb)",
            "::text",
            "::bigint",
            "strpos(name, $6::text)",
            "DESC"
        ),
    }
}
