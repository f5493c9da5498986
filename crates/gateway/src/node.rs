//! `slipway node`: a process that stands in for a cluster node.
//!
//! The embedded `local` blueprint (DESIGN.md §3.5) runs these through
//! Terraform's `local-exec`:
//!
//! - `node start` stops whatever its state file still records, then starts a
//!   detached `node run` (its own session, a clean environment, stderr
//!   appended to `<state file>.log`), waits for its "ready" line, prints it
//!   and exits — or, if whoever ran it dies first, ends on SIGTERM (the node
//!   runs on).
//! - `node run` listens, writes its [`NodeState`] to the state file, prints
//!   the same JSON as one line on stdout, and serves HTTP until SIGTERM or
//!   SIGINT: `GET /health`, and a JSON echo of any other request.
//! - `node stop` stops the node a state file records and removes the file.
//! - `node stop-all` stops every node of a directory — and a gateway whose
//!   state file is there (see [`crate::gateway`]) — and removes it.
//!
//! Every argument can also come from a `SLIPWAY_NODE_*` environment variable,
//! which is how Terraform passes them (no shell quoting).

mod server;
mod state;

use std::ffi::OsString;
use std::fs;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use crate::detached::ProcessError;
use crate::detached::process::{self, NodeProcess};
pub use server::ECHOED_HEADER_PREFIX;
pub use state::NodeState;

use crate::detached;

/// How long `node start` waits for the node's "ready" line.
pub const READY_TIMEOUT: Duration = Duration::from_secs(15);

/// `slipway node <command>`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum NodeCommand {
    /// Start a node in the background (stopping any the state file records)
    /// and print its ready line once it answers.
    Start(NodeArgs),
    /// Run a node in the foreground (what `start` runs, detached).
    Run(NodeArgs),
    /// Stop the node a state file records, and remove the file.
    Stop(StopArgs),
    /// Stop every node (and gateway) whose state file is in a directory, and
    /// remove it.
    StopAll(StopAllArgs),
}

/// Who a node is and where it keeps its state.
#[derive(Debug, Clone, clap::Args)]
pub struct NodeArgs {
    /// The cluster the node belongs to.
    #[arg(long, env = "SLIPWAY_NODE_CLUSTER")]
    pub cluster: String,
    /// The node's index within the cluster.
    #[arg(long, env = "SLIPWAY_NODE_INDEX")]
    pub index: u32,
    /// The node's state file (JSON); its log is this path plus `.log`.
    #[arg(long, env = "SLIPWAY_NODE_STATE_FILE")]
    pub state_file: PathBuf,
    /// The address to listen on; port 0 picks a free port.
    #[arg(long, env = "SLIPWAY_NODE_LISTEN", default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Seconds the node takes to boot before it is ready, to rehearse slow
    /// machines (it is recorded in its state file from the start).
    #[arg(long, env = "SLIPWAY_NODE_BOOT_DELAY", default_value_t = 0)]
    pub boot_delay: u64,
}

/// Arguments of `slipway node stop`.
#[derive(Debug, Clone, clap::Args)]
pub struct StopArgs {
    /// The state file of the node to stop.
    #[arg(long, env = "SLIPWAY_NODE_STATE_FILE")]
    pub state_file: PathBuf,
}

/// Arguments of `slipway node stop-all`.
#[derive(Debug, Clone, clap::Args)]
pub struct StopAllArgs {
    /// The directory holding the nodes' state files.
    #[arg(long, env = "SLIPWAY_NODE_DIR")]
    pub dir: PathBuf,
}

/// Runs `slipway node <command>` to completion: the synchronous entry point
/// for the binary's `main`. Errors are printed on stderr.
pub fn run(cmd: NodeCommand) -> ExitCode {
    let (name, result) = match cmd {
        NodeCommand::Start(args) => ("start", start(&args).map(|_| ())),
        NodeCommand::Run(args) => ("run", run_node(&args)),
        NodeCommand::Stop(args) => ("stop", stop(&args.state_file)),
        NodeCommand::StopAll(args) => ("stop-all", stop_all(&args.dir)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("slipway node {name}: error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// `node start`: stops what the state file records, starts a detached
/// `node run`, waits for its ready line and prints it.
pub fn start(args: &NodeArgs) -> Result<NodeState, ProcessError> {
    let state_file = absolute(&args.state_file)?;
    let mut state_file_arg = OsString::from("--state-file=");
    state_file_arg.push(&state_file);
    let run_args = [
        format!("--cluster={}", args.cluster).into(),
        format!("--index={}", args.index).into(),
        state_file_arg,
        format!("--listen={}", args.listen).into(),
        format!("--boot-delay={}", args.boot_delay).into(),
    ];
    detached::start(
        &state_file,
        &run_args,
        &[],
        &format!("node {} of cluster {}", args.index, args.cluster),
        READY_TIMEOUT + Duration::from_secs(args.boot_delay),
    )
}

/// `node run`: listens, records itself, prints the ready line, serves until
/// SIGTERM or SIGINT.
pub fn run_node(args: &NodeArgs) -> Result<(), ProcessError> {
    init_logging();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| ProcessError::io("starting the async runtime", err))?;
    runtime.block_on(run_node_async(args))
}

async fn run_node_async(args: &NodeArgs) -> Result<(), ProcessError> {
    let state_file = absolute(&args.state_file)?;
    let mut signals = detached::StopSignals::install()?;
    let (listener, local) = detached::listen(args.listen).await?;
    let state = NodeState {
        pid: std::process::id(),
        url: format!("http://{}", reachable(local)),
        cluster: args.cluster.clone(),
        index: args.index,
        started_at: chrono::Utc::now(),
    };
    // Recorded while booting, so that a stop finds it.
    detached::record(&state, &state_file)?;
    if args.boot_delay > 0 {
        tracing::info!(seconds = args.boot_delay, "booting");
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(args.boot_delay)) => {}
            _ = signals.received() => return Ok(()),
        }
    }
    detached::announce_ready(&state)?;
    tracing::info!(
        cluster = %args.cluster,
        node = args.index,
        url = %state.url,
        state_file = %state_file.display(),
        "node ready"
    );

    let identity = server::Identity {
        cluster: args.cluster.clone(),
        index: args.index,
    };
    server::serve(listener, identity, signals.shutdown())
        .await
        .map_err(|err| ProcessError::io("serving HTTP", err))?;
    tracing::info!("node stopped");
    Ok(())
}

/// `node stop`: stops the node the state file records (only if that pid
/// really is a `node run` for this file) and removes the file. Idempotent.
pub fn stop(state_file: &Path) -> Result<(), ProcessError> {
    let state_file = absolute(state_file)?;
    detached::stop::<NodeState>(&state_file)
}

/// `node stop-all`: stops every node and gateway whose state file is in
/// `dir` (and any `node run` or `gateway run` process naming a state file
/// there), then removes `dir`. Idempotent.
pub fn stop_all(dir: &Path) -> Result<(), ProcessError> {
    let dir = absolute(dir)?;
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(ProcessError::io(format!("reading {}", dir.display()), err)),
    };
    let mut targets = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|err| ProcessError::io(format!("reading {}", dir.display()), err))?
            .path();
        // Only state files (`*.json`) record a process; logs and a
        // gateway's revocation list (`*.revocations`) do not.
        if path.extension().is_none_or(|ext| ext != "json") {
            continue;
        }
        // Node and gateway state files both record a `pid`.
        match recorded_pid(&path) {
            Ok(Some(pid)) => targets.push(NodeProcess {
                pid: pid as i32,
                state_file: path,
            }),
            Ok(None) => {}
            Err(err) => eprintln!("slipway node stop-all: ignoring {err}"),
        }
    }
    targets.extend(process::find_node_processes(|f| {
        f.parent() == Some(dir.as_path())
    }));
    // All at once: SIGTERM to every node, then wait for them together.
    process::terminate(targets)?;
    match fs::remove_dir_all(&dir) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => {
            Err(ProcessError::io(format!("removing {}", dir.display()), err))
        }
        _ => Ok(()),
    }
}

/// The `pid` a node's or a gateway's state file records; `Ok(None)` when
/// there is no such file.
fn recorded_pid(path: &Path) -> Result<Option<u32>, ProcessError> {
    #[derive(serde::Deserialize)]
    struct Recorded {
        pid: u32,
    }
    let recorded: Option<Recorded> = detached::read(path)?;
    Ok(recorded.map(|r| r.pid))
}

pub(crate) fn absolute(path: &Path) -> Result<PathBuf, ProcessError> {
    std::path::absolute(path)
        .map_err(|err| ProcessError::io(format!("resolving {}", path.display()), err))
}

/// An address clients can reach: the loopback address when listening on all
/// interfaces.
pub(crate) fn reachable(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

/// Logs go to stderr (the node's `.log` file); stdout carries only the ready
/// line. Does nothing if the binary already installed a subscriber.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(false)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        command: NodeCommand,
    }

    #[test]
    fn arguments_parse_from_flags() {
        let cli = Cli::try_parse_from([
            "node",
            "start",
            "--cluster=c1",
            "--index",
            "3",
            "--state-file=/rt/node-3.json",
        ])
        .unwrap();
        let NodeCommand::Start(args) = cli.command else {
            panic!("{cli:?}")
        };
        assert_eq!(args.cluster, "c1");
        assert_eq!(args.index, 3);
        assert_eq!(args.state_file, PathBuf::from("/rt/node-3.json"));
        assert_eq!(args.listen, "127.0.0.1:0".parse().unwrap());

        let cli = Cli::try_parse_from(["node", "stop-all", "--dir", "/rt"]).unwrap();
        assert!(
            matches!(cli.command, NodeCommand::StopAll(StopAllArgs { dir }) if dir == Path::new("/rt"))
        );
    }

    #[test]
    fn every_argument_names_its_environment_variable() {
        use clap::CommandFactory;
        let command = Cli::command();
        let mut envs: Vec<(String, String)> = Vec::new();
        for sub in command.get_subcommands() {
            for arg in sub.get_arguments() {
                if arg.get_id() == "help" {
                    continue;
                }
                let env = arg
                    .get_env()
                    .unwrap_or_else(|| panic!("{} --{} has no env", sub.get_name(), arg.get_id()));
                envs.push((
                    format!("{} {}", sub.get_name(), arg.get_id()),
                    env.to_string_lossy().into_owned(),
                ));
            }
        }
        for expected in [
            ("start cluster", "SLIPWAY_NODE_CLUSTER"),
            ("start index", "SLIPWAY_NODE_INDEX"),
            ("start state_file", "SLIPWAY_NODE_STATE_FILE"),
            ("start listen", "SLIPWAY_NODE_LISTEN"),
            ("run state_file", "SLIPWAY_NODE_STATE_FILE"),
            ("stop state_file", "SLIPWAY_NODE_STATE_FILE"),
            ("stop-all dir", "SLIPWAY_NODE_DIR"),
        ] {
            assert!(
                envs.contains(&(expected.0.to_owned(), expected.1.to_owned())),
                "{expected:?} not in {envs:?}"
            );
        }
    }

    #[test]
    fn wildcard_listeners_advertise_loopback() {
        let cases = [
            ("0.0.0.0:80", "127.0.0.1:80"),
            ("[::]:80", "[::1]:80"),
            ("10.1.2.3:80", "10.1.2.3:80"),
        ];
        for (listen, url) in cases {
            assert_eq!(reachable(listen.parse().unwrap()).to_string(), url);
        }
    }

    #[test]
    fn stopping_what_is_not_there_succeeds() {
        let dir = tempfile::tempdir().unwrap();
        stop(&dir.path().join("node-0.json")).unwrap();
        stop_all(&dir.path().join("missing")).unwrap();
    }

    #[test]
    fn stop_removes_a_stale_state_file_without_signalling_its_pid() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node-0.json");
        // Our own pid: a live process that is not a node for this file.
        NodeState {
            pid: std::process::id(),
            url: "http://127.0.0.1:1".into(),
            cluster: "c".into(),
            index: 0,
            started_at: chrono::Utc::now(),
        }
        .write_atomic(&path)
        .unwrap();
        fs::write(dir.path().join("node-0.json.log"), "log").unwrap();
        stop(&path).unwrap();
        assert!(!path.exists());
        assert!(dir.path().join("node-0.json.log").exists());

        fs::write(&path, "garbage").unwrap();
        stop(&path).unwrap();
        assert!(!path.exists());
    }

    #[test]
    fn stop_all_reads_gateway_state_files_but_signals_only_gateways() {
        let dir = tempfile::tempdir().unwrap();
        let rt = dir.path().join("rt");
        fs::create_dir(&rt).unwrap();
        // Our own pid: a live process that is not a gateway for this file.
        fs::write(
            rt.join("gateway.json"),
            format!(
                r#"{{"pid":{},"url":"http://127.0.0.1:1"}}"#,
                std::process::id()
            ),
        )
        .unwrap();
        assert_eq!(
            recorded_pid(&rt.join("gateway.json")).unwrap(),
            Some(std::process::id())
        );
        assert_eq!(recorded_pid(&rt.join("missing.json")).unwrap(), None);
        stop_all(&rt).unwrap();
        assert!(!rt.exists());
    }

    #[test]
    fn stop_all_removes_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let rt = dir.path().join("rt");
        fs::create_dir(&rt).unwrap();
        fs::write(rt.join("node-0.json"), "garbage").unwrap();
        fs::write(rt.join("node-0.json.log"), "log").unwrap();
        stop_all(&rt).unwrap();
        assert!(!rt.exists());
    }
}
