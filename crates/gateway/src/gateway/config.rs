//! The gateway's options: one type, [`GatewayArgs`], for the command-line
//! flags, the `SLIPWAY_GATEWAY_*` environment variables and the `--config`
//! TOML file (keys: the fields' names), and the resolved, checked
//! [`Config`] the rest of the gateway uses.
//!
//! Precedence: flag, then environment variable (clap reads both into
//! [`GatewayArgs`]), then the file (figment merges the two), then the
//! default ([`Config::new`], [`LevelLimits::default`]). Empty names, URLs,
//! paths and node lists count as unset at every level.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize};
use slipway_core::net::parse_network;

use super::GatewayError;

/// Default listening address: loopback, a free port.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:0";

/// What the revocation list's file adds to the state file's path.
const REVOCATIONS_SUFFIX: &str = ".revocations";

/// Every option of `slipway gateway run|start`: the command line and the
/// environment (through clap) and the `--config` file (through serde) fill
/// in the same fields. Unset options fall back to the file, then to the
/// defaults documented on each.
#[derive(Debug, Clone, Default, PartialEq, clap::Args, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayArgs {
    /// A TOML file with any of these options (snake_case keys, e.g.
    /// `anonymous_rate = 5`); flags and environment variables override it.
    #[arg(long, env = "SLIPWAY_GATEWAY_CONFIG", value_name = "FILE", value_parser = path())]
    #[serde(skip)]
    pub config: Option<PathBuf>,

    /// The cluster's name: a token is admitted only if its audience is
    /// exactly this. Required.
    #[arg(long, env = "SLIPWAY_GATEWAY_CLUSTER")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,

    /// Whether the cluster is public (callers without a token are admitted
    /// as anonymous). `--public` alone means true.
    #[arg(
        long,
        env = "SLIPWAY_GATEWAY_PUBLIC",
        value_name = "BOOL",
        num_args = 0..=1,
        default_missing_value = "true"
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public: Option<bool>,

    /// The token issuer (Slipway's public URL), matched exactly against
    /// `iss`. Without one, no token is ever valid.
    #[arg(long, env = "SLIPWAY_GATEWAY_ISSUER")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,

    /// Where the issuer publishes its keys.
    #[arg(long, env = "SLIPWAY_GATEWAY_JWKS_URL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_url: Option<String>,

    /// Where the issuer publishes its signed list of revoked tokens.
    ///
    #[arg(long, env = "SLIPWAY_GATEWAY_REVOCATIONS_URL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revocations_url: Option<String>,

    /// An upstream node's URL (`http://host:port`); repeat the flag, or
    /// separate URLs with commas in the environment variable.
    #[arg(
        long = "node",
        env = "SLIPWAY_GATEWAY_NODES",
        value_name = "URL",
        value_delimiter = ','
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nodes: Option<Vec<String>>,

    /// A directory of node state files (`node-*.json`, as `slipway node`
    /// writes them), rescanned every health interval.
    #[arg(long, env = "SLIPWAY_GATEWAY_NODE_DIR", value_name = "DIR", value_parser = path())]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_dir: Option<PathBuf>,

    /// The address to listen on; port 0 picks a free port.
    #[arg(long, env = "SLIPWAY_GATEWAY_LISTEN", value_name = "ADDR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,

    /// Where the gateway records itself (JSON); its log is this path plus
    /// `.log` under `start`, its revocation list this path plus
    /// `.revocations`. Required by `start`.
    #[arg(long, env = "SLIPWAY_GATEWAY_STATE_FILE", value_name = "FILE", value_parser = path())]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_file: Option<PathBuf>,

    /// Serve `/metrics` on this separate address instead of on the main
    /// listener (which then forwards `/metrics` to the nodes).
    #[arg(long, env = "SLIPWAY_GATEWAY_METRICS_LISTEN", value_name = "ADDR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<SocketAddr>,

    /// Sustained requests per second per anonymous network region; 0 means
    /// unlimited.
    #[arg(
        long,
        env = "SLIPWAY_GATEWAY_ANONYMOUS_RATE",
        value_name = "PER_SECOND"
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anonymous_rate: Option<f64>,
    /// Burst per anonymous network region.
    #[arg(long, env = "SLIPWAY_GATEWAY_ANONYMOUS_BURST", value_name = "REQUESTS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anonymous_burst: Option<u32>,
    /// Requests per anonymous network region per quota window; 0 means no
    /// quota.
    #[arg(long, env = "SLIPWAY_GATEWAY_ANONYMOUS_QUOTA", value_name = "REQUESTS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anonymous_quota: Option<u64>,

    /// Sustained requests per second per member (`sub`); 0 means unlimited.
    ///
    #[arg(long, env = "SLIPWAY_GATEWAY_MEMBER_RATE", value_name = "PER_SECOND")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member_rate: Option<f64>,
    /// Burst per member.
    #[arg(long, env = "SLIPWAY_GATEWAY_MEMBER_BURST", value_name = "REQUESTS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member_burst: Option<u32>,
    /// Requests per member per quota window; 0 means no quota.
    #[arg(long, env = "SLIPWAY_GATEWAY_MEMBER_QUOTA", value_name = "REQUESTS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member_quota: Option<u64>,

    /// Sustained requests per second per organization member (`sub`); 0
    /// means unlimited.
    #[arg(
        long,
        env = "SLIPWAY_GATEWAY_ORG_MEMBER_RATE",
        value_name = "PER_SECOND"
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_member_rate: Option<f64>,
    /// Burst per organization member.
    #[arg(
        long,
        env = "SLIPWAY_GATEWAY_ORG_MEMBER_BURST",
        value_name = "REQUESTS"
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_member_burst: Option<u32>,
    /// Requests per organization member per quota window; 0 means no quota.
    ///
    #[arg(
        long,
        env = "SLIPWAY_GATEWAY_ORG_MEMBER_QUOTA",
        value_name = "REQUESTS"
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_member_quota: Option<u64>,

    /// The quota window, e.g. `7d`.
    #[arg(long, env = "SLIPWAY_GATEWAY_QUOTA_WINDOW", value_name = "DURATION", value_parser = parse_duration)]
    #[serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub quota_window: Option<Duration>,
    /// How long a key that exceeded its quota is refused, e.g. `10m`.
    ///
    #[arg(long, env = "SLIPWAY_GATEWAY_QUOTA_BLOCK", value_name = "DURATION", value_parser = parse_duration)]
    #[serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub quota_block: Option<Duration>,

    /// Prefix length of an anonymous IPv4 caller's network region.
    #[arg(long, env = "SLIPWAY_GATEWAY_IPV4_PREFIX", value_name = "BITS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv4_prefix: Option<u8>,
    /// Prefix length of an anonymous IPv6 caller's network region.
    #[arg(long, env = "SLIPWAY_GATEWAY_IPV6_PREFIX", value_name = "BITS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv6_prefix: Option<u8>,

    /// A proxy (address or CIDR network) whose `X-Forwarded-For` is
    /// believed; repeat the flag, or separate with commas in the
    /// environment variable.
    #[arg(
        long = "trusted-proxy",
        env = "SLIPWAY_GATEWAY_TRUSTED_PROXIES",
        value_name = "CIDR",
        value_delimiter = ',',
        value_parser = parse_network
    )]
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "networks")]
    pub trusted_proxies: Option<Vec<IpNet>>,

    /// How often nodes are health-checked (`GET /health`) and the node
    /// directory rescanned.
    #[arg(long, env = "SLIPWAY_GATEWAY_HEALTH_INTERVAL", value_name = "DURATION", value_parser = parse_duration)]
    #[serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub health_interval: Option<Duration>,
    /// How long a health check may take.
    #[arg(long, env = "SLIPWAY_GATEWAY_HEALTH_TIMEOUT", value_name = "DURATION", value_parser = parse_duration)]
    #[serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub health_timeout: Option<Duration>,
    /// How long connecting to a node may take.
    #[arg(long, env = "SLIPWAY_GATEWAY_CONNECT_TIMEOUT", value_name = "DURATION", value_parser = parse_duration)]
    #[serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub connect_timeout: Option<Duration>,

    /// How often the JWKS is refetched in any case.
    #[arg(long, env = "SLIPWAY_GATEWAY_JWKS_REFRESH", value_name = "DURATION", value_parser = parse_duration)]
    #[serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub jwks_refresh: Option<Duration>,
    /// The least time between two fetches caused by tokens naming an
    /// unknown key.
    #[arg(long, env = "SLIPWAY_GATEWAY_JWKS_REFETCH_MIN", value_name = "DURATION", value_parser = parse_duration)]
    #[serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub jwks_refetch_min: Option<Duration>,
    /// How long the gateway waits between two polls of the revocation list:
    /// a revocation reaches it within this plus one fetch.
    #[arg(long, env = "SLIPWAY_GATEWAY_REVOCATIONS_REFRESH", value_name = "DURATION", value_parser = parse_duration)]
    #[serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub revocations_refresh: Option<Duration>,

    /// How many verified tokens are cached.
    #[arg(long, env = "SLIPWAY_GATEWAY_TOKEN_CACHE_SIZE", value_name = "TOKENS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_cache_size: Option<usize>,
    /// How many keys (regions, users) each level's quota table tracks.
    ///
    #[arg(long, env = "SLIPWAY_GATEWAY_MAX_TRACKED_KEYS", value_name = "KEYS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tracked_keys: Option<usize>,

    /// Threads serving requests (each accepts connections and keeps its own
    /// node connections); 0 means one per CPU.
    #[arg(long, env = "SLIPWAY_GATEWAY_WORKERS", value_name = "THREADS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workers: Option<usize>,
}

/// An option's help with its default (from [`GatewayArgs::defaults`]) at
/// the end, as clap shows defaults: for `mut_args` on the commands that take
/// [`GatewayArgs`]. (A clap default value would fill the option and hide the
/// `--config` file's value under it.)
pub fn with_default_in_help(arg: clap::Arg) -> clap::Arg {
    let id = arg.get_id().as_str().to_owned();
    match GatewayArgs::defaults()
        .into_iter()
        .find(|(option, _)| *option == id)
    {
        Some((_, default)) => {
            let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
            arg.help(format!("{help} [default: {default}]"))
        }
        None => arg,
    }
}

/// Paths; unlike clap's own parser, this one lets an empty value through
/// (to count as unset).
fn path() -> impl clap::builder::TypedValueParser<Value = PathBuf> {
    use clap::builder::TypedValueParser;
    clap::builder::OsStringValueParser::new().map(PathBuf::from)
}

fn parse_duration(value: &str) -> Result<Duration, String> {
    humantime::parse_duration(value.trim()).map_err(|e| format!("{e} (e.g. 500ms, 10s, 7d)"))
}

/// Networks in the file: CIDRs or single addresses.
fn networks<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<IpNet>>, D::Error> {
    slipway_core::net::networks::deserialize(d).map(Some)
}

impl GatewayArgs {
    /// Every option's default, by option id: taken from the defaults the
    /// gateway uses ([`Config::new`], [`LevelLimits::default`]), so they are
    /// stated once — `--help` shows them ([`with_default_in_help`]) and a
    /// test checks the README's table against them. Options without a
    /// default (required, or off unless given) are not listed.
    pub fn defaults() -> Vec<(&'static str, String)> {
        let d = Config::new(String::new());
        let l = &d.limits;
        let time = |t: Duration| slipway_core::duration::format_duration(t);
        vec![
            ("public", d.public.to_string()),
            ("jwks_url", "ISSUER/.well-known/jwks.json".into()),
            ("revocations_url", "ISSUER/.well-known/revocations".into()),
            ("listen", d.listen.to_string()),
            ("anonymous_rate", l.anonymous.rate.to_string()),
            ("anonymous_burst", l.anonymous.burst.to_string()),
            ("anonymous_quota", l.anonymous.quota.to_string()),
            ("member_rate", l.member.rate.to_string()),
            ("member_burst", l.member.burst.to_string()),
            ("member_quota", l.member.quota.to_string()),
            ("org_member_rate", l.org_member.rate.to_string()),
            ("org_member_burst", l.org_member.burst.to_string()),
            ("org_member_quota", l.org_member.quota.to_string()),
            ("quota_window", time(l.quota_window)),
            ("quota_block", time(l.quota_block)),
            ("ipv4_prefix", l.ipv4_prefix.to_string()),
            ("ipv6_prefix", l.ipv6_prefix.to_string()),
            ("max_tracked_keys", l.max_tracked_keys.to_string()),
            ("trusted_proxies", "none".into()),
            ("health_interval", time(d.health_interval)),
            ("health_timeout", time(d.health_timeout)),
            ("connect_timeout", time(d.connect_timeout)),
            ("jwks_refresh", time(d.jwks_refresh)),
            ("jwks_refetch_min", time(d.jwks_refetch_min)),
            ("revocations_refresh", time(d.revocations_refresh)),
            ("token_cache_size", d.token_cache_size.to_string()),
            ("workers", d.workers.to_string()),
        ]
    }

    /// These options over those of the `--config` file (if one is named):
    /// every option given somewhere, and `None` for the others. Empty
    /// values count as unset, so an empty variable leaves the file's value.
    pub fn merged(&self) -> Result<GatewayArgs, GatewayError> {
        let given = self.clone().without_empty();
        let mut figment = Figment::new();
        if let Some(path) = &given.config {
            figment = figment.merge(Toml::file_exact(path));
        }
        let mut merged: GatewayArgs = figment
            .merge(Serialized::defaults(&given))
            .extract()
            .map_err(|err| {
                let err = err.to_string();
                GatewayError::Config(match &given.config {
                    Some(path) if !err.contains(&*path.to_string_lossy()) => {
                        format!("{}: {err}", path.display())
                    }
                    _ => err,
                })
            })?;
        merged.config = given.config;
        Ok(merged.without_empty())
    }

    /// Empty values (as Terraform passes unset variables) count as unset.
    fn without_empty(mut self) -> Self {
        for text in [
            &mut self.cluster,
            &mut self.issuer,
            &mut self.jwks_url,
            &mut self.revocations_url,
        ] {
            if text.as_deref().is_some_and(|t| t.trim().is_empty()) {
                *text = None;
            }
        }
        for path in [&mut self.config, &mut self.node_dir, &mut self.state_file] {
            if path.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
                *path = None;
            }
        }
        if let Some(nodes) = &mut self.nodes {
            nodes.retain(|n| !n.trim().is_empty());
        }
        if self.nodes.as_ref().is_some_and(Vec::is_empty) {
            self.nodes = None;
        }
        if self.trusted_proxies.as_ref().is_some_and(Vec::is_empty) {
            self.trusted_proxies = None;
        }
        self
    }

    /// Fills in the defaults (the options are merged already).
    fn resolve(self) -> Result<Config, GatewayError> {
        let cluster = self.cluster.ok_or_else(|| {
            GatewayError::Config(
                "the cluster name is required (--cluster or SLIPWAY_GATEWAY_CLUSTER)".into(),
            )
        })?;
        let d = Config::new(cluster);
        let dl = d.limits.clone();
        // A rate given without a burst gets two seconds' worth (at least 1).
        let level =
            |rate: Option<f64>, burst: Option<u32>, quota: Option<u64>, default: LevelLimit| {
                let derived_burst = rate.map_or(default.burst, |r| {
                    (r * 2.0).ceil().clamp(1.0, u32::MAX as f64) as u32
                });
                LevelLimit {
                    rate: rate.unwrap_or(default.rate),
                    burst: burst.unwrap_or(derived_burst),
                    quota: quota.unwrap_or(default.quota),
                }
            };
        let config = Config {
            public: self.public.unwrap_or(d.public),
            issuer: self.issuer,
            jwks_url: self.jwks_url,
            revocations_url: self.revocations_url,
            nodes: self.nodes.unwrap_or_default(),
            node_dir: self.node_dir,
            listen: self.listen.unwrap_or(d.listen),
            state_file: self.state_file,
            metrics_listen: self.metrics_listen,
            limits: LevelLimits {
                anonymous: level(
                    self.anonymous_rate,
                    self.anonymous_burst,
                    self.anonymous_quota,
                    dl.anonymous,
                ),
                member: level(
                    self.member_rate,
                    self.member_burst,
                    self.member_quota,
                    dl.member,
                ),
                org_member: level(
                    self.org_member_rate,
                    self.org_member_burst,
                    self.org_member_quota,
                    dl.org_member,
                ),
                quota_window: self.quota_window.unwrap_or(dl.quota_window),
                quota_block: self.quota_block.unwrap_or(dl.quota_block),
                ipv4_prefix: self.ipv4_prefix.unwrap_or(dl.ipv4_prefix),
                ipv6_prefix: self.ipv6_prefix.unwrap_or(dl.ipv6_prefix),
                max_tracked_keys: self.max_tracked_keys.unwrap_or(dl.max_tracked_keys),
            },
            trusted_proxies: self.trusted_proxies.unwrap_or_default(),
            health_interval: self.health_interval.unwrap_or(d.health_interval),
            health_timeout: self.health_timeout.unwrap_or(d.health_timeout),
            connect_timeout: self.connect_timeout.unwrap_or(d.connect_timeout),
            jwks_refresh: self.jwks_refresh.unwrap_or(d.jwks_refresh),
            jwks_refetch_min: self.jwks_refetch_min.unwrap_or(d.jwks_refetch_min),
            revocations_refresh: self.revocations_refresh.unwrap_or(d.revocations_refresh),
            token_cache_size: self.token_cache_size.unwrap_or(d.token_cache_size),
            workers: self.workers.unwrap_or(d.workers),
            ..d
        };
        config.validate()?;
        Ok(config)
    }
}

/// One level's limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LevelLimit {
    /// Sustained requests per second; 0 means no rate limit.
    pub rate: f64,
    /// How many requests may come at once (the GCRA burst).
    pub burst: u32,
    /// Requests per [`LevelLimits::quota_window`]; 0 means no quota.
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
pub struct LevelLimits {
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

impl Default for LevelLimits {
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
    /// Where the issuer's revocation list is (derived from the issuer when
    /// unset).
    pub revocations_url: Option<String>,
    /// Upstream nodes named directly (`http://host:port`).
    pub nodes: Vec<String>,
    /// A directory of `node-*.json` state files to follow.
    pub node_dir: Option<PathBuf>,
    /// Where to listen (used by `run` and `start`; [`super::serve`] takes a
    /// bound listener instead).
    pub listen: SocketAddr,
    /// Where `run` records itself; the revocation list is kept beside it
    /// (see [`Config::revocations_file`]).
    pub state_file: Option<PathBuf>,
    /// A separate address for `/metrics`.
    pub metrics_listen: Option<SocketAddr>,
    pub limits: LevelLimits,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    pub health_interval: Duration,
    pub health_timeout: Duration,
    pub connect_timeout: Duration,
    pub jwks_refresh: Duration,
    pub jwks_refetch_min: Duration,
    /// The pause between two polls of the revocation list.
    pub revocations_refresh: Duration,
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
            revocations_url: None,
            nodes: Vec::new(),
            node_dir: None,
            listen: DEFAULT_LISTEN.parse().expect("a valid address"),
            state_file: None,
            metrics_listen: None,
            limits: LevelLimits::default(),
            trusted_proxies: Vec::new(),
            health_interval: Duration::from_secs(1),
            health_timeout: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(2),
            jwks_refresh: Duration::from_secs(300),
            jwks_refetch_min: Duration::from_secs(5),
            revocations_refresh: Duration::from_secs(2),
            token_cache_size: 10_000,
            workers: 0,
        }
    }

    /// Resolves flags and environment variables over the `--config` file
    /// over the defaults, and checks the result.
    pub fn from_args(args: &GatewayArgs) -> Result<Self, GatewayError> {
        args.merged()?.resolve()
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
        for (name, url) in [
            ("JWKS URL", &self.jwks_url),
            ("revocations URL", &self.revocations_url),
        ] {
            if let Some(url) = url
                && !(url.starts_with("http://") || url.starts_with("https://"))
            {
                return bad(format!("the {name} {url:?} is not an http(s) URL"));
            }
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
            ("revocations refresh", self.revocations_refresh),
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
        self.jwks_url
            .clone()
            .or_else(|| self.well_known("jwks.json"))
    }

    /// The revocation list's URL: the configured one, or the issuer's
    /// well-known one. `None` without an issuer (no token is valid then,
    /// and no list could be verified).
    pub fn effective_revocations_url(&self) -> Option<String> {
        self.issuer.as_ref()?;
        self.revocations_url
            .clone()
            .or_else(|| self.well_known("revocations"))
    }

    /// Where the revocation list is kept between runs: the state file's
    /// path plus `.revocations`. `None` without a state file.
    pub fn revocations_file(&self) -> Option<PathBuf> {
        self.state_file.as_ref().map(|path| {
            let mut path = path.as_os_str().to_owned();
            path.push(REVOCATIONS_SUFFIX);
            PathBuf::from(path)
        })
    }

    fn well_known(&self, name: &str) -> Option<String> {
        self.issuer
            .as_ref()
            .map(|i| format!("{}/.well-known/{name}", i.trim_end_matches('/')))
    }
}

fn limit_positive(d: Duration) -> Result<(), ()> {
    if d.is_zero() { Err(()) } else { Ok(()) }
}
