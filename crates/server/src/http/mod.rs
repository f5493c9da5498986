//! The HTTP API over the service: routes, who is calling, request decoding
//! with errors that name the field, server-sent events, the OpenAPI
//! document, Terraform's state backend, and `/metrics`.
//!
//! Routes live by subject: [`clusters`] (clusters, operations, their logs),
//! [`runs`] (TEST and RELEASE), [`sign_in`], [`tokens`] (API tokens, keys,
//! revocations), [`audit`], [`orgs`], [`accounts`], [`state`] (Terraform's
//! HTTP backend). Each is written once, in [`router`], from its handler's
//! `#[utoipa::path]`, which is also what [`openapi`] documents.
//!
//! Nothing reads a request body before the caller is authenticated: `/v1`
//! routes authenticate in a layer that runs before any handler, the state
//! backend authenticates with the run's credential before it reads the
//! state, and the sign-in routes (the only ones without a caller) take small
//! bodies limited per client address.

mod accounts;
mod audit;
mod blueprints;
mod clusters;
mod deployments;
pub mod error;
mod extract;
pub mod metrics;
mod openapi;
mod orgs;
mod params;
mod provisioning;
mod runs;
mod secrets;
mod sign_in;
mod state;
mod tokens;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router, middleware};
use slipway_api::types::*;
use slipway_service::Service;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

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
    // Each route is written once, with its handler: `routes!` takes the
    // path and methods from the handler's `#[utoipa::path]`, so the router
    // and the OpenAPI document cannot disagree. The few routes the
    // document cannot describe are added with `route` (and say why).
    //
    // Routes that need a caller: authenticated (and limited per caller)
    // before anything else.
    let authenticated = OpenApiRouter::new()
        .routes(routes!(clusters::list_clusters, clusters::create_cluster))
        .routes(routes!(clusters::cluster_status, clusters::remove_cluster))
        .routes(routes!(clusters::deploy))
        .routes(routes!(clusters::destroy))
        .routes(routes!(clusters::refresh))
        .routes(routes!(clusters::set_visibility))
        .routes(routes!(clusters::set_protection))
        .routes(routes!(
            clusters::schedule_destroy,
            clusters::unschedule_destroy
        ))
        .routes(routes!(clusters::access))
        .routes(routes!(clusters::cluster_operations))
        .routes(routes!(clusters::watch_cluster))
        .routes(routes!(clusters::state_history))
        .routes(routes!(runs::test))
        .routes(routes!(runs::release))
        .routes(routes!(runs::cluster_runs))
        .routes(routes!(runs::all_runs))
        .routes(routes!(runs::run))
        .routes(routes!(runs::report))
        .routes(routes!(clusters::list_operations))
        .routes(routes!(clusters::operation))
        .routes(routes!(clusters::operation_events))
        .routes(routes!(clusters::archived_log))
        .routes(routes!(clusters::cancel_operation))
        .routes(routes!(clusters::blueprints))
        .routes(routes!(blueprints::show))
        .routes(routes!(blueprints::deprecate))
        .routes(routes!(blueprints::move_latest))
        .routes(routes!(sign_in::whoami))
        .routes(routes!(sign_in::logout))
        .routes(routes!(tokens::tokens, tokens::create_token))
        .routes(routes!(tokens::revoke_token))
        .routes(routes!(orgs::list_orgs, orgs::create))
        .routes(routes!(orgs::show, orgs::update))
        .routes(routes!(orgs::members, orgs::request))
        .routes(routes!(orgs::remove))
        .routes(routes!(orgs::approve))
        .routes(routes!(accounts::account, accounts::update_account))
        .routes(routes!(accounts::reconcile))
        .routes(routes!(accounts::costs))
        .routes(routes!(accounts::forecast))
        .routes(routes!(
            accounts::capacity_requests,
            accounts::request_capacity
        ))
        .routes(routes!(accounts::withdraw_capacity))
        .routes(routes!(tokens::rotate_keys))
        .routes(routes!(tokens::revoke))
        .routes(routes!(audit::audit))
        .routes(routes!(provisioning::state))
        .routes(routes!(provisioning::pause))
        .routes(routes!(provisioning::resume))
        .routes(routes!(secrets::recipient))
        .routes(routes!(deployments::apply))
        .routes(routes!(deployments::list_deployments))
        .routes(routes!(deployments::apply_proposal))
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
    let sign_in = OpenApiRouter::new()
        .routes(routes!(sign_in::device_start))
        .routes(routes!(sign_in::device_poll))
        .routes(routes!(sign_in::github_token))
        .routes(routes!(sign_in::web_login))
        .routes(routes!(sign_in::web_callback))
        .route_layer(middleware::from_fn_with_state(
            SIGN_IN_BODY_BYTES,
            reject_oversized,
        ))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            extract::limit_sign_in,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(SIGN_IN_BODY_BYTES));
    // Publishing a blueprint: an archive, larger than other bodies, and
    // still read only once the caller is known.
    let publishing = OpenApiRouter::new()
        .routes(routes!(blueprints::publish))
        .route_layer(middleware::from_fn_with_state(
            blueprints::ARCHIVE_BYTES,
            reject_oversized,
        ))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            extract::authenticate,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(
            blueprints::ARCHIVE_BYTES,
        ));
    let (api, document) = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(authenticated)
        .merge(publishing)
        .merge(sign_in)
        .merge(state::routes(config.max_state_bytes))
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics::scrape))
        .routes(routes!(tokens::jwks))
        .routes(routes!(tokens::revocations))
        .routes(routes!(openapi::document))
        .split_for_parts();
    let document = openapi::Document::new(document);
    api
        // The web UI, at `/` (its own paths; none under `/v1`).
        .merge(slipway_web::router(state.service.clone()))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::Extension(document))
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

/// An unknown path: the API's JSON under its own paths, the web UI's page
/// everywhere else.
async fn not_found(State(state): State<Http>, request: Request) -> Response {
    if slipway_web::serves(request.uri().path()) {
        return slipway_web::missing(state.service, StatusCode::NOT_FOUND, request).await;
    }
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such route; see /v1/openapi.json",
    )
    .into_response()
}

async fn method_not_allowed(State(state): State<Http>, request: Request) -> Response {
    if slipway_web::serves(request.uri().path()) {
        return slipway_web::missing(state.service, StatusCode::METHOD_NOT_ALLOWED, request).await;
    }
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method; see /v1/openapi.json",
    )
    .into_response()
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
        terraform: Some(service.engine.terraform().version.clone()),
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
