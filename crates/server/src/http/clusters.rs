//! Clusters and their operations: the routes, the operation log as
//! server-sent events, and a cluster's status as it changes.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{self, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use futures::Stream;
use serde::Deserialize;
use slipway_api::types::*;
use slipway_core::OperationId;
use slipway_core::event::{Event, kinds};
use slipway_store::Notification;
use tokio::sync::broadcast;

use super::{ApiJson, ApiQuery, AppState};
use crate::app::App;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::service::parse_operation_id;

#[utoipa::path(get, path = "/v1/clusters", responses((status = 200, body = Vec<ClusterStatus>)), security(("bearer" = [])))]
pub async fn list_clusters(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Vec<ClusterStatus>>, ApiError> {
    Ok(Json(app.list_clusters(&caller).await?))
}

#[utoipa::path(post, path = "/v1/clusters", request_body = CreateCluster,
    responses((status = 201, body = ClusterStatus), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_cluster(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
    ApiJson(req): ApiJson<CreateCluster>,
) -> Result<(StatusCode, Json<ClusterStatus>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(app.create_cluster(&caller, req).await?),
    ))
}

#[utoipa::path(get, path = "/v1/clusters/{name}", params(("name" = String, Path)),
    responses((status = 200, body = ClusterStatus), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn cluster_status(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<Json<ClusterStatus>, ApiError> {
    Ok(Json(app.cluster_status(&caller, &name).await?))
}

/// An action's answer: 202 when an operation is in flight, 200 otherwise.
fn action(response: ActionResponse) -> (StatusCode, Json<ActionResponse>) {
    let status = match response.result {
        ActionResult::Queued | ActionResult::Joined => StatusCode::ACCEPTED,
        _ => StatusCode::OK,
    };
    (status, Json(response))
}

/// DEPLOY. A running cluster with nothing to change answers 200
/// `already_running`; otherwise the deploy (or in-place update) is queued
/// and the answer is 202 with the operation to follow.
#[utoipa::path(post, path = "/v1/clusters/{name}/deploy", params(("name" = String, Path)), request_body = DeployCluster,
    responses((status = 200, body = ActionResponse), (status = 202, body = ActionResponse), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub async fn deploy(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    body: Option<ApiJson<DeployCluster>>,
) -> Result<(StatusCode, Json<ActionResponse>), ApiError> {
    let req = body.map(|ApiJson(req)| req).unwrap_or_default();
    Ok(action(app.deploy(&caller, &name, req).await?))
}

/// DESTROY. Nothing deployed: 200 `nothing_to_destroy`; otherwise 202.
#[utoipa::path(post, path = "/v1/clusters/{name}/destroy", params(("name" = String, Path)),
    responses((status = 200, body = ActionResponse), (status = 202, body = ActionResponse), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub async fn destroy(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<(StatusCode, Json<ActionResponse>), ApiError> {
    Ok(action(app.destroy(&caller, &name).await?))
}

/// SCHEDULE_DESTROY (also `extend`): refused with 409
/// `too_late_to_reschedule` from five minutes before a scheduled destroy.
#[utoipa::path(put, path = "/v1/clusters/{name}/schedule", params(("name" = String, Path)), request_body = ScheduleDestroy,
    responses((status = 200, body = ActionResponse), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn schedule_destroy(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<ScheduleDestroy>,
) -> Result<Json<ActionResponse>, ApiError> {
    Ok(Json(app.schedule_destroy(&caller, &name, req).await?))
}

#[utoipa::path(delete, path = "/v1/clusters/{name}/schedule", params(("name" = String, Path)),
    responses((status = 200, body = ActionResponse), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub async fn unschedule_destroy(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<Json<ActionResponse>, ApiError> {
    Ok(Json(app.unschedule_destroy(&caller, &name).await?))
}

#[utoipa::path(get, path = "/v1/clusters/{name}/operations", params(("name" = String, Path)),
    responses((status = 200, body = Vec<OperationView>)), security(("bearer" = [])))]
pub async fn cluster_operations(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<Json<Vec<OperationView>>, ApiError> {
    Ok(Json(app.operations(&caller, Some(&name)).await?))
}

/// Every version of the cluster's Terraform state, oldest first, and the
/// operation that wrote each.
#[utoipa::path(get, path = "/v1/clusters/{name}/states", params(("name" = String, Path)),
    responses((status = 200, body = Vec<StateVersionView>), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn state_history(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<Json<Vec<StateVersionView>>, ApiError> {
    Ok(Json(app.state_history(&caller, &name).await?))
}

#[utoipa::path(get, path = "/v1/operations", responses((status = 200, body = Vec<OperationView>)), security(("bearer" = [])))]
pub async fn list_operations(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Vec<OperationView>>, ApiError> {
    Ok(Json(app.operations(&caller, None).await?))
}

#[utoipa::path(get, path = "/v1/operations/{id}", params(("id" = String, Path)),
    responses((status = 200, body = OperationView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn operation(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<OperationView>, ApiError> {
    Ok(Json(app.operation(&caller, &id).await?))
}

/// ACCESS: a cluster token (`jwt_cluster`) whose audience is exactly the
/// cluster: for public clusters any member, for private ones members of the
/// owning organization and administrators; others get 403.
#[utoipa::path(post, path = "/v1/clusters/{name}/access", params(("name" = String, Path)),
    responses((status = 200, body = ClusterToken), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn access(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<Json<ClusterToken>, ApiError> {
    Ok(Json(app.access(&caller, &name).await?))
}

/// The whole log of a finished operation, as archived in object storage
/// (JSON lines, one event each).
#[utoipa::path(get, path = "/v1/operations/{id}/log", params(("id" = String, Path)),
    responses((status = 200, description = "application/x-ndjson"), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn archived_log(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let log = app.archived_log(&caller, &id).await?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/x-ndjson")],
        log,
    )
        .into_response())
}

#[utoipa::path(post, path = "/v1/operations/{id}/cancel", params(("id" = String, Path)),
    responses((status = 200, body = OperationView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn cancel_operation(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<OperationView>, ApiError> {
    Ok(Json(app.cancel(&caller, &id).await?))
}

#[utoipa::path(get, path = "/v1/blueprints", responses((status = 200, body = Vec<BlueprintView>)), security(("bearer" = [])))]
pub async fn blueprints(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Vec<BlueprintView>>, ApiError> {
    Ok(Json(app.blueprints(&caller).await?))
}

/// The cluster's status now, then again after every change (an operation
/// queued, started or finished; a schedule set, moved or removed), as
/// server-sent events. Ends when the cluster is gone or the server stops.
#[utoipa::path(get, path = "/v1/clusters/{name}/watch", params(("name" = String, Path)),
    responses((status = 200, body = ClusterStatus, description = "text/event-stream of ClusterStatus"),
        (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn watch_cluster(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let name = crate::service::parse_cluster_name(&name)?;
    // Subscribed before the first status, so no change slips between.
    let notifications = app.store.subscribe();
    let first = app.cluster_status(&caller, name.as_str()).await?;
    let watch = Watch {
        app,
        caller,
        name,
        notifications,
        next: Some(first),
        last: None,
    };
    let stream = futures::stream::unfold(watch, |mut watch| async move {
        let status = watch.next().await?;
        let event = sse::Event::default()
            .event("status")
            .data(serde_json::to_string(&status).expect("statuses serialize"));
        Some((Ok::<_, Infallible>(event), watch))
    });
    Ok(sse(stream).into_response())
}

/// Watches one cluster's status.
struct Watch {
    app: Arc<App>,
    caller: Caller,
    name: slipway_core::ClusterName,
    notifications: broadcast::Receiver<Notification>,
    next: Option<ClusterStatus>,
    last: Option<ClusterStatus>,
}

impl Watch {
    async fn next(&mut self) -> Option<ClusterStatus> {
        loop {
            if let Some(status) = self.next.take()
                && self.last.as_ref() != Some(&status)
            {
                self.last = Some(status.clone());
                return Some(status);
            }
            tokio::select! {
                note = self.notifications.recv() => match note {
                    Ok(note) if note != Notification::Resync && note.cluster() != Some(&self.name) => continue,
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                () = tokio::time::sleep(Duration::from_secs(30)) => {}
                () = self.app.shutdown.cancelled() => return None,
            }
            match self
                .app
                .cluster_status(&self.caller, self.name.as_str())
                .await
            {
                Ok(status) => self.next = Some(status),
                Err(e) if e.status.is_client_error() => return None,
                Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
            }
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// Only events after this sequence number.
    #[serde(default)]
    after: Option<u64>,
    /// Stream events as they happen (server-sent events) until the last.
    #[serde(default)]
    follow: bool,
}

/// An operation's log. With `follow=true`, a stream of server-sent events
/// (each `id` is the event's sequence number, so `Last-Event-ID` resumes)
/// that ends after the operation's last event.
#[utoipa::path(get, path = "/v1/operations/{id}/events",
    params(("id" = String, Path), ("after" = Option<u64>, Query), ("follow" = Option<bool>, Query)),
    responses((status = 200, body = EventPage, description = "JSON, or text/event-stream with follow=true"),
        (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn operation_events(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<EventsQuery>,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    let view = app.operation(&caller, &id).await?;
    let id = parse_operation_id(&id)?;
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let after = query.after.or(resume).unwrap_or(0);
    if query.follow {
        let follow = Follow {
            notifications: app.store.subscribe(),
            app,
            id,
            last: after,
            pending: VecDeque::new(),
            done: false,
        };
        let stream = futures::stream::unfold(follow, |mut follow| async move {
            let event = follow.next().await?;
            Some((Ok::<_, Infallible>(sse_event(&event)), follow))
        });
        Ok(sse(stream).into_response())
    } else {
        let events = app.store.events(&id, after, 100_000).await?;
        Ok(Json(EventPage {
            operation: view,
            events,
        })
        .into_response())
    }
}

fn sse(
    stream: impl Stream<Item = Result<sse::Event, Infallible>> + Send + 'static,
) -> Sse<impl Stream<Item = Result<sse::Event, Infallible>>> {
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

fn sse_event(event: &Event) -> sse::Event {
    sse::Event::default()
        .id(event.seq.to_string())
        .event(event.kind.clone())
        .data(serde_json::to_string(event).expect("events serialize"))
}

/// Follows one operation's log: reads what is stored, then waits for the
/// store to say more arrived.
struct Follow {
    app: Arc<App>,
    id: OperationId,
    last: u64,
    pending: VecDeque<Event>,
    notifications: broadcast::Receiver<Notification>,
    done: bool,
}

impl Follow {
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                self.last = event.seq;
                self.done = event.kind == kinds::FINISHED;
                return Some(event);
            }
            if self.done {
                return None;
            }
            match self.app.store.events(&self.id, self.last, 500).await {
                Ok(events) if !events.is_empty() => {
                    self.pending.extend(events);
                    continue;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read events; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            }
            if let Ok(Some(op)) = self.app.store.operation(&self.id).await
                && op.state.is_terminal()
                && self
                    .app
                    .store
                    .events(&self.id, self.last, 1)
                    .await
                    .is_ok_and(|e| e.is_empty())
            {
                return None;
            }
            self.wait().await;
        }
    }

    /// Waits until new events of this operation may be stored.
    async fn wait(&mut self) {
        let deadline = tokio::time::sleep(Duration::from_secs(10));
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                note = self.notifications.recv() => match note {
                    Ok(Notification::Events { operation, .. } | Notification::Finished { operation, .. }) if operation == self.id => return,
                    Ok(Notification::Resync) | Err(broadcast::error::RecvError::Lagged(_)) => return,
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                () = &mut deadline => return,
                () = self.app.shutdown.cancelled() => { self.done = true; return; }
            }
        }
    }
}
