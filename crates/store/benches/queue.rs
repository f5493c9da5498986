//! The operation queue: operations acquired and completed per second, and
//! enqueue-to-start latency, for one SQLite process and for two replicas on
//! one PostgreSQL database (two stores with their own pools and their own
//! LISTEN connection, as two processes have).
//!
//! Each replica runs the executor's loop — lease while a slot is free, else
//! wait for a `Queued` notification (or the 5 s poll) — with runs that end at
//! once, so what is measured is the queue, not Terraform. Two phases:
//!
//! - burst: every operation enqueued at once by 8 requesters; throughput is
//!   operations completed over the time from the first enqueue to the last
//!   completion;
//! - paced: one operation every 20 ms onto idle workers; the latency from the
//!   enqueue's commit to the lease is how fast a worker wakes on new work
//!   (on PostgreSQL, across replicas through NOTIFY).
//!
//! `cargo bench -p slipway-store --bench queue` (BENCH_OPERATIONS, default
//! 400; PostgreSQL from SLIPWAY_TEST_DATABASE_URL, skipped without it).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use slipway_core::access::Level;
use slipway_core::lifecycle::Ending;
use slipway_core::rules::{self, DeployRequest, RuleContext};
use slipway_core::*;
use slipway_store::*;
use slipway_testkit::database::{POSTGRES_URL_VAR, TestDatabase};
use tokio::sync::{Semaphore, broadcast};

const SLOTS_PER_REPLICA: usize = 4;
const POLL_INTERVAL: Duration = Duration::from_secs(5);
const LEASE: Duration = Duration::from_secs(30);
const PACE: Duration = Duration::from_millis(20);
/// The hash of each run's state-backend secret (runs here never use it).
const CREDENTIAL_HASH: &str = "bench";

/// When each operation was enqueued (committed) and leased.
#[derive(Default)]
struct Timeline {
    enqueued: HashMap<OperationId, Instant>,
    leased: HashMap<OperationId, Instant>,
    completed: Vec<Instant>,
}

type Shared = Arc<Mutex<Timeline>>;

#[tokio::main]
async fn main() {
    let operations: usize = std::env::var("BENCH_OPERATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(400);
    println!(
        "queue benchmark: {operations} operations per phase, {SLOTS_PER_REPLICA} slots per replica"
    );

    let sqlite = TestDatabase::sqlite();
    let store = Arc::new(SqlStore::connect(&sqlite.url).await.expect("sqlite"));
    measure("SQLite, one process", &[store], operations).await;

    if std::env::var_os(POSTGRES_URL_VAR).is_some() {
        let pg = TestDatabase::postgres().await;
        let a = Arc::new(SqlStore::connect(&pg.url).await.expect("postgres"));
        let b = Arc::new(SqlStore::connect(&pg.url).await.expect("postgres"));
        measure("PostgreSQL, two replicas", &[a, b], operations).await;
    } else {
        println!("PostgreSQL skipped: {POSTGRES_URL_VAR} is not set");
    }
}

async fn measure(label: &str, replicas: &[Arc<SqlStore>], operations: usize) {
    let names: Vec<ClusterName> = (0..operations * 2)
        .map(|i| ClusterName::parse(&format!("c{i}")).unwrap())
        .collect();
    for name in &names {
        replicas[0]
            .create_cluster(NewCluster {
                name: name.clone(),
                organization: OrgName::parse("bench").unwrap(),
                public: false,
                spec: ClusterSpec {
                    blueprint: BlueprintName::parse("local").unwrap(),
                    version: "1.0.0".into(),
                    nodes: 1,
                    variables: Variables::new(),
                },
                created_by: Subject::slipway("bench").to_string(),
                now: Utc::now(),
                limits: None,
            })
            .await
            .expect("create cluster");
    }
    let timeline: Shared = Shared::default();
    let stop = tokio_util::sync::CancellationToken::new();
    let executors: Vec<_> = replicas
        .iter()
        .enumerate()
        .map(|(i, store)| {
            tokio::spawn(executor(
                store.clone(),
                format!("replica-{i}"),
                timeline.clone(),
                stop.clone(),
            ))
        })
        .collect();

    // Burst: 8 requesters enqueue half the clusters' deploys at once.
    let (burst, paced) = names.split_at(operations);
    let started = Instant::now();
    let requesters: Vec<_> = burst
        .chunks(burst.len().div_ceil(8))
        .enumerate()
        .map(|(i, chunk)| {
            let store = replicas[i % replicas.len()].clone();
            let chunk = chunk.to_vec();
            let timeline = timeline.clone();
            tokio::spawn(async move {
                for name in chunk {
                    enqueue(&store, &name, &timeline).await;
                }
            })
        })
        .collect();
    for r in requesters {
        r.await.unwrap();
    }
    let burst_latencies = wait_for_completions(&timeline, operations).await;
    let burst_elapsed = timeline.lock().unwrap().completed.last().copied().unwrap() - started;
    report(label, "burst", operations, burst_elapsed, burst_latencies);

    // Paced: one at a time onto idle workers, alternating replicas.
    *timeline.lock().unwrap() = Timeline::default();
    let started = Instant::now();
    let mut tick = tokio::time::interval(PACE);
    for (i, name) in paced.iter().enumerate() {
        tick.tick().await;
        enqueue(&replicas[i % replicas.len()], name, &timeline).await;
    }
    let paced_latencies = wait_for_completions(&timeline, operations).await;
    let paced_elapsed = timeline.lock().unwrap().completed.last().copied().unwrap() - started;
    report(label, "paced", operations, paced_elapsed, paced_latencies);

    stop.cancel();
    for e in executors {
        e.await.unwrap();
    }
}

async fn enqueue(store: &SqlStore, name: &ClusterName, timeline: &Shared) {
    let now = Utc::now();
    let context = RuleContext {
        now,
        actor: Subject::slipway("bench").to_string(),
        level: Level::Admin,
        reason: Reason::User,
        new_operation_id: OperationId::from_uuid(uuid::Uuid::now_v7()),
    };
    let intent = AuditIntent {
        actor: Subject::slipway("bench").to_string(),
        actor_name: "bench".into(),
        level: slipway_store::AuditLevel::Caller(slipway_core::Level::Admin),
        action: "cluster.deploy".into(),
        quiet: false,
    };
    let request = DeployRequest::default();
    let applied = store
        .decide(name, now, &intent, &|snapshot, organization| {
            rules::decide_deploy(snapshot, organization, &request, &context)
        })
        .await
        .expect("enqueue");
    let op = applied
        .decision
        .new_operation()
        .expect("a new operation")
        .id
        .clone();
    timeline.lock().unwrap().enqueued.insert(op, Instant::now());
}

/// The executor's loop (see `slipway_server::executor::run`), with runs that
/// end as soon as they start.
async fn executor(
    store: Arc<SqlStore>,
    worker: String,
    timeline: Shared,
    stop: tokio_util::sync::CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(SLOTS_PER_REPLICA));
    let mut notifications = store.subscribe();
    loop {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => permit.unwrap(),
            () = stop.cancelled() => return,
        };
        match store
            .lease_next(&worker, &[], Utc::now(), LEASE, CREDENTIAL_HASH)
            .await
        {
            Ok(Some(Lease { operation: op, .. })) => {
                timeline
                    .lock()
                    .unwrap()
                    .leased
                    .insert(op.id.clone(), Instant::now());
                let (store, worker, timeline) = (store.clone(), worker.clone(), timeline.clone());
                tokio::spawn(async move {
                    let ending = Ending::Succeeded {
                        outputs: serde_json::Map::new(),
                    };
                    store
                        .finish(&op.id, &worker, ending, serde_json::Value::Null, Utc::now())
                        .await
                        .expect("finish");
                    timeline.lock().unwrap().completed.push(Instant::now());
                    drop(permit);
                });
                continue;
            }
            Ok(None) => drop(permit),
            Err(e) => panic!("lease: {e}"),
        }
        tokio::select! {
            () = wait_for_work(&mut notifications) => {}
            () = tokio::time::sleep(POLL_INTERVAL) => {}
            () = stop.cancelled() => return,
        }
    }
}

async fn wait_for_work(notifications: &mut broadcast::Receiver<Notification>) {
    loop {
        match notifications.recv().await {
            Ok(Notification::Queued { .. } | Notification::Resync)
            | Err(broadcast::error::RecvError::Lagged(_)) => return,
            Ok(_) => {}
            Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
        }
    }
}

/// Waits until `n` operations completed; returns each one's
/// enqueue-to-lease latency.
async fn wait_for_completions(timeline: &Shared, n: usize) -> Vec<Duration> {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        {
            let t = timeline.lock().unwrap();
            if t.completed.len() >= n {
                return t
                    .enqueued
                    .iter()
                    .map(|(op, at)| t.leased[op].saturating_duration_since(*at))
                    .collect();
            }
        }
        assert!(Instant::now() < deadline, "the queue stalled");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn report(label: &str, phase: &str, n: usize, elapsed: Duration, mut latencies: Vec<Duration>) {
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    println!(
        "{label:<26} {phase:<6} {:>8.0} ops/s acquired+completed   enqueue-to-start p50 {:>8.2} ms  p99 {:>8.2} ms  max {:>8.2} ms",
        n as f64 / elapsed.as_secs_f64(),
        at(0.50).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        latencies.last().unwrap().as_secs_f64() * 1e3,
    );
}
