//! The store's contract: every test here runs against SQLite and against
//! PostgreSQL (from `SLIPWAY_TEST_DATABASE_URL`), each in a fresh database.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{TimeDelta, TimeZone, Utc};
use slipway_core::blueprint::BlueprintMetadata;
use slipway_core::event::{EventLevel, NewEvent, kinds};
use slipway_core::job::{Jobs, RunnerKind};
use slipway_core::lifecycle::Ending;
use slipway_core::rules::{
    self, ClusterSnapshot, Context, DeployRequest, NewOperation, OrganizationLoad, Outcome, Plan,
    ScheduleChange,
};
use slipway_core::*;
use slipway_store::*;
use slipway_testkit::database::TestDatabase;
use tokio::sync::broadcast;

/// Runs each contract test once per database.
macro_rules! contract {
    ($($name:ident),+ $(,)?) => {
        $(mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = slipway_testkit::database::TestDatabase::sqlite();
                super::$name(&db).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let db = slipway_testkit::database::TestDatabase::postgres().await;
                super::$name(&db).await;
            }
        })+
    };
}

contract!(
    clusters_are_created_once,
    a_deploy_is_queued_with_its_schedule_in_one_transaction,
    identical_requests_join_and_conflicting_ones_are_refused,
    an_operation_is_leased_run_and_finished,
    only_the_leaseholder_may_finish,
    a_successful_destroy_removes_every_schedule,
    a_failed_scheduled_destroy_stays_scheduled_and_retries,
    reclaim_interrupts_and_queues_a_reconciling_refresh,
    expired_leases_are_reclaimed_and_live_ones_are_not,
    queued_operations_can_be_cancelled,
    events_are_numbered_in_order,
    blueprint_versions_are_immutable,
    api_tokens_are_found_by_hash_and_revoked,
    concurrent_deploys_start_exactly_one_operation,
    concurrent_workers_lease_each_operation_once,
    organizations_bound_the_deploys_of_their_members,
    memberships_users_keys_and_revocations_are_kept,
    terraform_state_is_versioned_locked_and_released_with_its_operation,
    workers_lease_only_what_their_tags_allow,
    runs_go_beside_each_other_and_an_interrupted_terraform_runner_gets_a_cleanup,
    // the store's newer behaviour
    a_lease_carries_its_cluster_blueprint_and_state_credential,
    a_cancel_of_running_work_is_requested_and_of_finished_work_is_too_late,
    reclaim_writes_what_the_caller_decides_and_nothing_else,
    clusters_are_listed_in_pages_with_their_operations_and_schedules,
    apply_answers_the_cluster_as_it_is_after_the_change,
    revocations_list_unexpired_tokens_and_forget_expired_ones,
    a_persons_cluster_tokens_are_revoked_per_cluster_and_only_move_on,
    the_last_administrator_check_decides_inside_the_revocation,
    a_new_bootstrap_token_revokes_only_earlier_bootstrap_tokens,
    users_are_found_by_their_latest_login_which_names_their_memberships,
    queue_depth_counts_queued_and_running_operations,
    operations_are_listed_newest_first_in_pages,
    the_one_active_operation_index_covers_exactly_the_infrastructure_kinds,
    reconciliation_charges_each_hour_once_at_its_effective_figure,
    a_clusters_runtime_directory_is_chosen_once_and_forgotten_when_nothing_is_left,
);

/// The secret hash a lease records unless a test says otherwise.
const HASH: &str = "hash-of-run-secret";

async fn open(db: &TestDatabase) -> Arc<SqlStore> {
    Arc::new(SqlStore::connect(&db.url).await.expect("connect"))
}

fn t0() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap()
}

fn ms(n: i64) -> TimeDelta {
    TimeDelta::milliseconds(n)
}

fn name(n: &str) -> ClusterName {
    ClusterName::parse(n).unwrap()
}

fn org(n: &str) -> OrgName {
    OrgName::parse(n).unwrap()
}

/// The person every test acts as.
fn alice() -> Subject {
    Subject::github(1)
}

fn bob() -> Subject {
    Subject::github(2)
}

fn spec(nodes: u32) -> ClusterSpec {
    ClusterSpec {
        blueprint: BlueprintName::parse("local").unwrap(),
        version: "1.0.0".into(),
        nodes,
        variables: Variables::new(),
    }
}

async fn create(store: &SqlStore, n: &str) -> Cluster {
    create_in(store, n, "research", false).await
}

async fn create_in(store: &SqlStore, n: &str, organization: &str, public: bool) -> Cluster {
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

fn ctx(now: Timestamp) -> Context {
    Context {
        now,
        actor: alice().to_string(),
        level: Level::Admin,
        reason: Reason::User,
        new_operation_id: OperationId::from_uuid(uuid::Uuid::now_v7()),
    }
}

fn intent(action: &str) -> AuditIntent {
    AuditIntent {
        actor: alice().to_string(),
        actor_name: "alice".into(),
        level: "admin".into(),
        action: action.into(),
        quiet: false,
    }
}

/// Decides a change to cluster `n` and applies it (the one place the tests
/// name the store's method).
async fn apply(
    store: &SqlStore,
    n: &ClusterName,
    now: Timestamp,
    intent: &AuditIntent,
    decide: &Decide<'_>,
) -> Result<Applied, StoreError> {
    store.decide(n, now, intent, decide).await
}

async fn deploy(
    store: &SqlStore,
    n: &str,
    req: DeployRequest,
    now: Timestamp,
) -> Result<Applied, StoreError> {
    let c = ctx(now);
    apply(
        store,
        &name(n),
        now,
        &intent("cluster.deploy"),
        &|snap, org| rules::decide_deploy(snap, org, &req, &c),
    )
    .await
}

async fn destroy(store: &SqlStore, n: &str, now: Timestamp) -> Result<Applied, StoreError> {
    let c = ctx(now);
    apply(
        store,
        &name(n),
        now,
        &intent("cluster.destroy"),
        &|snap, _| rules::decide_destroy(snap, &c),
    )
    .await
}

fn enqueued(applied: &Applied) -> OperationId {
    applied
        .plan
        .new_operation()
        .expect("an operation was queued")
        .id
        .clone()
}

async fn snapshot(store: &SqlStore, n: &str) -> ClusterSnapshot {
    store
        .cluster(&name(n))
        .await
        .unwrap()
        .expect("cluster exists")
}

async fn lease(store: &SqlStore, worker: &str, now: Timestamp, secs: u64) -> Option<Lease> {
    store
        .lease_next(worker, &[], now, Duration::from_secs(secs), HASH)
        .await
        .unwrap()
}

async fn run_to_end(store: &SqlStore, worker: &str, ending: Ending, now: Timestamp) -> Operation {
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

fn succeeded() -> Ending {
    Ending::Succeeded {
        outputs: serde_json::Map::from_iter([(
            "endpoint".to_owned(),
            serde_json::json!("http://127.0.0.1:9"),
        )]),
    }
}

/// What follows an interrupted operation, as the server decides it (and as
/// the store used to decide it itself): a reconciling refresh after an
/// infrastructure operation, a cleanup after a run on a Terraform runner —
/// each with a fresh context of Slipway's recovery.
fn recovery(
    now: Timestamp,
) -> impl Fn(&Operation, &ClusterSnapshot, Option<RunnerKind>) -> Option<Plan> + Send + Sync {
    move |op: &Operation, snap: &ClusterSnapshot, runner: Option<RunnerKind>| {
        let ctx = Context {
            now,
            actor: Subject::recovery().to_string(),
            level: Level::Admin,
            reason: Reason::Recovery,
            new_operation_id: OperationId::from_uuid(uuid::Uuid::now_v7()),
        };
        if op.kind.is_infrastructure() {
            Some(rules::decide_reconcile(snap, &ctx))
        } else if op.job.is_some() {
            rules::decide_runner_cleanup(op, runner.unwrap_or_default(), &ctx)
        } else {
            None
        }
    }
}

/// The organization's load as a rule deciding on cluster `n` sees it (a
/// decision that changes nothing).
async fn organization_load(store: &SqlStore, n: &str) -> OrganizationLoad {
    let seen = Mutex::new(None);
    apply(store, &name(n), t0(), &intent("probe"), &|_, load| {
        *seen.lock().unwrap() = Some(load.clone());
        Ok(Plan {
            outcome: Outcome::NotDue,
            schedule: ScheduleChange::Keep,
            withdrawn: Vec::new(),
        })
    })
    .await
    .unwrap();
    seen.into_inner().unwrap().expect("the rule decided")
}

fn blueprint(version: &str, worker_tags: &[&str], jobs: Option<Jobs>) -> BlueprintVersion {
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
        created_at: t0(),
    }
}

/// Every change notification received so far (without `Resync`, which the
/// PostgreSQL relay sends whenever its listening connection comes up).
fn heard(notes: &mut broadcast::Receiver<Notification>) -> Vec<Notification> {
    let mut seen = Vec::new();
    while let Ok(n) = notes.try_recv() {
        if n != Notification::Resync {
            seen.push(n);
        }
    }
    seen
}

async fn clusters_are_created_once(db: &TestDatabase) {
    let store = open(db).await;
    let c = create(&store, "c1").await;
    assert_eq!(c.state, ClusterState::Absent);
    assert_eq!(c.spec, spec(2));
    let again = store
        .create_cluster(NewCluster {
            name: name("c1"),
            organization: org("other"),
            public: true,
            spec: spec(1),
            created_by: bob().to_string(),
            now: t0(),
            limits: None,
        })
        .await;
    assert!(matches!(
        again,
        Err(StoreError::Refused(Refusal::AlreadyExists(_)))
    ));
    create(&store, "c0").await;
    let all = store
        .clusters(&ClusterFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    let names: Vec<_> = all.iter().map(|s| s.cluster.name.to_string()).collect();
    assert_eq!(names, ["c0", "c1"]);
    assert_eq!(all[1].cluster, c, "as created");
    assert!(store.cluster(&name("nope")).await.unwrap().is_none());
}

async fn a_deploy_is_queued_with_its_schedule_in_one_transaction(db: &TestDatabase) {
    let store = open(db).await;
    create(&store, "c1").await;
    let mut notes = store.subscribe();
    let at = t0() + TimeDelta::hours(2);
    let applied = deploy(
        &store,
        "c1",
        DeployRequest {
            nodes: Some(3),
            destroy_at: Some(at),
            ..Default::default()
        },
        t0(),
    )
    .await
    .unwrap();
    let id = enqueued(&applied);

    let snap = snapshot(&store, "c1").await;
    let active = snap.active.expect("operation in flight");
    assert_eq!(active.id, id);
    assert_eq!(active.state, OperationState::Queued);
    assert_eq!(active.kind, OperationKind::Deploy);
    assert_eq!(active.spec.nodes, 3);
    assert_eq!(active.requested_by, alice().as_str());
    assert_eq!(
        snap.cluster.spec.nodes, 3,
        "the deploy's target becomes the spec"
    );
    assert_eq!(snap.cluster.last_operation, Some(id.clone()));
    let schedule = snap.schedule.expect("schedule recorded");
    assert_eq!(schedule.destroy_at, at);
    assert_eq!(schedule.requested_by, alice().as_str());

    let events = store.events(&id, 0, 100).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, kinds::QUEUED);
    assert_eq!(store.next_schedule_due().await.unwrap(), Some(at));

    let seen = heard(&mut notes);
    assert!(seen.contains(&Notification::Queued {
        operation: id.clone(),
        cluster: name("c1"),
    }));
    assert!(seen.contains(&Notification::ScheduleChanged {
        cluster: name("c1")
    }));

    let audit = store
        .audit_log(&AuditQuery {
            target: Some("c1".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].action, "cluster.deploy");
    assert_eq!(audit[0].result, "queued");
    assert_eq!(audit[0].actor, alice().as_str());
    assert_eq!(audit[0].actor_name.as_deref(), Some("alice"));
    assert_eq!(audit[0].detail["operation"], serde_json::json!(id));
    // The audit log finds who acted by subject and by name, not by others.
    for actor in [alice().to_string(), "alice".to_owned()] {
        let by = store
            .audit_log(&AuditQuery {
                actor: Some(actor.clone()),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(by, audit, "{actor}");
    }
    for actor in [bob().to_string(), "bob".to_owned()] {
        let by = store
            .audit_log(&AuditQuery {
                actor: Some(actor.clone()),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(by.is_empty(), "{actor}: {by:?}");
    }
}

async fn identical_requests_join_and_conflicting_ones_are_refused(db: &TestDatabase) {
    let store = open(db).await;
    create(&store, "c1").await;
    let first = enqueued(
        &deploy(&store, "c1", DeployRequest::default(), t0())
            .await
            .unwrap(),
    );
    let again = deploy(&store, "c1", DeployRequest::default(), t0())
        .await
        .unwrap();
    assert_eq!(again.plan.outcome, Outcome::Joined(first.clone()));

    let err = destroy(&store, "c1", t0()).await.unwrap_err();
    match err {
        StoreError::Refused(Refusal::Conflict { operation, .. }) => assert_eq!(operation, first),
        other => panic!("expected a conflict, got {other:?}"),
    }
    let refused = store
        .audit_log(&AuditQuery {
            action: Some("cluster.destroy".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].result, "refused: operation_in_progress");
    assert_eq!(refused[0].actor_name.as_deref(), Some("alice"));
    let ops = store
        .operations(&OperationFilter {
            cluster: Some(name("c1")),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(ops.len(), 1, "refusals and joins start nothing");
}

async fn an_operation_is_leased_run_and_finished(db: &TestDatabase) {
    let store = open(db).await;
    create(&store, "c1").await;
    let id = enqueued(
        &deploy(&store, "c1", DeployRequest::default(), t0())
            .await
            .unwrap(),
    );

    let leased = lease(&store, "w1", t0(), 30).await.expect("queued work");
    let op = &leased.operation;
    assert_eq!(op.id, id);
    assert_eq!(op.state, OperationState::Running);
    assert_eq!(op.started_at, Some(t0()));
    assert_eq!(
        snapshot(&store, "c1").await.cluster.state,
        ClusterState::Deploying
    );
    assert!(
        lease(&store, "w2", t0(), 30).await.is_none(),
        "a running operation is not leased twice"
    );
    assert_eq!(
        store
            .renew_lease(&id, "w1", t0(), Duration::from_secs(60))
            .await
            .unwrap(),
        LeaseStatus::Held
    );

    let later = t0() + TimeDelta::seconds(5);
    let done = store
        .finish(
            &id,
            "w1",
            succeeded(),
            serde_json::json!({"ok": true}),
            later,
        )
        .await
        .unwrap();
    assert_eq!(done.state, OperationState::Succeeded);
    assert_eq!(done.finished_at, Some(later));
    let snap = snapshot(&store, "c1").await;
    assert_eq!(snap.cluster.state, ClusterState::Running);
    assert_eq!(snap.cluster.deployed, Some(spec(2)));
    assert_eq!(snap.cluster.endpoint(), Some("http://127.0.0.1:9"));
    assert!(snap.active.is_none());

    let kinds: Vec<String> = store
        .events(&id, 0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, [kinds::QUEUED, kinds::STARTED, kinds::FINISHED]);

    // deploying a running cluster again has nothing to do
    let again = deploy(&store, "c1", DeployRequest::default(), later)
        .await
        .unwrap();
    assert_eq!(again.plan.outcome, Outcome::AlreadyRunning);
}

async fn only_the_leaseholder_may_finish(db: &TestDatabase) {
    let store = open(db).await;
    create(&store, "c1").await;
    let id = enqueued(
        &deploy(&store, "c1", DeployRequest::default(), t0())
            .await
            .unwrap(),
    );
    lease(&store, "w1", t0(), 30).await.expect("queued work");
    let err = store
        .finish(&id, "w2", succeeded(), serde_json::Value::Null, t0())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::LeaseLost(_)), "{err:?}");
    let err = store
        .renew_lease(&id, "w2", t0(), Duration::from_secs(30))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::LeaseLost(_)), "{err:?}");
    assert_eq!(
        store.operation(&id).await.unwrap().unwrap().state,
        OperationState::Running
    );
}

async fn a_successful_destroy_removes_every_schedule(db: &TestDatabase) {
    let store = open(db).await;
    create(&store, "c1").await;
    let at = t0() + TimeDelta::hours(1);
    deploy(
        &store,
        "c1",
        DeployRequest {
            destroy_at: Some(at),
            ..Default::default()
        },
        t0(),
    )
    .await
    .unwrap();
    run_to_end(&store, "w1", succeeded(), t0()).await;
    enqueued(&destroy(&store, "c1", t0()).await.unwrap());
    assert!(snapshot(&store, "c1").await.schedule.is_some());
    let op = run_to_end(&store, "w1", succeeded(), t0()).await;
    assert_eq!(op.kind, OperationKind::Destroy);
    let snap = snapshot(&store, "c1").await;
    assert_eq!(snap.cluster.state, ClusterState::Absent);
    assert!(snap.schedule.is_none());
    assert!(snap.cluster.outputs.is_empty());
    assert_eq!(store.next_schedule_due().await.unwrap(), None);
}

async fn a_failed_scheduled_destroy_stays_scheduled_and_retries(db: &TestDatabase) {
    let store = open(db).await;
    create(&store, "c1").await;
    let at = t0() + TimeDelta::minutes(10);
    deploy(
        &store,
        "c1",
        DeployRequest {
            destroy_at: Some(at),
            ..Default::default()
        },
        t0(),
    )
    .await
    .unwrap();
    run_to_end(&store, "w1", succeeded(), t0()).await;

    assert!(
        store
            .due_schedules(at - TimeDelta::seconds(1))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.due_schedules(at).await.unwrap(), [name("c1")]);
    let c = Context {
        reason: Reason::Schedule,
        actor: Subject::scheduler().to_string(),
        ..ctx(at)
    };
    let applied = apply(
        &store,
        &name("c1"),
        at,
        &intent("schedule.fire"),
        &|snap, _| Ok(rules::decide_fire_schedule(snap, &c)),
    )
    .await
    .unwrap();
    let fired = applied.plan.new_operation().unwrap().clone();
    assert_eq!(fired.reason, Reason::Schedule);
    assert_eq!(
        applied.snapshot.schedule.unwrap().fired_operation,
        Some(fired.id.clone())
    );
    assert!(
        store.due_schedules(at).await.unwrap().is_empty(),
        "fired once"
    );

    let failed = Ending::Stopped {
        state: OperationState::Failed,
        error: "provisioner exploded".into(),
    };
    run_to_end(&store, "w1", failed, at).await;
    let snap = snapshot(&store, "c1").await;
    assert_eq!(snap.cluster.state, ClusterState::Failed);
    assert!(
        snap.cluster
            .error
            .as_deref()
            .unwrap()
            .contains("provisioner exploded")
    );
    let schedule = snap.schedule.expect("the schedule is not dropped");
    assert_eq!(schedule.failed_attempts, 1);
    assert_eq!(schedule.retry_at, Some(at + TimeDelta::minutes(1)));
    assert_eq!(
        store.next_schedule_due().await.unwrap(),
        Some(at + TimeDelta::minutes(1))
    );
}

async fn reclaim_interrupts_and_queues_a_reconciling_refresh(db: &TestDatabase) {
    let store = open(db).await;
    create(&store, "c1").await;
    let id = enqueued(
        &deploy(&store, "c1", DeployRequest::default(), t0())
            .await
            .unwrap(),
    );
    lease(&store, "w1", t0(), 3600).await.expect("queued work");

    let reclaimed = store
        .reclaim(ReclaimScope::AllRunning, t0(), &recovery(t0()))
        .await
        .unwrap();
    assert_eq!(reclaimed.len(), 1);
    assert_eq!(reclaimed[0].id, id);
    assert_eq!(reclaimed[0].state, OperationState::Interrupted);
    let last = store.events(&id, 0, 100).await.unwrap().pop().unwrap();
    assert_eq!(last.kind, kinds::FINISHED);
    assert!(last.message.contains("interrupted"), "{}", last.message);

    let snap = snapshot(&store, "c1").await;
    assert_eq!(snap.cluster.state, ClusterState::Failed);
    let refresh = snap.active.expect("a refresh is queued");
    assert_eq!(refresh.kind, OperationKind::Refresh);
    assert_eq!(refresh.reason, Reason::Recovery);
    assert_eq!(refresh.requested_by, Subject::recovery().as_str());
    assert!(
        store
            .reclaim(ReclaimScope::AllRunning, t0(), &recovery(t0()))
            .await
            .unwrap()
            .is_empty()
    );

    // the refresh observes what Terraform's state holds
    let observed = Ending::Observed {
        resources: 0,
        converged: false,
        outputs: Default::default(),
    };
    run_to_end(&store, "w1", observed, t0()).await;
    assert_eq!(
        snapshot(&store, "c1").await.cluster.state,
        ClusterState::Absent
    );
}

async fn expired_leases_are_reclaimed_and_live_ones_are_not(db: &TestDatabase) {
    let store = open(db).await;
    create(&store, "c1").await;
    create(&store, "c2").await;
    deploy(&store, "c1", DeployRequest::default(), t0())
        .await
        .unwrap();
    deploy(&store, "c2", DeployRequest::default(), t0() + ms(1))
        .await
        .unwrap();
    let short = lease(&store, "w1", t0(), 10).await.unwrap().operation;
    let long = lease(&store, "w2", t0(), 100).await.unwrap().operation;
    let later = t0() + TimeDelta::seconds(30);
    let reclaimed = store
        .reclaim(ReclaimScope::ExpiredLeases, later, &recovery(later))
        .await
        .unwrap();
    let ids: Vec<&OperationId> = reclaimed.iter().map(|o| &o.id).collect();
    assert_eq!(ids, [&short.id]);
    assert_eq!(
        store.operation(&long.id).await.unwrap().unwrap().state,
        OperationState::Running
    );
    let err = store
        .finish(&short.id, "w1", succeeded(), serde_json::Value::Null, later)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::LeaseLost(_)));
    let err = store
        .renew_lease(&short.id, "w1", later, Duration::from_secs(10))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::LeaseLost(_)));
}

async fn queued_operations_can_be_cancelled(db: &TestDatabase) {
    let store = open(db).await;
    create(&store, "c1").await;
    let id = enqueued(
        &deploy(&store, "c1", DeployRequest::default(), t0())
            .await
            .unwrap(),
    );
    let mut notes = store.subscribe();
    let at = t0() + TimeDelta::seconds(1);
    let op = match store.request_cancel(&id, &bob(), at).await.unwrap() {
        CancelOutcome::Cancelled(op) => op,
        other => panic!("a queued operation is cancelled at once, got {other:?}"),
    };
    assert_eq!(op.id, id);
    assert_eq!(op.state, OperationState::Cancelled);
    assert_eq!(op.finished_at, Some(at));
    assert_eq!(store.operation(&id).await.unwrap(), Some(op));
    let snap = snapshot(&store, "c1").await;
    assert!(snap.active.is_none());
    assert_eq!(snap.cluster.state, ClusterState::Absent);
    assert!(lease(&store, "w1", t0(), 5).await.is_none());
    let seen = heard(&mut notes);
    assert!(seen.contains(&Notification::Finished {
        operation: id.clone(),
        cluster: name("c1"),
    }));
    assert!(
        !seen.contains(&Notification::CancelRequested {
            operation: id.clone()
        }),
        "no worker has anything to stop"
    );
    let last = store.events(&id, 0, 100).await.unwrap().pop().unwrap();
    assert_eq!(last.kind, kinds::FINISHED);
}

async fn events_are_numbered_in_order(db: &TestDatabase) {
    let store = open(db).await;
    create(&store, "c1").await;
    let id = enqueued(
        &deploy(&store, "c1", DeployRequest::default(), t0())
            .await
            .unwrap(),
    );
    let batch: Vec<NewEvent> = (0..5)
        .map(|i| NewEvent {
            at: t0(),
            kind: "log".into(),
            level: EventLevel::Info,
            message: format!("line {i}"),
            data: serde_json::json!({"i": i}),
        })
        .collect();
    assert_eq!(store.append_events(&id, &batch).await.unwrap(), 6);
    assert_eq!(store.append_events(&id, &batch[..2]).await.unwrap(), 8);
    assert_eq!(store.append_events(&id, &[]).await.unwrap(), 8);
    let after = store.events(&id, 3, 3).await.unwrap();
    assert_eq!(after.iter().map(|e| e.seq).collect::<Vec<_>>(), [4, 5, 6]);
    assert_eq!(after[0].message, "line 2");
    assert_eq!(after[0].data["i"], 2);
}

async fn blueprint_versions_are_immutable(db: &TestDatabase) {
    let store = open(db).await;
    let version = |v: &str, digest: &str, at: Timestamp| BlueprintVersion {
        blueprint: "local".into(),
        version: v.into(),
        metadata: BlueprintMetadata {
            name: "local".into(),
            description: "processes on this machine".into(),
            nodes: Default::default(),
            variables: BTreeMap::new(),
            cost: Default::default(),
            worker_tags: Vec::new(),
            jobs: None,
        },
        files: BTreeMap::from([("main.tf".to_owned(), format!("# {digest}"))]),
        digest: digest.into(),
        created_at: at,
    };
    let v1 = version("1.0.0", "aaa", t0());
    assert_eq!(
        store.register_blueprint_version(v1.clone()).await.unwrap(),
        Registered::Created
    );
    assert_eq!(
        store.register_blueprint_version(v1.clone()).await.unwrap(),
        Registered::Unchanged
    );
    assert_eq!(
        store
            .register_blueprint_version(version("1.0.0", "bbb", t0()))
            .await
            .unwrap(),
        Registered::Differs {
            stored_digest: "aaa".into()
        }
    );
    store
        .register_blueprint_version(version("1.1.0", "ccc", t0() + TimeDelta::seconds(1)))
        .await
        .unwrap();
    assert_eq!(
        store.blueprint_version("local", "1.0.0").await.unwrap(),
        Some(v1)
    );
    let latest = store
        .blueprint_version("local", "latest")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(latest.version, "1.1.0");
    assert!(
        store
            .blueprint_version("local", "9")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(store.blueprint_versions().await.unwrap().len(), 2);
}

/// A last-administrator check that allows every revocation.
fn allow(_: &AdminCandidate, _: &[AdminCandidate]) -> Result<(), Refusal> {
    Ok(())
}

async fn api_tokens_are_found_by_hash_and_revoked(db: &TestDatabase) {
    let store = open(db).await;
    let token = store
        .create_api_token(NewApiToken {
            id: "tok_1".into(),
            name: "ci".into(),
            owner: alice(),
            secret_hash: "hash-of-secret".into(),
            scopes: vec!["clusters:write".into()],
            created_at: t0(),
            expires_at: Some(t0() + TimeDelta::days(1)),
        })
        .await
        .unwrap();
    assert_eq!(token.owner, alice());
    let found = store
        .api_token_by_hash("hash-of-secret")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, token);
    assert_eq!(store.api_token("tok_1").await.unwrap(), Some(token.clone()));
    assert!(store.api_token("tok_404").await.unwrap().is_none());
    assert!(found.is_valid_at(t0()));
    assert!(!found.is_valid_at(t0() + TimeDelta::days(2)));
    assert!(store.api_token_by_hash("other").await.unwrap().is_none());
    assert!(store.revoke_api_token("tok_1", t0(), &allow).await.unwrap());
    assert!(
        !store
            .revoke_api_token("tok_404", t0(), &allow)
            .await
            .unwrap()
    );
    // Revoked again: it stays as it was, and the check is not asked.
    let refuse = |_: &AdminCandidate, _: &[AdminCandidate]| -> Result<(), Refusal> {
        panic!("an already revoked token is not checked")
    };
    assert!(
        store
            .revoke_api_token("tok_1", t0() + TimeDelta::hours(1), &refuse)
            .await
            .unwrap()
    );
    let revoked = store
        .api_token_by_hash("hash-of-secret")
        .await
        .unwrap()
        .unwrap();
    assert!(!revoked.is_valid_at(t0()));
    assert_eq!(revoked.revoked_at, Some(t0()));
    assert_eq!(store.api_token("tok_1").await.unwrap(), Some(revoked));
    assert_eq!(store.api_tokens().await.unwrap().len(), 1);

    // Slipway's own identities own tokens too.
    store
        .create_api_token(NewApiToken {
            id: "tok_0".into(),
            name: "bootstrap".into(),
            owner: Subject::bootstrap(),
            secret_hash: "hash-of-bootstrap".into(),
            scopes: Vec::new(),
            created_at: t0(),
            expires_at: None,
        })
        .await
        .unwrap();
    assert_eq!(
        store.api_token("tok_0").await.unwrap().unwrap().owner,
        Subject::bootstrap()
    );
}

async fn concurrent_deploys_start_exactly_one_operation(db: &TestDatabase) {
    let store = open(db).await;
    create(&store, "c1").await;
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                if i % 2 == 0 {
                    deploy(&store, "c1", DeployRequest::default(), t0()).await
                } else {
                    destroy(&store, "c1", t0()).await
                }
            })
        })
        .collect();
    let mut started = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(applied) if applied.plan.new_operation().is_some() => started += 1,
            Ok(_) | Err(StoreError::Refused(_)) => {}
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!(started, 1);
    let ops = store
        .operations(&OperationFilter {
            cluster: Some(name("c1")),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(ops.len(), 1);
}

async fn concurrent_workers_lease_each_operation_once(db: &TestDatabase) {
    let store = open(db).await;
    for i in 0..12 {
        let n = format!("c{i}");
        create(&store, &n).await;
        deploy(&store, &n, DeployRequest::default(), t0())
            .await
            .unwrap();
    }
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                let worker = format!("w{w}");
                let mut mine = Vec::new();
                while let Some(leased) = lease(&store, &worker, t0(), 30).await {
                    let id = leased.operation.id;
                    store
                        .finish(&id, &worker, succeeded(), serde_json::Value::Null, t0())
                        .await
                        .unwrap();
                    mine.push(id);
                }
                mine
            })
        })
        .collect();
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap());
    }
    all.sort();
    let before = all.len();
    all.dedup();
    assert_eq!(before, 12);
    assert_eq!(all.len(), 12, "no operation ran twice");
}

async fn organizations_bound_the_deploys_of_their_members(db: &TestDatabase) {
    let store = open(db).await;
    let research = org("research");
    let limits = Limits {
        max_clusters: 1,
        ..Limits::default()
    };
    store
        .create_organization(Organization {
            name: research.clone(),
            github_org: Some("uw-research".into()),
            github_team: None,
            limits,
            destroy_when_idle: false,
            created_at: t0(),
            updated_at: t0(),
        })
        .await
        .unwrap();
    let again = store
        .create_organization(Organization {
            name: research.clone(),
            github_org: None,
            github_team: None,
            limits,
            destroy_when_idle: false,
            created_at: t0(),
            updated_at: t0(),
        })
        .await;
    assert!(matches!(
        again,
        Err(StoreError::Refused(Refusal::AlreadyExists(_)))
    ));
    assert!(store.organization(&org("default")).await.unwrap().is_some());

    create(&store, "c1").await;
    create(&store, "c2").await;
    let member = |now| Context {
        level: Level::OrgMember,
        ..ctx(now)
    };
    let req = DeployRequest {
        destroy_at: Some(t0() + TimeDelta::hours(1)),
        ..Default::default()
    };
    // The load each member's deploy was decided on.
    let seen: Arc<Mutex<Vec<(&'static str, OrganizationLoad)>>> = Arc::default();
    let deploy_as_member = |n: &'static str| {
        let store = store.clone();
        let req = req.clone();
        let seen = seen.clone();
        async move {
            let c = member(t0());
            apply(
                &store,
                &name(n),
                t0(),
                &intent("cluster.deploy"),
                &|snap, load| {
                    seen.lock().unwrap().push((n, load.clone()));
                    rules::decide_deploy(snap, load, &req, &c)
                },
            )
            .await
        }
    };
    let load = organization_load(&store, "c2").await;
    assert_eq!(load.limits.max_clusters, 1);
    assert_eq!(load.deployed_elsewhere, 0);
    deploy_as_member("c1").await.unwrap();
    // c1's deploy is queued, not yet running: it already counts
    assert_eq!(organization_load(&store, "c2").await.deployed_elsewhere, 1);
    assert_eq!(
        organization_load(&store, "c1").await.deployed_elsewhere,
        0,
        "a cluster does not count against itself"
    );
    match deploy_as_member("c2").await {
        Err(StoreError::Refused(Refusal::OverLimit { limit, .. })) => {
            assert_eq!(limit, "max_clusters")
        }
        other => panic!("expected the cluster limit, got {other:?}"),
    }
    assert!(
        snapshot(&store, "c2").await.active.is_none(),
        "a refusal starts nothing"
    );

    let raised = Organization {
        limits: Limits {
            max_clusters: 2,
            ..limits
        },
        updated_at: t0(),
        ..store.organization(&research).await.unwrap().unwrap()
    };
    store.update_organization(raised).await.unwrap();
    deploy_as_member("c2").await.unwrap();

    let seen = seen.lock().unwrap().clone();
    let at_most = |max_clusters| Limits {
        max_clusters,
        ..limits
    };
    assert_eq!(
        seen,
        [
            (
                "c1",
                OrganizationLoad {
                    limits: at_most(1),
                    deployed_elsewhere: 0,
                    budget: None,
                }
            ),
            (
                "c2",
                OrganizationLoad {
                    limits: at_most(1),
                    deployed_elsewhere: 1,
                    budget: None,
                }
            ),
            (
                "c2",
                OrganizationLoad {
                    limits: at_most(2),
                    deployed_elsewhere: 1,
                    budget: None,
                }
            ),
        ]
    );
}

async fn memberships_users_keys_and_revocations_are_kept(db: &TestDatabase) {
    let store = open(db).await;
    let research = org("default");
    let request = Membership {
        organization: research.clone(),
        subject: bob(),
        name: Some("ignored when written".into()),
        role: MembershipRole::Member,
        state: MembershipState::Requested,
        requested_at: t0(),
        decided_by: None,
        decided_at: None,
    };
    store.put_membership(request.clone()).await.unwrap();
    let approved = Membership {
        state: MembershipState::Approved,
        decided_by: Some(alice().to_string()),
        decided_at: Some(t0()),
        ..request
    };
    store.put_membership(approved.clone()).await.unwrap();
    // Nobody with that subject signed in yet: no name to show.
    let read = Membership {
        name: None,
        ..approved.clone()
    };
    assert_eq!(
        store.membership(&research, &bob()).await.unwrap(),
        Some(read.clone())
    );
    assert!(
        store
            .membership(&research, &alice())
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store.memberships(&research).await.unwrap(),
        std::slice::from_ref(&read)
    );
    assert_eq!(store.memberships_of(&bob()).await.unwrap(), [read]);
    assert!(
        store
            .remove_membership(&research, &bob(), None)
            .await
            .unwrap()
    );
    assert!(
        !store
            .remove_membership(&research, &bob(), None)
            .await
            .unwrap()
    );
    assert!(store.memberships_of(&bob()).await.unwrap().is_empty());

    let user = User {
        subject: bob(),
        login: "bob".into(),
        github_id: 2,
        github_token: Some(vec![1, 2, 3]),
        admin: false,
        github_orgs: vec![research.clone()],
        checked_at: t0(),
        created_at: t0(),
    };
    store.put_user(user.clone()).await.unwrap();
    let later = User {
        admin: true,
        checked_at: t0() + TimeDelta::minutes(5),
        ..user.clone()
    };
    store.put_user(later.clone()).await.unwrap();
    assert_eq!(store.user(&bob()).await.unwrap(), Some(later));
    assert!(store.user(&Subject::github(404)).await.unwrap().is_none());

    let key = |kid: &str, at| StoredSigningKey {
        kid: kid.into(),
        public_key: vec![7; 32],
        private_key: vec![9; 60],
        created_at: at,
        retired_at: None,
    };
    store.rotate_signing_key(key("k1", t0())).await.unwrap();
    store
        .rotate_signing_key(key("k2", t0() + TimeDelta::hours(1)))
        .await
        .unwrap();
    let keys = store.signing_keys().await.unwrap();
    assert_eq!(keys[0].kid, "k2");
    assert_eq!(keys[0].retired_at, None);
    assert_eq!(keys[1].retired_at, Some(t0() + TimeDelta::hours(1)));
    assert_eq!(keys[1].private_key, vec![9; 60]);

    let expires = t0() + TimeDelta::hours(1);
    for _ in 0..2 {
        store
            .revoke_token("jti-1", expires, t0(), RefusedBy::Everyone)
            .await
            .unwrap();
    }
    assert!(store.token_revoked("jti-1").await.unwrap());
    assert!(!store.token_revoked("jti-2").await.unwrap());

    store
        .put_login_state("st", b"secret", t0() + TimeDelta::minutes(10))
        .await
        .unwrap();
    assert_eq!(
        store.take_login_state("st", t0()).await.unwrap().as_deref(),
        Some(&b"secret"[..])
    );
    assert!(
        store.take_login_state("st", t0()).await.unwrap().is_none(),
        "single use"
    );
    store
        .put_login_state("old", b"x", t0() + TimeDelta::minutes(10))
        .await
        .unwrap();
    assert!(
        store
            .take_login_state("old", t0() + TimeDelta::minutes(11))
            .await
            .unwrap()
            .is_none(),
        "expired"
    );
}

async fn terraform_state_is_versioned_locked_and_released_with_its_operation(db: &TestDatabase) {
    let store = open(db).await;
    create(&store, "c1").await;
    let op = enqueued(
        &deploy(&store, "c1", DeployRequest::default(), t0())
            .await
            .unwrap(),
    );
    assert!(
        store.live_run_credential(&op).await.unwrap().is_none(),
        "queued, not running"
    );
    let leased = store
        .lease_next("w1", &[], t0(), Duration::from_secs(30), "h")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(leased.state_key, "c1");
    let credential = RunCredential {
        operation: op.clone(),
        state_key: "c1".into(),
        secret_hash: "h".into(),
    };
    assert_eq!(
        store.live_run_credential(&op).await.unwrap(),
        Some(credential)
    );

    assert!(store.latest_state("c1").await.unwrap().is_none());
    let lock = |id: &str| StateLock {
        state_key: "c1".into(),
        lock_id: id.into(),
        operation: op.clone(),
        info: serde_json::json!({"ID": id, "Operation": "OperationTypeApply"}),
        created_at: t0(),
    };
    store.lock_state(lock("L1")).await.unwrap().unwrap();
    let held = store.lock_state(lock("L2")).await.unwrap().unwrap_err();
    assert_eq!(held.lock_id, "L1");
    assert_eq!(held.info["Operation"], "OperationTypeApply");
    assert_eq!(
        store
            .write_state("c1", &op, Some("L2"), b"v?".to_vec(), t0())
            .await
            .unwrap()
            .unwrap_err()
            .lock_id,
        "L1"
    );
    assert_eq!(
        store
            .write_state("c1", &op, Some("L1"), b"v1".to_vec(), t0())
            .await
            .unwrap(),
        Ok(1)
    );
    assert_eq!(
        store
            .write_state("c1", &op, Some("L1"), b"v2".to_vec(), t0())
            .await
            .unwrap(),
        Ok(2)
    );
    let latest = store.latest_state("c1").await.unwrap().unwrap();
    assert_eq!((latest.serial, latest.data.as_slice()), (2, &b"v2"[..]));
    assert_eq!(latest.operation, op);
    assert_eq!(store.state_history("c1").await.unwrap().len(), 2);
    assert!(
        store.unlock_state("c1", "L2").await.unwrap().is_err(),
        "not the holder"
    );

    // The lock and the credential go with the operation, even if Terraform
    // never unlocked (it was killed).
    store
        .finish(&op, "w1", succeeded(), serde_json::Value::Null, t0())
        .await
        .unwrap();
    store.lock_state(lock("L3")).await.unwrap().unwrap();
    assert!(store.live_run_credential(&op).await.unwrap().is_none());
    assert_eq!(store.unlock_state("c1", "L3").await.unwrap(), Ok(()));
    assert_eq!(
        store.unlock_state("c1", "L3").await.unwrap(),
        Ok(()),
        "unlocking twice is fine"
    );
    assert_eq!(
        store
            .write_state("c1", &op, None, b"v3".to_vec(), t0())
            .await
            .unwrap(),
        Ok(3)
    );
}

/// Two processes on one PostgreSQL database hear each other's changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_notifications_reach_other_processes() {
    let db = TestDatabase::postgres().await;
    let a = open(&db).await;
    let b = open(&db).await;
    let mut heard = b.subscribe();
    // b's listener is connected once it says so.
    loop {
        if heard.recv().await.unwrap() == Notification::Resync {
            break;
        }
    }
    create(&a, "c1").await;
    let id = enqueued(
        &deploy(&a, "c1", DeployRequest::default(), t0())
            .await
            .unwrap(),
    );
    let queued = loop {
        match tokio::time::timeout(Duration::from_secs(30), heard.recv()).await {
            Ok(Ok(Notification::Queued { operation, cluster })) => break (operation, cluster),
            Ok(Ok(_)) => continue,
            other => panic!("no notification from the other process: {other:?}"),
        }
    };
    assert_eq!(queued, (id, name("c1")));
}

async fn workers_lease_only_what_their_tags_allow(db: &TestDatabase) {
    let store = open(db).await;
    store
        .register_blueprint_version(blueprint("1.0.0", &["aws", "us-west-2"], None))
        .await
        .unwrap();
    create(&store, "c1").await;
    let id = enqueued(
        &deploy(&store, "c1", DeployRequest::default(), t0())
            .await
            .unwrap(),
    );
    let lease = |tags: &'static [&'static str]| {
        let store = store.clone();
        async move {
            let tags: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
            store
                .lease_next("w", &tags, t0(), Duration::from_secs(30), HASH)
                .await
                .unwrap()
        }
    };
    assert!(lease(&[]).await.is_none());
    assert!(lease(&["aws"]).await.is_none());
    assert!(
        store.live_run_credential(&id).await.unwrap().is_none(),
        "no lease, no credential"
    );
    assert_eq!(
        lease(&["us-west-2", "aws", "gpu"])
            .await
            .map(|l| l.operation.id),
        Some(id)
    );
}

async fn runs_go_beside_each_other_and_an_interrupted_terraform_runner_gets_a_cleanup(
    db: &TestDatabase,
) {
    use slipway_core::JobVersion;
    let store = open(db).await;
    let jobs: Jobs = toml::from_str(
        r#"
        repository = "file:///srv/project.git"
        runner = "terraform"
        [[suites]]
        name = "smoke"
        command = "true"
        timeout = "1m"
        "#,
    )
    .unwrap();
    assert_eq!(jobs.runner, RunnerKind::Terraform);
    store
        .register_blueprint_version(blueprint("1.0.0", &[], Some(jobs)))
        .await
        .unwrap();
    create(&store, "c1").await;
    let deployed = enqueued(
        &deploy(&store, "c1", DeployRequest::default(), t0())
            .await
            .unwrap(),
    );
    let leased = lease(&store, "w", t0(), 30).await.unwrap();
    assert_eq!(leased.operation.id, deployed);
    store
        .finish(&deployed, "w", succeeded(), serde_json::Value::Null, t0())
        .await
        .unwrap();

    // Two runs at once, beside the cluster's own operations.
    let run = |kind: OperationKind| {
        let store = store.clone();
        async move {
            let c = ctx(t0());
            enqueued(
                &apply(
                    &store,
                    &name("c1"),
                    t0(),
                    &intent("cluster.test"),
                    &|snap, _| rules::decide_job(snap, kind, JobVersion::parse("v1").unwrap(), &c),
                )
                .await
                .unwrap(),
            )
        }
    };
    let first = run(OperationKind::Test).await;
    let second = run(OperationKind::Release).await;
    assert_ne!(first, second);
    let snap = snapshot(&store, "c1").await;
    assert_eq!(snap.active, None, "runs are not infrastructure operations");
    assert_eq!(snap.cluster.last_operation, Some(deployed.clone()));
    // A destroy is not held up by runs (`enqueued` asserts it was queued).
    enqueued(&destroy(&store, "c1", t0()).await.unwrap());

    // The first run ends with results; the second is interrupted.
    let leased = lease(&store, "w", t0(), 30).await.unwrap();
    assert_eq!(leased.operation.id, first);
    assert_eq!(leased.operation.job.as_ref().unwrap().runner, first);
    // A run reaches its runner's state, not the cluster's, and leaves the
    // cluster as it is.
    assert_eq!(leased.state_key, format!("runner/{first}"));
    assert_eq!(leased.cluster.state, ClusterState::Running);
    assert_eq!(
        store.live_run_credential(&first).await.unwrap(),
        Some(RunCredential {
            operation: first.clone(),
            state_key: format!("runner/{first}"),
            secret_hash: HASH.into(),
        })
    );
    let results = serde_json::json!({"passed": true, "steps": [{"name": "smoke", "outcome": "passed", "exit_code": 0, "duration_ms": 5}]});
    store
        .finish(&first, "w", succeeded(), results.clone(), t0())
        .await
        .unwrap();
    let leased = lease(&store, "w", t0(), 30).await.unwrap();
    assert_eq!(leased.operation.id, second);
    let runners = Mutex::new(Vec::new());
    let recover = recovery(t0());
    store
        .reclaim(ReclaimScope::AllRunning, t0(), &|op: &Operation,
                                                   snap: &ClusterSnapshot,
                                                   runner: Option<
            RunnerKind,
        >| {
            runners.lock().unwrap().push((op.id.clone(), runner));
            recover(op, snap, runner)
        })
        .await
        .unwrap();
    assert_eq!(
        runners.into_inner().unwrap(),
        [(second.clone(), Some(RunnerKind::Terraform))],
        "the caller learns the interrupted run's runner"
    );

    let runs = store.runs(Some(&name("c1")), 10).await.unwrap();
    let by_id: BTreeMap<_, _> = runs.iter().map(|r| (r.operation.id.clone(), r)).collect();
    assert_eq!(by_id.len(), 2, "only runs are listed");
    assert_eq!(by_id[&first].result, Some(results.clone()));
    assert_eq!(by_id[&second].operation.state, OperationState::Interrupted);
    assert_eq!(store.operation_result(&first).await.unwrap(), Some(results));

    // The interrupted run's Terraform runner gets a cleanup, for its runner.
    let ops = store
        .operations(&OperationFilter {
            cluster: Some(name("c1")),
            active_only: true,
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let cleanups: Vec<&Operation> = ops
        .iter()
        .filter(|o| o.kind == OperationKind::Cleanup)
        .collect();
    assert_eq!(cleanups.len(), 1, "{ops:?}");
    assert_eq!(cleanups[0].reason, Reason::Recovery);
    assert_eq!(cleanups[0].requested_by, Subject::recovery().as_str());
    assert_eq!(cleanups[0].job.as_ref().unwrap().runner, second);
}

async fn a_lease_carries_its_cluster_blueprint_and_state_credential(db: &TestDatabase) {
    let store = open(db).await;
    let registered = blueprint("1.0.0", &[], None);
    store
        .register_blueprint_version(registered.clone())
        .await
        .unwrap();
    create(&store, "c1").await;
    create(&store, "c2").await;
    let id = enqueued(
        &deploy(&store, "c1", DeployRequest::default(), t0())
            .await
            .unwrap(),
    );
    // c2 deploys a version nobody registered.
    let unregistered = enqueued(
        &deploy(
            &store,
            "c2",
            DeployRequest {
                version: Some("9.9.9".into()),
                ..Default::default()
            },
            t0() + ms(1),
        )
        .await
        .unwrap(),
    );
    assert!(store.live_run_credential(&id).await.unwrap().is_none());

    let mut notes = store.subscribe();
    let at = t0() + TimeDelta::seconds(1);
    let leased = store
        .lease_next("w1", &[], at, Duration::from_secs(30), "hash-1")
        .await
        .unwrap()
        .expect("queued work");
    // The operation, running, as stored.
    assert_eq!(leased.operation.id, id);
    assert_eq!(leased.operation.state, OperationState::Running);
    assert_eq!(leased.operation.started_at, Some(at));
    assert_eq!(
        store.operation(&id).await.unwrap().as_ref(),
        Some(&leased.operation)
    );
    // Its cluster, in the state the run moved it into, as stored.
    assert_eq!(leased.cluster.name, name("c1"));
    assert_eq!(leased.cluster.state, ClusterState::Deploying);
    assert_eq!(leased.cluster.updated_at, at);
    assert_eq!(leased.cluster.last_operation, Some(id.clone()));
    assert_eq!(leased.cluster, snapshot(&store, "c1").await.cluster);
    // The blueprint version it runs, files and all.
    assert_eq!(leased.blueprint, Some(registered));
    // The state it reaches, with the credential recorded for it.
    assert_eq!(leased.state_key, "c1");
    assert_eq!(leased.state_key, leased.operation.state_key());
    assert_eq!(
        store.live_run_credential(&id).await.unwrap(),
        Some(RunCredential {
            operation: id.clone(),
            state_key: "c1".into(),
            secret_hash: "hash-1".into(),
        })
    );
    let seen = heard(&mut notes);
    assert!(seen.contains(&Notification::Started {
        operation: id.clone(),
        cluster: name("c1"),
    }));
    assert!(
        store
            .live_run_credential(&unregistered)
            .await
            .unwrap()
            .is_none(),
        "nothing recorded for what was not leased"
    );

    // A version nobody registered is leased without one: its run fails
    // saying so.
    let other = store
        .lease_next("w2", &[], at, Duration::from_secs(30), "hash-2")
        .await
        .unwrap()
        .expect("queued work");
    assert_eq!(other.operation.id, unregistered);
    assert_eq!(other.blueprint, None);
    assert_eq!(other.cluster.name, name("c2"));
    assert_eq!(other.cluster.state, ClusterState::Deploying);
    assert_eq!(other.state_key, "c2");
    assert_eq!(
        store
            .live_run_credential(&unregistered)
            .await
            .unwrap()
            .map(|c| (c.state_key, c.secret_hash)),
        Some(("c2".to_owned(), "hash-2".to_owned()))
    );
    assert_eq!(
        store
            .live_run_credential(&id)
            .await
            .unwrap()
            .unwrap()
            .secret_hash,
        "hash-1",
        "each run has its own"
    );
    assert!(lease(&store, "w3", at, 30).await.is_none());
}

async fn a_cancel_of_running_work_is_requested_and_of_finished_work_is_too_late(db: &TestDatabase) {
    let store = open(db).await;
    create(&store, "c1").await;
    let id = enqueued(
        &deploy(&store, "c1", DeployRequest::default(), t0())
            .await
            .unwrap(),
    );
    lease(&store, "w1", t0(), 30).await.expect("queued work");
    assert_eq!(
        store
            .renew_lease(&id, "w1", t0(), Duration::from_secs(30))
            .await
            .unwrap(),
        LeaseStatus::Held
    );

    let mut notes = store.subscribe();
    let at = t0() + TimeDelta::seconds(5);
    let op = match store.request_cancel(&id, &alice(), at).await.unwrap() {
        CancelOutcome::Requested(op) => op,
        other => panic!("a running operation's cancel is requested, got {other:?}"),
    };
    assert_eq!(op.id, id);
    assert_eq!(op.state, OperationState::Running);
    // It runs on until its worker stops it.
    assert_eq!(
        store.operation(&id).await.unwrap().unwrap().state,
        OperationState::Running
    );
    assert_eq!(
        snapshot(&store, "c1").await.cluster.state,
        ClusterState::Deploying
    );
    let seen = heard(&mut notes);
    assert!(
        seen.contains(&Notification::CancelRequested {
            operation: id.clone()
        }),
        "{seen:?}"
    );
    assert!(
        !seen
            .iter()
            .any(|n| matches!(n, Notification::Finished { .. }))
    );
    let last = store.events(&id, 0, 100).await.unwrap().pop().unwrap();
    assert_eq!(last.kind, kinds::CANCEL_REQUESTED);
    assert_eq!(last.at, at);
    assert_eq!(last.data["by"], alice().as_str());

    // The worker learns of it when it renews its lease, which still holds.
    let later = at + TimeDelta::seconds(5);
    assert_eq!(
        store
            .renew_lease(&id, "w1", later, Duration::from_secs(30))
            .await
            .unwrap(),
        LeaseStatus::CancelRequested {
            by: alice().to_string()
        }
    );
    let err = store
        .renew_lease(&id, "w2", later, Duration::from_secs(30))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::LeaseLost(_)), "{err:?}");
    // The lease was extended: it has not expired at its old end.
    assert!(
        store
            .reclaim(
                ReclaimScope::ExpiredLeases,
                t0() + TimeDelta::seconds(31),
                &|_: &Operation, _: &ClusterSnapshot, _: Option<RunnerKind>| None
            )
            .await
            .unwrap()
            .is_empty()
    );

    // Asking again changes nothing: the first request stands.
    assert!(matches!(
        store.request_cancel(&id, &bob(), later).await.unwrap(),
        CancelOutcome::Requested(_)
    ));
    assert_eq!(
        store
            .renew_lease(&id, "w1", later, Duration::from_secs(30))
            .await
            .unwrap(),
        LeaseStatus::CancelRequested {
            by: alice().to_string()
        }
    );

    // The worker stops the run; after that a cancel is too late.
    let stopped = Ending::Stopped {
        state: OperationState::Cancelled,
        error: "cancelled".into(),
    };
    let ended = store
        .finish(&id, "w1", stopped, serde_json::Value::Null, later)
        .await
        .unwrap();
    assert_eq!(ended.state, OperationState::Cancelled);
    let mut notes = store.subscribe();
    match store.request_cancel(&id, &bob(), later).await.unwrap() {
        CancelOutcome::AlreadyOver(op) => assert_eq!(op, ended),
        other => panic!("an ended operation cannot be cancelled, got {other:?}"),
    }
    assert!(heard(&mut notes).is_empty(), "nothing changed");
    assert_eq!(
        store.events(&id, 0, 100).await.unwrap().pop().unwrap().kind,
        kinds::FINISHED
    );

    // The same for one that succeeded.
    create(&store, "c2").await;
    deploy(&store, "c2", DeployRequest::default(), later)
        .await
        .unwrap();
    let done = run_to_end(&store, "w1", succeeded(), later).await;
    match store
        .request_cancel(&done.id, &alice(), later)
        .await
        .unwrap()
    {
        CancelOutcome::AlreadyOver(op) => {
            assert_eq!(op.state, OperationState::Succeeded);
            assert_eq!(op, done);
        }
        other => panic!("an ended operation cannot be cancelled, got {other:?}"),
    }

    let unknown = OperationId::from_uuid(uuid::Uuid::now_v7());
    assert!(matches!(
        store.request_cancel(&unknown, &alice(), later).await,
        Err(StoreError::OperationNotFound(_))
    ));
}

async fn reclaim_writes_what_the_caller_decides_and_nothing_else(db: &TestDatabase) {
    let store = open(db).await;
    create(&store, "c1").await;
    create(&store, "c2").await;
    let first = enqueued(
        &deploy(&store, "c1", DeployRequest::default(), t0())
            .await
            .unwrap(),
    );
    let second = enqueued(
        &deploy(&store, "c2", DeployRequest::default(), t0() + ms(1))
            .await
            .unwrap(),
    );
    assert_eq!(
        lease(&store, "w1", t0(), 10).await.unwrap().operation.id,
        first
    );
    assert_eq!(
        lease(&store, "w2", t0(), 100).await.unwrap().operation.id,
        second
    );

    // What the caller was asked about: the interrupted operation, its
    // cluster after the interruption, and the runner.
    type Asked = (Operation, ClusterSnapshot, Option<RunnerKind>);
    let asked: Mutex<Vec<Asked>> = Mutex::new(Vec::new());

    // The caller decides nothing follows the first: nothing does.
    let mut notes = store.subscribe();
    let later = t0() + TimeDelta::seconds(30);
    let reclaimed = store
        .reclaim(
            ReclaimScope::ExpiredLeases,
            later,
            &|op: &Operation, snap: &ClusterSnapshot, runner: Option<RunnerKind>| {
                asked
                    .lock()
                    .unwrap()
                    .push((op.clone(), snap.clone(), runner));
                None
            },
        )
        .await
        .unwrap();
    assert_eq!(reclaimed.len(), 1);
    let interrupted = &reclaimed[0];
    assert_eq!(interrupted.id, first);
    assert_eq!(interrupted.state, OperationState::Interrupted);
    assert_eq!(interrupted.finished_at, Some(later));
    let asked_now = std::mem::take(&mut *asked.lock().unwrap());
    assert_eq!(asked_now.len(), 1, "asked about the reclaimed one only");
    let (op, snap, runner) = &asked_now[0];
    assert_eq!(op, interrupted);
    assert_eq!(snap, &snapshot(&store, "c1").await);
    assert_eq!(snap.cluster.state, ClusterState::Failed);
    assert_eq!(snap.active, None);
    assert_eq!(*runner, None, "not a run");

    let ops = store
        .operations(&OperationFilter {
            cluster: Some(name("c1")),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(ops, std::slice::from_ref(interrupted), "nothing queued");
    let kinds: Vec<String> = store
        .events(&first, 0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, [kinds::QUEUED, kinds::STARTED, kinds::FINISHED]);
    let seen = heard(&mut notes);
    assert!(seen.contains(&Notification::Finished {
        operation: first.clone(),
        cluster: name("c1"),
    }));
    assert!(
        !seen.iter().any(|n| matches!(
            n,
            Notification::Queued { .. } | Notification::ScheduleChanged { .. }
        )),
        "{seen:?}"
    );
    let audit = store
        .audit_log(&AuditQuery {
            target: Some("c1".into()),
            action: Some("operation.interrupt".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].actor, Subject::recovery().as_str());
    assert_eq!(audit[0].result, "interrupted");
    assert_eq!(audit[0].detail["operation"], serde_json::json!(first));
    assert_eq!(
        store.operation(&second).await.unwrap().unwrap().state,
        OperationState::Running,
        "a live lease is left alone"
    );

    // The caller decides a refresh follows the second: it is queued, as
    // decided, in the same transaction.
    let refresh = OperationId::from_uuid(uuid::Uuid::now_v7());
    let decided = |op: &Operation, snap: &ClusterSnapshot, runner: Option<RunnerKind>| {
        asked
            .lock()
            .unwrap()
            .push((op.clone(), snap.clone(), runner));
        Some(Plan {
            outcome: Outcome::Enqueued(NewOperation {
                id: refresh.clone(),
                kind: OperationKind::Refresh,
                reason: Reason::Recovery,
                requested_by: Subject::recovery().to_string(),
                spec: snap.cluster.spec.clone(),
                job: None,
            }),
            schedule: ScheduleChange::Keep,
            withdrawn: Vec::new(),
        })
    };
    let reclaimed = store
        .reclaim(ReclaimScope::AllRunning, later, &decided)
        .await
        .unwrap();
    assert_eq!(
        reclaimed.iter().map(|o| &o.id).collect::<Vec<_>>(),
        [&second]
    );
    let asked_now = std::mem::take(&mut *asked.lock().unwrap());
    assert_eq!(asked_now.len(), 1);
    assert_eq!(asked_now[0].0.id, second);
    assert_eq!(asked_now[0].0.state, OperationState::Interrupted);
    assert_eq!(asked_now[0].1.cluster.state, ClusterState::Failed);
    assert_eq!(asked_now[0].1.active, None);

    let snap = snapshot(&store, "c2").await;
    let queued = snap.active.expect("the refresh is queued");
    assert_eq!(queued.id, refresh);
    assert_eq!(queued.kind, OperationKind::Refresh);
    assert_eq!(queued.state, OperationState::Queued);
    assert_eq!(queued.reason, Reason::Recovery);
    assert_eq!(queued.requested_by, Subject::recovery().as_str());
    assert_eq!(queued.created_at, later);
    assert_eq!(snap.cluster.last_operation, Some(refresh.clone()));
    assert_eq!(snap.cluster.state, ClusterState::Failed);
    let events = store.events(&refresh, 0, 100).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, kinds::QUEUED);
    assert!(heard(&mut notes).contains(&Notification::Queued {
        operation: refresh.clone(),
        cluster: name("c2"),
    }));

    // Nothing runs any more: the caller is not asked again.
    assert!(
        store
            .reclaim(ReclaimScope::AllRunning, later, &decided)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(asked.lock().unwrap().is_empty());
}

async fn clusters_are_listed_in_pages_with_their_operations_and_schedules(db: &TestDatabase) {
    let store = open(db).await;
    for (n, o, public) in [
        ("alpha", "research", false),
        ("bravo", "physics", true),
        ("charlie", "physics", false),
        ("delta", "research", true),
        ("echo", "chem", false),
        ("foxtrot", "chem", true),
    ] {
        create_in(&store, n, o, public).await;
    }
    // delta runs with a scheduled destroy, and a test run beside it;
    // bravo's deploy is queued with a schedule; charlie's and echo's are
    // queued without one; alpha and foxtrot have nothing.
    let at = t0() + TimeDelta::hours(2);
    let scheduled = DeployRequest {
        destroy_at: Some(at),
        ..Default::default()
    };
    deploy(&store, "delta", scheduled.clone(), t0())
        .await
        .unwrap();
    run_to_end(&store, "w1", succeeded(), t0()).await;
    let c = ctx(t0());
    let run = enqueued(
        &apply(
            &store,
            &name("delta"),
            t0(),
            &intent("cluster.test"),
            &|snap, _| {
                rules::decide_job(
                    snap,
                    OperationKind::Test,
                    slipway_core::JobVersion::parse("v1").unwrap(),
                    &c,
                )
            },
        )
        .await
        .unwrap(),
    );
    let bravo = enqueued(&deploy(&store, "bravo", scheduled, t0()).await.unwrap());
    let charlie = enqueued(
        &deploy(&store, "charlie", DeployRequest::default(), t0())
            .await
            .unwrap(),
    );
    let echo = enqueued(
        &deploy(&store, "echo", DeployRequest::default(), t0())
            .await
            .unwrap(),
    );

    let page = |after: Option<&str>,
                limit: u32,
                visible_to: Option<&[&str]>,
                organization: Option<&str>| {
        let store = store.clone();
        let filter = ClusterFilter {
            after: after.map(name),
            limit,
            visible_to: visible_to.map(|orgs| orgs.iter().map(|o| org(o)).collect()),
            organization: organization.map(org),
        };
        async move {
            let page = store.clusters(&filter).await.unwrap();
            // Each is exactly what reading it alone answers: the cluster,
            // its infrastructure operation in flight and its schedule.
            for snap in &page {
                assert_eq!(
                    snap,
                    &snapshot(&store, snap.cluster.name.as_str()).await,
                    "{filter:?}"
                );
            }
            page.iter()
                .map(|s| s.cluster.name.to_string())
                .collect::<Vec<_>>()
        }
    };

    // Everything (administrators), page by page.
    assert_eq!(page(None, 2, None, None).await, ["alpha", "bravo"]);
    assert_eq!(
        page(Some("bravo"), 2, None, None).await,
        ["charlie", "delta"]
    );
    assert_eq!(
        page(Some("delta"), 2, None, None).await,
        ["echo", "foxtrot"]
    );
    assert!(page(Some("foxtrot"), 2, None, None).await.is_empty());
    assert_eq!(
        page(Some("b"), 3, None, None).await,
        ["bravo", "charlie", "delta"],
        "after need not name a cluster"
    );
    assert_eq!(
        page(None, 100, None, None).await,
        ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"]
    );

    // Public clusters and the private ones of the caller's organizations.
    let research: &[&str] = &["research"];
    assert_eq!(
        page(None, 3, Some(research), None).await,
        ["alpha", "bravo", "delta"]
    );
    assert_eq!(
        page(Some("delta"), 3, Some(research), None).await,
        ["foxtrot"]
    );
    assert_eq!(
        page(None, 100, Some(&[]), None).await,
        ["bravo", "delta", "foxtrot"]
    );
    assert_eq!(
        page(None, 100, Some(&["research", "chem"]), None).await,
        ["alpha", "bravo", "delta", "echo", "foxtrot"]
    );
    assert_eq!(
        page(Some("alpha"), 2, Some(&["physics"]), None).await,
        ["bravo", "charlie"]
    );

    // One organization's.
    assert_eq!(
        page(None, 100, None, Some("physics")).await,
        ["bravo", "charlie"]
    );
    assert_eq!(
        page(None, 100, Some(research), Some("physics")).await,
        ["bravo"],
        "and only what the caller may see"
    );
    assert_eq!(
        page(None, 100, Some(&[]), Some("research")).await,
        ["delta"]
    );
    assert_eq!(
        page(Some("alpha"), 1, None, Some("research")).await,
        ["delta"]
    );
    assert!(page(None, 100, None, Some("nobody")).await.is_empty());

    // What the pages carry.
    let all = store
        .clusters(&ClusterFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    let by_name: BTreeMap<String, &ClusterSnapshot> = all
        .iter()
        .map(|s| (s.cluster.name.to_string(), s))
        .collect();
    let active = |n: &str| by_name[n].active.as_ref().map(|op| op.id.clone());
    let schedule = |n: &str| by_name[n].schedule.as_ref().map(|s| s.destroy_at);
    assert_eq!(active("alpha"), None);
    assert_eq!(active("bravo"), Some(bravo));
    assert_eq!(active("charlie"), Some(charlie));
    assert_eq!(active("delta"), None, "a run is not infrastructure: {run}");
    assert_eq!(active("echo"), Some(echo));
    assert_eq!(active("foxtrot"), None);
    assert_eq!(schedule("alpha"), None);
    assert_eq!(schedule("bravo"), Some(at));
    assert_eq!(schedule("charlie"), None);
    assert_eq!(schedule("delta"), Some(at));
    assert_eq!(by_name["delta"].cluster.state, ClusterState::Running);
    assert_eq!(by_name["bravo"].cluster.organization, org("physics"));
    assert!(by_name["bravo"].cluster.public);
    assert!(!by_name["charlie"].cluster.public);
}

async fn apply_answers_the_cluster_as_it_is_after_the_change(db: &TestDatabase) {
    let store = open(db).await;
    create(&store, "c1").await;
    let at = t0() + TimeDelta::hours(2);
    let applied = deploy(
        &store,
        "c1",
        DeployRequest {
            nodes: Some(3),
            destroy_at: Some(at),
            ..Default::default()
        },
        t0(),
    )
    .await
    .unwrap();
    let id = enqueued(&applied);
    let after = &applied.snapshot;
    assert_eq!(after, &snapshot(&store, "c1").await);
    let active = after.active.as_ref().expect("the deploy is in flight");
    assert_eq!(active.id, id);
    assert_eq!(active.state, OperationState::Queued);
    assert_eq!(active.kind, OperationKind::Deploy);
    assert_eq!(after.cluster.spec.nodes, 3);
    assert_eq!(after.cluster.last_operation, Some(id.clone()));
    assert_eq!(after.cluster.updated_at, t0());
    assert_eq!(after.cluster.state, ClusterState::Absent, "not leased yet");
    assert_eq!(after.schedule.as_ref().map(|s| s.destroy_at), Some(at));

    // Joining changes nothing: the cluster as it was.
    let joined = deploy(
        &store,
        "c1",
        DeployRequest {
            nodes: Some(3),
            ..Default::default()
        },
        t0() + TimeDelta::seconds(1),
    )
    .await
    .unwrap();
    assert_eq!(joined.plan.outcome, Outcome::Joined(id.clone()));
    assert_eq!(&joined.snapshot, after);

    // A schedule moved, then removed.
    let moved = at + TimeDelta::hours(1);
    let c = ctx(t0());
    let rescheduled = apply(
        &store,
        &name("c1"),
        t0(),
        &intent("cluster.schedule"),
        &|snap, load| rules::decide_schedule_destroy(snap, load, moved, &c),
    )
    .await
    .unwrap();
    assert_eq!(rescheduled.plan.outcome, Outcome::Scheduled(moved));
    let schedule = rescheduled.snapshot.schedule.as_ref().unwrap();
    assert_eq!(schedule.destroy_at, moved);
    assert_eq!(schedule.requested_by, alice().as_str());
    assert_eq!(rescheduled.snapshot.active, after.active);
    assert_eq!(rescheduled.snapshot, snapshot(&store, "c1").await);
    let unscheduled = apply(
        &store,
        &name("c1"),
        t0(),
        &intent("cluster.unschedule"),
        &|snap, _| rules::decide_unschedule(snap, &c),
    )
    .await
    .unwrap();
    assert_eq!(unscheduled.snapshot.schedule, None);
    assert_eq!(unscheduled.snapshot, snapshot(&store, "c1").await);

    // Once the deploy ran, a destroy: the cluster with the destroy in flight.
    run_to_end(&store, "w1", succeeded(), t0()).await;
    let destroyed = destroy(&store, "c1", t0() + TimeDelta::seconds(2))
        .await
        .unwrap();
    let destroy_id = enqueued(&destroyed);
    assert_eq!(destroyed.snapshot, snapshot(&store, "c1").await);
    assert_eq!(destroyed.snapshot.cluster.state, ClusterState::Running);
    assert_eq!(destroyed.snapshot.cluster.deployed, Some(spec(3)));
    assert_eq!(
        destroyed
            .snapshot
            .active
            .as_ref()
            .map(|op| (&op.id, op.kind)),
        Some((&destroy_id, OperationKind::Destroy))
    );
    assert_eq!(destroyed.snapshot.cluster.last_operation, Some(destroy_id));
}

async fn revocations_list_unexpired_tokens_and_forget_expired_ones(db: &TestDatabase) {
    let store = open(db).await;
    assert_eq!(
        store.revocations(t0()).await.unwrap(),
        PublishedRevocations::default()
    );
    let mut notes = store.subscribe();
    let revocation = |jti: &str, expires_in: i64, revoked_after: i64| Revocation {
        jti: jti.into(),
        expires_at: t0() + TimeDelta::minutes(expires_in),
        revoked_at: t0() + TimeDelta::minutes(revoked_after),
    };
    let a = revocation("jti-a", 60, 0);
    let b = revocation("jti-b", 120, 1);
    let c = revocation("jti-c", 10, 2);
    for r in [&a, &b, &c] {
        store
            .revoke_token(&r.jti, r.expires_at, r.revoked_at, RefusedBy::Everyone)
            .await
            .unwrap();
    }
    assert_eq!(
        heard(&mut notes),
        [
            Notification::Revoked,
            Notification::Revoked,
            Notification::Revoked
        ]
    );
    assert_eq!(store.revocations_version().await.unwrap(), 3);
    // Revoking again keeps the first revocation, and changes nothing.
    store
        .revoke_token(
            "jti-a",
            a.expires_at,
            t0() + TimeDelta::minutes(3),
            RefusedBy::Everyone,
        )
        .await
        .unwrap();
    assert_eq!(store.revocations_version().await.unwrap(), 3);
    assert!(heard(&mut notes).is_empty());

    // A user token's revocation (a logout) is the API's alone: refused,
    // not published, and the published list's version stays.
    let version = store.revocations_version().await.unwrap();
    store
        .revoke_token(
            "jti-user",
            t0() + TimeDelta::minutes(60),
            t0() + TimeDelta::minutes(4),
            RefusedBy::Api,
        )
        .await
        .unwrap();
    assert!(store.token_revoked("jti-user").await.unwrap());
    assert_eq!(store.revocations_version().await.unwrap(), version);
    assert!(heard(&mut notes).is_empty(), "nothing for gateways");

    // Newest first.
    let now = t0() + TimeDelta::minutes(5);
    let published = store.revocations(now).await.unwrap();
    assert_eq!(published.version, version);
    assert_eq!(published.tokens, [c.clone(), b.clone(), a.clone()]);
    assert!(published.subjects.is_empty());
    assert!(store.token_revoked("jti-c").await.unwrap());

    // Revoked for everyone later: published after all.
    store
        .revoke_token(
            "jti-user",
            t0() + TimeDelta::minutes(60),
            t0() + TimeDelta::minutes(6),
            RefusedBy::Everyone,
        )
        .await
        .unwrap();
    assert_eq!(heard(&mut notes), [Notification::Revoked]);
    let published = store.revocations(now).await.unwrap();
    assert!(published.version > version);
    assert_eq!(
        published.tokens[0].revoked_at,
        t0() + TimeDelta::minutes(4),
        "revoked when it first was"
    );
    assert_eq!(published.tokens[0].jti, "jti-user");

    // Once a token expired, its revocation is forgotten.
    let later = t0() + TimeDelta::minutes(30);
    let tokens =
        |p: PublishedRevocations| -> Vec<String> { p.tokens.into_iter().map(|r| r.jti).collect() };
    assert_eq!(
        tokens(store.revocations(later).await.unwrap()),
        ["jti-user", "jti-b", "jti-a"]
    );
    assert!(!store.token_revoked("jti-c").await.unwrap(), "forgotten");
    assert!(store.token_revoked("jti-a").await.unwrap());
    assert_eq!(
        tokens(store.revocations(now).await.unwrap()),
        ["jti-user", "jti-b", "jti-a"],
        "gone for good"
    );
    assert!(
        store
            .revocations(t0() + TimeDelta::hours(3))
            .await
            .unwrap()
            .tokens
            .is_empty()
    );
    assert!(!store.token_revoked("jti-b").await.unwrap());
}

async fn a_persons_cluster_tokens_are_revoked_per_cluster_and_only_move_on(db: &TestDatabase) {
    let store = open(db).await;
    create_in(&store, "r1", "research", false).await;
    create_in(&store, "r2", "research", true).await;
    create_in(&store, "o1", "other", false).await;
    let research = org("research");
    store
        .put_membership(Membership {
            organization: research.clone(),
            subject: bob(),
            name: None,
            role: MembershipRole::Member,
            state: MembershipState::Approved,
            requested_at: t0(),
            decided_by: None,
            decided_at: None,
        })
        .await
        .unwrap();
    let mut notes = store.subscribe();
    let at = t0() + TimeDelta::minutes(10);
    let revocation = ClusterTokenRevocation {
        subject: bob(),
        organization: Some(research.clone()),
        at,
        until: at + TimeDelta::hours(1),
    };

    // Removing a membership that is not there revokes nothing.
    assert!(
        !store
            .remove_membership(&org("other"), &bob(), Some(&revocation))
            .await
            .unwrap()
    );
    assert_eq!(store.revocations_version().await.unwrap(), 0);
    assert!(heard(&mut notes).is_empty());

    // Removed: the tokens for each of the organization's clusters, in the
    // same transaction.
    assert!(
        store
            .remove_membership(&research, &bob(), Some(&revocation))
            .await
            .unwrap()
    );
    assert!(store.membership(&research, &bob()).await.unwrap().is_none());
    assert_eq!(heard(&mut notes), [Notification::Revoked]);
    let published = store.revocations(at).await.unwrap();
    assert_eq!(published.version, 1);
    let entry = |cluster: &str, issued_until, expires_at, revoked_at| SubjectRevocation {
        subject: bob(),
        cluster: name(cluster),
        issued_until,
        expires_at,
        revoked_at,
    };
    assert_eq!(
        published.subjects,
        [
            entry("r1", at, revocation.until, at),
            entry("r2", at, revocation.until, at),
        ]
    );

    // A later revocation moves both times on; an older one (replayed)
    // never moves them back.
    let later = ClusterTokenRevocation {
        organization: None,
        at: at + TimeDelta::minutes(5),
        until: at + TimeDelta::minutes(65),
        ..revocation.clone()
    };
    assert_eq!(store.revoke_cluster_tokens(&later).await.unwrap(), 3);
    assert_eq!(heard(&mut notes), [Notification::Revoked]);
    assert_eq!(store.revoke_cluster_tokens(&revocation).await.unwrap(), 2);
    let published = store.revocations(at).await.unwrap();
    assert_eq!(published.version, 3);
    let moved = |cluster: &str, revoked_at| entry(cluster, later.at, later.until, revoked_at);
    assert_eq!(
        published.subjects,
        [
            moved("o1", later.at),
            moved("r1", revocation.at),
            moved("r2", revocation.at),
        ]
    );

    // Forgotten once every token they cover has expired.
    assert!(
        store
            .revocations(later.until + TimeDelta::seconds(1))
            .await
            .unwrap()
            .subjects
            .is_empty()
    );
}

async fn the_last_administrator_check_decides_inside_the_revocation(db: &TestDatabase) {
    let store = open(db).await;
    let token = |id: &str| NewApiToken {
        id: id.into(),
        name: id.into(),
        owner: Subject::bootstrap(),
        secret_hash: format!("hash-{id}"),
        scopes: vec!["*".into()],
        created_at: t0(),
        expires_at: None,
    };
    // At most one of the tokens may go: the check refuses the last one.
    let last_one = |target: &AdminCandidate, all: &[AdminCandidate]| {
        if all.iter().any(|c| c.token.id != target.token.id) {
            Ok(())
        } else {
            Err(Refusal::LastAdminCredential {
                credential: target.token.id.clone(),
            })
        }
    };
    for round in 0..10 {
        let (a, b) = (format!("tok_{round}a"), format!("tok_{round}b"));
        store.create_api_token(token(&a)).await.unwrap();
        store.create_api_token(token(&b)).await.unwrap();
        // The one left from the previous round goes first.
        for left in store.api_tokens().await.unwrap() {
            if left.revoked_at.is_none() && left.id != a && left.id != b {
                assert!(
                    store
                        .revoke_api_token(&left.id, t0(), &last_one)
                        .await
                        .unwrap()
                );
            }
        }
        let revoke = |id: String| {
            let store = store.clone();
            tokio::spawn(async move { store.revoke_api_token(&id, t0(), &last_one).await })
        };
        let (first, second) = tokio::join!(revoke(a.clone()), revoke(b.clone()));
        let results = [first.unwrap(), second.unwrap()];
        let refused = results
            .iter()
            .filter(|r| {
                matches!(
                    r,
                    Err(StoreError::Refused(Refusal::LastAdminCredential { .. }))
                )
            })
            .count();
        assert_eq!(refused, 1, "round {round}: {results:?}");
        assert!(results.iter().any(|r| matches!(r, Ok(true))), "{results:?}");
        let valid = store
            .api_tokens()
            .await
            .unwrap()
            .into_iter()
            .filter(|t| t.revoked_at.is_none())
            .count();
        assert_eq!(valid, 1, "round {round}");
    }
}

async fn a_new_bootstrap_token_revokes_only_earlier_bootstrap_tokens(db: &TestDatabase) {
    let store = open(db).await;
    let token = |id: &str, name: &str| NewApiToken {
        id: id.into(),
        name: name.into(),
        owner: Subject::bootstrap(),
        secret_hash: format!("hash-{id}"),
        scopes: vec!["*".into()],
        created_at: t0(),
        expires_at: None,
    };
    let (first, revoked) = store
        .replace_bootstrap_token(token("tok_b1", "bootstrap-admin"))
        .await
        .unwrap();
    assert!(first.bootstrap);
    assert!(revoked.is_empty());
    // The bootstrap administrator's own API token, even one named alike.
    let own = store
        .create_api_token(token("tok_own", "bootstrap-admin"))
        .await
        .unwrap();
    assert!(!own.bootstrap);
    let (second, revoked) = store
        .replace_bootstrap_token(NewApiToken {
            created_at: t0() + TimeDelta::minutes(1),
            ..token("tok_b2", "bootstrap-admin")
        })
        .await
        .unwrap();
    assert_eq!(revoked, ["tok_b1"]);
    let read = |id: &'static str| {
        let store = store.clone();
        async move { store.api_token(id).await.unwrap().unwrap() }
    };
    assert_eq!(
        read("tok_b1").await.revoked_at,
        Some(t0() + TimeDelta::minutes(1))
    );
    assert_eq!(read("tok_own").await.revoked_at, None);
    assert_eq!(read("tok_b2").await, second);
    assert!(second.bootstrap && second.revoked_at.is_none());
}

async fn users_are_found_by_their_latest_login_which_names_their_memberships(db: &TestDatabase) {
    let store = open(db).await;
    let user = |id: i64, login: &str, checked_after: i64| User {
        subject: Subject::github(id),
        login: login.into(),
        github_id: id,
        github_token: None,
        admin: false,
        github_orgs: Vec::new(),
        checked_at: t0() + TimeDelta::minutes(checked_after),
        created_at: t0(),
    };
    assert!(store.user_by_login("octocat").await.unwrap().is_none());
    let first = user(10, "OctoCat", 0);
    store.put_user(first.clone()).await.unwrap();
    assert_eq!(
        store.user_by_login("octocat").await.unwrap(),
        Some(first.clone()),
        "logins match whatever their case"
    );
    // Someone else took the login since: the one seen last has it.
    let second = user(20, "octocat", 60);
    store.put_user(second.clone()).await.unwrap();
    for login in ["octocat", "OCTOCAT", "OctoCat"] {
        assert_eq!(
            store.user_by_login(login).await.unwrap(),
            Some(second.clone()),
            "{login}"
        );
    }
    // The first signs in again later, still under that login.
    let again = user(10, "OctoCat", 120);
    store.put_user(again.clone()).await.unwrap();
    assert_eq!(store.user_by_login("octocat").await.unwrap(), Some(again));
    assert!(store.user_by_login("octo").await.unwrap().is_none());
    assert!(store.user_by_login("octocat2").await.unwrap().is_none());

    // Memberships read the person's login as their name.
    let research = org("research");
    let membership = |id: i64| Membership {
        organization: research.clone(),
        subject: Subject::github(id),
        name: None,
        role: MembershipRole::Member,
        state: MembershipState::Approved,
        requested_at: t0(),
        decided_by: Some(alice().to_string()),
        decided_at: Some(t0()),
    };
    store.put_membership(membership(20)).await.unwrap();
    store
        .put_membership(Membership {
            name: Some("written names are ignored".into()),
            ..membership(30)
        })
        .await
        .unwrap();
    assert_eq!(
        store
            .membership(&research, &Subject::github(20))
            .await
            .unwrap()
            .unwrap()
            .name
            .as_deref(),
        Some("octocat")
    );
    assert_eq!(
        store
            .membership(&research, &Subject::github(30))
            .await
            .unwrap()
            .unwrap()
            .name,
        None,
        "never signed in"
    );
    // Renamed on GitHub: the name follows.
    store.put_user(user(20, "octo-renamed", 180)).await.unwrap();
    assert_eq!(
        store
            .memberships_of(&Subject::github(20))
            .await
            .unwrap()
            .iter()
            .map(|m| m.name.clone())
            .collect::<Vec<_>>(),
        [Some("octo-renamed".to_owned())]
    );
    let mut names: Vec<(Subject, Option<String>)> = store
        .memberships(&research)
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.subject, m.name))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            (Subject::github(20), Some("octo-renamed".to_owned())),
            (Subject::github(30), None),
        ]
    );
}

async fn queue_depth_counts_queued_and_running_operations(db: &TestDatabase) {
    let store = open(db).await;
    let depth = |queued, running| QueueDepth { queued, running };
    assert_eq!(store.queue_depth().await.unwrap(), depth(0, 0));
    let mut ids = Vec::new();
    for (i, n) in ["c1", "c2", "c3"].into_iter().enumerate() {
        create(&store, n).await;
        ids.push(enqueued(
            &deploy(&store, n, DeployRequest::default(), t0() + ms(i as i64))
                .await
                .unwrap(),
        ));
    }
    assert_eq!(store.queue_depth().await.unwrap(), depth(3, 0));
    let first = lease(&store, "w1", t0(), 30).await.unwrap().operation.id;
    assert_eq!(first, ids[0]);
    assert_eq!(store.queue_depth().await.unwrap(), depth(2, 1));
    let second = lease(&store, "w2", t0(), 30).await.unwrap().operation.id;
    assert_eq!(store.queue_depth().await.unwrap(), depth(1, 2));
    store
        .finish(&first, "w1", succeeded(), serde_json::Value::Null, t0())
        .await
        .unwrap();
    assert_eq!(store.queue_depth().await.unwrap(), depth(1, 1));
    store.request_cancel(&ids[2], &alice(), t0()).await.unwrap();
    assert_eq!(store.queue_depth().await.unwrap(), depth(0, 1));
    store.request_cancel(&second, &alice(), t0()).await.unwrap();
    assert_eq!(
        store.queue_depth().await.unwrap(),
        depth(0, 1),
        "a requested cancel still runs"
    );
    store
        .reclaim(
            ReclaimScope::AllRunning,
            t0(),
            &|_: &Operation, _: &ClusterSnapshot, _: Option<RunnerKind>| None,
        )
        .await
        .unwrap();
    assert_eq!(store.queue_depth().await.unwrap(), depth(0, 0));
}

async fn operations_are_listed_newest_first_in_pages(db: &TestDatabase) {
    let store = open(db).await;
    create(&store, "c1").await;
    create(&store, "c2").await;
    // c1: deploy (done), destroy (queued); c2: deploy (queued). Ids are
    // UUIDv7s, increasing in the order the operations were decided.
    let d1 = enqueued(
        &deploy(&store, "c1", DeployRequest::default(), t0())
            .await
            .unwrap(),
    );
    run_to_end(&store, "w1", succeeded(), t0()).await;
    let d2 = enqueued(
        &deploy(&store, "c2", DeployRequest::default(), t0())
            .await
            .unwrap(),
    );
    let x1 = enqueued(&destroy(&store, "c1", t0()).await.unwrap());
    assert!(d1 < d2 && d2 < x1);

    let list = |cluster: Option<&str>, before: Option<&OperationId>, active_only, limit| {
        let store = store.clone();
        let filter = OperationFilter {
            cluster: cluster.map(name),
            before: before.cloned(),
            active_only,
            limit,
        };
        async move {
            store
                .operations(&filter)
                .await
                .unwrap()
                .into_iter()
                .map(|op| op.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        list(None, None, false, 10).await,
        [x1.clone(), d2.clone(), d1.clone()]
    );
    assert_eq!(list(None, None, false, 2).await, [x1.clone(), d2.clone()]);
    assert_eq!(
        list(None, Some(&d2), false, 2).await,
        std::slice::from_ref(&d1)
    );
    assert!(list(None, Some(&d1), false, 2).await.is_empty());
    assert_eq!(list(Some("c1"), Some(&x1), false, 10).await, [d1]);
    assert_eq!(
        list(None, Some(&x1), true, 10).await,
        std::slice::from_ref(&d2),
        "active only"
    );
    assert_eq!(list(Some("c1"), None, true, 10).await, [x1]);
}

/// The schema's partial unique index keeps one infrastructure operation in
/// flight per cluster; which kinds and states it covers must be core's
/// definitions, so the database and the rules never disagree.
async fn the_one_active_operation_index_covers_exactly_the_infrastructure_kinds(db: &TestDatabase) {
    let store = open(db).await;
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&db.url).await.expect("connect");
    let sql = match store.dialect() {
        Dialect::Sqlite => "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = $1",
        Dialect::Postgres => {
            "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() AND indexname = $1"
        }
    };
    let definition: String = sqlx::query_scalar(sql)
        .bind("one_active_infrastructure_operation")
        .fetch_one(&pool)
        .await
        .expect("the index exists");
    let lower = definition.to_lowercase();
    assert!(lower.starts_with("create unique index"), "{definition}");
    let on = lower.find(" on ").expect("ON") + 4;
    let where_at = lower.find(" where ").expect("a partial index");
    let target = &lower[on..where_at];
    let predicate_at = where_at + " where ".len();
    assert!(
        target.contains("operations") && target.trim_end().ends_with("(cluster)"),
        "one per cluster: {definition}"
    );
    let predicate = &definition[predicate_at..];

    let kinds = listed(predicate, "kind");
    let expected: BTreeSet<String> = OperationKind::INFRASTRUCTURE
        .iter()
        .map(|k| k.to_string())
        .collect();
    assert_eq!(kinds, expected, "{definition}");
    let states = listed(predicate, "state");
    let expected: BTreeSet<String> = OperationState::ACTIVE
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(states, expected, "{definition}");
    assert_eq!(
        lower[predicate_at..].matches(" or ").count(),
        0,
        "only both conditions together: {definition}"
    );
}

/// The quoted values a predicate lists for `column`: SQLite keeps the
/// migration's `column IN ('a', 'b')`, PostgreSQL shows
/// `(column = ANY (ARRAY['a'::text, 'b'::text]))`.
fn listed(predicate: &str, column: &str) -> BTreeSet<String> {
    let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    let at: Vec<usize> = predicate
        .match_indices(column)
        .map(|(i, _)| i)
        .filter(|&i| {
            !word(predicate[..i].chars().next_back())
                && !word(predicate[i + column.len()..].chars().next())
        })
        .collect();
    assert_eq!(at.len(), 1, "{column} once in {predicate}");
    let rest = &predicate[at[0] + column.len()..];
    let list = &rest[..rest.find(')').expect("a closed list")];
    let values: BTreeSet<String> = list
        .split('\'')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect();
    assert!(!values.is_empty(), "{column} lists values in {predicate}");
    values
}

/// Reconciliation charges every unsettled hour once, at its effective
/// figure, in one transaction; a later Cost Explorer figure for an hour
/// already charged is charged by its difference only.
async fn reconciliation_charges_each_hour_once_at_its_effective_figure(db: &TestDatabase) {
    let store = open(db).await;
    let org = OrgName::parse("accounted").unwrap();
    let now = Utc::now();
    let start = calendar::hour_start(now) - TimeDelta::hours(700);
    store
        .create_organization(Organization {
            name: org.clone(),
            github_org: None,
            github_team: None,
            limits: Limits::default(),
            destroy_when_idle: false,
            created_at: start,
            updated_at: start,
        })
        .await
        .unwrap();
    store
        .change_account(&org, start, &intent("account.open"), "test", &|_| {
            Ok(Account::open(
                Money::dollars(1_000),
                Money::ZERO,
                Money::dollars(1_000_000),
                start,
            ))
        })
        .await
        .unwrap();
    // Two clusters' 700 hours: more rows than one statement settles.
    let rate = Money::parse("0.379").unwrap();
    let hours: Vec<HourCost> = (0..700)
        .flat_map(|h| {
            ["a", "b"].map(|cluster| HourCost {
                cluster: cluster.into(),
                hour: start + TimeDelta::hours(h),
                amount: rate,
            })
        })
        .collect();
    store
        .record_costs(&org, CostSource::Model, &hours, None)
        .await
        .unwrap();
    let reconcile = || async {
        store
            .reconcile(
                &org,
                now,
                &intent("account.reconcile"),
                &|account, charges| account::reconcile(account, now, charges),
            )
            .await
            .unwrap()
            .expect("the organization has an account")
    };

    let first = reconcile().await;
    assert_eq!(first.charges.len(), 1_400);
    assert_eq!(first.account.charged_total, Money::parse("530.6").unwrap());
    assert_eq!(first.debited, Money::parse("530.60").unwrap());

    let again = reconcile().await;
    assert!(again.charges.is_empty(), "{:?}", again.charges);
    assert_eq!(again.debited, Money::ZERO);
    assert_eq!(again.account.charged_total, first.account.charged_total);

    store
        .record_costs(
            &org,
            CostSource::CostExplorer,
            &[HourCost {
                cluster: "a".into(),
                hour: start,
                amount: Money::parse("1.379").unwrap(),
            }],
            None,
        )
        .await
        .unwrap();
    let revised = reconcile().await;
    assert_eq!(revised.charges.len(), 1, "{:?}", revised.charges);
    assert_eq!(revised.debited, Money::dollars(1));
    assert_eq!(
        revised.account.charged_total,
        Money::parse("531.6").unwrap()
    );
}

async fn a_clusters_runtime_directory_is_chosen_once_and_forgotten_when_nothing_is_left(
    db: &TestDatabase,
) {
    let store = open(db).await;
    create(&store, "c1").await;
    // The first process to ask records its proposal; every later one,
    // whatever it proposes, gets that one.
    let first = store
        .runtime_dir(&name("c1"), "/a/runtime/c1")
        .await
        .unwrap();
    assert_eq!(first, "/a/runtime/c1");
    deploy(&store, "c1", DeployRequest::default(), t0())
        .await
        .unwrap();
    run_to_end(&store, "w1", succeeded(), t0()).await;
    let later = store
        .runtime_dir(&name("c1"), "/b/runtime/c1")
        .await
        .unwrap();
    assert_eq!(later, "/a/runtime/c1", "kept while deployed");

    // A failed destroy leaves something deployed: still the same directory.
    destroy(&store, "c1", t0() + ms(1)).await.unwrap();
    let failed = Ending::Stopped {
        state: OperationState::Failed,
        error: "boom".into(),
    };
    run_to_end(&store, "w1", failed, t0() + ms(1)).await;
    assert_eq!(
        store
            .runtime_dir(&name("c1"), "/b/runtime/c1")
            .await
            .unwrap(),
        "/a/runtime/c1"
    );

    // Once destroyed, the next deploy chooses anew.
    destroy(&store, "c1", t0() + ms(2)).await.unwrap();
    run_to_end(&store, "w1", succeeded(), t0() + ms(2)).await;
    assert_eq!(
        snapshot(&store, "c1").await.cluster.state,
        ClusterState::Absent
    );
    assert_eq!(
        store
            .runtime_dir(&name("c1"), "/b/runtime/c1")
            .await
            .unwrap(),
        "/b/runtime/c1"
    );

    let missing = store.runtime_dir(&name("nope"), "/x").await.unwrap_err();
    assert!(
        matches!(missing, StoreError::ClusterNotFound(_)),
        "{missing}"
    );
}
