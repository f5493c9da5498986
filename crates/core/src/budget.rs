//! Budget enforcement (docs/domain.md §8): refusing the deploys and scale-ups
//! the money would not last for, shutting down organizations out of money,
//! and warning people before it comes to that.

use std::collections::BTreeSet;

use chrono::TimeDelta;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::account::Account;
use crate::calendar;
use crate::forecast::depletion;
use crate::money::{Money, Rate};
use crate::{Refusal, Timestamp, ValidationError};

/// How budgets are enforced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BudgetPolicy {
    /// An organization whose balance is below this is shut down: its
    /// clusters are destroyed. Generation 1: $0.50.
    pub floor: Money,
    /// A deploy or scale-up by an organization member is refused when the
    /// money would run out within this time at the projected rate.
    /// Generation 1: 24 h.
    #[serde(with = "crate::duration::time_delta")]
    pub horizon: TimeDelta,
    /// Warn when the balance falls below these fractions of the monthly
    /// allowance, e.g. `[0.25, 0.1]`.
    pub warn_balance_fractions: Vec<Decimal>,
    /// Warn when the money runs out within these many days at the current
    /// rate, e.g. `[7, 1]`.
    pub warn_days: Vec<u32>,
}

impl Default for BudgetPolicy {
    fn default() -> Self {
        Self {
            floor: Money::from_cents(50),
            horizon: TimeDelta::hours(24),
            warn_balance_fractions: vec![Decimal::new(25, 2), Decimal::new(10, 2)],
            warn_days: vec![7, 1],
        }
    }
}

impl BudgetPolicy {
    /// Checks the policy itself: nothing negative, fractions at most 1.
    pub fn check(&self) -> Result<(), ValidationError> {
        if self.floor.is_negative() {
            return Err(ValidationError::new("floor", "must not be negative"));
        }
        if self.horizon < TimeDelta::zero() {
            return Err(ValidationError::new("horizon", "must not be negative"));
        }
        if let Some(bad) = self
            .warn_balance_fractions
            .iter()
            .find(|f| **f < Decimal::ZERO || **f > Decimal::ONE)
        {
            return Err(ValidationError::new(
                "warn_balance_fractions",
                format!("must be fractions between 0 and 1 (got {bad})"),
            ));
        }
        Ok(())
    }
}

/// Whether the organization can afford to run at `projected_rate` — its
/// current rate with the cluster at the size asked for — for the policy's
/// horizon, by [`depletion`]. When it cannot, a deploy or scale-up by an
/// organization member is refused, naming the rule, the rate and when the
/// money runs out. (Callers apply it only there: administrators are not
/// limited, and shrinking a cluster is never refused.)
pub fn check_affordable(
    account: &Account,
    projected_rate: Rate,
    now: Timestamp,
    policy: &BudgetPolicy,
) -> Result<(), Refusal> {
    let runs_out = depletion(
        account.balance,
        account.monthly_allowance,
        account.max_balance,
        projected_rate,
        now,
    );
    match runs_out {
        Some(depletes_at) if depletes_at <= calendar::later(now, policy.horizon) => {
            Err(Refusal::OverBudget {
                rule: format!(
                    "a deploy or scale-up needs money for at least {} at the organization's projected rate (the balance is ${})",
                    human(policy.horizon),
                    account.balance
                ),
                rate: projected_rate,
                depletes_at,
            })
        }
        _ => Ok(()),
    }
}

/// Whether the organization is out of money: its balance is below the
/// floor, and its clusters must be destroyed.
pub fn must_shut_down(account: &Account, policy: &BudgetPolicy) -> bool {
    account.balance < policy.floor
}

/// A warning for the people of an organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    /// Stable, to remember that it was sent: `balance_below_0.25`,
    /// `depletes_within_7d`.
    pub key: String,
    /// What is wrong, for people.
    pub message: String,
}

/// The warnings to send now, and the keys to remember as sent.
///
/// Each threshold fires once when crossed: its warning is sent if its
/// condition holds and its key is not in `already_sent`. A threshold whose
/// condition no longer holds (the balance is back up after a credit) is
/// left out of the keys returned, so it is re-armed and fires again when
/// crossed again. `time_to_depletion` is how long the money lasts at the
/// current rate (`None`: not within the forecast's reach).
pub fn warnings(
    already_sent: &BTreeSet<String>,
    account: &Account,
    time_to_depletion: Option<TimeDelta>,
    policy: &BudgetPolicy,
) -> (Vec<Warning>, BTreeSet<String>) {
    let active = active_warnings(account, time_to_depletion, policy);
    let mut still_active = BTreeSet::new();
    let mut to_send = Vec::new();
    for warning in active {
        if !still_active.insert(warning.key.clone()) {
            continue;
        }
        if !already_sent.contains(&warning.key) {
            to_send.push(warning);
        }
    }
    (to_send, still_active)
}

/// Every warning whose condition holds now.
fn active_warnings(
    account: &Account,
    time_to_depletion: Option<TimeDelta>,
    policy: &BudgetPolicy,
) -> Vec<Warning> {
    let low_balance = policy.warn_balance_fractions.iter().filter_map(|fraction| {
        let threshold = account.monthly_allowance.times(*fraction);
        (account.balance < threshold).then(|| Warning {
            key: format!("balance_below_{}", fraction.normalize()),
            message: format!(
                "the balance, ${}, is below {}% of the monthly allowance of ${}",
                account.balance,
                (fraction * Decimal::ONE_HUNDRED).normalize(),
                account.monthly_allowance
            ),
        })
    });
    let running_out = policy.warn_days.iter().filter_map(|days| {
        let left = time_to_depletion?;
        (left <= TimeDelta::days(i64::from(*days))).then(|| Warning {
            key: format!("depletes_within_{days}d"),
            message: format!(
                "at the current rate the money runs out within {days} {} (in {})",
                if *days == 1 { "day" } else { "days" },
                human(TimeDelta::minutes(left.num_minutes().max(0)))
            ),
        })
    });
    low_balance.chain(running_out).collect()
}

/// A duration for people: `24h`, `3days 4h 12m`.
fn human(duration: TimeDelta) -> String {
    let duration = duration.to_std().unwrap_or_default();
    if duration.is_zero() {
        return "no time".to_owned();
    }
    if duration.as_secs().is_multiple_of(3600) {
        return format!("{}h", duration.as_secs() / 3600);
    }
    crate::duration::format_duration(duration)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use proptest::prelude::*;

    fn m(text: &str) -> Money {
        Money::parse(text).unwrap()
    }

    fn now() -> Timestamp {
        Utc.with_ymd_and_hms(2026, 5, 10, 12, 0, 0).unwrap()
    }

    fn account(balance: &str) -> Account {
        Account::open(m(balance), m("1000"), m("2000"), now())
    }

    fn keys(warnings: &[Warning]) -> Vec<&str> {
        warnings.iter().map(|w| w.key.as_str()).collect()
    }

    #[test]
    fn the_default_policy_is_generation_1s() {
        let policy = BudgetPolicy::default();
        assert_eq!(policy.floor, m("0.5"));
        assert_eq!(policy.horizon, TimeDelta::hours(24));
        assert_eq!(policy.warn_days, [7, 1]);
        assert!(policy.check().is_ok());
        let json = serde_json::to_value(&policy).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "floor": "0.50",
                "horizon": "1d",
                "warn_balance_fractions": ["0.25", "0.10"],
                "warn_days": [7, 1]
            })
        );
        let read: BudgetPolicy =
            toml::from_str("floor = 2.5\nhorizon = \"48h\"\nwarn_balance_fractions = [0.5]")
                .unwrap();
        assert_eq!(read.floor, m("2.5"));
        assert_eq!(read.horizon, TimeDelta::hours(48));
        assert_eq!(read.warn_balance_fractions, [Decimal::new(5, 1)]);
        assert_eq!(read.warn_days, [7, 1]);
        let bad = BudgetPolicy {
            warn_balance_fractions: vec![Decimal::new(15, 1)],
            ..BudgetPolicy::default()
        };
        assert_eq!(bad.check().unwrap_err().field, "warn_balance_fractions");
    }

    #[test]
    fn a_deploy_is_refused_when_the_money_would_not_last_a_day() {
        let policy = BudgetPolicy::default();
        // $24 at $1.00/h lasts exactly 24 hours: refused; $24.01 lasts 25
        let rate = Rate::parse("1").unwrap();
        let refusal = check_affordable(&account("24"), rate, now(), &policy).unwrap_err();
        let Refusal::OverBudget {
            depletes_at,
            rate: refused_rate,
            ..
        } = &refusal
        else {
            panic!("expected over budget, got {refusal:?}");
        };
        assert_eq!(*depletes_at, now() + TimeDelta::hours(24));
        assert_eq!(*refused_rate, rate);
        assert_eq!(refusal.code(), "over_budget");
        let message = refusal.to_string();
        assert!(message.contains("at least 24h"), "{message}");
        assert!(message.contains("$1 an hour"), "{message}");
        assert!(message.contains("2026-05-11T12:00:00+00:00"), "{message}");
        assert!(check_affordable(&account("24.01"), rate, now(), &policy).is_ok());
        assert!(check_affordable(&account("0"), Rate::ZERO, now(), &policy).is_err());
        assert!(check_affordable(&account("5"), Rate::ZERO, now(), &policy).is_ok());
    }

    #[test]
    fn an_organization_below_the_floor_is_shut_down() {
        let policy = BudgetPolicy::default();
        assert!(must_shut_down(&account("0.49"), &policy));
        assert!(!must_shut_down(&account("0.50"), &policy));
        assert!(must_shut_down(&account("-3"), &policy));
    }

    #[test]
    fn each_threshold_fires_once_and_rearms_when_it_no_longer_holds() {
        let policy = BudgetPolicy::default();
        let none = BTreeSet::new();
        let (sent, active) = warnings(&none, &account("300"), None, &policy);
        assert!(sent.is_empty() && active.is_empty());

        let (sent, active) = warnings(&none, &account("200"), Some(TimeDelta::days(5)), &policy);
        assert_eq!(keys(&sent), ["balance_below_0.25", "depletes_within_7d"]);
        assert_eq!(
            sent[0].message,
            "the balance, $200.00, is below 25% of the monthly allowance of $1000.00"
        );
        assert_eq!(
            sent[1].message,
            "at the current rate the money runs out within 7 days (in 120h)"
        );

        let (sent, active) = warnings(&active, &account("90"), Some(TimeDelta::hours(20)), &policy);
        assert_eq!(keys(&sent), ["balance_below_0.1", "depletes_within_1d"]);
        assert_eq!(active.len(), 4);

        let (sent, active) = warnings(&active, &account("80"), Some(TimeDelta::hours(19)), &policy);
        assert!(sent.is_empty());
        assert_eq!(active.len(), 4);

        // the allowance arrives: everything re-arms
        let (sent, active) = warnings(&active, &account("1080"), None, &policy);
        assert!(sent.is_empty() && active.is_empty());
        let (sent, _) = warnings(&active, &account("240"), None, &policy);
        assert_eq!(keys(&sent), ["balance_below_0.25"]);
    }

    proptest! {
        #[test]
        fn a_threshold_fires_exactly_when_crossed_since_last_time(
            balances in proptest::collection::vec(0i64..150_000, 1..20),
        ) {
            let policy = BudgetPolicy::default();
            let mut sent_keys = BTreeSet::new();
            let mut previous: Option<i64> = None;
            for cents in balances {
                let (sent, active) = warnings(&sent_keys, &account(&Money::from_cents(cents).to_string()), None, &policy);
                for (fraction_cents, key) in [(25_000, "balance_below_0.25"), (10_000, "balance_below_0.1")] {
                    let below = cents < fraction_cents;
                    let was_below = previous.is_some_and(|p| p < fraction_cents);
                    prop_assert_eq!(active.contains(key), below);
                    prop_assert_eq!(keys(&sent).contains(&key), below && !was_below);
                }
                sent_keys = active;
                previous = Some(cents);
            }
        }

        #[test]
        fn affordable_means_the_money_lasts_the_horizon(balance in 0i64..10_000, mills in 0u32..5_000) {
            let policy = BudgetPolicy::default();
            let rate = Rate::from_mills(mills);
            let account = Account::open(Money::from_cents(balance), Money::ZERO, m("1000"), now());
            let lasts = Money::from_cents(balance) > rate.for_duration(policy.horizon);
            prop_assert_eq!(check_affordable(&account, rate, now(), &policy).is_ok(), lasts);
        }
    }
}
