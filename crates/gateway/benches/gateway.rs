//! Throughput and latency through the gateway, against the same load sent
//! straight to a node, in the same run.
//!
//! `cargo bench -p slipway-gateway --bench gateway`
//!
//! A real `node run` process and a real `gateway run` process (this
//! executable started again in those roles, built with the bench profile)
//! and, in this process, an issuer serving a JWKS and an (empty) revocation
//! list, which the gateway polls as it does in production, and a load
//! generator of
//! its own: N keep-alive HTTP/1.1 connections, each sending GET requests
//! with a valid cluster token (an org member's, so the token cache, the
//! per-user rate limiter and the quota table are all on the path) one after
//! the other for a fixed time. Two measurements, each direct then through
//! the gateway:
//!
//! - **closed loop**: as fast as the connections go (requests per second,
//!   latency percentiles at that load);
//! - **fixed rate**: a constant offered load below saturation, where the
//!   difference in latency is what the gateway adds.
//!
//! Settings (environment): `BENCH_ROUNDS` (3: each run is repeated, direct
//! and gateway alternating, and the summary is the median round),
//! `BENCH_CONNECTIONS` (64), `BENCH_SECONDS` (3 per run),
//! `BENCH_RATE` (5000 requests/s for the fixed-rate runs), `BENCH_THREADS`
//! (load generator threads, 1). With `BENCH_WRK=1` and `wrk` on the `PATH`,
//! the closed-loop runs are repeated with `wrk` as the load generator (one
//! thread, the same connections and duration), for a second opinion.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{AUTHORIZATION, HOST};
use http::{HeaderValue, Request};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use slipway_auth::jwt::{Claims, ISSUER_SUBJECT, REVOCATIONS_AUDIENCE, RevocationList, sign};
use slipway_auth::keys::{Jwks, SigningKey};
use slipway_core::Level;

const ROLE: &str = "SLIPWAY_BENCH_ROLE";
const CLUSTER: &str = "bench";

fn main() {
    match std::env::var(ROLE).as_deref() {
        Ok("node") => return run_node(),
        Ok("gateway") => return run_gateway(),
        _ => {}
    }
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    // `cargo bench` passes `--bench`; `cargo test --benches` does not: then
    // a short smoke run shows the benchmark still works.
    let settings = if std::env::args().any(|a| a == "--bench") {
        Settings::from_env()
    } else {
        Settings::smoke()
    };
    bench(&settings);
}

struct Settings {
    rounds: usize,
    connections: usize,
    duration: Duration,
    warm_up: Duration,
    rate: u64,
    threads: usize,
}

impl Settings {
    fn from_env() -> Self {
        let get = |name: &str, default: u64| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        Self {
            rounds: get("BENCH_ROUNDS", 3).max(1) as usize,
            connections: get("BENCH_CONNECTIONS", 64) as usize,
            duration: Duration::from_secs(get("BENCH_SECONDS", 3)),
            warm_up: Duration::from_secs(1),
            rate: get("BENCH_RATE", 5000),
            threads: get("BENCH_THREADS", 1) as usize,
        }
    }

    fn smoke() -> Self {
        Self {
            rounds: 1,
            connections: 4,
            duration: Duration::from_millis(300),
            warm_up: Duration::from_millis(100),
            rate: 200,
            threads: 1,
        }
    }
}

// ---------------------------------------------------------------------------
// Roles

fn run_node() {
    let args = slipway_gateway::node::NodeArgs {
        cluster: CLUSTER.into(),
        index: 0,
        state_file: PathBuf::from(std::env::var("BENCH_NODE_STATE").unwrap()),
        // TCP, so the benchmark can also reach it directly.
        listen: Some("127.0.0.1:0".parse().unwrap()),
        boot_delay: 0,
    };
    slipway_gateway::node::run_node(&args).unwrap();
}

fn run_gateway() {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: slipway_gateway::gateway::GatewayArgs,
    }
    // Every option comes from SLIPWAY_GATEWAY_* variables.
    let cli = Cli::parse_from(["gateway"]);
    slipway_gateway::gateway::run_gateway(&cli.args).unwrap();
}

/// Starts this executable in a role and returns it with its ready line.
fn spawn(role: &str, envs: &[(&str, String)]) -> (Child, serde_json::Value) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env(ROLE, role)
        .env("SLIPWAY_LOG", "warn")
        .env("RUST_LOG", "warn")
        .envs(envs.iter().map(|(k, v)| (*k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let ready = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{role}: {e}: {line:?}"));
    (child, ready)
}

/// CPU seconds a process used so far (user + system).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields.get(11..13).map_or(0.0, |f| {
        f.iter().filter_map(|v| v.parse::<f64>().ok()).sum()
    });
    // USER_HZ is 100 on Linux.
    ticks / 100.0
}

// ---------------------------------------------------------------------------
// The run

fn bench(settings: &Settings) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(settings.threads.max(1))
        .enable_all()
        .build()
        .unwrap();

    // The issuer.
    let key = SigningKey::generate().unwrap();
    let jwks = Jwks {
        keys: vec![key.jwk()],
    };
    let issuer_url = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (list_key, iss) = (key.clone(), url.clone());
        let app = axum::Router::new()
            .route(
                "/.well-known/jwks.json",
                axum::routing::get(move || {
                    let jwks = jwks.clone();
                    async move { axum::Json(jwks) }
                }),
            )
            .route(
                "/.well-known/revocations",
                axum::routing::get(move || {
                    let now = chrono::Utc::now().timestamp();
                    let list = RevocationList {
                        iss: iss.clone(),
                        sub: ISSUER_SUBJECT.into(),
                        aud: REVOCATIONS_AUDIENCE.into(),
                        iat: now,
                        nbf: now,
                        exp: now + 600,
                        revoked: Vec::new(),
                        subjects: Vec::new(),
                    };
                    let token = sign(&list_key, &list).unwrap();
                    async move { axum::Json(serde_json::json!({ "token": token })) }
                }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        url
    });
    let now = chrono::Utc::now().timestamp();
    let token = sign(
        &key,
        &Claims {
            iss: issuer_url.clone(),
            sub: "alice".into(),
            name: String::new(),
            aud: CLUSTER.into(),
            exp: now + 3600,
            nbf: now - 1,
            iat: now,
            jti: "bench".into(),
            level: Level::OrgMember,
            orgs: vec!["research".into()],
        },
    )
    .unwrap();

    // A node and a gateway in front of it.
    let dir = tempfile::tempdir().unwrap();
    let (mut node, node_ready) = spawn(
        "node",
        &[(
            "BENCH_NODE_STATE",
            dir.path().join("node-0.json").display().to_string(),
        )],
    );
    let node_url = node_ready["url"].as_str().unwrap().to_owned();
    let (mut gateway, gateway_ready) = spawn(
        "gateway",
        &[
            ("SLIPWAY_GATEWAY_CLUSTER", CLUSTER.into()),
            ("SLIPWAY_GATEWAY_ISSUER", issuer_url.clone()),
            ("SLIPWAY_GATEWAY_NODES", node_url.clone()),
            // Limits far above the load, but on the path.
            ("SLIPWAY_GATEWAY_ORG_MEMBER_RATE", "10000000".into()),
            ("SLIPWAY_GATEWAY_ORG_MEMBER_BURST", "10000000".into()),
            ("SLIPWAY_GATEWAY_ORG_MEMBER_QUOTA", "1000000000000".into()),
        ],
    );
    let gateway_url = gateway_ready["url"].as_str().unwrap().to_owned();
    let gateway_pid = gateway_ready["pid"].as_u64().unwrap() as u32;

    println!(
        "gateway benchmark: {} rounds, {} connections, {:?} per run, {} load generator thread(s), {} CPUs",
        settings.rounds,
        settings.connections,
        settings.duration,
        settings.threads,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("node {node_url}, gateway {gateway_url}");
    println!();
    println!(
        "{:<28} {:>10} {:>9} {:>9} {:>9} {:>9} {:>8} {:>10}",
        "run", "req/s", "p50 µs", "p90 µs", "p99 µs", "p99.9 µs", "errors", "gw CPU"
    );

    let target = |url: &str| -> SocketAddr { url.trim_start_matches("http://").parse().unwrap() };
    // Direct and through the gateway alternate, round after round, so a
    // neighbour's burst of CPU use hits both alike; the summary takes the
    // median round.
    let kinds = [
        ("direct, closed loop", &node_url, None),
        ("gateway, closed loop", &gateway_url, None),
        ("direct, fixed rate", &node_url, Some(settings.rate)),
        ("gateway, fixed rate", &gateway_url, Some(settings.rate)),
    ];
    let mut results: Vec<Vec<Run>> = kinds.iter().map(|_| Vec::new()).collect();
    for round in 0..settings.rounds {
        for (k, (name, url, rate)) in kinds.iter().enumerate() {
            let cpu_before = cpu_seconds(gateway_pid);
            let mut run = runtime.block_on(load(target(url), &token, settings, *rate));
            run.gateway_cpu = (cpu_seconds(gateway_pid) - cpu_before) / run.seconds;
            println!("{}", run.line(&format!("{name} #{}", round + 1)));
            results[k].push(run);
        }
    }
    println!();
    println!("median of {} rounds:", settings.rounds);
    let medians: Vec<Summary> = results.iter().map(|runs| Summary::median(runs)).collect();
    for ((name, _, _), m) in kinds.iter().zip(&medians) {
        println!("{}", m.line(name));
    }
    println!();
    let (direct, through) = (&medians[0], &medians[1]);
    println!(
        "closed loop: the gateway serves {:.0} req/s ({:.0}% of direct); p99 {} µs vs {} µs direct",
        through.per_second,
        100.0 * through.per_second / direct.per_second,
        through.p99,
        direct.p99,
    );
    let (direct, through) = (&medians[2], &medians[3]);
    println!(
        "fixed rate {} req/s: the gateway adds {} µs at p50 and {} µs at p99",
        settings.rate,
        through.p50 as i64 - direct.p50 as i64,
        through.p99 as i64 - direct.p99 as i64,
    );

    // What the gateway says about itself.
    let metrics = runtime.block_on(async {
        reqwest::get(format!("{gateway_url}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    for line in metrics.lines().filter(|l| {
        l.starts_with("slipway_gateway_upstream_connections_total")
            || l.starts_with("slipway_gateway_upstream_retries_total")
            || l.starts_with("slipway_gateway_token_checks_total")
            || l.starts_with("slipway_gateway_refusals_total") && !l.ends_with(" 0")
    }) {
        println!("{line}");
    }

    if std::env::var("BENCH_WRK").is_ok_and(|v| v == "1") {
        println!();
        for (name, url) in [("direct", &node_url), ("gateway", &gateway_url)] {
            wrk(name, url, &token, settings);
        }
    }

    for child in [&mut gateway, &mut node] {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = child.wait();
    }
    let errors: u64 = results.iter().flatten().map(|r| r.errors).sum();
    assert_eq!(errors, 0, "some requests failed");
}

/// One run's measurements.
struct Run {
    latencies_us: Vec<u32>,
    errors: u64,
    seconds: f64,
    /// CPU the gateway process used, in cores.
    gateway_cpu: f64,
}

/// The median of several runs, metric by metric.
struct Summary {
    per_second: f64,
    p50: u32,
    p90: u32,
    p99: u32,
    p999: u32,
    errors: u64,
    gateway_cpu: f64,
}

impl Summary {
    fn median(runs: &[Run]) -> Self {
        fn mid<T: PartialOrd + Copy>(mut v: Vec<T>) -> T {
            v.sort_by(|a, b| a.partial_cmp(b).expect("comparable"));
            v[v.len() / 2]
        }
        Self {
            per_second: mid(runs.iter().map(Run::per_second).collect()),
            p50: mid(runs.iter().map(|r| r.percentile(50.0)).collect()),
            p90: mid(runs.iter().map(|r| r.percentile(90.0)).collect()),
            p99: mid(runs.iter().map(|r| r.percentile(99.0)).collect()),
            p999: mid(runs.iter().map(|r| r.percentile(99.9)).collect()),
            errors: runs.iter().map(|r| r.errors).sum(),
            gateway_cpu: mid(runs.iter().map(|r| r.gateway_cpu).collect()),
        }
    }

    fn line(&self, name: &str) -> String {
        format!(
            "{:<28} {:>10.0} {:>9} {:>9} {:>9} {:>9} {:>8} {:>9.0}%",
            name,
            self.per_second,
            self.p50,
            self.p90,
            self.p99,
            self.p999,
            self.errors,
            self.gateway_cpu * 100.0
        )
    }
}

impl Run {
    fn line(&self, name: &str) -> String {
        Summary::median(std::slice::from_ref(self)).line(name)
    }

    fn per_second(&self) -> f64 {
        self.latencies_us.len() as f64 / self.seconds
    }

    fn percentile(&self, p: f64) -> u32 {
        if self.latencies_us.is_empty() {
            return 0;
        }
        let at = ((p / 100.0) * (self.latencies_us.len() - 1) as f64).round() as usize;
        self.latencies_us[at]
    }
}

/// Keep-alive connections sending GET requests for the run's duration
/// (after a warm-up): back to back, or each at `rate / connections` per
/// second.
async fn load(addr: SocketAddr, token: &str, settings: &Settings, rate: Option<u64>) -> Run {
    let (connections, duration) = (settings.connections, settings.duration);
    let warm = Instant::now() + settings.warm_up;
    let end = warm + duration;
    let authorization = HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
    let host = HeaderValue::from_str(&addr.to_string()).unwrap();
    let interval = rate.map(|r| Duration::from_secs_f64(connections as f64 / r as f64));
    let tasks: Vec<_> = (0..connections)
        .map(|i| {
            let (authorization, host) = (authorization.clone(), host.clone());
            tokio::spawn(async move {
                // Spread the fixed-rate connections over one interval.
                let start = Instant::now()
                    + interval.map_or(Duration::ZERO, |iv| {
                        iv.mul_f64(i as f64 / connections as f64)
                    });
                connection(addr, host, authorization, start, warm, end, interval).await
            })
        })
        .collect();
    let mut latencies_us = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (l, e) = task.await.unwrap();
        latencies_us.extend(l);
        errors += e;
    }
    latencies_us.sort_unstable();
    Run {
        latencies_us,
        errors,
        seconds: duration.as_secs_f64(),
        gateway_cpu: 0.0,
    }
}

async fn connection(
    addr: SocketAddr,
    host: HeaderValue,
    authorization: HeaderValue,
    start: Instant,
    warm: Instant,
    end: Instant,
    interval: Option<Duration>,
) -> (Vec<u32>, u64) {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut latencies = Vec::with_capacity(200_000);
    let mut errors = 0;
    let mut next = start;
    loop {
        if let Some(interval) = interval {
            tokio::time::sleep_until(next.into()).await;
            next += interval;
        }
        let t0 = Instant::now();
        if t0 >= end {
            break;
        }
        let request = Request::get("/api/bench")
            .header(HOST, host.clone())
            .header(AUTHORIZATION, authorization.clone())
            .body(Empty::<Bytes>::new())
            .unwrap();
        if sender.ready().await.is_err() {
            errors += 1;
            break;
        }
        let ok = match sender.send_request(request).await {
            Ok(response) => {
                let status = response.status();
                response.into_body().collect().await.is_ok() && status == 200
            }
            Err(_) => false,
        };
        if t0 >= warm {
            if ok {
                latencies.push(t0.elapsed().as_micros().min(u32::MAX as u128) as u32);
            } else {
                errors += 1;
            }
        }
    }
    (latencies, errors)
}

/// The same closed-loop load with `wrk`, if it is installed.
fn wrk(name: &str, url: &str, token: &str, settings: &Settings) {
    let output = Command::new("wrk")
        .args(["-t1", "--latency"])
        .arg(format!("-c{}", settings.connections))
        .arg(format!("-d{}s", settings.duration.as_secs().max(1)))
        .arg("-H")
        .arg(format!("Authorization: Bearer {token}"))
        .arg(format!("{url}/api/bench"))
        .output();
    match output {
        Ok(output) if output.status.success() => {
            let text = String::from_utf8_lossy(&output.stdout);
            let pick = |prefix: &str| {
                text.lines()
                    .find(|l| l.trim_start().starts_with(prefix))
                    .map_or(String::new(), |l| {
                        l.split_whitespace().nth(1).unwrap_or("").to_owned()
                    })
            };
            println!(
                "wrk, {name:<22} {:>10} req/s   p50 {:>8}   p90 {:>8}   p99 {:>8}   non-2xx: {}",
                pick("Requests/sec:"),
                pick("50%"),
                pick("90%"),
                pick("99%"),
                text.lines()
                    .find(|l| l.contains("Non-2xx"))
                    .map_or("0", |l| l.rsplit(' ').next().unwrap_or("?")),
            );
        }
        Ok(output) => println!("wrk failed: {}", String::from_utf8_lossy(&output.stderr)),
        Err(err) => println!("wrk is not available ({err}); skipped"),
    }
}
