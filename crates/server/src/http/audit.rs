//! The audit log (administrators).

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use slipway_api::types::*;
use slipway_service::tokens::AuditFilter;

use super::{ApiError, ApiQuery, AppState, Authenticated};

/// Which audit entries to read.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    target: Option<String>,
    /// A subject (`github:<id>`) or the login an entry recorded.
    actor: Option<String>,
    action: Option<String>,
    /// Entries older than this id (paging backwards).
    before: Option<i64>,
    /// 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

/// The audit log, newest first (administrators).
#[utoipa::path(get, path = "/v1/audit", tag = "identity", params(AuditParams),
    responses((status = 200, body = Vec<AuditEntryView>)), security(("bearer" = [])))]
pub async fn audit(
    State(http): AppState,
    Authenticated(caller): Authenticated,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> Result<Json<Vec<AuditEntryView>>, ApiError> {
    let filter = AuditFilter {
        target: params.target,
        actor: params.actor,
        action: params.action,
        before: params.before,
        limit: params.limit,
    };
    Ok(Json(http.service.audit_log(&caller, filter).await?))
}
