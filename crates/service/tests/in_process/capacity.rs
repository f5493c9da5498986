//! Capacity requests: who may ask for nodes on a cluster, the cluster
//! following the requests, and a person's resize refused while requests
//! hold the size.

use slipway_api::types::{CapacityResult, CreateCapacityRequest, DeployCluster};
use slipway_core::OperationKind;
use slipway_service::Kind;

use crate::support::*;

fn ask(nodes: u32) -> CreateCapacityRequest {
    CreateCapacityRequest {
        nodes,
        ttl: Some("1h".into()),
        until: None,
    }
}

#[tokio::test]
async fn only_members_of_the_organization_ask_for_capacity_even_on_a_public_cluster() {
    let w = World::new().await;
    w.running("shared", true).await;
    w.running("mine", false).await;
    let e = refused(
        w.service
            .request_capacity(&member(), "shared", ask(3))
            .await,
        Kind::Forbidden,
        "forbidden",
    );
    assert!(e.message.contains(ORG), "{}", e.message);
    refused(
        w.service.request_capacity(&member(), "mine", ask(3)).await,
        Kind::NotFound,
        "not_found",
    );
    let answer = w
        .service
        .request_capacity(&org_member(), "shared", ask(3))
        .await
        .unwrap();
    assert_eq!(answer.result, CapacityResult::Queued);
}

#[tokio::test]
async fn a_request_resizes_the_cluster_and_then_holds_its_size_against_a_persons_resize() {
    let w = World::new().await;
    w.running("mine", false).await;
    // Until a time, not for a while: a repeat a moment later asks for the
    // same, whatever second it falls in.
    let until = CreateCapacityRequest {
        nodes: 3,
        ttl: None,
        until: Some(chrono::Utc::now() + chrono::TimeDelta::hours(1)),
    };
    let answer = w
        .service
        .request_capacity(&org_member(), "mine", until.clone())
        .await
        .unwrap();
    assert_eq!(answer.result, CapacityResult::Queued);
    let op = answer.operation.expect("the resize");
    let view = w.service.operation(&admin(), &op).await.unwrap();
    assert_eq!((view.kind, view.nodes), (OperationKind::Update, 3));
    // A repeat of the same request changes nothing.
    let again = w
        .service
        .request_capacity(&org_member(), "mine", until)
        .await
        .unwrap();
    assert_eq!(again.result, CapacityResult::Redundant);
    w.run_next(succeeded()).await;
    let e = refused(
        w.service
            .deploy(
                &admin(),
                "mine",
                DeployCluster {
                    nodes: Some(2),
                    ..DeployCluster::default()
                },
            )
            .await,
        Kind::Conflict,
        "capacity_held",
    );
    assert!(e.message.contains('3'), "{}", e.message);
}

#[tokio::test]
async fn a_request_is_withdrawn_by_whoever_asked_not_by_another_member() {
    let w = World::new().await;
    w.running("mine", false).await;
    let answer = w
        .service
        .request_capacity(&org_member(), "mine", ask(3))
        .await
        .unwrap();
    let id = answer.request.expect("the request").id;
    refused(
        w.service
            .withdraw_capacity(&other_org_member(), "mine", &id)
            .await,
        Kind::Forbidden,
        "forbidden",
    );
    let seen_by_other = w
        .service
        .capacity_requests(&other_org_member(), "mine")
        .await
        .unwrap();
    assert!(
        seen_by_other.is_empty(),
        "another member sees only their own"
    );
    let withdrawn = w
        .service
        .withdraw_capacity(&org_member(), "mine", &id)
        .await
        .unwrap();
    assert_eq!(withdrawn.request.map(|r| r.id), Some(id));
    assert!(withdrawn.requests.is_empty());
}
