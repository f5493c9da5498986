//! Blueprint versions (`BlueprintStore`, `sql/blueprints.rs`).

use crate::fixtures::*;

contract!(blueprint_versions_are_immutable,);

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
        created_at: at,
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
        Some(v1)
    );
    let latest = store
        .blueprint_version("local", "latest")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(latest.version, "1.1.0");
    assert!(
        store
            .blueprint_version("local", "9")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(store.blueprint_versions().await.unwrap().len(), 2);
}
