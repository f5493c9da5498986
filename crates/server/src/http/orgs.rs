//! Organizations and their memberships.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use slipway_api::types::*;

use super::{ApiJson, AppState};
use crate::auth::Caller;
use crate::error::ApiError;

/// Creates an organization (administrators).
#[utoipa::path(post, path = "/v1/orgs", request_body = CreateOrganization,
    responses((status = 201, body = OrganizationView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
    ApiJson(req): ApiJson<CreateOrganization>,
) -> Result<(StatusCode, Json<OrganizationView>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(app.create_organization(&caller, req).await?),
    ))
}

/// The organizations the caller belongs to (administrators: all).
#[utoipa::path(get, path = "/v1/orgs", responses((status = 200, body = Vec<OrganizationView>)), security(("bearer" = [])))]
pub async fn list(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Vec<OrganizationView>>, ApiError> {
    Ok(Json(app.organizations(&caller).await?))
}

#[utoipa::path(get, path = "/v1/orgs/{name}", params(("name" = String, Path)),
    responses((status = 200, body = OrganizationView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn show(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<Json<OrganizationView>, ApiError> {
    Ok(Json(app.organization(&caller, &name).await?))
}

/// Changes the GitHub mapping or the limits (administrators).
#[utoipa::path(patch, path = "/v1/orgs/{name}", params(("name" = String, Path)), request_body = UpdateOrganization,
    responses((status = 200, body = OrganizationView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<UpdateOrganization>,
) -> Result<Json<OrganizationView>, ApiError> {
    Ok(Json(app.update_organization(&caller, &name, req).await?))
}

#[utoipa::path(get, path = "/v1/orgs/{name}/members", params(("name" = String, Path)),
    responses((status = 200, body = Vec<MembershipView>), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
pub async fn members(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<Json<Vec<MembershipView>>, ApiError> {
    Ok(Json(app.members(&caller, &name).await?))
}

/// The caller asks to join.
#[utoipa::path(post, path = "/v1/orgs/{name}/members", params(("name" = String, Path)),
    responses((status = 201, body = MembershipView)), security(("bearer" = [])))]
pub async fn request(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<(StatusCode, Json<MembershipView>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(app.request_membership(&caller, &name).await?),
    ))
}

/// An owner or administrator approves a member.
#[utoipa::path(post, path = "/v1/orgs/{name}/members/{login}/approve", params(("name" = String, Path), ("login" = String, Path)),
    request_body = ApproveMembership,
    responses((status = 200, body = MembershipView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn approve(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
    Path((name, login)): Path<(String, String)>,
    body: Option<ApiJson<ApproveMembership>>,
) -> Result<Json<MembershipView>, ApiError> {
    let req = body.map(|ApiJson(r)| r).unwrap_or_default();
    Ok(Json(
        app.approve_membership(&caller, &name, &login, req).await?,
    ))
}

/// An owner or administrator removes a member; anyone may leave.
#[utoipa::path(delete, path = "/v1/orgs/{name}/members/{login}", params(("name" = String, Path), ("login" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn remove(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
    Path((name, login)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    app.remove_membership(&caller, &name, &login).await?;
    Ok(StatusCode::NO_CONTENT)
}
