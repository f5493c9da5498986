//! Scheduled destroys that fall due in the same second: BENCH_CLUSTERS
//! running clusters (default 1,000) of a blueprint that starts no process
//! (the tests' `flaky`), every one scheduled to be destroyed at the same
//! instant T, on one server with `executor.max_concurrent` = BENCH_CONCURRENT
//! (default 4).
//!
//! `cargo bench -p slipway-cli --bench schedules`. Prints how long after T
//! the last destroy was queued (goal: all within 1 s), how long the
//! destroys took to drain against what the executor's capacity allows
//! (its slots times the destroys' own median run time), and checks that
//! every cluster was destroyed by exactly one operation of reason
//! `schedule`: none lost, none run twice.

use std::path::Path;
use std::time::Duration;

use chrono::Utc;
use serde_json::Value;
use slipway_testkit::bench::{median, server, setting, time};

fn main() {
    let clusters = setting("BENCH_CLUSTERS", 1_000);
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
    let names: Vec<String> = (0..clusters).map(|i| format!("due-{i:04}")).collect();
    println!("{clusters} clusters of flaky, executor.max_concurrent = {concurrent}");
    for name in &names {
        server.api(
            "POST",
            "/v1/clusters",
            Some(serde_json::json!({"name": name, "blueprint": "flaky"})),
        );
        server.api(
            "POST",
            &format!("/v1/clusters/{name}/deploy"),
            Some(serde_json::json!({})),
        );
    }
    let state = |name: &str| -> String {
        server.api("GET", &format!("/v1/clusters/{name}"), None)["state"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let wait_for = |wanted: &str| {
        for name in &names {
            while state(name) != wanted {
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    };
    wait_for("running");
    // T: far enough ahead that every schedule is set before it.
    let due = Utc::now() + chrono::Duration::seconds(5 + (clusters / 200) as i64);
    let due = due - chrono::Duration::nanoseconds(i64::from(due.timestamp_subsec_nanos()));
    for name in &names {
        server.api(
            "PUT",
            &format!("/v1/clusters/{name}/schedule"),
            Some(serde_json::json!({"at": due})),
        );
    }
    assert!(
        Utc::now() < due,
        "setting the schedules took past T: raise the margin"
    );
    wait_for("absent");

    let (mut queued_after, mut runs, mut finished) = (Vec::new(), Vec::new(), Vec::new());
    for name in &names {
        let operations = server.api(
            "GET",
            &format!("/v1/clusters/{name}/operations?limit=50"),
            None,
        );
        let destroys: Vec<&Value> = operations["operations"]
            .as_array()
            .expect("a page of operations")
            .iter()
            .filter(|o| o["kind"] == "destroy")
            .collect();
        assert_eq!(destroys.len(), 1, "{name}: {operations}");
        let destroy = destroys[0];
        assert_eq!(destroy["reason"], "schedule", "{name}: {destroy}");
        assert_eq!(destroy["state"], "succeeded", "{name}: {destroy}");
        let (created, started, ended) = (
            time(&destroy["created_at"]),
            time(&destroy["started_at"]),
            time(&destroy["finished_at"]),
        );
        queued_after.push((created - due).num_milliseconds() as f64);
        runs.push((ended - started).num_milliseconds() as f64);
        finished.push(ended);
    }
    let last_queued = queued_after.iter().copied().fold(f64::MIN, f64::max);
    let drained = (*finished.iter().max().unwrap() - due).num_milliseconds() as f64 / 1e3;
    let run = median(runs) / 1e3;
    let capacity = clusters as f64 * run / concurrent as f64;
    println!(
        "  every cluster destroyed by exactly one operation of reason schedule: {clusters} of {clusters}"
    );
    println!(
        "  queued after T: median {:.0} ms, last {last_queued:.0} ms (goal: all within 1000 ms)",
        median(queued_after)
    );
    println!(
        "  drained {drained:.1} s after T; the executor's capacity allows {capacity:.1} s ({concurrent} slots x median destroy {run:.2} s); ratio {:.2}",
        drained / capacity
    );
}
