//! Configuration of the native backend.

use std::path::PathBuf;
use std::time::Duration;

use bytesbox_jail::mounts::DEFAULT_ETC_ALLOW;
use bytesbox_sandbox::RunLimits;
use serde::{Deserialize, Serialize};

/// Native backend settings. Defaults suit a root-run server on one host.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NativeConfig {
    /// The `bytesbox-jail` helper; by default the file of that name next
    /// to the running executable.
    pub jail_binary: Option<PathBuf>,
    /// Host directory for runtime state: holds only the empty directory
    /// that each box mounts its root on, privately.
    pub state_dir: PathBuf,
    /// First uid handed to boxes.
    pub uid_base: u32,
    /// How many uids boxes may use (and so how many boxes at once).
    pub uid_count: u32,
    /// Boxes held at once at most (live, ready and being made); 0 means
    /// only `uid_count` caps them. `bytesbox serve` lowers it to what its
    /// open-file limit holds. Past it, `create` says `AtCapacity`.
    pub max_boxes: usize,
    /// `/etc` entries exposed in boxes with the host root filesystem.
    pub etc_allow: Vec<String>,
    /// Maxima a run may ask for.
    pub max_run_limits: RunLimits,
    /// A box with no run for this long gives up its pre-forked launcher
    /// (about 250 KiB of host memory); its next run starts a little slower.
    #[serde(with = "secs")]
    pub launcher_idle_release: Duration,
    /// Boxes kept made ahead, each with its first launcher, for the spec
    /// of the last request (about 1 MiB of host memory each); 0 makes
    /// every box when it is asked for.
    pub ready_boxes: usize,
    /// How often idle boxes and leftovers are swept.
    #[serde(with = "secs")]
    pub sweep_interval: Duration,
    /// Turn on the cgroup2 root's `favordynmods` flag at start (Linux ≥
    /// 6.0): a process joining a cgroup then costs about 0.2 ms instead of
    /// an RCU grace period (about 6 ms here) during which every cgroup
    /// change on the host waits. Host-wide and kept after the server
    /// exits; forks and exits get slightly dearer. `docs/native-sandbox.md`.
    pub favor_cgroup_changes: bool,
}

impl Default for NativeConfig {
    fn default() -> Self {
        NativeConfig {
            jail_binary: None,
            state_dir: PathBuf::from("/run/bytesbox"),
            uid_base: 1_600_000,
            uid_count: 65_536,
            max_boxes: 0,
            etc_allow: DEFAULT_ETC_ALLOW.iter().map(|s| s.to_string()).collect(),
            max_run_limits: RunLimits::hard_maximum(),
            launcher_idle_release: Duration::from_secs(10),
            sweep_interval: Duration::from_secs(5),
            ready_boxes: 2,
            favor_cgroup_changes: true,
        }
    }
}

mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(value.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(deserializer)?;
        if !(0.01..=3600.0).contains(&secs) {
            return Err(serde::de::Error::custom("sweep_interval must be 0.01..=3600 seconds"));
        }
        Ok(Duration::from_secs_f64(secs))
    }
}
