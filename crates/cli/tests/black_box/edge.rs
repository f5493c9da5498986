//! The edge under attack, and configuration that cannot be mistyped —
//! through the binary: metrics a stranger cannot grow, request bodies with
//! a deadline however they trickle, idle HTTP/2 connections and silent gRPC
//! calls closed, a cap on one address's connections with memory bounded
//! under a flood, unknown `SLIPWAY_*` variables refused at start, blueprint
//! directories given as a plain path, and a worker told to share the
//! secrets key.

use std::convert::Infallible;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::common::*;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty, StreamBody};
use hyper::body::Frame;
use serde_json::Value;
use slipway_testkit::database::TestDatabase;

/// A bound on waits for something that happens within seconds when it
/// works; a test that reaches it has failed.
const BOUND: Duration = Duration::from_secs(60);

/// The server's resident memory, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

fn address(s: &Server) -> String {
    s.url.trim_start_matches("http://").to_owned()
}

// ---------------------------------------------------------------------------
// /metrics

#[test]
fn invented_methods_neither_grow_the_metrics_nor_the_memory() {
    let s = server();
    let pid = s.pid().unwrap();
    let http = reqwest::blocking::Client::new();
    for _ in 0..50 {
        http.get(format!("{}/healthz", s.url)).send().unwrap();
    }
    http.get(format!("{}/metrics", s.url)).send().unwrap();
    let before = rss_kib(pid);
    // 20,000 requests, each with a method of its own (4 KiB long: a
    // method is any token), from four clients; no credential needed.
    const REQUESTS: usize = 20_000;
    let padding = "X".repeat(4096);
    let statuses: Vec<Vec<u16>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4)
            .map(|w| {
                let http = http.clone();
                let url = format!("{}/healthz", s.url);
                let padding = &padding;
                scope.spawn(move || {
                    (w..REQUESTS)
                        .step_by(4)
                        .map(|i| {
                            let method = reqwest::Method::from_bytes(
                                format!("INVENTED{i}{padding}").as_bytes(),
                            )
                            .unwrap();
                            http.request(method, &url).send().unwrap().status().as_u16()
                        })
                        .collect()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    assert!(statuses.iter().flatten().all(|s| *s == 405));
    let scrape = http
        .get(format!("{}/metrics", s.url))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let after = rss_kib(pid);
    eprintln!(
        "RSS {before} KiB -> {after} KiB after {REQUESTS} invented methods; scrape {} bytes",
        scrape.len()
    );
    assert!(
        !scrape.contains("INVENTED"),
        "a client's method became a label"
    );
    assert!(
        scrape.contains(&format!(
            "slipway_http_requests_total{{method=\"other\",route=\"/healthz\",status=\"405\"}} {REQUESTS}"
        )),
        "{scrape}"
    );
    assert!(
        scrape.len() < 64 * 1024,
        "the scrape grew to {} bytes",
        scrape.len()
    );
    assert!(
        after < before + 50 * 1024,
        "RSS grew from {before} KiB to {after} KiB"
    );
}

// ---------------------------------------------------------------------------
// Bodies that trickle

/// Sends `head` and then one byte of body every `every`, until the server
/// answers (or `BOUND` passes); returns the answer's first line and how
/// many bytes of body were sent.
fn trickle(s: &Server, head: &str, every: Duration) -> (String, usize) {
    let mut stream = TcpStream::connect(address(s)).unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    let answered = Arc::new(AtomicBool::new(false));
    let mut writer = stream.try_clone().unwrap();
    let stop = answered.clone();
    let sender = std::thread::spawn(move || {
        let mut sent = 0;
        while !stop.load(Ordering::Relaxed) {
            // The attacker's pace, well inside any gap between reads.
            std::thread::sleep(every);
            if writer.write_all(b"x").is_err() {
                break;
            }
            sent += 1;
        }
        sent
    });
    stream.set_read_timeout(Some(BOUND)).unwrap();
    let mut answer = [0u8; 512];
    let n = stream.read(&mut answer).unwrap_or(0);
    answered.store(true, Ordering::Relaxed);
    let _ = stream.shutdown(std::net::Shutdown::Both);
    let sent = sender.join().unwrap();
    let text = String::from_utf8_lossy(&answer[..n]);
    (text.lines().next().unwrap_or_default().to_owned(), sent)
}

#[test]
fn a_trickled_body_to_either_sign_in_is_cut_off_at_its_deadline() {
    let s = server_with(Options {
        env: vec![("SLIPWAY_HTTP__BODY_READ_TIMEOUT".into(), "2s".into())],
        ..Options::default()
    });
    // A byte every 200 ms never leaves a gap near the 2 s the whole body
    // has; it is the total that must end it.
    for (path, content_type) in [
        ("/v1/auth/github-token", "application/json"),
        ("/sign-in", "application/x-www-form-urlencoded"),
    ] {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: {content_type}\r\nContent-Length: 4000\r\n\r\n",
            address(&s)
        );
        let (status, sent) = trickle(&s, &head, Duration::from_millis(200));
        assert!(
            status.starts_with("HTTP/1.1 408"),
            "{path}: {status:?} after {sent} bytes"
        );
        assert!(
            sent >= 3,
            "{path}: cut off after {sent} bytes, not by the deadline"
        );
    }
    assert_eq!(get(&format!("{}/healthz", s.url)).0, 200);
}

// ---------------------------------------------------------------------------
// HTTP/2 and gRPC

type H2Sender<B> = hyper::client::conn::http2::SendRequest<B>;

/// An HTTP/2 connection to the server (cleartext, as gRPC clients make):
/// its sender, and a handle that resolves when the connection closes. The
/// client answers the server's pings, as real ones do.
async fn h2<B>(s: &Server) -> (H2Sender<B>, tokio::task::JoinHandle<()>)
where
    B: hyper::body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let tcp = tokio::net::TcpStream::connect(address(s)).await.unwrap();
    let (sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .unwrap();
    let closed = tokio::spawn(async move {
        let _ = connection.await;
    });
    (sender, closed)
}

fn get_request(s: &Server, path: &str) -> hyper::Request<Empty<Bytes>> {
    hyper::Request::get(format!("{}{path}", s.url))
        .header("authorization", format!("Bearer {}", s.token))
        .body(Empty::new())
        .unwrap()
}

#[test]
fn an_idle_http2_connection_is_closed_but_not_one_with_a_stream_open() {
    let s = server_with(Options {
        env: vec![("SLIPWAY_HTTP__IDLE_TIMEOUT".into(), "1s".into())],
        ..Options::default()
    });
    s.run(&["cluster", "create", "c", "--blueprint", "local"])
        .expect_code(0);
    slipway_testkit::runtime().block_on(async {
        // A connection following a cluster's status: a request in flight.
        let (mut watching, watching_closed) = h2::<Empty<Bytes>>(&s).await;
        let response = watching
            .send_request(get_request(&s, "/v1/clusters/c/watch"))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let mut events = Events::new(response.into_body());
        assert_eq!(events.next_status().await["state"], "absent");

        // A connection that made one request and then sent nothing: closed
        // (it answers pings, so only the idle timeout can close it).
        let (mut idle, idle_closed) = h2::<Empty<Bytes>>(&s).await;
        let response = idle
            .send_request(get_request(&s, "/healthz"))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.into_body().collect().await.unwrap();
        tokio::time::timeout(BOUND, idle_closed)
            .await
            .expect("the idle connection was closed")
            .unwrap();

        // The one with a request in flight stayed, and still delivers.
        assert!(!watching_closed.is_finished());
        s.run(&["deploy", "c", "--no-wait"]).expect_code(0);
        let status = events.next_status().await;
        assert_eq!(status["last_operation"]["kind"], "deploy", "{status}");
        assert!(!watching_closed.is_finished());
    });
    watch_until(&s, "c", BOUND, |st| st["state"] == "running");
    s.run(&["destroy", "c"]).expect_code(0);
}

/// A stream of server-sent events, read as statuses.
struct Events {
    body: hyper::body::Incoming,
    text: String,
}

impl Events {
    fn new(body: hyper::body::Incoming) -> Self {
        Self {
            body,
            text: String::new(),
        }
    }

    /// The next `status` event's cluster status.
    async fn next_status(&mut self) -> Value {
        loop {
            if let Some(end) = self.text.find("\n\n") {
                let event: String = self.text.drain(..end + 2).collect();
                if let Some(data) = event.lines().find_map(|l| l.strip_prefix("data:")) {
                    return serde_json::from_str(data.trim()).unwrap();
                }
                continue;
            }
            let frame = tokio::time::timeout(BOUND, self.body.frame())
                .await
                .expect("an event in time")
                .expect("the stream goes on")
                .unwrap();
            if let Some(data) = frame.data_ref() {
                self.text.push_str(&String::from_utf8_lossy(data));
            }
        }
    }
}

/// A body that never sends anything and never ends.
type Silent = StreamBody<futures::stream::Pending<Result<Frame<Bytes>, Infallible>>>;

fn silent() -> Silent {
    StreamBody::new(futures::stream::pending())
}

/// The `grpc-status` of a response: from its headers (a trailers-only
/// answer) or its trailers.
async fn grpc_status(response: hyper::Response<hyper::body::Incoming>) -> (String, String) {
    let from = |headers: &hyper::HeaderMap| {
        headers.get("grpc-status").map(|v| {
            let message = headers
                .get("grpc-message")
                .map(|m| m.to_str().unwrap_or_default().to_owned())
                .unwrap_or_default();
            (v.to_str().unwrap().to_owned(), message)
        })
    };
    if let Some(status) = from(response.headers()) {
        return status;
    }
    let body = tokio::time::timeout(BOUND, response.into_body().collect())
        .await
        .expect("the call ended in time")
        .unwrap();
    from(body.trailers().expect("trailers")).expect("a grpc-status")
}

fn grpc_call(s: &Server, method: &str, token: Option<&str>) -> hyper::Request<Silent> {
    let mut request = hyper::Request::post(format!("{}/{method}", s.url))
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    request.body(silent()).unwrap()
}

#[test]
fn grpc_calls_that_never_send_their_message_are_ended() {
    let s = server_with(Options {
        env: vec![("SLIPWAY_HTTP__BODY_READ_TIMEOUT".into(), "1s".into())],
        ..Options::default()
    });
    slipway_testkit::runtime().block_on(async {
        let (mut sender, _closed) = h2::<Silent>(&s).await;
        // An authenticated unary call whose message never comes.
        let response = tokio::time::timeout(
            BOUND,
            sender.send_request(grpc_call(&s, "ps_server.Control/Refresh", Some(&s.token))),
        )
        .await
        .expect("an answer in time")
        .unwrap();
        let (code, message) = grpc_status(response).await;
        assert_eq!(code, "4", "DEADLINE_EXCEEDED: {message}");
        // A stream anyone may open (server reflection, no credential) that
        // sends nothing: ended too.
        let response = tokio::time::timeout(
            BOUND,
            sender.send_request(grpc_call(
                &s,
                "grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
                None,
            )),
        )
        .await
        .expect("an answer in time")
        .unwrap();
        // It ends (its trailers come) instead of waiting for ever.
        let _ = grpc_status(response).await;
    });
}

// ---------------------------------------------------------------------------
// A flood of connections from one address

#[test]
fn a_flood_of_connections_from_one_address_is_capped_and_memory_stays_bounded() {
    // The defaults: the cap is the documented one.
    let s = server();
    let pid = s.pid().unwrap();
    let _ = get(&format!("{}/healthz", s.url));
    let before = rss_kib(pid);
    // As many HTTP/2 connections as this test may open (each sends the
    // preface and its settings, then nothing), all from 127.0.0.1.
    const ATTEMPTS: usize = 5000;
    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";
    let mut flood = Vec::new();
    // Reset so soon that connecting itself reports it.
    let mut reset_at_once = 0;
    for _ in 0..ATTEMPTS {
        match TcpStream::connect(address(&s)) {
            Ok(mut stream) => {
                let _ = stream.write_all(PREFACE);
                flood.push(stream);
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => reset_at_once += 1,
            Err(e) => {
                eprintln!("stopped opening connections after {}: {e}", flood.len());
                break;
            }
        }
    }
    // Served connections get the server's settings; refused ones are reset.
    let (mut served, mut refused) = (0, reset_at_once);
    for stream in &mut flood {
        stream.set_read_timeout(Some(BOUND)).unwrap();
        let mut frame = [0u8; 9];
        match stream.read(&mut frame) {
            Ok(n) if n > 0 => served += 1,
            Ok(_) => refused += 1,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                panic!("a connection neither served nor refused")
            }
            Err(_) => refused += 1,
        }
    }
    let during = rss_kib(pid);
    let attempts = flood.len() + reset_at_once;
    eprintln!(
        "{attempts} connections: {served} served, {refused} refused; RSS {before} KiB -> {during} KiB"
    );
    assert!(attempts >= 4000, "only {attempts} connections attempted");
    assert!(
        served <= 256,
        "{served} connections served from one address"
    );
    assert!(served > 0);
    assert_eq!(served + refused, attempts);
    assert!(
        during < before + 50 * 1024,
        "RSS grew from {before} KiB to {during} KiB"
    );
    // One more, a plain HTTP/1.1 request, is refused as well.
    let mut more = TcpStream::connect(address(&s));
    let answered = more.as_mut().is_ok_and(|more| {
        let _ = more.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
        more.set_read_timeout(Some(BOUND)).unwrap();
        more.read(&mut [0u8; 64]).is_ok_and(|n| n > 0)
    });
    assert!(
        !answered,
        "the address held its share, yet another connection was served"
    );
    // Once the flood ends the address is served again.
    drop(flood);
    wait_for(BOUND, "the address to be served again", || {
        reqwest::blocking::get(format!("{}/healthz", s.url)).is_ok_and(|r| r.status() == 200)
    });
    let scrape = reqwest::blocking::get(format!("{}/metrics", s.url))
        .unwrap()
        .text()
        .unwrap();
    let refusals: f64 = scrape
        .lines()
        .find_map(|l| l.strip_prefix("slipway_http_connections_refused_total "))
        .and_then(|v| v.trim().parse().ok())
        .expect("the refusals are counted");
    assert!(refusals >= refused as f64, "{refusals} < {refused}");
}

// ---------------------------------------------------------------------------
// Configuration

/// Runs `slipway ARGS` with `env` (on top of this process's environment)
/// until it exits, or kills it after `BOUND`: its exit code and stderr.
fn run_until_exit(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut child = Command::new(slipway())
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        let _ = tx.send(text);
    });
    // Its stderr closes when it exits.
    let stderr = rx.recv_timeout(BOUND);
    if stderr.is_err() {
        let _ = child.kill();
        let _ = child.wait();
        panic!("slipway {args:?} (pid {pid}) was still running after {BOUND:?}");
    }
    let status = child.wait().unwrap();
    (status.code(), stderr.unwrap())
}

#[test]
fn an_unknown_slipway_variable_stops_serve_and_worker_naming_the_closest_key() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_str().unwrap();
    // The fault-injection run's mistake: a double underscore.
    let (code, stderr) = run_until_exit(
        &["serve", "--listen", "127.0.0.1:0", "--data-dir", dir],
        &[("SLIPWAY_DATABASE__URL", "postgres://db.invalid/slipway")],
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("SLIPWAY_DATABASE__URL"), "{stderr}");
    assert!(
        stderr.contains("did you mean SLIPWAY_DATABASE_URL?"),
        "{stderr}"
    );
    assert!(
        !data.path().join("slipway.db").exists(),
        "the server started on SQLite anyway"
    );
    let (code, stderr) = run_until_exit(
        &[
            "worker",
            "--database",
            "postgres://db.invalid/slipway",
            "--api",
            "http://127.0.0.1:1",
            "--data-dir",
            dir,
        ],
        &[
            ("SLIPWAY_EXECUTOR__MAX_CONCURENT", "2"),
            // Other commands' variables are fine.
            ("SLIPWAY_URL", "http://127.0.0.1:1"),
            ("SLIPWAY_GATEWAY_LISTEN", "127.0.0.1:1"),
        ],
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("SLIPWAY_EXECUTOR__MAX_CONCURENT")
            && stderr.contains("did you mean SLIPWAY_EXECUTOR__MAX_CONCURRENT?"),
        "{stderr}"
    );
    assert!(!stderr.contains("SLIPWAY_URL "), "{stderr}");
}

/// A directory of blueprints holding one, `name`, copied from the test
/// blueprint `flaky`.
fn blueprint_root(name: &str) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let from = fixture_blueprints().join("flaky/1.0.0");
    let to = root.path().join(name).join("1.0.0");
    std::fs::create_dir_all(&to).unwrap();
    for file in ["main.tf", "blueprint.toml"] {
        let text = std::fs::read_to_string(from.join(file)).unwrap();
        let text = text.replacen("name = \"flaky\"", &format!("name = \"{name}\""), 1);
        std::fs::write(to.join(file), text).unwrap();
    }
    root
}

fn blueprint_names(s: &Server) -> Vec<String> {
    let list: Value = api(s, "GET", "/v1/blueprints")
        .send()
        .unwrap()
        .json()
        .unwrap();
    list.as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn blueprint_dirs_take_a_plain_path_or_a_colon_separated_list() {
    let first = blueprint_root("first");
    let second = blueprint_root("second");
    let dir = |d: &tempfile::TempDir| d.path().display().to_string();
    let plain = server_with(Options {
        env: vec![("SLIPWAY_BLUEPRINT_DIRS".into(), dir(&first))],
        ..Options::default()
    });
    let names = blueprint_names(&plain);
    assert!(names.contains(&"first".to_owned()), "{names:?}");
    drop(plain);
    let both = server_with(Options {
        env: vec![(
            "SLIPWAY_BLUEPRINT_DIRS".into(),
            format!("{}:{}", dir(&first), dir(&second)),
        )],
        ..Options::default()
    });
    let names = blueprint_names(&both);
    assert!(
        names.contains(&"first".to_owned()) && names.contains(&"second".to_owned()),
        "{names:?}"
    );
    drop(both);
    // What cannot be read as directories says what is wanted.
    let data = tempfile::tempdir().unwrap();
    let (code, stderr) = run_until_exit(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data.path().to_str().unwrap(),
        ],
        &[("SLIPWAY_BLUEPRINT_DIRS", "{ dir = 1 }")],
    );
    assert_eq!(code, Some(1), "{stderr}");
    for wanted in ["BLUEPRINT_DIRS", "a directory", "separated by ':'", "array"] {
        assert!(stderr.contains(wanted), "{wanted:?} not in {stderr}");
    }
}

#[test]
fn a_worker_without_the_replicas_secrets_key_is_told_to_share_it() {
    let database = slipway_testkit::runtime().block_on(TestDatabase::postgres());
    let key = secrets_key();
    let s = server_with(Options {
        database_url: Some(database.url.clone()),
        env: vec![("SLIPWAY_AUTH__SECRETS_KEY".into(), key.clone())],
        ..Options::default()
    });
    let data = tempfile::tempdir().unwrap();
    let worker = |env: &[(&str, &str)]| {
        run_until_exit(
            &[
                "worker",
                "--database",
                &database.url,
                "--api",
                &s.url,
                "--data-dir",
                data.path().to_str().unwrap(),
            ],
            env,
        )
    };
    // Without one: the README's worker example once left it out.
    let (code, stderr) = worker(&[]);
    assert_eq!(code, Some(1), "{stderr}");
    for wanted in [
        "auth.secrets_key",
        "SLIPWAY_AUTH__SECRETS_KEY",
        "every API replica and worker",
    ] {
        assert!(stderr.contains(wanted), "{wanted:?} not in {stderr}");
    }
    // With another one than the replicas'.
    let other = secrets_key();
    let (code, stderr) = worker(&[("SLIPWAY_AUTH__SECRETS_KEY", &other)]);
    assert_eq!(code, Some(1), "{stderr}");
    for wanted in [
        "another secrets key",
        "SLIPWAY_AUTH__SECRETS_KEY",
        "every API replica and worker",
    ] {
        assert!(stderr.contains(wanted), "{wanted:?} not in {stderr}");
    }
    assert!(!stderr.contains(&other), "the key itself was printed");
    // With the replicas' key it runs.
    let running = slipway_testkit::server::Worker::start(
        slipway(),
        &database.url,
        &s.url,
        &[],
        &[("SLIPWAY_AUTH__SECRETS_KEY".to_owned(), key)],
    );
    assert!(!running.id.is_empty());
}
