//! Organizations' money: accounts (exact decimals as text), what each
//! cluster cost per hour and what of it was charged, which node count ran
//! when, capacity requests.

use std::collections::BTreeSet;

use async_trait::async_trait;
use slipway_core::{
    Account, CapacityRequest, CapacityWait, Charge, ClusterName, CostFigure, CostSource, HourCost,
    Money, OrgName, Rate, Reconciliation, SizeSpan, Timestamp, calendar,
};

use super::rows::*;
use super::{SqlStore, locking};
use crate::{
    AccountRecord, AccountStore, AuditIntent, ChangeAccount, Notification, Reconcile, Result,
    StoreError,
};

fn money(what: &str, text: &str) -> Result<Money> {
    Money::parse(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

fn rate(what: &str, text: &str) -> Result<Rate> {
    Rate::parse(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

#[derive(sqlx::FromRow)]
struct AccountRow {
    organization: String,
    balance: String,
    monthly_allowance: String,
    max_balance: String,
    fytd_cost: String,
    fiscal_year_start: i64,
    charged_total: String,
    last_charge_at: Option<i64>,
    last_credit_at: Option<i64>,
    last_reconciled_at: Option<i64>,
    warnings: String,
    updated_at: i64,
}

const ACCOUNT_COLUMNS: &str = "organization, balance, monthly_allowance, max_balance, fytd_cost, \
    fiscal_year_start, charged_total, last_charge_at, last_credit_at, last_reconciled_at, warnings, updated_at";

impl TryFrom<AccountRow> for AccountRecord {
    type Error = StoreError;
    fn try_from(r: AccountRow) -> Result<Self> {
        Ok(AccountRecord {
            organization: OrgName::parse(&r.organization)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            account: Account {
                balance: money("balance", &r.balance)?,
                monthly_allowance: money("monthly allowance", &r.monthly_allowance)?,
                max_balance: money("maximum balance", &r.max_balance)?,
                fytd_cost: money("fiscal-year cost", &r.fytd_cost)?,
                fiscal_year_start: time(r.fiscal_year_start)?,
                charged_total: money("charged total", &r.charged_total)?,
                last_charge_at: r.last_charge_at.map(time).transpose()?,
                last_credit_at: r.last_credit_at.map(time).transpose()?,
                last_reconciled_at: r.last_reconciled_at.map(time).transpose()?,
            },
            warnings: json("warnings", &r.warnings)?,
            updated_at: time(r.updated_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct SpanRow {
    cluster: String,
    since: i64,
    nodes: i64,
    fixed_rate: String,
    per_node_rate: String,
    until: Option<i64>,
}

/// The columns of a capacity request, in [`CapacityRow`]'s order.
macro_rules! capacity_columns {
    () => {
        "id, cluster, subject, name, nodes, expires_at, created_at, waiting"
    };
}
pub(super) use capacity_columns;

#[derive(sqlx::FromRow)]
pub(super) struct CapacityRow {
    id: String,
    cluster: String,
    subject: String,
    name: String,
    nodes: i64,
    expires_at: i64,
    created_at: i64,
    waiting: Option<String>,
}

impl TryFrom<CapacityRow> for CapacityRequest {
    type Error = StoreError;
    fn try_from(r: CapacityRow) -> Result<Self> {
        Ok(CapacityRequest {
            id: r.id,
            cluster: ClusterName::parse(&r.cluster)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            subject: r.subject,
            name: r.name,
            nodes: u32::try_from(r.nodes).unwrap_or(0),
            expires_at: time(r.expires_at)?,
            created_at: time(r.created_at)?,
            waiting: r.waiting.map(|w| json("capacity wait", &w)).transpose()?,
        })
    }
}

impl SqlStore {
    pub(super) async fn load_account(
        &self,
        conn: &mut sqlx::AnyConnection,
        organization: &OrgName,
        lock: bool,
    ) -> Result<Option<AccountRecord>> {
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE organization = $1{}",
            if lock && self.dialect == super::Dialect::Postgres {
                " FOR UPDATE"
            } else {
                ""
            }
        );
        sqlx::query_as::<_, AccountRow>(sqlx::AssertSqlSafe(sql))
            .bind(organization.as_str())
            .fetch_optional(&mut *conn)
            .await?
            .map(AccountRecord::try_from)
            .transpose()
    }

    async fn write_account(
        &self,
        conn: &mut sqlx::AnyConnection,
        organization: &OrgName,
        account: &Account,
        now: Timestamp,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO accounts (organization, balance, monthly_allowance, max_balance, fytd_cost, fiscal_year_start, \
             charged_total, last_charge_at, last_credit_at, last_reconciled_at, warnings, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, '[]', $11) \
             ON CONFLICT (organization) DO UPDATE SET balance = excluded.balance, monthly_allowance = excluded.monthly_allowance, \
             max_balance = excluded.max_balance, fytd_cost = excluded.fytd_cost, fiscal_year_start = excluded.fiscal_year_start, \
             charged_total = excluded.charged_total, last_charge_at = excluded.last_charge_at, \
             last_credit_at = excluded.last_credit_at, last_reconciled_at = excluded.last_reconciled_at, \
             updated_at = excluded.updated_at",
        )
        .bind(organization.as_str())
        .bind(account.balance.to_string())
        .bind(account.monthly_allowance.to_string())
        .bind(account.max_balance.to_string())
        .bind(account.fytd_cost.to_string())
        .bind(millis(account.fiscal_year_start))
        .bind(account.charged_total.to_string())
        .bind(account.last_charge_at.map(millis))
        .bind(account.last_credit_at.map(millis))
        .bind(account.last_reconciled_at.map(millis))
        .bind(millis(now))
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// What the organization's clusters other than `except` cost per hour
    /// now: the rates of their latest spans.
    pub(super) async fn rate_elsewhere(
        &self,
        conn: &mut sqlx::AnyConnection,
        organization: &OrgName,
        except: &ClusterName,
    ) -> Result<Rate> {
        let rows: Vec<(i64, String, String)> = sqlx::query_as(
            "SELECT s.nodes, s.fixed_rate, s.per_node_rate FROM cluster_sizes s \
             WHERE s.organization = $1 AND s.cluster <> $2 AND s.nodes > 0 \
             AND s.since = (SELECT MAX(t.since) FROM cluster_sizes t WHERE t.cluster = s.cluster)",
        )
        .bind(organization.as_str())
        .bind(except.as_str())
        .fetch_all(&mut *conn)
        .await?;
        let mut total = Rate::ZERO;
        for (nodes, fixed, per_node) in rows {
            let model = slipway_core::CostModel {
                fixed_hourly_usd: rate("fixed rate", &fixed)?,
                per_node_hourly_usd: rate("per-node rate", &per_node)?,
            };
            total = total + model.hourly(u32::try_from(nodes).unwrap_or(0));
        }
        Ok(total)
    }

    /// Records that `cluster` runs `nodes` nodes from `now` at the model's
    /// rates, if that changes anything.
    pub(super) async fn record_size(
        &self,
        conn: &mut sqlx::AnyConnection,
        cluster: &slipway_core::Cluster,
        nodes: u32,
        model: slipway_core::CostModel,
        now: Timestamp,
    ) -> Result<()> {
        let last: Option<(i64, String, String)> = sqlx::query_as(
            "SELECT nodes, fixed_rate, per_node_rate FROM cluster_sizes WHERE cluster = $1 ORDER BY since DESC LIMIT 1",
        )
        .bind(cluster.name.as_str())
        .fetch_optional(&mut *conn)
        .await?;
        let fixed = model.fixed_hourly_usd.to_string();
        let per_node = model.per_node_hourly_usd.to_string();
        let unchanged = match &last {
            Some((n, f, p)) => {
                *n == i64::from(nodes) && (nodes == 0 || (*f == fixed && *p == per_node))
            }
            None => nodes == 0,
        };
        if unchanged {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO cluster_sizes (cluster, organization, since, nodes, fixed_rate, per_node_rate) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (cluster, since) DO UPDATE SET nodes = excluded.nodes, \
             fixed_rate = excluded.fixed_rate, per_node_rate = excluded.per_node_rate",
        )
        .bind(cluster.name.as_str())
        .bind(cluster.organization.as_str())
        .bind(millis(now))
        .bind(i64::from(nodes))
        .bind(fixed)
        .bind(per_node)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// A cluster's requests, for its snapshot.
    pub(super) async fn load_capacity(
        &self,
        conn: &mut sqlx::AnyConnection,
        cluster: &ClusterName,
    ) -> Result<Vec<CapacityRequest>> {
        convert(
            sqlx::query_as::<_, CapacityRow>(concat!(
                "SELECT ",
                capacity_columns!(),
                " FROM capacity_requests WHERE cluster = $1 ORDER BY expires_at, id"
            ))
            .bind(cluster.as_str())
            .fetch_all(&mut *conn)
            .await?,
        )
    }
}

#[async_trait]
impl AccountStore for SqlStore {
    async fn account(&self, organization: &OrgName) -> Result<Option<AccountRecord>> {
        let mut conn = self.pool.acquire().await?;
        self.load_account(&mut conn, organization, false).await
    }

    async fn accounted_organizations(&self) -> Result<Vec<OrgName>> {
        let names: Vec<String> =
            sqlx::query_scalar("SELECT organization FROM accounts ORDER BY organization")
                .fetch_all(&self.pool)
                .await?;
        names
            .iter()
            .map(|n| OrgName::parse(n).map_err(|e| StoreError::Corrupt(e.to_string())))
            .collect()
    }

    async fn change_account(
        &self,
        organization: &OrgName,
        now: Timestamp,
        audit: &AuditIntent,
        reason: &str,
        change: &ChangeAccount<'_>,
    ) -> Result<Account> {
        let mut tx = self.begin().await?;
        let exists: Option<String> =
            sqlx::query_scalar("SELECT name FROM organizations WHERE name = $1")
                .bind(organization.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        if exists.is_none() {
            return Err(StoreError::OrganizationNotFound(organization.to_string()));
        }
        let before = self.load_account(&mut tx, organization, true).await?;
        let after = change(before.as_ref().map(|r| &r.account))?;
        self.write_account(&mut tx, organization, &after, now)
            .await?;
        self.insert_audit(
            &mut tx,
            &audit.entry(
                now,
                organization.as_str(),
                if before.is_some() {
                    "changed"
                } else {
                    "opened"
                },
                serde_json::json!({
                    "reason": reason,
                    "before": before.as_ref().map(|r| account_summary(&r.account)),
                    "after": account_summary(&after),
                }),
            ),
        )
        .await?;
        tx.commit().await?;
        self.notify([Notification::AccountChanged {
            organization: organization.clone(),
        }])
        .await;
        Ok(after)
    }

    async fn size_spans(
        &self,
        organization: &OrgName,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<SizeSpan>> {
        // Each span ends where the cluster's next one begins.
        let rows: Vec<SpanRow> = sqlx::query_as(
            "SELECT s.cluster, s.since, s.nodes, s.fixed_rate, s.per_node_rate, \
             (SELECT MIN(t.since) FROM cluster_sizes t WHERE t.cluster = s.cluster AND t.since > s.since) AS until \
             FROM cluster_sizes s WHERE s.organization = $1 AND s.since < $3 AND s.nodes > 0 \
             AND COALESCE((SELECT MIN(t.since) FROM cluster_sizes t WHERE t.cluster = s.cluster AND t.since > s.since), $3) > $2 \
             ORDER BY s.cluster, s.since",
        )
        .bind(organization.as_str())
        .bind(millis(from))
        .bind(millis(to))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(SizeSpan {
                    cluster: r.cluster,
                    start: time(r.since)?,
                    end: r.until.map(time).transpose()?,
                    nodes: u32::try_from(r.nodes).unwrap_or(0),
                    model: slipway_core::CostModel {
                        fixed_hourly_usd: rate("fixed rate", &r.fixed_rate)?,
                        per_node_hourly_usd: rate("per-node rate", &r.per_node_rate)?,
                    },
                })
            })
            .collect()
    }

    async fn record_costs(
        &self,
        organization: &OrgName,
        source: CostSource,
        hours: &[HourCost],
        accrued_through: Option<Timestamp>,
    ) -> Result<bool> {
        let column = match source {
            CostSource::Model => "model",
            CostSource::CostExplorer => "cost_explorer",
        };
        let sql = format!(
            "INSERT INTO cost_hours (cluster, organization, hour, {column}, charged, unsettled) VALUES ($1, $2, $3, $4, '0', 1) \
             ON CONFLICT (cluster, hour) DO UPDATE SET {column} = excluded.{column}, \
             unsettled = CASE WHEN cost_hours.{column} IS NULL OR cost_hours.{column} <> excluded.{column} THEN 1 ELSE cost_hours.unsettled END"
        );
        let mut tx = self.begin().await?;
        if let Some(through) = accrued_through {
            // One accrual at a time per organization (its row locked on
            // PostgreSQL; SQLite's write transaction is exclusive), and
            // never backwards: the figures and the instant they run to are
            // written together, so what is shown as provisional (accrued
            // since then) is never counted twice.
            let accrued: Option<Option<i64>> = sqlx::query_scalar(locking!(
                self.dialect,
                "SELECT costs_accrued_at FROM organizations WHERE name = $1"
            ))
            .bind(organization.as_str())
            .fetch_optional(&mut *tx)
            .await?;
            if accrued.flatten().is_some_and(|at| at >= millis(through)) {
                tx.rollback().await?;
                return Ok(false);
            }
            sqlx::query("UPDATE organizations SET costs_accrued_at = $2 WHERE name = $1")
                .bind(organization.as_str())
                .bind(millis(through))
                .execute(&mut *tx)
                .await?;
        }
        for hour in hours {
            sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(hour.cluster.as_str())
                .bind(organization.as_str())
                .bind(millis(hour.hour))
                .bind(hour.amount.to_string())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn costs_accrued_at(&self, organization: &OrgName) -> Result<Option<Timestamp>> {
        let at: Option<Option<i64>> =
            sqlx::query_scalar("SELECT costs_accrued_at FROM organizations WHERE name = $1")
                .bind(organization.as_str())
                .fetch_optional(&self.pool)
                .await?;
        at.flatten().map(time).transpose()
    }

    async fn reconcile(
        &self,
        organization: &OrgName,
        now: Timestamp,
        audit: &AuditIntent,
        rule: &Reconcile<'_>,
    ) -> Result<Option<Reconciliation>> {
        let mut tx = self.begin().await?;
        let Some(record) = self.load_account(&mut tx, organization, true).await? else {
            tx.rollback().await?;
            return Ok(None);
        };
        let rows: Vec<(String, i64, Option<String>, Option<String>, String)> = sqlx::query_as(
            "SELECT cluster, hour, model, cost_explorer, charged FROM cost_hours \
             WHERE organization = $1 AND unsettled = 1 ORDER BY cluster, hour",
        )
        .bind(organization.as_str())
        .fetch_all(&mut *tx)
        .await?;
        let mut charges = Vec::with_capacity(rows.len());
        for (cluster, hour, model, cost_explorer, charged) in rows {
            let effective = match (&cost_explorer, &model) {
                (Some(figure), _) | (None, Some(figure)) => money("cost", figure)?,
                (None, None) => Money::ZERO,
            };
            charges.push(Charge {
                cluster,
                hour: time(hour)?,
                effective,
                charged: money("charged", &charged)?,
            });
        }
        let reconciliation = rule(&record.account, &charges);
        self.write_account(&mut tx, organization, &reconciliation.account, now)
            .await?;
        // Exactly the hours read above are settled, at the figures read,
        // many per statement: a year's catch-up is a few dozen statements,
        // not 8,760.
        const ROWS: usize = 300;
        for chunk in charges.chunks(ROWS) {
            let values = (0..chunk.len())
                .map(|i| format!("(${}, ${}, ${})", 3 * i + 1, 3 * i + 2, 3 * i + 3))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "UPDATE cost_hours SET charged = v.column3, unsettled = 0 FROM (VALUES {values}) AS v \
                 WHERE cost_hours.cluster = v.column1 AND cost_hours.hour = v.column2"
            );
            let mut update = sqlx::query(sqlx::AssertSqlSafe(sql));
            for charge in chunk {
                update = update
                    .bind(charge.cluster.as_str())
                    .bind(millis(charge.hour))
                    .bind(charge.effective.to_string());
            }
            update.execute(&mut *tx).await?;
        }
        self.insert_audit(
            &mut tx,
            &audit.entry(
                now,
                organization.as_str(),
                "reconciled",
                serde_json::json!({
                    "credited": reconciliation.credited,
                    "debited": reconciliation.debited,
                    "capped_off": reconciliation.capped_off,
                    "hours_charged": reconciliation.charges.len(),
                    "balance": reconciliation.account.balance,
                }),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(Some(reconciliation))
    }

    async fn set_warnings(
        &self,
        organization: &OrgName,
        warnings: &BTreeSet<String>,
    ) -> Result<()> {
        sqlx::query("UPDATE accounts SET warnings = $2 WHERE organization = $1")
            .bind(organization.as_str())
            .bind(to_json(warnings))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn cost_figures(
        &self,
        organization: &OrgName,
        cluster: Option<&ClusterName>,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<CostFigure>> {
        let rows: Vec<(String, i64, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT cluster, hour, model, cost_explorer FROM cost_hours \
             WHERE organization = $1 AND ($2 IS NULL OR cluster = $2) AND hour >= $3 AND hour < $4 \
             ORDER BY hour, cluster",
        )
        .bind(organization.as_str())
        .bind(cluster.map(|c| c.to_string()))
        .bind(millis(calendar::hour_start(from)))
        .bind(millis(to))
        .fetch_all(&self.pool)
        .await?;
        let mut figures = Vec::with_capacity(rows.len());
        for (cluster, hour, model, cost_explorer) in rows {
            let (amount, source) = match (cost_explorer, model) {
                (Some(figure), _) => (money("cost", &figure)?, CostSource::CostExplorer),
                (None, Some(figure)) => (money("cost", &figure)?, CostSource::Model),
                (None, None) => continue,
            };
            figures.push(CostFigure {
                cluster,
                hour: time(hour)?,
                amount,
                source,
            });
        }
        Ok(figures)
    }

    async fn add_capacity_request(&self, request: &CapacityRequest) -> Result<bool> {
        let mut tx = self.begin().await?;
        let same: Option<String> = sqlx::query_scalar(
            "SELECT id FROM capacity_requests WHERE cluster = $1 AND subject = $2 AND nodes = $3 AND expires_at = $4",
        )
        .bind(request.cluster.as_str())
        .bind(request.subject.as_str())
        .bind(i64::from(request.nodes))
        .bind(millis(request.expires_at))
        .fetch_optional(&mut *tx)
        .await?;
        if same.is_some() {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query(concat!(
            "INSERT INTO capacity_requests (",
            capacity_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        ))
        .bind(request.id.as_str())
        .bind(request.cluster.as_str())
        .bind(request.subject.as_str())
        .bind(request.name.as_str())
        .bind(i64::from(request.nodes))
        .bind(millis(request.expires_at))
        .bind(millis(request.created_at))
        .bind(request.waiting.as_ref().map(to_json))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.notify([Notification::CapacityChanged {
            cluster: request.cluster.clone(),
        }])
        .await;
        Ok(true)
    }

    async fn withdraw_capacity_request(&self, id: &str) -> Result<Option<CapacityRequest>> {
        let mut tx = self.begin().await?;
        let found = sqlx::query_as::<_, CapacityRow>(concat!(
            "SELECT ",
            capacity_columns!(),
            " FROM capacity_requests WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .map(CapacityRequest::try_from)
        .transpose()?;
        let Some(found) = found else {
            tx.rollback().await?;
            return Ok(None);
        };
        sqlx::query("DELETE FROM capacity_requests WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.notify([Notification::CapacityChanged {
            cluster: found.cluster.clone(),
        }])
        .await;
        Ok(Some(found))
    }

    async fn capacity_requests(&self, cluster: &ClusterName) -> Result<Vec<CapacityRequest>> {
        let mut conn = self.pool.acquire().await?;
        self.load_capacity(&mut conn, cluster).await
    }

    async fn mark_capacity_requests(
        &self,
        cluster: &ClusterName,
        waiting: Option<&CapacityWait>,
    ) -> Result<()> {
        // Followed: every request is honoured. Not followed: those not
        // honoured yet wait (a request honoured before stays honoured).
        let sql = match waiting {
            None => {
                "UPDATE capacity_requests SET waiting = NULL WHERE cluster = $1 AND waiting IS NOT NULL"
            }
            Some(_) => {
                "UPDATE capacity_requests SET waiting = $2 WHERE cluster = $1 AND waiting IS NOT NULL"
            }
        };
        sqlx::query(sql)
            .bind(cluster.as_str())
            .bind(waiting.map(to_json))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn waiting_capacity_clusters(&self, now: Timestamp) -> Result<Vec<ClusterName>> {
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT cluster FROM capacity_requests WHERE waiting IS NOT NULL AND expires_at > $1 ORDER BY cluster",
        )
        .bind(millis(now))
        .fetch_all(&self.pool)
        .await?;
        names
            .iter()
            .map(|n| ClusterName::parse(n).map_err(|e| StoreError::Corrupt(e.to_string())))
            .collect()
    }

    async fn next_capacity_expiry(&self, now: Timestamp) -> Result<Option<Timestamp>> {
        let next: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(expires_at) FROM capacity_requests WHERE expires_at > $1",
        )
        .bind(millis(now))
        .fetch_one(&self.pool)
        .await?;
        next.map(time).transpose()
    }

    async fn sweep_capacity_requests(&self, now: Timestamp) -> Result<Vec<ClusterName>> {
        // Usually nothing has expired: a plain read says so without taking
        // the write lock.
        let any: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM capacity_requests WHERE expires_at <= $1 LIMIT 1")
                .bind(millis(now))
                .fetch_optional(&self.pool)
                .await?;
        if any.is_none() {
            return Ok(Vec::new());
        }
        let mut tx = self.begin().await?;
        let clusters: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT cluster FROM capacity_requests WHERE expires_at <= $1 ORDER BY cluster",
        )
        .bind(millis(now))
        .fetch_all(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM capacity_requests WHERE expires_at <= $1")
            .bind(millis(now))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        let clusters: Vec<ClusterName> = clusters
            .iter()
            .map(|c| ClusterName::parse(c).map_err(|e| StoreError::Corrupt(e.to_string())))
            .collect::<Result<_>>()?;
        self.notify(
            clusters
                .iter()
                .map(|cluster| Notification::CapacityChanged {
                    cluster: cluster.clone(),
                }),
        )
        .await;
        Ok(clusters)
    }

    async fn claim_cost_explorer_fetch(
        &self,
        now: Timestamp,
        interval: std::time::Duration,
    ) -> Result<bool> {
        let due_before = millis(now) - i64::try_from(interval.as_millis()).unwrap_or(i64::MAX);
        let claimed = sqlx::query(
            "INSERT INTO cost_explorer_fetches (id, fetched_at) VALUES (1, $1) \
             ON CONFLICT (id) DO UPDATE SET fetched_at = excluded.fetched_at \
             WHERE cost_explorer_fetches.fetched_at <= $2",
        )
        .bind(millis(now))
        .bind(due_before)
        .execute(&self.pool)
        .await?;
        Ok(claimed.rows_affected() > 0)
    }
}

/// What an audit entry says of an account.
fn account_summary(account: &Account) -> serde_json::Value {
    serde_json::json!({
        "balance": account.balance,
        "monthly_allowance": account.monthly_allowance,
        "max_balance": account.max_balance,
    })
}
