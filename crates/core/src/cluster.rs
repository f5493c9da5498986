//! Clusters and their states (docs/domain.md §2).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{BlueprintName, ClusterName, OperationId, OrgName, Timestamp};

/// User variables passed to a blueprint's module, by name.
pub type Variables = BTreeMap<String, serde_json::Value>;

/// `variables` changed by `patch`, as a JSON merge patch (RFC 7386) does:
/// a variable given a value takes it, one given `null` goes back to its
/// default, one not named keeps its value (so a sensitive value no one
/// can read back stays as it is).
pub fn patch_variables(variables: &Variables, patch: &Variables) -> Variables {
    let mut patched = variables.clone();
    for (name, value) in patch {
        if value.is_null() {
            patched.remove(name);
        } else {
            patched.insert(name.clone(), value.clone());
        }
    }
    patched
}

/// Where a cluster is in its life.
///
/// `absent` → `deploying` → `running` | `failed`; `running` → `updating` →
/// `running` | `failed`; `running` | `failed` → `destroying` → `absent` |
/// `failed`. A `failed` cluster keeps its error; deploy or destroy may be
/// retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ClusterState {
    Absent,
    Deploying,
    Running,
    Updating,
    Destroying,
    Failed,
}

impl ClusterState {
    pub const ALL: [ClusterState; 6] = [
        ClusterState::Absent,
        ClusterState::Deploying,
        ClusterState::Running,
        ClusterState::Updating,
        ClusterState::Destroying,
        ClusterState::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ClusterState::Absent => "absent",
            ClusterState::Deploying => "deploying",
            ClusterState::Running => "running",
            ClusterState::Updating => "updating",
            ClusterState::Destroying => "destroying",
            ClusterState::Failed => "failed",
        }
    }

    /// Whether something of the cluster may exist: every state but `absent`.
    /// (Whether it *counts as deployed* — for limits and costs — also looks
    /// at its operation in flight: [`crate::rules::ClusterSnapshot::counts_as_deployed`].)
    pub fn may_exist(self) -> bool {
        self != ClusterState::Absent
    }

    /// An operation is changing the cluster's infrastructure right now.
    pub fn is_transitional(self) -> bool {
        match self {
            ClusterState::Deploying | ClusterState::Updating | ClusterState::Destroying => true,
            ClusterState::Absent | ClusterState::Running | ClusterState::Failed => false,
        }
    }

    /// Whether the state machine allows going from `self` to `to`.
    ///
    /// A transitional state may also be settled by recovery, which looks at
    /// Terraform's state after an interruption and may find the cluster
    /// running, absent, or half-built (`failed`).
    pub fn can_become(self, to: ClusterState) -> bool {
        use ClusterState::*;
        // Each state lists where it may go, so a new state must say it.
        let allowed: &[ClusterState] = match self {
            Absent => &[Deploying],
            Deploying | Updating | Destroying => &[Absent, Running, Failed],
            Running => &[Updating, Destroying],
            Failed => &[Deploying, Destroying],
        };
        allowed.contains(&to)
    }
}

impl fmt::Display for ClusterState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ClusterState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ClusterState::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| format!("unknown cluster state {s:?}"))
    }
}

/// What a deployment of the cluster consists of: the blueprint version, the
/// size and the user variables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterSpec {
    pub blueprint: BlueprintName,
    /// A concrete blueprint version (never the `latest` alias).
    pub version: String,
    pub nodes: u32,
    #[serde(default)]
    pub variables: Variables,
}

/// A named, organization-owned deployment of a blueprint version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cluster {
    pub name: ClusterName,
    pub organization: OrgName,
    pub public: bool,
    /// Never destroyed nor scheduled for destroy — by a person, a schedule,
    /// capacity or the budget — unless an administrator forces it
    /// (docs/domain.md §4).
    #[serde(default)]
    pub protected: bool,
    /// What the last drift check (a refresh: Terraform's plan of the
    /// deployed configuration against what exists) found differing — the
    /// resource instances a deploy would change, or `outputs` — while the
    /// cluster kept running: changed outside Slipway. Empty: nothing
    /// (docs/domain.md §4). A deploy of the same configuration repairs it.
    #[serde(default)]
    pub drift: Vec<String>,
    /// When a refresh or a successful deploy last found what exists.
    #[serde(default)]
    pub drift_checked_at: Option<Timestamp>,
    /// What the next deploy applies; the last request's target.
    pub spec: ClusterSpec,
    /// What the last successful deploy or update applied, while deployed.
    pub deployed: Option<ClusterSpec>,
    pub state: ClusterState,
    /// Terraform outputs of the last successful apply, sensitive ones masked.
    pub outputs: serde_json::Map<String, serde_json::Value>,
    pub error: Option<String>,
    pub last_operation: Option<OperationId>,
    pub created_by: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Cluster {
    /// What the cluster is asked to be, in one comparable value: its
    /// target configuration (sensitive variables as sealed) and its
    /// visibility and protection, as canonical JSON. Equal: asked the same.
    pub fn asked(&self) -> String {
        serde_json::json!({
            "spec": self.spec,
            "public": self.public,
            "protected": self.protected,
        })
        .to_string()
    }

    /// Whether it runs what it is asked, as last found: running, its target
    /// deployed, no drift. (Whether an operation is in flight is its
    /// snapshot's to say.)
    pub fn runs_as_asked(&self) -> bool {
        self.state == ClusterState::Running
            && self.deployed.as_ref() == Some(&self.spec)
            && self.drift.is_empty()
    }

    /// The cluster's front door: the `endpoint` output, when it is a string.
    pub fn endpoint(&self) -> Option<&str> {
        self.outputs.get("endpoint").and_then(|v| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_patch_sets_named_variables_resets_nulls_and_keeps_the_rest() {
        let vars = |pairs: &[(&str, serde_json::Value)]| -> Variables {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect()
        };
        let current = vars(&[
            ("password", serde_json::json!({"sealed": "abc"})),
            ("size", serde_json::json!("small")),
            ("count", serde_json::json!(2)),
        ]);
        let patched = patch_variables(
            &current,
            &vars(&[
                ("size", serde_json::json!("large")),
                ("count", serde_json::Value::Null),
                ("region", serde_json::json!("eu")),
            ]),
        );
        assert_eq!(
            patched,
            vars(&[
                ("password", serde_json::json!({"sealed": "abc"})),
                ("size", serde_json::json!("large")),
                ("region", serde_json::json!("eu")),
            ])
        );
        assert_eq!(patch_variables(&current, &Variables::new()), current);
    }

    #[test]
    fn states_round_trip_through_text() {
        for state in ClusterState::ALL {
            assert_eq!(state.as_str().parse::<ClusterState>().unwrap(), state);
            assert_eq!(
                serde_json::to_value(state).unwrap(),
                serde_json::json!(state.as_str())
            );
        }
        assert!("gone".parse::<ClusterState>().is_err());
    }

    #[test]
    fn the_documented_transitions_are_allowed_and_no_others() {
        use ClusterState::*;
        let allowed = [
            (Absent, Deploying),
            (Deploying, Running),
            (Deploying, Failed),
            (Running, Updating),
            (Updating, Running),
            (Updating, Failed),
            (Running, Destroying),
            (Failed, Destroying),
            (Failed, Deploying),
            (Destroying, Absent),
            (Destroying, Failed),
            // settled by recovery after an interruption
            (Deploying, Absent),
            (Updating, Absent),
            (Destroying, Running),
        ];
        for from in ClusterState::ALL {
            for to in ClusterState::ALL {
                assert_eq!(
                    from.can_become(to),
                    allowed.contains(&(from, to)),
                    "{from} -> {to}"
                );
            }
        }
    }
}
