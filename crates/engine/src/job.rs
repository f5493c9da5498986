//! TEST and RELEASE runs on a runner: fetch the project's repository at a
//! version into a fresh directory (or, for jobs that need no project, leave
//! it empty), run each step (`sh -c COMMAND`) in its own process group with
//! its time limit, and report every step's result.
//!
//! The process runner ([`crate::Engine::run_job`]) does this in
//! `<work>/jobs/<run>` on the worker. A Terraform runner does it wherever its
//! module puts the run; the `local` blueprint's runner module calls
//! `slipway job exec`, which is [`exec`]. Either way nothing of a run
//! survives it: [`remove_run_dir`] kills every process still working in the
//! directory and removes it — after the run, and for runs a dead process
//! left behind.

use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use slipway_core::JobVersion;
use slipway_core::job::{RunResults, Step, StepOutcome, StepResult};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::EngineError;
use crate::masking::Masker;
use crate::process::{self, Control, Interrupt, Outputs, Stopped, Stream};

/// How long fetching the repository may take.
const FETCH_TIME_LIMIT: Duration = Duration::from_secs(600);

/// What a run does; what a Terraform runner is handed (as JSON), with the
/// cluster token apart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRun {
    pub cluster: String,
    /// The cluster's endpoint, for the steps to test.
    pub endpoint: String,
    /// The project's repository; none when the steps need no project.
    pub repository: Option<String>,
    pub version: JobVersion,
    pub steps: Vec<Step>,
    /// How many nodes the cluster runs (`SLIPWAY_NODES`).
    #[serde(default)]
    pub nodes: u32,
    /// Whether the cluster admits callers without a token (`SLIPWAY_PUBLIC`).
    #[serde(default)]
    pub public: bool,
}

impl JobRun {
    /// The longest the steps may take together.
    pub fn time_limit(&self) -> Duration {
        FETCH_TIME_LIMIT + self.steps.iter().map(|s| s.timeout).sum::<Duration>()
    }
}

/// What a run reports: every step's result, and why it could not run its
/// steps at all, if so.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobReport {
    #[serde(flatten)]
    pub results: RunResults,
    pub error: Option<String>,
}

/// What happens during a run, as it happens.
#[derive(Debug, Clone, PartialEq)]
pub enum JobEvent {
    Started {
        step: String,
        command: String,
    },
    Output {
        step: String,
        stream: Stream,
        line: String,
    },
    Finished(StepResult),
}

/// Runs `run` in `dir` (created, and left for the caller to remove): the
/// repository is cloned into `dir/src` and checked out at the version, then
/// the steps run there one after another. Every line any of them writes and
/// every step's start and end go to `on_event`, with `token` masked.
/// Cancelling stops the step that runs (SIGINT, then after `grace` SIGKILL
/// of its process group) and skips the rest.
pub async fn execute(
    dir: &Path,
    run: &JobRun,
    token: &str,
    cancel: &CancellationToken,
    grace: Duration,
    on_event: &mut (dyn FnMut(JobEvent) + Send),
) -> JobReport {
    let masker = Masker::new([token.to_owned()]);
    let not_run = |outcome| RunResults {
        steps: run
            .steps
            .iter()
            .map(|s| StepResult {
                name: s.name.clone(),
                outcome,
                exit_code: None,
                duration_ms: 0,
            })
            .collect(),
    };
    let src = dir.join("src");
    if let Err(e) = std::fs::create_dir_all(dir) {
        return JobReport {
            results: not_run(StepOutcome::NotRun),
            error: Some(format!("cannot create {}: {e}", dir.display())),
        };
    }
    let fetched = match &run.repository {
        Some(repository) => {
            fetch(dir, &src, repository, run, cancel, grace, &masker, on_event).await
        }
        // Nothing to fetch: the steps run in an empty directory.
        None => std::fs::create_dir_all(&src)
            .map_err(|e| format!("cannot create {}: {e}", src.display())),
    };
    if let Err(error) = fetched {
        let outcome = if cancel.is_cancelled() {
            StepOutcome::Cancelled
        } else {
            StepOutcome::NotRun
        };
        return JobReport {
            results: not_run(outcome),
            error: Some(error),
        };
    }

    let env = step_environment(run, token);
    let mut results = RunResults::default();
    for step in &run.steps {
        if cancel.is_cancelled() {
            results.steps.push(StepResult {
                name: step.name.clone(),
                outcome: StepOutcome::NotRun,
                exit_code: None,
                duration_ms: 0,
            });
            continue;
        }
        on_event(JobEvent::Started {
            step: step.name.clone(),
            command: masker.mask(&step.command).into_owned(),
        });
        let started = Instant::now();
        let control = Control {
            cancel,
            deadline: started + step.timeout,
            grace,
            interrupt: Interrupt::Group,
        };
        let name = step.name.clone();
        let mut on_line = |stream, line: String| {
            on_event(JobEvent::Output {
                step: name.clone(),
                stream,
                line: masker.mask(&line).into_owned(),
            })
        };
        let args = ["-c".to_owned(), step.command.clone()];
        let exit = process::run(
            Path::new("/bin/sh"),
            &args,
            &src,
            &env,
            &Outputs::new(dir, &format!("step-{}", step.name)),
            &control,
            &mut on_line,
        )
        .await;
        let (outcome, exit_code) = match &exit {
            Ok(exit) => {
                // What the step left running in its group goes with it.
                let _ = killpg(exit.group, Signal::SIGKILL);
                match exit.stopped {
                    Some(Stopped::TimedOut) => (StepOutcome::TimedOut, None),
                    Some(Stopped::Cancelled) => (StepOutcome::Cancelled, None),
                    None if exit.status.success() => (StepOutcome::Passed, Some(0)),
                    None => (StepOutcome::Failed, exit.status.code()),
                }
            }
            Err(e) => {
                on_event(JobEvent::Output {
                    step: step.name.clone(),
                    stream: Stream::Stderr,
                    line: format!("cannot run the step: {e}"),
                });
                (StepOutcome::Failed, None)
            }
        };
        let result = StepResult {
            name: step.name.clone(),
            outcome,
            exit_code,
            duration_ms: started.elapsed().as_millis() as u64,
        };
        on_event(JobEvent::Finished(result.clone()));
        results.steps.push(result);
    }
    JobReport {
        results,
        error: None,
    }
}

/// `git clone` of the repository into `src`, and `git checkout` of the
/// commit the run's version names there — a tag, a branch (of the
/// repository's) or a commit; a version it does not have is refused saying
/// so, not with git's own words.
#[allow(
    clippy::too_many_arguments,
    reason = "the run's parts, each needed once"
)]
async fn fetch(
    dir: &Path,
    src: &Path,
    repository: &str,
    run: &JobRun,
    cancel: &CancellationToken,
    grace: Duration,
    masker: &Masker,
    on_event: &mut (dyn FnMut(JobEvent) + Send),
) -> Result<(), String> {
    let git = which("git").ok_or("git is not installed on this runner")?;
    let env = basic_environment();
    let control = Control {
        cancel,
        deadline: Instant::now() + FETCH_TIME_LIMIT,
        grace,
        interrupt: Interrupt::Group,
    };
    let mut git = async |what: &str, args: Vec<String>, cwd: &Path, show: bool| {
        let mut errors = Vec::new();
        let mut stdout = Vec::new();
        let mut on_line = |stream, line: String| {
            let line = masker.mask(&line).into_owned();
            match stream {
                Stream::Stderr => errors.push(line.clone()),
                Stream::Stdout => stdout.push(line.clone()),
            }
            if show {
                on_event(JobEvent::Output {
                    step: "fetch".into(),
                    stream,
                    line,
                });
            }
        };
        let exit = process::run(
            &git,
            &args,
            cwd,
            &env,
            &Outputs::new(dir, &format!("git-{what}")),
            &control,
            &mut on_line,
        )
        .await
        .map_err(|e| format!("cannot run git {what}: {e}"))?;
        match exit.stopped {
            Some(Stopped::Cancelled) => Err(format!("git {what}: cancelled")),
            Some(Stopped::TimedOut) => Err(format!("git {what}: timed out")),
            None if exit.status.success() => Ok(Ok(stdout)),
            None => Ok(Err(errors.join("; "))),
        }
    };
    let cannot = |why: String| {
        format!(
            "cannot fetch {repository} at version {}: {why}",
            run.version
        )
    };

    let clone = vec![
        "clone".into(),
        "--quiet".into(),
        "--no-checkout".into(),
        "--".into(),
        repository.to_owned(),
        src.display().to_string(),
    ];
    git("clone", clone, dir, true)
        .await
        .map_err(&cannot)?
        .map_err(|why| cannot(format!("git clone: {why}")))?;

    // The commit the version names: a tag or commit as it is, a branch as
    // the repository has it.
    let mut commit = None;
    for candidate in [
        format!("{}^{{commit}}", run.version),
        format!("origin/{}^{{commit}}", run.version),
    ] {
        let resolve = vec![
            "rev-parse".into(),
            "--verify".into(),
            "--quiet".into(),
            candidate,
        ];
        if let Ok(lines) = git("resolve", resolve, src, false).await.map_err(&cannot)? {
            commit = lines.into_iter().next();
            break;
        }
    }
    let Some(commit) = commit else {
        return Err(format!(
            "version {} is not in {repository}: it has no tag, branch or commit of that name",
            run.version
        ));
    };
    let checkout = vec![
        "-c".into(),
        "advice.detachedHead=false".into(),
        "checkout".into(),
        "--quiet".into(),
        "--detach".into(),
        commit,
    ];
    git("checkout", checkout, src, true)
        .await
        .map_err(&cannot)?
        .map_err(|why| cannot(format!("git checkout: {why}")))
        .map(|_| ())
}

/// What every step gets: the basics of this process's environment and the
/// run's own variables — nothing else of Slipway's.
fn step_environment(run: &JobRun, token: &str) -> Vec<(String, String)> {
    let mut env = basic_environment();
    env.extend([
        ("SLIPWAY_CLUSTER".to_owned(), run.cluster.clone()),
        ("SLIPWAY_ENDPOINT".to_owned(), run.endpoint.clone()),
        ("SLIPWAY_CLUSTER_TOKEN".to_owned(), token.to_owned()),
        ("SLIPWAY_VERSION".to_owned(), run.version.to_string()),
        ("SLIPWAY_NODES".to_owned(), run.nodes.to_string()),
        ("SLIPWAY_PUBLIC".to_owned(), run.public.to_string()),
    ]);
    // The executable running the job (the worker's, or `slipway job exec`'s
    // on a Terraform runner): steps can use its `probe` to call the cluster
    // without tools the machine may lack.
    if let Ok(exe) = std::env::current_exe() {
        env.push(("SLIPWAY_BIN".to_owned(), exe.display().to_string()));
    }
    env
}

fn basic_environment() -> Vec<(String, String)> {
    const BASICS: &[&str] = &[
        "PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ", "TMPDIR",
    ];
    let mut env: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| BASICS.contains(&k.as_str()))
        .collect();
    env.push(("GIT_TERMINAL_PROMPT".into(), "0".into()));
    env
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
}

/// Kills every process whose working directory is in `dir` (a step's
/// leftovers: its own group was killed when it ended, but a run cut short
/// by its Slipway dying leaves them), then removes `dir`. Idempotent.
pub fn remove_run_dir(dir: &Path) -> Result<(), EngineError> {
    let Ok(dir) = dir.canonicalize() else {
        return Ok(()); // already gone
    };
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.filter_map(Result::ok) {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|p| p.parse::<i32>().ok())
            else {
                continue;
            };
            let inside =
                std::fs::read_link(entry.path().join("cwd")).is_ok_and(|cwd| cwd.starts_with(&dir));
            if inside && pid != std::process::id() as i32 {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
    }
    match std::fs::remove_dir_all(&dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(EngineError::io(&dir, e)),
    }
}

/// One line for a run's log, and for `slipway job exec`'s output.
pub fn describe(event: &JobEvent) -> String {
    match event {
        JobEvent::Started { step, command } => format!("{step}: $ {command}"),
        JobEvent::Output { step, line, .. } => format!("{step}: {line}"),
        JobEvent::Finished(result) => {
            let seconds = result.duration_ms as f64 / 1000.0;
            match (result.outcome, result.exit_code) {
                (StepOutcome::Failed, Some(code)) => {
                    format!("{}: failed (exit {code}) after {seconds:.1}s", result.name)
                }
                (outcome, _) => {
                    format!("{}: {} after {seconds:.1}s", result.name, outcome.as_str())
                }
            }
        }
    }
}

/// `slipway job exec`, what a Terraform runner runs: the run described by
/// `SLIPWAY_JOB` (a [`JobRun`] as JSON) with the token in
/// `SLIPWAY_CLUSTER_TOKEN`, in the directory `SLIPWAY_JOB_DIR`. Prints every
/// event as a line and writes the [`JobReport`] to `results.json` there.
/// SIGTERM or SIGINT (also: its parent, the provisioner's shell, dying)
/// cancels the run, which still writes its report.
pub async fn exec_from_env() -> Result<JobReport, String> {
    let var = |name: &str| std::env::var(name).map_err(|_| format!("{name} is not set"));
    let run: JobRun =
        serde_json::from_str(&var("SLIPWAY_JOB")?).map_err(|e| format!("SLIPWAY_JOB: {e}"))?;
    let token = var("SLIPWAY_CLUSTER_TOKEN")?;
    let dir = PathBuf::from(var("SLIPWAY_JOB_DIR")?);
    let _ = nix::sys::prctl::set_pdeathsig(Some(Signal::SIGTERM));
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        stop.cancel();
    });
    let report = execute(
        &dir,
        &run,
        &token,
        &cancel,
        Duration::from_secs(5),
        &mut |event| println!("{}", describe(&event)),
    )
    .await;
    let path = dir.join("results.json");
    std::fs::write(
        &path,
        serde_json::to_vec(&report).expect("a report serializes"),
    )
    .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn git(dir: &Path, args: &[&str]) {
        let out = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
    }

    /// A repository whose `v1` has `check.sh` printing the environment and
    /// whose later commit changes it: the run must see `v1`'s.
    fn repository(root: &Path) -> PathBuf {
        let repo = root.join("repo");
        std::fs::create_dir_all(&repo).unwrap();
        git(&repo, &["init", "--quiet", "--initial-branch=main"]);
        std::fs::write(
            repo.join("check.sh"),
            "echo \"version=$SLIPWAY_VERSION cluster=$SLIPWAY_CLUSTER token=$SLIPWAY_CLUSTER_TOKEN\"\n",
        )
        .unwrap();
        git(&repo, &["add", "."]);
        git(&repo, &["commit", "--quiet", "-m", "v1"]);
        git(&repo, &["tag", "v1"]);
        std::fs::write(repo.join("check.sh"), "echo later; exit 9\n").unwrap();
        git(&repo, &["commit", "--quiet", "-am", "later"]);
        repo
    }

    fn run(repo: &Path, steps: &[(&str, &str, u64)]) -> JobRun {
        JobRun {
            cluster: "c1".into(),
            endpoint: "http://127.0.0.1:9".into(),
            repository: Some(repo.display().to_string()),
            version: JobVersion::parse("v1").unwrap(),
            nodes: 2,
            public: false,
            steps: steps
                .iter()
                .map(|(name, command, secs)| Step {
                    name: (*name).into(),
                    command: (*command).into(),
                    timeout: Duration::from_secs(*secs),
                })
                .collect(),
        }
    }

    #[tokio::test]
    async fn steps_pass_fail_and_time_out_at_the_version_asked() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = repository(tmp.path());
        let dir = tmp.path().join("run");
        let job = run(
            &repo,
            &[
                ("env", "sh check.sh", 30),
                ("fails", "echo broken >&2; exit 3", 30),
                ("hangs", "sleep 600 & sleep 600", 1),
                ("after", "true", 30),
            ],
        );
        let mut events = Vec::new();
        let report = execute(
            &dir,
            &job,
            "secret-token-value",
            &CancellationToken::new(),
            Duration::from_secs(1),
            &mut |e| events.push(e),
        )
        .await;
        assert_eq!(report.error, None);
        let outcomes: Vec<_> = report
            .results
            .steps
            .iter()
            .map(|s| (s.name.as_str(), s.outcome, s.exit_code))
            .collect();
        assert_eq!(
            outcomes,
            [
                ("env", StepOutcome::Passed, Some(0)),
                ("fails", StepOutcome::Failed, Some(3)),
                ("hangs", StepOutcome::TimedOut, None),
                ("after", StepOutcome::Passed, Some(0)),
            ]
        );
        let lines: Vec<String> = events.iter().map(describe).collect();
        assert!(
            lines.contains(&"env: version=v1 cluster=c1 token=***".to_owned()),
            "{lines:#?}"
        );
        assert!(lines.contains(&"fails: broken".to_owned()), "{lines:#?}");
        // The hanging step's background sleep went with its group.
        remove_run_dir(&dir).unwrap();
        assert!(!dir.exists());
        let left = std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| {
                std::fs::read(e.path().join("cmdline"))
                    .is_ok_and(|c| String::from_utf8_lossy(&c).starts_with("sleep\u{0}600"))
                    && std::fs::read_link(e.path().join("cwd"))
                        .is_ok_and(|cwd| cwd.starts_with(tmp.path()))
            })
            .count();
        assert_eq!(left, 0, "no step process outlives the run");
    }

    #[tokio::test]
    async fn an_unknown_version_runs_nothing_and_says_why() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = repository(tmp.path());
        let mut job = run(&repo, &[("env", "true", 30)]);
        job.version = JobVersion::parse("v404").unwrap();
        let report = execute(
            &tmp.path().join("run"),
            &job,
            "t0ken",
            &CancellationToken::new(),
            Duration::from_secs(1),
            &mut |_| {},
        )
        .await;
        assert_eq!(report.results.steps[0].outcome, StepOutcome::NotRun);
        let error = report.error.unwrap();
        assert_eq!(
            error,
            format!(
                "version v404 is not in {}: it has no tag, branch or commit of that name",
                repo.display()
            )
        );
    }

    #[tokio::test]
    async fn a_version_may_be_a_tag_a_branch_or_a_commit() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = repository(tmp.path());
        git(&repo, &["branch", "topic", "v1"]);
        let head = Command::new("git")
            .args(["rev-parse", "HEAD"])
            .current_dir(&repo)
            .output()
            .unwrap();
        let head = String::from_utf8(head.stdout).unwrap().trim().to_owned();
        for (i, (version, expect)) in [("v1", 0), ("topic", 0), (head.as_str(), 9)]
            .into_iter()
            .enumerate()
        {
            let mut job = run(&repo, &[("check", "sh check.sh", 30)]);
            job.version = JobVersion::parse(version).unwrap();
            let report = execute(
                &tmp.path().join(format!("run-{i}")),
                &job,
                "t0ken",
                &CancellationToken::new(),
                Duration::from_secs(1),
                &mut |_| {},
            )
            .await;
            assert_eq!(report.error, None, "{version}");
            assert_eq!(report.results.steps[0].exit_code, Some(expect), "{version}");
        }
    }

    #[tokio::test]
    async fn jobs_without_a_repository_run_in_an_empty_directory_with_the_version() {
        let tmp = tempfile::tempdir().unwrap();
        let mut job = run(
            tmp.path(),
            &[(
                "env",
                "ls -A | wc -l; echo \"$SLIPWAY_VERSION $SLIPWAY_NODES $SLIPWAY_PUBLIC\"; test -x \"$SLIPWAY_BIN\"",
                30,
            )],
        );
        job.repository = None;
        job.version = JobVersion::parse("anything-at-all").unwrap();
        let mut events = Vec::new();
        let report = execute(
            &tmp.path().join("run"),
            &job,
            "t0ken",
            &CancellationToken::new(),
            Duration::from_secs(1),
            &mut |e| events.push(describe(&e)),
        )
        .await;
        assert_eq!(report.error, None);
        assert_eq!(
            report.results.steps[0].outcome,
            StepOutcome::Passed,
            "{events:#?}"
        );
        assert!(events.contains(&"env: 0".to_owned()), "{events:#?}");
        assert!(
            events.contains(&"env: anything-at-all 2 false".to_owned()),
            "{events:#?}"
        );
    }

    #[tokio::test]
    async fn cancelling_stops_the_running_step_and_skips_the_rest() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = repository(tmp.path());
        let job = run(&repo, &[("long", "sleep 600", 600), ("next", "true", 30)]);
        let cancel = CancellationToken::new();
        let mut seen_start = false;
        let report = execute(
            &tmp.path().join("run"),
            &job,
            "t0ken",
            &cancel,
            Duration::from_millis(200),
            &mut |e| {
                if matches!(e, JobEvent::Started { .. }) && !seen_start {
                    seen_start = true;
                    cancel.cancel();
                }
            },
        )
        .await;
        let outcomes: Vec<_> = report.results.steps.iter().map(|s| s.outcome).collect();
        assert_eq!(outcomes, [StepOutcome::Cancelled, StepOutcome::NotRun]);
    }
}
