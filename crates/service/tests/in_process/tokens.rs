//! Credentials: authenticating an API token, the scopes a token carries,
//! who may revoke what, key rotation, revocations and the audit log.

use std::net::{IpAddr, Ipv4Addr};

use slipway_api::types::{CreateToken, DeployCluster, RevokeToken};
use slipway_service::tokens::{AuditFilter, mint_bootstrap_token};
use slipway_service::{Credential, Kind, scope};

use crate::support::*;

const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));

fn token(name: &str, scopes: &[&str]) -> CreateToken {
    CreateToken {
        name: name.into(),
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        expires: Some("1d".into()),
    }
}

#[tokio::test]
async fn the_bootstrap_token_authenticates_an_administrator_and_nothing_else_does() {
    let w = World::new().await;
    let (_, secret) = mint_bootstrap_token(w.store(), "test").await.unwrap();
    let caller = w.service.authenticate(Some(&secret), CLIENT).await.unwrap();
    assert!(caller.identity.admin);
    assert!(matches!(caller.credential, Credential::ApiToken { .. }));
    refused(
        w.service.authenticate(None, CLIENT).await,
        Kind::Unauthenticated,
        "unauthenticated",
    );
    let forged = format!("{}x", &secret[..secret.len() - 1]);
    refused(
        w.service.authenticate(Some(&forged), CLIENT).await,
        Kind::Unauthenticated,
        "unauthenticated",
    );
}

#[tokio::test]
async fn the_last_administrator_credential_is_never_revoked() {
    let w = World::new().await;
    let (bootstrap, secret) = mint_bootstrap_token(w.store(), "test").await.unwrap();
    let caller = w.service.authenticate(Some(&secret), CLIENT).await.unwrap();
    refused(
        w.service.revoke_api_token(&caller, &bootstrap.id).await,
        Kind::Conflict,
        "last_admin_credential",
    );
    // It still works.
    w.service.authenticate(Some(&secret), CLIENT).await.unwrap();
}

#[tokio::test]
async fn a_token_needs_the_tokens_scope_and_only_its_owner_or_an_administrator_revokes_it() {
    let w = World::new().await;
    let cluster_only = with_scopes(org_member(), &[scope::CLUSTERS_WRITE]);
    let e = refused(
        w.service
            .create_token(&cluster_only, token("ci", &[scope::CLUSTERS_READ]))
            .await,
        Kind::Forbidden,
        "forbidden",
    );
    assert!(e.message.contains(scope::TOKENS), "{}", e.message);
    let created = w
        .service
        .create_token(&org_member(), token("ci", &[scope::CLUSTERS_READ]))
        .await
        .unwrap();
    assert_eq!(created.token.owner, org_member().subject().to_string());
    let others = w.service.tokens(&other_org_member()).await.unwrap();
    assert!(others.is_empty(), "another person sees none of them");
    refused(
        w.service
            .revoke_api_token(&other_org_member(), &created.token.id)
            .await,
        Kind::Forbidden,
        "forbidden",
    );
    w.service
        .revoke_api_token(&org_member(), &created.token.id)
        .await
        .unwrap();
    let e = refused(
        w.service.authenticate(Some(&created.secret), CLIENT).await,
        Kind::Unauthenticated,
        "unauthenticated",
    );
    assert!(e.message.contains("revoked"), "{}", e.message);
}

#[tokio::test]
async fn only_administrators_rotate_keys_and_revoke_cluster_tokens() {
    let w = World::new().await;
    for caller in [org_member(), member()] {
        refused(
            w.service.rotate_keys(&caller).await,
            Kind::Forbidden,
            "forbidden",
        );
        refused(
            w.service
                .revoke_jti(&caller, RevokeToken { jti: "abc".into() })
                .await,
            Kind::Forbidden,
            "forbidden",
        );
    }
    let before = w.service.jwks();
    let rotated = w.service.rotate_keys(&admin()).await.unwrap();
    assert!(rotated.published.contains(&rotated.signing_kid));
    assert_ne!(w.service.jwks(), before, "the new key is published");
    let list_before = w.service.revocation_list().await.unwrap();
    assert!(!w.store().token_revoked("abc").await.unwrap());
    w.service
        .revoke_jti(&admin(), RevokeToken { jti: "abc".into() })
        .await
        .unwrap();
    assert!(w.store().token_revoked("abc").await.unwrap());
    let list_after = w.service.revocation_list().await.unwrap();
    assert_ne!(list_after.etag, list_before.etag, "a new list is signed");
}

#[tokio::test]
async fn the_audit_log_is_for_administrators_and_records_who_did_what() {
    let w = World::new().await;
    w.cluster("mine", false).await;
    w.service
        .deploy(
            &org_member(),
            "mine",
            DeployCluster {
                ttl: Some("1h".into()),
                ..DeployCluster::default()
            },
        )
        .await
        .unwrap();
    let query = || AuditFilter {
        target: Some("mine".into()),
        action: Some("cluster.deploy".into()),
        ..AuditFilter::default()
    };
    refused(
        w.service.audit_log(&org_member(), query()).await,
        Kind::Forbidden,
        "forbidden",
    );
    let entries = w.service.audit_log(&admin(), query()).await.unwrap();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].actor, org_member().subject().to_string());
    assert_eq!(entries[0].level, "org_member");
}
