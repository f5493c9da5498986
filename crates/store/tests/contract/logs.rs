//! Operation logs (`LogStore`, `sql/logs.rs`).

use crate::fixtures::*;

contract!(
    events_are_numbered_in_order,
    audit_entries_are_written_in_groups_in_order,
);

async fn audit_entries_are_written_in_groups_in_order(db: &TestDatabase) {
    let store = open(db).await;
    // More than one statement's worth (a hundred each).
    let entries: Vec<NewAuditEntry> = (0..150)
        .map(|i| {
            intent("cluster.access").entry(
                t0(),
                format!("c{i}"),
                "issued",
                serde_json::json!({"jti": format!("j{i}")}),
            )
        })
        .collect();
    store.append_audits(&entries).await.unwrap();
    store.append_audits(&[]).await.unwrap();
    let read = store
        .audit_log(&AuditQuery {
            target: None,
            actor: None,
            action: Some("cluster.access".into()),
            before_id: None,
            limit: 500,
        })
        .await
        .unwrap();
    assert_eq!(read.len(), 150);
    // Newest first: the group's order kept.
    assert_eq!(read[0].target, "c149");
    assert_eq!(read[149].target, "c0");
    assert_eq!(read[0].detail["jti"], "j149");

    // A group given up midway is stored whole or not at all, and the next
    // one is stored.
    let group = |name: &str| {
        (0..3)
            .map(|_| intent("cluster.access").entry(t0(), name, "issued", serde_json::json!({})))
            .collect::<Vec<_>>()
    };
    for _ in 0..20 {
        let _ = tokio::time::timeout(
            Duration::from_micros(50),
            store.append_audits(&group("given-up")),
        )
        .await;
    }
    store.append_audits(&group("after")).await.unwrap();
    let count = |target: &str| {
        let store = store.clone();
        let target = target.to_owned();
        async move {
            store
                .audit_log(&AuditQuery {
                    target: Some(target),
                    actor: None,
                    action: None,
                    before_id: None,
                    limit: 500,
                })
                .await
                .unwrap()
                .len()
        }
    };
    assert_eq!(count("given-up").await % 3, 0, "whole groups only");
    assert_eq!(count("after").await, 3);
}

async fn events_are_numbered_in_order(db: &TestDatabase) {
    let store = open(db).await;
    create(&store, "c1").await;
    let id = enqueued(
        &deploy(&store, "c1", DeployRequest::default(), t0())
            .await
            .unwrap(),
    );
    let batch: Vec<NewEvent> = (0..5)
        .map(|i| NewEvent {
            at: t0(),
            kind: "log".into(),
            level: EventLevel::Info,
            message: format!("line {i}"),
            data: serde_json::json!({"i": i}),
        })
        .collect();
    assert_eq!(store.append_events(&id, &batch).await.unwrap(), 6);
    assert_eq!(store.append_events(&id, &batch[..2]).await.unwrap(), 8);
    assert_eq!(store.append_events(&id, &[]).await.unwrap(), 8);
    let after = store.events(&id, 3, 3).await.unwrap();
    assert_eq!(after.iter().map(|e| e.seq).collect::<Vec<_>>(), [4, 5, 6]);
    assert_eq!(after[0].message, "line 2");
    assert_eq!(after[0].data["i"], 2);
}
