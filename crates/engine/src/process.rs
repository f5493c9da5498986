//! Running one Terraform command: a sanitized environment, output streamed
//! line by line, and a stop that lets Terraform save its state — one SIGINT,
//! a grace period, then SIGKILL of its process group.

use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

use crate::EngineError;

/// After the process exits, how long its output pipes may stay open (held by
/// a straggling grandchild) before Slipway stops reading them.
const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(2);

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
}

/// A finished command.
pub struct Exit {
    pub status: ExitStatus,
    pub stopped: Option<Stopped>,
}

/// Runs `program args` in `cwd` with exactly `env`, handing every output line
/// to `on_line` as it arrives.
///
/// Terraform runs in its own process group and receives SIGINT if Slipway
/// dies (`PR_SET_PDEATHSIG`), so it stops and saves its state rather than
/// running on unattended.
pub async fn run(
    program: &Path,
    args: &[String],
    cwd: &Path,
    env: &[(String, String)],
    control: &Control<'_>,
    on_line: &mut (dyn FnMut(Stream, String) + Send),
) -> Result<Exit, EngineError> {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(cwd)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    // SAFETY: between fork and exec only the async-signal-safe prctl(2) runs.
    unsafe {
        cmd.pre_exec(|| {
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
    let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
    let mut stderr = BufReader::new(child.stderr.take().expect("piped stderr")).lines();
    let (mut stdout_open, mut stderr_open) = (true, true);
    let mut status: Option<ExitStatus> = None;
    let mut stopped: Option<Stopped> = None;
    let mut kill_at: Option<Instant> = None;
    let mut drain_until: Option<Instant> = None;

    while status.is_none() || stdout_open || stderr_open {
        tokio::select! {
            line = stdout.next_line(), if stdout_open => match line {
                Ok(Some(line)) => on_line(Stream::Stdout, line),
                _ => stdout_open = false,
            },
            line = stderr.next_line(), if stderr_open => match line {
                Ok(Some(line)) => on_line(Stream::Stderr, line),
                _ => stderr_open = false,
            },
            exited = child.wait(), if status.is_none() => {
                status = Some(exited.map_err(|e| EngineError::io(program, e))?);
                if stopped.is_some() {
                    // An aborted run leaves nothing of its own behind.
                    let _ = killpg(pid, Signal::SIGKILL);
                }
                drain_until = Some(Instant::now() + DRAIN_AFTER_EXIT);
            },
            () = control.cancel.cancelled(), if stopped.is_none() && status.is_none() => {
                let _ = kill(pid, Signal::SIGINT);
                stopped = Some(Stopped::Cancelled);
                kill_at = Some(Instant::now() + control.grace);
            },
            () = sleep_until(control.deadline), if stopped.is_none() && status.is_none() => {
                let _ = kill(pid, Signal::SIGINT);
                stopped = Some(Stopped::TimedOut);
                kill_at = Some(Instant::now() + control.grace);
            },
            () = sleep_until(kill_at.unwrap_or_else(Instant::now)), if kill_at.is_some() && status.is_none() => {
                let _ = killpg(pid, Signal::SIGKILL);
                kill_at = None;
            },
            () = sleep_until(drain_until.unwrap_or_else(Instant::now)), if drain_until.is_some() => break,
        }
    }
    Ok(Exit {
        status: status.expect("the loop ends after the exit"),
        stopped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Vec<(String, String)> {
        vec![("PATH".into(), std::env::var("PATH").unwrap_or_default())]
    }

    #[tokio::test]
    async fn streams_both_outputs_with_a_clean_environment() {
        let cancel = CancellationToken::new();
        let control = Control {
            cancel: &cancel,
            deadline: Instant::now() + Duration::from_secs(30),
            grace: Duration::from_secs(5),
        };
        let mut lines = Vec::new();
        let script = "echo out; echo err >&2; echo \"secret=${SLIPWAY_NOT_PASSED:-unset}\"";
        let exit = run(
            Path::new("/bin/sh"),
            &["-c".into(), script.into()],
            Path::new("/"),
            &env(),
            &control,
            &mut |stream, line| lines.push((stream, line)),
        )
        .await
        .unwrap();
        assert!(exit.status.success());
        assert_eq!(exit.stopped, None);
        assert!(lines.contains(&(Stream::Stdout, "out".into())));
        assert!(lines.contains(&(Stream::Stderr, "err".into())));
        assert!(lines.contains(&(Stream::Stdout, "secret=unset".into())));
    }

    #[tokio::test]
    async fn cancel_interrupts_then_kills_after_the_grace_period() {
        let cancel = CancellationToken::new();
        let control = Control {
            cancel: &cancel,
            deadline: Instant::now() + Duration::from_secs(600),
            grace: Duration::from_millis(300),
        };
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
            &control,
            &mut on_line,
        )
        .await
        .unwrap();
        assert_eq!(exit.stopped, Some(Stopped::Cancelled));
        assert!(!exit.status.success());
    }

    #[tokio::test]
    async fn the_time_limit_stops_a_run() {
        let cancel = CancellationToken::new();
        let control = Control {
            cancel: &cancel,
            deadline: Instant::now() + Duration::from_millis(200),
            grace: Duration::from_secs(5),
        };
        let exit = run(
            Path::new("/bin/sh"),
            &["-c".into(), "sleep 30".into()],
            Path::new("/"),
            &env(),
            &control,
            &mut |_, _| {},
        )
        .await
        .unwrap();
        assert_eq!(exit.stopped, Some(Stopped::TimedOut));
    }
}
