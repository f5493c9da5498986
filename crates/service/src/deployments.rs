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
use slipway_core::rules;
use slipway_core::{BlueprintName, ClusterSpec, ClusterState, OperationId, OrgName, Variables};

use slipway_store::{DeploymentProposal, DeploymentRecord};

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
        req: DesiredDeployment,
    ) -> Result<DeploymentChanges> {
        caller.require(scope::CLUSTERS_WRITE)?;
        for (field, segment) in [("deployment", deployment), ("environment", environment)] {
            slipway_core::ClusterName::parse(segment).map_err(|e| Error::invalid(field, e.rule))?;
        }
        let name = slipway_repo::cluster_name(deployment, environment)
            .map_err(|e| Error::invalid("deployment", e))?;
        let organization = OrgName::parse(&req.organization)?;
        let blueprint_name = BlueprintName::parse(&req.blueprint)?;
        let existing = self.store.cluster(&name).await?;
        let blueprint = self
            .blueprint_for(
                &organization,
                blueprint_name.as_str(),
                &req.version,
                existing
                    .as_ref()
                    .map(|snap| snap.cluster.spec.version.as_str()),
            )
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
                (DeploymentAction::Create, changes)
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
                // Changed outside Slipway: applied again to repair it.
                if !c.drift.is_empty() {
                    changes.push(change(
                        "drift",
                        Some(c.drift.join(", ").into()),
                        Some("repaired".into()),
                    ));
                }
                let action = if changes.is_empty() && c.state == ClusterState::Running {
                    DeploymentAction::None
                } else {
                    DeploymentAction::Deploy
                };
                (action, changes)
            }
        };
        let mut plan = DeploymentChanges {
            cluster: name.to_string(),
            action,
            changes,
            operation: None,
        };
        if action == DeploymentAction::None {
            // Nothing runs; what only the repository holds (a comment, the
            // `prune` mark) is recorded, keeping when it was applied — and so
            // the tests since.
            if !req.dry_run
                && let Some(mut record) = record(
                    caller,
                    &name,
                    deployment,
                    environment,
                    &spec.version,
                    &req,
                    existing.as_ref().map(|snap| &snap.cluster),
                )
            {
                let last = self.store.deployment_record(&name).await?;
                let same = last.as_ref().is_some_and(|l| {
                    (
                        &l.common_digest,
                        l.prune,
                        &l.digest,
                        &l.spec_digest,
                        &l.requires,
                    ) == (
                        &record.common_digest,
                        record.prune,
                        &record.digest,
                        &record.spec_digest,
                        &record.requires,
                    )
                });
                if !same {
                    if let Some(last) = last {
                        record.applied_at = last.applied_at;
                    }
                    self.store.record_deployment(&record).await?;
                }
            }
            return Ok(plan);
        }
        if req.dry_run {
            // Terraform's own plan of the change, for a cluster that exists
            // (a new one's plan is everything its blueprint declares).
            if let Some(snap) = &existing {
                if req.plan {
                    let planned = ClusterSpec {
                        variables: sealed,
                        ..spec
                    };
                    plan.operation = self.plan(caller, name.as_str(), &planned).await?.operation;
                }
                // Kept, so that a person may apply it later without the
                // repository (the web UI's deployments page).
                self.store
                    .propose_deployment(&DeploymentProposal {
                        cluster: name.clone(),
                        deployment: deployment.to_owned(),
                        environment: environment.to_owned(),
                        desired: serde_json::to_value(DesiredDeployment {
                            dry_run: false,
                            plan: false,
                            ..req.clone()
                        })
                        .expect("a request serializes"),
                        changes: serde_json::to_value(&plan.changes).expect("changes serialize"),
                        commit: req.commit.clone(),
                        base_spec_digest: spec_digest(&snap.cluster),
                        plan_operation: plan
                            .operation
                            .as_ref()
                            .and_then(|op| OperationId::parse(&op.id).ok()),
                        proposed_by: caller.subject().to_string(),
                        proposed_at: chrono::Utc::now(),
                    })
                    .await?;
            }
            return Ok(plan);
        }
        if let Some(earlier) = &req.requires {
            self.check_promotion(
                caller,
                deployment,
                earlier,
                environment,
                &spec.version,
                &req,
            )
            .await?;
        }
        if action == DeploymentAction::Create {
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
        // Applied, or superseded by what the repository now says.
        self.store.forget_deployment_proposal(&name).await?;
        let asked = self.store.cluster(&name).await?.map(|snap| snap.cluster);
        if let Some(record) = record(
            caller,
            &name,
            deployment,
            environment,
            &spec.version,
            &req,
            asked.as_ref(),
        ) {
            self.store.record_deployment(&record).await?;
        }
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

    /// APPLY the change a dry run proposed for a deployment in an
    /// environment, as it was proposed — for a person without the
    /// repository (the web UI) — through `apply_deployment`, so with the
    /// same checks (staging before prod) as the CLI's apply. Refused when
    /// the cluster was asked to be anything else since (the plan would no
    /// longer say what it does).
    pub async fn apply_proposal(
        &self,
        caller: &Caller,
        deployment: &str,
        environment: &str,
    ) -> Result<DeploymentChanges> {
        caller.require(scope::CLUSTERS_WRITE)?;
        for (field, segment) in [("deployment", deployment), ("environment", environment)] {
            slipway_core::ClusterName::parse(segment).map_err(|e| Error::invalid(field, e.rule))?;
        }
        let name = slipway_repo::cluster_name(deployment, environment)
            .map_err(|e| Error::invalid("deployment", e))?;
        let snap = self
            .authorized_snapshot(caller, name.as_str(), Action::Manage)
            .await?;
        let proposal = self
            .store
            .deployment_proposal(&name)
            .await?
            .filter(|p| p.deployment == deployment && p.environment == environment)
            .ok_or_else(|| {
                Error::not_found(format!(
                    "no change is proposed for {deployment} in {environment}: a dry run of the repository (slipway apply --dry-run) proposes one"
                ))
            })?;
        if proposal.base_spec_digest != spec_digest(&snap.cluster) {
            return Err(Error::conflict(
                "stale_proposal",
                format!(
                    "{name} was asked to be something else since this change was proposed ({}): propose it again (slipway apply --dry-run)",
                    proposal
                        .proposed_at
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                ),
            ));
        }
        let desired: DesiredDeployment = serde_json::from_value(proposal.desired)
            .map_err(|e| slipway_store::StoreError::Corrupt(format!("proposal of {name}: {e}")))?;
        let applied = self
            .apply_deployment(caller, deployment, environment, desired)
            .await?;
        let level = caller.level_for(&snap.cluster.organization);
        self.audit(
            caller,
            level,
            "deployment.apply_proposal",
            name.as_str(),
            "applied",
            serde_json::json!({
                "proposed_by": proposal.proposed_by,
                "proposed_at": proposal.proposed_at,
                "commit": proposal.commit,
                "operation": applied.operation.as_ref().map(|o| &o.id),
            }),
        )
        .await;
        Ok(applied)
    }

    /// Each deployment a repository applied that the caller may see, its
    /// environments side by side.
    pub async fn deployments(&self, caller: &Caller) -> Result<Vec<DeploymentView>> {
        caller.require(scope::CLUSTERS_READ)?;
        let mut views: Vec<DeploymentView> = Vec::new();
        let mut proposals: std::collections::HashMap<_, _> = self
            .store
            .deployment_proposals()
            .await?
            .into_iter()
            .map(|p| (p.cluster.clone(), p))
            .collect();
        for applied in self.store.deployment_records().await? {
            let Ok(snap) = self
                .authorized_snapshot(caller, applied.cluster.as_str(), Action::View)
                .await
            else {
                continue;
            };
            let tested = self.test_since(&applied).await?.map(|(_, passed)| passed);
            let proposal = proposals.remove(&applied.cluster).map(|p| ProposalView {
                stale: p.base_spec_digest != spec_digest(&snap.cluster),
                commit: p.commit,
                changes: serde_json::from_value(p.changes).unwrap_or_default(),
                plan_operation: p.plan_operation.map(|id| id.to_string()),
                proposed_by: p.proposed_by,
                proposed_at: p.proposed_at,
            });
            let environment = EnvironmentView {
                environment: applied.environment,
                cluster: applied.cluster.to_string(),
                organization: snap.cluster.organization.to_string(),
                state: snap.cluster.state,
                nodes: snap.cluster.spec.nodes,
                protected: snap.cluster.protected,
                drift: snap.cluster.drift.clone(),
                version: applied.version,
                common_digest: applied.common_digest,
                commit: applied.commit,
                prune: applied.prune,
                in_sync: applied.spec_digest == spec_digest(&snap.cluster)
                    && snap.cluster.runs_as_asked()
                    && snap.active.is_none(),
                digest: applied.digest,
                applied_at: applied.applied_at,
                applied_by: applied.applied_by,
                tested,
                proposal,
                // Known once every environment of the deployment is read.
                promotion: applied.requires.map(|from| PromotionView {
                    from,
                    state: PromotionState::Waiting,
                    reason: String::new(),
                }),
            };
            match views
                .iter_mut()
                .find(|v| v.deployment == applied.deployment)
            {
                Some(view) => view.environments.push(environment),
                None => views.push(DeploymentView {
                    deployment: applied.deployment,
                    environments: vec![environment],
                }),
            }
        }
        for view in &mut views {
            let environments = view.environments.clone();
            for (env, this) in view.environments.iter_mut().zip(&environments) {
                let Some(promotion) = &mut env.promotion else {
                    continue;
                };
                let from = promotion.from.clone();
                let earlier = environments.iter().find(|e| e.environment == from);
                (promotion.state, promotion.reason) = match rules::promotion(
                    earlier.map(applied).as_ref(),
                    &applied(this),
                ) {
                    rules::Promotion::Current => (
                        PromotionState::Current,
                        format!("runs what {from} was last applied"),
                    ),
                    rules::Promotion::Ready => (
                        PromotionState::Ready,
                        format!(
                            "{from}'s change passed its tests: slipway promote {} --from {from} --to {}",
                            view.deployment, this.environment
                        ),
                    ),
                    rules::Promotion::Waiting(why) => {
                        (PromotionState::Waiting, format!("waits for {from}: {why}"))
                    }
                };
            }
        }
        Ok(views)
    }

    /// The cluster's latest TEST run ended since `applied`, and whether it
    /// passed.
    async fn test_since(&self, applied: &DeploymentRecord) -> Result<Option<(OperationId, bool)>> {
        Ok(self
            .store
            .runs(Some(&applied.cluster), 50)
            .await?
            .into_iter()
            .find(|run| {
                run.operation.kind == slipway_core::OperationKind::Test
                    && run
                        .operation
                        .finished_at
                        .is_some_and(|t| t >= applied.applied_at)
            })
            .map(|run| {
                let passed = run.result.as_ref().and_then(|r| r["passed"].as_bool()) == Some(true);
                (run.operation.id, passed)
            }))
    }

    /// Staging before prod: `environment` takes only what `earlier` was
    /// applied (the same version and common digest) and tested green
    /// since. Refused naming what differs, unless an administrator
    /// overrides it with a reason (audited).
    async fn check_promotion(
        &self,
        caller: &Caller,
        deployment: &str,
        earlier: &str,
        environment: &str,
        version: &str,
        req: &DesiredDeployment,
    ) -> Result<()> {
        let earlier_cluster = slipway_repo::cluster_name(deployment, earlier)
            .map_err(|e| Error::invalid("requires", e))?;
        let mut differences = Vec::new();
        match self.store.deployment_record(&earlier_cluster).await? {
            None => differences.push(format!(
                "{earlier} ({earlier_cluster}) was never applied from the repository"
            )),
            Some(applied) => {
                if applied.version != version {
                    differences.push(format!(
                        "{earlier} runs version {}, {environment} would get {version}",
                        applied.version
                    ));
                }
                if req.common_digest.as_deref() != Some(applied.common_digest.as_str()) {
                    differences.push(format!(
                        "{earlier} was applied with other common values (digest {}, {environment}'s is {})",
                        short(&applied.common_digest),
                        req.common_digest.as_deref().map_or("none", short)
                    ));
                }
                match self.test_since(&applied).await? {
                    None => differences.push(format!(
                        "{earlier} has not been tested since it was applied"
                    )),
                    Some((run, false)) => differences.push(format!(
                        "{earlier}'s tests since it was applied did not pass (run {run})"
                    )),
                    Some((_, true)) => {}
                }
            }
        }
        if differences.is_empty() {
            return Ok(());
        }
        let reason = req
            .override_reason
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty());
        match reason {
            Some(reason) => {
                caller.require_admin()?;
                self.audit(
                    caller,
                    slipway_core::access::Level::Admin,
                    "deployment.promotion_overridden",
                    &format!("{deployment}-{environment}"),
                    "overridden",
                    serde_json::json!({"requires": earlier, "differences": differences, "reason": reason}),
                )
                .await;
                Ok(())
            }
            None => Err(Error::conflict(
                "not_promoted",
                format!(
                    "{environment} takes only what {earlier} was applied and tested: {}",
                    differences.join("; ")
                ),
            )),
        }
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

/// The first characters of a digest, as people compare them.
fn short(digest: &str) -> &str {
    &digest[..digest.len().min(12)]
}

fn change(
    setting: &str,
    from: Option<serde_json::Value>,
    to: Option<serde_json::Value>,
) -> SettingChange {
    SettingChange {
        setting: setting.to_owned(),
        from,
        to,
    }
}

/// An environment's last apply, as the promotion rule reads it.
fn applied(e: &EnvironmentView) -> rules::Applied<'_> {
    rules::Applied {
        version: &e.version,
        common_digest: &e.common_digest,
        tested: e.tested,
    }
}

/// What an apply records of the repository (when it sent its digest).
/// `asked`: the cluster as the apply left it asking.
fn record(
    caller: &Caller,
    cluster: &slipway_core::ClusterName,
    deployment: &str,
    environment: &str,
    version: &str,
    req: &DesiredDeployment,
    asked: Option<&slipway_core::Cluster>,
) -> Option<DeploymentRecord> {
    Some(DeploymentRecord {
        cluster: cluster.clone(),
        deployment: deployment.to_owned(),
        environment: environment.to_owned(),
        version: version.to_owned(),
        common_digest: req.common_digest.clone()?,
        commit: req.commit.clone(),
        prune: req.prune,
        digest: req.digest.clone().unwrap_or_default(),
        requires: req.requires.clone(),
        spec_digest: asked.map(spec_digest).unwrap_or_default(),
        applied_by: caller.subject().to_string(),
        applied_at: chrono::Utc::now(),
    })
}

/// What a cluster is asked to be, hashed (`Cluster::asked`).
fn spec_digest(cluster: &slipway_core::Cluster) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(cluster.asked().as_bytes()))
}

/// The variables that differ between two sealed sets: a plain one with
/// its values, a sensitive one by name only (`secrets.<name>`).
fn variable_changes(
    now: &Variables,
    asked: &Variables,
    sensitive: &dyn Fn(&str) -> bool,
) -> Vec<SettingChange> {
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
