//! Fair scheduling between organizations, seen from outside: one
//! organization's burst does not keep another's operation waiting behind
//! it (docs/domain.md §4; the order is `slipway_core::fairness`).

use serde_json::Value;

use crate::common::*;

/// The operation `id` once it has ended (following its log to the end).
fn ended(s: &Server, id: &str) -> Value {
    s.run(&["logs", id, "--follow"]).expect_code(0);
    api(s, "GET", &format!("/v1/operations/{id}"))
        .send()
        .unwrap()
        .json()
        .unwrap()
}

fn queue_deploy(s: &Server, cluster: &str) -> String {
    let queued = s.run(&["deploy", cluster, "--no-wait", "--json"]);
    queued.expect_code(0);
    queued.json()["operation"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn a_bystanders_deploy_waits_at_most_one_slot_behind_another_organizations_burst() {
    // One slot, so the order is the scheduler's alone.
    let s = server_with(Options {
        env: vec![("SLIPWAY_EXECUTOR__MAX_CONCURRENT".into(), "1".into())],
        ..Options::default()
    });
    for org in ["storm", "calm"] {
        s.run(&["org", "create", org]).expect_code(0);
    }
    let storm: Vec<String> = (0..8).map(|i| format!("storm-{i}")).collect();
    for (cluster, org) in storm
        .iter()
        .map(|c| (c.as_str(), "storm"))
        .chain([("bystander", "calm")])
    {
        s.run(&[
            "cluster",
            "create",
            cluster,
            "--blueprint",
            "local",
            "--org",
            org,
        ])
        .expect_code(0);
    }
    // Queued while provisioning is paused, the burst first: first come,
    // first served would run the bystander's deploy last.
    s.run(&["admin", "pause", "--reason", "the burst queues"])
        .expect_code(0);
    let burst: Vec<String> = storm.iter().map(|c| queue_deploy(&s, c)).collect();
    let deploy = queue_deploy(&s, "bystander");
    // Each organization's part of the queue is in /metrics.
    let metrics = reqwest::blocking::get(format!("{}/metrics", s.url))
        .unwrap()
        .text()
        .unwrap();
    for series in [
        "slipway_organization_operations{organization=\"storm\",state=\"queued\"} 8",
        "slipway_organization_operations{organization=\"calm\",state=\"queued\"} 1",
        "slipway_organization_queue_wait_seconds{organization=\"calm\"}",
    ] {
        assert!(metrics.contains(series), "{series} not in:\n{metrics}");
    }
    s.run(&["admin", "resume"]).expect_code(0);

    let bystander = ended(&s, &deploy);
    assert_eq!(bystander["state"], "succeeded", "{bystander}");
    let started = |op: &Value| op["started_at"].as_str().unwrap().to_owned();
    let ahead: Vec<Value> = burst
        .iter()
        .map(|id| ended(&s, id))
        .filter(|op| started(op) < started(&bystander))
        .collect();
    assert!(
        ahead.len() <= 1,
        "the bystander's deploy waited behind {} of the burst's operations, not at most the one in its slot: {ahead:#?}",
        ahead.len()
    );
}
