//! The rules of docs/domain.md §4 — DEPLOY, SCHEDULE_DESTROY, DESTROY, TEST and
//! RELEASE — and the background decisions built on them (a schedule firing,
//! recovery).
//!
//! Each rule reads a [`ClusterSnapshot`] taken inside the store's transaction
//! and answers with a [`Decision`] for the store to apply in that same
//! transaction, or a [`Refusal`]. Waiting for an operation to finish is the
//! caller's business; the rules only decide what to start.

use crate::access::{Level, Limits, check_ceiling};
use crate::account::Account;
use crate::budget::{BudgetPolicy, check_affordable};
use crate::capacity::{
    CapacityOutcome, CapacityRequest, decide_capacity, desired_size, held_until,
};
use crate::cost::CostModel;
use crate::job::RunnerKind;
use crate::money::Rate;
use crate::names::JobVersion;
use crate::operation::JobSpec;
use crate::{
    Cluster, ClusterSpec, ClusterState, Operation, OperationId, OperationKind, OperationState,
    Reason, Refusal, Schedule, Subject, Timestamp, ValidationError, Variables,
};

/// One cluster as it stands, read consistently: the cluster, its
/// infrastructure operation in flight and its scheduled destroy.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterSnapshot {
    pub cluster: Cluster,
    /// The infrastructure operation queued or running on the cluster, if any.
    pub active: Option<Operation>,
    pub schedule: Option<Schedule>,
    /// Its capacity requests not withdrawn (expired ones included until
    /// they are swept; rules look at the active ones).
    pub capacity: Vec<CapacityRequest>,
}

impl ClusterSnapshot {
    /// Whether the cluster counts as deployed — against the organization's
    /// `max_clusters`, in its burn rates and its budget's shutdown —: the
    /// one definition (the store's SQL count is built from the same parts
    /// and held to it by its contract tests). Something of it may exist
    /// (any state but `absent`), or a deploy or update of it is in flight.
    pub fn counts_as_deployed(&self) -> bool {
        self.cluster.state.may_exist()
            || self
                .active
                .as_ref()
                .is_some_and(|op| OperationKind::DEPLOYING.contains(&op.kind))
    }
}

/// What the organization limits of a deploy depend on: read (and on
/// PostgreSQL locked) only where a rule decides, never for a plain read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrganizationLoad {
    pub limits: Limits,
    /// The organization's other clusters that are deployed or being deployed.
    pub deployed_elsewhere: u32,
    /// The organization's budget, if it has an account.
    pub budget: Option<Budget>,
}

/// What the budget rule of a deploy or scale-up depends on, read with the
/// organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    pub account: Account,
    /// What the organization's other clusters cost per hour now.
    pub rate_elsewhere: Rate,
}

/// Who is asking, at which level, when, and the identifier a new operation
/// would get.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleContext {
    pub now: Timestamp,
    pub actor: String,
    /// The caller's level for this cluster; organization members are bound
    /// by the organization's limits, administrators and Slipway itself only
    /// by the absolute ceiling.
    pub level: Level,
    pub reason: Reason,
    pub new_operation_id: OperationId,
}

impl RuleContext {
    /// The context of one of Slipway's own actions (the scheduler,
    /// recovery, the budget, capacity): bound only by the absolute
    /// ceiling, like an administrator.
    pub fn system(
        actor: &Subject,
        reason: Reason,
        now: Timestamp,
        new_operation_id: OperationId,
    ) -> Self {
        debug_assert!(actor.is_slipway(), "{actor} is not one of Slipway's own");
        Self {
            now,
            actor: actor.to_string(),
            level: Level::Admin,
            reason,
            new_operation_id,
        }
    }

    fn limited(&self) -> bool {
        self.level < Level::Admin
    }
}

/// An operation a decision starts.
#[derive(Debug, Clone, PartialEq)]
pub struct NewOperation {
    pub id: OperationId,
    pub kind: OperationKind,
    pub reason: Reason,
    pub requested_by: String,
    pub spec: ClusterSpec,
    /// For TEST and RELEASE: the project's version, and whose runner.
    pub job: Option<JobSpec>,
}

/// What happens to the cluster's scheduled destroy.
#[derive(Debug, Clone, PartialEq)]
pub enum ScheduleChange {
    Keep,
    /// Replace any schedule with one at this time.
    Set(Timestamp),
    /// Remove every scheduled destroy of the cluster.
    Remove,
    /// The schedule fired this destroy operation.
    MarkFired(OperationId),
}

/// What a decision amounts to, for the caller's answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A new operation was queued.
    Enqueued(NewOperation),
    /// An identical operation is already in flight; the request joins it.
    Joined(OperationId),
    /// DEPLOY of a running cluster with nothing to change: success.
    AlreadyRunning,
    /// DESTROY of a cluster with nothing deployed: success.
    NothingToDestroy,
    /// SCHEDULE_DESTROY succeeded.
    Scheduled(Timestamp),
    /// The scheduled destroy was removed (or there was none).
    Unscheduled,
    /// A due schedule cannot fire while this operation is in flight; it fires
    /// when the operation ends.
    Deferred(OperationId),
    /// Nothing was due.
    NotDue,
    /// The cluster's definition was removed (it had nothing deployed).
    Removed,
    /// The cluster became public (`true`) or private (`false`).
    Visibility(bool),
    /// The cluster became protected (`true`) or not (`false`).
    Protection(bool),
}

/// A decision to apply atomically.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub outcome: Outcome,
    pub schedule: ScheduleChange,
    /// The capacity requests the decision ends (by id): a destroy —
    /// whoever asks for it but capacity itself — withdraws every request of
    /// the cluster, so capacity never undoes it.
    pub withdrawn: Vec<String>,
    /// A background operation still queued that the decision's new one
    /// replaces (it ends cancelled, in the same transaction).
    pub superseded: Option<Operation>,
}

impl Decision {
    fn new(outcome: Outcome, schedule: ScheduleChange) -> Self {
        Self {
            outcome,
            schedule,
            withdrawn: Vec::new(),
            superseded: None,
        }
    }

    /// The same decision, withdrawing every capacity request of the
    /// snapshot.
    fn withdrawing(mut self, snap: &ClusterSnapshot) -> Self {
        self.withdrawn = snap.capacity.iter().map(|r| r.id.clone()).collect();
        self
    }

    /// The operation to insert, if the decision starts one.
    pub fn new_operation(&self) -> Option<&NewOperation> {
        match &self.outcome {
            Outcome::Enqueued(op) => Some(op),
            Outcome::Joined(_)
            | Outcome::AlreadyRunning
            | Outcome::NothingToDestroy
            | Outcome::Scheduled(_)
            | Outcome::Unscheduled
            | Outcome::Deferred(_)
            | Outcome::NotDue
            | Outcome::Removed
            | Outcome::Visibility(_)
            | Outcome::Protection(_) => None,
        }
    }

    /// The cluster's new target configuration: a deploy or update makes its
    /// spec the cluster's spec.
    pub fn new_spec(&self) -> Option<&ClusterSpec> {
        self.new_operation()
            .filter(|op| OperationKind::DEPLOYING.contains(&op.kind))
            .map(|op| &op.spec)
    }
}

/// A DEPLOY request, after versions and variables have been resolved and
/// validated against the blueprint.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeployRequest {
    pub nodes: Option<u32>,
    pub version: Option<String>,
    pub variables: Option<Variables>,
    pub destroy_at: Option<Timestamp>,
    /// The cost model of the blueprint version deployed: what the budget
    /// rule prices the target size with.
    pub cost_model: CostModel,
    /// The budget rule's thresholds.
    pub budget_policy: BudgetPolicy,
    /// The blueprint version's bounds on nodes: what capacity requests are
    /// clamped to.
    pub min_nodes: u32,
    pub max_nodes: u32,
}

impl DeployRequest {
    /// The configuration the deploy aims at: the cluster's spec with the
    /// request's overrides.
    pub fn target(&self, current: &ClusterSpec) -> ClusterSpec {
        ClusterSpec {
            blueprint: current.blueprint.clone(),
            version: self
                .version
                .clone()
                .unwrap_or_else(|| current.version.clone()),
            nodes: self.nodes.unwrap_or(current.nodes),
            variables: self
                .variables
                .clone()
                .unwrap_or_else(|| current.variables.clone()),
        }
    }
}

fn enqueue(ctx: &RuleContext, kind: OperationKind, spec: ClusterSpec) -> NewOperation {
    NewOperation {
        id: ctx.new_operation_id.clone(),
        kind,
        reason: ctx.reason,
        requested_by: ctx.actor.clone(),
        spec,
        job: None,
    }
}

fn conflict(active: &Operation) -> Refusal {
    Refusal::Conflict {
        operation: active.id.clone(),
        kind: active.kind,
        state: active.state,
    }
}

fn check_future(field: &str, at: Timestamp, now: Timestamp) -> Result<(), Refusal> {
    if at <= now {
        return Err(ValidationError::new(
            field,
            format!(
                "must be in the future (got {}, now is {})",
                at.to_rfc3339(),
                now.to_rfc3339()
            ),
        )
        .into());
    }
    Ok(())
}

/// Moving or setting a schedule, under the five-minute rule.
fn reschedule(
    existing: Option<&Schedule>,
    at: Timestamp,
    now: Timestamp,
) -> Result<ScheduleChange, Refusal> {
    if let Some(schedule) = existing {
        schedule.check_change_allowed(now)?;
    }
    Ok(ScheduleChange::Set(at))
}

/// The configuration that is (or may be) deployed: what a destroy or a refresh
/// must hand to Terraform.
fn deployed_or_target(cluster: &Cluster) -> ClusterSpec {
    cluster
        .deployed
        .clone()
        .unwrap_or_else(|| cluster.spec.clone())
}

/// The limits on what a deploy starts: the absolute ceiling for everyone;
/// for organization members the organization's limits. A new deploy must
/// carry a destroy time within the lifetime bounds; an update of a running
/// cluster keeps its scheduled destroy or sets one within them.
fn check_limits(
    snap: &ClusterSnapshot,
    org: &OrganizationLoad,
    target: &ClusterSpec,
    req: &DeployRequest,
    ctx: &RuleContext,
    starts_a_cluster: bool,
) -> Result<(), Refusal> {
    check_ceiling(target.nodes)?;
    if !ctx.limited() {
        return Ok(());
    }
    let limits = &org.limits;
    limits.check_nodes(target.nodes)?;
    match req.destroy_at {
        Some(at) => limits.check_lifetime(at, ctx.now)?,
        // An update keeps the cluster's scheduled destroy; a protected
        // cluster has none, and needs none.
        None if !starts_a_cluster && snap.schedule.is_some() => {}
        None if snap.cluster.protected => {}
        None => return Err(limits.missing_destroy_time()),
    }
    if starts_a_cluster {
        limits.check_clusters(org.deployed_elsewhere)?;
    }
    check_budget(
        snap,
        org,
        target,
        &req.cost_model,
        &req.budget_policy,
        ctx.now,
    )
}

/// The budget rule: a deploy or a scale-up is refused when the money would
/// run out within the policy's horizon at the organization's rate with the
/// cluster at its target size. Shrinking is never refused.
fn check_budget(
    snap: &ClusterSnapshot,
    org: &OrganizationLoad,
    target: &ClusterSpec,
    model: &CostModel,
    policy: &BudgetPolicy,
    now: Timestamp,
) -> Result<(), Refusal> {
    let Some(budget) = &org.budget else {
        return Ok(());
    };
    let running_nodes = snap.cluster.deployed.as_ref().map(|d| d.nodes);
    if running_nodes.is_some_and(|n| target.nodes <= n) {
        return Ok(());
    }
    check_affordable(
        &budget.account,
        budget.rate_elsewhere + model.hourly(target.nodes),
        now,
        policy,
    )
}

/// DEPLOY: a running cluster with nothing to change succeeds at once; a
/// running cluster with a changed size, version or variables is updated in
/// place; a cluster that is not running is refused while a destroy is
/// scheduled, and deployed otherwise. `destroy_at`, when given, is recorded
/// with the operation.
pub fn decide_deploy(
    snap: &ClusterSnapshot,
    org: &OrganizationLoad,
    req: &DeployRequest,
    ctx: &RuleContext,
) -> Result<Decision, Refusal> {
    superseding_a_drift_check(snap, ctx, |snap| deploy(snap, org, req, ctx))
}

/// A drift check still queued gives way to what a person asks: decided as
/// if it were not there, and — when the decision queues an operation —
/// cancelled in the same transaction (the next round checks again, or the
/// person's deploy settles what exists). A running check is waited for
/// like any operation.
fn superseding_a_drift_check(
    snap: &ClusterSnapshot,
    ctx: &RuleContext,
    decide: impl FnOnce(&ClusterSnapshot) -> Result<Decision, Refusal>,
) -> Result<Decision, Refusal> {
    let check = snap.active.as_ref().filter(|a| {
        a.kind == OperationKind::Refresh
            && a.reason == Reason::Drift
            && a.state == OperationState::Queued
            && ctx.reason == Reason::User
    });
    let Some(check) = check else {
        return decide(snap);
    };
    let without = ClusterSnapshot {
        active: None,
        ..snap.clone()
    };
    let mut plan = decide(&without)?;
    if plan.new_operation().is_some() {
        plan.superseded = Some(check.clone());
    }
    Ok(plan)
}

fn deploy(
    snap: &ClusterSnapshot,
    org: &OrganizationLoad,
    req: &DeployRequest,
    ctx: &RuleContext,
) -> Result<Decision, Refusal> {
    if let Some(at) = req.destroy_at {
        if snap.cluster.protected {
            return Err(Refusal::Protected {
                what: "a destroy time",
            });
        }
        check_future("destroy_at", at, ctx.now)?;
    }
    let target = req.target(&snap.cluster.spec);
    let schedule_for = |snap: &ClusterSnapshot| match req.destroy_at {
        Some(at) => reschedule(snap.schedule.as_ref(), at, ctx.now),
        None => Ok(ScheduleChange::Keep),
    };

    if let Some(active) = &snap.active {
        let same_kind = OperationKind::DEPLOYING.contains(&active.kind);
        if same_kind && active.spec == target {
            return Ok(Decision::new(
                Outcome::Joined(active.id.clone()),
                schedule_for(snap)?,
            ));
        }
        return Err(conflict(active));
    }

    check_capacity_held(snap, org, req, &target, ctx.now)?;
    if snap.cluster.state == ClusterState::Running {
        // A drifted cluster is applied again: its configuration has not
        // changed, but what exists no longer matches it.
        if snap.cluster.deployed.as_ref() == Some(&target) && snap.cluster.drift.is_empty() {
            // Nothing to deploy; a destroy time given moves the schedule
            // (within the lifetime limits and the five-minute rule).
            if let Some(at) = req.destroy_at
                && ctx.limited()
            {
                org.limits.check_lifetime(at, ctx.now)?;
            }
            return Ok(Decision::new(Outcome::AlreadyRunning, schedule_for(snap)?));
        }
        check_limits(snap, org, &target, req, ctx, false)?;
        let op = enqueue(ctx, OperationKind::Update, target);
        return Ok(Decision::new(Outcome::Enqueued(op), schedule_for(snap)?));
    }

    if let Some(schedule) = &snap.schedule {
        return Err(Refusal::ScheduledForDestroy {
            destroy_at: schedule.destroy_at,
        });
    }
    check_limits(snap, org, &target, req, ctx, true)?;
    let op = enqueue(ctx, OperationKind::Deploy, target);
    let schedule = req
        .destroy_at
        .map_or(ScheduleChange::Keep, ScheduleChange::Set);
    Ok(Decision::new(Outcome::Enqueued(op), schedule))
}

/// While capacity requests hold a cluster's size, a person's deploy may not
/// change it to another: the keeper would put it back at once. The refusal
/// names the requests, so the person can ask for capacity instead or
/// withdraw them.
fn check_capacity_held(
    snap: &ClusterSnapshot,
    org: &OrganizationLoad,
    req: &DeployRequest,
    target: &ClusterSpec,
    now: Timestamp,
) -> Result<(), Refusal> {
    let current = snap.cluster.deployed.as_ref().unwrap_or(&snap.cluster.spec);
    if req.nodes.is_none_or(|n| n == current.nodes) {
        return Ok(());
    }
    let max = req.max_nodes.min(org.limits.max_nodes);
    match desired_size(&snap.capacity, now, req.min_nodes, max) {
        Some(held) if held != target.nodes => Err(Refusal::CapacityHeld {
            nodes: held,
            requests: snap
                .capacity
                .iter()
                .filter(|r| r.is_active(now))
                .map(|r| {
                    format!(
                        "{} by {}: {} until {}",
                        r.id,
                        r.name,
                        r.nodes,
                        r.expires_at.format("%Y-%m-%d %H:%M UTC")
                    )
                })
                .collect(),
        }),
        _ => Ok(()),
    }
}

/// DESTROY: a cluster with nothing deployed succeeds at once and loses its
/// schedules; otherwise a destroy is queued, and its success removes every
/// scheduled destroy of the cluster. Either way the cluster's capacity
/// requests are withdrawn in the same decision — unless capacity itself
/// asks — so the keeper does not bring the cluster back.
/// A protected cluster is destroyed only when an administrator `forced`
/// it (or recovery finishes a destroy already decided).
pub fn decide_destroy(
    snap: &ClusterSnapshot,
    ctx: &RuleContext,
    forced: bool,
) -> Result<Decision, Refusal> {
    superseding_a_drift_check(snap, ctx, |snap| destroy(snap, ctx, forced))
}

fn destroy(snap: &ClusterSnapshot, ctx: &RuleContext, forced: bool) -> Result<Decision, Refusal> {
    let plan = |outcome, schedule| {
        let plan = Decision::new(outcome, schedule);
        match ctx.reason {
            Reason::Capacity => plan,
            Reason::User | Reason::Schedule | Reason::Budget | Reason::Recovery | Reason::Drift => {
                plan.withdrawing(snap)
            }
        }
    };
    if let Some(active) = &snap.active {
        if active.kind == OperationKind::Destroy {
            return Ok(plan(
                Outcome::Joined(active.id.clone()),
                ScheduleChange::Keep,
            ));
        }
        return Err(conflict(active));
    }
    if snap.cluster.state == ClusterState::Absent {
        return Ok(plan(Outcome::NothingToDestroy, ScheduleChange::Remove));
    }
    if snap.cluster.protected && !forced && ctx.reason != Reason::Recovery {
        return Err(Refusal::Protected { what: "a destroy" });
    }
    let op = enqueue(
        ctx,
        OperationKind::Destroy,
        deployed_or_target(&snap.cluster),
    );
    Ok(plan(Outcome::Enqueued(op), ScheduleChange::Keep))
}

/// REFRESH (asked for by a person): Terraform reads what really exists and
/// the cluster's state follows. Joins a refresh in flight; refused while
/// another operation runs, or when nothing is deployed.
pub fn decide_refresh(snap: &ClusterSnapshot, ctx: &RuleContext) -> Result<Decision, Refusal> {
    match &snap.active {
        Some(active) if active.kind == OperationKind::Refresh => Ok(Decision::new(
            Outcome::Joined(active.id.clone()),
            ScheduleChange::Keep,
        )),
        Some(active) => Err(conflict(active)),
        None if snap.cluster.state == ClusterState::Absent => Err(Refusal::NotDeployed),
        None => {
            let op = enqueue(
                ctx,
                OperationKind::Refresh,
                deployed_or_target(&snap.cluster),
            );
            Ok(Decision::new(Outcome::Enqueued(op), ScheduleChange::Keep))
        }
    }
}

/// PLAN: what applying `spec` would change, as Terraform plans it against
/// the cluster's state — an operation of its own that changes nothing, so
/// it waits for (and blocks) the cluster's other infrastructure operations
/// like a refresh. Joins a plan in flight of the same configuration.
pub fn decide_plan(
    snap: &ClusterSnapshot,
    spec: &ClusterSpec,
    ctx: &RuleContext,
) -> Result<Decision, Refusal> {
    match &snap.active {
        Some(active) if active.kind == OperationKind::Plan && &active.spec == spec => Ok(
            Decision::new(Outcome::Joined(active.id.clone()), ScheduleChange::Keep),
        ),
        Some(active) => Err(conflict(active)),
        None => {
            let op = enqueue(ctx, OperationKind::Plan, spec.clone());
            Ok(Decision::new(Outcome::Enqueued(op), ScheduleChange::Keep))
        }
    }
}

/// A DRIFT CHECK (the drift keeper, on a running protected cluster that is
/// due): a refresh — Terraform's plan of the deployed configuration against
/// what exists — whose end records what differs in the cluster's `drift`.
/// Nothing when the cluster is busy or not running: the next round looks
/// again.
pub fn decide_drift_check(snap: &ClusterSnapshot, ctx: &RuleContext) -> Decision {
    if snap.active.is_some() || snap.cluster.state != ClusterState::Running {
        return Decision::new(Outcome::NotDue, ScheduleChange::Keep);
    }
    let op = enqueue(
        ctx,
        OperationKind::Refresh,
        deployed_or_target(&snap.cluster),
    );
    Decision::new(Outcome::Enqueued(op), ScheduleChange::Keep)
}

/// REMOVE: forgets a cluster's definition, only once nothing of it is
/// deployed and nothing runs against it. Its operations, logs and costs stay
/// in the history.
pub fn decide_remove(snap: &ClusterSnapshot) -> Result<Decision, Refusal> {
    if let Some(active) = &snap.active {
        return Err(conflict(active));
    }
    if snap.cluster.state != ClusterState::Absent {
        return Err(Refusal::StillDeployed {
            state: snap.cluster.state,
            change: "removing it",
        });
    }
    Ok(Decision::new(Outcome::Removed, ScheduleChange::Remove))
}

/// VISIBILITY: whether anyone signed in may use the cluster, or only its
/// organization. The module is given it when it is deployed (`is_public`)
/// and the gateway it starts enforces it, so it changes only while nothing
/// is deployed or in flight: a running cluster is never half public.
pub fn decide_visibility(snap: &ClusterSnapshot, public: bool) -> Result<Decision, Refusal> {
    if let Some(active) = &snap.active {
        return Err(conflict(active));
    }
    if snap.cluster.state != ClusterState::Absent {
        return Err(Refusal::StillDeployed {
            state: snap.cluster.state,
            change: "changing who may use it (its module was deployed public or private)",
        });
    }
    Ok(Decision::new(
        Outcome::Visibility(public),
        ScheduleChange::Keep,
    ))
}

/// PROTECTION: a protected cluster is kept — its scheduled destroy goes,
/// and no destroy is queued by anyone but an administrator forcing it.
/// Refused while a destroy is in flight (too late to keep it).
pub fn decide_protection(snap: &ClusterSnapshot, protected: bool) -> Result<Decision, Refusal> {
    if let Some(active) = snap
        .active
        .as_ref()
        .filter(|a| a.kind == OperationKind::Destroy)
    {
        return Err(conflict(active));
    }
    let schedule = if protected {
        ScheduleChange::Remove
    } else {
        ScheduleChange::Keep
    };
    Ok(Decision::new(Outcome::Protection(protected), schedule))
}

/// What an environment's last apply was, for [`promotion`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applied<'a> {
    pub version: &'a str,
    pub common_digest: &'a str,
    /// Whether the latest TEST since the apply passed (none yet: `None`).
    pub tested: Option<bool>,
}

/// Whether an environment may take what the one it requires was last
/// applied — the check `slipway promote` makes, seen from what each was
/// last applied (docs/domain.md §4, Apply).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Promotion {
    /// It runs the same version and common values: nothing to promote.
    Current,
    /// The earlier one has another change, tested green since its apply.
    Ready,
    /// Refused now, and why.
    Waiting(&'static str),
}

pub fn promotion(earlier: Option<&Applied>, this: &Applied) -> Promotion {
    let Some(earlier) = earlier else {
        return Promotion::Waiting("it was never applied from the repository");
    };
    if (earlier.version, earlier.common_digest) == (this.version, this.common_digest) {
        return Promotion::Current;
    }
    match earlier.tested {
        Some(true) => Promotion::Ready,
        Some(false) => Promotion::Waiting("its tests since its apply did not pass"),
        None => Promotion::Waiting("it has not been tested since its apply"),
    }
}

/// The budget's answer for a protected cluster of an organization out of
/// money: not destroyed, but scaled to its blueprint's minimum
/// (`min_nodes`), as an update with reason `budget`. Nothing when it is
/// there already or an operation is in flight (the next round looks
/// again).
pub fn decide_budget_minimum(
    snap: &ClusterSnapshot,
    min_nodes: u32,
    ctx: &RuleContext,
) -> Decision {
    let deployed = snap.cluster.deployed.as_ref();
    let above = deployed.is_some_and(|d| d.nodes > min_nodes);
    if snap.active.is_some() || snap.cluster.state != ClusterState::Running || !above {
        return Decision::new(Outcome::AlreadyRunning, ScheduleChange::Keep);
    }
    let ctx = RuleContext {
        reason: Reason::Budget,
        ..ctx.clone()
    };
    let target = ClusterSpec {
        nodes: min_nodes,
        ..deployed_or_target(&snap.cluster)
    };
    Decision::new(
        Outcome::Enqueued(enqueue(&ctx, OperationKind::Update, target)),
        ScheduleChange::Keep,
    )
}

/// SCHEDULE_DESTROY: refused once a scheduled destroy is within five minutes;
/// otherwise any schedule is replaced by one at `at`.
pub fn decide_schedule_destroy(
    snap: &ClusterSnapshot,
    org: &OrganizationLoad,
    at: Timestamp,
    ctx: &RuleContext,
) -> Result<Decision, Refusal> {
    if snap.cluster.protected {
        return Err(Refusal::Protected {
            what: "a scheduled destroy",
        });
    }
    check_future("at", at, ctx.now)?;
    match &snap.active {
        Some(active) if active.kind == OperationKind::Destroy => return Err(conflict(active)),
        Some(_) => {}
        None if snap.cluster.state == ClusterState::Absent => return Err(Refusal::NotDeployed),
        None => {}
    }
    if ctx.limited() {
        org.limits.check_lifetime(at, ctx.now)?;
    }
    let change = reschedule(snap.schedule.as_ref(), at, ctx.now)?;
    Ok(Decision::new(Outcome::Scheduled(at), change))
}

/// Removing a scheduled destroy, under the same five-minute rule.
pub fn decide_unschedule(snap: &ClusterSnapshot, ctx: &RuleContext) -> Result<Decision, Refusal> {
    if ctx.limited() && snap.schedule.is_some() {
        return Err(Refusal::Forbidden {
            rule: "the clusters of organization members always carry a destroy time; move it with extend instead".into(),
        });
    }
    match &snap.schedule {
        None => Ok(Decision::new(Outcome::Unscheduled, ScheduleChange::Keep)),
        Some(schedule) => {
            schedule.check_change_allowed(ctx.now)?;
            Ok(Decision::new(Outcome::Unscheduled, ScheduleChange::Remove))
        }
    }
}

/// A due scheduled destroy fires as a destroy operation with reason
/// `schedule`. If a destroy is already in flight the schedule joins it; if
/// another operation is in flight the schedule waits for it to end. Like
/// every destroy, it withdraws the cluster's capacity requests.
pub fn decide_fire_schedule(snap: &ClusterSnapshot, ctx: &RuleContext) -> Decision {
    let Some(schedule) = snap.schedule.as_ref().filter(|s| s.is_due(ctx.now)) else {
        return Decision::new(Outcome::NotDue, ScheduleChange::Keep);
    };
    if snap.cluster.protected {
        // Protecting removes the schedule; one left over never fires.
        return Decision::new(Outcome::NotDue, ScheduleChange::Remove);
    }
    if let Some(active) = &snap.active {
        return if active.kind == OperationKind::Destroy {
            Decision::new(
                Outcome::Joined(active.id.clone()),
                ScheduleChange::MarkFired(active.id.clone()),
            )
            .withdrawing(snap)
        } else {
            Decision::new(Outcome::Deferred(active.id.clone()), ScheduleChange::Keep)
        };
    }
    if snap.cluster.state == ClusterState::Absent {
        return Decision::new(Outcome::NothingToDestroy, ScheduleChange::Remove).withdrawing(snap);
    }
    debug_assert!(schedule.fired_operation.is_none());
    let ctx = RuleContext {
        reason: Reason::Schedule,
        ..ctx.clone()
    };
    let op = enqueue(
        &ctx,
        OperationKind::Destroy,
        deployed_or_target(&snap.cluster),
    );
    let fired = ScheduleChange::MarkFired(op.id.clone());
    Decision::new(Outcome::Enqueued(op), fired).withdrawing(snap)
}

/// TEST or RELEASE (`kind`) of `version` against a running cluster: a run of
/// its own, beside any other runs — these are not infrastructure operations,
/// so they never wait for one another. Refused while the cluster is not
/// running or a destroy of it is in flight. Who may ask (administrators) is
/// decided before.
pub fn decide_job(
    snap: &ClusterSnapshot,
    kind: OperationKind,
    version: JobVersion,
    ctx: &RuleContext,
) -> Result<Decision, Refusal> {
    debug_assert!(matches!(kind, OperationKind::Test | OperationKind::Release));
    if let Some(active) = snap
        .active
        .as_ref()
        .filter(|a| a.kind == OperationKind::Destroy)
    {
        return Err(conflict(active));
    }
    if snap.cluster.state != ClusterState::Running {
        return Err(Refusal::NotRunning {
            state: snap.cluster.state,
        });
    }
    let mut op = enqueue(ctx, kind, deployed_or_target(&snap.cluster));
    op.job = Some(JobSpec {
        version,
        runner: op.id.clone(),
    });
    Ok(Decision::new(Outcome::Enqueued(op), ScheduleChange::Keep))
}

/// After a run (or a cleanup) was interrupted, its runner may still exist: a
/// Terraform runner outlives the worker that applied it, so a cleanup
/// operation destroys it. (A process runner's directory is its worker's
/// business, removed when that worker starts again.)
pub fn decide_runner_cleanup(
    interrupted: &Operation,
    runner: RunnerKind,
    ctx: &RuleContext,
) -> Option<Decision> {
    let job = interrupted.job.as_ref()?;
    if runner != RunnerKind::Terraform {
        return None;
    }
    let mut op = enqueue(ctx, OperationKind::Cleanup, interrupted.spec.clone());
    op.job = Some(job.clone());
    Some(Decision::new(Outcome::Enqueued(op), ScheduleChange::Keep))
}

/// After an interruption, a refresh finds out what Terraform's state really
/// holds so the cluster's state tells the truth.
pub fn decide_reconcile(snap: &ClusterSnapshot, ctx: &RuleContext) -> Decision {
    match &snap.active {
        Some(active) if active.kind == OperationKind::Refresh => {
            Decision::new(Outcome::Joined(active.id.clone()), ScheduleChange::Keep)
        }
        Some(active) => Decision::new(Outcome::Deferred(active.id.clone()), ScheduleChange::Keep),
        None => {
            let op = enqueue(
                ctx,
                OperationKind::Refresh,
                deployed_or_target(&snap.cluster),
            );
            Decision::new(Outcome::Enqueued(op), ScheduleChange::Keep)
        }
    }
}

/// What a capacity change needs besides the cluster: its bounds, the
/// organization's idle policy, and the blueprint's cost model.
#[derive(Debug, Clone, PartialEq)]
pub struct CapacityBounds {
    pub min_nodes: u32,
    pub max_nodes: u32,
    pub destroy_when_idle: bool,
    pub cost_model: CostModel,
    pub budget_policy: BudgetPolicy,
}

/// CAPACITY: the cluster follows its capacity requests — the sum over
/// people of each one's largest unexpired request, clamped to its bounds.
/// A change is a deploy, an update or a destroy with reason `capacity`, and
/// obeys the organization's rules like a person's:
///
/// - the node and cluster limits and the budget apply (a refused change
///   leaves the cluster as it is; the caller shows the requests waiting);
/// - a cluster capacity deploys is scheduled to be destroyed when its last
///   request ends, and one it grows is kept at least that long (a schedule
///   that ends sooner is moved — under the five-minute rule, unless
///   capacity set it: `ctx.actor` is the keeper's subject); a cluster with
///   no scheduled destroy (an administrator's) keeps none;
/// - with no request left, a deployed cluster is destroyed if its
///   organization destroys idle clusters, else scaled to its minimum until
///   its scheduled destroy — unless that destroy is due (a cluster capacity
///   deployed, whose last request just ended): then the scheduler destroys
///   it.
///
/// While another operation is in flight the change waits (`Deferred`) and
/// is looked at again when it ends.
pub fn decide_capacity_change(
    snap: &ClusterSnapshot,
    org: &OrganizationLoad,
    bounds: &CapacityBounds,
    ctx: &RuleContext,
) -> Result<Decision, Refusal> {
    let ctx = RuleContext {
        reason: Reason::Capacity,
        ..ctx.clone()
    };
    let desired = desired_size(&snap.capacity, ctx.now, bounds.min_nodes, bounds.max_nodes);
    let deployed = match snap.cluster.state {
        ClusterState::Absent => None,
        ClusterState::Deploying
        | ClusterState::Running
        | ClusterState::Updating
        | ClusterState::Destroying
        | ClusterState::Failed => Some(
            snap.cluster
                .deployed
                .as_ref()
                .map_or(snap.cluster.spec.nodes, |d| d.nodes),
        ),
    };
    let outcome = decide_capacity(
        desired,
        deployed,
        bounds.min_nodes,
        // A protected cluster is kept at its minimum, never destroyed.
        bounds.destroy_when_idle && !snap.cluster.protected,
    );
    // With no request left, a cluster whose scheduled destroy is due (the
    // one capacity set for when its last request ends) is the scheduler's
    // to destroy: neither scaled down first nor destroyed twice.
    let due = snap.schedule.as_ref().is_some_and(|s| s.is_due(ctx.now));
    if outcome == CapacityOutcome::Nothing || (due && desired.is_none()) {
        return Ok(Decision::new(Outcome::AlreadyRunning, ScheduleChange::Keep));
    }
    if let Some(active) = &snap.active {
        return Ok(Decision::new(
            Outcome::Deferred(active.id.clone()),
            ScheduleChange::Keep,
        ));
    }
    let nodes = match outcome {
        CapacityOutcome::Deploy(n)
        | CapacityOutcome::Resize(n)
        | CapacityOutcome::ScaleToMinimum(n) => n,
        CapacityOutcome::Destroy => {
            let op = enqueue(
                &ctx,
                OperationKind::Destroy,
                deployed_or_target(&snap.cluster),
            );
            return Ok(Decision::new(Outcome::Enqueued(op), ScheduleChange::Keep));
        }
        CapacityOutcome::Nothing => unreachable!("handled above"),
    };
    let target = ClusterSpec {
        nodes,
        ..deployed_or_target(&snap.cluster)
    };
    check_ceiling(target.nodes)?;
    org.limits.check_nodes(target.nodes)?;
    let starts = deployed.is_none();
    // The requests bound the cluster's life: ScaleToMinimum has none left
    // and keeps whatever schedule there is.
    // A protected cluster gets no scheduled destroy.
    let until = held_until(&snap.capacity, ctx.now).filter(|_| !snap.cluster.protected);
    let schedule = match (until, &snap.schedule) {
        (None, _) => ScheduleChange::Keep,
        (Some(_), Some(schedule)) if starts => {
            return Err(Refusal::ScheduledForDestroy {
                destroy_at: schedule.destroy_at,
            });
        }
        (Some(until), None) if starts => ScheduleChange::Set(until),
        (Some(_), None) => ScheduleChange::Keep,
        // Its own schedule capacity moves freely: the five-minute rule
        // keeps people's schedules from changing under them, and no one
        // else set this one.
        (Some(until), Some(schedule)) if schedule.destroy_at < until => {
            if schedule.requested_by == ctx.actor {
                ScheduleChange::Set(until)
            } else {
                reschedule(Some(schedule), until, ctx.now)?
            }
        }
        (Some(_), Some(_)) => ScheduleChange::Keep,
    };
    if starts {
        org.limits.check_clusters(org.deployed_elsewhere)?;
    }
    check_budget(
        snap,
        org,
        &target,
        &bounds.cost_model,
        &bounds.budget_policy,
        ctx.now,
    )?;
    let kind = if starts || snap.cluster.state != ClusterState::Running {
        OperationKind::Deploy
    } else {
        OperationKind::Update
    };
    let op = enqueue(&ctx, kind, target);
    Ok(Decision::new(Outcome::Enqueued(op), schedule))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::Level;
    use crate::{BlueprintName, ClusterName, OperationState, OrgName};
    use chrono::{TimeDelta, TimeZone, Utc};
    use proptest::prelude::*;

    fn now() -> Timestamp {
        Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap()
    }

    fn spec(nodes: u32) -> ClusterSpec {
        ClusterSpec {
            blueprint: BlueprintName::parse("local").unwrap(),
            version: "1.0.0".into(),
            nodes,
            variables: Variables::new(),
        }
    }

    fn id(n: u128) -> OperationId {
        OperationId::from_uuid(uuid::Uuid::from_u128(n))
    }

    fn snapshot(state: ClusterState) -> ClusterSnapshot {
        let deployed = matches!(state, ClusterState::Running).then(|| spec(3));
        ClusterSnapshot {
            cluster: Cluster {
                name: ClusterName::parse("c1").unwrap(),
                organization: OrgName::parse("default").unwrap(),
                public: false,
                protected: false,
                drift: Vec::new(),
                drift_checked_at: None,
                spec: spec(3),
                deployed,
                state,
                outputs: Default::default(),
                error: None,
                last_operation: None,
                created_by: "admin".into(),
                created_at: now(),
                updated_at: now(),
            },
            active: None,
            schedule: None,
            capacity: Vec::new(),
        }
    }

    fn org() -> OrganizationLoad {
        OrganizationLoad::default()
    }

    fn busy() -> OrganizationLoad {
        OrganizationLoad {
            deployed_elsewhere: 10,
            ..OrganizationLoad::default()
        }
    }

    fn ctx() -> RuleContext {
        RuleContext {
            now: now(),
            actor: "alice".into(),
            level: Level::Admin,
            reason: Reason::User,
            new_operation_id: id(99),
        }
    }

    fn member_ctx() -> RuleContext {
        RuleContext {
            level: Level::OrgMember,
            ..ctx()
        }
    }

    fn limit_of(result: Result<Decision, Refusal>) -> String {
        match result {
            Err(Refusal::OverLimit { limit, .. }) => limit,
            other => panic!("expected a limit, got {other:?}"),
        }
    }

    #[test]
    fn tests_and_releases_run_beside_anything_but_a_destroy_on_a_running_cluster() {
        let version = JobVersion::parse("v1.2.0").unwrap();
        for kind in [OperationKind::Test, OperationKind::Release] {
            let plan = decide_job(
                &snapshot(ClusterState::Running),
                kind,
                version.clone(),
                &ctx(),
            )
            .unwrap();
            let op = plan.new_operation().expect("a run");
            assert_eq!(op.kind, kind);
            let job = op.job.as_ref().unwrap();
            assert_eq!(
                (&job.version, &job.runner),
                (&version, &op.id),
                "its own runner"
            );
            assert_eq!(plan.schedule, ScheduleChange::Keep);
            assert_eq!(
                plan.new_spec(),
                None,
                "the cluster's configuration is untouched"
            );

            for state in [
                ClusterState::Absent,
                ClusterState::Deploying,
                ClusterState::Failed,
                ClusterState::Destroying,
            ] {
                assert_eq!(
                    decide_job(&snapshot(state), kind, version.clone(), &ctx()),
                    Err(Refusal::NotRunning { state })
                );
            }
            let mut destroying = snapshot(ClusterState::Running);
            destroying.active = Some(active(OperationKind::Destroy, spec(3)));
            assert!(matches!(
                decide_job(&destroying, kind, version.clone(), &ctx()),
                Err(Refusal::Conflict {
                    kind: OperationKind::Destroy,
                    ..
                })
            ));
            // A refresh in flight (recovery) does not stop a run.
            let mut refreshing = snapshot(ClusterState::Running);
            refreshing.active = Some(active(OperationKind::Refresh, spec(3)));
            assert!(decide_job(&refreshing, kind, version.clone(), &ctx()).is_ok());
        }
    }

    #[test]
    fn an_interrupted_run_on_a_terraform_runner_gets_a_cleanup_of_that_runner() {
        let plan = decide_job(
            &snapshot(ClusterState::Running),
            OperationKind::Test,
            JobVersion::parse("v1").unwrap(),
            &ctx(),
        )
        .unwrap();
        let queued = plan.new_operation().unwrap();
        let mut run = active(OperationKind::Test, spec(3));
        run.id = queued.id.clone();
        run.job = queued.job.clone();
        let recovery = RuleContext {
            reason: Reason::Recovery,
            new_operation_id: id(100),
            ..ctx()
        };
        assert_eq!(
            decide_runner_cleanup(&run, RunnerKind::Process, &recovery),
            None
        );
        let cleanup = decide_runner_cleanup(&run, RunnerKind::Terraform, &recovery).unwrap();
        let op = cleanup.new_operation().unwrap();
        assert_eq!(
            (op.kind, op.reason),
            (OperationKind::Cleanup, Reason::Recovery)
        );
        assert_eq!(
            op.job.as_ref().unwrap().runner,
            run.id,
            "the interrupted run's runner"
        );
        // An interrupted cleanup is retried on the same runner.
        let mut interrupted_cleanup = active(OperationKind::Cleanup, spec(3));
        interrupted_cleanup.job = op.job.clone();
        let again =
            decide_runner_cleanup(&interrupted_cleanup, RunnerKind::Terraform, &recovery).unwrap();
        assert_eq!(
            again.new_operation().unwrap().job.as_ref().unwrap().runner,
            run.id
        );
        // Infrastructure operations have no runner.
        let deploy = active(OperationKind::Deploy, spec(3));
        assert_eq!(
            decide_runner_cleanup(&deploy, RunnerKind::Terraform, &recovery),
            None
        );
    }

    #[test]
    fn organization_members_deploy_within_the_limits_and_admins_beyond() {
        let snap = snapshot(ClusterState::Absent);
        let in_2h = Some(now() + TimeDelta::hours(2));
        let with = |nodes: u32, destroy_at| DeployRequest {
            nodes: Some(nodes),
            destroy_at,
            ..Default::default()
        };
        assert!(decide_deploy(&snap, &org(), &with(50, in_2h), &member_ctx()).is_ok());
        assert_eq!(
            limit_of(decide_deploy(
                &snap,
                &org(),
                &with(51, in_2h),
                &member_ctx()
            )),
            "max_nodes"
        );
        assert_eq!(
            limit_of(decide_deploy(&snap, &org(), &with(3, None), &member_ctx())),
            "max_lifetime"
        );
        let in_13h = Some(now() + TimeDelta::hours(13));
        assert_eq!(
            limit_of(decide_deploy(
                &snap,
                &org(),
                &with(3, in_13h),
                &member_ctx()
            )),
            "max_lifetime"
        );
        let in_5m = Some(now() + TimeDelta::minutes(5));
        assert_eq!(
            limit_of(decide_deploy(&snap, &org(), &with(3, in_5m), &member_ctx())),
            "min_lifetime"
        );
        assert_eq!(
            limit_of(decide_deploy(
                &snap,
                &busy(),
                &with(3, in_2h),
                &member_ctx()
            )),
            "max_clusters"
        );

        // administrators: only the absolute ceiling
        assert!(decide_deploy(&snap, &busy(), &with(1000, None), &ctx()).is_ok());
        assert_eq!(
            limit_of(decide_deploy(&snap, &org(), &with(1001, None), &ctx())),
            "max_nodes"
        );
    }

    #[test]
    fn an_update_by_a_member_keeps_the_scheduled_destroy_and_does_not_count_twice() {
        let mut snap = snapshot(ClusterState::Running);
        scheduled(&mut snap, 60);
        let req = DeployRequest {
            nodes: Some(4),
            ..Default::default()
        };
        assert!(decide_deploy(&snap, &busy(), &req, &member_ctx()).is_ok());
        snap.schedule = None;
        assert_eq!(
            limit_of(decide_deploy(&snap, &busy(), &req, &member_ctx())),
            "max_lifetime"
        );
    }

    #[test]
    fn members_reschedule_within_the_lifetime_and_never_unschedule() {
        let mut snap = snapshot(ClusterState::Running);
        scheduled(&mut snap, 60);
        let in_13h = now() + TimeDelta::hours(13);
        assert_eq!(
            limit_of(decide_schedule_destroy(
                &snap,
                &org(),
                in_13h,
                &member_ctx()
            )),
            "max_lifetime"
        );
        assert!(
            decide_schedule_destroy(&snap, &org(), now() + TimeDelta::hours(3), &member_ctx())
                .is_ok()
        );
        assert!(matches!(
            decide_unschedule(&snap, &member_ctx()),
            Err(Refusal::Forbidden { .. })
        ));
        assert!(decide_unschedule(&snap, &ctx()).is_ok());
    }

    fn active(kind: OperationKind, spec: ClusterSpec) -> Operation {
        Operation {
            id: id(7),
            cluster: ClusterName::parse("c1").unwrap(),
            kind,
            reason: Reason::User,
            requested_by: "bob".into(),
            state: OperationState::Running,
            spec,
            job: None,
            error: None,
            created_at: now(),
            started_at: Some(now()),
            finished_at: None,
        }
    }

    fn scheduled(snap: &mut ClusterSnapshot, in_minutes: i64) {
        snap.schedule = Some(Schedule {
            cluster: snap.cluster.name.clone(),
            destroy_at: now() + TimeDelta::minutes(in_minutes),
            requested_by: "alice".into(),
            created_at: now(),
            fired_operation: None,
            failed_attempts: 0,
            retry_at: None,
        });
    }

    #[test]
    fn deploy_of_a_running_cluster_succeeds_with_nothing_to_do() {
        let plan = decide_deploy(
            &snapshot(ClusterState::Running),
            &org(),
            &DeployRequest::default(),
            &ctx(),
        )
        .unwrap();
        assert_eq!(plan.outcome, Outcome::AlreadyRunning);
        assert_eq!(plan.schedule, ScheduleChange::Keep);
    }

    #[test]
    fn a_later_environment_is_ready_for_a_change_only_once_it_passed_its_tests() {
        let applied = |version, common_digest, tested| Applied {
            version,
            common_digest,
            tested,
        };
        let prod = applied("1.0", "aaa", None);
        assert_eq!(
            promotion(Some(&applied("1.0", "aaa", None)), &prod),
            Promotion::Current
        );
        assert_eq!(
            promotion(Some(&applied("1.1", "aaa", Some(true))), &prod),
            Promotion::Ready
        );
        assert_eq!(
            promotion(Some(&applied("1.0", "bbb", Some(true))), &prod),
            Promotion::Ready,
            "other common values"
        );
        assert!(matches!(
            promotion(Some(&applied("1.1", "aaa", Some(false))), &prod),
            Promotion::Waiting(why) if why.contains("did not pass")
        ));
        assert!(matches!(
            promotion(Some(&applied("1.1", "aaa", None)), &prod),
            Promotion::Waiting(why) if why.contains("not been tested")
        ));
        assert!(matches!(promotion(None, &prod), Promotion::Waiting(_)));
    }

    #[test]
    fn deploy_of_a_drifted_cluster_applies_its_configuration_again() {
        let mut drifted = snapshot(ClusterState::Running);
        drifted.cluster.drift = vec!["terraform_data.node[1]".into()];
        let plan = decide_deploy(&drifted, &org(), &DeployRequest::default(), &ctx()).unwrap();
        let op = plan.new_operation().unwrap();
        assert_eq!((op.kind, &op.spec), (OperationKind::Update, &spec(3)));
    }

    #[test]
    fn a_queued_drift_check_gives_way_to_a_persons_deploy_or_destroy_only() {
        let check = Operation {
            reason: Reason::Drift,
            state: OperationState::Queued,
            started_at: None,
            ..active(OperationKind::Refresh, spec(3))
        };
        let mut checking = snapshot(ClusterState::Running);
        checking.active = Some(check.clone());
        let deploy = DeployRequest {
            nodes: Some(4),
            ..Default::default()
        };
        let plan = decide_deploy(&checking, &org(), &deploy, &ctx()).unwrap();
        assert_eq!(plan.new_operation().unwrap().kind, OperationKind::Update);
        assert_eq!(plan.superseded, Some(check.clone()));
        let plan = decide_destroy(&checking, &ctx(), false).unwrap();
        assert_eq!(plan.new_operation().unwrap().kind, OperationKind::Destroy);
        assert_eq!(plan.superseded, Some(check.clone()));
        // Nothing to queue: the check stays.
        let same = decide_deploy(&checking, &org(), &DeployRequest::default(), &ctx()).unwrap();
        assert_eq!(
            (same.outcome, same.superseded),
            (Outcome::AlreadyRunning, None)
        );
        // A running check is waited for; a background decision waits too.
        let mut running = checking.clone();
        running.active = Some(Operation {
            state: OperationState::Running,
            ..check.clone()
        });
        assert!(matches!(
            decide_deploy(&running, &org(), &deploy, &ctx()),
            Err(Refusal::Conflict { .. })
        ));
        let budget = RuleContext {
            reason: Reason::Budget,
            ..ctx()
        };
        assert!(matches!(
            decide_destroy(&checking, &budget, false),
            Err(Refusal::Conflict { .. })
        ));
    }

    #[test]
    fn a_drift_check_looks_at_a_running_idle_cluster_only() {
        let check = decide_drift_check(&snapshot(ClusterState::Running), &ctx());
        assert_eq!(check.new_operation().unwrap().kind, OperationKind::Refresh);
        assert_eq!(
            check.new_operation().unwrap().spec,
            spec(3),
            "what is deployed"
        );
        for state in [
            ClusterState::Absent,
            ClusterState::Failed,
            ClusterState::Deploying,
        ] {
            assert_eq!(
                decide_drift_check(&snapshot(state), &ctx()).outcome,
                Outcome::NotDue
            );
        }
        let mut busy = snapshot(ClusterState::Running);
        busy.active = Some(active(OperationKind::Update, spec(4)));
        assert_eq!(decide_drift_check(&busy, &ctx()).outcome, Outcome::NotDue);
    }

    #[test]
    fn deploy_of_a_running_cluster_even_when_scheduled_succeeds() {
        let mut snap = snapshot(ClusterState::Running);
        scheduled(&mut snap, 2);
        let plan = decide_deploy(&snap, &org(), &DeployRequest::default(), &ctx()).unwrap();
        assert_eq!(plan.outcome, Outcome::AlreadyRunning);
    }

    #[test]
    fn deploy_with_a_new_size_updates_a_running_cluster() {
        let req = DeployRequest {
            nodes: Some(5),
            ..Default::default()
        };
        let plan = decide_deploy(&snapshot(ClusterState::Running), &org(), &req, &ctx()).unwrap();
        let op = plan.new_operation().unwrap();
        assert_eq!(op.kind, OperationKind::Update);
        assert_eq!(op.spec.nodes, 5);
        assert_eq!(plan.new_spec(), Some(&op.spec));
    }

    #[test]
    fn deploy_of_a_cluster_scheduled_for_destroy_is_refused_unless_running() {
        for state in [ClusterState::Absent, ClusterState::Failed] {
            let mut snap = snapshot(state);
            scheduled(&mut snap, 60);
            let err = decide_deploy(&snap, &org(), &DeployRequest::default(), &ctx()).unwrap_err();
            assert!(
                matches!(err, Refusal::ScheduledForDestroy { .. }),
                "{state}: {err}"
            );
        }
    }

    #[test]
    fn deploy_with_a_ttl_records_the_schedule_with_the_operation() {
        let at = now() + TimeDelta::hours(2);
        let req = DeployRequest {
            destroy_at: Some(at),
            ..Default::default()
        };
        let plan = decide_deploy(&snapshot(ClusterState::Absent), &org(), &req, &ctx()).unwrap();
        assert_eq!(plan.new_operation().unwrap().kind, OperationKind::Deploy);
        assert_eq!(plan.schedule, ScheduleChange::Set(at));
    }

    #[test]
    fn deploy_with_a_destroy_time_in_the_past_is_bad_input() {
        let req = DeployRequest {
            destroy_at: Some(now() - TimeDelta::seconds(1)),
            ..Default::default()
        };
        let err = decide_deploy(&snapshot(ClusterState::Absent), &org(), &req, &ctx()).unwrap_err();
        assert!(
            matches!(err, Refusal::Invalid(ValidationError { ref field, .. }) if field == "destroy_at")
        );
    }

    #[test]
    fn an_identical_deploy_joins_the_one_in_flight_and_a_different_one_conflicts() {
        let mut snap = snapshot(ClusterState::Deploying);
        snap.active = Some(active(OperationKind::Deploy, spec(3)));
        let plan = decide_deploy(&snap, &org(), &DeployRequest::default(), &ctx()).unwrap();
        assert_eq!(plan.outcome, Outcome::Joined(id(7)));

        let bigger = DeployRequest {
            nodes: Some(4),
            ..Default::default()
        };
        let err = decide_deploy(&snap, &org(), &bigger, &ctx()).unwrap_err();
        assert_eq!(
            err,
            Refusal::Conflict {
                operation: id(7),
                kind: OperationKind::Deploy,
                state: OperationState::Running
            }
        );
        assert!(decide_destroy(&snap, &ctx(), false).is_err());
    }

    #[test]
    fn destroy_of_an_absent_cluster_succeeds_and_removes_schedules() {
        let mut snap = snapshot(ClusterState::Absent);
        scheduled(&mut snap, 1);
        let plan = decide_destroy(&snap, &ctx(), false).unwrap();
        assert_eq!(plan.outcome, Outcome::NothingToDestroy);
        assert_eq!(plan.schedule, ScheduleChange::Remove);
    }

    #[test]
    fn destroy_of_a_deployed_cluster_queues_a_destroy_and_joins_one_in_flight() {
        for state in [ClusterState::Running, ClusterState::Failed] {
            let plan = decide_destroy(&snapshot(state), &ctx(), false).unwrap();
            assert_eq!(plan.new_operation().unwrap().kind, OperationKind::Destroy);
            assert_eq!(plan.new_spec(), None);
        }
        let mut snap = snapshot(ClusterState::Destroying);
        snap.active = Some(active(OperationKind::Destroy, spec(3)));
        assert_eq!(
            decide_destroy(&snap, &ctx(), false).unwrap().outcome,
            Outcome::Joined(id(7))
        );
    }

    #[test]
    fn a_refresh_is_queued_for_a_deployed_cluster_joined_or_refused() {
        for state in [ClusterState::Running, ClusterState::Failed] {
            let plan = decide_refresh(&snapshot(state), &ctx()).unwrap();
            assert_eq!(plan.new_operation().unwrap().kind, OperationKind::Refresh);
            assert_eq!(plan.new_spec(), None);
        }
        assert_eq!(
            decide_refresh(&snapshot(ClusterState::Absent), &ctx()).unwrap_err(),
            Refusal::NotDeployed
        );
        let mut refreshing = snapshot(ClusterState::Running);
        refreshing.active = Some(active(OperationKind::Refresh, spec(3)));
        assert_eq!(
            decide_refresh(&refreshing, &ctx()).unwrap().outcome,
            Outcome::Joined(id(7))
        );
        let mut updating = snapshot(ClusterState::Updating);
        updating.active = Some(active(OperationKind::Update, spec(3)));
        assert!(matches!(
            decide_refresh(&updating, &ctx()),
            Err(Refusal::Conflict { .. })
        ));
    }

    #[test]
    fn a_plan_of_a_configuration_changes_nothing_and_waits_its_turn() {
        for state in [
            ClusterState::Absent,
            ClusterState::Running,
            ClusterState::Failed,
        ] {
            let plan = decide_plan(&snapshot(state), &spec(4), &ctx()).unwrap();
            let op = plan.new_operation().unwrap();
            assert_eq!((op.kind, &op.spec), (OperationKind::Plan, &spec(4)));
            assert_eq!(plan.new_spec(), None, "the cluster's target stays");
            assert_eq!(plan.schedule, ScheduleChange::Keep);
        }
        let mut planning = snapshot(ClusterState::Running);
        planning.active = Some(active(OperationKind::Plan, spec(4)));
        assert_eq!(
            decide_plan(&planning, &spec(4), &ctx()).unwrap().outcome,
            Outcome::Joined(id(7)),
            "the same configuration joins"
        );
        assert!(matches!(
            decide_plan(&planning, &spec(5), &ctx()),
            Err(Refusal::Conflict { .. })
        ));
        let mut updating = snapshot(ClusterState::Updating);
        updating.active = Some(active(OperationKind::Update, spec(3)));
        assert!(matches!(
            decide_plan(&updating, &spec(4), &ctx()),
            Err(Refusal::Conflict { .. })
        ));
    }

    #[test]
    fn only_a_cluster_with_nothing_deployed_or_running_is_removed() {
        let mut absent = snapshot(ClusterState::Absent);
        scheduled(&mut absent, 30);
        let plan = decide_remove(&absent).unwrap();
        assert_eq!(plan.outcome, Outcome::Removed);
        assert_eq!(plan.schedule, ScheduleChange::Remove);
        for state in [ClusterState::Running, ClusterState::Failed] {
            assert_eq!(
                decide_remove(&snapshot(state)).unwrap_err(),
                Refusal::StillDeployed {
                    state,
                    change: "removing it"
                }
            );
        }
        let mut deploying = snapshot(ClusterState::Absent);
        deploying.active = Some(active(OperationKind::Deploy, spec(3)));
        assert!(matches!(
            decide_remove(&deploying),
            Err(Refusal::Conflict { .. })
        ));
    }

    fn protected(state: ClusterState) -> ClusterSnapshot {
        let mut snap = snapshot(state);
        snap.cluster.protected = true;
        snap
    }

    #[test]
    fn a_protected_cluster_is_destroyed_only_when_an_administrator_forces_it() {
        let snap = protected(ClusterState::Running);
        for reason in [
            Reason::User,
            Reason::Schedule,
            Reason::Budget,
            Reason::Capacity,
        ] {
            let asked = RuleContext { reason, ..ctx() };
            assert!(
                matches!(
                    decide_destroy(&snap, &asked, false),
                    Err(Refusal::Protected { .. })
                ),
                "{reason:?}"
            );
        }
        let forced = decide_destroy(&snap, &ctx(), true).unwrap();
        assert_eq!(forced.new_operation().unwrap().kind, OperationKind::Destroy);
        // Recovery finishes a destroy already decided.
        let recovery = RuleContext {
            reason: Reason::Recovery,
            ..ctx()
        };
        assert!(decide_destroy(&snap, &recovery, false).is_ok());
    }

    #[test]
    fn a_protected_cluster_gets_no_destroy_time_and_a_member_needs_none() {
        let snap = protected(ClusterState::Absent);
        let in_2h = Some(now() + TimeDelta::hours(2));
        let with = |destroy_at| DeployRequest {
            nodes: Some(2),
            destroy_at,
            ..Default::default()
        };
        assert!(matches!(
            decide_deploy(&snap, &org(), &with(in_2h), &member_ctx()),
            Err(Refusal::Protected { .. })
        ));
        let plan = decide_deploy(&snap, &org(), &with(None), &member_ctx()).unwrap();
        assert_eq!(plan.new_operation().unwrap().kind, OperationKind::Deploy);
        assert_eq!(plan.schedule, ScheduleChange::Keep);
        let running = protected(ClusterState::Running);
        assert!(matches!(
            decide_schedule_destroy(&running, &org(), now() + TimeDelta::hours(1), &ctx()),
            Err(Refusal::Protected { .. })
        ));
        // A schedule left from before never fires; it goes.
        let mut stale = protected(ClusterState::Running);
        scheduled(&mut stale, 0);
        let plan = decide_fire_schedule(&stale, &ctx());
        assert_eq!(
            (plan.outcome, plan.schedule),
            (Outcome::NotDue, ScheduleChange::Remove)
        );
    }

    #[test]
    fn protecting_removes_the_schedule_and_waits_for_no_destroy() {
        let mut snap = snapshot(ClusterState::Running);
        scheduled(&mut snap, 30);
        let plan = decide_protection(&snap, true).unwrap();
        assert_eq!(
            (plan.outcome, plan.schedule),
            (Outcome::Protection(true), ScheduleChange::Remove)
        );
        let plan = decide_protection(&snap, false).unwrap();
        assert_eq!(plan.schedule, ScheduleChange::Keep);
        snap.active = Some(active(OperationKind::Destroy, spec(3)));
        assert!(matches!(
            decide_protection(&snap, true),
            Err(Refusal::Conflict { .. })
        ));
    }

    #[test]
    fn capacity_and_the_budget_keep_a_protected_cluster_at_its_minimum() {
        // No request left, idle clusters destroyed: a protected one is
        // scaled to its minimum instead, and never given a schedule.
        let mut idle = protected(ClusterState::Running);
        idle.capacity = vec![requested("github:1", 5, -1)];
        let plan = decide_capacity_change(&idle, &org(), &bounds(true), &ctx()).unwrap();
        assert_eq!(
            capacity_op(&plan),
            (OperationKind::Update, 1, Reason::Capacity)
        );
        let mut absent = protected(ClusterState::Absent);
        absent.capacity = vec![requested("github:1", 2, 60)];
        let plan = decide_capacity_change(&absent, &org(), &bounds(false), &ctx()).unwrap();
        assert_eq!(plan.schedule, ScheduleChange::Keep);

        let running = protected(ClusterState::Running);
        let plan = decide_budget_minimum(&running, 1, &ctx());
        let op = plan.new_operation().expect("scaled down");
        assert_eq!(
            (op.kind, op.spec.nodes, op.reason),
            (OperationKind::Update, 1, Reason::Budget)
        );
        assert_eq!(
            decide_budget_minimum(&running, 3, &ctx()).new_operation(),
            None,
            "there already"
        );
    }

    #[test]
    fn visibility_changes_only_while_nothing_is_deployed_or_in_flight() {
        let mut absent = snapshot(ClusterState::Absent);
        scheduled(&mut absent, 30);
        for public in [true, false] {
            let plan = decide_visibility(&absent, public).unwrap();
            assert_eq!(plan.outcome, Outcome::Visibility(public));
            assert_eq!(plan.schedule, ScheduleChange::Keep);
            assert_eq!(plan.new_operation(), None);
        }
        for state in [ClusterState::Running, ClusterState::Failed] {
            assert!(matches!(
                decide_visibility(&snapshot(state), true),
                Err(Refusal::StillDeployed { state: s, .. }) if s == state
            ));
        }
        let mut deploying = snapshot(ClusterState::Absent);
        deploying.active = Some(active(OperationKind::Deploy, spec(3)));
        assert!(matches!(
            decide_visibility(&deploying, true),
            Err(Refusal::Conflict { .. })
        ));
    }

    #[test]
    fn rescheduling_follows_the_five_minute_rule() {
        let mut near = snapshot(ClusterState::Running);
        scheduled(&mut near, 4);
        let later = now() + TimeDelta::hours(1);
        assert!(matches!(
            decide_schedule_destroy(&near, &org(), later, &ctx()),
            Err(Refusal::TooLateToReschedule { .. })
        ));
        assert!(matches!(
            decide_unschedule(&near, &ctx()),
            Err(Refusal::TooLateToReschedule { .. })
        ));

        let mut far = snapshot(ClusterState::Running);
        scheduled(&mut far, 20);
        let plan = decide_schedule_destroy(&far, &org(), later, &ctx()).unwrap();
        assert_eq!(plan.schedule, ScheduleChange::Set(later));
        assert_eq!(
            decide_unschedule(&far, &ctx()).unwrap().schedule,
            ScheduleChange::Remove
        );
    }

    #[test]
    fn scheduling_needs_a_deployed_cluster_and_a_future_time() {
        let at = now() + TimeDelta::hours(1);
        assert_eq!(
            decide_schedule_destroy(&snapshot(ClusterState::Absent), &org(), at, &ctx())
                .unwrap_err(),
            Refusal::NotDeployed
        );
        let past = now() - TimeDelta::minutes(1);
        assert!(matches!(
            decide_schedule_destroy(&snapshot(ClusterState::Running), &org(), past, &ctx()),
            Err(Refusal::Invalid(_))
        ));
        // while the first deploy is in flight, a schedule may be set
        let mut deploying = snapshot(ClusterState::Deploying);
        deploying.active = Some(active(OperationKind::Deploy, spec(3)));
        assert!(decide_schedule_destroy(&deploying, &org(), at, &ctx()).is_ok());
    }

    #[test]
    fn a_due_schedule_fires_a_destroy_with_reason_schedule() {
        let mut snap = snapshot(ClusterState::Running);
        scheduled(&mut snap, 0);
        let plan = decide_fire_schedule(&snap, &ctx());
        let op = plan.new_operation().unwrap();
        assert_eq!(op.kind, OperationKind::Destroy);
        assert_eq!(op.reason, Reason::Schedule);
        assert_eq!(plan.schedule, ScheduleChange::MarkFired(op.id.clone()));
    }

    #[test]
    fn a_schedule_that_is_not_due_or_already_fired_does_nothing() {
        let mut snap = snapshot(ClusterState::Running);
        scheduled(&mut snap, 1);
        assert_eq!(decide_fire_schedule(&snap, &ctx()).outcome, Outcome::NotDue);
        snap.schedule.as_mut().unwrap().destroy_at = now();
        snap.schedule.as_mut().unwrap().fired_operation = Some(id(1));
        assert_eq!(decide_fire_schedule(&snap, &ctx()).outcome, Outcome::NotDue);
    }

    #[test]
    fn a_due_schedule_waits_for_another_operation_and_joins_a_destroy() {
        let mut snap = snapshot(ClusterState::Updating);
        scheduled(&mut snap, 0);
        snap.active = Some(active(OperationKind::Update, spec(4)));
        assert_eq!(
            decide_fire_schedule(&snap, &ctx()).outcome,
            Outcome::Deferred(id(7))
        );
        snap.active = Some(active(OperationKind::Destroy, spec(4)));
        let plan = decide_fire_schedule(&snap, &ctx());
        assert_eq!(plan.schedule, ScheduleChange::MarkFired(id(7)));
    }

    fn any_state() -> impl Strategy<Value = ClusterState> {
        proptest::sample::select(ClusterState::ALL.to_vec())
    }

    proptest! {
        /// Whatever the cluster's state and schedule, a deploy never starts a
        /// second infrastructure operation beside one in flight.
        #[test]
        fn never_two_operations_in_flight(state in any_state(), nodes in 1u32..10, sched in proptest::option::of(-10i64..120)) {
            let mut snap = snapshot(state);
            if let Some(m) = sched { scheduled(&mut snap, m); }
            snap.active = Some(active(OperationKind::Deploy, spec(3)));
            let req = DeployRequest { nodes: Some(nodes), ..Default::default() };
            if let Ok(plan) = decide_deploy(&snap, &org(), &req, &ctx()) {
                prop_assert!(plan.new_operation().is_none());
            }
            if let Ok(plan) = decide_destroy(&snap, &ctx(), false) {
                prop_assert!(plan.new_operation().is_none());
            }
        }

        /// A non-running cluster with a schedule is never deployed.
        #[test]
        fn scheduled_and_not_running_is_never_deployed(state in any_state(), minutes in -10i64..600) {
            prop_assume!(state != ClusterState::Running);
            let mut snap = snapshot(state);
            scheduled(&mut snap, minutes);
            let result = decide_deploy(&snap, &org(), &DeployRequest::default(), &ctx());
            let refused = matches!(result, Err(Refusal::ScheduledForDestroy { .. }));
            prop_assert!(refused);
        }

        /// Rescheduling succeeds exactly when the existing schedule is more
        /// than five minutes away.
        #[test]
        fn reschedule_matches_the_cutoff(existing in -10i64..60, new_in in 1i64..600) {
            let mut snap = snapshot(ClusterState::Running);
            scheduled(&mut snap, existing);
            let result = decide_schedule_destroy(&snap, &org(), now() + TimeDelta::minutes(new_in), &ctx());
            prop_assert_eq!(result.is_ok(), existing > 5);
        }
    }

    fn budget(balance: &str) -> OrganizationLoad {
        let now = now();
        let account = Account::open(
            crate::Money::parse(balance).unwrap(),
            crate::Money::ZERO,
            crate::Money::dollars(1_000_000),
            now,
        );
        OrganizationLoad {
            budget: Some(Budget {
                account: Account {
                    last_credit_at: Some(crate::calendar::month_start(now)),
                    ..account
                },
                rate_elsewhere: Rate::parse("0.5").unwrap(),
            }),
            ..OrganizationLoad::default()
        }
    }

    fn priced(nodes: u32) -> DeployRequest {
        DeployRequest {
            nodes: Some(nodes),
            destroy_at: Some(now() + TimeDelta::hours(2)),
            cost_model: CostModel {
                fixed_hourly_usd: Rate::parse("0.5").unwrap(),
                per_node_hourly_usd: Rate::parse("1").unwrap(),
            },
            ..Default::default()
        }
    }

    #[test]
    fn a_member_cannot_start_what_the_money_would_not_last_a_day_for() {
        let absent = snapshot(ClusterState::Absent);
        // $30 at 0.5 + 0.5 + 1 per node: 2 nodes is $3/h (10 h), 1 is $2/h (15 h).
        let err = decide_deploy(&absent, &budget("30"), &priced(2), &member_ctx()).unwrap_err();
        let Refusal::OverBudget {
            rate, depletes_at, ..
        } = &err
        else {
            panic!("expected an over-budget refusal, got {err:?}");
        };
        assert_eq!(*rate, Rate::parse("3").unwrap());
        assert_eq!(*depletes_at, now() + TimeDelta::hours(10));
        assert!(err.to_string().contains("3"), "{err}");
        // Enough money: allowed; administrators are not limited by it.
        assert!(decide_deploy(&absent, &budget("100"), &priced(2), &member_ctx()).is_ok());
        assert!(decide_deploy(&absent, &budget("30"), &priced(2), &ctx()).is_ok());
        // No account: no budget.
        assert!(decide_deploy(&absent, &org(), &priced(2), &member_ctx()).is_ok());
        // Shrinking a running cluster is never refused; growing it is.
        let running = snapshot(ClusterState::Running);
        assert!(decide_deploy(&running, &budget("1"), &priced(2), &member_ctx()).is_ok());
        assert!(matches!(
            decide_deploy(&running, &budget("1"), &priced(4), &member_ctx()),
            Err(Refusal::OverBudget { .. })
        ));
    }

    fn requested(subject: &str, nodes: u32, minutes: i64) -> CapacityRequest {
        CapacityRequest {
            id: format!("{subject}-{nodes}"),
            cluster: ClusterName::parse("c1").unwrap(),
            subject: subject.into(),
            name: subject.trim_start_matches("github:").into(),
            nodes,
            expires_at: now() + TimeDelta::minutes(minutes),
            created_at: now(),
            waiting: None,
        }
    }

    fn bounds(destroy_when_idle: bool) -> CapacityBounds {
        CapacityBounds {
            min_nodes: 1,
            max_nodes: 8,
            destroy_when_idle,
            cost_model: CostModel::default(),
            budget_policy: BudgetPolicy::default(),
        }
    }

    fn capacity_op(plan: &Decision) -> (OperationKind, u32, Reason) {
        let op = plan.new_operation().expect("an operation");
        (op.kind, op.spec.nodes, op.reason)
    }

    #[test]
    fn a_cluster_follows_its_capacity_requests() {
        let mut absent = snapshot(ClusterState::Absent);
        absent.capacity = vec![requested("github:1", 2, 60), requested("github:2", 3, 30)];
        let plan = decide_capacity_change(&absent, &org(), &bounds(false), &ctx()).unwrap();
        assert_eq!(
            capacity_op(&plan),
            (OperationKind::Deploy, 5, Reason::Capacity)
        );
        assert_eq!(
            plan.schedule,
            ScheduleChange::Set(now() + TimeDelta::minutes(60)),
            "a cluster capacity deploys is destroyed when its last request ends"
        );

        // Running with 3: resized to what is asked, clamped to the maximum.
        let mut running = snapshot(ClusterState::Running);
        running.capacity = vec![requested("github:1", 6, 60), requested("github:2", 6, 60)];
        let plan = decide_capacity_change(&running, &org(), &bounds(false), &ctx()).unwrap();
        assert_eq!(
            capacity_op(&plan),
            (OperationKind::Update, 8, Reason::Capacity)
        );
        // The same size: nothing to do.
        running.capacity = vec![requested("github:1", 3, 60)];
        let plan = decide_capacity_change(&running, &org(), &bounds(false), &ctx()).unwrap();
        assert_eq!(plan.new_operation(), None);
        // No request left: to the minimum, or destroyed if the organization says so.
        running.capacity = vec![requested("github:1", 5, -1)];
        let plan = decide_capacity_change(&running, &org(), &bounds(false), &ctx()).unwrap();
        assert_eq!(
            capacity_op(&plan),
            (OperationKind::Update, 1, Reason::Capacity)
        );
        let plan = decide_capacity_change(&running, &org(), &bounds(true), &ctx()).unwrap();
        assert_eq!(
            capacity_op(&plan),
            (OperationKind::Destroy, 3, Reason::Capacity)
        );
        // An operation in flight: the change waits for it.
        running.capacity = vec![requested("github:1", 5, 60)];
        running.active = Some(active(OperationKind::Update, spec(4)));
        let plan = decide_capacity_change(&running, &org(), &bounds(false), &ctx()).unwrap();
        assert!(matches!(plan.outcome, Outcome::Deferred(_)));
    }

    #[test]
    fn capacity_changes_obey_the_organization_and_its_budget() {
        let mut absent = snapshot(ClusterState::Absent);
        absent.capacity = vec![requested("github:1", 2, 60)];
        let busy = OrganizationLoad {
            deployed_elsewhere: 10,
            ..OrganizationLoad::default()
        };
        assert_eq!(
            limit_of(decide_capacity_change(
                &absent,
                &busy,
                &bounds(false),
                &ctx()
            )),
            "max_clusters"
        );
        let priced = CapacityBounds {
            cost_model: CostModel {
                fixed_hourly_usd: Rate::parse("1").unwrap(),
                per_node_hourly_usd: Rate::parse("1").unwrap(),
            },
            ..bounds(false)
        };
        assert!(matches!(
            decide_capacity_change(&absent, &budget("10"), &priced, &ctx()),
            Err(Refusal::OverBudget { .. })
        ));
        assert!(decide_capacity_change(&absent, &budget("1000"), &priced, &ctx()).is_ok());
    }

    #[test]
    fn capacity_keeps_a_cluster_it_grows_as_long_as_its_requests_but_no_longer() {
        // Capacity's decisions are the keeper's; the schedules below are a
        // person's (alice's) unless said otherwise.
        let keeper = RuleContext {
            actor: "slipway:capacity".into(),
            ..ctx()
        };
        let mut running = snapshot(ClusterState::Running);
        running.capacity = vec![requested("github:1", 6, 120)];
        let until = now() + TimeDelta::minutes(120);
        // A schedule that ends sooner is moved to the last request's end.
        scheduled(&mut running, 60);
        let plan = decide_capacity_change(&running, &org(), &bounds(false), &keeper).unwrap();
        assert_eq!(plan.schedule, ScheduleChange::Set(until));
        // One that ends later is kept.
        scheduled(&mut running, 180);
        let plan = decide_capacity_change(&running, &org(), &bounds(false), &keeper).unwrap();
        assert_eq!(plan.schedule, ScheduleChange::Keep);
        // Too late to move a person's schedule: the change waits, naming
        // the rule.
        scheduled(&mut running, 3);
        assert!(matches!(
            decide_capacity_change(&running, &org(), &bounds(false), &keeper),
            Err(Refusal::TooLateToReschedule { .. })
        ));
        // Capacity's own schedule it moves, however close.
        running.schedule.as_mut().unwrap().requested_by = keeper.actor.clone();
        let plan = decide_capacity_change(&running, &org(), &bounds(false), &keeper).unwrap();
        assert_eq!(plan.schedule, ScheduleChange::Set(until));
        // A cluster without a scheduled destroy (an administrator's) keeps
        // none: capacity does not shorten it.
        running.schedule = None;
        let plan = decide_capacity_change(&running, &org(), &bounds(false), &keeper).unwrap();
        assert_eq!(plan.schedule, ScheduleChange::Keep);
        // No request left: scaled to the minimum, the schedule untouched.
        running.capacity = vec![requested("github:1", 6, -1)];
        scheduled(&mut running, 600);
        let plan = decide_capacity_change(&running, &org(), &bounds(false), &keeper).unwrap();
        assert_eq!(capacity_op(&plan).1, 1);
        assert_eq!(plan.schedule, ScheduleChange::Keep);
        // Unless its scheduled destroy is due: the scheduler's to fire,
        // idle organization or not.
        scheduled(&mut running, 0);
        for idle in [false, true] {
            let plan = decide_capacity_change(&running, &org(), &bounds(idle), &keeper).unwrap();
            assert_eq!(plan.new_operation(), None, "destroy_when_idle: {idle}");
        }
    }

    #[test]
    fn every_destroy_but_capacitys_own_withdraws_the_requests() {
        let mut running = snapshot(ClusterState::Running);
        running.capacity = vec![requested("github:1", 2, 60), requested("github:2", 3, 30)];
        let ids = vec!["github:1-2".to_owned(), "github:2-3".to_owned()];
        for reason in [Reason::User, Reason::Budget] {
            let ctx = RuleContext { reason, ..ctx() };
            let plan = decide_destroy(&running, &ctx, false).unwrap();
            assert_eq!(plan.withdrawn, ids, "{reason}");
            assert_eq!(capacity_op(&plan).0, OperationKind::Destroy);
        }
        // Joining a destroy in flight, or nothing to destroy: withdrawn too.
        let mut destroying = running.clone();
        destroying.active = Some(active(OperationKind::Destroy, spec(3)));
        assert_eq!(
            decide_destroy(&destroying, &ctx(), false)
                .unwrap()
                .withdrawn,
            ids
        );
        let mut absent = snapshot(ClusterState::Absent);
        absent.capacity = running.capacity.clone();
        assert_eq!(
            decide_destroy(&absent, &ctx(), false).unwrap().withdrawn,
            ids
        );
        // A scheduled destroy firing withdraws them.
        scheduled(&mut running, -1);
        assert_eq!(decide_fire_schedule(&running, &ctx()).withdrawn, ids);
        // Capacity's own destroy (no request left) has none to withdraw.
        let capacity = RuleContext {
            reason: Reason::Capacity,
            ..ctx()
        };
        assert!(
            decide_destroy(&running, &capacity, false)
                .unwrap()
                .withdrawn
                .is_empty()
        );
        // Other decisions withdraw nothing.
        running.schedule = None;
        let plan = decide_capacity_change(&running, &org(), &bounds(false), &ctx()).unwrap();
        assert!(plan.withdrawn.is_empty());
    }

    #[test]
    fn a_person_may_not_resize_a_cluster_whose_size_requests_hold() {
        let mut running = snapshot(ClusterState::Running);
        running.capacity = vec![requested("github:1", 4, 60), requested("github:2", 2, 30)];
        let resize = |nodes| DeployRequest {
            nodes: Some(nodes),
            min_nodes: 1,
            max_nodes: 16,
            ..DeployRequest::default()
        };
        let refused = decide_deploy(&running, &org(), &resize(2), &ctx()).unwrap_err();
        let Refusal::CapacityHeld { nodes, requests } = &refused else {
            panic!("expected the size to be held, got {refused:?}");
        };
        assert_eq!(*nodes, 6);
        assert_eq!(requests.len(), 2);
        assert!(
            requests[0].contains("github:1-4 by 1: 4 until"),
            "{refused}"
        );
        assert_eq!(refused.code(), "capacity_held");
        // Above the held size too: the keeper would undo it.
        assert!(matches!(
            decide_deploy(&running, &org(), &resize(9), &ctx()),
            Err(Refusal::CapacityHeld { nodes: 6, .. })
        ));
        // The held size itself, and changes that keep the size, go.
        assert!(decide_deploy(&running, &org(), &resize(6), &ctx()).is_ok());
        let new_version = DeployRequest {
            version: Some("2.0.0".into()),
            ..resize(3)
        };
        assert!(decide_deploy(&running, &org(), &new_version, &ctx()).is_ok());
        // Expired requests hold nothing.
        running.capacity = vec![requested("github:1", 4, -1)];
        assert!(decide_deploy(&running, &org(), &resize(2), &ctx()).is_ok());
    }

    #[test]
    fn a_deploy_of_a_running_cluster_with_a_destroy_time_moves_its_schedule() {
        let mut running = snapshot(ClusterState::Running);
        let at = now() + TimeDelta::hours(5);
        let with_ttl = |at| DeployRequest {
            destroy_at: Some(at),
            ..DeployRequest::default()
        };
        let plan = decide_deploy(&running, &org(), &with_ttl(at), &member_ctx()).unwrap();
        assert_eq!(plan.outcome, Outcome::AlreadyRunning);
        assert_eq!(plan.schedule, ScheduleChange::Set(at));
        // Within the organization's lifetime, for its members.
        assert_eq!(
            limit_of(decide_deploy(
                &running,
                &org(),
                &with_ttl(now() + TimeDelta::hours(13)),
                &member_ctx()
            )),
            "max_lifetime"
        );
        // Under the five-minute rule.
        scheduled(&mut running, 3);
        assert!(matches!(
            decide_deploy(&running, &org(), &with_ttl(at), &ctx()),
            Err(Refusal::TooLateToReschedule { .. })
        ));
        // Without one, nothing changes.
        let plan = decide_deploy(&running, &org(), &DeployRequest::default(), &ctx()).unwrap();
        assert_eq!(plan.schedule, ScheduleChange::Keep);
    }

    #[test]
    fn a_cluster_counts_as_deployed_while_something_of_it_may_exist_or_is_coming() {
        for state in ClusterState::ALL {
            let snap = snapshot(state);
            assert_eq!(
                snap.counts_as_deployed(),
                state != ClusterState::Absent,
                "{state}"
            );
        }
        let mut absent = snapshot(ClusterState::Absent);
        for kind in OperationKind::ALL {
            absent.active = Some(active(*kind, spec(3)));
            assert_eq!(
                absent.counts_as_deployed(),
                matches!(kind, OperationKind::Deploy | OperationKind::Update),
                "{kind}"
            );
        }
    }
}
