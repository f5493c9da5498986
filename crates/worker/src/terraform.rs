//! Terraform runs of an operation: the module, the variables Slipway offers
//! every module, and the state backend with the run's credential.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{Map, Value, json};
use slipway_core::event::NewEvent;
use slipway_core::{Cluster, Operation};
use slipway_engine::{Action, EngineError, RunReport, StateBackend, TerraformRun};
use slipway_store::BlueprintVersion;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

use crate::Worker;
use crate::metrics::ActionLabel;

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
        .get_or_create(&ActionLabel {
            action: run.action.name(),
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
/// those it declares).
pub(crate) fn standard_variables(
    worker: &Worker,
    op: &Operation,
    cluster: &Cluster,
    blueprint: &BlueprintVersion,
) -> Result<Map<String, Value>, EngineError> {
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
        "runtime_dir": worker.data_dir.join("runtime").join(cluster.name.as_str()),
        "slipway_bin": std::env::current_exe().map_err(|e| EngineError::Io { path: "slipway".into(), source: e })?,
    });
    let Value::Object(variables) = standard else {
        unreachable!("an object literal")
    };
    Ok(variables)
}

/// A Terraform run of the operation against Slipway's state backend, with
/// the operation's credential.
pub(crate) fn terraform_run(
    worker: &Worker,
    op: &Operation,
    secret: &str,
    module: TerraformModule,
    action: Action,
    variables: Map<String, Value>,
    time_limit: Duration,
) -> TerraformRun {
    let public_url = &worker.public_url;
    TerraformRun {
        run_id: op.id.to_string(),
        module_key: module.key,
        action,
        module: module.files,
        variables,
        sensitive_variables: module.sensitive,
        secret_env: vec![("TF_HTTP_PASSWORD".into(), secret.to_owned())],
        backend: StateBackend {
            address: format!("{public_url}/v1/terraform/state"),
            lock_address: format!("{public_url}/v1/terraform/lock"),
            unlock_address: format!("{public_url}/v1/terraform/lock"),
            username: op.id.to_string(),
        },
        time_limit,
    }
}
