//! Organizations as accounts (docs/domain.md §8): the account (owners and
//! administrators see it; administrators change it, every change audited
//! with its reason), reconciliation on demand, cost history, burn rates and
//! forecasts.

use chrono::{TimeDelta, Utc};
use slipway_accounts::accounting::{self, cluster_costs};
use slipway_api::types::*;
use slipway_core::cost::{buckets, stats};
use slipway_core::forecast::{BurnRates, ForecastHorizon, burn_rates, depletion, forecast};
use slipway_core::{
    Account, ClusterName, Granularity, HourCost, Level, Money, OrgName, Refusal, Timestamp,
    calendar,
};
use slipway_store::{AccountRecord, MembershipRole, MembershipState};

use crate::caller::{Caller, scope};
use crate::error::{Error, Result};
use crate::{Service, audit_intent};

/// The longest cost history one request reads, in buckets.
const MAX_BUCKETS: i64 = 5000;

impl Service {
    /// The organization, if the caller owns it or administers the site.
    pub(crate) async fn owned_organization(&self, caller: &Caller, name: &str) -> Result<OrgName> {
        caller.require(scope::CLUSTERS_READ)?;
        let org = OrgName::parse(name)?;
        if self.store.organization(&org).await?.is_none() {
            return Err(Error::not_found(format!(
                "organization {org} does not exist"
            )));
        }
        if caller.identity.admin || self.is_owner(caller, &org).await? {
            return Ok(org);
        }
        Err(Error::forbidden(format!(
            "only owners of organization {org} and site administrators may see its account"
        )))
    }

    /// The organization, if the caller belongs to it or administers the
    /// site.
    pub(crate) async fn member_organization(&self, caller: &Caller, name: &str) -> Result<OrgName> {
        caller.require(scope::CLUSTERS_READ)?;
        let org = OrgName::parse(name)?;
        if self.store.organization(&org).await?.is_none() {
            return Err(Error::not_found(format!(
                "organization {org} does not exist"
            )));
        }
        if caller.level_for(&org) < Level::OrgMember {
            return Err(Error::forbidden(format!(
                "only members of organization {org} and site administrators may see its costs"
            )));
        }
        Ok(org)
    }

    pub(crate) async fn is_owner(&self, caller: &Caller, org: &OrgName) -> Result<bool> {
        Ok(self
            .store
            .membership(org, caller.subject())
            .await?
            .is_some_and(|m| {
                m.role == MembershipRole::Owner && m.state == MembershipState::Approved
            }))
    }

    /// The burn rates of the organization's clusters now.
    async fn burn_rates(&self, org: &OrgName) -> Result<BurnRates> {
        let costs = cluster_costs(self.store.as_ref(), org).await.map_err(|e| {
            tracing::error!(error = %e, "cannot read the clusters' costs");
            Error::unavailable("the database is unavailable; try again shortly")
        })?;
        Ok(burn_rates(&costs))
    }

    /// What the organization's clusters cost since the last settlement,
    /// and when that was.
    async fn provisional(
        &self,
        org: &OrgName,
        now: Timestamp,
    ) -> Result<(Vec<HourCost>, Option<Timestamp>)> {
        accounting::provisional_costs(self.store.as_ref(), &self.config.accounts, org, now)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "cannot read the provisional costs");
                Error::unavailable("the database is unavailable; try again shortly")
            })
    }

    async fn account_view(
        &self,
        org: &OrgName,
        record: Option<&AccountRecord>,
        rates: BurnRates,
        now: Timestamp,
    ) -> Result<AccountView> {
        let (provisional, settled_at) = self.provisional(org, now).await?;
        let closed = Account::open(Money::ZERO, Money::ZERO, Money::ZERO, now);
        let account = record.map_or(&closed, |r| &r.account);
        let runs_out = |rate| {
            depletion(
                account.balance,
                account.monthly_allowance,
                account.max_balance,
                rate,
                now,
            )
        };
        Ok(AccountView {
            organization: org.to_string(),
            currency: "USD".into(),
            opened: record.is_some(),
            balance: account.balance,
            monthly_allowance: account.monthly_allowance,
            max_balance: account.max_balance,
            fytd_cost: account.fytd_cost,
            provisional_cost: provisional.iter().map(|h| h.amount).sum(),
            costs_settled_at: settled_at,
            fiscal_year_start: account.fiscal_year_start,
            last_charge_at: account.last_charge_at,
            last_credit_at: account.last_credit_at,
            last_reconciled_at: account.last_reconciled_at,
            depletes_at: DepletionView {
                minimum: record.and(runs_out(rates.minimum)),
                current: record.and(runs_out(rates.current)),
                maximum: record.and(runs_out(rates.maximum)),
            },
            burn_rates: rates_view(rates),
            warnings: record
                .map(|r| r.warnings.iter().cloned().collect())
                .unwrap_or_default(),
        })
    }

    /// The organization's account (owners and administrators).
    pub async fn account(&self, caller: &Caller, name: &str) -> Result<AccountView> {
        let org = self.owned_organization(caller, name).await?;
        let record = self.store.account(&org).await?;
        let rates = self.burn_rates(&org).await?;
        self.account_view(&org, record.as_ref(), rates, Utc::now())
            .await
    }

    /// Opens or changes an account (administrators): allowance, maximum,
    /// balance; audited with the reason. The account is reconciled and its
    /// budget enforced at once, and the answer says what that did — an
    /// account opened in a month is credited that month's allowance at once,
    /// so its balance is the one given plus the allowance.
    pub async fn update_account(
        &self,
        caller: &Caller,
        name: &str,
        req: UpdateAccount,
    ) -> Result<ReconciliationView> {
        caller.require(scope::ORGS_WRITE)?;
        caller.require_admin()?;
        let org = OrgName::parse(name)?;
        let reason = req.reason.trim();
        if reason.is_empty() || reason.chars().count() > 500 {
            return Err(Error::invalid(
                "reason",
                "say why, in 1 to 500 characters (it goes in the audit log)",
            ));
        }
        for (field, value) in [
            ("monthly_allowance", req.monthly_allowance),
            ("max_balance", req.max_balance),
        ] {
            if value.is_some_and(|v| v.is_negative()) {
                return Err(Error::invalid(field, "must not be negative"));
            }
        }
        for (field, value) in [
            ("balance", req.balance),
            ("monthly_allowance", req.monthly_allowance),
            ("max_balance", req.max_balance),
        ] {
            if value.is_some_and(|v| !v.is_whole_cents()) {
                return Err(Error::invalid(field, "must be whole cents"));
            }
        }
        let now = Utc::now();
        let change = |current: Option<&Account>| -> std::result::Result<Account, Refusal> {
            let base = current
                .cloned()
                .unwrap_or_else(|| Account::open(Money::ZERO, Money::ZERO, Money::ZERO, now));
            let next = Account {
                balance: req.balance.unwrap_or(base.balance),
                monthly_allowance: req.monthly_allowance.unwrap_or(base.monthly_allowance),
                max_balance: req.max_balance.unwrap_or(base.max_balance),
                ..base
            };
            if next.balance > next.max_balance {
                return Err(slipway_core::ValidationError::new(
                    "balance",
                    format!(
                        "must not exceed the maximum balance (${})",
                        next.max_balance
                    ),
                )
                .into());
            }
            Ok(next)
        };
        let credited_before = self
            .store
            .account(&org)
            .await?
            .and_then(|r| r.account.last_credit_at);
        let changed = self
            .store
            .change_account(
                &org,
                now,
                &audit_intent(caller, Level::Admin, "account.update"),
                reason,
                &change,
            )
            .await?;
        let mut done = self.reconcile_account(caller, org.as_str()).await?;
        // The change wakes the keeper, which may reconcile before this
        // does: the month's allowance credited after the change is told
        // whoever credited it.
        if done.account.last_credit_at != credited_before && done.credited.is_zero() {
            done.credited = changed.monthly_allowance.cents();
        }
        Ok(done)
    }

    /// Reconciles the account now (owners and administrators): accrues the
    /// costs, credits and debits, enforces the budget.
    pub async fn reconcile_account(
        &self,
        caller: &Caller,
        name: &str,
    ) -> Result<ReconciliationView> {
        let org = self.owned_organization(caller, name).await?;
        let actor = (caller.subject().clone(), caller.name().to_owned());
        let kept = accounting::reconcile(self.store.as_ref(), &self.config.accounts, &org, &actor)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, organization = %org, "reconciliation failed");
                Error::unavailable("the reconciliation failed; try again shortly")
            })?;
        let Some(reconciliation) = kept.reconciled else {
            return Err(Error::conflict(
                "no_account",
                format!(
                    "organization {org} has no account: an administrator opens one by setting its allowance or balance"
                ),
            ));
        };
        let record = self.store.account(&org).await?;
        let rates = self.burn_rates(&org).await?;
        Ok(ReconciliationView {
            account: self
                .account_view(&org, record.as_ref(), rates, Utc::now())
                .await?,
            credited: reconciliation.credited,
            debited: reconciliation.debited,
            capped_off: reconciliation.capped_off,
            hours_charged: reconciliation.charges.len(),
            shut_down: kept.shut_down,
            warned: kept.warned,
        })
    }

    /// Cost history by hour, day or month: of the organization, or one of
    /// its clusters (members of the organization and administrators).
    pub async fn costs(
        &self,
        caller: &Caller,
        name: &str,
        query: CostQuery,
    ) -> Result<CostHistory> {
        let org = self.member_organization(caller, name).await?;
        let granularity: Granularity = query
            .granularity
            .as_deref()
            .unwrap_or("daily")
            .parse()
            .map_err(|e: slipway_core::ValidationError| e.for_field("granularity"))?;
        let now = Utc::now();
        let to = query.to.unwrap_or(now);
        let from = query
            .from
            .unwrap_or_else(|| calendar::earlier(to, TimeDelta::days(30)));
        if from >= to {
            return Err(Error::invalid("from", "must be before to"));
        }
        let span = match granularity {
            Granularity::Hourly => (to - from).num_hours(),
            Granularity::Daily => (to - from).num_days(),
            Granularity::Monthly => (to - from).num_days() / 28,
        };
        if span > MAX_BUCKETS {
            return Err(Error::invalid(
                "from",
                format!(
                    "asks for more than {MAX_BUCKETS} buckets; use a coarser granularity or a shorter span"
                ),
            ));
        }
        let cluster = match &query.cluster {
            Some(c) => {
                let name = ClusterName::parse(c).map_err(|e| e.for_field("cluster"))?;
                let snap = self.snapshot(&name).await?;
                if snap.cluster.organization != org {
                    return Err(Error::not_found(format!(
                        "organization {org} has no cluster {name}"
                    )));
                }
                Some(name)
            }
            None => None,
        };
        let figures = self
            .store
            .cost_figures(&org, cluster.as_ref(), from, to)
            .await?;
        let (mut provisional, settled_at) = self.provisional(&org, now).await?;
        if let Some(cluster) = &cluster {
            provisional.retain(|h| h.cluster == cluster.as_str());
        }
        let history = buckets(&figures, &provisional, granularity, from, to);
        let totals: Vec<Money> = history.iter().map(|b| b.total).collect();
        let stats = stats(&totals);
        Ok(CostHistory {
            organization: org.to_string(),
            cluster: cluster.map(|c| c.to_string()),
            granularity: granularity.as_str().to_owned(),
            from,
            to,
            currency: "USD".into(),
            total: totals.iter().copied().sum(),
            provisional: history.iter().map(|b| b.provisional).sum(),
            settled_at,
            buckets: history
                .into_iter()
                .map(|b| CostBucketView {
                    start: b.start,
                    end: b.end,
                    total: b.total,
                    provisional: b.provisional,
                    by_cluster: b.by_cluster,
                    by_source: b
                        .by_source
                        .into_iter()
                        .map(|(source, amount)| (source.as_str().to_owned(), amount))
                        .collect(),
                })
                .collect(),
            stats: CostStats {
                count: stats.count,
                mean: stats.mean,
                min: stats.min,
                max: stats.max,
                std: stats.std,
            },
        })
    }

    /// The balance ahead at the minimum, current and maximum rates (owners
    /// and administrators).
    pub async fn forecast(&self, caller: &Caller, name: &str) -> Result<ForecastView> {
        let org = self.owned_organization(caller, name).await?;
        let record = self.store.account(&org).await?;
        let Some(record) = record else {
            return Err(Error::not_found(format!(
                "organization {org} has no account to forecast: an administrator opens one by setting its allowance or balance"
            )));
        };
        let account = &record.account;
        let rates = self.burn_rates(&org).await?;
        let now = Utc::now();
        let series = |rate| {
            let points = |horizon| {
                forecast(
                    account.balance,
                    account.monthly_allowance,
                    account.max_balance,
                    rate,
                    now,
                    horizon,
                )
                .into_iter()
                .map(|(at, balance)| BalancePoint { at, balance })
                .collect()
            };
            ForecastSeries {
                rate,
                hourly: points(ForecastHorizon::Hourly),
                daily: points(ForecastHorizon::Daily),
                monthly: points(ForecastHorizon::Monthly),
            }
        };
        let view = self.account_view(&org, Some(&record), rates, now).await?;
        Ok(ForecastView {
            organization: org.to_string(),
            currency: "USD".into(),
            balance: account.balance,
            burn_rates: view.burn_rates,
            depletes_at: view.depletes_at,
            minimum: series(rates.minimum),
            current: series(rates.current),
            maximum: series(rates.maximum),
        })
    }
}

fn rates_view(rates: BurnRates) -> RatesView {
    RatesView {
        minimum: rates.minimum,
        current: rates.current,
        maximum: rates.maximum,
    }
}
