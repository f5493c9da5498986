//! The executor: leases queued operations — the lease carries the
//! operation, its cluster, its blueprint version and the run's state
//! credential — runs them through the engine with a heartbeat on the lease,
//! streams their events into the store, and finishes them.
//!
//! The heartbeat renews the lease every third of its length; the renewal
//! answers whether someone asked to cancel, so a cancel made through any
//! replica stops the run within one renewal period (at once when the
//! request's notification arrives) — SIGINT, then a kill after the grace.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::{Value, json};
use slipway_core::event::NewEvent;
use slipway_core::lifecycle::Ending;
use slipway_core::{Operation, OperationKind, OperationState, TerraformCommand};
use slipway_engine::{EngineError, RunReport};
use slipway_store::{Lease, LeaseStatus, Notification, StoreError};
use tokio::sync::{Semaphore, broadcast, mpsc};
use tokio::task::JoinSet;
use tracing::{Instrument, error, info, info_span, warn};

use crate::metrics::{KindLabel, OperationLabels};
use crate::terraform::{
    TerraformModule, cluster_runtime_dir, invalid, leased_blueprint, run_terraform,
    standard_variables, terraform_run,
};
use slipway_auth::secrets;

use crate::{Finished, RunningOperation, StopReason, Worker};

/// How often the executor looks for work when no notification wakes it
/// (another process may have queued it).
const POLL_INTERVAL: Duration = Duration::from_secs(5);

/// Leases and runs operations until shutdown, at most
/// `executor.max_concurrent` at once; then stops the running ones and waits
/// for them to wind down.
pub async fn run(worker: Arc<Worker>) {
    let slots = Arc::new(Semaphore::new(worker.config.max_concurrent.max(1)));
    let mut notifications = worker.store.subscribe();
    let cancels = tokio::spawn(pass_on_cancel_requests(worker.clone()));
    let mut tasks = JoinSet::new();
    loop {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            () = worker.shutdown.cancelled() => break,
        };
        // The run's state-backend credential, recorded with the lease.
        let secret = slipway_auth::api_token::new_secret();
        match worker
            .store
            .lease_next(
                &worker.id,
                &worker.config.tags,
                Utc::now(),
                worker.config.lease,
                &slipway_auth::api_token::hash_secret(&secret),
            )
            .await
        {
            Ok(Some(lease)) => {
                let worker = worker.clone();
                let op = &lease.operation;
                let span =
                    info_span!("operation", id = %op.id, cluster = %op.cluster, kind = %op.kind);
                tasks.spawn(
                    async move {
                        run_operation(&worker, lease, secret).await;
                        drop(permit);
                    }
                    .instrument(span),
                );
                continue;
            }
            Ok(None) => drop(permit),
            Err(e) => {
                drop(permit);
                error!(error = %e, "cannot lease operations; retrying");
            }
        }
        // Reap finished runs so the set does not grow.
        while tasks.try_join_next().is_some() {}
        tokio::select! {
            () = wait_for_work(&mut notifications) => {}
            () = tokio::time::sleep(POLL_INTERVAL) => {}
            () = worker.shutdown.cancelled() => break,
        }
    }
    for op in worker.running.lock().expect("running lock").values() {
        op.stop(StopReason::Shutdown);
    }
    while tasks.join_next().await.is_some() {}
    cancels.abort();
}

async fn wait_for_work(notifications: &mut broadcast::Receiver<Notification>) {
    loop {
        match notifications.recv().await {
            Ok(
                Notification::Queued { .. }
                | Notification::ProvisioningChanged
                | Notification::Resync,
            )
            | Err(broadcast::error::RecvError::Lagged(_)) => {
                return;
            }
            Ok(_) => {}
            Err(broadcast::error::RecvError::Closed) => {
                std::future::pending::<()>().await;
            }
        }
    }
}

/// When a cancel request is announced for an operation this process runs,
/// its heartbeat renews at once and so learns who asked.
async fn pass_on_cancel_requests(worker: Arc<Worker>) {
    let mut notifications = worker.store.subscribe();
    loop {
        match notifications.recv().await {
            Ok(Notification::CancelRequested { operation }) => {
                if let Some(run) = worker.running(&operation) {
                    run.renew_now.notify_one();
                }
            }
            Ok(Notification::Resync) | Err(broadcast::error::RecvError::Lagged(_)) => {
                for run in worker.running.lock().expect("running lock").values() {
                    run.renew_now.notify_one();
                }
            }
            Ok(_) => {}
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

async fn run_operation(worker: &Worker, lease: Lease, secret: String) {
    let started = Instant::now();
    let op = lease.operation.clone();
    let running = Arc::new(RunningOperation::new());
    worker
        .running
        .lock()
        .expect("running lock")
        .insert(op.id.clone(), running.clone());
    info!("operation started");

    let heartbeat = tokio::spawn(heartbeat(
        worker.store.clone(),
        worker.metrics.clone(),
        op.clone(),
        worker.id.clone(),
        worker.config.lease,
        running.clone(),
    ));
    let (events, received) = mpsc::unbounded_channel();
    let writer = tokio::spawn(write_events(
        worker.store.clone(),
        op.clone(),
        worker.config.lease,
        received,
    ));

    let outcome = match op.kind.terraform_command() {
        Some(command) => {
            run_infrastructure(worker, &lease, command, &secret, &events, &running).await
        }
        None => crate::jobs::run(worker, &lease, &secret, &events, &running).await,
    };
    drop(events);
    let _ = writer.await;
    // A state Terraform could not save (the backend was unreachable) is
    // saved now, while the operation still holds its lease.
    crate::recovery::save_unsaved_states(worker, Some(&op.id)).await;
    heartbeat.abort();
    worker.running.lock().expect("running lock").remove(&op.id);

    let finished = match (outcome, running.reason()) {
        (_, Some(StopReason::LeaseLost)) => {
            warn!("lease lost; another process settled the operation");
            return;
        }
        (Err(EngineError::Cancelled), Some(StopReason::Shutdown)) => {
            info!("stopped by shutdown; recovery settles it at the next start");
            return;
        }
        (Ok(_), Some(StopReason::Shutdown)) if !op.kind.is_infrastructure() => {
            info!("run stopped by shutdown; recovery removes its runner at the next start");
            return;
        }
        (Err(EngineError::Cancelled), Some(StopReason::Cancelled { by })) => Finished {
            ending: Ending::Stopped {
                state: OperationState::Cancelled,
                error: format!("cancelled by {by}"),
            },
            result: Value::Null,
        },
        (Ok(finished), _) => finished,
        (Err(e), _) => Finished {
            ending: Ending::Stopped {
                state: OperationState::Failed,
                error: e.to_string(),
            },
            result: Value::Null,
        },
    };
    let state = finished.ending.operation_state();
    finish(worker, &op, finished.ending, finished.result).await;
    worker
        .metrics
        .operations
        .get_or_create(&OperationLabels {
            kind: op.kind.as_str(),
            result: state.as_str(),
        })
        .inc();
    worker
        .metrics
        .operation_duration
        .get_or_create(&KindLabel {
            kind: op.kind.as_str(),
        })
        .observe(started.elapsed().as_secs_f64());
}

/// Deploy, update, destroy or refresh: Terraform on the cluster's module,
/// with everything from the lease.
async fn run_infrastructure(
    worker: &Worker,
    lease: &Lease,
    command: TerraformCommand,
    secret: &str,
    events: &mpsc::UnboundedSender<NewEvent>,
    running: &RunningOperation,
) -> Result<Finished, EngineError> {
    let op = &lease.operation;
    let blueprint = leased_blueprint(lease)?;
    let runtime_dir = cluster_runtime_dir(worker, op, &lease.cluster).await?;
    let mut variables = standard_variables(worker, op, &lease.cluster, blueprint, &runtime_dir);
    let user = secrets::open_variables(&worker.sealer, &op.cluster, &op.spec.variables)
        .map_err(|e| invalid(op, format!("cannot open the sealed variables: {e}")))?;
    let user = blueprint
        .metadata
        .resolve_variables(&user)
        .map_err(|e| invalid(op, e.to_string()))?;
    variables.extend(user);
    let run = terraform_run(
        worker,
        op,
        lease.cluster.organization.as_str(),
        secret,
        TerraformModule::of(op, blueprint),
        command,
        variables,
        worker.config.operation_time_limit,
    )?;
    let report = run_terraform(worker, &run, events, &running.cancel).await?;
    match &report.observation {
        Some(o) if op.kind == OperationKind::Plan => report_plan(events, o),
        Some(o) if !o.converged && o.resources > 0 => report_difference(events, o),
        _ => {}
    }
    Ok(Finished {
        ending: ending_of(command, &report),
        result: json!({
            "outputs": report.outputs,
            "observation": report.observation.as_ref().map(|o| json!({
                "resources": o.resources,
                "converged": o.converged,
                "changes": o.changes,
            })),
        }),
    })
}

/// Tells in the log what a refresh found differing from the configuration:
/// what the next deploy would change.
fn report_difference(
    events: &mpsc::UnboundedSender<NewEvent>,
    observation: &slipway_engine::Observation,
) {
    let changes = &observation.changes;
    let listed = changes
        .iter()
        .map(|c| format!("{} ({})", c.resource, c.action))
        .collect::<Vec<_>>()
        .join(", ");
    let message = if changes.is_empty() {
        "the infrastructure differs from the configuration in its outputs only; a deploy would update them".to_owned()
    } else {
        format!(
            "the infrastructure differs from the configuration: a deploy would change {} resource instance(s): {listed}",
            changes.len()
        )
    };
    let _ = events.send(NewEvent {
        at: Utc::now(),
        kind: slipway_core::event::kinds::DRIFT.into(),
        level: slipway_core::event::EventLevel::Warn,
        message,
        data: json!({"changes": changes}),
    });
}

/// Tells in the log what a plan found, in Terraform's words, with the
/// changes as data for the CLI and the web UI.
fn report_plan(
    events: &mpsc::UnboundedSender<NewEvent>,
    observation: &slipway_engine::Observation,
) {
    let summary = observation.summary();
    let message = if observation.converged {
        "No changes. The infrastructure matches the configuration.".to_owned()
    } else if observation.changes.is_empty() {
        format!("{summary} Only outputs change.")
    } else {
        summary.to_string()
    };
    let _ = events.send(NewEvent {
        at: Utc::now(),
        kind: slipway_core::event::kinds::PLAN.into(),
        level: slipway_core::event::EventLevel::Info,
        message,
        data: json!({
            "changes": observation.changes,
            "summary": summary,
            "converged": observation.converged,
        }),
    });
}

fn ending_of(command: TerraformCommand, report: &RunReport) -> Ending {
    match (command, &report.observation) {
        (TerraformCommand::Observe, Some(o)) => Ending::Observed {
            resources: o.resources,
            converged: o.converged,
            differing: o.changes.iter().map(|c| c.resource.clone()).collect(),
            outputs: report.outputs.clone(),
        },
        (TerraformCommand::Apply | TerraformCommand::Destroy, _)
        | (TerraformCommand::Observe, None) => Ending::Succeeded {
            outputs: report.outputs.clone(),
        },
    }
}

/// Records the ending, retrying while the database is unreachable: if it
/// never comes back within the lease, the reclaimer settles the operation.
async fn finish(worker: &Worker, op: &Operation, ending: Ending, result: Value) {
    let deadline = tokio::time::Instant::now() + worker.config.lease;
    loop {
        match worker
            .store
            .finish(
                &op.id,
                &worker.id,
                ending.clone(),
                result.clone(),
                Utc::now(),
            )
            .await
        {
            Ok(done) => {
                info!(state = %done.state, "operation finished");
                // Archiving takes no slot: object storage in trouble (its
                // client retries for minutes) must not stop operations
                // running. A log not archived stays in the database, and
                // is archived when first asked for.
                let (storage, store) = (worker.storage.clone(), worker.store.clone());
                tokio::spawn(
                    async move {
                        if let Err(e) = storage.archive_log(store.as_ref(), &done).await {
                            warn!(error = %e, location = %storage.location, "cannot archive the operation's log");
                        }
                    }
                    .in_current_span(),
                );
                return;
            }
            Err(StoreError::LeaseLost(_)) => {
                warn!("lease lost before the operation could be finished");
                return;
            }
            Err(e) if tokio::time::Instant::now() < deadline => {
                warn!(error = %e, "cannot record the operation's end yet; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => {
                error!(error = %e, "cannot record the operation's end; the reclaimer will interrupt it");
                return;
            }
        }
    }
}

/// Renews the lease every third of its length, or at once when asked; a
/// cancel request stops the run (the lease is still renewed while it winds
/// down); a lost lease stops it too.
async fn heartbeat(
    store: Arc<dyn slipway_store::Store>,
    metrics: Arc<crate::Metrics>,
    op: Operation,
    worker: String,
    lease: Duration,
    running: Arc<RunningOperation>,
) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(lease / 3) => {}
            () = running.renew_now.notified() => {}
        }
        match store.renew_lease(&op.id, &worker, Utc::now(), lease).await {
            Ok(LeaseStatus::Held) => metrics.renewal("held"),
            Ok(LeaseStatus::CancelRequested { by }) => {
                metrics.renewal("cancel_requested");
                if running.reason().is_none() {
                    info!(%by, "cancel requested; stopping the run");
                }
                running.stop(StopReason::Cancelled { by });
            }
            Err(StoreError::LeaseLost(_)) => {
                metrics.renewal("lost");
                running.stop(StopReason::LeaseLost);
                return;
            }
            Err(e) => {
                metrics.renewal("error");
                warn!(error = %e, "cannot renew the lease; retrying");
            }
        }
    }
}

/// How long the first event after a quiet spell waits for the rest of its
/// burst: Terraform writes a burst's lines (a plan's changes, a resource's
/// start and end) within a millisecond or two.
const EVENT_GATHER: Duration = Duration::from_millis(2);
/// The least time between two writes of a run's events: a chatty run's
/// events gather for this long, so it costs one transaction (and one
/// wake-up of every follower) per spell, not one per line.
const EVENT_SPACING: Duration = Duration::from_millis(25);

/// Appends the run's events in batches: an event after a quiet spell is
/// written [`EVENT_GATHER`] after it comes, with the rest of its burst;
/// events that follow a write closely wait for [`EVENT_SPACING`] after it.
async fn write_events(
    store: Arc<dyn slipway_store::Store>,
    op: Operation,
    lease: Duration,
    mut received: mpsc::UnboundedReceiver<NewEvent>,
) {
    const BATCH: usize = 512;
    let mut batch = Vec::with_capacity(BATCH);
    let mut written_at: Option<tokio::time::Instant> = None;
    while received.recv_many(&mut batch, BATCH).await > 0 {
        let gathered = tokio::time::Instant::now() + EVENT_GATHER;
        let linger = tokio::time::sleep_until(
            written_at.map_or(gathered, |at| gathered.max(at + EVENT_SPACING)),
        );
        tokio::pin!(linger);
        while batch.len() < BATCH {
            let room = BATCH - batch.len();
            tokio::select! {
                more = received.recv_many(&mut batch, room) => if more == 0 { break },
                () = &mut linger => break,
            }
        }
        // While the database is unreachable the run goes on and its events
        // wait here; past a lease the operation is interrupted anyway.
        let give_up = tokio::time::Instant::now() + lease;
        let mut attempt = 0;
        while let Err(e) = store.append_events(&op.id, &batch).await {
            if tokio::time::Instant::now() >= give_up {
                error!(error = %e, lost = batch.len(), "cannot store operation events");
                break;
            }
            if attempt == 0 {
                warn!(error = %e, "cannot store operation events yet; retrying");
            }
            attempt += 1;
            tokio::time::sleep(Duration::from_millis(200 * attempt.min(10))).await;
        }
        written_at = Some(tokio::time::Instant::now());
        batch.clear();
    }
}
