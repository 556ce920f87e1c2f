//! Accounts on the server: who is calling (cookie, API token or guest),
//! resource plans, sign-in and sign-out, CSRF and Origin checks, and the
//! admin API. The data lives in `bytesbox-store`; decisions are in
//! `docs/accounts.md`, the HTTP contract in `docs/api.md`.

pub mod admin;
pub mod auth;
pub mod caller;
pub mod cookies;
mod errors;
pub mod origin;
pub mod plans;
pub mod projects;
pub mod run_slots;
pub mod sign_in_limits;

use std::time::Duration;

use bytesbox_store::{Objects, ProjectFiles, Store};

pub use caller::{Caller, Principal};
pub use plans::{Plan, PlanConfig, Plans};

use crate::rate_limit::RateLimitConfig;
use sign_in_limits::SignInLimits;

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
    /// Sign-in and sign-up attempts per client address.
    pub sign_in_per_address: RateLimitConfig,
    /// Sign-in attempts per username, from anywhere.
    pub sign_in_per_username: RateLimitConfig,
}

impl Default for AccountsConfig {
    fn default() -> Self {
        AccountsConfig {
            guests: true,
            signup: true,
            secure_cookies: None,
            allowed_origins: Vec::new(),
            session_ttl: Duration::from_secs(30 * 24 * 3600),
            sign_in_per_address: RateLimitConfig { per_minute: 20, burst: 10, trust_forwarded_for: false },
            sign_in_per_username: RateLimitConfig { per_minute: 10, burst: 5, trust_forwarded_for: false },
        }
    }
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
    /// Saved projects' files: the store plus the object store of their
    /// contents (`None` until [`Accounts::with_objects`]: the project
    /// routes then answer 503).
    pub files: Option<ProjectFiles>,
}

impl Accounts {
    /// Accounts over `store`.
    pub fn new(store: Store, plans: Plans, config: AccountsConfig) -> Accounts {
        let sign_in = SignInLimits::new(&config.sign_in_per_address, &config.sign_in_per_username);
        Accounts { store, plans, config, sign_in, files: None }
    }

    /// The same accounts with project files kept in `objects`.
    pub fn with_objects(mut self, objects: Objects) -> Accounts {
        self.files = Some(ProjectFiles::new(self.store.clone(), objects));
        self
    }
}
