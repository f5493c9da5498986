//! ACCESS through the HTTP API: cluster tokens issued per second, and their
//! latency, with concurrent clients — each request authenticated, authorized,
//! signed and audited by a real server.
//!
//! `cargo bench -p slipway-cli --bench access` (BENCH_SECONDS, BENCH_CLIENTS).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use slipway_testkit::server::{Options, Server};

fn main() {
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let clients: usize = std::env::var("BENCH_CLIENTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(16);
    let slipway = PathBuf::from(env!("CARGO_BIN_EXE_slipway"));
    let server = Server::start_with(
        &slipway,
        Options {
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
    assert!(
        server
            .run(&["cluster", "create", "bench", "--blueprint", "local"])
            .0
            .status
            .success()
    );
    let url = format!("{}/v1/clusters/bench/access", server.url);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let latencies = runtime.block_on(async {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let tasks: Vec<_> = (0..clients)
            .map(|_| {
                let (http, url, token) = (http.clone(), url.clone(), server.token.clone());
                tokio::spawn(async move {
                    let mut latencies = Vec::new();
                    while Instant::now() < deadline {
                        let start = Instant::now();
                        let response = http
                            .post(&url)
                            .bearer_auth(&token)
                            .send()
                            .await
                            .expect("request");
                        assert_eq!(response.status(), 200);
                        response.bytes().await.expect("body");
                        latencies.push(start.elapsed());
                    }
                    latencies
                })
            })
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all
    });
    let mut latencies = latencies;
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "ACCESS over HTTP with {clients} concurrent clients for {seconds} s (SQLite, audit on)"
    );
    println!(
        "  cluster tokens issued: {:>8.0} per second",
        latencies.len() as f64 / seconds as f64
    );
    println!(
        "  latency p50: {:>8.2} ms   p99: {:>8.2} ms",
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3
    );
}
