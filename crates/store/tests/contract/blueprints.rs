//! Blueprint versions (`BlueprintStore`, `sql/blueprints.rs`).

use crate::fixtures::*;

contract!(
    blueprint_versions_are_immutable,
    deprecation_and_the_latest_alias_are_recorded,
);

async fn blueprint_versions_are_immutable(db: &TestDatabase) {
    let store = open(db).await;
    let version = |v: &str, digest: &str, at: Timestamp| BlueprintVersion {
        blueprint: "local".into(),
        version: v.into(),
        metadata: BlueprintMetadata {
            name: "local".into(),
            description: "processes on this machine".into(),
            nodes: Default::default(),
            variables: BTreeMap::new(),
            cost: Default::default(),
            worker_tags: Vec::new(),
            jobs: None,
        },
        files: BTreeMap::from([("main.tf".to_owned(), format!("# {digest}"))]),
        digest: digest.into(),
        metadata_text: Some(format!("name = \"local\" # {digest}")),
        created_at: at,
        organizations: None,
        deprecated: None,
    };
    let v1 = version("1.0.0", "aaa", t0());
    assert_eq!(
        store.register_blueprint_version(v1.clone()).await.unwrap(),
        Registered::Created
    );
    assert_eq!(
        store.register_blueprint_version(v1.clone()).await.unwrap(),
        Registered::Unchanged
    );
    assert_eq!(
        store
            .register_blueprint_version(version("1.0.0", "bbb", t0()))
            .await
            .unwrap(),
        Registered::Differs {
            stored_digest: "aaa".into()
        }
    );
    store
        .register_blueprint_version(version("1.1.0", "ccc", t0() + TimeDelta::seconds(1)))
        .await
        .unwrap();
    assert_eq!(
        store.blueprint_version("local", "1.0.0").await.unwrap(),
        Some(v1.clone())
    );
    // A version registered before its metadata file was kept gets it when
    // the same content is registered again.
    let unkept = BlueprintVersion {
        version: "0.9.0".into(),
        metadata_text: None,
        ..v1.clone()
    };
    store
        .register_blueprint_version(unkept.clone())
        .await
        .unwrap();
    let kept = || async {
        let read = store.blueprint_version("local", "0.9.0").await.unwrap();
        read.unwrap().metadata_text
    };
    assert_eq!(kept().await, None);
    store
        .register_blueprint_version(BlueprintVersion {
            version: "0.9.0".into(),
            ..v1.clone()
        })
        .await
        .unwrap();
    assert_eq!(kept().await, v1.metadata_text);
    let latest = store
        .blueprint_version("local", "1.1.0")
        .await
        .unwrap()
        .unwrap();
    assert!(
        store
            .blueprint_version("local", "9")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(store.blueprint_versions().await.unwrap().len(), 3);
    // Restricted to organizations as registered.
    let restricted = BlueprintVersion {
        version: "2.0.0".into(),
        digest: "ddd".into(),
        organizations: Some(vec!["a".into()]),
        created_at: t0() + TimeDelta::seconds(2),
        ..latest
    };
    store
        .register_blueprint_version(restricted.clone())
        .await
        .unwrap();
    let read = store
        .blueprint_version("local", "2.0.0")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.organizations, Some(vec!["a".to_owned()]));
    assert!(read.available_to("a") && !read.available_to("b"));
}

async fn deprecation_and_the_latest_alias_are_recorded(db: &TestDatabase) {
    let store = open(db).await;
    for (i, v) in ["1.0.0", "1.1.0", "1.2.0"].into_iter().enumerate() {
        store
            .register_blueprint_version(BlueprintVersion {
                created_at: t0() + TimeDelta::seconds(i as i64),
                ..blueprint(v, &[], None)
            })
            .await
            .unwrap();
    }
    let alias = || async {
        let summaries = store.blueprint_versions().await.unwrap();
        let aliased: Vec<String> = summaries
            .into_iter()
            .filter(|s| s.latest)
            .map(|s| s.version)
            .collect();
        aliased
    };
    assert!(alias().await.is_empty());
    let deprecation = Deprecation {
        at: t0(),
        reason: "loses records".into(),
    };
    assert!(
        store
            .deprecate_blueprint_version("local", "1.2.0", &deprecation)
            .await
            .unwrap()
    );
    assert!(
        store
            .move_blueprint_latest("local", "1.0.0", t0())
            .await
            .unwrap()
    );
    assert_eq!(alias().await, ["1.0.0"]);
    assert!(
        store
            .move_blueprint_latest("local", "1.1.0", t0())
            .await
            .unwrap()
    );
    assert_eq!(alias().await, ["1.1.0"], "one alias, moved");
    assert!(
        !store
            .move_blueprint_latest("local", "9.9.9", t0())
            .await
            .unwrap()
    );
    assert!(
        !store
            .deprecate_blueprint_version("local", "9.9.9", &deprecation)
            .await
            .unwrap()
    );
    let summaries = store.blueprint_versions().await.unwrap();
    let of = |v: &str| summaries.iter().find(|s| s.version == v).unwrap();
    assert!(of("1.1.0").latest && !of("1.0.0").latest);
    assert_eq!(of("1.2.0").deprecated, Some(deprecation));
    let read = store
        .blueprint_version("local", "1.2.0")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.deprecated.unwrap().reason, "loses records");
}
