//! Publishing a blueprint version (`slipway blueprint publish`): its
//! directory as a gzip'd tar archive, read only after the caller is known
//! and at most [`ARCHIVE_BYTES`].

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use serde::Deserialize;
use slipway_api::types::{
    BlueprintDetail, BlueprintView, DeprecateBlueprint, MoveLatest, PublishedBlueprint,
};
use slipway_service::blueprints::PublishOptions;

use super::params::{BlueprintNameParam, BlueprintVersionParam};
use super::{ApiError, ApiJson, ApiQuery, AppState, Authenticated};

/// How to publish a version.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PublishParams {
    /// Only these organizations' clusters may use it, comma-separated
    /// (default: every organization's).
    organizations: Option<String>,
    /// Point `latest` at it.
    latest: Option<bool>,
}

/// The largest archive a publish reads (packed; what it unpacks to is
/// bounded by `slipway_engine::catalog::ARCHIVE_MAX_BYTES`).
pub const ARCHIVE_BYTES: usize = 8 * 1024 * 1024;

/// The body of a publish, as the document describes it: bytes.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation only: the handler reads the raw body
#[schema(value_type = String, format = Binary)]
pub struct BlueprintArchive(Vec<u8>);

/// SHOW one blueprint version the caller may use (`latest`: what it names
/// for them): sizes, variables, files and the providers its lock file pins.
/// A version restricted to other organizations is answered as missing.
#[utoipa::path(get, path = "/v1/blueprints/{name}/versions/{version}", tag = "clusters", operation_id = "show_blueprint",
    params(("name" = BlueprintNameParam, Path), ("version" = BlueprintVersionParam, Path)),
    responses((status = 200, body = BlueprintDetail)),
    security(("bearer" = [])))]
pub async fn show(
    State(http): AppState,
    Authenticated(caller): Authenticated,
    Path((name, version)): Path<(String, String)>,
) -> Result<Json<BlueprintDetail>, ApiError> {
    Ok(Json(
        http.service
            .blueprint_detail(&caller, &name, &version)
            .await?,
    ))
}

/// PUBLISH a blueprint version (administrators): checked as `slipway
/// blueprint check` checks it, then stored immutably for every replica and
/// worker. 201 when new; 200 when this very content was published before;
/// 409 `version_exists` when the version holds other content.
#[utoipa::path(put, path = "/v1/blueprints/{name}/versions/{version}", tag = "clusters",
    params(("name" = BlueprintNameParam, Path), ("version" = BlueprintVersionParam, Path), PublishParams),
    request_body(content = BlueprintArchive, content_type = "application/octet-stream",
        description = "the blueprint's directory (blueprint.toml and its module) as a gzip'd tar archive (application/gzip is accepted too)"),
    responses((status = 201, body = PublishedBlueprint), (status = 200, body = PublishedBlueprint)),
    security(("bearer" = [])))]
pub async fn publish(
    State(http): AppState,
    Authenticated(caller): Authenticated,
    Path((name, version)): Path<(String, String)>,
    ApiQuery(params): ApiQuery<PublishParams>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<PublishedBlueprint>), ApiError> {
    // Who may publish is known before a byte of the archive is read.
    caller.require_admin()?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !matches!(
        content_type,
        "application/octet-stream" | "application/gzip"
    ) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "content-type: send the blueprint's directory as a gzip'd tar archive, application/octet-stream (or application/gzip)",
        ));
    }
    let archive = axum::body::to_bytes(body, ARCHIVE_BYTES)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!(
                    "the archive is larger than {ARCHIVE_BYTES} bytes, or did not arrive in time"
                ),
            )
        })?;
    let published = http
        .service
        .publish_blueprint(
            &caller,
            &name,
            &version,
            &archive,
            PublishOptions {
                organizations: params.organizations.map(|list| {
                    list.split(',')
                        .map(|o| o.trim().to_owned())
                        .filter(|o| !o.is_empty())
                        .collect()
                }),
                latest: params.latest.unwrap_or(false),
            },
        )
        .await?;
    let status = if published.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(published)))
}

/// DEPRECATE a version (administrators): no new cluster runs it; the ones
/// that do keep running and are destroyed as ever.
#[utoipa::path(post, path = "/v1/blueprints/{name}/versions/{version}/deprecate", tag = "clusters",
    params(("name" = BlueprintNameParam, Path), ("version" = BlueprintVersionParam, Path)),
    request_body = DeprecateBlueprint, responses((status = 200, body = BlueprintView)), security(("bearer" = [])))]
pub async fn deprecate(
    State(http): AppState,
    Authenticated(caller): Authenticated,
    Path((name, version)): Path<(String, String)>,
    ApiJson(req): ApiJson<DeprecateBlueprint>,
) -> Result<Json<BlueprintView>, ApiError> {
    Ok(Json(
        http.service
            .deprecate_blueprint(&caller, &name, &version, &req.reason)
            .await?,
    ))
}

/// Points `latest` at a version (administrators).
#[utoipa::path(put, path = "/v1/blueprints/{name}/latest", tag = "clusters",
    params(("name" = BlueprintNameParam, Path)),
    request_body = MoveLatest, responses((status = 200, body = BlueprintView)), security(("bearer" = [])))]
pub async fn move_latest(
    State(http): AppState,
    Authenticated(caller): Authenticated,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<MoveLatest>,
) -> Result<Json<BlueprintView>, ApiError> {
    Ok(Json(
        http.service
            .move_latest(&caller, &name, &req.version)
            .await?,
    ))
}
