//! A fake GitHub for tests: the OAuth routes (device flow and the web flow
//! with PKCE) and the few REST routes Slipway uses, served from one base URL
//! on a free port, scripted through [`FakeGitHub`].
//!
//! It behaves like GitHub where Slipway can tell the difference: OAuth errors
//! come with status 200 in the body, OAuth answers are form-encoded unless the
//! request accepts JSON, `X-OAuth-Scopes` lists a token's scopes, `/user/teams`
//! pages with GitHub's `Link` header, logins and organization names are
//! matched without regard to case.
//!
//! ```no_run
//! use slipway_testkit::github::{DeviceStep, FakeGitHub};
//!
//! let github = FakeGitHub::start();
//! github.add_user("octocat", 1, "gho_octocat", &["read:org"]);
//! github.set_org_membership("octocat", "acme", "active", "member");
//! github.set_device_interval(0);
//! github.script_next_device_flow(vec![
//!     DeviceStep::Pending,
//!     DeviceStep::approve("gho_octocat"),
//! ]);
//! // Point Slipway's GitHub OAuth and API base URLs at `github.url()`.
//! ```

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response;
use base64::Engine as _;
use rand::Rng as _;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

/// The OAuth app's client id the fake accepts unless told otherwise.
pub const DEFAULT_CLIENT_ID: &str = "slipway-test-client";
/// The OAuth app's client secret the fake accepts unless told otherwise.
pub const DEFAULT_CLIENT_SECRET: &str = "slipway-test-secret";
/// The `grant_type` of a device-flow poll.
pub const DEVICE_GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// How long a device code lives (`expires_in`).
const DEVICE_CODE_LIFETIME: Duration = Duration::from_secs(900);
/// How long a web-flow code lives unless told otherwise.
const WEB_CODE_LIFETIME: Duration = Duration::from_secs(600);
/// Default `per_page` of GitHub's list endpoints, and its maximum.
const DEFAULT_PER_PAGE: usize = 30;
const MAX_PER_PAGE: usize = 100;

const DEVICE_ERROR_URI: &str = "https://docs.github.com/developers/apps/authorizing-oauth-apps#error-codes-for-the-device-flow";
const TOKEN_ERROR_URI: &str = "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors";
const REST_DOCS: &str = "https://docs.github.com/rest";

/// One answer to a poll of `POST /login/oauth/access_token` in a scripted
/// device flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceStep {
    /// `authorization_pending`: the user has not answered yet.
    Pending,
    /// `slow_down`: the interval grows by 5 s (the body carries the new one).
    SlowDown,
    /// `expired_token`.
    Expired,
    /// `access_denied`: the user pressed Cancel.
    Denied,
    /// `device_flow_disabled`: the app has not enabled the device flow.
    Disabled,
    /// `incorrect_device_code`.
    IncorrectDeviceCode,
    /// The user approved: the poll answers this access token.
    Approve { token: String },
}

impl DeviceStep {
    /// `DeviceStep::Approve { token }`.
    pub fn approve(token: impl Into<String>) -> Self {
        DeviceStep::Approve {
            token: token.into(),
        }
    }
}

/// How requests to a path prefix fail (see [`FakeGitHub::fail`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Answer this status with a JSON `{"message": ...}` body.
    Status(u16),
    /// Answer 429 with `Retry-After: <secs>` and `x-ratelimit-remaining: 0`.
    RateLimited { retry_after_secs: u64 },
    /// Accept the request and never answer (until the fake is dropped).
    Timeout,
}

/// A request the fake received.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The raw query string (`""` when none).
    pub query: String,
    /// When it arrived.
    pub at: Instant,
    /// The `Authorization` header, as sent.
    pub authorization: Option<String>,
    /// The body, as sent (lossy UTF-8).
    pub body: String,
}

/// A running fake GitHub. Dropping it shuts the server down.
pub struct FakeGitHub {
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl FakeGitHub {
    /// Starts the server on `127.0.0.1:<free port>` on its own thread with
    /// its own Tokio runtime, so it works from plain `#[test]` functions and
    /// from inside `#[tokio::test]` alike.
    pub fn start() -> Self {
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").expect("bind the fake GitHub to a port");
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let address = listener.local_addr().expect("the fake GitHub's address");
        let shared = Arc::new(Shared {
            url: format!("http://{address}"),
            client_id: DEFAULT_CLIENT_ID.to_owned(),
            client_secret: DEFAULT_CLIENT_SECRET.to_owned(),
            state: Mutex::new(Fake {
                device_interval: 5,
                web_code_lifetime: WEB_CODE_LIFETIME,
                ..Fake::default()
            }),
        });
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let thread = std::thread::Builder::new()
            .name("fake-github".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("fake-github-worker")
                    .enable_all()
                    .build()
                    .expect("a runtime for the fake GitHub");
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener)
                        .expect("a Tokio listener for the fake GitHub");
                    let serve = std::future::IntoFuture::into_future(axum::serve(listener, app));
                    tokio::select! {
                        result = serve => result.expect("the fake GitHub serves"),
                        _ = stopped => {}
                    }
                });
                // Requests held open by `Failure::Timeout` are dropped here.
                runtime.shutdown_timeout(Duration::from_secs(1));
            })
            .expect("a thread for the fake GitHub");
        FakeGitHub {
            shared,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    /// Base URL, e.g. `http://127.0.0.1:41234` (no trailing slash): serves
    /// both the OAuth routes (`/login/...`) and the REST routes (`/user`, ...).
    pub fn url(&self) -> &str {
        &self.shared.url
    }

    /// The OAuth app's client id the fake accepts.
    pub fn client_id(&self) -> &str {
        &self.shared.client_id
    }

    /// The OAuth app's client secret the fake accepts.
    pub fn client_secret(&self) -> &str {
        &self.shared.client_secret
    }

    /// A GitHub user with a numeric id, reachable with `token` (an OAuth or
    /// personal access token); `GET /user` with that token answers this user
    /// and `X-OAuth-Scopes: <scopes joined by ", ">`. Calling it again with
    /// another token gives the user another token (with its own scopes).
    pub fn add_user(&self, login: &str, id: u64, token: &str, scopes: &[&str]) {
        self.state().tokens.insert(
            token.to_owned(),
            Account {
                login: login.to_owned(),
                id,
                scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            },
        );
    }

    /// Organization membership of a user: `state` "active" or "pending",
    /// `role` "admin" or "member". Without one,
    /// `GET /user/memberships/orgs/{org}` answers 404.
    pub fn set_org_membership(&self, login: &str, org: &str, state: &str, role: &str) {
        self.state().org_memberships.insert(
            (fold(login), fold(org)),
            OrgMembership {
                org: org.to_owned(),
                state: state.to_owned(),
                role: role.to_owned(),
            },
        );
    }

    pub fn remove_org_membership(&self, login: &str, org: &str) {
        self.state()
            .org_memberships
            .remove(&(fold(login), fold(org)));
    }

    /// Team membership (team `team_slug` of `org`), `state` "active" or
    /// "pending". Only active memberships are listed by `GET /user/teams`.
    pub fn set_team_membership(&self, login: &str, org: &str, team_slug: &str, state: &str) {
        self.state().team_memberships.insert(
            (fold(org), fold(team_slug), fold(login)),
            TeamMembership {
                org: org.to_owned(),
                slug: team_slug.to_owned(),
                state: state.to_owned(),
            },
        );
    }

    pub fn remove_team_membership(&self, login: &str, org: &str, team_slug: &str) {
        self.state()
            .team_memberships
            .remove(&(fold(org), fold(team_slug), fold(login)));
    }

    /// Scripts the NEXT device flow started with `POST /login/device/code`:
    /// each poll of `POST /login/oauth/access_token` for that device code
    /// consumes one step; when the script runs out, the last step repeats.
    /// An unscripted flow stays `authorization_pending` (until it expires).
    pub fn script_next_device_flow(&self, steps: Vec<DeviceStep>) {
        self.state().next_device_script = Some(steps);
    }

    /// The `interval` (seconds) the device-code answer announces (default 5).
    pub fn set_device_interval(&self, seconds: u64) {
        self.state().device_interval = seconds;
    }

    /// Which user (by token) the browser "approves" as in the web flow. Until
    /// one is set, the authorize route redirects with `error=access_denied`.
    pub fn set_web_user(&self, token: &str) {
        self.state().web_user = Some(token.to_owned());
    }

    /// How long a web-flow code stays valid (default 10 minutes), for codes
    /// issued from now on.
    pub fn set_web_code_lifetime(&self, lifetime: Duration) {
        self.state().web_code_lifetime = lifetime;
    }

    /// Makes requests whose path starts with `path_prefix` fail until
    /// cleared (the longest matching prefix wins). Applies before routing;
    /// the request is still recorded.
    pub fn fail(&self, path_prefix: &str, failure: Failure) {
        let mut state = self.state();
        state.failures.retain(|(prefix, _)| prefix != path_prefix);
        state.failures.push((path_prefix.to_owned(), failure));
    }

    pub fn clear_failures(&self) {
        self.state().failures.clear();
    }

    /// Every request received so far, in order of arrival.
    pub fn requests(&self) -> Vec<Request> {
        self.state().requests.clone()
    }

    /// The requests received so far whose path is exactly `path`.
    pub fn requests_to(&self, path: &str) -> Vec<Request> {
        self.state()
            .requests
            .iter()
            .filter(|request| request.path == path)
            .cloned()
            .collect()
    }

    fn state(&self) -> MutexGuard<'_, Fake> {
        self.shared.state()
    }
}

impl Drop for FakeGitHub {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl std::fmt::Debug for FakeGitHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeGitHub")
            .field("url", &self.shared.url)
            .finish_non_exhaustive()
    }
}

struct Shared {
    url: String,
    client_id: String,
    client_secret: String,
    state: Mutex<Fake>,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, Fake> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[derive(Default)]
struct Fake {
    /// Token → the account it authenticates.
    tokens: HashMap<String, Account>,
    /// (login, org), case-folded.
    org_memberships: BTreeMap<(String, String), OrgMembership>,
    /// (org, slug, login), case-folded.
    team_memberships: BTreeMap<(String, String, String), TeamMembership>,
    next_device_script: Option<Vec<DeviceStep>>,
    device_interval: u64,
    device_flows: HashMap<String, DeviceFlow>,
    web_user: Option<String>,
    web_code_lifetime: Duration,
    web_codes: HashMap<String, WebCode>,
    failures: Vec<(String, Failure)>,
    requests: Vec<Request>,
}

#[derive(Clone)]
struct Account {
    login: String,
    id: u64,
    scopes: Vec<String>,
}

struct OrgMembership {
    org: String,
    state: String,
    role: String,
}

struct TeamMembership {
    org: String,
    slug: String,
    state: String,
}

struct DeviceFlow {
    steps: Vec<DeviceStep>,
    polls: usize,
    interval: u64,
    expires_at: Instant,
}

struct WebCode {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    token: String,
    expires_at: Instant,
    used: bool,
}

/// GitHub matches logins, organization names and team slugs without regard
/// to case.
fn fold(name: &str) -> String {
    name.to_ascii_lowercase()
}

/// A stable numeric id for a name (organizations and teams).
fn stable_id(name: &str) -> u64 {
    // FNV-1a, kept within JavaScript's safe integers.
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    hash % 1_000_000_000 + 1
}

fn random_hex(bytes: usize) -> String {
    let mut rng = rand::rng();
    (0..bytes)
        .map(|_| format!("{:02x}", rng.random::<u8>()))
        .collect()
}

fn random_user_code() -> String {
    const LETTERS: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";
    let mut rng = rand::rng();
    let mut half = || -> String {
        (0..4)
            .map(|_| char::from(LETTERS[rng.random_range(0..LETTERS.len())]))
            .collect()
    };
    let first = half();
    format!("{first}-{}", half())
}

fn s256(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

// ---------------------------------------------------------------------------
// Serving

/// What one request brought, parsed.
struct Incoming {
    method: Method,
    path: String,
    query: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Incoming {
    fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// Query parameters, then body parameters (form-encoded or JSON) over
    /// them, as GitHub's OAuth endpoints take either.
    fn params(&self) -> HashMap<String, String> {
        let mut params: HashMap<String, String> =
            serde_urlencoded::from_str::<Vec<(String, String)>>(&self.query)
                .unwrap_or_default()
                .into_iter()
                .collect();
        let is_json = self
            .header(header::CONTENT_TYPE)
            .is_some_and(|content_type| content_type.contains("json"));
        if is_json {
            if let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(&self.body) {
                for (name, value) in fields {
                    let value = match value {
                        Value::String(text) => text,
                        Value::Null => continue,
                        other => other.to_string(),
                    };
                    params.insert(name, value);
                }
            }
        } else if let Ok(fields) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&self.body)
        {
            params.extend(fields);
        }
        params
    }

    /// Client credentials sent by HTTP basic authentication.
    fn basic_credentials(&self) -> Option<(String, String)> {
        let value = self.header(header::AUTHORIZATION)?;
        let (scheme, encoded) = value.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (id, secret) = decoded.split_once(':')?;
        Some((id.to_owned(), secret.to_owned()))
    }

    /// The token of `Authorization: Bearer <token>` or `token <token>`.
    fn token(&self) -> Option<&str> {
        let value = self.header(header::AUTHORIZATION)?;
        let (scheme, token) = value.split_once(' ')?;
        (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token"))
            .then(|| token.trim())
    }

    /// Whether the caller asked for JSON; GitHub's OAuth endpoints answer
    /// form-encoded otherwise.
    fn wants_json(&self) -> bool {
        self.header(header::ACCEPT)
            .is_some_and(|accept| accept.contains("json"))
    }
}

async fn handle(State(shared): State<Arc<Shared>>, request: axum::extract::Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .map(|bytes| bytes.to_vec())
        .unwrap_or_default();
    let incoming = Incoming {
        method: parts.method,
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        headers: parts.headers,
        body,
    };

    let failure = {
        let mut state = shared.state();
        state.requests.push(Request {
            method: incoming.method.to_string(),
            path: incoming.path.clone(),
            query: incoming.query.clone(),
            at: Instant::now(),
            authorization: incoming.header(header::AUTHORIZATION).map(str::to_owned),
            body: String::from_utf8_lossy(&incoming.body).into_owned(),
        });
        state
            .failures
            .iter()
            .filter(|(prefix, _)| incoming.path.starts_with(prefix.as_str()))
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(_, failure)| failure.clone())
    };
    match failure {
        Some(Failure::Timeout) => std::future::pending().await,
        Some(failure) => failure_response(&failure),
        None => route(&shared, &incoming),
    }
}

fn route(shared: &Shared, incoming: &Incoming) -> Response {
    let segments: Vec<&str> = incoming.path.trim_start_matches('/').split('/').collect();
    match (&incoming.method, segments.as_slice()) {
        (&Method::POST, ["login", "device", "code"]) => device_code(shared, incoming),
        (&Method::POST, ["login", "oauth", "access_token"]) => access_token(shared, incoming),
        (&Method::GET, ["login", "oauth", "authorize"]) => authorize(shared, incoming),
        (&Method::GET, ["login", "device"]) => html(
            StatusCode::OK,
            "<!doctype html><title>Device Activation</title><p>Enter the code displayed on your device</p>",
        ),
        (&Method::GET, ["user"]) => user(shared, incoming),
        (&Method::GET, ["user", "memberships", "orgs", org]) => {
            org_membership(shared, incoming, org)
        }
        (&Method::GET, ["user", "teams"]) => user_teams(shared, incoming),
        (&Method::GET, ["orgs", org, "teams", slug, "memberships", username]) => {
            team_membership(shared, incoming, org, slug, username)
        }
        _ => not_found(),
    }
}

// ---------------------------------------------------------------------------
// OAuth

fn device_code(shared: &Shared, incoming: &Incoming) -> Response {
    let params = incoming.params();
    let json = incoming.wants_json();
    if params.get("client_id").map(String::as_str) != Some(shared.client_id.as_str()) {
        return oauth_reply(
            StatusCode::UNAUTHORIZED,
            json,
            oauth_error(
                "incorrect_client_credentials",
                "The client_id and/or client_secret passed are incorrect.",
                TOKEN_ERROR_URI,
            ),
        );
    }
    let device_code = random_hex(20);
    let user_code = random_user_code();
    let mut state = shared.state();
    let interval = state.device_interval;
    let steps = state
        .next_device_script
        .take()
        .filter(|steps| !steps.is_empty())
        .unwrap_or_else(|| vec![DeviceStep::Pending]);
    state.device_flows.insert(
        device_code.clone(),
        DeviceFlow {
            steps,
            polls: 0,
            interval,
            expires_at: Instant::now() + DEVICE_CODE_LIFETIME,
        },
    );
    drop(state);
    oauth_reply(
        StatusCode::OK,
        json,
        vec![
            ("device_code", json!(device_code)),
            ("user_code", json!(user_code)),
            (
                "verification_uri",
                json!(format!("{}/login/device", shared.url)),
            ),
            ("expires_in", json!(DEVICE_CODE_LIFETIME.as_secs())),
            ("interval", json!(interval)),
        ],
    )
}

fn access_token(shared: &Shared, incoming: &Incoming) -> Response {
    let params = incoming.params();
    let json = incoming.wants_json();
    let basic = incoming.basic_credentials();
    let client_id = params
        .get("client_id")
        .cloned()
        .or_else(|| basic.as_ref().map(|(id, _)| id.clone()));
    if client_id.as_deref() != Some(shared.client_id.as_str()) {
        return incorrect_client_credentials(json);
    }
    match params.get("grant_type").map(String::as_str) {
        Some(DEVICE_GRANT_TYPE) => device_poll(shared, &params, json),
        None | Some("authorization_code") => {
            let secret = params
                .get("client_secret")
                .cloned()
                .or_else(|| basic.map(|(_, secret)| secret));
            if secret.as_deref() != Some(shared.client_secret.as_str()) {
                return incorrect_client_credentials(json);
            }
            code_exchange(shared, &params, json)
        }
        Some(_) => oauth_reply(
            StatusCode::OK,
            json,
            oauth_error(
                "unsupported_grant_type",
                "The grant type is not supported.",
                TOKEN_ERROR_URI,
            ),
        ),
    }
}

fn device_poll(shared: &Shared, params: &HashMap<String, String>, json: bool) -> Response {
    let error = |code: &str, description: &str| {
        oauth_reply(
            StatusCode::OK,
            json,
            oauth_error(code, description, DEVICE_ERROR_URI),
        )
    };
    let mut state = shared.state();
    let Some(flow) = params
        .get("device_code")
        .and_then(|code| state.device_flows.get_mut(code))
    else {
        return error(
            "incorrect_device_code",
            "The device_code provided is not valid.",
        );
    };
    if Instant::now() >= flow.expires_at {
        return error("expired_token", "The device_code has expired.");
    }
    let step = flow.steps[flow.polls.min(flow.steps.len() - 1)].clone();
    flow.polls += 1;
    match step {
        DeviceStep::Pending => error(
            "authorization_pending",
            "The authorization request is still pending.",
        ),
        DeviceStep::SlowDown => {
            flow.interval += 5;
            let mut body = oauth_error(
                "slow_down",
                "Too many requests have been made in the same timeframe.",
                DEVICE_ERROR_URI,
            );
            body.push(("interval", json!(flow.interval)));
            oauth_reply(StatusCode::OK, json, body)
        }
        DeviceStep::Expired => error("expired_token", "The device_code has expired."),
        DeviceStep::Denied => error("access_denied", "The authorization request was denied."),
        DeviceStep::Disabled => error(
            "device_flow_disabled",
            "Device Flow must be explicitly enabled for this App",
        ),
        DeviceStep::IncorrectDeviceCode => error(
            "incorrect_device_code",
            "The device_code provided is not valid.",
        ),
        DeviceStep::Approve { token } => {
            let scope = granted_scope(&state, &token);
            token_reply(json, &token, &scope)
        }
    }
}

fn code_exchange(shared: &Shared, params: &HashMap<String, String>, json: bool) -> Response {
    let bad_code = |description: &str| {
        oauth_reply(
            StatusCode::OK,
            json,
            oauth_error("bad_verification_code", description, TOKEN_ERROR_URI),
        )
    };
    let mut state = shared.state();
    let Some(code) = params
        .get("code")
        .and_then(|code| state.web_codes.get_mut(code))
    else {
        return bad_code("The code passed is incorrect or expired.");
    };
    if code.used || Instant::now() >= code.expires_at || code.client_id != shared.client_id {
        return bad_code("The code passed is incorrect or expired.");
    }
    if params.get("redirect_uri") != Some(&code.redirect_uri) {
        return oauth_reply(
            StatusCode::OK,
            json,
            oauth_error(
                "redirect_uri_mismatch",
                "The redirect_uri MUST match the registered callback URL for this application.",
                TOKEN_ERROR_URI,
            ),
        );
    }
    let verified = params
        .get("code_verifier")
        .is_some_and(|verifier| s256(verifier) == code.challenge);
    if !verified {
        return bad_code("The code_verifier does not match the code_challenge.");
    }
    code.used = true;
    let token = code.token.clone();
    let scope = granted_scope(&state, &token);
    token_reply(json, &token, &scope)
}

fn authorize(shared: &Shared, incoming: &Incoming) -> Response {
    let params = incoming.params();
    if params.get("client_id") != Some(&shared.client_id) {
        return html(
            StatusCode::NOT_FOUND,
            "<!doctype html><title>Not Found</title>",
        );
    }
    let Some(redirect_uri) = params.get("redirect_uri").filter(|uri| !uri.is_empty()) else {
        return html(
            StatusCode::BAD_REQUEST,
            "<!doctype html><title>Bad Request</title><p>redirect_uri is required",
        );
    };
    let challenge = params.get("code_challenge").filter(|c| !c.is_empty());
    let method = params.get("code_challenge_method").map(String::as_str);
    let Some(challenge) = challenge.filter(|_| method == Some("S256")) else {
        return html(
            StatusCode::BAD_REQUEST,
            "<!doctype html><title>Bad Request</title><p>code_challenge with code_challenge_method=S256 is required",
        );
    };
    let state_param = params.get("state");
    let mut answer: Vec<(&str, &str)> = Vec::new();
    let mut state = shared.state();
    let code = random_hex(10);
    match state.web_user.clone() {
        Some(token) => {
            let expires_at = Instant::now() + state.web_code_lifetime;
            state.web_codes.insert(
                code.clone(),
                WebCode {
                    client_id: shared.client_id.clone(),
                    redirect_uri: redirect_uri.clone(),
                    challenge: challenge.clone(),
                    token,
                    expires_at,
                    used: false,
                },
            );
            answer.push(("code", &code));
        }
        None => {
            answer.push(("error", "access_denied"));
            answer.push((
                "error_description",
                "The user has denied your application access.",
            ));
            answer.push(("error_uri", TOKEN_ERROR_URI));
        }
    }
    drop(state);
    if let Some(state_param) = state_param {
        answer.push(("state", state_param));
    }
    let separator = if redirect_uri.contains('?') { '&' } else { '?' };
    let location = format!(
        "{redirect_uri}{separator}{}",
        serde_urlencoded::to_string(&answer).expect("a query string")
    );
    Response::builder()
        .status(StatusCode::FOUND)
        .header(header::LOCATION, location)
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .body(Body::from(
            "<html><body>You are being redirected.</body></html>",
        ))
        .expect("a response")
}

/// The scopes granted to a token, as the token answer carries them.
fn granted_scope(state: &Fake, token: &str) -> String {
    state
        .tokens
        .get(token)
        .map(|account| account.scopes.join(","))
        .unwrap_or_default()
}

fn token_reply(json: bool, token: &str, scope: &str) -> Response {
    oauth_reply(
        StatusCode::OK,
        json,
        vec![
            ("access_token", json!(token)),
            ("token_type", json!("bearer")),
            ("scope", json!(scope)),
        ],
    )
}

fn incorrect_client_credentials(json: bool) -> Response {
    oauth_reply(
        StatusCode::OK,
        json,
        oauth_error(
            "incorrect_client_credentials",
            "The client_id and/or client_secret passed are incorrect.",
            TOKEN_ERROR_URI,
        ),
    )
}

fn oauth_error(code: &str, description: &str, uri: &str) -> Vec<(&'static str, Value)> {
    vec![
        ("error", json!(code)),
        ("error_description", json!(description)),
        ("error_uri", json!(uri)),
    ]
}

/// An OAuth answer: JSON when the caller accepts it, form-encoded otherwise
/// (as GitHub does).
fn oauth_reply(status: StatusCode, json: bool, fields: Vec<(&str, Value)>) -> Response {
    let (content_type, body) = if json {
        let object: serde_json::Map<String, Value> = fields
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect();
        (
            "application/json; charset=utf-8",
            Value::Object(object).to_string(),
        )
    } else {
        let pairs: Vec<(&str, String)> = fields
            .into_iter()
            .map(|(name, value)| {
                let value = match value {
                    Value::String(text) => text,
                    other => other.to_string(),
                };
                (name, value)
            })
            .collect();
        (
            "application/x-www-form-urlencoded; charset=utf-8",
            serde_urlencoded::to_string(pairs).expect("a form body"),
        )
    };
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(body))
        .expect("a response")
}

// ---------------------------------------------------------------------------
// REST API

/// The account of the request's token, or the message of GitHub's 401.
fn authenticate(shared: &Shared, incoming: &Incoming) -> Result<Account, &'static str> {
    let token = incoming.token().ok_or("Requires authentication")?;
    shared
        .state()
        .tokens
        .get(token)
        .cloned()
        .ok_or("Bad credentials")
}

fn user(shared: &Shared, incoming: &Incoming) -> Response {
    let account = match authenticate(shared, incoming) {
        Ok(account) => account,
        Err(message) => return api_error(StatusCode::UNAUTHORIZED, message),
    };
    let body = json!({
        "login": account.login,
        "id": account.id,
        "node_id": format!("U_{}", account.id),
        "avatar_url": format!("https://avatars.githubusercontent.com/u/{}?v=4", account.id),
        "url": format!("{}/users/{}", shared.url, account.login),
        "html_url": format!("https://github.com/{}", account.login),
        "type": "User",
        "site_admin": false,
        "name": account.login,
        "company": null,
        "email": null,
        "created_at": "2020-01-01T00:00:00Z",
        "updated_at": "2020-01-01T00:00:00Z",
    });
    api_json(&account, StatusCode::OK, &body)
}

fn org_membership(shared: &Shared, incoming: &Incoming, org: &str) -> Response {
    let account = match authenticate(shared, incoming) {
        Ok(account) => account,
        Err(message) => return api_error(StatusCode::UNAUTHORIZED, message),
    };
    let state = shared.state();
    let Some(membership) = state
        .org_memberships
        .get(&(fold(&account.login), fold(org)))
    else {
        return not_found();
    };
    let body = json!({
        "url": format!("{}/orgs/{}/memberships/{}", shared.url, membership.org, account.login),
        "state": membership.state,
        "role": membership.role,
        "organization_url": format!("{}/orgs/{}", shared.url, membership.org),
        "organization": organization(shared, &membership.org),
        "user": {
            "login": account.login,
            "id": account.id,
            "type": "User",
            "site_admin": false,
        },
    });
    api_json(&account, StatusCode::OK, &body)
}

fn user_teams(shared: &Shared, incoming: &Incoming) -> Response {
    let account = match authenticate(shared, incoming) {
        Ok(account) => account,
        Err(message) => return api_error(StatusCode::UNAUTHORIZED, message),
    };
    let login = fold(&account.login);
    let teams: Vec<Value> = shared
        .state()
        .team_memberships
        .iter()
        .filter(|((_, _, member), membership)| *member == login && membership.state == "active")
        .map(|(_, membership)| team(shared, &membership.org, &membership.slug))
        .collect();

    let query: Vec<(String, String)> =
        serde_urlencoded::from_str(&incoming.query).unwrap_or_default();
    let number = |name: &str| {
        query
            .iter()
            .find(|(key, _)| key == name)
            .and_then(|(_, value)| value.parse::<usize>().ok())
    };
    let per_page = number("per_page")
        .filter(|&n| n > 0)
        .unwrap_or(DEFAULT_PER_PAGE)
        .min(MAX_PER_PAGE);
    let page = number("page").filter(|&n| n > 0).unwrap_or(1);
    let last = teams.len().div_ceil(per_page).max(1);
    let items: Vec<Value> = teams
        .into_iter()
        .skip((page - 1).saturating_mul(per_page))
        .take(per_page)
        .collect();

    let mut response = api_json(&account, StatusCode::OK, &Value::Array(items));
    if last > 1 {
        let link_to = |target: usize| {
            let mut pairs: Vec<(String, String)> = query
                .iter()
                .filter(|(key, _)| key != "page")
                .cloned()
                .collect();
            pairs.push(("page".into(), target.to_string()));
            format!(
                "{}{}?{}",
                shared.url,
                incoming.path,
                serde_urlencoded::to_string(&pairs).expect("a query string")
            )
        };
        let mut links = Vec::new();
        if page > 1 {
            links.push(format!("<{}>; rel=\"prev\"", link_to((page - 1).min(last))));
        }
        if page < last {
            links.push(format!("<{}>; rel=\"next\"", link_to(page + 1)));
            links.push(format!("<{}>; rel=\"last\"", link_to(last)));
        }
        if page > 1 {
            links.push(format!("<{}>; rel=\"first\"", link_to(1)));
        }
        if !links.is_empty() {
            response.headers_mut().insert(
                header::LINK,
                links.join(", ").parse().expect("a Link header"),
            );
        }
    }
    response
}

fn team_membership(
    shared: &Shared,
    incoming: &Incoming,
    org: &str,
    slug: &str,
    username: &str,
) -> Response {
    let account = match authenticate(shared, incoming) {
        Ok(account) => account,
        Err(message) => return api_error(StatusCode::UNAUTHORIZED, message),
    };
    let state = shared.state();
    let Some(membership) = state
        .team_memberships
        .get(&(fold(org), fold(slug), fold(username)))
    else {
        return not_found();
    };
    let body = json!({
        "url": format!(
            "{}/organizations/{}/team/{}/memberships/{}",
            shared.url,
            stable_id(&fold(&membership.org)),
            stable_id(&format!("{}/{}", fold(&membership.org), fold(&membership.slug))),
            username,
        ),
        "role": "member",
        "state": membership.state,
    });
    api_json(&account, StatusCode::OK, &body)
}

fn organization(shared: &Shared, org: &str) -> Value {
    json!({
        "login": org,
        "id": stable_id(&fold(org)),
        "node_id": format!("O_{}", stable_id(&fold(org))),
        "url": format!("{}/orgs/{}", shared.url, org),
        "description": null,
    })
}

fn team(shared: &Shared, org: &str, slug: &str) -> Value {
    let id = stable_id(&format!("{}/{}", fold(org), fold(slug)));
    json!({
        "id": id,
        "node_id": format!("T_{id}"),
        "url": format!("{}/organizations/{}/team/{id}", shared.url, stable_id(&fold(org))),
        "html_url": format!("https://github.com/orgs/{org}/teams/{slug}"),
        "name": slug,
        "slug": slug,
        "description": null,
        "privacy": "closed",
        "permission": "pull",
        "parent": null,
        "organization": organization(shared, org),
    })
}

/// A JSON answer to an authenticated API request, with the token's scopes.
fn api_json(account: &Account, status: StatusCode, body: &Value) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
        .header("x-oauth-scopes", account.scopes.join(", "))
        .header("x-accepted-oauth-scopes", "")
        .header("x-github-media-type", "github.v3; format=json")
        .body(Body::from(body.to_string()))
        .expect("a response")
}

fn api_error(status: StatusCode, message: &str) -> Response {
    let body = json!({
        "message": message,
        "documentation_url": REST_DOCS,
        "status": status.as_u16().to_string(),
    });
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
        .body(Body::from(body.to_string()))
        .expect("a response")
}

fn not_found() -> Response {
    api_error(StatusCode::NOT_FOUND, "Not Found")
}

fn html(status: StatusCode, body: &'static str) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .body(Body::from(body))
        .expect("a response")
}

fn failure_response(failure: &Failure) -> Response {
    match *failure {
        Failure::Status(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            api_error(status, status.canonical_reason().unwrap_or("Server Error"))
        }
        Failure::RateLimited { retry_after_secs } => {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs();
            let mut response = api_error(
                StatusCode::TOO_MANY_REQUESTS,
                "API rate limit exceeded. Please wait before retrying.",
            );
            let headers = response.headers_mut();
            headers.insert(header::RETRY_AFTER, retry_after_secs.into());
            headers.insert("x-ratelimit-limit", 5000.into());
            headers.insert("x-ratelimit-remaining", 0.into());
            headers.insert("x-ratelimit-used", 5000.into());
            headers.insert("x-ratelimit-reset", (now + retry_after_secs).into());
            headers.insert(
                "x-ratelimit-resource",
                axum::http::HeaderValue::from_static("core"),
            );
            response
        }
        Failure::Timeout => unreachable!("a timeout never answers"),
    }
}
