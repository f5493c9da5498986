//! A repository of deployments as a team keeps it: `slipway render` reads
//! and checks it (naming file and key), and the server's age recipient is
//! what the team encrypts its secrets to.

use std::process::Command;

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
