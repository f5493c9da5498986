//! `slipway apply` of a repository with nothing to change: 50 deployments
//! × 2 environments (100 clusters of the `secretive` test blueprint, each
//! environment with its sops-encrypted secrets file), applied once, then
//! applied again and again with nothing to change — the apply a CI job runs
//! on every push. Goal: under 2 s on a two-core machine. Nothing is sent
//! for a cluster that runs as its last apply left it from the same digest
//! and version (one `GET /v1/deployments` says so), so no plan runs and the
//! caller's request rate (20/s after a burst of 200, by default) is not
//! spent. The versions are pinned, as a repository pins them: a deployment
//! on `latest` is always sent, `latest` having perhaps moved.
//!
//! The baseline, in the same run: `slipway render` of the same repository
//! (reading and merging its layers locally, no server) — the floor of any
//! apply. The figures: the median apply in seconds, and its ratio to the
//! median render.
//!
//! `cargo bench -p slipway-cli --bench apply`. Knobs: BENCH_DEPLOYMENTS
//! (default 50), BENCH_ROUNDS (default 7). Needs the real `sops`
//! (SLIPWAY_TEST_SOPS, as `./scripts/test` installs it; default: `sops` on
//! PATH). BENCH_SLIPWAY=PATH measures that slipway binary instead of this
//! build's.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use slipway_testkit::server::{Options, Server};

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Runs `cmd`, which must exit with `code`; how long it took.
fn timed(cmd: &mut Command, code: i32) -> Duration {
    let start = Instant::now();
    let out = cmd.output().expect("run");
    let took = start.elapsed();
    assert_eq!(
        out.status.code(),
        Some(code),
        "{cmd:?}\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

fn write(root: &Path, path: &str, text: &str) {
    let file = root.join(path);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(file, text).unwrap();
}

/// The repository: `deployments` deployments in staging and prod, one
/// secrets file (encrypted once by the real sops to the server's
/// recipient) in each environment of each.
fn repository(root: &Path, deployments: usize, recipient: &str) {
    write(
        root,
        "slipway.yaml",
        "organization: default\nenvironments: [staging, prod]\n",
    );
    write(
        root,
        ".sops.yaml",
        &format!("creation_rules:\n  - age: {recipient}\n"),
    );
    write(root, "secret.yaml", "password: bench-secret\n");
    let sops = std::env::var_os("SLIPWAY_TEST_SOPS").unwrap_or_else(|| "sops".into());
    let encrypted = Command::new(sops)
        .current_dir(root)
        .args(["--encrypt", "--in-place", "secret.yaml"])
        .output()
        .expect("sops (./scripts/test installs it; SLIPWAY_TEST_SOPS names it)");
    assert!(
        encrypted.status.success(),
        "{}",
        String::from_utf8_lossy(&encrypted.stderr)
    );
    let secret = std::fs::read_to_string(root.join("secret.yaml")).unwrap();
    std::fs::remove_file(root.join("secret.yaml")).unwrap();
    for i in 0..deployments {
        let d = format!("deployments/hub{i:02}");
        write(
            root,
            &format!("{d}/deployment.yaml"),
            "blueprint: secretive\nversion: \"1.0.0\"\nlifecycle: ephemeral\nttl: 8h\n",
        );
        write(
            root,
            &format!("{d}/config/common.yaml"),
            &format!("variables:\n  greeting: hello-{i}\n"),
        );
        write(root, &format!("{d}/config/prod.yaml"), "nodes: 2\n");
        for env in ["staging", "prod"] {
            write(root, &format!("{d}/secrets/{env}.yaml"), &secret);
        }
    }
}

fn main() {
    let deployments = knob("BENCH_DEPLOYMENTS", 50);
    let rounds = knob("BENCH_ROUNDS", 7);
    let slipway = std::env::var_os("BENCH_SLIPWAY").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_slipway")),
        PathBuf::from,
    );
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/blueprints");
    let server = Server::start_with(
        &slipway,
        Options {
            env: vec![
                ("SLIPWAY_LOG".into(), "warn".into()),
                (
                    "SLIPWAY_AUTH__RATE_LIMITS__API_PER_SECOND".into(),
                    std::env::var("BENCH_API_PER_SECOND").unwrap_or_else(|_| "20".into()),
                ),
                (
                    "SLIPWAY_BLUEPRINT_DIRS".into(),
                    format!("[\"{}\"]", fixtures.display()),
                ),
            ],
            ..Options::default()
        },
    );
    let recipient = server.run(&["secrets", "recipient"]).stdout();
    let repo = tempfile::tempdir().unwrap();
    repository(repo.path(), deployments, recipient.trim());
    let path = repo.path().to_str().unwrap();

    let first = timed(
        &mut server.cli(&["apply", path, "--auto-approve", "--no-test"]),
        2,
    );
    eprintln!(
        "first apply: {} clusters created and deployed in {:.1} s",
        deployments * 2,
        first.as_secs_f64()
    );
    let mut applies = Vec::new();
    let mut renders = Vec::new();
    for _ in 0..rounds {
        applies.push(timed(
            &mut server.cli(&["apply", path, "--auto-approve"]),
            0,
        ));
        renders.push(timed(&mut server.cli(&["render", path, "--json"]), 0));
    }
    let (apply, render) = (median(applies), median(renders));
    println!(
        "apply with nothing to change, {} clusters: {:.3} s (median of {rounds}; goal < 2 s); \
         render alone: {:.3} s; ratio {:.1}",
        deployments * 2,
        apply.as_secs_f64(),
        render.as_secs_f64(),
        apply.as_secs_f64() / render.as_secs_f64()
    );
}
