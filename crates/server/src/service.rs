//! What the API does, independent of HTTP: validate a request, let the rules
//! of `slipway-core` decide inside the store's transaction, and describe the
//! result.

use chrono::Utc;
use slipway_api::types::*;
use slipway_core::blueprint::BlueprintMetadata;
use slipway_core::rules::{self, ClusterSnapshot, Context, DeployRequest, Outcome, Plan};
use slipway_core::{
    BlueprintName, ClusterName, ClusterSpec, Operation, OperationId, OrgName, Reason,
    duration::parse_duration, names::check_version,
};
use slipway_store::{AuditIntent, BlueprintVersion, NewCluster, OperationFilter};

use crate::app::{App, StopReason};
use crate::auth::Caller;
use crate::error::ApiError;

/// The organization clusters belong to when none is named.
pub const DEFAULT_ORGANIZATION: &str = "default";

pub fn parse_cluster_name(name: &str) -> Result<ClusterName, ApiError> {
    Ok(ClusterName::parse(name)?)
}

pub fn parse_operation_id(id: &str) -> Result<OperationId, ApiError> {
    Ok(OperationId::parse(id)?)
}

fn operation_view(op: &Operation) -> OperationView {
    OperationView {
        id: op.id.to_string(),
        cluster: op.cluster.to_string(),
        kind: op.kind,
        reason: op.reason,
        requested_by: op.requested_by.clone(),
        state: op.state,
        nodes: op.spec.nodes,
        version: op.spec.version.clone(),
        error: op.error.clone(),
        created_at: op.created_at,
        started_at: op.started_at,
        finished_at: op.finished_at,
    }
}

fn context(caller: &Caller) -> Context {
    Context {
        now: Utc::now(),
        actor: caller.name.clone(),
        reason: Reason::User,
        new_operation_id: OperationId::from_uuid(uuid::Uuid::now_v7()),
    }
}

fn audit(caller: &Caller, action: &str) -> AuditIntent {
    AuditIntent {
        actor: caller.name.clone(),
        level: caller.level.clone(),
        action: action.to_owned(),
    }
}

impl App {
    async fn blueprint(&self, name: &str, version: &str) -> Result<BlueprintVersion, ApiError> {
        check_version(version)?;
        self.store
            .blueprint_version(name, version)
            .await?
            .ok_or_else(|| {
                ApiError::invalid(
                    if version == "latest" {
                        "blueprint"
                    } else {
                        "version"
                    },
                    format!("blueprint {name} has no version {version}; see GET /v1/blueprints"),
                )
            })
    }

    async fn snapshot(&self, name: &ClusterName) -> Result<ClusterSnapshot, ApiError> {
        self.store
            .cluster(name)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("cluster {name} does not exist")))
    }

    /// Describes a cluster as `status` shows it.
    pub async fn status_of(&self, snap: &ClusterSnapshot) -> Result<ClusterStatus, ApiError> {
        let c = &snap.cluster;
        let last = match &c.last_operation {
            Some(id) => self.store.operation(id).await?,
            None => None,
        };
        Ok(ClusterStatus {
            name: c.name.to_string(),
            state: c.state,
            destroy_at: snap.schedule.as_ref().map(|s| s.destroy_at),
            endpoint: c.endpoint().map(str::to_owned),
            nodes: c.spec.nodes,
            outputs: c.outputs.clone(),
            blueprint: c.spec.blueprint.to_string(),
            version: c.spec.version.clone(),
            public: c.public,
            organization: c.organization.to_string(),
            last_operation: last.map(|op| OperationSummary {
                id: op.id.to_string(),
                kind: op.kind,
                state: op.state,
                error: op.error,
            }),
            error: c.error.clone(),
            created_by: c.created_by.clone(),
            created_at: c.created_at,
            updated_at: c.updated_at,
        })
    }

    pub async fn create_cluster(
        &self,
        caller: &Caller,
        req: CreateCluster,
    ) -> Result<ClusterStatus, ApiError> {
        let name = parse_cluster_name(&req.name)?;
        let organization =
            OrgName::parse(req.organization.as_deref().unwrap_or(DEFAULT_ORGANIZATION))?;
        let blueprint_name = BlueprintName::parse(&req.blueprint)?;
        let blueprint = self
            .blueprint(
                blueprint_name.as_str(),
                req.version.as_deref().unwrap_or("latest"),
            )
            .await?;
        let nodes = req.nodes.unwrap_or(blueprint.metadata.nodes.default);
        let spec = ClusterSpec {
            blueprint: blueprint_name,
            version: blueprint.version.clone(),
            nodes,
            variables: req.variables,
        };
        blueprint.metadata.check_spec(&spec)?;
        let cluster = self
            .store
            .create_cluster(NewCluster {
                name: name.clone(),
                organization,
                public: req.public,
                spec,
                created_by: caller.name.clone(),
                now: Utc::now(),
            })
            .await?;
        self.audit_simple(caller, "cluster.create", cluster.name.as_str(), "created")
            .await;
        self.status_of(&ClusterSnapshot {
            cluster,
            active: None,
            schedule: None,
        })
        .await
    }

    async fn audit_simple(&self, caller: &Caller, action: &str, target: &str, result: &str) {
        let entry = slipway_store::NewAuditEntry {
            at: Utc::now(),
            actor: caller.name.clone(),
            level: caller.level.clone(),
            action: action.to_owned(),
            target: target.to_owned(),
            result: result.to_owned(),
            detail: serde_json::json!({}),
        };
        if let Err(e) = self.store.append_audit(entry).await {
            tracing::error!(error = %e, action, target, "cannot write the audit log");
        }
    }

    pub async fn cluster_status(&self, name: &str) -> Result<ClusterStatus, ApiError> {
        let snap = self.snapshot(&parse_cluster_name(name)?).await?;
        self.status_of(&snap).await
    }

    pub async fn list_clusters(&self) -> Result<Vec<ClusterStatus>, ApiError> {
        let mut out = Vec::new();
        for snap in self.store.clusters().await? {
            out.push(self.status_of(&snap).await?);
        }
        Ok(out)
    }

    /// Turns a plan into the API's answer.
    async fn respond(&self, name: &ClusterName, plan: Plan) -> Result<ActionResponse, ApiError> {
        let (result, operation) = match &plan.outcome {
            Outcome::Enqueued(op) => (ActionResult::Queued, Some(op.id.clone())),
            Outcome::Joined(id) => (ActionResult::Joined, Some(id.clone())),
            Outcome::AlreadyRunning => (ActionResult::AlreadyRunning, None),
            Outcome::NothingToDestroy => (ActionResult::NothingToDestroy, None),
            Outcome::Scheduled(_) => (ActionResult::Scheduled, None),
            Outcome::Unscheduled => (ActionResult::Unscheduled, None),
            Outcome::Deferred(_) | Outcome::NotDue => {
                unreachable!("only the scheduler and recovery defer")
            }
        };
        let operation = match operation {
            Some(id) => self
                .store
                .operation(&id)
                .await?
                .map(|op| operation_view(&op)),
            None => None,
        };
        let snap = self.snapshot(name).await?;
        Ok(ActionResponse {
            result,
            operation,
            cluster: self.status_of(&snap).await?,
        })
    }

    /// Validates a deploy's version, size and variables against the blueprint.
    async fn deploy_request(
        &self,
        snap: &ClusterSnapshot,
        req: &DeployCluster,
    ) -> Result<DeployRequest, ApiError> {
        let spec = &snap.cluster.spec;
        let blueprint = self
            .blueprint(
                spec.blueprint.as_str(),
                req.version.as_deref().unwrap_or(&spec.version),
            )
            .await?;
        let metadata: &BlueprintMetadata = &blueprint.metadata;
        if let Some(nodes) = req.nodes {
            metadata.check_nodes(nodes)?;
        }
        let variables = req.variables.as_ref().unwrap_or(&spec.variables);
        metadata.resolve_variables(variables)?;
        let destroy_at = match (&req.ttl, req.destroy_at) {
            (Some(_), Some(_)) => {
                return Err(ApiError::invalid(
                    "ttl",
                    "give either ttl or destroy_at, not both",
                ));
            }
            (Some(ttl), None) => {
                let ttl = parse_duration("ttl", ttl)?;
                if ttl.is_zero() {
                    return Err(ApiError::invalid("ttl", "must be longer than zero"));
                }
                let ttl = chrono::TimeDelta::from_std(ttl)
                    .map_err(|_| ApiError::invalid("ttl", "is too long"))?;
                Some(
                    Utc::now()
                        .checked_add_signed(ttl)
                        .ok_or_else(|| ApiError::invalid("ttl", "is too long"))?,
                )
            }
            (None, at) => at,
        };
        Ok(DeployRequest {
            nodes: req.nodes,
            version: Some(blueprint.version.clone()),
            variables: req.variables.clone(),
            destroy_at,
        })
    }

    pub async fn deploy(
        &self,
        caller: &Caller,
        name: &str,
        req: DeployCluster,
    ) -> Result<ActionResponse, ApiError> {
        let name = parse_cluster_name(name)?;
        let snap = self.snapshot(&name).await?;
        let request = self.deploy_request(&snap, &req).await?;
        let ctx = context(caller);
        let plan = self
            .store
            .apply(&name, ctx.now, &audit(caller, "cluster.deploy"), &|snap| {
                rules::decide_deploy(snap, &request, &ctx)
            })
            .await?;
        self.respond(&name, plan).await
    }

    pub async fn destroy(&self, caller: &Caller, name: &str) -> Result<ActionResponse, ApiError> {
        let name = parse_cluster_name(name)?;
        let ctx = context(caller);
        let plan = self
            .store
            .apply(&name, ctx.now, &audit(caller, "cluster.destroy"), &|snap| {
                rules::decide_destroy(snap, &ctx)
            })
            .await?;
        self.respond(&name, plan).await
    }

    pub async fn schedule_destroy(
        &self,
        caller: &Caller,
        name: &str,
        req: ScheduleDestroy,
    ) -> Result<ActionResponse, ApiError> {
        let name = parse_cluster_name(name)?;
        let ctx = context(caller);
        let at = match (req.at, &req.in_) {
            (Some(at), None) => at,
            (None, Some(after)) => {
                let after = chrono::TimeDelta::from_std(parse_duration("in", after)?)
                    .map_err(|_| ApiError::invalid("in", "is too long"))?;
                ctx.now
                    .checked_add_signed(after)
                    .ok_or_else(|| ApiError::invalid("in", "is too long"))?
            }
            _ => return Err(ApiError::invalid("at", "give exactly one of at and in")),
        };
        let plan = self
            .store
            .apply(
                &name,
                ctx.now,
                &audit(caller, "cluster.schedule_destroy"),
                &|snap| rules::decide_schedule_destroy(snap, at, &ctx),
            )
            .await?;
        self.respond(&name, plan).await
    }

    pub async fn unschedule_destroy(
        &self,
        caller: &Caller,
        name: &str,
    ) -> Result<ActionResponse, ApiError> {
        let name = parse_cluster_name(name)?;
        let ctx = context(caller);
        let plan = self
            .store
            .apply(
                &name,
                ctx.now,
                &audit(caller, "cluster.unschedule_destroy"),
                &|snap| rules::decide_unschedule(snap, &ctx),
            )
            .await?;
        self.respond(&name, plan).await
    }

    pub async fn operation(&self, id: &str) -> Result<OperationView, ApiError> {
        let id = parse_operation_id(id)?;
        self.store
            .operation(&id)
            .await?
            .map(|op| operation_view(&op))
            .ok_or_else(|| ApiError::not_found(format!("operation {id} does not exist")))
    }

    pub async fn operations(&self, cluster: Option<&str>) -> Result<Vec<OperationView>, ApiError> {
        let cluster = match cluster {
            Some(name) => {
                let name = parse_cluster_name(name)?;
                self.snapshot(&name).await?;
                Some(name)
            }
            None => None,
        };
        let ops = self
            .store
            .operations(&OperationFilter {
                cluster,
                active_only: false,
                limit: 100,
            })
            .await?;
        Ok(ops.iter().map(operation_view).collect())
    }

    /// Cancels an operation: a queued one at once; a running one on this
    /// process by stopping Terraform (SIGINT, then kill after the grace
    /// period).
    pub async fn cancel(&self, caller: &Caller, id: &str) -> Result<OperationView, ApiError> {
        let id = parse_operation_id(id)?;
        let op = self
            .store
            .cancel_queued(&id, Utc::now())
            .await
            .map_err(ApiError::from)?;
        if op.state == slipway_core::OperationState::Running {
            let running = self.running.lock().expect("running lock").get(&id).cloned();
            match running {
                Some(run) => run.stop(StopReason::Cancelled {
                    by: caller.name.clone(),
                }),
                None => {
                    return Err(ApiError::new(
                        axum::http::StatusCode::CONFLICT,
                        "running_elsewhere",
                        format!("operation {id} runs on another worker; cancel it there"),
                    ));
                }
            }
        }
        self.audit_simple(caller, "operation.cancel", op.cluster.as_str(), "requested")
            .await;
        Ok(operation_view(&op))
    }

    pub async fn blueprints(&self) -> Result<Vec<BlueprintView>, ApiError> {
        Ok(self
            .store
            .blueprint_versions()
            .await?
            .into_iter()
            .map(|b| BlueprintView {
                name: b.blueprint,
                version: b.version,
                description: b.description,
                digest: b.digest,
                created_at: b.created_at,
            })
            .collect())
    }
}
