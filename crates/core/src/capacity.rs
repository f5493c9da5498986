//! Capacity requests (DESIGN.md §3.8, generation 1): members ask for N nodes
//! until a time; a cluster's desired size is the sum over people of each
//! one's largest unexpired request, clamped to the organization's bounds.

use std::collections::BTreeMap;

use chrono::TimeDelta;
use serde::{Deserialize, Serialize};

use crate::{ClusterName, MAX_NODES_CEILING, Timestamp, ValidationError};

/// One person's request for nodes on a cluster, until a time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapacityRequest {
    /// The request's identifier, chosen by the caller.
    pub id: String,
    /// The cluster the nodes are for.
    pub cluster: ClusterName,
    /// Who asked: a namespaced user id such as `github:123`.
    pub subject: String,
    /// How many nodes the person wants.
    pub nodes: u32,
    /// The request no longer counts from this instant on.
    pub expires_at: Timestamp,
    /// When the request was made.
    pub created_at: Timestamp,
}

impl CapacityRequest {
    /// Still counts at `now`: it expires after `now`.
    pub fn is_active(&self, now: Timestamp) -> bool {
        self.expires_at > now
    }
}

/// How long a capacity request may live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CapacityPolicy {
    /// Generation 1: 15 minutes.
    #[serde(with = "crate::duration::time_delta")]
    pub min_ttl: TimeDelta,
    /// Generation 1: 12 hours (720 minutes).
    #[serde(with = "crate::duration::time_delta")]
    pub max_ttl: TimeDelta,
}

impl Default for CapacityPolicy {
    fn default() -> Self {
        Self {
            min_ttl: TimeDelta::minutes(15),
            max_ttl: TimeDelta::hours(12),
        }
    }
}

/// Checks a new request: between 0 and [`MAX_NODES_CEILING`] nodes, living
/// between the policy's minimum and maximum time. Errors name the field,
/// `nodes` or `ttl`.
pub fn check_request(
    nodes: u32,
    ttl: TimeDelta,
    policy: &CapacityPolicy,
) -> Result<(), ValidationError> {
    if nodes > MAX_NODES_CEILING {
        return Err(ValidationError::new(
            "nodes",
            format!("must be between 0 and {MAX_NODES_CEILING} (got {nodes})"),
        ));
    }
    if ttl < policy.min_ttl || ttl > policy.max_ttl {
        let human = |d: TimeDelta| crate::duration::format_duration(d.to_std().unwrap_or_default());
        return Err(ValidationError::new(
            "ttl",
            format!(
                "a capacity request must last between {} and {} (got {})",
                human(policy.min_ttl),
                human(policy.max_ttl),
                if ttl < TimeDelta::zero() {
                    format!("-{}", human(-ttl))
                } else {
                    human(ttl)
                }
            ),
        ));
    }
    Ok(())
}

/// The size the requests ask for at `now`: the sum over people of each
/// one's largest unexpired request, clamped to `[min_nodes, max_nodes]`
/// (when the bounds are inverted, the maximum wins). `None` when no
/// unexpired request remains.
pub fn desired_size(
    requests: &[CapacityRequest],
    now: Timestamp,
    min_nodes: u32,
    max_nodes: u32,
) -> Option<u32> {
    let mut largest: BTreeMap<&str, u32> = BTreeMap::new();
    for request in requests.iter().filter(|r| r.is_active(now)) {
        let nodes = largest.entry(request.subject.as_str()).or_default();
        *nodes = (*nodes).max(request.nodes);
    }
    if largest.is_empty() {
        return None;
    }
    let total: u64 = largest.values().map(|n| u64::from(*n)).sum();
    let clamped = total.max(u64::from(min_nodes)).min(u64::from(max_nodes));
    Some(u32::try_from(clamped).unwrap_or(max_nodes))
}

/// Whether a new request is the same as one already held: same person,
/// cluster, size and expiry. Generation 1 answered such a request
/// `REDUNDANT` instead of queueing it.
pub fn is_redundant(
    existing: &[CapacityRequest],
    subject: &str,
    cluster: &ClusterName,
    nodes: u32,
    expires_at: Timestamp,
) -> bool {
    existing.iter().any(|r| {
        r.subject == subject
            && &r.cluster == cluster
            && r.nodes == nodes
            && r.expires_at == expires_at
    })
}

/// When the desired size must be computed again next: the earliest expiry
/// after `now`.
pub fn next_expiry(requests: &[CapacityRequest], now: Timestamp) -> Option<Timestamp> {
    requests
        .iter()
        .filter(|r| r.is_active(now))
        .map(|r| r.expires_at)
        .min()
}

/// What to do to a cluster after its desired size was computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "action", content = "nodes")]
pub enum CapacityOutcome {
    /// Deploy it with this many nodes.
    Deploy(u32),
    /// Change its size to this many nodes.
    Resize(u32),
    /// No request remains and the organization asks for idle clusters to be
    /// destroyed.
    Destroy,
    /// No request remains: back to the organization's minimum.
    ScaleToMinimum(u32),
    /// It already is as it should be.
    Nothing,
}

/// The decision: `desired` is [`desired_size`]'s answer, `deployed` the
/// cluster's node count (`None`: not deployed).
///
/// With requests: deploy a cluster that is not deployed (unless zero nodes
/// are asked for), resize one of another size. Without: destroy a deployed
/// cluster if `destroy_when_idle` (the organization asks for it, DESIGN.md
/// §3.8), else scale it to `min_nodes`; a cluster that is not deployed stays
/// so.
pub fn decide_capacity(
    desired: Option<u32>,
    deployed: Option<u32>,
    min_nodes: u32,
    destroy_when_idle: bool,
) -> CapacityOutcome {
    match (desired, deployed) {
        (Some(0), None) | (None, None) => CapacityOutcome::Nothing,
        (Some(nodes), None) => CapacityOutcome::Deploy(nodes),
        (Some(nodes), Some(current)) if nodes == current => CapacityOutcome::Nothing,
        (Some(nodes), Some(_)) => CapacityOutcome::Resize(nodes),
        (None, Some(_)) if destroy_when_idle => CapacityOutcome::Destroy,
        (None, Some(current)) if current == min_nodes => CapacityOutcome::Nothing,
        (None, Some(_)) => CapacityOutcome::ScaleToMinimum(min_nodes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use proptest::prelude::*;

    fn now() -> Timestamp {
        Utc.with_ymd_and_hms(2026, 5, 10, 12, 0, 0).unwrap()
    }

    fn cluster() -> ClusterName {
        ClusterName::parse("science").unwrap()
    }

    fn request(subject: &str, nodes: u32, minutes: i64) -> CapacityRequest {
        CapacityRequest {
            id: format!("{subject}-{nodes}-{minutes}"),
            cluster: cluster(),
            subject: subject.into(),
            nodes,
            expires_at: now() + TimeDelta::minutes(minutes),
            created_at: now() - TimeDelta::minutes(1),
        }
    }

    #[test]
    fn requests_must_be_sized_and_timed_within_bounds() {
        let policy = CapacityPolicy::default();
        assert!(check_request(0, TimeDelta::minutes(15), &policy).is_ok());
        assert!(check_request(1000, TimeDelta::hours(12), &policy).is_ok());
        assert_eq!(
            check_request(1001, TimeDelta::hours(1), &policy)
                .unwrap_err()
                .field,
            "nodes"
        );
        let short = check_request(3, TimeDelta::minutes(14), &policy).unwrap_err();
        assert_eq!(short.field, "ttl");
        assert_eq!(
            short.rule,
            "a capacity request must last between 15m and 12h (got 14m)"
        );
        assert_eq!(
            check_request(3, TimeDelta::minutes(721), &policy)
                .unwrap_err()
                .field,
            "ttl"
        );
        assert!(
            check_request(3, TimeDelta::minutes(-5), &policy)
                .unwrap_err()
                .rule
                .contains("-5m")
        );
        let read: CapacityPolicy = toml::from_str("max_ttl = \"2h\"").unwrap();
        assert_eq!(
            read,
            CapacityPolicy {
                max_ttl: TimeDelta::hours(2),
                ..Default::default()
            }
        );
    }

    #[test]
    fn the_desired_size_sums_each_persons_largest_request() {
        let requests = [
            request("github:1", 3, 60),
            request("github:1", 5, 30),
            request("github:2", 2, 90),
            request("github:3", 9, 0),
        ];
        assert_eq!(desired_size(&requests, now(), 0, 10), Some(7));
        assert_eq!(desired_size(&requests, now(), 0, 6), Some(6));
        assert_eq!(desired_size(&requests, now(), 8, 10), Some(8));
        assert_eq!(desired_size(&requests, now(), 12, 10), Some(10));
        // after 30 minutes github:1's larger request has expired
        assert_eq!(
            desired_size(&requests, now() + TimeDelta::minutes(30), 0, 10),
            Some(5)
        );
        assert_eq!(
            desired_size(&requests, now() + TimeDelta::minutes(90), 0, 10),
            None
        );
        assert_eq!(
            next_expiry(&requests, now()),
            Some(now() + TimeDelta::minutes(30))
        );
        assert_eq!(
            next_expiry(&requests, now() + TimeDelta::minutes(30)),
            Some(now() + TimeDelta::minutes(60))
        );
        assert_eq!(next_expiry(&requests, now() + TimeDelta::minutes(90)), None);
    }

    #[test]
    fn an_identical_request_is_redundant() {
        let held = [request("github:1", 3, 60)];
        let at = now() + TimeDelta::minutes(60);
        assert!(is_redundant(&held, "github:1", &cluster(), 3, at));
        assert!(!is_redundant(&held, "github:2", &cluster(), 3, at));
        assert!(!is_redundant(&held, "github:1", &cluster(), 4, at));
        assert!(!is_redundant(
            &held,
            "github:1",
            &cluster(),
            3,
            at + TimeDelta::seconds(1)
        ));
        let other = ClusterName::parse("other").unwrap();
        assert!(!is_redundant(&held, "github:1", &other, 3, at));
    }

    #[test]
    fn the_decision_follows_the_desired_size() {
        use CapacityOutcome::*;
        assert_eq!(decide_capacity(Some(4), None, 0, false), Deploy(4));
        assert_eq!(decide_capacity(Some(0), None, 0, false), Nothing);
        assert_eq!(decide_capacity(Some(4), Some(2), 0, false), Resize(4));
        assert_eq!(decide_capacity(Some(4), Some(4), 0, true), Nothing);
        assert_eq!(decide_capacity(None, Some(4), 0, true), Destroy);
        assert_eq!(decide_capacity(None, Some(4), 1, false), ScaleToMinimum(1));
        assert_eq!(decide_capacity(None, Some(1), 1, false), Nothing);
        assert_eq!(decide_capacity(None, None, 1, true), Nothing);
        assert_eq!(
            serde_json::to_value(Resize(3)).unwrap(),
            serde_json::json!({"action": "resize", "nodes": 3})
        );
        assert_eq!(
            serde_json::to_value(Destroy).unwrap(),
            serde_json::json!({"action": "destroy"})
        );
    }

    fn arbitrary_requests() -> impl Strategy<Value = Vec<CapacityRequest>> {
        proptest::collection::vec((0usize..4, 0u32..=1000, -60i64..240), 0..12).prop_map(|items| {
            items
                .into_iter()
                .map(|(who, nodes, minutes)| request(&format!("github:{who}"), nodes, minutes))
                .collect()
        })
    }

    proptest! {
        #[test]
        fn the_desired_size_is_the_clamped_sum_of_per_person_maxima(
            requests in arbitrary_requests(), min in 0u32..50, extra in 0u32..5000,
        ) {
            let max = min + extra;
            let mut largest: BTreeMap<String, u32> = BTreeMap::new();
            for r in requests.iter().filter(|r| r.expires_at > now()) {
                let entry = largest.entry(r.subject.clone()).or_default();
                *entry = (*entry).max(r.nodes);
            }
            let expected = (!largest.is_empty())
                .then(|| largest.values().sum::<u32>().clamp(min, max));
            prop_assert_eq!(desired_size(&requests, now(), min, max), expected);
        }

        #[test]
        fn expired_requests_never_count(requests in arbitrary_requests(), later in 0i64..300) {
            let at = now() + TimeDelta::minutes(later);
            let active: Vec<CapacityRequest> = requests.iter().filter(|r| r.expires_at > at).cloned().collect();
            prop_assert_eq!(desired_size(&requests, at, 0, u32::MAX), desired_size(&active, at, 0, u32::MAX));
            if let Some(next) = next_expiry(&requests, at) {
                prop_assert!(next > at);
                prop_assert!(requests.iter().all(|r| r.expires_at <= at || r.expires_at >= next));
            }
        }

        #[test]
        fn adding_a_request_never_lowers_the_desired_size(
            requests in arbitrary_requests(), who in 0usize..5, nodes in 0u32..=1000, minutes in 1i64..240,
        ) {
            let before = desired_size(&requests, now(), 0, u32::MAX).unwrap_or(0);
            let mut more = requests.clone();
            more.push(request(&format!("github:{who}"), nodes, minutes));
            let after = desired_size(&more, now(), 0, u32::MAX);
            prop_assert!(after.is_some_and(|a| a >= before));
        }
    }
}
