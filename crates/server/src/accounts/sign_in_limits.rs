//! Sign-in and sign-up attempts, limited so that guessing is slow and the
//! limits cannot be turned against an account's owner.
//!
//! - **Per address**: every attempt (sign-in or sign-up) from one client
//!   address. Argon2 makes each guess cost ~20 ms of a core; this keeps
//!   that cost from becoming a denial of service.
//! - **Per (address, username)**: attempts at one account from one
//!   address, so one address guesses one password slowly. The owner, at
//!   an address of their own, has a bucket of their own.
//! - **Per username, after a failure**: attempts at one account from any
//!   address that has already failed on it (a distributed guesser's second
//!   and later guesses). An address that has not failed on that username
//!   never touches this bucket, so guessers cannot use it to lock the
//!   owner out; the owner shares it only after mistyping, and then waits at
//!   most one refill interval.
//! - **Sign-ups per address per day**: a fixed daily window, so open
//!   sign-up cannot mint accounts (and their storage quotas) in bulk.
//!
//! The rate buckets are `crate::rate_limit`'s keyed buckets, which drop
//! idle keys, so random usernames cannot grow them without bound. The two
//! maps kept here (addresses that failed, sign-ups today) are capped too.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::rate_limit::{KeyedLimits, RateLimitConfig, RateLimits};

/// How long a failed sign-in marks its (address, username) as failing.
const FAILURE_MEMORY: Duration = Duration::from_secs(3600);

/// Most (address, username) pairs remembered as failing, and most
/// addresses counted in a day's sign-ups: a few MiB at worst.
const MAX_TRACKED: usize = 65_536;

/// The longest username kept as a key (longer ones are invalid anyway).
const MAX_KEY_CHARS: usize = 64;

/// The sign-in and sign-up limits of one server.
#[derive(Debug)]
pub struct SignInLimits {
    by_address: RateLimits,
    by_address_and_username: KeyedLimits<(IpAddr, String)>,
    by_username_after_failure: KeyedLimits<String>,
    failing: Mutex<HashMap<(IpAddr, String), Instant>>,
    signups: SignupsToday,
}

/// The rates of [`SignInLimits`]; a `per_minute` of 0 turns one off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignInRates {
    /// Attempts per client address.
    pub per_address: RateLimitConfig,
    /// Attempts at one username from one address.
    pub per_address_and_username: RateLimitConfig,
    /// Attempts at one username from addresses that failed on it before.
    pub per_username_after_failure: RateLimitConfig,
    /// Accounts one address may create per UTC day; 0: no limit.
    pub signups_per_address_per_day: u32,
}

impl SignInLimits {
    /// Limits with the given rates.
    pub fn new(rates: &SignInRates) -> SignInLimits {
        let (pair, username) = (&rates.per_address_and_username, &rates.per_username_after_failure);
        SignInLimits {
            by_address: RateLimits::new(&rates.per_address),
            by_address_and_username: KeyedLimits::new(pair.per_minute, pair.burst),
            by_username_after_failure: KeyedLimits::new(username.per_minute, username.burst),
            failing: Mutex::new(HashMap::new()),
            signups: SignupsToday::new(rates.signups_per_address_per_day),
        }
    }

    /// One attempt (sign-in or sign-up) from `address`; `Err(seconds)` to
    /// wait when over.
    pub fn check_address(&self, address: IpAddr) -> Result<(), u64> {
        self.by_address.check(address)
    }

    /// One sign-in attempt at `username` from `address`, before the
    /// password is checked; `Err(seconds)` to wait when over.
    pub fn check_sign_in(&self, address: IpAddr, username: &str) -> Result<(), u64> {
        let username = username_key(username);
        let pair = (address, username);
        self.by_address_and_username.check(&pair)?;
        if self.has_failed(&pair) {
            self.by_username_after_failure.check(&pair.1)?;
        }
        Ok(())
    }

    /// The password was wrong: `address` now counts as failing on
    /// `username`.
    pub fn record_failure(&self, address: IpAddr, username: &str) {
        let now = Instant::now();
        let mut failing = self.failing.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if failing.len() >= MAX_TRACKED {
            failing.retain(|_, at| now.duration_since(*at) < FAILURE_MEMORY);
        }
        if failing.len() >= MAX_TRACKED {
            // Full of fresh failures (an attack from very many addresses):
            // forget the oldest. It loses only the per-username limit; its
            // per-address limits still hold.
            if let Some(oldest) = failing.iter().min_by_key(|(_, at)| **at).map(|(key, _)| key.clone()) {
                failing.remove(&oldest);
            }
        }
        failing.insert((address, username_key(username)), now);
    }

    /// The password was right: `address` is no longer failing on it.
    pub fn record_success(&self, address: IpAddr, username: &str) {
        let mut failing = self.failing.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        failing.remove(&(address, username_key(username)));
    }

    fn has_failed(&self, pair: &(IpAddr, String)) -> bool {
        let failing = self.failing.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        failing.get(pair).is_some_and(|at| at.elapsed() < FAILURE_MEMORY)
    }

    /// Takes one of `address`'s sign-ups of today; `Err(seconds)` until
    /// the next UTC day when none is left. Give it back with
    /// [`SignInLimits::release_signup`] if the account was not created.
    pub fn reserve_signup(&self, address: IpAddr) -> Result<(), u64> {
        self.signups.reserve(address)
    }

    /// Gives back a sign-up that did not create an account.
    pub fn release_signup(&self, address: IpAddr) {
        self.signups.release(address);
    }
}

/// Usernames are folded to lower case, as accounts are.
fn username_key(username: &str) -> String {
    username.trim().to_ascii_lowercase().chars().take(MAX_KEY_CHARS).collect()
}

/// Sign-ups per address in the current UTC day.
#[derive(Debug)]
struct SignupsToday {
    per_day: u32,
    counts: Mutex<(u64, HashMap<IpAddr, u32>)>,
}

const DAY_SECS: u64 = 24 * 3600;

impl SignupsToday {
    fn new(per_day: u32) -> SignupsToday {
        SignupsToday { per_day, counts: Mutex::new((0, HashMap::new())) }
    }

    fn reserve(&self, address: IpAddr) -> Result<(), u64> {
        if self.per_day == 0 {
            return Ok(());
        }
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_secs());
        let (today, until_tomorrow) = (now / DAY_SECS, DAY_SECS - now % DAY_SECS);
        let mut counts = self.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (day, by_address) = &mut *counts;
        if *day != today {
            *day = today;
            by_address.clear();
            by_address.shrink_to_fit();
        }
        // Past the cap of tracked addresses, new addresses wait for
        // tomorrow too: sign-ups from that many addresses in one day are
        // an attack, and memory stays bounded.
        if by_address.len() >= MAX_TRACKED && !by_address.contains_key(&address) {
            return Err(until_tomorrow);
        }
        let count = by_address.entry(address).or_insert(0);
        if *count >= self.per_day {
            return Err(until_tomorrow);
        }
        *count += 1;
        Ok(())
    }

    fn release(&self, address: IpAddr) {
        if self.per_day == 0 {
            return;
        }
        let mut counts = self.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = counts.1.get_mut(&address) {
            *count = count.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const OFF: RateLimitConfig = RateLimitConfig { per_minute: 0, burst: 0, trust_forwarded_for: false };

    fn rate(per_minute: u32, burst: u32) -> RateLimitConfig {
        RateLimitConfig { per_minute, burst, trust_forwarded_for: false }
    }

    fn address(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
    }

    #[test]
    fn one_address_guessing_one_username_waits_alone() {
        let limits = SignInLimits::new(&SignInRates {
            per_address: OFF,
            per_address_and_username: rate(1, 3),
            per_username_after_failure: OFF,
            signups_per_address_per_day: 0,
        });
        for _ in 0..3 {
            assert!(limits.check_sign_in(address(1), "Alice").is_ok());
            limits.record_failure(address(1), "Alice");
        }
        let wait = limits.check_sign_in(address(1), "alice").expect_err("the fourth attempt waits");
        assert!((1..=60).contains(&wait));
        assert!(limits.check_sign_in(address(2), "alice").is_ok(), "another address is not affected");
        assert!(limits.check_sign_in(address(1), "bob").is_ok(), "another account is not affected");
    }

    #[test]
    fn the_per_username_limit_binds_only_addresses_that_failed_on_it() {
        let limits = SignInLimits::new(&SignInRates {
            per_address: OFF,
            per_address_and_username: OFF,
            per_username_after_failure: rate(1, 2),
            signups_per_address_per_day: 0,
        });
        // A botnet: each address's first guess is free, its later ones
        // share the username's bucket.
        for bot in 1..=5 {
            assert!(limits.check_sign_in(address(bot), "admin").is_ok());
            limits.record_failure(address(bot), "admin");
        }
        assert!(limits.check_sign_in(address(1), "admin").is_ok());
        assert!(limits.check_sign_in(address(2), "admin").is_ok());
        assert!(limits.check_sign_in(address(3), "admin").is_err(), "the shared bucket is empty");
        // The owner, from an address that never failed, is not refused.
        assert!(limits.check_sign_in(address(100), "admin").is_ok());
        assert!(limits.check_sign_in(address(100), "admin").is_ok());
        // A success forgets the failures of that address.
        limits.record_success(address(3), "admin");
        assert!(limits.check_sign_in(address(3), "admin").is_ok());
    }

    #[test]
    fn sign_ups_are_counted_per_address_per_day() {
        let limits = SignInLimits::new(&SignInRates {
            per_address: OFF,
            per_address_and_username: OFF,
            per_username_after_failure: OFF,
            signups_per_address_per_day: 2,
        });
        assert!(limits.reserve_signup(address(1)).is_ok());
        assert!(limits.reserve_signup(address(1)).is_ok());
        let wait = limits.reserve_signup(address(1)).expect_err("the third sign-up of the day waits");
        assert!((1..=DAY_SECS).contains(&wait));
        assert!(limits.reserve_signup(address(2)).is_ok(), "other addresses count alone");
        limits.release_signup(address(1));
        assert!(limits.reserve_signup(address(1)).is_ok(), "a sign-up that failed is given back");
    }
}
