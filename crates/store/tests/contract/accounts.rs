//! Accounts (`AccountStore`, `sql/accounts.rs`): recorded costs and
//! reconciliation.

use crate::fixtures::*;

contract!(reconciliation_charges_each_hour_once_at_its_effective_figure,);

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
