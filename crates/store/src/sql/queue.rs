//! Operations: queued, leased (the lease carries its job), renewed,
//! finished, cancelled, reclaimed.

use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use slipway_core::event::{EventLevel, NewEvent, kinds};
use slipway_core::fairness;
use slipway_core::lifecycle::{Ending, state_while_running};
use slipway_core::operation::sql_list;
use slipway_core::{ClusterName, Operation, OperationId, OperationKind, OperationState, Subject};
use sqlx::AnyConnection;

use super::rows::*;
use super::{ACTIVE_STATES, SqlStore, lease_delta, locking};
use crate::{
    AfterInterruption, AuditIntent, BlueprintVersion, CancelOutcome, Lease, LeaseStatus,
    NewAuditEntry, Notification, OperationFilter, OrganizationQueue, ProvisioningPause, QueueDepth,
    QueueStore, ReclaimScope, Result, Run, StoreError,
};

/// Operations newest first, optionally of one cluster, older than a cursor,
/// or only those not over yet.
static OPERATIONS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {} FROM operations WHERE ($1 IS NULL OR cluster = $1) AND ($2 IS NULL OR id < $2) \
         AND ($3 = 0 OR {}) ORDER BY id DESC LIMIT $4",
        operation_columns!(),
        *ACTIVE_STATES
    )
});

/// TEST and RELEASE runs with their results.
static RUNS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {}, result FROM operations WHERE kind IN ({}) AND ($1 IS NULL OR cluster = $1) \
         ORDER BY id DESC LIMIT $2",
        operation_columns!(),
        sql_list(&[OperationKind::Test, OperationKind::Release])
    )
});

/// Operations not over yet, by state.
static DEPTH: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT state, COUNT(*) FROM operations WHERE {} GROUP BY state",
        *ACTIVE_STATES
    )
});

#[async_trait]
impl QueueStore for SqlStore {
    async fn operation(&self, id: &OperationId) -> Result<Option<Operation>> {
        let mut reader = self.reader().await?;
        let found = match self.load_operation(reader.conn(), id, false).await {
            Ok(op) => Some(op),
            Err(StoreError::OperationNotFound(_)) => None,
            Err(e) => return Err(e),
        };
        reader.done();
        Ok(found)
    }

    async fn operations_by_id(&self, ids: &[OperationId]) -> Result<Vec<Operation>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = to_json(&ids.iter().map(OperationId::as_str).collect::<Vec<_>>());
        let rows = sqlx::query_as::<_, OperationRow>(super::by_dialect!(self.dialect,
            sqlite: concat!("SELECT ", operation_columns!(), " FROM operations WHERE id IN (SELECT value FROM json_each($1))"),
            postgres: concat!("SELECT ", operation_columns!(), " FROM operations WHERE id IN (SELECT jsonb_array_elements_text($1::jsonb))"),
        ))
        .bind(ids)
        .fetch_all(&self.pool)
        .await?;
        convert(rows)
    }

    async fn operations(&self, filter: &OperationFilter) -> Result<Vec<Operation>> {
        let rows = sqlx::query_as::<_, OperationRow>(OPERATIONS.as_str())
            .bind(filter.cluster.as_ref().map(|c| c.to_string()))
            .bind(filter.before.as_ref().map(|id| id.to_string()))
            .bind(i64::from(filter.active_only))
            .bind(i64::from(filter.limit.max(1)))
            .fetch_all(&self.pool)
            .await?;
        convert(rows)
    }

    async fn operation_result(&self, id: &OperationId) -> Result<Option<serde_json::Value>> {
        let result: Option<Option<String>> =
            sqlx::query_scalar("SELECT result FROM operations WHERE id = $1")
                .bind(id.as_str())
                .fetch_optional(&self.pool)
                .await?;
        result
            .flatten()
            .map(|r| json("operation result", &r))
            .transpose()
    }

    async fn runs(&self, cluster: Option<&ClusterName>, limit: u32) -> Result<Vec<Run>> {
        #[derive(sqlx::FromRow)]
        struct RunRow {
            #[sqlx(flatten)]
            operation: OperationRow,
            result: Option<String>,
        }
        let rows = sqlx::query_as::<_, RunRow>(RUNS.as_str())
            .bind(cluster.map(|c| c.to_string()))
            .bind(i64::from(limit.max(1)))
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|row| {
                Ok(Run {
                    operation: row.operation.try_into()?,
                    result: row
                        .result
                        .map(|r| json("operation result", &r))
                        .transpose()?,
                })
            })
            .collect()
    }

    async fn queue_depth(&self) -> Result<QueueDepth> {
        let rows: Vec<(String, i64)> = sqlx::query_as(DEPTH.as_str()).fetch_all(&self.pool).await?;
        let count = |state: OperationState| {
            rows.iter()
                .find(|(s, _)| s == state.as_str())
                .map_or(0, |(_, n)| u64::try_from(*n).unwrap_or(0))
        };
        Ok(QueueDepth {
            queued: count(OperationState::Queued),
            running: count(OperationState::Running),
        })
    }

    async fn queue_by_organization(&self) -> Result<Vec<OrganizationQueue>> {
        let rows: Vec<(String, i64, i64, Option<i64>)> = sqlx::query_as(
            "SELECT c.organization, COUNT(CASE WHEN o.state = 'queued' THEN 1 END), \
               COUNT(CASE WHEN o.state = 'running' THEN 1 END), \
               MIN(CASE WHEN o.state = 'queued' THEN o.created_at END) \
             FROM operations o JOIN clusters c ON c.name = o.cluster \
             WHERE o.state IN ('queued', 'running') GROUP BY c.organization ORDER BY c.organization",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(organization, queued, running, oldest)| {
                Ok(OrganizationQueue {
                    organization,
                    queued: u64::try_from(queued).unwrap_or(0),
                    running: u64::try_from(running).unwrap_or(0),
                    oldest_queued_at: oldest.map(time).transpose()?,
                })
            })
            .collect()
    }

    async fn provisioning_pause(&self) -> Result<Option<ProvisioningPause>> {
        let row: Option<(String, String, String, i64)> = sqlx::query_as(
            "SELECT paused_by, paused_by_name, reason, since FROM provisioning_pause",
        )
        .fetch_optional(&self.pool)
        .await?;
        row.map(|(by, by_name, reason, since)| {
            Ok(ProvisioningPause {
                by,
                by_name,
                reason,
                since: time(since)?,
            })
        })
        .transpose()
    }

    async fn set_provisioning_pause(
        &self,
        pause: Option<ProvisioningPause>,
        audit: &NewAuditEntry,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let changed = match &pause {
            Some(p) => {
                let paused: Option<i64> =
                    sqlx::query_scalar("SELECT since FROM provisioning_pause WHERE id = 1")
                        .fetch_optional(&mut *tx)
                        .await?;
                sqlx::query(
                    "INSERT INTO provisioning_pause (id, paused_by, paused_by_name, reason, since) VALUES (1, $1, $2, $3, $4) \
                     ON CONFLICT (id) DO UPDATE SET reason = excluded.reason",
                )
                .bind(&p.by)
                .bind(&p.by_name)
                .bind(&p.reason)
                .bind(millis(p.since))
                .execute(&mut *tx)
                .await?;
                paused.is_none()
            }
            None => {
                sqlx::query("DELETE FROM provisioning_pause")
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                    > 0
            }
        };
        if changed {
            self.insert_audit(&mut tx, audit).await?;
        }
        tx.commit().await?;
        if changed {
            self.notify([Notification::ProvisioningChanged]).await;
        }
        Ok(changed)
    }

    async fn lease_next(
        &self,
        worker: &str,
        tags: &[String],
        now: slipway_core::Timestamp,
        lease: Duration,
        credential_hash: &str,
    ) -> Result<Option<Lease>> {
        // Most looks find nothing (a poll, the look after each lease): a
        // plain read says so without taking the write lock (on SQLite, the
        // one every writer waits for).
        // While provisioning is paused, nothing is leased.
        let queued: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM operations WHERE state = 'queued' \
             AND NOT EXISTS (SELECT 1 FROM provisioning_pause) LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        if queued.is_none() {
            return Ok(None);
        }
        let mut tx = self.begin().await?;
        // The oldest few queued operations of each organization and asker,
        // then everyone's use of the workers: core's fair order says which
        // to try first (`slipway_core::fairness`).
        let queued: Vec<QueuedRow> = sqlx::query_as(QUEUED_BY_ASKER).fetch_all(&mut *tx).await?;
        let load = self.fairness_load(&mut tx, now).await?;
        let mut limits: HashMap<String, u32> = HashMap::new();
        for row in &queued {
            if !limits.contains_key(&row.organization) {
                let limit = self.running_limit(&mut tx, &row.organization).await?;
                limits.insert(row.organization.clone(), limit);
            }
        }
        let candidates: Vec<fairness::Candidate<'_>> = queued
            .iter()
            .map(|row| {
                Ok(fairness::Candidate {
                    organization: &row.organization,
                    requested_by: &row.requested_by,
                    reason: parse("operation reason", &row.reason)?,
                    queued_at: time(row.created_at)?,
                })
            })
            .collect::<Result<_>>()?;
        let order = fairness::lease_order(
            &candidates,
            &load,
            |org| limits.get(org).copied().unwrap_or(u32::MAX),
            now,
        );
        // The blueprint versions of the candidates, each read once.
        let mut blueprints: Vec<BlueprintVersion> = Vec::new();
        let mut chosen = None;
        for i in order {
            let row = &queued[i];
            let spec: slipway_core::ClusterSpec = json("operation spec", &row.spec)?;
            let known = blueprints
                .iter()
                .position(|b| b.blueprint == spec.blueprint.as_str() && b.version == spec.version);
            let index = match known {
                Some(i) => Some(i),
                None => match self.blueprint_in(&mut tx, &spec).await? {
                    Some(b) => {
                        blueprints.push(b);
                        Some(blueprints.len() - 1)
                    }
                    // Not registered: any worker may take it and fail it
                    // with a clear error.
                    None => None,
                },
            };
            let allowed = index.is_none_or(|i| {
                blueprints[i]
                    .metadata
                    .worker_tags
                    .iter()
                    .all(|t| tags.contains(t))
            });
            if allowed && self.still_leasable(&mut tx, row).await? {
                chosen = Some((row.id.clone(), index));
                break;
            }
        }
        let Some((id, index)) = chosen else {
            tx.rollback().await?;
            return Ok(None);
        };
        let id = OperationId::parse(&id).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let expires = now + lease_delta(lease);
        sqlx::query(
            "UPDATE operations SET state = 'running', started_at = $2, lease_owner = $3, lease_expires_at = $4 WHERE id = $1",
        )
        .bind(id.as_str())
        .bind(millis(now))
        .bind(worker)
        .bind(millis(expires))
        .execute(&mut *tx)
        .await?;
        let op = self.load_operation(&mut tx, &id, false).await?;
        let mut cluster = self
            .load_cluster(&mut tx, &op.cluster, true)
            .await?
            .ok_or_else(|| StoreError::ClusterNotFound(op.cluster.to_string()))?;
        let running = state_while_running(op.kind, cluster.state);
        if running != cluster.state {
            sqlx::query(
                "UPDATE clusters SET state = $2, error = NULL, updated_at = $3 WHERE name = $1",
            )
            .bind(op.cluster.as_str())
            .bind(running.as_str())
            .bind(millis(now))
            .execute(&mut *tx)
            .await?;
            cluster.state = running;
            cluster.error = None;
            cluster.updated_at = now;
        }
        let state_key = op.state_key();
        sqlx::query(
            "INSERT INTO run_credentials (operation_id, state_key, secret_hash, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (operation_id) DO UPDATE SET state_key = excluded.state_key, secret_hash = excluded.secret_hash",
        )
        .bind(op.id.as_str())
        .bind(state_key.as_str())
        .bind(credential_hash)
        .bind(millis(now))
        .execute(&mut *tx)
        .await?;
        let started = NewEvent {
            at: now,
            kind: kinds::STARTED.into(),
            level: EventLevel::Info,
            message: format!("{} of {} started on worker {worker}", op.kind, op.cluster),
            data: serde_json::json!({"worker": worker, "cluster_state": running}),
        };
        let last_seq = self.insert_events(&mut tx, &op.id, &[started]).await?;
        tx.commit().await?;
        self.notify([
            Notification::Started {
                operation: op.id.clone(),
                cluster: op.cluster.clone(),
            },
            Notification::Events {
                operation: op.id.clone(),
                last_seq,
            },
        ])
        .await;
        let blueprint = index.map(|i| blueprints.swap_remove(i));
        Ok(Some(Lease {
            operation: op,
            cluster,
            blueprint,
            state_key,
        }))
    }

    async fn renew_lease(
        &self,
        id: &OperationId,
        worker: &str,
        now: slipway_core::Timestamp,
        lease: Duration,
    ) -> Result<LeaseStatus> {
        let updated = sqlx::query(
            "UPDATE operations SET lease_expires_at = $3 WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
        )
        .bind(id.as_str())
        .bind(worker)
        .bind(millis(now + lease_delta(lease)))
        .execute(&self.pool)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::LeaseLost(id.clone()));
        }
        let cancel: Option<String> =
            sqlx::query_scalar("SELECT cancel_requested_by FROM operations WHERE id = $1")
                .bind(id.as_str())
                .fetch_one(&self.pool)
                .await?;
        Ok(match cancel {
            Some(by) => LeaseStatus::CancelRequested { by },
            None => LeaseStatus::Held,
        })
    }

    async fn finish(
        &self,
        id: &OperationId,
        worker: &str,
        ending: Ending,
        result: serde_json::Value,
        now: slipway_core::Timestamp,
    ) -> Result<Operation> {
        let mut tx = self.begin().await?;
        #[derive(sqlx::FromRow)]
        struct LeasedRow {
            #[sqlx(flatten)]
            operation: OperationRow,
            lease_owner: Option<String>,
        }
        let row = sqlx::query_as::<_, LeasedRow>(locking!(
            self.dialect,
            "SELECT ",
            operation_columns!(),
            ", lease_owner FROM operations WHERE id = $1"
        ))
        .bind(id.as_str())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StoreError::OperationNotFound(id.to_string()))?;
        let (op, owner) = (Operation::try_from(row.operation)?, row.lease_owner);
        if op.state != OperationState::Running || owner.as_deref() != Some(worker) {
            tx.rollback().await?;
            return Err(StoreError::LeaseLost(id.clone()));
        }
        let (ended, notes) = self
            .end_operation(&mut tx, &op, &ending, &result, true, now)
            .await?;
        tx.commit().await?;
        self.notify(notes).await;
        Ok(ended)
    }

    async fn request_cancel(
        &self,
        id: &OperationId,
        by: &Subject,
        by_name: &str,
        now: slipway_core::Timestamp,
    ) -> Result<CancelOutcome> {
        let mut tx = self.begin().await?;
        let op = self.load_operation(&mut tx, id, true).await?;
        match op.state {
            OperationState::Queued => {
                let ending = Ending::Stopped {
                    state: OperationState::Cancelled,
                    error: "cancelled before it started".into(),
                };
                let (ended, notes) = self
                    .end_operation(&mut tx, &op, &ending, &serde_json::Value::Null, false, now)
                    .await?;
                tx.commit().await?;
                self.notify(notes).await;
                Ok(CancelOutcome::Cancelled(ended))
            }
            OperationState::Running => {
                sqlx::query(
                    "UPDATE operations SET cancel_requested_by = COALESCE(cancel_requested_by, $2), \
                     cancel_requested_at = COALESCE(cancel_requested_at, $3) WHERE id = $1",
                )
                .bind(id.as_str())
                .bind(by.as_str())
                .bind(millis(now))
                .execute(&mut *tx)
                .await?;
                let event = NewEvent {
                    at: now,
                    kind: kinds::CANCEL_REQUESTED.into(),
                    level: EventLevel::Warn,
                    message: format!(
                        "{by_name} asked to cancel the operation; its worker stops it"
                    ),
                    data: serde_json::json!({"by": by}),
                };
                let last_seq = self.insert_events(&mut tx, id, &[event]).await?;
                tx.commit().await?;
                self.notify([
                    Notification::CancelRequested {
                        operation: id.clone(),
                    },
                    Notification::Events {
                        operation: id.clone(),
                        last_seq,
                    },
                ])
                .await;
                Ok(CancelOutcome::Requested(op))
            }
            OperationState::Succeeded
            | OperationState::Failed
            | OperationState::Cancelled
            | OperationState::Interrupted => {
                tx.rollback().await?;
                Ok(CancelOutcome::AlreadyOver(op))
            }
        }
    }

    async fn reclaim(
        &self,
        scope: ReclaimScope,
        now: slipway_core::Timestamp,
        after: &AfterInterruption<'_>,
    ) -> Result<Vec<Operation>> {
        let candidates: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM operations WHERE state = 'running' AND ($1 = 1 OR lease_expires_at < $2) ORDER BY created_at",
        )
        .bind(i64::from(scope == ReclaimScope::AllRunning))
        .bind(millis(now))
        .fetch_all(&self.pool)
        .await?;
        let mut reclaimed = Vec::new();
        for id in candidates {
            let id = OperationId::parse(&id).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let mut tx = self.begin().await?;
            let op = self.load_operation(&mut tx, &id, true).await?;
            let expires: Option<i64> = sqlx::query_scalar(locking!(
                self.dialect,
                "SELECT lease_expires_at FROM operations WHERE id = $1"
            ))
            .bind(id.as_str())
            .fetch_one(&mut *tx)
            .await?;
            let still_due = op.state == OperationState::Running
                && (scope == ReclaimScope::AllRunning || expires.is_some_and(|e| e < millis(now)));
            if !still_due {
                tx.rollback().await?;
                continue;
            }
            let why = match scope {
                ReclaimScope::AllRunning => {
                    "Slipway stopped while the operation ran; found running at start-up".to_owned()
                }
                ReclaimScope::ExpiredLeases => format!(
                    "the worker running the operation stopped renewing its lease (expired at {})",
                    expires.map_or_else(String::new, |e| time(e)
                        .map(|t| t.to_rfc3339())
                        .unwrap_or_default())
                ),
            };
            let ending = Ending::Stopped {
                state: OperationState::Interrupted,
                error: why.clone(),
            };
            let (ended, mut notes) = self
                .end_operation(&mut tx, &op, &ending, &serde_json::Value::Null, true, now)
                .await?;
            let snap = self
                .load_snapshot(&mut tx, &op.cluster, true)
                .await?
                .ok_or_else(|| StoreError::ClusterNotFound(op.cluster.to_string()))?;
            let runner = match op.job {
                Some(_) => self
                    .blueprint_metadata(&mut tx, &op.spec)
                    .await?
                    .and_then(|m| m.jobs)
                    .map(|j| j.runner),
                None => None,
            };
            let audit = AuditIntent::system(&Subject::recovery(), "operation.interrupt");
            self.insert_audit(
                &mut tx,
                &audit.entry(
                    now,
                    op.cluster.to_string(),
                    "interrupted",
                    serde_json::json!({"operation": op.id, "kind": op.kind, "why": why}),
                ),
            )
            .await?;
            // What follows (a refresh, a cleanup) is audited as every
            // decision is: the log names each operation.
            if let Some(plan) = after(&ended, &snap, runner) {
                notes.extend(
                    self.write_decision(&mut tx, &op.cluster, &plan, &audit, now)
                        .await?,
                );
                self.audit_decision(&mut tx, &op.cluster, &plan, &audit, now)
                    .await?;
            }
            tx.commit().await?;
            self.notify(notes).await;
            reclaimed.push(ended);
        }
        Ok(reclaimed)
    }
}

impl SqlStore {
    /// The blueprint version a spec names, read in the open transaction.
    async fn blueprint_in(
        &self,
        tx: &mut sqlx::AnyConnection,
        spec: &slipway_core::ClusterSpec,
    ) -> Result<Option<BlueprintVersion>> {
        sqlx::query_as::<_, BlueprintVersionRow>(concat!(
            "SELECT ",
            blueprint_version_columns!("files"),
            " FROM blueprint_versions WHERE blueprint = $1 AND version = $2"
        ))
        .bind(spec.blueprint.as_str())
        .bind(spec.version.as_str())
        .fetch_optional(&mut *tx)
        .await?
        .map(BlueprintVersion::try_from)
        .transpose()
    }
}

/// A queued operation a lease may take: the oldest eight of each
/// organization and asker (so one asker's burst never hides another's
/// request from the fair order), oldest first.
#[derive(sqlx::FromRow)]
struct QueuedRow {
    id: String,
    spec: String,
    organization: String,
    requested_by: String,
    reason: String,
    created_at: i64,
}

const QUEUED_BY_ASKER: &str = "SELECT id, spec, organization, requested_by, reason, created_at FROM ( \
     SELECT o.id, o.spec, c.organization, o.requested_by, o.reason, o.created_at, \
            ROW_NUMBER() OVER (PARTITION BY c.organization, o.requested_by ORDER BY o.created_at, o.id) AS place \
     FROM operations o JOIN clusters c ON c.name = o.cluster \
     WHERE o.state = 'queued' AND NOT EXISTS (SELECT 1 FROM provisioning_pause) \
   ) queued WHERE place <= 8 ORDER BY created_at, id LIMIT 512";

/// Operations running or started since `$1`, by organization and asker:
/// `(organization, asker, running, started)`.
const USE_OF_THE_WORKERS: &str = "SELECT c.organization, o.requested_by, \
       COUNT(CASE WHEN o.state = 'running' THEN 1 END), COUNT(*) \
     FROM operations o JOIN clusters c ON c.name = o.cluster \
     WHERE o.state = 'running' OR o.started_at >= $1 \
     GROUP BY c.organization, o.requested_by";

impl SqlStore {
    /// Everyone's use of the workers within `fairness::SHARE_WINDOW`.
    async fn fairness_load(
        &self,
        conn: &mut AnyConnection,
        now: slipway_core::Timestamp,
    ) -> Result<fairness::Load> {
        let since = now - chrono::TimeDelta::from_std(fairness::SHARE_WINDOW).expect("minutes");
        let rows: Vec<(String, String, i64, i64)> = sqlx::query_as(USE_OF_THE_WORKERS)
            .bind(millis(since))
            .fetch_all(&mut *conn)
            .await?;
        let mut load = fairness::Load::default();
        for (organization, asker, running, started) in rows {
            let count = |n: i64| u32::try_from(n).unwrap_or(u32::MAX);
            let share = load.organizations.entry(organization).or_default();
            share.running += count(running);
            share.served += count(started);
            *load.people.entry(asker).or_default() += count(started);
        }
        Ok(load)
    }

    /// The organization's `max_running_operations`.
    async fn running_limit(&self, conn: &mut AnyConnection, organization: &str) -> Result<u32> {
        let limits: Option<String> =
            sqlx::query_scalar("SELECT limits FROM organizations WHERE name = $1")
                .bind(organization)
                .fetch_optional(&mut *conn)
                .await?;
        Ok(limits
            .map(|l| json::<slipway_core::access::Limits>("limits", &l))
            .transpose()?
            .unwrap_or_default()
            .max_running_operations)
    }

    /// Whether the lease may take `row` now: on PostgreSQL, that no other
    /// worker took it meanwhile (its row locked, or skipped if another
    /// transaction holds it); and that its organization still runs fewer
    /// operations than its limit, counted under a lock of the organization's
    /// leases (SQLite's transactions are one at a time already).
    async fn still_leasable(&self, conn: &mut AnyConnection, row: &QueuedRow) -> Result<bool> {
        if self.dialect == super::Dialect::Postgres {
            let mine: Option<String> = sqlx::query_scalar(
                "SELECT id FROM operations WHERE id = $1 AND state = 'queued' FOR UPDATE SKIP LOCKED",
            )
            .bind(&row.id)
            .fetch_optional(&mut *conn)
            .await?;
            if mine.is_none() {
                return Ok(false);
            }
        }
        if self.dialect == super::Dialect::Postgres {
            // Leases of one organization's operations, one after the
            // other, so that racing workers do not pass its limit. An
            // advisory lock, not the organization's row: a decision locks
            // its cluster and then that row, and a lease locks the cluster
            // after this — row locks taken in both orders could deadlock.
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                .bind(format!("slipway:lease:{}", row.organization))
                .execute(&mut *conn)
                .await?;
        }
        let limit = self.running_limit(conn, &row.organization).await?;
        let running: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM operations o JOIN clusters c ON c.name = o.cluster \
             WHERE c.organization = $1 AND o.state = 'running'",
        )
        .bind(&row.organization)
        .fetch_one(&mut *conn)
        .await?;
        Ok(u32::try_from(running).unwrap_or(u32::MAX) < limit)
    }
}
