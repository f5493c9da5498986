//! Cost that does not grow with the site: one-cluster reads
//! (`GET /v1/clusters/{name}`) and creates (`POST /v1/clusters`, defined
//! only, nothing deployed) per second on a site with 10 clusters and on one
//! with 10,000, in the same run, through real servers (the binary) with
//! concurrent clients. The figure to read is the ratio large / small (goal:
//! within 10%, i.e. at least 0.90).
//!
//! `cargo bench -p slipway-cli --bench site`. Knobs: BENCH_SECONDS (reads
//! per round, default 3), BENCH_CREATES (creates per round, default 400),
//! BENCH_ROUNDS (default 3), BENCH_CLIENTS (default 8), BENCH_LARGE (default
//! 10000), BENCH_SMALL (default 10). SQLite always; PostgreSQL too when
//! SLIPWAY_TEST_DATABASE_URL is set (BENCH_POSTGRES=0 skips it). BENCH_SLIPWAY=PATH
//! measures that slipway binary instead of this build's.
//!
//! Both sites run at once, seeded through the API; every round measures
//! each of them in turn (alternating which goes first), and the clusters a
//! round creates are removed again before the next, so the small site stays
//! small. Rates are medians over the rounds.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use slipway_testkit::database::{POSTGRES_URL_VAR, TestDatabase};
use slipway_testkit::server::{Options, Server};

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    let n = samples.len();
    if n % 2 == 1 {
        samples[n / 2]
    } else {
        (samples[n / 2 - 1] + samples[n / 2]) / 2.0
    }
}

/// A site: a running server and the clusters it holds.
struct Site {
    label: String,
    server: Server,
    clusters: usize,
    reads: Vec<f64>,
    creates: Vec<f64>,
}

/// A client of one server.
#[derive(Clone)]
struct Api {
    http: reqwest::Client,
    url: String,
    token: String,
}

impl Api {
    fn of(server: &Server) -> Self {
        Self {
            http: reqwest::Client::new(),
            url: format!("{}/v1", server.url),
            token: server.token.clone(),
        }
    }

    async fn create(&self, name: &str) {
        let response = self
            .http
            .post(format!("{}/clusters", self.url))
            .bearer_auth(&self.token)
            .json(&serde_json::json!({"name": name, "blueprint": "local"}))
            .send()
            .await
            .expect("create");
        let status = response.status();
        let body = response.bytes().await.expect("body");
        assert!(
            status.is_success(),
            "create {name}: {status} {}",
            String::from_utf8_lossy(&body)
        );
    }

    async fn read(&self, name: &str) {
        let response = self
            .http
            .get(format!("{}/clusters/{name}", self.url))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("read");
        assert_eq!(response.status(), 200, "read {name}");
        response.bytes().await.expect("body");
    }

    async fn remove(&self, name: &str) {
        let response = self
            .http
            .delete(format!("{}/clusters/{name}", self.url))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("remove");
        assert!(response.status().is_success(), "remove {name}");
        response.bytes().await.expect("body");
    }
}

/// Runs `each(i)` for `i` in `0..count` on `clients` concurrent tasks;
/// how long it took.
async fn concurrently<F, Fut>(count: usize, clients: usize, each: F) -> Duration
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let each = Arc::new(each);
    let start = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (next, each) = (next.clone(), each.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count {
                        break;
                    }
                    each(i).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a client task");
    }
    start.elapsed()
}

fn seeded(i: usize) -> String {
    format!("site-{i:06}")
}

impl Site {
    async fn start(
        slipway: &std::path::Path,
        label: &str,
        clusters: usize,
        db: Option<&str>,
    ) -> Self {
        let server = Server::start_with(
            slipway,
            Options {
                database_url: db.map(str::to_owned),
                env: vec![
                    (
                        "SLIPWAY_AUTH__RATE_LIMITS__API_PER_SECOND".into(),
                        "1000000".into(),
                    ),
                    (
                        "SLIPWAY_AUTH__RATE_LIMITS__API_BURST".into(),
                        "1000000".into(),
                    ),
                    ("SLIPWAY_LOG".into(), "warn".into()),
                ],
                ..Options::default()
            },
        );
        let api = Api::of(&server);
        let took = concurrently(clusters, 16, move |i| {
            let api = api.clone();
            async move { api.create(&seeded(i)).await }
        })
        .await;
        println!(
            "  {label}: seeded {clusters} clusters through the API in {:.1} s ({:.0}/s)",
            took.as_secs_f64(),
            clusters as f64 / took.as_secs_f64()
        );
        Self {
            label: label.to_owned(),
            server,
            clusters,
            reads: Vec::new(),
            creates: Vec::new(),
        }
    }

    /// One round: reads for `seconds`, then `creates` creates (removed
    /// again afterwards, untimed).
    async fn round(&mut self, round: usize, seconds: u64, creates: usize, clients: usize) {
        let api = Api::of(&self.server);
        let clusters = self.clusters;
        let done = Arc::new(AtomicUsize::new(0));
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let start = Instant::now();
        let tasks: Vec<_> = (0..clients)
            .map(|client| {
                let (api, done) = (api.clone(), done.clone());
                tokio::spawn(async move {
                    // A different, scattered cluster every time.
                    let mut x = 0x9E37_79B9_7F4A_7C15_u64 ^ (client as u64 + 1);
                    while Instant::now() < deadline {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        api.read(&seeded((x % clusters as u64) as usize)).await;
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("a reader");
        }
        self.reads
            .push(done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64());

        let name = move |i: usize| format!("new-{round}-{i:06}");
        let creating = api.clone();
        let took = concurrently(creates, clients, move |i| {
            let api = creating.clone();
            async move { api.create(&name(i)).await }
        })
        .await;
        self.creates.push(creates as f64 / took.as_secs_f64());
        let removing = api.clone();
        concurrently(creates, clients, move |i| {
            let api = removing.clone();
            async move { api.remove(&name(i)).await }
        })
        .await;
    }
}

async fn compare(slipway: &std::path::Path, database: &str, db: [Option<&str>; 2]) {
    let (seconds, creates, rounds, clients) = (
        knob("BENCH_SECONDS", 3) as u64,
        knob("BENCH_CREATES", 400),
        knob("BENCH_ROUNDS", 3).max(1),
        knob("BENCH_CLIENTS", 8).max(1),
    );
    let (small, large) = (knob("BENCH_SMALL", 10).max(1), knob("BENCH_LARGE", 10_000));
    println!(
        "{database}: {rounds} rounds of {seconds} s of reads and {creates} creates, {clients} clients"
    );
    let mut sites = [
        Site::start(slipway, &format!("{small} clusters"), small, db[0]).await,
        Site::start(slipway, &format!("{large} clusters"), large, db[1]).await,
    ];
    for round in 0..rounds {
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            sites[i].round(round, seconds, creates, clients).await;
        }
    }
    println!("  {:<18} {:>12} {:>12}", "", "reads/s", "creates/s");
    for site in &sites {
        println!(
            "  {:<18} {:>12.0} {:>12.0}",
            site.label,
            median(site.reads.clone()),
            median(site.creates.clone())
        );
    }
    let ratio =
        |f: fn(&Site) -> &Vec<f64>| median(f(&sites[1]).clone()) / median(f(&sites[0]).clone());
    println!(
        "  ratio {} / {}: reads {:.3}, creates {:.3}  (goal >= 0.90)",
        sites[1].label,
        sites[0].label,
        ratio(|s| &s.reads),
        ratio(|s| &s.creates)
    );
}

#[tokio::main]
async fn main() {
    // BENCH_SLIPWAY measures another build (e.g. a baseline's binary).
    let slipway = std::env::var_os("BENCH_SLIPWAY").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_slipway")),
        PathBuf::from,
    );
    compare(&slipway, "SQLite", [None, None]).await;
    if std::env::var_os(POSTGRES_URL_VAR).is_some() && knob("BENCH_POSTGRES", 1) != 0 {
        let (a, b) = (
            TestDatabase::postgres().await,
            TestDatabase::postgres().await,
        );
        compare(&slipway, "PostgreSQL", [Some(&a.url), Some(&b.url)]).await;
    }
}
