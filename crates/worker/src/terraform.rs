//! Terraform runs of an operation: the module, the variables Slipway offers
//! every module, and the state backend with the run's credential.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{Map, Value, json};
use slipway_core::TerraformCommand;
use slipway_core::event::NewEvent;
use slipway_core::{Cluster, Operation};
use slipway_engine::{EngineError, RunReport, StateBackend, TerraformRun};
use slipway_store::{BlueprintVersion, Lease};
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

use crate::Worker;
use crate::metrics::CommandLabel;

/// Runs Terraform through the engine, counting how long it took.
pub(crate) async fn run_terraform(
    worker: &Worker,
    run: &TerraformRun,
    events: &UnboundedSender<NewEvent>,
    cancel: &CancellationToken,
) -> Result<RunReport, EngineError> {
    let started = std::time::Instant::now();
    let report = worker.engine.run(run, events, cancel).await;
    worker
        .metrics
        .terraform_run_duration
        .get_or_create(&CommandLabel {
            command: run.command.name(),
        })
        .observe(started.elapsed().as_secs_f64());
    report
}

/// A module to run: its files, the working directory's name, and which of
/// its variables are secrets.
pub(crate) struct TerraformModule {
    pub key: String,
    pub files: BTreeMap<String, String>,
    pub sensitive: BTreeSet<String>,
}

impl TerraformModule {
    /// The blueprint version's module.
    pub fn of(op: &Operation, blueprint: &BlueprintVersion) -> Self {
        Self {
            key: module_key(op, blueprint),
            files: blueprint.files.clone(),
            sensitive: blueprint
                .metadata
                .sensitive_variables()
                .map(str::to_owned)
                .collect(),
        }
    }
}

/// The blueprint version a leased operation runs, once its content is
/// checked against its digest: the database is shared, and what a process
/// runs must be what was published.
pub(crate) fn leased_blueprint(lease: &Lease) -> Result<&BlueprintVersion, EngineError> {
    let op = &lease.operation;
    let blueprint = lease
        .blueprint
        .as_ref()
        .ok_or_else(|| invalid(op, "this blueprint version is not registered".into()))?;
    if let Some(metadata) = &blueprint.metadata_text {
        slipway_engine::catalog::matches_digest(metadata, &blueprint.files, &blueprint.digest)
            .map_err(|why| invalid(op, why))?;
    }
    Ok(blueprint)
}

/// An operation that cannot run as asked (its blueprint, cluster or
/// variables are not what it needs).
pub(crate) fn invalid(op: &Operation, reason: String) -> EngineError {
    EngineError::InvalidModule {
        file: format!("{}@{}", op.spec.blueprint, op.spec.version),
        reason,
    }
}

/// Names the working directory of a blueprint version's module.
pub(crate) fn module_key(op: &Operation, blueprint: &BlueprintVersion) -> String {
    format!(
        "{}-{}-{}",
        op.spec.blueprint,
        op.spec.version,
        &blueprint.digest[..blueprint.digest.len().min(16)]
    )
}

/// The variables Slipway offers every module of the cluster (a module gets
/// those it declares). Each is a function of the cluster and the site —
/// never of the process that runs Terraform, or the next run on another
/// process would plan to replace what this one made: `runtime_dir` is the
/// cluster's own, recorded with it ([`cluster_runtime_dir`]), and the
/// executable reaches provisioners in the environment (`SLIPWAY_BIN`, see
/// [`terraform_run`]).
pub(crate) fn standard_variables(
    worker: &Worker,
    op: &Operation,
    cluster: &Cluster,
    blueprint: &BlueprintVersion,
    runtime_dir: &str,
) -> Map<String, Value> {
    let public_url = &worker.public_url;
    let standard = json!({
        "cluster_name": cluster.name,
        "organization": cluster.organization,
        "is_public": cluster.public,
        "node_count": op.spec.nodes,
        "min_nodes": blueprint.metadata.nodes.min,
        "max_nodes": blueprint.metadata.nodes.max,
        "version": op.spec.version,
        "tags": {
            "slipway:org": cluster.organization,
            "slipway:cluster": cluster.name,
            "slipway:owner": cluster.created_by,
        },
        "jwt_issuer": public_url,
        "jwks_url": format!("{public_url}/.well-known/jwks.json"),
        "revocations_url": format!("{public_url}/.well-known/revocations"),
        "runtime_dir": runtime_dir,
    });
    let Value::Object(variables) = standard else {
        unreachable!("an object literal")
    };
    variables
}

/// How long recording a cluster's runtime directory may keep retrying
/// while the database is unreachable.
const RUNTIME_DIR_RETRY: Duration = Duration::from_secs(10);

/// The cluster's runtime directory: the one recorded with it, or — for
/// its first deploy — `<data_dir>/runtime/<cluster>` of this process,
/// recorded now, before Terraform makes anything there.
pub(crate) async fn cluster_runtime_dir(
    worker: &Worker,
    op: &Operation,
    cluster: &Cluster,
) -> Result<String, EngineError> {
    let proposed = worker.data_dir.join("runtime").join(cluster.name.as_str());
    let proposed = proposed
        .to_str()
        .ok_or_else(|| invalid(op, format!("the data directory {proposed:?} is not UTF-8")))?;
    let give_up = tokio::time::Instant::now() + RUNTIME_DIR_RETRY;
    loop {
        match worker.store.runtime_dir(&cluster.name, proposed).await {
            Ok(dir) => return Ok(dir),
            Err(e) if tokio::time::Instant::now() < give_up => {
                tracing::warn!(error = %e, "cannot read the cluster's runtime directory yet; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => {
                return Err(EngineError::Io {
                    path: proposed.into(),
                    source: std::io::Error::other(format!(
                        "cannot read or record the cluster's runtime directory: {e}"
                    )),
                });
            }
        }
    }
}

/// The executable Terraform's provisioners call: this process's own — or,
/// when it was replaced on disk since this process started (an upgrade in
/// place; Linux then names it `<path> (deleted)`), the one now at its path.
fn slipway_bin() -> Result<String, EngineError> {
    let exe = std::env::current_exe().map_err(|e| EngineError::Io {
        path: "slipway".into(),
        source: e,
    })?;
    Ok(replaced_at(&exe.to_string_lossy(), |p| std::path::Path::new(p).exists()).to_owned())
}

/// `exe`, or the path a replaced executable was at, when something is there.
fn replaced_at(exe: &str, exists: impl Fn(&str) -> bool) -> &str {
    match exe.strip_suffix(" (deleted)") {
        Some(path) if exists(path) => path,
        _ => exe,
    }
}

/// A Terraform run of the operation against Slipway's state backend, with
/// the operation's credential; provisioners find this process's executable
/// in `SLIPWAY_BIN`, providers the AWS profile of the cluster's
/// `organization` or blueprint.
#[allow(clippy::too_many_arguments)]
pub(crate) fn terraform_run(
    worker: &Worker,
    op: &Operation,
    organization: &str,
    secret: &str,
    module: TerraformModule,
    command: TerraformCommand,
    variables: Map<String, Value>,
    time_limit: Duration,
) -> Result<TerraformRun, EngineError> {
    let public_url = &worker.public_url;
    Ok(TerraformRun {
        run_id: op.id.to_string(),
        module_key: module.key,
        command,
        module: module.files,
        variables,
        sensitive_variables: module.sensitive,
        secret_env: vec![("TF_HTTP_PASSWORD".into(), secret.to_owned())],
        env: [("SLIPWAY_BIN".into(), slipway_bin()?)]
            .into_iter()
            .chain(
                worker
                    .engine
                    .aws_environment(Some(organization), op.spec.blueprint.as_str()),
            )
            .collect(),
        backend: StateBackend {
            address: format!("{public_url}/v1/terraform/state"),
            lock_address: format!("{public_url}/v1/terraform/lock"),
            unlock_address: format!("{public_url}/v1/terraform/lock"),
            username: op.id.to_string(),
        },
        time_limit,
    })
}

#[cfg(test)]
mod tests {
    use super::replaced_at;

    #[test]
    fn an_executable_replaced_in_place_is_called_at_its_path() {
        let there = |p: &str| p == "/usr/bin/slipway";
        assert_eq!(
            replaced_at("/usr/bin/slipway (deleted)", there),
            "/usr/bin/slipway"
        );
        assert_eq!(replaced_at("/usr/bin/slipway", there), "/usr/bin/slipway");
        assert_eq!(
            replaced_at("/opt/gone (deleted)", there),
            "/opt/gone (deleted)",
            "nothing at the path: the process's own name, which fails clearly"
        );
    }
}
