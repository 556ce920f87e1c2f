//! The server's settings, resolved once before the app state is built
//! (`crate::app::AppState::new`) and never changed after: what `bytesbox
//! serve` reads from its flags and config file, and what a test or an
//! embedding program writes as a struct over [`ServerConfig::default`].
//! Each default is written here, once.

use std::time::Duration;

use bytesbox_sandbox::RunLimits;
use serde::Deserialize;

use crate::connections::ConnectionConfig;
use crate::fleet::NodeConfig;
use crate::monitoring::MonitoringConfig;
use crate::rate_limit::RateLimitConfig;

/// Everything the HTTP application is configured with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerConfig {
    /// Limits of runs (`[limits]`); resource plans are resolved over them.
    pub limits: LimitsConfig,
    /// The size of a project a run or an import may bring.
    pub projects: ProjectCaps,
    /// Per-client rate limits (`[rate_limit]`).
    pub rate_limit: RateLimitConfig,
    /// Timeouts, connection caps and the memory budget of reads
    /// (`[connections]`).
    pub connections: ConnectionConfig,
    /// The Piston endpoints.
    pub piston: PistonConfig,
    /// This server as a node of a fleet (`[node]`).
    pub node: NodeConfig,
    /// The Dashboard's aggregates: how often they are written, how long
    /// kept.
    pub monitoring: MonitoringConfig,
}

/// `[limits]`: the limits of a run that asks for none, and the most a run
/// may ask for (more is a clear error, never a clamp).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Limits of a run that asks for none (plans override them).
    pub default: RunLimits,
    /// The most a run may ask for (no plan exceeds them).
    pub max: RunLimits,
}

impl Default for LimitsConfig {
    /// The design brief's defaults, with headroom a request may ask for.
    fn default() -> Self {
        const MIB: u64 = 1024 * 1024;
        let max = RunLimits {
            memory_bytes: 1024 * MIB,
            cpu_millicores: 2000,
            pids: 512,
            wall_time_ms: 300_000,
            input_wait_ms: 3_600_000,
            cpu_time_ms: 300_000,
            output_bytes: 16 * MIB,
            open_files: 4096,
            file_size_bytes: 1024 * MIB,
            stack_bytes: 64 * MIB,
        };
        LimitsConfig { default: RunLimits::default(), max }
    }
}

impl LimitsConfig {
    /// Why these limits cannot serve: defaults beyond the maxima.
    pub fn validate(&self) -> Result<(), String> {
        self.default.validate_within(&self.max).map_err(|error| format!("[limits] default exceeds max: {error}"))
    }
}

/// The most a project may hold to be run (its files in a run request, a
/// saved project run by id) or imported from a zip.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProjectCaps {
    /// Files per project.
    pub max_files: usize,
    /// Bytes per project.
    pub max_bytes: u64,
}

impl Default for ProjectCaps {
    /// The design brief's: 500 files and 10 MiB per project.
    fn default() -> Self {
        ProjectCaps { max_files: 500, max_bytes: 10 * 1024 * 1024 }
    }
}

/// Settings of the Piston endpoints (`crate::piston`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PistonConfig {
    /// How long a `/api/v2/connect` socket may wait for its `init`
    /// before it is closed with 4001 (Piston: 1 s).
    pub init_timeout: Duration,
}

impl Default for PistonConfig {
    fn default() -> Self {
        PistonConfig { init_timeout: Duration::from_secs(1) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_limits_fit_within_the_default_maxima() {
        LimitsConfig::default().validate().expect("consistent defaults");
        let greedy = LimitsConfig {
            default: RunLimits { memory_bytes: 1 << 40, ..RunLimits::default() },
            ..LimitsConfig::default()
        };
        assert!(greedy.validate().expect_err("too much").contains("memory_bytes"));
    }
}
