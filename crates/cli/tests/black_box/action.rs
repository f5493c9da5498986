//! The GitHub Action (`.github/actions/slipway`) and the example
//! repository's workflows (`examples/repository/.github/workflows`):
//! actionlint, zizmor and ShellCheck find nothing in them (and do find
//! what they should), and the action's scripts drive a real server as a
//! workflow's steps would, reading the action's outputs from
//! `$GITHUB_OUTPUT`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::project::Project;
use crate::common::*;

/// The repository's root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn action_dir() -> PathBuf {
    root().join(".github/actions/slipway")
}

fn example_workflows() -> Vec<PathBuf> {
    let dir = root().join("examples/repository/.github/workflows");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    files.sort();
    files
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs a checker; its exit status and both outputs.
fn check(program: &Path, args: &[&str], dir: &Path) -> Output {
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", program.display()))
}

#[track_caller]
fn assert_passes(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} found something:\n{}\n{}",
        stdout(out),
        stderr(out)
    );
}

/// Writes `files` under `root`.
fn write_files(root: &Path, files: &[(&str, &str)]) {
    for (path, contents) in files {
        let at = root.join(path);
        std::fs::create_dir_all(at.parent().unwrap()).unwrap();
        std::fs::write(at, contents).unwrap();
    }
}

/// A repository where the example workflows use the action from this
/// checkout (`./.github/actions/slipway`) instead of by commit, so that
/// actionlint checks each `with:` against the action's inputs.
fn workflows_using_the_local_action() -> tempfile::TempDir {
    let repo = tempfile::tempdir().unwrap();
    // actionlint looks for the repository's root.
    let init = Command::new("git")
        .args(["init", "--quiet"])
        .current_dir(repo.path())
        .output()
        .unwrap();
    assert!(init.status.success(), "{init:?}");
    let action = repo.path().join(".github/actions/slipway");
    std::fs::create_dir_all(&action).unwrap();
    for entry in std::fs::read_dir(action_dir()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), action.join(entry.file_name())).unwrap();
    }
    let workflows = repo.path().join(".github/workflows");
    std::fs::create_dir_all(&workflows).unwrap();
    let pinned = "uses: slipway-dev/slipway/.github/actions/slipway@";
    for file in example_workflows() {
        let text = std::fs::read_to_string(&file).unwrap();
        let mut uses = 0;
        let local: Vec<String> = text
            .lines()
            .map(|line| match line.split_once(pinned) {
                Some((indent, rest)) => {
                    let sha = &rest[..rest.find(' ').unwrap_or(rest.len())];
                    assert!(
                        sha.len() == 40 && sha.bytes().all(|b| b.is_ascii_hexdigit()),
                        "{}: the action is pinned by a full commit SHA, not {sha:?}",
                        file.display()
                    );
                    uses += 1;
                    format!("{indent}uses: ./.github/actions/slipway")
                }
                None => line.to_owned(),
            })
            .collect();
        assert!(uses > 0, "{} does not use the action", file.display());
        std::fs::write(workflows.join(file.file_name().unwrap()), local.join("\n")).unwrap();
    }
    repo
}

#[test]
fn actionlint_finds_nothing_in_the_workflows_and_checks_their_inputs_against_the_action() {
    let actionlint = slipway_testkit::python_tool("actionlint");
    let shellcheck = slipway_testkit::python_tool("shellcheck");
    let shellcheck = shellcheck.to_str().unwrap();
    let examples: Vec<String> = example_workflows()
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    assert_eq!(
        examples
            .iter()
            .map(|p| Path::new(p).file_name().unwrap().to_str().unwrap())
            .collect::<Vec<_>>(),
        [
            "nightly.yml",
            "promote.yml",
            "pull-request.yml",
            "staging.yml"
        ]
    );
    // As committed (the action by commit), with ShellCheck on every `run:`.
    let mut args = vec!["-shellcheck", shellcheck, "-pyflakes", ""];
    args.extend(examples.iter().map(String::as_str));
    assert_passes(&check(&actionlint, &args, &root()), "actionlint");

    // With the action from this checkout: every input given is one the
    // action has, and every required one is given.
    let repo = workflows_using_the_local_action();
    let lint = ["-shellcheck", shellcheck, "-pyflakes", ""];
    assert_passes(&check(&actionlint, &lint, repo.path()), "actionlint");

    // It would say so: an input the action does not have.
    let promote = repo.path().join(".github/workflows/promote.yml");
    let text = std::fs::read_to_string(&promote).unwrap();
    std::fs::write(
        &promote,
        text.replace(
            "          to: prod\n",
            "          to: prod\n          target: prod\n",
        ),
    )
    .unwrap();
    let wrong = check(&actionlint, &lint, repo.path());
    assert!(
        !wrong.status.success() && stdout(&wrong).contains(r#"input "target" is not defined"#),
        "{}",
        stdout(&wrong)
    );
}

#[test]
fn zizmor_finds_nothing_in_the_action_and_the_workflows_even_as_an_auditor() {
    let zizmor = slipway_testkit::python_tool("zizmor");
    // Offline: the online audits would look the (placeholder) commits up.
    let args = [
        "--offline",
        "--strict-collection",
        "--persona",
        "auditor",
        "--no-progress",
        ".github",
        "examples/repository/.github",
    ];
    let out = check(&zizmor, &args, &root());
    assert_passes(&out, "zizmor");
    for audited in [
        ".github/actions/slipway/action.yml",
        "nightly.yml",
        "promote.yml",
        "pull-request.yml",
        "staging.yml",
    ] {
        assert!(stderr(&out).contains(audited), "{}", stderr(&out));
    }

    // It would say so: an input written into a step's script.
    let repo = workflows_using_the_local_action();
    let action = repo.path().join(".github/actions/slipway/action.yml");
    let text = std::fs::read_to_string(&action).unwrap();
    std::fs::write(
        &action,
        text.replace(
            r#"run: bash "$GITHUB_ACTION_PATH/run.sh""#,
            r#"run: bash "$GITHUB_ACTION_PATH/run.sh" ${{ inputs.command }}"#,
        ),
    )
    .unwrap();
    let injected = check(
        &zizmor,
        &["--offline", "--no-progress", ".github"],
        repo.path(),
    );
    assert!(
        !injected.status.success() && stdout(&injected).contains("template-injection"),
        "{}",
        stdout(&injected)
    );
}

#[test]
fn shellcheck_finds_nothing_in_the_actions_scripts() {
    let shellcheck = slipway_testkit::python_tool("shellcheck");
    let out = check(&shellcheck, &["install.sh", "run.sh"], &action_dir());
    assert_passes(&out, "shellcheck");
}

/// What a step of the action did: its exit code, output and outputs.
struct Step {
    output: Output,
    outputs: HashMap<String, String>,
    /// `$RUNNER_TEMP`, where the plan is: kept as long as the step.
    _temp: tempfile::TempDir,
}

impl Step {
    fn code(&self) -> i32 {
        self.output.status.code().unwrap_or(-1)
    }

    fn stdout(&self) -> String {
        stdout(&self.output)
    }

    fn stderr(&self) -> String {
        stderr(&self.output)
    }

    fn get(&self, name: &str) -> &str {
        self.outputs.get(name).map_or("", String::as_str)
    }

    #[track_caller]
    fn expect(&self, code: i32, outputs: &[(&str, &str)]) -> &Self {
        assert_eq!(
            self.code(),
            code,
            "exit code; stdout:\n{}\nstderr:\n{}",
            self.stdout(),
            self.stderr()
        );
        for (name, value) in outputs {
            assert_eq!(self.get(name), *value, "output {name}: {:?}", self.outputs);
        }
        self
    }
}

/// Runs one of the action's scripts as its step would: `env` as the
/// action.yml's `env:` gives it, in `dir` (the workspace), with the
/// `slipway` under test first on PATH, `$GITHUB_OUTPUT` and `$RUNNER_TEMP`
/// fresh, and nothing of the environment this test runs in that the
/// runner would set.
fn step(script: &str, dir: &Path, env: &[(&str, &str)]) -> Step {
    let temp = tempfile::tempdir().unwrap();
    let outputs_file = temp.path().join("github_output");
    std::fs::write(&outputs_file, "").unwrap();
    let path = format!(
        "{}:{}",
        slipway().parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut command = Command::new("bash");
    command
        .arg(action_dir().join(script))
        .current_dir(dir)
        .env("PATH", path)
        .env("XDG_CONFIG_HOME", temp.path().join("config"))
        .stdin(std::process::Stdio::null());
    for (key, _) in std::env::vars() {
        if key.starts_with("INPUT_")
            || key.starts_with("GITHUB_")
            || key.starts_with("SLIPWAY_")
            || key.starts_with("RUNNER_")
        {
            command.env_remove(key);
        }
    }
    command
        .env("GITHUB_OUTPUT", &outputs_file)
        .env("RUNNER_TEMP", temp.path())
        .envs(env.iter().copied());
    let output = command.output().unwrap();
    let outputs = std::fs::read_to_string(&outputs_file)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    Step {
        output,
        outputs,
        _temp: temp,
    }
}

/// An API token for the action, as an administrator makes one for CI.
fn ci_token(s: &Server) -> String {
    let created = s.run(&["token", "create", "--name", "ci", "--scope", "*", "--json"]);
    created.expect_code(0);
    created.json()["secret"].as_str().unwrap().to_owned()
}

fn assert_jq() {
    assert!(
        installed("jq"),
        "the action's run.sh needs jq (GitHub's runners have it): apt-get install jq"
    );
}

#[test]
fn the_action_applies_tests_and_promotes_a_repository_and_cycles_a_transient_cluster() {
    assert_jq();
    let s = server();
    let token = ci_token(&s);
    let repo = tempfile::tempdir().unwrap();
    write_files(
        repo.path(),
        &[
            (
                "slipway.yaml",
                "organization: default\nenvironments: [staging, {name: prod, requires: staging}]\n",
            ),
            (
                "deployments/hub/deployment.yaml",
                "blueprint: local\nlifecycle: ephemeral\nttl: 2h\n",
            ),
            (
                "deployments/hub/config/common.yaml",
                "nodes: 1\nvariables:\n  boot_seconds: 0\n",
            ),
        ],
    );
    // Everything the steps said, but the mask (which the runner eats).
    let mask = format!("::add-mask::{token}");
    let mut seen = Vec::new();
    let mut run = |inputs: &[(&str, &str)]| {
        let mut env = vec![("SLIPWAY_URL", s.url.as_str()), ("SLIPWAY_TOKEN", &token)];
        env.extend_from_slice(inputs);
        let done = step("run.sh", repo.path(), &env);
        seen.push((done.stdout() + &done.stderr()).replace(&mask, ""));
        done
    };

    // A pull request's plan: exit 2 is a success, the plan in a file.
    let planned = run(&[
        ("INPUT_COMMAND", "apply"),
        ("INPUT_ENVIRONMENT", "staging"),
        ("INPUT_DRY_RUN", "true"),
    ]);
    planned.expect(0, &[("exit-code", "2"), ("changed", "true")]);
    let plan = std::fs::read_to_string(planned.get("plan")).unwrap();
    assert!(
        plan.contains("hub-staging (hub in staging): to create and deploy"),
        "{plan}"
    );
    assert_eq!(
        s.run(&["status", "hub-staging", "--json"]).error_json()["error"]["code"],
        "not_found",
        "a dry run changes nothing"
    );

    // Merged: applied, then again with nothing to change.
    let applied = run(&[
        ("INPUT_COMMAND", "apply"),
        ("INPUT_ENVIRONMENT", "staging"),
        ("INPUT_DEPLOYMENT", "hub"),
    ]);
    applied.expect(0, &[("exit-code", "2"), ("changed", "true")]);
    assert_eq!(
        s.run(&["status", "hub-staging", "--json"]).json()["state"],
        "running"
    );
    // On a runner, the token is masked before anything else is said.
    let again = run(&[
        ("INPUT_COMMAND", "apply"),
        ("INPUT_ENVIRONMENT", "staging"),
        ("GITHUB_ACTIONS", "true"),
    ]);
    again.expect(0, &[("exit-code", "0"), ("changed", "false")]);
    assert!(again.stdout().contains("Nothing to change"));
    assert_eq!(again.stdout().lines().next(), Some(mask.as_str()));

    // Staging tested at a version, then promoted to prod (which the server
    // allows only once staging was tested green since its apply).
    let tested = run(&[
        ("INPUT_COMMAND", "test"),
        ("INPUT_DEPLOYMENT", "hub"),
        ("INPUT_ENVIRONMENT", "staging"),
        ("INPUT_VERSION", "v1"),
    ]);
    tested.expect(0, &[("exit-code", "0"), ("cluster", "hub-staging")]);
    assert!(
        tested.stdout().contains("test of hub-staging at v1"),
        "{}",
        tested.stdout()
    );
    run(&[
        ("INPUT_COMMAND", "promote"),
        ("INPUT_DEPLOYMENT", "hub"),
        ("INPUT_FROM", "staging"),
        ("INPUT_TO", "prod"),
    ])
    .expect(0, &[("exit-code", "2"), ("changed", "true")]);
    assert_eq!(
        s.run(&["status", "hub-prod", "--json"]).json()["state"],
        "running"
    );

    // The nightly cycle: a transient cluster of staging's layers, two
    // nodes, deployed with a ttl, tested at the commit, destroyed, forgotten.
    let cycled = run(&[
        ("INPUT_COMMAND", "cycle"),
        ("INPUT_DEPLOYMENT", "hub"),
        ("INPUT_ENVIRONMENT", "staging"),
        ("INPUT_CLUSTER", "hub-nightly"),
        ("INPUT_NODES", "2"),
        ("INPUT_TTL", "1h"),
        ("GITHUB_SHA", "0123abc"),
    ]);
    cycled.expect(0, &[("exit-code", "0"), ("cluster", "hub-nightly")]);
    let said = cycled.stdout();
    for line in [
        "Defined cluster hub-nightly (local@",
        "2 node(s), organization default)",
        "destroy scheduled at",
        "test of hub-nightly at 0123abc",
        "): passed",
        "hub-nightly is absent",
        "Removed cluster hub-nightly",
    ] {
        assert!(said.contains(line), "no {line:?} in:\n{said}");
    }
    assert_eq!(
        s.run(&["status", "hub-nightly", "--json"]).error_json()["error"]["code"],
        "not_found",
        "the transient cluster is forgotten"
    );
    assert!(cluster_processes(&s, "hub-nightly").is_empty());
    assert_eq!(
        s.run(&["status", "hub-staging", "--json"]).json()["state"],
        "running",
        "staging itself is not touched"
    );

    // The token was never shown.
    for (i, text) in seen.iter().enumerate() {
        assert!(!text.contains(&token), "step {i} shows the token:\n{text}");
    }
    assert!(!plan.contains(&token));
}

#[test]
fn a_cycle_whose_tests_fail_still_destroys_its_cluster_and_fails() {
    assert_jq();
    let project = Project::new();
    let s = project.server(vec![]);
    let token = ci_token(&s);
    let repo = tempfile::tempdir().unwrap();
    write_files(
        repo.path(),
        &[
            (
                "slipway.yaml",
                "organization: default\nenvironments: [staging]\n",
            ),
            (
                "deployments/suite/deployment.yaml",
                "blueprint: runs-process\nlifecycle: ephemeral\nttl: 2h\n",
            ),
            ("deployments/suite/config/common.yaml", "nodes: 1\n"),
        ],
    );
    // Its blueprint's suites: one passes, one fails, one hangs past its limit.
    let failed = step(
        "run.sh",
        repo.path(),
        &[
            ("SLIPWAY_URL", s.url.as_str()),
            ("SLIPWAY_TOKEN", &token),
            ("INPUT_COMMAND", "cycle"),
            ("INPUT_DEPLOYMENT", "suite"),
            ("INPUT_ENVIRONMENT", "staging"),
            ("GITHUB_RUN_ID", "4711"),
            ("INPUT_VERSION", "v1"),
        ],
    );
    failed.expect(1, &[("exit-code", "1"), ("cluster", "suite-ci-4711")]);
    assert!(
        failed.stdout().contains("): failed")
            && failed.stdout().contains("suite-ci-4711 is absent"),
        "{}",
        failed.stdout()
    );
    assert_eq!(
        s.run(&["status", "suite-ci-4711", "--json"]).error_json()["error"]["code"],
        "not_found"
    );
    assert!(cluster_processes(&s, "suite-ci-4711").is_empty());
}

#[test]
fn without_a_token_or_with_a_wrong_command_the_action_says_so_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let server = ("SLIPWAY_URL", "http://127.0.0.1:9");
    let untokened = step("run.sh", dir.path(), &[server, ("INPUT_COMMAND", "apply")]);
    untokened.expect(2, &[("exit-code", "2")]);
    assert!(
        untokened
            .stderr()
            .contains("::error::slipway action: no token"),
        "{}",
        untokened.stderr()
    );
    let empty = step(
        "run.sh",
        dir.path(),
        &[server, ("SLIPWAY_TOKEN", ""), ("INPUT_COMMAND", "apply")],
    );
    empty.expect(2, &[("exit-code", "2")]);
    assert!(empty.stderr().contains("no token"), "{}", empty.stderr());
    let unknown = step(
        "run.sh",
        dir.path(),
        &[server, ("SLIPWAY_TOKEN", "t"), ("INPUT_COMMAND", "deploy")],
    );
    unknown.expect(2, &[("exit-code", "2")]);
    assert!(
        unknown
            .stderr()
            .contains("command must be apply, promote, test or cycle; got: deploy"),
        "{}",
        unknown.stderr()
    );
}

#[test]
fn install_puts_a_release_artifact_on_path_checked_by_its_sha256_and_version() {
    use sha2::Digest as _;
    let dir = tempfile::tempdir().unwrap();
    // A release artifact: a .tar.gz holding a slipway (a stand-in).
    let dist = dir.path().join("dist/slipway-9.9.9");
    std::fs::create_dir_all(&dist).unwrap();
    std::fs::write(dist.join("slipway"), "#!/bin/sh\necho 'slipway 9.9.9'\n").unwrap();
    let archive = dir.path().join("slipway.tar.gz");
    let tar = Command::new("tar")
        .arg("-czf")
        .arg(&archive)
        .arg("-C")
        .arg(dir.path().join("dist"))
        .arg("slipway-9.9.9")
        .output()
        .unwrap();
    assert!(tar.status.success(), "{tar:?}");
    let sha256 = hex::encode(sha2::Sha256::digest(std::fs::read(&archive).unwrap()));
    let url = format!("file://{}", archive.display());
    let install = |more: &[(&str, &str)]| {
        let gh_path = dir.path().join("github_path");
        std::fs::write(&gh_path, "").unwrap();
        let mut env = vec![
            ("INPUT_INSTALL", url.as_str()),
            ("GITHUB_PATH", gh_path.to_str().unwrap()),
        ];
        env.extend_from_slice(more);
        let done = step("install.sh", dir.path(), &env);
        (done, std::fs::read_to_string(&gh_path).unwrap())
    };

    let (installed, gh_path) = install(&[
        ("INPUT_INSTALL_SHA256", &sha256),
        ("INPUT_SLIPWAY_VERSION", "9.9.9"),
    ]);
    installed.expect(0, &[]);
    let bin = Path::new(gh_path.trim()).join("slipway");
    let version = Command::new(&bin).arg("--version").output().unwrap();
    assert_eq!(
        stdout(&version).trim(),
        "slipway 9.9.9",
        "{}",
        bin.display()
    );

    let (tampered, gh_path) = install(&[("INPUT_INSTALL_SHA256", &"0".repeat(64))]);
    tampered.expect(1, &[]);
    assert!(
        tampered.stderr().contains("does not have the SHA-256"),
        "{}",
        tampered.stderr()
    );
    assert_eq!(gh_path, "", "nothing is put on PATH");

    let (other, _) = install(&[("INPUT_SLIPWAY_VERSION", "1.0.0")]);
    other.expect(1, &[]);
    assert!(
        other
            .stderr()
            .contains("wanted slipway 1.0.0, got: slipway 9.9.9"),
        "{}",
        other.stderr()
    );

    // `none`: the slipway already on PATH (here, the one under test).
    let (none, gh_path) = install(&[("INPUT_INSTALL", "none")]);
    none.expect(0, &[]);
    assert_eq!(
        Path::new(gh_path.trim()),
        slipway().parent().unwrap(),
        "{}",
        none.stdout()
    );
}
