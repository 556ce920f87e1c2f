//! Settings of the Docker backend.

use std::net::Ipv4Addr;
use std::time::Duration;

use bytesbox_sandbox::RunLimits;

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
    /// Keep one box made ahead, of the shape last asked for, so a new
    /// session does not wait for a container to start.
    pub spare_box: bool,
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
            spare_box: true,
        }
    }
}
