//! Why a request was not carried out: bad input, or a rule that says no.

use crate::money::Rate;
use crate::validation::ValidationError;
use crate::{ClusterState, OperationId, OperationKind, OperationState, Timestamp};

/// A rule of docs/domain.md §4 refused the request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(transparent)]
    Invalid(#[from] ValidationError),

    #[error(
        "operation {operation} ({kind}, {state}) is in the way: at most one infrastructure operation per cluster may be queued or running; wait for it or cancel it"
    )]
    Conflict {
        operation: OperationId,
        kind: OperationKind,
        state: OperationState,
    },

    #[error(
        "the cluster is scheduled for destroy at {}; a cluster that is not running cannot be deployed while a destroy is scheduled — destroy it first",
        destroy_at.to_rfc3339()
    )]
    ScheduledForDestroy { destroy_at: Timestamp },

    #[error(
        "too late to change the scheduled destroy at {}: changes are refused from {} ({} before it)",
        destroy_at.to_rfc3339(), cutoff.to_rfc3339(), crate::duration::minutes_in_words(*destroy_at - *cutoff)
    )]
    TooLateToReschedule {
        destroy_at: Timestamp,
        cutoff: Timestamp,
    },

    #[error(
        "the cluster is not deployed: there is nothing to schedule a destroy for, or to refresh"
    )]
    NotDeployed,

    #[error("cluster {0} already exists")]
    AlreadyExists(String),

    /// Only a cluster with nothing deployed may be removed or change
    /// visibility.
    #[error("the cluster is {state}: destroy it before {change}")]
    StillDeployed {
        state: ClusterState,
        change: &'static str,
    },

    /// A protected cluster is kept: no destroy, no destroy time.
    #[error(
        "the cluster is protected: {what} is refused; an administrator may force a destroy, giving a reason, or remove the protection"
    )]
    Protected { what: &'static str },

    /// The caller's level does not allow the action.
    #[error("not allowed: {rule}")]
    Forbidden { rule: String },

    /// TEST and RELEASE run against a running cluster.
    #[error("the cluster is {state}: tests and releases run against a running cluster")]
    NotRunning { state: ClusterState },

    /// The blueprint defines no such job.
    #[error("nothing to run: {rule}")]
    NoJob { rule: String },

    /// Capacity requests hold the cluster's size: a person may not change
    /// it to another (the keeper would put it back).
    #[error(
        "the cluster's size is held at {nodes} nodes by capacity requests ({}); ask for capacity instead, or withdraw those requests first",
        requests.join("; ")
    )]
    CapacityHeld { nodes: u32, requests: Vec<String> },

    /// The request goes over one of the organization's limits.
    #[error("over the limit {limit}: {rule}")]
    OverLimit { limit: String, rule: String },

    /// The organization's money would not last: at the projected hourly
    /// rate it runs out too soon.
    #[error(
        "over budget: {rule}; at ${rate} an hour the organization's money runs out at {}",
        depletes_at.to_rfc3339()
    )]
    OverBudget {
        rule: String,
        rate: Rate,
        depletes_at: Timestamp,
    },

    /// Revoking the credential would leave nobody able to administer the
    /// site.
    #[error(
        "token {credential} is the last credential that can administer this server and stays valid (an administrator API token with no expiry or more than a day left), and no GitHub administrators are configured: create another admin token first (or run slipway admin bootstrap-token on the server's host)"
    )]
    LastAdminCredential { credential: String },
}

impl Refusal {
    /// A stable, machine-readable code for the refusal, used in API errors.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Invalid(_) => "invalid_request",
            Refusal::Conflict { .. } => "operation_in_progress",
            Refusal::ScheduledForDestroy { .. } => "scheduled_for_destroy",
            Refusal::TooLateToReschedule { .. } => "too_late_to_reschedule",
            Refusal::NotDeployed => "not_deployed",
            Refusal::AlreadyExists(_) => "already_exists",
            Refusal::StillDeployed { .. } => "still_deployed",
            Refusal::Protected { .. } => "protected",
            Refusal::Forbidden { .. } => "forbidden",
            Refusal::OverLimit { .. } => "limit_exceeded",
            Refusal::NotRunning { .. } => "not_running",
            Refusal::NoJob { .. } => "no_job",
            Refusal::OverBudget { .. } => "over_budget",
            Refusal::CapacityHeld { .. } => "capacity_held",
            Refusal::LastAdminCredential { .. } => "last_admin_credential",
        }
    }
}
