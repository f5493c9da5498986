//! Provisioning paused site-wide: its state (anyone signed in), pause and
//! resume (administrators).

use axum::Json;
use axum::extract::State;
use slipway_api::types::*;

use super::{ApiError, ApiJson, AppState, Authenticated};

/// Whether provisioning is paused: while it is, queued operations wait.
#[utoipa::path(get, path = "/v1/provisioning", tag = "meta",
    responses((status = 200, body = ProvisioningView)), security(("bearer" = [])))]
pub async fn state(
    State(http): AppState,
    Authenticated(caller): Authenticated,
) -> Result<Json<ProvisioningView>, ApiError> {
    Ok(Json(http.service.provisioning(&caller).await?))
}

/// Pauses provisioning site-wide (administrators): no queued operation
/// starts until it resumes; running ones go on. Audited.
#[utoipa::path(post, path = "/v1/admin/provisioning/pause", tag = "meta", request_body = PauseProvisioning,
    responses((status = 200, body = ProvisioningView)), security(("bearer" = [])))]
pub async fn pause(
    State(http): AppState,
    Authenticated(caller): Authenticated,
    ApiJson(req): ApiJson<PauseProvisioning>,
) -> Result<Json<ProvisioningView>, ApiError> {
    Ok(Json(
        http.service
            .pause_provisioning(&caller, &req.reason)
            .await?,
    ))
}

/// Resumes provisioning (administrators): queued operations start.
/// Audited.
#[utoipa::path(post, path = "/v1/admin/provisioning/resume", tag = "meta",
    responses((status = 200, body = ProvisioningView)), security(("bearer" = [])))]
pub async fn resume(
    State(http): AppState,
    Authenticated(caller): Authenticated,
) -> Result<Json<ProvisioningView>, ApiError> {
    Ok(Json(http.service.resume_provisioning(&caller).await?))
}
