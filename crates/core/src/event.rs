//! An operation's log: a sequence of structured events.

use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// How much an event matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum EventLevel {
    Debug,
    Info,
    Warn,
    Error,
}

impl EventLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            EventLevel::Debug => "debug",
            EventLevel::Info => "info",
            EventLevel::Warn => "warn",
            EventLevel::Error => "error",
        }
    }

    pub fn parse(s: &str) -> Self {
        match s {
            "debug" | "trace" => EventLevel::Debug,
            "warn" | "warning" => EventLevel::Warn,
            "error" => EventLevel::Error,
            _ => EventLevel::Info,
        }
    }
}

/// An event about to be appended to an operation's log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewEvent {
    pub at: Timestamp,
    /// What happened: a Terraform message type (`apply_complete`, `diagnostic`,
    /// …) or one of Slipway's own (`operation_started`, `operation_finished`, …).
    pub kind: String,
    pub level: EventLevel,
    /// One human-readable line.
    pub message: String,
    /// The event's structured details (resource, action, progress, …).
    pub data: serde_json::Value,
}

/// An event of an operation's log, numbered from 1 in the order appended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Event {
    pub seq: u64,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: Timestamp,
    pub kind: String,
    pub level: EventLevel,
    pub message: String,
    /// The event's structured details, or null for a plain line of output.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub data: serde_json::Value,
}

/// The kinds of event Slipway itself appends around Terraform's.
pub mod kinds {
    pub const QUEUED: &str = "operation_queued";
    pub const STARTED: &str = "operation_started";
    pub const FINISHED: &str = "operation_finished";
    /// Someone asked to cancel the running operation.
    pub const CANCEL_REQUESTED: &str = "cancel_requested";
    pub const COMMAND: &str = "terraform_command";
    pub const STDERR: &str = "terraform_stderr";
    /// How an apply went on after the process running it had died.
    pub const ORPHAN_APPLY_ENDED: &str = "orphan_apply_ended";
    /// A refresh found the infrastructure differing from the configuration.
    pub const DRIFT: &str = "drift";
    /// What a plan operation found: data `changes` (`resource`, `action`),
    /// `summary` (`add`, `change`, `destroy`) and `converged`.
    pub const PLAN: &str = "plan";
    /// A TEST or RELEASE run's step began, wrote a line, or ended.
    pub const STEP_STARTED: &str = "step_started";
    pub const STEP_OUTPUT: &str = "step_output";
    pub const STEP_FINISHED: &str = "step_finished";
}
