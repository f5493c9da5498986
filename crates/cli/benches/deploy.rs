//! Slipway's own overhead, the way a user meets it: `slipway deploy NAME
//! --wait` + `slipway destroy NAME --wait` of a 3-node `local` cluster (the
//! CLI, the API, the queue, the executor, Terraform with Slipway's state
//! backend, the log followed back to the CLI) against plain `terraform
//! apply` + `terraform apply -destroy` of the same module with the same
//! variables, initialized once, with local state.
//!
//! `cargo bench -p slipway-cli --bench deploy` (BENCH_PAIRS=N, default 15;
//! BENCH_SLIPWAY=PATH measures that slipway binary instead of this build's;
//! BENCH_BASELINE=PATH adds another binary, e.g. an earlier commit's, to the
//! same rounds, so before and after are compared under the same load).
//!
//! Both sides are warmed once (Slipway's first deploy initializes the
//! blueprint's module; plain Terraform's `init` runs before the pairs and is
//! not counted). Then the pairs alternate which side goes first, so neither
//! always runs on a warmer machine; each pair's ratio is Slipway's time over
//! plain Terraform's, and the figure to read is the median ratio.
//!
//! Then what `init` costs a run that needs a provider (the tests' own,
//! `tests/provider`, from a filesystem mirror; skipped when it is not
//! built): from the mirror with no cache, against Slipway's way — the
//! shared plugin cache warm and the version's lock file present — with a
//! module that needs no provider as the floor.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use slipway_testkit::bench::median;
use slipway_testkit::server::{Options, Server};

const NODES: u32 = 3;
const CLUSTER: &str = "bench";

fn run(cmd: &mut Command) -> Duration {
    let start = Instant::now();
    let out = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("run");
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

/// Plain Terraform on a copy of the local blueprint, with local state.
struct Plain {
    dir: tempfile::TempDir,
    terraform: PathBuf,
    var_arg: String,
    slipway: PathBuf,
}

impl Plain {
    /// Lays the module out with the variables Slipway passes, and runs
    /// `init` once.
    fn new(terraform: &Path, slipway: &Path, server: &Server) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("slipway-bench-plain-")
            .tempdir()
            .unwrap();
        let blueprint =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../blueprints/local/main.tf");
        std::fs::copy(blueprint, dir.path().join("main.tf")).unwrap();
        // Exactly what the executor passes for the local blueprint (the
        // variables it declares): see `slipway_worker::terraform`.
        let vars = serde_json::json!({
            "cluster_name": CLUSTER,
            "node_count": NODES,
            "boot_seconds": 0,
            "is_public": false,
            "runtime_dir": dir.path().join("runtime").join(CLUSTER),
            "jwt_issuer": server.url,
            "jwks_url": format!("{}/.well-known/jwks.json", server.url),
            "revocations_url": format!("{}/.well-known/revocations", server.url),
        });
        let var_file = dir.path().join("vars.tfvars.json");
        std::fs::write(&var_file, vars.to_string()).unwrap();
        std::fs::write(dir.path().join("terraform.rc"), "").unwrap();
        let plain = Self {
            var_arg: format!("-var-file={}", var_file.display()),
            terraform: terraform.to_owned(),
            slipway: slipway.to_owned(),
            dir,
        };
        run(&mut plain.tf(&["init", "-input=false", "-no-color"]));
        plain
    }

    fn tf(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.terraform);
        cmd.args(args)
            .current_dir(self.dir.path())
            .env("TF_IN_AUTOMATION", "1")
            .env("TF_INPUT", "0")
            .env("CHECKPOINT_DISABLE", "1")
            .env("TF_CLI_CONFIG_FILE", self.dir.path().join("terraform.rc"))
            // As the executor passes it: in the environment, not a variable.
            .env("SLIPWAY_BIN", &self.slipway);
        cmd
    }

    /// `apply` + `apply -destroy`.
    fn round(&self) -> Duration {
        let apply = ["apply", "-auto-approve", "-input=false", "-json"];
        run(&mut self.tf(&[&apply[..], &[&self.var_arg]].concat()))
            + run(&mut self.tf(&[&apply[..], &["-destroy", &self.var_arg]].concat()))
    }
}

/// A server to deploy through, with the cluster defined.
fn slipway_server(bin: &Path) -> Server {
    let server = Server::start_with(
        bin,
        Options {
            env: vec![("SLIPWAY_LOG".into(), "warn".into())],
            ..Options::default()
        },
    );
    let nodes = NODES.to_string();
    run(&mut server.cli(&[
        "cluster",
        "create",
        CLUSTER,
        "--blueprint",
        "local",
        "--nodes",
        &nodes,
    ]));
    server
}

/// `slipway deploy --wait` + `slipway destroy --wait`, each timed from the
/// command's start to its exit.
fn slipway_round(server: &Server) -> Duration {
    run(&mut server.cli(&["deploy", CLUSTER, "--wait", "10m"]))
        + run(&mut server.cli(&["destroy", CLUSTER, "--wait", "10m"]))
}

fn main() {
    let pairs: usize = std::env::var("BENCH_PAIRS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(15)
        .max(1);
    // BENCH_SLIPWAY measures another build (e.g. a baseline's binary).
    let slipway = std::env::var_os("BENCH_SLIPWAY").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_slipway")),
        PathBuf::from,
    );
    // BENCH_BASELINE: a second slipway binary measured in the same rounds.
    let baseline = std::env::var_os("BENCH_BASELINE").map(PathBuf::from);
    let terraform = slipway_testkit::terraform();
    let server = slipway_server(&slipway);
    let other = baseline.as_deref().map(slipway_server);
    let plain = Plain::new(&terraform, &slipway, &server);
    // Warm every path once (Slipway's module init, the page cache).
    plain.round();
    slipway_round(&server);
    if let Some(other) = &other {
        slipway_round(other);
    }

    println!(
        "deploy + destroy of a {NODES}-node local cluster: {pairs} pairs, alternating\n  Terraform {}\n  Slipway {}",
        terraform.display(),
        slipway.display()
    );
    if let Some(baseline) = &baseline {
        println!("  baseline {}", baseline.display());
    }
    println!(
        "  pair   slipway ms     plain ms   ratio{}",
        if other.is_some() {
            "  baseline ms   ratio"
        } else {
            ""
        }
    );
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let (mut ratios, mut through, mut direct) = (Vec::new(), Vec::new(), Vec::new());
    let (mut baseline_ratios, mut baseline_times) = (Vec::new(), Vec::new());
    for pair in 1..=pairs {
        // Each pair runs its contestants in a rotated order, so none
        // always runs first (or right after another).
        let mut s = Duration::ZERO;
        let mut p = Duration::ZERO;
        let mut b = Duration::ZERO;
        let contestants = if other.is_some() { 3 } else { 2 };
        for turn in 0..contestants {
            match (pair + turn) % contestants {
                0 => s = slipway_round(&server),
                1 => p = plain.round(),
                _ => b = slipway_round(other.as_ref().expect("a baseline server")),
            }
        }
        let ratio = s.as_secs_f64() / p.as_secs_f64();
        print!("  {pair:>4} {:>12.1} {:>12.1} {ratio:>7.3}", ms(s), ms(p));
        if other.is_some() {
            let r = b.as_secs_f64() / p.as_secs_f64();
            print!(" {:>12.1} {r:>7.3}", ms(b));
            baseline_ratios.push(r);
            baseline_times.push(ms(b));
        }
        println!();
        ratios.push(ratio);
        through.push(ms(s));
        direct.push(ms(p));
    }
    let (s, p) = (median(through), median(direct));
    println!("  median slipway deploy + destroy: {s:>8.1} ms");
    println!("  median plain apply + destroy:    {p:>8.1} ms");
    println!("  median overhead per pair:        {:>8.1} ms", s - p);
    println!(
        "  median ratio slipway / plain:    {:>8.3}  (goal <= 1.05)",
        median(ratios)
    );
    if other.is_some() {
        println!(
            "  baseline: median {:>8.1} ms, median ratio baseline / plain {:>8.3}",
            median(baseline_times),
            median(baseline_ratios)
        );
    }
    provider_init(&terraform, pairs);
}

/// `terraform init` in `samples` fresh directories of a module that needs
/// the tests' provider: from the mirror with no cache, and from a warm
/// shared cache with the lock file; a module without providers as the floor.
fn provider_init(terraform: &Path, samples: usize) {
    let provider = slipway_testkit::test_provider_path();
    if !provider.is_file() {
        println!(
            "init with a provider: skipped ({} is not built; ./scripts/test builds it)",
            provider.display()
        );
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let platform = root
        .path()
        .join("mirror/slipway.test/test/tiny/0.1.0/linux_amd64");
    std::fs::create_dir_all(&platform).unwrap();
    std::fs::copy(&provider, platform.join("terraform-provider-tiny_v0.1.0")).unwrap();
    let mirror = format!(
        "provider_installation {{\n  filesystem_mirror {{\n    path = \"{}\"\n  }}\n}}\n",
        root.path().join("mirror").display()
    );
    let cache = root.path().join("cache");
    std::fs::create_dir_all(&cache).unwrap();
    let no_cache = root.path().join("no-cache.rc");
    std::fs::write(&no_cache, &mirror).unwrap();
    let cached = root.path().join("cache.rc");
    std::fs::write(
        &cached,
        format!("plugin_cache_dir = \"{}\"\n{mirror}", cache.display()),
    )
    .unwrap();
    let with_provider = "terraform {\n  required_providers {\n    tiny = {\n      source  = \"slipway.test/test/tiny\"\n      version = \"0.1.0\"\n    }\n  }\n}\n\nresource \"tiny_thing\" \"a\" {\n  input = \"x\"\n}\n";
    let without = "resource \"terraform_data\" \"a\" {\n  input = \"x\"\n}\n";
    let mut sample = 0;
    let mut init = |module: &str, config: &Path, lock: Option<&str>| {
        sample += 1;
        let dir = root.path().join(format!("m{sample}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("main.tf"), module).unwrap();
        if let Some(lock) = lock {
            std::fs::write(dir.join(".terraform.lock.hcl"), lock).unwrap();
        }
        let mut cmd = Command::new(terraform);
        cmd.args(["init", "-input=false", "-no-color", "-backend=false"])
            .current_dir(&dir)
            .env("TF_IN_AUTOMATION", "1")
            .env("CHECKPOINT_DISABLE", "1")
            .env("TF_CLI_CONFIG_FILE", config);
        if lock.is_some() {
            cmd.arg("-lockfile=readonly");
        }
        let took = run(&mut cmd);
        (
            took,
            std::fs::read_to_string(dir.join(".terraform.lock.hcl")).ok(),
        )
    };
    // Fill the cache and record the lock file once, as publishing does.
    let (_, lock) = init(with_provider, &cached, None);
    let lock = lock.expect("init records a lock file");
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let (mut cold, mut warm, mut floor) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..samples {
        cold.push(ms(init(with_provider, &no_cache, None).0));
        warm.push(ms(init(with_provider, &cached, Some(&lock)).0));
        floor.push(ms(init(without, &no_cache, None).0));
    }
    println!(
        "init of a module with a provider from a filesystem mirror: {samples} fresh directories each"
    );
    println!(
        "  median, no provider (floor):           {:>8.1} ms",
        median(floor)
    );
    println!(
        "  median, from the mirror, no cache:     {:>8.1} ms",
        median(cold)
    );
    println!(
        "  median, warm shared cache + lock file: {:>8.1} ms",
        median(warm)
    );
}
