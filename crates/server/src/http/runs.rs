//! TEST and RELEASE runs: start one, see one, list them, the report.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use slipway_api::types::{RunReport, RunRequest, RunView};
use slipway_core::OperationKind;
use slipway_service::Caller;

use super::params::{ClusterNameParam, OperationIdParam};

use super::{ApiError, ApiJson, AppState, Authenticated, Http};

async fn start(
    http: Http,
    caller: &Caller,
    name: &str,
    kind: OperationKind,
    req: RunRequest,
) -> Result<(StatusCode, Json<RunView>), ApiError> {
    let run = http
        .service
        .start_run(caller, name, kind, &req.version)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(run)))
}

/// TEST: administrators only; the cluster must be running and its blueprint
/// define test suites. 202 with the run (its operation's log is the run's).
#[utoipa::path(tag = "runs", post, path = "/v1/clusters/{name}/test", params(("name" = ClusterNameParam, Path)), request_body = RunRequest,
    responses((status = 202, body = RunView)), security(("bearer" = [])))]
pub async fn test(
    State(http): AppState,
    Authenticated(caller): Authenticated,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<RunRequest>,
) -> Result<(StatusCode, Json<RunView>), ApiError> {
    start(http, &caller, &name, OperationKind::Test, req).await
}

/// RELEASE: as TEST, running the blueprint's release command.
#[utoipa::path(tag = "runs", post, path = "/v1/clusters/{name}/release", params(("name" = ClusterNameParam, Path)), request_body = RunRequest,
    responses((status = 202, body = RunView)), security(("bearer" = [])))]
pub async fn release(
    State(http): AppState,
    Authenticated(caller): Authenticated,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<RunRequest>,
) -> Result<(StatusCode, Json<RunView>), ApiError> {
    start(http, &caller, &name, OperationKind::Release, req).await
}

/// The cluster's runs, newest first.
#[utoipa::path(tag = "runs", get, path = "/v1/clusters/{name}/runs", params(("name" = ClusterNameParam, Path)),
    responses((status = 200, body = Vec<RunView>)), security(("bearer" = [])))]
pub async fn cluster_runs(
    State(http): AppState,
    Authenticated(caller): Authenticated,
    Path(name): Path<String>,
) -> Result<Json<Vec<RunView>>, ApiError> {
    Ok(Json(http.service.runs(&caller, Some(&name)).await?))
}

/// Every cluster's runs, newest first (administrators).
#[utoipa::path(tag = "runs", get, path = "/v1/runs", responses((status = 200, body = Vec<RunView>)),
    security(("bearer" = [])))]
pub async fn all_runs(
    State(http): AppState,
    Authenticated(caller): Authenticated,
) -> Result<Json<Vec<RunView>>, ApiError> {
    Ok(Json(http.service.runs(&caller, None).await?))
}

/// One run, with every step's result once it ended.
#[utoipa::path(tag = "runs", get, path = "/v1/runs/{id}", params(("id" = OperationIdParam, Path)),
    responses((status = 200, body = RunView)), security(("bearer" = [])))]
pub async fn run(
    State(http): AppState,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<RunView>, ApiError> {
    Ok(Json(http.service.run_view(&caller, &id).await?))
}

/// The latest result and pass rate per cluster, kind and version
/// (administrators).
#[utoipa::path(tag = "runs", get, path = "/v1/reports/runs", responses((status = 200, body = RunReport)),
    security(("bearer" = [])))]
pub async fn report(
    State(http): AppState,
    Authenticated(caller): Authenticated,
) -> Result<Json<RunReport>, ApiError> {
    Ok(Json(http.service.run_report(&caller).await?))
}
