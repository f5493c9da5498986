//! The scheduler: fires each scheduled destroy as a destroy operation with
//! reason `schedule` when it is due. It sleeps until the next due time (or
//! until a schedule changes), so a destroy fires within moments of its time;
//! overdue schedules fire as soon as it starts.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use slipway_core::rules::{ClusterSnapshot, Outcome, RuleContext, decide_fire_schedule};
use slipway_core::{ClusterName, OperationId, Reason, Subject};
use slipway_store::{AuditIntent, Notification};
use tokio::sync::broadcast;
use tracing::{error, info, warn};

use crate::Worker;

/// The longest the scheduler sleeps without looking again (schedules made
/// by other processes wake it at the latest then).
const MAX_SLEEP: Duration = Duration::from_secs(30);

pub async fn run(worker: Arc<Worker>) {
    // Subscribed before the first look, so no change slips between.
    let mut notifications = worker.store.subscribe();
    loop {
        let looked_at = Utc::now();
        if let Err(e) = fire_due(&worker, looked_at).await {
            error!(error = %e, "cannot fire due schedules; retrying");
        }
        // A schedule that was due when we looked is deferred behind an
        // operation in flight: that operation's end wakes the scheduler.
        let sleep = match worker.store.next_schedule_due().await {
            Ok(Some(next)) if next > looked_at => (next - Utc::now())
                .to_std()
                .unwrap_or_default()
                .min(MAX_SLEEP),
            Ok(_) => MAX_SLEEP,
            Err(e) => {
                warn!(error = %e, "cannot read the next schedule");
                Duration::from_secs(1)
            }
        };
        tokio::select! {
            () = tokio::time::sleep(sleep) => {}
            () = schedule_changed(&mut notifications) => {}
            () = worker.shutdown.cancelled() => return,
        }
    }
}

/// Waits for a change that may make a schedule due sooner: a schedule set
/// or moved, or an operation ending (a deferred schedule may fire now).
async fn schedule_changed(notifications: &mut broadcast::Receiver<Notification>) {
    loop {
        match notifications.recv().await {
            Ok(
                Notification::ScheduleChanged { .. }
                | Notification::Finished { .. }
                | Notification::Resync,
            )
            | Err(broadcast::error::RecvError::Lagged(_)) => return,
            Ok(_) => {}
            Err(broadcast::error::RecvError::Closed) => std::future::pending::<()>().await,
        }
    }
}

/// The most scheduled destroys fired in one transaction: a burst of due
/// schedules is queued in a few transactions, not one each, and holds the
/// database's write lock a short while at a time.
const FIRE_AT_ONCE: usize = 100;

async fn fire_due(
    worker: &Worker,
    now: chrono::DateTime<Utc>,
) -> Result<(), slipway_store::StoreError> {
    let due = worker.store.due_schedules(now).await?;
    for clusters in due.chunks(FIRE_AT_ONCE) {
        fire(worker, clusters).await;
    }
    Ok(())
}

async fn fire(worker: &Worker, clusters: &[ClusterName]) {
    let now = Utc::now();
    let audit = AuditIntent::system(&Subject::scheduler(), "schedule.fire");
    let fire = |snap: &ClusterSnapshot| {
        let ctx = RuleContext::system(
            &Subject::scheduler(),
            Reason::Schedule,
            now,
            OperationId::from_uuid(uuid::Uuid::now_v7()),
        );
        decide_fire_schedule(snap, &ctx)
    };
    let fired = match worker
        .store
        .fire_schedules(clusters, now, &audit, &fire)
        .await
    {
        Ok(fired) => fired,
        Err(e) => {
            error!(clusters = clusters.len(), error = %e, "cannot fire the scheduled destroys");
            return;
        }
    };
    for (snap, decision) in fired {
        let cluster = &snap.cluster.name;
        match decision.outcome {
            Outcome::Enqueued(op) => {
                if let Some(due) = snap.schedule.as_ref().map(|s| s.due_at()) {
                    let lag = (now - due).to_std().unwrap_or_default();
                    worker.metrics.scheduler_lag.observe(lag.as_secs_f64());
                }
                info!(%cluster, operation = %op.id, "scheduled destroy fired");
            }
            Outcome::Joined(op) => {
                info!(%cluster, operation = %op, "scheduled destroy joined a destroy in flight")
            }
            Outcome::Deferred(op) => {
                info!(%cluster, waiting_for = %op, "scheduled destroy waits for an operation in flight")
            }
            Outcome::AlreadyRunning
            | Outcome::NothingToDestroy
            | Outcome::Scheduled(_)
            | Outcome::Unscheduled
            | Outcome::NotDue
            | Outcome::Removed
            | Outcome::Visibility(_)
            | Outcome::Protection(_) => {}
        }
    }
}
