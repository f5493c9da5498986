//! The first generation's gRPC interface (`ps_server.Control` and
//! `ps_server.Account`), driven by a client that gRPC's own Python toolkit
//! generates from Slipway's `.proto` — on the API's port, against real
//! Terraform and a cluster whose nodes cost money.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::common::*;
use serde_json::{Value, json};
use slipway_testkit::github::FakeGitHub;

/// A first-generation cluster: its organization has its name.
const NAME: &str = "gen1c";

fn proto_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../grpc/proto")
}

fn client_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/grpc/gen1_client.py")
}

/// A blueprint `gen1`: the `local` blueprint whose nodes cost a cent a
/// second (and the manager a cent a second), whose nodes take a while to
/// boot and whose destroy takes a few seconds.
fn gen1_blueprint() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("slipway-gen1-")
        .tempdir()
        .unwrap();
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../blueprints/local");
    let version = dir.path().join("gen1/1.0.0");
    std::fs::create_dir_all(&version).unwrap();
    let main = std::fs::read_to_string(local.join("main.tf")).unwrap();
    let slow_destroy = r#"
# The test's own: a destroy that takes a few seconds.
resource "terraform_data" "slow_destroy" {
  input = 5
  provisioner "local-exec" {
    when    = destroy
    command = "sleep ${self.input}"
  }
}
"#;
    std::fs::write(version.join("main.tf"), main + slow_destroy).unwrap();
    let toml = std::fs::read_to_string(local.join("blueprint.toml"))
        .unwrap()
        .replacen("name = \"local\"", "name = \"gen1\"", 1)
        .replacen("fixed_hourly_usd = 0.0", "fixed_hourly_usd = 36.0", 1)
        .replacen("per_node_hourly_usd = 0.0", "per_node_hourly_usd = 36.0", 1)
        .replacen(
            "default = 0\nmin = 0\nmax = 600",
            "default = 3\nmin = 0\nmax = 600",
            1,
        );
    assert!(toml.contains("default = 3"), "boot_seconds default changed");
    std::fs::write(version.join("blueprint.toml"), toml).unwrap();
    dir
}

/// A call in flight: its answers as they arrive.
struct Call {
    child: Child,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
    seen: Vec<Value>,
}

impl Call {
    /// The next answer, or the final `{"status": …}` line.
    fn next(&mut self) -> Value {
        let line = self
            .lines
            .next()
            .unwrap_or_else(|| panic!("the client ended early; seen: {:#?}", self.seen))
            .unwrap();
        let value: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        self.seen.push(value.clone());
        value
    }

    /// Every answer to the end, and the status.
    fn finish(mut self) -> (Vec<Value>, Value) {
        loop {
            let value = self.next();
            if value.get("status").is_some() {
                let _ = self.child.wait();
                let mut messages = std::mem::take(&mut self.seen);
                messages.pop();
                return (messages, value);
            }
        }
    }
}

struct Gen1<'a> {
    server: &'a Server,
    target: String,
}

impl Gen1<'_> {
    fn start(
        &self,
        token: Option<&str>,
        forwarded_for: Option<&str>,
        service: &str,
        method: &str,
        request: Value,
    ) -> Call {
        let python = slipway_testkit::python_tool("python");
        let mut cmd = Command::new(python);
        cmd.arg(client_script())
            .arg(proto_dir())
            .arg(&self.target)
            .args([service, method, &request.to_string()])
            .env_remove("SLIPWAY_TOKEN")
            .stdout(Stdio::piped());
        if let Some(token) = token {
            cmd.env("SLIPWAY_TOKEN", token);
        }
        if let Some(address) = forwarded_for {
            cmd.env("GEN1_FORWARDED_FOR", address);
        }
        let mut child = cmd.spawn().expect("run the gRPC client");
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Call {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// A call with the admin's token, to the end.
    fn call(&self, service: &str, method: &str, request: Value) -> (Vec<Value>, Value) {
        self.start(Some(&self.server.token), None, service, method, request)
            .finish()
    }
}

fn ok(status: &Value) {
    assert_eq!(status["status"], "OK", "{status}");
}

/// The stream's last message: done, with the cluster's state just before.
fn assert_done(messages: &[Value], deployed: bool) -> &Value {
    let (last, rest) = messages.split_last().expect("messages");
    assert_eq!(last["done"], true, "{messages:#?}");
    assert!(last.get("ps_server_error").is_none(), "{last}");
    let state = rest
        .iter()
        .rev()
        .find_map(|m| m.get("state"))
        .unwrap_or_else(|| panic!("a state message: {messages:#?}"));
    assert_eq!(state["valid"], true);
    assert_eq!(
        state
            .get("deployed")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        deployed,
        "{state}"
    );
    // Numbered from 1, in order, each naming the command and the cluster.
    for (i, m) in messages.iter().enumerate() {
        assert_eq!(m["seq"], json!(i + 1), "{m}");
        assert_eq!(m["name"], NAME, "{m}");
    }
    state
}

fn stdout_of(messages: &[Value]) -> String {
    messages
        .iter()
        .filter_map(|m| m["cli"]["stdout"].as_str())
        .collect()
}

#[test]
fn a_first_generation_client_sets_up_runs_and_tears_down_a_cluster() {
    let blueprints = gen1_blueprint();
    let github = FakeGitHub::start();
    github.add_user("bob", 2, "gho_bob", &["read:org"]);
    github.set_org_membership("bob", "other-lab", "active", "member");
    let s = server_with(Options {
        env: [
            ("SLIPWAY_GRPC__GEN1__BLUEPRINT", "gen1"),
            // The first generation's web site, behind this machine's proxy.
            (
                "SLIPWAY_AUTH__RATE_LIMITS__TRUSTED_PROXIES",
                "[\"127.0.0.1/32\"]",
            ),
            ("SLIPWAY_GRPC__GEN1__TRUSTED_NETWORKS", "[\"10.1.0.0/16\"]"),
            ("SLIPWAY_GRPC__GEN1__SERVICE_IDENTITY__NAME", "gen1-web"),
            (
                "SLIPWAY_GRPC__GEN1__SERVICE_IDENTITY__ORGANIZATIONS",
                "[\"gen1c\"]",
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .chain(github_env(&github))
        .chain([blueprint_dirs(&[blueprints.path()])])
        .collect(),
        ..Options::default()
    });
    s.run(&["org", "create", NAME]).expect_code(0);
    s.run(&["org", "create", "other", "--github-org", "other-lab"])
        .expect_code(0);
    s.run(&[
        "org",
        "account",
        NAME,
        "--balance",
        "1000",
        "--max",
        "5000",
        "--reason",
        "gen1 test",
    ])
    .expect_code(0);
    let gen1 = Gen1 {
        server: &s,
        target: s.url.trim_start_matches("http://").to_owned(),
    };

    // The interface: versions of the configured blueprint, Slipway's own.
    let (versions, status) = gen1.call("Control", "GetVersions", json!({}));
    ok(&status);
    assert_eq!(versions[0]["versions"], json!(["latest", "1.0.0"]));
    let (ps, status) = gen1.call("Control", "GetPSVersions", json!({}));
    ok(&status);
    assert!(ps[0]["ps_versions"].as_str().unwrap().contains("terraform"));
    let (_, status) = gen1.call("Control", "Init", json!({"name": NAME}));
    assert_eq!(status["status"], "UNIMPLEMENTED", "{status}");

    // SetUp defines it, in the organization of its name.
    let (set_up, status) = gen1.call(
        "Control",
        "SetUp",
        json!({"name": NAME, "version": "latest", "is_public": false}),
    );
    ok(&status);
    assert_done(&set_up, false);
    assert!(
        stdout_of(&set_up).contains("organization gen1c"),
        "{set_up:#?}"
    );
    let (cfg, status) = gen1.call("Control", "GetCurrentSetUpCfg", json!({"name": NAME}));
    ok(&status);
    assert_eq!(cfg[0]["setup_cfg"]["version"], "1.0.0", "{cfg:#?}");

    // Update to 2 nodes: the log streams while Terraform runs.
    let mut update = gen1.start(
        Some(&s.token),
        None,
        "Control",
        "Update",
        json!({"name": NAME, "min_nodes": 1, "max_nodes": 4, "num_nodes": 2}),
    );
    let operation = loop {
        let message = update.next();
        if let Some(args) = message["cli"]["cmd_args"].as_str()
            && let Some(id) = args.split_whitespace().find(|w| w.starts_with("op_"))
        {
            break id.to_owned();
        }
    };
    loop {
        let message = update.next();
        assert!(message.get("status").is_none(), "{message}");
        let line = message["cli"]["stdout"].as_str().unwrap_or_default();
        if line.contains("node") && line.contains("Creating") {
            break;
        }
    }
    // A Terraform line arrived while the operation still runs (its nodes
    // take seconds to boot): the stream is live.
    let running: Value = api(&s, "GET", &format!("/v1/operations/{operation}"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(running["state"], "running", "{running}");
    let (updated, status) = update.finish();
    ok(&status);
    let state = assert_done(&updated, true);
    assert_eq!(state["deployed_state"], "running");
    assert_eq!(state["ip_address"], "127.0.0.1");

    // The cluster answers through its gateway.
    let cluster = s.run(&["status", NAME, "--json"]).json();
    let endpoint = cluster["endpoint"].as_str().unwrap();
    let token = s.run(&["access", NAME]);
    token.expect_code(0);
    let health = reqwest::blocking::Client::new()
        .get(format!("{endpoint}/health"))
        .bearer_auth(token.stdout().trim())
        .send()
        .unwrap();
    assert_eq!(health.status(), 200);

    let (resized, status) = gen1.call(
        "Control",
        "Update",
        json!({"name": NAME, "min_nodes": 1, "max_nodes": 4, "num_nodes": 3}),
    );
    ok(&status);
    assert_done(&resized, true);
    let (nodes, status) = gen1.call("Account", "NumNodes", json!({"name": NAME}));
    ok(&status);
    assert_eq!(nodes[0]["num_nodes"], 3);

    // Costs, after reconciliation, as the REST API has them.
    s.run(&["org", "reconcile", NAME]).expect_code(0);
    let (costs, status) = gen1.call(
        "Account",
        "CurrentCost",
        json!({"name": NAME, "granularity": "HOURLY"}),
    );
    ok(&status);
    let costs = &costs[0];
    assert_eq!(costs["granularity"], "HOURLY");
    assert_eq!(costs["unit"], "USD");
    let cost: Vec<f64> = costs["cost"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_f64().unwrap())
        .collect();
    assert_eq!(cost.len(), 24, "{costs}");
    assert_eq!(costs["tm"].as_array().unwrap().len(), 24);
    assert!(
        cost.iter().sum::<f64>() > 0.0,
        "the nodes cost money: {costs}"
    );
    let n = cost.len() as f64;
    let mean = cost.iter().sum::<f64>() / n;
    let std = (cost.iter().map(|c| (c - mean).powi(2)).sum::<f64>() / n).sqrt();
    let stats = &costs["stats"];
    assert_eq!(stats["cnt"], "24", "uint64 travels as a string in JSON");
    let close = |a: &Value, b: f64| (a.as_f64().unwrap_or(0.0) - b).abs() < 1e-6;
    assert!(close(&stats["avg"], mean), "{stats} vs {mean}");
    assert!(close(&stats["std"], std), "{stats} vs {std}");
    let max = cost.iter().copied().fold(f64::MIN, f64::max);
    let min = cost.iter().copied().fold(f64::MAX, f64::min);
    assert!(
        close(&stats["max"], max) && close(&stats["min"], min),
        "{stats}"
    );
    assert!(close(&costs["total"], cost.iter().sum()), "{costs}");

    // Nobody without a token; a member of another organization sees
    // nothing of this one.
    let (_, status) = gen1
        .start(None, None, "Account", "NumNodes", json!({"name": NAME}))
        .finish();
    assert_eq!(status["status"], "UNAUTHENTICATED", "{status}");
    let bob = sign_in(&s, "gho_bob");
    let (_, status) = gen1
        .start(
            Some(&bob),
            None,
            "Account",
            "NumNodes",
            json!({"name": NAME}),
        )
        .finish();
    // Another organization's private cluster is one that does not exist.
    assert_eq!(status["status"], "NOT_FOUND", "{status}");
    let (refused, status) = gen1
        .start(
            Some(&bob),
            None,
            "Control",
            "Destroy",
            json!({"name": NAME}),
        )
        .finish();
    assert_eq!(status["status"], "NOT_FOUND", "{status}");
    assert_eq!(refused[0]["ps_server_error"], true, "{refused:#?}");

    // The first generation's web site, from its trusted network with no
    // token, acts as its service identity — audited as such.
    let (nodes, status) = gen1
        .start(
            None,
            Some("10.1.2.3"),
            "Account",
            "NumNodes",
            json!({"name": NAME}),
        )
        .finish();
    ok(&status);
    assert_eq!(nodes[0]["num_nodes"], 3);

    // Destroy; an Update while it runs is refused at once, in the stream
    // and by its status.
    let mut destroy = gen1.start(
        None,
        Some("10.1.2.3"),
        "Control",
        "Destroy",
        json!({"name": NAME}),
    );
    loop {
        let message = destroy.next();
        assert!(message.get("status").is_none(), "{message}");
        if message["cli"]["cmd_args"].as_str().is_some() {
            break;
        }
    }
    let (conflict, status) = gen1.call(
        "Control",
        "Update",
        json!({"name": NAME, "min_nodes": 1, "max_nodes": 4, "num_nodes": 2}),
    );
    assert_eq!(status["status"], "ABORTED", "{status}");
    assert_eq!(conflict.len(), 1, "{conflict:#?}");
    assert_eq!(conflict[0]["done"], true);
    assert_eq!(conflict[0]["ps_server_error"], true);
    assert!(
        conflict[0]["error_msg"]
            .as_str()
            .unwrap()
            .contains("in the way"),
        "{conflict:#?}"
    );
    let (destroyed, status) = destroy.finish();
    ok(&status);
    let state = assert_done(&destroyed, false);
    assert_eq!(state["deployed_state"], "absent");
    let audit: Value = api(&s, "GET", "/v1/audit?action=cluster.destroy")
        .send()
        .unwrap()
        .json()
        .unwrap();
    let entry = audit
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["result"] == "queued")
        .unwrap_or_else(|| panic!("the destroy is audited: {audit}"));
    assert_eq!(entry["actor"], "slipway:gen1-web", "{entry}");
    assert!(
        entry["actor_name"]
            .as_str()
            .unwrap()
            .contains("trusted network, 10.1.2.3"),
        "{entry}"
    );

    // TearDown removes the definition.
    let (torn, status) = gen1.call("Control", "TearDown", json!({"name": NAME}));
    ok(&status);
    assert_done(&torn, false);
    assert_eq!(s.run(&["status", NAME]).code(), 2);
}

#[test]
fn reflection_and_health_answer_without_a_token() {
    let s = server();
    let gen1 = Gen1 {
        server: &s,
        target: s.url.trim_start_matches("http://").to_owned(),
    };
    let (health, status) = gen1
        .start(None, None, "health", "ps_server.Control", json!({}))
        .finish();
    ok(&status);
    assert_eq!(health[0]["serving"], "SERVING", "{health:#?}");
    let (services, status) = gen1
        .start(None, None, "reflection", "list", json!({}))
        .finish();
    ok(&status);
    let services = &services[0]["services"];
    for name in [
        "ps_server.Control",
        "ps_server.Account",
        "grpc.health.v1.Health",
    ] {
        assert!(
            services.as_array().unwrap().iter().any(|s| s == name),
            "{name} in {services}"
        );
    }
    // A method that does not exist is UNIMPLEMENTED, not an HTTP error.
    let (_, status) = gen1
        .start(Some(&s.token), None, "Control", "NoSuchMethod", json!({}))
        .finish();
    assert_eq!(status["status"], "UNIMPLEMENTED", "{status}");
}

#[test]
fn an_update_before_set_up_is_not_found_and_names_set_up() {
    let s = server();
    let gen1 = Gen1 {
        server: &s,
        target: s.url.trim_start_matches("http://").to_owned(),
    };
    let (refused, status) = gen1.call(
        "Control",
        "Update",
        json!({"name": "lab", "num_nodes": 2, "min_nodes": 1, "max_nodes": 4}),
    );
    assert_eq!(status["status"], "NOT_FOUND", "{status}");
    let details = status["details"].as_str().unwrap_or_default();
    assert!(details.contains("SetUp"), "{status}");
    assert_eq!(refused.len(), 1, "{refused:#?}");
    assert_eq!(refused[0]["ps_server_error"], true, "{refused:#?}");
    assert!(
        refused[0]["error_msg"].as_str().unwrap().contains("SetUp"),
        "{refused:#?}"
    );
    // Nothing was defined by it.
    assert_eq!(s.run(&["status", "lab"]).code(), 2);
}
