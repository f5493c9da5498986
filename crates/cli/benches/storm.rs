//! The storm and the bystander: one organization queues BENCH_STORM deploys
//! at once (default 200), then another organization deploys one cluster,
//! through one server at `executor.max_concurrent` = BENCH_CONCURRENT
//! (default 4), with a blueprint that starts no process (the tests'
//! `flaky`).
//!
//! `cargo bench -p slipway-cli --bench storm`. Prints how long the
//! bystander's deploy waited to start against one slot's time (the storm's
//! median run; goal: at most one), how many of the storm's operations
//! started while it waited, and what first come, first served would have
//! made it wait (the storm's operations queued ahead of it over the slots).

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use slipway_testkit::bench::{median, server, setting, time};

fn main() {
    let storm = setting("BENCH_STORM", 200);
    let concurrent = setting("BENCH_CONCURRENT", 4);
    let server = server(
        Path::new(env!("CARGO_BIN_EXE_slipway")),
        &[
            (
                "SLIPWAY_BLUEPRINT_DIRS",
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/fixtures/blueprints")
                    .display()
                    .to_string(),
            ),
            ("SLIPWAY_EXECUTOR__MAX_CONCURRENT", concurrent.to_string()),
        ],
    );
    let room = json!({"limits": {"max_clusters": storm + 10, "max_defined_clusters": storm + 10}});
    for org in ["storm", "calm"] {
        server.api("POST", "/v1/orgs", Some(json!({"name": org})));
        server.api("PATCH", &format!("/v1/orgs/{org}"), Some(room.clone()));
    }
    let names: Vec<String> = (0..storm).map(|i| format!("storm-{i:03}")).collect();
    for (name, org) in names
        .iter()
        .map(|n| (n.as_str(), "storm"))
        .chain([("bystander", "calm")])
    {
        server.api(
            "POST",
            "/v1/clusters",
            Some(json!({"name": name, "blueprint": "flaky", "organization": org})),
        );
    }
    let deploy = |name: &str| -> String {
        server.api(
            "POST",
            &format!("/v1/clusters/{name}/deploy"),
            Some(json!({})),
        )["operation"]["id"]
            .as_str()
            .expect("an operation")
            .to_owned()
    };
    let burst: Vec<String> = names.iter().map(|n| deploy(n)).collect();
    // The storm runs in every slot; then the bystander comes.
    std::thread::sleep(Duration::from_secs(1));
    let bystander = deploy("bystander");
    let operation = |id: &str| server.api("GET", &format!("/v1/operations/{id}"), None);
    let ended = |id: &str| loop {
        let op = operation(id);
        if op["finished_at"].is_string() {
            return op;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let calm = ended(&bystander);
    assert_eq!(calm["state"], "succeeded", "{calm}");
    let storm_ops: Vec<Value> = burst.iter().map(|id| ended(id)).collect();
    let (queued, started) = (time(&calm["created_at"]), time(&calm["started_at"]));
    let waited = (started - queued).num_milliseconds() as f64;
    let slot = median(
        storm_ops
            .iter()
            .map(|op| {
                (time(&op["finished_at"]) - time(&op["started_at"])).num_milliseconds() as f64
            })
            .collect(),
    );
    let overtaking = storm_ops
        .iter()
        .filter(|op| {
            let s = time(&op["started_at"]);
            s > queued && s < started
        })
        .count();
    let ahead = storm_ops
        .iter()
        .filter(|op| time(&op["started_at"]) > queued)
        .count();
    println!(
        "{storm} deploys of organization storm, then one of organization calm, {concurrent} slots"
    );
    println!(
        "  the bystander waited {waited:.0} ms to start; one slot's time (the storm's median run) {slot:.0} ms: {:.2} slots (goal <= 1)",
        waited / slot
    );
    println!(
        "  storm operations started while it waited: {overtaking}; first come, first served would have made it wait for {ahead} ({:.1} s)",
        ahead as f64 * slot / concurrent as f64 / 1e3
    );
}
