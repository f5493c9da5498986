//! Request rates of the API (GCRA, `governor`): the sign-in routes per
//! client address, everything else per user. The client address is the
//! peer's, unless the peer is a trusted proxy: then the nearest address in
//! `X-Forwarded-For` that is not one.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::app::App;
use crate::auth::Caller;
use crate::config::RateLimitConfig;
use crate::error::ApiError;

/// The API's limiters.
pub struct RateLimits {
    login: DefaultKeyedRateLimiter<IpAddr>,
    api: DefaultKeyedRateLimiter<String>,
    trusted_proxies: Vec<IpAddr>,
}

fn quota(per_second: u32, burst: u32) -> Quota {
    let nonzero = |n: u32| NonZeroU32::new(n.max(1)).expect("at least one");
    Quota::per_second(nonzero(per_second)).allow_burst(nonzero(burst))
}

impl RateLimits {
    pub fn new(config: &RateLimitConfig) -> Self {
        Self {
            login: DefaultKeyedRateLimiter::keyed(quota(
                config.login_per_second,
                config.login_burst,
            )),
            api: DefaultKeyedRateLimiter::keyed(quota(config.api_per_second, config.api_burst)),
            trusted_proxies: config.trusted_proxies.clone(),
        }
    }

    /// Forgets keys that have been idle long enough to be back at full burst.
    pub fn evict_idle(&self) {
        self.login.retain_recent();
        self.login.shrink_to_fit();
        self.api.retain_recent();
        self.api.shrink_to_fit();
    }

    /// The client's address: the peer, or — from a trusted proxy — the
    /// nearest `X-Forwarded-For` entry that is not a trusted proxy.
    pub fn client_address(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusted_proxies.contains(&peer) {
            return peer;
        }
        let forwarded: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|a| a.trim().parse().ok())
            .collect();
        forwarded
            .into_iter()
            .rev()
            .find(|a| !self.trusted_proxies.contains(a))
            .unwrap_or(peer)
    }
}

fn too_many(wait: std::time::Duration) -> Response {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let mut err = ApiError::new(
        axum::http::StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!("too many requests; try again in {seconds} s"),
    );
    err.retry_after = Some(seconds.max(1));
    err.into_response()
}

/// Middleware for the sign-in routes: limited per client address.
pub async fn per_address(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let limits = &app.rate_limits;
    let client = limits.client_address(peer.ip(), request.headers());
    match limits.login.check_key(&client) {
        Ok(()) => next.run(request).await,
        Err(not_until) => too_many(not_until.wait_time_from(DefaultClock::default().now())),
    }
}

/// Middleware for everything else: limited per user (after authentication).
pub async fn per_user(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let login = request
        .extensions()
        .get::<Caller>()
        .map(|c| c.login().to_owned());
    if let Some(login) = login
        && let Err(not_until) = app.rate_limits.api.check_key(&login)
    {
        return too_many(not_until.wait_time_from(DefaultClock::default().now()));
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(trusted: &[&str]) -> RateLimits {
        RateLimits::new(&RateLimitConfig {
            trusted_proxies: trusted.iter().map(|a| a.parse().unwrap()).collect(),
            ..RateLimitConfig::default()
        })
    }

    fn forwarded(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", value.parse().unwrap());
        h
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let ip = |a: &str| a.parse::<IpAddr>().unwrap();
        let untrusted = limits(&[]);
        assert_eq!(
            untrusted.client_address(ip("10.0.0.9"), &forwarded("1.2.3.4")),
            ip("10.0.0.9")
        );
        let trusted = limits(&["10.0.0.9", "10.0.0.8"]);
        assert_eq!(
            trusted.client_address(ip("10.0.0.9"), &forwarded("1.2.3.4")),
            ip("1.2.3.4")
        );
        // a spoofed leftmost entry does not win over the real client
        assert_eq!(
            trusted.client_address(ip("10.0.0.9"), &forwarded("6.6.6.6, 1.2.3.4, 10.0.0.8")),
            ip("1.2.3.4")
        );
        assert_eq!(
            trusted.client_address(ip("10.0.0.9"), &HeaderMap::new()),
            ip("10.0.0.9")
        );
    }

    #[test]
    fn the_burst_is_allowed_then_refused() {
        let limits = RateLimits::new(&RateLimitConfig {
            login_per_second: 1,
            login_burst: 3,
            ..RateLimitConfig::default()
        });
        let key: IpAddr = "1.2.3.4".parse().unwrap();
        for _ in 0..3 {
            assert!(limits.login.check_key(&key).is_ok());
        }
        assert!(limits.login.check_key(&key).is_err());
        assert!(limits.login.check_key(&"5.6.7.8".parse().unwrap()).is_ok());
    }
}
