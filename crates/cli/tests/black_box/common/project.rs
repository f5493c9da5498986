//! A project repository and blueprints whose TEST/RELEASE jobs run its
//! suites, for the tests of runs.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{Options, Server, blueprint_dirs, server_with};

/// A project repository (tag `v1`) and blueprints whose jobs run its suites:
/// `runs-process` and `runs-terraform`, copies of the `local` blueprint
/// (module and runner module) with a `[jobs]` section.
pub struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("slipway-project-")
            .tempdir()
            .unwrap();
        let repo = dir.path().join("repo");
        std::fs::create_dir_all(&repo).unwrap();
        std::fs::write(
            repo.join("check_endpoint.py"),
            r#"import json, os, urllib.request
request = urllib.request.Request(
    os.environ["SLIPWAY_ENDPOINT"] + "/health",
    headers={"Authorization": "Bearer " + os.environ["SLIPWAY_CLUSTER_TOKEN"]},
)
with urllib.request.urlopen(request, timeout=10) as response:
    health = json.load(response)
assert health["cluster"] == os.environ["SLIPWAY_CLUSTER"], health
print("cluster", health["cluster"], "answers at version", os.environ["SLIPWAY_VERSION"])
print("with token", os.environ["SLIPWAY_CLUSTER_TOKEN"])
"#,
        )
        .unwrap();
        git(&repo, &["init", "--quiet", "--initial-branch=main"]);
        git(&repo, &["add", "."]);
        git(&repo, &["commit", "--quiet", "-m", "the suites"]);
        git(&repo, &["tag", "v1"]);

        let local = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../blueprints/local");
        let local_toml = std::fs::read_to_string(local.join("blueprint.toml")).unwrap();
        // Without the local blueprint's own jobs (its last sections).
        let local_toml = local_toml.split("\n[jobs]").next().unwrap().to_owned();
        for runner in ["process", "terraform"] {
            let name = format!("runs-{runner}");
            let bp = dir.path().join("blueprints").join(&name).join("1.0.0");
            std::fs::create_dir_all(bp.join("runner")).unwrap();
            std::fs::copy(local.join("main.tf"), bp.join("main.tf")).unwrap();
            std::fs::copy(local.join("runner/main.tf"), bp.join("runner/main.tf")).unwrap();
            let toml = local_toml.replacen("name = \"local\"", &format!("name = \"{name}\""), 1);
            let jobs = format!(
                r#"
[jobs]
repository = "{repo}"
runner = "{runner}"

[[jobs.suites]]
name = "endpoint"
command = "python3 check_endpoint.py"
timeout = "1m"

[[jobs.suites]]
name = "broken"
command = "echo 'this suite fails' >&2; exit 3"
timeout = "1m"

[[jobs.suites]]
name = "hangs"
command = "echo hanging; sleep 600"
timeout = "5s"

[jobs.release]
command = "echo released $SLIPWAY_VERSION of $SLIPWAY_CLUSTER"
timeout = "1m"
"#,
                repo = repo.display()
            );
            std::fs::write(bp.join("blueprint.toml"), format!("{toml}{jobs}")).unwrap();
        }
        Self { dir }
    }

    pub fn blueprints(&self) -> PathBuf {
        self.dir.path().join("blueprints")
    }

    pub fn server(&self, mut env: Vec<(String, String)>) -> Server {
        env.push(blueprint_dirs(&[&self.blueprints()]));
        server_with(Options {
            env,
            ..Options::default()
        })
    }
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {out:?}");
}
