//! Thousands of people following one busy operation's log: a deploy whose
//! Terraform prints a line every 50 ms, followed over server-sent events by
//! BENCH_FOLLOWERS clients at once (default 5,000) on one server.
//!
//! `cargo bench -p slipway-cli --bench followers` (BENCH_FOLLOWERS,
//! BENCH_CLIENT_THREADS: the followers' threads, default 2;
//! BENCH_LINES; BENCH_SLIPWAY: another build of `slipway` to measure, an
//! earlier commit's). Prints how late each event reached each follower (from the
//! moment the engine read the line to the moment the client parsed it:
//! p50, p99, max), whether every follower got every event, in order, and
//! the server's resident memory before the followers and at its peak.
//! Goals (issue 23): p99 within 100 ms, the server under 300 MB.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use slipway_testkit::bench::setting;
use slipway_testkit::server::{Options, Server};

/// The server's resident set, in MiB.
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// `count` followers of `operation` on this thread: each one's sequence
/// numbers, and how late each tick line reached it (ms).
fn follow(url: &str, token: &str, operation: &str, count: usize) -> Vec<(Vec<u64>, Vec<f64>)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async {
        let client = slipway_api::Client::new(url, Some(token.to_owned()));
        let tasks: Vec<_> = (0..count)
            .map(|_| {
                let (client, operation) = (client.clone(), operation.to_owned());
                tokio::task::spawn_local(async move {
                    let mut events = client
                        .follow(&operation, 0)
                        .patience(Duration::from_secs(120));
                    let (mut seqs, mut late) = (Vec::new(), Vec::new());
                    while let Some(event) = events.next().await {
                        let event = event.expect("the log follows");
                        seqs.push(event.seq);
                        if event.message.contains("): tick ") {
                            let ms = (chrono::Utc::now() - event.at)
                                .num_microseconds()
                                .unwrap_or(0) as f64
                                / 1e3;
                            late.push(ms);
                        }
                        if event.kind == slipway_core::event::kinds::FINISHED {
                            break;
                        }
                    }
                    (seqs, late)
                })
            })
            .collect();
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.expect("a follower"));
        }
        results
    })
}

fn main() {
    let followers = setting("BENCH_FOLLOWERS", 5_000);
    let lines = setting("BENCH_LINES", 100);
    let slipway = std::env::var_os("BENCH_SLIPWAY").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_slipway")),
        PathBuf::from,
    );
    let allowance = (followers * 4 + 1_000).to_string();
    let server = Server::start_with(
        &slipway,
        Options {
            env: vec![
                // The test blueprints: `ticker` prints a line every 50 ms.
                (
                    "SLIPWAY_BLUEPRINT_DIRS".into(),
                    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                        .join("tests/fixtures/blueprints")
                        .display()
                        .to_string(),
                ),
                (
                    "SLIPWAY_AUTH__RATE_LIMITS__API_PER_SECOND".into(),
                    allowance.clone(),
                ),
                (
                    "SLIPWAY_AUTH__RATE_LIMITS__API_BURST".into(),
                    allowance.clone(),
                ),
                (
                    "SLIPWAY_HTTP__MAX_CONNECTIONS_PER_ADDRESS".into(),
                    allowance,
                ),
                ("SLIPWAY_LOG".into(), "warn".into()),
            ],
            ..Options::default()
        },
    );
    let pid = server.pid().expect("the server runs");
    let idle_rss = rss_mib(pid);
    let created = server.run(&["cluster", "create", "busy", "--blueprint", "ticker"]);
    created.expect_code(0);
    // Time enough for every follower to connect before the first line.
    let delay = (3 + followers / 1_000).to_string();
    let lines_var = format!("lines={lines}");
    let delay_var = format!("delay_seconds={delay}");
    let deployed = server.run(&[
        "deploy",
        "busy",
        "--no-wait",
        "--json",
        "--var",
        &lines_var,
        "--var",
        &delay_var,
    ]);
    deployed.expect_code(0);
    let operation = deployed.json()["operation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut peak = 0.0_f64;
            while !done.load(Ordering::Relaxed) {
                peak = peak.max(rss_mib(pid));
                std::thread::sleep(Duration::from_millis(50));
            }
            peak
        })
    };
    // The followers share BENCH_CLIENT_THREADS threads (default 2, one per
    // core; the client's follower is not `Sync`, so each thread runs its
    // own), as one machine's worth of people would share a link.
    let threads = setting("BENCH_CLIENT_THREADS", 2).max(1);
    let started = Instant::now();
    let results: Vec<(Vec<u64>, Vec<f64>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let share = followers / threads + usize::from(t < followers % threads);
                let (url, token, operation) =
                    (server.url.clone(), server.token.clone(), operation.clone());
                scope.spawn(move || follow(&url, &token, &operation, share))
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a client thread"))
            .collect()
    });
    let took = started.elapsed();
    done.store(true, Ordering::Relaxed);
    let peak_rss = sampler.join().unwrap();

    let complete = results
        .iter()
        .filter(|(seqs, _)| {
            let in_order = seqs.windows(2).all(|w| w[0] < w[1]);
            in_order && seqs.first() == Some(&1) && seqs.len() == results[0].0.len()
        })
        .count();
    let ticks_seen = results
        .iter()
        .filter(|(_, late)| late.len() == lines)
        .count();
    let mut late: Vec<f64> = results.into_iter().flat_map(|(_, late)| late).collect();
    late.sort_by(f64::total_cmp);
    println!(
        "{followers} followers of one deploy printing {lines} lines 50 ms apart ({:.1} s in all)",
        took.as_secs_f64()
    );
    println!(
        "  followers with every event, in order: {complete} of {followers}; with every line: {ticks_seen}"
    );
    println!(
        "  delivery (engine read the line -> client parsed it): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms over {} deliveries (goal: p99 <= 100 ms)",
        percentile(&late, 50.0),
        percentile(&late, 99.0),
        late.last().copied().unwrap_or(f64::NAN),
        late.len()
    );
    println!(
        "  server resident memory: {idle_rss:.0} MiB before, {peak_rss:.0} MiB at its peak (goal: under 300 MB)"
    );
}
