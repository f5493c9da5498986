//! [`SqlStore`]: the [`Store`] on SQLite or PostgreSQL through sqlx's `Any`
//! driver. The SQL is shared; where the two databases differ (row locks, how
//! a write transaction begins), [`Dialect`] picks the variant.
//!
//! SQLite allows one writer at a time: every write transaction begins with
//! `BEGIN IMMEDIATE`, so a transaction that reads before it writes never
//! fails to upgrade. PostgreSQL takes row locks (`FOR UPDATE`) on the cluster
//! being decided, and leases work with `FOR UPDATE SKIP LOCKED`.

mod rows;

use std::time::Duration;

use async_trait::async_trait;
use slipway_core::event::{Event, NewEvent, kinds};
use slipway_core::lifecycle::{Ending, settle, state_while_running};
use slipway_core::rules::{
    ClusterSnapshot, Context, OrganizationLoad, Outcome, Plan, ScheduleChange, decide_reconcile,
    decide_runner_cleanup,
};
use slipway_core::{
    Cluster, ClusterName, Level, Limits, Operation, OperationId, OperationKind, OperationState,
    OrgName, Reason, Refusal, Schedule, Timestamp,
};
use sqlx::any::AnyPoolOptions;
use sqlx::{Any, AnyConnection, AnyPool, Executor, Transaction};
use tokio::sync::broadcast;

use self::rows::*;
use crate::*;

/// Which database the store speaks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// Picks the statement for the store's dialect.
macro_rules! by_dialect {
    ($dialect:expr, sqlite: $sqlite:expr, postgres: $postgres:expr $(,)?) => {
        match $dialect {
            Dialect::Sqlite => $sqlite,
            Dialect::Postgres => $postgres,
        }
    };
}

/// A `SELECT` that locks the rows it reads on PostgreSQL (SQLite's write
/// transaction already excludes every other writer).
macro_rules! locking {
    ($dialect:expr, $($sql:expr),+ $(,)?) => {
        by_dialect!($dialect, sqlite: concat!($($sql),+), postgres: concat!($($sql),+, " FOR UPDATE"))
    };
}

/// PostgreSQL refuses NOTIFY payloads of 8000 bytes or more.
const NOTIFY_PAYLOAD_LIMIT: usize = 7900;

/// The [`Store`] on SQLite or PostgreSQL.
pub struct SqlStore {
    pool: AnyPool,
    dialect: Dialect,
    notifications: broadcast::Sender<Notification>,
    /// Names this store's notifications, so it ignores its own echoes.
    origin: String,
    /// The PostgreSQL channel notifications travel on: one per schema, as
    /// channels are shared by the whole database.
    channel: String,
    /// Relays other processes' notifications (PostgreSQL).
    listener: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for SqlStore {
    fn drop(&mut self) {
        if let Some(listener) = &self.listener {
            listener.abort();
        }
    }
}

#[derive(serde::Deserialize)]
struct Broadcast {
    origin: String,
    notes: Vec<Notification>,
}

/// Relays the notifications other processes send on the database to this
/// process's subscribers. When the connection drops, it reconnects and asks
/// every subscriber to look again (`Resync`): notes sent meanwhile are lost.
async fn relay(
    url: String,
    channel: String,
    origin: String,
    local: broadcast::Sender<Notification>,
) {
    let mut delay = std::time::Duration::from_millis(100);
    loop {
        let mut listener = match sqlx::postgres::PgListener::connect(&url).await {
            Ok(listener) => listener,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for other processes' notifications; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(std::time::Duration::from_secs(5));
                continue;
            }
        };
        if let Err(e) = listener.listen(&channel).await {
            tracing::warn!(error = %e, "cannot LISTEN; retrying");
            tokio::time::sleep(delay).await;
            continue;
        }
        delay = std::time::Duration::from_millis(100);
        let _ = local.send(Notification::Resync);
        // `Ok(None)` or an error: the connection was lost; the outer loop
        // reconnects.
        while let Ok(Some(message)) = listener.try_recv().await {
            if let Ok(broadcast) = serde_json::from_str::<Broadcast>(message.payload())
                && broadcast.origin != origin
            {
                for note in broadcast.notes {
                    let _ = local.send(note);
                }
            }
        }
    }
}

impl SqlStore {
    /// Connects to `url` (`sqlite://PATH` or `postgres://…`), creating a
    /// SQLite file if needed, and applies the migrations.
    pub async fn connect(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let dialect = if url.starts_with("sqlite:") {
            Dialect::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Dialect::Postgres
        } else {
            return Err(StoreError::Database(sqlx::Error::Configuration(
                format!("unsupported database URL {url:?}: use sqlite://PATH or postgres://…")
                    .into(),
            )));
        };
        let pool = match dialect {
            Dialect::Sqlite => {
                AnyPoolOptions::new()
                    .max_connections(8)
                    .after_connect(|conn: &mut AnyConnection, _| {
                        Box::pin(async move {
                            for pragma in [
                                "PRAGMA journal_mode = WAL",
                                "PRAGMA synchronous = NORMAL",
                                "PRAGMA busy_timeout = 15000",
                                "PRAGMA foreign_keys = ON",
                            ] {
                                conn.execute(pragma).await?;
                            }
                            Ok(())
                        })
                    })
                    .connect(url)
                    .await?
            }
            Dialect::Postgres => {
                // While the database is unreachable, requests fail within
                // seconds (503) rather than queue for a connection.
                AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(std::time::Duration::from_secs(5))
                    .connect(url)
                    .await?
            }
        };
        match dialect {
            Dialect::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&pool).await?,
            Dialect::Postgres => sqlx::migrate!("./migrations/postgres").run(&pool).await?,
        }
        let (notifications, _) = broadcast::channel(4096);
        let origin = uuid::Uuid::new_v4().simple().to_string();
        let channel = match dialect {
            Dialect::Postgres => {
                let schema: String = sqlx::query_scalar("SELECT current_schema()::text")
                    .fetch_one(&pool)
                    .await?;
                format!("slipway_{schema}")
            }
            Dialect::Sqlite => String::new(),
        };
        let listener = (dialect == Dialect::Postgres).then(|| {
            tokio::spawn(relay(
                url.to_owned(),
                channel.clone(),
                origin.clone(),
                notifications.clone(),
            ))
        });
        Ok(Self {
            pool,
            dialect,
            notifications,
            origin,
            channel,
            listener,
        })
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Begins a write transaction.
    async fn begin(&self) -> Result<Transaction<'static, Any>> {
        Ok(match self.dialect {
            Dialect::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Dialect::Postgres => self.pool.begin().await?,
        })
    }

    /// Tells this process's subscribers at once, and — on PostgreSQL —
    /// every other process sharing the database (NOTIFY, delivered on
    /// commit of this statement; a lost one is covered by their polling).
    async fn notify(&self, notifications: impl IntoIterator<Item = Notification>) {
        let notifications: Vec<Notification> = notifications.into_iter().collect();
        if self.dialect == Dialect::Postgres && !notifications.is_empty() {
            let mut payload =
                serde_json::json!({"origin": self.origin, "notes": notifications}).to_string();
            if payload.len() >= NOTIFY_PAYLOAD_LIMIT {
                // Too much for one NOTIFY: the others look again instead.
                payload =
                    serde_json::json!({"origin": self.origin, "notes": [Notification::Resync]})
                        .to_string();
            }
            if let Err(e) = sqlx::query("SELECT pg_notify($1, $2)")
                .bind(self.channel.as_str())
                .bind(payload)
                .execute(&self.pool)
                .await
            {
                tracing::warn!(error = %e, "cannot notify other processes; they will find out by polling");
            }
        }
        for n in notifications {
            // No receiver is fine: nobody is waiting.
            let _ = self.notifications.send(n);
        }
    }

    async fn load_snapshot(
        &self,
        conn: &mut AnyConnection,
        name: &ClusterName,
        lock: bool,
    ) -> Result<Option<ClusterSnapshot>> {
        let sql = if lock {
            locking!(
                self.dialect,
                "SELECT ",
                cluster_columns!(),
                " FROM clusters WHERE name = $1"
            )
        } else {
            concat!(
                "SELECT ",
                cluster_columns!(),
                " FROM clusters WHERE name = $1"
            )
        };
        let Some(row) = sqlx::query_as::<_, ClusterRow>(sql)
            .bind(name.as_str())
            .fetch_optional(&mut *conn)
            .await?
        else {
            return Ok(None);
        };
        let active = sqlx::query_as::<_, OperationRow>(concat!(
            "SELECT ",
            operation_columns!(),
            " FROM operations WHERE cluster = $1 AND state IN ('queued', 'running') AND kind IN ('deploy', 'update', 'destroy', 'refresh')"
        ))
        .bind(name.as_str())
        .fetch_optional(&mut *conn)
        .await?
        .map(Operation::try_from)
        .transpose()?;
        let schedule = sqlx::query_as::<_, ScheduleRow>(concat!(
            "SELECT ",
            schedule_columns!(),
            " FROM schedules WHERE cluster = $1"
        ))
        .bind(name.as_str())
        .fetch_optional(&mut *conn)
        .await?
        .map(Schedule::try_from)
        .transpose()?;
        let cluster = Cluster::try_from(row)?;
        let organization = self.organization_load(conn, &cluster, lock).await?;
        Ok(Some(ClusterSnapshot {
            cluster,
            active,
            schedule,
            organization,
        }))
    }

    /// The owning organization's limits (its row locked on PostgreSQL, so
    /// two deploys in one organization are decided one after the other) and
    /// how many of its other clusters are deployed or being deployed.
    async fn organization_load(
        &self,
        conn: &mut AnyConnection,
        cluster: &Cluster,
        lock: bool,
    ) -> Result<OrganizationLoad> {
        let sql = if lock {
            locking!(
                self.dialect,
                "SELECT limits FROM organizations WHERE name = $1"
            )
        } else {
            "SELECT limits FROM organizations WHERE name = $1"
        };
        let limits: Option<String> = sqlx::query_scalar(sql)
            .bind(cluster.organization.as_str())
            .fetch_optional(&mut *conn)
            .await?;
        let deployed_elsewhere: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM clusters WHERE organization = $1 AND name <> $2 AND (state <> 'absent' \
             OR name IN (SELECT cluster FROM operations WHERE state IN ('queued', 'running') AND kind IN ('deploy', 'update')))",
        )
        .bind(cluster.organization.as_str())
        .bind(cluster.name.as_str())
        .fetch_one(&mut *conn)
        .await?;
        Ok(OrganizationLoad {
            limits: limits
                .map(|l| json("limits", &l))
                .transpose()?
                .unwrap_or_default(),
            deployed_elsewhere: u32::try_from(deployed_elsewhere).unwrap_or(u32::MAX),
        })
    }

    async fn load_operation(
        &self,
        conn: &mut AnyConnection,
        id: &OperationId,
        lock: bool,
    ) -> Result<Operation> {
        let sql = if lock {
            locking!(
                self.dialect,
                "SELECT ",
                operation_columns!(),
                " FROM operations WHERE id = $1"
            )
        } else {
            concat!(
                "SELECT ",
                operation_columns!(),
                " FROM operations WHERE id = $1"
            )
        };
        sqlx::query_as::<_, OperationRow>(sql)
            .bind(id.as_str())
            .fetch_optional(&mut *conn)
            .await?
            .ok_or_else(|| StoreError::OperationNotFound(id.to_string()))?
            .try_into()
    }

    /// The metadata of the blueprint version a spec names, if registered.
    async fn blueprint_metadata(
        &self,
        tx: &mut AnyConnection,
        spec: &slipway_core::ClusterSpec,
    ) -> Result<Option<slipway_core::blueprint::BlueprintMetadata>> {
        let metadata: Option<String> = sqlx::query_scalar(
            "SELECT metadata FROM blueprint_versions WHERE blueprint = $1 AND version = $2",
        )
        .bind(spec.blueprint.as_str())
        .bind(spec.version.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        metadata.map(|m| json("blueprint metadata", &m)).transpose()
    }

    /// Writes a plan decided on a snapshot read in the same transaction.
    /// Returns the notifications to send once it commits.
    async fn write_plan(
        &self,
        tx: &mut AnyConnection,
        cluster: &ClusterName,
        plan: &Plan,
        actor: &str,
        now: Timestamp,
    ) -> Result<Vec<Notification>> {
        let mut notes = Vec::new();
        if let Some(op) = plan.new_operation() {
            sqlx::query(
                "INSERT INTO operations (id, cluster, kind, reason, requested_by, state, spec, job, created_at) \
                 VALUES ($1, $2, $3, $4, $5, 'queued', $6, $7, $8)",
            )
            .bind(op.id.as_str())
            .bind(cluster.as_str())
            .bind(op.kind.as_str())
            .bind(op.reason.as_str())
            .bind(op.requested_by.as_str())
            .bind(to_json(&op.spec))
            .bind(op.job.as_ref().map(to_json))
            .bind(millis(now))
            .execute(&mut *tx)
            .await?;
            // A cluster's last operation is its last infrastructure one:
            // test runs beside it do not change what its status says.
            if op.kind.is_infrastructure() {
                sqlx::query(
                    "UPDATE clusters SET last_operation = $2, spec = COALESCE($3, spec), updated_at = $4 WHERE name = $1",
                )
                .bind(cluster.as_str())
                .bind(op.id.as_str())
                .bind(plan.new_spec().map(to_json))
                .bind(millis(now))
                .execute(&mut *tx)
                .await?;
            }
            let queued = NewEvent {
                at: now,
                kind: kinds::QUEUED.into(),
                level: slipway_core::event::EventLevel::Info,
                message: format!(
                    "{} of {} queued by {} (reason: {})",
                    op.kind, cluster, op.requested_by, op.reason
                ),
                data: serde_json::json!({
                    "kind": op.kind, "reason": op.reason, "requested_by": op.requested_by,
                    "nodes": op.spec.nodes, "version": op.spec.version,
                }),
            };
            let last_seq = self.insert_events(tx, &op.id, &[queued]).await?;
            notes.push(Notification::Queued {
                operation: op.id.clone(),
                cluster: cluster.clone(),
            });
            notes.push(Notification::Events {
                operation: op.id.clone(),
                last_seq,
            });
        }
        let schedule_changed = match &plan.schedule {
            ScheduleChange::Keep => false,
            ScheduleChange::Set(at) => {
                sqlx::query(
                    "INSERT INTO schedules (cluster, destroy_at, requested_by, created_at, fired_operation, failed_attempts, retry_at) \
                     VALUES ($1, $2, $3, $4, NULL, 0, NULL) \
                     ON CONFLICT (cluster) DO UPDATE SET destroy_at = excluded.destroy_at, requested_by = excluded.requested_by, \
                     created_at = excluded.created_at, fired_operation = NULL, failed_attempts = 0, retry_at = NULL",
                )
                .bind(cluster.as_str())
                .bind(millis(*at))
                .bind(actor)
                .bind(millis(now))
                .execute(&mut *tx)
                .await?;
                true
            }
            ScheduleChange::Remove => {
                sqlx::query("DELETE FROM schedules WHERE cluster = $1")
                    .bind(cluster.as_str())
                    .execute(&mut *tx)
                    .await?;
                true
            }
            ScheduleChange::MarkFired(id) => {
                sqlx::query("UPDATE schedules SET fired_operation = $2 WHERE cluster = $1")
                    .bind(cluster.as_str())
                    .bind(id.as_str())
                    .execute(&mut *tx)
                    .await?;
                true
            }
        };
        if schedule_changed {
            notes.push(Notification::ScheduleChanged {
                cluster: cluster.clone(),
            });
        }
        Ok(notes)
    }

    async fn insert_events(
        &self,
        tx: &mut AnyConnection,
        id: &OperationId,
        events: &[NewEvent],
    ) -> Result<u64> {
        let last: i64 = sqlx::query_scalar(
            "SELECT COALESCE(MAX(seq), 0) FROM operation_events WHERE operation_id = $1",
        )
        .bind(id.as_str())
        .fetch_one(&mut *tx)
        .await?;
        let mut seq = last;
        for event in events {
            seq += 1;
            sqlx::query(
                "INSERT INTO operation_events (operation_id, seq, at, kind, level, message, data) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(id.as_str())
            .bind(seq)
            .bind(millis(event.at))
            .bind(event.kind.as_str())
            .bind(event.level.as_str())
            .bind(event.message.as_str())
            .bind(to_json(&event.data))
            .execute(&mut *tx)
            .await?;
        }
        Ok(u64::try_from(seq).unwrap_or_default())
    }

    async fn insert_audit(&self, conn: &mut AnyConnection, entry: &NewAuditEntry) -> Result<()> {
        sqlx::query(
            "INSERT INTO audit_log (at, actor, level, action, target, result, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(millis(entry.at))
        .bind(entry.actor.as_str())
        .bind(entry.level.as_str())
        .bind(entry.action.as_str())
        .bind(entry.target.as_str())
        .bind(entry.result.as_str())
        .bind(to_json(&entry.detail))
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// Ends `op` in the open transaction: the operation's row, its cluster
    /// (unless `settle_cluster` is false: a queued operation never touched
    /// it), the cluster's schedule, and a final event.
    async fn end_operation(
        &self,
        tx: &mut AnyConnection,
        op: &Operation,
        ending: &Ending,
        result: &serde_json::Value,
        settle_cluster: bool,
        now: Timestamp,
    ) -> Result<(Operation, Vec<Notification>)> {
        let state = ending.operation_state();
        let error = match ending {
            Ending::Stopped { error, .. } => Some(error.clone()),
            _ => None,
        };
        sqlx::query(
            "UPDATE operations SET state = $2, error = $3, result = $4, finished_at = $5, \
             lease_owner = NULL, lease_expires_at = NULL WHERE id = $1",
        )
        .bind(op.id.as_str())
        .bind(state.as_str())
        .bind(error.as_deref())
        .bind(to_json(result))
        .bind(millis(now))
        .execute(&mut *tx)
        .await?;

        // Whatever the operation's Terraform held dies with it: its state
        // locks (a killed Terraform never unlocks) and its credential.
        sqlx::query("DELETE FROM state_locks WHERE operation_id = $1")
            .bind(op.id.as_str())
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM run_credentials WHERE operation_id = $1")
            .bind(op.id.as_str())
            .execute(&mut *tx)
            .await?;

        let mut notes = Vec::new();
        let snap = self
            .load_snapshot(tx, &op.cluster, true)
            .await?
            .ok_or_else(|| StoreError::ClusterNotFound(op.cluster.to_string()))?;
        let settlement = settle_cluster
            .then(|| settle(op.kind, snap.cluster.state, &op.spec, ending))
            .flatten();
        let mut schedules_removed = false;
        if let Some(s) = &settlement {
            let mut cluster = snap.cluster.clone();
            cluster.state = s.state;
            if let Some(deployed) = &s.deployed {
                cluster.deployed = deployed.clone();
            }
            if let Some(outputs) = &s.outputs {
                cluster.outputs = outputs.clone();
            }
            cluster.error = s.error.clone();
            sqlx::query(
                "UPDATE clusters SET state = $2, deployed = $3, outputs = $4, error = $5, updated_at = $6 WHERE name = $1",
            )
            .bind(cluster.name.as_str())
            .bind(cluster.state.as_str())
            .bind(cluster.deployed.as_ref().map(to_json))
            .bind(to_json(&cluster.outputs))
            .bind(cluster.error.as_deref())
            .bind(millis(now))
            .execute(&mut *tx)
            .await?;
            if s.remove_schedules && snap.schedule.is_some() {
                sqlx::query("DELETE FROM schedules WHERE cluster = $1")
                    .bind(op.cluster.as_str())
                    .execute(&mut *tx)
                    .await?;
                schedules_removed = true;
            }
        }
        if let Some(schedule) = &snap.schedule
            && !schedules_removed
            && schedule.fired_operation.as_ref() == Some(&op.id)
        {
            // The destroy the schedule fired did not finish the cluster: the
            // schedule stays and fires again after a back-off.
            let next = schedule.after_failed_attempt(now);
            sqlx::query(
                "UPDATE schedules SET fired_operation = NULL, failed_attempts = $2, retry_at = $3 WHERE cluster = $1",
            )
            .bind(op.cluster.as_str())
            .bind(i64::from(next.failed_attempts))
            .bind(next.retry_at.map(millis))
            .execute(&mut *tx)
            .await?;
            notes.push(Notification::ScheduleChanged {
                cluster: op.cluster.clone(),
            });
        }
        if schedules_removed {
            notes.push(Notification::ScheduleChanged {
                cluster: op.cluster.clone(),
            });
        }

        let level = ending.event_level();
        let message = match &error {
            Some(e) => format!("{} {}: {e}", op.kind, state),
            None => format!("{} {}", op.kind, state),
        };
        let finished = NewEvent {
            at: now,
            kind: kinds::FINISHED.into(),
            level,
            message,
            data: serde_json::json!({
                "state": state,
                "error": error,
                "cluster_state": settlement.as_ref().map(|s| s.state),
            }),
        };
        let last_seq = self.insert_events(tx, &op.id, &[finished]).await?;
        notes.push(Notification::Events {
            operation: op.id.clone(),
            last_seq,
        });
        notes.push(Notification::Finished {
            operation: op.id.clone(),
            cluster: op.cluster.clone(),
        });
        let ended = self.load_operation(tx, &op.id, false).await?;
        Ok((ended, notes))
    }
}

/// A short, stable description of an outcome for the audit log.
fn outcome_summary(outcome: &Outcome) -> (&'static str, serde_json::Value) {
    match outcome {
        Outcome::Enqueued(op) => (
            "queued",
            serde_json::json!({"operation": op.id, "kind": op.kind}),
        ),
        Outcome::Joined(id) => ("joined", serde_json::json!({"operation": id})),
        Outcome::AlreadyRunning => ("already_running", serde_json::json!({})),
        Outcome::NothingToDestroy => ("nothing_to_destroy", serde_json::json!({})),
        Outcome::Scheduled(at) => ("scheduled", serde_json::json!({"destroy_at": at})),
        Outcome::Unscheduled => ("unscheduled", serde_json::json!({})),
        Outcome::Deferred(id) => ("deferred", serde_json::json!({"waiting_for": id})),
        Outcome::NotDue => ("not_due", serde_json::json!({})),
    }
}

#[async_trait]
impl Store for SqlStore {
    fn subscribe(&self) -> broadcast::Receiver<Notification> {
        self.notifications.subscribe()
    }

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
        let snap = self
            .load_snapshot(&mut tx, &new.name, false)
            .await?
            .ok_or_else(|| StoreError::ClusterNotFound(new.name.to_string()))?;
        tx.commit().await?;
        Ok(snap.cluster)
    }

    async fn cluster(&self, name: &ClusterName) -> Result<Option<ClusterSnapshot>> {
        let mut conn = self.pool.acquire().await?;
        self.load_snapshot(&mut conn, name, false).await
    }

    async fn clusters(&self) -> Result<Vec<ClusterSnapshot>> {
        let mut conn = self.pool.acquire().await?;
        let clusters: Vec<Cluster> = convert(
            sqlx::query_as::<_, ClusterRow>(concat!(
                "SELECT ",
                cluster_columns!(),
                " FROM clusters ORDER BY name"
            ))
            .fetch_all(&mut *conn)
            .await?,
        )?;
        let mut active: Vec<Operation> = convert(
            sqlx::query_as::<_, OperationRow>(concat!(
                "SELECT ",
                operation_columns!(),
                " FROM operations WHERE state IN ('queued', 'running') AND kind IN ('deploy', 'update', 'destroy', 'refresh')"
            ))
            .fetch_all(&mut *conn)
            .await?,
        )?;
        let mut schedules: Vec<Schedule> = convert(
            sqlx::query_as::<_, ScheduleRow>(concat!(
                "SELECT ",
                schedule_columns!(),
                " FROM schedules"
            ))
            .fetch_all(&mut *conn)
            .await?,
        )?;
        let limits: std::collections::HashMap<OrgName, Limits> = self
            .organizations()
            .await?
            .into_iter()
            .map(|o| (o.name, o.limits))
            .collect();
        let deploying = |c: &Cluster, active: &[Operation]| {
            c.state != slipway_core::ClusterState::Absent
                || active.iter().any(|op| {
                    op.cluster == c.name
                        && matches!(op.kind, OperationKind::Deploy | OperationKind::Update)
                })
        };
        let mut deployed: std::collections::HashMap<OrgName, u32> = Default::default();
        for c in clusters.iter().filter(|c| deploying(c, &active)) {
            *deployed.entry(c.organization.clone()).or_default() += 1;
        }
        let loads: Vec<OrganizationLoad> = clusters
            .iter()
            .map(|c| OrganizationLoad {
                limits: limits.get(&c.organization).copied().unwrap_or_default(),
                deployed_elsewhere: deployed.get(&c.organization).copied().unwrap_or(0)
                    - u32::from(deploying(c, &active)),
            })
            .collect();
        Ok(clusters
            .into_iter()
            .zip(loads)
            .map(|(cluster, organization)| {
                let take_active = active.iter().position(|op| op.cluster == cluster.name);
                let take_schedule = schedules.iter().position(|s| s.cluster == cluster.name);
                ClusterSnapshot {
                    active: take_active.map(|i| active.swap_remove(i)),
                    schedule: take_schedule.map(|i| schedules.swap_remove(i)),
                    cluster,
                    organization,
                }
            })
            .collect())
    }

    async fn apply(
        &self,
        cluster: &ClusterName,
        now: Timestamp,
        audit: &AuditIntent,
        decide: &Decide<'_>,
    ) -> Result<Plan> {
        let mut tx = self.begin().await?;
        let snap = self
            .load_snapshot(&mut tx, cluster, true)
            .await?
            .ok_or_else(|| StoreError::ClusterNotFound(cluster.to_string()))?;
        let plan = match decide(&snap) {
            Ok(plan) => plan,
            Err(refusal) => {
                tx.rollback().await?;
                self.append_audit(NewAuditEntry {
                    at: now,
                    actor: audit.actor.clone(),
                    level: audit.level.clone(),
                    action: audit.action.clone(),
                    target: cluster.to_string(),
                    result: format!("refused: {}", refusal.code()),
                    detail: serde_json::json!({"message": refusal.to_string()}),
                })
                .await?;
                return Err(refusal.into());
            }
        };
        let notes = self
            .write_plan(&mut tx, cluster, &plan, &audit.actor, now)
            .await?;
        let (result, detail) = outcome_summary(&plan.outcome);
        self.insert_audit(
            &mut tx,
            &NewAuditEntry {
                at: now,
                actor: audit.actor.clone(),
                level: audit.level.clone(),
                action: audit.action.clone(),
                target: cluster.to_string(),
                result: result.into(),
                detail,
            },
        )
        .await?;
        tx.commit().await?;
        self.notify(notes).await;
        Ok(plan)
    }

    async fn operation(&self, id: &OperationId) -> Result<Option<Operation>> {
        let mut conn = self.pool.acquire().await?;
        match self.load_operation(&mut conn, id, false).await {
            Ok(op) => Ok(Some(op)),
            Err(StoreError::OperationNotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn operations(&self, filter: &OperationFilter) -> Result<Vec<Operation>> {
        let rows = sqlx::query_as::<_, OperationRow>(concat!(
            "SELECT ",
            operation_columns!(),
            " FROM operations WHERE ($1 IS NULL OR cluster = $1) AND ($2 = 0 OR state IN ('queued', 'running')) \
             ORDER BY created_at DESC, id DESC LIMIT $3"
        ))
        .bind(filter.cluster.as_ref().map(|c| c.to_string()))
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
        let rows = sqlx::query_as::<_, RunRow>(concat!(
            "SELECT ",
            operation_columns!(),
            ", result FROM operations WHERE kind IN ('test', 'release') AND ($1 IS NULL OR cluster = $1) \
             ORDER BY created_at DESC, id DESC LIMIT $2"
        ))
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

    async fn lease_next(
        &self,
        worker: &str,
        tags: &[String],
        now: Timestamp,
        lease: Duration,
    ) -> Result<Option<Operation>> {
        let mut tx = self.begin().await?;
        let candidates: Vec<(String, String)> = sqlx::query_as(by_dialect!(self.dialect,
            sqlite: "SELECT id, spec FROM operations WHERE state = 'queued' ORDER BY created_at, id LIMIT 64",
            postgres: "SELECT id, spec FROM operations WHERE state = 'queued' ORDER BY created_at, id LIMIT 64 FOR UPDATE SKIP LOCKED",
        ))
        .fetch_all(&mut *tx)
        .await?;
        let mut required: std::collections::HashMap<(String, String), Vec<String>> =
            Default::default();
        let mut chosen = None;
        for (id, spec) in candidates {
            let spec: slipway_core::ClusterSpec = json("operation spec", &spec)?;
            let key = (spec.blueprint.to_string(), spec.version.clone());
            if !required.contains_key(&key) {
                let needs = self
                    .blueprint_metadata(&mut tx, &spec)
                    .await?
                    .map(|m| m.worker_tags)
                    .unwrap_or_default();
                required.insert(key.clone(), needs);
            }
            if required[&key].iter().all(|t| tags.contains(t)) {
                chosen = Some(id);
                break;
            }
        }
        let Some(id) = chosen else {
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
        let current: String = sqlx::query_scalar(locking!(
            self.dialect,
            "SELECT state FROM clusters WHERE name = $1"
        ))
        .bind(op.cluster.as_str())
        .fetch_one(&mut *tx)
        .await?;
        let current = current
            .parse()
            .map_err(|e: String| StoreError::Corrupt(e))?;
        let running = state_while_running(op.kind, current);
        if running != current {
            sqlx::query(
                "UPDATE clusters SET state = $2, error = NULL, updated_at = $3 WHERE name = $1",
            )
            .bind(op.cluster.as_str())
            .bind(running.as_str())
            .bind(millis(now))
            .execute(&mut *tx)
            .await?;
        }
        let started = NewEvent {
            at: now,
            kind: kinds::STARTED.into(),
            level: slipway_core::event::EventLevel::Info,
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
        Ok(Some(op))
    }

    async fn renew_lease(
        &self,
        id: &OperationId,
        worker: &str,
        now: Timestamp,
        lease: Duration,
    ) -> Result<()> {
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
        Ok(())
    }

    async fn finish(
        &self,
        id: &OperationId,
        worker: &str,
        ending: Ending,
        result: serde_json::Value,
        now: Timestamp,
    ) -> Result<Operation> {
        let mut tx = self.begin().await?;
        let op = self.load_operation(&mut tx, id, true).await?;
        let owner: Option<String> =
            sqlx::query_scalar("SELECT lease_owner FROM operations WHERE id = $1")
                .bind(id.as_str())
                .fetch_one(&mut *tx)
                .await?;
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

    async fn cancel_queued(&self, id: &OperationId, now: Timestamp) -> Result<Operation> {
        let mut tx = self.begin().await?;
        let op = self.load_operation(&mut tx, id, true).await?;
        if op.state != OperationState::Queued {
            tx.rollback().await?;
            return Ok(op);
        }
        let ending = Ending::Stopped {
            state: OperationState::Cancelled,
            error: "cancelled before it started".into(),
        };
        let (ended, notes) = self
            .end_operation(&mut tx, &op, &ending, &serde_json::Value::Null, false, now)
            .await?;
        tx.commit().await?;
        self.notify(notes).await;
        Ok(ended)
    }

    async fn reclaim(&self, scope: ReclaimScope, now: Timestamp) -> Result<Vec<Operation>> {
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
            let expires: Option<i64> =
                sqlx::query_scalar("SELECT lease_expires_at FROM operations WHERE id = $1")
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
            if op.kind.is_infrastructure() {
                let snap = self
                    .load_snapshot(&mut tx, &op.cluster, true)
                    .await?
                    .ok_or_else(|| StoreError::ClusterNotFound(op.cluster.to_string()))?;
                let ctx = Context {
                    now,
                    actor: "recovery".into(),
                    level: Level::Admin,
                    reason: Reason::Recovery,
                    new_operation_id: OperationId::from_uuid(uuid::Uuid::now_v7()),
                };
                let plan = decide_reconcile(&snap, &ctx);
                notes.extend(
                    self.write_plan(&mut tx, &op.cluster, &plan, "recovery", now)
                        .await?,
                );
            } else if op.job.is_some() {
                let runner = self
                    .blueprint_metadata(&mut tx, &op.spec)
                    .await?
                    .and_then(|m| m.jobs)
                    .map(|j| j.runner)
                    .unwrap_or_default();
                let ctx = Context {
                    now,
                    actor: "recovery".into(),
                    level: Level::Admin,
                    reason: Reason::Recovery,
                    new_operation_id: OperationId::from_uuid(uuid::Uuid::now_v7()),
                };
                if let Some(plan) = decide_runner_cleanup(&op, runner, &ctx) {
                    notes.extend(
                        self.write_plan(&mut tx, &op.cluster, &plan, "recovery", now)
                            .await?,
                    );
                }
            }
            self.insert_audit(
                &mut tx,
                &NewAuditEntry {
                    at: now,
                    actor: "recovery".into(),
                    level: "system".into(),
                    action: "operation.interrupt".into(),
                    target: op.cluster.to_string(),
                    result: "interrupted".into(),
                    detail: serde_json::json!({"operation": op.id, "kind": op.kind, "why": why}),
                },
            )
            .await?;
            tx.commit().await?;
            self.notify(notes).await;
            reclaimed.push(ended);
        }
        Ok(reclaimed)
    }

    async fn append_events(&self, id: &OperationId, events: &[NewEvent]) -> Result<u64> {
        if events.is_empty() {
            let last: i64 = sqlx::query_scalar(
                "SELECT COALESCE(MAX(seq), 0) FROM operation_events WHERE operation_id = $1",
            )
            .bind(id.as_str())
            .fetch_one(&self.pool)
            .await?;
            return Ok(u64::try_from(last).unwrap_or_default());
        }
        let mut tx = self.begin().await?;
        // Serializes appenders of one operation on PostgreSQL.
        let _ = self.load_operation(&mut tx, id, true).await?;
        let last_seq = self.insert_events(&mut tx, id, events).await?;
        tx.commit().await?;
        self.notify([Notification::Events {
            operation: id.clone(),
            last_seq,
        }])
        .await;
        Ok(last_seq)
    }

    async fn events(&self, id: &OperationId, after_seq: u64, limit: u32) -> Result<Vec<Event>> {
        let rows = sqlx::query_as::<_, EventRow>(
            "SELECT seq, at, kind, level, message, data FROM operation_events \
             WHERE operation_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(id.as_str())
        .bind(i64::try_from(after_seq).unwrap_or(i64::MAX))
        .bind(i64::from(limit.max(1)))
        .fetch_all(&self.pool)
        .await?;
        convert(rows)
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
             ORDER BY COALESCE(retry_at, destroy_at)",
        )
        .bind(millis(now))
        .fetch_all(&self.pool)
        .await?;
        names
            .iter()
            .map(|n| ClusterName::parse(n).map_err(|e| StoreError::Corrupt(e.to_string())))
            .collect()
    }

    async fn register_blueprint_version(&self, bv: BlueprintVersion) -> Result<Registered> {
        let mut tx = self.begin().await?;
        let stored: Option<String> = sqlx::query_scalar(
            "SELECT digest FROM blueprint_versions WHERE blueprint = $1 AND version = $2",
        )
        .bind(bv.blueprint.as_str())
        .bind(bv.version.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let registered = match stored {
            Some(digest) if digest == bv.digest => Registered::Unchanged,
            Some(stored_digest) => Registered::Differs { stored_digest },
            None => {
                sqlx::query(
                    "INSERT INTO blueprint_versions (blueprint, version, metadata, files, digest, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(bv.blueprint.as_str())
                .bind(bv.version.as_str())
                .bind(to_json(&bv.metadata))
                .bind(to_json(&bv.files))
                .bind(bv.digest.as_str())
                .bind(millis(bv.created_at))
                .execute(&mut *tx)
                .await?;
                Registered::Created
            }
        };
        tx.commit().await?;
        Ok(registered)
    }

    async fn blueprint_version(
        &self,
        blueprint: &str,
        version: &str,
    ) -> Result<Option<BlueprintVersion>> {
        let row = sqlx::query_as::<_, BlueprintVersionRow>(
            "SELECT blueprint, version, metadata, files, digest, created_at FROM blueprint_versions \
             WHERE blueprint = $1 AND ($2 = 'latest' OR version = $2) ORDER BY created_at DESC, version DESC LIMIT 1",
        )
        .bind(blueprint)
        .bind(version)
        .fetch_optional(&self.pool)
        .await?;
        row.map(BlueprintVersion::try_from).transpose()
    }

    async fn blueprint_versions(&self) -> Result<Vec<BlueprintVersionSummary>> {
        let rows = sqlx::query_as::<_, BlueprintVersionRow>(
            "SELECT blueprint, version, metadata, '{}' AS files, digest, created_at FROM blueprint_versions \
             ORDER BY blueprint, created_at DESC",
        )
        .fetch_all(&self.pool)
        .await?;
        convert(rows)
    }

    async fn create_api_token(&self, token: NewApiToken) -> Result<ApiToken> {
        sqlx::query(
            "INSERT INTO api_tokens (id, name, owner, secret_hash, scopes, created_at, expires_at, revoked_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)",
        )
        .bind(token.id.as_str())
        .bind(token.name.as_str())
        .bind(token.owner.as_str())
        .bind(token.secret_hash.as_str())
        .bind(to_json(&token.scopes))
        .bind(millis(token.created_at))
        .bind(token.expires_at.map(millis))
        .execute(&self.pool)
        .await?;
        Ok(ApiToken {
            id: token.id,
            name: token.name,
            owner: token.owner,
            scopes: token.scopes,
            created_at: token.created_at,
            expires_at: token.expires_at,
            revoked_at: None,
        })
    }

    async fn api_token_by_hash(&self, secret_hash: &str) -> Result<Option<ApiToken>> {
        let row = sqlx::query_as::<_, ApiTokenRow>(concat!(
            "SELECT ",
            api_token_columns!(),
            " FROM api_tokens WHERE secret_hash = $1"
        ))
        .bind(secret_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(ApiToken::try_from).transpose()
    }

    async fn api_tokens(&self) -> Result<Vec<ApiToken>> {
        let rows = sqlx::query_as::<_, ApiTokenRow>(concat!(
            "SELECT ",
            api_token_columns!(),
            " FROM api_tokens ORDER BY created_at, id"
        ))
        .fetch_all(&self.pool)
        .await?;
        convert(rows)
    }

    async fn revoke_api_token(&self, id: &str, now: Timestamp) -> Result<bool> {
        let updated = sqlx::query(
            "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1",
        )
        .bind(id)
        .bind(millis(now))
        .execute(&self.pool)
        .await?;
        Ok(updated.rows_affected() > 0)
    }

    async fn create_organization(&self, org: Organization) -> Result<Organization> {
        let mut tx = self.begin().await?;
        let exists: Option<String> =
            sqlx::query_scalar("SELECT name FROM organizations WHERE name = $1")
                .bind(org.name.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        if exists.is_some() {
            return Err(Refusal::AlreadyExists(format!("organization {}", org.name)).into());
        }
        sqlx::query(
            "INSERT INTO organizations (name, github_org, github_team, limits, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(org.name.as_str())
        .bind(org.github_org.as_deref())
        .bind(org.github_team.as_deref())
        .bind(to_json(&org.limits))
        .bind(millis(org.created_at))
        .bind(millis(org.updated_at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(org)
    }

    async fn update_organization(&self, org: Organization) -> Result<Organization> {
        let updated = sqlx::query(
            "UPDATE organizations SET github_org = $2, github_team = $3, limits = $4, updated_at = $5 WHERE name = $1",
        )
        .bind(org.name.as_str())
        .bind(org.github_org.as_deref())
        .bind(org.github_team.as_deref())
        .bind(to_json(&org.limits))
        .bind(millis(org.updated_at))
        .execute(&self.pool)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::OrganizationNotFound(org.name.to_string()));
        }
        Ok(org)
    }

    async fn organization(&self, name: &OrgName) -> Result<Option<Organization>> {
        sqlx::query_as::<_, OrganizationRow>(
            "SELECT name, github_org, github_team, limits, created_at, updated_at FROM organizations WHERE name = $1",
        )
        .bind(name.as_str())
        .fetch_optional(&self.pool)
        .await?
        .map(Organization::try_from)
        .transpose()
    }

    async fn organizations(&self) -> Result<Vec<Organization>> {
        convert(
            sqlx::query_as::<_, OrganizationRow>(
                "SELECT name, github_org, github_team, limits, created_at, updated_at FROM organizations ORDER BY name",
            )
            .fetch_all(&self.pool)
            .await?,
        )
    }

    async fn put_membership(&self, m: Membership) -> Result<()> {
        sqlx::query(
            "INSERT INTO memberships (organization, login, role, state, requested_at, decided_by, decided_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (organization, login) DO UPDATE SET role = excluded.role, state = excluded.state, \
             requested_at = excluded.requested_at, decided_by = excluded.decided_by, decided_at = excluded.decided_at",
        )
        .bind(m.organization.as_str())
        .bind(m.login.as_str())
        .bind(role_text(m.role))
        .bind(membership_state_text(m.state))
        .bind(millis(m.requested_at))
        .bind(m.decided_by.as_deref())
        .bind(m.decided_at.map(millis))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn membership(&self, org: &OrgName, login: &str) -> Result<Option<Membership>> {
        sqlx::query_as::<_, MembershipRow>(
            "SELECT organization, login, role, state, requested_at, decided_by, decided_at FROM memberships \
             WHERE organization = $1 AND login = $2",
        )
        .bind(org.as_str())
        .bind(login)
        .fetch_optional(&self.pool)
        .await?
        .map(Membership::try_from)
        .transpose()
    }

    async fn memberships(&self, org: &OrgName) -> Result<Vec<Membership>> {
        convert(
            sqlx::query_as::<_, MembershipRow>(
                "SELECT organization, login, role, state, requested_at, decided_by, decided_at FROM memberships \
                 WHERE organization = $1 ORDER BY login",
            )
            .bind(org.as_str())
            .fetch_all(&self.pool)
            .await?,
        )
    }

    async fn memberships_of(&self, login: &str) -> Result<Vec<Membership>> {
        convert(
            sqlx::query_as::<_, MembershipRow>(
                "SELECT organization, login, role, state, requested_at, decided_by, decided_at FROM memberships \
                 WHERE login = $1 ORDER BY organization",
            )
            .bind(login)
            .fetch_all(&self.pool)
            .await?,
        )
    }

    async fn remove_membership(&self, org: &OrgName, login: &str) -> Result<bool> {
        let removed = sqlx::query("DELETE FROM memberships WHERE organization = $1 AND login = $2")
            .bind(org.as_str())
            .bind(login)
            .execute(&self.pool)
            .await?;
        Ok(removed.rows_affected() > 0)
    }

    async fn put_user(&self, user: User) -> Result<()> {
        sqlx::query(
            "INSERT INTO users (login, github_id, github_token, admin, github_orgs, checked_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (login) DO UPDATE SET github_id = excluded.github_id, github_token = excluded.github_token, \
             admin = excluded.admin, github_orgs = excluded.github_orgs, checked_at = excluded.checked_at",
        )
        .bind(user.login.as_str())
        .bind(user.github_id)
        .bind(user.github_token.as_deref().map(b64))
        .bind(i64::from(user.admin))
        .bind(to_json(&user.github_orgs))
        .bind(millis(user.checked_at))
        .bind(millis(user.created_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn user(&self, login: &str) -> Result<Option<User>> {
        sqlx::query_as::<_, UserRow>(
            "SELECT login, github_id, github_token, admin, github_orgs, checked_at, created_at FROM users WHERE login = $1",
        )
        .bind(login)
        .fetch_optional(&self.pool)
        .await?
        .map(User::try_from)
        .transpose()
    }

    async fn signing_keys(&self) -> Result<Vec<StoredSigningKey>> {
        convert(
            sqlx::query_as::<_, SigningKeyRow>(
                "SELECT kid, public_key, private_key, created_at, retired_at FROM signing_keys ORDER BY created_at DESC, kid",
            )
            .fetch_all(&self.pool)
            .await?,
        )
    }

    async fn rotate_signing_key(&self, key: StoredSigningKey) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL")
            .bind(millis(key.created_at))
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO signing_keys (kid, public_key, private_key, created_at, retired_at) VALUES ($1, $2, $3, $4, NULL)",
        )
        .bind(key.kid.as_str())
        .bind(b64(&key.public_key))
        .bind(b64(&key.private_key))
        .bind(millis(key.created_at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn revoke_token(&self, jti: &str, expires_at: Timestamp) -> Result<()> {
        sqlx::query(
            "INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING",
        )
        .bind(jti)
        .bind(millis(expires_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn token_revoked(&self, jti: &str) -> Result<bool> {
        let found: Option<i64> =
            sqlx::query_scalar("SELECT expires_at FROM revoked_tokens WHERE jti = $1")
                .bind(jti)
                .fetch_optional(&self.pool)
                .await?;
        Ok(found.is_some())
    }

    async fn put_login_state(
        &self,
        state: &str,
        payload: &[u8],
        expires_at: Timestamp,
    ) -> Result<()> {
        sqlx::query("INSERT INTO login_states (state, payload, expires_at) VALUES ($1, $2, $3)")
            .bind(state)
            .bind(b64(payload))
            .bind(millis(expires_at))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn take_login_state(&self, state: &str, now: Timestamp) -> Result<Option<Vec<u8>>> {
        let mut tx = self.begin().await?;
        let row: Option<(String, i64)> =
            sqlx::query_as("SELECT payload, expires_at FROM login_states WHERE state = $1")
                .bind(state)
                .fetch_optional(&mut *tx)
                .await?;
        sqlx::query("DELETE FROM login_states WHERE state = $1 OR expires_at < $2")
            .bind(state)
            .bind(millis(now))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        match row {
            Some((payload, expires)) if expires >= millis(now) => {
                Ok(Some(unb64("login state", &payload)?))
            }
            _ => Ok(None),
        }
    }

    async fn put_run_credential(&self, c: RunCredential, now: Timestamp) -> Result<()> {
        sqlx::query(
            "INSERT INTO run_credentials (operation_id, state_key, secret_hash, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (operation_id) DO UPDATE SET state_key = excluded.state_key, secret_hash = excluded.secret_hash",
        )
        .bind(c.operation.as_str())
        .bind(c.state_key.as_str())
        .bind(c.secret_hash.as_str())
        .bind(millis(now))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn live_run_credential(&self, operation: &OperationId) -> Result<Option<RunCredential>> {
        let row: Option<(String, String)> = sqlx::query_as(
            "SELECT c.state_key, c.secret_hash FROM run_credentials c JOIN operations o ON o.id = c.operation_id \
             WHERE c.operation_id = $1 AND o.state = 'running'",
        )
        .bind(operation.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(state_key, secret_hash)| RunCredential {
            operation: operation.clone(),
            state_key,
            secret_hash,
        }))
    }

    async fn latest_state(&self, state_key: &str) -> Result<Option<StateVersion>> {
        sqlx::query_as::<_, StateVersionRow>(
            "SELECT state_key, serial, operation_id, created_at, data FROM state_versions \
             WHERE state_key = $1 ORDER BY serial DESC LIMIT 1",
        )
        .bind(state_key)
        .fetch_optional(&self.pool)
        .await?
        .map(StateVersion::try_from)
        .transpose()
    }

    async fn state_history(&self, state_key: &str) -> Result<Vec<StateVersion>> {
        convert(
            sqlx::query_as::<_, StateVersionRow>(
                "SELECT state_key, serial, operation_id, created_at, '' AS data FROM state_versions \
                 WHERE state_key = $1 ORDER BY serial",
            )
            .bind(state_key)
            .fetch_all(&self.pool)
            .await?,
        )
    }

    async fn write_state(
        &self,
        state_key: &str,
        operation: &OperationId,
        lock_id: Option<&str>,
        data: Vec<u8>,
        now: Timestamp,
    ) -> Result<Result<i64, StateLock>> {
        let mut tx = self.begin().await?;
        let lock = sqlx::query_as::<_, StateLockRow>(locking!(
            self.dialect,
            "SELECT state_key, lock_id, operation_id, info, created_at FROM state_locks WHERE state_key = $1"
        ))
        .bind(state_key)
        .fetch_optional(&mut *tx)
        .await?
        .map(StateLock::try_from)
        .transpose()?;
        if let Some(lock) = lock
            && Some(lock.lock_id.as_str()) != lock_id
        {
            tx.rollback().await?;
            return Ok(Err(lock));
        }
        let serial: i64 = sqlx::query_scalar(
            "SELECT COALESCE(MAX(serial), 0) + 1 FROM state_versions WHERE state_key = $1",
        )
        .bind(state_key)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO state_versions (state_key, serial, operation_id, created_at, data) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(state_key)
        .bind(serial)
        .bind(operation.as_str())
        .bind(millis(now))
        .bind(b64(&data))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Ok(serial))
    }

    async fn recover_state(
        &self,
        state_key: &str,
        operation: &OperationId,
        data: Vec<u8>,
        now: Timestamp,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let op = self.load_operation(&mut tx, operation, true).await?;
        let newer: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM state_versions v JOIN operations o ON o.id = v.operation_id \
             WHERE v.state_key = $1 AND o.created_at > $2",
        )
        .bind(state_key)
        .bind(millis(op.created_at))
        .fetch_one(&mut *tx)
        .await?;
        if newer > 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query("DELETE FROM state_locks WHERE operation_id = $1")
            .bind(operation.as_str())
            .execute(&mut *tx)
            .await?;
        let serial: i64 = sqlx::query_scalar(
            "SELECT COALESCE(MAX(serial), 0) + 1 FROM state_versions WHERE state_key = $1",
        )
        .bind(state_key)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO state_versions (state_key, serial, operation_id, created_at, data) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(state_key)
        .bind(serial)
        .bind(operation.as_str())
        .bind(millis(now))
        .bind(b64(&data))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn lock_state(&self, lock: StateLock) -> Result<Result<(), StateLock>> {
        let mut tx = self.begin().await?;
        let held = sqlx::query_as::<_, StateLockRow>(locking!(
            self.dialect,
            "SELECT state_key, lock_id, operation_id, info, created_at FROM state_locks WHERE state_key = $1"
        ))
        .bind(lock.state_key.as_str())
        .fetch_optional(&mut *tx)
        .await?
        .map(StateLock::try_from)
        .transpose()?;
        if let Some(held) = held {
            tx.rollback().await?;
            return Ok(Err(held));
        }
        // Two first lockers race on the primary key; the loser sees the winner.
        let inserted = sqlx::query(
            "INSERT INTO state_locks (state_key, lock_id, operation_id, info, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (state_key) DO NOTHING",
        )
        .bind(lock.state_key.as_str())
        .bind(lock.lock_id.as_str())
        .bind(lock.operation.as_str())
        .bind(to_json(&lock.info))
        .bind(millis(lock.created_at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        if inserted.rows_affected() == 0 {
            let held = sqlx::query_as::<_, StateLockRow>(
                "SELECT state_key, lock_id, operation_id, info, created_at FROM state_locks WHERE state_key = $1",
            )
            .bind(lock.state_key.as_str())
            .fetch_one(&self.pool)
            .await?;
            return Ok(Err(held.try_into()?));
        }
        Ok(Ok(()))
    }

    async fn unlock_state(&self, state_key: &str, lock_id: &str) -> Result<Result<(), StateLock>> {
        let mut tx = self.begin().await?;
        let held = sqlx::query_as::<_, StateLockRow>(locking!(
            self.dialect,
            "SELECT state_key, lock_id, operation_id, info, created_at FROM state_locks WHERE state_key = $1"
        ))
        .bind(state_key)
        .fetch_optional(&mut *tx)
        .await?
        .map(StateLock::try_from)
        .transpose()?;
        match held {
            Some(held) if held.lock_id != lock_id => {
                tx.rollback().await?;
                Ok(Err(held))
            }
            Some(_) => {
                sqlx::query("DELETE FROM state_locks WHERE state_key = $1")
                    .bind(state_key)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(Ok(()))
            }
            None => {
                tx.rollback().await?;
                Ok(Ok(()))
            }
        }
    }

    async fn append_audit(&self, entry: NewAuditEntry) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        self.insert_audit(&mut conn, &entry).await
    }

    async fn audit_log(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query_as::<_, AuditRow>(
            "SELECT id, at, actor, level, action, target, result, detail FROM audit_log \
             WHERE ($1 IS NULL OR target = $1) AND ($2 IS NULL OR actor = $2) AND ($3 IS NULL OR action = $3) \
             AND ($4 IS NULL OR id < $4) ORDER BY id DESC LIMIT $5",
        )
        .bind(query.target.as_deref())
        .bind(query.actor.as_deref())
        .bind(query.action.as_deref())
        .bind(query.before_id)
        .bind(i64::from(query.limit.max(1)))
        .fetch_all(&self.pool)
        .await?;
        convert(rows)
    }
}

fn lease_delta(lease: Duration) -> chrono::TimeDelta {
    chrono::TimeDelta::from_std(lease).unwrap_or(chrono::TimeDelta::MAX)
}
