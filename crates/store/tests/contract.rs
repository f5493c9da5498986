//! The store's contract: every test here runs against SQLite and against
//! PostgreSQL (from `SLIPWAY_TEST_DATABASE_URL`), each in a fresh database.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeDelta, TimeZone, Utc};
use slipway_core::blueprint::BlueprintMetadata;
use slipway_core::event::{EventLevel, NewEvent, kinds};
use slipway_core::lifecycle::Ending;
use slipway_core::rules::{self, Context, DeployRequest, Outcome};
use slipway_core::*;
use slipway_store::*;
use slipway_testkit::database::TestDatabase;

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
);

async fn open(db: &TestDatabase) -> Arc<SqlStore> {
    Arc::new(SqlStore::connect(&db.url).await.expect("connect"))
}

fn t0() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap()
}

fn name(n: &str) -> ClusterName {
    ClusterName::parse(n).unwrap()
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
    store
        .create_cluster(NewCluster {
            name: name(n),
            organization: OrgName::parse("research").unwrap(),
            public: false,
            spec: spec(2),
            created_by: "alice".into(),
            now: t0(),
        })
        .await
        .expect("create cluster")
}

fn ctx(now: Timestamp) -> Context {
    Context {
        now,
        actor: "alice".into(),
        level: Level::Admin,
        reason: Reason::User,
        new_operation_id: OperationId::from_uuid(uuid::Uuid::now_v7()),
    }
}

fn intent(action: &str) -> AuditIntent {
    AuditIntent {
        actor: "alice".into(),
        level: "admin".into(),
        action: action.into(),
    }
}

async fn deploy(
    store: &SqlStore,
    n: &str,
    req: DeployRequest,
    now: Timestamp,
) -> Result<rules::Plan, StoreError> {
    let c = ctx(now);
    store
        .apply(&name(n), now, &intent("cluster.deploy"), &|snap| {
            rules::decide_deploy(snap, &req, &c)
        })
        .await
}

async fn destroy(store: &SqlStore, n: &str, now: Timestamp) -> Result<rules::Plan, StoreError> {
    let c = ctx(now);
    store
        .apply(&name(n), now, &intent("cluster.destroy"), &|snap| {
            rules::decide_destroy(snap, &c)
        })
        .await
}

fn enqueued(plan: &rules::Plan) -> OperationId {
    plan.new_operation()
        .expect("an operation was queued")
        .id
        .clone()
}

async fn snapshot(store: &SqlStore, n: &str) -> rules::ClusterSnapshot {
    store
        .cluster(&name(n))
        .await
        .unwrap()
        .expect("cluster exists")
}

async fn run_to_end(store: &SqlStore, worker: &str, ending: Ending, now: Timestamp) -> Operation {
    let op = store
        .lease_next(worker, &[], now, Duration::from_secs(30))
        .await
        .unwrap()
        .expect("work to lease");
    store
        .finish(&op.id, worker, ending, serde_json::Value::Null, now)
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

async fn clusters_are_created_once(db: &TestDatabase) {
    let store = open(db).await;
    let c = create(&store, "c1").await;
    assert_eq!(c.state, ClusterState::Absent);
    assert_eq!(c.spec, spec(2));
    let again = store
        .create_cluster(NewCluster {
            name: name("c1"),
            organization: OrgName::parse("other").unwrap(),
            public: true,
            spec: spec(1),
            created_by: "bob".into(),
            now: t0(),
        })
        .await;
    assert!(matches!(
        again,
        Err(StoreError::Refused(Refusal::AlreadyExists(_)))
    ));
    create(&store, "c0").await;
    let all = store.clusters().await.unwrap();
    let names: Vec<_> = all.iter().map(|s| s.cluster.name.to_string()).collect();
    assert_eq!(names, ["c0", "c1"]);
    assert!(store.cluster(&name("nope")).await.unwrap().is_none());
}

async fn a_deploy_is_queued_with_its_schedule_in_one_transaction(db: &TestDatabase) {
    let store = open(db).await;
    create(&store, "c1").await;
    let mut notes = store.subscribe();
    let at = t0() + TimeDelta::hours(2);
    let plan = deploy(
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
    let id = enqueued(&plan);

    let snap = snapshot(&store, "c1").await;
    let active = snap.active.expect("operation in flight");
    assert_eq!(active.id, id);
    assert_eq!(active.state, OperationState::Queued);
    assert_eq!(active.kind, OperationKind::Deploy);
    assert_eq!(active.spec.nodes, 3);
    assert_eq!(
        snap.cluster.spec.nodes, 3,
        "the deploy's target becomes the spec"
    );
    assert_eq!(snap.cluster.last_operation, Some(id.clone()));
    assert_eq!(snap.schedule.expect("schedule recorded").destroy_at, at);

    let events = store.events(&id, 0, 100).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, kinds::QUEUED);
    assert_eq!(store.next_schedule_due().await.unwrap(), Some(at));

    let mut seen = Vec::new();
    while let Ok(n) = notes.try_recv() {
        seen.push(n);
    }
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
    assert_eq!(audit[0].actor, "alice");
    assert_eq!(audit[0].detail["operation"], serde_json::json!(id));
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
    assert_eq!(again.outcome, Outcome::Joined(first.clone()));

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

    let op = store
        .lease_next("w1", &[], t0(), Duration::from_secs(30))
        .await
        .unwrap()
        .expect("queued work");
    assert_eq!(op.id, id);
    assert_eq!(op.state, OperationState::Running);
    assert_eq!(op.started_at, Some(t0()));
    assert_eq!(
        snapshot(&store, "c1").await.cluster.state,
        ClusterState::Deploying
    );
    assert!(
        store
            .lease_next("w2", &[], t0(), Duration::from_secs(30))
            .await
            .unwrap()
            .is_none(),
        "a running operation is not leased twice"
    );
    store
        .renew_lease(&id, "w1", t0(), Duration::from_secs(60))
        .await
        .unwrap();

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
    let plan = deploy(&store, "c1", DeployRequest::default(), later)
        .await
        .unwrap();
    assert_eq!(plan.outcome, Outcome::AlreadyRunning);
}

async fn only_the_leaseholder_may_finish(db: &TestDatabase) {
    let store = open(db).await;
    create(&store, "c1").await;
    let id = enqueued(
        &deploy(&store, "c1", DeployRequest::default(), t0())
            .await
            .unwrap(),
    );
    store
        .lease_next("w1", &[], t0(), Duration::from_secs(30))
        .await
        .unwrap();
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
        actor: "scheduler".into(),
        ..ctx(at)
    };
    let plan = store
        .apply(&name("c1"), at, &intent("schedule.fire"), &|snap| {
            Ok(rules::decide_fire_schedule(snap, &c))
        })
        .await
        .unwrap();
    let fired = plan.new_operation().unwrap().clone();
    assert_eq!(fired.reason, Reason::Schedule);
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
    store
        .lease_next("w1", &[], t0(), Duration::from_secs(3600))
        .await
        .unwrap();

    let reclaimed = store.reclaim(ReclaimScope::AllRunning, t0()).await.unwrap();
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
    assert!(
        store
            .reclaim(ReclaimScope::AllRunning, t0())
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
    deploy(
        &store,
        "c2",
        DeployRequest::default(),
        t0() + TimeDelta::milliseconds(1),
    )
    .await
    .unwrap();
    let short = store
        .lease_next("w1", &[], t0(), Duration::from_secs(10))
        .await
        .unwrap()
        .unwrap();
    let long = store
        .lease_next("w2", &[], t0(), Duration::from_secs(100))
        .await
        .unwrap()
        .unwrap();
    let later = t0() + TimeDelta::seconds(30);
    let reclaimed = store
        .reclaim(ReclaimScope::ExpiredLeases, later)
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
}

async fn queued_operations_can_be_cancelled(db: &TestDatabase) {
    let store = open(db).await;
    create(&store, "c1").await;
    let id = enqueued(
        &deploy(&store, "c1", DeployRequest::default(), t0())
            .await
            .unwrap(),
    );
    let op = store.cancel_queued(&id, t0()).await.unwrap();
    assert_eq!(op.state, OperationState::Cancelled);
    let snap = snapshot(&store, "c1").await;
    assert!(snap.active.is_none());
    assert_eq!(snap.cluster.state, ClusterState::Absent);
    assert!(
        store
            .lease_next("w1", &[], t0(), Duration::from_secs(5))
            .await
            .unwrap()
            .is_none()
    );
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

async fn api_tokens_are_found_by_hash_and_revoked(db: &TestDatabase) {
    let store = open(db).await;
    let token = store
        .create_api_token(NewApiToken {
            id: "tok_1".into(),
            name: "ci".into(),
            owner: "alice".into(),
            secret_hash: "hash-of-secret".into(),
            scopes: vec!["clusters:write".into()],
            created_at: t0(),
            expires_at: Some(t0() + TimeDelta::days(1)),
        })
        .await
        .unwrap();
    let found = store
        .api_token_by_hash("hash-of-secret")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, token);
    assert!(found.is_valid_at(t0()));
    assert!(!found.is_valid_at(t0() + TimeDelta::days(2)));
    assert!(store.api_token_by_hash("other").await.unwrap().is_none());
    assert!(store.revoke_api_token("tok_1", t0()).await.unwrap());
    assert!(!store.revoke_api_token("tok_404", t0()).await.unwrap());
    let revoked = store
        .api_token_by_hash("hash-of-secret")
        .await
        .unwrap()
        .unwrap();
    assert!(!revoked.is_valid_at(t0()));
    assert_eq!(store.api_tokens().await.unwrap().len(), 1);
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
            Ok(plan) if plan.new_operation().is_some() => started += 1,
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
                while let Some(op) = store
                    .lease_next(&worker, &[], t0(), Duration::from_secs(30))
                    .await
                    .unwrap()
                {
                    store
                        .finish(&op.id, &worker, succeeded(), serde_json::Value::Null, t0())
                        .await
                        .unwrap();
                    mine.push(op.id);
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
    let research = OrgName::parse("research").unwrap();
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
            created_at: t0(),
            updated_at: t0(),
        })
        .await;
    assert!(matches!(
        again,
        Err(StoreError::Refused(Refusal::AlreadyExists(_)))
    ));
    assert!(
        store
            .organization(&OrgName::parse("default").unwrap())
            .await
            .unwrap()
            .is_some()
    );

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
    let deploy_as_member = |n: &'static str| {
        let store = store.clone();
        let req = req.clone();
        async move {
            let c = member(t0());
            store
                .apply(&name(n), t0(), &intent("cluster.deploy"), &|snap| {
                    rules::decide_deploy(snap, &req, &c)
                })
                .await
        }
    };
    let snap = snapshot(&store, "c2").await;
    assert_eq!(snap.organization.limits.max_clusters, 1);
    assert_eq!(snap.organization.deployed_elsewhere, 0);
    deploy_as_member("c1").await.unwrap();
    // c1's deploy is queued, not yet running: it already counts
    assert_eq!(
        snapshot(&store, "c2").await.organization.deployed_elsewhere,
        1
    );
    match deploy_as_member("c2").await {
        Err(StoreError::Refused(Refusal::OverLimit { limit, .. })) => {
            assert_eq!(limit, "max_clusters")
        }
        other => panic!("expected the cluster limit, got {other:?}"),
    }
    let listed = store.clusters().await.unwrap();
    assert_eq!(listed[1].organization.deployed_elsewhere, 1);

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
}

async fn memberships_users_keys_and_revocations_are_kept(db: &TestDatabase) {
    let store = open(db).await;
    let research = OrgName::parse("default").unwrap();
    let request = Membership {
        organization: research.clone(),
        login: "bob".into(),
        role: MembershipRole::Member,
        state: MembershipState::Requested,
        requested_at: t0(),
        decided_by: None,
        decided_at: None,
    };
    store.put_membership(request.clone()).await.unwrap();
    let approved = Membership {
        state: MembershipState::Approved,
        decided_by: Some("alice".into()),
        decided_at: Some(t0()),
        ..request
    };
    store.put_membership(approved.clone()).await.unwrap();
    assert_eq!(
        store.membership(&research, "bob").await.unwrap(),
        Some(approved.clone())
    );
    assert_eq!(
        store.memberships(&research).await.unwrap(),
        std::slice::from_ref(&approved)
    );
    assert_eq!(store.memberships_of("bob").await.unwrap(), [approved]);
    assert!(store.remove_membership(&research, "bob").await.unwrap());
    assert!(!store.remove_membership(&research, "bob").await.unwrap());

    let user = User {
        login: "bob".into(),
        github_id: 42,
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
    assert_eq!(store.user("bob").await.unwrap(), Some(later));
    assert!(store.user("nobody").await.unwrap().is_none());

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

    store.revoke_token("jti-1", t0()).await.unwrap();
    store.revoke_token("jti-1", t0()).await.unwrap();
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
    let credential = RunCredential {
        operation: op.clone(),
        state_key: "c1".into(),
        secret_hash: "h".into(),
    };
    store
        .put_run_credential(credential.clone(), t0())
        .await
        .unwrap();
    assert!(
        store.live_run_credential(&op).await.unwrap().is_none(),
        "queued, not running"
    );
    store
        .lease_next("w1", &[], t0(), Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
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
    let metadata = |tags: &[&str]| BlueprintMetadata {
        name: "local".into(),
        description: String::new(),
        nodes: Default::default(),
        variables: BTreeMap::new(),
        cost: Default::default(),
        worker_tags: tags.iter().map(|t| t.to_string()).collect(),
        jobs: None,
    };
    store
        .register_blueprint_version(BlueprintVersion {
            blueprint: "local".into(),
            version: "1.0.0".into(),
            metadata: metadata(&["aws", "us-west-2"]),
            files: BTreeMap::new(),
            digest: "d".into(),
            created_at: t0(),
        })
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
                .lease_next("w", &tags, t0(), Duration::from_secs(30))
                .await
                .unwrap()
        }
    };
    assert!(lease(&[]).await.is_none());
    assert!(lease(&["aws"]).await.is_none());
    assert_eq!(
        lease(&["us-west-2", "aws", "gpu"]).await.map(|op| op.id),
        Some(id)
    );
}

async fn runs_go_beside_each_other_and_an_interrupted_terraform_runner_gets_a_cleanup(
    db: &TestDatabase,
) {
    use slipway_core::job::{JobVersion, Jobs, RunnerKind};
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
        .register_blueprint_version(BlueprintVersion {
            blueprint: "local".into(),
            version: "1.0.0".into(),
            metadata: BlueprintMetadata {
                name: "local".into(),
                description: String::new(),
                nodes: Default::default(),
                variables: BTreeMap::new(),
                cost: Default::default(),
                worker_tags: Vec::new(),
                jobs: Some(jobs),
            },
            files: BTreeMap::new(),
            digest: "d".into(),
            created_at: t0(),
        })
        .await
        .unwrap();
    create(&store, "c1").await;
    let deployed = enqueued(
        &deploy(&store, "c1", DeployRequest::default(), t0())
            .await
            .unwrap(),
    );
    let op = store
        .lease_next("w", &[], t0(), Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(op.id, deployed);
    store
        .finish(&op.id, "w", succeeded(), serde_json::Value::Null, t0())
        .await
        .unwrap();

    // Two runs at once, beside the cluster's own operations.
    let run = |kind: OperationKind| {
        let store = store.clone();
        async move {
            let c = ctx(t0());
            enqueued(
                &store
                    .apply(&name("c1"), t0(), &intent("cluster.test"), &|snap| {
                        rules::decide_job(snap, kind, JobVersion::parse("v1").unwrap(), &c)
                    })
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
    let leased = store
        .lease_next("w", &[], t0(), Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(leased.id, first);
    assert_eq!(leased.job.as_ref().unwrap().runner, first);
    let results = serde_json::json!({"passed": true, "steps": [{"name": "smoke", "outcome": "passed", "exit_code": 0, "duration_ms": 5}]});
    store
        .finish(&first, "w", succeeded(), results.clone(), t0())
        .await
        .unwrap();
    let leased = store
        .lease_next("w", &[], t0(), Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(leased.id, second);
    store.reclaim(ReclaimScope::AllRunning, t0()).await.unwrap();

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
        })
        .await
        .unwrap();
    let cleanups: Vec<&Operation> = ops
        .iter()
        .filter(|o| o.kind == OperationKind::Cleanup)
        .collect();
    assert_eq!(cleanups.len(), 1, "{ops:?}");
    assert_eq!(cleanups[0].reason, Reason::Recovery);
    assert_eq!(cleanups[0].job.as_ref().unwrap().runner, second);
}
