//! Settings of the Docker backend.

use std::net::Ipv4Addr;
use std::time::Duration;

use bytesbox_sandbox::RunLimits;
use serde::Deserialize;

/// The image a box gets when its spec asks for the host's runtimes
/// (`RootfsSpec::Host`): the last image of the chain in `images/order`,
/// which holds every language of the catalog.
pub const DEFAULT_IMAGE: &str = "bytesbox-runtime:full";

/// How the Docker backend is set up.
#[derive(Clone, Debug)]
pub struct DockerConfig {
    /// Engine address (`unix:///var/run/docker.sock`, `tcp://…`); `None`
    /// means `DOCKER_HOST`, else the local socket. The engine must run on
    /// this host: runs get their own cgroups below the container's.
    pub docker_host: Option<String>,
    /// Image of boxes created with `RootfsSpec::Host`.
    pub default_image: String,
    /// Session networks are carved from this IPv4 range.
    pub subnet_pool: Ipv4Addr,
    /// Prefix length of the pool (16 = a /16).
    pub subnet_pool_prefix: u8,
    /// Prefix length of each session network (28 = 16 addresses).
    pub subnet_prefix: u8,
    /// First uid handed to boxes: each box's programs run as a uid (and
    /// gid) of their own, so no per-user kernel count (`RLIMIT_NPROC`,
    /// inotify instances, key quotas) is shared between boxes. The images
    /// name every uid of the range `runner` (`images/base/recipe.env`);
    /// each box's pid 1 runs as `uid_base - 1`, which no program has.
    pub uid_base: u32,
    /// How many uids boxes may use (and so how many boxes at once).
    pub uid_count: u32,
    /// How often idle boxes are destroyed and orphans reaped.
    pub sweep_interval: Duration,
    /// Largest limits a run may ask for.
    pub max_run_limits: RunLimits,
    /// Boxes made ahead, of the shape last asked for, so a new box does
    /// not wait for a container to start (`docs/docker-backend.md`).
    pub spare_pool: SparePoolConfig,
}

impl Default for DockerConfig {
    fn default() -> Self {
        DockerConfig {
            docker_host: None,
            default_image: DEFAULT_IMAGE.into(),
            subnet_pool: Ipv4Addr::new(10, 213, 0, 0),
            subnet_pool_prefix: 16,
            subnet_prefix: 28,
            uid_base: 10001,
            uid_count: 4096,
            sweep_interval: Duration::from_secs(30),
            max_run_limits: RunLimits::hard_maximum(),
            spare_pool: SparePoolConfig::default(),
        }
    }
}

/// How many spare boxes to keep: `ceil(arrival rate × make time ×
/// safety)`, clamped to `min..=max`, both inputs measured (see
/// `crate::spare_sizing`). The server's `[docker.spare_pool]`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SparePoolConfig {
    /// Spares kept even when no box has been asked for in a while.
    pub min: usize,
    /// Spares kept at most, however fast boxes are asked for (each holds
    /// an idle container, an empty tmpfs volume, a subnet and a uid);
    /// 0 turns the pool off.
    pub max: usize,
    /// The measured need is multiplied by this, for bursts.
    pub safety: f64,
    /// Spares made at once; the engine makes containers about one per
    /// core at a time, and the rest of the server needs the CPU too.
    pub make_concurrency: usize,
    /// The arrival rate is measured over this many seconds: the pool
    /// shrinks back to `min` about this long after creations stop.
    pub rate_window_secs: u64,
}

impl SparePoolConfig {
    /// No spares: every box is made on demand.
    pub fn off() -> SparePoolConfig {
        SparePoolConfig { min: 0, max: 0, ..SparePoolConfig::default() }
    }

    /// The window over which the arrival rate is measured.
    pub fn rate_window(&self) -> Duration {
        Duration::from_secs(self.rate_window_secs)
    }

    /// Why these settings cannot be used, if they cannot.
    pub fn problem(&self) -> Option<String> {
        if self.min > self.max {
            return Some(format!("min ({}) is above max ({})", self.min, self.max));
        }
        if !(self.safety.is_finite() && (1.0..=100.0).contains(&self.safety)) {
            return Some(format!("safety must be 1..=100, not {}", self.safety));
        }
        if self.max > 0 && self.make_concurrency == 0 {
            return Some("make_concurrency must be at least 1 when max is above 0".into());
        }
        if !(1..=3600).contains(&self.rate_window_secs) {
            return Some(format!("rate_window_secs must be 1..=3600, not {}", self.rate_window_secs));
        }
        None
    }
}

impl Default for SparePoolConfig {
    fn default() -> Self {
        SparePoolConfig { min: 1, max: 8, safety: 2.0, make_concurrency: 2, rate_window_secs: 10 }
    }
}
