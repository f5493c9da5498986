//! The listener: accepts connections, closes those of slow or silent
//! clients, and serves HTTP/1.1 and cleartext HTTP/2 (gRPC speaks it) on
//! one port.
//!
//! A connection must send its first request's head within
//! `http.header_read_timeout` — one that connects and sends nothing, or
//! dribbles its head, is closed — and each later request's head within the
//! same time (that is also how long an idle HTTP/1.1 keep-alive connection
//! stays). HTTP/2 connections are pinged and closed when the peer stops
//! answering. Request bodies must keep arriving (`http.body_read_timeout`
//! between frames, enforced by the router).

use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;
use tracing::debug;

use crate::config::HttpConfig;

/// What every HTTP/2 connection starts with.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// How long in-flight requests get to finish at shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` until `shutdown`, then lets in-flight
/// requests finish (up to a grace period).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    config: HttpConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let graceful = GracefulShutdown::new();
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
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let config = config.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let Some(http2) = version(&stream, config.header_read_timeout).await else {
                debug!(%peer, "closed a connection that sent no request in time");
                return;
            };
            let service =
                hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
                    request.extensions_mut().insert(ConnectInfo(peer));
                    let app = app.clone();
                    async move { app.oneshot(request).await }
                });
            let io = TokioIo::new(stream);
            let result = if http2 {
                let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
                builder
                    .timer(TokioTimer::new())
                    .keep_alive_interval(config.idle_timeout / 4)
                    .keep_alive_timeout(config.header_read_timeout);
                watcher.watch(builder.serve_connection(io, service)).await
            } else {
                let mut builder = hyper::server::conn::http1::Builder::new();
                builder
                    .timer(TokioTimer::new())
                    .header_read_timeout(config.header_read_timeout);
                watcher.watch(builder.serve_connection(io, service)).await
            };
            if let Err(e) = result {
                debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(SHUTDOWN_GRACE) => {}
    }
    Ok(())
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
