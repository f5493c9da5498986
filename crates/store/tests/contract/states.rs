//! Terraform's state (`StateStore`, `sql/states.rs`): versions, locks, and
//! their end with the operation.

use crate::fixtures::*;

contract!(terraform_state_is_versioned_locked_and_released_with_its_operation,);

async fn terraform_state_is_versioned_locked_and_released_with_its_operation(db: &TestDatabase) {
    let store = open(db).await;
    create(&store, "c1").await;
    let op = enqueued(
        &deploy(&store, "c1", DeployRequest::default(), t0())
            .await
            .unwrap(),
    );
    assert!(
        store.live_run_credential(&op).await.unwrap().is_none(),
        "queued, not running"
    );
    let leased = store
        .lease_next("w1", &[], t0(), Duration::from_secs(30), "h")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(leased.state_key, "c1");
    let credential = RunCredential {
        operation: op.clone(),
        state_key: "c1".into(),
        secret_hash: "h".into(),
    };
    assert_eq!(
        store.live_run_credential(&op).await.unwrap(),
        Some(credential)
    );

    assert!(store.latest_state("c1").await.unwrap().is_none());
    let lock = |id: &str| StateLock {
        state_key: "c1".into(),
        lock_id: id.into(),
        operation: op.clone(),
        info: serde_json::json!({"ID": id, "Operation": "OperationTypeApply"}),
        created_at: t0(),
    };
    store.lock_state(lock("L1")).await.unwrap().unwrap();
    let held = store.lock_state(lock("L2")).await.unwrap().unwrap_err();
    assert_eq!(held.lock_id, "L1");
    assert_eq!(held.info["Operation"], "OperationTypeApply");
    assert_eq!(
        store
            .write_state("c1", &op, Some("L2"), b"v?".to_vec(), t0())
            .await
            .unwrap()
            .unwrap_err()
            .lock_id,
        "L1"
    );
    assert_eq!(
        store
            .write_state("c1", &op, Some("L1"), b"v1".to_vec(), t0())
            .await
            .unwrap(),
        Ok(1)
    );
    assert_eq!(
        store
            .write_state("c1", &op, Some("L1"), b"v2".to_vec(), t0())
            .await
            .unwrap(),
        Ok(2)
    );
    let latest = store.latest_state("c1").await.unwrap().unwrap();
    assert_eq!((latest.serial, latest.data.as_slice()), (2, &b"v2"[..]));
    assert_eq!(latest.operation, op);
    assert_eq!(store.state_history("c1").await.unwrap().len(), 2);
    assert!(
        store.unlock_state("c1", "L2").await.unwrap().is_err(),
        "not the holder"
    );

    // The lock and the credential go with the operation, even if Terraform
    // never unlocked (it was killed).
    store
        .finish(&op, "w1", succeeded(), serde_json::Value::Null, t0())
        .await
        .unwrap();
    store.lock_state(lock("L3")).await.unwrap().unwrap();
    assert!(store.live_run_credential(&op).await.unwrap().is_none());
    assert_eq!(store.unlock_state("c1", "L3").await.unwrap(), Ok(()));
    assert_eq!(
        store.unlock_state("c1", "L3").await.unwrap(),
        Ok(()),
        "unlocking twice is fine"
    );
    assert_eq!(
        store
            .write_state("c1", &op, None, b"v3".to_vec(), t0())
            .await
            .unwrap(),
        Ok(3)
    );
}
