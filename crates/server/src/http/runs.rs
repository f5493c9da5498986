//! TEST and RELEASE runs: start one, see one, list them, the report.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use slipway_api::types::{ErrorBody, RunReport, RunRequest, RunView};
use slipway_core::OperationKind;

use super::{ApiJson, AppState};
use crate::app::App;
use crate::auth::Caller;
use crate::error::ApiError;

async fn start(
    app: Arc<App>,
    caller: &Caller,
    name: &str,
    kind: OperationKind,
    req: RunRequest,
) -> Result<(StatusCode, Json<RunView>), ApiError> {
    let run = app.start_run(caller, name, kind, &req.version).await?;
    Ok((StatusCode::ACCEPTED, Json(run)))
}

/// TEST: administrators only; the cluster must be running and its blueprint
/// define test suites. 202 with the run (its operation's log is the run's).
#[utoipa::path(post, path = "/v1/clusters/{name}/test", params(("name" = String, Path)), request_body = RunRequest,
    responses((status = 202, body = RunView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub async fn test(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<RunRequest>,
) -> Result<(StatusCode, Json<RunView>), ApiError> {
    start(app, &caller, &name, OperationKind::Test, req).await
}

/// RELEASE: as TEST, running the blueprint's release command.
#[utoipa::path(post, path = "/v1/clusters/{name}/release", params(("name" = String, Path)), request_body = RunRequest,
    responses((status = 202, body = RunView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub async fn release(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<RunRequest>,
) -> Result<(StatusCode, Json<RunView>), ApiError> {
    start(app, &caller, &name, OperationKind::Release, req).await
}

/// The cluster's runs, newest first.
#[utoipa::path(get, path = "/v1/clusters/{name}/runs", params(("name" = String, Path)),
    responses((status = 200, body = Vec<RunView>), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn cluster_runs(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<Json<Vec<RunView>>, ApiError> {
    Ok(Json(app.runs(&caller, Some(&name)).await?))
}

/// Every cluster's runs, newest first (administrators).
#[utoipa::path(get, path = "/v1/runs", responses((status = 200, body = Vec<RunView>), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn all_runs(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Vec<RunView>>, ApiError> {
    Ok(Json(app.runs(&caller, None).await?))
}

/// One run, with every step's result once it ended.
#[utoipa::path(get, path = "/v1/runs/{id}", params(("id" = String, Path)),
    responses((status = 200, body = RunView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn run(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<RunView>, ApiError> {
    Ok(Json(app.run_view(&caller, &id).await?))
}

/// The latest result and pass rate per cluster, kind and version
/// (administrators).
#[utoipa::path(get, path = "/v1/reports/runs", responses((status = 200, body = RunReport), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn report(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
) -> Result<Json<RunReport>, ApiError> {
    Ok(Json(app.run_report(&caller).await?))
}
