//! Per-client rate limits: every run a client starts (an execute request,
//! a WebSocket `run`, a Piston execute or connect) and every WebSocket
//! connection it opens costs one token from its bucket. A client is its IP
//! address, or the last `X-Forwarded-For` hop when the server sits behind
//! a trusted proxy.
//!
//! The buckets are GCRA cells from `governor`, so a burst is allowed and
//! then one token comes back every `60 / per_minute` seconds.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::request::Parts;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::Deserialize;

/// Rate-limit settings (`[rate_limit]` in the config file).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Tokens a client gets back per minute; 0 turns rate limiting off.
    pub per_minute: u32,
    /// Tokens a client may spend at once.
    pub burst: u32,
    /// Take the client address from the last `X-Forwarded-For` hop (only
    /// behind a proxy that sets it; otherwise clients could pick their
    /// own bucket).
    pub trust_forwarded_for: bool,
}

impl Default for RateLimitConfig {
    /// Generous for a person at an IDE (a run every half second for a
    /// while), tight enough that one client cannot fill the queue alone.
    fn default() -> Self {
        RateLimitConfig { per_minute: 120, burst: 60, trust_forwarded_for: false }
    }
}

/// How many clients may have a bucket before idle buckets are dropped.
const CLEANUP_EVERY: u64 = 4096;

/// GCRA buckets per key, with idle buckets dropped now and then so
/// random keys cannot grow the map without bound.
#[derive(Debug)]
pub struct KeyedLimits<K: std::hash::Hash + Eq + Clone> {
    limiter: Option<DefaultKeyedRateLimiter<K>>,
    checks: AtomicU64,
}

impl<K: std::hash::Hash + Eq + Clone> KeyedLimits<K> {
    /// Buckets of `burst` tokens refilled at `per_minute`; a `per_minute`
    /// of 0 turns the limit off, a `burst` of 0 means `per_minute`.
    pub fn new(per_minute: u32, burst: u32) -> KeyedLimits<K> {
        let limiter = NonZeroU32::new(per_minute).map(|per_minute| {
            let burst = NonZeroU32::new(burst).unwrap_or(per_minute);
            RateLimiter::keyed(Quota::per_minute(per_minute).allow_burst(burst))
        });
        KeyedLimits { limiter, checks: AtomicU64::new(0) }
    }

    /// Takes one token of `key`'s bucket, or says how long until one is
    /// back (in whole seconds, at least 1).
    pub fn check(&self, key: &K) -> Result<(), u64> {
        let Some(limiter) = &self.limiter else { return Ok(()) };
        if self.checks.fetch_add(1, Ordering::Relaxed) % CLEANUP_EVERY == CLEANUP_EVERY - 1 {
            // Buckets that are full again hold no information.
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        limiter.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0 || wait == Duration::ZERO)
        })
    }
}

/// The limiter shared by every route, keyed by client address.
#[derive(Debug)]
pub struct RateLimits {
    buckets: KeyedLimits<IpAddr>,
    trust_forwarded_for: bool,
}

impl RateLimits {
    /// A limiter with `config`'s sizes.
    pub fn new(config: &RateLimitConfig) -> RateLimits {
        RateLimits {
            buckets: KeyedLimits::new(config.per_minute, config.burst),
            trust_forwarded_for: config.trust_forwarded_for,
        }
    }

    /// Takes one token of `client`'s bucket, or says how long until one is
    /// back (in whole seconds, at least 1).
    pub fn check(&self, client: IpAddr) -> Result<(), u64> {
        self.buckets.check(&client)
    }

    /// Whether proxy headers (`X-Forwarded-For`, `X-Forwarded-Proto`) are
    /// trusted.
    pub fn trusts_proxy(&self) -> bool {
        self.trust_forwarded_for
    }

    pub(crate) fn client_of(&self, parts: &Parts) -> IpAddr {
        if self.trust_forwarded_for {
            let forwarded = parts.headers.get_all("x-forwarded-for").iter().next_back().and_then(|v| v.to_str().ok());
            if let Some(ip) = forwarded.and_then(|v| v.rsplit(',').next()).and_then(|v| v.trim().parse().ok()) {
                return ip;
            }
        }
        parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip())
            // Served without peer addresses (in-process tests): one shared
            // bucket.
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    }
}

/// The client of a request, as the rate limiter sees it (handlers take it
/// with its extractor, `crate::app`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Client(pub IpAddr);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_allowed_then_the_client_waits_alone() {
        let limits = RateLimits::new(&RateLimitConfig { per_minute: 1, burst: 2, trust_forwarded_for: false });
        let alice = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let bob = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(limits.check(alice), Ok(()));
        assert_eq!(limits.check(alice), Ok(()));
        let wait = limits.check(alice).expect_err("the third run in a row is refused");
        assert!((1..=60).contains(&wait), "{wait}");
        assert_eq!(limits.check(bob), Ok(()), "other clients keep their own bucket");
    }

    #[test]
    fn zero_per_minute_turns_limits_off() {
        let limits = RateLimits::new(&RateLimitConfig { per_minute: 0, burst: 0, trust_forwarded_for: false });
        let client = IpAddr::V4(Ipv4Addr::LOCALHOST);
        assert!((0..1000).all(|_| limits.check(client).is_ok()));
    }

    #[test]
    fn forwarded_addresses_count_only_when_trusted() {
        let request = axum::http::Request::builder()
            .header("x-forwarded-for", "203.0.113.9, 198.51.100.7")
            .body(())
            .expect("a request");
        let (parts, ()) = request.into_parts();
        let trusting = RateLimits::new(&RateLimitConfig { trust_forwarded_for: true, ..RateLimitConfig::default() });
        assert_eq!(trusting.client_of(&parts), "198.51.100.7".parse::<IpAddr>().expect("an ip"));
        let plain = RateLimits::new(&RateLimitConfig::default());
        assert_eq!(plain.client_of(&parts), IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    }
}
