//! Running one Terraform command: a sanitized environment, output followed
//! line by line, and a stop that lets Terraform save its state — one SIGINT,
//! a grace period, then SIGKILL of its process group (a shell step of a
//! TEST or RELEASE run gets its SIGINT as a group, with its children).
//!
//! Terraform writes to files, not pipes, and Slipway follows them. If Slipway
//! dies, Terraform gets SIGINT (`PR_SET_PDEATHSIG`) and — with nothing to
//! break its output — stops gracefully and saves its state (or, if the state
//! backend died with Slipway, leaves it in `errored.tfstate`). Its pid is
//! recorded beside the output, so the next start can wait for it.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use futures::StreamExt;
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use tokio::process::Command;
use tokio::time::{Instant, sleep, sleep_until};
use tokio_util::sync::CancellationToken;

use crate::EngineError;

/// How often the output files are read while the command runs, where the
/// kernel cannot say when they are written (no inotify); and how often an
/// orphaned command is looked at.
const FOLLOW_INTERVAL: Duration = Duration::from_millis(20);
/// How often the output files are read anyway when the kernel says when
/// they are written.
const WATCHED_RECHECK: Duration = Duration::from_secs(1);

/// Which stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Why a run was stopped before it finished by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    Cancelled,
    TimedOut,
}

/// When and how to stop a run.
pub struct Control<'a> {
    pub cancel: &'a CancellationToken,
    pub deadline: Instant,
    pub grace: Duration,
    pub interrupt: Interrupt,
}

/// Who gets the SIGINT that begins a stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupt {
    /// The command alone: Terraform stops its providers itself and saves
    /// its state, which a signal to them all at once could cut short.
    Command,
    /// The command's whole process group: a shell step's children (a test
    /// runner, a `sleep`) stop with it instead of holding the shell until
    /// the grace period ends.
    Group,
}

/// A finished command.
pub struct Exit {
    pub status: ExitStatus,
    pub stopped: Option<Stopped>,
    /// Its process group (the command's pid), which processes it started
    /// may still be in.
    pub group: Pid,
}

/// Where a command's output and pid go: `<base>.out`, `<base>.err`,
/// `<base>.pid`.
pub struct Outputs {
    base: PathBuf,
}

impl Outputs {
    pub fn new(dir: &Path, name: &str) -> Self {
        Self {
            base: dir.join(name),
        }
    }

    fn path(&self, extension: &str) -> PathBuf {
        self.base.with_extension(extension)
    }

    /// The file the process id is kept in while it runs.
    pub fn pid_file(&self) -> PathBuf {
        self.path("pid")
    }

    /// The file its standard output goes to.
    pub fn stdout_file(&self) -> PathBuf {
        self.path("out")
    }

    /// Removes its files.
    pub fn remove(&self) {
        for extension in ["out", "err", "pid"] {
            let _ = std::fs::remove_file(self.path(extension));
        }
    }
}

/// Follows a growing file, handing on complete lines.
///
/// The file is read in place, not on Tokio's blocking pool: what was just
/// written is in the page cache, so a read takes microseconds, while a
/// handoff to the pool and back would cost two thread wake-ups per read.
struct Follower {
    file: std::fs::File,
    pending: Vec<u8>,
    stream: Stream,
}

impl Follower {
    fn open(path: &Path, stream: Stream) -> Result<Self, EngineError> {
        Ok(Self {
            file: std::fs::File::open(path).map_err(|e| EngineError::io(path, e))?,
            pending: Vec::new(),
            stream,
        })
    }

    /// Reads what was appended and passes on every complete line; at the
    /// end (`last`), a final unterminated line too.
    fn drain(&mut self, last: bool, on_line: &mut (dyn FnMut(Stream, String) + Send)) {
        let mut chunk = Vec::new();
        if self.file.read_to_end(&mut chunk).is_ok() {
            self.pending.extend_from_slice(&chunk);
        }
        while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            on_line(
                self.stream,
                String::from_utf8_lossy(&line[..end]).into_owned(),
            );
        }
        if last && !self.pending.is_empty() {
            let line = std::mem::take(&mut self.pending);
            on_line(self.stream, String::from_utf8_lossy(&line).into_owned());
        }
    }
}

/// Wakes the loop following a command's output files when the command writes
/// to them (inotify): its lines are passed on at once, and nothing is read
/// while it is silent. Without inotify, every [`FOLLOW_INTERVAL`].
struct Written(Option<futures::stream::ReadyChunks<inotify::EventStream<[u8; 1024]>>>);

impl Written {
    fn watch(paths: [&Path; 2]) -> Self {
        let watched = || -> std::io::Result<_> {
            let inotify = inotify::Inotify::init()?;
            for path in paths {
                inotify.watches().add(path, inotify::WatchMask::MODIFY)?;
            }
            inotify.into_event_stream([0; 1024])
        };
        match watched() {
            Ok(events) => Self(Some(events.ready_chunks(64))),
            Err(e) => {
                tracing::debug!(error = %e, "no inotify: the output files are read every {FOLLOW_INTERVAL:?}");
                Self(None)
            }
        }
    }

    /// Until the command wrote (every write so far taken at once), or the
    /// time to look anyway came.
    async fn next(&mut self) {
        match &mut self.0 {
            Some(events) => {
                if let Ok(None) = tokio::time::timeout(WATCHED_RECHECK, events.next()).await {
                    // The watch ended (the files went away): look on a timer.
                    self.0 = None;
                }
            }
            None => sleep(FOLLOW_INTERVAL).await,
        }
    }
}

impl Drop for Written {
    /// Closing an inotify instance that watched files waits for the
    /// kernel's grace period (SRCU), often 5 to 20 ms: long enough to hold
    /// up the end of every run, and not to be spent on an async worker
    /// thread. It is closed on a blocking thread instead.
    fn drop(&mut self) {
        if let Some(events) = self.0.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn_blocking(move || drop(events));
        }
    }
}

/// Runs `program args` in `cwd` with exactly `env`, handing every output line
/// to `on_line` as it appears.
///
/// Terraform runs in its own process group and receives SIGINT if Slipway
/// dies (`PR_SET_PDEATHSIG`), so it stops and saves its state rather than
/// running on unattended.
pub async fn run(
    program: &Path,
    args: &[String],
    cwd: &Path,
    env: &[(String, String)],
    outputs: &Outputs,
    control: &Control<'_>,
    on_line: &mut (dyn FnMut(Stream, String) + Send),
) -> Result<Exit, EngineError> {
    let create =
        |path: PathBuf| std::fs::File::create(&path).map_err(|e| EngineError::io(&path, e));
    let (stdout_path, stderr_path) = (outputs.path("out"), outputs.path("err"));
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(cwd)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(create(stdout_path.clone())?)
        .stderr(create(stderr_path.clone())?)
        .process_group(0);
    // SAFETY: between fork and exec only async-signal-safe calls run:
    // sigaction(2) (SIGINT handled by default, even if Slipway was started
    // with it ignored) and prctl(2).
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::signal::signal(Signal::SIGINT, nix::sys::signal::SigHandler::SigDfl)
                .map_err(std::io::Error::from)?;
            nix::sys::prctl::set_pdeathsig(Some(Signal::SIGINT)).map_err(std::io::Error::from)
        });
    }
    let mut child = cmd.spawn().map_err(|e| EngineError::io(program, e))?;
    let pid = Pid::from_raw(
        child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .expect("a spawned child has a pid"),
    );
    let pid_file = outputs.pid_file();
    std::fs::write(&pid_file, pid.to_string()).map_err(|e| EngineError::io(&pid_file, e))?;
    let mut written = Written::watch([&stdout_path, &stderr_path]);
    let mut followers = [
        Follower::open(&stdout_path, Stream::Stdout)?,
        Follower::open(&stderr_path, Stream::Stderr)?,
    ];
    let mut stopped: Option<Stopped> = None;
    let mut kill_at: Option<Instant> = None;

    let status = loop {
        for f in &mut followers {
            f.drain(false, on_line);
        }
        tokio::select! {
            exited = child.wait() => break exited.map_err(|e| EngineError::io(program, e))?,
            () = written.next() => {}
            () = control.cancel.cancelled(), if stopped.is_none() => {
                interrupt(pid, control.interrupt);
                stopped = Some(Stopped::Cancelled);
                kill_at = Some(Instant::now() + control.grace);
            },
            () = sleep_until(control.deadline), if stopped.is_none() => {
                interrupt(pid, control.interrupt);
                stopped = Some(Stopped::TimedOut);
                kill_at = Some(Instant::now() + control.grace);
            },
            () = sleep_until(kill_at.unwrap_or_else(Instant::now)), if kill_at.is_some() => {
                let _ = killpg(pid, Signal::SIGKILL);
                kill_at = None;
            },
        }
    };
    if stopped.is_some() {
        // An aborted run leaves nothing of its own behind.
        let _ = killpg(pid, Signal::SIGKILL);
    }
    for f in &mut followers {
        f.drain(true, on_line);
    }
    let _ = std::fs::remove_file(&pid_file);
    Ok(Exit {
        status,
        stopped,
        group: pid,
    })
}

/// Sends SIGINT to the command (its pid leads its process group) or to
/// its whole group.
fn interrupt(pid: Pid, whom: Interrupt) {
    let _ = match whom {
        Interrupt::Command => kill(pid, Signal::SIGINT),
        Interrupt::Group => killpg(pid, Signal::SIGINT),
    };
}

/// Whether a process is still alive (a zombie, with an empty command line,
/// is not: this machine's init may not reap orphans promptly).
fn alive(pid: Pid) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| !cmdline.is_empty())
}

/// Waits for a command a previous Slipway process left running (found by its
/// pid file) to end, so what it leaves behind (a saved or an
/// `errored.tfstate` state) is complete; after `grace`, kills its process
/// group. It already got its SIGINT when that process died
/// (`PR_SET_PDEATHSIG`); a second one would make Terraform exit at once,
/// without saving.
pub async fn settle_orphan(pid_file: &Path, program: &Path, grace: Duration) {
    let Some(pid) = std::fs::read_to_string(pid_file)
        .ok()
        .and_then(|p| p.trim().parse::<i32>().ok())
        .map(Pid::from_raw)
    else {
        let _ = std::fs::remove_file(pid_file);
        return;
    };
    // Only ever signal what really is that Terraform: pids are reused.
    let ours = std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .is_ok_and(|c| c.contains(&*program.to_string_lossy()));
    if ours && alive(pid) {
        let deadline = Instant::now() + grace;
        while alive(pid) && Instant::now() < deadline {
            sleep(FOLLOW_INTERVAL).await;
        }
        if alive(pid) {
            let _ = killpg(pid, Signal::SIGKILL);
            let _ = kill(pid, Signal::SIGKILL);
            let deadline = Instant::now() + Duration::from_secs(5);
            while alive(pid) && Instant::now() < deadline {
                sleep(FOLLOW_INTERVAL).await;
            }
        }
    }
    let _ = std::fs::remove_file(pid_file);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Vec<(String, String)> {
        vec![("PATH".into(), std::env::var("PATH").unwrap_or_default())]
    }

    fn control(cancel: &CancellationToken, deadline: Duration, grace: Duration) -> Control<'_> {
        Control {
            cancel,
            deadline: Instant::now() + deadline,
            grace,
            interrupt: Interrupt::Command,
        }
    }

    #[tokio::test]
    async fn a_write_to_a_watched_output_file_wakes_its_follower() {
        let dir = tempfile::tempdir().unwrap();
        let (out, err) = (dir.path().join("out"), dir.path().join("err"));
        std::fs::write(&out, "").unwrap();
        std::fs::write(&err, "").unwrap();
        let mut written = Written::watch([&out, &err]);
        let events = written.0.as_mut().expect("inotify on this machine");
        std::fs::write(&err, "a line\n").unwrap();
        let woken = tokio::time::timeout(Duration::from_secs(30), events.next())
            .await
            .expect("woken by the write")
            .expect("the watch goes on");
        assert!(!woken.is_empty());

        // Files that cannot be watched are read on a timer instead.
        let missing = dir.path().join("missing");
        assert!(Written::watch([&missing, &missing]).0.is_none());
    }

    #[tokio::test]
    async fn follows_both_outputs_with_a_clean_environment() {
        let dir = tempfile::tempdir().unwrap();
        let cancel = CancellationToken::new();
        let mut lines = Vec::new();
        let script =
            "echo out; echo err >&2; echo \"secret=${SLIPWAY_NOT_PASSED:-unset}\"; printf tail";
        let outputs = Outputs::new(dir.path(), "cmd");
        let exit = run(
            Path::new("/bin/sh"),
            &["-c".into(), script.into()],
            Path::new("/"),
            &env(),
            &outputs,
            &control(&cancel, Duration::from_secs(30), Duration::from_secs(5)),
            &mut |stream, line| lines.push((stream, line)),
        )
        .await
        .unwrap();
        assert!(exit.status.success());
        assert_eq!(exit.stopped, None);
        assert!(lines.contains(&(Stream::Stdout, "out".into())));
        assert!(lines.contains(&(Stream::Stderr, "err".into())));
        assert!(lines.contains(&(Stream::Stdout, "secret=unset".into())));
        assert!(
            lines.contains(&(Stream::Stdout, "tail".into())),
            "the last, unterminated line"
        );
        assert!(
            !outputs.pid_file().exists(),
            "the pid file goes with the process"
        );
    }

    #[tokio::test]
    async fn cancel_interrupts_then_kills_after_the_grace_period() {
        let dir = tempfile::tempdir().unwrap();
        let cancel = CancellationToken::new();
        // Ignores SIGINT, so only the kill after the grace period stops it.
        let script = "trap '' INT; echo ready; while :; do sleep 1; done";
        let mut on_line = {
            let cancel = cancel.clone();
            move |_: Stream, line: String| {
                if line == "ready" {
                    cancel.cancel();
                }
            }
        };
        let exit = run(
            Path::new("/bin/sh"),
            &["-c".into(), script.into()],
            Path::new("/"),
            &env(),
            &Outputs::new(dir.path(), "cmd"),
            &control(
                &cancel,
                Duration::from_secs(600),
                Duration::from_millis(300),
            ),
            &mut on_line,
        )
        .await
        .unwrap();
        assert_eq!(exit.stopped, Some(Stopped::Cancelled));
        assert!(!exit.status.success());
    }

    /// Whether `parent` has a child process running `name`.
    fn child_named(parent: i32, name: &str) -> bool {
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return false;
        };
        entries.flatten().any(|entry| {
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            // `pid (comm) state ppid …`; comm may hold spaces, so split
            // after its closing parenthesis.
            let Some((head, tail)) = stat.rsplit_once(')') else {
                return false;
            };
            let comm = head.split_once('(').map_or("", |(_, comm)| comm);
            let ppid = tail.split_whitespace().nth(1);
            comm == name && ppid == Some(parent.to_string().as_str())
        })
    }

    #[tokio::test]
    async fn a_group_interrupt_stops_a_shell_and_the_command_it_waits_for() {
        use std::os::unix::process::ExitStatusExt;
        let dir = tempfile::tempdir().unwrap();
        let cancel = CancellationToken::new();
        // The shell waits for `sleep`; SIGINT to the shell alone would
        // leave both running until the kill after the grace period.
        let script = "sleep 600; echo after";
        let outputs = Outputs::new(dir.path(), "cmd");
        // Cancels once `sleep` runs: a signal landing between the shell's
        // fork and the child's exec is caught by the shell's handler in
        // the child and lost, which is not what this test is about.
        let waiter = {
            let (cancel, pid_file) = (cancel.clone(), outputs.pid_file());
            tokio::spawn(async move {
                let deadline = Instant::now() + Duration::from_secs(30);
                while Instant::now() < deadline {
                    let shell = std::fs::read_to_string(&pid_file).unwrap_or_default();
                    if let Ok(shell) = shell.trim().parse::<i32>()
                        && child_named(shell, "sleep")
                    {
                        break;
                    }
                    sleep(Duration::from_millis(10)).await;
                }
                cancel.cancel();
            })
        };
        let exit = run(
            Path::new("/bin/sh"),
            &["-c".into(), script.into()],
            Path::new("/"),
            &env(),
            &outputs,
            &Control {
                interrupt: Interrupt::Group,
                ..control(&cancel, Duration::from_secs(600), Duration::from_secs(60))
            },
            &mut |_, _| {},
        )
        .await
        .unwrap();
        waiter.await.unwrap();
        assert_eq!(exit.stopped, Some(Stopped::Cancelled));
        assert_eq!(
            exit.status.signal(),
            Some(Signal::SIGINT as i32),
            "stopped by the interrupt, not killed after the grace period: {:?}",
            exit.status
        );
    }

    #[tokio::test]
    async fn the_time_limit_stops_a_run() {
        let dir = tempfile::tempdir().unwrap();
        let cancel = CancellationToken::new();
        let exit = run(
            Path::new("/bin/sh"),
            &["-c".into(), "sleep 30".into()],
            Path::new("/"),
            &env(),
            &Outputs::new(dir.path(), "cmd"),
            &control(&cancel, Duration::from_millis(200), Duration::from_secs(5)),
            &mut |_, _| {},
        )
        .await
        .unwrap();
        assert_eq!(exit.stopped, Some(Stopped::TimedOut));
    }

    #[tokio::test]
    async fn an_orphan_is_awaited_then_killed() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("orphan.pid");
        // One that ends by itself is waited for...
        let mut ending = std::process::Command::new("/bin/sh")
            .args(["-c", "sleep 1; exit 3"])
            .spawn()
            .unwrap();
        // An orphan left by an earlier process has long been exec'd.
        let execed = |pid: u32, text: &str| {
            while !std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(text))
            {
                std::thread::sleep(Duration::from_millis(5));
            }
        };
        execed(ending.id(), "exit 3");
        std::fs::write(&pid_file, ending.id().to_string()).unwrap();
        settle_orphan(&pid_file, Path::new("/bin/sh"), Duration::from_secs(30)).await;
        assert!(!pid_file.exists());
        assert_eq!(ending.wait().unwrap().code(), Some(3), "it ended by itself");
        // ...one that does not is killed after the grace period.
        let mut stuck = {
            use std::os::unix::process::CommandExt;
            std::process::Command::new("/bin/sh")
                .args(["-c", "while :; do sleep 0.05; done"])
                .process_group(0)
                .spawn()
                .unwrap()
        };
        execed(stuck.id(), "while");
        std::fs::write(&pid_file, stuck.id().to_string()).unwrap();
        settle_orphan(&pid_file, Path::new("/bin/sh"), Duration::from_millis(200)).await;
        assert!(!stuck.wait().unwrap().success());
        // A pid file naming some other program is left alone.
        let mut bystander = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        std::fs::write(&pid_file, bystander.id().to_string()).unwrap();
        settle_orphan(
            &pid_file,
            Path::new("/usr/local/bin/terraform"),
            Duration::from_secs(1),
        )
        .await;
        assert!(bystander.try_wait().unwrap().is_none());
        bystander.kill().unwrap();
        bystander.wait().unwrap();
    }
}
