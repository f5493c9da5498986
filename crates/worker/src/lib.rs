//! What runs Slipway's operations, and nothing else: it never sees HTTP.
//!
//! - [`executor`]: leases queued operations (the lease carries everything
//!   the run needs), runs them through the engine with a heartbeat on the
//!   lease that also carries cancel requests, streams their events into the
//!   store, finishes them.
//! - [`jobs`]: TEST, RELEASE and cleanup operations on their runners.
//! - [`scheduler`]: fires scheduled destroys.
//! - [`accounting`]: the keeper of organizations' accounts: hourly, and
//!   at once when one changes, it runs `slipway_accounts`' reconciliation.
//! - [`capacity`]: the keeper of capacity requests: clusters follow them at
//!   each expiry and when what a change waited for may have changed.
//! - [`recovery`]: what a previous process left (interrupted operations,
//!   leftover runs, unsaved states), and the reclaimer of expired leases.
//! - [`metrics`]: the worker's Prometheus series.
//!
//! A [`Worker`] is a narrow context: the store, the engine, object storage
//! ([`slipway_store::objects`]), the sealer, a [`TokenIssuer`] for runs'
//! cluster tokens, and its own
//! [`ExecutorConfig`]. `slipway serve` runs one beside its API; `slipway
//! worker` runs one alone.

// A new variant of an enum must be handled where it is matched: no
// wildcard arm swallows it (ARCHITECTURE.md, "Adding an operation kind").
#![warn(clippy::wildcard_enum_match_arm)]

pub mod accounting;
pub mod capacity;
pub mod drift;
pub mod executor;
pub mod jobs;
pub mod metrics;
pub mod recovery;
pub mod scheduler;
mod terraform;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use slipway_auth::TokenIssuer;
use slipway_auth::keys::Sealer;
use slipway_core::OperationId;
use slipway_engine::Engine;
use slipway_store::Store;
use slipway_store::objects::Storage;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub use metrics::Metrics;

/// How operations are run (`[executor]` in the configuration).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExecutorConfig {
    /// Run operations in this process (API replicas may leave it to workers).
    pub enabled: bool,
    /// What this process offers (a cloud account, a region, …); blueprints
    /// that require tags run only where all are offered.
    pub tags: Vec<String>,
    /// Terraform runs at once in this process.
    pub max_concurrent: usize,
    /// How long a lease on a running operation lasts without renewal. The
    /// lease is renewed every third of it, and a cancel request reaches the
    /// worker at the latest then.
    #[serde(with = "humantime_serde")]
    pub lease: Duration,
    /// The longest an operation may run before it is stopped.
    #[serde(with = "humantime_serde")]
    pub operation_time_limit: Duration,
    /// How often each protected running cluster is checked for drift (a
    /// refresh), its moment in each interval spread by its name; `0s`: never.
    #[serde(with = "humantime_serde")]
    pub drift_interval: Duration,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            tags: Vec::new(),
            max_concurrent: 4,
            lease: Duration::from_secs(30),
            operation_time_limit: Duration::from_secs(3600),
            drift_interval: Duration::from_secs(86_400),
        }
    }
}

/// Why a running operation is being stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// Someone asked (`slipway cancel`), through any replica.
    Cancelled { by: String },
    /// This process is shutting down; recovery will settle the operation.
    Shutdown,
    /// Another process reclaimed the operation.
    LeaseLost,
}

/// How an operation ended, and what it leaves in its `result`.
pub(crate) struct Finished {
    pub ending: slipway_core::lifecycle::Ending,
    pub result: serde_json::Value,
}

/// An operation this process runs right now, and how to stop it.
pub struct RunningOperation {
    pub cancel: CancellationToken,
    pub reason: Mutex<Option<StopReason>>,
    /// Renews the lease at once (a cancel request was announced).
    pub renew_now: Notify,
}

impl RunningOperation {
    fn new() -> Self {
        Self {
            cancel: CancellationToken::new(),
            reason: Mutex::new(None),
            renew_now: Notify::new(),
        }
    }

    /// Stops the run; the first reason given is the one that counts.
    pub fn stop(&self, reason: StopReason) {
        self.reason
            .lock()
            .expect("stop reason lock")
            .get_or_insert(reason);
        self.cancel.cancel();
    }

    pub fn reason(&self) -> Option<StopReason> {
        self.reason.lock().expect("stop reason lock").clone()
    }
}

/// Everything a worker needs, and nothing of HTTP.
pub struct Worker {
    pub store: Arc<dyn Store>,
    pub engine: Arc<Engine>,
    pub storage: Arc<Storage>,
    pub sealer: Arc<Sealer>,
    pub tokens: Arc<dyn TokenIssuer>,
    pub config: ExecutorConfig,
    /// Organizations' accounts, budgets and capacity.
    pub accounts: slipway_accounts::accounting::AccountsConfig,
    /// Where Terraform reaches the state backend and clusters reach the
    /// token issuer (Slipway's public URL).
    pub public_url: String,
    /// The data directory: local clusters' and runners' runtime files.
    pub data_dir: PathBuf,
    /// This process's name as a worker: leases are held in it.
    pub id: String,
    /// Whether this process holds the only handle on the database (SQLite):
    /// then whatever is running at start-up was interrupted.
    pub exclusive_database: bool,
    pub metrics: Arc<Metrics>,
    /// Cancelled when the process shuts down.
    pub shutdown: CancellationToken,
    running: Mutex<HashMap<OperationId, Arc<RunningOperation>>>,
}

/// What a [`Worker`] is made of.
pub struct Parts {
    pub store: Arc<dyn Store>,
    pub engine: Arc<Engine>,
    pub storage: Arc<Storage>,
    pub sealer: Arc<Sealer>,
    pub tokens: Arc<dyn TokenIssuer>,
    pub config: ExecutorConfig,
    pub accounts: slipway_accounts::accounting::AccountsConfig,
    pub public_url: String,
    pub data_dir: PathBuf,
    pub id: String,
    pub exclusive_database: bool,
    pub metrics: Arc<Metrics>,
    pub shutdown: CancellationToken,
}

impl Worker {
    pub fn new(parts: Parts) -> Arc<Self> {
        Arc::new(Self {
            store: parts.store,
            engine: parts.engine,
            storage: parts.storage,
            sealer: parts.sealer,
            tokens: parts.tokens,
            config: parts.config,
            accounts: parts.accounts,
            public_url: parts.public_url,
            data_dir: parts.data_dir,
            id: parts.id,
            exclusive_database: parts.exclusive_database,
            metrics: parts.metrics,
            shutdown: parts.shutdown,
            running: Mutex::new(HashMap::new()),
        })
    }

    /// Starts the background work of a process: the reclaimer, the
    /// scheduler, the keepers of accounts and capacity, and (if enabled)
    /// the executor. Call [`recovery::recover`] first.
    pub fn start(self: &Arc<Self>) -> Vec<tokio::task::JoinHandle<()>> {
        let mut tasks = vec![
            tokio::spawn(recovery::reclaim_expired(self.clone())),
            tokio::spawn(scheduler::run(self.clone())),
            tokio::spawn(accounting::run(self.clone())),
            tokio::spawn(capacity::run(self.clone())),
            tokio::spawn(drift::run(self.clone())),
        ];
        if self.config.enabled {
            tasks.push(tokio::spawn(executor::run(self.clone())));
        }
        tasks
    }

    fn running(&self, id: &OperationId) -> Option<Arc<RunningOperation>> {
        self.running.lock().expect("running lock").get(id).cloned()
    }
}
