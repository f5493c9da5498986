//! Organizations' money and capacity: `org account`, `org reconcile`, `org
//! costs`, `org forecast`, and `capacity request|list|withdraw`.

use std::process::ExitCode;

use chrono::{DateTime, Utc};
use slipway_api::types::*;

use crate::client::Connection;
use crate::exit::{self, Failure};
use crate::output::{self, Table};

fn when(at: Option<DateTime<Utc>>) -> String {
    at.map_or_else(
        || "-".to_owned(),
        |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
    )
}

fn show_account(a: &AccountView) {
    if !a.opened {
        println!(
            "organization {} has no account: it is not budgeted (an administrator opens one with: slipway org account {} --allowance 500 --reason \"why\")",
            a.organization, a.organization
        );
        return;
    }
    println!("organization:       {}", a.organization);
    println!("balance:            ${} {}", a.balance, a.currency);
    println!("monthly allowance:  ${}", a.monthly_allowance);
    println!("maximum balance:    ${}", a.max_balance);
    println!(
        "fiscal year cost:   ${} (since {}), settled {}",
        a.fytd_cost.cents(),
        a.fiscal_year_start.format("%Y-%m-%d"),
        when(a.costs_settled_at)
    );
    println!(
        "provisional cost:   ${} (since the last settlement, not yet in the balance)",
        a.provisional_cost.cents()
    );
    println!(
        "burn rate ($/h):    minimum {}, current {}, maximum {}",
        a.burn_rates.minimum, a.burn_rates.current, a.burn_rates.maximum
    );
    println!(
        "money runs out:     at minimum {}, current {}, maximum {}",
        when(a.depletes_at.minimum),
        when(a.depletes_at.current),
        when(a.depletes_at.maximum)
    );
    println!(
        "last charge:        {} (credit {}, reconciled {})",
        when(a.last_charge_at),
        when(a.last_credit_at),
        when(a.last_reconciled_at)
    );
    if !a.warnings.is_empty() {
        println!("warnings:           {}", a.warnings.join(", "));
    }
}

fn money(flag: &str, value: Option<String>) -> Result<Option<slipway_core::Money>, Failure> {
    value
        .map(|v| {
            slipway_core::Money::parse(v.trim_start_matches('$'))
                .map_err(|e| Failure::invalid(flag, format!("--{flag}: {}", e.rule)))
        })
        .transpose()
}

impl Connection {
    /// Shows the account, or changes what is given (administrators).
    pub async fn org_account(
        &self,
        name: String,
        balance: Option<String>,
        allowance: Option<String>,
        max: Option<String>,
        reason: Option<String>,
    ) -> Result<ExitCode, Failure> {
        let change = UpdateAccount {
            balance: money("balance", balance)?,
            monthly_allowance: money("allowance", allowance)?,
            max_balance: money("max", max)?,
            reason: reason.unwrap_or_default(),
        };
        let unchanged = change.balance.is_none()
            && change.monthly_allowance.is_none()
            && change.max_balance.is_none();
        let (account, credited) = if unchanged {
            (self.client.account(&name).await?, None)
        } else {
            if change.reason.trim().is_empty() {
                return Err(Failure::invalid(
                    "reason",
                    format!(
                        "--reason is required to change an account: say why (it goes in the audit log), e.g. slipway org account {name} --allowance 500 --reason \"grant 42\""
                    ),
                ));
            }
            let done = self.client.update_account(&name, &change).await?;
            (done.account, Some(done.credited))
        };
        if self.json {
            output::json(&account);
        } else {
            show_account(&account);
            // Why the balance is not the one given: the change reconciled
            // the account, which credits the month's allowance once.
            if let Some(credited) = credited.filter(|c| !c.is_zero()) {
                println!(
                    "this month's allowance, ${credited}, was credited when the account was reconciled after the change (allowances are credited at the start of every month, and when an account opens): the balance is ${}",
                    account.balance
                );
            }
        }
        Ok(ExitCode::SUCCESS)
    }

    pub async fn org_reconcile(&self, name: String) -> Result<ExitCode, Failure> {
        let done = self.client.reconcile(&name).await?;
        if self.json {
            output::json(&done);
        } else {
            println!(
                "reconciled: credited ${}, debited ${}, capped ${} ({} hours charged)",
                done.credited, done.debited, done.capped_off, done.hours_charged
            );
            if !done.shut_down.is_empty() {
                println!("out of money: destroying {}", done.shut_down.join(", "));
            }
            show_account(&done.account);
        }
        Ok(ExitCode::SUCCESS)
    }

    pub async fn org_costs(&self, name: String, query: CostQuery) -> Result<ExitCode, Failure> {
        let history = self.client.costs(&name, &query).await?;
        if self.json {
            output::json(&history);
            return Ok(ExitCode::SUCCESS);
        }
        println!(
            "{} costs of {}{} from {} to {}: ${} {}",
            history.granularity,
            history.organization,
            history
                .cluster
                .as_ref()
                .map(|c| format!(" (cluster {c})"))
                .unwrap_or_default(),
            history.from.format("%Y-%m-%d %H:%M"),
            history.to.format("%Y-%m-%d %H:%M"),
            history.total.cents(),
            history.currency
        );
        println!(
            "settled until {}; ${} since then is provisional (settled at the next reconciliation)",
            when(history.settled_at),
            history.provisional.cents()
        );
        let mut table = Table::new(&["FROM (UTC)", "COST ($)", "BY CLUSTER"]).right(&[1]);
        for bucket in history.buckets.iter().filter(|b| !b.total.is_zero()) {
            let clusters: Vec<String> = bucket
                .by_cluster
                .iter()
                .map(|(c, m)| format!("{c} {}", m.cents()))
                .collect();
            table.row([
                bucket.start.format("%Y-%m-%d %H:%M").to_string(),
                bucket.total.cents().to_string(),
                clusters.join(", "),
            ]);
        }
        table.print();
        let s = &history.stats;
        println!(
            "{} buckets: mean {:.2}, min {:.2}, max {:.2}, std {:.2}",
            s.count, s.mean, s.min, s.max, s.std
        );
        Ok(ExitCode::SUCCESS)
    }

    pub async fn org_forecast(&self, name: String) -> Result<ExitCode, Failure> {
        let forecast = self.client.forecast(&name).await?;
        if self.json {
            output::json(&forecast);
            return Ok(ExitCode::SUCCESS);
        }
        println!(
            "{}: balance ${} {}",
            forecast.organization, forecast.balance, forecast.currency
        );
        for (label, series, runs_out) in [
            ("minimum", &forecast.minimum, forecast.depletes_at.minimum),
            ("current", &forecast.current, forecast.depletes_at.current),
            ("maximum", &forecast.maximum, forecast.depletes_at.maximum),
        ] {
            let months: Vec<String> = series
                .monthly
                .iter()
                .take(6)
                .map(|p| format!("{} ${}", p.at.format("%Y-%m"), p.balance.cents()))
                .collect();
            println!(
                "at the {label} rate (${}/h): runs out {}; {}",
                series.rate,
                when(runs_out),
                months.join(", ")
            );
        }
        Ok(ExitCode::SUCCESS)
    }

    fn show_capacity(&self, response: &CapacityResponse) -> ExitCode {
        if self.json {
            output::json(response);
        } else {
            let what = match response.result {
                CapacityResult::Queued => format!(
                    "the cluster changes: operation {}",
                    response.operation.as_deref().unwrap_or("-")
                ),
                CapacityResult::Waiting => format!(
                    "the request is kept, but waits: {}; it is tried again when that may have changed",
                    response.waiting.as_ref().map_or("", |w| w.message.as_str())
                ),
                CapacityResult::Unchanged => "the cluster already is that size".into(),
                CapacityResult::Redundant => "an identical request is active: nothing added".into(),
            };
            println!("{what}");
            show_requests(&response.requests);
        }
        // A change a rule refuses (the budget, a limit) is a refusal, like a
        // refused deploy, though the request is kept and tried again — with
        // --json its error document follows on stderr; one that waits for an
        // operation in flight is not.
        let refused = response
            .waiting
            .as_ref()
            .filter(|w| w.code != "operation_in_progress");
        if let Some(wait) = refused {
            if self.json {
                let error = ErrorBody {
                    error: ErrorDetail {
                        code: wait.code.clone(),
                        message: wait.message.clone(),
                        field: None,
                        operation: None,
                    },
                };
                eprintln!(
                    "{}",
                    serde_json::to_string(&error).expect("errors serialize")
                );
            }
            ExitCode::from(exit::REFUSED)
        } else {
            ExitCode::SUCCESS
        }
    }

    pub async fn capacity_request(
        &self,
        name: String,
        nodes: u32,
        ttl: Option<String>,
        until: Option<DateTime<Utc>>,
    ) -> Result<ExitCode, Failure> {
        let response = self
            .client
            .request_capacity(&name, &CreateCapacityRequest { nodes, ttl, until })
            .await?;
        Ok(self.show_capacity(&response))
    }

    pub async fn capacity_list(&self, name: String) -> Result<ExitCode, Failure> {
        let requests = self.client.capacity_requests(&name).await?;
        if self.json {
            output::json_list("requests", &requests, None);
        } else {
            show_requests(&requests);
        }
        Ok(ExitCode::SUCCESS)
    }

    pub async fn capacity_withdraw(&self, name: String, id: String) -> Result<ExitCode, Failure> {
        let response = self.client.withdraw_capacity(&name, &id).await?;
        Ok(self.show_capacity(&response))
    }
}

fn show_requests(requests: &[CapacityRequestView]) {
    if requests.is_empty() {
        println!("no active capacity requests");
        return;
    }
    let mut table = Table::new(&["ID", "WHO", "NODES", "UNTIL (UTC)", "STATE"]).right(&[2]);
    for r in requests {
        table.row([
            r.id.clone(),
            r.login.clone(),
            r.nodes.to_string(),
            r.expires_at.format("%Y-%m-%d %H:%M:%S").to_string(),
            r.waiting
                .as_ref()
                .map_or("active".to_owned(), |w| format!("waiting: {}", w.message)),
        ]);
    }
    table.print();
}
