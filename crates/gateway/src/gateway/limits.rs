//! Rate limits and long-window quotas.
//!
//! - **Keys**: anonymous callers by network region (the client address
//!   masked to `ipv4_prefix` / `ipv6_prefix` bits), members and organization
//!   members by `sub`, each level in its own tables with its own limits.
//!   Admins are never limited.
//! - **Rate**: GCRA ([`governor`]) with a sustained rate and a burst.
//! - **Quota**: a fixed window (default a week) starting at a key's first
//!   request; the request that goes over the quota starts a block (default
//!   10 minutes) during which every request of the key is refused; when the
//!   block ends the key starts a fresh window.
//! - **Memory**: idle keys are evicted every [`SWEEP_EVERY`] (GCRA keys whose
//!   state equals a fresh one; quota keys whose window and block are over);
//!   a quota table at `max_tracked_keys` evicts first expired, then arbitrary
//!   unblocked keys to make room.
//! - **Client address**: the rule the API follows too,
//!   [`slipway_core::net::client_address`]: the peer's address, unless the
//!   peer is a trusted proxy; then the rightmost `X-Forwarded-For` entry
//!   that is not a trusted proxy.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota};
use parking_lot::Mutex;
use slipway_core::Level;

use super::config::{LevelLimit, LevelLimits};

/// How often idle keys are evicted.
pub(crate) const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// An anonymous caller's network region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Region {
    V4(u32),
    V6(u128),
}

impl Region {
    pub fn of(ip: IpAddr, v4_prefix: u8, v6_prefix: u8) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(ip) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(v4_prefix)).unwrap_or(0);
                Region::V4(u32::from(ip) & mask)
            }
            IpAddr::V6(ip) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(v6_prefix))
                    .unwrap_or(0);
                Region::V6(u128::from(ip) & mask)
            }
        }
    }
}

/// Whether a request may go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    Allow,
    /// Over the rate: retry after this long.
    RateLimited(Duration),
    /// Over the quota (or blocked for it): retry after this long.
    QuotaExceeded(Duration),
}

/// One level's rate limiter and quota table.
struct LevelLimiter<K: Hash + Eq + Clone> {
    rate: Option<DefaultKeyedRateLimiter<K>>,
    quota: Option<QuotaTable<K>>,
}

impl<K: Hash + Eq + Clone> LevelLimiter<K> {
    fn new(limit: LevelLimit, limits: &LevelLimits) -> Self {
        let rate = (limit.rate > 0.0).then(|| {
            let period = Duration::from_secs_f64(1.0 / limit.rate).max(Duration::from_nanos(1));
            let burst = NonZeroU32::new(limit.burst.max(1)).expect("at least 1");
            let quota = Quota::with_period(period)
                .expect("a positive period")
                .allow_burst(burst);
            DefaultKeyedRateLimiter::dashmap(quota)
        });
        let quota = (limit.quota > 0).then(|| {
            QuotaTable::new(
                limit.quota,
                limits.quota_window,
                limits.quota_block,
                limits.max_tracked_keys,
            )
        });
        Self { rate, quota }
    }

    fn check(&self, key: &K, now: Instant) -> Decision {
        if let Some(quota) = &self.quota
            && let Some(left) = quota.blocked(key, now)
        {
            return Decision::QuotaExceeded(left);
        }
        if let Some(rate) = &self.rate
            && let Err(not_until) = rate.check_key(key)
        {
            return Decision::RateLimited(not_until.wait_time_from(rate.clock().now()));
        }
        if let Some(quota) = &self.quota
            && let Some(left) = quota.count(key, now)
        {
            return Decision::QuotaExceeded(left);
        }
        Decision::Allow
    }

    fn sweep(&self, now: Instant) -> (usize, usize) {
        let rate = self.rate.as_ref().map_or(0, |r| {
            r.retain_recent();
            r.shrink_to_fit();
            r.len()
        });
        let quota = self.quota.as_ref().map_or(0, |q| q.sweep(now));
        (rate, quota)
    }
}

/// Every level's limiters.
pub(crate) struct RateLimits {
    anonymous: LevelLimiter<Region>,
    member: LevelLimiter<Arc<str>>,
    org_member: LevelLimiter<Arc<str>>,
    v4_prefix: u8,
    v6_prefix: u8,
}

impl RateLimits {
    pub fn new(limits: &LevelLimits) -> Self {
        Self {
            anonymous: LevelLimiter::new(limits.anonymous, limits),
            member: LevelLimiter::new(limits.member, limits),
            org_member: LevelLimiter::new(limits.org_member, limits),
            v4_prefix: limits.ipv4_prefix,
            v6_prefix: limits.ipv6_prefix,
        }
    }

    /// Checks (and counts) one request: anonymous callers by the region of
    /// `client`, others by `sub`.
    pub fn check(&self, level: Level, sub: Option<&Arc<str>>, client: IpAddr) -> Decision {
        let now = Instant::now();
        match (level, sub) {
            (Level::Admin, _) => Decision::Allow,
            (Level::Member, Some(sub)) => self.member.check(sub, now),
            (Level::OrgMember, Some(sub)) => self.org_member.check(sub, now),
            // Anonymous, or a token without a subject (which the verifier
            // does not let through): by region.
            _ => self
                .anonymous
                .check(&Region::of(client, self.v4_prefix, self.v6_prefix), now),
        }
    }

    /// Evicts idle keys; returns how many keys the rate limiters and the
    /// quota tables still track.
    pub fn sweep(&self) -> (usize, usize) {
        let now = Instant::now();
        let a = self.anonymous.sweep(now);
        let m = self.member.sweep(now);
        let o = self.org_member.sweep(now);
        (a.0 + m.0 + o.0, a.1 + m.1 + o.1)
    }
}

const SHARDS: usize = 16;

/// Request counts per key over a long window, sharded to keep lock
/// contention low.
struct QuotaTable<K> {
    shards: Vec<Mutex<HashMap<K, QuotaEntry>>>,
    hasher: RandomState,
    quota: u64,
    window: Duration,
    block: Duration,
    per_shard: usize,
}

#[derive(Debug, Clone, Copy)]
struct QuotaEntry {
    window_start: Instant,
    count: u64,
    blocked_until: Option<Instant>,
}

impl QuotaEntry {
    fn idle(&self, now: Instant, window: Duration) -> bool {
        self.blocked_until.is_none_or(|until| until <= now)
            && now.duration_since(self.window_start) >= window
    }
}

impl<K: Hash + Eq + Clone> QuotaTable<K> {
    fn new(quota: u64, window: Duration, block: Duration, max_keys: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
            quota,
            window,
            block,
            per_shard: max_keys.div_ceil(SHARDS).max(1),
        }
    }

    fn shard(&self, key: &K) -> &Mutex<HashMap<K, QuotaEntry>> {
        &self.shards[(self.hasher.hash_one(key) as usize) % SHARDS]
    }

    /// How long the key stays blocked, if it is.
    fn blocked(&self, key: &K, now: Instant) -> Option<Duration> {
        let shard = self.shard(key).lock();
        let until = shard.get(key)?.blocked_until?;
        (until > now).then(|| until - now)
    }

    /// Counts a request; if it goes over the quota, blocks the key and
    /// returns the block's length.
    fn count(&self, key: &K, now: Instant) -> Option<Duration> {
        let mut shard = self.shard(key).lock();
        if !shard.contains_key(key) && shard.len() >= self.per_shard {
            make_room(&mut shard, now, self.window);
        }
        let entry = shard.entry(key.clone()).or_insert(QuotaEntry {
            window_start: now,
            count: 0,
            blocked_until: None,
        });
        if let Some(until) = entry.blocked_until {
            if until > now {
                return Some(until - now);
            }
            // The block is over: a fresh window.
            *entry = QuotaEntry {
                window_start: now,
                count: 0,
                blocked_until: None,
            };
        }
        if now.duration_since(entry.window_start) >= self.window {
            entry.window_start = now;
            entry.count = 0;
        }
        entry.count += 1;
        if entry.count > self.quota {
            entry.blocked_until = Some(now + self.block);
            return Some(self.block);
        }
        None
    }

    /// Evicts idle keys; returns how many are left.
    fn sweep(&self, now: Instant) -> usize {
        let mut left = 0;
        for shard in &self.shards {
            let mut shard = shard.lock();
            shard.retain(|_, e| !e.idle(now, self.window));
            if shard.capacity() > 2 * shard.len() + 64 {
                shard.shrink_to_fit();
            }
            left += shard.len();
        }
        left
    }
}

/// A full shard: drops idle keys, else a quarter of the unblocked ones
/// (their counts start over — the table's memory is bounded, the quota then
/// is not exact).
fn make_room<K: Hash + Eq + Clone>(
    shard: &mut HashMap<K, QuotaEntry>,
    now: Instant,
    window: Duration,
) {
    shard.retain(|_, e| !e.idle(now, window));
    let target = shard.len() - shard.len() / 4;
    if shard.len() > target {
        let victims: Vec<K> = shard
            .iter()
            .filter(|(_, e)| e.blocked_until.is_none_or(|u| u <= now))
            .map(|(k, _)| k.clone())
            .take(shard.len() - target)
            .collect();
        for key in victims {
            shard.remove(&key);
        }
    }
}

/// Seconds for a `Retry-After` header: rounded up, at least 1.
pub(crate) fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn regions_mask_the_address() {
        assert_eq!(
            Region::of(ip("203.0.113.77"), 24, 48),
            Region::of(ip("203.0.113.1"), 24, 48)
        );
        assert_ne!(
            Region::of(ip("203.0.113.77"), 24, 48),
            Region::of(ip("203.0.114.77"), 24, 48)
        );
        assert_eq!(
            Region::of(ip("2001:db8:1:2::1"), 24, 48),
            Region::of(ip("2001:db8:1:ffff::9"), 24, 48)
        );
        assert_ne!(
            Region::of(ip("2001:db8:1::1"), 24, 48),
            Region::of(ip("2001:db8:2::1"), 24, 48)
        );
        // An IPv4-mapped IPv6 address is the IPv4 address.
        assert_eq!(
            Region::of(ip("::ffff:203.0.113.5"), 24, 48),
            Region::of(ip("203.0.113.9"), 24, 48)
        );
        assert_eq!(Region::of(ip("1.2.3.4"), 0, 0), Region::V4(0));
        assert_eq!(Region::of(ip("1.2.3.4"), 32, 128), Region::V4(0x0102_0304));
    }

    fn limits(anonymous: LevelLimit) -> LevelLimits {
        LevelLimits {
            anonymous,
            quota_window: Duration::from_secs(3600),
            quota_block: Duration::from_secs(60),
            ..LevelLimits::default()
        }
    }

    #[test]
    fn the_burst_then_the_rate() {
        let l = RateLimits::new(&limits(LevelLimit {
            rate: 1.0,
            burst: 3,
            quota: 0,
        }));
        let a = ip("192.0.2.1");
        for _ in 0..3 {
            assert_eq!(l.check(Level::Anonymous, None, a), Decision::Allow);
        }
        let Decision::RateLimited(wait) = l.check(Level::Anonymous, None, a) else {
            panic!("the fourth request is limited")
        };
        assert!(wait <= Duration::from_secs(1), "{wait:?}");
        assert_eq!(retry_after_secs(wait), 1);
        // The same region shares the limit; another region does not.
        assert!(matches!(
            l.check(Level::Anonymous, None, ip("192.0.2.200")),
            Decision::RateLimited(_)
        ));
        assert_eq!(
            l.check(Level::Anonymous, None, ip("192.0.3.1")),
            Decision::Allow
        );
        // Admins are never limited.
        let admin: Arc<str> = "root".into();
        for _ in 0..1000 {
            assert_eq!(l.check(Level::Admin, Some(&admin), a), Decision::Allow);
        }
    }

    #[test]
    fn members_are_limited_per_user_with_their_own_limits() {
        let l = RateLimits::new(&LevelLimits {
            member: LevelLimit {
                rate: 1.0,
                burst: 2,
                quota: 0,
            },
            ..limits(LevelLimit {
                rate: 1.0,
                burst: 1,
                quota: 0,
            })
        });
        let a = ip("192.0.2.1");
        let alice: Arc<str> = "alice".into();
        let bob: Arc<str> = "bob".into();
        assert_eq!(l.check(Level::Anonymous, None, a), Decision::Allow);
        assert!(matches!(
            l.check(Level::Anonymous, None, a),
            Decision::RateLimited(_)
        ));
        // Same address, but per user.
        assert_eq!(l.check(Level::Member, Some(&alice), a), Decision::Allow);
        assert_eq!(l.check(Level::Member, Some(&alice), a), Decision::Allow);
        assert!(matches!(
            l.check(Level::Member, Some(&alice), a),
            Decision::RateLimited(_)
        ));
        assert_eq!(l.check(Level::Member, Some(&bob), a), Decision::Allow);
    }

    #[test]
    fn a_quota_blocks_for_the_block_period_then_starts_over() {
        let table = QuotaTable::new(3, Duration::from_secs(100), Duration::from_secs(10), 1000);
        let t0 = Instant::now();
        let key = "k".to_owned();
        for i in 0..3 {
            assert_eq!(table.count(&key, t0 + Duration::from_secs(i)), None);
        }
        assert_eq!(
            table.count(&key, t0 + Duration::from_secs(3)),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            table.blocked(&key, t0 + Duration::from_secs(5)),
            Some(Duration::from_secs(8))
        );
        assert_eq!(
            table.count(&key, t0 + Duration::from_secs(12)),
            Some(Duration::from_secs(1))
        );
        // After the block: a fresh window.
        assert_eq!(table.blocked(&key, t0 + Duration::from_secs(13)), None);
        for i in 0..3 {
            assert_eq!(table.count(&key, t0 + Duration::from_secs(13 + i)), None);
        }
        assert!(table.count(&key, t0 + Duration::from_secs(16)).is_some());
        // A window that ends without a block starts over too.
        let other = "o".to_owned();
        for _ in 0..3 {
            assert_eq!(table.count(&other, t0), None);
        }
        assert_eq!(table.count(&other, t0 + Duration::from_secs(100)), None);
    }

    #[test]
    fn quota_tables_stay_bounded_and_evict_idle_keys() {
        let table = QuotaTable::new(5, Duration::from_secs(10), Duration::from_secs(10), 64);
        let t0 = Instant::now();
        for i in 0..10_000u32 {
            table.count(&i, t0);
        }
        let tracked: usize = table.shards.iter().map(|s| s.lock().len()).sum();
        assert!(tracked <= 64 + SHARDS, "{tracked}");
        assert_eq!(table.sweep(t0 + Duration::from_secs(11)), 0);
    }

    #[test]
    fn idle_rate_keys_are_evicted() {
        let l = RateLimits::new(&limits(LevelLimit {
            rate: 1000.0,
            burst: 1,
            quota: 0,
        }));
        for i in 0..100u8 {
            l.check(Level::Anonymous, None, IpAddr::from([10, i, 0, 1]));
        }
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(l.sweep(), (0, 0));
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1001)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(600)), 600);
    }
}
