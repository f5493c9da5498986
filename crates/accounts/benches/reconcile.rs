//! Reconciliation of organizations' accounts (the accounts keeper's round,
//! `slipway_accounts::accounting::reconcile` for every organization: accrue
//! the model's costs since the last charge, reconcile the account in one
//! transaction, burn rates and warnings), on SQLite in a temporary
//! directory, seeded through `slipway_store`.
//!
//! Every organization has an account and one 3-node cluster of a priced
//! blueprint (generation 1's rates), deployed a year ago and resized every
//! month since (through the queue: decide, lease, finish), and a year of
//! hourly costs recorded (the model's, from those spans). Measured, for the
//! main site (1,000 organizations) and, in the same run, baselines:
//!
//! - **catch-up**: the first reconciliation charges the whole year (every
//!   hour is unsettled);
//! - **steady**: the next one, an hourly round — only the current hour is
//!   unsettled. With the same organizations and no history (only the
//!   cluster and its deploy), it should cost the same: a steady round must
//!   not grow with the length of the history;
//! - steady with 10 organizations and a year of history: per organization,
//!   the same as with 1,000 (linear in organizations).
//!
//! Time, time per organization, and the peak of heap memory above what was
//! allocated before the phase (a counting allocator), and the process's
//! peak resident set (VmHWM) at the end.
//!
//! `cargo bench -p slipway-accounts --bench reconcile`. Knobs: BENCH_ORGS
//! (default 1000), BENCH_SMALL_ORGS (default 10), BENCH_HOURS (history in
//! hours, default 8760), BENCH_RESIZES (spans of history per cluster, default
//! 12), BENCH_STEADY_ROUNDS (default 3).

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use slipway_accounts::accounting::{AccountsConfig, reconcile};
use slipway_core::access::{Level, Limits};
use slipway_core::blueprint::{BlueprintMetadata, NodeBounds};
use slipway_core::lifecycle::Ending;
use slipway_core::rules::{self, DeployRequest, RuleContext};
use slipway_core::{
    Account, BlueprintName, ClusterName, ClusterSpec, CostModel, CostSource, Money, OperationId,
    OrgName, Reason, Subject, Timestamp, Variables, calendar,
};
use slipway_store::*;

/// Counts heap bytes in use and their peak since the last reset.
struct Counting;

static IN_USE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed on to the system allocator unchanged; only
// the counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is the system allocator's.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            let now = IN_USE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) };
        IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as above.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            if new_size >= layout.size() {
                let now = IN_USE.fetch_add(new_size - layout.size(), Ordering::Relaxed)
                    + (new_size - layout.size());
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                IN_USE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// The process's peak resident set, from `/proc/self/status`.
fn vm_hwm() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.trim_start_matches("VmHWM:").trim().to_owned())
        })
        .unwrap_or_else(|| "?".into())
}

const BLUEPRINT: &str = "priced";
const VERSION: &str = "1.0.0";

fn actor() -> (Subject, String) {
    (Subject::slipway("bench"), "bench".into())
}

fn intent(action: &str) -> AuditIntent {
    AuditIntent {
        actor: Subject::slipway("bench").to_string(),
        actor_name: "bench".into(),
        level: slipway_store::AuditLevel::Caller(slipway_core::Level::Admin),
        action: action.into(),
        quiet: false,
    }
}

/// A site on a fresh SQLite database.
struct Site {
    _dir: tempfile::TempDir,
    store: SqlStore,
    orgs: Vec<OrgName>,
}

/// Seeds `orgs` organizations, each with an account and one cluster
/// deployed `history` ago (at least an hour), resized `resizes` times since,
/// and the model's cost of every hour of it recorded but the current one.
async fn seed(orgs: usize, history: TimeDelta, resizes: usize, label: &str) -> Site {
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("bench.db").display()
    );
    let store = SqlStore::connect(&url).await.expect("SQLite");
    let now = Utc::now();
    let since = now - history.max(TimeDelta::hours(1));
    store
        .register_blueprint_version(BlueprintVersion {
            blueprint: BLUEPRINT.into(),
            version: VERSION.into(),
            metadata: BlueprintMetadata {
                name: BLUEPRINT.into(),
                description: String::new(),
                nodes: NodeBounds {
                    min: 1,
                    max: 16,
                    default: 3,
                },
                variables: BTreeMap::new(),
                cost: CostModel::GENERATION_1,
                worker_tags: Vec::new(),
                jobs: None,
            },
            files: BTreeMap::from([("main.tf".into(), String::new())]),
            digest: "bench".into(),
            metadata_text: None,
            created_at: since,
            organizations: None,
            deprecated: None,
        })
        .await
        .expect("register the blueprint");
    let mut names = Vec::with_capacity(orgs);
    let step = history / i32::try_from(resizes + 1).unwrap_or(i32::MAX);
    for i in 0..orgs {
        let org = OrgName::parse(&format!("org-{i:05}")).unwrap();
        store
            .create_organization(Organization {
                name: org.clone(),
                github_org: None,
                github_team: None,
                limits: Limits::default(),
                destroy_when_idle: false,
                created_at: since,
                updated_at: since,
            })
            .await
            .expect("an organization");
        store
            .change_account(&org, since, &intent("account.open"), "bench", &|_| {
                Ok(Account::open(
                    Money::dollars(1_000_000),
                    Money::dollars(10_000),
                    Money::dollars(10_000_000),
                    since,
                ))
            })
            .await
            .expect("an account");
        let cluster = ClusterName::parse(&format!("c-{i:05}")).unwrap();
        store
            .create_cluster(NewCluster {
                name: cluster.clone(),
                organization: org.clone(),
                public: false,
                spec: ClusterSpec {
                    blueprint: BlueprintName::parse(BLUEPRINT).unwrap(),
                    version: VERSION.into(),
                    nodes: 3,
                    variables: Variables::new(),
                },
                created_by: Subject::slipway("bench").to_string(),
                now: since,
                limits: None,
            })
            .await
            .expect("a cluster");
        // Deployed, then resized between 3 and 4 nodes: each a real
        // operation through the queue, ending at its time in the past.
        for r in 0..=resizes {
            let at = since + step * i32::try_from(r).unwrap_or(i32::MAX);
            run_deploy(&store, &cluster, if r % 2 == 0 { 3 } else { 4 }, at).await;
        }
        // The year's hourly costs, as the keeper would have accrued them.
        let current_hour = calendar::hour_start(now);
        let spans = store
            .size_spans(&org, calendar::hour_start(since), current_hour)
            .await
            .expect("spans");
        let hours = slipway_core::cost::accrue(&spans, calendar::hour_start(since), current_hour);
        store
            .record_costs(&org, CostSource::Model, &hours, None)
            .await
            .expect("costs");
        names.push(org);
    }
    println!(
        "  seeded {label}: {orgs} organizations, {} h of history, {} spans each, in {:.1} s",
        history.num_hours(),
        resizes + 1,
        started.elapsed().as_secs_f64()
    );
    Site {
        _dir: dir,
        store,
        orgs: names,
    }
}

/// A deploy (or update) to `nodes` decided, leased and finished at `at`.
async fn run_deploy(store: &SqlStore, cluster: &ClusterName, nodes: u32, at: Timestamp) {
    let ctx = RuleContext {
        now: at,
        actor: Subject::slipway("bench").to_string(),
        level: Level::Admin,
        reason: Reason::User,
        new_operation_id: OperationId::from_uuid(uuid::Uuid::now_v7()),
    };
    let request = DeployRequest {
        nodes: Some(nodes),
        cost_model: CostModel::GENERATION_1,
        ..DeployRequest::default()
    };
    store
        .decide(cluster, at, &intent("cluster.deploy"), &|snap, org| {
            rules::decide_deploy(snap, org, &request, &ctx)
        })
        .await
        .expect("a deploy");
    let lease = store
        .lease_next("bench", &[], at, Duration::from_secs(60), "bench")
        .await
        .expect("a lease")
        .expect("the deploy is queued");
    store
        .finish(
            &lease.operation.id,
            "bench",
            Ending::Succeeded {
                outputs: Default::default(),
            },
            serde_json::Value::Null,
            at + TimeDelta::seconds(30),
        )
        .await
        .expect("finished");
}

/// What one round over every organization took.
struct Measured {
    took: Duration,
    peak_heap: usize,
    hours_charged: usize,
}

async fn round(site: &Site, config: &AccountsConfig) -> Measured {
    let base = IN_USE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let started = Instant::now();
    let mut hours_charged = 0;
    for org in &site.orgs {
        let kept = reconcile(&site.store, config, org, &actor())
            .await
            .expect("reconciled");
        hours_charged += kept.reconciled.map_or(0, |r| r.charges.len());
    }
    Measured {
        took: started.elapsed(),
        peak_heap: PEAK.load(Ordering::Relaxed).saturating_sub(base),
        hours_charged,
    }
}

fn report(what: &str, orgs: usize, m: &Measured) {
    println!(
        "  {what:<44} {:>9.1} ms {:>9.3} ms/org {:>9} hours charged {:>8.1} MiB peak heap",
        m.took.as_secs_f64() * 1e3,
        m.took.as_secs_f64() * 1e3 / orgs as f64,
        m.hours_charged,
        mib(m.peak_heap)
    );
}

/// Steady rounds: the median of `rounds`.
async fn steady(site: &Site, config: &AccountsConfig, rounds: usize) -> Measured {
    let mut all = Vec::new();
    for _ in 0..rounds {
        all.push(round(site, config).await);
    }
    all.sort_by_key(|m| m.took);
    all.swap_remove(all.len() / 2)
}

#[tokio::main]
async fn main() {
    let orgs = knob("BENCH_ORGS", 1000).max(1);
    let small = knob("BENCH_SMALL_ORGS", 10).max(1);
    let hours = knob("BENCH_HOURS", 8760).max(1);
    let resizes = knob("BENCH_RESIZES", 12);
    let rounds = knob("BENCH_STEADY_ROUNDS", 3).max(1);
    let history = TimeDelta::hours(i64::try_from(hours).unwrap_or(i64::MAX));
    let config = AccountsConfig::default();
    println!("reconciliation of organizations' accounts (SQLite)");

    let main_site = seed(orgs, history, resizes, "the site").await;
    let fresh = seed(orgs, TimeDelta::hours(1), 0, "no history").await;
    let few = seed(small, history, resizes, "few organizations").await;

    let catch_up = round(&main_site, &config).await;
    report(
        &format!("catch-up, {orgs} orgs x {hours} h"),
        orgs,
        &catch_up,
    );
    // Warm the baselines the same way: their first round settles what
    // their seeding recorded.
    round(&fresh, &config).await;
    round(&few, &config).await;

    // Steady rounds, alternating the sites so none always runs warmer.
    let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        a.push(steady(&main_site, &config, 1).await);
        b.push(steady(&fresh, &config, 1).await);
        c.push(steady(&few, &config, 1).await);
    }
    let median = |mut v: Vec<Measured>| {
        v.sort_by_key(|m| m.took);
        v.swap_remove(v.len() / 2)
    };
    let (a, b, c) = (median(a), median(b), median(c));
    report(&format!("steady, {orgs} orgs x {hours} h"), orgs, &a);
    report(&format!("steady, {orgs} orgs, no history"), orgs, &b);
    report(&format!("steady, {small} orgs x {hours} h"), small, &c);
    let per_org = |m: &Measured, n: usize| m.took.as_secs_f64() / n as f64;
    println!(
        "  steady with history / without: {:.3} (1.0: history length does not matter)",
        per_org(&a, orgs) / per_org(&b, orgs)
    );
    println!(
        "  steady per org, {orgs} orgs / {small} orgs: {:.3} (1.0: linear in organizations)",
        per_org(&a, orgs) / per_org(&c, small)
    );
    println!("  peak resident set of the process: {}", vm_hwm());
}
