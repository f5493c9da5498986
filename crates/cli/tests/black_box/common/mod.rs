//! Shared by the black-box tests' areas: a server with the test blueprints,
//! waits on the server's own change stream, and plain HTTP.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};
use slipway_testkit::github::FakeGitHub;
pub use slipway_testkit::secrets_key;
pub use slipway_testkit::server::{Options, Server, processes_mentioning};

pub mod project;

pub fn slipway() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_slipway"))
}

/// Blueprints made for tests (`flaky`), beside the embedded `local`.
pub fn fixture_blueprints() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/blueprints")
}

/// `SLIPWAY_BLUEPRINT_DIRS` naming the test blueprints and `more`.
pub fn blueprint_dirs(more: &[&Path]) -> (String, String) {
    let dirs: Vec<String> = std::iter::once(fixture_blueprints())
        .chain(more.iter().map(|p| p.to_path_buf()))
        .map(|p| format!("\"{}\"", p.display()))
        .collect();
    (
        "SLIPWAY_BLUEPRINT_DIRS".into(),
        format!("[{}]", dirs.join(",")),
    )
}

/// A fresh server on SQLite with the test blueprints.
pub fn server() -> Server {
    server_with(Options::default())
}

/// A fresh server with `options`, and the test blueprints unless they name
/// blueprint directories themselves.
pub fn server_with(mut options: Options) -> Server {
    if !options
        .env
        .iter()
        .any(|(k, _)| k == "SLIPWAY_BLUEPRINT_DIRS")
    {
        options.env.push(blueprint_dirs(&[]));
    }
    Server::start_with(slipway(), options)
}

/// Follows `slipway status NAME --watch --json` until a status satisfies
/// `done`, and returns it. Panics with the statuses seen if `timeout` passes.
pub fn watch_until(
    server: &Server,
    name: &str,
    timeout: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let mut child: Child = server
        .cli(&["status", name, "--watch", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("slipway status --watch");
    let stdout = child.stdout.take().expect("piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(status) = serde_json::from_str::<Value>(&line)
                && tx.send(status).is_err()
            {
                return;
            }
        }
    });
    let deadline = std::time::Instant::now() + timeout;
    let mut seen = Vec::new();
    let found = loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(status) if done(&status) => break Some(status),
            Ok(status) => seen.push(status),
            Err(_) => break None,
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    found.unwrap_or_else(|| {
        panic!(
            "no status of {name} matched within {timeout:?}; seen:\n{}\nserver log:\n{}",
            seen.iter()
                .map(|s| format!("{} last={}", s["state"], s["last_operation"]))
                .collect::<Vec<_>>()
                .join("\n"),
            server.log()
        )
    })
}

/// Checks `condition` until it holds; panics naming `what` if `timeout`
/// passes first. For conditions no stream announces (a process's health).
pub fn wait_for(timeout: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + timeout;
    while !condition() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `GET url` without a token.
pub fn get(url: &str) -> (u16, Value) {
    let response = reqwest::blocking::get(url).expect("GET");
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

/// A request to the server's API with its admin token.
pub fn api(server: &Server, method: &str, path: &str) -> reqwest::blocking::RequestBuilder {
    reqwest::blocking::Client::new()
        .request(
            method.parse().expect("a method"),
            format!("{}{path}", server.url),
        )
        .bearer_auth(&server.token)
}

/// The value of a series (without labels) in the server's `/metrics`.
pub fn metric(s: &Server, name: &str) -> f64 {
    let text = reqwest::blocking::get(format!("{}/metrics", s.url))
        .unwrap()
        .text()
        .unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
}

/// Node processes of a cluster still alive.
pub fn cluster_processes(server: &Server, cluster: &str) -> Vec<(u32, String)> {
    let runtime = server.data_dir().join("runtime").join(cluster);
    processes_mentioning(&runtime.display().to_string())
}

/// The state files of a local cluster's nodes in its runtime directory,
/// in index order (each: `pid`, `url`, `cluster`, `index`).
pub fn node_states(runtime: &Path) -> Vec<Value> {
    let mut states: Vec<Value> = std::fs::read_dir(runtime)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("node-") && n.ends_with(".json"))
                })
                .filter_map(|p| serde_json::from_str(&std::fs::read_to_string(p).ok()?).ok())
                .collect()
        })
        .unwrap_or_default();
    states.sort_by_key(|s: &Value| s["index"].as_u64());
    states
}

/// The nodes of a cluster the server deployed itself (its runtime
/// directory is in the server's data directory).
pub fn server_nodes(server: &Server, cluster: &str) -> Vec<Value> {
    node_states(&server.data_dir().join("runtime").join(cluster))
}

/// `GET path` on a node's Unix socket (a node's `url` is `unix:PATH`)
/// with `headers`: the status and the JSON body. Only Slipway's user can
/// do this; anyone else must go through the gateway.
pub fn unix_get(node_url: &str, path: &str, headers: &[(&str, &str)]) -> (u16, Value) {
    use std::io::{Read, Write};
    let socket = node_url
        .strip_prefix("unix:")
        .unwrap_or_else(|| panic!("not a Unix socket: {node_url}"));
    let mut stream = std::os::unix::net::UnixStream::connect(socket)
        .unwrap_or_else(|e| panic!("connect {socket}: {e}"));
    let mut request = format!("GET {path} HTTP/1.1\r\nhost: node\r\nconnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("receive");
    let status = response[9..12].parse().expect("a status");
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// The TCP ports a process listens on (its sockets, looked up in
/// `/proc/net/tcp` and `tcp6`).
pub fn listening_tcp_ports(pid: u32) -> Vec<u16> {
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|fds| {
            fds.flatten()
                .filter_map(|fd| std::fs::read_link(fd.path()).ok())
                .filter_map(|target| {
                    let target = target.to_string_lossy().into_owned();
                    Some(
                        target
                            .strip_prefix("socket:[")?
                            .strip_suffix(']')?
                            .to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let mut ports = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // local address, state (0A: listening), inode
            if fields.len() > 9 && fields[3] == "0A" && inodes.iter().any(|i| i == fields[9]) {
                let port = fields[1].rsplit(':').next().expect("address:port");
                ports.push(u16::from_str_radix(port, 16).expect("a hex port"));
            }
        }
    }
    ports
}

/// Defines cluster `name` on the local blueprint with `nodes` nodes that
/// take `boot_seconds` to start, and queues its deploy; returns the
/// operation's id.
pub fn queue_slow_deploy(server: &Server, name: &str, nodes: u32, boot_seconds: u32) -> String {
    server
        .run(&[
            "cluster",
            "create",
            name,
            "--blueprint",
            "local",
            "--nodes",
            &nodes.to_string(),
            "--var",
            &format!("boot_seconds={boot_seconds}"),
        ])
        .expect_code(0);
    let queued = server.run(&["deploy", name, "--no-wait", "--json"]);
    queued.expect_code(0);
    queued.json()["operation"]["id"]
        .as_str()
        .expect("an operation id")
        .to_owned()
}

/// Whether an operation event is a node's provisioner starting.
pub fn is_node_starting(event: &Value) -> bool {
    event["kind"] == "provision_start"
        && event["data"]["resource"]
            .as_str()
            .unwrap_or_default()
            .starts_with("terraform_data.node")
}

/// Follows an operation's log on `server` until a node is starting.
pub fn follow_until_a_node_starts(server: &Server, op: &str) {
    let mut follow = server
        .cli(&["logs", op, "--follow", "--json"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("slipway logs --follow");
    let lines = BufReader::new(follow.stdout.take().expect("piped")).lines();
    for line in lines.map_while(Result::ok) {
        if is_node_starting(&serde_json::from_str(&line).expect("an event")) {
            break;
        }
    }
    let _ = follow.kill();
    let _ = follow.wait();
}

/// Follows an operation's log until a line contains `needle`.
pub fn follow_until(s: &Server, run: &str, needle: &str) {
    let mut follow = s
        .cli(&["logs", run, "--follow", "--json"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = std::io::BufRead::lines(std::io::BufReader::new(follow.stdout.take().unwrap()));
    let mut seen = Vec::new();
    let found = lines.map_while(Result::ok).any(|line| {
        let event: Value = serde_json::from_str(&line).unwrap();
        let message = event["message"].as_str().unwrap_or_default().to_owned();
        seen.push(message.clone());
        message.contains(needle)
    });
    let _ = follow.kill();
    let _ = follow.wait();
    assert!(found, "no line with {needle:?} in the run's log: {seen:#?}");
}

/// The settings that point a server's GitHub sign-in at `github` (the
/// fake), web flow included.
pub fn github_env(github: &FakeGitHub) -> Vec<(String, String)> {
    [
        ("SLIPWAY_AUTH__GITHUB__CLIENT_ID", github.client_id()),
        (
            "SLIPWAY_AUTH__GITHUB__CLIENT_SECRET",
            github.client_secret(),
        ),
        ("SLIPWAY_AUTH__GITHUB__OAUTH_URL", github.url()),
        ("SLIPWAY_AUTH__GITHUB__API_URL", github.url()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// A fresh server signing people in with `github`, with `extra` settings.
pub fn server_with_github(github: &FakeGitHub, extra: &[(&str, &str)]) -> Server {
    let mut env = github_env(github);
    env.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    server_with(Options {
        env,
        ..Options::default()
    })
}

/// Signs in through the API with a GitHub token: the session.
pub fn github_session(s: &Server, github_token: &str) -> Value {
    let response = reqwest::blocking::Client::new()
        .post(format!("{}/v1/auth/github-token", s.url))
        .json(&json!({ "token": github_token }))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200, "sign-in with {github_token}");
    response.json().unwrap()
}

/// Signs in through the API with a GitHub token: the user token.
pub fn sign_in(s: &Server, github_token: &str) -> String {
    github_session(s, github_token)["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Whether `tool` is an executable file on `PATH`.
pub fn installed(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()))
}

/// Runs `command` (another language's test suite) to its end, echoing its
/// lines (the harness shows them when the test fails) and returning them;
/// panics if it fails, or kills it and panics if it takes longer than
/// `timeout`.
pub fn run_to_end(mut command: std::process::Command, timeout: Duration) -> Vec<String> {
    let what = format!("{command:?}");
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    let (tx, rx) = mpsc::channel::<Option<String>>();
    for stream in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let _ = tx.send(Some(line));
            }
            let _ = tx.send(None);
        });
    }
    let deadline = std::time::Instant::now() + timeout;
    let mut ended = 0;
    let mut lines = Vec::new();
    while ended < 2 {
        match rx.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now())) {
            Ok(Some(line)) => {
                println!("{line}");
                lines.push(line);
            }
            Ok(None) => ended += 1,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{what} did not finish within {timeout:?}");
            }
        }
    }
    let status = child.wait().expect("the suite exits");
    assert!(status.success(), "{what} failed ({status})");
    lines
}
