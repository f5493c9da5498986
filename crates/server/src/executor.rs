//! The executor: leases queued operations, runs them through the engine with
//! a heartbeat on the lease, streams their events into the store, and
//! finishes them. Also the reclaimer, which interrupts operations whose
//! worker stopped renewing its lease.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};
use slipway_core::event::{EventLevel, NewEvent, kinds};
use slipway_core::lifecycle::Ending;
use slipway_core::{Operation, OperationKind, OperationState};
use slipway_engine::{Action, EngineError, Job, RunReport, StateBackend};
use slipway_store::{Notification, ReclaimScope, RunCredential, StoreError};
use tokio::sync::{Semaphore, broadcast, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, error, info, info_span, warn};

use crate::app::{App, RunningOperation, StopReason};

/// How often the executor looks for work when no notification wakes it
/// (another process may have queued it).
const POLL_INTERVAL: Duration = Duration::from_secs(5);

/// Leases and runs operations until shutdown, at most
/// `executor.max_concurrent` at once; then stops the running ones and waits
/// for them to wind down.
pub async fn run(app: Arc<App>) {
    let slots = Arc::new(Semaphore::new(app.config.executor.max_concurrent.max(1)));
    let mut notifications = app.store.subscribe();
    let mut tasks = JoinSet::new();
    loop {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            () = app.shutdown.cancelled() => break,
        };
        match app
            .store
            .lease_next(
                &app.worker_id,
                &app.config.executor.tags,
                Utc::now(),
                app.config.executor.lease,
            )
            .await
        {
            Ok(Some(op)) => {
                let app = app.clone();
                let span =
                    info_span!("operation", id = %op.id, cluster = %op.cluster, kind = %op.kind);
                tasks.spawn(
                    async move {
                        run_operation(&app, op).await;
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
            () = app.shutdown.cancelled() => break,
        }
    }
    for op in app.running.lock().expect("running lock").values() {
        op.stop(StopReason::Shutdown);
    }
    while tasks.join_next().await.is_some() {}
}

async fn wait_for_work(notifications: &mut broadcast::Receiver<Notification>) {
    loop {
        match notifications.recv().await {
            Ok(Notification::Queued { .. } | Notification::Resync)
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

/// Interrupts operations whose lease expired: their worker died or lost
/// the database. Each gets an event saying so and a refresh reconciles its
/// cluster.
pub async fn reclaim_expired(app: Arc<App>) {
    let every = app.config.executor.lease / 2;
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = app.shutdown.cancelled() => return,
        }
        match app
            .store
            .reclaim(ReclaimScope::ExpiredLeases, Utc::now())
            .await
        {
            Ok(ops) => {
                for op in ops {
                    warn!(operation = %op.id, cluster = %op.cluster, "lease expired; operation interrupted");
                }
            }
            Err(e) => warn!(error = %e, "reclaiming expired leases failed"),
        }
    }
}

async fn run_operation(app: &App, op: Operation) {
    let running = Arc::new(RunningOperation {
        cancel: CancellationToken::new(),
        reason: Arc::new(Mutex::new(None)),
    });
    app.running
        .lock()
        .expect("running lock")
        .insert(op.id.clone(), running.clone());
    info!("operation started");

    let heartbeat = tokio::spawn(heartbeat(
        app.store.clone(),
        op.clone(),
        app.worker_id.clone(),
        app.config.executor.lease,
        running.clone(),
    ));
    let (events, received) = mpsc::unbounded_channel();
    let writer = tokio::spawn(write_events(
        app.store.clone(),
        op.clone(),
        app.config.executor.lease,
        received,
    ));

    let outcome = if op.kind.is_infrastructure() {
        run_infrastructure(app, &op, &events, &running.cancel).await
    } else {
        crate::jobs::run(app, &op, &events, &running).await
    };
    drop(events);
    let _ = writer.await;
    // A state Terraform could not save (the backend was unreachable) is
    // saved now, while the operation still holds its lease.
    save_unsaved_states(app, Some(&op.id)).await;
    heartbeat.abort();
    app.running.lock().expect("running lock").remove(&op.id);

    let reason = running.reason.lock().expect("stop reason lock").clone();
    let finished = match (outcome, reason) {
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
    finish(app, &op, finished.ending, finished.result).await;
}

/// How an operation ended, and what it leaves in its `result`.
pub(crate) struct Finished {
    pub ending: Ending,
    pub result: Value,
}

/// Deploy, update, destroy or refresh: Terraform on the cluster's module.
async fn run_infrastructure(
    app: &App,
    op: &Operation,
    events: &mpsc::UnboundedSender<NewEvent>,
    cancel: &CancellationToken,
) -> Result<Finished, EngineError> {
    let job = build_job(app, op).await?;
    let report = app.engine.run(&job, events, cancel).await?;
    Ok(Finished {
        ending: ending_of(op, &report),
        result: json!({
            "outputs": report.outputs,
            "observation": report.observation.map(|o| json!({"resources": o.resources, "converged": o.converged})),
        }),
    })
}

fn ending_of(op: &Operation, report: &RunReport) -> Ending {
    match (op.kind, report.observation) {
        (OperationKind::Refresh, Some(o)) => Ending::Observed {
            resources: o.resources,
            converged: o.converged,
            outputs: report.outputs.clone(),
        },
        _ => Ending::Succeeded {
            outputs: report.outputs.clone(),
        },
    }
}

/// Records the ending, retrying while the database is unreachable: if it
/// never comes back within the lease, the reclaimer settles the operation.
async fn finish(app: &App, op: &Operation, ending: Ending, result: Value) {
    let deadline = tokio::time::Instant::now() + app.config.executor.lease;
    loop {
        match app
            .store
            .finish(
                &op.id,
                &app.worker_id,
                ending.clone(),
                result.clone(),
                Utc::now(),
            )
            .await
        {
            Ok(done) => {
                info!(state = %done.state, "operation finished");
                if let Err(e) = app.archive_log(&done).await {
                    warn!(error = %e, location = %app.storage.location, "cannot archive the operation's log");
                }
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

/// Adds to the log of each interrupted run a previous process left behind
/// how its apply ended: its Terraform went on alone after that process died
/// (it got SIGINT and stopped, or finished), and nobody was left to record
/// it. Only counts are told, as nobody is left to mask the lines themselves
/// either.
pub async fn report_leftover_runs(app: &App) {
    for run in app.engine.take_leftover_runs() {
        let (Ok(id), Some(ending)) = (slipway_core::OperationId::parse(&run.run_id), run.apply)
        else {
            continue;
        };
        // Running: on a shared database, until a reclaimer interrupts it.
        match app.store.operation(&id).await {
            Ok(Some(op))
                if matches!(
                    op.state,
                    OperationState::Interrupted | OperationState::Running
                ) => {}
            Ok(_) => continue,
            Err(e) => {
                warn!(error = %e, operation = %id, "cannot look up a run left behind");
                continue;
            }
        }
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
        if let Err(e) = app.store.append_events(&id, &[event]).await {
            warn!(error = %e, operation = %id, "cannot add how a run's apply ended to its log");
        }
    }
}

/// Saves the states runs of this process left in `errored.tfstate` because
/// Terraform could not reach the state backend — `only` this operation's,
/// or (at start-up) every one whose operation is over. A saved state gets
/// a refresh, so the cluster's status reflects it.
pub async fn save_unsaved_states(app: &App, only: Option<&slipway_core::OperationId>) {
    for unsaved in app.engine.unsaved_states() {
        let Ok(id) = slipway_core::OperationId::parse(&unsaved.run_id) else {
            app.engine.forget_run(&unsaved.run_id);
            continue;
        };
        if only.is_some_and(|o| *o != id) {
            continue;
        }
        let op = match app.store.operation(&id).await {
            Ok(Some(op)) => op,
            Ok(None) => {
                app.engine.forget_run(&unsaved.run_id);
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
        let key = state_key(&op);
        let saved = match app.seal_state(&key, &unsaved.state) {
            Ok(sealed) => app.store.recover_state(&key, &id, sealed, Utc::now()).await,
            Err(e) => {
                error!(error = %e, operation = %id, "cannot seal an unsaved state");
                continue;
            }
        };
        match saved {
            Ok(true) => {
                warn!(operation = %id, cluster = %key, "saved the state Terraform could not save itself");
                if op.state.is_terminal() && op.kind.is_infrastructure() {
                    reconcile(app, &op.cluster).await;
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
        app.engine.forget_run(&unsaved.run_id);
    }
}

/// Whose Terraform state an operation's runs use: its cluster's, or for a
/// TEST, RELEASE or cleanup the state of its runner (`runner/<run>`; cluster
/// names have no `/`).
pub(crate) fn state_key(op: &Operation) -> String {
    match &op.job {
        Some(job) => format!("runner/{}", job.runner),
        None => op.cluster.to_string(),
    }
}

/// Queues a refresh of the cluster (reason `recovery`).
async fn reconcile(app: &App, cluster: &slipway_core::ClusterName) {
    let now = Utc::now();
    let ctx = slipway_core::rules::Context {
        now,
        actor: "recovery".into(),
        level: slipway_core::Level::Admin,
        reason: slipway_core::Reason::Recovery,
        new_operation_id: slipway_core::OperationId::from_uuid(uuid::Uuid::now_v7()),
    };
    let audit = slipway_store::AuditIntent {
        actor: "recovery".into(),
        level: "system".into(),
        action: "cluster.reconcile".into(),
    };
    if let Err(e) = app
        .store
        .apply(cluster, now, &audit, &|snap| {
            Ok(slipway_core::rules::decide_reconcile(snap, &ctx))
        })
        .await
    {
        warn!(error = %e, %cluster, "cannot queue a reconciling refresh");
    }
}

/// Renews the lease at a third of its length; a lost lease stops the run.
async fn heartbeat(
    store: Arc<dyn slipway_store::Store>,
    op: Operation,
    worker: String,
    lease: Duration,
    running: Arc<RunningOperation>,
) {
    loop {
        tokio::time::sleep(lease / 3).await;
        match store.renew_lease(&op.id, &worker, Utc::now(), lease).await {
            Ok(()) => {}
            Err(StoreError::LeaseLost(_)) => {
                running.stop(StopReason::LeaseLost);
                return;
            }
            Err(e) => warn!(error = %e, "cannot renew the lease; retrying"),
        }
    }
}

/// How long events may gather before they are written: Terraform emits them
/// in bursts, and one transaction (and one wake-up of every follower) per
/// burst costs far less than one per event.
const EVENT_LINGER: Duration = Duration::from_millis(25);

/// Appends the run's events in batches: the first event of a batch waits
/// [`EVENT_LINGER`] for the rest of its burst.
async fn write_events(
    store: Arc<dyn slipway_store::Store>,
    op: Operation,
    lease: Duration,
    mut received: mpsc::UnboundedReceiver<NewEvent>,
) {
    const BATCH: usize = 512;
    let mut batch = Vec::with_capacity(BATCH);
    while received.recv_many(&mut batch, BATCH).await > 0 {
        let linger = tokio::time::sleep(EVENT_LINGER);
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
        batch.clear();
    }
}

/// The Terraform job for an infrastructure operation: its blueprint
/// version's module, the standard and user variables, the action.
async fn build_job(app: &App, op: &Operation) -> Result<Job, EngineError> {
    let blueprint = blueprint_of(app, op).await?;
    let cluster = cluster_of(app, op).await?;
    let mut variables = standard_variables(app, op, &cluster, &blueprint)?;
    let user = blueprint
        .metadata
        .resolve_variables(&op.spec.variables)
        .map_err(|e| invalid(op, e.to_string()))?;
    variables.extend(user);
    let secret = run_credential(app, op).await?;
    Ok(terraform_job(
        app,
        op,
        &secret,
        TerraformModule {
            key: module_key(op, &blueprint),
            files: blueprint.files.clone(),
            sensitive: blueprint
                .metadata
                .sensitive_variables()
                .map(str::to_owned)
                .collect(),
        },
        match op.kind {
            OperationKind::Destroy => Action::Destroy,
            OperationKind::Refresh => Action::Observe,
            _ => Action::Apply,
        },
        variables,
        app.config.executor.operation_time_limit,
    ))
}

pub(crate) fn invalid(op: &Operation, reason: String) -> EngineError {
    EngineError::InvalidModule {
        file: format!("{}@{}", op.spec.blueprint, op.spec.version),
        reason,
    }
}

/// The blueprint version an operation runs.
pub(crate) async fn blueprint_of(
    app: &App,
    op: &Operation,
) -> Result<slipway_store::BlueprintVersion, EngineError> {
    app.store
        .blueprint_version(op.spec.blueprint.as_str(), &op.spec.version)
        .await
        .map_err(|e| invalid(op, e.to_string()))?
        .ok_or_else(|| invalid(op, "this blueprint version is not registered".into()))
}

pub(crate) async fn cluster_of(
    app: &App,
    op: &Operation,
) -> Result<slipway_core::Cluster, EngineError> {
    Ok(app
        .store
        .cluster(&op.cluster)
        .await
        .map_err(|e| invalid(op, e.to_string()))?
        .ok_or_else(|| invalid(op, format!("cluster {} no longer exists", op.cluster)))?
        .cluster)
}

/// The variables Slipway offers every module of the cluster (a module gets
/// those it declares).
pub(crate) fn standard_variables(
    app: &App,
    op: &Operation,
    cluster: &slipway_core::Cluster,
    blueprint: &slipway_store::BlueprintVersion,
) -> Result<serde_json::Map<String, Value>, EngineError> {
    let public_url = app.config.public_url();
    let standard = json!({
        "cluster_name": cluster.name,
        "organization": cluster.organization,
        "is_public": cluster.public,
        "node_count": op.spec.nodes,
        "min_nodes": blueprint.metadata.nodes.min,
        "max_nodes": blueprint.metadata.nodes.max,
        "version": op.spec.version,
        "tags": {
            "slipway:org": cluster.organization,
            "slipway:cluster": cluster.name,
            "slipway:owner": cluster.created_by,
        },
        "jwt_issuer": public_url,
        "jwks_url": format!("{public_url}/.well-known/jwks.json"),
        "runtime_dir": app.config.data_dir.join("runtime").join(cluster.name.as_str()),
        "slipway_bin": std::env::current_exe().map_err(|e| EngineError::Io { path: "slipway".into(), source: e })?,
    });
    let Value::Object(variables) = standard else {
        unreachable!("an object literal")
    };
    Ok(variables)
}

/// Records the credential this operation's Terraform reaches its state with
/// (`state_key`), valid while the operation runs; returns its secret.
pub(crate) async fn run_credential(app: &App, op: &Operation) -> Result<String, EngineError> {
    let secret = slipway_auth::api_token::new_secret();
    app.store
        .put_run_credential(
            RunCredential {
                operation: op.id.clone(),
                state_key: state_key(op),
                secret_hash: slipway_auth::api_token::hash_secret(&secret),
            },
            Utc::now(),
        )
        .await
        .map_err(|e| invalid(op, format!("cannot record the run's credential: {e}")))?;
    Ok(secret)
}

/// Names the working directory of a blueprint version's module.
pub(crate) fn module_key(op: &Operation, blueprint: &slipway_store::BlueprintVersion) -> String {
    format!(
        "{}-{}-{}",
        op.spec.blueprint,
        op.spec.version,
        &blueprint.digest[..blueprint.digest.len().min(16)]
    )
}

/// A module to run: its files, the working directory's name, and which of
/// its variables are secrets.
pub(crate) struct TerraformModule {
    pub key: String,
    pub files: std::collections::BTreeMap<String, String>,
    pub sensitive: std::collections::BTreeSet<String>,
}

/// A Terraform run of the operation against Slipway's state backend, with
/// the operation's credential.
pub(crate) fn terraform_job(
    app: &App,
    op: &Operation,
    secret: &str,
    module: TerraformModule,
    action: Action,
    variables: serde_json::Map<String, Value>,
    time_limit: Duration,
) -> Job {
    let public_url = app.config.public_url();
    Job {
        run_id: op.id.to_string(),
        module_key: module.key,
        action,
        module: module.files,
        variables,
        sensitive_variables: module.sensitive,
        secret_env: vec![("TF_HTTP_PASSWORD".into(), secret.to_owned())],
        backend: StateBackend {
            address: format!("{public_url}/v1/terraform/state"),
            lock_address: format!("{public_url}/v1/terraform/lock"),
            unlock_address: format!("{public_url}/v1/terraform/lock"),
            username: op.id.to_string(),
        },
        time_limit,
    }
}
