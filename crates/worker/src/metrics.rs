//! The worker's Prometheus series, registered in the process's registry
//! (served at the API's `/metrics`).
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `slipway_operations_total` | counter | `kind`, `result` (succeeded, failed, cancelled, interrupted) — operations this process finished |
//! | `slipway_operation_duration_seconds` | histogram | `kind` — from lease to end |
//! | `slipway_terraform_run_duration_seconds` | histogram | `command` (apply, destroy, plan) — each Terraform run |
//! | `slipway_lease_renewals_total` | counter | `result` (held, cancel_requested, lost, error) |
//! | `slipway_reclaims_total` | counter | — operations interrupted because their lease expired or their process died |
//! | `slipway_scheduler_lag_seconds` | histogram | — from a scheduled destroy's due time to its operation being queued |
//! | `slipway_capacity_rounds_total` | counter | — rounds of the capacity keeper (each looks at the requests that expired or wait) |
//!
//! Every label is a `&'static str` from a fixed set (an operation's kind or
//! state, a Terraform action, a renewal's outcome): the series stay few.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct OperationLabels {
    pub kind: &'static str,
    pub result: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct CommandLabel {
    pub command: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ResultLabel {
    pub result: &'static str,
}

/// Seconds, from 50 ms to about 2 hours.
fn seconds_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.05, 2.0, 18)
}

pub struct Metrics {
    pub operations: Family<OperationLabels, Counter>,
    pub operation_duration: Family<KindLabel, Histogram>,
    pub terraform_run_duration: Family<CommandLabel, Histogram>,
    pub lease_renewals: Family<ResultLabel, Counter>,
    pub reclaims: Counter,
    pub scheduler_lag: Histogram,
    pub capacity_rounds: Counter,
}

impl Metrics {
    /// The worker's series, registered in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            operations: Family::default(),
            operation_duration: Family::new_with_constructor(|| Histogram::new(seconds_buckets())),
            terraform_run_duration: Family::new_with_constructor(|| {
                Histogram::new(seconds_buckets())
            }),
            lease_renewals: Family::default(),
            reclaims: Counter::default(),
            scheduler_lag: Histogram::new(exponential_buckets(0.001, 2.0, 20)),
            capacity_rounds: Counter::default(),
        };
        registry.register(
            "slipway_operations",
            "Operations this process finished, by kind and result",
            metrics.operations.clone(),
        );
        registry.register(
            "slipway_operation_duration_seconds",
            "How long operations ran, from lease to end",
            metrics.operation_duration.clone(),
        );
        registry.register(
            "slipway_terraform_run_duration_seconds",
            "How long each Terraform run took",
            metrics.terraform_run_duration.clone(),
        );
        registry.register(
            "slipway_lease_renewals",
            "Lease renewals, by what they found",
            metrics.lease_renewals.clone(),
        );
        registry.register(
            "slipway_reclaims",
            "Operations interrupted because their worker stopped renewing its lease or died",
            metrics.reclaims.clone(),
        );
        registry.register(
            "slipway_scheduler_lag_seconds",
            "From a scheduled destroy's due time to its operation being queued",
            metrics.scheduler_lag.clone(),
        );
        registry.register(
            "slipway_capacity_rounds",
            "Rounds of the capacity keeper: each looks at the requests that expired or wait",
            metrics.capacity_rounds.clone(),
        );
        metrics
    }

    /// Series registered nowhere (tests, tools).
    pub fn unregistered() -> Self {
        Self::register(&mut Registry::default())
    }

    pub(crate) fn renewal(&self, result: &'static str) {
        self.lease_renewals
            .get_or_create(&ResultLabel { result })
            .inc();
    }
}
