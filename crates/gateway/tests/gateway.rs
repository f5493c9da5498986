//! The gateway in front of real `slipway node` processes, with an issuer
//! publishing real keys: access, identity headers, rate limits and quotas,
//! key rotation, failover when a node dies, streaming.
//!
//! The gateway runs in this process ([`slipway_gateway::gateway::Gateway`]);
//! the nodes are separate processes: this test binary started again with
//! `node_process_entry_point` selected, running the real `node run` code
//! (the `slipway` binary belongs to another crate). The issuer is a small
//! in-process HTTP server serving a JWKS of keys the tests generate and sign
//! with, and a signed revocation list — the same `slipway_auth` primitives
//! Slipway's server uses.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use parking_lot::Mutex;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use slipway_auth::jwt::{
    API_AUDIENCE, Claims, ISSUER_SUBJECT, REVOCATIONS_AUDIENCE, RevocationList, RevokedSubject,
    RevokedToken, sign,
};
use slipway_auth::keys::{Jwks, SigningKey};
use slipway_core::Level;
use slipway_gateway::gateway::{Config, Gateway, LevelLimit, NodeStatus};
use slipway_gateway::node::{NodeArgs, NodeState};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};

/// How long any awaited event may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------
// Node processes

const NODE_ENV: &str = "SLIPWAY_GATEWAY_TEST_NODE";

/// Not a test: the entry point of the node processes the tests start (this
/// binary, run again with this test selected and [`NODE_ENV`] set). Without
/// the variable it does nothing.
#[test]
fn node_process_entry_point() {
    let Ok(spec) = std::env::var(NODE_ENV) else {
        return;
    };
    let spec: Value = serde_json::from_str(&spec).unwrap();
    let args = NodeArgs {
        cluster: spec["cluster"].as_str().unwrap().to_owned(),
        index: spec["index"].as_u64().unwrap() as u32,
        state_file: PathBuf::from(spec["state_file"].as_str().unwrap()),
        // The default: a Unix socket beside the state file, as the local
        // blueprint's nodes listen, so only the gateway reaches them.
        listen: None,
        boot_delay: 0,
    };
    let code = match slipway_gateway::node::run_node(&args) {
        Ok(()) => 0,
        Err(err) => {
            eprintln!("node failed: {err}");
            1
        }
    };
    std::process::exit(code);
}

/// A running node process; killed when dropped.
struct NodeProcess {
    child: Child,
    state: NodeState,
}

impl NodeProcess {
    /// Starts node `index` of `cluster`, writing its state file into `dir`,
    /// and waits for its ready line.
    fn start(cluster: &str, index: u32, dir: &Path) -> Self {
        let spec = json!({
            "cluster": cluster,
            "index": index,
            "state_file": dir.join(format!("node-{index}.json")),
        });
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "node_process_entry_point",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(NODE_ENV, spec.to_string())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // The test harness prints its own words first, on the same line
            // too; the ready line is the JSON object.
            let mut sent = false;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if !sent
                    && let Some(at) = line.find('{')
                    && let Ok(state) = NodeState::parse(&line[at..])
                {
                    let _ = tx.send(state);
                    sent = true;
                }
                // Keep draining stdout so the node never blocks on it.
            }
        });
        let state = match rx.recv_timeout(PATIENCE) {
            Ok(state) => state,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("node {index} printed no ready line");
            }
        };
        Self { child, state }
    }

    fn url(&self) -> &str {
        &self.state.url
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn terminate(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.child.wait();
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

// ---------------------------------------------------------------------------
// The issuer

struct IssuerState {
    published: Mutex<Vec<SigningKey>>,
    fetches: AtomicUsize,
    down: AtomicBool,
    revocations: Mutex<Revocations>,
    revocations_down: AtomicBool,
    /// Revocation list requests answered 200 and 304.
    lists_sent: AtomicUsize,
    lists_unchanged: AtomicUsize,
}

/// What the issuer's revocation list says, and how it is signed.
struct Revocations {
    revoked: Vec<RevokedToken>,
    subjects: Vec<RevokedSubject>,
    /// Signs the list; the first published key when `None`.
    key: Option<SigningKey>,
    /// Overrides the list's `iss` and `aud` (to forge bad lists).
    iss: Option<String>,
    aud: Option<String>,
    /// Bumped on every change: the ETag.
    version: u64,
}

/// An in-process stand-in for Slipway's JWKS and revocation list
/// endpoints.
struct Issuer {
    url: String,
    state: Arc<IssuerState>,
}

impl Issuer {
    async fn start(keys: &[&SigningKey]) -> Self {
        let state = Arc::new(IssuerState {
            published: Mutex::new(keys.iter().map(|k| (*k).clone()).collect()),
            fetches: AtomicUsize::new(0),
            down: AtomicBool::new(false),
            revocations: Mutex::new(Revocations {
                revoked: Vec::new(),
                subjects: Vec::new(),
                key: None,
                iss: None,
                aud: None,
                version: 0,
            }),
            revocations_down: AtomicBool::new(false),
            lists_sent: AtomicUsize::new(0),
            lists_unchanged: AtomicUsize::new(0),
        });
        async fn jwks(State(state): State<Arc<IssuerState>>) -> axum::response::Response {
            state.fetches.fetch_add(1, Ordering::SeqCst);
            if state.down.load(Ordering::SeqCst) {
                return StatusCode::SERVICE_UNAVAILABLE.into_response();
            }
            let jwks = Jwks {
                keys: state.published.lock().iter().map(SigningKey::jwk).collect(),
            };
            axum::Json(jwks).into_response()
        }
        // Like Slipway's: `{"token": <signed list>}` with an ETag, 304 for
        // `If-None-Match` naming the current one.
        async fn revocations(
            State((state, url)): State<(Arc<IssuerState>, String)>,
            headers: axum::http::HeaderMap,
        ) -> axum::response::Response {
            if state.down.load(Ordering::SeqCst) || state.revocations_down.load(Ordering::SeqCst) {
                return StatusCode::SERVICE_UNAVAILABLE.into_response();
            }
            let list = state.revocations.lock();
            let etag = format!("\"v{}\"", list.version);
            if headers
                .get("if-none-match")
                .is_some_and(|given| given.as_bytes() == etag.as_bytes())
            {
                state.lists_unchanged.fetch_add(1, Ordering::SeqCst);
                return (StatusCode::NOT_MODIFIED, [("etag", etag)]).into_response();
            }
            let now = chrono::Utc::now().timestamp();
            let claims = RevocationList {
                iss: list.iss.clone().unwrap_or(url),
                sub: ISSUER_SUBJECT.into(),
                aud: list.aud.clone().unwrap_or(REVOCATIONS_AUDIENCE.into()),
                iat: now,
                nbf: now,
                exp: now + 600,
                revoked: list.revoked.clone(),
                subjects: list.subjects.clone(),
            };
            let key = list
                .key
                .clone()
                .unwrap_or_else(|| state.published.lock()[0].clone());
            state.lists_sent.fetch_add(1, Ordering::SeqCst);
            let token = sign(&key, &claims).unwrap();
            ([("etag", etag)], axum::Json(json!({ "token": token }))).into_response()
        }
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new()
            .route("/.well-known/jwks.json", get(jwks))
            .with_state(state.clone())
            .merge(
                Router::new()
                    .route("/.well-known/revocations", get(revocations))
                    .with_state((state.clone(), url.clone())),
            );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, state }
    }

    /// Lists `jti` as revoked until `exp`.
    fn revoke(&self, jti: &str, exp: i64) {
        let mut list = self.state.revocations.lock();
        list.revoked.push(RevokedToken {
            jti: jti.into(),
            exp,
        });
        list.version += 1;
    }

    /// Lists `sub`'s tokens for `aud` issued before `issued_before` as
    /// revoked until `exp`.
    fn revoke_subject(&self, sub: &str, aud: &str, issued_before: i64, exp: i64) {
        let mut list = self.state.revocations.lock();
        list.subjects.push(RevokedSubject {
            sub: sub.into(),
            aud: aud.into(),
            issued_before,
            exp,
        });
        list.version += 1;
    }

    /// Changes how the list is signed: with `key` (`None`: the first
    /// published key), claiming `iss` and `aud` (`None`: the right ones).
    fn forge_list(&self, key: Option<&SigningKey>, iss: Option<&str>, aud: Option<&str>) {
        let mut list = self.state.revocations.lock();
        list.key = key.cloned();
        list.iss = iss.map(str::to_owned);
        list.aud = aud.map(str::to_owned);
        list.version += 1;
    }

    fn set_revocations_down(&self, down: bool) {
        self.state.revocations_down.store(down, Ordering::SeqCst);
    }

    fn lists_unchanged(&self) -> usize {
        self.state.lists_unchanged.load(Ordering::SeqCst)
    }

    fn publish(&self, keys: &[&SigningKey]) {
        *self.state.published.lock() = keys.iter().map(|k| (*k).clone()).collect();
    }

    fn fetches(&self) -> usize {
        self.state.fetches.load(Ordering::SeqCst)
    }

    fn set_down(&self, down: bool) {
        self.state.down.store(down, Ordering::SeqCst);
    }

    fn claims(&self, aud: &str, sub: &str, level: Level) -> Claims {
        let now = chrono::Utc::now().timestamp();
        Claims {
            iss: self.url.clone(),
            sub: sub.into(),
            name: String::new(),
            aud: aud.into(),
            exp: now + 3600,
            nbf: now - 1,
            iat: now,
            jti: uuid(),
            level,
            orgs: vec!["research".into(), "ops".into()],
        }
    }

    fn token(&self, key: &SigningKey, aud: &str, sub: &str, level: Level) -> String {
        sign(key, &self.claims(aud, sub, level)).unwrap()
    }
}

fn uuid() -> String {
    use std::sync::atomic::AtomicU64;
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("jti-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

// ---------------------------------------------------------------------------
// The gateway

struct TestGateway {
    url: String,
    nodes: watch::Receiver<Vec<NodeStatus>>,
    stop: Option<oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<()>>,
}

impl TestGateway {
    async fn start(config: Config) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let gateway = Gateway::new(config).await.unwrap();
        let nodes = gateway.watch_nodes();
        let (stop, stopped) = oneshot::channel::<()>();
        let served = tokio::spawn(async move {
            gateway
                .serve(listener, async move {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Self {
            url,
            nodes,
            stop: Some(stop),
            served: Some(served),
        }
    }

    /// Waits until the gateway's view of its nodes satisfies `ok`.
    async fn wait_nodes(&mut self, what: &str, ok: impl Fn(&[NodeStatus]) -> bool) {
        let waited = tokio::time::timeout(PATIENCE, self.nodes.wait_for(|n| ok(n)))
            .await
            .map(|r| r.is_ok());
        if waited != Ok(true) {
            panic!("{what}: the nodes are {:?}", *self.nodes.borrow());
        }
    }

    async fn wait_healthy(&mut self, count: usize) {
        self.wait_nodes(&format!("{count} healthy nodes"), |n| {
            n.iter().filter(|s| s.healthy).count() == count
        })
        .await;
    }

    async fn shutdown(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(PATIENCE, self.served.take().unwrap())
            .await
            .expect("the gateway stops")
            .unwrap();
    }
}

/// A configuration for tests: fast health checks and key refetches.
fn config(cluster: &str, issuer: &Issuer, public: bool) -> Config {
    let mut config = Config::new(cluster);
    config.public = public;
    config.issuer = Some(issuer.url.clone());
    config.health_interval = Duration::from_millis(200);
    config.health_timeout = Duration::from_millis(500);
    config.jwks_refetch_min = Duration::from_millis(200);
    config
}

// ---------------------------------------------------------------------------
// HTTP

struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

impl Answer {
    fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
    }

    /// The `x-slipway-*` headers the node received.
    fn echoed(&self) -> BTreeMap<String, String> {
        serde_json::from_value(self.body["headers"].clone())
            .unwrap_or_else(|_| panic!("not a node's echo: {}", self.body))
    }

    fn node(&self) -> u64 {
        self.body["node"].as_u64().expect("a node's answer")
    }

    fn retry_after(&self) -> u64 {
        self.header("retry-after")
            .parse()
            .unwrap_or_else(|_| panic!("no Retry-After: {:?}", self.headers))
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(PATIENCE)
        .build()
        .unwrap()
}

async fn call(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    extra: &[(&str, &str)],
) -> Answer {
    let mut request = client.get(format!("{url}/api/thing"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    answer(request.send().await.unwrap()).await
}

async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Answer {
        status,
        headers,
        body,
    }
}

fn assert_refused(answer: &Answer, status: u16, code: &str, what: &str) {
    assert_eq!(answer.status, status, "{what}: {}", answer.body);
    assert_eq!(answer.code(), code, "{what}: {}", answer.body);
    assert!(
        answer.body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{what}: {}",
        answer.body
    );
    assert_eq!(answer.header("content-type"), "application/json", "{what}");
}

// ---------------------------------------------------------------------------
// The tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_cluster_admits_only_valid_tokens_for_exactly_that_cluster() {
    let key = SigningKey::generate().unwrap();
    let issuer = Issuer::start(&[&key]).await;
    let dir = tempfile::tempdir().unwrap();
    let _node = NodeProcess::start("abc", 0, dir.path());
    let mut cfg = config("abc", &issuer, false);
    cfg.node_dir = Some(dir.path().to_owned());
    let mut gw = TestGateway::start(cfg).await;
    gw.wait_healthy(1).await;
    let http = client();

    // No token.
    let a = call(&http, &gw.url, None, &[]).await;
    assert_refused(&a, 401, "unauthenticated", "no token");
    assert_eq!(a.header("www-authenticate"), "Bearer realm=\"abc\"");

    // Tokens for other clusters, including a prefix and an extension of the
    // name, and for the API.
    for aud in ["ab", "abcd", "ABC", "abc ", "xabc", API_AUDIENCE] {
        let token = issuer.token(&key, aud, "alice", Level::OrgMember);
        let a = call(&http, &gw.url, Some(&token), &[]).await;
        assert_refused(&a, 401, "invalid_token", aud);
        let challenge = a.header("www-authenticate");
        assert!(
            challenge.starts_with("Bearer realm=\"abc\", error=\"invalid_token\""),
            "{challenge}"
        );
    }

    // Expired, not yet valid, another issuer, an unknown key, garbage.
    let now = chrono::Utc::now().timestamp();
    let cases = [
        (
            "expired",
            sign(
                &key,
                &Claims {
                    exp: now - 120,
                    ..issuer.claims("abc", "alice", Level::OrgMember)
                },
            )
            .unwrap(),
        ),
        (
            "not yet valid",
            sign(
                &key,
                &Claims {
                    nbf: now + 120,
                    ..issuer.claims("abc", "alice", Level::OrgMember)
                },
            )
            .unwrap(),
        ),
        (
            "another issuer",
            sign(
                &key,
                &Claims {
                    iss: "http://elsewhere".into(),
                    ..issuer.claims("abc", "alice", Level::OrgMember)
                },
            )
            .unwrap(),
        ),
        (
            "an unknown key",
            issuer.token(
                &SigningKey::generate().unwrap(),
                "abc",
                "alice",
                Level::OrgMember,
            ),
        ),
        ("garbage", "not.a.token".to_owned()),
        ("empty", String::new()),
    ];
    for (what, token) in &cases {
        let a = call(&http, &gw.url, Some(token), &[]).await;
        // An expired token says so: a client knows a new one will do.
        let code = if *what == "expired" {
            "token_expired"
        } else {
            "invalid_token"
        };
        assert_refused(&a, 401, code, what);
    }
    assert!(
        call(&http, &gw.url, Some(&cases[0].1), &[])
            .await
            .header("www-authenticate")
            .contains("error_description=\"the token has expired\"")
    );

    // A valid token: the node gets the caller's identity.
    let token = issuer.token(&key, "abc", "alice", Level::OrgMember);
    for _ in 0..3 {
        let a = call(&http, &gw.url, Some(&token), &[]).await;
        assert_eq!(a.status, 200, "{}", a.body);
        assert_eq!(a.body["cluster"], "abc");
        assert_eq!(
            a.echoed(),
            BTreeMap::from([
                ("x-slipway-level".into(), "org_member".into()),
                ("x-slipway-orgs".into(), "research,ops".into()),
                ("x-slipway-user".into(), "alice".into()),
            ])
        );
    }

    // Just expired, within the 30 s leeway: still valid.
    let skewed = sign(
        &key,
        &Claims {
            exp: now - 5,
            ..issuer.claims("abc", "bob", Level::Member)
        },
    )
    .unwrap();
    assert_eq!(call(&http, &gw.url, Some(&skewed), &[]).await.status, 200);

    // The token in a cookie.
    let a = answer(
        http.get(format!("{}/x", gw.url))
            .header("cookie", format!("theme=dark; token={token}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.echoed()["x-slipway-user"], "alice");

    // HTTP/2 (cleartext, prior knowledge) works too.
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let a = call(&h2, &gw.url, Some(&token), &[]).await;
    assert_eq!(a.status, 200, "{}", a.body);

    // An anonymous-level token does not open a private cluster.
    let anon = issuer.token(&key, "abc", "nobody", Level::Anonymous);
    assert_refused(
        &call(&http, &gw.url, Some(&anon), &[]).await,
        403,
        "forbidden",
        "anonymous level",
    );

    // The gateway's own metrics.
    let metrics = http
        .get(format!("{}/metrics", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.unwrap();
    for needle in [
        "slipway_gateway_refusals_total{reason=\"invalid_token\"} 11",
        "slipway_gateway_refusals_total{reason=\"token_expired\"} 2",
        "slipway_gateway_refusals_total{reason=\"unauthenticated\"} 1",
        "slipway_gateway_requests_total{level=\"org_member\"} 5",
        "slipway_gateway_token_checks_total{result=\"cached\"}",
        "slipway_gateway_request_duration_seconds_bucket",
        "slipway_gateway_nodes{state=\"healthy\"} 1",
    ] {
        assert!(text.contains(needle), "{needle} not in:\n{text}");
    }
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_cluster_limits_anonymous_callers_by_region_and_members_by_user() {
    let key = SigningKey::generate().unwrap();
    let issuer = Issuer::start(&[&key]).await;
    let dir = tempfile::tempdir().unwrap();
    let _node = NodeProcess::start("pub", 0, dir.path());
    let mut cfg = config("pub", &issuer, true);
    cfg.node_dir = Some(dir.path().to_owned());
    // Slow sustained rates, so a spent burst stays spent during the test.
    cfg.limits.anonymous = LevelLimit {
        rate: 0.05,
        burst: 5,
        quota: 0,
    };
    cfg.limits.member = LevelLimit {
        rate: 0.05,
        burst: 3,
        quota: 0,
    };
    let mut gw = TestGateway::start(cfg).await;
    gw.wait_healthy(1).await;
    let http = client();

    // Anonymous: admitted, as anonymous, until the burst is spent.
    for i in 0..5 {
        let a = call(&http, &gw.url, None, &[]).await;
        assert_eq!(a.status, 200, "request {i}: {}", a.body);
        assert_eq!(
            a.echoed(),
            BTreeMap::from([("x-slipway-level".into(), "anonymous".into())])
        );
    }
    let a = call(&http, &gw.url, None, &[]).await;
    assert_refused(&a, 429, "rate_limited", "burst spent");
    let wait = a.retry_after();
    assert!((1..=20).contains(&wait), "Retry-After: {wait}");

    // A present but invalid token is refused, never downgraded to anonymous.
    let expired = sign(
        &key,
        &Claims {
            exp: chrono::Utc::now().timestamp() - 120,
            ..issuer.claims("pub", "alice", Level::Member)
        },
    )
    .unwrap();
    let other = issuer.token(&key, "pubx", "alice", Level::Member);
    for (token, code) in [
        (expired.as_str(), "token_expired"),
        (other.as_str(), "invalid_token"),
        ("junk", "invalid_token"),
    ] {
        let a = call(&http, &gw.url, Some(token), &[]).await;
        assert_refused(&a, 401, code, "invalid on a public cluster");
    }

    // Members are limited per user, with their own limits, whatever the
    // address.
    let alice = issuer.token(&key, "pub", "alice", Level::Member);
    let bob = issuer.token(&key, "pub", "bob", Level::Member);
    for _ in 0..3 {
        let a = call(&http, &gw.url, Some(&alice), &[]).await;
        assert_eq!(a.status, 200, "{}", a.body);
        assert_eq!(a.echoed()["x-slipway-level"], "member");
    }
    let a = call(&http, &gw.url, Some(&alice), &[]).await;
    assert_refused(&a, 429, "rate_limited", "alice's burst spent");
    assert!(a.retry_after() >= 1);
    assert_eq!(call(&http, &gw.url, Some(&bob), &[]).await.status, 200);

    // Admins are not limited.
    let root = issuer.token(&key, "pub", "root", Level::Admin);
    for _ in 0..50 {
        assert_eq!(call(&http, &gw.url, Some(&root), &[]).await.status, 200);
    }
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spoofed_identity_headers_never_reach_a_node() {
    let key = SigningKey::generate().unwrap();
    let issuer = Issuer::start(&[&key]).await;
    let dir = tempfile::tempdir().unwrap();
    let _node = NodeProcess::start("spoof", 0, dir.path());
    let mut cfg = config("spoof", &issuer, true);
    cfg.node_dir = Some(dir.path().to_owned());
    let mut gw = TestGateway::start(cfg).await;
    gw.wait_healthy(1).await;
    let http = client();
    let spoofed = [
        ("X-Slipway-User", "mallory"),
        ("x-slipway-level", "admin"),
        ("X-SLIPWAY-ORGS", "everyone"),
        ("X-Slipway-Anything", "x"),
        ("Connection", "x-slipway-user"),
    ];

    let a = call(&http, &gw.url, None, &spoofed).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        a.echoed(),
        BTreeMap::from([("x-slipway-level".into(), "anonymous".into())])
    );

    let mut claims = issuer.claims("spoof", "alice", Level::Member);
    claims.orgs.clear();
    let token = sign(&key, &claims).unwrap();
    let a = call(&http, &gw.url, Some(&token), &spoofed).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        a.echoed(),
        BTreeMap::from([
            ("x-slipway-level".into(), "member".into()),
            ("x-slipway-orgs".into(), String::new()),
            ("x-slipway-user".into(), "alice".into()),
        ])
    );
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_keep_succeeding_when_a_node_is_killed_mid_traffic() {
    let key = SigningKey::generate().unwrap();
    let issuer = Issuer::start(&[&key]).await;
    let dir = tempfile::tempdir().unwrap();
    let mut nodes: Vec<NodeProcess> = (0..3)
        .map(|i| NodeProcess::start("kill", i, dir.path()))
        .collect();
    let mut cfg = config("kill", &issuer, false);
    cfg.node_dir = Some(dir.path().to_owned());
    cfg.limits.org_member = LevelLimit::UNLIMITED;
    let mut gw = TestGateway::start(cfg).await;
    gw.wait_healthy(3).await;
    let token = issuer.token(&key, "kill", "alice", Level::OrgMember);

    // Steady traffic from several clients, each answer recorded.
    // (status, answering node, when the request was sent)
    type Log = Vec<(u16, Option<u64>, Instant)>;
    let answers: Arc<Mutex<Log>> = Arc::default();
    let (count_tx, count_rx) = watch::channel(0usize);
    let count_tx = Arc::new(count_tx);
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (url, token) = (gw.url.clone(), token.clone());
        let (answers, stop, count_tx) = (answers.clone(), stop.clone(), count_tx.clone());
        clients.push(tokio::spawn(async move {
            let http = client();
            while !stop.load(Ordering::SeqCst) {
                let sent = Instant::now();
                let a = call(&http, &url, Some(&token), &[]).await;
                let node = (a.status == 200).then(|| a.node());
                answers.lock().push((a.status, node, sent));
                count_tx.send_modify(|n| *n += 1);
            }
        }));
    }
    let wait_count = |n: usize| {
        let mut rx = count_rx.clone();
        async move {
            tokio::time::timeout(PATIENCE, rx.wait_for(|c| *c >= n))
                .await
                .expect("traffic flows")
                .unwrap();
        }
    };

    // Every node takes traffic; then node 1 dies.
    wait_count(300).await;
    let before: Vec<u64> = answers.lock().iter().filter_map(|a| a.1).collect();
    for i in 0..3 {
        assert!(before.contains(&i), "node {i} got no traffic");
    }
    let killed_url = nodes[1].url().to_owned();
    nodes[1].kill();
    let killed_at = Instant::now();
    gw.wait_nodes("node 1 out", |n| {
        n.iter().any(|s| s.url == killed_url && !s.healthy)
            && n.iter().filter(|s| s.healthy).count() == 2
    })
    .await;
    let out_at = Instant::now();
    let sent = *count_rx.borrow();
    wait_count(sent + 300).await;
    stop.store(true, Ordering::SeqCst);
    for client in clients {
        client.await.unwrap();
    }

    let answers = std::mem::take(&mut *answers.lock());
    let failed: Vec<_> = answers.iter().filter(|a| a.0 != 200).collect();
    assert!(failed.is_empty(), "failed requests: {failed:?}");
    assert!(
        answers.iter().all(|a| a.2 < out_at || a.1 != Some(1)),
        "node 1 answered a request sent after it was out"
    );
    assert!(
        out_at.duration_since(killed_at) < Duration::from_secs(3),
        "node 1 was taken out within seconds ({:?})",
        out_at.duration_since(killed_at)
    );
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_rotation_at_the_issuer_is_picked_up_without_a_restart() {
    let old = SigningKey::generate().unwrap();
    let new = SigningKey::generate().unwrap();
    let issuer = Issuer::start(&[&old]).await;
    let dir = tempfile::tempdir().unwrap();
    let _node = NodeProcess::start("rot", 0, dir.path());
    let mut cfg = config("rot", &issuer, false);
    cfg.node_dir = Some(dir.path().to_owned());
    let mut gw = TestGateway::start(cfg).await;
    gw.wait_healthy(1).await;
    let http = client();

    let with_old = issuer.token(&old, "rot", "alice", Level::OrgMember);
    let with_new = issuer.token(&new, "rot", "alice", Level::OrgMember);
    assert_eq!(call(&http, &gw.url, Some(&with_old), &[]).await.status, 200);
    assert_refused(
        &call(&http, &gw.url, Some(&with_new), &[]).await,
        401,
        "invalid_token",
        "a key the issuer does not publish",
    );

    // The issuer publishes the new key: a token naming it makes the gateway
    // refetch (at most every 200 ms here).
    issuer.publish(&[&old, &new]);
    let a = until(
        || call(&http, &gw.url, Some(&with_new), &[]),
        |a| a.status == 200,
    )
    .await;
    assert_eq!(a.echoed()["x-slipway-user"], "alice");
    assert_eq!(call(&http, &gw.url, Some(&with_old), &[]).await.status, 200);

    // The issuer retires the old key: once the gateway has refetched (a
    // token naming a key it does not know makes it), the old key's tokens,
    // cached or not, stop working.
    issuer.publish(&[&new]);
    let stranger = issuer.token(
        &SigningKey::generate().unwrap(),
        "rot",
        "eve",
        Level::OrgMember,
    );
    let fetched = issuer.fetches();
    until(
        || call(&http, &gw.url, Some(&stranger), &[]),
        |_| issuer.fetches() > fetched,
    )
    .await;
    assert_refused(
        &call(&http, &gw.url, Some(&with_old), &[]).await,
        401,
        "invalid_token",
        "a retired key",
    );
    assert_eq!(call(&http, &gw.url, Some(&with_new), &[]).await.status, 200);
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_keys_refetch_the_jwks_at_most_once_per_interval() {
    let key = SigningKey::generate().unwrap();
    let next = SigningKey::generate().unwrap();
    let issuer = Issuer::start(&[&key]).await;
    let dir = tempfile::tempdir().unwrap();
    let _node = NodeProcess::start("flood", 0, dir.path());
    let strangers = |n: usize| -> Vec<String> {
        (0..n)
            .map(|_| {
                issuer.token(
                    &SigningKey::generate().unwrap(),
                    "flood",
                    "eve",
                    Level::OrgMember,
                )
            })
            .collect()
    };
    let http = client();

    // One refetch per second at most.
    let mut cfg = config("flood", &issuer, false);
    cfg.node_dir = Some(dir.path().to_owned());
    cfg.jwks_refetch_min = Duration::from_secs(1);
    let mut gw = TestGateway::start(cfg).await;
    gw.wait_healthy(1).await;
    assert_eq!(issuer.fetches(), 1, "one fetch at start");

    // The issuer starts signing with a new key right after the gateway's
    // fetch: the first token naming it waits for the next allowed refetch
    // rather than being refused.
    issuer.publish(&[&key, &next]);
    let fresh = issuer.token(&next, "flood", "alice", Level::OrgMember);
    let a = call(&http, &gw.url, Some(&fresh), &[]).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(issuer.fetches(), 2);

    // Twenty unknown keys at once: one fetch between them.
    let tokens = strangers(20);
    let calls = tokens.iter().map(|t| call(&http, &gw.url, Some(t), &[]));
    for a in futures::future::join_all(calls).await {
        assert_refused(&a, 401, "invalid_token", "unknown key");
    }
    assert_eq!(issuer.fetches(), 3, "one fetch for the whole flood");
    gw.shutdown().await;

    // When the next allowed fetch is far away, unknown keys are refused at
    // once, without a fetch.
    let fetched = issuer.fetches();
    let mut cfg = config("flood", &issuer, false);
    cfg.node_dir = Some(dir.path().to_owned());
    cfg.jwks_refetch_min = Duration::from_secs(3600);
    let mut gw = TestGateway::start(cfg).await;
    gw.wait_healthy(1).await;
    let started = Instant::now();
    let tokens = strangers(20);
    let calls = tokens.iter().map(|t| call(&http, &gw.url, Some(t), &[]));
    for a in futures::future::join_all(calls).await {
        assert_refused(&a, 401, "invalid_token", "unknown key");
    }
    assert!(started.elapsed() < Duration::from_secs(5), "nobody waited");
    assert_eq!(issuer.fetches(), fetched + 1, "only the start's fetch");
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_served_stale_while_the_issuer_is_unreachable() {
    let key = SigningKey::generate().unwrap();
    let issuer = Issuer::start(&[&key]).await;
    let dir = tempfile::tempdir().unwrap();
    let _node = NodeProcess::start("stale", 0, dir.path());
    let mut cfg = config("stale", &issuer, false);
    cfg.node_dir = Some(dir.path().to_owned());
    cfg.jwks_refresh = Duration::from_millis(100);
    let mut gw = TestGateway::start(cfg).await;
    gw.wait_healthy(1).await;
    let http = client();
    let first = issuer.token(&key, "stale", "alice", Level::OrgMember);
    assert_eq!(call(&http, &gw.url, Some(&first), &[]).await.status, 200);

    // The issuer goes down; the gateway's periodic refreshes fail.
    issuer.set_down(true);
    let fetched = issuer.fetches();
    let deadline = Instant::now() + PATIENCE;
    while issuer.fetches() < fetched + 2 {
        assert!(Instant::now() < deadline, "the gateway stopped refreshing");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Known keys still verify, cached tokens and new ones alike.
    assert_eq!(call(&http, &gw.url, Some(&first), &[]).await.status, 200);
    let second = issuer.token(&key, "stale", "bob", Level::Member);
    let a = call(&http, &gw.url, Some(&second), &[]).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.echoed()["x-slipway-user"], "bob");
    gw.shutdown().await;

    // A gateway that never obtained keys says so, rather than calling a
    // token invalid; without a token, the private cluster still says 401.
    let mut cfg = config("stale", &issuer, false);
    cfg.node_dir = Some(dir.path().to_owned());
    let mut gw = TestGateway::start(cfg).await;
    gw.wait_healthy(1).await;
    let a = call(&http, &gw.url, Some(&second), &[]).await;
    assert_refused(&a, 503, "issuer_unavailable", "no keys ever");
    assert_refused(
        &call(&http, &gw.url, None, &[]).await,
        401,
        "unauthenticated",
        "no token",
    );
    // The issuer comes back: the same token works.
    issuer.set_down(false);
    until(
        || call(&http, &gw.url, Some(&second), &[]),
        |a| a.status == 200,
    )
    .await;
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_long_window_quota_blocks_then_unblocks() {
    let key = SigningKey::generate().unwrap();
    let issuer = Issuer::start(&[&key]).await;
    let dir = tempfile::tempdir().unwrap();
    let _node = NodeProcess::start("quota", 0, dir.path());
    let mut cfg = config("quota", &issuer, true);
    cfg.node_dir = Some(dir.path().to_owned());
    cfg.limits.anonymous = LevelLimit {
        rate: 0.0,
        burst: 0,
        quota: 5,
    };
    cfg.limits.member = LevelLimit {
        rate: 0.0,
        burst: 0,
        quota: 2,
    };
    cfg.limits.quota_window = Duration::from_secs(3600);
    cfg.limits.quota_block = Duration::from_secs(2);
    let mut gw = TestGateway::start(cfg).await;
    gw.wait_healthy(1).await;
    let http = client();

    for _ in 0..5 {
        assert_eq!(call(&http, &gw.url, None, &[]).await.status, 200);
    }
    let a = call(&http, &gw.url, None, &[]).await;
    assert_refused(&a, 429, "quota_exceeded", "over the quota");
    assert_eq!(a.retry_after(), 2);
    let a = call(&http, &gw.url, None, &[]).await;
    assert_refused(&a, 429, "quota_exceeded", "blocked");
    let wait = a.retry_after();
    assert!((1..=2).contains(&wait), "{wait}");

    // A member has their own quota meanwhile.
    let alice = issuer.token(&key, "quota", "alice", Level::Member);
    for _ in 0..2 {
        assert_eq!(call(&http, &gw.url, Some(&alice), &[]).await.status, 200);
    }
    assert_refused(
        &call(&http, &gw.url, Some(&alice), &[]).await,
        429,
        "quota_exceeded",
        "alice over her quota",
    );

    // When the block the gateway announced is over, a fresh window.
    tokio::time::sleep(Duration::from_secs(wait)).await;
    for _ in 0..5 {
        let a = call(&http, &gw.url, None, &[]).await;
        assert_eq!(a.status, 200, "{}", a.body);
    }
    assert_eq!(call(&http, &gw.url, None, &[]).await.status, 429);
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_come_and_go_through_the_node_directory() {
    let key = SigningKey::generate().unwrap();
    let issuer = Issuer::start(&[&key]).await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config("dir", &issuer, true);
    cfg.node_dir = Some(dir.path().to_owned());
    cfg.limits.anonymous = LevelLimit::UNLIMITED;
    let mut gw = TestGateway::start(cfg).await;
    let http = client();

    // No node: 503.
    let a = call(&http, &gw.url, None, &[]).await;
    assert_refused(&a, 503, "no_healthy_node", "no node");
    assert_eq!(a.header("retry-after"), "1");

    // Nodes appear (as scaling up does): the gateway picks them up.
    let mut first = NodeProcess::start("dir", 0, dir.path());
    gw.wait_healthy(1).await;
    assert_eq!(call(&http, &gw.url, None, &[]).await.node(), 0);
    let _second = NodeProcess::start("dir", 1, dir.path());
    gw.wait_healthy(2).await;
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..10 {
        seen.insert(call(&http, &gw.url, None, &[]).await.node());
    }
    assert_eq!(seen, [0, 1].into(), "both nodes take requests");

    // A node of another cluster in the directory is ignored.
    let other = tempfile::tempdir().unwrap();
    let stranger = NodeProcess::start("not-dir", 5, other.path());
    std::fs::copy(
        other.path().join("node-5.json"),
        dir.path().join("node-5.json"),
    )
    .unwrap();

    // Node 0 stops (its state file stays): out; then its file goes: gone.
    first.terminate();
    let url0 = first.url().to_owned();
    gw.wait_nodes("node 0 down", |n| {
        n.iter().any(|s| s.url == url0 && !s.healthy)
    })
    .await;
    for _ in 0..5 {
        assert_eq!(call(&http, &gw.url, None, &[]).await.node(), 1);
    }
    std::fs::remove_file(dir.path().join("node-0.json")).unwrap();
    gw.wait_nodes("node 0 gone", |n| n.len() == 1 && n[0].healthy)
        .await;
    assert!(
        !gw.nodes.borrow().iter().any(|s| s.url == stranger.url()),
        "another cluster's node"
    );
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_does_not_answer_its_health_check_gets_no_requests() {
    // A "node" that accepts connections and never answers (like one still
    // booting), counting the connections it holds open.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let open = Arc::new(AtomicUsize::new(0));
    let (accepted_tx, mut accepted_rx) = watch::channel(0usize);
    tokio::spawn({
        let (accepted, open) = (accepted.clone(), open.clone());
        async move {
            loop {
                let (mut stream, _) = silent.accept().await.unwrap();
                accepted_tx.send_replace(accepted.fetch_add(1, Ordering::SeqCst) + 1);
                open.fetch_add(1, Ordering::SeqCst);
                let open = open.clone();
                tokio::spawn(async move {
                    use tokio::io::AsyncReadExt;
                    let mut buf = [0u8; 1024];
                    while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
                    open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        }
    });

    let key = SigningKey::generate().unwrap();
    let issuer = Issuer::start(&[&key]).await;
    let dir = tempfile::tempdir().unwrap();
    let node = NodeProcess::start("silent", 0, dir.path());
    let mut cfg = config("silent", &issuer, true);
    cfg.nodes = vec![silent_url.clone(), node.url().to_owned()];
    cfg.health_timeout = Duration::from_millis(100);
    cfg.limits.anonymous = LevelLimit::UNLIMITED;
    let mut gw = TestGateway::start(cfg).await;
    gw.wait_nodes("only the answering node healthy", |n| {
        n.len() == 2 && n.iter().all(|s| s.healthy == (s.url != silent_url))
    })
    .await;
    let http = client();
    for _ in 0..10 {
        let a = call(&http, &gw.url, None, &[]).await;
        assert_eq!(a.status, 200, "{}", a.body);
        assert_eq!(a.node(), 0);
    }
    // Several health checks later, the checks that timed out closed their
    // connections.
    let seen = accepted.load(Ordering::SeqCst);
    tokio::time::timeout(PATIENCE, accepted_rx.wait_for(|n| *n >= seen + 5))
        .await
        .expect("health checks go on")
        .unwrap();
    let held = open.load(Ordering::SeqCst);
    assert!(held <= 2, "{held} health-check connections left open");
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_for_counts_only_from_trusted_proxies() {
    let key = SigningKey::generate().unwrap();
    let issuer = Issuer::start(&[&key]).await;
    let dir = tempfile::tempdir().unwrap();
    let _node = NodeProcess::start("xff", 0, dir.path());
    let anonymous = LevelLimit {
        rate: 0.05,
        burst: 1,
        quota: 0,
    };
    let http = client();
    let xff = |ip: &'static str| [("x-forwarded-for", ip)];

    // Behind a trusted proxy (this test, on loopback): regions come from
    // X-Forwarded-For.
    let mut cfg = config("xff", &issuer, true);
    cfg.node_dir = Some(dir.path().to_owned());
    cfg.limits.anonymous = anonymous;
    cfg.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    let mut gw = TestGateway::start(cfg).await;
    gw.wait_healthy(1).await;
    assert_eq!(
        call(&http, &gw.url, None, &xff("198.51.100.1"))
            .await
            .status,
        200
    );
    assert_eq!(
        call(&http, &gw.url, None, &xff("198.51.100.2"))
            .await
            .status,
        429,
        "same /24"
    );
    assert_eq!(
        call(&http, &gw.url, None, &xff("198.51.101.1"))
            .await
            .status,
        200,
        "another /24"
    );
    gw.shutdown().await;

    // Not trusted: the header is ignored, the peer's address counts.
    let mut cfg = config("xff", &issuer, true);
    cfg.node_dir = Some(dir.path().to_owned());
    cfg.limits.anonymous = anonymous;
    let mut gw = TestGateway::start(cfg).await;
    gw.wait_healthy(1).await;
    assert_eq!(
        call(&http, &gw.url, None, &xff("198.51.100.1"))
            .await
            .status,
        200
    );
    assert_eq!(
        call(&http, &gw.url, None, &xff("203.0.113.1")).await.status,
        429
    );
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_are_streamed_not_buffered() {
    use axum::body::Body;
    use futures::StreamExt;

    // An upstream that reports the first chunk of an upload before the rest
    // exists, and sends a download's second chunk only when told to.
    struct Upstream {
        first_chunk: Mutex<Option<oneshot::Sender<usize>>>,
        release: Mutex<Option<oneshot::Receiver<()>>>,
    }
    let (first_tx, first_rx) = oneshot::channel();
    let (release_tx, release_rx) = oneshot::channel();
    let upstream = Arc::new(Upstream {
        first_chunk: Mutex::new(Some(first_tx)),
        release: Mutex::new(Some(release_rx)),
    });
    async fn upload(State(u): State<Arc<Upstream>>, body: Body) -> String {
        let mut stream = body.into_data_stream();
        let mut total = 0;
        let mut first = true;
        while let Some(chunk) = stream.next().await {
            total += chunk.unwrap().len();
            if first {
                first = false;
                if let Some(tx) = u.first_chunk.lock().take() {
                    let _ = tx.send(total);
                }
            }
        }
        total.to_string()
    }
    async fn download(State(u): State<Arc<Upstream>>) -> Body {
        let release = u.release.lock().take().unwrap();
        let stream = futures::stream::once(async { Ok::<_, std::io::Error>("first;") }).chain(
            futures::stream::once(async move {
                let _ = release.await;
                Ok("second")
            }),
        );
        Body::from_stream(stream)
    }
    let app = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/upload", axum::routing::post(upload))
        .route("/download", get(download))
        .with_state(upstream);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let node_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let key = SigningKey::generate().unwrap();
    let issuer = Issuer::start(&[&key]).await;
    let mut cfg = config("stream", &issuer, false);
    cfg.nodes = vec![node_url];
    let mut gw = TestGateway::start(cfg).await;
    gw.wait_healthy(1).await;
    let token = issuer.token(&key, "stream", "alice", Level::Admin);
    let http = client();

    // Upload: the rest of the body is produced only after the node got the
    // first chunk.
    let (body_tx, body_rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    body_tx.send(Ok(vec![b'a'; 1000])).await.unwrap();
    let upload = tokio::spawn({
        let (http, url, token) = (http.clone(), gw.url.clone(), token.clone());
        async move {
            let stream = tokio_stream_from(body_rx);
            http.post(format!("{url}/upload"))
                .bearer_auth(token)
                .body(reqwest::Body::wrap_stream(stream))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    });
    let got_first = tokio::time::timeout(PATIENCE, first_rx)
        .await
        .expect("the node gets the first chunk before the body ends")
        .unwrap();
    assert_eq!(got_first, 1000);
    body_tx.send(Ok(vec![b'b'; 5 * 1024 * 1024])).await.unwrap();
    drop(body_tx);
    assert_eq!(upload.await.unwrap(), (1000 + 5 * 1024 * 1024).to_string());

    // Download: the first chunk arrives while the node holds the second.
    let mut response = http
        .get(format!("{}/download", gw.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let first = tokio::time::timeout(PATIENCE, response.chunk())
        .await
        .expect("the first chunk arrives before the body ends")
        .unwrap()
        .unwrap();
    assert_eq!(&first[..], b"first;");
    release_tx.send(()).unwrap();
    let mut rest = Vec::new();
    while let Some(chunk) = response.chunk().await.unwrap() {
        rest.extend_from_slice(&chunk);
    }
    assert_eq!(rest, b"second");
    gw.shutdown().await;
}

/// An mpsc receiver as a stream.
fn tokio_stream_from<T: Send + 'static>(
    rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures::Stream<Item = T> + Send + 'static {
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|v| (v, rx)) })
}

/// Repeats `call` until `done` holds for its answer (each answer is an
/// event: no guessing how long the gateway needs).
async fn until<F, Fut>(mut call: F, done: impl Fn(&Answer) -> bool) -> Answer
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Answer>,
{
    let deadline = Instant::now() + PATIENCE;
    loop {
        let a = call().await;
        if done(&a) {
            return a;
        }
        assert!(Instant::now() < deadline, "still {}: {}", a.status, a.body);
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

// ---------------------------------------------------------------------------
// Revocation

/// The value of one series of the gateway's `/metrics`, e.g.
/// `slipway_gateway_revoked_tokens` or
/// `slipway_gateway_revocation_fetches_total{result="ok"}`.
async fn metric(http: &reqwest::Client, gateway: &str, series: &str) -> f64 {
    let text = http
        .get(format!("{gateway}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            (name == series).then(|| value.parse().unwrap())
        })
        .unwrap_or_else(|| panic!("no {series} in:\n{text}"))
}

/// Waits until a series of the gateway's metrics satisfies `ok`.
async fn wait_metric(
    http: &reqwest::Client,
    gateway: &str,
    series: &str,
    ok: impl Fn(f64) -> bool,
) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let value = metric(http, gateway, series).await;
        if ok(value) {
            return;
        }
        assert!(Instant::now() < deadline, "{series} is still {value}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

const FETCHED_OK: &str = "slipway_gateway_revocation_fetches_total{result=\"ok\"}";
const FETCHED_UNCHANGED: &str = "slipway_gateway_revocation_fetches_total{result=\"unchanged\"}";
const FETCHED_ERROR: &str = "slipway_gateway_revocation_fetches_total{result=\"error\"}";
const FETCHED_INVALID: &str = "slipway_gateway_revocation_fetches_total{result=\"invalid\"}";
const REVOKED: &str = "slipway_gateway_revoked_tokens";

/// A token and its `jti`.
fn token_and_jti(issuer: &Issuer, key: &SigningKey, aud: &str, sub: &str) -> (String, String) {
    let claims = issuer.claims(aud, sub, Level::OrgMember);
    (sign(key, &claims).unwrap(), claims.jti)
}

fn in_an_hour() -> i64 {
    chrono::Utc::now().timestamp() + 3600
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_is_refused_within_one_refresh_even_when_cached() {
    let key = SigningKey::generate().unwrap();
    let issuer = Issuer::start(&[&key]).await;
    let dir = tempfile::tempdir().unwrap();
    let _node = NodeProcess::start("rev", 0, dir.path());
    let mut cfg = config("rev", &issuer, false);
    cfg.node_dir = Some(dir.path().to_owned());
    let refresh = Duration::from_millis(300);
    cfg.revocations_refresh = refresh;
    let mut gw = TestGateway::start(cfg).await;
    gw.wait_healthy(1).await;
    let http = client();

    // The token works, and is served from the cache.
    let (token, token_jti) = token_and_jti(&issuer, &key, "rev", "alice");
    let other = issuer.token(&key, "rev", "bob", Level::OrgMember);
    for _ in 0..3 {
        assert_eq!(call(&http, &gw.url, Some(&token), &[]).await.status, 200);
    }
    assert_eq!(call(&http, &gw.url, Some(&other), &[]).await.status, 200);
    let cached = "slipway_gateway_token_checks_total{result=\"cached\"}";
    assert!(metric(&http, &gw.url, cached).await >= 2.0);
    assert_eq!(metric(&http, &gw.url, REVOKED).await, 0.0);

    // Revoked at the issuer: refused within one refresh (plus a fetch).
    issuer.revoke(&token_jti, in_an_hour());
    let revoked_at = Instant::now();
    let a = until(
        || call(&http, &gw.url, Some(&token), &[]),
        |a| a.status != 200,
    )
    .await;
    let delay = revoked_at.elapsed();
    println!("a revocation reached the gateway in {delay:?} (refresh {refresh:?})");
    assert_refused(&a, 401, "token_revoked", "a revoked token");
    assert!(
        a.header("www-authenticate")
            .contains("error_description=\"the token was revoked\""),
        "{:?}",
        a.headers
    );
    assert!(
        delay < refresh + Duration::from_secs(2),
        "the revocation took {delay:?}"
    );
    assert_eq!(metric(&http, &gw.url, REVOKED).await, 1.0);

    // Other tokens still work; a revoked token never used before is refused
    // at its first use.
    assert_eq!(call(&http, &gw.url, Some(&other), &[]).await.status, 200);
    let (fresh, fresh_jti) = token_and_jti(&issuer, &key, "rev", "carol");
    issuer.revoke(&fresh_jti, in_an_hour());
    wait_metric(&http, &gw.url, REVOKED, |v| v == 2.0).await;
    assert_refused(
        &call(&http, &gw.url, Some(&fresh), &[]).await,
        401,
        "token_revoked",
        "revoked before its first use",
    );

    // While the list is unchanged the issuer answers 304: the list stays.
    let unchanged = issuer.lists_unchanged();
    wait_metric(&http, &gw.url, FETCHED_UNCHANGED, |v| v >= 3.0).await;
    assert!(issuer.lists_unchanged() > unchanged);
    assert_eq!(metric(&http, &gw.url, REVOKED).await, 2.0);
    assert_refused(
        &call(&http, &gw.url, Some(&token), &[]).await,
        401,
        "token_revoked",
        "after 304s",
    );
    assert!(
        metric(
            &http,
            &gw.url,
            "slipway_gateway_revocation_list_age_seconds"
        )
        .await
            < 5.0
    );
    let text = http
        .get(format!("{}/metrics", gw.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for needle in [
        "slipway_gateway_refusals_total{reason=\"token_revoked\"} 3",
        "slipway_gateway_token_checks_total{result=\"revoked\"} 3",
        "slipway_gateway_revocation_fetches_total{result=\"error\"} 0",
        "slipway_gateway_revocation_fetches_total{result=\"invalid\"} 0",
    ] {
        assert!(text.contains(needle), "{needle} not in:\n{text}");
    }
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persons_tokens_issued_before_a_cutoff_are_refused_and_later_ones_admitted() {
    let key = SigningKey::generate().unwrap();
    let issuer = Issuer::start(&[&key]).await;
    let dir = tempfile::tempdir().unwrap();
    let _node = NodeProcess::start("people", 0, dir.path());
    let mut cfg = config("people", &issuer, false);
    cfg.node_dir = Some(dir.path().to_owned());
    cfg.state_file = Some(dir.path().join("gateway.json"));
    cfg.revocations_refresh = Duration::from_millis(100);
    let mut gw = TestGateway::start(cfg).await;
    gw.wait_healthy(1).await;
    let http = client();

    // Two tokens of alice's (one cached by the gateway), one of bob's.
    let now = chrono::Utc::now().timestamp();
    let alice = |iat: i64| {
        sign(
            &key,
            &Claims {
                iat,
                ..issuer.claims("people", "github:1", Level::OrgMember)
            },
        )
        .unwrap()
    };
    let (cached, fresh) = (alice(now - 20), alice(now - 10));
    let bob = issuer.token(&key, "people", "github:2", Level::OrgMember);
    assert_eq!(call(&http, &gw.url, Some(&cached), &[]).await.status, 200);

    // Every token of alice's for this cluster issued before now: one entry
    // (and one for her tokens of another cluster, which this one ignores).
    issuer.revoke_subject("github:1", "elsewhere", now + 1, now + 3600);
    issuer.revoke_subject("github:1", "people", now - 5, now + 3600);
    wait_metric(&http, &gw.url, "slipway_gateway_revoked_subjects", |v| {
        v == 1.0
    })
    .await;
    for (token, what) in [(&cached, "cached"), (&fresh, "never seen")] {
        assert_refused(
            &call(&http, &gw.url, Some(token), &[]).await,
            401,
            "token_revoked",
            what,
        );
    }
    assert_eq!(call(&http, &gw.url, Some(&bob), &[]).await.status, 200);
    // One issued after the cut-off (she was approved again) is admitted.
    let later = alice(now);
    assert_eq!(call(&http, &gw.url, Some(&later), &[]).await.status, 200);
    assert_eq!(metric(&http, &gw.url, REVOKED).await, 0.0, "no token ids");
    let kept = std::fs::read_to_string(dir.path().join("gateway.json.revocations")).unwrap();
    assert!(
        kept.contains("github:1") && !kept.contains("elsewhere"),
        "{kept}"
    );
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_list_that_does_not_verify_is_not_applied() {
    let key = SigningKey::generate().unwrap();
    let stranger = SigningKey::generate().unwrap();
    let issuer = Issuer::start(&[&key]).await;
    let dir = tempfile::tempdir().unwrap();
    let _node = NodeProcess::start("forged", 0, dir.path());
    let mut cfg = config("forged", &issuer, false);
    cfg.node_dir = Some(dir.path().to_owned());
    cfg.revocations_refresh = Duration::from_millis(100);
    let mut gw = TestGateway::start(cfg).await;
    gw.wait_healthy(1).await;
    let http = client();
    let (token, token_jti) = token_and_jti(&issuer, &key, "forged", "alice");
    assert_eq!(call(&http, &gw.url, Some(&token), &[]).await.status, 200);

    // The token is listed, but the list is signed by a key the issuer does
    // not publish, or made for another audience, or by another issuer.
    issuer.forge_list(Some(&stranger), None, None);
    issuer.revoke(&token_jti, in_an_hour());
    // What is wrong with the list; its key, `iss` and `aud`.
    type Forgery<'a> = (
        &'a str,
        Option<&'a SigningKey>,
        Option<&'a str>,
        Option<&'a str>,
    );
    let forgeries: [Forgery; 4] = [
        ("an unknown key", Some(&stranger), None, None),
        ("another audience", None, None, Some("forged")),
        ("the API's audience", None, None, Some(API_AUDIENCE)),
        ("another issuer", None, Some("http://elsewhere"), None),
    ];
    for (what, key, iss, aud) in forgeries {
        issuer.forge_list(key, iss, aud);
        let invalid = metric(&http, &gw.url, FETCHED_INVALID).await;
        // Two polls of the forged list: the second is not a 304 either
        // (the first left the list known before it in force).
        wait_metric(&http, &gw.url, FETCHED_INVALID, |v| v >= invalid + 2.0).await;
        let a = call(&http, &gw.url, Some(&token), &[]).await;
        assert_eq!(a.status, 200, "a list signed with {what}: {}", a.body);
        assert_eq!(metric(&http, &gw.url, REVOKED).await, 0.0, "{what}");
    }
    assert_eq!(
        metric(&http, &gw.url, FETCHED_OK).await,
        1.0,
        "the first list only"
    );

    // The genuine list is applied at once.
    issuer.forge_list(None, None, None);
    let a = until(
        || call(&http, &gw.url, Some(&token), &[]),
        |a| a.status != 200,
    )
    .await;
    assert_refused(&a, 401, "token_revoked", "the genuine list");

    // A forged list cannot undo it either.
    issuer.forge_list(Some(&stranger), None, None);
    let invalid = metric(&http, &gw.url, FETCHED_INVALID).await;
    wait_metric(&http, &gw.url, FETCHED_INVALID, |v| v >= invalid + 2.0).await;
    assert_eq!(call(&http, &gw.url, Some(&token), &[]).await.status, 401);
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_entries_are_dropped_once_expired() {
    let key = SigningKey::generate().unwrap();
    let issuer = Issuer::start(&[&key]).await;
    let dir = tempfile::tempdir().unwrap();
    let _node = NodeProcess::start("exp", 0, dir.path());
    let mut cfg = config("exp", &issuer, false);
    cfg.node_dir = Some(dir.path().to_owned());
    cfg.state_file = Some(dir.path().join("gateway.json"));
    cfg.revocations_refresh = Duration::from_millis(100);
    let mut gw = TestGateway::start(cfg).await;
    gw.wait_healthy(1).await;
    let http = client();

    // An entry whose `exp` plus the 30 s leeway is 2 s away (the token
    // itself, unusually, lives on), and one for an hour.
    let (short, short_jti) = token_and_jti(&issuer, &key, "exp", "alice");
    let (long, long_jti) = token_and_jti(&issuer, &key, "exp", "bob");
    let now = chrono::Utc::now().timestamp();
    issuer.revoke(&short_jti, now - 28);
    issuer.revoke(&long_jti, in_an_hour());
    wait_metric(&http, &gw.url, REVOKED, |v| v == 2.0).await;
    assert_refused(
        &call(&http, &gw.url, Some(&short), &[]).await,
        401,
        "token_revoked",
        "before the entry expires",
    );
    let kept = dir.path().join("gateway.json.revocations");
    assert!(std::fs::read_to_string(&kept).unwrap().contains(&short_jti));

    // Once expired, it is dropped (though the issuer still lists it), from
    // memory and from the file.
    wait_metric(&http, &gw.url, REVOKED, |v| v == 1.0).await;
    assert_eq!(call(&http, &gw.url, Some(&short), &[]).await.status, 200);
    assert_eq!(call(&http, &gw.url, Some(&long), &[]).await.status, 401);
    let file = std::fs::read_to_string(&kept).unwrap();
    assert!(!file.contains(&short_jti), "{file}");
    assert!(file.contains(&long_jti), "{file}");
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_gateway_refuses_revoked_tokens_while_the_list_is_unreachable() {
    use std::os::unix::fs::PermissionsExt;
    let key = SigningKey::generate().unwrap();
    let issuer = Issuer::start(&[&key]).await;
    let dir = tempfile::tempdir().unwrap();
    let _node = NodeProcess::start("restart", 0, dir.path());
    let state_file = dir.path().join("gateway.json");
    let cfg = {
        let mut cfg = config("restart", &issuer, false);
        cfg.node_dir = Some(dir.path().to_owned());
        cfg.state_file = Some(state_file.clone());
        cfg.revocations_refresh = Duration::from_millis(100);
        cfg
    };
    let mut gw = TestGateway::start(cfg.clone()).await;
    gw.wait_healthy(1).await;
    let http = client();
    let (revoked, revoked_jti) = token_and_jti(&issuer, &key, "restart", "alice");
    let valid = issuer.token(&key, "restart", "bob", Level::OrgMember);
    issuer.revoke(&revoked_jti, in_an_hour());
    until(
        || call(&http, &gw.url, Some(&revoked), &[]),
        |a| a.status == 401,
    )
    .await;
    gw.shutdown().await;
    let kept = dir.path().join("gateway.json.revocations");
    let mode = std::fs::metadata(&kept).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "only the gateway's user reads it");

    // The revocation list cannot be fetched (its keys still can): the
    // restarted gateway still refuses the token, from its first request.
    issuer.set_revocations_down(true);
    let mut gw = TestGateway::start(cfg.clone()).await;
    gw.wait_healthy(1).await;
    assert_refused(
        &call(&http, &gw.url, Some(&revoked), &[]).await,
        401,
        "token_revoked",
        "after a restart, the list unreachable",
    );
    assert_eq!(call(&http, &gw.url, Some(&valid), &[]).await.status, 200);
    assert!(metric(&http, &gw.url, FETCHED_ERROR).await >= 1.0);
    assert_eq!(metric(&http, &gw.url, FETCHED_OK).await, 0.0);
    assert_eq!(metric(&http, &gw.url, REVOKED).await, 1.0);
    gw.shutdown().await;

    // The whole issuer down: no token is admitted at all.
    issuer.set_down(true);
    let mut gw = TestGateway::start(cfg).await;
    gw.wait_healthy(1).await;
    let a = call(&http, &gw.url, Some(&revoked), &[]).await;
    assert_ne!(a.status, 200, "{}", a.body);
    assert_eq!(metric(&http, &gw.url, REVOKED).await, 1.0);
    gw.shutdown().await;
}
