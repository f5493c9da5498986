//! TEST and RELEASE (docs/domain.md §4): the jobs a blueprint defines, what a
//! run is asked to do, its results, and the report across runs.
//!
//! A run fetches the project's repository at a version on a runner of its
//! own, runs its steps (the test suites, or the release command) one after
//! another, each with its own time limit, and passes only if every step
//! passes. A blueprint whose jobs need no project (the `local` blueprint's
//! test the cluster itself) names no repository: its steps run in an empty
//! directory of the run's own, and the version is only passed on to them
//! (`SLIPWAY_VERSION`).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::names::{JobVersion, OperationId};
use crate::operation::OperationKind;
use crate::refusal::Refusal;
use crate::validation::ValidationError;

/// The longest any one step may be given.
pub const MAX_STEP_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// The `[jobs]` section of `blueprint.toml`.
///
/// ```toml
/// [jobs]
/// repository = "https://github.com/example/project.git"
/// runner = "terraform"          # or "process" (the default)
///
/// [[jobs.suites]]
/// name = "smoke"
/// command = "make smoke"
/// timeout = "5m"
///
/// [jobs.release]
/// command = "make release"
/// timeout = "30m"
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Jobs {
    /// The project's repository: anything `git clone` accepts. None: the
    /// steps need no project; they run in an empty directory and the
    /// version is theirs to use (`SLIPWAY_VERSION`).
    #[serde(default)]
    pub repository: Option<String>,
    #[serde(default)]
    pub runner: RunnerKind,
    /// TEST runs these, in order.
    #[serde(default)]
    pub suites: Vec<Step>,
    /// RELEASE runs this.
    pub release: Option<ReleaseStep>,
}

/// Where a run's steps execute.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunnerKind {
    /// A fresh temporary directory on the worker, removed afterwards.
    #[default]
    Process,
    /// The blueprint's runner module (`runner/`), applied for the run — on a
    /// cloud, a time-limited machine that runs the job — and destroyed
    /// afterwards whatever happened.
    Terraform,
}

/// One command with its time limit: a test suite.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub name: String,
    /// Run with `sh -c` at the repository's root.
    pub command: String,
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

/// The release command (its step is named `release`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseStep {
    pub command: String,
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl Jobs {
    /// Checks the section: a repository, steps with valid and distinct
    /// names, commands, and time limits within bounds.
    pub fn check(&self) -> Result<(), ValidationError> {
        if let Some(repository) = &self.repository {
            let repository = repository.trim();
            if repository.is_empty()
                || repository.starts_with('-')
                || repository.chars().any(char::is_whitespace)
            {
                return Err(ValidationError::new(
                    "jobs.repository",
                    "must be a git URL without spaces (or no repository at all)",
                ));
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, step) in self.suites.iter().enumerate() {
            let field = format!("jobs.suites[{i}]");
            check_step_name(&step.name).map_err(|e| e.for_field(format!("{field}.name")))?;
            if !seen.insert(step.name.as_str()) {
                return Err(ValidationError::new(
                    format!("{field}.name"),
                    format!("suite names must be distinct ({:?} repeats)", step.name),
                ));
            }
            check_command(&field, &step.command, step.timeout)?;
        }
        if let Some(release) = &self.release {
            check_command("jobs.release", &release.command, release.timeout)?;
        }
        Ok(())
    }

    /// The steps a run of `kind` executes, or why there are none.
    pub fn steps(&self, kind: OperationKind) -> Result<Vec<Step>, Refusal> {
        match kind {
            OperationKind::Test if self.suites.is_empty() => Err(Refusal::NoJob {
                rule: "the blueprint defines no test suites".into(),
            }),
            OperationKind::Test => Ok(self.suites.clone()),
            OperationKind::Release => match &self.release {
                Some(release) => Ok(vec![Step {
                    name: "release".into(),
                    command: release.command.clone(),
                    timeout: release.timeout,
                }]),
                None => Err(Refusal::NoJob {
                    rule: "the blueprint defines no release command".into(),
                }),
            },
            other @ (OperationKind::Deploy
            | OperationKind::Update
            | OperationKind::Destroy
            | OperationKind::Refresh
            | OperationKind::Plan
            | OperationKind::Cleanup) => Err(Refusal::NoJob {
                rule: format!("a {other} operation runs no job"),
            }),
        }
    }
}

fn check_step_name(name: &str) -> Result<(), ValidationError> {
    let valid = (1..=63).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if valid {
        Ok(())
    } else {
        Err(ValidationError::new(
            "name",
            format!(
                "must be 1-63 lowercase letters, digits, '-' or '_', starting with a letter or digit (got {name:?})"
            ),
        ))
    }
}

fn check_command(field: &str, command: &str, timeout: Duration) -> Result<(), ValidationError> {
    if command.trim().is_empty() {
        return Err(ValidationError::new(
            format!("{field}.command"),
            "must not be empty",
        ));
    }
    if timeout.is_zero() || timeout > MAX_STEP_TIMEOUT {
        return Err(ValidationError::new(
            format!("{field}.timeout"),
            "must be more than 0 and at most 24h",
        ));
    }
    Ok(())
}

/// How one step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum StepOutcome {
    Passed,
    Failed,
    /// Killed at its time limit.
    TimedOut,
    /// Stopped because the run was cancelled.
    Cancelled,
    /// Not run: the repository could not be fetched, or the run was
    /// cancelled before.
    NotRun,
}

impl StepOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            StepOutcome::Passed => "passed",
            StepOutcome::Failed => "failed",
            StepOutcome::TimedOut => "timed out",
            StepOutcome::Cancelled => "cancelled",
            StepOutcome::NotRun => "not run",
        }
    }
}

/// One step's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StepResult {
    pub name: String,
    pub outcome: StepOutcome,
    /// The command's exit code, when it exited by itself.
    pub exit_code: Option<i32>,
    pub duration_ms: u64,
}

/// A run's results: every step, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunResults {
    pub steps: Vec<StepResult>,
}

impl RunResults {
    /// A run passes only if it ran steps and every one passed.
    pub fn passed(&self) -> bool {
        !self.steps.is_empty() && self.steps.iter().all(|s| s.outcome == StepOutcome::Passed)
    }

    /// One line for people: `smoke passed, unit failed (exit 1), slow timed out`.
    pub fn summary(&self) -> String {
        self.steps
            .iter()
            .map(|s| match (s.outcome, s.exit_code) {
                (StepOutcome::Failed, Some(code)) => format!("{} failed (exit {code})", s.name),
                (outcome, _) => format!("{} {}", s.name, outcome.as_str()),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A finished run, as the report reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishedRun {
    pub id: OperationId,
    pub cluster: String,
    pub kind: OperationKind,
    pub version: JobVersion,
    pub finished_at: Timestamp,
    pub passed: bool,
}

/// The report's line for one cluster, kind and version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunSummary {
    pub cluster: String,
    pub kind: OperationKind,
    pub version: String,
    /// The latest run's outcome, id and end.
    pub latest_passed: bool,
    pub latest_run: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub latest_at: Timestamp,
    pub runs: u32,
    pub passed: u32,
    /// `passed / runs`, between 0 and 1.
    pub pass_rate: f64,
}

/// Groups finished runs by cluster, kind and version: the latest result of
/// each and the pass rate, ordered by cluster, kind and version.
pub fn summarize(runs: &[FinishedRun]) -> Vec<RunSummary> {
    let mut groups: BTreeMap<(&str, &str, &JobVersion), Vec<&FinishedRun>> = BTreeMap::new();
    for run in runs {
        groups
            .entry((run.cluster.as_str(), run.kind.as_str(), &run.version))
            .or_default()
            .push(run);
    }
    groups
        .into_values()
        .map(|group| {
            let latest = group
                .iter()
                .max_by_key(|r| (r.finished_at, &r.id))
                .expect("groups are never empty");
            let passed = group.iter().filter(|r| r.passed).count() as u32;
            let runs = group.len() as u32;
            RunSummary {
                cluster: latest.cluster.clone(),
                kind: latest.kind,
                version: latest.version.to_string(),
                latest_passed: latest.passed,
                latest_run: latest.id.to_string(),
                latest_at: latest.finished_at,
                runs,
                passed,
                pass_rate: f64::from(passed) / f64::from(runs),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use proptest::prelude::*;

    fn jobs(toml_text: &str) -> Jobs {
        #[derive(Deserialize)]
        struct Doc {
            jobs: Jobs,
        }
        toml::from_str::<Doc>(toml_text).unwrap().jobs
    }

    fn sample() -> Jobs {
        jobs(
            r#"
            [jobs]
            repository = "file:///srv/project.git"

            [[jobs.suites]]
            name = "smoke"
            command = "make smoke"
            timeout = "5m"

            [[jobs.suites]]
            name = "unit"
            command = "make unit"
            timeout = "1h"

            [jobs.release]
            command = "make release"
            timeout = "30m"
            "#,
        )
    }

    #[test]
    fn a_jobs_section_reads_and_checks() {
        let j = sample();
        assert_eq!(j.runner, RunnerKind::Process);
        assert_eq!(j.suites[0].timeout, Duration::from_secs(300));
        j.check().unwrap();
        let steps = j.steps(OperationKind::Test).unwrap();
        assert_eq!(
            steps.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
            ["smoke", "unit"]
        );
        let release = j.steps(OperationKind::Release).unwrap();
        assert_eq!(
            (release[0].name.as_str(), release[0].command.as_str()),
            ("release", "make release")
        );
        assert!(matches!(
            j.steps(OperationKind::Deploy),
            Err(Refusal::NoJob { .. })
        ));
    }

    #[test]
    fn jobs_may_need_no_repository() {
        let j = jobs(
            r#"
            [jobs]
            [[jobs.suites]]
            name = "health"
            command = "true"
            timeout = "1m"
            "#,
        );
        assert_eq!(j.repository, None);
        j.check().unwrap();
        assert_eq!(
            sample().repository.as_deref(),
            Some("file:///srv/project.git")
        );
    }

    #[test]
    fn bad_jobs_name_the_field() {
        let mut j = sample();
        j.suites[1].name = "smoke".into();
        assert_eq!(j.check().unwrap_err().field, "jobs.suites[1].name");
        let mut j = sample();
        j.suites[0].name = "Smoke Test".into();
        assert_eq!(j.check().unwrap_err().field, "jobs.suites[0].name");
        let mut j = sample();
        j.suites[0].timeout = Duration::ZERO;
        assert_eq!(j.check().unwrap_err().field, "jobs.suites[0].timeout");
        let mut j = sample();
        j.release.as_mut().unwrap().command = " ".into();
        assert_eq!(j.check().unwrap_err().field, "jobs.release.command");
        for bad in ["a b", "", "--upload-pack=x"] {
            let mut j = sample();
            j.repository = Some(bad.into());
            assert_eq!(j.check().unwrap_err().field, "jobs.repository", "{bad:?}");
        }
        let mut j = sample();
        j.suites.clear();
        j.release = None;
        j.check().unwrap();
        assert!(matches!(
            j.steps(OperationKind::Test),
            Err(Refusal::NoJob { .. })
        ));
        assert!(matches!(
            j.steps(OperationKind::Release),
            Err(Refusal::NoJob { .. })
        ));
    }

    #[test]
    fn versions_are_refs_and_never_options() {
        for ok in [
            "v1.2.3",
            "main",
            "release/2026-11",
            "4f2c9e1",
            "v1+build",
            "HEAD",
        ] {
            assert!(JobVersion::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-x",
            "--upload-pack=evil",
            "a b",
            "a..b",
            "a;b",
            "$(x)",
            "/abs",
            "x.lock",
            "x/",
            "a@{1}",
        ] {
            assert_eq!(
                JobVersion::parse(bad).unwrap_err().field,
                "version",
                "{bad:?}"
            );
        }
    }

    fn step(name: &str, outcome: StepOutcome) -> StepResult {
        StepResult {
            name: name.into(),
            outcome,
            exit_code: (outcome == StepOutcome::Failed).then_some(1),
            duration_ms: 10,
        }
    }

    #[test]
    fn a_run_passes_only_if_every_step_passes() {
        use StepOutcome::*;
        assert!(!RunResults::default().passed(), "nothing ran");
        let all = |outcomes: &[StepOutcome]| RunResults {
            steps: outcomes
                .iter()
                .enumerate()
                .map(|(i, o)| step(&format!("s{i}"), *o))
                .collect(),
        };
        assert!(all(&[Passed, Passed]).passed());
        assert!(!all(&[Passed, Failed]).passed());
        assert!(!all(&[TimedOut, Passed]).passed());
        assert!(!all(&[Passed, NotRun]).passed());
        assert_eq!(
            all(&[Passed, Failed, TimedOut]).summary(),
            "s0 passed, s1 failed (exit 1), s2 timed out"
        );
    }

    proptest! {
        #[test]
        fn the_report_counts_every_run_once_and_keeps_the_latest(
            runs in proptest::collection::vec((0..3u8, 0..2u8, any::<bool>(), 0..1000i64), 1..40)
        ) {
            let finished: Vec<FinishedRun> = runs
                .iter()
                .enumerate()
                .map(|(i, (cluster, version, passed, at))| FinishedRun {
                    id: OperationId::from_uuid(uuid::Uuid::from_u128(i as u128)),
                    cluster: format!("c{cluster}"),
                    kind: OperationKind::Test,
                    version: JobVersion::parse(&format!("v{version}")).unwrap(),
                    finished_at: Utc.timestamp_opt(1_800_000_000 + at, 0).unwrap(),
                    passed: *passed,
                })
                .collect();
            let report = summarize(&finished);
            prop_assert_eq!(report.iter().map(|r| r.runs).sum::<u32>() as usize, finished.len());
            for row in &report {
                let group: Vec<&FinishedRun> = finished
                    .iter()
                    .filter(|r| r.cluster == row.cluster && r.version.as_str() == row.version)
                    .collect();
                let latest = group.iter().map(|r| r.finished_at).max().unwrap();
                prop_assert_eq!(row.latest_at, latest);
                prop_assert_eq!(row.passed as usize, group.iter().filter(|r| r.passed).count());
                prop_assert!((0.0..=1.0).contains(&row.pass_rate));
            }
            let keys: Vec<_> = report.iter().map(|r| (r.cluster.clone(), r.version.clone())).collect();
            let mut sorted = keys.clone();
            sorted.sort();
            sorted.dedup();
            prop_assert_eq!(keys, sorted, "one line per cluster and version, in order");
        }
    }
}
