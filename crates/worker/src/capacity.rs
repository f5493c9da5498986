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

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use slipway_core::rules::{CapacityBounds, Context, Outcome, decide_capacity_change};
use slipway_core::{BudgetPolicy, ClusterName, Level, OperationId, Reason, Subject};
use slipway_store::{AuditIntent, Notification, Store, StoreError};
use tokio::sync::broadcast;
use tracing::{info, warn};

use crate::Worker;

/// The longest the keeper sleeps without looking (requests made through
/// other processes wake it at the latest then).
const MAX_SLEEP: Duration = Duration::from_secs(30);

/// What following the requests did to the cluster.
#[derive(Debug, Clone, PartialEq)]
pub enum Followed {
    /// It is as the requests want.
    Nothing,
    /// An operation was queued (or joined).
    Queued(OperationId),
    /// Another operation is in flight; the change comes when it ends.
    Waiting(OperationId),
}

/// Makes the cluster follow its capacity requests now: the change, if
/// any, is decided by `core`'s rule in the store's transaction. A refusal
/// (over a limit or the budget) is audited and returned.
pub async fn apply(
    store: &dyn Store,
    cluster: &ClusterName,
    budget: &BudgetPolicy,
    actor: &Subject,
    actor_name: &str,
) -> Result<Followed, StoreError> {
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
    let audit = AuditIntent {
        actor: actor.to_string(),
        actor_name: actor_name.to_owned(),
        level: "system".into(),
        action: "cluster.capacity".into(),
    };
    let applied = store
        .decide(cluster, now, &audit, &|snap, org| {
            decide_capacity_change(snap, org, &bounds, &ctx)
        })
        .await?;
    Ok(match applied.plan.outcome {
        Outcome::Enqueued(op) => Followed::Queued(op.id),
        Outcome::Joined(id) => Followed::Queued(id),
        Outcome::Deferred(id) => Followed::Waiting(id),
        _ => Followed::Nothing,
    })
}

/// The keeper: at each expiry (and at start-up), the clusters whose
/// requests expired follow what remains; a change that had to wait for an
/// operation is made when that operation ends.
///
/// Between expiries it wakes only for what concerns it — an operation's
/// end, a request made or withdrawn, lost notifications — and lets the
/// rest (every batch of every operation's log, queueing, …) pass without
/// touching the database.
pub async fn run(worker: Arc<Worker>) {
    let mut notifications = worker.store.subscribe();
    let mut waiting: HashSet<ClusterName> = HashSet::new();
    let mut due: Vec<ClusterName> = Vec::new();
    let mut sweep = true;
    loop {
        let now = Utc::now();
        if sweep {
            match worker.store.sweep_capacity_requests(now).await {
                Ok(expired) => due.extend(expired),
                Err(e) => warn!(error = %e, "cannot sweep expired capacity requests"),
            }
        }
        due.sort();
        due.dedup();
        for cluster in due.drain(..) {
            follow(&worker, &cluster, &mut waiting).await;
        }
        let sleep = match worker.store.next_capacity_expiry(now).await {
            Ok(Some(next)) => (next - Utc::now())
                .to_std()
                .unwrap_or_default()
                .min(MAX_SLEEP),
            Ok(None) => MAX_SLEEP,
            Err(e) => {
                warn!(error = %e, "cannot read the next capacity expiry");
                Duration::from_secs(1)
            }
        };
        let wake = tokio::time::Instant::now() + sleep;
        sweep = loop {
            tokio::select! {
                () = tokio::time::sleep_until(wake) => break true,
                note = notifications.recv() => match note {
                    // An operation ended: a change that waited for it (ours,
                    // or one the service decided when a request was made)
                    // is made now.
                    Ok(Notification::Finished { cluster, .. }) => {
                        let follows = waiting.contains(&cluster)
                            || worker
                                .store
                                .capacity_requests(&cluster)
                                .await
                                .is_ok_and(|requests| !requests.is_empty());
                        if follows {
                            due.push(cluster);
                            break false;
                        }
                    }
                    // A request made or withdrawn (maybe through another
                    // process): the next expiry may be sooner.
                    Ok(Notification::CapacityChanged { .. } | Notification::Resync) => break true,
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        due.extend(waiting.iter().cloned());
                        break true;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                () = worker.shutdown.cancelled() => return,
            }
        };
    }
}

async fn follow(worker: &Worker, cluster: &ClusterName, waiting: &mut HashSet<ClusterName>) {
    waiting.remove(cluster);
    match apply(
        worker.store.as_ref(),
        cluster,
        &worker.accounts.budget,
        &Subject::slipway("capacity"),
        "capacity",
    )
    .await
    {
        Ok(Followed::Queued(op)) => {
            info!(%cluster, operation = %op, "the cluster follows its capacity requests")
        }
        Ok(Followed::Waiting(op)) => {
            info!(%cluster, waiting_for = %op, "the cluster's capacity change waits for an operation");
            waiting.insert(cluster.clone());
        }
        Ok(Followed::Nothing) => {}
        Err(e) => warn!(error = %e, %cluster, "the cluster cannot follow its capacity requests"),
    }
}
