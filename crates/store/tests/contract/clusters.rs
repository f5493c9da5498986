//! Clusters (`ClusterStore`, `sql/clusters.rs`): created once, decisions
//! applied in one transaction with their schedules and audit entries, pages
//! of clusters, the organization's load a rule sees, the runtime directory.

use crate::fixtures::*;

contract!(
    clusters_are_created_once,
    a_deploy_is_queued_with_its_schedule_in_one_transaction,
    identical_requests_join_and_conflicting_ones_are_refused,
    a_successful_destroy_removes_every_schedule,
    concurrent_deploys_start_exactly_one_operation,
    organizations_bound_the_deploys_of_their_members,
    clusters_are_listed_in_pages_with_their_operations_and_schedules,
    a_decision_answers_the_cluster_as_it_is_after_the_change,
    a_clusters_last_operation_is_read_with_it,
    a_change_of_who_may_use_a_cluster_is_announced,
    a_clusters_runtime_directory_is_chosen_once_and_forgotten_when_nothing_is_left,
    the_deployed_count_is_the_snapshots_own_rule,
    a_clusters_deployment_record_is_replaced_by_the_next_apply,
    a_proposed_change_is_kept_until_replaced_or_forgotten,
    a_queued_drift_check_gives_way_to_a_persons_deploy,
);

/// The organization's load as a rule deciding on cluster `n` sees it (a
/// decision that changes nothing).
async fn organization_load(store: &SqlStore, n: &str) -> OrganizationLoad {
    let seen = Mutex::new(None);
    decide_on(store, &name(n), t0(), &intent("probe"), &|_, load| {
        *seen.lock().unwrap() = Some(load.clone());
        Ok(Decision {
            outcome: Outcome::NotDue,
            schedule: ScheduleChange::Keep,
            withdrawn: Vec::new(),
            superseded: None,
        })
    })
    .await
    .unwrap();
    seen.into_inner().unwrap().expect("the rule decided")
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
    assert!(
        events[0].message.contains("queued by alice"),
        "people read the log by name: {}",
        events[0].message
    );
    assert_eq!(events[0].data["requested_by"], alice().as_str());
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
    assert_eq!(again.decision.outcome, Outcome::Joined(first.clone()));

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
            Ok(applied) if applied.decision.new_operation().is_some() => started += 1,
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
    let member = |now| RuleContext {
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
            decide_on(
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
        &decide_on(
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
            ..Default::default()
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

    // Searched and filtered, and the page before a name.
    let filtered = |filter: ClusterFilter| {
        let store = store.clone();
        async move {
            store
                .clusters(&filter)
                .await
                .unwrap()
                .iter()
                .map(|s| s.cluster.name.to_string())
                .collect::<Vec<_>>()
        }
    };
    let all = || ClusterFilter {
        limit: 100,
        ..Default::default()
    };
    assert_eq!(
        filtered(ClusterFilter {
            search: Some("ha".into()),
            ..all()
        })
        .await,
        ["alpha", "charlie"]
    );
    assert!(
        filtered(ClusterFilter {
            search: Some("%".into()),
            ..all()
        })
        .await
        .is_empty(),
        "a search is a part of a name, never a pattern"
    );
    assert_eq!(
        filtered(ClusterFilter {
            state: Some(slipway_core::ClusterState::Running),
            ..all()
        })
        .await,
        ["delta"]
    );
    assert_eq!(
        filtered(ClusterFilter {
            public: Some(true),
            ..all()
        })
        .await,
        ["bravo", "delta", "foxtrot"]
    );
    assert_eq!(
        filtered(ClusterFilter {
            public: Some(false),
            visible_to: Some(vec![org("research")]),
            ..all()
        })
        .await,
        ["alpha"]
    );
    assert_eq!(
        filtered(ClusterFilter {
            created_by: Some(alice().to_string()),
            ..all()
        })
        .await
        .len(),
        6
    );
    assert!(
        filtered(ClusterFilter {
            created_by: Some(bob().to_string()),
            ..all()
        })
        .await
        .is_empty()
    );
    // Backwards: the last `limit` before a name, still in name order.
    assert_eq!(
        filtered(ClusterFilter {
            limit: 2,
            before: Some(name("echo")),
            ..all()
        })
        .await,
        ["charlie", "delta"]
    );
    assert_eq!(
        filtered(ClusterFilter {
            limit: 2,
            before: Some(name("bravo")),
            ..all()
        })
        .await,
        ["alpha"]
    );
    assert_eq!(
        filtered(ClusterFilter {
            before: Some(name("foxtrot")),
            public: Some(true),
            ..all()
        })
        .await,
        ["bravo", "delta"]
    );

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

/// Processes remember who may use a cluster (`Service::access`): making it
/// public or private, or removing it, must tell them.
async fn a_change_of_who_may_use_a_cluster_is_announced(db: &TestDatabase) {
    let store = open(db).await;
    create(&store, "c1").await;
    let mut notes = store.subscribe();
    let changed = Notification::AccessChanged {
        cluster: name("c1"),
    };

    decide_on(&store, &name("c1"), t0(), &intent("public"), &|snap, _| {
        rules::decide_visibility(snap, true)
    })
    .await
    .unwrap();
    assert!(snapshot(&store, "c1").await.cluster.public);
    assert_eq!(heard(&mut notes), std::slice::from_ref(&changed));

    decide_on(&store, &name("c1"), t0(), &intent("remove"), &|snap, _| {
        rules::decide_remove(snap)
    })
    .await
    .unwrap();
    assert!(store.cluster(&name("c1")).await.unwrap().is_none());
    assert!(
        heard(&mut notes).contains(&changed),
        "removed: {changed:?} announced"
    );
}

async fn a_clusters_last_operation_is_read_with_it(db: &TestDatabase) {
    let store = open(db).await;
    let read = |n: &'static str| {
        let store = store.clone();
        async move {
            store
                .cluster_with_last_operation(&name(n))
                .await
                .unwrap()
                .expect("cluster exists")
        }
    };
    assert!(
        store
            .cluster_with_last_operation(&name("nope"))
            .await
            .unwrap()
            .is_none()
    );
    create(&store, "c1").await;
    assert_eq!(read("c1").await, (snapshot(&store, "c1").await, None));

    // In flight: as the snapshot's operation in flight says.
    let deployed = deploy(&store, "c1", DeployRequest::default(), t0())
        .await
        .unwrap();
    let id = enqueued(&deployed);
    let (snap, last) = read("c1").await;
    assert_eq!(snap, snapshot(&store, "c1").await);
    let in_flight = LastOperation {
        id: id.clone(),
        kind: OperationKind::Deploy,
        state: OperationState::Queued,
        error: None,
    };
    assert_eq!(last, Some(in_flight.clone()));
    assert_eq!(
        last.as_ref(),
        snap.active.as_ref().map(LastOperation::from).as_ref()
    );

    // Finished: what it came to, though nothing is in flight.
    run_to_end(&store, "w1", succeeded(), t0()).await;
    let (snap, last) = read("c1").await;
    assert!(snap.active.is_none());
    assert_eq!(
        last,
        Some(LastOperation {
            state: OperationState::Succeeded,
            ..in_flight.clone()
        })
    );

    // A failure with its error.
    let destroyed = destroy(&store, "c1", t0() + TimeDelta::minutes(1))
        .await
        .unwrap();
    let failure = Ending::Stopped {
        state: OperationState::Failed,
        error: "the cloud said no".into(),
    };
    run_to_end(&store, "w1", failure, t0() + TimeDelta::minutes(1)).await;
    let (snap, last) = read("c1").await;
    assert_eq!(snap, snapshot(&store, "c1").await);
    assert_eq!(
        last,
        Some(LastOperation {
            id: enqueued(&destroyed),
            kind: OperationKind::Destroy,
            state: OperationState::Failed,
            error: Some("the cloud said no".into()),
        })
    );
}

async fn a_decision_answers_the_cluster_as_it_is_after_the_change(db: &TestDatabase) {
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
    assert_eq!(joined.decision.outcome, Outcome::Joined(id.clone()));
    assert_eq!(&joined.snapshot, after);

    // A schedule moved, then removed.
    let moved = at + TimeDelta::hours(1);
    let c = ctx(t0());
    let rescheduled = decide_on(
        &store,
        &name("c1"),
        t0(),
        &intent("cluster.schedule"),
        &|snap, load| rules::decide_schedule_destroy(snap, load, moved, &c),
    )
    .await
    .unwrap();
    assert_eq!(rescheduled.decision.outcome, Outcome::Scheduled(moved));
    let schedule = rescheduled.snapshot.schedule.as_ref().unwrap();
    assert_eq!(schedule.destroy_at, moved);
    assert_eq!(schedule.requested_by, alice().as_str());
    assert_eq!(rescheduled.snapshot.active, after.active);
    assert_eq!(rescheduled.snapshot, snapshot(&store, "c1").await);
    let unscheduled = decide_on(
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

/// The count of an organization's deployed clusters the limits are
/// decided on (SQL) agrees with `ClusterSnapshot::counts_as_deployed`, the
/// rule the budget's burn rates and shutdown use, for a cluster in each
/// state that matters.
async fn the_deployed_count_is_the_snapshots_own_rule(db: &TestDatabase) {
    let store = open(db).await;
    for n in [
        "absent",
        "queued",
        "running",
        "failed",
        "destroyed",
        "destroying",
        "probe",
    ] {
        create(&store, n).await;
    }
    let failed = Ending::Stopped {
        state: OperationState::Failed,
        error: "boom".into(),
    };
    deploy(&store, "running", DeployRequest::default(), t0())
        .await
        .unwrap();
    run_to_end(&store, "w", succeeded(), t0()).await;
    deploy(&store, "failed", DeployRequest::default(), t0())
        .await
        .unwrap();
    run_to_end(&store, "w", failed, t0()).await;
    deploy(&store, "destroyed", DeployRequest::default(), t0())
        .await
        .unwrap();
    run_to_end(&store, "w", succeeded(), t0()).await;
    destroy(&store, "destroyed", t0()).await.unwrap();
    run_to_end(&store, "w", succeeded(), t0()).await;
    deploy(&store, "destroying", DeployRequest::default(), t0())
        .await
        .unwrap();
    run_to_end(&store, "w", succeeded(), t0()).await;
    destroy(&store, "destroying", t0()).await.unwrap();
    lease(&store, "w", t0(), 30)
        .await
        .expect("the destroy to lease");
    // Last, so that no lease above takes it: a deploy that only waits.
    deploy(&store, "queued", DeployRequest::default(), t0())
        .await
        .unwrap();

    let mut counted = Vec::new();
    for n in [
        "absent",
        "queued",
        "running",
        "failed",
        "destroyed",
        "destroying",
    ] {
        if snapshot(&store, n).await.counts_as_deployed() {
            counted.push(n);
        }
    }
    assert_eq!(
        counted,
        ["queued", "running", "failed", "destroying"],
        "the snapshot's rule"
    );
    assert_eq!(
        organization_load(&store, "probe").await.deployed_elsewhere as usize,
        counted.len(),
        "the store's count"
    );
}

async fn a_clusters_deployment_record_is_replaced_by_the_next_apply(db: &TestDatabase) {
    let store = open(db).await;
    create(&store, "hub-staging").await;
    assert_eq!(
        store.deployment_record(&name("hub-staging")).await.unwrap(),
        None
    );
    let first = slipway_store::DeploymentRecord {
        cluster: name("hub-staging"),
        deployment: "hub".into(),
        environment: "staging".into(),
        version: "1.0.0".into(),
        common_digest: "aaa".into(),
        commit: Some("c0ffee".into()),
        prune: false,
        digest: "d1".into(),
        spec_digest: "s1".into(),
        requires: Some("dev".into()),
        applied_by: alice().to_string(),
        applied_at: t0(),
    };
    store.record_deployment(&first).await.unwrap();
    assert_eq!(
        store.deployment_record(&name("hub-staging")).await.unwrap(),
        Some(first.clone())
    );
    let next = slipway_store::DeploymentRecord {
        version: "1.1.0".into(),
        common_digest: "bbb".into(),
        commit: None,
        prune: true,
        digest: "d2".into(),
        applied_at: t0() + ms(1000),
        ..first
    };
    store.record_deployment(&next).await.unwrap();
    assert_eq!(
        store.deployment_record(&name("hub-staging")).await.unwrap(),
        Some(next.clone())
    );
    assert_eq!(
        store.deployment_records().await.unwrap(),
        [next],
        "one per cluster"
    );
}

async fn a_proposed_change_is_kept_until_replaced_or_forgotten(db: &TestDatabase) {
    let store = open(db).await;
    create(&store, "hub-prod").await;
    let cluster = name("hub-prod");
    assert_eq!(store.deployment_proposal(&cluster).await.unwrap(), None);
    let first = slipway_store::DeploymentProposal {
        cluster: cluster.clone(),
        deployment: "hub".into(),
        environment: "prod".into(),
        desired: serde_json::json!({"version": "1.0.0", "requires": "staging"}),
        changes: serde_json::json!([{"setting": "nodes", "from": 1, "to": 2}]),
        commit: Some("c0ffee".into()),
        base_spec_digest: "s1".into(),
        plan_operation: Some(OperationId::from_uuid(uuid::Uuid::now_v7())),
        proposed_by: alice().to_string(),
        proposed_at: t0(),
    };
    store.propose_deployment(&first).await.unwrap();
    assert_eq!(
        store.deployment_proposal(&cluster).await.unwrap(),
        Some(first.clone())
    );
    let next = slipway_store::DeploymentProposal {
        commit: None,
        plan_operation: None,
        desired: serde_json::json!({"version": "1.1.0"}),
        proposed_at: t0() + ms(1000),
        ..first
    };
    store.propose_deployment(&next).await.unwrap();
    assert_eq!(
        store.deployment_proposal(&cluster).await.unwrap(),
        Some(next.clone()),
        "the newest replaces the one before"
    );
    assert_eq!(store.deployment_proposals().await.unwrap(), [next]);
    assert!(store.forget_deployment_proposal(&cluster).await.unwrap());
    assert_eq!(store.deployment_proposal(&cluster).await.unwrap(), None);
    assert!(
        !store.forget_deployment_proposal(&cluster).await.unwrap(),
        "nothing left to forget"
    );
}

/// A background drift check still queued does not make a person's deploy
/// conflict: it ends cancelled, saying why, in the transaction that queues
/// the deploy.
async fn a_queued_drift_check_gives_way_to_a_persons_deploy(db: &TestDatabase) {
    let store = open(db).await;
    create(&store, "c1").await;
    let check = OperationId::from_uuid(uuid::Uuid::now_v7());
    decide_on(
        &store,
        &name("c1"),
        t0(),
        &intent("cluster.drift_check"),
        &|snap, _| {
            Ok(Decision {
                outcome: Outcome::Enqueued(NewOperation {
                    id: check.clone(),
                    kind: OperationKind::Refresh,
                    reason: Reason::Drift,
                    requested_by: Subject::drift().to_string(),
                    spec: snap.cluster.spec.clone(),
                    job: None,
                }),
                schedule: ScheduleChange::Keep,
                withdrawn: Vec::new(),
                superseded: None,
            })
        },
    )
    .await
    .unwrap();
    let deployed = deploy(
        &store,
        "c1",
        DeployRequest {
            nodes: Some(2),
            ..Default::default()
        },
        t0() + ms(1),
    )
    .await
    .unwrap();
    let id = enqueued(&deployed);
    let snap = snapshot(&store, "c1").await;
    assert_eq!(snap.active.map(|op| op.id), Some(id));
    let superseded = store.operation(&check).await.unwrap().unwrap();
    assert_eq!(superseded.state, OperationState::Cancelled);
    assert!(
        superseded
            .error
            .as_deref()
            .unwrap()
            .contains("superseded by alice's deploy"),
        "{:?}",
        superseded.error
    );
}
