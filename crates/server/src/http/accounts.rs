//! Organizations' accounts, costs and forecasts, and clusters' capacity
//! requests.

use axum::Json;
use axum::extract::{Path, State};
use slipway_api::types::*;

use super::params::{CapacityRequestIdParam, ClusterNameParam, OrgNameParam};
use super::{ApiError, ApiJson, ApiQuery, AppState, Authenticated};

/// The organization's budget account, burn rates and when the money runs
/// out (owners and administrators).
#[utoipa::path(get, path = "/v1/orgs/{name}/account", tag = "accounts", params(("name" = OrgNameParam, Path)),
    responses((status = 200, body = AccountView)), security(("bearer" = [])))]
pub async fn account(
    State(http): AppState,
    Authenticated(caller): Authenticated,
    Path(name): Path<String>,
) -> Result<Json<AccountView>, ApiError> {
    Ok(Json(http.service.account(&caller, &name).await?))
}

/// Opens or changes the account (administrators): balance, monthly
/// allowance, maximum balance, with a reason for the audit log. It is
/// reconciled and its budget enforced at once; the answer says what that
/// did (an account opened in a month is credited that month's allowance).
#[utoipa::path(patch, path = "/v1/orgs/{name}/account", tag = "accounts", params(("name" = OrgNameParam, Path)),
    request_body = UpdateAccount, responses((status = 200, body = ReconciliationView)), security(("bearer" = [])))]
pub async fn update_account(
    State(http): AppState,
    Authenticated(caller): Authenticated,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<UpdateAccount>,
) -> Result<Json<ReconciliationView>, ApiError> {
    Ok(Json(
        http.service.update_account(&caller, &name, req).await?,
    ))
}

/// Reconciles the account now (owners and administrators): credits the
/// allowance of a new month, debits the costs accrued, caps the balance,
/// enforces the budget.
#[utoipa::path(post, path = "/v1/orgs/{name}/account/reconcile", tag = "accounts", params(("name" = OrgNameParam, Path)),
    responses((status = 200, body = ReconciliationView)), security(("bearer" = [])))]
pub async fn reconcile(
    State(http): AppState,
    Authenticated(caller): Authenticated,
    Path(name): Path<String>,
) -> Result<Json<ReconciliationView>, ApiError> {
    Ok(Json(http.service.reconcile_account(&caller, &name).await?))
}

/// Cost history by hour, day or month, of the organization or one of its
/// clusters, each figure from the blueprint's cost model or AWS Cost
/// Explorer (members and administrators).
#[utoipa::path(get, path = "/v1/orgs/{name}/costs", tag = "accounts", params(("name" = OrgNameParam, Path), CostQuery),
    responses((status = 200, body = CostHistory)), security(("bearer" = [])))]
pub async fn costs(
    State(http): AppState,
    Authenticated(caller): Authenticated,
    Path(name): Path<String>,
    ApiQuery(query): ApiQuery<CostQuery>,
) -> Result<Json<CostHistory>, ApiError> {
    Ok(Json(http.service.costs(&caller, &name, query).await?))
}

/// The balance ahead at the minimum, current and maximum burn rates:
/// hourly for 14 days, daily for 91, monthly for 12 months (owners and
/// administrators).
#[utoipa::path(get, path = "/v1/orgs/{name}/forecast", tag = "accounts", params(("name" = OrgNameParam, Path)),
    responses((status = 200, body = ForecastView)), security(("bearer" = [])))]
pub async fn forecast(
    State(http): AppState,
    Authenticated(caller): Authenticated,
    Path(name): Path<String>,
) -> Result<Json<ForecastView>, ApiError> {
    Ok(Json(http.service.forecast(&caller, &name).await?))
}

/// Asks for `nodes` nodes for `ttl`: the cluster follows the sum over
/// people of each one's largest active request (members of its
/// organization and administrators).
#[utoipa::path(post, path = "/v1/clusters/{name}/capacity", tag = "accounts", params(("name" = ClusterNameParam, Path)),
    request_body = CreateCapacityRequest, responses((status = 200, body = CapacityResponse)), security(("bearer" = [])))]
pub async fn request_capacity(
    State(http): AppState,
    Authenticated(caller): Authenticated,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<CreateCapacityRequest>,
) -> Result<Json<CapacityResponse>, ApiError> {
    Ok(Json(
        http.service.request_capacity(&caller, &name, req).await?,
    ))
}

/// The cluster's active capacity requests: your own (owners and
/// administrators: all).
#[utoipa::path(get, path = "/v1/clusters/{name}/capacity", tag = "accounts", params(("name" = ClusterNameParam, Path)),
    responses((status = 200, body = Vec<CapacityRequestView>)), security(("bearer" = [])))]
pub async fn capacity_requests(
    State(http): AppState,
    Authenticated(caller): Authenticated,
    Path(name): Path<String>,
) -> Result<Json<Vec<CapacityRequestView>>, ApiError> {
    Ok(Json(http.service.capacity_requests(&caller, &name).await?))
}

/// Withdraws a capacity request; the cluster follows what remains.
#[utoipa::path(delete, path = "/v1/clusters/{name}/capacity/{id}", tag = "accounts",
    params(("name" = ClusterNameParam, Path), ("id" = CapacityRequestIdParam, Path)),
    responses((status = 200, body = CapacityResponse)), security(("bearer" = [])))]
pub async fn withdraw_capacity(
    State(http): AppState,
    Authenticated(caller): Authenticated,
    Path((name, id)): Path<(String, String)>,
) -> Result<Json<CapacityResponse>, ApiError> {
    Ok(Json(
        http.service.withdraw_capacity(&caller, &name, &id).await?,
    ))
}
