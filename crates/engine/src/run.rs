//! What a Terraform run is asked to do and what it finds out: the
//! [`TerraformRun`] an [`crate::Engine`] runs, its Terraform command
//! ([`TerraformCommand`]) and state backend, the variables every module is offered, and the [`RunReport`].

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{Map, Value};
use slipway_core::TerraformCommand;

/// The variables Slipway offers every module; a module receives those it
/// declares.
pub const STANDARD_VARIABLES: &[&str] = &[
    "cluster_name",
    "organization",
    "is_public",
    "node_count",
    "min_nodes",
    "max_nodes",
    "version",
    "tags",
    "jwt_issuer",
    "jwks_url",
    "revocations_url",
    "runtime_dir",
];

/// Where Terraform keeps the state: Slipway's HTTP backend. The addresses
/// are the same for every run; the run's credentials, passed in the
/// environment (`TF_HTTP_USERNAME`, and `TF_HTTP_PASSWORD` among the job's
/// secrets), say whose state it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateBackend {
    pub address: String,
    pub lock_address: String,
    pub unlock_address: String,
    /// The run's name at the backend (its operation id): not a secret, so
    /// not masked in its log.
    pub username: String,
}

/// One Terraform run.
#[derive(Debug, Clone)]
pub struct TerraformRun {
    /// Names the run's own files (an operation id).
    pub run_id: String,
    /// Names the working directory: the same for every run of one module
    /// (e.g. blueprint, version and digest).
    pub module_key: String,
    pub command: TerraformCommand,
    /// The module's files, by path relative to its root.
    pub module: BTreeMap<String, String>,
    /// Every value Slipway offers: standard and user variables. Only those
    /// the module declares are passed.
    pub variables: Map<String, Value>,
    /// Variables passed through the environment, never in a file, and masked.
    pub sensitive_variables: BTreeSet<String>,
    /// Extra environment for Terraform (e.g. backend credentials); every value
    /// is treated as a secret.
    pub secret_env: Vec<(String, String)>,
    /// Extra environment for Terraform that is no secret and belongs to the
    /// process running it, not to the cluster (e.g. `SLIPWAY_BIN`, the
    /// executable provisioners call): never a variable, so never in the
    /// state, and a destroy uses the running process's own.
    pub env: Vec<(String, String)>,
    pub backend: StateBackend,
    pub time_limit: Duration,
}

/// What a run found out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunReport {
    /// The module's outputs, sensitive ones masked.
    pub outputs: Map<String, Value>,
    /// For [`TerraformCommand::Observe`]: what the state holds.
    pub observation: Option<Observation>,
}

/// What Terraform's state holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// Managed resource instances in the state.
    pub resources: usize,
    /// The plan is empty: the infrastructure matches the configuration.
    pub converged: bool,
    /// What the plan would change, when it is not empty: each resource
    /// instance's address and the action (`create`, `update`, `replace`,
    /// `delete`, …).
    pub changes: Vec<PlannedChange>,
}

/// One change a plan would make.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PlannedChange {
    pub resource: String,
    pub action: String,
}

/// A plan's changes counted as Terraform's summary line counts them (a
/// replacement is one to add and one to destroy).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct PlanSummary {
    pub add: usize,
    pub change: usize,
    pub destroy: usize,
}

impl Observation {
    pub fn summary(&self) -> PlanSummary {
        let mut s = PlanSummary::default();
        for c in &self.changes {
            match c.action.as_str() {
                "create" => s.add += 1,
                "update" => s.change += 1,
                "delete" => s.destroy += 1,
                "replace" => {
                    s.add += 1;
                    s.destroy += 1;
                }
                _ => {}
            }
        }
        s
    }
}

impl std::fmt::Display for PlanSummary {
    /// Terraform's own words: `Plan: 1 to add, 0 to change, 0 to destroy.`
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Plan: {} to add, {} to change, {} to destroy.",
            self.add, self.change, self.destroy
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_is_summarized_as_terraform_summarizes_it() {
        let change = |resource: &str, action: &str| PlannedChange {
            resource: resource.into(),
            action: action.into(),
        };
        let observed = Observation {
            resources: 3,
            converged: false,
            changes: vec![
                change("a", "create"),
                change("b", "replace"),
                change("c", "update"),
                change("d", "delete"),
                change("e", "read"),
            ],
        };
        assert_eq!(
            observed.summary().to_string(),
            "Plan: 2 to add, 1 to change, 2 to destroy."
        );
    }
}
