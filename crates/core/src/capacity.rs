//! Capacity requests (docs/domain.md §8, generation 1): members ask for N nodes
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
    /// What to call who asked (their login when they asked), for people.
    pub name: String,
    /// How many nodes the person wants.
    pub nodes: u32,
    /// The request no longer counts from this instant on.
    pub expires_at: Timestamp,
    /// When the request was made.
    pub created_at: Timestamp,
    /// Why the cluster does not follow it yet; `None` once it does.
    pub waiting: Option<CapacityWait>,
}

/// Why a capacity request is not honoured yet: the change it asks for was
/// refused by a rule (the budget, a limit, the five-minute rule) or waits
/// for an operation in flight. The keeper tries again when that may have
/// changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapacityWait {
    /// A refusal's code (`over_budget`, `limit_exceeded`, …), or
    /// `operation_in_progress`, or `pending` before it was looked at.
    pub code: String,
    /// What is in the way, for people.
    pub message: String,
    /// Since when it waits for this reason.
    pub since: Timestamp,
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

/// Checks a new request and answers when it ends: `nodes` between 0 and
/// [`MAX_NODES_CEILING`], for `ttl` or until `until` (exactly one), lasting
/// between the policy's minimum and maximum. How long it lasts is checked as
/// asked, before the end is rounded up to a whole second (so a repeated
/// request is recognized as the same one, and the documented minimum is
/// accepted); a duration beyond any representable time is refused, never an
/// overflow. Errors name the field: `nodes`, `ttl` or `until`.
pub fn request_expiry(
    nodes: u32,
    ttl: Option<std::time::Duration>,
    until: Option<Timestamp>,
    now: Timestamp,
    policy: &CapacityPolicy,
) -> Result<Timestamp, ValidationError> {
    if nodes > MAX_NODES_CEILING {
        return Err(ValidationError::new(
            "nodes",
            format!("must be between 0 and {MAX_NODES_CEILING} (got {nodes})"),
        ));
    }
    let (field, lasts, ends) = match (ttl, until) {
        (Some(ttl), None) => (
            "ttl",
            TimeDelta::from_std(ttl).unwrap_or(TimeDelta::MAX),
            crate::duration::after("ttl", now, ttl).ok(),
        ),
        (None, Some(until)) => ("until", until - now, Some(until)),
        _ => {
            return Err(ValidationError::new(
                "ttl",
                "give exactly one of ttl and until",
            ));
        }
    };
    if lasts < policy.min_ttl || lasts > policy.max_ttl {
        let human = |d: TimeDelta| crate::duration::format_duration(d.to_std().unwrap_or_default());
        return Err(ValidationError::new(
            field,
            format!(
                "a capacity request must last between {} and {} (got {})",
                human(policy.min_ttl),
                human(policy.max_ttl),
                if lasts < TimeDelta::zero() {
                    format!("-{}", human(-lasts))
                } else {
                    human(lasts)
                }
            ),
        ));
    }
    ends.map(ceil_to_second)
        .ok_or_else(|| ValidationError::new(field, "is too long"))
}

/// `t` rounded up to a whole second.
fn ceil_to_second(t: Timestamp) -> Timestamp {
    let whole = t.timestamp();
    let up = if t.timestamp_subsec_nanos() > 0 {
        whole.saturating_add(1)
    } else {
        whole
    };
    chrono::DateTime::from_timestamp(up, 0).unwrap_or(t)
}

/// The size the requests ask for at `now`: the sum over people of each
/// one's largest unexpired request. `None` when no unexpired request
/// remains.
pub fn requested_size(requests: &[CapacityRequest], now: Timestamp) -> Option<u32> {
    let mut largest: BTreeMap<&str, u32> = BTreeMap::new();
    for request in requests.iter().filter(|r| r.is_active(now)) {
        let nodes = largest.entry(request.subject.as_str()).or_default();
        *nodes = (*nodes).max(request.nodes);
    }
    (!largest.is_empty()).then(|| {
        let total: u64 = largest.values().map(|n| u64::from(*n)).sum();
        u32::try_from(total).unwrap_or(u32::MAX)
    })
}

/// The size the cluster follows at `now`: [`requested_size`] clamped to
/// `[min_nodes, max_nodes]` (when the bounds are inverted, the maximum
/// wins). `None` when no unexpired request remains.
pub fn desired_size(
    requests: &[CapacityRequest],
    now: Timestamp,
    min_nodes: u32,
    max_nodes: u32,
) -> Option<u32> {
    requested_size(requests, now).map(|total| total.max(min_nodes).min(max_nodes))
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

/// When the last request still active at `now` ends: a cluster that
/// capacity deploys is scheduled to be destroyed then, and one it grows
/// lives at least that long (docs/domain.md §8: capacity never keeps a cluster
/// beyond its requests).
pub fn held_until(requests: &[CapacityRequest], now: Timestamp) -> Option<Timestamp> {
    requests
        .iter()
        .filter(|r| r.is_active(now))
        .map(|r| r.expires_at)
        .max()
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
/// cluster if `destroy_when_idle` (the organization asks for it, docs/domain.md
/// §8), else scale it to `min_nodes`; a cluster that is not deployed stays
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
            name: subject.trim_start_matches("github:").into(),
            nodes,
            expires_at: now() + TimeDelta::minutes(minutes),
            created_at: now() - TimeDelta::minutes(1),
            waiting: None,
        }
    }

    #[test]
    fn requests_must_be_sized_and_timed_within_bounds() {
        use std::time::Duration;
        let policy = CapacityPolicy::default();
        let minutes = |m: u64| Some(Duration::from_secs(m * 60));
        let expiry = |nodes, ttl, until| request_expiry(nodes, ttl, until, now(), &policy);
        assert_eq!(
            expiry(0, minutes(15), None),
            Ok(now() + TimeDelta::minutes(15)),
            "the documented minimum is accepted"
        );
        assert!(expiry(1000, minutes(720), None).is_ok());
        assert_eq!(expiry(1001, minutes(60), None).unwrap_err().field, "nodes");
        let short = expiry(3, minutes(14), None).unwrap_err();
        assert_eq!(short.field, "ttl");
        assert_eq!(
            short.rule,
            "a capacity request must last between 15m and 12h (got 14m)"
        );
        assert_eq!(expiry(3, minutes(721), None).unwrap_err().field, "ttl");
        let past = expiry(3, None, Some(now() - TimeDelta::minutes(5))).unwrap_err();
        assert_eq!(past.field, "until");
        assert!(past.rule.contains("-5m"), "{past}");
        assert_eq!(
            expiry(3, None, Some(now() + TimeDelta::hours(2))),
            Ok(now() + TimeDelta::hours(2))
        );
        assert_eq!(expiry(3, None, None).unwrap_err().field, "ttl");
        assert_eq!(
            expiry(3, minutes(30), Some(now())).unwrap_err().field,
            "ttl"
        );
        // Huge durations are refused, never an overflow.
        let huge = crate::duration::parse_duration("ttl", "1000000years").unwrap();
        assert_eq!(expiry(3, Some(huge), None).unwrap_err().field, "ttl");
        assert_eq!(
            expiry(3, Some(Duration::MAX), None).unwrap_err().field,
            "ttl"
        );
        // A moment that is not a whole second is rounded up, never below
        // what was asked.
        let at = now() + TimeDelta::milliseconds(250);
        assert_eq!(
            request_expiry(3, minutes(15), None, at, &policy),
            Ok(now() + TimeDelta::minutes(15) + TimeDelta::seconds(1))
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
        assert_eq!(
            held_until(&requests, now()),
            Some(now() + TimeDelta::minutes(90))
        );
        assert_eq!(held_until(&requests, now() + TimeDelta::minutes(90)), None);
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
