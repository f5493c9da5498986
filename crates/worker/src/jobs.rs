//! Running TEST, RELEASE and cleanup operations (docs/domain.md §4): a run of
//! the blueprint's job against the cluster on a runner of its own, and the
//! removal of a runner an interrupted run left.
//!
//! - The **process** runner is a fresh directory on this worker
//!   ([`slipway_engine::Engine::run_job`]).
//! - The **Terraform** runner is the blueprint's `runner/` module, applied
//!   for the run with its state under `runner/<run>` and destroyed
//!   afterwards whatever happened — also after a cancel. A run cut short by
//!   its process dying gets a cleanup operation (queued by the reclaimer)
//!   that destroys it.

use std::time::Duration;

use serde_json::{Map, Value, json};
use slipway_core::TerraformCommand;
use slipway_core::event::{EventLevel, NewEvent};
use slipway_core::job::{Jobs, RunnerKind, StepOutcome, StepResult};
use slipway_core::lifecycle::Ending;
use slipway_core::{Operation, OperationKind, OperationState, Subject};
use slipway_engine::EngineError;
use slipway_engine::job::{JobReport, JobRun};
use slipway_store::{BlueprintVersion, Lease};
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

use crate::terraform::{
    TerraformModule, invalid, leased_blueprint, module_key, run_terraform, standard_variables,
    terraform_run,
};
use crate::{Finished, RunningOperation, StopReason, Worker};

/// How long destroying a Terraform runner may take.
const RUNNER_DESTROY_LIMIT: Duration = Duration::from_secs(15 * 60);
/// Attempts at destroying a Terraform runner before the run reports it left.
const RUNNER_DESTROY_ATTEMPTS: u32 = 3;
/// What a run may take beyond its own time limit (fetch and steps) to start
/// its runner and report: its cluster token and a Terraform runner's apply
/// both allow this much more.
const RUN_MARGIN: Duration = Duration::from_secs(300);

/// Runs a TEST, RELEASE or cleanup operation, with everything from its
/// lease.
pub(crate) async fn run(
    worker: &Worker,
    lease: &Lease,
    secret: &str,
    events: &UnboundedSender<NewEvent>,
    running: &RunningOperation,
) -> Result<Finished, EngineError> {
    let op = &lease.operation;
    let job = op
        .job
        .as_ref()
        .ok_or_else(|| invalid(op, format!("a {} operation names no job", op.kind)))?;
    let blueprint = leased_blueprint(lease)?;
    let jobs = blueprint
        .metadata
        .jobs
        .clone()
        .ok_or_else(|| invalid(op, "the blueprint defines no jobs".into()))?;
    let cluster = &lease.cluster;
    let endpoint = cluster
        .outputs
        .get("endpoint")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let steps = match op.kind {
        OperationKind::Cleanup => Vec::new(),
        kind @ (OperationKind::Test
        | OperationKind::Release
        | OperationKind::Deploy
        | OperationKind::Update
        | OperationKind::Destroy
        | OperationKind::Refresh
        | OperationKind::Plan) => jobs.steps(kind).map_err(|r| invalid(op, r.to_string()))?,
    };
    let run = JobRun {
        cluster: cluster.name.to_string(),
        endpoint,
        repository: jobs.repository.clone(),
        version: job.version.clone(),
        steps,
        nodes: cluster
            .deployed
            .as_ref()
            .map_or(cluster.spec.nodes, |d| d.nodes),
        public: cluster.public,
    };
    // A fresh token for the cluster, for as long as the run may take.
    let requested_by = Subject::parse(&op.requested_by).unwrap_or_else(|_| Subject::recovery());
    let token = worker
        .tokens
        .run_token(&requested_by, &cluster.name, run.time_limit() + RUN_MARGIN)
        .map_err(|e| invalid(op, format!("cannot issue the run's cluster token: {e}")))?;

    if op.kind == OperationKind::Cleanup {
        note(events, format!("removing the runner of run {}", job.runner));
        let runner = TerraformRunner::new(worker, lease, blueprint, &run, &token, secret)?;
        runner.destroy(events).await?;
        return Ok(Finished {
            ending: Ending::Succeeded {
                outputs: Map::new(),
            },
            result: json!({"runner": "terraform", "removed": job.runner}),
        });
    }

    note(
        events,
        format!(
            "{} of {} at version {} on a {} runner: {}",
            op.kind,
            jobs.repository
                .as_deref()
                .unwrap_or("the cluster (no project repository)"),
            job.version,
            runner_name(jobs.runner),
            run.steps
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    let report = match jobs.runner {
        RunnerKind::Process => {
            worker
                .engine
                .run_job(op.id.as_str(), &run, &token, events, &running.cancel)
                .await?
        }
        RunnerKind::Terraform => {
            let runner = TerraformRunner::new(worker, lease, blueprint, &run, &token, secret)?;
            let report = runner.apply(events, &running.cancel).await;
            // Removed whatever happened, a cancel included.
            runner.destroy(events).await?;
            report
        }
    };
    let cancelled_by = match running.reason() {
        Some(StopReason::Cancelled { by }) => Some(by),
        _ => None,
    };
    Ok(finished(&jobs, &report, cancelled_by))
}

/// The operation's ending and result from the run's report.
fn finished(jobs: &Jobs, report: &JobReport, cancelled_by: Option<String>) -> Finished {
    let results = &report.results;
    let ending = match (cancelled_by, &report.error) {
        (Some(by), _) => Ending::Stopped {
            state: OperationState::Cancelled,
            error: format!("cancelled by {by}"),
        },
        (None, Some(error)) => Ending::Stopped {
            state: OperationState::Failed,
            error: error.clone(),
        },
        (None, None) if results.passed() => Ending::Succeeded {
            outputs: Map::new(),
        },
        (None, None) => Ending::Stopped {
            state: OperationState::Failed,
            error: results.summary(),
        },
    };
    Finished {
        ending,
        result: json!({
            "runner": runner_name(jobs.runner),
            "passed": results.passed(),
            "steps": results.steps,
            "error": report.error,
        }),
    }
}

fn runner_name(kind: RunnerKind) -> &'static str {
    match kind {
        RunnerKind::Process => "process",
        RunnerKind::Terraform => "terraform",
    }
}

fn note(events: &UnboundedSender<NewEvent>, message: String) {
    let _ = events.send(NewEvent {
        at: chrono::Utc::now(),
        kind: "job".into(),
        level: EventLevel::Info,
        message,
        data: Value::Null,
    });
}

/// The blueprint's runner module for one run, with its state under
/// `runner/<run>`.
struct TerraformRunner<'a> {
    worker: &'a Worker,
    op: &'a Operation,
    organization: &'a str,
    secret: String,
    module: TerraformModule,
    variables: Map<String, Value>,
    time_limit: Duration,
    steps: Vec<String>,
}

impl<'a> TerraformRunner<'a> {
    /// The runner module's variables (those it declares are passed): the
    /// cluster's standard ones and `run_id`, `job` (the run as JSON, the
    /// token apart), `cluster_token`, `endpoint`, `repository`,
    /// `time_limit_seconds`, and `runtime_dir` (a directory of the run's own).
    fn new(
        worker: &'a Worker,
        lease: &'a Lease,
        blueprint: &BlueprintVersion,
        run: &JobRun,
        token: &str,
        secret: &str,
    ) -> Result<Self, EngineError> {
        let op = &lease.operation;
        let runner = &op.job.as_ref().expect("a job operation").runner;
        let files: std::collections::BTreeMap<String, String> = blueprint
            .files
            .iter()
            .filter_map(|(path, content)| {
                Some((path.strip_prefix("runner/")?.to_owned(), content.clone()))
            })
            .collect();
        if files.is_empty() {
            return Err(invalid(
                op,
                "the blueprint's jobs use a terraform runner but it has no runner/ module".into(),
            ));
        }
        // A directory of the run's own (not the cluster's).
        let runtime_dir = worker.data_dir.join("runners").join(runner.as_str());
        let mut variables = standard_variables(
            worker,
            op,
            &lease.cluster,
            blueprint,
            &runtime_dir.to_string_lossy(),
        );
        variables.extend([
            ("run_id".to_owned(), json!(runner)),
            (
                "job".to_owned(),
                json!(serde_json::to_string(run).expect("a run serializes")),
            ),
            ("cluster_token".to_owned(), json!(token)),
            ("endpoint".to_owned(), json!(run.endpoint)),
            ("repository".to_owned(), json!(run.repository)),
            (
                "time_limit_seconds".to_owned(),
                json!(run.time_limit().as_secs()),
            ),
        ]);
        if let Some(Value::Object(tags)) = variables.get_mut("tags") {
            tags.insert("slipway:run".into(), json!(runner));
        }
        Ok(Self {
            worker,
            op,
            organization: lease.cluster.organization.as_str(),
            secret: secret.to_owned(),
            module: TerraformModule {
                key: format!("{}-runner", module_key(op, blueprint)),
                files,
                sensitive: ["cluster_token".to_owned()].into(),
            },
            variables,
            time_limit: run.time_limit() + RUN_MARGIN,
            steps: run.steps.iter().map(|s| s.name.clone()).collect(),
        })
    }

    fn terraform_run(
        &self,
        command: TerraformCommand,
        time_limit: Duration,
    ) -> Result<slipway_engine::TerraformRun, EngineError> {
        terraform_run(
            self.worker,
            self.op,
            self.organization,
            &self.secret,
            TerraformModule {
                key: self.module.key.clone(),
                files: self.module.files.clone(),
                sensitive: self.module.sensitive.clone(),
            },
            command,
            self.variables.clone(),
            time_limit,
        )
    }

    /// Applies the runner, which runs the job; its `results` output is the
    /// report.
    async fn apply(
        &self,
        events: &UnboundedSender<NewEvent>,
        cancel: &CancellationToken,
    ) -> JobReport {
        let not_run = |outcome: StepOutcome, error: Option<String>| JobReport {
            results: slipway_core::job::RunResults {
                steps: self
                    .steps
                    .iter()
                    .map(|name| StepResult {
                        name: name.clone(),
                        outcome,
                        exit_code: None,
                        duration_ms: 0,
                    })
                    .collect(),
            },
            error,
        };
        let run = match self.terraform_run(TerraformCommand::Apply, self.time_limit) {
            Ok(run) => run,
            Err(e) => return not_run(StepOutcome::NotRun, Some(format!("the runner failed: {e}"))),
        };
        match run_terraform(self.worker, &run, events, cancel).await {
            Ok(report) => match report.outputs.get("results") {
                Some(results) if !results.is_null() => serde_json::from_value(results.clone())
                    .unwrap_or_else(|e| {
                        not_run(
                            StepOutcome::NotRun,
                            Some(format!("the runner's results output is not a report: {e}")),
                        )
                    }),
                _ => not_run(
                    StepOutcome::NotRun,
                    Some("the runner module has no results output".into()),
                ),
            },
            Err(EngineError::Cancelled) => not_run(StepOutcome::Cancelled, None),
            Err(e) => not_run(StepOutcome::NotRun, Some(format!("the runner failed: {e}"))),
        }
    }

    /// Destroys the runner, retrying a few times; not cancellable.
    async fn destroy(&self, events: &UnboundedSender<NewEvent>) -> Result<(), EngineError> {
        let run = self.terraform_run(TerraformCommand::Destroy, RUNNER_DESTROY_LIMIT)?;
        let mut attempt = 1;
        loop {
            match run_terraform(self.worker, &run, events, &CancellationToken::new()).await {
                Ok(_) => return Ok(()),
                Err(e) if attempt < RUNNER_DESTROY_ATTEMPTS => {
                    note(
                        events,
                        format!("removing the runner failed ({e}); trying again"),
                    );
                    tokio::time::sleep(Duration::from_secs(5 * u64::from(attempt))).await;
                    attempt += 1;
                }
                Err(e) => {
                    return Err(EngineError::Terraform {
                        command: "destroy of the runner".into(),
                        message: format!(
                            "{e}; the runner of run {} is left: run a cleanup",
                            self.op.job.as_ref().expect("a job operation").runner
                        ),
                    });
                }
            }
        }
    }
}
