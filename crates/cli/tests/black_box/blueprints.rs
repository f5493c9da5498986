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

/// A blueprint `lab` of one `terraform_data`, written into `dir`.
fn lab(dir: &Path, greeting: &str) {
    std::fs::write(
        dir.join("blueprint.toml"),
        "name = \"lab\"\ndescription = \"A lab of records\"\n[nodes]\nmin = 1\nmax = 3\ndefault = 1\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("main.tf"),
        format!(
            "variable \"cluster_name\" {{\n  type = string\n}}\n\nresource \"terraform_data\" \"lab\" {{\n  input = \"${{var.cluster_name}}: {greeting}\"\n}}\n\noutput \"endpoint\" {{\n  value = \"https://${{var.cluster_name}}.lab.example\"\n}}\n"
        ),
    )
    .unwrap();
}

/// The catalog as organizations meet it: a version published for one
/// organization is invisible to another's members and refused for their
/// clusters; `latest` is the newest until an administrator points it
/// elsewhere, and a cluster records what it resolved to; a deprecated
/// version takes no new cluster, while one that runs it keeps running, and
/// moves to another version in place.
#[test]
fn versions_are_restricted_to_organizations_latest_moves_and_deprecation_stops_new_clusters() {
    let github = slipway_testkit::github::FakeGitHub::start();
    for (login, id, org) in [("alice", 1, "org-a"), ("bob", 2, "org-b")] {
        github.add_user(login, id, &format!("gho_{login}"), &["read:org"]);
        github.set_org_membership(login, org, "active", "member");
    }
    let s = server_with_github(&github, &[]);
    for (org, gh) in [("a", "org-a"), ("b", "org-b")] {
        s.run(&["org", "create", org, "--github-org", gh])
            .expect_code(0);
    }
    let alice = sign_in(&s, "gho_alice");
    let bob = sign_in(&s, "gho_bob");
    let publish = |version: &str, greeting: &str, extra: &[&str]| {
        let dir = tempfile::tempdir().unwrap();
        lab(dir.path(), greeting);
        let mut args = vec![
            "blueprint",
            "publish",
            dir.path().to_str().unwrap(),
            "--version",
            version,
        ];
        args.extend_from_slice(extra);
        let out = s.run(&args);
        out.expect_code(0);
        out.stdout()
    };
    let published = publish("1.0.0", "for a", &["--orgs", "a"]);
    assert!(published.contains("for a;"), "{published}");

    // b's members neither see nor use it; a's do.
    let listed = s
        .run_as(&["blueprint", "list", "--json"], Some(&bob))
        .json();
    assert!(
        !listed["blueprints"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["name"] == "lab"),
        "{listed}"
    );
    let refused = s.run_as(
        &[
            "cluster",
            "create",
            "b-lab",
            "--blueprint",
            "lab",
            "--version",
            "1.0.0",
            "--org",
            "b",
            "--json",
        ],
        Some(&bob),
    );
    refused.expect_code(2);
    assert!(
        refused.error_json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("blueprint lab has no version 1.0.0"),
        "{}",
        refused.stderr()
    );
    s.run_as(
        &[
            "cluster",
            "create",
            "a-lab",
            "--blueprint",
            "lab",
            "--version",
            "1.0.0",
            "--org",
            "a",
        ],
        Some(&alice),
    )
    .expect_code(0);

    // `latest`: the newest, until pointed elsewhere; a cluster records
    // what it resolved to.
    publish("1.1.0", "one", &[]);
    publish("1.2.0", "two", &[]);
    let version_of = |cluster: &str| {
        s.run(&["status", cluster, "--json"]).json()["version"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    s.run(&[
        "cluster",
        "create",
        "newest",
        "--blueprint",
        "lab",
        "--org",
        "b",
    ])
    .expect_code(0);
    assert_eq!(version_of("newest"), "1.2.0");
    s.run(&["blueprint", "latest", "lab", "1.1.0"])
        .expect_code(0);
    s.run(&[
        "cluster",
        "create",
        "pinned",
        "--blueprint",
        "lab",
        "--org",
        "b",
    ])
    .expect_code(0);
    assert_eq!(version_of("pinned"), "1.1.0");
    s.run(&["deploy", "pinned"]).expect_code(0);

    // Deprecated: no new cluster on it; the one that runs it is deployed
    // again as it is, and moved to another version in place.
    s.run(&[
        "blueprint",
        "deprecate",
        "lab",
        "1.1.0",
        "--reason",
        "loses records",
    ])
    .expect_code(0);
    let deprecated = s.run(&[
        "cluster",
        "create",
        "late",
        "--blueprint",
        "lab",
        "--version",
        "1.1.0",
        "--json",
    ]);
    deprecated.expect_code(4);
    assert_eq!(deprecated.error_json()["error"]["code"], "deprecated");
    // A deprecated alias names nothing: `latest` is the newest usable.
    let listed = s.run(&["blueprint", "list"]).stdout();
    let row = |version: &str| {
        listed
            .lines()
            .find(|l| l.starts_with("lab") && l.split_whitespace().nth(1) == Some(version))
            .unwrap_or_else(|| panic!("no {version} row: {listed}"))
            .to_owned()
    };
    assert!(
        row("1.1.0").contains("deprecated: loses records"),
        "{listed}"
    );
    assert!(row("1.2.0").ends_with("latest"), "{listed}");
    // The cluster that runs it says so, in its status and in the list.
    let status = s.run(&["status", "pinned"]).stdout();
    assert!(
        status.contains("deprecated:    lab@1.1.0 is deprecated (loses records)"),
        "{status}"
    );
    assert_eq!(
        s.run(&["status", "pinned", "--json"]).json()["deprecated"],
        "loses records"
    );
    let clusters = s.run(&["list"]).stdout();
    let line = clusters.lines().find(|l| l.starts_with("pinned")).unwrap();
    assert!(line.contains("deprecated version"), "{clusters}");
    s.run(&["deploy", "pinned", "--nodes", "2"]).expect_code(0);
    s.run(&["deploy", "pinned", "--version", "1.2.0"])
        .expect_code(0);
    assert_eq!(version_of("pinned"), "1.2.0");
    assert!(s.run(&["status", "pinned", "--json"]).json()["deprecated"].is_null());
    s.run(&["destroy", "pinned"]).expect_code(0);

    // Newest by semantic version, not by text or by when published; and
    // `latest` looks past what the asker may not use: 1.10.0 is a's only.
    publish("1.9.0", "nine", &[]);
    publish("1.10.0", "ten", &["--orgs", "a"]);
    let order = |who: Option<&str>| -> Vec<String> {
        let listed = s.run_as(&["blueprint", "list", "--json"], who).json();
        listed["blueprints"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| b["name"] == "lab")
            .map(|b| {
                let latest = if b["latest"] == true { " latest" } else { "" };
                format!("{}{latest}", b["version"].as_str().unwrap())
            })
            .collect()
    };
    assert_eq!(
        order(Some(&alice)),
        ["1.10.0 latest", "1.9.0", "1.2.0", "1.1.0", "1.0.0"]
    );
    assert_eq!(order(Some(&bob)), ["1.9.0 latest", "1.2.0", "1.1.0"]);
    let versions = s
        .run_as(&["blueprint", "versions", "lab"], Some(&bob))
        .stdout();
    let first = versions.lines().nth(1).unwrap_or_default();
    assert!(
        first.starts_with("lab") && first.contains("1.9.0"),
        "{versions}"
    );
    // One version: what `latest` names for whoever asks; a version for
    // another organization is not there for them.
    let shown = s
        .run_as(&["blueprint", "show", "lab", "--json"], Some(&alice))
        .json();
    assert_eq!(shown["blueprint"]["version"], "1.10.0", "{shown}");
    assert_eq!(shown["blueprint"]["description"], "A lab of records");
    assert_eq!(shown["variables"], serde_json::json!([]), "{shown}");
    assert_eq!(shown["nodes"]["max"], 3, "{shown}");
    let hidden = s.run_as(
        &["blueprint", "show", "lab", "1.10.0", "--json"],
        Some(&bob),
    );
    hidden.expect_code(2);
    assert_eq!(hidden.error_json()["error"]["code"], "not_found");
    for (cluster, org, who, resolved) in [
        ("a-latest", "a", &alice, "1.10.0"),
        ("b-latest", "b", &bob, "1.9.0"),
    ] {
        s.run_as(
            &[
                "cluster",
                "create",
                cluster,
                "--blueprint",
                "lab",
                "--org",
                org,
            ],
            Some(who),
        )
        .expect_code(0);
        assert_eq!(version_of(cluster), resolved);
    }
}

/// A version published from a git repository at a ref: only that commit is
/// fetched, the blueprint taken from a directory within it, and the commit
/// said; a ref that is not there, or a path that leaves the repository, is
/// refused saying so.
#[test]
fn a_version_is_published_from_a_git_repository_at_a_ref() {
    let s = server();
    let repo = tempfile::tempdir().unwrap();
    let blueprint = repo.path().join("blueprints/lab");
    std::fs::create_dir_all(&blueprint).unwrap();
    lab(&blueprint, "from git");
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(["-c", "user.name=Lab", "-c", "user.email=lab@example.org"])
            .args(args)
            .current_dir(repo.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    git(&["init", "--quiet", "--initial-branch", "main"]);
    git(&["add", "."]);
    git(&["commit", "--quiet", "-m", "lab"]);
    let commit = git(&["rev-parse", "HEAD"]);
    let url = format!("file://{}", repo.path().display());
    let publish = |reference: &str, path: &str| {
        s.run(&[
            "blueprint",
            "publish",
            "--git",
            &url,
            "--ref",
            reference,
            "--path",
            path,
            "--version",
            "3.0.0",
        ])
    };
    let published = publish("main", "blueprints/lab");
    published.expect_code(0);
    assert!(
        published.stdout().contains(&format!(
            "Published blueprint lab version 3.0.0 from {url} at {commit}"
        )),
        "{}",
        published.stdout()
    );
    s.run(&[
        "cluster",
        "create",
        "from-git",
        "--blueprint",
        "lab",
        "--version",
        "3.0.0",
    ])
    .expect_code(0);

    let missing = publish("no-such-branch", "blueprints/lab");
    missing.expect_code(1);
    assert!(
        missing.stderr().contains("cannot fetch no-such-branch"),
        "{}",
        missing.stderr()
    );
    let outside = publish("main", "../elsewhere");
    outside.expect_code(2);
    assert!(
        outside
            .stderr()
            .contains("must be a directory within the repository"),
        "{}",
        outside.stderr()
    );
}

/// A run's AWS credentials come from a named profile of the shared files,
/// chosen by organization, else by blueprint: here a role assumed from a
/// profile whose keys carry an MFA session token, against the AWS emulator
/// (its endpoints in the config file, as a site keeps them). The module
/// reads another state through the `s3` backend of `terraform_remote_state`,
/// which only the profile's credentials reach; the keys appear in no log.
#[test]
fn runs_reach_aws_through_the_profile_of_their_organization_or_blueprint() {
    use std::os::unix::fs::PermissionsExt;
    let moto = slipway_testkit::moto::Moto::start();
    let state = serde_json::json!({
        "version": 4, "terraform_version": "1.11.0", "serial": 1,
        "lineage": "0b6c5f5e-8d1e-4b9a-9c53-5d1f0e2f7a10",
        "outputs": {"greeting": {"value": "from the research account", "type": "string"}},
        "resources": [],
    });
    let put = reqwest::blocking::Client::new()
        .put(format!(
            "{}/{}/shared/terraform.tfstate",
            moto.endpoint, moto.bucket
        ))
        .body(state.to_string())
        .send()
        .unwrap();
    assert!(put.status().is_success(), "{}", put.status());

    let aws = tempfile::tempdir().unwrap();
    let (secret_key, session_token) = (
        "wJalrXUtnFEMIK7MDENGbPxRfiCYzEXAMPLEKEY",
        "mfa-session-7f3a9c",
    );
    let credentials = aws.path().join("credentials");
    std::fs::write(
        &credentials,
        format!(
            "[base]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = {secret_key}\naws_session_token = {session_token}\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&credentials, std::fs::Permissions::from_mode(0o600)).unwrap();
    let config = aws.path().join("config");
    std::fs::write(
        &config,
        format!(
            "[profile base]\nregion = us-east-1\nservices = emulator\n\n\
             [profile research]\nrole_arn = arn:aws:iam::123456789012:role/slipway-research\nsource_profile = base\nregion = us-east-1\nservices = emulator\n\n\
             [services emulator]\nsts =\n  endpoint_url = {e}\ns3 =\n  endpoint_url = {e}\n",
            e = moto.endpoint
        ),
    )
    .unwrap();

    let blueprints = tempfile::tempdir().unwrap();
    let dir = blueprints.path().join("remote");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("blueprint.toml"),
        format!(
            "name = \"remote\"\n[nodes]\nmin = 1\nmax = 1\ndefault = 1\n[variables.state_bucket]\ntype = \"string\"\ndefault = \"{}\"\n",
            moto.bucket
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("main.tf"),
        "variable \"cluster_name\" {\n  type = string\n}\n\nvariable \"state_bucket\" {\n  type = string\n}\n\n\
         data \"terraform_remote_state\" \"shared\" {\n  backend = \"s3\"\n  config = {\n    bucket         = var.state_bucket\n    key            = \"shared/terraform.tfstate\"\n    region         = \"us-east-1\"\n    use_path_style = true\n  }\n}\n\n\
         output \"endpoint\" {\n  value = \"https://${var.cluster_name}.example\"\n}\n\n\
         output \"greeting\" {\n  value = data.terraform_remote_state.shared.outputs.greeting\n}\n",
    )
    .unwrap();
    // The directory holds the version `0.1.0`.
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("remote")).unwrap();
    std::fs::rename(&dir, root.path().join("remote/0.1.0")).unwrap();

    let s = server_with(Options {
        env: vec![
            blueprint_dirs(&[root.path()]),
            (
                "SLIPWAY_TERRAFORM__AWS__SHARED_CREDENTIALS_FILE".into(),
                credentials.display().to_string(),
            ),
            (
                "SLIPWAY_TERRAFORM__AWS__CONFIG_FILE".into(),
                config.display().to_string(),
            ),
            (
                "SLIPWAY_TERRAFORM__AWS__BLUEPRINTS".into(),
                "{remote = \"research\"}".into(),
            ),
            (
                "SLIPWAY_TERRAFORM__AWS__ORGANIZATIONS".into(),
                "{ops = \"ops-account\"}".into(),
            ),
        ],
        ..Default::default()
    });
    s.run(&["org", "create", "ops"]).expect_code(0);
    s.run(&["cluster", "create", "reader", "--blueprint", "remote"])
        .expect_code(0);
    s.run(&["deploy", "reader"]).expect_code(0);
    let status = s.run(&["status", "reader", "--json"]).json();
    assert_eq!(
        status["outputs"]["greeting"], "from the research account",
        "{status}"
    );

    // ops has a profile of its own, which this site's files do not hold:
    // the blueprint's profile is not used instead.
    s.run(&[
        "cluster",
        "create",
        "opsreader",
        "--blueprint",
        "remote",
        "--org",
        "ops",
    ])
    .expect_code(0);
    s.run(&["deploy", "opsreader"]).expect_code(1);
    let failed = s.run(&["status", "opsreader", "--json"]).json();
    let error = failed["error"].as_str().unwrap_or_default();
    assert!(error.contains("ops-account"), "{failed}");

    for cluster in ["reader", "opsreader"] {
        let log = s.run(&["logs", cluster]).stdout();
        assert!(
            !log.contains(secret_key) && !log.contains(session_token),
            "{log}"
        );
    }
    let server_log = s.log();
    assert!(!server_log.contains(secret_key) && !server_log.contains(session_token));
    s.run(&["destroy", "reader"]).expect_code(0);
}

/// Providers the way an air-gapped site installs them: from a mirror only
/// (here a filesystem mirror holding the tests' own provider, which no
/// registry has), once, into the plugin cache every run shares; each
/// version keeps the dependency lock file publishing recorded, and a
/// version whose lock file does not match the mirror's provider is refused.
#[test]
fn providers_come_from_the_mirror_once_and_every_run_holds_to_the_lock_file() {
    use std::os::unix::fs::PermissionsExt;
    let mirror = tempfile::tempdir().unwrap();
    let platform = mirror
        .path()
        .join("slipway.test/test/tiny/0.1.0/linux_amd64");
    std::fs::create_dir_all(&platform).unwrap();
    let installed = platform.join("terraform-provider-tiny_v0.1.0");
    std::fs::copy(slipway_testkit::test_provider(), &installed).unwrap();
    std::fs::set_permissions(&installed, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let s = server_with(Options {
        env: vec![
            (
                "SLIPWAY_TERRAFORM__PROVIDERS__MIRROR".into(),
                mirror.path().display().to_string(),
            ),
            (
                "SLIPWAY_TERRAFORM__PROVIDERS__PLUGIN_CACHE_DIR".into(),
                cache.path().display().to_string(),
            ),
        ],
        ..Default::default()
    });
    let tiny = |dir: &Path, suffix: &str| {
        std::fs::write(
            dir.join("blueprint.toml"),
            "name = \"tiny\"\n[nodes]\nmin = 1\nmax = 1\ndefault = 1\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("main.tf"),
            format!(
                "terraform {{\n  required_providers {{\n    tiny = {{\n      source  = \"slipway.test/test/tiny\"\n      version = \"0.1.0\"\n    }}\n  }}\n}}\n\n\
                 variable \"cluster_name\" {{\n  type = string\n}}\n\n\
                 resource \"tiny_thing\" \"name\" {{\n  input = var.cluster_name\n}}\n\n\
                 output \"endpoint\" {{\n  value = \"https://${{tiny_thing.name.output}}.{suffix}\"\n}}\n"
            ),
        )
        .unwrap();
    };
    let publish = |dir: &Path, version: &str| {
        s.run(&[
            "blueprint",
            "publish",
            dir.to_str().unwrap(),
            "--version",
            version,
            "--json",
        ])
    };
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    tiny(one.path(), "one.example");
    tiny(two.path(), "two.example");
    for (dir, version) in [(&one, "0.1.0"), (&two, "0.2.0")] {
        let published = publish(dir.path(), version);
        published.expect_code(0);
        // Validated with the provider from the mirror: nothing skipped.
        assert_eq!(
            published.json()["skipped"],
            serde_json::json!([]),
            "{}",
            published.stdout()
        );
    }

    // A lock file whose checksum is not the provider's: refused, naming it.
    let bad = tempfile::tempdir().unwrap();
    tiny(bad.path(), "bad.example");
    std::fs::write(
        bad.path().join(".terraform.lock.hcl"),
        "provider \"slipway.test/test/tiny\" {\n  version     = \"0.1.0\"\n  constraints = \"0.1.0\"\n  hashes = [\n    \"h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\",\n  ]\n}\n",
    )
    .unwrap();
    let refused = publish(bad.path(), "0.3.0");
    refused.expect_code(2);
    let message = refused.error_json()["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        message.contains(".terraform.lock.hcl")
            && message.contains("do not match the dependency lock file"),
        "{message}"
    );
    assert!(
        s.run(&["blueprint", "list", "--json"])
            .json()
            .to_string()
            .contains("0.2.0")
            && !s
                .run(&["blueprint", "list", "--json"])
                .json()
                .to_string()
                .contains("0.3.0")
    );

    // Clusters of both versions at once: each run finds the provider in
    // the shared cache, none installs it again.
    let clusters = [("t1", "0.1.0"), ("t2", "0.1.0"), ("t3", "0.2.0")];
    for (name, version) in clusters {
        s.run(&[
            "cluster",
            "create",
            name,
            "--blueprint",
            "tiny",
            "--version",
            version,
        ])
        .expect_code(0);
    }
    for (name, _) in clusters {
        s.run(&["deploy", name, "--no-wait"]).expect_code(0);
    }
    for (name, version) in clusters {
        let done = watch_until(&s, name, std::time::Duration::from_secs(180), |st| {
            st["state"] == "running" || st["state"] == "failed"
        });
        let suffix = if version == "0.1.0" { "one" } else { "two" };
        assert_eq!(
            done["endpoint"],
            format!("https://{}.{suffix}.example", name.to_uppercase()),
            "{done}"
        );
    }
    let logs: String = clusters
        .iter()
        .map(|(name, _)| s.run(&["logs", name]).stdout())
        .collect();
    assert!(
        logs.contains("Using slipway.test/test/tiny v0.1.0 from the shared cache directory"),
        "{logs}"
    );
    assert!(
        !logs.contains("Installing slipway.test/test/tiny"),
        "{logs}"
    );
    // The version keeps the lock file publishing recorded.
    let shown = s
        .run(&["blueprint", "show", "tiny", "0.1.0", "--json"])
        .json();
    assert_eq!(
        shown["providers"],
        serde_json::json!(["slipway.test/test/tiny 0.1.0"]),
        "{shown}"
    );
    assert_eq!(
        shown["files"],
        serde_json::json!([".terraform.lock.hcl", "main.tf"]),
        "{shown}"
    );
    let cached: Vec<_> = std::fs::read_dir(cache.path().join("slipway.test/test/tiny"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(cached, ["0.1.0"]);
    for (name, _) in clusters {
        s.run(&["destroy", name]).expect_code(0);
    }
}
