//! Operations and runs: who may see and cancel an operation, and who may
//! start a TEST or RELEASE.

use slipway_core::{OperationKind, OperationState};
use slipway_service::Kind;

use crate::support::*;

#[tokio::test]
async fn an_operation_of_a_private_cluster_is_missing_to_outsiders() {
    let w = World::new().await;
    w.cluster("mine", false).await;
    let op = w.queue_deploy("mine").await;
    let seen = w.service.operation(&org_member(), &op).await.unwrap();
    assert_eq!(
        (seen.kind, seen.state),
        (OperationKind::Deploy, OperationState::Queued)
    );
    refused(
        w.service.operation(&member(), &op).await,
        Kind::NotFound,
        "not_found",
    );
    refused(
        w.service.cancel(&member(), &op).await,
        Kind::NotFound,
        "not_found",
    );
}

#[tokio::test]
async fn a_queued_operation_is_cancelled_by_a_member_of_its_organization_not_on_a_public_cluster() {
    let w = World::new().await;
    w.cluster("shared", true).await;
    let public_op = w.queue_deploy("shared").await;
    refused(
        w.service.cancel(&org_member(), &public_op).await,
        Kind::Forbidden,
        "forbidden",
    );
    w.cluster("mine", false).await;
    let op = w.queue_deploy("mine").await;
    let cancelled = w.service.cancel(&org_member(), &op).await.unwrap();
    assert_eq!(cancelled.state, OperationState::Cancelled);
    let after = w.service.operation(&admin(), &op).await.unwrap();
    assert_eq!(after.state, OperationState::Cancelled);
}

#[tokio::test]
async fn tests_and_releases_are_for_administrators_on_a_blueprint_that_defines_them() {
    let w = World::new().await;
    w.running("mine", false).await;
    let e = refused(
        w.service
            .start_run(&org_member(), "mine", OperationKind::Test, "v1")
            .await,
        Kind::Forbidden,
        "forbidden",
    );
    assert!(e.message.contains("site administrators"), "{}", e.message);
    let e = refused(
        w.service
            .start_run(&admin(), "mine", OperationKind::Test, "v1")
            .await,
        Kind::Conflict,
        "no_job",
    );
    assert!(e.message.contains("local@1.0.0"), "{}", e.message);
}
