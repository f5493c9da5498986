//! `slipway apply`: a repository of deployments made real. The layers are
//! rendered here (`slipway_repo`); each cluster's desired state goes to the
//! server with its secrets file as committed; the server answers what
//! differs, which is shown; once approved (a person typing `yes`, or
//! `--auto-approve` in CI) each change is applied by the server through the
//! ordinary operations, and followed to its end.
//!
//! Exit codes: 0 nothing to change, 2 changes applied (or, with
//! `--dry-run --detailed-exitcode`, changes to apply), 1 a failure.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::process::ExitCode;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use slipway_api::types::{DeploymentAction, DeploymentChanges, DesiredDeployment, SecretsFileBody};
use slipway_core::OperationState;
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
        let mut plans = Vec::new();
        for d in &desired {
            let plan = self
                .send_desired(d, requires(&d.environment), &context, true)
                .await?;
            plans.push((d, plan));
        }
        let pending: Vec<_> = plans
            .iter()
            .filter(|(_, p)| p.action != DeploymentAction::None)
            .collect();
        if self.json {
            output::json(&plans.iter().map(|(_, p)| p).collect::<Vec<_>>());
        } else {
            for (d, plan) in &plans {
                show(d, plan);
            }
        }
        if pending.is_empty() {
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
        if !asked.auto_approve && !approved(pending.len())? {
            return Err(Failure::new(
                exit::FAILED,
                "not_approved",
                "Nothing was applied.",
            ));
        }
        let mut failures = Vec::new();
        for (d, _) in pending {
            let applied = self
                .send_desired(d, requires(&d.environment), &context, false)
                .await?;
            let Some(operation) = applied.operation else {
                continue;
            };
            if !self.json {
                eprintln!(
                    "{}: {} queued (operation {})",
                    d.cluster, operation.kind, operation.id
                );
            }
            let waited = wait::follow(&self.client, &operation, asked.wait, self.json).await?;
            let op = waited.operation;
            if op.state != OperationState::Succeeded {
                failures.push(format!(
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
                ));
            } else if !self.json {
                println!("{}: {} succeeded.", d.cluster, op.kind);
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

    /// Sends one cluster's desired state: dry, or to apply.
    async fn send_desired(
        &self,
        d: &Desired,
        requires: Option<String>,
        context: &Context,
        dry_run: bool,
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
            commit: context.commit.clone(),
            requires,
            override_reason: context.override_reason.clone(),
            dry_run,
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

/// One cluster's plan, as a person reads it.
fn show(d: &Desired, plan: &DeploymentChanges) {
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
