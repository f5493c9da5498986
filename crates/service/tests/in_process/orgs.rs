//! Organizations: administrators create and change them; their members see
//! them; owners decide on memberships.

use slipway_api::types::{ApproveMembership, CreateOrganization, UpdateOrganization};
use slipway_service::{Kind, scope};

use crate::support::*;

fn new_org(name: &str) -> CreateOrganization {
    CreateOrganization {
        name: name.into(),
        github_org: None,
        github_team: None,
        limits: None,
        destroy_when_idle: false,
    }
}

#[tokio::test]
async fn only_administrators_create_and_change_organizations() {
    let w = World::new().await;
    for caller in [org_member(), member()] {
        refused(
            w.service.create_organization(&caller, new_org("lab")).await,
            Kind::Forbidden,
            "forbidden",
        );
        refused(
            w.service
                .update_organization(&caller, ORG, UpdateOrganization::default())
                .await,
            Kind::Forbidden,
            "forbidden",
        );
    }
    let without_scope = with_scopes(admin(), &[scope::ADMIN]);
    let e = refused(
        w.service
            .create_organization(&without_scope, new_org("lab"))
            .await,
        Kind::Forbidden,
        "forbidden",
    );
    assert!(e.message.contains(scope::ORGS_WRITE), "{}", e.message);
    let created = w
        .service
        .create_organization(&admin(), new_org("lab"))
        .await
        .unwrap();
    assert_eq!(created.name, "lab");
}

#[tokio::test]
async fn an_organization_and_its_members_are_seen_by_its_members_only() {
    let w = World::new().await;
    let seen = w.service.organization(&org_member(), ORG).await.unwrap();
    assert_eq!(seen.name, ORG);
    w.service.members(&org_member(), ORG).await.unwrap();
    refused(
        w.service.organization(&member(), ORG).await,
        Kind::Forbidden,
        "forbidden",
    );
    refused(
        w.service.members(&member(), ORG).await,
        Kind::Forbidden,
        "forbidden",
    );
    let listed = w.service.organizations(&member()).await.unwrap();
    assert!(listed.iter().all(|o| o.name != ORG), "{listed:?}");
}

#[tokio::test]
async fn a_member_who_is_not_an_owner_decides_on_no_membership() {
    let w = World::new().await;
    w.membership(&org_member(), slipway_store::MembershipRole::Member)
        .await;
    let e = refused(
        w.service
            .approve_membership(
                &org_member(),
                ORG,
                "mel",
                ApproveMembership { owner: false },
            )
            .await,
        Kind::Forbidden,
        "forbidden",
    );
    assert!(e.message.contains("owners"), "{}", e.message);
    // An owner passes that check, and is told mel has never signed in.
    w.membership(&other_org_member(), slipway_store::MembershipRole::Owner)
        .await;
    let e = refused(
        w.service
            .approve_membership(
                &other_org_member(),
                ORG,
                "mel",
                ApproveMembership { owner: false },
            )
            .await,
        Kind::NotFound,
        "not_found",
    );
    assert!(e.message.contains("mel"), "{}", e.message);
}
