//! Sign-in and sign-up attempts, limited per client address and per
//! username, so neither one address nor a botnet aimed at one account can
//! guess passwords quickly. Argon2 already makes each guess cost ~20 ms of
//! a core; the limits keep that cost from becoming a denial of service.
//! Both are `crate::rate_limit`'s keyed buckets, which drop idle keys, so
//! random usernames cannot grow the map without bound.

use std::net::IpAddr;

use crate::rate_limit::{KeyedLimits, RateLimitConfig, RateLimits};

/// The two limiters.
#[derive(Debug)]
pub struct SignInLimits {
    by_address: RateLimits,
    by_username: KeyedLimits<String>,
}

impl SignInLimits {
    /// Limits with the given rates; a `per_minute` of 0 turns one off.
    pub fn new(per_address: &RateLimitConfig, per_username: &RateLimitConfig) -> SignInLimits {
        SignInLimits {
            by_address: RateLimits::new(per_address),
            by_username: KeyedLimits::new(per_username.per_minute, per_username.burst),
        }
    }

    /// One attempt from `address`; `Err(seconds)` to wait when over.
    pub fn check_address(&self, address: IpAddr) -> Result<(), u64> {
        self.by_address.check(address)
    }

    /// One attempt at `username` (folded to lower case, as accounts are).
    pub fn check_username(&self, username: &str) -> Result<(), u64> {
        let key: String = username.trim().to_ascii_lowercase().chars().take(64).collect();
        self.by_username.check(&key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_username_is_limited_wherever_the_attempts_come_from() {
        let limits = SignInLimits::new(
            &RateLimitConfig { per_minute: 0, burst: 0, trust_forwarded_for: false },
            &RateLimitConfig { per_minute: 1, burst: 3, trust_forwarded_for: false },
        );
        for _ in 0..3 {
            assert!(limits.check_username("Alice").is_ok());
        }
        let wait = limits.check_username("alice").expect_err("the fourth attempt waits");
        assert!((1..=60).contains(&wait));
        assert!(limits.check_username("bob").is_ok(), "other accounts are not affected");
    }
}
