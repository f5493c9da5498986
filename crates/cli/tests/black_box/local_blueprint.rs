//! The embedded `local` blueprint, run through real Terraform with real
//! `slipway node` processes: deploy, scale in place both ways, survive an
//! interrupted apply (a tainted node), destroy leaving nothing behind; nodes
//! only their gateway can reach; nothing to change when another process (a
//! different `slipway` executable) plans it.
//!
//! Terraform runs directly here (not through Slipway), to pin down what the
//! blueprint itself does.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use nix::sys::signal::Signal;

use crate::common::{listening_tcp_ports, unix_get};
use serde_json::{Value, json};
use slipway_gateway::node::NodeState;

const CLUSTER: &str = "bp-test";

fn slipway_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_slipway"))
}

fn blueprint_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../blueprints/local")
}

/// A working directory with the blueprint, its runtime directory, and the
/// executables. Stops every node of the runtime directory when dropped, so a
/// failing test leaves no process behind.
struct Deployment {
    tmp: tempfile::TempDir,
    work: PathBuf,
    runtime: PathBuf,
    slipway: PathBuf,
    terraform: PathBuf,
    cli_config: PathBuf,
}

impl Deployment {
    fn new() -> Self {
        let slipway = slipway_bin();
        let terraform = slipway_testkit::terraform();
        let tmp = tempfile::Builder::new()
            .prefix("slipway-local-bp-")
            .tempdir()
            .unwrap();
        // A space in the path proves nothing needs shell quoting.
        let work = tmp.path().join("work dir");
        std::fs::create_dir(&work).unwrap();
        // The cluster's module: the root files (`runner/` is another module).
        for entry in std::fs::read_dir(blueprint_dir()).unwrap() {
            let entry = entry.unwrap();
            if entry.path().is_file() {
                std::fs::copy(entry.path(), work.join(entry.file_name())).unwrap();
            }
        }
        let cli_config = tmp.path().join("terraformrc");
        std::fs::write(&cli_config, "").unwrap();
        let deployment = Self {
            runtime: tmp.path().join("runtime dir"),
            tmp,
            work,
            slipway,
            terraform,
            cli_config,
        };
        deployment.terraform_ok(&["init", "-input=false", "-no-color"]);
        deployment
    }

    /// Terraform as Slipway runs it: the `slipway` executable in the
    /// environment (`SLIPWAY_BIN`), never a variable.
    fn terraform_command(&self, args: &[&str]) -> Command {
        self.terraform_command_with(args, &self.slipway)
    }

    fn terraform_command_with(&self, args: &[&str], slipway: &Path) -> Command {
        let mut command = Command::new(&self.terraform);
        command
            .args(args)
            .current_dir(&self.work)
            .env("SLIPWAY_BIN", slipway)
            .env("TF_CLI_CONFIG_FILE", &self.cli_config)
            .env("TF_IN_AUTOMATION", "1")
            .env("CHECKPOINT_DISABLE", "1")
            .stdin(Stdio::null());
        command
    }

    fn terraform(&self, args: &[&str]) -> Output {
        self.terraform_command(args).output().unwrap()
    }

    fn terraform_ok(&self, args: &[&str]) -> String {
        let output = self.terraform(args);
        assert!(
            output.status.success(),
            "terraform {args:?} failed ({}):\n{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// Writes the variables Slipway would pass and returns the file's name.
    fn write_vars(&self, nodes: u32) -> &'static str {
        let vars = json!({
            "cluster_name": CLUSTER,
            "node_count": nodes,
            "runtime_dir": self.runtime,
        });
        std::fs::write(self.work.join("slipway.tfvars.json"), vars.to_string()).unwrap();
        "-var-file=slipway.tfvars.json"
    }

    fn apply(&self, nodes: u32) -> String {
        let vars = self.write_vars(nodes);
        self.terraform_ok(&["apply", "-auto-approve", "-input=false", "-no-color", vars])
    }

    fn destroy(&self) -> String {
        self.terraform_ok(&[
            "apply",
            "-destroy",
            "-auto-approve",
            "-input=false",
            "-no-color",
            "-var-file=slipway.tfvars.json",
        ])
    }

    fn outputs(&self) -> Value {
        serde_json::from_str(&self.terraform_ok(&["output", "-json"])).unwrap()
    }

    /// Checks the outputs: the endpoint is the gateway, and no node's
    /// address is among them.
    fn check_outputs(&self) {
        let outputs = self.outputs();
        let gateway: Value = serde_json::from_str(
            &std::fs::read_to_string(self.runtime.join("gateway.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(
            outputs["endpoint"]["value"], gateway["url"],
            "the endpoint is the gateway's URL"
        );
        let names: Vec<&String> = outputs.as_object().unwrap().keys().collect();
        assert_eq!(names, ["endpoint"], "only the gateway is shown: {outputs}");
    }

    fn state_file(&self, index: u32) -> PathBuf {
        self.runtime.join(format!("node-{index}.json"))
    }

    fn node_state(&self, index: u32) -> NodeState {
        NodeState::read(&self.state_file(index))
            .unwrap()
            .unwrap_or_else(|| panic!("node {index} has no state file"))
    }

    /// Checks the cluster has exactly `nodes` healthy nodes, in order, each
    /// its own live process; returns their pids.
    fn check_healthy(&self, nodes: u32) -> Vec<u32> {
        self.check_outputs();
        assert_eq!(
            std::fs::metadata(&self.runtime)
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o700,
            "the runtime directory is private"
        );
        let mut pids = Vec::new();
        for index in 0..nodes {
            let state = self.node_state(index);
            let socket = self.runtime.join(format!("node-{index}.sock"));
            assert_eq!(
                state.url,
                format!("unix:{}", socket.display()),
                "node {index} listens on a socket in the runtime directory, not on the network"
            );
            assert_eq!(
                std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777,
                0o600,
                "only Slipway's user may connect to node {index}"
            );
            assert_eq!((state.cluster.as_str(), state.index), (CLUSTER, index));
            assert!(
                is_running(state.pid),
                "node {index} (pid {}) is not running",
                state.pid
            );
            let (status, body) = unix_get(&state.url, "/health", &[]);
            assert_eq!(status, 200, "GET /health on {}", socket.display());
            // Node 0 is the scheduler the registration record names.
            let role = if index == 0 { "scheduler" } else { "worker" };
            assert_eq!(
                body,
                json!({"status": "ok", "cluster": CLUSTER, "node": index, "scheduler": 0, "role": role})
            );
            assert!(
                listening_tcp_ports(state.pid).is_empty(),
                "node {index} listens on TCP: {:?}",
                listening_tcp_ports(state.pid)
            );
            pids.push(state.pid);
        }
        assert!(
            !self.state_file(nodes).exists(),
            "a state file beyond the last node"
        );
        assert_eq!(
            self.node_processes().len(),
            nodes as usize + 1,
            "node processes and the gateway"
        );
        // The gateway is up; with no issuer given it admits nobody.
        let endpoint = self.outputs()["endpoint"]["value"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            http_get(&endpoint, "/health").0,
            401,
            "GET {endpoint}/health"
        );
        pids
    }

    /// Live processes whose command line mentions the runtime directory.
    fn node_processes(&self) -> Vec<(u32, String)> {
        let needle = self.runtime.to_str().unwrap();
        let mut found = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap() {
            let Some(pid) = entry
                .unwrap()
                .file_name()
                .to_str()
                .and_then(|s| s.parse().ok())
            else {
                continue;
            };
            if let Some(cmdline) = cmdline(pid)
                && cmdline.contains(needle)
            {
                found.push((pid, cmdline));
            }
        }
        found
    }

    fn tainted(&self) -> Vec<String> {
        let show: Value = serde_json::from_str(&self.terraform_ok(&["show", "-json"])).unwrap();
        show["values"]["root_module"]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["tainted"] == json!(true))
            .map(|r| r["address"].as_str().unwrap().to_owned())
            .collect()
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        let _ = Command::new(&self.slipway)
            .args(["node", "stop-all", "--dir"])
            .arg(&self.runtime)
            .status();
    }
}

/// The command line of a live process (`None` if gone or a zombie).
fn cmdline(pid: u32) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    (!raw.is_empty()).then(|| String::from_utf8_lossy(&raw).replace('\0', " "))
}

fn is_running(pid: u32) -> bool {
    cmdline(pid).is_some_and(|c| c.contains(" node run "))
}

/// `GET base+path`; the status and the JSON body.
fn http_get(base: &str, path: &str) -> (u16, Value) {
    let response = reqwest::blocking::get(format!("{base}{path}"))
        .unwrap_or_else(|e| panic!("GET {base}{path}: {e}"));
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

fn same_pids(before: &[u32], after: &[u32], what: &str) {
    assert_eq!(before, after, "{what}: untouched nodes must keep running");
}

/// A `slipway` stand-in that starts node `index` for real, then hangs in
/// its `node start`, printing `HANGING <pid>` first, so that an apply can be
/// interrupted while that node's provisioner runs.
fn write_hanging_wrapper(dir: &Path, real: &Path, index: u32) -> PathBuf {
    let path = dir.join("slipway-hangs-on-start");
    let script = format!(
        r#"#!/bin/sh
if [ "$1 $2" = "node start" ] && [ "$SLIPWAY_NODE_INDEX" = "{index}" ]; then
  "{real}" "$@" || exit 1
  echo "HANGING $$"
  exec sleep 600
fi
exec "{real}" "$@"
"#,
        real = real.display()
    );
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// Runs `apply` and interrupts it (SIGINT, as Slipway cancels) once the
/// hanging wrapper says so in Terraform's streamed output. Returns whether
/// the apply succeeded, and its output.
fn apply_interrupted(d: &Deployment, vars: &str, slipway: &Path) -> (bool, String) {
    let mut child = d
        .terraform_command_with(
            &["apply", "-auto-approve", "-input=false", "-no-color", vars],
            slipway,
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        BufReader::new(stderr).read_to_string(&mut text).unwrap();
        text
    });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = String::new();
    let hanging = loop {
        let Some(line) = lines.next() else {
            panic!("terraform exited before the node's start hung:\n{seen}");
        };
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if let Some((_, pid)) = line.split_once("HANGING ") {
            break pid.trim().parse::<i32>().unwrap();
        }
    };
    kill(child.id() as i32, Signal::SIGINT);
    for line in lines {
        seen.push_str(&line.unwrap());
        seen.push('\n');
    }
    let status = child.wait().unwrap();
    seen.push_str(&stderr.join().unwrap());
    kill(hanging, Signal::SIGKILL);
    (status.success(), seen)
}

fn kill(pid: i32, signal: Signal) {
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal);
}

#[test]
fn local_blueprint_deploys_scales_and_destroys_real_node_processes() {
    let d = Deployment::new();

    // Deploy three nodes.
    let out = d.apply(3);
    assert!(out.contains("7 added, 0 changed, 0 destroyed"), "{out}");
    let three = d.check_healthy(3);
    let plan = d.terraform_ok(&[
        "plan",
        "-input=false",
        "-no-color",
        "-detailed-exitcode",
        "-var-file=slipway.tfvars.json",
    ]);
    assert!(
        plan.contains("No changes"),
        "a second plan changes nothing:\n{plan}"
    );
    // Another process (another `slipway` executable, as a replica or worker
    // with its own installation runs) plans nothing either: nothing of the
    // process is in the state.
    let elsewhere = write_hanging_wrapper(d.tmp.path(), &d.slipway, u32::MAX);
    let output = d
        .terraform_command_with(
            &[
                "plan",
                "-input=false",
                "-no-color",
                "-detailed-exitcode",
                "-var-file=slipway.tfvars.json",
            ],
            &elsewhere,
        )
        .output()
        .unwrap();
    let plan = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "a plan by another executable changes nothing:\n{plan}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // Scale down in place: only node 2 goes.
    let out = d.apply(2);
    assert!(out.contains("0 added, 0 changed, 1 destroyed"), "{out}");
    let two = d.check_healthy(2);
    same_pids(&three[..2], &two, "scaling 3 -> 2");
    assert!(
        !is_running(three[2]),
        "node 2 (pid {}) still runs",
        three[2]
    );

    // Scale up in place: nodes 2 and 3 come, 0 and 1 stay.
    let out = d.apply(4);
    assert!(out.contains("2 added, 0 changed, 0 destroyed"), "{out}");
    let four = d.check_healthy(4);
    same_pids(&two, &four[..2], "scaling 2 -> 4");

    // Interrupt an apply while node 4's provisioner runs: Terraform taints
    // node 4 although its process runs.
    let wrapper = write_hanging_wrapper(d.tmp.path(), &d.slipway, 4);
    let vars = d.write_vars(5);
    let (succeeded, seen) = apply_interrupted(&d, vars, &wrapper);
    assert!(!succeeded, "the interrupted apply failed:\n{seen}");
    assert_eq!(
        d.tainted(),
        vec!["terraform_data.node[4]".to_owned()],
        "{seen}"
    );
    let orphan = d.node_state(4).pid;
    assert!(is_running(orphan), "the tainted node's process runs on");
    let pids: Vec<u32> = (0..4).map(|i| d.node_state(i).pid).collect();
    same_pids(&four, &pids, "the interrupted apply");

    // Applying again replaces the tainted node: its old process is stopped
    // (Terraform runs no destroy provisioner for it; `node start` does).
    let out = d.apply(5);
    assert!(
        out.contains(" 1 added,") && out.contains(" 1 destroyed."),
        "{out}"
    );
    let five = d.check_healthy(5);
    same_pids(&four, &five[..4], "replacing the tainted node");
    assert_ne!(five[4], orphan);
    assert!(
        !is_running(orphan),
        "the tainted node's old process (pid {orphan}) still runs"
    );

    // Taint a node again and destroy: the tainted node's destroy provisioner
    // does not run, the runtime's `stop-all` stops it anyway.
    d.terraform_ok(&["taint", "terraform_data.node[1]"]);
    let out = d.destroy();
    assert!(
        out.contains("Resources: 0 added, 0 changed, 9 destroyed"),
        "{out}"
    );
    assert!(
        !out.contains("terraform_data.node[1]: Provisioning"),
        "Terraform ran a tainted node's destroy provisioner after all:\n{out}"
    );
    let left = d.node_processes();
    assert!(left.is_empty(), "processes left after destroy: {left:?}");
    for pid in five {
        assert!(!is_running(pid), "pid {pid} still runs");
    }
    assert!(!d.runtime.exists(), "the runtime directory is removed");
    let outputs = d.outputs();
    assert_eq!(outputs, json!({}), "no outputs after destroy");

    // Destroying again is harmless.
    d.destroy();
}

#[test]
fn node_commands_are_idempotent_and_leave_strangers_alone() {
    let slipway = slipway_bin();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("rt");
    let state = dir.join("node-0.json");
    let node = |args: &[&str], env: &[(&str, &Path)]| {
        let mut command = Command::new(&slipway);
        command.arg("node").args(args).stdin(Stdio::null());
        for (name, value) in env {
            command.env(name, value);
        }
        command.output().unwrap()
    };
    let start = || {
        let output = node(
            &["start"],
            &[
                ("SLIPWAY_NODE_CLUSTER", Path::new("c")),
                ("SLIPWAY_NODE_INDEX", Path::new("0")),
                ("SLIPWAY_NODE_STATE_FILE", &state),
            ],
        );
        assert!(output.status.success(), "{output:?}");
        let stdout = String::from_utf8(output.stdout).unwrap();
        assert_eq!(stdout.lines().count(), 1, "one ready line: {stdout}");
        let ready = NodeState::parse(&stdout).unwrap();
        assert_eq!(NodeState::read(&state).unwrap(), Some(ready.clone()));
        ready
    };

    // Stopping nothing succeeds.
    assert!(
        node(&["stop"], &[("SLIPWAY_NODE_STATE_FILE", &state)])
            .status
            .success()
    );
    assert!(
        node(&["stop-all", "--dir", dir.to_str().unwrap()], &[])
            .status
            .success()
    );

    // Starting twice replaces the first process.
    let first = start();
    let second = start();
    assert_ne!(first.pid, second.pid);
    assert!(!is_running(first.pid));
    assert!(is_running(second.pid));

    // It listens on a socket beside its state file, nowhere else; the echo
    // carries the identity headers (which only the gateway can send it).
    let socket = dir.join("node-0.sock");
    assert_eq!(second.url, format!("unix:{}", socket.display()));
    assert!(listening_tcp_ports(second.pid).is_empty());
    let (status, body) = unix_get(
        &second.url,
        "/api/x",
        &[("X-Slipway-User", "alice"), ("X-Other", "no")],
    );
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"cluster": "c", "node": 0, "method": "GET", "path": "/api/x",
               "headers": {"x-slipway-user": "alice"}})
    );

    // Stop stops it, removes the state file and the socket, keeps the log.
    assert!(
        node(&["stop"], &[("SLIPWAY_NODE_STATE_FILE", &state)])
            .status
            .success()
    );
    assert!(!is_running(second.pid));
    assert!(!state.exists());
    assert!(!socket.exists());
    let log = std::fs::read_to_string(dir.join("node-0.json.log")).unwrap();
    assert!(log.contains("node ready"), "{log}");
    assert!(
        node(&["stop"], &[("SLIPWAY_NODE_STATE_FILE", &state)])
            .status
            .success()
    );

    // A stale state file naming a live process that is not that node: the
    // process is left alone.
    let mut bystander = Command::new("sleep").arg("600").spawn().unwrap();
    let stale = NodeState {
        pid: bystander.id(),
        ..second.clone()
    };
    stale.write_atomic(&state).unwrap();
    let third = start();
    assert!(
        bystander.try_wait().unwrap().is_none(),
        "an unrelated process was signalled"
    );
    bystander.kill().unwrap();
    bystander.wait().unwrap();

    // stop-all stops the node and removes the directory.
    let output = node(&["stop-all"], &[("SLIPWAY_NODE_DIR", &dir)]);
    assert!(output.status.success(), "{output:?}");
    assert!(!is_running(third.pid));
    assert!(!dir.exists());
}
