//! The gateway's Prometheus metrics (`GET /metrics`, OpenMetrics text).
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `slipway_gateway_requests_total` | counter | `level` (anonymous, member, org_member, admin, none — refused before a level was known) |
//! | `slipway_gateway_responses_total` | counter | `class` (2xx, 3xx, 4xx, 5xx, other) |
//! | `slipway_gateway_refusals_total` | counter | `reason` (unauthenticated, invalid_token, token_expired, token_revoked, forbidden, rate_limited, quota_exceeded, no_healthy_node, bad_gateway, issuer_unavailable) |
//! | `slipway_gateway_request_duration_seconds` | histogram | — time from the request's arrival to its response's headers |
//! | `slipway_gateway_upstream_retries_total` | counter | — requests retried on another node |
//! | `slipway_gateway_upstream_connections_total` | counter | — connections opened to nodes (health checks excluded) |
//! | `slipway_gateway_nodes` | gauge | `state` (healthy, unhealthy) |
//! | `slipway_gateway_token_checks_total` | counter | `result` (cached, verified, rejected, revoked) |
//! | `slipway_gateway_token_cache_entries` | gauge | — |
//! | `slipway_gateway_jwks_fetches_total` | counter | `result` (ok, error) |
//! | `slipway_gateway_jwks_keys` | gauge | — keys currently known |
//! | `slipway_gateway_revocation_fetches_total` | counter | `result` (ok: a verified list applied, unchanged: 304, error: no list obtained, invalid: a list that does not verify, ignored) |
//! | `slipway_gateway_revoked_tokens` | gauge | — revoked token ids the gateway refuses |
//! | `slipway_gateway_revoked_subjects` | gauge | — people whose tokens for this cluster issued before a time the gateway refuses |
//! | `slipway_gateway_revocation_list_age_seconds` | gauge | — since the list was last known current (fetched, or confirmed by a 304), or since the gateway started if never; 0 without an issuer |
//! | `slipway_gateway_limiter_keys` | gauge | `table` (rate, quota) — keys tracked |

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use slipway_core::Level;

type Labels = Vec<(&'static str, &'static str)>;

/// Why a request was refused (the `reason` label and the JSON error code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    Unauthenticated,
    InvalidToken,
    TokenExpired,
    TokenRevoked,
    Forbidden,
    RateLimited,
    QuotaExceeded,
    NoHealthyNode,
    BadGateway,
    IssuerUnavailable,
}

impl Reason {
    pub const ALL: [Reason; 10] = [
        Reason::Unauthenticated,
        Reason::InvalidToken,
        Reason::TokenExpired,
        Reason::TokenRevoked,
        Reason::Forbidden,
        Reason::RateLimited,
        Reason::QuotaExceeded,
        Reason::NoHealthyNode,
        Reason::BadGateway,
        Reason::IssuerUnavailable,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Reason::Unauthenticated => "unauthenticated",
            Reason::InvalidToken => "invalid_token",
            Reason::TokenExpired => "token_expired",
            Reason::TokenRevoked => "token_revoked",
            Reason::Forbidden => "forbidden",
            Reason::RateLimited => "rate_limited",
            Reason::QuotaExceeded => "quota_exceeded",
            Reason::NoHealthyNode => "no_healthy_node",
            Reason::BadGateway => "bad_gateway",
            Reason::IssuerUnavailable => "issuer_unavailable",
        }
    }

    fn index(self) -> usize {
        Reason::ALL
            .iter()
            .position(|r| *r == self)
            .expect("every reason is in ALL")
    }
}

/// What one poll of the revocation list came to: the `result` label of
/// `slipway_gateway_revocation_fetches_total`, in its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FetchResult {
    /// A verified list, applied.
    Ok = 0,
    /// `304`: the list applied last is still current.
    Unchanged = 1,
    /// No list obtained.
    Error = 2,
    /// A list that does not verify, ignored.
    Invalid = 3,
}

pub(crate) struct Metrics {
    registry: Registry,
    requests_by_level: [Counter; 4],
    requests_unknown: Counter,
    responses: [Counter; 5],
    refusals: [Counter; Reason::ALL.len()],
    pub latency: Histogram,
    pub retries: Counter,
    pub upstream_connections: Counter,
    pub nodes_healthy: Gauge,
    pub nodes_unhealthy: Gauge,
    pub token_cached: Counter,
    pub token_verified: Counter,
    pub token_rejected: Counter,
    pub token_revoked: Counter,
    pub token_cache_entries: Gauge,
    pub jwks_ok: Counter,
    pub jwks_error: Counter,
    pub jwks_keys: Gauge,
    /// By result: ok, unchanged, error, invalid.
    revocation_fetches: [Counter; 4],
    pub revoked_tokens: Gauge,
    pub revoked_subjects: Gauge,
    /// Set from `revocations_confirmed_at` whenever the metrics are read.
    revocation_list_age: Gauge<f64, AtomicU64>,
    revocations_enabled: AtomicBool,
    /// Unix milliseconds; 0: never.
    revocations_confirmed_at: AtomicI64,
    started_at: i64,
    pub limiter_rate_keys: Gauge,
    pub limiter_quota_keys: Gauge,
}

fn level_index(level: Level) -> usize {
    match level {
        Level::Anonymous => 0,
        Level::Member => 1,
        Level::OrgMember => 2,
        Level::Admin => 3,
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("slipway_gateway");

        let requests = Family::<Labels, Counter>::default();
        registry.register(
            "requests",
            "Requests received, by the caller's level",
            requests.clone(),
        );
        let requests_by_level =
            Level::ALL.map(|l| requests.get_or_create(&vec![("level", l.as_str())]).clone());
        let requests_unknown = requests.get_or_create(&vec![("level", "none")]).clone();

        let responses = Family::<Labels, Counter>::default();
        registry.register(
            "responses",
            "Responses sent, by status class",
            responses.clone(),
        );
        let responses = ["2xx", "3xx", "4xx", "5xx", "other"]
            .map(|c| responses.get_or_create(&vec![("class", c)]).clone());

        let refusals = Family::<Labels, Counter>::default();
        registry.register(
            "refusals",
            "Requests the gateway answered itself with an error, by reason",
            refusals.clone(),
        );
        let refusals =
            Reason::ALL.map(|r| refusals.get_or_create(&vec![("reason", r.code())]).clone());

        let latency = Histogram::new(exponential_buckets(0.000_05, 2.0, 16));
        registry.register(
            "request_duration_seconds",
            "Time from a request's arrival to its response's headers",
            latency.clone(),
        );
        let retries = Counter::default();
        registry.register(
            "upstream_retries",
            "Requests retried on another node",
            retries.clone(),
        );

        let upstream_connections = Counter::default();
        registry.register(
            "upstream_connections",
            "Connections opened to nodes (health checks excluded)",
            upstream_connections.clone(),
        );

        let nodes = Family::<Labels, Gauge>::default();
        registry.register("nodes", "Upstream nodes, by health", nodes.clone());
        let nodes_healthy = nodes.get_or_create(&vec![("state", "healthy")]).clone();
        let nodes_unhealthy = nodes.get_or_create(&vec![("state", "unhealthy")]).clone();

        let checks = Family::<Labels, Counter>::default();
        registry.register(
            "token_checks",
            "Tokens checked: from the cache, verified, rejected",
            checks.clone(),
        );
        let token_cached = checks.get_or_create(&vec![("result", "cached")]).clone();
        let token_verified = checks.get_or_create(&vec![("result", "verified")]).clone();
        let token_rejected = checks.get_or_create(&vec![("result", "rejected")]).clone();
        let token_revoked = checks.get_or_create(&vec![("result", "revoked")]).clone();
        let token_cache_entries = Gauge::default();
        registry.register(
            "token_cache_entries",
            "Verified tokens cached",
            token_cache_entries.clone(),
        );

        let fetches = Family::<Labels, Counter>::default();
        registry.register("jwks_fetches", "JWKS fetches, by result", fetches.clone());
        let jwks_ok = fetches.get_or_create(&vec![("result", "ok")]).clone();
        let jwks_error = fetches.get_or_create(&vec![("result", "error")]).clone();
        let jwks_keys = Gauge::default();
        registry.register("jwks_keys", "Signing keys known", jwks_keys.clone());

        let fetches = Family::<Labels, Counter>::default();
        registry.register(
            "revocation_fetches",
            "Polls of the issuer's revocation list, by result",
            fetches.clone(),
        );
        let revocation_fetches = ["ok", "unchanged", "error", "invalid"]
            .map(|r| fetches.get_or_create(&vec![("result", r)]).clone());
        let revoked_tokens = Gauge::default();
        registry.register(
            "revoked_tokens",
            "Revoked token ids refused until they expire",
            revoked_tokens.clone(),
        );
        let revoked_subjects = Gauge::default();
        registry.register(
            "revoked_subjects",
            "People whose tokens for this cluster issued before a time are refused",
            revoked_subjects.clone(),
        );
        let revocation_list_age = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "revocation_list_age_seconds",
            "Time since the revocation list was last known current",
            revocation_list_age.clone(),
        );

        let limiter = Family::<Labels, Gauge>::default();
        registry.register(
            "limiter_keys",
            "Keys (regions, users) tracked by the rate limiters and quota tables",
            limiter.clone(),
        );
        let limiter_rate_keys = limiter.get_or_create(&vec![("table", "rate")]).clone();
        let limiter_quota_keys = limiter.get_or_create(&vec![("table", "quota")]).clone();

        Self {
            registry,
            requests_by_level,
            requests_unknown,
            responses,
            refusals,
            latency,
            retries,
            upstream_connections,
            nodes_healthy,
            nodes_unhealthy,
            token_cached,
            token_verified,
            token_rejected,
            token_revoked,
            token_cache_entries,
            jwks_ok,
            jwks_error,
            jwks_keys,
            revocation_fetches,
            revoked_tokens,
            revoked_subjects,
            revocation_list_age,
            revocations_enabled: AtomicBool::new(false),
            revocations_confirmed_at: AtomicI64::new(0),
            started_at: unix_millis(),
            limiter_rate_keys,
            limiter_quota_keys,
        }
    }

    pub fn request(&self, level: Option<Level>) {
        match level {
            Some(level) => self.requests_by_level[level_index(level)].inc(),
            None => self.requests_unknown.inc(),
        };
    }

    pub fn response(&self, status: u16) {
        let class = match status {
            200..=299 => 0,
            300..=399 => 1,
            400..=499 => 2,
            500..=599 => 3,
            _ => 4,
        };
        self.responses[class].inc();
    }

    pub fn refusal(&self, reason: Reason) {
        self.refusals[reason.index()].inc();
    }

    /// Counts a poll of the revocation list.
    pub fn revocation_fetch(&self, result: FetchResult) {
        self.revocation_fetches[result as usize].inc();
    }

    /// Whether the gateway follows a revocation list at all.
    pub fn revocations_enabled(&self, enabled: bool) {
        self.revocations_enabled.store(enabled, Ordering::Release);
    }

    /// The revocation list was known current at `at` (unix seconds).
    pub fn revocations_confirmed(&self, at: i64) {
        self.revocations_confirmed_at
            .store(at.saturating_mul(1000), Ordering::Release);
    }

    /// The metrics as OpenMetrics text.
    pub fn encode(&self) -> String {
        let age = if self.revocations_enabled.load(Ordering::Acquire) {
            let confirmed = self.revocations_confirmed_at.load(Ordering::Acquire);
            let since = if confirmed > 0 {
                confirmed
            } else {
                self.started_at
            };
            (unix_millis() - since).max(0) as f64 / 1000.0
        } else {
            0.0
        };
        self.revocation_list_age.set(age);
        let mut out = String::with_capacity(4096);
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

fn unix_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The content type of [`Metrics::encode`]'s output.
pub(crate) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
