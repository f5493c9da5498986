//! Which queued operation a worker takes next (docs/domain.md §4, "Fair
//! scheduling"): the queue is not first come, first served, or one
//! organization's burst would keep every other one waiting behind it.
//!
//! Candidates are ordered by, in turn:
//! 1. **the organization's share**: how many of its operations ran in the
//!    last [`SHARE_WINDOW`] (running ones included) — the organization
//!    served least goes first, so another's burst delays its operation by at
//!    most the time one slot takes to free up;
//! 2. **a person before the background**: an operation Slipway started
//!    itself (a schedule, a drift check, capacity, the budget) waits behind
//!    its organization's people's requests — until it has waited
//!    [`BACKGROUND_PATIENCE`], so the background is never starved;
//! 3. **the person's share**: who was served least within the organization;
//! 4. **age**: the oldest first.
//!
//! An organization running as many operations as its
//! `max_running_operations` allows takes no more until one ends.

use std::collections::HashMap;
use std::time::Duration;

use crate::Timestamp;
use crate::operation::Reason;

/// How far back an organization's and a person's use of the workers counts.
pub const SHARE_WINDOW: Duration = Duration::from_secs(10 * 60);

/// How long an operation Slipway started itself waits behind people's
/// requests before it is taken in turn like theirs.
pub const BACKGROUND_PATIENCE: Duration = Duration::from_secs(60);

/// A queued operation, as the order sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate<'a> {
    /// The organization that owns its cluster.
    pub organization: &'a str,
    /// Who asked (a person's subject, or one of Slipway's own).
    pub requested_by: &'a str,
    pub reason: Reason,
    pub queued_at: Timestamp,
}

/// An organization's use of the workers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Share {
    /// Operations running now.
    pub running: u32,
    /// Operations started within [`SHARE_WINDOW`], running ones included.
    pub served: u32,
}

/// Everyone's use of the workers, read with the candidates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Load {
    pub organizations: HashMap<String, Share>,
    /// Operations started within [`SHARE_WINDOW`] by who asked for them.
    pub people: HashMap<String, u32>,
}

/// Whether `reason` is Slipway's own doing rather than a request someone is
/// waiting for. (Recovery finishes what someone asked for.)
pub fn is_background(reason: Reason) -> bool {
    match reason {
        Reason::Schedule | Reason::Budget | Reason::Capacity | Reason::Drift => true,
        Reason::User | Reason::Recovery => false,
    }
}

/// The candidates a worker may take, in the order to try them (indices
/// into `candidates`); those of an organization at its `max_running`
/// limit are left out.
pub fn lease_order(
    candidates: &[Candidate<'_>],
    load: &Load,
    max_running: impl Fn(&str) -> u32,
    now: Timestamp,
) -> Vec<usize> {
    let patience = chrono::TimeDelta::from_std(BACKGROUND_PATIENCE).expect("a minute");
    let mut order: Vec<usize> = (0..candidates.len())
        .filter(|&i| {
            let org = candidates[i].organization;
            let running = load.organizations.get(org).map_or(0, |s| s.running);
            running < max_running(org)
        })
        .collect();
    order.sort_by_key(|&i| {
        let c = &candidates[i];
        let served = load
            .organizations
            .get(c.organization)
            .map_or(0, |s| s.served);
        let waits_behind_people = is_background(c.reason) && now - c.queued_at < patience;
        let person = load.people.get(c.requested_by).copied().unwrap_or(0);
        (served, waits_behind_people, person, c.queued_at, i)
    });
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(secs: i64) -> Timestamp {
        chrono::DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    fn unlimited(_: &str) -> u32 {
        u32::MAX
    }

    fn load(orgs: &[(&str, u32, u32)]) -> Load {
        Load {
            organizations: orgs
                .iter()
                .map(|(o, running, served)| {
                    (
                        (*o).to_owned(),
                        Share {
                            running: *running,
                            served: *served,
                        },
                    )
                })
                .collect(),
            people: HashMap::new(),
        }
    }

    fn user<'a>(org: &'a str, who: &'a str, secs: i64) -> Candidate<'a> {
        Candidate {
            organization: org,
            requested_by: who,
            reason: Reason::User,
            queued_at: at(secs),
        }
    }

    #[test]
    fn a_bystander_goes_before_a_burst_that_came_first() {
        let mut queue: Vec<Candidate> = (0..200).map(|i| user("storm", "alice", i)).collect();
        queue.push(user("bystander", "bob", 300));
        // The storm holds the one slot: the bystander is next.
        let order = lease_order(&queue, &load(&[("storm", 1, 1)]), unlimited, at(301));
        assert_eq!(order[0], 200);
        // The storm's slot freed, its operation done: still the bystander.
        let order = lease_order(&queue, &load(&[("storm", 0, 1)]), unlimited, at(301));
        assert_eq!(order[0], 200);
        // Nobody served yet: the oldest.
        let order = lease_order(&queue, &Load::default(), unlimited, at(301));
        assert_eq!(order[0], 0);
    }

    #[test]
    fn people_go_before_the_background_until_it_has_waited_its_patience() {
        let drift = Candidate {
            reason: Reason::Drift,
            ..user("lab", "slipway:drift", 0)
        };
        let queue = [drift, user("lab", "alice", 30)];
        assert_eq!(
            lease_order(&queue, &Load::default(), unlimited, at(31)),
            [1, 0]
        );
        assert_eq!(
            lease_order(&queue, &Load::default(), unlimited, at(60)),
            [0, 1],
            "after a minute the drift check is taken by its age"
        );
    }

    #[test]
    fn within_an_organization_the_person_served_least_goes_first() {
        let queue = [user("lab", "alice", 0), user("lab", "bob", 1)];
        let mut busy = Load::default();
        busy.people.insert("alice".into(), 5);
        assert_eq!(lease_order(&queue, &busy, unlimited, at(2)), [1, 0]);
    }

    #[test]
    fn an_organization_at_its_running_limit_waits() {
        let queue = [user("lab", "alice", 0), user("other", "bob", 1)];
        let limit = |org: &str| if org == "lab" { 2 } else { u32::MAX };
        let order = lease_order(&queue, &load(&[("lab", 2, 2)]), limit, at(2));
        assert_eq!(order, [1]);
        let order = lease_order(&queue, &load(&[("lab", 1, 9)]), limit, at(2));
        assert_eq!(order, [1, 0], "below it, only served later");
    }

    fn reason() -> impl Strategy<Value = Reason> {
        prop::sample::select(Reason::ALL.to_vec())
    }

    proptest! {
        /// Every candidate of an organization under its limit is in the
        /// order once; an organization served less comes before one
        /// served more, whatever their ages and reasons.
        #[test]
        fn the_order_is_a_permutation_and_the_least_served_organization_leads(
            queue in prop::collection::vec((0usize..4, 0usize..3, reason(), 0i64..10_000), 1..60),
            served in prop::collection::vec(0u32..20, 4),
            running in prop::collection::vec(0u32..4, 4),
            limit in 1u32..5,
            now in 0i64..20_000,
        ) {
            const ORGS: [&str; 4] = ["a", "b", "c", "d"];
            const PEOPLE: [&str; 3] = ["alice", "bob", "slipway:drift"];
            let candidates: Vec<Candidate> = queue
                .iter()
                .map(|(o, p, r, t)| Candidate {
                    organization: ORGS[*o],
                    requested_by: PEOPLE[*p],
                    reason: *r,
                    queued_at: at(*t),
                })
                .collect();
            let load = Load {
                organizations: ORGS
                    .iter()
                    .enumerate()
                    .map(|(i, o)| ((*o).to_owned(), Share { running: running[i], served: served[i].max(running[i]) }))
                    .collect(),
                people: HashMap::new(),
            };
            let order = lease_order(&candidates, &load, |_| limit, at(now));
            let mut sorted = order.clone();
            sorted.sort_unstable();
            sorted.dedup();
            prop_assert_eq!(sorted.len(), order.len(), "each at most once");
            for (i, c) in candidates.iter().enumerate() {
                let share = load.organizations[c.organization];
                prop_assert_eq!(order.contains(&i), share.running < limit);
            }
            for pair in order.windows(2) {
                let served = |i: usize| load.organizations[candidates[i].organization].served;
                prop_assert!(served(pair[0]) <= served(pair[1]));
            }
        }
    }
}
