//! TEST and RELEASE (docs/domain.md §4): administrators start runs of the
//! blueprint's jobs against a running cluster; anyone who may see the
//! cluster may see its runs and the report.

use serde_json::Value;
use slipway_api::types::{RunReport, RunView};
use slipway_core::JobVersion;
use slipway_core::access::Action;
use slipway_core::job::{FinishedRun, StepResult, summarize};
use slipway_core::{OperationKind, Refusal, rules};
use slipway_store::Run;

use crate::caller::{Caller, scope};
use crate::error::{Error, Result};
use crate::{Service, audit_intent, context, operation_view, parse_operation_id};

/// The most runs one listing or report reads.
const RUNS_LIMIT: u32 = 1000;

impl Service {
    /// TEST (or RELEASE) of the project at `version` against the cluster:
    /// administrators only, on a running cluster whose blueprint defines
    /// the job.
    pub async fn start_run(
        &self,
        caller: &Caller,
        name: &str,
        kind: OperationKind,
        version: &str,
    ) -> Result<RunView> {
        caller.require(scope::CLUSTERS_WRITE)?;
        let version = JobVersion::parse(version)?;
        let snap = self
            .authorized_snapshot(caller, name, Action::TestOrRelease)
            .await?;
        let spec = snap.cluster.deployed.as_ref().unwrap_or(&snap.cluster.spec);
        let blueprint = self
            .store
            .blueprint_version(spec.blueprint.as_str(), &spec.version)
            .await?
            .ok_or_else(|| {
                Error::not_found(format!(
                    "blueprint {}@{} is not registered",
                    spec.blueprint, spec.version
                ))
            })?;
        let no_job = || Refusal::NoJob {
            rule: format!(
                "blueprint {}@{} defines no jobs",
                spec.blueprint, spec.version
            ),
        };
        blueprint
            .metadata
            .jobs
            .as_ref()
            .ok_or_else(no_job)?
            .steps(kind)
            .map_err(|refusal| {
                // The blueprint is named in the job's refusal; any other
                // passes on unchanged.
                if let Refusal::NoJob { rule } = refusal {
                    Refusal::NoJob {
                        rule: format!("blueprint {}@{}: {rule}", spec.blueprint, spec.version),
                    }
                } else {
                    refusal
                }
            })?;
        let level = caller.level_for(&snap.cluster.organization);
        let ctx = context(caller, level);
        let decided = self
            .store
            .decide(
                &snap.cluster.name,
                ctx.now,
                &audit_intent(caller, level, &format!("cluster.{kind}")),
                &|snap, _| rules::decide_job(snap, kind, version.clone(), &ctx),
            )
            .await?;
        let id = decided
            .decision
            .new_operation()
            .expect("a run is always a new operation")
            .id
            .clone();
        self.run_view(caller, id.as_str()).await
    }

    /// One run.
    pub async fn run_view(&self, caller: &Caller, id: &str) -> Result<RunView> {
        caller.require(scope::CLUSTERS_READ)?;
        let op = self.authorized_operation(caller, id, Action::View).await?;
        if !matches!(op.kind, OperationKind::Test | OperationKind::Release) {
            return Err(Error::not_found(format!(
                "{id} is a {} operation, not a run",
                op.kind
            )));
        }
        let result = self
            .store
            .operation_result(&parse_operation_id(id)?)
            .await?;
        Ok(view(&Run {
            operation: op,
            result,
        }))
    }

    /// Runs, newest first: of one cluster, or (administrators) of all.
    pub async fn runs(&self, caller: &Caller, cluster: Option<&str>) -> Result<Vec<RunView>> {
        Ok(self
            .read_runs(caller, cluster)
            .await?
            .iter()
            .map(view)
            .collect())
    }

    /// The latest result and pass rate of every cluster's runs, by kind and
    /// version (administrators).
    pub async fn run_report(&self, caller: &Caller) -> Result<RunReport> {
        let finished: Vec<FinishedRun> = self
            .read_runs(caller, None)
            .await?
            .into_iter()
            .filter_map(|run| {
                let op = run.operation;
                Some(FinishedRun {
                    passed: run.result.as_ref().and_then(|r| r["passed"].as_bool())?,
                    finished_at: op.finished_at?,
                    version: op.job?.version,
                    id: op.id,
                    cluster: op.cluster.to_string(),
                    kind: op.kind,
                })
            })
            .collect();
        Ok(RunReport {
            runs: summarize(&finished),
        })
    }

    async fn read_runs(&self, caller: &Caller, cluster: Option<&str>) -> Result<Vec<Run>> {
        let cluster = self.listing_scope(caller, cluster).await?;
        Ok(self.store.runs(cluster.as_ref(), RUNS_LIMIT).await?)
    }
}

fn view(run: &Run) -> RunView {
    let result = run.result.as_ref();
    let steps: Vec<StepResult> = result
        .and_then(|r| serde_json::from_value(r["steps"].clone()).ok())
        .unwrap_or_default();
    RunView {
        operation: operation_view(&run.operation),
        version: run
            .operation
            .job
            .as_ref()
            .map(|j| j.version.to_string())
            .unwrap_or_default(),
        runner: result.and_then(|r| r["runner"].as_str()).map(str::to_owned),
        passed: result
            .and_then(|r| r.get("passed"))
            .and_then(Value::as_bool),
        steps,
    }
}
