//! The cluster lifecycle through the binary, as a user drives it: real
//! Terraform, real node processes, a real server on a free port.

use std::time::Duration;

use crate::common::*;
use chrono::{DateTime, Utc};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(120);

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| panic!("not a time: {v}"))
}

/// The nodes' addresses (Unix sockets), from their state files.
fn node_urls(s: &Server, cluster: &str) -> Vec<String> {
    server_nodes(s, cluster)
        .iter()
        .map(|n| n["url"].as_str().expect("a URL").to_owned())
        .collect()
}

#[test]
fn a_cluster_is_deployed_scaled_rescheduled_and_destroyed() {
    let s = server();
    s.run(&[
        "cluster",
        "create",
        "dev-alice",
        "--blueprint",
        "local",
        "--nodes",
        "3",
    ])
    .expect_code(0);
    assert_eq!(
        s.run(&["status", "dev-alice", "--json"]).json()["state"],
        "absent"
    );

    let deployed = s.run(&["deploy", "dev-alice", "--ttl", "2h", "--json"]);
    deployed.expect_code(0);
    let doc = deployed.json();
    assert_eq!(doc["result"], "queued");
    assert_eq!(doc["operation"]["state"], "succeeded");
    let cluster = &doc["cluster"];
    assert_eq!(cluster["state"], "running");
    assert_eq!(cluster["nodes"], 3);
    let ttl_left = time(&cluster["destroy_at"]) - Utc::now();
    assert!(ttl_left > chrono::TimeDelta::minutes(119) && ttl_left <= chrono::TimeDelta::hours(2));

    // Every node answers, naming its cluster and index; the endpoint is the
    // gateway in front of them, which admits only this cluster's tokens.
    let urls = node_urls(&s, "dev-alice");
    assert_eq!(urls.len(), 3);
    for (index, url) in urls.iter().enumerate() {
        let (code, health) = unix_get(url, "/health", &[]);
        assert_eq!(code, 200);
        assert_eq!(health["cluster"], "dev-alice");
        assert_eq!(health["node"], index);
    }
    let endpoint = cluster["endpoint"].as_str().unwrap();
    assert!(
        !urls.iter().any(|u| u == endpoint),
        "the endpoint is the gateway"
    );
    assert_eq!(
        cluster["outputs"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["endpoint"],
        "no node address is shown"
    );
    assert_eq!(get(endpoint).0, 401, "a private cluster without a token");
    let token = s.run(&["access", "dev-alice"]).stdout().trim().to_owned();
    let through = reqwest::blocking::Client::new()
        .get(format!("{endpoint}/health"))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(through.status(), 200);
    assert_eq!(
        cluster_processes(&s, "dev-alice").len(),
        3 + 1,
        "nodes and gateway"
    );

    // Deploying a running cluster again: nothing to do.
    let again = s.run(&["deploy", "dev-alice", "--json"]);
    again.expect_code(0);
    assert_eq!(again.json()["result"], "already_running");
    // With a TTL, nothing to deploy, but the new destroy time applies.
    let later = s.run(&["deploy", "dev-alice", "--ttl", "5h", "--json"]);
    later.expect_code(0);
    let later = later.json();
    assert_eq!(later["result"], "already_running");
    let moved: chrono::DateTime<chrono::Utc> = later["cluster"]["destroy_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let in_5h = chrono::Utc::now() + chrono::TimeDelta::hours(5);
    assert!(
        (in_5h - moved).abs() < chrono::TimeDelta::minutes(1),
        "{later}"
    );

    // Scaling in place keeps the surviving nodes.
    let scaled = s.run(&["deploy", "dev-alice", "--nodes", "2", "--json"]);
    scaled.expect_code(0);
    let doc = scaled.json();
    assert_eq!(doc["operation"]["kind"], "update");
    assert_eq!(node_urls(&s, "dev-alice"), urls[..2]);
    assert_eq!(doc["cluster"]["endpoint"], endpoint, "the gateway stays");
    assert_eq!(cluster_processes(&s, "dev-alice").len(), 2 + 1);

    // Move the schedule.
    s.run(&["extend", "dev-alice", "--in", "30m"])
        .expect_code(0);
    let status = s.run(&["status", "dev-alice", "--json"]).json();
    let left = time(&status["destroy_at"]) - Utc::now();
    assert!(left > chrono::TimeDelta::minutes(29) && left <= chrono::TimeDelta::minutes(30));

    let logs = s.run(&["logs", "dev-alice"]);
    logs.expect_code(0);
    assert!(
        logs.stdout().contains("Apply complete!"),
        "{}",
        logs.stdout()
    );
    // This cluster has no secret in its log, so nothing is masked in it.
    assert!(!logs.stdout().contains("***"), "{}", logs.stdout());

    let destroyed = s.run(&["destroy", "dev-alice", "--json"]);
    destroyed.expect_code(0);
    let doc = destroyed.json();
    assert_eq!(doc["operation"]["kind"], "destroy");
    assert_eq!(doc["cluster"]["state"], "absent");
    assert_eq!(
        doc["cluster"]["destroy_at"],
        Value::Null,
        "destroy removes the schedule"
    );
    assert_eq!(doc["cluster"]["endpoint"], Value::Null);
    assert!(cluster_processes(&s, "dev-alice").is_empty());

    // Destroying an absent cluster succeeds with nothing to do.
    let nothing = s.run(&["destroy", "dev-alice", "--json"]);
    nothing.expect_code(0);
    assert_eq!(nothing.json()["result"], "nothing_to_destroy");
}

#[test]
fn a_scheduled_destroy_cannot_be_moved_within_five_minutes_of_it() {
    let s = server();
    for name in ["near", "far"] {
        s.run(&["cluster", "create", name, "--blueprint", "local"])
            .expect_code(0);
        s.run(&["deploy", name]).expect_code(0);
    }
    s.run(&["schedule-destroy", "near", "--in", "4m"])
        .expect_code(0);
    s.run(&["schedule-destroy", "far", "--in", "20m"])
        .expect_code(0);

    let refused = s.run(&["extend", "near", "--in", "1h", "--json"]);
    refused.expect_code(4);
    let error = refused.error_json();
    assert_eq!(error["error"]["code"], "too_late_to_reschedule");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&slipway_core::schedule::change_cutoff_in_words())
    );
    // The CLI's help says the same rule from the same constant.
    let help = s.run(&["schedule-destroy", "--help"]);
    assert!(
        help.stdout()
            .contains(&slipway_core::schedule::change_cutoff_in_words()),
        "{}",
        help.stdout()
    );
    let at = Utc::now() + chrono::TimeDelta::hours(3);
    s.run(&["extend", "near", "--at", &at.to_rfc3339()])
        .expect_code(4);

    s.run(&["extend", "far", "--in", "1h"]).expect_code(0);
    let far = s.run(&["status", "far", "--json"]).json();
    assert!(time(&far["destroy_at"]) - Utc::now() > chrono::TimeDelta::minutes(59));

    for name in ["near", "far"] {
        s.run(&["destroy", name]).expect_code(0);
    }
}

#[test]
fn deploy_is_refused_while_a_failed_cluster_is_scheduled_for_destroy() {
    let s = server();
    s.run(&[
        "cluster",
        "create",
        "f",
        "--blueprint",
        "flaky",
        "--var",
        "fail_apply=true",
    ])
    .expect_code(0);
    let failed = s.run(&["deploy", "f", "--ttl", "1h", "--json"]);
    failed.expect_code(1);
    let doc = failed.json();
    assert_eq!(doc["operation"]["state"], "failed");
    assert!(
        doc["operation"]["error"]
            .as_str()
            .unwrap()
            .contains("boom: the cloud said no")
    );
    assert_eq!(doc["cluster"]["state"], "failed");
    assert!(
        doc["cluster"]["destroy_at"].is_string(),
        "the schedule stays"
    );

    let refused = s.run(&["deploy", "f", "--json"]);
    refused.expect_code(4);
    assert_eq!(
        refused.error_json()["error"]["code"],
        "scheduled_for_destroy"
    );

    s.run(&["destroy", "f"]).expect_code(0);
    let status = s.run(&["status", "f", "--json"]).json();
    assert_eq!(status["state"], "absent");
    assert_eq!(status["destroy_at"], Value::Null);
}

#[test]
fn a_due_scheduled_destroy_fires_as_a_destroy_with_reason_schedule() {
    let s = server();
    s.run(&[
        "cluster",
        "create",
        "short",
        "--blueprint",
        "local",
        "--nodes",
        "2",
    ])
    .expect_code(0);
    let deployed = s.run(&["deploy", "short", "--ttl", "3s", "--json"]);
    deployed.expect_code(0);
    let destroy_at = time(&deployed.json()["cluster"]["destroy_at"]);

    let gone = watch_until(&s, "short", WAIT, |st| {
        st["state"] == "absent" && st["last_operation"]["kind"] == "destroy"
    });
    assert_eq!(gone["destroy_at"], Value::Null);
    let op_id = gone["last_operation"]["id"].as_str().unwrap();
    let op: Value = api(&s, "GET", &format!("/v1/operations/{op_id}"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(op["reason"], "schedule");
    assert_eq!(op["requested_by"], "slipway:scheduler");
    let fired_after = time(&op["created_at"]) - destroy_at;
    assert!(
        fired_after >= chrono::TimeDelta::zero(),
        "fired early: {fired_after}"
    );
    println!(
        "the scheduled destroy fired {} ms after its time",
        fired_after.num_milliseconds()
    );
    assert!(cluster_processes(&s, "short").is_empty());
}

#[test]
fn a_scheduled_destroy_that_fails_leaves_the_cluster_failed_and_still_scheduled() {
    let s = server();
    s.run(&[
        "cluster",
        "create",
        "sticky",
        "--blueprint",
        "flaky",
        "--var",
        "fail_destroy=true",
    ])
    .expect_code(0);
    s.run(&["deploy", "sticky", "--ttl", "2s"]).expect_code(0);
    let failed = watch_until(&s, "sticky", WAIT, |st| {
        st["last_operation"]["kind"] == "destroy" && st["last_operation"]["state"] == "failed"
    });
    assert_eq!(failed["state"], "failed");
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .contains("destroy refused by the provider"),
        "{failed}"
    );
    assert!(
        failed["destroy_at"].is_string(),
        "never silently dropped: {failed}"
    );
    let audit_free_status = s.run(&["status", "sticky"]);
    assert!(
        audit_free_status
            .stdout()
            .contains("destroy refused by the provider")
    );
}

#[test]
fn kill_9_mid_deploy_is_recovered_and_destroy_leaves_no_process() {
    let mut s = server();
    let op_id = queue_slow_deploy(&s, "k", 3, 60);
    // Kill the server once a node is starting.
    follow_until_a_node_starts(&s, &op_id);
    s.kill9();

    s.restart();
    // Recovery marks the deploy interrupted and reconciles with Terraform.
    let settled = watch_until(&s, "k", WAIT, |st| {
        st["last_operation"]["kind"] == "refresh"
            && matches!(
                st["last_operation"]["state"].as_str(),
                Some("succeeded" | "failed")
            )
    });
    assert_ne!(
        settled["state"], "deploying",
        "status tells the truth: {settled}"
    );
    let deploy: Value = api(&s, "GET", &format!("/v1/operations/{op_id}"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(deploy["state"], "interrupted");
    let log = s.run(&["logs", &op_id]).stdout();
    assert!(log.contains("interrupted"), "{log}");
    // Terraform stopped on its own once the server died; its log says how
    // far the apply got, and its working directory is gone.
    let page = s.run(&["logs", &op_id, "--json"]).json();
    let ended: Vec<&Value> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|event| event["kind"] == "orphan_apply_ended")
        .collect();
    assert_eq!(ended.len(), 1, "{page}");
    let ending = &ended[0]["data"];
    assert_eq!(ending["completed"], false, "{ending}");
    assert_eq!(ending["progress"]["planned"], 7, "{ending}");
    assert!(ending["progress"]["done"].as_u64().unwrap() < 7, "{ending}");
    assert!(
        !s.data_dir().join("work/runs").join(&op_id).exists(),
        "the run's directory is left"
    );

    s.run(&["destroy", "k"]).expect_code(0);
    assert_eq!(s.run(&["status", "k", "--json"]).json()["state"], "absent");
    let left = cluster_processes(&s, "k");
    assert!(left.is_empty(), "processes left behind: {left:?}");
}

#[test]
fn node_processes_outlive_a_restart_and_the_next_destroy_stops_them() {
    let mut s = server();
    s.run(&[
        "cluster",
        "create",
        "r",
        "--blueprint",
        "local",
        "--nodes",
        "2",
    ])
    .expect_code(0);
    s.run(&["deploy", "r", "--json"]).expect_code(0);
    let urls = node_urls(&s, "r");
    assert_eq!(urls.len(), 2);
    s.kill9();
    for url in &urls {
        assert_eq!(
            unix_get(url, "/health", &[]).0,
            200,
            "nodes run without the server"
        );
    }
    s.restart();
    assert_eq!(s.run(&["status", "r", "--json"]).json()["state"], "running");
    s.run(&["destroy", "r"]).expect_code(0);
    assert!(cluster_processes(&s, "r").is_empty());
}

#[test]
fn overdue_scheduled_destroys_fire_at_start_up() {
    let mut s = server();
    s.run(&["cluster", "create", "late", "--blueprint", "local"])
        .expect_code(0);
    let doc = s.run(&["deploy", "late", "--ttl", "3s", "--json"]).json();
    let destroy_at = time(&doc["cluster"]["destroy_at"]);
    s.kill9();
    // Let the schedule fall due while the server is down.
    if let Ok(left) = (destroy_at - Utc::now()).to_std() {
        std::thread::sleep(left + Duration::from_millis(200));
    }
    s.restart();
    let gone = watch_until(&s, "late", WAIT, |st| st["state"] == "absent");
    assert_eq!(gone["last_operation"]["kind"], "destroy");
    assert!(cluster_processes(&s, "late").is_empty());
}

#[test]
fn concurrent_deploy_and_destroy_one_wins_the_other_is_refused() {
    let s = server();
    s.run(&[
        "cluster",
        "create",
        "c",
        "--blueprint",
        "local",
        "--var",
        "boot_seconds=2",
    ])
    .expect_code(0);
    s.run(&["deploy", "c"]).expect_code(0);

    // In flight: a conflicting request names the operation in the way.
    let update = s.run(&["deploy", "c", "--nodes", "2", "--no-wait", "--json"]);
    update.expect_code(0);
    let op = update.json()["operation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let refused = s.run(&["destroy", "c", "--json"]);
    refused.expect_code(4);
    let error = refused.error_json();
    assert_eq!(error["error"]["code"], "operation_in_progress");
    assert_eq!(error["error"]["operation"], op.as_str());
    // An identical request joins it.
    let joined = s.run(&["deploy", "c", "--nodes", "2", "--json"]);
    joined.expect_code(0);
    assert_eq!(joined.json()["result"], "joined");

    // At the same time: exactly one wins.
    let quiet = |args: &[&str]| {
        s.cli(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let a = quiet(&["deploy", "c", "--nodes", "3"]);
    let b = quiet(&["destroy", "c"]);
    let codes = [a, b].map(|c| c.wait_with_output().unwrap().status.code().unwrap());
    let mut sorted = codes;
    sorted.sort();
    assert_eq!(
        sorted,
        [0, 4],
        "deploy exited {}, destroy {}",
        codes[0],
        codes[1]
    );

    s.run(&["destroy", "c"]).expect_code(0);
    assert!(cluster_processes(&s, "c").is_empty());
}

/// A sample of `/metrics`: the sum of the series `name` whose labels
/// include every one of `labels`, or `None` when there is no such series.
fn sample(metrics: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let values: Vec<f64> = metrics
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (series_name, series_labels) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let matches = series_name == name
                && labels
                    .iter()
                    .all(|(k, v)| series_labels.contains(&format!("{k}=\"{v}\"")));
            matches.then(|| value.parse::<f64>().ok()).flatten()
        })
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

#[test]
fn metrics_count_operations_runs_and_requests() {
    let s = server();
    let scrape = || {
        let response = reqwest::blocking::get(format!("{}/metrics", s.url)).unwrap();
        assert_eq!(response.status(), 200);
        response.text().unwrap()
    };
    let before = scrape();
    s.run(&["cluster", "create", "m", "--blueprint", "local"])
        .expect_code(0);
    s.run(&["deploy", "m"]).expect_code(0);
    let after = scrape();

    // A series appears when it first moves.
    let deploys = [("kind", "deploy"), ("result", "succeeded")];
    assert_eq!(sample(&before, "slipway_operations_total", &deploys), None);
    assert_eq!(
        sample(&after, "slipway_operations_total", &deploys),
        Some(1.0)
    );
    let applies = [("command", "apply")];
    let runs = "slipway_terraform_run_duration_seconds_count";
    assert_eq!(sample(&before, runs, &applies), None);
    assert!(sample(&after, runs, &applies) >= Some(1.0), "{after}");
    let run_seconds = "slipway_terraform_run_duration_seconds_sum";
    assert!(sample(&after, run_seconds, &applies) > Some(0.0), "{after}");
    let deploy_requests = [("route", "/v1/clusters/{name}/deploy"), ("status", "202")];
    assert_eq!(
        sample(&after, "slipway_http_requests_total", &deploy_requests),
        Some(1.0),
        "{after}"
    );
    for state in ["queued", "running"] {
        let depth = sample(&after, "slipway_queue_operations", &[("state", state)]);
        assert_eq!(depth, Some(0.0), "{after}");
    }
    s.run(&["destroy", "m"]).expect_code(0);
}

#[test]
fn a_cluster_is_refreshed_and_removed_only_once_nothing_of_it_is_deployed() {
    let s = server();
    s.run(&["cluster", "create", "r", "--blueprint", "local"])
        .expect_code(0);
    s.run(&["deploy", "r"]).expect_code(0);
    // A refresh reads what exists and changes nothing of it.
    let refreshed = s.run(&["refresh", "r", "--json"]);
    refreshed.expect_code(0);
    let refreshed = refreshed.json();
    assert_eq!(refreshed["operation"]["kind"], "refresh", "{refreshed}");
    assert_eq!(refreshed["operation"]["state"], "succeeded", "{refreshed}");
    assert_eq!(refreshed["cluster"]["state"], "running", "{refreshed}");
    let refused = s.run(&["cluster", "remove", "r"]);
    assert_eq!(refused.code(), 4, "{}", refused.stderr());
    assert!(
        refused.stderr().contains("destroy it before removing it"),
        "{}",
        refused.stderr()
    );

    s.run(&["destroy", "r"]).expect_code(0);
    let removed = s.run(&["cluster", "remove", "r", "--json"]);
    removed.expect_code(0);
    assert_eq!(removed.json()["result"], "removed");
    let gone = s.run(&["status", "r"]);
    assert_eq!(gone.code(), 2, "{}", gone.stderr());
    // Its history stays; the name may be used again.
    let ops: Value = api(&s, "GET", "/v1/operations")
        .send()
        .unwrap()
        .json()
        .unwrap();
    let kept: Vec<&Value> = ops["operations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|op| op["cluster"] == "r")
        .map(|op| &op["kind"])
        .collect();
    assert_eq!(kept, ["destroy", "refresh", "deploy"], "{ops}");
    s.run(&["cluster", "create", "r", "--blueprint", "local"])
        .expect_code(0);
}

/// Fault-injection finding: a refresh that found a healthy cluster's
/// infrastructure differing from its configuration marked it `failed`,
/// blaming an interruption. It stays running; the log says what differs.
#[test]
fn a_refresh_that_finds_a_running_cluster_differing_keeps_it_running() {
    let s = server();
    s.run(&["cluster", "create", "drift", "--blueprint", "local"])
        .expect_code(0);
    s.run(&["deploy", "drift"]).expect_code(0);
    // Something outside Slipway moves the gateway's state file away: the
    // `endpoint` output Terraform would compute differs from the state's.
    let runtime = s.data_dir().join("runtime/drift");
    let (file, aside) = (runtime.join("gateway.json"), runtime.join("aside"));
    std::fs::rename(&file, &aside).unwrap();
    let refreshed = s.run(&["refresh", "drift", "--json"]);
    std::fs::rename(&aside, &file).unwrap();
    refreshed.expect_code(0);
    let refreshed = refreshed.json();
    assert_eq!(refreshed["operation"]["state"], "succeeded", "{refreshed}");
    assert_eq!(refreshed["cluster"]["state"], "running", "{refreshed}");
    assert_eq!(refreshed["cluster"]["error"], Value::Null, "{refreshed}");
    assert!(refreshed["cluster"]["endpoint"].is_string(), "{refreshed}");
    let op = refreshed["operation"]["id"].as_str().unwrap();
    let events: Value = api(&s, "GET", &format!("/v1/operations/{op}/events"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let drift: Vec<&Value> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "drift")
        .collect();
    assert_eq!(drift.len(), 1, "{events}");
    assert!(
        drift[0]["message"]
            .as_str()
            .unwrap()
            .contains("differs from the configuration"),
        "{}",
        drift[0]
    );
    // With the file back, nothing differs.
    let again = s.run(&["refresh", "drift", "--json"]).json();
    assert_eq!(again["cluster"]["state"], "running", "{again}");
    s.run(&["destroy", "drift"]).expect_code(0);
    assert!(cluster_processes(&s, "drift").is_empty());
}

#[test]
fn while_provisioning_is_paused_a_queued_deploy_waits_and_runs_when_resumed() {
    let s = server();
    s.run(&["cluster", "create", "p", "--blueprint", "local"])
        .expect_code(0);
    let paused = s.run(&[
        "admin",
        "pause",
        "--reason",
        "storage maintenance",
        "--json",
    ]);
    paused.expect_code(0);
    assert_eq!(paused.json()["paused"], true);
    let shown = s.run(&["admin", "provisioning", "--json"]);
    shown.expect_code(0);
    assert_eq!(shown.json()["reason"], "storage maintenance");
    let shown = s.run(&["admin", "provisioning"]);
    assert!(
        shown.stdout().contains("Provisioning is paused")
            && shown.stdout().contains("storage maintenance"),
        "{}",
        shown.stdout()
    );

    let queued = s.run(&["deploy", "p", "--no-wait", "--json"]);
    queued.expect_code(0);
    let op = queued.json()["operation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    s.run(&["admin", "resume", "--json"]).expect_code(0);
    let entries: Value = api(&s, "GET", "/v1/audit?action=provisioning.resume")
        .send()
        .unwrap()
        .json()
        .unwrap();
    let resumed_at = time(&entries[0]["at"]);
    let pause: Value = api(&s, "GET", "/v1/audit?action=provisioning.pause")
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(pause[0]["level"], "admin");
    assert_eq!(pause[0]["detail"]["reason"], "storage maintenance");

    // It runs once resumed, and not before.
    s.run(&["logs", &op, "--follow"]).expect_code(0);
    let ran: Value = api(&s, "GET", &format!("/v1/operations/{op}"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(ran["state"], "succeeded", "{ran}");
    assert!(
        time(&ran["started_at"]) >= resumed_at,
        "started {} before provisioning resumed at {resumed_at}",
        ran["started_at"]
    );
    assert_eq!(
        s.run(&["admin", "provisioning", "--json"]).json()["paused"],
        false
    );
    s.run(&["destroy", "p"]).expect_code(0);
}

/// The local blueprint's data directory is deletion-protected, like a
/// bucket that holds objects: a destroy fails while it holds files, saying
/// so, and leaves the cluster failed with that error; emptied, the next
/// destroy succeeds and leaves nothing.
#[test]
fn a_destroy_fails_while_the_clusters_data_directory_holds_files() {
    let s = server();
    s.run(&["cluster", "create", "keep", "--blueprint", "local"])
        .expect_code(0);
    s.run(&["deploy", "keep"]).expect_code(0);
    let data = s.data_dir().join("runtime/keep/data");
    assert!(data.is_dir(), "the deploy made {}", data.display());
    std::fs::write(data.join("results.csv"), "42\n").unwrap();

    s.run(&["destroy", "keep"]).expect_code(1);
    let failed = s.run(&["status", "keep", "--json"]).json();
    assert_eq!(failed["state"], "failed", "{failed}");
    let error = failed["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("holds files: empty it, then destroy again"),
        "{failed}"
    );
    assert!(data.join("results.csv").exists(), "the data is kept");

    std::fs::remove_file(data.join("results.csv")).unwrap();
    s.run(&["destroy", "keep"]).expect_code(0);
    assert_eq!(
        s.run(&["status", "keep", "--json"]).json()["state"],
        "absent"
    );
    assert!(!data.exists());
    assert!(cluster_processes(&s, "keep").is_empty());
}

/// The local blueprint's registration record names the scheduler, the way a
/// cloud cluster's DNS record does: moving it rewrites the record, no node
/// restarts, and every node reports the new one at its next health check.
#[test]
fn moving_the_scheduler_rewrites_the_registration_and_restarts_no_node() {
    let s = server();
    s.run(&[
        "cluster",
        "create",
        "sched",
        "--blueprint",
        "local",
        "--nodes",
        "2",
    ])
    .expect_code(0);
    s.run(&["deploy", "sched"]).expect_code(0);
    let roles = || -> Vec<(u64, String, u64)> {
        server_nodes(&s, "sched")
            .iter()
            .map(|node| {
                let (status, health) = unix_get(node["url"].as_str().unwrap(), "/health", &[]);
                assert_eq!(status, 200, "{health}");
                (
                    health["node"].as_u64().unwrap(),
                    health["role"].as_str().unwrap().to_owned(),
                    node["pid"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let before = roles();
    assert_eq!(
        before
            .iter()
            .map(|(n, r, _)| (*n, r.as_str()))
            .collect::<Vec<_>>(),
        [(0, "scheduler"), (1, "worker")]
    );
    s.run(&["deploy", "sched", "--var", "scheduler_node=1"])
        .expect_code(0);
    let after = roles();
    assert_eq!(
        after
            .iter()
            .map(|(n, r, _)| (*n, r.as_str()))
            .collect::<Vec<_>>(),
        [(0, "worker"), (1, "scheduler")]
    );
    assert_eq!(
        before.iter().map(|(_, _, pid)| pid).collect::<Vec<_>>(),
        after.iter().map(|(_, _, pid)| pid).collect::<Vec<_>>(),
        "no node restarted"
    );
    s.run(&["destroy", "sched"]).expect_code(0);
    assert!(!s.data_dir().join("runtime/sched/scheduler.json").exists());
}

/// Many people following one busy operation at once (the short version of
/// `benches/followers.rs`): each gets every event of the log, in order,
/// exactly as stored — the events reach them through the operation's one
/// reader, which hands each stretch of log to every follower.
#[test]
fn every_follower_of_a_busy_operation_gets_every_event_in_order() {
    const FOLLOWERS: usize = 60;
    let s = server_with(Options {
        env: vec![
            ("SLIPWAY_AUTH__RATE_LIMITS__API_BURST".into(), "1000".into()),
            (
                "SLIPWAY_AUTH__RATE_LIMITS__API_PER_SECOND".into(),
                "1000".into(),
            ),
        ],
        ..Default::default()
    });
    s.run(&["cluster", "create", "busy", "--blueprint", "ticker"])
        .expect_code(0);
    let deployed = s.run(&[
        "deploy",
        "busy",
        "--no-wait",
        "--json",
        "--var",
        "lines=30",
        "--var",
        "delay_seconds=1",
    ]);
    deployed.expect_code(0);
    let operation = deployed.json()["operation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    let seen: Vec<Vec<(u64, String)>> = local.block_on(&runtime, async {
        let client = slipway_api::Client::new(&s.url, Some(s.token.clone()));
        // Set once the first line is followed: some join only then, in the
        // middle of the log.
        let (ticking, ticks) = tokio::sync::watch::channel(false);
        let ticking = std::rc::Rc::new(ticking);
        let followers: Vec<_> = (0..FOLLOWERS)
            .map(|i| {
                let (client, operation) = (client.clone(), operation.clone());
                let (ticking, mut ticks) = (ticking.clone(), ticks.clone());
                tokio::task::spawn_local(async move {
                    if i % 3 == 0 {
                        ticks
                            .wait_for(|t| *t)
                            .await
                            .expect("a follower sees a line");
                    }
                    let mut events = client.follow(&operation, 0);
                    let mut seen = Vec::new();
                    while let Some(event) = events.next().await {
                        let event = event.expect("the log follows");
                        if event.message.contains("): tick ") {
                            ticking.send_replace(true);
                        }
                        seen.push((event.seq, event.message));
                    }
                    seen
                })
            })
            .collect();
        let mut seen = Vec::new();
        for follower in followers {
            seen.push(follower.await.unwrap());
        }
        seen
    });
    let stored: Vec<(u64, String)> = s.run(&["logs", &operation, "--json"]).json()["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["seq"].as_u64().unwrap(),
                e["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        stored
            .iter()
            .filter(|(_, m)| m.contains("): tick "))
            .count()
            == 30,
        "{stored:?}"
    );
    for (i, events) in seen.iter().enumerate() {
        assert_eq!(events, &stored, "follower {i}");
    }
    s.run(&["destroy", "busy"]).expect_code(0);
}

/// Scheduled destroys falling due in the same second (the short version of
/// `benches/schedules.rs`): every cluster is destroyed, each by exactly
/// one operation of reason `schedule` — none lost, none run twice.
#[test]
fn destroys_due_in_the_same_second_each_run_once() {
    const CLUSTERS: usize = 12;
    let s = server_with(Options {
        env: vec![
            ("SLIPWAY_AUTH__RATE_LIMITS__API_BURST".into(), "1000".into()),
            (
                "SLIPWAY_AUTH__RATE_LIMITS__API_PER_SECOND".into(),
                "1000".into(),
            ),
        ],
        ..Default::default()
    });
    let names: Vec<String> = (0..CLUSTERS).map(|i| format!("due-{i:02}")).collect();
    for name in &names {
        s.run(&["cluster", "create", name, "--blueprint", "flaky"])
            .expect_code(0);
        s.run(&["deploy", name, "--no-wait"]).expect_code(0);
    }
    for name in &names {
        watch_until(&s, name, WAIT, |st| st["state"] == "running");
    }
    // Far enough ahead that every schedule is set before it.
    let due = (chrono::Utc::now() + chrono::Duration::seconds(2 + CLUSTERS as i64 / 2))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    for name in &names {
        s.run(&["schedule-destroy", name, "--at", &due])
            .expect_code(0);
    }
    for name in &names {
        watch_until(&s, name, WAIT, |st| st["state"] == "absent");
        let operations = s.run(&["history", name, "--json"]).json();
        let destroys: Vec<&serde_json::Value> = operations["operations"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| o["kind"] == "destroy")
            .collect();
        assert_eq!(destroys.len(), 1, "{name}: {operations}");
        assert_eq!(destroys[0]["reason"], "schedule", "{name}: {operations}");
        assert_eq!(destroys[0]["state"], "succeeded", "{name}: {operations}");
    }
}

/// A fleet deployed and destroyed at once (the short version of
/// `benches/fleet.rs`): more clusters than the executor's slots, each
/// deployed once and destroyed once, every one running in between.
#[test]
fn a_fleet_deployed_and_destroyed_at_once_runs_each_operation_once() {
    const CLUSTERS: usize = 16;
    let s = server_with(Options {
        env: vec![
            ("SLIPWAY_EXECUTOR__MAX_CONCURRENT".into(), "4".into()),
            ("SLIPWAY_AUTH__RATE_LIMITS__API_BURST".into(), "1000".into()),
            (
                "SLIPWAY_AUTH__RATE_LIMITS__API_PER_SECOND".into(),
                "1000".into(),
            ),
        ],
        ..Default::default()
    });
    let names: Vec<String> = (0..CLUSTERS).map(|i| format!("fleet-{i:02}")).collect();
    for name in &names {
        s.run(&["cluster", "create", name, "--blueprint", "flaky"])
            .expect_code(0);
    }
    for name in &names {
        s.run(&["deploy", name, "--no-wait"]).expect_code(0);
    }
    for name in &names {
        let running = watch_until(&s, name, WAIT, |st| st["state"] != "deploying");
        assert_eq!(running["state"], "running", "{running}");
        assert_eq!(
            running["endpoint"],
            format!("http://{name}.flaky.invalid"),
            "{running}"
        );
    }
    for name in &names {
        s.run(&["destroy", name, "--no-wait"]).expect_code(0);
    }
    for name in &names {
        watch_until(&s, name, WAIT, |st| st["state"] == "absent");
        let history = s.run(&["history", name, "--json"]).json();
        let kinds: Vec<&str> = history["operations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["destroy", "deploy"], "{name}: {history}");
    }
}
