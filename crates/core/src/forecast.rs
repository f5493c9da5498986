//! Burn rates and forecasts (docs/domain.md §8, generation 1): what an
//! organization spends per hour, when its money runs out, and what its
//! balance will be.
//!
//! The projection follows the hourly reconciliation (see [`crate::account`]):
//! at each UTC hour boundary the hour's cost is debited, on the 1st of a
//! month at 00:00 the allowance is credited, and the balance is capped at
//! the maximum. [`depletion`] finds the first boundary where that leaves
//! nothing; [`forecast`] shows the balance at hour, day or month boundaries,
//! never below zero (an organization out of money is shut down and stops
//! spending until its next allowance).

use chrono::{Months, TimeDelta};
use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::calendar::{self, DAY, HOUR};
use crate::cost::CostModel;
use crate::money::{Money, Rate};

/// What one of an organization's clusters could cost, for [`burn_rates`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterCost {
    /// The cost model of the cluster's blueprint version.
    pub model: CostModel,
    /// Deployed (or being deployed) now.
    pub deployed: bool,
    /// The organization's minimum size for the cluster.
    pub min_nodes: u32,
    /// The nodes deployed now.
    pub current_nodes: u32,
    /// The most nodes the cluster may have.
    pub max_nodes: u32,
}

/// An organization's spending per hour at three sizes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BurnRates {
    /// Every deployed cluster at its minimum size.
    pub minimum: Rate,
    /// Every deployed cluster at its current size.
    pub current: Rate,
    /// Every cluster of the organization, deployed or not, at its maximum.
    pub maximum: Rate,
}

/// The burn rates of an organization's clusters.
///
/// The minimum and current rates count only deployed clusters: that is what
/// the organization spends now, or would if every cluster shrank to its
/// minimum. The maximum counts *all* its clusters at their maximum size —
/// what it would cost if everything ran flat out — so the worst case is
/// known before anything is deployed. A size of zero nodes costs nothing
/// (see [`CostModel::hourly`]), so a deployed cluster whose minimum is zero
/// adds nothing to the minimum rate.
pub fn burn_rates(clusters: &[ClusterCost]) -> BurnRates {
    let deployed = || clusters.iter().filter(|c| c.deployed);
    BurnRates {
        minimum: deployed().map(|c| c.model.hourly(c.min_nodes)).sum(),
        current: deployed().map(|c| c.model.hourly(c.current_nodes)).sum(),
        maximum: clusters.iter().map(|c| c.model.hourly(c.max_nodes)).sum(),
    }
}

/// How far [`depletion`] looks ahead: ten years.
pub const DEPLETION_HORIZON: Months = Months::new(120);

/// The rule of one step of the projection.
#[derive(Debug, Clone, Copy)]
struct Projection {
    allowance: Money,
    max_balance: Money,
    rate: Rate,
}

impl Projection {
    /// The balance at hour boundary `to`, given the balance at `from` (at
    /// most an hour before, with no boundary between): the cost debited,
    /// the allowance credited if `to` starts a month, capped at the maximum.
    fn step(&self, balance: Money, from: Timestamp, to: Timestamp) -> Money {
        let mut balance = balance - self.rate.for_duration(to - from);
        if calendar::is_month_start(to) {
            balance += self.allowance;
        }
        balance.min(self.max_balance)
    }

    /// [`Projection::step`] for a forecast: a balance at zero means the
    /// organization is shut down and spends nothing until its next
    /// allowance; never below zero.
    fn forecast_step(&self, balance: Money, from: Timestamp, to: Timestamp) -> Money {
        if balance.is_positive() {
            self.step(balance, from, to).max(Money::ZERO)
        } else {
            self.step(Money::ZERO, to, to).max(Money::ZERO)
        }
    }

    /// The cost of `hours` whole hours.
    fn cost_of_hours(&self, hours: i64) -> Money {
        self.rate.for_duration(TimeDelta::hours(hours))
    }

    /// The forecast balance at hour boundary `to`, given the forecast balance
    /// `balance` (≥ 0) at hour boundary `from` ≤ `to`: as if stepping hour by
    /// hour, never below zero — but a month at a time.
    fn advance(&self, mut balance: Money, from: Timestamp, to: Timestamp) -> Money {
        let mut at = from;
        while at < to {
            let credit = calendar::next_month_start(at);
            if credit > to {
                let spent = self.cost_of_hours((to - at).num_hours());
                return (balance - spent).min(self.max_balance).max(Money::ZERO);
            }
            let hours = (credit - at).num_hours();
            let before = (balance - self.cost_of_hours(hours - 1))
                .min(self.max_balance)
                .max(Money::ZERO);
            balance = self.forecast_step(before, credit - HOUR, credit);
            at = credit;
        }
        balance
    }
}

/// When the money runs out: stepping hour by hour from `now` — the hour's
/// cost at `rate` debited at each UTC hour boundary (the first, partial hour
/// pro rata), the allowance credited at 00:00 on the 1st of each month, the
/// balance capped at `max_balance` — the first hour boundary at which the
/// balance is ≤ 0. `now` if it already is; `None` if the rate is zero or
/// the money lasts beyond [`DEPLETION_HORIZON`].
///
/// Computed a month at a time (O(months), not O(hours)), with exactly the
/// hour-stepping answer.
pub fn depletion(
    balance: Money,
    monthly_allowance: Money,
    max_balance: Money,
    rate: Rate,
    now: Timestamp,
) -> Option<Timestamp> {
    if !balance.is_positive() {
        return Some(now);
    }
    if rate.is_zero() {
        return None;
    }
    let horizon = now
        .checked_add_months(DEPLETION_HORIZON)
        .unwrap_or(calendar::END_OF_TIME);
    let projection = Projection {
        allowance: monthly_allowance,
        max_balance,
        rate,
    };
    let mut at = calendar::next_hour(now);
    let mut balance = projection.step(balance, now, at);
    // from here on `at` is an hour boundary and the balance is at most the
    // maximum, so between credits it only falls, by `rate` an hour
    while at <= horizon {
        if !balance.is_positive() {
            return Some(at);
        }
        let credit = calendar::next_month_start(at);
        let hours_to_credit = (credit - at).num_hours();
        let hours_left = rate.hours_to_spend(balance)?;
        if hours_left < hours_to_credit {
            let runs_out = calendar::later(at, TimeDelta::hours(hours_left));
            return (runs_out <= horizon).then_some(runs_out);
        }
        balance = projection.step(
            balance - projection.cost_of_hours(hours_to_credit - 1),
            credit - HOUR,
            credit,
        );
        at = credit;
    }
    None
}

/// How far ahead a forecast goes, and how fine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ForecastHorizon {
    /// Every hour boundary for 14 days.
    Hourly,
    /// Every day (00:00 UTC) for 91 days.
    Daily,
    /// Every month (the 1st, 00:00 UTC) for 12 months.
    Monthly,
}

impl ForecastHorizon {
    /// The points of a forecast from `now`: boundaries strictly after it.
    pub fn points(self, now: Timestamp) -> Vec<Timestamp> {
        let (first, count, next): (Timestamp, usize, fn(Timestamp) -> Timestamp) = match self {
            ForecastHorizon::Hourly => (calendar::next_hour(now), 14 * 24, |t| {
                calendar::later(t, HOUR)
            }),
            ForecastHorizon::Daily => (calendar::next_day(now), 91, |t| calendar::later(t, DAY)),
            ForecastHorizon::Monthly => (
                calendar::next_month_start(now),
                12,
                calendar::next_month_start,
            ),
        };
        std::iter::successors(Some(first), |&t| Some(next(t)))
            .take(count)
            .collect()
    }
}

/// The balance at each point of `horizon` after `now`, at `rate`: stepped
/// like [`depletion`] — cost debited each hour, the allowance credited on
/// the 1st, capped at `max_balance` — but never below zero: once the money
/// is gone the organization is shut down and spends nothing until its next
/// allowance (a balance already at or below zero counts as zero). Computed
/// a month at a time, with exactly the hour-stepping answer; for a positive
/// balance the first point at zero is the [`depletion`] date.
pub fn forecast(
    balance: Money,
    monthly_allowance: Money,
    max_balance: Money,
    rate: Rate,
    now: Timestamp,
    horizon: ForecastHorizon,
) -> Vec<(Timestamp, Money)> {
    let projection = Projection {
        allowance: monthly_allowance,
        max_balance,
        rate,
    };
    let mut at = calendar::next_hour(now);
    let mut balance = projection.forecast_step(balance, now, at);
    horizon
        .points(now)
        .into_iter()
        .map(|point| {
            balance = projection.advance(balance, at, point);
            at = point;
            (point, balance)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use proptest::prelude::*;

    fn m(text: &str) -> Money {
        Money::parse(text).unwrap()
    }

    fn r(text: &str) -> Rate {
        Rate::parse(text).unwrap()
    }

    fn at(mo: u32, d: u32, h: u32, mi: u32) -> Timestamp {
        Utc.with_ymd_and_hms(2026, mo, d, h, mi, 0).unwrap()
    }

    /// The definition, stepped hour by hour, up to `limit`.
    fn depletion_by_hours(
        balance: Money,
        allowance: Money,
        max: Money,
        rate: Rate,
        now: Timestamp,
        limit: Timestamp,
    ) -> Option<Timestamp> {
        if !balance.is_positive() {
            return Some(now);
        }
        if rate.is_zero() {
            return None;
        }
        let mut balance = balance;
        let mut previous = now;
        let mut hour = calendar::next_hour(now);
        while hour <= limit {
            balance -= rate.for_duration(hour - previous);
            if calendar::is_month_start(hour) {
                balance += allowance;
            }
            balance = balance.min(max);
            if !balance.is_positive() {
                return Some(hour);
            }
            previous = hour;
            hour += HOUR;
        }
        None
    }

    /// The forecast's definition, stepped hour by hour.
    fn forecast_by_hours(
        balance: Money,
        allowance: Money,
        max: Money,
        rate: Rate,
        now: Timestamp,
        horizon: ForecastHorizon,
    ) -> Vec<(Timestamp, Money)> {
        let points = horizon.points(now);
        let mut balance = balance.max(Money::ZERO);
        let mut previous = now;
        let mut hour = calendar::next_hour(now);
        let mut result = Vec::new();
        while let Some(&last) = points.last()
            && hour <= last
        {
            if balance.is_positive() {
                balance -= rate.for_duration(hour - previous);
            }
            if calendar::is_month_start(hour) {
                balance += allowance;
            }
            balance = balance.min(max).max(Money::ZERO);
            if points.contains(&hour) {
                result.push((hour, balance));
            }
            previous = hour;
            hour += HOUR;
        }
        result
    }

    #[test]
    fn burn_rates_count_deployed_clusters_and_every_cluster_at_its_maximum() {
        let cluster = |deployed, min, current, max| ClusterCost {
            model: CostModel::GENERATION_1,
            deployed,
            min_nodes: min,
            current_nodes: current,
            max_nodes: max,
        };
        let rates = burn_rates(&[
            cluster(true, 1, 3, 10),
            cluster(false, 2, 0, 4),
            cluster(true, 0, 2, 2),
        ]);
        assert_eq!(rates.minimum, r("0.379"));
        assert_eq!(rates.current, r("0.831") + r("0.605"));
        assert_eq!(rates.maximum, r("2.413") + r("1.057") + r("0.605"));
        assert_eq!(burn_rates(&[]), BurnRates::default());
    }

    #[test]
    fn money_runs_out_at_the_first_hour_boundary_with_nothing_left() {
        let now = at(5, 10, 10, 30);
        // 9.50 dollars at 1 $/h: 9.00 left at 11:00, nothing at 20:00
        assert_eq!(
            depletion(m("9.5"), m("0"), m("100"), r("1"), now),
            Some(at(5, 10, 20, 0))
        );
        assert_eq!(
            depletion(m("10.5"), m("0"), m("100"), r("1"), now),
            Some(at(5, 10, 21, 0))
        );
        assert_eq!(
            depletion(m("10.51"), m("0"), m("100"), r("1"), now),
            Some(at(5, 10, 22, 0))
        );
        assert_eq!(depletion(m("0"), m("0"), m("100"), r("1"), now), Some(now));
        assert_eq!(
            depletion(m("-3"), m("50"), m("100"), r("1"), now),
            Some(now)
        );
        assert_eq!(depletion(m("10"), m("0"), m("100"), Rate::ZERO, now), None);
    }

    #[test]
    fn the_allowance_on_the_first_keeps_it_going() {
        let now = at(5, 31, 12, 0);
        // 20 dollars at 1 $/h would run out at 08:00 on 1 June; at 00:00
        // 8 are left and 100 arrive: 108, which last until 12:00 on the 5th
        let with_allowance = depletion(m("20"), m("100"), m("110"), r("1"), now);
        assert_eq!(with_allowance, Some(at(6, 5, 12, 0)));
        // capped at 100, the same lasts until 04:00
        let capped = depletion(m("20"), m("100"), m("100"), r("1"), now);
        assert_eq!(capped, Some(at(6, 5, 4, 0)));
        // a balance that outlasts ten years of allowances: never
        assert_eq!(depletion(m("20"), m("1000"), m("5000"), r("1"), now), None);
        // exactly spent at a month start, then credited: not out
        let to_midnight = depletion(m("12"), m("1"), m("100"), r("1"), now);
        assert_eq!(to_midnight, Some(at(6, 1, 1, 0)));
    }

    #[test]
    fn a_forecast_credits_on_the_first_and_never_goes_below_zero() {
        let now = at(5, 30, 0, 0);
        let daily = forecast(
            m("30"),
            m("100"),
            m("110"),
            r("1"),
            now,
            ForecastHorizon::Daily,
        );
        assert_eq!(daily.len(), 91);
        assert_eq!(daily[0], (at(5, 31, 0, 0), m("6")));
        assert_eq!(daily[1], (at(6, 1, 0, 0), m("100")));
        assert_eq!(daily[2], (at(6, 2, 0, 0), m("76")));
        assert_eq!(daily[5], (at(6, 5, 0, 0), m("4")));
        assert_eq!(daily[6], (at(6, 6, 0, 0), m("0")));
        let monthly = forecast(
            m("30"),
            m("100"),
            m("110"),
            r("1"),
            now,
            ForecastHorizon::Monthly,
        );
        assert_eq!(monthly.len(), 12);
        assert_eq!(monthly[0], (at(6, 1, 0, 0), m("100")));
        assert_eq!(monthly[1], (at(7, 1, 0, 0), m("100")));
        let hourly = forecast(
            m("30"),
            m("0"),
            m("110"),
            r("0.5"),
            now + TimeDelta::minutes(30),
            ForecastHorizon::Hourly,
        );
        assert_eq!(hourly.len(), 14 * 24);
        assert_eq!(hourly[0], (at(5, 30, 1, 0), m("29.75")));
        assert_eq!(hourly[1], (at(5, 30, 2, 0), m("29.25")));
    }

    /// Inputs near the edges too: balances and allowances that are whole
    /// hours of the rate (so the money runs out exactly at a boundary, a
    /// month start among them), `now` on and between hour boundaries.
    fn inputs() -> impl Strategy<Value = (Money, Money, Money, Rate, Timestamp)> {
        (
            (0i64..3000, -1_000i64..3_000),
            0u32..20_000,
            (0i64..1_000, prop_oneof![Just(0i64), 0i64..3_000]),
            0i64..400_000,
            (0i64..(366 * 24), prop_oneof![Just(0i64), 0i64..3_600_000]),
        )
            .prop_map(
                |(
                    (balance_hours, balance_cents),
                    mills,
                    (allowance_hours, allowance_cents),
                    max_cents,
                    (hours, millis),
                )| {
                    let rate = Rate::from_mills(mills);
                    let whole_hours = |hours| rate.for_duration(TimeDelta::hours(hours));
                    let balance = whole_hours(balance_hours) + Money::from_cents(balance_cents);
                    let allowance =
                        whole_hours(allowance_hours) + Money::from_cents(allowance_cents);
                    let now =
                        at(1, 1, 0, 0) + TimeDelta::hours(hours) + TimeDelta::milliseconds(millis);
                    (balance, allowance, Money::from_cents(max_cents), rate, now)
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn depletion_is_the_hour_stepping_answer((balance, allowance, max, rate, now) in inputs()) {
            let limit = now + TimeDelta::days(366);
            let fast = depletion(balance, allowance, max, rate, now);
            match depletion_by_hours(balance, allowance, max, rate, now, limit) {
                Some(expected) => prop_assert_eq!(fast, Some(expected)),
                None => prop_assert!(fast.is_none_or(|d| d > limit), "{fast:?}"),
            }
        }

        #[test]
        fn running_out_at_a_month_start_is_the_hour_stepping_answer(
            (_, allowance, max, rate, now) in inputs(),
            months_ahead in 0usize..3,
            short_by in 0u32..1000,
        ) {
            // the balance runs out in the hour before a month's credit
            prop_assume!(!rate.is_zero());
            let credit = std::iter::successors(Some(calendar::next_month_start(now)), |t| Some(calendar::next_month_start(*t)))
                .nth(months_ahead)
                .unwrap();
            let short_by = rate.hour_cost().times(rust_decimal::Decimal::new(i64::from(short_by), 3));
            let balance = rate.for_duration(credit - now) - short_by;
            let max = max.max(balance);
            let limit = now + TimeDelta::days(366);
            let fast = depletion(balance, allowance, max, rate, now);
            match depletion_by_hours(balance, allowance, max, rate, now, limit) {
                Some(expected) => prop_assert_eq!(fast, Some(expected)),
                None => prop_assert!(fast.is_none_or(|d| d > limit), "{fast:?}"),
            }
        }

        #[test]
        fn forecasts_are_the_hour_stepping_answer(
            (balance, allowance, max, rate, now) in inputs(),
            horizon in proptest::sample::select(vec![ForecastHorizon::Hourly, ForecastHorizon::Daily, ForecastHorizon::Monthly]),
        ) {
            let fast = forecast(balance, allowance, max, rate, now, horizon);
            prop_assert_eq!(&fast, &forecast_by_hours(balance, allowance, max, rate, now, horizon));
            prop_assert!(fast.iter().all(|(_, b)| !b.is_negative()));
            prop_assert!(fast.iter().all(|(t, _)| *t > now));
        }

        #[test]
        fn the_balance_rises_only_on_the_first((balance, allowance, max, rate, now) in inputs()) {
            let hourly = forecast(balance, allowance, max, rate, now, ForecastHorizon::Hourly);
            for pair in hourly.windows(2) {
                let ((_, before), (t, after)) = (pair[0], pair[1]);
                if !calendar::is_month_start(t) {
                    let spent = if before.is_positive() { before - rate.hour_cost() } else { before };
                    prop_assert_eq!(after, spent.min(max).max(Money::ZERO));
                }
            }
        }

        #[test]
        fn the_forecast_first_reaches_zero_at_depletion((balance, allowance, max, rate, now) in inputs()) {
            prop_assume!(balance.is_positive());
            let hourly = forecast(balance, allowance, max, rate, now, ForecastHorizon::Hourly);
            let first_zero = hourly.iter().find(|(_, b)| b.is_zero()).map(|(t, _)| *t);
            let last = hourly.last().map(|(t, _)| *t);
            let runs_out = depletion(balance, allowance, max, rate, now).filter(|d| Some(*d) <= last);
            prop_assert_eq!(first_zero, runs_out);
        }
    }
}
