//! What each user action does, independent of any transport: the REST API,
//! gRPC and the web UI all call these functions, so every rule is enforced
//! in one place. Nothing here knows HTTP: answers are the API's documents
//! ([`slipway_api::types`]) or an [`Error`] each transport maps.
//!
//! Each action takes the [`Caller`] (see [`Service::authenticate`]), checks
//! the credential's scope and the caller's level (`core::access`), and lets
//! the rules of `core` decide inside the store's transaction.
//!
//! - [`clusters`]: define, deploy, reschedule, destroy, access, status.
//! - [`operations`]: operations, their logs (followed live, one reader per
//!   operation however many follow it: `tails`), cancel.
//! - [`runs`]: TEST and RELEASE.
//! - [`orgs`]: organizations and memberships.
//! - [`accounts`]: organizations' accounts, costs and forecasts.
//! - [`capacity`]: capacity requests.
//! - [`sign_in`]: GitHub sign-in (device, web, token), who am I, logout.
//! - [`tokens`]: API tokens, key rotation, revocations, the audit log
//!   (written in groups by `audit`).
//! - [`state`]: Terraform's HTTP state backend, as a running operation.
//! - [`web_views`]: what the web UI shows beside the API's answers.

// A new variant of an enum must be handled where it is matched: no
// wildcard arm swallows it (ARCHITECTURE.md, "Adding an operation kind").
#![warn(clippy::wildcard_enum_match_arm)]

pub mod accounts;
mod audit;
pub mod blueprints;
pub mod caller;
pub mod capacity;
pub mod clusters;
pub mod deployments;
pub mod error;
pub mod identities;
pub mod keys;
pub mod limits;
mod memory;
pub mod operations;
pub mod orgs;
pub mod provisioning;
pub mod runs;
pub mod secrets;
pub mod sign_in;
pub mod state;
mod tails;
pub mod tokens;
pub mod web_views;

use std::sync::Arc;

use chrono::Utc;
use slipway_api::types::OperationView;
use slipway_core::rules::RuleContext;
use slipway_core::{ClusterName, Level, Operation, OperationId, Reason};
use slipway_engine::Engine;
use slipway_store::objects::Storage;
use slipway_store::{AuditIntent, Store};
use tokio_util::sync::CancellationToken;

pub use caller::{Caller, Credential, ServiceIdentity, scope};
pub use error::{Error, Kind, Result};
pub use identities::{AuthConfig, Identities};
pub use keys::{KeyRing, TokenSigner};
pub use tails::FollowedEvent;

/// What the service is told by the configuration.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// The URL this Slipway is reached at (tokens' issuer; sign-in
    /// callbacks).
    pub public_url: String,
    pub auth: AuthConfig,
    /// Budgets and capacity requests.
    pub accounts: slipway_accounts::accounting::AccountsConfig,
}

/// The service: everything the transports share.
pub struct Service {
    pub store: Arc<dyn Store>,
    pub identities: Identities,
    pub storage: Arc<Storage>,
    pub config: ServiceConfig,
    pub rate_limiters: limits::RateLimiters,
    /// The signed revocation list, signed once per change.
    pub revocations: tokens::RevocationCache,
    /// Terraform, for the checks of a blueprint version being published
    /// (its version is reported by `/readyz`).
    pub engine: Arc<Engine>,
    /// This process's worker id.
    pub worker_id: String,
    /// Cancelled when the process shuts down: long-lived streams end.
    pub shutdown: CancellationToken,
    /// The deprecated blueprint versions statuses show, as last read.
    deprecations: blueprints::Deprecations,
    /// The audit log's group commit.
    audit_writer: audit::AuditWriter,
    /// Authentications remembered for a second.
    authentications: caller::Authentications,
    /// Who may use each cluster, remembered for a second.
    audiences: clusters::Audiences,
    /// One reader of each followed operation's log.
    tails: tails::Tails,
}

/// What a [`Service`] is made of.
pub struct Parts {
    pub store: Arc<dyn Store>,
    pub identities: Identities,
    pub storage: Arc<Storage>,
    pub config: ServiceConfig,
    pub engine: Arc<Engine>,
    pub worker_id: String,
    pub shutdown: CancellationToken,
}

impl Service {
    pub fn new(parts: Parts) -> Arc<Self> {
        Arc::new(Self {
            rate_limiters: limits::RateLimiters::new(&parts.config.auth.rate_limits),
            audit_writer: audit::AuditWriter::start(parts.store.clone()),
            tails: Default::default(),
            revocations: tokens::RevocationCache::new(parts.store.as_ref()),
            authentications: caller::authentications(
                parts.store.as_ref(),
                parts.config.auth.membership_recheck,
            ),
            audiences: clusters::audiences(parts.store.as_ref()),
            store: parts.store,
            identities: parts.identities,
            storage: parts.storage,
            config: parts.config,
            engine: parts.engine,
            worker_id: parts.worker_id,
            shutdown: parts.shutdown,
            deprecations: Default::default(),
        })
    }

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
        if let Err(e) = self
            .audit_or_fail(caller, level, action, target, result, detail)
            .await
        {
            tracing::error!(error = %e, action, target, "cannot write the audit log");
        }
    }

    /// Writes an audit entry (with the others written at the same time),
    /// failing when it cannot be stored: for what must not happen unaudited.
    pub(crate) async fn audit_or_fail(
        &self,
        caller: &Caller,
        level: Level,
        action: &str,
        target: &str,
        result: &str,
        detail: serde_json::Value,
    ) -> Result<()> {
        let entry = audit_intent(caller, level, action).entry(Utc::now(), target, result, detail);
        self.audit_writer
            .write(entry)
            .await
            .map_err(|e| Error::unavailable(format!("cannot write the audit log: {e}")))
    }

    /// Whether the database answers (readiness).
    pub async fn ready(&self) -> Result<()> {
        self.store.next_schedule_due().await?;
        Ok(())
    }
}

pub fn parse_cluster_name(name: &str) -> Result<ClusterName> {
    Ok(ClusterName::parse(name)?)
}

pub fn parse_operation_id(id: &str) -> Result<OperationId> {
    Ok(OperationId::parse(id)?)
}

pub(crate) fn operation_view(op: &Operation) -> OperationView {
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

/// The rules' context for a caller at `level`: one `now` for every time
/// the request is measured from.
pub(crate) fn context(caller: &Caller, level: Level) -> RuleContext {
    RuleContext {
        now: Utc::now(),
        actor: caller.subject().to_string(),
        level,
        reason: Reason::User,
        new_operation_id: OperationId::from_uuid(uuid::Uuid::now_v7()),
    }
}

pub(crate) fn audit_intent(caller: &Caller, level: Level, action: &str) -> AuditIntent {
    AuditIntent::caller(caller.subject(), caller.name(), level, action)
}
