//! The queue (`QueueStore`, `sql/queue.rs`): leases, renewals, endings,
//! cancels, reclaiming, worker tags, runs beside each other, pages of
//! operations, the queue's depth and its one-active-operation index, and
//! notifications across processes.

use crate::fixtures::*;

contract!(
    an_operation_is_leased_run_and_finished,
    only_the_leaseholder_may_finish,
    a_failed_scheduled_destroy_stays_scheduled_and_retries,
    reclaim_interrupts_and_queues_a_reconciling_refresh,
    expired_leases_are_reclaimed_and_live_ones_are_not,
    queued_operations_can_be_cancelled,
    concurrent_workers_lease_each_operation_once,
    workers_lease_only_what_their_tags_allow,
    runs_go_beside_each_other_and_an_interrupted_terraform_runner_gets_a_cleanup,
    a_lease_carries_its_cluster_blueprint_and_state_credential,
    a_cancel_of_running_work_is_requested_and_of_finished_work_is_too_late,
    reclaim_writes_what_the_caller_decides_and_nothing_else,
    queue_depth_counts_queued_and_running_operations,
    leases_are_fair_between_organizations_and_within_their_limits,
    operations_are_listed_newest_first_in_pages,
    the_one_active_operation_index_covers_exactly_the_infrastructure_kinds,
);

/// What follows an interrupted operation, as the server decides it (and as
/// the store used to decide it itself): a reconciling refresh after an
/// infrastructure operation, a cleanup after a run on a Terraform runner —
/// each with a fresh context of Slipway's recovery.
fn recovery(
    now: Timestamp,
) -> impl Fn(&Operation, &ClusterSnapshot, Option<RunnerKind>) -> Option<Decision> + Send + Sync {
    move |op: &Operation, snap: &ClusterSnapshot, runner: Option<RunnerKind>| {
        let ctx = RuleContext {
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
    assert_eq!(again.decision.outcome, Outcome::AlreadyRunning);
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

async fn a_failed_scheduled_destroy_stays_scheduled_and_retries(db: &TestDatabase) {
    let store = open(db).await;
    let at = t0() + TimeDelta::minutes(10);
    for cluster in ["c2", "c1"] {
        create(&store, cluster).await;
        deploy(
            &store,
            cluster,
            DeployRequest {
                destroy_at: Some(at),
                ..Default::default()
            },
            t0(),
        )
        .await
        .unwrap();
        run_to_end(&store, "w1", succeeded(), t0()).await;
    }

    assert!(
        store
            .due_schedules(at - TimeDelta::seconds(1))
            .await
            .unwrap()
            .is_empty()
    );
    // Due at the same instant: the earliest first, then by name.
    let due = store.due_schedules(at).await.unwrap();
    assert_eq!(due, [name("c1"), name("c2")]);
    // Both fire in one transaction, a cluster named twice once; a second
    // scheduler firing the same clusters finds nothing due.
    let fire = |snap: &ClusterSnapshot| {
        let c = RuleContext {
            reason: Reason::Schedule,
            actor: Subject::scheduler().to_string(),
            ..ctx(at)
        };
        rules::decide_fire_schedule(snap, &c)
    };
    let named = [name("c2"), name("c1"), name("c2")];
    let fired = store
        .fire_schedules(&named, at, &intent("schedule.fire"), &fire)
        .await
        .unwrap();
    assert_eq!(
        fired
            .iter()
            .map(|(snap, _)| snap.cluster.name.as_str())
            .collect::<Vec<_>>(),
        ["c1", "c2"],
        "in name order, each once"
    );
    for (before, decision) in &fired {
        let op = decision.new_operation().expect("a destroy is queued");
        assert_eq!(op.kind, OperationKind::Destroy);
        assert_eq!(op.reason, Reason::Schedule);
        assert_eq!(before.schedule.as_ref().unwrap().due_at(), at);
        let now = snapshot(&store, before.cluster.name.as_str()).await;
        assert_eq!(now.schedule.unwrap().fired_operation, Some(op.id.clone()));
        assert_eq!(now.active.as_ref().map(|a| &a.id), Some(&op.id));
        let audit = store
            .audit_log(&AuditQuery {
                target: Some(before.cluster.name.to_string()),
                action: Some("schedule.fire".into()),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(audit.len(), 1, "{audit:?}");
        assert_eq!(audit[0].detail["operation"], serde_json::json!(op.id));
    }
    assert!(
        store.due_schedules(at).await.unwrap().is_empty(),
        "fired once"
    );
    let again = store
        .fire_schedules(&due, at, &intent("schedule.fire"), &fire)
        .await
        .unwrap();
    assert!(
        again
            .iter()
            .all(|(_, decision)| decision.outcome == Outcome::NotDue),
        "{again:?}"
    );

    // Both destroys fail: each schedule stays, to be tried again.
    let failed = Ending::Stopped {
        state: OperationState::Failed,
        error: "provisioner exploded".into(),
    };
    run_to_end(&store, "w1", failed.clone(), at).await;
    run_to_end(&store, "w1", failed, at).await;
    for cluster in ["c1", "c2"] {
        let snap = snapshot(&store, cluster).await;
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
    }
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
        differing: Vec::new(),
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
    let op = match store.request_cancel(&id, &bob(), "bob", at).await.unwrap() {
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
                &decide_on(
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
    let op = match store
        .request_cancel(&id, &alice(), "alice", at)
        .await
        .unwrap()
    {
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
    assert!(
        last.message.starts_with("alice asked to cancel"),
        "people read the log by name: {}",
        last.message
    );

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
        store
            .request_cancel(&id, &bob(), "bob", later)
            .await
            .unwrap(),
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
    match store
        .request_cancel(&id, &bob(), "bob", later)
        .await
        .unwrap()
    {
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
        .request_cancel(&done.id, &alice(), "alice", later)
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
        store
            .request_cancel(&unknown, &alice(), "alice", later)
            .await,
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
        Some(Decision {
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
            superseded: None,
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
    // The audit log names both: the interrupted operation and the one
    // that follows it.
    let audit = store
        .audit_log(&AuditQuery {
            target: Some("c2".into()),
            action: Some("operation.interrupt".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let named: Vec<(&str, &serde_json::Value)> = audit
        .iter()
        .map(|e| (e.result.as_str(), &e.detail["operation"]))
        .collect();
    assert!(
        named.contains(&("interrupted", &serde_json::json!(second))),
        "{audit:?}"
    );
    assert!(
        named.contains(&("queued", &serde_json::json!(refresh))),
        "{audit:?}"
    );

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

/// A burst queued first does not keep another organization waiting: the
/// organization served least lately goes first; one at its
/// `max_running_operations` waits for one of its operations to end.
async fn leases_are_fair_between_organizations_and_within_their_limits(db: &TestDatabase) {
    let store = open(db).await;
    store
        .create_organization(Organization {
            name: org("tight"),
            github_org: None,
            github_team: None,
            limits: Limits {
                max_running_operations: 1,
                ..Limits::default()
            },
            destroy_when_idle: false,
            created_at: t0(),
            updated_at: t0(),
        })
        .await
        .unwrap();
    let mut at = 0;
    let mut queue = |n: &'static str, organization: &'static str| {
        at += 1;
        let now = t0() + ms(at);
        let store = store.clone();
        async move {
            create_in(&store, n, organization, false).await;
            enqueued(
                &deploy(&store, n, DeployRequest::default(), now)
                    .await
                    .unwrap(),
            )
        }
    };
    let mut storm = Vec::new();
    for n in ["s0", "s1", "s2", "s3", "s4"] {
        storm.push(queue(n, "storm").await);
    }
    let bystander = queue("b0", "bystander").await;
    let tight = [queue("t0", "tight").await, queue("t1", "tight").await];
    let now = t0() + ms(100);
    let leased = |l: Option<Lease>| l.expect("work to lease").operation.id;

    // Nobody was served yet: the oldest.
    let first = leased(lease(&store, "w", now, 30).await);
    assert_eq!(first, storm[0]);
    store
        .finish(&first, "w", succeeded(), serde_json::Value::Null, now)
        .await
        .unwrap();
    // The storm was served: the others first, though queued later.
    let second = leased(lease(&store, "w", now, 30).await);
    let third = leased(lease(&store, "w", now, 30).await);
    assert_eq!([second, third], [bystander, tight[0].clone()]);
    // tight runs its one: the storm again, not tight's second.
    assert_eq!(leased(lease(&store, "w", now, 30).await), storm[1]);
    let by_org = store.queue_by_organization().await.unwrap();
    let of = |o: &str| {
        by_org
            .iter()
            .find(|q| q.organization == o)
            .map(|q| (q.queued, q.running))
    };
    assert_eq!(of("storm"), Some((3, 1)));
    assert_eq!(of("bystander"), Some((0, 1)));
    assert_eq!(of("tight"), Some((1, 1)));
    assert_eq!(
        by_org
            .iter()
            .find(|q| q.organization == "tight")
            .unwrap()
            .oldest_queued_at,
        Some(t0() + ms(8)),
        "tight's second has waited since it was queued"
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
    store
        .request_cancel(&ids[2], &alice(), "alice", t0())
        .await
        .unwrap();
    assert_eq!(store.queue_depth().await.unwrap(), depth(0, 1));
    store
        .request_cancel(&second, &alice(), "alice", t0())
        .await
        .unwrap();
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
