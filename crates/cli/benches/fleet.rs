//! A fleet at once: BENCH_CLUSTERS new clusters (default 500) of a
//! blueprint that starts no process (one `terraform_data`), deployed then
//! destroyed through one server at `executor.max_concurrent` =
//! BENCH_CONCURRENT (default 4), against the same Terraform commands —
//! `init`, `apply`, then `apply -destroy`, in a directory per cluster, local
//! state — run by `xargs -P` at the same concurrency.
//!
//! `cargo bench -p slipway-cli --bench fleet` (BENCH_SLIPWAY: another build
//! of `slipway` to measure, an earlier commit's). Prints both wall times
//! and the throughput ratio (plain's time over Slipway's; goal >= 0.95),
//! the server's own CPU per operation (Terraform's apart), and its peak
//! memory per operation in flight.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use slipway_testkit::bench::{server, setting};

const MODULE: &str = r#"variable "cluster_name" {
  type = string
}

resource "terraform_data" "cluster" {
  input = var.cluster_name
}

output "endpoint" {
  value = "https://${var.cluster_name}.fleet.example"
}
"#;

/// The process's own CPU time and its waited-for children's, in seconds.
fn cpu_seconds(pid: u32) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) in parentheses.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<f64> = after
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0.0))
        .collect();
    // utime, stime, cutime, cstime are fields 14..=17 (1-based), i.e. 11..=14
    // after the state field.
    let tick = 100.0;
    let get = |i: usize| fields.get(i).copied().unwrap_or(0.0) / tick;
    (get(11) + get(12), get(13) + get(14))
}

fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    let clusters = setting("BENCH_CLUSTERS", 500);
    let concurrent = setting("BENCH_CONCURRENT", 4);
    let root = tempfile::tempdir().unwrap();
    let blueprint = root.path().join("blueprints/fleet/1.0.0");
    std::fs::create_dir_all(&blueprint).unwrap();
    std::fs::write(
        blueprint.join("blueprint.toml"),
        "name = \"fleet\"\n[nodes]\nmin = 1\nmax = 1\ndefault = 1\n",
    )
    .unwrap();
    std::fs::write(blueprint.join("main.tf"), MODULE).unwrap();
    let terraform = slipway_testkit::terraform();
    println!(
        "{clusters} clusters of one terraform_data each, deployed then destroyed, {concurrent} at a time"
    );

    // Plain Terraform, by xargs -P.
    let plain_root = root.path().join("plain");
    for i in 0..clusters {
        let dir = plain_root.join(format!("c{i:04}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("main.tf"), MODULE).unwrap();
        std::fs::write(
            dir.join("vars.tfvars.json"),
            serde_json::json!({"cluster_name": format!("c{i:04}")}).to_string(),
        )
        .unwrap();
    }
    std::fs::write(root.path().join("empty.rc"), "").unwrap();
    let xargs = |script: &str| {
        let list: String = (0..clusters)
            .map(|i| format!("{}\n", plain_root.join(format!("c{i:04}")).display()))
            .collect();
        let mut child = Command::new("xargs")
            .args([
                "-P",
                &concurrent.to_string(),
                "-n",
                "1",
                "sh",
                "-c",
                script,
                "sh",
            ])
            .env("TERRAFORM", &terraform)
            .env("TF_IN_AUTOMATION", "1")
            .env("TF_INPUT", "0")
            .env("CHECKPOINT_DISABLE", "1")
            .env("TF_CLI_CONFIG_FILE", root.path().join("empty.rc"))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("xargs");
        use std::io::Write as _;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(list.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success(), "plain Terraform failed");
    };
    let started = Instant::now();
    xargs(
        "cd \"$1\" && \"$TERRAFORM\" init -input=false >/dev/null && \"$TERRAFORM\" apply -auto-approve -input=false -var-file=vars.tfvars.json >/dev/null",
    );
    xargs(
        "cd \"$1\" && \"$TERRAFORM\" apply -destroy -auto-approve -input=false -var-file=vars.tfvars.json >/dev/null",
    );
    let plain = started.elapsed();

    // Slipway.
    let slipway = std::env::var_os("BENCH_SLIPWAY").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_slipway")),
        PathBuf::from,
    );
    let server = server(
        &slipway,
        &[
            (
                "SLIPWAY_BLUEPRINT_DIRS",
                root.path().join("blueprints").display().to_string(),
            ),
            ("SLIPWAY_EXECUTOR__MAX_CONCURRENT", concurrent.to_string()),
        ],
    );
    let pid = server.pid().expect("the server runs");
    let names: Vec<String> = (0..clusters).map(|i| format!("c{i:04}")).collect();
    for name in &names {
        server.api(
            "POST",
            "/v1/clusters",
            Some(serde_json::json!({"name": name, "blueprint": "fleet"})),
        );
    }
    // Everything settled: count only what the fleet costs.
    let in_state = |wanted: &str| -> usize {
        let (mut count, mut cursor) = (0, String::new());
        loop {
            let page = server.api(
                "GET",
                &if cursor.is_empty() {
                    format!("/v1/clusters?limit=500&state={wanted}")
                } else {
                    format!("/v1/clusters?limit=500&state={wanted}&cursor={cursor}")
                },
                None,
            );
            count += page["clusters"].as_array().map_or(0, Vec::len);
            match page["next_cursor"].as_str() {
                Some(next) => cursor = next.to_owned(),
                None => return count,
            }
        }
    };
    let wait_all = |wanted: &str| {
        while in_state(wanted) < clusters {
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let (cpu_before, children_before) = cpu_seconds(pid);
    let started = Instant::now();
    for name in &names {
        server.api(
            "POST",
            &format!("/v1/clusters/{name}/deploy"),
            Some(serde_json::json!({})),
        );
    }
    wait_all("running");
    for name in &names {
        server.api(
            "POST",
            &format!("/v1/clusters/{name}/destroy"),
            Some(serde_json::json!({})),
        );
    }
    wait_all("absent");
    let through = started.elapsed();
    let (cpu_after, children_after) = cpu_seconds(pid);
    let operations = (2 * clusters) as f64;
    println!(
        "  plain (xargs -P {concurrent}): {:.1} s; Slipway: {:.1} s; throughput ratio plain / Slipway {:.2} (goal >= 0.95)",
        plain.as_secs_f64(),
        through.as_secs_f64(),
        plain.as_secs_f64() / through.as_secs_f64()
    );
    println!(
        "  Slipway's own CPU per operation: {:.1} ms (Terraform's, its children: {:.1} ms)",
        (cpu_after - cpu_before) / operations * 1e3,
        (children_after - children_before) / operations * 1e3
    );
    println!(
        "  server peak resident memory {:.0} MiB: {:.1} MiB per operation in flight ({concurrent})",
        peak_rss_mib(pid),
        peak_rss_mib(pid) / concurrent as f64
    );
}
