//! What clusters cost (docs/domain.md §8): the blueprint's cost model accrued
//! per cluster and UTC clock hour while deployed, AWS Cost Explorer's figures
//! in place of the model's where it has them, cost history in hourly, daily
//! and monthly buckets, and its statistics.
//!
//! Every amount is exact ([`Money`]); rounding to cents happens only when an
//! account is debited (see [`crate::account`]).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Serialize};

use crate::calendar::{self, HOUR};
use crate::money::{Money, Rate};
use crate::{Timestamp, ValidationError};

/// A blueprint's cost model: a fixed and a per-node hourly rate, accrued
/// while a cluster is deployed. Rates read exactly from TOML floats
/// (`fixed_hourly_usd = 0.153`) or strings (`"0.153"`).
///
/// The default costs nothing, so a blueprint without a `[cost]` table is
/// free; [`CostModel::GENERATION_1`] has the first generation's rates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CostModel {
    /// Dollars per hour while deployed, whatever the size (generation 1's
    /// node manager).
    #[serde(default)]
    pub fixed_hourly_usd: Rate,
    /// Dollars per node per hour.
    #[serde(default)]
    pub per_node_hourly_usd: Rate,
}

impl CostModel {
    /// Generation 1's rates: 0.153 $/h fixed (the node manager) and
    /// 0.226 $/h per node.
    pub const GENERATION_1: CostModel = CostModel {
        fixed_hourly_usd: Rate::from_mills(153),
        per_node_hourly_usd: Rate::from_mills(226),
    };

    /// The rate of a cluster of `nodes` nodes. Zero nodes means not
    /// deployed: it costs nothing, not even the fixed part.
    pub fn hourly(&self, nodes: u32) -> Rate {
        if nodes == 0 {
            return Rate::ZERO;
        }
        self.fixed_hourly_usd + self.per_node_hourly_usd.times(nodes)
    }
}

/// How many nodes a cluster ran from when to when, under which cost model.
/// The store records one whenever a cluster's deployed size changes; zero
/// nodes means not deployed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SizeSpan {
    /// The cluster's name.
    pub cluster: String,
    /// When the cluster took this size.
    pub start: Timestamp,
    /// `None`: still running.
    pub end: Option<Timestamp>,
    /// Nodes deployed; zero: not deployed.
    pub nodes: u32,
    /// The cost model of the blueprint version deployed.
    pub model: CostModel,
}

impl SizeSpan {
    /// The span's rate.
    pub fn rate(&self) -> Rate {
        self.model.hourly(self.nodes)
    }

    /// The exact cost of the span, until `now` if it is still running.
    pub fn cost(&self, now: Timestamp) -> Money {
        let end = self.end.unwrap_or(now);
        if end <= self.start {
            return Money::ZERO;
        }
        self.rate().for_duration(end - self.start)
    }
}

/// What one cluster cost in one UTC clock hour.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct HourCost {
    /// The cluster's name.
    pub cluster: String,
    /// The start of the UTC hour.
    pub hour: Timestamp,
    /// Exact, unrounded.
    pub amount: Money,
}

/// The cost model's cost per cluster and UTC clock hour of the parts of
/// `spans` inside `[from, to)`: one entry per (cluster, hour) with a non-zero
/// amount, sorted by cluster, then hour. A span still running runs until
/// `to`; overlapping spans of one cluster are both charged.
///
/// Within a span, each hour costs the difference of the span's cost up to the
/// hour's end and up to its start, so however a span is cut — into hours, or
/// by accruing `[a, b)` then `[b, c)` — its parts add up exactly to its cost.
pub fn accrue(spans: &[SizeSpan], from: Timestamp, to: Timestamp) -> Vec<HourCost> {
    let mut hours: BTreeMap<(String, Timestamp), Money> = BTreeMap::new();
    for span in spans {
        accrue_span(span, from, to, &mut hours);
    }
    hours
        .into_iter()
        .filter(|(_, amount)| !amount.is_zero())
        .map(|((cluster, hour), amount)| HourCost {
            cluster,
            hour,
            amount,
        })
        .collect()
}

fn accrue_span(
    span: &SizeSpan,
    from: Timestamp,
    to: Timestamp,
    hours: &mut BTreeMap<(String, Timestamp), Money>,
) {
    let rate = span.rate();
    let start = span.start.max(from);
    let end = span.end.unwrap_or(to).min(to);
    if rate.is_zero() || start >= end {
        return;
    }
    let cost_until = |t: Timestamp| rate.for_duration(t - span.start);
    let mut cut = start;
    while cut < end {
        let hour = calendar::hour_start(cut);
        let next = calendar::later(hour, HOUR).min(end);
        let amount = cost_until(next) - cost_until(cut);
        *hours.entry((span.cluster.clone(), hour)).or_default() += amount;
        cut = next;
    }
}

/// Spreads `amount`, a figure covering the whole hours of `[start, end)`
/// (e.g. a daily Cost Explorer figure), evenly over those hours: equal
/// shares truncated to 10⁻¹⁰ dollar, the remainder to the last hour, so the
/// parts add up exactly to `amount`. Hours are UTC clock hours from the one
/// containing `start`; an empty range puts everything in that hour.
pub fn apportion(amount: Money, start: Timestamp, end: Timestamp) -> Vec<(Timestamp, Money)> {
    let hours: Vec<Timestamp> = std::iter::successors(Some(calendar::hour_start(start)), |&hour| {
        Some(calendar::next_hour(hour)).filter(|&next| next < end && next > hour)
    })
    .collect();
    let parts = u32::try_from(hours.len()).unwrap_or(u32::MAX);
    let share = amount.share(parts);
    let rest = amount - share.times(Decimal::from(parts - 1));
    let last = hours.len() - 1;
    hours
        .into_iter()
        .enumerate()
        .map(|(i, hour)| (hour, if i == last { rest } else { share }))
        .collect()
}

/// Where a cost figure came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CostSource {
    /// The blueprint's cost model.
    Model,
    /// AWS Cost Explorer, through the cluster's cost-allocation tags.
    CostExplorer,
}

impl CostSource {
    /// The name used in the API: `model`, `cost_explorer`.
    pub fn as_str(self) -> &'static str {
        match self {
            CostSource::Model => "model",
            CostSource::CostExplorer => "cost_explorer",
        }
    }
}

impl fmt::Display for CostSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one cluster cost in one UTC clock hour, and where the figure came
/// from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CostFigure {
    /// The cluster's name.
    pub cluster: String,
    /// The start of the UTC hour.
    pub hour: Timestamp,
    /// Exact, unrounded.
    pub amount: Money,
    /// Where the figure came from.
    pub source: CostSource,
}

/// The figures to believe: Cost Explorer's figure replaces the model's for
/// every (cluster, hour) it covers — even a zero, which says the hour cost
/// nothing — and the model's stands elsewhere. Entries for the same
/// (cluster, hour) and source are added up. Sorted by cluster, then hour.
pub fn effective(model: &[HourCost], cost_explorer: &[HourCost]) -> Vec<CostFigure> {
    let mut figures: BTreeMap<(String, Timestamp), (Money, CostSource)> = BTreeMap::new();
    let mut add = |costs: &[HourCost], source: CostSource| {
        let mut sums: BTreeMap<(String, Timestamp), Money> = BTreeMap::new();
        for cost in costs {
            *sums.entry((cost.cluster.clone(), cost.hour)).or_default() += cost.amount;
        }
        for (key, amount) in sums {
            figures.insert(key, (amount, source));
        }
    };
    add(model, CostSource::Model);
    add(cost_explorer, CostSource::CostExplorer);
    figures
        .into_iter()
        .map(|((cluster, hour), (amount, source))| CostFigure {
            cluster,
            hour,
            amount,
            source,
        })
        .collect()
}

/// The size of a cost-history bucket. Reads `hourly` or generation 1's
/// `HOURLY`, in any case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Granularity {
    /// UTC clock hours.
    #[serde(alias = "HOURLY", alias = "Hourly")]
    Hourly,
    /// UTC days, from 00:00.
    #[serde(alias = "DAILY", alias = "Daily")]
    Daily,
    /// Calendar months, from 00:00 UTC on the 1st.
    #[serde(alias = "MONTHLY", alias = "Monthly")]
    Monthly,
}

impl Granularity {
    /// Every granularity, finest first.
    pub const ALL: [Granularity; 3] = [
        Granularity::Hourly,
        Granularity::Daily,
        Granularity::Monthly,
    ];

    /// The name used in the API: `hourly`, `daily`, `monthly`.
    pub fn as_str(self) -> &'static str {
        match self {
            Granularity::Hourly => "hourly",
            Granularity::Daily => "daily",
            Granularity::Monthly => "monthly",
        }
    }

    /// The first bucket boundary strictly after `t`: the next UTC hour, day
    /// (00:00) or month (the 1st, 00:00).
    pub fn next_boundary(self, t: Timestamp) -> Timestamp {
        match self {
            Granularity::Hourly => calendar::next_hour(t),
            Granularity::Daily => calendar::next_day(t),
            Granularity::Monthly => calendar::next_month_start(t),
        }
    }
}

impl fmt::Display for Granularity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Granularity {
    type Err = ValidationError;
    /// Reads a query string's granularity, in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Granularity::ALL
            .into_iter()
            .find(|g| g.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                ValidationError::new(
                    "granularity",
                    format!("must be hourly, daily or monthly (got {s:?})"),
                )
            })
    }
}

/// The costs of one bucket of history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CostBucket {
    /// The bucket's first instant.
    pub start: Timestamp,
    /// The first instant after the bucket.
    pub end: Timestamp,
    /// Everything the bucket's figures add up to, exact: settled and
    /// provisional.
    pub total: Money,
    /// The part of `total` accrued since the last settlement, at the
    /// model's rates: shown so costs are current, settled (and charged) by
    /// the next reconciliation.
    pub provisional: Money,
    /// Only the clusters that cost something in the bucket (settled and
    /// provisional).
    pub by_cluster: BTreeMap<String, Money>,
    /// Only the sources of the bucket's settled figures.
    pub by_source: BTreeMap<CostSource, Money>,
}

impl CostBucket {
    fn empty(start: Timestamp, end: Timestamp) -> Self {
        Self {
            start,
            end,
            total: Money::ZERO,
            provisional: Money::ZERO,
            by_cluster: BTreeMap::new(),
            by_source: BTreeMap::new(),
        }
    }

    fn add(&mut self, figure: &CostFigure) {
        self.total += figure.amount;
        *self.by_cluster.entry(figure.cluster.clone()).or_default() += figure.amount;
        *self.by_source.entry(figure.source).or_default() += figure.amount;
    }

    fn add_provisional(&mut self, cost: &HourCost) {
        self.total += cost.amount;
        self.provisional += cost.amount;
        *self.by_cluster.entry(cost.cluster.clone()).or_default() += cost.amount;
    }
}

/// Cost history: the settled figures and the provisional costs whose hour
/// lies in `[from, to)`, added up in buckets that partition `[from, to)` at
/// UTC boundaries (hours, days at 00:00, months on the 1st). Every bucket is
/// present, empty ones with zero totals; the first and last are partial
/// when `from` or `to` are not on a boundary. Callers bound the range (an
/// hourly year is 8 760 buckets).
pub fn buckets(
    figures: &[CostFigure],
    provisional: &[HourCost],
    granularity: Granularity,
    from: Timestamp,
    to: Timestamp,
) -> Vec<CostBucket> {
    let mut buckets = Vec::new();
    let mut start = from;
    while start < to {
        let end = granularity.next_boundary(start).min(to);
        buckets.push(CostBucket::empty(start, end));
        start = end;
    }
    let index = |buckets: &[CostBucket], hour: Timestamp| {
        (from <= hour && hour < to).then(|| buckets.partition_point(|b| b.end <= hour))
    };
    for figure in figures {
        if let Some(bucket) = index(&buckets, figure.hour).and_then(|i| buckets.get_mut(i)) {
            bucket.add(figure);
        }
    }
    for cost in provisional {
        if let Some(bucket) = index(&buckets, cost.hour).and_then(|i| buckets.get_mut(i)) {
            bucket.add_provisional(cost);
        }
    }
    buckets
}

/// Statistics of a series of amounts (generation 1's `Stats` message).
///
/// `mean`, `min`, `max` and `std` are `f64` because that is what reports
/// and gRPC's `double` carry; they are computed exactly and converted last.
/// `std` is the population standard deviation. An empty series has count 0
/// and zeros everywhere.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// How many values.
    pub count: u64,
    /// Their arithmetic mean.
    pub mean: f64,
    /// The smallest.
    pub min: f64,
    /// The largest.
    pub max: f64,
    /// The population standard deviation.
    pub std: f64,
}

/// The [`Stats`] of `values`.
pub fn stats(values: &[Money]) -> Stats {
    let (Some(min), Some(max)) = (values.iter().min(), values.iter().max()) else {
        return Stats::default();
    };
    let count = values.len() as u64;
    let total: Money = values.iter().sum();
    let mean = total
        .amount()
        .checked_div(Decimal::from(count))
        .unwrap_or_default();
    let variance = values
        .iter()
        .map(|value| {
            let deviation = value.amount().saturating_sub(mean).to_f64().unwrap_or(0.0);
            deviation * deviation
        })
        .sum::<f64>()
        / count as f64;
    Stats {
        count,
        mean: mean.to_f64().unwrap_or(0.0),
        min: min.to_f64(),
        max: max.to_f64(),
        std: variance.sqrt(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeDelta, TimeZone, Utc};
    use proptest::prelude::*;

    fn m(text: &str) -> Money {
        Money::parse(text).unwrap()
    }

    fn at(d: u32, h: u32, mi: u32) -> Timestamp {
        Utc.with_ymd_and_hms(2026, 5, d, h, mi, 0).unwrap()
    }

    fn span(cluster: &str, start: Timestamp, end: Option<Timestamp>, nodes: u32) -> SizeSpan {
        SizeSpan {
            cluster: cluster.into(),
            start,
            end,
            nodes,
            model: CostModel::GENERATION_1,
        }
    }

    fn hour_cost(cluster: &str, hour: Timestamp, amount: &str) -> HourCost {
        HourCost {
            cluster: cluster.into(),
            hour,
            amount: m(amount),
        }
    }

    #[test]
    fn the_cost_model_reads_toml_floats_and_strings_exactly() {
        let model: CostModel =
            toml::from_str("fixed_hourly_usd = 0.153\nper_node_hourly_usd = \"0.226\"").unwrap();
        assert_eq!(model, CostModel::GENERATION_1);
        assert_eq!(model.hourly(3).to_string(), "0.831");
        assert_eq!(model.hourly(0), Rate::ZERO);
        assert_eq!(model.hourly(1000).to_string(), "226.153");
        let free: CostModel = toml::from_str("").unwrap();
        assert_eq!(free, CostModel::default());
        assert_eq!(free.hourly(10), Rate::ZERO);
        assert!(toml::from_str::<CostModel>("fixed_hourly_usd = -1.0").is_err());
        assert!(toml::from_str::<CostModel>("per_node = 1.0").is_err());
        let json = serde_json::to_value(CostModel::GENERATION_1).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"fixed_hourly_usd": "0.153", "per_node_hourly_usd": "0.226"})
        );
    }

    #[test]
    fn ninety_minutes_of_three_nodes_cost_exactly_1_2465() {
        let spans = [span("c", at(1, 10, 0), Some(at(1, 11, 30)), 3)];
        let hours = accrue(&spans, at(1, 0, 0), at(2, 0, 0));
        assert_eq!(
            hours,
            [
                hour_cost("c", at(1, 10, 0), "0.831"),
                hour_cost("c", at(1, 11, 0), "0.4155"),
            ]
        );
        assert_eq!(hours.iter().map(|h| h.amount).sum::<Money>(), m("1.2465"));
        assert_eq!(spans[0].cost(at(9, 0, 0)), m("1.2465"));
    }

    #[test]
    fn accrual_clips_to_the_window_and_skips_what_costs_nothing() {
        let spans = [
            span("b", at(1, 9, 30), None, 1),
            span("a", at(1, 10, 15), Some(at(1, 10, 45)), 2),
            span("a", at(1, 10, 45), Some(at(1, 12, 0)), 0),
            span("z", at(1, 12, 0), Some(at(1, 11, 0)), 5),
        ];
        let hours = accrue(&spans, at(1, 10, 0), at(1, 12, 0));
        // "a": half an hour of 0.153 + 2 × 0.226 = 0.605 $/h; "b": 0.379 $/h
        // from 10:00 (clipped) until 12:00 (still running)
        assert_eq!(
            hours,
            [
                hour_cost("a", at(1, 10, 0), "0.3025"),
                hour_cost("b", at(1, 10, 0), "0.379"),
                hour_cost("b", at(1, 11, 0), "0.379"),
            ]
        );
        assert!(accrue(&spans, at(1, 12, 0), at(1, 12, 0)).is_empty());
    }

    #[test]
    fn spans_of_one_cluster_in_one_hour_add_up() {
        let spans = [
            span("c", at(1, 10, 0), Some(at(1, 10, 20)), 1),
            span("c", at(1, 10, 20), Some(at(1, 10, 40)), 4),
        ];
        let hours = accrue(&spans, at(1, 0, 0), at(2, 0, 0));
        // 20 minutes at 0.379 and 20 at 1.057: a third of 1.436
        let third = |rate: &str| {
            Rate::parse(rate)
                .unwrap()
                .for_duration(TimeDelta::minutes(20))
        };
        assert_eq!(hours.len(), 1);
        assert_eq!(hours[0].amount, third("0.379") + third("1.057"));
        assert_eq!(third("0.379"), m("0.1263333333"));
    }

    #[test]
    fn apportioned_parts_add_up_exactly() {
        let parts = apportion(m("10"), at(1, 0, 0), at(2, 0, 0));
        assert_eq!(parts.len(), 24);
        assert_eq!(parts[0], (at(1, 0, 0), m("0.4166666666")));
        assert_eq!(parts[23], (at(1, 23, 0), m("0.4166666682")));
        assert_eq!(parts.iter().map(|p| p.1).sum::<Money>(), m("10"));
        assert_eq!(
            apportion(m("-3"), at(1, 5, 0), at(1, 5, 0)),
            [(at(1, 5, 0), m("-3"))]
        );
        assert_eq!(
            apportion(m("9"), at(1, 5, 0), at(1, 8, 0)),
            [
                (at(1, 5, 0), m("3")),
                (at(1, 6, 0), m("3")),
                (at(1, 7, 0), m("3"))
            ]
        );
    }

    #[test]
    fn cost_explorer_replaces_the_model_where_it_has_figures() {
        let model = [
            hour_cost("a", at(1, 10, 0), "0.831"),
            hour_cost("a", at(1, 11, 0), "0.831"),
            hour_cost("b", at(1, 10, 0), "0.379"),
        ];
        let cost_explorer = [
            hour_cost("a", at(1, 11, 0), "0.5"),
            hour_cost("a", at(1, 11, 0), "0.25"),
            hour_cost("b", at(1, 10, 0), "0"),
            hour_cost("c", at(1, 9, 0), "1.1"),
        ];
        let figure = |cluster: &str, hour, amount: &str, source| CostFigure {
            cluster: cluster.into(),
            hour,
            amount: m(amount),
            source,
        };
        use CostSource::*;
        assert_eq!(
            effective(&model, &cost_explorer),
            [
                figure("a", at(1, 10, 0), "0.831", Model),
                figure("a", at(1, 11, 0), "0.75", CostExplorer),
                figure("b", at(1, 10, 0), "0", CostExplorer),
                figure("c", at(1, 9, 0), "1.1", CostExplorer),
            ]
        );
        assert_eq!(
            serde_json::to_value(CostExplorer).unwrap(),
            serde_json::json!("cost_explorer")
        );
    }

    #[test]
    fn granularity_reads_any_case() {
        for text in ["HOURLY", "hourly", "Hourly"] {
            assert_eq!(text.parse::<Granularity>().unwrap(), Granularity::Hourly);
            let json = format!("\"{text}\"");
            assert_eq!(
                serde_json::from_str::<Granularity>(&json).unwrap(),
                Granularity::Hourly
            );
        }
        assert_eq!("DAILY".parse::<Granularity>().unwrap(), Granularity::Daily);
        assert_eq!(
            serde_json::to_string(&Granularity::Monthly).unwrap(),
            "\"monthly\""
        );
        assert_eq!(
            "weekly".parse::<Granularity>().unwrap_err().field,
            "granularity"
        );
    }

    fn figure(cluster: &str, hour: Timestamp, amount: &str, source: CostSource) -> CostFigure {
        CostFigure {
            cluster: cluster.into(),
            hour,
            amount: m(amount),
            source,
        }
    }

    #[test]
    fn daily_buckets_include_empty_days_and_split_by_cluster_and_source() {
        let figures = [
            figure("a", at(1, 10, 0), "1", CostSource::Model),
            figure("b", at(1, 23, 0), "2", CostSource::CostExplorer),
            figure("a", at(3, 0, 0), "4", CostSource::Model),
            figure("a", at(4, 0, 0), "8", CostSource::Model),
            figure("a", at(1, 9, 0), "16", CostSource::Model),
        ];
        let provisional = [HourCost {
            cluster: "b".into(),
            hour: at(3, 5, 0),
            amount: m("0.5"),
        }];
        let days = buckets(
            &figures,
            &provisional,
            Granularity::Daily,
            at(1, 10, 0),
            at(4, 0, 0),
        );
        let spans: Vec<_> = days.iter().map(|b| (b.start, b.end)).collect();
        assert_eq!(
            spans,
            [
                (at(1, 10, 0), at(2, 0, 0)),
                (at(2, 0, 0), at(3, 0, 0)),
                (at(3, 0, 0), at(4, 0, 0)),
            ]
        );
        let totals: Vec<_> = days.iter().map(|b| b.total).collect();
        assert_eq!(totals, [m("3"), m("0"), m("4.5")]);
        let provisional: Vec<_> = days.iter().map(|b| b.provisional).collect();
        assert_eq!(provisional, [m("0"), m("0"), m("0.5")]);
        assert_eq!(days[2].by_cluster["b"], m("0.5"));
        assert_eq!(
            days[2].by_source,
            BTreeMap::from([(CostSource::Model, m("4"))]),
            "sources name settled figures only"
        );
        assert_eq!(
            days[0].by_cluster,
            BTreeMap::from([("a".into(), m("1")), ("b".into(), m("2"))])
        );
        assert_eq!(
            days[0].by_source,
            BTreeMap::from([
                (CostSource::Model, m("1")),
                (CostSource::CostExplorer, m("2"))
            ])
        );
        assert!(days[1].by_cluster.is_empty());
    }

    #[test]
    fn monthly_buckets_start_on_the_first() {
        let from = Utc.with_ymd_and_hms(2025, 12, 1, 0, 0, 0).unwrap();
        let to = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
        let months = buckets(&[], &[], Granularity::Monthly, from, to);
        let starts: Vec<_> = months
            .iter()
            .map(|b| b.start.format("%F").to_string())
            .collect();
        assert_eq!(starts, ["2025-12-01", "2026-01-01", "2026-02-01"]);
        assert_eq!(
            months[1].end,
            Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap()
        );
        assert_eq!(
            buckets(&[], &[], Granularity::Hourly, at(1, 0, 0), at(2, 0, 0)).len(),
            24
        );
        assert!(buckets(&[], &[], Granularity::Hourly, at(2, 0, 0), at(1, 0, 0)).is_empty());
    }

    #[test]
    fn statistics_of_a_series() {
        let s = stats(&[m("1"), m("2"), m("3"), m("4")]);
        assert_eq!(s.count, 4);
        assert_eq!((s.mean, s.min, s.max), (2.5, 1.0, 4.0));
        assert_eq!(s.std, 1.25_f64.sqrt());
        assert_eq!(stats(&[]), Stats::default());
        assert_eq!(stats(&[m("0.1"); 3]).std, 0.0);
        assert_eq!(stats(&[m("0.1"); 3]).mean, 0.1);
    }

    fn arbitrary_span() -> impl Strategy<Value = SizeSpan> {
        (
            0usize..3,
            0i64..200_000_000,
            0i64..200_000_000,
            any::<bool>(),
            0u32..40,
            0u32..2000,
            0u32..2000,
        )
            .prop_map(
                |(cluster, start, length, running, nodes, fixed, per_node)| SizeSpan {
                    cluster: ["a", "b", "c"][cluster].into(),
                    start: at(1, 0, 0) + TimeDelta::milliseconds(start),
                    end: (!running).then(|| at(1, 0, 0) + TimeDelta::milliseconds(start + length)),
                    nodes,
                    model: CostModel {
                        fixed_hourly_usd: Rate::from_mills(fixed),
                        per_node_hourly_usd: Rate::from_mills(per_node),
                    },
                },
            )
    }

    proptest! {
        #[test]
        fn the_hours_add_up_to_the_exact_cost_of_the_spans(
            spans in proptest::collection::vec(arbitrary_span(), 0..6),
        ) {
            let (from, to) = (at(1, 0, 0), at(10, 0, 0));
            let hours = accrue(&spans, from, to);
            let total: Money = hours.iter().map(|h| h.amount).sum();
            let exact: Money = spans.iter().map(|s| s.cost(to)).sum();
            prop_assert_eq!(total, exact);
            for pair in hours.windows(2) {
                prop_assert!((&pair[0].cluster, pair[0].hour) < (&pair[1].cluster, pair[1].hour));
            }
            for h in &hours {
                prop_assert!(!h.amount.is_zero());
                prop_assert_eq!(calendar::hour_start(h.hour), h.hour);
            }
        }

        #[test]
        fn accruing_in_pieces_adds_up_to_accruing_at_once(
            spans in proptest::collection::vec(arbitrary_span(), 0..6),
            cut in 0i64..240_000_000,
        ) {
            let (from, to) = (at(1, 0, 0), at(4, 0, 0));
            let cut = from + TimeDelta::milliseconds(cut);
            let mut pieces: BTreeMap<(String, Timestamp), Money> = BTreeMap::new();
            for h in accrue(&spans, from, cut).into_iter().chain(accrue(&spans, cut, to)) {
                *pieces.entry((h.cluster, h.hour)).or_default() += h.amount;
            }
            pieces.retain(|_, amount| !amount.is_zero());
            let whole: BTreeMap<_, _> = accrue(&spans, from, to)
                .into_iter()
                .map(|h| ((h.cluster, h.hour), h.amount))
                .collect();
            prop_assert_eq!(pieces, whole);
        }

        #[test]
        fn apportioned_parts_always_add_up(units in -10i64.pow(15)..10i64.pow(15), hours in 0i64..2000) {
            let amount = Money::from_decimal(Decimal::new(units, 4)).unwrap();
            let parts = apportion(amount, at(1, 0, 0), at(1, 0, 0) + TimeDelta::hours(hours));
            prop_assert_eq!(parts.len() as i64, hours.max(1));
            prop_assert_eq!(parts.iter().map(|p| p.1).sum::<Money>(), amount);
        }

        #[test]
        fn buckets_keep_every_figure_in_the_range(
            figures in proptest::collection::vec((0i64..2000, 0i64..1000), 0..30),
            granularity in proptest::sample::select(Granularity::ALL.to_vec()),
            from_hour in 0i64..1000, length in 0i64..2000,
        ) {
            let base = at(1, 0, 0);
            let figures: Vec<CostFigure> = figures
                .into_iter()
                .map(|(hour, cents)| CostFigure {
                    cluster: "c".into(),
                    hour: base + TimeDelta::hours(hour),
                    amount: Money::from_cents(cents),
                    source: CostSource::Model,
                })
                .collect();
            let (from, to) = (base + TimeDelta::hours(from_hour), base + TimeDelta::hours(from_hour + length));
            let result = buckets(&figures, &[], granularity, from, to);
            let in_range: Money = figures.iter().filter(|f| from <= f.hour && f.hour < to).map(|f| f.amount).sum();
            prop_assert_eq!(result.iter().map(|b| b.total).sum::<Money>(), in_range);
            if let (Some(first), Some(last)) = (result.first(), result.last()) {
                prop_assert_eq!(first.start, from);
                prop_assert_eq!(last.end, to);
            }
            for pair in result.windows(2) {
                prop_assert_eq!(pair[0].end, pair[1].start);
                prop_assert_eq!(granularity.next_boundary(pair[0].start), pair[0].end);
            }
        }
    }
}
