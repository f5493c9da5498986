//! The HTTP API over the service: routes, who is calling, request decoding
//! with errors that name the field, server-sent events, the OpenAPI
//! document, Terraform's state backend, and `/metrics`.
//!
//! Routes live by subject: [`clusters`] (clusters, operations, their logs),
//! [`runs`] (TEST and RELEASE), [`identity`] (sign-in, tokens, keys,
//! revocations, audit), [`orgs`], [`state`] (Terraform's HTTP backend), and
//! [`openapi`] describes them all.
//!
//! Nothing reads a request body before the caller is authenticated: `/v1`
//! routes authenticate in a layer that runs before any handler, the state
//! backend authenticates with the run's credential before it reads the
//! state, and the sign-in routes (the only ones without a caller) take small
//! bodies limited per client address.

mod accounts;
mod audit;
mod clusters;
pub mod error;
mod extract;
pub mod metrics;
mod openapi;
mod orgs;
mod params;
mod runs;
mod sign_in;
mod state;
mod tokens;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router, middleware};
use slipway_api::types::*;
use slipway_service::Service;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

pub use self::error::ApiError;
pub(crate) use self::extract::{ApiJson, ApiQuery, Authenticated};
use crate::config::HttpConfig;

/// The state every handler gets.
#[derive(Clone)]
pub struct Http {
    pub service: Arc<Service>,
    pub metrics: Arc<metrics::Metrics>,
}

type AppState = State<Http>;

/// The largest body a sign-in route reads (before anyone is known).
const SIGN_IN_BODY_BYTES: usize = 16 * 1024;

/// The whole API.
pub fn router(
    service: Arc<Service>,
    metrics: Arc<metrics::Metrics>,
    config: &HttpConfig,
) -> Router {
    let state = Http { service, metrics };
    use clusters as c;
    // Routes that need a caller: authenticated (and limited per caller)
    // before anything else.
    let authenticated = Router::new()
        .route("/clusters", get(c::list_clusters).post(c::create_cluster))
        .route(
            "/clusters/{name}",
            get(c::cluster_status).delete(c::remove_cluster),
        )
        .route("/clusters/{name}/deploy", post(c::deploy))
        .route("/clusters/{name}/destroy", post(c::destroy))
        .route("/clusters/{name}/refresh", post(c::refresh))
        .route(
            "/clusters/{name}/schedule",
            axum::routing::put(c::schedule_destroy).delete(c::unschedule_destroy),
        )
        .route("/clusters/{name}/access", post(c::access))
        .route("/clusters/{name}/operations", get(c::cluster_operations))
        .route("/clusters/{name}/watch", get(c::watch_cluster))
        .route("/clusters/{name}/states", get(c::state_history))
        .route("/clusters/{name}/test", post(runs::test))
        .route("/clusters/{name}/release", post(runs::release))
        .route("/clusters/{name}/runs", get(runs::cluster_runs))
        .route("/runs", get(runs::all_runs))
        .route("/runs/{id}", get(runs::run))
        .route("/reports/runs", get(runs::report))
        .route("/operations", get(c::list_operations))
        .route("/operations/{id}", get(c::operation))
        .route("/operations/{id}/events", get(c::operation_events))
        .route("/operations/{id}/log", get(c::archived_log))
        .route("/operations/{id}/cancel", post(c::cancel_operation))
        .route("/blueprints", get(c::blueprints))
        .route("/whoami", get(sign_in::whoami))
        .route("/auth/logout", post(sign_in::logout))
        .route("/tokens", get(tokens::tokens).post(tokens::create_token))
        .route("/tokens/{id}", axum::routing::delete(tokens::revoke_token))
        .route("/orgs", get(orgs::list).post(orgs::create))
        .route("/orgs/{name}", get(orgs::show).patch(orgs::update))
        .route(
            "/orgs/{name}/members",
            get(orgs::members).post(orgs::request),
        )
        .route(
            "/orgs/{name}/members/{login}",
            axum::routing::delete(orgs::remove),
        )
        .route("/orgs/{name}/members/{login}/approve", post(orgs::approve))
        .route(
            "/orgs/{name}/account",
            get(accounts::account).patch(accounts::update_account),
        )
        .route("/orgs/{name}/account/reconcile", post(accounts::reconcile))
        .route("/orgs/{name}/costs", get(accounts::costs))
        .route("/orgs/{name}/forecast", get(accounts::forecast))
        .route(
            "/clusters/{name}/capacity",
            get(accounts::capacity_requests).post(accounts::request_capacity),
        )
        .route(
            "/clusters/{name}/capacity/{id}",
            axum::routing::delete(accounts::withdraw_capacity),
        )
        .route("/admin/rotate-keys", post(tokens::rotate_keys))
        .route("/admin/revoke", post(tokens::revoke))
        .route("/audit", get(audit::audit))
        // Inside the authentication: a stranger learns nothing, not even
        // the limit.
        .route_layer(middleware::from_fn_with_state(
            config.max_body_bytes,
            reject_oversized,
        ))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            extract::authenticate,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(config.max_body_bytes));
    // Signing in: no caller yet, limited per client address, small bodies.
    let sign_in = Router::new()
        .route("/auth/device", post(sign_in::device_start))
        .route("/auth/device/token", post(sign_in::device_poll))
        .route("/auth/github-token", post(sign_in::github_token))
        .route("/auth/web/login", get(sign_in::web_login))
        .route("/auth/web/callback", get(sign_in::web_callback))
        .route_layer(middleware::from_fn_with_state(
            SIGN_IN_BODY_BYTES,
            reject_oversized,
        ))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            extract::limit_sign_in,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(SIGN_IN_BODY_BYTES));
    let api = authenticated
        .merge(sign_in)
        .merge(state::routes(config.max_state_bytes))
        .route("/openapi.json", get(openapi::document));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics::scrape))
        .route("/.well-known/jwks.json", get(tokens::jwks))
        .route("/.well-known/revocations", get(tokens::revocations))
        .nest("/v1", api)
        // The web UI, at `/` (its own paths; none under `/v1`).
        .merge(slipway_web::router(state.service.clone()))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            metrics::count,
        ))
        .layer(TraceLayer::new_for_http())
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Slipway hit an internal error; it was logged",
            )
            .into_response()
        }))
        .with_state(state)
}

/// Refuses a body whose announced length is over `limit` before reading
/// any of it. (Bodies of unannounced length are cut off at each route's
/// own limit while they are read.)
async fn reject_oversized(
    State(limit): State<usize>,
    request: Request,
    next: middleware::Next,
) -> Response {
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match announced {
        Some(length) if length > limit as u64 => too_large(length, limit).into_response(),
        _ => next.run(request).await,
    }
}

pub(crate) fn too_large(length: u64, limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        format!("the request body is too large: {length} bytes, the limit is {limit}"),
    )
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such route; see /v1/openapi.json",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method; see /v1/openapi.json",
    )
}

/// The client's address: the peer's, or behind trusted proxies the one
/// `X-Forwarded-For` names.
pub(crate) fn client_address(
    service: &Service,
    peer: ConnectInfo<SocketAddr>,
    headers: &HeaderMap,
) -> std::net::IpAddr {
    service.client_address(
        peer.0.ip(),
        headers
            .get_all("x-forwarded-for")
            .iter()
            .map(|v| v.to_str().ok()),
    )
}

#[utoipa::path(get, path = "/healthz", responses((status = 200, body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        worker: None,
        terraform: None,
        reason: None,
    })
}

/// Ready when the database answers.
#[utoipa::path(get, path = "/readyz", responses((status = 200, body = Health), (status = 503, body = Health)))]
async fn readyz(State(http): AppState) -> Response {
    let service = &http.service;
    let health = |status: &str, reason: Option<String>| Health {
        status: status.into(),
        worker: Some(service.worker_id.clone()),
        terraform: Some(service.terraform_version.clone()),
        reason,
    };
    match tokio::time::timeout(Duration::from_secs(5), service.ready()).await {
        Ok(Ok(())) => Json(health("ready", None)).into_response(),
        Ok(Err(e)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(health("unavailable", Some(format!("database: {e}")))),
        )
            .into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(health("unavailable", Some("database: no answer".into()))),
        )
            .into_response(),
    }
}
