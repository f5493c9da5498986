//! The web UI in a real browser: Debian's Chromium driven by npm's
//! `playwright-core` (the script is `tests/browser/web.mjs`), against the
//! real `slipway serve` and the fake GitHub. `./scripts/test` installs both
//! (idempotently); without them this test fails, saying how to get them.
//!
//! This test prepares the world (organizations, people, an owner, an
//! account with costs, a running shared cluster), lets the browser do what
//! people do, then checks through the API that it really happened.
//! Screenshots of the main pages at 1280 and 390 pixels wide land in
//! `target/web-screenshots/`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;
use serde_json::{Value, json};
use slipway_testkit::github::FakeGitHub;

/// How long the browser may take for everything it does.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(300);

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn status_with(s: &Server, token: &str, path: &str) -> u16 {
    reqwest::blocking::Client::new()
        .get(format!("{}{path}", s.url))
        .bearer_auth(token)
        .send()
        .unwrap()
        .status()
        .as_u16()
}

fn get_json(s: &Server, path: &str) -> Value {
    api(s, "GET", path).send().unwrap().json().unwrap()
}

/// Runs `node tests/browser/web.mjs` with `config`.
fn run_browser(config: &Path) {
    let mut node = Command::new("node");
    node.arg("web.mjs")
        .current_dir(workspace().join("tests/browser"))
        .env("WEB_TEST_CONFIG", config);
    run_to_end(node, BROWSER_TIMEOUT);
}

#[test]
fn people_use_slipway_through_the_web_ui_in_a_real_browser() {
    let chromium = std::env::var("SLIPWAY_TEST_CHROMIUM").unwrap_or("/usr/bin/chromium".into());
    let modules = workspace().join("tests/browser/node_modules/playwright-core");
    assert!(
        Path::new(&chromium).exists() && modules.exists(),
        "the browser test needs {chromium} and {}: ./scripts/test installs both \
         (apt-get install chromium; cd tests/browser && npm ci)",
        modules.display()
    );

    let github = FakeGitHub::start();
    for (login, id) in [("alice", 1), ("bob", 2), ("carol", 3)] {
        github.add_user(login, id, &format!("gho_{login}"), &["read:org"]);
    }
    github.set_org_membership("alice", "uw-research", "active", "member");
    github.set_org_membership("bob", "other-lab", "active", "member");
    // Whoever signs in through the browser's GitHub web flow is alice.
    github.set_web_user("gho_alice");
    let s = server_with_github(&github, &[]);
    for (org, gh) in [("research", "uw-research"), ("other", "other-lab")] {
        s.run(&["org", "create", org, "--github-org", gh])
            .expect_code(0);
    }
    // alice owns research (she signed in once, so she can be named).
    sign_in(&s, "gho_alice");
    s.run(&["org", "approve", "research", "alice", "--owner"])
        .expect_code(0);
    let carol = sign_in(&s, "gho_carol");
    let bob = sign_in(&s, "gho_bob");
    // An account with costs: a priced cluster ran for a moment, and the
    // account was reconciled (as the accounts tests do).
    s.run(&[
        "org",
        "account",
        "research",
        "--balance",
        "1000",
        "--allowance",
        "500",
        "--max",
        "5000",
        "--reason",
        "web test",
    ])
    .expect_code(0);
    s.run(&[
        "cluster",
        "create",
        "spend",
        "--blueprint",
        "priced",
        "--org",
        "research",
        "--nodes",
        "2",
    ])
    .expect_code(0);
    s.run(&["deploy", "spend"]).expect_code(0);
    s.run(&["destroy", "spend"]).expect_code(0);
    s.run(&["org", "reconcile", "research"]).expect_code(0);
    // A shared cluster of one node that members ask capacity of.
    s.run(&[
        "cluster",
        "create",
        "shared",
        "--blueprint",
        "local",
        "--org",
        "research",
    ])
    .expect_code(0);
    let deployed = s.run(&["deploy", "shared", "--ttl", "2h", "--json"]);
    deployed.expect_code(0);
    let shared_op = deployed.json()["operation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // A cluster alice deploys while provisioning is paused.
    s.run(&[
        "cluster",
        "create",
        "paused-demo",
        "--blueprint",
        "local",
        "--org",
        "research",
    ])
    .expect_code(0);
    // A cluster whose nodes take a minute to start: its deploy is still
    // running when alice cancels it from its page.
    s.run(&[
        "cluster",
        "create",
        "slow-demo",
        "--blueprint",
        "local",
        "--org",
        "research",
        "--var",
        "boot_seconds=60",
    ])
    .expect_code(0);
    // 200 more clusters (the administrator's, in the default organization)
    // for the list's search, filters and pages.
    let http = reqwest::blocking::Client::new();
    for i in 0..200 {
        let created = http
            .post(format!("{}/v1/clusters", s.url))
            .bearer_auth(&s.token)
            .json(&json!({"name": format!("bulk-{i:03}"), "blueprint": "local"}))
            .send()
            .unwrap();
        assert_eq!(created.status().as_u16(), 201);
    }

    // A repository of deployments applied to staging, tested, and promoted
    // to prod: what the deployments page shows.
    let repository = tempfile::tempdir().unwrap();
    for (path, contents) in [
        (
            "slipway.yaml",
            "organization: research\nenvironments: [staging, {name: prod, requires: staging}]\n",
        ),
        (
            "deployments/site/deployment.yaml",
            "blueprint: local\nlifecycle: ephemeral\nttl: 2h\n",
        ),
        ("deployments/site/config/common.yaml", "nodes: 1\n"),
    ] {
        let at = repository.path().join(path);
        std::fs::create_dir_all(at.parent().unwrap()).unwrap();
        std::fs::write(at, contents).unwrap();
    }
    let repo = repository.path().to_str().unwrap();
    s.run(&["apply", repo, "--env", "staging", "--auto-approve"])
        .expect_code(2);
    s.run(&["test", "site-staging", "--version", "v1"])
        .expect_code(0);
    s.run(&[
        "promote",
        "site",
        "--from",
        "staging",
        "--to",
        "prod",
        "--path",
        repo,
        "--auto-approve",
        "--no-test",
    ])
    .expect_code(2);
    // A change proposed for staging (a pull request's dry run): Terraform's
    // plan of it is pending.
    std::fs::write(
        repository
            .path()
            .join("deployments/site/config/common.yaml"),
        "nodes: 2\n",
    )
    .unwrap();
    s.run(&["apply", repo, "--env", "staging", "--dry-run"])
        .expect_code(0);
    // And for prod: the browser applies both, prod only once staging's
    // change passed its tests.
    s.run(&["apply", repo, "--env", "prod", "--dry-run"])
        .expect_code(0);
    // Prod's node is stopped outside Slipway, and a refresh finds it.
    let node = &server_nodes(&s, "site-prod")[0];
    let pid = node["pid"].as_u64().unwrap().to_string();
    assert!(Command::new("kill").arg(&pid).status().unwrap().success());
    let refreshed = s.run(&["refresh", "site-prod", "--json"]).json();
    assert_eq!(
        refreshed["cluster"]["drift"],
        json!(["terraform_data.node[0]"]),
        "{refreshed}"
    );

    let screenshots = workspace().join("target/web-screenshots");
    let scratch = tempfile::tempdir().unwrap();
    let config = scratch.path().join("config.json");
    let results = scratch.path().join("results.json");
    std::fs::write(
        &config,
        json!({
            "url": s.url,
            "chromium": chromium,
            "screenshots": screenshots,
            "results": results,
            "adminToken": s.token,
            "carolToken": carol,
            "bobToken": bob,
            "sharedOperation": shared_op,
        })
        .to_string(),
    )
    .unwrap();
    let started = Instant::now();
    run_browser(&config);
    println!("the browser took {:?}", started.elapsed());

    // What the browser did, seen through the API.
    let results: Value = serde_json::from_slice(&std::fs::read(&results).unwrap()).unwrap();
    let revoked = results["revokedSecret"].as_str().unwrap();
    assert_eq!(status_with(&s, revoked, "/v1/whoami"), 401, "revoked token");
    let signed_out = results["aliceSessionRevoked"].as_str().unwrap();
    assert_eq!(
        status_with(&s, signed_out, "/v1/whoami"),
        401,
        "signing out revokes the session's user token"
    );
    let demo = get_json(&s, "/v1/clusters/web-demo");
    assert_eq!(demo["state"], "absent", "{demo}");
    let shared = get_json(&s, "/v1/clusters/shared");
    assert_eq!(shared["nodes"], 2, "{shared}");
    assert_eq!(shared["state"], "running", "{shared}");
    let members = get_json(&s, "/v1/orgs/research/members");
    assert!(
        members
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["login"] == "carol" && m["state"] == "approved"),
        "{members}"
    );
    let tokens = get_json(&s, "/v1/tokens");
    let names: Vec<&str> = tokens
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(names.contains(&"ci-pipeline"), "{names:?}");
    for forged in ["forged", "forged-too", "evil"] {
        assert!(!names.contains(&forged), "a forged form made {forged}");
    }
    let audit = get_json(&s, "/v1/audit?action=cluster.deploy");
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["target"] == "web-demo" && e["actor_name"] == "alice"),
        "the browser's deploy is alice's: {audit}"
    );
    for (action, detail) in [
        (
            "provisioning.pause",
            json!({"reason": "storage maintenance"}),
        ),
        ("provisioning.resume", json!({})),
    ] {
        let entries = get_json(&s, &format!("/v1/audit?action={action}"));
        assert_eq!(entries[0]["detail"], detail, "{action}: {entries}");
        assert_eq!(entries[0]["level"], "admin", "{action}: {entries}");
    }
    assert_eq!(get_json(&s, "/v1/provisioning")["paused"], false);
    // The deploy alice asked for while paused started only once resumed.
    let resumed_at = get_json(&s, "/v1/audit?action=provisioning.resume")[0]["at"]
        .as_str()
        .unwrap()
        .to_owned();
    let paused_demo = get_json(&s, "/v1/clusters/paused-demo");
    let op = paused_demo["last_operation"]["id"].as_str().unwrap();
    let started = get_json(&s, &format!("/v1/operations/{op}"))["started_at"]
        .as_str()
        .unwrap()
        .to_owned();
    let time = |t: &str| chrono::DateTime::parse_from_rfc3339(t).unwrap();
    assert!(
        time(&started) >= time(&resumed_at),
        "started {started}, resumed {resumed_at}"
    );
    s.run(&["destroy", "paused-demo"]).expect_code(0);
    let slow = get_json(&s, "/v1/clusters/slow-demo");
    assert_eq!(slow["last_operation"]["state"], "cancelled", "{slow}");
    s.run(&["destroy", "slow-demo"]).expect_code(0);
    let secret = get_json(&s, "/v1/clusters/secret-demo");
    assert_eq!(secret["state"], "running", "{secret}");
    assert!(
        !secret.to_string().contains("hunter2-in-the-browser"),
        "the browser's secret is not in the cluster's status: {secret}"
    );
    s.run(&["destroy", "shared"]).expect_code(0);
}
