//! Slipway's domain core: what a cluster, an operation and a schedule are, and
//! the rules (docs/domain.md §4) that decide what may happen to them.
//!
//! Everything here is pure: no I/O, no clock, no randomness, no async. Callers
//! pass in the current time and fresh identifiers; the rules answer with a
//! [`rules::Decision`] that the store applies atomically, or a [`Refusal`] that the
//! edges turn into an HTTP status and a CLI exit code.
//!
//! Organizations' money (§3.8) is here too, exact to the last decimal:
//! [`money`] amounts and rates, [`cost`] accrual and history, [`account`]
//! reconciliation, [`forecast`]s of when the money runs out, [`budget`]
//! enforcement, and [`capacity`] requests.

// A new variant of an enum must be handled where it is matched: no
// wildcard arm swallows it (ARCHITECTURE.md, "Adding an operation kind").
#![warn(clippy::wildcard_enum_match_arm)]

pub mod access;
pub mod account;
pub mod blueprint;
pub mod budget;
pub mod calendar;
pub mod capacity;
pub mod cluster;
pub mod cost;
pub mod credentials;
pub mod duration;
pub mod event;
pub mod fairness;
pub mod forecast;
pub mod job;
pub mod lifecycle;
pub mod money;
pub mod names;
pub mod net;
pub mod operation;
pub mod refusal;
pub mod rules;
pub mod schedule;
pub mod subject;
pub mod validation;

pub use access::{Identity, Level, Limits};
pub use account::{Account, Charge, Reconciliation};
pub use budget::BudgetPolicy;
pub use capacity::{CapacityOutcome, CapacityPolicy, CapacityRequest, CapacityWait};
pub use cluster::{Cluster, ClusterSpec, ClusterState, Variables};
pub use cost::{CostBucket, CostFigure, CostModel, CostSource, Granularity, HourCost, SizeSpan};
pub use forecast::{BurnRates, ClusterCost, ForecastHorizon};
pub use money::{Money, Rate};
pub use names::{BlueprintName, ClusterName, JobVersion, OperationId, OrgName};
pub use operation::{JobSpec, Operation, OperationKind, OperationState, Reason, TerraformCommand};
pub use refusal::Refusal;
pub use schedule::Schedule;
pub use subject::Subject;
pub use validation::ValidationError;

/// Timestamps are UTC everywhere in Slipway.
pub type Timestamp = chrono::DateTime<chrono::Utc>;

/// The absolute ceiling on nodes in one cluster, whoever asks (docs/domain.md §1).
pub const MAX_NODES_CEILING: u32 = 1000;
