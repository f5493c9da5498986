//! Organizations' accounts: administrators open and change them, owners
//! and administrators read them, members read costs; the budget rule
//! refuses a member's deploy the money would not last for.

use slipway_api::types::{CostQuery, CreateCluster, DeployCluster, UpdateAccount};
use slipway_core::cost::CostModel;
use slipway_core::{Money, Rate};
use slipway_service::Kind;
use slipway_store::MembershipRole;

use crate::support::*;

fn open_with(balance: i64) -> UpdateAccount {
    UpdateAccount {
        balance: Some(Money::dollars(balance)),
        monthly_allowance: Some(Money::ZERO),
        max_balance: Some(Money::dollars(1000)),
        reason: "a grant".into(),
    }
}

#[tokio::test]
async fn only_administrators_open_an_account_and_its_balance_is_what_they_set() {
    let w = World::new().await;
    w.membership(&org_member(), MembershipRole::Owner).await;
    let e = refused(
        w.service
            .update_account(&org_member(), ORG, open_with(100))
            .await,
        Kind::Forbidden,
        "forbidden",
    );
    assert!(e.message.contains("administrators"), "{}", e.message);
    let opened = w
        .service
        .update_account(&admin(), ORG, open_with(100))
        .await
        .unwrap();
    assert_eq!(opened.account.balance, Money::dollars(100));
    assert!(opened.shut_down.is_empty());
}

#[tokio::test]
async fn owners_and_administrators_read_the_account_members_read_costs() {
    let w = World::new().await;
    w.service
        .update_account(&admin(), ORG, open_with(100))
        .await
        .unwrap();
    w.membership(&other_org_member(), MembershipRole::Owner)
        .await;
    w.membership(&org_member(), MembershipRole::Member).await;
    refused(
        w.service.account(&org_member(), ORG).await,
        Kind::Forbidden,
        "forbidden",
    );
    for caller in [admin(), other_org_member()] {
        let account = w.service.account(&caller, ORG).await.unwrap();
        assert_eq!(account.balance, Money::dollars(100));
    }
    w.service
        .costs(&org_member(), ORG, CostQuery::default())
        .await
        .unwrap();
    refused(
        w.service.costs(&member(), ORG, CostQuery::default()).await,
        Kind::Forbidden,
        "forbidden",
    );
}

#[tokio::test]
async fn without_an_account_there_is_nothing_to_reconcile_or_forecast() {
    let w = World::new().await;
    refused(
        w.service.reconcile_account(&admin(), ORG).await,
        Kind::Conflict,
        "no_account",
    );
    refused(
        w.service.forecast(&admin(), ORG).await,
        Kind::NotFound,
        "not_found",
    );
}

#[tokio::test]
async fn a_member_cannot_deploy_what_the_money_would_not_last_the_horizon_for() {
    let w = World::new().await;
    let mut costly = blueprint();
    costly.blueprint = "costly".into();
    costly.metadata.name = "costly".into();
    costly.metadata.cost = CostModel {
        fixed_hourly_usd: Rate::ZERO,
        per_node_hourly_usd: Rate::parse("1").unwrap(),
    };
    costly.digest = "digest-costly".into();
    w.store().register_blueprint_version(costly).await.unwrap();
    w.service
        .create_cluster(
            &admin(),
            CreateCluster {
                name: "pricey".into(),
                blueprint: "costly".into(),
                version: None,
                organization: Some(ORG.into()),
                public: false,
                nodes: Some(2),
                variables: Default::default(),
            },
        )
        .await
        .unwrap();
    // $10 lasts 5 hours at $2 an hour: less than the day the rule asks.
    w.service
        .update_account(&admin(), ORG, open_with(10))
        .await
        .unwrap();
    let deploy = DeployCluster {
        ttl: Some("2h".into()),
        ..DeployCluster::default()
    };
    let e = refused(
        w.service
            .deploy(&org_member(), "pricey", deploy.clone())
            .await,
        Kind::OverLimit,
        "over_budget",
    );
    assert!(!e.message.is_empty());
    w.service
        .update_account(&admin(), ORG, open_with(500))
        .await
        .unwrap();
    let queued = w
        .service
        .deploy(&org_member(), "pricey", deploy)
        .await
        .unwrap();
    assert!(queued.operation.is_some(), "queued once the money lasts");
}
