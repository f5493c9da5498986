//! The HTTP side of a node: a health check and an echo of everything else.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use serde_json::{Value, json};

/// Header names with this prefix are echoed back (the gateway's identity
/// headers).
pub const ECHOED_HEADER_PREFIX: &str = "x-slipway-";

/// How long in-flight requests get to finish once shutdown was asked for.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The cluster's registration record, beside the nodes' state files: which
/// node is the scheduler (`{"node": N}`), as the local blueprint writes it
/// — the way a cloud cluster's nodes find their scheduler through a DNS
/// record a function updates when it moves. Read at every health check, so
/// a move reaches the nodes without restarting them.
pub(crate) const REGISTRATION_FILE: &str = "scheduler.json";

/// Who a node is, as it reports in every answer.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    pub cluster: String,
    pub index: u32,
    /// Where the registration record is, if the node has one.
    pub registration: Option<std::path::PathBuf>,
}

impl Identity {
    /// The scheduler the registration record names now, if any.
    async fn scheduler(&self) -> Option<u64> {
        let text = tokio::fs::read_to_string(self.registration.as_ref()?)
            .await
            .ok()?;
        serde_json::from_str::<Value>(&text).ok()?["node"].as_u64()
    }
}

/// The node's routes: `GET /health`, and an echo for any other request.
pub(crate) fn router(identity: Identity) -> Router {
    Router::new()
        .fallback(answer)
        .with_state(Arc::new(identity))
}

async fn answer(
    State(identity): State<Arc<Identity>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Json<Value> {
    if method == Method::GET && uri.path() == "/health" {
        let scheduler = identity.scheduler().await;
        return Json(json!({
            "status": "ok",
            "cluster": identity.cluster,
            "node": identity.index,
            "scheduler": scheduler,
            "role": if scheduler == Some(u64::from(identity.index)) { "scheduler" } else { "worker" },
        }));
    }
    Json(json!({
        "cluster": identity.cluster,
        "node": identity.index,
        "method": method.as_str(),
        "path": uri.path(),
        "headers": echoed_headers(&headers),
    }))
}

/// Every `x-slipway-*` header, by lowercase name; repeated headers are
/// joined with ", ".
fn echoed_headers(headers: &HeaderMap) -> BTreeMap<String, String> {
    let mut echoed = BTreeMap::<String, String>::new();
    for (name, value) in headers {
        // `HeaderName`s are always lowercase.
        if !name.as_str().starts_with(ECHOED_HEADER_PREFIX) {
            continue;
        }
        let value = String::from_utf8_lossy(value.as_bytes());
        echoed
            .entry(name.as_str().to_owned())
            .and_modify(|joined| {
                joined.push_str(", ");
                joined.push_str(&value);
            })
            .or_insert_with(|| value.into_owned());
    }
    echoed
}

/// Serves until `shutdown` completes, then lets in-flight requests finish
/// for at most [`SHUTDOWN_GRACE`].
pub(crate) async fn serve<L>(
    listener: L,
    identity: Identity,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    let (asked_tx, asked_rx) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, router(identity)).with_graceful_shutdown(async move {
        shutdown.await;
        let _ = asked_tx.send(());
    });
    let grace_over = async move {
        if asked_rx.await.is_ok() {
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        result = server => result,
        () = grace_over => {
            tracing::warn!("requests still in flight {}s after shutdown; exiting anyway", SHUTDOWN_GRACE.as_secs());
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn echoes_only_slipway_headers_lowercased_and_joined() {
        let mut headers = HeaderMap::new();
        headers.insert("X-Slipway-User", HeaderValue::from_static("alice"));
        headers.append("x-slipway-org", HeaderValue::from_static("a"));
        headers.append("x-slipway-org", HeaderValue::from_static("b"));
        headers.insert("authorization", HeaderValue::from_static("Bearer x"));
        headers.insert("x-slipwayish", HeaderValue::from_static("no"));
        let echoed = echoed_headers(&headers);
        assert_eq!(
            echoed,
            BTreeMap::from([
                ("x-slipway-org".to_owned(), "a, b".to_owned()),
                ("x-slipway-user".to_owned(), "alice".to_owned()),
            ])
        );
    }

    async fn call(method: &str, target: &str, headers: &[(&str, &str)]) -> (u16, Value) {
        let identity = Identity {
            cluster: "demo".into(),
            index: 2,
            registration: None,
        };
        call_node(identity, method, target, headers).await
    }

    async fn call_node(
        identity: Identity,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, identity, async move {
            let _ = stop_rx.await;
        }));
        let mut request = format!("{method} {target} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n");
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("content-length: 0\r\n\r\n");
        let response = tokio::task::spawn_blocking(move || {
            use std::io::{Read, Write};
            let mut stream = std::net::TcpStream::connect(addr).unwrap();
            stream.write_all(request.as_bytes()).unwrap();
            let mut response = String::new();
            stream.read_to_string(&mut response).unwrap();
            response
        })
        .await
        .unwrap();
        stop_tx.send(()).unwrap();
        server.await.unwrap().unwrap();
        let status = response[9..12].parse().unwrap();
        let body = response.split_once("\r\n\r\n").unwrap().1;
        (status, serde_json::from_str(body).unwrap())
    }

    #[tokio::test]
    async fn health_reports_cluster_and_node() {
        let (status, body) = call("GET", "/health", &[]).await;
        assert_eq!(status, 200);
        assert_eq!(
            body,
            json!({"status": "ok", "cluster": "demo", "node": 2, "scheduler": null, "role": "worker"})
        );
    }

    #[tokio::test]
    async fn health_says_which_node_the_registration_names_as_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let record = dir.path().join(REGISTRATION_FILE);
        let node = |index| Identity {
            cluster: "demo".into(),
            index,
            registration: Some(record.clone()),
        };
        std::fs::write(&record, "{\"node\": 1}\n").unwrap();
        let (_, one) = call_node(node(1), "GET", "/health", &[]).await;
        let (_, two) = call_node(node(2), "GET", "/health", &[]).await;
        assert_eq!(
            (&one["scheduler"], &one["role"]),
            (&json!(1), &json!("scheduler"))
        );
        assert_eq!(
            (&two["scheduler"], &two["role"]),
            (&json!(1), &json!("worker"))
        );
        // Moved: read again at the next check, no restart.
        std::fs::write(&record, "{\"node\": 2}\n").unwrap();
        let (_, two) = call_node(node(2), "GET", "/health", &[]).await;
        assert_eq!(two["role"], "scheduler");
    }

    #[tokio::test]
    async fn everything_else_is_echoed() {
        let (status, body) = call(
            "POST",
            "/some/path?q=1",
            &[("X-Slipway-User", "bob"), ("cookie", "token=secret")],
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(
            body,
            json!({
                "cluster": "demo",
                "node": 2,
                "method": "POST",
                "path": "/some/path",
                "headers": {"x-slipway-user": "bob"},
            })
        );
        let (_, body) = call("DELETE", "/health", &[]).await;
        assert_eq!(body["method"], "DELETE");
        assert_eq!(body["path"], "/health");
    }
}
