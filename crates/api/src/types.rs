//! The JSON documents of Slipway's HTTP API (`/v1`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use slipway_core::event::Event;
use slipway_core::{ClusterState, OperationKind, OperationState, Reason, Variables};
use utoipa::ToSchema;

/// Every error: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable, machine-readable code, e.g. `invalid_request`,
    /// `operation_in_progress`, `too_late_to_reschedule`, `not_found`.
    pub code: String,
    /// What was wrong and what to do, for a person.
    pub message: String,
    /// The request field at fault, for validation errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The operation in the way, for conflicts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
}

/// `POST /v1/clusters`
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCluster {
    /// `[a-z0-9][a-z0-9-]{0,39}`, unique site-wide.
    pub name: String,
    pub blueprint: String,
    /// A blueprint version, or `latest` (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The owning organization (default `default`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    #[serde(default)]
    pub public: bool,
    /// Default: the blueprint's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<u32>,
    #[serde(default, skip_serializing_if = "Variables::is_empty")]
    #[schema(value_type = Object)]
    pub variables: Variables,
}

/// `POST /v1/clusters/{name}/deploy`
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeployCluster {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Replaces the cluster's user variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub variables: Option<Variables>,
    /// Destroy this long after the request (`90s`, `10m`, `2h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<String>,
    /// Destroy at this time (RFC 3339). Exclusive with `ttl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destroy_at: Option<DateTime<Utc>>,
}

/// `PUT /v1/clusters/{name}/schedule`: give `at` or `in`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleDestroy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
    /// A duration from now (`90s`, `10m`, `2h`).
    #[serde(default, rename = "in", skip_serializing_if = "Option::is_none")]
    pub in_: Option<String>,
}

/// The operation a cluster last ran, in brief.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OperationSummary {
    pub id: String,
    pub kind: OperationKind,
    pub state: OperationState,
    pub error: Option<String>,
}

/// `GET /v1/clusters/{name}`: what a cluster is and where it stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ClusterStatus {
    pub name: String,
    pub state: ClusterState,
    /// The scheduled destroy, if any.
    pub destroy_at: Option<DateTime<Utc>>,
    /// The cluster's front door (the `endpoint` output).
    pub endpoint: Option<String>,
    /// The requested size.
    pub nodes: u32,
    /// Terraform outputs of the last apply, sensitive ones masked.
    #[schema(value_type = Object)]
    pub outputs: serde_json::Map<String, serde_json::Value>,
    pub blueprint: String,
    pub version: String,
    pub public: bool,
    pub organization: String,
    pub last_operation: Option<OperationSummary>,
    /// The error that left the cluster `failed`.
    pub error: Option<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OperationView {
    pub id: String,
    pub cluster: String,
    pub kind: OperationKind,
    pub reason: Reason,
    pub requested_by: String,
    pub state: OperationState,
    pub nodes: u32,
    pub version: String,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// What a deploy, destroy or schedule request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActionResult {
    /// A new operation was queued.
    Queued,
    /// An identical operation was in flight; the request joined it.
    Joined,
    /// The cluster is running with this configuration: nothing to do.
    AlreadyRunning,
    /// Nothing is deployed: nothing to destroy.
    NothingToDestroy,
    Scheduled,
    Unscheduled,
}

/// The answer to a deploy, destroy or schedule request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ActionResponse {
    pub result: ActionResult,
    /// The operation to follow, when one is in flight.
    pub operation: Option<OperationView>,
    pub cluster: ClusterStatus,
}

/// `GET /v1/operations/{id}/events` (without `follow`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EventPage {
    pub operation: OperationView,
    pub events: Vec<Event>,
}

/// A blueprint version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BlueprintView {
    pub name: String,
    pub version: String,
    pub description: String,
    pub digest: String,
    pub created_at: DateTime<Utc>,
}

/// `GET /healthz`, `GET /readyz`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terraform: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}
