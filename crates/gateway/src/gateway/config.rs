//! The gateway's options: command-line flags, `SLIPWAY_GATEWAY_*`
//! environment variables, an optional TOML file, and the resolved
//! [`Config`]. Precedence: flag, then environment variable (clap reads both
//! into [`GatewayArgs`]), then the file, then the default.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;

use super::GatewayError;

/// Default listening address: loopback, a free port.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:0";

/// Every option of `slipway gateway run|start`. Unset options fall back to
/// the `--config` file, then to the defaults documented on each.
#[derive(Debug, Clone, Default, PartialEq, clap::Args)]
pub struct GatewayArgs {
    /// A TOML file with any of these options (snake_case keys, e.g.
    /// `anonymous_rate = 5`); flags and environment variables override it.
    #[arg(long, env = "SLIPWAY_GATEWAY_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// The cluster's name: a token is admitted only if its audience is
    /// exactly this. Required.
    #[arg(long, env = "SLIPWAY_GATEWAY_CLUSTER")]
    pub cluster: Option<String>,

    /// Whether the cluster is public (callers without a token are admitted
    /// as anonymous). `--public` alone means true. [default: false]
    #[arg(
        long,
        env = "SLIPWAY_GATEWAY_PUBLIC",
        value_name = "BOOL",
        num_args = 0..=1,
        default_missing_value = "true"
    )]
    pub public: Option<bool>,

    /// The token issuer (Slipway's public URL), matched exactly against
    /// `iss`. Without one, no token is ever valid.
    #[arg(long, env = "SLIPWAY_GATEWAY_ISSUER")]
    pub issuer: Option<String>,

    /// Where the issuer publishes its keys. [default:
    /// ISSUER/.well-known/jwks.json]
    #[arg(long, env = "SLIPWAY_GATEWAY_JWKS_URL")]
    pub jwks_url: Option<String>,

    /// An upstream node's URL (`http://host:port`); repeat the flag, or
    /// separate URLs with commas in the environment variable.
    #[arg(
        long = "node",
        env = "SLIPWAY_GATEWAY_NODES",
        value_name = "URL",
        value_delimiter = ','
    )]
    pub nodes: Vec<String>,

    /// A directory of node state files (`node-*.json`, as `slipway node`
    /// writes them), rescanned every health interval.
    #[arg(long, env = "SLIPWAY_GATEWAY_NODE_DIR", value_name = "DIR")]
    pub node_dir: Option<PathBuf>,

    /// The address to listen on; port 0 picks a free port. [default:
    /// 127.0.0.1:0]
    #[arg(long, env = "SLIPWAY_GATEWAY_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,

    /// Where the gateway records itself (JSON); its log is this path plus
    /// `.log` under `start`. Required by `start`.
    #[arg(long, env = "SLIPWAY_GATEWAY_STATE_FILE", value_name = "FILE")]
    pub state_file: Option<PathBuf>,

    /// Serve `/metrics` on this separate address instead of on the main
    /// listener (which then forwards `/metrics` to the nodes).
    #[arg(long, env = "SLIPWAY_GATEWAY_METRICS_LISTEN", value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,

    /// Sustained requests per second per anonymous network region; 0 means
    /// unlimited. [default: 5]
    #[arg(
        long,
        env = "SLIPWAY_GATEWAY_ANONYMOUS_RATE",
        value_name = "PER_SECOND"
    )]
    pub anonymous_rate: Option<f64>,
    /// Burst per anonymous network region. [default: 10]
    #[arg(long, env = "SLIPWAY_GATEWAY_ANONYMOUS_BURST", value_name = "REQUESTS")]
    pub anonymous_burst: Option<u32>,
    /// Requests per anonymous network region per quota window; 0 means no
    /// quota. [default: 50000]
    #[arg(long, env = "SLIPWAY_GATEWAY_ANONYMOUS_QUOTA", value_name = "REQUESTS")]
    pub anonymous_quota: Option<u64>,

    /// Sustained requests per second per member (`sub`); 0 means unlimited.
    /// [default: 10]
    #[arg(long, env = "SLIPWAY_GATEWAY_MEMBER_RATE", value_name = "PER_SECOND")]
    pub member_rate: Option<f64>,
    /// Burst per member. [default: 20]
    #[arg(long, env = "SLIPWAY_GATEWAY_MEMBER_BURST", value_name = "REQUESTS")]
    pub member_burst: Option<u32>,
    /// Requests per member per quota window; 0 means no quota. [default:
    /// 100000]
    #[arg(long, env = "SLIPWAY_GATEWAY_MEMBER_QUOTA", value_name = "REQUESTS")]
    pub member_quota: Option<u64>,

    /// Sustained requests per second per organization member (`sub`); 0
    /// means unlimited. [default: 100]
    #[arg(
        long,
        env = "SLIPWAY_GATEWAY_ORG_MEMBER_RATE",
        value_name = "PER_SECOND"
    )]
    pub org_member_rate: Option<f64>,
    /// Burst per organization member. [default: 200]
    #[arg(
        long,
        env = "SLIPWAY_GATEWAY_ORG_MEMBER_BURST",
        value_name = "REQUESTS"
    )]
    pub org_member_burst: Option<u32>,
    /// Requests per organization member per quota window; 0 means no quota.
    /// [default: 0]
    #[arg(
        long,
        env = "SLIPWAY_GATEWAY_ORG_MEMBER_QUOTA",
        value_name = "REQUESTS"
    )]
    pub org_member_quota: Option<u64>,

    /// The quota window, e.g. `7d`. [default: 7d]
    #[arg(long, env = "SLIPWAY_GATEWAY_QUOTA_WINDOW", value_name = "DURATION", value_parser = parse_duration)]
    pub quota_window: Option<Duration>,
    /// How long a key that exceeded its quota is refused, e.g. `10m`.
    /// [default: 10m]
    #[arg(long, env = "SLIPWAY_GATEWAY_QUOTA_BLOCK", value_name = "DURATION", value_parser = parse_duration)]
    pub quota_block: Option<Duration>,

    /// Prefix length of an anonymous IPv4 caller's network region. [default:
    /// 24]
    #[arg(long, env = "SLIPWAY_GATEWAY_IPV4_PREFIX", value_name = "BITS")]
    pub ipv4_prefix: Option<u8>,
    /// Prefix length of an anonymous IPv6 caller's network region. [default:
    /// 48]
    #[arg(long, env = "SLIPWAY_GATEWAY_IPV6_PREFIX", value_name = "BITS")]
    pub ipv6_prefix: Option<u8>,

    /// A proxy (address or CIDR network) whose `X-Forwarded-For` is
    /// believed; repeat the flag, or separate with commas in the
    /// environment variable. [default: none]
    #[arg(
        long = "trusted-proxy",
        env = "SLIPWAY_GATEWAY_TRUSTED_PROXIES",
        value_name = "CIDR",
        value_delimiter = ',',
        value_parser = parse_net
    )]
    pub trusted_proxies: Vec<IpNet>,

    /// How often nodes are health-checked (`GET /health`) and the node
    /// directory rescanned. [default: 1s]
    #[arg(long, env = "SLIPWAY_GATEWAY_HEALTH_INTERVAL", value_name = "DURATION", value_parser = parse_duration)]
    pub health_interval: Option<Duration>,
    /// How long a health check may take. [default: 1s]
    #[arg(long, env = "SLIPWAY_GATEWAY_HEALTH_TIMEOUT", value_name = "DURATION", value_parser = parse_duration)]
    pub health_timeout: Option<Duration>,
    /// How long connecting to a node may take. [default: 2s]
    #[arg(long, env = "SLIPWAY_GATEWAY_CONNECT_TIMEOUT", value_name = "DURATION", value_parser = parse_duration)]
    pub connect_timeout: Option<Duration>,

    /// How often the JWKS is refetched in any case. [default: 5m]
    #[arg(long, env = "SLIPWAY_GATEWAY_JWKS_REFRESH", value_name = "DURATION", value_parser = parse_duration)]
    pub jwks_refresh: Option<Duration>,
    /// The least time between two fetches caused by tokens naming an
    /// unknown key. [default: 5s]
    #[arg(long, env = "SLIPWAY_GATEWAY_JWKS_REFETCH_MIN", value_name = "DURATION", value_parser = parse_duration)]
    pub jwks_refetch_min: Option<Duration>,

    /// How many verified tokens are cached. [default: 10000]
    #[arg(long, env = "SLIPWAY_GATEWAY_TOKEN_CACHE_SIZE", value_name = "TOKENS")]
    pub token_cache_size: Option<usize>,
    /// How many keys (regions, users) each level's quota table tracks.
    /// [default: 100000]
    #[arg(long, env = "SLIPWAY_GATEWAY_MAX_TRACKED_KEYS", value_name = "KEYS")]
    pub max_tracked_keys: Option<usize>,

    /// Threads serving requests (each accepts connections and keeps its own
    /// node connections); 0 means one per CPU. [default: 0]
    #[arg(long, env = "SLIPWAY_GATEWAY_WORKERS", value_name = "THREADS")]
    pub workers: Option<usize>,
}

fn parse_duration(value: &str) -> Result<Duration, String> {
    humantime::parse_duration(value.trim()).map_err(|e| format!("{e} (e.g. 500ms, 10s, 7d)"))
}

fn parse_net(value: &str) -> Result<IpNet, String> {
    let value = value.trim();
    value
        .parse::<IpNet>()
        .or_else(|_| value.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{value:?} is neither an IP address nor a CIDR network"))
}

/// The `--config` file: the same options as the flags, in snake_case.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub cluster: Option<String>,
    pub public: Option<bool>,
    pub issuer: Option<String>,
    pub jwks_url: Option<String>,
    pub nodes: Option<Vec<String>>,
    pub node_dir: Option<PathBuf>,
    pub listen: Option<SocketAddr>,
    pub state_file: Option<PathBuf>,
    pub metrics_listen: Option<SocketAddr>,
    pub anonymous_rate: Option<f64>,
    pub anonymous_burst: Option<u32>,
    pub anonymous_quota: Option<u64>,
    pub member_rate: Option<f64>,
    pub member_burst: Option<u32>,
    pub member_quota: Option<u64>,
    pub org_member_rate: Option<f64>,
    pub org_member_burst: Option<u32>,
    pub org_member_quota: Option<u64>,
    #[serde(default, with = "humantime_serde")]
    pub quota_window: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub quota_block: Option<Duration>,
    pub ipv4_prefix: Option<u8>,
    pub ipv6_prefix: Option<u8>,
    pub trusted_proxies: Option<Vec<String>>,
    #[serde(default, with = "humantime_serde")]
    pub health_interval: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub health_timeout: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub connect_timeout: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub jwks_refresh: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub jwks_refetch_min: Option<Duration>,
    pub token_cache_size: Option<usize>,
    pub max_tracked_keys: Option<usize>,
    pub workers: Option<usize>,
}

impl FileConfig {
    pub fn read(path: &Path) -> Result<Self, GatewayError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| GatewayError::Config(format!("reading {}: {e}", path.display())))?;
        toml::from_str(&text).map_err(|e| GatewayError::Config(format!("{}: {e}", path.display())))
    }
}

/// One level's limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LevelLimit {
    /// Sustained requests per second; 0 means no rate limit.
    pub rate: f64,
    /// How many requests may come at once (the GCRA burst).
    pub burst: u32,
    /// Requests per [`Limits::quota_window`]; 0 means no quota.
    pub quota: u64,
}

impl LevelLimit {
    /// No rate limit and no quota.
    pub const UNLIMITED: LevelLimit = LevelLimit {
        rate: 0.0,
        burst: 0,
        quota: 0,
    };
}

/// Rate limits and quotas by level. Admins are never limited.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Anonymous callers, per network region.
    pub anonymous: LevelLimit,
    /// Members, per `sub`.
    pub member: LevelLimit,
    /// Organization members, per `sub`.
    pub org_member: LevelLimit,
    /// The long window quotas count over.
    pub quota_window: Duration,
    /// How long a key is refused once it exceeded its quota.
    pub quota_block: Duration,
    /// Prefix length of an IPv4 network region.
    pub ipv4_prefix: u8,
    /// Prefix length of an IPv6 network region.
    pub ipv6_prefix: u8,
    /// How many keys each level's quota table tracks at most.
    pub max_tracked_keys: usize,
}

impl Default for Limits {
    /// The previous generation's numbers where it had them: 5 requests/s
    /// with a burst of 10 for anonymous callers; 50,000 requests per address
    /// and 100,000 per user per week, then blocked for 10 minutes.
    fn default() -> Self {
        Self {
            anonymous: LevelLimit {
                rate: 5.0,
                burst: 10,
                quota: 50_000,
            },
            member: LevelLimit {
                rate: 10.0,
                burst: 20,
                quota: 100_000,
            },
            org_member: LevelLimit {
                rate: 100.0,
                burst: 200,
                quota: 0,
            },
            quota_window: Duration::from_secs(7 * 24 * 3600),
            quota_block: Duration::from_secs(600),
            ipv4_prefix: 24,
            ipv6_prefix: 48,
            max_tracked_keys: 100_000,
        }
    }
}

/// The gateway's resolved configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The cluster's name: the exact audience of admitted tokens.
    pub cluster: String,
    /// Public clusters admit callers without a token, as anonymous.
    pub public: bool,
    /// The exact `iss` of admitted tokens; `None`: no token is valid.
    pub issuer: Option<String>,
    /// Where the issuer's keys are (derived from the issuer when unset).
    pub jwks_url: Option<String>,
    /// Upstream nodes named directly (`http://host:port`).
    pub nodes: Vec<String>,
    /// A directory of `node-*.json` state files to follow.
    pub node_dir: Option<PathBuf>,
    /// Where to listen (used by `run` and `start`; [`super::serve`] takes a
    /// bound listener instead).
    pub listen: SocketAddr,
    /// Where `run` records itself.
    pub state_file: Option<PathBuf>,
    /// A separate address for `/metrics`.
    pub metrics_listen: Option<SocketAddr>,
    pub limits: Limits,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    pub health_interval: Duration,
    pub health_timeout: Duration,
    pub connect_timeout: Duration,
    pub jwks_refresh: Duration,
    pub jwks_refetch_min: Duration,
    pub token_cache_size: usize,
    /// Threads serving requests (0: one per CPU).
    pub workers: usize,
}

impl Config {
    /// A private cluster's gateway with every default and no upstreams.
    pub fn new(cluster: impl Into<String>) -> Self {
        Self {
            cluster: cluster.into(),
            public: false,
            issuer: None,
            jwks_url: None,
            nodes: Vec::new(),
            node_dir: None,
            listen: DEFAULT_LISTEN.parse().expect("a valid address"),
            state_file: None,
            metrics_listen: None,
            limits: Limits::default(),
            trusted_proxies: Vec::new(),
            health_interval: Duration::from_secs(1),
            health_timeout: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(2),
            jwks_refresh: Duration::from_secs(300),
            jwks_refetch_min: Duration::from_secs(5),
            token_cache_size: 10_000,
            workers: 0,
        }
    }

    /// Resolves flags and environment variables over the `--config` file
    /// over the defaults, and checks the result.
    pub fn from_args(args: &GatewayArgs) -> Result<Self, GatewayError> {
        let file = match &args.config {
            Some(path) => FileConfig::read(path)?,
            None => FileConfig::default(),
        };
        let cluster = non_empty(args.cluster.clone())
            .or(non_empty(file.cluster))
            .ok_or_else(|| {
                GatewayError::Config(
                    "the cluster name is required (--cluster or SLIPWAY_GATEWAY_CLUSTER)".into(),
                )
            })?;
        let mut config = Config::new(cluster);
        let d = config.clone();
        config.public = args.public.or(file.public).unwrap_or(d.public);
        config.issuer = non_empty(args.issuer.clone()).or(non_empty(file.issuer));
        config.jwks_url = non_empty(args.jwks_url.clone()).or(non_empty(file.jwks_url));
        config.nodes = if args.nodes.is_empty() {
            file.nodes.unwrap_or_default()
        } else {
            args.nodes.clone()
        };
        config.nodes.retain(|n| !n.trim().is_empty());
        config.node_dir = args.node_dir.clone().or(file.node_dir);
        config.listen = args.listen.or(file.listen).unwrap_or(d.listen);
        config.state_file = args.state_file.clone().or(file.state_file);
        config.metrics_listen = args.metrics_listen.or(file.metrics_listen);

        let dl = d.limits.clone();
        let level = |rate: Option<f64>,
                     frate: Option<f64>,
                     burst: Option<u32>,
                     fburst: Option<u32>,
                     quota: Option<u64>,
                     fquota: Option<u64>,
                     default: LevelLimit| {
            let given_rate = rate.or(frate);
            // A rate given without a burst gets two seconds' worth (at
            // least 1).
            let derived_burst = given_rate.map_or(default.burst, |r| {
                (r * 2.0).ceil().clamp(1.0, u32::MAX as f64) as u32
            });
            LevelLimit {
                rate: given_rate.unwrap_or(default.rate),
                burst: burst.or(fburst).unwrap_or(derived_burst),
                quota: quota.or(fquota).unwrap_or(default.quota),
            }
        };
        config.limits = Limits {
            anonymous: level(
                args.anonymous_rate,
                file.anonymous_rate,
                args.anonymous_burst,
                file.anonymous_burst,
                args.anonymous_quota,
                file.anonymous_quota,
                dl.anonymous,
            ),
            member: level(
                args.member_rate,
                file.member_rate,
                args.member_burst,
                file.member_burst,
                args.member_quota,
                file.member_quota,
                dl.member,
            ),
            org_member: level(
                args.org_member_rate,
                file.org_member_rate,
                args.org_member_burst,
                file.org_member_burst,
                args.org_member_quota,
                file.org_member_quota,
                dl.org_member,
            ),
            quota_window: args
                .quota_window
                .or(file.quota_window)
                .unwrap_or(dl.quota_window),
            quota_block: args
                .quota_block
                .or(file.quota_block)
                .unwrap_or(dl.quota_block),
            ipv4_prefix: args
                .ipv4_prefix
                .or(file.ipv4_prefix)
                .unwrap_or(dl.ipv4_prefix),
            ipv6_prefix: args
                .ipv6_prefix
                .or(file.ipv6_prefix)
                .unwrap_or(dl.ipv6_prefix),
            max_tracked_keys: args
                .max_tracked_keys
                .or(file.max_tracked_keys)
                .unwrap_or(dl.max_tracked_keys),
        };
        config.trusted_proxies = if args.trusted_proxies.is_empty() {
            file.trusted_proxies
                .unwrap_or_default()
                .iter()
                .map(|p| parse_net(p).map_err(GatewayError::Config))
                .collect::<Result<_, _>>()?
        } else {
            args.trusted_proxies.clone()
        };
        config.health_interval = args
            .health_interval
            .or(file.health_interval)
            .unwrap_or(d.health_interval);
        config.health_timeout = args
            .health_timeout
            .or(file.health_timeout)
            .unwrap_or(d.health_timeout);
        config.connect_timeout = args
            .connect_timeout
            .or(file.connect_timeout)
            .unwrap_or(d.connect_timeout);
        config.jwks_refresh = args
            .jwks_refresh
            .or(file.jwks_refresh)
            .unwrap_or(d.jwks_refresh);
        config.jwks_refetch_min = args
            .jwks_refetch_min
            .or(file.jwks_refetch_min)
            .unwrap_or(d.jwks_refetch_min);
        config.token_cache_size = args
            .token_cache_size
            .or(file.token_cache_size)
            .unwrap_or(d.token_cache_size);
        config.workers = args.workers.or(file.workers).unwrap_or(d.workers);
        config.validate()?;
        Ok(config)
    }

    /// Checks the configuration makes sense.
    pub fn validate(&self) -> Result<(), GatewayError> {
        let bad = |m: String| Err(GatewayError::Config(m));
        if self.cluster.is_empty()
            || self.cluster.len() > 255
            || self
                .cluster
                .chars()
                .any(|c| c.is_control() || c.is_whitespace())
        {
            return bad(format!("{:?} is not a cluster name", self.cluster));
        }
        for url in &self.nodes {
            if let Err(e) = super::upstream::parse_node_url(url) {
                return bad(format!("node {url:?}: {e}"));
            }
        }
        if let Some(issuer) = &self.issuer
            && !(issuer.starts_with("http://") || issuer.starts_with("https://"))
        {
            return bad(format!("the issuer {issuer:?} is not an http(s) URL"));
        }
        if let Some(url) = &self.jwks_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return bad(format!("the JWKS URL {url:?} is not an http(s) URL"));
        }
        for (name, limit) in [
            ("anonymous", self.limits.anonymous),
            ("member", self.limits.member),
            ("org_member", self.limits.org_member),
        ] {
            if !limit.rate.is_finite() || limit.rate < 0.0 {
                return bad(format!("{name} rate must be 0 or more"));
            }
            if limit.rate > 0.0 && limit.burst == 0 {
                return bad(format!("{name} burst must be at least 1"));
            }
            if limit.rate > 0.0 && limit.rate < 1e-6 {
                return bad(format!("{name} rate is too small"));
            }
        }
        if limit_positive(self.limits.quota_window).is_err()
            || limit_positive(self.limits.quota_block).is_err()
        {
            return bad("the quota window and block must be longer than 0".into());
        }
        if self.limits.ipv4_prefix > 32 || self.limits.ipv6_prefix > 128 {
            return bad("region prefixes are at most 32 (IPv4) and 128 (IPv6) bits".into());
        }
        for (name, d) in [
            ("health interval", self.health_interval),
            ("health timeout", self.health_timeout),
            ("connect timeout", self.connect_timeout),
            ("JWKS refresh", self.jwks_refresh),
        ] {
            if d.is_zero() {
                return bad(format!("the {name} must be longer than 0"));
            }
        }
        if self.token_cache_size == 0 || self.limits.max_tracked_keys == 0 {
            return bad("cache and table sizes must be at least 1".into());
        }
        Ok(())
    }

    /// The JWKS URL: the configured one, or the issuer's well-known one.
    pub fn effective_jwks_url(&self) -> Option<String> {
        self.jwks_url.clone().or_else(|| {
            self.issuer
                .as_ref()
                .map(|i| format!("{}/.well-known/jwks.json", i.trim_end_matches('/')))
        })
    }
}

fn limit_positive(d: Duration) -> Result<(), ()> {
    if d.is_zero() { Err(()) } else { Ok(()) }
}

/// Empty values (as Terraform passes unset variables) count as unset.
fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

impl GatewayArgs {
    /// The arguments that reproduce these options on a command line (what
    /// `start` gives the detached `run`): every set option as `--name=value`.
    pub fn to_args(&self) -> Vec<OsString> {
        fn kv(out: &mut Vec<OsString>, name: &str, value: impl AsRef<std::ffi::OsStr>) {
            // Empty means unset.
            if value.as_ref().is_empty() {
                return;
            }
            let mut arg = OsString::from(format!("--{name}="));
            arg.push(value);
            out.push(arg);
        }
        fn dur(d: &Duration) -> String {
            humantime::format_duration(*d).to_string()
        }
        let mut out = Vec::new();
        let o = &mut out;
        if let Some(v) = &self.config {
            kv(o, "config", v);
        }
        if let Some(v) = &self.cluster {
            kv(o, "cluster", v);
        }
        if let Some(v) = self.public {
            kv(o, "public", v.to_string());
        }
        if let Some(v) = &self.issuer {
            kv(o, "issuer", v);
        }
        if let Some(v) = &self.jwks_url {
            kv(o, "jwks-url", v);
        }
        for v in &self.nodes {
            kv(o, "node", v);
        }
        if let Some(v) = &self.node_dir {
            kv(o, "node-dir", v);
        }
        if let Some(v) = self.listen {
            kv(o, "listen", v.to_string());
        }
        if let Some(v) = &self.state_file {
            kv(o, "state-file", v);
        }
        if let Some(v) = self.metrics_listen {
            kv(o, "metrics-listen", v.to_string());
        }
        let numbers = [
            ("anonymous-rate", self.anonymous_rate.map(|v| v.to_string())),
            (
                "anonymous-burst",
                self.anonymous_burst.map(|v| v.to_string()),
            ),
            (
                "anonymous-quota",
                self.anonymous_quota.map(|v| v.to_string()),
            ),
            ("member-rate", self.member_rate.map(|v| v.to_string())),
            ("member-burst", self.member_burst.map(|v| v.to_string())),
            ("member-quota", self.member_quota.map(|v| v.to_string())),
            (
                "org-member-rate",
                self.org_member_rate.map(|v| v.to_string()),
            ),
            (
                "org-member-burst",
                self.org_member_burst.map(|v| v.to_string()),
            ),
            (
                "org-member-quota",
                self.org_member_quota.map(|v| v.to_string()),
            ),
            ("quota-window", self.quota_window.as_ref().map(dur)),
            ("quota-block", self.quota_block.as_ref().map(dur)),
            ("ipv4-prefix", self.ipv4_prefix.map(|v| v.to_string())),
            ("ipv6-prefix", self.ipv6_prefix.map(|v| v.to_string())),
        ];
        for (name, value) in numbers {
            if let Some(v) = value {
                kv(o, name, v);
            }
        }
        for v in &self.trusted_proxies {
            kv(o, "trusted-proxy", v.to_string());
        }
        let rest = [
            ("health-interval", self.health_interval.as_ref().map(dur)),
            ("health-timeout", self.health_timeout.as_ref().map(dur)),
            ("connect-timeout", self.connect_timeout.as_ref().map(dur)),
            ("jwks-refresh", self.jwks_refresh.as_ref().map(dur)),
            ("jwks-refetch-min", self.jwks_refetch_min.as_ref().map(dur)),
            (
                "token-cache-size",
                self.token_cache_size.map(|v| v.to_string()),
            ),
            (
                "max-tracked-keys",
                self.max_tracked_keys.map(|v| v.to_string()),
            ),
            ("workers", self.workers.map(|v| v.to_string())),
        ];
        for (name, value) in rest {
            if let Some(v) = value {
                kv(o, name, v);
            }
        }
        out
    }
}
