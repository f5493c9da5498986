//! Clusters and their operations: validate, authorize (`core::access`),
//! let the rules of `slipway-core` decide inside the store's transaction,
//! and describe the result.

use chrono::Utc;
use slipway_api::types::*;
use slipway_core::access::{Action, authorize};
use slipway_core::rules::{self, ClusterSnapshot, Context, DeployRequest, Outcome, Plan};
use slipway_core::{
    BlueprintName, ClusterSpec, OrgName, Timestamp, duration::parse_duration, names::check_version,
};
use slipway_store::{BlueprintVersion, Decide, NewCluster, OperationFilter};

use super::{audit_intent, context, operation_view, parse_cluster_name, parse_operation_id};
use crate::app::{App, StopReason};
use crate::auth::{Caller, scope};
use crate::error::ApiError;

/// The organization clusters belong to when none is named.
pub const DEFAULT_ORGANIZATION: &str = "default";

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

    pub(crate) async fn snapshot(
        &self,
        name: &slipway_core::ClusterName,
    ) -> Result<ClusterSnapshot, ApiError> {
        self.store
            .cluster(name)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("cluster {name} does not exist")))
    }

    /// The cluster, if the caller may do `action` to it.
    pub(crate) async fn authorized_snapshot(
        &self,
        caller: &Caller,
        name: &str,
        action: Action,
    ) -> Result<ClusterSnapshot, ApiError> {
        let snap = self.snapshot(&parse_cluster_name(name)?).await?;
        let c = &snap.cluster;
        authorize(
            caller.level_for(&c.organization),
            action,
            c.public,
            &c.organization,
        )?;
        Ok(snap)
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
        caller.require(scope::CLUSTERS_WRITE)?;
        let name = parse_cluster_name(&req.name)?;
        let organization =
            OrgName::parse(req.organization.as_deref().unwrap_or(DEFAULT_ORGANIZATION))?;
        if self.store.organization(&organization).await?.is_none() {
            return Err(ApiError::invalid(
                "organization",
                format!("organization {organization} does not exist"),
            ));
        }
        authorize(
            caller.level_for(&organization),
            Action::Manage,
            req.public,
            &organization,
        )?;
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
                organization: organization.clone(),
                public: req.public,
                spec,
                created_by: caller.login().to_owned(),
                now: Utc::now(),
            })
            .await?;
        self.audit(
            caller,
            caller.level_for(&organization),
            "cluster.create",
            name.as_str(),
            "created",
            serde_json::json!({}),
        )
        .await;
        let snap = self.snapshot(&cluster.name).await?;
        self.status_of(&snap).await
    }

    pub async fn cluster_status(
        &self,
        caller: &Caller,
        name: &str,
    ) -> Result<ClusterStatus, ApiError> {
        caller.require(scope::CLUSTERS_READ)?;
        let snap = self.authorized_snapshot(caller, name, Action::View).await?;
        self.status_of(&snap).await
    }

    /// The clusters the caller may see.
    pub async fn list_clusters(&self, caller: &Caller) -> Result<Vec<ClusterStatus>, ApiError> {
        caller.require(scope::CLUSTERS_READ)?;
        let mut out = Vec::new();
        for snap in self.store.clusters().await? {
            let c = &snap.cluster;
            if authorize(
                caller.level_for(&c.organization),
                Action::View,
                c.public,
                &c.organization,
            )
            .is_ok()
            {
                out.push(self.status_of(&snap).await?);
            }
        }
        Ok(out)
    }

    /// Turns a plan into the API's answer.
    async fn respond(
        &self,
        name: &slipway_core::ClusterName,
        plan: Plan,
    ) -> Result<ActionResponse, ApiError> {
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
        now: Timestamp,
    ) -> Result<DeployRequest, ApiError> {
        let spec = &snap.cluster.spec;
        let blueprint = self
            .blueprint(
                spec.blueprint.as_str(),
                req.version.as_deref().unwrap_or(&spec.version),
            )
            .await?;
        let metadata = &blueprint.metadata;
        if let Some(nodes) = req.nodes {
            metadata.check_nodes(nodes)?;
        }
        metadata.resolve_variables(req.variables.as_ref().unwrap_or(&spec.variables))?;
        let destroy_at = match (&req.ttl, req.destroy_at) {
            (Some(_), Some(_)) => {
                return Err(ApiError::invalid(
                    "ttl",
                    "give either ttl or destroy_at, not both",
                ));
            }
            (Some(ttl), None) => Some(time_after("ttl", ttl, now)?),
            (None, at) => at,
        };
        Ok(DeployRequest {
            nodes: req.nodes,
            version: Some(blueprint.version.clone()),
            variables: req.variables.clone(),
            destroy_at,
        })
    }

    /// DEPLOY (authorized as Manage).
    pub async fn deploy(
        &self,
        caller: &Caller,
        name: &str,
        req: DeployCluster,
    ) -> Result<ActionResponse, ApiError> {
        let (snap, ctx) = self.manage(caller, name).await?;
        let request = self.deploy_request(&snap, &req, ctx.now).await?;
        self.decide(caller, &snap, &ctx, "cluster.deploy", &|snap| {
            rules::decide_deploy(snap, &request, &ctx)
        })
        .await
    }

    /// DESTROY (authorized as Manage).
    pub async fn destroy(&self, caller: &Caller, name: &str) -> Result<ActionResponse, ApiError> {
        let (snap, ctx) = self.manage(caller, name).await?;
        self.decide(caller, &snap, &ctx, "cluster.destroy", &|snap| {
            rules::decide_destroy(snap, &ctx)
        })
        .await
    }

    /// SCHEDULE_DESTROY (authorized as Manage).
    pub async fn schedule_destroy(
        &self,
        caller: &Caller,
        name: &str,
        req: ScheduleDestroy,
    ) -> Result<ActionResponse, ApiError> {
        let (snap, ctx) = self.manage(caller, name).await?;
        let at = match (req.at, &req.in_) {
            (Some(at), None) => at,
            (None, Some(after)) => time_after("in", after, ctx.now)?,
            _ => return Err(ApiError::invalid("at", "give exactly one of at and in")),
        };
        self.decide(caller, &snap, &ctx, "cluster.schedule_destroy", &|snap| {
            rules::decide_schedule_destroy(snap, at, &ctx)
        })
        .await
    }

    pub async fn unschedule_destroy(
        &self,
        caller: &Caller,
        name: &str,
    ) -> Result<ActionResponse, ApiError> {
        let (snap, ctx) = self.manage(caller, name).await?;
        self.decide(caller, &snap, &ctx, "cluster.unschedule_destroy", &|snap| {
            rules::decide_unschedule(snap, &ctx)
        })
        .await
    }

    /// The cluster, if the caller may change it, and the context of the
    /// change: one `now` for every time the request is measured from.
    async fn manage(
        &self,
        caller: &Caller,
        name: &str,
    ) -> Result<(ClusterSnapshot, Context), ApiError> {
        caller.require(scope::CLUSTERS_WRITE)?;
        let snap = self
            .authorized_snapshot(caller, name, Action::Manage)
            .await?;
        let ctx = context(caller, caller.level_for(&snap.cluster.organization));
        Ok((snap, ctx))
    }

    /// Lets the rules decide inside the store's transaction, with its audit
    /// entry, and describes what came of it.
    async fn decide(
        &self,
        caller: &Caller,
        snap: &ClusterSnapshot,
        ctx: &Context,
        audit_action: &str,
        decide: &Decide<'_>,
    ) -> Result<ActionResponse, ApiError> {
        let plan = self
            .store
            .apply(
                &snap.cluster.name,
                ctx.now,
                &audit_intent(caller, ctx.level, audit_action),
                decide,
            )
            .await?;
        self.respond(&snap.cluster.name, plan).await
    }

    /// An operation, if the caller may see its cluster.
    pub(crate) async fn authorized_operation(
        &self,
        caller: &Caller,
        id: &str,
        action: slipway_core::access::Action,
    ) -> Result<slipway_core::Operation, ApiError> {
        let id = parse_operation_id(id)?;
        let op = self
            .store
            .operation(&id)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("operation {id} does not exist")))?;
        self.authorized_snapshot(caller, op.cluster.as_str(), action)
            .await?;
        Ok(op)
    }

    pub async fn operation(&self, caller: &Caller, id: &str) -> Result<OperationView, ApiError> {
        caller.require(scope::CLUSTERS_READ)?;
        Ok(operation_view(
            &self.authorized_operation(caller, id, Action::View).await?,
        ))
    }

    /// What a listing covers: the named cluster, if the caller may see it,
    /// or — for administrators only — every cluster (`None`).
    pub(crate) async fn listing_scope(
        &self,
        caller: &Caller,
        cluster: Option<&str>,
    ) -> Result<Option<slipway_core::ClusterName>, ApiError> {
        caller.require(scope::CLUSTERS_READ)?;
        match cluster {
            Some(name) => Ok(Some(
                self.authorized_snapshot(caller, name, Action::View)
                    .await?
                    .cluster
                    .name,
            )),
            None => {
                caller.require_admin()?;
                Ok(None)
            }
        }
    }

    pub async fn operations(
        &self,
        caller: &Caller,
        cluster: Option<&str>,
    ) -> Result<Vec<OperationView>, ApiError> {
        let cluster = self.listing_scope(caller, cluster).await?;
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

    /// Every version of a cluster's Terraform state, oldest first (without
    /// their content, which holds the cluster's secrets).
    pub async fn state_history(
        &self,
        caller: &Caller,
        cluster: &str,
    ) -> Result<Vec<slipway_api::types::StateVersionView>, ApiError> {
        caller.require(scope::CLUSTERS_READ)?;
        let name = self
            .authorized_snapshot(caller, cluster, Action::View)
            .await?
            .cluster
            .name;
        let versions = self.store.state_history(name.as_str()).await?;
        Ok(versions
            .into_iter()
            .map(|v| slipway_api::types::StateVersionView {
                serial: v.serial,
                operation: v.operation.to_string(),
                written_at: v.created_at,
            })
            .collect())
    }

    /// Keeps a finished operation's whole log (JSON lines) in object
    /// storage, and returns it. The events stay in the database too.
    pub(crate) async fn archive_log(
        &self,
        op: &slipway_core::Operation,
    ) -> anyhow::Result<bytes::Bytes> {
        let mut log = Vec::new();
        let mut after = 0;
        loop {
            let events = self.store.events(&op.id, after, 5000).await?;
            let Some(last) = events.last() else { break };
            after = last.seq;
            for event in events {
                serde_json::to_writer(&mut log, &event)?;
                log.push(b'\n');
            }
        }
        let log = bytes::Bytes::from(log);
        let key = crate::storage::log_key(op.cluster.as_str(), op.id.as_str());
        self.storage.put(&key, log.clone()).await?;
        Ok(log)
    }

    /// The archived log of a finished operation (JSON lines), archiving it
    /// now if that has not happened yet.
    pub async fn archived_log(&self, caller: &Caller, id: &str) -> Result<bytes::Bytes, ApiError> {
        caller.require(scope::CLUSTERS_READ)?;
        let op = self.authorized_operation(caller, id, Action::View).await?;
        let key = crate::storage::log_key(op.cluster.as_str(), op.id.as_str());
        let unavailable = |e: &dyn std::fmt::Display| {
            tracing::error!(error = %e, location = %self.storage.location, "object storage failed");
            ApiError::unavailable("object storage is unavailable")
        };
        match self.storage.get(&key).await {
            Ok(Some(log)) => Ok(log),
            Ok(None) if op.state.is_terminal() => {
                self.archive_log(&op).await.map_err(|e| unavailable(&e))
            }
            Ok(None) => Err(ApiError::new(
                axum::http::StatusCode::CONFLICT,
                "still_running",
                format!(
                    "operation {} is still {}: its log is archived when it ends (follow it with the events)",
                    op.id, op.state
                ),
            )),
            Err(e) => Err(unavailable(&e)),
        }
    }

    /// Cancels an operation: a queued one at once; a running one on this
    /// process by stopping Terraform (SIGINT, then kill after the grace
    /// period).
    pub async fn cancel(&self, caller: &Caller, id: &str) -> Result<OperationView, ApiError> {
        caller.require(scope::CLUSTERS_WRITE)?;
        let op = self
            .authorized_operation(caller, id, Action::Manage)
            .await?;
        let op = self.store.cancel_queued(&op.id, Utc::now()).await?;
        if op.state == slipway_core::OperationState::Running {
            let running = self
                .running
                .lock()
                .expect("running lock")
                .get(&op.id)
                .cloned();
            match running {
                Some(run) => run.stop(StopReason::Cancelled {
                    by: caller.login().to_owned(),
                }),
                None => {
                    return Err(ApiError::new(
                        axum::http::StatusCode::CONFLICT,
                        "running_elsewhere",
                        format!(
                            "operation {} runs on another worker; cancel it there",
                            op.id
                        ),
                    ));
                }
            }
        }
        let level = caller.level_for(&self.snapshot(&op.cluster).await?.cluster.organization);
        self.audit(
            caller,
            level,
            "operation.cancel",
            op.cluster.as_str(),
            "requested",
            serde_json::json!({"operation": op.id}),
        )
        .await;
        Ok(operation_view(&op))
    }

    /// ACCESS: a cluster token whose audience is exactly the cluster.
    pub async fn access(&self, caller: &Caller, name: &str) -> Result<ClusterToken, ApiError> {
        caller.require(scope::CLUSTERS_ACCESS)?;
        let snap = self
            .authorized_snapshot(caller, name, Action::Access)
            .await?;
        let level = caller.level_for(&snap.cluster.organization);
        let (token, expires_at) = self.identities.issue(
            &caller.identity,
            snap.cluster.name.as_str(),
            level,
            self.config.auth.cluster_token_ttl,
        )?;
        self.audit(
            caller,
            level,
            "cluster.access",
            snap.cluster.name.as_str(),
            "issued",
            serde_json::json!({"expires_at": expires_at}),
        )
        .await;
        Ok(ClusterToken {
            token,
            audience: snap.cluster.name.to_string(),
            level,
            expires_at,
        })
    }

    pub async fn blueprints(&self, caller: &Caller) -> Result<Vec<BlueprintView>, ApiError> {
        caller.require(scope::CLUSTERS_READ)?;
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

/// `now` plus a duration given in `field`, which must be longer than zero.
fn time_after(field: &str, duration: &str, now: Timestamp) -> Result<Timestamp, ApiError> {
    let duration = parse_duration(field, duration)?;
    if duration.is_zero() {
        return Err(ApiError::invalid(field, "must be longer than zero"));
    }
    chrono::TimeDelta::from_std(duration)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .ok_or_else(|| ApiError::invalid(field, "is too long"))
}
