//! Finding and stopping `slipway node run` (and `slipway gateway run`)
//! processes.
//!
//! Pids get reused, so a pid from a state file is only ever signalled while
//! `/proc/<pid>/cmdline` shows a `node run` or `gateway run` process for that
//! very state file.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::ProcessError;

/// How long a node gets to exit after SIGTERM before it is killed.
const TERM_GRACE: Duration = Duration::from_secs(10);
/// How long a node gets to disappear after SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(5);
/// How often to look whether it is gone.
const POLL: Duration = Duration::from_millis(20);

/// A `node run` or `gateway run` process, by pid and the state file its
/// command line names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NodeProcess {
    pub pid: i32,
    pub state_file: PathBuf,
}

impl NodeProcess {
    /// Whether the process is still there and still that node (not exited,
    /// not a zombie, not a new process that got the pid).
    pub fn is_running(&self) -> bool {
        cmdline(self.pid)
            .and_then(|args| node_run_state_file(&args))
            .is_some_and(|state_file| state_file == self.state_file)
    }
}

/// The arguments of a process, or `None` when it does not exist or has
/// exited (zombies and kernel threads have an empty command line).
pub(crate) fn cmdline(pid: i32) -> Option<Vec<OsString>> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    parse_cmdline(&raw)
}

/// Splits the NUL-separated contents of `/proc/<pid>/cmdline`.
pub(crate) fn parse_cmdline(raw: &[u8]) -> Option<Vec<OsString>> {
    if raw.is_empty() {
        return None;
    }
    let raw = raw.strip_suffix(b"\0").unwrap_or(raw);
    Some(
        raw.split(|b| *b == 0)
            .map(|arg| OsStr::from_bytes(arg).to_owned())
            .collect(),
    )
}

/// If `args` (argv, including argv\[0\]) are those of a `… node run …` or
/// `… gateway run …` process, the state file it was given with
/// `--state-file`.
pub(crate) fn node_run_state_file(args: &[OsString]) -> Option<PathBuf> {
    let rest = args.get(1..)?;
    let run_at = rest
        .windows(2)
        .position(|w| (w[0] == "node" || w[0] == "gateway") && w[1] == "run")?;
    let mut options = rest[run_at + 2..].iter();
    while let Some(arg) = options.next() {
        let bytes = arg.as_bytes();
        if bytes == b"--state-file" {
            return options.next().map(PathBuf::from);
        }
        if let Some(value) = bytes.strip_prefix(b"--state-file=") {
            return Some(PathBuf::from(OsStr::from_bytes(value)));
        }
    }
    None
}

/// Every running `node run` or `gateway run` process whose state file
/// satisfies `wanted`.
pub(crate) fn find_node_processes(wanted: impl Fn(&Path) -> bool) -> Vec<NodeProcess> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let own = std::process::id() as i32;
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| *pid != own)
        .filter_map(|pid| {
            let state_file = node_run_state_file(&cmdline(pid)?)?;
            wanted(&state_file).then_some(NodeProcess { pid, state_file })
        })
        .collect()
}

/// Stops the processes: SIGTERM, up to [`TERM_GRACE`] to exit, then SIGKILL.
/// Returns once none of them is running.
pub(crate) fn terminate(mut nodes: Vec<NodeProcess>) -> Result<(), ProcessError> {
    nodes.sort_by_key(|n| n.pid);
    nodes.dedup_by_key(|n| n.pid);
    nodes.retain(NodeProcess::is_running);
    if nodes.is_empty() {
        return Ok(());
    }
    for node in &nodes {
        signal(node, Signal::SIGTERM)?;
    }
    let nodes = wait_gone(nodes, TERM_GRACE);
    if nodes.is_empty() {
        return Ok(());
    }
    for node in &nodes {
        eprintln!(
            "slipway node: pid {} ({}) did not exit within {}s of SIGTERM; killing it",
            node.pid,
            node.state_file.display(),
            TERM_GRACE.as_secs()
        );
        signal(node, Signal::SIGKILL)?;
    }
    let nodes = wait_gone(nodes, KILL_GRACE);
    match nodes.first() {
        None => Ok(()),
        Some(node) => Err(ProcessError::Failed(format!(
            "pid {} ({}) is still running after SIGKILL",
            node.pid,
            node.state_file.display()
        ))),
    }
}

fn signal(node: &NodeProcess, signal: Signal) -> Result<(), ProcessError> {
    match kill(Pid::from_raw(node.pid), signal) {
        Ok(()) | Err(Errno::ESRCH) => Ok(()),
        Err(err) => Err(ProcessError::Failed(format!(
            "cannot send {signal} to pid {} ({}): {err}",
            node.pid,
            node.state_file.display()
        ))),
    }
}

/// Polls until every process is gone or the time is up; returns those left.
fn wait_gone(mut nodes: Vec<NodeProcess>, within: Duration) -> Vec<NodeProcess> {
    let deadline = Instant::now() + within;
    loop {
        nodes.retain(NodeProcess::is_running);
        if nodes.is_empty() || Instant::now() >= deadline {
            return nodes;
        }
        std::thread::sleep(POLL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn splits_proc_cmdline() {
        assert_eq!(
            parse_cmdline(b"/bin/slipway\0node\0run\0--index=2\0"),
            Some(args(&["/bin/slipway", "node", "run", "--index=2"]))
        );
        assert_eq!(parse_cmdline(b"a\0\0b\0"), Some(args(&["a", "", "b"])));
        assert_eq!(parse_cmdline(b""), None);
    }

    #[test]
    fn recognises_node_run_with_either_option_form() {
        let joined = args(&[
            "/x/slipway",
            "node",
            "run",
            "--cluster=c",
            "--state-file=/rt/node-0.json",
        ]);
        assert_eq!(
            node_run_state_file(&joined),
            Some(PathBuf::from("/rt/node-0.json"))
        );
        let separate = args(&[
            "slipway",
            "--verbose",
            "node",
            "run",
            "--state-file",
            "/rt dir/node-1.json",
        ]);
        assert_eq!(
            node_run_state_file(&separate),
            Some(PathBuf::from("/rt dir/node-1.json"))
        );
        let gateway = args(&[
            "/x/slipway",
            "gateway",
            "run",
            "--cluster=c",
            "--state-file=/rt/gateway.json",
        ]);
        assert_eq!(
            node_run_state_file(&gateway),
            Some(PathBuf::from("/rt/gateway.json"))
        );
    }

    #[test]
    fn ignores_everything_that_is_not_node_run() {
        for list in [
            &["slipway", "node", "start", "--state-file=/rt/node-0.json"][..],
            &["slipway", "node", "stop", "--state-file", "/rt/node-0.json"],
            &[
                "slipway",
                "gateway",
                "start",
                "--state-file=/rt/gateway.json",
            ],
            &["slipway", "node", "run"],
            &["slipway", "node", "run", "--state-file"],
            &["node", "run", "--state-file=/rt/node-0.json"][..1],
            &["vim", "--state-file=/rt/node-0.json", "node", "run"],
            &["node", "run", "--state-file=/rt/node-0.json"],
        ] {
            assert_eq!(node_run_state_file(&args(list)), None, "{list:?}");
        }
    }

    #[test]
    fn a_missing_pid_is_not_running() {
        // Pids are below 2^22 on Linux.
        let node = NodeProcess {
            pid: i32::MAX,
            state_file: "/nowhere/node-0.json".into(),
        };
        assert!(!node.is_running());
        terminate(vec![node]).unwrap();
    }

    #[test]
    fn this_test_process_is_not_a_node() {
        let node = NodeProcess {
            pid: std::process::id() as i32,
            state_file: "/nowhere/node-0.json".into(),
        };
        assert!(cmdline(node.pid).is_some());
        assert!(!node.is_running());
    }
}
