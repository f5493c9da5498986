//! The listener: accepts connections, refuses those past a peer address's
//! share, closes those of slow, silent or idle clients, bounds how long a
//! request's body may take, and serves HTTP/1.1 and cleartext HTTP/2 (gRPC
//! speaks it) on one port.
//!
//! - A peer address (an IPv6 peer's /64) holds at most
//!   `http.max_connections_per_address` connections at once; one more is
//!   reset as soon as it is accepted, before anything is read or spawned
//!   for it. Trusted proxies (`auth.rate_limits.trusted_proxies`) are not
//!   limited: every client behind them shares their address.
//! - A connection must send its first request's head within
//!   `http.header_read_timeout` — one that connects and sends nothing, or
//!   dribbles its head, is closed. HTTP/1.1: each later request's head too,
//!   which is also how long an idle keep-alive connection stays.
//! - A connection with no request in flight for `http.idle_timeout` is
//!   closed (HTTP/2: GOAWAY). HTTP/2 peers are pinged every quarter of it,
//!   and a peer that stops answering is closed after
//!   `http.header_read_timeout`.
//! - A request's whole body must arrive within `http.body_read_timeout` of
//!   its head, whatever the route and however it trickles: past it the
//!   request is answered 408 (gRPC: `DEADLINE_EXCEEDED`) — sign-in forms,
//!   API bodies, and gRPC calls that never send their message alike.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{StatusCode, Version, header};
use axum::response::{IntoResponse, Response};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use ipnet::IpNet;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;
use tracing::debug;

use crate::config::HttpConfig;
use crate::http::ApiError;
use crate::http::metrics::ConnectionMetrics;

/// What every HTTP/2 connection starts with.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// How long in-flight requests get to finish at shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Requests one HTTP/2 connection may have in flight at once.
const MAX_STREAMS_PER_CONNECTION: u32 = 100;

/// Serves `app` on `listener` until `shutdown`, then lets in-flight
/// requests finish (up to a grace period). Connections of peers in
/// `unlimited` are not counted against a peer's share.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    config: HttpConfig,
    unlimited: Vec<IpNet>,
    metrics: ConnectionMetrics,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let connections = Arc::new(Connections::new(
        config.max_connections_per_address,
        unlimited,
        metrics,
    ));
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors and the like: keep serving.
                    debug!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        let Some(admitted) = connections.admit(peer.ip()) else {
            // Reset, not closed: nothing lingers for it on this side.
            let _ = stream.set_zero_linger();
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve_connection(
            stream,
            peer,
            app.clone(),
            config.clone(),
            shutdown.clone(),
            admitted,
        ));
    }
    drop(listener);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, connections.all_closed()).await;
    Ok(())
}

/// Serves one admitted connection until it ends.
async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    config: HttpConfig,
    shutdown: CancellationToken,
    _admitted: Admitted,
) {
    let Some(http2) = version(&stream, config.header_read_timeout).await else {
        debug!(%peer, "closed a connection that sent no request in time");
        return;
    };
    let (in_flight, idle) = watch::channel(0usize);
    let in_flight = Arc::new(in_flight);
    let body_timeout = config.body_read_timeout;
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let started = InFlight::start(&in_flight);
        let app = app.clone();
        async move {
            let response = answer(app, request, peer, body_timeout).await;
            Ok::<_, Infallible>(response.map(|body| {
                Body::new(Tracked {
                    body,
                    _in_flight: started,
                })
            }))
        }
    });
    let io = TokioIo::new(stream);
    let result = if http2 {
        let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
        builder
            .timer(TokioTimer::new())
            .max_concurrent_streams(MAX_STREAMS_PER_CONNECTION)
            .keep_alive_interval(config.idle_timeout / 4)
            .keep_alive_timeout(config.header_read_timeout);
        drive(
            builder.serve_connection(io, service),
            idle,
            config.idle_timeout,
            &shutdown,
        )
        .await
    } else {
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(config.header_read_timeout);
        drive(
            builder.serve_connection(io, service),
            idle,
            config.idle_timeout,
            &shutdown,
        )
        .await
    };
    if let Err(e) = result {
        debug!(%peer, error = %e, "connection ended with an error");
    }
}

/// Runs `app` on one request whose body must arrive within `body_timeout`;
/// answers 408 (gRPC: `DEADLINE_EXCEEDED`) if it did not.
async fn answer(
    app: Router,
    request: hyper::Request<Incoming>,
    peer: SocketAddr,
    body_timeout: Duration,
) -> Response {
    let grpc = slipway_grpc::is_grpc(&request);
    let (mut parts, body) = request.into_parts();
    parts.extensions.insert(ConnectInfo(peer));
    let version = parts.version;
    let late = Arc::new(AtomicBool::new(false));
    let body = Deadline {
        body,
        limit: body_timeout,
        deadline: Instant::now() + body_timeout,
        timer: None,
        late: late.clone(),
    };
    let Ok(response) = app
        .oneshot(axum::http::Request::from_parts(parts, Body::new(body)))
        .await;
    if !late.load(Ordering::Relaxed) {
        return response;
    }
    debug!(%peer, "a request body did not arrive in time");
    let message = BodyTimedOut(body_timeout).to_string();
    if grpc {
        return slipway_grpc::deadline_exceeded(message);
    }
    let mut response =
        ApiError::new(StatusCode::REQUEST_TIMEOUT, "body_timeout", message).into_response();
    if version < Version::HTTP_2 {
        // The rest of the body is still on its way: do not wait for it.
        response.headers_mut().insert(
            header::CONNECTION,
            header::HeaderValue::from_static("close"),
        );
    }
    response
}

/// A request body that did not arrive within `http.body_read_timeout`.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {0:?} (http.body_read_timeout)")]
pub(crate) struct BodyTimedOut(Duration);

/// A request body that must have arrived by a deadline: past it, reading
/// fails with [`BodyTimedOut`] and the request is marked late.
struct Deadline {
    body: Incoming,
    limit: Duration,
    deadline: Instant,
    /// Set the first time the body has nothing to give.
    timer: Option<Pin<Box<Sleep>>>,
    late: Arc<AtomicBool>,
}

impl hyper::body::Body for Deadline {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.body).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let deadline = this.deadline;
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => {
                this.late.store(true, Ordering::Relaxed);
                Poll::Ready(Some(Err(Box::new(BodyTimedOut(this.limit)))))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A response body, holding its request's place among those in flight on
/// its connection until it is sent (or dropped).
struct Tracked {
    body: Body,
    _in_flight: InFlight,
}

impl hyper::body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// One request in flight on a connection, from its head until its
/// response is sent.
struct InFlight(Arc<watch::Sender<usize>>);

impl InFlight {
    fn start(count: &Arc<watch::Sender<usize>>) -> Self {
        count.send_modify(|n| *n += 1);
        Self(count.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n -= 1);
    }
}

/// A connection that can be asked to finish what it is doing and close.
trait Graceful: Future<Output = hyper::Result<()>> {
    fn close_gracefully(self: Pin<&mut Self>);
}

impl<I, S, B> Graceful for hyper::server::conn::http1::Connection<I, S>
where
    S: hyper::service::HttpService<Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    B: hyper::body::Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn close_gracefully(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

impl<I, S, B, E> Graceful for hyper::server::conn::http2::Connection<I, S, E>
where
    S: hyper::service::HttpService<Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    B: hyper::body::Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    E: hyper::rt::bounds::Http2ServerConnExec<S::Future, B>,
{
    fn close_gracefully(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

/// Runs a connection to its end; closes it gracefully once it has had no
/// request in flight for `idle_timeout`, or at shutdown.
async fn drive(
    connection: impl Graceful,
    mut in_flight: watch::Receiver<usize>,
    idle_timeout: Duration,
    shutdown: &CancellationToken,
) -> hyper::Result<()> {
    let mut connection = pin!(connection);
    let mut closing = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => return result,
            () = idle(&mut in_flight, idle_timeout), if !closing => {
                closing = true;
                connection.as_mut().close_gracefully();
            }
            () = shutdown.cancelled(), if !closing => {
                closing = true;
                connection.as_mut().close_gracefully();
            }
        }
    }
}

/// Resolves once no request has been in flight for `timeout`.
async fn idle(in_flight: &mut watch::Receiver<usize>, timeout: Duration) {
    loop {
        if in_flight.wait_for(|n| *n == 0).await.is_err() {
            // The connection's service is gone: so is the connection.
            return std::future::pending().await;
        }
        tokio::select! {
            () = tokio::time::sleep(timeout) => return,
            // A request started (or ended): look again.
            _ = in_flight.changed() => {}
        }
    }
}

/// The open connections, by peer: how many each holds, and the cap.
struct Connections {
    per_peer: Mutex<HashMap<Peer, usize>>,
    limit: usize,
    unlimited: Vec<IpNet>,
    open: watch::Sender<usize>,
    metrics: ConnectionMetrics,
}

/// Whom a connection counts against: its address, or an IPv6 peer's /64
/// (one host's share of addresses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Peer {
    V4(std::net::Ipv4Addr),
    V6Network(u64),
}

impl Peer {
    fn of(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(v4) => Peer::V4(v4),
            IpAddr::V6(v6) => Peer::V6Network((u128::from(v6) >> 64) as u64),
        }
    }
}

impl Connections {
    fn new(limit: usize, unlimited: Vec<IpNet>, metrics: ConnectionMetrics) -> Self {
        Self {
            per_peer: Mutex::new(HashMap::new()),
            limit,
            unlimited,
            open: watch::Sender::new(0),
            metrics,
        }
    }

    /// Counts a new connection from `ip`, or `None` if its peer already
    /// holds its share.
    fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Admitted> {
        let canonical = ip.to_canonical();
        let peer = if self.unlimited.iter().any(|net| net.contains(&canonical)) {
            None
        } else {
            let peer = Peer::of(canonical);
            let mut per_peer = self.per_peer.lock().expect("not poisoned");
            let held = per_peer.entry(peer).or_insert(0);
            if *held >= self.limit {
                drop(per_peer);
                self.metrics.refused.inc();
                debug!(%ip, limit = self.limit, "refused a connection: its address holds its share");
                return None;
            }
            *held += 1;
            Some(peer)
        };
        self.open.send_modify(|n| *n += 1);
        self.metrics.open.inc();
        Some(Admitted {
            connections: self.clone(),
            peer,
        })
    }

    /// Resolves when every connection has ended.
    async fn all_closed(&self) {
        let _ = self.open.subscribe().wait_for(|n| *n == 0).await;
    }
}

/// An admitted connection's place; given back when it ends.
struct Admitted {
    connections: Arc<Connections>,
    /// `None` for a peer without a cap.
    peer: Option<Peer>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let connections = &self.connections;
        if let Some(peer) = self.peer {
            let mut per_peer = connections.per_peer.lock().expect("not poisoned");
            if let Some(held) = per_peer.get_mut(&peer) {
                *held -= 1;
                if *held == 0 {
                    per_peer.remove(&peer);
                }
            }
        }
        connections.open.send_modify(|n| *n -= 1);
        connections.metrics.open.dec();
    }
}

/// Which HTTP the connection speaks, once enough of it arrived to tell:
/// `Some(true)` for HTTP/2 (its preface), `Some(false)` for HTTP/1.x, and
/// `None` if the client sent too little within `timeout` (or closed).
async fn version(stream: &TcpStream, timeout: Duration) -> Option<bool> {
    let decide = async {
        let mut buf = [0u8; H2_PREFACE.len()];
        loop {
            let n = stream.peek(&mut buf).await.ok()?;
            if n == 0 {
                return None;
            }
            if buf[..n] != H2_PREFACE[..n] {
                return Some(false);
            }
            if n == H2_PREFACE.len() {
                return Some(true);
            }
            // A prefix of the preface so far: wait for more.
            stream.readable().await.ok()?;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(timeout, decide).await.ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connections(limit: usize, unlimited: &[&str]) -> Arc<Connections> {
        Arc::new(Connections::new(
            limit,
            unlimited.iter().map(|n| n.parse().unwrap()).collect(),
            ConnectionMetrics::default(),
        ))
    }

    #[test]
    fn a_peer_holds_at_most_its_share_and_gets_it_back() {
        let c = connections(2, &[]);
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let first = c.admit(ip).unwrap();
        let _second = c.admit(ip).unwrap();
        assert!(c.admit(ip).is_none());
        // Another address has its own share.
        assert!(c.admit("192.0.2.8".parse().unwrap()).is_some());
        drop(first);
        assert!(c.admit(ip).is_some());
        assert_eq!(c.metrics.refused.get(), 1);
    }

    #[test]
    fn an_ipv6_host_shares_one_allowance_across_its_network() {
        let c = connections(1, &[]);
        let _held = c.admit("2001:db8:1:2::1".parse().unwrap()).unwrap();
        assert!(c.admit("2001:db8:1:2::ffff".parse().unwrap()).is_none());
        assert!(c.admit("2001:db8:1:3::1".parse().unwrap()).is_some());
        // An IPv4 peer seen through an IPv4-mapped address is that peer.
        let _v4 = c.admit("::ffff:192.0.2.1".parse().unwrap()).unwrap();
        assert!(c.admit("192.0.2.1".parse().unwrap()).is_none());
    }

    #[test]
    fn trusted_proxies_are_not_limited_and_nothing_is_kept_for_them() {
        let c = connections(1, &["10.0.0.0/8"]);
        let held: Vec<_> = (0..5)
            .map(|_| c.admit("10.1.2.3".parse().unwrap()).unwrap())
            .collect();
        assert!(c.per_peer.lock().unwrap().is_empty());
        assert_eq!(*c.open.borrow(), 5);
        drop(held);
        assert_eq!(*c.open.borrow(), 0);
    }

    #[test]
    fn a_peer_whose_connections_ended_is_forgotten() {
        let c = connections(3, &[]);
        for i in 0..100u8 {
            let _gone = c.admit(IpAddr::from([198, 51, 100, i])).unwrap();
        }
        assert!(c.per_peer.lock().unwrap().is_empty());
    }
}
