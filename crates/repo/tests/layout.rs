//! Repositories as a team writes them: what each cluster should be, and
//! every mistake named by file and key.

use std::path::Path;

use slipway_repo::{Lifecycle, Repository};

/// Writes `files` (path, contents) under a new directory.
fn repository(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, contents) in files {
        let at = dir.path().join(path);
        std::fs::create_dir_all(at.parent().unwrap()).unwrap();
        std::fs::write(at, contents).unwrap();
    }
    dir
}

const SITE: &str = "organization: tess\nenvironments: [staging, {name: prod, requires: staging}]\ndefaults:\n  variables:\n    region: eu\n    banner: hello\n";
const HUB: &str = "blueprint: hub\nversion: 1.2.0\npublic: true\nlifecycle: ephemeral\nttl: 8h\n";

fn good() -> tempfile::TempDir {
    repository(&[
        ("slipway.yaml", SITE),
        ("deployments/outreach/deployment.yaml", HUB),
        (
            "deployments/outreach/config/common.yaml",
            "nodes: 2\nvariables:\n  users: [a, b]\n  banner: null\n",
        ),
        (
            "deployments/outreach/config/staging.yaml",
            "version: 1.3.0\nvariables:\n  users: [tester]\n",
        ),
        (
            "deployments/outreach/secrets/prod.yaml",
            "hub:\n    password: ENC[AES256_GCM,data:xx,iv:yy,tag:zz,type:str]\nsops:\n    version: 3.11.0\n",
        ),
        (
            "deployments/research/deployment.yaml",
            "blueprint: hub\nlifecycle: persistent\n",
        ),
    ])
}

#[test]
fn each_deployment_in_each_environment_is_a_cluster_of_its_layers_merged() {
    let dir = good();
    let repo = Repository::load(dir.path()).unwrap();
    assert_eq!(repo.organization, "tess");
    let all = repo.desired(None, None).unwrap();
    let names: Vec<&str> = all.iter().map(|d| d.cluster.as_str()).collect();
    assert_eq!(
        names,
        [
            "outreach-staging",
            "outreach-prod",
            "research-staging",
            "research-prod"
        ]
    );
    let staging = &all[0];
    assert_eq!(staging.version, "1.3.0", "the environment's layer wins");
    assert_eq!(staging.nodes, Some(2));
    assert_eq!(
        serde_json::Value::Object(staging.variables.clone()),
        serde_json::json!({"region": "eu", "users": ["tester"]}),
        "lists replace, null removes, the root layer is under all"
    );
    assert!(staging.public);
    assert_eq!(
        staging.lifecycle,
        Lifecycle::Ephemeral {
            ttl: std::time::Duration::from_secs(8 * 3600)
        }
    );
    assert!(staging.secrets.is_none());
    let prod = &all[1];
    assert_eq!(
        prod.version, "1.2.0",
        "the deployment's version where no layer names one"
    );
    let secrets = prod.secrets.as_ref().expect("prod's secrets");
    assert_eq!(secrets.path, "deployments/outreach/secrets/prod.yaml");
    assert!(
        !format!("{prod:?}").contains("ENC["),
        "a secrets file's bytes are never printed"
    );
    // What the environments share is the same change in both; the whole
    // differs by the staging layer and the secrets.
    assert_eq!(staging.common_digest, prod.common_digest);
    assert_ne!(staging.digest, prod.digest);
    let research = &all[2];
    assert_eq!(research.version, "latest");
    assert_eq!(research.lifecycle, Lifecycle::Persistent);
    assert!(!research.public);
    // One environment, one deployment.
    let one = repo.desired(Some("prod"), Some("research")).unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].cluster, "research-prod");
}

#[test]
fn the_same_files_give_the_same_digests_and_a_changed_value_another() {
    let first = good();
    let again = good();
    let a = Repository::load(first.path())
        .unwrap()
        .desired(Some("staging"), Some("outreach"))
        .unwrap();
    let b = Repository::load(again.path())
        .unwrap()
        .desired(Some("staging"), Some("outreach"))
        .unwrap();
    assert_eq!(a[0].digest, b[0].digest);
    std::fs::write(
        again.path().join("deployments/outreach/config/common.yaml"),
        "nodes: 3\n",
    )
    .unwrap();
    let c = Repository::load(again.path())
        .unwrap()
        .desired(Some("staging"), Some("outreach"))
        .unwrap();
    assert_ne!(a[0].common_digest, c[0].common_digest);
}

/// Loading (and rendering) `files` fails with a message naming all of
/// `words`.
fn refused(files: &[(&str, &str)], words: &[&str]) {
    let dir = repository(files);
    let error = Repository::load(dir.path())
        .and_then(|r| r.desired(None, None))
        .expect_err("the repository is refused")
        .to_string();
    for word in words {
        assert!(error.contains(word), "{error:?} should name {word:?}");
    }
}

#[test]
fn mistakes_are_named_by_file_and_key() {
    let site = ("slipway.yaml", SITE);
    let hub = ("deployments/outreach/deployment.yaml", HUB);
    refused(
        &[
            site,
            hub,
            ("deployments/outreach/secrets/common.yaml", "a: b\n"),
        ],
        &["deployments/outreach/secrets/common.yaml", "common layer"],
    );
    refused(
        &[
            site,
            hub,
            ("deployments/outreach/config/qa.yaml", "nodes: 1\n"),
        ],
        &["deployments/outreach/config/qa.yaml", "staging, prod"],
    );
    refused(
        &[
            site,
            ("deployments/outreach/deployment.yaml", "blueprint: hub\n"),
        ],
        &[
            "deployments/outreach/deployment.yaml: lifecycle",
            "ephemeral",
            "persistent",
        ],
    );
    refused(
        &[
            site,
            (
                "deployments/outreach/deployment.yaml",
                "blueprint: hub\nlifecycle: ephemeral\n",
            ),
        ],
        &["deployment.yaml: ttl"],
    );
    refused(
        &[
            site,
            hub,
            ("deployments/outreach/config/common.yaml", "nodes: [\n"),
        ],
        &[
            "deployments/outreach/config/common.yaml",
            "does not parse",
            "line",
        ],
    );
    refused(
        &[
            site,
            hub,
            (
                "deployments/outreach/config/prod.yaml",
                "variables:\n  a: 1\nsecrets:\n  p: x\n",
            ),
        ],
        &["deployments/outreach/config/prod.yaml: secrets", "sops"],
    );
    refused(
        &[
            site,
            hub,
            ("deployments/outreach/config/prod.yaml", "nodes: many\n"),
        ],
        &[
            "deployments/outreach/config/prod.yaml: nodes",
            "whole number",
        ],
    );
    refused(
        &[
            (
                "slipway.yaml",
                "organization: tess\nenvironments: [prod, {name: staging, requires: qa}]\n",
            ),
            hub,
        ],
        &["slipway.yaml: environments[1].requires", "qa"],
    );
    refused(&[hub], &["slipway.yaml", "missing"]);
    refused(
        &[
            site,
            (
                "deployments/a-deployment-name-of-thirty-six-chars/deployment.yaml",
                "blueprint: hub\nlifecycle: persistent\n",
            ),
        ],
        &[
            "deployments/a-deployment-name-of-thirty-six-chars",
            "not a cluster name",
        ],
    );
}

#[test]
fn a_file_still_locked_by_git_crypt_is_named() {
    let dir = repository(&[
        ("slipway.yaml", SITE),
        ("deployments/outreach/deployment.yaml", HUB),
    ]);
    let locked = dir.path().join("deployments/outreach/secrets/prod.yaml");
    std::fs::create_dir_all(locked.parent().unwrap()).unwrap();
    std::fs::write(&locked, b"\0GITCRYPT\0\x01\x02binary").unwrap();
    let error = Repository::load(dir.path()).unwrap_err().to_string();
    assert!(
        error.contains("deployments/outreach/secrets/prod.yaml") && error.contains("git-crypt"),
        "{error}"
    );
}

#[test]
fn an_unknown_environment_or_deployment_asked_for_is_named() {
    let dir = good();
    let repo = Repository::load(dir.path()).unwrap();
    let e = repo.desired(Some("qa"), None).unwrap_err().to_string();
    assert!(e.contains("qa") && e.contains("staging, prod"), "{e}");
    let e = repo.desired(None, Some("nope")).unwrap_err().to_string();
    assert!(e.contains("nope"), "{e}");
}

#[test]
fn the_documented_example_loads() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/repository");
    let repo = Repository::load(&example).unwrap();
    let all = repo.desired(None, None).unwrap();
    assert_eq!(all.len(), 4, "two deployments in staging and prod");
    assert!(all.iter().any(|d| d.lifecycle == Lifecycle::Persistent));
    assert!(
        all.iter()
            .any(|d| matches!(d.lifecycle, Lifecycle::Ephemeral { .. }) && d.public)
    );
}
