//! A repository of deployments as a team keeps it: `slipway render` reads
//! and checks it (naming file and key), and the server's age recipient is
//! what the team encrypts its secrets to.

use std::process::Command;
use std::time::Duration;

use serde_json::json;

use crate::common::*;

fn render(args: &[&str]) -> std::process::Output {
    Command::new(slipway())
        .arg("render")
        .args(args)
        .output()
        .expect("run slipway render")
}

fn example() -> String {
    format!("{}/../../examples/repository", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn render_shows_each_deployments_cluster_in_each_environment() {
    let all = render(&[&example(), "--json"]);
    assert!(
        all.status.success(),
        "{}",
        String::from_utf8_lossy(&all.stderr)
    );
    let clusters: serde_json::Value = serde_json::from_slice(&all.stdout).unwrap();
    let names: Vec<&str> = clusters
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["cluster"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "outreach-staging",
            "outreach-prod",
            "research-staging",
            "research-prod"
        ]
    );
    let one = render(&[
        &example(),
        "--env",
        "staging",
        "--deployment",
        "research",
        "--json",
    ]);
    let one: serde_json::Value = serde_json::from_slice(&one.stdout).unwrap();
    assert_eq!(one[0]["nodes"], 1, "staging's layer over common's");
    assert_eq!(
        one[0]["variables"],
        serde_json::json!({}),
        "null in staging removes the value: the blueprint's default"
    );
    assert_eq!(one[0]["lifecycle"], "persistent");
    let text = render(&[&example(), "--env", "prod"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("outreach-prod") && text.contains("nodes:     4"),
        "{text}"
    );
}

#[test]
fn a_broken_repository_is_refused_naming_file_and_key() {
    let repo = tempfile::tempdir().unwrap();
    std::fs::write(
        repo.path().join("slipway.yaml"),
        "organization: tess\nenvironments: [staging, prod]\n",
    )
    .unwrap();
    let dir = repo.path().join("deployments/hub");
    std::fs::create_dir_all(dir.join("secrets")).unwrap();
    std::fs::write(
        dir.join("deployment.yaml"),
        "blueprint: local\nlifecycle: persistent\n",
    )
    .unwrap();
    std::fs::write(dir.join("secrets/common.yaml"), "password: x\n").unwrap();
    let refused = render(&[repo.path().to_str().unwrap(), "--json"]);
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("deployments/hub/secrets/common.yaml") && stderr.contains("common layer"),
        "{stderr}"
    );
}

#[test]
fn the_servers_age_recipient_is_stable_and_the_real_age_encrypts_to_it() {
    let mut s = server();
    let asked = s.run(&["secrets", "recipient"]);
    asked.expect_code(0);
    let recipient = asked.stdout().trim().to_owned();
    assert!(recipient.starts_with("age1"), "{recipient}");
    assert_eq!(
        s.run(&["secrets", "recipient", "--json"]).json()["recipient"],
        recipient.as_str()
    );
    // Derived from the secrets key: the same after a restart.
    s.restart();
    assert_eq!(s.run(&["secrets", "recipient"]).stdout().trim(), recipient);
    // A recipient the real age takes.
    let age = std::env::var("SLIPWAY_TEST_AGE").unwrap_or_else(|_| "age".into());
    let out = tempfile::NamedTempFile::new().unwrap();
    let mut child = Command::new(&age)
        .args(["--encrypt", "-r", &recipient, "-o"])
        .arg(out.path())
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {age} (./scripts/test installs it): {e}"));
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"password: x\n")
        .unwrap();
    assert!(
        child.wait().unwrap().success(),
        "age encrypts to the server's recipient"
    );
    assert!(std::fs::metadata(out.path()).unwrap().len() > 0);
}

/// The real sops: `SLIPWAY_TEST_SOPS`, else the one ./scripts/test puts in
/// .tools/venv.
fn sops() -> std::path::PathBuf {
    let path = std::env::var_os("SLIPWAY_TEST_SOPS").map_or_else(
        || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools/venv/bin/sops"),
        std::path::PathBuf::from,
    );
    assert!(
        path.is_file(),
        "sops is needed at {} (./scripts/test installs it)",
        path.display()
    );
    path
}

/// Writes `files` under `root`.
fn write(root: &std::path::Path, files: &[(&str, &str)]) {
    for (path, contents) in files {
        let at = root.join(path);
        std::fs::create_dir_all(at.parent().unwrap()).unwrap();
        std::fs::write(at, contents).unwrap();
    }
}

#[test]
fn apply_makes_a_repository_real_with_its_secret_reaching_terraform_and_nowhere_else() {
    let s = server();
    let recipient = s.run(&["secrets", "recipient"]).stdout().trim().to_owned();
    let repo = tempfile::tempdir().unwrap();
    let root = repo.path();
    write(
        root,
        &[
            (
                "slipway.yaml",
                "organization: default\nenvironments: [staging, {name: prod, requires: staging}]\n",
            ),
            (
                "deployments/vault/deployment.yaml",
                "blueprint: secretive\nlifecycle: persistent\n",
            ),
            (
                "deployments/vault/config/common.yaml",
                "variables:\n  greeting: hello-common\n",
            ),
            (
                "deployments/outreach/deployment.yaml",
                "blueprint: local\npublic: true\nlifecycle: ephemeral\nttl: 2h\n",
            ),
            ("deployments/outreach/config/staging.yaml", "nodes: 1\n"),
        ],
    );
    // The team encrypts staging's secrets with the real sops, to the
    // server and to a member's own key.
    let member_recipient = new_age_recipient();
    write(
        root,
        &[(
            ".sops.yaml",
            &format!("creation_rules:\n  - age: {recipient},{member_recipient}\n"),
        )],
    );
    let secret = format!("s3cret-{}", uuid::Uuid::new_v4().simple());
    let secrets = root.join("deployments/vault/secrets/staging.yaml");
    write(
        root,
        &[(
            "deployments/vault/secrets/staging.yaml",
            &format!("password: {secret}\n"),
        )],
    );
    let encrypted = Command::new(sops())
        .current_dir(root)
        .args([
            "--encrypt",
            "--in-place",
            "deployments/vault/secrets/staging.yaml",
        ])
        .output()
        .unwrap();
    assert!(
        encrypted.status.success(),
        "{}",
        String::from_utf8_lossy(&encrypted.stderr)
    );
    assert!(!std::fs::read_to_string(&secrets).unwrap().contains(&secret));
    let path = root.to_str().unwrap();

    // A pull request's view: what would change, exit 2 — the secret by name.
    let planned = s.run(&[
        "apply",
        path,
        "--env",
        "staging",
        "--dry-run",
        "--detailed-exitcode",
    ]);
    planned.expect_code(2);
    let plan = planned.stdout();
    assert!(
        plan.contains("vault-staging (vault in staging): to create and deploy"),
        "{plan}"
    );
    assert!(plan.contains("+ secrets.password = (sensitive)"), "{plan}");
    assert!(
        plan.contains("outreach-staging") && !plan.contains("prod"),
        "{plan}"
    );
    assert!(!plan.contains(&secret));
    // Without a terminal, nothing is applied unless approved.
    let unasked = s.run(&["apply", path, "--env", "staging"]);
    unasked.expect_code(1);
    assert!(
        unasked.stderr().contains("--auto-approve"),
        "{}",
        unasked.stderr()
    );
    let missing = s.run(&["status", "vault-staging", "--json"]);
    assert_eq!(
        missing.error_json()["error"]["code"],
        "not_found",
        "nothing was defined"
    );

    // DeploymentRecord: the secret reached Terraform (its digest is an output).
    let applied = s.run(&["apply", path, "--env", "staging", "--auto-approve"]);
    applied.expect_code(2);
    use sha2::Digest as _;
    let digest = hex::encode(sha2::Sha256::digest(secret.as_bytes()));
    let vault = s.run(&["status", "vault-staging", "--json"]).json();
    assert_eq!(vault["state"], "running");
    assert_eq!(vault["outputs"]["password_digest"], digest.as_str());
    assert_eq!(vault["outputs"]["greeting"], "hello-common");
    assert!(
        vault["destroy_at"].is_null(),
        "persistent: no scheduled destroy"
    );
    assert_eq!(vault["protected"], true, "persistent: protected");
    let outreach = s.run(&["status", "outreach-staging", "--json"]).json();
    assert_eq!(
        (outreach["public"].as_bool(), outreach["nodes"].as_u64()),
        (Some(true), Some(1))
    );
    assert!(
        outreach["destroy_at"].is_string(),
        "ephemeral: destroyed after its ttl"
    );
    assert_eq!(outreach["protected"], false);

    // Again: nothing to change.
    let again = s.run(&["apply", path, "--env", "staging", "--auto-approve"]);
    again.expect_code(0);
    assert!(
        again.stdout().contains("Nothing to change"),
        "{}",
        again.stdout()
    );

    // A changed common value is planned by name, then applied.
    write(
        root,
        &[(
            "deployments/vault/config/common.yaml",
            "variables:\n  greeting: bonjour\n",
        )],
    );
    let changed = s.run(&["apply", path, "--env", "staging", "--dry-run"]);
    changed.expect_code(0);
    let shown = changed.stdout();
    assert!(
        shown.contains("~ variables.greeting: hello-common → bonjour"),
        "{shown}"
    );
    // Terraform's own plan of the change, run as an operation of kind
    // `plan` that changed nothing.
    assert!(shown.contains("Terraform's plan (operation "), "{shown}");
    assert!(
        shown.contains("Plan: 0 to add, 0 to change, 0 to destroy. Only outputs change."),
        "the greeting is an output of this blueprint, no resource: {shown}"
    );
    let history = s.run(&["history", "vault-staging", "--json"]).json();
    assert_eq!(history["operations"][0]["kind"], "plan", "{history}");
    assert_eq!(
        s.run(&["status", "vault-staging", "--json"]).json()["outputs"]["greeting"],
        "hello-common",
        "a plan changes nothing"
    );
    s.run(&["apply", path, "--env", "staging", "--auto-approve"])
        .expect_code(2);
    let vault = s.run(&["status", "vault-staging", "--json"]).json();
    assert_eq!(vault["outputs"]["greeting"], "bonjour");
    assert_eq!(
        vault["outputs"]["password_digest"],
        digest.as_str(),
        "the secret is kept"
    );

    // A tampered secrets file is refused, naming it.
    let text = std::fs::read_to_string(&secrets).unwrap();
    let start = text.find("data:").unwrap() + 5;
    let mut tampered = text.clone().into_bytes();
    tampered[start] = if tampered[start] == b'A' { b'B' } else { b'A' };
    std::fs::write(&secrets, tampered).unwrap();
    let refused = s.run(&["apply", path, "--env", "staging", "--auto-approve"]);
    refused.expect_code(1);
    assert!(
        refused
            .stderr()
            .contains("deployments/vault/secrets/staging.yaml"),
        "{}",
        refused.stderr()
    );

    // The secret is in no log, no answer, no file under the data directory.
    for args in [
        vec!["logs", "vault-staging"],
        vec!["status", "vault-staging", "--json"],
        vec!["history", "vault-staging", "--json"],
        vec!["audit", "--target", "vault-staging", "--json"],
    ] {
        let out = s.run(&args);
        assert!(
            !out.stdout().contains(&secret) && !out.stderr().contains(&secret),
            "{args:?}"
        );
    }
    let found = crate::hardening::files_containing(s.data_dir(), secret.as_bytes());
    assert!(found.is_empty(), "the secret is in clear in {found:?}");

    // The persistent cluster is kept: destroyed only when forced, saying why.
    let kept = s.run(&["destroy", "vault-staging"]);
    kept.expect_code(4);
    assert!(kept.stderr().contains("protected"), "{}", kept.stderr());
    s.run(&[
        "destroy",
        "vault-staging",
        "--force",
        "--reason",
        "the test is over",
    ])
    .expect_code(0);
    let forced = s.run(&["audit", "--action", "cluster.destroy.forced", "--json"]);
    assert!(
        forced.stdout().contains("the test is over"),
        "{}",
        forced.stdout()
    );
}

#[test]
fn prod_takes_only_what_staging_was_applied_and_tested_green() {
    let s = server();
    let repo = tempfile::tempdir().unwrap();
    let root = repo.path();
    write(
        root,
        &[
            (
                "slipway.yaml",
                "organization: default\nenvironments: [staging, {name: prod, requires: staging}]\n",
            ),
            (
                "deployments/hub/deployment.yaml",
                "blueprint: local\nlifecycle: ephemeral\nttl: 2h\n",
            ),
            ("deployments/hub/config/common.yaml", "nodes: 1\n"),
        ],
    );
    let path = root.to_str().unwrap();
    let promote = |extra: &[&str]| {
        let mut args = vec![
            "promote",
            "hub",
            "--from",
            "staging",
            "--to",
            "prod",
            "--path",
            path,
            "--auto-approve",
        ];
        args.extend_from_slice(extra);
        s.run(&args)
    };
    // Nothing in staging yet: prod is refused, saying why.
    let early = s.run(&["apply", path, "--env", "prod", "--auto-approve"]);
    early.expect_code(1);
    assert!(
        early
            .stderr()
            .contains("prod takes only what staging was applied and tested")
            && early.stderr().contains("never applied"),
        "{}",
        early.stderr()
    );
    // Applied without its TEST: prod refuses it.
    s.run(&[
        "apply",
        path,
        "--env",
        "staging",
        "--auto-approve",
        "--no-test",
    ])
    .expect_code(2);
    let untested = promote(&[]);
    untested.expect_code(1);
    assert!(
        untested
            .stderr()
            .contains("not been tested since it was applied"),
        "{}",
        untested.stderr()
    );
    // Staging's node stops: its TEST fails, and prod refuses it.
    let node = &server_nodes(&s, "hub-staging")[0];
    let pid = node["pid"].as_u64().unwrap().to_string();
    assert!(Command::new("kill").arg(&pid).status().unwrap().success());
    s.run(&["test", "hub-staging", "--version", "v1"])
        .expect_code(1);
    let failing = promote(&[]);
    failing.expect_code(1);
    assert!(
        failing
            .stderr()
            .contains("tests since it was applied did not pass"),
        "{}",
        failing.stderr()
    );
    // A refresh finds the stopped node; the next apply repairs staging and
    // runs its TEST, which passes: prod takes it.
    s.run(&["refresh", "hub-staging"]).expect_code(0);
    let repaired = s.run(&["apply", path, "--env", "staging", "--auto-approve"]);
    repaired.expect_code(2);
    assert!(
        repaired
            .stdout()
            .contains("~ drift: terraform_data.node[0] → repaired")
            && repaired
                .stdout()
                .contains("hub-staging: TEST at unversioned passed"),
        "{}",
        repaired.stdout()
    );
    promote(&[]).expect_code(2);
    assert_eq!(
        s.run(&["status", "hub-prod", "--json"]).json()["state"],
        "running"
    );
    let current = promotion(&s, "prod");
    assert_eq!(current["state"], "current", "{current}");
    assert_eq!(current["from"], "staging");
    // A common value changed but not yet applied to staging: refused,
    // naming the difference; an administrator may override, saying why.
    write(
        root,
        &[("deployments/hub/config/common.yaml", "nodes: 2\n")],
    );
    let changed = promote(&[]);
    changed.expect_code(1);
    assert!(
        changed.stderr().contains("other common values"),
        "{}",
        changed.stderr()
    );
    let hotfix = promote(&["--override-reason", "a hotfix that cannot wait"]);
    hotfix.expect_code(2);
    let shown = hotfix.stdout();
    assert!(
        shown.contains("+ terraform_data.node[1] (create)")
            && shown.contains("Plan: 1 to add, 0 to change, 0 to destroy."),
        "Terraform's plan of the new node: {shown}"
    );
    let overridden = s.run(&[
        "audit",
        "--action",
        "deployment.promotion_overridden",
        "--json",
    ]);
    assert!(
        overridden.stdout().contains("a hotfix that cannot wait"),
        "{}",
        overridden.stdout()
    );
    // Promoting from an environment the target does not come after.
    let backwards = s.run(&[
        "promote",
        "hub",
        "--from",
        "prod",
        "--to",
        "staging",
        "--path",
        path,
        "--auto-approve",
    ]);
    backwards.expect_code(1);
    assert!(
        backwards.stderr().contains("does not come after prod"),
        "{}",
        backwards.stderr()
    );
    // Staging takes another change: prod waits for its tests, then may
    // take it.
    write(
        root,
        &[(
            "deployments/hub/config/common.yaml",
            "nodes: 1\nvariables:\n  boot_seconds: 0\n",
        )],
    );
    s.run(&[
        "apply",
        path,
        "--env",
        "staging",
        "--auto-approve",
        "--no-test",
    ])
    .expect_code(2);
    let waiting = promotion(&s, "prod");
    assert_eq!(waiting["state"], "waiting", "{waiting}");
    assert!(
        waiting["reason"]
            .as_str()
            .unwrap()
            .contains("not been tested"),
        "{waiting}"
    );
    s.run(&["test", "hub-staging", "--version", "v2"])
        .expect_code(0);
    let ready = promotion(&s, "prod");
    assert_eq!(ready["state"], "ready", "{ready}");
    assert!(
        ready["reason"]
            .as_str()
            .unwrap()
            .contains("slipway promote hub --from staging --to prod"),
        "{ready}"
    );
}

/// Drift: a persistent deployment's node stopped outside Slipway is found
/// by the next periodic drift check — the cluster is marked drifted, in
/// status, list and /metrics — and `apply` repairs it.
/// A dry run's change is kept as the environment's proposal; a person
/// without the repository (the web UI) applies it through the API as it
/// was planned — unless the cluster was asked to be anything else since.
#[test]
fn a_proposed_change_is_applied_as_planned_and_refused_once_stale() {
    let github = slipway_testkit::github::FakeGitHub::start();
    github.add_user("bob", 2, "gho_bob", &["read:org"]);
    github.set_org_membership("bob", "other-lab", "active", "member");
    let s = server_with_github(&github, &[]);
    s.run(&["org", "create", "other", "--github-org", "other-lab"])
        .expect_code(0);
    let bob = sign_in(&s, "gho_bob");
    let repo = tempfile::tempdir().unwrap();
    let root = repo.path();
    write(
        root,
        &[
            (
                "slipway.yaml",
                "organization: default
environments: [staging]
",
            ),
            (
                "deployments/hub/deployment.yaml",
                "blueprint: local\nlifecycle: ephemeral\nttl: 2h\n",
            ),
            ("deployments/hub/config/common.yaml", "nodes: 1\n"),
        ],
    );
    let path = root.to_str().unwrap();
    s.run(&["apply", path, "--auto-approve", "--no-test"])
        .expect_code(2);
    let apply_proposal = |token: Option<&str>| {
        let request = reqwest::blocking::Client::new().post(format!(
            "{}/v1/deployments/hub/environments/staging/proposal/apply",
            s.url
        ));
        let response = match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
        .send()
        .unwrap();
        let status = response.status().as_u16();
        (status, response.json::<serde_json::Value>().unwrap())
    };
    let (status, none) = apply_proposal(Some(&s.token));
    assert_eq!(status, 404, "{none}");
    assert!(
        none["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no change is proposed for hub in staging"),
        "{none}"
    );

    let propose = || {
        s.run(&["apply", path, "--dry-run"]).expect_code(0);
        environment_view(&s, "staging")["proposal"].clone()
    };
    write(
        root,
        &[("deployments/hub/config/common.yaml", "nodes: 2\n")],
    );
    let proposal = propose();
    assert_eq!(
        proposal["changes"],
        json!([{"setting": "nodes", "from": 1, "to": 2}]),
        "{proposal}"
    );
    assert_eq!(proposal["stale"], false);
    assert!(
        proposal["plan_operation"].is_string(),
        "Terraform planned it: {proposal}"
    );
    // Nobody else applies it: no token, or another organization's member.
    assert_eq!(apply_proposal(None).0, 401);
    let (status, hidden) = apply_proposal(Some(&bob));
    assert_eq!(status, 404, "bob may not see hub-staging: {hidden}");

    // Deployed otherwise since: the plan no longer says what applying the
    // proposal does.
    s.run(&["deploy", "hub-staging", "--nodes", "3"])
        .expect_code(0);
    assert_eq!(environment_view(&s, "staging")["proposal"]["stale"], true);
    let (status, stale) = apply_proposal(Some(&s.token));
    assert_eq!(status, 409, "{stale}");
    assert_eq!(stale["error"]["code"], "stale_proposal", "{stale}");
    assert_eq!(
        s.run(&["status", "hub-staging", "--json"]).json()["nodes"],
        3,
        "nothing was applied"
    );

    // Proposed again, it applies as proposed, and is no longer pending.
    assert_eq!(
        propose()["changes"],
        json!([{"setting": "nodes", "from": 3, "to": 2}])
    );
    let (status, applied) = apply_proposal(Some(&s.token));
    assert_eq!(status, 200, "{applied}");
    assert_eq!(applied["action"], "deploy", "{applied}");
    let op = applied["operation"]["id"].as_str().unwrap();
    let status = watch_until(&s, "hub-staging", Duration::from_secs(120), |st| {
        st["last_operation"]["id"] == op
            && st["last_operation"]["state"] != "queued"
            && st["last_operation"]["state"] != "running"
    });
    assert_eq!(status["last_operation"]["state"], "succeeded", "{status}");
    assert_eq!(
        (status["state"].as_str(), status["nodes"].as_u64()),
        (Some("running"), Some(2))
    );
    assert!(environment_view(&s, "staging")["proposal"].is_null());
    let audit = s.run(&["audit", "--action", "deployment.apply_proposal", "--json"]);
    audit.expect_code(0);
    assert!(audit.stdout().contains("hub-staging"), "{}", audit.stdout());
    s.run(&["destroy", "hub-staging"]).expect_code(0);
}

#[test]
fn a_persistent_cluster_changed_outside_slipway_is_found_drifted_and_apply_repairs_it() {
    let s = server_with(Options {
        env: vec![("SLIPWAY_EXECUTOR__DRIFT_INTERVAL".into(), "5s".into())],
        ..Options::default()
    });
    let repo = tempfile::tempdir().unwrap();
    let root = repo.path();
    write(
        root,
        &[
            (
                "slipway.yaml",
                "organization: default\nenvironments: [staging]\n",
            ),
            (
                "deployments/hub/deployment.yaml",
                "blueprint: local\nlifecycle: persistent\n",
            ),
            ("deployments/hub/config/common.yaml", "nodes: 2\n"),
        ],
    );
    let path = root.to_str().unwrap();
    s.run(&["apply", path, "--auto-approve"]).expect_code(2);
    let hub = s.run(&["status", "hub-staging", "--json"]).json();
    assert_eq!(
        (hub["protected"].as_bool(), &hub["drift"]),
        (Some(true), &json!([]))
    );

    // Someone stops node 1 outside Slipway.
    let runtime = s.data_dir().join("runtime/hub-staging");
    let nodes = node_states(&runtime);
    let pid = nodes[1]["pid"].as_u64().unwrap().to_string();
    assert!(Command::new("kill").arg(&pid).status().unwrap().success());

    let drifted = watch_until(&s, "hub-staging", Duration::from_secs(60), |c| {
        c["drift"].as_array().is_some_and(|d| !d.is_empty())
    });
    assert_eq!(
        drifted["drift"],
        json!(["terraform_data.node[1]"]),
        "{drifted}"
    );
    assert_eq!(
        drifted["state"], "running",
        "drifted, not failed: {drifted}"
    );
    let history = s.run(&["history", "hub-staging", "--json"]).json();
    let check = &history["operations"][0];
    assert_eq!(
        (&check["kind"], &check["reason"]),
        (&json!("refresh"), &json!("drift")),
        "{history}"
    );
    assert!(
        s.run(&["status", "hub-staging"])
            .stdout()
            .contains("drifted:       terraform_data.node[1]"),
    );
    assert!(
        s.run(&["list"])
            .stdout()
            .contains("running (protected, drifted)")
    );
    assert_eq!(metric(&s, "slipway_clusters_drifted"), 1.0);

    // apply shows the repair and Terraform's plan of it, then makes it.
    let planned = s.run(&["apply", path, "--dry-run", "--detailed-exitcode"]);
    planned.expect_code(2);
    let shown = planned.stdout();
    assert!(
        shown.contains("~ drift: terraform_data.node[1] → repaired"),
        "{shown}"
    );
    assert!(
        shown.contains("-/+ terraform_data.node[1] (replace)"),
        "{shown}"
    );
    s.run(&["apply", path, "--auto-approve"]).expect_code(2);
    let repaired = s.run(&["status", "hub-staging", "--json"]).json();
    assert_eq!(repaired["drift"], json!([]), "{repaired}");
    assert_eq!(
        cluster_processes(&s, "hub-staging").len(),
        3,
        "two nodes and the gateway"
    );
    assert_eq!(metric(&s, "slipway_clusters_drifted"), 0.0);
    s.run(&["apply", path, "--auto-approve"]).expect_code(0);
    // A change made by hand is not what the repository says: the next
    // apply (which sends nothing while a cluster runs as applied) puts it
    // back.
    s.run(&["deploy", "hub-staging", "--nodes", "3"])
        .expect_code(0);
    let back = s.run(&["apply", path, "--auto-approve"]);
    back.expect_code(2);
    assert!(
        back.stdout().contains("~ nodes: 3 → 2"),
        "{}",
        back.stdout()
    );
    s.run(&[
        "destroy",
        "hub-staging",
        "--force",
        "--reason",
        "the test is over",
    ])
    .expect_code(0);
}

/// Pruning: the apply that no longer finds a deployment destroys its
/// cluster only when it was marked `prune` — and a persistent (protected)
/// one not even then: the refusal names it.
#[test]
fn a_removed_deployment_marked_prune_is_destroyed_unless_protected() {
    let s = server();
    let repo = tempfile::tempdir().unwrap();
    let root = repo.path();
    write(
        root,
        &[
            (
                "slipway.yaml",
                "organization: default\nenvironments: [staging]\n",
            ),
            (
                "deployments/demo/deployment.yaml",
                "blueprint: local\nlifecycle: ephemeral\nttl: 2h\nprune: true\n",
            ),
            (
                "deployments/kept/deployment.yaml",
                "blueprint: local\nlifecycle: ephemeral\nttl: 2h\n",
            ),
            (
                "deployments/vault/deployment.yaml",
                "blueprint: local\nlifecycle: persistent\nprune: true\n",
            ),
            (
                "deployments/stay/deployment.yaml",
                "blueprint: local\nlifecycle: persistent\n",
            ),
        ],
    );
    let path = root.to_str().unwrap();
    s.run(&["apply", path, "--auto-approve"]).expect_code(2);
    for gone in ["demo", "kept", "vault"] {
        std::fs::remove_dir_all(root.join("deployments").join(gone)).unwrap();
    }
    let planned = s.run(&["apply", path, "--dry-run", "--detailed-exitcode"]);
    planned.expect_code(2);
    let shown = planned.stdout();
    assert!(
        shown.contains("demo-staging (demo in staging): to destroy")
            && shown.contains("vault-staging (vault in staging): to destroy")
            && shown.contains("kept-staging (kept in staging): kept")
            && shown.contains("stay-staging (stay in staging): no change"),
        "{shown}"
    );
    let applied = s.run(&["apply", path, "--auto-approve"]);
    applied.expect_code(1);
    assert!(
        applied.stderr().contains("vault-staging") && applied.stderr().contains("protected"),
        "{}",
        applied.stderr()
    );
    let state = |name: &str| s.run(&["status", name, "--json"]).json()["state"].clone();
    assert_eq!(state("demo-staging"), "absent", "pruned");
    assert_eq!(state("kept-staging"), "running", "not marked prune");
    assert_eq!(state("vault-staging"), "running", "protected");
    assert_eq!(state("stay-staging"), "running");
    s.run(&[
        "destroy",
        "vault-staging",
        "--force",
        "--reason",
        "the test is over",
    ])
    .expect_code(0);
    // Nothing is left to prune: what stays is as declared.
    let again = s.run(&["apply", path, "--dry-run", "--detailed-exitcode"]);
    again.expect_code(0);
}

/// What only the server can check is refused naming the deployment, the
/// environment and the file: a blueprint that does not exist, a secrets
/// file the server cannot open (encrypted to someone else's key only).
#[test]
fn a_missing_blueprint_and_an_unreadable_secret_are_refused_naming_them() {
    let s = server();
    let repo = tempfile::tempdir().unwrap();
    let root = repo.path();
    write(
        root,
        &[
            (
                "slipway.yaml",
                "organization: default\nenvironments: [staging]\n",
            ),
            (
                "deployments/ghost/deployment.yaml",
                "blueprint: nosuch\nlifecycle: persistent\n",
            ),
        ],
    );
    let path = root.to_str().unwrap();
    let missing = s.run(&["apply", path, "--dry-run"]);
    missing.expect_code(1);
    assert!(
        missing
            .stderr()
            .contains("ghost-staging (ghost in staging)")
            && missing.stderr().contains("nosuch"),
        "{}",
        missing.stderr()
    );

    // Encrypted by the real age to a key that is not the server's.
    std::fs::remove_dir_all(root.join("deployments/ghost")).unwrap();
    write(
        root,
        &[(
            "deployments/vault/deployment.yaml",
            "blueprint: secretive\nlifecycle: persistent\n",
        )],
    );
    let age = std::env::var("SLIPWAY_TEST_AGE").unwrap_or_else(|_| "age".into());
    let recipient = new_age_recipient();
    let secrets = root.join("deployments/vault/secrets/staging.yaml");
    std::fs::create_dir_all(secrets.parent().unwrap()).unwrap();
    let mut child = Command::new(&age)
        .args([
            "--encrypt",
            "--armor",
            "--recipient",
            &recipient,
            "--output",
        ])
        .arg(&secrets)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"password: not-for-the-server\n")
        .unwrap();
    assert!(child.wait().unwrap().success());
    let unreadable = s.run(&["apply", path, "--dry-run"]);
    unreadable.expect_code(1);
    assert!(
        unreadable
            .stderr()
            .contains("deployments/vault/secrets/staging.yaml"),
        "{}",
        unreadable.stderr()
    );
}

/// What `GET /v1/deployments` says of deployment `hub`'s promotion to
/// `environment`.
fn promotion(s: &Server, environment: &str) -> serde_json::Value {
    environment_view(s, environment)["promotion"].clone()
}

/// Deployment `hub` in `environment`, as `GET /v1/deployments` shows it.
fn environment_view(s: &Server, environment: &str) -> serde_json::Value {
    let deployments: serde_json::Value = api(s, "GET", "/v1/deployments")
        .send()
        .unwrap()
        .json()
        .unwrap();
    deployments
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["deployment"] == "hub")
        .flat_map(|d| d["environments"].as_array().unwrap())
        .find(|e| e["environment"] == environment)
        .cloned()
        .unwrap_or_else(|| panic!("no {environment} in {deployments}"))
}

/// A new age key's recipient (its identity is thrown away: someone else's
/// key, as the server sees it), made by the real `age-keygen`.
fn new_age_recipient() -> String {
    let age = std::env::var("SLIPWAY_TEST_AGE").unwrap_or_else(|_| "age".into());
    let key = Command::new(format!("{age}-keygen"))
        .output()
        .expect("age-keygen (./scripts/test installs age)");
    String::from_utf8(key.stdout)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .expect("age-keygen prints the public key")
        .to_owned()
}
