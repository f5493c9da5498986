//! Clusters that follow their capacity requests (docs/domain.md §8): the
//! desired size is the sum over people of each one's largest unexpired
//! request, clamped to the cluster's bounds; when it changes the cluster is
//! deployed, updated or destroyed (reason `capacity`) by `core`'s rule.
//!
//! [`follow`] decides for one cluster now: the service calls it when a
//! request is made or withdrawn, the worker's capacity keeper at each
//! expiry and when what a change waited for may have changed.

use chrono::Utc;
use slipway_core::rules::{CapacityBounds, Outcome, RuleContext, decide_capacity_change};
use slipway_core::{
    BudgetPolicy, CapacityWait, ClusterName, Level, OperationId, Reason, Subject, Timestamp,
};
use slipway_store::{AuditIntent, Store, StoreError};

/// What following the requests did to the cluster.
#[derive(Debug, Clone, PartialEq)]
pub enum Followed {
    /// It is as the requests want.
    Nothing,
    /// An operation was queued (or joined).
    Queued(OperationId),
    /// The change cannot be made now — a rule refuses it (the budget, a
    /// limit, the five-minute rule) or an operation is in flight — and the
    /// requests not honoured yet wait, with this reason; the keeper tries
    /// again when it may have changed.
    Waiting(CapacityWait),
}

/// Makes the cluster follow its capacity requests now: the change, if
/// any, is decided by `core`'s rule in the store's transaction, and the
/// requests are marked honoured or waiting (with why). The change is the
/// keeper's (`slipway:capacity`), whoever's request it follows (the request
/// itself is audited as that person's). A refusal is audited the first time
/// only: retries of a change already waiting for a rule are quiet.
pub async fn follow(
    store: &dyn Store,
    cluster: &ClusterName,
    budget: &BudgetPolicy,
) -> Result<Followed, StoreError> {
    let actor = Subject::capacity();
    let Some(snap) = store.cluster(cluster).await? else {
        return Ok(Followed::Nothing);
    };
    let spec = snap.cluster.deployed.as_ref().unwrap_or(&snap.cluster.spec);
    let blueprint = store
        .blueprint_version(spec.blueprint.as_str(), &spec.version)
        .await?;
    let org = store.organization(&snap.cluster.organization).await?;
    let (Some(blueprint), Some(org)) = (blueprint, org) else {
        return Ok(Followed::Nothing);
    };
    let bounds = CapacityBounds {
        min_nodes: blueprint.metadata.nodes.min,
        max_nodes: blueprint.metadata.nodes.max.min(org.limits.max_nodes),
        destroy_when_idle: org.destroy_when_idle,
        cost_model: blueprint.metadata.cost,
        budget_policy: budget.clone(),
    };
    let now = Utc::now();
    // Capacity acts for members: the organization's limits bind it.
    let ctx = RuleContext {
        level: Level::OrgMember,
        ..RuleContext::system(
            &actor,
            Reason::Capacity,
            now,
            OperationId::from_uuid(uuid::Uuid::now_v7()),
        )
    };
    let waiting_for_a_rule = |code: &str| {
        snap.capacity
            .iter()
            .filter_map(|r| r.waiting.as_ref())
            .find(|w| w.code == code)
            .map(|w| w.since)
    };
    let already_refused = snap.capacity.iter().any(|r| {
        r.waiting
            .as_ref()
            .is_some_and(|w| w.code != PENDING && w.code != IN_PROGRESS)
    });
    let audit = AuditIntent {
        quiet: already_refused,
        ..AuditIntent::system(&actor, "cluster.capacity")
    };
    let decided = store
        .decide(cluster, now, &audit, &|snap, org| {
            decide_capacity_change(snap, org, &bounds, &ctx)
        })
        .await;
    let wait = |code: &str, message: String| CapacityWait {
        since: waiting_for_a_rule(code).unwrap_or(now),
        code: code.to_owned(),
        message,
    };
    let followed = match decided {
        Ok(decided) => match decided.decision.outcome {
            Outcome::Enqueued(op) => Followed::Queued(op.id),
            Outcome::Joined(id) => Followed::Queued(id),
            Outcome::Deferred(id) => Followed::Waiting(wait(
                IN_PROGRESS,
                format!("the change waits for operation {id} to end"),
            )),
            Outcome::AlreadyRunning
            | Outcome::NothingToDestroy
            | Outcome::Scheduled(_)
            | Outcome::Unscheduled
            | Outcome::NotDue
            | Outcome::Removed
            | Outcome::Visibility(_)
            | Outcome::Protection(_) => Followed::Nothing,
        },
        Err(StoreError::Refused(refusal)) => {
            Followed::Waiting(wait(refusal.code(), refusal.to_string()))
        }
        Err(e) => return Err(e),
    };
    let marked = match &followed {
        Followed::Waiting(wait) => Some(wait),
        Followed::Nothing | Followed::Queued(_) => None,
    };
    store.mark_capacity_requests(cluster, marked).await?;
    Ok(followed)
}

/// The reason of a request not looked at yet.
pub const PENDING: &str = "pending";
/// The reason of a change that waits for an operation in flight.
const IN_PROGRESS: &str = "operation_in_progress";

/// How a new request waits until the cluster was made to follow it.
pub fn pending(now: Timestamp) -> CapacityWait {
    CapacityWait {
        code: PENDING.into(),
        message: "not looked at yet".into(),
        since: now,
    }
}
