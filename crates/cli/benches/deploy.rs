//! Deploy + destroy of a 3-node `local` cluster through Slipway (the CLI,
//! the API, the executor, Terraform) against plain `terraform init`,
//! `apply` and `apply -destroy` of the same module, in the same run.
//!
//! `cargo bench -p slipway-cli --bench deploy` (BENCH_ITERATIONS=N, default 7).
//! Each round deploys a new cluster. Plain Terraform runs in a fresh
//! directory and pays for `init` every time; Slipway initializes a blueprint
//! version's module once and shares it between clusters. So the baseline is
//! reported both ways: with `init` (what a new cluster costs by hand) and
//! without (only `apply` and `apply -destroy`, the floor Slipway's own
//! overhead is measured against).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use slipway_testkit::server::Server;

const NODES: u32 = 3;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn run(cmd: &mut Command) {
    let out = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Plain Terraform on a copy of the local blueprint: how long `init` took,
/// and how long `apply` and `apply -destroy` took.
fn terraform_round(terraform: &Path, slipway: &Path, round: usize) -> (Duration, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let blueprint = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../blueprints/local/main.tf");
    std::fs::copy(blueprint, dir.path().join("main.tf")).unwrap();
    let vars = serde_json::json!({
        "cluster_name": format!("tf{round}"),
        "node_count": NODES,
        "slipway_bin": slipway,
        "runtime_dir": dir.path().join("runtime"),
    });
    let var_file = dir.path().join("vars.tfvars.json");
    std::fs::write(&var_file, vars.to_string()).unwrap();
    let cli_config = dir.path().join("terraform.rc");
    std::fs::write(&cli_config, "").unwrap();
    let tf = |args: &[&str]| {
        let mut cmd = Command::new(terraform);
        cmd.args(args)
            .current_dir(dir.path())
            .env("TF_IN_AUTOMATION", "1")
            .env("CHECKPOINT_DISABLE", "1")
            .env("TF_CLI_CONFIG_FILE", &cli_config);
        cmd
    };
    let var_arg = format!("-var-file={}", var_file.display());
    let start = Instant::now();
    run(&mut tf(&["init", "-input=false", "-no-color"]));
    let init = start.elapsed();
    let start = Instant::now();
    run(&mut tf(&[
        "apply",
        "-auto-approve",
        "-input=false",
        "-json",
        &var_arg,
    ]));
    run(&mut tf(&[
        "apply",
        "-destroy",
        "-auto-approve",
        "-input=false",
        "-json",
        &var_arg,
    ]));
    (init, start.elapsed())
}

fn slipway_round(server: &Server, round: usize) -> Duration {
    let name = format!("bench-{round}");
    let nodes = NODES.to_string();
    run(&mut server.cli(&[
        "cluster",
        "create",
        &name,
        "--blueprint",
        "local",
        "--nodes",
        &nodes,
    ]));
    let start = Instant::now();
    run(&mut server.cli(&["deploy", &name]));
    run(&mut server.cli(&["destroy", &name]));
    start.elapsed()
}

fn main() {
    let iterations: usize = std::env::var("BENCH_ITERATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(7);
    let slipway = PathBuf::from(env!("CARGO_BIN_EXE_slipway"));
    let terraform = slipway_testkit::terraform();
    let server = Server::start(&slipway);
    // Warm both paths once (page cache, first process start).
    terraform_round(&terraform, &slipway, 0);
    slipway_round(&server, 0);

    let (mut cold, mut warm, mut through) = (Vec::new(), Vec::new(), Vec::new());
    let mut plain_round = |round| {
        let (init, apply_destroy) = terraform_round(&terraform, &slipway, round);
        cold.push(init + apply_destroy);
        warm.push(apply_destroy);
    };
    for round in 1..=iterations {
        // Alternate the order so neither side always runs on a warmer machine.
        if round % 2 == 0 {
            plain_round(round);
            through.push(slipway_round(&server, round));
        } else {
            through.push(slipway_round(&server, round));
            plain_round(round);
        }
    }
    let (cold, warm, through) = (median(cold), median(warm), median(through));
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("deploy + destroy of a {NODES}-node local cluster, median of {iterations} rounds");
    println!("  Terraform {}", terraform.display());
    println!(
        "  plain terraform init + apply + destroy: {:>8.1} ms",
        ms(cold)
    );
    println!(
        "  plain terraform apply + destroy:        {:>8.1} ms",
        ms(warm)
    );
    println!(
        "  slipway deploy + destroy:               {:>8.1} ms",
        ms(through)
    );
    println!(
        "  ratio slipway / (init + apply + destroy): {:>6.3}",
        through.as_secs_f64() / cold.as_secs_f64()
    );
    println!(
        "  ratio slipway / (apply + destroy):        {:>6.3}",
        through.as_secs_f64() / warm.as_secs_f64()
    );
}
