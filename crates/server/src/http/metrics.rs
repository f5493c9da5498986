//! The server's Prometheus endpoint, `GET /metrics` (OpenMetrics text): the
//! worker's series (operations, Terraform runs, leases, reclaims, scheduler
//! lag — see `slipway_worker::metrics`) and the API's own:
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `slipway_http_requests_total` | counter | `method`, `route` (the route's pattern, e.g. `/v1/clusters/{name}`), `status` |
//! | `slipway_http_request_duration_seconds` | histogram | `route` — until the response's head |
//! | `slipway_queue_operations` | gauge | `state` (queued, running) — read from the database at each scrape |

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
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
    method: String,
    route: String,
    status: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RouteLabel {
    route: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

/// Every series of the process, and the API's own.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Family<RouteLabel, Histogram>,
    queue: Family<StateLabel, Gauge>,
}

impl Metrics {
    /// Adds the API's series to `registry` (which holds the worker's).
    pub fn new(mut registry: Registry) -> Self {
        let requests = Family::<RequestLabels, Counter>::default();
        let durations = Family::<RouteLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 18))
        });
        let queue = Family::<StateLabel, Gauge>::default();
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
        Self {
            registry,
            requests,
            durations,
            queue,
        }
    }
}

/// Middleware: counts each request by its route's pattern (never the raw
/// path, so the series stay few) and status.
pub async fn count(State(http): AppState, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let metrics = &http.metrics;
    metrics
        .requests
        .get_or_create(&RequestLabels {
            method,
            route: route.clone(),
            status: response.status().as_u16(),
        })
        .inc();
    metrics
        .durations
        .get_or_create(&RouteLabel { route })
        .observe(started.elapsed().as_secs_f64());
    response
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
