//! `slipway node`: a process that stands in for a cluster node.
//!
//! The embedded `local` blueprint (docs/domain.md §5) runs these through
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
//!
//! A node admits only its gateway: by default it listens on a Unix socket
//! beside its state file (`node-0.json` → `node-0.sock`, mode 600, in the
//! cluster's private runtime directory), which only Slipway's own user —
//! the gateway — can connect to; nothing on the network can reach it, so no
//! one can send it forged identity headers. `--listen HOST:PORT` makes it
//! listen on TCP instead, admitting anyone who can connect (benchmarks
//! measure a node that way).
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
use std::str::FromStr;
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
    /// Where to listen: `unix:PATH` (a Unix socket only Slipway's user can
    /// connect to), or `HOST:PORT` (TCP, anyone who can connect; port 0
    /// picks a free one). Default: a Unix socket beside the state file
    /// (`node-0.json` → `node-0.sock`).
    #[arg(long, env = "SLIPWAY_NODE_LISTEN")]
    pub listen: Option<Listen>,
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

/// Where a node listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    /// A Unix socket at this path.
    Unix(PathBuf),
    /// A TCP address.
    Tcp(SocketAddr),
}

/// The scheme of a Unix socket's address, in `--listen` and in node URLs.
pub const UNIX_SCHEME: &str = "unix:";

/// The longest path a Unix socket may have (`sun_path` holds 108 bytes,
/// the last a NUL).
pub const MAX_SOCKET_PATH: usize = 107;

impl FromStr for Listen {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.strip_prefix(UNIX_SCHEME) {
            Some("") => Err("unix: needs a socket path".into()),
            Some(path) => Ok(Listen::Unix(PathBuf::from(path))),
            None => s
                .parse()
                .map(Listen::Tcp)
                .map_err(|e| format!("{e}: expected unix:PATH or HOST:PORT (got {s:?})")),
        }
    }
}

impl std::fmt::Display for Listen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Listen::Unix(path) => write!(f, "{UNIX_SCHEME}{}", path.display()),
            Listen::Tcp(addr) => write!(f, "{addr}"),
        }
    }
}

impl NodeArgs {
    /// Where the node listens: as asked, or its default socket beside the
    /// state file. Relative socket paths are made absolute.
    pub fn listen(&self) -> Result<Listen, ProcessError> {
        match &self.listen {
            Some(Listen::Tcp(addr)) => Ok(Listen::Tcp(*addr)),
            Some(Listen::Unix(path)) => Ok(Listen::Unix(absolute(path)?)),
            None => Ok(Listen::Unix(absolute(&default_socket(&self.state_file))?)),
        }
    }
}

/// A node's default socket: its state file's path with `.sock` for `.json`.
pub fn default_socket(state_file: &Path) -> PathBuf {
    state_file.with_extension("sock")
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
    let mut listen_arg = OsString::from("--listen=");
    match args.listen()? {
        Listen::Unix(path) => {
            check_socket_path(&path)?;
            listen_arg.push(UNIX_SCHEME);
            listen_arg.push(path);
        }
        Listen::Tcp(addr) => listen_arg.push(addr.to_string()),
    }
    let run_args = [
        format!("--cluster={}", args.cluster).into(),
        format!("--index={}", args.index).into(),
        state_file_arg,
        listen_arg,
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
    let listen = args.listen()?;
    let listener = match &listen {
        Listen::Unix(path) => Listener::Unix(bind_socket(path)?),
        Listen::Tcp(addr) => Listener::Tcp(detached::listen(*addr).await?),
    };
    let url = match &listener {
        Listener::Unix(_) => listen.to_string(),
        Listener::Tcp((_, local)) => format!("http://{}", reachable(*local)),
    };
    let state = NodeState {
        pid: std::process::id(),
        url,
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
            _ = signals.received() => {
                record_unasked_exit(&state_file);
                return Ok(());
            }
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
        registration: state_file
            .parent()
            .map(|dir| dir.join(server::REGISTRATION_FILE)),
    };
    let served = match listener {
        Listener::Unix(listener) => server::serve(listener, identity, signals.shutdown()).await,
        Listener::Tcp((listener, _)) => server::serve(listener, identity, signals.shutdown()).await,
    };
    if let Listen::Unix(path) = &listen {
        let _ = fs::remove_file(path);
    }
    record_unasked_exit(&state_file);
    served.map_err(|err| ProcessError::io("serving HTTP", err))?;
    tracing::info!("node stopped");
    Ok(())
}

/// The file counting a node's exits nobody in Slipway asked for
/// (`node-<i>.exits` beside its state file). The local blueprint makes the
/// count part of what identifies a node, so once a node was stopped
/// outside Slipway, Terraform's next plan replaces it: a drift check finds
/// it, and a deploy of the same configuration starts it again.
pub fn exits_file(state_file: &Path) -> PathBuf {
    state_file.with_extension("exits")
}

/// Counts this exit unless Slipway asked for it (`detached::StopAsked`).
fn record_unasked_exit(state_file: &Path) {
    if detached::StopAsked::path(state_file).exists() {
        return;
    }
    let file = exits_file(state_file);
    let count: u64 = fs::read_to_string(&file)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    tracing::warn!(
        exits = count + 1,
        "stopped without Slipway asking; counted for the next plan"
    );
    if let Err(err) = fs::write(&file, format!("{}\n", count + 1)) {
        tracing::error!(error = %err, file = %file.display(), "cannot count the exit");
    }
}

/// What a node listens on.
enum Listener {
    Unix(tokio::net::UnixListener),
    Tcp((tokio::net::TcpListener, SocketAddr)),
}

/// Refuses a socket path the kernel would refuse, saying why.
fn check_socket_path(path: &Path) -> Result<(), ProcessError> {
    let len = path.as_os_str().len();
    if len > MAX_SOCKET_PATH {
        return Err(ProcessError::io(
            format!("listening on {}", path.display()),
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "a Unix socket's path may have at most {MAX_SOCKET_PATH} bytes and this one has {len}: use a shorter data directory"
                ),
            ),
        ));
    }
    Ok(())
}

/// Binds a Unix socket only this user may connect to, replacing a socket a
/// dead node left (never any other kind of file).
fn bind_socket(path: &Path) -> Result<tokio::net::UnixListener, ProcessError> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    check_socket_path(path)?;
    let context = || format!("listening on {}", path.display());
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|err| ProcessError::io(context(), err))?;
    }
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            fs::remove_file(path).map_err(|err| ProcessError::io(context(), err))?
        }
        Ok(_) => {
            return Err(ProcessError::io(
                context(),
                io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "a file that is not a socket is in the way",
                ),
            ));
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(err) => return Err(ProcessError::io(context(), err)),
    }
    // Private from the start: created under a umask that leaves only the
    // owner, then set to 600 whatever the umask was, before anyone is told
    // where it is.
    let previous = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o177));
    let bound = tokio::net::UnixListener::bind(path);
    nix::sys::stat::umask(previous);
    let listener = bound.map_err(|err| ProcessError::io(context(), err))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
        .map_err(|err| ProcessError::io(context(), err))?;
    Ok(listener)
}

/// `node stop`: stops the node the state file records (only if that pid
/// really is a `node run` for this file) and removes the file. Idempotent.
pub fn stop(state_file: &Path) -> Result<(), ProcessError> {
    use std::os::unix::fs::FileTypeExt;
    let state_file = absolute(state_file)?;
    detached::stop::<NodeState>(&state_file)?;
    // The socket a node killed before it could remove it.
    let socket = default_socket(&state_file);
    if fs::symlink_metadata(&socket).is_ok_and(|m| m.file_type().is_socket()) {
        fs::remove_file(&socket)
            .map_err(|err| ProcessError::io(format!("removing {}", socket.display()), err))?;
    }
    Ok(())
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
    let _asked: Vec<_> = targets
        .iter()
        .map(|t| detached::StopAsked::mark(&t.state_file))
        .collect();
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
        ip @ (IpAddr::V4(_) | IpAddr::V6(_)) => ip,
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
        assert_eq!(args.listen, None);
        assert_eq!(
            args.listen().unwrap(),
            Listen::Unix(PathBuf::from("/rt/node-3.sock")),
            "by default a node listens on a socket beside its state file"
        );

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

    #[tokio::test]
    async fn a_socket_is_private_replaces_a_dead_nodes_and_nothing_else() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node-0.sock");
        let first = bind_socket(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        drop(first);
        // A dead node's socket is replaced.
        let _second = bind_socket(&path).unwrap();
        // A file that is not a socket is never removed.
        let other = dir.path().join("node-1.sock");
        fs::write(&other, "data").unwrap();
        let err = bind_socket(&other).unwrap_err().to_string();
        assert!(err.contains("not a socket"), "{err}");
        assert_eq!(fs::read_to_string(&other).unwrap(), "data");
        // A path the kernel would refuse is refused with the reason.
        let long = dir.path().join("x".repeat(MAX_SOCKET_PATH));
        let err = bind_socket(&long).unwrap_err().to_string();
        assert!(err.contains("at most 107 bytes"), "{err}");
    }

    #[test]
    fn listen_addresses_parse() {
        assert_eq!(
            "unix:/rt/n.sock".parse::<Listen>().unwrap(),
            Listen::Unix(PathBuf::from("/rt/n.sock"))
        );
        assert_eq!(
            "127.0.0.1:0".parse::<Listen>().unwrap(),
            Listen::Tcp("127.0.0.1:0".parse().unwrap())
        );
        assert!("unix:".parse::<Listen>().is_err());
        assert!("localhost".parse::<Listen>().is_err());
        assert_eq!(Listen::Unix("/a b".into()).to_string(), "unix:/a b");
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
