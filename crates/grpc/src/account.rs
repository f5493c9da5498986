//! `Account`: costs from the organization's cost history (the same figures
//! as `GET /v1/orgs/{name}/costs`), and the cluster's size. A request's
//! `name` is an organization, or a cluster (then its organization's
//! figures for that cluster alone). Times are RFC 3339 or `YYYY-MM-DD`
//! (UTC); empty means now.
//!
//! - `TodaysCost`: hourly, from 00:00 UTC of `tm`'s day through the hour in
//!   progress.
//! - `CurrentCost`: `HOURLY` the 24 hours through the hour in progress,
//!   `DAILY` the month so far, `MONTHLY` the last 12 months.
//! - `DailyHistCost`: daily from `start_tm`'s day through `end_tm`'s.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta, Utc};
use slipway_api::types::{CostHistory, CostQuery};
use slipway_core::Granularity;
use slipway_core::calendar::{day_start, month_start, next_day, next_hour, next_month_start};
use slipway_service::{Caller, Error, Kind, Service};
use tonic::{Request, Response, Status};

use crate::caller::caller;
use crate::proto::{
    self, CostAndUsageRsp, CurrentCostReq, DailyHistCostReq, NumNodesReq, NumNodesRsp, Stats,
    TodaysCostReq,
};
use crate::status::to_status;

/// The `Account` service.
pub struct Account {
    pub service: Arc<Service>,
}

#[tonic::async_trait]
impl proto::account_server::Account for Account {
    async fn daily_hist_cost(
        &self,
        request: Request<DailyHistCostReq>,
    ) -> Result<Response<CostAndUsageRsp>, Status> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let start = time("start_tm", &req.start_tm)?;
        let end = time("end_tm", &req.end_tm)?;
        let from = day_start(start);
        let to = if end == day_start(end) {
            end
        } else {
            next_day(end)
        };
        self.costs(&caller, &req.name, Granularity::Daily, from, to)
            .await
    }

    async fn todays_cost(
        &self,
        request: Request<TodaysCostReq>,
    ) -> Result<Response<CostAndUsageRsp>, Status> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let tm = time("tm", &req.tm)?;
        self.costs(
            &caller,
            &req.name,
            Granularity::Hourly,
            day_start(tm),
            next_hour(tm),
        )
        .await
    }

    async fn current_cost(
        &self,
        request: Request<CurrentCostReq>,
    ) -> Result<Response<CostAndUsageRsp>, Status> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let tm = time("tm", &req.tm)?;
        let granularity: Granularity = req
            .granularity
            .parse()
            .map_err(|e: slipway_core::ValidationError| to_status(e.into()))?;
        let (from, to) = match granularity {
            Granularity::Hourly => (next_hour(tm) - TimeDelta::hours(24), next_hour(tm)),
            Granularity::Daily => (month_start(tm), next_day(tm)),
            Granularity::Monthly => {
                let mut from = month_start(tm);
                for _ in 0..11 {
                    from = month_start(from - TimeDelta::days(1));
                }
                (from, next_month_start(tm))
            }
        };
        self.costs(&caller, &req.name, granularity, from, to).await
    }

    /// The cluster's size now: its nodes when deployed, else 0.
    async fn num_nodes(
        &self,
        request: Request<NumNodesReq>,
    ) -> Result<Response<NumNodesRsp>, Status> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let status = self
            .service
            .cluster_status(&caller, &req.name)
            .await
            .map_err(to_status)?;
        Ok(Response::new(NumNodesRsp {
            name: status.name,
            version: status.version,
            region: req.region,
            num_nodes: if status.state.may_exist() {
                status.nodes
            } else {
                0
            },
        }))
    }
}

impl Account {
    /// The cost history of `name` (an organization, else a cluster).
    async fn costs(
        &self,
        caller: &Caller,
        name: &str,
        granularity: Granularity,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Response<CostAndUsageRsp>, Status> {
        let query = |cluster: Option<String>| CostQuery {
            granularity: Some(granularity.as_str().to_owned()),
            from: Some(from),
            to: Some(to),
            cluster,
        };
        let history = match self.service.costs(caller, name, query(None)).await {
            Err(e) if e.kind == Kind::NotFound => {
                let cluster = self
                    .service
                    .cluster_status(caller, name)
                    .await
                    .map_err(|_| {
                        to_status(Error::not_found(format!(
                            "no organization or cluster is named {name}"
                        )))
                    })?;
                self.service
                    .costs(
                        caller,
                        &cluster.organization,
                        query(Some(cluster.name.clone())),
                    )
                    .await
            }
            other => other,
        }
        .map_err(to_status)?;
        Ok(Response::new(answer(name, granularity, &history)))
    }
}

fn answer(name: &str, granularity: Granularity, history: &CostHistory) -> CostAndUsageRsp {
    let label = |t: DateTime<Utc>| match granularity {
        Granularity::Hourly => t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        Granularity::Daily | Granularity::Monthly => t.format("%Y-%m-%d").to_string(),
    };
    let dollars = slipway_core::Money::to_f64;
    CostAndUsageRsp {
        name: name.to_owned(),
        granularity: granularity.as_str().to_uppercase(),
        total: dollars(history.total),
        unit: history.currency.clone(),
        tm: history.buckets.iter().map(|b| label(b.start)).collect(),
        cost: history.buckets.iter().map(|b| dollars(b.total)).collect(),
        stats: Some(Stats {
            cnt: history.stats.count,
            avg: history.stats.mean,
            min: history.stats.min,
            max: history.stats.max,
            std: history.stats.std,
        }),
        server_error: false,
        error_msg: String::new(),
    }
}

/// A request's time: RFC 3339, `YYYY-MM-DDTHH:MM:SS` or `YYYY-MM-DD` (UTC);
/// empty is now.
fn time(field: &str, value: &str) -> Result<DateTime<Utc>, Status> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(Utc::now());
    }
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S")
                .ok()
                .map(|t| t.and_utc())
        })
        .or_else(|| {
            NaiveDate::parse_from_str(value, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc())
        })
        .ok_or_else(|| {
            to_status(Error::invalid(
                field,
                format!("must be a time (RFC 3339, or YYYY-MM-DD), got {value:?}"),
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_read_in_the_first_generations_forms() {
        let t = |s| time("tm", s).unwrap().to_rfc3339();
        assert_eq!(t("2026-11-30T10:15:00Z"), "2026-11-30T10:15:00+00:00");
        assert_eq!(t("2026-11-30T10:15:00"), "2026-11-30T10:15:00+00:00");
        assert_eq!(t("2026-11-30"), "2026-11-30T00:00:00+00:00");
        let refused = time("start_tm", "yesterday").unwrap_err();
        assert_eq!(refused.code(), tonic::Code::InvalidArgument);
        assert!(
            refused.message().contains("start_tm"),
            "{}",
            refused.message()
        );
    }
}
