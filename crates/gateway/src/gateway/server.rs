//! The gateway as a value: built from a [`Config`], served on a listener
//! until a shutdown future completes.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::auth::Authenticator;
use super::config::Config;
use super::keys::KeyStore;
use super::limits::{RateLimits, SWEEP_EVERY};
use super::metrics::Metrics;
use super::revocations::{Fetched, Revocations};
use super::shared::Shared;
use super::upstream::{NodeStatus, Upstreams};
use super::{GatewayError, proxy};

/// How long in-flight requests get to finish once shutdown was asked for.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// How long a client may take to send a request's headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long [`Gateway::new`] waits for the first JWKS fetch.
const FIRST_FETCH_WAIT: Duration = Duration::from_secs(5);

/// A gateway ready to serve: the revocation list kept by its last run
/// loaded, keys and revocation list fetched (or tried), nodes found and
/// health-checked once, background tasks (health checks, key and
/// revocation list refresh, eviction) running until it is dropped.
pub struct Gateway {
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Gateway {
    /// Builds the gateway: checks the configuration, loads the revocation
    /// list its previous run kept (a file that cannot be read is an error),
    /// fetches the issuer's keys and then its revocation list (waiting at
    /// most a few seconds; an unreachable issuer is retried in the
    /// background), finds the nodes and checks their health once, and
    /// starts the background tasks. Must run in a Tokio runtime.
    pub async fn new(config: Config) -> Result<Self, GatewayError> {
        config.validate()?;
        let workers = match config.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let metrics = Arc::new(Metrics::new());
        let keys = Arc::new(KeyStore::new(
            config.effective_jwks_url(),
            config.jwks_refetch_min,
            metrics.clone(),
        ));
        let revocations = Arc::new(Revocations::new(&config, keys.clone(), metrics.clone()));
        revocations.load()?;
        metrics.revoked_tokens.set(revocations.len() as i64);
        metrics
            .revoked_subjects
            .set(revocations.subjects_len() as i64);
        let auth = Authenticator::new(
            config.issuer.as_deref(),
            &config.cluster,
            keys.clone(),
            revocations.clone(),
            config.token_cache_size,
            metrics.clone(),
        );
        let upstreams = Upstreams::new(
            &config.cluster,
            &config.nodes,
            config.node_dir.clone(),
            config.connect_timeout,
            config.health_timeout,
            workers,
            metrics.clone(),
        )
        .map_err(GatewayError::Config)?;
        let realm = HeaderValue::from_str(&format!(
            "Bearer realm=\"{}\"",
            config.cluster.replace(['"', '\\'], "_")
        ))
        .map_err(|_| GatewayError::Config("the cluster name cannot be a header value".into()))?;
        if config.issuer.is_none() {
            tracing::warn!(
                cluster = %config.cluster,
                "no token issuer configured: every token is refused{}",
                if config.public { "" } else { ", and this private cluster admits nobody" }
            );
        }
        let shared = Arc::new(Shared {
            limits: RateLimits::new(&config.limits),
            metrics_on_main: config.metrics_listen.is_none(),
            workers,
            config,
            auth,
            keys,
            revocations,
            upstreams,
            metrics,
            realm,
        });

        // The keys first: the revocation list is verified with them.
        let first_fetches = async {
            let keys = shared.keys.refresh().await;
            let revocations = match shared.revocations.url() {
                Some(_) => Some(shared.revocations.refresh().await),
                None => None,
            };
            (keys, revocations)
        };
        let (first_fetch, _) = tokio::join!(
            tokio::time::timeout(FIRST_FETCH_WAIT, first_fetches),
            shared.upstreams.round(),
        );
        let mut revocations_failing = false;
        match first_fetch {
            _ if shared.keys.url().is_none() => {}
            Ok((keys, revocations)) => {
                if let Err(err) = keys {
                    tracing::warn!(error = %err, "the issuer's keys are unavailable for now; retrying");
                }
                if let Some(fetched) = revocations {
                    log_revocations(&fetched, &mut revocations_failing);
                }
            }
            Err(_) => {
                revocations_failing = true;
                tracing::warn!(
                    "the issuer's keys or revocation list did not arrive in time; retrying"
                );
            }
        }

        let tasks = vec![
            tokio::spawn(health_loop(shared.clone())),
            tokio::spawn(keys_loop(shared.clone())),
            tokio::spawn(revocations_loop(shared.clone(), revocations_failing)),
            tokio::spawn(sweep_loop(shared.clone())),
        ];
        Ok(Self { shared, tasks })
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// Every known node and whether it is healthy.
    pub fn nodes(&self) -> Vec<NodeStatus> {
        self.shared.upstreams.statuses()
    }

    /// Follows the nodes' health: the receiver sees every change (a node
    /// found, gone, up or down).
    pub fn watch_nodes(&self) -> watch::Receiver<Vec<NodeStatus>> {
        self.shared.upstreams.subscribe()
    }

    /// The metrics, as `/metrics` serves them.
    pub fn metrics_text(&self) -> String {
        self.shared.metrics.encode()
    }

    /// Serves HTTP/1.1 and HTTP/2 (cleartext) on `listener` until
    /// `shutdown` completes, then lets in-flight requests finish for at
    /// most [`SHUTDOWN_GRACE`]. With a separate metrics address configured,
    /// serves `/metrics` there too.
    ///
    /// Requests are served by worker threads of their own (`workers` of the
    /// configuration; one per CPU by default), each with a single-threaded
    /// runtime that accepts from the shared listener and keeps its own
    /// connections to the nodes: a request never changes threads. The
    /// background tasks stay on the caller's runtime.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), GatewayError> {
        let metrics_listener = match self.shared.config.metrics_listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|e| GatewayError::io(format!("listening on {addr}"), e))?,
            ),
            None => None,
        };
        self.serve_with_metrics(listener, metrics_listener, shutdown)
            .await
    }

    /// [`serve`](Self::serve), with the metrics listener bound by the caller.
    pub async fn serve_with_metrics(
        self,
        listener: TcpListener,
        metrics_listener: Option<TcpListener>,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), GatewayError> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let metrics_task = metrics_listener.map(|l| {
            let shared = self.shared.clone();
            let mut stop = stop_rx.clone();
            tokio::spawn(async move {
                tokio::select! {
                    () = serve_metrics(shared, l) => {}
                    _ = stop.changed() => {}
                }
            })
        });
        let result = serve_on_workers(self.shared.clone(), listener, shutdown).await;
        let _ = stop_tx.send(true);
        if let Some(task) = metrics_task {
            let _ = task.await;
        }
        result
    }
}

/// Builds a gateway and serves it: [`Gateway::new`] then
/// [`Gateway::serve`].
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), GatewayError> {
    Gateway::new(config).await?.serve(listener, shutdown).await
}

/// Runs [`accept_loop`] on `shared.workers` threads, each with its own
/// single-threaded runtime and a clone of the listener, until `shutdown`.
async fn serve_on_workers(
    shared: Arc<Shared>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), GatewayError> {
    let listener = listener
        .into_std()
        .map_err(|e| GatewayError::io("taking over the listener", e))?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut workers = Vec::new();
    for index in 0..shared.workers {
        let listener = listener
            .try_clone()
            .map_err(|e| GatewayError::io("sharing the listener", e))?;
        let shared = shared.clone();
        let mut stop = stop_rx.clone();
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name(format!("gateway-worker-{index}"))
            .spawn(move || {
                let result = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| GatewayError::io("starting a worker runtime", e))
                    .and_then(|runtime| {
                        runtime.block_on(async move {
                            super::upstream::set_worker_index(index);
                            let listener = TcpListener::from_std(listener)
                                .map_err(|e| GatewayError::io("registering the listener", e))?;
                            let stopped = async move {
                                let _ = stop.wait_for(|stop| *stop).await;
                            };
                            accept_loop(shared, listener, stopped).await
                        })
                    });
                let _ = done_tx.send(result);
            })
            .map_err(|e| GatewayError::io("starting a worker thread", e))?;
        workers.push(done_rx);
    }
    drop(listener);
    let mut result = Ok(());
    tokio::select! {
        () = shutdown => {}
        // A worker that ends by itself failed: stop the others.
        (ended, _, _) = futures::future::select_all(workers.iter_mut()) => {
            result = match ended {
                Ok(Err(err)) => Err(err),
                _ => Err(GatewayError::Failed("a worker thread stopped".into())),
            };
        }
    }
    let _ = stop_tx.send(true);
    for worker in workers {
        if let Ok(Err(err)) = worker.await
            && result.is_ok()
        {
            result = Err(err);
        }
    }
    result
}

fn builder() -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .keep_alive(true);
    builder
}

async fn accept_loop(
    shared: Arc<Shared>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), GatewayError> {
    let builder = builder();
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let shared = shared.clone();
                    let peer = Arc::new(proxy::Peer::new(peer, &shared.config.trusted_proxies));
                    let service = service_fn(move |request| {
                        proxy::handle(shared.clone(), peer.clone(), request)
                    });
                    let connection = builder
                        .serve_connection(TokioIo::new(stream), service)
                        .into_owned();
                    let connection = graceful.watch(connection);
                    tokio::spawn(async move {
                        if let Err(err) = connection.await {
                            tracing::debug!(error = %err, "client connection ended");
                        }
                    });
                }
                Err(err) => {
                    // Out of file descriptors, typically: wait a little.
                    tracing::warn!(error = %err, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(SHUTDOWN_GRACE) => {
            tracing::warn!(
                "requests still in flight {}s after shutdown; exiting anyway",
                SHUTDOWN_GRACE.as_secs()
            );
        }
    }
    Ok(())
}

/// `/metrics` (and nothing else) on a separate listener.
async fn serve_metrics(shared: Arc<Shared>, listener: TcpListener) {
    use bytes::Bytes;
    use http_body_util::Full;
    let builder = builder();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let shared = shared.clone();
        let service = service_fn(move |request: http::Request<hyper::body::Incoming>| {
            let shared = shared.clone();
            async move {
                let mut response = http::Response::new(Full::new(Bytes::new()));
                if request.uri().path() == "/metrics" {
                    *response.body_mut() = Full::new(Bytes::from(shared.metrics.encode()));
                    response.headers_mut().insert(
                        http::header::CONTENT_TYPE,
                        HeaderValue::from_static(super::metrics::CONTENT_TYPE),
                    );
                } else {
                    *response.status_mut() = http::StatusCode::NOT_FOUND;
                }
                Ok::<_, std::convert::Infallible>(response)
            }
        });
        let connection = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        tokio::spawn(connection);
    }
}

async fn health_loop(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(shared.config.health_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await; // the first round ran in `new`
    loop {
        tick.tick().await;
        shared.upstreams.round().await;
    }
}

async fn keys_loop(shared: Arc<Shared>) {
    if shared.keys.url().is_none() {
        return;
    }
    loop {
        // Until the keys are loaded once, retry often.
        let wait = if shared.keys.loaded() {
            shared.config.jwks_refresh
        } else {
            shared.config.jwks_refetch_min.max(Duration::from_secs(1))
        };
        tokio::time::sleep(wait).await;
        if let Err(err) = shared.keys.refresh().await {
            tracing::warn!(error = %err, "refreshing the issuer's keys failed; keeping the ones known");
        }
    }
}

/// Polls the revocation list every `revocations_refresh` (counted from the
/// end of the previous poll).
async fn revocations_loop(shared: Arc<Shared>, mut failing: bool) {
    if shared.revocations.url().is_none() {
        return;
    }
    loop {
        tokio::time::sleep(shared.config.revocations_refresh).await;
        let fetched = shared.revocations.refresh().await;
        log_revocations(&fetched, &mut failing);
    }
}

/// Logs a poll of the revocation list: a failure when the list stops
/// being obtained (then at debug level while it goes on; the metrics count
/// every one), and when it is obtained again.
fn log_revocations(fetched: &Fetched, failing: &mut bool) {
    match fetched {
        Fetched::Applied { .. } | Fetched::Unchanged => {
            if std::mem::take(failing) {
                tracing::info!("the revocation list is obtained again");
            }
        }
        Fetched::Error(err) if *failing => {
            tracing::debug!(error = %err, "fetching the revocation list failed again")
        }
        Fetched::Invalid(err) if *failing => {
            tracing::debug!(error = %err, "the revocation list is still invalid")
        }
        Fetched::Error(err) => {
            *failing = true;
            tracing::warn!(error = %err, "fetching the revocation list failed; keeping the revoked tokens known, retrying");
        }
        Fetched::Invalid(err) => {
            *failing = true;
            tracing::warn!(error = %err, "the revocation list does not verify; ignoring it, keeping the revoked tokens known");
        }
    }
}

async fn sweep_loop(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let (rate, quota) = shared.limits.sweep();
        shared.metrics.limiter_rate_keys.set(rate as i64);
        shared.metrics.limiter_quota_keys.set(quota as i64);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        shared.auth.sweep(now);
    }
}

/// The address a listener is reachable at (loopback for a wildcard).
pub(crate) fn url_of(addr: SocketAddr) -> String {
    format!("http://{}", crate::node::reachable(addr))
}
