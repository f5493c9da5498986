//! The chaos soak: a site as production runs it — two `slipway serve`
//! replicas behind a load balancer and two `slipway worker`s on one
//! PostgreSQL database, logs archived in S3 (moto) — under a mixed
//! workload (deploys, resizes, destroys, scheduled destroys, capacity
//! requests, TEST runs, refreshes) from several clients, while a random
//! replica or worker is killed with SIGKILL every 20–60 s, PostgreSQL is
//! restarted twice and object storage stops answering once. Then the
//! faults stop, every cluster is destroyed, and what Slipway promises is
//! checked:
//!
//! - no operation lost (every one a client was given exists) and none left
//!   queued or running; none sat past its lease longer than the reclaimer
//!   needs while the database was up;
//! - every operation's log whole (queued first, finished last, no gap, at
//!   most one start) and archived or archivable;
//! - no Terraform state lock and no run credential left;
//! - no node or gateway process left (every cluster is absent at the end);
//! - every cost recorded once: the hours' costs add up to what the size
//!   spans cost, what was charged is what the account lost;
//! - the audit log names every operation.
//!
//! `cargo bench -p slipway-cli --bench soak` runs it for 20 minutes; the
//! suite runs a 3-minute version (`black_box::soak`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::balancer::Balancer;
use crate::moto::Moto;
use crate::postgres::PrivatePostgres;
use crate::server::{Options, Server, Worker, processes_mentioning};

/// The lease the site runs with: a killed process's operation is reclaimed
/// within about one and a half of it.
const LEASE: Duration = Duration::from_secs(5);

/// The organization every cluster belongs to, and what its account holds
/// at the start.
const ORG: &str = "soak";
const OPENING_BALANCE: &str = "1000000";

/// Clusters of the tests' `priced` blueprint (local nodes that cost money)
/// and of `local` (which has TEST suites).
const PRICED: usize = 8;
const LOCAL: usize = 4;

/// What to run.
pub struct Soak {
    /// The `slipway` binary.
    pub bin: PathBuf,
    /// The tests' blueprints (`priced` among them).
    pub blueprints: PathBuf,
    /// How long the faults and the workload last.
    pub duration: Duration,
    /// Requests per second the clients make, together.
    pub rate: f64,
    /// Seeds the workload's and the faults' choices.
    pub seed: u64,
}

/// What happened, and what the checks found.
#[derive(Debug, Default)]
pub struct Report {
    pub duration: Duration,
    /// Requests made, by action and answer (`202`, `409`, `unavailable`…).
    pub requests: BTreeMap<(String, String), usize>,
    /// Operations by kind, reason and final state, the background's
    /// included.
    pub operations: BTreeMap<(String, String, String), usize>,
    /// The faults, in order, with when (seconds from the start).
    pub faults: Vec<(f64, String)>,
    /// The longest an operation stayed `running` past its lease while the
    /// database was up, as sampled.
    pub longest_overdue: Duration,
    /// How long operations waited in the queue: median and longest.
    pub waited: (Duration, Duration),
    /// Logs found in object storage at the end / fetched through the API.
    pub archived: usize,
    pub logs_checked: usize,
    /// What the organization's account was charged, and the size spans'
    /// own cost.
    pub charged: Decimal,
    pub spans_cost: Decimal,
    /// From the end of the faults until every cluster was absent.
    pub settled_in: Duration,
    /// Every broken promise: empty when the soak passed.
    pub violations: Vec<String>,
}

impl Report {
    /// Operations in all.
    pub fn operation_count(&self) -> usize {
        self.operations.values().sum()
    }
}

/// The processes the faults act on.
struct Site {
    pg: PrivatePostgres,
    moto: Moto,
    balancer: Balancer,
    replicas: Vec<Server>,
    workers: Vec<Worker>,
}

/// Runs the soak and returns its report (the caller asserts on
/// `violations`).
pub fn run(soak: &Soak) -> Report {
    let mut site = start_site(soak);
    let url = site.balancer.url.clone();
    let token = site.replicas[0].token.clone();
    let client = Client::new(&url, &token);
    let clusters = set_up(&client);

    let started = Instant::now();
    let report = Mutex::new(Report::default());
    let accepted: Mutex<Vec<String>> = Mutex::default();
    let capacity: Mutex<Vec<(String, String)>> = Mutex::default();
    let stop = AtomicBool::new(false);
    let db = Database::new(&site.pg.url);

    std::thread::scope(|scope| {
        let clients = 3;
        for i in 0..clients {
            let (client, clusters) = (client.clone(), &clusters);
            let (report, accepted, capacity, stop) = (&report, &accepted, &capacity, &stop);
            let pace = Duration::from_secs_f64(clients as f64 / soak.rate);
            scope.spawn(move || {
                let mut rng = StdRng::seed_from_u64(soak.seed + i);
                while !stop.load(Ordering::Relaxed) {
                    let (action, answer, operation) = act(&client, clusters, &mut rng, capacity);
                    *report
                        .lock()
                        .unwrap()
                        .requests
                        .entry((action.to_owned(), answer))
                        .or_default() += 1;
                    accepted.lock().unwrap().extend(operation);
                    // Requests arrive at the rate's pace, with jitter.
                    std::thread::sleep(pace.mul_f64(rng.random_range(0.5..1.5)));
                }
            });
        }
        faults(soak, &mut site, &db, started, &report);
        stop.store(true, Ordering::Relaxed);
    });

    let mut report = report.into_inner().unwrap();
    report.duration = started.elapsed();
    let settling = Instant::now();
    settle(&client, &clusters, &db, &mut report);
    report.settled_in = settling.elapsed();
    check(
        &site,
        &client,
        &db,
        &accepted.into_inner().unwrap(),
        &mut report,
    );
    if !report.violations.is_empty() {
        let logs = site
            .replicas
            .iter()
            .map(Server::log)
            .chain(site.workers.iter().map(Worker::log));
        for (process, log) in ["replica 0", "replica 1", "worker 0", "worker 1"]
            .iter()
            .zip(logs)
        {
            let errors = errors_in(&log);
            if !errors.is_empty() {
                report
                    .violations
                    .push(format!("{process}'s last errors:\n{errors}"));
            }
        }
    }
    report
}

fn errors_in(log: &str) -> String {
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("ERROR") || l.contains("panicked"))
        .collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

fn start_site(soak: &Soak) -> Site {
    let pg = PrivatePostgres::start();
    let moto = Moto::start();
    let balancer = Balancer::start();
    let key = crate::secrets_key();
    let mut env: Vec<(String, String)> = [
        ("SLIPWAY_PUBLIC_URL", balancer.url.clone()),
        ("SLIPWAY_AUTH__SECRETS_KEY", key),
        ("SLIPWAY_EXECUTOR__LEASE", format!("{}s", LEASE.as_secs())),
        ("SLIPWAY_AUTH__RATE_LIMITS__API_PER_SECOND", "100000".into()),
        ("SLIPWAY_AUTH__RATE_LIMITS__API_BURST", "100000".into()),
        (
            "SLIPWAY_BLUEPRINT_DIRS",
            format!("[\"{}\"]", soak.blueprints.display()),
        ),
        ("SLIPWAY_ACCOUNTS__RECONCILE_EVERY", "10s".into()),
        ("SLIPWAY_LOG", "warn".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    env.extend(moto.storage_env());
    let options = Options {
        database_url: Some(pg.url.clone()),
        env: env.clone(),
        token: None,
    };
    let first = Server::start_with(&soak.bin, options.clone());
    let second = Server::start_with(
        &soak.bin,
        Options {
            token: Some(first.token.clone()),
            ..options
        },
    );
    balancer.set_backends(&[&first.url, &second.url]);
    let workers = (0..2)
        .map(|_| Worker::start(&soak.bin, &pg.url, &balancer.url, &[], &env))
        .collect();
    Site {
        pg,
        moto,
        balancer,
        replicas: vec![first, second],
        workers,
    }
}

/// The organization, its account and its clusters; their names.
fn set_up(client: &Client) -> Vec<(String, &'static str)> {
    let clusters: Vec<(String, &'static str)> = (0..PRICED)
        .map(|i| (format!("p{i}"), "priced"))
        .chain((0..LOCAL).map(|i| (format!("l{i}"), "local")))
        .collect();
    client.must("POST", "/v1/orgs", json!({"name": ORG}));
    client.must(
        "PATCH",
        &format!("/v1/orgs/{ORG}"),
        json!({"limits": {"max_clusters": 100, "max_defined_clusters": 100, "max_nodes": 1000}}),
    );
    client.must(
        "PATCH",
        &format!("/v1/orgs/{ORG}/account"),
        json!({"balance": OPENING_BALANCE, "max_balance": "100000000",
               "monthly_allowance": "0", "reason": "the soak's opening balance"}),
    );
    for (name, blueprint) in &clusters {
        client.must(
            "POST",
            "/v1/clusters",
            json!({"name": name, "blueprint": blueprint, "organization": ORG}),
        );
    }
    clusters
}

/// One request of the workload: what it was, how it was answered, and the
/// operation it queued, if any.
fn act(
    client: &Client,
    clusters: &[(String, &'static str)],
    rng: &mut StdRng,
    capacity: &Mutex<Vec<(String, String)>>,
) -> (&'static str, String, Option<String>) {
    let (cluster, blueprint) = &clusters[rng.random_range(0..clusters.len())];
    let path = |tail: &str| format!("/v1/clusters/{cluster}/{tail}");
    let roll = rng.random_range(0..100);
    let (action, answer) = match roll {
        0..35 => {
            let mut body = json!({"nodes": rng.random_range(1..=3)});
            if *blueprint == "local" {
                // Slower nodes: more operations in flight when a fault comes.
                body["variables_patch"] = json!({"boot_seconds": rng.random_range(0..=3)});
            }
            if rng.random_bool(0.25) {
                body["ttl"] = json!(format!("{}s", rng.random_range(20..60)));
            }
            ("deploy", client.send("POST", &path("deploy"), Some(body)))
        }
        35..50 => ("destroy", client.send("POST", &path("destroy"), None)),
        50..58 => (
            "schedule",
            client.send(
                "PUT",
                &path("schedule"),
                Some(json!({"in": format!("{}s", rng.random_range(10..40))})),
            ),
        ),
        58..68 => {
            let body = json!({"nodes": rng.random_range(1..=2), "ttl": "15m"});
            let answer = client.send("POST", &path("capacity"), Some(body));
            if let Ok((_, request)) = &answer
                && let Some(id) = request["request"]["id"].as_str()
            {
                capacity
                    .lock()
                    .unwrap()
                    .push((cluster.clone(), id.to_owned()));
            }
            ("capacity", answer)
        }
        68..76 => {
            let withdrawn = {
                let mut held = capacity.lock().unwrap();
                (!held.is_empty()).then(|| {
                    let i = rng.random_range(0..held.len());
                    held.swap_remove(i)
                })
            };
            let Some((cluster, id)) = withdrawn else {
                return ("withdraw", "none held".into(), None);
            };
            (
                "withdraw",
                client.send(
                    "DELETE",
                    &format!("/v1/clusters/{cluster}/capacity/{id}"),
                    None,
                ),
            )
        }
        76..90 if *blueprint == "local" => (
            "test",
            client.send("POST", &path("test"), Some(json!({"version": "soak"}))),
        ),
        _ => ("refresh", client.send("POST", &path("refresh"), None)),
    };
    match answer {
        Ok((status, body)) => (action, status.to_string(), operation_of(&body)),
        Err(unavailable) => (action, unavailable, None),
    }
}

/// The operation an answer names: `operation` as an id or as a document.
fn operation_of(body: &Value) -> Option<String> {
    match &body["operation"] {
        Value::String(id) => Some(id.clone()),
        Value::Object(op) => op.get("id").and_then(Value::as_str).map(str::to_owned),
        _ => None,
    }
}

/// The faults, on a timeline drawn at the start: two PostgreSQL restarts
/// (at 30% and 70% of the time), one object-storage outage (at 50%), and a
/// SIGKILL of a random replica or worker every 20–60 s, each restarted a
/// few seconds later. In between, operations overdue past their lease are
/// sampled.
fn faults(soak: &Soak, site: &mut Site, db: &Database, started: Instant, report: &Mutex<Report>) {
    enum Fault {
        Kill(usize),
        RestartDatabase,
        StorageOutage,
        /// The soak's time is up.
        End,
    }
    let mut rng = StdRng::seed_from_u64(soak.seed ^ 0x5eed);
    let mut timeline: Vec<(Duration, Fault)> = vec![
        (soak.duration.mul_f64(0.3), Fault::RestartDatabase),
        (soak.duration.mul_f64(0.5), Fault::StorageOutage),
        (soak.duration.mul_f64(0.7), Fault::RestartDatabase),
    ];
    let mut at = Duration::ZERO;
    loop {
        at += Duration::from_secs(rng.random_range(20..=60));
        if at >= soak.duration {
            break;
        }
        timeline.push((at, Fault::Kill(rng.random_range(0..4))));
    }
    timeline.sort_by_key(|(at, _)| *at);
    // The database was last unreachable until then: overdue leases are
    // only counted once the reclaimers have had a lease to catch up.
    let mut database_back = started;
    let note = |what: String| {
        report
            .lock()
            .unwrap()
            .faults
            .push((started.elapsed().as_secs_f64(), what));
    };
    for (at, fault) in timeline.into_iter().chain([(soak.duration, Fault::End)]) {
        while started.elapsed() < at {
            if database_back.elapsed() > LEASE * 2
                && let Some(overdue) = db.longest_overdue()
            {
                let mut report = report.lock().unwrap();
                report.longest_overdue = report.longest_overdue.max(overdue);
            }
            std::thread::sleep(Duration::from_secs(1).min(at.saturating_sub(started.elapsed())));
        }
        match fault {
            Fault::End => break,
            Fault::Kill(drawn) => {
                // Two kills in three hit a process running an operation.
                let victim = if rng.random_bool(2.0 / 3.0) {
                    busy(site, db).unwrap_or(drawn)
                } else {
                    drawn
                };
                let down = Duration::from_millis(rng.random_range(1000..5000));
                if victim < 2 {
                    site.replicas[victim].kill9();
                    note(format!("replica {victim} killed (SIGKILL), down {down:?}"));
                    std::thread::sleep(down);
                    site.replicas[victim].restart();
                } else {
                    site.workers[victim - 2].kill9();
                    note(format!(
                        "worker {} killed (SIGKILL), down {down:?}",
                        victim - 2
                    ));
                    std::thread::sleep(down);
                    site.workers[victim - 2].restart();
                }
            }
            Fault::RestartDatabase => {
                note("PostgreSQL stopped".into());
                site.pg.stop();
                std::thread::sleep(Duration::from_secs(3));
                site.pg.start_again();
                database_back = Instant::now();
                note("PostgreSQL started again".into());
            }
            Fault::StorageOutage => {
                let outage = (soak.duration / 6).min(Duration::from_secs(30));
                note(format!("object storage stops answering for {outage:?}"));
                site.moto.pause();
                std::thread::sleep(outage);
                site.moto.resume();
                note("object storage answers again".into());
            }
        }
    }
}

/// A replica or worker (0–1: replicas, 2–3: workers) holding the lease of
/// a running operation, waiting up to 10 s for one to run.
fn busy(site: &Site, db: &Database) -> Option<usize> {
    use sqlx::Row as _;
    let deadline = Instant::now() + Duration::from_secs(10);
    let owners = loop {
        let owners: Vec<String> = db
            .try_query(
                "SELECT lease_owner FROM operations WHERE state = 'running' ORDER BY random()",
            )?
            .iter()
            .filter_map(|r| r.get::<Option<String>, _>(0))
            .collect();
        if !owners.is_empty() || Instant::now() > deadline {
            break owners;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let replica_ids: Vec<Option<String>> = site
        .replicas
        .iter()
        .map(|r| {
            reqwest::blocking::get(format!("{}/readyz", r.url))
                .and_then(|answer| answer.json::<Value>())
                .ok()
                .and_then(|ready| ready["worker"].as_str().map(str::to_owned))
        })
        .collect();
    let owner = owners.first()?;
    (0..2)
        .find(|&i| replica_ids[i].as_ref() == Some(owner))
        .or_else(|| {
            (0..2)
                .find(|&i| &site.workers[i].id == owner)
                .map(|i| i + 2)
        })
}

/// After the faults: every capacity request withdrawn, every cluster
/// destroyed, and the queue drained.
fn settle(
    client: &Client,
    clusters: &[(String, &'static str)],
    db: &Database,
    report: &mut Report,
) {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let mut absent = true;
        for (cluster, _) in clusters {
            // A request left on an absent cluster would bring it up.
            let path = format!("/v1/clusters/{cluster}");
            if let Ok((200, requests)) = client.send("GET", &format!("{path}/capacity"), None) {
                for request in requests.as_array().into_iter().flatten() {
                    if let Some(id) = request["id"].as_str() {
                        let _ = client.send("DELETE", &format!("{path}/capacity/{id}"), None);
                    }
                }
            }
            if !matches!(client.send("GET", &path, None),
                Ok((200, status)) if status["state"] == "absent")
            {
                absent = false;
                let _ = client.send("POST", &format!("{path}/destroy"), None);
            }
        }
        if absent && db.unfinished() == Some(0) {
            return;
        }
        if Instant::now() > deadline {
            report.violations.push(format!(
                "the site did not settle within 5 minutes of the faults' end: {} operations unfinished",
                db.unfinished().unwrap_or(-1)
            ));
            return;
        }
        std::thread::sleep(Duration::from_secs(2));
    }
}

/// Every promise, checked against the database, the API and the machine.
fn check(site: &Site, client: &Client, db: &Database, accepted: &[String], report: &mut Report) {
    let violations = &mut report.violations;
    let operations = db.operations();
    for op in &operations {
        *report
            .operations
            .entry((op.kind.clone(), op.reason.clone(), op.state.clone()))
            .or_default() += 1;
    }
    let mut waits: Vec<i64> = operations.iter().filter_map(|o| o.waited).collect();
    waits.sort_unstable();
    let millis = |ms: Option<&i64>| Duration::from_millis(ms.copied().unwrap_or(0).max(0) as u64);
    report.waited = (millis(waits.get(waits.len() / 2)), millis(waits.last()));
    let known: HashMap<&str, &Operation> = operations.iter().map(|o| (o.id.as_str(), o)).collect();

    // Nothing lost, nothing stuck.
    for id in accepted {
        if !known.contains_key(id.as_str()) {
            violations.push(format!("operation {id} was accepted and is gone"));
        }
    }
    for op in &operations {
        if matches!(op.state.as_str(), "queued" | "running") {
            violations.push(format!(
                "operation {} ({}) is still {}",
                op.id, op.kind, op.state
            ));
        }
    }
    if report.longest_overdue > LEASE * 4 {
        violations.push(format!(
            "an operation ran {:?} past its lease of {LEASE:?}",
            report.longest_overdue
        ));
    }

    // Every log whole, and archived or archivable.
    let logs = db.logs();
    for op in &operations {
        match logs.get(&op.id) {
            None => violations.push(format!("operation {} has no log", op.id)),
            Some(log) => {
                if !(log.queued == 1
                    && log.finished == 1
                    && log.started <= 1
                    && log.count == log.last)
                {
                    violations.push(format!("operation {}'s log is not whole: {log:?}", op.id));
                }
                if log.first_kind != "operation_queued" || log.after_finish != 0 {
                    violations.push(format!(
                        "operation {}'s log does not run from queued to finished: {log:?}",
                        op.id
                    ));
                }
            }
        }
    }
    report.archived = site.moto.keys().len();
    for op in &operations {
        match client.text(&format!("/v1/operations/{}/log", op.id)) {
            Ok(text) => {
                // Archived at the finish, or later with what followed it.
                let lines = text.lines().count() as i64;
                let whole = logs
                    .get(&op.id)
                    .is_some_and(|l| (l.finished_at..=l.count).contains(&lines));
                if !whole || !text.trim_end().ends_with('}') {
                    violations.push(format!(
                        "operation {}'s archived log has {lines} lines",
                        op.id
                    ));
                }
                report.logs_checked += 1;
            }
            Err(e) => violations.push(format!("operation {}'s archived log: {e}", op.id)),
        }
    }

    // No lock or credential left; no process left.
    let (locks, credentials) = db.locks_and_credentials();
    if locks != 0 || credentials != 0 {
        violations.push(format!(
            "{locks} state locks and {credentials} run credentials are left"
        ));
    }
    let runtimes = site
        .replicas
        .iter()
        .map(|r| r.data_dir().join("runtime"))
        .chain(site.workers.iter().map(|w| w.data_dir().join("runtime")));
    for runtime in runtimes {
        let left = processes_mentioning(&runtime.display().to_string());
        if !left.is_empty() {
            violations.push(format!("processes left behind: {left:?}"));
        }
    }

    // Costs: every hour recorded once, charged once.
    let _ = client.send("POST", &format!("/v1/orgs/{ORG}/account/reconcile"), None);
    let money = db.money();
    report.charged = money.charged_total;
    report.spans_cost = money.spans_cost;
    let opening = Decimal::from_str(OPENING_BALANCE).unwrap();
    if money.hours_charged != money.charged_total {
        violations.push(format!(
            "the hours were charged {} in all, the account says {}",
            money.hours_charged, money.charged_total
        ));
    }
    if ((opening - money.balance) - money.charged_total).abs() >= Decimal::new(1, 2) {
        violations.push(format!(
            "the account lost {} and was charged {}",
            opening - money.balance,
            money.charged_total
        ));
    }
    // Each hour's cost is rounded to the model's precision on its own.
    let tolerance = Decimal::new(1, 6) * Decimal::from(money.hours + money.spans);
    if (money.hours_recorded - money.spans_cost).abs() > tolerance {
        violations.push(format!(
            "the hours recorded cost {}, the sizes that ran cost {}",
            money.hours_recorded, money.spans_cost
        ));
    }
    if money.still_running != 0 {
        violations.push(format!(
            "{} absent clusters are still being charged for nodes",
            money.still_running
        ));
    }
    if money.unsettled != 0 {
        violations.push(format!("{} hours are not settled", money.unsettled));
    }
    if money.spans_cost.is_zero() {
        violations.push("no priced cluster ran: the cost check checked nothing".into());
    }

    // The audit log names every operation.
    let audited = db.audited_operations();
    for op in &operations {
        if !audited.contains(&op.id) {
            violations.push(format!(
                "operation {} ({}, {}) is not in the audit log",
                op.id, op.kind, op.reason
            ));
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "soak: {:.0} s of faults and load",
            self.duration.as_secs_f64()
        )?;
        writeln!(f, "faults:")?;
        for (at, what) in &self.faults {
            writeln!(f, "  {at:7.1} s  {what}")?;
        }
        writeln!(f, "requests (action, answer: count):")?;
        for ((action, answer), n) in &self.requests {
            writeln!(f, "  {action:9} {answer:12} {n}")?;
        }
        writeln!(
            f,
            "operations: {} (kind, reason, final state: count)",
            self.operation_count()
        )?;
        for ((kind, reason, state), n) in &self.operations {
            writeln!(f, "  {kind:9} {reason:16} {state:12} {n}")?;
        }
        writeln!(
            f,
            "queue wait: median {:?}, longest {:?}; longest past its lease: {:?}; settled in {:.1} s after the faults",
            self.waited.0,
            self.waited.1,
            self.longest_overdue,
            self.settled_in.as_secs_f64()
        )?;
        writeln!(
            f,
            "logs: {} checked through the API, {} archived in S3",
            self.logs_checked, self.archived
        )?;
        writeln!(
            f,
            "costs: charged {} USD; the size spans cost {} USD",
            self.charged.round_dp(6),
            self.spans_cost.round_dp(6)
        )?;
        if self.violations.is_empty() {
            writeln!(f, "every check passed")
        } else {
            writeln!(f, "{} violations:", self.violations.len())?;
            for v in &self.violations {
                writeln!(f, "  - {v}")?;
            }
            Ok(())
        }
    }
}

/// The API through the balancer, with the admin token.
#[derive(Clone)]
struct Client {
    http: reqwest::blocking::Client,
    url: String,
    token: String,
}

impl Client {
    fn new(url: &str, token: &str) -> Self {
        Self {
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("an HTTP client"),
            url: url.to_owned(),
            token: token.to_owned(),
        }
    }

    /// The answer's status and JSON, or why there was none.
    fn send(&self, method: &str, path: &str, body: Option<Value>) -> Result<(u16, Value), String> {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().map_err(|_| "unavailable".to_owned())?;
        let status = response.status().as_u16();
        let body = response.json().unwrap_or(Value::Null);
        Ok((status, body))
    }

    /// A request that must succeed (set-up).
    fn must(&self, method: &str, path: &str, body: Value) -> Value {
        match self.send(method, path, Some(body)) {
            Ok((status, body)) if (200..300).contains(&status) => body,
            other => panic!("{method} {path}: {other:?}"),
        }
    }

    fn text(&self, path: &str) -> Result<String, String> {
        let response = self
            .http
            .get(format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .send()
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let text = response.text().map_err(|e| e.to_string())?;
        if status.is_success() {
            Ok(text)
        } else {
            Err(format!("{status} {text}"))
        }
    }
}

struct Operation {
    id: String,
    kind: String,
    state: String,
    reason: String,
    /// From queued to started (ms), for those that started.
    waited: Option<i64>,
}

/// What an operation's stored events say of its log.
#[derive(Debug)]
struct Log {
    count: i64,
    last: i64,
    queued: i64,
    started: i64,
    finished: i64,
    first_kind: String,
    /// The finish's sequence number.
    finished_at: i64,
    /// Events after the finish other than an orphaned apply's end.
    after_finish: i64,
}

struct Money {
    balance: Decimal,
    charged_total: Decimal,
    hours_charged: Decimal,
    hours_recorded: Decimal,
    hours: i64,
    unsettled: i64,
    spans_cost: Decimal,
    spans: i64,
    /// Clusters whose last recorded size is not zero.
    still_running: usize,
}

/// The site's database, read behind Slipway's back for what only it can
/// show (locks, the whole queue) — never written.
struct Database {
    /// One connection, opened when first used and again after a restart.
    pool: sqlx::PgPool,
}

type Row = sqlx::postgres::PgRow;

impl Database {
    fn new(url: &str) -> Self {
        let _runtime = crate::runtime().enter();
        Self {
            pool: sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .acquire_timeout(Duration::from_secs(5))
                .connect_lazy(url)
                .expect("a database URL"),
        }
    }

    /// Rows of `sql`, or `None` while the database is unreachable.
    fn try_query(&self, sql: &str) -> Option<Vec<Row>> {
        crate::runtime()
            .block_on(sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())).fetch_all(&self.pool))
            .ok()
    }

    fn query(&self, sql: &str) -> Vec<Row> {
        self.try_query(sql)
            .unwrap_or_else(|| panic!("the soak's database answers: {sql}"))
    }

    fn longest_overdue(&self) -> Option<Duration> {
        use sqlx::Row as _;
        let rows = self.try_query(
            "SELECT COALESCE(MAX((EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT - lease_expires_at), 0) \
             FROM operations WHERE state = 'running'",
        )?;
        let ms: i64 = rows.first()?.get(0);
        Some(Duration::from_millis(ms.max(0) as u64))
    }

    fn unfinished(&self) -> Option<i64> {
        use sqlx::Row as _;
        let rows =
            self.try_query("SELECT COUNT(*) FROM operations WHERE state IN ('queued', 'running')")?;
        Some(rows.first()?.get(0))
    }

    fn operations(&self) -> Vec<Operation> {
        use sqlx::Row as _;
        self.query("SELECT id, kind, state, reason, started_at - created_at FROM operations")
            .iter()
            .map(|r| Operation {
                id: r.get(0),
                kind: r.get(1),
                state: r.get(2),
                reason: r.get(3),
                waited: r.get(4),
            })
            .collect()
    }

    fn logs(&self) -> HashMap<String, Log> {
        use sqlx::Row as _;
        // After the finish, only how an orphaned apply ended may follow
        // (a restarted worker tells it: `worker::recovery`).
        self.query(
            "WITH finish AS (SELECT operation_id, MAX(seq) FILTER (WHERE kind = 'operation_finished') AS seq \
               FROM operation_events GROUP BY operation_id) \
             SELECT e.operation_id, COUNT(*), MAX(e.seq), \
               COUNT(*) FILTER (WHERE e.kind = 'operation_queued'), \
               COUNT(*) FILTER (WHERE e.kind = 'operation_started'), \
               COUNT(*) FILTER (WHERE e.kind = 'operation_finished'), \
               (ARRAY_AGG(e.kind ORDER BY e.seq))[1], \
               COALESCE(MAX(finish.seq), 0), \
               COUNT(*) FILTER (WHERE e.seq > finish.seq AND e.kind <> 'orphan_apply_ended') \
             FROM operation_events e JOIN finish USING (operation_id) GROUP BY e.operation_id",
        )
        .iter()
        .map(|r| {
            (
                r.get(0),
                Log {
                    count: r.get(1),
                    last: r.get(2),
                    queued: r.get(3),
                    started: r.get(4),
                    finished: r.get(5),
                    first_kind: r.get(6),
                    finished_at: r.get(7),
                    after_finish: r.get(8),
                },
            )
        })
        .collect()
    }

    fn locks_and_credentials(&self) -> (i64, i64) {
        use sqlx::Row as _;
        let rows = self.query(
            "SELECT (SELECT COUNT(*) FROM state_locks), (SELECT COUNT(*) FROM run_credentials)",
        );
        (rows[0].get(0), rows[0].get(1))
    }

    fn money(&self) -> Money {
        use sqlx::Row as _;
        let decimal = |text: String| Decimal::from_str(&text).expect("a decimal");
        let account = &self.query(&format!(
            "SELECT balance, charged_total FROM accounts WHERE organization = '{ORG}'"
        ))[0];
        let hours = self.query(&format!(
            "SELECT COALESCE(model, '0'), charged, unsettled FROM cost_hours WHERE organization = '{ORG}'"
        ));
        let mut money = Money {
            balance: decimal(account.get(0)),
            charged_total: decimal(account.get(1)),
            hours_charged: Decimal::ZERO,
            hours_recorded: Decimal::ZERO,
            hours: hours.len() as i64,
            unsettled: 0,
            spans_cost: Decimal::ZERO,
            spans: 0,
            still_running: 0,
        };
        for hour in &hours {
            money.hours_recorded += decimal(hour.get(0));
            money.hours_charged += decimal(hour.get(1));
            money.unsettled += hour.get::<i64, _>(2);
        }
        // Each size runs until the cluster's next; at the end every
        // cluster is absent, so every span has ended.
        let sizes = self.query(&format!(
            "SELECT cluster, since, nodes, fixed_rate, per_node_rate FROM cluster_sizes \
             WHERE organization = '{ORG}' ORDER BY cluster, since"
        ));
        for (i, row) in sizes.iter().enumerate() {
            let last_of_its_cluster = sizes
                .get(i + 1)
                .is_none_or(|next| next.get::<String, _>(0) != row.get::<String, _>(0));
            if last_of_its_cluster && row.get::<i64, _>(2) != 0 {
                money.still_running += 1;
            }
        }
        for pair in sizes.windows(2) {
            let (this, next) = (&pair[0], &pair[1]);
            let nodes: i64 = this.get(2);
            if this.get::<String, _>(0) != next.get::<String, _>(0) || nodes == 0 {
                continue;
            }
            let millis = next.get::<i64, _>(1) - this.get::<i64, _>(1);
            let hourly = decimal(this.get(3)) + decimal(this.get(4)) * Decimal::from(nodes);
            money.spans_cost += hourly * Decimal::from(millis) / Decimal::from(3_600_000);
            money.spans += 1;
        }
        money
    }

    /// The operations the audit log names (its entries' `operation`).
    fn audited_operations(&self) -> BTreeSet<String> {
        use sqlx::Row as _;
        self.query("SELECT detail FROM audit_log")
            .iter()
            .filter_map(|r| serde_json::from_str::<Value>(&r.get::<String, _>(0)).ok())
            .filter_map(|detail| detail["operation"].as_str().map(str::to_owned))
            .collect()
    }
}
