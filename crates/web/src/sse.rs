//! Server-sent events for the pages' script: an operation's log as it is
//! written, and a cluster's status as it changes. Both are the service's
//! streams, authorized as the signed-in person; both end when what they
//! follow ends (or the server stops).

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::Deserialize;
use slipway_service::Kind;

use crate::error::status_and_title;
use crate::session::Ctx;

fn refused(status: StatusCode, message: String) -> Response {
    (status, message).into_response()
}

fn keep_alive() -> KeepAlive {
    KeepAlive::new().interval(Duration::from_secs(15))
}

#[derive(Debug, Deserialize)]
pub struct EventsQuery {
    after: Option<u64>,
}

/// The operation's log after `after` (or `Last-Event-ID`), then each event
/// as it is stored, ending after the last.
pub async fn events(
    ctx: Ctx,
    Path(id): Path<String>,
    Query(query): Query<EventsQuery>,
    headers: axum::http::HeaderMap,
) -> Response {
    let Some(session) = ctx.session() else {
        return refused(StatusCode::UNAUTHORIZED, "sign in first".into());
    };
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let after = resume.or(query.after).unwrap_or(0);
    match ctx
        .web
        .service
        .clone()
        .follow_operation(&session.caller, &id, after)
        .await
    {
        Ok(stream) => Sse::new(stream.map(|event| {
            Ok::<_, Infallible>(
                Event::default()
                    .id(event.seq.to_string())
                    .data(event.json()),
            )
        }))
        .keep_alive(keep_alive())
        .into_response(),
        Err(e) => refused(status_and_title(e.kind).0, e.message),
    }
}

/// The cluster's status now and after every change, as `status` events.
pub async fn watch(ctx: Ctx, Path(name): Path<String>) -> Response {
    let Some(session) = ctx.session() else {
        return refused(StatusCode::UNAUTHORIZED, "sign in first".into());
    };
    match ctx
        .web
        .service
        .clone()
        .watch_cluster(session.caller.clone(), &name)
        .await
    {
        Ok(stream) => Sse::new(stream.map(|status| {
            Ok::<_, Infallible>(
                Event::default()
                    .event("status")
                    .data(serde_json::to_string(&status).unwrap_or_default()),
            )
        }))
        .keep_alive(keep_alive())
        .into_response(),
        Err(e) if e.kind == Kind::Unauthenticated => refused(StatusCode::UNAUTHORIZED, e.message),
        Err(e) => refused(status_and_title(e.kind).0, e.message),
    }
}
