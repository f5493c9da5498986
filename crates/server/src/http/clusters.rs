//! Clusters and their operations: the routes, the operation log as
//! server-sent events, and a cluster's status as it changes.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{self, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use serde::Deserialize;
use slipway_api::types::*;
use slipway_service::FollowedEvent;

use super::params::{ClusterNameParam, OperationIdParam};
use super::{ApiError, ApiJson, ApiQuery, AppState, Authenticated};

/// A page of the clusters the caller may see, by name: searched by a part
/// of the name, filtered by state, organization, public or private, and
/// "mine" (defined by the caller).
#[utoipa::path(get, path = "/v1/clusters", tag = "clusters", params(ClusterQuery),
    responses((status = 200, body = ClusterPage)), security(("bearer" = [])))]
pub async fn list_clusters(
    State(http): AppState,
    Authenticated(caller): Authenticated,
    ApiQuery(query): ApiQuery<ClusterQuery>,
) -> Result<Json<ClusterPage>, ApiError> {
    Ok(Json(http.service.list_clusters(&caller, &query).await?))
}

/// Defines a cluster (nothing is deployed yet).
#[utoipa::path(post, path = "/v1/clusters", tag = "clusters", request_body = CreateCluster,
    responses((status = 201, body = ClusterStatus)), security(("bearer" = [])))]
pub async fn create_cluster(
    State(http): AppState,
    Authenticated(caller): Authenticated,
    ApiJson(req): ApiJson<CreateCluster>,
) -> Result<(StatusCode, Json<ClusterStatus>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(http.service.create_cluster(&caller, req).await?),
    ))
}

#[utoipa::path(get, path = "/v1/clusters/{name}", tag = "clusters", params(("name" = ClusterNameParam, Path)),
    responses((status = 200, body = ClusterStatus)), security(("bearer" = [])))]
pub async fn cluster_status(
    State(http): AppState,
    Authenticated(caller): Authenticated,
    Path(name): Path<String>,
) -> Result<Json<ClusterStatus>, ApiError> {
    Ok(Json(http.service.cluster_status(&caller, &name).await?))
}

/// An action's answer: 202 when an operation is in flight, 200 otherwise.
fn action(response: ActionResponse) -> (StatusCode, Json<ActionResponse>) {
    let status = match response.result {
        ActionResult::Queued | ActionResult::Joined => StatusCode::ACCEPTED,
        ActionResult::AlreadyRunning
        | ActionResult::NothingToDestroy
        | ActionResult::Scheduled
        | ActionResult::Unscheduled
        | ActionResult::Removed
        | ActionResult::VisibilityChanged
        | ActionResult::ProtectionChanged => StatusCode::OK,
    };
    (status, Json(response))
}

/// DEPLOY. A running cluster with nothing to change answers 200
/// `already_running`; otherwise the deploy (or in-place update) is queued
/// and the answer is 202 with the operation to follow.
#[utoipa::path(post, path = "/v1/clusters/{name}/deploy", tag = "clusters", params(("name" = ClusterNameParam, Path)),
    request_body(content = Option<DeployCluster>, description = "optional: without a body, the cluster's configuration is deployed"),
    responses((status = 200, body = ActionResponse), (status = 202, body = ActionResponse)), security(("bearer" = [])))]
pub async fn deploy(
    State(http): AppState,
    Authenticated(caller): Authenticated,
    Path(name): Path<String>,
    body: Option<ApiJson<DeployCluster>>,
) -> Result<(StatusCode, Json<ActionResponse>), ApiError> {
    let req = body.map(|ApiJson(req)| req).unwrap_or_default();
    Ok(action(http.service.deploy(&caller, &name, req).await?))
}

/// DESTROY. Nothing deployed: 200 `nothing_to_destroy`; otherwise 202. A
/// protected cluster is refused (409 `protected`) unless an administrator
/// forces it with a reason.
#[utoipa::path(post, path = "/v1/clusters/{name}/destroy", tag = "clusters", params(("name" = ClusterNameParam, Path)),
    request_body(content = Option<DestroyCluster>, description = "optional: only to force the destroy of a protected cluster"),
    responses((status = 200, body = ActionResponse), (status = 202, body = ActionResponse)), security(("bearer" = [])))]
pub async fn destroy(
    State(http): AppState,
    Authenticated(caller): Authenticated,
    Path(name): Path<String>,
    body: Option<ApiJson<DestroyCluster>>,
) -> Result<(StatusCode, Json<ActionResponse>), ApiError> {
    let req = body.map(|ApiJson(req)| req).unwrap_or_default();
    Ok(action(http.service.destroy(&caller, &name, req).await?))
}

/// PROTECTION (administrators): a protected cluster is kept — its
/// scheduled destroy goes, and no person, schedule, capacity or budget
/// destroys it unless an administrator forces it.
#[utoipa::path(put, path = "/v1/clusters/{name}/protection", tag = "clusters", params(("name" = ClusterNameParam, Path)),
    request_body = ClusterProtection, responses((status = 200, body = ActionResponse)), security(("bearer" = [])))]
pub async fn set_protection(
    State(http): AppState,
    Authenticated(caller): Authenticated,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<ClusterProtection>,
) -> Result<Json<ActionResponse>, ApiError> {
    Ok(Json(
        http.service
            .set_protection(&caller, &name, req.protected)
            .await?,
    ))
}

/// REFRESH: Terraform reads what really exists and the cluster's state
/// follows (202 with the operation; refused with 409 `not_deployed` when
/// nothing is deployed).
#[utoipa::path(post, path = "/v1/clusters/{name}/refresh", tag = "clusters", params(("name" = ClusterNameParam, Path)),
    responses((status = 202, body = ActionResponse)), security(("bearer" = [])))]
pub async fn refresh(
    State(http): AppState,
    Authenticated(caller): Authenticated,
    Path(name): Path<String>,
) -> Result<(StatusCode, Json<ActionResponse>), ApiError> {
    Ok(action(http.service.refresh(&caller, &name).await?))
}

/// REMOVE: forgets the definition of a cluster with nothing deployed
/// (refused with 409 `still_deployed` otherwise); its operations, logs and
/// costs stay in the history.
#[utoipa::path(delete, path = "/v1/clusters/{name}", tag = "clusters", params(("name" = ClusterNameParam, Path)),
    responses((status = 200, body = ActionResponse)), security(("bearer" = [])))]
pub async fn remove_cluster(
    State(http): AppState,
    Authenticated(caller): Authenticated,
    Path(name): Path<String>,
) -> Result<(StatusCode, Json<ActionResponse>), ApiError> {
    Ok(action(http.service.remove_cluster(&caller, &name).await?))
}

/// VISIBILITY: makes the cluster public (anyone signed in may use it) or
/// private (its organization only). Only while nothing is deployed or in
/// flight (409 `still_deployed` otherwise): the module is given it when it
/// is deployed. A public cluster is an administrator's to manage.
#[utoipa::path(put, path = "/v1/clusters/{name}/visibility", tag = "clusters", params(("name" = ClusterNameParam, Path)),
    request_body = ClusterVisibility, responses((status = 200, body = ActionResponse)), security(("bearer" = [])))]
pub async fn set_visibility(
    State(http): AppState,
    Authenticated(caller): Authenticated,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<ClusterVisibility>,
) -> Result<Json<ActionResponse>, ApiError> {
    Ok(Json(
        http.service
            .set_visibility(&caller, &name, req.public)
            .await?,
    ))
}

/// SCHEDULE_DESTROY (also `extend`): refused with 409
/// `too_late_to_reschedule` from {change_cutoff} before a scheduled destroy.
#[utoipa::path(put, path = "/v1/clusters/{name}/schedule", tag = "clusters", params(("name" = ClusterNameParam, Path)),
    request_body = ScheduleDestroy, responses((status = 200, body = ActionResponse)), security(("bearer" = [])))]
pub async fn schedule_destroy(
    State(http): AppState,
    Authenticated(caller): Authenticated,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<ScheduleDestroy>,
) -> Result<Json<ActionResponse>, ApiError> {
    Ok(Json(
        http.service.schedule_destroy(&caller, &name, req).await?,
    ))
}

/// Removes the scheduled destroy (administrators; organization members'
/// clusters always carry one).
#[utoipa::path(delete, path = "/v1/clusters/{name}/schedule", tag = "clusters", params(("name" = ClusterNameParam, Path)),
    responses((status = 200, body = ActionResponse)), security(("bearer" = [])))]
pub async fn unschedule_destroy(
    State(http): AppState,
    Authenticated(caller): Authenticated,
    Path(name): Path<String>,
) -> Result<Json<ActionResponse>, ApiError> {
    Ok(Json(http.service.unschedule_destroy(&caller, &name).await?))
}

/// The cluster's operations, newest first, a page at a time.
#[utoipa::path(get, path = "/v1/clusters/{name}/operations", tag = "operations",
    params(("name" = ClusterNameParam, Path), PageQuery),
    responses((status = 200, body = OperationPage)), security(("bearer" = [])))]
pub async fn cluster_operations(
    State(http): AppState,
    Authenticated(caller): Authenticated,
    Path(name): Path<String>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<OperationPage>, ApiError> {
    Ok(Json(
        http.service
            .operations(&caller, Some(&name), page.cursor.as_deref(), page.limit)
            .await?,
    ))
}

/// Every version of the cluster's Terraform state, oldest first, and the
/// operation that wrote each.
#[utoipa::path(get, path = "/v1/clusters/{name}/states", tag = "clusters", params(("name" = ClusterNameParam, Path)),
    responses((status = 200, body = Vec<StateVersionView>)), security(("bearer" = [])))]
pub async fn state_history(
    State(http): AppState,
    Authenticated(caller): Authenticated,
    Path(name): Path<String>,
) -> Result<Json<Vec<StateVersionView>>, ApiError> {
    Ok(Json(http.service.state_history(&caller, &name).await?))
}

/// Every cluster's operations, newest first (administrators).
#[utoipa::path(get, path = "/v1/operations", tag = "operations", params(PageQuery),
    responses((status = 200, body = OperationPage)), security(("bearer" = [])))]
pub async fn list_operations(
    State(http): AppState,
    Authenticated(caller): Authenticated,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<OperationPage>, ApiError> {
    Ok(Json(
        http.service
            .operations(&caller, None, page.cursor.as_deref(), page.limit)
            .await?,
    ))
}

#[utoipa::path(get, path = "/v1/operations/{id}", tag = "operations", params(("id" = OperationIdParam, Path)),
    responses((status = 200, body = OperationView)), security(("bearer" = [])))]
pub async fn operation(
    State(http): AppState,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<OperationView>, ApiError> {
    Ok(Json(http.service.operation(&caller, &id).await?))
}

/// ACCESS: a cluster token (`jwt_cluster`) whose audience is exactly the
/// cluster: for public clusters any member, for private ones members of the
/// owning organization and administrators; others get 403.
#[utoipa::path(post, path = "/v1/clusters/{name}/access", tag = "clusters", params(("name" = ClusterNameParam, Path)),
    responses((status = 200, body = ClusterToken)), security(("bearer" = [])))]
pub async fn access(
    State(http): AppState,
    Authenticated(caller): Authenticated,
    Path(name): Path<String>,
) -> Result<Json<ClusterToken>, ApiError> {
    Ok(Json(http.service.access(&caller, &name).await?))
}

/// The whole log of a finished operation, as archived in object storage
/// (JSON lines, one event each).
#[utoipa::path(get, path = "/v1/operations/{id}/log", tag = "operations", params(("id" = OperationIdParam, Path)),
    responses((status = 200, description = "JSON lines, one event each", content_type = "application/x-ndjson", body = String)),
    security(("bearer" = [])))]
pub async fn archived_log(
    State(http): AppState,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let log = http.service.archived_log(&caller, &id).await?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/x-ndjson")],
        log,
    )
        .into_response())
}

/// Cancels an operation: a queued one at once (answered `cancelled`), a
/// running one by telling whichever worker runs it (answered still
/// `running`; it stops within a lease-renewal period). One that had already
/// ended: 409 `already_ended`, naming it.
#[utoipa::path(post, path = "/v1/operations/{id}/cancel", tag = "operations", params(("id" = OperationIdParam, Path)),
    responses((status = 200, body = OperationView),
        (status = 409, body = ErrorBody, description = "the operation had already ended: nothing was cancelled")),
    security(("bearer" = [])))]
pub async fn cancel_operation(
    State(http): AppState,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<OperationView>, ApiError> {
    Ok(Json(http.service.cancel(&caller, &id).await?))
}

#[utoipa::path(get, path = "/v1/blueprints", tag = "clusters", responses((status = 200, body = Vec<BlueprintView>)), security(("bearer" = [])))]
pub async fn blueprints(
    State(http): AppState,
    Authenticated(caller): Authenticated,
) -> Result<Json<Vec<BlueprintView>>, ApiError> {
    Ok(Json(http.service.blueprints(&caller).await?))
}

/// The cluster's status now, then again after every change (an operation
/// queued, started or finished; a schedule set, moved or removed), as
/// server-sent events named `status`. Ends when the cluster is gone or the
/// server stops.
#[utoipa::path(get, path = "/v1/clusters/{name}/watch", tag = "clusters", params(("name" = ClusterNameParam, Path)),
    responses((status = 200, description = "server-sent events, each `status` carrying a ClusterStatus as JSON", content_type = "text/event-stream", body = String)),
    security(("bearer" = [])))]
pub async fn watch_cluster(
    State(http): AppState,
    Authenticated(caller): Authenticated,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let statuses = http.service.clone().watch_cluster(caller, &name).await?;
    let events = statuses.map(|status| {
        Ok::<_, Infallible>(
            sse::Event::default()
                .event("status")
                .data(serde_json::to_string(&status).expect("statuses serialize")),
        )
    });
    Ok(sse(events).into_response())
}

/// Which part of a log to read.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Only events after this sequence number.
    #[serde(default)]
    after: Option<u64>,
    /// Stream events as they happen (server-sent events) until the last.
    #[serde(default)]
    follow: Option<bool>,
}

/// An operation's log. With `follow=true`, a stream of server-sent events
/// (each `id` is the event's sequence number, so `Last-Event-ID` resumes)
/// that ends after the operation's last event.
#[utoipa::path(get, path = "/v1/operations/{id}/events", tag = "operations",
    params(("id" = OperationIdParam, Path), EventsQuery),
    responses((status = 200, description = "the log as JSON; with follow=true, server-sent events each carrying an Event as JSON",
        content((EventPage = "application/json"), (String = "text/event-stream")))),
    security(("bearer" = [])))]
pub async fn operation_events(
    State(http): AppState,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<EventsQuery>,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let after = query.after.or(resume).unwrap_or(0);
    if query.follow.unwrap_or(false) {
        let events = http
            .service
            .clone()
            .follow_operation(&caller, &id, after)
            .await?;
        Ok(sse(events.map(|event| Ok::<_, Infallible>(sse_event(&event)))).into_response())
    } else {
        Ok(Json(http.service.events(&caller, &id, after).await?).into_response())
    }
}

fn sse(
    stream: impl Stream<Item = Result<sse::Event, Infallible>> + Send + 'static,
) -> Sse<impl Stream<Item = Result<sse::Event, Infallible>>> {
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

fn sse_event(event: &FollowedEvent) -> sse::Event {
    sse::Event::default()
        .id(event.seq.to_string())
        .event(event.kind.clone())
        .data(event.json())
}
