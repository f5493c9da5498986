//! The drift keeper: every protected running cluster is checked once per
//! `executor.drift_interval` — a refresh, Terraform's plan of the deployed
//! configuration against what exists, whose end records in the cluster's
//! `drift` what was changed outside Slipway (docs/domain.md §4). Each
//! cluster has its own moment in the interval, taken from its name
//! (`core::schedule::drift_check_due`), so a fleet is checked spread out,
//! and each round queues at most [`PER_ROUND`], background work that waits
//! its turn in the queue like any other.
//!
//! Several processes may run the keeper: the decision is taken under the
//! cluster's lock, and a cluster with an operation in flight is left for the
//! next round.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use slipway_core::rules::{Outcome, RuleContext, decide_drift_check};
use slipway_core::schedule::drift_check_due;
use slipway_core::{OperationId, Reason, Subject};
use slipway_store::AuditIntent;
use tracing::{info, warn};

use crate::Worker;

/// The most checks one round queues.
const PER_ROUND: usize = 16;

pub async fn run(worker: Arc<Worker>) {
    let interval = worker.config.drift_interval;
    if interval.is_zero() {
        return;
    }
    // Often enough that a cluster's moment is not missed by much.
    let tick = (interval / 8).clamp(Duration::from_secs(1), Duration::from_secs(60));
    loop {
        tokio::select! {
            () = tokio::time::sleep(tick) => {}
            () = worker.shutdown.cancelled() => return,
        }
        round(&worker, interval).await;
    }
}

async fn round(worker: &Worker, interval: Duration) {
    let now = Utc::now();
    let watched = match worker.store.drift_watched().await {
        Ok(watched) => watched,
        Err(e) => {
            warn!(error = %e, "cannot read the clusters drift checks watch");
            return;
        }
    };
    let due = watched
        .iter()
        .filter(|w| drift_check_due(&w.cluster, w.checked_at, w.created_at, now, interval))
        .take(PER_ROUND);
    for w in due {
        let ctx = RuleContext::system(
            &Subject::drift(),
            Reason::Drift,
            now,
            OperationId::from_uuid(uuid::Uuid::now_v7()),
        );
        let audit = AuditIntent::system(&Subject::drift(), "cluster.drift_check");
        match worker
            .store
            .decide(&w.cluster, now, &audit, &|snap, _| {
                Ok(decide_drift_check(snap, &ctx))
            })
            .await
        {
            Ok(decided) => {
                if let Outcome::Enqueued(op) = &decided.decision.outcome {
                    info!(cluster = %w.cluster, operation = %op.id, "drift check queued");
                }
            }
            Err(e) => warn!(error = %e, cluster = %w.cluster, "cannot check the cluster for drift"),
        }
    }
}
