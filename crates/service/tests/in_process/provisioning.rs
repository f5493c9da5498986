//! Provisioning paused site-wide: only administrators pause and resume,
//! everyone signed in sees it, and while paused nothing is leased.

use std::time::Duration;

use chrono::Utc;
use slipway_service::Kind;

use crate::support::*;

#[tokio::test]
async fn only_administrators_pause_and_everyone_sees_it() {
    let w = World::new().await;
    refused(
        w.service
            .pause_provisioning(&org_member(), "maintenance")
            .await,
        Kind::Forbidden,
        "forbidden",
    );
    refused(
        w.service.resume_provisioning(&member()).await,
        Kind::Forbidden,
        "forbidden",
    );
    refused(
        w.service.pause_provisioning(&admin(), "  ").await,
        Kind::Invalid,
        "invalid_request",
    );
    assert!(!w.service.provisioning(&member()).await.unwrap().paused);
    let paused = w
        .service
        .pause_provisioning(&admin(), "maintenance")
        .await
        .unwrap();
    assert!(paused.paused);
    let seen = w.service.provisioning(&member()).await.unwrap();
    assert_eq!(seen.reason.as_deref(), Some("maintenance"));
    assert_eq!(seen.by, paused.by);
}

#[tokio::test]
async fn while_paused_nothing_is_leased_and_resuming_lets_it_run() {
    let w = World::new().await;
    w.cluster("c1", false).await;
    w.service
        .pause_provisioning(&admin(), "maintenance")
        .await
        .unwrap();
    w.queue_deploy("c1").await;
    assert!(lease(&w).await.is_none(), "nothing is leased while paused");
    w.service.resume_provisioning(&admin()).await.unwrap();
    assert!(lease(&w).await.is_some(), "the deploy runs once resumed");
}

async fn lease(w: &World) -> Option<slipway_store::Lease> {
    w.store()
        .lease_next(
            "test-worker",
            &[],
            Utc::now(),
            Duration::from_secs(60),
            "hash",
        )
        .await
        .unwrap()
}
