//! Rows as the database returns them, and their conversion to domain types.
//! Times are Unix milliseconds; structured values are JSON text.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use slipway_core::event::{Event, EventLevel};
use slipway_core::{
    Cluster, ClusterName, Operation, OperationId, OrgName, Schedule, Subject, Timestamp,
};

use crate::{
    AdminCandidate, ApiToken, AuditEntry, BlueprintVersion, BlueprintVersionSummary, Deprecation,
    LastOperation, Membership, MembershipRole, MembershipState, Organization, StateLock,
    StateVersion, StoreError, StoredSigningKey, User,
};

pub fn millis(t: Timestamp) -> i64 {
    t.timestamp_millis()
}

pub fn time(ms: i64) -> Result<Timestamp, StoreError> {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .ok_or_else(|| StoreError::Corrupt(format!("timestamp {ms} out of range")))
}

fn opt_time(ms: Option<i64>) -> Result<Option<Timestamp>, StoreError> {
    ms.map(time).transpose()
}

pub fn json<T: DeserializeOwned>(what: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

pub fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("domain values serialize to JSON")
}

pub fn parse<T: std::str::FromStr>(what: &str, text: &str) -> Result<T, StoreError>
where
    T::Err: std::fmt::Display,
{
    text.parse()
        .map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

pub fn name<T>(
    what: &str,
    text: &str,
    f: impl Fn(&str) -> Result<T, slipway_core::ValidationError>,
) -> Result<T, StoreError> {
    f(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

/// Which of a cluster's operation in flight, scheduled destroy and
/// capacity requests exist.
#[derive(Debug, Clone, Copy)]
pub struct Presence {
    pub active: bool,
    pub schedule: bool,
    pub capacity: bool,
}

impl Presence {
    /// Each may exist: read them all.
    pub const ALL: Self = Self {
        active: true,
        schedule: true,
        capacity: true,
    };
}

/// A cluster's row with its [`Presence`] flags.
#[derive(sqlx::FromRow)]
pub struct ClusterPresenceRow {
    #[sqlx(flatten)]
    cluster: ClusterRow,
    has_active: i64,
    has_schedule: i64,
    has_capacity: i64,
    last_kind: Option<String>,
    last_state: Option<String>,
    last_error: Option<String>,
}

impl ClusterPresenceRow {
    pub fn split(self) -> Result<(Cluster, Presence, Option<LastOperation>), StoreError> {
        let present = Presence {
            active: self.has_active != 0,
            schedule: self.has_schedule != 0,
            capacity: self.has_capacity != 0,
        };
        let cluster = Cluster::try_from(self.cluster)?;
        let last = match (&cluster.last_operation, self.last_kind, self.last_state) {
            (Some(id), Some(kind), Some(state)) => Some(LastOperation {
                id: id.clone(),
                kind: parse("operation kind", &kind)?,
                state: parse("operation state", &state)?,
                error: self.last_error,
            }),
            _ => None,
        };
        Ok((cluster, present, last))
    }
}

#[derive(sqlx::FromRow)]
pub struct ClusterRow {
    name: String,
    organization: String,
    public: i64,
    protected: i64,
    spec: String,
    deployed: Option<String>,
    state: String,
    outputs: String,
    error: Option<String>,
    last_operation: Option<String>,
    created_by: String,
    created_at: i64,
    updated_at: i64,
    drift: Option<String>,
    drift_checked_at: Option<i64>,
}

/// The columns a [`ClusterRow`] reads, for `concat!` into static SQL.
macro_rules! cluster_columns {
    () => {
        "name, organization, public, protected, spec, deployed, state, outputs, error, last_operation, created_by, created_at, updated_at, drift, drift_checked_at"
    };
}
pub(crate) use cluster_columns;

impl TryFrom<ClusterRow> for Cluster {
    type Error = StoreError;
    fn try_from(r: ClusterRow) -> Result<Self, StoreError> {
        Ok(Cluster {
            name: name("cluster name", &r.name, ClusterName::parse)?,
            organization: name("organization", &r.organization, OrgName::parse)?,
            public: r.public != 0,
            protected: r.protected != 0,
            drift: r
                .drift
                .as_deref()
                .map(|d| json("drift", d))
                .transpose()?
                .unwrap_or_default(),
            drift_checked_at: r.drift_checked_at.map(time).transpose()?,
            spec: json("cluster spec", &r.spec)?,
            deployed: r
                .deployed
                .as_deref()
                .map(|d| json("deployed spec", d))
                .transpose()?,
            state: parse("cluster state", &r.state)?,
            outputs: json("outputs", &r.outputs)?,
            error: r.error,
            last_operation: r
                .last_operation
                .as_deref()
                .map(|id| name("operation id", id, OperationId::parse))
                .transpose()?,
            created_by: r.created_by,
            created_at: time(r.created_at)?,
            updated_at: time(r.updated_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct OperationRow {
    id: String,
    cluster: String,
    kind: String,
    reason: String,
    requested_by: String,
    state: String,
    spec: String,
    job: Option<String>,
    error: Option<String>,
    created_at: i64,
    started_at: Option<i64>,
    finished_at: Option<i64>,
}

/// The columns an [`OperationRow`] reads.
macro_rules! operation_columns {
    () => {
        "id, cluster, kind, reason, requested_by, state, spec, job, error, created_at, started_at, finished_at"
    };
}
pub(crate) use operation_columns;

impl TryFrom<OperationRow> for Operation {
    type Error = StoreError;
    fn try_from(r: OperationRow) -> Result<Self, StoreError> {
        Ok(Operation {
            id: name("operation id", &r.id, OperationId::parse)?,
            cluster: name("cluster name", &r.cluster, ClusterName::parse)?,
            kind: parse("operation kind", &r.kind)?,
            reason: parse("operation reason", &r.reason)?,
            requested_by: r.requested_by,
            state: parse("operation state", &r.state)?,
            spec: json("operation spec", &r.spec)?,
            job: r.job.map(|j| json("operation job", &j)).transpose()?,
            error: r.error,
            created_at: time(r.created_at)?,
            started_at: opt_time(r.started_at)?,
            finished_at: opt_time(r.finished_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct ScheduleRow {
    cluster: String,
    destroy_at: i64,
    requested_by: String,
    created_at: i64,
    fired_operation: Option<String>,
    failed_attempts: i64,
    retry_at: Option<i64>,
}

/// The columns a [`ScheduleRow`] reads.
macro_rules! schedule_columns {
    () => {
        "cluster, destroy_at, requested_by, created_at, fired_operation, failed_attempts, retry_at"
    };
}
pub(crate) use schedule_columns;

impl TryFrom<ScheduleRow> for Schedule {
    type Error = StoreError;
    fn try_from(r: ScheduleRow) -> Result<Self, StoreError> {
        Ok(Schedule {
            cluster: name("cluster name", &r.cluster, ClusterName::parse)?,
            destroy_at: time(r.destroy_at)?,
            requested_by: r.requested_by,
            created_at: time(r.created_at)?,
            fired_operation: r
                .fired_operation
                .as_deref()
                .map(|id| name("operation id", id, OperationId::parse))
                .transpose()?,
            failed_attempts: u32::try_from(r.failed_attempts).unwrap_or(u32::MAX),
            retry_at: opt_time(r.retry_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct EventRow {
    seq: i64,
    at: i64,
    kind: String,
    level: String,
    message: String,
    data: String,
}

impl TryFrom<EventRow> for Event {
    type Error = StoreError;
    fn try_from(r: EventRow) -> Result<Self, StoreError> {
        Ok(Event {
            seq: u64::try_from(r.seq).map_err(|_| StoreError::Corrupt("event seq".into()))?,
            at: time(r.at)?,
            kind: r.kind,
            level: EventLevel::parse(&r.level),
            message: r.message,
            data: json("event data", &r.data)?,
        })
    }
}

/// The columns a [`BlueprintVersionRow`] reads (`files` may be replaced by
/// `'{}' AS files` where they are not needed).
macro_rules! blueprint_version_columns {
    ($files:literal) => {
        concat!(
            "blueprint, version, metadata, ",
            $files,
            ", digest, metadata_text, created_at, organizations, deprecated_at, deprecation, \
             CAST(CASE WHEN version = (SELECT l.version FROM blueprint_latest l WHERE l.blueprint = blueprint_versions.blueprint) \
             THEN 1 ELSE 0 END AS BIGINT) AS is_latest"
        )
    };
}
pub(crate) use blueprint_version_columns;

#[derive(sqlx::FromRow)]
pub struct BlueprintVersionRow {
    blueprint: String,
    version: String,
    metadata: String,
    files: String,
    digest: String,
    metadata_text: Option<String>,
    created_at: i64,
    organizations: Option<String>,
    deprecated_at: Option<i64>,
    deprecation: Option<String>,
    is_latest: i64,
}

impl BlueprintVersionRow {
    fn deprecated(&self) -> Result<Option<Deprecation>, StoreError> {
        self.deprecated_at
            .map(|at| {
                Ok(Deprecation {
                    at: time(at)?,
                    reason: self.deprecation.clone().unwrap_or_default(),
                })
            })
            .transpose()
    }

    fn organizations(&self) -> Result<Option<Vec<String>>, StoreError> {
        self.organizations
            .as_deref()
            .map(|o| json("blueprint organizations", o))
            .transpose()
    }
}

impl TryFrom<BlueprintVersionRow> for BlueprintVersion {
    type Error = StoreError;
    fn try_from(r: BlueprintVersionRow) -> Result<Self, StoreError> {
        Ok(BlueprintVersion {
            deprecated: r.deprecated()?,
            organizations: r.organizations()?,
            metadata: json("blueprint metadata", &r.metadata)?,
            files: json("blueprint files", &r.files)?,
            created_at: time(r.created_at)?,
            blueprint: r.blueprint,
            version: r.version,
            digest: r.digest,
            metadata_text: r.metadata_text,
        })
    }
}

impl TryFrom<BlueprintVersionRow> for BlueprintVersionSummary {
    type Error = StoreError;
    fn try_from(r: BlueprintVersionRow) -> Result<Self, StoreError> {
        Ok(BlueprintVersionSummary {
            metadata: json("blueprint metadata", &r.metadata)?,
            deprecated: r.deprecated()?,
            organizations: r.organizations()?,
            latest: r.is_latest == 1,
            created_at: time(r.created_at)?,
            blueprint: r.blueprint,
            version: r.version,
            digest: r.digest,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct ApiTokenRow {
    id: String,
    name: String,
    owner: String,
    scopes: String,
    created_at: i64,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
    bootstrap: i64,
}

/// The columns an [`ApiTokenRow`] reads.
macro_rules! api_token_columns {
    () => {
        "id, name, owner, scopes, created_at, expires_at, revoked_at, bootstrap"
    };
}
pub(crate) use api_token_columns;

/// An API token not revoked, with whether its owner is recorded as an
/// administrator.
#[derive(sqlx::FromRow)]
pub struct AdminCandidateRow {
    #[sqlx(flatten)]
    token: ApiTokenRow,
    owner_admin: i64,
}

impl TryFrom<AdminCandidateRow> for AdminCandidate {
    type Error = StoreError;
    fn try_from(r: AdminCandidateRow) -> Result<Self, StoreError> {
        Ok(AdminCandidate {
            token: ApiToken::try_from(r.token)?,
            owner_admin: r.owner_admin != 0,
        })
    }
}

impl TryFrom<ApiTokenRow> for ApiToken {
    type Error = StoreError;
    fn try_from(r: ApiTokenRow) -> Result<Self, StoreError> {
        Ok(ApiToken {
            id: r.id,
            name: r.name,
            owner: name("token owner", &r.owner, Subject::parse)?,
            scopes: json("token scopes", &r.scopes)?,
            created_at: time(r.created_at)?,
            expires_at: opt_time(r.expires_at)?,
            revoked_at: opt_time(r.revoked_at)?,
            bootstrap: r.bootstrap != 0,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct AuditRow {
    id: i64,
    at: i64,
    actor: String,
    actor_name: Option<String>,
    level: String,
    action: String,
    target: String,
    result: String,
    detail: String,
}

impl TryFrom<AuditRow> for AuditEntry {
    type Error = StoreError;
    fn try_from(r: AuditRow) -> Result<Self, StoreError> {
        Ok(AuditEntry {
            id: r.id,
            at: time(r.at)?,
            actor: r.actor,
            actor_name: r.actor_name,
            level: r.level,
            action: r.action,
            target: r.target,
            result: r.result,
            detail: json("audit detail", &r.detail)?,
        })
    }
}

/// Converts every row, stopping at the first that cannot be read.
pub fn convert<R, T: TryFrom<R, Error = StoreError>>(rows: Vec<R>) -> Result<Vec<T>, StoreError> {
    rows.into_iter().map(T::try_from).collect()
}

pub fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn unb64(what: &str, text: &str) -> Result<Vec<u8>, StoreError> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

#[derive(sqlx::FromRow)]
pub struct OrganizationRow {
    name: String,
    github_org: Option<String>,
    github_team: Option<String>,
    limits: String,
    destroy_when_idle: i64,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<OrganizationRow> for Organization {
    type Error = StoreError;
    fn try_from(r: OrganizationRow) -> Result<Self, StoreError> {
        Ok(Organization {
            name: name("organization", &r.name, OrgName::parse)?,
            github_org: r.github_org,
            github_team: r.github_team,
            limits: json("limits", &r.limits)?,
            destroy_when_idle: r.destroy_when_idle != 0,
            created_at: time(r.created_at)?,
            updated_at: time(r.updated_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct MembershipRow {
    organization: String,
    subject: String,
    name: Option<String>,
    role: String,
    state: String,
    requested_at: i64,
    decided_by: Option<String>,
    decided_at: Option<i64>,
}

/// The columns a [`MembershipRow`] reads, from `memberships m LEFT JOIN
/// users u`.
macro_rules! membership_columns {
    () => {
        "m.organization, m.subject, u.login AS name, m.role, m.state, m.requested_at, m.decided_by, m.decided_at"
    };
}
pub(crate) use membership_columns;

pub fn role_text(role: MembershipRole) -> &'static str {
    match role {
        MembershipRole::Owner => "owner",
        MembershipRole::Member => "member",
    }
}

pub fn membership_state_text(state: MembershipState) -> &'static str {
    match state {
        MembershipState::Requested => "requested",
        MembershipState::Approved => "approved",
    }
}

impl TryFrom<MembershipRow> for Membership {
    type Error = StoreError;
    fn try_from(r: MembershipRow) -> Result<Self, StoreError> {
        Ok(Membership {
            organization: name("organization", &r.organization, OrgName::parse)?,
            subject: name("member", &r.subject, Subject::parse)?,
            name: r.name,
            role: match r.role.as_str() {
                "owner" => MembershipRole::Owner,
                "member" => MembershipRole::Member,
                other => return Err(StoreError::Corrupt(format!("membership role {other:?}"))),
            },
            state: match r.state.as_str() {
                "requested" => MembershipState::Requested,
                "approved" => MembershipState::Approved,
                other => return Err(StoreError::Corrupt(format!("membership state {other:?}"))),
            },
            requested_at: time(r.requested_at)?,
            decided_by: r.decided_by,
            decided_at: opt_time(r.decided_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct UserRow {
    subject: String,
    login: String,
    github_id: i64,
    github_token: Option<String>,
    admin: i64,
    github_orgs: String,
    checked_at: i64,
    created_at: i64,
}

/// The columns a [`UserRow`] reads.
macro_rules! user_columns {
    () => {
        "subject, login, github_id, github_token, admin, github_orgs, checked_at, created_at"
    };
}
pub(crate) use user_columns;

impl TryFrom<UserRow> for User {
    type Error = StoreError;
    fn try_from(r: UserRow) -> Result<Self, StoreError> {
        Ok(User {
            subject: name("user", &r.subject, Subject::parse)?,
            login: r.login,
            github_id: r.github_id,
            github_token: r
                .github_token
                .as_deref()
                .map(|t| unb64("github token", t))
                .transpose()?,
            admin: r.admin != 0,
            github_orgs: json("github orgs", &r.github_orgs)?,
            checked_at: time(r.checked_at)?,
            created_at: time(r.created_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct SigningKeyRow {
    kid: String,
    public_key: String,
    private_key: String,
    created_at: i64,
    retired_at: Option<i64>,
}

impl TryFrom<SigningKeyRow> for StoredSigningKey {
    type Error = StoreError;
    fn try_from(r: SigningKeyRow) -> Result<Self, StoreError> {
        Ok(StoredSigningKey {
            public_key: unb64("public key", &r.public_key)?,
            private_key: unb64("private key", &r.private_key)?,
            kid: r.kid,
            created_at: time(r.created_at)?,
            retired_at: opt_time(r.retired_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct StateVersionRow {
    state_key: String,
    serial: i64,
    operation_id: String,
    created_at: i64,
    data: String,
}

impl TryFrom<StateVersionRow> for StateVersion {
    type Error = StoreError;
    fn try_from(r: StateVersionRow) -> Result<Self, StoreError> {
        Ok(StateVersion {
            operation: name("operation id", &r.operation_id, OperationId::parse)?,
            data: unb64("state", &r.data)?,
            state_key: r.state_key,
            serial: r.serial,
            created_at: time(r.created_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct StateLockRow {
    state_key: String,
    lock_id: String,
    operation_id: String,
    info: String,
    created_at: i64,
}

impl TryFrom<StateLockRow> for StateLock {
    type Error = StoreError;
    fn try_from(r: StateLockRow) -> Result<Self, StoreError> {
        Ok(StateLock {
            operation: name("operation id", &r.operation_id, OperationId::parse)?,
            info: json("lock info", &r.info)?,
            state_key: r.state_key,
            lock_id: r.lock_id,
            created_at: time(r.created_at)?,
        })
    }
}
