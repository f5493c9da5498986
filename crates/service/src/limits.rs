//! Request rates (GCRA, `governor`), the same whatever the transport: the
//! sign-in routes per client address, everything else per caller, and
//! failed authentications per client address — an address that keeps
//! presenting bad credentials is refused (429) before any credential it
//! sends is even looked at, until its allowance comes back.

use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use serde::{Deserialize, Serialize};

use crate::error::Error;

/// Request rates (`[auth.rate_limits]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    pub login_per_second: u32,
    pub login_burst: u32,
    pub api_per_second: u32,
    pub api_burst: u32,
    /// Failed authentications an address may make per minute, after a
    /// burst of `failed_auth_burst`; past it, its requests get 429 until
    /// the allowance comes back.
    pub failed_auth_per_minute: u32,
    pub failed_auth_burst: u32,
    /// Reverse proxies (addresses or CIDR networks) whose
    /// `X-Forwarded-For` is believed.
    #[serde(with = "slipway_core::net::networks")]
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            login_per_second: 2,
            login_burst: 30,
            api_per_second: 20,
            api_burst: 200,
            failed_auth_per_minute: 30,
            failed_auth_burst: 20,
            trusted_proxies: Vec::new(),
        }
    }
}

/// The service's limiters.
pub struct RateLimiters {
    login: DefaultKeyedRateLimiter<IpAddr>,
    api: DefaultKeyedRateLimiter<String>,
    failed_auth: DefaultKeyedRateLimiter<IpAddr>,
    /// Addresses that ran out of failed authentications, until when.
    blocked: parking_lot::Mutex<std::collections::HashMap<IpAddr, std::time::Instant>>,
}

fn nonzero(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n.max(1)).expect("at least one")
}

impl RateLimiters {
    pub fn new(config: &RateLimitConfig) -> Self {
        let per_second = |rate, burst| Quota::per_second(nonzero(rate)).allow_burst(nonzero(burst));
        Self {
            login: DefaultKeyedRateLimiter::keyed(per_second(
                config.login_per_second,
                config.login_burst,
            )),
            api: DefaultKeyedRateLimiter::keyed(per_second(
                config.api_per_second,
                config.api_burst,
            )),
            failed_auth: DefaultKeyedRateLimiter::keyed(
                Quota::per_minute(nonzero(config.failed_auth_per_minute))
                    .allow_burst(nonzero(config.failed_auth_burst)),
            ),
            blocked: Default::default(),
        }
    }

    /// Forgets keys that have been idle long enough to be back at full burst.
    pub fn evict_idle(&self) {
        for limiter in [&self.login, &self.failed_auth] {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        self.api.retain_recent();
        self.api.shrink_to_fit();
        let now = std::time::Instant::now();
        self.blocked.lock().retain(|_, until| *until > now);
    }

    /// A sign-in attempt from `client`.
    pub fn sign_in(&self, client: IpAddr) -> Result<(), Error> {
        self.login
            .check_key(&client)
            .map_err(|not_until| too_many("rate_limited", not_until))
    }

    /// A request by an authenticated caller (by subject).
    pub fn request(&self, subject: &str) -> Result<(), Error> {
        self.api
            .check_key(&subject.to_owned())
            .map_err(|not_until| too_many("rate_limited", not_until))
    }

    /// Refuses an address that ran out of failed authentications.
    pub fn check_not_blocked(&self, client: IpAddr) -> Result<(), Error> {
        let now = std::time::Instant::now();
        match self.blocked.lock().get(&client) {
            Some(until) if *until > now => Err(Error::rate_limited(
                "too_many_failed_authentications",
                *until - now,
            )),
            _ => Ok(()),
        }
    }

    /// Counts a failed authentication from `client`; past its allowance
    /// the address is blocked and the answer is 429 instead of `failure`.
    pub fn failed_authentication(&self, client: IpAddr, failure: Error) -> Error {
        match self.failed_auth.check_key(&client) {
            Ok(()) => failure,
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                self.blocked
                    .lock()
                    .insert(client, std::time::Instant::now() + wait);
                Error::rate_limited("too_many_failed_authentications", wait)
            }
        }
    }
}

fn too_many(code: &str, not_until: governor::NotUntil<governor::clock::QuantaInstant>) -> Error {
    Error::rate_limited(
        code,
        not_until.wait_time_from(DefaultClock::default().now()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_burst_is_allowed_then_refused() {
        let limits = RateLimiters::new(&RateLimitConfig {
            login_per_second: 1,
            login_burst: 3,
            ..RateLimitConfig::default()
        });
        let key: IpAddr = "1.2.3.4".parse().unwrap();
        for _ in 0..3 {
            assert!(limits.sign_in(key).is_ok());
        }
        assert!(limits.sign_in(key).is_err());
        assert!(limits.sign_in("5.6.7.8".parse().unwrap()).is_ok());
    }

    #[test]
    fn an_address_that_keeps_failing_is_blocked_and_others_are_not() {
        let limits = RateLimiters::new(&RateLimitConfig {
            failed_auth_per_minute: 1,
            failed_auth_burst: 2,
            ..RateLimitConfig::default()
        });
        let bad: IpAddr = "10.0.0.1".parse().unwrap();
        let failure = || Error::unauthenticated("no");
        for _ in 0..2 {
            assert!(limits.check_not_blocked(bad).is_ok());
            assert_eq!(
                limits.failed_authentication(bad, failure()).code,
                "unauthenticated"
            );
        }
        let refused = limits.failed_authentication(bad, failure());
        assert_eq!(refused.code, "too_many_failed_authentications");
        assert!(refused.retry_after.unwrap() >= 1);
        assert!(limits.check_not_blocked(bad).is_err());
        assert!(
            limits
                .check_not_blocked("10.0.0.2".parse().unwrap())
                .is_ok()
        );
    }
}
