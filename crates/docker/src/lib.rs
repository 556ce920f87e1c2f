//! The Docker isolation backend.
//!
//! Each box is one hardened container (read-only root, every capability
//! dropped, no-new-privileges, the native seccomp policy as a Docker profile, a
//! non-root user, memory = memory+swap, pids and CPU limits) on its own
//! internal bridge network, with its workspace on a size-capped tmpfs
//! volume. Runs are execs in it, each in its own cgroup below the
//! container's, so limits, statistics and kills are per run, exactly as in
//! the native backend. Everything goes through the Engine API (bollard);
//! the `docker` command is never run. Design notes: `docs/docker-backend.md`.

mod backend;
mod cgroup_dirs;
mod config;
mod container;
mod create;
mod daemon;
mod files;
mod launch;
mod leftovers;
mod live;
mod make_box;
mod reaper;
mod run;
mod runtimes;
mod sandbox_box;
mod spare;
mod spare_sizing;
mod state;
mod subnets;
mod sweep;
mod teardown;

pub use backend::DockerBackend;
pub use config::{DockerConfig, SparePoolConfig, DEFAULT_IMAGE};
pub use daemon::{check_ready, connect, labels};
pub use leftovers::Leftover;
pub use reaper::reap_orphans;
pub use runtimes::{detect_runtimes, ImageRuntime, ImageState};
pub use subnets::SubnetPool;
