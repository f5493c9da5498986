//! Clusters: who may see, define, deploy, destroy, reschedule, refresh,
//! remove and get a token for a cluster, and the rules of `core` reaching
//! the caller as refusals.

use chrono::{TimeDelta, Utc};
use slipway_api::types::{ActionResult, CreateCluster, DeployCluster, ScheduleDestroy};
use slipway_core::{ClusterState, Level, OperationKind, Reason};
use slipway_service::{Kind, scope};

use crate::support::*;

fn deploy_for(ttl: &str) -> DeployCluster {
    DeployCluster {
        ttl: Some(ttl.into()),
        ..DeployCluster::default()
    }
}

#[tokio::test]
async fn a_private_cluster_is_missing_to_whoever_is_not_of_its_organization() {
    let w = World::new().await;
    w.cluster("secret", false).await;
    for caller in [admin(), org_member()] {
        let status = w.service.cluster_status(&caller, "secret").await.unwrap();
        assert_eq!(status.organization, ORG);
    }
    let missing = refused(
        w.service.cluster_status(&member(), "secret").await,
        Kind::NotFound,
        "not_found",
    );
    // The same answer as for a name that does not exist.
    let none = refused(
        w.service.cluster_status(&member(), "nosuch").await,
        Kind::NotFound,
        "not_found",
    );
    assert_eq!(
        missing.message.replace("secret", "X"),
        none.message.replace("nosuch", "X")
    );
}

#[tokio::test]
async fn the_list_shows_each_caller_only_what_they_may_see() {
    let w = World::new().await;
    w.cluster("open", true).await;
    w.cluster("closed", false).await;
    let names = |page: slipway_api::types::ClusterPage| {
        page.clusters
            .into_iter()
            .map(|c| c.name)
            .collect::<Vec<_>>()
    };
    let of_member = w
        .service
        .list_clusters(&member(), &Default::default())
        .await
        .unwrap();
    assert_eq!(names(of_member), ["open"]);
    let of_org = w
        .service
        .list_clusters(&org_member(), &Default::default())
        .await
        .unwrap();
    assert_eq!(names(of_org), ["closed", "open"]);
}

#[tokio::test]
async fn only_members_of_the_organization_define_its_private_clusters_and_only_admins_public_ones()
{
    let w = World::new().await;
    let define = |name: &str, public: bool| CreateCluster {
        name: name.into(),
        blueprint: "local".into(),
        version: None,
        organization: Some(ORG.into()),
        public,
        nodes: None,
        variables: Default::default(),
    };
    let created = w
        .service
        .create_cluster(&org_member(), define("mine", false))
        .await
        .unwrap();
    assert_eq!(created.state, ClusterState::Absent);
    assert_eq!(created.nodes, 2, "the blueprint's default size");
    refused(
        w.service
            .create_cluster(&member(), define("theirs", false))
            .await,
        Kind::Forbidden,
        "forbidden",
    );
    refused(
        w.service
            .create_cluster(&org_member(), define("shared", true))
            .await,
        Kind::Forbidden,
        "forbidden",
    );
    w.service
        .create_cluster(&admin(), define("shared", true))
        .await
        .unwrap();
    refused(
        w.service
            .create_cluster(&admin(), define("shared", true))
            .await,
        Kind::Conflict,
        "already_exists",
    );
}

#[tokio::test]
async fn an_organization_member_deploys_a_private_cluster_as_a_user_operation() {
    let w = World::new().await;
    w.cluster("mine", false).await;
    let answer = w
        .service
        .deploy(&org_member(), "mine", deploy_for("1h"))
        .await
        .unwrap();
    assert_eq!(answer.result, ActionResult::Queued);
    let op = answer.operation.expect("the queued operation");
    assert_eq!(op.kind, OperationKind::Deploy);
    assert_eq!(op.reason, Reason::User);
    assert_eq!(op.requested_by, org_member().subject().to_string());
    let destroy_at = answer.cluster.destroy_at.expect("the ttl's destroy time");
    let in_an_hour = Utc::now() + TimeDelta::hours(1);
    assert!(
        (destroy_at - in_an_hour).num_seconds().abs() < 60,
        "{destroy_at}"
    );
}

#[tokio::test]
async fn whoever_is_not_of_the_organization_cannot_deploy_or_destroy_its_clusters() {
    let w = World::new().await;
    w.running("mine", false).await;
    w.running("shared", true).await;
    // Private: not even confirmed to exist.
    refused(
        w.service.deploy(&member(), "mine", deploy_for("1h")).await,
        Kind::NotFound,
        "not_found",
    );
    refused(
        w.service
            .destroy(&member(), "mine", Default::default())
            .await,
        Kind::NotFound,
        "not_found",
    );
    // Public: seen, but managed by administrators only.
    for caller in [member(), org_member()] {
        let e = refused(
            w.service
                .destroy(&caller, "shared", Default::default())
                .await,
            Kind::Forbidden,
            "forbidden",
        );
        assert!(e.message.contains("site administrators"), "{}", e.message);
    }
    let destroyed = w
        .service
        .destroy(&admin(), "shared", Default::default())
        .await
        .unwrap();
    assert_eq!(destroyed.result, ActionResult::Queued);
}

#[tokio::test]
async fn a_token_without_the_write_scope_reads_but_cannot_deploy() {
    let w = World::new().await;
    w.cluster("mine", false).await;
    let reader = with_scopes(org_member(), &[scope::CLUSTERS_READ]);
    w.service.cluster_status(&reader, "mine").await.unwrap();
    let e = refused(
        w.service.deploy(&reader, "mine", deploy_for("1h")).await,
        Kind::Forbidden,
        "forbidden",
    );
    assert!(e.message.contains(scope::CLUSTERS_WRITE), "{}", e.message);
    let writer = with_scopes(org_member(), &[scope::CLUSTERS_WRITE]);
    w.service
        .deploy(&writer, "mine", deploy_for("1h"))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_member_deploy_over_the_organizations_node_limit_is_over_limit() {
    let w = World::new().await;
    w.cluster("mine", false).await;
    let too_big = DeployCluster {
        nodes: Some(MAX_NODES + 1),
        ..deploy_for("1h")
    };
    let e = refused(
        w.service
            .deploy(&org_member(), "mine", too_big.clone())
            .await,
        Kind::OverLimit,
        "limit_exceeded",
    );
    assert_eq!(e.field.as_deref(), Some("max_nodes"));
    // Administrators are not bound by the organization's limits.
    let answer = w.service.deploy(&admin(), "mine", too_big).await.unwrap();
    assert_eq!(answer.operation.unwrap().nodes, MAX_NODES + 1);
}

#[tokio::test]
async fn a_member_deploy_without_a_destroy_time_is_refused_naming_the_lifetime_limit() {
    let w = World::new().await;
    w.cluster("mine", false).await;
    let e = refused(
        w.service
            .deploy(&org_member(), "mine", DeployCluster::default())
            .await,
        Kind::OverLimit,
        "limit_exceeded",
    );
    assert_eq!(e.field.as_deref(), Some("max_lifetime"));
    let e = refused(
        w.service
            .deploy(&org_member(), "mine", deploy_for("100h"))
            .await,
        Kind::OverLimit,
        "limit_exceeded",
    );
    assert_eq!(e.field.as_deref(), Some("max_lifetime"));
}

#[tokio::test]
async fn a_deploy_in_flight_is_joined_by_the_same_request_and_a_different_one_names_it() {
    let w = World::new().await;
    w.cluster("mine", false).await;
    let first = w
        .service
        .deploy(&admin(), "mine", DeployCluster::default())
        .await
        .unwrap();
    let op = first.operation.unwrap().id;
    let again = w
        .service
        .deploy(&admin(), "mine", DeployCluster::default())
        .await
        .unwrap();
    assert_eq!(again.result, ActionResult::Joined);
    assert_eq!(again.operation.unwrap().id, op);
    let e = refused(
        w.service
            .destroy(&admin(), "mine", Default::default())
            .await,
        Kind::Conflict,
        "operation_in_progress",
    );
    assert_eq!(e.operation.as_deref(), Some(op.as_str()));
}

#[tokio::test]
async fn a_scheduled_destroy_cannot_be_moved_within_five_minutes_of_it() {
    let w = World::new().await;
    w.running("mine", false).await;
    let at = |minutes| ScheduleDestroy {
        at: Some(Utc::now() + TimeDelta::minutes(minutes)),
        in_: None,
    };
    // Organization members keep within the organization's lifetimes.
    let e = refused(
        w.service
            .schedule_destroy(&org_member(), "mine", at(3))
            .await,
        Kind::OverLimit,
        "limit_exceeded",
    );
    assert_eq!(e.field.as_deref(), Some("min_lifetime"));
    let answer = w
        .service
        .schedule_destroy(&admin(), "mine", at(3))
        .await
        .unwrap();
    assert_eq!(answer.result, ActionResult::Scheduled);
    let e = refused(
        w.service.schedule_destroy(&admin(), "mine", at(60)).await,
        Kind::Conflict,
        "too_late_to_reschedule",
    );
    assert!(
        e.message
            .contains(&slipway_core::schedule::change_cutoff_in_words()),
        "{}",
        e.message
    );
    refused(
        w.service.unschedule_destroy(&admin(), "mine").await,
        Kind::Conflict,
        "too_late_to_reschedule",
    );
    refused(
        w.service.unschedule_destroy(&member(), "mine").await,
        Kind::NotFound,
        "not_found",
    );
}

#[tokio::test]
async fn refresh_needs_something_deployed_and_remove_needs_nothing_left() {
    let w = World::new().await;
    w.cluster("idle", false).await;
    refused(
        w.service.refresh(&admin(), "idle").await,
        Kind::Conflict,
        "not_deployed",
    );
    w.running("busy", false).await;
    refused(
        w.service.remove_cluster(&admin(), "busy").await,
        Kind::Conflict,
        "still_deployed",
    );
    let removed = w
        .service
        .remove_cluster(&org_member(), "idle")
        .await
        .unwrap();
    assert_eq!(removed.result, ActionResult::Removed);
    refused(
        w.service.cluster_status(&admin(), "idle").await,
        Kind::NotFound,
        "not_found",
    );
}

#[tokio::test]
async fn a_cluster_token_is_for_its_cluster_at_the_callers_level() {
    let w = World::new().await;
    w.running("mine", false).await;
    w.running("shared", true).await;
    let token = w.service.access(&org_member(), "mine").await.unwrap();
    assert_eq!(token.audience, "mine");
    assert_eq!(token.level, Level::OrgMember);
    let token = w.service.access(&member(), "shared").await.unwrap();
    assert_eq!(
        (token.audience.as_str(), token.level),
        ("shared", Level::Member)
    );
    refused(
        w.service.access(&member(), "mine").await,
        Kind::NotFound,
        "not_found",
    );
    let no_access_scope = with_scopes(org_member(), &[scope::CLUSTERS_READ]);
    refused(
        w.service.access(&no_access_scope, "mine").await,
        Kind::Forbidden,
        "forbidden",
    );
}

#[tokio::test]
async fn visibility_is_an_administrators_to_change_and_only_while_nothing_is_deployed() {
    let w = World::new().await;
    w.cluster("quiet", false).await;
    // A public cluster is an administrator's to manage: a member of the
    // organization may not make one.
    refused(
        w.service.set_visibility(&org_member(), "quiet", true).await,
        Kind::Forbidden,
        "forbidden",
    );
    refused(
        w.service.set_visibility(&member(), "quiet", true).await,
        Kind::NotFound,
        "not_found",
    );
    let public = w
        .service
        .set_visibility(&admin(), "quiet", true)
        .await
        .unwrap();
    assert_eq!(public.result, ActionResult::VisibilityChanged);
    assert!(public.cluster.public);
    // Now anyone signed in sees it; its organization's member may no
    // longer make it private again.
    assert!(
        w.service
            .cluster_status(&member(), "quiet")
            .await
            .unwrap()
            .public
    );
    refused(
        w.service
            .set_visibility(&org_member(), "quiet", false)
            .await,
        Kind::Forbidden,
        "forbidden",
    );
    // Deployed, it keeps what its module was deployed with.
    w.running("loud", false).await;
    let still = refused(
        w.service.set_visibility(&admin(), "loud", true).await,
        Kind::Conflict,
        "still_deployed",
    );
    assert!(
        still
            .message
            .contains("destroy it before changing who may use it"),
        "{}",
        still.message
    );
    assert!(
        !w.service
            .cluster_status(&admin(), "loud")
            .await
            .unwrap()
            .public
    );
    // A deploy in flight is in the way too.
    w.cluster("starting", false).await;
    w.service
        .deploy(&admin(), "starting", deploy_for("1h"))
        .await
        .unwrap();
    refused(
        w.service.set_visibility(&admin(), "starting", true).await,
        Kind::Conflict,
        "operation_in_progress",
    );
    let audit = w
        .service
        .audit_log(
            &admin(),
            slipway_service::tokens::AuditFilter {
                target: Some("quiet".into()),
                action: Some("cluster.visibility".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let changed: Vec<_> = audit.iter().filter(|e| e.result == "visibility").collect();
    assert_eq!(changed.len(), 1, "one change, audited once: {audit:?}");
    assert_eq!(changed[0].detail["public"], serde_json::json!(true));
}

#[tokio::test]
async fn a_deploy_patches_settings_keeping_a_secret_no_one_typed_again() {
    let w = World::new().await;
    let mut bp = blueprint();
    bp.blueprint = "hub".into();
    bp.metadata.name = "hub".into();
    bp.metadata.variables = serde_json::from_value(serde_json::json!({
        "password": {"type": "string", "sensitive": true},
        "size": {"type": "string", "allowed": ["small", "large"], "default": "small"},
        "replicas": {"type": "integer", "default": 1, "min": 1, "max": 3},
    }))
    .unwrap();
    w.store().register_blueprint_version(bp).await.unwrap();
    w.service
        .create_cluster(
            &admin(),
            CreateCluster {
                name: "hub1".into(),
                blueprint: "hub".into(),
                version: None,
                organization: Some(ORG.into()),
                public: false,
                nodes: Some(2),
                variables: serde_json::from_value(serde_json::json!({
                    "password": "s3cret", "size": "large", "replicas": 2
                }))
                .unwrap(),
            },
        )
        .await
        .unwrap();
    let name = slipway_core::ClusterName::parse("hub1").unwrap();
    let stored = async || {
        w.store()
            .cluster(&name)
            .await
            .unwrap()
            .unwrap()
            .cluster
            .spec
            .variables
    };
    let sealed_password = stored().await["password"].clone();
    assert_ne!(
        sealed_password,
        serde_json::json!("s3cret"),
        "sealed at rest"
    );
    let patch =
        serde_json::from_value(serde_json::json!({"size": "small", "replicas": null})).unwrap();
    w.service
        .deploy(
            &admin(),
            "hub1",
            DeployCluster {
                variables_patch: Some(patch),
                ..deploy_for("1h")
            },
        )
        .await
        .unwrap();
    let after = stored().await;
    assert_eq!(after["size"], serde_json::json!("small"));
    assert_eq!(after.get("replicas"), None, "null: back to its default");
    assert_eq!(
        after["password"], sealed_password,
        "the secret is kept as it was"
    );
    // Both ways at once is ambiguous: refused naming the field.
    let both = refused(
        w.service
            .deploy(
                &admin(),
                "hub1",
                DeployCluster {
                    variables: Some(Default::default()),
                    variables_patch: Some(Default::default()),
                    ..deploy_for("1h")
                },
            )
            .await,
        Kind::Invalid,
        "invalid_request",
    );
    assert_eq!(both.field.as_deref(), Some("variables_patch"));
    // A patch is checked like any setting: out of bounds is refused.
    let wrong = serde_json::from_value(serde_json::json!({"replicas": 9})).unwrap();
    let over = refused(
        w.service
            .deploy(
                &admin(),
                "hub1",
                DeployCluster {
                    variables_patch: Some(wrong),
                    ..deploy_for("1h")
                },
            )
            .await,
        Kind::Invalid,
        "invalid_request",
    );
    assert_eq!(
        over.field.as_deref(),
        Some("variables.replicas"),
        "{}",
        over.message
    );
}

#[tokio::test]
#[expect(
    deprecated,
    reason = "teams encrypt to the server's X25519 recipient: what sops writes today"
)]
async fn apply_plans_a_repositorys_cluster_and_refuses_secrets_out_of_place() {
    use base64::Engine as _;
    use slipway_api::types::{DeploymentAction, DesiredDeployment, SecretsFileBody};
    let w = World::new().await;
    let mut bp = blueprint();
    bp.blueprint = "hub".into();
    bp.metadata.name = "hub".into();
    bp.metadata.variables = serde_json::from_value(serde_json::json!({
        "password": {"type": "string", "sensitive": true},
        "greeting": {"type": "string", "default": "hello"},
    }))
    .unwrap();
    w.store().register_blueprint_version(bp).await.unwrap();
    let recipient: age::x25519::Recipient = w
        .service
        .secrets_recipient(&admin())
        .unwrap()
        .recipient
        .parse()
        .unwrap();
    let file = |contents: Vec<u8>| SecretsFileBody {
        path: "deployments/hub/secrets/staging.yaml".into(),
        contents: base64::engine::general_purpose::STANDARD.encode(contents),
    };
    let asked =
        |variables: serde_json::Value, secrets: Option<SecretsFileBody>| DesiredDeployment {
            organization: ORG.into(),
            blueprint: "hub".into(),
            version: "latest".into(),
            public: false,
            ttl: Some("1h".into()),
            nodes: None,
            variables: serde_json::from_value(variables).unwrap(),
            secrets,
            common_digest: None,
            commit: None,
            prune: false,
            digest: None,
            requires: None,
            override_reason: None,
            dry_run: true,
            plan: false,
        };
    let admin = admin();
    let apply = |req: DesiredDeployment| w.service.apply_deployment(&admin, "hub", "staging", req);

    let in_a_layer = refused(
        apply(asked(serde_json::json!({"password": "x"}), None)).await,
        Kind::Invalid,
        "invalid_request",
    );
    assert_eq!(in_a_layer.field.as_deref(), Some("variables.password"));
    let plain = refused(
        apply(asked(
            serde_json::json!({}),
            Some(file(b"password: x\n".to_vec())),
        ))
        .await,
        Kind::Invalid,
        "invalid_request",
    );
    assert!(
        plain
            .message
            .contains("deployments/hub/secrets/staging.yaml")
            && plain.message.contains("not encrypted"),
        "{}",
        plain.message
    );
    let not_secret = refused(
        apply(asked(
            serde_json::json!({}),
            Some(file(age::encrypt(&recipient, b"greeting: hi\n").unwrap())),
        ))
        .await,
        Kind::Invalid,
        "invalid_request",
    );
    assert!(
        not_secret
            .message
            .contains("greeting: is not a sensitive variable"),
        "{}",
        not_secret.message
    );

    let secret = age::encrypt(&recipient, b"password: hunter2\n").unwrap();
    let plan = apply(asked(
        serde_json::json!({"greeting": "hi"}),
        Some(file(secret)),
    ))
    .await
    .unwrap();
    assert_eq!(
        (plan.cluster.as_str(), plan.action),
        ("hub-staging", DeploymentAction::Create)
    );
    let settings: Vec<&str> = plan.changes.iter().map(|c| c.setting.as_str()).collect();
    assert_eq!(
        settings,
        [
            "version",
            "nodes",
            "public",
            "protected",
            "variables.greeting",
            "secrets.password"
        ]
    );
    assert!(
        !serde_json::to_string(&plan).unwrap().contains("hunter2"),
        "a secret by name only"
    );
    assert!(plan.operation.is_none());
    refused(
        w.service.cluster_status(&admin, "hub-staging").await,
        Kind::NotFound,
        "not_found",
    );
}

#[tokio::test]
async fn a_protected_cluster_is_kept_unless_an_administrator_forces_its_destroy_saying_why() {
    use slipway_api::types::DestroyCluster;
    let w = World::new().await;
    w.running("hub", false).await;
    refused(
        w.service.set_protection(&org_member(), "hub", true).await,
        Kind::Forbidden,
        "forbidden",
    );
    let protected = w
        .service
        .set_protection(&admin(), "hub", true)
        .await
        .unwrap();
    assert_eq!(protected.result, ActionResult::ProtectionChanged);
    assert!(protected.cluster.protected && protected.cluster.destroy_at.is_none());
    for caller in [org_member(), admin()] {
        let kept = refused(
            w.service.destroy(&caller, "hub", Default::default()).await,
            Kind::Conflict,
            "protected",
        );
        assert!(kept.message.contains("protected"), "{}", kept.message);
    }
    refused(
        w.service
            .schedule_destroy(
                &org_member(),
                "hub",
                ScheduleDestroy {
                    at: None,
                    in_: Some("1h".into()),
                },
            )
            .await,
        Kind::Conflict,
        "protected",
    );
    // A member needs no destroy time to resize it.
    let resized = w
        .service
        .deploy(
            &org_member(),
            "hub",
            DeployCluster {
                nodes: Some(3),
                ..DeployCluster::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(resized.result, ActionResult::Queued);
    w.run_next(succeeded()).await;
    let force = |reason: Option<&str>| DestroyCluster {
        force: true,
        reason: reason.map(str::to_owned),
    };
    refused(
        w.service
            .destroy(&org_member(), "hub", force(Some("mine")))
            .await,
        Kind::Forbidden,
        "forbidden",
    );
    let why = refused(
        w.service.destroy(&admin(), "hub", force(None)).await,
        Kind::Invalid,
        "invalid_request",
    );
    assert_eq!(why.field.as_deref(), Some("reason"));
    let forced = w
        .service
        .destroy(&admin(), "hub", force(Some("the project ended")))
        .await
        .unwrap();
    assert_eq!(forced.result, ActionResult::Queued);
    let audit = w
        .service
        .audit_log(
            &admin(),
            slipway_service::tokens::AuditFilter {
                target: Some("hub".into()),
                action: Some("cluster.destroy.forced".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].detail["reason"], "the project ended");
}
