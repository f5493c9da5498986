//! The budget's shutdown, through the accounting round the worker's keeper
//! runs (`slipway_accounts::accounting::reconcile`): an organization below
//! the floor has a destroy (reason `budget`) queued for every cluster that
//! counts as deployed — and only those — over the same SQLite store.

use slipway_accounts::accounting::{self, AccountsConfig};
use slipway_api::types::UpdateAccount;
use slipway_core::{ClusterName, Money, OperationKind, Reason, Subject};
use slipway_store::AuditQuery;

use crate::support::*;

/// Opens the organization's account with $1: above the default floor, so
/// opening it shuts nothing down.
async fn open_account(w: &World) {
    let opened = w
        .service
        .update_account(
            &admin(),
            ORG,
            UpdateAccount {
                balance: Some(Money::dollars(1)),
                monthly_allowance: Some(Money::ZERO),
                max_balance: Some(Money::dollars(1000)),
                reason: "a grant".into(),
            },
        )
        .await
        .unwrap();
    assert!(opened.shut_down.is_empty());
}

/// One round of the keeper with a floor of `floor` dollars.
async fn keeper_round(w: &World, floor: i64) -> Vec<String> {
    let mut config = AccountsConfig::default();
    config.budget.floor = Money::dollars(floor);
    let kept = accounting::reconcile(
        w.store(),
        &config,
        &org(),
        &(Subject::slipway("accounts"), "accounts".to_owned()),
    )
    .await
    .unwrap();
    assert!(kept.reconciled.is_some(), "the account was reconciled");
    let mut destroyed = kept.shut_down;
    destroyed.sort();
    destroyed
}

/// The kind, reason and id of the cluster's operation in flight.
async fn in_flight(w: &World, name: &str) -> Option<(OperationKind, Reason, String)> {
    let snap = w
        .store()
        .cluster(&ClusterName::parse(name).unwrap())
        .await
        .unwrap()
        .expect("the cluster");
    snap.active
        .map(|op| (op.kind, op.reason, op.id.to_string()))
}

#[tokio::test]
async fn below_the_floor_every_cluster_that_counts_as_deployed_gets_a_budget_destroy() {
    let w = World::new().await;
    w.cluster("absent", false).await;
    w.running("running", false).await;
    w.cluster("failed", false).await;
    w.queue_deploy("failed").await;
    w.run_next(failed()).await;
    w.running("destroying", false).await;
    let user_destroy = w
        .service
        .destroy(&admin(), "destroying", Default::default())
        .await
        .unwrap()
        .operation
        .unwrap()
        .id;
    w.cluster("deploying", false).await;
    let deploy = w.queue_deploy("deploying").await;
    open_account(&w).await;

    let destroyed = keeper_round(&w, 5).await;

    // The destroy in flight is joined, not doubled; the deploy in flight is
    // in the way of a destroy until it ends (see the next test).
    assert_eq!(destroyed, ["destroying", "failed", "running"]);
    for name in ["running", "failed"] {
        let (kind, reason, _) = in_flight(&w, name).await.expect("a destroy");
        assert_eq!(
            (kind, reason),
            (OperationKind::Destroy, Reason::Budget),
            "{name}"
        );
    }
    assert_eq!(
        in_flight(&w, "destroying").await,
        Some((OperationKind::Destroy, Reason::User, user_destroy))
    );
    assert_eq!(
        in_flight(&w, "deploying").await,
        Some((OperationKind::Deploy, Reason::User, deploy))
    );
    assert_eq!(in_flight(&w, "absent").await, None, "nothing to destroy");
    // The budget decided on each cluster that counts as deployed (the
    // deploy in flight refused it), left the absent one alone — not even
    // an audit entry —, and told the organization.
    let audited = w
        .store()
        .audit_log(&AuditQuery {
            target: None,
            actor: None,
            action: Some("budget.shutdown".into()),
            before_id: None,
            limit: 100,
        })
        .await
        .unwrap();
    let mut targets: Vec<(String, String)> =
        audited.into_iter().map(|e| (e.target, e.result)).collect();
    targets.sort();
    let expected = [
        ("deploying", "refused: operation_in_progress"),
        ("destroying", "joined"),
        ("failed", "queued"),
        (ORG, "destroyed"),
        ("running", "queued"),
    ]
    .map(|(t, r)| (t.to_owned(), r.to_owned()));
    assert_eq!(targets, expected);
}

#[tokio::test]
async fn a_deploy_in_flight_is_destroyed_by_the_round_after_it_lands() {
    let w = World::new().await;
    w.cluster("deploying", false).await;
    w.queue_deploy("deploying").await;
    open_account(&w).await;
    assert!(keeper_round(&w, 5).await.is_empty());
    w.run_next(succeeded()).await;
    assert_eq!(keeper_round(&w, 5).await, ["deploying"]);
    let (kind, reason, _) = in_flight(&w, "deploying").await.expect("a destroy");
    assert_eq!((kind, reason), (OperationKind::Destroy, Reason::Budget));
}

#[tokio::test]
async fn at_or_above_the_floor_nothing_is_destroyed() {
    let w = World::new().await;
    w.running("running", false).await;
    open_account(&w).await;
    assert!(
        keeper_round(&w, 1).await.is_empty(),
        "$1 is not below a $1 floor"
    );
    assert_eq!(in_flight(&w, "running").await, None);
}

#[tokio::test]
async fn below_the_floor_a_protected_cluster_is_scaled_to_its_minimum_not_destroyed() {
    let w = World::new().await;
    w.running("kept", false).await;
    w.running("plain", false).await;
    w.service
        .set_protection(&admin(), "kept", true)
        .await
        .unwrap();
    open_account(&w).await;
    assert_eq!(
        keeper_round(&w, 2).await,
        ["plain"],
        "only the unprotected one is destroyed"
    );
    let (kind, reason, _) = in_flight(&w, "kept").await.expect("an update");
    assert_eq!((kind, reason), (OperationKind::Update, Reason::Budget));
    let snap = w
        .store()
        .cluster(&ClusterName::parse("kept").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        snap.active.unwrap().spec.nodes,
        blueprint().metadata.nodes.min,
        "to the blueprint's minimum"
    );
    let told = w
        .store()
        .audit_log(&AuditQuery {
            target: None,
            actor: None,
            action: Some("budget.shutdown".into()),
            before_id: None,
            limit: 100,
        })
        .await
        .unwrap();
    assert!(
        told.iter()
            .any(|e| e.detail["protected_scaled_to_minimum"] == serde_json::json!(["kept"])),
        "{told:?}"
    );
}
