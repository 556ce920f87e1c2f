//! The TOML configuration file of `bytesbox serve`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use bytesbox_native::NativeConfig;
use bytesbox_sandbox::RunLimits;
use bytesbox_server::accounts::{AccountsConfig, PlanConfig};
use bytesbox_server::connections::ConnectionConfig;
use bytesbox_server::rate_limit::RateLimitConfig;
use serde::Deserialize;

/// Everything not on the command line. Every section is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FileConfig {
    /// The native backend.
    pub native: NativeConfig,
    /// Sessions.
    pub sessions: SessionsConfig,
    /// Admission control.
    pub admission: AdmissionConfig,
    /// Limits of runs.
    pub limits: LimitsConfig,
    /// Per-client rate limits.
    pub rate_limit: RateLimitConfig,
    /// Timeouts, connection caps and the memory budget of reads.
    pub connections: ConnectionConfig,
    /// Accounts and guests.
    pub accounts: AccountsSection,
    /// Resource plans, over the built-in `guest`, `default` and `large`.
    pub plans: BTreeMap<String, PlanConfig>,
}

/// `[accounts]`.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccountsSection {
    /// Let people use the IDE and the run APIs without an account.
    pub guests: bool,
    /// Let anyone create an account.
    pub signup: bool,
    /// Force `Secure` cookies on or off; unset: when the request came over
    /// TLS through a trusted proxy.
    pub secure_cookies: Option<bool>,
    /// Other origins allowed to use the cookie and open WebSockets.
    pub allowed_origins: Vec<String>,
    /// How long a sign-in lasts, in days.
    pub session_days: u64,
}

impl Default for AccountsSection {
    fn default() -> Self {
        AccountsSection {
            guests: true,
            signup: true,
            secure_cookies: None,
            allowed_origins: Vec::new(),
            session_days: 30,
        }
    }
}

impl AccountsSection {
    /// The server's account settings.
    pub fn to_config(&self, trust_forwarded_for: bool) -> AccountsConfig {
        let defaults = AccountsConfig::default();
        AccountsConfig {
            guests: self.guests,
            signup: self.signup,
            secure_cookies: self.secure_cookies,
            allowed_origins: self.allowed_origins.clone(),
            session_ttl: Duration::from_secs(self.session_days.clamp(1, 365) * 24 * 3600),
            sign_in_per_address: RateLimitConfig { trust_forwarded_for, ..defaults.sign_in_per_address },
            sign_in_per_username: defaults.sign_in_per_username,
        }
    }
}

/// `[sessions]`.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionsConfig {
    /// Seconds a disconnected session waits for its client.
    pub grace_secs: u64,
    /// Seconds a box stays after its last run.
    pub idle_ttl_secs: u64,
    /// Runs one session may have going at once.
    pub max_runs: usize,
    /// Seconds running programs get to finish on SIGTERM.
    pub drain_secs: u64,
}

impl Default for SessionsConfig {
    fn default() -> Self {
        SessionsConfig { grace_secs: 30, idle_ttl_secs: 60, max_runs: 8, drain_secs: 10 }
    }
}

/// `[admission]`; zero means "sized to this machine".
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdmissionConfig {
    /// Runs at once.
    pub max_running: usize,
    /// Runs waiting.
    pub max_queued: usize,
}

/// `[limits]`: defaults and maxima of runs.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Limits of a run that asks for none.
    pub default: RunLimits,
    /// The most a run may ask for.
    pub max: RunLimits,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        let default = RunLimits::default();
        // The design brief's defaults, with headroom a request may ask for.
        let max = RunLimits {
            memory_bytes: 1024 * 1024 * 1024,
            cpu_millicores: 2000,
            pids: 512,
            wall_time_ms: 300_000,
            cpu_time_ms: 300_000,
            output_bytes: 16 * 1024 * 1024,
            open_files: 4096,
            file_size_bytes: 1024 * 1024 * 1024,
            stack_bytes: 64 * 1024 * 1024,
        };
        LimitsConfig { default, max }
    }
}

impl FileConfig {
    /// Reads a file, or the defaults without one.
    pub fn load(path: Option<&Path>) -> anyhow::Result<FileConfig> {
        let Some(path) = path else { return Ok(FileConfig::default()) };
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let config: FileConfig = toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        config.limits.default.validate_within(&config.limits.max).context("[limits] default exceeds max")?;
        Ok(config)
    }

    /// The grace period.
    pub fn grace(&self) -> Duration {
        Duration::from_secs(self.sessions.grace_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_consistent() {
        let config = FileConfig::load(None).unwrap();
        config.limits.default.validate_within(&config.limits.max).unwrap();
        assert_eq!(config.grace(), Duration::from_secs(30));
    }

    #[test]
    fn files_override_and_typos_are_errors() {
        let dir = std::env::temp_dir().join(format!("bytesbox-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.toml");
        std::fs::write(
            &good,
            "[sessions]\ngrace_secs = 5\n[admission]\nmax_running = 3\n[connections]\nmax_per_address = 7\n",
        )
        .unwrap();
        let config = FileConfig::load(Some(&good)).unwrap();
        assert_eq!(config.sessions.grace_secs, 5);
        assert_eq!(config.connections.max_per_address, 7);
        assert_eq!(config.connections.header_timeout_secs, 10, "unset settings keep their defaults");
        assert_eq!(config.admission.max_running, 3);
        let typo = dir.join("typo.toml");
        std::fs::write(&typo, "[sessions]\ngrace_sec = 5\n").unwrap();
        let err = format!("{:#}", FileConfig::load(Some(&typo)).unwrap_err());
        assert!(err.contains("grace_sec"), "{err}");
        let greedy = dir.join("greedy.toml");
        std::fs::write(&greedy, "[limits.default]\nmemory_bytes = 99999999999999\n").unwrap();
        assert!(FileConfig::load(Some(&greedy)).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
