//! TEST and RELEASE through the binary, against deployed `local` clusters,
//! with a project repository the test makes: suites that pass, fail and
//! hang, on the process runner and on the Terraform runner (the `local`
//! blueprint's runner module, applied and destroyed for real); cancel and a
//! killed server still remove the runner; runs side by side; only
//! administrators; logs in S3.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crate::common::project::Project;
use crate::common::*;
use serde_json::{Value, json};
use slipway_testkit::github::FakeGitHub;
use slipway_testkit::moto::Moto;

const WAIT: Duration = Duration::from_secs(180);

fn deploy(s: &Server, name: &str, blueprint: &str) {
    s.run(&["cluster", "create", name, "--blueprint", blueprint])
        .expect_code(0);
    s.run(&["deploy", name]).expect_code(0);
}

/// Where a run's runner keeps its files on this machine.
fn runner_dir(s: &Server, runner: &str, run: &str) -> PathBuf {
    match runner {
        "process" => s.data_dir().join("work/jobs").join(run),
        _ => s.data_dir().join("runners").join(run),
    }
}

/// Processes working (by their current directory) anywhere in `dir`.
fn processes_working_in(dir: &Path) -> Vec<(u32, String)> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(Result::ok)
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let cwd = std::fs::read_link(e.path().join("cwd")).ok()?;
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            (cwd.starts_with(dir) && !cmdline.is_empty())
                .then(|| (pid, String::from_utf8_lossy(&cmdline).replace('\0', " ")))
        })
        .collect()
}

fn assert_runner_gone(s: &Server, runner: &str, run: &str) {
    let dir = runner_dir(s, runner, run);
    assert!(
        !dir.exists(),
        "the runner's directory {} is left",
        dir.display()
    );
    for runners in ["work/jobs", "runners"] {
        let left = processes_working_in(&s.data_dir().join(runners));
        assert!(left.is_empty(), "processes left: {left:?}");
    }
}

fn steps(run: &Value) -> Vec<(String, String, Value)> {
    run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_owned(),
                s["outcome"].as_str().unwrap().to_owned(),
                s["exit_code"].clone(),
            )
        })
        .collect()
}

fn suites_as_expected() -> Vec<(String, String, Value)> {
    vec![
        ("endpoint".into(), "passed".into(), json!(0)),
        ("broken".into(), "failed".into(), json!(3)),
        ("hangs".into(), "timed_out".into(), Value::Null),
    ]
}

fn operation(s: &Server, id: &str) -> Value {
    api(s, "GET", &format!("/v1/operations/{id}"))
        .send()
        .unwrap()
        .json()
        .unwrap()
}

fn suites_and_release(runner: &str) {
    let project = Project::new();
    let s = project.server(Vec::new());
    deploy(&s, "c", &format!("runs-{runner}"));

    // TEST: one suite passes, one fails, one hangs and is killed at its
    // limit; the run fails (exit 1).
    let test = s.run(&["test", "c", "--version", "v1", "--json"]);
    test.expect_code(1);
    let run = test.json();
    assert_eq!(run["passed"], false, "{run}");
    assert_eq!(run["runner"], runner);
    assert_eq!(run["version"], "v1");
    assert_eq!(steps(&run), suites_as_expected(), "{run}");
    assert_eq!(run["operation"]["state"], "failed");
    let id = run["operation"]["id"].as_str().unwrap().to_owned();
    assert_runner_gone(&s, runner, &id);

    // Its log: every suite's output, the cluster token masked.
    let log = s.run(&["logs", &id]).stdout();
    assert!(log.contains("cluster c answers at version v1"), "{log}");
    assert!(log.contains("this suite fails"), "{log}");
    assert!(log.contains("with token ***"), "{log}");
    assert!(!log.contains("with token ey"), "the token leaked: {log}");

    // RELEASE passes (exit 0).
    let release = s.run(&["release", "c", "--version", "v1", "--json"]);
    release.expect_code(0);
    let released = release.json();
    assert_eq!(released["passed"], true, "{released}");
    assert_eq!(
        steps(&released),
        vec![("release".into(), "passed".into(), json!(0))]
    );
    let release_id = released["operation"]["id"].as_str().unwrap().to_owned();
    assert!(
        s.run(&["logs", &release_id])
            .stdout()
            .contains("released v1 of c")
    );
    assert_runner_gone(&s, runner, &release_id);

    // The cluster's runs, and the report across clusters.
    let runs = s.run(&["runs", "c", "--json"]).json();
    let ids: Vec<&str> = runs["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["operation"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [release_id.as_str(), id.as_str()], "newest first");
    let report = s.run(&["runs", "--report", "--json"]).json();
    let lines: Vec<(String, String, bool, f64)> = report["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["kind"].as_str().unwrap().to_owned(),
                l["version"].as_str().unwrap().to_owned(),
                l["latest_passed"].as_bool().unwrap(),
                l["pass_rate"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            ("release".to_owned(), "v1".to_owned(), true, 1.0),
            ("test".to_owned(), "v1".to_owned(), false, 0.0)
        ]
    );
    // The runs did not touch the cluster's own state.
    let status = s.run(&["status", "c", "--json"]).json();
    assert_eq!(status["state"], "running");
    assert_eq!(status["last_operation"]["kind"], "deploy");

    s.run(&["destroy", "c"]).expect_code(0);
}

#[test]
fn on_the_process_runner_suites_pass_fail_and_time_out_and_the_runner_goes() {
    suites_and_release("process");
}

#[test]
fn on_the_terraform_runner_suites_pass_fail_and_time_out_and_the_runner_goes() {
    suites_and_release("terraform");
}

fn cancel_then_kill(runner: &str) {
    let project = Project::new();
    let mut s = project.server(Vec::new());
    deploy(&s, "c", &format!("runs-{runner}"));

    // Cancel while a suite hangs: the run is cancelled, its runner removed.
    let queued = s.run(&["test", "c", "--version", "v1", "--no-wait", "--json"]);
    queued.expect_code(0);
    let id = queued.json()["operation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    follow_until(&s, &id, "hangs: $");
    s.run(&["cancel", &id]).expect_code(0);
    s.run(&["logs", &id, "--follow"]).expect_code(0);
    let cancelled = s.run(&["runs", "c", "--json"]).json()["runs"][0].clone();
    assert_eq!(cancelled["operation"]["id"], id.as_str());
    assert_eq!(cancelled["operation"]["state"], "cancelled", "{cancelled}");
    let outcomes: Vec<String> = steps(&cancelled).into_iter().map(|s| s.1).collect();
    assert_eq!(outcomes[2], "cancelled", "{cancelled}");
    assert_runner_gone(&s, runner, &id);

    // Kill the server mid-run: recovery removes the runner.
    let queued = s.run(&["test", "c", "--version", "v1", "--no-wait", "--json"]);
    let id = queued.json()["operation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    follow_until(&s, &id, "hangs: $");
    s.kill9();
    s.restart();
    assert_eq!(operation(&s, &id)["state"], "interrupted");
    if runner == "terraform" {
        // A cleanup operation destroys the runner module.
        wait_for(WAIT, "the runner's cleanup", || {
            let ops: Value = api(&s, "GET", "/v1/clusters/c/operations")
                .send()
                .unwrap()
                .json()
                .unwrap();
            ops["operations"].as_array().unwrap().iter().any(|op| {
                op["kind"] == "cleanup"
                    && op["state"]
                        .as_str()
                        .is_some_and(|st| st != "queued" && st != "running")
            })
        });
        let ops: Value = api(&s, "GET", "/v1/clusters/c/operations")
            .send()
            .unwrap()
            .json()
            .unwrap();
        let cleanup = ops["operations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|op| op["kind"] == "cleanup")
            .unwrap();
        assert_eq!(cleanup["state"], "succeeded", "{cleanup}");
        assert_eq!(cleanup["reason"], "recovery");
    }
    assert_runner_gone(&s, runner, &id);
    s.run(&["destroy", "c"]).expect_code(0);
}

#[test]
fn on_the_process_runner_cancel_and_a_killed_server_still_remove_the_runner() {
    cancel_then_kill("process");
}

#[test]
fn on_the_terraform_runner_cancel_and_a_killed_server_still_remove_the_runner() {
    cancel_then_kill("terraform");
}

#[test]
fn two_runs_at_once_against_one_cluster_each_complete_with_their_own_log() {
    let project = Project::new();
    let s = project.server(Vec::new());
    deploy(&s, "c", "runs-process");
    let children: Vec<_> = (0..2)
        .map(|_| {
            s.cli(&["test", "c", "--version", "v1", "--json"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let runs: Vec<Value> = children
        .into_iter()
        .map(|child| {
            let out = child.wait_with_output().unwrap();
            assert_eq!(out.status.code(), Some(1), "{out:?}");
            serde_json::from_slice(&out.stdout).unwrap()
        })
        .collect();
    let ids: Vec<&str> = runs
        .iter()
        .map(|r| r["operation"]["id"].as_str().unwrap())
        .collect();
    assert_ne!(ids[0], ids[1]);
    for run in &runs {
        assert_eq!(steps(run), suites_as_expected(), "{run}");
    }
    // Each log holds its own run's three suites, once.
    for id in &ids {
        let events: Value = api(&s, "GET", &format!("/v1/operations/{id}/events"))
            .send()
            .unwrap()
            .json()
            .unwrap();
        let finished: Vec<&str> = events["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "step_finished")
            .map(|e| e["data"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(finished, ["endpoint", "broken", "hangs"], "{id}");
    }
    // They ran at the same time.
    let at = |run: &Value, field: &str| {
        chrono::DateTime::parse_from_rfc3339(run["operation"][field].as_str().unwrap()).unwrap()
    };
    assert!(
        at(&runs[0], "started_at") < at(&runs[1], "finished_at")
            && at(&runs[1], "started_at") < at(&runs[0], "finished_at"),
        "the runs overlapped"
    );
    s.run(&["destroy", "c"]).expect_code(0);
}

#[test]
fn only_administrators_run_tests_and_releases() {
    let github = FakeGitHub::start();
    github.add_user("alice", 1, "gho_alice", &["read:org"]);
    github.set_org_membership("alice", "uw-research", "active", "member");
    let project = Project::new();
    let s = project.server(github_env(&github));
    s.run(&["org", "create", "research", "--github-org", "uw-research"])
        .expect_code(0);
    s.run(&[
        "cluster",
        "create",
        "c",
        "--blueprint",
        "runs-process",
        "--org",
        "research",
    ])
    .expect_code(0);
    s.run(&["deploy", "c"]).expect_code(0);
    let session: Value = reqwest::blocking::Client::new()
        .post(format!("{}/v1/auth/github-token", s.url))
        .json(&json!({"token": "gho_alice"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let alice = session["token"].as_str().unwrap();

    // An organization member may deploy this cluster, but not test it.
    for command in ["test", "release"] {
        let refused = s.run_as(&[command, "c", "--version", "v1"], Some(alice));
        refused.expect_code(3);
        assert!(
            refused.stderr().contains("site administrators"),
            "{}",
            refused.stderr()
        );
        let response = reqwest::blocking::Client::new()
            .post(format!("{}/v1/clusters/c/{command}", s.url))
            .bearer_auth(alice)
            .json(&json!({"version": "v1"}))
            .send()
            .unwrap();
        assert_eq!(response.status(), 403);
    }
    assert_eq!(
        s.run(&["runs", "c", "--json"]).json(),
        json!({"runs": [], "next_cursor": null}),
        "nothing ran"
    );
    // Bad input is named.
    let bad = s.run(&["test", "c", "--version=--upload-pack=x"]);
    bad.expect_code(2);
    assert!(bad.stderr().contains("version"), "{}", bad.stderr());
    s.run(&["destroy", "c"]).expect_code(0);
}

#[test]
fn a_runs_log_is_kept_in_s3_and_readable_after_the_run() {
    let moto = Moto::start();
    let project = Project::new();
    let s = project.server(moto.storage_env());
    deploy(&s, "c", "runs-process");
    let released = s.run(&["release", "c", "--version", "v1", "--json"]);
    released.expect_code(0);
    let id = released.json()["operation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        moto.keys().contains(&format!("slipway/logs/c/{id}.jsonl")),
        "{:?}",
        moto.keys()
    );
    let log = api(&s, "GET", &format!("/v1/operations/{id}/log"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let events: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        events
            .iter()
            .any(|e| e["kind"] == "step_output" && e["message"] == "release: released v1 of c"),
        "{log}"
    );
    assert_eq!(events.last().unwrap()["kind"], "operation_finished");
    s.run(&["destroy", "c"]).expect_code(0);
}

/// A new user's finding: `slipway test dev-alice --version v1.4.0` from the
/// README failed, as the `local` blueprint had no jobs. Its suites test the
/// cluster itself through its gateway, with any version.
#[test]
fn the_local_blueprint_tests_and_releases_a_fresh_cluster_out_of_the_box() {
    let s = server();
    // The README's commands, as written.
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
    s.run(&["deploy", "dev-alice", "--ttl", "2h"])
        .expect_code(0);
    let test = s.run(&["test", "dev-alice", "--version", "v1.4.0"]);
    test.expect_code(0);
    let text = test.stdout();
    assert!(text.contains("passed"), "{text}");

    let test = s.run(&["test", "dev-alice", "--version", "v1.4.0", "--json"]);
    test.expect_code(0);
    let run = test.json();
    assert_eq!(run["passed"], true, "{run}");
    assert_eq!(run["version"], "v1.4.0");
    assert_eq!(
        steps(&run),
        vec![
            ("health".into(), "passed".into(), json!(0)),
            ("access".into(), "passed".into(), json!(0)),
            ("identity".into(), "passed".into(), json!(0)),
        ],
        "{run}"
    );
    let id = run["operation"]["id"].as_str().unwrap().to_owned();
    assert_runner_gone(&s, "process", &id);
    // What each suite found, with the run's token masked.
    let log = s.run(&["logs", &id]).stdout();
    for line in [
        "health: ok: health: all 3 node(s) of dev-alice answer through the gateway",
        "access: ok: access: a request without a token is refused on a private cluster (got 401)",
        "access: ok: access: a token with a tampered signature is refused (got 401)",
        "identity: ok: identity: the node hears the token's subject (\"slipway:bootstrap\"), not the client's claim",
    ] {
        assert!(log.contains(line), "{line:?} not in:\n{log}");
    }
    assert!(!log.contains("eyJ"), "a token leaked:\n{log}");

    // RELEASE too, with any version string.
    let release = s.run(&["release", "dev-alice", "--version", "2026.11-rc1", "--json"]);
    release.expect_code(0);
    assert_eq!(release.json()["passed"], true);

    s.run(&["destroy", "dev-alice"]).expect_code(0);
}

/// The local blueprint's suites really test the cluster: with a node down,
/// the health suite fails, naming it, and so does the run.
#[test]
fn the_local_blueprints_suites_fail_when_a_node_is_down() {
    let s = server();
    s.run(&[
        "cluster",
        "create",
        "half",
        "--blueprint",
        "local",
        "--nodes",
        "2",
    ])
    .expect_code(0);
    s.run(&["deploy", "half"]).expect_code(0);
    let node = &server_nodes(&s, "half")[1];
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(node["pid"].as_i64().unwrap() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let test = s.run(&["test", "half", "--version", "v1", "--json"]);
    test.expect_code(1);
    let run = test.json();
    assert_eq!(run["passed"], false, "{run}");
    assert_eq!(
        steps(&run)[0],
        ("health".into(), "failed".into(), json!(1)),
        "{run}"
    );
    let id = run["operation"]["id"].as_str().unwrap();
    let log = s.run(&["logs", id]).stdout();
    assert!(
        log.contains("FAIL: health: node(s) 1 of half did not answer"),
        "{log}"
    );
    s.run(&["destroy", "half"]).expect_code(0);
}

/// A new user's finding: a version the project does not have showed git's
/// own error. The message names the version and the repository.
#[test]
fn an_unknown_version_is_named_with_the_repository() {
    let project = Project::new();
    let s = project.server(Vec::new());
    deploy(&s, "c", "runs-process");
    let test = s.run(&["test", "c", "--version", "v9.9.9"]);
    test.expect_code(1);
    let text = test.stdout();
    let repository = project.blueprints().parent().unwrap().join("repo");
    let expected = format!(
        "error: version v9.9.9 is not in {}: it has no tag, branch or commit of that name",
        repository.display()
    );
    assert!(text.contains(&expected), "{expected:?} not in:\n{text}");
    assert!(!text.contains("pathspec"), "git's own words: {text}");
    s.run(&["destroy", "c"]).expect_code(0);
}

/// On a public cluster the access suite expects callers without a token to
/// be admitted as anonymous, and still refuses a forged token.
#[test]
fn the_local_blueprints_suites_pass_on_a_public_cluster() {
    let s = server();
    s.run(&[
        "cluster",
        "create",
        "open",
        "--blueprint",
        "local",
        "--public",
    ])
    .expect_code(0);
    s.run(&["deploy", "open"]).expect_code(0);
    let test = s.run(&["test", "open", "--version", "main", "--json"]);
    test.expect_code(0);
    let id = test.json()["operation"]["id"].as_str().unwrap().to_owned();
    let log = s.run(&["logs", &id]).stdout();
    for line in [
        "access: ok: access: a request without a token is admitted as anonymous on a public cluster (got 200, level \"anonymous\")",
        "access: ok: access: a malformed token is refused (got 401)",
    ] {
        assert!(log.contains(line), "{line:?} not in:\n{log}");
    }
    s.run(&["destroy", "open"]).expect_code(0);
}
