//! How an operation moves its cluster through the state machine: the state
//! while it runs, and what its end leaves behind.

use crate::event::EventLevel;
use crate::{ClusterSpec, ClusterState, OperationKind, OperationState};

/// The cluster's state while an operation of `kind` runs on it.
pub fn state_while_running(kind: OperationKind, current: ClusterState) -> ClusterState {
    match kind {
        OperationKind::Deploy => ClusterState::Deploying,
        OperationKind::Update => ClusterState::Updating,
        OperationKind::Destroy => ClusterState::Destroying,
        OperationKind::Refresh
        | OperationKind::Plan
        | OperationKind::Test
        | OperationKind::Release
        | OperationKind::Cleanup => current,
    }
}

/// How an operation ended, as far as its cluster is concerned.
#[derive(Debug, Clone, PartialEq)]
pub enum Ending {
    /// Terraform finished the operation.
    Succeeded {
        outputs: serde_json::Map<String, serde_json::Value>,
    },
    /// Terraform failed, was cancelled, ran out of time, or the worker running
    /// it was lost.
    Stopped {
        state: OperationState,
        error: String,
    },
    /// A refresh looked at Terraform's state: how many resource instances it
    /// holds, and whether they match the configuration (an empty plan).
    Observed {
        resources: usize,
        converged: bool,
        /// What differs when not converged: the resource instances the plan
        /// would change (none when only outputs differ).
        differing: Vec<String>,
        outputs: serde_json::Map<String, serde_json::Value>,
    },
}

/// What a drift names when only a module's outputs differ.
pub const OUTPUTS_DIFFER: &str = "outputs";

impl Ending {
    /// The operation's own final state.
    pub fn operation_state(&self) -> OperationState {
        match self {
            Ending::Succeeded { .. } | Ending::Observed { .. } => OperationState::Succeeded,
            Ending::Stopped { state, .. } => *state,
        }
    }

    /// How loudly the operation's last event reports this ending.
    pub fn event_level(&self) -> EventLevel {
        match self.operation_state() {
            OperationState::Succeeded => EventLevel::Info,
            OperationState::Cancelled => EventLevel::Warn,
            OperationState::Failed | OperationState::Interrupted => EventLevel::Error,
            // Not an ending: an operation that ended is in neither.
            OperationState::Queued | OperationState::Running => EventLevel::Error,
        }
    }
}

/// What an operation's end does to its cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct Settlement {
    pub state: ClusterState,
    /// `Some(x)`: the deployed configuration becomes `x` (`None` inside: nothing deployed).
    pub deployed: Option<Option<ClusterSpec>>,
    /// `Some(x)`: the outputs become `x`.
    pub outputs: Option<serde_json::Map<String, serde_json::Value>>,
    /// The cluster's error afterwards (cleared on success).
    pub error: Option<String>,
    /// Every scheduled destroy of the cluster goes (nothing is left to destroy).
    pub remove_schedules: bool,
    /// `Some(x)`: what exists was found and differs from the deployed
    /// configuration in `x` (empty: in nothing); the drift check is dated now.
    pub drift: Option<Vec<String>>,
}

/// Settles the cluster after an infrastructure operation of `kind`, which
/// applied `spec`, ended as `ending`; `None` for plans, test and release
/// runs, which leave their cluster as it is. `before` is the cluster's state while it ran.
///
/// A refresh tells the truth without inventing a failure: nothing left is
/// `absent`, an empty plan is `running`; a plan that is not empty keeps a
/// `running` cluster running (what differs is the refresh's finding) and
/// leaves `failed` only a cluster that was not running — one a deploy,
/// update or destroy left half done.
pub fn settle(
    kind: OperationKind,
    before: ClusterState,
    spec: &ClusterSpec,
    ending: &Ending,
) -> Option<Settlement> {
    if !kind.settles_cluster() {
        return None;
    }
    let unchanged = Settlement {
        state: before,
        deployed: None,
        outputs: None,
        error: None,
        remove_schedules: false,
        drift: None,
    };
    Some(match (kind, ending) {
        (OperationKind::Destroy, Ending::Succeeded { .. }) => Settlement {
            state: ClusterState::Absent,
            deployed: Some(None),
            outputs: Some(Default::default()),
            error: None,
            remove_schedules: true,
            drift: Some(Vec::new()),
        },
        // An apply makes what exists match the configuration.
        (_, Ending::Succeeded { outputs }) => Settlement {
            state: ClusterState::Running,
            deployed: Some(Some(spec.clone())),
            outputs: Some(outputs.clone()),
            error: None,
            remove_schedules: false,
            drift: Some(Vec::new()),
        },
        (_, Ending::Stopped { state, error }) => Settlement {
            state: if kind == OperationKind::Refresh && !before.is_transitional() {
                before
            } else {
                ClusterState::Failed
            },
            error: Some(format!("{kind} {state}: {error}")),
            ..unchanged
        },
        (_, Ending::Observed { resources: 0, .. }) => Settlement {
            state: ClusterState::Absent,
            deployed: Some(None),
            outputs: Some(Default::default()),
            error: None,
            remove_schedules: true,
            drift: Some(Vec::new()),
        },
        (
            _,
            Ending::Observed {
                converged: true,
                outputs,
                ..
            },
        ) => Settlement {
            state: ClusterState::Running,
            deployed: Some(Some(spec.clone())),
            outputs: Some(outputs.clone()),
            error: None,
            remove_schedules: false,
            drift: Some(Vec::new()),
        },
        // A cluster that was running keeps running: its infrastructure is
        // there and answers, and what differs from the configuration (e.g. a
        // change made outside Slipway) is the refresh's finding, recorded in
        // its result and log, not a failure. Only a cluster an operation left
        // in between (or failed) stays failed, until a deploy or destroy.
        (
            _,
            Ending::Observed {
                converged: false,
                differing,
                outputs,
                ..
            },
        ) if before == ClusterState::Running => Settlement {
            state: ClusterState::Running,
            deployed: None,
            outputs: Some(outputs.clone()),
            error: None,
            remove_schedules: false,
            drift: Some(if differing.is_empty() {
                vec![OUTPUTS_DIFFER.to_owned()]
            } else {
                differing.clone()
            }),
        },
        (_, Ending::Observed { resources, .. }) => Settlement {
            state: ClusterState::Failed,
            error: Some(format!(
                "Terraform's state holds {resources} resource instance(s) that differ from the configuration; deploy again to apply it, or destroy"
            )),
            ..unchanged
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BlueprintName;
    use proptest::prelude::*;

    fn spec() -> ClusterSpec {
        ClusterSpec {
            blueprint: BlueprintName::parse("local").unwrap(),
            version: "1".into(),
            nodes: 2,
            variables: Default::default(),
        }
    }

    fn endings() -> Vec<Ending> {
        vec![
            Ending::Succeeded {
                outputs: Default::default(),
            },
            Ending::Stopped {
                state: OperationState::Failed,
                error: "boom".into(),
            },
            Ending::Stopped {
                state: OperationState::Interrupted,
                error: "lost".into(),
            },
            Ending::Stopped {
                state: OperationState::Cancelled,
                error: "cancelled".into(),
            },
            Ending::Observed {
                resources: 0,
                converged: false,
                differing: Vec::new(),
                outputs: Default::default(),
            },
            Ending::Observed {
                resources: 3,
                converged: true,
                differing: Vec::new(),
                outputs: Default::default(),
            },
            Ending::Observed {
                resources: 2,
                converged: false,
                differing: Vec::new(),
                outputs: Default::default(),
            },
        ]
    }

    #[test]
    fn a_successful_destroy_leaves_nothing_and_no_schedule() {
        let s = settle(
            OperationKind::Destroy,
            ClusterState::Destroying,
            &spec(),
            &endings()[0],
        )
        .unwrap();
        assert_eq!(s.state, ClusterState::Absent);
        assert!(s.remove_schedules);
        assert_eq!(s.deployed, Some(None));
    }

    #[test]
    fn a_failed_operation_keeps_its_error_and_schedule() {
        for kind in [
            OperationKind::Deploy,
            OperationKind::Update,
            OperationKind::Destroy,
        ] {
            let before = state_while_running(kind, ClusterState::Running);
            let s = settle(kind, before, &spec(), &endings()[1]).unwrap();
            assert_eq!(s.state, ClusterState::Failed);
            assert!(s.error.unwrap().contains("boom"));
            assert!(!s.remove_schedules);
        }
    }

    #[test]
    fn a_refresh_tells_the_truth_about_terraform_state() {
        let settle_refresh = |e: &Ending| {
            settle(OperationKind::Refresh, ClusterState::Deploying, &spec(), e)
                .unwrap()
                .state
        };
        let e = endings();
        assert_eq!(settle_refresh(&e[4]), ClusterState::Absent);
        assert_eq!(settle_refresh(&e[5]), ClusterState::Running);
        assert_eq!(settle_refresh(&e[6]), ClusterState::Failed);
    }

    #[test]
    fn a_refresh_of_a_running_cluster_that_differs_keeps_it_running() {
        let outputs: serde_json::Map<_, _> =
            [("endpoint".to_owned(), serde_json::json!("http://gw"))]
                .into_iter()
                .collect();
        let drifted = Ending::Observed {
            resources: 4,
            converged: false,
            differing: Vec::new(),
            outputs: outputs.clone(),
        };
        let s = settle(
            OperationKind::Refresh,
            ClusterState::Running,
            &spec(),
            &drifted,
        )
        .unwrap();
        assert_eq!(s.state, ClusterState::Running);
        assert_eq!(s.error, None);
        assert_eq!(s.deployed, None, "what was deployed stays as it was");
        assert_eq!(s.outputs, Some(outputs));
        assert!(!s.remove_schedules);
        assert_eq!(
            s.drift,
            Some(vec![OUTPUTS_DIFFER.to_owned()]),
            "drifted in its outputs"
        );
        let node = Ending::Observed {
            resources: 4,
            converged: false,
            differing: vec!["terraform_data.node[1]".into()],
            outputs: Default::default(),
        };
        let s = settle(
            OperationKind::Refresh,
            ClusterState::Running,
            &spec(),
            &node,
        )
        .unwrap();
        assert_eq!(s.drift, Some(vec!["terraform_data.node[1]".to_owned()]));
    }

    #[test]
    fn a_drift_is_cleared_by_what_finds_the_infrastructure_as_configured() {
        let e = endings();
        let succeeded = &e[0];
        for kind in [
            OperationKind::Deploy,
            OperationKind::Update,
            OperationKind::Destroy,
        ] {
            let s = settle(kind, ClusterState::Updating, &spec(), succeeded).unwrap();
            assert_eq!(s.drift, Some(Vec::new()), "{kind}");
        }
        let converged = &e[5];
        let s = settle(
            OperationKind::Refresh,
            ClusterState::Running,
            &spec(),
            converged,
        )
        .unwrap();
        assert_eq!(s.drift, Some(Vec::new()));
        for stopped in &e[1..4] {
            let s = settle(
                OperationKind::Update,
                ClusterState::Updating,
                &spec(),
                stopped,
            )
            .unwrap();
            assert_eq!(s.drift, None, "a failed apply found nothing out");
        }
    }

    #[test]
    fn a_refresh_leaves_failed_only_what_was_not_running_and_blames_no_interruption() {
        let drifted = Ending::Observed {
            resources: 2,
            converged: false,
            differing: Vec::new(),
            outputs: Default::default(),
        };
        for before in [
            ClusterState::Failed,
            ClusterState::Deploying,
            ClusterState::Updating,
            ClusterState::Destroying,
        ] {
            let s = settle(OperationKind::Refresh, before, &spec(), &drifted).unwrap();
            assert_eq!(s.state, ClusterState::Failed, "{before}");
            let error = s.error.unwrap();
            assert!(error.contains("2 resource instance(s)"), "{error}");
            assert!(!error.contains("interrupt"), "{error}");
        }
    }

    proptest! {
        /// A refresh never fails a cluster that was running: whatever it
        /// finds or however it ends, the cluster is running afterwards —
        /// or absent, when nothing of it exists any more.
        #[test]
        fn a_refresh_never_fails_a_running_cluster(
            ending in proptest::sample::select(endings()),
        ) {
            let after = settle(OperationKind::Refresh, ClusterState::Running, &spec(), &ending)
                .unwrap();
            match ending {
                Ending::Observed { resources: 0, .. } => prop_assert_eq!(after.state, ClusterState::Absent),
                Ending::Observed { .. } | Ending::Succeeded { .. } | Ending::Stopped { .. } => {
                    prop_assert_eq!(after.state, ClusterState::Running)
                }
            }
        }

        /// Only an interrupted or failed change — a deploy, update or destroy
        /// — or a refresh of a cluster that was not running ends `failed`.
        #[test]
        fn only_a_change_or_what_it_left_ends_failed(
            kind in proptest::sample::select(OperationKind::ALL.to_vec()),
            from in proptest::sample::select(ClusterState::ALL.to_vec()),
            ending in proptest::sample::select(endings()),
        ) {
            prop_assume!(!matches!(ending, Ending::Observed { .. }) || kind == OperationKind::Refresh);
            let during = state_while_running(kind, from);
            if let Some(after) = settle(kind, during, &spec(), &ending)
                && after.state == ClusterState::Failed
            {
                prop_assert!(
                    matches!(kind, OperationKind::Deploy | OperationKind::Update | OperationKind::Destroy)
                        || during != ClusterState::Running,
                    "{kind} from {during} ended failed"
                );
            }
        }

        /// Every start and every ending follows the state machine.
        #[test]
        fn operations_follow_the_state_machine(
            kind in proptest::sample::select(OperationKind::ALL.to_vec()),
            from in proptest::sample::select(ClusterState::ALL.to_vec()),
            ending in proptest::sample::select(endings()),
        ) {
            // only starts the rules allow
            let allowed_start = match kind {
                OperationKind::Deploy => matches!(from, ClusterState::Absent | ClusterState::Failed),
                OperationKind::Update => from == ClusterState::Running,
                OperationKind::Destroy => matches!(from, ClusterState::Running | ClusterState::Failed),
                // a refresh settles a cluster an interruption left in between
                OperationKind::Refresh => from.is_transitional(),
                OperationKind::Plan
                | OperationKind::Test
                | OperationKind::Release
                | OperationKind::Cleanup => true,
            };
            prop_assume!(allowed_start);
            let during = state_while_running(kind, from);
            prop_assert!(during == from || from.can_become(during), "{from} -> {during}");
            // an observation only comes from a refresh or a plan
            prop_assume!(
                !matches!(ending, Ending::Observed { .. })
                    || matches!(kind, OperationKind::Refresh | OperationKind::Plan)
            );
            match settle(kind, during, &spec(), &ending) {
                Some(after) => {
                    let after = after.state;
                    prop_assert!(after == during || during.can_become(after), "{during} -> {after}");
                }
                None => prop_assert!(!kind.settles_cluster(), "{kind} settles its cluster"),
            }
        }
    }
}
