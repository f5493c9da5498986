//! `slipway apply`: a repository of deployments made real. The layers are
//! rendered here (`slipway_repo`). A cluster that runs as its last apply
//! left it, from the same digest, is not sent at all; every other one's
//! desired state goes to the server with its secrets file as committed. The
//! server answers what differs and runs Terraform's plan of each change to
//! a cluster that exists (an operation of kind `plan`, which changes
//! nothing); both are shown. Once approved (a person typing `yes`, or
//! `--auto-approve` in CI) each change is applied by the server through the
//! ordinary operations, environment by environment, followed to its end
//! and tested; clusters of removed deployments marked `prune` are
//! destroyed.
//!
//! Exit codes: 0 nothing to change, 2 changes applied (or, with
//! `--dry-run --detailed-exitcode`, changes to apply), 1 a failure.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::process::ExitCode;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use slipway_api::types::{
    DeploymentAction, DeploymentChanges, DeploymentView, DesiredDeployment, DestroyCluster,
    OperationView, SecretsFileBody,
};
use slipway_core::OperationState;
use slipway_core::event::kinds;
use slipway_repo::{Desired, Lifecycle, Repository};

use crate::client::Connection;
use crate::exit::{self, Failure};
use crate::{output, wait};

/// What `slipway apply` was asked.
pub struct Apply {
    pub path: std::path::PathBuf,
    pub env: Option<String>,
    pub deployment: Option<String>,
    pub dry_run: bool,
    pub detailed_exitcode: bool,
    pub auto_approve: bool,
    pub wait: Duration,
    /// An administrator applying despite the environment's `requires`,
    /// saying why.
    pub override_reason: Option<String>,
    /// `slipway promote`: the environment `env` must require.
    pub promote_from: Option<String>,
    pub test: AfterApply,
}

/// What follows each applied change.
pub enum AfterApply {
    /// The cluster's TEST suites, when its blueprint has them, at this
    /// project version (default: the repository's commit).
    Test(Option<String>),
    NoTest,
}

/// How the TEST after an applied change went.
enum Tested {
    Passed(String),
    Failed(String),
    /// Its blueprint defines no TEST suites.
    NoSuites,
    /// The caller may not run TEST (administrators only): said, not failed.
    NotAllowed(String),
}

/// Changes applied (or, dry, to apply).
const CHANGED: u8 = 2;

impl Connection {
    pub async fn apply(&self, asked: Apply) -> Result<ExitCode, Failure> {
        let failed =
            |e: &dyn std::fmt::Display| Failure::new(exit::FAILED, "repository", e.to_string());
        let repository = Repository::load(&asked.path).map_err(|e| failed(&e))?;
        if let (Some(from), Some(to)) = (&asked.promote_from, &asked.env) {
            let requires = repository
                .environments
                .iter()
                .find(|e| &e.name == to)
                .and_then(|e| e.requires.as_deref());
            if requires != Some(from.as_str()) {
                return Err(failed(&format!(
                    "slipway.yaml: environment {to} does not come after {from} (it requires {}): nothing to promote from",
                    requires.unwrap_or("none")
                )));
            }
        }
        let desired = repository
            .desired(asked.env.as_deref(), asked.deployment.as_deref())
            .map_err(|e| failed(&e))?;
        let context = Context {
            commit: commit_of(&asked.path),
            override_reason: asked.override_reason.clone(),
        };
        let requires = |env: &str| {
            repository
                .environments
                .iter()
                .find(|e| e.name == env)
                .and_then(|e| e.requires.clone())
        };
        // What repositories applied: a cluster that runs as its last apply
        // left it, with the same digest, has nothing to send. For each other
        // one, what differs and — for a cluster that exists and would
        // change — Terraform's plan of it, run by the server as an
        // operation of kind `plan`, all queued before any is awaited.
        let applied = self.client.deployments().await.map_err(Failure::from)?;
        let mut plans = Vec::new();
        for d in &desired {
            let plan = if in_sync(&applied, d) {
                DeploymentChanges {
                    cluster: d.cluster.clone(),
                    action: DeploymentAction::None,
                    changes: Vec::new(),
                    operation: None,
                }
            } else {
                self.send_desired(d, requires(&d.environment), &context, Desire::Plan)
                    .await?
            };
            plans.push((d, plan));
        }
        let mut terraform = Vec::new();
        for (d, plan) in &plans {
            terraform.push(match &plan.operation {
                Some(op) => Some(self.terraform_plan(d, op, asked.wait).await?),
                None => None,
            });
        }
        let pending: Vec<_> = plans
            .iter()
            .filter(|(_, p)| p.action != DeploymentAction::None)
            .collect();
        let removed = removed(applied, &repository, &desired, &asked);
        let pruned: Vec<&Removed> = removed.iter().filter(|r| r.prune).collect();
        if self.json {
            let shown: Vec<_> = plans
                .iter()
                .zip(&terraform)
                .map(|((_, p), t)| serde_json::json!({"changes": p, "terraform": t}))
                .chain(removed.iter().map(|r| serde_json::json!({"removed": r})))
                .collect();
            output::json(&shown);
        } else {
            for ((d, plan), planned) in plans.iter().zip(&terraform) {
                show(d, plan, planned.as_ref());
            }
            for r in &removed {
                println!(
                    "{} ({} in {}): {}",
                    r.cluster,
                    r.deployment,
                    r.environment,
                    if r.prune {
                        "to destroy: the repository no longer declares it, and it was marked prune"
                    } else {
                        "kept: the repository no longer declares it, but it was not marked prune (destroy it, or mark it prune first)"
                    }
                );
            }
        }
        let count = pending.len() + pruned.len();
        if count == 0 {
            if !self.json {
                println!("Nothing to change: every cluster is as the repository says.");
            }
            return Ok(ExitCode::SUCCESS);
        }
        if asked.dry_run {
            return Ok(if asked.detailed_exitcode {
                ExitCode::from(CHANGED)
            } else {
                ExitCode::SUCCESS
            });
        }
        if !asked.auto_approve && !approved(count)? {
            return Err(Failure::new(
                exit::FAILED,
                "not_approved",
                "Nothing was applied.",
            ));
        }
        // Environment by environment, in the repository's order (a later
        // one may require an earlier one applied and tested): every change
        // of the environment is queued, then all are followed side by side,
        // each with its TEST.
        let mut failures = Vec::new();
        for environment in &repository.environments {
            let mut queued = Vec::new();
            for (d, _) in pending
                .iter()
                .filter(|(d, _)| d.environment == environment.name)
            {
                let applied = self
                    .send_desired(d, requires(&d.environment), &context, Desire::Apply)
                    .await?;
                if let Some(operation) = applied.operation {
                    if !self.json {
                        eprintln!(
                            "{}: {} queued (operation {})",
                            d.cluster, operation.kind, operation.id
                        );
                    }
                    queued.push((*d, operation));
                }
            }
            let ended = futures::future::join_all(
                queued
                    .iter()
                    .map(|(d, op)| self.see_through(d, op, &asked, &context, queued.len() > 1)),
            )
            .await;
            for result in ended {
                failures.extend(result?);
            }
        }
        for r in pruned {
            match self.prune(r, asked.wait).await {
                Ok(()) if !self.json => println!("{}: destroyed.", r.cluster),
                Ok(()) => {}
                Err(e) => failures.push(format!("{}: {e}", r.cluster)),
            }
        }
        if !failures.is_empty() {
            return Err(Failure::new(
                exit::FAILED,
                "apply_failed",
                failures.join("\n"),
            ));
        }
        Ok(ExitCode::from(CHANGED))
    }

    /// Destroys a pruned cluster like any destroy (a protected one is
    /// refused), following it to its end.
    async fn prune(&self, r: &Removed, wait: Duration) -> Result<(), String> {
        let response = self
            .client
            .destroy(&r.cluster, &DestroyCluster::default())
            .await
            .map_err(|e| Failure::from(e).error.message)?;
        let Some(operation) = response.operation else {
            return Ok(());
        };
        let waited = wait::follow(&self.client, &operation, wait, self.json)
            .await
            .map_err(|f| f.error.message)?;
        let op = waited.operation;
        if op.state == OperationState::Succeeded {
            return Ok(());
        }
        Err(format!(
            "destroy {}: {}",
            op.state,
            op.error.as_deref().unwrap_or("no error recorded")
        ))
    }

    /// Follows one applied change to its end, then runs its TEST; what
    /// went wrong, for the apply's failure.
    async fn see_through(
        &self,
        d: &Desired,
        operation: &OperationView,
        asked: &Apply,
        context: &Context,
        alongside_others: bool,
    ) -> Result<Vec<String>, Failure> {
        // One change shows its progress; several at once only their ends.
        let quiet = self.json || alongside_others;
        let waited = wait::follow(&self.client, operation, asked.wait, quiet).await?;
        let op = waited.operation;
        if op.state != OperationState::Succeeded {
            return Ok(vec![format!(
                "{}: {} {}{}",
                d.cluster,
                op.kind,
                if waited.timed_out {
                    "still running".into()
                } else {
                    op.state.to_string()
                },
                op.error
                    .as_deref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            )]);
        }
        if !self.json {
            println!("{}: {} succeeded.", d.cluster, op.kind);
        }
        let AfterApply::Test(version) = &asked.test else {
            return Ok(Vec::new());
        };
        let version = version
            .clone()
            .or_else(|| context.commit.clone())
            .unwrap_or_else(|| "unversioned".into());
        Ok(
            match self.test_applied(&d.cluster, &version, asked.wait).await? {
                Tested::Failed(run) => vec![format!(
                    "{}: TEST at {version} did not pass (run {run}: slipway logs {run})",
                    d.cluster
                )],
                Tested::Passed(run) => {
                    if !self.json {
                        println!("{}: TEST at {version} passed (run {run}).", d.cluster);
                    }
                    Vec::new()
                }
                Tested::NotAllowed(why) => {
                    if !self.json {
                        eprintln!("{}: TEST not run: {why}", d.cluster);
                    }
                    Vec::new()
                }
                Tested::NoSuites => Vec::new(),
            },
        )
    }

    /// The TEST after an applied change: the cluster's suites on a runner
    /// of their own, followed to the end.
    async fn test_applied(
        &self,
        cluster: &str,
        version: &str,
        wait: Duration,
    ) -> Result<Tested, Failure> {
        let run = match self.client.start_run(cluster, false, version).await {
            Ok(run) => run,
            Err(e) => {
                let failure = Failure::from(e);
                return match failure.error.code.as_str() {
                    "no_job" => Ok(Tested::NoSuites),
                    "forbidden" => Ok(Tested::NotAllowed(failure.error.message)),
                    _ => Err(failure),
                };
            }
        };
        let id = run.operation.id.clone();
        if !self.json {
            eprintln!("{cluster}: TEST at {version} started (run {id})");
        }
        wait::follow(&self.client, &run.operation, wait, true).await?;
        let run = self.client.run(&id).await.map_err(Failure::from)?;
        Ok(if run.passed == Some(true) {
            Tested::Passed(id)
        } else {
            Tested::Failed(id)
        })
    }

    /// Follows a plan operation to its end and reads what it found (its
    /// `plan` event). A plan that fails is the apply's failure.
    async fn terraform_plan(
        &self,
        d: &Desired,
        op: &OperationView,
        wait: Duration,
    ) -> Result<serde_json::Value, Failure> {
        let waited = wait::follow(&self.client, op, wait, true).await?;
        let op = waited.operation;
        if op.state != OperationState::Succeeded {
            return Err(Failure::new(
                exit::FAILED,
                "plan_failed",
                format!(
                    "{}: Terraform's plan (operation {}) {}: {}",
                    d.cluster,
                    op.id,
                    if waited.timed_out {
                        "is still running"
                    } else {
                        op.state.as_str()
                    },
                    op.error.as_deref().unwrap_or("no error recorded")
                ),
            ));
        }
        let mut after = 0;
        loop {
            let page = self
                .client
                .events(&op.id, after)
                .await
                .map_err(Failure::from)?;
            let Some(last) = page.events.last() else {
                break;
            };
            after = last.seq;
            if let Some(found) = page.events.iter().find(|e| e.kind == kinds::PLAN) {
                return Ok(serde_json::json!({
                    "operation": op.id,
                    "message": found.message,
                    "changes": found.data["changes"],
                    "summary": found.data["summary"],
                }));
            }
        }
        Err(Failure::new(
            exit::FAILED,
            "plan_failed",
            format!(
                "{}: operation {} ended without a plan in its log",
                d.cluster, op.id
            ),
        ))
    }

    /// Sends one cluster's desired state: to plan (dry), or to apply.
    async fn send_desired(
        &self,
        d: &Desired,
        requires: Option<String>,
        context: &Context,
        desire: Desire,
    ) -> Result<DeploymentChanges, Failure> {
        let req = DesiredDeployment {
            organization: d.organization.clone(),
            blueprint: d.blueprint.clone(),
            version: d.version.clone(),
            public: d.public,
            ttl: match d.lifecycle {
                Lifecycle::Ephemeral { ttl } => Some(slipway_core::duration::format_duration(ttl)),
                Lifecycle::Persistent => None,
            },
            nodes: d.nodes,
            variables: d.variables.clone(),
            secrets: d.secrets.as_ref().map(|s| SecretsFileBody {
                path: s.path.clone(),
                contents: STANDARD.encode(&s.contents),
            }),
            common_digest: Some(d.common_digest.clone()),
            digest: Some(d.digest.clone()),
            commit: context.commit.clone(),
            prune: d.prune,
            requires,
            override_reason: context.override_reason.clone(),
            dry_run: desire == Desire::Plan,
            plan: desire == Desire::Plan,
        };
        self.client
            .apply_deployment(&d.deployment, &d.environment, &req)
            .await
            .map_err(|e| {
                // Every failure of apply exits 1 (2 says changes were
                // applied), naming the cluster it was about.
                let mut failure = Failure::from(e);
                failure.code = exit::FAILED;
                failure.error.message = format!(
                    "{} ({} in {}): {}",
                    d.cluster, d.deployment, d.environment, failure.error.message
                );
                failure
            })
    }
}

/// Whether the cluster of `d` runs as its last apply left it, from the
/// same digest of the same version (`latest` may have moved: always sent).
fn in_sync(applied: &[DeploymentView], d: &Desired) -> bool {
    applied
        .iter()
        .filter(|v| v.deployment == d.deployment)
        .flat_map(|v| &v.environments)
        .find(|e| e.environment == d.environment)
        .is_some_and(|e| {
            e.in_sync && e.digest == d.digest && d.version != "latest" && e.version == d.version
        })
}

/// The clusters repositories applied for this one's organization, in the
/// environments and deployments asked about, that the repository no longer
/// declares and that still exist.
fn removed(
    applied: Vec<DeploymentView>,
    repository: &Repository,
    desired: &[Desired],
    asked: &Apply,
) -> Vec<Removed> {
    let mut removed = Vec::new();
    for view in applied {
        if asked
            .deployment
            .as_ref()
            .is_some_and(|d| *d != view.deployment)
        {
            continue;
        }
        for env in view.environments {
            let declared = desired
                .iter()
                .any(|d| d.deployment == view.deployment && d.environment == env.environment);
            if declared
                || env.organization != repository.organization
                || env.state == slipway_core::ClusterState::Absent
                || asked.env.as_ref().is_some_and(|e| *e != env.environment)
            {
                continue;
            }
            removed.push(Removed {
                cluster: env.cluster,
                deployment: view.deployment.clone(),
                environment: env.environment,
                prune: env.prune,
            });
        }
    }
    removed
}

/// A cluster a repository applied that it no longer declares.
#[derive(serde::Serialize)]
struct Removed {
    cluster: String,
    deployment: String,
    environment: String,
    /// Marked `prune` when last applied: destroyed.
    prune: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Desire {
    Plan,
    Apply,
}

/// What every cluster's apply carries besides its own desired state.
struct Context {
    commit: Option<String>,
    override_reason: Option<String>,
}

/// The repository's commit (`git rev-parse HEAD`), when it is a git
/// repository.
fn commit_of(path: &std::path::Path) -> Option<String> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(path)
        .args(["rev-parse", "HEAD"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .filter(|c| !c.is_empty())
}

/// One cluster's plan, as a person reads it: what differs, then
/// Terraform's plan of it.
fn show(d: &Desired, plan: &DeploymentChanges, terraform: Option<&serde_json::Value>) {
    let what = match plan.action {
        DeploymentAction::None => "no change",
        DeploymentAction::Create => "to create and deploy",
        DeploymentAction::Deploy => "to deploy",
    };
    println!(
        "{} ({} in {}): {what}",
        plan.cluster, d.deployment, d.environment
    );
    for c in &plan.changes {
        let shown = |v: &Option<serde_json::Value>| match v {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
            None => "(none)".into(),
        };
        match &c.from {
            None => println!("  + {} = {}", c.setting, shown(&c.to)),
            Some(_) if c.to.is_none() => println!("  - {} (was {})", c.setting, shown(&c.from)),
            Some(_) => println!("  ~ {}: {} → {}", c.setting, shown(&c.from), shown(&c.to)),
        }
    }
    if plan.action == DeploymentAction::Create {
        println!(
            "  Terraform: a new cluster; its first deploy creates what blueprint {} declares.",
            d.blueprint
        );
    }
    let Some(terraform) = terraform else {
        return;
    };
    println!(
        "  Terraform's plan (operation {}):",
        terraform["operation"].as_str().unwrap_or("?")
    );
    for c in terraform["changes"].as_array().into_iter().flatten() {
        let action = c["action"].as_str().unwrap_or("?");
        let sign = match action {
            "create" => "+",
            "delete" => "-",
            "replace" => "-/+",
            "update" => "~",
            _ => " ",
        };
        println!(
            "    {sign} {} ({action})",
            c["resource"].as_str().unwrap_or("?")
        );
    }
    println!("    {}", terraform["message"].as_str().unwrap_or(""));
}

/// Asks a person on a terminal; refuses without one (CI says
/// `--auto-approve`).
fn approved(count: usize) -> Result<bool, Failure> {
    if !std::io::stdin().is_terminal() {
        return Err(Failure::new(
            exit::FAILED,
            "not_approved",
            "nothing was applied: there is no terminal to ask on (say --auto-approve to apply without asking)",
        ));
    }
    eprint!("Apply {count} change(s)? Only 'yes' applies: ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Failure::new(exit::FAILED, "not_approved", e.to_string()))?;
    Ok(answer.trim() == "yes")
}
