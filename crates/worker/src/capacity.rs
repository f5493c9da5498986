//! The capacity keeper: clusters follow their capacity requests
//! ([`slipway_accounts::capacity::follow`]) at each expiry, within a moment
//! of it — it sleeps until the next one — and again when an operation of a
//! cluster with requests (or one whose change had to wait) has ended.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use slipway_accounts::capacity::{self, Followed};
use slipway_core::ClusterName;
use slipway_store::Notification;
use tokio::sync::broadcast;
use tracing::{info, warn};

use crate::Worker;

/// How often the end of operations elsewhere lets waiting requests be
/// tried again.
const RETRY_AFTER_OPERATIONS: Duration = Duration::from_secs(5);

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
    match capacity::follow(worker.store.as_ref(), cluster, &worker.accounts.budget).await {
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
