//! What the service answers when an action cannot be done: a [`Kind`] each
//! transport maps to its own status (HTTP 400/401/403/404/409/422/429/503,
//! a gRPC code, a page with the message), a stable code, a message for
//! people, and where it applies the field at fault, the operation in the
//! way or when to try again. Store failures are logged in full and reported
//! without internals.

use slipway_auth::github::GitHubError;
use slipway_core::{Refusal, ValidationError};
use slipway_store::StoreError;

/// What kind of failure it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Bad input: a field broke a rule (HTTP 400).
    Invalid,
    /// No credential, or one that is not valid (401).
    Unauthenticated,
    /// The caller may not do this (403).
    Forbidden,
    /// No such thing (404).
    NotFound,
    /// Something in the way: an operation in flight, a name taken, a
    /// schedule too near (409).
    Conflict,
    /// Over one of the organization's limits or its budget (422).
    OverLimit,
    /// Too many requests, or too many failed authentications (429).
    RateLimited,
    /// A dependency (the database, GitHub, object storage) cannot answer
    /// now (503).
    Unavailable,
}

/// A failure, as every transport reports it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    pub kind: Kind,
    /// A stable, machine-readable code (`invalid_request`,
    /// `operation_in_progress`, `over_budget`, …).
    pub code: String,
    /// What was wrong and what to do, for a person.
    pub message: String,
    /// The request field at fault.
    pub field: Option<String>,
    /// The operation in the way.
    pub operation: Option<String>,
    /// Seconds to wait before trying again.
    pub retry_after: Option<u64>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: Kind, code: &str, message: impl Into<String>) -> Self {
        Self {
            kind,
            code: code.to_owned(),
            message: message.into(),
            field: None,
            operation: None,
            retry_after: None,
        }
    }

    pub fn invalid(field: &str, rule: impl Into<String>) -> Self {
        ValidationError::new(field, rule).into()
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(Kind::NotFound, "not_found", what)
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(Kind::Unauthenticated, "unauthenticated", message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self {
            retry_after: Some(5),
            ..Self::new(Kind::Unavailable, "unavailable", message)
        }
    }

    pub fn forbidden(rule: impl Into<String>) -> Self {
        Refusal::Forbidden { rule: rule.into() }.into()
    }

    pub fn conflict(code: &str, message: impl Into<String>) -> Self {
        Self::new(Kind::Conflict, code, message)
    }

    /// Too many requests; try again after `wait`.
    pub fn rate_limited(code: &str, wait: std::time::Duration) -> Self {
        let seconds = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
        Self {
            retry_after: Some(seconds),
            ..Self::new(
                Kind::RateLimited,
                code,
                format!("too many requests; try again in {seconds} s"),
            )
        }
    }
}

impl From<ValidationError> for Error {
    fn from(e: ValidationError) -> Self {
        Self {
            field: Some(e.field.clone()),
            ..Self::new(Kind::Invalid, "invalid_request", e.to_string())
        }
    }
}

impl From<Refusal> for Error {
    fn from(refusal: Refusal) -> Self {
        let code = refusal.code();
        let message = refusal.to_string();
        match refusal {
            Refusal::Invalid(e) => e.into(),
            Refusal::Conflict { ref operation, .. } => Self {
                operation: Some(operation.to_string()),
                ..Self::new(Kind::Conflict, code, message)
            },
            Refusal::Forbidden { .. } => Self::new(Kind::Forbidden, code, message),
            Refusal::OverLimit { ref limit, .. } => Self {
                field: Some(limit.clone()),
                ..Self::new(Kind::OverLimit, code, message)
            },
            Refusal::OverBudget { .. } => Self::new(Kind::OverLimit, code, message),
            Refusal::ScheduledForDestroy { .. }
            | Refusal::TooLateToReschedule { .. }
            | Refusal::NotDeployed
            | Refusal::AlreadyExists(_)
            | Refusal::StillDeployed { .. }
            | Refusal::Protected { .. }
            | Refusal::NotRunning { .. }
            | Refusal::NoJob { .. }
            | Refusal::CapacityHeld { .. }
            | Refusal::LastAdminCredential { .. } => Self::new(Kind::Conflict, code, message),
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Refused(refusal) => refusal.into(),
            StoreError::ClusterNotFound(name) => {
                Self::not_found(format!("cluster {name} does not exist"))
            }
            StoreError::OperationNotFound(id) => {
                Self::not_found(format!("operation {id} does not exist"))
            }
            StoreError::OrganizationNotFound(name) => {
                Self::not_found(format!("organization {name} does not exist"))
            }
            other @ (StoreError::LeaseLost(_)
            | StoreError::Database(_)
            | StoreError::Migration(_)
            | StoreError::Corrupt(_)) => {
                tracing::error!(error = %other, "store failure");
                Self::unavailable("the database is unavailable; try again shortly")
            }
        }
    }
}

/// GitHub's failures: unavailability is 503 with a retry hint, refused
/// credentials 401 — never a silently lower level.
impl From<GitHubError> for Error {
    fn from(e: GitHubError) -> Self {
        match e {
            GitHubError::Unavailable {
                reason,
                retry_after,
            } => Self {
                retry_after: retry_after.or(Some(5)),
                ..Self::unavailable(format!(
                    "GitHub is unavailable ({reason}); try again shortly"
                ))
            },
            GitHubError::Unauthorized(reason) => Self::unauthenticated(format!(
                "GitHub refused the credentials ({reason}); log in again"
            )),
            GitHubError::Protocol(reason) => {
                tracing::warn!(%reason, "unexpected answer from GitHub");
                Self::unavailable("GitHub answered unexpectedly; try again shortly")
            }
        }
    }
}
