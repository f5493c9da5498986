//! The server's Prometheus endpoint, `GET /metrics` (OpenMetrics text): the
//! worker's series (operations, Terraform runs, leases, reclaims, scheduler
//! lag — see `slipway_worker::metrics`) and the API's own:
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `slipway_http_requests_total` | counter | `method` (one of the nine standard methods, else `other`), `route` (the matched route's pattern, e.g. `/v1/clusters/{name}`, else `unmatched`), `status` |
//! | `slipway_http_request_duration_seconds` | histogram | `route` — until the response's head |
//! | `slipway_http_connections` | gauge | — connections open now |
//! | `slipway_http_connections_refused_total` | counter | — connections reset at once because their client address held its share |
//! | `slipway_queue_operations` | gauge | `state` (queued, running) — read from the database at each scrape |
//! | `slipway_clusters_drifted` | gauge | — clusters whose last drift check found them changed outside Slipway, read at each scrape |
//! | `slipway_organization_operations` | gauge | `organization`, `state` (queued, running) — each organization's part of the queue, read at each scrape |
//! | `slipway_organization_queue_wait_seconds` | gauge | `organization` — how long its oldest queued operation has waited (0: none queued), read at each scrape |
//!
//! Anyone may send requests, so no label takes its value from a request:
//! each is one of a set fixed when Slipway is built (the methods above, the
//! router's own patterns, the status codes its handlers answer), whatever a
//! client writes in its request line. The series stay few however many
//! strange requests arrive. The one exception, `organization`, takes its
//! values from the organizations administrators created, never from a
//! request; an organization with nothing queued or running drops out.

use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::AppState;

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: Route,
    status: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RouteLabel {
    route: Route,
}

/// A request's method as a label: one of the standard methods, else
/// `other` (a method is any token a client cares to send).
fn method_label(method: &Method) -> &'static str {
    const STANDARD: [(Method, &str); 9] = [
        (Method::GET, "GET"),
        (Method::HEAD, "HEAD"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::DELETE, "DELETE"),
        (Method::PATCH, "PATCH"),
        (Method::OPTIONS, "OPTIONS"),
        (Method::CONNECT, "CONNECT"),
        (Method::TRACE, "TRACE"),
    ];
    STANDARD
        .iter()
        .find(|(m, _)| m == method)
        .map_or("other", |(_, label)| label)
}

/// A request's route as a label: the pattern of the route the router
/// matched (`/v1/clusters/{name}`, one of those the router was built with,
/// never the path the client sent), or `unmatched`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Route(Option<String>);

impl Route {
    fn of(request: &Request) -> Self {
        Self(
            request
                .extensions()
                .get::<MatchedPath>()
                .map(|p| p.as_str().to_owned()),
        )
    }

    fn as_str(&self) -> &str {
        self.0.as_deref().unwrap_or("unmatched")
    }
}

impl prometheus_client::encoding::EncodeLabelValue for Route {
    fn encode(
        &self,
        encoder: &mut prometheus_client::encoding::LabelValueEncoder,
    ) -> Result<(), std::fmt::Error> {
        std::fmt::Write::write_str(encoder, self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OrganizationStateLabel {
    organization: String,
    state: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OrganizationLabel {
    organization: String,
}

/// Every series of the process, and the API's own.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Family<RouteLabel, Histogram>,
    queue: Family<StateLabel, Gauge>,
    organization_queue: Family<OrganizationStateLabel, Gauge>,
    organization_wait: Family<OrganizationLabel, Gauge<f64, std::sync::atomic::AtomicU64>>,
    drifted: Gauge,
    connections: ConnectionMetrics,
}

/// The listener's series: connections open, and those refused.
#[derive(Clone, Default)]
pub struct ConnectionMetrics {
    pub open: Gauge,
    pub refused: Counter,
}

impl Metrics {
    /// Adds the API's series to `registry` (which holds the worker's).
    pub fn new(mut registry: Registry) -> Self {
        let requests = Family::<RequestLabels, Counter>::default();
        let durations = Family::<RouteLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 18))
        });
        let queue = Family::<StateLabel, Gauge>::default();
        let organization_queue = Family::<OrganizationStateLabel, Gauge>::default();
        let organization_wait =
            Family::<OrganizationLabel, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
        registry.register(
            "slipway_organization_operations",
            "Each organization's operations queued and running (all workers), read at each scrape",
            organization_queue.clone(),
        );
        registry.register(
            "slipway_organization_queue_wait_seconds",
            "How long each organization's oldest queued operation has waited, read at each scrape",
            organization_wait.clone(),
        );
        let connections = ConnectionMetrics::default();
        let drifted = Gauge::default();
        registry.register(
            "slipway_clusters_drifted",
            "Clusters whose last drift check found them changed outside Slipway, read at each scrape",
            drifted.clone(),
        );
        registry.register(
            "slipway_http_requests",
            "HTTP requests answered, by method, route and status",
            requests.clone(),
        );
        registry.register(
            "slipway_http_request_duration_seconds",
            "Time to a response's head, by route",
            durations.clone(),
        );
        registry.register(
            "slipway_queue_operations",
            "Operations queued and running (all workers), read at each scrape",
            queue.clone(),
        );
        registry.register(
            "slipway_http_connections",
            "Connections open now (HTTP/1.1, HTTP/2 and gRPC)",
            connections.open.clone(),
        );
        registry.register(
            "slipway_http_connections_refused",
            "Connections reset as soon as they were accepted because their client address held its share",
            connections.refused.clone(),
        );
        Self {
            registry,
            requests,
            durations,
            queue,
            organization_queue,
            organization_wait,
            drifted,
            connections,
        }
    }

    /// The listener's series.
    pub fn connections(&self) -> ConnectionMetrics {
        self.connections.clone()
    }
}

/// Middleware: counts each request by its method, its route's pattern and
/// its status — each from a fixed set (see the module's documentation).
pub async fn count(State(http): AppState, request: Request, next: Next) -> Response {
    let route = Route::of(&request);
    let method = method_label(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    http.metrics
        .record(method, route, response.status(), started.elapsed());
    response
}

impl Metrics {
    fn record(&self, method: &'static str, route: Route, status: StatusCode, took: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                method,
                route: route.clone(),
                status: status.as_u16(),
            })
            .inc();
        self.durations
            .get_or_create(&RouteLabel { route })
            .observe(took.as_secs_f64());
    }
}

/// `GET /metrics`.
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus metrics (OpenMetrics text)", content_type = "application/openmetrics-text")))]
pub async fn scrape(State(http): AppState) -> Response {
    let metrics = &http.metrics;
    match http.service.store.queue_depth().await {
        Ok(depth) => {
            let set = |state, n: u64| {
                metrics
                    .queue
                    .get_or_create(&StateLabel { state })
                    .set(i64::try_from(n).unwrap_or(i64::MAX));
            };
            set("queued", depth.queued);
            set("running", depth.running);
        }
        Err(e) => tracing::warn!(error = %e, "cannot read the queue's depth for /metrics"),
    }
    match http.service.store.queue_by_organization().await {
        Ok(organizations) => {
            metrics.organization_queue.clear();
            metrics.organization_wait.clear();
            let now = chrono::Utc::now();
            for q in organizations {
                for (state, n) in [("queued", q.queued), ("running", q.running)] {
                    metrics
                        .organization_queue
                        .get_or_create(&OrganizationStateLabel {
                            organization: q.organization.clone(),
                            state,
                        })
                        .set(i64::try_from(n).unwrap_or(i64::MAX));
                }
                let waited = q
                    .oldest_queued_at
                    .map_or(0.0, |at| (now - at).as_seconds_f64().max(0.0));
                metrics
                    .organization_wait
                    .get_or_create(&OrganizationLabel {
                        organization: q.organization,
                    })
                    .set(waited);
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot read the organizations' queues for /metrics"),
    }
    match http.service.store.drifted_clusters().await {
        Ok(n) => {
            metrics.drifted.set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        Err(e) => tracing::warn!(error = %e, "cannot count the drifted clusters for /metrics"),
    }
    let mut text = String::new();
    if encode(&mut text, &metrics.registry).is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_method_label_is_a_standard_method_or_other() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        for invented in ["M1", "get", "PROPFIND", "X-\u{1}"] {
            let Ok(method) = Method::from_bytes(invented.as_bytes()) else {
                continue;
            };
            assert_eq!(method_label(&method), "other", "{invented}");
        }
    }

    #[test]
    fn invented_methods_and_paths_share_one_series() {
        let metrics = Metrics::new(Registry::default());
        for i in 0..1000 {
            let request = Request::builder()
                .method(Method::from_bytes(format!("M{i}").as_bytes()).unwrap())
                .uri(format!("/nowhere/{i}"))
                .body(axum::body::Body::empty())
                .unwrap();
            metrics.record(
                method_label(request.method()),
                Route::of(&request),
                StatusCode::NOT_FOUND,
                Duration::from_millis(1),
            );
        }
        let mut text = String::new();
        encode(&mut text, &metrics.registry).unwrap();
        let series: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("slipway_http_requests_total{"))
            .collect();
        assert_eq!(
            series,
            [
                "slipway_http_requests_total{method=\"other\",route=\"unmatched\",status=\"404\"} 1000"
            ]
        );
    }
}
