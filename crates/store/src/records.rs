//! The records the store reads and writes besides the domain types of
//! `slipway-core`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use slipway_core::blueprint::BlueprintMetadata;
use slipway_core::{ClusterName, ClusterSpec, OrgName, Timestamp};

/// A cluster to define.
#[derive(Debug, Clone)]
pub struct NewCluster {
    pub name: ClusterName,
    pub organization: OrgName,
    pub public: bool,
    pub spec: ClusterSpec,
    pub created_by: String,
    pub now: Timestamp,
}

/// Which operations to list.
#[derive(Debug, Clone, Default)]
pub struct OperationFilter {
    pub cluster: Option<ClusterName>,
    /// Only operations that are queued or running.
    pub active_only: bool,
    pub limit: u32,
}

/// Who is changing something, for the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditIntent {
    pub actor: String,
    pub level: String,
    pub action: String,
}

/// An entry to append to the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewAuditEntry {
    pub at: Timestamp,
    pub actor: String,
    pub level: String,
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
    pub level: String,
    pub action: String,
    pub target: String,
    pub result: String,
    pub detail: serde_json::Value,
}

/// Which audit entries to read.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub target: Option<String>,
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
    pub created_at: Timestamp,
}

/// A blueprint version without its files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlueprintVersionSummary {
    pub blueprint: String,
    pub version: String,
    pub description: String,
    pub digest: String,
    pub created_at: Timestamp,
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
    pub owner: String,
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
    pub owner: String,
    pub scopes: Vec<String>,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

impl ApiToken {
    /// Usable now: not revoked, not expired.
    pub fn is_valid_at(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|at| now < at)
    }
}
