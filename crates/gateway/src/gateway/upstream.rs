//! The upstream nodes: where they are (a list, and/or a directory of node
//! state files rescanned every health interval; `http://HOST:PORT`, or
//! `unix:/PATH` for a node that listens on a Unix socket — the local
//! blueprint's nodes do, so that only their gateway can reach them), whether they are healthy
//! (`GET /health` every health interval; a node that refuses a connection is
//! taken out at once), keep-alive connection pools per node (one per worker
//! thread, so a request and its node connection stay on one thread), and
//! the choice of a node for each request (round robin over the healthy
//! ones).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, Response};
use http_body_util::{Either, Empty};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use parking_lot::{Mutex, RwLock};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::watch;

use super::metrics::Metrics;
use crate::node::NodeState;

/// The body of a request to a node: the client's, streamed, or none.
pub(crate) type UpBody = Either<Incoming, Empty<Bytes>>;

/// Idle (or busy) connections kept per node at most.
const MAX_POOLED: usize = 512;
/// How many stale pooled connections one request may run into before it
/// counts as not sent.
const STALE_RETRIES: usize = 4;

/// A node as the gateway reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeStatus {
    /// The node's URL.
    pub url: String,
    /// Whether requests are sent to it.
    pub healthy: bool,
}

/// A node URL, checked: `http://host:port` (no path, no TLS), or
/// `unix:/absolute/path` (a Unix socket).
#[derive(Debug, Clone)]
pub(crate) struct NodeAddr {
    pub url: String,
    pub authority: String,
    pub host: HeaderValue,
    pub addr: Option<SocketAddr>,
    pub socket: Option<PathBuf>,
}

pub(crate) fn parse_node_url(url: &str) -> Result<NodeAddr, String> {
    let url = url.trim();
    if let Some(path) = url.strip_prefix(crate::node::UNIX_SCHEME) {
        let path = Path::new(path);
        if !path.is_absolute() {
            return Err("a unix: node address needs an absolute socket path".into());
        }
        return Ok(NodeAddr {
            url: url.to_owned(),
            authority: path.display().to_string(),
            host: HeaderValue::from_static("localhost"),
            addr: None,
            socket: Some(path.to_owned()),
        });
    }
    let url = url.trim_end_matches('/');
    let uri: http::Uri = url.parse().map_err(|e| format!("not a URL: {e}"))?;
    if uri.scheme_str() != Some("http") {
        return Err("only http:// nodes are supported".into());
    }
    if uri
        .path_and_query()
        .is_some_and(|p| p.as_str() != "/" && !p.as_str().is_empty())
    {
        return Err("a node URL has no path".into());
    }
    let authority = uri.authority().ok_or("a node URL needs a host")?;
    let port = authority.port_u16().unwrap_or(80);
    let host = authority.host();
    let authority_text = format!("{host}:{port}");
    let addr = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
        .ok()
        .map(|ip| SocketAddr::new(ip, port));
    Ok(NodeAddr {
        url: format!("http://{}", authority.as_str()),
        host: HeaderValue::from_str(authority.as_str()).map_err(|e| e.to_string())?,
        authority: authority_text,
        addr,
        socket: None,
    })
}

/// A connection to a node, over TCP or a Unix socket.
enum Connection {
    Tcp(TcpStream),
    Unix(UnixStream),
}

/// Why a request did not get a response from a node.
pub(crate) enum SendError {
    /// Nothing reached the node; the request comes back. `connect` tells
    /// whether connecting failed (the node is down) rather than a fresh
    /// connection closing at once.
    NotSent {
        request: Box<Request<UpBody>>,
        connect: bool,
        error: String,
    },
    /// The request may have reached the node.
    Failed(String),
}

/// One upstream node.
pub(crate) struct Node {
    pub url: String,
    pub host: HeaderValue,
    authority: String,
    addr: Option<SocketAddr>,
    socket: Option<PathBuf>,
    from_file: Option<PathBuf>,
    healthy: AtomicBool,
    /// One pool per worker thread ([`worker_index`]).
    pools: Box<[Mutex<Vec<SendRequest<UpBody>>>]>,
}

thread_local! {
    static WORKER: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Marks this thread as worker `index` (its connections go to that pool).
pub(crate) fn set_worker_index(index: usize) {
    WORKER.with(|w| w.set(index));
}

/// The worker this thread is (0 on any other thread).
fn worker_index() -> usize {
    WORKER.with(|w| w.get())
}

impl Node {
    fn new(addr: NodeAddr, from_file: Option<PathBuf>, workers: usize) -> Self {
        Self {
            url: addr.url,
            host: addr.host,
            authority: addr.authority,
            addr: addr.addr,
            socket: addr.socket,
            from_file,
            healthy: AtomicBool::new(false),
            pools: (0..workers.max(1))
                .map(|_| Mutex::new(Vec::new()))
                .collect(),
        }
    }

    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    /// A pooled connection ready for a request, dropping closed ones.
    fn pool(&self) -> &Mutex<Vec<SendRequest<UpBody>>> {
        &self.pools[worker_index() % self.pools.len()]
    }

    fn take_idle(&self) -> Option<SendRequest<UpBody>> {
        let mut pool = self.pool().lock();
        loop {
            let at = pool.iter().rposition(|s| s.is_ready() || s.is_closed())?;
            let sender = pool.swap_remove(at);
            if !sender.is_closed() {
                return Some(sender);
            }
        }
    }

    /// Back into the pool (it is busy until its response body is read; the
    /// next [`take_idle`](Self::take_idle) skips it until then).
    fn checkin(&self, sender: SendRequest<UpBody>) {
        let mut pool = self.pool().lock();
        if pool.len() >= MAX_POOLED {
            pool.retain(|s| !s.is_closed());
        }
        if pool.len() < MAX_POOLED {
            pool.push(sender);
        }
    }

    fn clear_pool(&self) {
        for pool in &self.pools {
            pool.lock().clear();
        }
    }

    async fn connect(&self, timeout: Duration) -> Result<SendRequest<UpBody>, String> {
        match self.open(timeout).await? {
            Connection::Tcp(stream) => self.handshake(stream).await,
            Connection::Unix(stream) => self.handshake(stream).await,
        }
    }

    async fn handshake<T>(&self, stream: T) -> Result<SendRequest<UpBody>, String>
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (sender, connection) = hyper::client::conn::http1::Builder::new()
            .handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("handshake with {}: {e}", self.url))?;
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "node connection ended");
            }
        });
        Ok(sender)
    }

    async fn open(&self, timeout: Duration) -> Result<Connection, String> {
        let connect = async {
            match (&self.socket, self.addr) {
                (Some(path), _) => UnixStream::connect(path).await.map(Connection::Unix),
                (None, Some(addr)) => TcpStream::connect(addr).await.map(Connection::Tcp),
                (None, None) => TcpStream::connect(self.authority.as_str())
                    .await
                    .map(Connection::Tcp),
            }
        };
        let connection = tokio::time::timeout(timeout, connect)
            .await
            .map_err(|_| format!("connecting to {} timed out", self.url))?
            .map_err(|e| format!("connecting to {}: {e}", self.url))?;
        if let Connection::Tcp(stream) = &connection {
            let _ = stream.set_nodelay(true);
        }
        Ok(connection)
    }

    /// Sends a request on a pooled or new connection.
    pub async fn send(
        &self,
        mut request: Request<UpBody>,
        connect_timeout: Duration,
        metrics: &Metrics,
    ) -> Result<Response<Incoming>, SendError> {
        let mut stale = 0;
        loop {
            let (mut sender, fresh) = match self.take_idle() {
                Some(sender) => (sender, false),
                None => match self.connect(connect_timeout).await {
                    Ok(sender) => {
                        metrics.upstream_connections.inc();
                        (sender, true)
                    }
                    Err(error) => {
                        return Err(SendError::NotSent {
                            request: Box::new(request),
                            connect: true,
                            error,
                        });
                    }
                },
            };
            match sender.try_send_request(request).await {
                Ok(response) => {
                    self.checkin(sender);
                    return Ok(response);
                }
                Err(mut err) => match err.take_message() {
                    // A pooled connection the node had closed: try another.
                    Some(back) if !fresh && stale < STALE_RETRIES => {
                        request = back;
                        stale += 1;
                    }
                    Some(back) => {
                        return Err(SendError::NotSent {
                            request: Box::new(back),
                            connect: false,
                            error: err.into_error().to_string(),
                        });
                    }
                    None => return Err(SendError::Failed(err.into_error().to_string())),
                },
            }
        }
    }

    /// `GET /health` on a new connection: healthy if it answers 2xx in time.
    async fn check(&self, timeout: Duration) -> Result<(), String> {
        let attempt = async {
            match self.open(timeout).await? {
                Connection::Tcp(stream) => self.check_on(stream).await,
                Connection::Unix(stream) => self.check_on(stream).await,
            }
        };
        tokio::time::timeout(timeout, attempt)
            .await
            .map_err(|_| format!("/health took longer than {timeout:?}"))?
    }

    async fn check_on<T>(&self, stream: T) -> Result<(), String>
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
                .await
                .map_err(|e| e.to_string())?;
        let request = Request::get("/health")
            .header(http::header::HOST, self.host.clone())
            .header(http::header::CONNECTION, "close")
            .header(http::header::USER_AGENT, "slipway-gateway-health")
            .body(Empty::new())
            .map_err(|e| e.to_string())?;
        // The connection is driven here, not in a task of its own, so a
        // check that times out closes it.
        let mut connection = std::pin::pin!(connection);
        let mut exchange = std::pin::pin!(sender.send_request(request));
        let response = tokio::select! {
            response = &mut exchange => response,
            // The connection may end as it delivers the answer
            // (`Connection: close`): the exchange then has it.
            _ = &mut connection => exchange.await,
        }
        .map_err(|e| e.to_string())?;
        match response.status() {
            s if s.is_success() => Ok(()),
            s => Err(format!("/health answered {s}")),
        }
    }
}

/// Every known node, and their health.
pub(crate) struct Upstreams {
    nodes: RwLock<Arc<Vec<Arc<Node>>>>,
    next: AtomicUsize,
    statuses: watch::Sender<Vec<NodeStatus>>,
    cluster: String,
    static_nodes: Vec<NodeAddr>,
    node_dir: Option<PathBuf>,
    pub connect_timeout: Duration,
    health_timeout: Duration,
    workers: usize,
    metrics: Arc<Metrics>,
}

impl Upstreams {
    pub fn new(
        cluster: &str,
        static_urls: &[String],
        node_dir: Option<PathBuf>,
        connect_timeout: Duration,
        health_timeout: Duration,
        workers: usize,
        metrics: Arc<Metrics>,
    ) -> Result<Self, String> {
        let static_nodes = static_urls
            .iter()
            .map(|u| parse_node_url(u).map_err(|e| format!("node {u:?}: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            nodes: RwLock::new(Arc::new(Vec::new())),
            next: AtomicUsize::new(0),
            statuses: watch::channel(Vec::new()).0,
            cluster: cluster.to_owned(),
            static_nodes,
            node_dir,
            connect_timeout,
            health_timeout,
            workers,
            metrics,
        })
    }

    /// A healthy node, round robin, other than those in `exclude`.
    pub fn pick(&self, exclude: &[Arc<Node>]) -> Option<Arc<Node>> {
        let nodes = self.nodes.read().clone();
        let n = nodes.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..n)
            .map(|i| &nodes[(start + i) % n])
            .find(|node| node.is_healthy() && !exclude.iter().any(|e| Arc::ptr_eq(e, node)))
            .cloned()
    }

    /// A node refused a connection: out until a health check passes.
    pub fn mark_down(&self, node: &Node, error: &str) {
        if node.healthy.swap(false, Ordering::Relaxed) {
            tracing::warn!(node = %node.url, %error, "node down");
            node.clear_pool();
            self.publish();
        }
    }

    pub fn subscribe(&self) -> watch::Receiver<Vec<NodeStatus>> {
        self.statuses.subscribe()
    }

    pub fn statuses(&self) -> Vec<NodeStatus> {
        self.statuses.borrow().clone()
    }

    /// One round: rescan the node directory, then health-check every node.
    pub async fn round(&self) {
        self.rescan();
        let nodes = self.nodes.read().clone();
        let checks = nodes.iter().map(|node| async move {
            let result = node.check(self.health_timeout).await;
            (node, result)
        });
        for (node, result) in futures::future::join_all(checks).await {
            let was = node.healthy.swap(result.is_ok(), Ordering::Relaxed);
            match (&result, was) {
                (Ok(()), false) => tracing::info!(node = %node.url, "node healthy"),
                (Err(error), true) => {
                    node.clear_pool();
                    tracing::warn!(node = %node.url, %error, "node unhealthy");
                }
                (Err(error), false) => {
                    tracing::debug!(node = %node.url, %error, "node still unhealthy")
                }
                (Ok(()), true) => {}
            }
        }
        self.publish();
    }

    /// Brings the node list up to date with the static list and the node
    /// directory, keeping known nodes (their health and connections).
    fn rescan(&self) {
        let mut wanted: Vec<(NodeAddr, Option<PathBuf>)> = self
            .static_nodes
            .iter()
            .map(|a| (a.clone(), None))
            .collect();
        if let Some(dir) = &self.node_dir {
            wanted.extend(scan_dir(dir, &self.cluster));
        }
        let current = self.nodes.read().clone();
        let by_url: HashMap<&str, &Arc<Node>> =
            current.iter().map(|n| (n.url.as_str(), n)).collect();
        let mut next: Vec<Arc<Node>> = Vec::with_capacity(wanted.len());
        for (addr, file) in wanted {
            if next.iter().any(|n| n.url == addr.url) {
                continue;
            }
            match by_url.get(addr.url.as_str()) {
                Some(node) => next.push(Arc::clone(node)),
                None => {
                    tracing::info!(node = %addr.url, file = ?file, "node found");
                    next.push(Arc::new(Node::new(addr, file, self.workers)));
                }
            }
        }
        let changed = next.len() != current.len()
            || next
                .iter()
                .zip(current.iter())
                .any(|(a, b)| !Arc::ptr_eq(a, b));
        if changed {
            for gone in current
                .iter()
                .filter(|n| !next.iter().any(|m| Arc::ptr_eq(n, m)))
            {
                tracing::info!(node = %gone.url, file = ?gone.from_file, "node gone");
            }
            *self.nodes.write() = Arc::new(next);
        }
    }

    fn publish(&self) {
        let nodes = self.nodes.read().clone();
        let statuses: Vec<NodeStatus> = nodes
            .iter()
            .map(|n| NodeStatus {
                url: n.url.clone(),
                healthy: n.is_healthy(),
            })
            .collect();
        let healthy = statuses.iter().filter(|s| s.healthy).count();
        self.metrics.nodes_healthy.set(healthy as i64);
        self.metrics
            .nodes_unhealthy
            .set((statuses.len() - healthy) as i64);
        self.statuses.send_if_modified(|current| {
            if *current == statuses {
                false
            } else {
                *current = statuses;
                true
            }
        });
    }
}

/// The nodes a directory's `node-*.json` state files name, in index order.
/// Files for another cluster, or unreadable, are skipped.
fn scan_dir(dir: &Path, cluster: &str) -> Vec<(NodeAddr, Option<PathBuf>)> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) => {
            if err.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(dir = %dir.display(), error = %err, "cannot read the node directory");
            }
            return Vec::new();
        }
    };
    let mut found: Vec<(u32, NodeAddr, PathBuf)> = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if !(name.starts_with("node-") && name.ends_with(".json")) {
            continue;
        }
        let state = match NodeState::read(&path) {
            Ok(Some(state)) => state,
            Ok(None) => continue,
            Err(err) => {
                tracing::warn!(error = %err, "skipping a node state file");
                continue;
            }
        };
        if state.cluster != cluster {
            tracing::warn!(file = %path.display(), node_cluster = %state.cluster, "skipping a node of another cluster");
            continue;
        }
        match parse_node_url(&state.url) {
            Ok(addr) => found.push((state.index, addr, path)),
            Err(err) => tracing::warn!(file = %path.display(), error = %err, "skipping a node"),
        }
    }
    found.sort_by_key(|(index, _, _)| *index);
    found
        .into_iter()
        .map(|(_, addr, path)| (addr, Some(path)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_urls_are_checked_and_normalized() {
        let a = parse_node_url("http://127.0.0.1:8080/").unwrap();
        assert_eq!(a.url, "http://127.0.0.1:8080");
        assert_eq!(a.addr, Some("127.0.0.1:8080".parse().unwrap()));
        let b = parse_node_url("http://[::1]:9000").unwrap();
        assert_eq!(b.addr, Some("[::1]:9000".parse().unwrap()));
        let c = parse_node_url("http://node-3.internal").unwrap();
        assert_eq!(c.authority, "node-3.internal:80");
        assert_eq!(c.addr, None);
        let d = parse_node_url("unix:/run/c/node-0.sock").unwrap();
        assert_eq!(d.url, "unix:/run/c/node-0.sock");
        assert_eq!(d.socket, Some(PathBuf::from("/run/c/node-0.sock")));
        assert_eq!(d.addr, None);
        for bad in [
            "https://x:1",
            "http://x:1/api",
            "ftp://x",
            "x:1",
            "",
            "unix:",
            "unix:node-0.sock",
        ] {
            assert!(parse_node_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn scans_node_state_files_of_its_cluster_in_index_order() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, cluster: &str, index: u32, port: u16| {
            NodeState {
                pid: 1,
                url: format!("http://127.0.0.1:{port}"),
                cluster: cluster.into(),
                index,
                started_at: chrono::Utc::now(),
            }
            .write_atomic(&dir.path().join(name))
            .unwrap();
        };
        write("node-10.json", "abc", 10, 1010);
        write("node-2.json", "abc", 2, 1002);
        write("node-3.json", "other", 3, 1003);
        write("gateway.json", "abc", 0, 999);
        std::fs::write(dir.path().join("node-4.json"), "{garbage").unwrap();
        std::fs::write(dir.path().join("node-5.json.log"), "log").unwrap();
        let urls: Vec<String> = scan_dir(dir.path(), "abc")
            .into_iter()
            .map(|(a, _)| a.url)
            .collect();
        assert_eq!(urls, ["http://127.0.0.1:1002", "http://127.0.0.1:1010"]);
        assert!(scan_dir(&dir.path().join("missing"), "abc").is_empty());
    }
}
