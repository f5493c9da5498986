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

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use slipway_testkit::server::{Options, Server};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("a time: {v}"))
}

fn main() {
    let storm = env("BENCH_STORM", 200);
    let concurrent = env("BENCH_CONCURRENT", 4);
    let server = Server::start_with(
        Path::new(env!("CARGO_BIN_EXE_slipway")),
        Options {
            env: vec![
                (
                    "SLIPWAY_BLUEPRINT_DIRS".into(),
                    Path::new(env!("CARGO_MANIFEST_DIR"))
                        .join("tests/fixtures/blueprints")
                        .display()
                        .to_string(),
                ),
                (
                    "SLIPWAY_EXECUTOR__MAX_CONCURRENT".into(),
                    concurrent.to_string(),
                ),
                (
                    "SLIPWAY_AUTH__RATE_LIMITS__API_PER_SECOND".into(),
                    "1000000".into(),
                ),
                (
                    "SLIPWAY_AUTH__RATE_LIMITS__API_BURST".into(),
                    "1000000".into(),
                ),
                ("SLIPWAY_LOG".into(), "warn".into()),
            ],
            ..Options::default()
        },
    );
    let http = reqwest::blocking::Client::new();
    let api = |method: reqwest::Method, path: &str, body: Value| -> Value {
        let response = http
            .request(method, format!("{}{path}", server.url))
            .bearer_auth(&server.token)
            .json(&body)
            .send()
            .expect("the API answers");
        let status = response.status();
        let text = response.text().unwrap_or_default();
        assert!(status.is_success(), "{path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    };
    let room = json!({"limits": {"max_clusters": storm + 10, "max_defined_clusters": storm + 10}});
    for org in ["storm", "calm"] {
        api(reqwest::Method::POST, "/v1/orgs", json!({"name": org}));
        api(
            reqwest::Method::PATCH,
            &format!("/v1/orgs/{org}"),
            room.clone(),
        );
    }
    let names: Vec<String> = (0..storm).map(|i| format!("storm-{i:03}")).collect();
    for (name, org) in names
        .iter()
        .map(|n| (n.as_str(), "storm"))
        .chain([("bystander", "calm")])
    {
        api(
            reqwest::Method::POST,
            "/v1/clusters",
            json!({"name": name, "blueprint": "flaky", "organization": org}),
        );
    }
    let deploy = |name: &str| -> String {
        api(
            reqwest::Method::POST,
            &format!("/v1/clusters/{name}/deploy"),
            json!({}),
        )["operation"]["id"]
            .as_str()
            .expect("an operation")
            .to_owned()
    };
    let burst: Vec<String> = names.iter().map(|n| deploy(n)).collect();
    // The storm runs in every slot; then the bystander comes.
    std::thread::sleep(Duration::from_secs(1));
    let bystander = deploy("bystander");
    let operation = |id: &str| {
        api(
            reqwest::Method::GET,
            &format!("/v1/operations/{id}"),
            Value::Null,
        )
    };
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
    let mut runs: Vec<f64> = storm_ops
        .iter()
        .map(|op| (time(&op["finished_at"]) - time(&op["started_at"])).num_milliseconds() as f64)
        .collect();
    runs.sort_by(f64::total_cmp);
    let slot = runs[runs.len() / 2];
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
