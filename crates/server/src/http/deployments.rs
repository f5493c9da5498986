//! A repository's desired state, one deployment in one environment at a
//! time (`slipway apply`).

use axum::Json;
use axum::extract::{Path, State};
use slipway_api::types::{DeploymentChanges, DeploymentView, DesiredDeployment};

use super::params::{DeploymentParam, EnvironmentParam};
use super::{ApiError, ApiJson, AppState, Authenticated};

/// APPLY: what the repository asks the deployment's cluster in the
/// environment (`<deployment>-<environment>`) to be. Answers what differs
/// from what the cluster is asked to be now (a secret by name only) and,
/// unless `dry_run`, the operation that applies it — through the ordinary
/// define and deploy, under the same rules.
#[utoipa::path(put, path = "/v1/deployments/{deployment}/environments/{environment}", tag = "clusters",
    params(("deployment" = DeploymentParam, Path), ("environment" = EnvironmentParam, Path)),
    request_body = DesiredDeployment, responses((status = 200, body = DeploymentChanges)), security(("bearer" = [])))]
pub async fn apply(
    State(http): AppState,
    Authenticated(caller): Authenticated,
    Path((deployment, environment)): Path<(String, String)>,
    ApiJson(req): ApiJson<DesiredDeployment>,
) -> Result<Json<DeploymentChanges>, ApiError> {
    Ok(Json(
        http.service
            .apply_deployment(&caller, &deployment, &environment, req)
            .await?,
    ))
}

/// APPLY the change a dry run proposed (`slipway apply --dry-run`) for the
/// deployment in the environment, as proposed, with the checks of an apply
/// (staging before prod). 404 when none is proposed; 409 `stale_proposal`
/// when the cluster was asked to be something else since, `not_promoted`
/// when the environment it comes after was not applied the same and
/// tested green.
#[utoipa::path(post, path = "/v1/deployments/{deployment}/environments/{environment}/proposal/apply", tag = "clusters",
    params(("deployment" = DeploymentParam, Path), ("environment" = EnvironmentParam, Path)),
    responses((status = 200, body = DeploymentChanges)), security(("bearer" = [])))]
pub async fn apply_proposal(
    State(http): AppState,
    Authenticated(caller): Authenticated,
    Path((deployment, environment)): Path<(String, String)>,
) -> Result<Json<DeploymentChanges>, ApiError> {
    Ok(Json(
        http.service
            .apply_proposal(&caller, &deployment, &environment)
            .await?,
    ))
}

/// Each deployment a repository applied that the caller may see, its
/// environments side by side: version, common digest, commit, last apply,
/// tests since, protection.
#[utoipa::path(get, path = "/v1/deployments", tag = "clusters",
    responses((status = 200, body = Vec<DeploymentView>)), security(("bearer" = [])))]
pub async fn list_deployments(
    State(http): AppState,
    Authenticated(caller): Authenticated,
) -> Result<Json<Vec<DeploymentView>>, ApiError> {
    Ok(Json(http.service.deployments(&caller).await?))
}
