//! [`SqlStore`]: the [`Store`](crate::Store) on SQLite or PostgreSQL through
//! sqlx's `Any` driver. The SQL is shared; where the two databases differ
//! (row locks, how a write transaction begins), [`Dialect`] picks the
//! variant.
//!
//! SQLite allows one writer at a time: every write transaction begins with
//! `BEGIN IMMEDIATE`, so a transaction that reads before it writes never
//! fails to upgrade. PostgreSQL takes row locks (`FOR UPDATE`) on the cluster
//! being decided, and leases work with `FOR UPDATE SKIP LOCKED`.
//!
//! One file per part of the store: [`clusters`], [`queue`], [`logs`],
//! [`blueprints`], [`identity`], [`states`], [`audit`]; this module holds the
//! connection, the notifications, and what several parts share (reading a
//! cluster or an operation, writing a decision, ending an operation).

mod accounts;
mod audit;
mod blueprints;
mod clusters;
mod identity;
mod logs;
mod queue;
mod rows;
mod states;

use std::sync::LazyLock;

use slipway_core::event::{EventLevel, NewEvent, kinds};
use slipway_core::lifecycle::{Ending, settle};
use slipway_core::operation::sql_list;
use slipway_core::rules::{ClusterSnapshot, Decision, OrganizationLoad, Outcome, ScheduleChange};
use slipway_core::{
    Cluster, ClusterName, ClusterState, Operation, OperationId, OperationKind, OperationState,
    Schedule, Timestamp,
};
use sqlx::any::AnyPoolOptions;
use sqlx::{Any, AnyConnection, AnyPool, Connection, Executor, Transaction};
use tokio::sync::broadcast;

use self::rows::*;
use crate::{
    AuditIntent, LastOperation, NewAuditEntry, Notification, Notifications, Result, StoreError,
};

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
            $crate::sql::Dialect::Sqlite => $sqlite,
            $crate::sql::Dialect::Postgres => $postgres,
        }
    };
}
pub(crate) use by_dialect;

/// A `SELECT` that locks the rows it reads on PostgreSQL (SQLite's write
/// transaction already excludes every other writer).
macro_rules! locking {
    ($dialect:expr, $($sql:expr),+ $(,)?) => {
        $crate::sql::by_dialect!($dialect, sqlite: concat!($($sql),+), postgres: concat!($($sql),+, " FOR UPDATE"))
    };
}
pub(crate) use locking;

/// PostgreSQL refuses NOTIFY payloads of 8000 bytes or more.
const NOTIFY_PAYLOAD_LIMIT: usize = 7900;

/// `state IN (…)` of operations not over yet, from core's definition.
static ACTIVE_STATES: LazyLock<String> =
    LazyLock::new(|| format!("state IN ({})", sql_list(&OperationState::ACTIVE)));

/// `kind IN (…)` of infrastructure operations, from core's definition.
static INFRASTRUCTURE: LazyLock<String> =
    LazyLock::new(|| format!("kind IN ({})", sql_list(&OperationKind::INFRASTRUCTURE)));

/// A cluster's infrastructure operation in flight.
static ACTIVE_OPERATION: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {} FROM operations WHERE cluster = $1 AND {} AND {}",
        operation_columns!(),
        *ACTIVE_STATES,
        *INFRASTRUCTURE
    )
});

/// A cluster's row, and whether it has an infrastructure operation in
/// flight, a scheduled destroy and capacity requests: what a snapshot
/// read needs to know before it reads them (most clusters have none of
/// them, so most reads are this one statement); and what its last
/// operation came to, which its status shows.
static CLUSTER_WITH_PRESENCE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {}, \
         CAST(CASE WHEN EXISTS (SELECT 1 FROM operations o WHERE o.cluster = clusters.name AND o.{} AND o.{}) THEN 1 ELSE 0 END AS BIGINT) AS has_active, \
         CAST(CASE WHEN EXISTS (SELECT 1 FROM schedules s WHERE s.cluster = clusters.name) THEN 1 ELSE 0 END AS BIGINT) AS has_schedule, \
         CAST(CASE WHEN EXISTS (SELECT 1 FROM capacity_requests r WHERE r.cluster = clusters.name) THEN 1 ELSE 0 END AS BIGINT) AS has_capacity, \
         (SELECT l.kind FROM operations l WHERE l.id = clusters.last_operation) AS last_kind, \
         (SELECT l.state FROM operations l WHERE l.id = clusters.last_operation) AS last_state, \
         (SELECT l.error FROM operations l WHERE l.id = clusters.last_operation) AS last_error \
         FROM clusters WHERE name = $1",
        cluster_columns!(),
        *ACTIVE_STATES,
        *INFRASTRUCTURE
    )
});

/// How many of an organization's other clusters count as deployed: the SQL
/// form of `ClusterSnapshot::counts_as_deployed`, built from the same parts
/// (not `absent`, or a deploy or update in flight) and held to it by the
/// contract tests.
static DEPLOYED_ELSEWHERE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT COUNT(*) FROM clusters c WHERE c.organization = $1 AND c.name <> $2 AND (c.state <> '{}' \
         OR EXISTS (SELECT 1 FROM operations o WHERE o.cluster = c.name AND o.{} AND o.kind IN ({})))",
        ClusterState::Absent,
        *ACTIVE_STATES,
        sql_list(&OperationKind::DEPLOYING)
    )
});

/// The [`Store`](crate::Store) on SQLite or PostgreSQL.
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
    /// The audit log's group commit's own connection (SQLite).
    audit_connection: KeptConnection,
    /// The hottest reads' own connections (SQLite).
    readers: KeptReaders,
}

/// A SQLite connection kept out of the pool for a path that writes all the
/// time (the audit log's group commit): sqlx pings each connection returned
/// to its pool, a round trip to the connection's thread per use. It is
/// given up after an error, or when the work using it stops midway, and
/// replaced from the pool at the next use. (A file on this machine does not
/// go away under an open connection; a connection to PostgreSQL can break
/// while it is kept, so PostgreSQL's come from the pool, checked.)
#[derive(Default)]
struct KeptConnection(tokio::sync::Mutex<Option<AnyConnection>>);

/// The most SQLite connections kept out of the pool for reads.
const KEPT_READERS: usize = 4;

/// SQLite connections kept out of the pool for the reads made on every
/// request, every batch of a followed log and every request of Terraform's
/// state backend (a cluster, an operation, its log, a run's credential),
/// for the same reason as [`KeptConnection`]: each use of a pooled
/// one costs a ping, a second round trip to its thread. At most
/// [`KEPT_READERS`]; a read that finds none idle uses the pool.
#[derive(Default)]
struct KeptReaders {
    idle: std::sync::Mutex<Vec<AnyConnection>>,
    /// Kept connections, idle or in use.
    kept: std::sync::atomic::AtomicUsize,
}

/// A connection to read with: [`Reader::done`] once the read succeeded.
/// A kept connection dropped before that (an error, or a caller that gave
/// up midway) is closed, not kept.
enum Reader<'s> {
    Kept(Option<AnyConnection>, &'s KeptReaders),
    Pooled(sqlx::pool::PoolConnection<Any>),
}

impl Reader<'_> {
    fn conn(&mut self) -> &mut AnyConnection {
        match self {
            Reader::Kept(conn, _) => conn.as_mut().expect("a reader not yet done"),
            Reader::Pooled(conn) => conn,
        }
    }

    fn done(mut self) {
        if let Reader::Kept(conn, readers) = &mut self
            && let Some(conn) = conn.take()
        {
            readers.idle.lock().expect("readers lock").push(conn);
        }
    }
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        if let Reader::Kept(conn, readers) = self
            && conn.take().is_some()
        {
            readers
                .kept
                .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
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
                    // A file on this machine does not go away under an open
                    // connection: no ping (a round trip to the connection's
                    // thread) before each use.
                    .test_before_acquire(false)
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
            audit_connection: KeptConnection::default(),
            readers: KeptReaders::default(),
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

    /// Begins a write transaction on `conn`.
    async fn begin_on<'c>(&self, conn: &'c mut AnyConnection) -> Result<Transaction<'c, Any>> {
        Ok(match self.dialect {
            Dialect::Sqlite => conn.begin_with("BEGIN IMMEDIATE").await?,
            Dialect::Postgres => conn.begin().await?,
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

    /// A connection for one of the hottest reads: on SQLite a kept one
    /// ([`KeptReaders`]) while there is one to keep, otherwise the pool's.
    async fn reader(&self) -> Result<Reader<'_>> {
        use std::sync::atomic::Ordering;
        if self.dialect == Dialect::Sqlite {
            let readers = &self.readers;
            if let Some(conn) = readers.idle.lock().expect("readers lock").pop() {
                return Ok(Reader::Kept(Some(conn), readers));
            }
            let room = readers
                .kept
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                    (n < KEPT_READERS).then_some(n + 1)
                });
            if room.is_ok() {
                return match self.pool.acquire().await {
                    Ok(conn) => Ok(Reader::Kept(Some(conn.detach()), readers)),
                    Err(e) => {
                        readers.kept.fetch_sub(1, Ordering::Relaxed);
                        Err(e.into())
                    }
                };
            }
        }
        Ok(Reader::Pooled(self.pool.acquire().await?))
    }

    /// The cluster with its operation in flight and its schedule (the
    /// cluster's row locked on PostgreSQL when `lock`).
    async fn load_snapshot(
        &self,
        conn: &mut AnyConnection,
        name: &ClusterName,
        lock: bool,
    ) -> Result<Option<ClusterSnapshot>> {
        if !lock {
            return Ok(self.read_snapshot(conn, name).await?.map(|(snap, _)| snap));
        }
        // A writer locks the cluster's row and reads the rest.
        let Some(cluster) = self.load_cluster(conn, name, lock).await? else {
            return Ok(None);
        };
        Ok(Some(
            self.complete_snapshot(conn, cluster, Presence::ALL).await?,
        ))
    }

    /// A reader's snapshot: it learns first which of the rest there is
    /// (`CLUSTER_WITH_PRESENCE`), and what the last operation came to.
    async fn read_snapshot(
        &self,
        conn: &mut AnyConnection,
        name: &ClusterName,
    ) -> Result<Option<(ClusterSnapshot, Option<LastOperation>)>> {
        let Some(row) = sqlx::query_as::<_, ClusterPresenceRow>(CLUSTER_WITH_PRESENCE.as_str())
            .bind(name.as_str())
            .fetch_optional(&mut *conn)
            .await?
        else {
            return Ok(None);
        };
        let (cluster, present, last) = row.split()?;
        let snap = self.complete_snapshot(conn, cluster, present).await?;
        // The operation in flight, if it is the last, as just read.
        let last = match &snap.active {
            Some(active) if last.as_ref().is_some_and(|l| l.id == active.id) => {
                Some(LastOperation::from(active))
            }
            _ => last,
        };
        Ok(Some((snap, last)))
    }

    /// The snapshot of `cluster`: its operation in flight, schedule and
    /// capacity requests, each read if `present` says there is one.
    async fn complete_snapshot(
        &self,
        conn: &mut AnyConnection,
        cluster: Cluster,
        present: Presence,
    ) -> Result<ClusterSnapshot> {
        let name = &cluster.name;
        let active = if present.active {
            sqlx::query_as::<_, OperationRow>(ACTIVE_OPERATION.as_str())
                .bind(name.as_str())
                .fetch_optional(&mut *conn)
                .await?
                .map(Operation::try_from)
                .transpose()?
        } else {
            None
        };
        let schedule = if present.schedule {
            self.load_schedule(conn, name).await?
        } else {
            None
        };
        let capacity = if present.capacity {
            self.load_capacity(conn, name).await?
        } else {
            Vec::new()
        };
        Ok(ClusterSnapshot {
            cluster,
            active,
            schedule,
            capacity,
        })
    }

    /// Only the cluster's row (locked on PostgreSQL when `lock`), for
    /// writers that need neither its operation in flight nor its requests.
    async fn load_cluster(
        &self,
        conn: &mut AnyConnection,
        name: &ClusterName,
        lock: bool,
    ) -> Result<Option<Cluster>> {
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
        sqlx::query_as::<_, ClusterRow>(sql)
            .bind(name.as_str())
            .fetch_optional(&mut *conn)
            .await?
            .map(Cluster::try_from)
            .transpose()
    }

    /// The cluster's scheduled destroy, if any.
    async fn load_schedule(
        &self,
        conn: &mut AnyConnection,
        name: &ClusterName,
    ) -> Result<Option<Schedule>> {
        sqlx::query_as::<_, ScheduleRow>(concat!(
            "SELECT ",
            schedule_columns!(),
            " FROM schedules WHERE cluster = $1"
        ))
        .bind(name.as_str())
        .fetch_optional(&mut *conn)
        .await?
        .map(Schedule::try_from)
        .transpose()
    }

    /// The owning organization's limits (its row locked on PostgreSQL, so
    /// two deploys in one organization are decided one after the other) and
    /// how many of its other clusters are deployed or being deployed. Read
    /// only where a rule decides.
    async fn organization_load(
        &self,
        conn: &mut AnyConnection,
        cluster: &Cluster,
    ) -> Result<OrganizationLoad> {
        let limits: Option<String> = sqlx::query_scalar(locking!(
            self.dialect,
            "SELECT limits FROM organizations WHERE name = $1"
        ))
        .bind(cluster.organization.as_str())
        .fetch_optional(&mut *conn)
        .await?;
        let deployed_elsewhere: i64 = sqlx::query_scalar(DEPLOYED_ELSEWHERE.as_str())
            .bind(cluster.organization.as_str())
            .bind(cluster.name.as_str())
            .fetch_one(&mut *conn)
            .await?;
        let budget = match self.load_account(conn, &cluster.organization, true).await? {
            Some(record) => Some(slipway_core::rules::Budget {
                account: record.account,
                rate_elsewhere: self
                    .rate_elsewhere(conn, &cluster.organization, &cluster.name)
                    .await?,
            }),
            None => None,
        };
        Ok(OrganizationLoad {
            limits: limits
                .map(|l| json("limits", &l))
                .transpose()?
                .unwrap_or_default(),
            deployed_elsewhere: u32::try_from(deployed_elsewhere).unwrap_or(u32::MAX),
            budget,
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

    /// Writes a decision taken on a snapshot read in the same transaction.
    /// Returns the notifications to send once it commits.
    async fn write_decision(
        &self,
        tx: &mut AnyConnection,
        cluster: &ClusterName,
        plan: &Decision,
        actor: &AuditIntent,
        now: Timestamp,
    ) -> Result<Vec<Notification>> {
        let mut notes = Vec::new();
        // Before the new operation: one infrastructure operation at a time.
        if let (Some(old), Some(new)) = (&plan.superseded, plan.new_operation()) {
            let ending = Ending::Stopped {
                state: OperationState::Cancelled,
                error: format!(
                    "superseded by {}'s {} ({}), asked while this waited; the next drift check looks again",
                    actor.actor_name, new.kind, new.id
                ),
            };
            let (_, ended) = self
                .end_operation(tx, old, &ending, &serde_json::Value::Null, false, now)
                .await?;
            notes.extend(ended);
        }
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
                level: EventLevel::Info,
                // People read the log: the actor by name (the subject is
                // in the data).
                message: format!(
                    "{} of {} queued by {} (reason: {})",
                    op.kind, cluster, actor.actor_name, op.reason
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
                .bind(actor.actor.as_str())
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
        for id in &plan.withdrawn {
            sqlx::query("DELETE FROM capacity_requests WHERE cluster = $1 AND id = $2")
                .bind(cluster.as_str())
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?;
        }
        if !plan.withdrawn.is_empty() {
            notes.push(Notification::CapacityChanged {
                cluster: cluster.clone(),
            });
        }
        // A flag of the cluster the decision sets.
        let flag = match plan.outcome {
            Outcome::Visibility(public) => Some((
                "UPDATE clusters SET public = $2, updated_at = $3 WHERE name = $1",
                public,
            )),
            Outcome::Protection(protected) => Some((
                "UPDATE clusters SET protected = $2, updated_at = $3 WHERE name = $1",
                protected,
            )),
            Outcome::Enqueued(_)
            | Outcome::Joined(_)
            | Outcome::AlreadyRunning
            | Outcome::NothingToDestroy
            | Outcome::Scheduled(_)
            | Outcome::Unscheduled
            | Outcome::Deferred(_)
            | Outcome::NotDue
            | Outcome::Removed => None,
        };
        if let Some((sql, value)) = flag {
            sqlx::query(sql)
                .bind(cluster.as_str())
                .bind(i64::from(value))
                .bind(millis(now))
                .execute(&mut *tx)
                .await?;
        }
        if plan.outcome == Outcome::Removed {
            for removal in [
                "DELETE FROM capacity_requests WHERE cluster = $1",
                "DELETE FROM clusters WHERE name = $1",
            ] {
                sqlx::query(removal)
                    .bind(cluster.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
        }
        if matches!(plan.outcome, Outcome::Visibility(_) | Outcome::Removed) {
            notes.push(Notification::AccessChanged {
                cluster: cluster.clone(),
            });
        }
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
        // Many rows per statement: a burst of Terraform's output is one
        // round trip (and on SQLite a shorter hold of the write lock), not
        // one per line.
        const ROWS: usize = 64;
        let mut seq = last;
        for chunk in events.chunks(ROWS) {
            let mut sql = String::from(
                "INSERT INTO operation_events (operation_id, seq, at, kind, level, message, data) VALUES ",
            );
            for i in 0..chunk.len() {
                let p = i * 7;
                if i > 0 {
                    sql.push_str(", ");
                }
                sql.push_str(&format!(
                    "(${}, ${}, ${}, ${}, ${}, ${}, ${})",
                    p + 1,
                    p + 2,
                    p + 3,
                    p + 4,
                    p + 5,
                    p + 6,
                    p + 7
                ));
            }
            let mut insert = sqlx::query(sqlx::AssertSqlSafe(sql));
            for event in chunk {
                seq += 1;
                insert = insert
                    .bind(id.as_str())
                    .bind(seq)
                    .bind(millis(event.at))
                    .bind(event.kind.as_str())
                    .bind(event.level.as_str())
                    .bind(event.message.as_str())
                    .bind(to_json(&event.data));
            }
            insert.execute(&mut *tx).await?;
        }
        Ok(u64::try_from(seq).unwrap_or_default())
    }

    async fn insert_audit(&self, conn: &mut AnyConnection, entry: &NewAuditEntry) -> Result<()> {
        audit::insert_rows(conn, std::slice::from_ref(entry)).await
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
            Ending::Succeeded { .. } | Ending::Observed { .. } => None,
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
        // The cluster's row and schedule: all that settling reads.
        let current = self
            .load_cluster(tx, &op.cluster, true)
            .await?
            .ok_or_else(|| StoreError::ClusterNotFound(op.cluster.to_string()))?;
        let schedule = self.load_schedule(tx, &op.cluster).await?;
        let settlement = settle_cluster
            .then(|| settle(op.kind, current.state, &op.spec, ending))
            .flatten();
        let mut schedules_removed = false;
        if let Some(s) = &settlement {
            let mut cluster = current.clone();
            cluster.state = s.state;
            if let Some(deployed) = &s.deployed {
                cluster.deployed = deployed.clone();
            }
            if let Some(outputs) = &s.outputs {
                cluster.outputs = outputs.clone();
            }
            cluster.error = s.error.clone();
            // Nothing deployed any more: the runtime directory is forgotten
            // with it (the next deploy, on whichever process, chooses anew).
            let nothing_left = s.deployed == Some(None);
            sqlx::query(
                "UPDATE clusters SET state = $2, deployed = $3, outputs = $4, error = $5, updated_at = $6, \
                 runtime_dir = CASE WHEN $7 = 1 THEN NULL ELSE runtime_dir END WHERE name = $1",
            )
            .bind(cluster.name.as_str())
            .bind(cluster.state.as_str())
            .bind(cluster.deployed.as_ref().map(to_json))
            .bind(to_json(&cluster.outputs))
            .bind(cluster.error.as_deref())
            .bind(millis(now))
            .bind(i64::from(nothing_left))
            .execute(&mut *tx)
            .await?;
            if let Some(drift) = &s.drift {
                sqlx::query(
                    "UPDATE clusters SET drift = $2, drift_checked_at = $3 WHERE name = $1",
                )
                .bind(cluster.name.as_str())
                .bind((!drift.is_empty()).then(|| to_json(drift)))
                .bind(millis(now))
                .execute(&mut *tx)
                .await?;
            }
            // Which node count runs from now on, at which rates: what the
            // cost model accrues.
            if s.deployed.is_some() {
                let (nodes, model) = match &cluster.deployed {
                    Some(spec) => (
                        spec.nodes,
                        self.blueprint_metadata(tx, spec)
                            .await?
                            .map(|m| m.cost)
                            .unwrap_or_default(),
                    ),
                    None => (0, slipway_core::CostModel::default()),
                };
                self.record_size(tx, &cluster, nodes, model, now).await?;
            }
            if s.remove_schedules && schedule.is_some() {
                sqlx::query("DELETE FROM schedules WHERE cluster = $1")
                    .bind(op.cluster.as_str())
                    .execute(&mut *tx)
                    .await?;
                schedules_removed = true;
            }
        }
        if let Some(schedule) = &schedule
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

impl Notifications for SqlStore {
    fn subscribe(&self) -> broadcast::Receiver<Notification> {
        self.notifications.subscribe()
    }
}

/// A short, stable description of an outcome for the audit log.
impl SqlStore {
    /// The audit entry of a decision written in `tx` (nothing due —
    /// another scheduler fired it first — is not an event).
    async fn audit_decision(
        &self,
        tx: &mut AnyConnection,
        cluster: &ClusterName,
        plan: &Decision,
        audit: &AuditIntent,
        now: Timestamp,
    ) -> Result<()> {
        if plan.outcome == Outcome::NotDue {
            return Ok(());
        }
        let (result, mut detail) = outcome_summary(&plan.outcome);
        if !plan.withdrawn.is_empty() {
            detail["withdrawn_capacity_requests"] = serde_json::json!(plan.withdrawn);
        }
        self.insert_audit(tx, &audit.entry(now, cluster.as_str(), result, detail))
            .await
    }
}

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
        Outcome::Removed => ("removed", serde_json::json!({})),
        Outcome::Visibility(public) => ("visibility", serde_json::json!({"public": public})),
        Outcome::Protection(protected) => {
            ("protection", serde_json::json!({"protected": protected}))
        }
    }
}

fn lease_delta(lease: std::time::Duration) -> chrono::TimeDelta {
    chrono::TimeDelta::from_std(lease).unwrap_or(chrono::TimeDelta::MAX)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;

    #[tokio::test]
    async fn sqlite_keeps_at_most_a_few_readers_and_never_one_given_up_midway() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("store.db").display()
        );
        let store = SqlStore::connect(&url).await.unwrap();

        // Beyond KEPT_READERS at once, reads use the pool.
        let mut readers = Vec::new();
        for _ in 0..KEPT_READERS + 2 {
            readers.push(store.reader().await.unwrap());
        }
        let kept = |readers: &[Reader]| {
            readers
                .iter()
                .filter(|r| matches!(r, Reader::Kept(..)))
                .count()
        };
        assert_eq!(kept(&readers), KEPT_READERS);
        assert_eq!(store.readers.kept.load(Ordering::Relaxed), KEPT_READERS);

        // One that finishes is kept for the next read; one dropped before
        // it finished (an error, a caller that gave up) is closed.
        let mut finished = readers.remove(0);
        sqlx::query("SELECT 1")
            .execute(finished.conn())
            .await
            .unwrap();
        finished.done();
        drop(readers.remove(0));
        assert_eq!(store.readers.kept.load(Ordering::Relaxed), KEPT_READERS - 1);
        assert_eq!(store.readers.idle.lock().unwrap().len(), 1);
        drop(readers);
        assert_eq!(
            store.readers.kept.load(Ordering::Relaxed),
            1,
            "the idle one"
        );

        // The kept one serves the next read.
        let next = store.reader().await.unwrap();
        assert!(matches!(next, Reader::Kept(..)));
        assert!(store.readers.idle.lock().unwrap().is_empty());
    }
}
