//! Accounts on the server: who is calling (cookie, API token or guest),
//! resource plans, sign-in and sign-out, CSRF and Origin checks, and the
//! admin API. The data lives in `bytesbox-store`; decisions are in
//! `docs/accounts.md`, the HTTP contract in `docs/api.md`.

pub mod admin;
pub mod auth;
pub mod caller;
pub mod cookies;
mod errors;
pub mod guest_cookie;
pub mod origin;
pub mod places;
pub mod plans;
pub mod projects;
pub mod run_slots;
pub mod sign_in_limits;

use std::time::Duration;

use bytesbox_store::{Objects, ProjectFiles, StorageLimits, Store};

pub use caller::{Caller, Principal};
pub use plans::{Plan, PlanConfig, Plans};

use crate::rate_limit::RateLimitConfig;
use guest_cookie::GuestCookies;
use sign_in_limits::SignInLimits;
pub use sign_in_limits::SignInRates;

/// How accounts behave (`[accounts]` in the configuration).
#[derive(Clone, Debug)]
pub struct AccountsConfig {
    /// Callers without an account may use the IDE and the run APIs with
    /// the guest plan and an ephemeral workspace.
    pub guests: bool,
    /// Anyone may create an account.
    pub signup: bool,
    /// `Some(true)`: cookies are always `Secure`; `Some(false)`: never;
    /// `None`: when the request came over TLS (a trusted proxy's
    /// `X-Forwarded-Proto: https`).
    pub secure_cookies: Option<bool>,
    /// Origins besides the server's own that may use the cookie and open
    /// WebSockets (`https://ide.example.com`); their host names are also
    /// the names the server answers to besides `localhost` and IP
    /// addresses (DNS rebinding, `docs/security.md`). The configured
    /// public URL's origin is the first.
    pub allowed_origins: Vec<String>,
    /// How long a sign-in lasts.
    pub session_ttl: Duration,
    /// Sign-in and sign-up limits (`sign_in_limits.rs`).
    pub sign_in: SignInRates,
    /// Server-wide caps on what all users store together.
    pub storage: StorageLimits,
    /// Runs going at once for all guests of one client address together
    /// (each guest, one browser, has its plan's `max_concurrent_runs`):
    /// sized for a classroom behind one NAT address.
    pub guest_address_runs: usize,
    /// Session boxes held at once by all guests of one client address.
    pub guest_address_boxes: usize,
}

/// 1 GiB: room for the database, logs and a few large saves in flight.
pub const DEFAULT_MIN_FREE_BYTES: u64 = 1024 * 1024 * 1024;

impl Default for AccountsConfig {
    fn default() -> Self {
        AccountsConfig {
            guests: true,
            signup: true,
            secure_cookies: None,
            allowed_origins: Vec::new(),
            session_ttl: Duration::from_secs(30 * 24 * 3600),
            sign_in: SignInRates {
                per_address: rate(20, 10),
                per_address_and_username: rate(1, 5),
                per_username_after_failure: rate(6, 6),
                signups_per_address_per_day: 20,
            },
            storage: StorageLimits { budget_bytes: None, min_free_bytes: DEFAULT_MIN_FREE_BYTES },
            guest_address_runs: 24,
            guest_address_boxes: 48,
        }
    }
}

fn rate(per_minute: u32, burst: u32) -> RateLimitConfig {
    RateLimitConfig { per_minute, burst, trust_forwarded_for: false }
}

/// Everything the account routes need.
#[derive(Debug)]
pub struct Accounts {
    /// Users, sessions, tokens, projects.
    pub store: Store,
    /// Resource plans.
    pub plans: Plans,
    /// Behaviour.
    pub config: AccountsConfig,
    /// Sign-in attempt limits.
    pub(crate) sign_in: SignInLimits,
    /// Guests' per-browser identities.
    pub guest_cookies: GuestCookies,
    /// Saved projects' files: the store plus the object store of their
    /// contents (`None` until [`Accounts::with_objects`]: the project
    /// routes then answer 503).
    pub files: Option<ProjectFiles>,
}

impl Accounts {
    /// Accounts over `store`.
    pub fn new(store: Store, plans: Plans, config: AccountsConfig) -> Accounts {
        let sign_in = SignInLimits::new(&config.sign_in);
        Accounts { store, plans, config, sign_in, guest_cookies: GuestCookies::with_random_key(), files: None }
    }

    /// The same accounts with project files kept in `objects`, within the
    /// configured storage caps (the watermark watches a local object
    /// store's disk).
    pub fn with_objects(mut self, objects: Objects) -> Accounts {
        let files = ProjectFiles::new(self.store.clone(), objects).with_storage_limits(self.config.storage);
        self.store = files.store().clone();
        self.files = Some(files);
        self
    }
}
