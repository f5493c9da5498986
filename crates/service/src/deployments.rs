//! A repository's desired state applied: a deployment in an environment is
//! one cluster (`<deployment>-<environment>`, `slipway_repo::cluster_name`).
//! The service compares what the repository asks with what the cluster is
//! asked to be now and applies the difference through the ordinary actions
//! — define, deploy — so the same rules, limits, budgets and audit hold.
//!
//! The environment's secrets file comes as committed (sops or age,
//! encrypted to the server's recipient). It is opened here, in memory: each
//! of its top-level keys must be a sensitive variable of the blueprint, and
//! its values are sealed at once like any sensitive variable's (sealed at
//! rest, opened only for a run). Whether a secret changed is a comparison
//! of sealed values; no answer holds a value.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use slipway_api::types::*;
use slipway_core::access::{Action, authorize};
use slipway_core::{BlueprintName, ClusterSpec, ClusterState, OrgName, Variables};

use crate::Service;
use crate::caller::{Caller, scope};
use crate::error::{Error, Result};

impl Service {
    /// APPLY (a deployment in an environment): what differs, and, unless
    /// `dry_run`, the operation that applies it.
    pub async fn apply_deployment(
        &self,
        caller: &Caller,
        deployment: &str,
        environment: &str,
        req: ApplyDeployment,
    ) -> Result<DeploymentPlan> {
        caller.require(scope::CLUSTERS_WRITE)?;
        for (field, segment) in [("deployment", deployment), ("environment", environment)] {
            slipway_core::ClusterName::parse(segment).map_err(|e| Error::invalid(field, e.rule))?;
        }
        let name = slipway_repo::cluster_name(deployment, environment)
            .map_err(|e| Error::invalid("deployment", e))?;
        let organization = OrgName::parse(&req.organization)?;
        let blueprint_name = BlueprintName::parse(&req.blueprint)?;
        let blueprint = self
            .blueprint(blueprint_name.as_str(), &req.version)
            .await?;
        let metadata = &blueprint.metadata;
        let sensitive = |key: &str| metadata.variables.get(key).is_some_and(|v| v.sensitive);
        if let Some(key) = req.variables.keys().find(|k| sensitive(k)) {
            return Err(Error::invalid(
                &format!("variables.{key}"),
                "is sensitive: a secret goes in the environment's secrets file (secrets/<environment>.yaml, encrypted with sops), never in a layer of values",
            ));
        }
        let mut variables: Variables = req.variables.clone().into_iter().collect();
        if let Some(file) = &req.secrets {
            for (key, value) in self.open_secrets(file, &blueprint_name)? {
                if !sensitive(&key) {
                    return Err(Error::invalid(
                        "secrets",
                        format!(
                            "{}: {key}: is not a sensitive variable of blueprint {blueprint_name} (a secrets file holds only those)",
                            file.path
                        ),
                    ));
                }
                variables.insert(key, value);
            }
        }
        let spec = ClusterSpec {
            blueprint: blueprint_name.clone(),
            version: blueprint.version.clone(),
            nodes: req.nodes.unwrap_or(metadata.nodes.default),
            variables,
        };
        metadata.check_spec(&spec)?;
        let sealed = self.seal(&name, &blueprint, &spec.variables)?;
        // A persistent deployment (no time to live) is protected; an
        // ephemeral one is not.
        let persistent = req.ttl.is_none();

        let existing = self.store.cluster(&name).await?;
        let (action, changes) = match &existing {
            None => {
                let level = caller.level_for(&organization);
                authorize(level, Action::Manage, req.public, &organization)?;
                let mut changes = vec![
                    change("version", None, Some(spec.version.clone().into())),
                    change("nodes", None, Some(spec.nodes.into())),
                    change("public", None, Some(req.public.into())),
                    change("protected", None, Some(persistent.into())),
                ];
                changes.extend(variable_changes(&Variables::new(), &sealed, &sensitive));
                (PlanAction::Create, changes)
            }
            Some(_) => {
                let snap = self
                    .authorized_snapshot(caller, name.as_str(), Action::Manage)
                    .await?;
                let c = &snap.cluster;
                if c.organization != organization {
                    return Err(Error::invalid(
                        "organization",
                        format!(
                            "cluster {name} belongs to organization {}, not {organization}",
                            c.organization
                        ),
                    ));
                }
                if c.spec.blueprint != blueprint_name {
                    return Err(Error::invalid(
                        "blueprint",
                        format!(
                            "cluster {name} is of blueprint {}: a deployment keeps its blueprint (remove the cluster to change it)",
                            c.spec.blueprint
                        ),
                    ));
                }
                let mut changes = Vec::new();
                if c.spec.version != spec.version {
                    changes.push(change(
                        "version",
                        Some(c.spec.version.clone().into()),
                        Some(spec.version.clone().into()),
                    ));
                }
                if c.spec.nodes != spec.nodes {
                    changes.push(change(
                        "nodes",
                        Some(c.spec.nodes.into()),
                        Some(spec.nodes.into()),
                    ));
                }
                if c.public != req.public {
                    changes.push(change(
                        "public",
                        Some(c.public.into()),
                        Some(req.public.into()),
                    ));
                }
                if c.protected != persistent {
                    changes.push(change(
                        "protected",
                        Some(c.protected.into()),
                        Some(persistent.into()),
                    ));
                }
                changes.extend(variable_changes(&c.spec.variables, &sealed, &sensitive));
                let action = if changes.is_empty() && c.state == ClusterState::Running {
                    PlanAction::None
                } else {
                    PlanAction::Deploy
                };
                (action, changes)
            }
        };
        let mut plan = DeploymentPlan {
            cluster: name.to_string(),
            action,
            changes,
            operation: None,
        };
        if req.dry_run || action == PlanAction::None {
            return Ok(plan);
        }
        if action == PlanAction::Create {
            self.create_cluster(
                caller,
                CreateCluster {
                    name: name.to_string(),
                    blueprint: blueprint_name.to_string(),
                    version: Some(spec.version.clone()),
                    organization: Some(organization.to_string()),
                    public: req.public,
                    nodes: Some(spec.nodes),
                    variables: spec.variables.clone(),
                },
            )
            .await?;
        } else if plan.changes.iter().any(|c| c.setting == "public") {
            // Refused while anything is deployed: the module was given it.
            self.set_visibility(caller, name.as_str(), req.public)
                .await?;
        }
        // Before the deploy: a protected cluster needs no destroy time.
        if plan.changes.iter().any(|c| c.setting == "protected") {
            self.set_protection(caller, name.as_str(), persistent)
                .await?;
        }
        let deployed = self
            .deploy(
                caller,
                name.as_str(),
                DeployCluster {
                    nodes: Some(spec.nodes),
                    version: Some(spec.version.clone()),
                    variables: Some(spec.variables),
                    ttl: req.ttl.clone(),
                    ..DeployCluster::default()
                },
            )
            .await?;
        plan.operation = deployed.operation;
        let level = caller.level_for(&organization);
        self.audit(
            caller,
            level,
            "deployment.apply",
            name.as_str(),
            "applied",
            serde_json::json!({
                "deployment": deployment,
                "environment": environment,
                "changed": plan.changes.iter().map(|c| &c.setting).collect::<Vec<_>>(),
                "operation": plan.operation.as_ref().map(|o| &o.id),
            }),
        )
        .await;
        Ok(plan)
    }

    /// The top-level entries of a committed secrets file, opened with the
    /// server's identity (a tampered file, or one not encrypted to the
    /// server, is refused naming it).
    fn open_secrets(
        &self,
        file: &SecretsFileBody,
        blueprint: &BlueprintName,
    ) -> Result<Vec<(String, serde_json::Value)>> {
        let bytes = STANDARD.decode(file.contents.trim()).map_err(|_| {
            Error::invalid("secrets.contents", "must be the file's bytes in base64")
        })?;
        let identity = self.age_identity();
        let document = slipway_sops::decrypt(&file.path, &bytes, &[&identity])
            .map_err(|e| Error::invalid("secrets", e.to_string()))?;
        document
            .entries()
            .iter()
            .map(|(key, value)| match value.to_json() {
                serde_json::Value::Object(_) | serde_json::Value::Array(_) => Err(Error::invalid(
                    "secrets",
                    format!(
                        "{}: {key}: a secret of blueprint {blueprint} is one value (text, a number or true/false), not a map or a list",
                        file.path
                    ),
                )),
                plain @ (serde_json::Value::Null
                | serde_json::Value::Bool(_)
                | serde_json::Value::Number(_)
                | serde_json::Value::String(_)) => Ok((key.clone(), plain)),
            })
            .collect()
    }
}

fn change(
    setting: &str,
    from: Option<serde_json::Value>,
    to: Option<serde_json::Value>,
) -> PlannedChange {
    PlannedChange {
        setting: setting.to_owned(),
        from,
        to,
    }
}

/// The variables that differ between two sealed sets: a plain one with
/// its values, a sensitive one by name only (`secrets.<name>`).
fn variable_changes(
    now: &Variables,
    asked: &Variables,
    sensitive: &dyn Fn(&str) -> bool,
) -> Vec<PlannedChange> {
    let mut names: Vec<&String> = now.keys().chain(asked.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter(|n| now.get(*n) != asked.get(*n))
        .map(|n| {
            if sensitive(n) {
                let said = |v: Option<&serde_json::Value>| v.map(|_| "(sensitive)".into());
                change(
                    &format!("secrets.{n}"),
                    said(now.get(n)),
                    said(asked.get(n)),
                )
            } else {
                change(
                    &format!("variables.{n}"),
                    now.get(n).cloned(),
                    asked.get(n).cloned(),
                )
            }
        })
        .collect()
}
