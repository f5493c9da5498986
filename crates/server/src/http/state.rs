//! Terraform's HTTP state backend, served by Slipway: `GET`/`POST` the state
//! at `/v1/terraform/state`, `LOCK`/`UNLOCK` at `/v1/terraform/lock`.
//!
//! The addresses are the same for every run; Terraform authenticates with
//! basic auth as its operation (`TF_HTTP_USERNAME` = the operation id,
//! `TF_HTTP_PASSWORD` = a secret made when the operation was leased), which
//! names the state and is valid only while the operation runs. Every
//! version is kept, sealed with the secrets key.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Json, Router};
use base64::Engine as _;
use chrono::Utc;
use serde::Deserialize;
use slipway_auth::api_token::hash_secret;
use slipway_core::OperationId;
use slipway_store::{RunCredential, StateLock};

use crate::app::App;
use crate::error::ApiError;

/// Terraform states can be large.
const MAX_STATE_BYTES: usize = 256 * 1024 * 1024;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/terraform/state", get(read).post(write).delete(delete))
        .route("/terraform/lock", any(lock))
        .layer(DefaultBodyLimit::max(MAX_STATE_BYTES))
}

/// The running operation the request authenticates as.
async fn credential(app: &App, headers: &HeaderMap) -> Result<RunCredential, ApiError> {
    let refused = || {
        ApiError::unauthenticated("the state backend needs the credentials of a running operation")
    };
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(refused)?;
    let (user, password) = basic.split_once(':').ok_or_else(refused)?;
    let operation = OperationId::parse(user).map_err(|_| refused())?;
    let credential = app
        .store
        .live_run_credential(&operation)
        .await?
        .ok_or_else(refused)?;
    if credential.secret_hash != hash_secret(password) {
        return Err(refused());
    }
    Ok(credential)
}

async fn read(State(app): State<Arc<App>>, headers: HeaderMap) -> Result<Response, ApiError> {
    let credential = credential(&app, &headers).await?;
    let Some(version) = app.store.latest_state(&credential.state_key).await? else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let state = app
        .open_state(&credential.state_key, &version.data)
        .map_err(|e| {
            tracing::error!(state = %credential.state_key, serial = version.serial, error = %e, "cannot open a state");
            ApiError::unavailable("the state cannot be read (is the secrets key the one it was sealed with?)")
        })?;
    Ok(([(header::CONTENT_TYPE, "application/json")], state).into_response())
}

#[derive(Debug, Deserialize)]
struct WriteQuery {
    #[serde(rename = "ID")]
    id: Option<String>,
}

fn locked(lock: StateLock) -> Response {
    (StatusCode::LOCKED, Json(lock.info)).into_response()
}

async fn write(
    State(app): State<Arc<App>>,
    Query(query): Query<WriteQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let credential = credential(&app, &headers).await?;
    if serde_json::from_slice::<serde_json::Value>(&body).is_err() {
        return Err(ApiError::invalid(
            "state",
            "must be a Terraform state (JSON)",
        ));
    }
    let sealed = app
        .seal_state(&credential.state_key, &body)
        .map_err(|_| ApiError::unavailable("cannot seal the state right now"))?;
    match app
        .store
        .write_state(
            &credential.state_key,
            &credential.operation,
            query.id.as_deref(),
            sealed,
            Utc::now(),
        )
        .await?
    {
        Ok(serial) => {
            tracing::debug!(state = %credential.state_key, serial, operation = %credential.operation, "state written");
            Ok(StatusCode::OK.into_response())
        }
        Err(lock) => Ok(locked(lock)),
    }
}

async fn delete(State(app): State<Arc<App>>, headers: HeaderMap) -> Result<Response, ApiError> {
    credential(&app, &headers).await?;
    Err(ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "Slipway keeps every state version; states are not deleted",
    ))
}

#[derive(Debug, Deserialize)]
struct LockInfo {
    #[serde(rename = "ID")]
    id: String,
}

/// `LOCK` and `UNLOCK` (Terraform's lock methods), with its lock info.
async fn lock(State(app): State<Arc<App>>, request: Request) -> Result<Response, ApiError> {
    let method = request.method().clone();
    let credential = credential(&app, request.headers()).await?;
    let body = axum::body::to_bytes(request.into_body(), 1024 * 1024)
        .await
        .map_err(|_| ApiError::invalid("lock", "the lock info is too large"))?;
    let info: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::invalid("lock", format!("must be Terraform's lock info: {e}")))?;
    let LockInfo { id } = serde_json::from_value(info.clone())
        .map_err(|e| ApiError::invalid("lock", format!("must carry an ID: {e}")))?;
    let outcome = match method.as_str() {
        "LOCK" => {
            app.store
                .lock_state(StateLock {
                    state_key: credential.state_key.clone(),
                    lock_id: id,
                    operation: credential.operation.clone(),
                    info,
                    created_at: Utc::now(),
                })
                .await?
        }
        "UNLOCK" => app.store.unlock_state(&credential.state_key, &id).await?,
        _ => {
            return Err(ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("{method} is not LOCK or UNLOCK"),
            ));
        }
    };
    Ok(match outcome {
        Ok(()) => StatusCode::OK.into_response(),
        Err(held) => locked(held),
    })
}
