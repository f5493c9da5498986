//! What `slipway node` and `slipway gateway` share: their `run` process,
//! started detached by [`start`] and stopped by [`stop`], and the state file
//! it records itself in.
//!
//! A `run` process writes its [`State`] — a JSON object with its `pid` — to
//! its state file and prints the same JSON as one line on stdout, its
//! **ready line**. Its log is the state file's path plus `.log`. The
//! helpers after [`State`] are the `run` process's side; [`start`] and
//! [`stop`] are its starter's.
//!
//! Errors are [`ProcessError`]s, which the gateway turns into its own.
//! [`process`] finds and stops `run` processes by their command line.

use std::ffi::OsString;
use std::fs::{self, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde::Serialize;
use serde::de::DeserializeOwned;

use process::NodeProcess;

pub(crate) mod process;

/// What went wrong with a detached process or its state file (in a
/// `slipway node` or `slipway gateway` command).
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Failed(String),
}

impl ProcessError {
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}

/// The environment a detached process keeps, besides the variables its
/// starter passes on (its options); it needs nothing else from
/// Terraform's, which may hold secrets.
const KEPT_ENV: [&str; 6] = [
    "PATH",
    "HOME",
    "LANG",
    "TZ",
    "SLIPWAY_LOG",
    "SLIPWAY_LOG_FORMAT",
];

/// What a `slipway <command> run` process records about itself, both in its
/// state file and as its ready line.
pub(crate) trait State: Serialize + DeserializeOwned {
    /// The `slipway` command whose `run` the process is: `node` or
    /// `gateway`.
    const COMMAND: &'static str;

    /// The process id of the `run` process.
    fn pid(&self) -> u32;
}

/// The signals that stop a `run` process, SIGTERM and SIGINT. Install them
/// before the ready line, so that a stop right after it is handled.
pub(crate) struct StopSignals {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

impl StopSignals {
    pub(crate) fn install() -> Result<Self, ProcessError> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            terminate: signal(SignalKind::terminate())
                .map_err(|err| ProcessError::io("handling SIGTERM", err))?,
            interrupt: signal(SignalKind::interrupt())
                .map_err(|err| ProcessError::io("handling SIGINT", err))?,
        })
    }

    /// Waits for either signal and names it.
    pub(crate) async fn received(&mut self) -> &'static str {
        tokio::select! {
            _ = self.terminate.recv() => "SIGTERM",
            _ = self.interrupt.recv() => "SIGINT",
        }
    }

    /// Ends at the first signal, logging it: a graceful shutdown's trigger.
    pub(crate) async fn shutdown(mut self) {
        let name = self.received().await;
        tracing::info!("{name} received; shutting down");
    }
}

/// Binds a listener, and says which address it got (the port may be 0).
pub(crate) async fn listen(
    addr: SocketAddr,
) -> Result<(tokio::net::TcpListener, SocketAddr), ProcessError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|err| ProcessError::io(format!("listening on {addr}"), err))?;
    let local = listener
        .local_addr()
        .map_err(|err| ProcessError::io(format!("reading the address of {addr}"), err))?;
    Ok((listener, local))
}

/// Records a `run` process in its state file, creating its directory.
pub(crate) fn record(state: &impl Serialize, path: &Path) -> Result<(), ProcessError> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)
            .map_err(|err| ProcessError::io(format!("creating {}", parent.display()), err))?;
    }
    write_atomic(state, path)
}

/// Prints the ready line: the process is serving.
pub(crate) fn announce_ready(state: &impl Serialize) -> Result<(), ProcessError> {
    let mut out = io::stdout().lock();
    writeln!(out, "{}", to_line(state))
        .and_then(|()| out.flush())
        .map_err(|err| ProcessError::io("printing the ready line", err))
}

/// Reads a state file; `Ok(None)` when there is none.
pub(crate) fn read<S: DeserializeOwned>(path: &Path) -> Result<Option<S>, ProcessError> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(ProcessError::io(format!("reading {}", path.display()), err)),
    };
    parse(&text)
        .map(Some)
        .map_err(|err| ProcessError::Invalid(format!("state file {}: {err}", path.display())))
}

/// Parses the JSON form (a state file's content or a ready line).
pub(crate) fn parse<S: DeserializeOwned>(text: &str) -> Result<S, serde_json::Error> {
    serde_json::from_str(text.trim())
}

/// The JSON form on one line.
pub(crate) fn to_line(state: &impl Serialize) -> String {
    serde_json::to_string(state).expect("a state always serializes")
}

/// Writes a state file atomically and privately (through
/// [`slipway_files::write_private`]), so readers never see half a file.
pub(crate) fn write_atomic(state: &impl Serialize, path: &Path) -> Result<(), ProcessError> {
    let line = to_line(state) + "\n";
    slipway_files::write_private(path, line.as_bytes())
        .map_err(|err| ProcessError::io(format!("writing {}", path.display()), err))
}

/// The log of the process with this state file: the path plus `.log`.
fn log_path(state_file: &Path) -> PathBuf {
    let mut path = state_file.as_os_str().to_owned();
    path.push(".log");
    PathBuf::from(path)
}

/// Starts `slipway <S::COMMAND> run <args>` in the background and returns
/// the state its ready line announces.
///
/// First it stops what the (absolute) `state_file` records; `args` must
/// name that file. The process runs in its own session, with a clean
/// environment (but for [`KEPT_ENV`] and `env`) and stderr appended to its
/// log. Once
/// its ready line (naming its pid) comes, it is printed on stdout; if none
/// comes within `ready_timeout`, the process is killed. `name` says who it
/// is in errors ("node 2 of cluster abc", "the gateway"), which end with
/// the log's last lines.
pub(crate) fn start<S: State>(
    state_file: &Path,
    args: &[OsString],
    env: &[(OsString, OsString)],
    name: &str,
    ready_timeout: Duration,
) -> Result<S, ProcessError> {
    // If whoever started us dies (Terraform stopping an interrupted apply
    // kills its provisioner's shell), end too: waiting on would hold the
    // provisioner's output open and keep Terraform from saving its state.
    // The process being started runs on in its own session, and `stop`
    // finds it by its state file or its command line.
    let _ = nix::sys::prctl::set_pdeathsig(Some(Signal::SIGTERM));
    stop::<S>(state_file)?;
    if let Some(parent) = state_file.parent() {
        fs::create_dir_all(parent)
            .map_err(|err| ProcessError::io(format!("creating {}", parent.display()), err))?;
    }
    let log_path = log_path(state_file);
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|err| ProcessError::io(format!("opening {}", log_path.display()), err))?;
    let exe = std::env::current_exe()
        .map_err(|err| ProcessError::io("finding the slipway executable", err))?;

    let mut command = Command::new(&exe);
    command
        .args([S::COMMAND, "run"])
        .args(args)
        .env_clear()
        .envs(std::env::vars_os().filter(|(k, _)| KEPT_ENV.iter().any(|keep| k == keep)))
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log);
    // SAFETY: the closure only calls setsid(2), which is async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            nix::unistd::setsid()?;
            Ok(())
        });
    }
    let mut child = command.spawn().map_err(|err| {
        ProcessError::io(
            format!("starting {} {} run", exe.display(), S::COMMAND),
            err,
        )
    })?;

    let stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let result = BufReader::new(stdout).read_line(&mut line).map(|_| line);
        let _ = tx.send(result);
    });

    let failure = match rx.recv_timeout(ready_timeout) {
        Ok(Ok(line)) if !line.is_empty() => match parse::<S>(&line) {
            Ok(state) if state.pid() == child.id() => {
                let mut out = io::stdout().lock();
                writeln!(out, "{}", line.trim_end())
                    .and_then(|()| out.flush())
                    .map_err(|err| ProcessError::io("printing the ready line", err))?;
                // The child runs on in its own session; when this process
                // exits it is reparented, so it is nobody's zombie.
                return Ok(state);
            }
            Ok(state) => format!(
                "its ready line names pid {}, but it is pid {}",
                state.pid(),
                child.id()
            ),
            Err(err) => format!("its ready line is not valid ({err}): {}", line.trim_end()),
        },
        Ok(Ok(_)) => {
            let status = child
                .wait()
                .map(|s| s.to_string())
                .unwrap_or_else(|e| format!("unknown status ({e})"));
            return Err(ProcessError::Failed(format!(
                "{name} exited ({status}) before it was ready; log {}:\n{}",
                log_path.display(),
                log_tail(&log_path)
            )));
        }
        Ok(Err(err)) => format!("reading its ready line failed: {err}"),
        Err(_) => format!(
            "it printed no ready line within {}s",
            ready_timeout.as_secs()
        ),
    };
    let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
    let _ = child.wait();
    Err(ProcessError::Failed(format!(
        "{name} did not start: {failure}; it was killed; log {}:\n{}",
        log_path.display(),
        log_tail(&log_path)
    )))
}

/// Stops the `slipway <S::COMMAND> run` process the (absolute) `state_file`
/// records — only if that pid really is a `run` for this file — and removes
/// the file. Idempotent.
pub(crate) fn stop<S: State>(state_file: &Path) -> Result<(), ProcessError> {
    let recorded = match read::<S>(state_file) {
        Ok(state) => state,
        Err(err @ ProcessError::Invalid(_)) => {
            // Cannot happen with atomic writes; look for the process by its
            // command line instead, and replace the file.
            eprintln!("slipway {} stop: ignoring {err}", S::COMMAND);
            None
        }
        Err(err) => return Err(err),
    };
    let mut targets: Vec<NodeProcess> = recorded
        .into_iter()
        .map(|state| NodeProcess {
            pid: state.pid() as i32,
            state_file: state_file.to_owned(),
        })
        .collect();
    // A process whose starter was interrupted before the file was written.
    targets.extend(process::find_node_processes(|f| f == state_file));
    let _asked = StopAsked::mark(state_file);
    process::terminate(targets)?;
    match fs::remove_file(state_file) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => Err(ProcessError::io(
            format!("removing {}", state_file.display()),
            err,
        )),
        _ => Ok(()),
    }
}

/// While it exists, the process a state file records is being stopped by
/// Slipway (`stop`, `stop-all`, or a `start` replacing it): its exit was
/// asked for. Without it, an exit was not — someone stopped the process
/// outside Slipway — and a node counts it (see `node::record_unasked_exit`).
pub(crate) struct StopAsked(PathBuf);

impl StopAsked {
    pub(crate) fn path(state_file: &Path) -> PathBuf {
        state_file.with_extension("stopping")
    }

    pub(crate) fn mark(state_file: &Path) -> Self {
        let path = Self::path(state_file);
        // Best effort: without the mark an asked stop only counts as an
        // unasked exit, which the next apply repairs.
        let _ = fs::write(&path, b"");
        StopAsked(path)
    }
}

impl Drop for StopAsked {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// The last lines of a log, for error messages.
fn log_tail(path: &Path) -> String {
    const LINES: usize = 20;
    match fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(LINES)..].join("\n")
        }
        Err(err) => format!("(cannot read it: {err})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Sample {
        pid: u32,
        url: String,
    }

    fn sample() -> Sample {
        Sample {
            pid: 4242,
            url: "http://127.0.0.1:5555".into(),
        }
    }

    #[test]
    fn the_log_sits_beside_the_state_file() {
        assert_eq!(
            log_path(Path::new("/rt/node-0.json")),
            PathBuf::from("/rt/node-0.json.log")
        );
    }

    #[test]
    fn the_json_form_is_one_line_and_parses_back() {
        let line = to_line(&sample());
        assert!(!line.contains('\n'), "{line}");
        assert_eq!(parse::<Sample>(&format!("{line}\n")).unwrap(), sample());
        assert!(parse::<Sample>(r#"{"pid":1}"#).is_err());
        assert!(parse::<Sample>("").is_err());
    }

    #[test]
    fn writes_atomically_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node-3.json");
        assert_eq!(read::<Sample>(&path).unwrap(), None);
        write_atomic(&sample(), &path).unwrap();
        assert_eq!(read::<Sample>(&path).unwrap(), Some(sample()));
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![OsString::from("node-3.json")]);
    }

    #[test]
    fn a_corrupt_state_file_is_an_error_that_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node-0.json");
        fs::write(&path, "{not json").unwrap();
        let err = read::<Sample>(&path).unwrap_err();
        assert!(matches!(err, ProcessError::Invalid(_)), "{err:?}");
        assert!(err.to_string().contains("node-0.json"), "{err}");
    }

    #[test]
    fn the_log_tail_is_the_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node-0.json.log");
        let lines: Vec<String> = (1..=25).map(|i| format!("line {i}")).collect();
        fs::write(&path, lines.join("\n")).unwrap();
        assert_eq!(log_tail(&path), lines[5..].join("\n"));
        assert!(log_tail(&dir.path().join("missing")).starts_with("(cannot read it: "));
    }
}
