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
    #[schema(pattern = "^[a-z0-9][a-z0-9-]{0,39}$", min_length = 1, max_length = 40)]
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
    /// Changes some of the cluster's user variables, as a JSON merge patch
    /// (RFC 7386): a value sets one, `null` returns one to its default, one
    /// not named keeps its value. Exclusive with `variables`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub variables_patch: Option<Variables>,
    /// Destroy this long after the request (`90s`, `10m`, `2h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<String>,
    /// Destroy at this time (RFC 3339). Exclusive with `ttl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destroy_at: Option<DateTime<Utc>>,
}

/// `PUT /v1/clusters/{name}/visibility`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClusterVisibility {
    /// Public: anyone signed in may use the cluster; private: its
    /// organization's members only.
    pub public: bool,
}

/// `PUT /v1/clusters/{name}/protection`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClusterProtection {
    /// Protected: kept, never destroyed nor scheduled for destroy unless
    /// an administrator forces it.
    pub protected: bool,
}

/// `POST /v1/clusters/{name}/destroy`, optional: an administrator forcing
/// the destroy of a protected cluster says why.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DestroyCluster {
    #[serde(default)]
    pub force: bool,
    /// Why (audited); required with `force`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
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
    /// Kept: never destroyed nor scheduled for destroy unless an
    /// administrator forces it.
    #[serde(default)]
    pub protected: bool,
    /// What the last drift check found differing from the deployed
    /// configuration, changed outside Slipway: resource instances a deploy
    /// would change, or `outputs`. Empty: nothing. A deploy (or `slipway
    /// apply`) of the same configuration repairs it.
    #[serde(default)]
    pub drift: Vec<String>,
    /// When what exists was last checked (a refresh, a drift check or a
    /// successful deploy).
    #[serde(default)]
    pub drift_checked_at: Option<DateTime<Utc>>,
    /// The blueprint version it runs is deprecated, and why: no new cluster
    /// runs it; move this one on with a deploy to another version.
    #[serde(default)]
    pub deprecated: Option<String>,
    pub organization: String,
    pub last_operation: Option<OperationSummary>,
    /// The error that left the cluster `failed`.
    pub error: Option<String>,
    /// Its capacity requests, in brief.
    pub capacity: CapacitySummary,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A cluster's capacity requests, in brief.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CapacitySummary {
    /// Requests in force (a destroy withdraws them).
    pub requests: u32,
    /// The size they hold the cluster at, while there are any.
    pub held_nodes: Option<u32>,
    /// Why some wait, if they do.
    pub waiting: Option<CapacityWaitView>,
}

/// `GET /v1/clusters`: one page of the clusters the caller may see, by
/// name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ClusterPage {
    pub clusters: Vec<ClusterStatus>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// Pass as `before` for the previous page; absent on the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev_cursor: Option<String>,
}

/// `GET /v1/clusters`: which clusters — searched and filtered — and which
/// page of them, by name. Every filter narrows; none given lists every
/// cluster the caller may see.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ClusterQuery {
    /// The previous page's `next_cursor`: the clusters after this name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(pattern = "^[a-z0-9][a-z0-9-]{0,39}$", max_length = 40)]
    pub cursor: Option<String>,
    /// The next page's `prev_cursor`: the clusters before this name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(pattern = "^[a-z0-9][a-z0-9-]{0,39}$", max_length = 40)]
    pub before: Option<String>,
    /// How many at most (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// Only names that contain this (lowercase letters, digits, `-`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(pattern = "^[a-z0-9-]{0,40}$", max_length = 40)]
    pub search: Option<String>,
    /// Only clusters in this state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<ClusterState>,
    /// Only this organization's clusters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(pattern = "^[a-z0-9][a-z0-9-]{0,39}$", max_length = 40)]
    pub organization: Option<String>,
    /// Only public (`true`) or private (`false`) clusters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public: Option<bool>,
    /// Only the clusters the caller defined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mine: Option<bool>,
}

/// A page of operations, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OperationPage {
    pub operations: Vec<OperationView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Which page of a listing: `cursor` from the previous page's
/// `next_cursor`, `limit` 1 to 500 (default 100).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// The previous page's `next_cursor`: a cluster's name, or an
    /// operation's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(
        pattern = "^([a-z0-9][a-z0-9-]{0,39}|op_[0-9a-f]{32})$",
        max_length = 40
    )]
    pub cursor: Option<String>,
    /// How many at most (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
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

/// `POST /v1/clusters/{name}/test` and `/release`: TEST or RELEASE of the
/// project at `version` (a tag, branch or commit).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    pub version: String,
}

/// A TEST or RELEASE run: its operation (whose log is the run's log), the
/// project version, and — once it ended — every step's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RunView {
    pub operation: OperationView,
    /// The project's version the run checked out.
    pub version: String,
    /// `process` or `terraform`, once known.
    pub runner: Option<String>,
    /// Whether every step passed; absent while the run is in flight.
    pub passed: Option<bool>,
    pub steps: Vec<slipway_core::job::StepResult>,
}

/// `GET /v1/reports/runs`: the latest result and pass rate of every
/// cluster's runs, by kind and version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RunReport {
    pub runs: Vec<slipway_core::job::RunSummary>,
}

/// One version of a cluster's Terraform state. Slipway keeps every one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StateVersionView {
    /// 1, 2, 3 … in the order written.
    pub serial: i64,
    /// The operation whose Terraform wrote it.
    pub operation: String,
    pub written_at: DateTime<Utc>,
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
    /// The cluster's definition was removed (the cluster shown is as it was).
    Removed,
    /// The cluster's visibility is as asked (`public` in the cluster shown).
    VisibilityChanged,
    /// The cluster's protection is as asked (`protected` in the cluster
    /// shown).
    ProtectionChanged,
}

/// The answer to a deploy, destroy or schedule request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ActionResponse {
    pub result: ActionResult,
    /// The operation to follow, when one is in flight.
    pub operation: Option<OperationView>,
    pub cluster: ClusterStatus,
    /// The capacity requests this decision withdrew (a destroy withdraws
    /// every request of the cluster).
    #[serde(default)]
    pub withdrawn_capacity_requests: Vec<String>,
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
    /// Only these organizations' clusters may use it (null: every one's).
    pub organizations: Option<Vec<String>>,
    /// Deprecated, and why: no new cluster runs it.
    pub deprecated: Option<String>,
    /// What `latest` names.
    pub latest: bool,
}

/// `GET /v1/blueprints/{name}/versions/{version}`: one version, with what a
/// cluster of it takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BlueprintDetail {
    pub blueprint: BlueprintView,
    /// The sizes a cluster of it may have.
    pub nodes: NodeRange,
    /// The variables a cluster of it takes, by name.
    pub variables: Vec<VariableView>,
    /// The module's files.
    pub files: Vec<String>,
    /// The providers its dependency lock file pins (`SOURCE VERSION`): what
    /// every run of it installs.
    pub providers: Vec<String>,
}

/// How many nodes a cluster may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NodeRange {
    pub min: u32,
    pub max: u32,
    pub default: u32,
}

/// A variable a cluster of a blueprint takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VariableView {
    pub name: String,
    /// `string`, `number`, `integer` or `bool`.
    #[serde(rename = "type")]
    pub kind: String,
    pub description: String,
    /// Used when none is given (null: the variable is required).
    pub default: Option<serde_json::Value>,
    /// For strings: the only values allowed (empty: any).
    pub allowed: Vec<String>,
    /// Masked in every log and output.
    pub sensitive: bool,
}

/// `POST /v1/blueprints/{name}/versions/{version}/deprecate`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeprecateBlueprint {
    /// Why, for whoever meets it.
    pub reason: String,
}

/// `PUT /v1/blueprints/{name}/latest`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveLatest {
    pub version: String,
}

/// `PUT /v1/blueprints/{name}/versions/{version}`: the version as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PublishedBlueprint {
    /// False: this very content was published before (nothing changed).
    pub created: bool,
    pub blueprint: BlueprintView,
    /// What the check could not do here, and why (e.g. `terraform validate`
    /// without the module's providers).
    pub skipped: Vec<String>,
}

/// `GET /healthz`, `GET /readyz`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: String,
    /// The process's worker id (as operation events name it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terraform: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

// ---- identity and access ----

/// `POST /v1/auth/device`: the start of a GitHub device flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeviceStart {
    /// What the client polls `POST /v1/auth/device/token` with.
    pub device_code: String,
    /// What the person enters at `verification_uri`.
    pub user_code: String,
    pub verification_uri: String,
    pub expires_in: u64,
    /// Seconds to wait between polls.
    pub interval: u64,
}

/// `POST /v1/auth/device/token`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DevicePoll {
    pub device_code: String,
}

/// Where a device flow stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeviceStatus {
    /// Not approved yet: poll again after `interval`.
    Pending,
    /// Too fast: poll again after the longer `interval`.
    SlowDown,
    /// Signed in: `session` holds the token.
    Complete,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DevicePollResponse {
    pub status: DeviceStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<Session>,
}

/// `POST /v1/auth/github-token`: sign in with a GitHub personal access token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GitHubTokenLogin {
    pub token: String,
}

/// A signed-in session: the user token (`jwt_user`) and who it is for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Session {
    pub token: String,
    pub login: String,
    pub level: slipway_core::Level,
    pub organizations: Vec<String>,
    pub expires_at: DateTime<Utc>,
    /// Things worth knowing, e.g. scopes GitHub did not grant.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// `GET /v1/whoami`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WhoAmI {
    /// Who you are, stably: `github:<id>`, or `slipway:<name>` for
    /// Slipway's own identities (the bootstrap administrator).
    pub subject: String,
    /// What you are called (your GitHub login).
    pub login: String,
    /// `admin` or `member`; per cluster it may be `org_member`.
    pub level: slipway_core::Level,
    pub organizations: Vec<String>,
    pub credential: CredentialView,
}

/// The credential a request came with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CredentialView {
    /// `user_token` or `api_token`.
    pub kind: String,
    /// The API token's id, or the user token's `jti`.
    pub id: String,
    pub scopes: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// `POST /v1/clusters/{name}/access`: a cluster token (`jwt_cluster`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ClusterToken {
    pub token: String,
    /// Exactly the cluster's name.
    pub audience: String,
    pub level: slipway_core::Level,
    pub expires_at: DateTime<Utc>,
}

/// `POST /v1/tokens`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    pub name: String,
    /// Any of `clusters:read`, `clusters:write`, `clusters:access`,
    /// `orgs:write`, `tokens`, `admin`, or `*`.
    pub scopes: Vec<String>,
    /// How long the token lives (`90d`, `12h`); default 30 days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

/// An API token (never its secret).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TokenView {
    pub id: String,
    pub name: String,
    /// The subject the token acts as.
    pub owner: String,
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A created API token: its secret is shown this once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreatedToken {
    pub token: TokenView,
    pub secret: String,
}

/// `POST /v1/orgs`
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrganization {
    /// `[a-z0-9][a-z0-9-]{0,39}`, unique site-wide.
    #[schema(pattern = "^[a-z0-9][a-z0-9-]{0,39}$", min_length = 1, max_length = 40)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub github_org: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub github_team: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<UpdateLimits>,
    /// Destroy a cluster when its last capacity request expires (default:
    /// scale it to its minimum).
    #[serde(default)]
    pub destroy_when_idle: bool,
}

/// `PATCH /v1/orgs/{name}`: what is given changes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrganization {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub github_org: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub github_team: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<UpdateLimits>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destroy_when_idle: Option<bool>,
}

/// Limits to change; durations as `12h`, `15m`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateLimits {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_nodes: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_lifetime: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_lifetime: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_clusters: Option<u32>,
    /// Clusters its members may define, deployed or not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_defined_clusters: Option<u32>,
    /// Operations of its clusters running at once (anyone's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_running_operations: Option<u32>,
}

/// An organization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OrganizationView {
    pub name: String,
    pub github_org: Option<String>,
    pub github_team: Option<String>,
    pub limits: slipway_core::Limits,
    /// Clusters are destroyed when their last capacity request expires.
    pub destroy_when_idle: bool,
    pub created_at: DateTime<Utc>,
}

/// A membership recorded in Slipway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MembershipView {
    pub organization: String,
    /// The member: `github:<id>`.
    pub subject: String,
    /// Their GitHub login as last seen.
    pub login: Option<String>,
    /// `owner` or `member`.
    pub role: String,
    /// `requested` or `approved`.
    pub state: String,
    pub requested_at: DateTime<Utc>,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
}

/// `POST /v1/orgs/{name}/members/{login}/approve`
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveMembership {
    /// Make the member an owner (who may approve others).
    #[serde(default)]
    pub owner: bool,
}

/// An entry of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditEntryView {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// Who acted: a subject (`github:<id>`, `slipway:<name>`).
    pub actor: String,
    /// What they were called then (a login).
    pub actor_name: Option<String>,
    pub level: String,
    pub action: String,
    pub target: String,
    pub result: String,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// `POST /v1/admin/rotate-keys`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RotatedKeys {
    /// The key that signs from now on.
    pub signing_kid: String,
    /// Every key still published in the JWKS.
    pub published: Vec<String>,
}

/// `GET /.well-known/revocations`: what cluster gateways refuse, not yet
/// expired, as a JWT signed like Slipway's tokens (audience
/// `slipway:revocations`; claims `revoked`: `[{"jti", "exp"}]`, and
/// `subjects`: `[{"sub", "aud", "issued_before", "exp"}]` — a person's
/// tokens for cluster `aud` issued before `issued_before`, absent when
/// empty).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RevocationListView {
    pub token: String,
}

/// `PUT /v1/deployments/{deployment}/environments/{environment}`: what a
/// repository asks the deployment's cluster in that environment to be
/// (`slipway apply` renders it from the repository's layers).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DesiredDeployment {
    /// The organization that owns the cluster.
    pub organization: String,
    pub blueprint: String,
    /// A version, or `latest`.
    pub version: String,
    #[serde(default)]
    pub public: bool,
    /// An ephemeral deployment's time to live (`8h`): each apply that
    /// changes the cluster schedules its destroy that long after. Without
    /// one the deployment is persistent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<String>,
    /// Default: the blueprint's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<u32>,
    /// The layers' variables (never a sensitive one: those come in
    /// `secrets`).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub variables: serde_json::Map<String, serde_json::Value>,
    /// The environment's secrets file as committed (sops or age,
    /// encrypted to the server's recipient); only the server opens it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets: Option<SecretsFileBody>,
    /// The digest of what the repository's environments share (the
    /// deployment file, the root and common layers): recorded with the
    /// apply, and what a later environment is checked against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub common_digest: Option<String>,
    /// The repository's commit, recorded with the apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// Marked `prune` in the repository: recorded with the apply, so that
    /// the apply that no longer finds the deployment destroys its cluster.
    #[serde(default)]
    pub prune: bool,
    /// The digest of everything the repository gives this cluster (its
    /// layers, the secrets file's bytes), recorded with the apply: while
    /// the cluster runs as applied, an apply with the same digest has
    /// nothing to send (`EnvironmentView::in_sync`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// The environment this one comes after (`staging` for `prod`): the
    /// apply is refused unless that environment's cluster was applied the
    /// same version and common digest and its tests passed since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires: Option<String>,
    /// An administrator applying despite `requires`, saying why (audited).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub override_reason: Option<String>,
    /// Only say what would change.
    #[serde(default)]
    pub dry_run: bool,
    /// With `dry_run`, for a cluster that exists and would change: also
    /// queue Terraform's plan of the change (an operation of kind `plan`,
    /// answered in `operation`; its result holds the resource changes).
    #[serde(default)]
    pub plan: bool,
}

/// `GET /v1/deployments`: a deployment a repository applied, its
/// environments side by side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeploymentView {
    pub deployment: String,
    /// In the order they were first applied.
    pub environments: Vec<EnvironmentView>,
}

/// A deployment in one environment: its cluster and its last apply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EnvironmentView {
    pub environment: String,
    pub cluster: String,
    pub organization: String,
    pub state: ClusterState,
    pub nodes: u32,
    pub protected: bool,
    /// What the last drift check found changed outside Slipway (empty:
    /// nothing).
    pub drift: Vec<String>,
    /// What the last apply gave it.
    pub version: String,
    /// What environments share: equal in two environments, the same change.
    pub common_digest: String,
    pub commit: Option<String>,
    /// Destroyed when the repository no longer declares it.
    pub prune: bool,
    /// The repository's digest of what it gave the cluster at that apply.
    pub digest: String,
    /// The cluster is still asked what that apply asked, runs it (no drift)
    /// and has nothing in flight: the same digest needs no apply.
    pub in_sync: bool,
    /// The environment this one comes after, and whether what that one was
    /// last applied may come here (the check `slipway promote` makes).
    pub promotion: Option<PromotionView>,
    pub applied_at: DateTime<Utc>,
    /// Who applied it (a subject).
    pub applied_by: String,
    /// Whether the latest TEST run since the apply passed (none yet: null).
    pub tested: Option<bool>,
    /// The change a dry run proposed since and nobody applied yet.
    pub proposal: Option<ProposalView>,
}

/// A change a dry run proposed (`slipway apply --dry-run`, say a pull
/// request's) that nobody applied yet: what it would change, Terraform's
/// plan of it, and whether it still applies as planned. Applying it
/// (`POST …/proposal/apply`) makes the checks an apply makes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProposalView {
    /// The repository's commit it was made from.
    pub commit: Option<String>,
    /// What it changes (a secret by name only).
    pub changes: Vec<SettingChange>,
    /// Terraform's plan of it: an operation of kind `plan`.
    pub plan_operation: Option<String>,
    /// Who proposed it (a subject).
    pub proposed_by: String,
    pub proposed_at: DateTime<Utc>,
    /// The cluster was asked to be something else since: the plan no
    /// longer says what applying it would do, and applying it is refused.
    pub stale: bool,
}

/// Whether an environment may take what the one it comes after was last
/// applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PromotionView {
    /// The environment it comes after (e.g. `staging`).
    pub from: String,
    pub state: PromotionState,
    /// Why, for a person.
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PromotionState {
    /// It runs what the earlier environment was applied (the same version
    /// and common values): nothing to promote.
    Current,
    /// The earlier environment has another change, tested green since its
    /// apply: `slipway promote` would take it.
    Ready,
    /// The earlier environment's change is not tested green yet (or it was
    /// never applied): `slipway promote` would be refused.
    Waiting,
}

/// A secrets file as a repository holds it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretsFileBody {
    /// Its path in the repository (named in errors).
    pub path: String,
    /// Its bytes, base64: still encrypted.
    pub contents: String,
}

impl std::fmt::Debug for SecretsFileBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretsFileBody")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// What applying a deployment in an environment does (or, dry, would do).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeploymentChanges {
    pub cluster: String,
    pub action: DeploymentAction,
    /// What differs from what the cluster is asked to be now; a secret by
    /// name only, never its value.
    pub changes: Vec<SettingChange>,
    /// The operation that applies it; on a dry run with `plan`, the plan
    /// (none with nothing to do).
    pub operation: Option<OperationView>,
}

/// What an apply does to the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentAction {
    /// It is as asked and running: nothing.
    None,
    /// It does not exist: define it and deploy it.
    Create,
    /// Deploy it (it is not running) or update it in place.
    Deploy,
}

/// One difference: a setting, what it is asked to be now and what the
/// repository says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SettingChange {
    /// `version`, `nodes`, `public`, `protected`, `variables.<name>`,
    /// `secrets.<name>`, or `drift` (what a drift check found changed
    /// outside Slipway, to be repaired).
    pub setting: String,
    /// Any JSON value (a version, a number, a flag, a variable's value).
    pub from: Option<serde_json::Value>,
    /// Any JSON value.
    pub to: Option<serde_json::Value>,
}

/// `GET /v1/secrets/recipient`: the server's age recipient. List it in a
/// repository's `.sops.yaml` (beside the team's own keys) so the server can
/// read the secrets committed there; nobody else's key opens them for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SecretsRecipient {
    /// An age X25519 recipient (`age1…`).
    pub recipient: String,
}

/// `GET /v1/provisioning`: whether provisioning is paused site-wide. While
/// it is, queued operations wait; running ones go on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProvisioningView {
    pub paused: bool,
    /// Since when (when paused).
    pub since: Option<DateTime<Utc>>,
    /// Who paused it: their login.
    pub by: Option<String>,
    pub reason: Option<String>,
}

/// `POST /v1/admin/provisioning/pause`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PauseProvisioning {
    /// Why, for everyone who sees the pause (1 to 500 characters).
    pub reason: String,
}

/// `POST /v1/admin/revoke`: deny a token's `jti` until it expires.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeToken {
    pub jti: String,
}

// ---- organizations' accounts, costs, forecasts, capacity ----

/// `GET /v1/orgs/{name}/account`: an organization's budget account. Money
/// is exact decimal text in US dollars (`"12.34"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AccountView {
    pub organization: String,
    /// Always `USD`.
    pub currency: String,
    /// Whether an administrator opened the account; an organization without
    /// one is not budgeted (its costs are still recorded).
    pub opened: bool,
    pub balance: slipway_core::Money,
    pub monthly_allowance: slipway_core::Money,
    pub max_balance: slipway_core::Money,
    /// Cost of the current fiscal year (from 1 October, UTC) so far, as
    /// settled.
    pub fytd_cost: slipway_core::Money,
    /// What the organization's clusters cost since the last settlement, at
    /// their models' rates: not charged yet, so not in the balance; the
    /// next reconciliation settles it.
    pub provisional_cost: slipway_core::Money,
    /// Until when costs are settled (absent: never yet).
    pub costs_settled_at: Option<DateTime<Utc>>,
    pub fiscal_year_start: DateTime<Utc>,
    pub last_charge_at: Option<DateTime<Utc>>,
    pub last_credit_at: Option<DateTime<Utc>>,
    pub last_reconciled_at: Option<DateTime<Utc>>,
    /// Dollars per hour at the organization's minimum, current and maximum
    /// sizes.
    pub burn_rates: RatesView,
    /// When the money runs out at each rate (allowance credited on the 1st;
    /// absent: not within 10 years).
    pub depletes_at: DepletionView,
    /// Warnings in force (thresholds crossed).
    pub warnings: Vec<String>,
}

/// Dollars per hour at three sizes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RatesView {
    /// Every deployed cluster at its minimum size.
    pub minimum: slipway_core::Rate,
    /// Every deployed cluster at its current size.
    pub current: slipway_core::Rate,
    /// Every cluster of the organization at its maximum size.
    pub maximum: slipway_core::Rate,
}

/// When the money runs out at each rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DepletionView {
    pub minimum: Option<DateTime<Utc>>,
    pub current: Option<DateTime<Utc>>,
    pub maximum: Option<DateTime<Utc>>,
}

/// `PATCH /v1/orgs/{name}/account` (administrators): what is given changes;
/// the first change opens the account. Every change is audited with its
/// reason.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAccount {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balance: Option<slipway_core::Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monthly_allowance: Option<slipway_core::Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_balance: Option<slipway_core::Money>,
    /// Why (required; recorded in the audit log).
    pub reason: String,
}

/// `POST /v1/orgs/{name}/account/reconcile`: what a reconciliation did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReconciliationView {
    pub account: AccountView,
    pub credited: slipway_core::Money,
    pub debited: slipway_core::Money,
    pub capped_off: slipway_core::Money,
    /// Hours whose charge changed.
    pub hours_charged: usize,
    /// Clusters the budget destroyed (the balance fell under the floor).
    pub shut_down: Vec<String>,
    /// Warnings sent by this reconciliation.
    pub warned: Vec<String>,
}

/// Which costs to read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CostQuery {
    /// `hourly`, `daily` (default) or `monthly`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub granularity: Option<String>,
    /// From (RFC 3339; default: 30 days before `to`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<DateTime<Utc>>,
    /// Until (RFC 3339; default: now).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<DateTime<Utc>>,
    /// Only this cluster's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
}

/// `GET /v1/orgs/{name}/costs`: cost history by bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CostHistory {
    pub organization: String,
    pub cluster: Option<String>,
    /// `hourly`, `daily` or `monthly`.
    pub granularity: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub currency: String,
    /// Settled and provisional.
    pub total: slipway_core::Money,
    /// The part of `total` accrued since the last settlement, at the
    /// blueprints' rates; settled by the next reconciliation.
    pub provisional: slipway_core::Money,
    /// Until when costs are settled (absent: never yet); what ran since is
    /// provisional.
    pub settled_at: Option<DateTime<Utc>>,
    pub buckets: Vec<CostBucketView>,
    /// Count, mean, minimum, maximum and standard deviation of the
    /// buckets' totals (dollars, as numbers).
    pub stats: CostStats,
}

/// One bucket of a cost history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CostBucketView {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Settled and provisional.
    pub total: slipway_core::Money,
    /// The part of `total` not settled yet.
    pub provisional: slipway_core::Money,
    /// By cluster (those that cost something), settled and provisional.
    #[schema(value_type = Object)]
    pub by_cluster: std::collections::BTreeMap<String, slipway_core::Money>,
    /// By where the settled figures came from: `model` (the blueprint's
    /// cost model) or `cost_explorer` (AWS).
    #[schema(value_type = Object)]
    pub by_source: std::collections::BTreeMap<String, slipway_core::Money>,
}

/// Statistics of a series of amounts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CostStats {
    pub count: u64,
    pub mean: f64,
    pub min: f64,
    pub max: f64,
    pub std: f64,
}

/// `GET /v1/orgs/{name}/forecast`: the balance ahead at each rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ForecastView {
    pub organization: String,
    pub currency: String,
    pub balance: slipway_core::Money,
    pub burn_rates: RatesView,
    pub depletes_at: DepletionView,
    /// At the minimum, current and maximum rates.
    pub minimum: ForecastSeries,
    pub current: ForecastSeries,
    pub maximum: ForecastSeries,
}

/// The balance ahead at one rate: hourly for 14 days, daily for 91 days,
/// monthly for 12 months (allowance on the 1st, never below zero).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ForecastSeries {
    pub rate: slipway_core::Rate,
    pub hourly: Vec<BalancePoint>,
    pub daily: Vec<BalancePoint>,
    pub monthly: Vec<BalancePoint>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BalancePoint {
    pub at: DateTime<Utc>,
    pub balance: slipway_core::Money,
}

/// `POST /v1/clusters/{name}/capacity`: N nodes for a while (`ttl`) or
/// until a time (`until`); give exactly one. The same request again (same
/// person, size and end) is redundant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCapacityRequest {
    /// 0 to 1000.
    pub nodes: u32,
    /// How long (`2h`); 15 minutes to 12 hours by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<String>,
    /// Until when (RFC 3339), within the same bounds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<Utc>>,
}

/// A capacity request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CapacityRequestView {
    pub id: String,
    pub cluster: String,
    /// Who asked.
    pub subject: String,
    pub login: String,
    pub nodes: u32,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    /// `active`: the cluster follows it; `waiting`: not yet (see `waiting`).
    pub state: CapacityState,
    /// Why it waits, while it does.
    pub waiting: Option<CapacityWaitView>,
}

/// Whether the cluster follows a capacity request yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CapacityState {
    /// The cluster is (or is being) sized for it.
    Active,
    /// The change it asks for cannot be made now; it is tried again when
    /// what is in the way may have changed.
    Waiting,
}

/// Why a capacity request waits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CapacityWaitView {
    /// The refusal's code (`over_budget`, `limit_exceeded`,
    /// `too_late_to_reschedule`, …), `operation_in_progress`, or `pending`.
    pub code: String,
    /// What is in the way, for people.
    pub message: String,
    /// Since when it waits for this.
    pub since: DateTime<Utc>,
}

/// What a capacity request (or its withdrawal) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CapacityResult {
    /// The cluster changes: an operation was queued (or joined).
    Queued,
    /// The request is kept, but the change cannot be made now (an
    /// operation in flight, the budget, a limit); see `waiting`. It is
    /// tried again, and made when it can be.
    Waiting,
    /// The cluster already is the size the requests want.
    Unchanged,
    /// An identical request is active: nothing was added.
    Redundant,
}

/// The answer to a capacity request (or its withdrawal).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CapacityResponse {
    pub result: CapacityResult,
    pub request: Option<CapacityRequestView>,
    /// The operation that changes the cluster.
    pub operation: Option<String>,
    /// Why the change waits.
    pub waiting: Option<CapacityWaitView>,
    /// The cluster's active requests.
    pub requests: Vec<CapacityRequestView>,
}
