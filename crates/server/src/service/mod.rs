//! What the API does, independent of HTTP. Each function takes the caller,
//! checks the credential's scope and the caller's level (`core::access`),
//! and answers with the API's documents or an [`ApiError`].

mod clusters;
mod identity;
mod orgs;
mod runs;

use chrono::Utc;
use slipway_api::types::OperationView;
use slipway_core::rules::Context;
use slipway_core::{ClusterName, Level, Operation, OperationId, Reason};
use slipway_store::{AuditIntent, NewAuditEntry};

pub use orgs::apply_configured_organizations;

use crate::app::App;
use crate::auth::Caller;
use crate::error::ApiError;

pub fn parse_cluster_name(name: &str) -> Result<ClusterName, ApiError> {
    Ok(ClusterName::parse(name)?)
}

pub fn parse_operation_id(id: &str) -> Result<OperationId, ApiError> {
    Ok(OperationId::parse(id)?)
}

fn operation_view(op: &Operation) -> OperationView {
    OperationView {
        id: op.id.to_string(),
        cluster: op.cluster.to_string(),
        kind: op.kind,
        reason: op.reason,
        requested_by: op.requested_by.clone(),
        state: op.state,
        nodes: op.spec.nodes,
        version: op.spec.version.clone(),
        error: op.error.clone(),
        created_at: op.created_at,
        started_at: op.started_at,
        finished_at: op.finished_at,
    }
}

/// The rules' context for a caller at `level`.
fn context(caller: &Caller, level: Level) -> Context {
    Context {
        now: Utc::now(),
        actor: caller.login().to_owned(),
        level,
        reason: Reason::User,
        new_operation_id: OperationId::from_uuid(uuid::Uuid::now_v7()),
    }
}

fn audit_intent(caller: &Caller, level: Level, action: &str) -> AuditIntent {
    AuditIntent {
        actor: caller.login().to_owned(),
        level: level.to_string(),
        action: action.to_owned(),
    }
}

impl App {
    /// Appends to the audit log; a failure is logged, not returned: the
    /// change it records has happened.
    pub(crate) async fn audit(
        &self,
        caller: &Caller,
        level: Level,
        action: &str,
        target: &str,
        result: &str,
        detail: serde_json::Value,
    ) {
        let entry = NewAuditEntry {
            at: Utc::now(),
            actor: caller.login().to_owned(),
            level: level.to_string(),
            action: action.to_owned(),
            target: target.to_owned(),
            result: result.to_owned(),
            detail,
        };
        if let Err(e) = self.store.append_audit(entry).await {
            tracing::error!(error = %e, action, target, "cannot write the audit log");
        }
    }
}
