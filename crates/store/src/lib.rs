//! Slipway's persistence: [`Store`], made of parts that callers may take one
//! at a time — [`ClusterStore`], [`QueueStore`], [`LogStore`],
//! [`IdentityStore`], [`StateStore`], [`BlueprintStore`], [`AccountStore`],
//! [`AuditStore`] and [`Notifications`] — and [`objects`], the object
//! storage where finished operations' logs and runs' output are kept
//! (local files, or any S3-compatible store).
//!
//! [`SqlStore`] implements every part on SQLite (the embedded default, a file
//! in the data directory) and on PostgreSQL (several replicas and workers on
//! one database), with the same SQL wherever the two agree. One contract test
//! suite (`tests/contract/`, a module per part) runs against both.
//!
//! The store decides nothing itself: the rules live in `slipway-core`, and
//! new identifiers and times come from the caller. Rule decisions come in as
//! closures that read a [`ClusterSnapshot`] (and the organization's load)
//! taken inside the store's transaction and return a [`Decision`], which the
//! store applies in that same transaction — so a decision is never made on
//! stale data.

// A new variant of an enum must be handled where it is matched: no
// wildcard arm swallows it (ARCHITECTURE.md, "Adding an operation kind").
#![warn(clippy::wildcard_enum_match_arm)]

pub mod objects;
mod records;
mod sql;

use std::time::Duration;

use async_trait::async_trait;
use slipway_core::event::{Event, NewEvent};
use slipway_core::job::RunnerKind;
use slipway_core::lifecycle::Ending;
use slipway_core::rules::{ClusterSnapshot, Decision, OrganizationLoad};
use slipway_core::{
    Account, CapacityRequest, CapacityWait, Charge, Cluster, ClusterName, CostFigure, CostSource,
    HourCost, Operation, OperationId, OrgName, Reconciliation, Refusal, SizeSpan, Subject,
    Timestamp,
};
use tokio::sync::broadcast;

pub use records::*;
pub use sql::{Dialect, SqlStore};

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A rule refused the change; nothing was written but the audit entry.
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error("cluster {0} does not exist")]
    ClusterNotFound(String),
    #[error("operation {0} does not exist")]
    OperationNotFound(String),
    #[error("organization {0} does not exist")]
    OrganizationNotFound(String),
    /// The operation is no longer leased to this worker (it was reclaimed).
    #[error("the lease on operation {0} was lost")]
    LeaseLost(OperationId),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// A stored value could not be read back.
    #[error("corrupt record: {0}")]
    Corrupt(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A rule deciding a change from a consistent snapshot of one cluster and
/// its organization's load.
pub type Decide<'a> =
    dyn Fn(&ClusterSnapshot, &OrganizationLoad) -> Result<Decision, Refusal> + Send + Sync + 'a;

/// The rule that fires a cluster's due scheduled destroy, given its
/// snapshot: it needs no organization load and refuses nothing.
pub type Fire<'a> = dyn Fn(&ClusterSnapshot) -> Decision + Send + Sync + 'a;

/// The last-administrator rule deciding whether an API token may be
/// revoked: the token, and every token not revoked (the target among them),
/// read inside the revocation's transaction.
pub type RevocationCheck<'a> =
    dyn Fn(&AdminCandidate, &[AdminCandidate]) -> Result<(), Refusal> + Send + Sync + 'a;

/// What follows an interrupted operation, decided by the caller's rules:
/// given the interrupted operation, its cluster after the interruption, and
/// (for a run) the kind of runner its blueprint uses, the decision to apply —
/// a reconciling refresh, a runner's cleanup — or none.
pub type AfterInterruption<'a> =
    dyn Fn(&Operation, &ClusterSnapshot, Option<RunnerKind>) -> Option<Decision> + Send + Sync + 'a;

/// A hint that something changed. Notifications are never the truth, only a
/// reason to look again: a receiver that lags re-reads the store. On
/// PostgreSQL they reach every process sharing the database (LISTEN/NOTIFY).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Notification {
    /// An operation was queued: executors look for work.
    Queued {
        operation: OperationId,
        cluster: ClusterName,
    },
    /// A worker started an operation.
    Started {
        operation: OperationId,
        cluster: ClusterName,
    },
    /// Events up to `last_seq` were appended to an operation's log.
    Events {
        operation: OperationId,
        last_seq: u64,
    },
    /// An operation reached a terminal state.
    Finished {
        operation: OperationId,
        cluster: ClusterName,
    },
    /// Someone asked to cancel a running operation: its worker stops it.
    CancelRequested { operation: OperationId },
    /// A scheduled destroy was set, moved, fired or removed.
    ScheduleChanged { cluster: ClusterName },
    /// A cluster's capacity requests changed.
    CapacityChanged { cluster: ClusterName },
    /// A cluster was made public or private, or removed: who may see it
    /// and get tokens for it changed.
    AccessChanged { cluster: ClusterName },
    /// An organization's account changed (an administrator set it): it is
    /// reconciled and its budget enforced at once.
    AccountChanged { organization: OrgName },
    /// A token was revoked: gateways' revocation lists changed.
    Revoked,
    /// An API token or user token was revoked, a signing key rotated, or
    /// someone's user record or memberships changed: authentications a
    /// process remembers are checked again.
    CredentialsChanged,
    /// Provisioning was paused or resumed: executors look for work again.
    ProvisioningChanged,
    /// Notifications from other processes may have been missed (the
    /// listening connection was lost): look at everything again.
    Resync,
}

impl Notification {
    /// The cluster the change concerns, when the notification says.
    pub fn cluster(&self) -> Option<&ClusterName> {
        match self {
            Notification::Queued { cluster, .. }
            | Notification::Started { cluster, .. }
            | Notification::Finished { cluster, .. }
            | Notification::ScheduleChanged { cluster }
            | Notification::CapacityChanged { cluster }
            | Notification::AccessChanged { cluster } => Some(cluster),
            Notification::Events { .. }
            | Notification::AccountChanged { .. }
            | Notification::CancelRequested { .. }
            | Notification::Revoked
            | Notification::CredentialsChanged
            | Notification::ProvisioningChanged
            | Notification::Resync => None,
        }
    }
}

/// How [`QueueStore::reclaim`] chooses the running operations it interrupts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReclaimScope {
    /// Every running operation: this process is the only one using the
    /// database, and it just started, so nothing can really be running.
    AllRunning,
    /// Running operations whose lease expired before `now`.
    ExpiredLeases,
}

/// Slipway's persistence: every part.
pub trait Store:
    Notifications
    + ClusterStore
    + QueueStore
    + LogStore
    + BlueprintStore
    + IdentityStore
    + StateStore
    + AccountStore
    + AuditStore
{
}

impl<T> Store for T where
    T: Notifications
        + ClusterStore
        + QueueStore
        + LogStore
        + BlueprintStore
        + IdentityStore
        + StateStore
        + AccountStore
        + AuditStore
{
}

/// Change notifications.
pub trait Notifications: Send + Sync + 'static {
    /// Subscribes to change notifications, from this process and — where the
    /// database carries them — from every other process sharing it.
    fn subscribe(&self) -> broadcast::Receiver<Notification>;
}

/// Clusters, the decisions about them, and their scheduled destroys.
#[async_trait]
pub trait ClusterStore: Send + Sync + 'static {
    /// Defines a new cluster, `absent`. Refused if the name is taken.
    async fn create_cluster(&self, new: NewCluster) -> Result<Cluster>;

    /// The cluster with its in-flight operation and schedule.
    async fn cluster(&self, name: &ClusterName) -> Result<Option<ClusterSnapshot>>;

    /// The cluster as [`cluster`](Self::cluster) reads it, with its last
    /// operation (in flight or finished), in the same read.
    async fn cluster_with_last_operation(
        &self,
        name: &ClusterName,
    ) -> Result<Option<(ClusterSnapshot, Option<LastOperation>)>>;

    /// A page of clusters, by name, that `filter` lets through.
    async fn clusters(&self, filter: &ClusterFilter) -> Result<Vec<ClusterSnapshot>>;

    /// Decides a change to one cluster and applies it atomically: `decide`
    /// reads a snapshot and the organization's load taken under the
    /// cluster's lock; its decision (a new operation, a schedule change) is
    /// written with an audit entry in one transaction. A refusal is audited
    /// too and returned as [`StoreError::Refused`]. Answers the decision and the
    /// cluster as it is after the change (a removed one as it was).
    async fn decide(
        &self,
        cluster: &ClusterName,
        now: Timestamp,
        audit: &AuditIntent,
        decide: &Decide<'_>,
    ) -> Result<Decided>;

    /// When the next scheduled destroy is due, if any is pending.
    async fn next_schedule_due(&self) -> Result<Option<Timestamp>>;

    /// Clusters whose scheduled destroy is due at `now`, the earliest
    /// first (then by name).
    async fn due_schedules(&self, now: Timestamp) -> Result<Vec<ClusterName>>;

    /// Fires the scheduled destroys of `clusters` in one transaction, as
    /// [`ClusterStore::decide`] would one by one: each cluster's snapshot
    /// is read under its lock (taken in name order, so two schedulers
    /// firing the same clusters wait for each other, never deadlock),
    /// `fire` decides, and its decision is written with an audit entry.
    /// A cluster removed meanwhile is skipped. Answers each cluster's
    /// snapshot as it was before its decision, and the decision.
    async fn fire_schedules(
        &self,
        clusters: &[ClusterName],
        now: Timestamp,
        audit: &AuditIntent,
        fire: &Fire<'_>,
    ) -> Result<Vec<(ClusterSnapshot, Decision)>>;

    /// The clusters drift checks watch — protected and running — with when
    /// what exists was last found (`drift_checked_at`) and their creation,
    /// for `core::schedule::drift_check_due`.
    async fn drift_watched(&self) -> Result<Vec<DriftWatched>>;

    /// How many clusters the last drift check found drifted.
    async fn drifted_clusters(&self) -> Result<u64>;

    /// The cluster's runtime directory: the one recorded for it or, when
    /// none is (nothing of it is deployed), `proposed`, recorded now. So
    /// every operation on the cluster gives Terraform the same directory,
    /// whichever process runs it; it is forgotten when the cluster's end
    /// leaves nothing deployed (a destroy, or a refresh that finds nothing).
    async fn runtime_dir(&self, cluster: &ClusterName, proposed: &str) -> Result<String>;

    /// Records the last apply of a repository's deployment to its cluster
    /// (replacing the one before).
    async fn record_deployment(&self, applied: &DeploymentRecord) -> Result<()>;

    /// The last apply of a repository's deployment to the cluster.
    async fn deployment_record(&self, cluster: &ClusterName) -> Result<Option<DeploymentRecord>>;

    /// Every cluster's last apply, by deployment and environment (there is
    /// one per cluster a repository made).
    async fn deployment_records(&self) -> Result<Vec<DeploymentRecord>>;

    /// Keeps the change a dry run proposed for the cluster (replacing the
    /// one before).
    async fn propose_deployment(&self, proposal: &DeploymentProposal) -> Result<()>;

    /// The change last proposed for the cluster and not yet applied.
    async fn deployment_proposal(
        &self,
        cluster: &ClusterName,
    ) -> Result<Option<DeploymentProposal>>;

    /// Every change proposed and not yet applied.
    async fn deployment_proposals(&self) -> Result<Vec<DeploymentProposal>>;

    /// Forgets the change proposed for the cluster (applied, or superseded
    /// by an apply); whether there was one.
    async fn forget_deployment_proposal(&self, cluster: &ClusterName) -> Result<bool>;
}

/// One organization's part of the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganizationQueue {
    pub organization: String,
    pub queued: u64,
    pub running: u64,
    pub oldest_queued_at: Option<Timestamp>,
}

/// A change a dry run proposed for a repository's cluster: the desired
/// state as sent (JSON, its secrets file still encrypted to the server),
/// what it would change, Terraform's plan of it, and what the cluster was
/// asked to be then (`base_spec_digest`: the proposal is stale once the
/// cluster is asked to be anything else).
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentProposal {
    pub cluster: ClusterName,
    pub deployment: String,
    pub environment: String,
    pub desired: serde_json::Value,
    pub changes: serde_json::Value,
    pub commit: Option<String>,
    pub base_spec_digest: String,
    pub plan_operation: Option<OperationId>,
    pub proposed_by: String,
    pub proposed_at: Timestamp,
}

/// A cluster drift checks watch (see [`ClusterStore::drift_watched`]).
#[derive(Debug, Clone, PartialEq)]
pub struct DriftWatched {
    pub cluster: ClusterName,
    pub checked_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

/// What a repository's last apply gave a cluster: what environments share
/// (`common_digest`), the version, the commit, when and by whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentRecord {
    pub cluster: ClusterName,
    pub deployment: String,
    pub environment: String,
    pub version: String,
    pub common_digest: String,
    pub commit: Option<String>,
    /// Marked `prune` in the repository: destroyed by the apply that no
    /// longer finds the deployment there.
    pub prune: bool,
    /// The repository's digest of everything it gives the cluster.
    pub digest: String,
    /// What the apply asked the cluster to be (`Cluster::asked`, hashed).
    pub spec_digest: String,
    /// The environment this one comes after, as the repository said.
    pub requires: Option<String>,
    pub applied_by: String,
    pub applied_at: Timestamp,
}

/// Operations: queued, leased, renewed, finished, cancelled, reclaimed.
#[async_trait]
pub trait QueueStore: Send + Sync + 'static {
    async fn operation(&self, id: &OperationId) -> Result<Option<Operation>>;

    /// The operations with these ids (those that exist), in no order.
    async fn operations_by_id(&self, ids: &[OperationId]) -> Result<Vec<Operation>>;

    /// Operations, newest first.
    async fn operations(&self, filter: &OperationFilter) -> Result<Vec<Operation>>;

    /// What an operation recorded when it ended (`None` while it runs).
    async fn operation_result(&self, id: &OperationId) -> Result<Option<serde_json::Value>>;

    /// TEST and RELEASE runs with their results, newest first: of one
    /// cluster or all, at most `limit`.
    async fn runs(&self, cluster: Option<&ClusterName>, limit: u32) -> Result<Vec<Run>>;

    /// How many operations are queued and running.
    async fn queue_depth(&self) -> Result<QueueDepth>;

    /// Whether provisioning is paused site-wide, since when, by whom, why.
    async fn provisioning_pause(&self) -> Result<Option<ProvisioningPause>>;

    /// Pauses provisioning (`Some`) or resumes it (`None`), with its audit
    /// entry, in one transaction: while paused, [`QueueStore::lease_next`]
    /// leases nothing and queued operations wait (running ones go on).
    /// Pausing again keeps the first pause's time and changes its reason.
    /// Answers whether anything changed; resuming wakes the executors.
    async fn set_provisioning_pause(
        &self,
        pause: Option<ProvisioningPause>,
        audit: &NewAuditEntry,
    ) -> Result<bool>;

    /// Each organization's queued and running operations, and when its
    /// oldest queued one was queued (`/metrics`).
    async fn queue_by_organization(&self) -> Result<Vec<OrganizationQueue>>;

    /// Leases the queued operation `worker` may run — its blueprint's
    /// `worker_tags` all among `tags` — that comes first in core's fair
    /// order (`slipway_core::fairness`: the organization, then the person,
    /// served least lately; a person's request before the background's; the
    /// oldest), unless its organization already runs its
    /// `max_running_operations`, until `now + lease`, marks it
    /// running, moves its cluster into the matching state and records the
    /// run's state-backend credential (`credential_hash`), all in one
    /// transaction. The lease carries everything the run needs.
    async fn lease_next(
        &self,
        worker: &str,
        tags: &[String],
        now: Timestamp,
        lease: Duration,
        credential_hash: &str,
    ) -> Result<Option<Lease>>;

    /// Extends `worker`'s lease on a running operation to `now + lease`,
    /// and tells whether someone asked to cancel it.
    /// [`StoreError::LeaseLost`] if the operation is no longer leased to it.
    async fn renew_lease(
        &self,
        id: &OperationId,
        worker: &str,
        now: Timestamp,
        lease: Duration,
    ) -> Result<LeaseStatus>;

    /// Ends a running operation leased to `worker` and settles its cluster
    /// (state, outputs, error, schedules) in the same transaction.
    async fn finish(
        &self,
        id: &OperationId,
        worker: &str,
        ending: Ending,
        result: serde_json::Value,
        now: Timestamp,
    ) -> Result<Operation>;

    /// Cancels an operation: a queued one at once; for a running one the
    /// request is recorded, and whichever worker holds its lease stops it.
    /// `by` is who asks; its log names them `by_name`.
    async fn request_cancel(
        &self,
        id: &OperationId,
        by: &Subject,
        by_name: &str,
        now: Timestamp,
    ) -> Result<CancelOutcome>;

    /// Marks running operations `interrupted` with an event saying why and
    /// settles their clusters; `after` decides what follows each (a
    /// reconciling refresh, a runner's cleanup), written in the same
    /// transaction. Returns the interrupted operations.
    async fn reclaim(
        &self,
        scope: ReclaimScope,
        now: Timestamp,
        after: &AfterInterruption<'_>,
    ) -> Result<Vec<Operation>>;
}

/// Operation logs.
#[async_trait]
pub trait LogStore: Send + Sync + 'static {
    /// Appends events to an operation's log; returns the last sequence number.
    async fn append_events(&self, id: &OperationId, events: &[NewEvent]) -> Result<u64>;

    /// Events after `after_seq`, in order, at most `limit`.
    async fn events(&self, id: &OperationId, after_seq: u64, limit: u32) -> Result<Vec<Event>>;
}

/// Blueprint versions.
#[async_trait]
pub trait BlueprintStore: Send + Sync + 'static {
    /// Registers a blueprint version. Versions are immutable: registering the
    /// same content again changes nothing; different content under an
    /// existing version is reported, not written.
    async fn register_blueprint_version(&self, version: BlueprintVersion) -> Result<Registered>;

    /// A blueprint version, with its module files.
    async fn blueprint_version(
        &self,
        blueprint: &str,
        version: &str,
    ) -> Result<Option<BlueprintVersion>>;

    /// Every blueprint version, without module files.
    async fn blueprint_versions(&self) -> Result<Vec<BlueprintVersionSummary>>;

    /// Deprecates a version (again: a new reason); whether it exists.
    async fn deprecate_blueprint_version(
        &self,
        blueprint: &str,
        version: &str,
        deprecation: &Deprecation,
    ) -> Result<bool>;

    /// Points `latest` at a version; whether it exists.
    async fn move_blueprint_latest(
        &self,
        blueprint: &str,
        version: &str,
        at: Timestamp,
    ) -> Result<bool>;
}

/// People, organizations, tokens and keys.
#[async_trait]
pub trait IdentityStore: Send + Sync + 'static {
    async fn create_api_token(&self, token: NewApiToken) -> Result<ApiToken>;

    /// The token whose secret hashes to `secret_hash`, revoked or not.
    async fn api_token_by_hash(&self, secret_hash: &str) -> Result<Option<ApiToken>>;

    async fn api_token(&self, id: &str) -> Result<Option<ApiToken>>;

    async fn api_tokens(&self) -> Result<Vec<ApiToken>>;

    /// Revokes a token if `check` allows it, deciding on every token not
    /// revoked as it is inside the revocation's transaction (SQLite: the
    /// write transaction; PostgreSQL: those rows locked), so two concurrent
    /// revocations cannot both pass a check the other one breaks. A token
    /// already revoked stays as it was, unchecked. False if there is no
    /// such token.
    async fn revoke_api_token(
        &self,
        id: &str,
        now: Timestamp,
        check: &RevocationCheck<'_>,
    ) -> Result<bool>;

    /// Creates a bootstrap token and revokes every earlier bootstrap token
    /// (never another token of the bootstrap administrator), in one
    /// transaction; answers the ids revoked.
    async fn replace_bootstrap_token(&self, token: NewApiToken) -> Result<(ApiToken, Vec<String>)>;

    /// Creates an organization; refused if the name is taken.
    async fn create_organization(&self, org: Organization) -> Result<Organization>;

    /// Replaces an organization's mapping and limits.
    async fn update_organization(&self, org: Organization) -> Result<Organization>;

    async fn organization(&self, name: &OrgName) -> Result<Option<Organization>>;

    async fn organizations(&self) -> Result<Vec<Organization>>;

    /// Records a membership (a request, or a decision on one).
    async fn put_membership(&self, membership: Membership) -> Result<()>;

    async fn membership(&self, org: &OrgName, subject: &Subject) -> Result<Option<Membership>>;

    /// An organization's recorded memberships.
    async fn memberships(&self, org: &OrgName) -> Result<Vec<Membership>>;

    /// A person's recorded memberships.
    async fn memberships_of(&self, subject: &Subject) -> Result<Vec<Membership>>;

    /// Removes a membership and, in the same transaction, revokes the
    /// cluster tokens `then_revoke` names; false (and nothing revoked) if
    /// there was no membership.
    async fn remove_membership(
        &self,
        org: &OrgName,
        subject: &Subject,
        then_revoke: Option<&ClusterTokenRevocation>,
    ) -> Result<bool>;

    async fn put_user(&self, user: User) -> Result<()>;

    async fn user(&self, subject: &Subject) -> Result<Option<User>>;

    /// The person most recently seen with this GitHub login.
    async fn user_by_login(&self, login: &str) -> Result<Option<User>>;

    /// Every signing key, newest first.
    async fn signing_keys(&self) -> Result<Vec<StoredSigningKey>>;

    /// Adds a new signing key and retires every other one at `created_at`.
    async fn rotate_signing_key(&self, key: StoredSigningKey) -> Result<()>;

    /// Denies a token id until it expires, to the API and — when
    /// `refused_by` says so — to every cluster gateway. Revoking an id again
    /// keeps the first revocation (published, if either was).
    async fn revoke_token(
        &self,
        jti: &str,
        expires_at: Timestamp,
        now: Timestamp,
        refused_by: RefusedBy,
    ) -> Result<()>;

    async fn token_revoked(&self, jti: &str) -> Result<bool>;

    /// Refuses a person's cluster tokens issued up to `revocation.at` for
    /// the clusters it names (one row per cluster, moved on if there was
    /// one); answers how many clusters.
    async fn revoke_cluster_tokens(&self, revocation: &ClusterTokenRevocation) -> Result<u64>;

    /// What the signed list publishes at `now` — token ids revoked for
    /// everyone, and people's cluster tokens — with its version; forgets
    /// every revocation expired.
    async fn revocations(&self, now: Timestamp) -> Result<PublishedRevocations>;

    /// The version of what [`IdentityStore::revocations`] publishes: it
    /// changes with every published revocation (one row read).
    async fn revocations_version(&self) -> Result<i64>;

    /// Keeps a web sign-in's secret state until `expires_at`.
    async fn put_login_state(
        &self,
        state: &str,
        payload: &[u8],
        expires_at: Timestamp,
    ) -> Result<()>;

    /// Takes (and removes) a web sign-in state, unless it expired.
    async fn take_login_state(&self, state: &str, now: Timestamp) -> Result<Option<Vec<u8>>>;
}

/// Terraform's state, kept by Slipway, and who may reach it.
#[async_trait]
pub trait StateStore: Send + Sync + 'static {
    /// A credential, if its operation is still running.
    async fn live_run_credential(&self, operation: &OperationId) -> Result<Option<RunCredential>>;

    /// The newest version of a state.
    async fn latest_state(&self, state_key: &str) -> Result<Option<StateVersion>>;

    /// Every version of a state, oldest first, without content.
    async fn state_history(&self, state_key: &str) -> Result<Vec<StateVersion>>;

    /// Writes a new version. Refused with the lock in the way if the state
    /// is locked under another lock id (or locked and `lock_id` is none).
    async fn write_state(
        &self,
        state_key: &str,
        operation: &OperationId,
        lock_id: Option<&str>,
        data: Vec<u8>,
        now: Timestamp,
    ) -> Result<Result<i64, StateLock>>;

    /// Saves a state a run could not save itself (Terraform left it in
    /// `errored.tfstate`): releases the run's locks and writes it as the
    /// newest version — unless a later operation already wrote the state,
    /// in which case nothing is written and `false` returned.
    async fn recover_state(
        &self,
        state_key: &str,
        operation: &OperationId,
        data: Vec<u8>,
        now: Timestamp,
    ) -> Result<bool>;

    /// Takes the lock of a state; answers the lock in the way if it is held.
    async fn lock_state(&self, lock: StateLock) -> Result<Result<(), StateLock>>;

    /// Releases a lock taken under `lock_id`; answers the lock in the way if
    /// another one holds it. Releasing a lock that is not held succeeds.
    async fn unlock_state(&self, state_key: &str, lock_id: &str) -> Result<Result<(), StateLock>>;
}

/// A reconciliation rule: the account and the hours not fully charged, to
/// what the reconciliation does.
pub type Reconcile<'a> = dyn Fn(&Account, &[Charge]) -> Reconciliation + Send + Sync + 'a;

/// A change of an account by an administrator: the account as it is (none
/// if not opened yet) to the account wanted, or a refusal.
pub type ChangeAccount<'a> =
    dyn Fn(Option<&Account>) -> Result<Account, Refusal> + Send + Sync + 'a;

/// Organizations' money: accounts, what clusters cost per hour, which node
/// count ran when, and capacity requests.
#[async_trait]
pub trait AccountStore: Send + Sync + 'static {
    async fn account(&self, organization: &OrgName) -> Result<Option<AccountRecord>>;

    /// The organizations that have an account.
    async fn accounted_organizations(&self) -> Result<Vec<OrgName>>;

    /// Opens or changes an account atomically: `change` decides from the
    /// account as it is; the result is written with an audit entry.
    async fn change_account(
        &self,
        organization: &OrgName,
        now: Timestamp,
        audit: &AuditIntent,
        reason: &str,
        change: &ChangeAccount<'_>,
    ) -> Result<Account>;

    /// Which node count each of the organization's clusters ran, and at
    /// which rates, over `[from, to)` (spans that overlap it).
    async fn size_spans(
        &self,
        organization: &OrgName,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<SizeSpan>>;

    /// Records what hours cost by one source (the model's estimate or Cost
    /// Explorer's figure), replacing that source's earlier figure for the
    /// same (cluster, hour). With `accrued_through`, the model's figures run
    /// to that instant, recorded with them as the organization's last
    /// accrual — unless a later one was recorded already: then nothing is
    /// written and the answer is `false`.
    async fn record_costs(
        &self,
        organization: &OrgName,
        source: CostSource,
        hours: &[HourCost],
        accrued_through: Option<Timestamp>,
    ) -> Result<bool>;

    /// Until when the model's costs of the organization were last accrued
    /// (what accrued since is provisional).
    async fn costs_accrued_at(&self, organization: &OrgName) -> Result<Option<Timestamp>>;

    /// Reconciles the account in one transaction: `rule` sees the account
    /// and every hour whose cost differs from what was charged; the
    /// account, the charges and an audit entry are written together. `None`
    /// when the organization has no account.
    async fn reconcile(
        &self,
        organization: &OrgName,
        now: Timestamp,
        audit: &AuditIntent,
        rule: &Reconcile<'_>,
    ) -> Result<Option<Reconciliation>>;

    /// Records which budget warnings have been sent.
    async fn set_warnings(
        &self,
        organization: &OrgName,
        warnings: &std::collections::BTreeSet<String>,
    ) -> Result<()>;

    /// What each hour cost, Cost Explorer's figure where there is one, else
    /// the model's: of the organization (or one cluster), hours in
    /// `[from, to)`.
    async fn cost_figures(
        &self,
        organization: &OrgName,
        cluster: Option<&ClusterName>,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<CostFigure>>;

    /// A capacity request, unless one identical (same person, cluster,
    /// size and expiry) is active: then `false` and nothing is written.
    async fn add_capacity_request(&self, request: &CapacityRequest) -> Result<bool>;

    /// Withdraws a request; the request as it was, if there was one.
    async fn withdraw_capacity_request(&self, id: &str) -> Result<Option<CapacityRequest>>;

    /// A cluster's requests not withdrawn nor swept, by expiry.
    async fn capacity_requests(&self, cluster: &ClusterName) -> Result<Vec<CapacityRequest>>;

    /// Records how the cluster followed its requests: `None`, it does
    /// (every request is honoured); else why those not honoured yet wait.
    async fn mark_capacity_requests(
        &self,
        cluster: &ClusterName,
        waiting: Option<&CapacityWait>,
    ) -> Result<()>;

    /// The clusters with requests, active at `now`, that wait.
    async fn waiting_capacity_clusters(&self, now: Timestamp) -> Result<Vec<ClusterName>>;

    /// When the next request expires, after `now`.
    async fn next_capacity_expiry(&self, now: Timestamp) -> Result<Option<Timestamp>>;

    /// Deletes requests expired at `now`; the clusters they were for.
    async fn sweep_capacity_requests(&self, now: Timestamp) -> Result<Vec<ClusterName>>;

    /// Claims the right to ask Cost Explorer now, if it was last asked
    /// `interval` ago or more (once for every process sharing the
    /// database).
    async fn claim_cost_explorer_fetch(
        &self,
        now: Timestamp,
        interval: std::time::Duration,
    ) -> Result<bool>;
}

/// The audit log.
#[async_trait]
pub trait AuditStore: Send + Sync + 'static {
    async fn append_audit(&self, entry: NewAuditEntry) -> Result<()>;

    /// Several entries in one transaction and one statement per hundred:
    /// all written, or none (a group commit's).
    async fn append_audits(&self, entries: &[NewAuditEntry]) -> Result<()>;

    /// Audit entries, newest first.
    async fn audit_log(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>>;
}
