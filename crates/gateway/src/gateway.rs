//! `slipway gateway`: the cluster's front door (docs/domain.md §7).
//!
//! The gateway admits exactly the callers the rules allow, rate-limits
//! them, and forwards their requests to the cluster's healthy nodes with
//! their identity in headers it sets itself.
//!
//! # Commands
//!
//! - `gateway run` listens, loads the revocation list its previous run kept
//!   (see Behavior, 3), finds its nodes and checks their health once,
//!   fetches the issuer's keys and then its revocation list (waiting at
//!   most 5 s for them; an unreachable issuer is retried in the
//!   background), writes its [`GatewayState`] to
//!   the state file (if one is given), prints the same JSON as one line on
//!   stdout — the **ready line** — and serves until SIGTERM or SIGINT (then
//!   in-flight requests get 5 s to finish).
//! - `gateway start` stops whatever its state file still records, starts a
//!   detached `gateway run` with the same options — its own command line
//!   with `start` replaced by `run` (the state file, config file and node
//!   directory made absolute) and its `SLIPWAY_GATEWAY_*` variables; its
//!   own session, an otherwise clean environment, stderr appended to
//!   `<state file>.log` — waits for its ready line, prints it and exits —
//!   or, if whoever ran it dies first, ends on SIGTERM (the gateway runs
//!   on). A state file (`--state-file`, or the config file's) is required.
//! - `gateway stop` stops the gateway a state file records (only if that pid
//!   really is a `gateway run` for that file) and removes the file.
//!   `slipway node stop-all DIR` also stops a gateway whose state file is in
//!   `DIR`.
//!
//! The ready line and the state file hold the same JSON object:
//!
//! ```json
//! {"pid":4242,"url":"http://127.0.0.1:40123","cluster":"abc","public":false,
//!  "started_at":"2026-01-02T03:04:05.678Z","metrics_url":"http://127.0.0.1:40123/metrics"}
//! ```
//!
//! Logs (`tracing`) go to stderr: `SLIPWAY_LOG` sets the filter (default
//! `info`; `slipway_gateway::access=debug` adds one line per request),
//! `SLIPWAY_LOG_FORMAT=json` makes them JSON.
//!
//! # Options
//!
//! Every option is a flag and a `SLIPWAY_GATEWAY_*` environment variable
//! (how Terraform's `local-exec` passes them), and a key of the optional
//! TOML file `--config` names (the flag's name in snake_case, e.g.
//! `anonymous_rate = 5`, `nodes = ["http://…"]`, `trusted_proxies =
//! ["10.0.0.0/8"]`, `quota_window = "7d"`): one set of options
//! ([`GatewayArgs`]), merged as defaults ← file ← variables ← flags.
//! Empty values count as unset (an empty variable leaves the file's
//! value) — for names, URLs, paths and node lists; an empty number,
//! duration, address or boolean is refused. Durations read like `500ms`,
//! `10s`, `7d`.
//!
//! | flag | environment variable | default |
//! |---|---|---|
//! | `--config FILE` | `SLIPWAY_GATEWAY_CONFIG` | — |
//! | `--cluster NAME` | `SLIPWAY_GATEWAY_CLUSTER` | required |
//! | `--public [BOOL]` | `SLIPWAY_GATEWAY_PUBLIC` | `false` |
//! | `--issuer URL` | `SLIPWAY_GATEWAY_ISSUER` | none: every token is refused |
//! | `--jwks-url URL` | `SLIPWAY_GATEWAY_JWKS_URL` | `<issuer>/.well-known/jwks.json` |
//! | `--revocations-url URL` | `SLIPWAY_GATEWAY_REVOCATIONS_URL` | `<issuer>/.well-known/revocations` |
//! | `--node URL` (repeatable) | `SLIPWAY_GATEWAY_NODES` (comma-separated) | — |
//! | `--node-dir DIR` | `SLIPWAY_GATEWAY_NODE_DIR` | — |
//! | `--listen ADDR` | `SLIPWAY_GATEWAY_LISTEN` | `127.0.0.1:0` |
//! | `--state-file FILE` | `SLIPWAY_GATEWAY_STATE_FILE` | — (required by `start`) |
//! | `--metrics-listen ADDR` | `SLIPWAY_GATEWAY_METRICS_LISTEN` | — (`/metrics` on the main listener) |
//! | `--anonymous-rate N` / `--anonymous-burst N` | `SLIPWAY_GATEWAY_ANONYMOUS_RATE` / `_BURST` | 5/s, 10 |
//! | `--anonymous-quota N` | `SLIPWAY_GATEWAY_ANONYMOUS_QUOTA` | 50000 (0: none) |
//! | `--member-rate N` / `--member-burst N` | `SLIPWAY_GATEWAY_MEMBER_RATE` / `_BURST` | 10/s, 20 |
//! | `--member-quota N` | `SLIPWAY_GATEWAY_MEMBER_QUOTA` | 100000 |
//! | `--org-member-rate N` / `--org-member-burst N` | `SLIPWAY_GATEWAY_ORG_MEMBER_RATE` / `_BURST` | 100/s, 200 |
//! | `--org-member-quota N` | `SLIPWAY_GATEWAY_ORG_MEMBER_QUOTA` | 0 (none) |
//! | `--quota-window D` | `SLIPWAY_GATEWAY_QUOTA_WINDOW` | `7d` |
//! | `--quota-block D` | `SLIPWAY_GATEWAY_QUOTA_BLOCK` | `10m` |
//! | `--ipv4-prefix BITS` | `SLIPWAY_GATEWAY_IPV4_PREFIX` | 24 |
//! | `--ipv6-prefix BITS` | `SLIPWAY_GATEWAY_IPV6_PREFIX` | 48 |
//! | `--trusted-proxy CIDR` (repeatable) | `SLIPWAY_GATEWAY_TRUSTED_PROXIES` (comma-separated) | none |
//! | `--health-interval D` | `SLIPWAY_GATEWAY_HEALTH_INTERVAL` | `1s` |
//! | `--health-timeout D` | `SLIPWAY_GATEWAY_HEALTH_TIMEOUT` | `1s` |
//! | `--connect-timeout D` | `SLIPWAY_GATEWAY_CONNECT_TIMEOUT` | `2s` |
//! | `--jwks-refresh D` | `SLIPWAY_GATEWAY_JWKS_REFRESH` | `5m` |
//! | `--jwks-refetch-min D` | `SLIPWAY_GATEWAY_JWKS_REFETCH_MIN` | `5s` |
//! | `--revocations-refresh D` | `SLIPWAY_GATEWAY_REVOCATIONS_REFRESH` | `2s` |
//! | `--token-cache-size N` | `SLIPWAY_GATEWAY_TOKEN_CACHE_SIZE` | 10000 |
//! | `--max-tracked-keys N` | `SLIPWAY_GATEWAY_MAX_TRACKED_KEYS` | 100000 |
//! | `--workers N` | `SLIPWAY_GATEWAY_WORKERS` | 0 (one thread per CPU) |
//!
//! Requests are served by `--workers` threads, each with a single-threaded
//! runtime that accepts from the shared listening socket and keeps its own
//! keep-alive connections to the nodes, so a request never changes
//! threads; health checks, key and revocation list refreshes and eviction
//! run beside them.
//!
//! A rate of 0 means no rate limit; a rate given without a burst gets a
//! burst of two seconds' worth.
//!
//! # Behavior
//!
//! 1. **`/metrics`** (GET or HEAD) is the gateway's own Prometheus endpoint,
//!    answered without a token and never forwarded — unless
//!    `--metrics-listen` moves it to a separate address. See
//!    [`metrics`] for the series.
//! 2. **Token**: `Authorization: Bearer <token>`, else a `token` cookie.
//!    Verified with [`slipway_auth::jwt::Verifier`]: EdDSA only, a key id
//!    from the issuer's JWKS, exact `iss`, `aud` exactly the cluster name
//!    (a token for `abc` is refused by `ab` and `abcd`), `exp`/`nbf` with
//!    30 s leeway. Valid tokens are cached until `exp` + leeway (at most
//!    `--token-cache-size`; cached tokens whose key leaves the JWKS are
//!    dropped). A token naming an unknown key id triggers a JWKS refetch, at
//!    most once per `--jwks-refetch-min`: when the last fetch was more
//!    recent, the request waits for the next allowed one if that is at most
//!    5 s away (so a key the issuer just started signing with works at
//!    once), else the token is refused; concurrent requests share one
//!    fetch. The keys are also refetched every `--jwks-refresh`, and kept
//!    (served stale) while the issuer is unreachable.
//! 3. **Revocation**: every token, cached or not, is checked against what
//!    the issuer publishes at `--revocations-url` — revoked token ids
//!    (`jti`), and people (`sub`) whose tokens for this cluster issued
//!    before a time are refused (a member removed from the cluster's
//!    organization) —; a revoked one gets **401** `token_revoked`. The
//!    list is fetched once at start (after the keys) and then polled every
//!    `--revocations-refresh` after the previous poll ended, with
//!    `If-None-Match` (a `304` keeps it): **a revocation reaches the
//!    gateway within one refresh period plus one fetch — about 2 s by
//!    default**. The answer, `{"token": "<JWT>"}`, is a
//!    [`RevocationList`](slipway_auth::jwt::RevocationList) verified like a
//!    token (EdDSA, a key of the issuer's JWKS — an unknown key id
//!    triggers a refetch as above —, the exact issuer, audience
//!    `slipway:revocations`, subject `slipway:issuer`, `exp`/`nbf` with
//!    30 s leeway); a list that does not verify is ignored (and counted),
//!    and the revoked tokens known stay. Lists only add: an entry is
//!    dropped once past its `exp` + 30 s, never because a later list omits
//!    it. While the issuer is unreachable the known entries stay in force
//!    (`slipway_gateway_revocation_list_age_seconds` tells how old they
//!    are). With a state file, the entries are kept in
//!    `<state file>.revocations` (written atomically, mode 0600,
//!    whenever they change) and loaded before a restarted gateway serves,
//!    so it refuses them even if the issuer is unreachable; a file that
//!    cannot be read stops the start (remove it to start without it).
//! 4. **Access**: private cluster — no token: **401** `unauthenticated`; an
//!    invalid token: **401** `invalid_token`; an expired one (past `exp`
//!    and the leeway): **401** `token_expired`, so a client knows a new
//!    token will do; a revoked one: **401** `token_revoked`; a valid token of level `anonymous`: **403**
//!    `forbidden`. Public cluster — no token: anonymous; an invalid or
//!    revoked token: **401** (never downgraded). Every 401 carries
//!    `WWW-Authenticate: Bearer realm="<cluster>"` (plus
//!    `error="invalid_token"` and a description for a bad or revoked
//!    token). If the issuer's keys were never obtained, a token gets
//!    **503** `issuer_unavailable`.
//! 5. **Rate limits**: anonymous callers per network region (the client
//!    address masked to `--ipv4-prefix`/`--ipv6-prefix` bits), members and
//!    organization members per `sub`, each level with its own limits;
//!    admins never. The rate is GCRA (a sustained rate and a burst). The
//!    quota is a fixed window (`--quota-window`) starting at a key's first
//!    request; the request that goes over it starts a block
//!    (`--quota-block`), and once the block is over the key starts a fresh
//!    window. Over the rate: **429** `rate_limited`; over the quota, and for
//!    the block after: **429** `quota_exceeded`; both with `Retry-After`
//!    (seconds, rounded up). Idle keys are evicted every 10 s; each level's
//!    quota table holds at most `--max-tracked-keys` keys. The client
//!    address is the peer's, unless the peer is a trusted proxy: then the
//!    rightmost `X-Forwarded-For` entry that is not a trusted proxy (the
//!    API's rule too: [`slipway_core::net::client_address`]).
//! 6. **Identity to nodes**: every `x-slipway-*` header the client sent is
//!    removed; the gateway sets `X-Slipway-Level` (`anonymous`, `member`,
//!    `org_member`, `admin`) and, for a token, `X-Slipway-User` (`sub`) and
//!    `X-Slipway-Orgs` (comma-separated, possibly empty). `X-Forwarded-For`
//!    becomes the peer's address (appended to the chain when the peer is a
//!    trusted proxy). Hop-by-hop headers are dropped (so protocol upgrades
//!    such as WebSocket are not proxied); `Host`, `Authorization` and
//!    cookies pass unchanged.
//! 7. **Load balancing**: round robin
//!    over healthy nodes, over pooled keep-alive HTTP/1.1 connections;
//!    bodies are streamed both ways. A node is healthy once `GET /health`
//!    answers 2xx; a failed check, or a refused connection, takes it out at
//!    once. A request that never reached a node (connect failure, pooled
//!    connection closed before it was written) goes to another healthy
//!    node, whatever its method (up to 4 nodes in all); one that may have
//!    reached a node is retried once on another only if its method is
//!    idempotent and it has no body. No healthy node: **503**
//!    `no_healthy_node` (with `Retry-After: 1`); no node answered: **502**
//!    `bad_gateway`.
//!
//! Every error the gateway answers itself is JSON:
//! `{"error": {"code": "...", "message": "..."}}`.
//!
//! # In-process use
//!
//! [`serve`] (or [`Gateway::new`] then [`Gateway::serve`]) runs a gateway
//! on a listener the caller bound, as tests and benchmarks do;
//! [`Gateway::watch_nodes`] follows node health.

mod auth;
mod config;
mod keys;
mod limits;
pub mod metrics;
mod proxy;
mod revocations;
mod server;
mod shared;
mod state;
mod upstream;

use std::ffi::OsString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

pub use config::{Config, DEFAULT_LISTEN, GatewayArgs, LevelLimit, LevelLimits};
pub use proxy::{LEVEL_HEADER, ORGS_HEADER, USER_HEADER};
pub use server::{Gateway, SHUTDOWN_GRACE, serve};
pub use state::GatewayState;
pub use upstream::NodeStatus;

use crate::detached;
use crate::detached::ProcessError;

/// How long `gateway start` waits for the ready line.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// `slipway gateway <command>`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum GatewayCommand {
    /// Run the gateway in the foreground; print the ready line once it
    /// serves.
    #[command(mut_args = config::with_default_in_help)]
    Run(GatewayArgs),
    /// Start a gateway in the background (stopping any the state file
    /// records) and print its ready line once it serves.
    #[command(mut_args = config::with_default_in_help)]
    Start(GatewayArgs),
    /// Stop the gateway a state file records, and remove the file.
    Stop(GatewayStopArgs),
}

/// Arguments of `slipway gateway stop`.
#[derive(Debug, Clone, clap::Args)]
pub struct GatewayStopArgs {
    /// The state file of the gateway to stop.
    #[arg(long, env = "SLIPWAY_GATEWAY_STATE_FILE")]
    pub state_file: PathBuf,
}

/// What went wrong in the gateway.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error("configuration: {0}")]
    Config(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Failed(String),
}

impl GatewayError {
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}

impl From<ProcessError> for GatewayError {
    fn from(err: ProcessError) -> Self {
        match err {
            ProcessError::Io { context, source } => Self::Io { context, source },
            ProcessError::Invalid(message) => Self::Invalid(message),
            ProcessError::Failed(message) => Self::Failed(message),
        }
    }
}

/// Runs `slipway gateway <command>` to completion: the synchronous entry
/// point for the binary's `main`. Errors are printed on stderr.
pub fn run(cmd: GatewayCommand) -> ExitCode {
    let (name, result) = match cmd {
        GatewayCommand::Run(args) => ("run", run_gateway(&args)),
        GatewayCommand::Start(args) => ("start", start(&args).map(|_| ())),
        GatewayCommand::Stop(args) => ("stop", stop(&args.state_file)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("slipway gateway {name}: error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// `gateway run`: serves in the foreground until SIGTERM or SIGINT.
pub fn run_gateway(args: &GatewayArgs) -> Result<(), GatewayError> {
    init_logging();
    let mut config = Config::from_args(args)?;
    if let Some(path) = &config.state_file {
        config.state_file = Some(crate::node::absolute(path)?);
    }
    // Requests are served by worker threads of their own (see
    // `Gateway::serve`); this runtime runs the background tasks.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| GatewayError::io("starting the async runtime", err))?;
    runtime.block_on(run_async(config))
}

async fn run_async(config: Config) -> Result<(), GatewayError> {
    let signals = detached::StopSignals::install()?;
    let (listener, local) = detached::listen(config.listen).await?;
    let metrics_listener = match config.metrics_listen {
        Some(addr) => Some(detached::listen(addr).await?),
        None => None,
    };
    let url = server::url_of(local);
    let metrics_url = match &metrics_listener {
        Some((_, addr)) => format!("{}/metrics", server::url_of(*addr)),
        None => format!("{url}/metrics"),
    };
    let metrics_listener = metrics_listener.map(|(listener, _)| listener);
    let state_file = config.state_file.clone();
    let cluster = config.cluster.clone();
    let public = config.public;

    let gateway = Gateway::new(config).await?;
    let state = GatewayState {
        pid: std::process::id(),
        url,
        cluster,
        public,
        started_at: chrono::Utc::now(),
        metrics_url,
    };
    if let Some(path) = &state_file {
        detached::record(&state, path)?;
    }
    detached::announce_ready(&state)?;
    let healthy = gateway.nodes().iter().filter(|n| n.healthy).count();
    tracing::info!(
        cluster = %state.cluster,
        public = state.public,
        url = %state.url,
        nodes = gateway.nodes().len(),
        healthy,
        "gateway ready"
    );
    gateway
        .serve_with_metrics(listener, metrics_listener, signals.shutdown())
        .await?;
    tracing::info!("gateway stopped");
    Ok(())
}

/// `gateway start`: stops what the state file records, starts a detached
/// `gateway run` with the same options — this process's own command line
/// with `start` replaced by `run`, and its `SLIPWAY_GATEWAY_*` variables —
/// waits for its ready line and prints it.
pub fn start(args: &GatewayArgs) -> Result<GatewayState, GatewayError> {
    let Some(state_file) = args.merged()?.state_file else {
        return Err(GatewayError::Config(
            "gateway start needs --state-file (SLIPWAY_GATEWAY_STATE_FILE)".into(),
        ));
    };
    let state_file = crate::node::absolute(&state_file)?;
    // Check the options here, where the error is visible.
    Config::from_args(args)?;
    let run_args = run_arguments(std::env::args_os(), args, &state_file)?;
    let env: Vec<(OsString, OsString)> = std::env::vars_os()
        .filter(|(name, _)| name.as_bytes().starts_with(ENV_PREFIX.as_bytes()))
        .collect();
    Ok(detached::start(
        &state_file,
        &run_args,
        &env,
        "the gateway",
        READY_TIMEOUT,
    )?)
}

/// The prefix of the gateway's environment variables.
const ENV_PREFIX: &str = "SLIPWAY_GATEWAY_";

/// The options `gateway run` gets from `gateway start`: what follows
/// `gateway … start` on `start`'s command line (`argv`), with the state
/// file, the config file and the node directory as absolute paths (the
/// state file names the process to `stop`, which finds it by its command
/// line).
fn run_arguments(
    argv: impl IntoIterator<Item = OsString>,
    args: &GatewayArgs,
    state_file: &Path,
) -> Result<Vec<OsString>, GatewayError> {
    const PATHS: [&str; 3] = ["--state-file", "--config", "--node-dir"];
    let argv: Vec<OsString> = argv.into_iter().collect();
    let start = argv
        .iter()
        .skip(1)
        .position(|a| a == "gateway")
        .and_then(|g| {
            let g = g + 1;
            argv[g + 1..]
                .iter()
                .position(|a| a == "start")
                .map(|s| g + 1 + s)
        })
        .ok_or_else(|| {
            GatewayError::Failed("`gateway start` is not on this process's command line".into())
        })?;
    let mut out = Vec::new();
    let mut rest = argv[start + 1..].iter();
    while let Some(arg) = rest.next() {
        let bytes = arg.as_bytes();
        if PATHS.iter().any(|p| bytes == p.as_bytes()) {
            rest.next();
            continue;
        }
        if PATHS.iter().any(|p| {
            bytes
                .strip_prefix(p.as_bytes())
                .is_some_and(|v| v.starts_with(b"="))
        }) {
            continue;
        }
        out.push(arg.clone());
    }
    let flag = |name: &str, path: &Path| {
        let mut arg = OsString::from(format!("--{name}="));
        arg.push(path);
        arg
    };
    out.push(flag("state-file", state_file));
    for (name, path) in [("config", &args.config), ("node-dir", &args.node_dir)] {
        if let Some(path) = path.as_deref().filter(|p| !p.as_os_str().is_empty()) {
            out.push(flag(name, &crate::node::absolute(path)?));
        }
    }
    Ok(out)
}

/// `gateway stop`: stops the gateway the state file records (only if that
/// pid really is a `gateway run` for this file) and removes the file.
/// Idempotent.
pub fn stop(state_file: &Path) -> Result<(), GatewayError> {
    let state_file = crate::node::absolute(state_file)?;
    Ok(detached::stop::<GatewayState>(&state_file)?)
}

/// Logs go to stderr; stdout carries only the ready line. Does nothing if a
/// subscriber is installed already.
fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("SLIPWAY_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(false);
    let _ = if std::env::var("SLIPWAY_LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use std::fs;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        command: GatewayCommand,
    }

    fn parse(args: &[&str]) -> GatewayArgs {
        let cli = Cli::try_parse_from(args).unwrap();
        match cli.command {
            GatewayCommand::Run(args) | GatewayCommand::Start(args) => args,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_option_parses_and_round_trips_through_the_config_file() {
        let args = parse(&[
            "gateway",
            "start",
            "--cluster=abc",
            "--public",
            "--issuer=http://127.0.0.1:9/",
            "--jwks-url",
            "http://127.0.0.1:9/keys",
            "--revocations-url=http://127.0.0.1:9/revoked",
            "--node=http://127.0.0.1:1",
            "--node",
            "http://127.0.0.1:2",
            "--node-dir=/rt dir",
            "--listen=0.0.0.0:8080",
            "--state-file=/rt dir/gateway.json",
            "--metrics-listen=127.0.0.1:9100",
            "--anonymous-rate=2.5",
            "--anonymous-burst=4",
            "--anonymous-quota=7",
            "--member-rate=3",
            "--member-burst=5",
            "--member-quota=8",
            "--org-member-rate=0",
            "--org-member-burst=6",
            "--org-member-quota=9",
            "--quota-window=1h",
            "--quota-block=90s",
            "--ipv4-prefix=16",
            "--ipv6-prefix=56",
            "--trusted-proxy=10.0.0.0/8",
            "--trusted-proxy=192.0.2.1",
            "--health-interval=250ms",
            "--health-timeout=100ms",
            "--connect-timeout=1s",
            "--jwks-refresh=1m",
            "--jwks-refetch-min=2s",
            "--revocations-refresh=500ms",
            "--token-cache-size=50",
            "--max-tracked-keys=60",
            "--workers=1",
        ]);
        // The same options written as a config file read back the same.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("gateway.toml");
        fs::write(&file, toml::to_string(&args).unwrap()).unwrap();
        let from_file = parse(&["gateway", "run", "--config", file.to_str().unwrap()]);
        assert_eq!(
            from_file.merged().unwrap(),
            GatewayArgs {
                config: Some(file.clone()),
                ..args.clone()
            }
        );

        let config = Config::from_args(&args).unwrap();
        assert_eq!(Config::from_args(&from_file).unwrap(), config);
        assert_eq!(config.cluster, "abc");
        assert!(config.public);
        assert_eq!(config.nodes.len(), 2);
        assert_eq!(config.limits.anonymous.rate, 2.5);
        assert_eq!(config.limits.org_member.rate, 0.0);
        assert_eq!(config.limits.quota_block, Duration::from_secs(90));
        assert_eq!(config.trusted_proxies.len(), 2);
        assert_eq!(config.health_interval, Duration::from_millis(250));
        assert_eq!(
            config.effective_jwks_url().as_deref(),
            Some("http://127.0.0.1:9/keys")
        );
        assert_eq!(
            config.effective_revocations_url().as_deref(),
            Some("http://127.0.0.1:9/revoked")
        );
        assert_eq!(config.revocations_refresh, Duration::from_millis(500));
        assert_eq!(
            config.revocations_file(),
            Some(PathBuf::from("/rt dir/gateway.json.revocations"))
        );
    }

    #[test]
    fn defaults_and_derived_values() {
        let config = Config::from_args(&parse(&[
            "gateway",
            "run",
            "--cluster=abc",
            "--issuer=https://slipway.example/",
            "--member-rate=50",
            "--public=false",
        ]))
        .unwrap();
        assert!(!config.public);
        assert_eq!(
            config.effective_jwks_url().as_deref(),
            Some("https://slipway.example/.well-known/jwks.json")
        );
        assert_eq!(
            config.effective_revocations_url().as_deref(),
            Some("https://slipway.example/.well-known/revocations")
        );
        assert_eq!(config.revocations_refresh, Duration::from_secs(2));
        assert_eq!(config.revocations_file(), None);
        assert_eq!(config.limits.anonymous, LevelLimits::default().anonymous);
        assert_eq!(config.limits.member.burst, 100, "two seconds' worth");
        assert_eq!(config.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(config.limits.quota_window, Duration::from_secs(7 * 86400));
    }

    #[test]
    fn bad_options_are_refused() {
        for args in [
            &["gateway", "run"][..],
            &["gateway", "run", "--cluster="],
            &["gateway", "run", "--cluster=a b"],
            &["gateway", "run", "--cluster=abc", "--node=https://x:1"],
            &["gateway", "run", "--cluster=abc", "--issuer=ftp://x"],
            &["gateway", "run", "--cluster=abc", "--anonymous-rate=-1"],
            &[
                "gateway",
                "run",
                "--cluster=abc",
                "--anonymous-rate=1",
                "--anonymous-burst=0",
            ],
            &["gateway", "run", "--cluster=abc", "--ipv4-prefix=33"],
            &["gateway", "run", "--cluster=abc", "--health-interval=0s"],
        ] {
            assert!(Config::from_args(&parse(args)).is_err(), "{args:?}");
        }
        assert!(Cli::try_parse_from(["gateway", "run", "--trusted-proxy=nope"]).is_err());
        assert!(Cli::try_parse_from(["gateway", "run", "--quota-window=soon"]).is_err());
    }

    #[test]
    fn a_config_file_fills_in_what_flags_do_not_say() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway.toml");
        fs::write(
            &path,
            r#"
cluster = "from-file"
public = true
issuer = "http://issuer"
nodes = ["http://127.0.0.1:1"]
anonymous_rate = 1
anonymous_burst = 2
trusted_proxies = ["10.0.0.0/8"]
quota_block = "5s"
"#,
        )
        .unwrap();
        let file = path.to_str().unwrap();
        let config = Config::from_args(&parse(&[
            "gateway",
            "run",
            "--config",
            file,
            "--cluster=from-flag",
        ]))
        .unwrap();
        assert_eq!(config.cluster, "from-flag");
        assert!(config.public);
        assert_eq!(config.nodes, ["http://127.0.0.1:1"]);
        assert_eq!(config.limits.anonymous.burst, 2);
        assert_eq!(config.limits.quota_block, Duration::from_secs(5));
        assert_eq!(config.trusted_proxies.len(), 1);

        fs::write(&path, "clutser = \"typo\"\n").unwrap();
        let err = Config::from_args(&parse(&["gateway", "run", "--config", file]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("clutser"), "{err}");
    }

    /// The README's table of the gateway's options is the code's: every
    /// option with a default is there, named by its flag and variable, with
    /// the default the gateway uses.
    #[test]
    fn the_readme_table_states_the_defaults_the_gateway_uses() {
        use clap::CommandFactory;
        let readme = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"));
        let table: Vec<(String, String, String)> = readme
            .lines()
            .filter(|line| line.starts_with("| `--"))
            .map(|line| {
                let cells: Vec<String> = line
                    .trim_matches('|')
                    .split('|')
                    .map(|c| c.trim().trim_matches('`').to_owned())
                    .collect();
                (cells[0].clone(), cells[1].clone(), cells[2].clone())
            })
            .collect();
        let command = Cli::command();
        let run = command.find_subcommand("run").unwrap();
        let expected: Vec<(String, String, String)> = GatewayArgs::defaults()
            .into_iter()
            .map(|(id, default)| {
                let arg = run
                    .get_arguments()
                    .find(|a| a.get_id() == id)
                    .unwrap_or_else(|| panic!("no option {id}"));
                (
                    format!("--{}", arg.get_long().unwrap()),
                    arg.get_env().unwrap().to_string_lossy().into_owned(),
                    default,
                )
            })
            .collect();
        assert_eq!(table, expected);
        // And `--help` shows each of them.
        for (id, default) in GatewayArgs::defaults() {
            let arg = run.get_arguments().find(|a| a.get_id() == id).unwrap();
            let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
            assert!(help.ends_with(&format!("[default: {default}]")), "{help}");
        }
    }

    #[test]
    fn every_option_names_its_environment_variable() {
        use clap::CommandFactory;
        let command = Cli::command();
        for sub in command.get_subcommands() {
            for arg in sub.get_arguments() {
                if arg.get_id() == "help" {
                    continue;
                }
                let env = arg
                    .get_env()
                    .unwrap_or_else(|| panic!("{} --{} has no env", sub.get_name(), arg.get_id()));
                assert!(
                    env.to_string_lossy().starts_with("SLIPWAY_GATEWAY_"),
                    "{env:?}"
                );
            }
        }
    }

    #[test]
    fn empty_values_leave_the_config_file_s_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway.toml");
        fs::write(
            &path,
            r#"
cluster = "from-file"
issuer = "http://issuer"
revocations_url = "http://issuer/revoked"
nodes = ["http://127.0.0.1:1", ""]
node_dir = "/nodes"
"#,
        )
        .unwrap();
        let config = Config::from_args(&parse(&[
            "gateway",
            "run",
            &format!("--config={}", path.display()),
            "--cluster=",
            "--issuer= ",
            "--revocations-url=",
            "--node=",
            "--node-dir=",
            "--state-file=",
        ]))
        .unwrap();
        assert_eq!(config.cluster, "from-file");
        assert_eq!(config.issuer.as_deref(), Some("http://issuer"));
        assert_eq!(
            config.effective_revocations_url().as_deref(),
            Some("http://issuer/revoked")
        );
        assert_eq!(config.nodes, ["http://127.0.0.1:1"]);
        assert_eq!(config.node_dir, Some(PathBuf::from("/nodes")));
        assert_eq!(config.state_file, None);

        // Without an issuer there is no list to follow.
        let config = Config::from_args(&parse(&[
            "gateway",
            "run",
            "--cluster=abc",
            "--revocations-url=http://x/revoked",
        ]))
        .unwrap();
        assert_eq!(config.effective_revocations_url(), None);

        let missing = dir.path().join("missing.toml");
        let err = Config::from_args(&parse(&[
            "gateway",
            "run",
            "--cluster=abc",
            &format!("--config={}", missing.display()),
        ]))
        .unwrap_err()
        .to_string();
        assert!(err.contains("missing.toml"), "{err}");
    }

    #[test]
    fn bad_revocation_options_are_refused() {
        for args in [
            &[
                "gateway",
                "run",
                "--cluster=abc",
                "--revocations-url=ftp://x",
            ][..],
            &[
                "gateway",
                "run",
                "--cluster=abc",
                "--revocations-refresh=0s",
            ],
        ] {
            assert!(Config::from_args(&parse(args)).is_err(), "{args:?}");
        }
        assert!(Cli::try_parse_from(["gateway", "run", "--revocations-refresh=often"]).is_err());
    }

    #[test]
    fn start_passes_its_own_command_line_to_run() {
        let os = |list: &[&str]| list.iter().map(OsString::from).collect::<Vec<_>>();
        let argv = os(&[
            "/bin/slipway",
            "gateway",
            "start",
            "--cluster=abc",
            "--state-file",
            "rt/gateway.json",
            "--config=gateway.toml",
            "--node",
            "http://127.0.0.1:1",
            "--public",
            "--anonymous-rate=2",
        ]);
        let args = parse(&argv.iter().map(|a| a.to_str().unwrap()).collect::<Vec<_>>()[1..]);
        let state_file = crate::node::absolute(Path::new("rt/gateway.json")).unwrap();
        let config = crate::node::absolute(Path::new("gateway.toml")).unwrap();
        let run = run_arguments(argv, &args, &state_file).unwrap();
        assert_eq!(
            run,
            os(&[
                "--cluster=abc",
                "--node",
                "http://127.0.0.1:1",
                "--public",
                "--anonymous-rate=2",
                &format!("--state-file={}", state_file.display()),
                &format!("--config={}", config.display()),
            ])
        );
        // `stop` recognises the process by the state file on its command
        // line.
        let mut command_line = os(&["/bin/slipway", "gateway", "run"]);
        command_line.extend(run.iter().cloned());
        assert_eq!(
            crate::detached::process::node_run_state_file(&command_line),
            Some(state_file.clone())
        );
        let mut again = os(&["gateway", "run"]);
        again.extend(run);
        let again = parse(
            &again
                .iter()
                .map(|a| a.to_str().unwrap())
                .collect::<Vec<_>>(),
        );
        assert_eq!(again.state_file, Some(state_file.clone()));
        assert_eq!(again.anonymous_rate, Some(2.0));
        assert_eq!(again.public, Some(true));

        assert!(run_arguments(os(&["/bin/slipway", "start"]), &args, &state_file).is_err());
    }

    #[test]
    fn start_needs_a_state_file_and_stop_is_idempotent() {
        let err = start(&parse(&["gateway", "start", "--cluster=abc"]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("--state-file"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway.json");
        stop(&path).unwrap();
        fs::write(&path, "garbage").unwrap();
        stop(&path).unwrap();
        assert!(!path.exists());
    }
}
