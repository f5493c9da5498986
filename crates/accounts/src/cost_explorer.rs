//! What AWS says clusters cost: `UnblendedCost` from AWS Cost Explorer,
//! grouped by the cost-allocation tags Slipway gives every resource
//! (`slipway:org`, `slipway:cluster`), hourly or daily. Its figures replace
//! the blueprints' models for the hours they cover.
//!
//! Cost Explorer charges per request and its figures change slowly: it is
//! asked at most once per `interval` by all processes sharing the database
//! together, with one paginated request for every organization. Credentials
//! are what AWS users have: the SDK's standard chain (environment, shared
//! credentials and config files with named profiles, session tokens,
//! assumed roles, SSO, credential processes).

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_costexplorer::types::{
    DateInterval, Granularity as AwsGranularity, GroupDefinition, GroupDefinitionType,
};
use chrono::{NaiveDate, NaiveDateTime, TimeDelta, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use slipway_core::cost::apportion;
use slipway_core::{HourCost, Money, OrgName, Timestamp, calendar};
use tracing::{info, warn};

/// The tag naming a resource's organization.
pub const ORG_TAG: &str = "slipway:org";
/// The tag naming a resource's cluster.
pub const CLUSTER_TAG: &str = "slipway:cluster";

/// How Cost Explorer is asked (`[accounts.cost_explorer]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CostExplorerConfig {
    pub enabled: bool,
    /// An endpoint other than AWS's (an emulator).
    pub endpoint_url: Option<String>,
    /// Cost Explorer lives in `us-east-1`.
    pub region: String,
    /// A named profile of the shared config and credentials files.
    pub profile: Option<String>,
    /// The least time between two fetches (all processes together).
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// `hourly` (needs hourly granularity enabled in the AWS account, and
    /// covers the last 14 days) or `daily` (spread evenly over the day's
    /// hours).
    pub granularity: FetchGranularity,
    /// How far back each fetch asks (figures are revised for a few days).
    #[serde(with = "humantime_serde")]
    pub lookback: Duration,
}

/// Cost Explorer's granularity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FetchGranularity {
    Hourly,
    Daily,
}

impl Default for CostExplorerConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            endpoint_url: None,
            region: "us-east-1".into(),
            profile: None,
            interval: Duration::from_secs(8 * 3600),
            granularity: FetchGranularity::Daily,
            lookback: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// Fetches Cost Explorer's figures if no process did within the interval,
/// and records them.
pub async fn fetch_if_due(store: &dyn slipway_store::Store, config: &CostExplorerConfig) {
    let now = Utc::now();
    match store.claim_cost_explorer_fetch(now, config.interval).await {
        Ok(true) => {}
        Ok(false) => return,
        Err(e) => {
            warn!(error = %e, "cannot tell whether Cost Explorer is due");
            return;
        }
    }
    match fetch(config, now).await {
        Ok(by_org) => {
            for (org, hours) in by_org {
                if let Err(e) = store
                    .record_costs(&org, slipway_core::CostSource::CostExplorer, &hours, None)
                    .await
                {
                    warn!(error = %e, organization = %org, "cannot record Cost Explorer's figures");
                }
            }
        }
        Err(e) => {
            warn!(error = %e, "cannot fetch costs from Cost Explorer; the models' figures stand")
        }
    }
}

/// Asks Cost Explorer for the unblended cost of every Slipway resource
/// over the lookback, grouped by organization and cluster; answers each
/// organization's hours.
pub async fn fetch(
    config: &CostExplorerConfig,
    now: Timestamp,
) -> anyhow::Result<BTreeMap<OrgName, Vec<HourCost>>> {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(config.region.clone()));
    if let Some(profile) = &config.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(endpoint) = &config.endpoint_url {
        loader = loader.endpoint_url(endpoint);
    }
    let client = aws_sdk_costexplorer::Client::new(&loader.load().await);
    let start = calendar::day_start(now - TimeDelta::from_std(config.lookback)?);
    let end = calendar::next_day(now);
    let granularity = match config.granularity {
        FetchGranularity::Hourly => AwsGranularity::Hourly,
        FetchGranularity::Daily => AwsGranularity::Daily,
    };
    let (start_text, end_text) = match config.granularity {
        FetchGranularity::Hourly => (
            start.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            end.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        ),
        FetchGranularity::Daily => (
            start.format("%Y-%m-%d").to_string(),
            end.format("%Y-%m-%d").to_string(),
        ),
    };
    let mut by_org: BTreeMap<OrgName, Vec<HourCost>> = BTreeMap::new();
    let mut token = None;
    let mut requests = 0;
    loop {
        let answer = client
            .get_cost_and_usage()
            .time_period(
                DateInterval::builder()
                    .start(&start_text)
                    .end(&end_text)
                    .build()?,
            )
            .granularity(granularity.clone())
            .metrics("UnblendedCost")
            .group_by(
                GroupDefinition::builder()
                    .r#type(GroupDefinitionType::Tag)
                    .key(ORG_TAG)
                    .build(),
            )
            .group_by(
                GroupDefinition::builder()
                    .r#type(GroupDefinitionType::Tag)
                    .key(CLUSTER_TAG)
                    .build(),
            )
            .set_next_page_token(token)
            .send()
            .await?;
        requests += 1;
        for result in answer.results_by_time() {
            let Some(period) = result.time_period() else {
                continue;
            };
            let (Some(from), Some(to)) = (parse_time(period.start()), parse_time(period.end()))
            else {
                warn!(
                    start = period.start(),
                    end = period.end(),
                    "Cost Explorer's period is not a date"
                );
                continue;
            };
            for group in result.groups() {
                let (Some(org), Some(cluster)) =
                    (tag(group.keys(), ORG_TAG), tag(group.keys(), CLUSTER_TAG))
                else {
                    continue;
                };
                let Ok(org) = OrgName::parse(&org) else {
                    continue;
                };
                let Some(amount) = group
                    .metrics()
                    .and_then(|m| m.get("UnblendedCost"))
                    .and_then(|v| v.amount())
                    .and_then(|a| Money::parse(a).ok())
                else {
                    continue;
                };
                let hours = by_org.entry(org).or_default();
                for (hour, amount) in apportion(amount, from, to) {
                    hours.push(HourCost {
                        cluster: cluster.clone(),
                        hour,
                        amount,
                    });
                }
            }
        }
        token = answer.next_page_token().map(str::to_owned);
        if token.is_none() || requests >= 100 {
            break;
        }
    }
    info!(
        requests,
        organizations = by_org.len(),
        "fetched costs from Cost Explorer"
    );
    Ok(by_org)
}

/// A tag's value in a group's keys (`"slipway:org$research"`); `None`
/// for resources without it (`"slipway:org$"`).
fn tag(keys: &[String], name: &str) -> Option<String> {
    keys.iter()
        .find_map(|k| k.strip_prefix(name)?.strip_prefix('$'))
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// A period's bound: a date (`2026-11-30`) or a time (`2026-11-30T10:00:00Z`).
fn parse_time(text: &str) -> Option<Timestamp> {
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Some(Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0)?));
    }
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%SZ")
        .ok()
        .map(|t| Utc.from_utc_datetime(&t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_periods_are_read_as_cost_explorer_writes_them() {
        let keys = vec![
            "slipway:org$research".to_owned(),
            "slipway:cluster$c1".to_owned(),
        ];
        assert_eq!(tag(&keys, ORG_TAG).as_deref(), Some("research"));
        assert_eq!(tag(&keys, CLUSTER_TAG).as_deref(), Some("c1"));
        assert_eq!(tag(&["slipway:org$".to_owned()], ORG_TAG), None);
        assert_eq!(
            parse_time("2026-11-30"),
            Some(Utc.with_ymd_and_hms(2026, 11, 30, 0, 0, 0).unwrap())
        );
        assert_eq!(
            parse_time("2026-11-30T10:00:00Z"),
            Some(Utc.with_ymd_and_hms(2026, 11, 30, 10, 0, 0).unwrap())
        );
        assert_eq!(parse_time("yesterday"), None);
    }
}
