//! Several replicas and workers on one PostgreSQL database, with a load
//! balancer in front as in production: shared work done once, a killed
//! replica's operation reclaimed, the database restarted mid-operation,
//! workers with tags, logs in S3, a cluster refreshed and resized by other
//! processes than the one that deployed it.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use crate::common::*;
use serde_json::Value;
use slipway_testkit::balancer::Balancer;
use slipway_testkit::database::TestDatabase;
use slipway_testkit::moto::Moto;
use slipway_testkit::postgres::PrivatePostgres;
use slipway_testkit::server::Worker;

const WAIT: Duration = Duration::from_secs(120);

/// Two replicas on one database behind a balancer (their `public_url`, so
/// Terraform reaches the state through whichever replica is alive).
struct Replicas {
    balancer: Balancer,
    a: Server,
    b: Server,
}

fn postgres() -> TestDatabase {
    slipway_testkit::runtime().block_on(TestDatabase::postgres())
}

fn replicas(database_url: &str, extra: &[(&str, &str)]) -> Replicas {
    replicas_with_key(database_url, &secrets_key(), extra)
}

fn replicas_with_key(database_url: &str, key: &str, extra: &[(&str, &str)]) -> Replicas {
    let balancer = Balancer::start();
    let mut env: Vec<(String, String)> = vec![
        ("SLIPWAY_PUBLIC_URL".into(), balancer.url.clone()),
        ("SLIPWAY_AUTH__SECRETS_KEY".into(), key.to_owned()),
        ("SLIPWAY_EXECUTOR__LEASE".into(), "3s".into()),
        (
            "SLIPWAY_AUTH__RATE_LIMITS__API_BURST".into(),
            "100000".into(),
        ),
    ];
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let options = Options {
        database_url: Some(database_url.to_owned()),
        env,
        token: None,
    };
    let a = server_with(options.clone());
    let b = server_with(Options {
        token: Some(a.token.clone()),
        ..options
    });
    balancer.set_backends(&[&a.url, &b.url]);
    Replicas { balancer, a, b }
}

fn worker_of(server: &Server) -> String {
    let (code, ready) = get(&format!("{}/readyz", server.url));
    assert_eq!(code, 200, "{ready}");
    ready["worker"].as_str().unwrap().to_owned()
}

/// The worker that started an operation, from its log.
fn started_on(server: &Server, op: &str) -> String {
    let events: Value = api(server, "GET", &format!("/v1/operations/{op}/events"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    events["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "operation_started")
        .map(|e| e["data"]["worker"].as_str().unwrap().to_owned())
        .expect("the operation started")
}

#[test]
fn a_killed_replicas_operation_is_reclaimed_and_its_state_lock_freed() {
    let db = postgres();
    let moto = Moto::start();
    let storage = moto.storage_env();
    let storage: Vec<(&str, &str)> = storage
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut r = replicas(&db.url, &storage);
    let op = queue_slow_deploy(&r.a, "k", 2, 60);
    // Follow the log (on either replica) until a node is starting.
    follow_until_a_node_starts(&r.b, &op);

    let runner = started_on(&r.a, &op);
    let (victim, survivor) = if runner == worker_of(&r.a) {
        (&mut r.a, &r.b)
    } else {
        (&mut r.b, &r.a)
    };
    victim.kill9();

    // The survivor reclaims it once the lease expires, and reconciles.
    let settled = watch_until(survivor, "k", WAIT, |st| {
        st["last_operation"]["kind"] == "refresh"
            && matches!(
                st["last_operation"]["state"].as_str(),
                Some("succeeded" | "failed")
            )
    });
    assert_ne!(settled["state"], "deploying");
    let deploy: Value = api(survivor, "GET", &format!("/v1/operations/{op}"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(deploy["state"], "interrupted");
    assert!(
        deploy["error"].as_str().unwrap().contains("lease"),
        "{deploy}"
    );
    // Its log, archived now that it is over...
    let archived = |server: &Server| {
        let response = api(server, "GET", &format!("/v1/operations/{op}/log"))
            .send()
            .unwrap();
        assert_eq!(response.status(), 200);
        response.text().unwrap()
    };
    assert!(!archived(survivor).contains("orphan_apply_ended"));
    // ...is archived again with what the restarted victim finds: how its
    // Terraform's apply ended after the process died.
    victim.restart();
    wait_for(WAIT, "the archived log to tell how the apply ended", || {
        archived(survivor).contains("orphan_apply_ended")
    });

    // The lock the dead run held is gone: a destroy takes it, and leaves nothing.
    survivor.run(&["destroy", "k"]).expect_code(0);
    assert_eq!(
        survivor.run(&["status", "k", "--json"]).json()["state"],
        "absent"
    );
    let runtime_dirs = [
        victim.data_dir().join("runtime/k"),
        survivor.data_dir().join("runtime/k"),
    ];
    for dir in runtime_dirs {
        let left = processes_mentioning(&dir.display().to_string());
        assert!(left.is_empty(), "processes left behind: {left:?}");
    }
    let _ = &r.balancer;
}

#[test]
fn fifty_concurrent_requests_on_two_replicas_run_no_operation_twice() {
    let db = postgres();
    let r = replicas(&db.url, &[]);
    let names: Vec<String> = (0..5).map(|i| format!("c{i}")).collect();
    for name in &names {
        r.a.run(&["cluster", "create", name, "--blueprint", "local"])
            .expect_code(0);
    }
    let children: Vec<_> = (0..50)
        .map(|i| {
            let server = if i % 2 == 0 { &r.a } else { &r.b };
            let name = &names[i % names.len()];
            let args: Vec<&str> = match i % 3 {
                0 => vec!["deploy", name, "--no-wait", "--json"],
                1 => vec!["deploy", name, "--nodes", "2", "--no-wait", "--json"],
                _ => vec!["destroy", name, "--no-wait", "--json"],
            };
            server
                .cli(&args)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut accepted = 0;
    for child in children {
        let out = child.wait_with_output().unwrap();
        match out.status.code() {
            Some(0) => accepted += 1,
            Some(4) => {} // another operation was in the way
            other => panic!("exit {other:?}: {}", String::from_utf8_lossy(&out.stderr)),
        }
    }
    assert!(accepted > 0);

    // Let everything settle, then destroy what is left.
    for name in &names {
        watch_until(&r.a, name, WAIT, |st| {
            st["last_operation"].is_null()
                || matches!(
                    st["last_operation"]["state"].as_str(),
                    Some("succeeded" | "failed" | "cancelled" | "interrupted")
                )
        });
        r.b.run(&["destroy", name]).expect_code(0);
    }

    // Every operation ran once: one start event each, one "queued" audit entry each.
    let mut ops = Vec::new();
    for name in &names {
        let listed: Value = api(&r.a, "GET", &format!("/v1/clusters/{name}/operations"))
            .send()
            .unwrap()
            .json()
            .unwrap();
        ops.extend(listed["operations"].as_array().unwrap().iter().cloned());
    }
    let mut starts: HashMap<String, usize> = HashMap::new();
    for op in &ops {
        let id = op["id"].as_str().unwrap();
        assert_eq!(op["state"], "succeeded", "{op}");
        let events: Value = api(&r.b, "GET", &format!("/v1/operations/{id}/events"))
            .send()
            .unwrap()
            .json()
            .unwrap();
        let n = events["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "operation_started")
            .count();
        starts.insert(id.to_owned(), n);
    }
    assert!(starts.values().all(|&n| n == 1), "{starts:?}");
    let audit: Value = api(&r.a, "GET", "/v1/audit?limit=1000")
        .send()
        .unwrap()
        .json()
        .unwrap();
    let mut queued_by_op: BTreeMap<String, usize> = BTreeMap::new();
    for entry in audit.as_array().unwrap() {
        if entry["result"] == "queued" {
            *queued_by_op
                .entry(entry["detail"]["operation"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
        assert_ne!(
            entry["action"], "operation.interrupt",
            "nothing was interrupted: {entry}"
        );
    }
    assert_eq!(
        queued_by_op.len(),
        ops.len(),
        "one audited enqueue per operation"
    );
    assert!(queued_by_op.values().all(|&n| n == 1));
    // Both replicas did work.
    let workers: std::collections::BTreeSet<String> = ops
        .iter()
        .map(|op| started_on(&r.a, op["id"].as_str().unwrap()))
        .collect();
    println!("{} operations ran on {} workers", ops.len(), workers.len());
}

#[test]
fn scheduled_destroys_fire_once_across_replicas() {
    let db = postgres();
    let r = replicas(&db.url, &[]);
    let names: Vec<String> = (0..4).map(|i| format!("ttl{i}")).collect();
    for name in &names {
        r.a.run(&[
            "cluster",
            "create",
            name,
            "--blueprint",
            "local",
            "--nodes",
            "1",
        ])
        .expect_code(0);
        r.b.run(&["deploy", name, "--ttl", "3s"]).expect_code(0);
    }
    for name in &names {
        watch_until(&r.a, name, WAIT, |st| {
            st["state"] == "absent" && st["last_operation"]["kind"] == "destroy"
        });
        let ops: Value = api(&r.b, "GET", &format!("/v1/clusters/{name}/operations"))
            .send()
            .unwrap()
            .json()
            .unwrap();
        let destroys: Vec<&Value> = ops["operations"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|op| op["kind"] == "destroy")
            .collect();
        assert_eq!(destroys.len(), 1, "one destroy of {name}: {ops}");
        assert_eq!(destroys[0]["reason"], "schedule");
        assert_eq!(destroys[0]["state"], "succeeded");
        // Once in the audit log too: the scheduler that lost the race (the
        // schedule was no longer due) did nothing worth an entry.
        let fired: Value = api(
            &r.a,
            "GET",
            &format!("/v1/audit?action=schedule.fire&target={name}"),
        )
        .send()
        .unwrap()
        .json()
        .unwrap();
        let results: Vec<&str> = fired
            .as_array()
            .unwrap_or_else(|| panic!("entries: {fired}"))
            .iter()
            .map(|e| e["result"].as_str().unwrap())
            .collect();
        assert_eq!(results, ["queued"], "{name}: {fired}");
    }
    let _ = &r.balancer;
}

#[test]
fn the_database_restarting_mid_operation_loses_nothing() {
    let pg = PrivatePostgres::start();
    // An outage shorter than the lease interrupts nothing.
    let r = replicas(&pg.url, &[("SLIPWAY_EXECUTOR__LEASE", "30s")]);
    let op = queue_slow_deploy(&r.a, "k", 2, 2);

    // Follow the log on replica B; once a node is starting, stop
    // PostgreSQL under both replicas until they both report it unreachable,
    // then start it again, and keep following to the end.
    let mut follow =
        r.b.cli(&["logs", &op, "--follow", "--json"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
    let lines = std::io::BufRead::lines(std::io::BufReader::new(follow.stdout.take().unwrap()));
    let mut followed = Vec::new();
    let mut restarted = false;
    for line in lines.map_while(Result::ok) {
        let event: Value = serde_json::from_str(&line).unwrap();
        if !restarted && is_node_starting(&event) {
            pg.stop();
            for replica in [&r.a, &r.b] {
                wait_for(WAIT, "the replica to see the database down", || {
                    get(&format!("{}/readyz", replica.url)).0 == 503
                });
            }
            pg.start_again();
            restarted = true;
        }
        followed.push(event);
    }
    assert!(follow.wait().unwrap().success());
    assert!(restarted, "the database restarted during the operation");

    // The deploy went through: it succeeded, once, and the cluster answers.
    let deploy: Value = api(&r.a, "GET", &format!("/v1/operations/{op}"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(deploy["state"], "succeeded", "{deploy}");
    let status = r.b.run(&["status", "k", "--json"]).json();
    assert_eq!(status["state"], "running", "{status}");
    assert_eq!(status["nodes"], 2);

    // Nothing lost: the follower saw every event, in order, once; the log
    // runs from the enqueue to the end.
    let stored: Value = api(&r.b, "GET", &format!("/v1/operations/{op}/events"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let stored = stored["events"].as_array().unwrap();
    let seqs = |events: &[Value]| {
        events
            .iter()
            .map(|e| e["seq"].as_u64().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        seqs(&followed),
        seqs(stored),
        "the follower saw exactly the stored events"
    );
    assert_eq!(
        seqs(stored),
        (1..=stored.len() as u64).collect::<Vec<_>>(),
        "no gaps"
    );
    assert_eq!(stored.first().unwrap()["kind"], "operation_queued");
    assert_eq!(stored.last().unwrap()["kind"], "operation_finished");
    assert_eq!(
        stored
            .iter()
            .filter(|e| e["kind"] == "operation_started")
            .count(),
        1
    );

    // The state the deploy wrote is kept, and names it.
    let history = r.a.run(&["history", "k", "--json"]).json();
    let deploy = history["operations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"] == op.as_str())
        .unwrap_or_else(|| panic!("the deploy is in the history: {history}"));
    let written = deploy["states"].as_array().unwrap();
    assert!(!written.is_empty(), "{history}");
    assert!(written.iter().all(|s| s["operation"] == op.as_str()));

    r.b.run(&["destroy", "k"]).expect_code(0);
    let left = processes_mentioning(&r.a.data_dir().join("runtime/k").display().to_string());
    let left_b = processes_mentioning(&r.b.data_dir().join("runtime/k").display().to_string());
    assert!(
        left.is_empty() && left_b.is_empty(),
        "processes left behind: {left:?} {left_b:?}"
    );
    let _ = &r.balancer;
}

#[test]
fn a_separate_worker_runs_what_its_tags_allow() {
    let db = postgres();
    let key = secrets_key();
    let env = vec![("SLIPWAY_AUTH__SECRETS_KEY".to_owned(), key)];
    // The API replica runs no operations itself.
    let mut api_env = env.clone();
    api_env.push(("SLIPWAY_EXECUTOR__ENABLED".into(), "false".into()));
    let s = server_with(Options {
        database_url: Some(db.url.clone()),
        env: api_env,
        token: None,
    });
    let worker = Worker::start(slipway(), &db.url, &s.url, &["gpu"], &env);

    s.run(&["cluster", "create", "needs-tpu", "--blueprint", "tagged"])
        .expect_code(0);
    s.run(&["cluster", "create", "plain", "--blueprint", "local"])
        .expect_code(0);
    let waiting = s
        .run(&["deploy", "needs-tpu", "--no-wait", "--json"])
        .json();
    let done = s.run(&["deploy", "plain", "--json"]);
    done.expect_code(0);
    let done = done.json();
    assert_eq!(
        started_on(&s, done["operation"]["id"].as_str().unwrap()),
        worker.id
    );
    let waiting_id = waiting["operation"]["id"].as_str().unwrap();
    let still: Value = api(&s, "GET", &format!("/v1/operations/{waiting_id}"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(still["state"], "queued", "no worker offers tpu");

    // A worker with the tag runs it.
    let tpu = Worker::start(slipway(), &db.url, &s.url, &["tpu"], &env);
    let ran = s.run(&["logs", waiting_id, "--follow"]);
    ran.expect_code(0);
    assert_eq!(started_on(&s, waiting_id), tpu.id);
    s.run(&["destroy", "plain"]).expect_code(0);
    s.run(&["destroy", "needs-tpu"]).expect_code(0);
}

#[test]
fn operation_logs_are_archived_in_s3() {
    let moto = Moto::start();
    let s = server_with(Options {
        env: moto.storage_env(),
        ..Options::default()
    });
    s.run(&["cluster", "create", "logged", "--blueprint", "local"])
        .expect_code(0);
    let deployed = s.run(&["deploy", "logged", "--json"]).json();
    let op = deployed["operation"]["id"].as_str().unwrap();
    let key = format!("slipway/logs/logged/{op}.jsonl");
    let response = api(&s, "GET", &format!("/v1/operations/{op}/log"))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    let log = response.text().unwrap();
    let events: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.first().unwrap()["kind"], "operation_queued");
    assert_eq!(events.last().unwrap()["kind"], "operation_finished");
    assert!(moto.keys().contains(&key), "{:?}", moto.keys());
    s.run(&["destroy", "logged"]).expect_code(0);
}

/// Two API replicas that run nothing themselves and one `slipway worker`,
/// with lease and grace long enough that only the cancel request, not an
/// expired lease, can end a run early.
struct Site {
    replicas: Replicas,
    worker: Worker,
}

const LEASE: Duration = Duration::from_secs(30);

fn site(database_url: &str, blueprint_dirs: Option<(String, String)>) -> Site {
    let key = secrets_key();
    let mut shared = vec![
        ("SLIPWAY_AUTH__SECRETS_KEY".to_owned(), key.clone()),
        ("SLIPWAY_EXECUTOR__LEASE".to_owned(), "30s".to_owned()),
        (
            "SLIPWAY_TERRAFORM__CANCEL_GRACE".to_owned(),
            "10s".to_owned(),
        ),
    ];
    shared.extend(blueprint_dirs);
    let mut api_env: Vec<(&str, &str)> = shared
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    api_env.push(("SLIPWAY_EXECUTOR__ENABLED", "false"));
    let replicas = replicas_with_key(database_url, &key, &api_env);
    let worker = Worker::start(
        slipway(),
        database_url,
        &replicas.balancer.url,
        &[],
        &shared,
    );
    Site { replicas, worker }
}

/// When the operation's cancel was requested and when it ended, from its
/// log and record: the time the cancel took to reach the worker and stop
/// the run.
fn cancel_latency(server: &Server, op: &str) -> Duration {
    let events: Value = api(server, "GET", &format!("/v1/operations/{op}/events"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let at = |e: &Value| chrono::DateTime::parse_from_rfc3339(e["at"].as_str().unwrap()).unwrap();
    let events = events["events"].as_array().unwrap();
    let requested = events
        .iter()
        .find(|e| e["kind"] == "cancel_requested")
        .map(at)
        .expect("the cancel request is in the log");
    let finished = events
        .iter()
        .rfind(|e| e["kind"] == "operation_finished")
        .map(at)
        .expect("the operation finished");
    (finished - requested).to_std().unwrap()
}

#[test]
fn a_deploy_running_on_a_worker_is_cancelled_through_a_replica() {
    let db = postgres();
    let site = site(&db.url, None);
    let (a, b) = (&site.replicas.a, &site.replicas.b);
    let op = queue_slow_deploy(a, "slow", 2, 600);
    follow_until_a_node_starts(b, &op);
    assert_eq!(started_on(a, &op), site.worker.id, "the worker runs it");

    a.run(&["cancel", &op]).expect_code(0);
    a.run(&["logs", &op, "--follow"]);
    let ended: Value = api(b, "GET", &format!("/v1/operations/{op}"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        ended["state"],
        "cancelled",
        "{ended}\n{}",
        site.worker.log()
    );
    // Stopped by the request, not by a lease running out (which would have
    // ended it `interrupted`, a lease later).
    let latency = cancel_latency(a, &op);
    println!("cancel reached the worker and stopped the run in {latency:?}");
    assert!(latency < LEASE, "{latency:?}");

    // The state lock is free: a destroy through the other replica takes it
    // and leaves no process behind.
    b.run(&["destroy", "slow"]).expect_code(0);
    assert_eq!(
        b.run(&["status", "slow", "--json"]).json()["state"],
        "absent"
    );
    let runtime = site.worker.data_dir().join("runtime/slow");
    let left = processes_mentioning(&runtime.display().to_string());
    assert!(left.is_empty(), "processes left behind: {left:?}");
}

#[test]
fn a_test_run_on_a_worker_is_cancelled_through_a_replica() {
    let db = postgres();
    let project = crate::common::project::Project::new();
    let site = site(&db.url, Some(blueprint_dirs(&[&project.blueprints()])));
    let (a, b) = (&site.replicas.a, &site.replicas.b);
    a.run(&["cluster", "create", "c", "--blueprint", "runs-process"])
        .expect_code(0);
    a.run(&["deploy", "c"]).expect_code(0);

    let queued = a.run(&["test", "c", "--version", "v1", "--no-wait", "--json"]);
    queued.expect_code(0);
    let run = queued.json()["operation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    follow_until(b, &run, "hangs: $");
    assert_eq!(started_on(a, &run), site.worker.id, "the worker runs it");

    a.run(&["cancel", &run]).expect_code(0);
    a.run(&["logs", &run, "--follow"]);
    let ended = b.run(&["runs", "c", "--json"]).json()["runs"][0].clone();
    assert_eq!(ended["operation"]["id"], run.as_str());
    assert_eq!(ended["operation"]["state"], "cancelled", "{ended}");
    let latency = cancel_latency(a, &run);
    println!("cancel reached the worker and stopped the run in {latency:?}");
    assert!(latency < LEASE, "{latency:?}");
    // The runner is gone from the worker.
    let runner = site.worker.data_dir().join("work/jobs").join(&run);
    assert!(
        !runner.exists(),
        "the runner's directory {runner:?} is left"
    );
    let left = processes_mentioning(&runner.display().to_string());
    assert!(left.is_empty(), "processes left behind: {left:?}");

    b.run(&["destroy", "c"]).expect_code(0);
}

/// The events of an operation.
fn events_of(server: &Server, op: &str) -> Vec<Value> {
    let events: Value = api(server, "GET", &format!("/v1/operations/{op}/events"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    events["events"].as_array().unwrap().clone()
}

/// The changes an operation's plan announced: (resource, action).
fn planned_changes(server: &Server, op: &str) -> Vec<(String, String)> {
    events_of(server, op)
        .iter()
        .filter(|e| e["kind"] == "planned_change")
        .map(|e| {
            (
                e["data"]["resource"].as_str().unwrap().to_owned(),
                e["data"]["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The pid of each node of a cluster, by index, from its runtime directory.
fn node_pids(runtime: &std::path::Path) -> Vec<u64> {
    node_states(runtime)
        .iter()
        .map(|n| n["pid"].as_u64().unwrap())
        .collect()
}

/// Fault-injection finding: Terraform was given the executor's own paths
/// (its data directory's runtime directory, its executable), so a refresh or
/// resize run by another process than the last apply planned to replace
/// everything — refreshes failed healthy clusters, resizes restarted every
/// node and moved the endpoint. Here each operation is forced onto another
/// process with its own data directory: the deploy on replica A, the
/// refresh on a worker (A is gone), the resize and a last refresh on
/// replica B.
#[test]
fn a_cluster_deployed_by_one_process_is_refreshed_and_resized_by_others_untouched() {
    let db = postgres();
    let key = secrets_key();
    let balancer = Balancer::start();
    let shared = vec![
        ("SLIPWAY_AUTH__SECRETS_KEY".to_owned(), key.clone()),
        ("SLIPWAY_PUBLIC_URL".to_owned(), balancer.url.clone()),
        ("SLIPWAY_EXECUTOR__LEASE".to_owned(), "3s".to_owned()),
    ];
    let with_executor = |enabled: bool| {
        let mut env = shared.clone();
        env.push(("SLIPWAY_EXECUTOR__ENABLED".into(), enabled.to_string()));
        env
    };
    // A runs operations; B only answers the API, for now.
    let mut a = server_with(Options {
        database_url: Some(db.url.clone()),
        env: with_executor(true),
        token: None,
    });
    let mut b = server_with(Options {
        database_url: Some(db.url.clone()),
        env: with_executor(false),
        token: Some(a.token.clone()),
    });
    balancer.set_backends(&[&a.url, &b.url]);

    b.run(&[
        "cluster",
        "create",
        "moved",
        "--blueprint",
        "local",
        "--nodes",
        "2",
    ])
    .expect_code(0);
    let deployed = b.run(&["deploy", "moved", "--json"]);
    deployed.expect_code(0);
    let deployed = deployed.json();
    let deploy_op = deployed["operation"]["id"].as_str().unwrap().to_owned();
    assert_eq!(started_on(&b, &deploy_op), worker_of(&a), "A deployed it");
    let endpoint = deployed["cluster"]["endpoint"].as_str().unwrap().to_owned();
    // The runtime directory is A's: the first deploy chose it.
    let runtime = a.data_dir().join("runtime/moved");
    let pids = node_pids(&runtime);
    assert_eq!(pids.len(), 2, "{:?}", node_states(&runtime));
    let token = b.run(&["access", "moved"]).stdout().trim().to_owned();
    let answers = |what: &str| {
        let response = reqwest::blocking::Client::new()
            .get(format!("{endpoint}/health"))
            .bearer_auth(&token)
            .send()
            .unwrap();
        assert_eq!(response.status(), 200, "the endpoint answers {what}");
    };
    answers("after the deploy");

    // A is gone; a worker with a data directory of its own refreshes.
    a.kill9();
    let worker = Worker::start(slipway(), &db.url, &balancer.url, &[], &shared);
    let refreshed = b.run(&["refresh", "moved", "--json"]);
    refreshed.expect_code(0);
    let refreshed = refreshed.json();
    let refresh_op = refreshed["operation"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        started_on(&b, &refresh_op),
        worker.id,
        "the worker refreshed it"
    );
    assert_eq!(refreshed["operation"]["state"], "succeeded", "{refreshed}");
    assert_eq!(
        refreshed["cluster"]["state"],
        "running",
        "{refreshed}\n{}",
        worker.log()
    );
    assert_eq!(
        planned_changes(&b, &refresh_op),
        vec![],
        "the refresh converged: an empty plan"
    );
    assert!(
        !events_of(&b, &refresh_op)
            .iter()
            .any(|e| e["kind"] == "drift"),
        "nothing differs"
    );
    assert_eq!(refreshed["cluster"]["endpoint"], endpoint.as_str());
    assert_eq!(node_pids(&runtime), pids, "no node restarted");
    answers("after the refresh");
    drop(worker);

    // B, restarted with its executor on, resizes: one node more, the two
    // running ones and the gateway untouched.
    b.set_env("SLIPWAY_EXECUTOR__ENABLED", "true");
    b.restart();
    let resized = b.run(&["deploy", "moved", "--nodes", "3", "--json"]);
    resized.expect_code(0);
    let resized = resized.json();
    let resize_op = resized["operation"]["id"].as_str().unwrap().to_owned();
    assert_eq!(started_on(&b, &resize_op), worker_of(&b), "B resized it");
    assert_eq!(resized["operation"]["kind"], "update");
    assert_eq!(resized["cluster"]["state"], "running", "{resized}");
    assert_eq!(
        planned_changes(&b, &resize_op),
        vec![("terraform_data.node[2]".to_owned(), "create".to_owned())],
        "only the new node is created"
    );
    assert_eq!(
        resized["cluster"]["endpoint"],
        endpoint.as_str(),
        "the same endpoint"
    );
    let after = node_pids(&runtime);
    assert_eq!(after.len(), 3);
    assert_eq!(after[..2], pids[..], "the running nodes were not restarted");
    answers("after the resize");

    // And B's own refresh finds nothing to change either.
    let again = b.run(&["refresh", "moved", "--json"]).json();
    let again_op = again["operation"]["id"].as_str().unwrap().to_owned();
    assert_eq!(again["cluster"]["state"], "running", "{again}");
    assert_eq!(planned_changes(&b, &again_op), vec![]);

    // B destroys it: every process goes, wherever its files are.
    b.run(&["destroy", "moved"]).expect_code(0);
    let left = processes_mentioning(&runtime.display().to_string());
    assert!(left.is_empty(), "processes left behind: {left:?}");
}

/// Reads `child`'s stderr on a thread: each line goes to the returned
/// channel as it comes.
fn stderr_lines(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    let stderr = child.stderr.take().expect("piped stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)).map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// Fault-injection finding: the CLI reported failure for an operation that
/// succeeded, when the replica it followed died. It follows through the
/// balancer again — which, not having noticed yet, still sends every other
/// connection to the dead replica — resuming the log where it left off.
#[test]
fn the_cli_follows_an_operation_through_another_replica_when_its_replica_dies() {
    let db = postgres();
    let mut site = site(&db.url, None);
    let balancer = &site.replicas.balancer;
    // Until the kill, the CLI can only reach replica A.
    balancer.set_backends(&[&site.replicas.a.url]);
    let a = &mut site.replicas.a;
    a.run(&[
        "cluster",
        "create",
        "slow",
        "--blueprint",
        "local",
        "--nodes",
        "2",
        "--var",
        "boot_seconds=3",
    ])
    .expect_code(0);
    let mut cli = a
        .cli(&["deploy", "slow"])
        .env("SLIPWAY_URL", &balancer.url)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let lines = stderr_lines(&mut cli);
    let mut seen = Vec::new();
    loop {
        let line = lines
            .recv_timeout(WAIT)
            .unwrap_or_else(|_| panic!("the CLI showed no node starting: {seen:#?}"));
        let starting = line.contains("terraform_data.node[") && line.contains("Provisioning");
        seen.push(line);
        if starting {
            break;
        }
    }
    let op = seen
        .iter()
        .find_map(|l| l.split("operation ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the CLI named the operation")
        .to_owned();

    // A dies under the CLI; the balancer goes on sending connections to it
    // every other time.
    balancer.set_failover(false);
    balancer.set_backends(&[&site.replicas.a.url, &site.replicas.b.url]);
    site.replicas.a.kill9();

    let output = cli.wait_with_output().unwrap();
    let rest: Vec<String> = lines.iter().collect();
    assert_eq!(
        output.status.code(),
        Some(0),
        "stdout:\n{}\nstderr:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        seen.join("\n"),
        rest.join("\n")
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("slow is running"), "{stdout}");
    let b = &site.replicas.b;
    let deploy: Value = api(b, "GET", &format!("/v1/operations/{op}"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(deploy["state"], "succeeded", "{deploy}");
    assert_eq!(started_on(b, &op), site.worker.id);
    b.run(&["destroy", "slow"]).expect_code(0);
}

/// When no replica answers any more, the CLI tries until its wait ends,
/// then fails naming the operation, which may well still run.
#[test]
fn when_no_replica_answers_the_cli_names_the_operation_it_followed() {
    let mut s = server();
    for name in ["gone", "gone-json"] {
        s.run(&[
            "cluster",
            "create",
            name,
            "--blueprint",
            "local",
            "--var",
            "boot_seconds=30",
        ])
        .expect_code(0);
    }
    for json in [false, true] {
        let mut args = vec!["deploy", "gone", "--wait", "3s"];
        if json {
            args = vec!["deploy", "gone-json", "--wait", "3s", "--json"];
            s.restart();
        }
        let mut cli = s
            .cli(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let lines = stderr_lines(&mut cli);
        // Wait for the operation to be queued, then take the server away.
        let op = if json {
            let id = wait_for_operation(&s, "gone-json");
            s.kill9();
            id
        } else {
            let started = lines
                .recv_timeout(WAIT)
                .expect("the CLI says what it started");
            s.kill9();
            started
                .split("operation ")
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .unwrap_or_else(|| panic!("{started}"))
                .to_owned()
        };
        let output = cli.wait_with_output().unwrap();
        assert_eq!(output.status.code(), Some(1), "{output:?}");
        // Every line: the reader ends at the pipe's end, after the CLI exited.
        let stderr: Vec<String> = lines.iter().collect();
        let last = stderr.last().cloned().unwrap_or_default();
        if json {
            let error: Value =
                serde_json::from_str(&last).unwrap_or_else(|e| panic!("{e}: {last}"));
            assert_eq!(error["error"]["operation"], op.as_str(), "{error}");
            assert!(
                error["error"]["message"].as_str().unwrap().contains(&op),
                "{error}"
            );
        } else {
            assert!(last.starts_with("slipway: error: operation "), "{last}");
            assert!(
                last.contains(&op) && last.contains(&format!("slipway logs {op} --follow")),
                "{last}"
            );
        }
    }
}

/// The id of the cluster's last operation once one is queued, from the
/// server's database (the CLI with `--json` prints nothing before it ends).
fn wait_for_operation(s: &Server, cluster: &str) -> String {
    let mut id = None;
    wait_for(WAIT, "an operation of the cluster", || {
        let status = s.run(&["status", cluster, "--json"]).json();
        id = status["last_operation"]["id"].as_str().map(str::to_owned);
        status["last_operation"]["state"] == "running"
    });
    id.unwrap()
}

/// A blueprint version published through one replica — on no replica's
/// disk — is deployed through the other and run by a worker; a version is
/// immutable: the same content again changes nothing, other content is
/// refused.
#[test]
fn a_blueprint_published_through_one_replica_is_deployed_through_another_and_run_by_a_worker() {
    let db = postgres();
    let key = secrets_key();
    let r = replicas_with_key(&db.url, &key, &[("SLIPWAY_EXECUTOR__ENABLED", "false")]);
    let worker = Worker::start(
        slipway(),
        &db.url,
        &r.balancer.url,
        &[],
        &[("SLIPWAY_AUTH__SECRETS_KEY".to_owned(), key)],
    );
    let dir = tempfile::tempdir().unwrap();
    let write = |path: &str, text: &str| std::fs::write(dir.path().join(path), text).unwrap();
    write(
        "blueprint.toml",
        "name = \"lab\"\ndescription = \"A lab of records\"\n[nodes]\nmin = 1\nmax = 3\ndefault = 1\n[variables.greeting]\ntype = \"string\"\ndefault = \"hello\"\n",
    );
    write(
        "main.tf",
        "variable \"cluster_name\" {\n  type = string\n}\n\nvariable \"greeting\" {\n  type = string\n}\n\nresource \"terraform_data\" \"lab\" {\n  input = \"${var.cluster_name}: ${var.greeting}\"\n}\n\noutput \"endpoint\" {\n  value = \"https://${var.cluster_name}.lab.example\"\n}\n",
    );
    let path = dir.path().to_str().unwrap();
    let published =
        r.a.run(&["blueprint", "publish", path, "--version", "0.2.0"]);
    published.expect_code(0);
    assert!(
        published
            .stdout()
            .contains("Published blueprint lab version 0.2.0"),
        "{}",
        published.stdout()
    );
    let listed = r.b.run(&["blueprint", "list", "--json"]).json();
    assert!(
        listed["blueprints"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["name"] == "lab" && b["version"] == "0.2.0"),
        "{listed}"
    );

    r.b.run(&[
        "cluster",
        "create",
        "exp",
        "--blueprint",
        "lab",
        "--version",
        "0.2.0",
    ])
    .expect_code(0);
    let deployed = r.b.run(&["deploy", "exp", "--json"]);
    deployed.expect_code(0);
    let op = deployed.json()["operation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(started_on(&r.b, &op), worker.id);
    assert_eq!(
        r.a.run(&["status", "exp", "--json"]).json()["endpoint"],
        "https://exp.lab.example"
    );

    // The same content again: nothing changes. Other content: refused.
    let again =
        r.b.run(&["blueprint", "publish", path, "--version", "0.2.0"]);
    again.expect_code(0);
    assert!(
        again.stdout().contains("Already published"),
        "{}",
        again.stdout()
    );
    write(
        "main.tf",
        &std::fs::read_to_string(dir.path().join("main.tf"))
            .unwrap()
            .replace("lab.example", "elsewhere.example"),
    );
    let other =
        r.a.run(&["blueprint", "publish", path, "--version", "0.2.0", "--json"]);
    other.expect_code(4);
    assert_eq!(other.error_json()["error"]["code"], "version_exists");

    // Content changed in the database behind Slipway's back is refused by
    // digest by the worker that reads it, and nothing of it runs.
    let tampered = slipway_testkit::runtime().block_on(db.tamper(
        "UPDATE blueprint_versions SET files = replace(files, 'lab.example', 'evil.example') \
         WHERE blueprint = 'lab' AND version = '0.2.0'",
    ));
    assert_eq!(tampered, 1);
    r.b.run(&[
        "cluster",
        "create",
        "exp2",
        "--blueprint",
        "lab",
        "--version",
        "0.2.0",
    ])
    .expect_code(0);
    let refused = r.b.run(&["deploy", "exp2", "--json"]);
    refused.expect_code(1);
    let status = r.a.run(&["status", "exp2", "--json"]).json();
    assert_eq!(status["state"], "failed", "{status}");
    let error = status["error"].as_str().unwrap_or_default();
    assert!(error.contains("does not match its digest"), "{status}");
    assert_eq!(status["endpoint"], serde_json::Value::Null, "{status}");

    // Only as an archive, and only by someone known.
    let http = reqwest::blocking::Client::new();
    let url = format!("{}/v1/blueprints/lab/versions/0.3.0", r.a.url);
    let anonymous = http.put(&url).body(vec![0u8; 16]).send().unwrap();
    assert_eq!(anonymous.status(), 401);
    let plain = http
        .put(&url)
        .bearer_auth(&r.a.token)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .unwrap();
    assert_eq!(plain.status(), 415);

    // Nothing of the tampered content runs, a destroy neither; the content
    // as published runs again.
    r.b.run(&["destroy", "exp"]).expect_code(1);
    let restored = slipway_testkit::runtime().block_on(db.tamper(
        "UPDATE blueprint_versions SET files = replace(files, 'evil.example', 'lab.example') \
         WHERE blueprint = 'lab' AND version = '0.2.0'",
    ));
    assert_eq!(restored, 1);
    for cluster in ["exp", "exp2"] {
        r.b.run(&["destroy", cluster]).expect_code(0);
    }
}
