//! `slipway blueprint check`, as a module author's CI runs it: the
//! reference blueprints pass it (and `terraform fmt -check`), and what
//! breaks Slipway's contract is named with its file and line.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;

fn blueprints() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../blueprints")
}

fn check(dir: &Path, json: bool) -> std::process::Output {
    let mut command = Command::new(slipway());
    command.args(["blueprint", "check"]).arg(dir);
    if json {
        command.arg("--json");
    }
    command.output().expect("slipway blueprint check")
}

#[test]
fn the_reference_blueprints_pass_blueprint_check_and_terraform_fmt() {
    for name in [
        "aws-sliderule",
        "aws-remote-execution",
        "aws-jupyterhub",
        "local",
    ] {
        let dir = blueprints().join(name);
        let out = check(&dir, false);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("no problem found"),
            "{name}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        if name != "local" {
            // What could not run here is said, not hidden.
            assert!(
                stdout.contains("not run: terraform validate") && stdout.contains("aws"),
                "{name}: {stdout}"
            );
        }
        let fmt = Command::new(slipway_testkit::terraform())
            .args(["fmt", "-check", "-recursive", "-no-color"])
            .arg(&dir)
            .output()
            .unwrap();
        assert!(
            fmt.status.success(),
            "{name}: terraform fmt -check: {}",
            String::from_utf8_lossy(&fmt.stdout)
        );
    }
}

#[test]
fn blueprint_check_names_the_file_and_line_of_what_breaks_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let write = |path: &str, text: &str| std::fs::write(dir.path().join(path), text).unwrap();
    write(
        "blueprint.toml",
        "name = \"lab\"\n[nodes]\nmin = 1\nmax = 4\ndefault = 1\n",
    );
    write(
        "variables.tf",
        "variable \"tags\" {\n  type = map(string)\n}\n\nvariable \"node_count\" {\n  type = string\n}\n",
    );
    write(
        "main.tf",
        "resource \"aws_instance\" \"node\" {\n  count = 2\n  ami   = \"ami-0\"\n}\n\nresource \"aws_s3_bucket\" \"data\" {\n  tags = merge(var.tags, { Name = \"data\" })\n}\n",
    );
    let out = check(dir.path(), false);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let shown = |at: &str| format!("{}/{at}", dir.path().display());
    assert!(
        stdout.contains(&shown("main.tf:1: resource aws_instance.node takes tags"))
            && stdout.contains(&shown(
                "variables.tf:5: variable \"node_count\" is a standard variable Slipway passes as number"
            ))
            && stdout.contains("2 problems"),
        "{stdout}"
    );
    let json = check(dir.path(), true);
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(report["findings"][0]["file"], "main.tf", "{report}");
    assert_eq!(report["findings"][0]["line"], 1, "{report}");
    assert_eq!(report["resources"], 2, "{report}");

    // A metadata file that does not parse: its line.
    write("blueprint.toml", "name = \"lab\"\n[nodes\nmin = 1\n");
    let out = check(dir.path(), false);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&shown("blueprint.toml:2: ")), "{stdout}");
}

/// Publishing is for administrators, decided before the archive is read;
/// what is not a blueprint's archive is refused naming what is wrong.
#[test]
fn only_administrators_publish_and_what_is_not_a_blueprint_is_refused_naming_it() {
    let github = slipway_testkit::github::FakeGitHub::start();
    github.add_user("alice", 1, "gho_alice", &["read:org"]);
    let s = server_with_github(&github, &[]);
    let alice = sign_in(&s, "gho_alice");
    let http = reqwest::blocking::Client::new();
    let put = |version: &str, token: &str, body: Vec<u8>| {
        let response = http
            .put(format!("{}/v1/blueprints/lab/versions/{version}", s.url))
            .bearer_auth(token)
            .header("content-type", "application/gzip")
            .body(body)
            .send()
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json::<serde_json::Value>().unwrap())
    };
    let (status, refused) = put("1.0.0", &alice, vec![0; 1024]);
    assert_eq!(status, 403, "{refused}");
    let (status, garbage) = put("1.0.0", &s.token, b"not an archive".to_vec());
    assert_eq!(status, 400, "{garbage}");
    assert!(
        garbage["error"]["message"]
            .as_str()
            .unwrap()
            .contains("(archive): not a gzip'd tar archive"),
        "{garbage}"
    );
    let (status, latest) = put("latest", &s.token, b"x".to_vec());
    assert_eq!(
        (status, &latest["error"]["field"]),
        (400, &serde_json::json!("version")),
        "{latest}"
    );
    // A directory that fails the check is refused with its findings.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("blueprint.toml"),
        "name = \"lab\"\n[nodes]\nmin = 1\nmax = 2\ndefault = 1\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("main.tf"),
        "variable \"node_count\" {\n  type = string\n}\n",
    )
    .unwrap();
    let archive = slipway_engine::catalog::pack_dir(dir.path()).unwrap();
    let (status, failing) = put("1.0.0", &s.token, archive);
    assert_eq!(status, 400, "{failing}");
    assert!(
        failing["error"]["message"]
            .as_str()
            .unwrap()
            .contains("main.tf:1: variable \"node_count\""),
        "{failing}"
    );
}
