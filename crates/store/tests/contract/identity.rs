//! Identity (`IdentityStore`, `sql/identity.rs`): API tokens, memberships,
//! users, signing keys, revocations and the last-administrator check.

use crate::fixtures::*;

contract!(
    api_tokens_are_found_by_hash_and_revoked,
    memberships_users_keys_and_revocations_are_kept,
    revocations_list_unexpired_tokens_and_forget_expired_ones,
    a_persons_cluster_tokens_are_revoked_per_cluster_and_only_move_on,
    the_last_administrator_check_decides_inside_the_revocation,
    a_new_bootstrap_token_revokes_only_earlier_bootstrap_tokens,
    users_are_found_by_their_latest_login_which_names_their_memberships,
);

/// A last-administrator check that allows every revocation.
fn allow(_: &AdminCandidate, _: &[AdminCandidate]) -> Result<(), Refusal> {
    Ok(())
}

async fn api_tokens_are_found_by_hash_and_revoked(db: &TestDatabase) {
    let store = open(db).await;
    let token = store
        .create_api_token(NewApiToken {
            id: "tok_1".into(),
            name: "ci".into(),
            owner: alice(),
            secret_hash: "hash-of-secret".into(),
            scopes: vec!["clusters:write".into()],
            created_at: t0(),
            expires_at: Some(t0() + TimeDelta::days(1)),
        })
        .await
        .unwrap();
    assert_eq!(token.owner, alice());
    let found = store
        .api_token_by_hash("hash-of-secret")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, token);
    assert_eq!(store.api_token("tok_1").await.unwrap(), Some(token.clone()));
    assert!(store.api_token("tok_404").await.unwrap().is_none());
    assert!(found.is_valid_at(t0()));
    assert!(!found.is_valid_at(t0() + TimeDelta::days(2)));
    assert!(store.api_token_by_hash("other").await.unwrap().is_none());
    let mut notes = store.subscribe();
    assert!(store.revoke_api_token("tok_1", t0(), &allow).await.unwrap());
    assert_eq!(
        heard(&mut notes),
        [Notification::CredentialsChanged],
        "the API's cached sign-ins are checked again"
    );
    assert!(
        !store
            .revoke_api_token("tok_404", t0(), &allow)
            .await
            .unwrap()
    );
    // Revoked again: it stays as it was, and the check is not asked.
    let refuse = |_: &AdminCandidate, _: &[AdminCandidate]| -> Result<(), Refusal> {
        panic!("an already revoked token is not checked")
    };
    assert!(
        store
            .revoke_api_token("tok_1", t0() + TimeDelta::hours(1), &refuse)
            .await
            .unwrap()
    );
    let revoked = store
        .api_token_by_hash("hash-of-secret")
        .await
        .unwrap()
        .unwrap();
    assert!(!revoked.is_valid_at(t0()));
    assert_eq!(revoked.revoked_at, Some(t0()));
    assert!(heard(&mut notes).is_empty(), "nothing changed again");
    assert_eq!(store.api_token("tok_1").await.unwrap(), Some(revoked));
    assert_eq!(store.api_tokens().await.unwrap().len(), 1);

    // Slipway's own identities own tokens too.
    store
        .create_api_token(NewApiToken {
            id: "tok_0".into(),
            name: "bootstrap".into(),
            owner: Subject::bootstrap(),
            secret_hash: "hash-of-bootstrap".into(),
            scopes: Vec::new(),
            created_at: t0(),
            expires_at: None,
        })
        .await
        .unwrap();
    assert_eq!(
        store.api_token("tok_0").await.unwrap().unwrap().owner,
        Subject::bootstrap()
    );
}

async fn memberships_users_keys_and_revocations_are_kept(db: &TestDatabase) {
    let store = open(db).await;
    let research = org("default");
    let request = Membership {
        organization: research.clone(),
        subject: bob(),
        name: Some("ignored when written".into()),
        role: MembershipRole::Member,
        state: MembershipState::Requested,
        requested_at: t0(),
        decided_by: None,
        decided_at: None,
    };
    let mut notes = store.subscribe();
    store.put_membership(request.clone()).await.unwrap();
    let approved = Membership {
        state: MembershipState::Approved,
        decided_by: Some(alice().to_string()),
        decided_at: Some(t0()),
        ..request
    };
    store.put_membership(approved.clone()).await.unwrap();
    // Nobody with that subject signed in yet: no name to show.
    let read = Membership {
        name: None,
        ..approved.clone()
    };
    assert_eq!(
        store.membership(&research, &bob()).await.unwrap(),
        Some(read.clone())
    );
    assert!(
        store
            .membership(&research, &alice())
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store.memberships(&research).await.unwrap(),
        std::slice::from_ref(&read)
    );
    assert_eq!(store.memberships_of(&bob()).await.unwrap(), [read]);
    assert!(
        store
            .remove_membership(&research, &bob(), None)
            .await
            .unwrap()
    );
    assert!(
        !store
            .remove_membership(&research, &bob(), None)
            .await
            .unwrap()
    );
    assert!(store.memberships_of(&bob()).await.unwrap().is_empty());

    let user = User {
        subject: bob(),
        login: "bob".into(),
        github_id: 2,
        github_token: Some(vec![1, 2, 3]),
        admin: false,
        github_orgs: vec![research.clone()],
        checked_at: t0(),
        created_at: t0(),
    };
    store.put_user(user.clone()).await.unwrap();
    let later = User {
        admin: true,
        checked_at: t0() + TimeDelta::minutes(5),
        ..user.clone()
    };
    store.put_user(later.clone()).await.unwrap();
    assert_eq!(store.user(&bob()).await.unwrap(), Some(later));
    assert!(store.user(&Subject::github(404)).await.unwrap().is_none());

    let key = |kid: &str, at| StoredSigningKey {
        kid: kid.into(),
        public_key: vec![7; 32],
        private_key: vec![9; 60],
        created_at: at,
        retired_at: None,
    };
    store.rotate_signing_key(key("k1", t0())).await.unwrap();
    store
        .rotate_signing_key(key("k2", t0() + TimeDelta::hours(1)))
        .await
        .unwrap();
    // Each change that can alter who a credential authenticates, and only
    // those (the second removal found nothing): two memberships put, one
    // removed, two users put, two keys rotated.
    assert_eq!(heard(&mut notes), vec![Notification::CredentialsChanged; 7]);
    let keys = store.signing_keys().await.unwrap();
    assert_eq!(keys[0].kid, "k2");
    assert_eq!(keys[0].retired_at, None);
    assert_eq!(keys[1].retired_at, Some(t0() + TimeDelta::hours(1)));
    assert_eq!(keys[1].private_key, vec![9; 60]);

    let expires = t0() + TimeDelta::hours(1);
    for _ in 0..2 {
        store
            .revoke_token("jti-1", expires, t0(), RefusedBy::Everyone)
            .await
            .unwrap();
    }
    assert!(store.token_revoked("jti-1").await.unwrap());
    assert!(!store.token_revoked("jti-2").await.unwrap());

    store
        .put_login_state("st", b"secret", t0() + TimeDelta::minutes(10))
        .await
        .unwrap();
    assert_eq!(
        store.take_login_state("st", t0()).await.unwrap().as_deref(),
        Some(&b"secret"[..])
    );
    assert!(
        store.take_login_state("st", t0()).await.unwrap().is_none(),
        "single use"
    );
    store
        .put_login_state("old", b"x", t0() + TimeDelta::minutes(10))
        .await
        .unwrap();
    assert!(
        store
            .take_login_state("old", t0() + TimeDelta::minutes(11))
            .await
            .unwrap()
            .is_none(),
        "expired"
    );
}

async fn revocations_list_unexpired_tokens_and_forget_expired_ones(db: &TestDatabase) {
    let store = open(db).await;
    assert_eq!(
        store.revocations(t0()).await.unwrap(),
        PublishedRevocations::default()
    );
    let mut notes = store.subscribe();
    let revocation = |jti: &str, expires_in: i64, revoked_after: i64| Revocation {
        jti: jti.into(),
        expires_at: t0() + TimeDelta::minutes(expires_in),
        revoked_at: t0() + TimeDelta::minutes(revoked_after),
    };
    let a = revocation("jti-a", 60, 0);
    let b = revocation("jti-b", 120, 1);
    let c = revocation("jti-c", 10, 2);
    for r in [&a, &b, &c] {
        store
            .revoke_token(&r.jti, r.expires_at, r.revoked_at, RefusedBy::Everyone)
            .await
            .unwrap();
    }
    assert_eq!(
        heard(&mut notes),
        [
            Notification::CredentialsChanged,
            Notification::Revoked,
            Notification::CredentialsChanged,
            Notification::Revoked,
            Notification::CredentialsChanged,
            Notification::Revoked
        ]
    );
    assert_eq!(store.revocations_version().await.unwrap(), 3);
    // Revoking again keeps the first revocation, and changes nothing.
    store
        .revoke_token(
            "jti-a",
            a.expires_at,
            t0() + TimeDelta::minutes(3),
            RefusedBy::Everyone,
        )
        .await
        .unwrap();
    assert_eq!(store.revocations_version().await.unwrap(), 3);
    assert!(heard(&mut notes).is_empty());

    // A user token's revocation (a logout) is the API's alone: refused,
    // not published, and the published list's version stays.
    let version = store.revocations_version().await.unwrap();
    store
        .revoke_token(
            "jti-user",
            t0() + TimeDelta::minutes(60),
            t0() + TimeDelta::minutes(4),
            RefusedBy::Api,
        )
        .await
        .unwrap();
    assert!(store.token_revoked("jti-user").await.unwrap());
    assert_eq!(store.revocations_version().await.unwrap(), version);
    assert_eq!(
        heard(&mut notes),
        [Notification::CredentialsChanged],
        "nothing for gateways; the API's cached sign-ins are checked again"
    );

    // Newest first.
    let now = t0() + TimeDelta::minutes(5);
    let published = store.revocations(now).await.unwrap();
    assert_eq!(published.version, version);
    assert_eq!(published.tokens, [c.clone(), b.clone(), a.clone()]);
    assert!(published.subjects.is_empty());
    assert!(store.token_revoked("jti-c").await.unwrap());

    // Revoked for everyone later: published after all.
    store
        .revoke_token(
            "jti-user",
            t0() + TimeDelta::minutes(60),
            t0() + TimeDelta::minutes(6),
            RefusedBy::Everyone,
        )
        .await
        .unwrap();
    assert_eq!(
        heard(&mut notes),
        [Notification::CredentialsChanged, Notification::Revoked]
    );
    let published = store.revocations(now).await.unwrap();
    assert!(published.version > version);
    assert_eq!(
        published.tokens[0].revoked_at,
        t0() + TimeDelta::minutes(4),
        "revoked when it first was"
    );
    assert_eq!(published.tokens[0].jti, "jti-user");

    // Once a token expired, its revocation is forgotten.
    let later = t0() + TimeDelta::minutes(30);
    let tokens =
        |p: PublishedRevocations| -> Vec<String> { p.tokens.into_iter().map(|r| r.jti).collect() };
    assert_eq!(
        tokens(store.revocations(later).await.unwrap()),
        ["jti-user", "jti-b", "jti-a"]
    );
    assert!(!store.token_revoked("jti-c").await.unwrap(), "forgotten");
    assert!(store.token_revoked("jti-a").await.unwrap());
    assert_eq!(
        tokens(store.revocations(now).await.unwrap()),
        ["jti-user", "jti-b", "jti-a"],
        "gone for good"
    );
    assert!(
        store
            .revocations(t0() + TimeDelta::hours(3))
            .await
            .unwrap()
            .tokens
            .is_empty()
    );
    assert!(!store.token_revoked("jti-b").await.unwrap());
}

async fn a_persons_cluster_tokens_are_revoked_per_cluster_and_only_move_on(db: &TestDatabase) {
    let store = open(db).await;
    create_in(&store, "r1", "research", false).await;
    create_in(&store, "r2", "research", true).await;
    create_in(&store, "o1", "other", false).await;
    let research = org("research");
    store
        .put_membership(Membership {
            organization: research.clone(),
            subject: bob(),
            name: None,
            role: MembershipRole::Member,
            state: MembershipState::Approved,
            requested_at: t0(),
            decided_by: None,
            decided_at: None,
        })
        .await
        .unwrap();
    let mut notes = store.subscribe();
    let at = t0() + TimeDelta::minutes(10);
    let revocation = ClusterTokenRevocation {
        subject: bob(),
        organization: Some(research.clone()),
        at,
        until: at + TimeDelta::hours(1),
    };

    // Removing a membership that is not there revokes nothing.
    assert!(
        !store
            .remove_membership(&org("other"), &bob(), Some(&revocation))
            .await
            .unwrap()
    );
    assert_eq!(store.revocations_version().await.unwrap(), 0);
    assert!(heard(&mut notes).is_empty());

    // Removed: the tokens for each of the organization's clusters, in the
    // same transaction.
    assert!(
        store
            .remove_membership(&research, &bob(), Some(&revocation))
            .await
            .unwrap()
    );
    assert!(store.membership(&research, &bob()).await.unwrap().is_none());
    assert_eq!(
        heard(&mut notes),
        [Notification::CredentialsChanged, Notification::Revoked]
    );
    let published = store.revocations(at).await.unwrap();
    assert_eq!(published.version, 1);
    let entry = |cluster: &str, issued_until, expires_at, revoked_at| SubjectRevocation {
        subject: bob(),
        cluster: name(cluster),
        issued_until,
        expires_at,
        revoked_at,
    };
    assert_eq!(
        published.subjects,
        [
            entry("r1", at, revocation.until, at),
            entry("r2", at, revocation.until, at),
        ]
    );

    // A later revocation moves both times on; an older one (replayed)
    // never moves them back.
    let later = ClusterTokenRevocation {
        organization: None,
        at: at + TimeDelta::minutes(5),
        until: at + TimeDelta::minutes(65),
        ..revocation.clone()
    };
    assert_eq!(store.revoke_cluster_tokens(&later).await.unwrap(), 3);
    assert_eq!(heard(&mut notes), [Notification::Revoked]);
    assert_eq!(store.revoke_cluster_tokens(&revocation).await.unwrap(), 2);
    let published = store.revocations(at).await.unwrap();
    assert_eq!(published.version, 3);
    let moved = |cluster: &str, revoked_at| entry(cluster, later.at, later.until, revoked_at);
    assert_eq!(
        published.subjects,
        [
            moved("o1", later.at),
            moved("r1", revocation.at),
            moved("r2", revocation.at),
        ]
    );

    // Forgotten once every token they cover has expired.
    assert!(
        store
            .revocations(later.until + TimeDelta::seconds(1))
            .await
            .unwrap()
            .subjects
            .is_empty()
    );
}

async fn the_last_administrator_check_decides_inside_the_revocation(db: &TestDatabase) {
    let store = open(db).await;
    let token = |id: &str| NewApiToken {
        id: id.into(),
        name: id.into(),
        owner: Subject::bootstrap(),
        secret_hash: format!("hash-{id}"),
        scopes: vec!["*".into()],
        created_at: t0(),
        expires_at: None,
    };
    // At most one of the tokens may go: the check refuses the last one.
    let last_one = |target: &AdminCandidate, all: &[AdminCandidate]| {
        if all.iter().any(|c| c.token.id != target.token.id) {
            Ok(())
        } else {
            Err(Refusal::LastAdminCredential {
                credential: target.token.id.clone(),
            })
        }
    };
    for round in 0..10 {
        let (a, b) = (format!("tok_{round}a"), format!("tok_{round}b"));
        store.create_api_token(token(&a)).await.unwrap();
        store.create_api_token(token(&b)).await.unwrap();
        // The one left from the previous round goes first.
        for left in store.api_tokens().await.unwrap() {
            if left.revoked_at.is_none() && left.id != a && left.id != b {
                assert!(
                    store
                        .revoke_api_token(&left.id, t0(), &last_one)
                        .await
                        .unwrap()
                );
            }
        }
        let revoke = |id: String| {
            let store = store.clone();
            tokio::spawn(async move { store.revoke_api_token(&id, t0(), &last_one).await })
        };
        let (first, second) = tokio::join!(revoke(a.clone()), revoke(b.clone()));
        let results = [first.unwrap(), second.unwrap()];
        let refused = results
            .iter()
            .filter(|r| {
                matches!(
                    r,
                    Err(StoreError::Refused(Refusal::LastAdminCredential { .. }))
                )
            })
            .count();
        assert_eq!(refused, 1, "round {round}: {results:?}");
        assert!(results.iter().any(|r| matches!(r, Ok(true))), "{results:?}");
        let valid = store
            .api_tokens()
            .await
            .unwrap()
            .into_iter()
            .filter(|t| t.revoked_at.is_none())
            .count();
        assert_eq!(valid, 1, "round {round}");
    }
}

async fn a_new_bootstrap_token_revokes_only_earlier_bootstrap_tokens(db: &TestDatabase) {
    let store = open(db).await;
    let token = |id: &str, name: &str| NewApiToken {
        id: id.into(),
        name: name.into(),
        owner: Subject::bootstrap(),
        secret_hash: format!("hash-{id}"),
        scopes: vec!["*".into()],
        created_at: t0(),
        expires_at: None,
    };
    let mut notes = store.subscribe();
    let (first, revoked) = store
        .replace_bootstrap_token(token("tok_b1", "bootstrap-admin"))
        .await
        .unwrap();
    assert!(first.bootstrap);
    assert!(revoked.is_empty());
    // The bootstrap administrator's own API token, even one named alike.
    let own = store
        .create_api_token(token("tok_own", "bootstrap-admin"))
        .await
        .unwrap();
    assert!(!own.bootstrap);
    let (second, revoked) = store
        .replace_bootstrap_token(NewApiToken {
            created_at: t0() + TimeDelta::minutes(1),
            ..token("tok_b2", "bootstrap-admin")
        })
        .await
        .unwrap();
    assert_eq!(revoked, ["tok_b1"]);
    assert_eq!(
        heard(&mut notes),
        [Notification::CredentialsChanged],
        "only the replacement that revoked one"
    );
    let read = |id: &'static str| {
        let store = store.clone();
        async move { store.api_token(id).await.unwrap().unwrap() }
    };
    assert_eq!(
        read("tok_b1").await.revoked_at,
        Some(t0() + TimeDelta::minutes(1))
    );
    assert_eq!(read("tok_own").await.revoked_at, None);
    assert_eq!(read("tok_b2").await, second);
    assert!(second.bootstrap && second.revoked_at.is_none());
}

async fn users_are_found_by_their_latest_login_which_names_their_memberships(db: &TestDatabase) {
    let store = open(db).await;
    let user = |id: i64, login: &str, checked_after: i64| User {
        subject: Subject::github(id),
        login: login.into(),
        github_id: id,
        github_token: None,
        admin: false,
        github_orgs: Vec::new(),
        checked_at: t0() + TimeDelta::minutes(checked_after),
        created_at: t0(),
    };
    assert!(store.user_by_login("octocat").await.unwrap().is_none());
    let first = user(10, "OctoCat", 0);
    store.put_user(first.clone()).await.unwrap();
    assert_eq!(
        store.user_by_login("octocat").await.unwrap(),
        Some(first.clone()),
        "logins match whatever their case"
    );
    // Someone else took the login since: the one seen last has it.
    let second = user(20, "octocat", 60);
    store.put_user(second.clone()).await.unwrap();
    for login in ["octocat", "OCTOCAT", "OctoCat"] {
        assert_eq!(
            store.user_by_login(login).await.unwrap(),
            Some(second.clone()),
            "{login}"
        );
    }
    // The first signs in again later, still under that login.
    let again = user(10, "OctoCat", 120);
    store.put_user(again.clone()).await.unwrap();
    assert_eq!(store.user_by_login("octocat").await.unwrap(), Some(again));
    assert!(store.user_by_login("octo").await.unwrap().is_none());
    assert!(store.user_by_login("octocat2").await.unwrap().is_none());

    // Memberships read the person's login as their name.
    let research = org("research");
    let membership = |id: i64| Membership {
        organization: research.clone(),
        subject: Subject::github(id),
        name: None,
        role: MembershipRole::Member,
        state: MembershipState::Approved,
        requested_at: t0(),
        decided_by: Some(alice().to_string()),
        decided_at: Some(t0()),
    };
    store.put_membership(membership(20)).await.unwrap();
    store
        .put_membership(Membership {
            name: Some("written names are ignored".into()),
            ..membership(30)
        })
        .await
        .unwrap();
    assert_eq!(
        store
            .membership(&research, &Subject::github(20))
            .await
            .unwrap()
            .unwrap()
            .name
            .as_deref(),
        Some("octocat")
    );
    assert_eq!(
        store
            .membership(&research, &Subject::github(30))
            .await
            .unwrap()
            .unwrap()
            .name,
        None,
        "never signed in"
    );
    // Renamed on GitHub: the name follows.
    store.put_user(user(20, "octo-renamed", 180)).await.unwrap();
    assert_eq!(
        store
            .memberships_of(&Subject::github(20))
            .await
            .unwrap()
            .iter()
            .map(|m| m.name.clone())
            .collect::<Vec<_>>(),
        [Some("octo-renamed".to_owned())]
    );
    let mut names: Vec<(Subject, Option<String>)> = store
        .memberships(&research)
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.subject, m.name))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            (Subject::github(20), Some("octo-renamed".to_owned())),
            (Subject::github(30), None),
        ]
    );
}
