//! The records the store reads and writes besides the domain types of
//! `slipway-core`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use slipway_core::blueprint::BlueprintMetadata;
use slipway_core::rules::{ClusterSnapshot, Decision};
use slipway_core::{
    Cluster, ClusterName, ClusterSpec, ClusterState, Level, Limits, Operation, OperationId,
    OperationKind, OperationState, OrgName, Subject, Timestamp,
};

/// What a cluster's last operation is, as its status shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastOperation {
    pub id: OperationId,
    pub kind: OperationKind,
    pub state: OperationState,
    pub error: Option<String>,
}

impl From<&Operation> for LastOperation {
    fn from(op: &Operation) -> Self {
        Self {
            id: op.id.clone(),
            kind: op.kind,
            state: op.state,
            error: op.error.clone(),
        }
    }
}

/// A cluster to define.
#[derive(Debug, Clone)]
pub struct NewCluster {
    pub name: ClusterName,
    pub organization: OrgName,
    pub public: bool,
    pub spec: ClusterSpec,
    /// The subject of whoever defined it.
    pub created_by: String,
    pub now: Timestamp,
    /// The organization's limits, for a caller they bind (its members; not
    /// administrators): how many clusters it may define.
    pub limits: Option<slipway_core::Limits>,
}

/// Which clusters a listing returns: a page by name.
#[derive(Debug, Clone, Default)]
pub struct ClusterFilter {
    /// Only clusters with a name after this one (the previous page's last).
    pub after: Option<ClusterName>,
    /// Only clusters with a name before this one (the next page's first):
    /// the page is the last `limit` of them, still in name order.
    pub before: Option<ClusterName>,
    /// Only names that contain this.
    pub search: Option<String>,
    pub state: Option<ClusterState>,
    pub public: Option<bool>,
    /// Only clusters this subject defined.
    pub created_by: Option<String>,
    /// At most this many.
    pub limit: u32,
    /// Whom the listing is for: `None` lists every cluster (administrators);
    /// otherwise public clusters and the private ones of these
    /// organizations.
    pub visible_to: Option<Vec<OrgName>>,
    /// Only the clusters of this organization.
    pub organization: Option<OrgName>,
}

/// What a decision did, and the cluster as it is afterwards.
#[derive(Debug, Clone, PartialEq)]
pub struct Decided {
    pub decision: Decision,
    pub snapshot: ClusterSnapshot,
}

/// Operations waiting and running.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueDepth {
    pub queued: u64,
    pub running: u64,
}

/// A leased operation with everything its run needs, read in the lease's
/// own transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct Lease {
    /// The operation, now `running`.
    pub operation: Operation,
    /// Its cluster as it is now (in the state the run moved it into).
    pub cluster: Cluster,
    /// The blueprint version the operation runs (`None`: it is not
    /// registered, and the run fails saying so).
    pub blueprint: Option<BlueprintVersion>,
    /// Whose Terraform state the run reaches with the credential recorded
    /// for it.
    pub state_key: String,
}

/// What renewing a lease found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseStatus {
    /// Renewed; carry on.
    Held,
    /// Renewed, and someone asked to cancel the operation: stop it.
    CancelRequested { by: String },
}

/// What a cancel did.
#[derive(Debug, Clone, PartialEq)]
pub enum CancelOutcome {
    /// It was queued: it is cancelled now.
    Cancelled(Operation),
    /// It runs: the request is recorded and its worker stops it.
    Requested(Operation),
    /// It had already ended.
    AlreadyOver(Operation),
}

impl CancelOutcome {
    pub fn operation(&self) -> &Operation {
        match self {
            CancelOutcome::Cancelled(op)
            | CancelOutcome::Requested(op)
            | CancelOutcome::AlreadyOver(op) => op,
        }
    }
}

/// Which operations to list.
#[derive(Debug, Clone, Default)]
pub struct OperationFilter {
    pub cluster: Option<ClusterName>,
    /// Only operations older than this one (the previous page's last).
    pub before: Option<OperationId>,
    /// Only operations that are queued or running.
    pub active_only: bool,
    pub limit: u32,
}

/// A TEST or RELEASE run: its operation, and the results it recorded when
/// it ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub operation: Operation,
    pub result: Option<serde_json::Value>,
}

/// Who is changing something, for the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditIntent {
    /// The subject of whoever acts.
    pub actor: String,
    /// What they are called (a login), for people reading the log.
    pub actor_name: String,
    pub level: AuditLevel,
    pub action: String,
    /// A refusal is not audited: the decision retries one already refused
    /// for the same reason (a capacity change that waits).
    pub quiet: bool,
}

/// The level an audited action was taken at: the caller's access level,
/// or `system` for Slipway's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuditLevel {
    Caller(Level),
    System,
}

impl std::fmt::Display for AuditLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuditLevel::Caller(level) => level.fmt(f),
            AuditLevel::System => f.write_str("system"),
        }
    }
}

impl AuditIntent {
    /// A caller's action at `level`.
    pub fn caller(actor: &Subject, name: &str, level: Level, action: &str) -> Self {
        Self {
            actor: actor.to_string(),
            actor_name: name.to_owned(),
            level: AuditLevel::Caller(level),
            action: action.to_owned(),
            quiet: false,
        }
    }

    /// One of Slipway's own actions (`slipway:<name>`), named after it,
    /// at level `system`.
    pub fn system(actor: &Subject, action: &str) -> Self {
        Self {
            actor: actor.to_string(),
            actor_name: actor.slipway_name().unwrap_or(actor.as_str()).to_owned(),
            level: AuditLevel::System,
            action: action.to_owned(),
            quiet: false,
        }
    }

    /// The same, with what people reading the log call the actor.
    pub fn named(self, actor_name: impl Into<String>) -> Self {
        Self {
            actor_name: actor_name.into(),
            ..self
        }
    }

    /// The audit entry of this action on `target`, at `at`.
    pub fn entry(
        &self,
        at: Timestamp,
        target: impl Into<String>,
        result: impl Into<String>,
        detail: serde_json::Value,
    ) -> NewAuditEntry {
        NewAuditEntry {
            at,
            actor: self.actor.clone(),
            actor_name: self.actor_name.clone(),
            level: self.level,
            action: self.action.clone(),
            target: target.into(),
            result: result.into(),
            detail,
        }
    }
}

/// An entry to append to the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewAuditEntry {
    pub at: Timestamp,
    pub actor: String,
    pub actor_name: String,
    pub level: AuditLevel,
    pub action: String,
    pub target: String,
    pub result: String,
    pub detail: serde_json::Value,
}

/// An entry of the audit log: who, at which level, did what to what, with
/// which result, and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: Timestamp,
    pub actor: String,
    pub actor_name: Option<String>,
    pub level: String,
    pub action: String,
    pub target: String,
    pub result: String,
    pub detail: serde_json::Value,
}

/// Provisioning paused site-wide: queued operations wait until it resumes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProvisioningPause {
    /// The subject of the administrator who paused it.
    pub by: String,
    /// What they are called (a login).
    pub by_name: String,
    pub reason: String,
    pub since: Timestamp,
}

/// Which audit entries to read.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub target: Option<String>,
    /// A subject, or the name (login) an entry recorded.
    pub actor: Option<String>,
    pub action: Option<String>,
    /// Only entries with an id below this one (paging backwards).
    pub before_id: Option<i64>,
    pub limit: u32,
}

/// An immutable version of a blueprint: its metadata and its module's files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlueprintVersion {
    pub blueprint: String,
    pub version: String,
    pub metadata: BlueprintMetadata,
    /// The module's files, by path relative to the module's root.
    pub files: BTreeMap<String, String>,
    /// A digest of metadata and files, identifying the content.
    pub digest: String,
    /// The metadata file as published: with `files`, what `digest` is
    /// computed from, so a process about to run the version can check
    /// that what it read is what was published (`None`: registered before
    /// it was kept).
    #[serde(default)]
    pub metadata_text: Option<String>,
    pub created_at: Timestamp,
    /// The organizations whose clusters may use it (none: every one), as
    /// published.
    #[serde(default)]
    pub organizations: Option<Vec<String>>,
    /// Deprecated: no new clusters on it.
    #[serde(default)]
    pub deprecated: Option<Deprecation>,
}

impl BlueprintVersion {
    /// Whether clusters of `organization` may use it.
    pub fn available_to(&self, organization: &str) -> bool {
        self.organizations
            .as_ref()
            .is_none_or(|orgs| orgs.iter().any(|o| o == organization))
    }
}

/// When and why a blueprint version was deprecated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deprecation {
    pub at: Timestamp,
    pub reason: String,
}

/// A blueprint version without its files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlueprintVersionSummary {
    pub blueprint: String,
    pub version: String,
    /// Its description, sizes, variables and cost.
    pub metadata: BlueprintMetadata,
    pub digest: String,
    pub created_at: Timestamp,
    pub organizations: Option<Vec<String>>,
    pub deprecated: Option<Deprecation>,
    /// An administrator pointed `latest` at it (what `latest` names is
    /// core's rule, `blueprint::latest`).
    pub latest: bool,
}

/// What registering a blueprint version did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registered {
    Created,
    /// The same content was already registered under that version.
    Unchanged,
    /// Other content is registered under that version; it was kept.
    Differs {
        stored_digest: String,
    },
}

/// An API token to store. Only the hash of its secret is ever stored.
#[derive(Debug, Clone)]
pub struct NewApiToken {
    pub id: String,
    pub name: String,
    pub owner: Subject,
    pub secret_hash: String,
    pub scopes: Vec<String>,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
}

/// A stored API token (never its secret).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiToken {
    pub id: String,
    pub name: String,
    pub owner: Subject,
    pub scopes: Vec<String>,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
    /// A bootstrap token (minted at first start or by `slipway admin
    /// bootstrap-token`), not one the bootstrap administrator created.
    #[serde(default)]
    pub bootstrap: bool,
}

impl ApiToken {
    /// Usable now: not revoked, not expired.
    pub fn is_valid_at(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|at| now < at)
    }
}

/// An organization: who it maps to on GitHub, and its limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Organization {
    pub name: OrgName,
    /// Members of this GitHub organization (active membership) belong.
    pub github_org: Option<String>,
    /// If set, only members of this team of `github_org` belong.
    pub github_team: Option<String>,
    pub limits: Limits,
    /// When a cluster's last capacity request expires: destroy it (else
    /// scale it to its minimum).
    #[serde(default)]
    pub destroy_when_idle: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A membership's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MembershipRole {
    /// May approve and remove members.
    Owner,
    Member,
}

/// Where a membership request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MembershipState {
    Requested,
    Approved,
}

/// A membership recorded in Slipway (memberships through GitHub are not
/// stored here; they are checked with GitHub).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    pub organization: OrgName,
    pub subject: Subject,
    /// The person's login as last seen (read from the users; ignored when
    /// written).
    pub name: Option<String>,
    pub role: MembershipRole,
    pub state: MembershipState,
    pub requested_at: Timestamp,
    pub decided_by: Option<String>,
    pub decided_at: Option<Timestamp>,
}

/// A person who signed in with GitHub, as of the last check with GitHub.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// `github:<id>`.
    pub subject: Subject,
    /// The GitHub login as of the last check (a display name: logins can be
    /// renamed and reused).
    pub login: String,
    pub github_id: i64,
    /// The GitHub access token, sealed; used to re-check memberships.
    pub github_token: Option<Vec<u8>>,
    /// A site administrator (by login, GitHub organization or team).
    pub admin: bool,
    /// The organizations GitHub membership grants.
    pub github_orgs: Vec<OrgName>,
    pub checked_at: Timestamp,
    pub created_at: Timestamp,
}

/// A token-signing key as stored: the private half sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSigningKey {
    pub kid: String,
    pub public_key: Vec<u8>,
    pub private_key: Vec<u8>,
    pub created_at: Timestamp,
    /// When a newer key replaced it; it stays published until every token
    /// it signed has expired.
    pub retired_at: Option<Timestamp>,
}

/// A version of a Terraform state kept by Slipway (its content sealed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateVersion {
    /// Whose state: a cluster's name, or a test run's runner.
    pub state_key: String,
    /// 1, 2, 3 … in the order written.
    pub serial: i64,
    /// The operation whose Terraform wrote it.
    pub operation: OperationId,
    pub created_at: Timestamp,
    pub data: Vec<u8>,
}

/// A lock on a state, as Terraform's HTTP backend takes it.
#[derive(Debug, Clone, PartialEq)]
pub struct StateLock {
    pub state_key: String,
    /// Terraform's lock id (`ID` of its lock info).
    pub lock_id: String,
    /// The operation whose Terraform holds it.
    pub operation: OperationId,
    /// Terraform's lock info, as it sent it.
    pub info: serde_json::Value,
    pub created_at: Timestamp,
}

/// What a running operation's Terraform authenticates to the state backend
/// with: the operation id and a secret (stored hashed), for one state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunCredential {
    pub operation: OperationId,
    pub state_key: String,
    pub secret_hash: String,
}

/// A revoked token id, refused until the token would have expired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    pub jti: String,
    pub expires_at: Timestamp,
    pub revoked_at: Timestamp,
}

/// Who must refuse a revoked token id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusedBy {
    /// The API alone: a user token, whose audience no cluster gateway
    /// accepts (a logout). Not published.
    Api,
    /// The API and every cluster gateway: published in the signed list.
    Everyone,
}

/// A person's cluster tokens for one cluster, issued up to a time, refused
/// until every such token has expired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectRevocation {
    pub subject: Subject,
    pub cluster: ClusterName,
    /// Tokens issued up to then (inclusive) are refused.
    pub issued_until: Timestamp,
    pub expires_at: Timestamp,
    pub revoked_at: Timestamp,
}

/// To refuse a person's cluster tokens issued up to `at`, for the clusters
/// of an organization or of every organization, until `until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterTokenRevocation {
    pub subject: Subject,
    /// Whose clusters: one organization's; `None`: every cluster.
    pub organization: Option<OrgName>,
    /// Tokens issued up to then are refused; also when it was decided.
    pub at: Timestamp,
    /// Until then: the longest a token issued at `at` lives.
    pub until: Timestamp,
}

/// What the signed list publishes, and its version (bumped in the
/// transaction of every change).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PublishedRevocations {
    pub version: i64,
    /// Newest first.
    pub tokens: Vec<Revocation>,
    /// By subject and cluster.
    pub subjects: Vec<SubjectRevocation>,
}

/// An API token not revoked, as the last-administrator rule sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct AdminCandidate {
    pub token: ApiToken,
    /// Its owner is a person recorded as a site administrator.
    pub owner_admin: bool,
}

/// An organization's budget account as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRecord {
    pub organization: OrgName,
    pub account: slipway_core::Account,
    /// Warnings sent and not re-armed yet, by key.
    pub warnings: std::collections::BTreeSet<String>,
    pub updated_at: Timestamp,
}

#[cfg(test)]
mod audit_tests {
    use super::*;

    #[test]
    fn slipway_s_own_actions_are_named_after_their_subject_at_level_system() {
        let entry = AuditIntent::system(&Subject::scheduler(), "schedule.fire").entry(
            chrono::Utc::now(),
            "c1",
            "enqueued",
            serde_json::Value::Null,
        );
        assert_eq!(entry.actor, "slipway:scheduler");
        assert_eq!(entry.actor_name, "scheduler");
        assert_eq!(entry.level.to_string(), "system");
        let named = AuditIntent::system(&Subject::slipway("host-operator"), "token.bootstrap")
            .named("root");
        assert_eq!(named.actor_name, "root");
        let person = AuditIntent::caller(&Subject::github(7), "alice", Level::OrgMember, "x");
        assert_eq!(person.level.to_string(), Level::OrgMember.to_string());
    }
}
