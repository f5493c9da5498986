//! Scheduled destroys and the five-minute rule.

use chrono::TimeDelta;
use serde::{Deserialize, Serialize};

use crate::{ClusterName, OperationId, Refusal, Timestamp};

/// A scheduled destroy may not be changed or removed from this long before it
/// fires (the SCHEDULE_DESTROY rule). Everything that tells people the rule
/// says it with [`change_cutoff_in_words`].
pub const CHANGE_CUTOFF: TimeDelta = TimeDelta::minutes(5);

/// [`CHANGE_CUTOFF`] for people: "5 minutes".
pub fn change_cutoff_in_words() -> String {
    crate::duration::minutes_in_words(CHANGE_CUTOFF)
}

/// A cluster's one scheduled destroy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    pub cluster: ClusterName,
    pub destroy_at: Timestamp,
    pub requested_by: String,
    pub created_at: Timestamp,
    /// The destroy operation the schedule fired, while it runs.
    pub fired_operation: Option<OperationId>,
    /// How many fired destroys have failed so far.
    pub failed_attempts: u32,
    /// After a failed attempt, when the next one fires.
    pub retry_at: Option<Timestamp>,
}

impl Schedule {
    /// The first instant at which the schedule can no longer be changed.
    pub fn cutoff(&self) -> Timestamp {
        self.destroy_at - CHANGE_CUTOFF
    }

    /// The five-minute rule: a schedule may be changed or removed only while
    /// `now < destroy_at − CHANGE_CUTOFF`.
    pub fn check_change_allowed(&self, now: Timestamp) -> Result<(), Refusal> {
        if now >= self.cutoff() {
            Err(Refusal::TooLateToReschedule {
                destroy_at: self.destroy_at,
                cutoff: self.cutoff(),
            })
        } else {
            Ok(())
        }
    }

    /// When the schedule fires next: its time, or after a failed attempt the
    /// retry time.
    pub fn due_at(&self) -> Timestamp {
        self.retry_at.unwrap_or(self.destroy_at)
    }

    /// Due: its time has come and no destroy it fired is in flight.
    pub fn is_due(&self, now: Timestamp) -> bool {
        self.fired_operation.is_none() && now >= self.due_at()
    }

    /// The destroy this schedule fired did not succeed. The schedule stays —
    /// a forgotten cluster must still go away — and fires again after a
    /// back-off of 1, 2, 4 … minutes, at most an hour.
    pub fn after_failed_attempt(&self, now: Timestamp) -> Schedule {
        let failed_attempts = self.failed_attempts.saturating_add(1);
        let backoff = RETRY_BACKOFF_FIRST * 2i32.pow(failed_attempts.min(7) - 1);
        Schedule {
            fired_operation: None,
            failed_attempts,
            retry_at: Some(now + backoff.min(RETRY_BACKOFF_MAX)),
            ..self.clone()
        }
    }
}

/// The first wait before a failed scheduled destroy fires again.
pub const RETRY_BACKOFF_FIRST: TimeDelta = TimeDelta::minutes(1);
/// The longest wait between attempts of a failing scheduled destroy.
pub const RETRY_BACKOFF_MAX: TimeDelta = TimeDelta::hours(1);

/// Whether a cluster's drift check is due (docs/domain.md §4). Each cluster
/// has its own moment in every `interval` — a phase taken from its name —
/// so a thousand clusters deployed together are checked spread over the
/// interval, not all at once; a check is due once such a moment passed
/// since the last time what exists was found (`checked_at`; never: since
/// the cluster was created).
pub fn drift_check_due(
    cluster: &ClusterName,
    checked_at: Option<Timestamp>,
    created_at: Timestamp,
    now: Timestamp,
    interval: std::time::Duration,
) -> bool {
    let interval = i64::try_from(interval.as_millis())
        .unwrap_or(i64::MAX)
        .max(1);
    // FNV-1a: stable across releases and processes, unlike std's hasher.
    let hash = cluster
        .as_str()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
    let phase = i64::try_from(hash % interval.unsigned_abs()).unwrap_or(0);
    // Which window (of the cluster's own moments) an instant falls in.
    let window = |t: Timestamp| (t.timestamp_millis() - phase).div_euclid(interval);
    window(now) > window(checked_at.unwrap_or(created_at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use proptest::prelude::*;

    fn schedule_at(destroy_at: Timestamp) -> Schedule {
        Schedule {
            cluster: ClusterName::parse("c").unwrap(),
            destroy_at,
            requested_by: "t".into(),
            created_at: destroy_at - TimeDelta::hours(1),
            fired_operation: None,
            failed_attempts: 0,
            retry_at: None,
        }
    }

    #[test]
    fn a_failed_attempt_backs_off_and_fires_again() {
        let at = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap();
        let mut s = schedule_at(at);
        s.fired_operation = Some(OperationId::from_uuid(uuid::Uuid::from_u128(1)));
        assert!(!s.is_due(at));
        let mut waits = Vec::new();
        let mut now = at;
        for _ in 0..9 {
            s = s.after_failed_attempt(now);
            assert!(s.fired_operation.is_none());
            assert!(!s.is_due(now));
            waits.push((s.due_at() - now).num_minutes());
            now = s.due_at();
            assert!(s.is_due(now));
        }
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(s.failed_attempts, 9);
        assert_eq!(s.destroy_at, at);
    }

    #[test]
    fn four_minutes_ahead_is_too_late_twenty_is_not() {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap();
        let near = schedule_at(now + TimeDelta::minutes(4));
        assert!(matches!(
            near.check_change_allowed(now),
            Err(Refusal::TooLateToReschedule { .. })
        ));
        let far = schedule_at(now + TimeDelta::minutes(20));
        assert!(far.check_change_allowed(now).is_ok());
        // The refusal says the rule with the constant.
        let refused = near.check_change_allowed(now).unwrap_err().to_string();
        assert_eq!(change_cutoff_in_words(), "5 minutes");
        assert!(
            refused.contains(&format!("({} before it)", change_cutoff_in_words())),
            "{refused}"
        );
    }

    #[test]
    fn the_cutoff_instant_itself_is_too_late() {
        let at = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap();
        let s = schedule_at(at);
        assert!(s.check_change_allowed(at - CHANGE_CUTOFF).is_err());
        assert!(
            s.check_change_allowed(at - CHANGE_CUTOFF - TimeDelta::milliseconds(1))
                .is_ok()
        );
    }

    proptest! {
        /// For any schedule and any instant, a change is allowed exactly when
        /// now < destroy_at − 5 min.
        #[test]
        fn the_five_minute_rule_holds_everywhere(at_s in 0i64..4_000_000_000, offset_s in -100_000i64..100_000) {
            let at = Utc.timestamp_opt(at_s, 0).unwrap();
            let now = at + TimeDelta::seconds(offset_s);
            let allowed = schedule_at(at).check_change_allowed(now).is_ok();
            prop_assert_eq!(allowed, offset_s < -300);
        }
    }
}

#[cfg(test)]
mod drift_checks {
    use std::time::Duration;

    use chrono::{TimeZone, Utc};
    use proptest::prelude::*;

    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    proptest! {
        // Polled every ten minutes for three days, a cluster checked when
        // due is checked once a day, a day apart.
        #[test]
        fn a_cluster_is_checked_once_per_interval(
            name in "[a-z][a-z0-9-]{0,20}[a-z0-9]",
            start in 0i64..100_000_000,
        ) {
            let name = ClusterName::parse(&name).unwrap();
            let t0 = Utc.timestamp_millis_opt(1_800_000_000_000 + start).unwrap();
            let mut checked = t0;
            let mut checks = Vec::new();
            for poll in 1..=(3 * 144) {
                let now = t0 + TimeDelta::minutes(10 * poll);
                if drift_check_due(&name, Some(checked), t0, now, DAY) {
                    checked = now;
                    checks.push(now);
                }
            }
            prop_assert_eq!(checks.len(), 3, "{:?}", checks);
            for pair in checks.windows(2) {
                prop_assert_eq!(pair[1] - pair[0], TimeDelta::days(1));
            }
        }
    }

    #[test]
    fn a_thousand_clusters_deployed_together_are_spread_over_the_interval() {
        let created = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
        // How many fall due in each hour of the first day.
        let mut per_hour = [0u32; 24];
        for i in 0..1000 {
            let name = ClusterName::parse(&format!("hub-{i}")).unwrap();
            let hour = (1..=24)
                .find(|h| {
                    drift_check_due(&name, None, created, created + TimeDelta::hours(*h), DAY)
                })
                .expect("due within the interval");
            per_hour[hour as usize - 1] += 1;
        }
        assert!(
            per_hour.iter().all(|n| (15..=70).contains(n)),
            "about 42 an hour: {per_hour:?}"
        );
    }
}
