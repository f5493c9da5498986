//! Clusters: define, deploy, reschedule, destroy, access and describe them;
//! validate and authorize (`core::access`), let the rules of `slipway-core`
//! decide inside the store's transaction, and describe the result.
//!
//! Sensitive variable values are sealed before they are stored (see
//! [`slipway_auth::secrets`]); a stored cluster's values are opened only
//! to check them against a blueprint version, and sealed again.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures::Stream;
use slipway_api::types::*;
use slipway_auth::secrets;
use slipway_core::access::{Action, Level, authorize};
use slipway_core::rules::{self, ClusterSnapshot, DeployRequest, Outcome, RuleContext};
use slipway_core::{
    BlueprintName, ClusterName, ClusterSpec, OrgName, Timestamp, Variables,
    duration::parse_duration,
};
use slipway_store::{
    BlueprintVersion, ClusterFilter, Decide, LastOperation, NewCluster, Notification, Store,
};
use tokio::sync::broadcast;

use crate::blueprints::Deprecated;
use crate::caller::{Caller, scope};
use crate::error::{Error, Kind, Result};
use crate::memory::Memory;
use crate::{Service, audit_intent, context, operation_view, parse_cluster_name};

/// The organization clusters belong to when none is named.
pub const DEFAULT_ORGANIZATION: &str = "default";

/// The most clusters one page lists.
pub const MAX_PAGE: u32 = 500;
/// A page's size when none is asked for.
pub const DEFAULT_PAGE: u32 = 100;

/// A page size asked for, within bounds.
pub fn page_limit(limit: Option<u32>) -> Result<u32> {
    match limit {
        None => Ok(DEFAULT_PAGE),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(_) => Err(Error::invalid(
            "limit",
            format!("must be between 1 and {MAX_PAGE}"),
        )),
    }
}

/// What decides who may use a cluster, remembered by [`Service::access`]
/// for a second: an ACCESS reads nothing but its audit entry's commit.
#[derive(Clone)]
pub(crate) struct Audience {
    name: ClusterName,
    organization: OrgName,
    public: bool,
}

impl Audience {
    fn of(snap: &ClusterSnapshot) -> Self {
        Self {
            name: snap.cluster.name.clone(),
            organization: snap.cluster.organization.clone(),
            public: snap.cluster.public,
        }
    }

    /// Whether the caller may do `action` to the cluster. Another
    /// organization's private cluster is answered exactly as one that does
    /// not exist.
    fn admit(&self, caller: &Caller, action: Action) -> Result<Level> {
        let level = caller.level_for(&self.organization);
        if !self.public && level < Level::OrgMember {
            return Err(Error::not_found(format!(
                "cluster {} does not exist",
                self.name
            )));
        }
        authorize(level, action, self.public, &self.organization)?;
        Ok(level)
    }
}

/// Audiences remembered by cluster name (see [`crate::memory`]). Making a
/// cluster public or private, or removing it, is announced
/// (`Notification::AccessChanged`); its organization never changes.
pub(crate) type Audiences = Memory<Audience>;

pub(crate) fn audiences(store: &dyn Store) -> Audiences {
    Memory::new(store, Duration::MAX, |note| {
        matches!(note, Notification::AccessChanged { .. })
    })
}

impl Service {
    pub(crate) async fn snapshot(&self, name: &ClusterName) -> Result<ClusterSnapshot> {
        self.store
            .cluster(name)
            .await?
            .ok_or_else(|| Error::not_found(format!("cluster {name} does not exist")))
    }

    /// The cluster, if the caller may do `action` to it. Another
    /// organization's private cluster is answered exactly as one that does
    /// not exist: its name is not confirmed to whoever may not see it.
    pub(crate) async fn authorized_snapshot(
        &self,
        caller: &Caller,
        name: &str,
        action: Action,
    ) -> Result<ClusterSnapshot> {
        Ok(self.authorized_cluster(caller, name, action).await?.0)
    }

    /// [`authorized_snapshot`](Self::authorized_snapshot) with the
    /// cluster's last operation, in the same read.
    async fn authorized_cluster(
        &self,
        caller: &Caller,
        name: &str,
        action: Action,
    ) -> Result<(ClusterSnapshot, Option<LastOperation>)> {
        let name = parse_cluster_name(name)?;
        let missing = || Error::not_found(format!("cluster {name} does not exist"));
        let (snap, last) = self
            .store
            .cluster_with_last_operation(&name)
            .await?
            .ok_or_else(missing)?;
        Audience::of(&snap).admit(caller, action)?;
        Ok((snap, last))
    }

    /// Describes clusters as `status` shows them, reading the last
    /// operation of those that have none in flight in one query.
    pub(crate) async fn statuses(&self, snaps: &[ClusterSnapshot]) -> Result<Vec<ClusterStatus>> {
        let wanted: Vec<_> = snaps
            .iter()
            .filter_map(|s| {
                let last = s.cluster.last_operation.as_ref()?;
                (s.active.as_ref().map(|a| &a.id) != Some(last)).then(|| last.clone())
            })
            .collect();
        let finished: HashMap<_, LastOperation> = self
            .store
            .operations_by_id(&wanted)
            .await?
            .iter()
            .map(|op| (op.id.clone(), LastOperation::from(op)))
            .collect();
        let deprecations = self.deprecations().await?;
        Ok(snaps
            .iter()
            .map(|snap| {
                let last = snap.cluster.last_operation.as_ref().and_then(|id| {
                    snap.active
                        .as_ref()
                        .filter(|a| a.id == *id)
                        .map(LastOperation::from)
                        .or_else(|| finished.get(id).cloned())
                });
                status(snap, last.as_ref(), &deprecations)
            })
            .collect())
    }

    pub(crate) async fn status_of(&self, snap: &ClusterSnapshot) -> Result<ClusterStatus> {
        Ok(self
            .statuses(std::slice::from_ref(snap))
            .await?
            .pop()
            .expect("one status per snapshot"))
    }

    pub async fn create_cluster(
        &self,
        caller: &Caller,
        req: CreateCluster,
    ) -> Result<ClusterStatus> {
        caller.require(scope::CLUSTERS_WRITE)?;
        let name = parse_cluster_name(&req.name)?;
        let organization =
            OrgName::parse(req.organization.as_deref().unwrap_or(DEFAULT_ORGANIZATION))?;
        let Some(org) = self.store.organization(&organization).await? else {
            return Err(Error::invalid(
                "organization",
                format!("organization {organization} does not exist"),
            ));
        };
        let level = caller.level_for(&organization);
        authorize(level, Action::Manage, req.public, &organization)?;
        let blueprint_name = BlueprintName::parse(&req.blueprint)?;
        let blueprint = self
            .blueprint_for(
                &organization,
                blueprint_name.as_str(),
                req.version.as_deref().unwrap_or("latest"),
                None,
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
        let spec = ClusterSpec {
            variables: self.seal(&name, &blueprint, &spec.variables)?,
            ..spec
        };
        let cluster = self
            .store
            .create_cluster(NewCluster {
                name: name.clone(),
                organization: organization.clone(),
                public: req.public,
                spec,
                created_by: caller.subject().to_string(),
                now: Utc::now(),
                limits: (level < Level::Admin).then_some(org.limits),
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
        Ok(status(
            &ClusterSnapshot {
                cluster,
                active: None,
                schedule: None,
                capacity: Vec::new(),
            },
            None,
            &*self.deprecations().await?,
        ))
    }

    /// Seals the values of the blueprint's sensitive variables.
    pub(crate) fn seal(
        &self,
        cluster: &ClusterName,
        blueprint: &BlueprintVersion,
        variables: &Variables,
    ) -> Result<Variables> {
        secrets::seal_variables(
            &self.identities.sealer,
            cluster,
            &blueprint.metadata,
            variables,
        )
        .map_err(|e| {
            tracing::error!(error = %e, "cannot seal variables");
            Error::unavailable("cannot seal secrets right now")
        })
    }

    pub async fn cluster_status(&self, caller: &Caller, name: &str) -> Result<ClusterStatus> {
        caller.require(scope::CLUSTERS_READ)?;
        let (snap, last) = self.authorized_cluster(caller, name, Action::View).await?;
        Ok(status(&snap, last.as_ref(), &*self.deprecations().await?))
    }

    /// A page of the clusters the caller may see that `query` lets through,
    /// by name, with the cursors of the pages after and before it.
    pub async fn list_clusters(
        &self,
        caller: &Caller,
        query: &ClusterQuery,
    ) -> Result<ClusterPage> {
        caller.require(scope::CLUSTERS_READ)?;
        let limit = page_limit(query.limit)?;
        let name = |field: &'static str, value: &Option<String>| {
            value
                .as_deref()
                .map(|c| ClusterName::parse(c).map_err(|e| e.for_field(field)))
                .transpose()
        };
        let (after, before) = (
            name("cursor", &query.cursor)?,
            name("before", &query.before)?,
        );
        if after.is_some() && before.is_some() {
            return Err(Error::invalid("before", "give cursor or before, not both"));
        }
        let search = query.search.as_deref().filter(|s| !s.is_empty());
        if let Some(s) = search
            && (s.len() > slipway_core::names::NAME_MAX_LEN
                || !s
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'))
        {
            return Err(Error::invalid(
                "search",
                "must be part of a cluster name: lowercase letters, digits and '-'",
            ));
        }
        let organization = query
            .organization
            .as_deref()
            .filter(|o| !o.is_empty())
            .map(|o| OrgName::parse(o).map_err(|e| e.for_field("organization")))
            .transpose()?;
        let visible_to = (!caller.identity.admin)
            .then(|| caller.identity.organizations.iter().cloned().collect());
        let backwards = before.is_some();
        // One more than the page, to know whether there is more.
        let mut snaps = self
            .store
            .clusters(&ClusterFilter {
                after: after.clone(),
                before: before.clone(),
                limit: limit + 1,
                visible_to,
                organization,
                search: search.map(str::to_owned),
                state: query.state,
                public: query.public,
                created_by: query
                    .mine
                    .unwrap_or(false)
                    .then(|| caller.subject().to_string()),
            })
            .await?;
        let more = snaps.len() > limit as usize;
        if more {
            // The one beyond the page: after it forwards, before it backwards.
            if backwards {
                snaps.remove(0);
            } else {
                snaps.pop();
            }
        }
        let first = snaps.first().map(|s| s.cluster.name.to_string());
        let last = snaps.last().map(|s| s.cluster.name.to_string());
        // Forwards, there is a page before when this one started after a
        // cursor, and one after when there is more; backwards, the other
        // way round.
        let (next_cursor, prev_cursor) = if backwards {
            (last, first.filter(|_| more))
        } else {
            (last.filter(|_| more), first.filter(|_| after.is_some()))
        };
        Ok(ClusterPage {
            clusters: self.statuses(&snaps).await?,
            next_cursor,
            prev_cursor,
        })
    }

    /// Turns what was decided into the answer, from the snapshot after the
    /// change: no second read of the cluster.
    async fn respond(&self, decided: slipway_store::Decided) -> Result<ActionResponse> {
        let plan = decided.decision;
        let (result, operation) = match &plan.outcome {
            Outcome::Enqueued(op) => (ActionResult::Queued, Some(op.id.clone())),
            Outcome::Joined(id) => (ActionResult::Joined, Some(id.clone())),
            Outcome::AlreadyRunning => (ActionResult::AlreadyRunning, None),
            Outcome::NothingToDestroy => (ActionResult::NothingToDestroy, None),
            Outcome::Scheduled(_) => (ActionResult::Scheduled, None),
            Outcome::Unscheduled => (ActionResult::Unscheduled, None),
            Outcome::Removed => (ActionResult::Removed, None),
            Outcome::Visibility(_) => (ActionResult::VisibilityChanged, None),
            Outcome::Protection(_) => (ActionResult::ProtectionChanged, None),
            Outcome::Deferred(_) | Outcome::NotDue => {
                unreachable!("only the scheduler and recovery defer")
            }
        };
        let snap = decided.snapshot;
        let operation = operation.and_then(|id| {
            snap.active
                .as_ref()
                .filter(|a| a.id == id)
                .map(operation_view)
        });
        Ok(ActionResponse {
            result,
            operation,
            cluster: self.status_of(&snap).await?,
            withdrawn_capacity_requests: plan.withdrawn,
        })
    }

    /// Validates a deploy's version, size and variables against the
    /// blueprint, and seals the sensitive ones.
    async fn deploy_request(
        &self,
        snap: &ClusterSnapshot,
        req: &DeployCluster,
        now: Timestamp,
    ) -> Result<DeployRequest> {
        let spec = &snap.cluster.spec;
        let name = &snap.cluster.name;
        let blueprint = self
            .blueprint_for(
                &snap.cluster.organization,
                spec.blueprint.as_str(),
                req.version.as_deref().unwrap_or(&spec.version),
                Some(&spec.version),
            )
            .await?;
        let metadata = &blueprint.metadata;
        if let Some(nodes) = req.nodes {
            metadata.check_nodes(nodes)?;
        }
        let current = || {
            secrets::open_variables(&self.identities.sealer, name, &spec.variables).map_err(|e| {
                tracing::error!(error = %e, cluster = %name, "cannot open the cluster's variables");
                Error::unavailable("the cluster's sealed variables cannot be opened (is the secrets key the one they were sealed with?)")
            })
        };
        let variables = match (&req.variables, &req.variables_patch) {
            (Some(_), Some(_)) => {
                return Err(Error::invalid(
                    "variables_patch",
                    "give either variables or variables_patch, not both",
                ));
            }
            (Some(given), None) => given.clone(),
            (None, Some(patch)) => slipway_core::cluster::patch_variables(&current()?, patch),
            (None, None) => current()?,
        };
        metadata.resolve_variables(&variables)?;
        let destroy_at = match (&req.ttl, req.destroy_at) {
            (Some(_), Some(_)) => {
                return Err(Error::invalid(
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
            variables: Some(self.seal(name, &blueprint, &variables)?),
            destroy_at,
            cost_model: metadata.cost,
            budget_policy: self.config.accounts.budget.clone(),
            min_nodes: metadata.nodes.min,
            max_nodes: metadata.nodes.max,
        })
    }

    /// DEPLOY (authorized as Manage).
    pub async fn deploy(
        &self,
        caller: &Caller,
        name: &str,
        req: DeployCluster,
    ) -> Result<ActionResponse> {
        let (snap, ctx) = self.manage(caller, name).await?;
        let request = self.deploy_request(&snap, &req, ctx.now).await?;
        self.decide(caller, &snap, &ctx, "cluster.deploy", &|snap, org| {
            rules::decide_deploy(snap, org, &request, &ctx)
        })
        .await
    }

    /// DESTROY (authorized as Manage). A protected cluster only when an
    /// administrator forces it, giving a reason (audited).
    pub async fn destroy(
        &self,
        caller: &Caller,
        name: &str,
        req: DestroyCluster,
    ) -> Result<ActionResponse> {
        let (snap, ctx) = self.manage(caller, name).await?;
        let reason = req
            .reason
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty());
        if req.force {
            caller.require_admin()?;
            if reason.is_none() {
                return Err(Error::invalid(
                    "reason",
                    "forcing a destroy needs a reason, for the audit log",
                ));
            }
        }
        let response = self
            .decide(caller, &snap, &ctx, "cluster.destroy", &|snap, _| {
                rules::decide_destroy(snap, &ctx, req.force)
            })
            .await?;
        if req.force && snap.cluster.protected {
            self.audit(
                caller,
                ctx.level,
                "cluster.destroy.forced",
                name,
                "forced",
                serde_json::json!({"reason": reason, "operation": response.operation.as_ref().map(|o| &o.id)}),
            )
            .await;
        }
        Ok(response)
    }

    /// PROTECTION (administrators): a protected cluster is kept — its
    /// scheduled destroy goes, and nothing destroys it unless an
    /// administrator forces it.
    pub async fn set_protection(
        &self,
        caller: &Caller,
        name: &str,
        protected: bool,
    ) -> Result<ActionResponse> {
        let (snap, ctx) = self.manage(caller, name).await?;
        caller.require_admin()?;
        self.decide(caller, &snap, &ctx, "cluster.protection", &|snap, _| {
            rules::decide_protection(snap, protected)
        })
        .await
    }

    /// REFRESH (authorized as Manage): Terraform reads what really exists.
    pub async fn refresh(&self, caller: &Caller, name: &str) -> Result<ActionResponse> {
        let (snap, ctx) = self.manage(caller, name).await?;
        self.decide(caller, &snap, &ctx, "cluster.refresh", &|snap, _| {
            rules::decide_refresh(snap, &ctx)
        })
        .await
    }

    /// PLAN (authorized as Manage, like the deploy it previews): Terraform
    /// plans `spec` (its sensitive variables sealed) against the cluster's
    /// state, as an operation of kind `plan` that changes nothing.
    pub(crate) async fn plan(
        &self,
        caller: &Caller,
        name: &str,
        spec: &ClusterSpec,
    ) -> Result<ActionResponse> {
        let (snap, ctx) = self.manage(caller, name).await?;
        self.decide(caller, &snap, &ctx, "cluster.plan", &|snap, _| {
            rules::decide_plan(snap, spec, &ctx)
        })
        .await
    }

    /// REMOVE (authorized as Manage): forgets the definition of a cluster
    /// with nothing deployed; its history stays.
    pub async fn remove_cluster(&self, caller: &Caller, name: &str) -> Result<ActionResponse> {
        let (snap, ctx) = self.manage(caller, name).await?;
        self.decide(caller, &snap, &ctx, "cluster.remove", &|snap, _| {
            rules::decide_remove(snap)
        })
        .await
    }

    /// VISIBILITY: a public cluster is an administrator's to manage, so
    /// making one public, or private again, is too (docs/domain.md §4).
    pub async fn set_visibility(
        &self,
        caller: &Caller,
        name: &str,
        public: bool,
    ) -> Result<ActionResponse> {
        let (snap, ctx) = self.manage(caller, name).await?;
        authorize(
            ctx.level,
            Action::Manage,
            public,
            &snap.cluster.organization,
        )?;
        self.decide(caller, &snap, &ctx, "cluster.visibility", &|snap, _| {
            rules::decide_visibility(snap, public)
        })
        .await
    }

    /// SCHEDULE_DESTROY (authorized as Manage).
    pub async fn schedule_destroy(
        &self,
        caller: &Caller,
        name: &str,
        req: ScheduleDestroy,
    ) -> Result<ActionResponse> {
        let (snap, ctx) = self.manage(caller, name).await?;
        let at = match (req.at, &req.in_) {
            (Some(at), None) => at,
            (None, Some(after)) => time_after("in", after, ctx.now)?,
            _ => return Err(Error::invalid("at", "give exactly one of at and in")),
        };
        self.decide(
            caller,
            &snap,
            &ctx,
            "cluster.schedule_destroy",
            &|snap, org| rules::decide_schedule_destroy(snap, org, at, &ctx),
        )
        .await
    }

    pub async fn unschedule_destroy(&self, caller: &Caller, name: &str) -> Result<ActionResponse> {
        let (snap, ctx) = self.manage(caller, name).await?;
        self.decide(
            caller,
            &snap,
            &ctx,
            "cluster.unschedule_destroy",
            &|snap, _| rules::decide_unschedule(snap, &ctx),
        )
        .await
    }

    /// The cluster, if the caller may change it, and the context of the
    /// change: one `now` for every time the request is measured from.
    async fn manage(&self, caller: &Caller, name: &str) -> Result<(ClusterSnapshot, RuleContext)> {
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
        ctx: &RuleContext,
        audit_action: &str,
        decide: &Decide<'_>,
    ) -> Result<ActionResponse> {
        let decided = self
            .store
            .decide(
                &snap.cluster.name,
                ctx.now,
                &audit_intent(caller, ctx.level, audit_action),
                decide,
            )
            .await?;
        self.respond(decided).await
    }

    /// Every version of a cluster's Terraform state, oldest first (without
    /// their content, which holds the cluster's secrets).
    pub async fn state_history(
        &self,
        caller: &Caller,
        cluster: &str,
    ) -> Result<Vec<StateVersionView>> {
        caller.require(scope::CLUSTERS_READ)?;
        let name = self
            .authorized_snapshot(caller, cluster, Action::View)
            .await?
            .cluster
            .name;
        let versions = self.store.state_history(name.as_str()).await?;
        Ok(versions
            .into_iter()
            .map(|v| StateVersionView {
                serial: v.serial,
                operation: v.operation.to_string(),
                written_at: v.created_at,
            })
            .collect())
    }

    /// ACCESS: a cluster token whose audience is exactly the cluster.
    pub async fn access(&self, caller: &Caller, name: &str) -> Result<ClusterToken> {
        caller.require(scope::CLUSTERS_ACCESS)?;
        let name = parse_cluster_name(name)?;
        let audience = match self.audiences.recall(name.as_str()) {
            Some(audience) => audience,
            None => {
                let generation = self.audiences.generation();
                let audience = Audience::of(&self.snapshot(&name).await?);
                self.audiences
                    .remember(name.to_string(), generation, audience.clone());
                audience
            }
        };
        let level = audience.admit(caller, Action::Access)?;
        let issued = self.identities.signer.issue(
            &caller.identity,
            name.as_str(),
            level,
            self.config.auth.cluster_token_ttl,
        )?;
        // The token's id, so an administrator can revoke this one token
        // (`slipway admin revoke JTI`); no token leaves unaudited.
        self.audit_or_fail(
            caller,
            level,
            "cluster.access",
            name.as_str(),
            "issued",
            serde_json::json!({
                "jti": issued.jti,
                "audience": name,
                "level": level,
                "expires_at": issued.expires_at,
            }),
        )
        .await?;
        Ok(ClusterToken {
            token: issued.token,
            audience: name.to_string(),
            level,
            expires_at: issued.expires_at,
        })
    }

    /// The variables of the cluster's definition, sensitive ones masked
    /// (members of its organization, or anyone for a public cluster).
    pub async fn cluster_variables(&self, caller: &Caller, name: &str) -> Result<Variables> {
        caller.require(scope::CLUSTERS_READ)?;
        let snap = self.authorized_snapshot(caller, name, Action::View).await?;
        let spec = &snap.cluster.spec;
        let blueprint = self
            .blueprint(spec.blueprint.as_str(), &spec.version)
            .await?;
        Ok(spec
            .variables
            .iter()
            .map(|(key, value)| {
                let sensitive = blueprint
                    .metadata
                    .variables
                    .get(key)
                    .is_some_and(|v| v.sensitive);
                let shown = if sensitive {
                    serde_json::Value::String("(sensitive)".into())
                } else {
                    value.clone()
                };
                (key.clone(), shown)
            })
            .collect())
    }

    /// The cluster's status now, then again after every change (an
    /// operation queued, started or finished; a schedule set, moved or
    /// removed). Ends when the cluster can no longer be seen or the
    /// process stops.
    pub async fn watch_cluster(
        self: Arc<Self>,
        caller: Caller,
        name: &str,
    ) -> Result<impl Stream<Item = ClusterStatus> + Send + 'static> {
        let name = parse_cluster_name(name)?;
        // Subscribed before the first status, so no change slips between.
        let notifications = self.store.subscribe();
        let first = self.cluster_status(&caller, name.as_str()).await?;
        let watch = Watch {
            service: self,
            caller,
            name,
            notifications,
            next: Some(first),
            last: None,
        };
        Ok(futures::stream::unfold(watch, |mut watch| async move {
            let status = watch.next().await?;
            Some((status, watch))
        }))
    }
}

/// The status of the cluster of `snap`, whose last operation is `last`.
fn status(
    snap: &ClusterSnapshot,
    last: Option<&LastOperation>,
    deprecations: &Deprecated,
) -> ClusterStatus {
    let c = &snap.cluster;
    let spec = &c.spec;
    ClusterStatus {
        name: c.name.to_string(),
        state: c.state,
        destroy_at: snap.schedule.as_ref().map(|s| s.destroy_at),
        endpoint: c.endpoint().map(str::to_owned),
        nodes: c.spec.nodes,
        outputs: c.outputs.clone(),
        blueprint: c.spec.blueprint.to_string(),
        version: c.spec.version.clone(),
        public: c.public,
        protected: c.protected,
        drift: c.drift.clone(),
        drift_checked_at: c.drift_checked_at,
        deprecated: deprecations
            .get(&(spec.blueprint.to_string(), spec.version.clone()))
            .cloned(),
        organization: c.organization.to_string(),
        last_operation: last.map(|op| OperationSummary {
            id: op.id.to_string(),
            kind: op.kind,
            state: op.state,
            error: op.error.clone(),
        }),
        error: c.error.clone(),
        capacity: capacity_summary(snap),
        created_by: c.created_by.clone(),
        created_at: c.created_at,
        updated_at: c.updated_at,
    }
}

/// A cluster's capacity requests in brief: how many are in force, the
/// size they hold (the sum over people of each one's largest, as the keeper
/// clamps it when it resizes), and why some wait.
fn capacity_summary(snap: &ClusterSnapshot) -> CapacitySummary {
    let now = Utc::now();
    let active: Vec<_> = snap.capacity.iter().filter(|r| r.is_active(now)).collect();
    CapacitySummary {
        requests: u32::try_from(active.len()).unwrap_or(u32::MAX),
        held_nodes: slipway_core::capacity::requested_size(&snap.capacity, now),
        waiting: active
            .iter()
            .find_map(|r| r.waiting.as_ref())
            .map(crate::capacity::wait_view),
    }
}

/// Watches one cluster's status.
struct Watch {
    service: Arc<Service>,
    caller: Caller,
    name: ClusterName,
    notifications: broadcast::Receiver<Notification>,
    next: Option<ClusterStatus>,
    last: Option<ClusterStatus>,
}

impl Watch {
    async fn next(&mut self) -> Option<ClusterStatus> {
        loop {
            if let Some(status) = self.next.take()
                && self.last.as_ref() != Some(&status)
            {
                self.last = Some(status.clone());
                return Some(status);
            }
            tokio::select! {
                note = self.notifications.recv() => match note {
                    Ok(note) if note != Notification::Resync && note.cluster() != Some(&self.name) => continue,
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                () = tokio::time::sleep(Duration::from_secs(30)) => {}
                () = self.service.shutdown.cancelled() => return None,
            }
            match self
                .service
                .cluster_status(&self.caller, self.name.as_str())
                .await
            {
                Ok(status) => self.next = Some(status),
                Err(e) if e.kind != Kind::Unavailable => return None,
                Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
            }
        }
    }
}

/// `now` plus a duration given in `field`, which must be longer than zero.
pub(crate) fn time_after(field: &str, duration: &str, now: Timestamp) -> Result<Timestamp> {
    let duration = parse_duration(field, duration)?;
    if duration.is_zero() {
        return Err(Error::invalid(field, "must be longer than zero"));
    }
    chrono::TimeDelta::from_std(duration)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .ok_or_else(|| Error::invalid(field, "is too long"))
}
