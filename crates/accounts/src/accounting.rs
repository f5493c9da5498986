//! Organizations' money (docs/domain.md §8): what each
//! cluster cost per hour (accrued from which node count ran when, at its
//! blueprint's rates; Cost Explorer's figures replace them where known),
//! reconciliation of each account (hourly, and at once when an
//! administrator changes one), and the budget's enforcement — warnings at
//! thresholds, and an organization whose balance falls below the floor has
//! its clusters destroyed (reason `budget`).
//!
//! Every action goes through the store's transactions and the operation
//! queue like a user's; the rules are `core`'s.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use slipway_core::blueprint::BlueprintMetadata;
use slipway_core::budget::{must_shut_down, warnings};
use slipway_core::cost::accrue;
use slipway_core::forecast::{ClusterCost, burn_rates, depletion};
use slipway_core::rules::{
    ClusterSnapshot, Outcome, RuleContext, decide_budget_minimum, decide_destroy,
};
use slipway_core::{
    BudgetPolicy, CapacityPolicy, CostSource, HourCost, OperationId, OrgName, Reason, Subject,
    Timestamp, calendar,
};
use slipway_store::{AuditIntent, ClusterFilter, Store};
use tracing::{error, info, warn};

use crate::cost_explorer::CostExplorerConfig;

/// Organizations' accounts (`[accounts]` in the configuration).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccountsConfig {
    /// How often costs are accrued and accounts reconciled.
    #[serde(with = "humantime_serde")]
    pub reconcile_every: Duration,
    /// The floor, the horizon of the deploy rule, and the warnings.
    pub budget: BudgetPolicy,
    /// How long capacity requests may live.
    pub capacity: CapacityPolicy,
    /// How often the capacity keeper looks again, at the latest, at
    /// requests that wait (for the budget, a limit) and at requests made
    /// through other processes.
    #[serde(with = "humantime_serde")]
    pub capacity_recheck: Duration,
    /// Where warnings and shutdowns are posted (JSON), besides the audit
    /// log.
    pub webhook_url: Option<String>,
    pub cost_explorer: CostExplorerConfig,
}

impl Default for AccountsConfig {
    fn default() -> Self {
        Self {
            reconcile_every: Duration::from_secs(3600),
            budget: BudgetPolicy::default(),
            capacity: CapacityPolicy::default(),
            capacity_recheck: Duration::from_secs(30),
            webhook_url: None,
            cost_explorer: CostExplorerConfig::default(),
        }
    }
}

/// What a reconciliation (with its accrual and enforcement) did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Kept {
    /// The account was reconciled (it exists).
    pub reconciled: Option<slipway_core::Reconciliation>,
    /// Clusters whose destroy the budget queued.
    pub shut_down: Vec<String>,
    /// Warnings sent.
    pub warned: Vec<String>,
}

/// Accrues, reconciles and enforces, now, on behalf of `actor` (a subject
/// and what to call it).
pub async fn reconcile(
    store: &dyn Store,
    config: &AccountsConfig,
    organization: &OrgName,
    actor: &(Subject, String),
) -> anyhow::Result<Kept> {
    if config.cost_explorer.enabled {
        crate::cost_explorer::fetch_if_due(store, &config.cost_explorer).await;
    }
    let now = Utc::now();
    accrue_model_costs(store, config, organization, now).await?;
    let audit = AuditIntent::system(&actor.0, "account.reconcile").named(actor.1.clone());
    let Some(reconciliation) = store
        .reconcile(organization, now, &audit, &|account, charges| {
            slipway_core::account::reconcile(account, now, charges)
        })
        .await?
    else {
        return Ok(Kept::default());
    };
    let mut kept = Kept {
        reconciled: Some(reconciliation.clone()),
        ..Kept::default()
    };
    let account = &reconciliation.account;
    let policy = &config.budget;
    if must_shut_down(account, policy) {
        kept.shut_down = shut_down(store, config, organization, account.balance, now).await?;
    }
    let rate = burn_rates(&cluster_costs(store, organization).await?).current;
    let time_to_depletion = depletion(
        account.balance,
        account.monthly_allowance,
        account.max_balance,
        rate,
        now,
    )
    .map(|at| at - now);
    let sent = store
        .account(organization)
        .await?
        .map(|r| r.warnings)
        .unwrap_or_default();
    let (to_send, still) = warnings(&sent, account, time_to_depletion, policy);
    for warning in &to_send {
        tell(
            store,
            config,
            organization,
            "budget.warning",
            &warning.key,
            serde_json::json!({"warning": warning.key, "message": warning.message, "balance": account.balance}),
        )
        .await;
        kept.warned.push(warning.key.clone());
    }
    if still != sent {
        store.set_warnings(organization, &still).await?;
    }
    Ok(kept)
}

/// Records the model's cost of every hour since costs were last accrued,
/// up to `now`: this is the settlement that turns provisional costs into
/// recorded ones (and, where there is an account, charged ones).
async fn accrue_model_costs(
    store: &dyn Store,
    config: &AccountsConfig,
    organization: &OrgName,
    now: Timestamp,
) -> anyhow::Result<()> {
    // From the hour costs were last accrued up to — earlier hours were
    // recorded then, and a span that ran since is read whole.
    let since = accrual_start(store, config, organization, now).await?;
    let from = calendar::hour_start(since.min(now));
    let spans = store.size_spans(organization, from, now).await?;
    let hours = accrue(&spans, from, now);
    store
        .record_costs(organization, CostSource::Model, &hours, Some(now))
        .await?;
    Ok(())
}

/// Since when costs are not recorded: the last accrual, or — before the
/// first — a reconciliation period ago (what the keeper accrues first).
async fn accrual_start(
    store: &dyn Store,
    config: &AccountsConfig,
    organization: &OrgName,
    now: Timestamp,
) -> anyhow::Result<Timestamp> {
    Ok(store
        .costs_accrued_at(organization)
        .await?
        .unwrap_or_else(|| {
            calendar::earlier(
                now,
                TimeDelta::from_std(config.reconcile_every * 2).unwrap_or(TimeDelta::days(1)),
            )
        }))
}

/// What the organization's clusters (or one of them) cost since the last
/// settlement, up to `now`, at the model's rates: shown beside the settled
/// figures, marked provisional, until the next settlement records them —
/// the same amounts, as accrual is exact however it is cut. Also when that
/// settlement was (`None`: never).
pub async fn provisional_costs(
    store: &dyn Store,
    config: &AccountsConfig,
    organization: &OrgName,
    now: Timestamp,
) -> anyhow::Result<(Vec<HourCost>, Option<Timestamp>)> {
    let settled_at = store.costs_accrued_at(organization).await?;
    let since = accrual_start(store, config, organization, now).await?;
    if since >= now {
        return Ok((Vec::new(), settled_at));
    }
    let spans = store.size_spans(organization, since, now).await?;
    Ok((accrue(&spans, since, now), settled_at))
}

/// Every cluster of the organization as the burn rates see it: its cost
/// model, whether it is deployed, and its minimum, current and maximum
/// node counts.
pub async fn cluster_costs(
    store: &dyn Store,
    organization: &OrgName,
) -> anyhow::Result<Vec<ClusterCost>> {
    let org = store.organization(organization).await?;
    let max_by_org = org.map_or(u32::MAX, |o| o.limits.max_nodes);
    let mut costs = Vec::new();
    // Clusters mostly share a few blueprint versions: each is read once.
    let mut metadata: HashMap<(String, String), Option<BlueprintMetadata>> = HashMap::new();
    for snap in clusters_of(store, organization).await? {
        let cluster = &snap.cluster;
        let spec = cluster.deployed.as_ref().unwrap_or(&cluster.spec);
        let key = (spec.blueprint.to_string(), spec.version.clone());
        if !metadata.contains_key(&key) {
            let version = store.blueprint_version(&key.0, &key.1).await?;
            metadata.insert(key.clone(), version.map(|v| v.metadata));
        }
        let Some(blueprint) = &metadata[&key] else {
            continue;
        };
        let bounds = blueprint.nodes;
        costs.push(ClusterCost {
            model: blueprint.cost,
            deployed: snap.counts_as_deployed(),
            min_nodes: bounds.min,
            current_nodes: cluster.deployed.as_ref().map_or(0, |d| d.nodes),
            max_nodes: bounds.max.min(max_by_org),
        });
    }
    Ok(costs)
}

/// Every cluster of the organization (as many as its limits allow), read a
/// page at a time.
async fn clusters_of(
    store: &dyn Store,
    organization: &OrgName,
) -> anyhow::Result<Vec<ClusterSnapshot>> {
    const PAGE: u32 = 500;
    let mut clusters: Vec<ClusterSnapshot> = Vec::new();
    loop {
        let page = store
            .clusters(&ClusterFilter {
                after: clusters.last().map(|last| last.cluster.name.clone()),
                limit: PAGE,
                visible_to: None,
                organization: Some(organization.clone()),
                ..Default::default()
            })
            .await?;
        let full = page.len() == PAGE as usize;
        clusters.extend(page);
        if !full {
            return Ok(clusters);
        }
    }
}

/// The organization is out of money: every deployed cluster gets a destroy
/// (reason `budget`) — a protected one is scaled to its blueprint's
/// minimum instead —, audited, and its people are told.
async fn shut_down(
    store: &dyn Store,
    config: &AccountsConfig,
    organization: &OrgName,
    balance: slipway_core::Money,
    now: Timestamp,
) -> anyhow::Result<Vec<String>> {
    let actor = Subject::slipway("budget");
    let mut destroyed = Vec::new();
    let mut scaled = Vec::new();
    for snap in clusters_of(store, organization).await? {
        if !snap.counts_as_deployed() {
            continue;
        }
        let ctx = RuleContext::system(
            &actor,
            Reason::Budget,
            now,
            OperationId::from_uuid(uuid::Uuid::now_v7()),
        );
        let audit = AuditIntent::system(&actor, "budget.shutdown");
        if snap.cluster.protected {
            let spec = &snap.cluster.spec;
            let Some(blueprint) = store
                .blueprint_version(spec.blueprint.as_str(), &spec.version)
                .await?
            else {
                warn!(cluster = %snap.cluster.name, "out of money, protected, and its blueprint version is gone: left as it is");
                continue;
            };
            let min = blueprint.metadata.nodes.min;
            let decided = store
                .decide(&snap.cluster.name, now, &audit, &|snap, _| {
                    Ok(decide_budget_minimum(snap, min, &ctx))
                })
                .await;
            match decided {
                Ok(d) if d.decision.new_operation().is_some() => {
                    warn!(%organization, cluster = %snap.cluster.name, "out of money: a protected cluster is scaled to its minimum");
                    scaled.push(snap.cluster.name.to_string());
                }
                Ok(_) => {}
                Err(e) => {
                    warn!(error = %e, cluster = %snap.cluster.name, "cannot scale the protected cluster down yet")
                }
            }
            continue;
        }
        match store
            .decide(&snap.cluster.name, now, &audit, &|snap, _| {
                decide_destroy(snap, &ctx, false)
            })
            .await
        {
            Ok(decided) => {
                if matches!(
                    decided.decision.outcome,
                    Outcome::Enqueued(_) | Outcome::Joined(_)
                ) {
                    warn!(%organization, cluster = %snap.cluster.name, "out of money: destroying the cluster");
                    destroyed.push(snap.cluster.name.to_string());
                }
            }
            // Another operation in the way: the next round tries again.
            Err(e) => {
                warn!(error = %e, cluster = %snap.cluster.name, "cannot queue the budget's destroy yet")
            }
        }
    }
    if !destroyed.is_empty() || !scaled.is_empty() {
        tell(
            store,
            config,
            organization,
            "budget.shutdown",
            "destroyed",
            serde_json::json!({
                "balance": balance,
                "floor": config.budget.floor,
                "clusters": destroyed,
                "protected_scaled_to_minimum": scaled,
            }),
        )
        .await;
    }
    Ok(destroyed)
}

/// Tells the organization's people: an audit entry, and the webhook if one
/// is configured (best effort: a webhook that fails is logged).
async fn tell(
    store: &dyn Store,
    config: &AccountsConfig,
    organization: &OrgName,
    action: &str,
    result: &str,
    detail: serde_json::Value,
) {
    let entry = AuditIntent::system(&Subject::slipway("budget"), action).entry(
        Utc::now(),
        organization.to_string(),
        result,
        detail.clone(),
    );
    if let Err(e) = store.append_audit(entry).await {
        error!(error = %e, "cannot write the audit log");
    }
    if let Some(url) = &config.webhook_url {
        let body = serde_json::json!({
            "event": action,
            "organization": organization,
            "detail": detail,
            "at": Utc::now(),
        });
        let sent = reqwest_client()
            .post(url)
            .json(&body)
            .send()
            .await
            .and_then(|r| r.error_for_status());
        match sent {
            Ok(_) => info!(%organization, event = action, "webhook told"),
            Err(e) => {
                warn!(error = %e, %organization, event = action, "the webhook could not be told")
            }
        }
    }
}

fn reqwest_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("an HTTP client")
}
