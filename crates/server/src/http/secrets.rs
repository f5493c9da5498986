//! The server's age recipient: what teams encrypt their committed secrets
//! to.

use axum::Json;
use axum::extract::State;
use slipway_api::types::SecretsRecipient;

use super::{ApiError, AppState, Authenticated};

/// The server's age recipient, for a repository's `.sops.yaml`: secrets
/// encrypted to it (and the team's keys) are read by the server only.
#[utoipa::path(get, path = "/v1/secrets/recipient", tag = "meta",
    responses((status = 200, body = SecretsRecipient)), security(("bearer" = [])))]
pub async fn recipient(
    State(http): AppState,
    Authenticated(caller): Authenticated,
) -> Result<Json<SecretsRecipient>, ApiError> {
    Ok(Json(http.service.secrets_recipient(&caller)?))
}
