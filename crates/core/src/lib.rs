//! Slipway's domain core: what a cluster, an operation and a schedule are, and
//! the rules (DESIGN.md §3.4) that decide what may happen to them.
//!
//! Everything here is pure: no I/O, no clock, no randomness, no async. Callers
//! pass in the current time and fresh identifiers; the rules answer with a
//! [`rules::Plan`] that the store applies atomically, or a [`Refusal`] that the
//! edges turn into an HTTP status and a CLI exit code.

pub mod access;
pub mod blueprint;
pub mod cluster;
pub mod duration;
pub mod event;
pub mod job;
pub mod lifecycle;
pub mod names;
pub mod operation;
pub mod refusal;
pub mod rules;
pub mod schedule;

pub use access::{Identity, Level, Limits};
pub use cluster::{Cluster, ClusterSpec, ClusterState, Variables};
pub use names::{BlueprintName, ClusterName, OrgName};
pub use operation::{Operation, OperationId, OperationKind, OperationState, Reason};
pub use refusal::{Refusal, ValidationError};
pub use schedule::Schedule;

/// Timestamps are UTC everywhere in Slipway.
pub type Timestamp = chrono::DateTime<chrono::Utc>;

/// The absolute ceiling on nodes in one cluster, whoever asks (DESIGN.md §3.1).
pub const MAX_NODES_CEILING: u32 = 1000;
