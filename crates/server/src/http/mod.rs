//! The HTTP API: routes, request decoding with errors that name the field,
//! and the OpenAPI document. Routes live by subject: [`clusters`]
//! (clusters, operations, their logs), [`runs`] (TEST and RELEASE),
//! [`identity`] (sign-in, tokens, keys, audit), [`orgs`], and [`state`]
//! (Terraform's HTTP backend).

mod clusters;
mod identity;
mod orgs;
mod runs;
mod state;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router, middleware};
use serde::de::DeserializeOwned;
use slipway_api::types::*;
use slipway_core::event::Event;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;

use crate::app::App;
use crate::auth::require_caller;
use crate::error::ApiError;
use crate::ratelimit;

type AppState = State<Arc<App>>;

/// The whole API.
pub fn router(app: Arc<App>) -> Router {
    use clusters as c;
    // Routes that need a caller: authenticated, then limited per user.
    let authenticated = Router::new()
        .route("/openapi.json", get(openapi))
        .route("/clusters", get(c::list_clusters).post(c::create_cluster))
        .route("/clusters/{name}", get(c::cluster_status))
        .route("/clusters/{name}/deploy", post(c::deploy))
        .route("/clusters/{name}/destroy", post(c::destroy))
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
        .route("/whoami", get(identity::whoami))
        .route("/auth/logout", post(identity::logout))
        .route(
            "/tokens",
            get(identity::tokens).post(identity::create_token),
        )
        .route(
            "/tokens/{id}",
            axum::routing::delete(identity::revoke_token),
        )
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
        .route("/admin/rotate-keys", post(identity::rotate_keys))
        .route("/admin/revoke", post(identity::revoke))
        .route("/audit", get(identity::audit))
        .route_layer(middleware::from_fn_with_state(
            app.clone(),
            ratelimit::per_user,
        ))
        .route_layer(middleware::from_fn_with_state(app.clone(), require_caller));
    // Signing in: no caller yet, limited per client address.
    let sign_in = Router::new()
        .route("/auth/device", post(identity::device_start))
        .route("/auth/device/token", post(identity::device_poll))
        .route("/auth/github-token", post(identity::github_token))
        .route("/auth/web/login", get(identity::web_login))
        .route("/auth/web/callback", get(identity::web_callback))
        .route_layer(middleware::from_fn_with_state(
            app.clone(),
            ratelimit::per_address,
        ));
    let api = authenticated
        .merge(sign_in)
        .layer(axum::extract::DefaultBodyLimit::max(
            app.config.http.max_body_bytes,
        ))
        .layer(middleware::from_fn_with_state(
            app.clone(),
            reject_oversized,
        ));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/.well-known/jwks.json", get(identity::jwks))
        // The state backend has its own authentication and body limit.
        .nest("/v1", api.merge(state::routes()))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(TraceLayer::new_for_http())
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Slipway hit an internal error; it was logged",
            )
            .into_response()
        }))
        .with_state(app)
}

/// Refuses a body whose announced length is over the limit before reading
/// any of it. (Bodies of unannounced length are cut off at the limit while
/// they are read.)
async fn reject_oversized(
    State(app): AppState,
    request: Request,
    next: middleware::Next,
) -> Response {
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let limit = app.config.http.max_body_bytes;
    match announced {
        Some(length) if length > limit as u64 => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the request body is too large: {length} bytes, the limit is {limit}"),
        )
        .into_response(),
        _ => next.run(request).await,
    }
}

/// A JSON body, rejected with a JSON error naming the field at fault.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send a JSON body with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                let status = rejection.status();
                if status == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(status, "body_too_large", "the request body is too large")
                } else {
                    ApiError::new(status, "invalid_body", rejection.body_text())
                }
            })?;
        let mut deserializer = serde_json::Deserializer::from_slice(&bytes);
        match serde_path_to_error::deserialize(&mut deserializer) {
            Ok(value) => Ok(ApiJson(value)),
            Err(e) => {
                let field = e.path().to_string();
                let inner = e.into_inner();
                if inner.is_syntax() || inner.is_eof() {
                    Err(ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "malformed_json",
                        format!("the body is not valid JSON: {inner}"),
                    ))
                } else {
                    let field = if field == "." {
                        "body".to_owned()
                    } else {
                        field
                    };
                    Err(ApiError::invalid(&field, inner.to_string()))
                }
            }
        }
    }
}

/// An optional JSON body: a request without one (no `Content-Type`) reads as
/// `None`.
impl<S: Send + Sync, T: DeserializeOwned> axum::extract::OptionalFromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Option<Self>, ApiError> {
        if request.headers().get(header::CONTENT_TYPE).is_none() {
            return Ok(None);
        }
        <Self as FromRequest<S>>::from_request(request, state)
            .await
            .map(Some)
    }
}

/// Query parameters, rejected with a JSON error.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        serde_urlencoded::from_str(query)
            .map(ApiQuery)
            .map_err(|e| ApiError::invalid("query", e.to_string()))
    }
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route; see /v1/openapi.json")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method; see /v1/openapi.json",
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
async fn readyz(State(app): AppState) -> Response {
    let terraform = Some(app.engine.terraform().version.clone());
    match app.store.next_schedule_due().await {
        Ok(_) => Json(Health {
            status: "ready".into(),
            worker: Some(app.worker_id.clone()),
            terraform,
            reason: None,
        })
        .into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health {
                status: "unavailable".into(),
                worker: Some(app.worker_id.clone()),
                terraform,
                reason: Some(format!("database: {e}")),
            }),
        )
            .into_response(),
    }
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
struct BearerSecurity;

impl utoipa::Modify for BearerSecurity {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Slipway", description = "Provisions compute clusters from Terraform blueprints and keeps their lifetime, access and cost under control."),
    paths(
        healthz, readyz,
        clusters::list_clusters, clusters::create_cluster, clusters::cluster_status, clusters::deploy,
        clusters::destroy, clusters::schedule_destroy, clusters::unschedule_destroy, clusters::access,
        clusters::cluster_operations, clusters::state_history, clusters::watch_cluster, clusters::list_operations, clusters::operation,
        clusters::operation_events, clusters::archived_log, clusters::cancel_operation, clusters::blueprints,
        runs::test, runs::release, runs::cluster_runs, runs::all_runs, runs::run, runs::report,
        identity::jwks, identity::device_start, identity::device_poll, identity::github_token,
        identity::web_login, identity::web_callback, identity::logout, identity::whoami,
        identity::create_token, identity::tokens, identity::revoke_token, identity::rotate_keys,
        identity::revoke, identity::audit,
        orgs::create, orgs::list, orgs::show, orgs::update, orgs::members, orgs::request,
        orgs::approve, orgs::remove,
    ),
    components(schemas(
        ErrorBody, ErrorDetail, CreateCluster, DeployCluster, ScheduleDestroy, ClusterStatus,
        OperationSummary, OperationView, StateVersionView, ActionResult, ActionResponse, EventPage, BlueprintView, Health,
        Event, DeviceStart, DevicePoll, DeviceStatus, DevicePollResponse, GitHubTokenLogin, Session,
        WhoAmI, CredentialView, ClusterToken, CreateToken, TokenView, CreatedToken, CreateOrganization,
        UpdateOrganization, UpdateLimits, OrganizationView, MembershipView, ApproveMembership,
        AuditEntryView, RotatedKeys, RevokeToken, RunRequest, RunView, RunReport,
        slipway_core::job::StepResult, slipway_core::job::StepOutcome, slipway_core::job::RunSummary,
    )),
    modifiers(&BearerSecurity)
)]
struct ApiDoc;
