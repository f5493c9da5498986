//! Organizations and their memberships.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use slipway_api::types::*;

use super::params::{OrgNameParam, PersonParam};

use super::{ApiError, ApiJson, AppState, Authenticated};

/// Creates an organization (administrators).
#[utoipa::path(tag = "orgs", post, path = "/v1/orgs", request_body = CreateOrganization,
    responses((status = 201, body = OrganizationView)),
    security(("bearer" = [])))]
pub async fn create(
    State(http): AppState,
    Authenticated(caller): Authenticated,
    ApiJson(req): ApiJson<CreateOrganization>,
) -> Result<(StatusCode, Json<OrganizationView>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(http.service.create_organization(&caller, req).await?),
    ))
}

/// The organizations the caller belongs to (administrators: all).
#[utoipa::path(tag = "orgs", get, path = "/v1/orgs", responses((status = 200, body = Vec<OrganizationView>)), security(("bearer" = [])))]
pub async fn list_orgs(
    State(http): AppState,
    Authenticated(caller): Authenticated,
) -> Result<Json<Vec<OrganizationView>>, ApiError> {
    Ok(Json(http.service.organizations(&caller).await?))
}

#[utoipa::path(tag = "orgs", get, path = "/v1/orgs/{name}", params(("name" = OrgNameParam, Path)),
    responses((status = 200, body = OrganizationView)),
    security(("bearer" = [])))]
pub async fn show(
    State(http): AppState,
    Authenticated(caller): Authenticated,
    Path(name): Path<String>,
) -> Result<Json<OrganizationView>, ApiError> {
    Ok(Json(http.service.organization(&caller, &name).await?))
}

/// Changes the GitHub mapping or the limits (administrators).
#[utoipa::path(tag = "orgs", patch, path = "/v1/orgs/{name}", params(("name" = OrgNameParam, Path)), request_body = UpdateOrganization,
    responses((status = 200, body = OrganizationView)),
    security(("bearer" = [])))]
pub async fn update(
    State(http): AppState,
    Authenticated(caller): Authenticated,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<UpdateOrganization>,
) -> Result<Json<OrganizationView>, ApiError> {
    Ok(Json(
        http.service
            .update_organization(&caller, &name, req)
            .await?,
    ))
}

#[utoipa::path(tag = "orgs", get, path = "/v1/orgs/{name}/members", params(("name" = OrgNameParam, Path)),
    responses((status = 200, body = Vec<MembershipView>)), security(("bearer" = [])))]
pub async fn members(
    State(http): AppState,
    Authenticated(caller): Authenticated,
    Path(name): Path<String>,
) -> Result<Json<Vec<MembershipView>>, ApiError> {
    Ok(Json(http.service.members(&caller, &name).await?))
}

/// The caller asks to join.
#[utoipa::path(tag = "orgs", post, path = "/v1/orgs/{name}/members", params(("name" = OrgNameParam, Path)),
    responses((status = 201, body = MembershipView)), security(("bearer" = [])))]
pub async fn request(
    State(http): AppState,
    Authenticated(caller): Authenticated,
    Path(name): Path<String>,
) -> Result<(StatusCode, Json<MembershipView>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(http.service.request_membership(&caller, &name).await?),
    ))
}

/// An owner or administrator approves a member.
#[utoipa::path(tag = "orgs", post, path = "/v1/orgs/{name}/members/{login}/approve", params(("name" = OrgNameParam, Path), ("login" = PersonParam, Path)),
    request_body = ApproveMembership,
    responses((status = 200, body = MembershipView)),
    security(("bearer" = [])))]
pub async fn approve(
    State(http): AppState,
    Authenticated(caller): Authenticated,
    Path((name, login)): Path<(String, String)>,
    body: Option<ApiJson<ApproveMembership>>,
) -> Result<Json<MembershipView>, ApiError> {
    let req = body.map(|ApiJson(r)| r).unwrap_or_default();
    Ok(Json(
        http.service
            .approve_membership(&caller, &name, &login, req)
            .await?,
    ))
}

/// An owner or administrator removes a member; anyone may leave.
#[utoipa::path(tag = "orgs", delete, path = "/v1/orgs/{name}/members/{login}", params(("name" = OrgNameParam, Path), ("login" = PersonParam, Path)),
    responses((status = 204)), security(("bearer" = [])))]
pub async fn remove(
    State(http): AppState,
    Authenticated(caller): Authenticated,
    Path((name, login)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    http.service
        .remove_membership(&caller, &name, &login)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
