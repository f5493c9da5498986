//! The client libraries (`clients/python`, `clients/js`) against the real
//! `slipway serve` and the fake GitHub, as the people who use clusters use
//! them: this test prepares a world — two organizations, people, a running
//! private cluster in each, cluster tokens that live seconds, a scripted
//! device flow — writes what it made to a JSON file, and runs the
//! package's own suite (`pytest`, `node --test`) against it. The suites
//! assert; this test fails when they do.
//!
//! The world (`SLIPWAY_CLIENT_TEST_CONFIG`):
//! - `server`: the API's URL; `admin_token`: an administrator's token;
//!   `slipway`: the CLI binary (for `slipway login`);
//! - `users`: login → GitHub token. `alice` and `carol` are members of
//!   `research` (GitHub organization `uw-research`), `bob` of `other`,
//!   `dave` of `research` by an approved request (so an owner can remove
//!   him); `carol` is whom the next (and only) device flow approves;
//! - `cluster`: a running private cluster of `research`, one node;
//!   `other_cluster`: a running private cluster of `other`;
//! - `cluster_token_ttl_seconds`: how long a cluster token lives here;
//! - `organization`: `research`; `blueprint`: `local`; `failing_blueprint`:
//!   `flaky` (its variable `fail_apply=true` makes an apply fail).
//!
//! `./scripts/test` installs the suites' tools (the Python packages in
//! `.tools/venv`, `npm ci` in `clients/js`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::common::*;
use serde_json::json;
use slipway_testkit::github::{DeviceStep, FakeGitHub};

/// How long a cluster token lives in these worlds: long enough for a
/// request, short enough that the suites see their clients refresh.
const CLUSTER_TOKEN_TTL_SECONDS: u64 = 6;
/// How long a suite may take.
const SUITE_TIMEOUT: Duration = Duration::from_secs(300);

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The world described above, and the file that describes it.
struct World {
    _github: FakeGitHub,
    server: Server,
    _dir: tempfile::TempDir,
    config: PathBuf,
}

fn world() -> World {
    let github = FakeGitHub::start();
    for (login, id) in [("alice", 1), ("bob", 2), ("carol", 3), ("dave", 4)] {
        github.add_user(login, id, &format!("gho_{login}"), &["read:org"]);
    }
    for member in ["alice", "carol"] {
        github.set_org_membership(member, "uw-research", "active", "member");
    }
    github.set_org_membership("bob", "other-lab", "active", "member");
    github.set_device_interval(0);
    github.script_next_device_flow(vec![DeviceStep::Pending, DeviceStep::approve("gho_carol")]);
    let ttl = format!("{CLUSTER_TOKEN_TTL_SECONDS}s");
    let s = server_with_github(&github, &[("SLIPWAY_AUTH__CLUSTER_TOKEN_TTL", &ttl)]);
    for (org, gh) in [("research", "uw-research"), ("other", "other-lab")] {
        s.run(&["org", "create", org, "--github-org", gh])
            .expect_code(0);
    }
    for (cluster, org) in [("research-private", "research"), ("other-private", "other")] {
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
        s.run(&["deploy", cluster, "--ttl", "2h"]).expect_code(0);
    }
    // dave is a member by an approved request, which an owner can take
    // back (a GitHub membership is GitHub's to take).
    let dave = sign_in(&s, "gho_dave");
    let requested = reqwest::blocking::Client::new()
        .post(format!("{}/v1/orgs/research/members", s.url))
        .bearer_auth(&dave)
        .send()
        .unwrap();
    assert_eq!(requested.status(), 201, "dave asks to join research");
    s.run(&["org", "approve", "research", "dave"])
        .expect_code(0);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("world.json");
    let users: serde_json::Map<String, serde_json::Value> = ["alice", "bob", "carol", "dave"]
        .iter()
        .map(|login| (login.to_string(), json!(format!("gho_{login}"))))
        .collect();
    std::fs::write(
        &config,
        serde_json::to_vec_pretty(&json!({
            "server": s.url,
            "admin_token": s.token,
            "slipway": slipway(),
            "users": users,
            "device_user": "carol",
            "organization": "research",
            "cluster": "research-private",
            "other_cluster": "other-private",
            "cluster_token_ttl_seconds": CLUSTER_TOKEN_TTL_SECONDS,
            "blueprint": "local",
            "failing_blueprint": "flaky",
        }))
        .unwrap(),
    )
    .unwrap();
    World {
        _github: github,
        server: s,
        _dir: dir,
        config,
    }
}

/// Runs a client's suite against a fresh world; its output.
fn run_suite(mut suite: Command) -> Vec<String> {
    let world = world();
    // The suites keep their credentials under their own temporary
    // directories; nothing reaches the home of whoever runs the tests.
    let home = tempfile::tempdir().unwrap();
    suite
        .current_dir(workspace())
        .env("SLIPWAY_CLIENT_TEST_CONFIG", &world.config)
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join(".config"))
        .env_remove("SLIPWAY_URL")
        .env_remove("SLIPWAY_TOKEN");
    run_to_end(suite, SUITE_TIMEOUT)
}

/// The number on the suite's summary line that follows `prefix` (pytest's
/// `N passed`, node's `# pass N`), so that a suite that found no tests
/// fails.
fn count(lines: &[String], found: impl Fn(&str) -> Option<&str>) -> usize {
    lines
        .iter()
        .find_map(|line| found(line).and_then(|n| n.trim().parse().ok()))
        .unwrap_or(0)
}

#[test]
fn the_python_client_signs_in_refreshes_cluster_tokens_and_runs_the_lifecycle() {
    let python = std::env::var("SLIPWAY_TEST_PYTHON").unwrap_or_else(|_| {
        workspace()
            .join(".tools/venv/bin/python")
            .display()
            .to_string()
    });
    let mut pytest = Command::new(python);
    pytest.args([
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "clients/python/tests",
    ]);
    let lines = run_suite(pytest);
    let passed = count(&lines, |line| {
        line.split([',', ' ', '='])
            .collect::<Vec<_>>()
            .windows(2)
            .find(|w| w[1] == "passed")
            .map(|w| w[0])
    });
    assert!(passed > 0, "pytest ran no test");
}

#[test]
fn the_javascript_client_signs_in_refreshes_cluster_tokens_and_runs_the_lifecycle() {
    let mut node = Command::new("node");
    node.args(["--test", "clients/js/test/"]);
    let lines = run_suite(node);
    assert!(
        count(&lines, |line| line.strip_prefix("# pass ")) > 0,
        "node --test ran no test"
    );
}

/// The checked-in document is the one the server serves, and each client's
/// generated code is what its generator makes of it: a route or schema
/// changed without `scripts/generate-clients` fails here, saying so.
#[test]
fn the_generated_clients_match_the_served_document() {
    let s = server();
    let (status, served) = get(&format!("{}/v1/openapi.json", s.url));
    assert_eq!(status, 200);
    // Generators name a function after its operation's id.
    let mut ids: Vec<&str> = served["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .filter_map(|operation| operation["operationId"].as_str())
        .collect();
    ids.sort_unstable();
    let repeated: Vec<_> = ids
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| w[0])
        .collect();
    assert!(
        repeated.is_empty(),
        "operation ids used twice: {repeated:?}"
    );
    let root = workspace();
    let checked_in: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("clients/openapi.json")).unwrap()).unwrap();
    assert!(
        served == checked_in,
        "clients/openapi.json is not the document the server serves: run scripts/generate-clients"
    );

    let out = tempfile::tempdir().unwrap();
    for (generator, generated, checked_in) in [
        (
            "clients/python/generate",
            out.path().join("rest"),
            root.join("clients/python/src/slipway/rest"),
        ),
        (
            "clients/js/generate",
            out.path().join("api.d.ts"),
            root.join("clients/js/src/api.d.ts"),
        ),
    ] {
        let ran = Command::new(root.join(generator))
            .arg(&generated)
            .output()
            .unwrap();
        assert!(
            ran.status.success(),
            "{generator}: {}",
            String::from_utf8_lossy(&ran.stderr)
        );
        let differs = Command::new("diff")
            .args(["-r", "-q", "-x", "__pycache__"])
            .arg(&checked_in)
            .arg(&generated)
            .output()
            .unwrap();
        assert!(
            differs.status.success(),
            "{} is not what {generator} makes of clients/openapi.json: run scripts/generate-clients\n{}",
            checked_in.display(),
            String::from_utf8_lossy(&differs.stdout)
        );
    }
}

/// The first ````fence` block of the README's section `heading`.
fn readme_example(heading: &str, fence: &str) -> String {
    let readme = std::fs::read_to_string(workspace().join("README.md")).unwrap();
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with(heading))
        .unwrap_or_else(|| panic!("README.md has no section {heading:?}"));
    let start = section
        .find(&format!("```{fence}\n"))
        .unwrap_or_else(|| panic!("{heading}: no ```{fence} block"))
        + fence.len()
        + 4;
    let length = section[start..].find("```").expect("the block ends");
    section[start..start + length].to_owned()
}

/// The README's "From Python" and "From JavaScript" examples, as written,
/// by a member of `research` signed in as the CLI would be
/// (`SLIPWAY_URL`, `SLIPWAY_TOKEN`): each creates, deploys, calls and
/// destroys its cluster.
#[test]
fn the_readme_examples_run_as_written() {
    let world = world();
    let s = &world.server;
    let alice = sign_in(s, "gho_alice");
    let scratch = tempfile::tempdir().unwrap();
    // The JavaScript example imports the package by its name.
    std::fs::create_dir_all(scratch.path().join("node_modules")).unwrap();
    std::os::unix::fs::symlink(
        workspace().join("clients/js"),
        scratch.path().join("node_modules/slipway-client"),
    )
    .unwrap();
    let python = std::env::var("SLIPWAY_TEST_PYTHON").unwrap_or_else(|_| {
        workspace()
            .join(".tools/venv/bin/python")
            .display()
            .to_string()
    });
    for (heading, fence, file, interpreter, cluster) in [
        (
            "From Python",
            "python",
            "example.py",
            python.as_str(),
            "analysis-py",
        ),
        (
            "From JavaScript",
            "js",
            "example.mjs",
            "node",
            "analysis-js",
        ),
    ] {
        std::fs::write(scratch.path().join(file), readme_example(heading, fence)).unwrap();
        let mut example = Command::new(interpreter);
        example
            .arg(file)
            .current_dir(scratch.path())
            .env("SLIPWAY_URL", &s.url)
            .env("SLIPWAY_TOKEN", &alice)
            .env("HOME", scratch.path())
            .env("XDG_CONFIG_HOME", scratch.path().join(".config"));
        let printed = run_to_end(example, SUITE_TIMEOUT);
        // It printed what the cluster's node answered at /health.
        assert!(
            printed.iter().any(|line| line.contains(cluster)),
            "{heading}: {printed:?}"
        );
        let status: serde_json::Value = api(s, "GET", &format!("/v1/clusters/{cluster}"))
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(status["state"], "absent", "{heading}: {status}");
    }
}
