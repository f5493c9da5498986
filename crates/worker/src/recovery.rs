//! Recovery: what a previous process left behind, and operations whose
//! worker stopped renewing its lease.
//!
//! At start-up ([`recover`]): Terraform the previous process left running
//! (it got SIGINT when that process died) finishes and saves its state
//! first — through the API, which is already serving, as the operation's
//! run credential still holds; the directories of TEST and RELEASE runs on
//! the process runner go, with whatever still runs in them; when this
//! process holds the only handle on the database, whatever is still marked
//! running was interrupted; how the apply of each run left behind ended is
//! added to its log; states Terraform could not save at all are saved from
//! the files it left.
//!
//! While running ([`reclaim_expired`]): operations whose lease expired are
//! interrupted; each gets an event saying so and, by the rules of `core`, a
//! refresh that reconciles its cluster (or a cleanup of its run's runner).

use std::sync::Arc;

use chrono::Utc;
use slipway_core::event::{EventLevel, NewEvent, kinds};
use slipway_core::job::RunnerKind;
use slipway_core::rules::{
    ClusterSnapshot, Decision, RuleContext, decide_reconcile, decide_runner_cleanup,
};
use slipway_core::{Operation, OperationId, OperationState, Reason, Subject};
use slipway_store::{AuditIntent, ReclaimScope};
use tracing::{error, info, warn};

use slipway_auth::secrets;

use crate::Worker;

/// Recovers what a previous run of this process left behind, before its
/// executor starts (see the module's documentation).
pub async fn recover(worker: &Worker) -> anyhow::Result<()> {
    worker.engine.settle_orphans().await;
    for run in worker.engine.remove_leftover_job_dirs() {
        warn!(operation = %run, "removed the runner directory of a run a previous process left");
    }
    if worker.exclusive_database {
        let interrupted = worker
            .store
            .reclaim(ReclaimScope::AllRunning, Utc::now(), &after_interruption)
            .await?;
        for op in &interrupted {
            worker.metrics.reclaims.inc();
            warn!(operation = %op.id, cluster = %op.cluster, kind = %op.kind, "operation interrupted by a restart; reconciling its cluster");
        }
    }
    report_leftover_runs(worker).await;
    save_unsaved_states(worker, None).await;
    Ok(())
}

/// Interrupts operations whose lease expired: their worker died or lost
/// the database.
pub async fn reclaim_expired(worker: Arc<Worker>) {
    let every = worker.config.lease / 2;
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = worker.shutdown.cancelled() => return,
        }
        match worker
            .store
            .reclaim(ReclaimScope::ExpiredLeases, Utc::now(), &after_interruption)
            .await
        {
            Ok(ops) => {
                for op in ops {
                    worker.metrics.reclaims.inc();
                    warn!(operation = %op.id, cluster = %op.cluster, "lease expired; operation interrupted");
                }
            }
            Err(e) => warn!(error = %e, "reclaiming expired leases failed"),
        }
    }
}

/// What follows an interrupted operation (the rules of `core`): an
/// infrastructure operation's cluster is reconciled by a refresh; a run on
/// a Terraform runner gets a cleanup of that runner.
fn after_interruption(
    interrupted: &Operation,
    cluster: &ClusterSnapshot,
    runner: Option<RunnerKind>,
) -> Option<Decision> {
    let ctx = recovery_context();
    if interrupted.kind.settles_cluster() {
        Some(decide_reconcile(cluster, &ctx))
    } else {
        decide_runner_cleanup(interrupted, runner?, &ctx)
    }
}

fn recovery_context() -> RuleContext {
    RuleContext::system(
        &Subject::recovery(),
        Reason::Recovery,
        Utc::now(),
        OperationId::from_uuid(uuid::Uuid::now_v7()),
    )
}

/// Adds to the log of each interrupted run a previous process left behind
/// how its apply ended: its Terraform went on alone after that process died
/// (it got SIGINT and stopped, or finished), and nobody was left to record
/// it. Only counts are told, as nobody is left to mask the lines themselves
/// either.
async fn report_leftover_runs(worker: &Worker) {
    for run in worker.engine.take_leftover_runs() {
        let (Ok(id), Some(ending)) = (OperationId::parse(&run.run_id), run.apply) else {
            continue;
        };
        // Running: on a shared database, until a reclaimer interrupts it.
        let op = match worker.store.operation(&id).await {
            Ok(Some(op))
                if matches!(
                    op.state,
                    OperationState::Interrupted | OperationState::Running
                ) =>
            {
                op
            }
            Ok(_) => continue,
            Err(e) => {
                warn!(error = %e, operation = %id, "cannot look up a run left behind");
                continue;
            }
        };
        let (made, planned) = (ending.made(), ending.progress.planned);
        let message = if ending.completed {
            format!(
                "after Slipway stopped, Terraform completed the apply: {made} of {planned} changes made"
            )
        } else {
            format!(
                "after Slipway stopped, Terraform stopped too: {made} of {planned} changes made, {} failed, {} error(s); a refresh tells what exists",
                ending.failed, ending.errors
            )
        };
        warn!(operation = %id, made, planned, completed = ending.completed, "a run's apply went on after its process died");
        let event = NewEvent {
            at: Utc::now(),
            kind: kinds::ORPHAN_APPLY_ENDED.to_owned(),
            level: EventLevel::Warn,
            message,
            data: serde_json::to_value(ending).expect("counts serialize"),
        };
        if let Err(e) = worker.store.append_events(&id, &[event]).await {
            warn!(error = %e, operation = %id, "cannot add how a run's apply ended to its log");
            continue;
        }
        if op.state.is_terminal() {
            // Its log may have been archived without this: archived again,
            // off the start-up path (object storage may be in trouble).
            let (storage, store) = (worker.storage.clone(), worker.store.clone());
            tokio::spawn(async move {
                if let Err(e) = storage.archive_log(store.as_ref(), &op).await {
                    warn!(error = %e, operation = %op.id, "cannot archive the operation's log again");
                }
            });
        }
    }
}

/// Saves the states runs of this process left in `errored.tfstate` because
/// Terraform could not reach the state backend — `only` this operation's,
/// or (at start-up) every one whose operation is over. A saved state gets
/// a refresh, so the cluster's status reflects it.
pub(crate) async fn save_unsaved_states(worker: &Worker, only: Option<&OperationId>) {
    for unsaved in worker.engine.unsaved_states() {
        let Ok(id) = OperationId::parse(&unsaved.run_id) else {
            worker.engine.forget_run(&unsaved.run_id);
            continue;
        };
        if only.is_some_and(|o| *o != id) {
            continue;
        }
        let op = match worker.store.operation(&id).await {
            Ok(Some(op)) => op,
            Ok(None) => {
                worker.engine.forget_run(&unsaved.run_id);
                continue;
            }
            Err(e) => {
                warn!(error = %e, operation = %id, "cannot look up a run with an unsaved state");
                continue;
            }
        };
        if only.is_none() && op.state == OperationState::Running {
            continue;
        }
        let key = op.state_key();
        let saved = match secrets::seal_state(&worker.sealer, &key, &unsaved.state) {
            Ok(sealed) => {
                worker
                    .store
                    .recover_state(&key, &id, sealed, Utc::now())
                    .await
            }
            Err(e) => {
                error!(error = %e, operation = %id, "cannot seal an unsaved state");
                continue;
            }
        };
        match saved {
            Ok(true) => {
                warn!(operation = %id, cluster = %key, "saved the state Terraform could not save itself");
                if op.state.is_terminal() && op.kind.settles_cluster() {
                    reconcile(worker, &op.cluster).await;
                }
            }
            Ok(false) => {
                info!(operation = %id, "a later operation already wrote the state; the unsaved one is dropped")
            }
            Err(e) => {
                error!(error = %e, operation = %id, "cannot save an unsaved state; it stays on disk");
                continue;
            }
        }
        worker.engine.forget_run(&unsaved.run_id);
    }
}

/// Queues a refresh of the cluster (reason `recovery`).
async fn reconcile(worker: &Worker, cluster: &slipway_core::ClusterName) {
    let ctx = recovery_context();
    let audit = AuditIntent::system(&Subject::recovery(), "cluster.reconcile");
    if let Err(e) = worker
        .store
        .decide(cluster, ctx.now, &audit, &|snap, _| {
            Ok(decide_reconcile(snap, &ctx))
        })
        .await
    {
        warn!(error = %e, %cluster, "cannot queue a reconciling refresh");
    }
}
