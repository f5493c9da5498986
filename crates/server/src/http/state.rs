//! Terraform's HTTP state backend: `GET`/`POST` the state at
//! `/v1/terraform/state`, `LOCK`/`UNLOCK` at `/v1/terraform/lock`, as the
//! running operation whose credentials Terraform sends (basic auth).
//!
//! The credential is checked before a byte of the body is read; then at
//! most `http.max_state_bytes` are (a lock's info: 64 KiB).

use std::net::SocketAddr;

use axum::Json;
use axum::body::Body;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use base64::Engine as _;
use serde::Deserialize;
use slipway_service::state::{StateCaller, StateOutcome};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiError, AppState, Http, client_address, too_large};

/// The largest lock info Terraform sends.
const MAX_LOCK_INFO_BYTES: usize = 64 * 1024;

/// The routes, with their own body limit (they are not under the API's).
pub fn routes(max_state_bytes: usize) -> OpenApiRouter<Http> {
    OpenApiRouter::new()
        .routes(routes!(read, write, delete))
        // LOCK and UNLOCK, Terraform's own methods, which OpenAPI cannot
        // describe: the one route written by hand.
        .route("/v1/terraform/lock", any(lock))
        .layer(axum::Extension(StateLimit(max_state_bytes)))
        .layer(DefaultBodyLimit::disable())
}

#[derive(Clone, Copy)]
pub struct StateLimit(usize);

/// The running operation the request authenticates as (basic auth: the
/// operation id and its run's secret).
async fn credential(
    http: &Http,
    peer: ConnectInfo<SocketAddr>,
    headers: &HeaderMap,
) -> Result<StateCaller, ApiError> {
    let client = client_address(&http.service, peer, headers);
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok());
    let (user, password) = match basic.as_deref().and_then(|b| b.split_once(':')) {
        Some((user, password)) => (Some(user), Some(password)),
        None => (None, None),
    };
    Ok(http
        .service
        .state_credential(client, user, password)
        .await?)
}

/// Reads a body of at most `limit` bytes (413 past it; the announced
/// length is checked before reading).
async fn body(request: Request, limit: usize) -> Result<axum::body::Bytes, ApiError> {
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(length) = announced
        && length > limit as u64
    {
        return Err(too_large(length, limit));
    }
    axum::body::to_bytes(request.into_body(), limit)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("the body is larger than {limit} bytes, or did not arrive in time"),
            )
        })
}

fn locked(info: serde_json::Value) -> Response {
    (StatusCode::LOCKED, Json(info)).into_response()
}

/// The newest version of the run's state (204 when there is none yet).
#[utoipa::path(get, path = "/v1/terraform/state", tag = "terraform",
    responses((status = 200, description = "the Terraform state", content_type = "application/json", body = Object),
        (status = 204, description = "no state yet")),
    security(("basic" = [])))]
pub async fn read(
    State(http): AppState,
    peer: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let credential = credential(&http, peer, &headers).await?;
    Ok(match http.service.state_read(&credential).await? {
        Some(state) => ([(header::CONTENT_TYPE, "application/json")], state).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WriteQuery {
    /// The lock the write is made under.
    #[serde(rename = "ID")]
    id: Option<String>,
}

/// Writes a new version of the run's state (423 with the lock's info when
/// another lock holds it).
#[utoipa::path(post, path = "/v1/terraform/state", tag = "terraform", params(WriteQuery),
    request_body(content = Object, description = "a Terraform state", content_type = "application/json"),
    responses((status = 200, description = "written"), (status = 423, description = "locked by another", body = Object)),
    security(("basic" = [])))]
pub async fn write(
    State(http): AppState,
    axum::Extension(StateLimit(limit)): axum::Extension<StateLimit>,
    peer: ConnectInfo<SocketAddr>,
    request: Request,
) -> Result<Response, ApiError> {
    let credential = credential(&http, peer, request.headers()).await?;
    let lock_id = request
        .uri()
        .query()
        .and_then(|q| serde_urlencoded::from_str::<WriteQuery>(q).ok())
        .and_then(|q| q.id);
    let state = body(request, limit).await?;
    Ok(
        match http
            .service
            .state_write(&credential, lock_id.as_deref(), &state)
            .await?
        {
            StateOutcome::Done => StatusCode::OK.into_response(),
            StateOutcome::Locked(info) => locked(info),
        },
    )
}

/// States are never deleted: Slipway keeps every version.
#[utoipa::path(delete, path = "/v1/terraform/state", tag = "terraform",
    responses((status = 405, description = "states are not deleted", body = slipway_api::types::ErrorBody)),
    security(("basic" = [])))]
pub async fn delete(
    State(http): AppState,
    peer: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    credential(&http, peer, &headers).await?;
    Err(ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "Slipway keeps every state version; states are not deleted",
    ))
}

/// `LOCK` and `UNLOCK` (Terraform's lock methods), with its lock info (423
/// with the holder's info when another lock holds the state).
async fn lock(
    State(http): AppState,
    peer: ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Result<Response, ApiError> {
    let method = request.method().clone();
    let take = match method.as_str() {
        "LOCK" => true,
        "UNLOCK" => false,
        _ => {
            return Err(ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("{method} is not LOCK or UNLOCK"),
            ));
        }
    };
    let credential = credential(&http, peer, request.headers()).await?;
    let info = body(request, MAX_LOCK_INFO_BYTES).await?;
    Ok(
        match http.service.state_lock(&credential, take, &info).await? {
            StateOutcome::Done => StatusCode::OK.into_response(),
            StateOutcome::Locked(info) => locked(info),
        },
    )
}
