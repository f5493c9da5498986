//! The HTTP API: routes, request decoding with errors that name the field,
//! operation logs as server-sent events, and the OpenAPI document.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::sse::{self, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router, middleware};
use futures::Stream;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use slipway_api::types::*;
use slipway_core::OperationId;
use slipway_core::event::{Event, kinds};
use slipway_store::Notification;
use tokio::sync::broadcast;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;

use crate::app::App;
use crate::auth::{Caller, require_caller};
use crate::error::ApiError;
use crate::service::parse_operation_id;

type AppState = State<Arc<App>>;

/// The whole API.
pub fn router(app: Arc<App>) -> Router {
    let v1 = Router::new()
        .route("/openapi.json", get(openapi))
        .route("/clusters", get(list_clusters).post(create_cluster))
        .route("/clusters/{name}", get(cluster_status))
        .route("/clusters/{name}/deploy", post(deploy))
        .route("/clusters/{name}/destroy", post(destroy))
        .route(
            "/clusters/{name}/schedule",
            axum::routing::put(schedule_destroy).delete(unschedule_destroy),
        )
        .route("/clusters/{name}/operations", get(cluster_operations))
        .route("/clusters/{name}/watch", get(watch_cluster))
        .route("/operations", get(list_operations))
        .route("/operations/{id}", get(operation))
        .route("/operations/{id}/events", get(operation_events))
        .route("/operations/{id}/cancel", post(cancel_operation))
        .route("/blueprints", get(blueprints))
        .route_layer(middleware::from_fn_with_state(app.clone(), require_caller));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .nest("/v1", v1)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(
            app.config.http.max_body_bytes,
        ))
        .layer(middleware::from_fn_with_state(
            app.clone(),
            reject_oversized,
        ))
        .layer(TraceLayer::new_for_http())
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Slipway hit an internal error; it was logged",
            )
            .into_response()
        }))
        .with_state(app)
}

/// Refuses a body whose announced length is over the limit before reading
/// any of it. (Bodies of unannounced length are cut off at the limit while
/// they are read.)
async fn reject_oversized(
    State(app): AppState,
    request: Request,
    next: middleware::Next,
) -> Response {
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let limit = app.config.http.max_body_bytes;
    match announced {
        Some(length) if length > limit as u64 => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the request body is too large: {length} bytes, the limit is {limit}"),
        )
        .into_response(),
        _ => next.run(request).await,
    }
}

/// A JSON body, rejected with a JSON error naming the field at fault.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send a JSON body with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                let status = rejection.status();
                if status == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(status, "body_too_large", "the request body is too large")
                } else {
                    ApiError::new(status, "invalid_body", rejection.body_text())
                }
            })?;
        let mut deserializer = serde_json::Deserializer::from_slice(&bytes);
        match serde_path_to_error::deserialize(&mut deserializer) {
            Ok(value) => Ok(ApiJson(value)),
            Err(e) => {
                let field = e.path().to_string();
                let inner = e.into_inner();
                if inner.is_syntax() || inner.is_eof() {
                    Err(ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "malformed_json",
                        format!("the body is not valid JSON: {inner}"),
                    ))
                } else {
                    let field = if field == "." {
                        "body".to_owned()
                    } else {
                        field
                    };
                    Err(ApiError::invalid(&field, inner.to_string()))
                }
            }
        }
    }
}

/// An optional JSON body: a request without one (no `Content-Type`) reads as
/// `None`.
impl<S: Send + Sync, T: DeserializeOwned> axum::extract::OptionalFromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Option<Self>, ApiError> {
        if request.headers().get(header::CONTENT_TYPE).is_none() {
            return Ok(None);
        }
        <Self as FromRequest<S>>::from_request(request, state)
            .await
            .map(Some)
    }
}

/// Query parameters, rejected with a JSON error.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        serde_urlencoded::from_str(query)
            .map(ApiQuery)
            .map_err(|e| ApiError::invalid("query", e.to_string()))
    }
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route; see /v1/openapi.json")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method; see /v1/openapi.json",
    )
}

#[utoipa::path(get, path = "/healthz", responses((status = 200, body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        terraform: None,
        reason: None,
    })
}

/// Ready when the database answers.
#[utoipa::path(get, path = "/readyz", responses((status = 200, body = Health), (status = 503, body = Health)))]
async fn readyz(State(app): AppState) -> Response {
    let terraform = Some(app.engine.terraform().version.clone());
    match app.store.next_schedule_due().await {
        Ok(_) => Json(Health {
            status: "ready".into(),
            terraform,
            reason: None,
        })
        .into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health {
                status: "unavailable".into(),
                terraform,
                reason: Some(format!("database: {e}")),
            }),
        )
            .into_response(),
    }
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

#[utoipa::path(get, path = "/v1/clusters", responses((status = 200, body = Vec<ClusterStatus>)), security(("bearer" = [])))]
async fn list_clusters(State(app): AppState) -> Result<Json<Vec<ClusterStatus>>, ApiError> {
    Ok(Json(app.list_clusters().await?))
}

#[utoipa::path(post, path = "/v1/clusters", request_body = CreateCluster,
    responses((status = 201, body = ClusterStatus), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_cluster(
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
async fn cluster_status(
    State(app): AppState,
    Path(name): Path<String>,
) -> Result<Json<ClusterStatus>, ApiError> {
    Ok(Json(app.cluster_status(&name).await?))
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
async fn deploy(
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
async fn destroy(
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
async fn schedule_destroy(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<ScheduleDestroy>,
) -> Result<Json<ActionResponse>, ApiError> {
    Ok(Json(app.schedule_destroy(&caller, &name, req).await?))
}

#[utoipa::path(delete, path = "/v1/clusters/{name}/schedule", params(("name" = String, Path)),
    responses((status = 200, body = ActionResponse), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
async fn unschedule_destroy(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<Json<ActionResponse>, ApiError> {
    Ok(Json(app.unschedule_destroy(&caller, &name).await?))
}

#[utoipa::path(get, path = "/v1/clusters/{name}/operations", params(("name" = String, Path)),
    responses((status = 200, body = Vec<OperationView>)), security(("bearer" = [])))]
async fn cluster_operations(
    State(app): AppState,
    Path(name): Path<String>,
) -> Result<Json<Vec<OperationView>>, ApiError> {
    Ok(Json(app.operations(Some(&name)).await?))
}

#[utoipa::path(get, path = "/v1/operations", responses((status = 200, body = Vec<OperationView>)), security(("bearer" = [])))]
async fn list_operations(State(app): AppState) -> Result<Json<Vec<OperationView>>, ApiError> {
    Ok(Json(app.operations(None).await?))
}

#[utoipa::path(get, path = "/v1/operations/{id}", params(("id" = String, Path)),
    responses((status = 200, body = OperationView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn operation(
    State(app): AppState,
    Path(id): Path<String>,
) -> Result<Json<OperationView>, ApiError> {
    Ok(Json(app.operation(&id).await?))
}

#[utoipa::path(post, path = "/v1/operations/{id}/cancel", params(("id" = String, Path)),
    responses((status = 200, body = OperationView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn cancel_operation(
    State(app): AppState,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<OperationView>, ApiError> {
    Ok(Json(app.cancel(&caller, &id).await?))
}

#[utoipa::path(get, path = "/v1/blueprints", responses((status = 200, body = Vec<BlueprintView>)), security(("bearer" = [])))]
async fn blueprints(State(app): AppState) -> Result<Json<Vec<BlueprintView>>, ApiError> {
    Ok(Json(app.blueprints().await?))
}

/// The cluster's status now, then again after every change (an operation
/// queued, started or finished; a schedule set, moved or removed), as
/// server-sent events. Ends when the cluster is gone or the server stops.
#[utoipa::path(get, path = "/v1/clusters/{name}/watch", params(("name" = String, Path)),
    responses((status = 200, body = ClusterStatus, description = "text/event-stream of ClusterStatus"),
        (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn watch_cluster(
    State(app): AppState,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let name = crate::service::parse_cluster_name(&name)?;
    // Subscribed before the first status, so no change slips between.
    let notifications = app.store.subscribe();
    let first = app.cluster_status(name.as_str()).await?;
    let watch = Watch {
        app,
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
                    Ok(note) if note.cluster() != Some(&self.name) => continue,
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                () = tokio::time::sleep(Duration::from_secs(30)) => {}
                () = self.app.shutdown.cancelled() => return None,
            }
            match self.app.cluster_status(self.name.as_str()).await {
                Ok(status) => self.next = Some(status),
                Err(e) if e.status == StatusCode::NOT_FOUND => return None,
                Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
            }
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
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
async fn operation_events(
    State(app): AppState,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<EventsQuery>,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    let view = app.operation(&id).await?;
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
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => return,
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                () = &mut deadline => return,
                () = self.app.shutdown.cancelled() => { self.done = true; return; }
            }
        }
    }
}

struct BearerSecurity;

impl utoipa::Modify for BearerSecurity {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Slipway", description = "Provisions compute clusters from Terraform blueprints and keeps their lifetime, access and cost under control."),
    paths(
        healthz, readyz, list_clusters, create_cluster, cluster_status, deploy, destroy,
        schedule_destroy, unschedule_destroy, cluster_operations, watch_cluster, list_operations, operation,
        operation_events, cancel_operation, blueprints,
    ),
    components(schemas(
        ErrorBody, ErrorDetail, CreateCluster, DeployCluster, ScheduleDestroy, ClusterStatus,
        OperationSummary, OperationView, ActionResult, ActionResponse, EventPage, BlueprintView, Health,
        Event,
    )),
    modifiers(&BearerSecurity)
)]
struct ApiDoc;
