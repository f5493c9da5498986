//! An organization's budget account and its reconciliation (docs/domain.md §8):
//! generation 1's rule — credit the monthly allowance, debit the costs, cap
//! the balance — made exact and hourly.
//!
//! Costs are kept exact per (cluster, hour) and charged as they become known
//! or are revised (a Cost Explorer figure replacing the model's estimate).
//! The balance moves in whole cents: each reconciliation debits the change
//! in the *rounded* running total of everything ever charged, so rounding
//! never drifts however often it runs, and each cost is debited exactly once.

use chrono::Datelike;
use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::calendar;
use crate::money::Money;

/// An organization's budget account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// What the organization may still spend; always whole cents.
    pub balance: Money,
    /// Credited once at the start of each month.
    pub monthly_allowance: Money,
    /// The balance never exceeds this after a reconciliation.
    pub max_balance: Money,
    /// Exact cost of the hours of the current fiscal year charged so far.
    pub fytd_cost: Money,
    /// The start of the fiscal year `fytd_cost` counts.
    pub fiscal_year_start: Timestamp,
    /// The exact sum of every cost ever charged, unrounded.
    pub charged_total: Money,
    /// When costs were last charged.
    pub last_charge_at: Option<Timestamp>,
    /// The start of the month last credited.
    pub last_credit_at: Option<Timestamp>,
    /// When the account was last reconciled.
    pub last_reconciled_at: Option<Timestamp>,
}

impl Account {
    /// A new account at `now` with `balance` (rounded half up to cents),
    /// never credited, charged or reconciled: the first reconciliation
    /// credits this month's allowance.
    pub fn open(
        balance: Money,
        monthly_allowance: Money,
        max_balance: Money,
        now: Timestamp,
    ) -> Account {
        Account {
            balance: balance.cents(),
            monthly_allowance,
            max_balance,
            fytd_cost: Money::ZERO,
            fiscal_year_start: fiscal_year_start(now),
            charged_total: Money::ZERO,
            last_charge_at: None,
            last_credit_at: None,
            last_reconciled_at: None,
        }
    }
}

/// 1 October 00:00 UTC of the fiscal year containing `t` (for 2020-01-26 it
/// is 2019-10-01).
pub fn fiscal_year_start(t: Timestamp) -> Timestamp {
    let year = if t.month() >= 10 {
        t.year()
    } else {
        t.year() - 1
    };
    calendar::month_start_of(year, 10).unwrap_or(t)
}

/// One (cluster, hour)'s cost as it stands now, and what earlier
/// reconciliations already charged for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Charge {
    /// The cluster's name.
    pub cluster: String,
    /// The start of the UTC hour.
    pub hour: Timestamp,
    /// What the hour costs now: Cost Explorer's figure if known, else the
    /// model's. Exact.
    pub effective: Money,
    /// What earlier reconciliations charged for it (zero if none). Exact.
    pub charged: Money,
}

impl Charge {
    /// What is still to charge: negative when a figure was revised down.
    pub fn delta(&self) -> Money {
        self.effective - self.charged
    }
}

/// What a reconciliation did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reconciliation {
    /// The account afterwards.
    pub account: Account,
    /// The allowance credited (zero if this month's was already).
    pub credited: Money,
    /// Whole cents taken from the balance; negative when revisions gave
    /// money back.
    pub debited: Money,
    /// Whole cents the cap at the maximum balance took off.
    pub capped_off: Money,
    /// The (cluster, hour)s whose charged amount changed, each with its new
    /// `charged` (= `effective`), for the store to record. Empty when
    /// nothing changed.
    pub charges: Vec<Charge>,
}

/// Reconciles `account` at `now` with the current costs of the hours not yet
/// fully charged, in this order:
///
/// 1. **credit**: if the month containing `now` began after the last credit
///    (or there never was one), add one monthly allowance — once, however
///    many months were missed — and note this month's start as the credit;
/// 2. **debit**: charge each hour's `effective − charged`; the balance
///    decreases by the change of the charged total rounded to cents, and the
///    fiscal-year-to-date cost grows by the charges of hours in the fiscal
///    year of `now` (restarting when a new fiscal year has begun);
/// 3. **cap**: the balance is at most the maximum balance.
///
/// Amounts credited and capped are whole cents (the allowance and maximum are
/// rounded half up), so the balance always is. Idempotent: reconciling the
/// result again at the same `now`, with the charges recorded, changes
/// nothing. Each (cluster, hour) is expected once in `charges`.
pub fn reconcile(account: &Account, now: Timestamp, charges: &[Charge]) -> Reconciliation {
    let mut next = account.clone();
    next.balance = account.balance.cents();
    let credited = credit(&mut next, now);
    let debited = debit(&mut next, now, charges);
    let capped_off = cap(&mut next);
    next.last_reconciled_at = Some(now);
    Reconciliation {
        account: next,
        credited,
        debited,
        capped_off,
        charges: charges
            .iter()
            .filter(|c| c.effective != c.charged)
            .map(|c| Charge {
                charged: c.effective,
                ..c.clone()
            })
            .collect(),
    }
}

/// Step 1: one allowance if this month was not credited yet.
fn credit(account: &mut Account, now: Timestamp) -> Money {
    let this_month = calendar::month_start(now);
    if account
        .last_credit_at
        .is_some_and(|last| this_month <= last)
    {
        return Money::ZERO;
    }
    let credited = account.monthly_allowance.cents();
    account.balance += credited;
    account.last_credit_at = Some(this_month);
    credited
}

/// Step 2: the charges, debited in whole cents of the running total.
fn debit(account: &mut Account, now: Timestamp, charges: &[Charge]) -> Money {
    let total_delta: Money = charges.iter().map(Charge::delta).sum();
    let before = account.charged_total;
    account.charged_total = before + total_delta;
    let debited = account.charged_total.cents() - before.cents();
    account.balance -= debited;

    let fiscal_year = fiscal_year_start(now);
    let this_year: Money = charges
        .iter()
        .filter(|c| c.hour >= fiscal_year)
        .map(Charge::delta)
        .sum();
    if fiscal_year != account.fiscal_year_start {
        account.fiscal_year_start = fiscal_year;
        account.fytd_cost = this_year;
    } else {
        account.fytd_cost += this_year;
    }
    account.last_charge_at = Some(now);
    debited
}

/// Step 3: the balance is at most the maximum.
fn cap(account: &mut Account) -> Money {
    let max = account.max_balance.cents();
    if account.balance <= max {
        return Money::ZERO;
    }
    let capped_off = account.balance - max;
    account.balance = max;
    capped_off
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeDelta, TimeZone, Utc};
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn m(text: &str) -> Money {
        Money::parse(text).unwrap()
    }

    fn at(y: i32, mo: u32, d: u32, h: u32) -> Timestamp {
        Utc.with_ymd_and_hms(y, mo, d, h, 0, 0).unwrap()
    }

    fn charge(hour: Timestamp, effective: &str, charged: &str) -> Charge {
        Charge {
            cluster: "c".into(),
            hour,
            effective: m(effective),
            charged: m(charged),
        }
    }

    #[test]
    fn fiscal_years_start_on_the_first_of_october() {
        assert_eq!(fiscal_year_start(at(2020, 1, 26, 12)), at(2019, 10, 1, 0));
        assert_eq!(fiscal_year_start(at(2019, 10, 1, 0)), at(2019, 10, 1, 0));
        assert_eq!(
            fiscal_year_start(at(2019, 10, 1, 0) - TimeDelta::seconds(1)),
            at(2018, 10, 1, 0)
        );
        assert_eq!(fiscal_year_start(at(2019, 12, 31, 23)), at(2019, 10, 1, 0));
    }

    /// Generation 1's example: balance 2000 + allowance 1000 → 3000; then
    /// daily costs 8 then 9 → 2992 → 2983.
    #[test]
    fn generation_1s_example() {
        let opened = at(2020, 1, 1, 0);
        let account = Account::open(m("2000"), m("1000"), m("20000"), opened);
        let first = reconcile(&account, at(2020, 1, 1, 1), &[]);
        assert_eq!(first.credited, m("1000"));
        assert_eq!(first.account.balance, m("3000"));
        assert_eq!(first.account.last_credit_at, Some(opened));

        let day_1 = reconcile(
            &first.account,
            at(2020, 1, 2, 0),
            &[charge(at(2020, 1, 1, 0), "8", "0")],
        );
        assert_eq!((day_1.credited, day_1.debited), (Money::ZERO, m("8")));
        assert_eq!(day_1.account.balance, m("2992"));
        assert_eq!(day_1.charges, [charge(at(2020, 1, 1, 0), "8", "8")]);

        let day_2 = reconcile(
            &day_1.account,
            at(2020, 1, 3, 0),
            &[charge(at(2020, 1, 2, 0), "9", "0")],
        );
        assert_eq!(day_2.account.balance, m("2983"));
        assert_eq!(day_2.account.fytd_cost, m("17"));
        assert_eq!(day_2.account.charged_total, m("17"));
        assert_eq!(day_2.account.fiscal_year_start, at(2019, 10, 1, 0));
        assert_eq!(day_2.account.last_charge_at, Some(at(2020, 1, 3, 0)));
        assert_eq!(day_2.account.last_reconciled_at, Some(at(2020, 1, 3, 0)));
    }

    #[test]
    fn one_allowance_however_many_months_were_missed() {
        let mut account = Account::open(m("0"), m("100"), m("1000"), at(2026, 1, 5, 0));
        account.last_credit_at = Some(at(2026, 1, 1, 0));
        let later = reconcile(&account, at(2026, 6, 15, 0), &[]);
        assert_eq!(later.credited, m("100"));
        assert_eq!(later.account.last_credit_at, Some(at(2026, 6, 1, 0)));
        let again = reconcile(&later.account, at(2026, 6, 30, 23), &[]);
        assert_eq!(again.credited, Money::ZERO);
        assert_eq!(again.account.balance, m("100"));
    }

    #[test]
    fn rounding_never_drifts() {
        // a third of a cent, a hundred times: each debit is the change of the
        // rounded running total
        let mut account = Account::open(m("10"), m("0"), m("10"), at(2026, 5, 1, 0));
        let mut debited = Money::ZERO;
        for hour in 0..100 {
            let now = at(2026, 5, 1, 0) + TimeDelta::hours(hour + 1);
            let charges = [charge(now - TimeDelta::hours(1), "0.0033333333", "0")];
            let result = reconcile(&account, now, &charges);
            debited += result.debited;
            account = result.account;
        }
        assert_eq!(account.charged_total, m("0.33333333"));
        assert_eq!(debited, m("0.33"));
        assert_eq!(account.balance, m("9.67"));
    }

    #[test]
    fn a_revision_down_gives_money_back() {
        let account = Account::open(m("100"), m("0"), m("1000"), at(2026, 5, 1, 0));
        let hour = at(2026, 5, 1, 0);
        let first = reconcile(&account, at(2026, 5, 1, 1), &[charge(hour, "1.2465", "0")]);
        assert_eq!(first.debited, m("1.25"));
        assert_eq!(first.account.balance, m("98.75"));
        let revised = reconcile(
            &first.account,
            at(2026, 5, 1, 9),
            &[charge(hour, "0.9", "1.2465")],
        );
        assert_eq!(revised.debited, m("-0.35"));
        assert_eq!(revised.account.balance, m("99.10"));
        assert_eq!(revised.account.fytd_cost, m("0.9"));
        assert_eq!(revised.charges, [charge(hour, "0.9", "0.9")]);
    }

    #[test]
    fn the_balance_is_capped_after_credit_and_debit() {
        let account = Account::open(m("950"), m("100"), m("1000"), at(2026, 5, 1, 0));
        let result = reconcile(
            &account,
            at(2026, 5, 1, 1),
            &[charge(at(2026, 5, 1, 0), "20", "0")],
        );
        assert_eq!(result.credited, m("100"));
        assert_eq!(result.debited, m("20"));
        assert_eq!(result.capped_off, m("30"));
        assert_eq!(result.account.balance, m("1000"));
    }

    #[test]
    fn a_new_fiscal_year_restarts_the_fiscal_year_to_date_cost() {
        let mut account = Account::open(m("100"), m("0"), m("1000"), at(2026, 9, 1, 0));
        account.fytd_cost = m("500");
        let charges = [
            charge(at(2026, 9, 30, 23), "2", "0"),
            charge(at(2026, 10, 1, 0), "3", "0"),
        ];
        let result = reconcile(&account, at(2026, 10, 1, 1), &charges);
        assert_eq!(result.account.fiscal_year_start, at(2026, 10, 1, 0));
        assert_eq!(result.account.fytd_cost, m("3"));
        assert_eq!(result.account.charged_total, m("5"));
        assert_eq!(result.debited, m("5"));
    }

    fn arbitrary_account() -> impl Strategy<Value = Account> {
        (0i64..100_000, 0i64..50_000, 0i64..200_000, 0i64..1000).prop_map(
            |(balance, allowance, max, opened_hours)| {
                let opened = at(2025, 1, 1, 0) + TimeDelta::hours(opened_hours);
                Account::open(
                    Money::from_cents(balance),
                    Money::from_cents(allowance),
                    Money::from_cents(max),
                    opened,
                )
            },
        )
    }

    /// A run of reconciliations: hours later each time, with new hours and
    /// revisions of earlier ones (exact amounts of up to 10 decimals).
    fn arbitrary_run() -> impl Strategy<Value = Vec<(i64, Vec<(i64, i64)>)>> {
        proptest::collection::vec(
            (
                0i64..2000,
                proptest::collection::vec((0i64..30, 0i64..100_000_000_000), 0..4),
            ),
            1..12,
        )
    }

    /// Replays a run from `account`; returns every reconciliation and the
    /// charged amount per hour afterwards.
    fn replay(
        account: &Account,
        run: &[(i64, Vec<(i64, i64)>)],
    ) -> (Vec<(Timestamp, Reconciliation)>, BTreeMap<Timestamp, Money>) {
        let mut now = account.fiscal_year_start;
        let mut account = account.clone();
        let mut charged: BTreeMap<Timestamp, Money> = BTreeMap::new();
        let mut results = Vec::new();
        for (step_hours, costs) in run {
            now += TimeDelta::hours(*step_hours);
            let mut charges: BTreeMap<Timestamp, Charge> = BTreeMap::new();
            for (hours_ago, units) in costs {
                let hour = calendar::hour_start(now) - TimeDelta::hours(*hours_ago);
                charges.insert(
                    hour,
                    Charge {
                        cluster: "c".into(),
                        hour,
                        effective: Money::from_decimal(rust_decimal::Decimal::new(*units, 10))
                            .unwrap(),
                        charged: charged.get(&hour).copied().unwrap_or_default(),
                    },
                );
            }
            let charges: Vec<Charge> = charges.into_values().collect();
            let result = reconcile(&account, now, &charges);
            for c in &result.charges {
                charged.insert(c.hour, c.charged);
            }
            account = result.account.clone();
            results.push((now, result));
        }
        (results, charged)
    }

    proptest! {
        #[test]
        fn one_allowance_per_new_month_never_two_in_one(
            account in arbitrary_account(),
            steps in proptest::collection::vec(0i64..3000, 1..20),
        ) {
            let mut now = account.fiscal_year_start;
            let mut account = account;
            let mut credited_months = Vec::new();
            for step in steps {
                now += TimeDelta::hours(step);
                let result = reconcile(&account, now, &[]);
                let this_month = calendar::month_start(now);
                let new_month = credited_months.last() != Some(&this_month);
                prop_assert_eq!(result.credited.is_positive(), new_month && account.monthly_allowance.is_positive());
                prop_assert_eq!(result.credited, if new_month { account.monthly_allowance } else { Money::ZERO });
                if new_month {
                    credited_months.push(this_month);
                }
                prop_assert_eq!(result.account.last_credit_at, Some(this_month));
                account = result.account;
            }
        }

        #[test]
        fn the_balance_stays_whole_cents_and_capped(account in arbitrary_account(), run in arbitrary_run()) {
            let (results, _) = replay(&account, &run);
            for (_, result) in results {
                prop_assert!(result.account.balance.is_whole_cents());
                prop_assert!(result.account.balance <= result.account.max_balance);
                prop_assert!(result.debited.is_whole_cents() && result.capped_off.is_whole_cents());
                prop_assert!(!result.capped_off.is_negative());
            }
        }

        #[test]
        fn reconciling_again_changes_nothing(account in arbitrary_account(), run in arbitrary_run()) {
            let (results, charged) = replay(&account, &run);
            let (now, last) = results.last().unwrap();
            let recorded: Vec<Charge> = charged
                .iter()
                .map(|(hour, amount)| charge(*hour, &amount.to_string(), &amount.to_string()))
                .collect();
            let again = reconcile(&last.account, *now, &recorded);
            prop_assert_eq!(&again.account, &last.account);
            prop_assert_eq!(again.credited, Money::ZERO);
            prop_assert_eq!(again.debited, Money::ZERO);
            prop_assert_eq!(again.capped_off, Money::ZERO);
            prop_assert!(again.charges.is_empty());
        }

        #[test]
        fn the_total_debited_is_the_rounded_total_cost(account in arbitrary_account(), run in arbitrary_run()) {
            let (results, charged) = replay(&account, &run);
            let debited: Money = results.iter().map(|(_, r)| r.debited).sum();
            let exact_total: Money = charged.values().sum();
            prop_assert_eq!(debited, exact_total.cents());
            let credited: Money = results.iter().map(|(_, r)| r.credited).sum();
            let capped: Money = results.iter().map(|(_, r)| r.capped_off).sum();
            let last = &results.last().unwrap().1.account;
            prop_assert_eq!(last.balance, account.balance + credited - debited - capped);
            prop_assert_eq!(last.charged_total, exact_total);
        }

        #[test]
        fn fiscal_year_to_date_counts_this_fiscal_years_hours(account in arbitrary_account(), run in arbitrary_run()) {
            let (results, _) = replay(&account, &run);
            // the reference: the deltas of this fiscal year's hours charged
            // since the fiscal year began
            let (now, last) = results.last().unwrap();
            let fiscal_year = fiscal_year_start(*now);
            let mut expected = Money::ZERO;
            let mut charged: BTreeMap<Timestamp, Money> = BTreeMap::new();
            for (when, result) in &results {
                for c in &result.charges {
                    let before = charged.insert(c.hour, c.charged).unwrap_or_default();
                    if fiscal_year_start(*when) == fiscal_year && c.hour >= fiscal_year {
                        expected += c.charged - before;
                    }
                }
            }
            if fiscal_year == account.fiscal_year_start {
                expected += account.fytd_cost;
            }
            prop_assert_eq!(last.account.fiscal_year_start, fiscal_year);
            prop_assert_eq!(last.account.fytd_cost, expected);
        }
    }
}
