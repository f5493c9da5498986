//! Clusters that follow their capacity requests (DESIGN.md §3.8): the
//! desired size is the sum over people of each one's largest unexpired
//! request, clamped to the cluster's bounds; when it changes the cluster is
//! deployed, updated or destroyed (reason `capacity`) by `core`'s rule.
//!
//! [`apply`] decides for one cluster now (the service calls it when a
//! request is made or withdrawn). The keeper ([`run`]) does it at each
//! expiry, within a moment of it — it sleeps until the next one — and again
//! when an operation of a cluster with requests (or one whose change had to
//! wait) has ended.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use slipway_core::rules::{CapacityBounds, Context, Outcome, decide_capacity_change};
use slipway_core::{
    BudgetPolicy, CapacityWait, ClusterName, Level, OperationId, Reason, Subject, Timestamp,
};
use slipway_store::{AuditIntent, Notification, Store, StoreError};
use tokio::sync::broadcast;
use tracing::{info, warn};

use crate::Worker;

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
pub async fn apply(
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
    let ctx = Context {
        now,
        actor: actor.to_string(),
        level: Level::OrgMember,
        reason: Reason::Capacity,
        new_operation_id: OperationId::from_uuid(uuid::Uuid::now_v7()),
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
        actor: actor.to_string(),
        actor_name: "capacity".to_owned(),
        level: "system".into(),
        action: "cluster.capacity".into(),
        quiet: already_refused,
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
        Ok(applied) => match applied.plan.outcome {
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
            | Outcome::Removed => Followed::Nothing,
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

/// How often the end of operations elsewhere lets waiting requests be
/// tried again.
const RETRY_AFTER_OPERATIONS: Duration = Duration::from_secs(5);

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

/// The keeper: at each expiry (and at start-up), the clusters whose
/// requests expired follow what remains; a cluster whose requests wait
/// (for an operation, the budget or a limit) is tried again when an
/// operation ends, an account changes, or at the latest after
/// `accounts.capacity_recheck`.
///
/// Between those it wakes only for what concerns it — an operation's
/// end, a request made or withdrawn, an account changed, lost
/// notifications — and lets the rest (every batch of every operation's
/// log, queueing, …) pass without touching the database.
pub async fn run(worker: Arc<Worker>) {
    let mut notifications = worker.store.subscribe();
    let mut due: Vec<ClusterName> = Vec::new();
    let mut sweep = true;
    let mut retry_waiting = true;
    let mut last_retry = tokio::time::Instant::now();
    loop {
        let now = Utc::now();
        if sweep {
            match worker.store.sweep_capacity_requests(now).await {
                Ok(expired) => due.extend(expired),
                Err(e) => warn!(error = %e, "cannot sweep expired capacity requests"),
            }
        }
        // Operations end often on a busy site: what waits is tried again
        // at most every few seconds for them.
        if retry_waiting || last_retry.elapsed() >= RETRY_AFTER_OPERATIONS {
            match worker.store.waiting_capacity_clusters(now).await {
                Ok(waiting) => due.extend(waiting),
                Err(e) => warn!(error = %e, "cannot read the capacity requests that wait"),
            }
            last_retry = tokio::time::Instant::now();
        }
        due.sort();
        due.dedup();
        for cluster in due.drain(..) {
            follow(&worker, &cluster).await;
        }
        worker.metrics.capacity_rounds.inc();
        let recheck = worker.accounts.capacity_recheck;
        let sleep = match worker.store.next_capacity_expiry(now).await {
            Ok(Some(next)) => (next - Utc::now())
                .to_std()
                .unwrap_or_default()
                .min(recheck),
            Ok(None) => recheck,
            Err(e) => {
                warn!(error = %e, "cannot read the next capacity expiry");
                Duration::from_secs(1)
            }
        };
        let wake = tokio::time::Instant::now() + sleep;
        (sweep, retry_waiting) = loop {
            tokio::select! {
                () = tokio::time::sleep_until(wake) => break (true, true),
                note = notifications.recv() => match note {
                    // An operation ended: the cluster's own change that
                    // waited for it is made now, and what waited for the
                    // money or a free slot of its organization is tried
                    // again (with the waiting clusters, read above).
                    Ok(Notification::Finished { cluster, .. }) => {
                        if worker
                            .store
                            .capacity_requests(&cluster)
                            .await
                            .is_ok_and(|requests| !requests.is_empty())
                        {
                            due.push(cluster);
                        }
                        break (false, false);
                    }
                    // Money credited or a limit changed: what waits is
                    // tried again.
                    Ok(Notification::AccountChanged { .. }) => break (false, true),
                    // A request made or withdrawn (maybe through another
                    // process): the next expiry may be sooner.
                    Ok(Notification::CapacityChanged { .. } | Notification::Resync) => break (true, false),
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => break (true, true),
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                () = worker.shutdown.cancelled() => return,
            }
        };
    }
}

async fn follow(worker: &Worker, cluster: &ClusterName) {
    match apply(worker.store.as_ref(), cluster, &worker.accounts.budget).await {
        Ok(Followed::Queued(op)) => {
            info!(%cluster, operation = %op, "the cluster follows its capacity requests")
        }
        Ok(Followed::Waiting(wait)) => {
            info!(%cluster, reason = %wait.message, "the cluster's capacity change waits");
        }
        Ok(Followed::Nothing) => {}
        Err(e) => warn!(error = %e, %cluster, "the cluster cannot follow its capacity requests"),
    }
}
