//! What the contract's tests share: the names they use (re-exported, so an
//! area needs only `use crate::fixtures::*`), a fresh store, fixed times and
//! people, and the decisions they ask the store to apply.

pub use std::collections::{BTreeMap, BTreeSet};
pub use std::sync::{Arc, Mutex};
pub use std::time::Duration;

pub use chrono::{TimeDelta, TimeZone, Utc};
pub use slipway_core::blueprint::BlueprintMetadata;
pub use slipway_core::event::{EventLevel, NewEvent, kinds};
pub use slipway_core::job::{Jobs, RunnerKind};
pub use slipway_core::lifecycle::Ending;
pub use slipway_core::rules::{
    self, ClusterSnapshot, Decision, DeployRequest, NewOperation, OrganizationLoad, Outcome,
    RuleContext, ScheduleChange,
};
pub use slipway_core::*;
pub use slipway_store::*;
pub use slipway_testkit::database::TestDatabase;
pub use tokio::sync::broadcast;

/// The secret hash a lease records unless a test says otherwise.
pub const HASH: &str = "hash-of-run-secret";

pub async fn open(db: &TestDatabase) -> Arc<SqlStore> {
    Arc::new(SqlStore::connect(&db.url).await.expect("connect"))
}

pub fn t0() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap()
}

pub fn ms(n: i64) -> TimeDelta {
    TimeDelta::milliseconds(n)
}

pub fn name(n: &str) -> ClusterName {
    ClusterName::parse(n).unwrap()
}

pub fn org(n: &str) -> OrgName {
    OrgName::parse(n).unwrap()
}

/// The person every test acts as.
pub fn alice() -> Subject {
    Subject::github(1)
}

pub fn bob() -> Subject {
    Subject::github(2)
}

pub fn spec(nodes: u32) -> ClusterSpec {
    ClusterSpec {
        blueprint: BlueprintName::parse("local").unwrap(),
        version: "1.0.0".into(),
        nodes,
        variables: Variables::new(),
    }
}

pub async fn create(store: &SqlStore, n: &str) -> Cluster {
    create_in(store, n, "research", false).await
}

pub async fn create_in(store: &SqlStore, n: &str, organization: &str, public: bool) -> Cluster {
    store
        .create_cluster(NewCluster {
            name: name(n),
            organization: org(organization),
            public,
            spec: spec(2),
            created_by: alice().to_string(),
            now: t0(),
            limits: None,
        })
        .await
        .expect("create cluster")
}

pub fn ctx(now: Timestamp) -> RuleContext {
    RuleContext {
        now,
        actor: alice().to_string(),
        level: Level::Admin,
        reason: Reason::User,
        new_operation_id: OperationId::from_uuid(uuid::Uuid::now_v7()),
    }
}

pub fn intent(action: &str) -> AuditIntent {
    AuditIntent {
        actor: alice().to_string(),
        actor_name: "alice".into(),
        level: slipway_store::AuditLevel::Caller(slipway_core::Level::Admin),
        action: action.into(),
        quiet: false,
    }
}

/// Decides a change to cluster `n` and applies it (the one place the tests
/// name the store's method).
pub async fn decide_on(
    store: &SqlStore,
    n: &ClusterName,
    now: Timestamp,
    intent: &AuditIntent,
    decide: &Decide<'_>,
) -> Result<Decided, StoreError> {
    store.decide(n, now, intent, decide).await
}

pub async fn deploy(
    store: &SqlStore,
    n: &str,
    req: DeployRequest,
    now: Timestamp,
) -> Result<Decided, StoreError> {
    let c = ctx(now);
    decide_on(
        store,
        &name(n),
        now,
        &intent("cluster.deploy"),
        &|snap, org| rules::decide_deploy(snap, org, &req, &c),
    )
    .await
}

pub async fn destroy(store: &SqlStore, n: &str, now: Timestamp) -> Result<Decided, StoreError> {
    let c = ctx(now);
    decide_on(
        store,
        &name(n),
        now,
        &intent("cluster.destroy"),
        &|snap, _| rules::decide_destroy(snap, &c, false),
    )
    .await
}

pub fn enqueued(applied: &Decided) -> OperationId {
    applied
        .decision
        .new_operation()
        .expect("an operation was queued")
        .id
        .clone()
}

pub async fn snapshot(store: &SqlStore, n: &str) -> ClusterSnapshot {
    store
        .cluster(&name(n))
        .await
        .unwrap()
        .expect("cluster exists")
}

pub async fn lease(store: &SqlStore, worker: &str, now: Timestamp, secs: u64) -> Option<Lease> {
    store
        .lease_next(worker, &[], now, Duration::from_secs(secs), HASH)
        .await
        .unwrap()
}

pub async fn run_to_end(
    store: &SqlStore,
    worker: &str,
    ending: Ending,
    now: Timestamp,
) -> Operation {
    let leased = lease(store, worker, now, 30).await.expect("work to lease");
    store
        .finish(
            &leased.operation.id,
            worker,
            ending,
            serde_json::Value::Null,
            now,
        )
        .await
        .unwrap()
}

pub fn succeeded() -> Ending {
    Ending::Succeeded {
        outputs: serde_json::Map::from_iter([(
            "endpoint".to_owned(),
            serde_json::json!("http://127.0.0.1:9"),
        )]),
    }
}

pub fn blueprint(version: &str, worker_tags: &[&str], jobs: Option<Jobs>) -> BlueprintVersion {
    BlueprintVersion {
        blueprint: "local".into(),
        version: version.into(),
        metadata: BlueprintMetadata {
            name: "local".into(),
            description: String::new(),
            nodes: Default::default(),
            variables: BTreeMap::new(),
            cost: Default::default(),
            worker_tags: worker_tags.iter().map(|t| t.to_string()).collect(),
            jobs,
        },
        files: BTreeMap::from([("main.tf".to_owned(), format!("# {version}"))]),
        digest: format!("digest-{version}"),
        metadata_text: None,
        created_at: t0(),
        organizations: None,
        deprecated: None,
    }
}

/// Every change notification received so far (without `Resync`, which the
/// PostgreSQL relay sends whenever its listening connection comes up).
pub fn heard(notes: &mut broadcast::Receiver<Notification>) -> Vec<Notification> {
    let mut seen = Vec::new();
    while let Ok(n) = notes.try_recv() {
        if n != Notification::Resync {
            seen.push(n);
        }
    }
    seen
}
