//! Operations: every change to a cluster is one (docs/domain.md §3).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::cluster::ClusterSpec;
use crate::names::{ClusterName, JobVersion, OperationId};

macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(format!(concat!("unknown ", stringify!($name), " {:?}"), s)),
                }
            }
        }
    };
}

text_enum!(
    /// What an operation does.
    OperationKind {
        Deploy = "deploy",
        Update = "update",
        Destroy = "destroy",
        Refresh = "refresh",
        Plan = "plan",
        Test = "test",
        Release = "release",
        Cleanup = "cleanup",
    }
);

impl OperationKind {
    /// Infrastructure operations change (or inspect) a cluster's Terraform
    /// state; at most one per cluster is queued or running. The one
    /// definition: the store's queries are built from this list.
    pub const INFRASTRUCTURE: [OperationKind; 5] = [
        OperationKind::Deploy,
        OperationKind::Update,
        OperationKind::Destroy,
        OperationKind::Refresh,
        OperationKind::Plan,
    ];

    /// Operations that bring a cluster up (or change it while up): a cluster
    /// with one in flight counts as deployed.
    pub const DEPLOYING: [OperationKind; 2] = [OperationKind::Deploy, OperationKind::Update];

    pub fn is_infrastructure(self) -> bool {
        Self::INFRASTRUCTURE.contains(&self)
    }

    /// Whether the operation's end says what the cluster is: every
    /// infrastructure operation but a plan, which only answers what a
    /// configuration would change (so an interrupted plan needs no
    /// reconciling either).
    pub fn settles_cluster(self) -> bool {
        self.is_infrastructure() && self != OperationKind::Plan
    }

    /// The Terraform command an infrastructure operation runs on the
    /// cluster's module; `None` for the others (a TEST or RELEASE run
    /// drives its own Terraform runs, a cleanup removes a runner).
    ///
    /// Exhaustive on purpose: a new kind does not compile until it says
    /// what it runs (ARCHITECTURE.md, "Adding an operation kind").
    pub fn terraform_command(self) -> Option<TerraformCommand> {
        match self {
            OperationKind::Deploy | OperationKind::Update => Some(TerraformCommand::Apply),
            OperationKind::Destroy => Some(TerraformCommand::Destroy),
            OperationKind::Refresh | OperationKind::Plan => Some(TerraformCommand::Observe),
            OperationKind::Test | OperationKind::Release | OperationKind::Cleanup => None,
        }
    }
}

/// What one Terraform run does to a module's infrastructure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TerraformCommand {
    /// `apply`: create or update the infrastructure.
    Apply,
    /// `apply -destroy`.
    Destroy,
    /// `plan -detailed-exitcode` and `show -json`: what does the state
    /// hold, and does it match the configuration? Changes nothing.
    Observe,
}

impl TerraformCommand {
    /// The Terraform subcommand, as its logs and errors name it.
    pub fn name(self) -> &'static str {
        match self {
            TerraformCommand::Apply => "apply",
            TerraformCommand::Destroy => "destroy",
            TerraformCommand::Observe => "plan",
        }
    }
}

/// `'a', 'b', …`: values for an SQL `IN (…)`, built from the definitions
/// here (kinds, states) so the database and the rules never disagree.
pub fn sql_list<T: fmt::Display>(values: &[T]) -> String {
    values
        .iter()
        .map(|v| format!("'{v}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

text_enum!(
    /// Where an operation is in its life.
    OperationState {
        Queued = "queued",
        Running = "running",
        Succeeded = "succeeded",
        Failed = "failed",
        Cancelled = "cancelled",
        Interrupted = "interrupted",
    }
);

impl OperationState {
    /// States of an operation that is not over yet.
    pub const ACTIVE: [OperationState; 2] = [OperationState::Queued, OperationState::Running];

    pub fn is_terminal(self) -> bool {
        !Self::ACTIVE.contains(&self)
    }
}

text_enum!(
    /// Why an operation was started.
    Reason {
        User = "user",
        Schedule = "schedule",
        Budget = "budget",
        Capacity = "capacity",
        Recovery = "recovery",
        Drift = "drift",
    }
);

/// What a TEST, RELEASE or cleanup operation is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSpec {
    /// The project's version the run checks out.
    pub version: JobVersion,
    /// The run whose runner the operation uses: the run itself, or, for a
    /// cleanup, the interrupted run whose runner it removes.
    pub runner: OperationId,
}

/// One change to one cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Operation {
    pub id: OperationId,
    pub cluster: ClusterName,
    pub kind: OperationKind,
    pub reason: Reason,
    /// Who asked: the subject of a person or token owner, or one of
    /// Slipway's own (`slipway:scheduler`, `slipway:recovery`, …).
    pub requested_by: String,
    pub state: OperationState,
    /// The cluster configuration the operation applies (or destroys); for a
    /// job, the cluster's configuration when it was asked for.
    pub spec: ClusterSpec,
    /// For TEST, RELEASE and cleanup: the project's version and whose runner.
    pub job: Option<JobSpec>,
    pub error: Option<String>,
    pub created_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
}

impl Operation {
    /// Whose Terraform state the operation's runs use: its cluster's, or —
    /// for a TEST, RELEASE or cleanup — its runner's (`runner/<run>`;
    /// cluster names have no `/`).
    pub fn state_key(&self) -> String {
        match &self.job {
            Some(job) => format!("runner/{}", job.runner),
            None => self.cluster.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unambiguous_with_cluster_names() {
        let id = OperationId::from_uuid(uuid::Uuid::from_u128(0x0123_4567_89ab_cdef));
        assert!(OperationId::looks_like(id.as_str()));
        assert_eq!(OperationId::parse(id.as_str()).unwrap(), id);
        assert!(crate::ClusterName::parse(id.as_str()).is_err());
        assert!(OperationId::parse("op_xyz").is_err());
        assert!(OperationId::parse("dev-alice").is_err());
    }

    #[test]
    fn exactly_the_infrastructure_kinds_run_a_terraform_command_on_the_cluster() {
        for kind in OperationKind::ALL {
            assert_eq!(
                kind.terraform_command().is_some(),
                kind.is_infrastructure(),
                "{kind}: INFRASTRUCTURE and terraform_command disagree"
            );
        }
        for kind in [OperationKind::Refresh, OperationKind::Plan] {
            assert_eq!(
                kind.terraform_command(),
                Some(TerraformCommand::Observe),
                "a {kind} changes nothing"
            );
        }
        assert!(!OperationKind::Plan.settles_cluster());
        for kind in OperationKind::DEPLOYING {
            assert_eq!(kind.terraform_command(), Some(TerraformCommand::Apply));
        }
    }

    #[test]
    fn enums_round_trip_through_text() {
        for kind in OperationKind::ALL {
            assert_eq!(kind.as_str().parse::<OperationKind>().unwrap(), *kind);
        }
        for state in OperationState::ALL {
            assert_eq!(state.as_str().parse::<OperationState>().unwrap(), *state);
        }
        for reason in Reason::ALL {
            assert_eq!(reason.as_str().parse::<Reason>().unwrap(), *reason);
        }
    }
}
